# serve puts its event loop on the CPUs that do not take the database disk's interrupts and
# its flush thread on those that do (when both exist), says so in its log, can be told not to,
# and the agents `run` starts (with their trials) get back every CPU the scheduler had.
. tests/integration/lib.sh

mask() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$1"; }
shell_cpus=$(mask /proc/self/status)

start_server
wait_for 10 grep -q -E "event loop on CPU|threads not placed" "$T/server.log" ||
    fail "serve said nothing of its threads' CPUs: $(cat "$T/server.log")"
tasks=$(ls "/proc/$SERVER_PID/task")
[ "$(echo "$tasks" | wc -l)" -ge 2 ] || fail "serve has no flush thread: $tasks"
if grep -q "event loop on CPU" "$T/server.log"; then
	loop=$(mask "/proc/$SERVER_PID/task/$SERVER_PID/status")
	flush=""
	for t in $tasks; do
		[ "$t" = "$SERVER_PID" ] && continue
		flush=$(mask "/proc/$SERVER_PID/task/$t/status")
	done
	python3 - "$shell_cpus" "$loop" "$flush" <<'PY' || fail "loop $loop, flush $flush, shell $shell_cpus"
import sys
def cpus(s):
    out = set()
    for part in s.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out
shell, loop, flush = (cpus(x) for x in sys.argv[1:4])
assert loop and flush and not (loop & flush), (loop, flush)
assert loop | flush == shell, (loop, flush, shell)
PY
	ok "placed: $(grep -o 'event loop on CPU.*' "$T/server.log")"
else
	ok "not placed here: $(grep -o 'threads not placed.*' "$T/server.log")"
fi
stop_server

SPOTSWEEP_CPU_PLACEMENT=off start_server
wait_for 10 grep -q "CPU placement off" "$T/server.log" || fail "placement not turned off"
for t in $(ls "/proc/$SERVER_PID/task"); do
	[ "$(mask "/proc/$SERVER_PID/task/$t/status")" = "$shell_cpus" ] ||
	    fail "thread $t confined with placement off"
done
stop_server
ok "SPOTSWEEP_CPU_PLACEMENT=off leaves every thread on $shell_cpus"

# Each trial writes down the CPUs it may use: the agent's, given back by `run`.
cat >"$T/cpus.json" <<JSON
{"name": "it-cpus", "method": "grid",
 "command": "sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status > $T/cpus-{i}",
 "parameters": {"i": {"values": [1, 2, 3, 4]}}}
JSON
"$SPOTSWEEP" run "$T/cpus.json" --agents 2 --workdir "$T/work" -o "$T/cpus.csv" \
    >"$T/run.log" 2>&1 || fail "run failed: $(cat "$T/run.log")"
for i in 1 2 3 4; do
	[ "$(cat "$T/cpus-$i")" = "$shell_cpus" ] ||
	    fail "trial $i may use CPUs $(cat "$T/cpus-$i"), the scheduler had $shell_cpus"
done
ok "trials started by run's agents may use every CPU ($shell_cpus)"
