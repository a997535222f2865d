/* Unit tests for the store (store.c, store-sweep.c) on temporary SQLite files: opening
 * settings (WAL, foreign keys), migrations by user_version and their idempotence, the state
 * CHECKs (and their migration from IN lists), a newer schema refused, the statement cache,
 * savepoints inside a caller's transaction, sweep creation with deduplication, summaries,
 * and worker registration. */
#include <check.h>
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

static char db_path[64];

static void
setup(void)
{
	int fd;

	snprintf(db_path, sizeof db_path, "/tmp/check_store.XXXXXX");
	fd = mkstemp(db_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void
teardown(void)
{
	char *p;

	unlink(db_path);
	p = xasprintf("%s-wal", db_path);
	unlink(p);
	free(p);
	p = xasprintf("%s-shm", db_path);
	unlink(p);
	free(p);
}

static struct store *
open_ok(void)
{
	struct store *st;
	char *cause = NULL;

	ck_assert_msg(store_open(db_path, &st, &cause) == 0, "store_open: %s", cause);
	return st;
}

static char *
pragma_text(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	char *v = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	ck_assert_ptr_nonnull(v);
	return v;
}

static int64_t
count(struct store *st, const char *sql)
{
	char *t = pragma_text(st, sql);
	int64_t v = strtoll(t, NULL, 10);

	free(t);
	return v;
}

static int64_t
submit(struct store *st, const char *text, uint64_t expect)
{
	struct spec *s;
	char *cause = NULL;
	int64_t id;
	uint64_t n;

	ck_assert_msg(spec_parse("t.json", text, strlen(text), &s, &cause) == 0, "spec: %s",
	    cause);
	ck_assert_msg(store_sweep_create(st, s, "t.json", &id, &n, &cause) == 0, "create: %s",
	    cause);
	spec_free(s);
	ck_assert_uint_eq(n, expect);
	return id;
}

START_TEST(test_open_settings)
{
	static const struct {
		const char	*sql;
		const char	*expect;
	} cases[] = {
		{ "PRAGMA journal_mode", "wal" },
		{ "PRAGMA foreign_keys", "1" },
		{ "PRAGMA synchronous", "2" },		/* FULL: a CLI commit is durable */
		{ "SELECT count(*) FROM sqlite_schema WHERE name IN ('sweeps', 'trials',"
		  " 'attempts', 'metrics', 'checkpoints', 'workers', 'events')", "7" },
		{ "SELECT count(*) FROM sqlite_schema WHERE name = 'trials_pending'"
		  " AND sql LIKE '%WHERE state = ''pending''%'", "1" },
	};
	struct store *st = open_ok();
	char *cause = NULL, *v, expect_version[16];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		v = pragma_text(st, cases[i].sql);
		ck_assert_msg(strcmp(v, cases[i].expect) == 0, "%s: %s, expected %s",
		    cases[i].sql, v, cases[i].expect);
		free(v);
	}
	snprintf(expect_version, sizeof expect_version, "%d", store_schema_version());
	v = pragma_text(st, "PRAGMA user_version");
	ck_assert_str_eq(v, expect_version);
	free(v);
	ck_assert_int_ge(store_schema_version(), 1);
	ck_assert_int_eq(store_set_sync(st, STORE_SYNC_FULL, &cause), 0);
	v = pragma_text(st, "PRAGMA synchronous");
	ck_assert_str_eq(v, "2");
	free(v);
	/* Foreign keys are enforced: a trial of no sweep is refused. */
	ck_assert_int_ne(sqlite3_exec(store_db(st), "INSERT INTO trials (sweep_id, params)"
	    " VALUES (99, '{}')", NULL, NULL, NULL), SQLITE_OK);
	store_close(st);
}
END_TEST

/* Reopening runs no migration twice and keeps the data. */
START_TEST(test_migrations_idempotent)
{
	struct store *st;
	char *v, *schema1, *schema2;
	int i;

	st = open_ok();
	submit(st, "{\"name\": \"a\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1, 2]}}}", 2);
	schema1 = pragma_text(st, "SELECT group_concat(sql, ';') FROM sqlite_schema");
	store_close(st);
	for (i = 0; i < 3; i++) {
		st = open_ok();
		v = pragma_text(st, "PRAGMA user_version");
		ck_assert_int_eq(strtol(v, NULL, 10), store_schema_version());
		free(v);
		schema2 = pragma_text(st, "SELECT group_concat(sql, ';') FROM sqlite_schema");
		ck_assert_str_eq(schema1, schema2);
		free(schema2);
		ck_assert_int_eq(count(st, "SELECT count(*) FROM trials"), 2);
		store_close(st);
	}
	free(schema1);
}
END_TEST

/* Exec without asserting: the SQLite result code. */
static int
exec_rc(struct store *st, const char *sql)
{
	return sqlite3_exec(store_db(st), sql, NULL, NULL, NULL);
}

/* The states' CHECKs (written as ORs since schema 3, see store.c) refuse what they did as IN
 * lists and accept every state; a database of schema 2 is migrated to that form, without the
 * indexes schemas 3 and 4 dropped. */
START_TEST(test_check_constraints)
{
	static const struct {
		const char	*sql;
		int		 rc;	/* SQLITE_OK or SQLITE_CONSTRAINT */
	} cases[] = {
		{ "UPDATE trials SET state = 'bogus'", SQLITE_CONSTRAINT },
		{ "UPDATE trials SET state = 'Pending'", SQLITE_CONSTRAINT },
		{ "UPDATE trials SET state = NULL", SQLITE_CONSTRAINT },
		{ "UPDATE trials SET state = 'running'", SQLITE_OK },
		{ "UPDATE trials SET state = 'cancelled'", SQLITE_OK },
		{ "UPDATE sweeps SET state = 'paused'", SQLITE_CONSTRAINT },
		{ "UPDATE sweeps SET state = 'done'", SQLITE_OK },
		{ "INSERT INTO attempts (trial_id, attempt, started_at, outcome)"
		  " VALUES (1, 7, 0, 'exploded')", SQLITE_CONSTRAINT },
		{ "INSERT INTO attempts (trial_id, attempt, started_at, outcome)"
		  " VALUES (1, 8, 0, 'preempted')", SQLITE_OK },
		{ "INSERT INTO attempts (trial_id, attempt, started_at, outcome)"
		  " VALUES (1, 9, 0, NULL)", SQLITE_OK },
		{ "INSERT INTO rungs (trial_id, rung, sweep_id, step, value, decision, at)"
		  " VALUES (1, 0, 1, 1, 0.5, 'maybe', 0)", SQLITE_CONSTRAINT },
		{ "INSERT INTO rungs (trial_id, rung, sweep_id, step, value, decision, at)"
		  " VALUES (1, 1, 1, 1, 0.5, 'promote', 0)", SQLITE_OK },
	};
	struct store *st;
	char *integrity;
	size_t i;
	int round;

	st = open_ok();
	submit(st, "{\"name\": \"a\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1, 2]}}}", 2);
	/* Round 1 puts the database back to schema 2 as migration 0 wrote it. */
	for (round = 0; round < 2; round++) {
		ck_assert_int_eq(count(st, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE"
		    " '%CHECK (state IN%' OR sql LIKE '%CHECK (outcome IN%'"
		    " OR sql LIKE '%CHECK (decision IN%'"), 0);
		/* Schema 3 dropped events_sweep, schema 4 attempts_worker. */
		ck_assert_int_eq(count(st, "SELECT count(*) FROM sqlite_schema WHERE name IN"
		    " ('events_sweep', 'attempts_worker')"), 0);
		for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			ck_assert_int_eq(exec_rc(st, "BEGIN"), SQLITE_OK);
			ck_assert_msg((exec_rc(st, cases[i].sql) & 0xff) == cases[i].rc,
			    "round %d: %s: %s", round, cases[i].sql, sqlite3_errmsg(store_db(st)));
			ck_assert_int_eq(exec_rc(st, "ROLLBACK"), SQLITE_OK);
		}
		if (round == 1)
			break;
		ck_assert_int_eq(exec_rc(st, "PRAGMA writable_schema = ON;"
		    "UPDATE sqlite_schema SET sql = replace(sql, 'state = ''pending'' OR state ="
		    " ''running'' OR state = ''succeeded'' OR state = ''pruned'' OR state ="
		    " ''abandoned'' OR state = ''cancelled''', 'state IN    (''pending'', ''running'',"
		    " ''succeeded'', ''pruned'', ''abandoned'', ''cancelled'')') WHERE name ="
		    " 'trials';"
		    "PRAGMA writable_schema = OFF;"
		    "CREATE INDEX attempts_worker ON attempts(worker_id) WHERE outcome IS NULL;"
		    "CREATE INDEX events_sweep ON events(sweep_id, id);"
		    "PRAGMA user_version = 2;"), SQLITE_OK);
		ck_assert_int_eq(count(st, "SELECT count(*) FROM sqlite_schema WHERE name ="
		    " 'trials' AND sql LIKE '%CHECK (state IN    (%'"), 1);
		store_close(st);
		st = open_ok();		/* migrates from 2 */
	}
	ck_assert_int_eq(count(st, "PRAGMA user_version"), store_schema_version());
	integrity = pragma_text(st, "PRAGMA integrity_check");
	ck_assert_str_eq(integrity, "ok");
	free(integrity);
	store_close(st);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	struct store *st = open_ok();
	char *cause = NULL, sql[64];

	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", store_schema_version() + 1);
	ck_assert_int_eq(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	store_close(st);
	ck_assert_int_eq(store_open(db_path, &st, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "newer than this spotsweep"));
	ck_assert_ptr_nonnull(strstr(cause, db_path));
	free(cause);
}
END_TEST

START_TEST(test_open_errors)
{
	static const char *const paths[] = { "/nonexistent-dir/x.db", "/tmp" };
	struct store *st;
	char *cause;
	size_t i;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		cause = NULL;
		ck_assert_int_eq(store_open(paths[i], &st, &cause), -1);
		ck_assert_ptr_nonnull(cause);
		ck_assert_msg(strncmp(cause, paths[i], strlen(paths[i])) == 0, "%s", cause);
		free(cause);
	}
	/* A file that is not a database. */
	{
		FILE *f = fopen(db_path, "w");

		fputs("this is not a database, just some text long enough to read\n", f);
		fclose(f);
		cause = NULL;
		ck_assert_int_eq(store_open(db_path, &st, &cause), -1);
		ck_assert_ptr_nonnull(strstr(cause, "not a database"));
		free(cause);
	}
}
END_TEST

