/* The Slurm dispatcher (see server-slurm.h). It owns the config's slurm pools at run time,
 * the sbatch, squeue and scancel processes in flight (each read through bufferevents on the
 * scheduler's loop and reaped by its own PID from a SIGCHLD event and the timer, never with
 * waitpid(-1), which would take the children of `run` and the SSH dispatcher), and the
 * slurm_jobs table.
 *
 * Submitting. Each tick, a pool's demand comes from server-pools.c: its running attempts and
 * the pending trials the switching rules let its class take now, capped. The jobs that will
 * still take a trial are the queued ones and the running ones whose agent holds no attempt
 * (and, for one-trial jobs, has not had one yet); a job Slurm holds until a begin time (a
 * requeued job waits ~120 s) does not count. While those are fewer than the startable
 * trials and the pool has fewer than max_jobs jobs, one more is submitted (one sbatch at a
 * time per pool). When there are more jobs than work for SLURM_EXCESS_GRACE_S (a rule
 * closing the pool's class, a sweep cancelled or done, another worker having taken the
 * work), the surplus is cancelled: held jobs first, then queued ones, then running ones
 * whose agent had nothing to do all along. A job running a trial is never cut for that.
 *
 * Each job's agent registers as worker "slurm-JOBID" of the pool, a row created at
 * submission, so its attempts are the job's. A job that ended before its agent was ever heard
 * from is a failed launch (wrong agent_path or server_url, a broken node): the pool backs off
 * before submitting again, so a bad config cannot turn into a storm of jobs.
 *
 * Following. squeue lists the jobs not known to have ended (at most every poll_interval_s).
 * A job that ended, vanished, or went back to the queue (requeued) while its worker still has
 * an open attempt ends that attempt `lost` (trial_lose: the trial goes back to pending and
 * resumes from its checkpoint) after SLURM_SETTLE_S; an attempt whose agent said how it ended
 * (preempted on Slurm's SIGTERM) is already closed. If squeue fails, nothing is concluded.
 *
 * Cancelling. `spotsweep cancel` only writes the store; the tick sees a job whose attempt's
 * trial is now cancelled (or pruned, for one-trial jobs) and scancels it: Slurm's SIGTERM is
 * the agent's preemption, and its report closes the attempt as cancelled. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/server-pools.h"
#include "spotsweep/server-slurm.h"
#include "spotsweep/spawn.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"


/* The most output kept from one command (squeue of many jobs is ~40 bytes a job). */
#define CMD_OUTPUT_MAX	(4 * 1024 * 1024)
/* At shutdown: how long the commands still running get to exit after SIGTERM. */
#define SHUTDOWN_WAIT_S	3.0
/* The longest stderr text kept for a log line. */
#define ERR_TEXT_MAX	300

enum slurm_cmd { CMD_SBATCH, CMD_SQUEUE, CMD_SCANCEL, CMD_MAX };

static const char *const cmd_names[CMD_MAX] = { "sbatch", "squeue", "scancel" };

struct slurm_pool;

/* A Slurm command in flight. */
struct slurm_child {
	struct slurm_dispatch	*d;
	enum slurm_cmd		 kind;
	struct slurm_pool	*pool;		/* sbatch: the pool it submits for */
	pid_t			 pid;
	bool			 reaped;
	int			 status;	/* -1: unknown (reaped elsewhere) */
	struct bufferevent	*out;
	struct bufferevent	*err;
	struct buf		 outb;
	struct buf		 errb;
	bool			 overflow;
	double			 deadline;	/* monotonic */
	double			 started_wall;	/* squeue: its snapshot is newer than this */
	bool			 killed;
	int64_t			*jobs;		/* squeue: (row, job id) pairs asked about */
	size_t			 njobs;
	struct slurm_child	*next;
};

/* One slurm pool at run time. */
struct slurm_pool {
	struct slurm_dispatch	*d;
	const struct pool	*p;
	long			 max_jobs;
	bool			 submitting;	/* an sbatch in flight */
	double			 excess_since;	/* monotonic; 0: no surplus of jobs */
	double			 retry_at;	/* monotonic: no sbatch before */
	unsigned		 failures;	/* failed launches in a row */
	double			 demand_error_at;	/* monotonic: last logged */
};

struct slurm_dispatch {
	struct server		*srv;
	struct slurm_pool	*pools;
	size_t			 npools;
	struct slurm_child	*children;
	char			*default_url;
	double			 poll_interval_s;
	double			 poll_at;	/* monotonic */
	bool			 polling;
	double			 squeue_warned_at;	/* monotonic */
	struct event		*sigchld_ev;
	struct event		*timer_ev;
};

/* ---- pure helpers (unit-tested) ---- */

enum slurm_phase
slurm_state_phase(const char *state)
{
	static const struct {
		const char		*name;
		enum slurm_phase	 phase;
	} table[] = {
		{ "PENDING", SLURM_QUEUED }, { "REQUEUED", SLURM_QUEUED },
		{ "REQUEUE_FED", SLURM_QUEUED },
		{ "RUNNING", SLURM_RUNNING }, { "CONFIGURING", SLURM_RUNNING },
		{ "POWER_UP_NODE", SLURM_RUNNING },
		{ "COMPLETING", SLURM_STOPPING }, { "SIGNALING", SLURM_STOPPING },
		{ "STAGE_OUT", SLURM_STOPPING }, { "RESIZING", SLURM_STOPPING },
		{ "SUSPENDED", SLURM_HELD }, { "STOPPED", SLURM_HELD },
		{ "REQUEUE_HOLD", SLURM_HELD }, { "SPECIAL_EXIT", SLURM_HELD },
		{ "RESV_DEL_HOLD", SLURM_HELD },
		{ "COMPLETED", SLURM_ENDED }, { "CANCELLED", SLURM_ENDED },
		{ "FAILED", SLURM_ENDED }, { "TIMEOUT", SLURM_ENDED },
		{ "PREEMPTED", SLURM_ENDED }, { "NODE_FAIL", SLURM_ENDED },
		{ "BOOT_FAIL", SLURM_ENDED }, { "DEADLINE", SLURM_ENDED },
		{ "OUT_OF_MEMORY", SLURM_ENDED }, { "REVOKED", SLURM_ENDED },
		{ "GONE", SLURM_ENDED },
	};
	size_t i;

	for (i = 0; state != NULL && i < sizeof table / sizeof table[0]; i++) {
		if (strcmp(table[i].name, state) == 0)
			return table[i].phase;
	}
	return SLURM_HELD;
}

