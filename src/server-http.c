/* The scheduler's HTTP layer: the route table, the generic dispatcher that rejects unknown
 * routes (404), wrong methods (405), missing tokens (401), oversized (413) and malformed (400)
 * bodies before any handler runs, and the group commit: every write request of one loop
 * iteration runs in one SQLite transaction (each in its own savepoint), and their replies are
 * sent only after that transaction is committed and, for every reply but a lease's, flushed
 * to disk (store-flush.c: the flush runs on a thread while the loop serves the next requests;
 * without a WAL file to flush, commits are synchronous=FULL and replies follow them). */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "spotsweep/agent-output.h"
#include "spotsweep/cpu-place.h"
#include "spotsweep/json-fast.h"
#include "spotsweep/log.h"
#include "spotsweep/server-dash.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/server-metrics.h"
#include "spotsweep/server-pools.h"
#include "spotsweep/server-slurm.h"
#include "spotsweep/server-ssh.h"
#include "spotsweep/store-flush.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

struct route {
	enum evhttp_cmd_type	 method;
	const char		*pattern;	/* ":id" matches a positive integer segment */
	int			 flags;
	route_handler		*handler;
};

static const struct route routes[] = {
	{ EVHTTP_REQ_GET,  "/healthz",                    ROUTE_PUBLIC, api_healthz },
	{ EVHTTP_REQ_GET,  "/",                           ROUTE_PUBLIC, api_dash_index },
	{ EVHTTP_REQ_GET,  "/dashboard.js",               ROUTE_PUBLIC, api_dash_js },
	{ EVHTTP_REQ_GET,  "/dashboard.css",              ROUTE_PUBLIC, api_dash_css },
	{ EVHTTP_REQ_GET,  "/favicon.svg",                ROUTE_PUBLIC, api_dash_icon },
	{ EVHTTP_REQ_GET,  "/metrics",                    ROUTE_METRICS, api_metrics },
	{ EVHTTP_REQ_POST, "/v1/workers",                 ROUTE_WRITE,  api_register },
	{ EVHTTP_REQ_GET,  "/v1/workers",                 0,            api_workers },
	{ EVHTTP_REQ_POST, "/v1/lease",          ROUTE_WRITE | ROUTE_EARLY_REPLY, api_lease },
	{ EVHTTP_REQ_POST, "/v1/trials/:id/heartbeat",    ROUTE_WRITE,  api_heartbeat },
	{ EVHTTP_REQ_POST, "/v1/trials/:id/checkpoint",   ROUTE_WRITE,  api_checkpoint },
	{ EVHTTP_REQ_POST, "/v1/trials/:id/finish",       ROUTE_WRITE,  api_finish },
	{ EVHTTP_REQ_GET,  "/v1/sweeps",                  0,            api_sweeps },
	{ EVHTTP_REQ_GET,  "/v1/sweeps/:id",              0,            api_sweep },
	{ EVHTTP_REQ_GET,  "/v1/sweeps/:id/trials",       0,            api_sweep_trials },
	{ EVHTTP_REQ_GET,  "/v1/sweeps/:id/results",      0,            api_sweep_results },
	{ EVHTTP_REQ_GET,  "/v1/sweeps/:id/metrics",      0,            api_sweep_metrics },
	{ EVHTTP_REQ_GET,  "/v1/sweeps/:id/attempts",     0,            api_sweep_attempts },
	{ EVHTTP_REQ_GET,  "/v1/sweeps/:id/cost",         0,            api_sweep_cost },
	{ EVHTTP_REQ_GET,  "/v1/cost",                    0,            api_cost },
	{ EVHTTP_REQ_GET,  "/v1/rules",                   0,            api_rules },
	{ EVHTTP_REQ_GET,  "/v1/pools",                   0,            api_pools },
	{ EVHTTP_REQ_PUT,  "/v1/pools/:name/price",       ROUTE_WRITE,  api_pool_price },
};

