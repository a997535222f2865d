/* Unit tests for the trial state machine (trial.c) on a temporary SQLite file: the whole
 * transition table, leasing order and its cost, success, stale reports changing nothing,
 * failure retries with backoff, fatal patterns, preemptions against their own budget, lease
 * expiry, cancel, retry, idempotent metric reports, deadlines, and the sweep finishing. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

/* A grid of 6 trials: lr x bs, with a failure budget of 2 and a preemption budget of 3. */
static const char *const spec_small =
    "{\"name\": \"t\", \"command\": \"true\", \"method\": \"grid\","
    " \"parameters\": {\"lr\": {\"values\": [0.1, 0.01, 0.001]}, \"bs\": {\"values\": [32, 64]}},"
    " \"metric\": {\"name\": \"loss\", \"goal\": \"minimize\"},"
    " \"metrics\": {\"acc\": null},"
    " \"retry\": {\"max_failures\": 2, \"max_preemptions\": 3, \"fatal_patterns\": [\"OOM\"]},"
    " \"checkpoint\": {\"keep\": 2}}";

static void
setup(void)
{
	store_fixture_open("check_trial");
}

static void
teardown(void)
{
	store_fixture_close();
}

/* Submits a spec text; returns the sweep id. */
static int64_t
make_sweep(const char *text, uint64_t expect_trials)
{
	struct spec *s;
	char *cause = NULL;
	int64_t id;
	uint64_t n;

	ck_assert_msg(spec_parse("test.json", text, strlen(text), &s, &cause) == 0,
	    "spec_parse: %s", cause);
	ck_assert_msg(store_sweep_create(st, s, "test.json", &id, &n, &cause) == 0,
	    "store_sweep_create: %s", cause);
	spec_free(s);
	ck_assert_uint_eq(n, expect_trials);
	return id;
}

/* One integer from a query with one int64 parameter (or none when arg is 0). */
static int64_t
query_int(const char *sql, int64_t arg)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_bind_parameter_count(stmt) > 0)
		sqlite3_bind_int64(stmt, 1, arg);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static double
query_double(const char *sql, int64_t arg)
{
	sqlite3_stmt *stmt;
	double v = NAN;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, arg);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		v = sqlite3_column_double(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* A text column (copied; "" for NULL). */
static char *
query_text(const char *sql, int64_t arg)
{
	sqlite3_stmt *stmt;
	char *v = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_int64(stmt, 1, arg);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
		v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return v != NULL ? v : xstrdup("");
}

static enum trial_state
state_of(int64_t trial)
{
	char *s = query_text("SELECT state FROM trials WHERE id = ?", trial);
	enum trial_state v = TRIAL_STATE_MAX;

	ck_assert_msg(trial_state_parse(s, &v), "trial %lld state '%s'", (long long)trial, s);
	free(s);
	return v;
}

/* Everything the store holds about trials, as text, to show that nothing changed. */
static char *
snapshot(void)
{
	static const char *const tables[] = {
		"SELECT * FROM sweeps ORDER BY id", "SELECT * FROM trials ORDER BY id",
		"SELECT * FROM attempts ORDER BY id", "SELECT * FROM metrics",
		"SELECT * FROM checkpoints ORDER BY id", "SELECT id, kind FROM events ORDER BY id",
	};
	struct buf b = { 0 };
	sqlite3_stmt *stmt;
	size_t i;
	int c;

	for (i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), tables[i], -1, &stmt, NULL),
		    SQLITE_OK);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			for (c = 0; c < sqlite3_column_count(stmt); c++) {
				const unsigned char *t = sqlite3_column_text(stmt, c);

				buf_printf(&b, "%s|", t != NULL ? (const char *)t : "NULL");
			}
			buf_addc(&b, '\n');
		}
		sqlite3_finalize(stmt);
	}
	return buf_steal(&b);
}

static struct lease_request
req_at(double now)
{
	struct lease_request r = {
		.worker_id = 0, .pool = "spot-a", .pool_class = "spot", .price_per_hour = 2.0,
		.gpus = 2, .lease_timeout_s = 60, .now = now,
	};

	return r;
}

/* Leases and expects a trial (returned), or no work when expect_trial is 0. */
static int64_t
lease_at(double now, int64_t expect_trial, int64_t expect_attempt)
{
	struct lease_request r = req_at(now);
	struct lease l;
	char *cause = NULL;
	int rc;

	rc = trial_lease(st, &r, &l, &cause);
	if (expect_trial == 0) {
		ck_assert_msg(rc == 0, "expected no work, got %d (%s)", rc, cause ? cause : "");
		return 0;
	}
	ck_assert_msg(rc == 1, "trial_lease: %d %s", rc, cause ? cause : "");
	ck_assert_int_eq(l.trial_id, expect_trial);
	ck_assert_int_eq(l.attempt, expect_attempt);
	ck_assert(l.lease_expires == now + 60);
	lease_clear(&l);
	return expect_trial;
}

