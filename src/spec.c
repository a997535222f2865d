/* Sweep specs: turns the JSON text of a spec into a validated struct spec, or into one error
 * line "FILE:LINE:COLUMN: key.path: what was expected". jansson parses (rejecting duplicate
 * keys); the checks here walk the parsed tree key by key, keeping the key path of whatever
 * they look at, and ask spec-locate.c where in the text that path is. Parameter syntax and
 * meanings follow Weights & Biases sweeps. This module also owns the command placeholder
 * syntax, so that validation and the agent's substitution cannot disagree. */

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Integers beyond 2^53 do not survive the trip through a double. */
#define EXACT_INT_LIMIT	9007199254740992.0

/* Longest user-supplied text quoted in a message, so a megabyte key stays one short line. */
#define QUOTE_MAX	64
#define PATH_MAX_SHOWN	200

static const char *const method_names[METHOD_MAX] = {
	[METHOD_GRID] = "grid",
	[METHOD_RANDOM] = "random",
	[METHOD_SOBOL] = "sobol",
	[METHOD_BAYES] = "bayes",
};

static const char *const dist_names[DIST_MAX] = {
	[DIST_VALUE] = "value",
	[DIST_VALUES] = "values",
	[DIST_UNIFORM] = "uniform",
	[DIST_INT_UNIFORM] = "int_uniform",
	[DIST_LOG_UNIFORM_VALUES] = "log_uniform_values",
	[DIST_Q_UNIFORM] = "q_uniform",
	[DIST_NORMAL] = "normal",
};

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
	{ "categorical", DIST_VALUES },
	{ "constant", DIST_VALUE },
	{ "values", DIST_VALUES },
	{ "value", DIST_VALUE },
};

static const char *const top_keys[] = {
	"name", "description", "command", "method", "max_trials", "seed", "parameters",
	"metric", "metrics", "retry", "checkpoint", "timeout_s", "deadline", "early_terminate",
	NULL
};
static const char *const param_keys[] = {
	"distribution", "value", "values", "min", "max", "q", "mu", "sigma", "num", NULL
};
static const char *const metric_keys[] = { "name", "goal", "pattern", NULL };
static const char *const retry_keys[] = {
	"max_failures", "max_preemptions", "fatal_patterns", NULL
};
static const char *const checkpoint_keys[] = { "keep", NULL };
static const char *const early_keys[] = {
	"type", "min_steps", "min_iter", "eta", "max_iter", NULL
};
static const char *const builtin_placeholders[] = {
	"trial_id", "attempt", "checkpoint_dir", "resume_from", NULL
};

/* Which parameter keys each distribution takes, as bits indexed like param_keys. */
#define PK(i)		(1u << (i))
#define PK_DIST		PK(0)
#define PK_VALUE	PK(1)
#define PK_VALUES	PK(2)
#define PK_MIN		PK(3)
#define PK_MAX		PK(4)
#define PK_Q		PK(5)
#define PK_MU		PK(6)
#define PK_SIGMA	PK(7)
#define PK_NUM		PK(8)

static const unsigned dist_allowed[DIST_MAX] = {
	[DIST_VALUE] = PK_DIST | PK_VALUE,
	[DIST_VALUES] = PK_DIST | PK_VALUES,
	[DIST_UNIFORM] = PK_DIST | PK_MIN | PK_MAX | PK_NUM,
	[DIST_INT_UNIFORM] = PK_DIST | PK_MIN | PK_MAX | PK_NUM,
	[DIST_LOG_UNIFORM_VALUES] = PK_DIST | PK_MIN | PK_MAX | PK_NUM,
	[DIST_Q_UNIFORM] = PK_DIST | PK_MIN | PK_MAX | PK_Q | PK_NUM,
	[DIST_NORMAL] = PK_DIST | PK_MU | PK_SIGMA | PK_NUM,
};
static const unsigned dist_required[DIST_MAX] = {
	[DIST_VALUE] = PK_VALUE,
	[DIST_VALUES] = PK_VALUES,
	[DIST_UNIFORM] = PK_MIN | PK_MAX,
	[DIST_INT_UNIFORM] = PK_MIN | PK_MAX,
	[DIST_LOG_UNIFORM_VALUES] = PK_MIN | PK_MAX,
	[DIST_Q_UNIFORM] = PK_MIN | PK_MAX,
	[DIST_NORMAL] = 0,
};

/* Where an error points: the value at the path, the key ending the path, or (for a missing
 * key) the object that should hold it. */
enum at { AT_VALUE, AT_KEY, AT_PARENT };

struct pctx {
	const char	*file;
	const char	*text;
	size_t		 len;
	char		**cause;
	struct spec	*s;
	struct buf	 path;		/* key path of the object being checked */
	char		*bad_placeholder;
};

const char *
spec_method_name(enum spec_method m)
{
	return m < METHOD_MAX ? method_names[m] : "unknown";
}

