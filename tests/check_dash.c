/* Unit tests for the dashboard's side of the scheduler: the even sampling that bounds its
 * listings (dash_sample), the next change of the switching rules' decision (across days,
 * midnight-wrapping windows, deadlines and daylight-saving changes in the config's and a
 * rule's own zone), a rule's conditions as text, and the read calls through the real
 * dispatcher (server_handle) on a sweep built by agent reports: results in completion order
 * with the best so far, learning curves (a resumed attempt's values win), attempts, cost,
 * rules, and the page's files. */
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
#include "spotsweep/rules-view.h"
#include "spotsweep/rules.h"
#include "spotsweep/server-dash.h"
#include "spotsweep/server.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/tz.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "server-fixture.h"

START_TEST(test_sample)
{
	static const struct {
		size_t		 n, limit;
		const char	*keep;		/* 'k' marks a kept item; NULL: none */
		const char	*want;		/* 'x' marks a chosen item */
	} cases[] = {
		{ 0, 5, NULL, "" },
		{ 3, 5, NULL, "xxx" },
		{ 5, 5, NULL, "xxxxx" },
		{ 10, 1, NULL, ".........x" },
		{ 10, 2, NULL, "x........x" },
		{ 10, 4, NULL, "x..x..x..x" },
		{ 9, 3, NULL, "x...x...x" },
		{ 10, 3, "..k....k..", "x.x..x.x.x" },
		/* More kept items than the limit allows: the even picks alone. */
		{ 10, 2, "kkkkkkkkk.", "x........x" },
		{ 6, 3, "kkk...", "xxxx.x" },
	};
	size_t i, j, count, want;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool keep[16], chosen[16];
		char got[17];

		for (j = 0; j < cases[i].n; j++)
			keep[j] = cases[i].keep != NULL && cases[i].keep[j] == 'k';
		count = dash_sample(cases[i].n, cases[i].limit, cases[i].keep ? keep : NULL,
		    chosen);
		for (j = 0; j < cases[i].n; j++)
			got[j] = chosen[j] ? 'x' : '.';
		got[cases[i].n] = '\0';
		ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: %s, not %s", i, got,
		    cases[i].want);
		for (j = 0, want = 0; got[j] != '\0'; j++)
			want += got[j] == 'x';
		ck_assert_msg(count == want, "case %zu: counted %zu of %zu", i, count, want);
	}
}
END_TEST

/* Parses a rules array; the zone is the config's (NULL: UTC). */
static struct rule *
rules_from(const char *text, size_t *n)
{
	json_error_t jerr;
	json_t *arr = json_loads(text, 0, &jerr);
	struct rule *rules = NULL;
	char *kp = NULL, *msg = NULL;

	ck_assert_msg(arr != NULL, "%s: %s", text, jerr.text);
	ck_assert_msg(rules_parse(arr, &rules, n, &kp, &msg) == 0, "%s: %s: %s", text,
	    kp ? kp : "", msg ? msg : "");
	json_decref(arr);
	return rules;
}

static double
at_iso(const char *s)
{
	double t;

	ck_assert_msg(parse_iso8601(s, &t), "bad time %s", s);
	return t;
}

