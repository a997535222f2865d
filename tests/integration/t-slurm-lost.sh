# A job removed from Slurm without a word from its agent: `scancel --batch --signal=KILL`
# kills the agent (the job's batch shell) at once, as a node failure would, and the job ends.
# No finish report ever comes, so the job's disappearance ends its attempt `lost` at once,
# long before its 10-minute lease would expire; the trial goes back to pending, a new job
# resumes it from its checkpoint, and it completes. (A plain scancel sends SIGTERM first,
# and the agent reports the attempt preempted if it can: t-slurm-cancel.)
. tests/integration/lib.sh
. tests/integration/slurm.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }
trial_log() { echo "$T/work/logs/sweep-$1/trial-$2/attempt-$3.log"; }
log_has() { grep -q -- "$2" "$1" 2>/dev/null; }

start_slurm 4
cat >"$T/train.sh" <<'EOS'
#!/bin/sh
# 40 steps of 0.2 s, a checkpoint every 4.
i=0
if [ -n "$SPOTSWEEP_RESUME_FROM" ]; then
	i=$(cat "$SPOTSWEEP_RESUME_FROM")
	echo "resumed from $SPOTSWEEP_RESUME_FROM at step $i"
fi
while [ "$i" -lt 40 ]; do
	i=$((i + 1))
	echo "step $i val_loss=0.$((100 - i))"
	if [ $((i % 4)) = 0 ]; then
		echo "$i" >"$SPOTSWEEP_CHECKPOINT_DIR/step-$i"
		echo "SPOTSWEEP {\"checkpoint\": \"$SPOTSWEEP_CHECKPOINT_DIR/step-$i\", \"step\": $i}"
	fi
	sleep 0.2
done
EOS
chmod +x "$T/train.sh"
cat >"$T/s.json" <<JSON
{
  "name": "it-slurm-lost",
  "command": "exec $T/train.sh {lr}",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"}
}
JSON
# A lease of 10 minutes: only the job's disappearance can end the attempt within the test.
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 600, "pools": [
  $(slurm_pool cluster '"max_jobs": 1, "idle_exit_s": 5, "poll_interval_s": 0.5')
]}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
start_server --config "$T/sched.json"

wait_for 60 log_has "$log1" "^step 6 " || fail "the trial never reached step 6 in a Slurm job: $(squeue 2>&1)"
job1=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 1")
[ -n "$job1" ] || fail "attempt 1 is not on a Slurm job's worker"
ckpt=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid ORDER BY step DESC LIMIT 1")
[ -n "$ckpt" ] || fail "no checkpoint recorded before the kill"
tpid=$(sed -n 's/.*trial [0-9]* attempt 1: started (pid \([0-9]*\)).*/\1/p' "$SLURM_DIR/jobs/$job1.out")
[ -n "$tpid" ] || fail "no trial pid in the job's output: $(cat "$SLURM_DIR/jobs/$job1.out")"
t0=$(date +%s)
scancel --batch --signal=KILL "$job1" || fail "scancel --batch --signal=KILL $job1"

wait_for 30 eval '[ "$(db "SELECT coalesce(outcome, \"\") FROM attempts WHERE trial_id = $tid AND attempt = 1")" = lost ]' ||
	fail "attempt 1 not lost: $(db "SELECT attempt, outcome, exit_code, reason FROM attempts");
job $job1's output: $(tail -n 6 "$SLURM_DIR/jobs/$job1.out"); the trial's: $(tail -n 3 "$log1")"
grep -q "agent received" "$SLURM_DIR/jobs/$job1.out" &&
	fail "the agent of job $job1 was warned: $(cat "$SLURM_DIR/jobs/$job1.out")"
# The orphaned trial dies of SIGPIPE at its next line to the dead agent; if not, it is
# stopped here by its process group, as the dead node would have.
pid_gone() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ]; }
wait_for 10 pid_gone "$tpid" || kill -KILL -- "-$tpid" 2>/dev/null
reason=$(db "SELECT reason FROM attempts WHERE trial_id = $tid AND attempt = 1")
case $reason in
"Slurm job $job1 ended"*"without a finish report") ;;
*) fail "attempt 1 reason: $reason" ;;
esac
ok "job $job1's agent killed: attempt 1 lost $(( $(date +%s) - t0 )) s later ($reason), lease still valid"

wait_for 90 sweep_done "$id" || fail "the trial did not complete: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "status: $("$SPOTSWEEP" status "$id")"
job2=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 2")
[ -n "$job2" ] && [ "$job2" != "$job1" ] || fail "attempt 2 ran in job '$job2' (attempt 1 in $job1)"
resumed=$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = 2")
[ -n "$resumed" ] || fail "attempt 2 did not resume from a checkpoint"
log_has "$(trial_log "$id" "$tid" 2)" "^resumed from $resumed" || fail "the trainer did not resume"
[ "$(db "SELECT outcome FROM attempts WHERE trial_id = $tid AND attempt = 2")" = succeeded ] ||
	fail "attempt 2: $(db "SELECT outcome, reason FROM attempts WHERE attempt = 2")"
ok "the trial resumed from $resumed in job $job2 and succeeded"
