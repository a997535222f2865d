/* Unit tests of W&B sweep configs run as they are: configs in the shapes W&B users write
 * (grid, random, bayes; nested parameters; program only; command lists with every macro;
 * every distribution with W&B's meaning), each expanded and every value checked for its
 * range and type; YAML scalars resolved as PyYAML does; YAML errors with their positions;
 * the agent's macro expansion, Python value forms and environment; nested parameters in the
 * CSV; a YAML spec read back from the store; and the embedded wandb shim matching its
 * source in contrib/. Run from the repository root. */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "spotsweep/agent-command.h"
#include "spotsweep/agent-wandb.h"
#include "spotsweep/csv.h"
#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/store.h"
#include "spotsweep/trial.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"

#define NELEM(a) ((int)(sizeof (a) / sizeof (a)[0]))

static struct spec *
parse_ok(const char *file, const char *text)
{
	struct spec *s = NULL;
	char *cause = NULL;

	ck_assert_msg(spec_parse(file, text, strlen(text), &s, &cause) == 0, "%s: %s", file,
	    cause);
	return s;
}

/* --- configs in W&B's shapes, expanded and checked --------------------------------------- */

enum vtype { V_INT = 1, V_NUM, V_STR, V_BOOL };

struct vcheck {
	const char	*path;		/* dotted, into the trial's (nested) parameters */
	enum vtype	 type;
	double		 lo, hi;	/* inclusive bounds for numbers; lo > hi: unchecked */
	double		 step;		/* values are multiples of this; 0: unchecked */
	const char	*never;		/* a JSON value that must never come out, or NULL */
};

struct wb_case {
	const char	*name;
	const char	*text;
	enum spec_method method;
	uint64_t	 trials;	/* how many expansion makes (bayes: expanded as random) */
	struct vcheck	 checks[8];
};

#define ANY 1, 0

