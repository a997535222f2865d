/* Unit tests for the scheduler's request path without a socket (server_handle): the
 * dispatcher's refusals (route, method, token, size, JSON, nesting), the lease secret and
 * worker id a report must carry (409 for anyone else, nothing changed), the limits on
 * strings, points per report and metric names per trial, error replies that stay JSON when
 * the request holds bytes that are not UTF-8 (found by fuzz_http), and lease_secret_new.
 * Each case runs on a fresh in-memory store: one sweep, two workers, trial 1 leased to the
 * first. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "spotsweep/config.h"
#include "spotsweep/lease-secret.h"
#include "spotsweep/log.h"
#include "spotsweep/server.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "server-fixture.h"

static const char spec_text[] =
    "{\"name\": \"h\", \"command\": \"true {x}\", \"method\": \"grid\","
    " \"parameters\": {\"x\": {\"values\": [1, 2, 3]}},"
    " \"metric\": {\"name\": \"val_loss\", \"goal\": \"minimize\"}}";

static char secret[64];
static long long wid, wid2;

static json_t *
req_json(const char *method, const char *uri, const char *body, int want)
{
	char *r = NULL;
	json_t *o;
	int status = req(method, uri, TOKEN, body, &r);

	ck_assert_msg(status == want, "%s %s: %d %s", method, uri, status, r ? r : "");
	o = r != NULL ? json_loads(r, 0, NULL) : NULL;
	free(r);
	return o;
}

static void
setup(void)
{
	char body[64];
	json_t *o;

	fixture_open("h.json", spec_text, sizeof spec_text - 1);
	o = req_json("POST", "/v1/workers", "{\"name\": \"w1\"}", 200);
	wid = json_integer_value(json_object_get(o, "worker_id"));
	json_decref(o);
	o = req_json("POST", "/v1/workers", "{\"name\": \"w2\"}", 200);
	wid2 = json_integer_value(json_object_get(o, "worker_id"));
	json_decref(o);
	snprintf(body, sizeof body, "{\"worker_id\": %lld}", wid);
	o = req_json("POST", "/v1/lease", body, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "trial_id")), 1);
	snprintf(secret, sizeof secret, "%s", json_string_value(json_object_get(o, "lease_secret")));
	json_decref(o);
	ck_assert_int_eq(strlen(secret), LEASE_SECRET_LEN);
}

static void
teardown(void)
{
	fixture_close();
}

/* "state|attempts|value|metrics|checkpoints" of trial 1. */
static char *
trial1(void)
{
	sqlite3_stmt *stmt;
	char *out;

	ck_assert(sqlite3_prepare_v2(store_db(st), "SELECT state || '|' || attempts || '|' ||"
	    " coalesce(value, '-') || '|' || (SELECT count(*) FROM metrics WHERE trial_id = 1) ||"
	    " '|' || (SELECT count(*) FROM checkpoints WHERE trial_id = 1) FROM trials"
	    " WHERE id = 1", -1, &stmt, NULL) == SQLITE_OK);
	ck_assert(sqlite3_step(stmt) == SQLITE_ROW);
	out = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return out;
}

/* Expands @W (worker 1), @X (worker 2) and @S (the secret) in a body. */
static char *
expand(const char *t)
{
	struct buf b = { 0 };

	for (; *t != '\0'; t++) {
		if (t[0] == '@' && t[1] == 'W') {
			buf_printf(&b, "%lld", wid);
			t++;
		} else if (t[0] == '@' && t[1] == 'X') {
			buf_printf(&b, "%lld", wid2);
			t++;
		} else if (t[0] == '@' && t[1] == 'S') {
			buf_adds(&b, secret);
			t++;
		} else
			buf_addc(&b, *t);
	}
	return buf_steal(&b);
}

