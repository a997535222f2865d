/* YAML sweep specs through libyaml's event parser: builds the same jansson tree that a JSON
 * spec parses into, and a table of where each node is (by key path, as spec.c names them),
 * so the validator reports YAML errors at FILE:LINE:COLUMN exactly as JSON ones.
 *
 * W&B reads sweep.yaml with PyYAML, so plain scalars resolve by PyYAML's YAML 1.1 rules:
 * null and ~ are null; true/false/yes/no/on/off (in lower, Title or UPPER case) are booleans;
 * 42, 0x2a, 0b101010, 052 (octal) and 1_000 are integers; 0.5, .5, 1. and 1.0e-5 are
 * floats. One deliberate leniency: PyYAML reads 1e-5 (no dot) and 1.0e5 (no exponent sign)
 * as strings, which makes W&B reject "min: 1e-5"; here they are numbers. Quoted scalars are
 * always strings. Sexagesimal numbers (1:30) and timestamps stay strings; .inf and .nan are
 * refused (a spec value must be finite). Anchors, aliases and merge keys (<<) work; an alias
 * costs what its subtree costs, so a "billion laughs" file stops at a node limit. Duplicate
 * keys are an error (PyYAML keeps the last one silently). Columns count bytes. */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "spotsweep/spec-impl.h"
#include "spotsweep/xmalloc.h"

/* Nodes built, counting each alias as the nodes it stands for. */
#define YAML_MAX_NODES	2000000
#define YAML_MAX_DEPTH	256

struct ypos {
	char	*path;
	size_t	 line, column;		/* libyaml's marks: 0-based, column in characters */
	size_t	 kline, kcolumn;	/* the key's, for a mapping value */
	bool	 has_key;
};

struct spec_ymap {
	const char	*text;
	size_t		 len;
	struct ypos	*v;
	size_t		 n, cap;
};

struct anchor {
	char	*name;
	json_t	*node;
	size_t	 size;
};

struct yload {
	const char		*file;
	yaml_parser_t		 parser;
	struct spec_ymap	*map;
	struct buf		 path;
	struct anchor		*anchors;
	size_t			 nanchors, cap;
	size_t			 nodes;
	int			 depth;
	bool			 failed;
	char			**cause;
};

/* The byte column (1-based) of character column col on line (both 0-based). */
static void
to_bytes(const char *text, size_t len, size_t line, size_t col, int *oline, int *ocol)
{
	size_t off = 0, l = 0, n;

	while (l < line && off < len) {
		if (text[off] == '\n' || (text[off] == '\r' && (off + 1 == len ||
		    text[off + 1] != '\n')))
			l++;
		off++;
	}
	n = off;
	while (col > 0 && n < len && text[n] != '\n' && text[n] != '\r') {
		n++;
		while (n < len && ((unsigned char)text[n] & 0xc0) == 0x80)
			n++;
		col--;
	}
	*oline = (int)line + 1;
	*ocol = (int)(n - off) + 1 + (int)col;
}

static void
ymap_add(struct spec_ymap *m, const char *path, const yaml_mark_t *at, const yaml_mark_t *key)
{
	struct ypos *p;

	if (m->n == m->cap) {
		m->cap = m->cap == 0 ? 64 : m->cap * 2;
		m->v = xreallocarray(m->v, m->cap, sizeof *m->v);
	}
	p = &m->v[m->n++];
	p->path = xstrdup(path);
	p->line = at->line;
	p->column = at->column;
	p->has_key = key != NULL;
	if (key != NULL) {
		p->kline = key->line;
		p->kcolumn = key->column;
	}
}

static const struct ypos *
ymap_find(const struct spec_ymap *m, const char *path)
{
	size_t i;

	for (i = 0; m != NULL && i < m->n; i++)
		if (strcmp(m->v[i].path, path) == 0)
			return &m->v[i];
	return NULL;
}