START_TEST(test_default_path)
{
	unsetenv("SPOTSWEEP_DB");
	ck_assert_str_eq(store_default_path(NULL), "./spotsweep.db");
	ck_assert_str_eq(store_default_path("x.db"), "x.db");
	setenv("SPOTSWEEP_DB", "/tmp/env.db", 1);
	ck_assert_str_eq(store_default_path(NULL), "/tmp/env.db");
	ck_assert_str_eq(store_default_path("x.db"), "x.db");
	unsetenv("SPOTSWEEP_DB");
}
END_TEST

/* The cache is keyed by text: the same SQL from another buffer is the same statement, and
 * a reused buffer with new SQL is not handed the old one. */
START_TEST(test_stmt_cache)
{
	struct store *st = open_ok();
	char *cause = NULL, buf[128];
	sqlite3_stmt *a, *b, *c;
	int i;

	a = store_stmt(st, "SELECT 1", &cause);
	snprintf(buf, sizeof buf, "SELECT %d", 1);
	b = store_stmt(st, buf, &cause);
	ck_assert_ptr_eq(a, b);
	snprintf(buf, sizeof buf, "SELECT %d", 2);
	c = store_stmt(st, buf, &cause);
	ck_assert_ptr_ne(a, c);
	ck_assert_int_eq(sqlite3_step(c), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(c, 0), 2);
	/* Returned reset, with bindings cleared. */
	a = store_stmt(st, "SELECT ?", &cause);
	sqlite3_bind_int(a, 1, 7);
	ck_assert_int_eq(sqlite3_step(a), SQLITE_ROW);
	a = store_stmt(st, "SELECT ?", &cause);
	ck_assert_int_eq(sqlite3_step(a), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_type(a, 0), SQLITE_NULL);
	/* Growth past the initial table keeps every entry. */
	for (i = 0; i < 300; i++) {
		snprintf(buf, sizeof buf, "SELECT %d + 0", i);
		ck_assert_ptr_nonnull(store_stmt(st, buf, &cause));
	}
	for (i = 0; i < 300; i++) {
		snprintf(buf, sizeof buf, "SELECT %d + 0", i);
		c = store_stmt(st, buf, &cause);
		ck_assert_int_eq(sqlite3_step(c), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(c, 0), i);
	}
	ck_assert_ptr_null(store_stmt(st, "SELEKT nonsense", &cause));
	ck_assert_ptr_nonnull(cause);
	free(cause);
	store_close(st);
}
END_TEST

