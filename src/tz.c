/* Time zones read from the system tz database. A TZif file (RFC 8536) is a table of
 * transition instants, each naming a local time type (UTC offset, DST flag), and, from
 * version 2 on, a POSIX TZ string that governs every instant after the last transition. Both
 * are loaded once into a struct tz; looking up an instant is a binary search or a little
 * calendar arithmetic, without touching TZ, tzset() or any other process-wide state, so that
 * the scheduler can evaluate rules in several zones at once, as often as it likes.
 *
 * Leap-second records (the "right/" zones) are skipped: spotsweep's clocks are POSIX time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spotsweep/tz.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define TZ_DEFAULT_DIR	"/usr/share/zoneinfo"
#define TZ_MAX_FILE	(1024 * 1024)
#define TZ_MAX_NAME	255

/* One end of daylight saving time in a POSIX TZ string. */
struct posix_rule {
	char	 kind;		/* 'J': Jn (1..365, no Feb 29), 'D': n (0..365), 'M': Mm.w.d */
	int	 n, m, w, d;
	long	 time;		/* local seconds after midnight (may be negative or > 24 h) */
};

struct posix_tz {
	bool			 valid;
	long			 std_off;	/* seconds east of UTC */
	bool			 has_dst;
	long			 dst_off;
	struct posix_rule	 start, end;
};

struct tz {
	char		*name;
	int64_t		*trans;		/* transition instants, ascending */
	unsigned char	*trans_type;
	size_t		 ntrans;
	long		*type_off;
	bool		*type_dst;
	size_t		 ntypes;
	struct posix_tz	 footer;
};