bool
spec_ymap_locate(const struct spec_ymap *m, const char *path, bool key, int *line,
    int *column)
{
	const struct ypos *p = ymap_find(m, path);

	if (p == NULL)
		return false;
	if (key && p->has_key)
		to_bytes(m->text, m->len, p->kline, p->kcolumn, line, column);
	else
		to_bytes(m->text, m->len, p->line, p->column, line, column);
	return true;
}

void
spec_ymap_free(struct spec_ymap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	free(m);
}

/* Records the one error of this load at mark, with the key path it was in. */
static int yfail(struct yload *y, const yaml_mark_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
yfail(struct yload *y, const yaml_mark_t *at, const char *fmt, ...)
{
	struct buf msg = { 0 };
	char *text;
	va_list ap;
	int line, column, n;

	if (y->failed)
		return -1;
	y->failed = true;
	to_bytes(y->map->text, y->map->len, at->line, at->column, &line, &column);
	buf_printf(&msg, "%s:%d:%d: ", y->file, line, column);
	if (y->path.len > 0)
		buf_printf(&msg, "%.*s: ", SPEC_PATH_MAX_SHOWN, y->path.data);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	text = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_adds(&msg, text);
	free(text);
	*y->cause = spec_sanitize(msg.data);
	buf_free(&msg);
	return -1;
}

/* libyaml's own error, at its problem mark. */
static int
parser_error(struct yload *y)
{
	yaml_parser_t *p = &y->parser;
	yaml_mark_t at = p->problem_mark;
	size_t i, line = 0, start = 0;

	if (p->error == YAML_READER_ERROR) {
		/* the reader gives a byte offset */
		for (i = 0; i < p->problem_offset && i < y->map->len; i++)
			if (y->map->text[i] == '\n') {
				line++;
				start = i + 1;
			}
		at.line = line;
		at.column = 0;
		for (i = start; i < p->problem_offset && i < y->map->len; i++)
			if (((unsigned char)y->map->text[i] & 0xc0) != 0x80)
				at.column++;
		if (p->problem_value != -1)
			return yfail(y, &at, "invalid YAML: %s (byte 0x%02x)",
			    p->problem != NULL ? p->problem : "unreadable input",
			    (unsigned)p->problem_value & 0xff);
		return yfail(y, &at, "invalid YAML: %s",
		    p->problem != NULL ? p->problem : "unreadable input");
	}
	if (p->context != NULL)
		return yfail(y, &at, "invalid YAML: %s (%s at line %zu, column %zu)",
		    p->problem != NULL ? p->problem : "syntax error", p->context,
		    p->context_mark.line + 1, p->context_mark.column + 1);
	return yfail(y, &at, "invalid YAML: %s",
	    p->problem != NULL ? p->problem : "syntax error");
}

static int
next_event(struct yload *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->parser, ev)) {
		memset(ev, 0, sizeof *ev);
		return parser_error(y);
	}
	return 0;
}

static bool
one_of(const char *s, size_t n, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strlen(*words) == n && memcmp(*words, s, n) == 0)
			return true;
	return false;
}

/* The text without the '_' digit separators YAML 1.1 allows, or NULL when it has none of
 * the characters a number may have. */
static char *
strip_underscores(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != '_')
			*o++ = s[i];
	*o = '\0';
	return out;
}

static bool
all_in(const char *s, const char *set)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (strchr(set, *s) == NULL)
			return false;
	return true;
}

/* PyYAML's integers: [-+]? then 0b..., 0x..., 0 followed by octal digits, or decimal. */
static int
resolve_int(const char *s, size_t n, json_t **out, bool *overflow)
{
	char *t = strip_underscores(s, n), *digits = t;
	long long v;
	int base = 10;
	bool neg = false;
	char *end;

	*overflow = false;
	if (*digits == '+' || *digits == '-') {
		neg = *digits == '-';
		digits++;
	}
	if (digits[0] == '0' && digits[1] == 'b' && all_in(digits + 2, "01")) {
		base = 2;
		digits += 2;
	} else if (digits[0] == '0' && digits[1] == 'x' &&
	    all_in(digits + 2, "0123456789abcdefABCDEF")) {
		base = 16;
		digits += 2;
	} else if (digits[0] == '0' && digits[1] != '\0' && all_in(digits + 1, "01234567")) {
		base = 8;
		digits += 1;
	} else if (!all_in(digits, "0123456789") || (digits[0] == '0' && digits[1] != '\0')) {
		free(t);
		return 0;
	}
	/* the sign and underscores are YAML's: underscores only after the first digit */
	if (s[0] == '_' || ((s[0] == '+' || s[0] == '-') && s[1] == '_')) {
		free(t);
		return 0;
	}
	errno = 0;
	v = strtoll(digits, &end, base);
	if (errno == ERANGE || *end != '\0') {
		*overflow = errno == ERANGE;
		free(t);
		return *overflow ? -1 : 0;
	}
	free(t);
	*out = json_integer(neg ? -v : v);
	return 1;
}

