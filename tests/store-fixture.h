/* What the check suites that work on a real store file share: a fresh SQLite file under
 * /tmp for each test (the WAL and its index with it) and its removal. Included by one test
 * .c file each. */
#ifndef SPOTSWEEP_TESTS_STORE_FIXTURE_H
#define SPOTSWEEP_TESTS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <check.h>

#include "spotsweep/store.h"
#include "spotsweep/xmalloc.h"

static char db_path[64];
static struct store *st;

/* Opens a new store in /tmp/NAME.XXXXXX as st. */
static void
store_fixture_open(const char *name)
{
	char *cause = NULL;
	int fd;

	snprintf(db_path, sizeof db_path, "/tmp/%.40s.XXXXXX", name);
	fd = mkstemp(db_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_msg(store_open(db_path, &st, &cause) == 0, "store_open: %s", cause);
}

/* Closes st and removes its files. */
static void
store_fixture_close(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char *p;
	size_t i;

	store_close(st);
	st = NULL;
	for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		p = xasprintf("%s%s", db_path, suffixes[i]);
		unlink(p);
		free(p);
	}
}

#endif
