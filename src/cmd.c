/* The CLI front: global options, the command table, lookup by exact name or unique prefix,
 * and option parsing from each command's template. Commands live in cmd-*.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spotsweep/cmd.h"
#include "spotsweep/log.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/version.h"
#include "spotsweep/xmalloc.h"

static const struct cmd_entry *const cmd_table[] = {
	&cmd_submit_entry,
	&cmd_status_entry,
	&cmd_trials_entry,
	&cmd_export_entry,
	&cmd_cancel_entry,
	&cmd_retry_entry,
	CMD_TABLE_EXTRA
	NULL
};

static void
usage(FILE *f)
{
	const struct cmd_entry *const *e;

	fprintf(f, "usage: spotsweep [--db PATH] COMMAND [ARGS...]\n\n"
	    "A hyperparameter sweep scheduler for spot (preemptible) GPU machines.\n\n"
	    "commands:\n");
	for (e = cmd_table; *e != NULL; e++)
		fprintf(f, "  %-8s %s\n", (*e)->name, (*e)->usage);
	fprintf(f, "\nglobal options:\n"
	    "  --db PATH   the SQLite store (default $SPOTSWEEP_DB, else ./spotsweep.db)\n"
	    "  --help      this text; `spotsweep COMMAND --help` for one command\n"
	    "  --version   print the version\n");
}

static void
cmd_usage(const struct cmd_entry *e, FILE *f)
{
	fprintf(f, "usage: spotsweep [--db PATH] %s %s\n", e->name, e->usage);
	if (e->help != NULL)
		fprintf(f, "\n%s\n", e->help);
}

/* Finds a command by exact name, else by unique prefix. */
static const struct cmd_entry *
cmd_find(const char *name, char **cause)
{
	const struct cmd_entry *const *e, *found = NULL;
	size_t len = strlen(name);
	struct buf candidates = { 0 };
	int matches = 0;

	for (e = cmd_table; *e != NULL; e++) {
		if (strcmp((*e)->name, name) == 0)
			return *e;
	}
	for (e = cmd_table; *e != NULL; e++) {
		if (len > 0 && strncmp((*e)->name, name, len) == 0) {
			found = *e;
			buf_printf(&candidates, "%s%s", matches ? ", " : "", (*e)->name);
			matches++;
		}
	}
	if (matches == 1) {
		buf_free(&candidates);
		return found;
	}
	if (matches > 1)
		*cause = xasprintf("ambiguous command: %s (could be: %s)", name, candidates.data);
	else
		*cause = xasprintf("unknown command: %s (see spotsweep --help)", name);
	buf_free(&candidates);
	return NULL;
}

const char *
cmd_opt(const struct cmd_entry *e, const struct cmd_args *a, const char *name)
{
	int i;

	for (i = 0; i < CMD_MAX_OPTS && e->opts[i].name != NULL; i++) {
		if (strcmp(e->opts[i].name, name) == 0)
			return a->values[i];
	}
	return NULL;
}

bool
cmd_flag(const struct cmd_entry *e, const struct cmd_args *a, const char *name)
{
	return cmd_opt(e, a, name) != NULL;
}

/* Index of the option matching a long name (len bytes) or a short letter; -1 if none. */
static int
opt_index(const struct cmd_entry *e, const char *name, size_t len, char short_name)
{
	int i;

	for (i = 0; i < CMD_MAX_OPTS && e->opts[i].name != NULL; i++) {
		if (short_name != 0) {
			if (e->opts[i].short_name == short_name)
				return i;
		} else if (strlen(e->opts[i].name) == len &&
		    strncmp(e->opts[i].name, name, len) == 0)
			return i;
	}
	return -1;
}

