/* `spotsweep estimate`: the spot-versus-on-demand calculator. The job form takes GPUs and
 * hours, the sweep form trials and hours per trial (and GPUs per trial, 1 by default); spot
 * GPU-hours are the work plus an overhead for interruptions, given with --overhead or derived
 * from --preemption-rate and --checkpoint-interval-min (estimate.c has the formula). Money is
 * shown to the cent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/cmd.h"
#include "spotsweep/estimate.h"
#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Reads option name as a number >= 0 (> 0 when positive); false after printing why. A
 * trailing % (percent) divides by 100, for --overhead 15%. */
static bool
opt_number(const struct cmd_entry *e, const struct cmd_args *a, const char *name,
    bool positive, bool percent_ok, double *out, bool *given)
{
	const char *s = cmd_opt(e, a, name);
	char *copy;
	size_t len;
	bool ok;

	if (given != NULL)
		*given = s != NULL;
	if (s == NULL)
		return true;
	copy = xstrdup(s);
	len = strlen(copy);
	if (percent_ok && len > 1 && copy[len - 1] == '%')
		copy[len - 1] = '\0';
	ok = safe_strtod(copy, out) && isfinite(*out) && (positive ? *out > 0 : *out >= 0);
	if (ok && percent_ok && len > 1 && s[len - 1] == '%')
		*out /= 100;
	free(copy);
	if (!ok)
		errorx("estimate: --%s: expected a number %s, not %s", name,
		    positive ? "above 0" : "of at least 0", s);
	return ok;
}

static void
money(char out[80], double usd)
{
	char n[64];

	estimate_format(n, estimate_round_cents(fabs(usd)), 2, true);
	snprintf(out, 80, "%s$%s", usd < -0.005 ? "-" : "", n);
}

static double
round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

static void
print_text(const struct estimate_input *in, const struct estimate_result *r,
    const char *work)
{
	char a[80], b[80], c[80], d[80];

	estimate_format(a, r->gpu_hours, 2, false);
	printf("work:       %s GPU-hours (%s)\n", a, work);
	money(b, in->on_demand_price);
	money(c, r->on_demand_cost);
	printf("on demand:  %s GPU-hours x %s = %s\n", a, b, c);
	estimate_format(a, r->spot_gpu_hours, 2, false);
	estimate_format(d, r->overhead * 100, 1, false);
	money(b, in->spot_price);
	money(c, r->spot_cost);
	printf("spot:       %s GPU-hours (+%s%% for interruptions) x %s = %s\n", a, d, b, c);
	if (in->simulate) {
		estimate_format(a, in->preemption_rate, 4, false);
		estimate_format(b, in->checkpoint_interval_min, 2, false);
		estimate_format(c, in->restart_overhead_min, 2, false);
		printf("            overhead from %s interruptions per GPU-hour, checkpoints every "
		    "%s min, %s min restarts\n", a, b, c);
	}
	money(a, fabs(r->savings));
	estimate_format(b, fabs(r->savings_fraction) * 100, 1, true);
	if (r->savings >= 0)
		printf("savings:    %s (%s%%)\n", a, b);
	else
		printf("spot costs %s more (%s%%)\n", a, b);
}

static int
print_json(const struct estimate_input *in, const struct estimate_result *r)
{
	json_t *doc;
	char *text;

	doc = json_pack("{s:f,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f,s:s,s:f},s:f,s:f}",
	    "gpu_hours", round_to(r->gpu_hours, 1e-6),
	    "on_demand",
	    "gpu_hours", round_to(r->gpu_hours, 1e-6),
	    "price_per_hour", in->on_demand_price,
	    "cost_usd", estimate_round_cents(r->on_demand_cost),
	    "spot",
	    "gpu_hours", round_to(r->spot_gpu_hours, 1e-6),
	    "price_per_hour", in->spot_price,
	    "overhead", round_to(r->overhead, 1e-9),
	    "overhead_source", in->simulate ? "simulated" : "given",
	    "cost_usd", estimate_round_cents(r->spot_cost),
	    "savings_usd", estimate_round_cents(r->savings),
	    "savings_pct", round_to(r->savings_fraction * 100, 0.1));
	if (in->simulate)
		json_object_set_new(json_object_get(doc, "spot"), "simulation", json_pack(
		    "{s:f,s:f,s:f,s:s}", "preemption_rate", in->preemption_rate,
		    "checkpoint_interval_min", in->checkpoint_interval_min,
		    "restart_overhead_min", in->restart_overhead_min, "method", "closed form"));
	text = json_dumps(doc, JSON_REAL_PRECISION(15));
	json_decref(doc);
	if (text == NULL)
		return EXIT_RUNTIME;
	printf("%s\n", text);
	free(text);
	return EXIT_OK;
}

