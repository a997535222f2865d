/* One attempt on the agent (see agent-trial.h): from the lease to the finish report. It owns
 * the child process and its process group, the output pipe, the per-attempt log file
 * WORKDIR/logs/sweep-S/trial-T/attempt-A.log, the checkpoint directory
 * WORKDIR/ckpt/sweep-S/trial-T, and the attempt's outbox. The child only calls
 * async-signal-safe functions between fork and exec; everything it needs is built before. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "spotsweep/agent-command.h"
#include "spotsweep/agent-trial.h"
#include "spotsweep/agent-wandb.h"
#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

extern char **environ;

/* Output read per call, so one chatty trial cannot starve the others. */
#define READ_BUDGET	(1024 * 1024)

/* Creates the directory and its parents. */
int
agent_mkdirs(const char *path, char **cause)
{
	char		*p = xstrdup(path), *s;
	struct stat	 sb;
	int		 rc = -1;

	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		if (s[-1] != '/') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST) {
				*cause = xasprintf("cannot create directory %s: %s", p,
				    strerror(errno));
				goto out;
			}
			*s = c;
		}
		if (*s == '\0')
			break;
	}
	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		*cause = xasprintf("%s exists and is not a directory", path);
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

static void
end_with_error(struct agent_trial *t, char *error)
{
	t->start_error = error;
	t->phase = AGENT_TRIAL_ENDED;
	t->end_mono = t->start_mono;
}

/* The trial's copy of a metric name; the reader bounds how many distinct names exist. */
static const char *
intern_name(struct agent_trial *t, const char *name)
{
	size_t	i;

	for (i = 0; i < t->nnames; i++) {
		if (strcmp(t->names[i], name) == 0)
			return t->names[i];
	}
	t->names = xreallocarray(t->names, t->nnames + 1, sizeof *t->names);
	t->names[t->nnames] = xstrdup(name);
	return t->names[t->nnames++];
}

static void
add_point(struct agent_trial *t, const char *name, int64_t step, double value)
{
	struct agent_point	*p;
	size_t			 drop;

	if (t->npoints >= AGENT_MAX_POINTS && !t->inflight) {
		/* The scheduler has been unreachable for long: keep the newer half. */
		drop = t->npoints / 2;
		if (t->points_dropped == 0)
			log_warn("%s: over %d metric points unsent; dropping the oldest",
			    t->label, AGENT_MAX_POINTS);
		agent_trial_points_sent(t, drop);
		t->points_dropped += drop;
	}
	if (t->points_off + t->npoints == t->points_cap) {
		if (t->points_off > 0 && t->points_off >= t->points_cap / 2) {
			memmove(t->points, t->points + t->points_off,
			    t->npoints * sizeof *t->points);
			t->points_off = 0;
		} else {
			t->points_cap = t->points_cap == 0 ? 64 : t->points_cap * 2;
			t->points = xreallocarray(t->points, t->points_cap,
			    sizeof *t->points);
		}
	}
	p = &t->points[t->points_off + t->npoints++];
	p->name = intern_name(t, name);
	p->step = step;
	p->value = value;
	p->at = now_wall();
}

static void
add_checkpoint(struct agent_trial *t, const char *path, size_t len, int64_t step)
{
	struct stat	 sb;
	char		*abs, cwd[PATH_MAX];
	size_t		 i;

	if (strlen(path) != len) {
		log_warn("%s: checkpoint path with a NUL byte ignored", t->label);
		return;
	}
	if (path[0] == '/')
		abs = xstrdup(path);
	else if (getcwd(cwd, sizeof cwd) != NULL)
		abs = xasprintf("%s/%s", cwd, path);
	else {
		log_warn("%s: cannot resolve checkpoint %s: %s", t->label, path,
		    strerror(errno));
		return;
	}
	if (stat(abs, &sb) != 0) {
		log_warn("%s: checkpoint %s reported but %s; not recorded", t->label, abs,
		    errno == ENOENT ? "it does not exist" : strerror(errno));
		free(abs);
		return;
	}
	for (i = 0; i < t->nckq; i++) {
		if (strcmp(t->ckq[i].path, abs) == 0) {
			/* Reported again before the first report went out: once is enough. */
			if (step > t->ckq[i].step)
				t->ckq[i].step = step;
			free(abs);
			return;
		}
	}
	if (t->nckq >= AGENT_MAX_PENDING_CHECKPOINTS) {
		log_warn("%s: checkpoint %s not recorded: %d checkpoints already wait for the "
		    "scheduler", t->label, abs, AGENT_MAX_PENDING_CHECKPOINTS);
		free(abs);
		return;
	}
	if (t->nckq == t->ckq_cap) {
		t->ckq_cap = t->ckq_cap == 0 ? 4 : t->ckq_cap * 2;
		t->ckq = xreallocarray(t->ckq, t->ckq_cap, sizeof *t->ckq);
	}
	t->ckq[t->nckq].path = abs;
	t->ckq[t->nckq].step = step;
	t->nckq++;
	log_debug("%s: checkpoint %s (step %" PRId64 ")", t->label, abs, step);
}

