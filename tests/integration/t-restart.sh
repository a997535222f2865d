# The scheduler killed (SIGKILL) and restarted while agents run: no result is lost, every
# trial completes once, and the agents carry on by themselves.
. tests/integration/lib.sh

cat >"$T/s.json" <<JSON
{
  "name": "it-restart",
  "command": "python3 $ROOT/sweeps/examples/train.py --lr {lr} --steps 6 --step-s 0.25",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
start_server
start_agent a1 --slots 2
start_agent a2 --slots 2
sleep 2
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
ok "scheduler killed with trials running"
sleep 1.5
"$SPOTSWEEP" serve --listen "$ADDR" >>"$T/server2.out" 2>>"$T/server.log" &
SERVER_PID=$!
track "$SERVER_PID"
wait_for 90 sweep_done "$id" || fail "sweep did not finish after restart: $("$SPOTSWEEP" status "$id" --json)"
[ "$(sweep_field "$id" succeeded)" = 6 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id" --json)"
n=$(sqlite3 "$SPOTSWEEP_DB" "SELECT count(*) FROM trials WHERE sweep_id=$id AND value IS NOT NULL")
[ "$n" = 6 ] || fail "only $n trials have a value"
ok "all 6 trials succeeded with their values after the restart"
