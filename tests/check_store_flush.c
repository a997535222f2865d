/* Unit tests of store-flush.c, the scheduler's WAL flush on a thread: generations are
 * reported in order and only once flushed, store_flush_wait reports before it returns, the
 * store runs synchronous=NORMAL while the flusher exists and FULL again after, and an
 * in-memory store (no WAL file) has no flusher. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/event.h>

#include "spotsweep/store-flush.h"
#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"
#include "check-main.h"
#include "store-fixture.h"

struct seen {
	uint64_t	 last;
	int		 calls;
	bool		 all_ok;
	bool		 in_order;
	struct event_base *base;
};

static void
on_done(void *arg, uint64_t gen, bool ok)
{
	struct seen *s = arg;

	s->calls++;
	if (!ok)
		s->all_ok = false;
	if (gen <= s->last)
		s->in_order = false;
	s->last = gen;
}

static int
synchronous_mode(void)
{
	sqlite3_stmt *stmt;
	int mode;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), "PRAGMA synchronous", -1, &stmt, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	mode = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return mode;
}

/* One committed write, as the group commit makes them. */
static void
commit_one(int value)
{
	char *cause = NULL;
	sqlite3_stmt *stmt;

	ck_assert_msg(store_begin(st, &cause) == 0, "begin: %s", cause);
	stmt = store_stmt(st, "INSERT INTO flushed (v) VALUES (?)", &cause);
	ck_assert_msg(stmt != NULL, "%s", cause);
	sqlite3_bind_int(stmt, 1, value);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_DONE);
	ck_assert_msg(store_commit(st, &cause) == 0, "commit: %s", cause);
}

static void
setup(void)
{
	store_fixture_open("check_store_flush");
	ck_assert_int_eq(sqlite3_exec(store_db(st), "CREATE TABLE flushed (v INTEGER)", NULL,
	    NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(store_set_sync(st, STORE_SYNC_FULL, NULL), 0);
}

static void
teardown(void)
{
	store_fixture_close();
}

START_TEST(test_generations_reported_through_the_loop)
{
	struct seen s = { .all_ok = true, .in_order = true };
	struct store_flush *f = NULL;
	char *cause = NULL;
	uint64_t gens[3];
	int i, rounds;

	s.base = event_base_new();
	ck_assert_msg(store_flush_create(st, s.base, on_done, &s, &f, &cause) == 0, "%s", cause);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(synchronous_mode(), 1);
	ck_assert_uint_eq(store_flush_next_gen(f), 1);
	for (i = 0; i < 3; i++) {
		commit_one(i);
		gens[i] = store_flush_request(f);
	}
	ck_assert_uint_eq(gens[0], 1);
	ck_assert_uint_eq(gens[1], 2);
	ck_assert_uint_eq(gens[2], 3);
	ck_assert_uint_eq(store_flush_next_gen(f), 4);
	/* The thread's eventfd wakes the loop; bounded: 2,000 x at most 10 ms. */
	for (rounds = 0; s.last < 3 && rounds < 2000; rounds++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(s.base, &tv);
		event_base_loop(s.base, EVLOOP_ONCE);
	}
	ck_assert_uint_eq(s.last, 3);
	ck_assert(s.all_ok);
	ck_assert(s.in_order);
	ck_assert_int_ge(s.calls, 1);
	ck_assert_int_le(s.calls, 3);
	store_flush_free(f);
	ck_assert_int_eq(synchronous_mode(), 2);
	event_base_free(s.base);
}
END_TEST

START_TEST(test_wait_reports_before_returning)
{
	struct seen s = { .all_ok = true, .in_order = true };
	struct store_flush *f = NULL;
	char *cause = NULL;
	uint64_t flushes = 0;
	double secs = -1;
	int i;

	s.base = event_base_new();
	ck_assert_msg(store_flush_create(st, s.base, on_done, &s, &f, &cause) == 0, "%s", cause);
	for (i = 0; i < 5; i++) {
		commit_one(i);
		store_flush_request(f);
		store_flush_wait(f);
		ck_assert_uint_eq(s.last, (uint64_t)i + 1);
	}
	ck_assert_int_eq(s.calls, 5);
	ck_assert(s.all_ok);
	store_flush_stats(f, &flushes, &secs);
	ck_assert_uint_ge(flushes, 1);
	ck_assert_uint_le(flushes, 5);
	ck_assert(secs >= 0);
	/* Nothing requested: waiting reports nothing new. */
	store_flush_wait(f);
	ck_assert_int_eq(s.calls, 5);
	store_flush_free(f);
	event_base_free(s.base);
}
END_TEST

START_TEST(test_in_memory_store_has_no_flusher)
{
	struct seen s = { .all_ok = true, .in_order = true };
	struct store *mem = NULL;
	struct store_flush *f = NULL;
	char *cause = NULL;

	s.base = event_base_new();
	ck_assert_msg(store_open(":memory:", &mem, &cause) == 0, "%s", cause);
	ck_assert_int_eq(store_flush_create(mem, s.base, on_done, &s, &f, &cause), 1);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(s.calls, 0);
	store_flush_free(NULL);
	store_close(mem);
	event_base_free(s.base);
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "generations", test_generations_reported_through_the_loop },
		{ "wait", test_wait_reports_before_returning },
		{ "memory", test_in_memory_store_has_no_flusher },
	};

	return check_main("store_flush", tests, CHECK_NELEM(tests), setup, teardown, 0);
}