long
slurm_agent_grace(double signal_grace_s)
{
	long g = (long)(signal_grace_s * 3 / 4);

	return g >= 1 ? g : 1;
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

void
slurm_argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

static void
add_word(struct buf *b, const char *w, bool tilde)
{
	buf_addc(b, ' ');
	if (tilde && strncmp(w, "~/", 2) == 0) {
		buf_adds(b, "~/");
		w += 2;
		if (*w == '\0')
			return;
	}
	buf_add_shell_quoted(b, w);
}

char *
slurm_agent_command(const struct pool *p, const char *server_url)
{
	struct buf b = { 0 };
	char grace[32], idle[32];
	size_t i;

	snprintf(grace, sizeof grace, "%ld", slurm_agent_grace(p->signal_grace_s));
	format_double(idle, p->idle_exit_s);
	buf_adds(&b, "exec");
	add_word(&b, p->agent_path != NULL ? p->agent_path : "spotsweep-agent", true);
	add_word(&b, "--server", false);
	add_word(&b, server_url, false);
	add_word(&b, "--pool", false);
	add_word(&b, p->name, false);
	/* The one unquoted expansion: the job's id names the worker. */
	buf_adds(&b, " --name \"slurm-${SLURM_JOB_ID}\"");
	add_word(&b, "--grace-s", false);
	add_word(&b, grace, false);
	if (p->once)
		add_word(&b, "--once", false);
	add_word(&b, "--idle-exit-s", false);
	add_word(&b, idle, false);
	for (i = 0; i < p->nagent_args; i++)
		add_word(&b, p->agent_args[i], false);
	return buf_steal(&b);
}

char **
slurm_sbatch_argv(const struct pool *p, const char *server_url)
{
	struct argv_builder a = { NULL, 0 };
	char *cmd;
	size_t i;

	argv_add(&a, xstrdup("sbatch"));
	argv_add(&a, xstrdup("--parsable"));
	argv_add(&a, xasprintf("--job-name=spotsweep-%s", p->name));
	if (p->partition != NULL)
		argv_add(&a, xasprintf("--partition=%s", p->partition));
	if (p->account != NULL)
		argv_add(&a, xasprintf("--account=%s", p->account));
	if (p->qos != NULL)
		argv_add(&a, xasprintf("--qos=%s", p->qos));
	if (p->gres != NULL)
		argv_add(&a, xasprintf("--gres=%s", p->gres));
	if (p->time_limit != NULL)
		argv_add(&a, xasprintf("--time=%s", p->time_limit));
	argv_add(&a, xasprintf("--signal=B:TERM@%ld", (long)p->signal_grace_s));
	if (p->requeue == 1)
		argv_add(&a, xstrdup("--requeue"));
	else if (p->requeue == 0)
		argv_add(&a, xstrdup("--no-requeue"));
	for (i = 0; i < p->nsbatch_args; i++)
		argv_add(&a, xstrdup(p->sbatch_args[i]));
	cmd = slurm_agent_command(p, server_url);
	argv_add(&a, xasprintf("--wrap=%s", cmd));
	free(cmd);
	return a.v;
}

bool
slurm_parse_job_id(const char *out, int64_t *job_id)
{
	char *s, *end;
	long long v;
	size_t n;
	bool ok;

	while (*out == ' ' || *out == '\t' || *out == '\n' || *out == '\r')
		out++;
	n = strcspn(out, ";\r\n");
	if (n == 0 || n > 20)
		return false;
	s = xstrndup(out, n);
	end = s + n;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	ok = safe_strtoll(s, &v) && v > 0;
	free(s);
	if (ok)
		*job_id = v;
	return ok;
}

void
slurm_status_clear(struct slurm_status *st)
{
	free(st->state);
	free(st->reason);
	free(st->node);
	memset(st, 0, sizeof *st);
}

bool
slurm_parse_status(const char *line, struct slurm_status *st)
{
	const char *f[4];
	size_t len[4], i, n;
	long long v;
	char *id;
	bool ok;

	memset(st, 0, sizeof *st);
	for (i = 0; i < 4; i++) {
		f[i] = line;
		n = strcspn(line, i < 3 ? "|\r\n" : "\r\n");
		len[i] = n;
		line += n;
		if (i < 3) {
			if (*line != '|')
				return false;
			line++;
		}
	}
	if (len[0] == 0 || len[1] == 0)
		return false;
	id = xstrndup(f[0], len[0]);
	ok = safe_strtoll(id, &v) && v > 0;
	free(id);
	if (!ok)
		return false;
	st->job_id = v;
	st->state = xstrndup(f[1], len[1]);
	if (len[2] > 0 && !(len[2] == 4 && strncmp(f[2], "None", 4) == 0))
		st->reason = xstrndup(f[2], len[2]);
	if (len[3] > 0)
		st->node = xstrndup(f[3], len[3]);
	return true;
}

/* ---- children ---- */

/* Starts argv with /dev/null as stdin and pipes for stdout and stderr. */
static pid_t
spawn_cmd(char *const argv[], int out_fd, int err_fd, char **cause)
{
	const int fds[3] = { -1, out_fd, err_fd };

	return spawn_child(argv, fds, cause);
}

static void child_maybe_done(struct slurm_child *c);

static void
child_read(struct bufferevent *bev, void *arg)
{
	struct slurm_child *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct buf *b = bev == c->out ? &c->outb : &c->errb;
	size_t n = evbuffer_get_length(in);

	if (b->len + n > CMD_OUTPUT_MAX) {
		c->overflow = true;
		evbuffer_drain(in, n);
		return;
	}
	buf_reserve(b, n);
	evbuffer_remove(in, b->data + b->len, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
child_event(struct bufferevent *bev, short what, void *arg)
{
	struct slurm_child *c = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	child_read(bev, c);
	bufferevent_free(bev);
	if (bev == c->out)
		c->out = NULL;
	else
		c->err = NULL;
	child_maybe_done(c);
}

static void
child_free(struct slurm_child *c)
{
	if (c->out != NULL)
		bufferevent_free(c->out);
	if (c->err != NULL)
		bufferevent_free(c->err);
	buf_free(&c->outb);
	buf_free(&c->errb);
	free(c->jobs);
	free(c);
}

static void
child_unlink(struct slurm_child *c)
{
	struct slurm_child **pp;

	for (pp = &c->d->children; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

/* Starts a Slurm command; NULL (logged) when it cannot be run. */
static struct slurm_child *
child_start(struct slurm_dispatch *d, enum slurm_cmd kind, char **argv)
{
	struct slurm_child *c;
	char *cause = NULL;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };

	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
		log_error("slurm: cannot create a pipe for %s: %s", cmd_names[kind],
		    strerror(errno));
		goto fail;
	}
	c = xcalloc(1, sizeof *c);
	c->d = d;
	c->kind = kind;
	c->status = -1;
	c->pid = spawn_cmd(argv, out[1], err[1], &cause);
	if (c->pid < 0) {
		log_error("slurm: %s", cause);
		free(cause);
		free(c);
		goto fail;
	}
	close(out[1]);
	close(err[1]);
	evutil_make_socket_nonblocking(out[0]);
	evutil_make_socket_nonblocking(err[0]);
	c->out = bufferevent_socket_new(d->srv->base, out[0], BEV_OPT_CLOSE_ON_FREE);
	c->err = bufferevent_socket_new(d->srv->base, err[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->out, child_read, NULL, child_event, c);
	bufferevent_setcb(c->err, child_read, NULL, child_event, c);
	bufferevent_enable(c->out, EV_READ);
	bufferevent_enable(c->err, EV_READ);
	c->deadline = now_mono() + SLURM_CMD_TIMEOUT_S;
	c->started_wall = now_wall();
	c->next = d->children;
	d->children = c;
	return c;
fail:
	if (out[0] >= 0) {
		close(out[0]);
		close(out[1]);
	}
	if (err[0] >= 0) {
		close(err[0]);
		close(err[1]);
	}
	return NULL;
}

/* The command's stderr as one printable line for the log ("" when none). */
static char *
child_err_text(const struct slurm_child *c)
{
	struct buf b = { 0 };
	char *text = xstrndup(c->errb.data != NULL ? c->errb.data : "",
	    c->errb.len > ERR_TEXT_MAX ? ERR_TEXT_MAX : c->errb.len), *p;

	for (p = text; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	while (p > text && p[-1] == ' ')
		*--p = '\0';
	buf_add_printable(&b, text);
	free(text);
	return buf_steal(&b);
}

/* "exit status 1", "killed by signal 9", "timed out after 60 s". */
static char *
child_how(const struct slurm_child *c)
{
	if (c->killed)
		return xasprintf("timed out after %.0f s", SLURM_CMD_TIMEOUT_S);
	if (c->status < 0)
		return xstrdup("ended (exit status unknown)");
	if (WIFEXITED(c->status))
		return xasprintf("exit status %d", WEXITSTATUS(c->status));
	if (WIFSIGNALED(c->status))
		return xasprintf("killed by signal %d", WTERMSIG(c->status));
	return xstrdup("ended");
}

static bool
child_ok(const struct slurm_child *c)
{
	return !c->killed && !c->overflow && c->status >= 0 && WIFEXITED(c->status) &&
	    WEXITSTATUS(c->status) == 0;
}

/* ---- the store ---- */

/* Runs one statement inside the group commit; false (logged) on failure. */
static bool
exec_write(struct slurm_dispatch *d, sqlite3_stmt *stmt, const char *what)
{
	char *cause = NULL;
	bool ok;

	ok = store_step_done(d->srv->st, stmt, what, &cause) == 0;
	if (!ok) {
		log_error("slurm: %s", cause);
		free(cause);
	}
	return ok;
}

static sqlite3_stmt *
prepare(struct slurm_dispatch *d, const char *sql)
{
	char *cause = NULL;
	sqlite3_stmt *stmt = store_stmt(d->srv->st, sql, &cause);

	if (stmt == NULL) {
		log_error("slurm: %s", cause);
		free(cause);
	}
	return stmt;
}

static void
record_event(struct slurm_dispatch *d, const char *kind, const char *detail)
{
	char *cause = NULL;

	if (store_event(d->srv->st, 0, 0, 0, kind, detail, &cause) != 0) {
		log_error("slurm: recording a %s event: %s", kind, cause);
		free(cause);
	}
}

/* Records a submitted job: its worker row (the name its agent registers under) and its
 * slurm_jobs row. */
static bool
record_job(struct slurm_pool *sp, int64_t job_id)
{
	struct slurm_dispatch *d = sp->d;
	struct store *st = d->srv->st;
	sqlite3_stmt *stmt;
	struct buf detail = { 0 };
	char *name = xasprintf("slurm-%lld", (long long)job_id), *cause = NULL;
	double now = now_wall();
	int64_t worker_id;
	bool ok = false;

	if (server_write_begin(d->srv) != 0) {
		free(name);
		return false;
	}
	if (store_worker_register(st, name, sp->p->name, pool_class_name(sp->p->cls), NULL, 1,
	    now, &worker_id, &cause) != 0) {
		log_error("slurm: job %lld: %s", (long long)job_id, cause);
		free(cause);
		goto out;
	}
	/* A job id Slurm gave out again (a cluster started afresh) ends the old record. */
	stmt = prepare(d, "UPDATE slurm_jobs SET ended_at = ?3, state = 'GONE'"
	    " WHERE pool = ?1 AND job_id = ?2 AND ended_at IS NULL");
	if (stmt == NULL)
		goto out;
	store_bind_text(stmt, 1, sp->p->name);
	sqlite3_bind_int64(stmt, 2, job_id);
	sqlite3_bind_double(stmt, 3, now);
	if (!exec_write(d, stmt, "ending a reused job id"))
		goto out;
	stmt = prepare(d, "INSERT INTO slurm_jobs (job_id, pool, worker_id, submitted_at)"
	    " VALUES (?1, ?2, ?3, ?4)");
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, job_id);
	store_bind_text(stmt, 2, sp->p->name);
	sqlite3_bind_int64(stmt, 3, worker_id);
	sqlite3_bind_double(stmt, 4, now);
	if (!exec_write(d, stmt, "recording a Slurm job"))
		goto out;
	buf_adds(&detail, "{\"pool\":");
	json_add_string(&detail, sp->p->name);
	buf_printf(&detail, ",\"job_id\":%lld,\"worker_id\":%lld}", (long long)job_id,
	    (long long)worker_id);
	record_event(d, "slurm.submit", detail.data);
	ok = true;
out:
	server_write_end(d->srv, ok);
	buf_free(&detail);
	free(name);
	return ok;
}

/* ---- submitting ---- */

static double
backoff(unsigned failures)
{
	double delay = SLURM_BACKOFF_MIN_S;
	unsigned i;

	for (i = 1; i < failures && delay < SLURM_BACKOFF_MAX_S; i++)
		delay *= 2;
	return delay < SLURM_BACKOFF_MAX_S ? delay : SLURM_BACKOFF_MAX_S;
}

/* A launch failed (sbatch itself, or a job that ended before its agent was heard from). */
static void
launch_failed(struct slurm_pool *sp, const char *what)
{
	double delay;

	sp->failures++;
	delay = backoff(sp->failures);
	sp->retry_at = now_mono() + delay;
	log_warn("slurm pool %s: %s; submitting again in %.0f s", sp->p->name, what, delay);
}

static const char *
server_url(const struct slurm_pool *sp)
{
	return sp->p->server_url != NULL ? sp->p->server_url : sp->d->default_url;
}

static void
submit(struct slurm_pool *sp)
{
	struct slurm_child *c;
	char **argv = slurm_sbatch_argv(sp->p, server_url(sp));

	c = child_start(sp->d, CMD_SBATCH, argv);
	slurm_argv_free(argv);
	if (c == NULL) {
		launch_failed(sp, "sbatch could not be run");
		return;
	}
	c->pool = sp;
	sp->submitting = true;
}

static void
sbatch_done(struct slurm_child *c)
{
	struct slurm_pool *sp = c->pool;
	int64_t job_id;
	char *how, *err, *what;

	sp->submitting = false;
	if (!child_ok(c) || !slurm_parse_job_id(c->outb.data != NULL ? c->outb.data : "",
	    &job_id)) {
		how = child_how(c);
		err = child_err_text(c);
		what = xasprintf("sbatch failed (%s)%s%s", how, *err != '\0' ? ": " : "", err);
		launch_failed(sp, what);
		free(what);
		free(err);
		free(how);
		return;
	}
	if (!record_job(sp, job_id)) {
		/* Its agent still registers and works; it is only not counted or followed, so
		 * the pool waits rather than submit more of them. */
		what = xasprintf("job %lld was submitted but could not be recorded",
		    (long long)job_id);
		launch_failed(sp, what);
		free(what);
		return;
	}
	log_info("slurm pool %s: submitted job %lld", sp->p->name, (long long)job_id);
	/* Maybe another one: look again now rather than at the next tick. */
	event_active(sp->d->timer_ev, EV_TIMEOUT, 0);
}

/* ---- cancelling ---- */

/* scancels the jobs (one command) and notes when, so they are not told every tick. */
static void
cancel_jobs(struct slurm_dispatch *d, const int64_t *rows, const int64_t *jobs, size_t n,
    const char *why)
{
	struct argv_builder a = { NULL, 0 };
	struct buf list = { 0 };
	struct slurm_child *c;
	sqlite3_stmt *stmt;
	double now = now_wall();
	size_t i;
	bool ok = true;

	if (n == 0)
		return;
	argv_add(&a, xstrdup("scancel"));
	for (i = 0; i < n; i++) {
		argv_add(&a, xasprintf("%lld", (long long)jobs[i]));
		buf_printf(&list, "%s%lld", i > 0 ? " " : "", (long long)jobs[i]);
	}
	c = child_start(d, CMD_SCANCEL, a.v);
	slurm_argv_free(a.v);
	if (c == NULL) {
		buf_free(&list);
		return;
	}
	log_info("slurm: cancelling job%s %s (%s)", n == 1 ? "" : "s", list.data, why);
	buf_free(&list);
	if (server_write_begin(d->srv) != 0)
		return;
	for (i = 0; i < n && ok; i++) {
		if ((stmt = prepare(d, "UPDATE slurm_jobs SET cancel_at = ?2 WHERE id = ?1")) ==
		    NULL) {
			ok = false;
			break;
		}
		sqlite3_bind_int64(stmt, 1, rows[i]);
		sqlite3_bind_double(stmt, 2, now);
		ok = exec_write(d, stmt, "noting a cancel");
	}
	server_write_end(d->srv, ok);
}

static void
scancel_done(struct slurm_child *c)
{
	char *how, *err;

	if (child_ok(c))
		return;
	how = child_how(c);
	err = child_err_text(c);
	log_warn("slurm: scancel failed (%s)%s%s; trying again in %.0f s", how,
	    *err != '\0' ? ": " : "", err, SLURM_RECANCEL_S);
	free(err);
	free(how);
}

/* ---- the pools' jobs ---- */

/* A job not known to have ended, with what its worker is doing. */
struct job_row {
	int64_t		 row;
	int64_t		 job_id;
	enum slurm_phase phase;
	bool		 held;		/* queued but not eligible yet (BeginTime) */
	int64_t		 worker_id;
	bool		 took_work;
	double		 cancel_at;
	bool		 busy;		/* its worker holds an open attempt */
	bool		 stop;		/* ... of a trial cancelled (or pruned) since */
};

/* Loads the pool's live jobs (oldest first) into *rows. -1 on a store error (logged). */
static int
load_jobs(struct slurm_pool *sp, struct job_row **rows, size_t *n)
{
	sqlite3_stmt *stmt;
	struct job_row *r = NULL, *last;
	const char *tstate;
	int64_t row;
	size_t cap = 0;
	int rc;

	*n = 0;
	*rows = NULL;
	stmt = prepare(sp->d, "SELECT j.id, j.job_id, j.state, j.worker_id, j.took_work,"
	    " coalesce(j.cancel_at, 0), t.state, j.reason = 'BeginTime' FROM slurm_jobs j"
	    " LEFT JOIN attempts a ON a.worker_id = j.worker_id AND a.outcome IS NULL"
	    " LEFT JOIN trials t ON t.id = a.trial_id AND t.attempts = a.attempt"
	    " WHERE j.pool = ?1 AND j.ended_at IS NULL ORDER BY j.id");
	if (stmt == NULL)
		return -1;
	store_bind_text(stmt, 1, sp->p->name);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		row = sqlite3_column_int64(stmt, 0);
		tstate = (const char *)sqlite3_column_text(stmt, 6);
		last = *n > 0 ? &r[*n - 1] : NULL;
		if (last == NULL || last->row != row) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				r = xreallocarray(r, cap, sizeof *r);
			}
			last = &r[(*n)++];
			memset(last, 0, sizeof *last);
			last->row = row;
			last->job_id = sqlite3_column_int64(stmt, 1);
			last->phase = slurm_state_phase((const char *)sqlite3_column_text(stmt,
			    2));
			last->worker_id = sqlite3_column_int64(stmt, 3);
			last->took_work = sqlite3_column_int(stmt, 4) != 0;
			last->cancel_at = sqlite3_column_double(stmt, 5);
			last->held = last->phase == SLURM_QUEUED &&
			    sqlite3_column_int(stmt, 7) == 1;
		}
		if (tstate == NULL)
			continue;
		last->busy = true;
		if (strcmp(tstate, "cancelled") == 0 ||
		    (sp->p->once && strcmp(tstate, "pruned") == 0))
			last->stop = true;
	}
	sqlite3_reset(stmt);
	*rows = r;
	if (rc != SQLITE_DONE) {
		log_error("slurm: reading jobs: %s", sqlite3_errmsg(store_db(sp->d->srv->st)));
		return -1;
	}
	return 0;
}

/* Notes that a job's agent has had a trial in this run (a one-trial job then only exits). */
static void
note_took_work(struct slurm_pool *sp, const struct job_row *r)
{
	struct slurm_dispatch *d = sp->d;
	sqlite3_stmt *stmt;
	bool ok = false;

	if (server_write_begin(d->srv) != 0)
		return;
	stmt = prepare(d, "UPDATE slurm_jobs SET took_work = 1 WHERE id = ?1");
	if (stmt != NULL) {
		sqlite3_bind_int64(stmt, 1, r->row);
		ok = exec_write(d, stmt, "noting a job's trial");
	}
	server_write_end(d->srv, ok);
}

/* Submits or cancels for one pool, from its demand and its jobs. */
static void
pool_dispatch(struct slurm_pool *sp, double mono)
{
	struct slurm_dispatch *d = sp->d;
	struct job_row *rows = NULL;
	int64_t *stop_rows, *stop_jobs, *again_rows, *again_jobs;
	size_t n, i, nstop = 0, nagain = 0;
	long takers = 0, held = 0, running, wanted, startable, excess;
	double now = now_wall();
	char *cause = NULL;

	if (load_jobs(sp, &rows, &n) != 0) {
		free(rows);
		return;
	}
	stop_rows = xcalloc(n + 1, sizeof *stop_rows);
	stop_jobs = xcalloc(n + 1, sizeof *stop_jobs);
	again_rows = xcalloc(n + 1, sizeof *again_rows);
	again_jobs = xcalloc(n + 1, sizeof *again_jobs);
	for (i = 0; i < n; i++) {
		struct job_row *r = &rows[i];
		bool told = r->cancel_at > 0 && now - r->cancel_at < SLURM_RECANCEL_S;

		if (r->phase == SLURM_RUNNING && r->busy && !r->took_work) {
			note_took_work(sp, r);
			r->took_work = true;
		}
		if (r->cancel_at > 0 && !told) {
			again_rows[nagain] = r->row;
			again_jobs[nagain++] = r->job_id;
			r->cancel_at = now;
			continue;
		}
		if (r->stop && !told) {
			stop_rows[nstop] = r->row;
			stop_jobs[nstop++] = r->job_id;
			r->cancel_at = now;
			continue;
		}
		if (r->cancel_at > 0)
			continue;
		if (r->held)
			held++;
		else if (r->phase == SLURM_QUEUED)
			takers++;
		else if (r->phase == SLURM_RUNNING && !r->busy && !(sp->p->once &&
		    r->took_work))
			takers++;
	}
	cancel_jobs(d, stop_rows, stop_jobs, nstop, "their trials were cancelled");
	cancel_jobs(d, again_rows, again_jobs, nagain, "still there after an earlier scancel");
	if (server_pools_demand(d->srv, sp->p, &running, &wanted, &cause) != 0) {
		if (mono - sp->demand_error_at > 60) {
			log_error("slurm pool %s: %s", sp->p->name, cause);
			sp->demand_error_at = mono;
		}
		free(cause);
		goto out;
	}
	startable = wanted > running ? wanted - running : 0;
	if (!d->srv->draining && !sp->submitting && takers < startable &&
	    (long)n < sp->max_jobs && mono >= sp->retry_at)
		submit(sp);
	/* A held job (a requeued one, until its begin time) counts for nothing now: a new job
	 * takes the work if max_jobs allows, and the held one is then surplus. */
	excess = takers + held - startable;
	if (excess <= 0) {
		sp->excess_since = 0;
		goto out;
	}
	if (sp->excess_since == 0)
		sp->excess_since = mono;
	if (mono - sp->excess_since < SLURM_EXCESS_GRACE_S)
		goto out;
	/* Held jobs go first, then queued ones, the newest first (the oldest are nearest to a
	 * node), then running jobs whose agent has had nothing to do all that time. */
	nstop = 0;
	for (i = n; i > 0 && (long)nstop < excess; i--) {
		struct job_row *r = &rows[i - 1];

		if (r->held && r->cancel_at == 0) {
			stop_rows[nstop] = r->row;
			stop_jobs[nstop++] = r->job_id;
		}
	}
	for (i = n; i > 0 && (long)nstop < excess; i--) {
		struct job_row *r = &rows[i - 1];

		if (r->phase == SLURM_QUEUED && !r->held && r->cancel_at == 0) {
			stop_rows[nstop] = r->row;
			stop_jobs[nstop++] = r->job_id;
		}
	}
	for (i = n; i > 0 && (long)nstop < excess; i--) {
		struct job_row *r = &rows[i - 1];

		if (r->phase == SLURM_RUNNING && r->cancel_at == 0 && !r->busy &&
		    !(sp->p->once && r->took_work)) {
			stop_rows[nstop] = r->row;
			stop_jobs[nstop++] = r->job_id;
		}
	}
	cancel_jobs(d, stop_rows, stop_jobs, nstop, "more jobs than trials to run");
	sp->excess_since = 0;
out:
	free(stop_rows);
	free(stop_jobs);
	free(again_rows);
	free(again_jobs);
	free(rows);
}

/* ---- following ---- */

static void
poll_start(struct slurm_dispatch *d)
{
	struct argv_builder a = { NULL, 0 };
	struct buf list = { 0 };
	struct slurm_child *c;
	sqlite3_stmt *stmt;
	int64_t *jobs = NULL;
	size_t n = 0;
	int rc;

	if ((stmt = prepare(d, "SELECT id, job_id FROM slurm_jobs WHERE ended_at IS NULL"
	    " ORDER BY id")) == NULL)
		return;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		jobs = xreallocarray(jobs, 2 * (n + 1), sizeof *jobs);
		jobs[2 * n] = sqlite3_column_int64(stmt, 0);
		jobs[2 * n + 1] = sqlite3_column_int64(stmt, 1);
		buf_printf(&list, "%s%lld", n > 0 ? "," : "", (long long)jobs[2 * n + 1]);
		n++;
	}
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE || n == 0) {
		free(jobs);
		buf_free(&list);
		return;
	}
	argv_add(&a, xstrdup("squeue"));
	argv_add(&a, xstrdup("--noheader"));
	argv_add(&a, xstrdup("--states=all"));
	argv_add(&a, xstrdup("--format=%i|%T|%r|%N"));
	argv_add(&a, xasprintf("--jobs=%s", list.data));
	buf_free(&list);
	c = child_start(d, CMD_SQUEUE, a.v);
	slurm_argv_free(a.v);
	if (c == NULL) {
		free(jobs);
		return;
	}
	c->jobs = jobs;
	c->njobs = n;
	d->polling = true;
}

