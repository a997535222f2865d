/* Early stopping: the spec's early_terminate applied as metric points arrive.
 *
 * Both rules judge a trial at rungs, fixed steps of its curve: hyperband's (asynchronous
 * successive halving, as Ray Tune's ASHA and W&B's hyperband) at min_iter * eta^k below
 * max_iter, the median rule's every interval_steps from min_steps on (Optuna's
 * MedianPruner with n_warmup_steps and interval_steps). A trial is judged when it first
 * reaches a rung, on its own value there, against the trials that reached that rung before
 * it, whatever they became since:
 *  - hyperband: it goes on when it is in the top ceil(m / eta) of the m trials at the rung
 *    (itself included), ties in its favour, so the first arrivals always go on;
 *  - median: it stops when its best value up to the rung is worse than the median of the
 *    others' values there, once at least EARLY_MEDIAN_MIN_OTHERS others are there.
 * Every judgement is a row of the rungs table (store.c): a rung is judged once, and the
 * next trial compares itself with the rows by one indexed count, however large the sweep.
 *
 * Preemption never counts as a result. Rungs are crossed by the steps a trial's points
 * carry, from any attempt, keeping per step the newest attempt's value, so an interrupted
 * trial resumed from a checkpoint continues its curve and is judged at the next rung it
 * actually reaches; a trial that is pending after a preemption is not judged until it runs
 * again. A stopped trial becomes pruned (trial_transition); its worker hears `cancel` on
 * its next heartbeat and SIGTERMs it, so it checkpoints, and the attempt closes as pruned.
 *
 * With hyperband's resume_pruned, a pruned trial whose value at the rung where it was
 * stopped later ranks in the top of that rung (worse trials arrived after it) is promoted:
 * back to pending (trial_promote), it resumes from its newest checkpoint. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/early-stop.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Rungs recorded for one report at most: a trial whose first report is a million steps in
 * records its values at the highest rungs only. */
#define MAX_NEW_RUNGS		64
/* Promotion candidates looked at per rung, best first. */
#define PROMOTE_BATCH		16

void
early_policy_from_spec(struct early_policy *p, const struct spec *s)
{
	memset(p, 0, sizeof *p);
	p->kind = s->objective.name != NULL ? s->early_stop : EARLY_NONE;
	p->minimize = s->minimize;
	switch (p->kind) {
	case EARLY_MEDIAN:
		p->interval = s->early_interval > 0 ? s->early_interval :
		    s->early_min_steps > 0 ? s->early_min_steps : 1;
		p->first = s->early_min_steps > 0 ? s->early_min_steps : p->interval;
		break;
	case EARLY_HYPERBAND:
		p->first = s->early_min_steps > 0 ? s->early_min_steps : 1;
		p->eta = s->early_eta >= 2 ? s->early_eta : 3;
		p->max_iter = s->early_max_iter > 0 ? s->early_max_iter : 0;
		p->resume_pruned = s->early_resume_pruned;
		break;
	default:
		p->kind = EARLY_NONE;
		break;
	}
}

int64_t
early_rung_step(const struct early_policy *p, int64_t k)
{
	int64_t r, i;

	if (k < 0 || p->kind == EARLY_NONE)
		return -1;
	if (p->kind == EARLY_MEDIAN) {
		if (k > (INT64_MAX - p->first) / p->interval)
			return -1;
		r = p->first + k * p->interval;
	} else {
		for (r = p->first, i = 0; i < k; i++) {
			if (r > INT64_MAX / p->eta)
				return -1;
			r *= p->eta;
		}
	}
	if (p->max_iter > 0 && r >= p->max_iter)
		return -1;
	return r;
}

size_t
early_curve_merge(const struct early_sample *s, size_t n, struct early_point *out)
{
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (m > 0 && out[m - 1].step == s[i].step)
			continue;	/* an older attempt's value for the same step */
		out[m].step = s[i].step;
		out[m].value = s[i].value;
		m++;
	}
	return m;
}

bool
early_curve_value(const struct early_point *c, size_t n, int64_t step, double *v)
{
	size_t lo = 0, hi = n;

	if (n == 0)
		return false;
	/* the first point past step */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c[mid].step <= step)
			lo = mid + 1;
		else
			hi = mid;
	}
	*v = lo > 0 ? c[lo - 1].value : c[0].value;
	return true;
}

