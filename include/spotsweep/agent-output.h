/* The agent's reader of a trial's output: a pure, chunk-driven line splitter and matcher. It
 * takes arbitrary chunks of bytes, splits them into lines (on '\n' or '\r'), and turns lines
 * into events: metric points (from the spec's PCRE2 patterns or from `SPOTSWEEP {json}` lines),
 * checkpoints, and the first fatal-pattern match. It does no I/O, so feeding the same bytes in
 * any chunking yields the same events; the unit tests and the fuzzer rely on that. */
#ifndef SPOTSWEEP_AGENT_OUTPUT_H
#define SPOTSWEEP_AGENT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spotsweep/util.h"

/* The longest line kept; the rest of a longer line is discarded (AGENT_EV_OVERLONG). */
#define AGENT_OUTPUT_MAX_LINE	(64 * 1024)
/* Metric names longer than this in a SPOTSWEEP line are ignored. */
#define AGENT_OUTPUT_MAX_NAME	200

enum agent_event_kind {
	AGENT_EV_METRIC,	/* name, value, step */
	AGENT_EV_CHECKPOINT,	/* path, step */
	AGENT_EV_FATAL,		/* name = the fatal pattern that matched (first match only) */
	AGENT_EV_OVERLONG,	/* a line was cut at max_line bytes; step = bytes discarded */
	AGENT_EV_PREEMPTING,	/* SPOTSWEEP {"preempting": true}: the trial is being preempted */
	AGENT_EV_MAX
};

/* One event. Its strings are valid only during the callback. */
struct agent_event {
	enum agent_event_kind	 kind;
	const char		*name;
	double			 value;
	int64_t			 step;
	const char		*path;
	size_t			 path_len;	/* may contain NULs in theory; path is NUL-terminated */
};

typedef void (*agent_output_cb)(const struct agent_event *ev, void *arg);

/* A metric the parser extracts with a pattern: group 1 of the first match, read by strtod. */
struct agent_output_pattern {
	const char	*name;
	const char	*pattern;
};

/* Counters, for logs and tests. */
struct agent_output_stats {
	uint64_t	lines;
	uint64_t	overlong;	/* lines cut at max_line */
	uint64_t	spotsweep_lines;
	uint64_t	bad_spotsweep;	/* SPOTSWEEP lines that were not a usable JSON object */
	uint64_t	bad_values;	/* matched or reported values that were not finite numbers */
	uint64_t	metric_points;
	uint64_t	checkpoints;
	uint64_t	fatal_matches;
};

struct agent_output;

/* Compiles the patterns (once; JIT when available) and returns a parser, or NULL with *cause
 * naming the bad pattern. max_line 0 means AGENT_OUTPUT_MAX_LINE. Free with
 * agent_output_free(). */
struct agent_output *agent_output_create(const struct agent_output_pattern *metrics,
    size_t nmetrics, const char *const *fatal, size_t nfatal, size_t max_line,
    agent_output_cb cb, void *arg, char **cause);
void agent_output_free(struct agent_output *o);

/* Feeds len bytes of output; calls the callback for each event of each completed line. */
void agent_output_feed(struct agent_output *o, const void *data, size_t len);
/* Ends the stream: a last line without a newline is processed. Feeding afterwards starts a
 * new line. */
void agent_output_finish(struct agent_output *o);
const struct agent_output_stats *agent_output_stats(const struct agent_output *o);

/* Steps given to points that carry none: one more than the last step seen for that metric
 * (1, 2, 3... when no step is ever given), so the same output always gives the same points.
 * Exposed for the tests. */
int64_t agent_output_next_step(const struct agent_output *o, const char *name);

/* Appends bytes as valid UTF-8: each byte of an invalid or truncated sequence, and NUL,
 * becomes '?'. */
void agent_buf_add_utf8_sanitized(struct buf *b, const void *data, size_t len);
/* Appends bytes with control characters, backslash and non-ASCII shown as \xNN, for log
 * lines that carry text from a trial or the scheduler. */
void agent_buf_add_escaped(struct buf *b, const void *data, size_t len);

#endif
