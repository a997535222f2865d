/* The trial state machine: the only module that changes a trial's state or an attempt's
 * outcome. Each operation checks that its transition is legal and writes the change and its
 * consequences (attempt row, counters, event) inside the caller's transaction. A report
 * naming an attempt that is not the trial's current one is refused with TRIAL_ESTALE. */
#ifndef SPOTSWEEP_TRIAL_H
#define SPOTSWEEP_TRIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "spotsweep/store.h"
#include "spotsweep/util.h"

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
	TRIAL_ENOENT = -4,	/* no such trial */
	TRIAL_EHOLDER = -5,	/* the report's worker or lease secret is not the attempt's */
	TRIAL_ELIMIT = -6	/* the report would pass a limit (metric names): nothing changed */
};

const char *trial_state_name(enum trial_state s);
bool trial_state_parse(const char *name, enum trial_state *out);
const char *attempt_outcome_name(enum attempt_outcome o);
bool attempt_outcome_parse(const char *name, enum attempt_outcome *out);
/* True when the machine allows from -> to. */
bool trial_transition_legal(enum trial_state from, enum trial_state to);
/* True for succeeded, pruned, abandoned, cancelled. */
bool trial_state_final(enum trial_state s);

/* Every operation below is atomic on its own: inside the caller's transaction it runs in a
 * savepoint (undone on error, the caller's transaction left open); with no transaction open
 * it begins and commits its own (store_op_begin). A refused operation changes nothing. */

/* Changes a trial's state inside the caller's transaction, checking legality against the
 * stored state, and records a "trial.<state>" event with reason. Only for the moves into
 * pruned, abandoned or cancelled (an early-termination policy pruning a running trial; its
 * open attempt ends when the worker hears `cancel`); moves into running, succeeded or
 * pending are TRIAL_EILLEGAL here: trial_lease, trial_finish and trial_retry make them. */
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
	int64_t	 preemptions;	/* the trial's interruptions so far */
};
void lease_clear(struct lease *l);

struct preempt_range;	/* rules.h */

struct lease_request {
	int64_t		 worker_id;
	const char	*pool;		/* may be NULL */
	const char	*pool_class;	/* "spot" | "on-demand" | NULL */
	double		 price_per_hour;
	int		 gpus;
	double		 lease_timeout_s;
	double		 now;
	/* Optional (NULL: any trial): which trials of a sweep, by preemption count, this
	 * worker may take, as *n ascending ranges owned by the callee; *n = 0 skips the
	 * sweep. The switching rules decide this per sweep (its deadline) and count. */
	const struct preempt_range *(*allowed)(void *arg, int64_t sweep_id, double deadline,
	    size_t *n);
	void		*allowed_arg;
	const char	*lease_secret;	/* recorded with the attempt; NULL: none */
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

/* Records a checkpoint reported by the current attempt. step < 0 means none given. */
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
	/* Optional checks, done on the row the finish reads anyway: the attempt's holder
	 * (lease_secret NULL: not checked; else TRIAL_EHOLDER unless worker_id and the secret
	 * are the attempt's) and the trial's distinct metric names (0: no limit; else
	 * TRIAL_ELIMIT past it). */
	int64_t			 worker_id;
	const char		*lease_secret;
	size_t			 max_metric_names;
	int64_t			*sweep_id;	/* non-NULL: set to the trial's sweep */
};

/* Ends the current attempt and moves the trial on: succeeded, back to pending (with a
 * backoff after a failure, while the budget lasts), or abandoned with the reason. The
 * resulting state goes to *next. */
int trial_finish(struct store *st, int64_t trial_id, int64_t attempt,
    const struct finish_report *r, enum trial_state *next, char **cause);

/* Ends every running attempt whose lease expired before now as `lost` (a lost attempt
 * spends the preemption budget, with its own reason), and abandons, a bounded batch per
 * call, the pending trials of sweeps whose deadline has passed. *n = attempts ended. */
int trial_expire_leases(struct store *st, double now, int *n, char **cause);

/* Extends every open attempt's lease to at least until: a scheduler starting over a store
 * with running attempts gives their agents, which kept running while it was away and are
 * retrying their reports, a full lease period to be heard before expiring them. *n =
 * attempts whose lease was extended. */
int trial_renew_leases(struct store *st, double until, int *n, char **cause);

/* Ends the current open attempt as `lost` because its transport failed (an SSH session
 * ended without a finish report), like an expired lease: a running trial goes back to
 * pending. charge: the attempt may have run, so its compute up to the last heartbeat is
 * accounted and the interruption budget spent; false when it never started (the host could
 * not be reached), which costs the trial nothing. TRIAL_ESTALE when attempt is not current. */
int trial_lose(struct store *st, int64_t trial_id, int64_t attempt, const char *reason,
    bool charge, double now, char **cause);

/* Marks the sweep done if nothing is pending or running and, for bayes, it has all the
 * trials it may propose: after its cap changed outside the state machine (bayes.c). Inside
 * the caller's transaction. */
int trial_sweep_settle(struct store *st, int64_t sweep_id, double now, char **cause);

/* Cancels every pending and running trial of a sweep (running attempts end `cancelled` once
 * their worker hears of it). *n = trials cancelled. */
int trial_cancel_sweep(struct store *st, int64_t sweep_id, int64_t *n, char **cause);
int trial_cancel(struct store *st, int64_t trial_id, char **cause);
/* abandoned -> pending, with a fresh failure budget. */
int trial_retry(struct store *st, int64_t trial_id, char **cause);
/* pruned -> pending: an early-stopping promotion (hyperband with resume_pruned). The next
 * attempt resumes from the trial's newest checkpoint, its curve continuing where it was
 * stopped. TRIAL_EILLEGAL unless the trial is pruned, its sweep not cancelled and its last
 * attempt closed (a worker still stopping it holds the lease). */
int trial_promote(struct store *st, int64_t trial_id, const char *reason, char **cause);

/* One stored trial as listings show it. Strings belong to the listing and are valid only
 * during the callback; times and value are absent when has_* is false / 0. */
struct trial_row {
	int64_t			 id;
	int64_t			 sweep_id;
	enum trial_state	 state;
	int64_t			 attempts;
	int64_t			 preemptions;
	int64_t			 failures;
	bool			 has_value;
	double			 value;
	const char		*params;	/* JSON object */
	const char		*last_metrics;	/* JSON object or NULL */
	const char		*reason;	/* may be NULL */
	const char		*last_pool;	/* may be NULL */
	double			 runtime_s, gpu_hours, cost_usd;
	double			 started_at, finished_at;	/* 0 = not yet */
	int64_t			 step;		/* furthest step reported, -1 = none */
};
typedef int trial_row_fn(const struct trial_row *r, void *arg);
/* Calls fn for each trial of the sweep in id order, only those in state `only` unless it is
 * TRIAL_STATE_MAX. fn returning nonzero stops the walk and is returned. fn must not use the
 * store. -1 with *cause on a database error. */
int trial_foreach(struct store *st, int64_t sweep_id, enum trial_state only, trial_row_fn *fn,
    void *arg, char **cause);
/* Appends the listing object {"trial_id","state","attempts","preemptions","params","value",
 * "step","reason"} (`trials --json`, GET /v1/sweeps/ID/trials); params is embedded as
 * stored; step is the furthest step the trial reported (where a pruned one stopped). */
void trial_row_json(const struct trial_row *r, struct buf *b);
/* The same object as a jansson value (new reference). */
json_t *trial_row_to_json(const struct trial_row *r);

#endif
