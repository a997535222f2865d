# `make install DESTDIR=... PREFIX=/usr` puts every file in its place with sane modes, and
# what it installs works: the man pages render without a warning and document every command
# and option the binaries accept; the bash completion completes commands, options, spec files
# and sweep ids; the zsh completion parses and registers; systemd-analyze verify accepts the
# units (the binary's path pointed at the installed one); the cloud-init example is valid
# YAML whose AWS notice poller, run against a stand-in IMDSv2, writes the notice file that
# an agent then acts on; the Python helper's unit tests pass.
# The binaries installed are the ones under test ($BIN): `-o all` keeps make from rebuilding
# anything, so the sanitizer run installs its own build.
. tests/integration/lib.sh
# No __pycache__ in the source tree from importing contrib/python.
export PYTHONDONTWRITEBYTECODE=1

DEST=$T/dest
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory install \
	DESTDIR="$DEST" PREFIX=/usr BIN="$BIN" -o all >"$T/install.log" 2>&1 ||
	fail "make install: $(cat "$T/install.log")"

# --- every file, with its mode -----------------------------------------------------------
check_file() { # PATH MODE: a regular file with that mode
	[ -f "$DEST$1" ] && [ ! -L "$DEST$1" ] || fail "$1 not installed"
	[ "$(stat -c %a "$DEST$1")" = "$2" ] || fail "$1 has mode $(stat -c %a "$DEST$1"), not $2"
}
check_file /usr/bin/spotsweep 755
check_file /usr/bin/spotsweep-agent 755
check_file /usr/share/man/man1/spotsweep.1 644
check_file /usr/share/man/man1/spotsweep-agent.1 644
check_file /usr/share/man/man5/spotsweep-spec.5 644
check_file /usr/share/bash-completion/completions/spotsweep 644
check_file /usr/share/zsh/site-functions/_spotsweep 644
check_file /usr/lib/systemd/system/spotsweep.service 644
check_file /usr/lib/systemd/system/spotsweep-agent@.service 644
check_file /usr/lib/sysusers.d/spotsweep.conf 644
check_file /usr/share/spotsweep/agent.env.example 644
check_file /usr/share/spotsweep/python/spotsweep_trainer.py 644
check_file /usr/share/spotsweep/python/example_train.py 755
[ "$(readlink "$DEST/usr/share/bash-completion/completions/spotsweep-agent")" = spotsweep ] ||
	fail "the spotsweep-agent completion is not a link to spotsweep"
cmp -s "$BIN/spotsweep" "$DEST/usr/bin/spotsweep" || fail "the installed spotsweep is not \$BIN's"
cmp -s contrib/python/spotsweep_trainer.py "$DEST/usr/share/spotsweep/python/spotsweep_trainer.py" ||
	fail "the installed Python helper differs"
"$DEST/usr/bin/spotsweep" --version | grep -q '^spotsweep ' || fail "installed spotsweep --version"
"$DEST/usr/bin/spotsweep-agent" --version | grep -q '^spotsweep-agent ' ||
	fail "installed spotsweep-agent --version"
# The units run the installed binaries.
grep -qx 'ExecStart=/usr/bin/spotsweep --db .* serve .*' "$DEST/usr/lib/systemd/system/spotsweep.service" ||
	fail "spotsweep.service: ExecStart not rewritten to /usr/bin"
grep -qx 'ExecStart=/usr/bin/spotsweep-agent --server .*' "$DEST/usr/lib/systemd/system/spotsweep-agent@.service" ||
	fail "spotsweep-agent@.service: ExecStart not rewritten to /usr/bin"
grep -rq /usr/local "$DEST/usr/lib/systemd/system" && fail "a unit still names /usr/local"
ok "make install: every file in place with its mode"

