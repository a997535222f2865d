/* GET /metrics: the scheduler in Prometheus's text exposition format (version 0.0.4).
 *
 * Two kinds of numbers. What the scheduler does in-process (requests by route, method and
 * status with their latency; group commits and theirs) is counted in memory by two hooks the
 * HTTP layer calls on its hot path: a lookup in a fixed table and a few increments, no
 * allocation, no SQL. What lives in the store is read at scrape time: trials by state and
 * sweep from the sweeps' counters, the best value through the trials_best index, workers by
 * pool and state, the pools' prices and rule decisions from server-pools.c.
 *
 * Everything about attempts (by outcome, leases, spend, preemptions, lost workers) comes
 * from a fold that each scrape extends with only what changed since the previous one: an
 * attempt row is only ever added (ids ascending) and its outcome, once set, never changes,
 * so the fold keeps the highest id it has read and the ids that were still open then, and
 * a scrape reads the rows above that id and looks up the open ones by primary key. A scrape
 * costs what changed, not the size of the store; the first one after a start reads every
 * attempt once. The scrape first commits the open group commit, so the fold never counts a
 * write that is rolled back later. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "spotsweep/agent-output.h"
#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/server-metrics.h"
#include "spotsweep/store-flush.h"
#include "spotsweep/server-pools.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/version.h"
#include "spotsweep/xmalloc.h"

const double metrics_bucket_bounds[METRICS_NBUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* Route slots: the route table's entries (each a pattern and a method), and the unmatched
 * requests per method. Statuses per route: the few a route answers. Beyond either, a request
 * is counted only in `dropped`. */
#define METRICS_MAX_ROUTES	64
#define METRICS_MAX_STATUSES	12

static const char unmatched_route[] = "unmatched";

struct status_cell {
	int			 status;
	struct metrics_histogram h;
};

struct route_slot {
	const char		*route;		/* the route table's pattern (static) */
	enum evhttp_cmd_type	 method;
	unsigned		 nstatus;
	struct status_cell	 cells[METRICS_MAX_STATUSES];
};

/* Attempts of one sweep, and of one (pool, class), folded so far. */
struct sweep_fold {
	int64_t		 sweep_id;
	uint64_t	 outcome[OUTCOME_MAX];
	double		 spend_usd;
};

struct pool_fold {
	char		*pool;		/* "" for none */
	char		*cls;		/* "spot", "on-demand", "none" */
	uint64_t	 preempted, lost;
	double		 spend_usd, gpu_seconds;
};

struct attempt_fold {
	int64_t			 high;		/* every attempt id <= high is folded or open */
	int64_t			*open;		/* ids <= high without an outcome when last read */
	size_t			 nopen, capopen;
	uint64_t		 rows;		/* attempt rows read: leases granted */
	struct sweep_fold	*sweeps;	/* sorted by sweep_id */
	size_t			 nsweeps, capsweeps;
	struct pool_fold	*pools;
	size_t			 npools, cappools;
};

struct server_metrics {
	struct route_slot	 routes[METRICS_MAX_ROUTES];
	unsigned		 nroutes;
	uint64_t		 dropped;
	struct metrics_histogram commit;
	uint64_t		 commit_failures;
	double			 started_wall;
	double			 last_scrape_s;
	struct attempt_fold	 fold;
};

/* ---- exposition helpers ---- */

size_t
metrics_bucket_index(double v)
{
	size_t i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		if (v <= metrics_bucket_bounds[i])
			return i;
	}
	return METRICS_NBUCKETS;
}

void
metrics_histogram_observe(struct metrics_histogram *h, double v)
{
	if (!(v >= 0))
		v = isnan(v) ? v : 0;
	h->bucket[metrics_bucket_index(v)]++;
	h->count++;
	if (!isnan(v))
		h->sum += v;
}

void
metrics_add_label_value(struct buf *b, const char *s)
{
	struct buf clean = { 0 };
	size_t i;

	agent_buf_add_utf8_sanitized(&clean, s, strlen(s));
	for (i = 0; i < clean.len; i++) {
		char c = clean.data[i];

		if (c == '\\')
			buf_add(b, "\\\\", 2);
		else if (c == '"')
			buf_add(b, "\\\"", 2);
		else if (c == '\n')
			buf_add(b, "\\n", 2);
		else
			buf_addc(b, c);
	}
	buf_free(&clean);
}

