/* The scheduler's HTTP handlers: worker registration, leasing, heartbeats, checkpoints,
 * finish reports, and the read-only sweep and worker views. Handlers are thin: they check
 * their fields, call the trial state machine (trial.c), and reply through reply_json(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "spotsweep/lease-secret.h"
#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/server-pools.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Metric points one report may carry; more is refused rather than half-stored. */
#define MAX_POINTS_PER_REPORT 10000
#define MAX_NAME_LEN 256
#define MAX_PATH_LEN 4096
/* Distinct metric names one trial may report: each heartbeat rewrites the trial's
 * last_metrics object, so an unbounded set would make every report slower. The agent reads
 * at most as many names from one attempt's output (agent-output.c). */
#define MAX_METRICS_PER_TRIAL 1024
/* Checkpoints a lease lists (the newest; `checkpoint.keep` may be larger): bounds the lease
 * document, which must fit one line of the SSH stream. */
#define MAX_LEASE_CHECKPOINTS 100
#define MAX_LIST_LIMIT 10000

const struct spec *
server_sweep_spec(struct server *srv, int64_t sweep_id, char **cause)
{
	struct spec *s;
	size_t i;

	for (i = 0; i < srv->nsweeps; i++) {
		if (srv->sweeps[i].sweep_id == sweep_id)
			return srv->sweeps[i].spec;
	}
	if (store_sweep_spec(srv->st, sweep_id, &s, cause) != 0)
		return NULL;
	srv->sweeps = xreallocarray(srv->sweeps, srv->nsweeps + 1, sizeof *srv->sweeps);
	srv->sweeps[srv->nsweeps].sweep_id = sweep_id;
	srv->sweeps[srv->nsweeps].spec = s;
	srv->sweeps[srv->nsweeps].lease_tail = NULL;
	srv->nsweeps++;
	return s;
}

/* Reads an integer field of a report; false with *error when absent (and required) or
 * mistyped. */
static bool
field_int(const json_t *body, const char *key, bool required, int64_t *out, char **error)
{
	json_t *v = json_object_get(body, key);

	if (v == NULL && !required)
		return true;
	if (!json_is_integer(v)) {
		*error = xasprintf("field \"%s\": expected an integer", key);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* Reads an optional string field (NULL when absent or null); false with *error. */
static bool
field_str(const json_t *body, const char *key, size_t max_len, const char **out, char **error)
{
	json_t *v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) > max_len) {
		*error = xasprintf("field \"%s\": expected a string of at most %zu bytes", key,
		    max_len);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* Reads an integer field; false (and a 400 reply) when absent or mistyped. */
static bool
body_int(struct req_ctx *ctx, const char *key, bool required, int64_t *out)
{
	char *error = NULL;

	if (field_int(ctx->body, key, required, out, &error))
		return true;
	reply_error(ctx, 400, "%s", error);
	free(error);
	return false;
}

/* Reads an optional string field (NULL when absent or null). */
static bool
body_str(struct req_ctx *ctx, const char *key, size_t max_len, const char **out)
{
	char *error = NULL;

	if (field_str(ctx->body, key, max_len, out, &error))
		return true;
	reply_error(ctx, 400, "%s", error);
	free(error);
	return false;
}

/* Parses "metrics": [{"name","step","value","at"}...] into pts (the caller frees *pts;
 * names point into the body). Returns 0, or the status (400, 413) with *error. */
static int
field_points(const json_t *body, struct metric_point **pts, size_t *n, char **error)
{
	json_t *arr = json_object_get(body, "metrics"), *p;
	size_t i;
	double now = now_wall();

	*pts = NULL;
	*n = 0;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr)) {
		*error = xstrdup("field \"metrics\": expected an array");
		return 400;
	}
	if (json_array_size(arr) > MAX_POINTS_PER_REPORT) {
		*error = xasprintf("field \"metrics\": more than %d points in one report",
		    MAX_POINTS_PER_REPORT);
		return 413;
	}
	*pts = xcalloc(json_array_size(arr) + 1, sizeof **pts);
	json_array_foreach(arr, i, p) {
		json_t *name = json_object_get(p, "name"), *step = json_object_get(p, "step");
		json_t *value = json_object_get(p, "value"), *at = json_object_get(p, "at");
		struct metric_point *mp = &(*pts)[i];

		if (!json_is_string(name) || json_string_length(name) == 0 ||
		    json_string_length(name) > MAX_NAME_LEN || !json_is_integer(step) ||
		    !json_is_number(value) || (at != NULL && !json_is_number(at))) {
			*error = xasprintf("field \"metrics\" item %zu: expected {\"name\": string, "
			    "\"step\": integer, \"value\": number, \"at\": number}", i);
			free(*pts);
			*pts = NULL;
			return 400;
		}
		mp->name = json_string_value(name);
		mp->step = json_integer_value(step);
		mp->value = json_number_value(value);
		mp->at = at ? json_number_value(at) : now;
		if (!isfinite(mp->value)) {
			*error = xasprintf("field \"metrics\" item %zu: value is not finite", i);
			free(*pts);
			*pts = NULL;
			return 400;
		}
	}
	*n = json_array_size(arr);
	return 0;
}

