/* The dashboard's side of the scheduler: the page's files, embedded in the binary at build
 * time (dashboard-assets.h), and the read-only calls the page makes besides GET /v1/sweeps,
 * /workers and /pools. Every listing is bounded by a query parameter with a ceiling, so a
 * sweep of a million trials answers in as many rows as a small one: results are sampled
 * evenly (the best-so-far improvements kept), curves downsampled, attempts the newest. The
 * page itself is public and carries no data; the calls need the token like all of /v1/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "spotsweep/agent-output.h"
#include "spotsweep/config.h"
#include "spotsweep/cost.h"
#include "spotsweep/dashboard-assets.h"
#include "spotsweep/log.h"
#include "spotsweep/rules-view.h"
#include "spotsweep/rules.h"
#include "spotsweep/server-dash.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* The page loads its script, style and icon from the scheduler and talks only to it. */
#define DASH_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " \
	"frame-ancestors 'none'"

#define RESULTS_DEFAULT 1000
#define RESULTS_MAX 10000
#define CURVES_DEFAULT 12
#define CURVES_MAX 100
#define POINTS_DEFAULT 300
#define POINTS_MAX 5000
#define ATTEMPTS_DEFAULT 500
#define ATTEMPTS_MAX 10000

size_t
dash_sample(size_t n, size_t limit, const bool *keep, bool *chosen)
{
	size_t i, k, count = 0, extra = 0;

	memset(chosen, 0, n * sizeof *chosen);
	if (n == 0 || limit == 0)
		return 0;
	if (n <= limit) {
		for (i = 0; i < n; i++)
			chosen[i] = true;
		return n;
	}
	if (limit == 1)
		chosen[n - 1] = true;
	else {
		/* k * (n - 1) / (limit - 1) rounded: distinct since n > limit. */
		for (k = 0; k < limit; k++)
			chosen[(k * (n - 1) + (limit - 1) / 2) / (limit - 1)] = true;
	}
	count = limit;
	if (keep != NULL) {
		for (i = 0; i < n; i++) {
			if (keep[i] && !chosen[i])
				extra++;
		}
		if (extra <= limit) {
			for (i = 0; i < n; i++) {
				if (keep[i] && !chosen[i]) {
					chosen[i] = true;
					count++;
				}
			}
		}
	}
	return count;
}

/* ---- the page's files ---- */

