# Cancel reaches trials running over ssh: the dispatcher tells the remote agent to stop and
# closes the session; the agent stops the trial (SIGTERM to its process group), reports it
# cancelled through the same stream, and exits; the slot is free again.
. tests/integration/lib.sh
. tests/integration/sshd.sh

start_sshd
cat >"$T/trial.sh" <<'EOF2'
#!/bin/sh
echo $$ >"$(dirname "$0")/trial-$SPOTSWEEP_TRIAL_ID.pid"
trap 'echo TERM >>"$(dirname "$0")/trial-$SPOTSWEEP_TRIAL_ID.sig"; exit 143' TERM
i=0
while [ $i -lt 600 ]; do echo "loss=$i"; sleep 0.1; i=$((i + 1)); done
EOF2
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-ssh-cancel",
  "command": "$T/trial.sh {x}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2]}},
  "metric": {"name": "loss", "goal": "minimize", "pattern": "loss=([0-9]+)"}
}
JSON
AGENT_EXTRA_ARGS='"--grace-s", "5"'
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [$(ssh_pool remote "$(host_entry 127.0.0.1 2)")]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

db() { sqlite3 "$SPOTSWEEP_DB" "$1"; }
both_running() { [ -s "$T/trial-1.pid" ] && [ -s "$T/trial-2.pid" ] && [ "$(sweep_field "$id" running)" = 2 ]; }
wait_for 60 both_running || fail "the trials did not start: $("$SPOTSWEEP" status "$id")"
p1=$(cat "$T/trial-1.pid") p2=$(cat "$T/trial-2.pid")
"$SPOTSWEEP" cancel "$id" >/dev/null || fail "cancel"

gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait_for 20 gone "$p1" || fail "remote trial 1 still running after the cancel"
wait_for 20 gone "$p2" || fail "remote trial 2 still running after the cancel"
grep -q TERM "$T/trial-1.sig" && grep -q TERM "$T/trial-2.sig" || fail "the trials were not sent SIGTERM"
ok "both remote trials stopped with SIGTERM after the cancel"

closed() { [ "$(db "SELECT count(*) FROM attempts WHERE outcome = 'cancelled'")" = 2 ]; }
wait_for 20 closed || fail "attempts: $(db "SELECT trial_id, outcome, reason FROM attempts")"
[ "$(db "SELECT count(*) FROM attempts WHERE reason = 'cancelled by the scheduler'")" = 2 ] ||
	fail "the agents did not report the cancel: $(db "SELECT trial_id, outcome, reason FROM attempts")"
[ "$(sweep_field "$id" cancelled)" = 2 ] || fail "status: $("$SPOTSWEEP" status "$id")"
ok "both attempts reported cancelled through the ssh stream"

idle() { [ -z "$(ssh_clients)" ] && [ "$("$SPOTSWEEP" workers --json | json "d[0]['running']")" = 0 ]; }
wait_for 20 idle || fail "sessions still open: $(ssh_clients)"
ok "the sessions are closed and the host is idle"
# A clean stop (not the cleanup's SIGKILL) also stops the control masters.
stop_server
no_agent_failures