static const char *
status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* Writes what evhttp queued on the connection now, and when it all went, tells evhttp the
 * reply is out (its write callback: the request is freed, the connection reads the next one
 * or, if it is to close, is freed). Left to itself evhttp waits for the socket to be
 * reported writable in the next loop iteration before writing, a round through epoll per
 * reply. What the socket does not take at once goes out the usual way. Only for replies sent
 * from outside evhttp's own callbacks: inside a request's callback the request must outlive
 * the reply. */
static void
write_through(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);

	while (evbuffer_get_length(out) > 0 && evbuffer_write(out, fd) > 0)
		;
	if (evbuffer_get_length(out) == 0)
		bufferevent_trigger(bev, EV_WRITE, 0);
}

static void
send_now(struct evhttp_request *req, int status, const char *body, bool write_now)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) :
	    NULL;
	struct evbuffer *out;

	if (status == 204 || body == NULL) {
		evhttp_send_reply(req, status, status_reason(status), NULL);
	} else {
		out = evbuffer_new();
		evbuffer_add(out, body, strlen(body));
		evbuffer_add(out, "\n", 1);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		    "application/json");
		evhttp_send_reply(req, status, status_reason(status), out);
		evbuffer_free(out);
	}
	if (write_now && bev != NULL)
		write_through(bev);
}

void
server_pending_forget(struct server *srv, struct evhttp_connection *evcon)
{
	size_t i;

	for (i = 0; i < srv->npending; i++) {
		if (srv->pending[i].evcon == evcon)
			srv->pending[i].req = NULL;
	}
}

static void
queue_reply(struct req_ctx *ctx, int status, char *body)
{
	struct server *srv = ctx->srv;
	struct pending_reply *p;

	ctx->replied = true;
	ctx->status = status;
	if (ctx->req == NULL) {
		/* server_handle: it commits and takes the reply itself. */
		free(ctx->captured);
		ctx->captured = body;
		return;
	}
	if (!store_in_transaction(srv->st)) {
		send_now(ctx->req, status, body, false);
		free(body);
		return;
	}
	if (srv->npending == srv->cap_pending) {
		srv->cap_pending = srv->cap_pending ? srv->cap_pending * 2 : 32;
		srv->pending = xreallocarray(srv->pending, srv->cap_pending, sizeof *srv->pending);
	}
	p = &srv->pending[srv->npending++];
	p->req = ctx->req;
	p->evcon = evhttp_request_get_connection(ctx->req);
	p->status = status;
	p->body = body;
	p->durable = !ctx->early;
	p->gen = 0;
}

void
reply_json(struct req_ctx *ctx, int status, json_t *doc)
{
	char *body = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(doc);
	if (body == NULL) {
		/* A json_pack() that failed: a string that was not UTF-8 (or NULL). */
		log_error("reply %d to %s could not be encoded", status,
		    ctx->req != NULL ? evhttp_request_get_uri(ctx->req) : "a request");
		body = xstrdup("{\"error\":\"the reply could not be encoded\"}");
	}
	queue_reply(ctx, status, body);
}

void
reply_json_text(struct req_ctx *ctx, int status, char *body)
{
	queue_reply(ctx, status, body);
}

void
reply_error(struct req_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;
	struct buf b = { 0 };
	char *msg;
	json_t *doc;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	/* Messages quote what the client sent (a path, a name): JSON wants UTF-8. */
	agent_buf_add_utf8_sanitized(&b, msg, strlen(msg));
	doc = json_pack("{s:s}", "error", b.data != NULL ? b.data : "");
	buf_free(&b);
	free(msg);
	reply_json(ctx, status, doc);
}

void
reply_empty(struct req_ctx *ctx, int status)
{
	queue_reply(ctx, status, NULL);
}

static const char commit_failed[] = "{\"error\":\"the store could not commit\"}";

/* Commits the batch, then answers its requests: 500 for all of them if the commit failed,
 * since none of their changes is on disk. With a flusher, the replies that must wait for the
 * disk stay in srv->pending, tagged with the commit's flush generation (on_flushed). */
