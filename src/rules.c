/* The switching rules: parsing the config's "rules" array and evaluating it. A rule's time
 * conditions are read in its own zone (tz), else the config's timezone, else UTC, through
 * tz.c, so a window like mon-fri 09:00-18:00 in America/New_York follows the clocks across
 * both daylight-saving changes. A window that wraps midnight (22:00-06:00) belongs to the day
 * it starts on: with "days": ["fri"], Saturday 02:00 is inside it and Friday 02:00 is not.
 *
 * A decision depends on a trial only through its preemption count, and the only condition on
 * that count is "at least N", so the decision is constant between consecutive thresholds:
 * rules_allowed_ranges() turns the rules into ranges of counts a worker class may take, which
 * the lease query uses as plain SQL bounds instead of looking at each trial. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spotsweep/rules.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

static const char *const use_names[RULE_USE_MAX] = { "spot", "on-demand", "any", "pause" };
static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
static const char *const day_full[7] = { "sunday", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday" };

const char *
rule_use_name(enum rule_use u)
{
	return u < RULE_USE_MAX ? use_names[u] : "unknown";
}

bool
rule_use_parse(const char *s, enum rule_use *out)
{
	int i;

	for (i = 0; i < RULE_USE_MAX; i++) {
		if (strcmp(s, use_names[i]) == 0) {
			*out = (enum rule_use)i;
			return true;
		}
	}
	return false;
}

/* Parse state: the first error's key path and message. */
struct rparse {
	char	*keypath;
	char	*msg;
};

static int
rerr(struct rparse *p, const char *keypath, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
rerr(struct rparse *p, const char *keypath, const char *fmt, ...)
{
	va_list ap;

	if (p->keypath != NULL)
		return -1;
	va_start(ap, fmt);
	p->msg = xvasprintf(fmt, ap);
	va_end(ap);
	p->keypath = xstrdup(keypath);
	return -1;
}

/* Refuses a key of obj not in allowed, suggesting the nearest one. */
static int
check_keys(struct rparse *p, json_t *obj, const char *prefix, const char *const *allowed)
{
	const char *key, *best;
	const char *const *a;
	json_t *v;
	size_t d, bestd;
	char kp[256];

	json_object_foreach(obj, key, v) {
		best = NULL;
		bestd = (size_t)-1;
		for (a = allowed; *a != NULL; a++) {
			if (strcmp(*a, key) == 0)
				break;
			if ((d = edit_distance(*a, key)) < bestd) {
				bestd = d;
				best = *a;
			}
		}
		if (*a != NULL)
			continue;
		snprintf(kp, sizeof kp, "%s.%s", prefix, key);
		if (best != NULL && bestd <= 3)
			return rerr(p, kp, "unknown key (did you mean \"%s\"?)", best);
		return rerr(p, kp, "unknown key");
	}
	return 0;
}

/* "HH:MM" with hours 0..max_h (24 only as 24:00) into minutes. */
static bool
parse_clock(const char **s, int max_h, int *out)
{
	const char *p = *s;
	int h = 0, m, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 2) {
		h = h * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0 || *p++ != ':' || p[0] < '0' || p[0] > '5' || p[1] < '0' || p[1] > '9')
		return false;
	m = (p[0] - '0') * 10 + (p[1] - '0');
	if (h > max_h || (h == 24 && m != 0))
		return false;
	*out = h * 60 + m;
	*s = p + 2;
	return true;
}

static int
parse_hours(struct rparse *p, json_t *v, const char *kp, struct rule *r)
{
	const char *s;

	if (!json_is_string(v))
		return rerr(p, kp, "expected \"HH:MM-HH:MM\"");
	s = json_string_value(v);
	if (!parse_clock(&s, 23, &r->from_min) || *s++ != '-' || !parse_clock(&s, 24, &r->to_min) ||
	    *s != '\0')
		return rerr(p, kp, "expected \"HH:MM-HH:MM\" (00:00 to 24:00; it may wrap midnight, "
		    "as in \"22:00-06:00\")");
	if (r->from_min == r->to_min)
		return rerr(p, kp, "an empty window (\"00:00-24:00\" is the whole day)");
	r->has_hours = true;
	return 0;
}

static int
parse_days(struct rparse *p, json_t *v, const char *kp, struct rule *r)
{
	json_t *d;
	size_t i;
	int j;
	char ikp[320];

	if (!json_is_array(v) || json_array_size(v) == 0)
		return rerr(p, kp, "expected a non-empty array of days (\"mon\" .. \"sun\")");
	json_array_foreach(v, i, d) {
		snprintf(ikp, sizeof ikp, "%s.%zu", kp, i);
		if (!json_is_string(d))
			return rerr(p, ikp, "expected a day name (\"mon\" .. \"sun\")");
		for (j = 0; j < 7; j++) {
			if (strcasecmp(json_string_value(d), day_names[j]) == 0 ||
			    strcasecmp(json_string_value(d), day_full[j]) == 0)
				break;
		}
		if (j == 7)
			return rerr(p, ikp, "expected one of mon, tue, wed, thu, fri, sat, sun");
		r->days |= 1u << j;
	}
	return 0;
}

