# checkpoint.keep: after a run with many checkpoints the trial's checkpoint directory holds
# exactly `keep` of them, the newest. Nothing outside that directory is ever deleted: not a
# checkpoint reported with a path outside it, not one reached through `..`, not the target
# of a symlink inside it that points out. The next attempt gets SPOTSWEEP_RESUME_FROM (the
# newest) and SPOTSWEEP_CHECKPOINTS (the kept ones, newest first).
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

mkdir -p "$T/outdir"
echo keep-me >"$T/outdir/weights.bin"
cat >"$T/trial.sh" <<SH
d=\$SPOTSWEEP_CHECKPOINT_DIR
if [ "\$SPOTSWEEP_ATTEMPT" = 1 ]; then
	echo outside >"$T/outside.ckpt"
	echo 'SPOTSWEEP {"checkpoint": "$T/outside.ckpt", "step": 0}'
	echo target >"$T/target.ckpt"
	ln -s "$T/target.ckpt" "\$d/link.ckpt"
	echo "SPOTSWEEP {\"checkpoint\": \"\$d/link.ckpt\", \"step\": 0}"
	echo dotdot >"$T/dotdot.ckpt"
	echo "SPOTSWEEP {\"checkpoint\": \"\$d/../../../../dotdot.ckpt\", \"step\": 0}"
	ln -s "$T/outdir" "\$d/linkdir"
	echo "SPOTSWEEP {\"checkpoint\": \"\$d/linkdir\", \"step\": 0}"
	mkdir "\$d/ckdir-0"
	echo w >"\$d/ckdir-0/weights.bin"
	echo "SPOTSWEEP {\"checkpoint\": \"\$d/ckdir-0\", \"step\": 0}"
	python3 $TRAIN --steps 12 --step-s 0.05 --ckpt-every 1 || exit 1
	echo "checkpointing done"
	sleep 60
	exit 1
fi
echo "resume=\$SPOTSWEEP_RESUME_FROM"
printf '%s\n' "\$SPOTSWEEP_CHECKPOINTS" >"$T/env-checkpoints"
echo val_loss=0.5
SH
cat >"$T/s.json" <<JSON
{
  "name": "it-checkpoint-keep",
  "command": "$RECORD_PID exec sh $T/trial.sh",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"},
  "checkpoint": {"keep": 3}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
dir="$T/work/ckpt/sweep-$id/trial-$tid"
start_server
start_agent a1 --grace-s 10
a1=$AGENT_PID
wait_for 60 log_has "$(trial_log "$id" "$tid" 1)" "checkpointing done" || fail "the trial never finished checkpointing"
wait_for 30 log_has "$T/agent-a1.log" "step-12.json recorded" || fail "checkpoint 12 never acknowledged"
n=$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $tid")
[ "$n" = 17 ] || fail "$n checkpoints recorded, expected 17"

listing() { (cd "$dir" && ls -A | sort | tr '\n' ' '); }
# The agent deletes just after the acknowledgement it logs: give it that moment.
wait_for 10 eval '[ "$(listing)" = "step-10.json step-11.json step-12.json " ]' ||
	fail "checkpoint directory holds: $(listing)"
ok "17 checkpoints, keep 3: the directory holds exactly the newest 3"
[ "$(cat "$T/outside.ckpt")" = outside ] || fail "a checkpoint outside the directory was deleted"
[ "$(cat "$T/dotdot.ckpt")" = dotdot ] || fail "a checkpoint reached through .. was deleted"
[ "$(cat "$T/target.ckpt")" = target ] || fail "a symlink's target outside the directory was deleted"
[ "$(cat "$T/outdir/weights.bin")" = keep-me ] || fail "a linked directory outside was emptied"
ok "nothing outside the directory was deleted (outside path, .., file and directory symlinks)"

kill -TERM "$a1"
wait_exit "$a1" 60 || fail "agent a1 did not exit"
[ "$(outcome "$tid" 1)" = preempted ] || fail "attempt 1 is '$(outcome "$tid" 1)'"
start_agent a2
wait_for 60 sweep_done "$id" || fail "the trial did not complete"
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "the trial did not succeed"
log_has "$(trial_log "$id" "$tid" 2)" "^resume=$dir/step-12.json\$" ||
	fail "SPOTSWEEP_RESUME_FROM: $(grep resume= "$(trial_log "$id" "$tid" 2)")"
printf '%s\n' "$dir/step-12.json" "$dir/step-11.json" "$dir/step-10.json" >"$T/want-checkpoints"
cmp -s "$T/env-checkpoints" "$T/want-checkpoints" ||
	fail "SPOTSWEEP_CHECKPOINTS: $(cat "$T/env-checkpoints")"
ok "attempt 2: SPOTSWEEP_RESUME_FROM is the newest, SPOTSWEEP_CHECKPOINTS the kept 3 newest first"
