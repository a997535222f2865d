/* Expansion of a validated spec into trial parameter sets: grid, seeded random and Sobol.
 * An expander is a stream; it never holds more than one trial, so memory does not grow with
 * the size of a sweep. Output is byte-identical for the same spec on any machine. */
#ifndef SPOTSWEEP_EXPAND_H
#define SPOTSWEEP_EXPAND_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/spec.h"
#include "spotsweep/util.h"

/* A portable PRNG (xoshiro256** seeded through splitmix64): same seed, same stream. */
struct prng {
	uint64_t s[4];
};
void prng_seed(struct prng *r, uint64_t seed);
uint64_t prng_next(struct prng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double prng_uniform(struct prng *r);
/* Standard normal deviate (Box-Muller; deterministic, uses no cached state). */
double prng_normal(struct prng *r);

/* A Sobol sequence generator over up to SOBOL_MAX_DIMS dimensions (Joe-Kuo direction numbers,
 * new-joe-kuo-6.21201), unscrambled, 32-bit, in Gray-code order. */
#define SOBOL_MAX_DIMS 64
struct sobol;
struct sobol *sobol_create(unsigned dims);
/* Writes the next point (dims values in [0,1)); the first call gives point index 0 (all 0). */
void sobol_next(struct sobol *s, double *point);
void sobol_free(struct sobol *s);

/* Inverse of the standard normal CDF (Wichura's AS 241, ~1e-16 relative error); p <= 0 gives
 * -HUGE_VAL and p >= 1 +HUGE_VAL. */
double normal_quantile(double p);

/* Maps u in [0,1) to a value of parameter p, appending its JSON form to b. */
void expand_param_from_unit(const struct spec_param *p, double u, struct buf *b);
/* The number u in [0,1) selects for numeric (not "value"/"values") parameter p. */
double expand_param_number(const struct spec_param *p, double u);
/* Writes the canonical parameter object for one unit draw per parameter (spec order), as
 * the random method would for those draws. -1 with *cause when the spec cannot expand. */
int expand_from_units(const struct spec *s, const double *u, struct buf *b, char **cause);
/* Number of grid points of one parameter: value 1, values each, int_uniform every integer in
 * [min,max], q_uniform every multiple of q in [min,max] (with "num": K, K evenly spaced ones,
 * at most that many), uniform/log_uniform_values/normal "num"; 0 when a continuous range has
 * no num. The grid size is the product over the parameters. */
uint64_t expand_grid_points(const struct spec_param *p);

struct expander;
/* Returns NULL with *cause set when the spec cannot be expanded (method bayes). */
struct expander *expander_create(const struct spec *s, char **cause);
/* Writes the next trial's parameters as a canonical JSON object (keys in spec order, no
 * spaces) into b (reset first). Returns false when the sweep has no more trials. */
bool expander_next(struct expander *e, struct buf *b);
void expander_free(struct expander *e);

#endif
