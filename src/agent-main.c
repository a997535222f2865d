/* spotsweep-agent: the worker-side agent. This file is the command line only: an option
 * table, checks of the values (exit 2 on bad usage), the token file's permissions, the
 * absolute work directory; then agent_run() (agent-loop.c) does the work. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "spotsweep/agent-loop.h"
#include "spotsweep/agent-stdio.h"
#include "spotsweep/agent-trial.h"
#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/version.h"
#include "spotsweep/xmalloc.h"

#define EXIT_USAGE	2
#define TOKEN_MAX	4096
#define SLOTS_MAX	1024

static const char usage_text[] =
"usage: spotsweep-agent --server URL [--token-file F] [--pool NAME] [--name NAME]\n"
"                       [--slots N] [--workdir DIR] [--notice-url URL]\n"
"                       [--notice-file PATH] [--grace-s S] [--once] [--idle-exit-s S]\n"
"       spotsweep-agent --stdio [--workdir DIR] [--notice-url URL] [--notice-file PATH]\n"
"                       [--grace-s S]\n"
"\n"
"Pulls trials from a spotsweep scheduler over HTTP and runs them, each under /bin/sh -c\n"
"in its own process group, with its output in DIR/logs/sweep-S/trial-T/attempt-A.log.\n"
"\n"
"  --server URL        the scheduler, e.g. http://10.0.0.2:8470 (required)\n"
"  --token-file F      bearer token file; must not be readable by group or others\n"
"  --pool NAME         the pool this worker belongs to\n"
"  --name NAME         worker name (default HOSTNAME-PID)\n"
"  --slots N           trials run at once (default 1)\n"
"  --workdir DIR       logs and checkpoints (default ./spotsweep-work)\n"
"  --notice-url URL    termination notice endpoint, polled every 5 s: 200 with a body\n"
"                      is a notice (e.g. AWS .../meta-data/spot/instance-action)\n"
"  --notice-file PATH  the file appearing is a termination notice\n"
"  --grace-s S         seconds between SIGTERM and SIGKILL on preemption (default 25)\n"
"  --once              exit after one trial has finished and been reported\n"
"  --idle-exit-s S     exit after S seconds with no work\n"
"  --stdio             run the one trial described on stdin (a lease, one JSON line) and\n"
"                      write its reports as JSON lines on stdout: the SSH transport.\n"
"                      stdin reaching EOF stops the trial as a preemption would\n"
"  --help, --version\n"
"\n"
"SIGTERM, SIGINT or a notice stops the trials (SIGTERM, then SIGKILL after the grace),\n"
"reports them preempted with their newest checkpoint, and exits 0.\n"
"SPOTSWEEP_LOG=debug|info|warn|error sets the log level.\n";

enum opt_id {
	OPT_SERVER = 1, OPT_TOKEN_FILE, OPT_POOL, OPT_NAME, OPT_SLOTS, OPT_WORKDIR,
	OPT_NOTICE_URL, OPT_NOTICE_FILE, OPT_GRACE, OPT_ONCE, OPT_IDLE_EXIT, OPT_HELP,
	OPT_VERSION, OPT_STDIO
};

static const struct option options[] = {
	{ "server",	 required_argument, NULL, OPT_SERVER },
	{ "token-file",	 required_argument, NULL, OPT_TOKEN_FILE },
	{ "pool",	 required_argument, NULL, OPT_POOL },
	{ "name",	 required_argument, NULL, OPT_NAME },
	{ "slots",	 required_argument, NULL, OPT_SLOTS },
	{ "workdir",	 required_argument, NULL, OPT_WORKDIR },
	{ "notice-url",	 required_argument, NULL, OPT_NOTICE_URL },
	{ "notice-file", required_argument, NULL, OPT_NOTICE_FILE },
	{ "grace-s",	 required_argument, NULL, OPT_GRACE },
	{ "once",	 no_argument,	    NULL, OPT_ONCE },
	{ "idle-exit-s", required_argument, NULL, OPT_IDLE_EXIT },
	{ "stdio",	 no_argument,	    NULL, OPT_STDIO },
	{ "help",	 no_argument,	    NULL, OPT_HELP },
	{ "version",	 no_argument,	    NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	errorx("%s", msg);
	fprintf(stderr, "Try 'spotsweep-agent --help'.\n");
	free(msg);
	exit(EXIT_USAGE);
}

static bool
valid_url(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 && s[7] != '\0') ||
	    (strncmp(s, "https://", 8) == 0 && s[8] != '\0');
}

static double
parse_seconds(const char *opt, const char *v, bool allow_zero)
{
	double	d;

	if (!safe_strtod(v, &d) || !(d >= 0) || d > 1e9 || (!allow_zero && d == 0))
		usage_error("--%s: expected a %s number of seconds, got \"%s\"", opt,
		    allow_zero ? "non-negative" : "positive", v);
	return d;
}

/* Reads the bearer token, refusing a file others may read. Exits 2 on any problem. */
static char *
read_token(const char *path)
{
	struct stat	 sb;
	char		*data = NULL, *cause = NULL;
	size_t		 len = 0, i;

	if (stat(path, &sb) != 0)
		usage_error("--token-file %s: %s", path,
		    errno == ENOENT ? "no such file" : strerror(errno));
	if ((sb.st_mode & (S_IRGRP | S_IROTH)) != 0)
		usage_error("--token-file %s: readable by group or others; run chmod 600 %s",
		    path, path);
	if (read_file(path, TOKEN_MAX, &data, &len, &cause) != 0)
		usage_error("--token-file: %s", cause);
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
	    data[len - 1] == ' ' || data[len - 1] == '\t'))
		data[--len] = '\0';
	if (len == 0)
		usage_error("--token-file %s: the file is empty", path);
	for (i = 0; i < len; i++) {
		/* It goes into an HTTP header: no control characters. */
		if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f)
			usage_error("--token-file %s: the token contains control characters",
			    path);
	}
	return data;
}