static bool
etag_matches(const char *header, const char *etag)
{
	size_t n = strlen(etag);
	const char *p = header;

	if (strcmp(header, "*") == 0)
		return true;
	while ((p = strstr(p, etag)) != NULL) {
		if ((p == header || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

/* Sends one embedded file with its type, no-cache (revalidated by ETag: a new binary's page
 * is never mixed with an old script) and the page's security headers. Without a connection
 * (server_handle, which answers JSON only) the reply describes the file instead. */
static void
serve_asset(struct req_ctx *ctx, const char *path)
{
	const struct dash_asset *a = NULL;
	struct evkeyvalq *h;
	struct evbuffer *out;
	const char *inm;
	size_t i;

	for (i = 0; i < dash_nassets; i++) {
		if (strcmp(dash_assets[i].path, path) == 0)
			a = &dash_assets[i];
	}
	if (a == NULL) {
		reply_error(ctx, 404, "no such resource: %s", path);
		return;
	}
	if (ctx->req == NULL) {
		reply_json(ctx, 200, json_pack("{s:s,s:s,s:I,s:s}", "path", a->path,
		    "content_type", a->content_type, "bytes", (json_int_t)a->len, "etag",
		    a->etag));
		return;
	}
	h = evhttp_request_get_output_headers(ctx->req);
	evhttp_add_header(h, "Content-Type", a->content_type);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "ETag", a->etag);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Content-Security-Policy", DASH_CSP);
	ctx->replied = true;
	inm = evhttp_find_header(evhttp_request_get_input_headers(ctx->req), "If-None-Match");
	if (inm != NULL && etag_matches(inm, a->etag)) {
		ctx->status = 304;
		evhttp_send_reply(ctx->req, 304, "Not Modified", NULL);
		return;
	}
	ctx->status = 200;
	out = evbuffer_new();
	evbuffer_add_reference(out, a->data, a->len, NULL, NULL);
	evhttp_send_reply(ctx->req, 200, "OK", out);
	evbuffer_free(out);
}

void
api_dash_index(struct req_ctx *ctx)
{
	serve_asset(ctx, "/");
}

void
api_dash_js(struct req_ctx *ctx)
{
	serve_asset(ctx, "/dashboard.js");
}

void
api_dash_css(struct req_ctx *ctx)
{
	serve_asset(ctx, "/dashboard.css");
}

void
api_dash_icon(struct req_ctx *ctx)
{
	serve_asset(ctx, "/favicon.svg");
}

/* ---- helpers ---- */

/* An integer query parameter in [min, max], def when absent; false when malformed. */
static bool
query_int(struct req_ctx *ctx, const char *key, long long min, long long max, long long def,
    long long *out)
{
	char *s = req_query(ctx, key);
	bool ok = true;

	*out = def;
	if (s != NULL)
		ok = safe_strtoll(s, out) && *out >= min && *out <= max;
	free(s);
	return ok;
}

/* A number, or null for what JSON cannot hold. */
static json_t *
num_json(double d)
{
	return isfinite(d) ? json_real(d) : json_null();
}

/* A column that may be NULL as a number or null. */
static json_t *
col_num(sqlite3_stmt *stmt, int i)
{
	if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
		return json_null();
	return num_json(sqlite3_column_double(stmt, i));
}

/* A string (made valid UTF-8: agents' reasons are their own text) or null. */
static json_t *
str_json(const char *s)
{
	struct buf b = { 0 };
	json_t *v;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL)
		return v;
	agent_buf_add_utf8_sanitized(&b, s, strlen(s));
	v = json_string(b.data != NULL ? b.data : "");
	buf_free(&b);
	return v != NULL ? v : json_null();
}

static void
store_failed(struct req_ctx *ctx, char *cause)
{
	log_error("dashboard: %s", cause != NULL ? cause : "the store failed");
	free(cause);
	reply_error(ctx, 500, "the store failed");
}

static void
db_failed(struct req_ctx *ctx, const char *what)
{
	log_error("dashboard: %s: %s", what, sqlite3_errmsg(store_db(ctx->srv->st)));
	reply_error(ctx, 500, "the store failed");
}

/* What the calls need of a sweep; 0, -1 after a reply (404 or 500). */
struct sweep_head {
	char	*objective;	/* NULL: no objective metric */
	bool	 minimize;
	json_t	*param_names;	/* array */
	json_t	*metric_names;	/* array */
};

static void
sweep_head_clear(struct sweep_head *h)
{
	free(h->objective);
	json_decref(h->param_names);
	json_decref(h->metric_names);
	memset(h, 0, sizeof *h);
}

static int
sweep_head(struct req_ctx *ctx, int64_t id, struct sweep_head *h)
{
	sqlite3_stmt *stmt;
	char *cause = NULL;
	const char *obj;
	int rc;

	memset(h, 0, sizeof *h);
	stmt = store_stmt(ctx->srv->st, "SELECT objective, goal, param_names, metric_names "
	    "FROM sweeps WHERE id = ?1", &cause);
	if (stmt == NULL) {
		store_failed(ctx, cause);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, id);
	if ((rc = sqlite3_step(stmt)) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		if (rc == SQLITE_DONE)
			reply_error(ctx, 404, "no sweep %lld", (long long)id);
		else
			db_failed(ctx, "reading a sweep");
		return -1;
	}
	obj = (const char *)sqlite3_column_text(stmt, 0);
	h->objective = obj != NULL ? xstrdup(obj) : NULL;
	h->minimize = strcmp((const char *)sqlite3_column_text(stmt, 1), "maximize") != 0;
	h->param_names = json_loads((const char *)sqlite3_column_text(stmt, 2), 0, NULL);
	h->metric_names = json_loads((const char *)sqlite3_column_text(stmt, 3), 0, NULL);
	sqlite3_reset(stmt);
	if (!json_is_array(h->param_names)) {
		json_decref(h->param_names);
		h->param_names = json_array();
	}
	if (!json_is_array(h->metric_names)) {
		json_decref(h->metric_names);
		h->metric_names = json_array();
	}
	return 0;
}

/* ---- GET /v1/sweeps/:id/results ---- */

struct result_row {
	int64_t		 trial_id;
	bool		 succeeded;
	double		 value;
	double		 finished_at;
	bool		 has_best;
	double		 best;
};

void
api_sweep_results(struct req_ctx *ctx)
{
	struct store *st = ctx->srv->st;
	struct sweep_head h;
	struct result_row *rows = NULL;
	bool *improves = NULL, *chosen = NULL, has_best = false;
	size_t n = 0, cap = 0, i, shown;
	sqlite3_stmt *stmt;
	char *cause = NULL;
	double best = 0;
	long long limit;
	json_t *points, *doc;
	int rc;

	if (!query_int(ctx, "limit", 1, RESULTS_MAX, RESULTS_DEFAULT, &limit)) {
		reply_error(ctx, 400, "query: expected limit=1..%d", RESULTS_MAX);
		return;
	}
	if (sweep_head(ctx, ctx->ids[0], &h) != 0)
		return;
	/* Completion order: when each trial ended, then its id. */
	stmt = store_stmt(st, "SELECT id, state, value, coalesce(finished_at, 0) FROM trials "
	    "WHERE sweep_id = ?1 AND state IN ('succeeded', 'pruned') AND value IS NOT NULL "
	    "ORDER BY coalesce(finished_at, 0), id", &cause);
	if (stmt == NULL) {
		store_failed(ctx, cause);
		goto out;
	}
	sqlite3_bind_int64(stmt, 1, ctx->ids[0]);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct result_row *r;

		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			rows = xreallocarray(rows, cap, sizeof *rows);
		}
		r = &rows[n++];
		r->trial_id = sqlite3_column_int64(stmt, 0);
		r->succeeded = strcmp((const char *)sqlite3_column_text(stmt, 1), "succeeded") == 0;
		r->value = sqlite3_column_double(stmt, 2);
		r->finished_at = sqlite3_column_double(stmt, 3);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		db_failed(ctx, "reading results");
		goto out;
	}
	/* The best so far counts finished trials only, as `status` does; pruned ones are
	 * shown but stopped before their end. */
	improves = xcalloc(n + 1, sizeof *improves);
	chosen = xcalloc(n + 1, sizeof *chosen);
	for (i = 0; i < n; i++) {
		struct result_row *r = &rows[i];

		if (r->succeeded && isfinite(r->value) && (!has_best ||
		    (h.minimize ? r->value < best : r->value > best))) {
			best = r->value;
			has_best = true;
			improves[i] = true;
		}
		r->has_best = has_best;
		r->best = best;
	}
	shown = dash_sample(n, (size_t)limit, improves, chosen);
	points = json_array();
	stmt = store_stmt(st, "SELECT params FROM trials WHERE id = ?1", &cause);
	if (stmt == NULL) {
		json_decref(points);
		store_failed(ctx, cause);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct result_row *r = &rows[i];
		json_t *params = NULL;

		if (!chosen[i])
			continue;
		sqlite3_bind_int64(stmt, 1, r->trial_id);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			params = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
		sqlite3_reset(stmt);
		json_array_append_new(points, json_pack("{s:I,s:I,s:s,s:o,s:o,s:o,s:o}",
		    "n", (json_int_t)(i + 1), "trial_id", (json_int_t)r->trial_id,
		    "state", r->succeeded ? "succeeded" : "pruned",
		    "value", num_json(r->value),
		    "best", r->has_best ? num_json(r->best) : json_null(),
		    "finished_at", num_json(r->finished_at),
		    "params", params != NULL ? params : json_object()));
	}
	doc = json_pack("{s:I,s:o,s:s,s:O,s:I,s:I,s:o}", "sweep_id", (json_int_t)ctx->ids[0],
	    "objective", str_json(h.objective), "goal", h.minimize ? "minimize" : "maximize",
	    "params", h.param_names, "finished", (json_int_t)n, "shown", (json_int_t)shown,
	    "points", points);
	reply_json(ctx, 200, doc);
out:
	sweep_head_clear(&h);
	free(rows);
	free(improves);
	free(chosen);
}

