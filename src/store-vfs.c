/* The store's SQLite VFS shim (store-vfs.h): SQLite's default VFS under another name, owning
 * only what it adds, the gathering of the writes made to WAL files.
 *
 * Every file opened through it is a struct vfs_file with the default VFS's own file object
 * right after it; each method passes the call on to that object. The methods table is a copy
 * per file, shaped like the real file's (its iVersion, a NULL where the real one has none),
 * because SQLite reads WAL support and memory mapping from what the methods table holds.
 *
 * A WAL file gathers the writes SQLite appends to it: a write starting where the gathered
 * bytes end joins them, up to WAL_BUF_CAP. sqlite3WalFrames (wal.c) writes each frame as its
 * 24-byte header, then its page, and only the header of a transaction's last frame holds a
 * non-zero database size (bytes 4..7); the write of that frame's page writes out everything
 * gathered and returns the result, so a COMMIT fails when its frames cannot be written, and
 * they are in the file before SQLite stores the new mxFrame in the wal-index, which is what
 * other connections read up to. A write to bytes this handle already wrote (a page written
 * twice in one transaction, the checksums rewritten at its commit, the WAL header when the
 * log starts over) first writes out what is gathered, then goes straight to the file: the
 * order in which a byte's contents reach the file never changes, and a commit whose last
 * write rewrites checksums (walRewriteChecksums) leaves nothing behind. The default VFS
 * takes at most STORE_VFS_WRITE_MAX bytes a write, so a larger write-out goes in pieces.
 * Every other method of a WAL file writes out first. So does a lock or barrier on the
 * wal-index (the main database file's xShmLock and xShmBarrier): a write lock is never
 * released with bytes still gathered, which could later land over another writer's frames.
 * A write that fails there, where no error can be returned, fails the WAL file's next method
 * instead. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "spotsweep/store-vfs.h"
#include "spotsweep/xmalloc.h"

#define VFS_NAME	"spotsweep"
#define WAL_BUF_CAP	STORE_VFS_WAL_BUFFER
#define WAL_FRAME_HDR	24

enum file_kind { FILE_PLAIN, FILE_MAIN_DB, FILE_WAL };

struct vfs_file {
	sqlite3_file		 base;		/* first: what SQLite sees */
	sqlite3_io_methods	 methods;	/* base.pMethods */
	sqlite3_file		*real;		/* the default VFS's file, after this struct */
	enum file_kind		 kind;
	struct vfs_file		*peer;		/* a main database <-> its WAL, while both are open */

	/* WAL files only. */
	unsigned char		*buf;		/* WAL_BUF_CAP bytes, from the first gathered write */
	size_t			 len;
	sqlite3_int64		 start;		/* the file offset of buf[0] */
	sqlite3_int64		 high;		/* the end of the furthest byte this handle wrote */
	bool			 commit_frame;	/* the last frame header written ends a transaction */
	int			 deferred_rc;	/* a write-out that failed where none could be returned */
};

/* Where the real file starts: 8-byte aligned, as SQLite aligns what it allocates. */
#define REAL_OFFSET	((sizeof(struct vfs_file) + 7) & ~(size_t)7)

static sqlite3_vfs	 shim_vfs;
static pthread_once_t	 shim_once = PTHREAD_ONCE_INIT;
static bool		 shim_registered;

static _Atomic uint64_t	 count_wal_writes;
static _Atomic uint64_t	 count_wal_pwrites;
static _Atomic uint64_t	 count_wal_rewrites;

static sqlite3_file *
real_of(sqlite3_file *file)
{
	return ((struct vfs_file *)file)->real;
}

/* Writes len bytes at off through the real file, in as few calls as it takes: the default
 * VFS writes at most STORE_VFS_WRITE_MAX bytes a call (os_unix.c masks the length to 17
 * bits, and a longer write fails). A piece that is not the last ends on a page of the file. */
static int
write_pieces(struct vfs_file *w, const unsigned char *data, size_t len, sqlite3_int64 off)
{
	sqlite3_int64 pos = off, end = off + (sqlite3_int64)len, cut;
	int rc = SQLITE_OK;

	while (pos < end && rc == SQLITE_OK) {
		cut = end - pos <= STORE_VFS_WRITE_MAX ? end :
		    (pos + STORE_VFS_WRITE_MAX) & ~(sqlite3_int64)4095;
		atomic_fetch_add_explicit(&count_wal_pwrites, 1, memory_order_relaxed);
		rc = w->real->pMethods->xWrite(w->real, data + (pos - off), (int)(cut - pos), pos);
		pos = cut;
	}
	return rc;
}