static int
finish_at(int64_t trial, int64_t attempt, enum attempt_outcome o, const char *reason,
    const char *fatal, double now, enum trial_state *next)
{
	struct finish_report r = {
		.outcome = o, .exit_code = o == OUTCOME_FAILED ? 1 : 0, .reason = reason,
		.fatal_match = fatal, .now = now,
	};
	char *cause = NULL;
	int rc;

	rc = trial_finish(st, trial, attempt, &r, next, &cause);
	free(cause);
	return rc;
}

/* --- the transition table ----------------------------------------------------------- */

START_TEST(test_transition_table)
{
	static const char *const allowed[] = {
		"pending>running", "pending>abandoned", "pending>cancelled",
		"running>pending", "running>succeeded", "running>pruned", "running>abandoned",
		"running>cancelled", "abandoned>pending",
		"pruned>pending",	/* an early-stopping promotion (trial_promote) */
	};
	char pair[64];
	int from, to, checked = 0;
	size_t i;

	for (from = 0; from < TRIAL_STATE_MAX; from++) {
		for (to = 0; to < TRIAL_STATE_MAX; to++) {
			bool expect = false;

			snprintf(pair, sizeof pair, "%s>%s", trial_state_name(from),
			    trial_state_name(to));
			for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
				expect = expect || strcmp(allowed[i], pair) == 0;
			ck_assert_msg(trial_transition_legal(from, to) == expect, "%s: expected %s",
			    pair, expect ? "legal" : "illegal");
			checked++;
		}
	}
	ck_assert_int_eq(checked, TRIAL_STATE_MAX * TRIAL_STATE_MAX);
	ck_assert(!trial_transition_legal(TRIAL_STATE_MAX, TRIAL_PENDING));
	ck_assert(!trial_transition_legal(TRIAL_PENDING, TRIAL_STATE_MAX));
}
END_TEST

START_TEST(test_names_round_trip)
{
	enum trial_state s;
	enum attempt_outcome o;
	int i;

	for (i = 0; i < TRIAL_STATE_MAX; i++) {
		ck_assert(trial_state_parse(trial_state_name(i), &s));
		ck_assert_int_eq(s, i);
		ck_assert(trial_state_final(i) == (i >= TRIAL_SUCCEEDED));
	}
	for (i = 0; i < OUTCOME_MAX; i++) {
		ck_assert(attempt_outcome_parse(attempt_outcome_name(i), &o));
		ck_assert_int_eq(o, i);
	}
	ck_assert(!trial_state_parse("done", &s));
	ck_assert(!attempt_outcome_parse("", &o));
}
END_TEST

/* trial_transition checks the stored state against the table, and refuses without change. */
START_TEST(test_transition_checks_stored_state)
{
	static const struct {
		enum trial_state	 to;
		int			 rc;
		enum trial_state	 after;
	} steps[] = {
		{ TRIAL_SUCCEEDED, TRIAL_EILLEGAL, TRIAL_PENDING },	/* not running */
		{ TRIAL_PENDING, TRIAL_EILLEGAL, TRIAL_PENDING },
		{ TRIAL_PRUNED, TRIAL_EILLEGAL, TRIAL_PENDING },
		{ TRIAL_RUNNING, TRIAL_EILLEGAL, TRIAL_PENDING },	/* only by a lease */
		{ TRIAL_STATE_MAX, TRIAL_OK, TRIAL_RUNNING },		/* (lease it) */
		{ TRIAL_SUCCEEDED, TRIAL_EILLEGAL, TRIAL_RUNNING },	/* only by a finish */
		{ TRIAL_PENDING, TRIAL_EILLEGAL, TRIAL_RUNNING },
		{ TRIAL_PRUNED, TRIAL_OK, TRIAL_PRUNED },
		{ TRIAL_PENDING, TRIAL_EILLEGAL, TRIAL_PRUNED },	/* final */
		{ TRIAL_CANCELLED, TRIAL_EILLEGAL, TRIAL_PRUNED },
	};
	char *cause, *before;
	size_t i;
	int rc;

	make_sweep(spec_small, 6);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		cause = NULL;
		if (steps[i].to == TRIAL_STATE_MAX) {
			lease_at(1000, 1, 1);
			continue;
		}
		before = snapshot();
		rc = trial_transition(st, 1, steps[i].to, "test", &cause);
		ck_assert_msg(rc == steps[i].rc, "step %zu: rc %d (%s)", i, rc, cause);
		ck_assert_int_eq(state_of(1), steps[i].after);
		if (rc != TRIAL_OK) {
			char *after = snapshot();

			ck_assert_ptr_nonnull(cause);
			ck_assert_str_eq(before, after);
			free(after);
		}
		free(before);
		free(cause);
	}
	cause = NULL;
	ck_assert_int_eq(trial_transition(st, 999, TRIAL_PRUNED, NULL, &cause), TRIAL_ENOENT);
	ck_assert_str_eq(cause, "no trial 999");
	free(cause);
}
END_TEST

/* --- leasing -------------------------------------------------------------------------- */

