/* What the `make bench` load clients of `spotsweep serve` share (bench_api, bench_soak): running
 * `spotsweep submit`, starting serve and reading its port off the "listening on" line, stopping
 * both again (from a signal handler too), a /proc/PID/status figure, and a bare HTTP/1.1
 * keep-alive client over raw non-blocking sockets that the program's own epoll loop drives.
 * The client stays bare on purpose (a fixed request buffer, one read per readiness as a rule,
 * nothing parsed beyond the status and Content-Length): on a 2-core machine each cycle it
 * spends is taken from the scheduler it measures. Included by one bench .c file each; each
 * program keeps its own request sequence, event loop and figures. */
#ifndef SPOTSWEEP_TESTS_BENCH_HTTP_H
#define SPOTSWEEP_TESTS_BENCH_HTTP_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include <sys/socket.h>
#include <sys/wait.h>

#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Bytes asked of each read(): a response to these clients is a few hundred. */
#define BENCH_READ_CHUNK	4096

/* The children by PID (-1: none), global so that atexit and a signal handler can stop them. */
static pid_t bench_server_pid = -1;
static pid_t bench_submit_pid = -1;

/* Prints "PROGRAM: message" to stderr and exits 1; the atexit handler stops the children. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* SIGKILLs the children without waiting: the part that is safe in a signal handler. */
static void
bench_kill_children(void)
{
	if (bench_submit_pid > 0)
		kill(bench_submit_pid, SIGKILL);
	if (bench_server_pid > 0)
		kill(bench_server_pid, SIGKILL);
}

/* SIGKILLs and reaps the children still running (for atexit, so that die() leaves none). */
static void
bench_stop_children(void)
{
	bench_kill_children();
	if (bench_submit_pid > 0)
		waitpid(bench_submit_pid, NULL, 0);
	if (bench_server_pid > 0)
		waitpid(bench_server_pid, NULL, 0);
	bench_submit_pid = bench_server_pid = -1;
}

/* Runs `spotsweep --db DB submit SPEC` to completion, its stdout discarded; returns its wall
 * time. */
static double
bench_run_submit(const char *spotsweep, const char *db, const char *spec)
{
	double t0 = now_mono();
	int status;

	bench_submit_pid = fork();
	if (bench_submit_pid < 0)
		die("fork: %s", strerror(errno));
	if (bench_submit_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(spotsweep, spotsweep, "--db", db, "submit", spec, (char *)NULL);
		_exit(127);
	}
	if (waitpid(bench_submit_pid, &status, 0) != bench_submit_pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		bench_submit_pid = -1;
		die("%s submit %s failed", spotsweep, spec);
	}
	bench_submit_pid = -1;
	return now_mono() - t0;
}

/* Starts serve on a free loopback port (with --config CONFIG unless NULL), its stderr in
 * logpath; returns the port from its "listening on HOST:PORT" line. */