static const struct wb_case wb_cases[] = {
	{ "quickstart_grid",
	  "program: train.py\n"
	  "method: grid\n"
	  "metric:\n"
	  "  name: val_loss\n"
	  "  goal: minimize\n"
	  "parameters:\n"
	  "  batch_size:\n"
	  "    values: [16, 32, 64]\n"
	  "  optimizer:\n"
	  "    values: [\"adam\", \"sgd\"]\n"
	  "  epochs:\n"
	  "    value: 5\n",
	  METHOD_GRID, 6,
	  { { "batch_size", V_INT, 16, 64, 16, NULL }, { "optimizer", V_STR, ANY, 0, NULL },
	    { "epochs", V_INT, 5, 5, 0, NULL } } },
	{ "bare_min_max_integers",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 200\n"
	  "parameters:\n"
	  "  layers: {min: 2, max: 8}\n"
	  "  dropout: {min: 0.0, max: 0.5}\n"
	  "  flag: {min: 0, max: 1}\n",
	  METHOD_RANDOM, 200,
	  { { "layers", V_INT, 2, 8, 1, NULL }, { "dropout", V_NUM, 0, 0.5, 0, NULL },
	    { "flag", V_INT, 0, 1, 1, NULL } } },
	{ "log_uniform_natural_log_bounds",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 300\n"
	  "parameters:\n"
	  "  learning_rate:\n"
	  "    distribution: log_uniform\n"
	  "    min: -9.21\n"
	  "    max: -4.61\n",
	  METHOD_RANDOM, 300,
	  { { "learning_rate", V_NUM, 0.9999e-4, 1.0e-2, 0, NULL } } },
	{ "q_log_uniform_powers",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 300\n"
	  "parameters:\n"
	  "  batch_size:\n"
	  "    distribution: q_log_uniform\n"
	  "    min: 3.4657359027997265\n"	/* log(32) */
	  "    max: 5.545177444479562\n"	/* log(256) */
	  "    q: 1\n",
	  METHOD_RANDOM, 300,
	  { { "batch_size", V_INT, 32, 256, 1, NULL } } },
	{ "log_uniform_values_pyyaml_float",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 100\n"
	  "parameters:\n"
	  "  lr:\n"
	  "    distribution: log_uniform_values\n"
	  "    min: 1e-5\n"			/* PyYAML reads a string; we read a number */
	  "    max: 1e-1\n",
	  METHOD_RANDOM, 100,
	  { { "lr", V_NUM, 1e-5, 0.1, 0, NULL } } },
	{ "q_uniform_integer_q",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 100\n"
	  "parameters:\n"
	  "  hidden: {distribution: q_uniform, min: 32, max: 256, q: 32}\n",
	  METHOD_RANDOM, 100,
	  { { "hidden", V_INT, 32, 256, 32, NULL } } },
	{ "normal_family",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 200\n"
	  "parameters:\n"
	  "  a: {distribution: normal, mu: 0, sigma: 1}\n"
	  "  b: {distribution: q_normal, mu: 10, sigma: 3, q: 1}\n"
	  "  c: {distribution: log_normal, mu: 0, sigma: 0.5}\n"
	  "  d: {distribution: q_log_normal, mu: 3, sigma: 0.3, q: 2}\n",
	  METHOD_RANDOM, 200,
	  { { "a", V_NUM, -9, 9, 0, NULL }, { "b", V_INT, -20, 40, 1, NULL },
	    { "c", V_NUM, 1e-3, 100, 0, NULL }, { "d", V_INT, 0, 1000, 2, NULL } } },
	{ "inverse_log_uniform",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 200\n"
	  "parameters:\n"
	  "  decay: {distribution: inv_log_uniform, min: 2.302585, max: 4.60517}\n"
	  "  eps: {distribution: inv_log_uniform_values, min: 0.01, max: 0.1}\n",
	  METHOD_RANDOM, 200,
	  { { "decay", V_NUM, 0.0099999, 0.1000001, 0, NULL },
	    { "eps", V_NUM, 0.01, 0.1, 0, NULL } } },
	{ "q_log_uniform_values",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 200\n"
	  "parameters:\n"
	  "  width: {distribution: q_log_uniform_values, min: 16, max: 512, q: 16}\n",
	  METHOD_RANDOM, 200,
	  { { "width", V_INT, 16, 512, 16, NULL } } },
	{ "values_with_probabilities",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 200\n"
	  "parameters:\n"
	  "  act:\n"
	  "    values: [relu, gelu, tanh]\n"
	  "    probabilities: [0.5, 0.5, 0.0]\n",
	  METHOD_RANDOM, 200,
	  { { "act", V_STR, ANY, 0, "\"tanh\"" } } },
	{ "booleans_and_strings",
	  "program: train.py\n"
	  "method: grid\n"
	  "parameters:\n"
	  "  augment: {values: [yes, no]}\n"
	  "  amp: {values: [true, false]}\n"
	  "  ema: {value: off}\n"
	  "  name: {value: \"yes\"}\n"
	  "  mode: {values: [train, 'on']}\n",
	  METHOD_GRID, 8,
	  { { "augment", V_BOOL, ANY, 0, NULL }, { "amp", V_BOOL, ANY, 0, NULL },
	    { "ema", V_BOOL, ANY, 0, "true" }, { "name", V_STR, ANY, 0, NULL },
	    { "mode", V_STR, ANY, 0, NULL } } },
	{ "nested_parameters_grid",
	  "description: sweep using nested params\n"
	  "program: train-nested-cli.py\n"
	  "project: nested-examples\n"
	  "method: grid\n"
	  "metric:\n"
	  "  name: loss\n"
	  "  goal: minimize\n"
	  "parameters:\n"
	  "  batch_size:\n"
	  "    values: [32, 64]\n"
	  "  optimizer:\n"
	  "    parameters:\n"
	  "      lr:\n"
	  "        values: [0.001, 0.0001]\n"
	  "      nadam:\n"
	  "        parameters:\n"
	  "          beta:\n"
	  "            values: [0.9, 0.95]\n",
	  METHOD_GRID, 8,
	  { { "batch_size", V_INT, 32, 64, 32, NULL },
	    { "optimizer.lr", V_NUM, 0.0001, 0.001, 0, NULL },
	    { "optimizer.nadam.beta", V_NUM, 0.9, 0.95, 0, NULL } } },
	{ "program_only_random",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 20\n"
	  "parameters:\n"
	  "  epochs: {value: 3}\n"
	  "  lr: {min: 0.0001, max: 0.1}\n",
	  METHOD_RANDOM, 20,
	  { { "epochs", V_INT, 3, 3, 0, NULL }, { "lr", V_NUM, 0.0001, 0.1, 0, NULL } } },
	{ "command_with_every_macro",
	  "program: train.py\n"
	  "method: grid\n"
	  "command:\n"
	  "  - ${env}\n"
	  "  - ${interpreter}\n"
	  "  - ${program}\n"
	  "  - --data=/data/{split}\n"
	  "  - ${args}\n"
	  "  - ${args_no_hyphens}\n"
	  "  - ${args_no_boolean_flags}\n"
	  "  - ${args_json}\n"
	  "  - --config\n"
	  "  - ${args_json_file}\n"
	  "parameters:\n"
	  "  opt: {values: [adam, sgd]}\n",
	  METHOD_GRID, 2,
	  { { "opt", V_STR, ANY, 0, NULL } } },
	{ "bayes_hyperband_min_iter",
	  "program: train.py\n"
	  "method: bayes\n"
	  "run_cap: 50\n"
	  "metric: {name: val_acc, goal: maximize}\n"
	  "early_terminate: {type: hyperband, min_iter: 3, eta: 2}\n"
	  "parameters:\n"
	  "  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n"
	  "  layers: {distribution: int_uniform, min: 1, max: 4}\n",
	  METHOD_BAYES, 50,
	  { { "lr", V_NUM, 0.0001, 0.1, 0, NULL }, { "layers", V_INT, 1, 4, 1, NULL } } },
	{ "bayes_hyperband_max_iter_s",
	  "program: train.py\n"
	  "method: bayes\n"
	  "run_cap: 30\n"
	  "metric: {name: loss, target: 0.05}\n"
	  "early_terminate:\n"
	  "  type: hyperband\n"
	  "  max_iter: 27\n"
	  "  s: 2\n"
	  "  strict: false\n"
	  "parameters:\n"
	  "  momentum: {distribution: uniform, min: 0.8, max: 0.99}\n",
	  METHOD_BAYES, 30,
	  { { "momentum", V_NUM, 0.8, 0.99, 0, NULL } } },
	{ "python_dict_as_json",
	  "{\"method\": \"random\", \"name\": \"sweep\", \"run_cap\": 40,\n"
	  " \"program\": \"train.py\",\n"
	  " \"metric\": {\"goal\": \"minimize\", \"name\": \"validation_loss\"},\n"
	  " \"parameters\": {\"batch_size\": {\"values\": [16, 32, 64]},\n"
	  "                \"epochs\": {\"values\": [5, 10, 15]},\n"
	  "                \"lr\": {\"max\": 0.1, \"min\": 0.0001}}}\n",
	  METHOD_RANDOM, 40,
	  { { "batch_size", V_INT, 16, 64, 16, NULL }, { "epochs", V_INT, 5, 15, 5, NULL },
	    { "lr", V_NUM, 0.0001, 0.1, 0, NULL } } },
	{ "anchors_and_merge_keys",
	  "program: train.py\n"
	  "method: random\n"
	  "run_cap: 50\n"
	  "parameters:\n"
	  "  lr: &range {distribution: uniform, min: 0.1, max: 0.2}\n"
	  "  wd:\n"
	  "    <<: *range\n"
	  "    max: 0.15\n",
	  METHOD_RANDOM, 50,
	  { { "lr", V_NUM, 0.1, 0.2, 0, NULL }, { "wd", V_NUM, 0.1, 0.15, 0, NULL } } },
};