START_TEST(test_lease_oldest_first)
{
	struct lease_request r = req_at(1000);
	struct lease l;
	char *cause = NULL, *p;
	int64_t s1, s2;

	s1 = make_sweep(spec_small, 6);
	s2 = make_sweep(spec_small, 6);
	ck_assert_int_eq(trial_lease(st, &r, &l, &cause), 1);
	ck_assert_int_eq(l.sweep_id, s1);
	ck_assert_int_eq(l.trial_id, 1);
	ck_assert_int_eq(l.attempt, 1);
	ck_assert_str_eq(l.params, "{\"lr\":0.1,\"bs\":32}");
	ck_assert_str_eq(l.resume_from, "");
	ck_assert_str_eq(l.checkpoints, "[]");
	lease_clear(&l);
	ck_assert_int_eq(state_of(1), TRIAL_RUNNING);
	ck_assert_int_eq(query_int("SELECT attempts FROM trials WHERE id = ?", 1), 1);
	p = query_text("SELECT pool || ',' || pool_class || ',' || gpus || ',' || lease_expires"
	    " FROM attempts WHERE trial_id = ?", 1);
	ck_assert_str_eq(p, "spot-a,spot,2,1060.0");
	free(p);
	p = query_text("SELECT last_pool FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(p, "spot-a");
	free(p);
	/* The rest of the first sweep before anything of the second. */
	lease_at(1000, 2, 1);
	lease_at(1000, 3, 1);
	lease_at(1000, 4, 1);
	lease_at(1000, 5, 1);
	lease_at(1000, 6, 1);
	ck_assert_int_eq(trial_lease(st, &r, &l, &cause), 1);
	ck_assert_int_eq(l.sweep_id, s2);
	ck_assert_int_eq(l.trial_id, 7);
	lease_clear(&l);
	ck_assert_int_eq(query_int("SELECT n_running FROM sweeps WHERE id = ?", s1), 6);
	ck_assert_int_eq(query_int("SELECT n_pending FROM sweeps WHERE id = ?", s1), 0);
}
END_TEST

/* A preempted or lost trial goes back ahead of never-started ones, and a failed one in its
 * backoff does not block the queue. */
START_TEST(test_interrupted_first)
{
	enum trial_state next;
	char *cause = NULL;
	int n = 0;

	make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	lease_at(1000, 2, 1);
	lease_at(1000, 3, 1);
	ck_assert_int_eq(finish_at(2, 1, OUTCOME_PREEMPTED, "agent received SIGTERM", NULL,
	    1010, &next), TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_PENDING);
	ck_assert_int_eq(finish_at(3, 1, OUTCOME_FAILED, "exit status 1", NULL, 1010, &next),
	    TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_PENDING);
	/* Trial 2 (preempted) before 4 (never started); 3 waits out its backoff. */
	lease_at(1011, 2, 2);
	lease_at(1011, 4, 1);
	/* Trial 1's lease expires: lost, and it too goes ahead of 5 and 6, as does 3 once its
	 * backoff has passed. */
	ck_assert_int_eq(trial_expire_leases(st, 1000 + 61 + 1, &n, &cause), 0);
	ck_assert_int_eq(n, 1);
	lease_at(1062, 1, 2);
	lease_at(1062, 3, 2);
	lease_at(1062, 5, 1);
}
END_TEST

/* The lease probes the partial index: its cost does not grow with the trials before it. */
START_TEST(test_lease_uses_index)
{
	static const char *const spec_big =
	    "{\"name\": \"big\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"distribution\": \"int_uniform\", \"min\": 1,"
	    " \"max\": 3000}}}";
	struct lease_request r = req_at(1000);
	sqlite3_stmt *stmt = NULL, *plan;
	struct lease l;
	struct buf b = { 0 };
	char *cause = NULL;
	int64_t id;

	id = make_sweep(spec_big, 3000);
	/* Everything but the last 10 trials leaves pending. */
	sqlite3_exec(store_db(st), "BEGIN", NULL, NULL, NULL);
	sqlite3_exec(store_db(st), "UPDATE trials SET state = 'cancelled' WHERE id <= 2990",
	    NULL, NULL, NULL);
	sqlite3_exec(store_db(st), "UPDATE sweeps SET n_pending = 10, n_cancelled = 2990",
	    NULL, NULL, NULL);
	sqlite3_exec(store_db(st), "COMMIT", NULL, NULL, NULL);
	ck_assert_int_eq(trial_lease(st, &r, &l, &cause), 1);
	ck_assert_int_eq(l.trial_id, 2991);
	ck_assert_int_eq(l.sweep_id, id);
	lease_clear(&l);
	/* Find the statement that chose the trial among the store's cached ones. */
	while ((stmt = sqlite3_next_stmt(store_db(st), stmt)) != NULL) {
		if (strstr(sqlite3_sql(stmt), "state = 'pending' AND not_before") != NULL)
			break;
	}
	ck_assert_ptr_nonnull(stmt);
	ck_assert_int_eq(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0), 0);
	ck_assert_int_eq(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 0), 0);
	ck_assert_int_lt(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 0), 200);
	buf_printf(&b, "EXPLAIN QUERY PLAN %s", sqlite3_sql(stmt));
	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), b.data, -1, &plan, NULL), SQLITE_OK);
	buf_reset(&b);
	while (sqlite3_step(plan) == SQLITE_ROW)
		buf_printf(&b, "%s\n", sqlite3_column_text(plan, 3));
	sqlite3_finalize(plan);
	ck_assert_msg(strstr(b.data, "USING INDEX trials_pending") != NULL, "plan: %s", b.data);
	ck_assert_msg(strstr(b.data, "TEMP B-TREE") == NULL, "plan: %s", b.data);
	buf_free(&b);
}
END_TEST

