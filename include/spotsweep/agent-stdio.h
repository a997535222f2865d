/* spotsweep-agent --stdio: the agent's end of the SSH transport. One attempt, described by a
 * lease document on stdin, is run with the HTTP agent's machinery (agent-trial.c) and its
 * reports go out as JSON lines on stdout; the scheduler answers each on stdin. When stdin
 * reaches EOF, stdout breaks or an answer is a whole lease timeout late, the scheduler is
 * gone and the trial gets the preemption sequence. The stream format is in docs/http-api.md,
 * "SSH stdio stream". */
#ifndef SPOTSWEEP_AGENT_STDIO_H
#define SPOTSWEEP_AGENT_STDIO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "spotsweep/util.h"

/* How long stdin may take to deliver the lease. */
#define AGENT_STDIO_LEASE_WAIT_S	60.0
/* Metric points go out at most this long after they were read. */
#define AGENT_STDIO_FLUSH_S		1.0
/* How long the answer to the finish report is awaited before exiting anyway. */
#define AGENT_STDIO_FINISH_WAIT_S	30.0
/* The longest line accepted from the scheduler. */
#define AGENT_STDIO_MAX_LINE		(1024 * 1024)
/* Unwritten output beyond this means the reader is gone. */
#define AGENT_STDIO_MAX_BACKLOG		(64 * 1024 * 1024)

/* What the command line decided. Strings are owned by the caller. */
struct agent_stdio_config {
	const char	*workdir;	/* absolute, exists */
	double		 grace_s;
	const char	*notice_url;	/* NULL when none */
	const char	*notice_file;	/* NULL when none */
};

/* One line from the scheduler, parsed; the strings live in the line's JSON object. */
struct agent_stdio_msg {
	bool		 stop;		/* {"stop": ...}: stop the trial */
	const char	*stop_what;	/* "cancel"; NULL for a stop this agent does not know */
	const char	*re;		/* the report answered, NULL when not said */
	long		 status;	/* 200 when not said; 0 when not a status */
	const char	*error;
	bool		 cancel;	/* a heartbeat's answer: the trial is to stop */
	const char	*state;		/* a finish's answer: the trial's new state */
};

/* Parses one line (without its newline) from the scheduler. 0 with *m and *o (m's strings;
 * caller decrefs); -1 with *why (caller frees) when it is not a JSON object. */
int agent_stdio_parse(const char *line, size_t len, json_t **o, struct agent_stdio_msg *m,
    char **why);
/* Calls fn for each complete non-empty line at the front of in and removes them. An
 * unfinished line already longer than max is dropped; true then. */
bool agent_stdio_take_lines(struct buf *in, size_t max,
    void (*fn)(const char *line, size_t len, void *arg), void *arg);

/* Reads one lease (a JSON object ending with a newline) from stdin, runs that attempt, and
 * streams its reports until the finish is answered or the link is gone. Returns the exit
 * status: 0 when the finish report was written out, 1 otherwise. */
int agent_stdio_run(const struct agent_stdio_config *cfg);

#endif
