/* The scheduler's durable flush, off the event loop: the loop commits with
 * synchronous=NORMAL (the transaction is in the WAL, safe from a crash of the process) and a
 * thread makes the WAL durable with fdatasync (safe from a power cut). A commit is durable
 * once a flush that started after it has ended; generations number the commits so the loop
 * knows which waiting replies it may send. */
#ifndef SPOTSWEEP_STORE_FLUSH_H
#define SPOTSWEEP_STORE_FLUSH_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include <event2/event.h>

#include "spotsweep/store.h"

struct store_flush;

/* Called on the loop when every commit up to generation gen is durable (ok), or when a flush
 * failed (ok false: gen and everything after it are not known to be on disk). */
typedef void store_flush_done(void *arg, uint64_t gen, bool ok);

/* Starts the flusher of st's WAL and switches st to synchronous=NORMAL. 0 with *out; 1 when
 * the store has no WAL file to flush (an in-memory database: nothing changes, commits stay as
 * they were); -1 with *cause. */
int store_flush_create(struct store *st, struct event_base *base, store_flush_done *done,
    void *arg, struct store_flush **out, char **cause);
/* After a commit: the generation that covers it, which the thread is asked to flush. */
uint64_t store_flush_request(struct store_flush *f);
/* The generation the next store_flush_request will return. */
uint64_t store_flush_next_gen(const struct store_flush *f);
/* How many flushes were made and the seconds they took, for the scheduler's figures. */
void store_flush_stats(struct store_flush *f, uint64_t *flushes, double *seconds);
/* The flush thread, to place it on a CPU (cpu-place.h). */
pthread_t store_flush_thread(const struct store_flush *f);
/* Blocks until every requested generation is flushed, then reports it through done. */
void store_flush_wait(struct store_flush *f);
/* Waits as store_flush_wait, stops the thread, switches the store back to synchronous=FULL. */
void store_flush_free(struct store_flush *f);

#endif
