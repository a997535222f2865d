# SSH host health: a host entry whose port is closed fails to connect, is marked down with
# its error and retried with a backoff, while its trials run on the working host; the
# attempts it lost cost the trials nothing (they never started) and the scheduler keeps
# answering throughout.
. tests/integration/lib.sh
. tests/integration/sshd.sh

start_sshd
closed=$(free_port) || fail "no free port"
cat >"$T/spec.json" <<JSON
{
  "name": "it-ssh-down",
  "command": "sleep 0.3; echo val_loss={x}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4, 5, 6]}},
  "metric": {"name": "val_loss", "goal": "minimize", "pattern": "val_loss=([0-9.]+)"}
}
JSON
bad=$(printf '{"host": "127.0.0.1", "user": "root", "port": %s, "slots": 2, "identity_file": "%s"}' \
	"$closed" "$SSH_KEY")
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [$(ssh_pool remote "$bad, $(host_entry 127.0.0.1 1)")]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

bad_down() {
	"$SPOTSWEEP" workers --json | python3 -c "
import json, sys
w = [w for w in json.load(sys.stdin) if w['name'] == 'root@127.0.0.1:$closed'][0]
sys.exit(0 if w['state'] == 'down' and 'refused' in (w['last_error'] or '') and w['retry_at'] else 1)"
}
wait_for 30 bad_down || fail "the closed port was not marked down: $("$SPOTSWEEP" workers --json)"
ok "host with a closed port marked down with its error: $("$SPOTSWEEP" workers --json |
	json "[w['last_error'] for w in d if w['state'] == 'down'][0]")"

# The scheduler is not held up by the failing host.
for i in 1 2 3 4 5; do
	curl -s -m 2 "$URL/healthz" | grep -q true || fail "the scheduler did not answer /healthz"
	sleep 0.2
done
ok "the scheduler keeps answering while a host is down"

wait_for 90 sweep_done "$id" || fail "the sweep did not complete: $("$SPOTSWEEP" status "$id")"
[ "$(sweep_field "$id" succeeded)" = 6 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id")"
db() { sqlite3 "$SPOTSWEEP_DB" "$1"; }
good_id=$(db "SELECT id FROM workers WHERE name = 'root@127.0.0.1:$SSHD_PORT'")
bad_id=$(db "SELECT id FROM workers WHERE name = 'root@127.0.0.1:$closed'")
[ "$(db "SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND worker_id = $good_id")" = 6 ] ||
	fail "the trials did not all run on the working host: $(db "SELECT * FROM attempts")"
lost=$(db "SELECT count(*) FROM attempts WHERE worker_id = $bad_id AND outcome = 'lost' AND reason LIKE 'could not start on %'")
[ "$lost" -ge 1 ] || fail "no lost attempt on the bad host: $(db "SELECT * FROM attempts")"
[ "$(db "SELECT count(*) FROM attempts WHERE worker_id = $bad_id AND outcome IS NOT 'lost'")" = 0 ] ||
	fail "the bad host ran something"
[ "$(db "SELECT sum(preemptions) FROM trials")" = 0 ] || fail "a failed connection was charged as a preemption"
[ "$(db "SELECT sum(runtime_s) FROM attempts WHERE worker_id = $bad_id")" = 0.0 ] ||
	fail "compute charged for attempts that never started"
ok "all 6 trials ran on the working host; $lost attempt(s) lost on the down host, free of charge"

# Backoff: the down host was not retried in a tight loop (2 s doubling).
[ "$lost" -le 8 ] || fail "the down host was retried $lost times"
ok "the down host was retried with a backoff ($lost tries)"
# A clean stop (not the cleanup's SIGKILL) also stops the control masters.
stop_server
no_agent_failures