const char *
dist_kind_name(enum dist_kind k)
{
	return k < DIST_MAX ? dist_names[k] : "unknown";
}

/* Length of the valid UTF-8 sequence (not an overlong form, not a surrogate) that starts at
 * p with n bytes available, or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp, min;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Copies s with control characters and invalid UTF-8 escaped as \xNN, so a message built
 * from user input is one printable line and valid as a JSON string. */
static char *
sanitize(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = { 0 };
	size_t left = strlen(s), n;

	buf_adds(&b, "");
	while (left > 0) {
		n = utf8_len(p, left);
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			buf_printf(&b, "\\x%02x", *p);
			n = 1;
		} else
			buf_add(&b, p, n);
		p += n;
		left -= n;
	}
	return buf_steal(&b);
}

/* Formats the one error of this parse into *cause; returns -1 for the caller to return. */
static int
fail_v(struct pctx *c, const char *key, enum at at, const char *fmt, va_list ap)
{
	struct buf full = { 0 }, msg = { 0 };
	char *raw;
	int line = 1, column = 1;
	bool found;
	va_list ap2;
	int n;

	buf_adds(&full, c->path.data != NULL ? c->path.data : "");
	if (key != NULL) {
		if (full.len > 0)
			buf_addc(&full, '.');
		buf_adds(&full, key);
	}
	switch (at) {
	case AT_VALUE:
		found = json_locate(c->text, c->len, full.data, &line, &column);
		break;
	case AT_KEY:
		found = json_locate_key(c->text, c->len, full.data, &line, &column);
		break;
	default:
		found = json_locate(c->text, c->len, c->path.data != NULL ? c->path.data : "",
		    &line, &column);
		break;
	}
	if (!found)
		line = column = 1;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	buf_printf(&msg, "%s:%d:%d: ", c->file, line, column);
	if (full.len > 0) {
		if (full.len > PATH_MAX_SHOWN)
			buf_printf(&msg, "%.*s...: ", PATH_MAX_SHOWN, full.data);
		else
			buf_printf(&msg, "%s: ", full.data);
	}
	if (n > 0) {
		raw = xmalloc((size_t)n + 1);
		vsnprintf(raw, (size_t)n + 1, fmt, ap);
		buf_adds(&msg, raw);
		free(raw);
	}
	*c->cause = sanitize(msg.data);
	buf_free(&msg);
	buf_free(&full);
	return -1;
}

static int fail(struct pctx *c, const char *key, enum at at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(struct pctx *c, const char *key, enum at at, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_v(c, key, at, fmt, ap);
	va_end(ap);
	return rc;
}

static size_t
path_push(struct pctx *c, const char *key)
{
	size_t mark = c->path.len;

	if (c->path.len > 0)
		buf_addc(&c->path, '.');
	buf_adds(&c->path, key);
	return mark;
}

static void
path_pop(struct pctx *c, size_t mark)
{
	c->path.len = mark;
	c->path.data[mark] = '\0';
}

/* The known name closest to word, when it is close enough to be a likely typo. */
static const char *
nearest(const char *word, const char *const *names)
{
	const char *best = NULL;
	size_t d, bestd = SIZE_MAX, longer;

	if (strlen(word) > 64)
		return NULL;
	for (; *names != NULL; names++) {
		d = edit_distance(word, *names);
		longer = strlen(word) > strlen(*names) ? strlen(word) : strlen(*names);
		if (d <= 2 && d * 2 <= longer && d < bestd) {
			best = *names;
			bestd = d;
		}
	}
	return best;
}

/* " (did you mean "x"?)" or " (expected one of: a, b, c)" for an unknown word. */
static char *
hint(const char *word, const char *const *names)
{
	const char *near = nearest(word, names);
	struct buf b = { 0 };

	if (near != NULL)
		return xasprintf(" (did you mean \"%s\"?)", near);
	buf_adds(&b, " (expected one of: ");
	for (; *names != NULL; names++)
		buf_printf(&b, "%s%s", *names, names[1] != NULL ? ", " : ")");
	return buf_steal(&b);
}

static bool
is_known(const char *key, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(key, *names) == 0)
			return true;
	return false;
}

