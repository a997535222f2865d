# `spotsweep cancel SWEEP` with Slurm jobs running its trials and another job still queued:
# the cancel only writes the store; `serve` notices on its tick, scancels the jobs of the
# cancelled trials (their agents get Slurm's SIGTERM, stop the trials and report), and
# cancels the queued job that has no work left. No job of the pool is left in squeue.
. tests/integration/lib.sh
. tests/integration/slurm.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

# Two CPUs: two jobs run, a third waits in the queue for resources.
start_slurm 2
cat >"$T/trial.sh" <<'EOS'
#!/bin/sh
i=0
while [ $i -lt 600 ]; do echo "loss=$i"; sleep 0.1; i=$((i + 1)); done
EOS
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-slurm-cancel",
  "command": "$T/trial.sh {x}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4]}},
  "metric": {"name": "loss", "goal": "minimize", "pattern": "loss=([0-9]+)"}
}
JSON
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [
  $(slurm_pool cluster '"max_jobs": 3, "idle_exit_s": 30, "poll_interval_s": 0.5')
]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

two_running_one_queued() {
	[ "$(sweep_field "$id" running)" = 2 ] && [ "$(slurm_njobs RUNNING)" = 2 ] &&
		[ "$(slurm_njobs PENDING)" = 1 ]
}
wait_for 60 two_running_one_queued ||
	fail "expected 2 trials running and a job queued: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
ok "two jobs run trials, a third is queued"
# The scheduler's view follows squeue within a poll.
workers_show() {
	"$SPOTSWEEP" workers >"$T/workers.txt" &&
		[ "$(grep -c ' running ' "$T/workers.txt")" = 2 ] &&
		grep -q ' pending (Resources)' "$T/workers.txt"
}
wait_for 20 workers_show || fail "workers does not show the jobs' states: $(cat "$T/workers.txt")"
ok "workers shows the running and the pending job"

"$SPOTSWEEP" cancel "$id" >/dev/null || fail "cancel"
wait_for 40 sh -c '[ -z "$(squeue -h -o %i)" ]' || fail "jobs left in squeue after the cancel: $(squeue 2>&1)"
ok "no job left in squeue after cancel"

[ "$(sweep_field "$id" cancelled)" = 4 ] || fail "status: $("$SPOTSWEEP" status "$id")"
closed() { [ "$(db "SELECT count(*) FROM attempts WHERE outcome = 'cancelled'")" = 2 ]; }
wait_for 20 closed || fail "attempts: $(db "SELECT trial_id, outcome, reason FROM attempts")"
[ "$(db "SELECT count(*) FROM attempts WHERE outcome IS NULL")" = 0 ] || fail "an attempt is still open"
ok "all 4 trials cancelled; both running attempts closed as cancelled"
grep -q "cancelling job" "$T/server.log" || fail "serve did not say it cancelled jobs"
