/* libFuzzer target: the scheduler config parser (config.c: listen, pools, hosts, rules, time
 * zones) and the switching rules' evaluation (rules.c, tz.c) at moments around the year,
 * with and without a spot price, deadline and preemptions. Besides memory safety it checks
 * the messages (starting with the file name) and the decisions: a known use, the
 * deciding rule's index in range, and allowed preemption ranges ascending and disjoint. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/config.h"
#include "spotsweep/rules.h"
#include "spotsweep/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_ranges(const struct preempt_range *r, size_t n, size_t nrules)
{
	size_t i;

	if (n > nrules + 1)
		abort();
	for (i = 0; i < n; i++) {
		if (r[i].lo < 0 || (r[i].hi != -1 && r[i].hi <= r[i].lo))
			abort();
		if (i > 0 && (r[i - 1].hi == -1 || r[i - 1].hi > r[i].lo))
			abort();
	}
}

static void
decide_around(const struct config *c)
{
	/* Mondays and Sundays, both sides of the US and EU daylight-saving changes. */
	static const double moments[] = { 0, 1741503600, 1741510800, 1743292800,
	    1761782400, 1762063200, 1767225599, 1782864000, 4102444800.0 };
	static const double prices[] = { -1, 0, 2.5, 1e308 };
	struct preempt_range *ranges;
	struct rule_decision d;
	struct rule_ctx ctx;
	size_t i, j, n;
	int cls;

	ranges = xcalloc(c->nrules + 1, sizeof *ranges);
	for (i = 0; i < sizeof moments / sizeof moments[0]; i++) {
		for (j = 0; j < sizeof prices / sizeof prices[0]; j++) {
			memset(&ctx, 0, sizeof ctx);
			ctx.now = moments[i];
			ctx.tz = c->tz;
			ctx.has_spot_price = prices[j] >= 0;
			ctx.spot_price = prices[j];
			ctx.trial_preemptions = (int64_t)(i * j);
			ctx.deadline = j % 2 ? moments[i] + 3600.0 * (double)j : 0;
			rules_decide(c->rules, c->nrules, &ctx, &d);
			if (d.use >= RULE_USE_MAX || d.index < -1 || d.index >= (int)c->nrules ||
			    d.name == NULL)
				abort();
			if (d.index >= 0 && !rule_holds(&c->rules[d.index], &ctx))
				abort();
			for (cls = 0; cls <= POOL_CLASS_MAX; cls++) {
				n = rules_allowed_ranges(c->rules, c->nrules, &ctx,
				    (enum pool_class)cls, c->npools > 0, ranges);
				check_ranges(ranges, n, c->nrules);
				(void)rule_use_allows(d.use, (enum pool_class)cls, c->npools > 0);
			}
		}
	}
	free(ranges);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char path[] = "fuzz-config.json";
	struct config *c = NULL;
	char *text, *cause = NULL;
	size_t i;

	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse(path, text, size, &c, &cause) == 0) {
		decide_around(c);
		for (i = 0; i < c->npools; i++) {
			if (config_pool(c, c->pools[i].name) == NULL)
				abort();
		}
		config_free(c);
	} else {
		/* Control characters from the file may be in it: errorx() escapes them. */
		if (cause == NULL || strncmp(cause, path, sizeof path - 1) != 0 ||
		    cause[sizeof path - 1] != ':') {
			fprintf(stderr, "bad message: %s\n", cause ? cause : "(null)");
			abort();
		}
		free(cause);
	}
	free(text);
	return 0;
}
