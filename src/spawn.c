/* Child processes of the scheduler: posix_spawn with a fresh process group and default
 * signal dispositions, since serve ignores SIGPIPE and handles SIGCHLD/SIGINT/SIGTERM/SIGHUP
 * through libevent and a child must not inherit that. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/spawn.h"
#include "spotsweep/xmalloc.h"

extern char **environ;

pid_t
spawn_child(char *const argv[], const int fds[3], char **cause)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dflt;
	pid_t pid = -1;
	int rc, i;

	posix_spawn_file_actions_init(&fa);
	if (fds[0] < 0)
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	for (i = fds[0] < 0 ? 1 : 0; i < 3; i++)
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGCHLD);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dflt);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETPGROUP);
	rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		*cause = xasprintf("cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	return pid;
}
