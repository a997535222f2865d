# A Slurm pool against a real single-node Slurm on loopback: `serve` submits agent jobs with
# sbatch (never more than max_jobs at once), each job's agent pulls a trial over HTTP as
# worker slurm-JOBID, and the sweep completes with no agent started by hand. `workers` shows
# the jobs; once the work is done no job is left in the queue.
. tests/integration/lib.sh
. tests/integration/slurm.sh

start_slurm 8
cat >"$T/trial.sh" <<'EOS'
#!/bin/sh
# $1 = x: three steps, each a metric line.
i=1
while [ $i -le 3 ]; do
	echo "val_loss=$(awk -v x="$1" -v i="$i" 'BEGIN { print x / i }')"
	sleep 0.2
	i=$((i + 1))
done
echo "job=$SLURM_JOB_ID" >"$(dirname "$0")/trial-$SPOTSWEEP_TRIAL_ID.job"
EOS
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-slurm",
  "command": "$T/trial.sh {x}",
  "method": "grid",
  "parameters": {"x": {"values": [3, 6, 9, 12, 15]}},
  "metric": {"name": "val_loss", "goal": "minimize", "pattern": "val_loss=([0-9.eE+-]+)"}
}
JSON
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [
  $(slurm_pool cluster '"max_jobs": 2, "idle_exit_s": 5, "poll_interval_s": 0.5')
]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

# Sampled while the sweep runs: Slurm never holds more than max_jobs of the pool's jobs.
most=0
done_yet() {
	local n
	n=$(slurm_njobs)
	[ "$n" -gt "$most" ] && most=$n
	sweep_done "$id"
}
for i in $(seq 900); do done_yet && break; sleep 0.1; done
sweep_done "$id" || fail "the sweep did not complete through Slurm: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
[ "$(sweep_field "$id" succeeded)" = 5 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id")"
ok "sweep of 5 trials completed through Slurm jobs"
[ "$most" -ge 1 ] && [ "$most" -le 2 ] || fail "jobs at once: $most (max_jobs 2)"
ok "at most $most jobs in Slurm at once (max_jobs 2)"

db() { sqlite3 "$SPOTSWEEP_DB" "$1"; }
# Every attempt ran in a Slurm job, on the worker named after it.
[ "$(db "SELECT count(*) FROM attempts a JOIN workers w ON w.id = a.worker_id
	WHERE w.name LIKE 'slurm-%' AND a.pool = 'cluster'")" = 5 ] ||
	fail "attempts: $(db "SELECT a.trial_id, w.name, a.pool FROM attempts a LEFT JOIN workers w ON w.id = a.worker_id")"
for t in $(db "SELECT id FROM trials"); do
	job=$(sed -n 's/^job=//p' "$T/trial-$t.job")
	[ -n "$job" ] || fail "trial $t did not run inside a Slurm job"
	[ "$(db "SELECT w.name FROM attempts a JOIN workers w ON w.id = a.worker_id WHERE a.trial_id = $t")" = "slurm-$job" ] ||
		fail "trial $t ran in job $job but its worker is not slurm-$job"
done
ok "each trial ran in a Slurm job, as worker slurm-JOBID"

"$SPOTSWEEP" workers --all --json >"$T/w.json" || fail "workers --all --json"
python3 - "$T/w.json" <<'PY' || fail "workers: $(cat "$T/w.json")"
import json, sys
w = json.load(open(sys.argv[1]))
jobs = [x for x in w if x.get("slurm_job_id") is not None]
assert len(jobs) >= 2, w
for x in jobs:
    assert x["name"] == "slurm-%d" % x["slurm_job_id"], x
    assert x["pool"] == "cluster", x
PY
"$SPOTSWEEP" workers --all | grep -q '^ID ' || fail "workers table: $("$SPOTSWEEP" workers --all)"
ok "workers shows the jobs"

wait_for 40 sh -c '[ -z "$(squeue -h -o %i)" ]' || fail "jobs left in Slurm: $(squeue 2>&1)"
ok "no job left in the queue once the work is done"
