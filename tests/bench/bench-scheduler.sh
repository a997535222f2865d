#!/usr/bin/env bash
# make bench, issue 3: scheduler throughput, printed side by side.
#
# (b) end to end: `spotsweep serve` with its own database, a grid of BENCH_E2E_TRIALS (default
#     2,000) trials whose command is `true`, 4 agents with 4 slots each; the time from starting
#     the agents until `spotsweep status --json` shows nothing pending or running.
# (c) Optuna's ask/tell on RDBStorage over SQLite (optuna_asktell.py), through /usr/bin/python3
#     (Debian's python3-optuna), twice: a fresh study, BENCH_OPTUNA_TRIALS (default 1,000)
#     pairs; and "for the same number of trials" as (a), a study holding A_PENDING (100,000)
#     COMPLETE trials, one warm-up pair timed on its own, then BENCH_OPTUNA_STORED_TRIALS
#     (default 30) pairs. Optuna's cost per ask grows with the trials stored (about 3 trials/s
#     at 100,000 here), so the second run takes ~30 s, about half of it the warm-up.
# Then the table of (a) (bench_api's figures, from DIR/bench_api.results), (b) and (c), and the
# ratio (a)/(c) against the same-number-of-trials run (and, on its own line, the fresh one).
# Figures only: no timing is asserted.
# Usage: BIN=DIR_OF_BINARIES bench-scheduler.sh SCRATCH_DIR
set -u
dir=${1:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
: "${BIN:=$PWD/bin}"
SPOTSWEEP=$BIN/spotsweep
AGENT=$BIN/spotsweep-agent
E2E_TRIALS=${BENCH_E2E_TRIALS:-2000}
OPTUNA_TRIALS=${BENCH_OPTUNA_TRIALS:-1000}
OPTUNA_STORED_TRIALS=${BENCH_OPTUNA_STORED_TRIALS:-30}
# (a)'s smaller backlog (bench_api.c's backlogs[0]): the trials (c)'s second run stores.
A_PENDING=100000
NAGENTS=4
SLOTS=4
PY=/usr/bin/python3

T=$(mktemp -d "$dir/bench-scheduler.XXXXXX")
PIDS=""

# Every process this script started, by PID: SIGTERM, a moment, then SIGKILL.
cleanup() {
	local p
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench-scheduler: $*" >&2
	exit 1
}

# field NAME JSON: an integer field of a compact JSON object.
field() {
	sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"
}

# cpu_ms PID: user + system CPU milliseconds of a live process and its reaped children
# (fields 14-17 of /proc/PID/stat), or 0.
cpu_ms() {
	local f
	f=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($12 + $13 + $14 + $15) * 1000 / hz }' \
	    <<<"$f"
}

# result KEY: a figure bench_api left in the scratch directory, or empty.
result() {
	[ -r "$dir/bench_api.results" ] && sed -n "s/^$1 //p" "$dir/bench_api.results"
}

[ -x "$SPOTSWEEP" ] && [ -x "$AGENT" ] || die "$BIN/spotsweep and spotsweep-agent: run make first"

# ---- (b) end to end through real agents
cat >"$T/e2e.json" <<EOF
{"name": "bench-e2e", "command": "true", "method": "grid",
 "parameters": {"i": {"distribution": "int_uniform", "min": 1, "max": $E2E_TRIALS}},
 "metric": {"name": "val_loss"}}
EOF
"$SPOTSWEEP" --db "$T/e2e.db" submit "$T/e2e.json" >/dev/null || die "submit failed"
"$SPOTSWEEP" --db "$T/e2e.db" serve --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.log" &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
addr=""
for _ in $(seq 200); do
	addr=$(sed -n 's/^listening on //p' "$T/serve.out" 2>/dev/null)
	[ -n "$addr" ] && break
	kill -0 "$SERVE_PID" 2>/dev/null || die "serve exited: $(cat "$T/serve.log")"
	sleep 0.05
done
[ -n "$addr" ] || die "serve did not print its address"

