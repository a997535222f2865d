/* CSV output (RFC 4180) and the export of a sweep's trials in the contract's column order:
 * trial_id,state,attempts,preemptions, the parameters in spec order, the metrics (objective
 * first), runtime_s,gpu_hours,cost_usd,last_pool,started_at,finished_at.
 *
 * A million-row export must take seconds, so rows are not parsed with jansson: the params
 * column is the expander's canonical compact JSON object, keys in spec order, and a small
 * scanner walks it once, matching keys to columns and copying number text as stored (which
 * is what makes numbers round-trip exactly). Anything the scanner does not expect (escaped
 * keys, malformed text) falls back to jansson for that row alone.
 *
 * Parameters of nested "parameters" blocks are stored nested ({"optimizer":{"lr":0.1}}) and
 * exported flat, one column per parameter named by its dotted path ("optimizer.lr"): the
 * scanner descends into an object whose key path begins some column's name, and the slow
 * path follows the dots. A sweep without dotted names never pays for this. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/csv.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/xmalloc.h"

/* Output is flushed to the FILE in chunks of about this size. */
#define CSV_CHUNK	(1024 * 1024)

void
csv_add_cell(struct buf *b, const char *s, size_t len)
{
	const char *p, *q, *end = s + len;

	for (p = s; p < end; p++) {
		if (*p == ',' || *p == '"' || *p == '\r' || *p == '\n')
			break;
	}
	if (p == end) {
		buf_add(b, s, len);
		return;
	}
	buf_addc(b, '"');
	for (p = s; (q = memchr(p, '"', (size_t)(end - p))) != NULL; p = q + 1) {
		buf_add(b, p, (size_t)(q - p) + 1);
		buf_addc(b, '"');
	}
	buf_add(b, p, (size_t)(end - p));
	buf_addc(b, '"');
}

void
csv_add_double(struct buf *b, double d)
{
	char tmp[32];

	if (isnan(d))
		return;
	format_double(tmp, d);
	buf_adds(b, tmp);
}

/* What the scanner found for one column. */
enum span_kind {
	SPAN_MISSING,	/* the key is absent: empty cell */
	SPAN_NULL,	/* JSON null: empty cell */
	SPAN_RAW,	/* number, true, false, array or object: the JSON text itself */
	SPAN_STRING,	/* string: the text between the quotes, still escaped */
};

struct span {
	enum span_kind	 kind;
	bool		 escaped;	/* SPAN_STRING holds a backslash */
	const char	*p;
	size_t		 len;
};

/* Expected keys of one JSON object column (param or metric names, in column order). */
struct keyset {
	char	**names;
	size_t	*lens;
	size_t	 n;
	bool	 dotted;	/* some name has a '.': it may be a nested parameter */
};

/* Nested objects the scanner descends into; deeper ones are the slow path's. */
#define SCAN_MAX_DEPTH	16

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Scans a string starting after its opening quote; returns the closing quote or NULL. */
static const char *
scan_string(const char *p, const char *end, bool *escaped)
{
	*escaped = false;
	while (p < end) {
		if (*p == '"')
			return p;
		if (*p == '\\') {
			*escaped = true;
			p++;
		}
		p++;
	}
	return NULL;
}

/* Scans an array or object starting at its bracket; returns the byte after its end. */
static const char *
scan_nested(const char *p, const char *end)
{
	int depth = 0;
	bool escaped;

	for (; p < end; p++) {
		if (*p == '"') {
			if ((p = scan_string(p + 1, end, &escaped)) == NULL)
				return NULL;
		} else if (*p == '[' || *p == '{')
			depth++;
		else if (*p == ']' || *p == '}') {
			if (--depth == 0)
				return p + 1;
		}
	}
	return NULL;
}

