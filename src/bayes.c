/* Proposals for `method: bayes` sweeps. A bayes sweep is stored with no trials; each time a
 * worker asks for work and the sweep has room, bayes_fill() asks tpe.c for one more point
 * and stores it as a pending trial, which the lease then hands out. Proposing on demand,
 * rather than ahead, gives every proposal the most results to learn from.
 *
 * The history TPE learns from is the sweep's trials: succeeded ones with their value,
 * pruned ones with the step they reached, pending and running ones as points with no result
 * yet (the constant liar in tpe.c keeps parallel proposals apart). Abandoned and cancelled
 * trials say nothing about the objective and are left out. Reading it is one pass over the
 * sweep's trials in id order; each trial's parameter JSON is parsed into coordinates only
 * the first time it is seen (the cache is keyed by id and a hash of the parameter text, so
 * a trial id reused after a rolled-back transaction is parsed again).
 *
 * A proposal is seeded by the spec's seed and the trial's index, so a sweep replays the same
 * proposals for the same results in the same order. A proposal equal to a trial the sweep
 * already has (the store keeps a parameter set once) is drawn again with the next seed,
 * falling back to random draws; when BAYES_MAX_TRIES are all taken the space is used up:
 * the sweep's cap drops to the trials it has, and it finishes with them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/bayes.h"
#include "spotsweep/expand.h"
#include "spotsweep/log.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/tpe.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

/* One trial's coordinates. */
struct bayes_point {
	int64_t	 id;
	uint64_t hash;		/* of its parameter text */
	bool	 ok;		/* parsed into the space; false: not a point of it */
	double	*x;
};

struct bayes_sweep {
	int64_t			 sweep_id;
	const struct spec	*spec;
	struct tpe_space	*space;
	size_t			 dims;
	struct bayes_point	*pts;		/* by id */
	size_t			 npts;
};

struct bayes_cache {
	struct bayes_sweep	*sweeps;
	size_t			 nsweeps;
};

struct bayes_cache *
bayes_cache_create(void)
{
	return xcalloc(1, sizeof(struct bayes_cache));
}

static void
points_free(struct bayes_point *pts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(pts[i].x);
	free(pts);
}

void
bayes_cache_free(struct bayes_cache *bc)
{
	size_t i;

	if (bc == NULL)
		return;
	for (i = 0; i < bc->nsweeps; i++) {
		points_free(bc->sweeps[i].pts, bc->sweeps[i].npts);
		tpe_space_free(bc->sweeps[i].space);
	}
	free(bc->sweeps);
	free(bc);
}

static struct bayes_sweep *
cache_sweep(struct bayes_cache *bc, const struct spec *s, int64_t sweep_id)
{
	struct bayes_sweep *bs;
	size_t i;

	for (i = 0; i < bc->nsweeps; i++) {
		bs = &bc->sweeps[i];
		if (bs->sweep_id == sweep_id && bs->spec == s)
			return bs;
		if (bs->sweep_id == sweep_id) {	/* a new spec object: start over */
			points_free(bs->pts, bs->npts);
			tpe_space_free(bs->space);
			memset(bs, 0, sizeof *bs);
			goto fill;
		}
	}
	bc->sweeps = xreallocarray(bc->sweeps, bc->nsweeps + 1, sizeof *bc->sweeps);
	bs = &bc->sweeps[bc->nsweeps++];
	memset(bs, 0, sizeof *bs);
fill:
	bs->sweep_id = sweep_id;
	bs->spec = s;
	bs->space = tpe_space_create(s);
	bs->dims = tpe_space_dims(bs->space);
	return bs;
}

/* Tells a reused trial id from the trial the cache saw: a multiply-xorshift hash over 8
 * bytes at a time (every proposal hashes every trial's parameter text). */
static uint64_t
text_hash(const unsigned char *s, int len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)len, w;
	int i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	for (w = 0; i < len; i++)
		w = w << 8 | s[i];
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}

/* The history of a sweep as observations (pointing into bs's points). */
struct history {
	struct tpe_obs	*obs;
	size_t		 n;
	int64_t		 trials;	/* every trial of the sweep, the next one's index */
};

