/* The SQLite store's plumbing: opening a database (WAL, foreign keys, busy timeout), the
 * schema and its migrations, transactions and savepoints, the prepared-statement cache, the
 * event log and worker registration. Sweep-level reads and writes are in store-sweep.c;
 * every change of a trial's state is in trial.c.
 *
 * The schema is a list of migrations indexed by PRAGMA user_version: migration i takes a
 * database from version i to i + 1. A later change appends an entry and never edits an old
 * one, so any database written by an older build opens and upgrades in place. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/store-vfs.h"
#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"

#include "spotsweep/store-impl.h"

/*
 * Schema notes:
 * - trials.attempts is the current attempt number; a report naming any other attempt is
 *   stale. The sweeps.n_<state> counters are kept by trial.c (and store_trial_add) in the
 *   same transaction as every state change, so status is O(1) on a million-trial sweep.
 * - trials.params is the expander's canonical compact JSON (keys in spec order); the CSV
 *   export relies on that to avoid parsing every row.
 * - The partial index trials_pending (interrupted trials first, then by id) makes a lease
 *   an index probe whatever the backlog;
 *   trials_sweep keeps per-sweep listings in id order without a sort; trials_best finds the
 *   best succeeded value without a scan; attempts_open finds expired leases.
 * - metrics are keyed by (trial, attempt, name, step): a retried report replaces itself.
 * - trials_requeued holds only the pending trials that already ran, by preemption count, so
 *   that a lease restricted by the switching rules to some preemption counts is a few index
 *   probes (one per distinct count) rather than a scan.
 * - pools is written by `serve` from its config: each pool's class, GPUs and configured
 *   price, and its current price (PUT /v1/pools/NAME/price, price_command), which survives
 *   a restart and gives `cost` the on-demand price.
 * - trials.step is the furthest step any attempt of the trial reported (early stopping
 *   judges a trial only at steps it reached). rungs records each hyperband judgement
 *   (early-stop.c): the trial's value where it reached rung k, and whether it went on,
 *   was stopped there, or was later promoted; rungs_sweep ranks a rung by value.
 * - attempts.lease_secret is the random secret handed to the worker that leased the attempt
 *   (lease-secret.c): its reports must carry it and its worker id.
 * - workers.state is 'active' for agents; an SSH host (server-ssh.c) is 'up' or 'down' (its
 *   last connection failed: last_error says why, down_until when it is tried again).
 * - slurm_jobs holds the agent jobs `serve` submitted to Slurm (server-slurm.c): Slurm's job
 *   id and state as squeue last showed it, and the worker row (named slurm-JOBID) its agent
 *   registers as. ended_at is set once the job is gone; slurm_jobs_alive lists the others.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE sweeps ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  spec_path TEXT,"
	"  spec_text TEXT NOT NULL,"
	"  method TEXT NOT NULL,"
	"  objective TEXT,"
	"  goal TEXT NOT NULL CHECK (goal IN ('minimize', 'maximize')),"
	"  param_names TEXT NOT NULL,"
	"  metric_names TEXT NOT NULL,"
	"  max_trials INTEGER NOT NULL DEFAULT 0,"
	"  max_failures INTEGER NOT NULL,"
	"  max_preemptions INTEGER NOT NULL,"
	"  checkpoint_keep INTEGER NOT NULL,"
	"  timeout_s INTEGER,"
	"  deadline REAL,"
	"  target REAL,"
	"  wandb_shim INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'done', 'cancelled')),"
	"  n_trials INTEGER NOT NULL DEFAULT 0,"
	"  n_pending INTEGER NOT NULL DEFAULT 0,"
	"  n_running INTEGER NOT NULL DEFAULT 0,"
	"  n_succeeded INTEGER NOT NULL DEFAULT 0,"
	"  n_pruned INTEGER NOT NULL DEFAULT 0,"
	"  n_abandoned INTEGER NOT NULL DEFAULT 0,"
	"  n_cancelled INTEGER NOT NULL DEFAULT 0,"
	"  created_at REAL NOT NULL,"
	"  finished_at REAL"
	");"
	"CREATE INDEX sweeps_name ON sweeps(name);"
	"CREATE TABLE workers ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  pool TEXT,"
	"  pool_class TEXT,"
	"  hostname TEXT,"
	"  slots INTEGER NOT NULL DEFAULT 1,"
	"  state TEXT NOT NULL DEFAULT 'active',"
	"  registered_at REAL,"
	"  last_seen REAL,"
	"  fast_failures INTEGER NOT NULL DEFAULT 0,"
	"  paused_until REAL NOT NULL DEFAULT 0,"
	"  last_error TEXT,"
	"  down_until REAL NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX workers_name ON workers(name, pool);"
	"CREATE TABLE trials ("
	"  id INTEGER PRIMARY KEY,"
	"  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),"
	"  params TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"    ('pending', 'running', 'succeeded', 'pruned', 'abandoned', 'cancelled')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  preemptions INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  value REAL,"
	"  last_metrics TEXT,"
	"  reason TEXT,"
	"  not_before REAL NOT NULL DEFAULT 0,"
	"  last_pool TEXT,"
	"  runtime_s REAL NOT NULL DEFAULT 0,"
	"  gpu_hours REAL NOT NULL DEFAULT 0,"
	"  cost_usd REAL NOT NULL DEFAULT 0,"
	"  started_at REAL,"
	"  finished_at REAL,"
	"  UNIQUE (sweep_id, params)"
	");"
	"CREATE INDEX trials_sweep ON trials(sweep_id, id);"
	"CREATE INDEX trials_pending ON trials(sweep_id, attempts = 0, id)"
	"    WHERE state = 'pending';"
	"CREATE INDEX trials_best ON trials(sweep_id, value) WHERE state = 'succeeded';"
	"CREATE INDEX trials_requeued ON trials(sweep_id, preemptions, id)"
	"    WHERE state = 'pending' AND attempts > 0;"
	"CREATE TABLE attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  trial_id INTEGER NOT NULL REFERENCES trials(id),"
	"  attempt INTEGER NOT NULL,"
	"  worker_id INTEGER REFERENCES workers(id),"
	"  pool TEXT,"
	"  pool_class TEXT,"
	"  price_per_hour REAL,"
	"  gpus INTEGER NOT NULL DEFAULT 1,"
	"  started_at REAL NOT NULL,"
	"  ended_at REAL,"
	"  heartbeat_at REAL,"
	"  lease_expires REAL,"
	"  outcome TEXT CHECK (outcome IN"
	"    ('succeeded', 'failed', 'preempted', 'lost', 'cancelled', 'pruned')),"
	"  exit_code INTEGER,"
	"  reason TEXT,"
	"  log_tail TEXT,"
	"  resumed_from TEXT,"
	"  runtime_s REAL,"
	"  lease_secret TEXT,"
	"  UNIQUE (trial_id, attempt)"
	");"
	"CREATE INDEX attempts_open ON attempts(lease_expires) WHERE outcome IS NULL;"
	"CREATE INDEX attempts_worker ON attempts(worker_id) WHERE outcome IS NULL;"
	"CREATE TABLE metrics ("
	"  trial_id INTEGER NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  step INTEGER NOT NULL,"
	"  value REAL,"
	"  at REAL,"
	"  PRIMARY KEY (trial_id, attempt, name, step)"
	") WITHOUT ROWID;"
	"CREATE TABLE checkpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  trial_id INTEGER NOT NULL REFERENCES trials(id),"
	"  attempt INTEGER NOT NULL,"
	"  path TEXT NOT NULL,"
	"  step INTEGER,"
	"  at REAL,"
	"  UNIQUE (trial_id, path)"
	");"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  at REAL NOT NULL,"
	"  sweep_id INTEGER,"
	"  trial_id INTEGER,"
	"  attempt INTEGER,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT"
	");"
	"CREATE INDEX events_sweep ON events(sweep_id, id);"
	"CREATE TABLE pools ("
	"  name TEXT PRIMARY KEY,"
	"  class TEXT NOT NULL,"
	"  gpus_per_worker INTEGER NOT NULL DEFAULT 1,"
	"  configured_price REAL NOT NULL,"
	"  price_per_hour REAL NOT NULL,"
	"  price_at REAL,"
	"  price_source TEXT"
	");"
	"CREATE TABLE slurm_jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL,"
	"  pool TEXT NOT NULL,"
	"  worker_id INTEGER NOT NULL REFERENCES workers(id),"
	"  state TEXT NOT NULL DEFAULT 'PENDING',"
	"  reason TEXT,"
	"  node TEXT,"
	"  submitted_at REAL NOT NULL,"
	"  run_started_at REAL,"
	"  took_work INTEGER NOT NULL DEFAULT 0,"
	"  queued_seen_at REAL,"
	"  cancel_at REAL,"
	"  ended_at REAL"
	");"
	"CREATE INDEX slurm_jobs_alive ON slurm_jobs(pool, id) WHERE ended_at IS NULL;"
	"CREATE INDEX slurm_jobs_worker ON slurm_jobs(worker_id);",
	/* 1 -> 2: early stopping */
	"ALTER TABLE trials ADD COLUMN step INTEGER;"
	"CREATE TABLE rungs ("
	"  trial_id INTEGER NOT NULL REFERENCES trials(id),"
	"  rung INTEGER NOT NULL,"
	"  sweep_id INTEGER NOT NULL,"
	"  step INTEGER NOT NULL,"
	"  value REAL NOT NULL,"
	"  decision TEXT NOT NULL CHECK (decision IN ('continue', 'stop', 'promote')),"
	"  at REAL NOT NULL,"
	"  PRIMARY KEY (trial_id, rung)"
	") WITHOUT ROWID;"
	"CREATE INDEX rungs_sweep ON rungs(sweep_id, rung, value);"
	"CREATE INDEX trials_step ON trials(sweep_id, step) WHERE step IS NOT NULL;",
	/* 2 -> 3: the CHECKs on states and outcomes written as ORs of equalities, and no
	 * index on events. SQLite builds an IN list of more than two values as a temporary
	 * index each time it evaluates it, which was ~6% of the scheduler's CPU (every lease
	 * and finish checks trials.state). The constraints are the same, so the stored table
	 * definitions are edited in place, the documented way to change a CHECK
	 * (https://sqlite.org/lang_altertable.html, section 7; migrate() bumps
	 * schema_version). A definition that does not read as migration 0 wrote it is left as
	 * it is: still correct, only slower. */
	"PRAGMA writable_schema = ON;"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"    'CHECK (state IN    (''pending'', ''running'', ''succeeded'', ''pruned'','"
	"    || ' ''abandoned'', ''cancelled''))',"
	"    'CHECK (state = ''pending'' OR state = ''running'' OR state = ''succeeded'''"
	"    || ' OR state = ''pruned'' OR state = ''abandoned'' OR state = ''cancelled'')')"
	"  WHERE type = 'table' AND name = 'trials';"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"    'CHECK (outcome IN    (''succeeded'', ''failed'', ''preempted'', ''lost'','"
	"    || ' ''cancelled'', ''pruned''))',"
	"    'CHECK (outcome = ''succeeded'' OR outcome = ''failed'' OR outcome = ''preempted'''"
	"    || ' OR outcome = ''lost'' OR outcome = ''cancelled'' OR outcome = ''pruned'')')"
	"  WHERE type = 'table' AND name = 'attempts';"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"    'CHECK (state IN (''active'', ''done'', ''cancelled''))',"
	"    'CHECK (state = ''active'' OR state = ''done'' OR state = ''cancelled'')')"
	"  WHERE type = 'table' AND name = 'sweeps';"
	"UPDATE sqlite_schema SET sql = replace(sql,"
	"    'CHECK (decision IN (''continue'', ''stop'', ''promote''))',"
	"    'CHECK (decision = ''continue'' OR decision = ''stop'' OR decision = ''promote'')')"
	"  WHERE type = 'table' AND name = 'rungs';"
	"PRAGMA writable_schema = OFF;"
	/* Nothing reads events by sweep, and the index cost a B-tree insert (and a WAL page)
	 * on every state change; an ad hoc query of one sweep's events scans the table. */
	"DROP INDEX IF EXISTS events_sweep;",
	/* 3 -> 4: no index of a worker's open attempts. Only `spotsweep workers` and the SSH
	 * dispatcher's orphan check ask, and they scan attempts_open (the open attempts, as
	 * many as trials running); the index cost an insert, a delete and a WAL page on every
	 * lease and finish. */
	"DROP INDEX IF EXISTS attempts_worker;",
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* Large enough for the statements of the daemon's hot paths; grows if needed. */
#define STMT_CACHE_MIN	64

