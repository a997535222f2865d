/* Unit tests for the spot-versus-on-demand calculator (estimate.c): the worked examples of
 * the issue to the cent, the closed-form simulated overhead, refused inputs, and the number
 * formatting the command prints. (The "$36,909.93" for 18,547.2 GPU-hours at $1.99
 * is a slip: 18,547.2 x 1.99 = 36,908.928, so $36,908.93.) */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/estimate.h"

#include "check-main.h"

/* Money compared to the cent, as printed. */
static void
assert_cents(double got, const char *want, const char *what)
{
	char buf[64];

	snprintf(buf, sizeof buf, "%.2f", estimate_round_cents(got));
	ck_assert_msg(strcmp(buf, want) == 0, "%s: %s, want %s", what, buf, want);
}

static const struct {
	const char	*what;
	double		 gpu_hours, od_price, spot_price, overhead;
	const char	*od_cost, *spot_gpu_hours, *spot_cost, *savings, *pct;
} cases[] = {
	{ "32 GPUs for 504 hours", 32.0 * 504, 3.49, 1.99, 0.15,
	    "56286.72", "18547.2", "36908.93", "19377.79", "34.4" },
	{ "500 trials of 4 hours", 500.0 * 4, 2.09, 0.70, 0,
	    "4180.00", "2000", "1400.00", "2780.00", "66.5" },
	{ "spot dearer than on demand", 10, 1.00, 0.95, 0.10,
	    "10.00", "11", "10.45", "-0.45", "-4.5" },
	{ "free spot", 1, 2.00, 0, 0.5, "2.00", "1.5", "0.00", "2.00", "100.0" },
};

START_TEST(test_worked_examples)
{
	struct estimate_input in;
	struct estimate_result r;
	char *cause = NULL, buf[64], plain[64];
	size_t i, o;

	memset(&in, 0, sizeof in);
	in.gpu_hours = cases[_i].gpu_hours;
	in.on_demand_price = cases[_i].od_price;
	in.spot_price = cases[_i].spot_price;
	in.overhead = cases[_i].overhead;
	ck_assert_msg(estimate_compute(&in, &r, &cause) == 0, "%s: %s", cases[_i].what, cause);
	assert_cents(r.on_demand_cost, cases[_i].od_cost, cases[_i].what);
	assert_cents(r.spot_cost, cases[_i].spot_cost, cases[_i].what);
	assert_cents(r.savings, cases[_i].savings, cases[_i].what);
	/* As printed, without the thousands separators. */
	estimate_format(buf, r.spot_gpu_hours, 2, false);
	for (i = 0, o = 0; buf[i] != '\0'; i++) {
		if (buf[i] != ',')
			plain[o++] = buf[i];
	}
	plain[o] = '\0';
	ck_assert_msg(strcmp(plain, cases[_i].spot_gpu_hours) == 0, "%s: spot GPU-hours %s",
	    cases[_i].what, plain);
	snprintf(buf, sizeof buf, "%.1f", r.savings_fraction * 100);
	ck_assert_msg(strcmp(buf, cases[_i].pct) == 0, "%s: %s%%", cases[_i].what, buf);
	ck_assert(fabs(r.gpu_hours - cases[_i].gpu_hours) < 1e-9);
}
END_TEST

static const struct {
	double	 rate, interval, restart;
	double	 want;		/* overhead fraction */
} overhead_cases[] = {
	{ 0, 30, 5, 0 },
	/* x = 0.1 (15 + 5) / 60 = 1/30; x / (1 - x) = 1/29 */
	{ 0.1, 30, 5, 1.0 / 29 },
	/* x = 0.5 (30 + 0) / 60 = 0.25 -> 1/3 */
	{ 0.5, 60, 0, 1.0 / 3 },
	/* x = 1 (10 + 5) / 60 = 0.25 */
	{ 1, 20, 5, 1.0 / 3 },
};

START_TEST(test_simulated_overhead)
{
	struct estimate_input in;
	struct estimate_result r;
	char *cause = NULL;
	double o;

	ck_assert_int_eq(estimate_overhead(overhead_cases[_i].rate, overhead_cases[_i].interval,
	    overhead_cases[_i].restart, &o, &cause), 0);
	ck_assert_msg(fabs(o - overhead_cases[_i].want) < 1e-12, "case %d: %.15g", _i, o);
	memset(&in, 0, sizeof in);
	in.gpu_hours = 100;
	in.on_demand_price = 3;
	in.spot_price = 1;
	in.overhead = 99;	/* ignored when simulating */
	in.simulate = true;
	in.preemption_rate = overhead_cases[_i].rate;
	in.checkpoint_interval_min = overhead_cases[_i].interval;
	in.restart_overhead_min = overhead_cases[_i].restart;
	ck_assert_int_eq(estimate_compute(&in, &r, &cause), 0);
	ck_assert(fabs(r.spot_gpu_hours - 100 * (1 + overhead_cases[_i].want)) < 1e-9);
}
END_TEST

START_TEST(test_refused)
{
	struct estimate_input ok, in;
	struct estimate_result r;
	char *cause = NULL;
	double o;
	int i;

	memset(&ok, 0, sizeof ok);
	ok.gpu_hours = 10;
	ok.on_demand_price = 3;
	ok.spot_price = 1;
	for (i = 0; i < 6; i++) {
		in = ok;
		switch (i) {
		case 0: in.gpu_hours = 0; break;
		case 1: in.gpu_hours = NAN; break;
		case 2: in.on_demand_price = -1; break;
		case 3: in.spot_price = INFINITY; break;
		case 4: in.overhead = -0.1; break;
		case 5: in.simulate = true; in.checkpoint_interval_min = 0; break;
		}
		ck_assert_msg(estimate_compute(&in, &r, &cause) == -1, "case %d accepted", i);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		cause = NULL;
	}
	/* x = 2 (30 + 5) / 60 > 1: never finishes. */
	ck_assert_int_eq(estimate_overhead(2, 60, 5, &o, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "never finish"));
	free(cause);
}
END_TEST

START_TEST(test_format)
{
	static const struct {
		double n;
		int decimals;
		bool keep;
		const char *want;
	} f[] = {
		{ 16128, 2, false, "16,128" },
		{ 18547.199999999997, 2, false, "18,547.2" },
		{ 56286.72, 2, true, "56,286.72" },
		{ 4180, 2, true, "4,180.00" },
		{ 999, 2, false, "999" },
		{ 1000, 0, false, "1,000" },
		{ 1234567.891, 2, true, "1,234,567.89" },
		{ -19377.79, 2, true, "-19,377.79" },
		{ 0.004, 2, false, "0" },
		{ -0.001, 2, true, "0.00" },
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof f / sizeof f[0]; i++) {
		estimate_format(out, f[i].n, f[i].decimals, f[i].keep);
		ck_assert_msg(strcmp(out, f[i].want) == 0, "%.17g: %s, want %s", f[i].n, out,
		    f[i].want);
	}
	ck_assert(estimate_round_cents(36908.928) == 36908.93);
	ck_assert(estimate_round_cents(0.125) == 0.13);
}
END_TEST

static Suite *
estimate_suite(void)
{
	Suite *s = suite_create("estimate");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_worked_examples, 0, (int)(sizeof cases / sizeof cases[0]));
	tcase_add_loop_test(tc, test_simulated_overhead, 0,
	    (int)(sizeof overhead_cases / sizeof overhead_cases[0]));
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(estimate_suite());
}
