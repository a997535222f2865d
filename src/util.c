/* Shared helpers: growable buffers, checked number parsing, exact double formatting, shell
 * quoting, clocks and ISO 8601 times, edit distance for suggestions, bounded file reading. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

void
buf_reserve(struct buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		abort();
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 64;
	while (b->cap < need)
		b->cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
	b->data = xrealloc(b->data, b->cap);
	b->data[b->len] = '\0';
}

void
buf_add(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	size_t room;
	int n;

	/* Try the room there is first; most messages fit, and it avoids formatting twice. */
	buf_reserve(b, 64);
	room = b->cap - b->len;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= room) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_steal(struct buf *b)
{
	char *s;

	if (b->data == NULL)
		return xstrdup("");
	s = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

void
buf_add_printable(struct buf *b, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\x%02x", *p);
		else
			buf_addc(b, (char)*p);
	}
}

bool
safe_strtoll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

bool
safe_strtol(const char *s, long *out)
{
	long long v;

	if (!safe_strtoll(s, &v) || v < LONG_MIN || v > LONG_MAX)
		return false;
	*out = (long)v;
	return true;
}

bool
safe_strtoul(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	/* strtoul accepts "-1" and wraps it; a count never starts with a sign. */
	if (s == NULL || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

bool
safe_strtod(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
		return false;
	if (*end != '\0' || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* Integers print faster by hand than through printf, and most sweep values are integers. */
static size_t
format_int64(char *out, long long v)
{
	char tmp[24];
	size_t n = 0, i;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	i = 0;
	if (v < 0)
		out[i++] = '-';
	while (n > 0)
		out[i++] = tmp[--n];
	out[i] = '\0';
	return i;
}

void
format_double(char out[32], double d)
{
	int prec;

	if (isnan(d)) {
		memcpy(out, "nan", 4);
		return;
	}
	if (isinf(d)) {
		memcpy(out, d < 0 ? "-inf" : "inf", d < 0 ? 5 : 4);
		return;
	}
	if (d == floor(d) && fabs(d) < 9007199254740992.0) {
		if (d == 0 && signbit(d))
			memcpy(out, "-0", 3);
		else
			format_int64(out, (long long)d);
		return;
	}
	/* The shortest of 15, 16, 17 significant digits that reads back exactly. */
	for (prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, d);
		if (prec == 17 || strtod(out, NULL) == d)
			return;
	}
}

void
buf_add_double(struct buf *b, double d)
{
	char tmp[32];

	if (!isfinite(d)) {
		buf_add(b, "null", 4);
		return;
	}
	format_double(tmp, d);
	buf_adds(b, tmp);
}

void
buf_add_shell_quoted(struct buf *b, const char *s)
{
	buf_addc(b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			buf_add(b, "'\\''", 4);
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '\'');
}

double
now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
format_iso8601(char out[32], double epoch, bool with_millis)
{
	struct tm tm;
	time_t t;
	size_t n;
	long ms;

	out[0] = '\0';
	if (!(epoch > 0) || !isfinite(epoch))
		return;
	t = (time_t)floor(epoch);
	ms = (long)((epoch - (double)t) * 1000.0);
	if (ms > 999)
		ms = 999;
	if (gmtime_r(&t, &tm) == NULL)
		return;
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return;
	if (with_millis)
		snprintf(out + n, 32 - n, ".%03ldZ", ms);
	else
		snprintf(out + n, 32 - n, "Z");
}

/* Reads exactly n digits at *p into *v, advancing *p. */
static bool
take_digits(const char **p, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

bool
parse_iso8601(const char *s, double *epoch)
{
	struct tm tm;
	const char *p = s;
	int year, mon, day, hour = 0, min = 0, sec = 0, oh, om, sign;
	double frac = 0, off = 0;
	time_t t;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!take_digits(&p, 4, &year) || *p++ != '-' || !take_digits(&p, 2, &mon) ||
	    *p++ != '-' || !take_digits(&p, 2, &day))
		return false;
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1])
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!take_digits(&p, 2, &hour) || *p++ != ':' || !take_digits(&p, 2, &min))
			return false;
		if (*p == ':') {
			p++;
			if (!take_digits(&p, 2, &sec))
				return false;
			if (*p == '.') {
				double scale = 0.1;

				p++;
				if (!isdigit((unsigned char)*p))
					return false;
				while (isdigit((unsigned char)*p)) {
					frac += (*p++ - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (hour > 23 || min > 59 || sec > 60)
			return false;
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (*p == '+' || *p == '-') {
			sign = *p++ == '-' ? -1 : 1;
			if (!take_digits(&p, 2, &oh))
				return false;
			if (*p == ':')
				p++;
			if (!take_digits(&p, 2, &om) || oh > 23 || om > 59)
				return false;
			off = sign * (oh * 3600.0 + om * 60.0);
		}
	}
	if (*p != '\0')
		return false;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (tm.tm_mday != day)
		return false;	/* 2026-02-30 normalised into March */
	*epoch = (double)t + frac - off;
	return true;
}

size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, *row, prev, tmp, best;

	row = xcalloc(lb + 1, sizeof *row);
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (a[i - 1] == b[j - 1] ? 0 : 1);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	best = row[lb];
	free(row);
	return best;
}

int
read_file(const char *path, size_t max_bytes, char **out, size_t *outlen, char **cause)
{
	struct buf b = { 0 };
	char chunk[65536];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*cause = xasprintf("cannot open %s: %s", path,
		    errno == ENOENT ? "no such file" : strerror(errno));
		return -1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max_bytes) {
			*cause = xasprintf("%s: larger than %zu bytes", path, max_bytes);
			goto fail;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (outlen != NULL)
		*outlen = b.len;
	*out = buf_steal(&b);
	return 0;
fail:
	close(fd);
	buf_free(&b);
	return -1;
}
