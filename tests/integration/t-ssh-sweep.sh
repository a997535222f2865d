# SSH dispatch against a real OpenSSH server on loopback: a sweep completes over ssh on two
# host entries (127.0.0.1 with 2 slots, localhost with 1), with no HTTP agent at all; the
# trials' metrics and checkpoints arrive through the stdio channel, and the acknowledged
# checkpoints beyond checkpoint.keep are deleted on the host as an HTTP agent would.
. tests/integration/lib.sh
. tests/integration/sshd.sh

start_sshd

cat >"$T/trial.sh" <<'EOF'
#!/bin/sh
# $1 = x, $2 = checkpoint dir: three steps, each a metric line, a SPOTSWEEP metric and a
# checkpoint.
x=$1 d=$2 i=1
while [ $i -le 3 ]; do
	echo "val_loss=$(awk -v x="$x" -v i="$i" 'BEGIN { print x / i }')"
	echo "SPOTSWEEP {\"metrics\": {\"acc\": 0.$i}, \"step\": $i}"
	echo "$i" >"$d/step-$i"
	echo "SPOTSWEEP {\"checkpoint\": \"$d/step-$i\", \"step\": $i}"
	sleep 0.2
	i=$((i + 1))
done
EOF
chmod +x "$T/trial.sh"
cat >"$T/spec.json" <<JSON
{
  "name": "it-ssh",
  "command": "$T/trial.sh {x} {checkpoint_dir}",
  "method": "grid",
  "parameters": {"x": {"values": [3, 6, 9, 12, 15, 18]}},
  "metric": {"name": "val_loss", "goal": "minimize", "pattern": "val_loss=([0-9.eE+-]+)"},
  "metrics": {"acc": null},
  "checkpoint": {"keep": 2}
}
JSON
cat >"$T/sched.json" <<JSON
{"lease_timeout_s": 30, "pools": [
  $(ssh_pool remote "$(host_entry 127.0.0.1 2), $(host_entry localhost 1)")
]}
JSON
id=$("$SPOTSWEEP" submit "$T/spec.json") || fail "submit"
start_server --config "$T/sched.json"

"$SPOTSWEEP" workers --json >"$T/w.json" || fail "workers --json"
[ "$(json "len(d)" <"$T/w.json")" = 2 ] || fail "two ssh hosts expected: $(cat "$T/w.json")"
[ "$(json "sorted(w['name'] for w in d)" <"$T/w.json")" = \
	"['root@127.0.0.1:$SSHD_PORT', 'root@localhost:$SSHD_PORT']" ] || fail "host names: $(cat "$T/w.json")"
ok "ssh hosts registered as workers"

wait_for 90 sweep_done "$id" || fail "the sweep did not complete over ssh: $("$SPOTSWEEP" status "$id")"
[ "$(sweep_field "$id" succeeded)" = 6 ] || fail "not all succeeded: $("$SPOTSWEEP" status "$id")"
ok "sweep of 6 trials completed over ssh"

# Each trial's value is its last val_loss: x / 3.
"$SPOTSWEEP" trials "$id" --json >"$T/trials.json"
python3 - "$T/trials.json" <<'PY' || fail "values: $(cat "$T/trials.json")"
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    assert t["state"] == "succeeded" and t["attempts"] == 1, t
    assert abs(t["value"] - t["params"]["x"] / 3) < 1e-9, t
PY
db() { sqlite3 "$SPOTSWEEP_DB" "$1"; }
[ "$(db "SELECT count(*) FROM metrics WHERE name = 'val_loss'")" = 18 ] || fail "val_loss points"
[ "$(db "SELECT count(*) FROM metrics WHERE name = 'acc'")" = 18 ] || fail "acc points"
[ "$(db "SELECT count(*) FROM checkpoints")" = 18 ] || fail "checkpoints: $(db "SELECT * FROM checkpoints")"
[ "$(db "SELECT count(*) FROM checkpoints WHERE path LIKE '$T/remote-work/ckpt/sweep-$id/trial-%/step-_'")" = 18 ] ||
	fail "checkpoint paths: $(db "SELECT path FROM checkpoints LIMIT 3")"
ok "metrics (36 points) and checkpoints (18) arrived through the stdio channel"

# checkpoint.keep = 2: step-1 was deleted once step-3 was acknowledged.
for d in "$T"/remote-work/ckpt/sweep-"$id"/trial-*; do
	[ "$(ls "$d" | tr '\n' ' ')" = "step-2 step-3 " ] || fail "$d holds: $(ls "$d")"
done
ok "checkpoints beyond keep deleted on the host after the scheduler's acknowledgement"

# Both host entries ran trials, no slot was exceeded, and every attempt is accounted.
[ "$(db "SELECT count(DISTINCT worker_id) FROM attempts")" = 2 ] || fail "one host did all the work"
[ "$(db "SELECT count(*) FROM attempts WHERE pool = 'remote' AND pool_class = 'on-demand' AND runtime_s > 0")" = 6 ] ||
	fail "attempts: $(db "SELECT * FROM attempts")"
"$SPOTSWEEP" workers --json >"$T/w.json"
[ "$(json "[w['state'] for w in d]" <"$T/w.json")" = "['up', 'up']" ] || fail "states: $(cat "$T/w.json")"
[ "$(json "[w['running'] for w in d]" <"$T/w.json")" = "[0, 0]" ] || fail "running: $(cat "$T/w.json")"
"$SPOTSWEEP" workers | grep -q "root@127.0.0.1:$SSHD_PORT .*up" || fail "workers table: $("$SPOTSWEEP" workers)"
ok "both hosts used; workers shows them up"

stop_server
# Stopping the scheduler stops the control masters: no ssh of ours is left.
sleep 0.5
ctl=$(sed -n 's/.*ssh control sockets in \([^ ]*\).*/\1/p' "$T/server.log")
[ -n "$ctl" ] || fail "the scheduler did not log its control socket directory"
pgrep -f "$ctl" >/dev/null && fail "an ssh control master outlived the scheduler: $(pgrep -af "$ctl")"
[ -e "$ctl" ] && fail "$ctl was not removed"
pgrep -f -- "--stdio.*$T/remote-work" >/dev/null && fail "a remote agent outlived the scheduler"
ok "no ssh process or remote agent left after the scheduler stopped"
no_agent_failures
