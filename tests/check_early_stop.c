/* Unit tests for early stopping (early-stop.c): the rungs of each policy, curves merged over
 * attempts, the successive-halving and median rules as tables (stops, promotions, ties),
 * and a hyperband sweep on a store played step by step: judgements at rungs only, a trial
 * preempted between rungs judged when it gets there on its next attempt, a pruned trial
 * promoted once worse ones arrive, and the summary of what was saved. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/early-stop.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

START_TEST(test_rung_steps)
{
	static const struct {
		enum early_stop_kind	 kind;
		int64_t			 first, eta, interval, max_iter, k, step;
	} cases[] = {
		{ EARLY_HYPERBAND, 1, 3, 0, 81, 0, 1 },
		{ EARLY_HYPERBAND, 1, 3, 0, 81, 3, 27 },
		{ EARLY_HYPERBAND, 1, 3, 0, 81, 4, -1 },	/* max_iter is the end, no rung */
		{ EARLY_HYPERBAND, 1, 3, 0, 0, 4, 81 },
		{ EARLY_HYPERBAND, 5, 2, 0, 0, 3, 40 },
		{ EARLY_HYPERBAND, 3, 3, 0, 27, 1, 9 },
		{ EARLY_HYPERBAND, 3, 3, 0, 27, 2, -1 },
		{ EARLY_HYPERBAND, 2, 1000, 0, 0, 10, -1 },	/* overflow */
		{ EARLY_HYPERBAND, 1, 3, 0, 0, -1, -1 },
		{ EARLY_MEDIAN, 10, 0, 5, 0, 0, 10 },
		{ EARLY_MEDIAN, 10, 0, 5, 0, 3, 25 },
		{ EARLY_MEDIAN, 1, 0, 1, 0, 99, 100 },
		{ EARLY_NONE, 1, 3, 1, 0, 0, -1 },
	};
	struct early_policy p;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&p, 0, sizeof p);
		p.kind = cases[i].kind;
		p.first = cases[i].first;
		p.eta = cases[i].eta;
		p.interval = cases[i].interval;
		p.max_iter = cases[i].max_iter;
		ck_assert_msg(early_rung_step(&p, cases[i].k) == cases[i].step,
		    "case %zu: rung %lld at %lld, not %lld", i, (long long)cases[i].k,
		    (long long)early_rung_step(&p, cases[i].k), (long long)cases[i].step);
	}
}
END_TEST

/* The policy a spec asks for, W&B's hyperband by max_iter and s included. */
START_TEST(test_policy_from_spec)
{
	static const struct {
		const char	*early;
		int64_t		 rung0, rung1;
	} cases[] = {
		{ "{\"type\": \"hyperband\", \"min_iter\": 3}", 3, 9 },
		{ "{\"type\": \"hyperband\", \"min_iter\": 2, \"eta\": 2, \"max_iter\": 4}", 2, -1 },
		{ "{\"type\": \"hyperband\", \"max_iter\": 27, \"s\": 2}", 3, 9 },
		{ "{\"type\": \"median\", \"min_steps\": 5}", 5, 10 },
		{ "{\"type\": \"median\", \"min_steps\": 5, \"interval_steps\": 2}", 5, 7 },
		{ "{\"type\": \"median\"}", 1, 2 },
	};
	struct early_policy p;
	struct spec *s;
	char *text, *cause = NULL;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		text = xasprintf("{\"name\": \"p\", \"command\": \"true\", \"method\": \"grid\","
		    " \"parameters\": {\"a\": {\"value\": 1}}, \"metric\": {\"name\": \"loss\"},"
		    " \"early_terminate\": %s}", cases[i].early);
		ck_assert_msg(spec_parse("p.json", text, strlen(text), &s, &cause) == 0,
		    "case %zu: %s", i, cause);
		early_policy_from_spec(&p, s);
		ck_assert_int_eq(early_rung_step(&p, 0), cases[i].rung0);
		ck_assert_int_eq(early_rung_step(&p, 1), cases[i].rung1);
		spec_free(s);
		free(text);
	}
}
END_TEST

