/* The scheduler's durable flush of the WAL, on a thread of its own.
 *
 * With synchronous=FULL every group commit waited in the event loop for fdatasync (200-400 us
 * on a virtual disk, plus the kernel's own work), and the loop could do nothing else
 * meanwhile. Here the loop commits with synchronous=NORMAL, which writes the transaction to
 * the WAL (it survives the process being killed) without waiting for the disk, and asks this
 * thread to flush. Linux's fdatasync of the WAL file makes durable every write to it that
 * finished before the call, through any descriptor, so one flush covers every commit made
 * before it started. SQLite itself still syncs around its checkpoints, and under NORMAL it
 * syncs the WAL header when the WAL is reused, which keeps the database consistent; the
 * flush adds durability for what the loop acknowledges.
 *
 * The thread tells the loop through an eventfd; the loop then calls done() with the newest
 * generation that is on disk.
 *
 * Waking a sleeping thread costs the waker a futex call and an inter-processor interrupt
 * (~5% of the loop's CPU when it was done for every commit). So when the loop's last request
 * came soon after a flush ended, the thread looks for the next one every 20 us for a while
 * before it goes to sleep, and the loop signals it only when it sleeps: under a steady load
 * the loop hands over work with one atomic store. When requests come further apart it
 * sleeps at once: the naps would only take CPU from the other threads and processes (a
 * 2 ms poll cost the 64-connection soak 13% of its throughput).
 *
 * After a failed fdatasync nothing is known to be on disk any more (Linux reports a
 * write-back error once and may drop the pages), so every later generation is reported
 * failed too, as PostgreSQL learned to do. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

#include <sqlite3.h>

#include "spotsweep/log.h"
#include "spotsweep/store-flush.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

/* The WAL length (pages) at which the loop's commit checkpoints it into the database, and
 * SQLite's default, restored when the flusher stops. A checkpoint syncs the WAL and the
 * database file and writes each page changed since the last one once: ten times SQLite's
 * default interval makes a tenth of the syncs and writes a hot page (a table's or index's
 * last leaf) once rather than ten times, ~4% of the loop's CPU under load, for a WAL of up
 * to ~40 MB between checkpoints. */
#define CHECKPOINT_PAGES		10000
#define CHECKPOINT_PAGES_DEFAULT	1000

/* How long the thread looks for work after a flush before it sleeps, and how often; it looks
 * only when the previous request came within that long of the flush before it. The nap is
 * on the path of every report's reply (half a nap on average before the flush starts):
 * 20 us rather than 50 made bench_api's pairs 7% faster once the loop had idle time, with
 * the 64-connection soak unchanged; 10 us took more CPU than it saved. */
#define POLL_FOR_NS	300000
#define POLL_EVERY_NS	20000

struct store_flush {
	struct store		*st;
	int			 wal_fd;
	int			 event_fd;
	struct event		*ev;
	store_flush_done	*done;
	void			*arg;

	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;		/* the thread: work or stop */
	pthread_cond_t		 flushed;	/* store_flush_wait: a flush ended */
	_Atomic uint64_t	 requested;	/* newest generation asked for (loop writes) */
	_Atomic bool		 sleeping;	/* the thread waits on wake: signal it */
	_Atomic bool		 stop;
	uint64_t		 flushed_gen;	/* newest generation on disk (thread writes) */
	double			 idle_gap;	/* the thread's: flush end to the next request, s */
	int			 error;		/* errno of the first failed flush, 0 if none */

	uint64_t		 flushes;	/* fdatasync calls made */
	double			 flush_s;	/* and the seconds they took */

	uint64_t		 reported;	/* newest generation done() was told of (loop) */
	bool			 reported_failure;
};

/* Waits for a generation to flush (true) or for stop (false): polls for a while if requests
 * have been coming soon after flushes, then sleeps until the loop signals. */
static bool
wait_for_work(struct store_flush *f)
{
	struct timespec nap = { 0, POLL_EVERY_NS };
	double idle = now_mono(), until = idle + POLL_FOR_NS / 1e9, now;
	bool work;

	if (f->idle_gap <= POLL_FOR_NS / 1e9) {
		for (now = idle; now < until; now = now_mono()) {
			if (atomic_load(&f->requested) != f->flushed_gen ||
			    atomic_load(&f->stop)) {
				f->idle_gap = now - idle;
				return atomic_load(&f->requested) != f->flushed_gen;
			}
			nanosleep(&nap, NULL);
		}
	}
	pthread_mutex_lock(&f->lock);
	/* Announce the sleep, then look again: the loop stores requested before it reads
	 * sleeping, so one of the two sees the other (both sequentially consistent). */
	atomic_store(&f->sleeping, true);
	while (atomic_load(&f->requested) == f->flushed_gen && !atomic_load(&f->stop))
		pthread_cond_wait(&f->wake, &f->lock);
	atomic_store(&f->sleeping, false);
	work = atomic_load(&f->requested) != f->flushed_gen;
	pthread_mutex_unlock(&f->lock);
	f->idle_gap = now_mono() - idle;
	return work;
}

