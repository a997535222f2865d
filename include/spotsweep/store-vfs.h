/* The store's SQLite VFS: the default VFS under the name "spotsweep", with every file's methods
 * passed through, except that the writes SQLite makes to a WAL file are gathered into one
 * pwrite per commit. SQLite writes each WAL frame as two writes (the 24-byte frame header,
 * then the page), so a commit of 14 pages costs 28 small writes through the kernel's write
 * path; here it costs one (one per STORE_VFS_WRITE_MAX bytes for larger commits). The
 * commit's last write (the page of the frame whose header carries the database size) writes
 * everything gathered before it returns, so a failed write fails the COMMIT, and the frames
 * are in the file before SQLite publishes them in the wal-index: other connections and
 * processes never miss a committed frame. Every other operation on the WAL file writes what
 * is gathered first, and so does any wal-index lock or barrier (a write transaction never
 * ends with bytes still gathered).
 *
 * SPOTSWEEP_WAL_BUFFER=off (or 0) in the environment, read once at store_vfs_register,
 * leaves SQLite's default VFS in use, unchanged: for measuring what the shim gains. */
#ifndef SPOTSWEEP_STORE_VFS_H
#define SPOTSWEEP_STORE_VFS_H

#include <stdbool.h>
#include <stdint.h>

/* The most bytes a WAL file gathers (allocated at its first write): 127 frames of a 4 KiB
 * page; a transaction larger than that is written out each time the buffer fills. */
#define STORE_VFS_WAL_BUFFER	(512 * 1024)
/* The most bytes the default VFS writes in one call (os_unix.c's 17-bit length): gathered
 * bytes beyond it go out in several writes, split on 4 KiB boundaries of the file. */
#define STORE_VFS_WRITE_MAX	0x1ffff

/* Counters over every WAL file opened through the shim, since the process started. */
struct store_vfs_counts {
	uint64_t	 wal_writes;	/* xWrite calls SQLite made on WAL files */
	uint64_t	 wal_pwrites;	/* writes passed on to the real files */
	uint64_t	 wal_rewrites;	/* of those, writes to bytes the handle had written */
};

/* Registers the VFS (once per process; later calls do nothing) unless the environment turns
 * it off; true when store_vfs_name() names it. Call before opening a connection through it. */
bool store_vfs_register(void);
/* The VFS name to pass to sqlite3_open_v2 (registering first if needed): "spotsweep", or
 * NULL (SQLite's default VFS) when the environment turned it off or registering failed. */
const char *store_vfs_name(void);
/* Fills *out with the process-wide counters (relaxed reads: exact once writers are idle). */
void store_vfs_counts(struct store_vfs_counts *out);

#endif
