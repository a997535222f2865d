# Hostile values end to end. Parameter values made to break out of a shell command
# ('; rm -rf ...', $(...), backquotes, quotes, CR LF) run through the real agent change
# nothing: each reaches the trial as one literal argument and in its environment. Quote-laden
# sweep, parameter and metric names and values go through submit, serve, the agents, status,
# trials and export unchanged (SQL only through bound parameters). The bearer token is never
# on a command line (the process list), in a log or in an error message.
. tests/integration/lib.sh

umask 077
TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$TOKEN" >"$T/token"
mkdir -p "$T/victim" "$T/out"
echo precious >"$T/victim/file"
python3 - "$T" >"$T/spec.json" <<'PY'
import json, sys
t = sys.argv[1]
values = [
    "'; rm -rf %s/victim; echo '" % t,
    "$(touch %s/pwned-dollar)" % t,
    "`touch %s/pwned-backquote`" % t,
    "\"; touch %s/pwned-dquote; \"" % t,
    "a\\b\r\n; touch %s/pwned-newline" % t,
    "-n",
    "",
]
print(json.dumps({
    "name": "it's \"q\"; DROP TABLE trials; --",
    "command": "printf '%%s\\n' {v'1} {x} {trial_id} >%s/out/{trial_id}; env >%s/out/{trial_id}.env;"
               " echo \"it's=0.5\"" % (t, t),
    "method": "grid",
    "parameters": {"v'1": {"values": values}, "x": {"value": "Robert'); DROP TABLE sweeps;--"}},
    "metric": {"name": "it's", "goal": "minimize", "pattern": "it's=([0-9.]+)"},
}))
PY
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --token-file "$T/token"
start_agent a1 --token-file "$T/token" --slots 2
wait_for 60 sweep_done "$id" || fail "sweep did not finish: $("$SPOTSWEEP" status "$id" --json)"
[ "$(sweep_field "$id" succeeded)" = 7 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id" --json)"

ls "$T" | grep -q pwned && fail "a parameter value ran as a command: $(ls "$T" | grep pwned)"
[ "$(cat "$T/victim/file" 2>/dev/null)" = precious ] || fail "the rm -rf value ran"
"$SPOTSWEEP" trials "$id" --json >"$T/trials.json" || fail "trials --json"
python3 - "$T" "$T/spec.json" "$T/trials.json" <<'PY' || fail "values did not reach the trials intact"
import json, sys
t, spec, trials = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
want = set(spec["parameters"]["v'1"]["values"])
got = set()
for line in open(trials):
    tr = json.loads(line)
    tid, p = tr["trial_id"], tr["params"]
    assert p["x"] == "Robert'); DROP TABLE sweeps;--", p
    out = open("%s/out/%d" % (t, tid), "rb").read().decode()
    # printf prints each argument on its own line: the value (which may hold CR LF), x, id
    expect = "%s\n%s\n%d\n" % (p["v'1"], p["x"], tid)
    assert out == expect, (out, expect)
    env = open("%s/out/%d.env" % (t, tid), "rb").read().decode()
    assert json.loads([l for l in env.split("\n") if l.startswith("SPOTSWEEP_PARAMS=")][0]
                      .split("=", 1)[1]) == p, env
    got.add(p["v'1"])
assert got == want, (got, want)
PY
ok "hostile parameter values reach the trial as literal arguments; nothing ran"

"$SPOTSWEEP" status "$id" --json >"$T/status.json" || fail "status"
[ "$(json "d['name']" <"$T/status.json")" = "it's \"q\"; DROP TABLE trials; --" ] || fail "name: $(cat "$T/status.json")"
"$SPOTSWEEP" status >/dev/null || fail "status listing"
"$SPOTSWEEP" export "$id" -o "$T/out.csv" || fail "export"
python3 - "$T/out.csv" "$T/spec.json" <<'PY' || fail "CSV"
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
spec = json.load(open(sys.argv[2]))
head = rows[0]
assert head[4:6] == ["v'1", "x"] and head[6] == "it's", head
vals = sorted(r[4] for r in rows[1:])
assert vals == sorted(spec["parameters"]["v'1"]["values"]), vals
assert all(r[5] == "Robert'); DROP TABLE sweeps;--" and float(r[6]) == 0.5 for r in rows[1:])
PY
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM sweeps")" = 1 ] || fail "sweeps table changed"
ok "quote-laden names and values through submit, serve, status, trials and export"

# The token: not on any command line, in no log, not echoed by a refusal.
ps -eo args >"$T/ps.txt"
grep -q "$TOKEN" "$T/ps.txt" && fail "the token is on a command line"
grep -q -- "--token-file $T/token" "$T/ps.txt" || fail "ps did not see the agent"
r=$(TOKEN="$TOKEN-wrong" http GET /v1/sweeps); [ "${r%% *}" = 401 ] || fail "wrong token: $r"
echo "$r" | grep -q "$TOKEN" && fail "the token is echoed in a refusal"
stop_server
kill "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
grep -q "$TOKEN" "$T"/*.log "$T/server.out" && fail "the token is in a log"
ok "the token is in no command line, log or refusal"
