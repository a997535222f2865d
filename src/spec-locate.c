/* Positions in JSON text. jansson tells where a syntax error is but not where a parsed value
 * came from, so spec errors found after parsing need this: a small, tolerant scanner over the
 * original text that tracks the key path ("parameters.lr.min", array indexes as numbers) and
 * reports the byte offset of a value, of a key, of the first duplicate key, or of the place a
 * syntax error stopped it. Lines and columns are 1-based; columns count bytes. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/spec.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* jansson's own nesting limit; deeper text fails to parse anyway. */
#define WALK_MAX_DEPTH 2048

enum walk_mode {
	WALK_VALUE,	/* find the value at target */
	WALK_KEY,	/* find the key that ends target */
	WALK_DUP,	/* find the first duplicate key */
	WALK_STOP	/* run until the syntax error or stop_at, keep the path */
};

struct walk {
	const char	*text;
	const char	*p;
	const char	*end;
	enum walk_mode	 mode;
	const char	*target;
	size_t		 stop_at;	/* WALK_STOP: offset of the offending byte */
	int		 depth;
	struct buf	 path;
	struct buf	 key;		/* scratch: the decoded current key */

	bool		 done;		/* found, or stopped */
	bool		 failed;	/* the text is not valid JSON at p */
	const char	*found;
	const char	*first;		/* WALK_DUP: the earlier occurrence */
};

static bool walk_value(struct walk *w);

