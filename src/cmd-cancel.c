/* `spotsweep cancel SWEEP`, `spotsweep cancel --trial ID` and `spotsweep retry --trial ID`:
 * the operator's hand on the trial state machine. Cancel stops pending trials at once and
 * marks running ones cancelled, so their agents hear `cancel` on the next heartbeat; retry
 * gives an abandoned trial a fresh failure budget. Each prints what changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

/* Reads a trial's state for the message; false (cause set) if there is no such trial. */
static bool
trial_state_of(struct store *st, long long id, enum trial_state *state, char **cause)
{
	sqlite3_stmt *stmt;
	bool ok = false;
	int rc;

	if ((stmt = store_stmt(st, "SELECT state FROM trials WHERE id = ?", cause)) == NULL)
		return false;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ok = trial_state_parse((const char *)sqlite3_column_text(stmt, 0), state);
	if (rc == SQLITE_ROW && !ok)
		*cause = xasprintf("trial %lld has an unknown state", id);
	else if (rc == SQLITE_DONE)
		*cause = xasprintf("no trial %lld", id);
	else if (rc != SQLITE_ROW)
		store_error(st, "reading a trial", cause);
	sqlite3_reset(stmt);
	return ok;
}

static int
cancel_sweep(struct store *st, long long id)
{
	struct sweep_summary s;
	char *cause = NULL;
	int64_t n;

	memset(&s, 0, sizeof s);
	/* Counts and the cancel in one transaction, so the message matches what happened. */
	if (store_begin(st, &cause) != 0)
		goto fail;
	if (store_sweep_summary(st, id, &s, &cause) != 0 ||
	    trial_cancel_sweep(st, id, &n, &cause) != TRIAL_OK ||
	    store_commit(st, &cause) != 0) {
		store_rollback(st);
		goto fail;
	}
	if (strcmp(s.state, "cancelled") == 0)
		printf("sweep %lld was already cancelled\n", id);
	else
		printf("sweep %lld cancelled: %lld pending trials cancelled, %lld running trials"
		    " told to stop\n", id, (long long)s.by_state[TRIAL_PENDING],
		    (long long)s.by_state[TRIAL_RUNNING]);
	sweep_summary_clear(&s);
	return EXIT_OK;
fail:
	errorx("%s", cause);
	free(cause);
	sweep_summary_clear(&s);
	return EXIT_RUNTIME;
}

static int
cancel_trial(struct store *st, long long id)
{
	enum trial_state was;
	char *cause = NULL;

	if (store_begin(st, &cause) != 0)
		goto fail;
	if (!trial_state_of(st, id, &was, &cause) || trial_cancel(st, id, &cause) != TRIAL_OK ||
	    store_commit(st, &cause) != 0) {
		store_rollback(st);
		goto fail;
	}
	if (was == TRIAL_RUNNING)
		printf("trial %lld cancelled (running: its worker is told to stop)\n", id);
	else
		printf("trial %lld cancelled (was %s)\n", id, trial_state_name(was));
	return EXIT_OK;
fail:
	errorx("%s", cause);
	free(cause);
	return EXIT_RUNTIME;
}

static int
cmd_cancel_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *trial = cmd_opt(self, args, "trial");
	struct store *st;
	long long id;
	int rc;

	if ((trial == NULL) == (args->argc == 0)) {
		errorx("cancel: give a SWEEP or --trial ID (usage: spotsweep cancel %s)",
		    self->usage);
		return EXIT_USAGE;
	}
	if (!cmd_parse_id(trial != NULL ? trial : args->argv[0], &id))
		return EXIT_USAGE;
	if ((st = cmd_open_existing_store(args)) == NULL)
		return EXIT_RUNTIME;
	rc = trial != NULL ? cancel_trial(st, id) : cancel_sweep(st, id);
	store_close(st);
	return rc;
}

static int
cmd_retry_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *trial = cmd_opt(self, args, "trial");
	struct store *st;
	char *cause = NULL;
	long long id;
	int rc;

	if (trial == NULL) {
		errorx("retry: --trial ID is required (usage: spotsweep retry %s)", self->usage);
		return EXIT_USAGE;
	}
	if (!cmd_parse_id(trial, &id))
		return EXIT_USAGE;
	if ((st = cmd_open_existing_store(args)) == NULL)
		return EXIT_RUNTIME;
	rc = trial_retry(st, id, &cause);
	store_close(st);
	if (rc != TRIAL_OK) {
		errorx("%s", cause);
		free(cause);
		return EXIT_RUNTIME;
	}
	printf("trial %lld is pending again, with a fresh failure budget\n", id);
	return EXIT_OK;
}

const struct cmd_entry cmd_cancel_entry = {
	.name = "cancel",
	.usage = "SWEEP | --trial ID",
	.help = "Cancels a whole sweep, or one trial with --trial. Pending trials are cancelled\n"
	    "at once; running ones are marked cancelled and their agents stop them at the next\n"
	    "heartbeat. Finished trials are left as they are.",
	.opts = {
		{ "trial", 0, true },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 1,
	.exec = cmd_cancel_exec,
};

const struct cmd_entry cmd_retry_entry = {
	.name = "retry",
	.usage = "--trial ID",
	.help = "Puts an abandoned trial back to pending with a fresh failure budget (its\n"
	    "preemption count stays). The scheduler leases it like any other pending trial.",
	.opts = {
		{ "trial", 0, true },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_retry_exec,
};
