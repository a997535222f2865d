/* `spotsweep export SWEEP [-o FILE]`: the sweep's trials as CSV (RFC 4180) on stdout or in
 * FILE. A file is written beside its destination and renamed into place once complete, so
 * a reader never sees half a CSV and a failed export leaves an older FILE as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/cmd.h"
#include "spotsweep/csv.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"

/* stdio buffer for the output file; csv.c hands over ~1 MiB at a time. */
#define EXPORT_BUFSIZE	(256 * 1024)

/* Writes the CSV to path through path.tmp; -1 with cause. */
static int
export_to_file(struct store *st, int64_t id, const char *path, char **cause)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f;
	int rc = -1;

	if ((f = fopen(tmp, "w")) == NULL) {
		*cause = xasprintf("%s: cannot create: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	setvbuf(f, NULL, _IOFBF, EXPORT_BUFSIZE);
	if (csv_export_sweep(st, id, f, cause) != 0)
		goto out;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		*cause = xasprintf("%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fclose(f) != 0 && rc == 0) {
		*cause = xasprintf("%s: cannot write: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		*cause = xasprintf("%s: cannot rename into place: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int
cmd_export_exec(const struct cmd_entry *self, struct cmd_args *args)
{
	const char *path = cmd_opt(self, args, "output");
	struct sweep_summary s;
	struct store *st;
	char *cause = NULL;
	long long id;
	int rc;

	if (!cmd_parse_id(args->argv[0], &id))
		return EXIT_USAGE;
	if (path != NULL && *path == '\0') {
		errorx("export: option -o needs a file name");
		return EXIT_USAGE;
	}
	if ((st = cmd_open_existing_store(args)) == NULL)
		return EXIT_RUNTIME;
	/* Checked first so that an unknown sweep creates no file at all. */
	rc = store_sweep_summary(st, id, &s, &cause);
	sweep_summary_clear(&s);
	if (rc == 0) {
		if (path == NULL || strcmp(path, "-") == 0)
			rc = csv_export_sweep(st, id, stdout, &cause);
		else
			rc = export_to_file(st, id, path, &cause);
	}
	store_close(st);
	if (rc != 0) {
		errorx("%s", cause);
		free(cause);
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.usage = "SWEEP [-o FILE]",
	.help = "Writes the sweep's trials as CSV (RFC 4180): trial_id, state, attempts,\n"
	    "preemptions, one column per parameter in spec order, one per metric (the\n"
	    "objective first), runtime_s, gpu_hours, cost_usd, last_pool, started_at,\n"
	    "finished_at (ISO 8601 UTC). Numbers read back exactly. To stdout, or to FILE\n"
	    "with -o (written completely, then renamed into place).",
	.opts = {
		{ "output", 'o', true },
		{ NULL, 0, false }
	},
	.min_args = 1,
	.max_args = 1,
	.exec = cmd_export_exec,
};
