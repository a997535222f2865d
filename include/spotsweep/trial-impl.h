/* What trial.c shares with trial-lease.c, the other half of the trial state machine: the
 * loaded trial, and the one function that changes a trial's state. Not for other modules:
 * they go through trial.h. */
#ifndef SPOTSWEEP_TRIAL_IMPL_H
#define SPOTSWEEP_TRIAL_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/store.h"
#include "spotsweep/trial.h"

/* What the operations need to know about a trial, its sweep and its current attempt, and
 * what they change in the trial's row. An operation changes the row in memory (counters,
 * not_before, and the additive "row" deltas) and write_row() writes it all in one UPDATE,
 * together with the state change if there is one: one statement per operation rather than
 * one per concern, which is most of what a lease or a finish costs. */
struct trial_ctx {
	int64_t			 id;
	int64_t			 sweep_id;
	enum trial_state	 state;
	int64_t			 attempts;
	int64_t			 preemptions;
	int64_t			 failures;
	double			 not_before;
	bool			 sweep_active;
	bool			 sweep_cancelled;
	bool			 sweep_has_target;
	double			 deadline;	/* 0 = none */
	int64_t			 max_failures;
	int64_t			 max_preemptions;
	int64_t			 checkpoint_keep;
	char			*objective;	/* NULL when the spec has none */
	char			*last_metrics;	/* NULL when none yet */

	/* the row of attempt number `attempts` (none before the first lease) */
	struct {
		bool		 exists;
		bool		 open;		/* outcome IS NULL */
		int64_t		 worker_id;
		char		*secret;
		double		 started_at;
		int64_t		 gpus;
		double		 price;
	} cur;

	/* what write_row adds to the row besides state and counters */
	struct {
		bool		 lease;		/* started: started_at (if unset), last_pool */
		double		 started_at;
		const char	*pool;
		double		 runtime_s, gpu_hours, cost_usd;
		bool		 metrics;	/* last_metrics changed */
		bool		 has_value;
		double		 value;
		int64_t		 step;		/* -1: none reported */
	} row;

	/* The counters as the row holds them (trial_load, write_row): write_row writes the
	 * counters only when they differ. Not valid: always written. */
	struct {
		bool		 valid;
		int64_t		 attempts, preemptions, failures;
		double		 not_before;
	} loaded;
};

/* Frees what c holds and empties it. */
void trial_ctx_clear(struct trial_ctx *c);
/* Loads a trial with its sweep's budgets and its current attempt. TRIAL_ENOENT with cause
 * when absent. */
int trial_load(struct store *st, int64_t trial_id, struct trial_ctx *c, char **cause);
/* The one place a trial's state changes (see trial.c). */
int trial_set_state(struct store *st, struct trial_ctx *c, enum trial_state to,
    const char *reason, int64_t attempt, double now, char **cause);
/* Ends an operation begun with store_op_begin: keeps its writes when rc is TRIAL_OK or 1,
 * else undoes them; returns rc, or TRIAL_ERROR if keeping failed. */
int trial_op_end(struct store *st, bool own, int rc, char **cause);

#endif
