/* Unit tests for the Slurm dispatcher's pure parts: what each Slurm job state means, the
 * agent's grace, the batch script (run through /bin/sh to see the words the agent gets),
 * sbatch's argv from a pool, the job id sbatch prints, squeue's lines, and the slurm pool's
 * config keys with their defaults and errors. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/config.h"
#include "spotsweep/server-slurm.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"

START_TEST(test_state_phase)
{
	static const struct {
		const char		*state;
		enum slurm_phase	 want;
	} cases[] = {
		{ "PENDING", SLURM_QUEUED }, { "REQUEUED", SLURM_QUEUED },
		{ "RUNNING", SLURM_RUNNING }, { "CONFIGURING", SLURM_RUNNING },
		{ "COMPLETING", SLURM_STOPPING }, { "SIGNALING", SLURM_STOPPING },
		{ "SUSPENDED", SLURM_HELD }, { "REQUEUE_HOLD", SLURM_HELD },
		{ "COMPLETED", SLURM_ENDED }, { "CANCELLED", SLURM_ENDED },
		{ "FAILED", SLURM_ENDED }, { "TIMEOUT", SLURM_ENDED }, { "PREEMPTED", SLURM_ENDED },
		{ "NODE_FAIL", SLURM_ENDED }, { "OUT_OF_MEMORY", SLURM_ENDED },
		{ "GONE", SLURM_ENDED },
		/* Unknown to this build: alive, so that nothing is concluded from it. */
		{ "SOMETHING_NEW", SLURM_HELD }, { "", SLURM_HELD }, { "running", SLURM_HELD },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(slurm_state_phase(cases[i].state) == cases[i].want,
		    "case %zu (%s): got %d want %d", i, cases[i].state,
		    slurm_state_phase(cases[i].state), cases[i].want);
	ck_assert_int_eq(slurm_state_phase(NULL), SLURM_HELD);
}
END_TEST

START_TEST(test_agent_grace)
{
	static const struct {
		double	signal_grace_s;
		long	want;
	} cases[] = {
		{ 60, 45 }, { 40, 30 }, { 4, 3 }, { 2, 1 }, { 1, 1 }, { 65535, 49151 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(slurm_agent_grace(cases[i].signal_grace_s) == cases[i].want,
		    "case %zu: got %ld want %ld", i, slurm_agent_grace(cases[i].signal_grace_s),
		    cases[i].want);
}
END_TEST

/* A slurm pool as config.c leaves it, before the test's changes. */
static void
pool_init(struct pool *p, const char *name)
{
	memset(p, 0, sizeof *p);
	p->name = (char *)name;
	p->dispatch = DISPATCH_SLURM;
	p->agent_path = (char *)"spotsweep-agent";
	p->requeue = -1;
	p->signal_grace_s = 60;
	p->once = true;
	p->idle_exit_s = 30;
	p->poll_interval_s = 2;
}

/* Runs the batch script's line through /bin/sh with SLURM_JOB_ID=42 and the agent replaced
 * by printf, so the words the agent would get come back one a line. */
START_TEST(test_agent_command_words)
{
	static const struct {
		const char	*name;
		const char	*url;
		bool		 once;
		const char	*args[3];
		const char	*want;
	} cases[] = {
		{ "cluster", "http://sched:8470", true, { NULL },
		    "[--server][http://sched:8470][--pool][cluster][--name][slurm-42]"
		    "[--grace-s][45][--once][--idle-exit-s][30]" },
		{ "gpu pool", "http://h:1", false, { "--workdir", "/scratch/$USER x", NULL },
		    "[--server][http://h:1][--pool][gpu pool][--name][slurm-42][--grace-s][45]"
		    "[--idle-exit-s][30][--workdir][/scratch/$USER x]" },
		{ "a'b", "http://h:1/$(touch /tmp/no)", true, { "`id`", NULL },
		    "[--server][http://h:1/$(touch /tmp/no)][--pool][a'b][--name][slurm-42]"
		    "[--grace-s][45][--once][--idle-exit-s][30][`id`]" },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pool p;
		struct buf out = { 0 };
		char *cmd, *script, line[512];
		FILE *f;

		pool_init(&p, cases[i].name);
		p.agent_path = (char *)"printf";
		p.once = cases[i].once;
		for (n = 0; cases[i].args[n] != NULL; n++)
			;
		p.agent_args = (char **)cases[i].args;
		p.nagent_args = n;
		cmd = slurm_agent_command(&p, cases[i].url);
		ck_assert_msg(strncmp(cmd, "exec 'printf' ", 14) == 0, "case %zu: %s", i, cmd);
		/* printf's format first: each further word comes out as [word]. */
		script = xasprintf("SLURM_JOB_ID=42; export SLURM_JOB_ID; exec 'printf' '[%%s]' %s",
		    cmd + 14);
		f = popen(script, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof line, f) != NULL)
			buf_adds(&out, line);
		ck_assert_int_eq(pclose(f), 0);
		ck_assert_msg(strcmp(out.data, cases[i].want) == 0, "case %zu: got %s want %s", i,
		    out.data, cases[i].want);
		buf_free(&out);
		free(script);
		free(cmd);
	}
}
END_TEST

START_TEST(test_agent_command_tilde)
{
	struct pool p;
	char *cmd;

	pool_init(&p, "c");
	p.agent_path = (char *)"~/bin/spotsweep-agent";
	cmd = slurm_agent_command(&p, "http://h:1");
	ck_assert_msg(strncmp(cmd, "exec ~/'bin/spotsweep-agent' '--server'", 39) == 0, "%s",
	    cmd);
	free(cmd);
}
END_TEST

/* The argv joined with single spaces, without the last word (--wrap=...). */
static char *
joined_options(char **argv)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++) {
		if (i > 0)
			buf_addc(&b, ' ');
		buf_adds(&b, argv[i]);
	}
	return buf_steal(&b);
}

