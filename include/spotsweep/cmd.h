/* The CLI's command table. Each cmd-*.c file exports one struct cmd_entry; cmd.c finds a
 * command by exact name or unique prefix and parses its options from the entry's template. */
#ifndef SPOTSWEEP_CMD_H
#define SPOTSWEEP_CMD_H

#include <stdbool.h>

/* Exit codes of the contract. */
#define EXIT_OK		0
#define EXIT_RUNTIME	1	/* ran but did not fully succeed, or I/O / database / network */
#define EXIT_USAGE	2	/* bad usage or bad input */

#define CMD_MAX_OPTS 16

/* One option of a command: "--name" with or without a value; short is 0 or a letter. */
struct cmd_opt_def {
	const char	*name;		/* long name without "--" */
	char		 short_name;
	bool		 has_value;
};

/* Parsed options and positional arguments of one invocation. */
struct cmd_args {
	const char	*db_path;		/* global --db, may be NULL */
	const char	*values[CMD_MAX_OPTS];	/* value of option i (flags: "1"), NULL if absent */
	int		 argc;			/* positional arguments */
	char		**argv;
};

struct cmd_entry {
	const char		*name;
	const char		*usage;		/* "SPEC.json [--dry-run] [--json]" */
	const char		*help;		/* a paragraph for --help */
	struct cmd_opt_def	 opts[CMD_MAX_OPTS];	/* terminated by a NULL name */
	int			 min_args, max_args;	/* positional; max -1 = unbounded */
	int			(*exec)(const struct cmd_entry *self, struct cmd_args *args);
};

/* The value of the option named name, or NULL. */
const char *cmd_opt(const struct cmd_entry *e, const struct cmd_args *a, const char *name);
bool cmd_flag(const struct cmd_entry *e, const struct cmd_args *a, const char *name);

/* Runs the CLI: global options, command lookup, option parsing. Returns the exit code. */
int cmd_main(int argc, char **argv);

/* Opens the store for a command, printing the error; NULL on failure (exit EXIT_RUNTIME). */
struct store;
struct store *cmd_open_store(const struct cmd_args *a);
/* The same for commands that only look at or change what is there: an error, not a new
 * empty store, when the file does not exist. */
struct store *cmd_open_existing_store(const struct cmd_args *a);
/* Parses a sweep id argument, printing the error; false on a bad id. */
bool cmd_parse_id(const char *s, long long *id);

extern const struct cmd_entry cmd_submit_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_trials_entry;
extern const struct cmd_entry cmd_export_entry;
extern const struct cmd_entry cmd_cancel_entry;
extern const struct cmd_entry cmd_retry_entry;
extern const struct cmd_entry cmd_serve_entry;
extern const struct cmd_entry cmd_run_entry;
extern const struct cmd_entry cmd_workers_entry;
extern const struct cmd_entry cmd_cost_entry;
extern const struct cmd_entry cmd_estimate_entry;
extern const struct cmd_entry cmd_rules_entry;

/* Commands added by later modules are listed here so cmd.c needs no other edit. */
#define CMD_TABLE_EXTRA &cmd_serve_entry, &cmd_run_entry, &cmd_cost_entry, &cmd_estimate_entry, \
    &cmd_rules_entry, &cmd_workers_entry,

#endif
