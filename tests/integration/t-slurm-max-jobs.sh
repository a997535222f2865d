# max_jobs: with 8 trials pending and room in Slurm for 8 jobs, the pool never has more than
# max_jobs (3) jobs in Slurm at once, runs that many trials at once, and still completes
# every trial as jobs end and new ones take their place.
. tests/integration/lib.sh
. tests/integration/slurm.sh

start_slurm 8
cat >"$T/trial.sh" <<'EOS'
#!/bin/sh
i=0
while [ $i -lt 15 ]; do echo "loss=$i"; sleep 0.2; i=$((i + 1)); done
EOS
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-slurm-max-jobs",
  "command": "$T/trial.sh {x}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4, 5, 6, 7, 8]}},
  "metric": {"name": "loss", "goal": "minimize", "pattern": "loss=([0-9]+)"}
}
JSON
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [
  $(slurm_pool cluster '"max_jobs": 3, "idle_exit_s": 5, "poll_interval_s": 0.5')
]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

most_jobs=0 most_running=0
for i in $(seq 1200); do
	n=$(slurm_njobs)
	r=$(sweep_field "$id" running)
	[ "$n" -gt "$most_jobs" ] && most_jobs=$n
	[ "$r" -gt "$most_running" ] && most_running=$r
	[ "$n" -le 3 ] || fail "$n jobs in Slurm at once (max_jobs 3): $(squeue 2>&1)"
	sweep_done "$id" && break
	sleep 0.05
done
sweep_done "$id" || fail "the sweep did not complete: $("$SPOTSWEEP" status "$id"); squeue: $(squeue 2>&1)"
[ "$(sweep_field "$id" succeeded)" = 8 ] || fail "status: $("$SPOTSWEEP" status "$id")"
[ "$most_jobs" = 3 ] || fail "at most $most_jobs jobs at once: max_jobs 3 was never reached"
[ "$most_running" = 3 ] || fail "at most $most_running trials ran at once"
ok "8 trials through at most 3 jobs at once (3 trials running at once)"
njobs=$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM slurm_jobs")
[ "$njobs" -ge 8 ] || fail "only $njobs jobs were submitted for 8 one-trial jobs"
ok "$njobs jobs submitted in all"
