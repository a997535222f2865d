/* Sweep spec parameters: the "parameters" block, W&B's distributions with W&B's meanings
 * (wandb/sweeps params.py and config/schema.json), nested "parameters" blocks, and the grid
 * checks. A parameter whose value is {"parameters": {...}} is a group: its parameters are
 * flattened, depth first in spec order, into struct spec's params with the dotted name
 * "outer.inner" and the key path that the expander nests the trial's values under.
 *
 * Without "distribution", W&B infers one: "values" is categorical, "value" constant, and
 * "min"/"max" int_uniform when both bounds are integers, else uniform. So {min: 0, max: 1}
 * gives the integers 0 and 1, as it does on W&B. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/expand.h"
#include "spotsweep/spec-impl.h"
#include "spotsweep/xmalloc.h"

/* Deeper nesting than this is surely a mistake, and keeps the paths short. */
#define MAX_NESTING	16

/* Names accepted for "distribution": W&B's, plus the contract's value/values. */
static const struct {
	const char	*name;
	enum dist_kind	 kind;
} dist_aliases[] = {
	{ "uniform", DIST_UNIFORM },
	{ "int_uniform", DIST_INT_UNIFORM },
	{ "log_uniform_values", DIST_LOG_UNIFORM_VALUES },
	{ "q_uniform", DIST_Q_UNIFORM },
	{ "normal", DIST_NORMAL },
	{ "log_uniform", DIST_LOG_UNIFORM },
	{ "inv_log_uniform", DIST_INV_LOG_UNIFORM },
	{ "inv_log_uniform_values", DIST_INV_LOG_UNIFORM_VALUES },
	{ "q_log_uniform", DIST_Q_LOG_UNIFORM },
	{ "q_log_uniform_values", DIST_Q_LOG_UNIFORM_VALUES },
	{ "q_normal", DIST_Q_NORMAL },
	{ "log_normal", DIST_LOG_NORMAL },
	{ "q_log_normal", DIST_Q_LOG_NORMAL },
	{ "categorical", DIST_VALUES },
	{ "categorical_w_probabilities", DIST_VALUES },
	{ "constant", DIST_VALUE },
	{ "values", DIST_VALUES },
	{ "value", DIST_VALUE },
};
#define NALIASES	(sizeof dist_aliases / sizeof dist_aliases[0])

static const char *const param_keys[] = {
	"distribution", "value", "values", "probabilities", "min", "max", "q", "mu", "sigma",
	"num", NULL
};

/* Which parameter keys each distribution takes, as bits indexed like param_keys. */
#define PK(i)		(1u << (i))
#define PK_DIST		PK(0)
#define PK_VALUE	PK(1)
#define PK_VALUES	PK(2)
#define PK_PROBS	PK(3)
#define PK_MIN		PK(4)
#define PK_MAX		PK(5)
#define PK_Q		PK(6)
#define PK_MU		PK(7)
#define PK_SIGMA	PK(8)
#define PK_NUM		PK(9)
#define PK_RANGE	(PK_DIST | PK_MIN | PK_MAX | PK_NUM)
#define PK_GAUSS	(PK_DIST | PK_MU | PK_SIGMA | PK_NUM)

static const unsigned dist_allowed[DIST_MAX] = {
	[DIST_VALUE] = PK_DIST | PK_VALUE,
	[DIST_VALUES] = PK_DIST | PK_VALUES | PK_PROBS,
	[DIST_UNIFORM] = PK_RANGE,
	[DIST_INT_UNIFORM] = PK_RANGE,
	[DIST_LOG_UNIFORM_VALUES] = PK_RANGE,
	[DIST_Q_UNIFORM] = PK_RANGE | PK_Q,
	[DIST_NORMAL] = PK_GAUSS,
	[DIST_LOG_UNIFORM] = PK_RANGE,
	[DIST_INV_LOG_UNIFORM] = PK_RANGE,
	[DIST_INV_LOG_UNIFORM_VALUES] = PK_RANGE,
	[DIST_Q_LOG_UNIFORM] = PK_RANGE | PK_Q,
	[DIST_Q_LOG_UNIFORM_VALUES] = PK_RANGE | PK_Q,
	[DIST_Q_NORMAL] = PK_GAUSS | PK_Q,
	[DIST_LOG_NORMAL] = PK_GAUSS,
	[DIST_Q_LOG_NORMAL] = PK_GAUSS | PK_Q,
};