/* The gathered bytes, written out; the buffer is empty afterwards whatever the outcome
 * (after a failure its frames belong to a transaction SQLite abandons, and writing them
 * later could land over another writer's). */
static int
wal_flush(struct vfs_file *w)
{
	int rc;

	if (w->len == 0)
		return SQLITE_OK;
	rc = write_pieces(w, w->buf, w->len, w->start);
	w->len = 0;
	return rc;
}

/* Before any method but a gathered write: a failure kept from earlier, else the write-out. */
static int
wal_settle(struct vfs_file *w)
{
	int rc;

	if (w->deferred_rc != SQLITE_OK) {
		rc = w->deferred_rc;
		w->deferred_rc = SQLITE_OK;
		w->len = 0;
		return rc;
	}
	return wal_flush(w);
}

/* A write-out where the caller cannot fail: its error waits for the WAL's next method. */
static void
wal_settle_later(struct vfs_file *w)
{
	int rc;

	if (w->deferred_rc != SQLITE_OK)
		return;
	if ((rc = wal_flush(w)) != SQLITE_OK)
		w->deferred_rc = rc;
}

/* The body of a WAL method that only passes the call on: the write-out (or the failure kept
 * from one) first, then the call. */
#define SETTLED(file, call) do {					\
	int settled_rc_ = wal_settle((struct vfs_file *)(file));		\
									\
	if (settled_rc_ != SQLITE_OK)					\
		return settled_rc_;					\
	return call;							\
} while (0)

/* ------------------------------------------------------------------------------------------
 * Methods that only pass the call on: every file but a WAL's (and a WAL's sector size and
 * device characteristics, which report rather than act).
 */

static int
pass_close(sqlite3_file *file)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xClose(real);
}

static int
pass_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xRead(real, data, amt, off);
}

static int
pass_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xWrite(real, data, amt, off);
}

static int
pass_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xTruncate(real, size);
}

static int
pass_sync(sqlite3_file *file, int flags)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xSync(real, flags);
}

static int
pass_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xFileSize(real, size);
}

static int
pass_lock(sqlite3_file *file, int lock)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xLock(real, lock);
}

static int
pass_unlock(sqlite3_file *file, int lock)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xUnlock(real, lock);
}

static int
pass_check_reserved_lock(sqlite3_file *file, int *out)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xCheckReservedLock(real, out);
}

static int
pass_file_control(sqlite3_file *file, int op, void *arg)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xFileControl(real, op, arg);
}

static int
pass_sector_size(sqlite3_file *file)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xSectorSize(real);
}

static int
pass_device_characteristics(sqlite3_file *file)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xDeviceCharacteristics(real);
}

static int
pass_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xShmMap(real, page, size, extend, out);
}

static int
pass_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xShmLock(real, offset, n, flags);
}

static void
pass_shm_barrier(sqlite3_file *file)
{
	sqlite3_file *real = real_of(file);

	real->pMethods->xShmBarrier(real);
}

static int
pass_shm_unmap(sqlite3_file *file, int delete_flag)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xShmUnmap(real, delete_flag);
}

static int
pass_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xFetch(real, off, amt, out);
}

static int
pass_unfetch(sqlite3_file *file, sqlite3_int64 off, void *page)
{
	sqlite3_file *real = real_of(file);

	return real->pMethods->xUnfetch(real, off, page);
}

static const sqlite3_io_methods plain_methods = {
	3,
	pass_close,
	pass_read,
	pass_write,
	pass_truncate,
	pass_sync,
	pass_file_size,
	pass_lock,
	pass_unlock,
	pass_check_reserved_lock,
	pass_file_control,
	pass_sector_size,
	pass_device_characteristics,
	pass_shm_map,
	pass_shm_lock,
	pass_shm_barrier,
	pass_shm_unmap,
	pass_fetch,
	pass_unfetch,
};

/* ------------------------------------------------------------------------------------------
 * The main database file: passes everything on, and writes out its WAL's gathered bytes
 * before any wal-index lock changes or barrier (wal.c reaches the wal-index only through the
 * database file).
 */

static int
main_close(sqlite3_file *file)
{
	struct vfs_file *f = (struct vfs_file *)file;

	if (f->peer != NULL) {
		f->peer->peer = NULL;
		f->peer = NULL;
	}
	return pass_close(file);
}

static int
main_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct vfs_file *f = (struct vfs_file *)file;

	if (f->peer != NULL)
		wal_settle_later(f->peer);
	return pass_shm_lock(file, offset, n, flags);
}