/* Refuses points that would take the trial past MAX_METRICS_PER_TRIAL distinct metric
 * names: 0, or 413 (500 on a store error) with *error. */
static int
check_metric_names(struct server *srv, int64_t trial_id, const struct metric_point *pts,
    size_t n, char **error)
{
	sqlite3_stmt *stmt;
	json_t *names = NULL;
	char *cause = NULL;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	stmt = store_stmt(srv->st, "SELECT last_metrics FROM trials WHERE id = ?", &cause);
	if (stmt == NULL)
		goto fail;
	sqlite3_bind_int64(stmt, 1, trial_id);
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
		names = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
	sqlite3_reset(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_error(srv->st, "reading a trial's metrics", &cause);
		goto fail;
	}
	if (!json_is_object(names)) {
		json_decref(names);
		names = json_object();
	}
	for (i = 0; i < n && json_object_size(names) <= MAX_METRICS_PER_TRIAL; i++)
		json_object_set_new(names, pts[i].name, json_null());
	rc = json_object_size(names) > MAX_METRICS_PER_TRIAL;
	json_decref(names);
	if (rc) {
		*error = xasprintf("field \"metrics\": trial %lld would have more than %d "
		    "distinct metric names", (long long)trial_id, MAX_METRICS_PER_TRIAL);
		return 413;
	}
	return 0;
fail:
	log_error("%s", cause);
	free(cause);
	*error = xstrdup("the store failed");
	return 500;
}

/* Maps a trial operation's result to a status: 200 when it succeeded, else the error
 * status with *error. Frees cause. */
static int
trial_rc_status(int64_t trial_id, int rc, char *cause, char **error)
{
	int status = 500;

	switch (rc) {
	case TRIAL_OK:
		free(cause);
		return 200;
	case TRIAL_ESTALE:
		*error = xasprintf("attempt is not the trial's current one%s%s",
		    cause ? ": " : "", cause ? cause : "");
		status = 409;
		break;
	case TRIAL_ENOENT:
		*error = xstrdup("no such trial");
		status = 404;
		break;
	case TRIAL_EILLEGAL:
		*error = xstrdup(cause ? cause : "illegal transition");
		status = 409;
		break;
	case TRIAL_EHOLDER:
		*error = xasprintf("not this worker's lease: %s", cause ? cause : "");
		status = 409;
		break;
	case TRIAL_ELIMIT:
		*error = xasprintf("field \"metrics\": %s", cause ? cause : "too many names");
		status = 413;
		break;
	default:
		log_error("trial %lld: %s", (long long)trial_id, cause ? cause : "error");
		*error = xstrdup("the store failed");
		break;
	}
	free(cause);
	return status;
}

/* Reads the fields every report carries ("attempt", "worker_id", "lease_secret"): 0, or
 * 400 with *error. */
static int
report_fields(const json_t *body, int64_t *attempt, int64_t *worker_id, const char **secret,
    char **error)
{
	if (!field_int(body, "attempt", true, attempt, error) ||
	    !field_int(body, "worker_id", true, worker_id, error) ||
	    !field_str(body, "lease_secret", LEASE_SECRET_LEN, secret, error))
		return 400;
	if (*secret == NULL) {
		*error = xstrdup("field \"lease_secret\": expected the lease's secret");
		return 400;
	}
	return 0;
}

/* Reads the fields every report carries and checks that they name the lease of the
 * trial's attempt: 0, or the status (400, 409, 500) with *error. */