void
metrics_add_value(struct buf *b, double v)
{
	char num[32];

	if (isnan(v))
		buf_adds(b, "NaN");
	else if (isinf(v))
		buf_adds(b, v > 0 ? "+Inf" : "-Inf");
	else {
		format_double(num, v);
		buf_adds(b, num);
	}
}

void
metrics_add_family(struct buf *b, const char *name, const char *type, const char *help)
{
	const char *p;

	buf_printf(b, "# HELP %s ", name);
	for (p = help; *p != '\0'; p++) {
		if (*p == '\\')
			buf_add(b, "\\\\", 2);
		else if (*p == '\n')
			buf_add(b, "\\n", 2);
		else
			buf_addc(b, *p);
	}
	buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void
metrics_add_histogram(struct buf *b, const char *name, const char *labels,
    const struct metrics_histogram *h)
{
	const char *sep = *labels != '\0' ? "," : "";
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += h->bucket[i];
		buf_printf(b, "%s_bucket{%s%sle=\"", name, labels, sep);
		metrics_add_value(b, metrics_bucket_bounds[i]);
		buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	/* The +Inf bucket is the count by definition, even if a NaN slipped in. */
	buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
	    (unsigned long long)h->count);
	if (*labels != '\0')
		buf_printf(b, "%s_sum{%s} ", name, labels);
	else
		buf_printf(b, "%s_sum ", name);
	metrics_add_value(b, h->sum);
	if (*labels != '\0')
		buf_printf(b, "\n%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
	else
		buf_printf(b, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}

/* ---- in-process counters ---- */

struct server_metrics *
server_metrics_create(void)
{
	struct server_metrics *m = xcalloc(1, sizeof *m);

	m->started_wall = now_wall();
	return m;
}

void
server_metrics_free(struct server_metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->fold.npools; i++) {
		free(m->fold.pools[i].pool);
		free(m->fold.pools[i].cls);
	}
	free(m->fold.pools);
	free(m->fold.sweeps);
	free(m->fold.open);
	free(m);
}

void
server_metrics_request(struct server *srv, const char *route, enum evhttp_cmd_type method,
    int status, double seconds)
{
	struct server_metrics *m = srv->metrics;
	struct route_slot *r = NULL;
	struct status_cell *c = NULL;
	unsigned i;

	if (m == NULL)
		return;
	if (route == NULL)
		route = unmatched_route;
	for (i = 0; i < m->nroutes; i++) {
		if (m->routes[i].route == route && m->routes[i].method == method) {
			r = &m->routes[i];
			break;
		}
	}
	if (r == NULL) {
		if (m->nroutes == METRICS_MAX_ROUTES) {
			m->dropped++;
			return;
		}
		r = &m->routes[m->nroutes++];
		r->route = route;
		r->method = method;
	}
	for (i = 0; i < r->nstatus; i++) {
		if (r->cells[i].status == status) {
			c = &r->cells[i];
			break;
		}
	}
	if (c == NULL) {
		if (r->nstatus == METRICS_MAX_STATUSES) {
			m->dropped++;
			return;
		}
		c = &r->cells[r->nstatus++];
		c->status = status;
	}
	metrics_histogram_observe(&c->h, seconds);
}

void
server_metrics_commit(struct server *srv, bool ok, double seconds)
{
	struct server_metrics *m = srv->metrics;

	if (m == NULL)
		return;
	metrics_histogram_observe(&m->commit, seconds);
	if (!ok)
		m->commit_failures++;
}

/* ---- the attempt fold ---- */

static struct sweep_fold *
fold_sweep(struct attempt_fold *f, int64_t sweep_id)
{
	size_t lo = 0, hi = f->nsweeps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->sweeps[mid].sweep_id < sweep_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < f->nsweeps && f->sweeps[lo].sweep_id == sweep_id)
		return &f->sweeps[lo];
	if (f->nsweeps == f->capsweeps) {
		f->capsweeps = f->capsweeps ? f->capsweeps * 2 : 16;
		f->sweeps = xreallocarray(f->sweeps, f->capsweeps, sizeof *f->sweeps);
	}
	memmove(&f->sweeps[lo + 1], &f->sweeps[lo], (f->nsweeps - lo) * sizeof *f->sweeps);
	f->nsweeps++;
	memset(&f->sweeps[lo], 0, sizeof f->sweeps[lo]);
	f->sweeps[lo].sweep_id = sweep_id;
	return &f->sweeps[lo];
}

