/* Unit tests of store-vfs.c, the VFS that gathers a WAL's writes into one per commit: after
 * every COMMIT the WAL file holds every committed frame (a connection on SQLite's default VFS
 * sees each commit, and a writer that dies without closing leaves a WAL that SQLite recovers
 * in full, also without its wal-index), a commit below the buffer's size costs one write, a
 * transaction that spills its cache reads its own frames back and rewrites them correctly, a
 * write the kernel refuses fails the COMMIT with an I/O error and leaves the previous commit,
 * store_open opens through the shim, and SPOTSWEEP_WAL_BUFFER=off leaves SQLite's default.
 *
 * Each scenario's writer is a forked child that ends with _exit() and its connection open, so
 * that nothing the writer did at close (a checkpoint, a last write-out) hides a commit whose
 * frames never reached the file. The child reports through a pipe, since check's assertions
 * belong to the test's own process. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <sqlite3.h>

#include "spotsweep/store-vfs.h"
#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"
#include "check-main.h"

#define PROBE_ARG	"--switch-off-probe"

static char db_path[64];

static void
setup(void)
{
	int fd;

	snprintf(db_path, sizeof db_path, "/tmp/check_store_vfs.XXXXXX");
	fd = mkstemp(db_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void
remove_file(const char *suffix)
{
	char *p = xasprintf("%s%s", db_path, suffix);

	unlink(p);
	free(p);
}

static void
teardown(void)
{
	remove_file("");
	remove_file("-wal");
	remove_file("-shm");
}

static long long
wal_size(void)
{
	char *p = xasprintf("%s-wal", db_path);
	struct stat sb;
	long long size;

	size = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
	free(p);
	return size;
}

/* ------------------------------------------------------------------------------------------
 * What the writer children use: no check assertions, an error message instead.
 */

