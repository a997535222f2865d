/* `spotsweep rules explain --config FILE`: which class of worker the config's switching rules
 * choose at a moment (now, or --at), for a spot price, a trial's preemption count and a sweep
 * deadline, and which rule decided: the scheduler's own decision (rules.c), shown before a
 * config is deployed. Without --spot-price the price is the cheapest spot pool's configured
 * one (unknown when there is no spot pool, so price conditions do not hold). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/cmd.h"
#include "spotsweep/config.h"
#include "spotsweep/log.h"
#include "spotsweep/rules.h"
#include "spotsweep/tz.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

static const char *const wday_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

/* The local time of t in zone z: "Mon 2026-03-09 10:00 America/New_York (UTC-04:00,
 * daylight saving)". */
static void
local_text(char out[96], const struct tz *z, double t)
{
	struct tz_local lt;
	long off;

	tz_localtime(z, (int64_t)floor(t), &lt);
	off = lt.utoff < 0 ? -lt.utoff : lt.utoff;
	snprintf(out, 96, "%s %04d-%02d-%02d %02d:%02d %s (UTC%c%02ld:%02ld%s)",
	    wday_names[lt.wday], lt.year, lt.month, lt.day, lt.minute / 60, lt.minute % 60,
	    tz_name(z), lt.utoff < 0 ? '-' : '+', off / 3600, off % 3600 / 60,
	    lt.isdst ? ", daylight saving" : "");
}

static bool
opt_double(const char *name, const char *s, double min, double *out)
{
	if (safe_strtod(s, out) && isfinite(*out) && *out >= min)
		return true;
	errorx("rules explain: --%s: expected a number of at least %g, not %s", name, min, s);
	return false;
}

static int
cmd_rules_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *path = cmd_opt(self, args, "config"), *at = cmd_opt(self, args, "at");
	const char *price = cmd_opt(self, args, "spot-price");
	const char *preempt = cmd_opt(self, args, "trial-preemptions");
	const char *deadline = cmd_opt(self, args, "deadline-in-h");
	struct config *cfg = NULL;
	struct rule_ctx ctx;
	struct rule_decision d;
	char *cause = NULL, when[32], local[96];
	long long k = 0;
	double h;
	size_t i;

	if (strcmp(args->argv[0], "explain") != 0) {
		errorx("rules: unknown subcommand %s (expected: rules explain --config FILE)",
		    args->argv[0]);
		return EXIT_USAGE;
	}
	if (path == NULL) {
		errorx("rules explain: --config FILE is required");
		return EXIT_USAGE;
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.now = now_wall();
	if (at != NULL && !parse_iso8601(at, &ctx.now)) {
		errorx("rules explain: --at: expected an ISO 8601 time such as "
		    "2026-03-09T14:00:00Z, not %s", at);
		return EXIT_USAGE;
	}
	if (price != NULL) {
		if (!opt_double("spot-price", price, 0, &ctx.spot_price))
			return EXIT_USAGE;
		ctx.has_spot_price = true;
	}
	if (preempt != NULL && (!safe_strtoll(preempt, &k) || k < 0)) {
		errorx("rules explain: --trial-preemptions: expected a count, not %s", preempt);
		return EXIT_USAGE;
	}
	ctx.trial_preemptions = k;
	if (deadline != NULL) {
		if (!opt_double("deadline-in-h", deadline, -1e9, &h))
			return EXIT_USAGE;
		ctx.deadline = ctx.now + h * 3600;
	}
	if (config_load(path, &cfg, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	ctx.tz = cfg->tz;
	for (i = 0; price == NULL && i < cfg->npools; i++) {
		if (cfg->pools[i].cls == POOL_SPOT && (!ctx.has_spot_price ||
		    cfg->pools[i].price_per_hour < ctx.spot_price)) {
			ctx.has_spot_price = true;
			ctx.spot_price = cfg->pools[i].price_per_hour;
		}
	}
	rules_decide(cfg->rules, cfg->nrules, &ctx, &d);
	if (cmd_flag(self, args, "json")) {
		json_t *doc = json_pack("{s:s,s:s,s:i}", "use", rule_use_name(d.use), "rule",
		    d.name, "index", d.index);
		char *text = json_dumps(doc, JSON_COMPACT);

		printf("%s\n", text);
		free(text);
		json_decref(doc);
		config_free(cfg);
		return EXIT_OK;
	}
	format_iso8601(when, ctx.now, false);
	local_text(local, cfg->tz, ctx.now);
	printf("at %s (%s)\n", when, local);
	if (ctx.has_spot_price)
		printf("spot price $%.4g/GPU-hour%s, ", ctx.spot_price, price ? "" :
		    " (the cheapest spot pool's)");
	else
		printf("spot price unknown, ");
	printf("trial preempted %lld time%s, ", k, k == 1 ? "" : "s");
	if (deadline != NULL)
		printf("deadline in %g h\n", h);
	else
		printf("no deadline\n");
	if (d.index >= 0) {
		const struct rule *r = &cfg->rules[d.index];

		printf("use %s: rule \"%s\" (rules.%d)", rule_use_name(d.use), d.name, d.index);
		if (r->tz != NULL) {
			local_text(local, r->tz, ctx.now);
			printf(", its time %s", local);
		}
		printf("\n");
	} else if (cfg->nrules == 0)
		printf("use any: the config has no rules\n");
	else
		printf("use any: none of the %zu rules holds\n", cfg->nrules);
	config_free(cfg);
	return EXIT_OK;
}

const struct cmd_entry cmd_rules_entry = {
	.name = "rules",
	.usage = "explain --config FILE [--at ISO8601] [--spot-price X] [--trial-preemptions N]\n"
	    "             [--deadline-in-h H] [--json]",
	.help = "Shows which class of worker (spot, on-demand, any, or pause) the config's rules\n"
	    "choose and which rule decided: at --at (default now), with the spot price X (default\n"
	    "the cheapest spot pool's configured price), for a trial preempted N times (default\n"
	    "0) of a sweep whose deadline is H hours away (default none). Rules are tried in\n"
	    "order and the first whose every condition holds decides; none holding means any.\n"
	    "--json prints {\"use\": ..., \"rule\": NAME, \"index\": N} (index -1: no rule).",
	.opts = {
		{ "config", 'c', true },
		{ "at", 0, true },
		{ "spot-price", 0, true },
		{ "trial-preemptions", 0, true },
		{ "deadline-in-h", 0, true },
		{ "json", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 1,
	.max_args = 1,
	.exec = cmd_rules_exec,
};
