# Leasing obeys the switching rules, with one spot and one on-demand agent: a rule set that
# allows only on-demand sends every trial there; `pause` leases nothing; a spot price update
# (PUT /v1/pools/NAME/price) above a rule's threshold moves new leases to on-demand, and the
# decision change is logged and recorded as an event.
. tests/integration/lib.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

# write_config FILE RULES_JSON
write_config() {
	cat >"$1" <<JSON
{
  "lease_timeout_s": 10,
  "pools": [
    {"name": "spot-a", "class": "spot", "price_per_hour": 1.50},
    {"name": "od-a", "class": "on-demand", "price_per_hour": 3.49}
  ],
  "rules": $2
}
JSON
}

# spec FILE NAME: four quick trials.
spec() {
	cat >"$1" <<JSON
{
  "name": "$2",
  "command": "echo val_loss={x}; sleep 0.3",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4]}},
  "metric": {"name": "val_loss"}
}
JSON
}

# pools_of SWEEP: the sorted distinct last_pool values of the sweep's CSV.
pools_of() {
	"$SPOTSWEEP" export "$1" | python3 -c "import csv,sys
print(' '.join(sorted({r['last_pool'] for r in csv.DictReader(sys.stdin)})))"
}

start_agents() {
	start_agent spot1 --pool spot-a
	SPOT_PID=$AGENT_PID
	start_agent od1 --pool od-a
	OD_PID=$AGENT_PID
}

stop_all() {
	kill -TERM "$SPOT_PID" "$OD_PID" 2>/dev/null
	wait "$SPOT_PID" "$OD_PID" 2>/dev/null
	stop_server
}

# 1. Only on-demand.
write_config "$T/od-only.json" '[{"name": "od-only", "use": "on-demand"}]'
spec "$T/a.json" it-rules-od
a=$("$SPOTSWEEP" submit "$T/a.json") || fail "submit a"
start_server --config "$T/od-only.json"
start_agents
wait_for 60 sweep_done "$a" || fail "the on-demand-only sweep did not finish"
[ "$(sweep_field "$a" succeeded)" = 4 ] || fail "not all trials succeeded"
[ "$(pools_of "$a")" = od-a ] || fail "trials ran on: $(pools_of "$a")"
[ "$(db "SELECT count(*) FROM attempts WHERE pool_class <> 'on-demand' OR pool <> 'od-a'")" = 0 ] ||
	fail "an attempt ran outside the on-demand pool"
[ "$(db "SELECT DISTINCT price_per_hour FROM attempts")" = 3.49 ] || fail "attempt price"
ok "a rule set allowing only on-demand sent every trial to the on-demand agent"
stop_all

# 2. Pause.
write_config "$T/pause.json" '[{"name": "stop", "use": "pause"}]'
spec "$T/b.json" it-rules-pause
b=$("$SPOTSWEEP" submit "$T/b.json") || fail "submit b"
start_server --config "$T/pause.json"
start_agents
wait_for 30 eval '[ "$(db "SELECT count(*) FROM workers WHERE last_seen > registered_at")" -ge 2 ]' ||
	fail "the agents did not ask for work"
# Both agents poll (every 0.5 to 5 s) and are turned away.
sleep 4
[ "$(sweep_field "$b" pending)" = 4 ] || fail "pause leased something: $("$SPOTSWEEP" status "$b")"
[ "$(db "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = $b")" = 0 ] ||
	fail "pause recorded attempts"
http GET /v1/pools | grep -q '"use":"pause"' || fail "GET /v1/pools does not show the pause"
ok "pause leased nothing to either agent"
stop_all
"$SPOTSWEEP" cancel "$b" >/dev/null || fail "cancel b"

# 3. A price update above the threshold moves new leases to on-demand.
write_config "$T/price.json" '[
    {"name": "pricey", "when": {"spot_price_above": 2.50}, "use": "on-demand"},
    {"name": "default", "use": "spot"}]'
spec "$T/c.json" it-rules-price-1
spec "$T/d.json" it-rules-price-2
c=$("$SPOTSWEEP" submit "$T/c.json") || fail "submit c"
start_server --config "$T/price.json"
start_agents
wait_for 60 sweep_done "$c" || fail "the first sweep did not finish"
[ "$(pools_of "$c")" = spot-a ] || fail "at \$1.50 trials ran on: $(pools_of "$c")"
ok "at a spot price of \$1.50 every trial went to the spot agent"
out=$(http PUT /v1/pools/spot-a/price '{"price_per_hour": 2.75}')
case "$out" in
200*'"price_per_hour":2.75'*'"use":"on-demand"'*) ;;
*) fail "PUT price: $out" ;;
esac
d=$("$SPOTSWEEP" submit "$T/d.json") || fail "submit d"
wait_for 60 sweep_done "$d" || fail "the second sweep did not finish"
[ "$(pools_of "$d")" = od-a ] || fail "at \$2.75 trials ran on: $(pools_of "$d")"
ok "after PUT /v1/pools/spot-a/price 2.75, new leases went to the on-demand agent"
db "SELECT detail FROM events WHERE kind = 'pool.price'" | grep -q '"price_per_hour":2.75' ||
	fail "no pool.price event"
db "SELECT detail FROM events WHERE kind = 'rules.decision'" |
	grep -q '"pool":"spot-a","use":"on-demand","rule":"pricey","index":0,"previous":"spot"' ||
	fail "no decision event: $(db "SELECT detail FROM events WHERE kind = 'rules.decision'")"
grep -q 'pool spot-a (spot): spot -> on-demand by rule "pricey"' "$T/server.log" ||
	fail "the decision change was not logged"
ok "the price change and the decision change are recorded as events and logged"
# Errors of the price route.
[ "$(http PUT /v1/pools/nope/price '{"price_per_hour": 1}' | cut -c1-3)" = 404 ] || fail "unknown pool"
[ "$(http PUT /v1/pools/spot-a/price '{"price_per_hour": -1}' | cut -c1-3)" = 400 ] || fail "negative"
[ "$(http PUT /v1/pools/spot-a/price '{"price": 1}' | cut -c1-3)" = 400 ] || fail "no price"
[ "$(http PUT /v1/pools/spot-a/price 'nope' | cut -c1-3)" = 400 ] || fail "bad JSON"
[ "$(http GET /v1/pools/spot-a/price | cut -c1-3)" = 405 ] || fail "GET price"
ok "price updates are checked (404 unknown pool, 400 bad price or body, 405)"
stop_all
# The price outlives a restart of the scheduler (while the configured price is unchanged).
start_server --config "$T/price.json"
http GET /v1/pools | grep -q '"name":"spot-a","class":"spot","price_per_hour":2.75' ||
	fail "the price was not kept across a restart: $(http GET /v1/pools)"
ok "the updated price is kept across a restart"