/* A trial's points over attempts: the newest attempt speaks for a step. */
START_TEST(test_curve)
{
	static const struct early_sample samples[] = {
		{ 1, 1, 5.0 }, { 2, 2, 0.9 }, { 2, 1, 4.0 }, { 3, 1, 3.0 }, { 5, 2, 0.7 },
	};
	static const struct {
		int64_t	 step;
		double	 value, best;
	} at[] = {
		{ 0, 5.0, 5.0 },	/* before the first point: the first point */
		{ 1, 5.0, 5.0 },
		{ 2, 0.9, 0.9 },	/* attempt 2 re-reported step 2 after resuming */
		{ 3, 3.0, 0.9 },
		{ 4, 3.0, 0.9 },	/* no point at 4: the last one before */
		{ 9, 0.7, 0.7 },
	};
	struct early_point c[8];
	size_t n, i;
	double v, b;

	n = early_curve_merge(samples, sizeof samples / sizeof samples[0], c);
	ck_assert_uint_eq(n, 4);
	ck_assert(c[1].step == 2 && c[1].value == 0.9);
	for (i = 0; i < sizeof at / sizeof at[0]; i++) {
		ck_assert(early_curve_value(c, n, at[i].step, &v));
		ck_assert(early_curve_best(c, n, at[i].step, true, &b));
		ck_assert_msg(v == at[i].value && b == at[i].best, "step %lld: %g, best %g",
		    (long long)at[i].step, v, b);
	}
	ck_assert(!early_curve_value(c, 0, 1, &v));
}
END_TEST

/* Successive halving at a rung, and the promotion rule, which is the same test later. */
START_TEST(test_rung_keep)
{
	static const struct {
		const char	*what;
		int64_t		 eta;
		bool		 minimize;
		double		 value;
		double		 others[8];
		size_t		 n;
		bool		 keep;
	} cases[] = {
		{ "first at the rung goes on", 3, true, 9.0, { 0 }, 0, true },
		{ "second, worse: top 1 of 2", 3, true, 2.0, { 1.0 }, 1, false },
		{ "second, better", 3, true, 0.5, { 1.0 }, 1, true },
		{ "tie with the best counts for it", 3, true, 1.0, { 1.0 }, 1, true },
		{ "third, middle: top 1 of 3", 3, true, 1.5, { 1.0, 2.0 }, 2, false },
		{ "fourth: top 2 of 4", 3, true, 1.5, { 1.0, 2.0, 3.0 }, 3, true },
		{ "fourth, third best", 3, true, 2.5, { 1.0, 2.0, 3.0 }, 3, false },
		{ "fourth, tied second", 3, true, 2.0, { 1.0, 2.0, 3.0 }, 3, true },
		{ "maximize: larger is better", 3, false, 2.5, { 1.0, 2.0, 3.0 }, 3, true },
		{ "maximize: smallest stops", 3, false, 0.5, { 1.0, 2.0, 3.0 }, 3, false },
		{ "eta 2: top 3 of 5", 2, true, 3.0, { 1.0, 2.0, 4.0, 5.0 }, 4, true },
		{ "promotion: stopped at 2 of 2 ...", 3, true, 2.0, { 1.0 }, 1, false },
		{ "... top 2 of 4 once worse ones came", 3, true, 2.0, { 1.0, 3.0, 4.0 }, 3, true },
	};
	struct early_policy p;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&p, 0, sizeof p);
		p.kind = EARLY_HYPERBAND;
		p.eta = cases[i].eta;
		p.minimize = cases[i].minimize;
		ck_assert_msg(early_rung_keep(&p, cases[i].value, cases[i].others, cases[i].n) ==
		    cases[i].keep, "%s", cases[i].what);
	}
}
END_TEST

