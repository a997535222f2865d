# `make install DESTDIR=... PREFIX=/usr` puts every file in its place with sane modes, and
# what it installs works: the man pages render without a warning and document every command
# and option the binaries accept; the bash completion completes commands, options, spec files
# and sweep ids; the zsh completion parses and registers; systemd-analyze verify accepts the
# units (the binary's path pointed at the installed one); the cloud-init example is valid
# YAML whose setup script gives each cloud its notice settings and one agent per GPU; the
# Python helper's unit tests pass.
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
# The cloud-init example's files, for the tests below.
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
for need in ("/etc/spotsweep/token", "/usr/local/lib/spotsweep/setup.sh"):
    assert need in paths, "write_files has no " + need
assert paths["/etc/spotsweep/token"]["permissions"] == "0600", "the token must be 0600"
assert ["/usr/local/lib/spotsweep/setup.sh"] in d["runcmd"], "runcmd does not run setup.sh"
setup = paths["/usr/local/lib/spotsweep/setup.sh"]["content"]
for want in ("computeMetadata/v1/instance/preempted",
             "169.254.169.254/latest/meta-data/spot/instance-action",
             "spotsweep-agent@gpu", "Metadata-Flavor: Google", "latest/api/token"):
    assert want in setup, "setup.sh lacks " + want
os.makedirs(out)
for p, f in paths.items():
    with open(os.path.join(out, os.path.basename(p)), "w") as fh:
        fh.write(f["content"])
PY
sh -n "$T/ci/setup.sh" || fail "sh -n setup.sh"
ok "cloud-init: valid YAML, the files and runcmd in place, the scripts parse"

# setup.sh on a stand-in VM: its paths moved under $T, the system's commands replaced by
# stand-ins that log their arguments (the metadata servers answer as the cloud says,
# nvidia-smi lists two GPUs). Each cloud must get its notice settings and one agent per GPU.
mkdir -p "$T/standin"
for c in apt-get make systemctl systemd-sysusers install; do
	printf '#!/bin/sh\necho "%s $*" >>"$STANDIN_LOG"\n' "$c" >"$T/standin/$c"
done
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/standin/tar"
printf '#!/bin/sh\necho "GPU 0: NVIDIA H100 (UUID: GPU-0)"\necho "GPU 1: NVIDIA H100 (UUID: GPU-1)"\n' \
	>"$T/standin/nvidia-smi"
cat >"$T/standin/curl" <<'SH'
#!/bin/sh
case "$*" in
*computeMetadata/v1/instance/id*) [ "$FAKE_CLOUD" = gcp ] || exit 7 ;;
*latest/api/token*) [ "$FAKE_CLOUD" = aws ] || exit 7; echo token ;;
*) echo "curl $*" >>"$STANDIN_LOG" ;;
esac
SH
chmod 0755 "$T/standin"/*
for cloud in gcp aws none; do
	vm=$T/vm-$cloud
	mkdir -p "$vm/etc/spotsweep"
	sed "s|/etc/|$vm/etc/|g; s|/usr/local/src/|$vm/src/|g" "$T/ci/setup.sh" >"$vm/setup.sh"
	FAKE_CLOUD=$cloud STANDIN_LOG=$vm/log PATH=$T/standin:$PATH sh "$vm/setup.sh" >"$vm/out" 2>&1 ||
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
		grep -qx 'SPOTSWEEP_AGENT_ARGS=--pool [^ ]* --notice-url http://169.254.169.254/latest/meta-data/spot/instance-action' \
			"$env" || fail "aws: notice settings: $(cat "$env")"
		grep -qx 'SPOTSWEEP_AGENT_GRACE_S=90' "$env" || fail "aws: grace"
		grep -qx 'TimeoutStopSec=135' "$vm/etc/systemd/system/spotsweep-agent@.service.d/aws.conf" ||
			fail "aws: no TimeoutStopSec drop-in" ;;
	none)
		grep -q -- '--notice' "$env" && fail "no cloud, but notice settings: $(cat "$env")" ;;
	esac
done
ok "cloud-init setup.sh: GCP and AWS notice URLs, one agent per GPU"

if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	for u in spotsweep.service spotsweep-agent@.service; do
		sed "s|=/usr/bin/|=$DEST/usr/bin/|" "$DEST/usr/lib/systemd/system/$u" >"$T/units/$u"
	done
	(cd "$T/units" && MANPATH=$MANDIR systemd-analyze verify ./spotsweep.service \
		./spotsweep-agent@gpu0.service) >"$T/verify.log" 2>&1 ||
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

# --- the Python helper -------------------------------------------------------------------
PYTHONPATH=$DEST/usr/share/spotsweep/python python3 -c 'import spotsweep_trainer' ||
	fail "the installed helper does not import"
python3 -m unittest discover -s contrib/python -t contrib/python >"$T/unittest.log" 2>&1 ||
	fail "python unittest: $(tail -n 30 "$T/unittest.log")"
grep -q '^OK' "$T/unittest.log" || fail "python unittest: $(tail -n 5 "$T/unittest.log")"
ok "python helper: installed, unit tests pass"
