/* Expansion of a validated spec into a stream of trial parameter sets.
 *
 * An expander turns a struct spec into canonical JSON objects, one per trial, keys in spec
 * order and no spaces: {"lr":0.001,"batch_size":32,"optimizer":"adamw"}. It holds one
 * trial at a time, so a sweep of a million trials costs the same memory as one of ten, and
 * everything a trial needs but does not change (each key's JSON text with its separator,
 * each categorical value's JSON text, small grids' point texts) is rendered once, at
 * expander_create(), so expander_next() allocates nothing once the caller's buffer has grown.
 *
 * Methods:
 *  - grid: the cartesian product of each parameter's points, the first parameter varying
 *    slowest and the last fastest, like Python's itertools.product. See expand_grid_points()
 *    for the points of each distribution. Stops after max_trials when that is set.
 *  - random: max_trials trials; each trial draws one uniform per parameter, in spec order,
 *    from a single xoshiro256** stream seeded with the spec's seed, and maps it through
 *    expand_param_from_unit(). A fixed "value" parameter takes no draw, so adding or
 *    removing a constant does not change the values drawn for the others.
 *  - sobol: max_trials trials; trial t is Sobol' point t+1 (point 0 is the all-zero corner,
 *    which would put every parameter at its minimum, and a normal at -infinity), one
 *    dimension per non-fixed parameter in spec order, mapped as for random.
 *  - bayes: not expanded up front; its trials are proposed as results arrive.
 * Deduplication of identical parameter sets is the store's job (a UNIQUE index).
 *
 * Each distribution maps its uniform draw u through W&B's inverse CDF (wandb/sweeps
 * params.py ppf), so a draw means what it means on W&B: log_uniform takes natural-log bounds,
 * the *_values forms take the bounds themselves, q_* round to the nearest multiple of q (ties
 * to even, as numpy), "probabilities" pick the first value whose cumulative probability
 * exceeds u. Parameters of nested "parameters" blocks are written nested:
 * {"optimizer":{"lr":0.01,"beta":0.9},"batch_size":32}, the keys of each level in spec
 * order; every slot's key text carries the braces that open and close the groups around it. */
#include <inttypes.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/expand.h"
#include "spotsweep/xmalloc.h"

/* Grids with at most this many points in one parameter have every point's text rendered
 * up front; larger ones (a wide int_uniform range) are formatted per trial. */
#define GRID_TEXT_CACHE_MAX	65536

/* One parameter, prepared for output. */
struct slot {
	const struct spec_param	*p;
	char			*key;		/* "\"name\":", with a leading ',' after the first,
						 * and the braces of nested groups around it */
	size_t			 keylen;
	int			 qdigits;	/* q_*: decimals of q, -1 when not decimal */
	double			 loglo, loghi;	/* log10 bounds (log_uniform_values), or the
						 * natural-log ones the draw spans (log_uniform) */
	bool			 drawn;		/* takes a uniform draw / a Sobol dimension */

	/* Pre-rendered texts (values, or grid points): text i is arena[off[i]..off[i+1]). */
	char			*arena;
	size_t			*off;
	uint64_t		 ntexts;

	uint64_t		 npoints;	/* grid: points of this parameter */
	uint64_t		 at;		/* grid: odometer digit */
};

struct expander {
	enum spec_method	 method;
	struct slot		*slots;
	size_t			 nslots;
	char			*tail;		/* closes the open groups and the object */
	size_t			 taillen;
	uint64_t		 limit;		/* trials to produce; 0 = no cap (grid only) */
	uint64_t		 emitted;
	bool			 done;

	struct prng		 prng;		/* random */
	struct sobol		*sobol;		/* sobol */
	double			*point;		/* sobol: [ndrawn] */
	unsigned		 ndrawn;
};

/* --- JSON text ------------------------------------------------------------------------ */

/* Appends s as a JSON string, escaped as jansson does without flags: quote, backslash and
 * control characters; UTF-8 passes through (the spec parser has validated it). */
