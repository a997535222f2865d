/* `spotsweep trials SWEEP [--state STATE] [--json]`: one line per trial, in id order, streamed
 * so that a million-trial sweep lists in constant memory. --json prints one object a line:
 * {"trial_id","state","attempts","preemptions","params","value","step","reason"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

/* Output is written in chunks of about this size. */
#define TRIALS_CHUNK	(64 * 1024)

struct listing {
	bool		as_json;
	struct buf	out;
};

static int
list_row(const struct trial_row *r, void *arg)
{
	struct listing *l = arg;
	char value[32], step[24];

	if (l->as_json)
		trial_row_json(r, &l->out);
	else {
		if (r->has_value)
			format_double(value, r->value);
		else
			snprintf(value, sizeof value, "-");
		if (r->step >= 0)
			snprintf(step, sizeof step, "%lld", (long long)r->step);
		else
			snprintf(step, sizeof step, "-");
		buf_printf(&l->out, "%-8lld %-9s %8lld %11lld %8s %-22s ", (long long)r->id,
		    trial_state_name(r->state), (long long)r->attempts,
		    (long long)r->preemptions, step, value);
		buf_add_printable(&l->out, r->params);
		if (r->reason != NULL) {
			buf_adds(&l->out, "  ");
			buf_add_printable(&l->out, r->reason);
		}
	}
	buf_addc(&l->out, '\n');
	if (l->out.len >= TRIALS_CHUNK) {
		fwrite(l->out.data, 1, l->out.len, stdout);
		buf_reset(&l->out);
	}
	return 0;
}

static int
cmd_trials_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *state_name = cmd_opt(self, args, "state");
	enum trial_state only = TRIAL_STATE_MAX;
	struct listing l = { .as_json = cmd_flag(self, args, "json") };
	struct sweep_summary s;
	struct store *st;
	char *cause = NULL;
	long long id;
	int i, rc = EXIT_RUNTIME;

	if (!cmd_parse_id(args->argv[0], &id))
		return EXIT_USAGE;
	if (state_name != NULL && !trial_state_parse(state_name, &only)) {
		struct buf valid = { 0 };

		for (i = TRIAL_PENDING; i < TRIAL_STATE_MAX; i++)
			buf_printf(&valid, "%s%s", i > 0 ? ", " : "",
			    trial_state_name((enum trial_state)i));
		errorx("unknown state %s (expected one of: %s)", state_name, valid.data);
		buf_free(&valid);
		return EXIT_USAGE;
	}
	if ((st = cmd_open_existing_store(args)) == NULL)
		return EXIT_RUNTIME;
	/* An unknown sweep is an error, not an empty list. */
	if (store_sweep_summary(st, id, &s, &cause) != 0)
		goto fail;
	sweep_summary_clear(&s);
	if (!l.as_json)
		buf_printf(&l.out, "%-8s %-9s %8s %11s %8s %-22s %s\n", "ID", "STATE", "ATTEMPTS",
		    "PREEMPTIONS", "STEP", "VALUE", "PARAMS");
	if (trial_foreach(st, id, only, list_row, &l, &cause) != 0)
		goto fail;
	if (l.out.len > 0)
		fwrite(l.out.data, 1, l.out.len, stdout);
	rc = EXIT_OK;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	buf_free(&l.out);
	store_close(st);
	return rc;
}

const struct cmd_entry cmd_trials_entry = {
	.name = "trials",
	.usage = "SWEEP [--state STATE] [--json]",
	.help = "Lists a sweep's trials in id order: state, attempts, preemptions, the furthest\n"
	    "step reported, the last objective value, the parameters, and why a trial is where\n"
	    "it is (a pruned trial: the rule that stopped it). --state keeps\n"
	    "one of pending, running, succeeded, pruned, abandoned, cancelled. --json prints\n"
	    "one JSON object a line.",
	.opts = {
		{ "state", 0, true },
		{ "json", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 1,
	.max_args = 1,
	.exec = cmd_trials_exec,
};
