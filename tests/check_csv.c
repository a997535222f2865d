/* Unit tests for CSV output (csv.c): RFC 4180 quoting, the export of a small stored sweep
 * against an exact expected text, JSON string decoding and the slow path for rows the fast
 * scanner does not handle, and numbers that read back to the same bits. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/csv.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

static void
setup(void)
{
	store_fixture_open("check_csv");
}

static void
teardown(void)
{
	store_fixture_close();
}

static int64_t
submit(const char *text)
{
	struct spec *s;
	char *cause = NULL;
	int64_t id;
	uint64_t n;

	ck_assert_msg(spec_parse("t.json", text, strlen(text), &s, &cause) == 0, "spec: %s",
	    cause);
	ck_assert_msg(store_sweep_create(st, s, "t.json", &id, &n, &cause) == 0, "create: %s",
	    cause);
	spec_free(s);
	return id;
}

/* The export of a sweep as one string. */
static char *
export_text(int64_t sweep)
{
	char *cause = NULL, *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(csv_export_sweep(st, sweep, f, &cause) == 0, "export: %s", cause);
	fclose(f);
	return text;
}

/* A small RFC 4180 reader: rows of cells, for reading exports back. */
struct table {
	char	***rows;	/* rows[r][c] */
	size_t	*ncells;
	size_t	 nrows;
};

static void
table_parse(const char *s, struct table *t)
{
	struct buf cell = { 0 };
	char **row = NULL;
	size_t n = 0;

	memset(t, 0, sizeof *t);
	while (*s != '\0') {
		buf_reset(&cell);
		buf_add(&cell, "", 0);
		if (*s == '"') {
			for (s++; !(*s == '"' && s[1] != '"'); s++) {
				ck_assert_msg(*s != '\0', "unterminated quoted cell");
				if (*s == '"')
					s++;
				buf_addc(&cell, *s);
			}
			s++;
		} else {
			for (; *s != ',' && *s != '\r' && *s != '\n' && *s != '\0'; s++)
				buf_addc(&cell, *s);
		}
		row = xreallocarray(row, n + 1, sizeof *row);
		row[n++] = xstrdup(cell.data);
		if (*s == ',') {
			s++;
			continue;
		}
		ck_assert_msg(s[0] == '\r' && s[1] == '\n', "row not ended by CRLF");
		s += 2;
		t->rows = xreallocarray(t->rows, t->nrows + 1, sizeof *t->rows);
		t->ncells = xreallocarray(t->ncells, t->nrows + 1, sizeof *t->ncells);
		t->rows[t->nrows] = row;
		t->ncells[t->nrows++] = n;
		row = NULL;
		n = 0;
	}
	ck_assert_uint_eq(n, 0);
	buf_free(&cell);
}

static void
table_free(struct table *t)
{
	size_t r, c;

	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncells[r]; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	free(t->ncells);
}

START_TEST(test_quoting)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "a,b", "\"a,b\"" },
		{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
		{ "\"", "\"\"\"\"" },
		{ "cr\rx", "\"cr\rx\"" },
		{ "lf\nx", "\"lf\nx\"" },
		{ "crlf\r\n", "\"crlf\r\n\"" },
		{ "na\xc3\xafve \xe2\x82\xac", "na\xc3\xafve \xe2\x82\xac" },
		{ " spaced ", " spaced " },
		{ "semi;colon", "semi;colon" },
	};
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		buf_add(&b, "", 0);
		csv_add_cell(&b, cases[i].in, strlen(cases[i].in));
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: [%s]", i, b.data);
	}
	/* A cell is given by length: an embedded NUL does not end it. */
	buf_reset(&b);
	csv_add_cell(&b, "a\0,b", 4);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(memcmp(b.data, "\"a\0,b\"", 6), 0);
	buf_reset(&b);
	buf_add(&b, "", 0);
	csv_add_double(&b, NAN);
	ck_assert_str_eq(b.data, "");
	csv_add_double(&b, 0.1);
	ck_assert_str_eq(b.data, "0.1");
	buf_free(&b);
}
END_TEST

