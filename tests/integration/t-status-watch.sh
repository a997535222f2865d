# `status` off and on a terminal. Not a terminal: one logfmt line per sweep (parsed here,
# and matching status --json), never an escape code; `--watch` prints a block of those
# lines per interval and stops on SIGINT with exit 0. On a pseudo-terminal (python3's pty):
# the live view on the alternate screen with the progress bar and colours, gone with
# NO_COLOR; Ctrl-C (through the terminal) or q quits with exit 0 and the terminal's modes
# and screen restored. A sweep with trials succeeded, running, pending; another cancelled.
. tests/integration/lib.sh

cat >"$T/a.json" <<JSON
{
  "name": "watch me \"now\"",
  "command": "echo \$\$ >$T/pgid-{x}; if [ {x} = 3 ]; then exec sleep 120; fi; echo val_loss=0.{x}",
  "method": "grid",
  "parameters": {"x": {"values": [1, 2, 3, 4]}},
  "metric": {"name": "val_loss", "pattern": "val_loss=([0-9.]+)"}
}
JSON
sed -e 's/"watch me[^,]*,/"watch-b",/' -e 's/\[1, 2, 3, 4\]/[5, 6]/' "$T/a.json" >"$T/b.json"
trap 'for f in "$T"/pgid-*; do [ -e "$f" ] && kill -KILL -- "-$(cat "$f")" 2>/dev/null; done; cleanup' EXIT
a=$("$SPOTSWEEP" submit "$T/a.json") || fail "submit a"
b=$("$SPOTSWEEP" submit "$T/b.json") || fail "submit b"
"$SPOTSWEEP" cancel "$b" >/dev/null || fail "cancel b"
start_server
start_agent w1
# Trials 1 and 2 succeed, 3 runs on (the one slot), 4 waits.
wait_for 60 eval '[ "$(sweep_field "$a" succeeded)" = 2 ] && [ "$(sweep_field "$a" running)" = 1 ]' ||
	fail "not 2 succeeded and 1 running: $("$SPOTSWEEP" status "$a" --json)"

# Usage errors.
for args in "--interval 1" "--watch --interval 0" "--watch --interval soon" "--watch --json"; do
	# shellcheck disable=SC2086
	"$SPOTSWEEP" status $args >/dev/null 2>"$T/err"; rc=$?
	[ $rc = 2 ] || fail "status $args: exit $rc ($(cat "$T/err"))"
done
ok "--interval without --watch, a bad interval, --watch with --json: exit 2"