/* ---- GET /v1/sweeps/:id/metrics ---- */

struct curve_trial {
	int64_t	 id;
	char	 state[16];
	bool	 has_value;
	double	 value;
	int64_t	 attempts;
	bool	 best;
};

/* Adds trial row (id, state, value, attempts, last_metrics) to list unless there, and the
 * names of the metrics it reported to names. */
static void
curve_add(struct curve_trial *list, size_t *n, sqlite3_stmt *stmt, bool best, json_t *names)
{
	int64_t id = sqlite3_column_int64(stmt, 0);
	const char *last = (const char *)sqlite3_column_text(stmt, 4), *key;
	json_t *o, *v;
	size_t i;

	if (last != NULL && (o = json_loads(last, 0, NULL)) != NULL) {
		json_object_foreach(o, key, v)
			json_object_set_new(names, key, json_true());
		json_decref(o);
	}

	for (i = 0; i < *n; i++) {
		if (list[i].id == id) {
			list[i].best |= best;
			return;
		}
	}
	list[*n].id = id;
	snprintf(list[*n].state, sizeof list[*n].state, "%s",
	    (const char *)sqlite3_column_text(stmt, 1));
	list[*n].has_value = sqlite3_column_type(stmt, 2) != SQLITE_NULL;
	list[*n].value = sqlite3_column_double(stmt, 2);
	list[*n].attempts = sqlite3_column_int64(stmt, 3);
	list[*n].best = best;
	(*n)++;
}