static int
bench_start_server(const char *spotsweep, const char *db, const char *config,
    const char *logpath)
{
	int pfd[2], port = 0;
	struct buf line = { 0 };
	/* Generous: opening a database of a million trials on a busy 2-core machine. */
	double limit = now_mono() + 20;
	char *colon;

	if (pipe(pfd) != 0)
		die("pipe: %s", strerror(errno));
	bench_server_pid = fork();
	if (bench_server_pid < 0)
		die("fork: %s", strerror(errno));
	if (bench_server_pid == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(pfd[1], STDOUT_FILENO);
		if (log >= 0)
			dup2(log, STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		/* Without a config the NULL in its place ends the arguments there. */
		execl(spotsweep, spotsweep, "--db", db, "serve", "--listen", "127.0.0.1:0",
		    config != NULL ? "--config" : (char *)NULL, config, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* A byte at a time, so that nothing past the line is taken from the pipe. */
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char c;

		if (poll(&p, 1, 200) == 0) {
			if (now_mono() > limit)
				die("serve did not print its address (see %s)", logpath);
			continue;
		}
		if (read(pfd[0], &c, 1) <= 0)
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

/* SIGTERMs serve and waits for it, so that its log ends with its "stopped after" line. */
static void
bench_stop_server(void)
{
	kill(bench_server_pid, SIGTERM);
	waitpid(bench_server_pid, NULL, 0);
	bench_server_pid = -1;
}

/* Reads one numeric "Key:   N kB" line of /proc/PID/status; -1 if there is none. */
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

/* qsort order for latencies. */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A non-blocking TCP socket connecting to 127.0.0.1:port. Non-blocking from the start so that
 * a scheduler at its connection limit cannot stall the event loop in connect(); a request
 * written before the handshake ends waits for EPOLLOUT like any short write. */
static int
bench_connect_loopback(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Each request is one small write that must go out now, not wait for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
		die("cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
	return fd;
}

/* Adds, changes (EPOLL_CTL_ADD, _MOD) what ep watches on fd, with ptr as the event's data. */
static void
bench_watch(int ep, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(ep, op, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* One keep-alive connection: the request being written and what has arrived. One request is
 * in flight at a time, so a fixed buffer holds it and nothing is allocated per request. */
struct bench_http {
	int		 fd;		/* -1 when closed */
	int		 ep;		/* the epoll set that watches fd */
	void		*owner;		/* the program's connection, the epoll events' data */
	char		 out[1024];
	size_t		 outlen;
	size_t		 outoff;
	struct buf	 in;
};

/* One complete response at the front of bench_http.in. */
struct bench_response {
	int		 status;
	const char	*body;		/* into bench_http.in, valid until bench_http_consume */
	size_t		 len;
	size_t		 total;		/* head and body */
	bool		 closing;	/* "Connection: close": the server will drop the connection */
};

/* Connects h to 127.0.0.1:port and has ep watch it for input, with owner as the data. */
static void
bench_http_open(struct bench_http *h, int ep, int port, void *owner)
{
	h->fd = bench_connect_loopback(port);
	h->ep = ep;
	h->owner = owner;
	h->outlen = h->outoff = 0;
	bench_watch(ep, EPOLL_CTL_ADD, h->fd, EPOLLIN, owner);
}

/* Closes h (which also takes it out of the epoll set) and frees what arrived. */
static void
bench_http_close(struct bench_http *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	buf_free(&h->in);
}

/* Writes what it can of the request: 1 once all of it is out, 0 when the socket is full,
 * -1 on a write error (errno). */
static int
bench_http_write_some(struct bench_http *h)
{
	ssize_t w;

	while (h->outoff < h->outlen) {
		w = write(h->fd, h->out + h->outoff, h->outlen - h->outoff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w < 0)
			return -1;
		h->outoff += (size_t)w;
	}
	return 1;
}

/* Writes what is left of the request. Until it has all gone EPOLLOUT stays watched (set by
 * bench_http_send), so that the loop calls this again; false on a write error (errno). */
static bool
bench_http_flush(struct bench_http *h)
{
	int rc = bench_http_write_some(h);

	if (rc == 1)
		bench_watch(h->ep, EPOLL_CTL_MOD, h->fd, EPOLLIN, h->owner);
	return rc >= 0;
}

/* Sends METHOD PATH with a JSON body (none if NULL), or as much as the socket takes now, the
 * rest left to bench_http_flush on EPOLLOUT; false on a write error (errno). */
static bool
bench_http_send(struct bench_http *h, const char *method, const char *path, const char *body)
{
	int n, rc;

	if (body != NULL)
		n = snprintf(h->out, sizeof h->out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", method, path,
		    strlen(body), body);
	else
		n = snprintf(h->out, sizeof h->out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		    method, path);
	if (n < 0 || (size_t)n >= sizeof h->out)
		die("request too long: %s %s", method, path);
	h->outlen = (size_t)n;
	h->outoff = 0;
	if ((rc = bench_http_write_some(h)) < 0)
		return false;
	/* Rarely full for a request this small: then finish it when the socket drains. */
	bench_watch(h->ep, EPOLL_CTL_MOD, h->fd, rc == 1 ? EPOLLIN : EPOLLIN | EPOLLOUT, h->owner);
	return true;
}

/* Appends what the socket holds to h->in. 0 once it is drained; -1 when the server closed the
 * connection (errno 0) or on a read error (errno). */
static int
bench_http_read(struct bench_http *h)
{
	ssize_t r;

	for (;;) {
		buf_reserve(&h->in, BENCH_READ_CHUNK);
		r = read(h->fd, h->in.data + h->in.len, BENCH_READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r == 0)
			errno = 0;
		if (r <= 0)
			return -1;
		h->in.len += (size_t)r;
		/* A short read took all there was: no second read() just to hear EAGAIN (the
		 * epoll set is level-triggered, so what comes later is reported again). */
		if ((size_t)r < BENCH_READ_CHUNK)
			return 0;
	}
}

/* Finds the first complete response in h->in; false if it has not all arrived yet. */
static bool
bench_http_parse(struct bench_http *h, struct bench_response *r)
{
	char *data = h->in.data, *hend, *p;
	size_t hlen, clen = 0;

	if (h->in.len < 4 || (hend = memmem(data, h->in.len, "\r\n\r\n", 4)) == NULL)
		return false;
	hlen = (size_t)(hend - data) + 4;
	if (strncmp(data, "HTTP/1.1 ", 9) != 0)
		die("not an HTTP/1.1 response: %.40s", data);
	r->status = (int)strtol(data + 9, NULL, 10);
	r->closing = false;
	/* Header names start after a '\n'; the head ends in "\r\n\r\n", so each compare stops
	 * inside the buffer. */
	for (p = memchr(data, '\n', hlen); p != NULL && p < hend;
	    p = memchr(p + 1, '\n', (size_t)(hend - p))) {
		if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
			clen = strtoul(p + 16, NULL, 10);
		else if (strncasecmp(p + 1, "Transfer-Encoding:", 18) == 0)
			die("chunked responses are not expected");
		else if (strncasecmp(p + 1, "Connection: close", 17) == 0)
			r->closing = true;
	}
	r->total = hlen + clen;
	if (h->in.len < r->total)
		return false;
	r->body = data + hlen;
	r->len = clen;
	return true;
}

/* Drops the response bench_http_parse found, keeping what came after it. */
static void
bench_http_consume(struct bench_http *h, const struct bench_response *r)
{
	memmove(h->in.data, h->in.data + r->total, h->in.len - r->total);
	h->in.len -= r->total;
}

#endif
