#!/usr/bin/env bash
# SSH dispatch figures against a private sshd on loopback (tests/integration/sshd.sh):
# - throughput: N trials of `true` over one host with 2 slots, with connection sharing
#   (ControlMaster, the default) and without (each trial pays a full ssh handshake);
# - latency from pending to running: single trials submitted to an idle scheduler, each
#   writing the time its process started; submit -> process start and lease -> process start.
# Needs root and openssh-server/-client (make deps). Prints one table.
set -u
cd "$(dirname "$0")/../.."
: "${BIN:=$PWD/bin}"
N=${BENCH_SSH_TRIALS:-100}
SINGLES=${BENCH_SSH_SINGLES:-10}
. tests/integration/lib.sh
. tests/integration/sshd.sh

start_sshd
mkdir -p "$T/ts"

# run_mode NAME EXTRA_SSH_OPTIONS: writes "NAME|wall_s|trials/s|lease_p50|lease_p90|submit_p50|submit_p90"
# to $T/result-NAME.
run_mode() {
	local name=$1 extra=$2 db="$T/$1.db" id t0 t1 i
	export SPOTSWEEP_DB="$db"
	rm -f "$T"/ts/*
	cat >"$T/sched-$name.json" <<JSON
{"lease_timeout_s": 60, "pools": [$(SSH_OPTS="$SSH_OPTS$extra" ssh_pool bench "$(host_entry 127.0.0.1 2)")]}
JSON
	cat >"$T/many.json" <<JSON
{"name": "bench-ssh-many", "command": "true", "method": "grid",
 "parameters": {"x": {"values": [$(seq -s, 1 "$N")]}}}
JSON
	rm -f "$T/server.out"
	start_server --config "$T/sched-$name.json"
	t0=$(date +%s.%N)
	id=$("$SPOTSWEEP" submit "$T/many.json") || fail "submit"
	wait_for 600 sweep_done "$id" || fail "$name: the sweep did not finish"
	t1=$(date +%s.%N)
	[ "$(sweep_field "$id" succeeded)" = "$N" ] || fail "$name: $("$SPOTSWEEP" status "$id")"
	# One trial at a time on the idle scheduler: its process records when it started.
	for i in $(seq "$SINGLES"); do
		cat >"$T/one.json" <<JSON
{"name": "bench-ssh-one-$i", "command": "date +%s.%N >$T/ts/{trial_id}", "method": "grid",
 "parameters": {"x": {"value": $i}}}
JSON
		id=$("$SPOTSWEEP" submit "$T/one.json") || fail "submit"
		wait_for 60 sweep_done "$id" || fail "$name: single trial $i did not finish"
		sleep 0.3
	done
	stop_server
	python3 - "$name" "$t0" "$t1" "$N" "$db" "$T/ts" >"$T/result-$name" <<'PY'
import os, sqlite3, sys
name, t0, t1, n, db, tsdir = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
con = sqlite3.connect(db)
lease, submit = [], []
for f in os.listdir(tsdir):
    started = float(open(os.path.join(tsdir, f)).read())
    leased, created = con.execute(
        "SELECT a.started_at, s.created_at FROM attempts a JOIN trials t ON t.id = a.trial_id"
        " JOIN sweeps s ON s.id = t.sweep_id WHERE a.trial_id = ? AND a.attempt = 1", (int(f),)).fetchone()
    lease.append((started - leased) * 1000)
    submit.append((started - created) * 1000)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")
wall = t1 - t0
print("%s|%.2f|%.1f|%.0f|%.0f|%.0f|%.0f" % (name, wall, n / wall, pct(lease, 50), pct(lease, 90),
      pct(submit, 50), pct(submit, 90)))
PY
}

run_mode ControlMaster ""
run_mode no-ControlMaster ', "ControlMaster=no", "ControlPath=none"'
shared=$(cat "$T/result-ControlMaster") plain=$(cat "$T/result-no-ControlMaster")
echo "SSH dispatch on loopback: $N trials of 'true' on 1 host with 2 slots; then $SINGLES single trials on an idle scheduler"
printf '%-17s %8s %10s %22s %23s\n' "mode" "wall s" "trials/s" "lease->start p50/p90" "submit->start p50/p90"
for row in "$shared" "$plain"; do
	IFS='|' read -r name wall rate lp50 lp90 sp50 sp90 <<<"$row"
	printf '%-17s %8s %10s %16s ms %17s ms\n' "$name" "$wall" "$rate" "$lp50/$lp90" "$sp50/$sp90"
done