static int
parse_tz(struct rparse *p, json_t *v, const char *kp, struct rule *r)
{
	char *cause = NULL;

	if (r->tz_name != NULL)
		return rerr(p, kp, "tz is given both in the rule and in its \"when\"");
	if (!json_is_string(v))
		return rerr(p, kp, "expected a time zone name such as \"America/New_York\"");
	if (tz_load(json_string_value(v), &r->tz, &cause) != 0) {
		rerr(p, kp, "%s", cause);
		free(cause);
		return -1;
	}
	r->tz_name = xstrdup(json_string_value(v));
	return 0;
}

/* A number >= min (> min when strict). */
static int
parse_number(struct rparse *p, json_t *v, const char *kp, double min, bool strict, bool integer,
    double *out)
{
	double d;

	if (!json_is_number(v) || (integer && !json_is_integer(v)))
		return rerr(p, kp, "expected %s", integer ? "an integer" : "a number");
	d = json_number_value(v);
	if (!isfinite(d) || d < min || (strict && d == min))
		return rerr(p, kp, "expected a value %s %g", strict ? "above" : "of at least", min);
	*out = d;
	return 0;
}

static int
parse_when(struct rparse *p, json_t *w, const char *prefix, struct rule *r)
{
	static const char *const keys[] = { "days", "hours", "tz", "spot_price_above",
	    "deadline_within_h", "trial_preemptions_at_least", NULL };
	char kp[256];
	json_t *v;
	double d;

	if (!json_is_object(w))
		return rerr(p, prefix, "expected an object of conditions");
	if (check_keys(p, w, prefix, keys) != 0)
		return -1;
	if ((v = json_object_get(w, "days")) != NULL) {
		snprintf(kp, sizeof kp, "%s.days", prefix);
		if (parse_days(p, v, kp, r) != 0)
			return -1;
	}
	if ((v = json_object_get(w, "hours")) != NULL) {
		snprintf(kp, sizeof kp, "%s.hours", prefix);
		if (parse_hours(p, v, kp, r) != 0)
			return -1;
	}
	if ((v = json_object_get(w, "tz")) != NULL) {
		snprintf(kp, sizeof kp, "%s.tz", prefix);
		if (parse_tz(p, v, kp, r) != 0)
			return -1;
	}
	if ((v = json_object_get(w, "spot_price_above")) != NULL) {
		snprintf(kp, sizeof kp, "%s.spot_price_above", prefix);
		if (parse_number(p, v, kp, 0, false, false, &r->spot_price_above) != 0)
			return -1;
		r->has_price = true;
	}
	if ((v = json_object_get(w, "deadline_within_h")) != NULL) {
		snprintf(kp, sizeof kp, "%s.deadline_within_h", prefix);
		if (parse_number(p, v, kp, 0, true, false, &r->deadline_within_h) != 0)
			return -1;
		r->has_deadline = true;
	}
	if ((v = json_object_get(w, "trial_preemptions_at_least")) != NULL) {
		snprintf(kp, sizeof kp, "%s.trial_preemptions_at_least", prefix);
		if (parse_number(p, v, kp, 1, false, true, &d) != 0)
			return -1;
		if (d > 1e9)
			return rerr(p, kp, "expected at most 1000000000");
		r->preemptions_at_least = (int64_t)d;
		r->has_preemptions = true;
	}
	return 0;
}

static int
parse_rule(struct rparse *p, json_t *o, size_t idx, struct rule *rules)
{
	static const char *const keys[] = { "name", "when", "use", "tz", NULL };
	struct rule *r = &rules[idx];
	char prefix[64], kp[128];
	json_t *v;
	size_t i;

	snprintf(prefix, sizeof prefix, "rules.%zu", idx);
	if (!json_is_object(o))
		return rerr(p, prefix, "expected a rule object {\"name\", \"when\", \"use\"}");
	if (check_keys(p, o, prefix, keys) != 0)
		return -1;
	if ((v = json_object_get(o, "name")) != NULL) {
		snprintf(kp, sizeof kp, "%s.name", prefix);
		if (!json_is_string(v) || json_string_length(v) == 0)
			return rerr(p, kp, "expected a non-empty string");
		r->name = xstrdup(json_string_value(v));
		for (i = 0; i < idx; i++) {
			if (strcmp(rules[i].name, r->name) == 0)
				return rerr(p, kp, "duplicate rule name \"%s\" (also rules.%zu)",
				    r->name, i);
		}
	} else
		r->name = xstrdup(prefix);
	if ((v = json_object_get(o, "use")) == NULL)
		return rerr(p, prefix, "missing key \"use\" (spot, on-demand, any or pause)");
	snprintf(kp, sizeof kp, "%s.use", prefix);
	if (!json_is_string(v) || !rule_use_parse(json_string_value(v), &r->use))
		return rerr(p, kp, "expected \"spot\", \"on-demand\", \"any\" or \"pause\"");
	if ((v = json_object_get(o, "tz")) != NULL) {
		snprintf(kp, sizeof kp, "%s.tz", prefix);
		if (parse_tz(p, v, kp, r) != 0)
			return -1;
	}
	if ((v = json_object_get(o, "when")) != NULL) {
		snprintf(kp, sizeof kp, "%s.when", prefix);
		if (parse_when(p, v, kp, r) != 0)
			return -1;
	}
	return 0;
}

