/* make bench, issue 2: submit and export of a 1,000,000-trial grid.
 *
 * Prints, side by side in one run: the time `store_sweep_create` takes to expand and store the
 * grid, the time a bare prepared-statement insert of the same rows into the same schema takes
 * in one transaction (the rows expanded beforehand, untimed), their ratio, the submit's peak
 * RSS (measured in a child process so that nothing else counts), and export rows per second.
 * Usage: bench_submit [DIR] (scratch databases go there; default /tmp) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "spotsweep/csv.h"
#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

static struct spec *
grid_spec(void)
{
	/* 100 x 100 x 10 x 10 = 1,000,000 points, with a float, an int and a string axis. */
	const char *text =
	    "{\"name\": \"bench-grid\", \"command\": \"train --lr {lr} --bs {bs}\",\n"
	    " \"method\": \"grid\",\n"
	    " \"parameters\": {\n"
	    "  \"lr\": {\"distribution\": \"log_uniform_values\", \"min\": 1e-5, \"max\": 1e-1,"
	    " \"num\": 100},\n"
	    "  \"bs\": {\"distribution\": \"int_uniform\", \"min\": 1, \"max\": 100},\n"
	    "  \"dropout\": {\"distribution\": \"uniform\", \"min\": 0, \"max\": 0.5, \"num\": 10},\n"
	    "  \"opt\": {\"values\": [\"adam\", \"adamw\", \"sgd\", \"rmsprop\", \"lion\","
	    " \"adagrad\", \"sgd-nesterov\", \"lamb\", \"lars\", \"adafactor\"]}\n"
	    " },\n"
	    " \"metric\": {\"name\": \"val_loss\"}}\n";
	struct spec *s;
	char *cause = NULL;

	if (spec_parse("bench-grid.json", text, strlen(text), &s, &cause) != 0) {
		fprintf(stderr, "bench: %s\n", cause);
		exit(1);
	}
	return s;
}

static struct store *
open_fresh(const char *path)
{
	struct store *st;
	char *cause = NULL, *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);

	unlink(path);
	unlink(wal);
	unlink(shm);
	free(wal);
	free(shm);
	if (store_open(path, &st, &cause) != 0) {
		fprintf(stderr, "bench: %s\n", cause);
		exit(1);
	}
	return st;
}

/* Runs the timed submit in a child so its peak RSS is its own; returns seconds. */
static double
timed_submit(const char *path, long *maxrss_kb, uint64_t *ntrials)
{
	int pipefd[2], status;
	struct rusage ru;
	double result[2];
	pid_t pid;

	if (pipe(pipefd) != 0)
		exit(1);
	pid = fork();
	if (pid == 0) {
		struct spec *s = grid_spec();
		struct store *st = open_fresh(path);
		char *cause = NULL;
		int64_t id;
		uint64_t n;
		double t0 = now_mono();

		if (store_sweep_create(st, s, "bench-grid.json", &id, &n, &cause) != 0) {
			fprintf(stderr, "bench: %s\n", cause);
			_exit(1);
		}
		result[0] = now_mono() - t0;
		result[1] = (double)n;
		store_close(st);
		spec_free(s);
		if (write(pipefd[1], result, sizeof result) != sizeof result)
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], result, sizeof result) != sizeof result) {
		fprintf(stderr, "bench: submit child failed\n");
		exit(1);
	}
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	getrusage(RUSAGE_CHILDREN, &ru);
	*maxrss_kb = ru.ru_maxrss;
	*ntrials = (uint64_t)result[1];
	return result[0];
}

/* The reference: the same rows, expanded beforehand, inserted with one prepared statement. */
static double
timed_bare_insert(const char *path)
{
	struct spec *s = grid_spec();
	struct expander *e;
	struct buf b = { 0 }, all = { 0 };
	struct store *st;
	sqlite3_stmt *stmt;
	sqlite3 *db;
	char *cause = NULL, *p;
	size_t *offs = NULL, n = 0, cap = 0, i;
	double t0, dt;
	int64_t sweep_id;

	e = expander_create(s, &cause);
	while (expander_next(e, &b)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			offs = xreallocarray(offs, cap, sizeof *offs);
		}
		offs[n++] = all.len;
		buf_add(&all, b.data, b.len + 1);
	}
	expander_free(e);
	st = open_fresh(path);
	db = store_db(st);
	sqlite3_exec(db, "INSERT INTO sweeps(name, spec_text, method, goal, param_names, "
	    "metric_names, max_failures, max_preemptions, checkpoint_keep, created_at) VALUES "
	    "('bare', '{}', 'grid', 'minimize', '[]', '[]', 2, 20, 3, 0)", NULL, NULL, NULL);
	sweep_id = sqlite3_last_insert_rowid(db);
	t0 = now_mono();
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO trials(sweep_id, params) VALUES (?, ?)", -1,
	    &stmt, NULL);
	for (i = 0; i < n; i++) {
		p = all.data + offs[i];
		sqlite3_bind_int64(stmt, 1, sweep_id);
		sqlite3_bind_text(stmt, 2, p, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			fprintf(stderr, "bench: bare insert: %s\n", sqlite3_errmsg(db));
			exit(1);
		}
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	dt = now_mono() - t0;
	store_close(st);
	spec_free(s);
	buf_free(&b);
	buf_free(&all);
	free(offs);
	return dt;
}

static double
timed_export(const char *path, int64_t *rows)
{
	struct store *st;
	char *cause = NULL;
	FILE *out = fopen("/dev/null", "w");
	double t0, dt;

	if (store_open(path, &st, &cause) != 0 || out == NULL) {
		fprintf(stderr, "bench: %s\n", cause ? cause : "cannot open /dev/null");
		exit(1);
	}
	t0 = now_mono();
	if (csv_export_sweep(st, 1, out, &cause) != 0) {
		fprintf(stderr, "bench: export: %s\n", cause);
		exit(1);
	}
	dt = now_mono() - t0;
	fclose(out);
	*rows = 0;
	{
		sqlite3_stmt *stmt;

		sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM trials WHERE sweep_id = 1",
		    -1, &stmt, NULL);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			*rows = sqlite3_column_int64(stmt, 0);
		sqlite3_finalize(stmt);
	}
	store_close(st);
	return dt;
}

int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char *db_submit = xasprintf("%s/bench-submit.db", dir);
	char *db_bare = xasprintf("%s/bench-bare.db", dir);
	double t_submit, t_bare, t_export;
	uint64_t n;
	long rss_kb;
	int64_t rows;

	t_submit = timed_submit(db_submit, &rss_kb, &n);
	t_bare = timed_bare_insert(db_bare);
	t_export = timed_export(db_submit, &rows);
	printf("submit of a %llu-trial grid\n", (unsigned long long)n);
	printf("  spotsweep submit (expand + store):  %8.3f s  %10.0f trials/s\n", t_submit,
	    (double)n / t_submit);
	printf("  bare prepared insert, same rows:    %8.3f s  %10.0f rows/s\n", t_bare,
	    (double)n / t_bare);
	printf("  ratio submit / bare insert:         %8.2f   (target <= 2.00)\n",
	    t_submit / t_bare);
	printf("  submit peak RSS:                    %8.1f MB (target < 64 MB)\n",
	    (double)rss_kb / 1024.0);
	printf("export of %lld rows to CSV\n", (long long)rows);
	printf("  export:                             %8.3f s  %10.0f rows/s (target: 1,000,000 "
	    "rows < 3 s)\n", t_export, (double)rows / t_export);
	unlink(db_submit);
	unlink(db_bare);
	free(db_submit);
	free(db_bare);
	return 0;
}
