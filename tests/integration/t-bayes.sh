# method bayes through the scheduler and three real agents: the sweep is stored with no
# trials, trials are proposed as agents ask for work (never more than "parallel" running at
# once), the random start is the one `submit --dry-run` shows, and the search converges on
# the known minimum of (x - 0.3)^2 + (log10(lr) + 3)^2: the best of the last half of the
# trials beats the best of the random start.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/bayes.json" <<'JSON'
{
  "name": "it-bayes",
  "command": "awk -v x={x} -v lr={lr} -v d={depth} -v o={opt} 'BEGIN {{ print \"loss=\" ((x - 0.3)^2 + (log(lr) / log(10) + 3)^2 + 0.01 * (d - 3)^2 + (o == \"adam\" ? 0 : 0.05)) }}'",
  "method": "bayes",
  "max_trials": 40,
  "seed": 11,
  "parameters": {
    "x": {"distribution": "uniform", "min": 0, "max": 1},
    "lr": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-1},
    "depth": {"distribution": "int_uniform", "min": 1, "max": 6},
    "opt": {"values": ["sgd", "adam", "rmsprop"]}
  },
  "metric": {"name": "loss", "goal": "minimize", "pattern": "loss=([-+0-9.eE]+)"},
  "bayes": {"n_startup": 10, "parallel": 2}
}
JSON
"$SPOTSWEEP" submit "$T/bayes.json" --dry-run >"$T/start.jsonl" 2>"$T/dry.err" || fail "dry run"
[ "$(wc -l <"$T/start.jsonl")" = 10 ] || fail "the dry run shows $(wc -l <"$T/start.jsonl") trials"
grep -q "random start of 10 trials" "$T/dry.err" || fail "dry run note: $(cat "$T/dry.err")"
id=$("$SPOTSWEEP" submit "$T/bayes.json") || fail "submit"
[ "$(sweep_field "$id" trials)" = 0 ] || fail "a bayes sweep starts with trials"
ok "submitted with no trials; the dry run shows the random start"

start_server
start_agent a1
start_agent a2
start_agent a3
sweep_over() { [ "$(db "SELECT state FROM sweeps WHERE id = $id")" = done ]; }
wait_for 120 sweep_over || fail "the sweep did not finish: $("$SPOTSWEEP" status "$id" --json)"
[ "$(sweep_field "$id" trials)" = 40 ] || fail "trials: $(sweep_field "$id" trials)"
[ "$(sweep_field "$id" succeeded)" = 40 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id" --json)"
ok "40 trials proposed and run by 3 agents"

# "parallel": 2 with three agents: no moment had more than two attempts open.
peak=$(db "SELECT max((SELECT count(*) FROM attempts b JOIN trials t ON t.id = b.trial_id
    WHERE t.sweep_id = $id AND b.started_at <= a.started_at AND b.ended_at > a.started_at))
    FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = $id")
[ "$peak" -le 2 ] || fail "$peak trials ran at once (parallel is 2)"
ok "at most $peak trials ran at once"

"$SPOTSWEEP" trials "$id" --json >"$T/trials.jsonl" || fail "trials"
python3 - "$T/trials.jsonl" "$T/start.jsonl" <<'PY' || fail "convergence"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
start = [json.loads(l)["params"] for l in open(sys.argv[2])]
rows.sort(key=lambda r: r["trial_id"])
assert len(rows) == 40, len(rows)
assert [r["params"] for r in rows[:10]] == start, "the random start differs from the dry run"
for r in rows:
    p = r["params"]
    assert 0 <= p["x"] < 1 and 1e-6 <= p["lr"] <= 1e-1, p
    assert p["depth"] in range(1, 7) and p["opt"] in ("sgd", "adam", "rmsprop"), p
first = min(r["value"] for r in rows[:10])
last = min(r["value"] for r in rows[20:])
print("best of the random start %.4g, best of the last half %.4g" % (first, last))
assert last < first, (first, last)
PY
ok "converged: $(python3 - "$T/trials.jsonl" <<'PY'
import json, sys
rows = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["trial_id"])
print("random start best %.4g, last half best %.4g" % (min(r["value"] for r in rows[:10]),
      min(r["value"] for r in rows[20:])))
PY
)"

# An unknown key of the bayes block is a usage error pointing at it.
sed 's/"parallel": 2/"paralel": 2/' "$T/bayes.json" >"$T/bad.json"
"$SPOTSWEEP" submit "$T/bad.json" 2>"$T/bad.err"
[ $? = 2 ] || fail "a bad bayes key did not exit 2"
grep -q "bad.json:14:30: bayes.paralel" "$T/bad.err" || fail "message: $(cat "$T/bad.err")"
ok "a misspelt bayes key: exit 2, $(cat "$T/bad.err")"
