/* make bench, issue 3 (a): the HTTP floor. A bare libevent evhttp server that speaks just
 * enough of spotsweep's API for bench_api's client (register, lease, finish) and stores
 * nothing, so that bench_api can drive it exactly as it drives `spotsweep serve`: the pairs per
 * second and server CPU per pair it reaches are what this machine's HTTP layer costs on its
 * own (the issue quotes ~25,000 pairs/s for a bare evhttp server on its machine). Everything
 * above that floor in serve's figures is spotsweep's own work.
 *
 * It takes serve's command line: `floor_server --db DB serve --listen 127.0.0.1:0` prints
 * "listening on 127.0.0.1:PORT" on stdout and answers until SIGTERM, then prints serve's
 * "stopped after N requests" line on stderr; `floor_server ... submit SPEC` does nothing. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

/* A reply the size of a real lease document (serve's is ~420 bytes with the secret). */
#define LEASE_FMT "{\"trial_id\": %ld, \"attempt\": 1, \"sweep_id\": 1, \"sweep\": \"floor\"," \
	" \"lease_secret\": \"0123456789abcdef0123456789abcdef\", \"command\": \"true\"," \
	" \"params\": {\"a\": 1, \"b\": 2, \"c\": 3}, \"env\": {}, \"heartbeat_s\": 20," \
	" \"lease_timeout_s\": 60, \"timeout_s\": null, \"resume_from\": \"\"," \
	" \"checkpoints\": [], \"metric_patterns\": []}"

static long requests, trials;

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evbuffer_new();

	(void)arg;
	requests++;
	/* Read the body as serve would, then drop it. */
	evbuffer_drain(evhttp_request_get_input_buffer(req),
	    evbuffer_get_length(evhttp_request_get_input_buffer(req)));
	if (strcmp(uri, "/v1/workers") == 0)
		evbuffer_add_printf(out, "{\"worker_id\": %ld}\n", requests);
	else if (strcmp(uri, "/v1/lease") == 0)
		evbuffer_add_printf(out, LEASE_FMT "\n", ++trials);
	else
		evbuffer_add_printf(out, "{\"state\": \"succeeded\", \"attempt\": 1}\n");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
on_term(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct event *term;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "submit") == 0)
			return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "floor_server: cannot start libevent\n");
		return 1;
	}
	evhttp_set_gencb(http, on_request, NULL);
	if ((sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0)) == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len) != 0) {
		fprintf(stderr, "floor_server: cannot listen on 127.0.0.1\n");
		return 1;
	}
	term = evsignal_new(base, SIGTERM, on_term, base);
	if (term == NULL || event_add(term, NULL) != 0) {
		fprintf(stderr, "floor_server: cannot catch SIGTERM\n");
		return 1;
	}
	printf("listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	fprintf(stderr, "floor_server: stopped after %ld requests, 0 commits, 0 flushes (0 us"
	    " each)\n", requests);
	event_free(term);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
