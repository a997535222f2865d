/* Lease-to-command helpers for the agent (see agent-command.h): placeholder and W&B macro
 * expansion, the text forms of parameter values (spotsweep's, and Python's for W&B's
 * macros, so a script written for W&B's agent parses what it is used to), and environment
 * names. Every substituted value is quoted with buf_add_shell_quoted(), so no parameter
 * value can change the shape of the command. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
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

/* A JSON string as Python's json.dumps() writes it: non-ASCII and control characters as
 * lower-case \\u escapes (a surrogate pair above U+FFFF), the short escapes where JSON has
 * them. s is valid UTF-8 (jansson checked it). */
static void
add_json_string_ascii(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	int n, i;

	buf_addc(b, '"');
	while (*p != '\0') {
		if (*p < 0x80) {
			switch (*p) {
			case '"': buf_adds(b, "\\\""); break;
			case '\\': buf_adds(b, "\\\\"); break;
			case '\n': buf_adds(b, "\\n"); break;
			case '\r': buf_adds(b, "\\r"); break;
			case '\t': buf_adds(b, "\\t"); break;
			case '\b': buf_adds(b, "\\b"); break;
			case '\f': buf_adds(b, "\\f"); break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					buf_printf(b, "\\u%04x", *p);
				else
					buf_addc(b, (char)*p);
				break;
			}
			p++;
			continue;
		}
		n = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : 1;
		cp = *p++ & (0x3f >> n);
		for (i = 0; i < n && (*p & 0xc0) == 0x80; i++)
			cp = (cp << 6) | (*p++ & 0x3f);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (unsigned)(cp >> 10),
			    0xdc00 + (unsigned)(cp & 0x3ff));
		} else
			buf_printf(b, "\\u%04x", (unsigned)cp);
	}
	buf_addc(b, '"');
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

/* Nesting followed for environment variables; deeper members stay in their parent's JSON. */
#define ENV_MAX_DEPTH	16

static void
env_add(char ***v, size_t *n, const char *name, const json_t *value, int depth)
{
	const char *key;
	json_t *item;
	char *ename, *text, *sub;

	ename = agent_param_env_name(name);
	text = agent_param_text(value);
	*v = xreallocarray(*v, *n + 1, sizeof **v);
	(*v)[(*n)++] = xasprintf("%s=%s", ename, text);
	free(text);
	free(ename);
	if (!json_is_object(value) || depth >= ENV_MAX_DEPTH)
		return;
	json_object_foreach((json_t *)value, key, item) {
		sub = xasprintf("%s.%s", name, key);
		env_add(v, n, sub, item, depth + 1);
		free(sub);
	}
}

char **
agent_param_env(const json_t *params, size_t *n)
{
	const char *key;
	json_t *v;
	char **out = NULL;

	*n = 0;
	if (!json_is_object(params))
		return NULL;
	json_object_foreach((json_t *)params, key, v)
		env_add(&out, n, key, v, 0);
	return out;
}

const json_t *
agent_param_get(const json_t *params, const char *name)
{
	const char *dot;
	const json_t *v, *sub;

	if (!json_is_object(params))
		return NULL;
	if ((v = json_object_get(params, name)) != NULL)
		return v;
	for (dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
		sub = json_object_getn(params, name, (size_t)(dot - name));
		if (json_is_object(sub) && (v = agent_param_get(sub, dot + 1)) != NULL)
			return v;
	}
	return NULL;
}

/* Python's repr() of a str: single quotes unless the text has one and no double quote. */
static void
py_repr_string(struct buf *b, const char *s)
{
	char q = strchr(s, '\'') != NULL && strchr(s, '"') == NULL ? '"' : '\'';
	unsigned char c;

	buf_addc(b, q);
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '\\' || c == (unsigned char)q) {
			buf_addc(b, '\\');
			buf_addc(b, (char)c);
		} else if (c == '\n')
			buf_adds(b, "\\n");
		else if (c == '\r')
			buf_adds(b, "\\r");
		else if (c == '\t')
			buf_adds(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_addc(b, (char)c);
	}
	buf_addc(b, q);
}

