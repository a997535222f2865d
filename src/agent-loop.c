/* The agent's main loop (see agent-loop.h). It owns the registration with the scheduler, the
 * list of attempts, leasing into free slots, the broken-machine guard, termination notices
 * and the preemption sequence. Signal handlers only set a flag and write to a self-pipe; all
 * work happens in the loop. Nothing in it blocks: HTTP goes through the curl multi handle and
 * the trials' pipes are non-blocking. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "spotsweep/agent-trial.h"
#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* The longest the loop sleeps, so the notice file and timers are looked at regularly. */
#define MAX_WAIT_S		1.0
#define NOTICE_FILE_POLL_S	1.0
#define IDLE_POLL_MIN_S		0.5
#define IDLE_POLL_MAX_S		5.0
#define LEASE_TIMEOUT_S		15.0
/* Defaults until the scheduler says otherwise. */
#define DEFAULT_HEARTBEAT_S	20.0
/* A deadline from a notice: kill this long before it, to leave time for the reports. */
#define NOTICE_MARGIN_S		5.0

enum reg_state { REG_NONE, REG_INFLIGHT, REG_DONE };

struct agent {
	const struct agent_config *cfg;
	struct agent_http	*http;
	struct agent_report_ctx	 rctx;

	enum reg_state		 reg;
	double			 register_at;
	struct agent_backoff	 reg_backoff;
	bool			 reg_warned;
	double			 heartbeat_s;

	struct agent_trial	*trials;
	bool			 lease_inflight;
	double			 lease_at;
	double			 idle_poll_s;
	struct agent_backoff	 lease_backoff;
	long			 leased;

	int			 quick_failures;
	double			 pause_until;
	double			 pause_s;

	bool			 preempting;
	char			*preempt_reason;
	double			 preempt_kill_at;
	double			 report_deadline;	/* 0 until every trial has ended */
	bool			 notice_inflight;
	double			 notice_at;
	double			 notice_file_at;
	char			*imds_token;	/* AWS IMDSv2 session token, or NULL */
	double			 imds_token_until;

	double			 idle_since;
	bool			 done;
	int			 exit_code;
};

static size_t
count_busy(const struct agent *a)
{
	const struct agent_trial	*t;
	size_t				 n = 0;

	for (t = a->trials; t != NULL; t = t->next) {
		if (t->phase != AGENT_TRIAL_ENDED)
			n++;
	}
	return n;
}

static const char *
signal_name(int sig)
{
	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "a signal";
	}
}

/* Starts the preemption sequence; deadline (epoch seconds, 0 = none) shortens the grace. */
static void
start_preemption(struct agent *a, const char *reason, double deadline, double now)
{
	struct agent_trial	*t;
	double			 kill_at, d;
	size_t			 n = count_busy(a);

	kill_at = now + a->cfg->grace_s;
	if (deadline > 0) {
		d = now + (deadline - now_wall()) - NOTICE_MARGIN_S;
		if (d < kill_at)
			kill_at = d > now ? d : now;
	}
	if (a->preempting) {
		/* A later notice may only bring the kill time closer. */
		if (kill_at >= a->preempt_kill_at)
			return;
	} else {
		a->preempting = true;
		a->preempt_reason = xstrdup(reason);
		if (n > 0)
			log_warn("%s: stopping %zu trial%s (SIGTERM now, SIGKILL in %.0f s), "
			    "then reporting them preempted and exiting", reason, n,
			    n == 1 ? "" : "s", kill_at - now);
		else
			log_info("%s: no trial running; exiting", reason);
	}
	a->preempt_kill_at = kill_at;
	for (t = a->trials; t != NULL; t = t->next)
		agent_trial_stop(t, AGENT_STOP_PREEMPT, kill_at - now, a->preempt_reason, now);
}

static void
handle_signals(struct agent *a, double now)
{
	static sig_atomic_t	 seen;
	struct agent_trial	*t;
	char			*reason;

	if (agent_signal_count == seen)
		return;
	seen = agent_signal_count;
	if (!a->preempting) {
		reason = xasprintf("agent received %s", signal_name(agent_got_signal));
		start_preemption(a, reason, 0, now);
		free(reason);
		return;
	}
	if (count_busy(a) == 0)
		return;
	log_warn("%s again: killing the trials now", signal_name(agent_got_signal));
	for (t = a->trials; t != NULL; t = t->next)
		agent_trial_stop(t, AGENT_STOP_PREEMPT, 0, a->preempt_reason, now);
}

