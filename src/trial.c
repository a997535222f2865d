/* The trial state machine. A trial is pending, running, or in one of the final states
 * succeeded, pruned, abandoned, cancelled; each attempt to run it is a row in attempts whose
 * outcome stays NULL while it runs. Every state change goes through trial_set_state(), which
 * checks the transition table, updates the sweep's per-state counters and records a
 * "trial.<state>" event in the same transaction; the operations (lease in trial-lease.c,
 * heartbeat, checkpoint, finish, lease expiry, cancel, retry) decide the transition and
 * write its consequences.
 *
 * Staleness is by attempt number: trials.attempts is the current attempt, and a report for
 * any other attempt, or for one already closed, is refused with TRIAL_ESTALE and changes
 * nothing. A cancelled or pruned trial's open attempt is still current, so its agent hears
 * `cancel` on its next heartbeat and its finish closes the attempt. A pruned trial may come
 * back (trial_promote, early-stop.c): pending again, it resumes from its checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/lease-secret.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

/* The sweeps.n_<state> counters are named after state_names (count_move_sql). */
_Static_assert(TRIAL_STATE_MAX == 6, "a sweep counter for each trial state");

/* Pending trials abandoned per call once their sweep's deadline passed: keeps a tick short. */
#define DEADLINE_BATCH	5000
/* Failure backoff: 5 s doubling per failure, at most 5 minutes. */
#define BACKOFF_BASE_S	5.0
#define BACKOFF_MAX_S	300.0

static const char *const state_names[TRIAL_STATE_MAX] = {
	"pending", "running", "succeeded", "pruned", "abandoned", "cancelled"
};

static const char *const outcome_names[OUTCOME_MAX] = {
	"running", "succeeded", "failed", "preempted", "lost", "cancelled", "pruned"
};

/* legal[from][to]: the whole machine. */
static const bool legal[TRIAL_STATE_MAX][TRIAL_STATE_MAX] = {
	[TRIAL_PENDING] = {
		[TRIAL_RUNNING] = true,		/* leased */
		[TRIAL_ABANDONED] = true,	/* the sweep's deadline passed */
		[TRIAL_CANCELLED] = true,
	},
	[TRIAL_RUNNING] = {
		[TRIAL_PENDING] = true,		/* failed, preempted or lost: retried */
		[TRIAL_SUCCEEDED] = true,
		[TRIAL_PRUNED] = true,		/* early termination */
		[TRIAL_ABANDONED] = true,	/* budget spent, fatal pattern, deadline */
		[TRIAL_CANCELLED] = true,
	},
	[TRIAL_PRUNED] = {
		[TRIAL_PENDING] = true,		/* promoted (hyperband resume_pruned): resumed
						 * from its checkpoint, see trial_promote */
	},
	[TRIAL_ABANDONED] = {
		[TRIAL_PENDING] = true,		/* the retry command */
	},
};

void
trial_ctx_clear(struct trial_ctx *c)
{
	free(c->objective);
	free(c->last_metrics);
	free(c->cur.secret);
	memset(c, 0, sizeof *c);
	c->row.step = -1;
}

