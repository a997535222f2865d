/* The scheduler daemon: one libevent event_base serving the HTTP API (server-http.c routes and
 * group commit, server-api.c handlers) and a periodic tick (lease expiry). `serve` and `run`
 * both embed it. */
#ifndef SPOTSWEEP_SERVER_H
#define SPOTSWEEP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "spotsweep/config.h"
#include "spotsweep/store.h"

struct server;

/* Largest request body accepted (413 above it). */
#define SERVER_MAX_BODY	(1024 * 1024)
#define SERVER_MAX_HEADERS (32 * 1024)
/* Open connections at most (config max_connections), fewer when the descriptor limit is
 * lower; beyond it new connections wait in the kernel's backlog. */
#define SERVER_MAX_CONNECTIONS 1000
/* The event base must be made with event_base_priority_init(base, SERVER_PRIORITIES) before
 * anything is added to it: the group commit runs at the lowest priority, after the I/O. */
#define SERVER_PRIORITIES 3

/* Starts listening on listen ("HOST:PORT", port 0 picks one; NULL: no socket, requests
 * come through server_handle). token may be NULL; a non-loopback address without a token
 * is refused. The store and config stay the caller's.
 * -2 for a bad or refused address (a usage error), -1 for a runtime failure. */
int server_create(struct event_base *base, struct store *st, const struct config *cfg,
    const char *listen, const char *token, struct server **out, char **cause);
/* Handles one request as if it had come over a connection (route, token, body limits,
 * handler, group commit), without a socket: for tests and fuzzers, on a server created with
 * listen NULL. method is "GET", "POST"...; uri the request target ("/v1/x?y=z");
 * authorization the header's value or NULL. Returns the status, with *reply the body
 * (NULL for none; caller frees). */
int server_handle(struct server *srv, const char *method, const char *uri,
    const char *authorization, const void *body, size_t len, char **reply);
/* Runs the group commit now, if one is due: for tests and fuzzers, which run no event loop
 * (a write outside server_handle, such as an SSH report, waits for it). */
void server_commit_now(struct server *srv);
/* The bound address "HOST:PORT" (the chosen port when 0 was asked for). */
const char *server_address(const struct server *srv);
/* Stops leasing (lease answers 503), commits and answers what is in flight. */
void server_drain(struct server *srv);
/* Runs one tick now (lease expiry and deadlines); normally on a timer. */
void server_tick(struct server *srv);
void server_free(struct server *srv);

/* True when host is 127.0.0.0/8, ::1 or localhost. */
bool address_is_loopback(const char *host);
/* Splits "HOST:PORT" or "[V6]:PORT"; host is xmalloc'd. */
int split_host_port(const char *addr, char **host, int *port, char **cause);

/* Shared by `serve` and `run` (cmd-serve.c); they print their own errors. */
int serve_load_config(const char *path, struct config **cfg);
int serve_load_token(const char *opt_file, const struct config *cfg, char **token);
/* A new event base with SERVER_PRIORITIES priorities, SIGPIPE ignored. */
struct event_base *serve_event_base(void);

#endif
