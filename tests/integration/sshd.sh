# A private OpenSSH server on 127.0.0.1 for the SSH dispatch tests, sourced after lib.sh:
# its own config, a generated ed25519 host key and user key under $T/sshd, key-only root
# login, a free high port. start_sshd sets SSHD_PORT, SSHD_PID, SSH_KEY and SSH_OPTS (the
# client options a test's config passes as "ssh_options"); the process is tracked by PID
# and stopped by lib.sh's cleanup. Needs root (for root login) and openssh-server.

# A port nothing listens on, from the high range.
free_port() {
	local p i
	for i in $(seq 50); do
		p=$(( 20000 + RANDOM % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

start_sshd() {
	local d="$T/sshd" i try
	[ -x /usr/sbin/sshd ] || fail "/usr/sbin/sshd is missing (make deps installs openssh-server)"
	command -v ssh >/dev/null || fail "ssh is missing (make deps installs openssh-client)"
	[ "$(id -u)" = 0 ] || fail "the ssh tests log in as root and must run as root"
	mkdir -p "$d" && chmod 700 "$d"
	# sshd's compiled-in privilege separation directory.
	mkdir -p -m 0755 /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_ed25519" -C spotsweep-test-host
	ssh-keygen -q -t ed25519 -N '' -f "$d/client_ed25519" -C spotsweep-test-client
	cp "$d/client_ed25519.pub" "$d/authorized_keys"
	chmod 600 "$d/authorized_keys"
	for try in 1 2 3 4 5; do
		SSHD_PORT=$(free_port) || fail "no free port for sshd"
		# StrictModes no: the keys live under /tmp. MaxStartups/MaxSessions: the tests
		# open many sessions at once, several over one shared connection.
		cat >"$d/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $d/host_ed25519
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
EOF
		/usr/sbin/sshd -t -f "$d/sshd_config" || fail "sshd -t rejected the test config"
		rm -f "$d/sshd.pid"
		# An absolute path: sshd re-executes itself. It daemonizes once its PidFile is written.
		/usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || continue
		for i in $(seq 200); do [ -s "$d/sshd.pid" ] && break; sleep 0.02; done
		[ -s "$d/sshd.pid" ] || continue
		SSHD_PID=$(cat "$d/sshd.pid")
		track "$SSHD_PID"
		for i in $(seq 200); do
			(exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null && break
			sleep 0.02
		done
		SSH_KEY="$d/client_ed25519"
		# A short ControlPersist: a control master outlives a scheduler that was killed
		# (not stopped) by that long at most.
		SSH_OPTS="\"UserKnownHostsFile=$d/known_hosts\", \"ControlPersist=5\""
		ssh -p "$SSHD_PORT" -i "$SSH_KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
			-o "UserKnownHostsFile=$d/known_hosts" -o LogLevel=ERROR root@127.0.0.1 true \
			</dev/null && return 0
		kill -TERM "$SSHD_PID" 2>/dev/null
	done
	cat "$d/sshd.log" >&2 2>/dev/null
	fail "could not start a test sshd"
}

# host_entry HOST SLOTS: one "hosts" item of a config for the test sshd.
host_entry() {
	printf '{"host": "%s", "user": "root", "port": %s, "slots": %s, "identity_file": "%s"}' \
		"$1" "$SSHD_PORT" "$2" "$SSH_KEY"
}

# ssh_pool NAME HOSTS_JSON [EXTRA_JSON_MEMBERS]: an ssh pool whose agent is $AGENT with its
# work directory under $T (a marker that also finds the pool's ssh clients) and the agent
# arguments in $AGENT_EXTRA_ARGS (JSON strings, e.g. '"--grace-s", "3"').
ssh_pool() {
	printf '{"name": "%s", "class": "on-demand", "price_per_hour": 2.0, "dispatch": "ssh", "hosts": [%s], "agent_path": "%s", "agent_args": ["--workdir", "%s/remote-work"%s], "ssh_options": [%s]%s}' \
		"$1" "$2" "$AGENT" "$T" "${AGENT_EXTRA_ARGS:+, $AGENT_EXTRA_ARGS}" "$SSH_OPTS" "${3:+, $3}"
}

# ssh_clients: the PIDs of the scheduler's ssh clients for this test's pools (not the
# control masters, whose command line is rewritten to "ssh: PATH [mux]").
ssh_clients() { pgrep -f "^ssh .*--stdio.*$T/remote-work"; }

# no_agent_failures: the remote agents' messages reach the scheduler's log only when an agent
# fails (exit status other than 0); under `make sanitize` that is where their reports land.
no_agent_failures() {
	if grep -E "Sanitizer|runtime error|the agent of trial .* exited with status" "$T/server.log" >&2; then
		fail "a remote agent failed"
	fi
	ok "no remote agent failed"
}
