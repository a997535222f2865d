/* spotsweep-agent --stdio (see agent-stdio.h and docs/http-api.md, "SSH stdio stream"). The
 * attempt is the HTTP agent's (agent-trial.c); only the transport differs. Reports leave in
 * the HTTP agent's order (checkpoints, heartbeats, the finish) as one JSON line each, and the
 * scheduler answers every report with one line, in order, once it is committed. A checkpoint's
 * answer lets older checkpoints beyond checkpoint_keep be deleted, as an HTTP 200 does; a
 * heartbeat's answer may say cancel; a 409 says the scheduler has moved on from the attempt.
 *
 * The link is presumed gone when stdin reaches EOF (sshd closes it when the connection or the
 * client dies), when stdout cannot be written, or when the oldest unanswered report is a
 * whole lease timeout old (a partition that neither end has noticed yet: by then the
 * scheduler has expired the lease). The trial then gets the preemption sequence, its finish
 * is still written in case the reader is alive, and the agent exits: no orphan is left. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "spotsweep/agent-signal.h"
#include "spotsweep/agent-http.h"
#include "spotsweep/agent-loop.h"
#include "spotsweep/agent-notice.h"
#include "spotsweep/agent-report.h"
#include "spotsweep/agent-stdio.h"
#include "spotsweep/agent-trial.h"
#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define DEFAULT_HEARTBEAT_S	20.0
#define DEFAULT_LEASE_TIMEOUT_S	60.0
#define NOTICE_FILE_POLL_S	1.0
#define NOTICE_MARGIN_S		5.0
/* The longest the loop sleeps: timers are coarse, signals and I/O wake it at once. */
#define MAX_WAIT_S		0.5

enum report_kind { REPORT_HEARTBEAT, REPORT_CHECKPOINT, REPORT_FINISH, REPORT_MAX };

static const char *const report_names[REPORT_MAX] = { "heartbeat", "checkpoint", "finish" };

/* A report written and not yet answered. */
struct awaited {
	enum report_kind	 kind;
	double			 sent;		/* monotonic */
	char			*path;		/* checkpoints */
};

struct stdio_agent {
	const struct agent_stdio_config *cfg;
	struct agent_trial	*t;
	int64_t			 worker_id;
	double			 lease_timeout_s;

	struct buf		 in;		/* bytes of stdin not yet made into lines */
	struct buf		 out;		/* bytes not yet written to stdout */
	size_t			 out_off;
	bool			 in_eof;
	bool			 out_broken;
	bool			 link_lost;
	int			 out_flags;	/* stdout's flags before we made it non-blocking */
	bool			 out_nonblock;

	double			 now;		/* of the lines being handled */
	struct awaited		*aw;		/* oldest first */
	size_t			 naw;
	double			 last_heartbeat;
	bool			 stale;
	bool			 finish_sent;
	bool			 finish_answered;
	double			 finish_sent_at;

	bool			 preempting;
	double			 preempt_kill_at;
	char			*preempt_reason;
	struct agent_http	*http;		/* only for --notice-url */
	bool			 notice_inflight;
	double			 notice_at;
	double			 notice_file_at;
};

/* Starts the preemption sequence (the first reason wins; a later deadline may only bring the
 * SIGKILL closer). deadline is epoch seconds, 0 = none. */
static void
preempt(struct stdio_agent *a, const char *reason, double deadline, double now)
{
	double	kill_at = now + a->cfg->grace_s, d;

	if (deadline > 0) {
		d = now + (deadline - now_wall()) - NOTICE_MARGIN_S;
		if (d < kill_at)
			kill_at = d > now ? d : now;
	}
	if (a->preempting && kill_at >= a->preempt_kill_at)
		return;
	if (!a->preempting) {
		a->preempting = true;
		a->preempt_reason = xstrdup(reason);
		if (a->t->phase != AGENT_TRIAL_ENDED)
			log_warn("%s: %s; stopping it (SIGTERM now, SIGKILL in %.0f s)",
			    a->t->label, reason, kill_at - now);
	}
	a->preempt_kill_at = kill_at;
	agent_trial_stop(a->t, AGENT_STOP_PREEMPT, kill_at - now, a->preempt_reason, now);
}