static const struct sweep_fold *
fold_find_sweep(const struct attempt_fold *f, int64_t sweep_id)
{
	size_t lo = 0, hi = f->nsweeps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->sweeps[mid].sweep_id < sweep_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->nsweeps && f->sweeps[lo].sweep_id == sweep_id ? &f->sweeps[lo] : NULL;
}

static struct pool_fold *
fold_pool(struct attempt_fold *f, const char *pool, const char *cls)
{
	size_t i;

	for (i = 0; i < f->npools; i++) {
		if (strcmp(f->pools[i].pool, pool) == 0 && strcmp(f->pools[i].cls, cls) == 0)
			return &f->pools[i];
	}
	if (f->npools == f->cappools) {
		f->cappools = f->cappools ? f->cappools * 2 : 8;
		f->pools = xreallocarray(f->pools, f->cappools, sizeof *f->pools);
	}
	memset(&f->pools[f->npools], 0, sizeof f->pools[f->npools]);
	f->pools[f->npools].pool = xstrdup(pool);
	f->pools[f->npools].cls = xstrdup(cls);
	return &f->pools[f->npools++];
}

static void
push_id(int64_t **open, size_t *n, size_t *cap, int64_t id)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*open = xreallocarray(*open, *cap, sizeof **open);
	}
	(*open)[(*n)++] = id;
}

/* The columns both fold queries read: id, outcome, pool, class, gpus, price, runtime, sweep.
 * Spend is the arithmetic of store-cost.c (runtime x GPUs / 3600 x price), so it agrees
 * with `spotsweep cost`. */
#define FOLD_COLUMNS "SELECT a.id, a.outcome, coalesce(a.pool, ''), coalesce(a.pool_class, ''),"\
    " a.gpus, coalesce(a.price_per_hour, 0), coalesce(a.runtime_s, 0), t.sweep_id" \
    " FROM attempts a JOIN trials t ON t.id = a.trial_id"

/* Folds a closed attempt's row (the statement is on it). */
static void
fold_row(struct attempt_fold *f, sqlite3_stmt *stmt)
{
	const char *outcome = (const char *)sqlite3_column_text(stmt, 1);
	const char *pool = (const char *)sqlite3_column_text(stmt, 2);
	const char *cls = (const char *)sqlite3_column_text(stmt, 3);
	double gpus = (double)sqlite3_column_int64(stmt, 4);
	double price = sqlite3_column_double(stmt, 5);
	double runtime = sqlite3_column_double(stmt, 6);
	struct sweep_fold *sf = fold_sweep(f, sqlite3_column_int64(stmt, 7));
	struct pool_fold *pf;
	enum attempt_outcome o;
	double usd;

	if (!(runtime > 0))
		runtime = 0;
	usd = runtime * gpus / 3600.0 * price;
	if (outcome == NULL || !attempt_outcome_parse(outcome, &o))
		o = OUTCOME_RUNNING;	/* not stored by trial.c: counted nowhere */
	sf->outcome[o]++;
	sf->spend_usd += usd;
	if (strcmp(cls, "spot") != 0 && strcmp(cls, "on-demand") != 0)
		cls = "none";
	pf = fold_pool(f, pool != NULL ? pool : "", cls);
	pf->spend_usd += usd;
	pf->gpu_seconds += runtime * gpus;
	if (o == OUTCOME_PREEMPTED)
		pf->preempted++;
	else if (o == OUTCOME_LOST)
		pf->lost++;
}

/* Brings the fold up to date: the open attempts that closed, then the rows added. On an
 * error the fold stays consistent (what was read is folded, the rest is read next time). */