/* Whether the job's agent was ever heard from since the submission (which registered its
 * worker row). */
static bool
agent_was_heard(struct slurm_dispatch *d, int64_t row)
{
	sqlite3_stmt *stmt;
	bool heard = true;

	stmt = prepare(d, "SELECT w.last_seen > j.submitted_at FROM slurm_jobs j"
	    " JOIN workers w ON w.id = j.worker_id WHERE j.id = ?1");
	if (stmt == NULL)
		return true;
	sqlite3_bind_int64(stmt, 1, row);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		heard = sqlite3_column_int(stmt, 0) != 0;
	sqlite3_reset(stmt);
	return heard;
}

/* Applies what squeue said about one job we asked about (st NULL: not listed) in a snapshot
 * taken after snap (wall clock). A job seen queued after it was not remembers that
 * snapshot's time: an attempt its worker started before it cannot still be running (the job
 * was requeued). */
static void
apply_status(struct slurm_dispatch *d, int64_t row, int64_t job_id,
    const struct slurm_status *st, double snap)
{
	sqlite3_stmt *stmt;
	const char *state = st != NULL ? st->state : "GONE";
	enum slurm_phase was, phase = slurm_state_phase(state);
	struct slurm_pool *sp = NULL;
	char *old = NULL, *pool = NULL;
	double cancel_at;
	size_t i;
	bool ok = false;

	stmt = prepare(d, "SELECT state, pool, coalesce(cancel_at, 0) FROM slurm_jobs"
	    " WHERE id = ?1 AND ended_at IS NULL");
	if (stmt == NULL)
		return;
	sqlite3_bind_int64(stmt, 1, row);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return;
	}
	old = store_column_strdup(stmt, 0);
	pool = store_column_strdup(stmt, 1);
	cancel_at = sqlite3_column_double(stmt, 2);
	sqlite3_reset(stmt);
	for (i = 0; i < d->npools; i++) {
		if (strcmp(d->pools[i].p->name, pool) == 0)
			sp = &d->pools[i];
	}
	was = slurm_state_phase(old);
	if (server_write_begin(d->srv) != 0)
		goto out;
	/* Every SET reads the row as it was. */
	stmt = prepare(d, "UPDATE slurm_jobs SET state = ?2, reason = ?3,"
	    " node = coalesce(?4, node),"
	    " ended_at = CASE WHEN ?6 = 4 THEN ?5 ELSE ended_at END,"
	    " queued_seen_at = CASE WHEN ?6 = 0 AND (?8 = 0 OR queued_seen_at IS NULL) THEN ?7"
	    "   ELSE queued_seen_at END,"
	    " took_work = CASE WHEN ?6 = 0 THEN 0 ELSE took_work END,"
	    " run_started_at = CASE WHEN ?6 = 0 THEN NULL"
	    "   WHEN ?6 = 1 THEN coalesce(run_started_at, ?5) ELSE run_started_at END"
	    " WHERE id = ?1");
	if (stmt != NULL) {
		sqlite3_bind_int64(stmt, 1, row);
		store_bind_text(stmt, 2, state);
		store_bind_text(stmt, 3, st != NULL ? st->reason : "no longer listed by squeue");
		store_bind_text(stmt, 4, st != NULL ? st->node : NULL);
		sqlite3_bind_double(stmt, 5, now_wall());
		sqlite3_bind_int(stmt, 6, phase == SLURM_QUEUED ? 0 : phase == SLURM_RUNNING ? 1 :
		    phase == SLURM_ENDED ? 4 : 2);
		sqlite3_bind_double(stmt, 7, snap);
		sqlite3_bind_int(stmt, 8, was == SLURM_QUEUED);
		ok = exec_write(d, stmt, "updating a Slurm job");
	}
	server_write_end(d->srv, ok);
	if (!ok)
		goto out;
	if (strcmp(old, state) != 0)
		log_info("slurm job %lld (pool %s): %s -> %s%s%s%s%s", (long long)job_id, pool,
		    old, state, st != NULL && st->node != NULL && phase == SLURM_RUNNING ?
		    " on " : "", st != NULL && st->node != NULL && phase == SLURM_RUNNING ?
		    st->node : "", st != NULL && st->reason != NULL ? ", " : "",
		    st != NULL && st->reason != NULL ? st->reason : "");
	/* Cancelled by someone else is not a failed launch. */
	if (was != SLURM_ENDED && phase == SLURM_ENDED && sp != NULL && cancel_at == 0 &&
	    strcmp(state, "CANCELLED") != 0) {
		if (agent_was_heard(d, row))
			sp->failures = 0;
		else {
			char *what = xasprintf("job %lld ended (%s) before its agent reached the "
			    "scheduler at %s (see the job's output; check agent_path and "
			    "server_url)", (long long)job_id, state, server_url(sp));

			launch_failed(sp, what);
			free(what);
		}
	}