/* An operation inside a caller's transaction is a savepoint: undone alone on failure. */
START_TEST(test_op_savepoint)
{
	struct store *st = open_ok();
	char *cause = NULL;
	bool own;

	ck_assert_int_eq(store_op_begin(st, &own, &cause), 0);
	ck_assert(own);
	ck_assert(store_in_transaction(st));
	ck_assert_int_eq(store_event(st, 0, 0, 0, "one", NULL, &cause), 0);
	ck_assert_int_eq(store_op_end(st, own, true, &cause), 0);
	ck_assert(!store_in_transaction(st));

	ck_assert_int_eq(store_begin(st, &cause), 0);
	ck_assert_int_eq(store_event(st, 0, 0, 0, "two", NULL, &cause), 0);
	ck_assert_int_eq(store_op_begin(st, &own, &cause), 0);
	ck_assert(!own);
	ck_assert_int_eq(store_event(st, 0, 0, 0, "undone", NULL, &cause), 0);
	ck_assert_int_eq(store_op_end(st, own, false, &cause), 0);
	ck_assert(store_in_transaction(st));
	ck_assert_int_eq(store_op_begin(st, &own, &cause), 0);
	ck_assert_int_eq(store_event(st, 0, 0, 0, "three", NULL, &cause), 0);
	ck_assert_int_eq(store_op_end(st, own, true, &cause), 0);
	ck_assert_int_eq(store_commit(st, &cause), 0);
	{
		char *kinds = pragma_text(st, "SELECT group_concat(kind, ',') FROM"
		    " (SELECT kind FROM events ORDER BY id)");

		ck_assert_str_eq(kinds, "one,two,three");
		free(kinds);
	}
	store_close(st);
}
END_TEST