START_TEST(test_next_change)
{
	static const char weekdays[] =
	    "[{\"name\": \"peak\", \"when\": {\"days\": [\"mon\", \"tue\", \"wed\", \"thu\", "
	    "\"fri\"], \"hours\": \"09:00-18:00\"}, \"use\": \"on-demand\"},"
	    " {\"name\": \"default\", \"use\": \"spot\"}]";
	static const char night[] =
	    "[{\"name\": \"night\", \"when\": {\"days\": [\"fri\"], \"hours\": \"22:00-06:00\"},"
	    " \"use\": \"pause\"}]";
	static const struct {
		const char	*rules;
		const char	*zone;		/* the config's, as a POSIX TZ; NULL: UTC */
		const char	*now;
		double		 deadline_in_h;	/* 0: none */
		double		 horizon_h;
		const char	*want_at;	/* NULL: no change within the horizon */
		const char	*want_rule;
		const char	*want_use;
	} cases[] = {
		/* Friday noon in the window: it closes at 18:00. */
		{ weekdays, NULL, "2026-03-06T12:00:00Z", 0, 192, "2026-03-06T18:00:00Z",
		    "default", "spot" },
		/* Friday evening: the window opens again on Monday, not over the weekend. */
		{ weekdays, NULL, "2026-03-06T19:30:00Z", 0, 192, "2026-03-09T09:00:00Z", "peak",
		    "on-demand" },
		{ weekdays, NULL, "2026-03-06T19:30:00Z", 0, 24, NULL, NULL, NULL },
		/* New York time: 15:00 EST, the window ends at 18:00 EST. */
		{ weekdays, "EST5EDT,M3.2.0,M11.1.0", "2026-03-06T20:00:00Z", 0, 192,
		    "2026-03-06T23:00:00Z", "default", "spot" },
		/* Across the change to daylight saving (Sunday 8 March): Monday 09:00 EDT. */
		{ weekdays, "EST5EDT,M3.2.0,M11.1.0", "2026-03-06T23:30:00Z", 0, 192,
		    "2026-03-09T13:00:00Z", "peak", "on-demand" },
		/* Seconds: the next minute boundary exactly. */
		{ "[{\"name\": \"w\", \"when\": {\"hours\": \"12:01-13:00\"}, \"use\": \"pause\"}]",
		    NULL, "2026-03-06T12:00:30Z", 0, 192, "2026-03-06T12:01:00Z", "w", "pause" },
		/* A window wrapping midnight belongs to the day it starts on. */
		{ night, NULL, "2026-03-06T21:00:00Z", 0, 192, "2026-03-06T22:00:00Z", "night",
		    "pause" },
		{ night, NULL, "2026-03-07T03:00:00Z", 0, 192, "2026-03-07T06:00:00Z", "(none)",
		    "any" },
		/* Saturday 07:00: next Friday 22:00. */
		{ night, NULL, "2026-03-07T07:00:00Z", 0, 192, "2026-03-13T22:00:00Z", "night",
		    "pause" },
		/* The same use by another rule is a change too. */
		{ "[{\"name\": \"a\", \"when\": {\"hours\": \"09:00-10:00\"}, \"use\": \"spot\"},"
		    " {\"name\": \"b\", \"use\": \"spot\"}]", NULL, "2026-03-06T09:30:00Z", 0, 192,
		    "2026-03-06T10:00:00Z", "b", "spot" },
		/* A deadline 20 h away comes within 12 h in 8 h. */
		{ "[{\"name\": \"d\", \"when\": {\"deadline_within_h\": 12}, \"use\": \"on-demand\"},"
		    " {\"name\": \"default\", \"use\": \"spot\"}]", NULL, "2026-03-06T00:00:00Z", 20,
		    192, "2026-03-06T08:00:00Z", "d", "on-demand" },
		/* Nothing that time changes. */
		{ "[{\"name\": \"p\", \"when\": {\"spot_price_above\": 2}, \"use\": \"on-demand\"},"
		    " {\"name\": \"default\", \"use\": \"spot\"}]", NULL, "2026-03-06T00:00:00Z", 0,
		    192, NULL, NULL, NULL },
		{ "[]", NULL, "2026-03-06T00:00:00Z", 0, 192, NULL, NULL, NULL },
		/* A rule's own zone: Berlin changes to summer time on 29 March 2026 at 01:00Z,
		 * so 09:00 there is 07:00Z that day. */
		{ "[{\"name\": \"berlin\", \"when\": {\"hours\": \"09:00-17:00\", \"tz\": "
		    "\"Europe/Berlin\"}, \"use\": \"on-demand\"}]", NULL, "2026-03-29T00:30:00Z", 0,
		    192, "2026-03-29T07:00:00Z", "berlin", "on-demand" },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rule *rules = rules_from(cases[i].rules, &n);
		struct tz *zone = NULL;
		struct rule_ctx ctx;
		struct rule_decision d;
		char *cause = NULL, got[32];
		double at = 0;
		bool found;

		if (cases[i].zone != NULL)
			ck_assert_msg(tz_from_posix(cases[i].zone, &zone, &cause) == 0, "%s", cause);
		memset(&ctx, 0, sizeof ctx);
		ctx.now = at_iso(cases[i].now);
		ctx.tz = zone;
		if (cases[i].deadline_in_h > 0)
			ctx.deadline = ctx.now + cases[i].deadline_in_h * 3600;
		found = rules_next_change(rules, n, &ctx, cases[i].horizon_h * 3600, &at, &d);
		if (cases[i].want_at == NULL) {
			ck_assert_msg(!found, "case %zu: a change at %.0f", i, at);
		} else {
			format_iso8601(got, at, false);
			ck_assert_msg(found, "case %zu: no change found", i);
			ck_assert_msg(strcmp(got, cases[i].want_at) == 0, "case %zu: at %s, not %s",
			    i, got, cases[i].want_at);
			ck_assert_msg(strcmp(d.name, cases[i].want_rule) == 0, "case %zu: rule %s", i,
			    d.name);
			ck_assert_str_eq(rule_use_name(d.use), cases[i].want_use);
		}
		rules_free(rules, n);
		tz_free(zone);
	}
}
END_TEST