/* Rejects any key of obj that is not in known, pointing at the key itself. */
static int
check_keys(struct pctx *c, json_t *obj, const char *const *known)
{
	const char *key;
	json_t *v;
	char *h;
	int rc;

	json_object_foreach(obj, key, v) {
		if (is_known(key, known))
			continue;
		h = hint(key, known);
		rc = fail(c, key, AT_KEY, "unknown key%s", h);
		free(h);
		return rc;
	}
	return 0;
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Getters: 1 when present and valid, 0 when absent, -1 (with *cause) when invalid. */
static int
get_string(struct pctx *c, json_t *obj, const char *key, bool nonempty, const char **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return fail(c, key, AT_VALUE, "expected a string");
	if (nonempty && json_string_length(v) == 0)
		return fail(c, key, AT_VALUE, "must not be empty");
	*out = json_string_value(v);
	return 1;
}

static int
get_long(struct pctx *c, json_t *obj, const char *key, long min, long max, long *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t n;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return fail(c, key, AT_VALUE, "expected an integer");
	n = json_integer_value(v);
	if (n < min) {
		if (min == 1)
			return fail(c, key, AT_VALUE, "must be positive (got %lld)", (long long)n);
		if (min == 0)
			return fail(c, key, AT_VALUE, "must not be negative (got %lld)",
			    (long long)n);
		return fail(c, key, AT_VALUE, "must be at least %ld (got %lld)", min,
		    (long long)n);
	}
	if (n > max)
		return fail(c, key, AT_VALUE, "must be at most %ld (got %lld)", max,
		    (long long)n);
	*out = (long)n;
	return 1;
}

static int
get_number(struct pctx *c, json_t *obj, const char *key, bool integer, double *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (integer) {
		if (!json_is_integer(v))
			return fail(c, key, AT_VALUE, "expected an integer");
		if (json_integer_value(v) > (json_int_t)EXACT_INT_LIMIT ||
		    json_integer_value(v) < -(json_int_t)EXACT_INT_LIMIT)
			return fail(c, key, AT_VALUE,
			    "must be between -9007199254740992 and 9007199254740992");
	} else if (!json_is_number(v))
		return fail(c, key, AT_VALUE, "expected a number");
	*out = json_number_value(v);
	return 1;
}

static int
get_object(struct pctx *c, json_t *obj, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return fail(c, key, AT_VALUE, "expected an object");
	*out = v;
	return 1;
}

/* Compiles a pattern to prove it valid; a metric pattern must capture the number. */
static int
check_regex(struct pctx *c, const char *key, json_t *v, bool need_capture)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	pcre2_code *re;
	uint32_t captures = 0;
	int err;

	if (!json_is_string(v))
		return fail(c, key, AT_VALUE, "expected a string (a regular expression)");
	if (json_string_length(v) == 0)
		return fail(c, key, AT_VALUE, "must not be empty");
	re = pcre2_compile((PCRE2_SPTR)json_string_value(v), json_string_length(v), 0, &err,
	    &offset, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", err);
		return fail(c, key, AT_VALUE,
		    "invalid regular expression at offset %zu: %s", (size_t)offset,
		    (const char *)msg);
	}
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &captures);
	pcre2_code_free(re);
	if (need_capture && captures == 0)
		return fail(c, key, AT_VALUE,
		    "the pattern needs a capture group around the number, "
		    "e.g. \"loss[=: ]+([-+0-9.eE]+)\"");
	return 0;
}

/* Settles a parameter's distribution: named, or inferred as W&B does (values, value, then
 * min/max: int_uniform when both are integers, else uniform). */
