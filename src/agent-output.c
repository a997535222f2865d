/* The agent's output reader (see agent-output.h). It owns the partial line between chunks, the
 * compiled PCRE2 patterns and one match-data block per pattern, and the per-metric step
 * counters. Lines are cut at max_line so a trial printing without newlines costs bounded
 * memory; regex matching runs under a match limit so a pathological pattern cannot stall the
 * agent on one line. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pcre2.h>

#include "spotsweep/agent-output.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Bounds the step-counter table, so a trial inventing metric names cannot grow it forever. */
#define MAX_METRIC_NAMES	1024
/* Backtracking budget per match; a match that runs out counts as no match. */
#define MATCH_LIMIT		1000000
#define JIT_STACK_MAX		(1024 * 1024)
/* Zeroed bytes kept after the longest line, for the JIT's read-ahead (see create). */
#define LINE_SLACK		128

static const char spotsweep_prefix[] = "SPOTSWEEP";

struct compiled {
	char			*name;	/* metric name, or the fatal pattern's text */
	pcre2_code		*code;
	pcre2_match_data	*md;
};

struct step_counter {
	char	*name;
	int64_t	 last;
};

struct agent_output {
	struct compiled		*metrics;
	size_t			 nmetrics;
	struct compiled		*fatal;
	size_t			 nfatal;
	bool			 fatal_seen;

	pcre2_match_context	*mctx;
	pcre2_jit_stack		*jit_stack;

	struct step_counter	*steps;
	size_t			 nsteps;
	int64_t			 last_checkpoint_step;

	struct buf		 line;
	size_t			 max_line;
	size_t			 discarding;	/* bytes dropped from the current overlong line */
	bool			 cut;		/* the current line was cut and already processed */

	agent_output_cb		 cb;
	void			*arg;
	struct agent_output_stats stats;
};

static int
compile_one(struct agent_output *o, struct compiled *c, const char *name, const char *pattern,
    const char *what, char **cause)
{
	int		 err;
	PCRE2_SIZE	 off;
	PCRE2_UCHAR	 msg[256];

	c->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	if (c->code == NULL) {
		pcre2_get_error_message(err, msg, sizeof msg);
		*cause = xasprintf("%s %s: invalid pattern at offset %zu: %s", what, name,
		    (size_t)off, (const char *)msg);
		return -1;
	}
	/* Without JIT the interpreter is used; both obey the match limit. */
	if (pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE) == 0 && o->jit_stack == NULL) {
		o->jit_stack = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
		if (o->jit_stack != NULL)
			pcre2_jit_stack_assign(o->mctx, NULL, o->jit_stack);
	}
	c->md = pcre2_match_data_create_from_pattern(c->code, NULL);
	if (c->md == NULL) {
		*cause = xasprintf("%s %s: out of memory for match data", what, name);
		return -1;
	}
	c->name = xstrdup(name);
	return 0;
}

static void
compiled_free(struct compiled *c)
{
	pcre2_match_data_free(c->md);
	pcre2_code_free(c->code);
	free(c->name);
}

