/* `spotsweep workers [--all] [--json]`: the registered workers from the store: HTTP agents,
 * the SSH hosts of ssh pools and the jobs of slurm pools, with pool, class, slots, the
 * attempts they run now, their state (an ssh host is up or down; a Slurm job's state is
 * Slurm's, as squeue last showed it, with its reason), when they were last heard from, and
 * for an ssh host its last connection error and when a down host is tried again. Slurm jobs
 * that ended are listed only with --all. --json prints one array of
 * {"worker_id","name","pool","class","slots","running","state","last_seen","last_error",
 * "retry_at","slurm_job_id","slurm_state","slurm_reason","node"}, the last four null for a
 * worker that is not a Slurm job. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

struct worker_row {
	int64_t		 id;
	const char	*name;
	const char	*pool;		/* may be NULL */
	const char	*cls;		/* may be NULL */
	int64_t		 slots;
	int64_t		 running;
	const char	*state;
	double		 last_seen;
	const char	*last_error;	/* may be NULL */
	double		 retry_at;	/* 0 = none */
	int64_t		 job_id;	/* a Slurm job's id, 0 = not one */
	const char	*slurm_state;	/* PENDING, RUNNING, ... */
	const char	*slurm_reason;	/* may be NULL */
	const char	*node;		/* may be NULL */
};

static json_t *
row_json(const struct worker_row *w)
{
	char	seen[32], retry[32], *state;
	json_t	*o;
	size_t	 i;

	format_iso8601(seen, w->last_seen, false);
	format_iso8601(retry, w->retry_at, false);
	/* A Slurm job's state is Slurm's ("pending (Resources)"), not the agent's. */
	if (w->job_id > 0) {
		state = w->slurm_reason != NULL ? xasprintf("%s (%s)", w->slurm_state,
		    w->slurm_reason) : xstrdup(w->slurm_state);
		for (i = 0; state[i] != '\0' && state[i] != ' '; i++)
			state[i] = (char)tolower((unsigned char)state[i]);
	} else
		state = xstrdup(w->state);
	o = json_pack("{s:I, s:s, s:s?, s:s?, s:I, s:I, s:s, s:s?, s:s?, s:s?}",
	    "worker_id", (json_int_t)w->id, "name", w->name, "pool", w->pool, "class", w->cls,
	    "slots", (json_int_t)w->slots, "running", (json_int_t)w->running,
	    "state", state, "last_seen", seen[0] != '\0' ? seen : NULL,
	    "last_error", w->last_error, "retry_at", retry[0] != '\0' ? retry : NULL);
	free(state);
	json_object_set_new(o, "slurm_job_id", w->job_id > 0 ? json_integer(w->job_id) :
	    json_null());
	json_object_set_new(o, "slurm_state", w->job_id > 0 ? json_string(w->slurm_state) :
	    json_null());
	json_object_set_new(o, "slurm_reason", w->job_id > 0 && w->slurm_reason != NULL ?
	    json_string(w->slurm_reason) : json_null());
	json_object_set_new(o, "node", w->job_id > 0 && w->node != NULL ?
	    json_string(w->node) : json_null());
	return o;
}

/* The table: one line per worker, columns as wide as their widest cell. */
static void
print_table(const json_t *arr, struct buf *out)
{
	static const char *const heads[] = { "ID", "NAME", "POOL", "CLASS", "SLOTS", "RUNNING",
	    "STATE", "LAST-SEEN", "LAST-ERROR" };
	enum { NCOLS = sizeof heads / sizeof heads[0] };
	struct buf	 cell = { 0 };
	size_t		 nrows = json_array_size(arr), i, c, width[NCOLS];
	char		**cells, *retry;
	const json_t	*o;

	cells = xcalloc((nrows + 1) * NCOLS, sizeof *cells);
	for (c = 0; c < NCOLS; c++) {
		cells[c] = xstrdup(heads[c]);
		width[c] = strlen(heads[c]);
	}
	for (i = 0; i < nrows; i++) {
		o = json_array_get(arr, i);
		for (c = 0; c < NCOLS; c++) {
			static const char *const keys[] = { "worker_id", "name", "pool", "class",
			    "slots", "running", "state", "last_seen", "last_error" };
			const json_t *v = json_object_get(o, keys[c]);

			buf_reset(&cell);
			if (json_is_integer(v))
				buf_printf(&cell, "%lld", (long long)json_integer_value(v));
			else if (json_is_string(v))
				buf_add_printable(&cell, json_string_value(v));
			else
				buf_adds(&cell, "-");
			retry = (char *)json_string_value(json_object_get(o, "retry_at"));
			if (c == 6 && retry != NULL)
				buf_printf(&cell, " (retry at %s)", retry);
			cells[(i + 1) * NCOLS + c] = buf_steal(&cell);
			if (strlen(cells[(i + 1) * NCOLS + c]) > width[c])
				width[c] = strlen(cells[(i + 1) * NCOLS + c]);
		}
	}
	for (i = 0; i <= nrows; i++) {
		for (c = 0; c < NCOLS; c++) {
			if (c + 1 == NCOLS)
				buf_adds(out, cells[i * NCOLS + c]);
			else
				buf_printf(out, "%-*s  ", (int)width[c], cells[i * NCOLS + c]);
			free(cells[i * NCOLS + c]);
		}
		while (out->len > 0 && out->data[out->len - 1] == ' ')
			out->data[--out->len] = '\0';
		buf_addc(out, '\n');
	}
	free(cells);
	buf_free(&cell);
}

