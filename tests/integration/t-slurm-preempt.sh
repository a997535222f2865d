# Preemption by Slurm: `scancel --full --signal=TERM` of a running job reaches its agent as
# SIGTERM; the trainer writes a checkpoint, the agent reports the attempt preempted and the
# job ends. `serve` submits a new job, whose agent resumes the trial from that checkpoint and
# completes it: two attempts in two different jobs, preemptions=1.
. tests/integration/lib.sh
. tests/integration/slurm.sh

TRAIN="$ROOT/sweeps/examples/train.py"
db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }
trial_log() { echo "$T/work/logs/sweep-$1/trial-$2/attempt-$3.log"; }
log_has() { grep -q -- "$2" "$1" 2>/dev/null; }

start_slurm 4
cat >"$T/s.json" <<JSON
{
  "name": "it-slurm-preempt",
  "command": "exec python3 $TRAIN --lr {lr} --steps 30 --step-s 0.2 --ckpt-every 4",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0}
}
JSON
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [
  $(slurm_pool cluster '"max_jobs": 1, "signal_grace_s": 40, "idle_exit_s": 5, "poll_interval_s": 0.5')
]}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
log2=$(trial_log "$id" "$tid" 2)
start_server --config "$T/sched.json"

wait_for 60 log_has "$log1" "^step 6 " || fail "the trial never reached step 6 in a Slurm job: $(squeue 2>&1)"
wait_for 30 eval '[ "$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $tid")" -ge 1 ]' ||
	fail "no periodic checkpoint recorded"
job1=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 1")
[ -n "$job1" ] || fail "attempt 1 is not on a Slurm job's worker"
[ "$(slurm_job_state "$job1")" = RUNNING ] || fail "job $job1 is $(slurm_job_state "$job1")"
scancel --full --signal=TERM "$job1" || fail "scancel --full --signal=TERM $job1"

wait_for 40 eval '[ "$(db "SELECT outcome FROM attempts WHERE trial_id = $tid AND attempt = 1")" = preempted ]' ||
	fail "attempt 1 not preempted: $(db "SELECT attempt, outcome, reason FROM attempts")"
log_has "$log1" "SIGTERM at step" || fail "the trainer never saw SIGTERM: $(tail -n 5 "$log1")"
estep=$(sed -n 's/^SIGTERM at step \([0-9]*\):.*/\1/p' "$log1" | head -n 1)
epath=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid AND attempt = 1 AND step = $estep")
[ -n "$epath" ] || fail "the checkpoint of step $estep written on SIGTERM was not recorded"
ok "job $job1 signalled: the trainer checkpointed at step $estep, attempt 1 preempted"

wait_for 90 sweep_done "$id" || fail "the trial did not complete: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "status: $("$SPOTSWEEP" status "$id")"
job2=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 2")
[ -n "$job2" ] && [ "$job2" != "$job1" ] || fail "attempt 2 ran in job '$job2' (attempt 1 in $job1)"
[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = 2")" = "$epath" ] ||
	fail "attempt 2 did not resume from $epath"
log_has "$log2" "^resumed from $epath at step $estep\$" ||
	fail "the trainer did not resume from $epath: $(head -n 3 "$log2")"
first_step=$(sed -n 's/^step \([0-9]*\) .*/\1/p' "$log2" | head -n 1)
[ "$first_step" = $((estep + 1)) ] || fail "attempt 2 started at step $first_step"
[ "$(db "SELECT preemptions FROM trials WHERE id = $tid")" = 1 ] || fail "preemptions"
[ "$(db "SELECT failures FROM trials WHERE id = $tid")" = 0 ] || fail "the preemption was charged as a failure"
ok "attempt 2 resumed from step $estep in new job $job2 and succeeded"