/* One trial's curve of metric name: per step the newest attempt's value, in step order,
 * downsampled to at most npoints. NULL after a reply (500). */
static json_t *
curve_points(struct req_ctx *ctx, int64_t trial_id, const char *name, size_t npoints,
    size_t *total)
{
	sqlite3_stmt *stmt;
	char *cause = NULL;
	int64_t *steps = NULL, *atts = NULL;
	double *vals = NULL;
	bool *chosen = NULL;
	size_t n = 0, cap = 0, i;
	json_t *arr;
	int rc;

	stmt = store_stmt(ctx->srv->st, "SELECT attempt, step, value FROM metrics "
	    "WHERE trial_id = ?1 AND name = ?2 AND value IS NOT NULL ORDER BY step, attempt",
	    &cause);
	if (stmt == NULL) {
		store_failed(ctx, cause);
		return NULL;
	}
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t step = sqlite3_column_int64(stmt, 1);

		/* A step reported again by a later attempt (resumed from an older checkpoint):
		 * the later attempt's value is the curve's. */
		if (n > 0 && steps[n - 1] == step)
			n--;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			steps = xreallocarray(steps, cap, sizeof *steps);
			atts = xreallocarray(atts, cap, sizeof *atts);
			vals = xreallocarray(vals, cap, sizeof *vals);
		}
		atts[n] = sqlite3_column_int64(stmt, 0);
		steps[n] = step;
		vals[n] = sqlite3_column_double(stmt, 2);
		n++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		free(steps);
		free(atts);
		free(vals);
		db_failed(ctx, "reading metrics");
		return NULL;
	}
	chosen = xcalloc(n + 1, sizeof *chosen);
	dash_sample(n, npoints, NULL, chosen);
	arr = json_array();
	for (i = 0; i < n; i++) {
		if (chosen[i] && isfinite(vals[i]))
			json_array_append_new(arr, json_pack("[I,f,I]", (json_int_t)steps[i],
			    vals[i], (json_int_t)atts[i]));
	}
	*total = n;
	free(steps);
	free(atts);
	free(vals);
	free(chosen);
	return arr;
}

