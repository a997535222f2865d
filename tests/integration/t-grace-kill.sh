# A trainer that ignores SIGTERM is SIGKILLed once --grace-s has passed, with its whole process
# group, and the attempt is still reported preempted (here the agent got SIGINT). A second
# signal to an agent that is waiting out a long grace kills at once. The trial then
# completes elsewhere.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

# The first two attempts ignore SIGTERM (as does their child, which inherits the
# disposition); a later attempt just reports a value.
cat >"$T/stubborn.sh" <<SH
if [ "\$SPOTSWEEP_ATTEMPT" -le 2 ]; then
	trap '' TERM
	sleep 60 &
	echo \$! >"$T/child-\$SPOTSWEEP_ATTEMPT.pid"
	echo "ignoring SIGTERM"
	wait
	echo "should never get here"
fi
echo val_loss=0.5
SH
cat >"$T/s.json" <<JSON
{
  "name": "it-grace-kill",
  "command": "$RECORD_PID exec sh $T/stubborn.sh",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"},
  "retry": {"max_failures": 0}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
start_server
start_agent spot --grace-s 2
spot=$AGENT_PID
wait_for 60 log_has "$log1" "ignoring SIGTERM" || fail "the trial never started"
wait_for 10 test -s "$T/child-1.pid" || fail "no child pid"
leader=$(head -n 1 "$T/trial-pids")
child=$(cat "$T/child-1.pid")
kill -INT "$spot"
wait_exit "$spot" 60 || fail "the agent did not exit"
[ "$EXIT_RC" = 0 ] || fail "the agent exited $EXIT_RC"
pid_gone "$leader" || fail "the trial's shell survived the grace period"
pid_gone "$child" || fail "the trial's child survived the grace period"
log_has "$T/agent-spot.log" "still running after the grace period; SIGKILL" ||
	fail "the agent never said it used SIGKILL"
log_has "$log1" "should never get here" && fail "the trial's wait returned"
[ "$(outcome "$tid" 1)" = preempted ] || fail "attempt 1 is '$(outcome "$tid" 1)'"
[ "$(db "SELECT reason FROM attempts WHERE trial_id = $tid AND attempt = 1")" = \
    "agent received SIGINT" ] || fail "attempt 1 reason"
[ "$(db "SELECT coalesce(exit_code, 'null') FROM attempts WHERE trial_id = $tid AND attempt = 1")" = null ] ||
	fail "a SIGKILLed attempt has an exit code"
[ "$(sweep_field "$id" pending)" = 1 ] || fail "the trial is not pending again"
ok "SIGINT to the agent; SIGTERM ignored by the trial: its group was SIGKILLed after the 2 s grace, attempt reported preempted"

start_agent patient --grace-s 300
patient=$AGENT_PID
wait_for 60 log_has "$(trial_log "$id" "$tid" 2)" "ignoring SIGTERM" || fail "attempt 2 never started"
wait_for 10 test -s "$T/child-2.pid" || fail "no child pid for attempt 2"
kill -TERM "$patient"
wait_for 30 log_has "$T/agent-patient.log" "SIGKILL in 300 s" || fail "the agent did not start stopping"
kill -TERM "$patient"
# A bound well under the 300 s grace: the second signal must not wait it out.
wait_exit "$patient" 60 || fail "a second SIGTERM did not kill the trial at once"
[ "$EXIT_RC" = 0 ] || fail "agent patient exited $EXIT_RC"
log_has "$T/agent-patient.log" "SIGTERM again: killing the trials now" || fail "no second-signal message"
pid_gone "$(cat "$T/child-2.pid")" || fail "attempt 2's child survived"
[ "$(outcome "$tid" 2)" = preempted ] || fail "attempt 2 is '$(outcome "$tid" 2)'"
ok "a second SIGTERM during a 300 s grace killed the trial at once; attempt 2 preempted"

start_agent rescuer
wait_for 60 sweep_done "$id" || fail "the trial did not complete"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "the trial did not succeed"
[ "$(csv_field "$id" "$tid" attempts)" = 3 ] || fail "CSV attempts"
[ "$(csv_field "$id" "$tid" preemptions)" = 2 ] || fail "CSV preemptions"
ok "the trial completed on the third attempt"
