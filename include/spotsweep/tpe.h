/* The Tree-structured Parzen Estimator behind `method: bayes` (alias tpe): pure functions,
 * no store, no clock. Given a sweep's parameters and the trials seen so far (finished ones
 * with their objective, pruned ones with the step they reached, in-flight ones without a
 * result), propose the next point. Same inputs and seed, same proposal, on any machine. */
#ifndef SPOTSWEEP_TPE_H
#define SPOTSWEEP_TPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "spotsweep/expand.h"
#include "spotsweep/spec.h"

struct tpe_options {
	long	 n_startup;	/* random proposals until this many results (10) */
	double	 gamma;		/* the good fraction of the results (0.25) */
	long	 n_candidates;	/* draws from the good density per proposal (24) */
	double	 prior_weight;	/* weight of the prior component (1) */
	bool	 minimize;	/* the objective's goal */
	bool	 multivariate;	/* joint draws and scores (default), else per parameter */
	double	 bandwidth;	/* multivariate: kernel width at one observation, Scott's
				 * rule's factor (TPE_BANDWIDTH; Optuna's is 0.2) */
};

/* The multivariate kernel width's factor: half of Optuna's, better on make bench's
 * functions at 50 and 100 trials (see tpe.c). */
#define TPE_BANDWIDTH	0.1

/* The options a spec asks for (its "bayes" object and metric.goal). */
void tpe_options_from_spec(struct tpe_options *o, const struct spec *s);

enum tpe_obs_kind {
	TPE_OBS_DONE,		/* succeeded, with its value */
	TPE_OBS_PRUNED,		/* stopped early: ranked after every done one, by step reached */
	TPE_OBS_PENDING		/* pending or running: no result yet (the constant liar) */
};

/* One trial the estimator learns from; x holds its coordinates (tpe_point_from_json). */
struct tpe_obs {
	const double		*x;
	enum tpe_obs_kind	 kind;
	double			 value;	/* DONE, PRUNED; NaN ranks last */
	int64_t			 step;	/* PRUNED: the step it reached */
};

enum tpe_dim_kind {
	TPE_DIM_FIXED,		/* "value": nothing to choose */
	TPE_DIM_CONTINUOUS,	/* modelled in the unit space of its prior */
	TPE_DIM_DISCRETE,	/* int_uniform and the q_* forms: masses of whole cells */
	TPE_DIM_CATEGORICAL	/* "values": smoothed counts */
};

/* The search space of a spec: one dimension per parameter, in spec order. It points into
 * the spec, which must outlive it. */
struct tpe_space;
struct tpe_space *tpe_space_create(const struct spec *s);
void tpe_space_free(struct tpe_space *sp);
size_t tpe_space_dims(const struct tpe_space *sp);
enum tpe_dim_kind tpe_dim_kind(const struct tpe_space *sp, size_t d);

/* The coordinates of a trial's parameters (the stored JSON object): for a numeric parameter
 * its prior's CDF at the value (so a log distribution is modelled in log space, a normal
 * one through its quantiles), in [0, 1]; for a categorical one the index of the value. -1
 * with *cause when a parameter is missing or not one the space can hold. */
int tpe_point_from_json(const struct tpe_space *sp, const json_t *params, double *x,
    char **cause);

/* Proposes the next trial: one unit draw per parameter into u (for expand_from_units()).
 * Random (from the seed) while fewer than o->n_startup trials have a result; else TPE:
 * results split at the gamma quantile (pruned ones ranked after finished ones, pending ones
 * counted bad, so parallel proposals spread out), a Parzen estimator per parameter for the
 * good (l) and the rest (g), n_candidates draws from l, the one with the largest l/g
 * kept. Returns true when the model chose, false for a random proposal. */
bool tpe_propose(const struct tpe_space *sp, const struct tpe_options *o,
    const struct tpe_obs *obs, size_t nobs, uint64_t seed, double *u);

/* One dimension's Parzen estimator, for the tests: fitted to n coordinates xs (oldest first)
 * with a prior component. */
struct tpe_parzen;
struct tpe_parzen *tpe_parzen_fit(const struct tpe_space *sp, size_t d, const double *xs,
    size_t n, const struct tpe_options *o);
/* The same with a weight per observation (>= 0; NULL: all 1), multiplying Optuna's weight
 * by age; the multivariate l weighs each good trial by its improvement. */
struct tpe_parzen *tpe_parzen_fit_weighted(const struct tpe_space *sp, size_t d,
    const double *xs, const double *wts, size_t n, const struct tpe_options *o);
/* log density at unit coordinate x (continuous), log mass of the cell holding x (discrete),
 * or log probability of category x (categorical). */
double tpe_parzen_log_density(const struct tpe_parzen *pz, double x);
/* A draw: a unit coordinate, or a category index. */
double tpe_parzen_sample(const struct tpe_parzen *pz, struct prng *r);
/* The unit coordinate range [*lo, *hi] of the discrete cell holding x. */
void tpe_cell(const struct tpe_space *sp, size_t d, double x, double *lo, double *hi);
/* The unit draw that expand_param_from_unit() maps to category k (the middle of its cell). */
double tpe_category_unit(const struct tpe_space *sp, size_t d, size_t k);
void tpe_parzen_free(struct tpe_parzen *pz);

#endif