START_TEST(test_describe)
{
	static const struct {
		const char	*when;		/* NULL: a rule without conditions */
		const char	*want;
	} cases[] = {
		{ "{\"days\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"], \"hours\": \"09:00-18:00\"}",
		    "mon-fri 09:00-18:00" },
		{ "{\"days\": [\"sun\", \"sat\"]}", "sat,sun" },
		{ "{\"days\": [\"mon\", \"wed\", \"thu\", \"fri\", \"sun\"]}", "mon,wed-fri,sun" },
		{ "{\"days\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]}",
		    "every day" },
		{ "{\"hours\": \"22:00-24:00\", \"tz\": \"America/New_York\"}",
		    "22:00-24:00 America/New_York" },
		{ "{\"hours\": \"09:00-18:00\", \"spot_price_above\": 2.5}",
		    "09:00-18:00, spot price above 2.5" },
		{ "{\"deadline_within_h\": 12, \"trial_preemptions_at_least\": 1}",
		    "deadline within 12 h, trial preempted at least 1 time" },
		{ "{\"trial_preemptions_at_least\": 3}", "trial preempted at least 3 times" },
		{ NULL, "always" },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *text = xasprintf("[{\"use\": \"spot\"%s%s}]", cases[i].when ? ", \"when\": " :
		    "", cases[i].when ? cases[i].when : "");
		struct rule *rules = rules_from(text, &n);
		struct buf b = { 0 };

		rule_describe(&rules[0], &b);
		ck_assert_msg(strcmp(b.data, cases[i].want) == 0, "case %zu: %s", i, b.data);
		buf_free(&b);
		rules_free(rules, n);
		free(text);
	}
}
END_TEST

/* ---- the read calls, through the dispatcher ---- */

static const char spec_text[] =
    "{\"name\": \"d\", \"command\": \"true {x}\", \"method\": \"grid\","
    " \"parameters\": {\"x\": {\"values\": [1, 2, 3]}},"
    " \"metric\": {\"name\": \"val_loss\", \"goal\": \"minimize\"}}";

static long long wid;

static json_t *
get(const char *uri, int want)
{
	char *reply = NULL;
	int status = req("GET", uri, TOKEN, NULL, &reply);
	json_t *o;

	ck_assert_msg(status == want, "GET %s: %d %s", uri, status, reply ? reply : "");
	o = json_loads(reply, JSON_DECODE_ANY, NULL);
	ck_assert_msg(o != NULL, "GET %s: not JSON: %s", uri, reply);
	free(reply);
	return o;
}

/* Leases the next trial to the worker: its id and attempt, its secret in secret. */
static long long
lease(long long *attempt, char secret[64])
{
	char body[64], *reply = NULL;
	json_t *o;
	long long tid;

	snprintf(body, sizeof body, "{\"worker_id\": %lld}", wid);
	ck_assert_int_eq(req("POST", "/v1/lease", TOKEN, body, &reply), 200);
	o = json_loads(reply, 0, NULL);
	tid = json_integer_value(json_object_get(o, "trial_id"));
	*attempt = json_integer_value(json_object_get(o, "attempt"));
	snprintf(secret, 64, "%s", json_string_value(json_object_get(o, "lease_secret")));
	json_decref(o);
	free(reply);
	return tid;
}

/* A report on an attempt: "heartbeat" with points, or "finish" with an outcome. */
static void
report(const char *what, long long tid, long long attempt, const char *secret,
    const char *outcome, const char *points)
{
	char *uri = xasprintf("/v1/trials/%lld/%s", tid, what);
	char *body = xasprintf("{\"attempt\": %lld, \"worker_id\": %lld, \"lease_secret\": "
	    "\"%s\", \"metrics\": [%s]%s%s%s}", attempt, wid, secret, points,
	    outcome ? ", \"exit_code\": 0, \"outcome\": \"" : "", outcome ? outcome : "",
	    outcome ? "\"" : "");
	char *reply = NULL;

	ck_assert_msg(req("POST", uri, TOKEN, body, &reply) == 200, "%s: %s", body, reply);
	free(reply);
	free(body);
	free(uri);
}

