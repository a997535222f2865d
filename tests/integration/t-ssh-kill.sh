# The SSH connection dies mid-trial: the scheduler's ssh client is killed. The remote agent
# sees EOF on its stdin and stops the trial within its grace period (SIGTERM, then SIGKILL),
# so no orphan keeps running; the scheduler ends the attempt `lost` and the trial resumes
# from its newest checkpoint on the next attempt.
. tests/integration/lib.sh
. tests/integration/sshd.sh

start_sshd
cat >"$T/trial.sh" <<'EOF2'
#!/bin/sh
# $1 = checkpoint dir, $2 = resume_from. Counts to 30 from the checkpoint's step, one
# checkpoint a step; records its pid, its start and the signals it gets.
d=$1 from=0
out=$(dirname "$0")/attempt-$SPOTSWEEP_ATTEMPT
echo $$ >"$out.pid"
trap 'echo TERM >>"$out.sig"; exit 143' TERM
[ -n "$2" ] && from=$(cat "$2")
echo "$from" >"$out.from"
i=$((from + 1))
while [ $i -le 30 ]; do
	echo "$i" >"$d/step-$i"
	echo "SPOTSWEEP {\"checkpoint\": \"$d/step-$i\", \"step\": $i}"
	echo "loss=$i"
	sleep 0.2
	i=$((i + 1))
done
EOF2
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-ssh-kill",
  "command": "$T/trial.sh {checkpoint_dir} {resume_from}",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "loss", "goal": "minimize", "pattern": "loss=([0-9]+)"},
  "checkpoint": {"keep": 3}
}
JSON
AGENT_EXTRA_ARGS='"--grace-s", "3"'
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [$(ssh_pool remote "$(host_entry 127.0.0.1 1)")]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

db() { sqlite3 "$SPOTSWEEP_DB" "$1"; }
progressed() { [ "$(db "SELECT count(*) FROM checkpoints WHERE attempt = 1")" -ge 5 ]; }
wait_for 60 progressed || fail "attempt 1 never reported checkpoints"
rpid=$(cat "$T/attempt-1.pid")
# The stdio agent is the trial's nearest ancestor with --stdio on its command line.
apid=$rpid
for i in 1 2 3 4; do
	apid=$(awk '{print $4}' "/proc/$apid/stat")
	tr '\0' ' ' <"/proc/$apid/cmdline" | grep -q -- --stdio && break
done
tr '\0' ' ' <"/proc/$apid/cmdline" | grep -q -- --stdio || fail "no stdio agent above the trial $rpid"
clients=$(ssh_clients) || fail "no ssh client found"
[ "$(echo "$clients" | wc -l)" = 1 ] || fail "expected one ssh client: $clients"
kill -KILL $clients
killed_at=$(date +%s)
ok "ssh client $clients killed while remote trial $rpid ran"

# PID 1 here may leave an orphan as a zombie for a while: Z counts as gone.
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
wait_for 20 gone "$rpid" || fail "the remote trial $rpid is still running"
elapsed=$(( $(date +%s) - killed_at ))
grep -q TERM "$T/attempt-1.sig" 2>/dev/null || fail "the remote trial never got SIGTERM"
[ "$elapsed" -le 10 ] || fail "the remote trial took $elapsed s to stop (grace 3 s)"
wait_for 20 gone "$apid" || fail "the remote agent $apid of attempt 1 is still running"
ok "the remote trial got SIGTERM and ended ${elapsed}s after the connection died; its agent exited"

lost() { [ "$(db "SELECT outcome FROM attempts WHERE attempt = 1")" = lost ]; }
wait_for 30 lost || fail "attempt 1 not lost: $(db "SELECT * FROM attempts")"
ok "attempt 1 ended lost: $(db "SELECT reason FROM attempts WHERE attempt = 1")"

wait_for 90 sweep_done "$id" || fail "the trial did not complete: $("$SPOTSWEEP" status "$id")"
"$SPOTSWEEP" trials "$id" --json >"$T/t.json"
[ "$(json "d['state']" <"$T/t.json")" = succeeded ] || fail "state: $(cat "$T/t.json")"
[ "$(json "d['attempts']" <"$T/t.json")" = 2 ] || fail "attempts: $(cat "$T/t.json")"
[ "$(json "d['preemptions']" <"$T/t.json")" = 1 ] || fail "preemptions: $(cat "$T/t.json")"
from=$(cat "$T/attempt-2.from")
resumed=$(db "SELECT resumed_from FROM attempts WHERE attempt = 2")
[ "$from" -ge 5 ] || fail "attempt 2 started from step $from"
[ "$resumed" = "$T/remote-work/ckpt/sweep-$id/trial-1/step-$from" ] ||
	fail "attempt 2 resumed from '$resumed', its trial read step $from"
[ "$(json "d['value']" <"$T/t.json")" = 30 ] || fail "value: $(cat "$T/t.json")"
ok "the trial resumed from its checkpoint (step $from) on attempt 2 and succeeded"
# A clean stop (not the cleanup's SIGKILL) also stops the control masters.
stop_server
no_agent_failures
