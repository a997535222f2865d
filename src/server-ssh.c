/* The SSH dispatcher (see server-ssh.h). It owns the ssh hosts of the config's ssh pools,
 * their sessions (one ssh client process per running trial, with pipes for its stdin, stdout
 * and stderr read through bufferevents on the scheduler's loop), and a private directory of
 * control sockets, so that the sessions to one host share a connection (ControlMaster).
 *
 * A session's life: a lease (server_lease(), in the group commit like an HTTP lease) and the
 * spawn of ssh; the lease line is written to ssh's stdin once the commit is on disk. Every
 * report line from the remote agent is applied as the HTTP handler would (server_apply_*()),
 * and its answer goes back, again only after the commit. When ssh has exited and its pipes
 * are closed, an attempt that never reported its finish is ended `lost` (trial_lose()); one
 * whose agent never said a word was never started, so the host is marked down and the trial
 * goes back to pending at no cost. A cancelled or superseded trial has its session's stdin
 * closed: the remote agent sees EOF and stops it.
 *
 * Children are reaped one PID at a time (waitpid(pid, WNOHANG)) from a SIGCHLD event and the
 * timer, so that other owners of children in the same process (`run`'s agents) keep theirs. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/server-ssh.h"
#include "spotsweep/spawn.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"


/* The longest stderr line kept as a host's last error. */
#define LAST_ERROR_MAX	300
/* stderr lines kept per session, logged when the remote agent fails. */
#define ERR_TAIL	8
/* At shutdown: how long the ssh clients get to exit after SIGTERM. */
#define SHUTDOWN_WAIT_S	3.0

enum host_state { HOST_UP, HOST_DOWN, HOST_STATE_MAX };

static const char *const host_state_names[HOST_STATE_MAX] = { "up", "down" };

struct ssh_host {
	struct ssh_dispatch	*d;
	const struct pool	*pool;
	const struct pool_host	*ph;
	char			*name;		/* the worker's name: [user@]host:port */
	int64_t			 worker_id;
	char			*ctl_path;
	int			 busy;		/* sessions not yet ended */
	enum host_state		 state;
	unsigned		 failures;	/* failed connections in a row */
	double			 retry_at;	/* monotonic: when a down host is tried again */
};

struct ssh_session {
	struct ssh_dispatch	*d;
	struct ssh_host		*host;
	pid_t			 pid;
	bool			 reaped;
	bool			 status_known;	/* false when someone else reaped it */
	int			 status;
	struct bufferevent	*in;		/* ssh's stdin: the lease, then answers */
	struct bufferevent	*out;		/* the agent's report lines */
	struct bufferevent	*err;		/* ssh's and the agent's messages */
	int64_t			 trial_id;
	int64_t			 attempt;
	bool			 got_event;	/* the remote agent spoke: the host works */
	bool			 finished;	/* nothing left to settle for the attempt */
	bool			 finish_held;	/* a finish applied, not yet committed */
	bool			 pending_commit;	/* writes of its own await the commit */
	uint64_t		 pending_gen;	/* ... made in this flush generation */
	struct buf		 held;		/* lines for stdin, sent after the commit */
	char			*close_after;	/* close stdin once the answers are out */
	bool			 closing;	/* stdin closed on purpose */
	double			 kill_at;	/* monotonic; 0 = not stopping */
	bool			 term_sent;
	char			*err_tail[ERR_TAIL];	/* last stderr lines, escaped */
	size_t			 err_next;
	char			*last_err;	/* the newest of them */
	struct ssh_session	*next;
};

struct ssh_dispatch {
	struct server		*srv;
	struct ssh_host		*hosts;
	size_t			 nhosts;
	struct ssh_session	*sessions;
	char			*ctl_dir;
	struct event		*sigchld_ev;
	struct event		*timer_ev;
	double			 lease_at;	/* monotonic: no lease before this */
	double			 cancel_check_at;
};

static void session_close(struct ssh_session *s, const char *why, bool cancel);
static char *printable(const char *line, size_t len);

/* Appends one word of the remote command: shell-quoted, with a leading "~/" left bare. */
static void
add_remote_word(struct buf *b, const char *w, bool tilde)
{
	if (tilde && strncmp(w, "~/", 2) == 0) {
		buf_adds(b, "~/");
		w += 2;
		if (*w == '\0')
			return;
	}
	buf_add_shell_quoted(b, w);
}

char *
ssh_remote_command(const struct pool *p)
{
	struct buf	b = { 0 };
	size_t		i;

	buf_adds(&b, "exec ");
	add_remote_word(&b, p->agent_path != NULL ? p->agent_path : "spotsweep-agent", true);
	buf_adds(&b, " --stdio");
	for (i = 0; i < p->nagent_args; i++) {
		buf_addc(&b, ' ');
		add_remote_word(&b, p->agent_args[i], false);
	}
	return buf_steal(&b);
}

struct argv_builder {
	char	**v;
	size_t	  n;
};

