# GET /metrics against a real serve with a token and real agents: sweeps with trials in
# every state (succeeded, abandoned, cancelled, pending, running), attempts lost (an agent
# SIGKILLed) and preempted (SIGTERM) on a spot pool and finished on an on-demand one. The
# exposition is parsed by a strict checker of the Prometheus text format (promtext.py), and
# its numbers are compared with `status --json`, `cost --json` and the store. 401 without
# the token, unless the config says metrics_public; a restarted serve counts the same.
. tests/integration/lib.sh

db() { sqlite3 -cmd '.timeout 5000' "$SPOTSWEEP_DB" "$1"; }
outcomes() { [ "$(db "SELECT count(*) FROM attempts WHERE outcome = '$1'")" = "$2" ]; }
PROM="python3 tests/integration/promtext.py"
$PROM --self-test || fail "promtext.py accepts what it must refuse"

umask 077
TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "$TOKEN" >"$T/token"
# A pool name and a rule name that need escaping in label values.
SPOT='spot "a" \1'
python3 - "$T" "$SPOT" <<'PY'
import json, sys
t, spot = sys.argv[1], sys.argv[2]
pools = [{"name": spot, "class": "spot", "price_per_hour": 2.0, "gpus_per_worker": 2},
         {"name": "od-1", "class": "on-demand", "price_per_hour": 5.0}]
rules = [{"name": 'al"w\\ays\nx', "use": "any"}]
for name, public in (("cfg.json", False), ("public.json", True)):
    json.dump({"lease_timeout_s": 2, "token_file": t + "/token", "pools": pools,
               "rules": rules, "metrics_public": public}, open(f"{t}/{name}", "w"))
json.dump({"metrics_public": "yes"}, open(f"{t}/bad.json", "w"))
PY
"$SPOTSWEEP" serve --config "$T/bad.json" --listen 127.0.0.1:0 >/dev/null 2>"$T/bad.err"; rc=$?
[ $rc = 2 ] && grep -q 'metrics_public: expected true or false' "$T/bad.err" ||
	fail "a bad metrics_public: exit $rc, $(cat "$T/bad.err")"

# x=1 succeeds, x=2 fails (abandoned: no retries), x=3 hangs twice (lost, then preempted)
# and succeeds on its third attempt, x=4 succeeds.
cat >"$T/trial.sh" <<SH
#!/bin/sh
x=\$1 a=\$2
echo \$\$ >"$T/pgid-\$x-\$a"
case "\$x.\$a" in
2.*) exit 3 ;;
3.1|3.2) echo started; exec sleep 120 ;;
esac
sleep 0.3
echo "val_loss=0.\$x"
SH
cat >"$T/a.json" <<JSON
{
  "name": "it-metrics \"q\" \\\\ x",
  "command": "sh $T/trial.sh {x} {attempt}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4]}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"},
  "retry": {"max_failures": 0}
}
JSON
sed -e 's/"it-metrics[^,]*,/"it-metrics-b",/' -e 's/\[1, 2, 3, 4\]/[5, 6]/' "$T/a.json" >"$T/b.json"
sed -e 's/"it-metrics[^,]*,/"it-metrics-c",/' -e 's/\[1, 2, 3, 4\]/[7, 8]/' "$T/a.json" >"$T/c.json"
trap 'for f in "$T"/pgid-*; do [ -e "$f" ] && kill -KILL -- "-$(cat "$f")" 2>/dev/null; done; cleanup' EXIT

a=$("$SPOTSWEEP" submit "$T/a.json") || fail "submit a"
b=$("$SPOTSWEEP" submit "$T/b.json") || fail "submit b"
"$SPOTSWEEP" cancel "$b" >/dev/null || fail "cancel b"
start_server --config "$T/cfg.json"

scrape() { # scrape NAME [AUTH]: the exposition in $T/NAME.txt, checked, samples in NAME.json
	curl -s -D "$T/$1.headers" -o "$T/$1.txt" ${2:+-H "Authorization: Bearer $2"} "$URL/metrics"
	grep -qi '^content-type: text/plain; version=0.0.4' "$T/$1.headers" ||
		fail "$1: content type: $(cat "$T/$1.headers")"
	$PROM "$T/$1.txt" >"$T/$1.json" || fail "$1: not the Prometheus text format"
}
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")" = 401 ] || fail "/metrics without the token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "$URL/metrics")" = 401 ] ||
	fail "/metrics with a wrong token"
