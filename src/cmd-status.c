/* `spotsweep status [SWEEP] [--json]`: counts by state, progress and the best trial so far,
 * for one sweep (a labelled block) or for every sweep (a table). --json prints the contract's
 * summary object, or an array of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

static int64_t
finished(const struct sweep_summary *s)
{
	return s->by_state[TRIAL_SUCCEEDED] + s->by_state[TRIAL_PRUNED] +
	    s->by_state[TRIAL_ABANDONED] + s->by_state[TRIAL_CANCELLED];
}

/* Where pruned trials stopped, and what stopping them saved. */
static void
print_early(struct buf *b, const struct sweep_summary *s)
{
	size_t i;

	buf_adds(b, "pruned at ");
	for (i = 0; i < s->early_nsteps; i++)
		buf_printf(b, "%s step %lld: %lld", i > 0 ? "," : "",
		    (long long)s->early_step[i], (long long)s->early_count[i]);
	if (s->early_nsteps == sizeof s->early_step / sizeof s->early_step[0])
		buf_adds(b, ", ...");
	buf_printf(b, "\nsaved      %.3f GPU-hours by early stopping (pruned trials run to "
	    "step %lld)\n", s->early_gpu_hours_saved, (long long)s->early_horizon);
}

static void
print_one(const struct sweep_summary *s)
{
	struct buf b = { 0 };
	char num[32];
	int i;

	buf_printf(&b, "sweep      %lld ", (long long)s->id);
	buf_add_printable(&b, s->name);
	buf_printf(&b, "\nmethod     %s\nstate      %s\n", s->method, s->state);
	buf_printf(&b, "trials     %lld", (long long)s->trials);
	if (s->trials > 0)
		buf_printf(&b, " (%lld finished, %.0f%%)", (long long)finished(s),
		    100.0 * (double)finished(s) / (double)s->trials);
	buf_addc(&b, '\n');
	for (i = TRIAL_PENDING; i < TRIAL_STATE_MAX; i++)
		buf_printf(&b, "%-10s %lld\n", trial_state_name((enum trial_state)i),
		    (long long)s->by_state[i]);
	if (s->by_state[TRIAL_PRUNED] > 0)
		print_early(&b, s);
	buf_adds(&b, "best       ");
	if (s->has_best) {
		format_double(num, s->best_value);
		buf_printf(&b, "trial %lld: ", (long long)s->best_trial);
		buf_add_printable(&b, s->objective != NULL ? s->objective : "value");
		buf_printf(&b, " = %s (%s) ", num, s->minimize ? "minimize" : "maximize");
		buf_add_printable(&b, s->best_params != NULL ? s->best_params : "{}");
	} else
		buf_adds(&b, "none yet");
	buf_addc(&b, '\n');
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

static void
print_table(const struct sweep_summary *sums, size_t n)
{
	struct buf b = { 0 }, name = { 0 };
	size_t i, width = 4;
	char best[64], num[32];
	int j;

	for (i = 0; i < n; i++) {
		buf_reset(&name);
		buf_add_printable(&name, sums[i].name);
		if (name.len > width)
			width = name.len;
	}
	buf_printf(&b, "%-5s %-*s %-7s %-9s %7s", "ID", (int)width, "NAME", "METHOD", "STATE",
	    "TRIALS");
	for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++) {
		char upper[16];
		size_t k;

		snprintf(upper, sizeof upper, "%s", trial_state_name((enum trial_state)j));
		for (k = 0; upper[k] != '\0'; k++)
			upper[k] = (char)(upper[k] - 'a' + 'A');
		buf_printf(&b, " %9s", upper);
	}
	buf_adds(&b, "  BEST\n");
	for (i = 0; i < n; i++) {
		const struct sweep_summary *s = &sums[i];

		buf_reset(&name);
		buf_add_printable(&name, s->name);
		buf_printf(&b, "%-5lld %-*s %-7s %-9s %7lld", (long long)s->id, (int)width,
		    name.data, s->method, s->state, (long long)s->trials);
		for (j = TRIAL_PENDING; j < TRIAL_STATE_MAX; j++)
			buf_printf(&b, " %9lld", (long long)s->by_state[j]);
		if (s->has_best) {
			format_double(num, s->best_value);
			snprintf(best, sizeof best, "%s (trial %lld)", num,
			    (long long)s->best_trial);
		} else
			snprintf(best, sizeof best, "-");
		buf_printf(&b, "  %s\n", best);
	}
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	buf_free(&name);
}

/* Every sweep, oldest first. */
static int
status_all(struct store *st, bool as_json)
{
	struct sweep_summary *sums = NULL;
	struct buf b = { 0 };
	int64_t *ids = NULL;
	size_t n = 0, i, done = 0;
	char *cause = NULL;
	int rc = EXIT_RUNTIME;

	if (store_sweep_ids(st, &ids, &n, &cause) != 0)
		goto fail;
	sums = xcalloc(n + 1, sizeof *sums);
	for (done = 0; done < n; done++) {
		if (store_sweep_summary(st, ids[done], &sums[done], &cause) != 0)
			goto fail;
	}
	if (as_json) {
		buf_addc(&b, '[');
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_addc(&b, ',');
			sweep_summary_json(&sums[i], &b);
		}
		buf_adds(&b, "]\n");
		fwrite(b.data, 1, b.len, stdout);
	} else if (n == 0)
		printf("no sweeps yet (submit one with: spotsweep submit SPEC.json)\n");
	else
		print_table(sums, n);
	rc = EXIT_OK;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	for (i = 0; i < done; i++)
		sweep_summary_clear(&sums[i]);
	free(sums);
	free(ids);
	buf_free(&b);
	return rc;
}

static int
cmd_status_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	bool as_json = cmd_flag(self, args, "json");
	struct sweep_summary s;
	struct buf b = { 0 };
	struct store *st;
	char *cause = NULL;
	long long id;
	int rc;

	if (args->argc == 1 && !cmd_parse_id(args->argv[0], &id))
		return EXIT_USAGE;
	if ((st = cmd_open_store(args)) == NULL)
		return EXIT_RUNTIME;
	if (args->argc == 0) {
		rc = status_all(st, as_json);
		store_close(st);
		return rc;
	}
	if (store_sweep_summary(st, id, &s, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		store_close(st);
		return EXIT_RUNTIME;
	}
	if (as_json) {
		sweep_summary_json(&s, &b);
		buf_addc(&b, '\n');
		fwrite(b.data, 1, b.len, stdout);
		buf_free(&b);
	} else
		print_one(&s);
	sweep_summary_clear(&s);
	store_close(st);
	return EXIT_OK;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "[SWEEP] [--json]",
	.help = "Shows a sweep's trials by state, its progress and the best trial so far; without\n"
	    "SWEEP, one line per sweep. The best trial is the succeeded trial with the best last\n"
	    "value of the objective, by the spec's goal. Once early stopping pruned trials: the\n"
	    "steps where they stopped and the GPU-hours saved against running them to the end.\n"
	    "--json prints {\"sweep_id\", \"name\", \"trials\", \"pending\", \"running\",\n"
	    "\"succeeded\", \"pruned\", \"abandoned\", \"cancelled\", \"best\": {\"trial_id\",\n"
	    "\"value\"} or null} (an array without SWEEP), with \"early_stopping\": {\"horizon\",\n"
	    "\"gpu_hours_saved\", \"pruned_at\": [{\"step\", \"trials\"}]} once trials were pruned.",
	.opts = {
		{ "json", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 1,
	.exec = cmd_status_exec,
};