static void
json_add_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	unsigned char c;
	char esc[6];

	buf_addc(b, '"');
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':  buf_add(b, "\\\"", 2); break;
		case '\\': buf_add(b, "\\\\", 2); break;
		case '\b': buf_add(b, "\\b", 2); break;
		case '\f': buf_add(b, "\\f", 2); break;
		case '\n': buf_add(b, "\\n", 2); break;
		case '\r': buf_add(b, "\\r", 2); break;
		case '\t': buf_add(b, "\\t", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			buf_add(b, esc, 6);
			break;
		}
	}
	buf_add(b, s + run, len - run);
	buf_addc(b, '"');
}

/* Appends the compact JSON text of v. Reals go through buf_add_double(), so a value reads
 * the same whether it came from "values" or was computed from a range. */
static void
json_add_value(struct buf *b, const json_t *v)
{
	char tmp[32];
	const char *key;
	json_t *item;
	size_t i;
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_STRING:
		json_add_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		buf_adds(b, tmp);
		break;
	case JSON_REAL:
		buf_add_double(b, json_real_value(v));
		break;
	case JSON_TRUE:
		buf_add(b, "true", 4);
		break;
	case JSON_FALSE:
		buf_add(b, "false", 5);
		break;
	case JSON_NULL:
		buf_add(b, "null", 4);
		break;
	case JSON_ARRAY:
		buf_addc(b, '[');
		json_array_foreach(v, i, item) {
			if (i > 0)
				buf_addc(b, ',');
			json_add_value(b, item);
		}
		buf_addc(b, ']');
		break;
	case JSON_OBJECT:
		buf_addc(b, '{');
		json_object_foreach((json_t *)v, key, item) {
			if (!first)
				buf_addc(b, ',');
			first = false;
			json_add_string(b, key, strlen(key));
			buf_addc(b, ':');
			json_add_value(b, item);
		}
		buf_addc(b, '}');
		break;
	}
}

/* --- numbers -------------------------------------------------------------------------- */

/* Inverse of the standard normal CDF by Wichura's algorithm AS 241 (PPND16, Applied
 * Statistics 37, 1988), accurate to about 1e-16. p <= 0 gives -HUGE_VAL, p >= 1 +HUGE_VAL. */
double
normal_quantile(double p)
{
	double q, r, z;

	if (p <= 0)
		return -HUGE_VAL;
	if (p >= 1)
		return HUGE_VAL;
	q = p - 0.5;
	if (fabs(q) <= 0.425) {
		r = 0.180625 - q * q;
		return q * (((((((2.5090809287301226727e+3 * r +
		    3.3430575583588128105e+4) * r + 6.7265770927008700853e+4) * r +
		    4.5921953931549871457e+4) * r + 1.3731693765509461125e+4) * r +
		    1.9715909503065514427e+3) * r + 1.3314166789178437745e+2) * r +
		    3.3871328727963666080e+0) /
		    (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
		    3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
		    5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
		    4.2313330701600911252e+1) * r + 1.0);
	}
	r = sqrt(-log(q < 0 ? p : 1.0 - p));
	if (r <= 5.0) {
		r -= 1.6;
		z = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
		    2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r +
		    3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r +
		    4.63033784615654529590e+0) * r + 1.42343711074968357734e+0) /
		    (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
		    1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
		    6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r +
		    2.05319162663775882187e+0) * r + 1.0);
	} else {
		r -= 5.0;
		z = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
		    1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
		    2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r +
		    5.46378491116411436990e+0) * r + 6.65790464350110377720e+0) /
		    (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
		    1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
		    1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
		    5.99832206555887937690e-1) * r + 1.0);
	}
	return q < 0 ? -z : z;
}

/* The number of decimals of q when q is a short decimal (0.1 -> 1, 0.25 -> 2, 5 -> 0),
 * else -1. Multiples of q are then computed as k * (q * 10^d) / 10^d, an integer divided
 * by a power of ten, which is the double nearest the decimal: 3 * 0.1 prints "0.3", not
 * "0.30000000000000004". */