/* --- finishing ------------------------------------------------------------------------ */

START_TEST(test_lease_finish_success)
{
	struct metric_point pts[] = {
		{ "loss", 1, 0.5, 1010 }, { "acc", 1, 0.7, 1010 }, { "loss", 2, 0.25, 1020 },
	};
	struct finish_report r = { .outcome = OUTCOME_SUCCEEDED, .exit_code = 0, .pts = pts,
	    .npts = 3, .now = 1100 };
	enum trial_state next = TRIAL_STATE_MAX;
	char *cause = NULL, *t;
	int64_t sweep;

	sweep = make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	ck_assert_int_eq(trial_finish(st, 1, 1, &r, &next, &cause), TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_SUCCEEDED);
	ck_assert_int_eq(state_of(1), TRIAL_SUCCEEDED);
	ck_assert(query_double("SELECT value FROM trials WHERE id = ?", 1) == 0.25);
	t = query_text("SELECT last_metrics FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(t, "{\"loss\":0.25,\"acc\":0.7}");
	free(t);
	t = query_text("SELECT outcome FROM attempts WHERE trial_id = ?", 1);
	ck_assert_str_eq(t, "succeeded");
	free(t);
	/* 100 s on 2 GPUs at $2/GPU-hour. */
	ck_assert(query_double("SELECT runtime_s FROM trials WHERE id = ?", 1) == 100);
	ck_assert(fabs(query_double("SELECT gpu_hours FROM trials WHERE id = ?", 1) -
	    200.0 / 3600) < 1e-12);
	ck_assert(fabs(query_double("SELECT cost_usd FROM trials WHERE id = ?", 1) -
	    400.0 / 3600) < 1e-12);
	ck_assert(query_double("SELECT finished_at FROM trials WHERE id = ?", 1) == 1100);
	ck_assert_int_eq(query_int("SELECT n_succeeded FROM sweeps WHERE id = ?", sweep), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM metrics WHERE trial_id = ?", 1), 3);
}
END_TEST

/* A report naming any attempt but the open current one is refused and changes nothing. */
START_TEST(test_stale_changes_nothing)
{
	static const struct {
		const char	*what;
		int64_t		 attempt;
	} cases[] = {
		{ "heartbeat", 2 }, { "heartbeat", 0 }, { "checkpoint", 2 }, { "finish", 2 },
		{ "finish", 0 },
	};
	struct metric_point pt = { "loss", 5, 0.1, 1005 };
	struct finish_report r = { .outcome = OUTCOME_SUCCEEDED, .exit_code = 0, .pts = &pt,
	    .npts = 1, .now = 1010 };
	char *before, *after, *cause;
	bool cancel;
	size_t i;
	int rc = 0;

	make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		before = snapshot();
		cause = NULL;
		if (strcmp(cases[i].what, "heartbeat") == 0)
			rc = trial_heartbeat(st, 1, cases[i].attempt, &pt, 1, 60, 1005, &cancel,
			    &cause);
		else if (strcmp(cases[i].what, "checkpoint") == 0)
			rc = trial_checkpoint(st, 1, cases[i].attempt, "/ck/1", 5, 1005, &cause);
		else
			rc = trial_finish(st, 1, cases[i].attempt, &r, NULL, &cause);
		ck_assert_msg(rc == TRIAL_ESTALE, "%s attempt %lld: rc %d", cases[i].what,
		    (long long)cases[i].attempt, rc);
		ck_assert_ptr_nonnull(cause);
		after = snapshot();
		ck_assert_str_eq(before, after);
		free(before);
		free(after);
		free(cause);
	}
	/* The current attempt finishes; a duplicate of that finish is then stale too. */
	cause = NULL;
	ck_assert_int_eq(trial_finish(st, 1, 1, &r, NULL, &cause), TRIAL_OK);
	before = snapshot();
	ck_assert_int_eq(trial_finish(st, 1, 1, &r, NULL, &cause), TRIAL_ESTALE);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, NULL, 0, 60, 1020, &cancel, &cause),
	    TRIAL_ESTALE);
	free(cause);
	after = snapshot();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	cause = NULL;
	ck_assert_int_eq(trial_heartbeat(st, 77, 1, NULL, 0, 60, 1020, &cancel, &cause),
	    TRIAL_ENOENT);
	free(cause);
}
END_TEST

