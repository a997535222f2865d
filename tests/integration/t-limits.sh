# Limits where input enters the scheduler: request headers (32 KiB), JSON nesting (32 levels),
# string lengths, metric points per report (10000) and distinct metric names per trial
# (1024) are refused with a clear error and change nothing; open connections are capped
# (max_connections: beyond it new ones wait until one closes), idle connections and requests
# that trickle in (slowloris) are cut after http_timeout_s.
. tests/integration/lib.sh

cat >"$T/one.json" <<JSON
{"name": "it-limits", "command": "true {x}", "method": "grid",
 "parameters": {"x": {"values": [1, 2]}}, "metric": {"name": "val_loss"}}
JSON
cat >"$T/config.json" <<JSON
{"max_connections": 4, "http_timeout_s": 2, "lease_timeout_s": 60}
JSON
"$SPOTSWEEP" submit "$T/one.json" >/dev/null || fail "submit"
start_server --config "$T/config.json"
snapshot() { sqlite3 "$SPOTSWEEP_DB" "SELECT group_concat(id || state || attempts || coalesce(value, '-'), ',') FROM trials; SELECT count(*) FROM metrics; SELECT count(*) FROM checkpoints; SELECT count(*) FROM workers"; }

r=$(http POST /v1/workers '{"name": "w1"}'); [ "${r%% *}" = 200 ] || fail "register $r"
wid=$(echo "${r#* }" | json "d['worker_id']")
r=$(http POST /v1/lease "{\"worker_id\": $wid}"); [ "${r%% *}" = 200 ] || fail "lease $r"
tid=$(echo "${r#* }" | json "d['trial_id']")
sec=$(echo "${r#* }" | json "d['lease_secret']")
ids="\"attempt\": 1, \"worker_id\": $wid, \"lease_secret\": \"$sec\""
before=$(snapshot)

# Headers over 32 KiB: libevent refuses the request before it reaches a handler.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" \
	"$URL/v1/sweeps")
case $code in 400|413|431|000) ;; *) fail "oversized headers answered $code" ;; esac
deep=$(python3 -c "print('{\"name\": \"w\", \"x\": ' + '[' * 40 + ']' * 40 + '}')")
r=$(http POST /v1/workers "$deep"); [ "${r%% *}" = 400 ] || fail "deep JSON: $r"
echo "$r" | grep -q "nests deeper than 32" || fail "deep JSON message: $r"
long=$(head -c 300 /dev/zero | tr '\0' n)
r=$(http POST /v1/workers "{\"name\": \"$long\"}"); [ "${r%% *}" = 400 ] || fail "long name: $r"
echo "$r" | grep -q "at most 256 bytes" || fail "long name message: $r"
r=$(http POST /v1/trials/$tid/checkpoint "{$ids, \"path\": \"/$(head -c 5000 /dev/zero | tr '\0' p)\"}")
[ "${r%% *}" = 400 ] || fail "long checkpoint path: $r"
python3 -c "
import json
pts = [{'name': 'val_loss', 'step': i, 'value': 0.5} for i in range(10001)]
print(json.dumps({'attempt': 1, 'worker_id': $wid, 'lease_secret': '$sec', 'metrics': pts}))" >"$T/many.json"
code=$(curl -s -o "$T/http.body" -w "%{http_code}" -H "Content-Type: application/json" --data-binary @"$T/many.json" "$URL/v1/trials/$tid/heartbeat"); r="$code $(cat "$T/http.body")"; [ "${r%% *}" = 413 ] || fail "10001 points: ${r:0:200}"
echo "$r" | grep -q "more than 10000 points in one report" || fail "points message: ${r:0:200}"
python3 -c "
import json
pts = [{'name': 'm%d' % i, 'step': 1, 'value': 1.0} for i in range(1025)]
print(json.dumps({'attempt': 1, 'worker_id': $wid, 'lease_secret': '$sec', 'metrics': pts}))" >"$T/names.json"
code=$(curl -s -o "$T/http.body" -w "%{http_code}" -H "Content-Type: application/json" --data-binary @"$T/names.json" "$URL/v1/trials/$tid/heartbeat"); r="$code $(cat "$T/http.body")"; [ "${r%% *}" = 413 ] || fail "1025 names: ${r:0:200}"
echo "$r" | grep -q "more than 1024 distinct metric names" || fail "names message: ${r:0:200}"
python3 -c "
import json
pts = [{'name': 'm%d' % i, 'step': 1, 'value': 1.0} for i in range(1024)]
print(json.dumps({'attempt': 1, 'worker_id': $wid, 'lease_secret': '$sec', 'metrics': pts[:1000]}))" >"$T/names1.json"
after=$(snapshot)
[ "$before" = "$after" ] || fail "a refused request changed the store: $before -> $after"
code=$(curl -s -o "$T/http.body" -w "%{http_code}" -H "Content-Type: application/json" --data-binary @"$T/names1.json" "$URL/v1/trials/$tid/heartbeat"); r="$code $(cat "$T/http.body")"; [ "${r%% *}" = 200 ] || fail "1000 names: ${r:0:200}"
r=$(http POST /v1/trials/$tid/heartbeat "{$ids, \"metrics\": [{\"name\": \"x\", \"step\": 1, \"value\": 1}]}")
[ "${r%% *}" = 200 ] || fail "a 1001st name: ${r:0:200}"
ok "headers, nesting, string lengths, points per report, metric names per trial: refused, nothing changed"

