/* The agent's signals: SIGTERM, SIGINT and SIGHUP only set flags, and every signal (SIGCHLD
 * too) writes a byte to a self-pipe that the agent's poll loop watches, so all the real work
 * happens in the loop. Shared by the HTTP agent and `--stdio`. */
#ifndef SPOTSWEEP_AGENT_SIGNAL_H
#define SPOTSWEEP_AGENT_SIGNAL_H

#include <signal.h>

/* The last of SIGTERM, SIGINT, SIGHUP received, and how many of them so far. */
extern volatile sig_atomic_t agent_got_signal;
extern volatile sig_atomic_t agent_signal_count;

/* Installs the handlers (SIGPIPE ignored: a vanished peer shows up as EPIPE) and creates the
 * self-pipe. -1 with *cause. */
int agent_signals_setup(char **cause);
/* The read end of the self-pipe, for poll(). */
int agent_signals_fd(void);
/* Empties the self-pipe after poll() reported it readable. */
void agent_signals_drain(void);

#endif
