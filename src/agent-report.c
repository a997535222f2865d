/* Report delivery for one attempt (see agent-report.h). The order of choice is: pending
 * checkpoint reports first (so a preempted attempt's newest checkpoint reaches the scheduler
 * before its finish), then a heartbeat when it is due or when the unsent points would not fit
 * one finish, then the finish report once the attempt has ended. Answers: 200 moves on; 409
 * means the scheduler has moved on from this attempt, so the trial is killed and nothing more
 * is sent; 5xx, 401, 408, 429 and transport errors are retried; any other 4xx cannot succeed
 * on retry and that one report is dropped with an error in the log. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/agent-report.h"
#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

enum report_kind { REPORT_CHECKPOINT, REPORT_HEARTBEAT, REPORT_FINISH, REPORT_MAX };

static const char *const report_names[REPORT_MAX] = { "checkpoint", "heartbeat", "finish" };

static void on_response(const struct agent_http_result *r, void *arg);

static void
send_report(struct agent_report_ctx *ctx, struct agent_trial *t, enum report_kind kind,
    char *body, size_t npoints)
{
	char	*path;

	path = xasprintf("/v1/trials/%" PRId64 "/%s", t->trial_id, report_names[kind]);
	t->inflight = true;
	t->inflight_kind = (int)kind;
	t->inflight_points = npoints;
	t->rctx = ctx;
	agent_http_post(ctx->http, path, body, AGENT_HTTP_TIMEOUT_S, on_response, t);
	free(path);
	free(body);
}

static char *
checkpoint_body(const struct agent_report_ctx *ctx, const struct agent_trial *t)
{
	json_t	*o;
	char	*body;

	o = json_pack("{s:s, s:I}", "path", t->ckq[0].path, "step", (json_int_t)t->ckq[0].step);
	if (o != NULL)
		agent_trial_report_ids(t, ctx->worker_id, o);
	body = o == NULL ? NULL : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return body;
}

static char *
heartbeat_body(const struct agent_report_ctx *ctx, const struct agent_trial *t, size_t *n)
{
	json_t	*o;
	char	*body;

	o = json_pack("{s:o}", "metrics", agent_trial_points_json(t, AGENT_REPORT_MAX_POINTS, n));
	agent_trial_report_ids(t, ctx->worker_id, o);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return body;
}

static void
drop_checkpoint(struct agent_trial *t)
{
	free(t->ckq[0].path);
	memmove(t->ckq, t->ckq + 1, (t->nckq - 1) * sizeof *t->ckq);
	t->nckq--;
}

/* Forgets every pending report of a stale attempt. */
static void
drop_all(struct agent_trial *t)
{
	while (t->nckq > 0)
		drop_checkpoint(t);
	agent_trial_points_sent(t, t->npoints);
	if (t->phase == AGENT_TRIAL_ENDED)
		t->finish_done = true;
}

/* Starts the attempt's next due request. */
void
agent_report_pump(struct agent_report_ctx *ctx, struct agent_trial *t, double now)
{
	char	*body;
	size_t	 n = 0;

	if (t->inflight)
		return;
	if (t->stop == AGENT_STOP_STALE) {
		drop_all(t);
		return;
	}
	if (now < t->retry_at || ctx->worker_id <= 0)
		return;
	if (t->nckq > 0) {
		body = checkpoint_body(ctx, t);
		if (body == NULL) {
			log_warn("%s: checkpoint path %s is not valid UTF-8; not reported",
			    t->label, t->ckq[0].path);
			drop_checkpoint(t);
			return;
		}
		send_report(ctx, t, REPORT_CHECKPOINT, body, 0);
		return;
	}
	if (t->npoints > AGENT_REPORT_MAX_POINTS ||
	    (t->phase != AGENT_TRIAL_ENDED && now >= t->next_heartbeat)) {
		body = heartbeat_body(ctx, t, &n);
		send_report(ctx, t, REPORT_HEARTBEAT, body, n);
		return;
	}
	if (t->phase == AGENT_TRIAL_ENDED && !t->finish_done) {
		body = agent_trial_finish_body(t, ctx->worker_id, AGENT_REPORT_MAX_POINTS, &n);
		send_report(ctx, t, REPORT_FINISH, body, n);
	}
}

/* When the attempt next needs a pump, or 0. */
double
agent_report_next(const struct agent_trial *t)
{
	double	next;

	if (t->inflight || t->stop == AGENT_STOP_STALE || t->rctx == NULL ||
	    t->rctx->worker_id <= 0)
		return 0;
	if (t->nckq > 0 || (t->phase == AGENT_TRIAL_ENDED && !t->finish_done))
		return t->retry_at;
	if (t->phase == AGENT_TRIAL_ENDED)
		return 0;
	next = t->next_heartbeat;
	return t->retry_at > next ? t->retry_at : next;
}