/* The index of name in names[0..n), or -1. */
static int
name_index(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++) {
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

const char *
trial_state_name(enum trial_state s)
{
	return (unsigned)s < TRIAL_STATE_MAX ? state_names[s] : "unknown";
}

bool
trial_state_parse(const char *name, enum trial_state *out)
{
	int i = name_index(state_names, TRIAL_STATE_MAX, name);

	if (i >= 0)
		*out = (enum trial_state)i;
	return i >= 0;
}

const char *
attempt_outcome_name(enum attempt_outcome o)
{
	return (unsigned)o < OUTCOME_MAX ? outcome_names[o] : "unknown";
}

bool
attempt_outcome_parse(const char *name, enum attempt_outcome *out)
{
	int i = name_index(outcome_names, OUTCOME_MAX, name);

	if (i >= 0)
		*out = (enum attempt_outcome)i;
	return i >= 0;
}

bool
trial_transition_legal(enum trial_state from, enum trial_state to)
{
	if ((unsigned)from >= TRIAL_STATE_MAX || (unsigned)to >= TRIAL_STATE_MAX)
		return false;
	return legal[from][to];
}

bool
trial_state_final(enum trial_state s)
{
	return s == TRIAL_SUCCEEDED || s == TRIAL_PRUNED || s == TRIAL_ABANDONED ||
	    s == TRIAL_CANCELLED;
}

void
lease_clear(struct lease *l)
{
	if (l == NULL)
		return;
	free(l->params);
	free(l->resume_from);
	free(l->checkpoints);
	memset(l, 0, sizeof *l);
}

/* Loads a trial with its sweep's budgets and its current attempt. TRIAL_ENOENT with cause
 * when absent. */
int
trial_load(struct store *st, int64_t trial_id, struct trial_ctx *c, char **cause)
{
	sqlite3_stmt *stmt;
	const char *state, *sweep_state;
	int rc;

	memset(c, 0, sizeof *c);
	c->row.step = -1;
	stmt = store_stmt(st, "SELECT t.sweep_id, t.state, t.attempts, t.preemptions, t.failures,"
	    " s.state, s.deadline, s.max_failures, s.max_preemptions, s.checkpoint_keep,"
	    " s.objective, t.last_metrics, t.not_before, s.target IS NOT NULL,"
	    " a.id IS NOT NULL, a.outcome IS NULL, a.worker_id, a.lease_secret, a.started_at,"
	    " a.gpus, a.price_per_hour FROM trials t JOIN sweeps s ON s.id = t.sweep_id"
	    " LEFT JOIN attempts a ON a.trial_id = t.id AND a.attempt = t.attempts"
	    " WHERE t.id = ?", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, trial_id);
	rc = store_step_row(st, stmt, "reading a trial", cause);
	if (rc <= 0) {
		if (rc < 0)
			return TRIAL_ERROR;
		*cause = xasprintf("no trial %lld", (long long)trial_id);
		return TRIAL_ENOENT;
	}
	c->id = trial_id;
	c->sweep_id = sqlite3_column_int64(stmt, 0);
	state = (const char *)sqlite3_column_text(stmt, 1);
	if (state == NULL || !trial_state_parse(state, &c->state)) {
		*cause = xasprintf("trial %lld has an unknown state", (long long)trial_id);
		sqlite3_reset(stmt);
		return TRIAL_ERROR;
	}
	c->attempts = sqlite3_column_int64(stmt, 2);
	c->preemptions = sqlite3_column_int64(stmt, 3);
	c->failures = sqlite3_column_int64(stmt, 4);
	sweep_state = (const char *)sqlite3_column_text(stmt, 5);
	c->sweep_active = sweep_state != NULL && strcmp(sweep_state, "active") == 0;
	c->sweep_cancelled = sweep_state != NULL && strcmp(sweep_state, "cancelled") == 0;
	c->deadline = sqlite3_column_double(stmt, 6);
	c->max_failures = sqlite3_column_int64(stmt, 7);
	c->max_preemptions = sqlite3_column_int64(stmt, 8);
	c->checkpoint_keep = sqlite3_column_int64(stmt, 9);
	c->objective = store_column_strdup(stmt, 10);
	c->last_metrics = store_column_strdup(stmt, 11);
	c->not_before = sqlite3_column_double(stmt, 12);
	c->sweep_has_target = sqlite3_column_int(stmt, 13) != 0;
	c->cur.exists = sqlite3_column_int(stmt, 14) != 0;
	c->cur.open = c->cur.exists && sqlite3_column_int(stmt, 15) != 0;
	c->cur.worker_id = sqlite3_column_int64(stmt, 16);
	c->cur.secret = store_column_strdup(stmt, 17);
	c->cur.started_at = sqlite3_column_double(stmt, 18);
	c->cur.gpus = sqlite3_column_int64(stmt, 19);
	c->cur.price = sqlite3_column_double(stmt, 20);
	sqlite3_reset(stmt);
	c->loaded.valid = true;
	c->loaded.attempts = c->attempts;
	c->loaded.preemptions = c->preemptions;
	c->loaded.failures = c->failures;
	c->loaded.not_before = c->not_before;
	return TRIAL_OK;
}

/* Marks the sweep done once nothing is pending or running (and, for bayes, every trial it
 * may propose has been proposed). */
static int
sweep_check_done(struct store *st, int64_t sweep_id, double now, char **cause)
{
	sqlite3_stmt *stmt;

	stmt = store_stmt(st, "UPDATE sweeps SET state = 'done', finished_at = ?2 WHERE id = ?1"
	    " AND state = 'active' AND n_pending = 0 AND n_running = 0 AND n_trials > 0 AND"
	    " (method <> 'bayes' OR (max_trials > 0 AND n_trials >= max_trials))", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_double(stmt, 2, now);
	if (store_step_done(st, stmt, "finishing a sweep", cause) != 0)
		return -1;
	if (sqlite3_changes(store_db(st)) == 1)
		return store_event(st, sweep_id, 0, 0, "sweep.done", NULL, cause);
	return 0;
}

int
trial_sweep_settle(struct store *st, int64_t sweep_id, double now, char **cause)
{
	return sweep_check_done(st, sweep_id, now, cause) == 0 ? TRIAL_OK : TRIAL_ERROR;
}

/* The UPDATE that moves trials from one counter to another, one text per pair of states:
 * a statement naming the two columns runs in a third of the time of one that computes all
 * six from the states (~3% of the scheduler's CPU, on every lease and finish). Built once;
 * the texts live as long as the process, as the statement cache wants. */
static const char *
count_move_sql(enum trial_state from, enum trial_state to)
{
	static char *sql[TRIAL_STATE_MAX][TRIAL_STATE_MAX];

	if (sql[from][to] == NULL)
		sql[from][to] = xasprintf("UPDATE sweeps SET n_%s = n_%s - ?2, n_%s = n_%s + ?2"
		    " WHERE id = ?1", state_names[from], state_names[from], state_names[to],
		    state_names[to]);
	return sql[from][to];
}

/* Moves n trials of a sweep between counters, in the statement that also knows nothing of
 * the trials themselves: callers pair it with the trials UPDATE. *busy (if non-NULL): the
 * sweep's pending and running trials afterwards. That is read by a second statement rather
 * than RETURNING, which makes SQLite build and drop a temporary table on every call (~5% of
 * the scheduler's CPU when it was on every lease and finish). */
static int
count_move(struct store *st, int64_t sweep_id, enum trial_state from, enum trial_state to,
    int64_t n, int64_t *busy, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	if (from != to) {
		if ((stmt = store_stmt(st, count_move_sql(from, to), cause)) == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, sweep_id);
		sqlite3_bind_int64(stmt, 2, n);
		if (store_step_done(st, stmt, "counting trial states", cause) != 0)
			return -1;
	}
	if (busy == NULL)
		return 0;
	stmt = store_stmt(st, "SELECT n_pending + n_running FROM sweeps WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	if ((rc = store_step_row(st, stmt, "counting trial states", cause)) < 0)
		return -1;
	*busy = rc == 1 ? sqlite3_column_int64(stmt, 0) : 0;
	sqlite3_reset(stmt);
	return 0;
}

/* The column groups write_row sets. SQLite maintains an index on every UPDATE that names one
 * of its columns (or one its WHERE reads), whether or not the value changes, so each
 * operation gets a statement naming only what it changes: a lease does not touch
 * trials_step, a heartbeat not trials_pending. */
enum {
	ROW_STATE = 1,		/* state, reason, finished_at */
	ROW_COUNTS = 2,		/* attempts, preemptions, failures, not_before */
	ROW_LEASE = 4,		/* started_at (if unset), last_pool */
	ROW_COMPUTE = 8,	/* runtime_s, gpu_hours, cost_usd */
	ROW_METRICS = 16,	/* last_metrics */
	ROW_VALUE = 32,
	ROW_STEP = 64,
	ROW_COMBINATIONS = 128
};

/* The UPDATE for a combination of groups; the parameters are numbered as in write_row
 * whichever are used. Built once per combination, kept for the process's life (the
 * statement cache keys on the text's address). */
static const char *
write_row_sql(unsigned groups)
{
	static char *sql[ROW_COMBINATIONS];
	static const struct {
		unsigned	 group;
		const char	*set;
	} parts[] = {
		{ ROW_STATE, "state = ?3, reason = ?4,"
		    " finished_at = CASE WHEN ?6 THEN ?7 ELSE NULL END" },
		{ ROW_COUNTS, "attempts = ?8, preemptions = ?9, failures = ?10, not_before = ?11" },
		{ ROW_LEASE, "started_at = coalesce(started_at, ?13), last_pool = ?14" },
		{ ROW_COMPUTE, "runtime_s = runtime_s + ?15, gpu_hours = gpu_hours + ?16,"
		    " cost_usd = cost_usd + ?17" },
		{ ROW_METRICS, "last_metrics = ?19" },
		{ ROW_VALUE, "value = ?21" },
		{ ROW_STEP, "step = CASE WHEN step IS NULL OR step < ?22 THEN ?22 ELSE step END" },
	};
	struct buf b = { 0 };
	size_t i;

	if (sql[groups] != NULL)
		return sql[groups];
	buf_adds(&b, "UPDATE trials SET ");
	/* Nothing to change still checks the row is in the state the caller read. */
	if (groups == 0)
		buf_adds(&b, "failures = failures");
	for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (!(groups & parts[i].group))
			continue;
		if (b.data[b.len - 1] != ' ')
			buf_adds(&b, ", ");
		buf_adds(&b, parts[i].set);
	}
	buf_adds(&b, " WHERE id = ?1 AND state = ?2");
	sql[groups] = buf_steal(&b);
	return sql[groups];
}

/* Writes the trial's row: its counters and not_before, the deltas in c->row, and, when
 * change is set, the new state with reason and finished_at. The one UPDATE of a trial an
 * operation makes. */
static int
write_row(struct store *st, struct trial_ctx *c, bool change, enum trial_state to,
    const char *reason, double now, char **cause)
{
	sqlite3_stmt *stmt;
	unsigned groups = 0;

	if (change)
		groups |= ROW_STATE;
	if (!c->loaded.valid || c->attempts != c->loaded.attempts ||
	    c->preemptions != c->loaded.preemptions || c->failures != c->loaded.failures ||
	    c->not_before != c->loaded.not_before)
		groups |= ROW_COUNTS;
	if (c->row.lease)
		groups |= ROW_LEASE;
	if (c->row.runtime_s != 0 || c->row.gpu_hours != 0 || c->row.cost_usd != 0)
		groups |= ROW_COMPUTE;
	if (c->row.metrics)
		groups |= ROW_METRICS;
	if (c->row.has_value)
		groups |= ROW_VALUE;
	if (c->row.step >= 0)
		groups |= ROW_STEP;
	if ((stmt = store_stmt(st, write_row_sql(groups), cause)) == NULL)
		return -1;
	/* Only the parameters the statement has: binding past them is an error. */
	sqlite3_bind_int64(stmt, 1, c->id);
	store_bind_text(stmt, 2, trial_state_name(c->state));
	if (groups & ROW_STATE) {
		store_bind_text(stmt, 3, trial_state_name(to));
		store_bind_text(stmt, 4, reason);
		sqlite3_bind_int(stmt, 6, trial_state_final(to));
		sqlite3_bind_double(stmt, 7, now);
	}
	if (groups & ROW_COUNTS) {
		sqlite3_bind_int64(stmt, 8, c->attempts);
		sqlite3_bind_int64(stmt, 9, c->preemptions);
		sqlite3_bind_int64(stmt, 10, c->failures);
		sqlite3_bind_double(stmt, 11, c->not_before);
	}
	if (groups & ROW_LEASE) {
		sqlite3_bind_double(stmt, 13, c->row.started_at);
		store_bind_text(stmt, 14, c->row.pool);
	}
	if (groups & ROW_COMPUTE) {
		sqlite3_bind_double(stmt, 15, c->row.runtime_s);
		sqlite3_bind_double(stmt, 16, c->row.gpu_hours);
		sqlite3_bind_double(stmt, 17, c->row.cost_usd);
	}
	if (groups & ROW_METRICS)
		store_bind_text(stmt, 19, c->last_metrics);
	if (groups & ROW_VALUE)
		sqlite3_bind_double(stmt, 21, c->row.value);
	if (groups & ROW_STEP)
		sqlite3_bind_int64(stmt, 22, c->row.step);
	if (store_step_done(st, stmt, "writing a trial", cause) != 0)
		return -1;
	if (sqlite3_changes(store_db(st)) != 1) {
		*cause = xasprintf("trial %lld changed state underneath", (long long)c->id);
		return -1;
	}
	memset(&c->row, 0, sizeof c->row);
	c->row.step = -1;
	/* What the row now holds. */
	c->loaded.valid = true;
	c->loaded.attempts = c->attempts;
	c->loaded.preemptions = c->preemptions;
	c->loaded.failures = c->failures;
	c->loaded.not_before = c->not_before;
	return 0;
}

/* Writes what an operation changed in the row when the state stays. */
static int
flush_row(struct store *st, struct trial_ctx *c, char **cause)
{
	return write_row(st, c, false, c->state, NULL, 0, cause) == 0 ? TRIAL_OK : TRIAL_ERROR;
}

/* The one place a trial's state changes: checks the table, writes state, reason and
 * finished_at with the rest of the row, keeps the sweep's counters, logs the change, and
 * finishes or reopens the sweep. attempt goes into the event (0 = none). */
int
trial_set_state(struct store *st, struct trial_ctx *c, enum trial_state to, const char *reason,
    int64_t attempt, double now, char **cause)
{
	sqlite3_stmt *stmt;
	struct buf detail = { 0 };
	int64_t busy = -1;
	char kind[32];
	int rc;

	if (!trial_transition_legal(c->state, to)) {
		*cause = xasprintf("trial %lld is %s and cannot become %s", (long long)c->id,
		    trial_state_name(c->state), trial_state_name(to));
		return TRIAL_EILLEGAL;
	}
	if (write_row(st, c, true, to, reason, now, cause) != 0)
		return TRIAL_ERROR;
	if (count_move(st, c->sweep_id, c->state, to, 1, trial_state_final(to) ? &busy : NULL,
	    cause) != 0)
		return TRIAL_ERROR;
	buf_adds(&detail, "{\"from\":");
	json_add_string(&detail, trial_state_name(c->state));
	if (reason != NULL) {
		buf_adds(&detail, ",\"reason\":");
		json_add_string(&detail, reason);
	}
	buf_addc(&detail, '}');
	snprintf(kind, sizeof kind, "trial.%s", trial_state_name(to));
	rc = store_event(st, c->sweep_id, c->id, attempt, kind, detail.data, cause);
	buf_free(&detail);
	if (rc != 0)
		return TRIAL_ERROR;
	/* the sweep can only be done once nothing in it is pending or running */
	if (trial_state_final(to) && busy == 0 &&
	    sweep_check_done(st, c->sweep_id, now, cause) != 0)
		return TRIAL_ERROR;
	if (trial_state_final(c->state) && !trial_state_final(to)) {
		/* A retried trial reopens a finished sweep. */
		stmt = store_stmt(st, "UPDATE sweeps SET state = 'active', finished_at = NULL"
		    " WHERE id = ? AND state = 'done'", cause);
		if (stmt == NULL)
			return TRIAL_ERROR;
		sqlite3_bind_int64(stmt, 1, c->sweep_id);
		if (store_step_done(st, stmt, "reopening a sweep", cause) != 0)
			return TRIAL_ERROR;
	}
	c->state = to;
	return TRIAL_OK;
}

/* Ends an operation begun with store_op_begin: commits (or releases) on success, undoes on
 * any other result, keeping rc unless the commit itself fails. */
int
trial_op_end(struct store *st, bool own, int rc, char **cause)
{
	if (rc == TRIAL_OK || rc == 1) {
		if (store_op_end(st, own, true, cause) != 0)
			return TRIAL_ERROR;
		return rc;
	}
	store_op_end(st, own, false, NULL);
	return rc;
}

int
trial_transition(struct store *st, int64_t trial_id, enum trial_state to, const char *reason,
    char **cause)
{
	struct trial_ctx c;
	bool own;
	int rc;

	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	rc = trial_load(st, trial_id, &c, cause);
	if (rc == TRIAL_OK && trial_transition_legal(c.state, to) && to != TRIAL_PRUNED &&
	    to != TRIAL_ABANDONED && to != TRIAL_CANCELLED) {
		/* Entering running, succeeded or pending means an attempt to open, account or
		 * budgets to reset: only lease, finish and retry do that right. */
		*cause = xasprintf("trial %lld: %s -> %s goes through %s, not a plain transition",
		    (long long)trial_id, trial_state_name(c.state), trial_state_name(to),
		    to == TRIAL_RUNNING ? "a lease" : to == TRIAL_SUCCEEDED ? "a finish report" :
		    c.state == TRIAL_ABANDONED ? "retry" : "a finish report or lease expiry");
		rc = TRIAL_EILLEGAL;
	} else if (rc == TRIAL_OK)
		rc = trial_set_state(st, &c, to, reason, c.attempts, now_wall(), cause);
	trial_ctx_clear(&c);
	return trial_op_end(st, own, rc, cause);
}

/* Loads the trial and checks that attempt is its current, still open attempt. A cancelled
 * or pruned trial's open attempt counts as current: its worker has yet to hear the news. */
static int
check_current(struct store *st, int64_t trial_id, int64_t attempt, struct trial_ctx *c,
    char **cause)
{
	int rc;

	if ((rc = trial_load(st, trial_id, c, cause)) != TRIAL_OK)
		return rc;
	if (c->attempts == attempt && c->cur.open && (c->state == TRIAL_RUNNING ||
	    c->state == TRIAL_CANCELLED || c->state == TRIAL_PRUNED))
		return TRIAL_OK;
	*cause = xasprintf("trial %lld attempt %lld is not current (the trial is %s at attempt"
	    " %lld)", (long long)trial_id, (long long)attempt, trial_state_name(c->state),
	    (long long)c->attempts);
	return TRIAL_ESTALE;
}

/* Reads a stored last_metrics object, or starts an empty one. */
static json_t *
metrics_object(const char *text)
{
	json_t *o = NULL;

	if (text != NULL)
		o = json_loads(text, 0, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o != NULL ? o : json_object();
}

/* Writes name -> last value as compact JSON with numbers in shortest round-trip form. */
static char *
metrics_text(json_t *o)
{
	struct buf b = { 0 };
	const char *key;
	json_t *v;
	bool first = true;

	buf_addc(&b, '{');
	json_object_foreach(o, key, v) {
		if (!first)
			buf_addc(&b, ',');
		first = false;
		json_add_string(&b, key);
		buf_addc(&b, ':');
		if (json_is_number(v))
			buf_add_double(&b, json_number_value(v));
		else
			buf_add(&b, "null", 4);
	}
	buf_addc(&b, '}');
	return buf_steal(&b);
}

/* Stores metric points of the current attempt (a repeated point replaces itself) and notes
 * the trial's last values in c->row for write_row: the objective's in trials.value, all in
 * last_metrics. TRIAL_ELIMIT, storing nothing, when the trial would have more than
 * max_names distinct metric names (0: no limit). */
static int
store_metrics(struct store *st, struct trial_ctx *c, int64_t attempt,
    const struct metric_point *pts, size_t npts, size_t max_names, char **cause)
{
	sqlite3_stmt *stmt;
	json_t *last;
	size_t i;

	if (npts == 0)
		return TRIAL_OK;
	last = metrics_object(c->last_metrics);
	for (i = 0; i < npts; i++) {
		if (pts[i].name != NULL)
			json_object_set_new(last, pts[i].name, isfinite(pts[i].value) ?
			    json_real(pts[i].value) : json_null());
	}
	if (max_names > 0 && json_object_size(last) > max_names) {
		*cause = xasprintf("trial %lld would have more than %zu distinct metric names",
		    (long long)c->id, max_names);
		json_decref(last);
		return TRIAL_ELIMIT;
	}
	stmt = store_stmt(st, "INSERT OR REPLACE INTO metrics (trial_id, attempt, name, step,"
	    " value, at) VALUES (?, ?, ?, ?, ?, ?)", cause);
	if (stmt == NULL) {
		json_decref(last);
		return TRIAL_ERROR;
	}
	for (i = 0; i < npts; i++) {
		const struct metric_point *p = &pts[i];

		if (p->name == NULL)
			continue;
		sqlite3_bind_int64(stmt, 1, c->id);
		sqlite3_bind_int64(stmt, 2, attempt);
		store_bind_text(stmt, 3, p->name);
		sqlite3_bind_int64(stmt, 4, p->step);
		sqlite3_bind_double(stmt, 5, p->value);
		sqlite3_bind_double(stmt, 6, p->at);
		if (store_step_done(st, stmt, "storing a metric", cause) != 0) {
			json_decref(last);
			return TRIAL_ERROR;
		}
		if (c->objective != NULL && strcmp(p->name, c->objective) == 0) {
			c->row.has_value = isfinite(p->value);
			c->row.value = p->value;
		}
		/* step: the furthest any attempt got, what early stopping judges and saves */
		if (p->step > c->row.step)
			c->row.step = p->step;
	}
	free(c->last_metrics);
	c->last_metrics = metrics_text(last);
	c->row.metrics = true;
	json_decref(last);
	return TRIAL_OK;
}

int
trial_heartbeat(struct store *st, int64_t trial_id, int64_t attempt,
    const struct metric_point *pts, size_t npts, double lease_timeout_s, double now,
    bool *cancel, char **cause)
{
	struct trial_ctx c;
	sqlite3_stmt *stmt;
	bool own;
	int rc;

	*cancel = false;
	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = check_current(st, trial_id, attempt, &c, cause)) != TRIAL_OK)
		goto out;
	rc = TRIAL_ERROR;
	stmt = store_stmt(st, "UPDATE attempts SET heartbeat_at = ?3, lease_expires = ?4"
	    " WHERE trial_id = ?1 AND attempt = ?2", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, attempt);
	sqlite3_bind_double(stmt, 3, now);
	sqlite3_bind_double(stmt, 4, now + lease_timeout_s);
	if (store_step_done(st, stmt, "extending a lease", cause) != 0)
		goto out;
	if ((rc = store_metrics(st, &c, attempt, pts, npts, 0, cause)) != TRIAL_OK)
		goto out;
	if (npts > 0 && (rc = flush_row(st, &c, cause)) != TRIAL_OK)
		goto out;
	*cancel = c.state == TRIAL_CANCELLED || c.state == TRIAL_PRUNED;
	rc = TRIAL_OK;
out:
	trial_ctx_clear(&c);
	rc = trial_op_end(st, own, rc, cause);
	if (rc != TRIAL_OK)
		*cancel = false;
	return rc;
}

int
trial_checkpoint(struct store *st, int64_t trial_id, int64_t attempt, const char *path,
    int64_t step, double now, char **cause)
{
	struct trial_ctx c;
	sqlite3_stmt *stmt;
	bool own;
	int rc;

	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = check_current(st, trial_id, attempt, &c, cause)) != TRIAL_OK)
		goto out;
	rc = TRIAL_ERROR;
	stmt = store_stmt(st, "INSERT OR IGNORE INTO checkpoints (trial_id, attempt, path, step,"
	    " at) VALUES (?, ?, ?, ?, ?)", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, attempt);
	store_bind_text(stmt, 3, path);
	if (step >= 0)
		sqlite3_bind_int64(stmt, 4, step);
	sqlite3_bind_double(stmt, 5, now);
	if (store_step_done(st, stmt, "recording a checkpoint", cause) != 0)
		goto out;
	rc = TRIAL_OK;
