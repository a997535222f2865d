/* Logging for the long-running processes (serve, agent) and the CLI's one-line errors.
 * Control characters in messages are escaped so that user input cannot forge log lines. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "spotsweep/log.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

enum log_level log_threshold = LOG_INFO;
static const char *program = "spotsweep";

static const char *level_names[LOG_LEVEL_MAX] = { "debug", "info", "warn", "error" };

void
log_set_program(const char *name)
{
	program = name;
}

const char *
log_program(void)
{
	return program;
}

void
log_init_from_env(void)
{
	const char *v = getenv("SPOTSWEEP_LOG");
	int i;

	if (v == NULL)
		return;
	for (i = 0; i < LOG_LEVEL_MAX; i++) {
		if (strcmp(v, level_names[i]) == 0)
			log_threshold = (enum log_level)i;
	}
}

/* Appends msg with control characters (other than tab) escaped as \xNN. */
static void
add_escaped(struct buf *b, const char *msg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			buf_printf(b, "\\x%02x", *p);
		else
			buf_addc(b, (char)*p);
	}
}

/* stderr is unbuffered: a line is built whole and written with one call, so that a log line
 * costs one write(2) and lines of concurrent processes do not interleave mid-line. */
static void
write_line(const struct buf *b)
{
	fwrite(b->data, 1, b->len, stderr);
}

/* The "2026-12-01T05:21:30" part of a stamp, formatted again only when the second changes:
 * gmtime and strftime on every line were ~1% of the scheduler's CPU (a line per finish). */
static const char *
stamp_seconds(time_t sec)
{
	static __thread time_t cached_sec = -1;
	static __thread char cached[32];
	struct tm tm;

	if (sec != cached_sec) {
		gmtime_r(&sec, &tm);
		strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	return cached;
}

void
log_write(enum log_level level, const char *fmt, ...)
{
	struct timeval tv;
	struct buf b = { 0 };
	va_list ap;
	char small[512], *msg = small;
	int n;

	if (level < log_threshold)
		return;
	gettimeofday(&tv, NULL);
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof small) {
		va_start(ap, fmt);
		msg = xvasprintf(fmt, ap);
		va_end(ap);
	} else if (n < 0)
		small[0] = '\0';
	buf_printf(&b, "%s.%03ldZ %s %s: ", stamp_seconds(tv.tv_sec),
	    (long)(tv.tv_usec / 1000), program, level_names[level]);
	add_escaped(&b, msg);
	buf_addc(&b, '\n');
	write_line(&b);
	buf_free(&b);
	if (msg != small)
		free(msg);
}

static void
vmessage(const char *fmt, va_list ap)
{
	struct buf b = { 0 };
	char *msg = xvasprintf(fmt, ap);

	buf_printf(&b, "%s: ", program);
	add_escaped(&b, msg);
	buf_addc(&b, '\n');
	write_line(&b);
	buf_free(&b);
	free(msg);
}

void
errorx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

void
fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	exit(code);
}