/* Compiles the patterns (once; JIT when available) and returns a parser, or NULL with *cause. */
struct agent_output *
agent_output_create(const struct agent_output_pattern *metrics, size_t nmetrics,
    const char *const *fatal, size_t nfatal, size_t max_line, agent_output_cb cb, void *arg,
    char **cause)
{
	struct agent_output	*o;
	size_t			 i;

	o = xcalloc(1, sizeof *o);
	o->cb = cb;
	o->arg = arg;
	o->max_line = max_line == 0 ? AGENT_OUTPUT_MAX_LINE : max_line;
	/* The line buffer is made once, whole and zeroed: PCRE2's JIT reads ahead of a subject's
	 * end with vector loads (inside the allocation; the match does not depend on them), which
	 * memcheck would report as uninitialised reads. It never grows past max_line anyway. */
	buf_reserve(&o->line, o->max_line + LINE_SLACK);
	memset(o->line.data, 0, o->line.cap);
	o->mctx = pcre2_match_context_create(NULL);
	if (o->mctx == NULL) {
		*cause = xstrdup("out of memory for a PCRE2 match context");
		goto fail;
	}
	pcre2_set_match_limit(o->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(o->mctx, MATCH_LIMIT / 10);

	o->metrics = xcalloc(nmetrics == 0 ? 1 : nmetrics, sizeof *o->metrics);
	for (i = 0; i < nmetrics; i++) {
		if (metrics[i].pattern == NULL)
			continue;
		if (compile_one(o, &o->metrics[o->nmetrics], metrics[i].name,
		    metrics[i].pattern, "metric", cause) != 0) {
			compiled_free(&o->metrics[o->nmetrics]);
			goto fail;
		}
		o->nmetrics++;
	}
	o->fatal = xcalloc(nfatal == 0 ? 1 : nfatal, sizeof *o->fatal);
	for (i = 0; i < nfatal; i++) {
		if (compile_one(o, &o->fatal[o->nfatal], fatal[i], fatal[i], "fatal pattern",
		    cause) != 0) {
			compiled_free(&o->fatal[o->nfatal]);
			goto fail;
		}
		o->nfatal++;
	}
	o->steps = xcalloc(8, sizeof *o->steps);
	return o;

fail:
	agent_output_free(o);
	return NULL;
}

/* Frees the parser; NULL is fine. */
void
agent_output_free(struct agent_output *o)
{
	size_t	i;

	if (o == NULL)
		return;
	for (i = 0; i < o->nsteps; i++)
		free(o->steps[i].name);
	free(o->steps);
	for (i = 0; i < o->nfatal; i++)
		compiled_free(&o->fatal[i]);
	free(o->fatal);
	for (i = 0; i < o->nmetrics; i++)
		compiled_free(&o->metrics[i]);
	free(o->metrics);
	pcre2_jit_stack_free(o->jit_stack);
	pcre2_match_context_free(o->mctx);
	buf_free(&o->line);
	free(o);
}

static struct step_counter *
find_counter(const struct agent_output *o, const char *name)
{
	size_t	i;

	for (i = 0; i < o->nsteps; i++) {
		if (strcmp(o->steps[i].name, name) == 0)
			return &o->steps[i];
	}
	return NULL;
}

/* The step a point of name without an explicit step gets. */
int64_t
agent_output_next_step(const struct agent_output *o, const char *name)
{
	const struct step_counter	*c = find_counter(o, name);

	if (c == NULL || c->last < 0)
		return 1;
	return c->last == INT64_MAX ? INT64_MAX : c->last + 1;
}

/* Emits one metric point; has_step false means "the next step of this metric". */
static void
emit_metric(struct agent_output *o, const char *name, double value, bool has_step,
    int64_t step)
{
	struct step_counter	*c;
	struct agent_event	 ev;

	if (!isfinite(value)) {
		o->stats.bad_values++;
		return;
	}
	c = find_counter(o, name);
	if (c == NULL) {
		if (o->nsteps >= MAX_METRIC_NAMES) {
			o->stats.bad_values++;
			return;
		}
		if ((o->nsteps & (o->nsteps - 1)) == 0 && o->nsteps >= 8)
			o->steps = xreallocarray(o->steps, o->nsteps * 2, sizeof *o->steps);
		c = &o->steps[o->nsteps++];
		c->name = xstrdup(name);
		c->last = 0;
	}
	if (!has_step)
		step = agent_output_next_step(o, name);
	if (step > c->last)
		c->last = step;

	memset(&ev, 0, sizeof ev);
	ev.kind = AGENT_EV_METRIC;
	ev.name = name;
	ev.value = value;
	ev.step = step;
	o->stats.metric_points++;
	o->cb(&ev, o->arg);
}

/* Reads a number from the start of s (len bytes): "0.31." gives 0.31. */
static bool
parse_leading_double(const char *s, size_t len, double *out)
{
	char	 tmp[64], *end;
	double	 d;

	if (len == 0 || len >= sizeof tmp)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	errno = 0;
	d = strtod(tmp, &end);
	if (end == tmp || errno == ERANGE || !isfinite(d))
		return false;
	*out = d;
	return true;
}

static int
match(struct agent_output *o, struct compiled *c, const char *line, size_t len)
{
	return pcre2_match(c->code, (PCRE2_SPTR)line, len, 0, 0, c->md, o->mctx);
}

static void
match_metric_patterns(struct agent_output *o, const char *line, size_t len)
{
	size_t		 i;
	int		 rc;
	PCRE2_SIZE	*ov;
	double		 d;

	for (i = 0; i < o->nmetrics; i++) {
		rc = match(o, &o->metrics[i], line, len);
		if (rc < 2)
			continue;
		ov = pcre2_get_ovector_pointer(o->metrics[i].md);
		if (ov[2] == PCRE2_UNSET || ov[3] < ov[2])
			continue;
		if (!parse_leading_double(line + ov[2], ov[3] - ov[2], &d)) {
			o->stats.bad_values++;
			continue;
		}
		emit_metric(o, o->metrics[i].name, d, false, 0);
	}
}

static void
match_fatal_patterns(struct agent_output *o, const char *line, size_t len)
{
	struct agent_event	ev;
	size_t			i;

	if (o->fatal_seen)
		return;
	for (i = 0; i < o->nfatal; i++) {
		if (match(o, &o->fatal[i], line, len) < 0)
			continue;
		o->fatal_seen = true;
		o->stats.fatal_matches++;
		memset(&ev, 0, sizeof ev);
		ev.kind = AGENT_EV_FATAL;
		ev.name = o->fatal[i].name;
		o->cb(&ev, o->arg);
		return;
	}
}

/* A step must be a non-negative integer (an integral real such as 100.0 is accepted). */
static bool
json_step(json_t *v, int64_t *out)
{
	double	d;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (!(d >= 0 && d < 9.2e18) || floor(d) != d)
			return false;
		*out = (int64_t)d;
		return true;
	}
	return false;
}