struct stmt_slot {
	uint64_t	 hash;
	sqlite3_stmt	*stmt;	/* NULL = empty slot */
};

/* Callers pass string literals, so the text's address finds its statement without hashing
 * the whole text (a hash of a few hundred bytes per call was ~3% of the scheduler's CPU);
 * a hit is still confirmed by comparing the text, since an address may be reused. */
#define STMT_BY_ADDR 256
struct stmt_by_addr {
	const char	*sql;
	sqlite3_stmt	*stmt;
};

struct store {
	sqlite3			*db;
	char			*path;
	struct stmt_slot	*slots;
	size_t			 nslots;	/* a power of two */
	size_t			 nused;
	struct stmt_by_addr	 by_addr[STMT_BY_ADDR];
};

static bool sqlite_configured;

int
store_schema_version(void)
{
	return NMIGRATIONS;
}

const char *
store_default_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path != NULL && *explicit_path != '\0')
		return explicit_path;
	env = getenv("SPOTSWEEP_DB");
	if (env != NULL && *env != '\0')
		return env;
	return "./spotsweep.db";
}

sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

/* The operating system's reason behind an I/O failure (" (No space left on device)"), or
 * "": SQLite's own message ("unable to open database file") does not say. A file that cannot
 * be opened is explained by the directory, where SQLite must create the -wal and -shm files
 * (the last errno is of its final attempt, often a mere ENOENT). */