/* The scheduler is unreachable for good: nothing can be reported any more, so the trial
 * must not outlive it. */
static void
lose_link(struct stdio_agent *a, const char *why, double now)
{
	char	*reason;

	if (a->link_lost)
		return;
	a->link_lost = true;
	reason = xasprintf("lost the scheduler (%s)", why);
	if (a->t == NULL || a->t->phase == AGENT_TRIAL_ENDED)
		log_info("%s", reason);
	else
		preempt(a, reason, 0, now);
	free(reason);
}

/* Writes what can be written without blocking. */
static void
flush_out(struct stdio_agent *a, double now)
{
	ssize_t	n;

	while (!a->out_broken && a->out_off < a->out.len) {
		n = write(STDOUT_FILENO, a->out.data + a->out_off, a->out.len - a->out_off);
		if (n > 0) {
			a->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		a->out_broken = true;
		lose_link(a, n < 0 ? strerror(errno) : "stdout closed", now);
	}
	if (a->out_off == a->out.len || a->out_broken) {
		buf_reset(&a->out);
		a->out_off = 0;
	}
}

/* Queues one line (the object is consumed) and writes what it can. */
static void
emit(struct stdio_agent *a, json_t *o, double now)
{
	char	*line;

	if (o == NULL)
		return;
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL || a->out_broken) {
		free(line);
		return;
	}
	buf_adds(&a->out, line);
	buf_addc(&a->out, '\n');
	free(line);
	if (a->out.len - a->out_off > AGENT_STDIO_MAX_BACKLOG) {
		a->out_broken = true;
		lose_link(a, "stdout is not being read", now);
		buf_reset(&a->out);
		a->out_off = 0;
		return;
	}
	flush_out(a, now);
}

static void
await(struct stdio_agent *a, enum report_kind kind, const char *path, double now)
{
	a->aw = xreallocarray(a->aw, a->naw + 1, sizeof *a->aw);
	a->aw[a->naw].kind = kind;
	a->aw[a->naw].sent = now;
	a->aw[a->naw].path = path != NULL ? xstrdup(path) : NULL;
	a->naw++;
}

static json_t *
report_object(const struct stdio_agent *a, const char *event)
{
	json_t	*o = json_pack("{s:s, s:I}", "event", event, "trial_id",
	    (json_int_t)a->t->trial_id);

	agent_trial_report_ids(a->t, a->worker_id, o);
	return o;
}

static void
send_heartbeat(struct stdio_agent *a, double now)
{
	struct agent_trial	*t = a->t;
	json_t			*o = report_object(a, "heartbeat");
	size_t			 n = 0;

	json_object_set_new(o, "metrics", agent_trial_points_json(t, AGENT_REPORT_MAX_POINTS,
	    &n));
	emit(a, o, now);
	agent_trial_points_sent(t, n);
	await(a, REPORT_HEARTBEAT, NULL, now);
	t->next_heartbeat = now + t->heartbeat_s;
	a->last_heartbeat = now;
}

