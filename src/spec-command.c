/* The trial's command: spotsweep's placeholder syntax, W&B's macros, and the forms a spec
 * gives it in. This module owns the syntax, so that validation at submit and substitution
 * on the agent (agent-command.c) cannot disagree.
 *
 * A command is a template run under /bin/sh -c. "{NAME}" stands for a parameter or a
 * built-in (trial_id, attempt, checkpoint_dir, resume_from), shell-quoted; "{{" and "}}" are
 * literal braces. W&B's macros "${args}" and friends are expanded by the agent into shell
 * words it quotes itself. W&B's list form ["${env}", "${interpreter}", "${program}",
 * "${args}"] becomes such a template: a whole item that is a macro stays a macro, any other
 * item is one literal word (quoted, braces doubled), as W&B's agent passes it to exec. With
 * only "program", the command is W&B's default, "${env} ${interpreter} ${program} ${args}". */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/spec-impl.h"
#include "spotsweep/xmalloc.h"

static const char *const macro_names[] = {
	"env", "interpreter", "program", "args", "args_no_hyphens", "args_no_boolean_flags",
	"args_json", "args_json_file", NULL
};
static const char *const builtin_placeholders[] = {
	"trial_id", "attempt", "checkpoint_dir", "resume_from", NULL
};

#define DEFAULT_COMMAND	"${env} ${interpreter} ${program} ${args}"

bool
spec_is_macro(const char *name, size_t len)
{
	size_t i;

	for (i = 0; macro_names[i] != NULL; i++)
		if (strlen(macro_names[i]) == len && memcmp(macro_names[i], name, len) == 0)
			return true;
	return false;
}

/* "${NAME}" at p with NAME a macro: the length of NAME, else 0. */
static size_t
macro_at(const char *p)
{
	const char *end;

	if (p[0] != '$' || p[1] != '{' || p[2] == '{')
		return 0;
	if ((end = strchr(p + 2, '}')) == NULL)
		return 0;
	return spec_is_macro(p + 2, (size_t)(end - p - 2)) ? (size_t)(end - p - 2) : 0;
}

int
spec_command_render(const char *command, spec_lookup_fn lookup, void *arg, struct buf *out,
    char **cause)
{
	const char *p = command, *end, *value;
	char *name;
	size_t n;

	while (*p != '\0') {
		if ((n = macro_at(p)) > 0) {
			name = xasprintf("$%.*s", (int)n, p + 2);
			value = lookup(name, arg);
			if (value == NULL) {
				*cause = xasprintf("macro ${%s} cannot be expanded here", name + 1);
				free(name);
				return -1;
			}
			free(name);
			buf_adds(out, value);
			p += n + 3;
			continue;
		}
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			buf_addc(out, *p);
			p += 2;
			continue;
		}
		if (*p == '}') {
			*cause = xasprintf("a single '}' at offset %zu; write '}}' for a "
			    "literal brace", (size_t)(p - command));
			return -1;
		}
		if (*p != '{') {
			buf_addc(out, *p++);
			continue;
		}
		end = p + 1 + strcspn(p + 1, "{}");
		if (*end != '}') {
			*cause = xasprintf("an unclosed '{' at offset %zu; write '{{' for a "
			    "literal brace", (size_t)(p - command));
			return -1;
		}
		if (end == p + 1) {
			*cause = xasprintf("an empty placeholder {} at offset %zu",
			    (size_t)(p - command));
			return -1;
		}
		name = xstrndup(p + 1, (size_t)(end - p - 1));
		value = lookup(name, arg);
		if (value == NULL) {
			*cause = xasprintf("unknown placeholder {%.*s}", SPEC_QUOTE_MAX, name);
			free(name);
			return -1;
		}
		free(name);
		buf_add_shell_quoted(out, value);
		p = end + 1;
	}
	return 0;
}

/* Whether name is a parameter, or a group of nested ones ({optimizer} is its JSON). */
static bool
is_param_name(const struct spec *s, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < s->nparams; i++) {
		if (strcmp(s->params[i].name, name) == 0)
			return true;
		if (s->params[i].nkeys > 1 && strncmp(s->params[i].name, name, n) == 0 &&
		    s->params[i].name[n] == '.')
			return true;
	}
	return false;
}

/* Validation's lookup: every known name stands for "", others are unknown. */
static const char *
validate_lookup(const char *name, void *arg)
{
	struct pctx *c = arg;

	if (name[0] == '$') {
		/* ${program} needs a program to stand for */
		if (strcmp(name, "$program") != 0 || c->s->program != NULL)
			return "";
	} else if (spec_is_known(name, builtin_placeholders) || is_param_name(c->s, name))
		return "";
	free(c->bad_placeholder);
	c->bad_placeholder = xstrdup(name);
	return NULL;
}