static long long t_resumed, t_done, t_running;

/* One sweep of three trials on one worker: the first preempted after two steps and resumed
 * from step 2 (which its second attempt reports again), then finished at 0.5; the second
 * finished at 0.7; the third running at step 1. */
static void
setup(void)
{
	char secret[64], *reply = NULL;
	long long a;
	json_t *o;

	fixture_open("d.json", spec_text, sizeof spec_text - 1);
	ck_assert_int_eq(req("POST", "/v1/workers", TOKEN, "{\"name\": \"w1\", \"slots\": 2}",
	    &reply), 200);
	o = json_loads(reply, 0, NULL);
	wid = json_integer_value(json_object_get(o, "worker_id"));
	json_decref(o);
	free(reply);

	t_resumed = lease(&a, secret);
	report("heartbeat", t_resumed, a, secret, NULL,
	    "{\"name\": \"val_loss\", \"step\": 1, \"value\": 0.9},"
	    "{\"name\": \"val_loss\", \"step\": 2, \"value\": 0.8},"
	    "{\"name\": \"lr\", \"step\": 1, \"value\": 0.1}");
	report("finish", t_resumed, a, secret, "preempted", "");
	ck_assert_int_eq(lease(&a, secret), t_resumed);
	ck_assert_int_eq(a, 2);
	report("finish", t_resumed, a, secret, "succeeded",
	    "{\"name\": \"val_loss\", \"step\": 2, \"value\": 0.75},"
	    "{\"name\": \"val_loss\", \"step\": 3, \"value\": 0.5}");
	t_done = lease(&a, secret);
	report("finish", t_done, a, secret, "succeeded",
	    "{\"name\": \"val_loss\", \"step\": 1, \"value\": 0.7}");
	t_running = lease(&a, secret);
	report("heartbeat", t_running, a, secret, NULL,
	    "{\"name\": \"val_loss\", \"step\": 1, \"value\": 0.3}");
}

static void
teardown(void)
{
	fixture_close();
}

START_TEST(test_results)
{
	json_t *o = get("/v1/sweeps/1/results", 200), *p, *e;

	ck_assert_str_eq(json_string_value(json_object_get(o, "objective")), "val_loss");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "finished")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "shown")), 2);
	p = json_object_get(o, "points");
	ck_assert_int_eq(json_array_size(p), 2);
	/* Completion order: the resumed trial ended first. */
	e = json_array_get(p, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "n")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "trial_id")), t_resumed);
	ck_assert(json_real_value(json_object_get(e, "value")) == 0.5);
	ck_assert(json_real_value(json_object_get(e, "best")) == 0.5);
	ck_assert(json_is_integer(json_object_get(json_object_get(e, "params"), "x")));
	e = json_array_get(p, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "trial_id")), t_done);
	ck_assert(json_real_value(json_object_get(e, "value")) == 0.7);
	ck_assert(json_real_value(json_object_get(e, "best")) == 0.5);
	json_decref(o);
}
END_TEST

START_TEST(test_curves)
{
	json_t *o = get("/v1/sweeps/1/metrics", 200), *t, *pts;
	char *text;
	size_t i;

	ck_assert_str_eq(json_string_value(json_object_get(o, "metric")), "val_loss");
	t = json_object_get(o, "trials");
	ck_assert_int_eq(json_array_size(t), 3);
	/* The best first, then the running one, then the latest. */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(t, 0), "trial_id")),
	    t_resumed);
	ck_assert(json_is_true(json_object_get(json_array_get(t, 0), "best")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(t, 1), "trial_id")),
	    t_running);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(t, 2), "trial_id")),
	    t_done);
	/* Step 2 as the second attempt reported it. */
	pts = json_object_get(json_array_get(t, 0), "points");
	ck_assert_int_eq(json_array_size(pts), 3);
	for (i = 0; i < 3; i++) {
		static const double want[3][3] = { { 1, 0.9, 1 }, { 2, 0.75, 2 }, { 3, 0.5, 2 } };
		json_t *pt = json_array_get(pts, i);

		ck_assert(json_number_value(json_array_get(pt, 0)) == want[i][0]);
		ck_assert(json_number_value(json_array_get(pt, 1)) == want[i][1]);
		ck_assert(json_number_value(json_array_get(pt, 2)) == want[i][2]);
	}
	/* Every reported name is offered, the spec's first. */
	text = json_dumps(json_object_get(o, "metrics"), JSON_COMPACT);
	ck_assert_str_eq(text, "[\"val_loss\",\"lr\"]");
	free(text);
	json_decref(o);

	o = get("/v1/sweeps/1/metrics?trials=1&points=2", 200);
	t = json_object_get(o, "trials");
	ck_assert_int_eq(json_array_size(t), 1);
	ck_assert_int_eq(json_array_size(json_object_get(json_array_get(t, 0), "points")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(t, 0),
	    "total_points")), 3);
	json_decref(o);

	o = get("/v1/sweeps/1/metrics?metric=lr", 200);
	t = json_object_get(o, "trials");
	ck_assert_int_eq(json_array_size(json_object_get(json_array_get(t, 0), "points")), 1);
	json_decref(o);
}
END_TEST