static void
on_output_event(const struct agent_event *ev, void *arg)
{
	struct agent_trial	*t = arg;

	switch (ev->kind) {
	case AGENT_EV_METRIC:
		add_point(t, ev->name, ev->step, ev->value);
		break;
	case AGENT_EV_CHECKPOINT:
		add_checkpoint(t, ev->path, ev->path_len, ev->step);
		break;
	case AGENT_EV_FATAL:
		if (t->fatal_match != NULL)
			break;
		t->fatal_match = xstrdup(ev->name);
		log_warn("%s: output matched fatal pattern \"%s\"; stopping it", t->label,
		    ev->name);
		agent_trial_stop(t, AGENT_STOP_FATAL, AGENT_FATAL_GRACE_S, NULL, now_mono());
		break;
	case AGENT_EV_OVERLONG:
		if (!t->overlong_logged)
			log_warn("%s: an output line over %d bytes was cut (%" PRId64
			    " bytes not read for metrics; the log file has them all)",
			    t->label, AGENT_OUTPUT_MAX_LINE, ev->step);
		t->overlong_logged = true;
		break;
	case AGENT_EV_PREEMPTING:
		/* a failed exit after this is a preemption, as W&B's mark_preempting means */
		t->marked_preempting = true;
		break;
	default:
		break;
	}
}

/* Compiles the metric and fatal patterns of the lease into the output reader. */
static int
setup_output(struct agent_trial *t, const json_t *lease, char **cause)
{
	struct agent_output_pattern	*pats;
	const char			**fatal, *name;
	json_t				*metric, *metrics, *fp, *v;
	size_t				 npats = 0, nfatal = 0, i, cap;
	int				 rc = 0;

	metric = json_object_get(lease, "metric");
	metrics = json_object_get(lease, "metrics");
	fp = json_object_get(lease, "fatal_patterns");
	cap = 1 + (json_is_object(metrics) ? json_object_size(metrics) : 0);
	pats = xcalloc(cap, sizeof *pats);
	if (json_is_object(metric) &&
	    json_is_string(json_object_get(metric, "name")) &&
	    json_is_string(json_object_get(metric, "pattern"))) {
		pats[npats].name = json_string_value(json_object_get(metric, "name"));
		pats[npats].pattern = json_string_value(json_object_get(metric, "pattern"));
		npats++;
	}
	if (json_is_object(metrics)) {
		json_object_foreach(metrics, name, v) {
			if (!json_is_string(v))
				continue;
			for (i = 0; i < npats; i++) {
				if (strcmp(pats[i].name, name) == 0)
					break;
			}
			if (i < npats)
				continue;
			pats[npats].name = name;
			pats[npats].pattern = json_string_value(v);
			npats++;
		}
	}
	fatal = xcalloc(json_is_array(fp) ? json_array_size(fp) + 1 : 1, sizeof *fatal);
	if (json_is_array(fp)) {
		json_array_foreach(fp, i, v) {
			if (json_is_string(v))
				fatal[nfatal++] = json_string_value(v);
		}
	}
	t->out = agent_output_create(pats, npats, fatal, nfatal, 0, on_output_event, t, cause);
	if (t->out == NULL)
		rc = -1;
	free(fatal);
	free(pats);
	return rc;
}

static bool
json_int_field(const json_t *o, const char *key, int64_t *out)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return true;
}