static void
commit_batch(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	char *cause = NULL;
	bool ok = true;
	uint64_t gen = 0, failed_gen = server_write_gen(srv);
	size_t i, kept = 0;

	(void)fd;
	(void)what;
	srv->commit_scheduled = false;
	srv->last_commit_ok = true;
	if (store_in_transaction(srv->st)) {
		double started = now_mono();

		if (srv->flush_failed) {
			/* The disk lost writes already: acknowledge nothing more. */
			store_rollback(srv->st);
			ok = false;
		} else if (store_commit(srv->st, &cause) != 0) {
			log_error("commit failed: %s", cause);
			free(cause);
			store_rollback(srv->st);
			ok = false;
		}
		if (!ok)
			srv->last_commit_ok = false;
		srv->commits++;
		server_metrics_commit(srv, ok, now_mono() - started);
	}
	if (ok && srv->flush != NULL)
		gen = store_flush_request(srv->flush);
	for (i = 0; i < srv->npending; i++) {
		struct pending_reply *p = &srv->pending[i];

		if (p->gen != 0 || (ok && gen != 0 && p->durable && p->req != NULL)) {
			/* Waits for its flush: an earlier commit's, or this one's. */
			if (p->gen == 0)
				p->gen = gen;
			srv->pending[kept++] = *p;
			continue;
		}
		if (p->req != NULL)
			send_now(p->req, ok ? p->status : 500, ok ? p->body : commit_failed,
			    true);
		free(p->body);
	}
	srv->npending = kept;
	if (srv->commit_hook == NULL)
		return;
	if (!ok)
		srv->commit_hook(srv->commit_hook_arg, false, failed_gen, failed_gen);
	else if (srv->flush == NULL)
		srv->commit_hook(srv->commit_hook_arg, true, 0, UINT64_MAX);
}

/* The flusher: every commit up to generation gen is on disk (ok), or may not be. */
static void
on_flushed(void *arg, uint64_t gen, bool ok)
{
	struct server *srv = arg;
	size_t i, kept = 0;

	if (!ok)
		srv->flush_failed = true;
	for (i = 0; i < srv->npending; i++) {
		struct pending_reply *p = &srv->pending[i];

		if (p->gen == 0 || p->gen > gen) {
			srv->pending[kept++] = *p;
			continue;
		}
		if (p->req != NULL)
			send_now(p->req, ok ? p->status : 500, ok ? p->body :
			    "{\"error\":\"the store could not flush its changes to disk\"}", true);
		free(p->body);
	}
	srv->npending = kept;
	if (srv->commit_hook != NULL)
		srv->commit_hook(srv->commit_hook_arg, ok, 0, gen);
}

uint64_t
server_write_gen(const struct server *srv)
{
	return srv->flush != NULL ? store_flush_next_gen(srv->flush) : 0;
}

