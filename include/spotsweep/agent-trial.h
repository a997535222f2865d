/* One attempt run by the agent: set up from a lease (directories, log file, output reader,
 * command and environment), spawned under /bin/sh -c in its own process group, read, stopped
 * (SIGTERM to the group, SIGKILL after a grace period), reaped, and described by a finish
 * report. It also holds the attempt's outbox: metric points not yet acknowledged, checkpoint
 * reports in order, and the kept-checkpoint list. Sending is agent-report.c's job. */
#ifndef SPOTSWEEP_AGENT_TRIAL_H
#define SPOTSWEEP_AGENT_TRIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "spotsweep/agent-http.h"
#include "spotsweep/agent-output.h"

/* Bytes of the end of the output sent as log_tail. */
#define AGENT_LOG_TAIL		4096
/* How long output is still read after the trial's process ended. */
#define AGENT_DRAIN_S		2.0
/* Grace given to a trial whose output matched a fatal pattern. */
#define AGENT_FATAL_GRACE_S	5.0
/* Unacknowledged points kept per attempt while the scheduler is unreachable. */
#define AGENT_MAX_POINTS	1000000
/* Checkpoint reports waiting for the scheduler at most; a trial reporting more while they
 * wait has the newer ones refused (logged), so its memory stays bounded. */
#define AGENT_MAX_PENDING_CHECKPOINTS	1000

enum agent_trial_phase {
	AGENT_TRIAL_RUNNING,	/* the process is alive */
	AGENT_TRIAL_DRAINING,	/* reaped; reading what is left in the pipe */
	AGENT_TRIAL_ENDED,	/* its outcome is known; reports are being delivered */
	AGENT_TRIAL_PHASE_MAX
};

/* Why the agent stopped a trial; the first reason wins, except that a stale lease (409)
 * overrides every other (nothing is reported for it). */
enum agent_stop {
	AGENT_STOP_NONE,
	AGENT_STOP_TIMEOUT,	/* timeout_s passed: failed, "timeout" */
	AGENT_STOP_FATAL,	/* a fatal pattern matched: failed with fatal_match */
	AGENT_STOP_CANCEL,	/* heartbeat said cancel: cancelled */
	AGENT_STOP_PREEMPT,	/* SIGTERM or a termination notice: preempted */
	AGENT_STOP_STALE,	/* the scheduler refused our attempt: dropped silently */
	AGENT_STOP_MAX
};

struct agent_report_ctx;

struct agent_point {
	const char *name;	/* interned in the trial's names */
	int64_t	 step;
	double	 value;
	double	 at;		/* wall clock */
};

struct agent_ckpt {
	char	*path;
	int64_t	 step;
};

struct agent_trial {
	int64_t			 sweep_id;
	int64_t			 trial_id;
	int64_t			 attempt;
	char			*label;		/* "trial 42 attempt 2", for logs */
	char			*lease_secret;	/* sent back with every report; never logged */
	json_t			*params;
	char			*command;	/* expanded */
	char			*ckpt_dir;	/* absolute */
	char			*log_path;
	char			*attempt_dir;	/* W&B's files (agent-wandb.c), or NULL */
	char			*args_file;	/* ${args_json_file}, or NULL */
	bool			 wandb_shim;	/* the wandb shim is first on PYTHONPATH */
	bool			 marked_preempting; /* the trial said it is being preempted */
	char			*resume_from;
	double			 heartbeat_s;
	double			 timeout_s;	/* 0 = none */
	long			 checkpoint_keep; /* 0 = keep all */

	enum agent_trial_phase	 phase;
	pid_t			 pid;		/* also the process group id */
	int			 out_fd;	/* read end of the output pipe, -1 when closed */
	int			 log_fd;
	bool			 log_failed;
	bool			 overlong_logged;
	struct agent_output	*out;
	char			 tail[AGENT_LOG_TAIL];	/* ring of the last output bytes */
	size_t			 tail_len;
	size_t			 tail_pos;

	double			 start_mono;
	double			 start_wall;
	double			 end_mono;
	double			 drain_until;
	double			 kill_at;	/* when SIGKILL is due; 0 = not stopping */
	bool			 term_sent;
	bool			 kill_sent;
	int			 wait_status;
	bool			 exited;	/* wait_status is valid */
	bool			 reaped;
	char			*start_error;	/* set when the trial could not start */

	enum agent_stop		 stop;
	char			*stop_reason;	/* reason text for a preemption */
	char			*fatal_match;