static const char *
os_reason(sqlite3 *db, const char *path, char buf[512])
{
	int code = sqlite3_errcode(db) & 0xff, err = sqlite3_system_errno(db);
	const char *slash;
	char dir[256];

	buf[0] = '\0';
	if (code == SQLITE_CANTOPEN && path != NULL && strcmp(path, ":memory:") != 0) {
		slash = strrchr(path, '/');
		if (slash == NULL)
			snprintf(dir, sizeof dir, ".");
		else
			snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path),
			    path);
		if (access(dir, W_OK | X_OK) != 0)
			snprintf(buf, 512, " (cannot write in %s: %s)", dir, strerror(errno));
		else if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0)
			snprintf(buf, 512, " (%s)", strerror(errno));
		return buf;
	}
	if (err != 0 && (code == SQLITE_IOERR || code == SQLITE_READONLY || code == SQLITE_FULL))
		snprintf(buf, 512, " (%s)", strerror(err));
	return buf;
}

int
store_error(struct store *st, const char *what, char **cause)
{
	char reason[512];

	*cause = xasprintf("%s: %s: %s%s", st->path, what, sqlite3_errmsg(st->db),
	    os_reason(st->db, st->path, reason));
	return -1;
}

/* Runs a parameterless statement (pragmas, transaction control). */
static int
exec_simple(struct store *st, const char *sql, char **cause)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_error(st, sql, cause);
	return 0;
}