out:
	trial_ctx_clear(&c);
	return trial_op_end(st, own, rc, cause);
}

/* Closes an attempt with its outcome and adds its compute to the trial's totals in c->row:
 * runtime from the attempt's start to `until`, GPU-hours, and their cost at the attempt's
 * price. Interrupted attempts count too: compute lost to preemption is part of what a sweep
 * cost. The current attempt's row came with the trial; an older one is read. */
static int
close_attempt(struct store *st, struct trial_ctx *c, int64_t attempt, enum attempt_outcome o,
    int exit_code, const char *reason, const char *log_tail, double until, double now,
    char **cause)
{
	sqlite3_stmt *stmt;
	double runtime, started, gpus, price;
	int rc;

	if (attempt == c->attempts && c->cur.exists) {
		if (!c->cur.open) {
			*cause = xasprintf("trial %lld attempt %lld is not open",
			    (long long)c->id, (long long)attempt);
			return -1;
		}
		started = c->cur.started_at;
		gpus = (double)c->cur.gpus;
		price = c->cur.price;
		c->cur.open = false;
	} else {
		stmt = store_stmt(st, "SELECT started_at, gpus, price_per_hour FROM attempts"
		    " WHERE trial_id = ? AND attempt = ? AND outcome IS NULL", cause);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, c->id);
		sqlite3_bind_int64(stmt, 2, attempt);
		rc = store_step_row(st, stmt, "reading an attempt", cause);
		if (rc <= 0) {
			if (rc == 0)
				*cause = xasprintf("trial %lld attempt %lld is not open",
				    (long long)c->id, (long long)attempt);
			return -1;
		}
		started = sqlite3_column_double(stmt, 0);
		gpus = (double)sqlite3_column_int64(stmt, 1);
		price = sqlite3_column_double(stmt, 2);
		sqlite3_reset(stmt);
	}
	runtime = until - started;
	if (!(runtime > 0))
		runtime = 0;

	stmt = store_stmt(st, "UPDATE attempts SET ended_at = ?3, outcome = ?4, exit_code = ?5,"
	    " reason = ?6, log_tail = ?7, runtime_s = ?8 WHERE trial_id = ?1 AND attempt = ?2",
	    cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, c->id);
	sqlite3_bind_int64(stmt, 2, attempt);
	sqlite3_bind_double(stmt, 3, now);
	store_bind_text(stmt, 4, attempt_outcome_name(o));
	if (exit_code >= 0)
		sqlite3_bind_int(stmt, 5, exit_code);
	store_bind_text(stmt, 6, reason);
	store_bind_text(stmt, 7, log_tail);
	sqlite3_bind_double(stmt, 8, runtime);
	if (store_step_done(st, stmt, "closing an attempt", cause) != 0)
		return -1;
	c->row.runtime_s += runtime;
	c->row.gpu_hours += runtime * gpus / 3600.0;
	c->row.cost_usd += runtime * gpus / 3600.0 * price;
	return 0;
}