static void
check_notice_file(struct agent *a, double now)
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
	/* The file's presence is the notice; a cloud-style body may add a deadline. */
	if (read_file(a->cfg->notice_file, 65536, &body, &len, &cause) == 0)
		agent_notice_parse(body, len, &deadline);
	free(cause);
	free(body);
	reason = xasprintf("termination notice (%s appeared)", a->cfg->notice_file);
	start_preemption(a, reason, deadline, now);
	free(reason);
	a->notice_file_at = now + 3600;
}

/* AWS's IMDSv2: instances that require it answer 401 to a GET without a session token,
 * which an empty PUT to /latest/api/token on the same host hands out. */
#define IMDS_TOKEN_TTL_S	21600
#define IMDS_TOKEN_PATH		"/latest/api/token"

/* The token URL for an AWS metadata URL (scheme://host[:port] + IMDS_TOKEN_PATH), or NULL
 * when url is not one (no "/latest/" path). */
static char *
imds_token_url(const char *url)
{
	const char *host, *path;

	if ((host = strstr(url, "://")) == NULL)
		return NULL;
	host += 3;
	if ((path = strchr(host, '/')) == NULL || strncmp(path, "/latest/", 8) != 0)
		return NULL;
	return xasprintf("%.*s%s", (int)(path - url), url, IMDS_TOKEN_PATH);
}

static void
on_imds_token(const struct agent_http_result *r, void *arg)
{
	struct agent	*a = arg;
	double		 now = now_mono();
	size_t		 n = r->len;

	a->notice_inflight = false;
	while (n > 0 && isspace((unsigned char)r->body[n - 1]))
		n--;
	if (r->status != 200 || n == 0 || n > 4096 || memchr(r->body, '\n', n) != NULL) {
		log_warn("notice URL: no IMDSv2 token from the metadata server (%s)",
		    r->status == 0 ? r->error : "refused");
		a->notice_at = now + AGENT_NOTICE_POLL_S;
		return;
	}
	free(a->imds_token);
	a->imds_token = xstrndup(r->body, n);
	a->imds_token_until = now + IMDS_TOKEN_TTL_S - 60;
	a->notice_at = now;	/* poll again at once, now with the token */
}

static void
on_notice(const struct agent_http_result *r, void *arg)
{
	struct agent	*a = arg;
	double		 deadline, now = now_mono();
	char		*reason, *token_url, header[96];

	a->notice_inflight = false;
	a->notice_at = now + AGENT_NOTICE_POLL_S;
	if (r->status == 401 && a->imds_token != NULL) {
		/* our token expired or was refused: a new one at the next poll, not in a loop */
		free(a->imds_token);
		a->imds_token = NULL;
		return;
	}
	if (r->status == 401 && (token_url = imds_token_url(a->cfg->notice_url)) != NULL) {
		/* IMDSv2 required: get a token and ask again */
		snprintf(header, sizeof header, "X-aws-ec2-metadata-token-ttl-seconds: %d",
		    IMDS_TOKEN_TTL_S);
		a->notice_inflight = true;
		agent_http_metadata(a->http, true, token_url, header, AGENT_NOTICE_TIMEOUT_S,
		    on_imds_token, a);
		free(token_url);
		return;
	}
	if (r->status != 200 || !agent_notice_parse(r->body, r->len, &deadline)) {
		if (r->status == 0)
			log_debug("notice URL: %s", r->error);
		return;
	}
	reason = xasprintf("termination notice from %s", a->cfg->notice_url);
	start_preemption(a, reason, deadline, now);
	free(reason);
}

static void
poll_notice_url(struct agent *a, double now)
{
	char *header;

	if (a->cfg->notice_url == NULL || a->notice_inflight || now < a->notice_at)
		return;
	a->notice_inflight = true;
	if (a->imds_token != NULL && now < a->imds_token_until) {
		header = xasprintf("X-aws-ec2-metadata-token: %s", a->imds_token);
		agent_http_metadata(a->http, false, a->cfg->notice_url, header,
		    AGENT_NOTICE_TIMEOUT_S, on_notice, a);
		explicit_bzero(header, strlen(header));
		free(header);
	} else
		agent_http_get(a->http, a->cfg->notice_url, AGENT_NOTICE_TIMEOUT_S, on_notice, a);
}

static char *
result_error(const struct agent_http_result *r)
{
	json_error_t	 err;
	json_t		*o;
	const char	*e;
	char		*s;

	if (r->status == 0)
		return xstrdup(r->error != NULL ? r->error : "no answer");
	o = json_loadb(r->body, r->len, 0, &err);
	e = json_string_value(json_object_get(o, "error"));
	s = e != NULL ? xasprintf("HTTP %ld: %s", r->status, e) :
	    xasprintf("HTTP %ld", r->status);
	json_decref(o);
	return s;
}