/* Failures retry with a growing backoff, then abandon once the budget is spent. */
START_TEST(test_failures_backoff_then_abandon)
{
	static const struct {
		double			 lease_at;
		double			 finish_at;
		enum trial_state	 next;
		double			 not_before;
		int64_t			 failures;
	} steps[] = {
		{ 1000, 1010, TRIAL_PENDING, 1015, 1 },		/* +5 s */
		{ 1015, 1020, TRIAL_PENDING, 1030, 2 },		/* +10 s */
		{ 1030, 1040, TRIAL_ABANDONED, 1060, 3 },	/* 3 > max_failures 2 */
	};
	enum trial_state next;
	char *reason;
	size_t i;
	int64_t sweep;

	sweep = make_sweep("{\"name\": \"one\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"value\": 1}}, \"retry\": {\"max_failures\": 2}}", 1);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (i > 0)	/* the backoff holds the trial back until not_before */
			lease_at(steps[i].lease_at - 1, 0, 0);
		lease_at(steps[i].lease_at, 1, (int64_t)i + 1);
		ck_assert_int_eq(finish_at(1, (int64_t)i + 1, OUTCOME_FAILED, "exit status 1",
		    NULL, steps[i].finish_at, &next), TRIAL_OK);
		ck_assert_int_eq(next, steps[i].next);
		ck_assert_int_eq(state_of(1), steps[i].next);
		ck_assert(query_double("SELECT not_before FROM trials WHERE id = ?", 1) ==
		    steps[i].not_before);
		ck_assert_int_eq(query_int("SELECT failures FROM trials WHERE id = ?", 1),
		    steps[i].failures);
	}
	reason = query_text("SELECT reason FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(reason, "failed 3 times: exit status 1");
	free(reason);
	lease_at(5000, 0, 0);
	/* Its only trial is final: the sweep is done. */
	reason = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
	ck_assert_str_eq(reason, "done");
	free(reason);
}
END_TEST