static int
fold_update(struct store *st, struct attempt_fold *f, char **cause)
{
	int64_t *open = NULL;
	size_t nopen = 0, capopen = 0, i = 0;
	sqlite3_stmt *stmt;
	int rc = -1, step;

	stmt = store_stmt(st, FOLD_COLUMNS " WHERE a.id = ?", cause);
	if (stmt == NULL)
		goto keep_rest;
	for (i = 0; i < f->nopen; i++) {
		sqlite3_bind_int64(stmt, 1, f->open[i]);
		step = store_step_row(st, stmt, "reading an attempt", cause);
		if (step < 0)
			goto keep_rest;
		if (step == 0)
			continue;	/* gone (not done by spotsweep): nothing to fold */
		if (sqlite3_column_type(stmt, 1) == SQLITE_NULL)
			push_id(&open, &nopen, &capopen, f->open[i]);
		else
			fold_row(f, stmt);
		sqlite3_reset(stmt);
	}
	stmt = store_stmt(st, FOLD_COLUMNS " WHERE a.id > ? ORDER BY a.id", cause);
	if (stmt == NULL)
		goto done;
	sqlite3_bind_int64(stmt, 1, f->high);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(stmt, 0);

		f->high = id;
		f->rows++;
		if (sqlite3_column_type(stmt, 1) == SQLITE_NULL)
			push_id(&open, &nopen, &capopen, id);
		else
			fold_row(f, stmt);
	}
	if (step != SQLITE_DONE) {
		store_error(st, "reading attempts", cause);
		sqlite3_reset(stmt);
		goto done;
	}
	sqlite3_reset(stmt);
	rc = 0;
	goto done;
keep_rest:
	for (; i < f->nopen; i++)
		push_id(&open, &nopen, &capopen, f->open[i]);
done:
	free(f->open);
	f->open = open;
	f->nopen = nopen;
	f->capopen = capopen;
	return rc;
}

/* ---- the scrape ---- */

struct sweep_row {
	int64_t		 id;
	char		*name;
	char		*method;
	char		*state;
	int64_t		 by_state[TRIAL_STATE_MAX];
	bool		 has_best;
	double		 best;
};

struct worker_row {
	char		*pool;
	char		*state;
	int64_t		 n;
};

struct scrape {
	struct sweep_row	*sweeps;
	size_t			 nsweeps;
	struct worker_row	*workers;
	size_t			 nworkers;
};

static void
scrape_clear(struct scrape *s)
{
	size_t i;

	for (i = 0; i < s->nsweeps; i++) {
		free(s->sweeps[i].name);
		free(s->sweeps[i].method);
		free(s->sweeps[i].state);
	}
	free(s->sweeps);
	for (i = 0; i < s->nworkers; i++) {
		free(s->workers[i].pool);
		free(s->workers[i].state);
	}
	free(s->workers);
}

/* The best trial as `status` finds it (store_best_trial), so the two agree. */
static int
read_best(struct store *st, struct sweep_row *r, bool minimize, char **cause)
{
	int64_t trial_id;
	int rc;

	rc = store_best_trial(st, r->id, minimize, &trial_id, &r->best, NULL, cause);
	r->has_best = rc == 1;
	return rc < 0 ? -1 : 0;
}

static int
read_sweeps(struct store *st, struct scrape *s, char **cause)
{
	sqlite3_stmt *stmt;
	size_t cap = 0, i;
	int rc, j;
	bool *minimize = NULL;

	stmt = store_stmt(st, "SELECT id, name, method, state, goal, n_pending, n_running,"
	    " n_succeeded, n_pruned, n_abandoned, n_cancelled FROM sweeps ORDER BY id", cause);
	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct sweep_row *r;

		if (s->nsweeps == cap) {
			cap = cap ? cap * 2 : 16;
			s->sweeps = xreallocarray(s->sweeps, cap, sizeof *s->sweeps);
			minimize = xreallocarray(minimize, cap, sizeof *minimize);
		}
		r = &s->sweeps[s->nsweeps];
		memset(r, 0, sizeof *r);
		r->id = sqlite3_column_int64(stmt, 0);
		r->name = store_column_strdup(stmt, 1);
		r->method = store_column_strdup(stmt, 2);
		r->state = store_column_strdup(stmt, 3);
		minimize[s->nsweeps] = sqlite3_column_text(stmt, 4) == NULL ||
		    strcmp((const char *)sqlite3_column_text(stmt, 4), "maximize") != 0;
		/* The counters follow enum trial_state from pending to cancelled. */
		for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++)
			r->by_state[j] = sqlite3_column_int64(stmt, 5 + j);
		s->nsweeps++;
	}
	if (rc != SQLITE_DONE) {
		store_error(st, "reading sweeps", cause);
		sqlite3_reset(stmt);
		free(minimize);
		return -1;
	}
	sqlite3_reset(stmt);
	for (i = 0; i < s->nsweeps; i++) {
		if (read_best(st, &s->sweeps[i], minimize[i], cause) != 0) {
			free(minimize);
			return -1;
		}
	}
	free(minimize);
	return 0;
}

