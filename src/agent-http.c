/* The agent's non-blocking HTTP client (see agent-http.h). Each request owns a libcurl easy
 * handle, its body and its response buffer; finished handles go back to a small free list
 * and are reset and reused. The multi handle keeps the connections to the scheduler alive
 * between requests. The bearer token lives only in the header list and is never logged. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "spotsweep/agent-http.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define FREE_HANDLES_MAX	8

struct agent_http_req {
	struct agent_http	*h;
	CURL			*easy;
	char			*body;
	struct curl_slist	*headers;	/* the request's own, or NULL */
	struct buf		 resp;
	bool			 overflow;
	char			 errbuf[CURL_ERROR_SIZE];
	agent_http_cb		 cb;
	void			*arg;
	struct agent_http_req	*next;
};

struct agent_http {
	CURLM			*multi;
	char			*server;
	struct curl_slist	*api_headers;
	struct curl_slist	*get_headers;
	struct agent_http_req	*inflight;
	unsigned		 ninflight;
	CURL			*free_handles[FREE_HANDLES_MAX];
	unsigned		 nfree;
};

static bool curl_ready;

/* Returns a client for server_url, or NULL with *cause. */
struct agent_http *
agent_http_create(const char *server_url, const char *token, char **cause)
{
	struct agent_http	*h;
	struct curl_slist	*l;
	char			*auth;
	size_t			 len;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			*cause = xstrdup("libcurl initialisation failed");
			return NULL;
		}
		curl_ready = true;
	}
	h = xcalloc(1, sizeof *h);
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		free(h);
		*cause = xstrdup("libcurl multi handle initialisation failed");
		return NULL;
	}
	h->server = xstrdup(server_url);
	len = strlen(h->server);
	while (len > 0 && h->server[len - 1] == '/')
		h->server[--len] = '\0';

	l = curl_slist_append(NULL, "Content-Type: application/json");
	l = curl_slist_append(l, "Accept: application/json");
	l = curl_slist_append(l, "Expect:");
	if (token != NULL) {
		auth = xasprintf("Authorization: Bearer %s", token);
		l = curl_slist_append(l, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	h->api_headers = l;
	/* GCP and Azure metadata servers refuse requests without their marker headers. */
	l = curl_slist_append(NULL, "Metadata-Flavor: Google");
	l = curl_slist_append(l, "Metadata: true");
	h->get_headers = l;
	return h;
}

static void
req_free(struct agent_http_req *r)
{
	struct agent_http	*h = r->h;

	curl_multi_remove_handle(h->multi, r->easy);
	if (h->nfree < FREE_HANDLES_MAX) {
		curl_easy_reset(r->easy);
		h->free_handles[h->nfree++] = r->easy;
	} else
		curl_easy_cleanup(r->easy);
	free(r->body);
	curl_slist_free_all(r->headers);
	buf_free(&r->resp);
	free(r);
}

/* Aborts what is in flight without callbacks and frees the client; NULL is fine. */
void
agent_http_free(struct agent_http *h)
{
	struct agent_http_req	*r, *next;
	unsigned		 i;

	if (h == NULL)
		return;
	for (r = h->inflight; r != NULL; r = next) {
		next = r->next;
		req_free(r);
	}
	for (i = 0; i < h->nfree; i++)
		curl_easy_cleanup(h->free_handles[i]);
	curl_slist_free_all(h->get_headers);
	curl_slist_free_all(h->api_headers);
	curl_multi_cleanup(h->multi);
	free(h->server);
	free(h);
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct agent_http_req	*r = arg;
	size_t			 n = size * nmemb;

	if (r->resp.len + n > AGENT_HTTP_MAX_RESPONSE) {
		r->overflow = true;
		return 0;
	}
	buf_add(&r->resp, data, n);
	return n;
}

static struct agent_http_req *
req_start(struct agent_http *h, const char *url, double timeout_s, agent_http_cb cb,
    void *arg)
{
	struct agent_http_req	*r;

	r = xcalloc(1, sizeof *r);
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	if (h->nfree > 0)
		r->easy = h->free_handles[--h->nfree];
	else if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		return NULL;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(AGENT_HTTP_CONNECT_TIMEOUT_S * 1000));
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "spotsweep-agent");
	return r;
}

