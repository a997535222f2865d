# A network partition between one agent and the scheduler, longer than the lease timeout.
# Agent A talks to `serve` through a TCP proxy on 127.0.0.1 that the test controls; cutting
# it closes every connection and refuses new ones. The scheduler expires A's lease (attempt
# `lost`), the trial is re-leased to agent B and resumes from A's last acknowledged
# checkpoint. When the proxy is restored, A's late report gets 409 and changes nothing, and
# A kills the trial it was still running. B completes the trial.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/proxy.py" <<'PY'
# A TCP proxy, 127.0.0.1 only: while the file CUT exists it holds no connection and refuses
# new ones (its listening socket is closed); once CUT is gone it listens again on the port.
import os, selectors, socket, sys, time

upstream = ("127.0.0.1", int(sys.argv[1]))
cut_file = sys.argv[2]
sel = selectors.DefaultSelector()
peer = {}
lst = None
port = 0

def listen():
    global lst, port
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(64)
    port = lst.getsockname()[1]
    sel.register(lst, selectors.EVENT_READ)

def close(s):
    o = peer.pop(s, None)
    for x in (s, o):
        if x is None:
            continue
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        peer.pop(x, None)
        x.close()

listen()
print(port, flush=True)
while True:
    if os.path.exists(cut_file):
        if lst is not None:
            sel.unregister(lst)
            lst.close()
            lst = None
            for s in list(peer):
                close(s)
        time.sleep(0.05)
        continue
    if lst is None:
        try:
            listen()
        except OSError:
            time.sleep(0.1)
            continue
    for key, _ in sel.select(0.1):
        s = key.fileobj
        if s is lst:
            c, _ = lst.accept()
            u = socket.socket()
            try:
                u.connect(upstream)
            except OSError:
                c.close()
                u.close()
                continue
            peer[c], peer[u] = u, c
            sel.register(c, selectors.EVENT_READ)
            sel.register(u, selectors.EVENT_READ)
            continue
        if s not in peer:
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            close(s)
            continue
        try:
            peer[s].sendall(data)
        except OSError:
            close(s)
PY

echo '{"lease_timeout_s": 2}' >"$T/sched.json"
# Attempt 1 trains slowly, so that it is still running when A hears of the partition's end;
# later attempts quickly. Checkpoints every 2 steps.
cat >"$T/s.json" <<JSON
{
  "name": "it-partition",
  "command": "$RECORD_PID if [ {attempt} = 1 ]; then s=0.5; else s=0.05; fi; exec python3 $TRAIN --lr {lr} --steps 100 --step-s \$s --ckpt-every 2",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
start_server --config "$T/sched.json"
direct=$URL
python3 "$T/proxy.py" "${ADDR##*:}" "$T/cut" >"$T/proxy.out" 2>"$T/proxy.log" &
track $!
wait_for 30 test -s "$T/proxy.out" || fail "the proxy did not start"
URL="http://127.0.0.1:$(cat "$T/proxy.out")"
start_agent A --grace-s 5
agentA=$AGENT_PID
URL=$direct

wait_for 60 attempt_open "$tid" 1 || fail "A never leased the trial"
wait_for 60 eval '[ "$(db "SELECT count(*) FROM checkpoints WHERE trial_id = $tid AND attempt = 1")" -ge 1 ]' ||
	fail "A's trial never checkpointed"
pidA=$(head -n 1 "$T/trial-pids")
touch "$T/cut"
cut_at=$(date +%s)
ok "partition: A cut off from the scheduler while running attempt 1 (pid $pidA)"

wait_for 60 outcome_is "$tid" 1 lost || fail "attempt 1 never expired: '$(outcome "$tid" 1)'"
[ "$(db "SELECT reason FROM attempts WHERE trial_id = $tid AND attempt = 1")" = "lease expired" ] ||
	fail "attempt 1 reason"
[ "$(db "SELECT failures FROM trials WHERE id = $tid")" = 0 ] || fail "the lost attempt was charged as a failure"
kill -0 "$pidA" || fail "A's trial died during the partition"
ok "lease expired: attempt 1 lost while A's trial kept running"

start_agent B
wait_for 60 attempt_open "$tid" 2 || fail "B never leased the trial"
[ "$(db "SELECT w.name FROM attempts a JOIN workers w ON w.id = a.worker_id
    WHERE a.trial_id = $tid AND a.attempt = 2")" = B ] || fail "attempt 2 is not B's"
newest=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid ORDER BY step DESC LIMIT 1")
[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = 2")" = "$newest" ] ||
	fail "attempt 2 did not resume from A's last acknowledged checkpoint"
# What the store holds of attempt 1 now; A's late reports must not change it.
snapshot() {
	db "SELECT attempt, outcome, reason, ended_at, runtime_s FROM attempts WHERE trial_id = $tid AND attempt = 1;
	    SELECT count(*), coalesce(max(step), -1) FROM checkpoints WHERE trial_id = $tid AND attempt = 1;
	    SELECT count(*) FROM metrics WHERE trial_id = $tid AND attempt = 1;"
}
before=$(snapshot)
ok "attempt 2 leased to B, resuming from $newest"

# Cut for at least twice the lease timeout in all, whatever the pace of the steps above.
wait_for 30 eval '[ $(($(date +%s) - cut_at)) -ge 4 ]'
rm -f "$T/cut"
wait_for 60 log_has "$T/agent-A.log" "as stale (HTTP 409" || fail "A never heard 409"
wait_for 30 pid_gone "$pidA" || fail "A did not kill its superseded trial (pid $pidA)"
log_has "$log1" "SIGTERM at step" || fail "A's trial was not sent SIGTERM first"
kill -0 "$agentA" || fail "agent A exited"
ok "partition over: A's late report got 409 and A killed its trial"

wait_for 90 sweep_done "$id" || fail "the trial did not complete on B"
[ "$(outcome "$tid" 2)" = succeeded ] || fail "attempt 2 is '$(outcome "$tid" 2)'"
[ "$(snapshot)" = "$before" ] || fail "A's late reports changed attempt 1: $before -> $(snapshot)"
[ "$(db "SELECT count(*) FROM attempts WHERE trial_id = $tid")" = 2 ] || fail "more than 2 attempts"
[ "$(csv_field "$id" "$tid" state)" = succeeded ] || fail "CSV state"
[ "$(csv_field "$id" "$tid" attempts)" = 2 ] || fail "CSV attempts"
[ "$(csv_field "$id" "$tid" preemptions)" = 1 ] || fail "CSV preemptions (a lost attempt is an interruption)"
ok "B completed the trial; attempt 1 unchanged by A's late reports (lost, then 409)"