static bool
deadline_passed(const struct trial_ctx *c, double now)
{
	return c->deadline > 0 && now >= c->deadline;
}

/* Seconds to wait after the n-th failure: 5, 10, 20, ... capped at 300. */
static double
failure_backoff(int64_t failures)
{
	double d = BACKOFF_BASE_S;
	int64_t i;

	for (i = 1; i < failures && d < BACKOFF_MAX_S; i++)
		d *= 2;
	return d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
}

/* After an interrupted attempt (preempted or lost): back to pending at once while the
 * interruption budget lasts and the deadline allows. Failures are not charged. */
static int
after_interruption(struct store *st, struct trial_ctx *c, int64_t attempt, const char *what,
    double now, char **cause)
{
	char *why;
	int rc;

	c->preemptions++;
	c->not_before = now;
	if (c->preemptions > c->max_preemptions) {
		if (strcmp(what, "preempted") == 0)
			why = xasprintf("preempted %lld time%s", (long long)c->preemptions,
			    c->preemptions == 1 ? "" : "s");
		else
			why = xasprintf("interrupted %lld time%s (last: %s)",
			    (long long)c->preemptions, c->preemptions == 1 ? "" : "s", what);
		rc = trial_set_state(st, c, TRIAL_ABANDONED, why, attempt, now, cause);
		free(why);
		return rc;
	}
	if (deadline_passed(c, now))
		return trial_set_state(st, c, TRIAL_ABANDONED, "deadline passed", attempt, now, cause);
	return trial_set_state(st, c, TRIAL_PENDING, what, attempt, now, cause);
}

