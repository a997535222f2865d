/* The scheduler a fuzz target talks to (fuzz_http.c, fuzz_stdio.c), without a socket: a
 * server made with no listener over an in-memory store holding one grid sweep of three
 * trials, two registered workers, and trial 1 leased to the first one. Made once per
 * process; world_reset() restores the database to that state (sqlite3_deserialize of a
 * snapshot) before each input, so every input starts from the same place. @T, @A, @W, @S
 * and @X in an input stand for the leased trial's id, its attempt, the worker's id, the
 * lease secret and the second worker's id (world_expand), so that inputs get past the lease
 * check. Static functions: each target includes this once. */
#ifndef SPOTSWEEP_FUZZ_WORLD_H
#define SPOTSWEEP_FUZZ_WORLD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "spotsweep/config.h"
#include "spotsweep/log.h"
#include "spotsweep/server.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define TOKEN		"tok"

static const char spec_text[] =
    "{\"name\": \"fuzz\", \"command\": \"true {x} {y}\", \"method\": \"grid\","
    " \"parameters\": {\"x\": {\"values\": [1, 2, 3]}, \"y\": {\"value\": \"a'b\"}},"
    " \"metric\": {\"name\": \"val_loss\", \"goal\": \"minimize\"},"
    " \"retry\": {\"max_failures\": 1, \"max_preemptions\": 2}, \"checkpoint\": {\"keep\": 2}}";

struct world {
	unsigned char		*snapshot;
	sqlite3_int64		 snapshot_len;
	struct event_base	*base;
	struct store		*st;
	struct config		*cfg;
	struct server		*srv;
	char			 trial[24], attempt[24], worker[24], worker2[24], secret[64];
};

static void
die(const char *what, const char *cause)
{
	fprintf(stderr, "fuzz_http setup: %s: %s\n", what, cause ? cause : "?");
	abort();
}

/* Sends one request; the reply as a JSON object (NULL for none). */
static json_t *
call(struct world *w, const char *method, const char *uri, const char *body, int want)
{
	char *reply = NULL;
	json_t *o = NULL;
	int status;

	status = server_handle(w->srv, method, uri, "Bearer " TOKEN, body, strlen(body), &reply);
	if (status != want)
		die(uri, reply);
	if (reply != NULL)
		o = json_loads(reply, 0, NULL);
	free(reply);
	return o;
}

static void
copy_field(char *out, size_t n, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		snprintf(out, n, "%s", json_string_value(v));
	else
		die("missing field", key);
}

static void
world_create(struct world *w)
{
	struct spec *s = NULL;
	char *cause = NULL;
	int64_t id;
	uint64_t n;
	json_t *o;

	memset(w, 0, sizeof *w);
	if (store_open(":memory:", &w->st, &cause) != 0)
		die("store", cause);
	if (spec_parse("fuzz.json", spec_text, sizeof spec_text - 1, &s, &cause) != 0)
		die("spec", cause);
	if (store_sweep_create(w->st, s, "fuzz.json", &id, &n, &cause) != 0)
		die("sweep", cause);
	spec_free(s);
	w->cfg = config_default();
	w->base = event_base_new();
	event_base_priority_init(w->base, SERVER_PRIORITIES);
	if (server_create(w->base, w->st, w->cfg, NULL, TOKEN, &w->srv, &cause) != 0)
		die("server", cause);
	o = call(w, "POST", "/v1/workers", "{\"name\": \"w1\", \"slots\": 2}", 200);
	copy_field(w->worker, sizeof w->worker, o, "worker_id");
	json_decref(o);
	o = call(w, "POST", "/v1/workers", "{\"name\": \"w2\", \"pool\": null}", 200);
	copy_field(w->worker2, sizeof w->worker2, o, "worker_id");
	json_decref(o);
	snprintf(w->secret, sizeof w->secret, "{\"worker_id\": %s}", w->worker);
	o = call(w, "POST", "/v1/lease", w->secret, 200);
	copy_field(w->trial, sizeof w->trial, o, "trial_id");
	copy_field(w->attempt, sizeof w->attempt, o, "attempt");
	copy_field(w->secret, sizeof w->secret, o, "lease_secret");
	json_decref(o);
}

/* Puts the database back as it was when the world was made. */
static void
world_reset(struct world *w)
{
	sqlite3 *db = store_db(w->st);
	unsigned char *copy;

	if (w->snapshot == NULL) {
		w->snapshot = sqlite3_serialize(db, "main", &w->snapshot_len, 0);
		if (w->snapshot == NULL)
			die("snapshot", sqlite3_errmsg(db));
		return;
	}
	copy = sqlite3_malloc64((sqlite3_uint64)w->snapshot_len);
	memcpy(copy, w->snapshot, (size_t)w->snapshot_len);
	if (sqlite3_deserialize(db, "main", copy, w->snapshot_len, w->snapshot_len,
	    SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK)
		die("restore", sqlite3_errmsg(db));
}

/* Copies text with the @ placeholders replaced. */
static char *
world_expand(const struct world *w, const char *p, size_t n)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '@' && i + 1 < n) {
			const char *v = NULL;

			switch (p[i + 1]) {
			case 'T': v = w->trial; break;
			case 'A': v = w->attempt; break;
			case 'W': v = w->worker; break;
			case 'X': v = w->worker2; break;
			case 'S': v = w->secret; break;
			}
			if (v != NULL) {
				buf_adds(&b, v);
				i++;
				continue;
			}
		}
		buf_addc(&b, p[i]);
	}
	buf_addc(&b, '\0');
	b.len--;
	return buf_steal(&b);
}

static void
world_check_counters(struct world *w)
{
	static const char *const states[] = { "pending", "running", "succeeded", "pruned",
	    "abandoned", "cancelled" };
	sqlite3 *db = store_db(w->st);
	sqlite3_stmt *stmt;
	char sql[256];
	size_t i;
	int64_t counter, actual;

	for (i = 0; i < sizeof states / sizeof states[0]; i++) {
		snprintf(sql, sizeof sql, "SELECT n_%s, (SELECT count(*) FROM trials t WHERE"
		    " t.sweep_id = s.id AND t.state = '%s') FROM sweeps s", states[i], states[i]);
		if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
			die("counters", sqlite3_errmsg(db));
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			counter = sqlite3_column_int64(stmt, 0);
			actual = sqlite3_column_int64(stmt, 1);
			if (counter != actual) {
				fprintf(stderr, "n_%s is %lld, %lld trials are %s\n", states[i],
				    (long long)counter, (long long)actual, states[i]);
				abort();
			}
		}
		sqlite3_finalize(stmt);
	}
}

#endif
