/* Lease secrets (see lease-secret.h): made from getrandom(2), stored in attempts.lease_secret
 * by the lease (trial.c), compared in constant time so that a wrong guess learns nothing from the answer's timing. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "spotsweep/lease-secret.h"
#include "spotsweep/store-impl.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

int
lease_secret_new(char out[LEASE_SECRET_LEN + 1], char **cause)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[LEASE_SECRET_LEN / 2];
	size_t got = 0, i;
	ssize_t n;

	while (got < sizeof raw) {
		n = getrandom(raw + got, sizeof raw - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf("cannot read random bytes for a lease secret: %s",
			    strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0xf];
	}
	out[LEASE_SECRET_LEN] = '\0';
	return 0;
}

bool
lease_secret_equal(const char *want, const char *got)
{
	size_t lw, lg, i;
	unsigned char diff;

	if (want == NULL || got == NULL)
		return false;
	lw = strlen(want);
	lg = strlen(got);
	diff = (unsigned char)(lw != lg);
	for (i = 0; i < lw; i++)
		diff |= (unsigned char)(want[i] ^ (i < lg ? got[i] : 0));
	return diff == 0;
}

int
lease_secret_check(struct store *st, int64_t trial_id, int64_t attempt, int64_t worker_id,
    const char *secret, char **cause)
{
	sqlite3_stmt *stmt;
	const char *want;
	int64_t holder;
	bool ok;
	int rc;

	stmt = store_stmt(st, "SELECT worker_id, lease_secret FROM attempts WHERE trial_id = ?"
	    " AND attempt = ?", cause);
	if (stmt == NULL)
		return TRIAL_ERROR;
	sqlite3_bind_int64(stmt, 1, trial_id);
	sqlite3_bind_int64(stmt, 2, attempt);
	rc = store_step_row(st, stmt, "reading an attempt's lease", cause);
	if (rc <= 0)
		return rc < 0 ? TRIAL_ERROR : TRIAL_OK;
	holder = sqlite3_column_int64(stmt, 0);
	want = (const char *)sqlite3_column_text(stmt, 1);
	/* An attempt without a secret was never handed out by a lease: nobody holds it. */
	ok = lease_secret_equal(want, secret);
	sqlite3_reset(stmt);
	if (holder != worker_id) {
		*cause = xasprintf("trial %lld attempt %lld is leased to another worker",
		    (long long)trial_id, (long long)attempt);
		return TRIAL_ESTALE;
	}
	if (!ok) {
		*cause = xasprintf("wrong lease secret for trial %lld attempt %lld",
		    (long long)trial_id, (long long)attempt);
		return TRIAL_ESTALE;
	}
	return TRIAL_OK;
}