/* Distributions whose values must be positive bounds given as values, not logarithms. */
static bool
takes_value_bounds(enum dist_kind k)
{
	return k == DIST_LOG_UNIFORM_VALUES || k == DIST_INV_LOG_UNIFORM_VALUES ||
	    k == DIST_Q_LOG_UNIFORM_VALUES;
}

static bool
is_gaussian(enum dist_kind k)
{
	return k == DIST_NORMAL || k == DIST_Q_NORMAL || k == DIST_LOG_NORMAL ||
	    k == DIST_Q_LOG_NORMAL;
}

static unsigned
dist_required(enum dist_kind k)
{
	if (k == DIST_VALUE)
		return PK_VALUE;
	if (k == DIST_VALUES)
		return PK_VALUES;
	return is_gaussian(k) ? 0 : PK_MIN | PK_MAX;
}

/* Settles a parameter's distribution: named, or inferred as W&B does. */
static int
param_kind(struct pctx *c, json_t *obj, enum dist_kind *kind)
{
	const char *alias_names[NALIASES + 1];
	json_t *d = json_object_get(obj, "distribution"), *mn, *mx;
	const char *name;
	char *h;
	size_t i;
	int rc;

	if (d != NULL) {
		if (!json_is_string(d))
			return spec_fail(c, "distribution", AT_VALUE, "expected a string");
		name = json_string_value(d);
		for (i = 0; i < NALIASES; i++) {
			if (strcmp(name, dist_aliases[i].name) == 0) {
				*kind = dist_aliases[i].kind;
				return 0;
			}
			alias_names[i] = dist_aliases[i].name;
		}
		alias_names[i] = NULL;
		if (strcmp(name, "beta") == 0 || strcmp(name, "q_beta") == 0)
			return spec_fail(c, "distribution", AT_VALUE, "distribution %s is not "
			    "supported", name);
		h = spec_hint(name, alias_names);
		rc = spec_fail(c, "distribution", AT_VALUE, "unknown distribution \"%.*s\"%s",
		    SPEC_QUOTE_MAX, name, h);
		free(h);
		return rc;
	}
	if (json_object_get(obj, "values") != NULL)
		*kind = DIST_VALUES;
	else if (json_object_get(obj, "value") != NULL)
		*kind = DIST_VALUE;
	else if (json_object_get(obj, "min") != NULL || json_object_get(obj, "max") != NULL) {
		mn = json_object_get(obj, "min");
		mx = json_object_get(obj, "max");
		if ((mn == NULL || json_is_integer(mn)) && (mx == NULL || json_is_integer(mx)))
			*kind = DIST_INT_UNIFORM;
		else
			*kind = DIST_UNIFORM;
	} else
		return spec_fail(c, NULL, AT_VALUE, "cannot tell the distribution: expected "
		    "\"values\", \"value\", \"min\" and \"max\", a \"distribution\", or "
		    "\"parameters\" (a nested block)");
	return 0;
}

/* "probabilities": one non-negative number per value, adding up to 1 (within rounding); kept
 * as the cumulative sums W&B samples from. */
static int
parse_probabilities(struct pctx *c, json_t *obj, struct spec_param *p)
{
	json_t *pr = json_object_get(obj, "probabilities"), *v;
	double sum = 0;
	char idx[32], num[32];
	size_t i, mark;
	int rc = 0;

	if (pr == NULL)
		return 0;
	if (!json_is_array(pr))
		return spec_fail(c, "probabilities", AT_VALUE, "expected an array of numbers");
	if (json_array_size(pr) != json_array_size(p->values))
		return spec_fail(c, "probabilities", AT_VALUE, "expected one probability per "
		    "value (%zu), got %zu", json_array_size(p->values), json_array_size(pr));
	p->cum = xcalloc(json_array_size(pr) + 1, sizeof *p->cum);
	mark = spec_path_push(c, "probabilities");
	json_array_foreach(pr, i, v) {
		snprintf(idx, sizeof idx, "%zu", i);
		if (!json_is_number(v) || !(json_number_value(v) >= 0) ||
		    !isfinite(json_number_value(v))) {
			rc = spec_fail(c, idx, AT_VALUE, "expected a number from 0 to 1");
			break;
		}
		sum += json_number_value(v);
		p->cum[i] = sum;
	}
	spec_path_pop(c, mark);
	if (rc != 0)
		return rc;
	if (fabs(sum - 1) > 1e-6) {
		format_double(num, sum);
		return spec_fail(c, "probabilities", AT_VALUE, "must add up to 1 (they add up "
		    "to %s)", num);
	}
	p->cum[json_array_size(pr) - 1] = 1;
	return 0;
}