/* Opens the batch transaction if needed and a savepoint for this request. */
static int
begin_write(struct server *srv)
{
	char *cause = NULL;

	if (!store_in_transaction(srv->st)) {
		if (store_begin(srv->st, &cause) != 0) {
			log_error("%s", cause);
			free(cause);
			return -1;
		}
	}
	if (!srv->commit_scheduled) {
		srv->commit_scheduled = true;
		event_active(srv->commit_ev, EV_TIMEOUT, 0);
	}
	if (store_request_begin(srv->st, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

/* Keeps or undoes this request's changes. A handler that answered with an error status
 * changed nothing that should stay. */
static void
end_write(struct server *srv, bool keep)
{
	store_request_end(srv->st, keep);
}

int
server_write_begin(struct server *srv)
{
	return begin_write(srv);
}

void
server_write_end(struct server *srv, bool keep)
{
	end_write(srv, keep);
}

void
server_on_commit(struct server *srv, void (*fn)(void *arg, bool ok, uint64_t lo, uint64_t hi),
    void *arg)
{
	srv->commit_hook = fn;
	srv->commit_hook_arg = arg;
}

/* Matches path against pattern, collecting :id segments and the :name one. */
static bool
route_match(const char *pattern, const char *path, int64_t ids[2], char name[128])
{
	int nid = 0;

	while (*pattern != '\0' && *path != '\0') {
		if (strncmp(pattern, ":name", 5) == 0) {
			size_t n = strcspn(path, "/");

			if (n == 0 || n >= 128)
				return false;
			memcpy(name, path, n);
			name[n] = '\0';
			path += n;
			pattern += 5;
			continue;
		}
		if (pattern[0] == ':') {
			long long v = 0;
			const char *start = path;

			while (*path >= '0' && *path <= '9') {
				if (v > (INT64_MAX - 9) / 10)
					return false;
				v = v * 10 + (*path++ - '0');
			}
			if (path == start || v <= 0 || nid >= 2)
				return false;
			ids[nid++] = v;
			while (*pattern != '\0' && *pattern != '/')
				pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *pattern == '\0' && *path == '\0';
}

bool
json_depth_exceeds(const json_t *v, int max)
{
	const char *key;
	json_t *item;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return false;
	if (max <= 0)
		return true;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if (json_depth_exceeds(item, max - 1))
				return true;
		}
		return false;
	}
	json_object_foreach((json_t *)v, key, item) {
		if (json_depth_exceeds(item, max - 1))
			return true;
	}
	return false;
}

/* Constant-time comparison so the token cannot be guessed byte by byte from timings. */
static bool
token_matches(const char *want, const char *got)
{
	size_t lw = strlen(want), lg = strlen(got), i;
	unsigned char diff = (unsigned char)(lw != lg);

	for (i = 0; i < lw; i++)
		diff |= (unsigned char)(want[i] ^ (i < lg ? got[i] : 0));
	return diff == 0;
}

static bool
authorized(struct server *srv, const char *h)
{
	if (srv->token == NULL)
		return true;
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	return token_matches(srv->token, h + 7);
}

/* A request path as it may appear in a reply: at most 200 bytes, control characters and
 * non-ASCII bytes as \xNN. */
static char *
printable_path(const char *path)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; path[i] != '\0' && i < 200; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			buf_printf(&b, "\\x%02x", c);
		else
			buf_addc(&b, (char)c);
	}
	if (path[i] != '\0')
		buf_adds(&b, "...");
	return buf_steal(&b);
}

/* The dispatcher proper, for a request from a connection (ctx->req) or from server_handle
 * (ctx->req NULL): the route, the token, the body's size and JSON, then the handler, inside
 * the group commit for a write. */
static void
dispatch_request(struct req_ctx *ctx, enum evhttp_cmd_type method,
    const struct evhttp_uri *uri, const char *authorization, const char *data, size_t len)
{
	struct server *srv = ctx->srv;
	const struct route *r = NULL;
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	bool path_known = false;
	json_error_t jerr;
	size_t i;
	int64_t ids[2];

	srv->requests++;
	if (path == NULL || *path == '\0')
		path = "/";
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (!route_match(routes[i].pattern, path, ids, ctx->name))
			continue;
		path_known = true;
		if (routes[i].method == method) {
			r = &routes[i];
			ctx->route = r->pattern;
			ctx->early = (r->flags & ROUTE_EARLY_REPLY) != 0;
			memcpy(ctx->ids, ids, sizeof ids);
			break;
		}
	}
	if (r == NULL) {
		char *shown = printable_path(path);

		if (path_known)
			reply_error(ctx, 405, "method not allowed for %s", shown);
		else
			reply_error(ctx, 404, "no such resource: %s", shown);
		free(shown);
		return;
	}
	if (!(r->flags & ROUTE_PUBLIC) &&
	    !((r->flags & ROUTE_METRICS) && srv->cfg->metrics_public) &&
	    !authorized(srv, authorization)) {
		if (ctx->req != NULL)
			evhttp_add_header(evhttp_request_get_output_headers(ctx->req),
			    "WWW-Authenticate", "Bearer");
		reply_error(ctx, 401, "missing or wrong bearer token");
		return;
	}
	if (len > SERVER_MAX_BODY) {
		reply_error(ctx, 413, "request body larger than %d bytes", SERVER_MAX_BODY);
		return;
	}
	if (method == EVHTTP_REQ_POST || method == EVHTTP_REQ_PUT) {
		/* jansson parses what the fast path leaves, and words any error. */
		ctx->body = json_parse_fast(len ? data : "", len);
		if (ctx->body == NULL)
			ctx->body = json_loadb(len ? data : "", len, JSON_REJECT_DUPLICATES, &jerr);
		if (ctx->body == NULL) {
			reply_error(ctx, 400, "malformed JSON at line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
			return;
		}
		if (!json_is_object(ctx->body)) {
			json_decref(ctx->body);
			ctx->body = NULL;
			reply_error(ctx, 400, "the request body must be a JSON object");
			return;
		}
		if (json_depth_exceeds(ctx->body, SERVER_MAX_JSON_DEPTH)) {
			json_decref(ctx->body);
			ctx->body = NULL;
			reply_error(ctx, 400, "the request body nests deeper than %d levels",
			    SERVER_MAX_JSON_DEPTH);
			return;
		}
	}
	ctx->query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (r->flags & ROUTE_WRITE) {
		if (begin_write(srv) != 0) {
			json_decref(ctx->body);
			ctx->body = NULL;
			reply_error(ctx, 500, "the store is not available");
			return;
		}
		r->handler(ctx);
		end_write(srv, ctx->replied && ctx->status < 400);
	} else
		r->handler(ctx);
	json_decref(ctx->body);
	ctx->body = NULL;
	if (!ctx->replied)
		reply_error(ctx, 500, "internal error: no reply");
}

/* evhttp's callback for every request of every connection. */
static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct req_ctx ctx;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	double started = now_mono();

	memset(&ctx, 0, sizeof ctx);
	ctx.srv = arg;
	ctx.req = req;
	server_conns_request(ctx.srv, req);
	dispatch_request(&ctx, method,
	    evhttp_request_get_evhttp_uri(req),
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"),
	    len > 0 && len <= SERVER_MAX_BODY ? (const char *)evbuffer_pullup(in, -1) : NULL,
	    len);
	server_metrics_request(ctx.srv, ctx.route, method, ctx.status, now_mono() - started);
}

