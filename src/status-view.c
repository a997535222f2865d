/* The pieces `status` draws, kept pure so the unit tests can pin them down: the ETA from the
 * recent completion rate, durations, the progress bar (cells per state, rounded so they add
 * up to the bar's width), logfmt values for the lines printed when stdout is not a terminal,
 * the colour decision (no-color.org) and clipping text to a terminal's width. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "spotsweep/status-view.h"

double
status_eta(int64_t remaining, int64_t recent_done, double window_s)
{
	if (remaining <= 0)
		return 0;
	if (recent_done <= 0 || !(window_s > 0) || !isfinite(window_s))
		return -1;
	return (double)remaining * window_s / (double)recent_done;
}

void
status_add_duration(struct buf *b, double seconds)
{
	long long s;

	if (!(seconds >= 0) || seconds > 1e12) {
		buf_addc(b, '?');
		return;
	}
	s = (long long)llround(seconds);
	if (s < 60)
		buf_printf(b, "%llds", s);
	else if (s < 3600)
		buf_printf(b, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		buf_printf(b, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		buf_printf(b, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* The bar's order, left to right; pending (and trials not created yet) fill the rest. */
static const enum trial_state bar_order[] = {
	TRIAL_SUCCEEDED, TRIAL_PRUNED, TRIAL_ABANDONED, TRIAL_CANCELLED, TRIAL_RUNNING,
};
#define NBAR ((int)(sizeof bar_order / sizeof bar_order[0]))

void
status_bar_cells(const int64_t by_state[TRIAL_STATE_MAX], int64_t total, int width,
    int cells[TRIAL_STATE_MAX])
{
	int64_t sum = 0, cum = 0, prev = 0, edge;
	int i;

	memset(cells, 0, TRIAL_STATE_MAX * sizeof cells[0]);
	if (width <= 0)
		return;
	for (i = 0; i < TRIAL_STATE_MAX; i++)
		sum += by_state[i] > 0 ? by_state[i] : 0;
	if (total < sum)
		total = sum;
	if (total <= 0) {
		cells[TRIAL_PENDING] = width;
		return;
	}
	/* Each boundary is the rounded cumulative share, so the cells always add up. */
	for (i = 0; i < NBAR; i++) {
		cum += by_state[bar_order[i]] > 0 ? by_state[bar_order[i]] : 0;
		edge = (2 * cum * width + total) / (2 * total);
		cells[bar_order[i]] = (int)(edge - prev);
		prev = edge;
	}
	cells[TRIAL_PENDING] = width - (int)prev;
}

const char *
status_state_colour(enum trial_state s)
{
	switch (s) {
	case TRIAL_SUCCEEDED: return "\033[32m";
	case TRIAL_PRUNED: return "\033[36m";
	case TRIAL_ABANDONED: return "\033[31m";
	case TRIAL_CANCELLED: return "\033[90m";
	case TRIAL_RUNNING: return "\033[33m";
	case TRIAL_PENDING: return "\033[2m";
	default: return "";
	}
}

static char
bar_char(enum trial_state s)
{
	switch (s) {
	case TRIAL_SUCCEEDED:
	case TRIAL_PRUNED: return '#';
	case TRIAL_ABANDONED: return '!';
	case TRIAL_CANCELLED: return 'x';
	case TRIAL_RUNNING: return '>';
	default: return '.';
	}
}

void
status_add_bar(struct buf *b, const int64_t by_state[TRIAL_STATE_MAX], int64_t total,
    int width, bool colour)
{
	int cells[TRIAL_STATE_MAX], i, k;
	enum trial_state s;

	status_bar_cells(by_state, total, width, cells);
	buf_addc(b, '[');
	for (i = 0; i <= NBAR; i++) {
		s = i < NBAR ? bar_order[i] : TRIAL_PENDING;
		if (cells[s] <= 0)
			continue;
		if (colour)
			buf_adds(b, status_state_colour(s));
		for (k = 0; k < cells[s]; k++)
			buf_addc(b, bar_char(s));
		if (colour)
			buf_adds(b, "\033[0m");
	}
	buf_addc(b, ']');
}

void
status_add_kv_value(struct buf *b, const char *s)
{
	const unsigned char *p;
	bool bare = *s != '\0';

	for (p = (const unsigned char *)s; *p != '\0' && bare; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._:/+@%,", *p) != NULL))
			bare = false;
	}
	if (bare) {
		buf_adds(b, s);
		return;
	}
	buf_addc(b, '"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\r': buf_adds(b, "\\r"); break;
		case '\t': buf_adds(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				buf_printf(b, "\\x%02x", *p);
			else
				buf_addc(b, (char)*p);
		}
	}
	buf_addc(b, '"');
}

bool
status_use_colour(bool is_tty, const char *no_color, const char *term)
{
	if (!is_tty)
		return false;
	if (no_color != NULL && *no_color != '\0')
		return false;
	return term == NULL || strcmp(term, "dumb") != 0;
}

size_t
status_text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

void
status_add_clipped(struct buf *b, const char *s, size_t max_cols)
{
	size_t cols = 0;
	const char *p = s, *end;

	if (status_text_width(s) <= max_cols) {
		buf_adds(b, s);
		return;
	}
	if (max_cols == 0)
		return;
	/* Room for max_cols - 1 characters and the "~". */
	while (*p != '\0') {
		end = p + 1;
		while (((unsigned char)*end & 0xc0) == 0x80)
			end++;
		if (cols + 1 > max_cols - 1)
			break;
		buf_add(b, p, (size_t)(end - p));
		cols++;
		p = end;
	}
	buf_addc(b, '~');
}
