# The dispatcher's answers: 401 without the token, 400 malformed JSON, 413 oversized bodies,
# 404, 405, and 409 for a report from a superseded attempt or from a worker that does not
# hold the lease (another worker id, a wrong or missing lease secret), which changes nothing.
. tests/integration/lib.sh

umask 077
echo "s3cret-token-for-tests" >"$T/token"
cat >"$T/one.json" <<JSON
{"name": "it-http", "command": "true {x}", "method": "grid",
 "parameters": {"x": {"values": [1, 2]}}, "metric": {"name": "val_loss"}}
JSON
id=$("$SPOTSWEEP" submit "$T/one.json") || fail "submit"
start_server --token-file "$T/token"

r=$(http GET /healthz); [ "${r%% *}" = 200 ] || fail "healthz $r"
r=$(http GET /v1/sweeps); [ "${r%% *}" = 401 ] || fail "no token: $r"
TOKEN=wrong-token r=$(TOKEN=wrong-token http GET /v1/sweeps); [ "${r%% *}" = 401 ] || fail "wrong token: $r"
TOKEN="s3cret-token-for-tests"
r=$(http GET /v1/sweeps); [ "${r%% *}" = 200 ] || fail "token: $r"
ok "401 without or with a wrong token, /healthz open"

r=$(http POST /v1/workers '{"name": "w1", "slots": 1'); [ "${r%% *}" = 400 ] || fail "malformed: $r"
echo "$r" | grep -q 'malformed JSON' || fail "malformed message: $r"
python3 -c "print('{\"name\": \"' + 'x' * (1024 * 1024 + 10) + '\"}')" >"$T/big.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
	--data-binary @"$T/big.json" "$URL/v1/workers")
[ "$code" = 413 ] || fail "oversized: $code"
r=$(http GET /v1/nothing); [ "${r%% *}" = 404 ] || fail "404: $r"
r=$(http DELETE /v1/lease); [ "${r%% *}" = 405 ] || fail "405: $r"
r=$(http GET /v1/sweeps/9999); [ "${r%% *}" = 404 ] || fail "unknown sweep: $r"
ok "400, 413, 404, 405"

r=$(http POST /v1/workers '{"name": "w1", "slots": 1}'); [ "${r%% *}" = 200 ] || fail "register $r"
wid=$(echo "${r#* }" | json "d['worker_id']")
r=$(http POST /v1/lease "{\"worker_id\": $wid}"); [ "${r%% *}" = 200 ] || fail "lease $r"
tid=$(echo "${r#* }" | json "d['trial_id']")
att=$(echo "${r#* }" | json "d['attempt']")
sec=$(echo "${r#* }" | json "d['lease_secret']")
[ "$att" = 1 ] || fail "attempt $att"
echo "$sec" | grep -Eq '^[0-9a-f]{32}$' || fail "lease secret $sec"
ids="\"worker_id\": $wid, \"lease_secret\": \"$sec\""
r=$(http POST /v1/trials/$tid/heartbeat "{\"attempt\": 2, $ids}")
[ "${r%% *}" = 409 ] || fail "stale heartbeat: $r"
before=$(sqlite3 "$SPOTSWEEP_DB" "SELECT state, attempts, value FROM trials WHERE id=$tid")
r=$(http POST /v1/trials/$tid/finish "{\"attempt\": 7, $ids, \"outcome\": \"succeeded\", \"exit_code\": 0, \"metrics\": [{\"name\": \"val_loss\", \"step\": 1, \"value\": 0.5}]}")
[ "${r%% *}" = 409 ] || fail "stale finish: $r"
after=$(sqlite3 "$SPOTSWEEP_DB" "SELECT state, attempts, value FROM trials WHERE id=$tid")
[ "$before" = "$after" ] || fail "stale finish changed the trial: $before -> $after"
ok "409 for superseded attempts; nothing changed"