static int
cmd_estimate_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	struct estimate_input in;
	struct estimate_result r;
	double gpus = 1, hours = 0, trials = 0, per_trial = 0;
	bool has_gpus, has_hours, has_trials, has_per_trial, has_odp, has_sp, has_overhead;
	bool has_rate, has_interval, has_restart;
	char *cause = NULL, *work, g[64], h[64], t[64];

	memset(&in, 0, sizeof in);
	in.restart_overhead_min = 5;
	if (!opt_number(self, args, "gpus", true, false, &gpus, &has_gpus) ||
	    !opt_number(self, args, "hours", true, false, &hours, &has_hours) ||
	    !opt_number(self, args, "trials", true, false, &trials, &has_trials) ||
	    !opt_number(self, args, "hours-per-trial", true, false, &per_trial, &has_per_trial) ||
	    !opt_number(self, args, "on-demand-price", false, false, &in.on_demand_price,
	    &has_odp) ||
	    !opt_number(self, args, "spot-price", false, false, &in.spot_price, &has_sp) ||
	    !opt_number(self, args, "overhead", false, true, &in.overhead, &has_overhead) ||
	    !opt_number(self, args, "preemption-rate", false, false, &in.preemption_rate,
	    &has_rate) ||
	    !opt_number(self, args, "checkpoint-interval-min", true, false,
	    &in.checkpoint_interval_min, &has_interval) ||
	    !opt_number(self, args, "restart-overhead-min", false, false,
	    &in.restart_overhead_min, &has_restart))
		return EXIT_USAGE;
	if (!has_odp || !has_sp) {
		errorx("estimate: --on-demand-price and --spot-price are required");
		return EXIT_USAGE;
	}
	if (has_trials || has_per_trial) {
		if (has_hours || !has_trials || !has_per_trial) {
			errorx("estimate: the sweep form is --trials T --hours-per-trial H "
			    "[--gpus PER_TRIAL] (without --hours)");
			return EXIT_USAGE;
		}
		in.gpu_hours = trials * per_trial * gpus;
		estimate_format(t, trials, 2, false);
		estimate_format(h, per_trial, 2, false);
		estimate_format(g, gpus, 2, false);
		work = xasprintf("%s trials x %s hours x %s GPU%s", t, h, g, gpus == 1 ? "" : "s");
	} else {
		if (!has_gpus || !has_hours) {
			errorx("estimate: give --gpus N --hours H, or --trials T --hours-per-trial H");
			return EXIT_USAGE;
		}
		in.gpu_hours = gpus * hours;
		estimate_format(g, gpus, 2, false);
		estimate_format(h, hours, 2, false);
		work = xasprintf("%s GPU%s x %s hours", g, gpus == 1 ? "" : "s", h);
	}
	if (has_rate || has_interval || has_restart) {
		if (!has_rate || !has_interval || has_overhead) {
			errorx("estimate: a simulated overhead needs --preemption-rate and "
			    "--checkpoint-interval-min (and replaces --overhead)");
			free(work);
			return EXIT_USAGE;
		}
		in.simulate = true;
	}
	if (estimate_compute(&in, &r, &cause) != 0) {
		errorx("estimate: %s", cause);
		free(cause);
		free(work);
		return EXIT_USAGE;
	}
	if (cmd_flag(self, args, "json")) {
		free(work);
		return print_json(&in, &r);
	}
	print_text(&in, &r, work);
	free(work);
	return EXIT_OK;
}

const struct cmd_entry cmd_estimate_entry = {
	.name = "estimate",
	.usage = "--gpus N --hours H | --trials T --hours-per-trial H [--gpus N]\n"
	    "             --on-demand-price P --spot-price S [--overhead F | --preemption-rate R\n"
	    "             --checkpoint-interval-min M [--restart-overhead-min 5]] [--json]",
	.help = "Compares running a job on demand with running it on spot machines. The work is\n"
	    "GPUs x hours (or trials x hours per trial x GPUs per trial, 1 by default); prices\n"
	    "are per GPU-hour. Spot GPU-hours are the work plus an overhead for the work redone\n"
	    "after interruptions: --overhead F as a fraction (0.15) or a percentage (15%),\n"
	    "default 0; or simulated from --preemption-rate R (interruptions per GPU-hour) and\n"
	    "--checkpoint-interval-min M with a restart overhead (default 5 minutes). The\n"
	    "simulation is a closed form, not Monte Carlo: each interruption loses M/2 minutes\n"
	    "of work on average plus the restart, x = R (M/2 + restart) / 60 of every GPU-hour,\n"
	    "and since redone work can be interrupted too the overhead is x / (1 - x).\n"
	    "Example: --gpus 32 --hours 504 --on-demand-price 3.49 --spot-price 1.99\n"
	    "--overhead 0.15 is $56,286.72 on demand and $36,908.93 on spot, 34.4% saved.",
	.opts = {
		{ "gpus", 0, true },
		{ "hours", 0, true },
		{ "trials", 0, true },
		{ "hours-per-trial", 0, true },
		{ "on-demand-price", 0, true },
		{ "spot-price", 0, true },
		{ "overhead", 0, true },
		{ "preemption-rate", 0, true },
		{ "checkpoint-interval-min", 0, true },
		{ "restart-overhead-min", 0, true },
		{ "json", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_estimate_exec,
};
