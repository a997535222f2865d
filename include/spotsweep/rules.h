/* Spot/on-demand switching rules: parsing the config's "rules" array and deciding, for a
 * moment, a spot price, a trial's preemption count and its sweep's deadline, which class of
 * worker may run it. Pure: no store, no clock, no process-global state. The first rule whose
 * every condition holds decides; with no rule holding (or none configured) the decision is
 * `any`. */
#ifndef SPOTSWEEP_RULES_H
#define SPOTSWEEP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "spotsweep/config.h"
#include "spotsweep/tz.h"

enum rule_use { RULE_USE_SPOT, RULE_USE_ON_DEMAND, RULE_USE_ANY, RULE_USE_PAUSE, RULE_USE_MAX };

struct rule {
	char		*name;		/* given, or "rules.N" */
	enum rule_use	 use;
	unsigned	 days;		/* bit d = weekday d (0 = Sunday); 0 = any day */
	bool		 has_hours;
	int		 from_min, to_min;	/* [from, to) in local minutes; wraps if from > to */
	char		*tz_name;	/* NULL: the config's timezone */
	struct tz	*tz;		/* loaded tz_name, owned */
	bool		 has_price;
	double		 spot_price_above;
	bool		 has_deadline;
	double		 deadline_within_h;
	bool		 has_preemptions;
	int64_t		 preemptions_at_least;
};

/* What a decision depends on. */
struct rule_ctx {
	double		 now;		/* epoch seconds */
	const struct tz	*tz;		/* the config's timezone; NULL = UTC */
	bool		 has_spot_price;	/* false: spot_price_above never holds */
	double		 spot_price;
	int64_t		 trial_preemptions;
	double		 deadline;	/* epoch seconds, 0 = none: deadline_within_h never holds */
};

struct rule_decision {
	enum rule_use	 use;
	int		 index;		/* the deciding rule, -1 when none held */
	const char	*name;		/* its name, "(none)" when none held */
};

/* A half-open range [lo, hi) of trial preemption counts; hi = -1 means no upper bound. */
struct preempt_range {
	int64_t	 lo, hi;
};

const char *rule_use_name(enum rule_use u);
bool rule_use_parse(const char *s, enum rule_use *out);

/* Parses the config's "rules" array. On error -1 with *keypath ("rules.2.when.hours") and
 * *msg ("expected \"HH:MM-HH:MM\"") set for the caller to place in the file; both are the
 * caller's to free. */
int rules_parse(json_t *arr, struct rule **out, size_t *n, char **keypath, char **msg);
void rules_free(struct rule *rules, size_t n);

/* The decision of rules (n of them) in ctx. */
void rules_decide(const struct rule *rules, size_t n, const struct rule_ctx *ctx,
    struct rule_decision *out);
/* True when rule i's every condition holds in ctx. */
bool rule_holds(const struct rule *r, const struct rule_ctx *ctx);

/* Whether a decision lets a worker of class cls run a trial. cls POOL_CLASS_MAX is a worker
 * without a class: it runs work when the decision is `any`, and, when the scheduler has no
 * pools at all (have_pools false), under every decision but `pause`. */
bool rule_use_allows(enum rule_use use, enum pool_class cls, bool have_pools);

/* The preemption counts for which the rules (with ctx's time, price and deadline; its
 * trial_preemptions is ignored) let class cls run a trial, as at most n + 1 disjoint ranges
 * in ascending order written to out (room for n + 1). Returns how many. */
size_t rules_allowed_ranges(const struct rule *rules, size_t n, const struct rule_ctx *ctx,
    enum pool_class cls, bool have_pools, struct preempt_range *out);

#endif