/* Writes the attempt's due reports: checkpoints, then heartbeats, then the finish. */
static void
pump(struct stdio_agent *a, double now)
{
	struct agent_trial	*t = a->t;
	json_error_t		 err;
	json_t			*o;
	char			*body;
	size_t			 n = 0;

	if (a->stale || a->out_broken)
		return;
	while (t->nckq > 0) {
		o = report_object(a, "checkpoint");
		json_object_set_new(o, "path", json_string(t->ckq[0].path));
		json_object_set_new(o, "step", json_integer(t->ckq[0].step));
		if (json_object_get(o, "path") == NULL)
			log_warn("%s: checkpoint path %s is not valid UTF-8; not reported",
			    t->label, t->ckq[0].path);
		else {
			emit(a, json_incref(o), now);
			await(a, REPORT_CHECKPOINT, t->ckq[0].path, now);
		}
		json_decref(o);
		free(t->ckq[0].path);
		memmove(t->ckq, t->ckq + 1, (t->nckq - 1) * sizeof *t->ckq);
		t->nckq--;
	}
	while (t->npoints > AGENT_REPORT_MAX_POINTS)
		send_heartbeat(a, now);
	if (t->phase != AGENT_TRIAL_ENDED && (now >= t->next_heartbeat ||
	    (t->npoints > 0 && now >= a->last_heartbeat + AGENT_STDIO_FLUSH_S)))
		send_heartbeat(a, now);
	if (t->phase == AGENT_TRIAL_ENDED && !a->finish_sent) {
		body = agent_trial_finish_body(t, a->worker_id, AGENT_REPORT_MAX_POINTS, &n);
		o = json_loads(body, 0, &err);
		free(body);
		if (o == NULL) {
			log_error("%s: cannot build the finish report: %s", t->label, err.text);
			return;
		}
		json_object_set_new(o, "event", json_string("finish"));
		json_object_set_new(o, "trial_id", json_integer(t->trial_id));
		emit(a, o, now);
		agent_trial_points_sent(t, n);
		await(a, REPORT_FINISH, NULL, now);
		a->finish_sent = true;
		a->finish_sent_at = now;
		log_info("%s: %s; finish report sent", t->label, agent_trial_outcome(t));
	}
}

int
agent_stdio_parse(const char *line, size_t len, json_t **o, struct agent_stdio_msg *m,
    char **why)
{
	json_error_t	 err;
	json_t		*v;

	memset(m, 0, sizeof *m);
	m->status = 200;
	*why = NULL;
	*o = json_loadb(line, len, 0, &err);
	if (!json_is_object(*o)) {
		*why = xstrdup(*o == NULL ? err.text : "not an object");
		json_decref(*o);
		*o = NULL;
		return -1;
	}
	if ((v = json_object_get(*o, "stop")) != NULL) {
		m->stop = true;
		if (json_is_string(v) && strcmp(json_string_value(v), "cancel") == 0)
			m->stop_what = json_string_value(v);
		return 0;
	}
	m->re = json_string_value(json_object_get(*o, "re"));
	if (json_is_integer(v = json_object_get(*o, "status")) &&
	    json_integer_value(v) >= 100 && json_integer_value(v) <= 999)
		m->status = (long)json_integer_value(v);
	else if (v != NULL)
		m->status = 0;	/* unreadable: neither success nor staleness */
	m->error = json_string_value(json_object_get(*o, "error"));
	m->cancel = json_is_true(json_object_get(*o, "cancel"));
	m->state = json_string_value(json_object_get(*o, "state"));
	return 0;
}

bool
agent_stdio_take_lines(struct buf *in, size_t max,
    void (*fn)(const char *line, size_t len, void *arg), void *arg)
{
	char	*nl, *start = in->data;
	size_t	 left = in->len, len;
	bool	 dropped = false;

	while (left > 0 && (nl = memchr(start, '\n', left)) != NULL) {
		len = (size_t)(nl - start);
		if (len > 0)
			fn(start, len, arg);
		left -= len + 1;
		start = nl + 1;
	}
	if (left > max) {
		dropped = true;
		left = 0;
	}
	if (in->data != NULL) {
		memmove(in->data, start, left);
		in->len = left;
		in->data[left] = '\0';
	}
	return dropped;
}

