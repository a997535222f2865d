#!/usr/bin/env bash
# make bench, issue 4: the chaos run. 200 trials of about 2 s each (sweeps/examples/train.py,
# 10 steps of 0.2 s, a checkpoint after every step: every 10% of a trial) on 4 agents of 4
# slots, while random agents are sent SIGTERM at random moments (a spot preemption) and
# started again, until about 8% of all attempts were preempted. Then it prints completed and
# abandoned trials, interruptions (preempted + lost attempts) and the compute redone as a
# share of all compute, from the store:
#   redone per interrupted attempt = ended_at - at of its newest acknowledged checkpoint
#                                    (the whole attempt when it acknowledged none)
#   total = the sum of every attempt's ended_at - started_at
# Targets: every trial completes, redone < 2%. Exit 1 when one is missed.
# Usage: BIN=DIR bench-chaos.sh [SCRATCH_DIR]
set -u
: "${BIN:=$PWD/bin}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPOTSWEEP="$BIN/spotsweep"
AGENT="$BIN/spotsweep-agent"
TRIALS=200
AGENTS=4
SLOTS=4
TARGET_PCT=8
STEP_S=0.2

W=$(mktemp -d "${1:-/tmp}/chaos.XXXXXX")
export SPOTSWEEP_DB="$W/chaos.db"
SERVER_PID=""
declare -a APID

cleanup() {
	local p
	for p in "${APID[@]}" $SERVER_PID; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${APID[@]}" $SERVER_PID; do
		# Agents report what they were running; give them a moment, then insist.
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in $(cat "$W/trial-pids" 2>/dev/null); do
		kill -KILL -- "-$p" 2>/dev/null
	done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

die() {
	echo "bench-chaos: $*" >&2
	tail -n 20 "$W/server.log" >&2 2>/dev/null
	exit 1
}

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

# The interpreter itself, not a version manager's shim that would add its own start-up time
# (hundreds of ms on a busy machine) to every attempt.
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 is needed"
cat >"$W/chaos.json" <<JSON
{
  "name": "bench-chaos",
  "command": "echo \$\$ >>$W/trial-pids; exec $PY $ROOT/sweeps/examples/train.py --lr {lr} --steps 10 --step-s $STEP_S --ckpt-every 1",
  "method": "random",
  "max_trials": $TRIALS,
  "seed": 4,
  "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}},
  "metric": {"name": "val_loss", "goal": "minimize", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 2, "max_preemptions": 20},
  "checkpoint": {"keep": 3}
}
JSON
id=$("$SPOTSWEEP" submit "$W/chaos.json") || die "submit failed"
"$SPOTSWEEP" serve --listen 127.0.0.1:0 >"$W/server.out" 2>"$W/server.log" &
SERVER_PID=$!
for _ in $(seq 200); do
	grep -q '^listening on ' "$W/server.out" && break
	sleep 0.05
done
url="http://$(sed -n 's/^listening on //p' "$W/server.out")"
[ "$url" != "http://" ] || die "serve did not start"

start_agent() {
	"$AGENT" --server "$url" --name "chaos-$1" --slots "$SLOTS" --grace-s 10 \
	    --workdir "$W/work" >>"$W/agent-$1.log" 2>&1 &
	APID[$1]=$!
}
for a in $(seq "$AGENTS"); do start_agent "$a"; done

# busy_on NAME: attempts open on the newest worker registered under NAME.
busy_on() {
	db "SELECT count(*) FROM attempts WHERE outcome IS NULL AND worker_id =
	    (SELECT max(id) FROM workers WHERE name = '$1')"
}
done_yet() {
	[ "$(db "SELECT n_pending + n_running FROM sweeps WHERE id = $id")" = 0 ]
}

start=$(date +%s.%N)
kills=0
deadline=$(( $(date +%s) + 600 ))
while ! done_yet; do
	[ "$(date +%s)" -lt "$deadline" ] || die "the sweep did not finish in 10 minutes"
	# A random moment: 0.2 to 1.2 s from the last look.
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + r % 100 / 100 }')"
	preempted=$(db "SELECT count(*) FROM attempts WHERE outcome = 'preempted'")
	started=$(db "SELECT count(*) FROM attempts")
	# Preempt while that keeps the preempted share of the attempts so far near the target.
	[ $((100 * (preempted + SLOTS / 2))) -le $((TARGET_PCT * started)) ] || continue
	a=$(( RANDOM % AGENTS + 1 ))
	[ "$(busy_on "chaos-$a")" -gt 0 ] || continue
	kill -TERM "${APID[$a]}"
	for _ in $(seq 600); do kill -0 "${APID[$a]}" 2>/dev/null || break; sleep 0.1; done
	wait "${APID[$a]}" 2>/dev/null || die "agent chaos-$a exited $? after SIGTERM"
	kills=$((kills + 1))
	start_agent "$a"
