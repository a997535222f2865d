# `spotsweep run` interrupted with SIGINT stops cleanly (running trials are checkpointed and
# requeued), and a second `run` of the same spec resumes the same sweep and finishes it.
. tests/integration/lib.sh

cat >"$T/s.json" <<JSON
{
  "name": "it-run-resume",
  "command": "python3 $ROOT/sweeps/examples/train.py --lr {lr} --steps 8 --step-s 0.2 --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"}
}
JSON
"$SPOTSWEEP" run "$T/s.json" --agents 2 --workdir "$T/work" -o "$T/first.csv" \
	>"$T/run1.out" 2>"$T/run1.log" &
RUN_PID=$!
track "$RUN_PID"
ran() { [ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM checkpoints")" -ge 2 ] 2>/dev/null; }
wait_for 60 ran || fail "no checkpoints before the interrupt"
kill -INT "$RUN_PID"
wait "$RUN_PID"; rc=$?
[ "$rc" -eq 1 ] || fail "interrupted run exit $rc (want 1: unfinished trials)"
grep -q "interrupted" "$T/run1.log" || fail "no interrupt message: $(cat "$T/run1.log")"
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM attempts WHERE outcome IS NULL")" = 0 ] ||
	fail "attempts left open after the interrupt"
pre=$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM attempts WHERE outcome = 'preempted'")
[ "$pre" -ge 1 ] || fail "no trial was preempted by the interrupt"
pgrep -f -- "--workdir $T/work" >/dev/null && fail "agents left running"
ok "SIGINT: $pre running trials preempted and checkpointed, agents stopped"

"$SPOTSWEEP" run "$T/s.json" --agents 2 --workdir "$T/work" -o "$T/second.csv" \
	>"$T/run2.out" 2>"$T/run2.log" || fail "second run: $(cat "$T/run2.log")"
grep -q "resuming sweep 1" "$T/run2.log" || fail "second run did not resume: $(cat "$T/run2.log")"
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM sweeps")" = 1 ] || fail "a second sweep was made"
[ "$(sweep_field 1 succeeded)" = 6 ] || fail "not all succeeded"
n=$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM attempts WHERE resumed_from IS NOT NULL")
[ "$n" -ge 1 ] || fail "no attempt resumed from a checkpoint"
grep -q "^best: trial" "$T/run2.out" || fail "no summary: $(cat "$T/run2.out")"
python3 - "$T/second.csv" <<'PY' || fail "CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 6 and all(r["state"] == "succeeded" for r in rows), rows
assert any(int(r["attempts"]) >= 2 and int(r["preemptions"]) >= 1 for r in rows), rows
PY
ok "second run resumed from checkpoints and finished: $n resumed attempts"
