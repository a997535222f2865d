/* `spotsweep serve`: the scheduler daemon. Loads the config, opens the store with durable
 * commits, listens, and runs the event loop until SIGINT or SIGTERM, when it stops leasing,
 * answers what is in flight and closes the store cleanly. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "spotsweep/cmd.h"
#include "spotsweep/config.h"
#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/store-flush.h"
#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"

struct serve_state {
	struct event_base	*base;
	struct server		*srv;
	int			 signals;
};

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct serve_state *ss = arg;
	struct timeval flush = { 0, 200000 };

	(void)what;
	if (ss->signals++ > 0) {
		log_warn("second signal: exiting now");
		event_base_loopbreak(ss->base);
		return;
	}
	log_info("received %s: no more leases, finishing what is in flight",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_drain(ss->srv);
	/* A short grace so that replies already queued reach their sockets. */
	event_base_loopexit(ss->base, &flush);
}

int
serve_load_config(const char *path, struct config **cfg)
{
	char *cause = NULL;

	if (path == NULL) {
		*cfg = config_default();
		return 0;
	}
	if (config_load(path, cfg, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

int
serve_load_token(const char *opt_file, const struct config *cfg, char **token)
{
	const char *file = opt_file ? opt_file : cfg->token_file;
	char *cause = NULL;

	*token = NULL;
	if (file == NULL)
		return 0;
	if (token_file_read(file, token, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return -1;
	}
	return 0;
}

struct event_base *
serve_event_base(void)
{
	struct event_base *base = event_base_new();

	if (base == NULL)
		fatal(EXIT_RUNTIME, "cannot create the event loop");
	if (event_base_priority_init(base, SERVER_PRIORITIES) != 0)
		fatal(EXIT_RUNTIME, "cannot set event priorities");
	signal(SIGPIPE, SIG_IGN);
	/* Past a file-size limit (ulimit -f) a write fails with EFBIG, which the store reports
	 * as an I/O error, rather than killing the scheduler. */
	signal(SIGXFSZ, SIG_IGN);
	return base;
}

static int
cmd_serve_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	struct serve_state ss = { 0 };
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	char *token = NULL, *cause = NULL;
	const char *listen;
	int rc = EXIT_RUNTIME;

	if (serve_load_config(cmd_opt(self, args, "config"), &cfg) != 0)
		return EXIT_USAGE;
	if (serve_load_token(cmd_opt(self, args, "token-file"), cfg, &token) != 0) {
		config_free(cfg);
		return EXIT_USAGE;
	}
	listen = cmd_opt(self, args, "listen") ? cmd_opt(self, args, "listen") : cfg->listen;
	if ((st = cmd_open_store(args)) == NULL)
		goto out;
	if (store_set_sync(st, STORE_SYNC_FULL, &cause) != 0)
		goto fail;
	ss.base = serve_event_base();
	if ((rc = server_create(ss.base, st, cfg, listen, token, &ss.srv, &cause)) != 0) {
		errorx("%s", cause);
		free(cause);
		rc = rc == -2 ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}
	sigint = evsignal_new(ss.base, SIGINT, on_signal, &ss);
	sigterm = evsignal_new(ss.base, SIGTERM, on_signal, &ss);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	printf("listening on %s\n", server_address(ss.srv));
	fflush(stdout);
	log_info("serving %s on %s (lease timeout %g s)", store_default_path(args->db_path),
	    server_address(ss.srv), cfg->lease_timeout_s);
	event_base_dispatch(ss.base);
	if (ss.srv->flush != NULL) {
		uint64_t flushes;
		double flush_s;

		store_flush_stats(ss.srv->flush, &flushes, &flush_s);
		log_info("stopped after %llu requests, %llu commits, %llu flushes (%.0f us each)",
		    (unsigned long long)ss.srv->requests, (unsigned long long)ss.srv->commits,
		    (unsigned long long)flushes, flushes ? flush_s / (double)flushes * 1e6 : 0.0);
	} else
		log_info("stopped after %llu requests, %llu commits",
		    (unsigned long long)ss.srv->requests, (unsigned long long)ss.srv->commits);
	rc = EXIT_OK;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	server_free(ss.srv);
	if (ss.base != NULL)
		event_base_free(ss.base);
	store_close(st);
	config_free(cfg);
	free(token);
	return rc;
}

const struct cmd_entry cmd_serve_entry = {
	.name = "serve",
	.usage = "[--config FILE] [--listen HOST:PORT] [--token-file FILE]",
	.help = "Runs the scheduler: the HTTP API that agents pull trials from, lease expiry and\n"
	    "retries. Listens on 127.0.0.1:8470 unless told otherwise; port 0 picks a free port.\n"
	    "Prints \"listening on HOST:PORT\" once ready. A non-loopback address needs a token.",
	.opts = {
		{ "config", 'c', true },
		{ "listen", 'l', true },
		{ "token-file", 0, true },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_serve_exec,
};
