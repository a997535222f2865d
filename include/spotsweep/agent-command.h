/* The agent's pure helpers for turning a lease into a command line and an environment:
 * placeholder substitution with shell quoting, parameter text forms, and the mapping of
 * parameter names to environment variable names. No I/O, so the tests can pin every case. */
#ifndef SPOTSWEEP_AGENT_COMMAND_H
#define SPOTSWEEP_AGENT_COMMAND_H

#include <stdint.h>

#include <jansson.h>

#include "spotsweep/util.h"

/* The values the built-in placeholders and W&B's macros stand for. */
struct agent_placeholders {
	int64_t		 trial_id;
	int64_t		 attempt;
	const char	*checkpoint_dir;
	const char	*resume_from;	/* "" when none */
	const char	*program;	/* W&B's "program" for ${program}, or NULL */
	const char	*args_json_file; /* the file ${args_json_file} names, or NULL */
};

/* W&B's ${env} and ${interpreter}: /usr/bin/env as on W&B's POSIX agent, and python3 where
 * W&B says python (Debian and most images have no "python"). */
#define AGENT_MACRO_ENV		"/usr/bin/env"
#define AGENT_MACRO_INTERPRETER	"python3"

/* Expands {PARAM}, {trial_id}, {attempt}, {checkpoint_dir} and {resume_from} in tmpl with
 * spec_command_render(), each value shell-quoted, "{{" and "}}" as literal braces; the
 * built-in names win over a parameter of the same name; {outer.inner} names a nested
 * parameter. W&B's macros expand as W&B's agent does, every word quoted: ${args} is
 * --name=value per top-level parameter (values as Python's str() prints them: True, None,
 * {'lr': 0.1}), ${args_no_hyphens} name=value, ${args_no_boolean_flags} --name for true and
 * nothing for false, ${args_json} the parameters as json.dumps() writes them, and
 * ${args_json_file} the file they were written to. params is a JSON object (may be NULL).
 * NULL with *cause for an unknown placeholder, a stray brace, or ${program} or
 * ${args_json_file} with nothing to stand for. Caller frees. */
char *agent_command_expand(const char *tmpl, const json_t *params,
    const struct agent_placeholders *ph, char **cause);

/* The text of a parameter value: a string raw, a number in its shortest exact form, anything
 * else as compact JSON. Caller frees. */
char *agent_param_text(const json_t *v);

/* Appends compact JSON of v with reals in their shortest exact form (0.1, not
 * 0.10000000000000001), keys in their stored order. */
void agent_json_compact(struct buf *b, const json_t *v);

/* "SPOTSWEEP_PARAM_" + name upper-cased, every byte that is not an ASCII letter or digit
 * as '_'. Caller frees. */
char *agent_param_env_name(const char *name);

/* The trial's parameter variables, "SPOTSWEEP_PARAM_NAME=text", one per parameter, and for
 * an object value (a nested block) one more per member, named by its dotted path:
 * {"optimizer": {"lr": 0.1}} gives SPOTSWEEP_PARAM_OPTIMIZER={"lr":0.1} and
 * SPOTSWEEP_PARAM_OPTIMIZER_LR=0.1. *n entries; caller frees each and the array. */
char **agent_param_env(const json_t *params, size_t *n);

/* The value of parameter name in params: the key itself, else the member of nested objects
 * its dots lead to. NULL when there is none. */
const json_t *agent_param_get(const json_t *params, const char *name);

/* Appends v as Python's str() prints it (True, None, 0.001, [1, 'a'], {'lr': 0.1}). */
void agent_py_str(struct buf *b, const json_t *v);
/* Appends v as Python's json.dumps() writes it (", " and ": " separators). */
void agent_py_json(struct buf *b, const json_t *v);

#endif