t0=$EPOCHREALTIME
AGENT_PIDS=""
for i in $(seq $NAGENTS); do
	"$AGENT" --server "http://$addr" --name "bench-$i" --slots $SLOTS --workdir "$T/work-$i" \
	    --idle-exit-s 60 >"$T/agent-$i.log" 2>&1 &
	AGENT_PIDS="$AGENT_PIDS $!"
	PIDS="$PIDS $!"
done
limit=$(( ${t0%.*} + 300 ))
while :; do
	s=$("$SPOTSWEEP" --db "$T/e2e.db" status 1 --json 2>/dev/null)
	if [ "$(field pending "$s")" = 0 ] && [ "$(field running "$s")" = 0 ]; then
		break
	fi
	[ "${EPOCHREALTIME%.*}" -lt "$limit" ] || die "the sweep did not finish in 300 s: $s"
	sleep 0.05
done
t1=$EPOCHREALTIME
succeeded=$(field succeeded "$s")
# Where the CPU went: the scheduler, and the agents with the trials they ran and reaped.
serve_cpu=$(cpu_ms "$SERVE_PID")
agents_cpu=0
for p in $AGENT_PIDS; do
	agents_cpu=$((agents_cpu + $(cpu_ms "$p")))
done
for p in $AGENT_PIDS; do
	kill -TERM "$p" 2>/dev/null
done
for p in $AGENT_PIDS; do
	wait "$p" 2>/dev/null
done
kill -TERM "$SERVE_PID" 2>/dev/null
wait "$SERVE_PID" 2>/dev/null
e2e_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
e2e_rate=$(awk -v n="$succeeded" -v s="$e2e_secs" 'BEGIN { printf "%.0f", n / s }')
read -r e2e_requests e2e_commits < <(sed -n \
    's/.*stopped after \([0-9]*\) requests, \([0-9]*\) commits.*/\1 \2/p' "$T/serve.log")
echo "end to end: $NAGENTS agents x $SLOTS slots running \`true\`, $E2E_TRIALS-trial grid"
printf '  %-40s %10s\n' "trials succeeded" "$succeeded"
printf '  %-40s %8s s\n' "agents start -> sweep done" "$e2e_secs"
printf '  %-40s %10s   (target >= 500)\n' "trials/s" "$e2e_rate"
if [ -n "${e2e_requests:-}" ] && [ "${e2e_commits:-0}" -gt 0 ]; then
	printf '  %-40s %10s\n' "serve: HTTP requests, commits" "$e2e_requests, $e2e_commits"
	printf '  %-40s %10.2f\n' "serve: requests per trial" \
	    "$(awk -v r="$e2e_requests" -v n="$E2E_TRIALS" 'BEGIN { print r / n }')"
	printf '  %-40s %10.2f\n' "serve: requests per commit" \
	    "$(awk -v r="$e2e_requests" -v c="$e2e_commits" 'BEGIN { print r / c }')"
fi
printf '  %-40s %8.2f ms\n' "serve CPU per trial" \
    "$(awk -v c="$serve_cpu" -v n="$succeeded" 'BEGIN { print n ? c / n : 0 }')"
printf '  %-40s %8.2f ms\n' "agents CPU per trial (with the trials)" \
    "$(awk -v c="$agents_cpu" -v n="$succeeded" 'BEGIN { print n ? c / n : 0 }')"
[ "$succeeded" = "$E2E_TRIALS" ] ||
    echo "  warning: only $succeeded of $E2E_TRIALS trials succeeded"
echo

