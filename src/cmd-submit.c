/* `spotsweep submit SPEC [--dry-run] [--json]`: validates a spec and expands it into the
 * store. A dry run expands into a private in-memory store instead, so that it shows exactly
 * the deduplicated trials a real submit would store, and writes nothing to disk. A bayes
 * sweep stores no trials up front: its dry run shows the random start it will propose
 * before results arrive (later trials depend on them). */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <sqlite3.h>

#include "spotsweep/bayes.h"
#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"

/* Prints the stored trials of sweep_id as {"trial": N, "params": {...}} lines. */
static int
print_trials(struct store *st, int64_t sweep_id)
{
	sqlite3_stmt *stmt;
	char *cause = NULL;
	int rc, n = 0;

	stmt = store_stmt(st, "SELECT params FROM trials WHERE sweep_id = ? ORDER BY id", &cause);
	if (stmt == NULL) {
		errorx("%s", cause);
		free(cause);
		return EXIT_RUNTIME;
	}
	sqlite3_bind_int64(stmt, 1, sweep_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		printf("{\"trial\":%d,\"params\":%s}\n", ++n, sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		errorx("reading expanded trials: %s", sqlite3_errmsg(store_db(st)));
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

/* The first n_startup proposals of a bayes sweep: random, and the same whatever results
 * come back, so they are what the scheduler will propose first. */
static int
propose_start(struct store *st, const struct spec *s, int64_t sweep_id, char **cause)
{
	struct bayes_cache *bc = bayes_cache_create();
	int64_t trial_id = 1;
	long i;
	int rc = 0;

	for (i = 0; i < s->bayes_n_startup && i < s->max_trials && trial_id != 0 && rc == 0; i++)
		rc = bayes_propose(st, bc, s, sweep_id, &trial_id, cause);
	bayes_cache_free(bc);
	return rc;
}

static int
cmd_submit_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *path = args->argv[0];
	bool dry_run = cmd_flag(self, args, "dry-run"), as_json = cmd_flag(self, args, "json");
	struct spec *spec = NULL;
	struct store *st = NULL;
	char *cause = NULL;
	int64_t sweep_id;
	uint64_t ntrials;
	int rc = EXIT_RUNTIME;

	if (spec_load(path, &spec, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	if (cmd_flag(self, args, "wandb-shim"))
		spec->wandb_shim = true;
	if (dry_run) {
		if (store_open(":memory:", &st, &cause) != 0)
			goto fail;
	} else if ((st = cmd_open_store(args)) == NULL)
		goto out;
	if (store_sweep_create(st, spec, path, &sweep_id, &ntrials, &cause) != 0)
		goto fail;
	if (dry_run && spec->method == METHOD_BAYES) {
		if (propose_start(st, spec, sweep_id, &cause) != 0)
			goto fail;
		fprintf(stderr, "spotsweep: method bayes: the random start of %ld trials; the "
		    "others are proposed as results arrive\n", spec->bayes_n_startup <
		    spec->max_trials ? spec->bayes_n_startup : spec->max_trials);
	}
	if (dry_run)
		rc = print_trials(st, sweep_id);
	else {
		if (as_json)
			printf("{\"sweep_id\": %lld, \"trials\": %llu}\n", (long long)sweep_id,
			    (unsigned long long)ntrials);
		else
			printf("%lld\n", (long long)sweep_id);
		rc = EXIT_OK;
	}
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	store_close(st);
	spec_free(spec);
	return rc;
}

const struct cmd_entry cmd_submit_entry = {
	.name = "submit",
	.usage = "SPEC [--dry-run] [--json] [--wandb-shim]",
	.help = "Validates the sweep spec (JSON, or YAML such as a W&B sweep.yaml) and expands it\n"
	    "into trials in the store, then prints the new sweep's id. --dry-run stores nothing\n"
	    "and prints the expanded trials, one JSON object a line (method bayes: the random\n"
	    "start it will propose before results arrive). --json prints\n"
	    "{\"sweep_id\": N, \"trials\": N}. --wandb-shim runs the trials with a stand-in\n"
	    "wandb Python module, as \"wandb_shim\": true in the spec does.",
	.opts = {
		{ "dry-run", 0, false },
		{ "json", 0, false },
		{ "wandb-shim", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 1,
	.max_args = 1,
	.exec = cmd_submit_exec,
};