/* Runs a transaction-control statement (BEGIN, COMMIT, SAVEPOINT, RELEASE, ROLLBACK TO)
 * through the statement cache once it exists: they run several times per request, and
 * re-preparing them was a measurable part of the scheduler's CPU. */
static int
exec_tx(struct store *st, const char *sql, char **cause)
{
	sqlite3_stmt *stmt;
	char *ignored = NULL;
	int rc;

	if (cause == NULL)
		cause = &ignored;
	if (st->slots == NULL)
		rc = exec_simple(st, sql, cause);
	else if ((stmt = store_stmt(st, sql, cause)) == NULL)
		rc = -1;
	else
		rc = store_step_done(st, stmt, sql, cause);
	free(ignored);
	return rc;
}

/* Reads the one integer a pragma returns. */
static int
pragma_int(struct store *st, const char *sql, int64_t *out, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return store_error(st, sql, cause);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return store_error(st, sql, cause);
	return 0;
}

/* Brings the schema to the newest version inside one transaction, so a concurrent opener
 * either sees the old schema or the finished new one. */
static int
migrate(struct store *st, char **cause)
{
	int64_t version;
	char sql[64];
	int v;

	if (pragma_int(st, "PRAGMA user_version", &version, cause) != 0)
		return -1;
	if (version == NMIGRATIONS)
		return 0;
	if (version > NMIGRATIONS) {
		*cause = xasprintf("%s: database schema version %lld is newer than this "
		    "spotsweep understands (%d); upgrade spotsweep", st->path, (long long)version,
		    NMIGRATIONS);
		return -1;
	}
	/* Migration 2 -> 3 edits sqlite_schema, which a SQLite built to start in defensive mode
	 * would refuse; SQLite's own default is off, so this changes nothing elsewhere. */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 0, (int *)NULL);
	if (store_begin(st, cause) != 0)
		return -1;
	/* Read again under the write lock: another process may have migrated meanwhile. */
	if (pragma_int(st, "PRAGMA user_version", &version, cause) != 0)
		goto fail;
	for (v = (int)version; v < NMIGRATIONS; v++) {
		if (exec_simple(st, migrations[v], cause) != 0)
			goto fail;
	}
	/* Every connection (this one too) reads the schema again after a migration that edited
	 * sqlite_schema; DDL bumps the cookie itself, once more is harmless. */
	if (pragma_int(st, "PRAGMA schema_version", &version, cause) != 0)
		goto fail;
	snprintf(sql, sizeof sql, "PRAGMA schema_version = %lld", (long long)version + 1);
	if (exec_simple(st, sql, cause) != 0)
		goto fail;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", NMIGRATIONS);
	if (exec_simple(st, sql, cause) != 0)
		goto fail;
	return store_commit(st, cause);