/* Identical parameter sets are stored once, in the grid and among proposals. */
START_TEST(test_dedup)
{
	static const struct {
		const char	*params;
		bool		 added;
	} proposals[] = {
		{ "{\"x\":1}", true }, { "{\"x\":2}", true }, { "{\"x\":1}", false },
		{ "{\"x\":2}", false }, { "{\"x\":3}", true },
	};
	struct store *st = open_ok();
	struct sweep_summary sum;
	char *cause = NULL;
	int64_t bayes, grid, trial;
	size_t i;

	/* A random sweep over 2 values draws 50 times: at most 2 distinct trials. */
	grid = submit(st, "{\"name\": \"r\", \"command\": \"true\", \"method\": \"random\","
	    " \"max_trials\": 50, \"parameters\": {\"x\": {\"values\": [1, 2]}}}", 2);
	ck_assert_int_eq(count(st, "SELECT count(*) FROM trials"), 2);
	ck_assert_int_eq(store_sweep_summary(st, grid, &sum, &cause), 0);
	ck_assert_int_eq(sum.trials, 2);
	ck_assert_int_eq(sum.by_state[TRIAL_PENDING], 2);
	sweep_summary_clear(&sum);

	bayes = submit(st, "{\"name\": \"b\", \"command\": \"true\", \"method\": \"bayes\","
	    " \"max_trials\": 5, \"parameters\": {\"x\": {\"values\": [1, 2, 3]}},"
	    " \"metric\": {\"name\": \"loss\"}}", 0);
	for (i = 0; i < sizeof proposals / sizeof proposals[0]; i++) {
		ck_assert_int_eq(store_trial_add(st, bayes, proposals[i].params, &trial, &cause),
		    0);
		ck_assert_msg((trial != 0) == proposals[i].added, "proposal %zu", i);
	}
	ck_assert_int_eq(store_sweep_summary(st, bayes, &sum, &cause), 0);
	ck_assert_int_eq(sum.trials, 3);
	ck_assert_int_eq(sum.by_state[TRIAL_PENDING], 3);
	ck_assert_str_eq(sum.method, "bayes");
	ck_assert(!sum.has_best);
	sweep_summary_clear(&sum);
	/* The same parameters in another sweep are another trial. */
	ck_assert_int_eq(store_trial_add(st, grid, "{\"x\":3}", &trial, &cause), 0);
	ck_assert_int_ne(trial, 0);
	store_close(st);
}
END_TEST