# The connection cap: four idle connections take every slot; a fifth request waits in the
# backlog until the idle ones are cut (http_timeout_s 2), then is answered.
python3 - "$ADDR" >"$T/conns.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(':', 1)
socks = [socket.create_connection((host, int(port))) for _ in range(4)]
start = time.time()
closed = 0
for s in socks:
    s.settimeout(20)
    try:
        if s.recv(1) == b'':
            closed += 1
    except OSError:
        closed += 1
print('closed %d after %.1f s' % (closed, time.time() - start))
PY
idle=$!
track "$idle"
sleep 0.7
t0=$(date +%s.%N)
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$URL/healthz")
t1=$(date +%s.%N)
[ "$code" = 200 ] || fail "the request past the cap was not answered ($code)"
waited=$(python3 -c "print($t1 - $t0)")
python3 -c "import sys; sys.exit(0 if $waited >= 0.8 else 1)" || fail "the fifth connection was served at once ($waited s): no cap"
wait "$idle"
grep -q "closed 4" "$T/conns.out" || fail "the idle connections were not cut: $(cat "$T/conns.out")"
grep -q "connections open (the limit): not accepting" "$T/server.log" || fail "no log of the cap"
grep -q "accepting again" "$T/server.log" || fail "no log of accepting again"
ok "connection cap: the fifth waited $waited s, served once an idle one was cut"

# Slowloris: one header byte every 0.3 s never lets the idle timeout fire, but the request
# deadline (http_timeout_s from its first byte) cuts it.
python3 - "$ADDR" >"$T/slow.out" 2>&1 <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((host, int(port)))
req = b'GET /healthz HTTP/1.1\r\nHost: x\r\n' + b'X-Slow: ' + b'a' * 200
start = time.time()
for b in req:
    try:
        s.send(bytes([b]))
    except OSError:
        break
    s.settimeout(0.3)
    try:
        if s.recv(1) == b'':
            break
    except socket.timeout:
        pass
    except OSError:
        break
    if time.time() - start > 30:
        break
print('cut after %.1f s' % (time.time() - start))
PY
cut=$(sed -n 's/^cut after \([0-9.]*\) s$/\1/p' "$T/slow.out")
[ -n "$cut" ] || fail "slow client: $(cat "$T/slow.out")"
python3 -c "import sys; sys.exit(0 if 1.5 <= $cut <= 10 else 1)" || fail "slow client cut after $cut s"
r=$(http GET /healthz); [ "${r%% *}" = 200 ] || fail "healthz after the slow client: $r"
ok "a request trickling in is cut after $cut s (http_timeout_s 2)"

# A bad config value is refused with its key.
echo '{"max_connections": 0}' >"$T/bad.json"
"$SPOTSWEEP" serve --listen 127.0.0.1:0 --config "$T/bad.json" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "max_connections 0 accepted (exit $rc)"
grep -q "max_connections" "$T/err" || fail "message: $(cat "$T/err")"
ok "config limits checked"