static int
param_kind(struct pctx *c, json_t *obj, enum dist_kind *kind)
{
	static const char *alias_names[sizeof dist_aliases / sizeof dist_aliases[0] + 1];
	json_t *d = json_object_get(obj, "distribution"), *mn, *mx;
	const char *name;
	char *h;
	size_t i;
	int rc;

	if (d != NULL) {
		if (!json_is_string(d))
			return fail(c, "distribution", AT_VALUE, "expected a string");
		name = json_string_value(d);
		for (i = 0; i < sizeof dist_aliases / sizeof dist_aliases[0]; i++) {
			if (strcmp(name, dist_aliases[i].name) == 0) {
				*kind = dist_aliases[i].kind;
				return 0;
			}
			alias_names[i] = dist_aliases[i].name;
		}
		alias_names[i] = NULL;
		h = hint(name, alias_names);
		rc = fail(c, "distribution", AT_VALUE, "unknown distribution \"%.*s\"%s",
		    QUOTE_MAX, name, h);
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
		return fail(c, NULL, AT_VALUE, "cannot tell the distribution: expected "
		    "\"values\", \"value\", \"min\" and \"max\", or a \"distribution\"");
	return 0;
}

static int
parse_param(struct pctx *c, const char *name, json_t *obj, struct spec_param *p)
{
	json_t *v;
	unsigned present = 0;
	char lo[32], hi[32];
	size_t i;

	if (*name == '\0')
		return fail(c, NULL, AT_KEY, "a parameter name must not be empty");
	if (strchr(name, '{') != NULL || strchr(name, '}') != NULL)
		return fail(c, NULL, AT_KEY, "a parameter name must not contain '{' or '}' "
		    "(they mark placeholders in the command)");
	if (has_control(name))
		return fail(c, NULL, AT_KEY,
		    "a parameter name must not contain control characters");
	p->name = xstrdup(name);
	if (!json_is_object(obj))
		return fail(c, NULL, AT_VALUE, "expected an object such as "
		    "{\"values\": [1, 2]} or {\"min\": 0, \"max\": 1}");
	if (check_keys(c, obj, param_keys) != 0)
		return -1;
	if (param_kind(c, obj, &p->kind) != 0)
		return -1;

	for (i = 0; param_keys[i] != NULL; i++) {
		if (json_object_get(obj, param_keys[i]) == NULL)
			continue;
		present |= PK(i);
		if ((dist_allowed[p->kind] & PK(i)) == 0)
			return fail(c, param_keys[i], AT_KEY,
			    "does not apply to distribution %s", dist_names[p->kind]);
	}
	for (i = 0; param_keys[i] != NULL; i++) {
		if ((dist_required[p->kind] & PK(i)) != 0 && (present & PK(i)) == 0)
			return fail(c, param_keys[i], AT_PARENT,
			    "missing required key (distribution %s needs it)",
			    dist_names[p->kind]);
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
			return fail(c, "values", AT_VALUE, "expected an array");
		if (json_array_size(v) == 0)
			return fail(c, "values", AT_VALUE, "must not be empty");
		p->values = json_incref(v);
		return 0;
	default:
		break;
	}

	if (get_number(c, obj, "min", p->kind == DIST_INT_UNIFORM, &p->min) < 0 ||
	    get_number(c, obj, "max", p->kind == DIST_INT_UNIFORM, &p->max) < 0 ||
	    get_number(c, obj, "q", false, &p->q) < 0 ||
	    get_number(c, obj, "mu", false, &p->mu) < 0 ||
	    get_number(c, obj, "sigma", false, &p->sigma) < 0 ||
	    get_long(c, obj, "num", 1, (long)SPEC_GRID_LIMIT, &p->num) < 0)
		return -1;

	if (p->kind == DIST_NORMAL) {
		if (p->sigma <= 0) {
			format_double(lo, p->sigma);
			return fail(c, "sigma", AT_VALUE, "must be positive (got %s)", lo);
		}
		return 0;
	}
	if (p->kind == DIST_LOG_UNIFORM_VALUES) {
		for (i = 0; i < 2; i++) {
			if ((i == 0 ? p->min : p->max) > 0)
				continue;
			format_double(lo, i == 0 ? p->min : p->max);
			return fail(c, i == 0 ? "min" : "max", AT_VALUE,
			    "must be positive for log_uniform_values (got %s)", lo);
		}
	}
	if (p->min >= p->max) {
		format_double(lo, p->min);
		format_double(hi, p->max);
		return fail(c, "min", AT_VALUE, "must be less than max (%s >= %s)", lo, hi);
	}
	if (!isfinite(p->max - p->min))
		return fail(c, "max", AT_VALUE, "the range max - min is too large");
	if (p->kind == DIST_Q_UNIFORM && p->q <= 0) {
		format_double(lo, p->q);
		return fail(c, "q", AT_VALUE, "must be positive (got %s)", lo);
	}
	return 0;
}

static int
parse_parameters(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	json_t *params = NULL, *v;
	const char *name;
	size_t mark;
	int rc;

	if ((rc = get_object(c, root, "parameters", &params)) <= 0)
		return rc == 0 ? fail(c, "parameters", AT_PARENT, "missing required key") : -1;
	if (json_object_size(params) == 0)
		return fail(c, "parameters", AT_VALUE, "needs at least one parameter");
	s->params = xcalloc(json_object_size(params), sizeof *s->params);
	mark = path_push(c, "parameters");
	json_object_foreach(params, name, v) {
		size_t pmark = path_push(c, name);

		rc = parse_param(c, name, v, &s->params[s->nparams++]);
		path_pop(c, pmark);
		if (rc != 0)
			break;
	}
	path_pop(c, mark);
	return rc;
}

int
spec_command_render(const char *command, spec_lookup_fn lookup, void *arg, struct buf *out,
    char **cause)
{
	const char *p = command, *end, *value;
	char *name;

	while (*p != '\0') {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			buf_addc(out, *p);
			p += 2;
			continue;
		}
		if (*p == '}') {
			*cause = xasprintf("a single '}' at offset %zu; write '}}' for a "
			    "literal brace", (size_t)(p - command));
			return -1;
		}
		if (*p != '{') {
			buf_addc(out, *p++);
			continue;
		}
		end = p + 1 + strcspn(p + 1, "{}");
		if (*end != '}') {
			*cause = xasprintf("an unclosed '{' at offset %zu; write '{{' for a "
			    "literal brace", (size_t)(p - command));
			return -1;
		}
		if (end == p + 1) {
			*cause = xasprintf("an empty placeholder {} at offset %zu",
			    (size_t)(p - command));
			return -1;
		}
		name = xstrndup(p + 1, (size_t)(end - p - 1));
		value = lookup(name, arg);
		if (value == NULL) {
			*cause = xasprintf("unknown placeholder {%.*s}", QUOTE_MAX, name);
			free(name);
			return -1;
		}
		free(name);
		buf_add_shell_quoted(out, value);
		p = end + 1;
	}
	return 0;
}