static void
main_shm_barrier(sqlite3_file *file)
{
	struct vfs_file *f = (struct vfs_file *)file;

	if (f->peer != NULL)
		wal_settle_later(f->peer);
	pass_shm_barrier(file);
}

static const sqlite3_io_methods main_methods = {
	3,
	main_close,
	pass_read,
	pass_write,
	pass_truncate,
	pass_sync,
	pass_file_size,
	pass_lock,
	pass_unlock,
	pass_check_reserved_lock,
	pass_file_control,
	pass_sector_size,
	pass_device_characteristics,
	pass_shm_map,
	main_shm_lock,
	main_shm_barrier,
	pass_shm_unmap,
	pass_fetch,
	pass_unfetch,
};

/* ------------------------------------------------------------------------------------------
 * The WAL file.
 */

static int
wal_close(sqlite3_file *file)
{
	struct vfs_file *w = (struct vfs_file *)file;
	int rc, close_rc;

	rc = wal_settle(w);
	if (w->peer != NULL) {
		w->peer->peer = NULL;
		w->peer = NULL;
	}
	close_rc = pass_close(file);
	free(w->buf);
	w->buf = NULL;
	return rc != SQLITE_OK ? rc : close_rc;
}

static int
wal_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	struct vfs_file *w = (struct vfs_file *)file;
	const unsigned char *p = data;
	bool ends_commit = false;
	int rc;

	atomic_fetch_add_explicit(&count_wal_writes, 1, memory_order_relaxed);
	if (w->deferred_rc != SQLITE_OK)
		return wal_settle(w);
	if (amt <= 0 || off < w->high) {
		if ((rc = wal_flush(w)) != SQLITE_OK)
			return rc;
		atomic_fetch_add_explicit(&count_wal_pwrites, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&count_wal_rewrites, 1, memory_order_relaxed);
		rc = pass_write(file, data, amt, off);
		/* The WAL header: the log starts over, its frames follow from offset 32 again. */
		if (off == 0 && amt > 0)
			w->high = amt;
		return rc;
	}
	/* Frame headers say whether the frame ends a transaction; any other write after the
	 * header of a commit frame (its page, or under synchronous=FULL the padding frames that
	 * repeat it, split around a sync point) is written out at once. */
	if (amt == WAL_FRAME_HDR)
		w->commit_frame = (p[4] | p[5] | p[6] | p[7]) != 0;
	else
		ends_commit = w->commit_frame;
	if (w->len > 0 && (off != w->start + (sqlite3_int64)w->len ||
	    (size_t)amt > WAL_BUF_CAP - w->len)) {
		if ((rc = wal_flush(w)) != SQLITE_OK)
			return rc;
	}
	w->high = off + amt;
	/* Larger than the buffer (never, with pages of at most 64 KiB): in pieces, as a flush. */
	if ((size_t)amt > WAL_BUF_CAP)
		return write_pieces(w, p, (size_t)amt, off);
	if (w->buf == NULL)
		w->buf = xmalloc(WAL_BUF_CAP);
	if (w->len == 0)
		w->start = off;
	memcpy(w->buf + w->len, p, (size_t)amt);
	w->len += (size_t)amt;
	return ends_commit ? wal_flush(w) : SQLITE_OK;
}

static int
wal_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
	SETTLED(file, pass_read(file, data, amt, off));
}

static int
wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct vfs_file *w = (struct vfs_file *)file;
	int rc;

	if ((rc = wal_settle(w)) != SQLITE_OK)
		return rc;
	if (w->high > size)
		w->high = size;
	return pass_truncate(file, size);
}

static int
wal_sync(sqlite3_file *file, int flags)
{
	SETTLED(file, pass_sync(file, flags));
}

static int
wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	SETTLED(file, pass_file_size(file, size));
}

static int
wal_lock(sqlite3_file *file, int lock)
{
	SETTLED(file, pass_lock(file, lock));
}

static int
wal_unlock(sqlite3_file *file, int lock)
{
	SETTLED(file, pass_unlock(file, lock));
}

static int
wal_check_reserved_lock(sqlite3_file *file, int *out)
{
	SETTLED(file, pass_check_reserved_lock(file, out));
}

static int
wal_file_control(sqlite3_file *file, int op, void *arg)
{
	SETTLED(file, pass_file_control(file, op, arg));
}

static int
wal_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
	SETTLED(file, pass_shm_map(file, page, size, extend, out));
}

static int
wal_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	SETTLED(file, pass_shm_lock(file, offset, n, flags));
}