START_TEST(test_fatal_abandons_at_once)
{
	enum trial_state next;
	char *reason;

	make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	ck_assert_int_eq(finish_at(1, 1, OUTCOME_FAILED, "exit status 1", "OOM", 1010, &next),
	    TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_ABANDONED);
	reason = query_text("SELECT reason FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(reason, "fatal pattern matched: OOM");
	free(reason);
	ck_assert_int_eq(query_int("SELECT failures FROM trials WHERE id = ?", 1), 1);
}
END_TEST

/* Preemptions spend their own budget, never the failure budget, and retry at once. */
START_TEST(test_preemptions_own_budget)
{
	static const struct {
		enum attempt_outcome	 outcome;
		enum trial_state	 next;
		int64_t			 preemptions, failures;
	} steps[] = {
		{ OUTCOME_PREEMPTED, TRIAL_PENDING, 1, 0 },
		{ OUTCOME_FAILED, TRIAL_PENDING, 1, 1 },
		{ OUTCOME_PREEMPTED, TRIAL_PENDING, 2, 1 },
		{ OUTCOME_PREEMPTED, TRIAL_PENDING, 3, 1 },
		{ OUTCOME_PREEMPTED, TRIAL_ABANDONED, 4, 1 },	/* 4 > max_preemptions 3 */
	};
	enum trial_state next;
	double now = 1000;
	char *reason;
	size_t i;

	make_sweep(spec_small, 6);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		lease_at(now, 1, (int64_t)i + 1);
		now += 10;
		ck_assert_int_eq(finish_at(1, (int64_t)i + 1, steps[i].outcome, NULL, NULL, now,
		    &next), TRIAL_OK);
		ck_assert_int_eq(next, steps[i].next);
		ck_assert_int_eq(query_int("SELECT preemptions FROM trials WHERE id = ?", 1),
		    steps[i].preemptions);
		ck_assert_int_eq(query_int("SELECT failures FROM trials WHERE id = ?", 1),
		    steps[i].failures);
		if (steps[i].outcome == OUTCOME_PREEMPTED && next == TRIAL_PENDING)
			ck_assert(query_double("SELECT not_before FROM trials WHERE id = ?", 1) <=
			    now);
		now += 400;	/* past any backoff */
	}
	reason = query_text("SELECT reason FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(reason, "preempted 4 times");
	free(reason);
	/* Every attempt's compute is counted, the interrupted ones too: 5 x 10 s. */
	ck_assert(query_double("SELECT runtime_s FROM trials WHERE id = ?", 1) == 50);
	ck_assert_int_eq(query_int("SELECT count(*) FROM attempts WHERE trial_id = ?"
	    " AND outcome = 'preempted'", 1), 4);
}
END_TEST

START_TEST(test_lease_expiry_lost)
{
	char *cause = NULL, *t;
	bool cancel;
	int n;

	make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, NULL, 0, 60, 1030, &cancel, &cause),
	    TRIAL_OK);
	ck_assert(!cancel);
	ck_assert(query_double("SELECT lease_expires FROM attempts WHERE trial_id = ?", 1) ==
	    1090);
	ck_assert_int_eq(trial_expire_leases(st, 1080, &n, &cause), TRIAL_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(state_of(1), TRIAL_RUNNING);
	ck_assert_int_eq(trial_expire_leases(st, 1100, &n, &cause), TRIAL_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(state_of(1), TRIAL_PENDING);
	t = query_text("SELECT outcome || ',' || reason FROM attempts WHERE trial_id = ?", 1);
	ck_assert_str_eq(t, "lost,lease expired");
	free(t);
	/* Charged up to the last sign of life, not to the expiry. */
	ck_assert(query_double("SELECT runtime_s FROM trials WHERE id = ?", 1) == 30);
	ck_assert_int_eq(query_int("SELECT preemptions FROM trials WHERE id = ?", 1), 1);
	/* The lost agent comes back: it is stale. The trial goes to the next lease. */
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, NULL, 0, 60, 1110, &cancel, &cause),
	    TRIAL_ESTALE);
	free(cause);
	lease_at(1120, 1, 2);
	/* Nothing more to expire; a second pass is a no-op. */
	ck_assert_int_eq(trial_expire_leases(st, 1100, &n, NULL), TRIAL_OK);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_cancel)
{
	enum trial_state next;
	char *cause = NULL, *t;
	bool cancel;
	int64_t sweep, n;
	int expired;

	sweep = make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	lease_at(1000, 2, 1);
	/* A single running trial: the worker hears it on its next heartbeat. */
	ck_assert_int_eq(trial_cancel(st, 1, &cause), TRIAL_OK);
	ck_assert_int_eq(state_of(1), TRIAL_CANCELLED);
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, NULL, 0, 60, 1010, &cancel, &cause),
	    TRIAL_OK);
	ck_assert(cancel);
	ck_assert_int_eq(finish_at(1, 1, OUTCOME_FAILED, "killed by signal 15", NULL, 1020,
	    &next), TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_CANCELLED);
	t = query_text("SELECT outcome FROM attempts WHERE trial_id = ?", 1);
	ck_assert_str_eq(t, "cancelled");
	free(t);
	ck_assert_int_eq(trial_cancel(st, 1, &cause), TRIAL_EILLEGAL);
	free(cause);
	cause = NULL;
	/* The whole sweep: 4 pending and 1 running. */
	ck_assert_int_eq(trial_cancel_sweep(st, sweep, &n, &cause), TRIAL_OK);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(query_int("SELECT count(*) FROM trials WHERE state = 'cancelled'", 0),
	    6);
	ck_assert_int_eq(query_int("SELECT n_cancelled FROM sweeps WHERE id = ?", sweep), 6);
	ck_assert_int_eq(query_int("SELECT n_pending + n_running FROM sweeps WHERE id = ?",
	    sweep), 0);
	t = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
	ck_assert_str_eq(t, "cancelled");
	free(t);
	lease_at(1030, 0, 0);
	/* Trial 2's attempt is still open until its lease expires. */
	ck_assert_int_eq(trial_expire_leases(st, 2000, &expired, &cause), TRIAL_OK);
	ck_assert_int_eq(expired, 1);
	t = query_text("SELECT outcome FROM attempts WHERE trial_id = ?", 2);
	ck_assert_str_eq(t, "cancelled");
	free(t);
	ck_assert_int_eq(state_of(2), TRIAL_CANCELLED);
	/* Cancelling again is harmless; an unknown sweep is not. */
	ck_assert_int_eq(trial_cancel_sweep(st, sweep, &n, &cause), TRIAL_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(trial_cancel_sweep(st, 42, &n, &cause), TRIAL_ENOENT);
	ck_assert_str_eq(cause, "no sweep 42");
	free(cause);
}
END_TEST

/* An early-termination policy prunes a running trial: its worker hears `cancel`, and the
 * attempt closes as pruned whatever the worker reports. */
START_TEST(test_prune)
{
	struct metric_point pt = { "loss", 3, 0.9, 1005 };
	struct finish_report r = { .outcome = OUTCOME_FAILED, .exit_code = 143,
	    .reason = "killed by signal 15", .pts = &pt, .npts = 1, .now = 1010 };
	enum trial_state next;
	char *cause = NULL, *t;
	bool cancel;
	int64_t sweep;

	sweep = make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	ck_assert_int_eq(trial_transition(st, 1, TRIAL_PRUNED, "below the median at step 3",
	    &cause), TRIAL_OK);
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, NULL, 0, 60, 1005, &cancel, &cause),
	    TRIAL_OK);
	ck_assert(cancel);
	ck_assert_int_eq(trial_finish(st, 1, 1, &r, &next, &cause), TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_PRUNED);
	t = query_text("SELECT outcome || ',' || exit_code FROM attempts WHERE trial_id = ?", 1);
	ck_assert_str_eq(t, "pruned,143");
	free(t);
	t = query_text("SELECT reason FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(t, "below the median at step 3");
	free(t);
	ck_assert(query_double("SELECT value FROM trials WHERE id = ?", 1) == 0.9);
	ck_assert_int_eq(query_int("SELECT n_pruned FROM sweeps WHERE id = ?", sweep), 1);
	ck_assert_int_eq(query_int("SELECT failures FROM trials WHERE id = ?", 1), 0);
}
END_TEST

