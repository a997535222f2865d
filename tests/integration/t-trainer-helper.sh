# contrib/python/spotsweep_trainer.py through a real serve and real agents: the example
# trainer reports metrics with SPOTSWEEP lines, saves checkpoints atomically, and on the
# agent's SIGTERM saves the last completed step and exits preempted; the next attempt resumes
# from that checkpoint on another agent. Then a SIGTERM that does not come from the agent
# (sent to the trainer itself, as systemd or Slurm may) still ends the attempt preempted,
# through the helper's {"preempting": true} line and exit status 143.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh
# No __pycache__ in the source tree from importing contrib/python.
export PYTHONDONTWRITEBYTECODE=1

HELPER_TRAIN="$ROOT/contrib/python/example_train.py"
# spec NAME MODE: a one-trial sweep of the example trainer; --save-in-handler MODE.
spec() {
	cat >"$T/$1.json" <<JSON
{
  "name": "$1",
  "command": "$RECORD_PID exec python3 $HELPER_TRAIN --lr {lr} --steps 30 --step-s 0.2 --ckpt-every 4 --save-in-handler $2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "goal": "minimize"},
  "retry": {"max_failures": 0},
  "checkpoint": {"keep": 2}
}
JSON
}
spec in-handler yes
spec deferred no
id=$("$SPOTSWEEP" submit "$T/in-handler.json") || fail "submit"
t1=$(db "SELECT id FROM trials WHERE sweep_id = $id")
start_server

# --- the agent's SIGTERM: the handler saves, the trial resumes elsewhere -----------------
start_agent first --grace-s 20 --once
first=$AGENT_PID
log1=$(trial_log "$id" "$t1" 1)
wait_for 60 log_has "$log1" "^step 6\$" || fail "trial $t1 never reached step 6"
wait_for 30 eval '[ "$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $t1")" -ge 1 ]' ||
	fail "no periodic checkpoint recorded"