void
api_sweep_metrics(struct req_ctx *ctx)
{
	struct store *st = ctx->srv->st;
	struct sweep_head h;
	struct curve_trial *list = NULL;
	sqlite3_stmt *stmt;
	char *metric = req_query(ctx, "metric"), *cause = NULL;
	long long ntrials, npoints, only;
	size_t n = 0, i;
	json_t *trials = NULL, *doc, *seen = json_object(), *names, *v;
	const char *key;
	int rc;

	if (!query_int(ctx, "trials", 1, CURVES_MAX, CURVES_DEFAULT, &ntrials) ||
	    !query_int(ctx, "points", 2, POINTS_MAX, POINTS_DEFAULT, &npoints) ||
	    !query_int(ctx, "trial", 1, INT64_MAX, 0, &only) ||
	    (metric != NULL && (metric[0] == '\0' || strlen(metric) > 256))) {
		reply_error(ctx, 400, "query: expected metric=NAME, trials=1..%d, points=2..%d, "
		    "trial=TRIAL_ID", CURVES_MAX, POINTS_MAX);
		free(metric);
		json_decref(seen);
		return;
	}
	if (sweep_head(ctx, ctx->ids[0], &h) != 0) {
		free(metric);
		json_decref(seen);
		return;
	}
	if (metric == NULL) {
		if (h.objective != NULL)
			metric = xstrdup(h.objective);
		else if (json_array_size(h.metric_names) > 0 &&
		    json_is_string(json_array_get(h.metric_names, 0)))
			metric = xstrdup(json_string_value(json_array_get(h.metric_names, 0)));
	}
	list = xcalloc((size_t)ntrials + 1, sizeof *list);
	if (only != 0) {
		stmt = store_stmt(st, "SELECT id, state, value, attempts, last_metrics FROM trials "
		    "WHERE id = ?1 AND sweep_id = ?2", &cause);
		if (stmt == NULL)
			goto store_fail;
		sqlite3_bind_int64(stmt, 1, only);
		sqlite3_bind_int64(stmt, 2, ctx->ids[0]);
		if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			curve_add(list, &n, stmt, false, seen);
		sqlite3_reset(stmt);
		if (rc == SQLITE_DONE) {
			reply_error(ctx, 404, "no trial %lld in sweep %lld", only,
			    (long long)ctx->ids[0]);
			goto out;
		}
		if (rc != SQLITE_ROW)
			goto db_fail;
	} else {
		/* The best finished trial first, then the running ones, then the latest. */
		stmt = store_stmt(st, h.minimize ?
		    "SELECT id, state, value, attempts, last_metrics FROM trials WHERE sweep_id = ?1 "
		    "AND state = 'succeeded' AND value IS NOT NULL ORDER BY value ASC, id LIMIT 1" :
		    "SELECT id, state, value, attempts, last_metrics FROM trials WHERE sweep_id = ?1 "
		    "AND state = 'succeeded' AND value IS NOT NULL ORDER BY value DESC, id LIMIT 1",
		    &cause);
		if (stmt == NULL)
			goto store_fail;
		sqlite3_bind_int64(stmt, 1, ctx->ids[0]);
		if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			curve_add(list, &n, stmt, true, seen);
		sqlite3_reset(stmt);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto db_fail;
		stmt = store_stmt(st, "SELECT id, state, value, attempts, last_metrics FROM trials "
		    "WHERE sweep_id = ?1 AND attempts > 0 "
		    "ORDER BY state = 'running' DESC, coalesce(finished_at, started_at, 0) DESC, "
		    "id DESC LIMIT ?2", &cause);
		if (stmt == NULL)
			goto store_fail;
		sqlite3_bind_int64(stmt, 1, ctx->ids[0]);
		sqlite3_bind_int64(stmt, 2, ntrials);
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < (size_t)ntrials)
			curve_add(list, &n, stmt, false, seen);
		sqlite3_reset(stmt);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto db_fail;
	}
	trials = json_array();
	for (i = 0; metric != NULL && i < n; i++) {
		size_t total = 0;
		json_t *pts = curve_points(ctx, list[i].id, metric, (size_t)npoints, &total);

		if (pts == NULL)
			goto out;
		json_array_append_new(trials, json_pack("{s:I,s:s,s:o,s:I,s:b,s:I,s:o}",
		    "trial_id", (json_int_t)list[i].id, "state", list[i].state,
		    "value", list[i].has_value ? num_json(list[i].value) : json_null(),
		    "attempts", (json_int_t)list[i].attempts, "best", list[i].best,
		    "total_points", (json_int_t)total, "points", pts));
	}
	/* The spec's metrics, then those the listed trials reported besides. */
	names = json_copy(h.metric_names);
	json_array_foreach(h.metric_names, i, v) {
		if (json_is_string(v))
			json_object_del(seen, json_string_value(v));
	}
	json_object_foreach(seen, key, v)
		json_array_append_new(names, str_json(key));
	doc = json_pack("{s:I,s:o,s:s,s:o,s:o}", "sweep_id", (json_int_t)ctx->ids[0],
	    "metric", str_json(metric), "goal", h.minimize ? "minimize" : "maximize",
	    "metrics", names, "trials", trials);
	trials = NULL;
	reply_json(ctx, 200, doc);
	goto out;