void
server_commit_now(struct server *srv)
{
	if (!srv->commit_scheduled)
		return;
	event_del(srv->commit_ev);
	commit_batch(-1, 0, srv);
}

int
server_handle(struct server *srv, const char *method, const char *uri,
    const char *authorization, const void *body, size_t len, char **reply)
{
	static const struct {
		const char		*name;
		enum evhttp_cmd_type	 cmd;
	} methods[] = {
		{ "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST },
		{ "PUT", EVHTTP_REQ_PUT }, { "DELETE", EVHTTP_REQ_DELETE },
		{ "HEAD", EVHTTP_REQ_HEAD },
	};
	struct req_ctx ctx;
	struct evhttp_uri *u;
	double started;
	size_t i;

	*reply = NULL;
	for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (strcmp(methods[i].name, method) == 0)
			break;
	}
	/* What evhttp answers for a method it was not told to allow, or a bad request line. */
	if (i == sizeof methods / sizeof methods[0]) {
		*reply = xstrdup("{\"error\":\"method not implemented\"}");
		return 501;
	}
	if ((u = evhttp_uri_parse_with_flags(uri, EVHTTP_URI_NONCONFORMANT)) == NULL) {
		*reply = xstrdup("{\"error\":\"bad request line\"}");
		return 400;
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.srv = srv;
	started = now_mono();
	dispatch_request(&ctx, methods[i].cmd, u, authorization, body, len);
	server_metrics_request(srv, ctx.route, methods[i].cmd, ctx.status, now_mono() - started);
	evhttp_uri_free(u);
	if (srv->commit_scheduled) {
		server_commit_now(srv);
		if (srv->flush != NULL && srv->last_commit_ok && !ctx.early)
			store_flush_wait(srv->flush);
		if (!srv->last_commit_ok || (srv->flush_failed && !ctx.early)) {
			free(ctx.captured);
			ctx.captured = xstrdup("{\"error\":\"the store could not commit\"}");
			ctx.status = 500;
		}
	}
	*reply = ctx.captured;
	return ctx.status;
}

bool
address_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

int
split_host_port(const char *addr, char **host, int *port, char **cause)
{
	const char *colon;
	long p;
	char *ps;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (end == NULL || end[1] != ':') {
			*cause = xasprintf("bad address %s (expected [V6]:PORT)", addr);
			return -1;
		}
		*host = xstrndup(addr + 1, (size_t)(end - addr - 1));
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || colon == addr) {
			*cause = xasprintf("bad address %s (expected HOST:PORT)", addr);
			return -1;
		}
		*host = xstrndup(addr, (size_t)(colon - addr));
	}
	ps = xstrdup(colon + 1);
	if (!safe_strtol(ps, &p) || p < 0 || p > 65535) {
		*cause = xasprintf("bad port in %s", addr);
		free(ps);
		free(*host);
		*host = NULL;
		return -1;
	}
	free(ps);
	*port = (int)p;
	return 0;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_tick(arg);
	server_conns_tick(arg, now_mono());
}

