/* The switching rules read for people (the dashboard, GET /v1/rules): when a decision will
 * change next, and a rule's conditions as one line of text. Pure like rules.c: no store, no
 * clock. */
#ifndef SPOTSWEEP_RULES_VIEW_H
#define SPOTSWEEP_RULES_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "spotsweep/rules.h"
#include "spotsweep/util.h"

/* The first moment after ctx->now, and no later than ctx->now + horizon_s, at which the
 * decision of rules for ctx (its price, preemption count and deadline held fixed; only time
 * moves) differs from the decision at ctx->now, in its use or its deciding rule. True with
 * *at (epoch seconds) and *next; false when the decision holds through the horizon. Exact to
 * the second across daylight-saving changes in every rule's zone. */
bool rules_next_change(const struct rule *rules, size_t n, const struct rule_ctx *ctx,
    double horizon_s, double *at, struct rule_decision *next);

/* Appends rule r's conditions as text, e.g. "mon-fri 09:00-18:00 America/New_York, spot
 * price above 2.5"; "always" for a rule without conditions. */
void rule_describe(const struct rule *r, struct buf *b);

#endif