static int
check_command(struct pctx *c)
{
	struct spec *s = c->s;
	struct buf scratch = { 0 };
	const char **names, *near;
	char *why = NULL;
	size_t i, n = 0;
	int rc = 0;

	if (spec_command_render(s->command, validate_lookup, c, &scratch, &why) == 0)
		goto out;
	if (c->bad_placeholder == NULL) {
		rc = spec_fail(c, "command", AT_VALUE, "%s", why);
		goto out;
	}
	if (strcmp(c->bad_placeholder, "$program") == 0) {
		rc = spec_fail(c, "program", AT_PARENT, "missing required key (the command "
		    "uses ${program})");
		goto out;
	}
	names = xcalloc(s->nparams + 5, sizeof *names);
	for (i = 0; i < s->nparams; i++)
		names[n++] = s->params[i].name;
	for (i = 0; builtin_placeholders[i] != NULL; i++)
		names[n++] = builtin_placeholders[i];
	near = spec_nearest(c->bad_placeholder, names);
	if (near != NULL)
		rc = spec_fail(c, "command", AT_VALUE, "unknown placeholder {%.*s} "
		    "(did you mean {%.*s}?)", SPEC_QUOTE_MAX, c->bad_placeholder, SPEC_QUOTE_MAX,
		    near);
	else
		rc = spec_fail(c, "command", AT_VALUE, "unknown placeholder {%.*s} (a "
		    "placeholder names a parameter or one of trial_id, attempt, checkpoint_dir, "
		    "resume_from; write {{ and }} for literal braces)", SPEC_QUOTE_MAX,
		    c->bad_placeholder);
	free(names);
out:
	free(why);
	buf_free(&scratch);
	return rc;
}

/* Appends one literal word of a list command: quoted for the shell, braces doubled so the
 * template keeps them literal. */
static void
add_literal(struct buf *b, const char *word)
{
	struct buf q = { 0 };
	size_t i;

	buf_add_shell_quoted(&q, word);
	for (i = 0; i < q.len; i++) {
		if (q.data[i] == '{' || q.data[i] == '}')
			buf_addc(b, q.data[i]);
		buf_addc(b, q.data[i]);
	}
	buf_free(&q);
}

/* W&B's list form: each item is one argument, or one macro when the whole item is one. */
static int
command_from_list(struct pctx *c, json_t *list)
{
	struct buf b = { 0 };
	char idx[32], num[32], *name, *h;
	const char *text;
	json_t *item;
	size_t i, mark, len;
	int rc = 0;

	if (json_array_size(list) == 0)
		return spec_fail(c, "command", AT_VALUE, "must not be empty");
	mark = spec_path_push(c, "command");
	json_array_foreach(list, i, item) {
		snprintf(idx, sizeof idx, "%zu", i);
		if (json_is_integer(item) || json_is_real(item)) {
			/* W&B's agent runs str() on each item */
			format_double(num, json_number_value(item));
			text = num;
		} else if (json_is_string(item))
			text = json_string_value(item);
		else {
			rc = spec_fail(c, idx, AT_VALUE, "expected a string (one argument)");
			break;
		}
		if (b.len > 0)
			buf_addc(&b, ' ');
		len = strlen(text);
		if (len > 3 && text[0] == '$' && text[1] == '{' && text[len - 1] == '}') {
			if (!spec_is_macro(text + 2, len - 3)) {
				name = xstrndup(text + 2, len - 3);
				h = spec_hint(name, macro_names);
				rc = spec_fail(c, idx, AT_VALUE, "unknown macro ${%.*s}%s",
				    SPEC_QUOTE_MAX, name, h);
				free(h);
				free(name);
				break;
			}
			buf_adds(&b, text);
		} else
			add_literal(&b, text);
	}
	spec_path_pop(c, mark);
	if (rc != 0) {
		buf_free(&b);
		return rc;
	}
	c->s->command = buf_steal(&b);
	return 0;
}

int
spec_parse_command(struct pctx *c, json_t *root)
{
	struct spec *s = c->s;
	json_t *cmd = json_object_get(root, "command");
	const char *str;
	int rc;

	if ((rc = spec_get_string(c, root, "program", true, &str)) < 0)
		return -1;
	if (rc > 0) {
		if (spec_has_control(str))
			return spec_fail(c, "program", AT_VALUE,
			    "must not contain control characters");
		s->program = xstrdup(str);
	}
	if (cmd == NULL) {
		if (s->program == NULL)
			return spec_fail(c, "command", AT_PARENT, "missing required key (or "
			    "W&B's \"program\", which runs " DEFAULT_COMMAND ")");
		s->command = xstrdup(DEFAULT_COMMAND);
	} else if (json_is_array(cmd)) {
		if (command_from_list(c, cmd) != 0)
			return -1;
	} else if (json_is_string(cmd)) {
		if (json_string_length(cmd) == 0)
			return spec_fail(c, "command", AT_VALUE, "must not be empty");
		s->command = xstrdup(json_string_value(cmd));
	} else
		return spec_fail(c, "command", AT_VALUE, "expected a string (run by /bin/sh) or "
		    "a list of arguments");
	return check_command(c);
}
