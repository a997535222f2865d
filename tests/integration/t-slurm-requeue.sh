# A pool with "requeue": true submits with --requeue; `scontrol requeue` of the job running a
# trial (what Slurm does on preemption with PreemptMode=REQUEUE) sends its agent SIGTERM: the
# trainer checkpoints and the agent reports the attempt preempted. The job goes back to the
# queue, held until a begin time (~120 s; the test moves it to now). With max_jobs 1 the held
# job keeps the pool's only place, so no other job is submitted: the same job runs again,
# under the same worker, and its agent resumes the trial from the checkpoint.
. tests/integration/lib.sh
. tests/integration/slurm.sh

TRAIN="$ROOT/sweeps/examples/train.py"
db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }
trial_log() { echo "$T/work/logs/sweep-$1/trial-$2/attempt-$3.log"; }
log_has() { grep -q -- "$2" "$1" 2>/dev/null; }

start_slurm 4
cat >"$T/s.json" <<JSON
{
  "name": "it-slurm-requeue",
  "command": "exec python3 $TRAIN --lr {lr} --steps 30 --step-s 0.2 --ckpt-every 4",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"}
}
JSON
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [
  $(slurm_pool cluster '"max_jobs": 1, "requeue": true, "idle_exit_s": 20, "poll_interval_s": 0.5')
]}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
log2=$(trial_log "$id" "$tid" 2)
start_server --config "$T/sched.json"

wait_for 60 log_has "$log1" "^step 6 " || fail "the trial never reached step 6 in a Slurm job: $(squeue 2>&1)"
job=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 1")
[ -n "$job" ] || fail "attempt 1 is not on a Slurm job's worker"
scontrol show job "$job" | grep -q "Requeue=1" || fail "job $job was not submitted with --requeue"
scontrol requeue "$job" || fail "scontrol requeue $job"
wait_for 30 eval '[ "$(db "SELECT outcome FROM attempts WHERE trial_id = $tid AND attempt = 1")" = preempted ]' ||
	fail "attempt 1 not preempted: $(db "SELECT attempt, outcome, reason FROM attempts")"
estep=$(sed -n 's/^SIGTERM at step \([0-9]*\):.*/\1/p' "$log1" | head -n 1)
[ -n "$estep" ] || fail "the trainer never saw SIGTERM: $(tail -n 5 "$log1")"
wait_for 30 eval '[ "$(slurm_job_state "$job")" = PENDING ]' || fail "job $job is $(slurm_job_state "$job")"
ok "job $job requeued: the trainer checkpointed at step $estep, attempt 1 preempted, the job is queued again"

slurm_release_now "$job" || fail "scontrol update StartTime=now"
wait_for 90 sweep_done "$id" || fail "the trial did not complete: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "status: $("$SPOTSWEEP" status "$id")"
[ "$(db "SELECT w.name FROM attempts a JOIN workers w ON w.id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 2")" = "slurm-$job" ] ||
	fail "attempt 2 did not run in the requeued job $job"
[ "$(db "SELECT count(*) FROM slurm_jobs")" = 1 ] || fail "another job was submitted: $(db "SELECT job_id, state FROM slurm_jobs")"
log_has "$log2" "^resumed from .*step-$estep.json at step $estep\$" ||
	fail "the trainer did not resume from step $estep: $(head -n 3 "$log2")"
ok "the requeued job $job ran again and resumed the trial from step $estep"

# With room for another job (max_jobs 2), nobody waits for the held job: a new job resumes
# the trial at once, and the held job, surplus now, is cancelled long before its begin time.
stop_server
[ -z "$(slurm_jobs)" ] || fail "jobs left before part 2: $(squeue 2>&1)"
sed -i 's/"max_jobs": 1/"max_jobs": 2/' "$T/sched.json"
sed -i 's/"it-slurm-requeue"/"it-slurm-requeue-2"/' "$T/s.json"
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit 2"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
log2=$(trial_log "$id" "$tid" 2)
start_server --config "$T/sched.json"
wait_for 60 log_has "$log1" "^step 6 " || fail "sweep 2: the trial never reached step 6: $(squeue 2>&1)"
held=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 1")
t0=$(date +%s)
scontrol requeue "$held" || fail "scontrol requeue $held"
wait_for 60 sweep_done "$id" || fail "sweep 2 did not complete: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "status: $("$SPOTSWEEP" status "$id")"
job2=$(db "SELECT j.job_id FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 2")
[ -n "$job2" ] && [ "$job2" != "$held" ] || fail "attempt 2 ran in job '$job2' (the held one is $held)"
log_has "$log2" "^resumed from " || fail "attempt 2 did not resume: $(head -n 3 "$log2")"
wait_for 30 eval '[ -z "$(slurm_jobs)" ]' || fail "jobs left: $(squeue 2>&1)"
[ $(( $(date +%s) - t0 )) -lt 100 ] || fail "the held job was waited for"
grep -q "cancelling job $held " "$T/server.log" || fail "the held job $held was not cancelled as surplus"
ok "requeued job $held held: new job $job2 resumed the trial, the held job was cancelled"
