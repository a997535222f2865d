/* Leasing, the half of the trial state machine that hands trials out (trial.c has the
 * rest): which pending trial a worker gets (interrupted ones first, the switching rules'
 * filter, a cost per lease bounded by the retry budget rather than the backlog), the
 * attempt it opens and the checkpoints it resumes from. The state change itself goes
 * through trial_set_state like every other. */
#include <stdlib.h>
#include <string.h>

#include "spotsweep/rules.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* The newest checkpoints of a trial (by step, then by report order): *newest is the first
 * ("" if none), *list the JSON array of at most keep of them. */
static int
load_checkpoints(struct store *st, int64_t trial_id, int64_t keep, char **newest,
    char **list, char **cause)
{
	sqlite3_stmt *stmt;
	struct buf b = { 0 };
	int64_t n = 0;
	int rc;

	*newest = NULL;
	*list = NULL;
	stmt = store_stmt(st, "SELECT path FROM checkpoints WHERE trial_id = ?"
	    " ORDER BY step DESC, id DESC LIMIT ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, keep > 1 ? keep : 1);
	buf_addc(&b, '[');
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(stmt, 0);

		if (*newest == NULL)
			*newest = xstrdup(path);
		if (n < keep) {
			if (n > 0)
				buf_addc(&b, ',');
			json_add_string(&b, path);
			n++;
		}
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(*newest);
		*newest = NULL;
		buf_free(&b);
		return store_error(st, "reading checkpoints", cause);
	}
	buf_addc(&b, ']');
	if (*newest == NULL)
		*newest = xstrdup("");
	*list = buf_steal(&b);
	return 0;
}

/* The best candidate of a filtered pick: interrupted trials first, then the lowest id. */
struct pick {
	int64_t	 id;
	bool	 fresh;		/* never started */
	char	*params;
};

/* Offers the row (id, params) that stmt is on. */
static void
pick_offer(struct pick *best, sqlite3_stmt *stmt, bool fresh)
{
	int64_t id = sqlite3_column_int64(stmt, 0);

	if (best->id != 0 && (fresh > best->fresh || (fresh == best->fresh && id > best->id)))
		return;
	free(best->params);
	best->id = id;
	best->fresh = fresh;
	best->params = store_column_strdup(stmt, 1);
}

/* Picks, within one sweep, among the leasable trials whose preemption count lies in one of
 * the ranges r (ascending). Never-started trials all have 0 preemptions: one probe of
 * trials_pending. Interrupted ones come from trials_requeued one distinct count at a time,
 * two probes per count present, so the cost is bounded by the retry budget, never by the
 * backlog. */
static int
pick_in_ranges(struct store *st, int64_t sweep_id, double now, const struct preempt_range *r,
    size_t nr, struct pick *best, char **cause)
{
	sqlite3_stmt *fresh, *next, *one;
	int64_t k, hi;
	size_t i;
	int found;

	fresh = store_stmt(st, "SELECT id, params FROM trials INDEXED BY trials_pending"
	    " WHERE sweep_id = ?1 AND state = 'pending' AND (attempts = 0) = 1"
	    " AND not_before <= ?2 ORDER BY id LIMIT 1", cause);
	next = store_stmt(st, "SELECT preemptions FROM trials INDEXED BY trials_requeued"
	    " WHERE sweep_id = ?1 AND state = 'pending' AND attempts > 0 AND preemptions >= ?2"
	    " AND preemptions < ?3 ORDER BY preemptions LIMIT 1", cause);
	one = store_stmt(st, "SELECT id, params FROM trials INDEXED BY trials_requeued"
	    " WHERE sweep_id = ?1 AND state = 'pending' AND attempts > 0 AND preemptions = ?2"
	    " AND not_before <= ?3 ORDER BY id LIMIT 1", cause);
	if (fresh == NULL || next == NULL || one == NULL)
		return -1;
	if (nr > 0 && r[0].lo <= 0) {
		sqlite3_bind_int64(fresh, 1, sweep_id);
		sqlite3_bind_double(fresh, 2, now);
		if ((found = store_step_row(st, fresh, "finding a pending trial", cause)) < 0)
			return -1;
		if (found == 1) {
			pick_offer(best, fresh, true);
			sqlite3_reset(fresh);
		}
	}
	for (i = 0; i < nr; i++) {
		hi = r[i].hi < 0 ? INT64_MAX : r[i].hi;
		for (k = r[i].lo > 0 ? r[i].lo : 0; k < hi; k++) {
			sqlite3_bind_int64(next, 1, sweep_id);
			sqlite3_bind_int64(next, 2, k);
			sqlite3_bind_int64(next, 3, hi);
			found = store_step_row(st, next, "finding a requeued trial", cause);
			if (found <= 0) {
				if (found < 0)
					return -1;
				break;
			}
			k = sqlite3_column_int64(next, 0);
			sqlite3_reset(next);
			sqlite3_bind_int64(one, 1, sweep_id);
			sqlite3_bind_int64(one, 2, k);
			sqlite3_bind_double(one, 3, now);
			if ((found = store_step_row(st, one, "finding a requeued trial", cause)) < 0)
				return -1;
			if (found == 1) {
				pick_offer(best, one, false);
				sqlite3_reset(one);
			}
		}
	}
	return 0;
}

/* Picks the oldest leasable trial: pending, backoff over, of an active sweep whose deadline
 * has not passed, oldest sweep first, among the trials req->allowed lets this worker take.
 * Each sweep costs one probe of the trials_pending index, so a lease does not slow down as
 * the backlog grows (one planner-proof query per sweep rather than a join the planner might
 * answer by sorting every pending trial); a filtered sweep costs what pick_in_ranges says. */
