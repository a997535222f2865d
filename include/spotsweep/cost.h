/* What a sweep cost, from its attempts: spend and GPU-hours by pool class, the same GPU-hours
 * at an on-demand price, the savings, and the compute lost to interruptions (the work of each
 * preempted or lost attempt since its last checkpoint, which a later attempt had to redo).
 * Used by `spotsweep cost` and `run`'s summary. */
#ifndef SPOTSWEEP_COST_H
#define SPOTSWEEP_COST_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "spotsweep/store.h"

enum cost_class { COST_SPOT, COST_ON_DEMAND, COST_UNCLASSED, COST_CLASS_MAX };

struct cost_bucket {
	int64_t	 attempts;
	double	 runtime_s;
	double	 gpu_hours;
	double	 cost;		/* USD */
};

struct sweep_cost {
	int64_t			 sweep_id;
	int64_t			 attempts;		/* ended attempts, all counted below */
	int64_t			 running_attempts;	/* still open: not counted yet */
	double			 total_runtime_s;
	double			 gpu_hours;
	double			 cost;
	struct cost_bucket	 by_class[COST_CLASS_MAX];
	int64_t			 interrupted_attempts;	/* preempted or lost */
	double			 interrupted_gpu_hours;	/* their whole compute */
	double			 redone_runtime_s;	/* their compute after the last checkpoint */
	double			 redone_gpu_hours;
	double			 redone_cost;
	bool			 has_on_demand_price;
	double			 on_demand_price;	/* per GPU-hour */
	double			 on_demand_cost;	/* gpu_hours at on_demand_price */
	double			 savings;		/* on_demand_cost - cost */
	double			 savings_fraction;	/* savings / on_demand_cost (0 if that is 0) */
};

/* "spot", "on-demand", "none". */
const char *cost_class_name(enum cost_class c);
/* Sums the ended attempts of a sweep. on_demand_price < 0: unknown (the comparison fields
 * stay unset). -1 with *cause ("no sweep N" when it does not exist). */
int store_sweep_cost(struct store *st, int64_t sweep_id, double on_demand_price,
    struct sweep_cost *out, char **cause);
/* The on-demand price to compare with: the cheapest current price of the on-demand pools
 * the last `serve` recorded, else the highest price an on-demand attempt of the sweep paid.
 * *found false when neither exists; *source says which ("pools", "attempts"). */
int store_on_demand_price(struct store *st, int64_t sweep_id, double *price, bool *found,
    const char **source, char **cause);

/* The cost as `spotsweep cost --json` prints it and the API serves it (source: where the
 * on-demand price came from). */
json_t *sweep_cost_json(const struct sweep_cost *c, const char *source);

#endif