# Another worker, holding the token but not the lease: refused whatever it sends.
r=$(http POST /v1/workers '{"name": "w2", "slots": 1}'); [ "${r%% *}" = 200 ] || fail "register w2 $r"
wid2=$(echo "${r#* }" | json "d['worker_id']")
good="\"outcome\": \"succeeded\", \"exit_code\": 0, \"metrics\": [{\"name\": \"val_loss\", \"step\": 1, \"value\": 0.25}]"
for body in "{\"attempt\": 1, \"worker_id\": $wid2, \"lease_secret\": \"$sec\", $good}" \
	"{\"attempt\": 1, \"worker_id\": $wid, \"lease_secret\": \"00000000000000000000000000000000\", $good}" \
	"{\"attempt\": 1, \"worker_id\": $wid, \"lease_secret\": \"${sec%?}\", $good}"; do
	r=$(http POST /v1/trials/$tid/finish "$body")
	[ "${r%% *}" = 409 ] || fail "finish by a non-holder: $r ($body)"
	echo "$r" | grep -q "not this worker's lease" || fail "non-holder message: $r"
	echo "$r" | grep -q "$sec" && fail "the secret is echoed: $r"
done
r=$(http POST /v1/trials/$tid/checkpoint "{\"attempt\": 1, \"worker_id\": $wid2, \"lease_secret\": \"$sec\", \"path\": \"/x/ck\"}")
[ "${r%% *}" = 409 ] || fail "checkpoint by another worker: $r"
r=$(http POST /v1/trials/$tid/heartbeat "{\"attempt\": 1, \"worker_id\": $wid, \"lease_secret\": \"ffffffffffffffffffffffffffffffff\", \"metrics\": [{\"name\": \"val_loss\", \"step\": 1, \"value\": 9}]}")
[ "${r%% *}" = 409 ] || fail "heartbeat with a wrong secret: $r"
for body in "{\"attempt\": 1, \"worker_id\": $wid, $good}" "{\"attempt\": 1, \"lease_secret\": \"$sec\", $good}"; do
	r=$(http POST /v1/trials/$tid/finish "$body")
	[ "${r%% *}" = 400 ] || fail "finish without the lease's ids: $r"
done
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT state, attempts, value IS NULL FROM trials WHERE id=$tid")" = "running|1|1" ] || fail "a non-holder changed the trial"
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM metrics WHERE trial_id=$tid")" = 0 ] || fail "a non-holder's metrics were stored"
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM checkpoints WHERE trial_id=$tid")" = 0 ] || fail "a non-holder's checkpoint was stored"
grep -q "$sec" "$T/server.log" && fail "the lease secret is in the scheduler's log"
ok "409 for reports from a worker that does not hold the lease; nothing changed"

r=$(http POST /v1/trials/$tid/finish "{\"attempt\": 1, $ids, $good}")
[ "${r%% *}" = 200 ] || fail "finish: $r"
r=$(http POST /v1/trials/$tid/finish "{\"attempt\": 1, $ids, \"outcome\": \"failed\", \"exit_code\": 1}")
[ "${r%% *}" = 409 ] || fail "second finish: $r"
[ "$(sqlite3 "$SPOTSWEEP_DB" "SELECT state, value FROM trials WHERE id=$tid")" = "succeeded|0.25" ] || fail "finished trial changed"
ok "the holder's finish counts, once"
r=$(http POST /v1/trials/$tid/finish "{\"attempt\": \"one\", \"outcome\": \"failed\"}")
[ "${r%% *}" = 400 ] || fail "mistyped field: $r"
r=$(http POST /v1/lease "{\"worker_id\": 424242}"); [ "${r%% *}" = 404 ] || fail "unknown worker: $r"
ok "mistyped fields, unknown worker"

chmod 644 "$T/token"
"$SPOTSWEEP" serve --listen 127.0.0.1:0 --token-file "$T/token" 2>"$T/err" >/dev/null; rc=$?
[ $rc -eq 2 ] || fail "world-readable token accepted (exit $rc)"
grep -q "readable by group or others" "$T/err" || fail "token message $(cat "$T/err")"
grep -q "s3cret" "$T/err" && fail "token leaked in a message"
"$SPOTSWEEP" serve --listen 0.0.0.0:0 2>"$T/err" >/dev/null; rc=$?
[ $rc -eq 2 ] || fail "non-loopback without token exit $rc"
ok "token file checks, non-loopback refused without a token"