static int
report_lease(struct server *srv, int64_t trial_id, const json_t *body, int64_t *attempt,
    int64_t *worker_id, char **error)
{
	const char *secret;
	char *cause = NULL;
	int rc;

	if ((rc = report_fields(body, attempt, worker_id, &secret, error)) != 0)
		return rc;
	rc = lease_secret_check(srv->st, trial_id, *attempt, *worker_id, secret, &cause);
	if (rc == TRIAL_ESTALE)
		rc = TRIAL_EHOLDER;
	rc = trial_rc_status(trial_id, rc, cause, error);
	return rc == 200 ? 0 : rc;
}

/* Replies with what a server_apply_*() returned. */
static void
reply_applied(struct req_ctx *ctx, int status, json_t *answer, char *error)
{
	if (status == 200)
		reply_json(ctx, 200, answer);
	else {
		json_decref(answer);
		reply_error(ctx, status, "%s", error != NULL ? error : "error");
	}
	free(error);
}

void
api_healthz(struct req_ctx *ctx)
{
	reply_json(ctx, 200, json_pack("{s:b}", "ok", 1));
}

void
api_register(struct req_ctx *ctx)
{
	struct server *srv = ctx->srv;
	const char *name, *pool, *hostname;
	const struct pool *p = NULL;
	int64_t slots = 1, id;
	char *cause = NULL;
	double hb = srv->lease_timeout_s / 3;

	if (!body_str(ctx, "name", MAX_NAME_LEN, &name) ||
	    !body_str(ctx, "pool", MAX_NAME_LEN, &pool) ||
	    !body_str(ctx, "hostname", MAX_NAME_LEN, &hostname) ||
	    !body_int(ctx, "slots", false, &slots))
		return;
	if (name == NULL) {
		reply_error(ctx, 400, "field \"name\": expected a string");
		return;
	}
	if (slots < 1 || slots > 1024) {
		reply_error(ctx, 400, "field \"slots\": expected 1 to 1024");
		return;
	}
	if (pool != NULL && srv->cfg->npools > 0 &&
	    (p = config_pool(srv->cfg, pool)) == NULL) {
		reply_error(ctx, 400, "unknown pool \"%s\"", pool);
		return;
	}
	if (store_worker_register(srv->st, name, pool, p ? pool_class_name(p->cls) : NULL,
	    hostname, (int)slots, now_wall(), &id, &cause) != 0)
		goto fail;
	store_event(srv->st, 0, 0, 0, "worker.registered", name, &cause);
	free(cause);
	log_info("worker %lld registered: %s (pool %s, %lld slots)", (long long)id, name,
	    pool ? pool : "-", (long long)slots);
	reply_json(ctx, 200, json_pack("{s:I,s:f,s:f}", "worker_id", (json_int_t)id,
	    "lease_timeout_s", srv->lease_timeout_s, "heartbeat_s", hb));
	return;
fail:
	log_error("%s", cause);
	free(cause);
	reply_error(ctx, 500, "the store failed");
}

/* What the scheduler remembers of the workers it hears from, so that a lease or a report
 * does not read the worker's pool (fixed at registration) or write its last_seen more than
 * once a second: a direct-mapped cache by worker id, an evicted entry simply read again. */
#define WORKER_CACHE_SIZE	1024	/* a power of two */
#define WORKER_SEEN_EVERY_S	1.0

struct worker_cache_entry {
	int64_t	 worker_id;	/* 0: empty */
	bool	 known;		/* pool read from the store */
	char	*pool;		/* NULL: no pool */
	double	 written;	/* last_seen last written, 0: never */
};

struct worker_cache {
	struct worker_cache_entry e[WORKER_CACHE_SIZE];
};

static struct worker_cache_entry *
worker_entry(struct server *srv, int64_t worker_id)
{
	struct worker_cache_entry *e;

	if (srv->workers_seen == NULL)
		srv->workers_seen = xcalloc(1, sizeof *srv->workers_seen);
	e = &srv->workers_seen->e[(uint64_t)worker_id & (WORKER_CACHE_SIZE - 1)];
	if (e->worker_id != worker_id) {
		free(e->pool);
		memset(e, 0, sizeof *e);
		e->worker_id = worker_id;
	}
	return e;
}

void
server_api_free(struct server *srv)
{
	size_t i;

	if (srv->workers_seen == NULL)
		return;
	for (i = 0; i < WORKER_CACHE_SIZE; i++)
		free(srv->workers_seen->e[i].pool);
	free(srv->workers_seen);
	srv->workers_seen = NULL;
}