ok "a bad metrics_public is a config error; /metrics needs the token"

# compare SCRAPE: the scrape's numbers against status --json, cost --json and the store.
compare() {
	"$SPOTSWEEP" status --json >"$T/status.json" || fail "status --json"
	"$SPOTSWEEP" cost "$a" --json >"$T/cost.json" || fail "cost --json"
	db "SELECT t.sweep_id, a.outcome, count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id
	    GROUP BY 1, 2" >"$T/attempts.txt"
	db "SELECT count(*), count(*) - count(outcome), (SELECT count(*) FROM workers) FROM attempts" >"$T/counts.txt"
	python3 - "$T/$1.json" "$T/status.json" "$T/cost.json" "$T/attempts.txt" "$T/counts.txt" \
		"$SPOT" "$a" <<'PY' || { grep -v '^#' "$T/$1.txt" | grep -v _bucket >&2; fail "$1 disagrees"; }
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
status, cost = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
spot, a = sys.argv[6], sys.argv[7]

def get(metric, **labels):
    got = [s["value"] for s in samples if s["name"] == metric and all(
        s["labels"].get(k) == v for k, v in labels.items())]
    assert len(got) == 1, (metric, labels, got)
    return got[0]

def close(x, y):
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))

states = ["pending", "running", "succeeded", "pruned", "abandoned", "cancelled"]
for s in status:
    sid = str(s["sweep_id"])
    assert get("spotsweep_sweep_info", sweep=sid, name=s["name"]) == 1, s
    for st in states:
        assert get("spotsweep_trials", sweep=sid, state=st) == s[st], (sid, st, s)
    best = [x for x in samples if x["name"] == "spotsweep_sweep_best_value" and
            x["labels"] == {"sweep": sid}]
    if s["best"] is None:
        assert not best, best
    else:
        assert best and best[0]["value"] == s["best"]["value"], (best, s["best"])
assert len([x for x in samples if x["name"] == "spotsweep_sweep_info"]) == len(status)

want = {}
for line in open(sys.argv[4]):
    sid, outcome, n = line.rstrip("\n").split("|")
    if outcome:
        want[(sid, outcome)] = int(n)
for s in status:
    sid = str(s["sweep_id"])
    for o in ["succeeded", "failed", "preempted", "lost", "cancelled", "pruned"]:
        assert get("spotsweep_attempts_total", sweep=sid, outcome=o) == want.get((sid, o), 0), (sid, o)
total, active, workers = map(int, open(sys.argv[5]).read().strip().split("|"))
assert get("spotsweep_leases_granted_total") == total
assert get("spotsweep_leases_active") == active
assert sum(x["value"] for x in samples if x["name"] == "spotsweep_workers") == workers

# Spend by class, per pool, and the sweep's: the same arithmetic as `cost`.
for cls in ("spot", "on-demand"):
    usd = sum(x["value"] for x in samples if x["name"] == "spotsweep_spend_usd_total"
              and x["labels"]["class"] == cls)
    gpu_s = sum(x["value"] for x in samples if x["name"] == "spotsweep_gpu_seconds_total"
                and x["labels"]["class"] == cls)
    c = cost["by_class"][cls]
    assert close(usd, c["cost_usd"]), (cls, usd, c)
    assert close(gpu_s / 3600, c["gpu_hours"]), (cls, gpu_s, c)
assert close(get("spotsweep_sweep_spend_usd_total", sweep=a), cost["cost_usd"])
assert get("spotsweep_pool_price_usd_per_hour", pool=spot, **{"class": "spot"}) == 2.0
assert get("spotsweep_pool_rule", pool=spot, use="any", rule='al"w\\ays\nx') == 1
assert get("spotsweep_pool_rule", pool="od-1", use="any", rule='al"w\\ays\nx') == 1
print(json.dumps({"lost": get("spotsweep_workers_lost_total", pool=spot, **{"class": "spot"}),
                  "preempted": get("spotsweep_preemptions_total", pool=spot, **{"class": "spot"})}))
PY
}

# Trial 3's first attempt running on the spot pool: a scrape in mid-flight.
start_agent spot1 --token-file "$T/token" --pool "$SPOT"
spot1=$AGENT_PID
wait_for 60 test -e "$T/pgid-3-1" || fail "trial 3 did not start"
wait_for 30 eval '[ "$(sweep_field "$a" running)" = 1 ] && [ "$(sweep_field "$a" abandoned)" = 1 ]' ||
	fail "not 1 running and 1 abandoned: $("$SPOTSWEEP" status "$a" --json)"
