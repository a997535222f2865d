/* libFuzzer target: every HTTP request handler through the real dispatcher (server-http.c's
 * route table, token check, body limits and JSON parsing, server-api.c and server-pools.c's
 * handlers, the trial state machine and the group commit), without a socket: server_handle()
 * on the world of world.h (one sweep, two workers, trial 1 leased).
 *
 * The input is up to 16 requests separated by 0x1e. A request is "METHOD URI\n", then the
 * Authorization line ("@" for the right token, empty for none, else sent as is), then the
 * body; the URI and body may use world.h's placeholders. Checked besides memory safety:
 * every status is one the API documents (never 500: the store cannot fail here), every reply
 * body is a JSON document (an error's with its "error" message) but /metrics' answer, which
 * is Prometheus text, no /v1/ call (nor /metrics: the world's config keeps it private)
 * succeeds without the token, and the sweep's per-state counters match its trials. */
#include <event2/http.h>

#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQUESTS	16

/* Whether uri names /metrics, parsed as the dispatcher parses it ("//x/metrics" has the
 * path /metrics too). */
static bool
is_metrics(const char *uri)
{
	struct evhttp_uri *u;
	const char *path;
	bool yes;

	if ((u = evhttp_uri_parse_with_flags(uri, EVHTTP_URI_NONCONFORMANT)) == NULL)
		return false;
	path = evhttp_uri_get_path(u);
	yes = path != NULL && strcmp(path, "/metrics") == 0;
	evhttp_uri_free(u);
	return yes;
}

static void
one_request(struct world *w, const char *p, size_t n)
{
	const char *nl1, *nl2, *sp, *auth_line, *body;
	char *method, *uri, *auth = NULL, *bodyx, *reply = NULL;
	size_t auth_len;
	json_t *o;
	bool metrics;
	int status;

	if ((nl1 = memchr(p, '\n', n)) == NULL || (sp = memchr(p, ' ', (size_t)(nl1 - p))) ==
	    NULL)
		return;
	auth_line = nl1 + 1;
	if ((nl2 = memchr(auth_line, '\n', (size_t)(p + n - auth_line))) == NULL)
		nl2 = p + n;
	auth_len = (size_t)(nl2 - auth_line);
	body = nl2 < p + n ? nl2 + 1 : p + n;
	method = xstrndup(p, (size_t)(sp - p));
	uri = world_expand(w, sp + 1, (size_t)(nl1 - sp - 1));
	if (auth_len == 1 && auth_line[0] == '@')
		auth = xstrdup("Bearer " TOKEN);
	else if (auth_len > 0)
		auth = xstrndup(auth_line, auth_len);
	bodyx = world_expand(w, body, (size_t)(p + n - body));
	/* Strings with NULs end at the first one, as in a header or request line. */
	if (strlen(method) == 0 || strlen(uri) == 0)
		goto out;
	status = server_handle(w->srv, method, uri, auth, bodyx, strlen(bodyx), &reply);
	switch (status) {
	case 200: case 204: case 400: case 401: case 404: case 405: case 409: case 413:
	case 501:
		break;
	default:
		fprintf(stderr, "%s %s answered %d: %s\n", method, uri, status,
		    reply ? reply : "");
		abort();
	}
	if ((status == 204) != (reply == NULL))
		abort();
	metrics = is_metrics(uri);
	if (reply != NULL && metrics && status == 200) {
		if (strncmp(reply, "# HELP ", 7) != 0) {
			fprintf(stderr, "/metrics is not the text format: %.80s\n", reply);
			abort();
		}
	} else if (reply != NULL) {
		if ((o = json_loads(reply, JSON_DECODE_ANY, NULL)) == NULL ||
		    (!json_is_object(o) && !json_is_array(o)) ||
		    (status >= 400 && !json_is_string(json_object_get(o, "error")))) {
			fprintf(stderr, "reply is not JSON: %s\n", reply);
			abort();
		}
		json_decref(o);
	}
	if (status < 300 && (strncmp(uri, "/v1/", 4) == 0 || metrics) &&
	    (auth == NULL || strcmp(auth, "Bearer " TOKEN) != 0)) {
		fprintf(stderr, "%s %s succeeded without the token\n", method, uri);
		abort();
	}
out:
	free(method);
	free(uri);
	free(auth);
	free(bodyx);
	free(reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	static bool made;
	const char *p = (const char *)data, *end = p + size, *sep;
	int nreq = 0;

	if (!made) {
		log_threshold = LOG_ERROR;
		world_create(&w);
		made = true;
	}
	world_reset(&w);
	while (p < end && nreq++ < MAX_REQUESTS) {
		if ((sep = memchr(p, 0x1e, (size_t)(end - p))) == NULL)
			sep = end;
		one_request(&w, p, (size_t)(sep - p));
		p = sep + 1;
	}
	world_check_counters(&w);
	return 0;
}