/* The checks of a numeric distribution's arguments, once they are read. */
static int
check_range(struct pctx *c, struct spec_param *p)
{
	char lo[32], hi[32];
	size_t i;

	if ((dist_allowed[p->kind] & PK_Q) != 0 && !(p->q > 0 && isfinite(p->q))) {
		format_double(lo, p->q);
		return spec_fail(c, "q", AT_VALUE, "must be positive (got %s)", lo);
	}
	if (is_gaussian(p->kind)) {
		if (!(p->sigma > 0)) {
			format_double(lo, p->sigma);
			return spec_fail(c, "sigma", AT_VALUE, "must be positive (got %s)", lo);
		}
		/* a draw reaches about 8.3 sigma; exp() of more than 709 is no double */
		if ((p->kind == DIST_LOG_NORMAL || p->kind == DIST_Q_LOG_NORMAL) &&
		    fabs(p->mu) + 8.5 * p->sigma > 709)
			return spec_fail(c, "sigma", AT_VALUE, "exp(mu + 8.5 sigma) overflows: "
			    "mu and sigma are the mean and spread of the value's logarithm");
		return 0;
	}
	if (takes_value_bounds(p->kind)) {
		for (i = 0; i < 2; i++) {
			if ((i == 0 ? p->min : p->max) > 0)
				continue;
			format_double(lo, i == 0 ? p->min : p->max);
			return spec_fail(c, i == 0 ? "min" : "max", AT_VALUE,
			    "must be positive for %s (got %s)", dist_kind_name(p->kind), lo);
		}
	}
	if (p->min >= p->max) {
		format_double(lo, p->min);
		format_double(hi, p->max);
		return spec_fail(c, "min", AT_VALUE, "must be less than max (%s >= %s)", lo, hi);
	}
	if (!isfinite(p->max - p->min))
		return spec_fail(c, "max", AT_VALUE, "the range max - min is too large");
	if (p->kind == DIST_LOG_UNIFORM || p->kind == DIST_INV_LOG_UNIFORM ||
	    p->kind == DIST_Q_LOG_UNIFORM) {
		/* W&B's bounds here are natural logarithms: log(1e-4) is -9.21 */
		if (fabs(p->max) > 709 || fabs(p->min) > 709)
			return spec_fail(c, fabs(p->max) > 709 ? "max" : "min", AT_VALUE,
			    "exp() of it is no double: %s takes the logarithms of the bounds "
			    "(use %s_values for the bounds themselves)", dist_kind_name(p->kind),
			    dist_kind_name(p->kind));
	}
	return 0;
}

static int
check_name(struct pctx *c, const char *name)
{
	if (*name == '\0')
		return spec_fail(c, NULL, AT_KEY, "a parameter name must not be empty");
	if (strchr(name, '{') != NULL || strchr(name, '}') != NULL)
		return spec_fail(c, NULL, AT_KEY, "a parameter name must not contain '{' or '}' "
		    "(they mark placeholders in the command)");
	if (spec_has_control(name))
		return spec_fail(c, NULL, AT_KEY,
		    "a parameter name must not contain control characters");
	return 0;
}

