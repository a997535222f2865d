/* The scheduler's config file (serve --config, run --config): listen address, token, lease
 * timeout, timezone and pools. Errors name FILE:LINE:COLUMN and the key, like spec errors. */
#ifndef SPOTSWEEP_CONFIG_H
#define SPOTSWEEP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct rule;
struct tz;

enum pool_class { POOL_SPOT, POOL_ON_DEMAND, POOL_CLASS_MAX };
enum pool_dispatch { DISPATCH_HTTP, DISPATCH_SSH, DISPATCH_SLURM, DISPATCH_MAX };

struct pool_host {
	char	*host;
	char	*user;		/* NULL: ssh's default */
	int	 port;		/* 22 */
	int	 slots;		/* 1 */
	char	*identity_file;	/* NULL: ssh's default */
};

struct pool {
	char			*name;
	enum pool_class		 cls;
	double			 price_per_hour;	/* per GPU */
	int			 gpus_per_worker;	/* 1 */
	enum pool_dispatch	 dispatch;
	struct pool_host	*hosts;
	size_t			 nhosts;
	char			*agent_path;		/* "spotsweep-agent" */
	char			*scale_command;	/* run as CMD POOL WANTED */
	char			*price_command;	/* prints the pool's current price */
	double			 price_interval_s;	/* 300 */
	long			 max_workers;		/* scaling cap, 0 = none */
	char			*server_url;
	char			*partition;
	char			*account;
	char			*qos;
	char			*gres;
	long			 max_jobs;
	char			**sbatch_args;
	size_t			 nsbatch_args;
	char			*time_limit;		/* sbatch --time; NULL: the partition's */
	int			 requeue;		/* 1 --requeue, 0 --no-requeue, -1 neither */
	double			 signal_grace_s;	/* --signal=B:TERM@N: 60 */
	bool			 once;			/* one trial per job: true */
	double			 idle_exit_s;		/* a job's agent exits when idle this long: 30 */
	double			 poll_interval_s;	/* squeue at most this often: 2 */
	char			**ssh_options;		/* ssh -o OPTION each, before ours */
	size_t			 nssh_options;
	char			**agent_args;		/* after `AGENT_PATH --stdio` */
	size_t			 nagent_args;
};

struct config {
	char		*path;		/* NULL for the built-in defaults */
	char		*listen;	/* "127.0.0.1:8470" */
	char		*token_file;	/* NULL: no token */
	double		 lease_timeout_s;	/* 60 */
	long		 max_connections;	/* open HTTP connections; 0: SERVER_MAX_CONNECTIONS */
	double		 http_timeout_s;	/* idle connection and request read timeout: 60 */
	bool		 metrics_public;	/* GET /metrics without the token: false */
	char		*timezone;	/* NULL: UTC */
	struct tz	*tz;		/* timezone loaded (tz.h); NULL: UTC */
	struct rule	*rules;		/* rules.h */
	size_t		 nrules;
	struct pool	*pools;
	size_t		 npools;
};

#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8470"

const char *pool_class_name(enum pool_class c);
const char *pool_dispatch_name(enum pool_dispatch d);

/* The defaults, used when no --config is given. Never fails. */
struct config *config_default(void);
/* Parses and validates a config file; -1 with "FILE:LINE:COL: key: what was expected". */
int config_load(const char *path, struct config **out, char **cause);
int config_parse(const char *path, const char *text, size_t len, struct config **out,
    char **cause);
void config_free(struct config *c);
/* The pool named name, or NULL. */
const struct pool *config_pool(const struct config *c, const char *name);

/* Reads a bearer token from a file that must not be readable by group or others and must
 * hold a non-empty token (trailing whitespace trimmed). -1 with cause (never the token). */
int token_file_read(const char *path, char **token, char **cause);

#endif