START_TEST(test_retry)
{
	enum trial_state next;
	char *cause = NULL, *t;
	int64_t sweep;

	sweep = make_sweep("{\"name\": \"one\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"value\": 1}}, \"retry\": {\"max_failures\": 0}}", 1);
	lease_at(1000, 1, 1);
	ck_assert_int_eq(trial_retry(st, 1, &cause), TRIAL_EILLEGAL);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(finish_at(1, 1, OUTCOME_FAILED, NULL, NULL, 1010, &next), TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_ABANDONED);
	t = query_text("SELECT reason FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(t, "failed 1 time: exit status 1");
	free(t);
	t = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
	ck_assert_str_eq(t, "done");
	free(t);
	ck_assert_int_eq(trial_retry(st, 1, &cause), TRIAL_OK);
	ck_assert_int_eq(state_of(1), TRIAL_PENDING);
	ck_assert_int_eq(query_int("SELECT failures FROM trials WHERE id = ?", 1), 0);
	ck_assert_int_eq(query_int("SELECT finished_at IS NULL FROM trials WHERE id = ?", 1), 1);
	t = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
	ck_assert_str_eq(t, "active");
	free(t);
	lease_at(1020, 1, 2);
	ck_assert_int_eq(finish_at(1, 2, OUTCOME_SUCCEEDED, NULL, NULL, 1030, &next), TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_SUCCEEDED);
	ck_assert_int_eq(trial_retry(st, 99, &cause), TRIAL_ENOENT);
	free(cause);
}
END_TEST

/* Repeated metric points (a retried heartbeat) are stored once; later ones win. */
START_TEST(test_idempotent_metrics)
{
	struct metric_point batch1[] = { { "loss", 1, 0.9, 1001 }, { "loss", 2, 0.8, 1002 } };
	struct metric_point batch2[] = { { "loss", 3, 0.7, 1003 }, { "acc", 3, 0.5, 1003 } };
	char *cause = NULL, *t, *before;
	bool cancel;
	int i;

	make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(trial_heartbeat(st, 1, 1, batch1, 2, 60, 1005, &cancel, &cause),
		    TRIAL_OK);
	ck_assert_int_eq(query_int("SELECT count(*) FROM metrics WHERE trial_id = ?", 1), 2);
	ck_assert(query_double("SELECT value FROM trials WHERE id = ?", 1) == 0.8);
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, batch2, 2, 60, 1006, &cancel, &cause),
	    TRIAL_OK);
	before = snapshot();
	ck_assert_int_eq(trial_heartbeat(st, 1, 1, batch2, 2, 60, 1006, &cancel, &cause),
	    TRIAL_OK);
	t = snapshot();
	ck_assert_str_eq(before, t);
	free(before);
	free(t);
	ck_assert_int_eq(query_int("SELECT count(*) FROM metrics WHERE trial_id = ?", 1), 4);
	ck_assert(query_double("SELECT value FROM trials WHERE id = ?", 1) == 0.7);
	t = query_text("SELECT last_metrics FROM trials WHERE id = ?", 1);
	ck_assert_str_eq(t, "{\"loss\":0.7,\"acc\":0.5}");
	free(t);
}
END_TEST

/* Checkpoints: the next attempt resumes from the newest, and sees at most `keep`. */
START_TEST(test_checkpoints_resume)
{
	static const struct {
		const char	*path;
		int64_t		 step;
	} cps[] = { { "/ck/a", 10 }, { "/ck/b", 30 }, { "/ck/c", 20 }, { "/ck/b", 30 } };
	struct lease_request r = req_at(1100);
	struct lease l;
	enum trial_state next;
	char *cause = NULL, *t;
	size_t i;

	make_sweep(spec_small, 6);
	lease_at(1000, 1, 1);
	for (i = 0; i < sizeof cps / sizeof cps[0]; i++)
		ck_assert_int_eq(trial_checkpoint(st, 1, 1, cps[i].path, cps[i].step, 1001,
		    &cause), TRIAL_OK);
	ck_assert_int_eq(query_int("SELECT count(*) FROM checkpoints WHERE trial_id = ?", 1), 3);
	ck_assert_int_eq(finish_at(1, 1, OUTCOME_PREEMPTED, NULL, NULL, 1050, &next), TRIAL_OK);
	ck_assert_int_eq(trial_lease(st, &r, &l, &cause), 1);
	ck_assert_int_eq(l.trial_id, 1);
	ck_assert_int_eq(l.attempt, 2);
	ck_assert_int_eq(l.preemptions, 1);
	ck_assert_str_eq(l.resume_from, "/ck/b");
	ck_assert_str_eq(l.checkpoints, "[\"/ck/b\",\"/ck/c\"]");
	lease_clear(&l);
	t = query_text("SELECT resumed_from FROM attempts WHERE trial_id = ? AND attempt = 2", 1);
	ck_assert_str_eq(t, "/ck/b");
	free(t);
}
END_TEST

/* Past the sweep's deadline nothing is leased, pending trials are abandoned by the tick,
 * and a failed running trial is abandoned instead of retried. */
