# Early stopping through the scheduler and real agents, with training curves from
# sweeps/examples/train.py (loss = floor(lr) + 1/step, reported with its step).
# 1. hyperband (min_iter 3, eta 3, max_iter 27) over 9 trials on 3 slots: the best trial
#    runs to the end; the bad ones are pruned at a rung: the agent stopped them with SIGTERM
#    (the trainer wrote its emergency checkpoint), their attempts closed as pruned; status
#    shows where they stopped and the GPU-hours saved; the CSV keeps the contract's columns.
# 2. resume_pruned, one trial at a time: a trial stopped at rung 3 because the only other
#    trial there was better is promoted once worse trials arrive, and resumes from its
#    checkpoint, its curve continuing where it stopped.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/config.json" <<'JSON'
{"lease_timeout_s": 3}
JSON

cat >"$T/hb.json" <<JSON
{
  "name": "it-hyperband",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 27 --step-s 0.15 --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.003, 0.01, 0.0001, 0.1, 0.00001, 1, 0.000001, 0.0000001]}},
  "metric": {"name": "train_loss", "goal": "minimize"},
  "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3, "max_iter": 27}
}
JSON
id=$("$SPOTSWEEP" submit "$T/hb.json") || fail "submit"
start_server --config "$T/config.json"
start_agent a1 --slots 3
wait_for 120 sweep_done "$id" || fail "the sweep did not finish: $("$SPOTSWEEP" status "$id" --json)"
best=$(db "SELECT id FROM trials WHERE sweep_id = $id ORDER BY id LIMIT 1")
[ "$(db "SELECT state FROM trials WHERE id = $best")" = succeeded ] ||
	fail "the best trial did not run to the end: $(db "SELECT state, reason FROM trials WHERE id = $best")"
[ "$(db "SELECT step FROM trials WHERE id = $best")" = 27 ] || fail "the best trial's step"
npruned=$(sweep_field "$id" pruned)
[ "$npruned" -ge 5 ] || fail "only $npruned trials pruned: $("$SPOTSWEEP" trials "$id")"
ok "hyperband: the best trial ran to step 27, $npruned of 9 trials pruned"

for tid in $(db "SELECT id FROM trials WHERE sweep_id = $id AND state = 'pruned'"); do
	reason=$(db "SELECT reason FROM trials WHERE id = $tid")
	case $reason in
	"hyperband: at rung "*) ;;
	*) fail "trial $tid pruned for '$reason'" ;;
	esac
	n=$(db "SELECT attempts FROM trials WHERE id = $tid")
	[ "$(outcome "$tid" "$n")" = pruned ] || fail "trial $tid attempt $n is '$(outcome "$tid" "$n")'"
	log_has "$(trial_log "$id" "$tid" "$n")" "^SIGTERM at step" ||
		fail "trial $tid was not stopped by SIGTERM: $(tail -n 3 "$(trial_log "$id" "$tid" "$n")")"
	step=$(db "SELECT step FROM trials WHERE id = $tid")
	[ "$step" -ge 3 ] && [ "$step" -lt 27 ] || fail "trial $tid reached step $step"
done
ok "every pruned trial: stopped at a rung by SIGTERM (emergency checkpoint), attempt pruned"

