/* Sweep specs: turns the text of a spec, JSON or YAML, into a validated struct spec, or into
 * one error line "FILE:LINE:COLUMN: key.path: what was expected". jansson parses JSON
 * (rejecting duplicate keys), spec-yaml.c parses YAML into the same kind of jansson tree; the
 * checks walk that tree key by key, keeping the key path of whatever they look at, and ask
 * the document's position oracle where in the text that path is. The vocabulary is Weights &
 * Biases' sweep configuration with W&B's meanings, plus spotsweep's own keys (patterns,
 * retry budgets, checkpoints, deadline). This file holds the top level and the error
 * machinery; spec-params.c the parameters, spec-command.c the command. */

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "spotsweep/expand.h"
#include "spotsweep/spec-impl.h"
#include "spotsweep/spec.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

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
	[DIST_LOG_UNIFORM] = "log_uniform",
	[DIST_INV_LOG_UNIFORM] = "inv_log_uniform",
	[DIST_INV_LOG_UNIFORM_VALUES] = "inv_log_uniform_values",
	[DIST_Q_LOG_UNIFORM] = "q_log_uniform",
	[DIST_Q_LOG_UNIFORM_VALUES] = "q_log_uniform_values",
	[DIST_Q_NORMAL] = "q_normal",
	[DIST_LOG_NORMAL] = "log_normal",
	[DIST_Q_LOG_NORMAL] = "q_log_normal",
};

/* W&B's top-level keys (program, command, project, entity, run_cap, controller) and
 * spotsweep's. */