/* The value at a dotted path of nested objects. */
static json_t *
get_path(json_t *o, const char *path)
{
	char *copy = xstrdup(path), *p = copy, *dot;
	json_t *v = o;

	while (v != NULL && (dot = strchr(p, '.')) != NULL) {
		*dot = '\0';
		v = json_object_get(v, p);
		p = dot + 1;
	}
	if (v != NULL)
		v = json_object_get(v, p);
	free(copy);
	return v;
}

static void
check_value(const struct wb_case *c, const struct vcheck *k, json_t *params, const char *text)
{
	json_t *v = get_path(params, k->path), *never;
	double d, m;

	ck_assert_msg(v != NULL, "%s: no %s in %s", c->name, k->path, text);
	switch (k->type) {
	case V_INT:
		ck_assert_msg(json_is_integer(v), "%s: %s not an integer in %s", c->name,
		    k->path, text);
		break;
	case V_NUM:
		ck_assert_msg(json_is_number(v), "%s: %s not a number in %s", c->name, k->path,
		    text);
		break;
	case V_STR:
		ck_assert_msg(json_is_string(v), "%s: %s not a string in %s", c->name, k->path,
		    text);
		break;
	case V_BOOL:
		ck_assert_msg(json_is_boolean(v), "%s: %s not a boolean in %s", c->name,
		    k->path, text);
		break;
	}
	if (json_is_number(v) && k->lo <= k->hi) {
		d = json_number_value(v);
		ck_assert_msg(d >= k->lo && d <= k->hi, "%s: %s = %g outside [%g, %g]", c->name,
		    k->path, d, k->lo, k->hi);
	}
	if (json_is_number(v) && k->step > 0) {
		m = json_number_value(v) / k->step;
		ck_assert_msg(fabs(m - nearbyint(m)) < 1e-9, "%s: %s = %g not a multiple of %g",
		    c->name, k->path, json_number_value(v), k->step);
	}
	if (k->never != NULL) {
		never = json_loads(k->never, JSON_DECODE_ANY, NULL);
		ck_assert_msg(!json_equal(v, never), "%s: %s took %s", c->name, k->path,
		    k->never);
		json_decref(never);
	}
}

START_TEST(test_wandb_config)
{
	const struct wb_case *c = &wb_cases[_i];
	struct spec *s = parse_ok(c->text[0] == '{' ? "sweep.json" : "sweep.yaml", c->text);
	struct expander *e;
	struct buf b = { 0 };
	json_t *params;
	uint64_t n = 0;
	char *cause = NULL;
	int i;

	ck_assert_int_eq(s->method, c->method);
	/* bayes proposes as results arrive (issue 9); its distributions are the same */
	if (s->method == METHOD_BAYES)
		s->method = METHOD_RANDOM;
	e = expander_create(s, &cause);
	ck_assert_msg(e != NULL, "%s: %s", c->name, cause);
	while (expander_next(e, &b)) {
		params = json_loads(b.data, 0, NULL);
		ck_assert_msg(json_is_object(params), "%s: %s", c->name, b.data);
		for (i = 0; i < NELEM(c->checks) && c->checks[i].path != NULL; i++)
			check_value(c, &c->checks[i], params, b.data);
		json_decref(params);
		n++;
	}
	ck_assert_uint_eq(n, c->trials);
	expander_free(e);
	buf_free(&b);
	spec_free(s);
}
END_TEST

