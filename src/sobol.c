/* Sobol' low-discrepancy points for the sobol sweep method. The direction numbers are the
 * first 64 dimensions of Joe and Kuo's new-joe-kuo-6.21201 table ("Constructing Sobol
 * sequences with better two-dimensional projections", SIAM J. Sci. Comput. 30, 2008), the
 * set SciPy, Boost and most libraries ship; dimension 1 is van der Corput. Points come in
 * Gray-code order with 32-bit precision: point i differs from point i-1 in one XOR per
 * dimension, so a point costs O(dims) and the generator holds O(dims) state. */
#include <stdint.h>
#include <stdlib.h>

#include "spotsweep/expand.h"
#include "spotsweep/xmalloc.h"

#define SOBOL_BITS 32

/* One row of new-joe-kuo-6.21201 (dimension d = index + 2): the degree s of the primitive
 * polynomial, its inner coefficients a as bits, and the initial direction numbers m_1..m_s.
 * Copied exactly; checked against two independent transcriptions of the published file. */
struct joe_kuo_row {
	uint8_t		s;
	uint16_t	a;
	uint16_t	m[9];
};

static const struct joe_kuo_row joe_kuo[SOBOL_MAX_DIMS - 1] = {
	{ 1,   0, { 1 } },	/* d=2 */
	{ 2,   1, { 1, 3 } },	/* d=3 */
	{ 3,   1, { 1, 3, 1 } },	/* d=4 */
	{ 3,   2, { 1, 1, 1 } },	/* d=5 */
	{ 4,   1, { 1, 1, 3, 3 } },	/* d=6 */
	{ 4,   4, { 1, 3, 5, 13 } },	/* d=7 */
	{ 5,   2, { 1, 1, 5, 5, 17 } },	/* d=8 */
	{ 5,   4, { 1, 1, 5, 5, 5 } },	/* d=9 */
	{ 5,   7, { 1, 1, 7, 11, 19 } },	/* d=10 */
	{ 5,  11, { 1, 1, 5, 1, 1 } },	/* d=11 */
	{ 5,  13, { 1, 1, 1, 3, 11 } },	/* d=12 */
	{ 5,  14, { 1, 3, 5, 5, 31 } },	/* d=13 */
	{ 6,   1, { 1, 3, 3, 9, 7, 49 } },	/* d=14 */
	{ 6,  13, { 1, 1, 1, 15, 21, 21 } },	/* d=15 */
	{ 6,  16, { 1, 3, 1, 13, 27, 49 } },	/* d=16 */
	{ 6,  19, { 1, 1, 1, 15, 7, 5 } },	/* d=17 */
	{ 6,  22, { 1, 3, 1, 15, 13, 25 } },	/* d=18 */
	{ 6,  25, { 1, 1, 5, 5, 19, 61 } },	/* d=19 */
	{ 7,   1, { 1, 3, 7, 11, 23, 15, 103 } },	/* d=20 */
	{ 7,   4, { 1, 3, 7, 13, 13, 15, 69 } },	/* d=21 */
	{ 7,   7, { 1, 1, 3, 13, 7, 35, 63 } },	/* d=22 */
	{ 7,   8, { 1, 3, 5, 9, 1, 25, 53 } },	/* d=23 */
	{ 7,  14, { 1, 3, 1, 13, 9, 35, 107 } },	/* d=24 */
	{ 7,  19, { 1, 3, 1, 5, 27, 61, 31 } },	/* d=25 */
	{ 7,  21, { 1, 1, 5, 11, 19, 41, 61 } },	/* d=26 */
	{ 7,  28, { 1, 3, 5, 3, 3, 13, 69 } },	/* d=27 */
	{ 7,  31, { 1, 1, 7, 13, 1, 19, 1 } },	/* d=28 */
	{ 7,  32, { 1, 3, 7, 5, 13, 19, 59 } },	/* d=29 */
	{ 7,  37, { 1, 1, 3, 9, 25, 29, 41 } },	/* d=30 */
	{ 7,  41, { 1, 3, 5, 13, 23, 1, 55 } },	/* d=31 */
	{ 7,  42, { 1, 3, 7, 3, 13, 59, 17 } },	/* d=32 */
	{ 7,  50, { 1, 3, 1, 3, 5, 53, 69 } },	/* d=33 */
	{ 7,  55, { 1, 1, 5, 5, 23, 33, 13 } },	/* d=34 */
	{ 7,  56, { 1, 1, 7, 7, 1, 61, 123 } },	/* d=35 */
	{ 7,  59, { 1, 1, 7, 9, 13, 61, 49 } },	/* d=36 */
	{ 7,  62, { 1, 3, 3, 5, 3, 55, 33 } },	/* d=37 */
	{ 8,  14, { 1, 3, 1, 15, 31, 13, 49, 245 } },	/* d=38 */
	{ 8,  21, { 1, 3, 5, 15, 31, 59, 63, 97 } },	/* d=39 */
	{ 8,  22, { 1, 3, 1, 11, 11, 11, 77, 249 } },	/* d=40 */
	{ 8,  38, { 1, 3, 1, 11, 27, 43, 71, 9 } },	/* d=41 */
	{ 8,  47, { 1, 1, 7, 15, 21, 11, 81, 45 } },	/* d=42 */
	{ 8,  49, { 1, 3, 7, 3, 25, 31, 65, 79 } },	/* d=43 */
	{ 8,  50, { 1, 3, 1, 1, 19, 11, 3, 205 } },	/* d=44 */
	{ 8,  52, { 1, 1, 5, 9, 19, 21, 29, 157 } },	/* d=45 */
	{ 8,  56, { 1, 3, 7, 11, 1, 33, 89, 185 } },	/* d=46 */
	{ 8,  67, { 1, 3, 3, 3, 15, 9, 79, 71 } },	/* d=47 */
	{ 8,  70, { 1, 3, 7, 11, 15, 39, 119, 27 } },	/* d=48 */
	{ 8,  84, { 1, 1, 3, 1, 11, 31, 97, 225 } },	/* d=49 */
	{ 8,  97, { 1, 1, 1, 3, 23, 43, 57, 177 } },	/* d=50 */
	{ 8, 103, { 1, 3, 7, 7, 17, 17, 37, 71 } },	/* d=51 */
	{ 8, 115, { 1, 3, 1, 5, 27, 63, 123, 213 } },	/* d=52 */
	{ 8, 122, { 1, 1, 3, 5, 11, 43, 53, 133 } },	/* d=53 */
	{ 9,   8, { 1, 3, 5, 5, 29, 17, 47, 173, 479 } },	/* d=54 */
	{ 9,  13, { 1, 3, 3, 11, 3, 1, 109, 9, 69 } },	/* d=55 */
	{ 9,  16, { 1, 1, 1, 5, 17, 39, 23, 5, 343 } },	/* d=56 */
	{ 9,  22, { 1, 3, 1, 5, 25, 15, 31, 103, 499 } },	/* d=57 */
	{ 9,  25, { 1, 1, 1, 11, 11, 17, 63, 105, 183 } },	/* d=58 */
	{ 9,  44, { 1, 1, 5, 11, 9, 29, 97, 231, 363 } },	/* d=59 */
	{ 9,  47, { 1, 1, 5, 15, 19, 45, 41, 7, 383 } },	/* d=60 */
	{ 9,  52, { 1, 3, 7, 7, 31, 19, 83, 137, 221 } },	/* d=61 */
	{ 9,  55, { 1, 1, 1, 3, 23, 15, 111, 223, 83 } },	/* d=62 */
	{ 9,  59, { 1, 1, 5, 13, 31, 15, 55, 25, 161 } },	/* d=63 */
	{ 9,  62, { 1, 1, 3, 13, 25, 47, 39, 87, 257 } },	/* d=64 */
};

