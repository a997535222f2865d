/* Unit tests of the agent's pure parts: the output reader (metric patterns, SPOTSWEEP lines,
 * fatal patterns, overlong lines, step counters, chunking independence), placeholder
 * expansion with shell quoting, parameter text forms, environment names, UTF-8 sanitizing,
 * and termination-notice bodies. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/agent-command.h"
#include "spotsweep/agent-notice.h"
#include "spotsweep/agent-output.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"

#define LOSS_PATTERN	"val_loss[=: ]+([-+0-9.eE]+)"

struct output_case {
	const char	*what;
	const char	*patterns[4];	/* name, pattern pairs: {"val_loss", LOSS_PATTERN} */
	const char	*fatal[3];
	size_t		 max_line;
	const char	*input;
	size_t		 input_len;	/* 0: strlen(input) */
	const char	*events;	/* expected, in the form record_event() writes */
	unsigned	 bad_spotsweep;
	unsigned	 bad_values;
};

static const struct output_case output_cases[] = {
	{ "metric pattern lines and step counters",
	  { "val_loss", LOSS_PATTERN, "val_acc", "val_acc=([0-9.]+)" }, { NULL }, 0,
	  "epoch 1 val_loss=0.5 val_acc=0.7\nnoise\nval_loss: 0.25.\n", 0,
	  "M val_loss 0.5 1;M val_acc 0.7 1;M val_loss 0.25 2;", 0, 0 },
	{ "SPOTSWEEP metrics with a step, then counters continue after it",
	  { "val_loss", LOSS_PATTERN }, { NULL }, 0,
	  "SPOTSWEEP {\"metrics\": {\"val_loss\": 0.31, \"acc\": 1}, \"step\": 100}\n"
	  "val_loss=0.2\nSPOTSWEEP {\"metrics\": {\"acc\": 2}}\n", 0,
	  "M val_loss 0.31 100;M acc 1 100;M val_loss 0.2 101;M acc 2 101;", 0, 0 },
	{ "SPOTSWEEP checkpoints with and without a step",
	  { NULL }, { NULL }, 0,
	  "SPOTSWEEP {\"checkpoint\": \"/c/step-5.pt\", \"step\": 5}\n"
	  "  SPOTSWEEP {\"checkpoint\": \"/c/last.pt\"}\n"
	  "SPOTSWEEP {\"metrics\": {\"l\": 3}, \"checkpoint\": \"/c/x\", \"step\": 9}\n", 0,
	  "C /c/step-5.pt 5;C /c/last.pt 6;M l 3 9;C /c/x 9;", 0, 0 },
	{ "malformed SPOTSWEEP lines are ignored and counted",
	  { "val_loss", LOSS_PATTERN }, { NULL }, 0,
	  "SPOTSWEEP {bad\nSPOTSWEEP []\nSPOTSWEEP {\"metrics\": 3}\nSPOTSWEEP {\"foo\": 1}\n"
	  "SPOTSWEEP {\"metrics\": {\"x\": \"a\"}}\nSPOTSWEEP {\"checkpoint\": 7}\n"
	  "SPOTSWEEP {\"metrics\": {\"x\": 1}, \"step\": -1}\nSPOTSWEEP {\"metrics\": {\"x\": 1e999}}\n"
	  "SPOTSWEEP {\"metrics\": {\"val_loss\": 1}} trailing\nSPOTSWEEPER {\"metrics\": {\"y\": 1}}\n"
	  "val_loss=4\n", 0,
	  "M val_loss 4 1;", 9, 1 },
	{ "a SPOTSWEEP line is not also matched by the metric patterns",
	  { "loss", "loss\\D*([0-9.]+)" }, { NULL }, 0,
	  "SPOTSWEEP {\"metrics\": {\"loss\": 2}}\nloss 3\n", 0,
	  "M loss 2 1;M loss 3 2;", 0, 0 },
	{ "the first fatal match only",
	  { "val_loss", LOSS_PATTERN }, { "CUDA out of memory", "Segmentation fault" }, 0,
	  "val_loss=1\nRuntimeError: CUDA out of memory. Tried to allocate\n"
	  "Segmentation fault\nval_loss=2\n", 0,
	  "M val_loss 1 1;F CUDA out of memory;M val_loss 2 2;", 0, 0 },
	{ "fatal patterns are regular expressions and see SPOTSWEEP lines too",
	  { NULL }, { "^Killed$", "NaN (loss|grad)" }, 0,
	  "not Killed\nSPOTSWEEP {\"metrics\": {\"a\": 1}} NaN loss\n", 0,
	  "F NaN (loss|grad);", 1, 0 },
	{ "overlong lines are cut, their head still read",
	  { "val_loss", LOSS_PATTERN }, { NULL }, 16,
	  "short\nval_loss=1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nval_loss=2\n0123456789abcdef\n"
	  "0123456789abcdefX", 0,
	  "M val_loss 1 1;O 25;M val_loss 2 2;O 1;", 0, 0 },
	{ "CR, CRLF and a last line without a newline",
	  { "val_loss", LOSS_PATTERN }, { NULL }, 0,
	  "val_loss=1\r\nval_loss=2\rval_loss=3", 0,
	  "M val_loss 1 1;M val_loss 2 2;M val_loss 3 3;", 0, 0 },
	{ "non-finite and unreadable values are dropped",
	  { "val_loss", "val_loss=(\\S+)" }, { NULL }, 0,
	  "val_loss=nan\nval_loss=inf\nval_loss=abc\nval_loss=1e999\nval_loss=5\n", 0,
	  "M val_loss 5 1;", 0, 4 },
	{ "NUL bytes and invalid UTF-8 do not stop matching",
	  { "val_loss", LOSS_PATTERN }, { "boom" }, 0,
	  "\xff\xfe val_loss=7\n\0\0boom\n", 21,
	  "M val_loss 7 1;F boom;", 0, 0 },
	{ "no patterns, no events",
	  { NULL }, { NULL }, 0,
	  "val_loss=1\n\n\n", 0, "", 0, 0 },
};

