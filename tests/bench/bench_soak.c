/* make bench: the soak test. Starts `spotsweep serve` on 127.0.0.1 (its own database with a
 * grid of 100,000 pending trials, http_timeout_s 5) and, for SOAK_SECONDS (default 60),
 * drives it with SOAK_CONNS (64) concurrent HTTP/1.1 keep-alive connections, each a worker
 * looping through a mixed cycle: lease, heartbeat with metric points, a read
 * (GET /v1/sweeps/ID, .../trials?limit=50, /v1/workers or /healthz), checkpoint, heartbeat,
 * finish, one more read. Alongside, SOAK_SLOW (16) slowloris clients each open a
 * connection and send a request one byte a second, opening a new one whenever the scheduler
 * cuts theirs.
 *
 * Prints requests per second, latency percentiles, the scheduler's RSS (VmRSS from
 * /proc/PID/status) after the warm-up and at the end, its peak (VmHWM), and how soon the slow
 * clients were cut. Fails (exit 1) on any error seen by a well-behaved connection (an
 * unexpected status, a dropped connection), on RSS growth of 5% or more between the two
 * samples, or when the slow clients were not cut within the timeout and a tick.
 * Usage: bench_soak [DIR] (DIR for the database and log; default /tmp); BIN names the
 * directory of the binaries (default ./bin). A single-threaded epoll client over raw
 * non-blocking sockets, so that it takes little CPU from the scheduler. */
#include <jansson.h>

#include "bench-http.h"

#define HTTP_TIMEOUT_S	5
/* The RSS "start" sample comes after a sixth of the run, at least 10 s: by then SQLite's
 * page cache has filled to its bound. */
#define WARMUP_FRACTION	6
#define WARMUP_MIN_S	10
#define MAX_GROWTH	0.05

enum step {
	ST_REGISTER, ST_LEASE, ST_HEARTBEAT1, ST_READ1, ST_CHECKPOINT, ST_HEARTBEAT2,
	ST_FINISH, ST_READ2, ST_DONE
};

struct conn {
	struct bench_http http;	/* the slow clients use only its fd */
	int		 index;
	bool		 slow;
	enum step	 step;
	int64_t		 worker_id;
	int64_t		 trial_id;
	int64_t		 attempt;
	char		 secret[64];
	long		 cycle;
	double		 sent_at;
	/* slowloris */
	size_t		 slow_off;
	double		 slow_first;	/* when its first byte went */
	double		 slow_next;
};

struct soak {
	struct conn	*conns;
	int		 nconns, nslow;
	int		 ep;
	int		 port;
	int64_t		 sweep_id;
	double		 deadline;
	long		 requests;
	long		 errors;
	long		 no_work;
	long		 finished;
	double		*lat;
	size_t		 nlat, caplat;
	long		 slow_cut;
	double		 slow_cut_sum, slow_cut_max;
	long		 slow_opened;
};

static void
on_fatal_signal(int sig)
{
	bench_kill_children();
	signal(sig, SIG_DFL);
	raise(sig);
}

static long
env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	long n;

	if (v == NULL || *v == '\0')
		return def;
	if (!safe_strtol(v, &n) || n < min || n > max)
		die("%s: expected %ld to %ld", name, min, max);
	return n;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

static void
send_request(struct conn *c, const char *method, const char *path, const char *body)
{
	c->sent_at = now_mono();
	if (!bench_http_send(&c->http, method, path, body))
		die("connection %d: write: %s", c->index, strerror(errno));
}

static void
error_seen(struct soak *s, struct conn *c, const char *what, int status, const char *body,
    size_t len)
{
	s->errors++;
	if (s->errors <= 5)
		fprintf(stderr, "bench_soak: connection %d step %d: %s (HTTP %d: %.*s)\n",
		    c->index, (int)c->step, what, status, (int)(len < 200 ? len : 200),
		    body != NULL ? body : "");
}

/* The identity fields of a report. */
static void
report_ids(const struct conn *c, struct buf *b)
{
	buf_printf(b, "\"attempt\": %lld, \"worker_id\": %lld, \"lease_secret\": \"%s\"",
	    (long long)c->attempt, (long long)c->worker_id, c->secret);
}

