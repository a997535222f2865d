# An agent SIGKILLed mid-trial: its lease expires, the attempt ends `lost`, and the trial
# completes on another agent.
. tests/integration/lib.sh

echo '{"lease_timeout_s": 1.5}' >"$T/sched.json"
cat >"$T/slow.json" <<JSON
{
  "name": "it-lost",
  "command": "echo \$\$ > $T/trial-{attempt}.pgid; echo started {x}; sleep 3; echo val_loss=0.25",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"}
}
JSON
id=$("$SPOTSWEEP" submit "$T/slow.json") || fail "submit"
start_server --config "$T/sched.json"
start_agent doomed
doomed=$AGENT_PID
running() { [ "$(sweep_field "$id" running)" = 1 ]; }
wait_for 20 running || fail "trial never ran"
kill -KILL "$doomed"
# The trial's process group (the agent makes the trial's shell a group leader) outlives a
# SIGKILLed agent; stop it by its recorded id so that it cannot report.
pgid=$(cat "$T/trial-1.pgid") || fail "no trial pgid"
kill -KILL -- "-$pgid" 2>/dev/null
lost() { [ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM attempts WHERE outcome='lost'")" = 1 ]; }
wait_for 20 lost || fail "attempt never marked lost"
[ "$(sweep_field "$id" pending)" = 1 ] || fail "trial not back to pending"
ok "lease expired: attempt lost, trial pending"
start_agent rescuer
wait_for 30 sweep_done "$id" || fail "trial did not complete elsewhere"
"$SPOTSWEEP" trials "$id" --json >"$T/t.json"
[ "$(json "d['state']" <"$T/t.json")" = succeeded ] || fail "state $(cat "$T/t.json")"
[ "$(json "d['attempts']" <"$T/t.json")" = 2 ] || fail "attempts $(cat "$T/t.json")"
[ "$(json "d['value']" <"$T/t.json")" = 0.25 ] || fail "value $(cat "$T/t.json")"
ok "trial completed on the second agent"