static void
req_submit(struct agent_http *h, struct agent_http_req *r)
{
	r->next = h->inflight;
	h->inflight = r;
	h->ninflight++;
	curl_multi_add_handle(h->multi, r->easy);
}

/* Reports a request that could not even start, through the normal callback path. */
static void
fail_now(agent_http_cb cb, void *arg, const char *why)
{
	struct agent_http_result	res = { 0, "", 0, why };

	cb(&res, arg);
}

/* Starts POST SERVER + path with a JSON body. */
void
agent_http_post(struct agent_http *h, const char *path, const char *body, double timeout_s,
    agent_http_cb cb, void *arg)
{
	struct agent_http_req	*r;
	char			*url = xasprintf("%s%s", h->server, path);

	r = req_start(h, url, timeout_s, cb, arg);
	free(url);
	if (r == NULL) {
		fail_now(cb, arg, "cannot create a libcurl handle");
		return;
	}
	r->body = xstrdup(body == NULL ? "" : body);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, h->api_headers);
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
	req_submit(h, r);
}

/* Starts GET of an absolute URL, without the bearer token. */
void
agent_http_get(struct agent_http *h, const char *url, double timeout_s, agent_http_cb cb,
    void *arg)
{
	agent_http_metadata(h, false, url, NULL, timeout_s, cb, arg);
}

void
agent_http_metadata(struct agent_http *h, bool put, const char *url, const char *header,
    double timeout_s, agent_http_cb cb, void *arg)
{
	struct agent_http_req	*r;
	struct curl_slist	*l, *src;

	r = req_start(h, url, timeout_s, cb, arg);
	if (r == NULL) {
		fail_now(cb, arg, "cannot create a libcurl handle");
		return;
	}
	if (header != NULL) {
		l = NULL;
		for (src = h->get_headers; src != NULL; src = src->next)
			l = curl_slist_append(l, src->data);
		r->headers = curl_slist_append(l, header);
	}
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers != NULL ? r->headers :
	    h->get_headers);
	if (put) {
		/* an empty PUT: what AWS's token endpoint wants */
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
	} else
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	req_submit(h, r);
}

/* Waits for network activity or a readable fd, at most timeout_ms. */
int
agent_http_wait(struct agent_http *h, struct curl_waitfd *fds, unsigned nfds, int timeout_ms)
{
	long	curl_ms = -1;

	/* curl's own timers (connect and transfer timeouts) may be due sooner. */
	if (curl_multi_timeout(h->multi, &curl_ms) == CURLM_OK && curl_ms >= 0 &&
	    curl_ms < timeout_ms)
		timeout_ms = (int)curl_ms;
	return curl_multi_poll(h->multi, fds, nfds, timeout_ms, NULL) == CURLM_OK ? 0 : -1;
}

static void
unlink_req(struct agent_http *h, struct agent_http_req *r)
{
	struct agent_http_req	**pp;

	for (pp = &h->inflight; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			h->ninflight--;
			return;
		}
	}
}

/* Advances transfers and calls back those that ended. */
void
agent_http_dispatch(struct agent_http *h)
{
	struct agent_http_result	 res;
	struct agent_http_req		*r;
	CURLMsg				*msg;
	char				*priv;
	int				 running, left;
	long				 status;

	curl_multi_perform(h->multi, &running);
	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct agent_http_req *)priv;
		unlink_req(h, r);
		memset(&res, 0, sizeof res);
		status = 0;
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		else if (r->overflow)
			res.error = "response too large";
		else
			res.error = r->errbuf[0] != '\0' ? r->errbuf :
			    curl_easy_strerror(msg->data.result);
		res.status = status;
		res.body = r->resp.data == NULL ? "" : r->resp.data;
		res.len = r->resp.len;
		/* The callback may start new requests; r is off the list already. */
		r->cb(&res, r->arg);
		req_free(r);
	}
}

unsigned
agent_http_inflight(const struct agent_http *h)
{
	return h->ninflight;
}

/* The delay to wait now, uniform in [base/2, base]; the base doubles up to max. */
double
agent_backoff_delay(struct agent_backoff *b)
{
	double	base = b->next > 0 ? b->next : b->min;
	double	d;

	d = base / 2 + (base / 2) * ((double)random() / (double)RAND_MAX);
	b->next = base * 2 > b->max ? b->max : base * 2;
	return d;
}

void
agent_backoff_reset(struct agent_backoff *b)
{
	b->next = 0;
}