static void
next_request(struct soak *s, struct conn *c)
{
	struct buf body = { 0 };
	char path[128];
	int read_kind;

	if (now_mono() >= s->deadline && (c->step == ST_REGISTER || c->step == ST_LEASE)) {
		c->step = ST_DONE;
		return;
	}
	switch (c->step) {
	case ST_REGISTER:
		buf_printf(&body, "{\"name\": \"soak-%d\", \"slots\": 1}", c->index);
		send_request(c, "POST", "/v1/workers", body.data);
		break;
	case ST_LEASE:
		buf_printf(&body, "{\"worker_id\": %lld}", (long long)c->worker_id);
		send_request(c, "POST", "/v1/lease", body.data);
		break;
	case ST_HEARTBEAT1:
	case ST_HEARTBEAT2:
		buf_addc(&body, '{');
		report_ids(c, &body);
		buf_printf(&body, ", \"metrics\": [{\"name\": \"val_loss\", \"step\": %d, "
		    "\"value\": %.4f}, {\"name\": \"val_acc\", \"step\": %d, \"value\": 0.5}]}",
		    c->step == ST_HEARTBEAT1 ? 1 : 2, 1.0 / (double)(c->cycle + 2),
		    c->step == ST_HEARTBEAT1 ? 1 : 2);
		snprintf(path, sizeof path, "/v1/trials/%lld/heartbeat", (long long)c->trial_id);
		send_request(c, "POST", path, body.data);
		break;
	case ST_CHECKPOINT:
		buf_addc(&body, '{');
		report_ids(c, &body);
		buf_printf(&body, ", \"path\": \"/soak/ckpt/trial-%lld/step-1.pt\", \"step\": 1}",
		    (long long)c->trial_id);
		snprintf(path, sizeof path, "/v1/trials/%lld/checkpoint", (long long)c->trial_id);
		send_request(c, "POST", path, body.data);
		break;
	case ST_FINISH:
		buf_addc(&body, '{');
		report_ids(c, &body);
		buf_printf(&body, ", \"outcome\": \"succeeded\", \"exit_code\": 0, \"metrics\": "
		    "[{\"name\": \"val_loss\", \"step\": 3, \"value\": %.4f}], \"log_tail\": "
		    "\"done\"}", 1.0 / (double)(c->cycle + 3));
		snprintf(path, sizeof path, "/v1/trials/%lld/finish", (long long)c->trial_id);
		send_request(c, "POST", path, body.data);
		break;
	case ST_READ1:
	case ST_READ2:
		read_kind = (int)((c->cycle * 2 + (c->step == ST_READ2)) % 4);
		if (read_kind == 0)
			snprintf(path, sizeof path, "/v1/sweeps/%lld", (long long)s->sweep_id);
		else if (read_kind == 1)
			snprintf(path, sizeof path, "/v1/sweeps/%lld/trials?limit=50",
			    (long long)s->sweep_id);
		else
			snprintf(path, sizeof path, "%s", read_kind == 2 ? "/v1/workers" :
			    "/healthz");
		send_request(c, "GET", path, NULL);
		break;
	case ST_DONE:
		break;
	}
	buf_free(&body);
}

static void
record_latency(struct soak *s, double secs)
{
	if (s->nlat == s->caplat) {
		s->caplat = s->caplat ? s->caplat * 2 : 65536;
		s->lat = xreallocarray(s->lat, s->caplat, sizeof *s->lat);
	}
	s->lat[s->nlat++] = secs;
}

/* Acts on one complete response and sends the next request. */
static void
on_response(struct soak *s, struct conn *c, int status, const char *body, size_t len)
{
	json_t *o = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *v;

	s->requests++;
	record_latency(s, now_mono() - c->sent_at);
	switch (c->step) {
	case ST_REGISTER:
		if (status != 200 || !json_is_integer(v = json_object_get(o, "worker_id")))
			error_seen(s, c, "register", status, body, len);
		else {
			c->worker_id = json_integer_value(v);
			c->step = ST_LEASE;
		}
		break;
	case ST_LEASE:
		if (status == 204) {
			s->no_work++;
			c->step = ST_READ2;
			break;
		}
		if (status != 200 || !json_is_integer(json_object_get(o, "trial_id")) ||
		    !json_is_string(json_object_get(o, "lease_secret"))) {
			error_seen(s, c, "lease", status, body, len);
			break;
		}
		c->trial_id = json_integer_value(json_object_get(o, "trial_id"));
		c->attempt = json_integer_value(json_object_get(o, "attempt"));
		snprintf(c->secret, sizeof c->secret, "%s",
		    json_string_value(json_object_get(o, "lease_secret")));
		c->step = ST_HEARTBEAT1;
		break;
	case ST_FINISH:
		if (status != 200)
			error_seen(s, c, "finish", status, body, len);
		else
			s->finished++;
		c->step = ST_READ2;
		break;
	case ST_READ2:
		if (status != 200)
			error_seen(s, c, "read", status, body, len);
		c->cycle++;
		c->step = ST_LEASE;
		break;
	default:
		if (status != 200)
			error_seen(s, c, "report or read", status, body, len);
		c->step++;
		break;
	}
	json_decref(o);
	next_request(s, c);
}