/* Parses argv (after the command name) into a; -1 with cause on a usage error. */
static int
parse_args(const struct cmd_entry *e, int argc, char **argv, struct cmd_args *a,
    bool *want_help, char **cause)
{
	int i, idx;
	bool only_args = false;

	a->argv = xcalloc((size_t)argc + 1, sizeof *a->argv);
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *value = NULL;

		if (only_args || arg[0] != '-' || arg[1] == '\0') {
			a->argv[a->argc++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_args = true;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*want_help = true;
			return 0;
		}
		if (arg[1] == '-') {
			eq = strchr(arg + 2, '=');
			idx = opt_index(e, arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2), 0);
			if (eq != NULL)
				value = eq + 1;
		} else {
			if (arg[2] != '\0') {
				*cause = xasprintf("%s: unknown option %s", e->name, arg);
				return -1;
			}
			idx = opt_index(e, NULL, 0, arg[1]);
		}
		if (idx < 0) {
			*cause = xasprintf("%s: unknown option %.*s", e->name,
			    (int)(strchr(arg, '=') ? (size_t)(strchr(arg, '=') - arg) : strlen(arg)),
			    arg);
			return -1;
		}
		if (e->opts[idx].has_value) {
			if (value == NULL) {
				if (i + 1 >= argc) {
					*cause = xasprintf("%s: option --%s needs a value", e->name,
					    e->opts[idx].name);
					return -1;
				}
				value = argv[++i];
			}
			a->values[idx] = value;
		} else {
			if (value != NULL) {
				*cause = xasprintf("%s: option --%s takes no value", e->name,
				    e->opts[idx].name);
				return -1;
			}
			a->values[idx] = "1";
		}
	}
	if (a->argc < e->min_args) {
		*cause = xasprintf("%s: missing argument (usage: spotsweep %s %s)", e->name,
		    e->name, e->usage);
		return -1;
	}
	if (e->max_args >= 0 && a->argc > e->max_args) {
		*cause = xasprintf("%s: unexpected argument %s (usage: spotsweep %s %s)", e->name,
		    a->argv[e->max_args], e->name, e->usage);
		return -1;
	}
	return 0;
}

struct store *
cmd_open_store(const struct cmd_args *a)
{
	struct store *st;
	char *cause = NULL;

	if (store_open(store_default_path(a->db_path), &st, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		return NULL;
	}
	return st;
}

struct store *
cmd_open_existing_store(const struct cmd_args *a)
{
	const char *path = store_default_path(a->db_path);
	struct stat sb;

	/* A mistyped --db must not answer "no sweeps" from a store made on the spot. */
	if (strcmp(path, ":memory:") != 0 && stat(path, &sb) != 0 && errno == ENOENT) {
		errorx("%s: no such store (nothing was submitted there; give --db PATH or set "
		    "SPOTSWEEP_DB)", path);
		return NULL;
	}
	return cmd_open_store(a);
}

bool
cmd_parse_id(const char *s, long long *id)
{
	if (!safe_strtoll(s, id) || *id <= 0) {
		errorx("not an id: %s (expected a positive integer)", s);
		return false;
	}
	return true;
}

int
cmd_main(int argc, char **argv)
{
	const struct cmd_entry *e;
	struct cmd_args a;
	const char *db_path = NULL;
	char *cause = NULL;
	bool want_help = false;
	int i = 1, rc;

	log_set_program("spotsweep");
	log_init_from_env();
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("spotsweep %s\n", SPOTSWEEP_VERSION);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--db") == 0) {
			if (i + 1 >= argc) {
				errorx("option --db needs a value");
				return EXIT_USAGE;
			}
			db_path = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			db_path = argv[i] + 5;
			i++;
		} else {
			errorx("unknown option %s (see spotsweep --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((e = cmd_find(argv[i], &cause)) == NULL) {
		errorx("%s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	memset(&a, 0, sizeof a);
	a.db_path = db_path;
	if (parse_args(e, argc - i - 1, argv + i + 1, &a, &want_help, &cause) != 0) {
		errorx("%s", cause);
		free(cause);
		free(a.argv);
		return EXIT_USAGE;
	}
	if (want_help) {
		cmd_usage(e, stdout);
		free(a.argv);
		return EXIT_OK;
	}
	rc = e->exec(e, &a);
	free(a.argv);
	return rc;
}