/* After a failed attempt: abandoned on a fatal pattern, a spent budget or a passed deadline;
 * else pending again after an exponential backoff. */
static int
after_failure(struct store *st, struct trial_ctx *c, int64_t attempt,
    const struct finish_report *r, char **cause)
{
	char *why, *what;
	int rc;

	c->failures++;
	if (r->reason != NULL)
		what = xstrdup(r->reason);
	else if (r->exit_code >= 0)
		what = xasprintf("exit status %d", r->exit_code);
	else
		what = xstrdup("failed");
	c->not_before = r->now + failure_backoff(c->failures);
	if (r->fatal_match != NULL) {
		why = xasprintf("fatal pattern matched: %s", r->fatal_match);
		rc = trial_set_state(st, c, TRIAL_ABANDONED, why, attempt, r->now, cause);
		free(why);
	} else if (c->failures > c->max_failures) {
		why = xasprintf("failed %lld time%s: %s", (long long)c->failures,
		    c->failures == 1 ? "" : "s", what);
		rc = trial_set_state(st, c, TRIAL_ABANDONED, why, attempt, r->now, cause);
		free(why);
	} else if (deadline_passed(c, r->now))
		rc = trial_set_state(st, c, TRIAL_ABANDONED, "deadline passed", attempt, r->now, cause);
	else
		rc = trial_set_state(st, c, TRIAL_PENDING, what, attempt, r->now, cause);
	free(what);
	return rc;
}

/* W&B's metric.target: once a succeeded trial's value reaches it, the sweep starts nothing
 * new. Its pending trials are cancelled (running ones finish), and a bayes sweep proposes
 * no more (its cap becomes the trials it has). */