static int
cmd_workers_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	bool		 as_json = cmd_flag(self, args, "json");
	bool		 all = cmd_flag(self, args, "all");
	struct worker_row w;
	struct store	*st;
	sqlite3_stmt	*stmt;
	struct buf	 out = { 0 };
	json_t		*arr = json_array();
	char		*cause = NULL, *text;
	int		 rc = EXIT_RUNTIME, step;

	if ((st = cmd_open_existing_store(args)) == NULL) {
		json_decref(arr);
		return EXIT_RUNTIME;
	}
	/* The running attempts are counted in one pass over the open ones (attempts_open). */
	stmt = store_stmt(st, "SELECT w.id, w.name, w.pool, w.pool_class, w.slots,"
	    " coalesce(r.n, 0),"
	    " w.state, coalesce(w.last_seen, 0), w.last_error,"
	    " CASE WHEN w.state = 'down' THEN w.down_until ELSE 0 END,"
	    " j.job_id, j.state, j.reason, j.node"
	    " FROM workers w LEFT JOIN (SELECT worker_id, count(*) AS n FROM attempts"
	    "   WHERE outcome IS NULL GROUP BY worker_id) r ON r.worker_id = w.id"
	    " LEFT JOIN slurm_jobs j ON j.id ="
	    "   (SELECT max(k.id) FROM slurm_jobs k WHERE k.worker_id = w.id)"
	    " WHERE ?1 OR j.id IS NULL OR j.ended_at IS NULL ORDER BY w.id", &cause);
	if (stmt == NULL)
		goto fail;
	sqlite3_bind_int(stmt, 1, all);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&w, 0, sizeof w);
		w.id = sqlite3_column_int64(stmt, 0);
		w.name = (const char *)sqlite3_column_text(stmt, 1);
		w.pool = (const char *)sqlite3_column_text(stmt, 2);
		w.cls = (const char *)sqlite3_column_text(stmt, 3);
		w.slots = sqlite3_column_int64(stmt, 4);
		w.running = sqlite3_column_int64(stmt, 5);
		w.state = (const char *)sqlite3_column_text(stmt, 6);
		w.last_seen = sqlite3_column_double(stmt, 7);
		w.last_error = (const char *)sqlite3_column_text(stmt, 8);
		w.retry_at = sqlite3_column_double(stmt, 9);
		w.job_id = sqlite3_column_int64(stmt, 10);
		w.slurm_state = (const char *)sqlite3_column_text(stmt, 11);
		w.slurm_reason = (const char *)sqlite3_column_text(stmt, 12);
		w.node = (const char *)sqlite3_column_text(stmt, 13);
		if (w.name == NULL || w.state == NULL || (w.job_id > 0 && w.slurm_state == NULL))
			continue;
		json_array_append_new(arr, row_json(&w));
	}
	sqlite3_reset(stmt);
	if (step != SQLITE_DONE) {
		store_error(st, "reading workers", &cause);
		goto fail;
	}
	if (as_json) {
		text = json_dumps(arr, JSON_COMPACT);
		buf_adds(&out, text != NULL ? text : "[]");
		buf_addc(&out, '\n');
		free(text);
	} else
		print_table(arr, &out);
	fwrite(out.data, 1, out.len, stdout);
	rc = EXIT_OK;
	goto out;
fail:
	errorx("%s", cause);
	free(cause);
out:
	json_decref(arr);
	buf_free(&out);
	store_close(st);
	return rc;
}

const struct cmd_entry cmd_workers_entry = {
	.name = "workers",
	.usage = "[--all] [--json]",
	.help = "Lists the registered workers: HTTP agents, the hosts of ssh pools and the jobs\n"
	    "of slurm pools (named slurm-JOBID), with their pool, class, slots, the trials they\n"
	    "run now, their state (an ssh host is up or down, with when it is tried again; a\n"
	    "Slurm job's state as squeue last showed it, with its reason), when they were last\n"
	    "heard from, and an ssh host's last connection error. Slurm jobs that ended are\n"
	    "shown with --all. --json prints one JSON array.",
	.opts = {
		{ "json", 0, false },
		{ "all", 0, false },
		{ NULL, 0, false }
	},
	.min_args = 0,
	.max_args = 0,
	.exec = cmd_workers_exec,
};
