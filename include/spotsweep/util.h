/* Small shared helpers: a growable byte buffer, checked number parsing, time, shell quoting,
 * and exact number formatting. Nothing here allocates without xmalloc or prints. */
#ifndef SPOTSWEEP_UTIL_H
#define SPOTSWEEP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable, always NUL-terminated byte buffer. Zero-initialise, buf_free() when done. */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the data to the caller (who frees it) and resets the buffer. Never NULL. */
char *buf_steal(struct buf *b);

/* Checked parsing: the whole string must be a number in range. False otherwise. */
bool safe_strtol(const char *s, long *out);
bool safe_strtoll(const char *s, long long *out);
bool safe_strtoul(const char *s, unsigned long *out);
bool safe_strtod(const char *s, double *out);

/* Appends user-controlled text with control characters shown as \xNN, so that it cannot
 * garble a terminal or forge lines. */
void buf_add_printable(struct buf *b, const char *s);

/* Shortest decimal form of d that strtod() reads back to the same double ("0.1", "1e-05",
 * "32"). Writes at most 32 bytes into out; non-finite values become "nan", "inf", "-inf". */
void format_double(char out[32], double d);
/* Appends the JSON form of d (integers without a fraction, nan/inf as null). */
void buf_add_double(struct buf *b, double d);

/* Appends s quoted for /bin/sh: 'it'\''s'. Always quotes, so any byte is safe. */
void buf_add_shell_quoted(struct buf *b, const char *s);

/* Wall-clock seconds since the epoch, with sub-second precision. */
double now_wall(void);
/* Monotonic seconds, for timeouts and intervals. */
double now_mono(void);
/* Formats an epoch time as ISO 8601 UTC "2026-11-30T15:08:19Z" (or with .mmm when
 * with_millis). out must hold 32 bytes; an epoch of 0 or less gives "". */
void format_iso8601(char out[32], double epoch, bool with_millis);
/* Parses ISO 8601 "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]" into epoch seconds (a missing
 * zone means UTC). False on anything else. */
bool parse_iso8601(const char *s, double *epoch);

/* Damerau-free Levenshtein distance, for "did you mean" suggestions. */
size_t edit_distance(const char *a, const char *b);

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer. -1 with *cause set. */
int read_file(const char *path, size_t max_bytes, char **out, size_t *outlen, char **cause);

#endif