/* Validation's lookup: every parameter and built-in name stands for "", others are unknown. */
static const char *
validate_lookup(const char *name, void *arg)
{
	struct pctx *c = arg;
	size_t i;

	if (is_known(name, builtin_placeholders))
		return "";
	for (i = 0; i < c->s->nparams; i++)
		if (strcmp(c->s->params[i].name, name) == 0)
			return "";
	free(c->bad_placeholder);
	c->bad_placeholder = xstrdup(name);
	return NULL;
}

static int
check_command(struct pctx *c)
{
	struct spec *s = c->s;
	struct buf scratch = { 0 };
	const char **names, *near;
	char *why = NULL;
	size_t i, n = 0;
	int rc = 0;

	if (spec_command_render(s->command, validate_lookup, c, &scratch, &why) == 0)
		goto out;
	if (c->bad_placeholder == NULL) {
		rc = fail(c, "command", AT_VALUE, "%s", why);
		goto out;
	}
	names = xcalloc(s->nparams + 5, sizeof *names);
	for (i = 0; i < s->nparams; i++)
		names[n++] = s->params[i].name;
	for (i = 0; builtin_placeholders[i] != NULL; i++)
		names[n++] = builtin_placeholders[i];
	near = nearest(c->bad_placeholder, names);
	if (near != NULL)
		rc = fail(c, "command", AT_VALUE, "unknown placeholder {%.*s} "
		    "(did you mean {%.*s}?)", QUOTE_MAX, c->bad_placeholder, QUOTE_MAX, near);
	else
		rc = fail(c, "command", AT_VALUE, "unknown placeholder {%.*s} (a placeholder "
		    "names a parameter or one of trial_id, attempt, checkpoint_dir, "
		    "resume_from; write {{ and }} for literal braces)", QUOTE_MAX,
		    c->bad_placeholder);
	free(names);
out:
	free(why);
	buf_free(&scratch);
	return rc;
}

static int
parse_metric(struct pctx *c, json_t *root)
{
	static const char *const goals[] = { "minimize", "maximize", NULL };
	struct spec *s = c->s;
	const char *name, *goal;
	json_t *m = NULL, *pat;
	size_t mark;
	char *h;
	int rc;

	if ((rc = get_object(c, root, "metric", &m)) <= 0)
		return rc;
	mark = path_push(c, "metric");
	if (check_keys(c, m, metric_keys) != 0)
		goto fail;
	if ((rc = get_string(c, m, "name", true, &name)) <= 0) {
		if (rc == 0)
			fail(c, "name", AT_PARENT, "missing required key");
		goto fail;
	}
	if (has_control(name)) {
		fail(c, "name", AT_VALUE, "must not contain control characters");
		goto fail;
	}
	s->objective.name = xstrdup(name);
	if ((rc = get_string(c, m, "goal", false, &goal)) < 0)
		goto fail;
	if (rc > 0) {
		if (!is_known(goal, goals)) {
			h = hint(goal, goals);
			fail(c, "goal", AT_VALUE, "unknown goal \"%.*s\"%s", QUOTE_MAX, goal, h);
			free(h);
			goto fail;
		}
		s->minimize = strcmp(goal, "minimize") == 0;
	}
	if ((pat = json_object_get(m, "pattern")) != NULL && !json_is_null(pat)) {
		if (check_regex(c, "pattern", pat, true) != 0)
			goto fail;
		s->objective.pattern = xstrdup(json_string_value(pat));
	}
	path_pop(c, mark);
	return 0;
fail:
	path_pop(c, mark);
	return -1;
}

static int
parse_metrics(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	const char *name;
	json_t *m = NULL, *pat;
	size_t mark;
	int rc;

	if ((rc = get_object(c, root, "metrics", &m)) <= 0)
		return rc;
	s->metrics = xcalloc(json_object_size(m) + 1, sizeof *s->metrics);
	mark = path_push(c, "metrics");
	rc = 0;
	json_object_foreach(m, name, pat) {
		if (*name == '\0')
			rc = fail(c, name, AT_KEY, "a metric name must not be empty");
		else if (has_control(name))
			rc = fail(c, name, AT_KEY,
			    "a metric name must not contain control characters");
		else if (s->objective.name != NULL && strcmp(name, s->objective.name) == 0)
			rc = fail(c, name, AT_KEY,
			    "already the objective (metric.name); give its pattern there");
		else if (!json_is_null(pat))
			rc = check_regex(c, name, pat, true);
		if (rc != 0)
			break;
		s->metrics[s->nmetrics].name = xstrdup(name);
		if (!json_is_null(pat))
			s->metrics[s->nmetrics].pattern = xstrdup(json_string_value(pat));
		s->nmetrics++;
	}
	path_pop(c, mark);
	return rc;
}