static void
record_event(const struct agent_event *ev, void *arg)
{
	struct buf	*b = arg;
	char		 num[32];

	switch (ev->kind) {
	case AGENT_EV_METRIC:
		format_double(num, ev->value);
		buf_printf(b, "M %s %s %lld;", ev->name, num, (long long)ev->step);
		break;
	case AGENT_EV_CHECKPOINT:
		ck_assert_uint_eq(strlen(ev->path), ev->path_len);
		buf_printf(b, "C %s %lld;", ev->path, (long long)ev->step);
		break;
	case AGENT_EV_FATAL:
		buf_printf(b, "F %s;", ev->name);
		break;
	case AGENT_EV_OVERLONG:
		buf_printf(b, "O %lld;", (long long)ev->step);
		break;
	default:
		ck_abort_msg("unknown event kind %d", (int)ev->kind);
	}
}

/* Runs one case, feeding the input in chunks of `chunk` bytes (0: all at once). */
static void
run_output_case(const struct output_case *c, size_t chunk)
{
	struct agent_output_pattern	 pats[2];
	const struct agent_output_stats	*st;
	struct agent_output		*o;
	struct buf			 got = { 0 };
	size_t				 npats = 0, nfatal = 0, len, off, n;
	char				*cause = NULL;

	while (npats < 2 && c->patterns[npats * 2] != NULL) {
		pats[npats].name = c->patterns[npats * 2];
		pats[npats].pattern = c->patterns[npats * 2 + 1];
		npats++;
	}
	while (nfatal < 3 && c->fatal[nfatal] != NULL)
		nfatal++;
	o = agent_output_create(pats, npats, c->fatal, nfatal, c->max_line, record_event, &got,
	    &cause);
	ck_assert_msg(o != NULL, "%s: %s", c->what, cause);

	len = c->input_len != 0 ? c->input_len : strlen(c->input);
	for (off = 0; off < len; off += n) {
		n = chunk == 0 ? len : chunk;
		if (n > len - off)
			n = len - off;
		agent_output_feed(o, c->input + off, n);
	}
	agent_output_finish(o);

	ck_assert_msg(strcmp(got.data == NULL ? "" : got.data, c->events) == 0,
	    "%s (chunk %zu):\n got  %s\n want %s", c->what, chunk,
	    got.data == NULL ? "" : got.data, c->events);
	st = agent_output_stats(o);
	ck_assert_msg(st->bad_spotsweep == c->bad_spotsweep, "%s: bad_spotsweep %llu, want %u",
	    c->what, (unsigned long long)st->bad_spotsweep, c->bad_spotsweep);
	ck_assert_msg(st->bad_values == c->bad_values, "%s: bad_values %llu, want %u",
	    c->what, (unsigned long long)st->bad_values, c->bad_values);
	buf_free(&got);
	agent_output_free(o);
}