/* Workers by pool and state; an agent not heard from within the lease timeout is
 * "silent" (it exited, or was lost). */
static int
read_workers(struct server *srv, struct scrape *s, char **cause)
{
	sqlite3_stmt *stmt;
	size_t cap = 0;
	int rc;

	stmt = store_stmt(srv->st, "SELECT coalesce(pool, ''), CASE WHEN state = 'active' AND"
	    " coalesce(last_seen, 0) < ? THEN 'silent' ELSE state END AS s, count(*)"
	    " FROM workers GROUP BY 1, 2 ORDER BY 1, 2", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now_wall() - srv->lease_timeout_s);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (s->nworkers == cap) {
			cap = cap ? cap * 2 : 8;
			s->workers = xreallocarray(s->workers, cap, sizeof *s->workers);
		}
		s->workers[s->nworkers].pool = store_column_strdup(stmt, 0);
		s->workers[s->nworkers].state = store_column_strdup(stmt, 1);
		s->workers[s->nworkers].n = sqlite3_column_int64(stmt, 2);
		if (s->workers[s->nworkers].pool == NULL)
			s->workers[s->nworkers].pool = xstrdup("");
		if (s->workers[s->nworkers].state == NULL)
			s->workers[s->nworkers].state = xstrdup("");
		s->nworkers++;
	}
	if (rc != SQLITE_DONE) {
		store_error(srv->st, "reading workers", cause);
		sqlite3_reset(stmt);
		return -1;
	}
	sqlite3_reset(stmt);
	return 0;
}

/* One sample: NAME{LABELS} VALUE. labels "" for none. */
static void
sample(struct buf *b, const char *name, const char *labels, double v)
{
	if (*labels != '\0')
		buf_printf(b, "%s{%s} ", name, labels);
	else
		buf_printf(b, "%s ", name);
	metrics_add_value(b, v);
	buf_addc(b, '\n');
}

static void
sample_u64(struct buf *b, const char *name, const char *labels, uint64_t v)
{
	if (*labels != '\0')
		buf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Builds a label set in lb: pairs of name and (unescaped) value, NULL-terminated. */
static const char *
label_set(struct buf *lb, ...)
{
	va_list ap;
	const char *k, *v;
	bool first = true;

	buf_reset(lb);
	buf_adds(lb, "");
	va_start(ap, lb);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		buf_printf(lb, "%s%s=\"", first ? "" : ",", k);
		metrics_add_label_value(lb, v);
		buf_addc(lb, '"');
		first = false;
	}
	va_end(ap);
	return lb->data;
}

static void
render_sweeps(struct buf *b, const struct scrape *s, const struct attempt_fold *f)
{
	struct buf lb = { 0 };
	char id[24];
	size_t i;
	int j;

	metrics_add_family(b, "spotsweep_sweep_info", "gauge",
	    "A sweep's name, method and state (active, done, cancelled); always 1.");
	for (i = 0; i < s->nsweeps; i++) {
		const struct sweep_row *r = &s->sweeps[i];

		snprintf(id, sizeof id, "%lld", (long long)r->id);
		sample(b, "spotsweep_sweep_info", label_set(&lb, "sweep", id, "name",
		    r->name ? r->name : "", "method", r->method ? r->method : "", "state",
		    r->state ? r->state : "", NULL), 1);
	}
	metrics_add_family(b, "spotsweep_trials", "gauge", "Trials by sweep and state.");
	for (i = 0; i < s->nsweeps; i++) {
		snprintf(id, sizeof id, "%lld", (long long)s->sweeps[i].id);
		for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++)
			sample(b, "spotsweep_trials", label_set(&lb, "sweep", id, "state",
			    trial_state_name((enum trial_state)j), NULL),
			    (double)s->sweeps[i].by_state[j]);
	}
	metrics_add_family(b, "spotsweep_sweep_best_value", "gauge",
	    "The objective's value of the sweep's best succeeded trial (as status shows it).");
	for (i = 0; i < s->nsweeps; i++) {
		if (!s->sweeps[i].has_best)
			continue;
		snprintf(id, sizeof id, "%lld", (long long)s->sweeps[i].id);
		sample(b, "spotsweep_sweep_best_value", label_set(&lb, "sweep", id, NULL),
		    s->sweeps[i].best);
	}
	metrics_add_family(b, "spotsweep_attempts_total", "counter",
	    "Ended attempts by sweep and outcome.");
	for (i = 0; i < s->nsweeps; i++) {
		const struct sweep_fold *sf = fold_find_sweep(f, s->sweeps[i].id);

		snprintf(id, sizeof id, "%lld", (long long)s->sweeps[i].id);
		for (j = OUTCOME_SUCCEEDED; j < OUTCOME_MAX; j++)
			sample_u64(b, "spotsweep_attempts_total", label_set(&lb, "sweep", id,
			    "outcome", attempt_outcome_name((enum attempt_outcome)j), NULL),
			    sf != NULL ? sf->outcome[j] : 0);
	}
	metrics_add_family(b, "spotsweep_sweep_spend_usd_total", "counter",
	    "What the sweep's ended attempts cost: runtime x GPUs x the pool's price per "
	    "GPU-hour.");
	for (i = 0; i < s->nsweeps; i++) {
		const struct sweep_fold *sf = fold_find_sweep(f, s->sweeps[i].id);

		snprintf(id, sizeof id, "%lld", (long long)s->sweeps[i].id);
		sample(b, "spotsweep_sweep_spend_usd_total", label_set(&lb, "sweep", id, NULL),
		    sf != NULL ? sf->spend_usd : 0);
	}
	buf_free(&lb);
}

