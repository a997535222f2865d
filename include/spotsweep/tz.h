/* Time zones from the system tz database (TZif files under $TZDIR or /usr/share/zoneinfo),
 * read once into memory so that local time is a binary search, with no process-global state
 * (no TZ/tzset). Times past the file's last transition follow its POSIX TZ footer, so slim
 * files and far-future dates are right across daylight-saving changes too. */
#ifndef SPOTSWEEP_TZ_H
#define SPOTSWEEP_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tz;

/* Local wall-clock facts of one instant. */
struct tz_local {
	int	 wday;		/* 0 = Sunday .. 6 = Saturday */
	int	 minute;	/* minutes since local midnight, 0..1439 */
	int	 year, month, day;	/* month 1..12 */
	long	 utoff;		/* seconds east of UTC */
	bool	 isdst;
};

/* Loads the zone named name (an IANA name such as "America/New_York", or "UTC"). -1 with
 * *cause for a malformed name, a missing file (tzdata not installed) or a bad file. */
int tz_load(const char *name, struct tz **out, char **cause);
/* Builds a zone from a POSIX TZ string ("EST5EDT,M3.2.0,M11.1.0"); -1 with *cause. */
int tz_from_posix(const char *spec, struct tz **out, char **cause);
/* Builds a zone from TZif file contents (version 1 to 4); name is for messages. */
int tz_from_tzif(const char *name, const unsigned char *data, size_t len, struct tz **out,
    char **cause);
void tz_free(struct tz *z);
/* The zone's name as loaded. */
const char *tz_name(const struct tz *z);
/* Seconds east of UTC at epoch t; a NULL zone is UTC. */
long tz_utoff(const struct tz *z, int64_t t, bool *isdst);
/* The local time of epoch t in z (NULL = UTC). */
void tz_localtime(const struct tz *z, int64_t t, struct tz_local *out);
/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (negative before). */
int64_t tz_days_from_civil(int64_t y, int m, int d);

#endif