static void
argv_add(struct argv_builder *a, char *s)
{
	a->v = xreallocarray(a->v, a->n + 2, sizeof *a->v);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void
argv_opt(struct argv_builder *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
argv_opt(struct argv_builder *a, const char *fmt, ...)
{
	va_list	ap;

	argv_add(a, xstrdup("-o"));
	va_start(ap, fmt);
	argv_add(a, xvasprintf(fmt, ap));
	va_end(ap);
}

char **
ssh_session_argv(const struct pool *p, const struct pool_host *h, const char *ctl_path,
    const char *remote_command)
{
	struct argv_builder	a = { NULL, 0 };
	size_t			i;

	argv_add(&a, xstrdup("ssh"));
	for (i = 0; i < p->nssh_options; i++)
		argv_opt(&a, "%s", p->ssh_options[i]);
	argv_add(&a, xstrdup("-T"));
	argv_opt(&a, "BatchMode=yes");
	argv_opt(&a, "ConnectTimeout=%d", SSH_CONNECT_TIMEOUT_S);
	argv_opt(&a, "ServerAliveInterval=%d", SSH_SERVER_ALIVE_S);
	argv_opt(&a, "ServerAliveCountMax=%d", SSH_SERVER_ALIVE_COUNT);
	argv_opt(&a, "StrictHostKeyChecking=accept-new");
	argv_opt(&a, "LogLevel=ERROR");
	if (ctl_path != NULL) {
		argv_opt(&a, "ControlMaster=auto");
		argv_opt(&a, "ControlPath=%s", ctl_path);
		argv_opt(&a, "ControlPersist=%d", SSH_CONTROL_PERSIST_S);
	}
	if (h->identity_file != NULL) {
		argv_add(&a, xstrdup("-i"));
		argv_add(&a, xstrdup(h->identity_file));
	}
	argv_add(&a, xstrdup("-p"));
	argv_add(&a, xasprintf("%d", h->port));
	if (h->user != NULL) {
		argv_add(&a, xstrdup("-l"));
		argv_add(&a, xstrdup(h->user));
	}
	argv_add(&a, xstrdup("--"));
	argv_add(&a, xstrdup(h->host));
	if (remote_command != NULL)
		argv_add(&a, xstrdup(remote_command));
	return a.v;
}

void
ssh_argv_free(char **argv)
{
	size_t	i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

double
ssh_host_backoff(unsigned failures)
{
	double		d = SSH_BACKOFF_MIN_S;
	unsigned	i;

	for (i = 1; i < failures && d < SSH_BACKOFF_MAX_S; i++)
		d *= 2;
	return d < SSH_BACKOFF_MAX_S ? d : SSH_BACKOFF_MAX_S;
}

/* Writes a host's state to its worker row (inside the group commit). */
static void
host_store(struct ssh_host *h, const char *error)
{
	struct server	*srv = h->d->srv;
	sqlite3_stmt	*stmt;
	char		*cause = NULL;
	double		 until = 0;
	bool		 ok = false;

	if (h->state == HOST_DOWN)
		until = now_wall() + (h->retry_at - now_mono());
	if (server_write_begin(srv) != 0)
		return;
	stmt = store_stmt(srv->st, "UPDATE workers SET state = ?2,"
	    " last_error = coalesce(?3, last_error), down_until = ?4 WHERE id = ?1", &cause);
	if (stmt != NULL) {
		sqlite3_bind_int64(stmt, 1, h->worker_id);
		sqlite3_bind_text(stmt, 2, host_state_names[h->state], -1, SQLITE_STATIC);
		if (error != NULL)
			sqlite3_bind_text(stmt, 3, error, -1, SQLITE_TRANSIENT);
		sqlite3_bind_double(stmt, 4, until);
		ok = sqlite3_step(stmt) == SQLITE_DONE;
		if (!ok)
			store_error(srv->st, "updating an ssh host", &cause);
		sqlite3_reset(stmt);
	}
	if (!ok) {
		log_error("ssh %s: %s", h->name, cause);
		free(cause);
	}
	server_write_end(srv, ok);
}

/* The host's agent spoke: it is reachable. */
static void
host_up(struct ssh_host *h)
{
	if (h->state == HOST_UP && h->failures == 0)
		return;
	if (h->state == HOST_DOWN)
		log_info("ssh %s: reachable again", h->name);
	h->state = HOST_UP;
	h->failures = 0;
	h->retry_at = 0;
	host_store(h, NULL);
}

/* A session ended without a word from the agent: the host is down for a while. */
static void
host_failed(struct ssh_host *h, const char *error)
{
	double	delay, now = now_mono();

	if (h->state == HOST_DOWN && now < h->retry_at) {
		/* Sessions started together fail together: one failure, one backoff step. */
		log_debug("ssh %s: %s", h->name, error);
		return;
	}
	h->failures++;
	delay = ssh_host_backoff(h->failures);
	h->state = HOST_DOWN;
	h->retry_at = now + delay;
	log_warn("ssh %s: %s; host marked down, next try in %.0f s", h->name, error, delay);
	host_store(h, error);
}

/* Frees what is left of a session; its process must have been reaped. */
static void
session_free(struct ssh_session *s)
{
	size_t	i;

	if (s->in != NULL)
		bufferevent_free(s->in);
	if (s->out != NULL)
		bufferevent_free(s->out);
	if (s->err != NULL)
		bufferevent_free(s->err);
	buf_free(&s->held);
	free(s->close_after);
	for (i = 0; i < ERR_TAIL; i++)
		free(s->err_tail[i]);
	free(s);
}

static void
session_unlink(struct ssh_session *s)
{
	struct ssh_session	**pp;

	for (pp = &s->d->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			return;
		}
	}
}

/* "exit status 255: ssh: connect to host ... refused", for logs and the host's error. */
static char *
session_exit_text(const struct ssh_session *s)
{
	struct buf	b = { 0 };

	if (!s->status_known)
		buf_adds(&b, "ssh ended");
	else if (WIFEXITED(s->status))
		buf_printf(&b, "ssh exit status %d", WEXITSTATUS(s->status));
	else if (WIFSIGNALED(s->status))
		buf_printf(&b, "ssh killed by signal %d", WTERMSIG(s->status));
	else
		buf_adds(&b, "ssh ended");
	/* Once the agent spoke, stderr carries its log, not why the connection failed. */
	if (s->last_err != NULL && !s->got_event)
		buf_printf(&b, ": %s", s->last_err);
	return buf_steal(&b);
}

/* Settles an ended session: the attempt it leaves open is lost, the host's health noted. */
static void
session_end(struct ssh_session *s)
{
	struct ssh_dispatch	*d = s->d;
	struct server		*srv = d->srv;
	char			*detail, *reason, *cause = NULL;
	size_t			 i;
	int			 rc;

	detail = session_exit_text(s);
	if (!s->finished && s->trial_id > 0) {
		reason = s->got_event ? xasprintf("ssh session to %s ended without a finish "
		    "report (%s)", s->host->name, detail) : xasprintf("could not start on %s "
		    "(%s)", s->host->name, detail);
		if (server_write_begin(srv) == 0) {
			rc = trial_lose(srv->st, s->trial_id, s->attempt, reason, s->got_event,
			    now_wall(), &cause);
			server_write_end(srv, rc == TRIAL_OK);
			if (rc == TRIAL_OK)
				log_warn("trial %lld attempt %lld lost: %s", (long long)s->trial_id,
				    (long long)s->attempt, reason);
			else if (rc == TRIAL_ESTALE)
				log_info("trial %lld attempt %lld: session ended after the scheduler "
				    "moved on", (long long)s->trial_id, (long long)s->attempt);
			else
				log_error("trial %lld: cannot end the attempt: %s",
				    (long long)s->trial_id, cause);
			free(cause);
		}
		free(reason);
	} else
		log_debug("ssh %s: session of trial %lld attempt %lld ended (%s)", s->host->name,
		    (long long)s->trial_id, (long long)s->attempt, detail);
	if (!s->got_event && !s->closing)
		host_failed(s->host, detail);
	else if (s->got_event && s->status_known && WIFEXITED(s->status) &&
	    WEXITSTATUS(s->status) != 0 && WEXITSTATUS(s->status) != 255) {
		/* The agent itself failed: what it said last is the only trace of why. */
		log_warn("ssh %s: the agent of trial %lld attempt %lld exited with status %d; "
		    "its last messages follow", s->host->name, (long long)s->trial_id,
		    (long long)s->attempt, WEXITSTATUS(s->status));
		for (i = 0; i < ERR_TAIL; i++) {
			const char *line = s->err_tail[(s->err_next + i) % ERR_TAIL];

			if (line != NULL)
				log_warn("ssh %s: | %s", s->host->name, line);
		}
	}
	free(detail);
	s->host->busy--;
	session_unlink(s);
	session_free(s);
	/* A slot is free: look for work now rather than at the next tick. */
	d->lease_at = 0;
	event_active(d->timer_ev, EV_TIMEOUT, 0);
}

/* Ends the session once ssh is reaped, its output fully read and nothing awaits the
 * commit. */
static void
session_maybe_end(struct ssh_session *s)
{
	if (s->reaped && s->out == NULL && s->err == NULL && !s->pending_commit)
		session_end(s);
}

static void
queue_line(struct ssh_session *s, json_t *o)
{
	char	*line = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (line == NULL)
		return;
	buf_adds(&s->held, line);
	buf_addc(&s->held, '\n');
	free(line);
	s->pending_commit = true;
	s->pending_gen = server_write_gen(s->d->srv);
}

json_t *
ssh_report_apply(struct server *srv, int64_t trial_id, const char *event, const json_t *o,
    int *status, char **error)
{
	json_t	*answer = NULL, *reply, *v;

	*error = NULL;
	v = json_object_get(o, "trial_id");
	if (!json_is_integer(v) || json_integer_value(v) != trial_id) {
		*status = 400;
		*error = xasprintf("this session carries trial %lld", (long long)trial_id);
	} else if (server_write_begin(srv) != 0) {
		*status = 500;
		*error = xstrdup("the store is not available");
	} else {
		if (strcmp(event, "heartbeat") == 0)
			*status = server_apply_heartbeat(srv, trial_id, o, &answer, error);
		else if (strcmp(event, "checkpoint") == 0)
			*status = server_apply_checkpoint(srv, trial_id, o, &answer, error);
		else
			*status = server_apply_finish(srv, trial_id, o, &answer, error);
		server_write_end(srv, *status == 200);
	}
	reply = *status == 200 && json_is_object(answer) ? json_incref(answer) : json_object();
	json_decref(answer);
	json_object_set_new(reply, "re", json_string(event));
	json_object_set_new(reply, "status", json_integer(*status));
	if (*error != NULL)
		json_object_set_new(reply, "error", json_string(*error));
	return reply;
}

/* Applies one report line and queues its answer for after the commit. */
static void
apply_report(struct ssh_session *s, const char *event, json_t *o)
{
	json_t		*reply;
	char		*error;
	int		 status;
	bool		 finish = strcmp(event, "finish") == 0;
	bool		 cancel;

	reply = ssh_report_apply(s->d->srv, s->trial_id, event, o, &status, &error);
	cancel = status == 200 && !finish && json_is_true(json_object_get(reply, "cancel"));
	queue_line(s, reply);
	if (status == 200 && finish)
		s->finish_held = true;
	else if (status == 409) {
		/* The scheduler moved on from this attempt: nothing is left to settle. */
		s->finished = true;
	}
	if (cancel && s->close_after == NULL)
		s->close_after = xstrdup("the trial was cancelled");
	if (status != 200)
		log_warn("trial %lld attempt %lld: %s from %s refused (%d: %s)",
		    (long long)s->trial_id, (long long)s->attempt, event, s->host->name, status,
		    error);
	free(error);
}

enum ssh_line
ssh_line_parse(const char *line, size_t len, json_t **o, const char **event, char **why)
{
	json_error_t	 err;

	*event = NULL;
	*why = NULL;
	*o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (*o == NULL) {
		*why = printable(err.text, strlen(err.text));
		return SSH_LINE_BAD;
	}
	if (json_depth_exceeds(*o, SERVER_MAX_JSON_DEPTH)) {
		*why = xasprintf("nested deeper than %d levels", SERVER_MAX_JSON_DEPTH);
		return SSH_LINE_BAD;
	}
	if ((*event = json_string_value(json_object_get(*o, "event"))) == NULL) {
		*why = xstrdup("no \"event\"");
		return SSH_LINE_BAD;
	}
	if (strcmp(*event, "started") == 0)
		return SSH_LINE_STARTED;
	if (strcmp(*event, "heartbeat") == 0 || strcmp(*event, "checkpoint") == 0 ||
	    strcmp(*event, "finish") == 0)
		return SSH_LINE_REPORT;
	*why = printable(*event, strlen(*event) > 40 ? 40 : strlen(*event));
	return SSH_LINE_UNKNOWN;
}

static void
handle_line(struct ssh_session *s, const char *line, size_t len)
{
	json_t		*o;
	const char	*event;
	char		*why;
	enum ssh_line	 kind;

	kind = ssh_line_parse(line, len, &o, &event, &why);
	if (kind == SSH_LINE_BAD) {
		log_warn("ssh %s: trial %lld: unreadable line from the agent (%s); ignored",
		    s->host->name, (long long)s->trial_id, why);
		free(why);
		json_decref(o);
		return;
	}
	if (!s->got_event) {
		s->got_event = true;
		host_up(s->host);
	}
	if (kind == SSH_LINE_STARTED) {
		log_info("trial %lld attempt %lld running on %s (remote pid %lld)",
		    (long long)s->trial_id, (long long)s->attempt, s->host->name,
		    (long long)json_integer_value(json_object_get(o, "pid")));
	} else if (kind == SSH_LINE_REPORT)
		apply_report(s, event, o);
	else {
		log_warn("ssh %s: unknown event \"%s\" from the agent; ignored", s->host->name,
		    why);
	}
	free(why);
	json_decref(o);
}

static void
out_read(struct bufferevent *bev, void *arg)
{
	struct ssh_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		handle_line(s, line, len);
		free(line);
	}
	if (evbuffer_get_length(in) > SERVER_MAX_BODY) {
		log_warn("ssh %s: trial %lld: a line over %d bytes from the agent; ending the "
		    "session", s->host->name, (long long)s->trial_id, SERVER_MAX_BODY);
		evbuffer_drain(in, evbuffer_get_length(in));
		session_close(s, "protocol error", false);
		if (s->pid > 0 && !s->reaped)
			kill(s->pid, SIGTERM);
	}
}

static void
out_event(struct bufferevent *bev, short what, void *arg)
{
	struct ssh_session	*s = arg;

	(void)bev;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	out_read(s->out, s);
	bufferevent_free(s->out);
	s->out = NULL;
	session_maybe_end(s);
}

/* A line from ssh's stderr as it may appear in a log or the workers table: at most
 * LAST_ERROR_MAX bytes, control characters escaped, no trailing CR. */
static char *
printable(const char *line, size_t len)
{
	struct buf	 b = { 0 };
	char		*cut;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	cut = xstrndup(line, len > LAST_ERROR_MAX ? LAST_ERROR_MAX : len);
	buf_add_printable(&b, cut);
	free(cut);
	return buf_steal(&b);
}

/* Keeps a stderr line (consumed) as the newest of the session's last ERR_TAIL. */
static void
err_push(struct ssh_session *s, char *line)
{
	free(s->err_tail[s->err_next]);
	s->err_tail[s->err_next] = line;
	s->err_next = (s->err_next + 1) % ERR_TAIL;
	s->last_err = line;
}

static void
err_read(struct bufferevent *bev, void *arg)
{
	struct ssh_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	char			*line;
	size_t			 len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_ANY)) != NULL) {
		if (len > 0) {
			err_push(s, printable(line, len));
			log_debug("ssh %s: %s", s->host->name, s->last_err);
		}
		free(line);
	}
	if (evbuffer_get_length(in) > 65536)
		evbuffer_drain(in, evbuffer_get_length(in));
}

