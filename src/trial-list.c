/* Listings of trials for the CLI (`trials`) and the HTTP API (GET /v1/sweeps/ID/trials):
 * a streaming walk over a sweep's trials in id order, and the listing's JSON object. Reads
 * only; state changes are trial.c's. */
#include <string.h>

#include <jansson.h>

#include "spotsweep/store-impl.h"
#include "spotsweep/trial.h"

/* Fills a listing row from the trial_foreach statement's columns. */
static void
row_from_stmt(sqlite3_stmt *stmt, struct trial_row *r)
{
	const char *state = (const char *)sqlite3_column_text(stmt, 2);

	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(stmt, 0);
	r->sweep_id = sqlite3_column_int64(stmt, 1);
	if (state == NULL || !trial_state_parse(state, &r->state))
		r->state = TRIAL_STATE_MAX;
	r->attempts = sqlite3_column_int64(stmt, 3);
	r->preemptions = sqlite3_column_int64(stmt, 4);
	r->failures = sqlite3_column_int64(stmt, 5);
	r->has_value = sqlite3_column_type(stmt, 6) != SQLITE_NULL;
	r->value = sqlite3_column_double(stmt, 6);
	r->params = (const char *)sqlite3_column_text(stmt, 7);
	r->last_metrics = (const char *)sqlite3_column_text(stmt, 8);
	r->reason = (const char *)sqlite3_column_text(stmt, 9);
	r->last_pool = (const char *)sqlite3_column_text(stmt, 10);
	r->runtime_s = sqlite3_column_double(stmt, 11);
	r->gpu_hours = sqlite3_column_double(stmt, 12);
	r->cost_usd = sqlite3_column_double(stmt, 13);
	r->started_at = sqlite3_column_double(stmt, 14);
	r->finished_at = sqlite3_column_double(stmt, 15);
	r->step = sqlite3_column_type(stmt, 16) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(stmt, 16);
	if (r->params == NULL)
		r->params = "{}";
}

int
trial_foreach(struct store *st, int64_t sweep_id, enum trial_state only, trial_row_fn *fn,
    void *arg, char **cause)
{
	sqlite3_stmt *stmt;
	struct trial_row r;
	int rc, ret = 0;

	stmt = store_stmt(st, "SELECT id, sweep_id, state, attempts, preemptions, failures,"
	    " value, params, last_metrics, reason, last_pool, runtime_s, gpu_hours, cost_usd,"
	    " started_at, finished_at, step FROM trials WHERE sweep_id = ?1"
	    " AND (?2 IS NULL OR state = ?2) ORDER BY id", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	if (only != TRIAL_STATE_MAX)
		store_bind_text(stmt, 2, trial_state_name(only));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		row_from_stmt(stmt, &r);
		if ((ret = fn(&r, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		store_error(st, "listing trials", cause);
		ret = -1;
	}
	sqlite3_reset(stmt);
	return ret;
}

void
trial_row_json(const struct trial_row *r, struct buf *b)
{
	buf_printf(b, "{\"trial_id\":%lld,\"state\":\"%s\",\"attempts\":%lld,"
	    "\"preemptions\":%lld,\"params\":", (long long)r->id, trial_state_name(r->state),
	    (long long)r->attempts, (long long)r->preemptions);
	buf_adds(b, r->params);
	buf_adds(b, ",\"value\":");
	if (r->has_value)
		buf_add_double(b, r->value);
	else
		buf_add(b, "null", 4);
	if (r->step >= 0)
		buf_printf(b, ",\"step\":%lld", (long long)r->step);
	else
		buf_adds(b, ",\"step\":null");
	buf_adds(b, ",\"reason\":");
	if (r->reason != NULL)
		json_add_string(b, r->reason);
	else
		buf_add(b, "null", 4);
	buf_addc(b, '}');
}

json_t *
trial_row_to_json(const struct trial_row *r)
{
	struct buf b = { 0 };
	json_t *j;

	trial_row_json(r, &b);
	j = json_loadb(b.data, b.len, 0, NULL);
	buf_free(&b);
	return j;
}
