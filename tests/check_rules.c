/* Unit tests for the switching rules (rules.c) and the time zones under them (tz.c): every
 * condition, first match, midnight wraps, days, a zone across both daylight-saving changes of
 * a year (from the TZif transitions and, far in the future, from the file's POSIX footer),
 * per-trial escalation, deadlines, pause, no rules, the ranges of preemption counts that the
 * lease query filters on, and the errors of malformed rules. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/rules.h"
#include "spotsweep/tz.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"

static double
iso(const char *s)
{
	double t;

	ck_assert_msg(parse_iso8601(s, &t), "bad time in test: %s", s);
	return t;
}

static struct rule *
load_rules(const char *text, size_t *n)
{
	json_error_t jerr;
	json_t *arr = json_loads(text, 0, &jerr);
	struct rule *rules;
	char *kp = NULL, *msg = NULL;

	ck_assert_msg(arr != NULL, "bad JSON in test: %s", jerr.text);
	ck_assert_msg(rules_parse(arr, &rules, n, &kp, &msg) == 0, "rules: %s: %s", kp, msg);
	json_decref(arr);
	return rules;
}

/* ---- time zones ---- */

static const struct {
	const char	*zone;
	const char	*at;		/* UTC */
	long		 utoff;
	bool		 dst;
	int		 wday, minute;	/* local */
} tz_cases[] = {
	/* New York, 2026: DST starts Sunday 8 March 02:00 EST (07:00Z), ends Sunday
	 * 1 November 02:00 EDT (06:00Z). */
	{ "America/New_York", "2026-03-08T06:59:59Z", -18000, false, 0, 119 },
	{ "America/New_York", "2026-03-08T07:00:00Z", -14400, true, 0, 180 },
	{ "America/New_York", "2026-07-01T12:00:00Z", -14400, true, 3, 480 },
	{ "America/New_York", "2026-11-01T05:59:59Z", -14400, true, 0, 119 },
	{ "America/New_York", "2026-11-01T06:00:00Z", -18000, false, 0, 60 },
	{ "America/New_York", "2026-12-31T23:30:00Z", -18000, false, 4, 1110 },
	/* Past the file's transitions (2037): the POSIX footer EST5EDT,M3.2.0,M11.1.0. */
	{ "America/New_York", "2045-03-12T06:59:59Z", -18000, false, 0, 119 },
	{ "America/New_York", "2045-03-12T07:00:00Z", -14400, true, 0, 180 },
	{ "America/New_York", "2045-11-05T05:59:59Z", -14400, true, 0, 119 },
	{ "America/New_York", "2045-11-05T06:00:00Z", -18000, false, 0, 60 },
	/* Southern hemisphere: Sydney's DST spans the new year; ends 5 April 2026 03:00 AEDT
	 * (16:00Z the day before), starts 4 October 2026 02:00 AEST (16:00Z the day before). */
	{ "Australia/Sydney", "2026-01-15T00:00:00Z", 39600, true, 4, 660 },
	{ "Australia/Sydney", "2026-04-04T15:59:59Z", 39600, true, 0, 179 },
	{ "Australia/Sydney", "2026-04-04T16:00:00Z", 36000, false, 0, 120 },
	{ "Australia/Sydney", "2026-10-03T15:59:59Z", 36000, false, 0, 119 },
	{ "Australia/Sydney", "2026-10-03T16:00:00Z", 39600, true, 0, 180 },
	{ "Australia/Sydney", "2050-01-15T00:00:00Z", 39600, true, 6, 660 },
	{ "Europe/London", "2026-03-29T00:59:59Z", 0, false, 0, 59 },
	{ "Europe/London", "2026-03-29T01:00:00Z", 3600, true, 0, 120 },
	{ "Asia/Kolkata", "2026-06-01T00:00:00Z", 19800, false, 1, 330 },
	{ "UTC", "2026-06-01T00:00:00Z", 0, false, 1, 0 },
	/* Before 1970 and long before the first transition (local mean time). */
	{ "America/New_York", "1969-12-31T23:00:00Z", -18000, false, 3, 1080 },
	{ "America/New_York", "1800-01-01T12:00:00Z", -17762, false, 3, 423 },
};

