/* The scheduler's SSH dispatcher: for pools with "dispatch": "ssh", the scheduler itself
 * leases trials to the configured hosts and runs each one as `ssh HOST AGENT_PATH --stdio`,
 * following it through that connection (docs/http-api.md, "SSH stdio stream"). Each host is a
 * worker in the store, 'up' or 'down' with its last error; a host that cannot be reached is
 * retried after an exponential backoff and never holds up the event loop or the other hosts. */
#ifndef SPOTSWEEP_SERVER_SSH_H
#define SPOTSWEEP_SERVER_SSH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "spotsweep/config.h"

struct server;
struct ssh_dispatch;

/* How often the dispatcher looks for work and reaps sessions. */
#define SSH_TICK_S		0.1
/* After a lease found nothing, how long until the next try. */
#define SSH_IDLE_S		0.25
/* How often running sessions are checked for a cancelled or superseded trial. */
#define SSH_CANCEL_CHECK_S	1.0
/* A session told to stop (its stdin closed) gets this long before ssh is killed. */
#define SSH_CLOSE_WAIT_S	120.0
/* A host that failed to connect is retried after 2 s, doubling up to 5 minutes. */
#define SSH_BACKOFF_MIN_S	2.0
#define SSH_BACKOFF_MAX_S	300.0
/* ssh's own timers: a dead link is noticed within SERVER_ALIVE_S * COUNT seconds. */
#define SSH_CONNECT_TIMEOUT_S	10
#define SSH_SERVER_ALIVE_S	3
#define SSH_SERVER_ALIVE_COUNT	3
/* How long an idle control master stays up after its last session. */
#define SSH_CONTROL_PERSIST_S	60

/* Sets up dispatch for the config's ssh pools: registers every host as a worker, makes the
 * private directory of control sockets, adds the SIGCHLD event and the dispatch timer to the
 * server's event base, and hooks the group commit. *out is NULL when there is no ssh pool.
 * -1 with *cause. */
int ssh_dispatch_create(struct server *srv, struct ssh_dispatch **out, char **cause);
/* Ends every session (ssh gets SIGTERM: the remote agents see EOF and stop their trials,
 * whose attempts expire as lost), stops the control masters and removes the directory. Their
 * processes are reaped before it returns. NULL is fine. */
void ssh_dispatch_free(struct ssh_dispatch *d);

/* The command the remote shell runs: "exec AGENT_PATH --stdio AGENT_ARGS...", every word
 * shell-quoted except a leading "~/" of the path (so that it still means the home
 * directory). Caller frees. */
char *ssh_remote_command(const struct pool *p);
/* The argv of the ssh client for one session (NULL-terminated; ssh_argv_free). The pool's
 * ssh_options come first, so that they override ours (ssh keeps the first value it reads).
 * ctl_path NULL: no connection sharing. */
char **ssh_session_argv(const struct pool *p, const struct pool_host *h, const char *ctl_path,
    const char *remote_command);
void ssh_argv_free(char **argv);
/* The delay before retrying a host after failures failed connections in a row (>= 1). */
double ssh_host_backoff(unsigned failures);

/* What one line from a remote agent is. */
enum ssh_line {
	SSH_LINE_BAD,		/* not a JSON object with an "event" string */
	SSH_LINE_STARTED,
	SSH_LINE_REPORT,	/* "heartbeat", "checkpoint" or "finish" */
	SSH_LINE_UNKNOWN,	/* an event this scheduler does not know */
};
/* Parses one line of the agent's stream (without its newline): *o is the object (NULL when
 * the line is not JSON; caller decrefs), *event its "event" (in *o), *why the printable
 * reason for SSH_LINE_BAD and the shown event for SSH_LINE_UNKNOWN (caller frees). */
enum ssh_line ssh_line_parse(const char *line, size_t len, json_t **o, const char **event,
    char **why);
/* Applies a report of the session that carries trial_id, in its own savepoint of the group
 * commit, as the HTTP handler would: returns the answer line's object ({"re", "status",
 * ...}), with the status in *status and, unless 200, the message in *error (caller frees). */
json_t *ssh_report_apply(struct server *srv, int64_t trial_id, const char *event,
    const json_t *o, int *status, char **error);

#endif
