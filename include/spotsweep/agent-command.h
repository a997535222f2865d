/* The agent's pure helpers for turning a lease into a command line and an environment:
 * placeholder substitution with shell quoting, parameter text forms, and the mapping of
 * parameter names to environment variable names. No I/O, so the tests can pin every case. */
#ifndef SPOTSWEEP_AGENT_COMMAND_H
#define SPOTSWEEP_AGENT_COMMAND_H

#include <stdint.h>

#include <jansson.h>

#include "spotsweep/util.h"

/* The values the built-in placeholders stand for. */
struct agent_placeholders {
	int64_t		 trial_id;
	int64_t		 attempt;
	const char	*checkpoint_dir;
	const char	*resume_from;	/* "" when none */
};

/* Expands {PARAM}, {trial_id}, {attempt}, {checkpoint_dir} and {resume_from} in tmpl with
 * spec_command_render(), each value shell-quoted, "{{" and "}}" as literal braces; the
 * built-in names win over a parameter of the same name. params is a JSON object (may be
 * NULL). NULL with *cause for an unknown placeholder or a stray brace. Caller frees. */
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

#endif