bool
early_curve_best(const struct early_point *c, size_t n, int64_t step, bool minimize,
    double *v)
{
	size_t i;

	if (n == 0)
		return false;
	*v = c[0].value;
	for (i = 1; i < n && c[i].step <= step; i++)
		if (minimize ? c[i].value < *v : c[i].value > *v)
			*v = c[i].value;
	return true;
}

/* The successive-halving rule on counts: better of the n others are strictly better. */
static bool
keep_ranked(const struct early_policy *p, int64_t better, int64_t n)
{
	int64_t m = n + 1, eta = p->eta >= 2 ? p->eta : 3;

	return better < (m + eta - 1) / eta;
}

bool
early_rung_keep(const struct early_policy *p, double value, const double *others,
    size_t n)
{
	int64_t better = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (p->minimize ? others[i] < value : others[i] > value)
			better++;
	return keep_ranked(p, better, (int64_t)n);
}

static int
double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

bool
early_median_stop(const struct early_policy *p, double best, const double *others,
    size_t n)
{
	double *v, median;

	if (n < EARLY_MEDIAN_MIN_OTHERS)
		return false;
	v = xreallocarray(NULL, n, sizeof *v);
	memcpy(v, others, n * sizeof *v);
	qsort(v, n, sizeof *v, double_cmp);
	median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	free(v);
	return p->minimize ? best > median : best < median;
}

/* --- the store -------------------------------------------------------------------- */

/* The trial's objective curve over all its attempts. *c is the caller's to free. */
static int
load_curve(struct store *st, int64_t trial_id, const char *objective,
    struct early_point **c, size_t *n, char **cause)
{
	struct early_sample *s = NULL;
	sqlite3_stmt *stmt;
	size_t ns = 0, cap = 0;
	int rc;

	*c = NULL;
	*n = 0;
	stmt = store_stmt(st, "SELECT step, attempt, value FROM metrics WHERE trial_id = ?"
	    " AND name = ? AND value IS NOT NULL ORDER BY step, attempt DESC", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, trial_id);
	store_bind_text(stmt, 2, objective);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (ns == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			s = xreallocarray(s, cap, sizeof *s);
		}
		s[ns].step = sqlite3_column_int64(stmt, 0);
		s[ns].attempt = sqlite3_column_int64(stmt, 1);
		s[ns].value = sqlite3_column_double(stmt, 2);
		ns++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(s);
		return store_error(st, "reading a trial's curve", cause);
	}
	if (ns > 0) {
		*c = xreallocarray(NULL, ns, sizeof **c);
		*n = early_curve_merge(s, ns, *c);
	}
	free(s);
	return 0;
}

