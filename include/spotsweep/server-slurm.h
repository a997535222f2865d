/* The scheduler's Slurm dispatcher: for pools with "dispatch": "slurm", `serve` submits agent
 * jobs with sbatch while the pool has work the rules let its class take (up to max_jobs at
 * once), follows them with squeue, ends the attempt of a job that vanished as `lost`, and
 * scancels the jobs of cancelled trials and the queued jobs nobody needs any more. Each job's
 * agent pulls its trial over HTTP as worker "slurm-JOBID" of the pool; Slurm's SIGTERM
 * (preemption, requeue, --signal before the time limit) is the agent's preemption. sbatch,
 * squeue and scancel run as child processes read through the event loop, never waited for. */
#ifndef SPOTSWEEP_SERVER_SLURM_H
#define SPOTSWEEP_SERVER_SLURM_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/config.h"

struct server;
struct slurm_dispatch;

/* How often the dispatcher reaps, settles jobs and looks for work. */
#define SLURM_TICK_S		0.25
/* A pool without max_jobs has at most this many jobs at once. */
#define SLURM_MAX_JOBS_DEFAULT	100
/* sbatch, squeue or scancel still running after this long is killed. */
#define SLURM_CMD_TIMEOUT_S	60.0
/* A job that ended (or was requeued) leaves its open attempt this long for a last report
 * before the attempt is ended lost. */
#define SLURM_SETTLE_S		1.0
/* Queued jobs beyond the work are cancelled once the surplus has lasted this long. */
#define SLURM_EXCESS_GRACE_S	5.0
/* A job told to stop that is still there is told again after this long. */
#define SLURM_RECANCEL_S	30.0
/* After a job ended before its agent reached the scheduler, or sbatch failed, the pool waits
 * 2 s, doubling up to 5 minutes, before it submits again. */
#define SLURM_BACKOFF_MIN_S	2.0
#define SLURM_BACKOFF_MAX_S	300.0

/* What a Slurm job state (squeue's %T) means to the dispatcher. */
enum slurm_phase {
	SLURM_QUEUED,		/* PENDING, REQUEUED: waiting for a node */
	SLURM_RUNNING,		/* RUNNING, CONFIGURING: its agent is (about to be) up */
	SLURM_STOPPING,		/* COMPLETING, SIGNALING, STAGE_OUT: on its way out */
	SLURM_HELD,		/* SUSPENDED, REQUEUE_HOLD, SPECIAL_EXIT, ...: alive, idle */
	SLURM_ENDED,		/* COMPLETED, CANCELLED, FAILED, TIMEOUT, ...: gone */
	SLURM_PHASE_MAX
};

/* Sets up dispatch for the config's slurm pools: checks that sbatch, squeue and scancel are
 * on PATH, adds the SIGCHLD event and the timer to the server's event base. *out is NULL when
 * there is no slurm pool. -1 with *cause. */
int slurm_dispatch_create(struct server *srv, struct slurm_dispatch **out, char **cause);
/* Stops the Slurm commands still running (reaped before it returns) and frees. The jobs
 * themselves stay: their agents keep working and a later `serve` follows them. NULL is
 * fine. */
void slurm_dispatch_free(struct slurm_dispatch *d);

/* The phase of a Slurm job state name; unknown names are SLURM_HELD (alive). */
enum slurm_phase slurm_state_phase(const char *state);
/* The agent's grace (seconds between SIGTERM and SIGKILL of its trial) for a pool whose jobs
 * get SIGTERM signal_grace_s before their time limit: three quarters of it, at least 1. */
long slurm_agent_grace(double signal_grace_s);
/* The batch script's one line: "exec AGENT --server URL --pool NAME --name slurm-$JOB ...",
 * every word shell-quoted but the job id's expansion and a leading "~/" of the agent's
 * path. Caller frees. */
char *slurm_agent_command(const struct pool *p, const char *server_url);
/* sbatch's argv (NULL-terminated; slurm_argv_free): --parsable, the job name, the pool's
 * partition, account, qos, gres, time limit, --signal, --requeue, then its sbatch_args (so
 * that they override ours), then --wrap with the agent command. */
char **slurm_sbatch_argv(const struct pool *p, const char *server_url);
void slurm_argv_free(char **argv);
/* Reads the job id that `sbatch --parsable` prints ("ID" or "ID;CLUSTER"). */
bool slurm_parse_job_id(const char *out, int64_t *job_id);

/* One line of `squeue -h -o %i|%T|%r|%N`. */
struct slurm_status {
	int64_t	 job_id;
	char	*state;
	char	*reason;	/* NULL when "None" or empty */
	char	*node;		/* NULL when empty */
};
/* Parses one line; false when it is not one. st's strings are xmalloc'd (slurm_status_clear). */
bool slurm_parse_status(const char *line, struct slurm_status *st);
void slurm_status_clear(struct slurm_status *st);

#endif