static void
wal_shm_barrier(sqlite3_file *file)
{
	wal_settle_later((struct vfs_file *)file);
	pass_shm_barrier(file);
}

static int
wal_shm_unmap(sqlite3_file *file, int delete_flag)
{
	SETTLED(file, pass_shm_unmap(file, delete_flag));
}

static int
wal_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
	int rc;

	*out = NULL;
	if ((rc = wal_settle((struct vfs_file *)file)) != SQLITE_OK)
		return rc;
	return pass_fetch(file, off, amt, out);
}

static int
wal_unfetch(sqlite3_file *file, sqlite3_int64 off, void *page)
{
	SETTLED(file, pass_unfetch(file, off, page));
}

static const sqlite3_io_methods wal_methods = {
	3,
	wal_close,
	wal_read,
	wal_write,
	wal_truncate,
	wal_sync,
	wal_file_size,
	wal_lock,
	wal_unlock,
	wal_check_reserved_lock,
	wal_file_control,
	pass_sector_size,
	pass_device_characteristics,
	wal_shm_map,
	wal_shm_lock,
	wal_shm_barrier,
	wal_shm_unmap,
	wal_fetch,
	wal_unfetch,
};

/* ------------------------------------------------------------------------------------------
 * The VFS.
 */

static sqlite3_vfs *
real_vfs(sqlite3_vfs *vfs)
{
	return vfs->pAppData;
}

/* The file's methods: the template's, with the real file's version and its missing methods
 * missing too. */
static void
shape_methods(sqlite3_io_methods *m, const sqlite3_io_methods *tmpl,
    const sqlite3_io_methods *real)
{
	*m = *tmpl;
	if (real->iVersion < m->iVersion)
		m->iVersion = real->iVersion;
	if (m->iVersion < 2) {
		m->xShmMap = NULL;
		m->xShmLock = NULL;
		m->xShmBarrier = NULL;
		m->xShmUnmap = NULL;
	} else {
		if (real->xShmMap == NULL)
			m->xShmMap = NULL;
		if (real->xShmLock == NULL)
			m->xShmLock = NULL;
		if (real->xShmBarrier == NULL)
			m->xShmBarrier = NULL;
		if (real->xShmUnmap == NULL)
			m->xShmUnmap = NULL;
	}
	if (m->iVersion < 3) {
		m->xFetch = NULL;
		m->xUnfetch = NULL;
	} else {
		if (real->xFetch == NULL)
			m->xFetch = NULL;
		if (real->xUnfetch == NULL)
			m->xUnfetch = NULL;
	}
}

/* Links a WAL to its main database file, found from the name SQLite opened the WAL by. */
static void
link_wal(struct vfs_file *w, sqlite3_filename name)
{
	sqlite3_file *db;
	struct vfs_file *m;

	if (name == NULL)
		return;
	db = sqlite3_database_file_object(name);
	if (db == NULL || db->pMethods == NULL || db->pMethods->xClose != main_close)
		return;
	m = (struct vfs_file *)db;
	if (m->peer != NULL)
		return;
	m->peer = w;
	w->peer = m;
}

static int
shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags,
    int *out_flags)
{
	sqlite3_vfs *real = real_vfs(vfs);
	struct vfs_file *f = (struct vfs_file *)file;
	const sqlite3_io_methods *tmpl;
	int rc;

	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)((char *)file + REAL_OFFSET);
	rc = real->xOpen(real, name, f->real, flags, out_flags);
	/* SQLite closes a file whose methods are set even when opening failed, and only then. */
	if (f->real->pMethods == NULL)
		return rc;
	if (flags & SQLITE_OPEN_WAL) {
		f->kind = FILE_WAL;
		tmpl = &wal_methods;
	} else if (flags & SQLITE_OPEN_MAIN_DB) {
		f->kind = FILE_MAIN_DB;
		tmpl = &main_methods;
	} else {
		f->kind = FILE_PLAIN;
		tmpl = &plain_methods;
	}
	shape_methods(&f->methods, tmpl, f->real->pMethods);
	f->base.pMethods = &f->methods;
	if (f->kind == FILE_WAL && rc == SQLITE_OK)
		link_wal(f, name);
	return rc;
}

static int
shim_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return real_vfs(vfs)->xDelete(real_vfs(vfs), name, sync_dir);
}

static int
shim_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return real_vfs(vfs)->xAccess(real_vfs(vfs), name, flags, out);
}

static int
shim_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return real_vfs(vfs)->xFullPathname(real_vfs(vfs), name, n, out);
}

static void *
shim_dl_open(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs(vfs)->xDlOpen(real_vfs(vfs), name);
}

