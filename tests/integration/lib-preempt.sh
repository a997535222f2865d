# Helpers for the preemption tests, sourced after lib.sh: SQL on the test's database, the
# trials' process groups recorded by PID (a trial's command starts with $RECORD_PID) and
# killed by that id on exit, and waits on attempts and trial logs.
TRAIN="$ROOT/sweeps/examples/train.py"
: >"$T/trial-pids"
# The trial's shell is its process group leader: its PID is the group to kill.
RECORD_PID="echo \$\$ >>$T/trial-pids;"

# On exit: the agents first, so that none starts a trial meanwhile, then every trial's group.
kill_agents_and_trials() {
	local p
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in $(cat "$T/trial-pids" 2>/dev/null); do
		kill -KILL -- "-$p" 2>/dev/null
	done
}
trap 'kill_agents_and_trials; cleanup' EXIT

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

# outcome TRIAL ATTEMPT: the attempt's outcome ("" while open, "none" when absent).
outcome() {
	db "SELECT coalesce(outcome, '') FROM attempts WHERE trial_id = $1 AND attempt = $2
	    UNION ALL SELECT 'none' WHERE NOT EXISTS (SELECT 1 FROM attempts
	    WHERE trial_id = $1 AND attempt = $2)"
}
outcome_is() { [ "$(outcome "$1" "$2")" = "$3" ]; }
attempt_open() { outcome_is "$1" "$2" ""; }

# trial_log SWEEP TRIAL ATTEMPT: the attempt's output as the agents (sharing $T/work) keep it.
trial_log() { echo "$T/work/logs/sweep-$1/trial-$2/attempt-$3.log"; }
log_has() { grep -q -- "$2" "$1" 2>/dev/null; }

# pid_gone PID: true once the process has exited (a zombie counts as gone).
pid_gone() {
	local s
	s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
	[ -z "$s" ] || [ "$s" = Z ]
}

# wait_exit PID SECONDS: waits for a child of this shell to exit and sets EXIT_RC to its
# status; false when it is still running after SECONDS. (Not in $(...): a subshell cannot
# wait for its parent's children.)
wait_exit() {
	local pid=$1 limit=$2 i=0
	EXIT_RC=
	while ! pid_gone "$pid"; do
		i=$((i + 1))
		[ "$i" -ge $((limit * 10)) ] && return 1
		sleep 0.1
	done
	wait "$pid"
	EXIT_RC=$?
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# csv_field SWEEP TRIAL COLUMN: one cell of `export`.
csv_field() {
	"$SPOTSWEEP" export "$1" | python3 -c "import csv,sys
for r in csv.DictReader(sys.stdin):
    if r['trial_id'] == '$2': print(r['$3'])"
}
