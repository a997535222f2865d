/* `spotsweep cost SWEEP [--json]`: what a sweep cost, from its attempts (store-cost.c):
 * spend and GPU-hours by pool class, the same GPU-hours at the on-demand price, the savings,
 * and the compute lost to interruptions. The on-demand price is --on-demand-price, else the
 * cheapest on-demand pool of --config, else the one the last `serve` recorded in the store,
 * else the highest an on-demand attempt of the sweep paid; without any, no comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/cmd.h"
#include "spotsweep/config.h"
#include "spotsweep/cost.h"
#include "spotsweep/estimate.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

static void
money(char out[80], double usd)
{
	char n[64];

	estimate_format(n, estimate_round_cents(usd < 0 ? -usd : usd), 2, true);
	snprintf(out, 80, "%s$%s", usd <= -0.005 ? "-" : "", n);
}

static void
print_json(const struct sweep_cost *c, const char *source)
{
	json_t *doc = sweep_cost_json(c, source);
	char *text;

	text = json_dumps(doc, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(doc);
}

static void
print_text(const struct sweep_cost *c, const char *source)
{
	char m[80], n[80];
	int i;

	printf("sweep %lld: %lld attempt%s ended", (long long)c->sweep_id,
	    (long long)c->attempts, c->attempts == 1 ? "" : "s");
	if (c->running_attempts > 0)
		printf(" (%lld still running, not counted yet)", (long long)c->running_attempts);
	printf("\n%-10s %9s %12s %14s\n", "class", "attempts", "GPU-hours", "cost");
	for (i = 0; i < COST_CLASS_MAX; i++) {
		const struct cost_bucket *b = &c->by_class[i];

		if (b->attempts == 0 && i == COST_UNCLASSED)
			continue;
		money(m, b->cost);
		printf("%-10s %9lld %12.4f %14s\n", cost_class_name((enum cost_class)i),
		    (long long)b->attempts, b->gpu_hours, m);
	}
	money(m, c->cost);
	printf("%-10s %9lld %12.4f %14s\n", "total", (long long)c->attempts, c->gpu_hours, m);
	if (c->has_on_demand_price) {
		money(m, c->on_demand_cost);
		money(n, c->savings < 0 ? -c->savings : c->savings);
		printf("on demand at $%.4g/GPU-hour (%s): %s; %s %s (%.1f%%)\n",
		    c->on_demand_price, source, m, c->savings < 0 ? "spot cost" : "saved", n,
		    (c->savings_fraction < 0 ? -c->savings_fraction : c->savings_fraction) * 100);
		if (c->savings < 0)
			printf("(that is more than on demand)\n");
	} else
		printf("on demand: no on-demand price known (give --on-demand-price or --config)\n");
	money(m, c->redone_cost);
	printf("lost to interruptions: %lld attempt%s interrupted; %.4f GPU-hours (%s) of work "
	    "after their last checkpoint redone\n", (long long)c->interrupted_attempts,
	    c->interrupted_attempts == 1 ? "" : "s", c->redone_gpu_hours, m);
}

static int
cmd_cost_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *opt_price = cmd_opt(self, args, "on-demand-price");
	const char *opt_config = cmd_opt(self, args, "config");
	const char *source = NULL;
	struct sweep_cost c;
	struct config *cfg = NULL;
	struct store *st;
	char *cause = NULL;
	double price = -1;
	bool found = false;
	long long id;
	size_t i;
	int rc = EXIT_RUNTIME;

	if (!cmd_parse_id(args->argv[0], &id))
		return EXIT_USAGE;
	if (opt_price != NULL) {
		if (!safe_strtod(opt_price, &price) || !(price >= 0)) {
			errorx("cost: --on-demand-price: expected a price of at least 0, not %s",
			    opt_price);
			return EXIT_USAGE;
		}
		source = "--on-demand-price";
		found = true;
	} else if (opt_config != NULL) {
		if (config_load(opt_config, &cfg, &cause) != 0) {
			errorx("%s", cause);
			free(cause);
			return EXIT_USAGE;
		}
		for (i = 0; i < cfg->npools; i++) {
			if (cfg->pools[i].cls == POOL_ON_DEMAND && (!found ||
			    cfg->pools[i].price_per_hour < price)) {
				price = cfg->pools[i].price_per_hour;
				found = true;
				source = "config";
			}
		}
		config_free(cfg);
	}
	if ((st = cmd_open_existing_store(args)) == NULL)
		return EXIT_RUNTIME;
	if (!found && store_on_demand_price(st, id, &price, &found, &source, &cause) != 0)
		goto fail;
	if (store_sweep_cost(st, id, found ? price : -1, &c, &cause) != 0)
		goto fail;
	if (cmd_flag(self, args, "json"))
		print_json(&c, source);
	else
		print_text(&c, source);
	rc = EXIT_OK;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	store_close(st);
	return rc;
}

const struct cmd_entry cmd_cost_entry = {
	.name = "cost",
	.usage = "SWEEP [--json] [--on-demand-price P] [--config FILE]",
	.help = "What the sweep cost, from every ended attempt (runtime x GPUs x the price in\n"
	    "force when it was leased): spend and GPU-hours by pool class, what the same\n"
	    "GPU-hours would have cost on demand and the savings, and the compute lost to\n"
	    "interruptions: the work preempted or lost attempts did after their last\n"
	    "checkpoint (all of it when they checkpointed nothing), which was redone. The\n"
	    "on-demand price is P, else the cheapest on-demand pool of FILE, else the one the\n"
	    "scheduler recorded, else the highest an on-demand attempt of the sweep paid.",
	.opts = {
		{ "json", 0, false },
		{ "on-demand-price", 0, true },
		{ "config", 'c', true },
		{ NULL, 0, false }
	},
	.min_args = 1,
	.max_args = 1,
	.exec = cmd_cost_exec,
};
