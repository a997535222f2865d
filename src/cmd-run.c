/* `spotsweep run SPEC`: the whole job on one machine. Submits the spec (or resumes the stored
 * sweep with the same name and identical spec), serves on a free loopback port, starts N local
 * agents, shows progress, and when every trial has ended writes the CSV and a summary.
 * Ctrl-C stops the agents (their trials are preempted and checkpointed), and a later `run`
 * of the same spec carries on where this one stopped. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "spotsweep/cmd.h"
#include "spotsweep/cpu-place.h"
#include "spotsweep/config.h"
#include "spotsweep/cost.h"
#include "spotsweep/csv.h"
#include "spotsweep/log.h"
#include "spotsweep/server.h"
#include "spotsweep/spec.h"
#include "spotsweep/status-view.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define RUN_MAX_AGENTS 256
/* An agent that dies while work remains is restarted, but not forever. */
#define RUN_MAX_RESPAWNS 16

struct run_state;

struct run_agent {
	pid_t			 pid;
	int			 index;		/* local-N */
	struct run_state	*rs;
	struct event		*respawn;	/* a replacement's start, when pending */
};

struct run_state {
	struct event_base	*base;
	struct server		*srv;
	struct store		*st;
	int64_t			 sweep_id;
	const char		*agent_path;
	const char		*workdir;
	const char		*pool;
	struct run_agent	 agents[RUN_MAX_AGENTS];
	int			 nagents;
	int			 respawns;
	int			 last_index;	/* of the newest agent started */
	int			 pending_replacements;
	bool			 stopping;	/* agents told to stop */
	bool			 interrupted;	/* by the user */
	bool			 tty;
	double			 started;
	double			 last_plain;
	int64_t			 done_at_start;
	char			 last_line[256];
	struct event		*stop_timer;
	const struct config	*cfg;
};

/* The agent binary that sits next to this one. */
static char *
agent_binary(void)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0)
		return xstrdup("spotsweep-agent");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return xstrdup("spotsweep-agent");
	*slash = '\0';
	return xasprintf("%s/spotsweep-agent", self);
}

