/* Unit tests for leasing under the switching rules: trial_lease() given the ranges of
 * preemption counts a worker may take (what rules_allowed_ranges() computes per sweep) picks
 * the right trial through the trials_pending and trials_requeued indexes: interrupted trials
 * first, then by id, failure backoff respected on both paths, the sweep's deadline handed to
 * the filter, and nothing when no range fits; the same store driven by the rules themselves
 * escalates a trial preempted often enough to on-demand only. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/rules.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

static void
setup(void)
{
	store_fixture_open("check_lease_rules");
}

static void
teardown(void)
{
	store_fixture_close();
}

/* The filter handed to trial_lease: fixed ranges, and the deadline it was told. */
struct filter {
	struct preempt_range	 r[4];
	size_t			 n;
	double			 deadline_seen;
	int			 calls;
};

static const struct preempt_range *
fixed_ranges(void *arg, int64_t sweep_id, double deadline, size_t *n)
{
	struct filter *f = arg;

	(void)sweep_id;
	f->deadline_seen = deadline;
	f->calls++;
	*n = f->n;
	return f->r;
}

/* Leases at now with the filter (NULL: none); the trial id, 0 for no work. */
static int64_t
lease_with(struct filter *f, double now, int64_t *attempt)
{
	struct lease_request lr;
	struct lease l;
	char *cause = NULL;
	int64_t id = 0;
	int rc;

	memset(&lr, 0, sizeof lr);
	lr.gpus = 1;
	lr.lease_timeout_s = 1e6;
	lr.now = now;
	if (f != NULL) {
		lr.allowed = fixed_ranges;
		lr.allowed_arg = f;
	}
	rc = trial_lease(st, &lr, &l, &cause);
	ck_assert_msg(rc >= 0, "lease: %s", cause);
	if (rc == 1) {
		id = l.trial_id;
		if (attempt != NULL)
			*attempt = l.attempt;
	}
	lease_clear(&l);
	return id;
}

static void
finish(int64_t trial, int64_t attempt, enum attempt_outcome o, double now)
{
	struct finish_report r;
	enum trial_state next;
	char *cause = NULL;

	memset(&r, 0, sizeof r);
	r.outcome = o;
	r.exit_code = o == OUTCOME_FAILED ? 1 : -1;
	r.now = now;
	ck_assert_msg(trial_finish(st, trial, attempt, &r, &next, &cause) == TRIAL_OK, "%s",
	    cause);
}

static int64_t
make_sweep(void)
{
	static const char text[] = "{\"name\": \"l\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1, 2, 3, 4, 5, 6]}},"
	    " \"metric\": {\"name\": \"loss\"}, \"deadline\": \"2099-01-01T00:00:00Z\","
	    " \"retry\": {\"max_failures\": 5, \"max_preemptions\": 10}}";
	struct spec *s;
	char *cause = NULL;
	int64_t id;
	uint64_t n;

	ck_assert_msg(spec_parse("l.json", text, strlen(text), &s, &cause) == 0, "%s", cause);
	ck_assert_msg(store_sweep_create(st, s, "l.json", &id, &n, &cause) == 0, "%s", cause);
	spec_free(s);
	return id;
}

#define NOW 1000.0

/* Trials 1..6: t1 preempted twice, t2 once, t3..t6 never started. */
static void
prepare(void)
{
	struct filter f = { { { 0, 1 } }, 1, 0, 0 };
	int64_t a, t;

	make_sweep();
	t = lease_with(NULL, NOW, &a);
	ck_assert_int_eq(t, 1);
	finish(t, a, OUTCOME_PREEMPTED, NOW);
	t = lease_with(&f, NOW, &a);		/* [0,1): the oldest fresh one */
	ck_assert_int_eq(t, 2);
	finish(t, a, OUTCOME_PREEMPTED, NOW);
	f.r[0] = (struct preempt_range){ 1, 2 };
	t = lease_with(&f, NOW, &a);		/* [1,2): t1 and t2, t1 first */
	ck_assert_int_eq(t, 1);
	finish(t, a, OUTCOME_PREEMPTED, NOW);
}