int
rules_parse(json_t *arr, struct rule **out, size_t *n, char **keypath, char **msg)
{
	struct rparse p = { NULL, NULL };
	struct rule *rules;
	size_t i, count;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr)) {
		rerr(&p, "rules", "expected an array of rules");
		goto fail;
	}
	count = json_array_size(arr);
	rules = xcalloc(count + 1, sizeof *rules);
	for (i = 0; i < count; i++) {
		if (parse_rule(&p, json_array_get(arr, i), i, rules) != 0) {
			rules_free(rules, i + 1);
			goto fail;
		}
	}
	*out = rules;
	*n = count;
	return 0;
fail:
	*keypath = p.keypath;
	*msg = p.msg;
	return -1;
}

void
rules_free(struct rule *rules, size_t n)
{
	size_t i;

	if (rules == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(rules[i].name);
		free(rules[i].tz_name);
		tz_free(rules[i].tz);
	}
	free(rules);
}

/* The time conditions: days and hours in the rule's zone. */
static bool
time_holds(const struct rule *r, const struct rule_ctx *ctx)
{
	struct tz_local lt;
	int day;

	if (r->days == 0 && !r->has_hours)
		return true;
	tz_localtime(r->tz != NULL ? r->tz : ctx->tz, (int64_t)floor(ctx->now), &lt);
	day = lt.wday;
	if (r->has_hours) {
		if (r->from_min < r->to_min) {
			if (lt.minute < r->from_min || lt.minute >= r->to_min)
				return false;
		} else if (lt.minute < r->to_min)
			day = (day + 6) % 7;	/* the part after midnight: the window began yesterday */
		else if (lt.minute < r->from_min)
			return false;
	}
	return r->days == 0 || (r->days & (1u << day)) != 0;
}

bool
rule_holds(const struct rule *r, const struct rule_ctx *ctx)
{
	if (r->has_preemptions && ctx->trial_preemptions < r->preemptions_at_least)
		return false;
	if (r->has_price && (!ctx->has_spot_price || !(ctx->spot_price > r->spot_price_above)))
		return false;
	if (r->has_deadline && (ctx->deadline <= 0 ||
	    ctx->deadline - ctx->now > r->deadline_within_h * 3600.0))
		return false;
	return time_holds(r, ctx);
}

void
rules_decide(const struct rule *rules, size_t n, const struct rule_ctx *ctx,
    struct rule_decision *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (rule_holds(&rules[i], ctx)) {
			out->use = rules[i].use;
			out->index = (int)i;
			out->name = rules[i].name;
			return;
		}
	}
	out->use = RULE_USE_ANY;
	out->index = -1;
	out->name = "(none)";
}

bool
rule_use_allows(enum rule_use use, enum pool_class cls, bool have_pools)
{
	switch (use) {
	case RULE_USE_ANY:
		return true;
	case RULE_USE_SPOT:
		return cls == POOL_SPOT || (cls == POOL_CLASS_MAX && !have_pools);
	case RULE_USE_ON_DEMAND:
		return cls == POOL_ON_DEMAND || (cls == POOL_CLASS_MAX && !have_pools);
	default:
		return false;
	}
}

size_t
rules_allowed_ranges(const struct rule *rules, size_t n, const struct rule_ctx *ctx,
    enum pool_class cls, bool have_pools, struct preempt_range *out)
{
	int64_t *brk = xcalloc(n + 1, sizeof *brk), k, next;
	struct rule_decision d;
	struct rule_ctx c = *ctx;
	size_t nb = 1, i, j, nout = 0;

	/* The thresholds, ascending and distinct, after 0. */
	for (i = 0; i < n; i++) {
		if (!rules[i].has_preemptions)
			continue;
		k = rules[i].preemptions_at_least;
		for (j = 0; j < nb && brk[j] < k; j++)
			;
		if (j < nb && brk[j] == k)
			continue;
		memmove(&brk[j + 1], &brk[j], (nb - j) * sizeof *brk);
		brk[j] = k;
		nb++;
	}
	for (i = 0; i < nb; i++) {
		k = brk[i];
		next = i + 1 < nb ? brk[i + 1] : -1;
		c.trial_preemptions = k;
		rules_decide(rules, n, &c, &d);
		if (!rule_use_allows(d.use, cls, have_pools))
			continue;
		if (nout > 0 && out[nout - 1].hi == k)
			out[nout - 1].hi = next;
		else {
			out[nout].lo = k;
			out[nout].hi = next;
			nout++;
		}
	}
	free(brk);
	return nout;
}