static void
err_event(struct bufferevent *bev, short what, void *arg)
{
	struct ssh_session	*s = arg;
	struct evbuffer		*in;
	char			*rest;
	size_t			 len;

	(void)bev;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	err_read(s->err, s);
	in = bufferevent_get_input(s->err);
	if ((len = evbuffer_get_length(in)) > 0) {
		/* A last line without a newline. */
		rest = xcalloc(1, len + 1);
		evbuffer_remove(in, rest, len);
		err_push(s, printable(rest, len));
		free(rest);
	}
	bufferevent_free(s->err);
	s->err = NULL;
	session_maybe_end(s);
}

/* Closes ssh's stdin once everything queued on it is written. */
static void
in_written(struct bufferevent *bev, void *arg)
{
	struct ssh_session	*s = arg;

	(void)bev;
	if (s->closing && s->in != NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->in)) == 0) {
		bufferevent_free(s->in);
		s->in = NULL;
	}
}

static void
in_event(struct bufferevent *bev, short what, void *arg)
{
	struct ssh_session	*s = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* ssh is gone; its exit is noticed through SIGCHLD. */
		bufferevent_free(s->in);
		s->in = NULL;
	}
}

/* Tells the remote agent to stop: EOF on its stdin, after what is queued and, for a
 * cancelled trial, a {"stop": "cancel"} line so that it reports the attempt cancelled rather
 * than cut off. ssh is killed if it is still there SSH_CLOSE_WAIT_S later. */