START_TEST(test_attempts_cost_rules)
{
	json_t *o = get("/v1/sweeps/1/attempts", 200), *a, *e, *pools;
	size_t i;
	int preempted = 0, running = 0;

	ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), 4);
	a = json_object_get(o, "attempts");
	ck_assert_int_eq(json_array_size(a), 4);
	json_array_foreach(a, i, e) {
		ck_assert_str_eq(json_string_value(json_object_get(e, "worker")), "w1");
		if (json_is_null(json_object_get(e, "outcome"))) {
			running++;
			ck_assert(json_is_null(json_object_get(e, "ended_at")));
			ck_assert(json_is_null(json_object_get(e, "cost_usd")));
		} else if (strcmp(json_string_value(json_object_get(e, "outcome")),
		    "preempted") == 0)
			preempted++;
	}
	ck_assert_int_eq(running, 1);
	ck_assert_int_eq(preempted, 1);
	json_decref(o);
	o = get("/v1/sweeps/1/attempts?limit=1", 200);
	ck_assert_int_eq(json_array_size(json_object_get(o, "attempts")), 1);
	json_decref(o);

	o = get("/v1/sweeps/1/cost", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "attempts")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "running_attempts")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "interrupted"),
	    "attempts")), 1);
	ck_assert(json_is_object(json_object_get(json_object_get(o, "by_class"), "spot")));
	json_decref(o);
	o = get("/v1/cost", 200);
	ck_assert_int_eq(json_array_size(o), 1);
	json_decref(o);

	/* No pools, no rules: the classless workers may take anything, for good. */
	o = get("/v1/rules", 200);
	ck_assert_int_eq(json_array_size(json_object_get(o, "rules")), 0);
	pools = json_object_get(o, "pools");
	ck_assert_int_eq(json_array_size(pools), 1);
	e = json_array_get(pools, 0);
	ck_assert(json_is_null(json_object_get(e, "name")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "decision"),
	    "use")), "any");
	ck_assert(json_is_null(json_object_get(e, "next")));
	json_decref(o);
}
END_TEST

