/* A fast path for parsing the scheduler's request bodies into jansson values.
 *
 * jansson's parser reads its input a character at a time through a stream abstraction and
 * was 5-8% of the scheduler's CPU under load, for bodies of a few hundred bytes. This parser
 * accepts a plain subset of JSON: an object at the top, ASCII strings with the short escapes
 * (\" \\ \/ \b \f \n \r \t), numbers, true, false, null, no duplicate keys, at most
 * JSON_FAST_MAX_DEPTH levels. It builds the very values jansson would (integers without a
 * fraction or exponent as json_integer, others as json_real, members in their order) and
 * gives up on anything else (returns NULL), errors included: the caller then parses with
 * jansson, whose value or error message is authoritative. check_json_fast compares the two
 * on valid and invalid inputs. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/json-fast.h"

struct cursor {
	const char	*p, *end;
	char		*scratch;	/* a string's bytes after unescaping: inline, or */
	size_t		 cap;		/* on the heap once a string outgrew it */
	char		 inline_scratch[256];
};

static json_t *parse_value(struct cursor *c, int depth);

static void
skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' ||
	    *c->p == '\t'))
		c->p++;
}

/* A string at c->p (after its opening quote): its bytes in c->scratch, *len of them; false
 * when it is not in the subset. */
static bool
parse_string(struct cursor *c, size_t *len)
{
	const char *p = c->p;
	size_t n = 0;

	for (;;) {
		unsigned char ch;

		if (p == c->end)
			return false;
		ch = (unsigned char)*p++;
		if (ch == '"')
			break;
		if (ch < 0x20 || ch >= 0x80)
			return false;
		if (ch == '\\') {
			if (p == c->end)
				return false;
			switch (*p++) {
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			case '/': ch = '/'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			default: return false;
			}
		}
		if (n == c->cap) {
			size_t cap = c->cap * 2;
			char *grown = c->scratch == c->inline_scratch ? malloc(cap) :
			    realloc(c->scratch, cap);

			if (grown == NULL)
				return false;
			if (c->scratch == c->inline_scratch)
				memcpy(grown, c->inline_scratch, n);
			c->scratch = grown;
			c->cap = cap;
		}
		c->scratch[n++] = (char)ch;
	}
	c->p = p;
	*len = n;
	return true;
}

/* A number as jansson lexes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, an integer
 * when it has neither fraction nor exponent. */
static json_t *
parse_number(struct cursor *c)
{
	static locale_t c_locale;
	const char *start = c->p, *p = c->p;
	bool real = false, neg = false;
	char buf[64], *endp;
	double d;

	if (p < c->end && *p == '-') {
		neg = true;
		p++;
	}
	if (p == c->end || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0') {
		p++;
	} else {
		while (p < c->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < c->end && *p == '.') {
		real = true;
		p++;
		if (p == c->end || *p < '0' || *p > '9')
			return NULL;
		while (p < c->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < c->end && (*p == 'e' || *p == 'E')) {
		real = true;
		p++;
		if (p < c->end && (*p == '+' || *p == '-'))
			p++;
		if (p == c->end || *p < '0' || *p > '9')
			return NULL;
		while (p < c->end && *p >= '0' && *p <= '9')
			p++;
	}
	c->p = p;
	if (!real) {
		const char *q = start + neg;
		uint64_t v = 0;

		/* jansson refuses what does not fit json_int_t (long long): give it those. */
		if (p - q > 18)
			return NULL;
		for (; q < p; q++)
			v = v * 10 + (uint64_t)(*q - '0');
		return json_integer(neg ? -(json_int_t)v : (json_int_t)v);
	}
	if ((size_t)(p - start) >= sizeof buf)
		return NULL;
	memcpy(buf, start, (size_t)(p - start));
	buf[p - start] = '\0';
	/* jansson converts in the C locale's terms whatever the process's locale. */
	if (c_locale == (locale_t)0 &&
	    (c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0)) == (locale_t)0)
		return NULL;
	errno = 0;
	d = strtod_l(buf, &endp, c_locale);
	if (*endp != '\0' || (errno == ERANGE && fabs(d) > 1) || !isfinite(d))
		return NULL;
	return json_real(d);
}

static json_t *
parse_object(struct cursor *c, int depth)
{
	json_t *obj = json_object(), *v;
	size_t len;

	if (obj == NULL)
		return NULL;
	skip_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return obj;
	}
	for (;;) {
		skip_ws(c);
		if (c->p == c->end || *c->p != '"')
			break;
		c->p++;
		if (!parse_string(c, &len))
			break;
		/* Duplicates are jansson's to report (JSON_REJECT_DUPLICATES). */
		if (json_object_getn(obj, c->scratch, len) != NULL)
			break;
		/* The key is in scratch, which the value may reuse: keep a copy. */
		{
			char key[256];

			if (len >= sizeof key)
				break;
			memcpy(key, c->scratch, len);
			skip_ws(c);
			if (c->p == c->end || *c->p != ':')
				break;
			c->p++;
			if ((v = parse_value(c, depth)) == NULL)
				break;
			if (json_object_setn_new_nocheck(obj, key, len, v) != 0)
				break;
		}
		skip_ws(c);
		if (c->p == c->end)
			break;
		if (*c->p == '}') {
			c->p++;
			return obj;
		}
		if (*c->p++ != ',')
			break;
	}
	json_decref(obj);
	return NULL;
}

static json_t *
parse_array(struct cursor *c, int depth)
{
	json_t *arr = json_array(), *v;

	if (arr == NULL)
		return NULL;
	skip_ws(c);
	if (c->p < c->end && *c->p == ']') {
		c->p++;
		return arr;
	}
	for (;;) {
		if ((v = parse_value(c, depth)) == NULL || json_array_append_new(arr, v) != 0)
			break;
		skip_ws(c);
		if (c->p == c->end)
			break;
		if (*c->p == ']') {
			c->p++;
			return arr;
		}
		if (*c->p++ != ',')
			break;
	}
	json_decref(arr);
	return NULL;
}

static bool
literal(struct cursor *c, const char *word, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

static json_t *
parse_value(struct cursor *c, int depth)
{
	size_t len;

	skip_ws(c);
	if (c->p == c->end)
		return NULL;
	switch (*c->p) {
	case '{':
		if (depth >= JSON_FAST_MAX_DEPTH)
			return NULL;
		c->p++;
		return parse_object(c, depth + 1);
	case '[':
		if (depth >= JSON_FAST_MAX_DEPTH)
			return NULL;
		c->p++;
		return parse_array(c, depth + 1);
	case '"':
		c->p++;
		if (!parse_string(c, &len))
			return NULL;
		return json_stringn_nocheck(c->scratch, len);
	case 't':
		return literal(c, "true", 4) ? json_true() : NULL;
	case 'f':
		return literal(c, "false", 5) ? json_false() : NULL;
	case 'n':
		return literal(c, "null", 4) ? json_null() : NULL;
	default:
		return parse_number(c);
	}
}

json_t *
json_parse_fast(const char *data, size_t len)
{
	struct cursor c;
	json_t *v = NULL;

	c.p = data;
	c.end = data + len;
	c.scratch = c.inline_scratch;
	c.cap = sizeof c.inline_scratch;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '{')
		v = parse_value(&c, 0);
	if (v != NULL) {
		skip_ws(&c);
		if (c.p != c.end) {
			json_decref(v);
			v = NULL;
		}
	}
	if (c.scratch != c.inline_scratch)
		free(c.scratch);
	return v;
}