START_TEST(test_sbatch_argv)
{
	static const char *const extra[] = { "--time=00:30:00", "--output=/o/%j.out", NULL };
	static const struct {
		const char	*partition, *account, *qos, *gres, *time_limit;
		int		 requeue;
		double		 signal_grace_s;
		bool		 extra;
		const char	*want;
	} cases[] = {
		{ NULL, NULL, NULL, NULL, NULL, -1, 60, false,
		    "sbatch --parsable --job-name=spotsweep-gpu --signal=B:TERM@60" },
		{ "spot", "ml", "low", "gpu:1", "04:00:00", 1, 90, false,
		    "sbatch --parsable --job-name=spotsweep-gpu --partition=spot --account=ml"
		    " --qos=low --gres=gpu:1 --time=04:00:00 --signal=B:TERM@90 --requeue" },
		/* sbatch_args come last, so that they override ours. */
		{ "p", NULL, NULL, NULL, "01:00:00", 0, 30, true,
		    "sbatch --parsable --job-name=spotsweep-gpu --partition=p --time=01:00:00"
		    " --signal=B:TERM@30 --no-requeue --time=00:30:00 --output=/o/%j.out" },
	};
	size_t i, n;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pool p;
		char **argv, *got, *cmd, *wrap;

		pool_init(&p, "gpu");
		p.partition = (char *)cases[i].partition;
		p.account = (char *)cases[i].account;
		p.qos = (char *)cases[i].qos;
		p.gres = (char *)cases[i].gres;
		p.time_limit = (char *)cases[i].time_limit;
		p.requeue = cases[i].requeue;
		p.signal_grace_s = cases[i].signal_grace_s;
		if (cases[i].extra) {
			for (n = 0; extra[n] != NULL; n++)
				;
			p.sbatch_args = (char **)extra;
			p.nsbatch_args = n;
		}
		argv = slurm_sbatch_argv(&p, "http://s:1");
		got = joined_options(argv);
		ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu:\n got %s\nwant %s", i,
		    got, cases[i].want);
		for (n = 0; argv[n + 1] != NULL; n++)
			;
		cmd = slurm_agent_command(&p, "http://s:1");
		wrap = xasprintf("--wrap=%s", cmd);
		ck_assert_str_eq(argv[n], wrap);
		free(wrap);
		free(cmd);
		free(got);
		slurm_argv_free(argv);
	}
}
END_TEST