START_TEST(test_median)
{
	static const struct {
		const char	*what;
		bool		 minimize;
		double		 best;
		double		 others[8];
		size_t		 n;
		bool		 stop;
	} cases[] = {
		{ "too few others", true, 9.0, { 1.0, 2.0 }, 2, false },
		{ "worse than the median", true, 2.5, { 1.0, 2.0, 3.0 }, 3, true },
		{ "better than the median", true, 1.5, { 1.0, 2.0, 3.0 }, 3, false },
		{ "equal to the median goes on", true, 2.0, { 3.0, 1.0, 2.0 }, 3, false },
		{ "even count: mean of the middle two", true, 2.6, { 1, 2, 3, 4 }, 4, true },
		{ "even count, below", true, 2.4, { 4, 3, 2, 1 }, 4, false },
		{ "maximize", false, 1.5, { 1.0, 2.0, 3.0 }, 3, true },
		{ "maximize, better", false, 2.5, { 1.0, 2.0, 3.0 }, 3, false },
	};
	struct early_policy p;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&p, 0, sizeof p);
		p.kind = EARLY_MEDIAN;
		p.minimize = cases[i].minimize;
		ck_assert_msg(early_median_stop(&p, cases[i].best, cases[i].others, cases[i].n) ==
		    cases[i].stop, "%s", cases[i].what);
	}
}
END_TEST

/* --- on a store ------------------------------------------------------------------- */

static void
setup(void)
{
	store_fixture_open("check_early");
}

static void
teardown(void)
{
	store_fixture_close();
}

static char *
query_text(const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *stmt;
	char *v = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, a);
	if (sqlite3_bind_parameter_count(stmt) > 1)
		sqlite3_bind_int64(stmt, 2, b);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
		v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return v != NULL ? v : xstrdup("-");
}

enum action { LEASE, REPORT, LOOK, PREEMPT, STOPPED, SUCCEED, PROMOTE };

/* Rungs at steps 2, 4, 8 (eta 2, max_iter 16), resume_pruned: five trials. */
static const char *const spec_hb =
    "{\"name\": \"h\", \"command\": \"true\", \"method\": \"grid\","
    " \"parameters\": {\"a\": {\"values\": [1, 2, 3, 4, 5]}},"
    " \"metric\": {\"name\": \"loss\", \"goal\": \"minimize\"},"
    " \"early_terminate\": {\"type\": \"hyperband\", \"min_iter\": 2, \"eta\": 2,"
    " \"max_iter\": 16, \"resume_pruned\": true}}";