/* Python's repr() of a float: the shortest form, with ".0" on an integral one. */
static void
py_float(struct buf *b, double d)
{
	char tmp[32];

	if (!isfinite(d)) {
		buf_adds(b, isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
		return;
	}
	format_double(tmp, d);
	buf_adds(b, tmp);
	if (strpbrk(tmp, ".e") == NULL)
		buf_adds(b, ".0");
}

/* repr() inside a container: strings quoted. */
static void
py_repr(struct buf *b, const json_t *v, bool json)
{
	const char *key;
	json_t *item;
	size_t i;
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		buf_addc(b, '{');
		json_object_foreach((json_t *)v, key, item) {
			if (!first)
				buf_adds(b, ", ");
			first = false;
			if (json)
				add_json_string_ascii(b, key);
			else
				py_repr_string(b, key);
			buf_adds(b, ": ");
			py_repr(b, item, json);
		}
		buf_addc(b, '}');
		break;
	case JSON_ARRAY:
		buf_addc(b, '[');
		json_array_foreach(v, i, item) {
			if (i > 0)
				buf_adds(b, ", ");
			py_repr(b, item, json);
		}
		buf_addc(b, ']');
		break;
	case JSON_STRING:
		if (json)
			add_json_string_ascii(b, json_string_value(v));
		else
			py_repr_string(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		py_float(b, json_real_value(v));
		break;
	case JSON_TRUE:
		buf_adds(b, json ? "true" : "True");
		break;
	case JSON_FALSE:
		buf_adds(b, json ? "false" : "False");
		break;
	default:
		buf_adds(b, json ? "null" : "None");
		break;
	}
}

void
agent_py_str(struct buf *b, const json_t *v)
{
	if (json_is_string(v))
		buf_adds(b, json_string_value(v));
	else
		py_repr(b, v, false);
}

void
agent_py_json(struct buf *b, const json_t *v)
{
	py_repr(b, v, true);
}

/* W&B's argument macros over the top-level parameters, each word shell-quoted. */
static char *
macro_args(const json_t *params, const char *which)
{
	struct buf b = { 0 }, word = { 0 };
	const char *key;
	json_t *v;
	bool hyphens = strcmp(which, "args_no_hyphens") != 0;
	bool no_bool = strcmp(which, "args_no_boolean_flags") == 0;

	buf_adds(&b, "");
	if (strcmp(which, "args_json") == 0) {
		if (params != NULL)
			agent_py_json(&word, params);
		else
			buf_adds(&word, "{}");
		buf_add_shell_quoted(&b, word.data);
		buf_free(&word);
		return buf_steal(&b);
	}
	if (!json_is_object(params))
		return buf_steal(&b);
	json_object_foreach((json_t *)params, key, v) {
		buf_reset(&word);
		if (no_bool && json_is_false(v))
			continue;
		buf_printf(&word, "%s%s", hyphens ? "--" : "", key);
		if (!(no_bool && json_is_true(v))) {
			buf_addc(&word, '=');
			agent_py_str(&word, v);
		}
		if (b.len > 0)
			buf_addc(&b, ' ');
		buf_add_shell_quoted(&b, word.data);
	}
	buf_free(&word);
	return buf_steal(&b);
}

/* The text of a W&B macro (name without its '$'), or NULL when it stands for nothing. */
static char *
macro_text(const char *name, const json_t *params, const struct agent_placeholders *ph)
{
	struct buf b = { 0 };

	if (strcmp(name, "env") == 0)
		return xstrdup(AGENT_MACRO_ENV);
	if (strcmp(name, "interpreter") == 0)
		return xstrdup(AGENT_MACRO_INTERPRETER);
	if (strcmp(name, "program") == 0 || strcmp(name, "args_json_file") == 0) {
		const char *s = name[0] == 'p' ? ph->program : ph->args_json_file;

		if (s == NULL)
			return NULL;
		buf_add_shell_quoted(&b, s);
		return buf_steal(&b);
	}
	return macro_args(params, name);
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
	if (name[0] == '$')
		ctx->text = macro_text(name + 1, ctx->params, ctx->ph);
	else if (strcmp(name, "trial_id") == 0)
		ctx->text = xasprintf("%" PRId64, ctx->ph->trial_id);
	else if (strcmp(name, "attempt") == 0)
		ctx->text = xasprintf("%" PRId64, ctx->ph->attempt);
	else if (strcmp(name, "checkpoint_dir") == 0)
		ctx->text = xstrdup(ctx->ph->checkpoint_dir ? ctx->ph->checkpoint_dir : "");
	else if (strcmp(name, "resume_from") == 0)
		ctx->text = xstrdup(ctx->ph->resume_from ? ctx->ph->resume_from : "");
	else if ((v = agent_param_get(ctx->params, name)) != NULL)
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