# A trial is judged on its value where it reached the rung, against the trials there.
rows=$(db "SELECT count(*) FROM rungs r JOIN trials t ON t.id = r.trial_id
    WHERE t.sweep_id = $id AND r.rung = 0 AND r.step = 3")
[ "$rows" = 9 ] || fail "$rows trials recorded at rung 0 (step 3)"
[ "$(db "SELECT decision FROM rungs WHERE trial_id = $best AND rung = 0")" = continue ] ||
	fail "the best trial was not kept at rung 0"

"$SPOTSWEEP" status "$id" --json >"$T/status.json" || fail "status"
python3 - "$T/status.json" "$npruned" <<'PY' || fail "status --json: $(cat "$T/status.json")"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["early_stopping"]
assert e["horizon"] == 27, e
assert e["gpu_hours_saved"] > 0, e
assert sum(p["trials"] for p in e["pruned_at"]) == int(sys.argv[2]), e
assert all(3 <= p["step"] < 27 for p in e["pruned_at"]), e
PY
"$SPOTSWEEP" status "$id" >"$T/status.txt"
# Not a terminal: status prints one logfmt line, where-pruned and GPU-hours saved as pairs.
grep -q " pruned_at=[0-9]*:[0-9]*" "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
grep -q " gpu_hours_saved=[0-9]" "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
"$SPOTSWEEP" trials "$id" --state pruned --json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert rows and all(3 <= r["step"] < 27 for r in rows), rows' || fail "trials --json: the step pruned trials reached"
ok "status: $(grep -o 'pruned_at=[^ ]*' "$T/status.txt"); $(grep -o 'gpu_hours_saved=[^ ]*' "$T/status.txt")"

"$SPOTSWEEP" export "$id" -o "$T/out.csv" || fail "export"
head -n 1 "$T/out.csv" | tr -d '\r' | grep -qx 'trial_id,state,attempts,preemptions,lr,train_loss,runtime_s,gpu_hours,cost_usd,last_pool,started_at,finished_at' ||
	fail "CSV header: $(head -n 1 "$T/out.csv")"
[ "$(grep -c ',pruned,' "$T/out.csv")" = "$npruned" ] || fail "CSV pruned rows"
ok "CSV: the contract's columns, $npruned rows pruned"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 30 || fail "agent a1 did not stop"

# 2. resume_pruned. One slot: trial 2 reaches step 3 after trial 1, which is better, and is
# stopped (top 1 of 2); trial 3 is stopped too (top 1 of 3); trial 4 makes rung 0 four
# trials, whose top 2 holds trial 2 again: it is promoted and resumes from its checkpoint.
# Steps of 0.2 s: a trial's first heartbeat (1 s after it starts) must come between rung 0
# (step 3) and rung 1 (step 9), or a report crossing both judges it at rung 1 only; at 0.1 s
# a fast start-up put step 9 before that heartbeat.
cat >"$T/resume.json" <<JSON
{
  "name": "it-resume-pruned",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 27 --step-s 0.2 --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.01, 0.1, 1, 0.00001, 10]}},
  "metric": {"name": "train_loss", "goal": "minimize"},
  "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3, "max_iter": 27,
                      "resume_pruned": true}
}
JSON
id2=$("$SPOTSWEEP" submit "$T/resume.json") || fail "submit resume"
t2=$(db "SELECT id FROM trials WHERE sweep_id = $id2 ORDER BY id LIMIT 1 OFFSET 1")
start_agent a2
wait_for 120 sweep_done "$id2" || fail "the resume sweep did not finish: $("$SPOTSWEEP" trials "$id2")"
[ "$(db "SELECT decision FROM rungs WHERE trial_id = $t2 AND rung = 0")" = promote ] ||
	fail "trial $t2 was not promoted: $(db "SELECT rung, decision FROM rungs WHERE trial_id = $t2")"
[ "$(db "SELECT attempts FROM trials WHERE id = $t2")" -ge 2 ] || fail "trial $t2 did not run again"
[ "$(outcome "$t2" 1)" = pruned ] || fail "trial $t2 attempt 1 is '$(outcome "$t2" 1)'"
from=$(db "SELECT resumed_from FROM attempts WHERE trial_id = $t2 AND attempt = 2")
[ -n "$from" ] || fail "attempt 2 of trial $t2 did not resume from a checkpoint"
log2=$(trial_log "$id2" "$t2" 2)
log_has "$log2" "^resumed from $from at step" || fail "the trainer did not resume: $(head -n 2 "$log2")"
cstep=$(sed -n 's/^resumed from .* at step \([0-9]*\)$/\1/p' "$log2")
first=$(sed -n 's/^step \([0-9]*\) .*/\1/p' "$log2" | head -n 1)
[ "$first" = $((cstep + 1)) ] || fail "attempt 2 started at step $first, its checkpoint was step $cstep"
[ "$(db "SELECT step FROM trials WHERE id = $t2")" -gt "$cstep" ] || fail "trial $t2's curve did not go on"
ok "resume_pruned: trial $t2 promoted at rung 0, resumed from step $cstep ($from), curve continued to step $(db "SELECT step FROM trials WHERE id = $t2") ($(db "SELECT state FROM trials WHERE id = $t2"))"
