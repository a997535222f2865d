/* Unit tests for the SSH dispatch's pure parts and its store entry point: the remote command
 * (quoting, "~/"), the ssh argv (the pool's options first, multiplexing, identity, port,
 * user), the host backoff, the config keys ssh_options and agent_args, and trial_lose()
 * (charged and free interruptions, a stale attempt, a cancelled trial). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotsweep/config.h"
#include "spotsweep/server-ssh.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"
#include "store-fixture.h"

START_TEST(test_remote_command)
{
	static const struct {
		const char	*path;
		const char	*args[3];
		const char	*want;
	} cases[] = {
		{ "spotsweep-agent", { NULL }, "exec 'spotsweep-agent' --stdio" },
		{ "/opt/s s/agent", { "--workdir", "/w", NULL },
		    "exec '/opt/s s/agent' --stdio '--workdir' '/w'" },
		{ "~/bin/spotsweep-agent", { NULL }, "exec ~/'bin/spotsweep-agent' --stdio" },
		{ "a'b", { "~/x", "$(rm -rf /)", NULL },
		    "exec 'a'\\''b' --stdio '~/x' '$(rm -rf /)'" },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pool p;
		char *got;

		memset(&p, 0, sizeof p);
		p.agent_path = (char *)cases[i].path;
		for (n = 0; cases[i].args[n] != NULL; n++)
			;
		p.agent_args = (char **)cases[i].args;
		p.nagent_args = n;
		got = ssh_remote_command(&p);
		ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: got [%s] want [%s]", i,
		    got, cases[i].want);
		free(got);
	}
}
END_TEST

/* The argv joined with single spaces. */
static char *
joined(char **argv)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			buf_addc(&b, ' ');
		buf_adds(&b, argv[i]);
	}
	return buf_steal(&b);
}

START_TEST(test_session_argv)
{
	static const struct {
		const char	*user;
		const char	*identity;
		int		 port;
		const char	*ctl;
		const char	*opt;
		const char	*want_in;	/* must appear */
		const char	*want_out;	/* must not appear */
	} cases[] = {
		{ NULL, NULL, 22, NULL, NULL, "-p 22 -- gpu1 CMD", "ControlMaster" },
		{ "ml", NULL, 2222, NULL, NULL, "-p 2222 -l ml -- gpu1 CMD", "-i " },
		{ NULL, "~/.ssh/k", 22, NULL, NULL, "-i ~/.ssh/k -p 22", "-l " },
		{ NULL, NULL, 22, "/run/x/0", NULL,
		    "-o ControlMaster=auto -o ControlPath=/run/x/0 -o ControlPersist=60", NULL },
		{ NULL, NULL, 22, NULL, NULL, "-T -o BatchMode=yes -o ConnectTimeout=10 "
		    "-o ServerAliveInterval=3 -o ServerAliveCountMax=3 "
		    "-o StrictHostKeyChecking=accept-new", NULL },
		/* The pool's options come first: ssh keeps the first value it reads. */
		{ NULL, NULL, 22, "/run/x/0", "ControlMaster=no",
		    "ssh -o ControlMaster=no -T", NULL },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pool p;
		struct pool_host h;
		char *opts[1] = { (char *)cases[i].opt }, **argv, *s;

		memset(&p, 0, sizeof p);
		memset(&h, 0, sizeof h);
		h.host = (char *)"gpu1";
		h.user = (char *)cases[i].user;
		h.identity_file = (char *)cases[i].identity;
		h.port = cases[i].port;
		h.slots = 1;
		if (cases[i].opt != NULL) {
			p.ssh_options = opts;
			p.nssh_options = 1;
		}
		argv = ssh_session_argv(&p, &h, cases[i].ctl, "CMD");
		s = joined(argv);
		ck_assert_msg(strncmp(s, "ssh ", 4) == 0, "case %zu: %s", i, s);
		ck_assert_msg(strstr(s, cases[i].want_in) != NULL, "case %zu: [%s] lacks [%s]", i,
		    s, cases[i].want_in);
		if (cases[i].want_out != NULL)
			ck_assert_msg(strstr(s, cases[i].want_out) == NULL,
			    "case %zu: [%s] has [%s]", i, s, cases[i].want_out);
		free(s);
		/* The remote command is one argument, the last, right after the host. */
		for (n = 0; argv[n] != NULL; n++)
			;
		ck_assert_uint_ge(n, 3);
		ck_assert_str_eq(argv[n - 1], "CMD");
		ck_assert_str_eq(argv[n - 2], "gpu1");
		ck_assert_str_eq(argv[n - 3], "--");
		ssh_argv_free(argv);
	}
}
END_TEST

