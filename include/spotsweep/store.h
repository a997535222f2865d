/* The SQLite store: opening (WAL, foreign keys, busy timeout, migrations by user_version),
 * transactions, the prepared-statement cache, and the sweep-level reads and writes. Trial
 * state changes live in trial.c, not here. Library code: returns -1 with *cause, never prints. */
#ifndef SPOTSWEEP_STORE_H
#define SPOTSWEEP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <sqlite3.h>
#include <jansson.h>

#include "spotsweep/spec.h"
#include "spotsweep/util.h"

struct store;

enum store_sync { STORE_SYNC_NORMAL, STORE_SYNC_FULL };

/* Resolves the database path: explicit, else $SPOTSWEEP_DB, else ./spotsweep.db. */
const char *store_default_path(const char *explicit_path);
/* Opens (creating if needed) and migrates the database. */
int store_open(const char *path, struct store **out, char **cause);
void store_close(struct store *st);
sqlite3 *store_db(struct store *st);
/* synchronous=FULL for the daemon (a report is acknowledged only once on disk). */
int store_set_sync(struct store *st, enum store_sync mode, char **cause);

/* The newest schema version this build knows (PRAGMA user_version after migrations). */
int store_schema_version(void);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int store_begin(struct store *st, char **cause);
int store_commit(struct store *st, char **cause);
void store_rollback(struct store *st);
bool store_in_transaction(struct store *st);
/* Starts one atomic operation: BEGIN IMMEDIATE when no transaction is open (*own set), else a
 * SAVEPOINT inside the caller's transaction, so a failed operation never leaves half its
 * writes in a group commit. Pair with store_op_end. */
int store_op_begin(struct store *st, bool *own, char **cause);
/* Ends it: on ok commits (own) or releases the savepoint; otherwise undoes the operation's
 * writes. Returns -1 with *cause when the commit itself fails (nothing was then written). */
int store_op_end(struct store *st, bool own, bool ok, char **cause);
/* Inside a transaction: a savepoint around one request of a group commit, and its end
 * (keep: release it; else undo its changes first). */
int store_request_begin(struct store *st, char **cause);
void store_request_end(struct store *st, bool keep);

/* Returns a cached prepared statement for sql (reset, bindings cleared). The store owns it. */
sqlite3_stmt *store_stmt(struct store *st, const char *sql, char **cause);
/* Sets *cause from the database's last error, prefixed with what. Returns -1. */
int store_error(struct store *st, const char *what, char **cause);

/* Records an event (inside the caller's transaction, or on its own). ids may be 0 = none. */
int store_event(struct store *st, int64_t sweep_id, int64_t trial_id, int64_t attempt,
    const char *kind, const char *detail, char **cause);

/* Creates a sweep from a validated spec and streams its expansion into trials, in one
 * transaction; identical parameter sets are stored once. *ntrials is what was stored. */
int store_sweep_create(struct store *st, const struct spec *s, const char *spec_path,
    int64_t *sweep_id, uint64_t *ntrials, char **cause);
/* Adds one proposed trial to a sweep (bayes proposals): params is canonical JSON. *trial_id
 * is 0 when an identical parameter set already exists in the sweep. Keeps the sweep's state
 * counters right; the only way besides store_sweep_create to add trials. */
int store_trial_add(struct store *st, int64_t sweep_id, const char *params,
    int64_t *trial_id, char **cause);
/* Finds an existing sweep with this name and identical spec text; 0 in *sweep_id if none. */
int store_sweep_find(struct store *st, const char *name, const char *spec_text,
    int64_t *sweep_id, char **cause);

struct sweep_summary {
	int64_t		 id;
	char		*name;
	char		*method;
	char		*objective;	/* metric name, may be NULL */
	bool		 minimize;
	char		*state;		/* active | done | cancelled */
	double		 created_at;
	int64_t		 trials;
	int64_t		 by_state[8];	/* indexed by enum trial_state */
	bool		 has_best;
	int64_t		 best_trial;
	double		 best_value;
	char		*best_params;	/* JSON object text */
	/* early stopping, when trials were pruned (early-stop.c): the GPU-hours saved
	 * against running every pruned trial to `horizon` steps, and the steps pruned
	 * trials reached, lowest first (at most 8), with how many stopped at each */
	int64_t		 early_horizon;
	double		 early_gpu_hours_saved;
	size_t		 early_nsteps;
	int64_t		 early_step[8];
	int64_t		 early_count[8];
};
void sweep_summary_clear(struct sweep_summary *s);
/* Appends the summary as the contract's JSON object (`status --json`, GET /v1/sweeps/ID):
 * {"sweep_id","name","trials","pending",...,"best":{"trial_id","value"}|null}. */
void sweep_summary_json(const struct sweep_summary *s, struct buf *b);
/* The same object as a jansson value (new reference). */
json_t *sweep_summary_to_json(const struct sweep_summary *s);
/* Fills s for sweep id; -1 with cause "no sweep N" when absent. */
int store_sweep_summary(struct store *st, int64_t id, struct sweep_summary *s, char **cause);
/* The best succeeded trial of a sweep by its goal (ties: the older trial), served by the
 * trials_best index: 1 with *trial_id, *value and (if params is non-NULL) *params, 0 when
 * no trial succeeded with a value, -1 with *cause. */
int store_best_trial(struct store *st, int64_t sweep_id, bool minimize, int64_t *trial_id,
    double *value, char **params, char **cause);
/* All sweep ids, oldest first. Caller frees *ids. */
int store_sweep_ids(struct store *st, int64_t **ids, size_t *n, char **cause);
/* Loads the parsed spec of a stored sweep (from its stored text). */
int store_sweep_spec(struct store *st, int64_t id, struct spec **out, char **cause);

/* Registers a worker (or re-registers one with the same name and pool): *id is its row. */
int store_worker_register(struct store *st, const char *name, const char *pool,
    const char *pool_class, const char *hostname, int slots, double now, int64_t *id,
    char **cause);
/* Records that a worker was heard from; -1 with cause "no worker N" when unknown. */
int store_worker_seen(struct store *st, int64_t worker_id, double now, char **cause);

/* Appends s as a JSON string (quoted, escaped; control characters as \uXXXX). */
void json_add_string(struct buf *b, const char *s);

#endif