/* Applies the scheduler's answer to the oldest unanswered report. */
static void
handle_answer(struct stdio_agent *a, const struct agent_stdio_msg *m, double now)
{
	struct agent_trial	*t = a->t;
	struct awaited		 w;
	const char		*re = m->re, *error = m->error, *state = m->state;
	long			 status = m->status;

	if (a->naw == 0) {
		log_warn("%s: an answer from the scheduler with no report waiting; ignored",
		    t->label);
		return;
	}
	w = a->aw[0];
	memmove(a->aw, a->aw + 1, (a->naw - 1) * sizeof *a->aw);
	a->naw--;
	if (re != NULL && strcmp(re, report_names[w.kind]) != 0)
		log_warn("%s: the scheduler answered a %s where a %s was expected", t->label, re,
		    report_names[w.kind]);
	if (status == 200) {
		switch (w.kind) {
		case REPORT_CHECKPOINT:
			log_info("%s: checkpoint %s recorded", t->label, w.path);
			agent_trial_checkpoint_acked(t, w.path);
			break;
		case REPORT_HEARTBEAT:
			if (m->cancel &&
			    t->phase == AGENT_TRIAL_RUNNING && t->stop == AGENT_STOP_NONE) {
				log_info("%s: the scheduler cancelled it; stopping it", t->label);
				agent_trial_stop(t, AGENT_STOP_CANCEL, a->cfg->grace_s, NULL, now);
			}
			break;
		case REPORT_FINISH:
			a->finish_answered = true;
			log_info("%s: finish recorded; the trial is now %s", t->label,
			    state != NULL ? state : "?");
			break;
		default:
			break;
		}
	} else if (status == 409) {
		log_warn("%s: the scheduler refused the %s as stale (%s); stopping the attempt "
		    "without further reports", t->label, report_names[w.kind],
		    error != NULL ? error : "no detail");
		a->stale = true;
		agent_trial_stop(t, AGENT_STOP_STALE, a->cfg->grace_s, NULL, now);
	} else {
		/* The scheduler ends the session itself when its store fails, so there is
		 * nothing to retry over this connection. */
		log_error("%s: the scheduler rejected the %s (HTTP %ld: %s)", t->label,
		    report_names[w.kind], status, error != NULL ? error : "no detail");
		if (w.kind == REPORT_FINISH)
			a->finish_answered = true;
	}
	free(w.path);
}

/* {"stop": "cancel"}: the scheduler stops the trial (cancelled or pruned) before it closes
 * the connection. */
static void
handle_stop(struct stdio_agent *a, const struct agent_stdio_msg *m, double now)
{
	struct agent_trial *t = a->t;

	if (m->stop_what == NULL) {
		log_warn("%s: unknown stop request from the scheduler; ignored", t->label);
		return;
	}
	if (t->phase == AGENT_TRIAL_RUNNING && t->stop == AGENT_STOP_NONE) {
		log_info("%s: the scheduler cancelled it; stopping it", t->label);
		agent_trial_stop(t, AGENT_STOP_CANCEL, a->cfg->grace_s, NULL, now);
	}
}

static void
handle_line(const char *line, size_t len, void *arg)
{
	struct stdio_agent	*a = arg;
	struct agent_stdio_msg	 m;
	json_t			*o;
	char			*why;

	if (agent_stdio_parse(line, len, &o, &m, &why) != 0) {
		log_warn("%s: unreadable line from the scheduler (%s); ignored", a->t->label,
		    why);
		free(why);
		return;
	}
	if (m.stop)
		handle_stop(a, &m, a->now);
	else
		handle_answer(a, &m, a->now);
	json_decref(o);
}

/* Splits what stdin delivered into lines and handles each. */
static void
handle_lines(struct stdio_agent *a, double now)
{
	a->now = now;
	if (agent_stdio_take_lines(&a->in, AGENT_STDIO_MAX_LINE, handle_line, a))
		log_warn("%s: a line from the scheduler over %d bytes; dropped", a->t->label,
		    AGENT_STDIO_MAX_LINE);
}

/* Reads what stdin has; false at EOF or on an error. */
static bool
read_in(struct stdio_agent *a)
{
	char	chunk[65536];
	ssize_t	n;

	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof chunk);
		if (n > 0) {
			buf_add(&a->in, chunk, (size_t)n);
			return true;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		return false;
	}
}