static const char *const top_keys[] = {
	"name", "description", "program", "command", "method", "max_trials", "run_cap", "seed",
	"parameters", "metric", "metrics", "retry", "checkpoint", "timeout_s", "deadline",
	"early_terminate", "project", "entity", "wandb_shim", "controller", "bayes", NULL
};
/* W&B keys that need W&B's hosted service; named so the message says why. */
static const struct {
	const char *key, *why;
} service_keys[] = {
	{ "job", "W&B Launch jobs need W&B's service; give \"program\" or \"command\"" },
	{ "image_uri", "W&B Launch images need W&B's service; give \"program\" or \"command\"" },
	{ "scheduler", "W&B's custom schedulers (Optuna, Ax engines) are not supported; "
	    "use method grid, random, sobol or bayes" },
};
static const char *const metric_keys[] = {
	"name", "goal", "pattern", "target", "impute", "impute_while_running", NULL
};
static const char *const retry_keys[] = {
	"max_failures", "max_preemptions", "fatal_patterns", NULL
};
static const char *const checkpoint_keys[] = { "keep", NULL };
static const char *const early_keys[] = {
	"type", "min_steps", "interval_steps", "min_iter", "eta", "max_iter", "s", "strict",
	"resume_pruned", NULL
};
static const char *const bayes_keys[] = {
	"n_startup", "gamma", "n_candidates", "parallel", "multivariate", NULL
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

size_t
spec_utf8_len(const unsigned char *p, size_t n)
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

/* A message built from user input stays one printable line and valid as a JSON string. */
char *
spec_sanitize(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = { 0 };
	size_t left = strlen(s), n;

	buf_adds(&b, "");
	while (left > 0) {
		n = spec_utf8_len(p, left);
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

/* The position oracle: the text scanner for JSON, libyaml's marks for YAML. */
static bool
doc_locate(const struct spec_doc *d, const char *path, bool key, int *line, int *column)
{
	if (d->format == SPEC_FORMAT_YAML)
		return spec_ymap_locate(d->ymap, path, key, line, column);
	if (key)
		return json_locate_key(d->text, d->len, path, line, column);
	return json_locate(d->text, d->len, path, line, column);
}

/* The position of path, else of its nearest ancestor that the document has (a value that
 * came through a YAML alias is found at the alias). */
static void
locate_or_ancestor(const struct spec_doc *d, const char *path, bool key, int *line,
    int *column)
{
	char *p = xstrdup(path), *dot;

	*line = *column = 1;
	for (;;) {
		if (doc_locate(d, p, key, line, column))
			break;
		key = false;
		if ((dot = strrchr(p, '.')) == NULL) {
			if (*p == '\0' || !doc_locate(d, "", false, line, column))
				*line = *column = 1;
			break;
		}
		*dot = '\0';
	}
	free(p);
}

static int
fail_v(struct pctx *c, const char *key, enum spec_at at, const char *fmt, va_list ap)
{
	struct buf full = { 0 }, msg = { 0 };
	char *raw;
	int line = 1, column = 1;
	va_list ap2;
	int n;

	buf_adds(&full, c->path.data != NULL ? c->path.data : "");
	if (key != NULL) {
		if (full.len > 0)
			buf_addc(&full, '.');
		buf_adds(&full, key);
	}
	if (at == AT_PARENT)
		locate_or_ancestor(c->doc, c->path.data != NULL ? c->path.data : "", false,
		    &line, &column);
	else
		locate_or_ancestor(c->doc, full.data, at == AT_KEY, &line, &column);

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	buf_printf(&msg, "%s:%d:%d: ", c->file, line, column);
	if (full.len > 0) {
		if (full.len > SPEC_PATH_MAX_SHOWN)
			buf_printf(&msg, "%.*s...: ", SPEC_PATH_MAX_SHOWN, full.data);
		else
			buf_printf(&msg, "%s: ", full.data);
	}
	if (n > 0) {
		raw = xmalloc((size_t)n + 1);
		vsnprintf(raw, (size_t)n + 1, fmt, ap);
		buf_adds(&msg, raw);
		free(raw);
	}
	*c->cause = spec_sanitize(msg.data);
	buf_free(&msg);
	buf_free(&full);
	return -1;
}

int
spec_fail(struct pctx *c, const char *key, enum spec_at at, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_v(c, key, at, fmt, ap);
	va_end(ap);
	return rc;
}

size_t
spec_path_push(struct pctx *c, const char *key)
{
	size_t mark = c->path.len;

	if (c->path.len > 0)
		buf_addc(&c->path, '.');
	buf_adds(&c->path, key);
	return mark;
}

void
spec_path_pop(struct pctx *c, size_t mark)
{
	c->path.len = mark;
	c->path.data[mark] = '\0';
}

const char *
spec_nearest(const char *word, const char *const *names)
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

char *
spec_hint(const char *word, const char *const *names)
{
	const char *near = spec_nearest(word, names);
	struct buf b = { 0 };

	if (near != NULL)
		return xasprintf(" (did you mean \"%s\"?)", near);
	buf_adds(&b, " (expected one of: ");
	for (; *names != NULL; names++)
		buf_printf(&b, "%s%s", *names, names[1] != NULL ? ", " : ")");
	return buf_steal(&b);
}

bool
spec_is_known(const char *key, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(key, *names) == 0)
			return true;
	return false;
}

int
spec_check_keys(struct pctx *c, json_t *obj, const char *const *known)
{
	const char *key;
	json_t *v;
	char *h;
	int rc;

	json_object_foreach(obj, key, v) {
		if (spec_is_known(key, known))
			continue;
		h = spec_hint(key, known);
		rc = spec_fail(c, key, AT_KEY, "unknown key%s", h);
		free(h);
		return rc;
	}
	return 0;
}

bool
spec_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int
spec_get_string(struct pctx *c, json_t *obj, const char *key, bool nonempty, const char **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return spec_fail(c, key, AT_VALUE, "expected a string");
	if (nonempty && json_string_length(v) == 0)
		return spec_fail(c, key, AT_VALUE, "must not be empty");
	*out = json_string_value(v);
	return 1;
}

int
spec_get_long(struct pctx *c, json_t *obj, const char *key, long min, long max, long *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t n;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return spec_fail(c, key, AT_VALUE, "expected an integer");
	n = json_integer_value(v);
	if (n < min) {
		if (min == 1)
			return spec_fail(c, key, AT_VALUE, "must be positive (got %lld)",
			    (long long)n);
		if (min == 0)
			return spec_fail(c, key, AT_VALUE, "must not be negative (got %lld)",
			    (long long)n);
		return spec_fail(c, key, AT_VALUE, "must be at least %ld (got %lld)", min,
		    (long long)n);
	}
	if (n > max)
		return spec_fail(c, key, AT_VALUE, "must be at most %ld (got %lld)", max,
		    (long long)n);
	*out = (long)n;
	return 1;
}

int
spec_get_number(struct pctx *c, json_t *obj, const char *key, bool integer, double *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (integer) {
		if (!json_is_integer(v))
			return spec_fail(c, key, AT_VALUE, "expected an integer");
		if (json_integer_value(v) > (json_int_t)SPEC_EXACT_INT_LIMIT ||
		    json_integer_value(v) < -(json_int_t)SPEC_EXACT_INT_LIMIT)
			return spec_fail(c, key, AT_VALUE,
			    "must be between -9007199254740992 and 9007199254740992");
	} else if (!json_is_number(v))
		return spec_fail(c, key, AT_VALUE, "expected a number");
	*out = json_number_value(v);
	return 1;
}

int
spec_get_object(struct pctx *c, json_t *obj, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return spec_fail(c, key, AT_VALUE, "expected an object");
	*out = v;
	return 1;
}

static int
get_bool(struct pctx *c, json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return spec_fail(c, key, AT_VALUE, "expected true or false");
	*out = json_is_true(v);
	return 1;
}

/* A string that must be one of names; 1 when present, 0 absent, -1 invalid. */
static int
get_enum(struct pctx *c, json_t *obj, const char *key, const char *const *names,
    const char *what, const char **out)
{
	const char *v;
	char *h;
	int rc;

	if ((rc = spec_get_string(c, obj, key, false, &v)) <= 0)
		return rc;
	if (spec_is_known(v, names)) {
		*out = v;
		return 1;
	}
	h = spec_hint(v, names);
	rc = spec_fail(c, key, AT_VALUE, "unknown %s \"%.*s\"%s", what, SPEC_QUOTE_MAX, v, h);
	free(h);
	return rc;
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
		return spec_fail(c, key, AT_VALUE, "expected a string (a regular expression)");
	if (json_string_length(v) == 0)
		return spec_fail(c, key, AT_VALUE, "must not be empty");
	re = pcre2_compile((PCRE2_SPTR)json_string_value(v), json_string_length(v), 0, &err,
	    &offset, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", err);
		return spec_fail(c, key, AT_VALUE,
		    "invalid regular expression at offset %zu: %s", (size_t)offset,
		    (const char *)msg);
	}
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &captures);
	pcre2_code_free(re);
	if (need_capture && captures == 0)
		return spec_fail(c, key, AT_VALUE,
		    "the pattern needs a capture group around the number, "
		    "e.g. \"loss[=: ]+([-+0-9.eE]+)\"");
	return 0;
}

/* metric: W&B's name, goal, target (no new trials once a trial reaches it) and impute keys
 * (bayes metadata), and spotsweep's pattern. */
static int
parse_metric(struct pctx *c, json_t *root)
{
	static const char *const goals[] = { "minimize", "maximize", NULL };
	static const char *const imputes[] = { "latest", "best", "worst", NULL };
	static const char *const imputes_running[] = {
		"latest", "best", "worst", "false", NULL
	};
	struct spec *s = c->s;
	const char *name, *goal, *ignored;
	json_t *m = NULL, *pat;
	size_t mark;
	int rc;

	if ((rc = spec_get_object(c, root, "metric", &m)) <= 0)
		return rc;
	mark = spec_path_push(c, "metric");
	rc = -1;
	if (spec_check_keys(c, m, metric_keys) != 0)
		goto out;
	if ((rc = spec_get_string(c, m, "name", true, &name)) <= 0) {
		if (rc == 0)
			spec_fail(c, "name", AT_PARENT, "missing required key");
		rc = -1;
		goto out;
	}
	rc = -1;
	if (spec_has_control(name)) {
		spec_fail(c, "name", AT_VALUE, "must not contain control characters");
		goto out;
	}
	s->objective.name = xstrdup(name);
	if (get_enum(c, m, "goal", goals, "goal", &goal) < 0)
		goto out;
	if (json_object_get(m, "goal") != NULL)
		s->minimize = strcmp(goal, "minimize") == 0;
	if (get_enum(c, m, "impute", imputes, "value", &ignored) < 0 ||
	    get_enum(c, m, "impute_while_running", imputes_running, "value",
	    &ignored) < 0)
		goto out;
	if (json_object_get(m, "target") != NULL) {
		if (spec_get_number(c, m, "target", false, &s->target) < 0)
			goto out;
		s->has_target = true;
	}
	if ((pat = json_object_get(m, "pattern")) != NULL && !json_is_null(pat)) {
		if (check_regex(c, "pattern", pat, true) != 0)
			goto out;
		s->objective.pattern = xstrdup(json_string_value(pat));
	}
	rc = 0;
out:
	spec_path_pop(c, mark);
	return rc;
}

static int
parse_metrics(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	const char *name;
	json_t *m, *pat;
	size_t mark;
	int rc;

	if ((m = json_object_get(root, "metrics")) == NULL)
		return 0;
	if (json_is_array(m))
		return spec_fail(c, "metrics", AT_VALUE, "expected an object of metric names "
		    "and their patterns (W&B's multi-objective list needs its service)");
	if (spec_get_object(c, root, "metrics", &m) < 0)
		return -1;
	s->metrics = xcalloc(json_object_size(m) + 1, sizeof *s->metrics);
	mark = spec_path_push(c, "metrics");
	rc = 0;
	json_object_foreach(m, name, pat) {
		if (*name == '\0')
			rc = spec_fail(c, name, AT_KEY, "a metric name must not be empty");
		else if (spec_has_control(name))
			rc = spec_fail(c, name, AT_KEY,
			    "a metric name must not contain control characters");
		else if (s->objective.name != NULL && strcmp(name, s->objective.name) == 0)
			rc = spec_fail(c, name, AT_KEY,
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
	spec_path_pop(c, mark);
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

	if ((rc = spec_get_object(c, root, "retry", &r)) <= 0)
		return rc;
	mark = spec_path_push(c, "retry");
	rc = -1;
	if (spec_check_keys(c, r, retry_keys) != 0 ||
	    spec_get_long(c, r, "max_failures", 0, 1000000, &s->max_failures) < 0 ||
	    spec_get_long(c, r, "max_preemptions", 0, 1000000, &s->max_preemptions) < 0)
		goto out;
	if ((pats = json_object_get(r, "fatal_patterns")) != NULL) {
		if (!json_is_array(pats)) {
			spec_fail(c, "fatal_patterns", AT_VALUE,
			    "expected an array of regular expressions");
			goto out;
		}
		s->fatal_patterns = xcalloc(json_array_size(pats) + 1, sizeof (char *));
		spec_path_push(c, "fatal_patterns");
		json_array_foreach(pats, i, v) {
			snprintf(idx, sizeof idx, "%zu", i);
			if (check_regex(c, idx, v, false) != 0)
				goto out;
			s->fatal_patterns[s->nfatal++] = xstrdup(json_string_value(v));
		}
	}
	rc = 0;
out:
	spec_path_pop(c, mark);
	return rc;
}

static int
parse_checkpoint(struct pctx *c, json_t *root)
{
	json_t *ck = NULL;
	size_t mark;
	int rc;

	if ((rc = spec_get_object(c, root, "checkpoint", &ck)) <= 0)
		return rc;
	mark = spec_path_push(c, "checkpoint");
	rc = 0;
	if (spec_check_keys(c, ck, checkpoint_keys) != 0 ||
	    spec_get_long(c, ck, "keep", 1, 1000000, &c->s->checkpoint_keep) < 0)
		rc = -1;
	spec_path_pop(c, mark);
	return rc;
}

/* W&B's hyperband with max_iter and s: rungs at max_iter / eta^k for k = 1..s, kept while at
 * least 1 (wandb/sweeps hyperband_stopping.py). The first rung becomes min_iter. */
static int
hyperband_from_s(struct pctx *c, json_t *et)
{
	struct spec *s = c->s;
	double band;
	long k, lowest = 0;

	if (json_object_get(et, "min_iter") != NULL)
		return spec_fail(c, "s", AT_KEY, "give min_iter, or max_iter and s, not both");
	if (s->early_max_iter == 0)
		return spec_fail(c, "max_iter", AT_PARENT, "missing required key (s counts "
		    "the rungs below max_iter)");
	band = (double)s->early_max_iter;
	for (k = 0; k < s->early_s; k++) {
		band /= (double)s->early_eta;
		if (band < 1)
			break;
		lowest = (long)band;
	}
	if (lowest < 1)
		return spec_fail(c, "s", AT_VALUE, "leaves no rung: max_iter / eta is below "
		    "1 (increase max_iter, or lower eta)");
	s->early_min_steps = lowest;
	return 0;
}

static int
parse_early_terminate(struct pctx *c, json_t *root)
{
	static const char *const types[] = { "median", "hyperband", NULL };
	static const char *const median_keys[] = {
		"type", "min_steps", "interval_steps", NULL
	};
	static const char *const hyperband_keys[] = {
		"type", "min_iter", "eta", "max_iter", "s", "strict", "resume_pruned", NULL
	};
	struct spec *s = c->s;
	const char *type, *key, *const *allowed;
	json_t *et = NULL, *v;
	size_t mark;
	int rc, got;

	if ((rc = spec_get_object(c, root, "early_terminate", &et)) <= 0)
		return rc;
	mark = spec_path_push(c, "early_terminate");
	rc = -1;
	if (spec_check_keys(c, et, early_keys) != 0)
		goto out;
	if ((got = get_enum(c, et, "type", types, "type", &type)) == 0)
		spec_fail(c, "type", AT_PARENT, "missing required key (median or hyperband)");
	if (got <= 0)
		goto out;
	allowed = strcmp(type, "median") == 0 ? median_keys : hyperband_keys;
	json_object_foreach(et, key, v) {
		if (!spec_is_known(key, allowed)) {
			spec_fail(c, key, AT_KEY, "does not apply to type %s", type);
			goto out;
		}
	}
	if (allowed == median_keys) {
		s->early_stop = EARLY_MEDIAN;
		if (spec_get_long(c, et, "min_steps", 0, 1000000000L, &s->early_min_steps) < 0 ||
		    spec_get_long(c, et, "interval_steps", 1, 1000000000L,
		    &s->early_interval) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	s->early_stop = EARLY_HYPERBAND;
	s->early_eta = 3;
	if (spec_get_long(c, et, "eta", 2, 1000, &s->early_eta) < 0 ||
	    spec_get_long(c, et, "max_iter", 1, 1000000000L, &s->early_max_iter) < 0 ||
	    spec_get_long(c, et, "s", 1, 100, &s->early_s) < 0 ||
	    get_bool(c, et, "strict", &s->early_strict) < 0 ||
	    get_bool(c, et, "resume_pruned", &s->early_resume_pruned) < 0)
		goto out;
	if (s->early_s > 0) {
		if (hyperband_from_s(c, et) != 0)
			goto out;
	} else {
		got = spec_get_long(c, et, "min_iter", 1, 1000000000L, &s->early_min_steps);
		if (got == 0)
			spec_fail(c, "min_iter", AT_PARENT, "missing required key (hyperband "
			    "needs the first step at which to compare trials: min_iter, or "
			    "max_iter and s)");
		if (got <= 0)
			goto out;
	}
	if (s->early_max_iter != 0 && s->early_max_iter <= s->early_min_steps) {
		spec_fail(c, "max_iter", AT_VALUE, "must be greater than min_iter (%ld <= %ld)",
		    s->early_max_iter, s->early_min_steps);
		goto out;
	}
	rc = 0;
out:
	spec_path_pop(c, mark);
	return rc;
}

/* The TPE searcher's settings (Optuna's names in brackets): n_startup random trials first
 * (n_startup_trials), the good fraction gamma, n_candidates draws (n_ei_candidates), how
 * many trials may be outstanding at once, and whether parameters are modelled jointly
 * (multivariate). Only for method bayes. */
static int
parse_bayes(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	json_t *b = NULL;
	double gamma;
	size_t mark;
	int rc, got;

	if ((rc = spec_get_object(c, root, "bayes", &b)) <= 0)
		return rc;
	if (s->method != METHOD_BAYES)
		return spec_fail(c, "bayes", AT_KEY, "applies to method bayes only (this spec's "
		    "method is %s)", spec_method_name(s->method));
	mark = spec_path_push(c, "bayes");
	rc = -1;
	if (spec_check_keys(c, b, bayes_keys) != 0 ||
	    spec_get_long(c, b, "n_startup", 1, 1000000, &s->bayes_n_startup) < 0 ||
	    spec_get_long(c, b, "n_candidates", 1, 10000, &s->bayes_n_candidates) < 0 ||
	    spec_get_long(c, b, "parallel", 1, 100000, &s->bayes_parallel) < 0 ||
	    get_bool(c, b, "multivariate", &s->bayes_multivariate) < 0 ||
	    (got = spec_get_number(c, b, "gamma", false, &gamma)) < 0)
		goto out;
	if (got > 0) {
		if (!(gamma > 0 && gamma < 1)) {
			spec_fail(c, "gamma", AT_VALUE, "expected a fraction between 0 and 1 "
			    "(exclusive)");
			goto out;
		}
		s->bayes_gamma = gamma;
	}
	rc = 0;
out:
	spec_path_pop(c, mark);
	return rc;
}

static int
parse_method(struct pctx *c, json_t *root)
{
	const char *m;
	char *h;
	int i, rc;

	if ((rc = spec_get_string(c, root, "method", false, &m)) <= 0)
		return rc == 0 ? spec_fail(c, "method", AT_PARENT, "missing required key "
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
	h = spec_hint(m, (const char *const[]){ "grid", "random", "sobol", "bayes", "tpe", NULL });
	rc = spec_fail(c, "method", AT_VALUE, "unknown method \"%.*s\"%s", SPEC_QUOTE_MAX, m, h);
	free(h);
	return rc;
}

/* The sweep's name: "name", else the file's base name without its extension, as W&B names
 * a sweep without one itself. */
static int
parse_name(struct pctx *c, json_t *root)
{
	const char *str, *base, *dot;
	int rc;

	if ((rc = spec_get_string(c, root, "name", true, &str)) < 0)
		return -1;
	if (rc > 0) {
		if (spec_has_control(str))
			return spec_fail(c, "name", AT_VALUE,
			    "must not contain control characters");
		c->s->name = xstrdup(str);
		return 0;
	}
	base = strrchr(c->file, '/') != NULL ? strrchr(c->file, '/') + 1 : c->file;
	dot = strrchr(base, '.');
	if (dot == NULL || dot == base)
		dot = base + strlen(base);
	c->s->name = dot > base ? xstrndup(base, (size_t)(dot - base)) : xstrdup("sweep");
	if (spec_has_control(c->s->name)) {
		free(c->s->name);
		c->s->name = xstrdup("sweep");
	}
	return 0;
}

/* description, project, entity: kept as they are; controller (W&B's local or cloud
 * controller) has no meaning here and is only checked to be an object. */
static int
parse_metadata(struct pctx *c, json_t *root)
{
	static const char *const keys[] = { "description", "project", "entity" };
	char **fields[] = { &c->s->description, &c->s->project, &c->s->entity };
	const char *str;
	json_t *ignored;
	size_t i;
	int rc;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((rc = spec_get_string(c, root, keys[i], false, &str)) < 0)
			return -1;
		if (rc > 0)
			*fields[i] = xstrdup(str);
	}
	if (spec_get_object(c, root, "controller", &ignored) < 0 ||
	    get_bool(c, root, "wandb_shim", &c->s->wandb_shim) < 0)
		return -1;
	return 0;
}

/* max_trials, or W&B's run_cap (the same thing: at most this many trials). */
static int
parse_trial_cap(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	int a, b;

	if ((a = spec_get_long(c, root, "max_trials", 1, (long)SPEC_GRID_LIMIT,
	    &s->max_trials)) < 0 ||
	    (b = spec_get_long(c, root, "run_cap", 1, (long)SPEC_GRID_LIMIT,
	    &s->max_trials)) < 0)
		return -1;
	if (a > 0 && b > 0)
		return spec_fail(c, "run_cap", AT_KEY, "give max_trials or run_cap, not both");
	return 0;
}

static int
parse_top(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	const char *str;
	long seed = 0;
	size_t i, nvary = 0;
	char *h;
	int rc;

	for (i = 0; i < sizeof service_keys / sizeof service_keys[0]; i++)
		if (json_object_get(root, service_keys[i].key) != NULL)
			return spec_fail(c, service_keys[i].key, AT_KEY, "%s",
			    service_keys[i].why);
	if (spec_check_keys(c, root, top_keys) != 0)
		return -1;
	if (parse_name(c, root) != 0 || parse_metadata(c, root) != 0 ||
	    parse_method(c, root) != 0 || parse_trial_cap(c, root) != 0)
		return -1;
	if (spec_get_long(c, root, "seed", 0, LONG_MAX, &seed) < 0 ||
	    spec_get_long(c, root, "timeout_s", 1, LONG_MAX, &s->timeout_s) < 0)
		return -1;
	s->seed = (uint64_t)seed;
	if ((rc = spec_get_string(c, root, "deadline", false, &str)) < 0)
		return -1;
	if (rc > 0 && !parse_iso8601(str, &s->deadline))
		return spec_fail(c, "deadline", AT_VALUE, "expected an ISO 8601 time such as "
		    "\"2026-12-05T00:00:00Z\"");
	if (spec_parse_parameters(c, root) != 0 || spec_parse_command(c, root) != 0 ||
	    parse_metric(c, root) != 0 || parse_metrics(c, root) != 0 ||
	    parse_retry(c, root) != 0 || parse_checkpoint(c, root) != 0 ||
	    parse_early_terminate(c, root) != 0 || parse_bayes(c, root) != 0)
		return -1;

	if (s->method != METHOD_GRID && s->max_trials == 0) {
		h = xasprintf("missing required key (method %s needs a number of trials: "
		    "max_trials, or W&B's run_cap)", method_names[s->method]);
		rc = spec_fail(c, "max_trials", AT_PARENT, "%s", h);
		free(h);
		return rc;
	}
	if (s->method == METHOD_BAYES && s->objective.name == NULL)
		return spec_fail(c, "metric", AT_PARENT, "missing required key (method bayes "
		    "optimises a metric)");
	if (s->early_stop != EARLY_NONE && s->objective.name == NULL)
		return spec_fail(c, "early_terminate", AT_VALUE,
		    "needs a \"metric\" to compare trials by");
	if (s->has_target && s->objective.name == NULL)
		return spec_fail(c, "metric", AT_PARENT, "missing required key");
	for (i = 0; i < s->nparams; i++)
		if (s->params[i].kind != DIST_VALUE)
			nvary++;
	/* a fixed "value" takes no Sobol dimension */
	if (s->method == METHOD_SOBOL && nvary > SOBOL_MAX_DIMS)
		return spec_fail(c, "parameters", AT_VALUE, "sobol supports at most %d "
		    "parameters that vary, this spec has %zu", SOBOL_MAX_DIMS, nvary);
	if (s->method == METHOD_GRID)
		return spec_check_grid(c);
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
	    json_find_duplicate(c->doc->text, c->doc->len, &path, &line, &column, &fline,
	    &fcolumn)) {
		msg = xasprintf("%s:%d:%d: %.*s: duplicate key (first at line %d, column %d)",
		    c->file, line, column, SPEC_PATH_MAX_SHOWN, path, fline, fcolumn);
		goto out;
	}
	if (json_error_code(je) == json_error_invalid_utf8) {
		/* jansson gives no position for a bad byte outside a string */
		for (off = 0; off < c->doc->len; off += n)
			if ((n = spec_utf8_len((const unsigned char *)c->doc->text + off,
			    c->doc->len - off)) == 0)
				break;
	} else if (je->position <= 0)
		off = 0;
	else if ((size_t)je->position >= c->doc->len)
		off = c->doc->len;
	else
		off = (size_t)je->position - 1;
	path = json_error_path(c->doc->text, c->doc->len, off, &where);
	/* a bad byte is worth pointing at exactly, rather than at its string */
	if (json_error_code(je) != json_error_invalid_utf8)
		off = where;
	json_line_column(c->doc->text, c->doc->len, off, &line, &column);
	for (n = 0; n < c->doc->len && strchr(" \t\r\n", c->doc->text[n]) != NULL; n++)
		;
	if (n < c->doc->len && c->doc->text[n] != '{' && c->doc->text[n] != '[')
		hint_text = " (the text looks like YAML: name the file .yaml or .yml)";
	if (path != NULL && *path != '\0')
		msg = xasprintf("%s:%d:%d: %.*s: invalid JSON: %s%s", c->file, line, column,
		    SPEC_PATH_MAX_SHOWN, path, je->text, hint_text);
	else
		msg = xasprintf("%s:%d:%d: invalid JSON: %s%s", c->file, line, column, je->text,
		    hint_text);
out:
	*c->cause = spec_sanitize(msg);
	free(msg);
	free(path);
	return -1;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

enum spec_format
spec_detect_format(const char *path, const char *text, size_t len)
{
	size_t i;

	if (ends_with(path, ".json"))
		return SPEC_FORMAT_JSON;
	if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
		return SPEC_FORMAT_YAML;
	for (i = 0; i < len && strchr(" \t\r\n", text[i]) != NULL; i++)
		;
	return i < len && text[i] == '{' ? SPEC_FORMAT_JSON : SPEC_FORMAT_YAML;
}

int
spec_parse(const char *path, const char *text, size_t len, struct spec **out, char **cause)
{
	struct spec_doc doc = { .text = text, .len = len };
	struct pctx c = { .file = path, .doc = &doc, .cause = cause };
	json_error_t je;
	json_t *root;
	int rc = -1;

	*out = NULL;
	doc.format = spec_detect_format(path, text, len);
	if (doc.format == SPEC_FORMAT_YAML) {
		if ((root = spec_yaml_load(path, text, len, &doc.ymap, cause)) == NULL)
			return -1;
	} else if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return syntax_error(&c, &je);
	buf_adds(&c.path, "");
	c.s = xcalloc(1, sizeof *c.s);
	c.s->format = doc.format;
	c.s->minimize = true;
	c.s->max_failures = 2;
	c.s->max_preemptions = 20;
	c.s->checkpoint_keep = 3;
	c.s->early_strict = true;
	c.s->bayes_n_startup = 10;
	c.s->bayes_gamma = 0.25;
	c.s->bayes_n_candidates = 24;
	c.s->bayes_multivariate = true;
	c.s->text = xmalloc(len + 1);
	memcpy(c.s->text, text, len);
	c.s->text[len] = '\0';
	if (!json_is_object(root))
		spec_fail(&c, NULL, AT_VALUE, doc.format == SPEC_FORMAT_YAML ?
		    "expected a YAML mapping (the sweep spec)" :
		    "expected a JSON object (the sweep spec)");
	else
		rc = parse_top(&c, root);
	if (rc == 0) {
		*out = c.s;
		c.s = NULL;
	}
	spec_free(c.s);
	json_decref(root);
	spec_ymap_free(doc.ymap);
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
	size_t i, k;

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
		for (k = 0; k < s->params[i].nkeys; k++)
			free(s->params[i].keys[k]);
		free(s->params[i].keys);
		free(s->params[i].cum);
		json_decref(s->params[i].values);
	}
	free(s->params);
	free(s->command);
	free(s->program);
	free(s->description);
	free(s->project);
	free(s->entity);
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
