# The scheduler dies (SIGKILL) while a trial runs over ssh: its end of the ssh client's stdin
# closes with it, so the remote agent sees EOF and stops the trial; the restarted scheduler
# ends that attempt at once (its session died with the old process: no lease to wait out) and
# the trial resumes from its checkpoint.
. tests/integration/lib.sh
. tests/integration/sshd.sh

start_sshd
cat >"$T/trial.sh" <<'EOF2'
#!/bin/sh
d=$1 from=0
out=$(dirname "$0")/attempt-$SPOTSWEEP_ATTEMPT
echo $$ >"$out.pid"
trap 'echo TERM >>"$out.sig"; exit 143' TERM
[ -n "$2" ] && from=$(cat "$2")
echo "$from" >"$out.from"
i=$((from + 1))
while [ $i -le 25 ]; do
	echo "$i" >"$d/step-$i"
	echo "SPOTSWEEP {\"checkpoint\": \"$d/step-$i\", \"step\": $i}"
	sleep 0.2
	i=$((i + 1))
done
echo "loss=$i"
EOF2
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-ssh-restart",
  "command": "$T/trial.sh {checkpoint_dir} {resume_from}",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "loss", "goal": "minimize", "pattern": "loss=([0-9]+)"}
}
JSON
AGENT_EXTRA_ARGS='"--grace-s", "3"'
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 120, "pools": [$(ssh_pool remote "$(host_entry 127.0.0.1 1)")]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"
db() { sqlite3 "$SPOTSWEEP_DB" "$1"; }
progressed() { [ "$(db "SELECT count(*) FROM checkpoints")" -ge 4 ]; }
wait_for 60 progressed || fail "attempt 1 never reported checkpoints"
rpid=$(cat "$T/attempt-1.pid")
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
ok "scheduler killed while remote trial $rpid ran"

gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait_for 20 gone "$rpid" || fail "the remote trial outlived its scheduler"
grep -q TERM "$T/attempt-1.sig" || fail "the remote trial was not sent SIGTERM"
ok "the remote trial got SIGTERM once the scheduler was gone"

mv "$T/server.out" "$T/server-1.out"
start_server --config "$T/sched.json"
wait_for 60 sweep_done "$id" || fail "the trial did not complete after the restart: $("$SPOTSWEEP" status "$id")"
[ "$(db "SELECT outcome FROM attempts WHERE attempt = 1")" = lost ] || fail "attempt 1: $(db "SELECT * FROM attempts")"
db "SELECT reason FROM attempts WHERE attempt = 1" | grep -q "ended with the previous scheduler" ||
	fail "attempt 1 was not ended by the restarted scheduler: $(db "SELECT reason FROM attempts WHERE attempt = 1")"
[ "$(db "SELECT state FROM trials")" = succeeded ] || fail "trial: $(db "SELECT * FROM trials")"
from=$(cat "$T/attempt-2.from")
[ "$from" -ge 4 ] || fail "attempt 2 started from step $from"
ok "the restarted scheduler ended attempt 1 at once; attempt 2 resumed from step $from and succeeded"
# A clean stop (not the cleanup's SIGKILL) also stops the control masters.
stop_server
no_agent_failures
