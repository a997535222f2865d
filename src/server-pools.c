/* The pools at run time: prices, the switching rules' decisions, leasing by the rules, and
 * scaling hooks.
 *
 * Prices. Each pool has a current price per GPU-hour, first its configured price_per_hour,
 * then whatever PUT /v1/pools/NAME/price or the pool's price_command (run every
 * price_interval_s) says. The pools table keeps it across restarts (while the configured
 * price stays the same) and every change is a "pool.price" event. An attempt records the
 * price in force when it was leased.
 *
 * Decisions. The rules decide per trial (its preemption count, its sweep's deadline), but
 * what a pool's workers may do in general is the decision for a trial never preempted of a
 * sweep without deadline, at the pool's spot price: a spot pool's own price, for the others
 * the cheapest spot pool's. That decision is evaluated each tick and on each price change;
 * a change (a window opening or closing, a price crossing a threshold) is logged and
 * recorded as a "rules.decision" event.
 *
 * Leasing. A worker of class C gets a trial only when the rules, now, with its pool's spot
 * price, the trial's preemption count and its sweep's deadline, allow C (`any` allows both
 * classes, `pause` neither). A worker without a class (no --pool) may take work only under
 * `any`, since the rules cannot steer it; when no pools are configured at all, every worker
 * is classless and the rules can only pause it. The filter is handed to trial_lease() as
 * ranges of preemption counts per sweep, so a lease stays a few index probes.
 *
 * Scaling. A pool's wanted size is the number of workers it could keep busy now: its running
 * attempts plus the pending trials the rules let its class take, capped by max_workers, else
 * max_jobs, else the slots of its hosts (one trial per worker). When it changes, serve runs
 * `scale_command POOL WANTED` (through /bin/sh, the two arguments appended safely), one at a
 * time per pool, with a timeout, never waiting on it: children are read through the event
 * loop and reaped by PID with WNOHANG from the tick (never waitpid(-1), which would steal the
 * children of `run` and the SSH dispatcher). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "spotsweep/cpu-place.h"
#include "spotsweep/log.h"
#include "spotsweep/rules.h"
#include "spotsweep/server-pools.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* How long a scale or price command may run before its process group is killed. */
#define SCALE_TIMEOUT_S		60.0
#define PRICE_TIMEOUT_S		30.0
/* A scale command that failed is run again (with the size wanted then) after this long. */
#define SCALE_RETRY_S		30.0
/* The output kept from a command (its tail), for the log. */
#define CHILD_OUTPUT_MAX	4096
/* Decisions and wanted sizes are re-evaluated at most this often (and on price changes). */
#define EVAL_INTERVAL_S		1.0
/* Pending trials counted towards a wanted size when a pool has no cap. */
#define WANTED_UNCAPPED_MAX	1000000

enum child_kind { CHILD_SCALE, CHILD_PRICE };

/* A scale or price command in flight. pid 0: none. */
struct pool_child {
	struct pool_rt	*rt;
	enum child_kind	 kind;
	pid_t		 pid;
	int		 fd;		/* read end of its stdout and stderr, -1 once at EOF */
	struct event	*ev;
	struct buf	 out;
	double		 started;	/* monotonic */
	double		 timeout;
	bool		 killed;
	long		 wanted;	/* CHILD_SCALE: the size asked for */
};

/* One configured pool at run time. */
struct pool_rt {
	struct server_pools	*sp;
	const struct pool	*p;
	double			 price;
	bool			 decided;
	struct rule_decision	 decision;
	long			 wanted;	/* -1: not computed yet */
	long			 reported;	/* last size given to scale_command, -1: none */
	long			 running;
	struct pool_child	 scale;
	struct pool_child	 pricer;
	double			 next_price_at;	/* monotonic */
	double			 next_scale_at;	/* monotonic: a failed scale command waits */
};

struct server_pools {
	struct server		*srv;
	struct pool_rt		*pools;
	size_t			 npools;
	/* The pseudo-pool of classless workers, whose decision is tracked when no pools are
	 * configured (rules then only pause or not). */
	struct pool_rt		 none;
	double			 last_eval;	/* monotonic, 0 = never */
	/* The lease filter of the lease in progress (trial_lease calls back into it). */
	struct rule_ctx		 lease_ctx;
	enum pool_class		 lease_cls;
	struct preempt_range	*ranges;	/* room for nrules + 1 */
};

/* The rules' spot price for a worker of pool p (NULL: none): its own price for a spot pool,
 * else the cheapest spot pool's; false when there is no spot pool. */