/* What the configs above set beyond their parameters. */
START_TEST(test_wandb_top_level)
{
	struct spec *s;

	s = parse_ok("sweep.yaml", wb_cases[12].text);	/* program only */
	ck_assert_str_eq(s->command, "${env} ${interpreter} ${program} ${args}");
	ck_assert_str_eq(s->program, "train.py");
	ck_assert_str_eq(s->name, "sweep");
	ck_assert_int_eq(s->max_trials, 20);
	ck_assert(s->format == SPEC_FORMAT_YAML);
	spec_free(s);

	s = parse_ok("wb.yml", wb_cases[13].text);	/* every macro */
	ck_assert_str_eq(s->command, "${env} ${interpreter} ${program} '--data=/data/{{split}}' "
	    "${args} ${args_no_hyphens} ${args_no_boolean_flags} ${args_json} '--config' "
	    "${args_json_file}");
	ck_assert_str_eq(s->name, "wb");
	spec_free(s);

	s = parse_ok("sweep.yaml", wb_cases[11].text);	/* nested */
	ck_assert_uint_eq(s->nparams, 3);
	ck_assert_str_eq(s->params[2].name, "optimizer.nadam.beta");
	ck_assert_uint_eq(s->params[2].nkeys, 3);
	ck_assert_str_eq(s->params[2].keys[1], "nadam");
	ck_assert_str_eq(s->description, "sweep using nested params");
	ck_assert_str_eq(s->project, "nested-examples");
	spec_free(s);

	s = parse_ok("sweep.yaml", wb_cases[14].text);	/* hyperband min_iter */
	ck_assert_int_eq(s->early_stop, EARLY_HYPERBAND);
	ck_assert_int_eq(s->early_min_steps, 3);
	ck_assert_int_eq(s->early_eta, 2);
	ck_assert(s->early_strict);
	ck_assert(!s->minimize);
	spec_free(s);

	s = parse_ok("sweep.yaml", wb_cases[15].text);	/* hyperband max_iter and s */
	ck_assert_int_eq(s->early_min_steps, 3);	/* 27 / 3 / 3 */
	ck_assert_int_eq(s->early_max_iter, 27);
	ck_assert_int_eq(s->early_s, 2);
	ck_assert(!s->early_strict);
	ck_assert(s->has_target);
	ck_assert(s->target == 0.05);
	spec_free(s);
}
END_TEST

/* --- YAML scalars as PyYAML resolves them (and 1e-5 leniently as a number) ------------ */

struct scalar_case {
	const char	*yaml;
	const char	*json;	/* the value's compact JSON */
};

static const struct scalar_case scalar_cases[] = {
	{ "yes", "true" }, { "No", "false" }, { "ON", "true" }, { "off", "false" },
	{ "True", "true" }, { "FALSE", "false" }, { "y", "\"y\"" }, { "~", "null" },
	{ "null", "null" }, { "", "null" }, { "42", "42" }, { "-7", "-7" }, { "+3", "3" },
	{ "1_000", "1000" }, { "0x1f", "31" }, { "0b101", "5" }, { "010", "8" },
	{ "09", "\"09\"" }, { "0.5", "0.5" }, { ".5", "0.5" }, { "1.", "1.0" },
	{ "1.0e-5", "1.0000000000000001e-5" }, { "1e-5", "1.0000000000000001e-5" },
	{ "1E3", "1000.0" }, { "'1e-5'", "\"1e-5\"" }, { "\"42\"", "\"42\"" },
	{ "!!str 42", "\"42\"" }, { "!!float 2", "2.0" }, { "!!int '7'", "7" },
	{ "adam", "\"adam\"" }, { "1:30", "\"1:30\"" }, { "2026-12-05", "\"2026-12-05\"" },
	{ "[1, two, 3.0]", "[1,\"two\",3.0]" }, { "{a: 1}", "{\"a\":1}" },
};

START_TEST(test_yaml_scalar)
{
	const struct scalar_case *c = &scalar_cases[_i];
	char *text = xasprintf("program: p\nmethod: grid\nparameters:\n  x:\n    value: %s\n",
	    c->yaml);
	struct spec *s = parse_ok("s.yaml", text);
	char *got = json_dumps(json_array_get(s->params[0].values, 0),
	    JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));

	ck_assert_msg(strcmp(got, c->json) == 0, "%s: got %s, want %s", c->yaml, got, c->json);
	free(got);
	free(text);
	spec_free(s);
}
END_TEST

/* --- YAML errors name FILE:LINE:COLUMN, the key path, and what was expected ---------- */

struct err_case {
	const char	*name;
	const char	*text;
	const char	*prefix;	/* "FILE:LINE:COL: path: " */
	const char	*what;		/* a substring of the rest */
};

#define P "program: train.py\nmethod: random\nrun_cap: 5\n"

