# Shared helpers for the integration tests: a private temp dir, processes tracked by PID and
# stopped on exit, the scheduler on a free loopback port, bounded waits, JSON via python3.
set -u
: "${BIN:=$PWD/bin}"
SPOTSWEEP="$BIN/spotsweep"
AGENT="$BIN/spotsweep-agent"
ROOT=$PWD
T=$(mktemp -d /tmp/spotsweep-test.XXXXXX)
PIDS=""
export SPOTSWEEP_DB="$T/test.db"

cleanup() {
	local p
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	# make valgrind gives processes longer to exit (its leak check runs at exit).
	sleep "${CLEANUP_GRACE:-0.2}"
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do
		[ -e "$f" ] || continue
		echo "--- $f" >&2
		tail -n 30 "$f" >&2
	done
	echo "FAIL: $*" >&2
	exit 1
}

ok() { echo "ok: $*"; }

track() { PIDS="$PIDS $1"; }

# json EXPR: evaluates a Python expression over the JSON document on stdin, bound to `d`.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# wait_for SECONDS CMD...: retries CMD every 0.1 s until it succeeds or time runs out.
wait_for() {
	local limit=$1 i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge $((limit * 10)) ] && return 1
		sleep 0.1
	done
	return 0
}

# start_server [ARGS...]: starts `serve` on 127.0.0.1:0 and sets SERVER_PID and URL.
start_server() {
	local log="$T/server.log" i
	"$SPOTSWEEP" serve --listen 127.0.0.1:0 "$@" >"$T/server.out" 2>>"$log" &
	SERVER_PID=$!
	track "$SERVER_PID"
	# Up to 30 s: a sanitized serve on a loaded 2-core machine can take seconds to start.
	for i in $(seq 600); do
		grep -q '^listening on ' "$T/server.out" 2>/dev/null && break
		kill -0 "$SERVER_PID" 2>/dev/null || fail "serve exited: $(cat "$log")"
		sleep 0.05
	done
	ADDR=$(sed -n 's/^listening on //p' "$T/server.out" | tail -n 1)
	[ -n "$ADDR" ] || fail "serve did not print its address"
	URL="http://$ADDR"
}

stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
}

# start_agent NAME [ARGS...]: starts an agent against $URL; sets AGENT_PID.
start_agent() {
	local name=$1
	shift
	"$AGENT" --server "$URL" --name "$name" --workdir "$T/work" "$@" \
		>>"$T/agent-$name.log" 2>&1 &
	AGENT_PID=$!
	track "$AGENT_PID"
}

# sweep_field SWEEP KEY: a field of `status SWEEP --json`.
sweep_field() { "$SPOTSWEEP" status "$1" --json | json "d['$2']"; }

# sweep_done SWEEP: true when no trial is pending or running.
sweep_done() {
	"$SPOTSWEEP" status "$1" --json | python3 -c \
		"import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['pending']+d['running']==0 else 1)"
}

# http METHOD PATH [BODY]: prints "STATUS BODY" from the scheduler.
http() {
	local method=$1 path=$2 body=${3:-}
	if [ -n "$body" ]; then
		curl -s -o "$T/http.body" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
			${TOKEN:+-H "Authorization: Bearer $TOKEN"} --data-binary "$body" "$URL$path"
	else
		curl -s -o "$T/http.body" -w '%{http_code}' -X "$method" \
			${TOKEN:+-H "Authorization: Bearer $TOKEN"} "$URL$path"
	fi
	echo " $(cat "$T/http.body")"
}
