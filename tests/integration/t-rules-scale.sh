# Scaling hooks and price commands: serve runs a pool's scale_command with the pool name and
# the wanted number of workers whenever that number changes (the queue grows, the rules turn
# the pool's class off and on again, the queue empties), capped by max_workers; a pool's
# price_command sets its price on an interval, which the rules then act on. One pool records
# its calls with a script of the test's, the other runs contrib/scale/example.sh.
. tests/integration/lib.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

cat >"$T/scale.sh" <<'SH'
#!/bin/sh
# Records each call: its arguments and what the environment says.
echo "$1 $2 env=$SPOTSWEEP_POOL/$SPOTSWEEP_POOL_CLASS/$SPOTSWEEP_WANTED" >>"$CALLS"
echo "asked for $2 workers in $1"
SH
chmod +x "$T/scale.sh"
export CALLS="$T/calls"
: >"$CALLS"
cat >"$T/price.sh" <<SH
#!/bin/sh
cat "$T/price"
SH
chmod +x "$T/price.sh"
echo 1.10 >"$T/price"

cat >"$T/cfg.json" <<JSON
{
  "lease_timeout_s": 10,
  "pools": [
    {"name": "spot-s", "class": "spot", "price_per_hour": 1.00, "max_workers": 3,
     "scale_command": "$T/scale.sh", "price_command": "$T/price.sh", "price_interval_s": 1},
    {"name": "od-s", "class": "on-demand", "price_per_hour": 4.00,
     "scale_command": "$ROOT/contrib/scale/example.sh"}
  ],
  "rules": [
    {"name": "pricey", "when": {"spot_price_above": 2.00}, "use": "on-demand"},
    {"name": "default", "use": "spot"}
  ]
}
JSON
cat >"$T/s.json" <<JSON
{
  "name": "it-scale",
  "command": "echo val_loss={x}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4, 5]}},
  "metric": {"name": "val_loss"}
}
JSON

# calls_are POOL EXPECTED: the recorded calls for POOL so far, as "N N N". od-s runs the
# documented example script, which logs "TIME POOL N" to $SPOTSWEEP_SCALE_LOG.
export SPOTSWEEP_SCALE_LOG="$T/example.log"
: >"$SPOTSWEEP_SCALE_LOG"
calls_of() {
	awk -v p="$1" '$1 == p {printf "%s%s", sep, $2; sep=" "}' "$CALLS"
	awk -v p="$1" '$2 == p {printf "%s%s", sep, $3; sep=" "}' "$SPOTSWEEP_SCALE_LOG"
}
calls_are() { [ "$(calls_of "$1")" = "$2" ]; }

start_server --config "$T/cfg.json"
wait_for 30 calls_are spot-s 0 || fail "no first call for an empty queue: $(cat "$CALLS")"
wait_for 30 calls_are od-s 0 || fail "no first call for od-s: $(cat "$CALLS")"
ok "at start each pool with a scale command is told its wanted size: 0"

id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
wait_for 30 calls_are spot-s "0 3" || fail "queue of 5 did not ask for 3 (max_workers): $(cat "$CALLS")"
grep -qx "spot-s 3 env=spot-s/spot/3" "$CALLS" || fail "arguments or environment: $(cat "$CALLS")"
calls_are od-s 0 || fail "od-s was asked to grow while the rules say spot: $(cat "$CALLS")"
ok "5 pending trials: scale_command spot-s 3 (capped by max_workers)"

# The price command runs every second; a price above 2.00 turns spot off.
wait_for 30 eval 'http GET /v1/pools | grep -q "\"name\":\"spot-s\",\"class\":\"spot\",\"price_per_hour\":1.1"' ||
	fail "the price command did not set the price: $(http GET /v1/pools)"
echo 2.40 >"$T/price"
wait_for 30 calls_are spot-s "0 3 0" || fail "spot-s was not scaled down: $(cat "$CALLS")"
wait_for 30 calls_are od-s "0 5" || fail "od-s was not scaled up: $(cat "$CALLS")"
db "SELECT detail FROM events WHERE kind = 'pool.price'" | grep -q '"price_per_hour":2.4,.*"source":"price_command"' ||
	fail "no price_command event: $(db "SELECT detail FROM events WHERE kind = 'pool.price'")"
ok "price_command 2.40 > 2.00: spot-s down to 0, od-s up to 5"

echo 1.30 >"$T/price"
wait_for 30 calls_are spot-s "0 3 0 3" || fail "spot-s was not scaled up again: $(cat "$CALLS")"
wait_for 30 calls_are od-s "0 5 0" || fail "od-s was not scaled down again: $(cat "$CALLS")"
ok "the price falls back: spot-s 3 again, od-s 0"

"$SPOTSWEEP" cancel "$id" >/dev/null || fail "cancel"
wait_for 30 calls_are spot-s "0 3 0 3 0" || fail "an empty queue did not scale to 0: $(cat "$CALLS")"
ok "the queue emptied: spot-s 0"
[ "$(db "SELECT count(*) FROM events WHERE kind = 'pool.scale' AND detail LIKE '%\"ok\":true%'")" -ge 7 ] ||
	fail "scale outcomes not recorded: $(db "SELECT detail FROM events WHERE kind = 'pool.scale'")"
grep -q 'pool od-s: scale command (5 workers) exited 0: recorded: od-s wants 5 workers' "$T/server.log" ||
	fail "contrib/scale/example.sh's outcome was not logged"
grep -q 'pool spot-s: scale command (3 workers) exited 0: asked for 3 workers in spot-s' "$T/server.log" ||
	fail "the scale outcome was not logged"
ok "each call's outcome is logged and recorded"
