/* What the check suites that drive the scheduler without a socket (server_handle) share: an
 * in-memory store holding one sweep, a server over it that wants the token "t0ken", one
 * request helper, and the teardown. Included by one test .c file each. */
#ifndef SPOTSWEEP_TESTS_SERVER_FIXTURE_H
#define SPOTSWEEP_TESTS_SERVER_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/event.h>

#include "spotsweep/config.h"
#include "spotsweep/log.h"
#include "spotsweep/server-impl.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"

#define TOKEN "Bearer t0ken"

static struct event_base *base;
static struct store *st;
static struct config *cfg;
static struct server *srv;

/* Opens the store with the sweep spec_text (named spec_name in messages) and the server. */
static __attribute__((unused)) void
fixture_open(const char *spec_name, const char *spec_text, size_t len)
{
	struct spec *s = NULL;
	char *cause = NULL;
	int64_t id;
	uint64_t n;

	log_threshold = LOG_ERROR;
	ck_assert_msg(store_open(":memory:", &st, &cause) == 0, "%s", cause);
	ck_assert_msg(spec_parse(spec_name, spec_text, len, &s, &cause) == 0, "%s", cause);
	ck_assert_msg(store_sweep_create(st, s, spec_name, &id, &n, &cause) == 0, "%s", cause);
	spec_free(s);
	cfg = config_default();
	base = event_base_new();
	event_base_priority_init(base, SERVER_PRIORITIES);
	ck_assert_msg(server_create(base, st, cfg, NULL, "t0ken", &srv, &cause) == 0, "%s",
	    cause);
}

static __attribute__((unused)) void
fixture_close(void)
{
	server_free(srv);
	event_base_free(base);
	store_close(st);
	config_free(cfg);
}

/* One request; returns the status and (when reply is not NULL) the body. */
static __attribute__((unused)) int
req(const char *method, const char *uri, const char *auth, const char *body, char **reply)
{
	char *r = NULL;
	int status;

	status = server_handle(srv, method, uri, auth, body, body ? strlen(body) : 0, &r);
	if (reply != NULL)
		*reply = r;
	else
		free(r);
	return status;
}

#endif
