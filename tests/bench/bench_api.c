/* make bench, issue 3 (a): API round trips against the real scheduler.
 *
 * Spawns `spotsweep serve` (its own temporary database, durable commits as it runs by
 * default) after `spotsweep submit` stored a grid of 100,000 and then 1,000,000 pending
 * trials, and drives it over 127.0.0.1 with 8 concurrent HTTP/1.1 keep-alive connections: each
 * registers once, then loops POST /v1/lease + POST /v1/trials/ID/finish (succeeded, exit code 0,
 * one metric point). The client is a single-threaded epoll loop over raw non-blocking sockets,
 * so that on a small machine it takes as little CPU from the server as possible.
 *
 * Prints pairs per second for both backlogs side by side (a lease must not get slower as the
 * queue grows), pair latency percentiles, the server's group-commit batch size (from its
 * "stopped after N requests, M commits" line) and its peak RSS (VmHWM) with the trials stored.
 * The figures also go to DIR/bench_api.results, which bench-scheduler.sh puts in its table.
 * Usage: bench_api [DIR]; BIN names the directory of the binaries (default ./bin),
 * BENCH_API_PAIRS the pairs per run (default 50000), BENCH_API_ONLY=100000 (or 1000000) runs
 * one backlog only, for quick experiments. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <jansson.h>

#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define NCONNS		8
#define DEFAULT_PAIRS	50000
/* A run stops issuing pairs after this long even if the count was not reached. */
#define RUN_LIMIT_S	10.0
#define TARGET_PAIRS_S	10000.0
#define TARGET_RSS_MB	32.0

enum phase { PH_REGISTER, PH_LEASE, PH_FINISH, PH_DONE };

struct conn {
	int		 fd;
	int		 index;
	enum phase	 phase;
	int64_t		 worker_id;
	int64_t		 trial_id;
	int64_t		 attempt;
	char		 secret[128];	/* the lease's secret, echoed in the finish ("" if none) */
	double		 pair_start;
	char		 out[1024];
	size_t		 outlen;
	size_t		 outoff;
	struct buf	 in;
};

struct load {
	struct conn	 conns[NCONNS];
	int		 ep;
	int		 port;
	long		 want_pairs;	/* pairs to start in all */
	long		 started;	/* pairs begun (leases sent) */
	long		 pairs;		/* pairs completed */
	long		 no_work;	/* 204 answers to a lease */
	long		 errors;	/* unexpected statuses or bodies */
	double		 deadline;
	double		*lat;		/* per-pair latency, seconds */
	int		 active;	/* connections not yet done */
};

struct run_result {
	long		 trials;
	double		 submit_s;
	long		 pairs;
	long		 errors;
	long		 no_work;
	double		 secs;
	double		 rate;
	double		 p50_ms, p99_ms, max_ms;
	long		 hwm_kb;
	double		 server_cpu_s;	/* serve's user + system time during the pairs */
	double		 client_cpu_s;	/* this load client's, the same span */
	unsigned long long requests, commits, flushes;
	double		 flush_us;	/* mean fdatasync of the WAL, on serve's flush thread */
};

/* What to undo if the bench stops early: the children, stopped by their PIDs, and the
 * current run's files. The paths are set before the children start, so that the signal
 * handler only calls kill() and unlink(). */
static pid_t server_pid = -1;
static pid_t submit_pid = -1;
static char *run_files[5];

static void
remove_run_files(void)
{
	size_t i;

	for (i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
		if (run_files[i] != NULL)
			unlink(run_files[i]);
	}
}

static void
cleanup_at_exit(void)
{
	if (submit_pid > 0) {
		kill(submit_pid, SIGKILL);
		waitpid(submit_pid, NULL, 0);
		submit_pid = -1;
	}
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
	remove_run_files();
	for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
		free(run_files[i]);
		run_files[i] = NULL;
	}
}