static void
session_close(struct ssh_session *s, const char *why, bool cancel)
{
	json_t	*o;
	char	*line;

	if (s->closing)
		return;
	s->closing = true;
	s->kill_at = now_mono() + SSH_CLOSE_WAIT_S;
	if (s->trial_id > 0)
		log_info("trial %lld attempt %lld: closing its session on %s (%s)",
		    (long long)s->trial_id, (long long)s->attempt, s->host->name, why);
	if (s->in == NULL)
		return;
	if (cancel) {
		o = json_pack("{s:s, s:s}", "stop", "cancel", "reason", why);
		line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (line != NULL) {
			bufferevent_write(s->in, line, strlen(line));
			bufferevent_write(s->in, "\n", 1);
		}
		free(line);
	}
	in_written(s->in, s);
}

/* Group commits are on disk: send what waited for them, or give up on the sessions whose
 * writes were undone. */
static void
on_commit(void *arg, bool ok, uint64_t lo, uint64_t hi)
{
	struct ssh_dispatch	*d = arg;
	struct ssh_session	*s, *next;

	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (!s->pending_commit || s->pending_gen < lo || s->pending_gen > hi)
			continue;
		s->pending_commit = false;
		if (!ok) {
			/* Neither the lease nor the reports are on disk: the attempt, if it
			 * exists, is still open and will be ended when the session is. */
			s->finish_held = false;
			buf_reset(&s->held);
			session_close(s, "the store could not commit", false);
			if (!s->reaped)
				kill(s->pid, SIGTERM);
			session_maybe_end(s);
			continue;
		}
		if (s->finish_held) {
			s->finish_held = false;
			s->finished = true;
		}
		if (s->held.len > 0 && s->in != NULL && !s->closing)
			bufferevent_write(s->in, s->held.data, s->held.len);
		buf_reset(&s->held);
		if (s->close_after != NULL)
			session_close(s, s->close_after, true);
		session_maybe_end(s);
	}
}