# Not a terminal: logfmt lines, the same numbers as --json.
"$SPOTSWEEP" status >"$T/plain.txt" || fail "status"
"$SPOTSWEEP" status "$a" >"$T/one.txt" || fail "status SWEEP"
"$SPOTSWEEP" status --json >"$T/status.json" || fail "status --json"
cat >"$T/logfmt.py" <<'PY'
import re, sys
TOKEN = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\["\\nrt]|\\x[0-9a-f]{2})*"|[^ "]*)(?: |$)')
KEYS = ("sweep name method state trials pending running succeeded pruned abandoned cancelled "
        "planned progress best_trial best_value objective goal spend_usd rate_per_min eta_s").split()
def unquote(v):
    if not v.startswith('"'):
        return v
    return re.sub(r'\\(x[0-9a-f]{2}|.)', lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(
        m.group(1), chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x" and len(m.group(1)) == 3
        else m.group(1)), v[1:-1])
def parse(line):
    """One line: every pair, nothing else; the documented keys first, in order."""
    pos, d, order = 0, {}, []
    while pos < len(line):
        m = TOKEN.match(line, pos)
        assert m, (line, pos)
        assert m.group(1) not in d, line
        d[m.group(1)] = unquote(m.group(2))
        order.append(m.group(1))
        pos = m.end()
    assert order[:len(KEYS)] == KEYS, order
    return d
PY
python3 - "$T/plain.txt" "$T/one.txt" "$T/status.json" "$T" <<'PY' || fail "plain lines: $(cat "$T/plain.txt")"
import json, sys
sys.path.insert(0, sys.argv[4])
from logfmt import parse
text = open(sys.argv[1], encoding="utf-8").read()
assert "\x1b" not in text, repr(text)
assert text.endswith("\n")
lines = [parse(l) for l in text.split("\n")[:-1]]
status = json.load(open(sys.argv[3]))
assert len(lines) == len(status) == 2, (lines, status)
for d, s in zip(lines, status):
    assert int(d["sweep"]) == s["sweep_id"] and d["name"] == s["name"], (d, s)
    for k in ("trials", "pending", "running", "succeeded", "pruned", "abandoned", "cancelled"):
        assert int(d[k]) == s[k], (k, d, s)
    if s["best"] is None:
        assert d["best_trial"] == d["best_value"] == "", d
    else:
        assert int(d["best_trial"]) == s["best"]["trial_id"], d
        assert float(d["best_value"]) == s["best"]["value"], d
    fin = s["succeeded"] + s["pruned"] + s["abandoned"] + s["cancelled"]
    assert abs(float(d["progress"]) - fin / int(d["planned"])) < 1e-4, d
    float(d["spend_usd"])
a, b = lines
assert a["name"] == 'watch me "now"' and a["state"] == "active", a
assert a["progress"] == "0.5000" and a["best_value"] == "0.1", a
# two trials ended lately and two are left: an ETA, in whole seconds
assert float(a["rate_per_min"]) > 0 and int(a["eta_s"]) >= 0, a
assert b["state"] == "cancelled" and b["cancelled"] == "2" and b["eta_s"] == "0", b
one = open(sys.argv[2], encoding="utf-8").read()
moving = ("rate_per_min", "eta_s")   # time passed between the two runs
assert one.count("\n") == 1, one
assert {k: v for k, v in parse(one[:-1]).items() if k not in moving} == \
    {k: v for k, v in a.items() if k not in moving}, one
PY
ok "not a terminal: one logfmt line per sweep, as --json counts them, no escape codes"

# --watch to a file: a block per interval, SIGINT ends it with exit 0.
"$SPOTSWEEP" status --watch --interval 0.2 >"$T/watch.txt" 2>"$T/watch.err" &
watch=$!
track "$watch"
wait_for 30 eval '[ "$(grep -c "^$" "$T/watch.txt")" -ge 3 ]' || fail "no blocks: $(cat "$T/watch.txt" "$T/watch.err")"
kill -INT "$watch"
wait "$watch"; rc=$?
[ $rc = 0 ] || fail "--watch exited $rc on SIGINT: $(cat "$T/watch.err")"
python3 - "$T/watch.txt" "$T" <<'PY' || fail "watch blocks: $(head -c 2000 "$T/watch.txt")"
import sys
sys.path.insert(0, sys.argv[2])
from logfmt import parse
text = open(sys.argv[1], encoding="utf-8").read()
assert "\x1b" not in text and text.endswith("\n\n"), repr(text[-200:])
blocks = text[:-2].split("\n\n")
assert len(blocks) >= 3, len(blocks)
for blk in blocks:
    rows = [parse(l) for l in blk.split("\n")]
    assert [r["sweep"] for r in rows] == ["1", "2"], blk
PY
ok "--watch, not a terminal: $(grep -c '^$' "$T/watch.txt") blocks of plain lines, exit 0 on SIGINT"

# A pseudo-terminal: the live view, then Ctrl-C or q; the terminal as it was.
cat >"$T/pty.py" <<'PY'
import fcntl, os, re, select, signal, struct, subprocess, sys, termios, time
spotsweep, key, no_color, out = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
before = termios.tcgetattr(slave)
env = dict(os.environ, TERM="xterm-256color")
env.pop("NO_COLOR", None)
if no_color:
    env["NO_COLOR"] = "1"
def ctty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen([spotsweep, "status", "--watch", "--interval", "0.3"], stdin=slave,
                     stdout=slave, stderr=slave, env=env, preexec_fn=ctty)
buf = b""
def pump(until, limit):
    global buf
    end = time.time() + limit
    while time.time() < end and not until():
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                buf += os.read(master, 65536)
            except OSError:
                break
frames = lambda: buf.count(b"\x1b[H\x1b[1m" if not no_color else b"\x1b[Hspotsweep status")
pump(lambda: frames() >= 3, 30)
assert frames() >= 3, buf[-2000:]
during = termios.tcgetattr(slave)
assert not during[3] & termios.ICANON and not during[3] & termios.ECHO, during
os.write(master, key.encode())   # "\x03" is Ctrl-C: the terminal sends SIGINT
pump(lambda: p.poll() is not None, 30)
rc = p.wait(timeout=30)
pump(lambda: False, 0.3)
after = termios.tcgetattr(slave)
open(out, "wb").write(buf)
assert rc == 0, rc
assert after == before, (before, after)
text = buf.decode("utf-8", "replace")
assert text.startswith("\x1b[?1049h\x1b[?25l"), repr(text[:40])
assert text.endswith("\x1b[?25h\x1b[?1049l"), repr(text[-40:])
assert "watch me \"now\"" in text and "watch-b" in text, text[-3000:]
bar = re.search(r"\[((?:\x1b\[[0-9;]*m|[#!x>.])+)\]\s+50%\s+2/4\s+ETA", text)
assert bar, text[-3000:]
cells = re.sub(r"\x1b\[[0-9;]*m", "", bar.group(1))
assert cells.count("#") > 0 and cells.count(">") > 0 and cells.count(".") > 0, cells
sgr = re.findall(r"\x1b\[[0-9;]*m", text)
if no_color:
    assert not sgr, sgr[:5]
else:
    assert "\x1b[32m" in sgr and "\x1b[33m" in sgr, sgr[:10]
PY
python3 "$T/pty.py" "$SPOTSWEEP" $'\x03' 0 "$T/pty-ctrl-c.out" || fail "the live view and Ctrl-C"
ok "a terminal: the live view on the alternate screen with a coloured bar; Ctrl-C quits, exit 0, modes restored"
python3 "$T/pty.py" "$SPOTSWEEP" q 1 "$T/pty-q.out" || fail "the live view with NO_COLOR and q"
ok "NO_COLOR=1: the same view without a single SGR sequence; q quits, exit 0, modes restored"

# The one-shot status on a terminal: the table (colour only without NO_COLOR is in the block).
python3 - "$SPOTSWEEP" "$a" <<'PY' || fail "status SWEEP on a terminal"
import os, pty, sys
def run(no_color):
    env = dict(os.environ, TERM="xterm")
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.argv[1], [sys.argv[1], "status", sys.argv[2]], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return out.decode()
coloured, plain = run(False), run(True)
assert "progress   [" in plain and "eta        " in plain and "spend      $" in plain, plain
assert "\x1b[" in coloured and "\x1b[" not in plain, (coloured, plain)
PY
ok "status SWEEP on a terminal: the block with progress, spend and ETA; colour unless NO_COLOR"
