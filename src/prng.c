/* The sweep's portable pseudo-random generator: xoshiro256** (Blackman and Vigna, 2018)
 * whose 256-bit state is filled from the 64-bit seed by splitmix64, as its authors advise.
 * Only 64-bit integer arithmetic is involved, so a seed gives the same stream on every
 * machine and every libc, which rand() and drand48() cannot promise. */
#include <math.h>
#include <stdint.h>

#include "spotsweep/expand.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Fills the state with four consecutive splitmix64 outputs of seed; never all zero. */
void
prng_seed(struct prng *r, uint64_t seed)
{
	uint64_t x = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

/* The next 64 random bits. */
uint64_t
prng_next(struct prng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* The top 53 bits scaled by 2^-53: every double k/2^53 in [0, 1) equally likely. */
double
prng_uniform(struct prng *r)
{
	return (double)(prng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller with both uniforms drawn fresh each call, so the stream position after a
 * call does not depend on earlier calls (no cached second deviate). 1 - u keeps the
 * logarithm's argument in (0, 1]. */
double
prng_normal(struct prng *r)
{
	double u1 = 1.0 - prng_uniform(r);
	double u2 = prng_uniform(r);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