static void
shim_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
	real_vfs(vfs)->xDlError(real_vfs(vfs), n, out);
}

static void
(*shim_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void)
{
	return real_vfs(vfs)->xDlSym(real_vfs(vfs), handle, symbol);
}

static void
shim_dl_close(sqlite3_vfs *vfs, void *handle)
{
	real_vfs(vfs)->xDlClose(real_vfs(vfs), handle);
}

static int
shim_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs(vfs)->xRandomness(real_vfs(vfs), n, out);
}

static int
shim_sleep(sqlite3_vfs *vfs, int microseconds)
{
	return real_vfs(vfs)->xSleep(real_vfs(vfs), microseconds);
}

static int
shim_current_time(sqlite3_vfs *vfs, double *out)
{
	return real_vfs(vfs)->xCurrentTime(real_vfs(vfs), out);
}

static int
shim_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs(vfs)->xGetLastError(real_vfs(vfs), n, out);
}

static int
shim_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return real_vfs(vfs)->xCurrentTimeInt64(real_vfs(vfs), out);
}

static int
shim_set_system_call(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr call)
{
	return real_vfs(vfs)->xSetSystemCall(real_vfs(vfs), name, call);
}

static sqlite3_syscall_ptr
shim_get_system_call(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs(vfs)->xGetSystemCall(real_vfs(vfs), name);
}

static const char *
shim_next_system_call(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs(vfs)->xNextSystemCall(real_vfs(vfs), name);
}

static bool
env_turns_off(void)
{
	const char *v = getenv("SPOTSWEEP_WAL_BUFFER");

	return v != NULL && (strcmp(v, "off") == 0 || strcmp(v, "0") == 0);
}

static void
register_once(void)
{
	sqlite3_vfs *real;

	if (env_turns_off())
		return;
	if ((real = sqlite3_vfs_find(NULL)) == NULL || real->szOsFile < 0 ||
	    (size_t)real->szOsFile > INT_MAX - REAL_OFFSET)
		return;
	shim_vfs.iVersion = real->iVersion < 3 ? real->iVersion : 3;
	shim_vfs.szOsFile = (int)(REAL_OFFSET + (size_t)real->szOsFile);
	shim_vfs.mxPathname = real->mxPathname;
	shim_vfs.zName = VFS_NAME;
	shim_vfs.pAppData = real;
	shim_vfs.xOpen = shim_open;
	shim_vfs.xDelete = shim_delete;
	shim_vfs.xAccess = shim_access;
	shim_vfs.xFullPathname = shim_full_pathname;
	shim_vfs.xDlOpen = real->xDlOpen != NULL ? shim_dl_open : NULL;
	shim_vfs.xDlError = real->xDlError != NULL ? shim_dl_error : NULL;
	shim_vfs.xDlSym = real->xDlSym != NULL ? shim_dl_sym : NULL;
	shim_vfs.xDlClose = real->xDlClose != NULL ? shim_dl_close : NULL;
	shim_vfs.xRandomness = shim_randomness;
	shim_vfs.xSleep = shim_sleep;
	shim_vfs.xCurrentTime = shim_current_time;
	shim_vfs.xGetLastError = real->xGetLastError != NULL ? shim_get_last_error : NULL;
	if (shim_vfs.iVersion >= 2)
		shim_vfs.xCurrentTimeInt64 = real->xCurrentTimeInt64 != NULL ?
		    shim_current_time_int64 : NULL;
	if (shim_vfs.iVersion >= 3) {
		shim_vfs.xSetSystemCall = real->xSetSystemCall != NULL ?
		    shim_set_system_call : NULL;
		shim_vfs.xGetSystemCall = real->xGetSystemCall != NULL ?
		    shim_get_system_call : NULL;
		shim_vfs.xNextSystemCall = real->xNextSystemCall != NULL ?
		    shim_next_system_call : NULL;
	}
	shim_registered = sqlite3_vfs_register(&shim_vfs, 0) == SQLITE_OK;
}

bool
store_vfs_register(void)
{
	pthread_once(&shim_once, register_once);
	return shim_registered;
}

const char *
store_vfs_name(void)
{
	return store_vfs_register() ? VFS_NAME : NULL;
}

void
store_vfs_counts(struct store_vfs_counts *out)
{
	out->wal_writes = atomic_load_explicit(&count_wal_writes, memory_order_relaxed);
	out->wal_pwrites = atomic_load_explicit(&count_wal_pwrites, memory_order_relaxed);
	out->wal_rewrites = atomic_load_explicit(&count_wal_rewrites, memory_order_relaxed);
}