static double
json_num_field(const json_t *o, const char *key, double dflt)
{
	json_t	*v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

/* Builds an attempt from a lease; see agent-trial.h for the failure modes. */
struct agent_trial *
agent_trial_create(const json_t *lease, const char *workdir, double default_heartbeat_s,
    char **cause)
{
	struct agent_trial		*t;
	struct agent_placeholders	 ph;
	json_t				*v;
	char				*dir, *err = NULL;
	size_t				 i;
	int64_t				 keep;

	t = xcalloc(1, sizeof *t);
	t->out_fd = -1;
	t->log_fd = -1;
	t->start_mono = now_mono();
	t->start_wall = now_wall();
	t->backoff.min = 0.5;
	t->backoff.max = 30;
	if (!json_int_field(lease, "trial_id", &t->trial_id) ||
	    !json_int_field(lease, "attempt", &t->attempt)) {
		*cause = xstrdup("lease without an integer trial_id and attempt");
		free(t);
		return NULL;
	}
	if (!json_int_field(lease, "sweep_id", &t->sweep_id))
		t->sweep_id = 0;
	t->label = xasprintf("trial %" PRId64 " attempt %" PRId64, t->trial_id, t->attempt);
	t->phase = AGENT_TRIAL_RUNNING;
	v = json_object_get(lease, "lease_secret");
	if (json_is_string(v))
		t->lease_secret = xstrdup(json_string_value(v));

	v = json_object_get(lease, "params");
	t->params = json_is_object(v) ? json_incref(v) : json_object();
	v = json_object_get(lease, "resume_from");
	t->resume_from = xstrdup(json_is_string(v) ? json_string_value(v) : "");
	v = json_object_get(lease, "checkpoints");
	if (json_is_array(v)) {
		t->kept = xcalloc(json_array_size(v) + 1, sizeof *t->kept);
		for (i = 0; i < json_array_size(v); i++) {
			if (json_is_string(json_array_get(v, i)))
				t->kept[t->nkept++] = xstrdup(json_string_value(
				    json_array_get(v, i)));
		}
	}
	if (json_int_field(lease, "checkpoint_keep", &keep) && keep > 0)
		t->checkpoint_keep = keep > LONG_MAX ? LONG_MAX : (long)keep;
	t->timeout_s = json_num_field(lease, "timeout_s", 0);
	if (!(t->timeout_s > 0))
		t->timeout_s = 0;
	t->heartbeat_s = json_num_field(lease, "heartbeat_s", default_heartbeat_s);
	if (!(t->heartbeat_s >= 0.1))
		t->heartbeat_s = default_heartbeat_s;
	t->next_heartbeat = t->start_mono + t->heartbeat_s;
	/* A report retried less often than the heartbeat interval could miss a scheduler that
	 * is back only briefly and let the lease run out (it is three heartbeats long). */
	if (t->backoff.max > t->heartbeat_s)
		t->backoff.max = t->heartbeat_s;
	if (t->backoff.min > t->backoff.max)
		t->backoff.min = t->backoff.max;

	t->ckpt_dir = xasprintf("%s/ckpt/sweep-%" PRId64 "/trial-%" PRId64, workdir,
	    t->sweep_id, t->trial_id);
	dir = xasprintf("%s/logs/sweep-%" PRId64 "/trial-%" PRId64, workdir, t->sweep_id,
	    t->trial_id);
	t->log_path = xasprintf("%s/attempt-%" PRId64 ".log", dir, t->attempt);
	if (agent_mkdirs(t->ckpt_dir, &err) != 0 || agent_mkdirs(dir, &err) != 0) {
		free(dir);
		end_with_error(t, err);
		return t;
	}
	free(dir);
	t->log_fd = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (t->log_fd < 0) {
		end_with_error(t, xasprintf("cannot open log file %s: %s", t->log_path,
		    strerror(errno)));
		return t;
	}
	if (setup_output(t, lease, &err) != 0) {
		end_with_error(t, err);
		return t;
	}
	v = json_object_get(lease, "command");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		end_with_error(t, xstrdup("lease without a command"));
		return t;
	}
	ph.trial_id = t->trial_id;
	ph.attempt = t->attempt;
	ph.checkpoint_dir = t->ckpt_dir;
	ph.resume_from = t->resume_from;
	if (agent_wandb_setup(t, lease, &ph, &err) != 0) {
		end_with_error(t, err);
		return t;
	}
	t->command = agent_command_expand(json_string_value(v), t->params, &ph, &err);
	if (t->command == NULL)
		end_with_error(t, err);
	return t;
}

/* Frees the attempt; its process must have been reaped. NULL is fine. */
void
agent_trial_free(struct agent_trial *t)
{
	size_t	i;

	if (t == NULL)
		return;
	free(t->lease_secret);
	for (i = 0; i < t->nkept; i++)
		free(t->kept[i]);
	free(t->kept);
	for (i = 0; i < t->nckq; i++)
		free(t->ckq[i].path);
	free(t->ckq);
	free(t->points);
	for (i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->fatal_match);
	free(t->stop_reason);
	free(t->start_error);
	agent_output_free(t->out);
	if (t->out_fd >= 0)
		close(t->out_fd);
	if (t->log_fd >= 0)
		close(t->log_fd);
	free(t->resume_from);
	free(t->log_path);
	free(t->attempt_dir);
	free(t->args_file);
	free(t->ckpt_dir);
	free(t->command);
	json_decref(t->params);
	free(t->label);
	free(t);
}