static int
parse_param(struct pctx *c, json_t *obj, struct spec_param *p)
{
	json_t *v;
	unsigned present = 0, required;
	size_t i;

	if (!json_is_object(obj))
		return spec_fail(c, NULL, AT_VALUE, "expected an object such as "
		    "{\"values\": [1, 2]} or {\"min\": 0, \"max\": 1}");
	if (spec_check_keys(c, obj, param_keys) != 0)
		return -1;
	if (param_kind(c, obj, &p->kind) != 0)
		return -1;

	for (i = 0; param_keys[i] != NULL; i++) {
		if (json_object_get(obj, param_keys[i]) == NULL)
			continue;
		present |= PK(i);
		if ((dist_allowed[p->kind] & PK(i)) == 0)
			return spec_fail(c, param_keys[i], AT_KEY,
			    "does not apply to distribution %s", dist_kind_name(p->kind));
	}
	required = dist_required(p->kind);
	for (i = 0; param_keys[i] != NULL; i++) {
		if ((required & PK(i)) != 0 && (present & PK(i)) == 0)
			return spec_fail(c, param_keys[i], AT_PARENT,
			    "missing required key (distribution %s needs it)",
			    dist_kind_name(p->kind));
	}

	p->q = 1;
	p->mu = 0;
	p->sigma = 1;
	switch (p->kind) {
	case DIST_VALUE:
		p->values = json_array();
		json_array_append(p->values, json_object_get(obj, "value"));
		return 0;
	case DIST_VALUES:
		v = json_object_get(obj, "values");
		if (!json_is_array(v))
			return spec_fail(c, "values", AT_VALUE, "expected an array");
		if (json_array_size(v) == 0)
			return spec_fail(c, "values", AT_VALUE, "must not be empty");
		p->values = json_incref(v);
		return parse_probabilities(c, obj, p);
	default:
		break;
	}

	if (spec_get_number(c, obj, "min", p->kind == DIST_INT_UNIFORM, &p->min) < 0 ||
	    spec_get_number(c, obj, "max", p->kind == DIST_INT_UNIFORM, &p->max) < 0 ||
	    spec_get_number(c, obj, "q", false, &p->q) < 0 ||
	    spec_get_number(c, obj, "mu", false, &p->mu) < 0 ||
	    spec_get_number(c, obj, "sigma", false, &p->sigma) < 0 ||
	    spec_get_long(c, obj, "num", 1, (long)SPEC_GRID_LIMIT, &p->num) < 0)
		return -1;
	return check_range(c, p);
}

/* A growing list of flattened parameters. */
struct plist {
	struct spec_param	*v;
	size_t			 n, cap;
};

static struct spec_param *
plist_add(struct plist *l, const char *const *keys, size_t nkeys)
{
	struct spec_param *p;
	struct buf name = { 0 };
	size_t i;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	p = &l->v[l->n++];
	memset(p, 0, sizeof *p);
	p->keys = xcalloc(nkeys, sizeof *p->keys);
	for (i = 0; i < nkeys; i++) {
		p->keys[i] = xstrdup(keys[i]);
		if (i > 0)
			buf_addc(&name, '.');
		buf_adds(&name, keys[i]);
	}
	p->nkeys = nkeys;
	p->name = buf_steal(&name);
	return p;
}

/* A group is {"parameters": {...}} and nothing else, as in W&B's schema. */
static bool
is_group(json_t *v)
{
	return json_is_object(v) && json_object_get(v, "parameters") != NULL;
}