/* True when nothing remains to deliver and nothing is in flight. */
bool
agent_report_idle(const struct agent_trial *t)
{
	return !t->inflight && t->nckq == 0 && t->finish_done;
}

/* The scheduler's {"error": "..."} message, or the start of the body. Caller frees. */
static char *
error_text(const struct agent_http_result *r)
{
	struct buf	 b = { 0 };
	json_error_t	 err;
	json_t		*o, *e;
	size_t		 len;

	if (r->status == 0)
		return xstrdup(r->error != NULL ? r->error : "no answer");
	o = json_loadb(r->body, r->len, 0, &err);
	e = json_object_get(o, "error");
	if (json_is_string(e))
		buf_printf(&b, "HTTP %ld: %s", r->status, json_string_value(e));
	else {
		len = r->len > 200 ? 200 : r->len;
		buf_printf(&b, "HTTP %ld: ", r->status);
		agent_buf_add_utf8_sanitized(&b, r->body, len);
	}
	json_decref(o);
	return buf_steal(&b);
}

static bool
retryable(long status)
{
	return status == 0 || status >= 500 || status == 401 || status == 408 ||
	    status == 429;
}

static void
handle_ok(struct agent_trial *t, enum report_kind kind, const struct agent_http_result *r,
    double now)
{
	json_error_t	 err;
	json_t		*o;
	const char	*state;

	o = json_loadb(r->body, r->len, 0, &err);
	switch (kind) {
	case REPORT_CHECKPOINT:
		log_info("%s: checkpoint %s recorded", t->label, t->ckq[0].path);
		agent_trial_checkpoint_acked(t, t->ckq[0].path);
		drop_checkpoint(t);
		break;
	case REPORT_HEARTBEAT:
		agent_trial_points_sent(t, t->inflight_points);
		t->next_heartbeat = now + t->heartbeat_s;
		if (json_is_true(json_object_get(o, "cancel")) &&
		    t->phase == AGENT_TRIAL_RUNNING && t->stop == AGENT_STOP_NONE) {
			log_info("%s: the scheduler cancelled it; stopping it", t->label);
			agent_trial_stop(t, AGENT_STOP_CANCEL, t->rctx->grace_s, NULL, now);
		}
		break;
	case REPORT_FINISH:
		agent_trial_points_sent(t, t->inflight_points);
		t->finish_done = true;
		state = json_string_value(json_object_get(o, "state"));
		log_info("%s: finish (%s) recorded; the trial is now %s", t->label,
		    agent_trial_outcome(t), state != NULL ? state : "?");
		break;
	default:
		break;
	}
	json_decref(o);
}

static void
on_response(const struct agent_http_result *r, void *arg)
{
	struct agent_trial	*t = arg;
	enum report_kind	 kind = (enum report_kind)t->inflight_kind;
	const char		*what = report_names[kind];
	double			 now = now_mono(), delay;
	char			*why;

	t->inflight = false;
	if (r->status == 200) {
		if (t->report_failures > 0)
			log_info("%s: %s delivered after %u failed tries", t->label, what,
			    t->report_failures);
		t->report_failures = 0;
		agent_backoff_reset(&t->backoff);
		t->retry_at = 0;
		handle_ok(t, kind, r, now);
		return;
	}
	why = error_text(r);
	if (r->status == 409) {
		log_warn("%s: the scheduler refused the %s as stale (%s); stopping the attempt "
		    "without further reports", t->label, what, why);
		agent_trial_stop(t, AGENT_STOP_STALE, t->rctx->grace_s, NULL, now);
		drop_all(t);
	} else if (retryable(r->status)) {
		delay = agent_backoff_delay(&t->backoff);
		t->retry_at = now + delay;
		if (t->report_failures++ == 0 || r->status != 0)
			log_warn("%s: %s not delivered (%s); retrying in %.1f s", t->label, what,
			    why, delay);
		else
			log_debug("%s: %s not delivered (%s); retrying in %.1f s", t->label,
			    what, why, delay);
	} else {
		log_error("%s: the scheduler rejected the %s (%s); it is dropped", t->label,
		    what, why);
		if (kind == REPORT_CHECKPOINT)
			drop_checkpoint(t);
		else if (kind == REPORT_HEARTBEAT) {
			agent_trial_points_sent(t, t->inflight_points);
			t->next_heartbeat = now + t->heartbeat_s;
		} else
			t->finish_done = true;
	}
	free(why);
}
