# Preemptions never consume max_failures: with max_failures 0, a trial preempted twice goes
# back to pending each time and resumes from its newest checkpoint. retry.max_preemptions
# (2) exhausted by a third preemption abandons it with the reason; `retry --trial` puts it
# back and it completes. A preemption after the sweep's deadline abandons the trial.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/s.json" <<JSON
{
  "name": "it-max-preemptions",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 16 --step-s 0.2 --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0, "max_preemptions": 2}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
start_server

# preempt N: runs attempt N on a fresh agent until it has done a step, then SIGTERMs the agent.
preempt() {
	local n=$1 log
	log=$(trial_log "$id" "$tid" "$n")
	start_agent "spot$n" --grace-s 20
	wait_for 60 attempt_open "$tid" "$n" || fail "attempt $n never started"
	wait_for 60 log_has "$log" "^step " || fail "attempt $n never made a step"
	kill -TERM "$AGENT_PID"
	wait_exit "$AGENT_PID" 60 || fail "agent spot$n did not exit"
	[ "$EXIT_RC" = 0 ] || fail "agent spot$n exited $EXIT_RC"
	[ "$(outcome "$tid" "$n")" = preempted ] || fail "attempt $n is '$(outcome "$tid" "$n")'"
}

for n in 1 2; do
	preempt "$n"
	[ "$(sweep_field "$id" pending)" = 1 ] || fail "after preemption $n the trial is not pending"
	[ "$(db "SELECT preemptions || ' ' || failures FROM trials WHERE id = $tid")" = "$n 0" ] ||
		fail "after preemption $n: preemptions/failures $(db "SELECT preemptions, failures FROM trials WHERE id = $tid")"
done
ok "two preemptions with max_failures 0: pending both times, failures still 0"

preempt 3
# Attempts 2 and 3 each resumed from the newest checkpoint of the one before.
for n in 2 3; do
	want=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid AND attempt = $((n - 1))
	    ORDER BY step DESC LIMIT 1")
	[ -n "$want" ] || fail "attempt $((n - 1)) left no checkpoint"
	[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = $n")" = "$want" ] ||
		fail "attempt $n did not resume from $want"
	log_has "$(trial_log "$id" "$tid" "$n")" "^resumed from $want " || fail "attempt $n's trainer did not resume"
done
"$SPOTSWEEP" trials "$id" --json >"$T/t.json"
[ "$(json "d['state']" <"$T/t.json")" = abandoned ] || fail "not abandoned: $(cat "$T/t.json")"
[ "$(json "d['reason']" <"$T/t.json")" = "preempted 3 times" ] || fail "reason: $(cat "$T/t.json")"
[ "$(json "d['preemptions']" <"$T/t.json")" = 3 ] || fail "preemptions: $(cat "$T/t.json")"
[ "$(sweep_field "$id" abandoned)" = 1 ] || fail "status does not count it abandoned"
[ "$(csv_field "$id" "$tid" state)" = abandoned ] || fail "CSV state"
ok "third preemption over max_preemptions 2: abandoned, reason \"preempted 3 times\""

"$SPOTSWEEP" retry --trial "$tid" >/dev/null || fail "retry --trial"
[ "$("$SPOTSWEEP" trials "$id" --json | json "d['state']")" = pending ] || fail "retry did not make it pending"
start_agent steady
steady=$AGENT_PID
wait_for 90 sweep_done "$id" || fail "the retried trial did not complete"
[ "$(csv_field "$id" "$tid" state)" = succeeded ] || fail "CSV state after retry"
[ "$(csv_field "$id" "$tid" attempts)" = 4 ] || fail "CSV attempts after retry"
[ "$(csv_field "$id" "$tid" preemptions)" = 3 ] || fail "CSV preemptions after retry"
log_has "$(trial_log "$id" "$tid" 4)" "^resumed from " || fail "attempt 4 did not resume"
ok "retry --trial: pending again, resumed and succeeded (attempts=4, preemptions=3)"

# A preemption after the sweep's deadline abandons the trial instead of resuming it. The
# steady agent goes first, so that the deadline trial can only run on the agent preempted here.
kill -TERM "$steady"
wait_exit "$steady" 60 || fail "agent steady did not exit"
when=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) + d.timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
cat >"$T/d.json" <<JSON
{
  "name": "it-deadline",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 200 --step-s 0.2 --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0, "max_preemptions": 20},
  "deadline": "$when"
}
JSON
did=$("$SPOTSWEEP" submit "$T/d.json") || fail "submit with a deadline"
dtid=$(db "SELECT id FROM trials WHERE sweep_id = $did")
start_agent late --grace-s 20
wait_for 60 attempt_open "$dtid" 1 || fail "the deadline trial never started"
wait_for 30 eval "[ \"\$(date -u +%s)\" -gt \"\$(date -u -d '$when' +%s)\" ]" || fail "the deadline never passed"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 60 || fail "agent late did not exit"
[ "$(outcome "$dtid" 1)" = preempted ] || fail "deadline attempt is '$(outcome "$dtid" 1)'"
"$SPOTSWEEP" trials "$did" --json >"$T/d-t.json"
[ "$(json "d['state']" <"$T/d-t.json")" = abandoned ] || fail "not abandoned: $(cat "$T/d-t.json")"
[ "$(json "d['reason']" <"$T/d-t.json")" = "deadline passed" ] || fail "reason: $(cat "$T/d-t.json")"
ok "preempted after the sweep's deadline: abandoned, reason \"deadline passed\""