static void *
flush_thread(void *arg)
{
	struct store_flush *f = arg;
	uint64_t gen, one = 1;
	double started, took;
	int rc;

	/* The polling naps are short: the default 50 us of timer slack would triple them. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	while (wait_for_work(f)) {
		gen = atomic_load(&f->requested);
		started = now_mono();
		rc = fdatasync(f->wal_fd) == 0 ? 0 : errno;
		took = now_mono() - started;
		pthread_mutex_lock(&f->lock);
		f->flushes++;
		f->flush_s += took;
		if (rc != 0 && f->error == 0)
			f->error = rc;
		f->flushed_gen = gen;
		pthread_cond_broadcast(&f->flushed);
		pthread_mutex_unlock(&f->lock);
		/* An eventfd write only fails when the counter would overflow: it cannot here. */
		if (write(f->event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
			break;
	}
	return NULL;
}

/* Tells done() what is on disk since the last report; runs on the loop's thread. */
static void
report(struct store_flush *f)
{
	uint64_t gen;
	int error;

	pthread_mutex_lock(&f->lock);
	gen = f->flushed_gen;
	error = f->error;
	pthread_mutex_unlock(&f->lock);
	if (error != 0) {
		if (!f->reported_failure)
			log_error("the database's WAL could not be flushed to disk (%s): "
			    "reports are refused from now on; restart the scheduler once the disk "
			    "is sound", strerror(error));
		f->reported_failure = true;
		/* Everything requested so far is in doubt. */
		gen = atomic_load(&f->requested);
	}
	if (gen > f->reported) {
		f->reported = gen;
		f->done(f->arg, gen, error == 0);
	}
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_error("reading the flush thread's eventfd: %s", strerror(errno));
	report(arg);
}

int
store_flush_create(struct store *st, struct event_base *base, store_flush_done *done,
    void *arg, struct store_flush **out, char **cause)
{
	const char *db_name = sqlite3_db_filename(store_db(st), "main");
	const char *wal_name;
	struct store_flush *f;
	int wal_fd;

	*out = NULL;
	if (db_name == NULL || *db_name == '\0')
		return 1;
	wal_name = sqlite3_filename_wal(db_name);
	if (wal_name == NULL || *wal_name == '\0')
		return 1;
	/* store_open left the database in WAL mode with the WAL open: it exists while this
	 * connection is open, and SQLite reuses (never replaces) it. */
	if ((wal_fd = open(wal_name, O_RDWR | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 1;
		*cause = xasprintf("%s: cannot open the WAL for flushing: %s", wal_name,
		    strerror(errno));
		return -1;
	}
	f = xcalloc(1, sizeof *f);
	f->st = st;
	f->wal_fd = wal_fd;
	f->done = done;
	f->arg = arg;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_cond_init(&f->flushed, NULL);
	if ((f->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		*cause = xasprintf("cannot create an eventfd: %s", strerror(errno));
		goto fail;
	}
	f->ev = event_new(base, f->event_fd, EV_READ | EV_PERSIST, on_event, f);
	if (f->ev == NULL || event_add(f->ev, NULL) != 0) {
		*cause = xasprintf("cannot watch the flush thread's eventfd");
		goto fail;
	}
	if (store_set_sync(st, STORE_SYNC_NORMAL, cause) != 0)
		goto fail;
	sqlite3_wal_autocheckpoint(store_db(st), CHECKPOINT_PAGES);
	if ((errno = pthread_create(&f->thread, NULL, flush_thread, f)) != 0) {
		*cause = xasprintf("cannot start the flush thread: %s", strerror(errno));
		sqlite3_wal_autocheckpoint(store_db(st), CHECKPOINT_PAGES_DEFAULT);
		store_set_sync(st, STORE_SYNC_FULL, NULL);
		goto fail;
	}
	*out = f;
	return 0;
fail:
	if (f->ev != NULL)
		event_free(f->ev);
	if (f->event_fd >= 0)
		close(f->event_fd);
	close(f->wal_fd);
	pthread_cond_destroy(&f->flushed);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return -1;
}

uint64_t
store_flush_request(struct store_flush *f)
{
	uint64_t gen;

	gen = atomic_load(&f->requested) + 1;
	atomic_store(&f->requested, gen);
	if (atomic_load(&f->sleeping)) {
		pthread_mutex_lock(&f->lock);
		pthread_cond_signal(&f->wake);
		pthread_mutex_unlock(&f->lock);
	}
	return gen;
}

pthread_t
store_flush_thread(const struct store_flush *f)
{
	return f->thread;
}

uint64_t
store_flush_next_gen(const struct store_flush *f)
{
	/* Only the loop's thread writes requested. */
	return atomic_load(&f->requested) + 1;
}

void
store_flush_stats(struct store_flush *f, uint64_t *flushes, double *seconds)
{
	pthread_mutex_lock(&f->lock);
	*flushes = f->flushes;
	*seconds = f->flush_s;
	pthread_mutex_unlock(&f->lock);
}

void
store_flush_wait(struct store_flush *f)
{
	pthread_mutex_lock(&f->lock);
	while (f->flushed_gen != atomic_load(&f->requested))
		pthread_cond_wait(&f->flushed, &f->lock);
	pthread_mutex_unlock(&f->lock);
	report(f);
}

void
store_flush_free(struct store_flush *f)
{
	char *cause = NULL;

	if (f == NULL)
		return;
	/* done() may commit again (a batch that waited for this flush). */
	do
		store_flush_wait(f);
	while (atomic_load(&f->requested) > f->reported && !f->reported_failure);
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stop, true);
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	event_free(f->ev);
	close(f->event_fd);
	close(f->wal_fd);
	sqlite3_wal_autocheckpoint(store_db(f->st), CHECKPOINT_PAGES_DEFAULT);
	if (store_set_sync(f->st, STORE_SYNC_FULL, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
	}
	pthread_cond_destroy(&f->flushed);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