START_TEST(test_backoff)
{
	static const struct {
		unsigned	failures;
		double		want;
	} cases[] = {
		{ 1, 2 }, { 2, 4 }, { 3, 8 }, { 7, 128 }, { 8, 256 }, { 9, 300 }, { 50, 300 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(ssh_host_backoff(cases[i].failures) == cases[i].want,
		    "failures %u: %g", cases[i].failures, ssh_host_backoff(cases[i].failures));
}
END_TEST

START_TEST(test_config_keys)
{
	static const struct {
		const char	*text;
		const char	*error;		/* NULL: parses */
		size_t		 nopts;
		size_t		 nargs;
	} cases[] = {
		{ "{\"pools\": [{\"name\": \"p\", \"class\": \"spot\", \"dispatch\": \"ssh\","
		  " \"hosts\": [{\"host\": \"h\"}], \"ssh_options\": [\"Port=2\", \"Compression=yes\"],"
		  " \"agent_args\": [\"--grace-s\", \"5\"]}]}", NULL, 2, 2 },
		{ "{\"pools\": [{\"name\": \"p\", \"class\": \"spot\", \"dispatch\": \"ssh\","
		  " \"hosts\": [{\"host\": \"h\"}], \"ssh_options\": \"Port=2\"}]}",
		  "pools.0.ssh_options: expected an array of strings", 0, 0 },
		{ "{\"pools\": [{\"name\": \"p\", \"class\": \"spot\", \"dispatch\": \"ssh\","
		  " \"hosts\": [{\"host\": \"h\"}], \"agent_args\": [\"--x\", 3]}]}",
		  "pools.0.agent_args.1: expected a non-empty string", 0, 0 },
		{ "{\"pools\": [{\"name\": \"p\", \"class\": \"spot\", \"dispatch\": \"ssh\","
		  " \"hosts\": [{\"host\": \"h\"}], \"ssh_option\": []}]}",
		  "did you mean \"ssh_options\"", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config *c = NULL;
		char *cause = NULL;
		int rc = config_parse("c.json", cases[i].text, strlen(cases[i].text), &c, &cause);

		if (cases[i].error == NULL) {
			ck_assert_msg(rc == 0, "case %zu: %s", i, cause);
			ck_assert_uint_eq(c->pools[0].nssh_options, cases[i].nopts);
			ck_assert_uint_eq(c->pools[0].nagent_args, cases[i].nargs);
			ck_assert_str_eq(c->pools[0].ssh_options[1], "Compression=yes");
			ck_assert_str_eq(c->pools[0].agent_args[0], "--grace-s");
			ck_assert_str_eq(c->pools[0].agent_path, "spotsweep-agent");
			config_free(c);
		} else {
			ck_assert_msg(rc != 0, "case %zu parsed", i);
			ck_assert_msg(strstr(cause, cases[i].error) != NULL, "case %zu: %s", i,
			    cause);
			free(cause);
		}
	}
}
END_TEST

static void
setup(void)
{
	store_fixture_open("check_server_ssh");
}

static void
teardown(void)
{
	store_fixture_close();
}

static int64_t
query_int(const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static char *
query_text(const char *sql)
{
	sqlite3_stmt *stmt;
	char *v = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL)
		v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return v;
}

START_TEST(test_trial_lose)
{
	static const char spec_text[] =
	    "{\"name\": \"t\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1]}},"
	    " \"metric\": {\"name\": \"loss\", \"goal\": \"minimize\"},"
	    " \"retry\": {\"max_preemptions\": 1}}";
	/* Each step: lease (the attempt number expected), then lose (charge) and what the trial
	 * is afterwards. Attempt 3 is charged a second time past the budget of 1: abandoned. */
	static const struct {
		bool		 charge;
		int		 want_rc;
		const char	*state;
		int64_t		 preemptions;
		const char	*outcome;
	} steps[] = {
		{ false, TRIAL_OK, "pending", 0, "lost" },
		{ true, TRIAL_OK, "pending", 1, "lost" },
		{ true, TRIAL_OK, "abandoned", 2, "lost" },
	};
	struct spec *s;
	struct lease_request lr;
	struct lease l;
	char *cause = NULL, *text, sql[160];
	int64_t sweep_id;
	uint64_t n;
	size_t i;

	ck_assert_msg(spec_parse("t.json", spec_text, strlen(spec_text), &s, &cause) == 0, "%s",
	    cause);
	ck_assert(store_sweep_create(st, s, "t.json", &sweep_id, &n, &cause) == 0);
	spec_free(s);
	memset(&lr, 0, sizeof lr);
	lr.lease_timeout_s = 60;
	lr.gpus = 1;
	lr.price_per_hour = 3600;
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		lr.now = 1000.0 + 100 * (double)i;
		ck_assert_int_eq(trial_lease(st, &lr, &l, &cause), 1);
		ck_assert_int_eq(l.attempt, (int64_t)i + 1);
		ck_assert_int_eq(trial_lose(st, l.trial_id, l.attempt, "ssh session ended",
		    steps[i].charge, lr.now + 10, &cause), steps[i].want_rc);
		snprintf(sql, sizeof sql, "SELECT state FROM trials WHERE id = %lld",
		    (long long)l.trial_id);
		text = query_text(sql);
		ck_assert_msg(strcmp(text, steps[i].state) == 0, "step %zu: %s", i, text);
		free(text);
		snprintf(sql, sizeof sql, "SELECT preemptions FROM trials WHERE id = %lld",
		    (long long)l.trial_id);
		ck_assert_int_eq(query_int(sql), steps[i].preemptions);
		snprintf(sql, sizeof sql, "SELECT outcome FROM attempts WHERE attempt = %zu", i + 1);
		text = query_text(sql);
		ck_assert_str_eq(text, steps[i].outcome);
		free(text);
		/* A free interruption costs nothing; a charged one runs to the last heartbeat
		 * (the lease time here: 0 s) at the attempt's price. */
		snprintf(sql, sizeof sql, "SELECT CAST(runtime_s * 1000 AS INTEGER) FROM attempts"
		    " WHERE attempt = %zu", i + 1);
		ck_assert_int_eq(query_int(sql), 0);
		lease_clear(&l);
		/* The same report again is stale and changes nothing. */
		ck_assert_int_eq(trial_lose(st, 1, (int64_t)i + 1, "again", true, lr.now + 20,
		    &cause), TRIAL_ESTALE);
		free(cause);
		cause = NULL;
	}
	ck_assert_int_eq(query_int("SELECT count(*) FROM events WHERE kind = 'attempt.lost'"), 3);
}
END_TEST

START_TEST(test_trial_lose_cancelled)
{
	static const char spec_text[] =
	    "{\"name\": \"t\", \"command\": \"true\", \"method\": \"grid\","
	    " \"parameters\": {\"x\": {\"values\": [1]}},"
	    " \"metric\": {\"name\": \"loss\", \"goal\": \"minimize\"}}";
	struct spec *s;
	struct lease_request lr;
	struct lease l;
	char *cause = NULL, *text;
	int64_t sweep_id;
	uint64_t n;

	ck_assert(spec_parse("t.json", spec_text, strlen(spec_text), &s, &cause) == 0);
	ck_assert(store_sweep_create(st, s, "t.json", &sweep_id, &n, &cause) == 0);
	spec_free(s);
	memset(&lr, 0, sizeof lr);
	lr.lease_timeout_s = 60;
	lr.now = 1000;
	ck_assert_int_eq(trial_lease(st, &lr, &l, &cause), 1);
	ck_assert_int_eq(trial_cancel(st, l.trial_id, &cause), 0);
	ck_assert_int_eq(trial_lose(st, l.trial_id, l.attempt, "ssh session ended", true, 1010,
	    &cause), TRIAL_OK);
	text = query_text("SELECT outcome FROM attempts");
	ck_assert_str_eq(text, "cancelled");
	free(text);
	text = query_text("SELECT state FROM trials");
	ck_assert_str_eq(text, "cancelled");
	free(text);
	ck_assert_int_eq(query_int("SELECT preemptions FROM trials"), 0);
	lease_clear(&l);
}
END_TEST

int
main(void)
{
	const struct check_case pure[] = {
		{ "pure", test_remote_command },
		{ "pure", test_session_argv },
		{ "pure", test_backoff },
		{ "pure", test_config_keys },
	};
	const struct check_case on_store[] = {
		{ "store", test_trial_lose },
		{ "store", test_trial_lose_cancelled },
	};
	Suite *s = suite_create("server_ssh");

	check_add_cases(s, pure, CHECK_NELEM(pure), NULL, NULL, 0);
	check_add_cases(s, on_store, CHECK_NELEM(on_store), setup, teardown, 0);
	return check_run(s);
}