static const struct err_case err_cases[] = {
	{ "syntax_unclosed_flow",
	  P "parameters:\n  lr:\n    values: [1, 2\n  x: 3\n",
	  "s.yaml:7:4: parameters.lr.values: ", "invalid YAML: did not find expected ',' or ']'" },
	{ "syntax_bad_indent",
	  P "parameters:\n  lr:\n    min: 1\n   max: 2\n",
	  "s.yaml:7:4: parameters: ", "invalid YAML: did not find expected key" },
	{ "duplicate_key",
	  P "parameters:\n  lr: {min: 1, max: 2}\n  lr: {values: [1]}\n",
	  "s.yaml:6:3: parameters.lr: ", "duplicate key (first at line 5, column 3)" },
	{ "unknown_key_nested",
	  P "parameters:\n  opt:\n    parameters:\n      lr: {valeus: [1]}\n",
	  "s.yaml:7:12: parameters.opt.parameters.lr.valeus: ", "unknown key (did you mean" },
	{ "min_not_below_max",
	  P "parameters:\n  lr:\n    min: 0.5\n    max: 0.1\n",
	  "s.yaml:6:10: parameters.lr.min: ", "must be less than max (0.5 >= 0.1)" },
	{ "log_values_bound_not_positive",
	  P "parameters:\n  lr:\n    distribution: log_uniform_values\n    min: 0\n    max: 1\n",
	  "s.yaml:7:10: parameters.lr.min: ", "must be positive for log_uniform_values" },
	{ "log_uniform_bound_too_large",
	  P "parameters:\n  lr:\n    distribution: log_uniform\n    min: 0.0001\n"
	  "    max: 1000\n",
	  "s.yaml:8:10: parameters.lr.max: ", "takes the logarithms of the bounds" },
	{ "unknown_distribution",
	  P "parameters:\n  lr: {distribution: log_uniform_value, min: 1, max: 2}\n",
	  "s.yaml:5:22: parameters.lr.distribution: ", "did you mean \"log_uniform_values\"?" },
	{ "key_not_for_distribution",
	  P "parameters:\n  lr: {distribution: uniform, min: 1, max: 2, q: 1}\n",
	  "s.yaml:5:47: parameters.lr.q: ", "does not apply to distribution uniform" },
	{ "probabilities_do_not_add_up",
	  P "parameters:\n  a: {values: [1, 2], probabilities: [0.5, 0.4]}\n",
	  "s.yaml:5:38: parameters.a.probabilities: ", "must add up to 1 (they add up to 0.9)" },
	{ "probabilities_count",
	  P "parameters:\n  a: {values: [1, 2], probabilities: [1]}\n",
	  "s.yaml:5:38: parameters.a.probabilities: ", "one probability per value (2), got 1" },
	{ "unknown_macro",
	  P "command:\n  - python3\n  - ${program}\n  - ${arg}\nparameters:\n  a: {value: 1}\n",
	  "s.yaml:7:5: command.2: ", "unknown macro ${arg} (did you mean \"args\"?)" },
	{ "program_macro_without_program",
	  "method: grid\ncommand:\n  - python3\n  - ${program}\nparameters:\n  a: {value: 1}\n",
	  "s.yaml:1:1: program: ", "missing required key (the command uses ${program})" },
	{ "neither_command_nor_program",
	  "method: grid\nparameters:\n  a: {value: 1}\n",
	  "s.yaml:1:1: command: ", "missing required key (or W&B's \"program\"" },
	{ "random_without_run_cap",
	  "program: t.py\nmethod: random\nparameters:\n  a: {value: 1}\n",
	  "s.yaml:1:1: max_trials: ", "max_trials, or W&B's run_cap" },
	{ "run_cap_and_max_trials",
	  P "max_trials: 4\nparameters:\n  a: {value: 1}\n",
	  "s.yaml:3:1: run_cap: ", "give max_trials or run_cap, not both" },
	{ "infinite_number",
	  P "parameters:\n  a: {value: .inf}\n",
	  "s.yaml:5:14: parameters.a.value: ", ".inf is not a finite number" },
	{ "integer_too_large",
	  P "parameters:\n  a: {value: 99999999999999999999}\n",
	  "s.yaml:5:14: parameters.a.value: ", "is too large" },
	{ "unknown_alias",
	  P "parameters:\n  a: *nothing\n",
	  "s.yaml:5:6: parameters.a: ", "the alias *nothing names no anchor" },
	{ "unsupported_tag",
	  P "parameters:\n  a: {value: !!python/tuple [1, 2]}\n",
	  "s.yaml:5:14: parameters.a.value: ", "tag tag:yaml.org,2002:python/tuple" },
	{ "second_document",
	  P "parameters:\n  a: {value: 1}\n---\nmethod: grid\n",
	  "s.yaml:6:1: ", "a second YAML document" },
	{ "not_a_mapping",
	  "- method: grid\n",
	  "s.yaml:1:1: ", "expected a YAML mapping (the sweep spec)" },
	{ "hyperband_s_without_max_iter",
	  P "metric: {name: loss}\nearly_terminate: {type: hyperband, s: 2}\n"
	  "parameters:\n  a: {value: 1}\n",
	  "s.yaml:5:18: early_terminate.max_iter: ", "missing required key (s counts" },
	{ "launch_job",
	  P "job: wandb/x/job:v0\nparameters:\n  a: {value: 1}\n",
	  "s.yaml:4:1: job: ", "W&B Launch jobs need W&B's service" },
	{ "grid_continuous_nested",
	  "program: p\nmethod: grid\nparameters:\n  o:\n    parameters:\n"
	  "      lr: {min: 0.1, max: 0.2}\n",
	  "s.yaml:6:11: parameters.o.parameters.lr: ", "needs \"num\"" },
	{ "nested_block_extra_key",
	  P "parameters:\n  o:\n    parameters: {a: {value: 1}}\n    value: 2\n",
	  "s.yaml:7:5: parameters.o.value: ", "does not apply to a nested block" },
	{ "tab_indentation",
	  P "parameters:\n\ta: {value: 1}\n",
	  "s.yaml:5:1: parameters: ", "invalid YAML: found character that cannot start any token" },
};