static int
check_target(struct store *st, struct trial_ctx *c, double now, char **cause)
{
	sqlite3_stmt *stmt;
	char reason[96];
	int64_t n;
	int rc;

	stmt = store_stmt(st, "SELECT 1 FROM trials t JOIN sweeps s ON s.id = t.sweep_id"
	    " WHERE t.id = ? AND s.target IS NOT NULL AND t.value IS NOT NULL AND"
	    " CASE s.goal WHEN 'maximize' THEN t.value >= s.target"
	    " ELSE t.value <= s.target END", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, c->id);
	if ((rc = store_step_row(st, stmt, "checking the target", cause)) <= 0)
		return rc < 0 ? TRIAL_ERROR : TRIAL_OK;
	sqlite3_reset(stmt);
	snprintf(reason, sizeof reason, "metric.target reached by trial %lld", (long long)c->id);
	stmt = store_stmt(st, "UPDATE trials SET state = 'cancelled', reason = ?3,"
	    " finished_at = ?2 WHERE sweep_id = ?1 AND state = 'pending'", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, c->sweep_id);
	sqlite3_bind_double(stmt, 2, now);
	store_bind_text(stmt, 3, reason);
	if (store_step_done(st, stmt, "cancelling trials", cause) != 0)
		return TRIAL_ERROR;
	n = sqlite3_changes(store_db(st));
	if (count_move(st, c->sweep_id, TRIAL_PENDING, TRIAL_CANCELLED, n, NULL, cause) != 0)
		return TRIAL_ERROR;
	stmt = store_stmt(st, "UPDATE sweeps SET max_trials = n_trials WHERE id = ?"
	    " AND method = 'bayes'", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, c->sweep_id);
	if (store_step_done(st, stmt, "capping the sweep", cause) != 0)
		return TRIAL_ERROR;
	snprintf(reason, sizeof reason, "{\"trial\":%lld,\"cancelled\":%lld}",
	    (long long)c->id, (long long)n);
	if (store_event(st, c->sweep_id, c->id, 0, "sweep.target_reached", reason, cause) != 0 ||
	    sweep_check_done(st, c->sweep_id, now, cause) != 0)
		return TRIAL_ERROR;
	return TRIAL_OK;
}

int
trial_finish(struct store *st, int64_t trial_id, int64_t attempt,
    const struct finish_report *r, enum trial_state *next, char **cause)
{
	struct trial_ctx c;
	enum attempt_outcome recorded = r->outcome;
	bool own;
	int rc;

	if (r->outcome != OUTCOME_SUCCEEDED && r->outcome != OUTCOME_FAILED &&
	    r->outcome != OUTCOME_PREEMPTED && r->outcome != OUTCOME_CANCELLED &&
	    r->outcome != OUTCOME_PRUNED) {
		*cause = xasprintf("outcome %s cannot be reported",
		    attempt_outcome_name(r->outcome));
		return TRIAL_ERROR;
	}
	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = check_current(st, trial_id, attempt, &c, cause)) != TRIAL_OK)
		goto out;
	if (r->sweep_id != NULL)
		*r->sweep_id = c.sweep_id;
	if (r->lease_secret != NULL && (c.cur.worker_id != r->worker_id ||
	    !lease_secret_equal(c.cur.secret, r->lease_secret))) {
		*cause = xasprintf(c.cur.worker_id != r->worker_id ?
		    "trial %lld attempt %lld is leased to another worker" :
		    "wrong lease secret for trial %lld attempt %lld", (long long)trial_id,
		    (long long)attempt);
		rc = TRIAL_EHOLDER;
		goto out;
	}
	if ((rc = store_metrics(st, &c, attempt, r->pts, r->npts, r->max_metric_names,
	    cause)) != TRIAL_OK)
		goto out;
	rc = TRIAL_ERROR;
	/* The trial was stopped while this attempt ran: whatever the worker saw, the
	 * attempt ended because of that, and the trial stays where it is. */
	if (c.state == TRIAL_CANCELLED)
		recorded = OUTCOME_CANCELLED;
	else if (c.state == TRIAL_PRUNED)
		recorded = OUTCOME_PRUNED;
	if (close_attempt(st, &c, attempt, recorded, r->exit_code, r->reason, r->log_tail,
	    r->now, r->now, cause) != 0)
		goto out;
	if (c.state != TRIAL_RUNNING) {
		rc = flush_row(st, &c, cause);
		goto out;
	}
	switch (r->outcome) {
	case OUTCOME_SUCCEEDED:
		rc = trial_set_state(st, &c, TRIAL_SUCCEEDED, NULL, attempt, r->now, cause);
		if (rc == TRIAL_OK && c.sweep_has_target)
			rc = check_target(st, &c, r->now, cause);
		break;
	case OUTCOME_PRUNED:
		rc = trial_set_state(st, &c, TRIAL_PRUNED, r->reason, attempt, r->now, cause);
		break;
	case OUTCOME_CANCELLED:
		rc = trial_set_state(st, &c, TRIAL_CANCELLED, r->reason != NULL ? r->reason :
		    "cancelled by its worker", attempt, r->now, cause);
		break;
	case OUTCOME_PREEMPTED:
		rc = after_interruption(st, &c, attempt, "preempted", r->now, cause);
		break;
	default:
		rc = after_failure(st, &c, attempt, r, cause);
		break;
	}
out:
	if (rc == TRIAL_OK && next != NULL)
		*next = c.state;
	trial_ctx_clear(&c);
	return trial_op_end(st, own, rc, cause);
}

/* An open attempt whose lease ran out. */
struct expired {
	int64_t	trial_id;
	int64_t	attempt;
	double	last_seen;
};

/* Ends one expired attempt as lost (or as the cancelled/pruned its trial already is),
 * charging the compute up to its last heartbeat, and moves a running trial on. */
static int
expire_one(struct store *st, const struct expired *x, double now, char **cause)
{
	struct trial_ctx c;
	enum attempt_outcome o = OUTCOME_LOST;
	int rc;

	if ((rc = trial_load(st, x->trial_id, &c, cause)) != TRIAL_OK)
		return rc;
	if (c.attempts == x->attempt && c.state == TRIAL_CANCELLED)
		o = OUTCOME_CANCELLED;
	else if (c.attempts == x->attempt && c.state == TRIAL_PRUNED)
		o = OUTCOME_PRUNED;
	rc = TRIAL_ERROR;
	if (close_attempt(st, &c, x->attempt, o, -1, "lease expired", NULL, x->last_seen, now,
	    cause) != 0)
		goto out;
	if (store_event(st, c.sweep_id, c.id, x->attempt, "attempt.lost", NULL, cause) != 0)
		goto out;
	if (c.attempts == x->attempt && c.state == TRIAL_RUNNING)
		rc = after_interruption(st, &c, x->attempt, "lease expired", now, cause);
	else
		rc = flush_row(st, &c, cause);
out:
	trial_ctx_clear(&c);
	return rc;
}