START_TEST(test_tz_zones)
{
	struct tz *z;
	struct tz_local lt;
	char *cause = NULL;

	ck_assert_msg(tz_load(tz_cases[_i].zone, &z, &cause) == 0, "%s: %s", tz_cases[_i].zone,
	    cause);
	tz_localtime(z, (int64_t)iso(tz_cases[_i].at), &lt);
	ck_assert_msg(lt.utoff == tz_cases[_i].utoff && lt.isdst == tz_cases[_i].dst &&
	    lt.wday == tz_cases[_i].wday && lt.minute == tz_cases[_i].minute,
	    "%s at %s: offset %ld dst %d wday %d minute %d; want %ld %d %d %d",
	    tz_cases[_i].zone, tz_cases[_i].at, lt.utoff, lt.isdst, lt.wday, lt.minute,
	    tz_cases[_i].utoff, tz_cases[_i].dst, tz_cases[_i].wday, tz_cases[_i].minute);
	tz_free(z);
}
END_TEST

static const struct {
	const char	*spec;
	const char	*at;
	long		 utoff;
} posix_cases[] = {
	{ "EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59Z", -18000 },
	{ "EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00:00Z", -14400 },
	{ "EST5EDT,M3.2.0/2,M11.1.0/2", "2026-11-01T06:00:00Z", -18000 },
	{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-03-29T00:59:59Z", 3600 },
	{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-03-29T01:00:00Z", 7200 },
	{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-10-25T00:59:59Z", 7200 },
	{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-10-25T01:00:00Z", 3600 },
	{ "<+0330>-3:30", "2026-01-01T00:00:00Z", 12600 },
	{ "IST-5:30", "2026-01-01T00:00:00Z", 19800 },
	{ "XXX3YYY,J60/0,J300/0", "2026-03-01T03:00:00Z", -7200 },	/* J60 = 1 March */
	{ "XXX3YYY,59/0,300/0", "2028-02-29T03:00:00Z", -7200 },	/* zero-based: 29 Feb */
	{ "XXX3YYY,59/0,300/0", "2028-02-29T02:59:59Z", -10800 },
};

START_TEST(test_tz_posix)
{
	struct tz *z;
	char *cause = NULL;
	long off;

	ck_assert_msg(tz_from_posix(posix_cases[_i].spec, &z, &cause) == 0, "%s: %s",
	    posix_cases[_i].spec, cause);
	off = tz_utoff(z, (int64_t)iso(posix_cases[_i].at), NULL);
	ck_assert_msg(off == posix_cases[_i].utoff, "%s at %s: %ld, want %ld",
	    posix_cases[_i].spec, posix_cases[_i].at, off, posix_cases[_i].utoff);
	tz_free(z);
}
END_TEST

START_TEST(test_tz_errors)
{
	static const struct {
		const char *name, *want;
	} cases[] = {
		{ "Mars/Olympus_Mons", "unknown time zone" },
		{ "../etc/passwd", "not a time zone name" },
		{ "/etc/localtime", "not a time zone name" },
		{ "America", "unknown time zone" },
		{ "", "not a time zone name" },
		{ "America/New York", "not a time zone name" },
	};
	static const char *const bad_posix[] = { "EST", "EST5EDT,M3.2.0", "E5", "EST5EDT,M13.1.0,M1.1.0",
	    "EST5EDT,M3.2.0,M11.1.0x" };
	static const unsigned char junk[] = "TZif2 not really a zone file at all, too short";
	struct tz *z;
	char *cause = NULL;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(tz_load(cases[i].name, &z, &cause) == -1, "%s loaded", cases[i].name);
		ck_assert_msg(strstr(cause, cases[i].want) != NULL, "%s: %s", cases[i].name, cause);
		free(cause);
		cause = NULL;
	}
	for (i = 0; i < sizeof bad_posix / sizeof bad_posix[0]; i++) {
		ck_assert_msg(tz_from_posix(bad_posix[i], &z, &cause) == -1, "%s parsed",
		    bad_posix[i]);
		free(cause);
		cause = NULL;
	}
	ck_assert_int_eq(tz_from_tzif("junk", junk, sizeof junk, &z, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "not a valid TZif file"));
	free(cause);
}
END_TEST

/* ---- decisions ---- */

#define NONE	-1.0	/* no spot price / no deadline */

static const char *const contract_rules = "["
    "{\"name\": \"peak\", \"when\": {\"days\": [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],"
    "  \"hours\": \"09:00-18:00\"}, \"use\": \"on-demand\"},"
    "{\"name\": \"pricey\", \"when\": {\"spot_price_above\": 2.50}, \"use\": \"on-demand\"},"
    "{\"name\": \"deadline\", \"when\": {\"deadline_within_h\": 12}, \"use\": \"on-demand\"},"
    "{\"name\": \"flaky\", \"when\": {\"trial_preemptions_at_least\": 3}, \"use\": \"on-demand\"},"
    "{\"name\": \"default\", \"use\": \"spot\"}]";

static const struct {
	const char	*what;
	const char	*rules;		/* NULL: the contract's example */
	const char	*tz;		/* the config's timezone, NULL = UTC */
	const char	*at;
	double		 spot_price;
	int64_t		 preemptions;
	double		 deadline_in_h;
	const char	*use;
	int		 index;
} decide_cases[] = {
	/* The contract's example, in America/New_York. */
	{ "weekday peak", NULL, "America/New_York", "2026-03-06T14:00:00Z", 1.99, 0, NONE,
	    "on-demand", 0 },
	{ "weekday before peak (EST)", NULL, "America/New_York", "2026-03-06T13:59:00Z", 1.99, 0,
	    NONE, "spot", 4 },
	{ "first weekday of DST: 09:00 EDT is 13:00Z", NULL, "America/New_York",
	    "2026-03-09T13:00:00Z", 1.99, 0, NONE, "on-demand", 0 },
	{ "first weekday of DST: 08:59 EDT", NULL, "America/New_York", "2026-03-09T12:59:00Z",
	    1.99, 0, NONE, "spot", 4 },
	{ "last weekday of DST: 18:00 EDT is 22:00Z", NULL, "America/New_York",
	    "2026-10-30T22:00:00Z", 1.99, 0, NONE, "spot", 4 },
	{ "last weekday of DST: 17:59 EDT", NULL, "America/New_York", "2026-10-30T21:59:00Z",
	    1.99, 0, NONE, "on-demand", 0 },
	{ "first weekday after DST: 08:30 EST is 13:30Z", NULL, "America/New_York",
	    "2026-11-02T13:30:00Z", 1.99, 0, NONE, "spot", 4 },
	{ "first weekday after DST: 09:00 EST is 14:00Z", NULL, "America/New_York",
	    "2026-11-02T14:00:00Z", 1.99, 0, NONE, "on-demand", 0 },
	{ "saturday noon is not peak", NULL, "America/New_York", "2026-03-07T17:00:00Z", 1.99, 0,
	    NONE, "spot", 4 },
	{ "price above the threshold", NULL, NULL, "2026-03-07T17:00:00Z", 2.51, 0, NONE,
	    "on-demand", 1 },
	{ "price at the threshold", NULL, NULL, "2026-03-07T17:00:00Z", 2.50, 0, NONE, "spot", 4 },
	{ "price unknown", NULL, NULL, "2026-03-07T17:00:00Z", NONE, 0, NONE, "spot", 4 },
	{ "deadline in 11 hours", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 0, 11, "on-demand", 2 },
	{ "deadline in 12 hours", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 0, 12, "on-demand", 2 },
	{ "deadline in 13 hours", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 0, 13, "spot", 4 },
	{ "deadline passed", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 0, -0.5, "on-demand", 2 },
	{ "trial preempted 3 times escalates", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 3, NONE,
	    "on-demand", 3 },
	{ "trial preempted 7 times escalates", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 7, NONE,
	    "on-demand", 3 },
	{ "trial preempted twice stays on spot", NULL, NULL, "2026-03-07T17:00:00Z", 1.0, 2, NONE,
	    "spot", 4 },
	{ "first match: peak before pricey", NULL, "America/New_York", "2026-03-06T15:00:00Z",
	    9.0, 5, 1, "on-demand", 0 },
	/* Windows, days and zones. */
	{ "wrap: 23:00 inside", "[{\"when\": {\"hours\": \"22:00-06:00\"}, \"use\": \"spot\"}]",
	    NULL, "2026-03-04T23:00:00Z", NONE, 0, NONE, "spot", 0 },
	{ "wrap: 05:59 inside", "[{\"when\": {\"hours\": \"22:00-06:00\"}, \"use\": \"spot\"}]",
	    NULL, "2026-03-04T05:59:00Z", NONE, 0, NONE, "spot", 0 },
	{ "wrap: 06:00 outside", "[{\"when\": {\"hours\": \"22:00-06:00\"}, \"use\": \"spot\"}]",
	    NULL, "2026-03-04T06:00:00Z", NONE, 0, NONE, "any", -1 },
	{ "wrap: 21:59 outside", "[{\"when\": {\"hours\": \"22:00-06:00\"}, \"use\": \"spot\"}]",
	    NULL, "2026-03-04T21:59:00Z", NONE, 0, NONE, "any", -1 },
	{ "wrap: 22:00 inside", "[{\"when\": {\"hours\": \"22:00-06:00\"}, \"use\": \"spot\"}]",
	    NULL, "2026-03-04T22:00:00Z", NONE, 0, NONE, "spot", 0 },
	{ "friday night: fri 23:00", "[{\"when\": {\"days\": [\"fri\"], \"hours\": \"22:00-06:00\"},"
	    " \"use\": \"pause\"}]", NULL, "2026-03-06T23:00:00Z", NONE, 0, NONE, "pause", 0 },
	{ "friday night: sat 02:00", "[{\"when\": {\"days\": [\"fri\"], \"hours\": \"22:00-06:00\"},"
	    " \"use\": \"pause\"}]", NULL, "2026-03-07T02:00:00Z", NONE, 0, NONE, "pause", 0 },
	{ "friday night: fri 02:00 is thursday's", "[{\"when\": {\"days\": [\"fri\"], \"hours\":"
	    " \"22:00-06:00\"}, \"use\": \"pause\"}]", NULL, "2026-03-06T02:00:00Z", NONE, 0, NONE,
	    "any", -1 },
	{ "weekend days", "[{\"when\": {\"days\": [\"Saturday\", \"sun\"]}, \"use\": \"spot\"},"
	    " {\"use\": \"on-demand\"}]", NULL, "2026-03-08T12:00:00Z", NONE, 0, NONE, "spot", 0 },
	{ "weekday is not weekend", "[{\"when\": {\"days\": [\"sat\", \"sun\"]}, \"use\": \"spot\"},"
	    " {\"use\": \"on-demand\"}]", NULL, "2026-03-09T12:00:00Z", NONE, 0, NONE, "on-demand",
	    1 },
	{ "day in the rule's zone, not UTC", "[{\"when\": {\"days\": [\"sun\"], \"tz\":"
	    " \"America/New_York\"}, \"use\": \"spot\"}]", NULL, "2026-03-09T03:00:00Z", NONE, 0, NONE,
	    "spot", 0 },
	{ "rule-level tz", "[{\"tz\": \"Asia/Kolkata\", \"when\": {\"hours\": \"09:00-10:00\"},"
	    " \"use\": \"spot\"}]", "America/New_York", "2026-03-09T03:30:00Z", NONE, 0, NONE, "spot", 0 },
	{ "rule tz beats config tz", "[{\"when\": {\"hours\": \"09:00-10:00\", \"tz\": \"UTC\"},"
	    " \"use\": \"spot\"}]", "Asia/Kolkata", "2026-03-09T09:30:00Z", NONE, 0, NONE, "spot", 0 },
	{ "DST start day: 01:30 EST inside", "[{\"when\": {\"hours\": \"01:00-03:00\"}, \"use\":"
	    " \"pause\"}]", "America/New_York", "2026-03-08T06:30:00Z", NONE, 0, NONE, "pause", 0 },
	{ "DST start day: one second later it is 03:00 EDT", "[{\"when\": {\"hours\": "
	    "\"01:00-03:00\"}, \"use\": \"pause\"}]", "America/New_York", "2026-03-08T07:00:00Z",
	    NONE, 0, NONE, "any", -1 },
	{ "DST end day: second 01:30 (EST) inside", "[{\"when\": {\"hours\": \"01:00-03:00\"},"
	    " \"use\": \"pause\"}]", "America/New_York", "2026-11-01T06:30:00Z", NONE, 0, NONE, "pause",
	    0 },
	{ "DST end day: 03:00 EST outside", "[{\"when\": {\"hours\": \"01:00-03:00\"}, \"use\":"
	    " \"pause\"}]", "America/New_York", "2026-11-01T08:00:00Z", NONE, 0, NONE, "any", -1 },
	{ "whole day", "[{\"when\": {\"hours\": \"00:00-24:00\"}, \"use\": \"spot\"}]", NULL,
	    "2026-03-04T23:59:59Z", NONE, 0, NONE, "spot", 0 },
	/* Combinations, pause, none. */
	{ "every condition must hold", "[{\"when\": {\"spot_price_above\": 1,"
	    " \"trial_preemptions_at_least\": 2}, \"use\": \"on-demand\"}, {\"use\": \"spot\"}]", NULL,
	    "2026-03-04T12:00:00Z", 1.5, 1, NONE, "spot", 1 },
	{ "every condition holds", "[{\"when\": {\"spot_price_above\": 1,"
	    " \"trial_preemptions_at_least\": 2}, \"use\": \"on-demand\"}, {\"use\": \"spot\"}]", NULL,
	    "2026-03-04T12:00:00Z", 1.5, 2, NONE, "on-demand", 0 },
	{ "pause", "[{\"name\": \"off\", \"use\": \"pause\"}]", NULL, "2026-03-04T12:00:00Z", NONE,
	    0, NONE, "pause", 0 },
	{ "no rule holds: any", "[{\"when\": {\"spot_price_above\": 5}, \"use\": \"pause\"}]", NULL,
	    "2026-03-04T12:00:00Z", 1, 0, NONE, "any", -1 },
	{ "no rules: any", "[]", NULL, "2026-03-04T12:00:00Z", 1, 0, NONE, "any", -1 },
};

START_TEST(test_decide)
{
	struct rule *rules;
	struct rule_ctx ctx;
	struct rule_decision d;
	struct tz *z = NULL;
	char *cause = NULL;
	size_t n;

	rules = load_rules(decide_cases[_i].rules ? decide_cases[_i].rules : contract_rules, &n);
	if (decide_cases[_i].tz != NULL)
		ck_assert_msg(tz_load(decide_cases[_i].tz, &z, &cause) == 0, "%s", cause);
	memset(&ctx, 0, sizeof ctx);
	ctx.now = iso(decide_cases[_i].at);
	ctx.tz = z;
	ctx.has_spot_price = decide_cases[_i].spot_price >= 0;
	ctx.spot_price = decide_cases[_i].spot_price;
	ctx.trial_preemptions = decide_cases[_i].preemptions;
	if (decide_cases[_i].deadline_in_h != NONE)
		ctx.deadline = ctx.now + decide_cases[_i].deadline_in_h * 3600;
	rules_decide(rules, n, &ctx, &d);
	ck_assert_msg(strcmp(rule_use_name(d.use), decide_cases[_i].use) == 0 &&
	    d.index == decide_cases[_i].index, "%s: got %s by rule %d (%s), want %s by %d",
	    decide_cases[_i].what, rule_use_name(d.use), d.index, d.name, decide_cases[_i].use,
	    decide_cases[_i].index);
	if (d.index < 0)
		ck_assert_str_eq(d.name, "(none)");
	else
		ck_assert_str_eq(d.name, rules[d.index].name);
	rules_free(rules, n);
	tz_free(z);
}
END_TEST

START_TEST(test_default_names)
{
	struct rule *rules;
	size_t n;

	rules = load_rules("[{\"use\": \"spot\", \"when\": {\"days\": [\"mon\"]}},"
	    " {\"name\": \"x\", \"use\": \"any\"}, {\"use\": \"pause\"}]", &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(rules[0].name, "rules.0");
	ck_assert_str_eq(rules[1].name, "x");
	ck_assert_str_eq(rules[2].name, "rules.2");
	rules_free(rules, n);
}
END_TEST

/* ---- which workers a decision lets run work ---- */

START_TEST(test_use_allows)
{
	static const struct {
		enum rule_use use;
		enum pool_class cls;
		bool have_pools, want;
	} cases[] = {
		{ RULE_USE_SPOT, POOL_SPOT, true, true },
		{ RULE_USE_SPOT, POOL_ON_DEMAND, true, false },
		{ RULE_USE_ON_DEMAND, POOL_ON_DEMAND, true, true },
		{ RULE_USE_ON_DEMAND, POOL_SPOT, true, false },
		{ RULE_USE_ANY, POOL_SPOT, true, true },
		{ RULE_USE_ANY, POOL_ON_DEMAND, true, true },
		{ RULE_USE_PAUSE, POOL_SPOT, true, false },
		{ RULE_USE_PAUSE, POOL_ON_DEMAND, true, false },
		/* A worker without a class. */
		{ RULE_USE_ANY, POOL_CLASS_MAX, true, true },
		{ RULE_USE_SPOT, POOL_CLASS_MAX, true, false },
		{ RULE_USE_ON_DEMAND, POOL_CLASS_MAX, true, false },
		{ RULE_USE_SPOT, POOL_CLASS_MAX, false, true },
		{ RULE_USE_ON_DEMAND, POOL_CLASS_MAX, false, true },
		{ RULE_USE_PAUSE, POOL_CLASS_MAX, false, false },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(rule_use_allows(cases[i].use, cases[i].cls, cases[i].have_pools) ==
		    cases[i].want, "case %zu", i);
}
END_TEST

static const struct {
	const char	*rules;
	enum pool_class	 cls;
	bool		 have_pools;
	const char	*want;	/* "[lo,hi)" joined; hi -1 = unbounded */
} range_cases[] = {
	{ "[]", POOL_SPOT, true, "[0,-1)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 3}, \"use\": \"on-demand\"},"
	    " {\"use\": \"spot\"}]", POOL_SPOT, true, "[0,3)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 3}, \"use\": \"on-demand\"},"
	    " {\"use\": \"spot\"}]", POOL_ON_DEMAND, true, "[3,-1)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 3}, \"use\": \"on-demand\"},"
	    " {\"use\": \"spot\"}]", POOL_CLASS_MAX, true, "" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 3}, \"use\": \"on-demand\"},"
	    " {\"use\": \"spot\"}]", POOL_CLASS_MAX, false, "[0,-1)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 5}, \"use\": \"pause\"},"
	    " {\"when\": {\"trial_preemptions_at_least\": 2}, \"use\": \"on-demand\"},"
	    " {\"use\": \"spot\"}]", POOL_SPOT, true, "[0,2)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 5}, \"use\": \"pause\"},"
	    " {\"when\": {\"trial_preemptions_at_least\": 2}, \"use\": \"on-demand\"},"
	    " {\"use\": \"spot\"}]", POOL_ON_DEMAND, true, "[2,5)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 1}, \"use\": \"any\"},"
	    " {\"use\": \"on-demand\"}]", POOL_SPOT, true, "[1,-1)" },
	{ "[{\"when\": {\"trial_preemptions_at_least\": 1}, \"use\": \"any\"},"
	    " {\"use\": \"on-demand\"}]", POOL_ON_DEMAND, true, "[0,-1)" },
	/* Not contiguous: the middle band goes elsewhere. */
	{ "[{\"when\": {\"trial_preemptions_at_least\": 4}, \"use\": \"spot\"},"
	    " {\"when\": {\"trial_preemptions_at_least\": 2}, \"use\": \"on-demand\"},"
	    " {\"when\": {\"trial_preemptions_at_least\": 4}, \"use\": \"pause\"},"
	    " {\"use\": \"spot\"}]", POOL_SPOT, true, "[0,2)[4,-1)" },
	/* A time condition that does not hold at the moment leaves its threshold inert. */
	{ "[{\"when\": {\"trial_preemptions_at_least\": 2, \"hours\": \"01:00-02:00\"},"
	    " \"use\": \"pause\"}]", POOL_SPOT, true, "[0,-1)" },
	{ "[{\"use\": \"pause\"}]", POOL_SPOT, true, "" },
};

START_TEST(test_ranges)
{
	struct rule *rules;
	struct rule_ctx ctx;
	struct preempt_range *out;
	struct buf b = { 0 };
	size_t n, nr, i;

	rules = load_rules(range_cases[_i].rules, &n);
	out = xcalloc(n + 1, sizeof *out);
	memset(&ctx, 0, sizeof ctx);
	ctx.now = iso("2026-03-04T12:00:00Z");
	ctx.trial_preemptions = 99;	/* ignored */
	nr = rules_allowed_ranges(rules, n, &ctx, range_cases[_i].cls, range_cases[_i].have_pools,
	    out);
	ck_assert_uint_le(nr, n + 1);
	buf_adds(&b, "");
	for (i = 0; i < nr; i++)
		buf_printf(&b, "[%lld,%lld)", (long long)out[i].lo, (long long)out[i].hi);
	ck_assert_msg(strcmp(b.data, range_cases[_i].want) == 0, "case %d: %s, want %s", _i,
	    b.data, range_cases[_i].want);
	buf_free(&b);
	free(out);
	rules_free(rules, n);
}
END_TEST

/* The ranges agree with deciding trial by trial. */
START_TEST(test_ranges_match_decide)
{
	struct rule *rules;
	struct rule_ctx ctx;
	struct rule_decision d;
	struct preempt_range out[8];
	size_t n, nr, r;
	int64_t k;
	int cls;
	bool in;

	rules = load_rules("[{\"when\": {\"trial_preemptions_at_least\": 6}, \"use\": \"any\"},"
	    " {\"when\": {\"trial_preemptions_at_least\": 4}, \"use\": \"spot\"},"
	    " {\"when\": {\"trial_preemptions_at_least\": 2}, \"use\": \"on-demand\"},"
	    " {\"when\": {\"spot_price_above\": 3}, \"use\": \"pause\"},"
	    " {\"use\": \"spot\"}]", &n);
	memset(&ctx, 0, sizeof ctx);
	ctx.now = iso("2026-03-04T12:00:00Z");
	ctx.has_spot_price = true;
	ctx.spot_price = 4;
	for (cls = 0; cls <= POOL_CLASS_MAX; cls++) {
		nr = rules_allowed_ranges(rules, n, &ctx, (enum pool_class)cls, true, out);
		for (k = 0; k < 10; k++) {
			ctx.trial_preemptions = k;
			rules_decide(rules, n, &ctx, &d);
			for (in = false, r = 0; r < nr; r++)
				in |= k >= out[r].lo && (out[r].hi < 0 || k < out[r].hi);
			ck_assert_msg(in == rule_use_allows(d.use, (enum pool_class)cls, true),
			    "class %d, %lld preemptions", cls, (long long)k);
		}
	}
	rules_free(rules, n);
}
END_TEST

/* ---- errors ---- */

static const struct {
	const char	*rules;
	const char	*keypath;
	const char	*msg;
} error_cases[] = {
	{ "{}", "rules", "expected an array" },
	{ "[3]", "rules.0", "expected a rule object" },
	{ "[{\"when\": {}}]", "rules.0", "missing key \"use\"" },
	{ "[{\"use\": \"cheap\"}]", "rules.0.use", "expected \"spot\", \"on-demand\"" },
	{ "[{\"use\": \"spot\", \"wehn\": {}}]", "rules.0.wehn", "did you mean \"when\"" },
	{ "[{\"use\": \"spot\"}, {\"use\": \"spot\", \"when\": {\"hours\": \"9-17\"}}]",
	    "rules.1.when.hours", "expected \"HH:MM-HH:MM\"" },
	{ "[{\"use\": \"spot\", \"when\": {\"hours\": \"25:00-06:00\"}}]", "rules.0.when.hours",
	    "expected \"HH:MM-HH:MM\"" },
	{ "[{\"use\": \"spot\", \"when\": {\"hours\": \"10:00-10:00\"}}]", "rules.0.when.hours",
	    "an empty window" },
	{ "[{\"use\": \"spot\", \"when\": {\"hours\": \"10:60-11:00\"}}]", "rules.0.when.hours",
	    "expected" },
	{ "[{\"use\": \"spot\", \"when\": {\"days\": [\"mon\", \"funday\"]}}]",
	    "rules.0.when.days.1", "expected one of mon" },
	{ "[{\"use\": \"spot\", \"when\": {\"days\": \"mon\"}}]", "rules.0.when.days",
	    "expected a non-empty array" },
	{ "[{\"use\": \"spot\", \"when\": {\"tz\": \"Mars/Base\"}}]", "rules.0.when.tz",
	    "unknown time zone \"Mars/Base\"" },
	{ "[{\"use\": \"spot\", \"tz\": \"UTC\", \"when\": {\"tz\": \"UTC\"}}]", "rules.0.when.tz",
	    "given both" },
	{ "[{\"use\": \"spot\", \"when\": {\"spot_price_above\": \"2\"}}]",
	    "rules.0.when.spot_price_above", "expected a number" },
	{ "[{\"use\": \"spot\", \"when\": {\"spot_price_above\": -1}}]",
	    "rules.0.when.spot_price_above", "at least 0" },
	{ "[{\"use\": \"spot\", \"when\": {\"deadline_within_h\": 0}}]",
	    "rules.0.when.deadline_within_h", "above 0" },
	{ "[{\"use\": \"spot\", \"when\": {\"trial_preemptions_at_least\": 1.5}}]",
	    "rules.0.when.trial_preemptions_at_least", "expected an integer" },
	{ "[{\"use\": \"spot\", \"when\": {\"trial_preemptions_at_least\": 0}}]",
	    "rules.0.when.trial_preemptions_at_least", "at least 1" },
	{ "[{\"use\": \"spot\", \"when\": {\"trial_preemption_at_least\": 2}}]",
	    "rules.0.when.trial_preemption_at_least", "did you mean" },
	{ "[{\"name\": \"a\", \"use\": \"spot\"}, {\"name\": \"a\", \"use\": \"spot\"}]",
	    "rules.1.name", "duplicate rule name" },
	{ "[{\"name\": \"\", \"use\": \"spot\"}]", "rules.0.name", "non-empty" },
	{ "[{\"use\": \"spot\", \"when\": []}]", "rules.0.when", "expected an object" },
};

START_TEST(test_errors)
{
	json_error_t jerr;
	json_t *arr = json_loads(error_cases[_i].rules, 0, &jerr);
	struct rule *rules = NULL;
	char *kp = NULL, *msg = NULL;
	size_t n = 7;

	ck_assert_ptr_nonnull(arr);
	ck_assert_int_eq(rules_parse(arr, &rules, &n, &kp, &msg), -1);
	ck_assert_ptr_null(rules);
	ck_assert_uint_eq(n, 0);
	ck_assert_msg(strcmp(kp, error_cases[_i].keypath) == 0 &&
	    strstr(msg, error_cases[_i].msg) != NULL, "%s: got %s: %s; want %s: %s",
	    error_cases[_i].rules, kp, msg, error_cases[_i].keypath, error_cases[_i].msg);
	free(kp);
	free(msg);
	json_decref(arr);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite *s = suite_create("rules");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_tz_zones, 0, (int)(sizeof tz_cases / sizeof tz_cases[0]));
	tcase_add_loop_test(tc, test_tz_posix, 0,
	    (int)(sizeof posix_cases / sizeof posix_cases[0]));
	tcase_add_test(tc, test_tz_errors);
	tcase_add_loop_test(tc, test_decide, 0,
	    (int)(sizeof decide_cases / sizeof decide_cases[0]));
	tcase_add_test(tc, test_default_names);
	tcase_add_test(tc, test_use_allows);
	tcase_add_loop_test(tc, test_ranges, 0,
	    (int)(sizeof range_cases / sizeof range_cases[0]));
	tcase_add_test(tc, test_ranges_match_decide);
	tcase_add_loop_test(tc, test_errors, 0,
	    (int)(sizeof error_cases / sizeof error_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(rules_suite());
}