static pid_t
spawn_agent(struct run_state *rs, int index)
{
	char url[160], name[64], logpath[PATH_MAX];
	const char *argv[16];
	int argc = 0, fd;
	pid_t pid;

	snprintf(url, sizeof url, "http://%s", server_address(rs->srv));
	snprintf(name, sizeof name, "local-%d", index);
	snprintf(logpath, sizeof logpath, "%s/agent-%d.log", rs->workdir, index);
	argv[argc++] = rs->agent_path;
	argv[argc++] = "--server";
	argv[argc++] = url;
	argv[argc++] = "--name";
	argv[argc++] = name;
	argv[argc++] = "--workdir";
	argv[argc++] = rs->workdir;
	if (rs->pool != NULL) {
		argv[argc++] = "--pool";
		argv[argc++] = rs->pool;
	}
	argv[argc] = NULL;
	pid = fork();
	if (pid < 0) {
		log_error("cannot start an agent: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* The agent's own log goes to a file so that the progress line stays readable;
		 * its own process group keeps a terminal's Ctrl-C from reaching it twice. */
		cpu_place_restore_child();
		setpgid(0, 0);
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, STDIN_FILENO);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "spotsweep: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static void
stop_agents(struct run_state *rs)
{
	int i;

	if (rs->stopping)
		return;
	rs->stopping = true;
	server_drain(rs->srv);
	for (i = 0; i < rs->nagents; i++) {
		if (rs->agents[i].pid > 0)
			kill(rs->agents[i].pid, SIGTERM);
	}
}

static bool
agents_alive(const struct run_state *rs)
{
	int i;

	for (i = 0; i < rs->nagents; i++) {
		if (rs->agents[i].pid > 0)
			return true;
	}
	return false;
}

static void
format_progress(struct run_state *rs, const struct sweep_summary *s, char *out, size_t len)
{
	int64_t done = s->by_state[TRIAL_SUCCEEDED] + s->by_state[TRIAL_PRUNED] +
	    s->by_state[TRIAL_ABANDONED] + s->by_state[TRIAL_CANCELLED];
	double elapsed = now_wall() - rs->started, rate;
	char best[96] = "", eta[32] = "";
	char v[32];

	if (s->has_best) {
		format_double(v, s->best_value);
		snprintf(best, sizeof best, "  best %s=%s (trial %lld)",
		    s->objective ? s->objective : "value", v, (long long)s->best_trial);
	}
	rate = (double)(done - rs->done_at_start) / (elapsed > 0.001 ? elapsed : 0.001);
	if (rate > 0 && done < s->trials)
		snprintf(eta, sizeof eta, "  eta %.0fs", (double)(s->trials - done) / rate);
	snprintf(out, len, "[%lld/%lld] running %lld  pending %lld  succeeded %lld  "
	    "abandoned %lld%s%s", (long long)done, (long long)s->trials,
	    (long long)s->by_state[TRIAL_RUNNING], (long long)s->by_state[TRIAL_PENDING],
	    (long long)s->by_state[TRIAL_SUCCEEDED], (long long)s->by_state[TRIAL_ABANDONED],
	    best, eta);
}

static void
on_progress(evutil_socket_t fd, short what, void *arg)
{
	struct run_state *rs = arg;
	struct sweep_summary s;
	char line[256], *cause = NULL;

	(void)fd;
	(void)what;
	if (store_sweep_summary(rs->st, rs->sweep_id, &s, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		return;
	}
	format_progress(rs, &s, line, sizeof line);
	if (rs->tty) {
		fprintf(stderr, "\r\033[K%s", line);
		fflush(stderr);
	} else if (strcmp(line, rs->last_line) != 0 && now_wall() - rs->last_plain >= 2) {
		fprintf(stderr, "%s\n", line);
		rs->last_plain = now_wall();
		snprintf(rs->last_line, sizeof rs->last_line, "%s", line);
	}
	/* A bayes sweep is idle between proposals: it ends when the store says it is done. */
	if (!rs->stopping && s.by_state[TRIAL_PENDING] == 0 && s.by_state[TRIAL_RUNNING] == 0 &&
	    (s.state == NULL || strcmp(s.state, "active") != 0))
		stop_agents(rs);
	sweep_summary_clear(&s);
}

static void
on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct run_state *rs = arg;
	int i;

	(void)fd;
	(void)what;
	for (i = 0; i < rs->nagents; i++) {
		if (rs->agents[i].pid > 0) {
			log_warn("agent %d did not stop in time: killing it", rs->agents[i].index);
			kill(rs->agents[i].pid, SIGKILL);
		}
	}
}

/* A replacement machine takes a while to come up; meanwhile the other agents pick up the
 * interrupted trials, which go ahead of never-started ones. */
#define RUN_REPLACEMENT_DELAY_S 3

static void
start_replacement(evutil_socket_t fd, short what, void *arg)
{
	struct run_agent *a = arg;
	struct run_state *rs = a->rs;

	(void)fd;
	(void)what;
	rs->pending_replacements--;
	if (!rs->stopping) {
		a->index = ++rs->last_index;
		a->pid = spawn_agent(rs, a->index);
	}
}

static void
schedule_replacement(struct run_state *rs, int slot)
{
	struct run_agent *a = &rs->agents[slot];
	struct timeval tv = { RUN_REPLACEMENT_DELAY_S, 0 };

	if (a->respawn == NULL)
		a->respawn = evtimer_new(rs->base, start_replacement, a);
	rs->pending_replacements++;
	event_add(a->respawn, &tv);
}

static void
on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct run_state *rs = arg;
	int status, i;
	pid_t pid;

	(void)fd;
	(void)what;
	/* Only our own agents, by PID: the scheduler's ssh dispatcher reaps its children. */
	for (i = 0; i < rs->nagents; i++) {
		pid = rs->agents[i].pid;
		if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
			continue;
		rs->agents[i].pid = 0;
		if (rs->stopping)
			continue;
		/* Like a spot machine taken back: its trials were checkpointed and requeued,
		 * and a replacement joins, as an autoscaler would add one. */
		fprintf(stderr, "%sspotsweep: agent local-%d %s; a replacement joins in %d s\n",
		    rs->tty ? "\r\033[K" : "", rs->agents[i].index,
		    WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "stopped" :
		    "exited abnormally", RUN_REPLACEMENT_DELAY_S);
		if (rs->respawns++ < RUN_MAX_RESPAWNS)
			schedule_replacement(rs, i);
	}
	if (!agents_alive(rs) && (rs->stopping || rs->pending_replacements == 0)) {
		if (!rs->stopping)
			log_error("every agent has exited; stopping");
		event_base_loopexit(rs->base, NULL);
	}
}

static void
on_interrupt(evutil_socket_t sig, short what, void *arg)
{
	struct run_state *rs = arg;
	struct timeval tv = { 40, 0 };

	(void)what;
	if (rs->interrupted) {
		on_stop_timeout(-1, 0, rs);
		return;
	}
	rs->interrupted = true;
	fprintf(stderr, "%sspotsweep: %s: stopping the agents; running trials are checkpointed "
	    "and resume on the next run\n", rs->tty ? "\n" : "", sig == SIGINT ? "interrupted" :
	    "terminated");
	stop_agents(rs);
	event_add(rs->stop_timer, &tv);
}

/* The on-demand price to compare spend with: the config's cheapest on-demand pool, else
 * what the store knows. Negative when unknown. */
static double
on_demand_price(struct run_state *rs)
{
	const char *source;
	double price = -1, p;
	bool found = false;
	char *cause = NULL;
	size_t i;

	for (i = 0; rs->cfg != NULL && i < rs->cfg->npools; i++) {
		if (rs->cfg->pools[i].cls == POOL_ON_DEMAND &&
		    (price < 0 || rs->cfg->pools[i].price_per_hour < price))
			price = rs->cfg->pools[i].price_per_hour;
	}
	if (price >= 0)
		return price;
	if (store_on_demand_price(rs->st, rs->sweep_id, &p, &found, &source, &cause) != 0) {
		free(cause);
		return -1;
	}
	return found ? p : -1;
}

/* Interruptions, the compute they made us redo, and what the sweep cost. */
static void
print_cost(struct run_state *rs)
{
	struct sweep_cost c;
	sqlite3_stmt *stmt;
	char *cause = NULL;
	int64_t trials = 0;

	if (store_sweep_cost(rs->st, rs->sweep_id, on_demand_price(rs), &c, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return;
	}
	stmt = store_stmt(rs->st, "SELECT count(*) FROM trials WHERE sweep_id = ?"
	    " AND preemptions > 0", &cause);
	if (stmt == NULL)
		free(cause);
	else {
		sqlite3_bind_int64(stmt, 1, rs->sweep_id);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			trials = sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	printf("interruptions: %lld trial%s interrupted (%lld attempt%s preempted or lost); "
	    "compute redone %.1f s of %.1f s (%.2f%%)\n", (long long)trials,
	    trials == 1 ? "" : "s", (long long)c.interrupted_attempts,
	    c.interrupted_attempts == 1 ? "" : "s", c.redone_runtime_s, c.total_runtime_s,
	    c.total_runtime_s > 0 ? 100.0 * c.redone_runtime_s / c.total_runtime_s : 0.0);
	printf("cost: $%.4f for %.4f GPU-hours (spot $%.4f, on-demand $%.4f)", c.cost,
	    c.gpu_hours, c.by_class[COST_SPOT].cost, c.by_class[COST_ON_DEMAND].cost);
	if (c.has_on_demand_price && c.on_demand_cost > 0)
		printf("; all on demand: $%.4f, saved %.1f%%", c.on_demand_cost,
		    100.0 * c.savings_fraction);
	printf("\n");
}

/* Prints the closing summary; returns the exit code. */
static int
print_summary(struct run_state *rs, const char *csv_path)
{
	struct sweep_summary s;
	char *cause = NULL, v[32];
	int64_t ok, bad;

	if (store_sweep_summary(rs->st, rs->sweep_id, &s, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return EXIT_RUNTIME;
	}
	ok = s.by_state[TRIAL_SUCCEEDED] + s.by_state[TRIAL_PRUNED];
	bad = s.trials - ok;
	printf("sweep %lld (%s): %lld trials, %lld succeeded, %lld pruned, %lld abandoned, "
	    "%lld cancelled, %lld unfinished\n", (long long)s.id, s.name, (long long)s.trials,
	    (long long)s.by_state[TRIAL_SUCCEEDED], (long long)s.by_state[TRIAL_PRUNED],
	    (long long)s.by_state[TRIAL_ABANDONED], (long long)s.by_state[TRIAL_CANCELLED],
	    (long long)(s.by_state[TRIAL_PENDING] + s.by_state[TRIAL_RUNNING]));
	if (s.has_best) {
		format_double(v, s.best_value);
		printf("best: trial %lld %s=%s params %s\n", (long long)s.best_trial,
		    s.objective ? s.objective : "value", v, s.best_params ? s.best_params : "{}");
	}
	print_cost(rs);
	if (csv_path != NULL)
		printf("results: %s\n", csv_path);
	sweep_summary_clear(&s);
	return bad == 0 ? EXIT_OK : EXIT_RUNTIME;
}

static int
write_csv(struct store *st, int64_t sweep_id, const char *path)
{
	char *tmp = xasprintf("%s.tmp", path), *cause = NULL;
	FILE *f = fopen(tmp, "w");
	int rc = -1;

	if (f == NULL) {
		errorx("cannot write %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (csv_export_sweep(st, sweep_id, f, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		fclose(f);
		unlink(tmp);
	} else if (fclose(f) != 0 || rename(tmp, path) != 0) {
		errorx("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	} else
		rc = 0;
	free(tmp);
	return rc;
}

static int
cmd_run_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	struct run_state rs;
	struct spec *spec = NULL;
	struct config *cfg = NULL;
	struct event *progress = NULL, *sigint = NULL, *sigterm = NULL, *sigchld = NULL;
	const char *opt_agents = cmd_opt(self, args, "agents"), *csv_opt = cmd_opt(self, args, "output");
	char *cause = NULL, *agent_path = NULL, *csv_path = NULL;
	struct timeval tv = { 0, 250000 };
	uint64_t ntrials = 0;
	long nagents = 2;
	int rc = EXIT_RUNTIME, i;

	memset(&rs, 0, sizeof rs);
	/* The progress line says what the scheduler's info lines would; keep them out of it. */
	if (getenv("SPOTSWEEP_LOG") == NULL)
		log_threshold = LOG_WARN;
	if (opt_agents != NULL && (!safe_strtol(opt_agents, &nagents) || nagents < 1 ||
	    nagents > RUN_MAX_AGENTS)) {
		errorx("run: --agents: expected a number from 1 to %d", RUN_MAX_AGENTS);
		return EXIT_USAGE;
	}
	if (spec_load(args->argv[0], &spec, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	if (cmd_flag(self, args, "wandb-shim"))
		spec->wandb_shim = true;
	if (serve_load_config(cmd_opt(self, args, "config"), &cfg) != 0) {
		spec_free(spec);
		return EXIT_USAGE;
	}
	rs.workdir = cmd_opt(self, args, "workdir") ? cmd_opt(self, args, "workdir") :
	    "spotsweep-work";
	if (mkdir(rs.workdir, 0755) != 0 && errno != EEXIST) {
		errorx("cannot create %s: %s", rs.workdir, strerror(errno));
		goto out;
	}
	if ((rs.st = cmd_open_store(args)) == NULL)
		goto out;
	if (store_set_sync(rs.st, STORE_SYNC_FULL, &cause) != 0 ||
	    store_sweep_find(rs.st, spec->name, spec->text, &rs.sweep_id, &cause) != 0)
		goto fail;
	if (rs.sweep_id != 0)
		fprintf(stderr, "spotsweep: resuming sweep %lld (%s)\n", (long long)rs.sweep_id,
		    spec->name);
	else {
		if (store_sweep_create(rs.st, spec, args->argv[0], &rs.sweep_id, &ntrials,
		    &cause) != 0)
			goto fail;
		fprintf(stderr, "spotsweep: sweep %lld (%s): %llu trials\n", (long long)rs.sweep_id,
		    spec->name, (unsigned long long)ntrials);
	}
	for (i = 0; i < (int)cfg->npools; i++) {
		if (cfg->pools[i].dispatch == DISPATCH_HTTP) {
			rs.pool = cfg->pools[i].name;
			break;
		}
	}
	rs.cfg = cfg;
	rs.base = serve_event_base();
	if (server_create(rs.base, rs.st, cfg, "127.0.0.1:0", NULL, &rs.srv, &cause) != 0)
		goto fail;
	fprintf(stderr, "spotsweep: scheduler on http://%s, %ld agent%s, work in %s\n",
	    server_address(rs.srv), nagents, nagents == 1 ? "" : "s", rs.workdir);
	fprintf(stderr, "spotsweep: dashboard on http://%s/ while the sweep runs\n",
	    server_address(rs.srv));
	agent_path = agent_binary();
	rs.agent_path = agent_path;
	/* the redrawn progress line is for terminals that take escape codes, as status's */
	rs.tty = status_use_colour(isatty(STDERR_FILENO), getenv("NO_COLOR"), getenv("TERM"));
	rs.started = now_wall();
	sigchld = evsignal_new(rs.base, SIGCHLD, on_sigchld, &rs);
	event_add(sigchld, NULL);
	for (i = 0; i < nagents; i++) {
		rs.agents[i].rs = &rs;
		rs.agents[i].index = ++rs.last_index;
		rs.agents[i].pid = spawn_agent(&rs, rs.agents[i].index);
		rs.nagents++;
	}
	sigint = evsignal_new(rs.base, SIGINT, on_interrupt, &rs);
	sigterm = evsignal_new(rs.base, SIGTERM, on_interrupt, &rs);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	rs.stop_timer = evtimer_new(rs.base, on_stop_timeout, &rs);
	progress = event_new(rs.base, -1, EV_PERSIST, on_progress, &rs);
	event_add(progress, &tv);
	event_base_dispatch(rs.base);
	if (rs.tty)
		fputc('\n', stderr);
	on_progress(-1, 0, &rs);
	if (rs.tty)
		fputc('\n', stderr);
	csv_path = csv_opt ? xstrdup(csv_opt) : xasprintf("sweep-%lld-results.csv",
	    (long long)rs.sweep_id);
	if (write_csv(rs.st, rs.sweep_id, csv_path) != 0) {
		free(csv_path);
		csv_path = NULL;
	}
	rc = print_summary(&rs, csv_path);
	if (csv_path == NULL)
		rc = EXIT_RUNTIME;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	for (i = 0; i < rs.nagents; i++) {
		if (rs.agents[i].pid > 0) {
			kill(rs.agents[i].pid, SIGKILL);
			waitpid(rs.agents[i].pid, NULL, 0);
		}
		if (rs.agents[i].respawn != NULL)
			event_free(rs.agents[i].respawn);
	}
	if (progress != NULL)
		event_free(progress);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigchld != NULL)
		event_free(sigchld);
	if (rs.stop_timer != NULL)
		event_free(rs.stop_timer);
	server_free(rs.srv);
	if (rs.base != NULL)
		event_base_free(rs.base);
	store_close(rs.st);
	config_free(cfg);
	spec_free(spec);
	free(agent_path);
	free(csv_path);
	return rc;
}

const struct cmd_entry cmd_run_entry = {
	.name = "run",
	.usage = "SPEC [--agents N] [--config FILE] [-o results.csv] [--workdir DIR] [--wandb-shim]",
	.help = "Runs a whole sweep on this machine: submits the spec (or resumes the stored sweep\n"
	    "of the same name and spec), serves on a free loopback port, starts N local agents\n"
	    "(default 2), shows progress, writes the CSV (default sweep-ID-results.csv) and\n"
	    "prints the best trial. Exit 0 when every trial succeeded or was pruned, else 1.\n"
	    "Ctrl-C stops cleanly; running it again resumes. SPEC is JSON or YAML (a W&B\n"
	    "sweep.yaml runs as it is); --wandb-shim gives the trials a stand-in wandb module.",
	.opts = {
		{ "agents", 'n', true },
		{ "config", 'c', true },
		{ "output", 'o', true },
		{ "workdir", 'w', true },
		{ "wandb-shim", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 1,
	.max_args = 1,
	.exec = cmd_run_exec,
};