static void
skip_ws(struct walk *w)
{
	while (w->p < w->end &&
	    (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

/* Marks the walk as ended by a syntax error at the current position. */
static bool
walk_fail(struct walk *w)
{
	w->failed = true;
	w->done = true;
	return false;
}

/* WALK_STOP ends once the scan reaches the byte jansson complained about. */
static bool
walk_stopped(struct walk *w)
{
	if (w->mode == WALK_STOP && (size_t)(w->p - w->text) >= w->stop_at) {
		w->done = true;
		return true;
	}
	return false;
}

static bool
path_is_target(const struct walk *w)
{
	return strcmp(w->path.data != NULL ? w->path.data : "", w->target) == 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
read_hex4(struct walk *w, uint32_t *out)
{
	int i, v;

	if (w->end - w->p < 4)
		return false;
	*out = 0;
	for (i = 0; i < 4; i++) {
		if ((v = hexval(w->p[i])) < 0)
			return false;
		*out = (*out << 4) | (uint32_t)v;
	}
	w->p += 4;
	return true;
}

static void
add_utf8(struct buf *b, uint32_t cp)
{
	if (cp < 0x80)
		buf_addc(b, (char)cp);
	else if (cp < 0x800) {
		buf_addc(b, (char)(0xc0 | (cp >> 6)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_addc(b, (char)(0xe0 | (cp >> 12)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_addc(b, (char)(0xf0 | (cp >> 18)));
		buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

/* Scans a string starting at the opening quote; decodes it into out when out is not NULL,
 * so keys compare as jansson stores them ("\u006cr" is "lr"). */
static bool
scan_string(struct walk *w, struct buf *out)
{
	uint32_t cp, lo;
	char c;

	w->p++;
	while (w->p < w->end) {
		c = *w->p++;
		if (c == '"')
			return true;
		if (c != '\\') {
			if (out != NULL)
				buf_addc(out, c);
			continue;
		}
		if (w->p >= w->end)
			return false;
		c = *w->p++;
		switch (c) {
		case '"': case '\\': case '/':
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if (!read_hex4(w, &cp))
				return false;
			if (cp >= 0xd800 && cp < 0xdc00 && w->end - w->p >= 6 &&
			    w->p[0] == '\\' && w->p[1] == 'u') {
				w->p += 2;
				if (!read_hex4(w, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return false;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (out != NULL)
				add_utf8(out, cp);
			continue;
		default:
			return false;
		}
		if (out != NULL)
			buf_addc(out, c);
	}
	return false;
}

/* true, false, null and numbers: the scanner only needs their extent; jansson has already
 * judged (or will judge) their spelling. */
static bool
scan_scalar(struct walk *w)
{
	const char *start = w->p;

	while (w->p < w->end && strchr("0123456789+-.eEtrufalsn", *w->p) != NULL)
		w->p++;
	if (w->p == start)
		return false;
	if (*start == 't' || *start == 'f' || *start == 'n') {
		size_t n = (size_t)(w->p - start);

		return (n == 4 && memcmp(start, "true", 4) == 0) ||
		    (n == 5 && memcmp(start, "false", 5) == 0) ||
		    (n == 4 && memcmp(start, "null", 4) == 0);
	}
	return (*start >= '0' && *start <= '9') || *start == '-';
}

static size_t
path_push(struct walk *w, const char *comp, size_t len)
{
	size_t mark = w->path.len;

	if (w->path.len > 0)
		buf_addc(&w->path, '.');
	buf_add(&w->path, comp, len);
	return mark;
}

static void
path_pop(struct walk *w, size_t mark)
{
	w->path.len = mark;
	if (w->path.data != NULL)
		w->path.data[mark] = '\0';
}

/* WALK_DUP keeps the keys of the open object in a jansson object (key -> offset), so a big
 * object costs a hash lookup per key rather than a quadratic scan. */
static bool
walk_object(struct walk *w)
{
	json_t *seen = NULL, *prev;
	const char *keypos;
	size_t mark;
	bool ok = false;

	if (w->mode == WALK_DUP)
		seen = json_object();
	w->p++;
	skip_ws(w);
	if (walk_stopped(w))
		goto out;
	if (w->p < w->end && *w->p == '}') {
		w->p++;
		ok = true;
		goto out;
	}
	for (;;) {
		skip_ws(w);
		if (walk_stopped(w))
			goto out;
		if (w->p >= w->end || *w->p != '"') {
			walk_fail(w);
			goto out;
		}
		keypos = w->p;
		buf_reset(&w->key);
		if (!scan_string(w, &w->key)) {
			w->p = keypos;
			walk_fail(w);
			goto out;
		}
		mark = path_push(w, w->key.data, w->key.len);
		if (w->mode == WALK_KEY && path_is_target(w)) {
			w->found = keypos;
			w->done = true;
			goto out;
		}
		if (seen != NULL) {
			prev = json_object_getn(seen, w->key.data, w->key.len);
			if (prev != NULL) {
				w->found = keypos;
				w->first = w->text + json_integer_value(prev);
				w->done = true;
				goto out;
			}
			json_object_setn_new(seen, w->key.data, w->key.len,
			    json_integer((json_int_t)(keypos - w->text)));
		}
		skip_ws(w);
		if (walk_stopped(w))
			goto out;
		if (w->p >= w->end || *w->p != ':') {
			walk_fail(w);
			goto out;
		}
		w->p++;
		if (!walk_value(w))
			goto out;
		path_pop(w, mark);
		skip_ws(w);
		if (walk_stopped(w))
			goto out;
		if (w->p < w->end && *w->p == ',') {
			w->p++;
			continue;
		}
		if (w->p < w->end && *w->p == '}') {
			w->p++;
			ok = true;
			goto out;
		}
		walk_fail(w);
		goto out;
	}
out:
	json_decref(seen);
	return ok;
}

static bool
walk_array(struct walk *w)
{
	char idx[32];
	size_t mark, i;
	int n;

	w->p++;
	skip_ws(w);
	if (walk_stopped(w))
		return false;
	if (w->p < w->end && *w->p == ']') {
		w->p++;
		return true;
	}
	for (i = 0;; i++) {
		n = snprintf(idx, sizeof idx, "%zu", i);
		mark = path_push(w, idx, (size_t)n);
		if (!walk_value(w))
			return false;
		path_pop(w, mark);
		skip_ws(w);
		if (walk_stopped(w))
			return false;
		if (w->p < w->end && *w->p == ',') {
			w->p++;
			continue;
		}
		if (w->p < w->end && *w->p == ']') {
			w->p++;
			return true;
		}
		return walk_fail(w);
	}
}

/* Walks one value; false when the walk is over (found, stopped or failed). */
static bool
walk_value(struct walk *w)
{
	const char *start;
	bool ok;

	skip_ws(w);
	if (walk_stopped(w))
		return false;
	if (w->p >= w->end)
		return walk_fail(w);
	if (w->mode == WALK_VALUE && path_is_target(w)) {
		w->found = w->p;
		w->done = true;
		return false;
	}
	if (++w->depth > WALK_MAX_DEPTH)
		return walk_fail(w);
	start = w->p;
	switch (*w->p) {
	case '{':
		ok = walk_object(w);
		break;
	case '[':
		ok = walk_array(w);
		break;
	case '"':
		ok = scan_string(w, NULL);
		if (!ok) {
			w->p = start;
			walk_fail(w);
		}
		break;
	default:
		ok = scan_scalar(w);
		if (!ok) {
			w->p = start;
			walk_fail(w);
		}
		break;
	}
	w->depth--;
	/* a value whose bytes hold the offending one: the error is about this value */
	if (ok && w->mode == WALK_STOP && (size_t)(w->p - w->text) > w->stop_at) {
		w->found = start;
		w->done = true;
		return false;
	}
	return ok && !w->done;
}

static void
walk_init(struct walk *w, const char *text, size_t len, enum walk_mode mode,
    const char *target)
{
	memset(w, 0, sizeof *w);
	w->text = w->p = text;
	w->end = text + len;
	w->mode = mode;
	w->target = target;
	w->stop_at = SIZE_MAX;
	buf_adds(&w->path, "");	/* allocates, so data is never NULL */
	buf_adds(&w->key, "");
}

static void
walk_done(struct walk *w)
{
	buf_free(&w->path);
	buf_free(&w->key);
}

static void
offset_to_line_column(const char *text, size_t off, int *line, int *column)
{
	size_t i, bol = 0;
	int l = 1;

	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			l++;
			bol = i + 1;
		}
	}
	*line = l;
	*column = (int)(off - bol) + 1;
}

static bool
locate(const char *text, size_t len, const char *path, enum walk_mode mode, int *line,
    int *column)
{
	struct walk w;
	bool found;

	walk_init(&w, text, len, mode, path);
	walk_value(&w);
	found = w.found != NULL;
	if (found)
		offset_to_line_column(text, (size_t)(w.found - text), line, column);
	walk_done(&w);
	return found;
}

bool
json_locate(const char *text, size_t len, const char *path, int *line, int *column)
{
	return locate(text, len, path, WALK_VALUE, line, column);
}

bool
json_locate_key(const char *text, size_t len, const char *path, int *line, int *column)
{
	return locate(text, len, path, WALK_KEY, line, column);
}

bool
json_find_duplicate(const char *text, size_t len, char **path, int *line, int *column,
    int *first_line, int *first_column)
{
	struct walk w;
	bool found;

	walk_init(&w, text, len, WALK_DUP, NULL);
	walk_value(&w);
	found = w.found != NULL && w.first != NULL;
	if (found) {
		offset_to_line_column(text, (size_t)(w.found - text), line, column);
		offset_to_line_column(text, (size_t)(w.first - text), first_line,
		    first_column);
		*path = buf_steal(&w.path);
	}
	walk_done(&w);
	return found;
}

/* jansson reports the end of a bad token; the scanner knows where the token began, which
 * is where an editor should put the cursor. */
char *
json_error_path(const char *text, size_t len, size_t offset, size_t *where)
{
	struct walk w;
	char *path = NULL;

	*where = offset;
	walk_init(&w, text, len, WALK_STOP, NULL);
	w.stop_at = offset;
	walk_value(&w);
	if (w.done) {
		path = buf_steal(&w.path);
		if (w.found != NULL && (size_t)(w.found - text) <= offset)
			*where = (size_t)(w.found - text);
		else if (w.failed && (size_t)(w.p - text) <= offset)
			*where = (size_t)(w.p - text);
	}
	walk_done(&w);
	return path;
}

void
json_line_column(const char *text, size_t len, size_t offset, int *line, int *column)
{
	offset_to_line_column(text, offset < len ? offset : len, line, column);
}