static bool
valid_metric_name(const char *name)
{
	size_t	len = strlen(name);
	size_t	i;

	if (len == 0 || len > AGENT_OUTPUT_MAX_NAME)
		return false;
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	}
	return true;
}

static void
emit_checkpoint(struct agent_output *o, const char *path, size_t path_len, bool has_step,
    int64_t step)
{
	struct agent_event	ev;

	if (!has_step)
		step = o->last_checkpoint_step + 1;
	if (step > o->last_checkpoint_step)
		o->last_checkpoint_step = step;
	memset(&ev, 0, sizeof ev);
	ev.kind = AGENT_EV_CHECKPOINT;
	ev.path = path;
	ev.path_len = path_len;
	ev.step = step;
	o->stats.checkpoints++;
	o->cb(&ev, o->arg);
}

/* A structured line: SPOTSWEEP {"metrics": {...}, "step": N} or {"checkpoint": P, "step": N},
 * or {"preempting": true} (W&B's mark_preempting, from the wandb shim). A line with nothing
 * usable counts in bad_spotsweep. */
static void
parse_spotsweep(struct agent_output *o, const char *json, size_t len)
{
	json_t		*root, *metrics, *ck, *stepv, *v;
	json_error_t	 err;
	const char	*name;
	int64_t		 step = 0;
	bool		 has_step = false, used = false;

	o->stats.spotsweep_lines++;
	root = json_loadb(json, len, 0, &err);
	if (root == NULL || !json_is_object(root))
		goto bad;
	stepv = json_object_get(root, "step");
	if (stepv != NULL && !json_is_null(stepv)) {
		if (!json_step(stepv, &step))
			goto bad;
		has_step = true;
	}
	metrics = json_object_get(root, "metrics");
	ck = json_object_get(root, "checkpoint");
	if (metrics != NULL && !json_is_object(metrics))
		goto bad;
	if (ck != NULL && (!json_is_string(ck) || json_string_length(ck) == 0))
		goto bad;
	if (metrics != NULL) {
		json_object_foreach(metrics, name, v) {
			if (!valid_metric_name(name) || !json_is_number(v)) {
				o->stats.bad_values++;
				continue;
			}
			emit_metric(o, name, json_number_value(v), has_step, step);
			used = true;
		}
	}
	if (ck != NULL) {
		emit_checkpoint(o, json_string_value(ck), json_string_length(ck), has_step, step);
		used = true;
	}
	if (json_is_true(json_object_get(root, "preempting"))) {
		struct agent_event ev = { .kind = AGENT_EV_PREEMPTING };

		o->cb(&ev, o->arg);
		used = true;
	}
	if (!used)
		goto bad;
	json_decref(root);
	return;
bad:
	o->stats.bad_spotsweep++;
	json_decref(root);
}