START_TEST(test_output_cases)
{
	static const size_t	chunks[] = { 0, 1, 2, 3, 7, 4096 };
	size_t			i;

	for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
		run_output_case(&output_cases[_i], chunks[i]);
}
END_TEST

START_TEST(test_output_bad_pattern)
{
	struct agent_output_pattern	 p = { "val_loss", "val_loss=([0-9" };
	const char			*fatal[] = { "(unclosed" };
	char				*cause = NULL;

	ck_assert_ptr_null(agent_output_create(&p, 1, NULL, 0, 0, record_event, NULL, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "metric val_loss: invalid pattern"));
	free(cause);
	cause = NULL;
	ck_assert_ptr_null(agent_output_create(NULL, 0, fatal, 1, 0, record_event, NULL, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "fatal pattern (unclosed"));
	free(cause);
}
END_TEST

START_TEST(test_output_next_step)
{
	struct agent_output_pattern	 p = { "val_loss", LOSS_PATTERN };
	struct buf			 got = { 0 };
	struct agent_output		*o;
	char				*cause = NULL;
	static const char		 in[] = "val_loss=1\nSPOTSWEEP {\"metrics\": "
					    "{\"val_loss\": 2}, \"step\": 50}\n";

	o = agent_output_create(&p, 1, NULL, 0, 0, record_event, &got, &cause);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(agent_output_next_step(o, "val_loss"), 1);
	agent_output_feed(o, in, sizeof in - 1);
	ck_assert_int_eq(agent_output_next_step(o, "val_loss"), 51);
	ck_assert_int_eq(agent_output_next_step(o, "other"), 1);
	ck_assert_uint_eq(agent_output_stats(o)->lines, 2);
	buf_free(&got);
	agent_output_free(o);
}
END_TEST

struct expand_case {
	const char	*tmpl;
	const char	*params;	/* JSON object */
	const char	*want;
};

static const struct expand_case expand_cases[] = {
	{ "python3 train.py --lr {lr} --bs {batch_size}", "{\"lr\": 0.001, \"batch_size\": 64}",
	  "python3 train.py --lr '0.001' --bs '64'" },
	{ "run {trial_id} {attempt} {checkpoint_dir} {resume_from}", "{}",
	  "run '42' '3' '/w/ckpt/sweep-1/trial-42' ''" },
	{ "x {opt} {lr}", "{\"opt\": \"adam w\", \"lr\": 1e-05}", "x 'adam w' '1e-05'" },
	{ "awk '{{print $1}}' {lr}", "{\"lr\": 1}", "awk '{print $1}' '1'" },
	{ "{{lr}} {{{lr}}}", "{\"lr\": 0.1}", "{lr} {'0.1'}" },
	{ "keep {unknown}", "{\"lr\": 1}", NULL },
	{ "stray { brace", "{}", NULL },
	{ "empty {}", "{}", NULL },
	{ "evil {p}", "{\"p\": \"'; rm -rf / #\"}", "evil ''\\''; rm -rf / #'" },
	{ "{trial_id}", "{\"trial_id\": 99}", "'42'" },
	{ "{flag} {list} {nothing}", "{\"flag\": true, \"list\": [1, \"a\"], \"nothing\": null}",
	  "'true' '[1,\"a\"]' 'null'" },
};

