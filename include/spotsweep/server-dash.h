/* The dashboard's side of the scheduler (server-api-dash.c): the page's files at / and the
 * read-only calls the page makes beyond the sweep, trial, worker and pool views: a sweep's
 * results in completion order with the best so far, learning curves, attempts, cost, and the
 * switching rules with their next change. Not for use outside server-*.c. */
#ifndef SPOTSWEEP_SERVER_DASH_H
#define SPOTSWEEP_SERVER_DASH_H

#include <stdbool.h>
#include <stddef.h>

#include "spotsweep/server-impl.h"

/* How far ahead GET /v1/rules looks for the next change: a week and a day, so that every
 * weekly window is seen. */
#define DASH_RULES_HORIZON_S (8 * 86400.0)

/* GET /, /dashboard.js, /dashboard.css, /favicon.svg: the embedded files. */
route_handler api_dash_index, api_dash_js, api_dash_css, api_dash_icon;
/* GET /v1/sweeps/:id/results, /metrics, /attempts, /cost; GET /v1/cost, /v1/rules. */
route_handler api_sweep_results, api_sweep_metrics, api_sweep_attempts, api_sweep_cost,
    api_cost, api_rules;

/* Forgets the cost answers kept for reuse. */
void server_dash_free(struct server *srv);

/* Picks at most limit of n items spread evenly, the first and the last always among them,
 * plus every i with keep[i] (keep may be NULL) unless that would pick more than 2 * limit.
 * Sets chosen[i] (n of them) and returns how many were chosen. */
size_t dash_sample(size_t n, size_t limit, const bool *keep, bool *chosen);

#endif