static void
on_register(const struct agent_http_result *r, void *arg)
{
	struct agent	*a = arg;
	json_error_t	 err;
	json_t		*o = NULL;
	double		 now = now_mono(), delay;
	char		*why;
	int64_t		 id;

	a->reg = REG_NONE;
	if (r->status == 200) {
		o = json_loadb(r->body, r->len, 0, &err);
		id = json_integer_value(json_object_get(o, "worker_id"));
		if (id > 0) {
			a->rctx.worker_id = id;
			a->reg = REG_DONE;
			agent_backoff_reset(&a->reg_backoff);
			a->reg_warned = false;
			if (json_is_number(json_object_get(o, "heartbeat_s")) &&
			    json_number_value(json_object_get(o, "heartbeat_s")) > 0)
				a->heartbeat_s = json_number_value(json_object_get(o,
				    "heartbeat_s"));
			log_info("registered with %s as worker %" PRId64 " (%s, %ld slot%s)",
			    a->cfg->server_url, id, a->cfg->name, a->cfg->slots,
			    a->cfg->slots == 1 ? "" : "s");
			a->lease_at = now;
			json_decref(o);
			return;
		}
		json_decref(o);
	}
	why = result_error(r);
	if (r->status == 400 || r->status == 401 || r->status == 403 || r->status == 404) {
		/* A refusal (unknown pool, wrong token), not an outage: retrying cannot help. */
		log_error("the scheduler refused the registration (%s)", why);
		if (a->trials == NULL) {
			a->done = true;
			a->exit_code = 1;
			free(why);
			return;
		}
	}
	delay = agent_backoff_delay(&a->reg_backoff);
	a->register_at = now + delay;
	if (!a->reg_warned || r->status != 0)
		log_warn("cannot register with %s (%s); retrying in %.1f s", a->cfg->server_url,
		    why, delay);
	a->reg_warned = true;
	free(why);
}

static void
start_register(struct agent *a, double now)
{
	json_t	*o;
	char	*body;

	if (a->reg != REG_NONE || now < a->register_at || a->preempting)
		return;
	o = json_pack("{s:s, s:I, s:s}", "name", a->cfg->name, "slots",
	    (json_int_t)a->cfg->slots, "hostname", a->cfg->hostname);
	if (a->cfg->pool != NULL)
		json_object_set_new(o, "pool", json_string(a->cfg->pool));
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	a->reg = REG_INFLIGHT;
	agent_http_post(a->http, "/v1/workers", body, AGENT_HTTP_TIMEOUT_S, on_register, a);
	free(body);
}

