/* The spot-versus-on-demand calculator behind `spotsweep estimate`: GPU-hours and cost of a
 * job on demand and on spot, where spot GPU-hours are inflated by an overhead for the work
 * redone after interruptions, either given or derived from a preemption rate and a checkpoint
 * interval. Pure arithmetic, no I/O. */
#ifndef SPOTSWEEP_ESTIMATE_H
#define SPOTSWEEP_ESTIMATE_H

#include <stdbool.h>

struct estimate_input {
	double	 gpu_hours;		/* the work: GPUs x hours, or trials x hours x GPUs */
	double	 on_demand_price;	/* per GPU-hour */
	double	 spot_price;		/* per GPU-hour */
	bool	 simulate;		/* derive the overhead from the three below */
	double	 overhead;		/* fraction of extra spot GPU-hours, when given */
	double	 preemption_rate;	/* interruptions per GPU-hour */
	double	 checkpoint_interval_min;
	double	 restart_overhead_min;	/* 5 by default */
};

struct estimate_result {
	double	 gpu_hours;		/* on demand: the work itself */
	double	 on_demand_cost;
	double	 overhead;		/* the fraction used */
	double	 spot_gpu_hours;
	double	 spot_cost;
	double	 savings;		/* on_demand_cost - spot_cost (negative: spot costs more) */
	double	 savings_fraction;	/* savings / on_demand_cost, 0 when that is 0 */
};

/* The overhead fraction implied by interrupting a GPU-hour `rate` times, losing on average
 * half a checkpoint interval of work plus the restart time each time. Redone work can itself
 * be interrupted, so with x = rate * (interval/2 + restart) / 60 the overhead is x / (1 - x).
 * -1 with *cause when x >= 1 (the job would never finish). */
int estimate_overhead(double rate, double interval_min, double restart_min, double *overhead,
    char **cause);
/* Computes the estimate; -1 with *cause on inputs that make no sense. */
int estimate_compute(const struct estimate_input *in, struct estimate_result *out,
    char **cause);
/* Rounds an amount of money to the cent, half away from zero. */
double estimate_round_cents(double usd);
/* Formats n with thousands separators and at most `decimals` decimals, trailing zeros of the
 * fraction dropped ("16,128", "18,547.2", "56,286.72" with decimals 2 and keep_zeros). */
void estimate_format(char out[64], double n, int decimals, bool keep_zeros);

#endif