START_TEST(test_hyperband_on_store)
{
	static const struct {
		const char	*what;
		int		 trial;		/* 1..5 */
		enum action	 action;
		int64_t		 from, to;	/* REPORT: steps */
		double		 value;		/* REPORT: the loss at each of them */
		bool		 pruned;	/* REPORT: the check pruned it now */
		const char	*state;		/* then: the trial's state */
		int64_t		 rung;		/* and its row at this rung ... */
		const char	*decision;	/* ... says this ("-": none) */
	} steps[] = {
		{ "T1 leased", 1, LEASE, 0, 0, 0, false, "running", 0, "-" },
		{ "T2 leased", 2, LEASE, 0, 0, 0, false, "running", 0, "-" },
		{ "T3 leased", 3, LEASE, 0, 0, 0, false, "running", 0, "-" },
		{ "T1 before the first rung: nothing", 1, REPORT, 1, 1, 1.0, false, "running",
		  0, "-" },
		{ "T1 first at rung 0 goes on", 1, REPORT, 2, 2, 1.0, false, "running", 0,
		  "continue" },
		{ "T2 worse: top 1 of 2, stopped", 2, REPORT, 1, 3, 2.0, true, "pruned", 0,
		  "stop" },
		{ "T2's worker stops it: pruned", 2, STOPPED, 0, 0, 0, false, "pruned", 0,
		  "stop" },
		{ "T3 reaches step 1 (loss 5) ...", 3, REPORT, 1, 1, 5.0, false, "running", 0,
		  "-" },
		{ "... and is preempted before rung 0: not judged", 3, PREEMPT, 0, 0, 0,
		  false, "pending", 0, "-" },
		{ "T3 resumes (attempt 2)", 3, LEASE, 0, 0, 0, false, "running", 0, "-" },
		{ "T3 re-reports step 1, reaches rung 0: judged on attempt 2's curve", 3,
		  REPORT, 1, 2, 0.5, false, "running", 0, "continue" },
		{ "T4 worse than 3 others: top 2 of 4, stopped", 4, LEASE, 0, 0, 0, false,
		  "running", 0, "-" },
		{ "T4 at rung 0", 4, REPORT, 1, 2, 3.0, true, "pruned", 0, "stop" },
		{ "T4 stopped", 4, STOPPED, 0, 0, 0, false, "pruned", 0, "stop" },
		{ "T2 is 3rd of 4: not yet back", 2, PROMOTE, 0, 0, 0, false, "pruned", 0,
		  "stop" },
		{ "T5 leased", 5, LEASE, 0, 0, 0, false, "running", 0, "-" },
		{ "T5 worst: stopped, and T2 (3rd of 5, top 3) promoted", 5, REPORT, 1, 2, 4.0,
		  true, "pruned", 0, "stop" },
		{ "T2 promoted: pending again", 2, LOOK, 0, 0, 0, false, "pending", 0,
		  "promote" },
		{ "T1 alone at rung 1 (step 4)", 1, REPORT, 3, 4, 0.8, false, "running", 1,
		  "continue" },
		{ "T1 at rung 2 (step 8), then runs to the end", 1, REPORT, 5, 16, 0.7, false,
		  "running", 2, "continue" },
		{ "T1 succeeds", 1, SUCCEED, 0, 0, 0, false, "succeeded", 2, "continue" },
	};
	struct spec *s;
	struct lease_request req = { .lease_timeout_s = 600 };
	struct lease l;
	struct metric_point pts[16];
	struct finish_report fr;
	enum trial_state next;
	struct early_summary sum;
	int64_t sweep, trials[6], attempt[6] = { 0 }, k;
	int promoted;
	uint64_t n;
	char *cause = NULL, *got;
	bool pruned, cancel;
	size_t i, np;
	int t;

	ck_assert(spec_parse("h.json", spec_hb, strlen(spec_hb), &s, &cause) == 0);
	ck_assert_int_eq(store_sweep_create(st, s, "h.json", &sweep, &n, &cause), 0);
	ck_assert_uint_eq(n, 5);
	for (t = 1; t <= 5; t++) {
		got = query_text("SELECT id FROM trials WHERE sweep_id = ? ORDER BY id LIMIT 1"
		    " OFFSET ?", sweep, t - 1);
		trials[t] = strtoll(got, NULL, 10);
		free(got);
	}
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		t = steps[i].trial;
		pruned = false;
		switch (steps[i].action) {
		case LEASE:
			req.now = now_wall();
			ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
			ck_assert_msg(l.trial_id == trials[t], "%s: leased %lld", steps[i].what,
			    (long long)l.trial_id);
			attempt[t] = l.attempt;
			lease_clear(&l);
			break;
		case LOOK:
			break;
		case PROMOTE:
			ck_assert_int_eq(early_stop_promote(st, s, sweep, &promoted, &cause), 0);
			ck_assert_int_eq(promoted, 0);
			break;
		case REPORT:
			for (np = 0, k = steps[i].from; k <= steps[i].to; k++, np++) {
				pts[np].name = "loss";
				pts[np].step = k;
				pts[np].value = steps[i].value;
				pts[np].at = now_wall();
			}
			ck_assert_int_eq(trial_heartbeat(st, trials[t], attempt[t], pts, np, 600,
			    now_wall(), &cancel, &cause), TRIAL_OK);
			ck_assert_msg(early_stop_check(st, s, trials[t], now_wall(), &pruned,
			    &cause) == 0, "%s: %s", steps[i].what, cause);
			break;
		case PREEMPT:
		case STOPPED:
		case SUCCEED:
			memset(&fr, 0, sizeof fr);
			fr.outcome = steps[i].action == PREEMPT ? OUTCOME_PREEMPTED :
			    steps[i].action == STOPPED ? OUTCOME_CANCELLED : OUTCOME_SUCCEEDED;
			fr.exit_code = steps[i].action == SUCCEED ? 0 : 143;
			fr.now = now_wall();
			ck_assert_int_eq(trial_finish(st, trials[t], attempt[t], &fr, &next,
			    &cause), TRIAL_OK);
			break;
		}
		ck_assert_msg(pruned == steps[i].pruned, "%s: pruned %d", steps[i].what, pruned);
		got = query_text("SELECT state FROM trials WHERE id = ?", trials[t], 0);
		ck_assert_msg(strcmp(got, steps[i].state) == 0, "%s: state %s", steps[i].what,
		    got);
		free(got);
		got = query_text("SELECT decision FROM rungs WHERE trial_id = ? AND rung = ?",
		    trials[t], steps[i].rung);
		ck_assert_msg(strcmp(got, steps[i].decision) == 0, "%s: rung %lld says %s",
		    steps[i].what, (long long)steps[i].rung, got);
		free(got);
	}
	/* T3's row at rung 0 holds attempt 2's value at step 2, not attempt 1's */
	got = query_text("SELECT value FROM rungs WHERE trial_id = ? AND rung = 0", trials[3], 0);
	ck_assert_str_eq(got, "0.5");
	free(got);
	/* the stopped attempts closed as pruned, whatever the worker reported */
	got = query_text("SELECT outcome FROM attempts WHERE trial_id = ? AND attempt = 1",
	    trials[4], 0);
	ck_assert_str_eq(got, "pruned");
	free(got);
	/* T4 and T5 stopped at step 2; horizon max_iter 16 */
	ck_assert_int_eq(early_stop_summary(st, sweep, 16, &sum, &cause), 0);
	ck_assert_int_eq(sum.pruned, 2);
	ck_assert_int_eq(sum.horizon, 16);
	ck_assert_uint_eq(sum.nsteps, 1);
	ck_assert_int_eq(sum.step[0], 2);
	ck_assert_int_eq(sum.count[0], 2);
	spec_free(s);
}
END_TEST