/* Finds the worker's pool name (NULL when it has none; the cache's, not to be freed);
 * false with a reply when the worker is unknown. */
static bool
lease_worker(struct req_ctx *ctx, int64_t worker_id, const char **pool_name)
{
	struct server *srv = ctx->srv;
	struct worker_cache_entry *e;
	sqlite3_stmt *stmt;
	char *cause = NULL;

	e = worker_entry(srv, worker_id);
	if (e->known) {
		*pool_name = e->pool;
		return true;
	}
	stmt = store_stmt(srv->st, "SELECT pool FROM workers WHERE id = ?", &cause);
	if (stmt == NULL) {
		log_error("%s", cause);
		free(cause);
		reply_error(ctx, 500, "the store failed");
		return false;
	}
	sqlite3_bind_int64(stmt, 1, worker_id);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		reply_error(ctx, 404, "unknown worker %lld (register first)", (long long)worker_id);
		return false;
	}
	e->pool = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? NULL :
	    xstrdup((const char *)sqlite3_column_text(stmt, 0));
	e->known = true;
	sqlite3_reset(stmt);
	*pool_name = e->pool;
	return true;
}

/* Notes that the worker was heard from; an unknown id is not an error for a report. The
 * write is skipped within a second of the last one: last_seen only has to tell live workers
 * from gone ones, and its readers look minutes back. */
static void
touch_worker(struct server *srv, int64_t worker_id)
{
	struct worker_cache_entry *e;
	char *cause = NULL;
	double now;

	if (worker_id <= 0)
		return;
	now = now_wall();
	e = worker_entry(srv, worker_id);
	if (e->written > 0 && now - e->written < WORKER_SEEN_EVERY_S && now >= e->written)
		return;
	if (store_worker_seen(srv->st, worker_id, now, &cause) != 0) {
		free(cause);
		return;
	}
	e->written = now;
}

/* The members of a sweep's lease document that do not change from lease to lease, as JSON
 * text without the braces, made once per sweep. */
static const char *
lease_tail(struct server *srv, int64_t sweep_id, const struct spec *s)
{
	struct sweep_cache_entry *e = NULL;
	json_t *doc, *metrics, *fatal;
	char *text;
	size_t i, n;

	for (i = 0; i < srv->nsweeps; i++) {
		if (srv->sweeps[i].sweep_id == sweep_id) {
			e = &srv->sweeps[i];
			break;
		}
	}
	if (e != NULL && e->lease_tail != NULL)
		return e->lease_tail;
	metrics = json_object();
	for (i = 0; i < s->nmetrics; i++)
		json_object_set_new(metrics, s->metrics[i].name, s->metrics[i].pattern ?
		    json_string(s->metrics[i].pattern) : json_null());
	fatal = json_array();
	for (i = 0; i < s->nfatal; i++)
		json_array_append_new(fatal, json_string(s->fatal_patterns[i]));
	doc = json_pack("{s:s,s:{s:s?,s:s?,s:s},s:o,s:o,s:I,s:I,s:f,s:f,s:b}",
	    "command", s->command,
	    "metric", "name", s->objective.name, "pattern", s->objective.pattern,
	    "goal", s->minimize ? "minimize" : "maximize",
	    "metrics", metrics,
	    "fatal_patterns", fatal,
	    "checkpoint_keep", (json_int_t)s->checkpoint_keep,
	    "timeout_s", (json_int_t)s->timeout_s,
	    "lease_timeout_s", srv->lease_timeout_s,
	    "heartbeat_s", srv->lease_timeout_s / 3,
	    "wandb_shim", s->wandb_shim);
	/* W&B's program (for ${program}) and the wandb shim (agent-wandb.c) */
	if (doc != NULL && s->program != NULL)
		json_object_set_new(doc, "program", json_string(s->program));
	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return NULL;
	/* drop the braces: the lease puts its own members first */
	n = strlen(text);
	memmove(text, text + 1, n - 2);
	text[n - 2] = '\0';
	if (e == NULL)
		return NULL;	/* server_sweep_spec caches every spec it returns */
	e->lease_tail = text;
	return text;
}

/* Writes the lease document of docs/http-api.md (trimming l's checkpoint list to what a
 * lease may carry). */