START_TEST(test_yaml_error)
{
	const struct err_case *c = &err_cases[_i];
	struct spec *s = NULL;
	char *cause = NULL;

	ck_assert_msg(spec_parse("s.yaml", c->text, strlen(c->text), &s, &cause) == -1,
	    "%s: accepted", c->name);
	ck_assert_ptr_null(s);
	ck_assert_msg(strncmp(cause, c->prefix, strlen(c->prefix)) == 0,
	    "%s: \"%s\" does not start with \"%s\"", c->name, cause, c->prefix);
	ck_assert_msg(strstr(cause + strlen(c->prefix), c->what) != NULL,
	    "%s: \"%s\" lacks \"%s\"", c->name, cause, c->what);
	ck_assert_ptr_null(strchr(cause, '\n'));
	free(cause);
}
END_TEST

/* An alias bomb stops at the node limit instead of eating memory. */
START_TEST(test_yaml_alias_bomb)
{
	struct buf b = { 0 };
	struct spec *s = NULL;
	char *cause = NULL;
	int i;

	buf_adds(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 9; i++)
		buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
		    "*a%d]\n", i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
		    i - 1);
	ck_assert_int_eq(spec_parse("bomb.yaml", b.data, b.len, &s, &cause), -1);
	ck_assert_msg(strstr(cause, "more than 2000000 nodes") != NULL, "%s", cause);
	free(cause);
	buf_free(&b);
}
END_TEST

/* --- the agent: W&B's macros, Python value forms, environment ---------------------------- */

struct render_case {
	const char	*tmpl;
	const char	*out;		/* NULL: an error containing err */
	const char	*err;
};

#define PARAMS "{\"lr\":0.001,\"opt\":\"adam\",\"aug\":true,\"ema\":false," \
	"\"optimizer\":{\"m\":0.9,\"name\":\"it's\"}}"

static const struct render_case render_cases[] = {
	{ "${env} ${interpreter} ${program} ${args}",
	  "/usr/bin/env python3 'train.py' '--lr=0.001' '--opt=adam' '--aug=True' '--ema=False' "
	  "'--optimizer={'\\''m'\\'': 0.9, '\\''name'\\'': \"it'\\''s\"}'", NULL },
	{ "${args_no_hyphens}",
	  "'lr=0.001' 'opt=adam' 'aug=True' 'ema=False' "
	  "'optimizer={'\\''m'\\'': 0.9, '\\''name'\\'': \"it'\\''s\"}'", NULL },
	{ "run ${args_no_boolean_flags}",
	  "run '--lr=0.001' '--opt=adam' '--aug' "
	  "'--optimizer={'\\''m'\\'': 0.9, '\\''name'\\'': \"it'\\''s\"}'", NULL },
	{ "${args_json}",
	  "'{\"lr\": 0.001, \"opt\": \"adam\", \"aug\": true, \"ema\": false, "
	  "\"optimizer\": {\"m\": 0.9, \"name\": \"it'\\''s\"}}'", NULL },
	{ "x --config ${args_json_file}", "x --config '/w/attempt-1/args.json'", NULL },
	{ "python3 t.py --m {optimizer.m} --o {optimizer}",
	  "python3 t.py --m '0.9' --o '{\"m\":0.9,\"name\":\"it'\\''s\"}'", NULL },
	{ "echo ${{lr}} ${HOME}", NULL, "unknown placeholder {HOME}" },
	{ "echo ${{HOME}} $${lr}", "echo ${HOME} $$'0.001'", NULL },
};

START_TEST(test_macro_render)
{
	const struct render_case *c = &render_cases[_i];
	struct agent_placeholders ph = {
		.trial_id = 7, .attempt = 1, .checkpoint_dir = "/ck", .resume_from = "",
		.program = "train.py", .args_json_file = "/w/attempt-1/args.json",
	};
	json_t *params = json_loads(PARAMS, JSON_PRESERVE_ORDER, NULL);
	char *cause = NULL, *out;

	ck_assert_ptr_nonnull(params);
	out = agent_command_expand(c->tmpl, params, &ph, &cause);
	if (c->out != NULL) {
		ck_assert_msg(out != NULL, "%s: %s", c->tmpl, cause);
		ck_assert_str_eq(out, c->out);
	} else {
		ck_assert_ptr_null(out);
		ck_assert_msg(strstr(cause, c->err) != NULL, "%s", cause);
	}
	free(out);
	free(cause);
	json_decref(params);
}
END_TEST

/* A list command from the spec runs each item as one word, exactly. */
START_TEST(test_list_command_words)
{
	struct spec *s = parse_ok("s.yaml", "program: my train.py\nmethod: grid\n"
	    "command:\n  - python3\n  - ${program}\n  - \"it's {x}\"\n  - --n=${args}\n"
	    "  - ${args}\n"
	    "parameters:\n  n: {value: 2}\n");
	struct agent_placeholders ph = { .program = "my train.py" };
	json_t *params = json_loads("{\"n\":2}", 0, NULL);
	char *cause = NULL, *out = agent_command_expand(s->command, params, &ph, &cause);

	ck_assert_msg(out != NULL, "%s", cause);
	/* "--n=${args}" is no macro on W&B either: only a whole item is */
	ck_assert_str_eq(out, "'python3' 'my train.py' 'it'\\''s {x}' '--n=${args}' '--n=2'");
	free(out);
	json_decref(params);
	spec_free(s);

	/* without a program to stand for, ${program} cannot expand */
	ph.program = NULL;
	out = agent_command_expand("${program}", NULL, &ph, &cause);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(cause, "${program}"));
	free(cause);
}
END_TEST

