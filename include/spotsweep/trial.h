/* The trial state machine: the only module that changes a trial's state or an attempt's
 * outcome. Each operation checks that its transition is legal and writes the change and its
 * consequences (attempt row, counters, event) inside the caller's transaction. A report
 * naming an attempt that is not the trial's current one is refused with TRIAL_ESTALE. */
#ifndef SPOTSWEEP_TRIAL_H
#define SPOTSWEEP_TRIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/store.h"

enum trial_state {
	TRIAL_PENDING,
	TRIAL_RUNNING,
	TRIAL_SUCCEEDED,
	TRIAL_PRUNED,
	TRIAL_ABANDONED,
	TRIAL_CANCELLED,
	TRIAL_STATE_MAX
};

enum attempt_outcome {
	OUTCOME_RUNNING,	/* no outcome yet (NULL in the store) */
	OUTCOME_SUCCEEDED,
	OUTCOME_FAILED,
	OUTCOME_PREEMPTED,
	OUTCOME_LOST,
	OUTCOME_CANCELLED,
	OUTCOME_PRUNED,
	OUTCOME_MAX
};

/* Result codes of the trial operations. */
enum trial_rc {
	TRIAL_OK = 0,
	TRIAL_ERROR = -1,	/* database or internal error, *cause set */
	TRIAL_ESTALE = -2,	/* the attempt is not the trial's current one: nothing changed */
	TRIAL_EILLEGAL = -3,	/* the transition is not allowed from the current state */
	TRIAL_ENOENT = -4	/* no such trial */
};

const char *trial_state_name(enum trial_state s);
bool trial_state_parse(const char *name, enum trial_state *out);
const char *attempt_outcome_name(enum attempt_outcome o);
bool attempt_outcome_parse(const char *name, enum attempt_outcome *out);
/* True when the machine allows from -> to. */
bool trial_transition_legal(enum trial_state from, enum trial_state to);
/* True for succeeded, pruned, abandoned, cancelled. */
bool trial_state_final(enum trial_state s);

/* Changes a trial's state inside the caller's transaction, checking legality against the
 * stored state, and records a "trial.<state>" event with reason. */
int trial_transition(struct store *st, int64_t trial_id, enum trial_state to,
    const char *reason, char **cause);

/* One metric observation. */
struct metric_point {
	const char	*name;
	int64_t		 step;
	double		 value;
	double		 at;
};

/* What a lease hands a worker. Strings are owned by the lease; lease_clear() frees them. */
struct lease {
	int64_t	 sweep_id;
	int64_t	 trial_id;
	int64_t	 attempt;
	char	*params;	/* JSON object */
	char	*resume_from;	/* newest checkpoint, "" if none */
	char	*checkpoints;	/* JSON array, newest first */
	double	 lease_expires;
};
void lease_clear(struct lease *l);

struct lease_request {
	int64_t		 worker_id;
	const char	*pool;		/* may be NULL */
	const char	*pool_class;	/* "spot" | "on-demand" | NULL */
	double		 price_per_hour;
	int		 gpus;
	double		 lease_timeout_s;
	double		 now;
};

/* Leases the oldest pending trial of the oldest active sweep whose backoff has passed:
 * pending -> running, a new attempt row. Returns 1 with *l filled, 0 when there is no work. */
int trial_lease(struct store *st, const struct lease_request *req, struct lease *l,
    char **cause);

/* Extends the lease and stores metric points (idempotent per trial/attempt/name/step).
 * *cancel is set when the trial was cancelled or pruned and the worker must stop it. */
int trial_heartbeat(struct store *st, int64_t trial_id, int64_t attempt,
    const struct metric_point *pts, size_t npts, double lease_timeout_s, double now,
    bool *cancel, char **cause);

/* Records a checkpoint reported by the current attempt. */
int trial_checkpoint(struct store *st, int64_t trial_id, int64_t attempt, const char *path,
    int64_t step, double now, char **cause);

struct finish_report {
	enum attempt_outcome	 outcome;	/* succeeded, failed, preempted, cancelled */
	int			 exit_code;	/* -1 if none */
	const char		*reason;	/* may be NULL */
	const char		*fatal_match;	/* a fatal pattern matched: abandon at once */
	const char		*log_tail;	/* may be NULL */
	const struct metric_point *pts;
	size_t			 npts;
	double			 now;
};

/* Ends the current attempt and moves the trial on: succeeded, back to pending (with a
 * backoff after a failure, while the budget lasts), or abandoned with the reason. The
 * resulting state goes to *next. */
int trial_finish(struct store *st, int64_t trial_id, int64_t attempt,
    const struct finish_report *r, enum trial_state *next, char **cause);

/* Ends every running attempt whose lease expired before now as `lost`. *n = how many. */
int trial_expire_leases(struct store *st, double now, int *n, char **cause);

/* Cancels every pending and running trial of a sweep (running attempts end `cancelled` once
 * their worker hears of it). *n = trials cancelled. */
int trial_cancel_sweep(struct store *st, int64_t sweep_id, int64_t *n, char **cause);
int trial_cancel(struct store *st, int64_t trial_id, char **cause);
/* abandoned -> pending, with a fresh failure budget. */
int trial_retry(struct store *st, int64_t trial_id, char **cause);

#endif