static char *
lease_text(struct server *srv, struct lease *l, const struct spec *s, const char *secret)
{
	struct buf b = { 0 };
	json_t *ckpts;
	const char *tail;
	json_error_t jerr;

	if ((tail = lease_tail(srv, l->sweep_id, s)) == NULL)
		return NULL;
	buf_printf(&b, "{\"sweep_id\":%lld,\"trial_id\":%lld,\"attempt\":%lld,\"params\":",
	    (long long)l->sweep_id, (long long)l->trial_id, (long long)l->attempt);
	/* params: JSON the store holds as expand.c wrote it */
	buf_adds(&b, l->params);
	buf_adds(&b, ",\"resume_from\":");
	json_add_string(&b, l->resume_from != NULL ? l->resume_from : "");
	buf_adds(&b, ",\"checkpoints\":");
	ckpts = l->checkpoints ? json_loads(l->checkpoints, 0, &jerr) : NULL;
	if (json_is_array(ckpts) && json_array_size(ckpts) > MAX_LEASE_CHECKPOINTS) {
		while (json_array_size(ckpts) > MAX_LEASE_CHECKPOINTS)
			json_array_remove(ckpts, json_array_size(ckpts) - 1);
		free(l->checkpoints);
		l->checkpoints = json_dumps(ckpts, JSON_COMPACT);
	}
	buf_adds(&b, json_is_array(ckpts) && l->checkpoints != NULL ? l->checkpoints : "[]");
	json_decref(ckpts);
	buf_adds(&b, ",\"lease_secret\":");
	json_add_string(&b, secret);
	buf_addc(&b, ',');
	buf_adds(&b, tail);
	buf_addc(&b, '}');
	return buf_steal(&b);
}

int
server_lease_text(struct server *srv, int64_t worker_id, const char *pool_name, char **body,
    char **cause)
{
	struct lease_request lr;
	struct lease l;
	const struct pool *p;
	const struct spec *s;
	char *why = NULL, secret[LEASE_SECRET_LEN + 1];
	int rc;

	*body = NULL;
	memset(&lr, 0, sizeof lr);
	lr.worker_id = worker_id;
	lr.pool = pool_name;
	lr.gpus = 1;
	if ((p = config_pool(srv->cfg, pool_name)) != NULL) {
		lr.pool_class = pool_class_name(p->cls);
		lr.price_per_hour = p->price_per_hour;
		lr.gpus = p->gpus_per_worker;
	}
	lr.lease_timeout_s = srv->lease_timeout_s;
	lr.now = now_wall();
	/* The pool's current price, and the rules' filter. */
	server_pools_lease(srv, p, &lr);
	server_search_lease(srv, lr.now);
	if (lease_secret_new(secret, cause) != 0)
		return -1;
	lr.lease_secret = secret;
	rc = trial_lease(srv->st, &lr, &l, cause);
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	if ((s = server_sweep_spec(srv, l.sweep_id, &why)) == NULL) {
		*cause = xasprintf("sweep %lld: the spec cannot be read: %s",
		    (long long)l.sweep_id, why);
		free(why);
		lease_clear(&l);
		return -1;
	}
	if ((*body = lease_text(srv, &l, s, secret)) == NULL) {
		*cause = xasprintf("sweep %lld: the lease could not be encoded",
		    (long long)l.sweep_id);
		lease_clear(&l);
		return -1;
	}
	log_debug("leased trial %lld attempt %lld to worker %lld", (long long)l.trial_id,
	    (long long)l.attempt, (long long)worker_id);
	lease_clear(&l);
	return 1;
}

/* Leases a trial to a worker of pool pool_name (NULL: none), inside the caller's write:
 * the HTTP lease and the SSH dispatcher both come here. 1 with *doc, the lease document
 * (docs/http-api.md), 0 when there is no work, -1 with *cause. */
int
server_lease(struct server *srv, int64_t worker_id, const char *pool_name, json_t **doc,
    char **cause)
{
	json_error_t jerr;
	char *body;
	int rc;

	*doc = NULL;
	if ((rc = server_lease_text(srv, worker_id, pool_name, &body, cause)) != 1)
		return rc;
	*doc = json_loads(body, 0, &jerr);
	free(body);
	if (*doc == NULL) {
		*cause = xasprintf("a lease document did not parse: %s", jerr.text);
		return -1;
	}
	return 1;
}

