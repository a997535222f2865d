/* Lease-to-command helpers for the agent (see agent-command.h): placeholder expansion, the
 * text forms of parameter values, and environment names. Every substituted value is quoted
 * with buf_add_shell_quoted(), so no parameter value can change the shape of the command. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/agent-command.h"
#include "spotsweep/spec.h"
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

/* What spec_command_render asks for a name: the built-ins first, then the parameters. The
 * text lives in ctx until the next lookup. */
struct placeholder_ctx {
	const json_t				*params;
	const struct agent_placeholders		*ph;
	char					*text;
};

static const char *
lookup_placeholder(const char *name, void *arg)
{
	struct placeholder_ctx *ctx = arg;
	const json_t *v;

	free(ctx->text);
	ctx->text = NULL;
	if (strcmp(name, "trial_id") == 0)
		ctx->text = xasprintf("%" PRId64, ctx->ph->trial_id);
	else if (strcmp(name, "attempt") == 0)
		ctx->text = xasprintf("%" PRId64, ctx->ph->attempt);
	else if (strcmp(name, "checkpoint_dir") == 0)
		ctx->text = xstrdup(ctx->ph->checkpoint_dir ? ctx->ph->checkpoint_dir : "");
	else if (strcmp(name, "resume_from") == 0)
		ctx->text = xstrdup(ctx->ph->resume_from ? ctx->ph->resume_from : "");
	else if (ctx->params != NULL && (v = json_object_get(ctx->params, name)) != NULL)
		ctx->text = agent_param_text(v);
	return ctx->text;
}

/* The placeholder syntax is spec.c's, so what submit validated is what runs here. */
char *
agent_command_expand(const char *tmpl, const json_t *params,
    const struct agent_placeholders *ph, char **cause)
{
	struct placeholder_ctx ctx = { params, ph, NULL };
	struct buf b = { 0 };
	int rc;

	rc = spec_command_render(tmpl, lookup_placeholder, &ctx, &b, cause);
	free(ctx.text);
	if (rc != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}