static int
q_digits(double q)
{
	double t, scale = 1;
	int d;

	for (d = 0; d <= 15; d++, scale *= 10) {
		t = q * scale;
		if (fabs(t - nearbyint(t)) <= 1e-9 * fmax(1.0, fabs(t)))
			return d;
	}
	return -1;
}

/* The k-th multiple of q, cleanly rounded to q's decimals. */
static double
q_multiple(double q, int digits, double k)
{
	double scale;

	if (digits < 0)
		return k * q;
	scale = pow(10, digits);
	return k * nearbyint(q * scale) / scale;
}

static bool
is_q(enum dist_kind k)
{
	return k == DIST_Q_UNIFORM || k == DIST_Q_LOG_UNIFORM ||
	    k == DIST_Q_LOG_UNIFORM_VALUES || k == DIST_Q_NORMAL || k == DIST_Q_LOG_NORMAL;
}

/* Fills the fields of sl that depend on its parameter alone. */
static void
slot_prepare(struct slot *sl, const struct spec_param *p)
{
	sl->p = p;
	sl->qdigits = is_q(p->kind) ? q_digits(p->q) : -1;
	switch (p->kind) {
	case DIST_LOG_UNIFORM_VALUES:
	case DIST_INV_LOG_UNIFORM_VALUES:
		sl->loglo = log10(p->min);
		sl->loghi = log10(p->max);
		break;
	case DIST_LOG_UNIFORM:
	case DIST_Q_LOG_UNIFORM:
		sl->loglo = p->min;
		sl->loghi = p->max;
		break;
	case DIST_INV_LOG_UNIFORM:
		/* log(1/X) uniform in [min, max]: X = exp(-max + u (max - min)) */
		sl->loglo = -p->max;
		sl->loghi = -p->min;
		break;
	case DIST_Q_LOG_UNIFORM_VALUES:
		sl->loglo = log(p->min);
		sl->loghi = log(p->max);
		break;
	default:
		break;
	}
	sl->drawn = p->kind != DIST_VALUE;
}

/* round(v / q) * q, the multiple cleanly rounded to q's decimals. */
static double
q_round(const struct slot *sl, double v)
{
	return q_multiple(sl->p->q, sl->qdigits, nearbyint(v / sl->p->q));
}

/* The value at quantile u of a numeric distribution: W&B's ppf. end: u = 1 is the upper
 * bound itself (grids include both ends); draws never reach it. */
static double
dist_value(const struct slot *sl, double u, double z)
{
	const struct spec_param *p = sl->p;
	double v, lo, hi;

	switch (p->kind) {
	case DIST_UNIFORM:
		v = p->min + u * (p->max - p->min);
		if (v >= p->max)	/* rounding must not reach the open end */
			v = nextafter(p->max, p->min);
		return v;
	case DIST_INT_UNIFORM:
		return fmin(p->min + floor(u * (p->max - p->min + 1)), p->max);
	case DIST_LOG_UNIFORM_VALUES:
	case DIST_INV_LOG_UNIFORM_VALUES:
		/* Base 10 rather than e: the same distribution, and decimal bounds give
		 * decimal grid points (1e-3..1e-1 in 3 is 0.001, 0.01, 0.1 exactly). The
		 * inverse form is the same distribution: 1/X log-uniform means X is. */
		v = pow(10, sl->loglo + u * (sl->loghi - sl->loglo));
		return fmin(fmax(v, p->min), p->max);
	case DIST_LOG_UNIFORM:
	case DIST_INV_LOG_UNIFORM:
		lo = exp(sl->loglo);
		hi = exp(sl->loghi);
		return fmin(fmax(exp(sl->loglo + u * (sl->loghi - sl->loglo)), lo), hi);
	case DIST_Q_UNIFORM:
		return q_round(sl, p->min + u * (p->max - p->min));
	case DIST_Q_LOG_UNIFORM:
	case DIST_Q_LOG_UNIFORM_VALUES:
		return q_round(sl, exp(sl->loglo + u * (sl->loghi - sl->loglo)));
	case DIST_NORMAL:
		return p->mu + p->sigma * z;
	case DIST_Q_NORMAL:
		return q_round(sl, p->mu + p->sigma * z);
	case DIST_LOG_NORMAL:
		return exp(p->mu + p->sigma * z);
	case DIST_Q_LOG_NORMAL:
		return q_round(sl, exp(p->mu + p->sigma * z));
	default:
		abort();
	}
}

