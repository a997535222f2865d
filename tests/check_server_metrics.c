/* Unit tests for GET /metrics (server-metrics.c): label value escaping, sample values, the
 * histogram's buckets and its exposition, HELP escaping; then the endpoint through
 * server_handle on an in-memory store: the token (and metrics_public), trials by state,
 * leases and attempts by outcome as the incremental fold follows attempts that open and
 * close between scrapes, and the request histogram. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "spotsweep/config.h"
#include "spotsweep/log.h"
#include "spotsweep/server-metrics.h"
#include "spotsweep/server.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "server-fixture.h"

START_TEST(test_label_value)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "", "" },
		{ "spot-h100", "spot-h100" },
		{ "a\"b", "a\\\"b" },
		{ "a\\b", "a\\\\b" },
		{ "a\nb", "a\\nb" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		{ "tab\there", "tab\there" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "bad\xff", "bad?" },
		{ "/v1/trials/:id/finish", "/v1/trials/:id/finish" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = { 0 };

		buf_adds(&b, "");
		metrics_add_label_value(&b, cases[i].in);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: got [%s] want [%s]", i,
		    b.data, cases[i].out);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_value)
{
	static const struct {
		double		 v;
		const char	*out;
	} cases[] = {
		{ 0, "0" }, { 1.5, "1.5" }, { -2, "-2" }, { 0.1, "0.1" }, { 1e-05, "1e-05" },
		{ 12345678901234.0, "12345678901234" }, { 1e300, "1e+300" },
	};
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		metrics_add_value(&b, cases[i].v);
		ck_assert_msg(strtod(b.data, NULL) == cases[i].v, "case %zu: %s", i, b.data);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: got %s want %s", i,
		    b.data, cases[i].out);
	}
	buf_reset(&b);
	metrics_add_value(&b, NAN);
	ck_assert_str_eq(b.data, "NaN");
	buf_reset(&b);
	metrics_add_value(&b, INFINITY);
	ck_assert_str_eq(b.data, "+Inf");
	buf_reset(&b);
	metrics_add_value(&b, -INFINITY);
	ck_assert_str_eq(b.data, "-Inf");
	buf_free(&b);
}
END_TEST

START_TEST(test_bucket)
{
	static const struct {
		double	 v;
		size_t	 bucket;
	} cases[] = {
		{ 0, 0 }, { 0.00005, 0 }, { 0.000051, 1 }, { 0.0001, 1 }, { 0.0003, 3 },
		{ 0.001, 4 }, { 0.3, 12 }, { 1, 13 }, { 2.5, 14 }, { 5, 15 }, { 5.0001, 16 },
		{ 1e9, 16 }, { INFINITY, 16 }, { NAN, 16 },
	};
	size_t i;

	for (i = 1; i < METRICS_NBUCKETS; i++)
		ck_assert(metrics_bucket_bounds[i - 1] < metrics_bucket_bounds[i]);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(metrics_bucket_index(cases[i].v) == cases[i].bucket,
		    "case %zu (%g): got %zu want %zu", i, cases[i].v,
		    metrics_bucket_index(cases[i].v), cases[i].bucket);
}
END_TEST

START_TEST(test_histogram)
{
	static const double obs[] = { 0.0002, 0.0002, 0.3, 10, -1 };
	static const struct {
		const char	*labels;
		const char	*line;
	} cases[] = {
		{ "", "h_seconds_bucket{le=\"5e-05\"} 1\n" },	/* the -1, counted as 0 */
		{ "", "h_seconds_bucket{le=\"0.00025\"} 3\n" },
		{ "", "h_seconds_bucket{le=\"0.25\"} 3\n" },
		{ "", "h_seconds_bucket{le=\"0.5\"} 4\n" },
		{ "", "h_seconds_bucket{le=\"5\"} 4\n" },
		{ "", "h_seconds_bucket{le=\"+Inf\"} 5\n" },
		{ "", "h_seconds_sum 10.3004\n" },
		{ "", "h_seconds_count 5\n" },
		{ "route=\"/x\"", "h_seconds_bucket{route=\"/x\",le=\"0.5\"} 4\n" },
		{ "route=\"/x\"", "h_seconds_bucket{route=\"/x\",le=\"+Inf\"} 5\n" },
		{ "route=\"/x\"", "h_seconds_sum{route=\"/x\"} 10.3004\n" },
		{ "route=\"/x\"", "h_seconds_count{route=\"/x\"} 5\n" },
	};
	struct metrics_histogram h;
	size_t i, lines = 0;
	const char *p;

	memset(&h, 0, sizeof h);
	for (i = 0; i < sizeof obs / sizeof obs[0]; i++)
		metrics_histogram_observe(&h, obs[i]);
	ck_assert_int_eq(h.count, 5);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = { 0 };

		metrics_add_histogram(&b, "h_seconds", cases[i].labels, &h);
		ck_assert_msg(strstr(b.data, cases[i].line) != NULL, "case %zu: no %s in\n%s", i,
		    cases[i].line, b.data);
		for (lines = 0, p = b.data; *p != '\0'; p++)
			lines += *p == '\n';
		/* every bound, +Inf, _sum, _count */
		ck_assert_int_eq(lines, METRICS_NBUCKETS + 3);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_family)
{
	struct buf b = { 0 };

	metrics_add_family(&b, "x_total", "counter", "One \\ two\nthree \"q\".");
	ck_assert_str_eq(b.data, "# HELP x_total One \\\\ two\\nthree \"q\".\n"
	    "# TYPE x_total counter\n");
	buf_free(&b);
}
END_TEST