int
trial_lose(struct store *st, int64_t trial_id, int64_t attempt, const char *reason,
    bool charge, double now, char **cause)
{
	struct trial_ctx c;
	enum attempt_outcome o = OUTCOME_LOST;
	sqlite3_stmt *stmt;
	double until;
	bool own;
	int rc;

	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = check_current(st, trial_id, attempt, &c, cause)) != TRIAL_OK)
		goto out;
	rc = TRIAL_ERROR;
	/* The compute charged runs to the last heartbeat; nothing for an attempt that never
	 * started. */
	stmt = store_stmt(st, "SELECT CASE WHEN ?3 THEN coalesce(heartbeat_at, started_at)"
	    " ELSE started_at END FROM attempts WHERE trial_id = ?1 AND attempt = ?2", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, attempt);
	sqlite3_bind_int(stmt, 3, charge);
	if (store_step_row(st, stmt, "reading an attempt", cause) != 1)
		goto out;
	until = sqlite3_column_double(stmt, 0);
	sqlite3_reset(stmt);
	if (c.state == TRIAL_CANCELLED)
		o = OUTCOME_CANCELLED;
	else if (c.state == TRIAL_PRUNED)
		o = OUTCOME_PRUNED;
	if (close_attempt(st, &c, attempt, o, -1, reason, NULL, until, now, cause) != 0)
		goto out;
	if (store_event(st, c.sweep_id, c.id, attempt, "attempt.lost", NULL, cause) != 0)
		goto out;
	if (c.state != TRIAL_RUNNING)
		rc = flush_row(st, &c, cause);
	else if (charge)
		rc = after_interruption(st, &c, attempt, reason, now, cause);
	else if (deadline_passed(&c, now))
		rc = trial_set_state(st, &c, TRIAL_ABANDONED, "deadline passed", attempt, now, cause);
	else
		rc = trial_set_state(st, &c, TRIAL_PENDING, reason, attempt, now, cause);
out:
	trial_ctx_clear(&c);
	return trial_op_end(st, own, rc, cause);
}

/* Abandons a bounded batch of the pending trials of sweeps past their deadline, in bulk:
 * one event per sweep and batch rather than one per trial. */
static int
expire_deadlines(struct store *st, double now, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t sweeps[16], n;
	size_t nsweeps = 0, i;
	char detail[64];
	int rc;

	stmt = store_stmt(st, "SELECT id FROM sweeps WHERE state = 'active'"
	    " AND deadline IS NOT NULL AND deadline <= ? AND n_pending > 0 ORDER BY id LIMIT 16",
	    cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		sweeps[nsweeps++] = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_error(st, "finding sweeps past their deadline", cause);
	for (i = 0; i < nsweeps; i++) {
		/* The table allows it; the bulk form only saves a statement per trial. */
		if (!trial_transition_legal(TRIAL_PENDING, TRIAL_ABANDONED))
			abort();
		stmt = store_stmt(st, "UPDATE trials SET state = 'abandoned',"
		    " reason = 'deadline passed', finished_at = ?2 WHERE id IN (SELECT id FROM"
		    " trials WHERE sweep_id = ?1 AND state = 'pending' ORDER BY id LIMIT ?3)",
		    cause);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, sweeps[i]);
		sqlite3_bind_double(stmt, 2, now);
		sqlite3_bind_int(stmt, 3, DEADLINE_BATCH);
		if (store_step_done(st, stmt, "abandoning trials past the deadline", cause) != 0)
			return -1;
		n = sqlite3_changes(store_db(st));
		if (count_move(st, sweeps[i], TRIAL_PENDING, TRIAL_ABANDONED, n, NULL, cause) != 0)
			return -1;
		snprintf(detail, sizeof detail, "{\"abandoned\":%lld}", (long long)n);
		if (store_event(st, sweeps[i], 0, 0, "sweep.deadline", detail, cause) != 0)
			return -1;
		if (sweep_check_done(st, sweeps[i], now, cause) != 0)
			return -1;
	}
	return 0;
}

int
trial_expire_leases(struct store *st, double now, int *n, char **cause)
{
	struct expired batch[64];
	sqlite3_stmt *stmt;
	size_t nbatch, i;
	bool own;
	int rc = TRIAL_OK;

	*n = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	do {
		stmt = store_stmt(st, "SELECT trial_id, attempt, coalesce(heartbeat_at, started_at)"
		    " FROM attempts WHERE outcome IS NULL AND lease_expires < ?"
		    " ORDER BY lease_expires LIMIT 64", cause);
		if (stmt == NULL) {
			rc = TRIAL_ERROR;
			break;
		}
		sqlite3_bind_double(stmt, 1, now);
		nbatch = 0;
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			batch[nbatch].trial_id = sqlite3_column_int64(stmt, 0);
			batch[nbatch].attempt = sqlite3_column_int64(stmt, 1);
			batch[nbatch].last_seen = sqlite3_column_double(stmt, 2);
			nbatch++;
		}
		sqlite3_reset(stmt);
		if (rc != SQLITE_DONE) {
			rc = store_error(st, "finding expired leases", cause);
			break;
		}
		rc = TRIAL_OK;
		for (i = 0; i < nbatch && rc == TRIAL_OK; i++) {
			rc = expire_one(st, &batch[i], now, cause);
			if (rc == TRIAL_OK)
				(*n)++;
		}
	} while (rc == TRIAL_OK && nbatch == 64);
	if (rc == TRIAL_OK && expire_deadlines(st, now, cause) != 0)
		rc = TRIAL_ERROR;
	if (rc != TRIAL_OK)
		*n = 0;
	return trial_op_end(st, own, rc, cause);
}

int
trial_renew_leases(struct store *st, double until, int *n, char **cause)
{
	sqlite3_stmt *stmt;
	bool own;
	int rc = TRIAL_ERROR;

	*n = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	stmt = store_stmt(st, "UPDATE attempts SET lease_expires = ?1"
	    " WHERE outcome IS NULL AND lease_expires < ?1", cause);
	if (stmt != NULL) {
		sqlite3_bind_double(stmt, 1, until);
		if (store_step_done(st, stmt, "renewing leases", cause) == 0) {
			*n = sqlite3_changes(store_db(st));
			rc = TRIAL_OK;
		}
	}
	if (rc != TRIAL_OK)
		*n = 0;
	return trial_op_end(st, own, rc, cause);
}