done
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

completed=$(db "SELECT n_succeeded FROM sweeps WHERE id = $id")
abandoned=$(db "SELECT n_abandoned FROM sweeps WHERE id = $id")
attempts=$(db "SELECT count(*) FROM attempts")
preempted=$(db "SELECT count(*) FROM attempts WHERE outcome = 'preempted'")
lost=$(db "SELECT count(*) FROM attempts WHERE outcome = 'lost'")
open=$(db "SELECT count(*) FROM attempts WHERE outcome IS NULL")
[ "$open" = 0 ] || die "$open attempts left open"
# Seconds redone, seconds in all, and the partial steps that SIGTERM cut short before the
# emergency checkpoints (not part of the definition above; at most one step each).
read -r redone total cut <<EOF
$(db "SELECT printf('%.3f %.3f %.3f',
    (SELECT coalesce(sum(a.ended_at - coalesce((SELECT max(c.at) FROM checkpoints c
        WHERE c.trial_id = a.trial_id AND c.attempt = a.attempt), a.started_at)), 0)
     FROM attempts a WHERE a.outcome IN ('preempted', 'lost')),
    (SELECT sum(ended_at - started_at) FROM attempts),
    $STEP_S * (SELECT count(*) FROM attempts WHERE outcome IN ('preempted', 'lost')))")
EOF
pct=$(awk -v r="$redone" -v t="$total" 'BEGIN { printf "%.2f", (t > 0 ? 100 * r / t : 0) }')
pct_cut=$(awk -v r="$redone" -v c="$cut" -v t="$total" 'BEGIN { printf "%.2f", (t > 0 ? 100 * (r + c) / t : 0) }')
share=$(awk -v p="$preempted" -v a="$attempts" 'BEGIN { printf "%.1f", (a > 0 ? 100 * p / a : 0) }')

echo "chaos: $TRIALS trials x 10 steps of ${STEP_S} s, checkpoint every step; $AGENTS agents x $SLOTS slots; $elapsed s"
echo "  agents preempted (SIGTERM, restarted):  $kills"
echo "  completed:                              $completed / $TRIALS"
echo "  abandoned:                              $abandoned"
echo "  attempts:                               $attempts"
echo "  interruptions (preempted + lost):       $((preempted + lost)) ($preempted + $lost; $share% of attempts)"
echo "  compute redone:                         $pct% ($redone s of $total s)"
echo "  ... counting the step SIGTERM cut short: at most $pct_cut%"
rc=0
if [ "$completed" != "$TRIALS" ]; then
	echo "  TARGET MISSED: not every trial completed"
	rc=1
fi
if awk -v p="$pct" 'BEGIN { exit !(p >= 2) }'; then
	echo "  TARGET MISSED: compute redone is not under 2%"
	rc=1
fi
[ "$rc" = 0 ] && echo "  targets met: every trial completed, compute redone under 2%"
exit "$rc"
