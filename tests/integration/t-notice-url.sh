# A termination notice from a mock cloud metadata endpoint on 127.0.0.1 that requires AWS's
# IMDSv2 (401 without a session token from PUT /latest/api/token; with one, 404 until the test
# flips it, then 200 with AWS's {"action": "terminate", "time": ...}) starts the preemption
# sequence without any signal: the trainer gets SIGTERM and writes an emergency checkpoint,
# the attempt is reported preempted, the agent exits by itself, and the trial resumes from
# the checkpoint on another agent.
. tests/integration/lib.sh
. tests/integration/lib-preempt.sh

cat >"$T/meta.py" <<'PY'
import datetime, http.server, json, os, socketserver, sys

flag, log = sys.argv[1], sys.argv[2]

TOKEN = "AQAEAexampletoken=="

class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        with open(log, "a") as f:
            f.write("PUT " + self.path + "\n")
        if self.path != "/latest/api/token" or \
                not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "").isdigit():
            self.reply(400)
            return
        self.reply(200, TOKEN.encode())

    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            with open(log, "a") as f:
                f.write("401\n")
            self.reply(401)
            return
        with open(log, "a") as f:
            f.write("token ok\n")
        if self.path != "/latest/meta-data/spot/instance-action" or not os.path.exists(flag):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=40)
        body = json.dumps({"action": "terminate",
                           "time": when.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

srv = socketserver.TCPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$T/meta.py" "$T/notice-on" "$T/meta-requests" >"$T/meta.out" 2>"$T/meta.log" &
track $!
wait_for 30 test -s "$T/meta.out" || fail "the metadata mock did not start"
notice_url="http://127.0.0.1:$(cat "$T/meta.out")/latest/meta-data/spot/instance-action"

cat >"$T/s.json" <<JSON
{
  "name": "it-notice-url",
  "command": "$RECORD_PID exec python3 $TRAIN --lr {lr} --steps 60 --step-s 0.2 --ckpt-every 4",
  "method": "grid",
  "parameters": {"lr": {"values": [0.001]}},
  "metric": {"name": "val_loss", "pattern": "val_loss[=: ]+([-+0-9.eE]+)"},
  "retry": {"max_failures": 0}
}
JSON
id=$("$SPOTSWEEP" submit "$T/s.json") || fail "submit"
tid=$(db "SELECT id FROM trials WHERE sweep_id = $id")
log1=$(trial_log "$id" "$tid" 1)
start_server
start_agent spot --notice-url "$notice_url" --grace-s 20
spot=$AGENT_PID
wait_for 60 log_has "$log1" "^step 5 " || fail "the trial never reached step 5"
# The agent has been polling: 401, a token, then 404s with it: nothing happened.
wait_for 30 grep -q '^token ok$' "$T/meta-requests" || fail "the agent never polled with an IMDSv2 token: $(cat "$T/meta-requests")"
grep -q '^PUT /latest/api/token$' "$T/meta-requests" || fail "no token request"
[ "$(grep -c '^PUT ' "$T/meta-requests")" -le 2 ] || fail "the agent keeps asking for tokens: $(cat "$T/meta-requests")"
attempt_open "$tid" 1 || fail "a 404 from the notice URL stopped the trial"
kill -0 "$spot" || fail "the agent exited on a 404"
ok "notice URL polled with an IMDSv2 token, 404 is no notice"

touch "$T/notice-on"
# Polled every 5 s: within a few polls the agent must stop by itself.
wait_exit "$spot" 60 || fail "the agent did not stop after the notice"
[ "$EXIT_RC" = 0 ] || fail "the agent exited $EXIT_RC after the notice"
[ "$(outcome "$tid" 1)" = preempted ] || fail "attempt 1 is '$(outcome "$tid" 1)'"
reason=$(db "SELECT reason FROM attempts WHERE trial_id = $tid AND attempt = 1")
[ "$reason" = "termination notice from $notice_url" ] || fail "attempt 1 reason '$reason'"
log_has "$log1" "SIGTERM at step" || fail "the trainer never got SIGTERM"
estep=$(sed -n 's/^SIGTERM at step \([0-9]*\):.*/\1/p' "$log1")
epath=$(db "SELECT path FROM checkpoints WHERE trial_id = $tid AND attempt = 1 AND step = $estep")
[ -n "$epath" ] || fail "the emergency checkpoint (step $estep) was not recorded"
grep -q "agent received" "$T/agent-spot.log" && fail "the agent saw a signal"
ok "the notice (no signal) preempted attempt 1 with an emergency checkpoint at step $estep"

start_agent ondemand
wait_for 90 sweep_done "$id" || fail "the trial did not complete on the other agent"
[ "$(db "SELECT resumed_from FROM attempts WHERE trial_id = $tid AND attempt = 2")" = "$epath" ] ||
	fail "attempt 2 did not resume from $epath"
log_has "$(trial_log "$id" "$tid" 2)" "^resumed from $epath at step $estep\$" ||
	fail "the trainer did not resume from the emergency checkpoint"
[ "$(csv_field "$id" "$tid" state)" = succeeded ] || fail "CSV state"
[ "$(csv_field "$id" "$tid" attempts)" = 2 ] || fail "CSV attempts"
[ "$(csv_field "$id" "$tid" preemptions)" = 1 ] || fail "CSV preemptions"
ok "resumed from the emergency checkpoint on another agent: attempts=2, preemptions=1"
