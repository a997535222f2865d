/* What the scheduler's own modules share: the server object, the per-request context and the
 * reply functions. Not for use outside server-*.c and cmd-serve.c / cmd-run.c. */
#ifndef SPOTSWEEP_SERVER_IMPL_H
#define SPOTSWEEP_SERVER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "spotsweep/config.h"
#include "spotsweep/server.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"

/* A reply held back until the group commit that covers its request is on disk. */
struct pending_reply {
	struct evhttp_request	*req;	/* NULL once its connection closed */
	struct evhttp_connection *evcon;
	int			 status;
	char			*body;
	bool			 durable;	/* waits for the flush, not only the commit */
	uint64_t		 gen;		/* committed in this flush generation; 0: not
						 * yet committed */
};

/* Parsed specs of the sweeps being leased, so a lease does not re-parse the stored spec. */
struct sweep_cache_entry {
	int64_t		 sweep_id;
	struct spec	*spec;
	char		*lease_tail;	/* the lease document's members that come from the spec
					 * and the server, as JSON text without braces; NULL
					 * until the first lease */
};

struct ssh_dispatch;
struct slurm_dispatch;
struct bayes_cache;
struct worker_cache;
struct dash_cost_cache;
struct server_pools;
struct server_metrics;
struct server_conn;
struct evconnlistener;
struct store_flush;

struct server {
	struct event_base	*base;
	struct evhttp		*http;
	struct store		*st;
	const struct config	*cfg;
	char			*token;
	char			 address[128];
	bool			 draining;
	double			 lease_timeout_s;

	struct event		*commit_ev;
	bool			 commit_scheduled;
	struct pending_reply	*pending;
	size_t			 npending, cap_pending;

	struct event		*tick_ev;

	struct sweep_cache_entry *sweeps;
	size_t			 nsweeps;

	uint64_t		 requests;
	uint64_t		 commits;
	bool			 last_commit_ok;

	struct ssh_dispatch	*ssh;		/* server-ssh.c; NULL without ssh pools */
	struct slurm_dispatch	*slurm;		/* server-slurm.c; NULL without slurm pools */
	struct server_pools	*pools;		/* server-pools.c: prices, rules, scaling */
	struct server_metrics	*metrics;	/* server-metrics.c: GET /metrics */
	struct bayes_cache	*bayes;		/* server-search.c: bayes sweeps' history */
	struct worker_cache	*workers_seen;	/* server-api.c: pools, last_seen writes */
	struct dash_cost_cache	*dash_cost;	/* server-api-dash.c: cost answers kept */
	struct store_flush	*flush;		/* NULL: commits are synchronous=FULL */
	bool			 flush_failed;	/* the WAL could not be flushed: refuse writes */
	void			(*commit_hook)(void *arg, bool ok, uint64_t lo, uint64_t hi);
						/* see server_on_commit */
	void			*commit_hook_arg;

	/* server-conn.c: open connections, their cap and the request deadline */
	struct server_conn	*conns;
	unsigned		 nconns, max_conns;
	struct evconnlistener	*listener;	/* NULL without a socket (server_handle) */
	bool			 accepting;
	double			 http_timeout_s;
	uint64_t		 conns_expired;
};

/* One request being handled: route ids, the parsed JSON body for POSTs. */
struct req_ctx {
	struct server		*srv;
	struct evhttp_request	*req;
	json_t			*body;		/* POST, PUT: the JSON object */
	int64_t			 ids[2];	/* :id segments of the route */
	char			 name[128];	/* the :name segment, as sent (URL-encoded) */
	const char		*query;		/* raw query string or NULL */
	bool			 replied;
	int			 status;
	char			*captured;	/* req NULL (server_handle): the reply body */
	const char		*route;		/* the matched route's pattern, NULL before */
	bool			 early;		/* the route is ROUTE_EARLY_REPLY */
};

enum route_flags {
	ROUTE_WRITE = 1,	/* changes the store: runs in the group-commit transaction */
	ROUTE_PUBLIC = 2,	/* no token needed */
	ROUTE_METRICS = 4,	/* no token needed when the config says metrics_public */
	/* Answered once committed, without waiting for the flush to disk: a lease. Were it lost
	 * in a power cut, the trial is still pending after the restart and the agent's first
	 * report for it is refused (no such attempt, or another lease secret), so nothing
	 * acknowledged is lost; every report still waits for the disk. */
	ROUTE_EARLY_REPLY = 8,
};

typedef void route_handler(struct req_ctx *ctx);