/* Non-blocking pipe; the child's end stays blocking. Returns -1 with *cause. */
static int
make_pipe(int fds[2], bool parent_reads, char **cause)
{
	if (pipe2(fds, O_CLOEXEC) != 0) {
		*cause = xasprintf("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	evutil_make_socket_nonblocking(fds[parent_reads ? 0 : 1]);
	return 0;
}

/* Leases one trial for the host and starts its session. 1 when a session started, 0 when
 * there is no work, -1 on a failure (logged). */
static int
session_start(struct ssh_host *h)
{
	struct ssh_dispatch	*d = h->d;
	struct server		*srv = d->srv;
	struct ssh_session	*s;
	json_t			*doc = NULL;
	char			*cause = NULL, *cmd, **argv;
	int			 pin[2], pout[2], perr[2], child[3], rc;
	bool			 spawn_failed = false;

	if (server_write_begin(srv) != 0)
		return -1;
	rc = server_lease(srv, h->worker_id, h->pool->name, &doc, &cause);
	if (rc <= 0) {
		server_write_end(srv, rc == 0);
		if (rc < 0) {
			log_error("ssh lease: %s", cause);
			free(cause);
		}
		return rc;
	}
	s = xcalloc(1, sizeof *s);
	s->d = d;
	s->host = h;
	s->trial_id = json_integer_value(json_object_get(doc, "trial_id"));
	s->attempt = json_integer_value(json_object_get(doc, "attempt"));
	json_object_set_new(doc, "worker_id", json_integer(h->worker_id));
	pin[0] = pin[1] = pout[0] = pout[1] = perr[0] = perr[1] = -1;
	if (make_pipe(pin, false, &cause) != 0 || make_pipe(pout, true, &cause) != 0 ||
	    make_pipe(perr, true, &cause) != 0)
		goto fail;
	cmd = ssh_remote_command(h->pool);
	argv = ssh_session_argv(h->pool, h->ph, h->ctl_path, cmd);
	free(cmd);
	child[0] = pin[0];
	child[1] = pout[1];
	child[2] = perr[1];
	s->pid = spawn_child(argv, child, &cause);
	ssh_argv_free(argv);
	if (s->pid < 0) {
		spawn_failed = true;
		goto fail;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	server_write_end(srv, true);
	s->in = bufferevent_socket_new(srv->base, pin[1], BEV_OPT_CLOSE_ON_FREE);
	s->out = bufferevent_socket_new(srv->base, pout[0], BEV_OPT_CLOSE_ON_FREE);
	s->err = bufferevent_socket_new(srv->base, perr[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->in, NULL, in_written, in_event, s);
	bufferevent_setcb(s->out, out_read, NULL, out_event, s);
	bufferevent_setcb(s->err, err_read, NULL, err_event, s);
	bufferevent_enable(s->in, EV_WRITE);
	bufferevent_enable(s->out, EV_READ);
	bufferevent_enable(s->err, EV_READ);
	queue_line(s, doc);
	s->next = d->sessions;
	d->sessions = s;
	h->busy++;
	log_info("trial %lld attempt %lld: starting on %s", (long long)s->trial_id,
	    (long long)s->attempt, h->name);
	return 1;
fail:
	/* Undoing the lease's savepoint leaves the trial pending, as if never leased. */
	server_write_end(srv, false);
	if (spawn_failed)
		host_failed(h, cause);
	else
		log_error("ssh %s: %s", h->name, cause);
	free(cause);
	for (rc = 0; rc < 2; rc++) {
		if (pin[rc] >= 0)
			close(pin[rc]);
		if (pout[rc] >= 0)
			close(pout[rc]);
		if (perr[rc] >= 0)
			close(perr[rc]);
	}
	json_decref(doc);
	free(s);
	return -1;
}

/* Reaps the sessions' ssh processes, each by its own PID. */
static void
reap(struct ssh_dispatch *d)
{
	struct ssh_session	*s, *next;
	pid_t			 r;
	int			 status;

	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->reaped)
			continue;
		r = waitpid(s->pid, &status, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			continue;
		s->reaped = true;
		if (r == s->pid) {
			s->status = status;
			s->status_known = true;
		}
		session_maybe_end(s);
	}
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

/* Closes the sessions whose trial was cancelled or pruned, or whose attempt is no longer
 * current (its lease expired and the trial moved on). */
static void
check_cancelled(struct ssh_dispatch *d)
{
	struct ssh_session	*s;
	sqlite3_stmt		*stmt;
	char			*cause = NULL;
	const char		*state;

	for (s = d->sessions; s != NULL; s = s->next) {
		if (s->closing || s->finished || s->finish_held || s->trial_id <= 0)
			continue;
		stmt = store_stmt(d->srv->st, "SELECT state, attempts FROM trials WHERE id = ?",
		    &cause);
		if (stmt == NULL) {
			log_error("%s", cause);
			free(cause);
			return;
		}
		sqlite3_bind_int64(stmt, 1, s->trial_id);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			state = (const char *)sqlite3_column_text(stmt, 0);
			if (sqlite3_column_int64(stmt, 1) != s->attempt ||
			    strcmp(state, "running") != 0) {
				char *why = xasprintf("the trial is %s at attempt %lld", state,
				    (long long)sqlite3_column_int64(stmt, 1));
				bool cancel = sqlite3_column_int64(stmt, 1) == s->attempt &&
				    (strcmp(state, "cancelled") == 0 ||
				    strcmp(state, "pruned") == 0);

				sqlite3_reset(stmt);
				session_close(s, why, cancel);
				free(why);
				continue;
			}
		}
		sqlite3_reset(stmt);
	}
}

/* Whether any active sweep has pending trials: a read, so an idle scheduler takes no write
 * lock for the dispatcher. */
static bool
work_pending(struct ssh_dispatch *d)
{
	sqlite3_stmt	*stmt;
	char		*cause = NULL;
	bool		 yes;

	stmt = store_stmt(d->srv->st, "SELECT 1 FROM sweeps WHERE state = 'active' AND"
	    " n_pending > 0 LIMIT 1", &cause);
	if (stmt == NULL) {
		log_error("%s", cause);
		free(cause);
		return false;
	}
	yes = sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_reset(stmt);
	return yes;
}

/* Fills free slots: up hosts up to their slots, a down host with one probe once its
 * backoff is over. */
static void
dispatch(struct ssh_dispatch *d, double now)
{
	struct ssh_host	*h;
	size_t		 i;
	int		 rc;

	if (d->srv->draining || now < d->lease_at || !work_pending(d))
		return;
	for (i = 0; i < d->nhosts; i++) {
		h = &d->hosts[i];
		while (h->busy < h->ph->slots) {
			if (h->state == HOST_DOWN && (h->busy > 0 || now < h->retry_at))
				break;
			rc = session_start(h);
			if (rc == 0) {
				d->lease_at = now + SSH_IDLE_S;
				return;
			}
			if (rc < 0) {
				d->lease_at = now + 1;
				return;
			}
		}
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ssh_dispatch	*d = arg;
	struct ssh_session	*s;
	double			 now = now_mono();

	(void)fd;
	(void)what;
	reap(d);
	for (s = d->sessions; s != NULL; s = s->next) {
		if (s->kill_at > 0 && now >= s->kill_at && !s->reaped) {
			log_warn("ssh %s: session of trial %lld still open %.0f s after it was "
			    "closed; killing ssh", s->host->name, (long long)s->trial_id,
			    SSH_CLOSE_WAIT_S);
			kill(s->pid, s->term_sent ? SIGKILL : SIGTERM);
			s->term_sent = true;
			s->kill_at = now + 5;
		}
	}
	if (now >= d->cancel_check_at) {
		d->cancel_check_at = now + SSH_CANCEL_CHECK_S;
		check_cancelled(d);
	}
	dispatch(d, now);
}

/* The worker name of a host: [user@]host:port, with #N when the pool repeats it. */
static char *
host_name(const struct ssh_dispatch *d, const struct pool *p, const struct pool_host *ph)
{
	char	*base, *name;
	size_t	 i;
	int	 n = 1;

	base = ph->user != NULL ? xasprintf("%s@%s:%d", ph->user, ph->host, ph->port) :
	    xasprintf("%s:%d", ph->host, ph->port);
	name = xstrdup(base);
	for (i = 0; i < d->nhosts; i++) {
		if (d->hosts[i].pool == p && strcmp(d->hosts[i].name, name) == 0) {
			free(name);
			name = xasprintf("%s#%d", base, ++n);
			i = (size_t)-1;
		}
	}
	free(base);
	return name;
}

/* Ends the attempts a previous scheduler left open on the host: their sessions were its
 * children and died with it, so waiting for their leases to expire would only delay them. */
static int
lose_orphans(struct ssh_dispatch *d, struct ssh_host *h, char **cause)
{
	struct server	*srv = d->srv;
	sqlite3_stmt	*stmt;
	int64_t		*ids = NULL;
	size_t		 n = 0, i;
	char		*reason, *why = NULL;
	int		 rc = 0;

	stmt = store_stmt(srv->st, "SELECT trial_id, attempt FROM attempts"
	    " WHERE outcome IS NULL AND worker_id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, h->worker_id);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		ids = xreallocarray(ids, 2 * (n + 1), sizeof *ids);
		ids[2 * n] = sqlite3_column_int64(stmt, 0);
		ids[2 * n + 1] = sqlite3_column_int64(stmt, 1);
		n++;
	}
	sqlite3_reset(stmt);
	reason = xasprintf("its ssh session to %s ended with the previous scheduler", h->name);
	for (i = 0; i < n && rc == 0; i++) {
		if (server_write_begin(srv) != 0) {
			*cause = xstrdup("the store is not available");
			rc = -1;
			break;
		}
		rc = trial_lose(srv->st, ids[2 * i], ids[2 * i + 1], reason, true, now_wall(),
		    &why);
		server_write_end(srv, rc == TRIAL_OK);
		if (rc == TRIAL_OK)
			log_warn("trial %lld attempt %lld lost: %s", (long long)ids[2 * i],
			    (long long)ids[2 * i + 1], reason);
		else if (rc == TRIAL_ESTALE) {
			free(why);
			why = NULL;
			rc = 0;
		} else {
			*cause = why;
			rc = -1;
		}
	}
	free(reason);
	free(ids);
	return rc;
}

/* A private directory for the control sockets, short enough for a socket path. */
static char *
make_ctl_dir(char **cause)
{
	const char	*rt = getenv("XDG_RUNTIME_DIR");
	char		*tmpl;

	if (rt == NULL || *rt == '\0' || strlen(rt) > 40 || access(rt, W_OK) != 0)
		rt = "/tmp";
	tmpl = xasprintf("%s/spotsweep-ssh.XXXXXX", rt);
	if (mkdtemp(tmpl) == NULL) {
		*cause = xasprintf("cannot create a directory for ssh control sockets in %s: %s",
		    rt, strerror(errno));
		free(tmpl);
		return NULL;
	}
	return tmpl;
}

int
ssh_dispatch_create(struct server *srv, struct ssh_dispatch **out, char **cause)
{
	const struct config	*cfg = srv->cfg;
	struct ssh_dispatch	*d;
	struct ssh_host		*h;
	struct timeval		 tv = { 0, (long)(SSH_TICK_S * 1e6) };
	size_t			 i, j, n = 0;

	*out = NULL;
	for (i = 0; i < cfg->npools; i++) {
		if (cfg->pools[i].dispatch == DISPATCH_SSH)
			n += cfg->pools[i].nhosts;
	}
	if (n == 0)
		return 0;
	d = xcalloc(1, sizeof *d);
	d->srv = srv;
	d->hosts = xcalloc(n, sizeof *d->hosts);
	if ((d->ctl_dir = make_ctl_dir(cause)) == NULL)
		goto fail;
	for (i = 0; i < cfg->npools; i++) {
		const struct pool *p = &cfg->pools[i];

		if (p->dispatch != DISPATCH_SSH)
			continue;
		for (j = 0; j < p->nhosts; j++) {
			h = &d->hosts[d->nhosts];
			h->d = d;
			h->pool = p;
			h->ph = &p->hosts[j];
			h->name = host_name(d, p, h->ph);
			h->ctl_path = xasprintf("%s/%zu", d->ctl_dir, d->nhosts);
			h->state = HOST_UP;
			d->nhosts++;
			if (store_worker_register(srv->st, h->name, p->name,
			    pool_class_name(p->cls), h->ph->host, h->ph->slots, now_wall(),
			    &h->worker_id, cause) != 0)
				goto fail;
			host_store(h, NULL);
			log_info("ssh host %s (pool %s, %d slot%s) is worker %lld", h->name,
			    p->name, h->ph->slots, h->ph->slots == 1 ? "" : "s",
			    (long long)h->worker_id);
			if (lose_orphans(d, h, cause) != 0)
				goto fail;
		}
	}
	d->sigchld_ev = evsignal_new(srv->base, SIGCHLD, on_sigchld, d);
	d->timer_ev = event_new(srv->base, -1, EV_PERSIST, on_timer, d);
	if (d->sigchld_ev == NULL || d->timer_ev == NULL ||
	    event_add(d->sigchld_ev, NULL) != 0 || event_add(d->timer_ev, &tv) != 0) {
		*cause = xstrdup("cannot set up the ssh dispatcher's events");
		goto fail;
	}
	server_on_commit(srv, on_commit, d);
	log_info("ssh control sockets in %s", d->ctl_dir);
	*out = d;
	return 0;
fail:
	ssh_dispatch_free(d);
	return -1;
}

/* "ssh -o ControlPath=PATH -O exit HOST": asks the host's control master to exit. */
static char **
ctl_exit_argv(const struct ssh_host *h)
{
	struct argv_builder	a = { NULL, 0 };

	argv_add(&a, xstrdup("ssh"));
	argv_opt(&a, "ControlPath=%s", h->ctl_path);
	argv_opt(&a, "LogLevel=QUIET");
	argv_add(&a, xstrdup("-O"));
	argv_add(&a, xstrdup("exit"));
	argv_add(&a, xstrdup("-p"));
	argv_add(&a, xasprintf("%d", h->ph->port));
	if (h->ph->user != NULL) {
		argv_add(&a, xstrdup("-l"));
		argv_add(&a, xstrdup(h->ph->user));
	}
	argv_add(&a, xstrdup("--"));
	argv_add(&a, xstrdup(h->ph->host));
	return a.v;
}

/* Asks each host's control master to exit and waits for those requests. */
static void
stop_masters(struct ssh_dispatch *d)
{
	struct stat	 sb;
	char		**argv, *cause = NULL;
	pid_t		*pids = xcalloc(d->nhosts + 1, sizeof *pids);
	int		 devnull, fds[3];
	size_t		 i;
	double		 until = now_mono() + SHUTDOWN_WAIT_S;

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (i = 0; i < d->nhosts && devnull >= 0; i++) {
		const struct ssh_host *h = &d->hosts[i];

		if (stat(h->ctl_path, &sb) != 0 || !S_ISSOCK(sb.st_mode))
			continue;
		argv = ctl_exit_argv(h);
		fds[0] = fds[1] = fds[2] = devnull;
		pids[i] = spawn_child(argv, fds, &cause);
		if (pids[i] < 0) {
			log_warn("ssh %s: %s", h->name, cause);
			free(cause);
			cause = NULL;
			pids[i] = 0;
		}
		ssh_argv_free(argv);
	}
	for (i = 0; i < d->nhosts; i++) {
		while (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == 0) {
			if (now_mono() >= until) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], NULL, 0);
				break;
			}
			usleep(20000);
		}
		if (d->hosts[i].ctl_path != NULL)
			unlink(d->hosts[i].ctl_path);
	}
	if (devnull >= 0)
		close(devnull);
	free(pids);
}

void
ssh_dispatch_free(struct ssh_dispatch *d)
{
	struct ssh_session	*s, *next;
	double			 until;
	size_t			 i;

	if (d == NULL)
		return;
	if (d->srv != NULL && d->srv->commit_hook_arg == d)
		server_on_commit(d->srv, NULL, NULL);
	if (d->timer_ev != NULL)
		event_free(d->timer_ev);
	if (d->sigchld_ev != NULL)
		event_free(d->sigchld_ev);
	for (s = d->sessions; s != NULL; s = s->next) {
		if (!s->reaped)
			kill(s->pid, SIGTERM);
	}
	until = now_mono() + SHUTDOWN_WAIT_S;
	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		while (!s->reaped) {
			pid_t r = waitpid(s->pid, NULL, WNOHANG);

			if (r == s->pid || (r < 0 && errno != EINTR))
				s->reaped = true;
			else if (now_mono() >= until) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, NULL, 0);
				s->reaped = true;
			} else
				usleep(20000);
		}
		session_free(s);
	}
	d->sessions = NULL;
	if (d->ctl_dir != NULL) {
		stop_masters(d);
		rmdir(d->ctl_dir);
	}
	for (i = 0; i < d->nhosts; i++) {
		free(d->hosts[i].name);
		free(d->hosts[i].ctl_path);
	}
	free(d->hosts);
	free(d->ctl_dir);
	free(d);
}