int
server_create(struct event_base *base, struct store *st, const struct config *cfg,
    const char *listen, const char *token, struct server **out, char **cause)
{
	struct server *srv;
	struct evhttp_bound_socket *sock;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char *host = NULL, ip[INET6_ADDRSTRLEN];
	int port, renewed = 0;
	double tick_s;
	struct timeval tv;

	/* Every request mallocs and frees a few hundred KB through SQLite and libevent; with
	 * glibc's default trimming the heap's top went back to the kernel and was asked for
	 * again on every batch (a brk pair each, ~6% of the scheduler's CPU). Keep a few MB. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_TOP_PAD, 1 << 20);
	if (event_base_get_npriorities(base) < SERVER_PRIORITIES) {
		*cause = xasprintf("internal error: the event base needs %d priorities",
		    SERVER_PRIORITIES);
		return -1;
	}
	if (listen != NULL && split_host_port(listen, &host, &port, cause) != 0)
		return -2;
	if (listen != NULL && !address_is_loopback(host) && token == NULL) {
		*cause = xasprintf("refusing to listen on non-loopback address %s without a token "
		    "(set token_file or --token-file)", listen);
		free(host);
		return -2;
	}
	srv = xcalloc(1, sizeof *srv);
	srv->base = base;
	srv->st = st;
	srv->cfg = cfg;
	srv->token = token ? xstrdup(token) : NULL;
	srv->metrics = server_metrics_create();
	srv->lease_timeout_s = cfg->lease_timeout_s;
	srv->http_timeout_s = cfg->http_timeout_s > 0 ? cfg->http_timeout_s : 60;
	srv->last_commit_ok = true;
	srv->http = evhttp_new(base);
	evhttp_set_max_body_size(srv->http, SERVER_MAX_BODY);
	evhttp_set_max_headers_size(srv->http, SERVER_MAX_HEADERS);
	/* The idle timeout; a request that trickles in is cut by server_conns_tick. */
	tv.tv_sec = (long)srv->http_timeout_s;
	tv.tv_usec = (long)((srv->http_timeout_s - (double)tv.tv_sec) * 1e6);
	evhttp_set_timeout_tv(srv->http, &tv);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(srv->http, dispatch, srv);
	if (listen == NULL) {
		server_conns_init(srv, NULL);
		goto bound;
	}
	sock = evhttp_bind_socket_with_handle(srv->http, strcmp(host, "localhost") == 0 ?
	    "127.0.0.1" : host, (ev_uint16_t)port);
	if (sock == NULL) {
		*cause = xasprintf("cannot listen on %s: %s", listen,
		    errno == EADDRINUSE ? "address already in use" : strerror(errno));
		free(host);
		server_free(srv);
		return -1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
			snprintf(srv->address, sizeof srv->address, "[%s]:%d", ip,
			    ntohs(s6->sin6_port));
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
			snprintf(srv->address, sizeof srv->address, "%s:%d", ip,
			    ntohs(s4->sin_port));
		}
	}
	free(host);
	server_conns_init(srv, evhttp_bound_socket_get_listener(sock));