/* Replies with a JSON document (reference stolen). Deferred until commit inside a write. */
void reply_json(struct req_ctx *ctx, int status, json_t *doc);
/* The same with the document already written as JSON text (taken over, freed later). */
void reply_json_text(struct req_ctx *ctx, int status, char *body);
/* Replies {"error": message}. */
void reply_error(struct req_ctx *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A query parameter of the request, decoded, in a malloc'd string; NULL when absent. */
char *req_query(struct req_ctx *ctx, const char *key);
/* 204 with no body. */
void reply_empty(struct req_ctx *ctx, int status);

/* How deeply a request body (or an SSH report line) may nest: reports are 3 levels deep. */
#define SERVER_MAX_JSON_DEPTH 32
/* True when v has arrays or objects nested more than max levels deep. */
bool json_depth_exceeds(const json_t *v, int max);

/* The parsed spec of a sweep, cached; NULL with cause. */
const struct spec *server_sweep_spec(struct server *srv, int64_t sweep_id, char **cause);

/* Runs a write that is not an HTTP request (the SSH dispatcher's) inside the group commit:
 * opens the batch transaction if needed and a savepoint; -1 when the store is unavailable.
 * server_write_end keeps or undoes the savepoint's changes. */
int server_write_begin(struct server *srv);
void server_write_end(struct server *srv, bool keep);
/* Registers the one function called when group commits are on disk (ok) or failed, after the
 * HTTP replies are sent: the SSH dispatcher answers its agents from there. It covers the
 * writes made when server_write_gen() was in [lo, hi]. */
void server_on_commit(struct server *srv, void (*fn)(void *arg, bool ok, uint64_t lo,
    uint64_t hi), void *arg);
/* The flush generation the writes made now belong to (see server_on_commit). */
uint64_t server_write_gen(const struct server *srv);

/* Leases a trial to a worker of pool pool_name (NULL: none) inside the caller's write. 1 with
 * *doc (the lease document of docs/http-api.md), 0 when there is no work, -1 with *cause. */
int server_lease(struct server *srv, int64_t worker_id, const char *pool_name, json_t **doc,
    char **cause);
/* The same with the document as JSON text (*body, caller frees): the HTTP lease's path. */
int server_lease_text(struct server *srv, int64_t worker_id, const char *pool_name,
    char **body, char **cause);
/* Forgets what server-api.c keeps between requests (workers' pools and last writes). */
void server_api_free(struct server *srv);
/* Apply an agent's report (the body of the HTTP request) inside the caller's write; used by
 * the HTTP handlers and the SSH dispatcher. Return the HTTP status: 200 with *answer (the
 * reply document), else *error (caller frees). */
int server_apply_heartbeat(struct server *srv, int64_t trial_id, const json_t *body,
    json_t **answer, char **error);
int server_apply_checkpoint(struct server *srv, int64_t trial_id, const json_t *body,
    json_t **answer, char **error);
int server_apply_finish(struct server *srv, int64_t trial_id, const json_t *body,
    json_t **answer, char **error);

/* Connections (server-conn.c): makes every connection's bufferevent (counted, capped at
 * max_conns by pausing listener, NULL for none) and arms the request deadline. */
void server_conns_init(struct server *srv, struct evconnlistener *listener);
/* Notes a request of a connection: from then on its close is seen at once (the connection's
 * close callback, which also forgets its replies waiting for the commit). */
void server_conns_request(struct server *srv, struct evhttp_request *req);
/* A connection closed: its replies waiting for the commit are not to be sent. */
void server_pending_forget(struct server *srv, struct evhttp_connection *evcon);
/* Fails connections whose request has been arriving for over http_timeout_s, and lets go of
 * those libevent closed without a request (at most a tick late). */
void server_conns_tick(struct server *srv, double now);
/* After evhttp_free: lets go of every connection. */
void server_conns_stop(struct server *srv);

/* Model-based search and early stopping (server-search.c). Before a lease: proposes a trial
 * for a bayes sweep that has room; on the tick, one ready in each. After a report with
 * metric points (finished: a finish report): judges the trial by its sweep's
 * early_terminate and, on a finish, promotes pruned trials that now rank in the top of their
 * rung; true when the trial was pruned now. sweep_id: the trial's sweep, 0 to look it up. */
void server_search_lease(struct server *srv, double now);
void server_search_tick(struct server *srv, double now);
bool server_search_report(struct server *srv, int64_t trial_id, int64_t sweep_id,
    bool finished);
void server_search_free(struct server *srv);

/* Handlers (server-api.c). */
route_handler api_healthz, api_register, api_workers, api_lease, api_heartbeat,
    api_checkpoint, api_finish, api_sweeps, api_sweep, api_sweep_trials;

#endif
