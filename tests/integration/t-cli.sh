# The CLI's surface: help, version, unknown and ambiguous commands, bad specs with positions.
. tests/integration/lib.sh

"$SPOTSWEEP" --help >/dev/null || fail "--help"
"$SPOTSWEEP" --version | grep -q '^spotsweep [0-9]' || fail "--version"
"$AGENT" --version | grep -q '^spotsweep-agent [0-9]' || fail "agent --version"
"$AGENT" --help >/dev/null || fail "agent --help"
for c in submit status trials export cancel retry serve run; do
	"$SPOTSWEEP" "$c" --help >/dev/null || fail "$c --help"
done
ok "help and version"

"$SPOTSWEEP" frobnicate 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "unknown command exit $rc"
grep -q 'unknown command: frobnicate' "$T/err" || fail "unknown command message: $(cat "$T/err")"
"$SPOTSWEEP" s 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "ambiguous command exit $rc"
grep -q 'ambiguous command: s' "$T/err" || fail "ambiguous message: $(cat "$T/err")"
"$SPOTSWEEP" stat --json 2>"$T/err" >/dev/null; rc=$?
# the prefix found `status`, which refuses a store that does not exist rather than making one
[ $rc -eq 1 ] && grep -q 'no such store' "$T/err" || fail "unique prefix stat: exit $rc: $(cat "$T/err")"
[ ! -e "$SPOTSWEEP_DB" ] || fail "status made a store at $SPOTSWEEP_DB"
"$SPOTSWEEP" submit --bogus x.json 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "unknown option exit $rc"
ok "unknown, ambiguous, prefix, unknown option"

cat >"$T/bad.json" <<'JSON'
{
  "name": "bad",
  "command": "echo {lr}",
  "method": "random",
  "max_trials": 3,
  "parameters": {
    "lr": {"distribution": "uniform", "min": 0.5, "max": 0.1}
  }
}
JSON
"$SPOTSWEEP" submit "$T/bad.json" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "bad spec exit $rc"
grep -Eq "^spotsweep: $T/bad.json:7:[0-9]+: parameters\.lr\.(min|max): " "$T/err" || fail "bad spec message: $(cat "$T/err")"
[ ! -e "$SPOTSWEEP_DB" ] || [ "$("$SPOTSWEEP" status --json | json 'len(d)')" = 0 ] || fail "bad spec stored something"
ok "bad spec: exit 2 with FILE:LINE:COL and key, nothing stored"

"$SPOTSWEEP" submit "$T/missing.json" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "missing spec exit $rc"
grep -q "missing.json" "$T/err" || fail "missing spec message"
"$SPOTSWEEP" status 999 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "status of unknown sweep exit $rc"
ok "missing file, unknown sweep"
