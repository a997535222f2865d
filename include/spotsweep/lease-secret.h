/* Lease secrets: who may report on an attempt. Each lease gets a random 128-bit secret, kept
 * with the attempt and handed only to the worker that leased it; a heartbeat, checkpoint or
 * finish must carry that secret and that worker's id, so that no other worker (a confused
 * agent, a stale one re-registered under the same name, or anyone holding the API token)
 * can report on or end an attempt that is not its own. */
#ifndef SPOTSWEEP_LEASE_SECRET_H
#define SPOTSWEEP_LEASE_SECRET_H

#include <stdbool.h>
#include <stdint.h>

#include "spotsweep/store.h"

/* Hex digits of a secret: 128 random bits. */
#define LEASE_SECRET_LEN	32

/* Fills out with a new secret from the kernel's random source; -1 with *cause. */
int lease_secret_new(char out[LEASE_SECRET_LEN + 1], char **cause);

/* Constant-time equality of a stored secret (want) and a reported one: the time depends
 * on want's length only. NULL never matches. */
bool lease_secret_equal(const char *want, const char *got);

/* Checks that worker_id and secret are those of the trial's attempt. TRIAL_OK when they
 * are, or when the attempt does not exist (the trial operation then refuses it as unknown
 * or stale); TRIAL_ESTALE with *cause when another worker holds the attempt or the secret
 * differs; TRIAL_ERROR with *cause on a database error. Never puts a secret in *cause. */
int lease_secret_check(struct store *st, int64_t trial_id, int64_t attempt, int64_t worker_id,
    const char *secret, char **cause);

#endif