store_fail:
	store_failed(ctx, cause);
	goto out;
db_fail:
	db_failed(ctx, "reading trials");
out:
	json_decref(trials);
	json_decref(seen);
	sweep_head_clear(&h);
	free(list);
	free(metric);
}

/* ---- GET /v1/sweeps/:id/attempts ---- */

void
api_sweep_attempts(struct req_ctx *ctx)
{
	struct store *st = ctx->srv->st;
	struct sweep_head h;
	sqlite3_stmt *stmt;
	char *cause = NULL;
	long long limit;
	int64_t total = 0;
	json_t *arr = NULL, *doc;
	int rc;

	if (!query_int(ctx, "limit", 1, ATTEMPTS_MAX, ATTEMPTS_DEFAULT, &limit)) {
		reply_error(ctx, 400, "query: expected limit=1..%d", ATTEMPTS_MAX);
		return;
	}
	if (sweep_head(ctx, ctx->ids[0], &h) != 0)
		return;
	stmt = store_stmt(st, "SELECT count(*) FROM trials t JOIN attempts a "
	    "ON a.trial_id = t.id WHERE t.sweep_id = ?1", &cause);
	if (stmt == NULL)
		goto store_fail;
	sqlite3_bind_int64(stmt, 1, ctx->ids[0]);
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		total = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW)
		goto db_fail;
	stmt = store_stmt(st, "SELECT a.trial_id, a.attempt, a.worker_id, w.name, a.pool, "
	    "a.pool_class, a.price_per_hour, a.gpus, a.started_at, a.ended_at, a.outcome, "
	    "a.reason, a.runtime_s FROM trials t JOIN attempts a ON a.trial_id = t.id "
	    "LEFT JOIN workers w ON w.id = a.worker_id WHERE t.sweep_id = ?1 "
	    "ORDER BY a.started_at DESC, a.id DESC LIMIT ?2", &cause);
	if (stmt == NULL)
		goto store_fail;
	sqlite3_bind_int64(stmt, 1, ctx->ids[0]);
	sqlite3_bind_int64(stmt, 2, limit);
	arr = json_array();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		bool ended = sqlite3_column_type(stmt, 10) != SQLITE_NULL;
		double runtime = sqlite3_column_double(stmt, 12);
		double gpus = (double)sqlite3_column_int64(stmt, 7);
		double price = sqlite3_column_double(stmt, 6);
		json_t *o = json_object();

		/* cost.h's arithmetic: runtime x GPUs x the price in force at the lease. */
		if (!(runtime > 0))
			runtime = 0;
		json_object_set_new(o, "trial_id", json_integer(sqlite3_column_int64(stmt, 0)));
		json_object_set_new(o, "attempt", json_integer(sqlite3_column_int64(stmt, 1)));
		json_object_set_new(o, "worker_id", sqlite3_column_type(stmt, 2) == SQLITE_NULL ?
		    json_null() : json_integer(sqlite3_column_int64(stmt, 2)));
		json_object_set_new(o, "worker", str_json((const char *)
		    sqlite3_column_text(stmt, 3)));
		json_object_set_new(o, "pool", str_json((const char *)
		    sqlite3_column_text(stmt, 4)));
		json_object_set_new(o, "class", str_json((const char *)
		    sqlite3_column_text(stmt, 5)));
		json_object_set_new(o, "price_per_hour", col_num(stmt, 6));
		json_object_set_new(o, "gpus", json_integer(sqlite3_column_int64(stmt, 7)));
		json_object_set_new(o, "started_at", col_num(stmt, 8));
		json_object_set_new(o, "ended_at", col_num(stmt, 9));
		json_object_set_new(o, "outcome", str_json((const char *)
		    sqlite3_column_text(stmt, 10)));
		json_object_set_new(o, "reason", str_json((const char *)
		    sqlite3_column_text(stmt, 11)));
		json_object_set_new(o, "runtime_s", ended ? num_json(runtime) : json_null());
		json_object_set_new(o, "cost_usd", ended ?
		    num_json(runtime * gpus / 3600.0 * price) : json_null());
		json_array_append_new(arr, o);
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		goto db_fail;
	doc = json_pack("{s:I,s:f,s:I,s:o}", "sweep_id", (json_int_t)ctx->ids[0],
	    "now", now_wall(), "total", (json_int_t)total, "attempts", arr);
	arr = NULL;
	reply_json(ctx, 200, doc);
	goto out;
