/* The calculator's arithmetic (see estimate.h). The simulated overhead is a closed form, not
 * a Monte Carlo run, so the same inputs always print the same numbers: interruptions arrive
 * at `rate` per GPU-hour of running; each one throws away the work since the last checkpoint
 * (on average half an interval, checkpoints being evenly spaced and interruptions
 * memoryless) and costs a restart. Running time spent redoing work is itself exposed to
 * interruptions, which makes the expected total the geometric sum work / (1 - x). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "spotsweep/estimate.h"
#include "spotsweep/xmalloc.h"

int
estimate_overhead(double rate, double interval_min, double restart_min, double *overhead,
    char **cause)
{
	double x;

	if (!(rate >= 0) || !(interval_min > 0) || !(restart_min >= 0) || !isfinite(rate) ||
	    !isfinite(interval_min) || !isfinite(restart_min)) {
		*cause = xasprintf("the preemption rate and restart overhead must be at least 0 "
		    "and the checkpoint interval above 0");
		return -1;
	}
	x = rate * (interval_min / 2 + restart_min) / 60;
	if (x >= 1) {
		*cause = xasprintf("at %g interruptions per GPU-hour, each losing %g minutes, the "
		    "job would never finish (checkpoint more often)", rate,
		    interval_min / 2 + restart_min);
		return -1;
	}
	*overhead = x / (1 - x);
	return 0;
}

int
estimate_compute(const struct estimate_input *in, struct estimate_result *out, char **cause)
{
	memset(out, 0, sizeof *out);
	if (!(in->gpu_hours > 0) || !isfinite(in->gpu_hours)) {
		*cause = xasprintf("the work must be more than 0 GPU-hours");
		return -1;
	}
	if (!(in->on_demand_price >= 0) || !(in->spot_price >= 0) ||
	    !isfinite(in->on_demand_price) || !isfinite(in->spot_price)) {
		*cause = xasprintf("prices must be at least 0");
		return -1;
	}
	if (in->simulate) {
		if (estimate_overhead(in->preemption_rate, in->checkpoint_interval_min,
		    in->restart_overhead_min, &out->overhead, cause) != 0)
			return -1;
	} else {
		if (!(in->overhead >= 0) || !isfinite(in->overhead)) {
			*cause = xasprintf("the overhead must be at least 0");
			return -1;
		}
		out->overhead = in->overhead;
	}
	out->gpu_hours = in->gpu_hours;
	out->on_demand_cost = in->gpu_hours * in->on_demand_price;
	out->spot_gpu_hours = in->gpu_hours * (1 + out->overhead);
	out->spot_cost = out->spot_gpu_hours * in->spot_price;
	out->savings = out->on_demand_cost - out->spot_cost;
	out->savings_fraction = out->on_demand_cost > 0 ? out->savings / out->on_demand_cost : 0;
	return 0;
}

double
estimate_round_cents(double usd)
{
	return round(usd * 100) / 100;
}

void
estimate_format(char out[64], double n, int decimals, bool keep_zeros)
{
	char digits[64], *dot, *p;
	size_t intlen, i, o = 0;

	snprintf(digits, sizeof digits, "%.*f", decimals, fabs(n));
	if (n < 0 && strspn(digits, "0.") != strlen(digits))
		out[o++] = '-';
	dot = strchr(digits, '.');
	intlen = dot ? (size_t)(dot - digits) : strlen(digits);
	for (i = 0; i < intlen && o < 60; i++) {
		if (i > 0 && (intlen - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	if (dot == NULL)
		return;
	if (!keep_zeros) {
		for (p = dot + strlen(dot) - 1; p > dot && *p == '0'; p--)
			*p = '\0';
		if (p == dot)
			return;
	}
	snprintf(out + o, 64 - o, "%s", dot);
}