/* Reads a sweep's state; TRIAL_ENOENT with "no sweep N" when absent. */
static int
sweep_state(struct store *st, int64_t sweep_id, char state[16], char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	stmt = store_stmt(st, "SELECT state FROM sweeps WHERE id = ?", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	rc = store_step_row(st, stmt, "reading a sweep", cause);
	if (rc <= 0) {
		if (rc < 0)
			return TRIAL_ERROR;
		*cause = xasprintf("no sweep %lld", (long long)sweep_id);
		return TRIAL_ENOENT;
	}
	snprintf(state, 16, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	return TRIAL_OK;
}

/* Cancels the running trials of a sweep one by one (they are few: one per busy slot), found
 * through their open attempts. */
static int
cancel_running(struct store *st, int64_t sweep_id, double now, int64_t *n, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t *ids = NULL;
	size_t nids = 0, cap = 0, i;
	struct trial_ctx c;
	int rc;

	/* CROSS JOIN keeps attempts outermost: the open ones are few, a sweep's trials many. */
	stmt = store_stmt(st, "SELECT t.id FROM attempts a CROSS JOIN trials t ON t.id = a.trial_id"
	    " AND t.attempts = a.attempt WHERE a.outcome IS NULL AND t.sweep_id = ?"
	    " AND t.state = 'running' ORDER BY t.id", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (nids == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			ids = xreallocarray(ids, cap, sizeof *ids);
		}
		ids[nids++] = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(ids);
		return store_error(st, "finding running trials", cause);
	}
	rc = TRIAL_OK;
	for (i = 0; i < nids && rc == TRIAL_OK; i++) {
		if ((rc = trial_load(st, ids[i], &c, cause)) != TRIAL_OK)
			break;
		rc = trial_set_state(st, &c, TRIAL_CANCELLED, "sweep cancelled", c.attempts, now, cause);
		if (rc == TRIAL_OK)
			(*n)++;
		trial_ctx_clear(&c);
	}
	free(ids);
	return rc;
}

int
trial_cancel_sweep(struct store *st, int64_t sweep_id, int64_t *n, char **cause)
{
	sqlite3_stmt *stmt;
	char state[16], detail[64];
	double now = now_wall();
	int64_t npending;
	bool own;
	int rc;

	*n = 0;
	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = sweep_state(st, sweep_id, state, cause)) != TRIAL_OK)
		goto out;
	if (strcmp(state, "cancelled") == 0)
		goto out;	/* cancelling twice is harmless: nothing left to stop */
	if (strcmp(state, "active") != 0) {
		*cause = xasprintf("sweep %lld is already %s", (long long)sweep_id, state);
		rc = TRIAL_EILLEGAL;
		goto out;
	}
	rc = TRIAL_ERROR;
	/* Pending trials in bulk: a million-trial sweep cancels in one statement. */
	if (!trial_transition_legal(TRIAL_PENDING, TRIAL_CANCELLED))
		abort();
	stmt = store_stmt(st, "UPDATE trials SET state = 'cancelled', reason = 'sweep cancelled',"
	    " finished_at = ?2 WHERE sweep_id = ?1 AND state = 'pending'", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_double(stmt, 2, now);
	if (store_step_done(st, stmt, "cancelling trials", cause) != 0)
		goto out;
	npending = sqlite3_changes(store_db(st));
	*n = npending;
	if (count_move(st, sweep_id, TRIAL_PENDING, TRIAL_CANCELLED, npending, NULL,
	    cause) != 0)
		goto out;
	/* Running ones keep their attempt open: the worker hears `cancel` and finishes it. */
	if ((rc = cancel_running(st, sweep_id, now, n, cause)) != TRIAL_OK)
		goto out;
	rc = TRIAL_ERROR;
	stmt = store_stmt(st, "UPDATE sweeps SET state = 'cancelled', finished_at = ?2"
	    " WHERE id = ?1", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_double(stmt, 2, now);
	if (store_step_done(st, stmt, "cancelling a sweep", cause) != 0)
		goto out;
	snprintf(detail, sizeof detail, "{\"trials\":%lld}", (long long)*n);
	if (store_event(st, sweep_id, 0, 0, "sweep.cancelled", detail, cause) != 0)
		goto out;
	rc = TRIAL_OK;
out:
	if (rc != TRIAL_OK)
		*n = 0;
	return trial_op_end(st, own, rc, cause);
}

int
trial_cancel(struct store *st, int64_t trial_id, char **cause)
{
	struct trial_ctx c;
	bool own;
	int rc;

	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = trial_load(st, trial_id, &c, cause)) != TRIAL_OK)
		goto out;
	if (c.state != TRIAL_PENDING && c.state != TRIAL_RUNNING) {
		*cause = xasprintf("trial %lld is %s; only pending or running trials can be"
		    " cancelled", (long long)trial_id, trial_state_name(c.state));
		rc = TRIAL_EILLEGAL;
		goto out;
	}
	rc = trial_set_state(st, &c, TRIAL_CANCELLED, "cancelled", c.attempts, now_wall(), cause);
out:
	trial_ctx_clear(&c);
	return trial_op_end(st, own, rc, cause);
}

/* Puts a final trial back to pending (retry: abandoned, with a fresh failure budget;
 * promotion: pruned, once its last attempt has closed). */
static int
requeue(struct store *st, int64_t trial_id, enum trial_state from, const char *reason,
    char **cause)
{
	struct trial_ctx c;
	sqlite3_stmt *stmt;
	bool own;
	int rc;

	if (store_op_begin(st, &own, cause) != 0)
		return TRIAL_ERROR;
	if ((rc = trial_load(st, trial_id, &c, cause)) != TRIAL_OK)
		goto out;
	rc = TRIAL_EILLEGAL;
	if (c.state != from) {
		*cause = xasprintf("trial %lld is %s; only %s trials can be %s",
		    (long long)trial_id, trial_state_name(c.state), trial_state_name(from),
		    from == TRIAL_PRUNED ? "promoted" : "retried");
		goto out;
	}
	if (c.sweep_cancelled) {
		*cause = xasprintf("trial %lld belongs to sweep %lld, which was cancelled",
		    (long long)trial_id, (long long)c.sweep_id);
		goto out;
	}
	/* A pruned trial's worker may still be stopping it, holding the lease. */
	stmt = store_stmt(st, "SELECT 1 FROM attempts WHERE trial_id = ? AND outcome IS NULL",
	    cause);
	if (stmt == NULL)
		goto fail;
	sqlite3_bind_int64(stmt, 1, trial_id);
	if ((rc = store_step_row(st, stmt, "reading attempts", cause)) != 0) {
		if (rc < 0)
			goto fail;
		sqlite3_reset(stmt);
		*cause = xasprintf("trial %lld is still being stopped", (long long)trial_id);
		rc = TRIAL_EILLEGAL;
		goto out;
	}
	/* A fresh failure budget on retry; interruptions were never the trial's fault but
	 * still count against max_preemptions, so a trial that kept losing its machine is not
	 * retried forever by accident. */
	if (from == TRIAL_ABANDONED)
		c.failures = 0;
	c.not_before = 0;
	rc = trial_set_state(st, &c, TRIAL_PENDING, reason, c.attempts, now_wall(), cause);
	goto out;
fail:
	rc = TRIAL_ERROR;
out:
	trial_ctx_clear(&c);
	return trial_op_end(st, own, rc, cause);
}

int
trial_promote(struct store *st, int64_t trial_id, const char *reason, char **cause)
{
	return requeue(st, trial_id, TRIAL_PRUNED, reason, cause);
}

int
trial_retry(struct store *st, int64_t trial_id, char **cause)
{
	return requeue(st, trial_id, TRIAL_ABANDONED, NULL, cause);
}