fail:
	store_rollback(st);
	return -1;
}

int
store_open(const char *path, struct store **out, char **cause)
{
	struct store *st;
	sqlite3_stmt *stmt = NULL;
	char reason[512];
	int rc;

	*out = NULL;
	st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	/* Memory statistics cost a global mutex on every SQLite allocation and nothing reads
	 * them; the setting can only be made before SQLite initialises (MISUSE after: ignored). */
	if (!sqlite_configured) {
		sqlite_configured = true;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
		/* After the setting: registering a VFS initialises SQLite. */
		store_vfs_register();
	}
	/* A store's connection is used by one thread only (the flush thread of the scheduler
	 * touches the WAL file, not SQLite), so it needs no per-call mutex. Through the VFS
	 * that writes a commit's WAL frames in one write (store-vfs.h). */
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, store_vfs_name());
	if (rc != SQLITE_OK) {
		if (st->db == NULL)
			*cause = xasprintf("%s: cannot open database: out of memory", path);
		else
			*cause = xasprintf("%s: cannot open database: %s%s", path,
			    sqlite3_errmsg(st->db), os_reason(st->db, path, reason));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, 5000);
	/* journal_mode answers with the mode in force: "wal", or "memory" for :memory:. */
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		store_error(st, "cannot use it as a database", cause);
		goto fail;
	}
	if (strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") != 0 &&
	    strcmp((const char *)sqlite3_column_text(stmt, 0), "memory") != 0) {
		*cause = xasprintf("%s: cannot switch the database to WAL mode (journal mode %s)",
		    path, sqlite3_column_text(stmt, 0));
		sqlite3_finalize(stmt);
		goto fail;
	}
	sqlite3_finalize(stmt);
	/* A few MB of page cache: enough for the hot index pages, and a million-trial
	 * submit stays far below the memory budget. */
	if (exec_simple(st, "PRAGMA foreign_keys = ON", cause) != 0 ||
	    exec_simple(st, "PRAGMA synchronous = FULL", cause) != 0 ||
	    exec_simple(st, "PRAGMA cache_size = -4096", cause) != 0 ||
	    exec_simple(st, "PRAGMA temp_store = FILE", cause) != 0)
		goto fail;
	if (migrate(st, cause) != 0)
		goto fail;
	st->nslots = STMT_CACHE_MIN;
	st->slots = xcalloc(st->nslots, sizeof *st->slots);
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nslots; i++)
		sqlite3_finalize(st->slots[i].stmt);
	free(st->slots);
	if (st->db != NULL) {
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(st->db);
	}
	free(st->path);
	free(st);
}