START_TEST(test_dispatcher)
{
	static const struct {
		const char	*method, *uri, *auth, *body;
		int		 status;
		const char	*in_reply;
	} cases[] = {
		{ "GET", "/healthz", NULL, NULL, 200, "\"ok\":true" },
		{ "GET", "/v1/sweeps", NULL, NULL, 401, "bearer token" },
		{ "GET", "/v1/sweeps", "Bearer t0ke", NULL, 401, "bearer token" },
		{ "GET", "/v1/sweeps", "Bearer t0ken2", NULL, 401, "bearer token" },
		{ "GET", "/v1/sweeps", "bearer t0ken", NULL, 401, "bearer token" },
		{ "GET", "/v1/sweeps", TOKEN, NULL, 200, "\"name\":\"h\"" },
		{ "GET", "/v1/nothing", TOKEN, NULL, 404, "no such resource" },
		{ "DELETE", "/v1/lease", TOKEN, NULL, 405, "method not allowed" },
		{ "BREW", "/v1/lease", TOKEN, NULL, 501, "not implemented" },
		{ "POST", "/v1/workers", TOKEN, "{\"name\": ", 400, "malformed JSON" },
		{ "POST", "/v1/workers", TOKEN, "[1]", 400, "must be a JSON object" },
		{ "POST", "/v1/workers", TOKEN, "{\"name\": \"a\", \"name\": \"b\"}", 400,
		    "duplicate" },
		{ "GET", "/v1/sweeps/99999999999999999999", TOKEN, NULL, 404, "no such" },
		{ "GET", "/v1/sweeps/1/trials?limit=0", TOKEN, NULL, 400, "limit=1..10000" },
		/* Bytes that are not UTF-8 in what the reply quotes: still a JSON error. */
		{ "PUT", "/v1/pools/\xff\xfe%ff/price", TOKEN, "{\"price_per_hour\": 1}", 404,
		    "no pool" },
		{ "GET", "/v1/\xc3(", TOKEN, NULL, 404, "\\\\xc3(" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *reply = NULL;
		json_t *o;
		int status = req(cases[i].method, cases[i].uri, cases[i].auth, cases[i].body,
		    &reply);

		ck_assert_msg(status == cases[i].status, "case %zu: %d %s", i, status,
		    reply ? reply : "");
		ck_assert_msg(reply != NULL && strstr(reply, cases[i].in_reply) != NULL,
		    "case %zu: reply %s lacks %s", i, reply ? reply : "(none)",
		    cases[i].in_reply);
		o = json_loads(reply, 0, NULL);
		ck_assert_msg(o != NULL && (status < 400 ||
		    json_is_string(json_object_get(o, "error"))), "case %zu: not a JSON error: %s",
		    i, reply);
		json_decref(o);
		free(reply);
	}
}
END_TEST

START_TEST(test_limits)
{
	struct buf big = { 0 }, deep = { 0 };
	char *before, *after, *body;
	size_t i;
	int depth;

	before = trial1();
	/* 1 MiB of body at most. */
	buf_adds(&big, "{\"name\": \"");
	for (i = 0; i < 1024 * 1024; i++)
		buf_addc(&big, 'x');
	buf_adds(&big, "\"}");
	ck_assert_int_eq(req("POST", "/v1/workers", TOKEN, big.data, NULL), 413);
	/* 32 levels of nesting: an object at 32 passes the dispatcher, at 33 not. */
	for (depth = 31; depth <= 32; depth++) {
		buf_reset(&deep);
		buf_adds(&deep, "{\"name\": \"d\", \"x\": ");
		for (i = 0; i < (size_t)depth; i++)
			buf_addc(&deep, '[');
		for (i = 0; i < (size_t)depth; i++)
			buf_addc(&deep, ']');
		buf_addc(&deep, '}');
		ck_assert_int_eq(req("POST", "/v1/workers", TOKEN, deep.data, NULL),
		    depth == 31 ? 200 : 400);
	}
	body = xasprintf("{\"name\": \"%0300d\"}", 1);
	ck_assert_int_eq(req("POST", "/v1/workers", TOKEN, body, NULL), 400);
	free(body);
	/* 10,000 points per report, 1,024 metric names per trial. */
	buf_reset(&big);
	body = expand("{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": \"@S\", \"metrics\": [");
	buf_adds(&big, body);
	free(body);
	for (i = 0; i <= 10000; i++)
		buf_printf(&big, "%s{\"name\": \"a\", \"step\": %zu, \"value\": 1}", i ? "," : "", i);
	buf_adds(&big, "]}");
	ck_assert_int_eq(req("POST", "/v1/trials/1/heartbeat", TOKEN, big.data, NULL), 413);
	buf_reset(&big);
	body = expand("{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": \"@S\", \"metrics\": [");
	buf_adds(&big, body);
	free(body);
	for (i = 0; i < 1025; i++)
		buf_printf(&big, "%s{\"name\": \"m%zu\", \"step\": 1, \"value\": 1}", i ? "," : "", i);
	buf_adds(&big, "]}");
	ck_assert_int_eq(req("POST", "/v1/trials/1/heartbeat", TOKEN, big.data, NULL), 413);
	after = trial1();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	buf_free(&big);
	buf_free(&deep);
}
END_TEST

START_TEST(test_lease_holder)
{
	static const struct {
		const char	*uri, *body;
		int		 status;
	} cases[] = {
		/* another worker with the right secret, the right worker with a wrong one */
		{ "/v1/trials/1/finish", "{\"attempt\": 1, \"worker_id\": @X, \"lease_secret\": "
		    "\"@S\", \"outcome\": \"succeeded\"}", 409 },
		{ "/v1/trials/1/finish", "{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": "
		    "\"0123456789abcdef0123456789abcdef\", \"outcome\": \"succeeded\"}", 409 },
		{ "/v1/trials/1/heartbeat", "{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": "
		    "\"\", \"metrics\": [{\"name\": \"val_loss\", \"step\": 1, \"value\": 2}]}", 409 },
		{ "/v1/trials/1/checkpoint", "{\"attempt\": 1, \"worker_id\": @X, \"lease_secret\": "
		    "\"@S\", \"path\": \"/c\"}", 409 },
		/* without the ids */
		{ "/v1/trials/1/finish", "{\"attempt\": 1, \"worker_id\": @W, \"outcome\": "
		    "\"succeeded\"}", 400 },
		{ "/v1/trials/1/heartbeat", "{\"attempt\": 1, \"lease_secret\": \"@S\"}", 400 },
		{ "/v1/trials/1/finish", "{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": "
		    "7, \"outcome\": \"succeeded\"}", 400 },
		/* the holder, but a stale attempt, or an exit code out of range */
		{ "/v1/trials/1/finish", "{\"attempt\": 2, \"worker_id\": @W, \"lease_secret\": "
		    "\"@S\", \"outcome\": \"succeeded\"}", 409 },
		{ "/v1/trials/1/finish", "{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": "
		    "\"@S\", \"outcome\": \"failed\", \"exit_code\": 4096}", 400 },
	};
	char *before = trial1(), *after, *body, *reply;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		body = expand(cases[i].body);
		reply = NULL;
		ck_assert_msg(req("POST", cases[i].uri, TOKEN, body, &reply) == cases[i].status,
		    "case %zu: %s", i, reply);
		ck_assert_msg(strstr(reply, secret) == NULL, "case %zu: the secret in %s", i,
		    reply);
		free(reply);
		free(body);
	}
	after = trial1();
	ck_assert_str_eq(before, after);
	free(after);
	/* The holder's own reports count. */
	body = expand("{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": \"@S\", \"path\": "
	    "\"/c/1\", \"step\": 1}");
	ck_assert_int_eq(req("POST", "/v1/trials/1/checkpoint", TOKEN, body, NULL), 200);
	free(body);
	body = expand("{\"attempt\": 1, \"worker_id\": @W, \"lease_secret\": \"@S\", \"outcome\": "
	    "\"succeeded\", \"exit_code\": 0, \"metrics\": [{\"name\": \"val_loss\", \"step\": 1, "
	    "\"value\": 0.25}]}");
	ck_assert_int_eq(req("POST", "/v1/trials/1/finish", TOKEN, body, NULL), 200);
	free(body);
	after = trial1();
	ck_assert_str_eq(after, "succeeded|1|0.25|1|1");
	free(after);
	free(before);
}
END_TEST

START_TEST(test_secret_new)
{
	char a[LEASE_SECRET_LEN + 1], b[LEASE_SECRET_LEN + 1], *cause = NULL;
	size_t i;

	ck_assert_int_eq(lease_secret_new(a, &cause), 0);
	ck_assert_int_eq(lease_secret_new(b, &cause), 0);
	ck_assert_int_eq(strlen(a), LEASE_SECRET_LEN);
	for (i = 0; i < LEASE_SECRET_LEN; i++)
		ck_assert(strchr("0123456789abcdef", a[i]) != NULL);
	ck_assert_str_ne(a, b);
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "dispatcher", test_dispatcher },
		{ "limits", test_limits },
		{ "lease_holder", test_lease_holder },
		{ "secret_new", test_secret_new },
	};

	return check_main("server_http", tests, CHECK_NELEM(tests), setup, teardown, 60);
}
