/* libFuzzer target: the SSH transport's JSON-lines streams, both ends. The first input byte
 * picks the end.
 *
 * Even: the agent's reader of the scheduler's answers (agent-stdio.c): the bytes arrive in
 * chunks (sizes from the second byte) and are split into lines by agent_stdio_take_lines,
 * with a short line limit when bit 1 is set; each line goes through agent_stdio_parse.
 * Checked: a parsed line has its object, a stop is "cancel" or unknown, a status is 0 or
 * 100..999, a refused line has a reason and no object; with the long limit, the lines do
 * not depend on the chunking.
 *
 * Odd: the scheduler's reader of the agent's reports (server-ssh.c): each line (with world.h's
 * placeholders) goes through ssh_line_parse and, for a report, ssh_report_apply on the leased
 * trial of world.h, then the group commit. Checked: the answer line is a JSON object with the
 * report's name and a status the HTTP API documents, and the sweep's counters stay right. */
#include "world.h"

#include "spotsweep/agent-stdio.h"
#include "spotsweep/server-ssh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES	32

static void
agent_line(const char *line, size_t len, void *arg)
{
	struct buf *seen = arg;
	struct agent_stdio_msg m;
	json_t *o;
	char *why;

	buf_add(seen, line, len);
	buf_addc(seen, '\n');
	if (memchr(line, '\n', len) != NULL)
		abort();
	if (agent_stdio_parse(line, len, &o, &m, &why) != 0) {
		if (why == NULL || o != NULL)
			abort();
		free(why);
		return;
	}
	if (o == NULL || why != NULL)
		abort();
	if (m.stop && m.stop_what != NULL && strcmp(m.stop_what, "cancel") != 0)
		abort();
	if (m.status != 0 && (m.status < 100 || m.status > 999))
		abort();
	json_decref(o);
}

static void
agent_side(const uint8_t *data, size_t size)
{
	struct buf in = { 0 }, whole_in = { 0 }, seen = { 0 }, whole_seen = { 0 };
	size_t chunk, off, n, max;

	if (size < 2)
		return;
	chunk = (size_t)data[1] + 1;
	max = (data[0] & 2) ? 48 : AGENT_STDIO_MAX_LINE;
	data += 2;
	size -= 2;
	for (off = 0; off < size; off += n) {
		n = size - off < chunk ? size - off : chunk;
		buf_add(&in, data + off, n);
		(void)agent_stdio_take_lines(&in, max, agent_line, &seen);
	}
	if (max == AGENT_STDIO_MAX_LINE) {
		buf_add(&whole_in, data, size);
		(void)agent_stdio_take_lines(&whole_in, max, agent_line, &whole_seen);
		if (seen.len != whole_seen.len || (seen.len > 0 &&
		    memcmp(seen.data, whole_seen.data, seen.len) != 0) || in.len != whole_in.len)
			abort();
	}
	buf_free(&in);
	buf_free(&whole_in);
	buf_free(&seen);
	buf_free(&whole_seen);
}

static void
server_side(struct world *w, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1, *end = (const char *)data + size, *nl;
	const char *event;
	char *line, *why, *error;
	json_t *o, *reply;
	enum ssh_line kind;
	int64_t trial = strtoll(w->trial, NULL, 10);
	int status, nlines = 0;

	world_reset(w);
	while (p < end && nlines++ < MAX_LINES) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line = world_expand(w, p, (size_t)(nl - p));
		p = nl + 1;
		kind = ssh_line_parse(line, strlen(line), &o, &event, &why);
		if ((kind == SSH_LINE_BAD || kind == SSH_LINE_UNKNOWN) != (why != NULL))
			abort();
		if (kind != SSH_LINE_BAD && (o == NULL || event == NULL))
			abort();
		if (kind == SSH_LINE_REPORT) {
			reply = ssh_report_apply(w->srv, trial, event, o, &status, &error);
			server_commit_now(w->srv);
			switch (status) {
			case 200: case 400: case 404: case 409: case 413:
				break;
			default:
				fprintf(stderr, "report %s answered %d: %s\n", line, status,
				    error ? error : "");
				abort();
			}
			if (!json_is_object(reply) || json_integer_value(json_object_get(reply,
			    "status")) != status || !json_is_string(json_object_get(reply, "re")))
				abort();
			free(json_dumps(reply, JSON_COMPACT));
			json_decref(reply);
			free(error);
		}
		free(why);
		json_decref(o);
		free(line);
	}
	world_check_counters(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct world w;
	static bool made;

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		agent_side(data, size);
		return 0;
	}
	if (!made) {
		log_threshold = LOG_ERROR;
		world_create(&w);
		made = true;
	}
	server_side(&w, data, size);
	return 0;
}