void
api_lease(struct req_ctx *ctx)
{
	struct server *srv = ctx->srv;
	const char *pool_name = NULL;
	char *cause = NULL, *body;
	int64_t worker_id;
	int rc;

	if (!body_int(ctx, "worker_id", true, &worker_id))
		return;
	if (srv->draining) {
		reply_error(ctx, 503, "the scheduler is shutting down");
		return;
	}
	if (!lease_worker(ctx, worker_id, &pool_name))
		return;
	touch_worker(srv, worker_id);
	rc = server_lease_text(srv, worker_id, pool_name, &body, &cause);
	if (rc < 0) {
		log_error("lease: %s", cause);
		free(cause);
		reply_error(ctx, 500, "the store failed");
	} else if (rc == 0)
		reply_empty(ctx, 204);
	else
		reply_json_text(ctx, 200, body);
}

/* Applies a heartbeat report (the body of POST /v1/trials/ID/heartbeat). */
int
server_apply_heartbeat(struct server *srv, int64_t trial_id, const json_t *body,
    json_t **answer, char **error)
{
	struct metric_point *pts;
	size_t n;
	int64_t attempt, worker_id = 0;
	bool cancel = false;
	char *cause = NULL;
	int rc, status;

	*answer = NULL;
	if ((status = report_lease(srv, trial_id, body, &attempt, &worker_id, error)) != 0)
		return status;
	if ((status = field_points(body, &pts, &n, error)) != 0)
		return status;
	if ((status = check_metric_names(srv, trial_id, pts, n, error)) != 0) {
		free(pts);
		return status;
	}
	rc = trial_heartbeat(srv->st, trial_id, attempt, pts, n, srv->lease_timeout_s,
	    now_wall(), &cancel, &cause);
	free(pts);
	if ((status = trial_rc_status(trial_id, rc, cause, error)) != 200)
		return status;
	touch_worker(srv, worker_id);
	if (n > 0 && !cancel)
		cancel = server_search_report(srv, trial_id, 0, false);
	*answer = json_pack("{s:b,s:b}", "ok", 1, "cancel", cancel);
	return 200;
}

void
api_heartbeat(struct req_ctx *ctx)
{
	json_t *answer;
	char *error = NULL;
	int status;

	status = server_apply_heartbeat(ctx->srv, ctx->ids[0], ctx->body, &answer, &error);
	reply_applied(ctx, status, answer, error);
}

/* Applies a checkpoint report (the body of POST /v1/trials/ID/checkpoint). */
int
server_apply_checkpoint(struct server *srv, int64_t trial_id, const json_t *body,
    json_t **answer, char **error)
{
	const char *path;
	int64_t attempt, worker_id, step = 0;
	char *cause = NULL;
	int rc, status;

	*answer = NULL;
	if ((status = report_lease(srv, trial_id, body, &attempt, &worker_id, error)) != 0)
		return status;
	if (!field_int(body, "step", false, &step, error) ||
	    !field_str(body, "path", MAX_PATH_LEN, &path, error))
		return 400;
	if (path == NULL || *path == '\0') {
		*error = xstrdup("field \"path\": expected a non-empty string");
		return 400;
	}
	rc = trial_checkpoint(srv->st, trial_id, attempt, path, step, now_wall(), &cause);
	if ((status = trial_rc_status(trial_id, rc, cause, error)) != 200)
		return status;
	*answer = json_pack("{s:b}", "ok", 1);
	return 200;
}

void
api_checkpoint(struct req_ctx *ctx)
{
	json_t *answer;
	char *error = NULL;
	int status;

	status = server_apply_checkpoint(ctx->srv, ctx->ids[0], ctx->body, &answer, &error);
	reply_applied(ctx, status, answer, error);
}

