/* libFuzzer target: the agent's output-line parser (agent-output.c), with metric patterns, a
 * pattern-less metric (SPOTSWEEP lines only), a fatal pattern and a short line limit, so that
 * overlong lines are cut too. The property checked besides memory safety: the events do not
 * depend on how the bytes are chunked. The first input byte picks the chunk sizes; the
 * events of the whole input fed at once and fed in those chunks must be identical. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/agent-output.h"
#include "spotsweep/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct agent_output_pattern patterns[] = {
	{ "val_loss", "val_loss[=: ]+([-+0-9.eE]+)" },
	{ "acc", "acc(?:uracy)?[=: ]+([0-9.]+)%?" },
	{ "tokens", NULL },
};
static const char *const fatal[] = { "CUDA out of memory", "Segmentation fault \\(core" };

/* Appends a description of each event, so that two runs can be compared. */
static void
record(const struct agent_event *ev, void *arg)
{
	struct buf *b = arg;
	char v[32];

	if (ev->kind >= AGENT_EV_MAX)
		abort();
	format_double(v, ev->value);
	buf_printf(b, "%d|%s|%s|%lld|", (int)ev->kind, ev->name ? ev->name : "-", v,
	    (long long)ev->step);
	if (ev->path != NULL)
		buf_add(b, ev->path, ev->path_len);
	buf_addc(b, '\n');
}

static struct agent_output *
make(struct buf *b, size_t max_line)
{
	char *cause = NULL;
	struct agent_output *o;

	o = agent_output_create(patterns, sizeof patterns / sizeof patterns[0], fatal,
	    sizeof fatal / sizeof fatal[0], max_line, record, b, &cause);
	if (o == NULL) {
		fprintf(stderr, "agent_output_create: %s\n", cause);
		abort();
	}
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = { 0 }, chunked = { 0 };
	struct agent_output *a, *b;
	size_t chunk, off, n, max_line;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] & 0x1f) + 1;
	max_line = (data[0] & 0x20) ? 64 : 0;
	data++;
	size--;
	a = make(&whole, max_line);
	b = make(&chunked, max_line);
	agent_output_feed(a, data, size);
	agent_output_finish(a);
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		agent_output_feed(b, data + off, n);
	}
	agent_output_finish(b);
	if (whole.len != chunked.len || (whole.len > 0 &&
	    memcmp(whole.data, chunked.data, whole.len) != 0)) {
		fprintf(stderr, "events differ with chunks of %zu:\n--- whole\n%.*s--- chunked\n"
		    "%.*s", chunk, (int)whole.len, whole.data ? whole.data : "",
		    (int)chunked.len, chunked.data ? chunked.data : "");
		abort();
	}
	if (agent_output_stats(a)->lines != agent_output_stats(b)->lines)
		abort();
	agent_output_free(a);
	agent_output_free(b);
	buf_free(&whole);
	buf_free(&chunked);
	return 0;
}