/* ---- the endpoint ---- */

static const char spec_text[] =
    "{\"name\": \"m \\\"q\\\" \\\\\", \"command\": \"true {x}\", \"method\": \"grid\","
    " \"parameters\": {\"x\": {\"values\": [1, 2, 3, 4]}}, \"retry\": {\"max_failures\": 1},"
    " \"metric\": {\"name\": \"val_loss\", \"goal\": \"minimize\"}}";

static long long wid;

static void
setup(void)
{
	char *reply = NULL;
	json_t *o;

	fixture_open("m.json", spec_text, sizeof spec_text - 1);
	ck_assert_int_eq(server_handle(srv, "POST", "/v1/workers", TOKEN, "{\"name\": \"w\"}",
	    13, &reply), 200);
	o = json_loads(reply, 0, NULL);
	wid = json_integer_value(json_object_get(o, "worker_id"));
	json_decref(o);
	free(reply);
}

static void
teardown(void)
{
	fixture_close();
}

/* Leases a trial; returns its id, with its lease secret in secret. */
static long long
lease(char secret[64])
{
	char body[64], *reply = NULL;
	long long id;
	json_t *o;

	snprintf(body, sizeof body, "{\"worker_id\": %lld}", wid);
	ck_assert_int_eq(server_handle(srv, "POST", "/v1/lease", TOKEN, body, strlen(body),
	    &reply), 200);
	o = json_loads(reply, 0, NULL);
	id = json_integer_value(json_object_get(o, "trial_id"));
	snprintf(secret, 64, "%s", json_string_value(json_object_get(o, "lease_secret")));
	json_decref(o);
	free(reply);
	return id;
}

static void
finish(long long trial, int attempt, const char *secret, const char *outcome, double value)
{
	char *body, *reply = NULL, uri[64];

	body = xasprintf("{\"attempt\": %d, \"worker_id\": %lld, \"lease_secret\": \"%s\","
	    " \"outcome\": \"%s\", \"exit_code\": %d, \"runtime_s\": 1, \"metrics\":"
	    " [{\"name\": \"val_loss\", \"step\": 1, \"value\": %g}]}", attempt, wid, secret,
	    outcome, strcmp(outcome, "succeeded") == 0 ? 0 : 3, value);
	snprintf(uri, sizeof uri, "/v1/trials/%lld/finish", trial);
	ck_assert_int_eq(server_handle(srv, "POST", uri, TOKEN, body, strlen(body), &reply), 200);
	free(reply);
	free(body);
}

/* Scrapes and checks that every line of want is in the exposition. */
static void
scrape_has(const char *auth, const char *const *want, size_t n)
{
	char *reply = NULL;
	size_t i;

	ck_assert_int_eq(server_handle(srv, "GET", "/metrics", auth, NULL, 0, &reply), 200);
	for (i = 0; i < n; i++)
		ck_assert_msg(strstr(reply, want[i]) != NULL, "no [%s] in\n%s", want[i], reply);
	free(reply);
}