static void
slow_open(struct soak *s, struct conn *c)
{
	c->http.fd = bench_connect_loopback(s->port);
	c->slow_off = 0;
	c->slow_first = 0;
	c->slow_next = now_mono();
	s->slow_opened++;
	bench_watch(s->ep, EPOLL_CTL_ADD, c->http.fd, EPOLLIN | EPOLLRDHUP, c);
}

/* One more byte of a request that never ends. */
static void
slow_tick(struct soak *s, struct conn *c, double now)
{
	static const char req[] = "POST /v1/lease HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	ssize_t w;

	(void)s;
	if (now < c->slow_next || c->slow_off >= sizeof req - 1)
		return;
	w = write(c->http.fd, req + c->slow_off, 1);
	if (w == 1) {
		if (c->slow_off == 0)
			c->slow_first = now;
		c->slow_off++;
	}
	c->slow_next = now + 1.0;
}

static void
slow_closed(struct soak *s, struct conn *c, double now)
{
	double held = c->slow_first > 0 ? now - c->slow_first : 0;

	bench_http_close(&c->http);
	s->slow_cut++;
	s->slow_cut_sum += held;
	if (held > s->slow_cut_max)
		s->slow_cut_max = held;
	if (now < s->deadline)
		slow_open(s, c);
}

static void
on_event(struct soak *s, struct conn *c, uint32_t events)
{
	struct bench_response resp;

	if (c->slow) {
		char chunk[1024];
		ssize_t r;

		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			r = read(c->http.fd, chunk, sizeof chunk);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				slow_closed(s, c, now_mono());
		}
		return;
	}
	if ((events & EPOLLOUT) && !bench_http_flush(&c->http))
		die("connection %d: write: %s", c->index, strerror(errno));
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (bench_http_read(&c->http) != 0) {
		/* A well-behaved connection must never be dropped. */
		error_seen(s, c, errno == 0 ? "connection closed by the scheduler" :
		    "connection error", 0, NULL, 0);
		bench_http_close(&c->http);
		bench_http_open(&c->http, s->ep, s->port, c);
		c->step = ST_LEASE;
		next_request(s, c);
		return;
	}
	while (bench_http_parse(&c->http, &resp)) {
		on_response(s, c, resp.status, resp.body, resp.len);
		bench_http_consume(&c->http, &resp);
	}
}

