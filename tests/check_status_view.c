/* Unit tests for what `status` draws (status-view.c): the ETA from the recent completion
 * rate, durations, the progress bar's cells (they always add up to its width) and its
 * characters and colours, logfmt values, the NO_COLOR decision and clipping to a width. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/status-view.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"

#include "check-main.h"

START_TEST(test_eta)
{
	static const struct {
		int64_t		 remaining, done;
		double		 window, eta;
	} cases[] = {
		{ 0, 0, 0, 0 },			/* nothing left: 0 whatever the rate */
		{ -3, 5, 600, 0 },
		{ 10, 0, 600, -1 },		/* nothing ended lately: unknown */
		{ 10, 5, 0, -1 },		/* no window yet */
		{ 10, 5, -1, -1 },
		{ 10, 5, 600, 1200 },		/* 5 per 10 min: 10 more in 20 min */
		{ 1, 60, 60, 1 },
		{ 1000000, 3, 600, 200000000 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(status_eta(cases[i].remaining, cases[i].done, cases[i].window) ==
		    cases[i].eta, "case %zu: %g", i, status_eta(cases[i].remaining,
		    cases[i].done, cases[i].window));
}
END_TEST

START_TEST(test_duration)
{
	static const struct {
		double		 s;
		const char	*out;
	} cases[] = {
		{ 0, "0s" }, { 0.4, "0s" }, { 45, "45s" }, { 59.6, "1m00s" }, { 200, "3m20s" },
		{ 3599, "59m59s" }, { 3600, "1h00m" }, { 7500, "2h05m" }, { 86400, "1d00h" },
		{ 356400, "4d03h" }, { -1, "?" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = { 0 };

		status_add_duration(&b, cases[i].s);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: got %s want %s", i,
		    b.data, cases[i].out);
		buf_free(&b);
	}
}
END_TEST

/* by_state in enum order: pending running succeeded pruned abandoned cancelled. */
START_TEST(test_bar_cells)
{
	static const struct {
		int64_t	 by[TRIAL_STATE_MAX];
		int64_t	 total;
		int	 width;
		int	 cells[TRIAL_STATE_MAX];
	} cases[] = {
		{ { 10, 0, 0, 0, 0, 0 }, 10, 20, { 20, 0, 0, 0, 0, 0 } },
		{ { 0, 0, 10, 0, 0, 0 }, 10, 20, { 0, 0, 20, 0, 0, 0 } },
		{ { 5, 0, 5, 0, 0, 0 }, 10, 20, { 10, 0, 10, 0, 0, 0 } },
		{ { 4, 2, 2, 1, 1, 0 }, 10, 10, { 4, 2, 2, 1, 1, 0 } },
		/* thirds: boundaries at 3.33 and 6.67 round to 3 and 7 */
		{ { 1, 1, 1, 0, 0, 0 }, 3, 10, { 3, 4, 3, 0, 0, 0 } },
		/* a bayes sweep: 4 of 100 planned trials exist */
		{ { 1, 1, 2, 0, 0, 0 }, 100, 50, { 48, 1, 1, 0, 0, 0 } },
		/* no trials at all, and more counted than the total */
		{ { 0, 0, 0, 0, 0, 0 }, 0, 8, { 8, 0, 0, 0, 0, 0 } },
		{ { 0, 0, 4, 0, 0, 0 }, 2, 8, { 0, 0, 8, 0, 0, 0 } },
		{ { 1, 0, 1, 0, 0, 0 }, 2, 0, { 0, 0, 0, 0, 0, 0 } },
		{ { 999999, 1, 0, 0, 0, 0 }, 1000000, 40, { 40, 0, 0, 0, 0, 0 } },
	};
	size_t i;
	int j, cells[TRIAL_STATE_MAX], sum;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		status_bar_cells(cases[i].by, cases[i].total, cases[i].width, cells);
		for (j = 0, sum = 0; j < TRIAL_STATE_MAX; j++) {
			ck_assert_msg(cells[j] == cases[i].cells[j], "case %zu state %d: got %d "
			    "want %d", i, j, cells[j], cases[i].cells[j]);
			sum += cells[j];
		}
		ck_assert_int_eq(sum, cases[i].width);
	}
}
END_TEST

START_TEST(test_bar)
{
	static const struct {
		int64_t		 by[TRIAL_STATE_MAX];
		int		 width;
		bool		 colour;
		const char	*out;
	} cases[] = {
		{ { 4, 2, 2, 1, 1, 0 }, 10, false, "[###!>>....]" },
		{ { 0, 0, 0, 0, 0, 3 }, 6, false, "[xxxxxx]" },
		{ { 1, 0, 1, 0, 0, 0 }, 4, true,
		    "[\033[32m##\033[0m\033[2m..\033[0m]" },
		{ { 0, 1, 0, 0, 1, 0 }, 4, true,
		    "[\033[31m!!\033[0m\033[33m>>\033[0m]" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = { 0 };

		status_add_bar(&b, cases[i].by, 0, cases[i].width, cases[i].colour);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: got %s", i, b.data);
		ck_assert_msg(cases[i].colour || strchr(b.data, '\033') == NULL, "case %zu", i);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_kv_value)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "resnet-lr", "resnet-lr" },
		{ "a.b_c:d/e+f@g%h,1", "a.b_c:d/e+f@g%h,1" },
		{ "", "\"\"" },
		{ "two words", "\"two words\"" },
		{ "k=v", "\"k=v\"" },
		{ "it's \"q\"", "\"it's \\\"q\\\"\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "l1\nl2\r\t", "\"l1\\nl2\\r\\t\"" },
		{ "bell\a", "\"bell\\x07\"" },
		{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = { 0 };

		status_add_kv_value(&b, cases[i].in);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: got %s want %s", i,
		    b.data, cases[i].out);
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_colour)
{
	static const struct {
		bool		 tty;
		const char	*no_color, *term;
		bool		 colour;
	} cases[] = {
		{ true, NULL, "xterm-256color", true },
		{ true, NULL, NULL, true },
		{ true, "", "xterm", true },		/* set but empty: no-color.org says ignore */
		{ true, "1", "xterm", false },
		{ true, "0", "xterm", false },		/* any non-empty value */
		{ true, NULL, "dumb", false },
		{ false, NULL, "xterm", false },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(status_use_colour(cases[i].tty, cases[i].no_color, cases[i].term) ==
		    cases[i].colour, "case %zu", i);
}
END_TEST

START_TEST(test_clip)
{
	static const struct {
		const char	*in;
		size_t		 cols;
		const char	*out;
	} cases[] = {
		{ "resnet", 10, "resnet" },
		{ "resnet", 6, "resnet" },
		{ "resnet-lr", 6, "resne~" },
		{ "caf\xc3\xa9-au-lait", 5, "caf\xc3\xa9~" },
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 2, "\xc3\xa9~" },
		{ "abc", 1, "~" },
		{ "abc", 0, "" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = { 0 };

		buf_adds(&b, "");
		status_add_clipped(&b, cases[i].in, cases[i].cols);
		ck_assert_msg(strcmp(b.data, cases[i].out) == 0, "case %zu: got %s want %s", i,
		    b.data, cases[i].out);
		ck_assert(status_text_width(b.data) <= cases[i].cols);
		buf_free(&b);
	}
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "view", test_eta },
		{ "view", test_duration },
		{ "view", test_bar_cells },
		{ "view", test_bar },
		{ "view", test_kv_value },
		{ "view", test_colour },
		{ "view", test_clip },
	};

	return check_main("status_view", tests, CHECK_NELEM(tests), NULL, NULL, 0);
}
