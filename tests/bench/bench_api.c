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
 * Then, unless BENCH_API_ONLY is set, the same client against floor_server (built next to
 * this program): a bare evhttp server, the HTTP layer's cost on this machine on its own.
 * Usage: bench_api [DIR]; BIN names the directory of the binaries (default ./bin),
 * BENCH_API_PAIRS the pairs per run (default 50000), BENCH_API_ONLY=100000 (or 1000000) runs
 * one backlog only, for quick experiments. */
#include <sys/resource.h>

#include <jansson.h>

#include "bench-http.h"

#define NCONNS		8
#define DEFAULT_PAIRS	50000
/* A run stops issuing pairs after this long even if the count was not reached. */
#define RUN_LIMIT_S	10.0
#define TARGET_PAIRS_S	10000.0
#define TARGET_RSS_MB	32.0

enum phase { PH_REGISTER, PH_LEASE, PH_FINISH, PH_DONE };

struct conn {
	struct bench_http http;
	int		 index;
	enum phase	 phase;
	int64_t		 worker_id;
	int64_t		 trial_id;
	int64_t		 attempt;
	char		 secret[128];	/* the lease's secret, echoed in the finish ("" if none) */
	double		 pair_start;
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

/* What to undo if the bench stops early besides the children (bench-http.h): the current
 * run's files. The paths are set before the children start, so that the signal handler only
 * calls kill() and unlink(). */
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
	bench_stop_children();
	remove_run_files();
	for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
		free(run_files[i]);
		run_files[i] = NULL;
	}
}

static void
on_fatal_signal(int sig)
{
	bench_kill_children();
	remove_run_files();
	signal(sig, SIG_DFL);
	raise(sig);
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

	bench_stop_server();
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
conn_send(struct conn *c, const char *path, const char *body)
{
	if (!bench_http_send(&c->http, "POST", path, body))
		die("write: %s", strerror(errno));
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
	conn_send(c, "/v1/lease", body);
}

static void
send_finish(struct conn *c)
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
	conn_send(c, path, body);
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
		send_finish(c);
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

static void
conn_readable(struct load *ld, struct conn *c)
{
	struct bench_response resp;

	if (bench_http_read(&c->http) != 0)
		die("connection %d closed by the server (%s)", c->index,
		    errno == 0 ? "EOF" : strerror(errno));
	while (bench_http_parse(&c->http, &resp)) {
		if (resp.closing)
			die("the server closed a keep-alive connection");
		handle_response(ld, c, resp.status, resp.body, resp.len);
		bench_http_consume(&c->http, &resp);
	}
}

static void
conn_writable(struct conn *c)
{
	if (!bench_http_flush(&c->http))
		die("write: %s", strerror(errno));
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
				conn_writable(c);
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

/* Connects NCONNS keep-alive clients, registers each, and runs want pairs. */
static void
run_load(int port, long want, struct run_result *r)
{
	struct load ld;
	double t0, cpu0, self0;
	int i;

	memset(&ld, 0, sizeof ld);
	ld.port = port;
	ld.want_pairs = want;
	ld.lat = xcalloc((size_t)want + 1, sizeof *ld.lat);
	if ((ld.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < NCONNS; i++) {
		struct conn *c = &ld.conns[i];
		char body[128];

		c->index = i;
		bench_http_open(&c->http, ld.ep, port, c);
		c->phase = PH_REGISTER;
		snprintf(body, sizeof body, "{\"name\": \"bench-%d\", \"slots\": 1, "
		    "\"hostname\": \"127.0.0.1\"}", i);
		conn_send(c, "/v1/workers", body);
	}
	loop(&ld, registering);
	t0 = now_mono();
	cpu0 = proc_cpu_s(bench_server_pid);
	self0 = self_cpu_s();
	ld.deadline = t0 + RUN_LIMIT_S;
	ld.active = NCONNS;
	for (i = 0; i < NCONNS; i++)
		send_lease(&ld, &ld.conns[i]);
	loop(&ld, leasing);
	r->secs = now_mono() - t0;
	r->server_cpu_s = proc_cpu_s(bench_server_pid) - cpu0;
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
	for (i = 0; i < NCONNS; i++)
		bench_http_close(&ld.conns[i].http);
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
	r->submit_s = bench_run_submit(spotsweep, db, spec);
	port = bench_start_server(spotsweep, db, NULL, log);
	run_load(port, pairs, r);
	r->hwm_kb = proc_status_kb(bench_server_pid, "VmHWM");
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
	struct run_result r[2], floor = { 0 };
	const char *slash;
	char *floor_path;
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
	/* The HTTP floor: the same client against floor_server (next to this program), a bare
	 * evhttp server that stores nothing. */
	slash = strrchr(argv[0], '/');
	floor_path = slash != NULL ? xasprintf("%.*s/floor_server", (int)(slash - argv[0]),
	    argv[0]) : xstrdup("./floor_server");
	if (getenv("BENCH_API_ONLY") == NULL && access(floor_path, X_OK) == 0)
		one_backlog(dir, floor_path, backlogs[0], pairs, &floor);

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
	if (floor.pairs > 0)
		printf("  %-34s %14.0f pairs/s, %.0f us server CPU per pair (bare evhttp,"
		    " same client: the HTTP floor)\n", "floor_server", floor.rate,
		    floor.server_cpu_s / (double)floor.pairs * 1e6);
	for (i = 0; i < 2; i++) {
		if (r[i].errors > 0 || r[i].no_work > 0)
			printf("  warning: %ld unexpected answers, %ld empty leases with %ld pending\n",
			    r[i].errors, r[i].no_work, r[i].trials);
	}
	free(floor_path);
	free(spotsweep);
	return r[0].errors == 0 && r[1].errors == 0 && floor.errors == 0 ? 0 : 1;
}