store_fail:
	store_failed(ctx, cause);
	goto out;
db_fail:
	db_failed(ctx, "reading attempts");
out:
	json_decref(arr);
	sweep_head_clear(&h);
}

/* ---- GET /v1/cost, /v1/sweeps/:id/cost ---- */

/* A sweep's cost comes from all its attempts: a scan that takes the event loop about a
 * second per million of them. The page asks every few seconds, so answers are reused for a
 * while that grows with what they cost to make: at most ~2% of the loop goes to them. */
#define COST_TTL_MIN_S		5.0
#define COST_TTL_FACTOR		50.0

struct cost_cache_entry {
	int64_t	 sweep_id;
	json_t	*doc;
	double	 made_at;	/* now_mono() */
	double	 ttl_s;
};

struct dash_cost_cache {
	struct cost_cache_entry	*e;
	size_t			 n;
};

void
server_dash_free(struct server *srv)
{
	size_t i;

	if (srv->dash_cost == NULL)
		return;
	for (i = 0; i < srv->dash_cost->n; i++)
		json_decref(srv->dash_cost->e[i].doc);
	free(srv->dash_cost->e);
	free(srv->dash_cost);
	srv->dash_cost = NULL;
}

/* The sweep's cost as `spotsweep cost --json` prints it (a new reference); NULL with
 * *cause. */
static json_t *
sweep_cost_doc(struct server *srv, int64_t id, char **cause)
{
	struct cost_cache_entry *e = NULL;
	struct sweep_cost c;
	const char *source = NULL;
	double price = -1, start = now_mono();
	bool found = false;
	size_t i;

	if (srv->dash_cost == NULL)
		srv->dash_cost = xcalloc(1, sizeof *srv->dash_cost);
	for (i = 0; i < srv->dash_cost->n; i++) {
		if (srv->dash_cost->e[i].sweep_id == id) {
			e = &srv->dash_cost->e[i];
			break;
		}
	}
	if (e != NULL && start - e->made_at < e->ttl_s)
		return json_incref(e->doc);
	if (store_on_demand_price(srv->st, id, &price, &found, &source, cause) != 0 ||
	    store_sweep_cost(srv->st, id, found ? price : -1, &c, cause) != 0)
		return NULL;
	if (e == NULL) {
		srv->dash_cost->e = xreallocarray(srv->dash_cost->e, srv->dash_cost->n + 1,
		    sizeof *srv->dash_cost->e);
		e = &srv->dash_cost->e[srv->dash_cost->n++];
		e->sweep_id = id;
	} else
		json_decref(e->doc);
	e->doc = sweep_cost_json(&c, source);
	e->made_at = now_mono();
	e->ttl_s = (e->made_at - start) * COST_TTL_FACTOR;
	if (e->ttl_s < COST_TTL_MIN_S)
		e->ttl_s = COST_TTL_MIN_S;
	return json_incref(e->doc);
}

void
api_sweep_cost(struct req_ctx *ctx)
{
	struct sweep_head h;
	char *cause = NULL;
	json_t *doc;

	if (sweep_head(ctx, ctx->ids[0], &h) != 0)
		return;
	sweep_head_clear(&h);
	if ((doc = sweep_cost_doc(ctx->srv, ctx->ids[0], &cause)) == NULL) {
		store_failed(ctx, cause);
		return;
	}
	reply_json(ctx, 200, doc);
}

void
api_cost(struct req_ctx *ctx)
{
	int64_t *ids = NULL;
	size_t n = 0, i;
	char *cause = NULL;
	json_t *arr, *doc;

	if (store_sweep_ids(ctx->srv->st, &ids, &n, &cause) != 0) {
		store_failed(ctx, cause);
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++) {
		if ((doc = sweep_cost_doc(ctx->srv, ids[i], &cause)) == NULL) {
			json_decref(arr);
			free(ids);
			store_failed(ctx, cause);
			return;
		}
		json_array_append_new(arr, doc);
	}
	free(ids);
	reply_json(ctx, 200, arr);
}

