/* The scheduler's HTTP connections: a cap on how many are open and a deadline for each
 * request to arrive. libevent 2.1's evhttp has neither: it accepts every connection, and its
 * timeout is an idle timeout that a client trickling one byte at a time (slowloris) resets
 * forever.
 *
 * Every connection's bufferevent is made here (evhttp_set_bevcb), and this module keeps a
 * reference to it. Once a connection has sent a request its evhttp_connection is known, and
 * its close callback lets go of it at once. evhttp frees a connection that never sent one
 * (an idle client, a refused or malformed request) by dropping its own reference, which
 * clears the bufferevent's callbacks and shuts the socket's write side; ours keeps the
 * bufferevent and its descriptor until the tick notices the cleared callbacks, so at most a
 * tick later the count drops and the descriptor closes (a lingering close: what the client
 * still sends meanwhile is read and dropped, so that it reads its answer, such as a 413,
 * rather than a reset).
 * Callbacks on its buffers say when request bytes arrive and when a reply starts. At the cap
 * the listener stops accepting (new connections wait in the kernel's backlog, as memcached
 * does at maxconns) until one closes. A connection that has had request bytes for longer
 * than the request timeout without a reply is failed as timed out: evhttp drops it. */
#include <stdlib.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* File descriptors kept for the store, ssh pipes and commands when the cap comes from the
 * process's descriptor limit. */
#define FD_RESERVE	64

struct server_conn {
	struct server		*srv;
	struct bufferevent	*bev;		/* evhttp's, with our reference */
	struct evhttp_connection *evcon;	/* known once it sent a request */
	struct evbuffer_cb_entry *in_cb, *out_cb;
	double			 pending_since;	/* monotonic: request bytes unanswered since */
	bool			 expired;
	struct server_conn	*prev, *next;
};

static void
listener_update(struct server *srv)
{
	bool want = srv->nconns < srv->max_conns;

	if (srv->listener == NULL || want == srv->accepting)
		return;
	if (want) {
		evconnlistener_enable(srv->listener);
		log_info("%u connections open: accepting again", srv->nconns);
	} else {
		evconnlistener_disable(srv->listener);
		log_warn("%u connections open (the limit): not accepting until one closes",
		    srv->nconns);
	}
	srv->accepting = want;
}

/* True once evhttp has freed the connection: it clears every callback then. */
static bool
conn_dropped(const struct server_conn *c)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;

	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, NULL);
	return rcb == NULL && wcb == NULL && ecb == NULL;
}

/* Lets go of a connection evhttp has freed (or, at shutdown, is about to lose). */
static void
conn_release(struct server_conn *c)
{
	struct server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nconns--;
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	bufferevent_decref(c->bev);
	free(c);
	listener_update(srv);
}

static void
conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct server_conn *c = arg;

	if (info->n_added == 0)
		return;
	if (conn_dropped(c)) {
		/* Bytes after evhttp let go (the rest of a refused body): read and dropped
		 * until the tick closes it, so that the client can read its answer rather
		 * than a reset. */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (c->pending_since == 0)
		c->pending_since = now_mono();
}

static void
conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct server_conn *c = arg;

	(void)buf;
	/* A reply is going out: the request it answers has been read whole. */
	if (info->n_added > 0)
		c->pending_since = 0;
}

/* evhttp is freeing a connection that had sent a request. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct server_conn *c = arg;

	/* Once only, even if libevent were to call it again for this connection. */
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	server_pending_forget(c->srv, evcon);
	conn_release(c);
}

/* The same, for a connection this module does not know (none should exist). */
static void
conn_closed_unknown(struct evhttp_connection *evcon, void *arg)
{
	server_pending_forget(arg, evcon);
}

void
server_conns_request(struct server *srv, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct server_conn *c;

	if (evcon == NULL)
		return;
	bev = evhttp_connection_get_bufferevent(evcon);
	for (c = srv->conns; c != NULL && c->bev != bev; c = c->next)
		;
	if (c == NULL) {
		evhttp_connection_set_closecb(evcon, conn_closed_unknown, srv);
		return;
	}
	/* To the front: the connections that talk are found first (new ones are there too). */
	if (c->prev != NULL) {
		c->prev->next = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		c->prev = NULL;
		c->next = srv->conns;
		srv->conns->prev = c;
		srv->conns = c;
	}
	if (c->evcon != evcon) {
		c->evcon = evcon;
		evhttp_connection_set_closecb(evcon, conn_closed, c);
	}
}

/* evhttp's bevcb: the bufferevent of a new incoming connection, fd not yet set. */
static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct server_conn *c;
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->bev = bev;
	bufferevent_incref(bev);
	c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_input, c);
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), conn_output, c);
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	listener_update(srv);
	return bev;
}

/* The connection cap: the configured one, lowered to fit the descriptor limit. */
static unsigned
conn_cap(const struct config *cfg)
{
	struct rlimit rl;
	unsigned cap = cfg->max_connections > 0 ? (unsigned)cfg->max_connections :
	    SERVER_MAX_CONNECTIONS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)cap + 2 * FD_RESERVE) {
		cap = rl.rlim_cur > 2 * FD_RESERVE ? (unsigned)(rl.rlim_cur - FD_RESERVE) :
		    (unsigned)(rl.rlim_cur / 2);
		if (cap < 1)
			cap = 1;
	}
	return cap;
}

void
server_conns_init(struct server *srv, struct evconnlistener *listener)
{
	srv->max_conns = conn_cap(srv->cfg);
	srv->listener = listener;
	srv->accepting = true;
	evhttp_set_bevcb(srv->http, conn_new, srv);
}

void
server_conns_tick(struct server *srv, double now)
{
	struct server_conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (conn_dropped(c)) {
			conn_release(c);
			continue;
		}
		if (c->expired || c->pending_since == 0 ||
		    now - c->pending_since < srv->http_timeout_s)
			continue;
		c->expired = true;
		srv->conns_expired++;
		/* evhttp drops a connection that times out while reading a request; deferred,
		 * so that it does not free anything under this loop. */
		bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
		    BEV_TRIG_DEFER_CALLBACKS);
	}
}

void
server_conns_stop(struct server *srv)
{
	srv->listener = NULL;
	while (srv->conns != NULL)
		conn_release(srv->conns);
}