static int
pick_trial(struct store *st, const struct lease_request *req, struct trial_ctx *c,
    char **params, char **cause)
{
	sqlite3_stmt *sweeps, *trials;
	const struct preempt_range *ranges;
	struct pick best = { 0, false, NULL };
	double now = req->now;
	int64_t id = 0, sweep_id;
	size_t nr;
	int rc, found;

	*params = NULL;
	sweeps = store_stmt(st, "SELECT id, deadline FROM sweeps WHERE state = 'active'"
	    " AND n_pending > 0 AND (deadline IS NULL OR deadline > ?) ORDER BY id", cause);
	if (sweeps == NULL)
		return TRIAL_ERROR;
	/* Interrupted trials (attempts > 0) go ahead of never-started ones: their checkpoints
	 * are fresh and their work so far is already paid for. */
	trials = store_stmt(st, "SELECT id, params FROM trials WHERE sweep_id = ?"
	    " AND state = 'pending' AND not_before <= ? ORDER BY attempts = 0, id LIMIT 1",
	    cause);
	if (trials == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_double(sweeps, 1, now);
	while ((rc = sqlite3_step(sweeps)) == SQLITE_ROW) {
		sweep_id = sqlite3_column_int64(sweeps, 0);
		if (req->allowed != NULL) {
			ranges = req->allowed(req->allowed_arg, sweep_id,
			    sqlite3_column_double(sweeps, 1), &nr);
			if (nr != 1 || ranges[0].lo > 0 || ranges[0].hi >= 0) {
				if (pick_in_ranges(st, sweep_id, now, ranges, nr, &best,
				    cause) != 0) {
					sqlite3_reset(sweeps);
					free(best.params);
					return TRIAL_ERROR;
				}
				if (best.id == 0)
					continue;
				id = best.id;
				*params = best.params;
				break;
			}
		}
		sqlite3_bind_int64(trials, 1, sweep_id);
		sqlite3_bind_double(trials, 2, now);
		found = store_step_row(st, trials, "finding a pending trial", cause);
		if (found < 0) {
			sqlite3_reset(sweeps);
			return TRIAL_ERROR;
		}
		if (found == 1) {
			id = sqlite3_column_int64(trials, 0);
			*params = store_column_strdup(trials, 1);
			sqlite3_reset(trials);
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_error(st, "finding a sweep to lease from", cause);
		sqlite3_reset(sweeps);
		return TRIAL_ERROR;
	}
	sqlite3_reset(sweeps);
	if (id == 0)
		return 0;
	rc = trial_load(st, id, c, cause);
	if (rc != TRIAL_OK) {
		free(*params);
		*params = NULL;
		return rc;
	}
	return 1;
}

int
trial_lease(struct store *st, const struct lease_request *req, struct lease *l, char **cause)
{
	struct trial_ctx c = { 0 };
	sqlite3_stmt *stmt;
	char *params = NULL;
	bool own;
	int rc;

	memset(l, 0, sizeof *l);
	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	rc = pick_trial(st, req, &c, &params, cause);
	if (rc != 1)
		goto out;
	l->sweep_id = c.sweep_id;
	l->trial_id = c.id;
	l->attempt = c.attempts + 1;
	l->params = params;
	l->preemptions = c.preemptions;
	l->lease_expires = req->now + req->lease_timeout_s;
	params = NULL;
	c.attempts = l->attempt;
	c.not_before = 0;
	c.row.lease = true;
	c.row.started_at = req->now;
	c.row.pool = req->pool;
	if ((rc = trial_set_state(st, &c, TRIAL_RUNNING, NULL, l->attempt, req->now, cause)) != 0)
		goto out;
	rc = TRIAL_ERROR;
	/* Checkpoints come from earlier attempts: a first attempt has none to resume. */
	if (l->attempt == 1) {
		l->resume_from = xstrdup("");
		l->checkpoints = xstrdup("[]");
	} else if (load_checkpoints(st, c.id, c.checkpoint_keep, &l->resume_from,
	    &l->checkpoints, cause) != 0)
		goto out;
	stmt = store_stmt(st, "INSERT INTO attempts (trial_id, attempt, worker_id, pool,"
	    " pool_class, price_per_hour, gpus, started_at, heartbeat_at, lease_expires,"
	    " resumed_from, lease_secret) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10,"
	    " ?11)", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, c.id);
	sqlite3_bind_int64(stmt, 2, l->attempt);
	store_bind_id(stmt, 3, req->worker_id);
	store_bind_text(stmt, 4, req->pool);
	store_bind_text(stmt, 5, req->pool_class);
	sqlite3_bind_double(stmt, 6, req->price_per_hour);
	sqlite3_bind_int(stmt, 7, req->gpus > 0 ? req->gpus : 1);
	sqlite3_bind_double(stmt, 8, req->now);
	sqlite3_bind_double(stmt, 9, l->lease_expires);
	store_bind_text(stmt, 10, l->resume_from[0] != '\0' ? l->resume_from : NULL);
	store_bind_text(stmt, 11, req->lease_secret);
	if (store_step_done(st, stmt, "recording an attempt", cause) != 0)
		goto out;
	rc = 1;
out:
	free(params);
	trial_ctx_clear(&c);
	rc = trial_op_end(st, own, rc, cause);
	if (rc != 1)
		lease_clear(l);
	return rc;
}