START_TEST(test_expand_cases)
{
	const struct expand_case	*c = &expand_cases[_i];
	struct agent_placeholders	 ph = { 42, 3, "/w/ckpt/sweep-1/trial-42", "", NULL, NULL };
	json_error_t			 err;
	json_t				*params;
	char				*got, *cause = NULL;

	params = json_loads(c->params, 0, &err);
	ck_assert_ptr_nonnull(params);
	got = agent_command_expand(c->tmpl, params, &ph, &cause);
	if (c->want == NULL) {
		ck_assert_ptr_null(got);
		ck_assert_ptr_nonnull(cause);
		free(cause);
	} else {
		ck_assert_ptr_nonnull(got);
		ck_assert_str_eq(got, c->want);
	}
	free(got);
	json_decref(params);
}
END_TEST

/* Values that would break out of naive quoting reach the program byte for byte. */
START_TEST(test_expand_through_shell)
{
	static const char	*values[] = {
		"'; rm -rf / #", "$(touch /tmp/pwned)", "`id`", "a\"b\\c", "x y\tz", "",
		"'''", "new\nline", "*", "$HOME",
	};
	struct agent_placeholders	 ph = { 1, 1, "/tmp", "", NULL, NULL };
	const char			*v = values[_i];
	json_t				*params;
	char				*cmd, *shell, out[256];
	size_t				 n;
	FILE				*f;
	struct buf			 b = { 0 };

	params = json_pack("{s:s}", "p", v);
	cmd = agent_command_expand("printf %s {p}", params, &ph, NULL);
	ck_assert_ptr_nonnull(cmd);
	buf_adds(&b, "/bin/sh -c ");
	buf_add_shell_quoted(&b, cmd);
	shell = buf_steal(&b);
	f = popen(shell, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_str_eq(out, v);
	free(shell);
	free(cmd);
	json_decref(params);
}
END_TEST

static const char *const env_cases[][2] = {
	{ "lr", "SPOTSWEEP_PARAM_LR" },
	{ "batch_size", "SPOTSWEEP_PARAM_BATCH_SIZE" },
	{ "model.hidden-dim", "SPOTSWEEP_PARAM_MODEL_HIDDEN_DIM" },
	{ "Layers2", "SPOTSWEEP_PARAM_LAYERS2" },
	{ "\xc3\xbc" "ber x", "SPOTSWEEP_PARAM___BER_X" },
	{ "", "SPOTSWEEP_PARAM_" },
};

START_TEST(test_env_names)
{
	char	*got = agent_param_env_name(env_cases[_i][0]);

	ck_assert_str_eq(got, env_cases[_i][1]);
	free(got);
}
END_TEST

static const char *const text_cases[][2] = {
	{ "0.001", "0.001" }, { "1e-05", "1e-05" }, { "0.1", "0.1" }, { "64", "64" },
	{ "\"adamw\"", "adamw" }, { "true", "true" }, { "null", "null" },
	{ "[1, 0.5, \"a\"]", "[1,0.5,\"a\"]" }, { "{\"b\": 2.5, \"a\": [true]}", "{\"b\":2.5,\"a\":[true]}" },
	{ "-3", "-3" }, { "123456789012", "123456789012" },
};

START_TEST(test_param_text)
{
	json_error_t	 err;
	json_t		*v = json_loads(text_cases[_i][0], JSON_DECODE_ANY, &err);
	char		*got;

	ck_assert_ptr_nonnull(v);
	got = agent_param_text(v);
	ck_assert_str_eq(got, text_cases[_i][1]);
	free(got);
	json_decref(v);
}
END_TEST

struct utf8_case {
	const char	*in;
	size_t		 len;
	const char	*want;
};

static const struct utf8_case utf8_cases[] = {
	{ "plain", 5, "plain" },
	{ "a\xff" "b", 3, "a?b" },
	{ "\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9" },
	{ "x\xe2\x82", 3, "x??" },
	{ "a\0b", 3, "a?b" },
	{ "\xed\xa0\x80", 3, "???" },
	{ "\xc0\xaf", 2, "??" },
	{ "\xf0\x9f\x98\x80!", 5, "\xf0\x9f\x98\x80!" },
	{ "\xf4\x90\x80\x80", 4, "????" },
	{ "\x80\xbf", 2, "??" },
	{ "", 0, "" },
};

START_TEST(test_utf8_sanitize)
{
	const struct utf8_case	*c = &utf8_cases[_i];
	struct buf		 b = { 0 };
	json_t			*j;

	agent_buf_add_utf8_sanitized(&b, c->in, c->len);
	ck_assert_str_eq(b.data, c->want);
	/* The point of sanitizing: jansson must accept the result. */
	j = json_stringn(b.data, b.len);
	ck_assert_ptr_nonnull(j);
	json_decref(j);
	buf_free(&b);
}
END_TEST

START_TEST(test_escape)
{
	struct buf	b = { 0 };

	agent_buf_add_escaped(&b, "a\nb\x1b[31m\\\xc3", 10);
	ck_assert_str_eq(b.data, "a\\x0ab\\x1b[31m\\x5c\\xc3");
	buf_free(&b);
}
END_TEST

struct notice_case {
	const char	*body;
	bool		 notice;
	double		 deadline;
};

static const struct notice_case notice_cases[] = {
	{ "", false, 0 },
	{ " \n\t", false, 0 },
	{ "FALSE", false, 0 },			/* GCP instance/preempted, not preempted */
	{ "false\n", false, 0 },
	{ "TRUE\n", true, 0 },			/* GCP, preempted */
	{ "{\"action\": \"terminate\", \"time\": \"2026-12-01T10:00:00Z\"}", true,
	  1796119200 },				/* AWS spot/instance-action */
	{ "{\"action\": \"stop\"}", true, 0 },
	{ "{\"action\": \"terminate\", \"time\": \"soon\"}", true, 0 },
	{ "{\"DocumentIncarnation\": 1, \"Events\": []}", false, 0 },	/* Azure, nothing */
	{ "{\"Events\": [{\"EventType\": \"Reboot\"}]}", false, 0 },
	{ "{\"Events\": [{\"EventType\": \"Freeze\"}, {\"EventType\": \"Preempt\", "
	  "\"NotBefore\": \"Mon, 19 Sep 2016 18:29:47 GMT\"}]}", true, 1474309787 },
	{ "{\"Events\": [{\"EventType\": \"Terminate\", \"NotBefore\": \"\"}]}", true, 0 },
	{ "<html>instance is going away</html>", true, 0 },	/* anything else: a notice */
};

START_TEST(test_notice_parse)
{
	const struct notice_case	*c = &notice_cases[_i];
	double				 deadline = -1;

	ck_assert_msg(agent_notice_parse(c->body, strlen(c->body), &deadline) == c->notice,
	    "body %s", c->body);
	ck_assert_msg(deadline == c->deadline, "body %s: deadline %f", c->body, deadline);
}
END_TEST

#define NELEM(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
agent_output_suite(void)
{
	Suite	*s = suite_create("agent_output");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, test_output_cases, 0, NELEM(output_cases));
	tcase_add_test(tc, test_output_bad_pattern);
	tcase_add_test(tc, test_output_next_step);
	tcase_add_loop_test(tc, test_expand_cases, 0, NELEM(expand_cases));
	tcase_add_loop_test(tc, test_expand_through_shell, 0, 10);
	tcase_add_loop_test(tc, test_env_names, 0, NELEM(env_cases));
	tcase_add_loop_test(tc, test_param_text, 0, NELEM(text_cases));
	tcase_add_loop_test(tc, test_utf8_sanitize, 0, NELEM(utf8_cases));
	tcase_add_test(tc, test_escape);
	tcase_add_loop_test(tc, test_notice_parse, 0, NELEM(notice_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(agent_output_suite());
}
