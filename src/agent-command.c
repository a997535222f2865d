/* Lease-to-command helpers for the agent (see agent-command.h): placeholder expansion, the
 * text forms of parameter values, and environment names. Every substituted value is quoted
 * with buf_add_shell_quoted(), so no parameter value can change the shape of the command. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/agent-command.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* Placeholder names are short identifiers; a longer {...} is left alone. */
#define MAX_PLACEHOLDER	256

static void
add_json_string(struct buf *b, const char *s)
{
	json_t	*j = json_string(s);
	char	*text = NULL;

	/* json_string() refuses invalid UTF-8; jansson keys are always valid, values too. */
	if (j != NULL)
		text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	buf_adds(b, text == NULL ? "\"\"" : text);
	free(text);
	json_decref(j);
}

/* Appends compact JSON of v, reals in their shortest exact form. */
void
agent_json_compact(struct buf *b, const json_t *v)
{
	const char	*key;
	json_t		*item;
	char		*s;
	size_t		 i;
	bool		 first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		buf_addc(b, '{');
		json_object_foreach((json_t *)v, key, item) {
			if (!first)
				buf_addc(b, ',');
			first = false;
			add_json_string(b, key);
			buf_addc(b, ':');
			agent_json_compact(b, item);
		}
		buf_addc(b, '}');
		break;
	case JSON_ARRAY:
		buf_addc(b, '[');
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				buf_addc(b, ',');
			agent_json_compact(b, json_array_get(v, i));
		}
		buf_addc(b, ']');
		break;
	case JSON_REAL:
		buf_add_double(b, json_real_value(v));
		break;
	case JSON_INTEGER:
		buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	default:
		s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		buf_adds(b, s == NULL ? "null" : s);
		free(s);
		break;
	}
}

/* The text of a parameter value: strings raw, numbers shortest-exact, others compact JSON. */
char *
agent_param_text(const json_t *v)
{
	struct buf	b = { 0 };

	if (v == NULL)
		return xstrdup("");
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	agent_json_compact(&b, v);
	return buf_steal(&b);
}

/* "SPOTSWEEP_PARAM_" + the upper-cased name, non-alphanumerics as '_'. */
char *
agent_param_env_name(const char *name)
{
	struct buf	 b = { 0 };
	const char	*p;
	char		 c;

	buf_adds(&b, "SPOTSWEEP_PARAM_");
	for (p = name; *p != '\0'; p++) {
		c = *p;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		buf_addc(&b, c);
	}
	return buf_steal(&b);
}

/* Appends the quoted value of placeholder name (len bytes); false if it is unknown. */
static bool
add_placeholder(struct buf *b, const char *name, size_t len, const json_t *params,
    const struct agent_placeholders *ph)
{
	char	 key[MAX_PLACEHOLDER + 1], num[32], *text;
	json_t	*v;

	memcpy(key, name, len);
	key[len] = '\0';
	if (strcmp(key, "trial_id") == 0) {
		snprintf(num, sizeof num, "%" PRId64, ph->trial_id);
		buf_add_shell_quoted(b, num);
	} else if (strcmp(key, "attempt") == 0) {
		snprintf(num, sizeof num, "%" PRId64, ph->attempt);
		buf_add_shell_quoted(b, num);
	} else if (strcmp(key, "checkpoint_dir") == 0)
		buf_add_shell_quoted(b, ph->checkpoint_dir == NULL ? "" : ph->checkpoint_dir);
	else if (strcmp(key, "resume_from") == 0)
		buf_add_shell_quoted(b, ph->resume_from == NULL ? "" : ph->resume_from);
	else if (params != NULL && (v = json_object_get(params, key)) != NULL) {
		text = agent_param_text(v);
		buf_add_shell_quoted(b, text);
		free(text);
	} else
		return false;
	return true;
}

/* Expands the placeholders of tmpl, each value shell-quoted; unknown ones stay as they are. */
char *
agent_command_expand(const char *tmpl, const json_t *params,
    const struct agent_placeholders *ph)
{
	struct buf	 b = { 0 };
	const char	*p = tmpl, *open, *close;
	size_t		 len;

	while ((open = strchr(p, '{')) != NULL) {
		buf_add(&b, p, (size_t)(open - p));
		close = strpbrk(open + 1, "{}");
		if (close == NULL || *close == '{') {
			/* No name here; the next '{' may start one. */
			buf_addc(&b, '{');
			p = open + 1;
			continue;
		}
		len = (size_t)(close - open - 1);
		if (len == 0 || len > MAX_PLACEHOLDER ||
		    !add_placeholder(&b, open + 1, len, params, ph))
			buf_add(&b, open, len + 2);
		p = close + 1;
	}
	buf_adds(&b, p);
	return buf_steal(&b);
}
