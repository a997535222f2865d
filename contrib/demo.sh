#!/usr/bin/env bash
# `make demo`: runs sweeps/demo.json end to end with two local agents on a fresh store under
# demo-out/. A few seconds in, one agent gets SIGTERM, as a spot machine does when the provider
# takes it back: its trial saves an emergency checkpoint and resumes on the other agent. Ends
# with the CSV's path.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
rm -rf "$out"
mkdir -p "$out"
echo "== spotsweep demo: 20 trials of sweeps/examples/train.py on 2 local agents"

# The interruption: once a few trials have run, wait until agent local-1's current trial has
# checkpointed, then SIGTERM the agent.
interrupt() {
	local pid i
	for i in $(seq 600); do
		sleep 0.1
		[ "$(find "$out/work/ckpt" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | wc -l)" -ge 7 ] ||
			continue
		pid=$(pgrep -f -- "--name local-1 --workdir $out/work" | head -n 1 || true)
		[ -n "$pid" ] || return 0
		sleep 0.8
		echo "spotsweep demo: spot interruption: SIGTERM to agent local-1 (pid $pid)" >&2
		kill -TERM "$pid" 2>/dev/null || true
		return 0
	done
}
interrupt &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT

set +e
bin/spotsweep --db "$out/demo.db" run sweeps/demo.json --agents 2 --workdir "$out/work" \
	--config contrib/demo-scheduler.json \
	-o "$out/results.csv"
rc=$?
set -e
echo
echo "== the interrupted trial's attempts"
sqlite3 -header -column "$out/demo.db" "SELECT a.trial_id AS trial, a.attempt, a.outcome,
	w.name AS agent, round(a.ended_at - a.started_at, 2) AS seconds,
	coalesce(a.resumed_from, '') AS resumed_from
	FROM attempts a LEFT JOIN workers w ON w.id = a.worker_id
	WHERE a.trial_id IN (SELECT trial_id FROM attempts WHERE outcome IN ('preempted', 'lost'))
	ORDER BY a.trial_id, a.attempt" 2>/dev/null || true
echo
echo "== first rows of $out/results.csv"
head -n 6 "$out/results.csv"
echo
echo "CSV: $PWD/$out/results.csv"
exit $rc