/* A stored sweep with trials in several states exports to exactly this text. */
START_TEST(test_export_exact)
{
	static const char *const expected =
	    "trial_id,state,attempts,preemptions,lr,opt,flag,arr,loss,acc,runtime_s,"
	    "gpu_hours,cost_usd,last_pool,started_at,finished_at\r\n"
	    "1,succeeded,1,0,0.1,\"a,b\",true,\"[1,2]\",0.31,0.5,100,0.05555555555555555,"
	    "0.1111111111111111,spot-a,2025-11-30T15:08:19Z,2025-11-30T15:09:59Z\r\n"
	    "2,running,1,0,0.1,\"say \"\"hi\"\"\",true,\"[1,2]\",,,0,0,0,\"spot,b\","
	    "2025-11-30T15:08:19Z,\r\n"
	    "3,pending,0,0,1e-05,\"a,b\",true,\"[1,2]\",,,0,0,0,,,\r\n"
	    "4,pending,0,0,1e-05,\"say \"\"hi\"\"\",true,\"[1,2]\",,,0,0,0,,,\r\n";
	struct lease_request req = { .pool = "spot-a", .pool_class = "spot",
	    .price_per_hour = 2.0, .gpus = 2, .lease_timeout_s = 600, .now = 1764515299 };
	struct metric_point pts[] = { { "acc", 1, 0.5, 0 }, { "loss", 1, 0.31, 0 } };
	struct finish_report fin = { .outcome = OUTCOME_SUCCEEDED, .pts = pts, .npts = 2,
	    .now = 1764515399 };
	struct lease l;
	char *cause = NULL, *text;
	int64_t sweep;

	sweep = submit("{\"name\": \"c\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"lr\": {\"values\": [0.1, 1e-5]},"
	    " \"opt\": {\"values\": [\"a,b\", \"say \\\"hi\\\"\"]},"
	    " \"flag\": {\"value\": true}, \"arr\": {\"value\": [1, 2]}},"
	    " \"metric\": {\"name\": \"loss\"}, \"metrics\": {\"acc\": null}}");
	ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
	lease_clear(&l);
	req.pool = "spot,b";
	ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
	lease_clear(&l);
	ck_assert_int_eq(trial_finish(st, 1, 1, &fin, NULL, &cause), TRIAL_OK);
	text = export_text(sweep);
	ck_assert_str_eq(text, expected);
	free(text);
	ck_assert_int_eq(csv_export_sweep(st, 99, stdout, &cause), -1);
	ck_assert_str_eq(cause, "no sweep 99");
	free(cause);
}
END_TEST

/* Rows the scanner does not expect: keys out of order, escapes, nested values, junk. Each
 * gives the cells a JSON decoder would. */
START_TEST(test_export_scanner_and_fallback)
{
	static const struct {
		const char	*params;
		const char	*a, *b;
	} cases[] = {
		{ "{\"a\":\"x\",\"b\":2}", "x", "2" },
		{ "{\"b\":2,\"a\":\"x\"}", "x", "2" },				/* order */
		{ "{ \"a\" : 1 , \"b\" : false }", "1", "false" },		/* spaces */
		{ "{\"a\":\"\\u00e9\\ud83d\\ude00\",\"b\":null}", "\xc3\xa9\xf0\x9f\x98\x80", "" },
		/* A lone surrogate cannot be UTF-8: it becomes U+FFFD. */
		{ "{\"a\":\"\\ud800x\",\"b\":\"\\/\\b\"}", "\xef\xbf\xbdx", "/\b" },
		{ "{\"a\":\"line\\nbreak\",\"b\":\"q\\\"\"}", "line\nbreak", "q\"" },
		{ "{\"\\u0061\":\"esc\",\"b\":[1,{\"c\":\"}\"}]}", "esc", "[1,{\"c\":\"}\"}]" },
		{ "{\"a\":1.5e300,\"z\":{\"a\":9}}", "1.5e300", "" },	/* missing, extra */
		{ "{\"a\":{\"k\":[1,2]},\"b\":-0.5}", "{\"k\":[1,2]}", "-0.5" },
		{ "not json", "", "" },
		{ "{\"a\":\"unterminated", "", "" },
		{ "{\"a\":\"bad \\q escape\",\"b\":1}", "", "" },
	};
	struct table t;
	char *cause = NULL, *text;
	int64_t sweep, trial;
	size_t i;

	sweep = submit("{\"name\": \"b\", \"command\": \"true\", \"method\": \"bayes\","
	    " \"max_trials\": 20, \"parameters\": {\"a\": {\"values\": [1, 2]},"
	    " \"b\": {\"values\": [1, 2]}}, \"metric\": {\"name\": \"m\"}}");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(store_trial_add(st, sweep, cases[i].params, &trial, &cause), 0);
		ck_assert_int_ne(trial, 0);
	}
	text = export_text(sweep);
	table_parse(text, &t);
	ck_assert_uint_eq(t.nrows, 1 + sizeof cases / sizeof cases[0]);
	ck_assert_str_eq(t.rows[0][4], "a");
	ck_assert_str_eq(t.rows[0][5], "b");
	ck_assert_str_eq(t.rows[0][6], "m");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_uint_eq(t.ncells[i + 1], t.ncells[0]);
		ck_assert_msg(strcmp(t.rows[i + 1][4], cases[i].a) == 0, "case %zu a: [%s]", i,
		    t.rows[i + 1][4]);
		ck_assert_msg(strcmp(t.rows[i + 1][5], cases[i].b) == 0, "case %zu b: [%s]", i,
		    t.rows[i + 1][5]);
	}
	table_free(&t);
	free(text);
}
END_TEST