static void
add_trial(struct agent *a, struct agent_trial *t)
{
	struct agent_trial	**pp;

	for (pp = &a->trials; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = t;
	t->rctx = &a->rctx;
}

static void
on_lease(const struct agent_http_result *r, void *arg)
{
	struct agent		*a = arg;
	struct agent_trial	*t;
	json_error_t		 err;
	json_t			*o;
	double			 now = now_mono(), delay;
	char			*cause = NULL, *why;

	a->lease_inflight = false;
	if (r->status == 204) {
		agent_backoff_reset(&a->lease_backoff);
		a->lease_at = now + a->idle_poll_s;
		a->idle_poll_s *= 1.5;
		if (a->idle_poll_s > IDLE_POLL_MAX_S)
			a->idle_poll_s = IDLE_POLL_MAX_S;
		return;
	}
	if (r->status == 200) {
		agent_backoff_reset(&a->lease_backoff);
		a->idle_poll_s = IDLE_POLL_MIN_S;
		a->lease_at = now;
		o = json_loadb(r->body, r->len, 0, &err);
		t = o == NULL ? NULL : agent_trial_create(o, a->cfg->workdir, a->heartbeat_s,
		    &cause);
		json_decref(o);
		if (t == NULL) {
			log_error("unusable lease from the scheduler: %s",
			    cause != NULL ? cause : err.text);
			free(cause);
			a->lease_at = now + agent_backoff_delay(&a->lease_backoff);
			return;
		}
		a->leased++;
		add_trial(a, t);
		if (a->preempting) {
			/* Leased while stopping: hand it straight back as preempted. */
			agent_trial_abort(t, AGENT_STOP_PREEMPT, a->preempt_reason, now);
			log_warn("%s: leased while stopping; reporting it preempted", t->label);
		} else if (t->start_error != NULL)
			log_error("%s: cannot start: %s", t->label, t->start_error);
		else
			agent_trial_spawn(t, now);
		return;
	}
	why = result_error(r);
	if (r->status == 404) {
		/* The scheduler forgot this worker (a new database?): register again. */
		log_warn("the scheduler does not know worker %" PRId64 " (%s); registering again",
		    a->rctx.worker_id, why);
		a->reg = REG_NONE;
		a->register_at = now;
		a->lease_at = now;
	} else {
		delay = agent_backoff_delay(&a->lease_backoff);
		a->lease_at = now + delay;
		if (r->status == 503)
			log_info("the scheduler is shutting down; asking again in %.1f s", delay);
		else
			log_warn("lease request failed (%s); retrying in %.1f s", why, delay);
	}
	free(why);
}

static void
maybe_lease(struct agent *a, double now)
{
	char	*body;

	if (a->reg != REG_DONE || a->preempting || a->lease_inflight || a->done)
		return;
	if (a->cfg->once && a->leased >= 1)
		return;
	if ((long)count_busy(a) >= a->cfg->slots || now < a->lease_at || now < a->pause_until)
		return;
	body = xasprintf("{\"worker_id\":%" PRId64 "}", a->rctx.worker_id);
	a->lease_inflight = true;
	agent_http_post(a->http, "/v1/lease", body, LEASE_TIMEOUT_S, on_lease, a);
	free(body);
}

/* Logs an attempt's end once and feeds the broken-machine guard. */
static void
note_end(struct agent *a, struct agent_trial *t, double now)
{
	char		*reason;
	const char	*outcome = agent_trial_outcome(t);

	t->end_noted = true;
	if (t->stop == AGENT_STOP_STALE) {
		log_info("%s: ended; not reported (the scheduler moved on)", t->label);
		return;
	}
	reason = agent_trial_reason(t);
	log_info("%s: %s%s%s%s after %.1f s", t->label, outcome, reason != NULL ? " (" : "",
	    reason != NULL ? reason : "", reason != NULL ? ")" : "", t->end_mono - t->start_mono);
	free(reason);
	if (strcmp(outcome, "succeeded") == 0 ||
	    (strcmp(outcome, "failed") == 0 && !agent_trial_quick_failure(t, AGENT_QUICK_FAIL_S))) {
		a->quick_failures = 0;
		a->pause_s = AGENT_PAUSE_MIN_S;
	} else if (strcmp(outcome, "failed") == 0 &&
	    ++a->quick_failures >= AGENT_QUICK_FAIL_RUN) {
		a->pause_until = now + a->pause_s;
		log_warn("%d trials in a row failed within %.0f s of starting: this machine may "
		    "be broken; not leasing for %.0f s", a->quick_failures, AGENT_QUICK_FAIL_S,
		    a->pause_s);
		a->pause_s = a->pause_s * 2 > AGENT_PAUSE_MAX_S ? AGENT_PAUSE_MAX_S :
		    a->pause_s * 2;
		a->quick_failures = 0;
	}
}

static void
consider(double *next, double when)
{
	if (when > 0 && (*next == 0 || when < *next))
		*next = when;
}

/* Runs every attempt's timers and reports; frees the finished ones. Returns the next due
 * time, or 0. */
static double
tick_trials(struct agent *a, double now)
{
	struct agent_trial	*t, **pp;
	double			 next = 0, tg;

	tg = a->cfg->grace_s < AGENT_TIMEOUT_GRACE_S ? a->cfg->grace_s : AGENT_TIMEOUT_GRACE_S;
	for (pp = &a->trials; (t = *pp) != NULL; ) {
		agent_trial_check_exit(t, now);
		consider(&next, agent_trial_tick(t, now, tg));
		if (t->phase == AGENT_TRIAL_ENDED && !t->end_noted)
			note_end(a, t, now);
		agent_report_pump(&a->rctx, t, now);
		consider(&next, agent_report_next(t));
		if (t->phase == AGENT_TRIAL_ENDED && agent_report_idle(t)) {
			*pp = t->next;
			agent_trial_free(t);
			continue;
		}
		pp = &t->next;
	}
	return next;
}

/* Decides whether the agent is done: preemption complete, --once, --idle-exit-s. */
static void
check_exit(struct agent *a, double now)
{
	struct agent_trial	*t;
	size_t			 left = 0;

	if (a->trials != NULL)
		a->idle_since = now;
	if (a->preempting) {
		if (a->lease_inflight)
			return;
		if (a->trials == NULL) {
			a->done = true;
			return;
		}
		if (count_busy(a) > 0)
			return;
		if (a->report_deadline == 0)
			a->report_deadline = now + AGENT_PREEMPT_REPORT_S;
		if (now < a->report_deadline)
			return;
		for (t = a->trials; t != NULL; t = t->next)
			left++;
		log_error("exiting with %zu attempt%s not reported: the scheduler was not "
		    "reachable", left, left == 1 ? "" : "s");
		a->done = true;
		a->exit_code = 1;
		return;
	}
	if (a->lease_inflight || a->trials != NULL)
		return;
	if (a->cfg->once && a->leased >= 1) {
		log_info("--once: the trial is done and reported; exiting");
		a->done = true;
	} else if (a->cfg->idle_exit_s > 0 && now - a->idle_since >= a->cfg->idle_exit_s) {
		log_info("no work for %.0f s; exiting", a->cfg->idle_exit_s);
		a->done = true;
	}
}

static int
wait_ms(const struct agent *a, double next, double now)
{
	double	until = now + MAX_WAIT_S;

	if (a->reg == REG_NONE)
		consider(&next, a->register_at);
	if (a->reg == REG_DONE && !a->preempting && !a->lease_inflight)
		consider(&next, a->lease_at > a->pause_until ? a->lease_at : a->pause_until);
	if (a->report_deadline > 0)
		consider(&next, a->report_deadline);
	if (next > 0 && next < until)
		until = next;
	/* A due time already past means that work waits on something else (a registration
	 * in flight); a short sleep keeps that from spinning. */
	if (until <= now + 0.005)
		return 5;
	return (int)((until - now) * 1000) + 1;
}

static void
read_outputs(struct agent *a, double now)
{
	struct agent_trial	*t;

	for (t = a->trials; t != NULL; t = t->next) {
		if (t->out_fd >= 0)
			agent_trial_read(t, now);
	}
}

static void
wait_events(struct agent *a, int timeout_ms)
{
	struct agent_trial	*t;
	struct curl_waitfd	*fds;
	unsigned		 n = 1, cap = 1;

	for (t = a->trials; t != NULL; t = t->next)
		cap++;
	fds = xcalloc(cap, sizeof *fds);
	fds[0].fd = agent_signals_fd();
	fds[0].events = CURL_WAIT_POLLIN;
	for (t = a->trials; t != NULL; t = t->next) {
		if (t->out_fd < 0)
			continue;
		fds[n].fd = t->out_fd;
		fds[n].events = CURL_WAIT_POLLIN;
		n++;
	}
	if (agent_http_wait(a->http, fds, n, timeout_ms) != 0)
		usleep(10000);
	free(fds);
}

static void
agent_free_all(struct agent *a)
{
	struct agent_trial	*t, *next;

	for (t = a->trials; t != NULL; t = next) {
		next = t->next;
		if (t->pid > 0 && !t->reaped) {
			kill(-t->pid, SIGKILL);
			while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		agent_trial_free(t);
	}
	a->trials = NULL;
	agent_http_free(a->http);
	free(a->preempt_reason);
	if (a->imds_token != NULL)
		explicit_bzero(a->imds_token, strlen(a->imds_token));
	free(a->imds_token);
}

/* Runs the agent until it stops; returns the exit status. */
int
agent_run(const struct agent_config *cfg)
{
	struct agent	 a;
	char		*cause = NULL;
	double		 now, next;

	memset(&a, 0, sizeof a);
	a.cfg = cfg;
	a.heartbeat_s = DEFAULT_HEARTBEAT_S;
	a.idle_poll_s = IDLE_POLL_MIN_S;
	a.reg_backoff = (struct agent_backoff){ 0.5, 30, 0 };
	a.lease_backoff = (struct agent_backoff){ 0.5, 30, 0 };
	a.pause_s = AGENT_PAUSE_MIN_S;
	a.rctx.grace_s = cfg->grace_s;
	if (agent_signals_setup(&cause) != 0 ||
	    (a.http = agent_http_create(cfg->server_url, cfg->token, &cause)) == NULL) {
		log_error("%s", cause);
		free(cause);
		return 1;
	}
	a.rctx.http = a.http;
	now = now_mono();
	a.idle_since = now;
	log_info("spotsweep-agent %s starting: server %s, workdir %s", cfg->name,
	    cfg->server_url, cfg->workdir);

	while (!a.done) {
		now = now_mono();
		agent_signals_drain();
		handle_signals(&a, now);
		check_notice_file(&a, now);
		poll_notice_url(&a, now);
		start_register(&a, now);
		next = tick_trials(&a, now);
		maybe_lease(&a, now);
		check_exit(&a, now);
		if (a.done)
			break;
		wait_events(&a, wait_ms(&a, next, now));
		now = now_mono();
		read_outputs(&a, now);
		agent_http_dispatch(a.http);
	}
	agent_free_all(&a);
	return a.exit_code;
}
