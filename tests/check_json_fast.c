/* Unit tests for the fast request-body parser (json-fast.c) against jansson, the authority:
 * whatever it accepts must be exactly what json_loadb(JSON_REJECT_DUPLICATES) gives, value
 * types included (an integer stays an integer, 1.0 a real); whatever jansson refuses it must
 * refuse too; and it must take the bodies agents send, or the fast path is never used. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/json-fast.h"

#include "check-main.h"

/* Equal as JSON, and of the same jansson types all the way down (json_equal calls 1 and
 * 1.0 different already; this also says where). */
static void
assert_same(const json_t *a, const json_t *b, const char *input)
{
	ck_assert_msg(json_equal(a, b), "values differ for %s", input);
	ck_assert_msg(json_typeof(a) == json_typeof(b), "types differ for %s", input);
}

/* The fast result, checked against jansson; NULL when the fast path gave up. */
static json_t *
compare(const char *text, size_t len)
{
	json_error_t err;
	json_t *fast = json_parse_fast(text, len);
	json_t *slow = json_loadb(len ? text : "", len, JSON_REJECT_DUPLICATES, &err);

	if (fast != NULL) {
		ck_assert_msg(slow != NULL, "fast accepted what jansson refuses (%s): %.*s",
		    err.text, (int)len, text);
		assert_same(fast, slow, text);
	}
	json_decref(slow);
	return fast;
}

static void
must_take(const char *text)
{
	json_t *v = compare(text, strlen(text));

	ck_assert_msg(v != NULL, "fast path gave up on %s", text);
	json_decref(v);
}

static void
must_leave(const char *text, size_t len)
{
	json_t *v = compare(text, len);

	ck_assert_msg(v == NULL, "fast path took %.*s", (int)len, text);
}

START_TEST(test_agent_bodies)
{
	must_take("{\"worker_id\": 3}");
	must_take("{\"attempt\": 1, \"worker_id\": 3, \"lease_secret\": \"0123abcd\","
	    " \"outcome\": \"succeeded\", \"exit_code\": 0, \"reason\": null,"
	    " \"fatal_match\": null, \"runtime_s\": 0.001, \"metrics\": [{\"name\":"
	    " \"val_loss\", \"step\": 1, \"value\": 0.123, \"at\": 1764567890.123}],"
	    " \"log_tail\": \"epoch 1\\nloss 0.5\\r\\n\\t\\\"done\\\" \\\\ \\/ \\b\\f\"}");
	must_take("{\"name\":\"w1\",\"hostname\":\"h\",\"slots\":4,\"pool\":\"spot\"}");
	must_take(" \t\r\n{ } \n");
	must_take("{\"a\":[],\"b\":{},\"c\":[[1,[2,{\"d\":[true,false,null]}]]]}");
	must_take("{\"\":\"\",\" \":\" \"}");
}
END_TEST

START_TEST(test_numbers)
{
	static const char *const numbers[] = {
		"0", "-0", "1", "-1", "123456789012345678", "-123456789012345678",
		"999999999999999999", "0.5", "-0.5", "1.0", "1e3", "1E3", "1e+3", "1e-3",
		"-1.25e-300", "2.2250738585072014e-308", "4.9e-324", "1e-400", "0.1",
		"1.7976931348623157e308", "3.141592653589793238462643383279",
		"12345678901234567890.5",
	};
	char text[128];
	size_t i;

	for (i = 0; i < CHECK_NELEM(numbers); i++) {
		snprintf(text, sizeof text, "{\"n\": %s}", numbers[i]);
		must_take(text);
	}
}
END_TEST

START_TEST(test_outside_the_subset)
{
	/* Valid JSON the fast path leaves to jansson (which parses it). */
	static const char *const valid[] = {
		"[1,2]", "\"x\"", "{\"s\":\"caf\xc3\xa9\"}", "{\"s\":\"\\u00e9\"}",
		"{\"s\":\"\\ud83d\\ude00\"}", "{\"n\":1234567890123456789}",
		"{\"n\":-9223372036854775808}",
	};
	size_t i;

	for (i = 0; i < CHECK_NELEM(valid); i++)
		must_leave(valid[i], strlen(valid[i]));
}
END_TEST

START_TEST(test_invalid)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}",
		"{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}",
		"{\"a\":1e+}", "{\"a\":1x}", "{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}",
		"{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":[1 2]}", "{a:1}", "{'a':1}",
		"{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\\"}", "{\"a\":\"\t\"}",
		"{\"a\":1}}", "{\"a\":1} x", "{\"a\":1,\"a\":2}", "{\"a\":1e400}",
		"{\"a\":-1e400}", "{\"a\":99999999999999999999}", "{\"a\":\"\\u0000\"}",
		"{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}",
	};
	size_t i;

	for (i = 0; i < CHECK_NELEM(bad); i++)
		must_leave(bad[i], strlen(bad[i]));
	/* A NUL byte inside the body. */
	must_leave("{\"a\":1}\0", 8);
	must_leave("{\"a\":\"x\0y\"}", 11);
}
END_TEST

START_TEST(test_depth)
{
	char text[2 * (JSON_FAST_MAX_DEPTH + 2) + 16];
	size_t n = 0;
	int d;

	/* JSON_FAST_MAX_DEPTH levels (the object and the arrays in it) are taken, one more
	 * is left to jansson. */
	memcpy(text, "{\"a\":", 5);
	n = 5;
	for (d = 1; d < JSON_FAST_MAX_DEPTH; d++)
		text[n++] = '[';
	for (d = 1; d < JSON_FAST_MAX_DEPTH; d++)
		text[n++] = ']';
	text[n++] = '}';
	text[n] = '\0';
	must_take(text);
	n = 5;
	for (d = 0; d < JSON_FAST_MAX_DEPTH; d++)
		text[n++] = '[';
	for (d = 0; d < JSON_FAST_MAX_DEPTH; d++)
		text[n++] = ']';
	text[n++] = '}';
	must_leave(text, n);
}
END_TEST

/* Every single-byte change and every truncation of an agent's finish report: the fast path
 * may give up, but never disagree with jansson. */
START_TEST(test_mutations)
{
	static const char body[] = "{\"attempt\": 12, \"worker_id\": 3, \"outcome\": \"failed\","
	    " \"exit_code\": 1, \"reason\": \"exit status 1\", \"metrics\": [{\"name\": \"acc\","
	    " \"step\": -2, \"value\": 1.5e-3, \"at\": 17.0}], \"log_tail\": \"a\\nb\"}";
	static const char alphabet[] = "{}[]:,\"\\ -+.0123456789eEtrufalsn\x01\x7f\x80";
	char text[sizeof body];
	size_t len = sizeof body - 1, i, j;
	json_t *v;

	for (i = 0; i <= len; i++) {
		v = compare(body, i);
		json_decref(v);
	}
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof alphabet - 1; j++) {
			memcpy(text, body, len);
			text[i] = alphabet[j];
			v = compare(text, len);
			json_decref(v);
		}
	}
	v = compare(body, len);
	ck_assert(v != NULL);
	json_decref(v);
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "agent_bodies", test_agent_bodies },
		{ "numbers", test_numbers },
		{ "outside", test_outside_the_subset },
		{ "invalid", test_invalid },
		{ "depth", test_depth },
		{ "mutations", test_mutations },
	};

	return check_main("json_fast", tests, CHECK_NELEM(tests), NULL, NULL, 0);
}