static int
parse_retry(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	json_t *r = NULL, *pats, *v;
	char idx[32];
	size_t mark, i;
	int rc;

	if ((rc = get_object(c, root, "retry", &r)) <= 0)
		return rc;
	mark = path_push(c, "retry");
	rc = -1;
	if (check_keys(c, r, retry_keys) != 0 ||
	    get_long(c, r, "max_failures", 0, 1000000, &s->max_failures) < 0 ||
	    get_long(c, r, "max_preemptions", 0, 1000000, &s->max_preemptions) < 0)
		goto out;
	if ((pats = json_object_get(r, "fatal_patterns")) != NULL) {
		if (!json_is_array(pats)) {
			fail(c, "fatal_patterns", AT_VALUE,
			    "expected an array of regular expressions");
			goto out;
		}
		s->fatal_patterns = xcalloc(json_array_size(pats) + 1, sizeof (char *));
		path_push(c, "fatal_patterns");
		json_array_foreach(pats, i, v) {
			snprintf(idx, sizeof idx, "%zu", i);
			if (check_regex(c, idx, v, false) != 0)
				goto out;
			s->fatal_patterns[s->nfatal++] = xstrdup(json_string_value(v));
		}
	}
	rc = 0;
out:
	path_pop(c, mark);
	return rc;
}

static int
parse_checkpoint(struct pctx *c, json_t *root)
{
	json_t *ck = NULL;
	size_t mark;
	int rc;

	if ((rc = get_object(c, root, "checkpoint", &ck)) <= 0)
		return rc;
	mark = path_push(c, "checkpoint");
	rc = 0;
	if (check_keys(c, ck, checkpoint_keys) != 0 ||
	    get_long(c, ck, "keep", 1, 1000000, &c->s->checkpoint_keep) < 0)
		rc = -1;
	path_pop(c, mark);
	return rc;
}

