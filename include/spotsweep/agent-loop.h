/* The agent's main loop: one thread, one wait (curl's sockets, the trials' output pipes and
 * a self-pipe for signals), and a tick that registers with the scheduler, leases trials into
 * free slots, runs their timers, delivers their reports, watches for termination notices and
 * runs the preemption sequence: SIGTERM to every trial's process group, SIGKILL after the
 * grace period, a `preempted` report for each attempt, exit. */
#ifndef SPOTSWEEP_AGENT_LOOP_H
#define SPOTSWEEP_AGENT_LOOP_H

#include <stdbool.h>

/* Trials failing this soon after starting, this many times in a row, pause leasing. */
#define AGENT_QUICK_FAIL_S	60.0
#define AGENT_QUICK_FAIL_RUN	3
#define AGENT_PAUSE_MIN_S	60.0
#define AGENT_PAUSE_MAX_S	600.0
/* Grace for a trial past its timeout_s: never more than this. */
#define AGENT_TIMEOUT_GRACE_S	10.0
/* After the last trial of a preemption died, how long reports are still retried. */
#define AGENT_PREEMPT_REPORT_S	30.0

/* What the command line decided. Strings are owned by the caller. */
struct agent_config {
	const char	*server_url;	/* without a trailing slash */
	const char	*token;		/* NULL when none */
	const char	*pool;		/* NULL when none */
	const char	*name;
	const char	*hostname;
	long		 slots;
	const char	*workdir;	/* absolute, exists */
	const char	*notice_url;	/* NULL when none */
	const char	*notice_file;	/* NULL when none */
	double		 grace_s;
	bool		 once;
	double		 idle_exit_s;	/* 0 = never */
};

/* Runs the agent until it is told to stop (signal, notice, --once, --idle-exit-s) or the
 * scheduler refuses it. Returns the process exit status: 0, or 1 when the scheduler refused
 * the registration or reports could not be delivered before exiting. */
int agent_run(const struct agent_config *cfg);

#endif
