# A sweep runs to the end through `serve` and two real agents: every trial succeeds, its
# metrics reach the CSV, and the trial sees the contract's environment.
. tests/integration/lib.sh

cat >"$T/grid.json" <<JSON
{
  "name": "it-grid",
  "command": "python3 $ROOT/sweeps/examples/train.py --lr {lr} --batch-size {batch_size} --steps 3 --step-s 0.05",
  "method": "grid",
  "parameters": {
    "lr": {"values": [0.001, 0.01, 0.1]},
    "batch_size": {"values": [32, 64]}
  },
  "metric": {"name": "val_loss", "goal": "minimize", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "metrics": {"val_acc": "val_acc[=: ]+([-+0-9.eE]+)"}
}
JSON
id=$("$SPOTSWEEP" submit "$T/grid.json") || fail "submit"
start_server
start_agent a1
start_agent a2 --slots 2
wait_for 60 sweep_done "$id" || fail "sweep did not finish: $("$SPOTSWEEP" status "$id" --json)"
[ "$(sweep_field "$id" succeeded)" = 6 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id" --json)"
best=$("$SPOTSWEEP" status "$id" --json | json "d['best']['value']")
python3 -c "import sys; v=float('$best'); sys.exit(0 if 0 < v < 2 else 1)" || fail "best value $best"
ok "6 trials succeeded, best $best"

"$SPOTSWEEP" export "$id" -o "$T/out.csv" || fail "export"
python3 - "$T/out.csv" <<'PY' || fail "CSV"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 6, len(rows)
for r in rows:
    assert r["state"] == "succeeded", r
    assert r["attempts"] == "1", r
    v = float(r["val_loss"]); a = float(r["val_acc"])
    assert abs(a - 1 / (1 + v)) < 1e-5, r
    assert float(r["runtime_s"]) > 0.1, r
    assert r["started_at"].endswith("Z") and r["finished_at"].endswith("Z"), r
print("csv ok")
PY
ok "CSV has the metrics of every trial"

# The trial's environment.
cat >"$T/env.json" <<JSON
{
  "name": "it-env",
  "command": "env | grep '^SPOTSWEEP_' | sort > $T/env-{trial_id}-{attempt}.txt; echo 'val_loss=1'",
  "method": "grid",
  "parameters": {"learning-rate": {"value": 0.5}, "opt": {"values": ["adam w'x"]}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"}
}
JSON
id2=$("$SPOTSWEEP" submit "$T/env.json") || fail "submit env"
wait_for 30 sweep_done "$id2" || fail "env sweep did not finish"
tid=$("$SPOTSWEEP" trials "$id2" --json | json "d['trial_id']")
f="$T/env-$tid-1.txt"
[ -s "$f" ] || fail "no env file"
grep -qx "SPOTSWEEP_SWEEP_ID=$id2" "$f" || fail "SWEEP_ID: $(cat "$f")"
grep -qx "SPOTSWEEP_TRIAL_ID=$tid" "$f" || fail "TRIAL_ID"
grep -qx "SPOTSWEEP_ATTEMPT=1" "$f" || fail "ATTEMPT"
grep -qx "SPOTSWEEP_PARAM_LEARNING_RATE=0.5" "$f" || fail "PARAM_LEARNING_RATE: $(cat "$f")"
grep -qx "SPOTSWEEP_PARAM_OPT=adam w'x" "$f" || fail "PARAM_OPT"
grep -q '^SPOTSWEEP_PARAMS={.*"learning-rate": *0.5' "$f" || fail "PARAMS: $(cat "$f")"
grep -q "^SPOTSWEEP_CHECKPOINT_DIR=/" "$f" || fail "CHECKPOINT_DIR"
grep -qx "SPOTSWEEP_RESUME_FROM=" "$f" || fail "RESUME_FROM"
ok "the trial's environment"