# --- man pages ---------------------------------------------------------------------------
MANDIR=$DEST/usr/share/man
if command -v man >/dev/null && command -v groff >/dev/null; then
	for page in man1/spotsweep.1 man1/spotsweep-agent.1 man5/spotsweep-spec.5; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$MANDIR/$page" >"$T/page.txt" 2>"$T/man.err"
		[ -s "$T/man.err" ] && fail "man --warnings -l $page: $(cat "$T/man.err")"
		groff -man -ww -z "$MANDIR/$page" 2>"$T/groff.err"
		[ -s "$T/groff.err" ] && fail "groff -ww $page: $(cat "$T/groff.err")"
		grep -q '^NAME' "$T/page.txt" && grep -q '^SEE ALSO' "$T/page.txt" ||
			fail "$page: no NAME or SEE ALSO section"
	done
	# Found by name, as `man spotsweep` and systemd's Documentation= look for them.
	[ "$(MANPATH=$MANDIR man -w spotsweep-spec)" = "$MANDIR/man5/spotsweep-spec.5" ] ||
		fail "man -w does not find spotsweep-spec(5)"
	ok "man pages render without warnings"

	# Every command and every option the binaries accept is in the pages.
	LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MANDIR/man1/spotsweep.1" 2>/dev/null >"$T/spotsweep.txt"
	LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$MANDIR/man1/spotsweep-agent.1" 2>/dev/null >"$T/agent.txt"
	cmds=$("$SPOTSWEEP" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' | grep -v '^$')
	[ "$(echo "$cmds" | wc -l)" -ge 12 ] || fail "could not read the commands from --help"
	for c in $cmds; do
		grep -q "^   $c " "$T/spotsweep.txt" || fail "spotsweep(1) has no section for $c"
		for o in $("$SPOTSWEEP" "$c" --help | sed -n '1,/^$/p' | grep -o -- '--[a-z][a-z-]*\|-[a-z]\b' | sort -u); do
			grep -q -- "$o" "$T/spotsweep.txt" || fail "spotsweep(1) does not mention $c $o"
		done
	done
	# ... and every entry of the commands' option tables, short names included.
	for f in src/cmd-*.c; do
		sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", \(0\|'"'"'\([a-z]\)'"'"'\), \(true\|false\) },$/\1 \3/p' "$f" |
		while read -r long short; do
			grep -q -- "--$long\\b" "$T/spotsweep.txt" || fail "spotsweep(1) lacks --$long ($f)"
			[ -z "$short" ] || grep -q -- "-$short, --$long\\|-$short \\|-$short\$" "$T/spotsweep.txt" ||
				fail "spotsweep(1) lacks -$short ($f)"
		done || exit 1
	done
	[ "$(cat src/cmd-*.c | grep -c '^[[:space:]]*{ "[a-z-]*", \(0\|'"'"'[a-z]'"'"'\), \(true\|false\) },$')" -ge 40 ] ||
		fail "could not read the option tables of src/cmd-*.c"
	for o in $("$AGENT" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "^       $o" "$T/agent.txt" || fail "spotsweep-agent(1) does not describe $o"
	done
	for v in SPOTSWEEP_SWEEP_ID SPOTSWEEP_TRIAL_ID SPOTSWEEP_ATTEMPT SPOTSWEEP_PARAMS \
		SPOTSWEEP_CHECKPOINT_DIR SPOTSWEEP_RESUME_FROM SPOTSWEEP_CHECKPOINTS; do
		grep -q "^       $v\$" "$T/agent.txt" || fail "spotsweep-agent(1) does not describe $v"
	done
	ok "the man pages cover every command, option and trial variable"
else
	echo "skip: man or groff not installed: the pages were not rendered"
fi

# --- bash completion ---------------------------------------------------------------------
BASHCOMP=$DEST/usr/share/bash-completion/completions/spotsweep
bash -n "$BASHCOMP" || fail "bash -n $BASHCOMP"
mkdir -p "$T/cwd/specs"
cp sweeps/grid.json sweeps/wandb-sweep.yaml "$T/cwd/"
: >"$T/cwd/notes.txt"
"$SPOTSWEEP" --db "$T/cwd/c.db" submit sweeps/grid.json >/dev/null || fail "submit"
"$SPOTSWEEP" --db "$T/cwd/c.db" submit sweeps/random.json >/dev/null || fail "submit"
# complete WORDS...: the replies bash would offer with the cursor after the last word, as
# bash calls the function (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT).
complete_words() {
	(
		cd "$T/cwd" || exit 1
		PATH=$BIN:$PATH
		. "$BASHCOMP"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		case $1 in
		spotsweep) _spotsweep ;;
		spotsweep-agent) _spotsweep_agent ;;
		esac
		printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
	)
}
expect() { # EXPECTED WORDS...
	local want=$1 got
	shift
	got=$(complete_words "$@")
	[ "$got" = "$want" ] || fail "completing '$*': got '$got', expected '$want'"
}
expect "serve status submit" spotsweep s
expect "status" spotsweep st
expect "--db --help --version" spotsweep --
expect "--dry-run --help --json --wandb-shim" spotsweep submit --
expect "grid.json specs wandb-sweep.yaml" spotsweep submit ""
expect "grid.json" spotsweep run g
expect "1 2" spotsweep --db c.db status ""
expect "1 2" spotsweep --db c.db cancel ""
expect "" spotsweep --db c.db status 1 ""
expect "running" spotsweep trials 1 --state r
expect "--help --hours --hours-per-trial" spotsweep estimate --gpus 4 --h
expect "explain" spotsweep rules ""
expect "--help --interval --json --watch -n -w" spotsweep status -
expect "--grace-s" spotsweep-agent --server http://x:8470 --g
# Without COMP_LINE (bash sets it; a caller may not): from COMP_WORDS alone.
got=$(cd "$T/cwd" && . "$BASHCOMP" && COMP_WORDS=(spotsweep w) && COMP_CWORD=1 &&
	COMPREPLY=() && _spotsweep && echo "${COMPREPLY[*]}")