int
store_set_sync(struct store *st, enum store_sync mode, char **cause)
{
	return exec_simple(st, mode == STORE_SYNC_FULL ? "PRAGMA synchronous = FULL" :
	    "PRAGMA synchronous = NORMAL", cause);
}

/* FNV-1a over the statement text: the cache is keyed by text, so a caller may build SQL in
 * a reused buffer without ever being handed another statement. */
static uint64_t
sql_hash(const char *sql)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *sql != '\0'; sql++) {
		h ^= (unsigned char)*sql;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Doubles the open-addressed table once it is half full. */
static void
stmt_cache_grow(struct store *st)
{
	struct stmt_slot *old = st->slots;
	size_t oldn = st->nslots, i, j;

	st->nslots *= 2;
	st->slots = xcalloc(st->nslots, sizeof *st->slots);
	for (i = 0; i < oldn; i++) {
		if (old[i].stmt == NULL)
			continue;
		for (j = old[i].hash & (st->nslots - 1); st->slots[j].stmt != NULL;
		    j = (j + 1) & (st->nslots - 1))
			;
		st->slots[j] = old[i];
	}
	free(old);
}

sqlite3_stmt *
store_stmt(struct store *st, const char *sql, char **cause)
{
	struct stmt_by_addr *a = &st->by_addr[((uintptr_t)sql >> 3) % STMT_BY_ADDR];
	uint64_t h;
	sqlite3_stmt *stmt;
	size_t i;

	if (a->sql == sql && strcmp(sqlite3_sql(a->stmt), sql) == 0) {
		stmt = a->stmt;
		goto found;
	}
	h = sql_hash(sql);
	for (i = h & (st->nslots - 1); st->slots[i].stmt != NULL; i = (i + 1) & (st->nslots - 1)) {
		if (st->slots[i].hash == h && strcmp(sqlite3_sql(st->slots[i].stmt), sql) == 0) {
			stmt = st->slots[i].stmt;
			a->sql = sql;
			a->stmt = stmt;
			goto found;
		}
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) !=
	    SQLITE_OK) {
		store_error(st, "preparing a statement", cause);
		return NULL;
	}
	if ((st->nused + 1) * 2 > st->nslots) {
		stmt_cache_grow(st);
		for (i = h & (st->nslots - 1); st->slots[i].stmt != NULL;
		    i = (i + 1) & (st->nslots - 1))
			;
	}
	st->slots[i].hash = h;
	st->slots[i].stmt = stmt;
	st->nused++;
	a->sql = sql;
	a->stmt = stmt;
	return stmt;
found:
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return stmt;
}

int
store_begin(struct store *st, char **cause)
{
	return exec_tx(st, "BEGIN IMMEDIATE", cause);
}

int
store_commit(struct store *st, char **cause)
{
	if (exec_tx(st, "COMMIT", cause) != 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		exec_tx(st, "ROLLBACK", NULL);
}

bool
store_in_transaction(struct store *st)
{
	return !sqlite3_get_autocommit(st->db);
}

int
store_op_begin(struct store *st, bool *own, char **cause)
{
	*own = !store_in_transaction(st);
	if (*own)
		return store_begin(st, cause);
	return exec_tx(st, "SAVEPOINT store_op", cause);
}

int
store_op_end(struct store *st, bool own, bool ok, char **cause)
{
	if (own) {
		if (ok)
			return store_commit(st, cause);
		store_rollback(st);
		return 0;
	}
	if (ok)
		return exec_tx(st, "RELEASE store_op", cause);
	/* ROLLBACK TO keeps the savepoint open; RELEASE then drops it, writing nothing. */
	exec_tx(st, "ROLLBACK TO store_op", NULL);
	exec_tx(st, "RELEASE store_op", NULL);
	return 0;
}

int
store_request_begin(struct store *st, char **cause)
{
	return exec_tx(st, "SAVEPOINT request", cause);
}

void
store_request_end(struct store *st, bool keep)
{
	if (!keep)
		exec_tx(st, "ROLLBACK TO request", NULL);
	exec_tx(st, "RELEASE request", NULL);
}

void
store_bind_id(sqlite3_stmt *stmt, int idx, int64_t id)
{
	if (id == 0)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_int64(stmt, idx, id);
}

void
store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

int
store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_error(st, what, cause);
		sqlite3_reset(stmt);
		return -1;
	}
	sqlite3_reset(stmt);
	return 0;
}