static int
parse_early_terminate(struct pctx *c, json_t *root)
{
	static const char *const types[] = { "median", "hyperband", NULL };
	static const char *const median_keys[] = { "type", "min_steps", NULL };
	static const char *const hyperband_keys[] = {
		"type", "min_iter", "eta", "max_iter", NULL
	};
	struct spec *s = c->s;
	const char *type, *key, *const *allowed;
	json_t *et = NULL, *v;
	size_t mark;
	char *h;
	int rc, got;

	if ((rc = get_object(c, root, "early_terminate", &et)) <= 0)
		return rc;
	mark = path_push(c, "early_terminate");
	rc = -1;
	if (check_keys(c, et, early_keys) != 0)
		goto out;
	if ((got = get_string(c, et, "type", false, &type)) == 0)
		fail(c, "type", AT_PARENT, "missing required key (median or hyperband)");
	if (got <= 0)
		goto out;
	if (!is_known(type, types)) {
		h = hint(type, types);
		fail(c, "type", AT_VALUE, "unknown type \"%.*s\"%s", QUOTE_MAX, type, h);
		free(h);
		goto out;
	}
	allowed = strcmp(type, "median") == 0 ? median_keys : hyperband_keys;
	json_object_foreach(et, key, v) {
		if (!is_known(key, allowed)) {
			fail(c, key, AT_KEY, "does not apply to type %s", type);
			goto out;
		}
	}
	if (allowed == median_keys) {
		s->early_stop = EARLY_MEDIAN;
		if (get_long(c, et, "min_steps", 0, 1000000000L, &s->early_min_steps) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	s->early_stop = EARLY_HYPERBAND;
	s->early_eta = 3;
	got = get_long(c, et, "min_iter", 1, 1000000000L, &s->early_min_steps);
	if (got == 0)
		fail(c, "min_iter", AT_PARENT, "missing required key "
		    "(hyperband needs the first step at which to compare trials)");
	if (got <= 0 ||
	    get_long(c, et, "eta", 2, 1000, &s->early_eta) < 0 ||
	    get_long(c, et, "max_iter", 1, 1000000000L, &s->early_max_iter) < 0)
		goto out;
	if (s->early_max_iter != 0 && s->early_max_iter <= s->early_min_steps) {
		fail(c, "max_iter", AT_VALUE, "must be greater than min_iter (%ld <= %ld)",
		    s->early_max_iter, s->early_min_steps);
		goto out;
	}
	rc = 0;
out:
	path_pop(c, mark);
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

static int
check_grid(struct pctx *c)
{
	struct spec *s = c->s;
	struct spec_param *p;
	uint64_t total;
	size_t i, mark, pmark;
	int rc = 0;

	mark = path_push(c, "parameters");
	for (i = 0; i < s->nparams && rc == 0; i++) {
		p = &s->params[i];
		if (p->num == 0 && (p->kind == DIST_UNIFORM ||
		    p->kind == DIST_LOG_UNIFORM_VALUES || p->kind == DIST_NORMAL))
			rc = fail(c, p->name, AT_VALUE, "a grid over a continuous %s range needs "
			    "\"num\" (the number of grid points)", dist_names[p->kind]);
		else if (p->kind == DIST_Q_UNIFORM && q_lattice_empty(p)) {
			pmark = path_push(c, p->name);
			rc = fail(c, "q", AT_VALUE, "no multiple of q lies between min and max, "
			    "so the grid has no point in range");
			path_pop(c, pmark);
		}
	}
	path_pop(c, mark);
	if (rc != 0)
		return rc;
	if (!spec_grid_size(s, &total))
		return fail(c, "parameters", AT_VALUE, "the grid has more than "
		    "18446744073709551615 points; the limit is %llu", SPEC_GRID_LIMIT);
	if (total > SPEC_GRID_LIMIT)
		return fail(c, "parameters", AT_VALUE, "the grid has %llu points; the limit "
		    "is %llu", (unsigned long long)total, SPEC_GRID_LIMIT);
	return 0;
}

static int
parse_method(struct pctx *c, json_t *root)
{
	const char *m;
	char *h;
	int i, rc;

	if ((rc = get_string(c, root, "method", false, &m)) <= 0)
		return rc == 0 ? fail(c, "method", AT_PARENT, "missing required key "
		    "(grid, random, sobol or bayes)") : -1;
	if (strcmp(m, "tpe") == 0) {
		c->s->method = METHOD_BAYES;
		return 0;
	}
	for (i = 0; i < METHOD_MAX; i++) {
		if (strcmp(m, method_names[i]) == 0) {
			c->s->method = (enum spec_method)i;
			return 0;
		}
	}
	h = hint(m, (const char *const[]){ "grid", "random", "sobol", "bayes", "tpe", NULL });
	rc = fail(c, "method", AT_VALUE, "unknown method \"%.*s\"%s", QUOTE_MAX, m, h);
	free(h);
	return rc;
}

static int
parse_top(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	const char *str;
	long seed = 0;
	size_t i, nvary = 0;
	int rc;

	if (check_keys(c, root, top_keys) != 0)
		return -1;
	if ((rc = get_string(c, root, "name", true, &str)) <= 0)
		return rc == 0 ? fail(c, "name", AT_PARENT, "missing required key") : -1;
	if (has_control(str))
		return fail(c, "name", AT_VALUE, "must not contain control characters");
	s->name = xstrdup(str);
	if (get_string(c, root, "description", false, &str) < 0)
		return -1;
	if ((rc = get_string(c, root, "command", true, &str)) <= 0)
		return rc == 0 ? fail(c, "command", AT_PARENT, "missing required key") : -1;
	s->command = xstrdup(str);
	if (parse_method(c, root) != 0)
		return -1;
	if (get_long(c, root, "max_trials", 1, (long)SPEC_GRID_LIMIT, &s->max_trials) < 0 ||
	    get_long(c, root, "seed", 0, LONG_MAX, &seed) < 0 ||
	    get_long(c, root, "timeout_s", 1, LONG_MAX, &s->timeout_s) < 0)
		return -1;
	s->seed = (uint64_t)seed;
	if ((rc = get_string(c, root, "deadline", false, &str)) < 0)
		return -1;
	if (rc > 0 && !parse_iso8601(str, &s->deadline))
		return fail(c, "deadline", AT_VALUE, "expected an ISO 8601 time such as "
		    "\"2026-12-05T00:00:00Z\"");
	if (parse_parameters(c, root) != 0 || check_command(c) != 0 ||
	    parse_metric(c, root) != 0 || parse_metrics(c, root) != 0 ||
	    parse_retry(c, root) != 0 || parse_checkpoint(c, root) != 0 ||
	    parse_early_terminate(c, root) != 0)
		return -1;

	if (s->method != METHOD_GRID && s->max_trials == 0)
		return fail(c, "max_trials", AT_PARENT, "missing required key (method %s needs "
		    "a number of trials)", method_names[s->method]);
	if (s->method == METHOD_BAYES && s->objective.name == NULL)
		return fail(c, "metric", AT_PARENT, "missing required key (method bayes "
		    "optimises a metric)");
	if (s->early_stop != EARLY_NONE && s->objective.name == NULL)
		return fail(c, "early_terminate", AT_VALUE,
		    "needs a \"metric\" to compare trials by");
	for (i = 0; i < s->nparams; i++)
		if (s->params[i].kind != DIST_VALUE)
			nvary++;
	/* a fixed "value" takes no Sobol dimension */
	if (s->method == METHOD_SOBOL && nvary > SOBOL_MAX_DIMS)
		return fail(c, "parameters", AT_VALUE, "sobol supports at most %d parameters "
		    "that vary, this spec has %zu", SOBOL_MAX_DIMS, nvary);
	if (s->method == METHOD_GRID)
		return check_grid(c);
	return 0;
}

/* A jansson error, moved to byte columns and given the key path the text was in. */
static int
syntax_error(struct pctx *c, const json_error_t *je)
{
	int line, column, fline, fcolumn;
	size_t off, where, n = 0;
	char *path = NULL, *msg;
	const char *hint_text = "";

	if (json_error_code(je) == json_error_duplicate_key &&
	    json_find_duplicate(c->text, c->len, &path, &line, &column, &fline, &fcolumn)) {
		msg = xasprintf("%s:%d:%d: %.*s: duplicate key (first at line %d, column %d)",
		    c->file, line, column, PATH_MAX_SHOWN, path, fline, fcolumn);
		goto out;
	}
	if (json_error_code(je) == json_error_invalid_utf8) {
		/* jansson gives no position for a bad byte outside a string */
		for (off = 0; off < c->len; off += n)
			if ((n = utf8_len((const unsigned char *)c->text + off, c->len - off)) == 0)
				break;
	} else if (je->position <= 0)
		off = 0;
	else if ((size_t)je->position >= c->len)
		off = c->len;
	else
		off = (size_t)je->position - 1;
	path = json_error_path(c->text, c->len, off, &where);
	/* a bad byte is worth pointing at exactly, rather than at its string */
	if (json_error_code(je) != json_error_invalid_utf8)
		off = where;
	json_line_column(c->text, c->len, off, &line, &column);
	n = strlen(c->file);
	if ((n > 5 && strcmp(c->file + n - 5, ".yaml") == 0) ||
	    (n > 4 && strcmp(c->file + n - 4, ".yml") == 0))
		hint_text = " (YAML specs are not supported yet; write the spec as JSON)";
	if (path != NULL && *path != '\0')
		msg = xasprintf("%s:%d:%d: %.*s: invalid JSON: %s%s", c->file, line, column,
		    PATH_MAX_SHOWN, path, je->text, hint_text);
	else
		msg = xasprintf("%s:%d:%d: invalid JSON: %s%s", c->file, line, column, je->text,
		    hint_text);
out:
	*c->cause = sanitize(msg);
	free(msg);
	free(path);
	return -1;
}

int
spec_parse(const char *path, const char *text, size_t len, struct spec **out, char **cause)
{
	struct pctx c = { .file = path, .text = text, .len = len, .cause = cause };
	json_error_t je;
	json_t *root;
	int rc = -1;

	*out = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return syntax_error(&c, &je);
	buf_adds(&c.path, "");
	c.s = xcalloc(1, sizeof *c.s);
	c.s->minimize = true;
	c.s->max_failures = 2;
	c.s->max_preemptions = 20;
	c.s->checkpoint_keep = 3;
	c.s->text = xmalloc(len + 1);
	memcpy(c.s->text, text, len);
	c.s->text[len] = '\0';
	if (!json_is_object(root))
		fail(&c, NULL, AT_VALUE, "expected a JSON object (the sweep spec)");
	else
		rc = parse_top(&c, root);
	if (rc == 0) {
		*out = c.s;
		c.s = NULL;
	}
	spec_free(c.s);
	json_decref(root);
	buf_free(&c.path);
	free(c.bad_placeholder);
	return rc;
}

int
spec_load(const char *path, struct spec **out, char **cause)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if (read_file(path, SPEC_MAX_FILE_BYTES, &text, &len, cause) != 0)
		return -1;
	rc = spec_parse(path, text, len, out, cause);
	free(text);
	return rc;
}

void
spec_free(struct spec *s)
{
	size_t i;

	if (s == NULL)
		return;
	free(s->text);
	for (i = 0; i < s->nfatal; i++)
		free(s->fatal_patterns[i]);
	free(s->fatal_patterns);
	for (i = 0; i < s->nmetrics; i++) {
		free(s->metrics[i].name);
		free(s->metrics[i].pattern);
	}
	free(s->metrics);
	free(s->objective.name);
	free(s->objective.pattern);
	for (i = 0; i < s->nparams; i++) {
		free(s->params[i].name);
		json_decref(s->params[i].values);
	}
	free(s->params);
	free(s->command);
	free(s->name);
	free(s);
}

/* jansson writes canonical compact JSON; the copy makes the result xmalloc'd like the rest. */
static char *
dump_names(json_t *arr)
{
	char *tmp, *out;

	tmp = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (tmp == NULL)
		abort();
	out = xstrdup(tmp);
	free(tmp);
	return out;
}

char *
spec_param_names_json(const struct spec *s)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < s->nparams; i++)
		json_array_append_new(arr, json_string(s->params[i].name));
	return dump_names(arr);
}

char *
spec_metric_names_json(const struct spec *s)
{
	json_t *arr = json_array();
	size_t i;

	if (s->objective.name != NULL)
		json_array_append_new(arr, json_string(s->objective.name));
	for (i = 0; i < s->nmetrics; i++)
		json_array_append_new(arr, json_string(s->metrics[i].name));
	return dump_names(arr);
}