int64_t
tz_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *year, int *month, int *day)
{
	int64_t era, doe, yoe, y, doy, mp, d, m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	*year = (int)(y + (m <= 2));
	*month = (int)m;
	*day = (int)d;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Epoch day on which a rule falls in year y. */
static int64_t
rule_day(int64_t y, const struct posix_rule *r)
{
	int64_t jan1 = tz_days_from_civil(y, 1, 1), first;
	int wd1, day;

	switch (r->kind) {
	case 'J':
		return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
	case 'D':
		return jan1 + r->n;
	default:
		first = tz_days_from_civil(y, r->m, 1);
		wd1 = (int)((first % 7 + 11) % 7);	/* 1970-01-01 was a Thursday (4) */
		day = 1 + (r->d - wd1 + 7) % 7 + (r->w - 1) * 7;
		while (day > month_days(y, r->m))
			day -= 7;
		return first + day - 1;
	}
}

static long
posix_utoff(const struct posix_tz *p, int64_t t, bool *isdst)
{
	int64_t start, end;
	int y, m, d;
	bool dst;

	if (!p->has_dst) {
		*isdst = false;
		return p->std_off;
	}
	civil_from_days(floor_div(t + p->std_off, 86400), &y, &m, &d);
	start = rule_day(y, &p->start) * 86400 + p->start.time - p->std_off;
	end = rule_day(y, &p->end) * 86400 + p->end.time - p->dst_off;
	if (start < end)
		dst = t >= start && t < end;
	else
		dst = !(t >= end && t < start);	/* southern hemisphere: DST spans new year */
	*isdst = dst;
	return dst ? p->dst_off : p->std_off;
}

/* Parses a zone abbreviation: alphabetic (3 or more) or <quoted>. */
static bool
parse_abbr(const char **s)
{
	const char *p = *s;

	if (*p == '<') {
		while (*p != '\0' && *p != '>')
			p++;
		if (*p != '>' || p - *s < 4)
			return false;
		*s = p + 1;
		return true;
	}
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
		p++;
	if (p - *s < 3)
		return false;
	*s = p;
	return true;
}

/* Parses [+-]hh[:mm[:ss]] with hours up to max_h into seconds. */
static bool
parse_hms(const char **s, int max_h, long *out)
{
	const char *p = *s;
	long sign = 1, part[3] = { 0, 0, 0 };
	int i, digits;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	for (i = 0; i < 3; i++) {
		if (i > 0) {
			if (*p != ':')
				break;
			p++;
		}
		for (digits = 0; *p >= '0' && *p <= '9' && digits < 3; digits++)
			part[i] = part[i] * 10 + (*p++ - '0');
		if (digits == 0 || (i > 0 && (digits != 2 || part[i] > 59)))
			return false;
	}
	if (part[0] > max_h)
		return false;
	*out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	*s = p;
	return true;
}

static bool
parse_num(const char **s, int min, int max, int *out)
{
	const char *p = *s;
	long v = 0;

	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9' && v <= max)
		v = v * 10 + (*p++ - '0');
	if (v < min || v > max)
		return false;
	*out = (int)v;
	*s = p;
	return true;
}

static bool
parse_rule(const char **s, struct posix_rule *r)
{
	const char *p = *s;

	memset(r, 0, sizeof *r);
	if (*p == 'J') {
		p++;
		r->kind = 'J';
		if (!parse_num(&p, 1, 365, &r->n))
			return false;
	} else if (*p == 'M') {
		p++;
		r->kind = 'M';
		if (!parse_num(&p, 1, 12, &r->m) || *p++ != '.' || !parse_num(&p, 1, 5, &r->w) ||
		    *p++ != '.' || !parse_num(&p, 0, 6, &r->d))
			return false;
	} else {
		r->kind = 'D';
		if (!parse_num(&p, 0, 365, &r->n))
			return false;
	}
	r->time = 7200;
	if (*p == '/') {
		p++;
		if (!parse_hms(&p, 167, &r->time))
			return false;
	}
	*s = p;
	return true;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]; an empty string is "no footer". */
static bool
parse_posix(const char *s, struct posix_tz *p)
{
	long off;

	memset(p, 0, sizeof *p);
	if (*s == '\0')
		return true;
	if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
		return false;
	p->std_off = -off;
	if (*s != '\0') {
		if (!parse_abbr(&s))
			return false;
		p->has_dst = true;
		p->dst_off = p->std_off + 3600;
		if (*s != ',' && *s != '\0') {
			if (!parse_hms(&s, 24, &off))
				return false;
			p->dst_off = -off;
		}
		if (*s == '\0') {
			/* No rules: the US rules, as glibc assumes. */
			p->start = (struct posix_rule){ 'M', 0, 3, 2, 0, 7200 };
			p->end = (struct posix_rule){ 'M', 0, 11, 1, 0, 7200 };
		} else {
			s++;
			if (!parse_rule(&s, &p->start) || *s++ != ',' || !parse_rule(&s, &p->end))
				return false;
		}
	}
	if (*s != '\0')
		return false;
	p->valid = true;
	return true;
}

int
tz_from_posix(const char *spec, struct tz **out, char **cause)
{
	struct tz *z;

	z = xcalloc(1, sizeof *z);
	if (*spec == '\0' || !parse_posix(spec, &z->footer)) {
		*cause = xasprintf("bad POSIX TZ string \"%s\"", spec);
		free(z);
		return -1;
	}
	z->name = xstrdup(spec);
	*out = z;
	return 0;
}

static uint64_t
be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Reads one TZif data block (4- or 8-byte times) at data[off...], its header at off. Sets
 * *end to the offset after the block. */
static bool
read_block(struct tz *z, const unsigned char *data, size_t len, size_t off, int tsize,
    size_t *end)
{
	uint64_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt, need;
	const unsigned char *p;
	size_t i;

	if (len < off + 44 || memcmp(data + off, "TZif", 4) != 0)
		return false;
	isutcnt = be(data + off + 20, 4);
	isstdcnt = be(data + off + 24, 4);
	leapcnt = be(data + off + 28, 4);
	timecnt = be(data + off + 32, 4);
	typecnt = be(data + off + 36, 4);
	charcnt = be(data + off + 40, 4);
	if (typecnt == 0 || typecnt > 256 || timecnt > TZ_MAX_FILE || charcnt > TZ_MAX_FILE ||
	    leapcnt > TZ_MAX_FILE || isutcnt > typecnt || isstdcnt > typecnt)
		return false;
	need = timecnt * (uint64_t)tsize + timecnt + typecnt * 6 + charcnt +
	    leapcnt * (uint64_t)(tsize + 4) + isstdcnt + isutcnt;
	if (len - off - 44 < need)
		return false;
	p = data + off + 44;
	free(z->trans);
	free(z->trans_type);
	free(z->type_off);
	free(z->type_dst);
	z->trans = xcalloc(timecnt + 1, sizeof *z->trans);
	z->trans_type = xcalloc(timecnt + 1, 1);
	z->type_off = xcalloc(typecnt, sizeof *z->type_off);
	z->type_dst = xcalloc(typecnt, sizeof *z->type_dst);
	z->ntrans = (size_t)timecnt;
	z->ntypes = (size_t)typecnt;
	for (i = 0; i < timecnt; i++, p += tsize) {
		uint64_t v = be(p, tsize);

		z->trans[i] = tsize == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
		if (i > 0 && z->trans[i] <= z->trans[i - 1])
			return false;
	}
	for (i = 0; i < timecnt; i++, p++) {
		if (*p >= typecnt)
			return false;
		z->trans_type[i] = *p;
	}
	for (i = 0; i < typecnt; i++, p += 6) {
		z->type_off[i] = (long)(int32_t)(uint32_t)be(p, 4);
		z->type_dst[i] = p[4] != 0;
		if (p[5] >= charcnt && charcnt > 0)
			return false;
	}
	*end = off + 44 + (size_t)need;
	return true;
}

int
tz_from_tzif(const char *name, const unsigned char *data, size_t len, struct tz **out,
    char **cause)
{
	struct tz *z = xcalloc(1, sizeof *z);
	size_t end;
	char *footer;
	const unsigned char *nl;

	z->name = xstrdup(name);
	if (!read_block(z, data, len, 0, 4, &end))
		goto bad;
	if (data[4] >= '2') {
		if (!read_block(z, data, len, end, 8, &end))
			goto bad;
		/* The footer: "\n" POSIX-TZ "\n". */
		if (end >= len || data[end] != '\n')
			goto bad;
		nl = memchr(data + end + 1, '\n', len - end - 1);
		if (nl == NULL)
			goto bad;
		footer = xstrndup((const char *)data + end + 1, (size_t)(nl - data - end - 1));
		if (!parse_posix(footer, &z->footer)) {
			free(footer);
			goto bad;
		}
		free(footer);
	}
	*out = z;
	return 0;
bad:
	*cause = xasprintf("time zone \"%s\": not a valid TZif file", name);
	tz_free(z);
	return -1;
}

/* IANA names are relative paths of letters, digits and "/_+-."; nothing may climb out. */
static bool
valid_name(const char *name)
{
	const char *p;

	if (*name == '\0' || *name == '/' || strlen(name) > TZ_MAX_NAME)
		return false;
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/_+-.", *p) != NULL))
			return false;
		if (*p == '.' && (p == name || p[-1] == '/'))
			return false;	/* no ".", "..", nor hidden files */
	}
	return true;
}