static bool
spot_price_for(const struct server_pools *sp, const struct pool *p, double *price)
{
	bool found = false;
	size_t i;

	for (i = 0; i < sp->npools; i++) {
		const struct pool_rt *rt = &sp->pools[i];

		if (rt->p == p && p->cls == POOL_SPOT) {
			*price = rt->price;
			return true;
		}
		if (rt->p->cls == POOL_SPOT && (!found || rt->price < *price)) {
			*price = rt->price;
			found = true;
		}
	}
	return found;
}

static void
rule_ctx_for(const struct server_pools *sp, const struct pool *p, double now,
    struct rule_ctx *ctx)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->now = now;
	ctx->tz = sp->srv->cfg->tz;
	ctx->has_spot_price = spot_price_for(sp, p, &ctx->spot_price);
}

static enum pool_class
class_of(const struct pool *p)
{
	return p != NULL ? p->cls : POOL_CLASS_MAX;
}

/* Records an event on its own (or inside the open batch); failures are only logged: an
 * event lost is not worth failing the work it describes. */
static void
record_event(struct server_pools *sp, const char *kind, const char *detail)
{
	struct store *st = sp->srv->st;
	char *cause = NULL;
	bool own;
	int rc;

	if (store_op_begin(st, &own, &cause) == 0) {
		rc = store_event(st, 0, 0, 0, kind, detail, &cause);
		if (store_op_end(st, own, rc == 0, rc == 0 ? &cause : NULL) != 0)
			rc = -1;
		if (rc == 0)
			return;
	}
	log_error("recording a %s event: %s", kind, cause ? cause : "error");
	free(cause);
}

/* ---- decisions ---- */

/* Re-evaluates each pool's decision; changes are logged and recorded. */
static void
evaluate_decisions(struct server_pools *sp, const char *why)
{
	const struct config *cfg = sp->srv->cfg;
	struct pool_rt *list = sp->npools > 0 ? sp->pools : &sp->none;
	size_t n = sp->npools > 0 ? sp->npools : 1, i;
	double now = now_wall();
	struct rule_ctx ctx;
	struct rule_decision d;
	struct buf detail = { 0 };

	if (cfg->nrules == 0)
		return;
	for (i = 0; i < n; i++) {
		struct pool_rt *rt = &list[i];
		const char *name = rt->p != NULL ? rt->p->name : "(no pool)";

		rule_ctx_for(sp, rt->p, now, &ctx);
		rules_decide(cfg->rules, cfg->nrules, &ctx, &d);
		if (rt->decided && d.use == rt->decision.use && d.index == rt->decision.index)
			continue;
		buf_reset(&detail);
		if (rt->decided)
			buf_printf(&detail, "%s -> ", rule_use_name(rt->decision.use));
		buf_adds(&detail, rule_use_name(d.use));
		if (d.index >= 0)
			buf_printf(&detail, " by rule \"%s\"", d.name);
		else
			buf_adds(&detail, " (no rule holds)");
		if (why != NULL)
			buf_printf(&detail, ", after %s", why);
		log_info("rules: pool %s (%s): %s", name,
		    rt->p ? pool_class_name(rt->p->cls) : "no class", detail.data);
		buf_reset(&detail);
		buf_adds(&detail, "{\"pool\":");
		json_add_string(&detail, name);
		buf_adds(&detail, ",\"use\":");
		json_add_string(&detail, rule_use_name(d.use));
		buf_adds(&detail, ",\"rule\":");
		json_add_string(&detail, d.name);
		buf_printf(&detail, ",\"index\":%d,\"previous\":", d.index);
		if (rt->decided)
			json_add_string(&detail, rule_use_name(rt->decision.use));
		else
			buf_adds(&detail, "null");
		if (ctx.has_spot_price) {
			buf_adds(&detail, ",\"spot_price\":");
			buf_add_double(&detail, ctx.spot_price);
		}
		buf_addc(&detail, '}');
		record_event(sp, "rules.decision", detail.data);
		rt->decided = true;
		rt->decision = d;
	}
	buf_free(&detail);
}

/* ---- the lease filter ---- */

static const struct preempt_range *
lease_allowed(void *arg, int64_t sweep_id, double deadline, size_t *n)
{
	struct server_pools *sp = arg;
	const struct config *cfg = sp->srv->cfg;
	struct rule_ctx ctx = sp->lease_ctx;

	(void)sweep_id;
	ctx.deadline = deadline;
	*n = rules_allowed_ranges(cfg->rules, cfg->nrules, &ctx, sp->lease_cls, cfg->npools > 0,
	    sp->ranges);
	return sp->ranges;
}