/* ---- GET /v1/rules ---- */

static json_t *
decision_json(const struct rule_decision *d)
{
	return json_pack("{s:s,s:s,s:i}", "use", rule_use_name(d->use), "rule", d->name,
	    "index", d->index);
}

/* A pool's current price: what serve recorded in the store, else the configured one. */
static double
pool_price(struct store *st, const struct pool *p)
{
	sqlite3_stmt *stmt;
	char *cause = NULL;
	double price = p->price_per_hour;

	stmt = store_stmt(st, "SELECT price_per_hour FROM pools WHERE name = ?1", &cause);
	if (stmt == NULL) {
		log_warn("dashboard: %s", cause);
		free(cause);
		return price;
	}
	sqlite3_bind_text(stmt, 1, p->name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		price = sqlite3_column_double(stmt, 0);
	sqlite3_reset(stmt);
	return price;
}

/* One pool's decision now and its next change, with the spot price server-pools.c gives its
 * workers' rules: a spot pool's own price, for the others the cheapest spot pool's. */
static json_t *
pool_rules_json(const struct config *cfg, const struct pool *p, const double *prices,
    double now)
{
	struct rule_ctx rc;
	struct rule_decision d, next;
	double at;
	size_t i;
	json_t *nx = json_null();
	char iso[32];

	memset(&rc, 0, sizeof rc);
	rc.now = now;
	rc.tz = cfg->tz;
	for (i = 0; i < cfg->npools; i++) {
		if (p != NULL && &cfg->pools[i] == p && p->cls == POOL_SPOT) {
			rc.has_spot_price = true;
			rc.spot_price = prices[i];
			break;
		}
		if (cfg->pools[i].cls == POOL_SPOT && (!rc.has_spot_price ||
		    prices[i] < rc.spot_price)) {
			rc.has_spot_price = true;
			rc.spot_price = prices[i];
		}
	}
	rules_decide(cfg->rules, cfg->nrules, &rc, &d);
	if (rules_next_change(cfg->rules, cfg->nrules, &rc, DASH_RULES_HORIZON_S, &at, &next)) {
		format_iso8601(iso, at, false);
		nx = json_pack("{s:f,s:s,s:o}", "at", at, "at_utc", iso, "decision",
		    decision_json(&next));
	}
	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "name", str_json(p ? p->name : NULL),
	    "class", p != NULL ? json_string(pool_class_name(p->cls)) : json_null(),
	    "spot_price", rc.has_spot_price ? num_json(rc.spot_price) : json_null(),
	    "decision", decision_json(&d), "next", nx);
}

void
api_rules(struct req_ctx *ctx)
{
	const struct config *cfg = ctx->srv->cfg;
	double now = now_wall(), *prices;
	json_t *rules = json_array(), *pools = json_array();
	struct buf when = { 0 };
	char iso[32];
	size_t i;

	for (i = 0; i < cfg->nrules; i++) {
		buf_reset(&when);
		rule_describe(&cfg->rules[i], &when);
		json_array_append_new(rules, json_pack("{s:i,s:o,s:s,s:s}", "index", (int)i,
		    "name", str_json(cfg->rules[i].name), "use",
		    rule_use_name(cfg->rules[i].use), "when", when.data));
	}
	buf_free(&when);
	prices = xcalloc(cfg->npools + 1, sizeof *prices);
	for (i = 0; i < cfg->npools; i++)
		prices[i] = pool_price(ctx->srv->st, &cfg->pools[i]);
	for (i = 0; i < cfg->npools; i++)
		json_array_append_new(pools, pool_rules_json(cfg, &cfg->pools[i], prices, now));
	/* Without pools every worker is classless and the rules can only pause it. */
	if (cfg->npools == 0)
		json_array_append_new(pools, pool_rules_json(cfg, NULL, prices, now));
	free(prices);
	format_iso8601(iso, now, false);
	reply_json(ctx, 200, json_pack("{s:f,s:s,s:s,s:f,s:o,s:o}", "now", now, "now_utc", iso,
	    "timezone", cfg->timezone != NULL ? cfg->timezone : "UTC",
	    "horizon_s", DASH_RULES_HORIZON_S, "rules", rules, "pools", pools));
}
