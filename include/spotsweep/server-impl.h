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
};

/* Parsed specs of the sweeps being leased, so a lease does not re-parse the stored spec. */
struct sweep_cache_entry {
	int64_t		 sweep_id;
	struct spec	*spec;
};

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
};

/* One request being handled: route ids, the parsed JSON body for POSTs. */
struct req_ctx {
	struct server		*srv;
	struct evhttp_request	*req;
	json_t			*body;		/* POST: the JSON object */
	int64_t			 ids[2];	/* :id segments of the route */
	const char		*query;		/* raw query string or NULL */
	bool			 replied;
	int			 status;
};

enum route_flags {
	ROUTE_WRITE = 1,	/* changes the store: runs in the group-commit transaction */
	ROUTE_PUBLIC = 2,	/* no token needed */
};

typedef void route_handler(struct req_ctx *ctx);

/* Replies with a JSON document (reference stolen). Deferred until commit inside a write. */
void reply_json(struct req_ctx *ctx, int status, json_t *doc);
/* Replies {"error": message}. */
void reply_error(struct req_ctx *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 204 with no body. */
void reply_empty(struct req_ctx *ctx, int status);

/* The parsed spec of a sweep, cached; NULL with cause. */
const struct spec *server_sweep_spec(struct server *srv, int64_t sweep_id, char **cause);

/* Handlers (server-api.c). */
route_handler api_healthz, api_register, api_workers, api_lease, api_heartbeat,
    api_checkpoint, api_finish, api_sweeps, api_sweep, api_sweep_trials;

#endif