	/* Outbox. One request in flight at a time keeps the reports in order. */
	struct agent_point	*points;	/* unsent: points[points_off .. +npoints) */
	size_t			 points_off;
	size_t			 npoints;
	size_t			 points_cap;
	char			**names;	/* metric names, each stored once */
	size_t			 nnames;
	uint64_t		 points_dropped;
	struct agent_ckpt	*ckq;		/* checkpoint reports not yet acknowledged */
	size_t			 nckq;
	size_t			 ckq_cap;
	char			**kept;		/* kept checkpoints, newest first */
	size_t			 nkept;
	double			 next_heartbeat;
	bool			 inflight;
	size_t			 inflight_points;	/* points carried by the request in flight */
	double			 retry_at;
	struct agent_backoff	 backoff;
	bool			 finish_done;	/* acknowledged, refused, or not to be sent */
	int			 inflight_kind;	/* agent-report.c's request kind */
	unsigned		 report_failures;	/* in a row, for quieter logs */
	struct agent_report_ctx	*rctx;
	bool			 end_noted;	/* the loop has counted its end */

	struct agent_trial	*next;
};

/* Adds what identifies the attempt's lease to a report: "attempt", "worker_id" and
 * "lease_secret" (when the lease carried one). */
void agent_trial_report_ids(const struct agent_trial *t, int64_t worker_id, json_t *o);

/* Creates the directory and its parents (mode 0755); -1 with *cause. */
int agent_mkdirs(const char *path, char **cause);

/* Builds an attempt from a lease response: directories under workdir, the log file, the
 * output reader, the expanded command. On a lease that cannot be run (a bad pattern, a
 * directory that cannot be made) the attempt is still returned, already ENDED as failed with
 * start_error, so that its failure is reported. NULL with *cause only when the lease itself
 * is unusable (no trial id): nothing can be reported for it. */
struct agent_trial *agent_trial_create(const json_t *lease, const char *workdir,
    double default_heartbeat_s, char **cause);
void agent_trial_free(struct agent_trial *t);

/* Forks /bin/sh -c COMMAND in a new process group with the trial's environment, output to
 * a pipe. On failure the attempt ends as failed with start_error. */
void agent_trial_spawn(struct agent_trial *t, double now);

/* Reads what output is available (bounded per call), appends it to the log file and feeds
 * the reader. Returns true while the pipe is open. */
bool agent_trial_read(struct agent_trial *t, double now);

/* Notes the end of the trial's process without blocking. When it ended, the rest of its
 * process group is killed and the phase becomes DRAINING. */
void agent_trial_check_exit(struct agent_trial *t, double now);

/* Ends an attempt that was never spawned, for reason why (a lease that arrived while the
 * agent was already stopping). */
void agent_trial_abort(struct agent_trial *t, enum agent_stop why, const char *reason_text,
    double now);

/* Asks the trial to stop: SIGTERM to its process group, SIGKILL after grace_s (0: at once).
 * reason_text is kept for preemption reports (may be NULL). */
void agent_trial_stop(struct agent_trial *t, enum agent_stop why, double grace_s,
    const char *reason_text, double now);

/* Timers: SIGKILL when the grace period is over, the timeout, the end of draining. Returns
 * the next time this trial needs attention (monotonic), or 0. */
double agent_trial_tick(struct agent_trial *t, double now, double timeout_grace_s);

/* The finish request body (attempt, worker_id, outcome...), carrying at most max_points of
 * the outbox's points; *npoints says how many it carries. Caller frees. */
char *agent_trial_finish_body(const struct agent_trial *t, int64_t worker_id,
    size_t max_points, size_t *npoints);
/* The outcome name the finish report will carry ("succeeded", "failed", ...). */
const char *agent_trial_outcome(const struct agent_trial *t);
/* "exit status 3", "killed by signal 9", "timeout", ... or NULL for success. Caller frees. */
char *agent_trial_reason(const struct agent_trial *t);
/* True when the attempt failed soon after it started (for the broken-machine guard). */
bool agent_trial_quick_failure(const struct agent_trial *t, double within_s);

/* A JSON array of at most max_points of the outbox's points, oldest first; *n says how many.
 * Caller decrefs. */
json_t *agent_trial_points_json(const struct agent_trial *t, size_t max_points, size_t *n);
/* Drops the first n points of the outbox (they were acknowledged). */
void agent_trial_points_sent(struct agent_trial *t, size_t n);
/* Records an acknowledged checkpoint as the newest kept one and deletes, from the trial's
 * checkpoint directory only, the files that fall beyond checkpoint_keep. */
void agent_trial_checkpoint_acked(struct agent_trial *t, const char *path);
/* The newest kept checkpoint, or "" if none. */
const char *agent_trial_newest_checkpoint(const struct agent_trial *t);

#endif