bound:
	/* Agents kept running their trials while no scheduler was there (a crash, a restart):
	 * each gets a full lease period to be heard again before its attempt is declared lost. */
	if (trial_renew_leases(st, now_wall() + srv->lease_timeout_s, &renewed, cause) != 0) {
		server_free(srv);
		return -1;
	}
	if (renewed > 0)
		log_info("%d attempt%s still running: lease%s renewed for %g s", renewed,
		    renewed == 1 ? "" : "s", renewed == 1 ? "" : "s", srv->lease_timeout_s);
	if (server_pools_create(srv, cause) != 0) {
		server_free(srv);
		return -1;
	}
	if (store_flush_create(st, base, on_flushed, srv, &srv->flush, cause) < 0) {
		server_free(srv);
		return -1;
	}
	if (srv->flush != NULL && listen != NULL) {
		char placed[256];

		cpu_place_scheduler(sqlite3_db_filename(store_db(st), "main"),
		    store_flush_thread(srv->flush), placed, sizeof placed);
		log_info("%s", placed);
	}
	/* The commit runs after every request callback of the iteration: a lower priority
	 * than the I/O events that carry the requests. */
	srv->commit_ev = event_new(base, -1, 0, commit_batch, srv);
	event_priority_set(srv->commit_ev, SERVER_PRIORITIES - 1);
	tick_s = srv->lease_timeout_s / 4;
	if (tick_s > 1)
		tick_s = 1;
	if (tick_s < 0.05)
		tick_s = 0.05;
	tv.tv_sec = (long)tick_s;
	tv.tv_usec = (long)((tick_s - (double)tv.tv_sec) * 1e6);
	srv->tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, srv);
	event_add(srv->tick_ev, &tv);
	if (ssh_dispatch_create(srv, &srv->ssh, cause) != 0) {
		server_free(srv);
		return -1;
	}
	if (slurm_dispatch_create(srv, &srv->slurm, cause) != 0) {
		server_free(srv);
		return -1;
	}
	*out = srv;
	return 0;
}

const char *
server_address(const struct server *srv)
{
	return srv->address;
}

void
server_drain(struct server *srv)
{
	srv->draining = true;
	if (srv->commit_scheduled)
		commit_batch(-1, 0, srv);
	if (srv->flush != NULL)
		store_flush_wait(srv->flush);
}

void
server_free(struct server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	if (srv->npending > 0 || store_in_transaction(srv->st))
		commit_batch(-1, 0, srv);
	/* The last flush; from here on commits are synchronous=FULL again. */
	store_flush_free(srv->flush);
	srv->flush = NULL;
	slurm_dispatch_free(srv->slurm);
	srv->slurm = NULL;
	ssh_dispatch_free(srv->ssh);
	srv->ssh = NULL;
	srv->commit_hook = NULL;
	server_pools_free(srv);
	/* What the dispatcher wrote while its last answers went out. */
	if (store_in_transaction(srv->st))
		commit_batch(-1, 0, srv);
	if (srv->tick_ev != NULL)
		event_free(srv->tick_ev);
	if (srv->commit_ev != NULL)
		event_free(srv->commit_ev);
	srv->listener = NULL;
	if (srv->http != NULL)
		evhttp_free(srv->http);
	server_conns_stop(srv);
	server_search_free(srv);
	server_api_free(srv);
	server_dash_free(srv);
	for (i = 0; i < srv->nsweeps; i++) {
		spec_free(srv->sweeps[i].spec);
		free(srv->sweeps[i].lease_tail);
	}
	free(srv->sweeps);
	for (i = 0; i < srv->npending; i++)
		free(srv->pending[i].body);
	free(srv->pending);
	server_metrics_free(srv->metrics);
	free(srv->token);
	free(srv);
}