struct py_case {
	const char	*json;
	const char	*str;	/* Python's str() */
	const char	*dumps;	/* Python's json.dumps() */
};

static const struct py_case py_cases[] = {
	{ "0.001", "0.001", "0.001" },
	{ "1e-05", "1e-05", "1e-05" },
	{ "1e20", "1e+20", "1e+20" },
	{ "3", "3", "3" },
	{ "true", "True", "true" },
	{ "null", "None", "null" },
	{ "\"adam\"", "adam", "\"adam\"" },
	{ "[1, \"a\", false]", "[1, 'a', False]", "[1, \"a\", false]" },
	{ "{\"a\": \"it's\", \"b\": [0.5]}", "{'a': \"it's\", 'b': [0.5]}",
	  "{\"a\": \"it's\", \"b\": [0.5]}" },
	{ "{\"k\": \"caf\\u00e9\\n\"}", "{'k': 'caf\xc3\xa9\\n'}", "{\"k\": \"caf\\u00e9\\n\"}" },
};

START_TEST(test_python_forms)
{
	const struct py_case *c = &py_cases[_i];
	json_t *v = json_loads(c->json, JSON_DECODE_ANY | JSON_PRESERVE_ORDER, NULL);
	struct buf b = { 0 };

	ck_assert_ptr_nonnull(v);
	buf_adds(&b, "");
	agent_py_str(&b, v);
	ck_assert_str_eq(b.data, c->str);
	buf_reset(&b);
	buf_adds(&b, "");
	agent_py_json(&b, v);
	ck_assert_str_eq(b.data, c->dumps);
	buf_free(&b);
	json_decref(v);
}
END_TEST

START_TEST(test_nested_env)
{
	json_t *params = json_loads("{\"batch_size\":32,\"optimizer\":{\"lr\":0.1,"
	    "\"nadam\":{\"beta\":0.9}}}", 0, NULL);
	static const char *const want[] = {
		"SPOTSWEEP_PARAM_BATCH_SIZE=32",
		"SPOTSWEEP_PARAM_OPTIMIZER={\"lr\":0.1,\"nadam\":{\"beta\":0.9}}",
		"SPOTSWEEP_PARAM_OPTIMIZER_LR=0.1",
		"SPOTSWEEP_PARAM_OPTIMIZER_NADAM={\"beta\":0.9}",
		"SPOTSWEEP_PARAM_OPTIMIZER_NADAM_BETA=0.9",
	};
	size_t n, i;
	char **env = agent_param_env(params, &n);

	ck_assert_uint_eq(n, 5);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(env[i], want[i]);
		free(env[i]);
	}
	free(env);
	ck_assert(json_number_value(agent_param_get(params, "optimizer.nadam.beta")) == 0.9);
	ck_assert_ptr_null(agent_param_get(params, "optimizer.nope"));
	json_decref(params);
}
END_TEST

/* --- the store: nested columns in the CSV, a YAML spec read back --------------------------- */

START_TEST(test_nested_csv_and_roundtrip)
{
	const char *text = wb_cases[11].text;	/* nested grid */
	struct store *st;
	struct spec *s = parse_ok("sweeps/nested.yaml", text), *back;
	char *cause = NULL, *csv = NULL;
	size_t len = 0;
	int64_t id;
	uint64_t n;
	FILE *f;

	s->wandb_shim = true;
	ck_assert_msg(store_open(":memory:", &st, &cause) == 0, "%s", cause);
	ck_assert_msg(store_sweep_create(st, s, "sweeps/nested.yaml", &id, &n, &cause) == 0,
	    "%s", cause);
	ck_assert_uint_eq(n, 8);
	f = open_memstream(&csv, &len);
	ck_assert_msg(csv_export_sweep(st, id, f, &cause) == 0, "%s", cause);
	fclose(f);
	ck_assert_msg(strncmp(csv, "trial_id,state,attempts,preemptions,batch_size,"
	    "optimizer.lr,optimizer.nadam.beta,loss,runtime_s,", 83) == 0, "%s", csv);
	ck_assert_msg(strstr(csv, "\r\n1,pending,0,0,32,0.001,0.9,,") != NULL, "%s", csv);
	ck_assert_msg(strstr(csv, "\r\n8,pending,0,0,64,0.0001,0.95,,") != NULL, "%s", csv);

	/* the scheduler re-reads the stored YAML, and keeps --wandb-shim */
	ck_assert_msg(store_sweep_spec(st, id, &back, &cause) == 0, "%s", cause);
	ck_assert(back->format == SPEC_FORMAT_YAML);
	ck_assert(back->wandb_shim);
	ck_assert_uint_eq(back->nparams, 3);
	ck_assert_str_eq(back->params[1].name, "optimizer.lr");
	ck_assert_str_eq(back->command, s->command);
	spec_free(back);
	free(csv);
	store_close(st);
	spec_free(s);
}
END_TEST

/* metric.target: once a succeeded trial reaches it, pending trials are cancelled and the
 * running ones finish. Two trials run; the first to finish reports v1, the second v2. */
struct target_case {
	const char	*metric;	/* the spec's metric mapping */
	double		 v1, v2;
	int64_t		 pending_after_first;
	int64_t		 cancelled;
};