/* Reads the sweep's trials into bs (coordinates) and h (observations). */
static int
load_history(struct store *st, struct bayes_sweep *bs, struct history *h, char **cause)
{
	sqlite3_stmt *stmt;
	struct bayes_point *old = bs->pts, *pts = NULL, *pt;
	size_t nold = bs->npts, o = 0, n = 0, cap = 0;
	const unsigned char *text;
	const char *state;
	json_t *params;
	char *why = NULL;
	int64_t id;
	uint64_t hash;
	int rc, len;

	memset(h, 0, sizeof *h);
	stmt = store_stmt(st, "SELECT id, params, state, value, step FROM trials"
	    " WHERE sweep_id = ? ORDER BY id", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, bs->sweep_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		h->trials++;
		state = (const char *)sqlite3_column_text(stmt, 2);
		if (state == NULL || strcmp(state, "abandoned") == 0 ||
		    strcmp(state, "cancelled") == 0)
			continue;
		id = sqlite3_column_int64(stmt, 0);
		text = sqlite3_column_text(stmt, 1);
		len = sqlite3_column_bytes(stmt, 1);
		hash = text_hash(text, len);
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			pts = xreallocarray(pts, cap, sizeof *pts);
			h->obs = xreallocarray(h->obs, cap, sizeof *h->obs);
		}
		pt = &pts[n];
		/* both lists are by id: walk the old one alongside */
		while (o < nold && old[o].id < id) {
			free(old[o].x);
			old[o++].x = NULL;
		}
		if (o < nold && old[o].id == id && old[o].hash == hash) {
			*pt = old[o];
			old[o++].x = NULL;
		} else {
			pt->id = id;
			pt->hash = hash;
			pt->x = xcalloc(bs->dims ? bs->dims : 1, sizeof *pt->x);
			params = json_loadb((const char *)text, (size_t)len, 0, NULL);
			pt->ok = params != NULL && tpe_point_from_json(bs->space, params, pt->x,
			    &why) == 0;
			json_decref(params);
			if (why != NULL) {
				log_debug("sweep %lld trial %lld: %s", (long long)bs->sweep_id,
				    (long long)id, why);
				free(why);
				why = NULL;
			}
		}
		n++;
		if (!pt->ok)
			continue;
		h->obs[h->n].x = pt->x;
		h->obs[h->n].step = sqlite3_column_int64(stmt, 4);
		h->obs[h->n].value = sqlite3_column_type(stmt, 3) == SQLITE_NULL ? NAN :
		    sqlite3_column_double(stmt, 3);
		if (strcmp(state, "succeeded") == 0) {
			if (isnan(h->obs[h->n].value))
				continue;	/* finished without reporting the metric */
			h->obs[h->n].kind = TPE_OBS_DONE;
		} else if (strcmp(state, "pruned") == 0)
			h->obs[h->n].kind = TPE_OBS_PRUNED;
		else
			h->obs[h->n].kind = TPE_OBS_PENDING;
		h->n++;
	}
	sqlite3_reset(stmt);
	for (; o < nold; o++)
		free(old[o].x);
	free(old);
	bs->pts = pts;
	bs->npts = n;
	if (rc != SQLITE_DONE) {
		free(h->obs);
		memset(h, 0, sizeof *h);
		return store_error(st, "reading a sweep's trials", cause);
	}
	return 0;
}

/* The seed of proposal `attempt` for trial `index`. */
static uint64_t
proposal_seed(uint64_t seed, int64_t index, int attempt)
{
	return seed ^ ((uint64_t)index * 0x9e3779b97f4a7c15ULL) ^
	    ((uint64_t)attempt * 0xbf58476d1ce4e5b9ULL);
}

/* The sweep proposes no more (every proposal was a trial it has, or its deadline passed):
 * it keeps the trials it has, and finishes with them. */
static int
cap_sweep(struct store *st, int64_t sweep_id, int64_t trials, const char *event,
    char **cause)
{
	sqlite3_stmt *stmt;
	char detail[64];

	stmt = store_stmt(st, "UPDATE sweeps SET max_trials = n_trials WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	if (store_step_done(st, stmt, "capping a sweep", cause) != 0)
		return -1;
	snprintf(detail, sizeof detail, "{\"trials\":%lld}", (long long)trials);
	if (store_event(st, sweep_id, 0, 0, event, detail, cause) != 0)
		return -1;
	if (trials == 0) {
		/* never had a trial: nothing of the state machine's to wait for */
		stmt = store_stmt(st, "UPDATE sweeps SET state = 'done', finished_at = ?2"
		    " WHERE id = ?1 AND state = 'active' AND n_trials = 0", cause);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, sweep_id);
		sqlite3_bind_double(stmt, 2, now_wall());
		if (store_step_done(st, stmt, "finishing a sweep", cause) != 0)
			return -1;
		return store_event(st, sweep_id, 0, 0, "sweep.done", NULL, cause);
	}
	return trial_sweep_settle(st, sweep_id, now_wall(), cause) == TRIAL_OK ? 0 : -1;
}