/* Pools: those configured (even before their first attempt) and those attempts name. */
static void
render_pools(struct buf *b, struct server *srv, struct attempt_fold *f)
{
	static const struct {
		const char	*name;
		const char	*help;
		int		 what;
	} fams[] = {
		{ "spotsweep_spend_usd_total", "What ended attempts cost, by pool and class "
		    "(class none: workers without a pool).", 0 },
		{ "spotsweep_gpu_seconds_total", "GPU time of ended attempts (runtime x GPUs), "
		    "by pool and class.", 1 },
		{ "spotsweep_preemptions_total", "Attempts ended preempted (the worker was "
		    "reclaimed: SIGTERM or a termination notice), by pool and class.", 2 },
		{ "spotsweep_workers_lost_total", "Attempts ended lost: their worker stopped "
		    "being heard from (lease expired, ssh session or Slurm job gone), by pool and "
		    "class.", 3 },
	};
	struct server_pool_view v;
	struct buf lb = { 0 };
	size_t i, k;

	/* Configured pools get their series from the start. */
	for (i = 0; server_pools_view(srv, i, &v); i++) {
		if (v.cls < POOL_CLASS_MAX)
			fold_pool(f, v.name, pool_class_name(v.cls));
	}
	for (k = 0; k < sizeof fams / sizeof fams[0]; k++) {
		metrics_add_family(b, fams[k].name, "counter", fams[k].help);
		for (i = 0; i < f->npools; i++) {
			const struct pool_fold *p = &f->pools[i];
			const char *l = label_set(&lb, "pool", p->pool, "class", p->cls, NULL);

			if (fams[k].what == 0)
				sample(b, fams[k].name, l, p->spend_usd);
			else if (fams[k].what == 1)
				sample(b, fams[k].name, l, p->gpu_seconds);
			else
				sample_u64(b, fams[k].name, l, fams[k].what == 2 ? p->preempted :
				    p->lost);
		}
	}
	metrics_add_family(b, "spotsweep_pool_rule", "gauge",
	    "The switching rules' decision in force for each pool's workers: the class they may "
	    "run (use: spot, on-demand, any, pause) and the rule that decided; always 1.");
	for (i = 0; server_pools_view(srv, i, &v); i++)
		sample(b, "spotsweep_pool_rule", label_set(&lb, "pool", v.name, "use",
		    rule_use_name(v.decision.use), "rule", v.decision.name, NULL), 1);
	metrics_add_family(b, "spotsweep_pool_price_usd_per_hour", "gauge",
	    "A pool's current price per GPU-hour.");
	for (i = 0; server_pools_view(srv, i, &v); i++) {
		if (v.cls < POOL_CLASS_MAX)
			sample(b, "spotsweep_pool_price_usd_per_hour", label_set(&lb, "pool", v.name,
			    "class", pool_class_name(v.cls), NULL), v.price);
	}
	metrics_add_family(b, "spotsweep_pool_running_attempts", "gauge",
	    "A pool's open attempts, as of the last tick.");
	for (i = 0; server_pools_view(srv, i, &v); i++) {
		if (v.cls < POOL_CLASS_MAX)
			sample(b, "spotsweep_pool_running_attempts", label_set(&lb, "pool", v.name,
			    NULL), (double)v.running);
	}
	buf_free(&lb);
}