static const struct {
	const char		*what;
	int			 n;	/* -1: no filter */
	struct preempt_range	 r[3];
	int64_t			 want;
} cases[] = {
	{ "no filter: interrupted first", -1, { { 0, 0 } }, 1 },
	{ "everything: the unfiltered path", 1, { { 0, -1 } }, 1 },
	{ "never preempted only", 1, { { 0, 1 } }, 3 },
	{ "exactly once", 1, { { 1, 2 } }, 2 },
	{ "twice or more", 1, { { 2, -1 } }, 1 },
	{ "three times or more: none", 1, { { 3, -1 } }, 0 },
	{ "at most once: the interrupted one first", 1, { { 0, 2 } }, 2 },
	{ "two ranges: interrupted beats fresh", 2, { { 0, 1 }, { 2, -1 } }, 1 },
	{ "two ranges, lowest id among interrupted", 2, { { 1, 2 }, { 2, 5 } }, 1 },
	{ "no ranges: the sweep is skipped", 0, { { 0, 0 } }, 0 },
};

START_TEST(test_filtered_pick)
{
	struct filter f;
	char *cause = NULL;
	int64_t got;

	prepare();
	memset(&f, 0, sizeof f);
	f.n = cases[_i].n < 0 ? 0 : (size_t)cases[_i].n;
	memcpy(f.r, cases[_i].r, sizeof cases[_i].r);
	/* Inside a transaction undone afterwards, so each case sees the same queue. */
	ck_assert_int_eq(store_begin(st, &cause), 0);
	got = lease_with(cases[_i].n < 0 ? NULL : &f, NOW, NULL);
	store_rollback(st);
	ck_assert_msg(got == cases[_i].want, "%s: trial %lld, want %lld", cases[_i].what,
	    (long long)got, (long long)cases[_i].want);
	if (cases[_i].n >= 0) {
		ck_assert_int_eq(f.calls, 1);
		ck_assert(fabs(f.deadline_seen - 4070908800.0) < 1e-6);
	}
}
END_TEST

/* A failed trial waits out its backoff on the filtered paths too. */
START_TEST(test_backoff)
{
	struct filter f = { { { 0, 1 } }, 1, 0, 0 };
	int64_t a, t;

	prepare();
	t = lease_with(&f, NOW, &a);
	ck_assert_int_eq(t, 3);
	finish(t, a, OUTCOME_FAILED, NOW);	/* attempts 1, 0 preemptions, backoff */
	t = lease_with(&f, NOW + 1, &a);
	ck_assert_int_eq(t, 4);			/* t3 waits: the next fresh one */
	t = lease_with(&f, NOW + 600, &a);
	ck_assert_int_eq(t, 3);			/* backoff over: interrupted first */
}
END_TEST

/* The rules themselves: "flaky" sends t1 (preempted twice) to on-demand workers only. */
START_TEST(test_rules_escalate)
{
	static const char text[] = "[{\"name\": \"flaky\", \"when\": {\"trial_preemptions_at_least\":"
	    " 2}, \"use\": \"on-demand\"}, {\"name\": \"default\", \"use\": \"spot\"}]";
	json_error_t jerr;
	json_t *arr = json_loads(text, 0, &jerr);
	struct rule *rules;
	struct rule_ctx ctx;
	struct filter spot, od;
	char *kp = NULL, *msg = NULL, *cause = NULL;
	size_t n;

	ck_assert_int_eq(rules_parse(arr, &rules, &n, &kp, &msg), 0);
	json_decref(arr);
	prepare();
	memset(&ctx, 0, sizeof ctx);
	ctx.now = NOW;
	memset(&spot, 0, sizeof spot);
	memset(&od, 0, sizeof od);
	spot.n = rules_allowed_ranges(rules, n, &ctx, POOL_SPOT, true, spot.r);
	od.n = rules_allowed_ranges(rules, n, &ctx, POOL_ON_DEMAND, true, od.r);
	ck_assert_int_eq(store_begin(st, &cause), 0);
	ck_assert_int_eq(lease_with(&spot, NOW, NULL), 2);	/* t2, preempted once */
	ck_assert_int_eq(lease_with(&spot, NOW, NULL), 3);	/* then fresh ones; never t1 */
	ck_assert_int_eq(lease_with(&od, NOW, NULL), 1);
	ck_assert_int_eq(lease_with(&od, NOW, NULL), 0);
	store_rollback(st);
	rules_free(rules, n);
}
END_TEST

static Suite *
lease_rules_suite(void)
{
	Suite *s = suite_create("lease_rules");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_filtered_pick, 0, (int)(sizeof cases / sizeof cases[0]));
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_rules_escalate);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(lease_rules_suite());
}
