/* Starting the scheduler's helper processes (ssh, sbatch, squeue, scancel): one definition of
 * how a child is set up, so every dispatcher gets the same process group and signal state. */
#ifndef SPOTSWEEP_SPAWN_H
#define SPOTSWEEP_SPAWN_H

#include <sys/types.h>

/* Starts argv (looked up on PATH) with fds[0..2] as its stdin, stdout and stderr (-1 for
 * stdin means /dev/null), every other descriptor closed, in its own process group (a Ctrl-C
 * meant for `run` must not reach it) with default signal handling and nothing blocked.
 * Returns the PID, or -1 with *cause. The caller reaps it by PID. */
pid_t spawn_child(char *const argv[], const int fds[3], char **cause);

#endif