/* Floats: PyYAML's (a dot required) and, leniently, 1e-5 and 1.0e5. */
static int
resolve_float(const char *s, size_t n, json_t **out, bool *special)
{
	static const char *const infs[] = {
		".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", NULL
	};
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	char *t, *p, *end;
	bool mant = false, dot = false, expo = false;
	double d;

	*special = one_of(s, n, infs) || one_of(s, n, nans);
	if (*special)
		return -1;
	if (s[0] == '_')
		return 0;
	t = strip_underscores(s, n);
	p = t;
	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9') {
		mant = true;
		p++;
	}
	if (*p == '.') {
		dot = true;
		p++;
		while (*p >= '0' && *p <= '9') {
			mant = true;
			p++;
		}
	}
	if (mant && (*p == 'e' || *p == 'E')) {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9')) {
			free(t);
			return 0;
		}
		while (*p >= '0' && *p <= '9')
			p++;
		expo = true;
	}
	if (!mant || *p != '\0' || !(dot || expo)) {
		free(t);
		return 0;
	}
	errno = 0;
	d = strtod(t, &end);
	free(t);
	if (!isfinite(d)) {
		*special = true;
		return -1;
	}
	*out = json_real(d);
	return 1;
}

/* A plain scalar by PyYAML's implicit resolvers; NULL (after yfail) on an unusable number. */
static json_t *
resolve_plain(struct yload *y, const yaml_mark_t *at, const char *s, size_t n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = {
		"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL
	};
	static const char *const falses[] = {
		"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL
	};
	json_t *v = NULL;
	bool flag;
	int rc;

	if (one_of(s, n, nulls))
		return json_null();
	if (one_of(s, n, trues))
		return json_true();
	if (one_of(s, n, falses))
		return json_false();
	if (n > 0 && strchr("+-.0123456789_", s[0]) != NULL) {
		if ((rc = resolve_int(s, n, &v, &flag)) > 0)
			return v;
		if (rc < 0) {
			yfail(y, at, "the integer %.*s is too large (at most 64 bits)",
			    SPEC_QUOTE_MAX, s);
			return NULL;
		}
		if ((rc = resolve_float(s, n, &v, &flag)) > 0)
			return v;
		if (rc < 0) {
			yfail(y, at, "%.*s is not a finite number (quote it to make it a string)",
			    SPEC_QUOTE_MAX, s);
			return NULL;
		}
	}
	return json_stringn(s, n);
}