/* Applies a finish report (the body of POST /v1/trials/ID/finish). */
int
server_apply_finish(struct server *srv, int64_t trial_id, const json_t *body,
    json_t **answer, char **error)
{
	struct finish_report r;
	struct metric_point *pts;
	const char *outcome, *reason, *fatal, *log_tail, *secret;
	int64_t attempt, exit_code = -1, worker_id = 0, sweep_id = 0;
	enum trial_state next;
	char *cause = NULL;
	size_t n;
	int rc, status;

	*answer = NULL;
	/* the holder and the metric names are checked by trial_finish, on the row it reads */
	if ((status = report_fields(body, &attempt, &worker_id, &secret, error)) != 0)
		return status;
	if (!field_int(body, "exit_code", false, &exit_code, error) ||
	    !field_str(body, "outcome", 32, &outcome, error) ||
	    !field_str(body, "reason", 4096, &reason, error) ||
	    !field_str(body, "fatal_match", 4096, &fatal, error) ||
	    !field_str(body, "log_tail", 64 * 1024, &log_tail, error))
		return 400;
	if (exit_code < -1 || exit_code > 255) {
		*error = xstrdup("field \"exit_code\": expected -1 (none) or 0 to 255");
		return 400;
	}
	memset(&r, 0, sizeof r);
	if (outcome == NULL || !attempt_outcome_parse(outcome, &r.outcome) ||
	    r.outcome == OUTCOME_RUNNING || r.outcome == OUTCOME_LOST) {
		*error = xstrdup("field \"outcome\": expected succeeded, failed, preempted or "
		    "cancelled");
		return 400;
	}
	if ((status = field_points(body, &pts, &n, error)) != 0)
		return status;
	r.exit_code = (int)exit_code;
	r.reason = reason;
	r.fatal_match = fatal;
	r.log_tail = log_tail;
	r.pts = pts;
	r.npts = n;
	r.now = now_wall();
	r.worker_id = worker_id;
	r.lease_secret = secret;
	r.max_metric_names = MAX_METRICS_PER_TRIAL;
	r.sweep_id = &sweep_id;
	rc = trial_finish(srv->st, trial_id, attempt, &r, &next, &cause);
	free(pts);
	if ((status = trial_rc_status(trial_id, rc, cause, error)) != 200)
		return status;
	touch_worker(srv, worker_id);
	server_search_report(srv, trial_id, sweep_id, true);
	log_info("trial %lld attempt %lld %s -> %s%s%s", (long long)trial_id,
	    (long long)attempt, outcome, trial_state_name(next), reason ? ": " : "",
	    reason ? reason : "");
	*answer = json_pack("{s:b,s:s}", "ok", 1, "state", trial_state_name(next));
	return 200;
}

void
api_finish(struct req_ctx *ctx)
{
	json_t *answer;
	char *error = NULL;
	int status;

	status = server_apply_finish(ctx->srv, ctx->ids[0], ctx->body, &answer, &error);
	reply_applied(ctx, status, answer, error);
}

void
api_workers(struct req_ctx *ctx)
{
	struct server *srv = ctx->srv;
	sqlite3_stmt *stmt;
	char *cause = NULL;
	json_t *arr = json_array();

	stmt = store_stmt(srv->st, "SELECT id, name, pool, pool_class, slots, state, last_seen "
	    "FROM workers ORDER BY id", &cause);
	if (stmt == NULL) {
		free(cause);
		json_decref(arr);
		reply_error(ctx, 500, "the store failed");
		return;
	}
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		char seen[32];

		format_iso8601(seen, sqlite3_column_double(stmt, 6), false);
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s?,s:s?,s:I,s:s,s:s}",
		    "worker_id", (json_int_t)sqlite3_column_int64(stmt, 0),
		    "name", (const char *)sqlite3_column_text(stmt, 1),
		    "pool", (const char *)sqlite3_column_text(stmt, 2),
		    "class", (const char *)sqlite3_column_text(stmt, 3),
		    "slots", (json_int_t)sqlite3_column_int64(stmt, 4),
		    "state", (const char *)sqlite3_column_text(stmt, 5),
		    "last_seen", seen));
	}
	sqlite3_reset(stmt);
	reply_json(ctx, 200, arr);
}

void
api_sweeps(struct req_ctx *ctx)
{
	struct server *srv = ctx->srv;
	struct sweep_summary sum;
	int64_t *ids = NULL;
	size_t n = 0, i;
	char *cause = NULL;
	json_t *arr = json_array();

	if (store_sweep_ids(srv->st, &ids, &n, &cause) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (store_sweep_summary(srv->st, ids[i], &sum, &cause) != 0)
			goto fail;
		json_array_append_new(arr, sweep_summary_to_json(&sum));
		sweep_summary_clear(&sum);
	}
	free(ids);
	reply_json(ctx, 200, arr);
	return;
fail:
	log_error("%s", cause);
	free(cause);
	free(ids);
	json_decref(arr);
	reply_error(ctx, 500, "the store failed");
}

void
api_sweep(struct req_ctx *ctx)
{
	struct sweep_summary sum;
	char *cause = NULL;

	if (store_sweep_summary(ctx->srv->st, ctx->ids[0], &sum, &cause) != 0) {
		free(cause);
		reply_error(ctx, 404, "no sweep %lld", (long long)ctx->ids[0]);
		return;
	}
	reply_json(ctx, 200, sweep_summary_to_json(&sum));
	sweep_summary_clear(&sum);
}