[ "$got" = workers ] || fail "COMP_WORDS only: got '$got'"
# A store that does not exist is not created by completing sweep ids.
expect "" spotsweep --db nothing.db status ""
[ -e "$T/cwd/nothing.db" ] && fail "completion created a store"
[ -e "$T/cwd/spotsweep.db" ] && fail "completion created ./spotsweep.db"
ok "bash completion: commands, prefixes, options, specs, sweep ids, agent options"

# --- zsh completion ----------------------------------------------------------------------
ZSHCOMP=$DEST/usr/share/zsh/site-functions
if command -v zsh >/dev/null; then
	zsh -n "$ZSHCOMP/_spotsweep" || fail "zsh -n _spotsweep"
	got=$(HOME=$T zsh -f -c "fpath=($ZSHCOMP \$fpath); autoload -Uz compinit;
		compinit -u -d $T/zcompdump; print -r -- \$_comps[spotsweep] \$_comps[spotsweep-agent]")
	[ "$got" = "_spotsweep _spotsweep" ] || fail "zsh compinit: got '$got'"
	ok "zsh completion parses and is registered for both commands"
else
	echo "skip: zsh not installed: _spotsweep not checked"
fi

# --- systemd units -----------------------------------------------------------------------
# The cloud-init example's files, for the poller unit and the tests below.
python3 - "$ROOT/contrib/cloud-init/user-data.yaml" "$T/ci" <<'PY' || fail "cloud-init YAML"
import os, sys, yaml
src, out = sys.argv[1], sys.argv[2]
text = open(src).read()
assert text.startswith("#cloud-config\n"), "the first line must be #cloud-config"
d = yaml.safe_load(text)
assert isinstance(d, dict), "not a mapping"
# keys of cloud-init's schema that this example may use
known = {"package_update", "package_upgrade", "packages", "write_files", "runcmd", "users",
         "mounts", "bootcmd", "final_message"}
assert set(d) <= known, "unexpected keys: %s" % sorted(set(d) - known)
paths = {}
for f in d["write_files"]:
    assert set(f) <= {"path", "content", "owner", "permissions", "encoding", "append", "defer"}, f
    assert f["path"].startswith("/") and isinstance(f["content"], str) and f["content"], f["path"]
    assert str(f["permissions"]).startswith("0"), f["path"]
    paths[f["path"]] = f
for need in ("/etc/spotsweep/token", "/usr/local/lib/spotsweep/setup.sh",
             "/usr/local/lib/spotsweep/aws-spot-notice.sh",
             "/etc/systemd/system/spotsweep-aws-notice.service"):
    assert need in paths, "write_files has no " + need
assert paths["/etc/spotsweep/token"]["permissions"] == "0600", "the token must be 0600"
assert ["/usr/local/lib/spotsweep/setup.sh"] in d["runcmd"], "runcmd does not run setup.sh"
setup = paths["/usr/local/lib/spotsweep/setup.sh"]["content"]
for want in ("computeMetadata/v1/instance/preempted", "--notice-file /run/spotsweep-notice/",
             "spotsweep-agent@gpu", "Metadata-Flavor: Google", "latest/api/token"):
    assert want in setup, "setup.sh lacks " + want
os.makedirs(out)
for p, f in paths.items():
    with open(os.path.join(out, os.path.basename(p)), "w") as fh:
        fh.write(f["content"])
PY
for s in setup.sh aws-spot-notice.sh; do
	sh -n "$T/ci/$s" || fail "sh -n $s"
done
ok "cloud-init: valid YAML, the files and runcmd in place, the scripts parse"

# setup.sh on a stand-in VM: its paths moved under $T, the system's commands stubbed (the
# metadata servers answer as the cloud says, nvidia-smi lists two GPUs). Each cloud must
# get its notice settings and one agent per GPU.
mkdir -p "$T/stub"
for c in apt-get make systemctl systemd-sysusers install; do
	printf '#!/bin/sh\necho "%s $*" >>"$STUBLOG"\n' "$c" >"$T/stub/$c"
done
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/stub/tar"
printf '#!/bin/sh\necho "GPU 0: NVIDIA H100 (UUID: GPU-0)"\necho "GPU 1: NVIDIA H100 (UUID: GPU-1)"\n' \
	>"$T/stub/nvidia-smi"
cat >"$T/stub/curl" <<'SH'
#!/bin/sh
case "$*" in
*computeMetadata/v1/instance/id*) [ "$FAKE_CLOUD" = gcp ] || exit 7 ;;
*latest/api/token*) [ "$FAKE_CLOUD" = aws ] || exit 7; echo token ;;
*) echo "curl $*" >>"$STUBLOG" ;;
esac
SH
chmod 0755 "$T/stub"/*
for cloud in gcp aws none; do
	vm=$T/vm-$cloud
	mkdir -p "$vm/etc/spotsweep"
	sed "s|/etc/|$vm/etc/|g; s|/usr/local/src/|$vm/src/|g" "$T/ci/setup.sh" >"$vm/setup.sh"
	FAKE_CLOUD=$cloud STUBLOG=$vm/log PATH=$T/stub:$PATH sh "$vm/setup.sh" >"$vm/out" 2>&1 ||
		fail "setup.sh on $cloud: $(cat "$vm/out")"
	grep -q "spotsweep setup: cloud ${cloud/none/unknown}" "$vm/out" || fail "setup.sh took $cloud for $(cat "$vm/out")"
	grep -q "^make -C $vm/src/spotsweep install PREFIX=/usr/local\$" "$vm/log" ||
		fail "setup.sh on $cloud did not build and install"
	for g in 0 1; do
		env=$vm/etc/spotsweep/agent-gpu$g.env
		[ -f "$env" ] || fail "$cloud: no agent-gpu$g.env"
		grep -qx "CUDA_VISIBLE_DEVICES=$g" "$env" || fail "$cloud: gpu$g's CUDA_VISIBLE_DEVICES"
		grep -qx 'SPOTSWEEP_AGENT_SERVER=http://.*' "$env" || fail "$cloud: no server in $env"
		grep -qx "systemctl enable --now spotsweep-agent@gpu$g.service" "$vm/log" ||
			fail "$cloud: spotsweep-agent@gpu$g not started"
	done
	case $cloud in
	gcp)
		grep -qx 'SPOTSWEEP_AGENT_ARGS=--pool [^ ]* --notice-url http://metadata.google.internal/computeMetadata/v1/instance/preempted' \
			"$env" || fail "gcp: notice settings: $(cat "$env")"
		grep -qx 'SPOTSWEEP_AGENT_GRACE_S=20' "$env" || fail "gcp: grace" ;;
	aws)
		grep -qx 'SPOTSWEEP_AGENT_ARGS=--pool [^ ]* --notice-file /run/spotsweep-notice/instance-action' \
			"$env" || fail "aws: notice settings: $(cat "$env")"
		grep -qx 'SPOTSWEEP_AGENT_GRACE_S=90' "$env" || fail "aws: grace"
		grep -qx 'systemctl enable --now spotsweep-aws-notice.service' "$vm/log" ||
			fail "aws: the notice poller not started"
		grep -qx 'TimeoutStopSec=135' "$vm/etc/systemd/system/spotsweep-agent@.service.d/aws.conf" ||
			fail "aws: no TimeoutStopSec drop-in" ;;
	none)
		grep -q -- '--notice' "$env" && fail "no cloud, but notice settings: $(cat "$env")" ;;
	esac
done
ok "cloud-init setup.sh: GCP notice URL, AWS notice file and poller, one agent per GPU"

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	for u in spotsweep.service spotsweep-agent@.service; do
		sed "s|=/usr/bin/|=$DEST/usr/bin/|" "$DEST/usr/lib/systemd/system/$u" >"$T/units/$u"
	done
	sed "s|=/usr/local/lib/spotsweep/|=$T/ci/|" "$T/ci/spotsweep-aws-notice.service" \
		>"$T/units/spotsweep-aws-notice.service"
	chmod 0755 "$T/ci/aws-spot-notice.sh"
	(cd "$T/units" && MANPATH=$MANDIR systemd-analyze verify ./spotsweep.service \
		./spotsweep-agent@gpu0.service ./spotsweep-aws-notice.service) >"$T/verify.log" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T/verify.log")"
	[ -s "$T/verify.log" ] && fail "systemd-analyze verify warned: $(cat "$T/verify.log")"
	# The stop sequence: SIGTERM to the agent alone, time for grace + reports.
	grep -qx 'KillMode=mixed' "$T/units/spotsweep-agent@.service" || fail "agent KillMode"
	grep -qx 'TimeoutStopSec=90' "$T/units/spotsweep-agent@.service" || fail "agent TimeoutStopSec"
	grep -qx 'Environment=SPOTSWEEP_AGENT_GRACE_S=25' "$T/units/spotsweep-agent@.service" ||
		fail "agent grace default"
	ok "systemd-analyze verify accepts the units"
else
	echo "skip: systemd-analyze not installed: the units were not verified"
fi

# --- the AWS notice poller against a stand-in IMDSv2, then an agent acting on it -----------
cat >"$T/imds.py" <<'PY'
# IMDSv2 as the poller sees it: PUT /latest/api/token gives a token; a GET without a valid
# token is 401; the instance-action is 404 until the file "$1/go" exists. The first token is
# revoked after one use, as an expired one would be.
import http.server, os, sys
state, issued, revoked = sys.argv[1], [0], set()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400)
        issued[0] += 1
        self.reply(200, b"token-%d" % issued[0])
    def do_GET(self):
        tok = self.headers.get("X-aws-ec2-metadata-token", "")
        if not tok.startswith("token-") or tok in revoked:
            return self.reply(401)
        if tok == "token-1":
            revoked.add(tok)
        with open(os.path.join(state, "log"), "a") as f:
            f.write(tok + "\n")
        if self.path != "/latest/meta-data/spot/instance-action" or not os.path.exists(os.path.join(state, "go")):
            return self.reply(404)
        self.reply(200, b'{"action": "terminate", "time": "2030-01-01T00:00:00Z"}')
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
mkdir -p "$T/imds" "$T/notice"
# gone PID: the process has exited (an unreaped child, a zombie, counts).
gone() {
	local s
	s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
	[ -z "$s" ] || [ "$s" = Z ]
}
python3 "$T/imds.py" "$T/imds" >"$T/imds.port" 2>"$T/imds.log" &
track $!
wait_for 30 test -s "$T/imds.port" || fail "the stand-in IMDS did not start"
IMDS_URL=http://127.0.0.1:$(cat "$T/imds.port") NOTICE_FILE=$T/notice/instance-action POLL_S=0.2 \
	sh "$T/ci/aws-spot-notice.sh" >"$T/poller.log" 2>&1 &
poller=$!
track $poller
wait_for 30 grep -q token-2 "$T/imds/log" || fail "the poller did not renew a refused token"
[ -e "$T/notice/instance-action" ] && fail "a notice file before any notice"
start_server
start_agent noticed --notice-file "$T/notice/instance-action"
noticed=$AGENT_PID
wait_for 30 grep -q 'registered with' "$T/agent-noticed.log" || fail "the agent did not register"
touch "$T/imds/go"
wait_for 30 test -s "$T/notice/instance-action" || fail "the poller wrote no notice"
grep -q '"action": "terminate"' "$T/notice/instance-action" || fail "notice content"
wait_for 30 gone "$poller" || fail "the poller did not exit after the notice"
wait "$poller" || fail "the poller exited $?"
ls "$T/notice" | grep -q tmp && fail "the poller left a temporary file"
wait_for 30 gone "$noticed" || fail "the agent ignored the notice file"
wait "$noticed" || fail "the agent exited $? on the notice"
grep -q "termination notice ($T/notice/instance-action appeared)" "$T/agent-noticed.log" ||
	fail "the agent did not log the notice: $(tail -n 3 "$T/agent-noticed.log")"
ok "AWS IMDSv2 poller: token renewed, notice written atomically, the agent stopped on it"

# --- the Python helper -------------------------------------------------------------------
PYTHONPATH=$DEST/usr/share/spotsweep/python python3 -c 'import spotsweep_trainer' ||
	fail "the installed helper does not import"
python3 -m unittest discover -s contrib/python -t contrib/python >"$T/unittest.log" 2>&1 ||
	fail "python unittest: $(tail -n 30 "$T/unittest.log")"
grep -q '^OK' "$T/unittest.log" || fail "python unittest: $(tail -n 5 "$T/unittest.log")"
ok "python helper: installed, unit tests pass"