struct sobol {
	unsigned	 dims;
	uint32_t	 index;		/* index of the point the next call returns */
	uint32_t	*x;		/* [dims] the integer coordinates of that point */
	uint32_t	*v;		/* [dims * SOBOL_BITS] direction numbers, scaled */
};

/* Direction numbers v_1..v_32 of dimension dim (0-based), left-aligned in 32 bits, by the
 * Bratley-Fox recurrence v_i = v_{i-s} ^ (v_{i-s} >> s) ^ XOR_k a_k v_{i-k}. */
static void
sobol_directions(unsigned dim, uint32_t *v)
{
	const struct joe_kuo_row *row;
	unsigned i, k, s;

	if (dim == 0) {
		for (i = 0; i < SOBOL_BITS; i++)
			v[i] = (uint32_t)1 << (SOBOL_BITS - 1 - i);
		return;
	}
	row = &joe_kuo[dim - 1];
	s = row->s;
	for (i = 0; i < s; i++)
		v[i] = (uint32_t)row->m[i] << (SOBOL_BITS - 1 - i);
	for (i = s; i < SOBOL_BITS; i++) {
		v[i] = v[i - s] ^ (v[i - s] >> s);
		for (k = 1; k < s; k++) {
			if ((row->a >> (s - 1 - k)) & 1)
				v[i] ^= v[i - k];
		}
	}
}

/* A generator over dims dimensions (1..SOBOL_MAX_DIMS), positioned at point 0; NULL when
 * dims is out of range. Free with sobol_free(). */
struct sobol *
sobol_create(unsigned dims)
{
	struct sobol *s;
	unsigned d;

	if (dims == 0 || dims > SOBOL_MAX_DIMS)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->dims = dims;
	s->x = xcalloc(dims, sizeof *s->x);
	s->v = xcalloc((size_t)dims * SOBOL_BITS, sizeof *s->v);
	for (d = 0; d < dims; d++)
		sobol_directions(d, s->v + (size_t)d * SOBOL_BITS);
	return s;
}

/* Writes the current point and steps to the next by Gray code: the bit that flips between
 * the Gray codes of i and i+1 is the lowest zero bit of i. After 2^32 points (every 32-bit
 * value taken once per dimension) the sequence starts again at point 0. */
void
sobol_next(struct sobol *s, double *point)
{
	unsigned d, c;

	for (d = 0; d < s->dims; d++)
		point[d] = (double)s->x[d] * 0x1.0p-32;
	if (s->index == UINT32_MAX) {
		for (d = 0; d < s->dims; d++)
			s->x[d] = 0;
		s->index = 0;
		return;
	}
	c = (unsigned)__builtin_ctz(~s->index);
	for (d = 0; d < s->dims; d++)
		s->x[d] ^= s->v[(size_t)d * SOBOL_BITS + c];
	s->index++;
}

void
sobol_free(struct sobol *s)
{
	if (s == NULL)
		return;
	free(s->v);
	free(s->x);
	free(s);
}
