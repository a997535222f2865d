/* Trials of `method: bayes` sweeps, proposed on demand: the store's history of a sweep
 * turned into TPE observations (tpe.h), a proposal, and the new trial stored with
 * store_trial_add(). The scheduler calls bayes_fill() when a worker asks for work. */
#ifndef SPOTSWEEP_BAYES_H
#define SPOTSWEEP_BAYES_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/spec.h"
#include "spotsweep/store.h"

/* Proposals tried before a sweep's space counts as exhausted (every one a duplicate). */
#define BAYES_MAX_TRIES		32
/* Outstanding trials of a sweep without "parallel" when no worker has been seen lately. */
#define BAYES_DEFAULT_PARALLEL	4

/* Each sweep's trials as TPE coordinates, parsed once per trial (a trial's parameters never
 * change), so that a proposal after thousands of trials costs one indexed read of the
 * sweep's trials and the model. Specs handed to it must outlive it. */
struct bayes_cache;
struct bayes_cache *bayes_cache_create(void);
void bayes_cache_free(struct bayes_cache *bc);

/* Proposes one trial for bayes sweep sweep_id (spec s) and stores it: *trial_id is the new
 * trial, or 0 when BAYES_MAX_TRIES proposals were all parameter sets the sweep already has,
 * in which case its max_trials is capped to the trials it has (the search space is used
 * up, and the sweep can finish). Seeded by the spec's seed and the trial's index, so the
 * same results in the same order give the same proposals. -1 with *cause on a store error. */
int bayes_propose(struct store *st, struct bayes_cache *bc, const struct spec *s,
    int64_t sweep_id, int64_t *trial_id, char **cause);

/* The spec of a sweep, for bayes_fill (the scheduler's cache); NULL with *cause. */
typedef const struct spec *bayes_spec_fn(void *arg, int64_t sweep_id, char **cause);

/* When a worker asks for work (every false): unless an older active sweep already has a
 * pending trial, proposes one trial for the oldest active bayes sweep that has room (none
 * pending, fewer trials than max_trials, fewer running than its "parallel", by default the
 * slots of the workers seen in the last recent_s seconds, else BAYES_DEFAULT_PARALLEL).
 * every: one for each bayes sweep with room, so that each has a trial ready (the scheduler's
 * tick: dispatchers that start workers for pending work, ssh, Slurm, scale hooks, then see
 * some), and a sweep whose deadline passed is capped to the trials it has, so that it can
 * finish. *added = trials proposed. */
int bayes_fill(struct store *st, struct bayes_cache *bc, bayes_spec_fn *spec_of, void *arg,
    double now, double recent_s, bool every, int *added, char **cause);

#endif