/* Index of key among the expected names, trying `hint` (the next in order) first. */
static size_t
keyset_find(const struct keyset *ks, const char *key, size_t len, size_t hint)
{
	size_t i;

	if (hint < ks->n && ks->lens[hint] == len && memcmp(ks->names[hint], key, len) == 0)
		return hint;
	for (i = 0; i < ks->n; i++) {
		if (ks->lens[i] == len && memcmp(ks->names[i], key, len) == 0)
			return i;
	}
	return ks->n;
}

/* Whether some name of ks begins with the key path prefix followed by '.'. */
static bool
keyset_has_group(const struct keyset *ks, const char *prefix, size_t len)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (ks->lens[i] > len && ks->names[i][len] == '.' &&
		    memcmp(ks->names[i], prefix, len) == 0)
			return true;
	return false;
}

/* Walks the JSON object at p (its '{'), filling spans[i] for each expected key; path holds
 * the key path of the object (empty at the top). Returns the byte after the object, or NULL
 * when the text is not a plain object this scanner handles. */
static const char *
scan_obj(const char *p, const char *end, const struct keyset *ks, struct span *spans,
    struct buf *path, int depth)
{
	const char *key, *v, *name;
	size_t klen, nlen, idx, next = 0, mark = path->len;
	bool escaped;

	if (p == end || *p++ != '{')
		return NULL;
	p = skip_ws(p, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		if (p == end || *p != '"')
			return NULL;
		key = p + 1;
		if ((p = scan_string(key, end, &escaped)) == NULL || escaped)
			return NULL;
		klen = (size_t)(p - key);
		p = skip_ws(p + 1, end);
		if (p == end || *p != ':')
			return NULL;
		v = p = skip_ws(p + 1, end);
		if (p == end)
			return NULL;
		name = key;
		nlen = klen;
		if (depth > 0) {
			path->len = mark;
			buf_addc(path, '.');
			buf_add(path, key, klen);
			name = path->data;
			nlen = path->len;
		}
		idx = keyset_find(ks, name, nlen, next);
		if (idx < ks->n)
			next = idx + 1;
		if (*p == '"') {
			if ((p = scan_string(p + 1, end, &escaped)) == NULL)
				return NULL;
			if (idx < ks->n)
				spans[idx] = (struct span){ SPAN_STRING, escaped, v + 1,
				    (size_t)(p - v - 1) };
			p++;
		} else if (*p == '{' && idx == ks->n && ks->dotted &&
		    depth + 1 < SCAN_MAX_DEPTH && keyset_has_group(ks, name, nlen)) {
			/* a group of nested parameters: its members are columns */
			if (depth == 0) {
				buf_reset(path);
				buf_add(path, key, klen);
			}
			if ((p = scan_obj(p, end, ks, spans, path, depth + 1)) == NULL)
				return NULL;
		} else if (*p == '[' || *p == '{') {
			if ((p = scan_nested(p, end)) == NULL)
				return NULL;
			if (idx < ks->n)
				spans[idx] = (struct span){ SPAN_RAW, false, v, (size_t)(p - v) };
		} else {
			while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' &&
			    *p != '\n' && *p != '\r')
				p++;
			if (p == v)
				return NULL;
			if (idx < ks->n) {
				if (p - v == 4 && memcmp(v, "null", 4) == 0)
					spans[idx] = (struct span){ SPAN_NULL, false, v, 0 };
				else
					spans[idx] = (struct span){ SPAN_RAW, false, v,
					    (size_t)(p - v) };
			}
		}
		path->len = mark;
		if (path->data != NULL)
			path->data[mark] = '\0';
		p = skip_ws(p, end);
		if (p == end)
			return NULL;
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = skip_ws(p, end);
	}
}

/* Walks one JSON object, filling spans[i] for each expected key. False when the text is not
 * a plain object this scanner handles (the caller then asks jansson). */
static bool
scan_object(const char *p, size_t len, const struct keyset *ks, struct span *spans,
    struct buf *path)
{
	const char *end = p + len;