static void
handle_signals(struct stdio_agent *a, double now)
{
	static sig_atomic_t	 seen;
	char			*reason;

	if (agent_signal_count == seen)
		return;
	seen = agent_signal_count;
	if (!a->preempting) {
		reason = xasprintf("agent received %s", agent_got_signal == SIGINT ? "SIGINT" :
		    agent_got_signal == SIGHUP ? "SIGHUP" : "SIGTERM");
		preempt(a, reason, 0, now);
		free(reason);
		return;
	}
	if (a->t->phase == AGENT_TRIAL_RUNNING) {
		log_warn("%s: signalled again: killing it now", a->t->label);
		agent_trial_stop(a->t, AGENT_STOP_PREEMPT, 0, a->preempt_reason, now);
	}
}

static void
check_notice_file(struct stdio_agent *a, double now)
{
	struct stat	 sb;
	char		*body = NULL, *cause = NULL, *reason;
	size_t		 len = 0;
	double		 deadline = 0;

	if (a->cfg->notice_file == NULL || now < a->notice_file_at)
		return;
	a->notice_file_at = now + NOTICE_FILE_POLL_S;
	if (stat(a->cfg->notice_file, &sb) != 0)
		return;
	if (read_file(a->cfg->notice_file, 65536, &body, &len, &cause) == 0)
		agent_notice_parse(body, len, &deadline);
	free(cause);
	free(body);
	reason = xasprintf("termination notice (%s appeared)", a->cfg->notice_file);
	preempt(a, reason, deadline, now);
	free(reason);
	a->notice_file_at = now + 3600;
}

static void
on_notice(const struct agent_http_result *r, void *arg)
{
	struct stdio_agent	*a = arg;
	double			 deadline, now = now_mono();
	char			*reason;

	a->notice_inflight = false;
	a->notice_at = now + AGENT_NOTICE_POLL_S;
	if (r->status != 200 || !agent_notice_parse(r->body, r->len, &deadline))
		return;
	reason = xasprintf("termination notice from %s", a->cfg->notice_url);
	preempt(a, reason, deadline, now);
	free(reason);
}

static void
poll_notice_url(struct stdio_agent *a, double now)
{
	if (a->http == NULL || a->notice_inflight || now < a->notice_at)
		return;
	a->notice_inflight = true;
	agent_http_get(a->http, a->cfg->notice_url, AGENT_NOTICE_TIMEOUT_S, on_notice, a);
}

static void
consider(double *next, double when)
{
	if (when > 0 && (*next == 0 || when < *next))
		*next = when;
}

/* True when the agent may exit: the attempt ended and its finish is out (answered, or no
 * answer can come), or the scheduler moved on from it. */
static bool
finished(const struct stdio_agent *a, double now)
{
	if (a->t->phase != AGENT_TRIAL_ENDED)
		return false;
	if (a->stale || a->out_broken)
		return true;
	if (!a->finish_sent || a->out_off < a->out.len) {
		/* A reader that takes no bytes at all for this long is gone. */
		return a->finish_sent && now - a->finish_sent_at > AGENT_STDIO_FINISH_WAIT_S;
	}
	return a->finish_answered || a->in_eof ||
	    now - a->finish_sent_at > AGENT_STDIO_FINISH_WAIT_S;
}

/* Waits for stdin, stdout (when output is pending), the trial's pipe, the signal pipe and
 * the notice request, at most until the next timer. */
