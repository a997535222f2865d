/* Early stopping (a spec's early_terminate): the median rule and asynchronous successive
 * halving (W&B's hyperband, Ray Tune's ASHA), judged only at steps a trial has reached, so a
 * preemption never counts as a result, and with hyperband's resume_pruned, promotions of
 * pruned trials that later rank in the top of their rung. The rules themselves are pure
 * functions; early_stop_check and early_stop_promote apply them to the store. */
#ifndef SPOTSWEEP_EARLY_STOP_H
#define SPOTSWEEP_EARLY_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spotsweep/spec.h"
#include "spotsweep/store.h"

/* A trial is compared with others only when at least this many others reached the rung
 * (the median rule; hyperband's first arrivals always go on). */
#define EARLY_MEDIAN_MIN_OTHERS	3

struct early_policy {
	enum early_stop_kind	 kind;
	int64_t			 first;		/* the first rung's step */
	int64_t			 eta;		/* hyperband: rung k at first * eta^k */
	int64_t			 interval;	/* median: rung k at first + k * interval */
	int64_t			 max_iter;	/* rungs stop below it; 0 = none */
	bool			 minimize;
	bool			 resume_pruned;
};

/* The policy a spec asks for; kind EARLY_NONE when it has none. */
void early_policy_from_spec(struct early_policy *p, const struct spec *s);
/* The step of rung k, or -1 when there is none (at or past max_iter, or overflow). */
int64_t early_rung_step(const struct early_policy *p, int64_t k);

/* One metric point of a trial's objective, from any of its attempts. */
struct early_sample {
	int64_t	 step;
	int64_t	 attempt;
	double	 value;
};
/* A trial's curve: one value per step, ascending. */
struct early_point {
	int64_t	 step;
	double	 value;
};
/* Merges samples sorted by step ascending, attempt descending into a curve keeping, per
 * step, the newest attempt's value (a resumed trial re-reporting a step overrides what the
 * interrupted attempt said). Returns the number of points written to out (<= n). */
size_t early_curve_merge(const struct early_sample *s, size_t n, struct early_point *out);
/* The curve's value at step: the point at the greatest step <= step, else the first point
 * (a trial whose first report is past the rung). False when the curve is empty. */
bool early_curve_value(const struct early_point *c, size_t n, int64_t step, double *v);
/* The best value (by goal) among points at steps <= step (else the first point). */
bool early_curve_best(const struct early_point *c, size_t n, int64_t step, bool minimize,
    double *v);

/* Successive halving at a rung: true (go on) when value is in the top ceil(m / eta) of the
 * m = n + 1 trials at the rung (the n others and itself); a tie counts in the trial's
 * favour. Also the promotion rule for a trial stopped there earlier. */
bool early_rung_keep(const struct early_policy *p, double value, const double *others,
    size_t n);
/* The median rule: true (stop) when best is worse than the median of the others' values at
 * the rung, given at least EARLY_MEDIAN_MIN_OTHERS of them. */
bool early_median_stop(const struct early_policy *p, double best, const double *others,
    size_t n);

/* After a trial's metric points were stored: records its value at every rung it newly
 * reached and, if it is running, judges it at the highest one. *pruned when it was stopped
 * now (it is then pruned, its worker told on the next heartbeat). Runs inside the caller's
 * transaction (a savepoint) or its own. */
int early_stop_check(struct store *st, const struct spec *s, int64_t trial_id, double now,
    bool *pruned, char **cause);
/* hyperband with resume_pruned: every pruned trial of the sweep whose value at the rung
 * where it was stopped now ranks in the top of that rung, and whose attempt has closed, goes
 * back to pending (trial_promote) to resume from its checkpoint. *n = trials promoted. */
int early_stop_promote(struct store *st, const struct spec *s, int64_t sweep_id, int *n,
    char **cause);

/* What early stopping did in a sweep, for status. */
#define EARLY_SUMMARY_STEPS	8
struct early_summary {
	int64_t	 pruned;	/* pruned trials */
	int64_t	 horizon;	/* the step a trial would run to: max_iter, else the furthest
				 * step any trial of the sweep reached */
	double	 gpu_hours_saved; /* sum over pruned trials of (horizon - step reached) times
				 * its GPU-hours per step */
	size_t	 nsteps;	/* the steps pruned trials reached, lowest first ... */
	int64_t	 step[EARLY_SUMMARY_STEPS];
	int64_t	 count[EARLY_SUMMARY_STEPS];	/* ... with how many stopped there */
};
/* Fills out for a sweep (zeros when nothing was pruned); max_iter from its spec, 0 = none. */
int early_stop_summary(struct store *st, int64_t sweep_id, int64_t max_iter,
    struct early_summary *out, char **cause);

#endif
