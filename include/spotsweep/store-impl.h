/* Helpers shared by the store's own modules (store.c, store-sweep.c, trial.c, csv.c): binding,
 * stepping and copying columns with the store's error reporting. Not a public interface. */
#ifndef SPOTSWEEP_STORE_IMPL_H
#define SPOTSWEEP_STORE_IMPL_H

#include <stdint.h>
#include <sqlite3.h>

#include "spotsweep/store.h"

/* Binds an id, or NULL for 0 (= none). */
void store_bind_id(sqlite3_stmt *stmt, int idx, int64_t id);
/* Binds a string without copying (NULL binds SQL NULL): s must outlive the statement's
 * next reset, which every caller here does before returning. */
void store_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
/* Steps a statement run for its effect and resets it; -1 with *cause on error. */
int store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause);
/* Steps a single-row query: 1 = a row (the statement is left on it), 0 = none (reset),
 * -1 = error with *cause (reset). */
int store_step_row(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause);
/* Copies a text column (xstrdup); SQL NULL gives NULL. */
char *store_column_strdup(sqlite3_stmt *stmt, int col);

#endif