START_TEST(test_refusals)
{
	static const struct {
		const char	*uri, *auth;
		int		 status;
		const char	*in_reply;
	} cases[] = {
		{ "/v1/rules", NULL, 401, "bearer token" },
		{ "/v1/cost", NULL, 401, "bearer token" },
		{ "/v1/sweeps/1/results", NULL, 401, "bearer token" },
		{ "/v1/sweeps/7/results", TOKEN, 404, "no sweep 7" },
		{ "/v1/sweeps/7/metrics", TOKEN, 404, "no sweep 7" },
		{ "/v1/sweeps/7/attempts", TOKEN, 404, "no sweep 7" },
		{ "/v1/sweeps/7/cost", TOKEN, 404, "no sweep 7" },
		{ "/v1/sweeps/1/results?limit=0", TOKEN, 400, "limit=1..10000" },
		{ "/v1/sweeps/1/results?limit=10001", TOKEN, 400, "limit=1..10000" },
		{ "/v1/sweeps/1/metrics?points=1", TOKEN, 400, "points=2..5000" },
		{ "/v1/sweeps/1/metrics?trials=x", TOKEN, 400, "trials=1..100" },
		{ "/v1/sweeps/1/metrics?metric=", TOKEN, 400, "metric=NAME" },
		{ "/v1/sweeps/1/metrics?trial=999", TOKEN, 404, "no trial 999 in sweep 1" },
		{ "/v1/sweeps/1/attempts?limit=-1", TOKEN, 400, "limit=1..10000" },
		/* The page and its files need no token; without a connection they are described. */
		{ "/", NULL, 200, "\"content_type\":\"text/html; charset=utf-8\"" },
		{ "/dashboard.js", NULL, 200, "text/javascript" },
		{ "/dashboard.css", NULL, 200, "text/css" },
		{ "/favicon.svg", NULL, 200, "image/svg+xml" },
		{ "/index.html", NULL, 404, "no such resource" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *reply = NULL;
		int status = req("GET", cases[i].uri, cases[i].auth, NULL, &reply);

		ck_assert_msg(status == cases[i].status, "case %zu: %d %s", i, status,
		    reply ? reply : "");
		ck_assert_msg(reply != NULL && strstr(reply, cases[i].in_reply) != NULL,
		    "case %zu: %s lacks %s", i, reply ? reply : "(none)", cases[i].in_reply);
		free(reply);
	}
	ck_assert_int_eq(req("POST", "/", NULL, "{}", NULL), 405);
}
END_TEST

/* With pools and a rule whose window is half of each UTC day: the decision per pool and a
 * next change at the next 00:00 or 12:00 UTC. */
START_TEST(test_rules_pools)
{
	static const char text[] =
	    "{\"pools\": [{\"name\": \"s\", \"class\": \"spot\", \"price_per_hour\": 1.5},"
	    " {\"name\": \"o\", \"class\": \"on-demand\", \"price_per_hour\": 4}],"
	    " \"rules\": [{\"name\": \"am\", \"when\": {\"hours\": \"00:00-12:00\"}, \"use\": "
	    "\"on-demand\"}, {\"name\": \"cheap\", \"when\": {\"spot_price_above\": 3}, \"use\": "
	    "\"on-demand\"}, {\"name\": \"default\", \"use\": \"spot\"}]}";
	struct config *c = NULL;
	struct server *s2 = NULL;
	char *cause = NULL, *reply = NULL;
	json_t *o, *pools, *p, *next;
	double now, at;
	size_t i;

	ck_assert_msg(config_parse("c.json", text, sizeof text - 1, &c, &cause) == 0, "%s",
	    cause);
	ck_assert_msg(server_create(base, st, c, NULL, NULL, &s2, &cause) == 0, "%s", cause);
	ck_assert_int_eq(server_handle(s2, "GET", "/v1/rules", NULL, NULL, 0, &reply), 200);
	o = json_loads(reply, 0, NULL);
	free(reply);
	now = json_real_value(json_object_get(o, "now"));
	ck_assert_int_eq(json_array_size(json_object_get(o, "rules")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(o,
	    "rules"), 1), "when")), "spot price above 3");
	pools = json_object_get(o, "pools");
	ck_assert_int_eq(json_array_size(pools), 2);
	json_array_foreach(pools, i, p) {
		const char *rule = json_string_value(json_object_get(json_object_get(p,
		    "decision"), "rule"));
		bool am = fmod(now, 86400) < 43200;

		ck_assert(json_real_value(json_object_get(p, "spot_price")) == 1.5);
		ck_assert_str_eq(rule, am ? "am" : "default");
		next = json_object_get(p, "next");
		ck_assert_msg(json_is_object(next), "no next change");
		at = json_real_value(json_object_get(next, "at"));
		ck_assert(at > now && at - now <= 43200 && fmod(at, 43200) == 0);
		ck_assert_str_eq(json_string_value(json_object_get(json_object_get(next,
		    "decision"), "rule")), am ? "default" : "am");
	}
	json_decref(o);
	server_free(s2);
	config_free(c);
}
END_TEST

int
main(void)
{
	const struct check_case pure[] = {
		{ "sample", test_sample },
		{ "next_change", test_next_change },
		{ "describe", test_describe },
	};
	const struct check_case world[] = {
		{ "results", test_results },
		{ "curves", test_curves },
		{ "attempts_cost_rules", test_attempts_cost_rules },
		{ "refusals", test_refusals },
		{ "rules_pools", test_rules_pools },
	};
	Suite *s = suite_create("dash");

	check_add_cases(s, pure, CHECK_NELEM(pure), NULL, NULL, 60);
	check_add_cases(s, world, CHECK_NELEM(world), setup, teardown, 60);
	return check_run(s);
}