/* --stdio: the options that only make sense with a scheduler to pull from are refused. */
static int
run_stdio(const struct agent_config *cfg, const char *workdir_opt, const char *server,
    const char *token, const char *name)
{
	struct agent_stdio_config	 sc;
	char				*workdir, *cause = NULL;
	int				 rc;

	if (server != NULL || token != NULL || cfg->pool != NULL || name != NULL ||
	    cfg->slots != 1 || cfg->once || cfg->idle_exit_s > 0)
		usage_error("--stdio takes only --workdir, --notice-url, --notice-file and "
		    "--grace-s (the trial comes from stdin)");
	if (agent_mkdirs(workdir_opt, &cause) != 0)
		usage_error("--workdir: %s", cause);
	if ((workdir = realpath(workdir_opt, NULL)) == NULL)
		usage_error("--workdir %s: %s", workdir_opt, strerror(errno));
	memset(&sc, 0, sizeof sc);
	sc.workdir = workdir;
	sc.grace_s = cfg->grace_s;
	sc.notice_url = cfg->notice_url;
	sc.notice_file = cfg->notice_file;
	rc = agent_stdio_run(&sc);
	free(workdir);
	return rc;
}

int
main(int argc, char **argv)
{
	struct agent_config	 cfg;
	char			 host[HOST_NAME_MAX + 1], *server = NULL, *token = NULL;
	char			*name = NULL, *workdir, *cause = NULL;
	const char		*workdir_opt = "./spotsweep-work";
	size_t			 len;
	long			 slots;
	int			 c, rc;
	bool			 stdio = false;

	log_set_program("spotsweep-agent");
	log_init_from_env();
	memset(&cfg, 0, sizeof cfg);
	cfg.slots = 1;
	cfg.grace_s = 25;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER:
			server = optarg;
			break;
		case OPT_TOKEN_FILE:
			token = read_token(optarg);
			break;
		case OPT_POOL:
			if (*optarg == '\0')
				usage_error("--pool: empty name");
			cfg.pool = optarg;
			break;
		case OPT_NAME:
			if (*optarg == '\0')
				usage_error("--name: empty name");
			name = optarg;
			break;
		case OPT_SLOTS:
			if (!safe_strtol(optarg, &slots) || slots < 1 || slots > SLOTS_MAX)
				usage_error("--slots: expected an integer from 1 to %d, got "
				    "\"%s\"", SLOTS_MAX, optarg);
			cfg.slots = slots;
			break;
		case OPT_WORKDIR:
			if (*optarg == '\0')
				usage_error("--workdir: empty path");
			workdir_opt = optarg;
			break;
		case OPT_NOTICE_URL:
			if (!valid_url(optarg))
				usage_error("--notice-url: expected an http:// or https:// URL, "
				    "got \"%s\"", optarg);
			cfg.notice_url = optarg;
			break;
		case OPT_NOTICE_FILE:
			if (*optarg == '\0')
				usage_error("--notice-file: empty path");
			cfg.notice_file = optarg;
			break;
		case OPT_GRACE:
			cfg.grace_s = parse_seconds("grace-s", optarg, true);
			break;
		case OPT_ONCE:
			cfg.once = true;
			break;
		case OPT_IDLE_EXIT:
			cfg.idle_exit_s = parse_seconds("idle-exit-s", optarg, false);
			break;
		case OPT_STDIO:
			stdio = true;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return 0;
		case OPT_VERSION:
			printf("spotsweep-agent %s\n", SPOTSWEEP_VERSION);
			return 0;
		case ':':
			usage_error("option %s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (stdio)
		return run_stdio(&cfg, workdir_opt, server, token, name);
	if (server == NULL)
		usage_error("--server URL is required");
	if (!valid_url(server))
		usage_error("--server: expected an http:// or https:// URL, got \"%s\"", server);
	server = xstrdup(server);
	len = strlen(server);
	while (len > 0 && server[len - 1] == '/')
		server[--len] = '\0';

	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	cfg.hostname = host;
	cfg.name = name != NULL ? xstrdup(name) : xasprintf("%s-%ld", host, (long)getpid());

	if (agent_mkdirs(workdir_opt, &cause) != 0)
		usage_error("--workdir: %s", cause);
	if ((workdir = realpath(workdir_opt, NULL)) == NULL)
		usage_error("--workdir %s: %s", workdir_opt, strerror(errno));
	cfg.workdir = workdir;
	cfg.server_url = server;
	cfg.token = token;

	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	rc = agent_run(&cfg);

	if (token != NULL)
		explicit_bzero(token, strlen(token));
	free(token);
	free((char *)cfg.name);
	free(workdir);
	free(server);
	return rc;
}
