/* GET /metrics (server-metrics.c): the scheduler in Prometheus's text exposition format
 * (0.0.4). In-process counts (requests, group commits) come from two hooks that the HTTP
 * layer calls; store counts are read at scrape time. The exposition helpers (label escaping,
 * values, histograms) are pure and public for the unit tests. Not for use outside server-*.c. */
#ifndef SPOTSWEEP_SERVER_METRICS_H
#define SPOTSWEEP_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>

#include "spotsweep/util.h"

struct server;
struct req_ctx;
struct server_metrics;

/* Upper bounds (seconds) of the latency histograms' buckets, ascending; +Inf comes after. */
#define METRICS_NBUCKETS 16
extern const double metrics_bucket_bounds[METRICS_NBUCKETS];

/* A latency histogram: counts per bucket (not cumulative; the last one is +Inf). */
struct metrics_histogram {
	uint64_t	 bucket[METRICS_NBUCKETS + 1];
	uint64_t	 count;
	double		 sum;
};

/* The bucket v falls in: the first whose bound is >= v, METRICS_NBUCKETS (+Inf) past them
 * all or for NaN. */
size_t metrics_bucket_index(double v);
/* Counts one observation of v seconds (negative values count as 0). */
void metrics_histogram_observe(struct metrics_histogram *h, double v);

/* Appends s as the inside of a label value: backslash, double quote and line feed escaped
 * (\\, \", \n); bytes that are not UTF-8 become '?'. */
void metrics_add_label_value(struct buf *b, const char *s);
/* Appends a sample value: the shortest decimal that reads back to v, or +Inf, -Inf, NaN. */
void metrics_add_value(struct buf *b, double v);
/* Appends a family's "# HELP" (backslash and line feed escaped) and "# TYPE" lines. */
void metrics_add_family(struct buf *b, const char *name, const char *type, const char *help);
/* Appends h's NAME_bucket (cumulative, le ascending, +Inf last), NAME_sum and NAME_count
 * samples; labels is "" or the series' labels already formatted ("a=\"x\",b=\"y\""). */
void metrics_add_histogram(struct buf *b, const char *name, const char *labels,
    const struct metrics_histogram *h);

/* The scheduler's counters and the scrape's cache; server_metrics_free(NULL) is fine. */
struct server_metrics *server_metrics_create(void);
void server_metrics_free(struct server_metrics *m);

/* The HTTP layer's hooks: no allocation, no SQL. A request answered status after seconds
 * (route: the matched route's pattern, NULL when none matched); a group commit that took
 * seconds (ok: it reached the disk). Both do nothing when srv->metrics is NULL. */
void server_metrics_request(struct server *srv, const char *route,
    enum evhttp_cmd_type method, int status, double seconds);
void server_metrics_commit(struct server *srv, bool ok, double seconds);

/* Appends the whole exposition for srv to out (after committing the open group commit).
 * -1 with *cause when the store failed (out then holds a partial text to discard). */
int server_metrics_render(struct server *srv, struct buf *out, char **cause);

/* GET /metrics: the token unless the config's metrics_public. */
void api_metrics(struct req_ctx *ctx);

#endif