/* Parses the parameters of one block (the top level or a group's), depth first. */
static int
parse_block(struct pctx *c, json_t *block, const char **keys, size_t depth, struct plist *l)
{
	const char *name, *key;
	json_t *v, *item;
	struct spec_param *p;
	size_t pmark, gmark, i;
	int rc = 0;

	if (json_object_size(block) == 0)
		return spec_fail(c, NULL, AT_VALUE, "needs at least one parameter");
	json_object_foreach(block, name, v) {
		pmark = spec_path_push(c, name);
		keys[depth] = name;
		if ((rc = check_name(c, name)) != 0)
			goto next;
		if (is_group(v)) {
			json_object_foreach(v, key, item) {
				if (strcmp(key, "parameters") != 0) {
					rc = spec_fail(c, key, AT_KEY, "does not apply to a nested "
					    "block, which holds only \"parameters\"");
					goto next;
				}
			}
			if (depth + 1 >= MAX_NESTING) {
				rc = spec_fail(c, "parameters", AT_KEY, "nested more than %d "
				    "levels deep", MAX_NESTING);
				goto next;
			}
			gmark = spec_path_push(c, "parameters");
			if (!json_is_object(json_object_get(v, "parameters")))
				rc = spec_fail(c, NULL, AT_VALUE, "expected an object of "
				    "parameters");
			else
				rc = parse_block(c, json_object_get(v, "parameters"), keys,
				    depth + 1, l);
			spec_path_pop(c, gmark);
			goto next;
		}
		p = plist_add(l, keys, depth + 1);
		/* "a.b" given flat and as a.b nested would be one column twice */
		for (i = 0; i + 1 < l->n; i++) {
			if (strcmp(l->v[i].name, p->name) == 0) {
				rc = spec_fail(c, NULL, AT_KEY, "the name %.*s is already taken by "
				    "another parameter", SPEC_QUOTE_MAX, p->name);
				goto next;
			}
		}
		rc = parse_param(c, v, p);
next:
		spec_path_pop(c, pmark);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
spec_parse_parameters(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	const char *keys[MAX_NESTING];
	struct plist l = { 0 };
	json_t *params = NULL;
	size_t mark;
	int rc;

	if ((rc = spec_get_object(c, root, "parameters", &params)) <= 0)
		return rc == 0 ? spec_fail(c, "parameters", AT_PARENT, "missing required key") :
		    -1;
	mark = spec_path_push(c, "parameters");
	rc = parse_block(c, params, keys, 0, &l);
	spec_path_pop(c, mark);
	/* Handed over even on failure: spec_free releases what was built. */
	s->params = l.v;
	s->nparams = l.n;
	return rc;
}

/* Whether some multiple of q lies in [min, max], by the expander's own rule (a relative
 * slack, so min 0.3 and q 0.1 start at 3 * 0.1); without one a q_uniform grid has no point
 * inside the range. */
static bool
q_lattice_empty(const struct spec_param *p)
{
	double a = p->min / p->q, z = p->max / p->q;

	return floor(z + 1e-9 * fmax(1.0, fabs(z))) < ceil(a - 1e-9 * fmax(1.0, fabs(a)));
}

bool
spec_grid_size(const struct spec *s, uint64_t *size)
{
	uint64_t total = 1, n;
	size_t i;

	/* the expander's own count, so the sizes cannot disagree; it saturates at UINT64_MAX */
	for (i = 0; i < s->nparams; i++) {
		n = expand_grid_points(&s->params[i]);
		if (n == 0 || n == UINT64_MAX || __builtin_mul_overflow(total, n, &total))
			return false;
	}
	*size = total;
	return true;
}

uint64_t
spec_trial_count(const struct spec *s)
{
	uint64_t size;

	if (s->method != METHOD_GRID)
		return s->max_trials > 0 ? (uint64_t)s->max_trials : 0;
	if (!spec_grid_size(s, &size))
		size = UINT64_MAX;
	if (s->max_trials > 0 && (uint64_t)s->max_trials < size)
		size = (uint64_t)s->max_trials;
	return size;
}

int
spec_check_grid(struct pctx *c)
{
	struct spec *s = c->s;
	struct spec_param *p;
	uint64_t total;
	size_t i, k, mark, pmark;
	int rc = 0;

	mark = spec_path_push(c, "parameters");
	for (i = 0; i < s->nparams && rc == 0; i++) {
		p = &s->params[i];
		/* the parameter's own key path: outer.parameters.inner */
		pmark = c->path.len;
		for (k = 0; k < p->nkeys; k++) {
			if (k > 0)
				spec_path_push(c, "parameters");
			spec_path_push(c, p->keys[k]);
		}
		if (p->num == 0 && expand_grid_points(p) == 0)
			rc = spec_fail(c, NULL, AT_VALUE, "a grid over a continuous %s range "
			    "needs \"num\" (the number of grid points)", dist_kind_name(p->kind));
		else if (p->kind == DIST_Q_UNIFORM && q_lattice_empty(p))
			rc = spec_fail(c, "q", AT_VALUE, "no multiple of q lies between min and "
			    "max, so the grid has no point in range");
		spec_path_pop(c, pmark);
	}
	spec_path_pop(c, mark);
	if (rc != 0)
		return rc;
	if (!spec_grid_size(s, &total))
		return spec_fail(c, "parameters", AT_VALUE, "the grid has more than "
		    "18446744073709551615 points; the limit is %llu", SPEC_GRID_LIMIT);
	if (total > SPEC_GRID_LIMIT)
		return spec_fail(c, "parameters", AT_VALUE, "the grid has %llu points; the "
		    "limit is %llu", (unsigned long long)total, SPEC_GRID_LIMIT);
	return 0;
}
