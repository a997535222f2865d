/* Unit tests for a sweep's cost (store-cost.c) on a temporary store filled through the trial
 * state machine with chosen times: spend and GPU-hours by class, open attempts left out, the
 * on-demand comparison, the compute lost to interruptions (after the last checkpoint, or all
 * of an attempt that checkpointed nothing), agreement with trials.cost_usd, and where the
 * on-demand price comes from. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/cost.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

static void
setup(void)
{
	store_fixture_open("check_cost");
}

static void
teardown(void)
{
	store_fixture_close();
}

static int64_t
make_sweep(void)
{
	static const char text[] = "{\"name\": \"c\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1, 2, 3]}}, \"metric\": {\"name\": \"loss\"}}";
	struct spec *s;
	char *cause = NULL;
	int64_t id;
	uint64_t n;

	ck_assert_msg(spec_parse("c.json", text, strlen(text), &s, &cause) == 0, "%s", cause);
	ck_assert_msg(store_sweep_create(st, s, "c.json", &id, &n, &cause) == 0, "%s", cause);
	spec_free(s);
	return id;
}

/* Leases the next trial at now on a pool; returns its id (the attempt is l.attempt). */
static int64_t
lease(const char *pool, const char *cls, double price, int gpus, double now, int64_t *attempt)
{
	struct lease_request lr;
	struct lease l;
	char *cause = NULL;
	int64_t id;

	memset(&lr, 0, sizeof lr);
	lr.pool = pool;
	lr.pool_class = cls;
	lr.price_per_hour = price;
	lr.gpus = gpus;
	lr.lease_timeout_s = 1e6;
	lr.now = now;
	ck_assert_msg(trial_lease(st, &lr, &l, &cause) == 1, "lease: %s", cause);
	id = l.trial_id;
	*attempt = l.attempt;
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
	r.exit_code = o == OUTCOME_SUCCEEDED ? 0 : -1;
	r.now = now;
	ck_assert_msg(trial_finish(st, trial, attempt, &r, &next, &cause) == TRIAL_OK, "%s",
	    cause);
}

static bool
near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

/* T1: 1 h on spot (2 GPUs at $2) preempted half an hour after its checkpoint, then 30 min
 * on demand (1 GPU at $5); T2: 15 min on spot without a checkpoint, preempted; T3 running. */
static int64_t
fill(void)
{
	int64_t sweep = make_sweep(), t, t1, t2, a;
	char *cause = NULL;

	t1 = lease("spot-a", "spot", 2.0, 2, 1000, &a);
	ck_assert_int_eq(trial_checkpoint(st, t1, a, "/ck/1", 1, 1000 + 1800, &cause), TRIAL_OK);
	finish(t1, a, OUTCOME_PREEMPTED, 1000 + 3600);
	t = lease("od-a", "on-demand", 5.0, 1, 5000, &a);
	ck_assert_int_eq(t, t1);
	ck_assert_int_eq(a, 2);
	finish(t1, a, OUTCOME_SUCCEEDED, 5000 + 1800);
	t2 = lease("spot-a", "spot", 2.0, 2, 6000, &a);
	ck_assert_int_ne(t2, t1);
	finish(t2, a, OUTCOME_PREEMPTED, 6000 + 900);
	t = lease("spot-a", "spot", 2.0, 2, 7000, &a);	/* T2 again, still running */
	ck_assert_int_eq(t, t2);
	(void)lease(NULL, NULL, 0, 1, 7100, &a);	/* T3, no pool, running */
	return sweep;
}

