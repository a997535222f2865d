# --notice-file PATH: the file appearing starts the preemption sequence without any signal.
# Its content here is AWS's notice with a deadline 20 s away, which shortens a 60 s grace.
# The trainer writes an emergency checkpoint, the attempt is reported preempted, the agent
# exits, and the trial resumes from the checkpoint on another agent.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/s.json" <<JSON
{
  "name": "it-notice-file",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 40 --step-s 0.2 --ckpt-every 4",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
start_server
start_agent spot --notice-file "$T/notice/instance-action" --grace-s 60
spot=$AGENT_PID
wait_for 60 log_has "$log1" "^step 6 " || fail "the trial never reached step 6"
attempt_open "$tid" 1 || fail "attempt 1 ended before the notice"

mkdir -p "$T/notice"
when=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
# Written aside and renamed, as a metadata daemon would: the agent never sees half a file.
printf '{"action": "terminate", "time": "%s"}\n' "$when" >"$T/notice/.tmp"
mv "$T/notice/.tmp" "$T/notice/instance-action"
wait_exit "$spot" 60 || fail "the agent did not stop after the notice file appeared"
[ "$EXIT_RC" = 0 ] || fail "the agent exited $EXIT_RC after the notice"
[ "$(outcome "$tid" 1)" = preempted ] || fail "attempt 1 is '$(outcome "$tid" 1)'"
reason=$(db "SELECT reason FROM attempts WHERE trial_id = $tid AND attempt = 1")
[ "$reason" = "termination notice ($T/notice/instance-action appeared)" ] ||
	fail "attempt 1 reason '$reason'"
grace=$(sed -n 's/.*SIGKILL in \([0-9]*\) s).*/\1/p' "$T/agent-spot.log")
[ -n "$grace" ] && [ "$grace" -le 20 ] || fail "the notice's deadline did not shorten the 60 s grace ($grace)"
grep -q "agent received" "$T/agent-spot.log" && fail "the agent saw a signal"
log_has "$log1" "SIGTERM at step" || fail "the trainer never got SIGTERM"
estep=$(sed -n 's/^SIGTERM at step \([0-9]*\):.*/\1/p' "$log1")
epath=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid AND attempt = 1 AND step = $estep")
[ -n "$epath" ] || fail "the emergency checkpoint (step $estep) was not recorded"
ok "notice file: attempt 1 preempted (grace cut to $grace s by the deadline), emergency checkpoint at step $estep"

start_agent ondemand
wait_for 90 sweep_done "$id" || fail "the trial did not complete on the other agent"
[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = 2")" = "$epath" ] ||
	fail "attempt 2 did not resume from $epath"
log_has "$(trial_log "$id" "$tid" 2)" "^resumed from $epath at step $estep\$" ||
	fail "the trainer did not resume from the emergency checkpoint"
[ "$(csv_field "$id" "$tid" state)" = succeeded ] || fail "CSV state"
[ "$(csv_field "$id" "$tid" attempts)" = 2 ] || fail "CSV attempts"
[ "$(csv_field "$id" "$tid" preemptions)" = 1 ] || fail "CSV preemptions"
ok "resumed from the emergency checkpoint on another agent: attempts=2, preemptions=1"