/* 1 when the trial has a row at rung k, 0 when not, -1 on error. */
static int
rung_recorded(struct store *st, int64_t trial_id, int64_t k, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	stmt = store_stmt(st, "SELECT 1 FROM rungs WHERE trial_id = ? AND rung = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, k);
	rc = store_step_row(st, stmt, "reading a rung", cause);
	if (rc == 1)
		sqlite3_reset(stmt);
	return rc;
}

static int
rung_insert(struct store *st, int64_t sweep_id, int64_t trial_id, int64_t k, int64_t step,
    double value, const char *decision, double now, char **cause)
{
	sqlite3_stmt *stmt;

	stmt = store_stmt(st, "INSERT OR REPLACE INTO rungs (trial_id, rung, sweep_id, step,"
	    " value, decision, at) VALUES (?, ?, ?, ?, ?, ?, ?)", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, k);
	sqlite3_bind_int64(stmt, 3, sweep_id);
	sqlite3_bind_int64(stmt, 4, step);
	sqlite3_bind_double(stmt, 5, value);
	store_bind_text(stmt, 6, decision);
	sqlite3_bind_double(stmt, 7, now);
	return store_step_done(st, stmt, "recording a rung", cause);
}

/* At rung k of the sweep, apart from trial_id: how many trials there are (*n) and how
 * many of them are strictly better than value (*better). */
static int
rung_rank(struct store *st, const struct early_policy *p, int64_t sweep_id, int64_t k,
    int64_t trial_id, double value, int64_t *n, int64_t *better, char **cause)
{
	sqlite3_stmt *stmt;

	stmt = store_stmt(st, p->minimize ?
	    "SELECT count(*), coalesce(sum(value < ?4), 0) FROM rungs INDEXED BY rungs_sweep"
	    " WHERE sweep_id = ?1 AND rung = ?2 AND trial_id <> ?3" :
	    "SELECT count(*), coalesce(sum(value > ?4), 0) FROM rungs INDEXED BY rungs_sweep"
	    " WHERE sweep_id = ?1 AND rung = ?2 AND trial_id <> ?3", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_int64(stmt, 2, k);
	sqlite3_bind_int64(stmt, 3, trial_id);
	sqlite3_bind_double(stmt, 4, value);
	if (store_step_row(st, stmt, "ranking a rung", cause) != 1)
		return -1;
	*n = sqlite3_column_int64(stmt, 0);
	*better = sqlite3_column_int64(stmt, 1);
	sqlite3_reset(stmt);
	return 0;
}

/* The others' values at rung k, in *v (the caller frees), *n of them. */
static int
rung_values(struct store *st, int64_t sweep_id, int64_t k, int64_t trial_id, double **v,
    size_t *n, char **cause)
{
	sqlite3_stmt *stmt;
	size_t cap = 0;
	int rc;

	*v = NULL;
	*n = 0;
	stmt = store_stmt(st, "SELECT value FROM rungs INDEXED BY rungs_sweep WHERE"
	    " sweep_id = ?1 AND rung = ?2 AND trial_id <> ?3", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_int64(stmt, 2, k);
	sqlite3_bind_int64(stmt, 3, trial_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			*v = xreallocarray(*v, cap, sizeof **v);
		}
		(*v)[(*n)++] = sqlite3_column_double(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(*v);
		*v = NULL;
		*n = 0;
		return store_error(st, "reading a rung", cause);
	}
	return 0;
}

/* Judges a running trial at rung k (step r), where its value is v and its best so far
 * best: records the row, and prunes it when the rule says stop. */
static int
judge(struct store *st, const struct early_policy *p, const char *objective,
    int64_t sweep_id, int64_t trial_id, int64_t k, int64_t r, double v, double best,
    double now, bool *pruned, char **cause)
{
	char num[32], *reason = NULL;
	double *others = NULL;
	int64_t n = 0, better = 0;
	size_t nv = 0;
	bool stop;
	int rc;

	if (p->kind == EARLY_HYPERBAND) {
		if (rung_rank(st, p, sweep_id, k, trial_id, v, &n, &better, cause) != 0)
			return -1;
		stop = !keep_ranked(p, better, n);
		format_double(num, v);
		if (stop)
			reason = xasprintf("hyperband: at rung %lld (step %lld) %s = %s is not in"
			    " the top 1/%lld of the %lld trials there", (long long)k,
			    (long long)r, objective, num, (long long)p->eta, (long long)n + 1);
	} else {
		if (rung_values(st, sweep_id, k, trial_id, &others, &nv, cause) != 0)
			return -1;
		stop = early_median_stop(p, best, others, nv);
		free(others);
		format_double(num, best);
		if (stop)
			reason = xasprintf("median: at step %lld the best %s so far, %s, is worse"
			    " than the median of the %zu other trials there", (long long)r,
			    objective, num, nv);
	}
	if (rung_insert(st, sweep_id, trial_id, k, r, v, stop ? "stop" : "continue", now,
	    cause) != 0) {
		free(reason);
		return -1;
	}
	if (!stop)
		return 0;
	rc = trial_transition(st, trial_id, TRIAL_PRUNED, reason, cause);
	free(reason);
	if (rc != TRIAL_OK)
		return -1;
	*pruned = true;
	return 0;
}

/* Promotions at rung k: the best stopped trials, while they rank in the top. */
static int
promote_rung(struct store *st, const struct early_policy *p, int64_t sweep_id, int64_t k,
    int *promoted, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t ids[PROMOTE_BATCH], n, better;
	double values[PROMOTE_BATCH];
	char *reason, *why = NULL;
	size_t nc = 0, i;
	int rc;

	stmt = store_stmt(st, p->minimize ?
	    "SELECT r.trial_id, r.value FROM rungs r JOIN trials t ON t.id = r.trial_id"
	    " WHERE r.sweep_id = ?1 AND r.rung = ?2 AND r.decision = 'stop' AND"
	    " t.state = 'pruned' ORDER BY r.value, r.trial_id LIMIT ?3" :
	    "SELECT r.trial_id, r.value FROM rungs r JOIN trials t ON t.id = r.trial_id"
	    " WHERE r.sweep_id = ?1 AND r.rung = ?2 AND r.decision = 'stop' AND"
	    " t.state = 'pruned' ORDER BY r.value DESC, r.trial_id LIMIT ?3", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_int64(stmt, 2, k);
	sqlite3_bind_int(stmt, 3, PROMOTE_BATCH);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ids[nc] = sqlite3_column_int64(stmt, 0);
		values[nc] = sqlite3_column_double(stmt, 1);
		nc++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_error(st, "finding pruned trials", cause);
	for (i = 0; i < nc; i++) {
		if (rung_rank(st, p, sweep_id, k, ids[i], values[i], &n, &better, cause) != 0)
			return -1;
		if (!keep_ranked(p, better, n))
			break;		/* the ones after it are no better */
		reason = xasprintf("promoted: at rung %lld it is now in the top 1/%lld of the"
		    " %lld trials there", (long long)k, (long long)p->eta, (long long)n + 1);
		rc = trial_promote(st, ids[i], reason, &why);
		free(reason);
		if (rc == TRIAL_EILLEGAL) {
			/* still being stopped: its turn comes when its attempt closes */
			free(why);
			why = NULL;
			continue;
		}
		if (rc != TRIAL_OK) {
			*cause = why;
			return -1;
		}
		stmt = store_stmt(st, "UPDATE rungs SET decision = 'promote' WHERE trial_id = ?"
		    " AND rung = ?", cause);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, ids[i]);
		sqlite3_bind_int64(stmt, 2, k);
		if (store_step_done(st, stmt, "recording a promotion", cause) != 0)
			return -1;
		(*promoted)++;
	}
	return 0;
}

/* Reads the trial's sweep and state; 0 with *found false when there is no such trial. */
static int
trial_where(struct store *st, int64_t trial_id, int64_t *sweep_id, enum trial_state *state,
    bool *found, char **cause)
{
	sqlite3_stmt *stmt;
	const char *name;
	int rc;

	*found = false;
	stmt = store_stmt(st, "SELECT sweep_id, state FROM trials WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, trial_id);
	if ((rc = store_step_row(st, stmt, "reading a trial", cause)) <= 0)
		return rc;
	*sweep_id = sqlite3_column_int64(stmt, 0);
	name = (const char *)sqlite3_column_text(stmt, 1);
	*found = name != NULL && trial_state_parse(name, state);
	sqlite3_reset(stmt);
	return 0;
}

/* The body of early_stop_check, inside its savepoint. */
static int
check(struct store *st, const struct early_policy *p, const char *objective,
    int64_t trial_id, double now, bool *pruned, char **cause)
{
	struct early_point *c = NULL;
	enum trial_state state;
	int64_t sweep_id, k, r, ks[MAX_NEW_RUNGS], rs[MAX_NEW_RUNGS], reached;
	size_t n, nk = 0, i, total = 0;
	double v, best;
	bool found;
	int rc = -1, promoted = 0;

	if (trial_where(st, trial_id, &sweep_id, &state, &found, cause) != 0)
		return -1;
	/* An interrupted trial (pending again) is judged when it runs again. */
	if (!found || (state != TRIAL_RUNNING && state != TRIAL_SUCCEEDED &&
	    state != TRIAL_PRUNED))
		return 0;
	if (load_curve(st, trial_id, objective, &c, &n, cause) != 0)
		return -1;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	reached = c[n - 1].step;
	for (k = 0; (r = early_rung_step(p, k)) >= 0 && r <= reached; k++) {
		if ((rc = rung_recorded(st, trial_id, k, cause)) < 0)
			goto out;
		if (rc == 1)
			continue;
		/* keep the highest MAX_NEW_RUNGS */
		ks[total % MAX_NEW_RUNGS] = k;
		rs[total % MAX_NEW_RUNGS] = r;
		total++;
	}
	nk = total < MAX_NEW_RUNGS ? total : MAX_NEW_RUNGS;
	rc = -1;
	for (i = 0; i < nk; i++) {
		size_t at = (total - nk + i) % MAX_NEW_RUNGS;

		early_curve_value(c, n, rs[at], &v);
		if (i + 1 == nk && state == TRIAL_RUNNING) {
			early_curve_best(c, n, rs[at], p->minimize, &best);
			if (judge(st, p, objective, sweep_id, trial_id, ks[at], rs[at], v, best,
			    now, pruned, cause) != 0)
				goto out;
		} else if (rung_insert(st, sweep_id, trial_id, ks[at], rs[at], v, "continue",
		    now, cause) != 0)
			goto out;
		/* a newcomer worse than a stopped trial can lift that one into the top */
		if (p->resume_pruned && promote_rung(st, p, sweep_id, ks[at], &promoted,
		    cause) != 0)
			goto out;
	}
	rc = 0;
out:
	free(c);
	return rc;
}

int
early_stop_check(struct store *st, const struct spec *s, int64_t trial_id, double now,
    bool *pruned, char **cause)
{
	struct early_policy p;
	bool own;
	int rc;

	*pruned = false;
	early_policy_from_spec(&p, s);
	if (p.kind == EARLY_NONE)
		return 0;
	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	rc = check(st, &p, s->objective.name, trial_id, now, pruned, cause);
	if (rc != 0)
		*pruned = false;
	if (store_op_end(st, own, rc == 0, rc == 0 ? cause : NULL) != 0) {
		*pruned = false;
		return -1;
	}
	return rc;
}

int
early_stop_promote(struct store *st, const struct spec *s, int64_t sweep_id, int *n,
    char **cause)
{
	struct early_policy p;
	sqlite3_stmt *stmt;
	int64_t k, at_rung;
	bool own;
	int rc = 0;

	*n = 0;
	early_policy_from_spec(&p, s);
	if (p.kind != EARLY_HYPERBAND || !p.resume_pruned)
		return 0;
	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	for (k = 0; early_rung_step(&p, k) >= 0; k++) {
		stmt = store_stmt(st, "SELECT count(*) FROM rungs INDEXED BY rungs_sweep"
		    " WHERE sweep_id = ? AND rung = ?", cause);
		if (stmt == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(stmt, 1, sweep_id);
		sqlite3_bind_int64(stmt, 2, k);
		if (store_step_row(st, stmt, "counting a rung", cause) != 1) {
			rc = -1;
			break;
		}
		at_rung = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
		if (at_rung == 0)
			break;		/* no trial got this far */
		if ((rc = promote_rung(st, &p, sweep_id, k, n, cause)) != 0)
			break;
	}
	if (rc != 0)
		*n = 0;
	if (store_op_end(st, own, rc == 0, rc == 0 ? cause : NULL) != 0) {
		*n = 0;
		return -1;
	}
	return rc;
}

int
early_stop_summary(struct store *st, int64_t sweep_id, int64_t max_iter,
    struct early_summary *out, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t *steps = NULL, step, count;
	double *gpu = NULL;
	size_t ng = 0, cap = 0, i;
	int rc;

	memset(out, 0, sizeof *out);
	stmt = store_stmt(st, "SELECT coalesce(step, 0), count(*), sum(gpu_hours) FROM trials"
	    " WHERE sweep_id = ? AND state = 'pruned' GROUP BY 1 ORDER BY 1", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		step = sqlite3_column_int64(stmt, 0);
		count = sqlite3_column_int64(stmt, 1);
		if (ng == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			steps = xreallocarray(steps, cap, sizeof *steps);
			gpu = xreallocarray(gpu, cap, sizeof *gpu);
		}
		steps[ng] = step;
		gpu[ng] = sqlite3_column_double(stmt, 2);
		ng++;
		out->pruned += count;
		if (out->nsteps < EARLY_SUMMARY_STEPS) {
			out->step[out->nsteps] = step;
			out->count[out->nsteps] = count;
			out->nsteps++;
		}
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		rc = store_error(st, "summarising pruned trials", cause);
		goto out;
	}
	out->horizon = max_iter;
	if (out->horizon <= 0) {
		stmt = store_stmt(st, "SELECT max(step) FROM trials INDEXED BY trials_step"
		    " WHERE sweep_id = ? AND step IS NOT NULL", cause);
		if (stmt == NULL) {
			rc = -1;
			goto out;
		}
		sqlite3_bind_int64(stmt, 1, sweep_id);
		if ((rc = store_step_row(st, stmt, "finding the furthest step", cause)) < 0)
			goto out;
		if (rc == 1) {
			out->horizon = sqlite3_column_int64(stmt, 0);
			sqlite3_reset(stmt);
		}
	}
	/* A pruned trial would have gone on at the pace it had. */
	for (i = 0; i < ng; i++)
		if (steps[i] > 0 && steps[i] < out->horizon)
			out->gpu_hours_saved += (double)(out->horizon - steps[i]) *
			    gpu[i] / (double)steps[i];
	rc = 0;
out:
	free(steps);
	free(gpu);
	return rc;
}