static struct pool_rt *
pool_rt_of(struct server_pools *sp, const struct pool *p)
{
	size_t i;

	for (i = 0; p != NULL && i < sp->npools; i++) {
		if (sp->pools[i].p == p)
			return &sp->pools[i];
	}
	return NULL;
}

void
server_pools_lease(struct server *srv, const struct pool *p, struct lease_request *lr)
{
	struct server_pools *sp = srv->pools;
	struct pool_rt *rt;

	if (sp == NULL)
		return;
	if ((rt = pool_rt_of(sp, p)) != NULL)
		lr->price_per_hour = rt->price;
	if (srv->cfg->nrules == 0)
		return;
	rule_ctx_for(sp, p, lr->now, &sp->lease_ctx);
	sp->lease_cls = class_of(p);
	lr->allowed = lease_allowed;
	lr->allowed_arg = sp;
}

/* ---- prices ---- */

/* Makes price the pool's current price: the store, an event, the log, the decisions. */
static int
set_price(struct pool_rt *rt, double price, const char *source, char **cause)
{
	struct server_pools *sp = rt->sp;
	struct store *st = sp->srv->st;
	sqlite3_stmt *stmt;
	struct buf detail = { 0 };
	double previous = rt->price;
	bool own;
	int rc = -1;

	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	stmt = store_stmt(st, "UPDATE pools SET price_per_hour = ?2, price_at = ?3,"
	    " price_source = ?4 WHERE name = ?1", cause);
	if (stmt == NULL)
		goto out;
	store_bind_text(stmt, 1, rt->p->name);
	sqlite3_bind_double(stmt, 2, price);
	sqlite3_bind_double(stmt, 3, now_wall());
	store_bind_text(stmt, 4, source);
	if (store_step_done(st, stmt, "updating a pool's price", cause) != 0)
		goto out;
	buf_adds(&detail, "{\"pool\":");
	json_add_string(&detail, rt->p->name);
	buf_adds(&detail, ",\"price_per_hour\":");
	buf_add_double(&detail, price);
	buf_adds(&detail, ",\"previous\":");
	buf_add_double(&detail, previous);
	buf_adds(&detail, ",\"source\":");
	json_add_string(&detail, source);
	buf_addc(&detail, '}');
	if (store_event(st, 0, 0, 0, "pool.price", detail.data, cause) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&detail);
	if (store_op_end(st, own, rc == 0, rc == 0 ? cause : NULL) != 0)
		rc = -1;
	if (rc != 0)
		return -1;
	rt->price = price;
	if (price != previous)
		log_info("pool %s: price $%g -> $%g per GPU-hour (%s)", rt->p->name, previous, price,
		    source);
	evaluate_decisions(sp, "a price change");
	return 0;
}

/* Reads a price from a command's output: its last non-empty line, a number >= 0 (a leading
 * '$' allowed). */
static bool
parse_price_output(const char *out, double *price)
{
	const char *end = out + strlen(out), *line;
	char *s;
	bool ok;

	while (end > out && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
	    end[-1] == '\t'))
		end--;
	for (line = end; line > out && line[-1] != '\n'; line--)
		;
	while (line < end && (*line == ' ' || *line == '\t' || *line == '$'))
		line++;
	if (line == end)
		return false;
	s = xstrndup(line, (size_t)(end - line));
	ok = safe_strtod(s, price) && isfinite(*price) && *price >= 0;
	free(s);
	return ok;
}

/* ---- children ---- */

static void
child_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_child *c = arg;
	char chunk[1024];
	ssize_t n;

	(void)what;
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n > 0) {
			buf_add(&c->out, chunk, (size_t)n);
			if (c->out.len > CHILD_OUTPUT_MAX) {
				/* Keep the tail: the end of a script's output says how it ended. */
				memmove(c->out.data, c->out.data + c->out.len - CHILD_OUTPUT_MAX / 2,
				    CHILD_OUTPUT_MAX / 2);
				c->out.len = CHILD_OUTPUT_MAX / 2;
				c->out.data[c->out.len] = '\0';
			}
			continue;
		}
		if (n < 0 && (errno == EINTR))
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break;	/* EOF or an error: nothing more to read */
	}
	event_del(c->ev);
	event_free(c->ev);
	c->ev = NULL;
	close(c->fd);
	c->fd = -1;
}

