# Training scripts written for W&B sweeps run unchanged from a W&B sweep.yaml, through real
# agents (`spotsweep run`), with the wandb shim: wandb.init(), wandb.config (attributes,
# items, nested blocks), wandb.log, run.summary. The CSV holds what each script logged, and
# every logged value is the one its own row's parameters give. Also: a command list with
# every W&B macro agrees with wandb.config; mark_preempting makes a failed exit a
# preemption; metric.target stops the sweep from starting new trials.
. tests/integration/lib.sh

cd "$T" || fail "cd $T"

# --- 1. the W&B quick-start shape: program only, log_uniform, nested, q_log_uniform ---------
cat >train.py <<'EOF'
import wandb

wandb.init(project="t-wandb")
cfg = wandb.config
assert cfg["lr"] == cfg.lr
assert cfg.optimizer["momentum"] == cfg.optimizer.momentum
for epoch in range(cfg.epochs):
    val_loss = cfg.lr * 1000 + cfg.optimizer.momentum + cfg.batch_size / 1000 + 1 / (epoch + 1)
    wandb.log({"val_loss": val_loss, "epoch": epoch})
wandb.finish()
EOF
cat >sweep.yaml <<'EOF'
program: train.py
method: random
run_cap: 6
metric:
  name: val_loss
  goal: minimize
parameters:
  lr:
    distribution: log_uniform
    min: -9.21
    max: -4.61
  batch_size:
    distribution: q_log_uniform
    min: 3.4657359027997265
    max: 5.545177444479562
    q: 1
  epochs:
    value: 3
  optimizer:
    parameters:
      momentum:
        distribution: uniform
        min: 0.8
        max: 0.99
EOF
"$SPOTSWEEP" run sweep.yaml --agents 2 --wandb-shim -o out.csv >run.log 2>&1 ||
	fail "run sweep.yaml: $(tail -n 20 run.log; cat spotsweep-work/logs/sweep-1/trial-1/attempt-1.log)"
python3 - out.csv <<'PY' || fail "CSV of the W&B sweep"
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 6, len(rows)
for r in rows:
    assert r["state"] == "succeeded", r
    lr, m, bs = float(r["lr"]), float(r["optimizer.momentum"]), r["batch_size"]
    assert 1e-4 * 0.9999 <= lr <= 1e-2, lr
    assert bs.isdigit() and 32 <= int(bs) <= 256, bs
    assert 0.8 <= m <= 0.99, m
    want = lr * 1000 + m + int(bs) / 1000 + 1 / 3
    assert math.isclose(float(r["val_loss"]), want, rel_tol=1e-12), (r, want)
print("csv ok")
PY
ok "a W&B script ran unchanged: 6 trials, their metrics in the CSV"

# --- 2. a command list with every macro: the script checks they agree with its config ------
cat >macros.py <<'EOF'
# The argv W&B's agent would build (wandb_agent.py's flags, as Python formats them),
# compared with what spotsweep's agent ran.
import json, sys
import wandb

run = wandb.init()
cfg = wandb.config.as_dict()
flags = ["--%s=%s" % (k, v) for k, v in cfg.items()]
no_hyphens = ["%s=%s" % (k, v) for k, v in cfg.items()]
no_bool = ["--" + k if v is True else "--%s=%s" % (k, v) for k, v in cfg.items() if v is not False]
json_file = sys.argv[1 + len(flags) + 1]
want = flags + ["--config", json_file] + no_hyphens + no_bool + [json.dumps(cfg)]
assert sys.argv[1:] == want, (sys.argv[1:], want)
with open(json_file) as f:
    assert json.load(f) == cfg
run.summary["val_loss"] = cfg["lr"]
EOF
cat >macros.yaml <<'EOF'
program: macros.py
method: grid
metric: {name: val_loss}
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - ${args}
  - --config
  - ${args_json_file}
  - ${args_no_hyphens}
  - ${args_no_boolean_flags}
  - ${args_json}
parameters:
  lr: {values: [0.5, 0.25]}
  opt: {value: "it's adam"}
  aug: {values: [yes, no]}
EOF
"$SPOTSWEEP" run macros.yaml --agents 2 --wandb-shim -o macros.csv >macros.log 2>&1 ||
	fail "run macros.yaml: $(tail -n 5 macros.log; cat spotsweep-work/logs/sweep-2/trial-*/attempt-1.log)"
[ "$(grep -c ',succeeded,' macros.csv)" -eq 4 ] || fail "macros: $(cat macros.csv)"
ok "every W&B macro agrees with wandb.config"

# --- 3. mark_preempting: the first attempt's failed exit is a preemption, then it resumes ---
cat >preempt.py <<'EOF'
import os, sys
import wandb

run = wandb.init()
if os.environ["SPOTSWEEP_ATTEMPT"] == "1":
    run.mark_preempting()
    sys.exit(1)
wandb.log({"val_loss": wandb.config.x})
EOF
cat >preempt.yaml <<'EOF'
program: preempt.py
method: grid
metric: {name: val_loss}
parameters:
  x: {values: [1, 2]}
EOF
"$SPOTSWEEP" run preempt.yaml --agents 2 --wandb-shim -o preempt.csv >preempt.log 2>&1 ||
	fail "run preempt.yaml: $(tail -n 5 preempt.log)"
python3 - preempt.csv <<'PY' || fail "preempt CSV: $(cat preempt.csv)"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 2
for r in rows:
    assert (r["state"], r["attempts"], r["preemptions"]) == ("succeeded", "2", "1"), r
    assert r["val_loss"] == r["x"], r
PY
ok "mark_preempting turns a failed exit into a preemption"

# --- 4. metric.target: one agent, the first trial reaches it, the rest never start ----------
cat >target.yaml <<'EOF'
program: preempt.py
method: grid
metric: {name: val_loss, goal: minimize, target: 1}
parameters:
  x: {values: [1, 2, 3, 4]}
EOF
"$SPOTSWEEP" run target.yaml --agents 1 --wandb-shim -o target.csv >target.log 2>&1
id=$("$SPOTSWEEP" status --json | json "[s['sweep_id'] for s in d if s['name'] == 'target'][0]")
[ "$(sweep_field "$id" succeeded)" = 1 ] || fail "target: $("$SPOTSWEEP" status "$id" --json)"
[ "$(sweep_field "$id" cancelled)" = 3 ] || fail "target: $("$SPOTSWEEP" status "$id" --json)"
ok "metric.target reached: no new trials"