static json_t *
scalar_node(struct yload *y, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t n = ev->data.scalar.length;
	json_t *v;

	if (memchr(s, '\0', n) != NULL) {
		yfail(y, &ev->start_mark, "a NUL character is not supported in a spec");
		return NULL;
	}
	if (tag == NULL || strcmp(tag, "!") == 0) {
		if (tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return resolve_plain(y, &ev->start_mark, s, n);
		v = json_stringn(s, n);
	} else if (strcmp(tag, YAML_STR_TAG) == 0)
		v = json_stringn(s, n);
	else if (strcmp(tag, YAML_NULL_TAG) == 0 || strcmp(tag, YAML_BOOL_TAG) == 0 ||
	    strcmp(tag, YAML_INT_TAG) == 0 || strcmp(tag, YAML_FLOAT_TAG) == 0) {
		if ((v = resolve_plain(y, &ev->start_mark, s, n)) == NULL)
			return NULL;
		if ((strcmp(tag, YAML_NULL_TAG) == 0 && !json_is_null(v)) ||
		    (strcmp(tag, YAML_BOOL_TAG) == 0 && !json_is_boolean(v)) ||
		    (strcmp(tag, YAML_INT_TAG) == 0 && !json_is_integer(v)) ||
		    (strcmp(tag, YAML_FLOAT_TAG) == 0 && !json_is_number(v))) {
			json_decref(v);
			yfail(y, &ev->start_mark, "%.*s does not read as %s", SPEC_QUOTE_MAX, s,
			    tag + strlen("tag:yaml.org,2002:"));
			return NULL;
		}
		if (strcmp(tag, YAML_FLOAT_TAG) == 0 && json_is_integer(v)) {
			json_t *r = json_real((double)json_integer_value(v));

			json_decref(v);
			v = r;
		}
	} else {
		yfail(y, &ev->start_mark, "the YAML tag %.*s is not supported in a spec",
		    SPEC_QUOTE_MAX, tag);
		return NULL;
	}
	if (v == NULL)
		yfail(y, &ev->start_mark, "the text is not valid UTF-8");
	return v;
}

static int
count_nodes(struct yload *y, const yaml_mark_t *at, size_t n)
{
	y->nodes += n;
	if (y->nodes > YAML_MAX_NODES)
		return yfail(y, at, "the document has more than %d nodes (counting what "
		    "aliases repeat)", YAML_MAX_NODES);
	return 0;
}

static void
add_anchor(struct yload *y, const yaml_char_t *name, json_t *node, size_t size)
{
	if (name == NULL)
		return;
	if (y->nanchors == y->cap) {
		y->cap = y->cap == 0 ? 8 : y->cap * 2;
		y->anchors = xreallocarray(y->anchors, y->cap, sizeof *y->anchors);
	}
	/* a later anchor of the same name shadows the earlier one, as YAML says */
	y->anchors[y->nanchors].name = xstrdup((const char *)name);
	y->anchors[y->nanchors].node = json_incref(node);
	y->anchors[y->nanchors].size = size;
	y->nanchors++;
}

static const struct anchor *
find_anchor(const struct yload *y, const char *name)
{
	size_t i = y->nanchors;

	while (i-- > 0)
		if (strcmp(y->anchors[i].name, name) == 0)
			return &y->anchors[i];
	return NULL;
}

static json_t *load_node(struct yload *y, const yaml_event_t *ev, const yaml_mark_t *key,
    size_t *size);

/* Reads the next event and loads the node it starts. */
static json_t *
load_next(struct yload *y, const yaml_mark_t *key, size_t *size, yaml_event_t *ev)
{
	json_t *v;

	if (next_event(y, ev) != 0)
		return NULL;
	v = load_node(y, ev, key, size);
	return v;
}

static int
check_collection_tag(struct yload *y, const yaml_event_t *ev, const yaml_char_t *tag,
    const char *want)
{
	if (tag == NULL || strcmp((const char *)tag, "!") == 0 ||
	    strcmp((const char *)tag, want) == 0)
		return 0;
	return yfail(y, &ev->start_mark, "the YAML tag %.*s is not supported in a spec",
	    SPEC_QUOTE_MAX, (const char *)tag);
}

static json_t *
load_sequence(struct yload *y, const yaml_event_t *start, size_t *size)
{
	json_t *arr = json_array(), *v;
	yaml_event_t ev;
	char idx[32];
	size_t mark, i = 0, sub;

	for (;;) {
		if (next_event(y, &ev) != 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		snprintf(idx, sizeof idx, "%zu", i++);
		mark = y->path.len;
		if (mark > 0)
			buf_addc(&y->path, '.');
		buf_adds(&y->path, idx);
		v = load_node(y, &ev, NULL, &sub);
		yaml_event_delete(&ev);
		y->path.len = mark;
		y->path.data[mark] = '\0';
		if (v == NULL)
			goto fail;
		json_array_append_new(arr, v);
		*size += sub;
	}
	(void)start;
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* Merges (<<) mapping src into dst: keys dst already has win, as in YAML 1.1. */
static int
merge_into(struct yload *y, json_t *dst, json_t *src, const yaml_mark_t *at)
{
	const char *key;
	json_t *v, *item;
	size_t i;

	if (json_is_array(src)) {
		json_array_foreach(src, i, item)
			if (merge_into(y, dst, item, at) != 0)
				return -1;
		return 0;
	}
	if (!json_is_object(src))
		return yfail(y, at, "a merge key (<<) takes a mapping or a list of mappings");
	json_object_foreach(src, key, v)
		if (json_object_get(dst, key) == NULL)
			json_object_set(dst, key, v);
	return 0;
}

static json_t *
load_mapping(struct yload *y, const yaml_event_t *start, size_t *size)
{
	json_t *obj = json_object(), *v, *merges = NULL, *out;
	const struct ypos *first;
	yaml_event_t kev, vev;
	yaml_mark_t merge_at = start->start_mark;
	const char *key;
	char *k = NULL;
	size_t mark, sub;
	int fline, fcol;

	for (;;) {
		if (next_event(y, &kev) != 0)
			goto fail;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			yfail(y, &kev.start_mark, kev.type == YAML_ALIAS_EVENT ?
			    "an alias as a key is not supported in a spec" :
			    "a key must be a plain string, not a list or a mapping");
			yaml_event_delete(&kev);
			goto fail;
		}
		if (memchr(kev.data.scalar.value, '\0', kev.data.scalar.length) != NULL) {
			yfail(y, &kev.start_mark, "a NUL character is not supported in a spec");
			yaml_event_delete(&kev);
			goto fail;
		}
		k = xstrndup((const char *)kev.data.scalar.value, kev.data.scalar.length);
		mark = y->path.len;
		if (strcmp(k, "<<") == 0 && kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			merge_at = kev.start_mark;
			v = load_next(y, &kev.start_mark, &sub, &vev);
			yaml_event_delete(&vev);
			yaml_event_delete(&kev);
			if (v == NULL)
				goto fail;
			if (merges == NULL)
				merges = json_array();
			json_array_append_new(merges, v);
			*size += sub;
			free(k);
			k = NULL;
			continue;
		}
		if (mark > 0)
			buf_addc(&y->path, '.');
		buf_adds(&y->path, k);
		if (json_object_get(obj, k) != NULL) {
			first = ymap_find(y->map, y->path.data);
			fline = fcol = 0;
			if (first != NULL)
				to_bytes(y->map->text, y->map->len, first->kline, first->kcolumn,
				    &fline, &fcol);
			yfail(y, &kev.start_mark, "duplicate key (first at line %d, column %d)",
			    fline, fcol);
			yaml_event_delete(&kev);
			goto fail;
		}
		v = load_next(y, &kev.start_mark, &sub, &vev);
		yaml_event_delete(&vev);
		yaml_event_delete(&kev);
		y->path.len = mark;
		y->path.data[mark] = '\0';
		if (v == NULL)
			goto fail;
		if (json_object_set_new(obj, k, v) != 0) {
			yfail(y, &start->start_mark, "a key is not valid UTF-8");
			goto fail;
		}
		*size += sub;
		free(k);
		k = NULL;
	}
	if (merges == NULL)
		return obj;
	/* merged keys come first, in the order of their sources, as PyYAML builds them */
	out = json_object();
	if (merge_into(y, out, merges, &merge_at) != 0) {
		json_decref(out);
		goto fail;
	}
	json_decref(merges);
	json_object_foreach(obj, key, v)
		json_object_set(out, key, v);
	json_decref(obj);
	return out;
fail:
	free(k);
	json_decref(merges);
	json_decref(obj);
	return NULL;
}

/* Loads the node that ev starts (its events up to the matching end), records its position
 * under the current path, and counts its nodes into *size. */
static json_t *
load_node(struct yload *y, const yaml_event_t *ev, const yaml_mark_t *key, size_t *size)
{
	const struct anchor *a;
	const yaml_char_t *anchor = NULL;
	json_t *v = NULL;

	*size = 1;
	ymap_add(y->map, y->path.data, &ev->start_mark, key);
	if (++y->depth > YAML_MAX_DEPTH) {
		yfail(y, &ev->start_mark, "nested more than %d levels deep", YAML_MAX_DEPTH);
		goto out;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		v = scalar_node(y, ev);
		break;
	case YAML_ALIAS_EVENT:
		a = find_anchor(y, (const char *)ev->data.alias.anchor);
		if (a == NULL) {
			yfail(y, &ev->start_mark, "the alias *%.*s names no anchor before it",
			    SPEC_QUOTE_MAX, (const char *)ev->data.alias.anchor);
			goto out;
		}
		*size = a->size;
		if (count_nodes(y, &ev->start_mark, a->size) != 0)
			goto out;
		v = json_incref(a->node);
		goto out;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		if (check_collection_tag(y, ev, ev->data.sequence_start.tag, YAML_SEQ_TAG) == 0)
			v = load_sequence(y, ev, size);
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		if (check_collection_tag(y, ev, ev->data.mapping_start.tag, YAML_MAP_TAG) == 0)
			v = load_mapping(y, ev, size);
		break;
	default:
		yfail(y, &ev->start_mark, "invalid YAML: unexpected event");
		goto out;
	}
	if (v == NULL)
		goto out;
	if (count_nodes(y, &ev->start_mark, 1) != 0) {
		json_decref(v);
		v = NULL;
		goto out;
	}
	add_anchor(y, anchor, v, *size);
out:
	y->depth--;
	return v;
}

/* The document's root: one node, or null for an empty stream; a second document is an
 * error rather than something silently ignored. */
static json_t *
load_stream(struct yload *y)
{
	yaml_event_t ev;
	json_t *root = NULL;
	size_t size;

	if (next_event(y, &ev) != 0)
		return NULL;
	yaml_event_delete(&ev);		/* stream start */
	if (next_event(y, &ev) != 0)
		return NULL;
	if (ev.type == YAML_STREAM_END_EVENT) {
		ymap_add(y->map, "", &ev.start_mark, NULL);
		yaml_event_delete(&ev);
		return json_null();
	}
	yaml_event_delete(&ev);		/* document start */
	root = load_next(y, NULL, &size, &ev);
	yaml_event_delete(&ev);
	if (root == NULL)
		return NULL;
	if (next_event(y, &ev) != 0)	/* document end */
		goto fail;
	yaml_event_delete(&ev);
	if (next_event(y, &ev) != 0)
		goto fail;
	if (ev.type != YAML_STREAM_END_EVENT) {
		yfail(y, &ev.start_mark, "a second YAML document: a spec is one document");
		yaml_event_delete(&ev);
		goto fail;
	}
	yaml_event_delete(&ev);
	return root;
fail:
	json_decref(root);
	return NULL;
}

json_t *
spec_yaml_load(const char *file, const char *text, size_t len, struct spec_ymap **map,
    char **cause)
{
	struct yload y;
	json_t *root;
	size_t i;

	memset(&y, 0, sizeof y);
	y.file = file;
	y.cause = cause;
	y.map = xcalloc(1, sizeof *y.map);
	y.map->text = text;
	y.map->len = len;
	buf_adds(&y.path, "");
	if (!yaml_parser_initialize(&y.parser))
		abort();
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&y.parser, YAML_UTF8_ENCODING);
	root = load_stream(&y);
	yaml_parser_delete(&y.parser);
	for (i = 0; i < y.nanchors; i++) {
		free(y.anchors[i].name);
		json_decref(y.anchors[i].node);
	}
	free(y.anchors);
	buf_free(&y.path);
	if (root == NULL) {
		if (!y.failed)
			*cause = xasprintf("%s:1:1: invalid YAML", file);
		spec_ymap_free(y.map);
		*map = NULL;
		return NULL;
	}
	*map = y.map;
	return root;
}