out:
	free(old);
	free(pool);
}

static void
squeue_done(struct slurm_child *c)
{
	struct slurm_dispatch *d = c->d;
	struct slurm_status *sts = NULL, st;
	size_t nst = 0, i, j;
	char *text = c->outb.data != NULL ? c->outb.data : "", *line, *next, *how, *err;
	double mono = now_mono();

	d->polling = false;
	d->poll_at = mono + d->poll_interval_s;
	if (!child_ok(c)) {
		/* Every job asked about is unknown to Slurm: they are all gone. Anything else
		 * (the controller down, a timeout) says nothing about the jobs. */
		if (c->errb.data == NULL || strstr(c->errb.data, "Invalid job id") == NULL ||
		    c->killed || c->overflow) {
			if (mono - d->squeue_warned_at > 60) {
				how = child_how(c);
				err = child_err_text(c);
				log_warn("slurm: squeue failed (%s)%s%s; the jobs' states are "
				    "unknown until it works again", how, *err != '\0' ? ": " : "",
				    err);
				free(err);
				free(how);
				d->squeue_warned_at = mono;
			}
			return;
		}
		text = "";
	}
	for (line = text; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next == '\n')
			*next++ = '\0';
		if (!slurm_parse_status(line, &st))
			continue;
		sts = xreallocarray(sts, nst + 1, sizeof *sts);
		sts[nst++] = st;
	}
	for (i = 0; i < c->njobs; i++) {
		for (j = 0; j < nst && sts[j].job_id != c->jobs[2 * i + 1]; j++)
			;
		apply_status(d, c->jobs[2 * i], c->jobs[2 * i + 1], j < nst ? &sts[j] : NULL,
		    c->started_wall);
	}
	for (i = 0; i < nst; i++)
		slurm_status_clear(&sts[i]);
	free(sts);
}