static void
on_fatal_signal(int sig)
{
	if (submit_pid > 0)
		kill(submit_pid, SIGKILL);
	if (server_pid > 0)
		kill(server_pid, SIGKILL);
	remove_run_files();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_api: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Names this run's files (DIR/bench-api-N.{db,db-wal,db-shm,json,log}) and removes any left
 * from an earlier run. */
static void
set_run_files(const char *dir, long trials)
{
	static const char *const suffixes[] = { "db", "db-wal", "db-shm", "json", "log" };
	size_t i;

	for (i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
		free(run_files[i]);
		run_files[i] = xasprintf("%s/bench-api-%ld.%s", dir, trials, suffixes[i]);
	}
	remove_run_files();
}

/* A grid of n trials (100,000 or 1,000,000) that runs `true`. */
static void
write_spec(const char *path, long n)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "{\"name\": \"bench-api-%ld\", \"command\": \"true\", \"method\": \"grid\",\n"
	    " \"parameters\": {\n"
	    "  \"a\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 100},\n"
	    "  \"b\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 100},\n"
	    "  \"c\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 10}%s\n"
	    " },\n"
	    " \"metric\": {\"name\": \"val_loss\"}}\n", n,
	    n == 1000000 ? ",\n  \"d\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 10}"
	    : "");
	fclose(f);
}

/* Runs `spotsweep --db DB submit SPEC` to completion; returns its wall time. */
static double
run_submit(const char *spotsweep, const char *db, const char *spec)
{
	double t0 = now_mono();
	int status;

	submit_pid = fork();
	if (submit_pid < 0)
		die("fork: %s", strerror(errno));
	if (submit_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(spotsweep, spotsweep, "--db", db, "submit", spec, (char *)NULL);
		_exit(127);
	}
	if (waitpid(submit_pid, &status, 0) != submit_pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		submit_pid = -1;
		die("%s submit %s failed", spotsweep, spec);
	}
	submit_pid = -1;
	return now_mono() - t0;
}

/* Starts serve on a free loopback port with its stderr in logpath; returns the port. */
static int
start_server(const char *spotsweep, const char *db, const char *logpath)
{
	int pfd[2], port = 0;
	struct buf line = { 0 };
	double limit = now_mono() + 10;
	char *colon;

	if (pipe(pfd) != 0)
		die("pipe: %s", strerror(errno));
	server_pid = fork();
	if (server_pid < 0)
		die("fork: %s", strerror(errno));
	if (server_pid == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(pfd[1], STDOUT_FILENO);
		if (log >= 0)
			dup2(log, STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execl(spotsweep, spotsweep, "--db", db, "serve", "--listen", "127.0.0.1:0",
		    (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* Reads until the "listening on HOST:PORT" line. */
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char c;
		ssize_t r;

		if (poll(&p, 1, 200) == 0) {
			if (now_mono() > limit)
				die("serve did not print its address (see %s)", logpath);
			continue;
		}
		r = read(pfd[0], &c, 1);
		if (r <= 0)
			die("serve exited before listening (see %s)", logpath);
		if (c != '\n') {
			buf_addc(&line, c);
			continue;
		}
		buf_addc(&line, '\0');
		if (strncmp(line.data, "listening on ", 13) == 0 &&
		    (colon = strrchr(line.data, ':')) != NULL) {
			long v;

			if (!safe_strtol(colon + 1, &v) || v <= 0 || v > 65535)
				die("bad address line: %s", line.data);
			port = (int)v;
			break;
		}
		buf_reset(&line);
	}
	/* serve prints nothing more on stdout; closing our end is harmless. */
	close(pfd[0]);
	buf_free(&line);
	return port;
}

/* Reads one numeric "Key:   N kB" line of /proc/PID/status. */
static long
proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			char *p = line + klen + 1, *end;

			v = strtol(p, &end, 10);
			if (end == p)
				v = -1;
			break;
		}
	}
	fclose(f);
	return v;
}