static char *werr(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* fmt's message and db's last error, for the test's process to report. */
static char *
werr(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	char *what, *msg;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	msg = xasprintf("%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "");
	free(what);
	return msg;
}

static char *
exec_sql(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return werr(db, "%s", sql);
	return NULL;
}

/* A connection in WAL mode with the given synchronous setting, through vfs (NULL: SQLite's
 * default VFS). */
static char *
open_conn(const char *vfs, const char *sync, sqlite3 **out)
{
	char *sql, *err;

	*out = NULL;
	if (sqlite3_open_v2(db_path, out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) !=
	    SQLITE_OK)
		return werr(*out, "open through %s", vfs != NULL ? vfs : "the default VFS");
	sqlite3_extended_result_codes(*out, 1);
	sqlite3_busy_timeout(*out, 10000);
	sql = xasprintf("PRAGMA journal_mode = WAL; PRAGMA synchronous = %s", sync);
	err = exec_sql(*out, sql);
	free(sql);
	return err;
}

static char *
query_int(sqlite3 *db, const char *sql, long long *out)
{
	sqlite3_stmt *stmt;
	char *err = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return werr(db, "%s", sql);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else
		err = werr(db, "%s", sql);
	sqlite3_finalize(stmt);
	return err;
}

/* Row seed's content is n characters: seed in decimal, zero-padded. */
#define CONTENT(n, seed)	"CAST(printf('%0*d', " n ", " seed ") AS BLOB)"

static char *
insert_rows(sqlite3 *db, int rows, int size, int seed)
{
	sqlite3_stmt *stmt;
	char *err = NULL;
	int i;

	if (sqlite3_prepare_v2(db, "INSERT INTO t (seed, n, b) VALUES (?1, ?2, "
	    CONTENT("?2", "?1") ")", -1, &stmt, NULL) != SQLITE_OK)
		return werr(db, "prepare insert");
	for (i = 0; i < rows && err == NULL; i++) {
		sqlite3_bind_int(stmt, 1, seed + i);
		sqlite3_bind_int(stmt, 2, size);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			err = werr(db, "insert");
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	return err;
}

/* The rows db sees: their number, and that each one's content is what its seed says. */
static char *
check_rows(sqlite3 *db, long long want, const char *who)
{
	long long n = -1, wrong = -1;
	char *err;

	if ((err = query_int(db, "SELECT count(*) FROM t", &n)) != NULL ||
	    (err = query_int(db, "SELECT count(*) FROM t WHERE b IS NOT "
	    CONTENT("n", "seed"), &wrong)) != NULL)
		return err;
	if (n != want || wrong != 0)
		return xasprintf("%s: %lld rows (want %lld), %lld with wrong content", who, n,
		    want, wrong);
	return NULL;
}

/* Runs writer in a child that ends with _exit() (its connections open); NULL when it
 * succeeded, else what it said. */
static char *
run_writer(char *(*writer)(const void *), const void *arg)
{
	char msg[1024];
	char *err;
	ssize_t n;
	size_t len = 0;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		err = writer(arg);
		if (err != NULL && write(fds[1], err, strlen(err)) < 0)
			_exit(2);
		_exit(err != NULL ? 1 : 0);
	}
	close(fds[1]);
	while (len < sizeof msg - 1 &&
	    ((n = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	msg[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return NULL;
	return xasprintf("writer %s %d: %s", WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), msg);
}

/* After the writer died: a connection on the default VFS (recovering from the WAL alone
 * when remove_shm) sees want rows with the right content and a sound database. */
static void
check_reopened(bool remove_shm, long long want)
{
	sqlite3 *db;
	long long ok = 0;
	char *err;

	if (remove_shm)
		remove_file("-shm");
	err = open_conn(NULL, "FULL", &db);
	ck_assert_msg(err == NULL, "%s", err);
	err = check_rows(db, want, "reopened");
	ck_assert_msg(err == NULL, "%s", err);
	err = query_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE "
	    "integrity_check = 'ok'", &ok);
	ck_assert_msg(err == NULL, "%s", err);
	ck_assert_int_eq(ok, 1);
	sqlite3_close(db);
}

/* ------------------------------------------------------------------------------------------
 * Every commit reaches the file.
 */

struct tx_shape {
	int		 rows;
	int		 size;		/* bytes per row */
	int		 repeat;	/* transactions of this shape (1 when 0) */
};

struct durable_case {
	const char	*what;
	const char	*sync;		/* PRAGMA synchronous */
	int		 autockpt;	/* PRAGMA wal_autocheckpoint in pages; 0: SQLite's */
	bool		 remove_shm;	/* reopen from the WAL alone */
	struct tx_shape	 txs[5];	/* up to the first with rows == 0 */
};

static const struct durable_case durable_cases[] = {
	{ "small and medium commits, NORMAL", "NORMAL", 0, true,
	    { { 1, 10, 3 }, { 3, 200, 0 }, { 20, 1000, 2 }, { 1, 3000, 0 }, { 60, 4000, 0 } } },
	{ "small and medium commits, FULL", "FULL", 0, false,
	    { { 1, 10, 3 }, { 20, 1000, 2 }, { 60, 4000, 0 }, { 1, 10, 0 } } },
	{ "transactions larger than the buffer, NORMAL", "NORMAL", 0, true,
	    { { 200, 4000, 0 }, { 1, 700000, 0 }, { 2, 10, 0 } } },
	{ "transactions larger than the buffer, FULL", "FULL", 0, true,
	    { { 1, 700000, 0 }, { 200, 4000, 0 }, { 2, 10, 0 } } },
	{ "checkpoints start the WAL over", "NORMAL", 8, true,
	    { { 10, 1000, 40 }, { 1, 20000, 5 }, { 1, 10, 0 } } },
	{ "checkpoints start the WAL over, wal-index kept", "FULL", 8, false,
	    { { 10, 1000, 40 }, { 1, 10, 0 } } },
};

static long long
case_rows(const struct durable_case *c)
{
	long long n = 0;
	size_t i;

	for (i = 0; i < CHECK_NELEM(c->txs) && c->txs[i].rows > 0; i++)
		n += (long long)c->txs[i].rows * (c->txs[i].repeat > 0 ? c->txs[i].repeat : 1);
	return n;
}

/* One commit through the shim, with the writes it cost: one when its frames fit one write
 * (the WAL grows by what was written, unless a checkpoint started it over), else about one
 * per STORE_VFS_WRITE_MAX bytes. */
static char *
commit_counted(sqlite3 *db, const struct durable_case *c, const struct tx_shape *tx, int seed)
{
	struct store_vfs_counts before, after;
	long long size0, grown;
	uint64_t pwrites;
	char *err;

	size0 = wal_size();
	if ((err = exec_sql(db, "BEGIN IMMEDIATE")) != NULL ||
	    (err = insert_rows(db, tx->rows, tx->size, seed)) != NULL)
		return err;
	store_vfs_counts(&before);
	if ((err = exec_sql(db, "COMMIT")) != NULL)
		return err;
	store_vfs_counts(&after);
	pwrites = after.wal_pwrites - before.wal_pwrites;
	grown = wal_size() - size0;
	if (after.wal_writes - before.wal_writes < 2)
		return xasprintf("a commit of %d x %d bytes made %llu WAL writes", tx->rows,
		    tx->size, (unsigned long long)(after.wal_writes - before.wal_writes));
	if (c->autockpt > 0)
		return pwrites >= 1 ? NULL : xasprintf("a commit wrote nothing to the WAL");
	if (grown <= STORE_VFS_WRITE_MAX && pwrites != 1)
		return xasprintf("a commit of %lld WAL bytes took %llu writes", grown,
		    (unsigned long long)pwrites);
	/* Pieces of at least STORE_VFS_WRITE_MAX less a page, a short one where the buffer
	 * filled, and the last. */
	if (grown > STORE_VFS_WRITE_MAX && (pwrites < 2 || pwrites > (uint64_t)(grown /
	    (STORE_VFS_WRITE_MAX - 4095)) + (uint64_t)(grown / STORE_VFS_WAL_BUFFER) + 2))
		return xasprintf("a commit of %lld WAL bytes took %llu writes", grown,
		    (unsigned long long)pwrites);
	return NULL;
}

static char *
durable_writer(const void *arg)
{
	const struct durable_case *c = arg;
	sqlite3 *db, *other;
	long long total = 0;
	char *err, *sql;
	int i, r, seed = 1;

	if (!store_vfs_register())
		return xasprintf("the shim is not registered");
	if ((err = open_conn(store_vfs_name(), c->sync, &db)) != NULL)
		return err;
	sql = xasprintf("PRAGMA wal_autocheckpoint = %d", c->autockpt > 0 ? c->autockpt : 1000);
	err = exec_sql(db, sql);
	free(sql);
	if (err != NULL || (err = exec_sql(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, "
	    "seed INTEGER, n INTEGER, b BLOB)")) != NULL)
		return err;
	if ((err = open_conn(NULL, "FULL", &other)) != NULL)
		return err;
	for (i = 0; i < (int)CHECK_NELEM(c->txs) && c->txs[i].rows > 0; i++)
		for (r = 0; r < (c->txs[i].repeat > 0 ? c->txs[i].repeat : 1); r++) {
			if ((err = commit_counted(db, c, &c->txs[i], seed)) != NULL)
				return err;
			seed += c->txs[i].rows;
			total += c->txs[i].rows;
			if ((err = check_rows(other, total, "the default VFS's connection")) !=
			    NULL)
				return err;
		}
	return NULL;
}

START_TEST(test_every_commit_reaches_the_file)
{
	const struct durable_case *c = &durable_cases[_i];
	char *err;

	err = run_writer(durable_writer, c);
	ck_assert_msg(err == NULL, "%s: %s", c->what, err);
	check_reopened(c->remove_shm, case_rows(c));
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * A transaction larger than its cache: SQLite writes uncommitted frames to the WAL, reads
 * them back, overwrites them when a page changes again, and rewrites their checksums at
 * the commit.
 */

#define SPILL_ROWS	300
#define SPILL_SIZE	3000

static char *
spill_writer(const void *arg)
{
	struct store_vfs_counts before, mid, after;
	sqlite3 *db, *other;
	long long total = -1;
	char *err;

	(void)arg;
	if ((err = open_conn(store_vfs_name(), "NORMAL", &db)) != NULL ||
	    (err = exec_sql(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, seed INTEGER, "
	    "n INTEGER, b BLOB)")) != NULL ||
	    (err = insert_rows(db, 3, 100, 1)) != NULL ||
	    (err = exec_sql(db, "PRAGMA cache_size = 10")) != NULL)
		return err;
	store_vfs_counts(&before);
	if ((err = exec_sql(db, "BEGIN IMMEDIATE")) != NULL ||
	    (err = insert_rows(db, SPILL_ROWS, SPILL_SIZE, 1000)) != NULL ||
	    (err = check_rows(db, SPILL_ROWS + 3, "inside the transaction")) != NULL)
		return err;
	store_vfs_counts(&mid);
	if (mid.wal_writes == before.wal_writes)
		return xasprintf("the transaction did not spill to the WAL");
	/* The same pages change again: their frames in the WAL are overwritten. */
	if ((err = exec_sql(db, "UPDATE t SET seed = seed + 100000, b = "
	    CONTENT("n", "seed + 100000") " WHERE id % 2 = 0")) != NULL ||
	    (err = check_rows(db, SPILL_ROWS + 3, "after the update")) != NULL ||
	    (err = query_int(db, "SELECT sum(length(b)) FROM t", &total)) != NULL)
		return err;
	if (total != SPILL_ROWS * SPILL_SIZE + 3 * 100)
		return xasprintf("%lld bytes of content inside the transaction", total);
	if ((err = exec_sql(db, "COMMIT")) != NULL)
		return err;
	store_vfs_counts(&after);
	if (after.wal_rewrites == before.wal_rewrites)
		return xasprintf("no frame was written twice");
	if ((err = open_conn(NULL, "FULL", &other)) != NULL ||
	    (err = check_rows(other, SPILL_ROWS + 3, "the default VFS's connection")) != NULL ||
	    (err = query_int(other, "SELECT count(*) FROM t WHERE seed > 100000", &total)) !=
	    NULL)
		return err;
	if (total != (SPILL_ROWS + 3) / 2)
		return xasprintf("%lld rows updated, want %d", total, (SPILL_ROWS + 3) / 2);
	return NULL;
}

START_TEST(test_spilled_transaction_reads_back)
{
	char *err;

	err = run_writer(spill_writer, NULL);
	ck_assert_msg(err == NULL, "%s", err);
	check_reopened(_i == 0, SPILL_ROWS + 3);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * A write the kernel refuses (the file size limit, SIGXFSZ ignored) fails the COMMIT with an
 * I/O error; the database keeps the previous commit and takes the next one.
 */

struct fail_case {
	const char	*what;
	const char	*sync;
	long long	 slack;		/* bytes the WAL may still grow by */
	int		 rows;
	int		 size;
	bool		 remove_shm;
};

static const struct fail_case fail_cases[] = {
	{ "no room at all, NORMAL", "NORMAL", 0, 1, 100, true },
	{ "room for part of the frames, NORMAL", "NORMAL", 20000, 40, 4000, true },
	{ "room for part of the frames, FULL", "FULL", 20000, 40, 4000, false },
	{ "larger than the buffer, NORMAL", "NORMAL", 100000, 200, 4000, true },
};

#define FAIL_BASE_ROWS	5

static char *
fail_writer(const void *arg)
{
	const struct fail_case *c = arg;
	struct rlimit lim;
	sqlite3 *db;
	char *err;
	int rc;

	if ((err = open_conn(store_vfs_name(), c->sync, &db)) != NULL ||
	    (err = exec_sql(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, seed INTEGER, "
	    "n INTEGER, b BLOB)")) != NULL ||
	    (err = insert_rows(db, FAIL_BASE_ROWS, 1000, 1)) != NULL)
		return err;
	signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_FSIZE, &lim) != 0)
		return xasprintf("getrlimit: %s", strerror(errno));
	lim.rlim_cur = (rlim_t)(wal_size() + c->slack);
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		return xasprintf("setrlimit: %s", strerror(errno));
	if ((err = exec_sql(db, "BEGIN IMMEDIATE")) != NULL ||
	    (err = insert_rows(db, c->rows, c->size, 100)) != NULL)
		return err;
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if ((rc & 0xff) != SQLITE_IOERR && (rc & 0xff) != SQLITE_FULL)
		return werr(db, "COMMIT answered %d, want an I/O error", rc);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	lim.rlim_cur = lim.rlim_max;
	if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
		return xasprintf("setrlimit: %s", strerror(errno));
	if ((err = check_rows(db, FAIL_BASE_ROWS, "after the failed commit")) != NULL ||
	    (err = exec_sql(db, "BEGIN IMMEDIATE")) != NULL ||
	    (err = insert_rows(db, 1, 3000, 500)) != NULL ||
	    (err = exec_sql(db, "COMMIT")) != NULL)
		return err;
	return check_rows(db, FAIL_BASE_ROWS + 1, "after the next commit");
}

START_TEST(test_failed_write_fails_the_commit)
{
	const struct fail_case *c = &fail_cases[_i];
	char *err;

	err = run_writer(fail_writer, c);
	ck_assert_msg(err == NULL, "%s: %s", c->what, err);
	check_reopened(c->remove_shm, FAIL_BASE_ROWS + 1);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * The store's connections, and the switch.
 */

static const char *
vfs_of(sqlite3 *db)
{
	sqlite3_vfs *vfs = NULL;

	ck_assert_int_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs),
	    SQLITE_OK);
	ck_assert_ptr_nonnull(vfs);
	return vfs->zName;
}

START_TEST(test_store_opens_through_the_shim)
{
	static const char *const paths[] = { NULL, ":memory:" };
	struct store *st = NULL;
	char *cause = NULL;
	const char *path = paths[_i] != NULL ? paths[_i] : db_path;

	ck_assert_msg(store_open(path, &st, &cause) == 0, "store_open %s: %s", path, cause);
	ck_assert_str_eq(store_vfs_name(), "spotsweep");
	if (paths[_i] == NULL)
		ck_assert_str_eq(vfs_of(store_db(st)), "spotsweep");
	ck_assert_int_eq(sqlite3_exec(store_db(st), "CREATE TABLE x (v); INSERT INTO x "
	    "VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
	store_close(st);
}
END_TEST

/* In a process of its own (this binary run again), so that no earlier registration counts. */
static int
switch_off_probe(void)
{
	struct store *st = NULL;
	char *cause = NULL;
	int bad = 0;

	if (store_vfs_register() || store_vfs_name() != NULL)
		bad |= 1;
	if (store_open(":memory:", &st, &cause) != 0)
		bad |= 2;
	else if (sqlite3_vfs_find("spotsweep") != NULL)
		bad |= 4;
	store_close(st);
	return bad;
}

START_TEST(test_switch_off_leaves_the_default)
{
	static const char *const values[] = { "off", "0" };
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("SPOTSWEEP_WAL_BUFFER", values[_i], 1);
		execl("/proc/self/exe", "check_store_vfs", PROBE_ARG, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int
main(int argc, char **argv)
{
	/* Each test runs once per case of its table. */
	const struct {
		const char	*name;
		const TTest	*test;
		int		 ncases;
	} tests[] = {
		{ "durable", test_every_commit_reaches_the_file, (int)CHECK_NELEM(durable_cases) },
		{ "spill", test_spilled_transaction_reads_back, 2 },
		{ "failure", test_failed_write_fails_the_commit, (int)CHECK_NELEM(fail_cases) },
		{ "store", test_store_opens_through_the_shim, 2 },
		{ "switch", test_switch_off_leaves_the_default, 2 },
	};
	Suite *s;
	TCase *tc;
	size_t i;

	if (argc == 2 && strcmp(argv[1], PROBE_ARG) == 0)
		return switch_off_probe();
	/* The suite tests the shim whatever the caller's environment says. */
	unsetenv("SPOTSWEEP_WAL_BUFFER");
	s = suite_create("store_vfs");
	for (i = 0; i < CHECK_NELEM(tests); i++) {
		tc = tcase_create(tests[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, tests[i].test, 0, tests[i].ncases);
		suite_add_tcase(s, tc);
	}
	return check_run(s);
}