/* An open attempt whose job is gone or was requeued. */
struct orphan {
	int64_t	 trial_id;
	int64_t	 attempt;
	int64_t	 job_id;
	char	*state;
	bool	 ended;
};

/* Ends as lost the open attempts of jobs that ended or went back to the queue more than
 * SLURM_SETTLE_S ago: their agents are gone and will never report. */
static void
settle(struct slurm_dispatch *d)
{
	struct server *srv = d->srv;
	sqlite3_stmt *stmt;
	struct orphan *o = NULL;
	size_t n = 0, i;
	char *reason, *cause = NULL;
	int rc;

	stmt = prepare(d, "SELECT a.trial_id, a.attempt, j.job_id, j.state,"
	    " j.ended_at IS NOT NULL FROM attempts a JOIN slurm_jobs j ON j.worker_id = a.worker_id"
	    " WHERE a.outcome IS NULL AND ((j.ended_at IS NOT NULL AND j.ended_at <= ?1) OR"
	    " (j.ended_at IS NULL AND j.queued_seen_at <= ?1 AND a.started_at < j.queued_seen_at))"
	    " AND NOT EXISTS (SELECT 1 FROM slurm_jobs k WHERE k.worker_id = j.worker_id"
	    " AND k.id > j.id)");
	if (stmt == NULL)
		return;
	sqlite3_bind_double(stmt, 1, now_wall() - SLURM_SETTLE_S);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		o = xreallocarray(o, n + 1, sizeof *o);
		o[n].trial_id = sqlite3_column_int64(stmt, 0);
		o[n].attempt = sqlite3_column_int64(stmt, 1);
		o[n].job_id = sqlite3_column_int64(stmt, 2);
		o[n].state = store_column_strdup(stmt, 3);
		o[n].ended = sqlite3_column_int(stmt, 4) != 0;
		n++;
	}
	sqlite3_reset(stmt);
	for (i = 0; i < n; i++) {
		reason = o[i].ended ? xasprintf("Slurm job %lld ended (%s) without a finish report",
		    (long long)o[i].job_id, o[i].state) : xasprintf("Slurm job %lld went back to the "
		    "queue (requeued) without a finish report", (long long)o[i].job_id);
		if (server_write_begin(srv) == 0) {
			rc = trial_lose(srv->st, o[i].trial_id, o[i].attempt, reason, true,
			    now_wall(), &cause);
			server_write_end(srv, rc == TRIAL_OK);
			if (rc == TRIAL_OK)
				log_warn("trial %lld attempt %lld lost: %s", (long long)o[i].trial_id,
				    (long long)o[i].attempt, reason);
			else if (rc != TRIAL_ESTALE) {
				log_error("trial %lld: cannot end the attempt: %s",
				    (long long)o[i].trial_id, cause);
			}
			free(cause);
			cause = NULL;
		}
		free(reason);
		free(o[i].state);
	}
	free(o);
}

