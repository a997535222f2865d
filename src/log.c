/* Logging for the long-running processes (serve, agent) and the CLI's one-line errors.
 * Control characters in messages are escaped so that user input cannot forge log lines. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "spotsweep/log.h"
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

/* Writes msg with control characters (other than tab) escaped as \xNN. */
static void
write_escaped(FILE *f, const char *msg)
{
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

void
log_write(enum log_level level, const char *fmt, ...)
{
	struct timeval tv;
	struct tm tm;
	char stamp[32];
	va_list ap;
	char *msg;

	if (level < log_threshold)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ %s %s: ", stamp, (long)(tv.tv_usec / 1000), program,
	    level_names[level]);
	write_escaped(stderr, msg);
	fputc('\n', stderr);
	funlockfile(stderr);
	free(msg);
}

static void
vmessage(const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);

	fprintf(stderr, "%s: ", program);
	write_escaped(stderr, msg);
	fputc('\n', stderr);
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