static void
render_workers(struct buf *b, struct server *srv, const struct scrape *s)
{
	struct buf lb = { 0 };
	size_t i;

	metrics_add_family(b, "spotsweep_leases_active", "gauge",
	    "Attempts running now (each holds a lease).");
	sample_u64(b, "spotsweep_leases_active", "", srv->metrics->fold.nopen);
	metrics_add_family(b, "spotsweep_leases_granted_total", "counter",
	    "Trials leased to workers: every attempt ever started.");
	sample_u64(b, "spotsweep_leases_granted_total", "", srv->metrics->fold.rows);
	metrics_add_family(b, "spotsweep_workers", "gauge",
	    "Registered workers by pool and state: active, silent (an agent not heard from "
	    "within lease_timeout_s: it exited or was lost), up or down (ssh hosts).");
	for (i = 0; i < s->nworkers; i++)
		sample(b, "spotsweep_workers", label_set(&lb, "pool", s->workers[i].pool, "state",
		    s->workers[i].state, NULL), (double)s->workers[i].n);
	buf_free(&lb);
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

static void
render_http(struct buf *b, struct server *srv)
{
	struct server_metrics *m = srv->metrics;
	struct buf lb = { 0 };
	char status[16];
	unsigned i, j;

	metrics_add_family(b, "spotsweep_http_request_duration_seconds", "histogram",
	    "Time to handle a request, by route (the route table's pattern, or unmatched), "
	    "method and status; a write's wait for its group commit is not included (see "
	    "spotsweep_store_commit_duration_seconds).");
	for (i = 0; i < m->nroutes; i++) {
		const struct route_slot *r = &m->routes[i];

		for (j = 0; j < r->nstatus; j++) {
			snprintf(status, sizeof status, "%d", r->cells[j].status);
			metrics_add_histogram(b, "spotsweep_http_request_duration_seconds",
			    label_set(&lb, "route", r->route, "method", method_name(r->method),
			    "status", status, NULL), &r->cells[j].h);
		}
	}
	metrics_add_family(b, "spotsweep_http_requests_unrecorded_total", "counter",
	    "Requests left out of the duration histogram (more routes or statuses than it "
	    "holds).");
	sample_u64(b, "spotsweep_http_requests_unrecorded_total", "", m->dropped);
	metrics_add_family(b, "spotsweep_http_connections", "gauge", "Open HTTP connections.");
	sample_u64(b, "spotsweep_http_connections", "", srv->nconns);
	metrics_add_family(b, "spotsweep_http_connections_timed_out_total", "counter",
	    "Connections closed because a request took longer than http_timeout_s to arrive.");
	sample_u64(b, "spotsweep_http_connections_timed_out_total", "", srv->conns_expired);
	metrics_add_family(b, "spotsweep_store_commit_duration_seconds", "histogram",
	    "Time to commit one group commit (every write request of a loop iteration); the "
	    "flush to disk that follows runs on its own thread (spotsweep_store_flushes_total).");
	metrics_add_histogram(b, "spotsweep_store_commit_duration_seconds", "", &m->commit);
	metrics_add_family(b, "spotsweep_store_commit_failures_total", "counter",
	    "Group commits that failed (their requests were answered 500).");
	sample_u64(b, "spotsweep_store_commit_failures_total", "", m->commit_failures);
	if (srv->flush != NULL) {
		uint64_t flushes;
		double flush_s;

		store_flush_stats(srv->flush, &flushes, &flush_s);
		metrics_add_family(b, "spotsweep_store_flushes_total", "counter",
		    "fdatasync calls that made group commits durable (one covers every commit "
		    "made before it started); reports are answered after theirs.");
		sample_u64(b, "spotsweep_store_flushes_total", "", flushes);
		metrics_add_family(b, "spotsweep_store_flush_seconds_total", "counter",
		    "Seconds spent in those fdatasync calls.");
		sample(b, "spotsweep_store_flush_seconds_total", "", flush_s);
	}
	buf_free(&lb);
}

/* Process basics, as Prometheus's client libraries name them; what cannot be read is left
 * out. */
static void
render_process(struct buf *b, struct server_metrics *m)
{
	struct rusage ru;
	struct rlimit rl;
	char *text = NULL, *cause = NULL;
	size_t len;
	DIR *d;
	long page = sysconf(_SC_PAGESIZE);

	metrics_add_family(b, "spotsweep_build_info", "gauge", "The scheduler's version; always 1.");
	sample(b, "spotsweep_build_info", "version=\"" SPOTSWEEP_VERSION "\"", 1);
	metrics_add_family(b, "process_start_time_seconds", "gauge",
	    "When the scheduler started, in seconds since the epoch.");
	sample(b, "process_start_time_seconds", "", m->started_wall);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		metrics_add_family(b, "process_cpu_seconds_total", "counter",
		    "User and system CPU time spent.");
		sample(b, "process_cpu_seconds_total", "", (double)ru.ru_utime.tv_sec +
		    (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		    (double)ru.ru_stime.tv_usec / 1e6);
	}
	if (read_file("/proc/self/statm", 4096, &text, &len, &cause) == 0) {
		char *end;
		unsigned long long vsz = strtoull(text, &end, 10), rss = strtoull(end, &end, 10);

		if (page > 0 && (*end == ' ' || *end == '\n')) {
			metrics_add_family(b, "process_virtual_memory_bytes", "gauge",
			    "Virtual memory size.");
			sample(b, "process_virtual_memory_bytes", "", (double)vsz * (double)page);
			metrics_add_family(b, "process_resident_memory_bytes", "gauge",
			    "Resident memory size.");
			sample(b, "process_resident_memory_bytes", "", (double)rss * (double)page);
		}
		free(text);
	} else
		free(cause);
	if ((d = opendir("/proc/self/fd")) != NULL) {
		struct dirent *e;
		long n = 0;

		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] != '.')
				n++;
		}
		closedir(d);
		metrics_add_family(b, "process_open_fds", "gauge", "Open file descriptors.");
		sample(b, "process_open_fds", "", (double)(n > 0 ? n - 1 : 0));	/* not d's */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		metrics_add_family(b, "process_max_fds", "gauge",
		    "The limit on open file descriptors.");
		sample(b, "process_max_fds", "", (double)rl.rlim_cur);
	}
	metrics_add_family(b, "spotsweep_metrics_scrape_duration_seconds", "gauge",
	    "How long this scrape of /metrics took to read the store.");
	sample(b, "spotsweep_metrics_scrape_duration_seconds", "", m->last_scrape_s);
}