/* ---- the loop ---- */

static void
child_done(struct slurm_child *c)
{
	child_unlink(c);
	switch (c->kind) {
	case CMD_SBATCH:
		sbatch_done(c);
		break;
	case CMD_SQUEUE:
		squeue_done(c);
		break;
	default:
		scancel_done(c);
		break;
	}
	child_free(c);
}

/* Settles a command once it is reaped and its output fully read. */
static void
child_maybe_done(struct slurm_child *c)
{
	if (c->reaped && c->out == NULL && c->err == NULL)
		child_done(c);
}

/* Reaps the commands, each by its own PID, and kills those past their time. */
static void
reap(struct slurm_dispatch *d)
{
	struct slurm_child *c, *next;
	double mono = now_mono();
	pid_t r;
	int status;

	for (c = d->children; c != NULL; c = next) {
		next = c->next;
		if (c->reaped)
			continue;
		r = waitpid(c->pid, &status, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR)) {
			if (mono >= c->deadline && !c->killed) {
				log_warn("slurm: %s still running after %.0f s: killing it",
				    cmd_names[c->kind], SLURM_CMD_TIMEOUT_S);
				kill(-c->pid, SIGKILL);
				c->killed = true;
			}
			continue;
		}
		c->reaped = true;
		if (r == c->pid)
			c->status = status;
		child_maybe_done(c);
	}
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct slurm_dispatch *d = arg;
	double mono = now_mono();
	size_t i;

	(void)fd;
	(void)what;
	reap(d);
	if (!d->polling && mono >= d->poll_at) {
		d->poll_at = mono + d->poll_interval_s;
		poll_start(d);
	}
	settle(d);
	for (i = 0; i < d->npools; i++)
		pool_dispatch(&d->pools[i], mono);
}

