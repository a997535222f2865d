/* Delivery of an attempt's reports to the scheduler: checkpoints, heartbeats (carrying the
 * metric points not yet acknowledged) and the finish report. One request per attempt is in
 * flight at a time, so reports arrive in the order they were made; a failed request is
 * retried with exponential backoff and jitter (0.5 s doubling to 30 s, or to the heartbeat
 * interval if shorter) and nothing is dropped unless the scheduler refuses it for good
 * (409: the attempt is stale, or another 4xx). */
#ifndef SPOTSWEEP_AGENT_REPORT_H
#define SPOTSWEEP_AGENT_REPORT_H

#include <stdint.h>

#include "spotsweep/agent-http.h"
#include "spotsweep/agent-trial.h"

/* Points carried by one request, which keeps bodies far below the scheduler's 1 MiB. */
#define AGENT_REPORT_MAX_POINTS	4000

/* What report delivery needs from the agent; the worker id may change on re-registration. */
struct agent_report_ctx {
	struct agent_http	*http;
	int64_t			 worker_id;
	double			 grace_s;	/* for stopping a stale or cancelled trial */
};

/* Starts the attempt's next due request, if none is in flight and no backoff is running. */
void agent_report_pump(struct agent_report_ctx *ctx, struct agent_trial *t, double now);
/* When the attempt next needs agent_report_pump() (monotonic), or 0 for "not by itself". */
double agent_report_next(const struct agent_trial *t);
/* True when nothing remains to deliver and nothing is in flight. */
bool agent_report_idle(const struct agent_trial *t);

#endif