START_TEST(test_sweep_cost)
{
	struct sweep_cost c;
	char *cause = NULL;
	int64_t sweep = fill();
	sqlite3_stmt *stmt;
	double trials_cost;

	ck_assert_msg(store_sweep_cost(st, sweep, 5.0, &c, &cause) == 0, "%s", cause);
	ck_assert_int_eq(c.attempts, 3);
	ck_assert_int_eq(c.running_attempts, 2);
	ck_assert_int_eq(c.by_class[COST_SPOT].attempts, 2);
	ck_assert(near(c.by_class[COST_SPOT].runtime_s, 3600 + 900));
	ck_assert(near(c.by_class[COST_SPOT].gpu_hours, 2.5));
	ck_assert(near(c.by_class[COST_SPOT].cost, 5.0));
	ck_assert_int_eq(c.by_class[COST_ON_DEMAND].attempts, 1);
	ck_assert(near(c.by_class[COST_ON_DEMAND].gpu_hours, 0.5));
	ck_assert(near(c.by_class[COST_ON_DEMAND].cost, 2.5));
	ck_assert_int_eq(c.by_class[COST_UNCLASSED].attempts, 0);
	ck_assert(near(c.gpu_hours, 3.0));
	ck_assert(near(c.cost, 7.5));
	ck_assert(near(c.total_runtime_s, 3600 + 900 + 1800));
	ck_assert_int_eq(c.interrupted_attempts, 2);
	ck_assert(near(c.interrupted_gpu_hours, 2.5));
	/* T1's first attempt lost the 30 min after its checkpoint, T2's all 15 min. */
	ck_assert(near(c.redone_runtime_s, 1800 + 900));
	ck_assert(near(c.redone_gpu_hours, 1.0 + 0.5));
	ck_assert(near(c.redone_cost, 2.0 + 1.0));
	ck_assert(c.has_on_demand_price);
	ck_assert(near(c.on_demand_cost, 15.0));
	ck_assert(near(c.savings, 7.5));
	ck_assert(near(c.savings_fraction, 0.5));
	/* The trials' own accounting agrees. */
	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), "SELECT sum(cost_usd) FROM trials"
	    " WHERE sweep_id = ?", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, sweep);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	trials_cost = sqlite3_column_double(stmt, 0);
	sqlite3_finalize(stmt);
	ck_assert(near(trials_cost, c.cost));
	/* Without an on-demand price there is no comparison. */
	ck_assert_int_eq(store_sweep_cost(st, sweep, -1, &c, &cause), 0);
	ck_assert(!c.has_on_demand_price);
	ck_assert(near(c.savings, 0));
}
END_TEST

START_TEST(test_errors_and_price)
{
	struct sweep_cost c;
	char *cause = NULL;
	const char *source;
	double price = 0;
	bool found;
	int64_t sweep;

	ck_assert_int_eq(store_sweep_cost(st, 42, 1, &c, &cause), -1);
	ck_assert_str_eq(cause, "no sweep 42");
	free(cause);
	cause = NULL;
	sweep = make_sweep();
	/* Nothing ran: zeros, and no price to compare with. */
	ck_assert_int_eq(store_sweep_cost(st, sweep, -1, &c, &cause), 0);
	ck_assert_int_eq(c.attempts, 0);
	ck_assert(near(c.cost, 0));
	ck_assert_int_eq(store_on_demand_price(st, sweep, &price, &found, &source, &cause), 0);
	ck_assert(!found);
	teardown();
	setup();
	sweep = fill();
	/* From the attempts: the highest on-demand price paid. */
	ck_assert_int_eq(store_on_demand_price(st, sweep, &price, &found, &source, &cause), 0);
	ck_assert(found);
	ck_assert(near(price, 5.0));
	ck_assert_str_eq(source, "attempts");
	/* From the pools the scheduler recorded: the cheapest on-demand one's current price. */
	ck_assert_int_eq(sqlite3_exec(store_db(st), "INSERT INTO pools (name, class,"
	    " configured_price, price_per_hour) VALUES ('a', 'on-demand', 4, 4.5),"
	    " ('b', 'on-demand', 3, 3.25), ('s', 'spot', 1, 1)", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(store_on_demand_price(st, sweep, &price, &found, &source, &cause), 0);
	ck_assert(found);
	ck_assert(near(price, 3.25));
	ck_assert_str_eq(source, "pools");
	ck_assert_str_eq(cost_class_name(COST_ON_DEMAND), "on-demand");
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "core", test_sweep_cost },
		{ "core", test_errors_and_price },
	};

	return check_main("cost", tests, CHECK_NELEM(tests), setup, teardown, 0);
}
