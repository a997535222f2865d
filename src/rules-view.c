/* The switching rules read for people (rules-view.h). The next change of a decision is found
 * by walking the instants at which some rule's condition can flip: a time condition only at
 * a local clock reading of its window's start or end or at local midnight (where "days"
 * turn), or where its zone's offset changes (found by bisection, so daylight saving is exact),
 * and a deadline condition when the deadline comes within its hours. Between two such
 * instants every condition, hence the decision, is constant, so deciding at each one in turn
 * finds the first change exactly with a few dozen decisions a week. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "spotsweep/rules-view.h"
#include "spotsweep/tz.h"

#define MINUTES_PER_DAY 1440

/* The next instant after t (whole seconds) at which the local clock of zone z reads minute
 * m (0..1439) or its offset changes, whichever comes first. */
static int64_t
next_clock(const struct tz *z, int64_t t, int m)
{
	struct tz_local lt;
	int64_t secs, cand, lo, hi, mid;
	int delta;

	tz_localtime(z, t, &lt);
	secs = ((t + lt.utoff) % 60 + 60) % 60;
	delta = ((m - lt.minute) % MINUTES_PER_DAY + MINUTES_PER_DAY) % MINUTES_PER_DAY;
	if (delta == 0)
		delta = MINUTES_PER_DAY;	/* within minute m now: its next start is tomorrow */
	cand = t - secs + (int64_t)delta * 60;
	if (tz_utoff(z, cand, NULL) == lt.utoff)
		return cand;
	/* The offset changes in (t, cand]: its first second is the next instant to look at. */
	lo = t;
	hi = cand;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (tz_utoff(z, mid, NULL) == lt.utoff)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* The next instant after t at which one of rule r's conditions may change; INT64_MAX for
 * none. */
static int64_t
rule_next_instant(const struct rule *r, const struct rule_ctx *ctx, int64_t t)
{
	const struct tz *z = r->tz != NULL ? r->tz : ctx->tz;
	int64_t best = INT64_MAX, c;

	if (r->has_deadline && ctx->deadline > 0) {
		c = (int64_t)ceil(ctx->deadline - r->deadline_within_h * 3600.0);
		if (c > t)
			best = c;
	}
	if (r->has_hours) {
		if ((c = next_clock(z, t, r->from_min % MINUTES_PER_DAY)) < best)
			best = c;
		if ((c = next_clock(z, t, r->to_min % MINUTES_PER_DAY)) < best)
			best = c;
	}
	if (r->days != 0 && (c = next_clock(z, t, 0)) < best)
		best = c;
	return best;
}

bool
rules_next_change(const struct rule *rules, size_t n, const struct rule_ctx *ctx,
    double horizon_s, double *at, struct rule_decision *next)
{
	struct rule_decision now_d, d;
	struct rule_ctx c = *ctx;
	int64_t t = (int64_t)floor(ctx->now), cand, c1;
	double end = ctx->now + horizon_s;
	size_t i;

	rules_decide(rules, n, ctx, &now_d);
	for (;;) {
		cand = INT64_MAX;
		for (i = 0; i < n; i++) {
			if ((c1 = rule_next_instant(&rules[i], ctx, t)) < cand)
				cand = c1;
		}
		if (cand == INT64_MAX || (double)cand > end)
			return false;
		c.now = (double)cand;
		rules_decide(rules, n, &c, &d);
		if (d.use != now_d.use || d.index != now_d.index) {
			*at = (double)cand;
			*next = d;
			return true;
		}
		t = cand;
	}
}

static const char *const day_abbr[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* The days of mask, Monday first: runs of three or more as "mon-fri", others listed. */
static void
describe_days(unsigned mask, struct buf *b)
{
	int order[7] = { 1, 2, 3, 4, 5, 6, 0 }, i = 0, j, k;
	bool first = true;

	if ((mask & 0x7f) == 0x7f) {
		buf_adds(b, "every day");
		return;
	}
	while (i < 7) {
		if (!(mask & (1u << order[i]))) {
			i++;
			continue;
		}
		for (j = i; j + 1 < 7 && (mask & (1u << order[j + 1])); j++)
			;
		if (j - i >= 2) {
			buf_printf(b, "%s%s-%s", first ? "" : ",", day_abbr[order[i]],
			    day_abbr[order[j]]);
			first = false;
		} else {
			for (k = i; k <= j; k++) {
				buf_printf(b, "%s%s", first ? "" : ",", day_abbr[order[k]]);
				first = false;
			}
		}
		i = j + 1;
	}
}

void
rule_describe(const struct rule *r, struct buf *b)
{
	size_t start = b->len;
	char num[32];

	if (r->days != 0)
		describe_days(r->days, b);
	if (r->has_hours)
		buf_printf(b, "%s%02d:%02d-%02d:%02d", b->len > start ? " " : "",
		    r->from_min / 60, r->from_min % 60, r->to_min / 60, r->to_min % 60);
	if ((r->days != 0 || r->has_hours) && r->tz_name != NULL)
		buf_printf(b, " %s", r->tz_name);
	if (r->has_price) {
		format_double(num, r->spot_price_above);
		buf_printf(b, "%sspot price above %s", b->len > start ? ", " : "", num);
	}
	if (r->has_deadline) {
		format_double(num, r->deadline_within_h);
		buf_printf(b, "%sdeadline within %s h", b->len > start ? ", " : "", num);
	}
	if (r->has_preemptions)
		buf_printf(b, "%strial preempted at least %lld time%s", b->len > start ? ", " : "",
		    (long long)r->preemptions_at_least, r->preemptions_at_least == 1 ? "" : "s");
	if (b->len == start)
		buf_adds(b, "always");
}