/* Numbers read back from the CSV to the same bits: parameters, metrics and totals. */
START_TEST(test_numbers_round_trip)
{
	const double values[] = {
		0.1, 1e-5, 1.0 / 3, 2.0 / 3, 5e-324, DBL_MAX, -DBL_MIN, 123456789012345678.0,
		9007199254740993.0, 0.30000000000000004, 1e21, 6.02214076e23, -0.0, 1e-7, 100,
	};
	const size_t n = sizeof values / sizeof values[0];
	struct lease_request req = { .pool = "p", .price_per_hour = 1.0 / 3, .gpus = 3,
	    .lease_timeout_s = 600, .now = 1000 };
	struct metric_point pt = { "m", 1, 0, 0 };
	struct finish_report fin = { .outcome = OUTCOME_SUCCEEDED, .pts = &pt, .npts = 1 };
	struct buf p = { 0 };
	struct lease l;
	struct table t;
	char *cause = NULL, *text;
	int64_t sweep, trial;
	size_t i;
	double back;

	sweep = submit("{\"name\": \"n\", \"command\": \"true\", \"method\": \"bayes\","
	    " \"max_trials\": 20, \"parameters\": {\"x\": {\"values\": [1, 2]}},"
	    " \"metric\": {\"name\": \"m\"}}");
	for (i = 0; i < n; i++) {
		buf_reset(&p);
		buf_adds(&p, "{\"x\":");
		buf_add_double(&p, values[i]);
		buf_addc(&p, '}');
		ck_assert_int_eq(store_trial_add(st, sweep, p.data, &trial, &cause), 0);
		ck_assert_msg(trial != 0, "%s", p.data);
		ck_assert_int_eq(trial_lease(st, &req, &l, &cause), 1);
		pt.value = values[n - 1 - i];
		fin.now = req.now + 1.0 / 7 * (double)(i + 1);
		ck_assert_int_eq(trial_finish(st, l.trial_id, l.attempt, &fin, NULL, &cause),
		    TRIAL_OK);
		lease_clear(&l);
	}
	text = export_text(sweep);
	table_parse(text, &t);
	ck_assert_uint_eq(t.nrows, n + 1);
	for (i = 0; i < n; i++) {
		char **row = t.rows[i + 1];
		double runtime = (req.now + 1.0 / 7 * (double)(i + 1)) - req.now;

		back = strtod(row[4], NULL);
		ck_assert_msg(memcmp(&back, &values[i], sizeof back) == 0, "param %s", row[4]);
		back = strtod(row[5], NULL);
		ck_assert_msg(memcmp(&back, &values[n - 1 - i], sizeof back) == 0, "metric %s",
		    row[5]);
		back = strtod(row[6], NULL);
		ck_assert_msg(back == runtime, "runtime %s", row[6]);
		back = strtod(row[7], NULL);
		ck_assert_msg(back == runtime * 3 / 3600.0, "gpu_hours %s", row[7]);
		back = strtod(row[8], NULL);
		ck_assert_msg(back == runtime * 3 / 3600.0 * (1.0 / 3), "cost %s", row[8]);
	}
	table_free(&t);
	free(text);
	buf_free(&p);
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "quoting", test_quoting },
		{ "export_exact", test_export_exact },
		{ "scanner", test_export_scanner_and_fallback },
		{ "round_trip", test_numbers_round_trip },
	};

	return check_main("csv", tests, CHECK_NELEM(tests), setup, teardown, 0);
}