static void
wait_events(struct stdio_agent *a, double next, double now)
{
	struct curl_waitfd	 fds[4];
	struct pollfd		 pfds[4];
	unsigned		 n = 0, i;
	int			 ms;
	double			 until = now + MAX_WAIT_S;

	if (next > 0 && next < until)
		until = next;
	ms = until <= now ? 0 : (int)((until - now) * 1000) + 1;
	memset(fds, 0, sizeof fds);
	fds[n].fd = agent_signals_fd();
	fds[n++].events = CURL_WAIT_POLLIN;
	if (!a->in_eof) {
		fds[n].fd = STDIN_FILENO;
		fds[n++].events = CURL_WAIT_POLLIN;
	}
	if (a->out_off < a->out.len && !a->out_broken && a->out_nonblock) {
		fds[n].fd = STDOUT_FILENO;
		fds[n++].events = CURL_WAIT_POLLOUT;
	}
	if (a->t != NULL && a->t->out_fd >= 0) {
		fds[n].fd = a->t->out_fd;
		fds[n++].events = CURL_WAIT_POLLIN;
	}
	if (a->http != NULL) {
		if (agent_http_wait(a->http, fds, n, ms) != 0)
			usleep(10000);
		return;
	}
	for (i = 0; i < n; i++) {
		pfds[i].fd = fds[i].fd;
		pfds[i].events = (short)((fds[i].events & CURL_WAIT_POLLIN ? POLLIN : 0) |
		    (fds[i].events & CURL_WAIT_POLLOUT ? POLLOUT : 0));
		pfds[i].revents = 0;
	}
	if (poll(pfds, n, ms) < 0 && errno != EINTR)
		usleep(10000);
}

/* Reads the lease: one line on stdin within AGENT_STDIO_LEASE_WAIT_S. NULL with *cause. */
static json_t *
read_lease(struct stdio_agent *a, char **cause)
{
	struct pollfd	 pfd;
	json_error_t	 err;
	json_t		*o;
	char		*nl;
	double		 deadline = now_mono() + AGENT_STDIO_LEASE_WAIT_S, now;
	size_t		 len;

	for (;;) {
		if ((nl = memchr(a->in.data != NULL ? a->in.data : "", '\n', a->in.len)) != NULL)
			break;
		if (a->in_eof) {
			if (a->in.len == 0) {
				*cause = xstrdup("stdin closed before a trial arrived");
				return NULL;
			}
			nl = a->in.data + a->in.len;
			break;
		}
		if (a->in.len > AGENT_STDIO_MAX_LINE) {
			*cause = xasprintf("the trial on stdin is over %d bytes",
			    AGENT_STDIO_MAX_LINE);
			return NULL;
		}
		if (agent_signal_count > 0) {
			*cause = xstrdup("signalled before a trial arrived");
			return NULL;
		}
		now = now_mono();
		if (now >= deadline) {
			*cause = xasprintf("no trial on stdin after %.0f s",
			    AGENT_STDIO_LEASE_WAIT_S);
			return NULL;
		}
		pfd.fd = STDIN_FILENO;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)((deadline - now) * 1000) + 1) > 0 && !read_in(a))
			a->in_eof = true;
	}
	len = (size_t)(nl - a->in.data);
	o = json_loadb(a->in.data, len, 0, &err);
	if (!json_is_object(o)) {
		*cause = o == NULL ? xasprintf("the trial on stdin is not JSON: %s at column %d",
		    err.text, err.column) : xstrdup("the trial on stdin is not a JSON object");
		json_decref(o);
		return NULL;
	}
	len = len < a->in.len ? len + 1 : len;
	memmove(a->in.data, a->in.data + len, a->in.len - len);
	a->in.len -= len;
	a->in.data[a->in.len] = '\0';
	return o;
}

/* Builds the attempt from the lease and starts it; writes the `started` line. */
static int
start(struct stdio_agent *a, json_t *lease, char **cause)
{
	struct agent_trial	*t;
	json_t			*o, *v;
	double			 now = now_mono();

	if ((t = agent_trial_create(lease, a->cfg->workdir, DEFAULT_HEARTBEAT_S, cause)) == NULL)
		return -1;
	a->t = t;
	v = json_object_get(lease, "worker_id");
	a->worker_id = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(lease, "lease_timeout_s");
	a->lease_timeout_s = json_is_number(v) && json_number_value(v) > 0 ?
	    json_number_value(v) : DEFAULT_LEASE_TIMEOUT_S;
	if (t->start_error != NULL)
		log_error("%s: cannot start: %s", t->label, t->start_error);
	else
		agent_trial_spawn(t, now);
	o = report_object(a, "started");
	json_object_set_new(o, "pid", json_integer(t->pid));
	json_object_set_new(o, "at", json_real(t->start_wall));
	emit(a, o, now);
	a->last_heartbeat = now;
	return 0;
}