static double
percentile(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp", *bin = getenv("BIN");
	long seconds = env_long("SOAK_SECONDS", 60, 20, 86400);
	struct soak s;
	struct epoll_event evs[128];
	char *spotsweep, *db, *spec, *config, *log;
	double start, now, warm_at, next_slow = 0, next_sample;
	struct buf samples = { 0 };
	long rss_launch, rss_start = -1, rss_end, hwm;
	int i, n, active;
	bool ok = true;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	atexit(bench_stop_children);
	memset(&s, 0, sizeof s);
	s.nconns = (int)env_long("SOAK_CONNS", 64, 1, 900);
	s.nslow = (int)env_long("SOAK_SLOW", 16, 0, 900);
	spotsweep = xasprintf("%s/spotsweep", bin != NULL && *bin ? bin : "bin");
	db = xasprintf("%s/soak-%d.db", dir, (int)getpid());
	spec = xasprintf("%s/soak-%d.json", dir, (int)getpid());
	config = xasprintf("%s/soak-%d.config.json", dir, (int)getpid());
	log = xasprintf("%s/soak-%d.log", dir, (int)getpid());
	write_file(spec, "{\"name\": \"soak\", \"command\": \"true\", \"method\": \"grid\",\n"
	    " \"parameters\": {\"a\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 1000},\n"
	    "  \"b\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 100}},\n"
	    " \"metric\": {\"name\": \"val_loss\"}, \"metrics\": {\"val_acc\": null},\n"
	    " \"checkpoint\": {\"keep\": 2}}\n");
	{
		char text[160];

		snprintf(text, sizeof text, "{\"http_timeout_s\": %d, \"lease_timeout_s\": 60, "
		    "\"max_connections\": %d}\n", HTTP_TIMEOUT_S, s.nconns + s.nslow + 64);
		write_file(config, text);
	}
	bench_run_submit(spotsweep, db, spec);
	s.sweep_id = 1;
	s.port = bench_start_server(spotsweep, db, config, log);
	rss_launch = proc_status_kb(bench_server_pid, "VmRSS");
	if ((s.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	s.conns = xcalloc((size_t)(s.nconns + s.nslow), sizeof *s.conns);
	start = now_mono();
	s.deadline = start + (double)seconds;
	next_sample = start;
	warm_at = start + (seconds / WARMUP_FRACTION > WARMUP_MIN_S ?
	    (double)seconds / WARMUP_FRACTION : WARMUP_MIN_S);
	for (i = 0; i < s.nconns + s.nslow; i++) {
		struct conn *c = &s.conns[i];

		c->index = i;
		c->slow = i >= s.nconns;
		if (c->slow) {
			slow_open(&s, c);
			continue;
		}
		bench_http_open(&c->http, s.ep, s.port, c);
		c->step = ST_REGISTER;
		next_request(&s, c);
	}
	printf("soak: %d connections (mixed lease, heartbeat, checkpoint, finish and reads) and "
	    "%d slow clients for %ld s against %s (http_timeout_s %d)\n", s.nconns, s.nslow,
	    seconds, spotsweep, HTTP_TIMEOUT_S);
	fflush(stdout);
	for (;;) {
		now = now_mono();
		if (rss_start < 0 && now >= warm_at)
			rss_start = proc_status_kb(bench_server_pid, "VmRSS");
		if (now >= next_sample) {
			buf_printf(&samples, " %ld", proc_status_kb(bench_server_pid, "VmRSS"));
			next_sample += 10;
		}
		if (now >= next_slow) {
			for (i = s.nconns; i < s.nconns + s.nslow; i++) {
				if (s.conns[i].http.fd >= 0)
					slow_tick(&s, &s.conns[i], now);
			}
			next_slow = now + 0.25;
		}
		for (active = 0, i = 0; i < s.nconns; i++)
			active += s.conns[i].step != ST_DONE;
		if (active == 0)
			break;
		if (now > s.deadline + 30)
			die("requests still unanswered 30 s after the end");
		n = epoll_wait(s.ep, evs, (int)(sizeof evs / sizeof evs[0]), 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			on_event(&s, evs[i].data.ptr, evs[i].events);
	}
	now = now_mono();
	rss_end = proc_status_kb(bench_server_pid, "VmRSS");
	for (i = 0; i < s.nconns + s.nslow; i++)
		bench_http_close(&s.conns[i].http);
	hwm = proc_status_kb(bench_server_pid, "VmHWM");
	qsort(s.lat, s.nlat, sizeof *s.lat, cmp_double);
	printf("requests:     %ld in %.1f s = %.0f requests/s (%ld trials finished, %ld leases "
	    "found no work)\n", s.requests, now - start, (double)s.requests / (now - start),
	    s.finished, s.no_work);
	printf("latency:      p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	    percentile(s.lat, s.nlat, 0.50) * 1e3, percentile(s.lat, s.nlat, 0.99) * 1e3,
	    percentile(s.lat, s.nlat, 1.0) * 1e3);
	printf("errors:       %ld (well-behaved connections)\n", s.errors);
	printf("slow clients: %ld opened, %ld cut after %.1f s on average (max %.1f s)\n",
	    s.slow_opened, s.slow_cut, s.slow_cut ? s.slow_cut_sum / (double)s.slow_cut : 0,
	    s.slow_cut_max);
	printf("RSS samples:  every 10 s, kB:%s\n", samples.data != NULL ? samples.data : "");
	buf_free(&samples);
	printf("RSS:          %ld kB at launch, %ld kB after the warm-up, %ld kB at the end "
	    "(%+.1f%%), peak %ld kB\n", rss_launch, rss_start, rss_end,
	    rss_start > 0 ? 100.0 * (double)(rss_end - rss_start) / (double)rss_start : 0.0, hwm);
	if (s.errors > 0) {
		printf("FAIL: errors on well-behaved connections\n");
		ok = false;
	}
	if (rss_start <= 0 || (double)(rss_end - rss_start) >= MAX_GROWTH * (double)rss_start) {
		printf("FAIL: RSS grew by 5%% or more\n");
		ok = false;
	}
	if (s.nslow > 0 && (s.slow_cut == 0 || s.slow_cut_max > HTTP_TIMEOUT_S + 2.5)) {
		printf("FAIL: slow clients were not cut within %d s\n", HTTP_TIMEOUT_S + 2);
		ok = false;
	}
	bench_stop_server();
	if (ok) {
		char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);

		unlink(wal);
		unlink(shm);
		free(wal);
		free(shm);
		unlink(db);
		unlink(spec);
		unlink(config);
		unlink(log);
	} else
		printf("kept %s and %s\n", db, log);
	free(spotsweep);
	free(db);
	free(spec);
	free(config);
	free(log);
	return ok ? 0 : 1;
}