static const struct target_case target_cases[] = {
	{ "{name: loss, target: 0.5}", 0.7, 0.5, 3, 3 },
	{ "{name: loss, target: 0.5}", 0.7, 0.6, 3, 0 },
	{ "{name: acc, goal: maximize, target: 0.9}", 0.95, 0.1, 0, 3 },
	{ "{name: acc, goal: maximize, target: 0.9}", 0.5, 0.89, 3, 0 },
	{ "{name: loss}", 0.0, -1.0, 3, 0 },
};

static int64_t
count_state(struct store *st, const char *state)
{
	sqlite3_stmt *stmt;
	int64_t n = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM trials WHERE "
	    "state = ?", -1, &stmt, NULL), SQLITE_OK);
	sqlite3_bind_text(stmt, 1, state, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

START_TEST(test_metric_target)
{
	const struct target_case *c = &target_cases[_i];
	char *text = xasprintf("program: p\nmethod: grid\nmetric: %s\n"
	    "parameters:\n  x: {values: [1, 2, 3, 4, 5]}\n", c->metric);
	struct spec *s = parse_ok("t.yaml", text);
	struct lease_request lr = { .worker_id = 0, .gpus = 1, .lease_timeout_s = 60,
	    .now = 1000 };
	struct lease l[2];
	struct metric_point pt = { .name = s->objective.name, .step = 1, .at = 1001 };
	struct finish_report r = { .outcome = OUTCOME_SUCCEEDED, .exit_code = 0, .pts = &pt,
	    .npts = 1, .now = 1002 };
	struct store *st;
	enum trial_state next;
	char *cause = NULL;
	int64_t id;
	uint64_t n;
	int i;

	ck_assert_msg(store_open(":memory:", &st, &cause) == 0, "%s", cause);
	ck_assert_msg(store_sweep_create(st, s, "t.yaml", &id, &n, &cause) == 0, "%s", cause);
	memset(l, 0, sizeof l);
	for (i = 0; i < 2; i++)
		ck_assert_msg(trial_lease(st, &lr, &l[i], &cause) == 1, "%s", cause);
	pt.value = c->v1;
	ck_assert_msg(trial_finish(st, l[0].trial_id, l[0].attempt, &r, &next, &cause) ==
	    TRIAL_OK, "%s", cause);
	ck_assert_int_eq(count_state(st, "pending"), c->pending_after_first);
	ck_assert_int_eq(count_state(st, "running"), 1);
	pt.value = c->v2;
	ck_assert_msg(trial_finish(st, l[1].trial_id, l[1].attempt, &r, &next, &cause) ==
	    TRIAL_OK, "%s", cause);
	ck_assert_int_eq(count_state(st, "cancelled"), c->cancelled);
	ck_assert_int_eq(count_state(st, "succeeded"), 2);
	for (i = 0; i < 2; i++)
		lease_clear(&l[i]);
	store_close(st);
	spec_free(s);
	free(text);
}
END_TEST

/* --- the shim ------------------------------------------------------------------------------ */

START_TEST(test_shim_matches_source)
{
	char *text = NULL, *cause = NULL;
	size_t len;

	ck_assert_msg(read_file("contrib/wandb_shim/wandb/__init__.py", 1 << 20, &text, &len,
	    &cause) == 0, "%s", cause);
	ck_assert_msg(len == strlen(agent_wandb_shim_py) &&
	    memcmp(text, agent_wandb_shim_py, len) == 0, "src/agent-wandb.c's copy of the shim "
	    "differs from contrib/wandb_shim/wandb/__init__.py: regenerate it");
	free(text);
}
END_TEST

/* Every YAML example in sweeps/ parses and expands (run from the repository root). */
START_TEST(test_yaml_examples)
{
	static const char *const files[] = {
		"sweeps/wandb-sweep.yaml", "sweeps/wandb-nested.yaml",
	};
	struct spec *s;
	char *cause;
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		cause = NULL;
		ck_assert_msg(spec_load(files[i], &s, &cause) == 0, "%s", cause);
		ck_assert_uint_gt(spec_trial_count(s), 0);
		spec_free(s);
	}
}
END_TEST

static Suite *
wandb_suite(void)
{
	Suite *s = suite_create("wandb");
	TCase *tc;

	tc = tcase_create("configs");
	tcase_add_loop_test(tc, test_wandb_config, 0, NELEM(wb_cases));
	tcase_add_test(tc, test_wandb_top_level);
	tcase_add_test(tc, test_yaml_examples);
	suite_add_tcase(s, tc);

	tc = tcase_create("yaml");
	tcase_add_loop_test(tc, test_yaml_scalar, 0, NELEM(scalar_cases));
	tcase_add_loop_test(tc, test_yaml_error, 0, NELEM(err_cases));
	tcase_add_test(tc, test_yaml_alias_bomb);
	suite_add_tcase(s, tc);

	tc = tcase_create("agent");
	tcase_add_loop_test(tc, test_macro_render, 0, NELEM(render_cases));
	tcase_add_test(tc, test_list_command_words);
	tcase_add_loop_test(tc, test_python_forms, 0, NELEM(py_cases));
	tcase_add_test(tc, test_nested_env);
	tcase_add_test(tc, test_shim_matches_source);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_test(tc, test_nested_csv_and_roundtrip);
	tcase_add_loop_test(tc, test_metric_target, 0, NELEM(target_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(wandb_suite());
}
