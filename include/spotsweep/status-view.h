/* What `status` draws (status-view.c): the progress bar, the ETA from the recent completion
 * rate, durations, logfmt values for the lines printed when stdout is not a terminal, and
 * whether to colour. Pure: no store, no terminal, no clock. */
#ifndef SPOTSWEEP_STATUS_VIEW_H
#define SPOTSWEEP_STATUS_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/trial.h"
#include "spotsweep/util.h"

/* The window over which `status` measures the completion rate for its ETA. */
#define STATUS_RATE_WINDOW_S	600.0

/* Seconds until remaining trials end, at recent_done completions over window_s seconds:
 * 0 when nothing remains, -1 when unknown (nothing ended in the window, or no window). */
double status_eta(int64_t remaining, int64_t recent_done, double window_s);
/* Appends a duration the way the live view shows it: "45s", "3m20s", "2h05m", "4d03h";
 * negative: "?". */
void status_add_duration(struct buf *b, double seconds);

/* Cells of the bar by state, in the bar's order (succeeded, pruned, abandoned, cancelled,
 * running, then pending and not yet created): each state's share of total rounded so that
 * the cells add up to width exactly. by_state may count more than total (then total is
 * raised to their sum). */
void status_bar_cells(const int64_t by_state[TRIAL_STATE_MAX], int64_t total, int width,
    int cells[TRIAL_STATE_MAX]);
/* Appends "[" the bar "]": '#' succeeded or pruned, '!' abandoned, 'x' cancelled, '>' running,
 * '.' pending; colour: each run of cells in its state's colour (SGR) and reset after. */
void status_add_bar(struct buf *b, const int64_t by_state[TRIAL_STATE_MAX], int64_t total,
    int width, bool colour);
/* The SGR colour sequence for a state's name and bar cells ("" for none). */
const char *status_state_colour(enum trial_state s);

/* Appends s as a logfmt value: as it is when it is made of letters, digits and
 * "-._:/+@%,"; else in double quotes with \\, \", \n, \r, \t and \xNN for other control
 * bytes. */
void status_add_kv_value(struct buf *b, const char *s);

/* Whether to colour: stdout is a terminal, NO_COLOR is unset or empty (no-color.org), and
 * TERM is not "dumb". no_color and term are the environment's values (NULL if unset). */
bool status_use_colour(bool is_tty, const char *no_color, const char *term);

/* The number of terminal columns a UTF-8 string takes (one per character). */
size_t status_text_width(const char *s);
/* Appends at most max_cols characters of s (cut at a character boundary, "~" marking a cut). */
void status_add_clipped(struct buf *b, const char *s, size_t max_cols);

#endif
