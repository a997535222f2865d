# The scheduler is away (SIGKILL) for longer than the lease timeout while trials run: the
# agents keep running them and keep retrying their reports, and the restarted scheduler gives
# every open attempt a fresh lease period instead of declaring it lost at its first tick.
# Each trial completes on its first attempt; nothing is lost or run twice.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

echo '{"lease_timeout_s": 2}' >"$T/sched.json"
cat >"$T/s.json" <<JSON
{
  "name": "it-away",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 40 --step-s 0.25 --ckpt-every 5",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.002, 0.003]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
start_server --config "$T/sched.json"
start_agent a1 --slots 3
# Every trial running and none pending: no lease can be in flight when the scheduler dies.
wait_for 60 eval '[ "$(sweep_field "$id" running)" = 3 ]' || fail "the trials never all ran"
sleep 1
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
ok "scheduler killed with 3 trials running"
sleep 5
for i in 1 2 3; do
	attempt_open "$(db "SELECT id FROM trials WHERE sweep_id = $id ORDER BY id LIMIT 1 OFFSET $((i - 1))")" 1 ||
		fail "an attempt closed while the scheduler was away"
done
"$SPOTSWEEP" serve --listen "$ADDR" --config "$T/sched.json" >"$T/server2.out" 2>>"$T/server.log" &
SERVER_PID=$!
track "$SERVER_PID"
wait_for 30 grep -q '^listening on ' "$T/server2.out" || fail "serve did not restart on $ADDR"
log_has "$T/server.log" "3 attempts still running: leases renewed" || fail "leases not renewed at start"
ok "restarted after 5 s away (lease timeout 2 s): the 3 open leases renewed"

wait_for 90 sweep_done "$id" || fail "the sweep did not finish"
[ "$(sweep_field "$id" succeeded)" = 3 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id" --json)"
[ "$(db "SELECT count(*) FROM attempts a JOIN trials t ON t.id = a.trial_id
    WHERE t.sweep_id = $id")" = 3 ] || fail "attempts: $(db "SELECT trial_id, attempt, outcome FROM attempts")"
[ "$(db "SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND attempt = 1")" = 3 ] ||
	fail "not every first attempt succeeded"
for i in $(db "SELECT id FROM trials WHERE sweep_id = $id"); do
	log_has "$(trial_log "$id" "$i" 1)" "^step 40 " || fail "trial $i's first attempt did not run to the end"
done
log_has "$T/agent-a1.log" "refused" && fail "the agent's reports were refused"
ok "every trial completed on its first attempt across the outage"