char *
req_query(struct req_ctx *ctx, const char *key)
{
	struct evkeyvalq q;
	const char *v;
	char *out = NULL;

	if (ctx->query == NULL)
		return NULL;
	memset(&q, 0, sizeof q);
	if (evhttp_parse_query_str(ctx->query, &q) != 0)
		return NULL;
	if ((v = evhttp_find_header(&q, key)) != NULL)
		out = xstrdup(v);
	evhttp_clear_headers(&q);
	return out;
}

void
api_sweep_trials(struct req_ctx *ctx)
{
	struct server *srv = ctx->srv;
	enum trial_state state;
	sqlite3_stmt *stmt;
	char *state_s = req_query(ctx, "state"), *after_s = req_query(ctx, "after");
	char *limit_s = req_query(ctx, "limit"), *cause = NULL;
	long long after = 0, limit = 1000;
	json_error_t jerr;
	json_t *arr;

	if ((state_s != NULL && !trial_state_parse(state_s, &state)) ||
	    (after_s != NULL && !safe_strtoll(after_s, &after)) ||
	    (limit_s != NULL && (!safe_strtoll(limit_s, &limit) || limit < 1 ||
	    limit > MAX_LIST_LIMIT))) {
		reply_error(ctx, 400, "query: expected state=STATE, after=TRIAL_ID, limit=1..%d",
		    MAX_LIST_LIMIT);
		goto out;
	}
	stmt = store_stmt(srv->st, "SELECT id, state, attempts, preemptions, params, value, "
	    "reason, step FROM trials WHERE sweep_id = ?1 AND id > ?2 AND (?3 IS NULL OR state = ?3) "
	    "ORDER BY id LIMIT ?4", &cause);
	if (stmt == NULL) {
		log_error("%s", cause);
		free(cause);
		reply_error(ctx, 500, "the store failed");
		goto out;
	}
	sqlite3_bind_int64(stmt, 1, ctx->ids[0]);
	sqlite3_bind_int64(stmt, 2, after);
	if (state_s != NULL)
		sqlite3_bind_text(stmt, 3, trial_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, limit);
	arr = json_array();
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		json_t *o = json_pack("{s:I,s:s,s:I,s:I,s:o,s:o,s:o,s:s?}",
		    "trial_id", (json_int_t)sqlite3_column_int64(stmt, 0),
		    "state", (const char *)sqlite3_column_text(stmt, 1),
		    "attempts", (json_int_t)sqlite3_column_int64(stmt, 2),
		    "preemptions", (json_int_t)sqlite3_column_int64(stmt, 3),
		    "params", json_loads((const char *)sqlite3_column_text(stmt, 4), 0, &jerr),
		    "value", sqlite3_column_type(stmt, 5) == SQLITE_NULL ? json_null() :
		    json_real(sqlite3_column_double(stmt, 5)),
		    "step", sqlite3_column_type(stmt, 7) == SQLITE_NULL ? json_null() :
		    json_integer(sqlite3_column_int64(stmt, 7)),
		    "reason", (const char *)sqlite3_column_text(stmt, 6));

		if (o != NULL)
			json_array_append_new(arr, o);
	}
	sqlite3_reset(stmt);
	reply_json(ctx, 200, arr);
out:
	free(state_s);
	free(after_s);
	free(limit_s);
}

void
server_tick(struct server *srv)
{
	char *cause = NULL;
	bool own = !store_in_transaction(srv->st);
	int n = 0;

	/* Rule decisions, prices, scaling hooks: their own small writes. */
	server_pools_tick(srv);
	if (own && store_begin(srv->st, &cause) != 0)
		goto fail;
	if (trial_expire_leases(srv->st, now_wall(), &n, &cause) != 0) {
		if (own)
			store_rollback(srv->st);
		goto fail;
	}
	server_search_tick(srv, now_wall());
	if (own && store_commit(srv->st, &cause) != 0) {
		store_rollback(srv->st);
		goto fail;
	}
	if (n > 0)
		log_warn("%d lease%s expired: attempt%s lost, trial%s back to pending", n,
		    n == 1 ? "" : "s", n == 1 ? "" : "s", n == 1 ? "" : "s");
	return;
fail:
	log_error("tick: %s", cause);
	free(cause);
}