/* Starts /bin/sh -c 'CMD "$@"' NAME ARG1 [ARG2] with stdout and stderr into a pipe, in its
 * own process group. -1 with cause. */
static int
child_spawn(struct server_pools *sp, struct pool_child *c, const char *cmd, const char *name,
    const char *arg1, const char *arg2, double timeout, char **cause)
{
	char *script = xasprintf("%s \"$@\"", cmd), wanted[32];
	int fds[2], devnull;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		free(script);
		return -1;
	}
	snprintf(wanted, sizeof wanted, "%ld", c->wanted);
	pid = fork();
	if (pid < 0) {
		*cause = xasprintf("fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(script);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		cpu_place_restore_child();
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		closefrom(3);
		setenv("SPOTSWEEP_POOL", c->rt->p->name, 1);
		setenv("SPOTSWEEP_POOL_CLASS", pool_class_name(c->rt->p->cls), 1);
		if (c->kind == CHILD_SCALE)
			setenv("SPOTSWEEP_WANTED", wanted, 1);
		if (arg2 != NULL)
			execl("/bin/sh", "sh", "-c", script, name, arg1, arg2, (char *)NULL);
		else
			execl("/bin/sh", "sh", "-c", script, name, arg1, (char *)NULL);
		_exit(127);
	}
	free(script);
	close(fds[1]);
	/* Also here, in case the child has not yet run its own setpgid when we kill it. */
	setpgid(pid, pid);
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	c->pid = pid;
	c->fd = fds[0];
	c->killed = false;
	c->started = now_mono();
	c->timeout = timeout;
	buf_reset(&c->out);
	c->ev = event_new(sp->srv->base, c->fd, EV_READ | EV_PERSIST, child_read_cb, c);
	event_add(c->ev, NULL);
	return 0;
}

/* The last line of a child's output, escaped for the log (empty when none). */
static char *
child_last_line(const struct pool_child *c)
{
	struct buf b = { 0 };
	char *text = xstrdup(c->out.data ? c->out.data : ""), *end, *line;

	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	line = strrchr(text, '\n');
	buf_add_printable(&b, line ? line + 1 : text);
	free(text);
	return buf_steal(&b);
}

static void scale_maybe(struct pool_rt *rt);