int
store_step_row(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		store_error(st, what, cause);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

char *
store_column_strdup(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);

	return s == NULL ? NULL : xstrdup((const char *)s);
}

int
store_event(struct store *st, int64_t sweep_id, int64_t trial_id, int64_t attempt,
    const char *kind, const char *detail, char **cause)
{
	sqlite3_stmt *stmt;

	stmt = store_stmt(st, "INSERT INTO events (at, sweep_id, trial_id, attempt, kind, detail)"
	    " VALUES (?, ?, ?, ?, ?, ?)", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now_wall());
	store_bind_id(stmt, 2, sweep_id);
	store_bind_id(stmt, 3, trial_id);
	store_bind_id(stmt, 4, attempt);
	store_bind_text(stmt, 5, kind);
	store_bind_text(stmt, 6, detail);
	return store_step_done(st, stmt, "recording an event", cause);
}

int
store_worker_register(struct store *st, const char *name, const char *pool,
    const char *pool_class, const char *hostname, int slots, double now, int64_t *id,
    char **cause)
{
	sqlite3_stmt *stmt;
	bool own;
	int rc;

	*id = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	/* An agent that restarts under the same name keeps its row (and its history). */
	stmt = store_stmt(st, "SELECT id FROM workers WHERE name = ?1 AND pool IS ?2"
	    " ORDER BY id DESC LIMIT 1", cause);
	if (stmt == NULL)
		goto fail;
	store_bind_text(stmt, 1, name);
	store_bind_text(stmt, 2, pool);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(stmt, 0);
	else if (rc != SQLITE_DONE) {
		store_error(st, "looking up a worker", cause);
		goto fail;
	}
	sqlite3_reset(stmt);
	if (*id != 0) {
		stmt = store_stmt(st, "UPDATE workers SET pool_class = ?2, hostname = ?3,"
		    " slots = ?4, state = 'active', registered_at = ?5, last_seen = ?5,"
		    " fast_failures = 0, paused_until = 0 WHERE id = ?1", cause);
		if (stmt == NULL)
			goto fail;
		sqlite3_bind_int64(stmt, 1, *id);
	} else {
		stmt = store_stmt(st, "INSERT INTO workers (name, pool, pool_class, hostname, slots,"
		    " registered_at, last_seen) VALUES (?6, ?7, ?2, ?3, ?4, ?5, ?5)", cause);
		if (stmt == NULL)
			goto fail;
		store_bind_text(stmt, 6, name);
		store_bind_text(stmt, 7, pool);
	}
	store_bind_text(stmt, 2, pool_class);
	store_bind_text(stmt, 3, hostname);
	sqlite3_bind_int(stmt, 4, slots);
	sqlite3_bind_double(stmt, 5, now);
	if (store_step_done(st, stmt, "registering a worker", cause) != 0)
		goto fail;
	if (*id == 0)
		*id = sqlite3_last_insert_rowid(st->db);
	return store_op_end(st, own, true, cause);
fail:
	*id = 0;
	store_op_end(st, own, false, NULL);
	return -1;
}

int
store_worker_seen(struct store *st, int64_t worker_id, double now, char **cause)
{
	sqlite3_stmt *stmt;

	stmt = store_stmt(st, "UPDATE workers SET last_seen = ? WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now);
	sqlite3_bind_int64(stmt, 2, worker_id);
	if (store_step_done(st, stmt, "updating a worker", cause) != 0)
		return -1;
	if (sqlite3_changes(st->db) != 1) {
		*cause = xasprintf("no worker %lld", (long long)worker_id);
		return -1;
	}
	return 0;
}

void
json_add_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p;

	buf_addc(b, '"');
	for (; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
			continue;
		buf_add(b, run, (size_t)(p - run));
		run = p + 1;
		switch (*p) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

			buf_add(b, u, sizeof u);
		}
		}
	}
	buf_add(b, run, (size_t)(p - run));
	buf_addc(b, '"');
}