/* The median rule on a store: a trial worse than the median of three others at a rung. */
START_TEST(test_median_on_store)
{
	static const double loss[] = { 1.0, 2.0, 3.0, 2.5, 1.5 };
	static const bool stops[] = { false, false, false, true, false };
	const char *text = "{\"name\": \"m\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"a\": {\"values\": [1, 2, 3, 4, 5]}},"
	    " \"metric\": {\"name\": \"loss\"},"
	    " \"early_terminate\": {\"type\": \"median\", \"min_steps\": 2}}";
	struct lease_request req = { .lease_timeout_s = 600 };
	struct metric_point pts[2];
	struct lease l;
	struct spec *s;
	int64_t sweep;
	uint64_t n;
	char *cause = NULL;
	bool pruned, cancel;
	size_t i;

	ck_assert(spec_parse("m.json", text, strlen(text), &s, &cause) == 0);
	ck_assert_int_eq(store_sweep_create(st, s, "m.json", &sweep, &n, &cause), 0);
	for (i = 0; i < 5; i++) {
		req.now = now_wall();
		ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
		pts[0] = (struct metric_point){ "loss", 1, loss[i] + 1, now_wall() };
		pts[1] = (struct metric_point){ "loss", 2, loss[i], now_wall() };
		ck_assert_int_eq(trial_heartbeat(st, l.trial_id, l.attempt, pts, 2, 600,
		    now_wall(), &cancel, &cause), TRIAL_OK);
		ck_assert_int_eq(early_stop_check(st, s, l.trial_id, now_wall(), &pruned,
		    &cause), 0);
		ck_assert_msg(pruned == stops[i], "trial %zu: pruned %d", i + 1, pruned);
		lease_clear(&l);
	}
	spec_free(s);
}
END_TEST

int
main(void)
{
	const struct check_case pure[] = {
		{ "rung_steps", test_rung_steps },
		{ "policy", test_policy_from_spec },
		{ "curve", test_curve },
		{ "rung_keep", test_rung_keep },
		{ "median", test_median },
	};
	const struct check_case on_store[] = {
		{ "hyperband_store", test_hyperband_on_store },
		{ "median_store", test_median_on_store },
	};
	Suite *s = suite_create("early_stop");

	check_add_cases(s, pure, CHECK_NELEM(pure), NULL, NULL, 0);
	check_add_cases(s, on_store, CHECK_NELEM(on_store), setup, teardown, 0);
	return check_run(s);
}