/* Whether line is a structured line; *json is set to the text after the prefix. */
static bool
is_spotsweep_line(const char *line, size_t len, const char **json, size_t *jlen)
{
	size_t	i = 0, plen = sizeof spotsweep_prefix - 1;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i <= plen || memcmp(line + i, spotsweep_prefix, plen) != 0)
		return false;
	i += plen;
	if (line[i] != ' ' && line[i] != '\t')
		return false;
	*json = line + i;
	*jlen = len - i;
	return true;
}

static void
process_line(struct agent_output *o, const char *line, size_t len)
{
	const char	*json;
	size_t		 jlen;

	o->stats.lines++;
	if (len == 0)
		return;
	/* A structured line is not also matched against the metric patterns, so a metric it
	 * carries is never counted twice. */
	if (is_spotsweep_line(line, len, &json, &jlen))
		parse_spotsweep(o, json, jlen);
	else
		match_metric_patterns(o, line, len);
	match_fatal_patterns(o, line, len);
}

static void
end_line(struct agent_output *o)
{
	struct agent_event	ev;

	if (o->cut) {
		o->stats.overlong++;
		memset(&ev, 0, sizeof ev);
		ev.kind = AGENT_EV_OVERLONG;
		ev.step = (int64_t)o->discarding;
		o->cb(&ev, o->arg);
	} else
		process_line(o, o->line.data == NULL ? "" : o->line.data, o->line.len);
	buf_reset(&o->line);
	o->cut = false;
	o->discarding = 0;
}

/* Feeds len bytes of output, calling the callback for the events of each completed line. */
void
agent_output_feed(struct agent_output *o, const void *data, size_t len)
{
	const char	*p = data, *end = p + len, *nl;
	size_t		 n, room;

	while (p < end) {
		for (nl = p; nl < end && *nl != '\n' && *nl != '\r'; nl++)
			;
		n = (size_t)(nl - p);
		if (o->cut)
			o->discarding += n;
		else {
			room = o->max_line - o->line.len;
			if (n > room) {
				/* Keep max_line bytes, process them now, and drop the rest of
				 * the line up to the next newline. */
				buf_add(&o->line, p, room);
				o->discarding = n - room;
				process_line(o, o->line.data, o->line.len);
				o->cut = true;
			} else
				buf_add(&o->line, p, n);
		}
		p = nl;
		if (p < end) {
			end_line(o);
			p++;
		}
	}
}

/* Processes a last line that had no newline. */
void
agent_output_finish(struct agent_output *o)
{
	if (o->line.len > 0 || o->cut)
		end_line(o);
}

const struct agent_output_stats *
agent_output_stats(const struct agent_output *o)
{
	return &o->stats;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t		len, i;
	uint32_t	cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends bytes as valid UTF-8, each bad byte (and NUL) becoming '?'. */
void
agent_buf_add_utf8_sanitized(struct buf *b, const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 i = 0, n;

	/* buf_reserve() alone leaves a fresh buffer unterminated. */
	buf_reserve(b, len);
	b->data[b->len] = '\0';
	while (i < len) {
		n = utf8_seq_len(p + i, len - i);
		if (n == 0 || p[i] == '\0') {
			buf_addc(b, '?');
			i++;
			continue;
		}
		buf_add(b, p + i, n);
		i += n;
	}
}

/* Appends bytes with control characters, backslash and non-ASCII as \xNN. */
void
agent_buf_add_escaped(struct buf *b, const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\')
			buf_printf(b, "\\x%02x", p[i]);
		else
			buf_addc(b, (char)p[i]);
	}
}