/* User + system CPU seconds a process has used, from /proc/PID/stat. */
static double
proc_cpu_s(pid_t pid)
{
	char path[64], text[1024], *p;
	unsigned long long utime, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	/* Fields 14 and 15, counted after the ")" that ends the command name. */
	if ((p = strrchr(text, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
	    &stime) != 2)
		return 0;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* SIGTERM, wait, and read the "stopped after N requests, M commits, F flushes (U us each)"
 * line from its log. */
static void
stop_server(const char *logpath, struct run_result *r)
{
	FILE *f;
	char line[512];
	int status;

	kill(server_pid, SIGTERM);
	waitpid(server_pid, &status, 0);
	server_pid = -1;
	r->requests = r->commits = r->flushes = 0;
	r->flush_us = 0;
	if ((f = fopen(logpath, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		const char *p = strstr(line, "stopped after ");

		if (p != NULL)
			sscanf(p, "stopped after %llu requests, %llu commits, %llu flushes (%lf",
			    &r->requests, &r->commits, &r->flushes, &r->flush_us);
	}
	fclose(f);
}

static void
conn_send(struct load *ld, struct conn *c, const char *method_path, const char *body)
{
	int n = snprintf(c->out, sizeof c->out, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", method_path,
	    strlen(body), body);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	ssize_t w;

	if (n < 0 || (size_t)n >= sizeof c->out)
		die("request too long");
	c->outlen = (size_t)n;
	c->outoff = 0;
	while (c->outoff < c->outlen) {
		w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			/* Rare for a request this small: finish it when the socket drains. */
			ev.events = EPOLLIN | EPOLLOUT;
			break;
		}
		if (w < 0)
			die("write: %s", strerror(errno));
		c->outoff += (size_t)w;
	}
	if (epoll_ctl(ld->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void
send_lease(struct load *ld, struct conn *c)
{
	char body[64];

	if (ld->started >= ld->want_pairs || now_mono() >= ld->deadline) {
		c->phase = PH_DONE;
		ld->active--;
		return;
	}
	ld->started++;
	c->phase = PH_LEASE;
	c->pair_start = now_mono();
	snprintf(body, sizeof body, "{\"worker_id\": %lld}", (long long)c->worker_id);
	conn_send(ld, c, "/v1/lease", body);
}

static void
send_finish(struct load *ld, struct conn *c)
{
	char path[96], body[640], secret[160] = "";

	c->phase = PH_FINISH;
	if (c->secret[0] != '\0')
		snprintf(secret, sizeof secret, "\"lease_secret\": \"%s\", ", c->secret);
	snprintf(path, sizeof path, "/v1/trials/%lld/finish", (long long)c->trial_id);
	snprintf(body, sizeof body, "{\"attempt\": %lld, \"worker_id\": %lld, %s\"outcome\": "
	    "\"succeeded\", \"exit_code\": 0, \"reason\": null, \"fatal_match\": null, "
	    "\"runtime_s\": 0.001, \"metrics\": [{\"name\": \"val_loss\", \"step\": 1, "
	    "\"value\": %.6f, \"at\": %.3f}], \"log_tail\": \"\"}", (long long)c->attempt,
	    (long long)c->worker_id, secret, (double)(c->trial_id % 1000) / 1000.0, now_wall());
	conn_send(ld, c, path, body);
}

static int64_t
json_int_field(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* One complete response arrived: act on it and send the connection's next request. */
static void
handle_response(struct load *ld, struct conn *c, int status, const char *body, size_t len)
{
	json_t *doc = NULL;

	if (len > 0)
		doc = json_loadb(body, len, 0, NULL);
	switch (c->phase) {
	case PH_REGISTER:
		if (status != 200 || (c->worker_id = json_int_field(doc, "worker_id")) <= 0)
			die("register answered %d: %.*s", status, (int)len, body);
		c->phase = PH_DONE;	/* waits for every connection to register */
		break;
	case PH_LEASE:
		if (status == 204) {
			/* Nothing to lease: the backlog is smaller than the run. */
			ld->no_work++;
			c->phase = PH_DONE;
			ld->active--;
			break;
		}
		if (status != 200 || (c->trial_id = json_int_field(doc, "trial_id")) <= 0 ||
		    (c->attempt = json_int_field(doc, "attempt")) <= 0) {
			ld->errors++;
			if (ld->errors < 5)
				fprintf(stderr, "bench_api: lease answered %d: %.*s\n", status,
				    (int)len, body);
			send_lease(ld, c);
			break;
		}
		/* A scheduler that hands out lease secrets wants them back with the report. */
		snprintf(c->secret, sizeof c->secret, "%s",
		    json_string_value(json_object_get(doc, "lease_secret")) ?
		    json_string_value(json_object_get(doc, "lease_secret")) : "");
		if (strspn(c->secret, "0123456789abcdefABCDEF-_") != strlen(c->secret))
			die("a lease secret that needs JSON escaping: %s", c->secret);
		send_finish(ld, c);
		break;
	case PH_FINISH:
		if (status != 200 || json_object_get(doc, "state") == NULL ||
		    strcmp(json_string_value(json_object_get(doc, "state")) ?
		    json_string_value(json_object_get(doc, "state")) : "", "succeeded") != 0) {
			ld->errors++;
			if (ld->errors < 5)
				fprintf(stderr, "bench_api: finish answered %d: %.*s\n", status,
				    (int)len, body);
		} else
			ld->lat[ld->pairs++] = now_mono() - c->pair_start;
		send_lease(ld, c);
		break;
	case PH_DONE:
		die("a response nobody asked for");
	}
	json_decref(doc);
}

/* Parses as many complete responses as c->in holds; false if none is complete yet. */
static bool
parse_response(struct load *ld, struct conn *c)
{
	char *data = c->in.data, *hend, *p;
	size_t hlen, clen = 0, total;
	long status;

	if (c->in.len < 4 || (hend = memmem(data, c->in.len, "\r\n\r\n", 4)) == NULL)
		return false;
	hlen = (size_t)(hend - data) + 4;
	if (strncmp(data, "HTTP/1.1 ", 9) != 0)
		die("not an HTTP/1.1 response: %.40s", data);
	status = strtol(data + 9, NULL, 10);
	for (p = memchr(data, '\n', hlen); p != NULL && p < hend;
	    p = memchr(p + 1, '\n', (size_t)(hend - p))) {
		if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
			clen = strtoul(p + 16, NULL, 10);
		else if (strncasecmp(p + 1, "Transfer-Encoding:", 18) == 0)
			die("chunked responses are not expected");
		else if (strncasecmp(p + 1, "Connection: close", 17) == 0)
			die("the server closed a keep-alive connection");
	}
	total = hlen + clen;
	if (c->in.len < total)
		return false;
	handle_response(ld, c, (int)status, data + hlen, clen);
	memmove(c->in.data, c->in.data + total, c->in.len - total);
	c->in.len -= total;
	return true;
}

static void
conn_readable(struct load *ld, struct conn *c)
{
	for (;;) {
		ssize_t r;

		buf_reserve(&c->in, 4096);
		r = read(c->fd, c->in.data + c->in.len, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0)
			die("connection %d closed by the server (%s)", c->index,
			    r == 0 ? "EOF" : strerror(errno));
		c->in.len += (size_t)r;
		if ((size_t)r < 4096)
			break;
	}
	while (parse_response(ld, c))
		;
}

static void
conn_writable(struct load *ld, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	ssize_t w;

	while (c->outoff < c->outlen) {
		w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0 && errno != EINTR)
			die("write: %s", strerror(errno));
		if (w > 0)
			c->outoff += (size_t)w;
	}
	epoll_ctl(ld->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Runs the event loop until no connection is waiting for a response. */
static void
loop(struct load *ld, bool (*busy)(struct load *))
{
	struct epoll_event evs[NCONNS];
	int n, i;

	while (busy(ld)) {
		n = epoll_wait(ld->ep, evs, NCONNS, 30000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("the server did not answer for 30 s");
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (evs[i].events & EPOLLOUT)
				conn_writable(ld, c);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_readable(ld, c);
		}
	}
}

static bool
registering(struct load *ld)
{
	int i;

	for (i = 0; i < NCONNS; i++) {
		if (ld->conns[i].phase != PH_DONE)
			return true;
	}
	return false;
}

static bool
leasing(struct load *ld)
{
	return ld->active > 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Connects NCONNS keep-alive clients, registers each, and runs want pairs. */
static void
run_load(int port, long want, struct run_result *r)
{
	struct load ld;
	struct sockaddr_in sa;
	double t0, cpu0, self0;
	int i, one = 1;

	memset(&ld, 0, sizeof ld);
	ld.port = port;
	ld.want_pairs = want;
	ld.lat = xcalloc((size_t)want + 1, sizeof *ld.lat);
	if ((ld.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < NCONNS; i++) {
		struct conn *c = &ld.conns[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		char body[128];

		c->index = i;
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			die("cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		if (epoll_ctl(ld.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			die("epoll_ctl: %s", strerror(errno));
		c->phase = PH_REGISTER;
		snprintf(body, sizeof body, "{\"name\": \"bench-%d\", \"slots\": 1, "
		    "\"hostname\": \"127.0.0.1\"}", i);
		conn_send(&ld, c, "/v1/workers", body);
	}
	loop(&ld, registering);
	t0 = now_mono();
	cpu0 = proc_cpu_s(server_pid);
	self0 = self_cpu_s();
	ld.deadline = t0 + RUN_LIMIT_S;
	ld.active = NCONNS;
	for (i = 0; i < NCONNS; i++)
		send_lease(&ld, &ld.conns[i]);
	loop(&ld, leasing);
	r->secs = now_mono() - t0;
	r->server_cpu_s = proc_cpu_s(server_pid) - cpu0;
	r->client_cpu_s = self_cpu_s() - self0;
	r->pairs = ld.pairs;
	r->errors = ld.errors;
	r->no_work = ld.no_work;
	r->rate = r->secs > 0 ? (double)ld.pairs / r->secs : 0;
	if (ld.pairs > 0) {
		qsort(ld.lat, (size_t)ld.pairs, sizeof *ld.lat, cmp_double);
		r->p50_ms = ld.lat[ld.pairs / 2] * 1e3;
		r->p99_ms = ld.lat[(size_t)((double)ld.pairs * 0.99)] * 1e3;
		r->max_ms = ld.lat[ld.pairs - 1] * 1e3;
	}
	for (i = 0; i < NCONNS; i++) {
		close(ld.conns[i].fd);
		buf_free(&ld.conns[i].in);
	}
	close(ld.ep);
	free(ld.lat);
}

static void
one_backlog(const char *dir, const char *spotsweep, long trials, long pairs,
    struct run_result *r)
{
	const char *db, *spec, *log;
	int port;

	memset(r, 0, sizeof *r);
	r->trials = trials;
	set_run_files(dir, trials);
	db = run_files[0];
	spec = run_files[3];
	log = run_files[4];
	write_spec(spec, trials);
	r->submit_s = run_submit(spotsweep, db, spec);
	port = start_server(spotsweep, db, log);
	run_load(port, pairs, r);
	r->hwm_kb = proc_status_kb(server_pid, "VmHWM");
	stop_server(log, r);
	remove_run_files();
}

static void
write_results(const char *dir, const struct run_result *r, size_t n)
{
	char *path = xasprintf("%s/bench_api.results", dir);
	FILE *f = fopen(path, "w");
	size_t i;

	if (f != NULL) {
		for (i = 0; i < n; i++) {
			if (r[i].pairs > 0)
				fprintf(f, "pairs_per_s_%ld %.0f\nhwm_mb_%ld %.1f\n", r[i].trials,
				    r[i].rate, r[i].trials, (double)r[i].hwm_kb / 1024.0);
		}
		fclose(f);
	}
	free(path);
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	const char *bin = getenv("BIN") ? getenv("BIN") : "bin";
	const char *env_pairs = getenv("BENCH_API_PAIRS");
	char *spotsweep = xasprintf("%s/spotsweep", bin);
	static const long backlogs[] = { 100000, 1000000 };
	struct run_result r[2];
	long pairs = DEFAULT_PAIRS, v;
	size_t i;

	if (env_pairs != NULL && safe_strtol(env_pairs, &v) && v > 0)
		pairs = v;
	if (access(spotsweep, X_OK) != 0)
		die("%s is not there: run make first", spotsweep);
	atexit(cleanup_at_exit);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < 2; i++) {
		/* BENCH_API_ONLY=100000 skips the other backlog (for quick experiments). */
		if (getenv("BENCH_API_ONLY") != NULL && safe_strtol(getenv("BENCH_API_ONLY"), &v) &&
		    v != backlogs[i]) {
			memset(&r[i], 0, sizeof r[i]);
			r[i].trials = backlogs[i];
			continue;
		}
		one_backlog(dir, spotsweep, backlogs[i], pairs, &r[i]);
	}
	write_results(dir, r, 2);

	printf("API round trips: %d keep-alive connections, lease + finish pairs against "
	    "`spotsweep serve`\n", NCONNS);
	printf("  %-34s %14s %14s\n", "pending trials", "100,000", "1,000,000");
	printf("  %-34s %12.2f s %12.2f s\n", "submit (spotsweep submit)", r[0].submit_s,
	    r[1].submit_s);
	printf("  %-34s %14ld %14ld\n", "pairs completed", r[0].pairs, r[1].pairs);
	printf("  %-34s %12.2f s %12.2f s\n", "time", r[0].secs, r[1].secs);
	printf("  %-34s %14.0f %14.0f   (target >= %.0f)\n", "pairs/s", r[0].rate, r[1].rate,
	    TARGET_PAIRS_S);
	printf("  %-34s %14.0f %14.0f\n", "HTTP requests/s", 2 * r[0].rate, 2 * r[1].rate);
	printf("  %-34s %11.2f ms %11.2f ms\n", "pair latency p50", r[0].p50_ms, r[1].p50_ms);
	printf("  %-34s %11.2f ms %11.2f ms\n", "pair latency p99", r[0].p99_ms, r[1].p99_ms);
	printf("  %-34s %11.2f ms %11.2f ms\n", "pair latency max", r[0].max_ms, r[1].max_ms);
	printf("  %-34s %11.0f us %11.0f us\n", "serve CPU per pair",
	    r[0].pairs ? r[0].server_cpu_s / (double)r[0].pairs * 1e6 : 0,
	    r[1].pairs ? r[1].server_cpu_s / (double)r[1].pairs * 1e6 : 0);
	printf("  %-34s %12.0f %% %12.0f %%\n", "serve CPU busy (of one core)",
	    r[0].secs > 0 ? 100 * r[0].server_cpu_s / r[0].secs : 0,
	    r[1].secs > 0 ? 100 * r[1].server_cpu_s / r[1].secs : 0);
	printf("  %-34s %12.0f %% %12.0f %%\n", "load client CPU busy (of one core)",
	    r[0].secs > 0 ? 100 * r[0].client_cpu_s / r[0].secs : 0,
	    r[1].secs > 0 ? 100 * r[1].client_cpu_s / r[1].secs : 0);
	printf("  %-34s %14.2f %14.2f\n", "requests per commit (group commit)",
	    r[0].commits ? (double)r[0].requests / (double)r[0].commits : 0,
	    r[1].commits ? (double)r[1].requests / (double)r[1].commits : 0);
	printf("  %-34s %14.2f %14.2f\n", "requests per flush to disk",
	    r[0].flushes ? (double)r[0].requests / (double)r[0].flushes : 0,
	    r[1].flushes ? (double)r[1].requests / (double)r[1].flushes : 0);
	printf("  %-34s %11.0f us %11.0f us\n", "flush (fdatasync of the WAL)", r[0].flush_us,
	    r[1].flush_us);
	printf("  %-34s %11.1f MB %11.1f MB   (target < %.0f MB)\n", "serve peak RSS (VmHWM)",
	    (double)r[0].hwm_kb / 1024.0, (double)r[1].hwm_kb / 1024.0, TARGET_RSS_MB);
	printf("  %-34s %14.2f   (1.00 = a lease costs the same whatever the backlog)\n",
	    "pairs/s 1,000,000 / 100,000", r[0].rate > 0 ? r[1].rate / r[0].rate : 0);
	/* CPU per pair says the same as the rates, and is less disturbed by other load. */
	printf("  %-34s %14.2f\n", "serve CPU per pair 1,000,000 / 100,000",
	    r[0].pairs > 0 && r[1].pairs > 0 && r[0].server_cpu_s > 0 ?
	    (r[1].server_cpu_s / (double)r[1].pairs) / (r[0].server_cpu_s / (double)r[0].pairs) :
	    0);
	for (i = 0; i < 2; i++) {
		if (r[i].errors > 0 || r[i].no_work > 0)
			printf("  warning: %ld unexpected answers, %ld empty leases with %ld pending\n",
			    r[i].errors, r[i].no_work, r[i].trials);
	}
	free(spotsweep);
	return r[0].errors == 0 && r[1].errors == 0 ? 0 : 1;
}
