/* Termination notices of spot machines, as the agent sees them: a cloud metadata endpoint's
 * answer or a notice file's content. Pure parsing, so every provider's format is tested. */
#ifndef SPOTSWEEP_AGENT_NOTICE_H
#define SPOTSWEEP_AGENT_NOTICE_H

#include <stdbool.h>
#include <stddef.h>

/* How often --notice-url is polled, and how long one poll may take. */
#define AGENT_NOTICE_POLL_S	5.0
#define AGENT_NOTICE_TIMEOUT_S	2.0

/* Whether a 200 body announces a termination. AWS spot/instance-action
 * {"action": "terminate", "time": "2026-...Z"} gives *deadline (epoch seconds); GCP's
 * "preempted" answers "TRUE"/"FALSE"; Azure Scheduled Events {"Events": [...]} counts
 * when an event is Preempt or Terminate (its NotBefore gives the deadline); any other
 * non-empty body is a notice without a deadline. *deadline is 0 when none is known. */
bool agent_notice_parse(const char *body, size_t len, double *deadline);

#endif