START_TEST(test_sweep_rows)
{
	static const char *const spec =
	    "{\"name\": \"rows\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"lr\": {\"values\": [0.1, 0.2]}, \"opt\": {\"value\": \"sgd\"}},"
	    " \"metric\": {\"name\": \"acc\", \"goal\": \"maximize\"},"
	    " \"metrics\": {\"loss\": null}, \"timeout_s\": 600}";
	struct store *st = open_ok();
	struct sweep_summary sum;
	struct spec *back;
	struct buf b = { 0 };
	char *cause = NULL, *row;
	int64_t id, found, *ids;
	size_t n;

	id = submit(st, spec, 2);
	row = pragma_text(st, "SELECT name || '|' || method || '|' || objective || '|' || goal"
	    " || '|' || param_names || '|' || metric_names || '|' || timeout_s || '|' || state"
	    " FROM sweeps");
	ck_assert_str_eq(row, "rows|grid|acc|maximize|[\"lr\",\"opt\"]|[\"acc\",\"loss\"]|600|"
	    "active");
	free(row);
	ck_assert_int_eq(count(st, "SELECT count(*) FROM events WHERE kind = 'sweep.submitted'"),
	    1);
	ck_assert_int_eq(store_sweep_find(st, "rows", spec, &found, &cause), 0);
	ck_assert_int_eq(found, id);
	ck_assert_int_eq(store_sweep_find(st, "rows", "{}", &found, &cause), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(store_sweep_spec(st, id, &back, &cause), 0);
	ck_assert_str_eq(back->name, "rows");
	ck_assert_int_eq(back->nparams, 2);
	ck_assert(!back->minimize);
	spec_free(back);
	ck_assert_int_eq(store_sweep_summary(st, id, &sum, &cause), 0);
	ck_assert(!sum.minimize);
	ck_assert_str_eq(sum.objective, "acc");
	sweep_summary_json(&sum, &b);
	ck_assert_str_eq(b.data, "{\"sweep_id\":1,\"name\":\"rows\",\"trials\":2,\"pending\":2,"
	    "\"running\":0,\"succeeded\":0,\"pruned\":0,\"abandoned\":0,\"cancelled\":0,"
	    "\"best\":null}");
	sweep_summary_clear(&sum);
	buf_free(&b);
	ck_assert_int_eq(store_sweep_summary(st, 7, &sum, &cause), -1);
	ck_assert_str_eq(cause, "no sweep 7");
	free(cause);
	cause = NULL;
	ck_assert_int_eq(store_sweep_spec(st, 7, &back, &cause), -1);
	free(cause);
	id = submit(st, spec, 2);
	ck_assert_int_eq(store_sweep_ids(st, &ids, &n, &cause), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ids[0], 1);
	ck_assert_int_eq(ids[1], id);
	free(ids);
	store_close(st);
}
END_TEST

START_TEST(test_workers)
{
	struct store *st = open_ok();
	char *cause = NULL;
	int64_t a, b, c;

	ck_assert_int_eq(store_worker_register(st, "gpu-1", "spot-a", "spot", "host1", 2, 100,
	    &a, &cause), 0);
	ck_assert_int_eq(store_worker_register(st, "gpu-2", "spot-a", "spot", "host2", 1, 100,
	    &b, &cause), 0);
	ck_assert_int_ne(a, b);
	/* The same agent registering again keeps its row. */
	ck_assert_int_eq(store_worker_register(st, "gpu-1", "spot-a", "spot", "host1b", 4, 200,
	    &c, &cause), 0);
	ck_assert_int_eq(c, a);
	ck_assert_int_eq(count(st, "SELECT slots FROM workers WHERE name = 'gpu-1'"), 4);
	ck_assert_int_eq(store_worker_register(st, "gpu-1", NULL, NULL, NULL, 1, 300, &c,
	    &cause), 0);
	ck_assert_int_ne(c, a);
	ck_assert_int_eq(store_worker_seen(st, b, 500, &cause), 0);
	ck_assert_int_eq(count(st, "SELECT last_seen FROM workers WHERE name = 'gpu-2'"), 500);
	ck_assert_int_eq(store_worker_seen(st, 99, 500, &cause), -1);
	ck_assert_str_eq(cause, "no worker 99");
	free(cause);
	store_close(st);
}
END_TEST

START_TEST(test_json_add_string)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "", "\"\"" },
		{ "plain", "\"plain\"" },
		{ "q\"b\\", "\"q\\\"b\\\\\"" },
		{ "a\nb\tc\rd", "\"a\\nb\\tc\\rd\"" },
		{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
		{ "na\xc3\xafve", "\"na\xc3\xafve\"" },
	};
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		json_add_string(&b, cases[i].in);
		ck_assert_str_eq(b.data, cases[i].out);
	}
	buf_free(&b);
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "open_settings", test_open_settings },
		{ "migrations", test_migrations_idempotent },
		{ "check_constraints", test_check_constraints },
		{ "newer_schema", test_newer_schema_refused },
		{ "open_errors", test_open_errors },
		{ "default_path", test_default_path },
		{ "stmt_cache", test_stmt_cache },
		{ "savepoint", test_op_savepoint },
		{ "dedup", test_dedup },
		{ "sweep_rows", test_sweep_rows },
		{ "workers", test_workers },
		{ "json_string", test_json_add_string },
	};

	return check_main("store", tests, CHECK_NELEM(tests), setup, teardown, 0);
}