int
bayes_propose(struct store *st, struct bayes_cache *bc, const struct spec *s,
    int64_t sweep_id, int64_t *trial_id, char **cause)
{
	struct bayes_sweep *bs = cache_sweep(bc, s, sweep_id);
	struct tpe_options o;
	struct history h;
	struct buf b = { 0 };
	double *u;
	bool own, model = false;
	int attempt, rc = -1;

	*trial_id = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	if (load_history(st, bs, &h, cause) != 0) {
		store_op_end(st, own, false, NULL);
		return -1;
	}
	tpe_options_from_spec(&o, s);
	u = xcalloc(bs->dims ? bs->dims : 1, sizeof *u);
	for (attempt = 0; attempt < BAYES_MAX_TRIES && *trial_id == 0; attempt++) {
		/* the model's own choice first, then other seeds, then plain random draws */
		if (attempt == BAYES_MAX_TRIES / 2)
			o.n_startup = INT32_MAX;
		model = tpe_propose(bs->space, &o, h.obs, h.n,
		    proposal_seed(s->seed, h.trials, attempt), u);
		if (expand_from_units(s, u, &b, cause) != 0 ||
		    store_trial_add(st, sweep_id, b.data, trial_id, cause) != 0)
			goto out;
	}
	if (*trial_id == 0) {
		log_info("sweep %lld: %d proposals were all trials it has: its search space is"
		    " used up at %lld trials", (long long)sweep_id, BAYES_MAX_TRIES,
		    (long long)h.trials);
		if (cap_sweep(st, sweep_id, h.trials, "sweep.space_exhausted", cause) != 0)
			goto out;
	} else
		log_debug("sweep %lld: proposed trial %lld (%s, %zu observations): %s",
		    (long long)sweep_id, (long long)*trial_id, model ? "tpe" : "random", h.n,
		    b.data);
	rc = 0;
out:
	free(u);
	free(h.obs);
	buf_free(&b);
	if (store_op_end(st, own, rc == 0, rc == 0 ? cause : NULL) != 0)
		rc = -1;
	if (rc != 0)
		*trial_id = 0;
	return rc;
}

/* The workers' slots that may want a trial: those heard from lately. */
static int
recent_slots(struct store *st, double since, int64_t *slots, char **cause)
{
	sqlite3_stmt *stmt;

	stmt = store_stmt(st, "SELECT coalesce(sum(slots), 0) FROM workers"
	    " WHERE state IN ('active', 'up') AND last_seen >= ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, since);
	if (store_step_row(st, stmt, "counting workers", cause) != 1)
		return -1;
	*slots = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

/* Bayes sweeps whose deadline passed propose nothing more: capped, they can finish. */
static int
cap_past_deadline(struct store *st, double now, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t ids[16], trials[16];
	size_t n = 0, i;
	int rc;

	stmt = store_stmt(st, "SELECT id, n_trials FROM sweeps WHERE state = 'active' AND"
	    " method = 'bayes' AND deadline IS NOT NULL AND deadline <= ? AND"
	    " n_trials < max_trials ORDER BY id LIMIT 16", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(stmt, 0);
		trials[n++] = sqlite3_column_int64(stmt, 1);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_error(st, "finding sweeps past their deadline", cause);
	for (i = 0; i < n; i++)
		if (cap_sweep(st, ids[i], trials[i], "sweep.deadline_cap", cause) != 0)
			return -1;
	return 0;
}

int
bayes_fill(struct store *st, struct bayes_cache *bc, bayes_spec_fn *spec_of, void *arg,
    double now, double recent_s, bool every, int *added, char **cause)
{
	sqlite3_stmt *stmt;
	const struct spec *s = NULL;
	int64_t sweep_id, parallel, slots = -1, trial_id, *ids = NULL;
	const struct spec **specs = NULL;
	const char *method;
	size_t n = 0, i;
	int rc;

	*added = 0;
	if (every && cap_past_deadline(st, now, cause) != 0)
		return -1;
	stmt = store_stmt(st, "SELECT id, method, n_pending, n_running, n_trials, max_trials"
	    " FROM sweeps WHERE state = 'active' AND (deadline IS NULL OR deadline > ?)"
	    " ORDER BY id", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		/* an older sweep's pending trial is what the lease will hand out */
		if (sqlite3_column_int64(stmt, 2) > 0) {
			if (every)
				continue;
			break;
		}
		method = (const char *)sqlite3_column_text(stmt, 1);
		if (method == NULL || strcmp(method, "bayes") != 0 ||
		    sqlite3_column_int64(stmt, 4) >= sqlite3_column_int64(stmt, 5))
			continue;
		sweep_id = sqlite3_column_int64(stmt, 0);
		if ((s = spec_of(arg, sweep_id, cause)) == NULL) {
			sqlite3_reset(stmt);
			rc = -1;
			goto out;
		}
		parallel = s->bayes_parallel;
		if (parallel <= 0) {
			if (slots < 0 && recent_slots(st, now - recent_s, &slots, cause) != 0) {
				sqlite3_reset(stmt);
				rc = -1;
				goto out;
			}
			parallel = slots > 0 ? slots : BAYES_DEFAULT_PARALLEL;
		}
		if (sqlite3_column_int64(stmt, 3) < parallel) {
			ids = xreallocarray(ids, n + 1, sizeof *ids);
			specs = xreallocarray(specs, n + 1, sizeof *specs);
			ids[n] = sweep_id;
			specs[n++] = s;
			if (!every)
				break;
		}
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = store_error(st, "finding sweeps to propose for", cause);
		goto out;
	}
	/* proposing writes: only once the read of the sweeps is over */
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		if ((rc = bayes_propose(st, bc, specs[i], ids[i], &trial_id, cause)) == 0)
			*added += trial_id != 0;
	}
out:
	free(ids);
	free(specs);
	return rc;
}