static void
loop(struct stdio_agent *a)
{
	struct agent_trial	*t = a->t;
	double			 now, next, tg;

	tg = a->cfg->grace_s < AGENT_TIMEOUT_GRACE_S ? a->cfg->grace_s : AGENT_TIMEOUT_GRACE_S;
	for (;;) {
		now = now_mono();
		agent_signals_drain();
		handle_signals(a, now);
		check_notice_file(a, now);
		poll_notice_url(a, now);
		agent_trial_check_exit(t, now);
		next = agent_trial_tick(t, now, tg);
		if (a->naw > 0 && !a->link_lost && now - a->aw[0].sent > a->lease_timeout_s) {
			char *why = xasprintf("no answer for %.0f s", now - a->aw[0].sent);

			lose_link(a, why, now);
			free(why);
		}
		pump(a, now);
		flush_out(a, now);
		if (finished(a, now))
			break;
		if (t->phase != AGENT_TRIAL_ENDED && !a->stale && !a->out_broken) {
			consider(&next, t->next_heartbeat);
			if (t->npoints > 0)
				consider(&next, a->last_heartbeat + AGENT_STDIO_FLUSH_S);
		}
		wait_events(a, next, now);
		now = now_mono();
		if (t->out_fd >= 0)
			agent_trial_read(t, now);
		if (!a->in_eof) {
			struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };

			if (poll(&pfd, 1, 0) > 0) {
				if (!read_in(a)) {
					a->in_eof = true;
					lose_link(a, "its connection closed", now);
				}
				handle_lines(a, now);
			}
		}
		if (a->http != NULL)
			agent_http_dispatch(a->http);
	}
}

/* Runs one attempt from stdin; see agent-stdio.h. */
int
agent_stdio_run(const struct agent_stdio_config *cfg)
{
	struct stdio_agent	 a;
	json_t			*lease;
	char			*cause = NULL;
	int			 rc = 1;
	size_t			 i;

	memset(&a, 0, sizeof a);
	a.cfg = cfg;
	if (agent_signals_setup(&cause) != 0)
		goto fail;
	if (cfg->notice_url != NULL && (a.http = agent_http_create("", NULL, &cause)) == NULL)
		goto fail;
	/* Non-blocking, so that a stalled connection never keeps the agent from stopping the
	 * trial; a terminal is left alone (it is shared with the shell). */
	a.out_flags = fcntl(STDOUT_FILENO, F_GETFL);
	if (a.out_flags >= 0 && !isatty(STDOUT_FILENO) &&
	    fcntl(STDOUT_FILENO, F_SETFL, a.out_flags | O_NONBLOCK) == 0)
		a.out_nonblock = true;
	buf_reserve(&a.in, 1);
	if ((lease = read_lease(&a, &cause)) == NULL)
		goto fail;
	rc = start(&a, lease, &cause);
	json_decref(lease);
	if (rc != 0) {
		rc = 1;
		goto fail;
	}
	handle_lines(&a, now_mono());
	loop(&a);
	rc = a.finish_sent && !a.out_broken && a.out_off == a.out.len ? 0 : 1;
	if (a.stale)
		rc = 0;
	goto out;
fail:
	log_error("%s", cause);
	free(cause);
out:
	if (a.t != NULL) {
		if (a.t->pid > 0 && !a.t->reaped) {
			kill(-a.t->pid, SIGKILL);
			while (waitpid(a.t->pid, NULL, 0) < 0 && errno == EINTR)
				;
			a.t->reaped = true;
		}
		agent_trial_free(a.t);
	}
	if (a.out_nonblock)
		fcntl(STDOUT_FILENO, F_SETFL, a.out_flags);
	for (i = 0; i < a.naw; i++)
		free(a.aw[i].path);
	free(a.aw);
	buf_free(&a.in);
	buf_free(&a.out);
	free(a.preempt_reason);
	agent_http_free(a.http);
	return rc;
}