int
server_metrics_render(struct server *srv, struct buf *out, char **cause)
{
	struct server_metrics *m = srv->metrics;
	struct scrape s = { 0 };
	double t0 = now_mono();
	int rc = -1;

	if (m == NULL) {
		*cause = xstrdup("metrics are not set up");
		return -1;
	}
	/* The fold must not count a write that the open group commit could still roll back. */
	server_commit_now(srv);
	if (read_sweeps(srv->st, &s, cause) != 0 || read_workers(srv, &s, cause) != 0 ||
	    fold_update(srv->st, &m->fold, cause) != 0)
		goto out;
	m->last_scrape_s = now_mono() - t0;
	render_sweeps(out, &s, &m->fold);
	render_pools(out, srv, &m->fold);
	render_workers(out, srv, &s);
	render_http(out, srv);
	render_process(out, m);
	rc = 0;
out:
	scrape_clear(&s);
	return rc;
}

/* The reply goes out at once: the scrape committed the open batch, so no write of this
 * loop iteration waits for a commit that this reply would overtake. */
static void
reply_text(struct req_ctx *ctx, struct buf *body)
{
	struct evbuffer *ev;

	ctx->replied = true;
	ctx->status = 200;
	if (ctx->req == NULL) {
		free(ctx->captured);
		ctx->captured = buf_steal(body);
		return;
	}
	ev = evbuffer_new();
	evbuffer_add(ev, body->data, body->len);
	evhttp_add_header(evhttp_request_get_output_headers(ctx->req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(ctx->req, 200, "OK", ev);
	evbuffer_free(ev);
}

void
api_metrics(struct req_ctx *ctx)
{
	struct buf b = { 0 };
	char *cause = NULL;

	if (server_metrics_render(ctx->srv, &b, &cause) != 0) {
		log_error("GET /metrics: %s", cause);
		free(cause);
		reply_error(ctx, 500, "the store could not be read");
	} else
		reply_text(ctx, &b);
	buf_free(&b);
}
