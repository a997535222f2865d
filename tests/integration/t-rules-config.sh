# Rules in the config: errors name FILE:LINE:COL and the key and exit 2 (`rules explain`,
# `serve`), and `rules explain` shows the decision and the deciding rule, DST-aware.
. tests/integration/lib.sh

cat >"$T/bad.json" <<'JSON'
{
  "pools": [{"name": "s", "class": "spot", "price_per_hour": 1}],
  "rules": [
    {"name": "ok", "use": "spot"},
    {"name": "x", "when": {"hours": "9-17"}, "use": "on-demand"}
  ]
}
JSON
# expect_error ARGS... -- MESSAGE: the command exits 2 and prints exactly MESSAGE.
expect_error() {
	local want=$1 rc
	shift
	"$@" >/dev/null 2>"$T/err"; rc=$?
	[ $rc = 2 ] || fail "$*: exit $rc"
	[ "$(cat "$T/err")" = "$want" ] || fail "$*: '$(cat "$T/err")', want '$want'"
}
expect_error "spotsweep: $T/bad.json:5:37: rules.1.when.hours: expected \"HH:MM-HH:MM\" (00:00 to 24:00; it may wrap midnight, as in \"22:00-06:00\")" \
	"$SPOTSWEEP" rules explain --config "$T/bad.json"
expect_error "spotsweep: $T/bad.json:5:37: rules.1.when.hours: expected \"HH:MM-HH:MM\" (00:00 to 24:00; it may wrap midnight, as in \"22:00-06:00\")" \
	"$SPOTSWEEP" serve --config "$T/bad.json" --listen 127.0.0.1:0
ok "a bad hours window: FILE:LINE:COL, the key, exit 2 (rules explain and serve)"

printf '{"rules": [{"use": "spot", "when": {"tz": "Mars/Olympus"}}]}\n' >"$T/tz.json"
expect_error "spotsweep: $T/tz.json:1:43: rules.0.when.tz: unknown time zone \"Mars/Olympus\" (not in /usr/share/zoneinfo)" \
	"$SPOTSWEEP" rules explain --config "$T/tz.json"
printf '{\n  "timezone": "America/Nowhere"\n}\n' >"$T/tz2.json"
expect_error "spotsweep: $T/tz2.json:2:15: timezone: unknown time zone \"America/Nowhere\" (not in /usr/share/zoneinfo)" \
	"$SPOTSWEEP" rules explain --config "$T/tz2.json"
printf '{"rules": [{"use": "spot", "whenn": {}}]}\n' >"$T/key.json"
"$SPOTSWEEP" rules explain --config "$T/key.json" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q "key.json:1:.*: rules.0.whenn: unknown key (did you mean \"when\"?)" "$T/err" ||
	fail "unknown key: $rc $(cat "$T/err")"
printf '{"rules": [{"use": "sometimes"}]}\n' >"$T/use.json"
"$SPOTSWEEP" rules explain --config "$T/use.json" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'rules.0.use: expected "spot", "on-demand", "any" or "pause"' "$T/err" ||
	fail "bad use: $rc $(cat "$T/err")"
ok "unknown zones, keys and uses are refused the same way"

"$SPOTSWEEP" rules explain >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "rules explain without --config: $rc"
"$SPOTSWEEP" rules frobnicate --config "$T/bad.json" >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "unknown subcommand: $rc"
"$SPOTSWEEP" rules >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "no subcommand: $rc"
ok "usage errors exit 2"

# The contract's example rules, in America/New_York.
cat >"$T/good.json" <<'JSON'
{
  "timezone": "America/New_York",
  "pools": [
    {"name": "spot-h100", "class": "spot", "price_per_hour": 1.99},
    {"name": "od-h100", "class": "on-demand", "price_per_hour": 3.49}
  ],
  "rules": [
    {"name": "peak",     "when": {"days": ["mon","tue","wed","thu","fri"], "hours": "09:00-18:00"}, "use": "on-demand"},
    {"name": "pricey",   "when": {"spot_price_above": 2.50}, "use": "on-demand"},
    {"name": "deadline", "when": {"deadline_within_h": 12}, "use": "on-demand"},
    {"name": "flaky",    "when": {"trial_preemptions_at_least": 3}, "use": "on-demand"},
    {"name": "default",  "use": "spot"}
  ]
}
JSON
explain() { "$SPOTSWEEP" rules explain --config "$T/good.json" --json "$@"; }
# 13:30Z is 08:30 EST before the change and 09:30 EDT after it (Monday 9 March 2026).
[ "$(explain --at 2026-03-02T13:30:00Z)" = '{"use":"spot","rule":"default","index":4}' ] || fail "EST"
[ "$(explain --at 2026-03-09T13:30:00Z)" = '{"use":"on-demand","rule":"peak","index":0}' ] || fail "EDT"
[ "$(explain --at 2026-11-02T13:30:00Z)" = '{"use":"spot","rule":"default","index":4}' ] || fail "EST again"
[ "$(explain --at 2026-03-07T15:00:00Z --spot-price 2.6)" = '{"use":"on-demand","rule":"pricey","index":1}' ] ||
	fail "pricey"
[ "$(explain --at 2026-03-07T15:00:00Z --deadline-in-h 6)" = '{"use":"on-demand","rule":"deadline","index":2}' ] ||
	fail "deadline"
[ "$(explain --at 2026-03-07T15:00:00Z --trial-preemptions 3)" = '{"use":"on-demand","rule":"flaky","index":3}' ] ||
	fail "flaky"
printf '{}\n' >"$T/none.json"
[ "$("$SPOTSWEEP" rules explain --config "$T/none.json" --json)" = '{"use":"any","rule":"(none)","index":-1}' ] ||
	fail "no rules"
"$SPOTSWEEP" rules explain --config "$T/good.json" --at 2026-03-09T13:30:00Z >"$T/out" || fail "text"
grep -q '^at 2026-03-09T13:30:00Z (Mon 2026-03-09 09:30 America/New_York (UTC-04:00, daylight saving))$' "$T/out" ||
	fail "text: $(cat "$T/out")"
grep -q '^use on-demand: rule "peak" (rules.0)$' "$T/out" || fail "text: $(cat "$T/out")"
"$SPOTSWEEP" rules explain --config "$T/good.json" --at yesterday >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "a bad --at exits $rc"
ok "rules explain: peak hours follow DST, price, deadline, escalation, no rules"