kill -TERM "$first"
wait_exit "$first" 60 || fail "the agent did not exit after SIGTERM"
[ "$EXIT_RC" = 0 ] || fail "the preempted agent exited $EXIT_RC"
[ "$(outcome "$t1" 1)" = preempted ] || fail "attempt 1 is '$(outcome "$t1" 1)'"
log_has "$log1" '^SPOTSWEEP {"preempting": true}$' || fail "no preempting line"
log_has "$log1" "SIGTERM: saving a checkpoint" || fail "the handler did not save"
# The emergency checkpoint is the newest recorded, of the last step the trainer printed (or
# of the next one, when the signal came between the state update and its print).
last=$(sed -n 's/^step \([0-9]*\)$/\1/p' "$log1" | tail -n 1)
epath=$(db "SELECT path FROM checkpoints WHERE trial_id = $t1 AND attempt = 1
    ORDER BY step DESC LIMIT 1")
estep=$(db "SELECT step FROM checkpoints WHERE trial_id = $t1 AND attempt = 1
    ORDER BY step DESC LIMIT 1")
[ "$estep" = "$last" ] || [ "$estep" = $((last + 1)) ] || fail "newest checkpoint at step $estep, the trainer's last step $last"
[ "$epath" = "$T/work/ckpt/sweep-$id/trial-$t1/step-$estep.json" ] || fail "checkpoint path $epath"
python3 -c "import json,sys; d=json.load(open('$epath')); sys.exit(d['step'] != $estep)" ||
	fail "the checkpoint file does not hold step $estep"
# No temporary file was left, and the SPOTSWEEP metric points were recorded per step.
ls -A "$T/work/ckpt/sweep-$id/trial-$t1" | grep -v '^step-[0-9]*\.json$' &&
	fail "temporary files left in the checkpoint directory"
[ "$(db "SELECT count(*) FROM metrics WHERE trial_id = $t1 AND attempt = 1 AND name = 'val_loss'")" \
	-ge "$last" ] || fail "metric points missing"
ok "agent SIGTERM: attempt 1 preempted with the checkpoint of step $estep"

start_agent second
second=$AGENT_PID
wait_for 90 eval '[ "$(outcome "$t1" 2)" = succeeded ]' || fail "trial $t1 did not complete"
log2=$(trial_log "$id" "$t1" 2)
[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $t1 AND attempt = 2")" = "$epath" ] ||
	fail "attempt 2 did not resume from $epath"
log_has "$log2" "^resumed from $epath at step $estep\$" || fail "trainer did not resume: $(head -n 3 "$log2")"
first_step=$(sed -n 's/^step \([0-9]*\)$/\1/p' "$log2" | head -n 1)
[ "$first_step" = $((estep + 1)) ] || fail "attempt 2 started at step $first_step"
# The value is the last val_loss (step 30), from the SPOTSWEEP lines alone (no pattern).
python3 - "$(db "SELECT value FROM trials WHERE id = $t1")" <<'PY' || fail "trial value"
import math, sys
v = float(sys.argv[1])
want = 0.1 * (math.log10(0.001) + 3) ** 2 + 1.0 / 30
sys.exit(0 if abs(v - want) < 1e-9 else 1)
PY
[ "$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $t1")" -ge 2 ] || fail "checkpoints"
kept=$(ls "$T/work/ckpt/sweep-$id/trial-$t1" | wc -l)
[ "$kept" -le 2 ] || fail "checkpoint.keep 2 but $kept files kept"
ok "attempt 2 resumed at step $((estep + 1)) on another agent and succeeded"

# --- a SIGTERM to the trainer itself: preempted, not failed (retry.max_failures is 0) -----
id2=$("$SPOTSWEEP" submit "$T/deferred.json") || fail "submit"
t2=$(db "SELECT id FROM trials WHERE sweep_id = $id2")
log3=$(trial_log "$id2" "$t2" 1)
wait_for 90 log_has "$log3" "^step 5\$" || fail "trial $t2 never reached step 5"
tpid=$(tail -n 1 "$T/trial-pids")
kill -TERM "$tpid"
wait_for 60 eval '[ -n "$(outcome "$t2" 1)" ]' || fail "attempt 1 of trial $t2 never ended"
[ "$(outcome "$t2" 1)" = preempted ] || fail "trainer SIGTERM: attempt is '$(outcome "$t2" 1)'"
reason=$(db "SELECT reason FROM attempts WHERE trial_id = $t2 AND attempt = 1")
[ "$reason" = "the trial marked itself preempting" ] || fail "reason '$reason'"
[ "$(db "SELECT exit_code FROM attempts WHERE trial_id = $t2 AND attempt = 1")" = 143 ] ||
	fail "exit status $(db "SELECT exit_code FROM attempts WHERE trial_id = $t2 AND attempt = 1")"
# With --save-in-handler no, the loop saved at the end of its step, then exited.
log_has "$log3" "SIGTERM: saving" && fail "the deferred trainer saved in the handler"
estep2=$(db "SELECT max(step) FROM checkpoints WHERE trial_id = $t2 AND attempt = 1")
[ -n "$estep2" ] && [ "$estep2" -ge 5 ] || fail "no checkpoint at the stop (got '$estep2')"
wait_for 90 sweep_done "$id2" || fail "the second sweep did not complete"
[ "$(sweep_field "$id2" succeeded)" = 1 ] || fail "trial $t2 did not succeed"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "trial $t1 did not succeed"
log_has "$(trial_log "$id2" "$t2" 2)" "^resumed from .*step-$estep2.json at step $estep2\$" ||
	fail "trial $t2 did not resume from step $estep2"
[ "$(db "SELECT failures FROM trials WHERE id = $t2")" = 0 ] || fail "charged as a failure"
ok "trainer SIGTERM: preempted (exit 143, marked preempting), resumed from step $estep2"
kill -0 "$second" || fail "the second agent died"
