# Failing trials are retried after a backoff, then abandoned with the reason; a fatal pattern
# abandons at once.
. tests/integration/lib.sh

cat >"$T/fail.json" <<JSON
{
  "name": "it-fail",
  "command": "echo trying {x}; exit 3",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "val_loss"},
  "retry": {"max_failures": 1}
}
JSON
cat >"$T/fatal.json" <<JSON
{
  "name": "it-fatal",
  "command": "echo 'RuntimeError: CUDA out of memory. Tried to allocate'; sleep 30",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "val_loss"},
  "retry": {"max_failures": 5, "fatal_patterns": ["CUDA out of memory"]}
}
JSON
f=$("$SPOTSWEEP" submit "$T/fail.json") || fail "submit fail"
g=$("$SPOTSWEEP" submit "$T/fatal.json") || fail "submit fatal"
start_server
start_agent a1 --slots 2
wait_for 40 sweep_done "$f" || fail "failing sweep did not end"
wait_for 20 sweep_done "$g" || fail "fatal sweep did not end"
"$SPOTSWEEP" trials "$f" --json >"$T/f.json"
[ "$(json "d['state']" <"$T/f.json")" = abandoned ] || fail "not abandoned: $(cat "$T/f.json")"
[ "$(json "d['attempts']" <"$T/f.json")" = 2 ] || fail "attempts: $(cat "$T/f.json")"
json "d['reason']" <"$T/f.json" | grep -q "exit status 3" || fail "reason: $(cat "$T/f.json")"
ok "failed twice, abandoned with the reason"
"$SPOTSWEEP" trials "$g" --json >"$T/g.json"
[ "$(json "d['state']" <"$T/g.json")" = abandoned ] || fail "fatal not abandoned"
[ "$(json "d['attempts']" <"$T/g.json")" = 1 ] || fail "fatal attempts: $(cat "$T/g.json")"
json "d['reason']" <"$T/g.json" | grep -q "CUDA out of memory" || fail "fatal reason: $(cat "$T/g.json")"
ok "fatal pattern abandoned at once"
"$SPOTSWEEP" run "$T/fail.json" -o "$T/r.csv" --workdir "$T/runwork" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || fail "run with abandoned trials exit $rc"
tid=$("$SPOTSWEEP" trials "$f" --json | json "d['trial_id']")
"$SPOTSWEEP" retry --trial "$tid" >/dev/null || fail "retry"
[ "$("$SPOTSWEEP" trials "$f" --json | json "d['state']")" = pending ] || fail "retry state"
ok "run exits 1 with abandoned trials; retry puts it back"
