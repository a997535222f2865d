/* The SQLite store: opening (WAL, foreign keys, busy timeout, migrations by user_version),
 * transactions, the prepared-statement cache, and the sweep-level reads and writes. Trial
 * state changes live in trial.c, not here. Library code: returns -1 with *cause, never prints. */
#ifndef SPOTSWEEP_STORE_H
#define SPOTSWEEP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "spotsweep/spec.h"

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

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int store_begin(struct store *st, char **cause);
int store_commit(struct store *st, char **cause);
void store_rollback(struct store *st);
bool store_in_transaction(struct store *st);

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
};
void sweep_summary_clear(struct sweep_summary *s);
/* Fills s for sweep id; -1 with cause "no sweep N" when absent. */
int store_sweep_summary(struct store *st, int64_t id, struct sweep_summary *s, char **cause);
/* All sweep ids, oldest first. Caller frees *ids. */
int store_sweep_ids(struct store *st, int64_t **ids, size_t *n, char **cause);
/* Loads the parsed spec of a stored sweep (from its stored text). */
int store_sweep_spec(struct store *st, int64_t id, struct spec **out, char **cause);

#endif