int
tz_load(const char *name, struct tz **out, char **cause)
{
	const char *dir = getenv("TZDIR");
	char *path, *text = NULL, *err = NULL;
	struct stat sb;
	size_t len;
	int rc;

	if (dir == NULL || *dir == '\0')
		dir = TZ_DEFAULT_DIR;
	if (!valid_name(name)) {
		*cause = xasprintf("\"%s\" is not a time zone name (expected an IANA name such as "
		    "\"America/New_York\")", name);
		return -1;
	}
	path = xasprintf("%s/%s", dir, name);
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		bool missing_db = stat(dir, &sb) != 0;

		free(path);
		if (missing_db && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)) {
			/* UTC needs no database. */
			rc = tz_from_posix("UTC0", out, cause);
			if (rc == 0) {
				free((*out)->name);
				(*out)->name = xstrdup(name);
			}
			return rc;
		}
		if (missing_db)
			*cause = xasprintf("unknown time zone \"%s\": no tz database in %s "
			    "(install tzdata)", name, dir);
		else
			*cause = xasprintf("unknown time zone \"%s\" (not in %s)", name, dir);
		return -1;
	}
	if (read_file(path, TZ_MAX_FILE, &text, &len, &err) != 0) {
		*cause = xasprintf("time zone \"%s\": %s", name, err);
		free(err);
		free(path);
		return -1;
	}
	free(path);
	rc = tz_from_tzif(name, (const unsigned char *)text, len, out, cause);
	free(text);
	return rc;
}

void
tz_free(struct tz *z)
{
	if (z == NULL)
		return;
	free(z->type_dst);
	free(z->type_off);
	free(z->trans_type);
	free(z->trans);
	free(z->name);
	free(z);
}

const char *
tz_name(const struct tz *z)
{
	return z != NULL ? z->name : "UTC";
}

long
tz_utoff(const struct tz *z, int64_t t, bool *isdst)
{
	size_t lo, hi, mid;
	bool dst_dummy;

	if (isdst == NULL)
		isdst = &dst_dummy;
	*isdst = false;
	if (z == NULL)
		return 0;
	if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
		if (z->footer.valid)
			return posix_utoff(&z->footer, t, isdst);
		if (z->ntrans == 0) {
			if (z->ntypes == 0)
				return 0;
			*isdst = z->type_dst[0];
			return z->type_off[0];
		}
	}
	if (t < z->trans[0]) {
		*isdst = z->type_dst[0];
		return z->type_off[0];
	}
	/* The last transition at or before t. */
	lo = 0;
	hi = z->ntrans;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	*isdst = z->type_dst[z->trans_type[lo]];
	return z->type_off[z->trans_type[lo]];
}

void
tz_localtime(const struct tz *z, int64_t t, struct tz_local *out)
{
	int64_t local, days;

	memset(out, 0, sizeof *out);
	out->utoff = tz_utoff(z, t, &out->isdst);
	local = t + out->utoff;
	days = floor_div(local, 86400);
	out->minute = (int)((local - days * 86400) / 60);
	out->wday = (int)(((days % 7) + 11) % 7);
	civil_from_days(days, &out->year, &out->month, &out->day);
}
