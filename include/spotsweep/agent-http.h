/* The agent's HTTP client: non-blocking requests on one libcurl multi handle, so a slow or
 * unreachable scheduler never stalls the agent's loop. The loop waits on curl's sockets and
 * its own descriptors in one call (agent_http_wait) and then lets finished requests call
 * back (agent_http_dispatch). Connections are kept alive in the multi handle's cache. Also
 * the exponential backoff with jitter that every retrying caller uses. */
#ifndef SPOTSWEEP_AGENT_HTTP_H
#define SPOTSWEEP_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#define AGENT_HTTP_CONNECT_TIMEOUT_S	5.0
#define AGENT_HTTP_TIMEOUT_S		30.0
/* A response larger than this is cut off and the request fails. */
#define AGENT_HTTP_MAX_RESPONSE		(8 * 1024 * 1024)

struct agent_http;

/* How a request ended. status is 0 when no HTTP answer arrived (error says why). */
struct agent_http_result {
	long		 status;
	const char	*body;		/* NUL-terminated, "" when empty */
	size_t		 len;
	const char	*error;		/* transport error, or NULL */
};

typedef void (*agent_http_cb)(const struct agent_http_result *r, void *arg);

/* Returns a client for server_url ("http://host:port", no trailing slash needed); token may
 * be NULL. NULL with *cause when libcurl cannot be set up. */
struct agent_http *agent_http_create(const char *server_url, const char *token, char **cause);
/* Aborts requests still in flight without calling their callbacks; NULL is fine. */
void agent_http_free(struct agent_http *h);

/* Starts POST SERVER + path with a JSON body (copied); cb runs from agent_http_dispatch(). */
void agent_http_post(struct agent_http *h, const char *path, const char *body,
    double timeout_s, agent_http_cb cb, void *arg);
/* Starts GET of an absolute URL, without the bearer token (cloud metadata endpoints). */
void agent_http_get(struct agent_http *h, const char *url, double timeout_s, agent_http_cb cb,
    void *arg);
/* The same as a GET or an empty PUT, with one more header line ("Name: value", or NULL):
 * AWS's IMDSv2 token handshake. */
void agent_http_metadata(struct agent_http *h, bool put, const char *url, const char *header,
    double timeout_s, agent_http_cb cb, void *arg);

/* Waits up to timeout_ms for network activity or for one of fds to become readable (their
 * revents are filled). Returns -1 only on an unrecoverable curl error. */
int agent_http_wait(struct agent_http *h, struct curl_waitfd *fds, unsigned nfds,
    int timeout_ms);
/* Advances transfers and calls the callbacks of those that ended. */
void agent_http_dispatch(struct agent_http *h);
/* Requests in flight. */
unsigned agent_http_inflight(const struct agent_http *h);

/* Exponential backoff with jitter: delays start at min and double up to max. */
struct agent_backoff {
	double	min;
	double	max;
	double	next;	/* the base of the next delay; 0 = min */
};

/* The delay to wait now, drawn uniformly from [base/2, base], and doubles the base. */
double agent_backoff_delay(struct agent_backoff *b);
/* Back to the minimum after a success. */
void agent_backoff_reset(struct agent_backoff *b);

#endif