/* Whether an inherited variable must not reach the trial: ours are set afresh. */
static bool
env_is_ours(const char *e)
{
	static const char *const names[] = {
		"SPOTSWEEP_SWEEP_ID=", "SPOTSWEEP_TRIAL_ID=", "SPOTSWEEP_ATTEMPT=",
		"SPOTSWEEP_PARAMS=", "SPOTSWEEP_CHECKPOINT_DIR=", "SPOTSWEEP_RESUME_FROM=",
		"SPOTSWEEP_CHECKPOINTS=", "SPOTSWEEP_PARAM_",
	};
	size_t	i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strncmp(e, names[i], strlen(names[i])) == 0)
			return true;
	}
	return false;
}

struct envv {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

static void
env_push(struct envv *e, char *s)
{
	if (e->n + 2 > e->cap) {
		e->cap = e->cap == 0 ? 64 : e->cap * 2;
		e->v = xreallocarray(e->v, e->cap, sizeof *e->v);
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

static void
envv_free(struct envv *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
}

/* The trial's environment: the agent's, minus stale SPOTSWEEP_* of ours, plus the trial's. */
static void
build_env(const struct agent_trial *t, struct envv *e)
{
	struct buf	 b = { 0 };
	char		**ep, *text, **vars;
	size_t		 i, nvars;
	bool		 have_unbuffered = false;

	for (ep = environ; *ep != NULL; ep++) {
		if (env_is_ours(*ep))
			continue;
		if (t->wandb_shim && strncmp(*ep, "PYTHONPATH=", 11) == 0)
			continue;	/* set below, the shim first */
		if (strncmp(*ep, "PYTHONUNBUFFERED=", 17) == 0)
			have_unbuffered = true;
		env_push(e, xstrdup(*ep));
	}
	/* Python block-buffers a piped stdout; metrics would arrive late or die with it. */
	if (!have_unbuffered)
		env_push(e, xstrdup("PYTHONUNBUFFERED=1"));
	env_push(e, xasprintf("SPOTSWEEP_SWEEP_ID=%" PRId64, t->sweep_id));
	env_push(e, xasprintf("SPOTSWEEP_TRIAL_ID=%" PRId64, t->trial_id));
	env_push(e, xasprintf("SPOTSWEEP_ATTEMPT=%" PRId64, t->attempt));
	agent_json_compact(&b, t->params);
	text = buf_steal(&b);
	env_push(e, xasprintf("SPOTSWEEP_PARAMS=%s", text));
	free(text);
	/* nested parameters also get one variable per member (agent-command.c) */
	vars = agent_param_env(t->params, &nvars);
	for (i = 0; i < nvars; i++)
		env_push(e, vars[i]);
	free(vars);
	if (t->wandb_shim)
		env_push(e, agent_wandb_pythonpath(t->attempt_dir, getenv("PYTHONPATH")));
	env_push(e, xasprintf("SPOTSWEEP_CHECKPOINT_DIR=%s", t->ckpt_dir));
	env_push(e, xasprintf("SPOTSWEEP_RESUME_FROM=%s", t->resume_from));
	buf_adds(&b, "SPOTSWEEP_CHECKPOINTS=");
	for (i = 0; i < t->nkept; i++) {
		if (i > 0)
			buf_addc(&b, '\n');
		buf_adds(&b, t->kept[i]);
	}
	env_push(e, buf_steal(&b));
}

/* Closes every descriptor above stderr in the child; close_range when the kernel has it. */
static void
child_close_fds(void)
{
	long	fd, max;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		close((int)fd);
}

/* Forks /bin/sh -c COMMAND in a new process group; on failure the attempt ends failed. */
void
agent_trial_spawn(struct agent_trial *t, double now)
{
	struct envv		 env = { 0 };
	struct sigaction	 sa;
	sigset_t		 all;
	char			*argv[4];
	int			 p[2], devnull, flags;
	pid_t			 pid;

	if (t->phase != AGENT_TRIAL_RUNNING)
		return;
	build_env(t, &env);
	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = t->command;
	argv[3] = NULL;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(p, O_CLOEXEC) != 0) {
		end_with_error(t, xasprintf("cannot create the output pipe: %s",
		    strerror(errno)));
		if (devnull >= 0)
			close(devnull);
		envv_free(&env);
		return;
	}
	t->start_mono = now;
	t->start_wall = now_wall();
	pid = fork();
	if (pid < 0) {
		end_with_error(t, xasprintf("cannot fork: %s", strerror(errno)));
		close(p[0]);
		close(p[1]);
		close(devnull);
		envv_free(&env);
		return;
	}
	if (pid == 0) {
		/* Child: async-signal-safe calls only. */
		setpgid(0, 0);
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (dup2(devnull, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		child_close_fds();
		execve("/bin/sh", argv, env.v);
		_exit(127);
	}
	/* Both sides set the group, so neither a signal nor a check can race the child. */
	setpgid(pid, pid);
	close(p[1]);
	close(devnull);
	envv_free(&env);
	flags = fcntl(p[0], F_GETFL);
	fcntl(p[0], F_SETFL, flags | O_NONBLOCK);
	t->pid = pid;
	t->out_fd = p[0];
	t->next_heartbeat = now + t->heartbeat_s;
	log_info("%s: started (pid %ld): %s", t->label, (long)pid, t->command);
}

static void
tail_add(struct agent_trial *t, const char *data, size_t len)
{
	size_t	n;

	if (len >= AGENT_LOG_TAIL) {
		memcpy(t->tail, data + len - AGENT_LOG_TAIL, AGENT_LOG_TAIL);
		t->tail_pos = 0;
		t->tail_len = AGENT_LOG_TAIL;
		return;
	}
	while (len > 0) {
		n = AGENT_LOG_TAIL - t->tail_pos;
		if (n > len)
			n = len;
		memcpy(t->tail + t->tail_pos, data, n);
		t->tail_pos = (t->tail_pos + n) % AGENT_LOG_TAIL;
		t->tail_len = t->tail_len + n > AGENT_LOG_TAIL ? AGENT_LOG_TAIL :
		    t->tail_len + n;
		data += n;
		len -= n;
	}
}

static void
log_append(struct agent_trial *t, const char *data, size_t len)
{
	ssize_t	n;

	while (len > 0 && t->log_fd >= 0 && !t->log_failed) {
		n = write(t->log_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("%s: cannot write log file %s: %s; output is still read",
			    t->label, t->log_path, strerror(errno));
			t->log_failed = true;
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

static void
signal_group(struct agent_trial *t, int sig)
{
	if (t->pid > 0 && !t->reaped && kill(-t->pid, sig) != 0 && errno != ESRCH)
		log_warn("%s: cannot signal process group %ld: %s", t->label, (long)t->pid,
		    strerror(errno));
}

/* Reads up to READ_BUDGET bytes of output; false at end of file or on an error. */
static bool
read_some(struct agent_trial *t)
{
	char	chunk[65536];
	ssize_t	n;
	size_t	total = 0;

	while (total < READ_BUDGET) {
		n = read(t->out_fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		total += (size_t)n;
		log_append(t, chunk, (size_t)n);
		tail_add(t, chunk, (size_t)n);
		agent_output_feed(t->out, chunk, (size_t)n);
	}
	return true;
}

/* Kills what is left of the process group and reaps the leader (a zombie by now). */
static void
reap(struct agent_trial *t)
{
	int	status;

	if (t->pid <= 0 || t->reaped)
		return;
	signal_group(t, SIGKILL);
	for (;;) {
		if (waitpid(t->pid, &status, 0) == t->pid) {
			t->wait_status = status;
			t->exited = true;
			break;
		}
		if (errno != EINTR)
			break;
	}
	t->reaped = true;
}

static void
end_trial(struct agent_trial *t, double now)
{
	reap(t);
	if (t->out_fd >= 0) {
		/* What the group wrote before it died is still in the pipe. */
		while (read_some(t) && t->out_fd >= 0) {
			struct pollfd	pfd = { t->out_fd, POLLIN, 0 };

			if (poll(&pfd, 1, 0) <= 0)
				break;
		}
		close(t->out_fd);
		t->out_fd = -1;
	}
	if (t->out != NULL)
		agent_output_finish(t->out);
	t->phase = AGENT_TRIAL_ENDED;
	t->end_mono = now;
	if (t->stop == AGENT_STOP_STALE)
		t->finish_done = true;
}

/* Reads available output into the log file and the reader; true while the pipe is open. */
bool
agent_trial_read(struct agent_trial *t, double now)
{
	if (t->out_fd < 0)
		return false;
	if (read_some(t))
		return true;
	close(t->out_fd);
	t->out_fd = -1;
	if (t->phase == AGENT_TRIAL_DRAINING)
		end_trial(t, now);
	return false;
}

/* Notes the end of the process leader. The rest of its group gets until the end of a stop's
 * grace period (or AGENT_DRAIN_S after a plain exit) to finish writing; then the group is
 * killed and the leader reaped. */
void
agent_trial_check_exit(struct agent_trial *t, double now)
{
	siginfo_t	si;

	if (t->phase != AGENT_TRIAL_RUNNING || t->pid <= 0)
		return;
	memset(&si, 0, sizeof si);
	/* WNOWAIT leaves the leader a zombie, so the group id cannot be reused while the
	 * group is still being signalled. */
	if (waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
	    si.si_pid == 0)
		return;
	t->phase = AGENT_TRIAL_DRAINING;
	if (t->term_sent && t->kill_at > now)
		t->drain_until = t->kill_at;
	else {
		t->drain_until = now + AGENT_DRAIN_S;
		if (!t->term_sent) {
			/* Stragglers of a finished trial (a background job) get a SIGTERM. */
			signal_group(t, SIGTERM);
			t->term_sent = true;
		}
	}
	if (t->out_fd < 0)
		end_trial(t, now);
}

/* Ends an attempt that was never spawned. */
void
agent_trial_abort(struct agent_trial *t, enum agent_stop why, const char *reason_text,
    double now)
{
	if (t->phase != AGENT_TRIAL_RUNNING || t->pid > 0)
		return;
	t->stop = why;
	free(t->stop_reason);
	t->stop_reason = reason_text == NULL ? NULL : xstrdup(reason_text);
	t->start_mono = now;
	end_trial(t, now);
}

/* Asks the trial to stop: SIGTERM to the group now, SIGKILL after grace_s. */
void
agent_trial_stop(struct agent_trial *t, enum agent_stop why, double grace_s,
    const char *reason_text, double now)
{
	double	deadline;

	if (t->stop == AGENT_STOP_NONE || why == AGENT_STOP_STALE) {
		if (t->stop != why && reason_text != NULL) {
			free(t->stop_reason);
			t->stop_reason = xstrdup(reason_text);
		}
		t->stop = why;
	}
	if (t->phase != AGENT_TRIAL_RUNNING) {
		if (t->stop == AGENT_STOP_STALE && t->phase == AGENT_TRIAL_ENDED)
			t->finish_done = true;
		return;
	}
	if (grace_s < 0)
		grace_s = 0;
	if (!t->term_sent) {
		signal_group(t, SIGTERM);
		/* A stopped (SIGSTOP) trial would not see SIGTERM until continued. */
		signal_group(t, SIGCONT);
		t->term_sent = true;
	}
	deadline = now + grace_s;
	if (t->kill_at == 0 || deadline < t->kill_at)
		t->kill_at = deadline;
	if (grace_s == 0 && !t->kill_sent) {
		signal_group(t, SIGKILL);
		t->kill_sent = true;
	}
}

/* Fires due timers; returns the next time this trial needs attention, or 0. */
double
agent_trial_tick(struct agent_trial *t, double now, double timeout_grace_s)
{
	double	next = 0, due;

	switch (t->phase) {
	case AGENT_TRIAL_RUNNING:
		if (t->pid <= 0)
			break;
		if (t->timeout_s > 0 && t->stop == AGENT_STOP_NONE) {
			due = t->start_mono + t->timeout_s;
			if (now >= due) {
				log_warn("%s: timeout after %.0f s; stopping it", t->label,
				    t->timeout_s);
				agent_trial_stop(t, AGENT_STOP_TIMEOUT, timeout_grace_s, NULL,
				    now);
			} else
				next = due;
		}
		if (t->kill_at > 0 && !t->kill_sent) {
			if (now >= t->kill_at) {
				log_warn("%s: still running after the grace period; SIGKILL",
				    t->label);
				signal_group(t, SIGKILL);
				t->kill_sent = true;
			} else if (next == 0 || t->kill_at < next)
				next = t->kill_at;
		}
		break;
	case AGENT_TRIAL_DRAINING:
		if (now >= t->drain_until)
			end_trial(t, now);
		else
			next = t->drain_until;
		break;
	default:
		break;
	}
	return next;
}

/* The outcome name of the finish report. */
const char *
agent_trial_outcome(const struct agent_trial *t)
{
	if (t->start_error != NULL)
		return "failed";
	switch (t->stop) {
	case AGENT_STOP_PREEMPT:
		return "preempted";
	case AGENT_STOP_CANCEL:
		return "cancelled";
	case AGENT_STOP_TIMEOUT:
	case AGENT_STOP_FATAL:
		return "failed";
	default:
		break;
	}
	if (t->exited && WIFEXITED(t->wait_status) && WEXITSTATUS(t->wait_status) == 0)
		return "succeeded";
	return t->marked_preempting ? "preempted" : "failed";
}

static char *
exit_text(const struct agent_trial *t)
{
	if (!t->exited)
		return xstrdup("no exit status");
	if (WIFEXITED(t->wait_status))
		return xasprintf("exit status %d", WEXITSTATUS(t->wait_status));
	if (WIFSIGNALED(t->wait_status))
		return xasprintf("killed by signal %d", WTERMSIG(t->wait_status));
	return xasprintf("wait status %d", t->wait_status);
}

/* The finish report's reason, or NULL for a success. Caller frees. */
char *
agent_trial_reason(const struct agent_trial *t)
{
	if (t->start_error != NULL)
		return xasprintf("could not start: %s", t->start_error);
	switch (t->stop) {
	case AGENT_STOP_PREEMPT:
		return xstrdup(t->stop_reason != NULL ? t->stop_reason : "preempted");
	case AGENT_STOP_CANCEL:
		return xstrdup("cancelled by the scheduler");
	case AGENT_STOP_TIMEOUT:
		return xstrdup("timeout");
	case AGENT_STOP_FATAL:
		return xstrdup("fatal pattern matched");
	default:
		break;
	}
	if (strcmp(agent_trial_outcome(t), "succeeded") == 0)
		return NULL;
	if (t->marked_preempting)
		return xstrdup("the trial marked itself preempting");
	return exit_text(t);
}

/* True when the attempt failed within within_s of its start. */
bool
agent_trial_quick_failure(const struct agent_trial *t, double within_s)
{
	return strcmp(agent_trial_outcome(t), "failed") == 0 &&
	    t->end_mono - t->start_mono < within_s;
}

/* At most max_points of the outbox's points as a JSON array, oldest first. */
json_t *
agent_trial_points_json(const struct agent_trial *t, size_t max_points, size_t *n)
{
	const struct agent_point	*p;
	json_t				*arr = json_array();
	size_t				 i;

	for (i = 0; i < t->npoints && i < max_points; i++) {
		p = &t->points[t->points_off + i];
		json_array_append_new(arr, json_pack("{s:s, s:I, s:f, s:f}", "name", p->name,
		    "step", (json_int_t)p->step, "value", p->value, "at", p->at));
	}
	*n = i;
	return arr;
}

/* The finish request body with at most max_points points. Caller frees. */
char *
agent_trial_finish_body(const struct agent_trial *t, int64_t worker_id, size_t max_points,
    size_t *npoints)
{
	struct buf	 tail = { 0 };
	json_error_t	 err;
	json_t		*o;
	char		*reason, *body;
	size_t		 first;
	int		 exit_code = -1;
	double		 runtime;

	if (t->exited && WIFEXITED(t->wait_status))
		exit_code = WEXITSTATUS(t->wait_status);
	runtime = t->end_mono - t->start_mono;
	if (runtime < 0)
		runtime = 0;
	/* The ring holds the last bytes in order from tail_pos once it has wrapped. */
	first = t->tail_len < AGENT_LOG_TAIL ? 0 : t->tail_pos;
	agent_buf_add_utf8_sanitized(&tail, t->tail + first, t->tail_len - first);
	agent_buf_add_utf8_sanitized(&tail, t->tail, first);
	reason = agent_trial_reason(t);
	o = json_pack_ex(&err, 0, "{s:I, s:I, s:s, s:i, s:s?, s:s?, s:f, s:o, s:s}",
	    "attempt", (json_int_t)t->attempt, "worker_id", (json_int_t)worker_id,
	    "outcome", agent_trial_outcome(t), "exit_code", exit_code,
	    "reason", reason, "fatal_match", t->fatal_match, "runtime_s", runtime,
	    "metrics", agent_trial_points_json(t, max_points, npoints),
	    "log_tail", tail.data == NULL ? "" : tail.data);
	if (o == NULL) {
		/* Only invalid UTF-8 in a reason could get here; report without the extras. */
		log_warn("%s: finish report without details: %s", t->label, err.text);
		*npoints = 0;
		o = json_pack("{s:I, s:I, s:s, s:i, s:n, s:n, s:f, s:[], s:s}",
		    "attempt", (json_int_t)t->attempt, "worker_id", (json_int_t)worker_id,
		    "outcome", agent_trial_outcome(t), "exit_code", exit_code, "reason",
		    "fatal_match", "runtime_s", runtime, "metrics", "log_tail", "");
	}
	agent_trial_report_ids(t, worker_id, o);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(reason);
	buf_free(&tail);
	return body;
}

void
agent_trial_report_ids(const struct agent_trial *t, int64_t worker_id, json_t *o)
{
	json_object_set_new(o, "attempt", json_integer(t->attempt));
	json_object_set_new(o, "worker_id", json_integer(worker_id));
	if (t->lease_secret != NULL)
		json_object_set_new(o, "lease_secret", json_string(t->lease_secret));
}

/* Drops the first n points of the outbox. */
void
agent_trial_points_sent(struct agent_trial *t, size_t n)
{
	if (n > t->npoints)
		n = t->npoints;
	t->points_off += n;
	t->npoints -= n;
	if (t->npoints == 0)
		t->points_off = 0;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* The directory entry a checkpoint path names, with its directory resolved but not the entry
 * itself: "DIR/../x/link" becomes REALDIR/x/link even when link is a symlink. NULL when the
 * directory cannot be resolved or the last component is "", "." or "..". Caller frees. */
static char *
checkpoint_entry(const char *path)
{
	char	*copy, *slash, *base, *dir, *real, *entry = NULL;
	size_t	 len;

	copy = xstrdup(path);
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	if ((slash = strrchr(copy, '/')) == NULL) {
		free(copy);
		return NULL;
	}
	base = slash + 1;
	dir = slash == copy ? xstrdup("/") : xstrndup(copy, (size_t)(slash - copy));
	if (*base != '\0' && strcmp(base, ".") != 0 && strcmp(base, "..") != 0 &&
	    (real = realpath(dir, NULL)) != NULL) {
		entry = xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
		free(real);
	}
	free(dir);
	free(copy);
	return entry;
}

/* Whether a kept checkpoint is, or leads to, the entry about to be deleted. */
static bool
checkpoint_still_kept(const struct agent_trial *t, const char *entry, const char *target)
{
	char	*other;
	bool	 same;
	size_t	 i;

	for (i = 0; i < t->nkept; i++) {
		other = checkpoint_entry(t->kept[i]);
		same = other != NULL && strcmp(other, entry) == 0;
		free(other);
		if (!same && target != NULL && (other = realpath(t->kept[i], NULL)) != NULL) {
			same = strcmp(other, target) == 0;
			free(other);
		}
		if (same)
			return true;
	}
	return false;
}

/* Deletes an old checkpoint, but only an entry that lies inside the trial's checkpoint
 * directory (its own directory resolved, so ".." cannot lead out) and that no kept
 * checkpoint still needs. A symlink is removed itself, never followed: its target may be
 * anywhere. A directory is removed without following the symlinks or mounts inside it. */
static void
delete_old_checkpoint(const struct agent_trial *t, const char *path)
{
	char		*dir, *entry = NULL, *target = NULL;
	struct stat	 sb;
	size_t		 len;

	if ((dir = realpath(t->ckpt_dir, NULL)) == NULL)
		return;
	len = strlen(dir);
	entry = checkpoint_entry(path);
	if (entry == NULL || strncmp(entry, dir, len) != 0 || entry[len] != '/') {
		log_debug("%s: old checkpoint %s kept: outside %s", t->label, path,
		    t->ckpt_dir);
		goto out;
	}
	if (lstat(entry, &sb) != 0)
		goto out;	/* already gone */
	if (!S_ISLNK(sb.st_mode))
		target = realpath(entry, NULL);
	if (checkpoint_still_kept(t, entry, target)) {
		log_debug("%s: old checkpoint %s kept: a newer one still uses it", t->label,
		    path);
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (nftw(entry, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
			log_warn("%s: cannot delete old checkpoint %s: %s", t->label, path,
			    strerror(errno));
		else
			log_debug("%s: deleted old checkpoint %s", t->label, path);
	} else if (unlink(entry) != 0 && errno != ENOENT)
		log_warn("%s: cannot delete old checkpoint %s: %s", t->label, path,
		    strerror(errno));
	else
		log_debug("%s: deleted old checkpoint %s", t->label, path);
out:
	free(target);
	free(entry);
	free(dir);
}

/* Records an acknowledged checkpoint as the newest and prunes beyond checkpoint_keep. */
void
agent_trial_checkpoint_acked(struct agent_trial *t, const char *path)
{
	char	*victim;
	size_t	 i;

	for (i = 0; i < t->nkept; i++) {
		if (strcmp(t->kept[i], path) == 0)
			break;
	}
	if (i < t->nkept) {
		victim = t->kept[i];
		memmove(t->kept + 1, t->kept, i * sizeof *t->kept);
		t->kept[0] = victim;
	} else {
		t->kept = xreallocarray(t->kept, t->nkept + 2, sizeof *t->kept);
		memmove(t->kept + 1, t->kept, t->nkept * sizeof *t->kept);
		t->kept[0] = xstrdup(path);
		t->nkept++;
	}
	while (t->checkpoint_keep > 0 && t->nkept > (size_t)t->checkpoint_keep) {
		victim = t->kept[--t->nkept];
		delete_old_checkpoint(t, victim);
		free(victim);
	}
}

/* The newest kept checkpoint, or "". */
const char *
agent_trial_newest_checkpoint(const struct agent_trial *t)
{
	return t->nkept > 0 ? t->kept[0] : "";
}