	memset(spans, 0, ks->n * sizeof *spans);
	buf_reset(path);
	p = skip_ws(p, end);
	if ((p = scan_obj(p, end, ks, spans, path, 0)) == NULL)
		return false;
	return skip_ws(p, end) == end;
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

/* Reads 4 hex digits; -1 if they are not. */
static long
hex4(const char *p, const char *end)
{
	long v = 0;
	int i, h;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((h = hexval(p[i])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static void
add_utf8(struct buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_add(b, u, n);
}

/* Decodes the escapes of a JSON string body into out (reset first). A lone surrogate
 * becomes U+FFFD, as a JSON decoder that must produce UTF-8 does. False on a bad escape. */
static bool
json_unescape(const char *p, size_t len, struct buf *out)
{
	const char *end = p + len, *run;
	long cp, lo;

	buf_reset(out);
	buf_reserve(out, len);
	while (p < end) {
		for (run = p; p < end && *p != '\\'; p++)
			;
		buf_add(out, run, (size_t)(p - run));
		if (p == end)
			break;
		if (++p == end)
			return false;
		switch (*p++) {
		case '"':
			buf_addc(out, '"');
			break;
		case '\\':
			buf_addc(out, '\\');
			break;
		case '/':
			buf_addc(out, '/');
			break;
		case 'b':
			buf_addc(out, '\b');
			break;
		case 'f':
			buf_addc(out, '\f');
			break;
		case 'n':
			buf_addc(out, '\n');
			break;
		case 'r':
			buf_addc(out, '\r');
			break;
		case 't':
			buf_addc(out, '\t');
			break;
		case 'u':
			if ((cp = hex4(p, end)) < 0)
				return false;
			p += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' &&
			    p[1] == 'u' && (lo = hex4(p + 2, end)) >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
			add_utf8(out, (unsigned long)cp);
			break;
		default:
			return false;
		}
	}
	return true;
}

/* Appends the cells of an object column from the scanner's spans. */
static bool
add_span_cells(struct buf *b, const struct span *spans, size_t n, struct buf *tmp)
{
	size_t i;

	for (i = 0; i < n; i++) {
		buf_addc(b, ',');
		switch (spans[i].kind) {
		case SPAN_MISSING:
		case SPAN_NULL:
			break;
		case SPAN_RAW:
			csv_add_cell(b, spans[i].p, spans[i].len);
			break;
		case SPAN_STRING:
			if (!spans[i].escaped)
				csv_add_cell(b, spans[i].p, spans[i].len);
			else if (json_unescape(spans[i].p, spans[i].len, tmp))
				csv_add_cell(b, tmp->data, tmp->len);
			else
				return false;
			break;
		}
	}
	return true;
}

/* The value at a column's name: the key itself, else, for a dotted name, the member of a
 * nested object ("optimizer.lr" is o["optimizer"]["lr"], or o["optimizer.lr"]). */
static json_t *
json_get_column(json_t *o, const char *name)
{
	const char *dot;
	json_t *v, *sub;

	if (!json_is_object(o))
		return NULL;
	if ((v = json_object_get(o, name)) != NULL)
		return v;
	for (dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
		sub = json_object_getn(o, name, (size_t)(dot - name));
		if (json_is_object(sub) && (v = json_get_column(sub, dot + 1)) != NULL)
			return v;
	}
	return NULL;
}

/* The slow path for one object column: jansson lookups, one per expected key. */
static void
add_json_cells(struct buf *b, const char *text, size_t len, const struct keyset *ks)
{
	json_t *o = text != NULL ? json_loadb(text, len, 0, NULL) : NULL, *v;
	char num[32], *dump;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		buf_addc(b, ',');
		v = ks->dotted ? json_get_column(o, ks->names[i]) :
		    json_is_object(o) ? json_object_get(o, ks->names[i]) : NULL;
		if (v == NULL)
			continue;
		switch (json_typeof(v)) {
		case JSON_STRING:
			csv_add_cell(b, json_string_value(v), json_string_length(v));
			break;
		case JSON_INTEGER:
			buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			break;
		case JSON_REAL:
			format_double(num, json_real_value(v));
			buf_adds(b, num);
			break;
		case JSON_TRUE:
			buf_add(b, "true", 4);
			break;
		case JSON_FALSE:
			buf_add(b, "false", 5);
			break;
		case JSON_ARRAY:
		case JSON_OBJECT:
			dump = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
			if (dump != NULL)
				csv_add_cell(b, dump, strlen(dump));
			free(dump);
			break;
		default:	/* null */
			break;
		}
	}
	json_decref(o);
}

/* Appends one object column's cells: the fast scanner, else jansson. */
static void
add_object_cells(struct buf *b, const char *text, size_t len, const struct keyset *ks,
    struct span *spans, struct buf *tmp)
{
	size_t mark = b->len, i;

	if (text == NULL) {
		for (i = 0; i < ks->n; i++)
			buf_addc(b, ',');
		return;
	}
	/* tmp is free until add_span_cells needs it: it holds the scanner's key path */
	if (scan_object(text, len, ks, spans, tmp) && add_span_cells(b, spans, ks->n, tmp))
		return;
	b->len = mark;
	add_json_cells(b, text, len, ks);
}

static void
keyset_free(struct keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		free(ks->names[i]);
	free(ks->names);
	free(ks->lens);
	memset(ks, 0, sizeof *ks);
}

/* Loads a stored JSON array of names. */
static int
keyset_load(struct keyset *ks, const char *json, const char *what, char **cause)
{
	json_t *a = json_loads(json != NULL ? json : "[]", 0, NULL), *v;
	size_t i;

	memset(ks, 0, sizeof *ks);
	if (!json_is_array(a)) {
		json_decref(a);
		*cause = xasprintf("the stored %s are not a JSON array", what);
		return -1;
	}
	ks->names = xcalloc(json_array_size(a) + 1, sizeof *ks->names);
	ks->lens = xcalloc(json_array_size(a) + 1, sizeof *ks->lens);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			continue;
		ks->names[ks->n] = xstrdup(json_string_value(v));
		ks->lens[ks->n] = strlen(ks->names[ks->n]);
		if (strchr(ks->names[ks->n], '.') != NULL)
			ks->dotted = true;
		ks->n++;
	}
	json_decref(a);
	return 0;
}

/* Reads the column names of a sweep. */
static int
load_columns(struct store *st, int64_t sweep_id, struct keyset *params,
    struct keyset *metrics, char **cause)
{
	sqlite3_stmt *stmt;
	int rc;

	stmt = store_stmt(st, "SELECT param_names, metric_names FROM sweeps WHERE id = ?", cause);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	rc = store_step_row(st, stmt, "reading a sweep", cause);
	if (rc <= 0) {
		if (rc == 0)
			*cause = xasprintf("no sweep %lld", (long long)sweep_id);
		return -1;
	}
	rc = keyset_load(params, (const char *)sqlite3_column_text(stmt, 0), "parameter names",
	    cause);
	if (rc == 0)
		rc = keyset_load(metrics, (const char *)sqlite3_column_text(stmt, 1),
		    "metric names", cause);
	sqlite3_reset(stmt);
	return rc;
}

/* Appends a decimal integer without going through printf: called four times a row. */
static void
add_int(struct buf *b, long long v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

static void
add_time_cell(struct buf *b, sqlite3_stmt *stmt, int col)
{
	char iso[32];

	buf_addc(b, ',');
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return;
	format_iso8601(iso, sqlite3_column_double(stmt, col), false);
	buf_adds(b, iso);
}

static void
add_header(struct buf *b, const struct keyset *params, const struct keyset *metrics)
{
	size_t i;

	buf_adds(b, "trial_id,state,attempts,preemptions");
	for (i = 0; i < params->n; i++) {
		buf_addc(b, ',');
		csv_add_cell(b, params->names[i], params->lens[i]);
	}
	for (i = 0; i < metrics->n; i++) {
		buf_addc(b, ',');
		csv_add_cell(b, metrics->names[i], metrics->lens[i]);
	}
	buf_adds(b, ",runtime_s,gpu_hours,cost_usd,last_pool,started_at,finished_at\r\n");
}

static int
flush_out(struct buf *b, FILE *out, char **cause)
{
	if (b->len > 0 && fwrite(b->data, 1, b->len, out) != b->len) {
		*cause = xasprintf("writing the CSV: %s", strerror(errno));
		return -1;
	}
	buf_reset(b);
	return 0;
}

int
csv_export_sweep(struct store *st, int64_t sweep_id, FILE *out, char **cause)
{
	struct keyset params, metrics;
	struct span *spans = NULL;
	struct buf b = { 0 }, tmp = { 0 };
	sqlite3_stmt *stmt;
	int rc = -1, step;

	memset(&params, 0, sizeof params);
	memset(&metrics, 0, sizeof metrics);
	if (load_columns(st, sweep_id, &params, &metrics, cause) != 0)
		goto out;
	spans = xcalloc(params.n + metrics.n + 1, sizeof *spans);
	stmt = store_stmt(st, "SELECT id, state, attempts, preemptions, params, last_metrics,"
	    " runtime_s, gpu_hours, cost_usd, last_pool, started_at, finished_at"
	    " FROM trials WHERE sweep_id = ? ORDER BY id", cause);
	if (stmt == NULL)
		goto out;
	sqlite3_bind_int64(stmt, 1, sweep_id);
	buf_reserve(&b, CSV_CHUNK + 64 * 1024);
	add_header(&b, &params, &metrics);
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *pool;

		add_int(&b, sqlite3_column_int64(stmt, 0));
		buf_addc(&b, ',');
		buf_add(&b, sqlite3_column_text(stmt, 1), (size_t)sqlite3_column_bytes(stmt, 1));
		buf_addc(&b, ',');
		add_int(&b, sqlite3_column_int64(stmt, 2));
		buf_addc(&b, ',');
		add_int(&b, sqlite3_column_int64(stmt, 3));
		add_object_cells(&b, (const char *)sqlite3_column_text(stmt, 4),
		    (size_t)sqlite3_column_bytes(stmt, 4), &params, spans, &tmp);
		add_object_cells(&b, (const char *)sqlite3_column_text(stmt, 5),
		    (size_t)sqlite3_column_bytes(stmt, 5), &metrics, spans, &tmp);
		buf_addc(&b, ',');
		csv_add_double(&b, sqlite3_column_double(stmt, 6));
		buf_addc(&b, ',');
		csv_add_double(&b, sqlite3_column_double(stmt, 7));
		buf_addc(&b, ',');
		csv_add_double(&b, sqlite3_column_double(stmt, 8));
		buf_addc(&b, ',');
		if ((pool = (const char *)sqlite3_column_text(stmt, 9)) != NULL)
			csv_add_cell(&b, pool, (size_t)sqlite3_column_bytes(stmt, 9));
		add_time_cell(&b, stmt, 10);
		add_time_cell(&b, stmt, 11);
		buf_add(&b, "\r\n", 2);
		if (b.len >= CSV_CHUNK && flush_out(&b, out, cause) != 0) {
			sqlite3_reset(stmt);
			goto out;
		}
	}
	sqlite3_reset(stmt);
	if (step != SQLITE_DONE) {
		store_error(st, "reading trials", cause);
		goto out;
	}
	if (flush_out(&b, out, cause) != 0)
		goto out;
	if (fflush(out) != 0) {
		*cause = xasprintf("writing the CSV: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(spans);
	buf_free(&b);
	buf_free(&tmp);
	keyset_free(&params);
	keyset_free(&metrics);
	return rc;
}
