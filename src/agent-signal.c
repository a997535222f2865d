/* The agent's signal handling: handlers that only record the signal and wake the poll loop
 * through a self-pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/agent-signal.h"
#include "spotsweep/xmalloc.h"

volatile sig_atomic_t	agent_got_signal;
volatile sig_atomic_t	agent_signal_count;
static int		selfpipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int	saved = errno;

	if (sig != SIGCHLD) {
		agent_got_signal = sig;
		agent_signal_count++;
	}
	if (selfpipe[1] >= 0)
		(void)!write(selfpipe[1], "", 1);
	errno = saved;
}

int
agent_signals_setup(char **cause)
{
	struct sigaction	sa;
	int			i, sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };

	if (pipe2(selfpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		*cause = xasprintf("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	/* A vanished reader must show up as EPIPE, not kill the agent before it stops its
	 * trials. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, NULL);
	return 0;
}

int
agent_signals_fd(void)
{
	return selfpipe[0];
}

void
agent_signals_drain(void)
{
	char	buf[64];

	while (read(selfpipe[0], buf, sizeof buf) > 0)
		;
}
