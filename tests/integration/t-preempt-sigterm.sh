# SIGTERM to an agent mid-trial: the trainer gets SIGTERM and writes an emergency checkpoint,
# the agent reports the attempt preempted with that checkpoint and exits 0, and the trial
# resumes from it on another agent and completes: attempts=2, preemptions=1 in the CSV.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/s.json" <<JSON
{
  "name": "it-preempt-sigterm",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 30 --step-s 0.2 --ckpt-every 4",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
log2=$(trial_log "$id" "$tid" 2)
start_server
start_agent first --grace-s 20
first=$AGENT_PID
# Past the first periodic checkpoint (step 4) and into the next stretch of steps.
wait_for 60 log_has "$log1" "^step 6 " || fail "the trial never reached step 6"
wait_for 30 eval '[ "$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $tid")" -ge 1 ]' ||
	fail "no periodic checkpoint recorded"
kill -TERM "$first"
wait_exit "$first" 60 || fail "the agent did not exit after SIGTERM"
[ "$EXIT_RC" = 0 ] || fail "the preempted agent exited $EXIT_RC"
ok "SIGTERM: the agent stopped its trial, reported it and exited 0"

log_has "$log1" "SIGTERM at step" || fail "the trainer never saw SIGTERM: $(tail -n 5 "$log1")"
estep=$(sed -n 's/^SIGTERM at step \([0-9]*\):.*/\1/p' "$log1")
[ -n "$estep" ] || fail "no step in the trainer's SIGTERM line"
epath=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid AND attempt = 1 AND step = $estep")
[ "$epath" = "$T/work/ckpt/sweep-$id/trial-$tid/step-$estep.json" ] ||
	fail "emergency checkpoint of step $estep not recorded (got '$epath')"
[ "$(outcome "$tid" 1)" = preempted ] || fail "attempt 1 is '$(outcome "$tid" 1)'"
reason=$(db "SELECT reason FROM attempts WHERE trial_id = $tid AND attempt = 1")
[ "$reason" = "agent received SIGTERM" ] || fail "attempt 1 reason '$reason'"
# The emergency checkpoint was acknowledged before the finish report closed the attempt.
db "SELECT (SELECT at FROM checkpoints WHERE trial_id = $tid AND step = $estep)
    <= (SELECT ended_at FROM attempts WHERE trial_id = $tid AND attempt = 1)" | grep -qx 1 ||
	fail "the emergency checkpoint arrived after the finish"
[ "$(sweep_field "$id" pending)" = 1 ] || fail "the trial is not pending again"
ok "trainer wrote an emergency checkpoint at step $estep; attempt 1 preempted; trial pending"

start_agent second
second=$AGENT_PID
wait_for 90 sweep_done "$id" || fail "the trial did not complete on the second agent"
[ "$(db "SELECT w.name FROM attempts a JOIN workers w ON w.id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 2")" = second ] || fail "attempt 2 not on 'second'"
[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = 2")" = "$epath" ] ||
	fail "attempt 2 did not resume from the emergency checkpoint"
log_has "$log2" "^resumed from $epath at step $estep\$" ||
	fail "the trainer did not resume from $epath: $(head -n 3 "$log2")"
# No step before the checkpoint was run again.
first_step=$(sed -n 's/^step \([0-9]*\) .*/\1/p' "$log2" | head -n 1)
[ "$first_step" = $((estep + 1)) ] || fail "attempt 2 started at step $first_step"
[ "$(outcome "$tid" 2)" = succeeded ] || fail "attempt 2 is '$(outcome "$tid" 2)'"
ok "attempt 2 resumed from $epath (step $estep) on the other agent and succeeded"

[ "$(csv_field "$id" "$tid" state)" = succeeded ] || fail "CSV state"
[ "$(csv_field "$id" "$tid" attempts)" = 2 ] || fail "CSV attempts $(csv_field "$id" "$tid" attempts)"
[ "$(csv_field "$id" "$tid" preemptions)" = 1 ] || fail "CSV preemptions"
[ "$(db "SELECT failures FROM trials WHERE id = $tid")" = 0 ] || fail "the preemption was charged as a failure"
ok "CSV: attempts=2, preemptions=1"
kill -0 "$second" || fail "the second agent died"