/* A child has ended (status < 0: unknown, someone else reaped it). */
static void
child_done(struct pool_child *c, int status)
{
	struct pool_rt *rt = c->rt;
	struct buf detail = { 0 }, how = { 0 };
	char *cause = NULL, *last;
	double price;
	bool ok;

	if (c->fd >= 0)
		child_read_cb(c->fd, EV_READ, c);	/* drain what is left */
	if (c->ev != NULL) {
		event_del(c->ev);
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->pid = 0;
	if (c->killed)
		buf_printf(&how, "timed out after %g s", c->timeout);
	else if (status < 0)
		buf_adds(&how, "ended (exit status unknown)");
	else if (WIFEXITED(status))
		buf_printf(&how, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		buf_printf(&how, "killed by signal %d", WTERMSIG(status));
	else
		buf_adds(&how, "ended");
	ok = !c->killed && (status < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0));
	last = child_last_line(c);
	if (c->kind == CHILD_PRICE) {
		if (ok && parse_price_output(c->out.data ? c->out.data : "", &price)) {
			if (set_price(rt, price, "price_command", &cause) != 0) {
				log_error("pool %s: %s", rt->p->name, cause);
				free(cause);
			}
		} else
			log_warn("pool %s: price command %s without a price%s%s", rt->p->name,
			    how.data, *last ? ": " : "", last);
	} else {
		if (ok)
			log_info("pool %s: scale command (%ld workers) %s%s%s", rt->p->name,
			    c->wanted, how.data, *last ? ": " : "", last);
		else
			log_warn("pool %s: scale command (%ld workers) %s%s%s", rt->p->name,
			    c->wanted, how.data, *last ? ": " : "", last);
		buf_adds(&detail, "{\"pool\":");
		json_add_string(&detail, rt->p->name);
		buf_printf(&detail, ",\"wanted\":%ld,\"ok\":%s,\"outcome\":", c->wanted,
		    ok ? "true" : "false");
		json_add_string(&detail, how.data);
		buf_adds(&detail, ",\"output\":");
		json_add_string(&detail, last);
		buf_addc(&detail, '}');
		record_event(rt->sp, "pool.scale", detail.data);
		if (ok)
			rt->reported = c->wanted;
		else
			rt->next_scale_at = now_mono() + SCALE_RETRY_S;
	}
	free(last);
	buf_free(&detail);
	buf_free(&how);
	if (c->kind == CHILD_SCALE)
		scale_maybe(rt);
}

/* Reaps a child if it has ended, kills it if its time is up. */
static void
child_check(struct pool_child *c)
{
	int status;
	pid_t r;

	if (c->pid <= 0)
		return;
	r = waitpid(c->pid, &status, WNOHANG);
	if (r == c->pid) {
		child_done(c, status);
		return;
	}
	if (r < 0 && errno == ECHILD) {
		/* Reaped by another waitpid(-1) of this process: it ended, how is unknown. */
		child_done(c, -1);
		return;
	}
	if (!c->killed && now_mono() - c->started > c->timeout) {
		if (c->fd < 0) {
			/* Its output is closed: it may be gone and its PID someone else's by now
			 * (a waitpid(-1) elsewhere), so it is forgotten, not killed. */
			log_warn("pool %s: %s command closed its output and was not reaped within "
			    "%g s; no longer waiting for it", c->rt->p->name,
			    c->kind == CHILD_SCALE ? "scale" : "price", c->timeout);
			child_done(c, -1);
			return;
		}
		log_warn("pool %s: %s command still running after %g s: killing it",
		    c->rt->p->name, c->kind == CHILD_SCALE ? "scale" : "price", c->timeout);
		kill(-c->pid, SIGKILL);
		c->killed = true;
	}
}

/* ---- wanted sizes and scaling ---- */

static long
pool_cap(const struct pool *p)
{
	long slots = 0;
	size_t i;

	if (p->max_workers > 0)
		return p->max_workers;
	if (p->max_jobs > 0)
		return p->max_jobs;
	for (i = 0; i < p->nhosts; i++)
		slots += p->hosts[i].slots;
	return slots > 0 ? slots : WANTED_UNCAPPED_MAX;
}

/* Counts the pending trials of a sweep whose preemption count lies in the ranges, through
 * sweeps.n_pending and the small trials_requeued index (never the whole backlog). */
static int
count_allowed(struct store *st, int64_t sweep_id, int64_t n_pending,
    const struct preempt_range *r, size_t nr, int64_t *count, char **cause)
{
	sqlite3_stmt *stmt;
	int64_t requeued, in;
	size_t i;
	int rc;

	*count = 0;
	if (nr == 0)
		return 0;
	if (nr == 1 && r[0].lo <= 0 && r[0].hi < 0) {
		*count = n_pending;
		return 0;
	}
	stmt = store_stmt(st, "SELECT count(*) FROM trials INDEXED BY trials_requeued"
	    " WHERE sweep_id = ?1 AND state = 'pending' AND attempts > 0 AND preemptions >= ?2"
	    " AND preemptions < ?3", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	sqlite3_bind_int64(stmt, 2, 0);
	sqlite3_bind_int64(stmt, 3, INT64_MAX);
	if ((rc = store_step_row(st, stmt, "counting requeued trials", cause)) < 0)
		return -1;
	requeued = rc == 1 ? sqlite3_column_int64(stmt, 0) : 0;
	sqlite3_reset(stmt);
	if (r[0].lo <= 0)
		*count += n_pending - requeued;	/* the never-started ones: 0 preemptions */
	for (i = 0; i < nr; i++) {
		sqlite3_bind_int64(stmt, 1, sweep_id);
		sqlite3_bind_int64(stmt, 2, r[i].lo);
		sqlite3_bind_int64(stmt, 3, r[i].hi < 0 ? INT64_MAX : r[i].hi);
		if ((rc = store_step_row(st, stmt, "counting requeued trials", cause)) < 0)
			return -1;
		in = rc == 1 ? sqlite3_column_int64(stmt, 0) : 0;
		sqlite3_reset(stmt);
		*count += in;
	}
	return 0;
}

/* The pool's wanted size now: running attempts on it plus the pending trials the rules let
 * its class take, capped. -1 with cause. */
static long
wanted_size(struct server_pools *sp, struct pool_rt *rt, double now, char **cause)
{
	const struct config *cfg = sp->srv->cfg;
	struct store *st = sp->srv->st;
	sqlite3_stmt *stmt;
	struct rule_ctx ctx;
	const struct preempt_range *ranges = NULL;
	struct preempt_range all = { 0, -1 };
	long cap = pool_cap(rt->p), total;
	int64_t n;
	size_t nr = 1;
	int rc;

	/* A walk of the open attempts only (a partial index), however long the history. */
	stmt = store_stmt(st, "SELECT count(*) FROM attempts INDEXED BY attempts_open"
	    " WHERE outcome IS NULL AND pool = ?", cause);
	if (stmt == NULL)
		return -1;
	store_bind_text(stmt, 1, rt->p->name);
	if ((rc = store_step_row(st, stmt, "counting running attempts", cause)) < 0)
		return -1;
	rt->running = rc == 1 ? (long)sqlite3_column_int64(stmt, 0) : 0;
	sqlite3_reset(stmt);
	total = rt->running;
	rule_ctx_for(sp, rt->p, now, &ctx);
	stmt = store_stmt(st, "SELECT id, deadline, n_pending FROM sweeps WHERE state = 'active'"
	    " AND n_pending > 0 AND (deadline IS NULL OR deadline > ?) ORDER BY id", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_double(stmt, 1, now);
	while (total < cap && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t sweep_id = sqlite3_column_int64(stmt, 0);

		ranges = &all;
		nr = 1;
		if (cfg->nrules > 0) {
			ctx.deadline = sqlite3_column_double(stmt, 1);
			nr = rules_allowed_ranges(cfg->rules, cfg->nrules, &ctx, rt->p->cls, true,
			    sp->ranges);
			ranges = sp->ranges;
		}
		if (count_allowed(st, sweep_id, sqlite3_column_int64(stmt, 2), ranges, nr, &n,
		    cause) != 0) {
			sqlite3_reset(stmt);
			return -1;
		}
		total += (long)(n < cap ? n : cap);
	}
	sqlite3_reset(stmt);
	return total < cap ? total : cap;
}

int
server_pools_demand(struct server *srv, const struct pool *p, long *running, long *wanted,
    char **cause)
{
	struct server_pools *sp = srv->pools;
	struct pool_rt *rt;
	long w;

	if (sp == NULL || (rt = pool_rt_of(sp, p)) == NULL) {
		*cause = xasprintf("pool %s is not configured", p->name);
		return -1;
	}
	if ((w = wanted_size(sp, rt, now_wall(), cause)) < 0)
		return -1;
	*running = rt->running;
	*wanted = w;
	return 0;
}

/* Runs the scale command when the wanted size differs from the last one it was given and
 * none is running. */
static void
scale_maybe(struct pool_rt *rt)
{
	char arg[32], *cause = NULL;

	if (rt->p->scale_command == NULL || rt->scale.pid > 0 || rt->wanted < 0 ||
	    rt->wanted == rt->reported || now_mono() < rt->next_scale_at)
		return;
	rt->scale.wanted = rt->wanted;
	snprintf(arg, sizeof arg, "%ld", rt->wanted);
	if (child_spawn(rt->sp, &rt->scale, rt->p->scale_command, "spotsweep-scale",
	    rt->p->name, arg, SCALE_TIMEOUT_S, &cause) != 0) {
		log_error("pool %s: cannot run the scale command: %s", rt->p->name, cause);
		free(cause);
		rt->next_scale_at = now_mono() + SCALE_RETRY_S;
		return;
	}
	log_info("pool %s: wanted %ld worker%s (was %ld): running the scale command",
	    rt->p->name, rt->wanted, rt->wanted == 1 ? "" : "s", rt->reported);
}

static void
price_maybe(struct pool_rt *rt, double mono)
{
	char *cause = NULL;

	if (rt->p->price_command == NULL || rt->pricer.pid > 0 || mono < rt->next_price_at)
		return;
	rt->next_price_at = mono + rt->p->price_interval_s;
	if (child_spawn(rt->sp, &rt->pricer, rt->p->price_command, "spotsweep-price",
	    rt->p->name, NULL, PRICE_TIMEOUT_S < rt->p->price_interval_s ? PRICE_TIMEOUT_S :
	    rt->p->price_interval_s, &cause) != 0) {
		log_error("pool %s: cannot run the price command: %s", rt->p->name, cause);
		free(cause);
	}
}

void
server_pools_tick(struct server *srv)
{
	struct server_pools *sp = srv->pools;
	double mono = now_mono(), now = now_wall();
	char *cause = NULL;
	size_t i;
	long w;

	if (sp == NULL)
		return;
	for (i = 0; i < sp->npools; i++) {
		child_check(&sp->pools[i].scale);
		child_check(&sp->pools[i].pricer);
		price_maybe(&sp->pools[i], mono);
	}
	if (sp->last_eval != 0 && mono - sp->last_eval < EVAL_INTERVAL_S)
		return;
	sp->last_eval = mono;
	evaluate_decisions(sp, NULL);
	for (i = 0; i < sp->npools; i++) {
		struct pool_rt *rt = &sp->pools[i];

		if ((w = wanted_size(sp, rt, now, &cause)) < 0) {
			log_error("pool %s: wanted size: %s", rt->p->name, cause);
			free(cause);
			cause = NULL;
			continue;
		}
		if (w != rt->wanted)
			log_debug("pool %s: wanted size %ld -> %ld", rt->p->name, rt->wanted, w);
		rt->wanted = w;
		scale_maybe(rt);
	}
}

/* ---- setup ---- */

/* Writes the config's pools into the store, keeping each current price while its configured
 * price is unchanged, and loads the current prices. */
static int
record_pools(struct server_pools *sp, char **cause)
{
	struct store *st = sp->srv->st;
	sqlite3_stmt *stmt;
	double now = now_wall();
	bool own;
	size_t i;
	int rc = -1, found;

	if (store_op_begin(st, &own, cause) != 0)
		return -1;
	/* Pools no longer configured go: cost reads on-demand prices from here. */
	for (i = 0; i < sp->npools; i++) {
		struct pool_rt *rt = &sp->pools[i];

		stmt = store_stmt(st, "SELECT configured_price, price_per_hour FROM pools"
		    " WHERE name = ?", cause);
		if (stmt == NULL)
			goto out;
		store_bind_text(stmt, 1, rt->p->name);
		if ((found = store_step_row(st, stmt, "reading pools", cause)) < 0)
			goto out;
		rt->price = rt->p->price_per_hour;
		if (found == 1) {
			if (sqlite3_column_double(stmt, 0) == rt->p->price_per_hour)
				rt->price = sqlite3_column_double(stmt, 1);
			sqlite3_reset(stmt);
		}
	}
	stmt = store_stmt(st, "DELETE FROM pools", cause);
	if (stmt == NULL || store_step_done(st, stmt, "clearing pools", cause) != 0)
		goto out;
	for (i = 0; i < sp->npools; i++) {
		struct pool_rt *rt = &sp->pools[i];
		bool kept = rt->price != rt->p->price_per_hour;

		stmt = store_stmt(st, "INSERT INTO pools (name, class, gpus_per_worker,"
		    " configured_price, price_per_hour, price_at, price_source)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", cause);
		if (stmt == NULL)
			goto out;
		store_bind_text(stmt, 1, rt->p->name);
		store_bind_text(stmt, 2, pool_class_name(rt->p->cls));
		sqlite3_bind_int(stmt, 3, rt->p->gpus_per_worker);
		sqlite3_bind_double(stmt, 4, rt->p->price_per_hour);
		sqlite3_bind_double(stmt, 5, rt->price);
		sqlite3_bind_double(stmt, 6, now);
		store_bind_text(stmt, 7, kept ? "kept" : "config");
		if (store_step_done(st, stmt, "recording a pool", cause) != 0)
			goto out;
		if (kept)
			log_info("pool %s: keeping the price set earlier, $%g per GPU-hour",
			    rt->p->name, rt->price);
	}
	rc = 0;
out:
	if (store_op_end(st, own, rc == 0, rc == 0 ? cause : NULL) != 0)
		rc = -1;
	return rc;
}

int
server_pools_create(struct server *srv, char **cause)
{
	const struct config *cfg = srv->cfg;
	struct server_pools *sp = xcalloc(1, sizeof *sp);
	size_t i;

	sp->srv = srv;
	sp->npools = cfg->npools;
	sp->pools = xcalloc(cfg->npools + 1, sizeof *sp->pools);
	sp->ranges = xcalloc(cfg->nrules + 1, sizeof *sp->ranges);
	sp->none.sp = sp;
	for (i = 0; i < sp->npools; i++) {
		struct pool_rt *rt = &sp->pools[i];

		rt->sp = sp;
		rt->p = &cfg->pools[i];
		rt->price = rt->p->price_per_hour;
		rt->wanted = -1;
		rt->reported = -1;
		rt->scale.rt = rt;
		rt->scale.kind = CHILD_SCALE;
		rt->scale.fd = -1;
		rt->pricer.rt = rt;
		rt->pricer.kind = CHILD_PRICE;
		rt->pricer.fd = -1;
	}
	srv->pools = sp;
	if (record_pools(sp, cause) != 0) {
		server_pools_free(srv);
		return -1;
	}
	evaluate_decisions(sp, NULL);
	return 0;
}

static void
child_stop(struct pool_child *c)
{
	int status;

	if (c->ev != NULL) {
		event_del(c->ev);
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->pid > 0) {
		kill(-c->pid, SIGTERM);
		waitpid(c->pid, &status, WNOHANG);
		c->pid = 0;
	}
	buf_free(&c->out);
}

void
server_pools_free(struct server *srv)
{
	struct server_pools *sp = srv->pools;
	size_t i;

	if (sp == NULL)
		return;
	for (i = 0; i < sp->npools; i++) {
		child_stop(&sp->pools[i].scale);
		child_stop(&sp->pools[i].pricer);
	}
	free(sp->ranges);
	free(sp->pools);
	free(sp);
	srv->pools = NULL;
}

/* ---- HTTP ---- */

static json_t *
decision_json(const struct pool_rt *rt)
{
	if (!rt->decided)
		return json_pack("{s:s,s:s,s:i}", "use", "any", "rule", "(none)", "index", -1);
	return json_pack("{s:s,s:s,s:i}", "use", rule_use_name(rt->decision.use), "rule",
	    rt->decision.name, "index", rt->decision.index);
}

static json_t *
pool_json(const struct pool_rt *rt)
{
	return json_pack("{s:s,s:s,s:f,s:f,s:i,s:o,s:I,s:I}", "name", rt->p->name,
	    "class", pool_class_name(rt->p->cls), "price_per_hour", rt->price,
	    "configured_price", rt->p->price_per_hour, "gpus_per_worker", rt->p->gpus_per_worker,
	    "decision", decision_json(rt), "wanted", (json_int_t)rt->wanted,
	    "running", (json_int_t)rt->running);
}

void
api_pools(struct req_ctx *ctx)
{
	struct server_pools *sp = ctx->srv->pools;
	json_t *arr = json_array();
	size_t i;

	for (i = 0; sp != NULL && i < sp->npools; i++)
		json_array_append_new(arr, pool_json(&sp->pools[i]));
	reply_json(ctx, 200, arr);
}

void
api_pool_price(struct req_ctx *ctx)
{
	struct server_pools *sp = ctx->srv->pools;
	char *name = evhttp_uridecode(ctx->name, 0, NULL), *cause = NULL;
	json_t *v = json_object_get(ctx->body, "price_per_hour");
	struct pool_rt *rt = NULL;
	struct buf esc = { 0 };
	size_t i;

	for (i = 0; sp != NULL && name != NULL && i < sp->npools; i++) {
		if (strcmp(sp->pools[i].p->name, name) == 0)
			rt = &sp->pools[i];
	}
	if (rt == NULL) {
		buf_add_printable(&esc, name != NULL ? name : ctx->name);
		reply_error(ctx, 404, "no pool \"%s\"", esc.data);
		goto out;
	}
	if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0) {
		reply_error(ctx, 400, "field \"price_per_hour\": expected a number of at least 0");
		goto out;
	}
	if (set_price(rt, json_number_value(v), "api", &cause) != 0) {
		log_error("pool %s: %s", rt->p->name, cause);
		free(cause);
		reply_error(ctx, 500, "the store failed");
		goto out;
	}
	reply_json(ctx, 200, pool_json(rt));
out:
	buf_free(&esc);
	free(name);
}

bool
server_pools_view(const struct server *srv, size_t i, struct server_pool_view *out)
{
	const struct server_pools *sp = srv->pools;
	const struct pool_rt *rt;

	if (sp == NULL)
		return false;
	if (sp->npools > 0) {
		if (i >= sp->npools)
			return false;
		rt = &sp->pools[i];
	} else {
		if (i > 0 || srv->cfg->nrules == 0)
			return false;
		rt = &sp->none;
	}
	memset(out, 0, sizeof *out);
	out->name = rt->p != NULL ? rt->p->name : "(no pool)";
	out->cls = class_of(rt->p);
	out->price = rt->p != NULL ? rt->price : 0;
	if (rt->decided)
		out->decision = rt->decision;
	else {
		out->decision.use = RULE_USE_ANY;
		out->decision.index = -1;
		out->decision.name = "(none)";
	}
	out->wanted = rt->p != NULL ? rt->wanted : -1;
	out->running = rt->running;
	return true;
}