START_TEST(test_endpoint)
{
	/* Trial 1 succeeded, trial 2 running. */
	static const char *const first[] = {
		"# TYPE spotsweep_trials gauge\n",
		"spotsweep_sweep_info{sweep=\"1\",name=\"m \\\"q\\\" \\\\\",method=\"grid\","
		    "state=\"active\"} 1\n",
		"spotsweep_trials{sweep=\"1\",state=\"pending\"} 2\n",
		"spotsweep_trials{sweep=\"1\",state=\"running\"} 1\n",
		"spotsweep_trials{sweep=\"1\",state=\"succeeded\"} 1\n",
		"spotsweep_sweep_best_value{sweep=\"1\"} 0.25\n",
		"spotsweep_leases_active 1\n",
		"spotsweep_leases_granted_total 2\n",
		"spotsweep_attempts_total{sweep=\"1\",outcome=\"succeeded\"} 1\n",
		"spotsweep_attempts_total{sweep=\"1\",outcome=\"failed\"} 0\n",
		"spotsweep_workers{pool=\"\",state=\"active\"} 1\n",
		"spotsweep_http_request_duration_seconds_count{route=\"/metrics\",method=\"GET\","
		    "status=\"401\"} 1\n",
		"spotsweep_http_request_duration_seconds_count{route=\"/v1/lease\",method=\"POST\","
		    "status=\"200\"} 2\n",
		"# TYPE spotsweep_store_commit_duration_seconds histogram\n",
	};
	/* The attempt open at the first scrape failed (its trial waits to be retried), and
	 * trial 3's is open. */
	static const char *const second[] = {
		"spotsweep_trials{sweep=\"1\",state=\"pending\"} 2\n",
		"spotsweep_trials{sweep=\"1\",state=\"running\"} 1\n",
		"spotsweep_leases_active 1\n",
		"spotsweep_leases_granted_total 3\n",
		"spotsweep_attempts_total{sweep=\"1\",outcome=\"succeeded\"} 1\n",
		"spotsweep_attempts_total{sweep=\"1\",outcome=\"failed\"} 1\n",
		"spotsweep_http_request_duration_seconds_count{route=\"/metrics\",method=\"GET\","
		    "status=\"200\"} 1\n",
		"spotsweep_http_request_duration_seconds_count{route=\"unmatched\",method=\"GET\","
		    "status=\"404\"} 1\n",
	};
	/* Trial 3's attempt closed and trial 4 came and went. */
	static const char *const third[] = {
		"spotsweep_trials{sweep=\"1\",state=\"pending\"} 1\n",
		"spotsweep_trials{sweep=\"1\",state=\"running\"} 0\n",
		"spotsweep_trials{sweep=\"1\",state=\"succeeded\"} 3\n",
		"spotsweep_sweep_best_value{sweep=\"1\"} 0.125\n",
		"spotsweep_leases_active 0\n",
		"spotsweep_leases_granted_total 4\n",
		"spotsweep_attempts_total{sweep=\"1\",outcome=\"succeeded\"} 3\n",
		"spotsweep_attempts_total{sweep=\"1\",outcome=\"failed\"} 1\n",
	};
	char s1[64], s2[64], s3[64], s4[64], *reply = NULL;
	long long t1, t2, t3, t4;

	ck_assert_int_eq(server_handle(srv, "GET", "/metrics", NULL, NULL, 0, &reply), 401);
	free(reply);
	t1 = lease(s1);
	finish(t1, 1, s1, "succeeded", 0.25);
	t2 = lease(s2);
	scrape_has(TOKEN, first, sizeof first / sizeof first[0]);

	finish(t2, 1, s2, "failed", 9);
	t3 = lease(s3);
	ck_assert_int_eq(t3, 3);
	reply = NULL;
	ck_assert_int_eq(server_handle(srv, "GET", "/nothing", NULL, NULL, 0, &reply), 404);
	free(reply);
	scrape_has(TOKEN, second, sizeof second / sizeof second[0]);

	finish(t3, 1, s3, "succeeded", 0.5);
	t4 = lease(s4);
	finish(t4, 1, s4, "succeeded", 0.125);
	scrape_has(TOKEN, third, sizeof third / sizeof third[0]);

	/* metrics_public: /metrics without the token, /v1/ still with it */
	reply = NULL;
	ck_assert_int_eq(server_handle(srv, "GET", "/metrics", NULL, NULL, 0, &reply), 401);
	free(reply);
	cfg->metrics_public = true;
	scrape_has(NULL, third, sizeof third / sizeof third[0]);
	reply = NULL;
	ck_assert_int_eq(server_handle(srv, "GET", "/v1/sweeps", NULL, NULL, 0, &reply), 401);
	free(reply);
}
END_TEST

int
main(void)
{
	const struct check_case exposition[] = {
		{ "exposition", test_label_value },
		{ "exposition", test_value },
		{ "exposition", test_bucket },
		{ "exposition", test_histogram },
		{ "exposition", test_family },
	};
	const struct check_case endpoint[] = {
		{ "endpoint", test_endpoint },
	};
	Suite *s = suite_create("server_metrics");

	check_add_cases(s, exposition, CHECK_NELEM(exposition), NULL, NULL, 0);
	check_add_cases(s, endpoint, CHECK_NELEM(endpoint), setup, teardown, 30);
	return check_run(s);
}