scrape running "$TOKEN"
compare running >/dev/null
grep -q '^spotsweep_leases_active 1$' "$T/running.txt" || fail "leases_active while running"
ok "mid-flight: trials by state, leases, attempts match status --json and the store"

kill -KILL "$spot1"
wait "$spot1" 2>/dev/null
kill -KILL -- "-$(cat "$T/pgid-3-1")" 2>/dev/null
wait_for 30 outcomes lost 1 ||
	fail "the attempt was not lost"
start_agent spot2 --token-file "$T/token" --pool "$SPOT" --grace-s 2
spot2=$AGENT_PID
wait_for 60 test -e "$T/pgid-3-2" || fail "trial 3 did not start again"
sleep 0.5
kill -TERM "$spot2"
wait_for 30 outcomes preempted 1 ||
	fail "the attempt was not preempted"
start_agent od --token-file "$T/token" --pool od-1 --idle-exit-s 2
od=$AGENT_PID
wait_for 90 sweep_done "$a" || fail "sweep a did not finish: $("$SPOTSWEEP" status "$a" --json)"
wait "$od" 2>/dev/null
c=$("$SPOTSWEEP" submit "$T/c.json") || fail "submit c"
[ "$(sweep_field "$a" succeeded)" = 3 ] || fail "sweep a: $("$SPOTSWEEP" status "$a" --json)"

curl -s -o /dev/null -H "Authorization: Bearer nope" "$URL/metrics"
scrape final "$TOKEN"
compare final >"$T/final.out"
[ "$(cat "$T/final.out")" = '{"lost": 1.0, "preempted": 1.0}' ] ||
	fail "lost and preempted on the spot pool: $(cat "$T/final.out")"
python3 - "$T/final.json" <<'PY' || fail "request and commit histograms: $(grep -v _bucket "$T/final.txt" | grep 'http_req\|commit')"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
def count(route, method, status):
    return sum(x["value"] for x in s if x["name"] == "spotsweep_http_request_duration_seconds_count"
               and x["labels"] == {"route": route, "method": method, "status": status})
assert count("/metrics", "GET", "401") == 3, count("/metrics", "GET", "401")
assert count("/metrics", "GET", "200") == 1
assert count("/v1/trials/:id/finish", "POST", "200") >= 5
assert count("/v1/lease", "POST", "200") >= 6
assert count("/v1/lease", "POST", "204") >= 1
assert [x for x in s if x["name"] == "spotsweep_store_commit_duration_seconds_count"][0]["value"] >= 10
# Every finish waited for a flush of the WAL; one flush may cover several commits.
flushes = [x for x in s if x["name"] == "spotsweep_store_flushes_total"][0]["value"]
assert 1 <= flushes <= [x for x in s if x["name"] == "spotsweep_store_commit_duration_seconds_count"][0]["value"], flushes
assert [x for x in s if x["name"] == "spotsweep_store_flush_seconds_total"][0]["value"] > 0
assert [x for x in s if x["name"] == "process_start_time_seconds"][0]["value"] > 1.7e9
PY
ok "after the sweep: states of 3 sweeps, best values, attempts by outcome, spend by pool and class, lost and preempted, the active rule, request and commit histograms, flushes"

# A new serve (fold rebuilt from the store) counts the same; metrics_public needs no token.
stop_server
start_server --config "$T/public.json"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/sweeps")" = 401 ] || fail "/v1/ without the token"
scrape public
compare public >"$T/public.out"
[ "$(cat "$T/public.out")" = "$(cat "$T/final.out")" ] || fail "after a restart: $(cat "$T/public.out")"
grep -v '^spotsweep_http\|^spotsweep_store\|^process_\|^spotsweep_metrics\|^#' "$T/final.txt" |
	grep -v '^spotsweep_workers{' >"$T/final.store"
grep -v '^spotsweep_http\|^spotsweep_store\|^process_\|^spotsweep_metrics\|^#' "$T/public.txt" |
	grep -v '^spotsweep_workers{' >"$T/public.store"
diff "$T/final.store" "$T/public.store" >"$T/diff" || fail "the store's numbers changed across a restart: $(cat "$T/diff")"
ok "metrics_public: /metrics without the token (not /v1/); a restarted serve reads the same numbers"