static bool
is_gaussian(enum dist_kind k)
{
	return k == DIST_NORMAL || k == DIST_Q_NORMAL || k == DIST_LOG_NORMAL ||
	    k == DIST_Q_LOG_NORMAL;
}

/* The index of the value that u picks: uniform over the values, or by "probabilities",
 * the first whose cumulative probability exceeds u, as W&B samples. */
static size_t
value_index(const struct spec_param *p, double u, size_t n)
{
	size_t lo = 0, hi = n - 1, mid, i;

	if (p->cum == NULL) {
		i = (size_t)(u * (double)n);
		return i >= n ? n - 1 : i;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (p->cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Appends the JSON text of the value of sl's parameter that u in [0, 1) selects. */
static void
emit_unit(const struct slot *sl, double u, struct buf *b)
{
	const struct spec_param *p = sl->p;
	size_t n, i;

	if (!(u >= 0))		/* also catches NaN */
		u = 0;
	if (u >= 1)
		u = nextafter(1.0, 0.0);
	if (p->kind == DIST_VALUE || p->kind == DIST_VALUES) {
		n = json_array_size(p->values);
		if (n == 0) {		/* the parser refuses this; never index past the end */
			buf_add(b, "null", 4);
			return;
		}
		i = value_index(p, u, n);
		if (sl->arena != NULL)
			buf_add(b, sl->arena + sl->off[i], sl->off[i + 1] - sl->off[i]);
		else
			json_add_value(b, json_array_get(p->values, i));
		return;
	}
	/* u = 0 (one chance in 2^53 from a draw) would be -infinity for a normal. */
	buf_add_double(b, dist_value(sl, u,
	    is_gaussian(p->kind) ? normal_quantile(u > 0 ? u : 0x1.0p-54) : 0) + 0.0);
}

/* Maps u in [0,1) to a value of parameter p, appending its JSON form to b. */
void
expand_param_from_unit(const struct spec_param *p, double u, struct buf *b)
{
	struct slot sl = { 0 };

	slot_prepare(&sl, p);
	emit_unit(&sl, u, b);
}

/* The number u in [0,1) selects for a numeric parameter p, as expand_param_from_unit()
 * writes it (W&B's ppf, q rounding, clamping). The model-based searcher (tpe.c) needs the
 * value itself to find the cell of a discrete draw. p must not be "value"/"values". */
double
expand_param_number(const struct spec_param *p, double u)
{
	struct slot sl = { 0 };

	if (!(u >= 0))
		u = 0;
	if (u >= 1)
		u = nextafter(1.0, 0.0);
	slot_prepare(&sl, p);
	return dist_value(&sl, u,
	    is_gaussian(p->kind) ? normal_quantile(u > 0 ? u : 0x1.0p-54) : 0) + 0.0;
}

/* --- grid points ---------------------------------------------------------------------- */

/* The lattice of integers k with k * step in [min, max] (step 1 for int_uniform). */
static void
lattice(const struct spec_param *p, double step, double *kmin, double *kmax)
{
	double a = p->min / step, z = p->max / step;

	if (p->kind == DIST_INT_UNIFORM) {
		/* Integer bounds divide exactly: no slack, or huge ranges gain extra points. */
		*kmin = ceil(a);
		*kmax = floor(z);
	} else {
		/* Tolerate a few ulps of rounding in min / q, so 0.3 / 0.1 counts as 3; the
		 * slack is relative to the operand, never a whole step. */
		*kmin = ceil(a - 8 * DBL_EPSILON * fmax(1.0, fabs(a)));
		*kmax = floor(z + 8 * DBL_EPSILON * fmax(1.0, fabs(z)));
	}
	if (*kmax < *kmin)	/* no multiple inside: the nearest one to min */
		*kmin = *kmax = nearbyint(a);
}

/* Number of grid points of parameter p: value 1; values each; int_uniform every integer
 * in min..max; q_uniform every multiple of q in [min, max]; with "num": K set, K evenly
 * spaced points instead (for int_uniform/q_uniform at most the lattice's size, so no two
 * coincide); every other distribution K points. 0 when a continuous range has no num (the
 * spec parser rejects that for grid). Saturates at UINT64_MAX. */
uint64_t
expand_grid_points(const struct spec_param *p)
{
	double kmin, kmax, n;

	switch (p->kind) {
	case DIST_VALUE:
		return 1;
	case DIST_VALUES:
		return json_array_size(p->values);
	case DIST_INT_UNIFORM:
	case DIST_Q_UNIFORM:
		lattice(p, p->kind == DIST_Q_UNIFORM ? p->q : 1.0, &kmin, &kmax);
		n = kmax - kmin + 1;
		if (p->num > 0 && (double)p->num < n)
			return (uint64_t)p->num;
		return n >= 0x1.0p64 ? UINT64_MAX : (uint64_t)n;
	default:
		return p->num > 0 ? (uint64_t)p->num : 0;
	}
}

/* The position of point i of n along [0, 1], endpoints included (n = 1 gives 0). */
static double
linspace(uint64_t i, uint64_t n)
{
	return n > 1 ? (double)i / (double)(n - 1) : 0.0;
}

/* Appends the JSON text of grid point i (< expand_grid_points(p)) of p. */
static void
emit_grid_point(const struct slot *sl, uint64_t i, uint64_t n, struct buf *b)
{
	const struct spec_param *p = sl->p;
	double kmin, kmax, t, v, c;

	switch (p->kind) {
	case DIST_VALUE:
	case DIST_VALUES:
		json_add_value(b, json_array_get(p->values, (size_t)i));
		return;
	case DIST_INT_UNIFORM:
	case DIST_Q_UNIFORM:
		lattice(p, p->kind == DIST_Q_UNIFORM ? p->q : 1.0, &kmin, &kmax);
		if ((double)n >= kmax - kmin + 1)
			t = kmin + (double)i;
		else
			t = kmin + nearbyint(linspace(i, n) * (kmax - kmin));
		v = p->kind == DIST_Q_UNIFORM ? q_multiple(p->q, sl->qdigits, t) : t;
		break;
	case DIST_UNIFORM:
		t = linspace(i, n);
		v = i + 1 == n && n > 1 ? p->max : p->min + t * (p->max - p->min);
		break;
	case DIST_LOG_UNIFORM_VALUES:
	case DIST_INV_LOG_UNIFORM_VALUES:
		if (i == 0)
			v = p->min;
		else if (i + 1 == n)
			v = p->max;
		else
			v = dist_value(sl, linspace(i, n), 0);
		break;
	default:
		if (is_gaussian(p->kind)) {
			/* Quantiles at the centres of K equal-probability cells. */
			c = ((double)i + 0.5) / (double)n;
			v = dist_value(sl, c, normal_quantile(c));
		} else
			/* log ranges, both ends included */
			v = dist_value(sl, linspace(i, n), 0);
		break;
	}
	buf_add_double(b, v + 0.0);	/* -0 prints as 0 */
}

/* --- the expander --------------------------------------------------------------------- */

/* Renders the texts of the slot's n grid points (grid) or values into one arena. */
static void
slot_render(struct slot *sl, uint64_t n, bool grid)
{
	struct buf b = { 0 };
	uint64_t i;

	sl->off = xreallocarray(NULL, (size_t)n + 1, sizeof *sl->off);
	for (i = 0; i < n; i++) {
		sl->off[i] = b.len;
		if (grid)
			emit_grid_point(sl, i, n, &b);
		else
			json_add_value(&b, json_array_get(sl->p->values, (size_t)i));
	}
	sl->off[n] = b.len;
	sl->ntexts = n;
	sl->arena = buf_steal(&b);
}

static void
slots_free(struct slot *slots, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(slots[i].off);
		free(slots[i].arena);
		free(slots[i].key);
	}
	free(slots);
}

/* The text before parameter p's value: the braces that close the groups of prev (the
 * parameter before it) that p is not in, a comma, the groups of p that prev is not in, and
 * p's own key. Parameters of one group are adjacent (spec-params.c flattens depth first). */
static void
slot_key(struct buf *key, const struct spec_param *prev, const struct spec_param *p)
{
	size_t common = 0, i, nk = p->nkeys > 0 ? p->nkeys : 1;
	const char *leaf;

	if (prev != NULL) {
		while (common + 1 < prev->nkeys && common + 1 < nk &&
		    strcmp(prev->keys[common], p->keys[common]) == 0)
			common++;
		for (i = common; i + 1 < prev->nkeys; i++)
			buf_addc(key, '}');
		buf_addc(key, ',');
	}
	for (i = common; i + 1 < nk; i++) {
		json_add_string(key, p->keys[i], strlen(p->keys[i]));
		buf_add(key, ":{", 2);
	}
	leaf = p->nkeys > 0 ? p->keys[p->nkeys - 1] : p->name;
	json_add_string(key, leaf, strlen(leaf));
	buf_addc(key, ':');
}

/* Returns NULL with *cause set when the spec cannot be expanded (method bayes). */
struct expander *
expander_create(const struct spec *s, char **cause)
{
	struct expander *e;
	struct slot *sl;
	struct buf key = { 0 };
	size_t i;

	if (s->method == METHOD_BAYES) {
		*cause = xstrdup("method bayes proposes trials as results arrive; "
		    "it is not expanded up front");
		return NULL;
	}
	if (s->method != METHOD_GRID && s->max_trials <= 0) {
		*cause = xasprintf("method %s needs max_trials",
		    s->method == METHOD_RANDOM ? "random" : "sobol");
		return NULL;
	}
	if (s->method == METHOD_SOBOL && (unsigned long)s->max_trials > UINT32_MAX) {
		*cause = xasprintf("method sobol supports at most %" PRIu32 " trials",
		    UINT32_MAX);
		return NULL;
	}

	e = xcalloc(1, sizeof *e);
	e->method = s->method;
	e->nslots = s->nparams;
	e->slots = xcalloc(s->nparams ? s->nparams : 1, sizeof *e->slots);
	e->limit = s->max_trials > 0 ? (uint64_t)s->max_trials : 0;
	for (i = 0; i < s->nparams; i++) {
		sl = &e->slots[i];
		slot_prepare(sl, &s->params[i]);
		if ((sl->p->kind == DIST_VALUE || sl->p->kind == DIST_VALUES) &&
		    json_array_size(sl->p->values) == 0) {
			*cause = xasprintf("parameters.%s: \"values\" is empty", sl->p->name);
			goto fail;
		}
		if (sl->drawn)
			e->ndrawn++;

		buf_reset(&key);
		slot_key(&key, i > 0 ? &s->params[i - 1] : NULL, sl->p);
		sl->keylen = key.len;
		sl->key = buf_steal(&key);

		if (s->method == METHOD_GRID) {
			sl->npoints = expand_grid_points(sl->p);
			if (sl->npoints == 0) {
				*cause = xasprintf("parameters.%s: a grid over a continuous "
				    "range needs \"num\"", sl->p->name);
				goto fail;
			}
			if (sl->npoints <= GRID_TEXT_CACHE_MAX)
				slot_render(sl, sl->npoints, true);
		} else if (sl->p->kind == DIST_VALUE || sl->p->kind == DIST_VALUES)
			slot_render(sl, json_array_size(sl->p->values), false);
	}

	/* the last parameter's groups, then the object */
	buf_addc(&key, '}');
	for (i = 1; s->nparams > 0 && i < s->params[s->nparams - 1].nkeys; i++)
		buf_addc(&key, '}');
	e->taillen = key.len;
	e->tail = buf_steal(&key);

	switch (s->method) {
	case METHOD_RANDOM:
		prng_seed(&e->prng, s->seed);
		break;
	case METHOD_SOBOL:
		if (e->ndrawn > SOBOL_MAX_DIMS) {
			*cause = xasprintf("method sobol supports at most %d parameters that "
			    "vary (this spec has %u)", SOBOL_MAX_DIMS, e->ndrawn);
			goto fail;
		}
		if (e->ndrawn > 0) {
			e->sobol = sobol_create(e->ndrawn);
			e->point = xcalloc(e->ndrawn, sizeof *e->point);
			sobol_next(e->sobol, e->point);		/* point 0: the corner */
		}
		break;
	default:
		break;
	}
	return e;

fail:
	expander_free(e);
	return NULL;
}

/* Writes the canonical parameter object, as expander_next() writes a random trial, for
 * one unit draw per parameter u[i] (spec order; fixed "value" parameters ignore theirs):
 * how the bayes searcher turns its choice into a trial. -1 with *cause as expander_create. */
int
expand_from_units(const struct spec *s, const double *u, struct buf *b, char **cause)
{
	struct spec tmp = *s;
	struct expander *e;
	size_t i;

	/* The random method's slots, without its stream: the caller has drawn. */
	tmp.method = METHOD_RANDOM;
	tmp.max_trials = 1;
	if ((e = expander_create(&tmp, cause)) == NULL)
		return -1;
	buf_reset(b);
	buf_addc(b, '{');
	for (i = 0; i < e->nslots; i++) {
		buf_add(b, e->slots[i].key, e->slots[i].keylen);
		emit_unit(&e->slots[i], e->slots[i].drawn ? u[i] : 0, b);
	}
	buf_add(b, e->tail, e->taillen);
	expander_free(e);
	return 0;
}

/* Appends grid point sl->at of slot sl. */
static void
emit_grid_slot(const struct slot *sl, struct buf *b)
{
	size_t a;

	if (sl->arena != NULL) {
		a = (size_t)sl->at;
		buf_add(b, sl->arena + sl->off[a], sl->off[a + 1] - sl->off[a]);
	} else
		emit_grid_point(sl, sl->at, sl->npoints, b);
}

/* Steps the odometer: the last slot turns fastest. False when it wrapped around. */
static bool
grid_advance(struct expander *e)
{
	size_t i = e->nslots;

	while (i-- > 0) {
		if (++e->slots[i].at < e->slots[i].npoints)
			return true;
		e->slots[i].at = 0;
	}
	return false;
}

/* Writes the next trial's parameters as a canonical JSON object (keys in spec order, no
 * spaces) into b (reset first). Returns false when the sweep has no more trials. */
bool
expander_next(struct expander *e, struct buf *b)
{
	const struct slot *sl;
	unsigned d = 0;
	size_t i;

	if (e->done || (e->limit > 0 && e->emitted >= e->limit))
		return false;
	if (e->sobol != NULL)
		sobol_next(e->sobol, e->point);

	buf_reset(b);
	buf_addc(b, '{');
	for (i = 0; i < e->nslots; i++) {
		sl = &e->slots[i];
		buf_add(b, sl->key, sl->keylen);
		switch (e->method) {
		case METHOD_GRID:
			emit_grid_slot(sl, b);
			break;
		case METHOD_RANDOM:
			emit_unit(sl, sl->drawn ? prng_uniform(&e->prng) : 0, b);
			break;
		case METHOD_SOBOL:
			emit_unit(sl, sl->drawn ? e->point[d++] : 0, b);
			break;
		default:
			abort();
		}
	}
	buf_add(b, e->tail, e->taillen);

	e->emitted++;
	if (e->method == METHOD_GRID && !grid_advance(e))
		e->done = true;
	return true;
}

void
expander_free(struct expander *e)
{
	if (e == NULL)
		return;
	free(e->point);
	free(e->tail);
	sobol_free(e->sobol);
	slots_free(e->slots, e->nslots);
	free(e);
}
