# A private single-node Slurm on 127.0.0.1 for the Slurm pool tests, sourced after lib.sh:
# munged with its own key and socket, slurmctld and slurmd with a minimal slurm.conf under
# $T/slurm, free high ports, everything as root. start_slurm exports SLURM_CONF (every Slurm
# client command needs it) and sets SLURM_DIR; the EXIT trap cancels every job of this private
# cluster, waits for them, and stops slurmd, slurmctld and munged by PID, before lib.sh's own
# cleanup. If the daemons cannot be started the test fails, loudly: it never skips.
#
# Facts this relies on (Debian 12's slurm-wlm 22.05): no cgroups, no accounting daemon
# (sacct does not work: squeue and scontrol do), slurmd needs -N when the host name is not
# the node's, the munge socket's directory must be world-executable, and a requeued job is
# held about 120 s unless its start time is moved (slurm_release_now).

# A TCP port nothing listens on, from the high range.
slurm_free_port() {
	local p i
	for i in $(seq 50); do
		p=$(( 20000 + RANDOM % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

SLURM_DIR=""
SLURM_PIDS=""

# A daemon reparented to PID 1 may stay a zombie for a while: that counts as gone.
slurm_pid_gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ]
}

slurm_fail_logs() {
	local f
	for f in "$SLURM_DIR"/log/*.log "$SLURM_DIR"/munge/munged.log; do
		[ -e "$f" ] || continue
		echo "--- $f" >&2
		tail -n 20 "$f" >&2
	done
}

# Stops what start_slurm started: the scheduler first (it would submit again), then every
# job of the private cluster, then the daemons in reverse order, each by its PID.
slurm_stop() {
	local p i
	[ -n "${SERVER_PID:-}" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	if [ -n "$SLURM_DIR" ] && [ -n "${SLURM_CONF:-}" ] && [ -n "$SLURM_PIDS" ]; then
		scancel --full --signal=KILL --user=root 2>/dev/null
		scancel --user=root 2>/dev/null
		for i in $(seq 100); do
			[ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
			sleep 0.1
		done
	fi
	for p in $SLURM_PIDS; do
		kill -TERM "$p" 2>/dev/null || continue
		for i in $(seq 50); do slurm_pid_gone "$p" && break; sleep 0.1; done
		slurm_pid_gone "$p" || kill -KILL "$p" 2>/dev/null
	done
	SLURM_PIDS=""
}

slurm_cleanup() {
	slurm_stop
	cleanup
}
trap slurm_cleanup EXIT

# start_slurm [CPUS]: the private cluster with one node of CPUS (default 8) CPUs in partition
# "debug"; returns once the node is idle.
start_slurm() {
	local cpus=${1:-8} s i ctld_port d_port p
	[ "$(id -u)" = 0 ] || fail "the Slurm tests run slurmctld and slurmd as root and must run as root"
	for p in munged mungekey slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
		command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
			fail "$p is missing (make deps installs slurm-wlm and munge)"
	done
	PATH=$PATH:/usr/sbin
	s="$T/slurm"
	SLURM_DIR=$s
	# munged refuses a socket below a directory that is not world-executable.
	chmod go+x "$T"
	mkdir -p -m 755 "$s" "$s/munge"
	mkdir -p "$s/etc" "$s/spool/ctld" "$s/spool/d" "$s/log" "$s/run" "$s/jobs"
	mungekey --create --keyfile="$s/munge/munge.key" >/dev/null 2>&1 ||
		fail "mungekey --create failed"
	chmod 600 "$s/munge/munge.key"
	munged --socket="$s/munge/munge.sock" --key-file="$s/munge/munge.key" \
		--log-file="$s/munge/munged.log" --pid-file="$s/munge/munged.pid" \
		--seed-file="$s/munge/munged.seed" || { slurm_fail_logs; fail "munged did not start"; }
	SLURM_PIDS="$(cat "$s/munge/munged.pid")"
	munge --socket="$s/munge/munge.sock" -n | unmunge --socket="$s/munge/munge.sock" >/dev/null ||
		{ slurm_fail_logs; fail "munge round trip failed"; }
	ctld_port=$(slurm_free_port) || fail "no free port for slurmctld"
	d_port=$(slurm_free_port) || fail "no free port for slurmd"
	[ "$ctld_port" != "$d_port" ] || d_port=$(( ctld_port + 1 ))
	cat >"$s/etc/slurm.conf" <<EOF
ClusterName=spotsweeptest
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$s/munge/munge.sock
StateSaveLocation=$s/spool/ctld
SlurmdSpoolDir=$s/spool/d
SlurmctldPidFile=$s/run/slurmctld.pid
SlurmdPidFile=$s/run/slurmd.pid
SlurmctldLogFile=$s/log/slurmctld.log
SlurmdLogFile=$s/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
JobRequeue=0
KillWait=5
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
	export SLURM_CONF="$s/etc/slurm.conf"
	slurmctld || { slurm_fail_logs; fail "slurmctld did not start"; }
	for i in $(seq 100); do [ -s "$s/run/slurmctld.pid" ] && break; sleep 0.05; done
	SLURM_PIDS="$(cat "$s/run/slurmctld.pid") $SLURM_PIDS"
	for i in $(seq 200); do scontrol ping >/dev/null 2>&1 && break; sleep 0.05; done
	scontrol ping >/dev/null 2>&1 || { slurm_fail_logs; fail "slurmctld does not answer"; }
	slurmd -N localhost || { slurm_fail_logs; fail "slurmd did not start"; }
	for i in $(seq 100); do [ -s "$s/run/slurmd.pid" ] && break; sleep 0.05; done
	SLURM_PIDS="$(cat "$s/run/slurmd.pid") $SLURM_PIDS"
	for i in $(seq 300); do [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && break; sleep 0.1; done
	[ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] ||
		{ slurm_fail_logs; fail "the Slurm node is not idle: $(sinfo -h -N -o '%T %E' 2>&1)"; }
	echo "slurm: up (slurmctld :$ctld_port, slurmd :$d_port, $cpus CPUs)"
}

# slurm_jobs [STATES]: the ids of this cluster's jobs in STATES (squeue's --states; default
# pending and running ones), one per line.
slurm_jobs() { squeue -h -o %i ${1:+--states="$1"}; }
# slurm_njobs [STATES]: how many.
slurm_njobs() { slurm_jobs "${1:-}" | grep -c .; }
# slurm_job_state JOB: Slurm's state of the job (PENDING, RUNNING, COMPLETED, ...).
slurm_job_state() { squeue -h -j "$1" --states=all -o %T 2>/dev/null; }
# slurm_release_now JOB: a requeued job is eligible again now rather than in ~120 s.
slurm_release_now() { scontrol update jobid="$1" StartTime=now; }

# slurm_pool NAME [EXTRA_JSON_MEMBERS]: a slurm pool of this cluster whose jobs run $AGENT
# with its work directory and job output under $T.
slurm_pool() {
	printf '{"name": "%s", "class": "spot", "price_per_hour": 1.2, "dispatch": "slurm", "partition": "debug", "agent_path": "%s", "agent_args": ["--workdir", "%s/work"], "sbatch_args": ["--output=%s/slurm/jobs/%%j.out", "--chdir=%s"]%s}' \
		"$1" "$AGENT" "$T" "$T" "$T" "${2:+, $2}"
}
