# `cost` agrees with the attempts: spend by class (duration x price x GPUs, computed here
# independently from the attempts table), the CSV's gpu_hours and cost_usd columns, the
# on-demand comparison at the on-demand pool's price, and the compute lost to interruptions
# (the work after an interrupted attempt's last checkpoint, all of it without one).
. tests/integration/lib.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }

cat >"$T/cfg.json" <<JSON
{
  "lease_timeout_s": 10,
  "pools": [
    {"name": "spot-c", "class": "spot", "price_per_hour": 2.00, "gpus_per_worker": 2},
    {"name": "od-c", "class": "on-demand", "price_per_hour": 5.00}
  ]
}
JSON
# First attempts of x=1 (after a checkpoint) and x=2 (without one) hang until preempted.
cat >"$T/trial.sh" <<SH
#!/bin/sh
x=\$1 a=\$2
echo \$\$ >>"$T/pids"
if [ "\$a" = 1 ] && [ "\$x" = 1 ]; then
	sleep 0.5
	touch "$T/ck-1"
	echo "SPOTSWEEP {\"checkpoint\": \"$T/ck-1\", \"step\": 1}"
	echo started
	exec sleep 120
fi
if [ "\$a" = 1 ] && [ "\$x" = 2 ]; then
	echo started
	exec sleep 120
fi
sleep 0.5
echo "val_loss=\$x"
SH
cat >"$T/s.json" <<JSON
{
  "name": "it-cost",
  "command": "sh $T/trial.sh {x} {attempt}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3]}},
  "metric": {"name": "val_loss"}
}
JSON
trap 'for p in $(cat "$T/pids" 2>/dev/null); do kill -KILL -- "-$p" 2>/dev/null; done; cleanup' EXIT

id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
t1=$(db "SELECT id FROM trials WHERE sweep_id = $id ORDER BY id LIMIT 1")
start_server --config "$T/cfg.json"
start_agent spot --pool spot-c --slots 2 --grace-s 5
spot=$AGENT_PID
wait_for 60 eval '[ "$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $t1")" = 1 ]' ||
	fail "trial 1 reported no checkpoint"
wait_for 30 eval '[ "$(grep -l started "$T"/work/logs/sweep-$id/trial-*/attempt-1.log 2>/dev/null | wc -l)" = 2 ]' ||
	fail "the first two trials did not start"
sleep 1.5
kill -TERM "$spot"
wait "$spot" 2>/dev/null
[ "$(db "SELECT count(*) FROM attempts WHERE outcome = 'preempted'")" = 2 ] || fail "not 2 preempted attempts"
start_agent od --pool od-c --slots 2
wait_for 90 sweep_done "$id" || fail "the sweep did not finish"
[ "$(sweep_field "$id" succeeded)" = 3 ] || fail "not all succeeded"
ok "2 attempts preempted on spot (one after a checkpoint), 3 trials finished on on-demand"

"$SPOTSWEEP" cost "$id" --json >"$T/cost.json" || fail "cost --json"
"$SPOTSWEEP" export "$id" -o "$T/r.csv" || fail "export"
# Durations are taken in SQL: the sqlite3 shell prints 15 digits, too few for epoch times.
db "SELECT a.pool_class, a.gpus, a.price_per_hour, a.ended_at - a.started_at, a.outcome,
    a.ended_at - (SELECT max(c.at) FROM checkpoints c WHERE c.trial_id = a.trial_id
    AND c.attempt = a.attempt)
    FROM attempts a JOIN trials t ON t.id = a.trial_id WHERE t.sweep_id = $id" >"$T/attempts.txt"
python3 - "$T/cost.json" "$T/attempts.txt" "$T/r.csv" <<'PY' || fail "cost disagrees with the attempts"
import csv, json, sys
cost = json.load(open(sys.argv[1]))
want = {"spot": [0, 0.0, 0.0], "on-demand": [0, 0.0, 0.0]}
lost_h = lost_usd = 0.0
interrupted = 0
for line in open(sys.argv[2]):
    cls, gpus, price, duration, outcome, since_ck = line.rstrip("\n").split("|")
    hours = float(duration) * int(gpus) / 3600
    w = want[cls]
    w[0] += 1; w[1] += hours; w[2] += hours * float(price)
    if outcome in ("preempted", "lost"):
        interrupted += 1
        lost = float(since_ck) if since_ck else float(duration)
        lost_h += lost * int(gpus) / 3600
        lost_usd += lost * int(gpus) / 3600 * float(price)
def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
errors = []
for cls, (n, h, usd) in want.items():
    got = cost["by_class"][cls]
    if got["attempts"] != n or not close(got["gpu_hours"], h) or not close(got["cost_usd"], usd):
        errors.append(f"{cls}: {got} want {n} {h} {usd}")
total_h = sum(w[1] for w in want.values()); total = sum(w[2] for w in want.values())
if not close(cost["gpu_hours"], total_h) or not close(cost["cost_usd"], total):
    errors.append(f"total {cost['gpu_hours']} {cost['cost_usd']} want {total_h} {total}")
od = cost["on_demand"]
if od is None or od["price_per_hour"] != 5.0 or od["source"] != "pools" or \
        not close(od["cost_usd"], total_h * 5) or not close(od["savings_usd"], total_h * 5 - total):
    errors.append(f"on demand: {od}")
i = cost["interrupted"]
if i["attempts"] != interrupted or interrupted != 2 or not close(i["lost_gpu_hours"], lost_h) or \
        not close(i["lost_cost_usd"], lost_usd):
    errors.append(f"interrupted: {i} want {interrupted} {lost_h} {lost_usd}")
# The attempt with a checkpoint lost less than its whole run: the checkpoint counted.
if not (0 < lost_h < want["spot"][1]):
    errors.append(f"lost {lost_h} of {want['spot'][1]} spot GPU-hours")
rows = list(csv.DictReader(open(sys.argv[3])))
csv_h = sum(float(r["gpu_hours"]) for r in rows); csv_usd = sum(float(r["cost_usd"]) for r in rows)
if not close(csv_h, total_h) or not close(csv_usd, total):
    errors.append(f"CSV {csv_h} {csv_usd} want {total_h} {total}")
if sorted(r["last_pool"] for r in rows) != ["od-c"] * 3:
    errors.append(f"CSV last_pool {[r['last_pool'] for r in rows]}")
if errors:
    print("\n".join(errors)); sys.exit(1)
PY
ok "cost --json matches the attempts (by class, total, on demand, lost) and the CSV"

"$SPOTSWEEP" cost "$id" >"$T/cost.txt" || fail "cost"
grep -q '^spot .* 2 ' "$T/cost.txt" || fail "text: $(cat "$T/cost.txt")"
grep -q '^on-demand .* 3 ' "$T/cost.txt" || fail "text: $(cat "$T/cost.txt")"
grep -q 'on demand at \$5/GPU-hour (pools)' "$T/cost.txt" || fail "text: $(cat "$T/cost.txt")"
grep -q 'lost to interruptions: 2 attempts interrupted' "$T/cost.txt" || fail "text: $(cat "$T/cost.txt")"
[ "$("$SPOTSWEEP" cost "$id" --on-demand-price 10 --json | json "d['on_demand']['price_per_hour']")" = 10.0 ] ||
	fail "--on-demand-price"
"$SPOTSWEEP" cost 999 >/dev/null 2>&1; rc=$?
[ $rc = 1 ] || fail "cost of a missing sweep exits $rc"
"$SPOTSWEEP" cost "$id" --on-demand-price cheap >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "a bad price exits $rc"
ok "cost prints the same in text; --on-demand-price overrides; errors exit 1 and 2"
