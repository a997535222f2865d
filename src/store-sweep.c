/* Sweep-level reads and writes of the store: creating a sweep and streaming its expansion
 * into trials, adding proposed trials, finding sweeps, and the summary that `status` and
 * GET /v1/sweeps show. Trial state changes are trial.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/early-stop.h"
#include "spotsweep/expand.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

/* Inserts the sweep row; the trial counters are set once the trials are in. */
static int
insert_sweep(struct store *st, const struct spec *s, const char *spec_path, int64_t *id,
    char **cause)
{
	sqlite3_stmt *stmt;
	char *param_names, *metric_names;
	int rc;

	stmt = store_stmt(st, "INSERT INTO sweeps (name, spec_path, spec_text, method, objective,"
	    " goal, param_names, metric_names, max_trials, max_failures, max_preemptions,"
	    " checkpoint_keep, timeout_s, deadline, created_at, target, wandb_shim)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cause);
	if (stmt == NULL)
		return -1;
	param_names = spec_param_names_json(s);
	metric_names = spec_metric_names_json(s);
	store_bind_text(stmt, 1, s->name != NULL ? s->name : "");
	store_bind_text(stmt, 2, spec_path);
	store_bind_text(stmt, 3, s->text != NULL ? s->text : "");
	store_bind_text(stmt, 4, spec_method_name(s->method));
	store_bind_text(stmt, 5, s->objective.name);
	store_bind_text(stmt, 6, s->minimize ? "minimize" : "maximize");
	store_bind_text(stmt, 7, param_names);
	store_bind_text(stmt, 8, metric_names);
	sqlite3_bind_int64(stmt, 9, s->max_trials);
	sqlite3_bind_int64(stmt, 10, s->max_failures);
	sqlite3_bind_int64(stmt, 11, s->max_preemptions);
	sqlite3_bind_int64(stmt, 12, s->checkpoint_keep);
	if (s->timeout_s > 0)
		sqlite3_bind_int64(stmt, 13, s->timeout_s);
	if (s->deadline > 0)
		sqlite3_bind_double(stmt, 14, s->deadline);
	sqlite3_bind_double(stmt, 15, now_wall());
	/* metric.target, for trial_finish; the shim flag may come from --wandb-shim */
	if (s->has_target)
		sqlite3_bind_double(stmt, 16, s->target);
	sqlite3_bind_int(stmt, 17, s->wandb_shim);
	rc = store_step_done(st, stmt, "storing the sweep", cause);
	free(param_names);
	free(metric_names);
	if (rc != 0)
		return -1;
	*id = sqlite3_last_insert_rowid(store_db(st));
	return 0;
}

/* Streams the expander into trials with one prepared INSERT OR IGNORE; the UNIQUE
 * (sweep_id, params) constraint drops duplicates. Nothing per row but the insert itself. */
static int
insert_trials(struct store *st, const struct spec *s, int64_t sweep_id, uint64_t *n,
    char **cause)
{
	sqlite3 *db = store_db(st);
	struct expander *e;
	sqlite3_stmt *stmt;
	struct buf b = { 0 };
	int rc = 0;

	*n = 0;
	if ((e = expander_create(s, cause)) == NULL)
		return -1;
	stmt = store_stmt(st, "INSERT OR IGNORE INTO trials (sweep_id, params) VALUES (?, ?)",
	    cause);
	if (stmt == NULL) {
		expander_free(e);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, sweep_id);
	while (expander_next(e, &b)) {
		sqlite3_bind_text(stmt, 2, b.data, (int)b.len, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			rc = store_error(st, "storing trials", cause);
			break;
		}
		sqlite3_reset(stmt);
		*n += (uint64_t)sqlite3_changes(db);
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	buf_free(&b);
	expander_free(e);
	return rc;
}

int
store_sweep_create(struct store *st, const struct spec *s, const char *spec_path,
    int64_t *sweep_id, uint64_t *ntrials, char **cause)
{
	sqlite3_stmt *stmt;
	char *detail;
	bool own;
	int rc;

	*sweep_id = 0;
	*ntrials = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	if (insert_sweep(st, s, spec_path, sweep_id, cause) != 0)
		goto fail;
	/* bayes proposes its trials as results arrive (store_trial_add). */
	if (s->method != METHOD_BAYES && insert_trials(st, s, *sweep_id, ntrials, cause) != 0)
		goto fail;
	stmt = store_stmt(st, "UPDATE sweeps SET n_trials = ?2, n_pending = ?2 WHERE id = ?1",
	    cause);
	if (stmt == NULL)
		goto fail;
	sqlite3_bind_int64(stmt, 1, *sweep_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)*ntrials);
	if (store_step_done(st, stmt, "counting trials", cause) != 0)
		goto fail;
	detail = xasprintf("{\"trials\":%llu}", (unsigned long long)*ntrials);
	rc = store_event(st, *sweep_id, 0, 0, "sweep.submitted", detail, cause);
	free(detail);
	if (rc != 0)
		goto fail;
	if (store_op_end(st, own, true, cause) != 0)
		goto undo;
	return 0;
fail:
	store_op_end(st, own, false, NULL);
undo:
	*sweep_id = 0;
	*ntrials = 0;
	return -1;
}

int
store_trial_add(struct store *st, int64_t sweep_id, const char *params, int64_t *trial_id,
    char **cause)
{
	sqlite3_stmt *stmt;
	bool own;

	*trial_id = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	stmt = store_stmt(st, "INSERT OR IGNORE INTO trials (sweep_id, params) VALUES (?, ?)",
	    cause);
	if (stmt == NULL)
		goto fail;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	store_bind_text(stmt, 2, params);
	if (store_step_done(st, stmt, "adding a trial", cause) != 0)
		goto fail;
	if (sqlite3_changes(store_db(st)) == 1) {
		*trial_id = sqlite3_last_insert_rowid(store_db(st));
		/* A new trial reopens a sweep that had finished everything proposed so far. */
		stmt = store_stmt(st, "UPDATE sweeps SET n_trials = n_trials + 1,"
		    " n_pending = n_pending + 1, finished_at = CASE state WHEN 'done' THEN NULL"
		    " ELSE finished_at END, state = CASE state WHEN 'done' THEN 'active'"
		    " ELSE state END WHERE id = ?", cause);
		if (stmt == NULL)
			goto fail;
		sqlite3_bind_int64(stmt, 1, sweep_id);
		if (store_step_done(st, stmt, "counting trials", cause) != 0)
			goto fail;
	}
	if (store_op_end(st, own, true, cause) != 0) {
		*trial_id = 0;
		return -1;
	}
	return 0;
fail:
	*trial_id = 0;
	store_op_end(st, own, false, NULL);
	return -1;
}

int
store_sweep_find(struct store *st, const char *name, const char *spec_text,
    int64_t *sweep_id, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	*sweep_id = 0;
	stmt = store_stmt(st, "SELECT id FROM sweeps WHERE name = ? AND spec_text = ?"
	    " ORDER BY id DESC LIMIT 1", cause);
	if (stmt == NULL)
		return -1;
	store_bind_text(stmt, 1, name);
	store_bind_text(stmt, 2, spec_text);
	rc = store_step_row(st, stmt, "finding a sweep", cause);
	if (rc == 1) {
		*sweep_id = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	return rc < 0 ? -1 : 0;
}

void
sweep_summary_clear(struct sweep_summary *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->method);
	free(s->objective);
	free(s->state);
	free(s->best_params);
	memset(s, 0, sizeof *s);
}

/* The best succeeded trial by the sweep's goal; ties go to the older trial. Both orders
 * are served by the trials_best index without a sort of the sweep's trials. */
int
store_best_trial(struct store *st, int64_t sweep_id, bool minimize, int64_t *trial_id,
    double *value, char **params, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	if (minimize)
		stmt = store_stmt(st, "SELECT id, value, params FROM trials WHERE sweep_id = ?"
		    " AND state = 'succeeded' AND value IS NOT NULL ORDER BY value, id LIMIT 1",
		    cause);
	else
		stmt = store_stmt(st, "SELECT id, value, params FROM trials WHERE sweep_id = ?"
		    " AND state = 'succeeded' AND value IS NOT NULL ORDER BY value DESC, id"
		    " LIMIT 1", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	rc = store_step_row(st, stmt, "finding the best trial", cause);
	if (rc == 1) {
		*trial_id = sqlite3_column_int64(stmt, 0);
		*value = sqlite3_column_double(stmt, 1);
		if (params != NULL)
			*params = store_column_strdup(stmt, 2);
		sqlite3_reset(stmt);
	}
	return rc;
}

static int
find_best(struct store *st, struct sweep_summary *s, char **cause)
{
	int rc;

	rc = store_best_trial(st, s->id, s->minimize, &s->best_trial, &s->best_value,
	    &s->best_params, cause);
	s->has_best = rc == 1;
	return rc < 0 ? -1 : 0;
}

/* What early stopping saved, once a trial was pruned (the spec gives max_iter). */
static int
early_summary(struct store *st, struct sweep_summary *s, char **cause)
{
	struct early_summary e;
	struct spec *spec = NULL;
	int64_t max_iter = 0;
	size_t i;

	if (s->by_state[TRIAL_PRUNED] == 0)
		return 0;
	if (store_sweep_spec(st, s->id, &spec, cause) != 0)
		return -1;
	if (spec->early_stop == EARLY_HYPERBAND)
		max_iter = spec->early_max_iter;
	spec_free(spec);
	if (early_stop_summary(st, s->id, max_iter, &e, cause) != 0)
		return -1;
	s->early_horizon = e.horizon;
	s->early_gpu_hours_saved = e.gpu_hours_saved;
	for (i = 0; i < e.nsteps && i < sizeof s->early_step / sizeof s->early_step[0]; i++) {
		s->early_step[i] = e.step[i];
		s->early_count[i] = e.count[i];
	}
	s->early_nsteps = i;
	return 0;
}

int
store_sweep_summary(struct store *st, int64_t id, struct sweep_summary *s, char **cause)
{
	sqlite3_stmt *stmt;
	int rc, i;

	memset(s, 0, sizeof *s);
	stmt = store_stmt(st, "SELECT name, method, objective, goal, state, created_at, n_trials,"
	    " n_pending, n_running, n_succeeded, n_pruned, n_abandoned, n_cancelled"
	    " FROM sweeps WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = store_step_row(st, stmt, "reading a sweep", cause);
	if (rc <= 0) {
		if (rc == 0)
			*cause = xasprintf("no sweep %lld", (long long)id);
		return -1;
	}
	s->id = id;
	s->name = store_column_strdup(stmt, 0);
	s->method = store_column_strdup(stmt, 1);
	s->objective = store_column_strdup(stmt, 2);
	s->minimize = strcmp((const char *)sqlite3_column_text(stmt, 3), "maximize") != 0;
	s->state = store_column_strdup(stmt, 4);
	s->created_at = sqlite3_column_double(stmt, 5);
	s->trials = sqlite3_column_int64(stmt, 6);
	/* The counters follow enum trial_state from pending to cancelled. */
	for (i = TRIAL_PENDING; i < TRIAL_STATE_MAX; i++)
		s->by_state[i] = sqlite3_column_int64(stmt, 7 + i);
	sqlite3_reset(stmt);
	if (find_best(st, s, cause) != 0 || early_summary(st, s, cause) != 0) {
		sweep_summary_clear(s);
		return -1;
	}
	return 0;
}

void
sweep_summary_json(const struct sweep_summary *s, struct buf *b)
{
	size_t i;

	buf_printf(b, "{\"sweep_id\":%lld,\"name\":", (long long)s->id);
	json_add_string(b, s->name != NULL ? s->name : "");
	buf_printf(b, ",\"trials\":%lld", (long long)s->trials);
	for (i = TRIAL_PENDING; i < TRIAL_STATE_MAX; i++)
		buf_printf(b, ",\"%s\":%lld", trial_state_name((enum trial_state)i),
		    (long long)s->by_state[i]);
	if (s->by_state[TRIAL_PRUNED] > 0) {
		buf_printf(b, ",\"early_stopping\":{\"horizon\":%lld,\"gpu_hours_saved\":",
		    (long long)s->early_horizon);
		buf_add_double(b, s->early_gpu_hours_saved);
		buf_adds(b, ",\"pruned_at\":[");
		for (i = 0; i < s->early_nsteps; i++)
			buf_printf(b, "%s{\"step\":%lld,\"trials\":%lld}", i > 0 ? "," : "",
			    (long long)s->early_step[i], (long long)s->early_count[i]);
		buf_adds(b, "]}");
	}
	if (s->has_best) {
		buf_printf(b, ",\"best\":{\"trial_id\":%lld,\"value\":", (long long)s->best_trial);
		buf_add_double(b, s->best_value);
		buf_add(b, "}}", 2);
	} else
		buf_adds(b, ",\"best\":null}");
}

json_t *
sweep_summary_to_json(const struct sweep_summary *s)
{
	struct buf b = { 0 };
	json_t *j;

	sweep_summary_json(s, &b);
	j = json_loadb(b.data, b.len, 0, NULL);
	buf_free(&b);
	return j;
}

int
store_sweep_ids(struct store *st, int64_t **ids, size_t *n, char **cause)
{
	sqlite3_stmt *stmt;
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	stmt = store_stmt(st, "SELECT id FROM sweeps ORDER BY id", cause);
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*ids = xreallocarray(*ids, cap, sizeof **ids);
		}
		(*ids)[(*n)++] = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(*ids);
		*ids = NULL;
		*n = 0;
		return store_error(st, "listing sweeps", cause);
	}
	return 0;
}

int
store_sweep_spec(struct store *st, int64_t id, struct spec **out, char **cause)
{
	sqlite3_stmt *stmt;
	char *path, *text;
	size_t len;
	bool wandb_shim;
	int rc;

	*out = NULL;
	stmt = store_stmt(st, "SELECT spec_path, spec_text, wandb_shim FROM sweeps WHERE id = ?",
	    cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = store_step_row(st, stmt, "reading a sweep", cause);
	if (rc <= 0) {
		if (rc == 0)
			*cause = xasprintf("no sweep %lld", (long long)id);
		return -1;
	}
	/* The path names the format and appears in messages; the text is what was submitted.
	 * Without a path the text tells JSON from YAML. */
	if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
		path = xasprintf("sweep-%lld", (long long)id);
	else
		path = store_column_strdup(stmt, 0);
	len = (size_t)sqlite3_column_bytes(stmt, 1);
	text = xstrndup((const char *)sqlite3_column_text(stmt, 1), len);
	wandb_shim = sqlite3_column_int(stmt, 2) != 0;
	sqlite3_reset(stmt);
	rc = spec_parse(path, text, len, out, cause);
	if (rc == 0 && wandb_shim)
		(*out)->wandb_shim = true;
	free(path);
	free(text);
	return rc;
}