START_TEST(test_deadline)
{
	enum trial_state next;
	char *cause = NULL, *t;
	int64_t sweep;
	int n;

	/* 2001-09-09T01:46:40Z is epoch 1000000000. */
	sweep = make_sweep("{\"name\": \"d\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1, 2, 3]}},"
	    " \"deadline\": \"2001-09-09T01:46:40Z\"}", 3);
	lease_at(999999990, 1, 1);	/* its lease runs to 1000000050 */
	lease_at(1000000000, 0, 0);
	ck_assert_int_eq(trial_expire_leases(st, 1000000001, &n, &cause), TRIAL_OK);
	ck_assert_int_eq(state_of(2), TRIAL_ABANDONED);
	ck_assert_int_eq(state_of(3), TRIAL_ABANDONED);
	t = query_text("SELECT reason FROM trials WHERE id = ?", 3);
	ck_assert_str_eq(t, "deadline passed");
	free(t);
	ck_assert_int_eq(state_of(1), TRIAL_RUNNING);
	ck_assert_int_eq(finish_at(1, 1, OUTCOME_FAILED, NULL, NULL, 1000000010, &next),
	    TRIAL_OK);
	ck_assert_int_eq(next, TRIAL_ABANDONED);
	ck_assert_int_eq(query_int("SELECT n_abandoned FROM sweeps WHERE id = ?", sweep), 3);
	t = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
	ck_assert_str_eq(t, "done");
	free(t);
}
END_TEST

/* The sweep is done once every trial is final; its counters match the trials. */
START_TEST(test_sweep_done)
{
	struct sweep_summary sum;
	struct metric_point pt = { "loss", 1, 0, 0 };
	struct finish_report r = { .outcome = OUTCOME_SUCCEEDED, .pts = &pt, .npts = 1 };
	char *cause = NULL, *t;
	int64_t sweep, i;
	int st_i;

	sweep = make_sweep(spec_small, 6);
	for (i = 1; i <= 6; i++) {
		t = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
		ck_assert_str_eq(t, "active");
		free(t);
		lease_at(1000 + (double)i, i, 1);
		pt.value = 1.0 / (double)i + (i == 4 ? -1 : 0);	/* trial 4 is best */
		r.now = 1010 + (double)i;
		ck_assert_int_eq(trial_finish(st, i, 1, &r, NULL, &cause), TRIAL_OK);
	}
	t = query_text("SELECT state FROM sweeps WHERE id = ?", sweep);
	ck_assert_str_eq(t, "done");
	free(t);
	ck_assert_int_eq(store_sweep_summary(st, sweep, &sum, &cause), 0);
	ck_assert_int_eq(sum.trials, 6);
	for (st_i = 0; st_i < TRIAL_STATE_MAX; st_i++) {
		char sql[128];

		snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE sweep_id = ?"
		    " AND state = '%s'", trial_state_name(st_i));
		ck_assert_int_eq(sum.by_state[st_i], query_int(sql, sweep));
	}
	ck_assert(sum.has_best);
	ck_assert_int_eq(sum.best_trial, 4);
	ck_assert(sum.best_value == 0.25 - 1);
	sweep_summary_clear(&sum);
}
END_TEST

/* Inside a caller's transaction, a refused or failed operation leaves the transaction
 * open and undoes only its own writes. */
START_TEST(test_inside_caller_transaction)
{
	enum trial_state next;
	char *cause = NULL;

	make_sweep(spec_small, 6);
	ck_assert_int_eq(store_begin(st, &cause), 0);
	lease_at(1000, 1, 1);
	ck_assert_int_eq(finish_at(1, 5, OUTCOME_SUCCEEDED, NULL, NULL, 1001, &next),
	    TRIAL_ESTALE);
	ck_assert(store_in_transaction(st));
	lease_at(1000, 2, 1);
	store_rollback(st);
	ck_assert_int_eq(state_of(1), TRIAL_PENDING);
	ck_assert_int_eq(state_of(2), TRIAL_PENDING);
	ck_assert_int_eq(query_int("SELECT count(*) FROM attempts", 0), 0);
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "transition_table", test_transition_table },
		{ "names", test_names_round_trip },
		{ "transition_stored", test_transition_checks_stored_state },
		{ "lease_oldest", test_lease_oldest_first },
		{ "lease_index", test_lease_uses_index },
		{ "interrupted_first", test_interrupted_first },
		{ "finish_success", test_lease_finish_success },
		{ "stale", test_stale_changes_nothing },
		{ "failures", test_failures_backoff_then_abandon },
		{ "fatal", test_fatal_abandons_at_once },
		{ "preemptions", test_preemptions_own_budget },
		{ "expiry", test_lease_expiry_lost },
		{ "cancel", test_cancel },
		{ "prune", test_prune },
		{ "retry", test_retry },
		{ "metrics", test_idempotent_metrics },
		{ "checkpoints", test_checkpoints_resume },
		{ "deadline", test_deadline },
		{ "sweep_done", test_sweep_done },
		{ "caller_txn", test_inside_caller_transaction },
	};

	return check_main("trial", tests, CHECK_NELEM(tests), setup, teardown, 0);
}