/* ---- setup ---- */

/* Whether prog is an executable file in a directory of PATH. */
static bool
on_path(const char *prog)
{
	const char *path = getenv("PATH"), *p, *end;
	char *file;
	bool found = false;

	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; !found && *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = p + strcspn(p, ":");
		file = xasprintf("%.*s/%s", (int)(end - p), end == p ? "." : p, prog);
		found = access(file, X_OK) == 0;
		free(file);
	}
	return found;
}

/* http://HOST:PORT of the listening address; a wildcard address is this host's name. */
static char *
default_url(const struct server *srv)
{
	char *host = NULL, *cause = NULL, *url, name[256];
	int port;

	if (split_host_port(srv->address, &host, &port, &cause) != 0) {
		free(cause);
		return xasprintf("http://%s", srv->address);
	}
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		if (gethostname(name, sizeof name) != 0)
			snprintf(name, sizeof name, "localhost");
		name[sizeof name - 1] = '\0';
		url = xasprintf("http://%s:%d", name, port);
	} else if (strchr(host, ':') != NULL)
		url = xasprintf("http://[%s]:%d", host, port);
	else
		url = xasprintf("http://%s:%d", host, port);
	free(host);
	return url;
}

int
slurm_dispatch_create(struct server *srv, struct slurm_dispatch **out, char **cause)
{
	static const char *const progs[] = { "sbatch", "squeue", "scancel" };
	const struct config *cfg = srv->cfg;
	struct slurm_dispatch *d;
	struct timeval tv = { 0, (long)(SLURM_TICK_S * 1e6) };
	size_t i, n = 0;

	*out = NULL;
	for (i = 0; i < cfg->npools; i++) {
		if (cfg->pools[i].dispatch == DISPATCH_SLURM)
			n++;
	}
	if (n == 0)
		return 0;
	for (i = 0; i < sizeof progs / sizeof progs[0]; i++) {
		if (!on_path(progs[i])) {
			*cause = xasprintf("the config has a slurm pool but %s is not on PATH "
			    "(install Slurm's client commands)", progs[i]);
			return -1;
		}
	}
	d = xcalloc(1, sizeof *d);
	d->srv = srv;
	d->pools = xcalloc(n, sizeof *d->pools);
	d->default_url = default_url(srv);
	d->poll_interval_s = 0;
	for (i = 0; i < cfg->npools; i++) {
		const struct pool *p = &cfg->pools[i];
		struct slurm_pool *sp;

		if (p->dispatch != DISPATCH_SLURM)
			continue;
		sp = &d->pools[d->npools++];
		sp->d = d;
		sp->p = p;
		sp->max_jobs = p->max_jobs > 0 ? p->max_jobs : SLURM_MAX_JOBS_DEFAULT;
		if (d->poll_interval_s == 0 || p->poll_interval_s < d->poll_interval_s)
			d->poll_interval_s = p->poll_interval_s;
		log_info("slurm pool %s: up to %ld job%s%s%s, agents reach the scheduler at %s",
		    p->name, sp->max_jobs, sp->max_jobs == 1 ? "" : "s",
		    p->partition != NULL ? " in partition " : "",
		    p->partition != NULL ? p->partition : "", server_url(sp));
	}
	d->sigchld_ev = evsignal_new(srv->base, SIGCHLD, on_sigchld, d);
	d->timer_ev = event_new(srv->base, -1, EV_PERSIST, on_timer, d);
	if (d->sigchld_ev == NULL || d->timer_ev == NULL ||
	    event_add(d->sigchld_ev, NULL) != 0 || event_add(d->timer_ev, &tv) != 0) {
		*cause = xstrdup("cannot set up the Slurm dispatcher's events");
		slurm_dispatch_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void
slurm_dispatch_free(struct slurm_dispatch *d)
{
	struct slurm_child *c, *next;
	double until;

	if (d == NULL)
		return;
	if (d->timer_ev != NULL)
		event_free(d->timer_ev);
	if (d->sigchld_ev != NULL)
		event_free(d->sigchld_ev);
	for (c = d->children; c != NULL; c = c->next) {
		if (!c->reaped) {
			log_info("slurm: stopping %s (pid %ld)", cmd_names[c->kind], (long)c->pid);
			kill(-c->pid, SIGTERM);
		}
	}
	until = now_mono() + SHUTDOWN_WAIT_S;
	for (c = d->children; c != NULL; c = next) {
		next = c->next;
		while (!c->reaped) {
			pid_t r = waitpid(c->pid, NULL, WNOHANG);

			if (r == c->pid || (r < 0 && errno != EINTR))
				c->reaped = true;
			else if (now_mono() >= until) {
				kill(-c->pid, SIGKILL);
				waitpid(c->pid, NULL, 0);
				c->reaped = true;
			} else
				usleep(20000);
		}
		child_free(c);
	}
	free(d->pools);
	free(d->default_url);
	free(d);
}