# ---- (c) Optuna ask/tell
# commas N: 100000 -> 100,000.
commas() {
	sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta' <<<"$1"
}
optuna_rate=""
optuna_stored_rate=""
if [ -x "$PY" ] && "$PY" -c 'import optuna' 2>/dev/null; then
	c0=$EPOCHREALTIME
	out=$("$PY" "$here/optuna_asktell.py" "$T/optuna.db" "$OPTUNA_TRIALS" 2>"$T/optuna.err") ||
	    die "optuna_asktell.py failed: $(tail -n 5 "$T/optuna.err")"
	read -r _ optuna_secs optuna_rate <<<"$out"
	echo "Optuna $("$PY" -c 'import optuna; print(optuna.__version__)') ask/tell," \
	    "RDBStorage on SQLite, RandomSampler, trivial objective"
	printf '  %-44s %10s\n' "fresh study: ask+tell pairs" "$OPTUNA_TRIALS"
	printf '  %-44s %8s s\n' "fresh study: time" "$optuna_secs"
	printf '  %-44s %10s\n' "fresh study: trials/s" "$optuna_rate"
	# Same number of trials as (a): a failure here (e.g. memory: ~900 MB at 100,000) leaves
	# n/a in the table rather than losing (a) and (b).
	stored=$(commas "$A_PENDING")
	if out=$("$PY" "$here/optuna_asktell.py" "$T/optuna.db" "$OPTUNA_STORED_TRIALS" \
	    --stored "$A_PENDING" 2>"$T/optuna.err"); then
		read -r _ optuna_stored_secs optuna_stored_rate optuna_warmup <<<"$out"
		printf '  %-44s %10s\n' "$stored COMPLETE trials stored: pairs timed" \
		    "$OPTUNA_STORED_TRIALS"
		printf '  %-44s %8s s\n' "$stored stored: first pair (warm-up)" "$optuna_warmup"
		printf '  %-44s %8s s\n' "$stored stored: time" "$optuna_stored_secs"
		printf '  %-44s %10s\n' "$stored stored: trials/s" "$optuna_stored_rate"
	else
		echo "  $stored trials stored: optuna_asktell.py failed:" \
		    "$(tail -n 5 "$T/optuna.err")"
	fi
	printf '  %-44s %8.1f s\n' "(c) both runs, wall clock" \
	    "$(awk -v a="$c0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"
	rm -f "$T/optuna.db"
else
	echo "Optuna comparison skipped: /usr/bin/python3 cannot import optuna."
	echo "  install it with: apt-get install python3-optuna python3-pandas"
fi
echo

# ---- the table
a100k=$(result "pairs_per_s_$A_PENDING")
a1m=$(result pairs_per_s_1000000)
rss1m=$(result hwm_mb_1000000)
na() { if [ -n "$1" ]; then echo "$1"; else echo "n/a"; fi; }
# ratio RATE: the slower of (a)'s two figures over RATE, or n/a.
ratio() {
	if [ -n "$a100k" ] && [ -n "$a1m" ] && [ -n "$1" ]; then
		awk -v x="$a100k" -v y="$a1m" -v o="$1" \
		    'BEGIN { m = x < y ? x : y; printf "%.0fx", m / o }'
	else
		echo "n/a"
	fi
}
stored=$(commas "$A_PENDING")
echo "scheduler throughput (issue 3), side by side"
printf '  %-56s %12s   %s\n' "measure" "measured" "target"
printf '  %-56s %12s   %s\n' "(a) API lease+finish pairs/s, $stored pending" "$(na "$a100k")" \
    ">= 10000"
printf '  %-56s %12s   %s\n' "(a) API lease+finish pairs/s, 1,000,000 pending" "$(na "$a1m")" \
    ">= 10000"
printf '  %-56s %12s   %s\n' "(a) serve peak RSS, 1,000,000 trials stored (MB)" "$(na "$rss1m")" \
    "< 32"
printf '  %-56s %12s   %s\n' "(b) end-to-end trials/s, $NAGENTS agents x $SLOTS slots, \`true\`" \
    "$e2e_rate" ">= 500"
printf '  %-56s %12s   %s\n' "(c) Optuna ask/tell trials/s, $stored trials stored" \
    "$(na "$optuna_stored_rate")" "reference"
printf '  %-56s %12s   %s\n' "(c) Optuna ask/tell trials/s, fresh study" \
    "$(na "$optuna_rate")" "(not the issue's)"
printf '  %-56s %12s   %s\n' "(a)/(c), slower (a) over Optuna with $stored stored" \
    "$(ratio "$optuna_stored_rate")" ">= 200x"
printf '  %-56s %12s   %s\n' "(a)/(c) against Optuna's fresh study (not the issue's)" \
    "$(ratio "$optuna_rate")" "none"