START_TEST(test_parse_job_id)
{
	static const struct {
		const char	*out;
		bool		 ok;
		int64_t		 want;
	} cases[] = {
		{ "42\n", true, 42 }, { "42", true, 42 }, { "1234;cluster2\n", true, 1234 },
		{ "  7 \n", true, 7 }, { "", false, 0 }, { "\n", false, 0 }, { "abc\n", false, 0 },
		{ "0\n", false, 0 }, { "-3\n", false, 0 }, { "12x\n", false, 0 },
		{ ";c\n", false, 0 }, { "99999999999999999999999\n", false, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t id = -1;
		bool ok = slurm_parse_job_id(cases[i].out, &id);

		ck_assert_msg(ok == cases[i].ok, "case %zu: ok %d", i, ok);
		if (ok)
			ck_assert_msg(id == cases[i].want, "case %zu: id %lld", i, (long long)id);
	}
}
END_TEST

START_TEST(test_parse_status)
{
	static const struct {
		const char	*line;
		bool		 ok;
		int64_t		 id;
		const char	*state, *reason, *node;
	} cases[] = {
		{ "12|RUNNING|None|gpu-7", true, 12, "RUNNING", NULL, "gpu-7" },
		{ "13|PENDING|Resources|", true, 13, "PENDING", "Resources", NULL },
		{ "14|PENDING|BeginTime|\r", true, 14, "PENDING", "BeginTime", NULL },
		{ "15|COMPLETED|None|n[1-2]", true, 15, "COMPLETED", NULL, "n[1-2]" },
		{ "16|CANCELLED||", true, 16, "CANCELLED", NULL, NULL },
		{ "", false, 0, NULL, NULL, NULL },
		{ "slurm_load_jobs error: Invalid job id specified", false, 0, NULL, NULL, NULL },
		{ "17|RUNNING|None", false, 0, NULL, NULL, NULL },
		{ "x|RUNNING|None|n", false, 0, NULL, NULL, NULL },
		{ "18||None|n", false, 0, NULL, NULL, NULL },
		{ "12_3|RUNNING|None|n", false, 0, NULL, NULL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct slurm_status st;
		bool ok = slurm_parse_status(cases[i].line, &st);

		ck_assert_msg(ok == cases[i].ok, "case %zu: ok %d", i, ok);
		if (!ok)
			continue;
		ck_assert_msg(st.job_id == cases[i].id, "case %zu", i);
		ck_assert_str_eq(st.state, cases[i].state);
		if (cases[i].reason == NULL)
			ck_assert_ptr_null(st.reason);
		else
			ck_assert_str_eq(st.reason, cases[i].reason);
		if (cases[i].node == NULL)
			ck_assert_ptr_null(st.node);
		else
			ck_assert_str_eq(st.node, cases[i].node);
		slurm_status_clear(&st);
	}
}
END_TEST

START_TEST(test_config_keys)
{
	static const struct {
		const char	*pool;		/* members after name, class, dispatch */
		const char	*error;		/* NULL: valid */
		int		 requeue;
		double		 grace, idle, poll;
		bool		 once;
		const char	*time_limit;
	} cases[] = {
		{ "", NULL, -1, 60, 30, 2, true, NULL },
		{ ", \"requeue\": true, \"signal_grace_s\": 120, \"once\": false, \"idle_exit_s\": 5,"
		  " \"poll_interval_s\": 0.5, \"time_limit\": \"02:00:00\"", NULL, 1, 120, 5, 0.5,
		  false, "02:00:00" },
		{ ", \"requeue\": false", NULL, 0, 60, 30, 2, true, NULL },
		{ ", \"requeue\": 1", "pools.0.requeue: expected true or false", 0, 0, 0, 0, 0,
		  NULL },
		{ ", \"signal_grace_s\": 70000", "pools.0.signal_grace_s: expected at most 65535", 0,
		  0, 0, 0, 0, NULL },
		{ ", \"signal_grace_s\": 1.5", "pools.0.signal_grace_s: expected an integer", 0, 0,
		  0, 0, 0, NULL },
		{ ", \"idle_exit_s\": 0", "pools.0.idle_exit_s: expected a value of at least 1", 0,
		  0, 0, 0, 0, NULL },
		{ ", \"poll_interval_s\": 0.1", "pools.0.poll_interval_s: expected a value of at "
		  "least 0.2", 0, 0, 0, 0, 0, NULL },
		{ ", \"time_limit\": \"\"", "pools.0.time_limit: expected a non-empty string", 0, 0,
		  0, 0, 0, NULL },
		{ ", \"requeu\": true", "pools.0.requeu: unknown key (did you mean \"requeue\"?)", 0,
		  0, 0, 0, 0, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config *c = NULL;
		char *text, *cause = NULL;
		int rc;

		text = xasprintf("{\"pools\": [{\"name\": \"c\", \"class\": \"spot\", "
		    "\"dispatch\": \"slurm\"%s}]}", cases[i].pool);
		rc = config_parse("t.json", text, strlen(text), &c, &cause);
		if (cases[i].error != NULL) {
			ck_assert_msg(rc == -1, "case %zu: accepted", i);
			ck_assert_msg(strstr(cause, cases[i].error) != NULL,
			    "case %zu: got [%s] want [%s]", i, cause, cases[i].error);
			free(cause);
			free(text);
			continue;
		}
		ck_assert_msg(rc == 0, "case %zu: %s", i, cause);
		ck_assert_int_eq(c->pools[0].dispatch, DISPATCH_SLURM);
		ck_assert_int_eq(c->pools[0].requeue, cases[i].requeue);
		ck_assert(c->pools[0].signal_grace_s == cases[i].grace);
		ck_assert(c->pools[0].idle_exit_s == cases[i].idle);
		ck_assert(c->pools[0].poll_interval_s == cases[i].poll);
		ck_assert(c->pools[0].once == cases[i].once);
		if (cases[i].time_limit == NULL)
			ck_assert_ptr_null(c->pools[0].time_limit);
		else
			ck_assert_str_eq(c->pools[0].time_limit, cases[i].time_limit);
		config_free(c);
		free(text);
	}
}
END_TEST

int
main(void)
{
	const struct check_case tests[] = {
		{ "core", test_state_phase },
		{ "core", test_agent_grace },
		{ "core", test_agent_command_words },
		{ "core", test_agent_command_tilde },
		{ "core", test_sbatch_argv },
		{ "core", test_parse_job_id },
		{ "core", test_parse_status },
		{ "core", test_config_keys },
	};

	return check_main("server_slurm", tests, CHECK_NELEM(tests), NULL, NULL, 0);
}
