# Per-trial escalation: with {"trial_preemptions_at_least": 2, "use": "on-demand"} a trial
# preempted twice on spot (SIGTERM to the spot agent while it runs the trial, the agent
# restarted) is no longer leased to the idle spot agent, goes to the on-demand agent when one
# joins, and the other trials of the sweep keep going to spot.
. tests/integration/lib.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

cat >"$T/cfg.json" <<JSON
{
  "lease_timeout_s": 10,
  "pools": [
    {"name": "spot-e", "class": "spot", "price_per_hour": 1.20},
    {"name": "od-e", "class": "on-demand", "price_per_hour": 3.00}
  ],
  "rules": [
    {"name": "flaky", "when": {"trial_preemptions_at_least": 2}, "use": "on-demand"},
    {"name": "default", "use": "spot"}
  ]
}
JSON
# Trial x=1 runs until preempted on its first two attempts; the others finish at once.
cat >"$T/s.json" <<JSON
{
  "name": "it-rules-escalate",
  "command": "echo \$\$ >>$T/pids; if [ {x} = 1 ] && [ {attempt} -lt 3 ]; then echo started; exec sleep 120; fi; echo val_loss={x}",
  "method": "grid",
  "parameters": {"x": {"values": [1]}},
  "metric": {"name": "val_loss"},
  "retry": {"max_preemptions": 10}
}
JSON
cat >"$T/more.json" <<JSON
{
  "name": "it-rules-escalate-more",
  "command": "echo val_loss={x}",
  "method": "grid",
  "parameters": {"x": {"values": [2, 3, 4]}},
  "metric": {"name": "val_loss"}
}
JSON
trap 'for p in $(cat "$T/pids" 2>/dev/null); do kill -KILL -- "-$p" 2>/dev/null; done; cleanup' EXIT

id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
start_server --config "$T/cfg.json"

# Preempt the trial on spot, twice.
for n in 1 2; do
	start_agent "spot$n" --pool spot-e --grace-s 5
	spot=$AGENT_PID
	wait_for 60 eval '[ "$(db "SELECT count(*) FROM attempts WHERE trial_id = $tid AND attempt = $n AND outcome IS NULL")" = 1 ]' ||
		fail "attempt $n did not start on spot"
	wait_for 30 grep -q started "$T/work/logs/sweep-$id/trial-$tid/attempt-$n.log" ||
		fail "attempt $n's command did not start"
	kill -TERM "$spot"
	wait "$spot" 2>/dev/null
	[ "$(db "SELECT outcome FROM attempts WHERE trial_id = $tid AND attempt = $n")" = preempted ] ||
		fail "attempt $n is not preempted"
done
[ "$(db "SELECT preemptions FROM trials WHERE id = $tid")" = 2 ] || fail "preemptions"
ok "the trial was preempted twice on spot"

# A fresh spot agent is idle and asking, but the escalated trial is not for it; other trials
# still go to spot.
start_agent spot3 --pool spot-e
more=$("$SPOTSWEEP" submit "$T/more.json") || fail "submit more"
wait_for 60 sweep_done "$more" || fail "the other trials did not run on spot"
[ "$(db "SELECT DISTINCT a.pool FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = $more")" = spot-e ] ||
	fail "the other trials did not go to spot"
sleep 2
[ "$("$SPOTSWEEP" trials "$id" --json | json "d['state']")" = pending ] ||
	fail "the escalated trial was leased to spot: $("$SPOTSWEEP" trials "$id" --json)"
[ "$(db "SELECT count(*) FROM attempts WHERE trial_id = $tid")" = 2 ] || fail "a third attempt on spot"
ok "the spot agent ran the other trials and left the twice-preempted one pending"
"$SPOTSWEEP" rules explain --config "$T/cfg.json" --trial-preemptions 2 --json |
	grep -q '"use": *"on-demand", *"rule": *"flaky"' || fail "rules explain disagrees"

start_agent od1 --pool od-e
wait_for 60 sweep_done "$id" || fail "the escalated trial did not finish on on-demand"
"$SPOTSWEEP" trials "$id" --json >"$T/t.json"
[ "$(json "d['state']" <"$T/t.json")" = succeeded ] || fail "state: $(cat "$T/t.json")"
[ "$(json "d['preemptions']" <"$T/t.json")" = 2 ] || fail "preemptions: $(cat "$T/t.json")"
[ "$(db "SELECT pool || ' ' || pool_class FROM attempts WHERE trial_id = $tid AND attempt = 3")" = "od-e on-demand" ] ||
	fail "attempt 3 did not run on on-demand"
[ "$("$SPOTSWEEP" export "$id" | python3 -c "import csv,sys; print(next(csv.DictReader(sys.stdin))['last_pool'])")" = od-e ] ||
	fail "the CSV's last_pool is not od-e"
ok "the trial preempted twice ran its third attempt on the on-demand agent"
