/* Unit tests of the sweep spec parser: every rejected spec names the right line, column, key
 * path and reason; valid specs fill struct spec with the contract's defaults; json_locate
 * finds values and keys; grid sizes stop at overflow; every example in sweeps/ parses.
 * In the spec texts below ' stands for ", so the cases stay readable; it keeps columns. */

#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#include "check-main.h"

/* Lines 1-5 of most cases; what a case is about starts on line 6. */
#define HEAD \
	"{\n" \
	"  'name': 't',\n" \
	"  'command': 'run {lr}',\n" \
	"  'method': 'random',\n" \
	"  'max_trials': 10,\n"

/* Lines 6-8: one good parameter. */
#define PARAMS_LR \
	"  'parameters': {\n" \
	"    'lr': {'min': 0.1, 'max': 1.0}\n" \
	"  }"

static char *
dequote(const char *s)
{
	char *t = xstrdup(s), *p;

	for (p = t; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

static int
parse(const char *quoted, struct spec **out, char **cause)
{
	char *text = dequote(quoted);
	int rc;

	*cause = NULL;
	rc = spec_parse("t.json", text, strlen(text), out, cause);
	free(text);
	return rc;
}

struct bad_case {
	const char	*name;
	const char	*text;
	int		 line, column;
	const char	*path;		/* "" when the message names no key */
	const char	*what;		/* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ "syntax_bad_token",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': tru\n"
	  "}\n",
	  3, 14, "command", "invalid JSON: invalid token" },
	{ "syntax_missing_comma",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 0.1, 'max': 1.0}\n"
	  "    'bs': {'values': [1, 2]}\n"
	  "  }\n"
	  "}\n",
	  8, 5, "parameters", "'}' expected" },
	{ "syntax_unterminated",
	  HEAD
	  PARAMS_LR "\n",
	  9, 1, "", "'}' expected near end of file" },
	{ "syntax_bad_utf8_in_string",
	  "{\n"
	  "  'name': 't\xff',\n"
	  "  'command': 'run'\n"
	  "}\n",
	  2, 13, "name", "invalid JSON: unable to decode byte 0xff" },
	{ "syntax_bad_utf8_outside_string",
	  "{\n"
	  "  'name': 't',\n"
	  "  \xc3'command': 'run'\n"
	  "}\n",
	  3, 3, "", "invalid JSON: unable to decode byte 0xc3" },
	{ "not_an_object",
	  "[\n"
	  "  1\n"
	  "]\n",
	  1, 1, "", "expected a JSON object" },
	{ "duplicate_top_key",
	  "{\n"
	  "  'name': 't',\n"
	  "  'name': 'u'\n"
	  "}\n",
	  3, 3, "name", "duplicate key (first at line 2, column 3)" },
	{ "duplicate_parameter",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 0.1, 'max': 1.0},\n"
	  "    'lr': {'values': [1, 2]}\n"
	  "  }\n"
	  "}\n",
	  8, 5, "parameters.lr", "duplicate key (first at line 7, column 5)" },
	{ "unknown_top_key_suggests",
	  "{\n"
	  "  'nmae': 't',\n"
	  "  'command': 'run'\n"
	  "}\n",
	  2, 3, "nmae", "unknown key (did you mean \"name\"?)" },
	{ "unknown_top_key_lists",
	  HEAD
	  "  'colour': 'blue',\n"
	  PARAMS_LR "\n"
	  "}\n",
	  6, 3, "colour", "expected one of: name, description, program, command" },
	{ "unknown_param_key",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'mn': 0.1, 'max': 1.0}\n"
	  "  }\n"
	  "}\n",
	  7, 12, "parameters.lr.mn", "unknown key (did you mean \"min\"?)" },
	{ "unknown_metric_key",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss', 'goel': 'minimize'}\n"
	  "}\n",
	  9, 30, "metric.goel", "did you mean \"goal\"?" },
	{ "unknown_retry_key",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'retry': {'max_failure': 3}\n"
	  "}\n",
	  9, 13, "retry.max_failure", "did you mean \"max_failures\"?" },
	{ "unknown_checkpoint_key",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'checkpoint': {'kep': 3}\n"
	  "}\n",
	  9, 18, "checkpoint.kep", "did you mean \"keep\"?" },
	{ "unknown_early_terminate_key",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'hyperband', 'min_iters': 3}\n"
	  "}\n",
	  10, 44, "early_terminate.min_iters", "did you mean \"min_iter\"?" },
	{ "empty_name",
	  "{\n"
	  "  'name': '',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  2, 11, "name", "must not be empty" },
	{ "name_not_string",
	  "{\n"
	  "  'name': 5,\n"
	  "  'command': 'run'\n"
	  "}\n",
	  2, 11, "name", "expected a string" },
	{ "missing_command",
	  "{\n"
	  "  'name': 't',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  1, 1, "command", "missing required key (or W&B's \"program\"" },
	{ "empty_command",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': '',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  3, 14, "command", "must not be empty" },
	{ "missing_method",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run'\n"
	  "}\n",
	  1, 1, "method", "missing required key" },
	{ "unknown_method",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run',\n"
	  "  'method': 'grdi'\n"
	  "}\n",
	  4, 13, "method", "unknown method \"grdi\" (did you mean \"grid\"?)" },
	{ "max_trials_not_integer",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10.5,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  5, 17, "max_trials", "expected an integer" },
	{ "max_trials_zero",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 0,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  5, 17, "max_trials", "must be positive" },
	{ "max_trials_missing_for_random",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'random',\n"
	  PARAMS_LR "\n"
	  "}\n",
	  1, 1, "max_trials", "missing required key (method random" },
	{ "max_trials_missing_for_sobol",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'sobol',\n"
	  PARAMS_LR "\n"
	  "}\n",
	  1, 1, "max_trials", "missing required key (method sobol" },
	{ "seed_negative",
	  HEAD
	  "  'seed': -1,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  6, 11, "seed", "must not be negative" },
	{ "timeout_zero",
	  HEAD
	  "  'timeout_s': 0,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  6, 16, "timeout_s", "must be positive" },
	{ "deadline_not_iso8601",
	  HEAD
	  "  'deadline': 'next friday',\n"
	  PARAMS_LR "\n"
	  "}\n",
	  6, 15, "deadline", "expected an ISO 8601 time" },
	{ "missing_parameters",
	  HEAD
	  "  'seed': 1\n"
	  "}\n",
	  1, 1, "parameters", "missing required key" },
	{ "empty_parameters",
	  HEAD
	  "  'parameters': {}\n"
	  "}\n",
	  6, 17, "parameters", "needs at least one parameter" },
	{ "parameter_not_object",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': [0.1, 0.2]\n"
	  "  }\n"
	  "}\n",
	  7, 11, "parameters.lr", "expected an object" },
	{ "parameter_name_with_brace",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  "  'parameters': {\n"
	  "    'a{b': {'values': [1]}\n"
	  "  }\n"
	  "}\n",
	  7, 5, "parameters.a{b", "must not contain '{' or '}'" },
	{ "parameter_name_empty",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  "  'parameters': {\n"
	  "    '': {'values': [1]}\n"
	  "  }\n"
	  "}\n",
	  7, 5, "parameters.", "must not be empty" },
	{ "min_not_number",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': '0.1', 'max': 1.0}\n"
	  "  }\n"
	  "}\n",
	  7, 19, "parameters.lr.min", "expected a number" },
	{ "min_ge_max",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 1.0, 'max': 0.5}\n"
	  "  }\n"
	  "}\n",
	  7, 19, "parameters.lr.min", "must be less than max (1 >= 0.5)" },
	{ "int_min_equals_max",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 3, 'max': 3}\n"
	  "  }\n"
	  "}\n",
	  7, 19, "parameters.lr.min", "must be less than max" },
	{ "log_uniform_nonpositive_min",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'log_uniform_values', 'min': 0, 'max': 1}\n"
	  "  }\n"
	  "}\n",
	  7, 57, "parameters.lr.min", "must be positive for log_uniform_values" },
	{ "log_uniform_nonpositive_max",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'log_uniform_values', 'min': 1, 'max': 0}\n"
	  "  }\n"
	  "}\n",
	  7, 67, "parameters.lr.max", "must be positive for log_uniform_values (got 0)" },
	{ "empty_values",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'values': []}\n"
	  "  }\n"
	  "}\n",
	  7, 22, "parameters.lr.values", "must not be empty" },
	{ "values_not_array",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'values': 3}\n"
	  "  }\n"
	  "}\n",
	  7, 22, "parameters.lr.values", "expected an array" },
	{ "int_uniform_real_bound",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'int_uniform', 'min': 1, 'max': 2.5}\n"
	  "  }\n"
	  "}\n",
	  7, 60, "parameters.lr.max", "expected an integer" },
	{ "int_uniform_bound_too_large",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 1, 'max': 9007199254740993}\n"
	  "  }\n"
	  "}\n",
	  7, 29, "parameters.lr.max", "must be between" },
	{ "unknown_distribution",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'unifrom', 'min': 0, 'max': 1}\n"
	  "  }\n"
	  "}\n",
	  7, 28, "parameters.lr.distribution", "unknown distribution \"unifrom\" "
	  "(did you mean \"uniform\"?)" },
	{ "key_not_for_distribution",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'uniform', 'min': 0, 'max': 1, 'q': 0.1}\n"
	  "  }\n"
	  "}\n",
	  7, 59, "parameters.lr.q", "does not apply to distribution uniform" },
	{ "value_and_values",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'values': [1, 2], 'value': 3}\n"
	  "  }\n"
	  "}\n",
	  7, 30, "parameters.lr.value", "does not apply to distribution values" },
	{ "uniform_missing_max",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'uniform', 'min': 0}\n"
	  "  }\n"
	  "}\n",
	  7, 11, "parameters.lr.max", "missing required key" },
	{ "cannot_tell_distribution",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'num': 3}\n"
	  "  }\n"
	  "}\n",
	  7, 11, "parameters.lr", "cannot tell the distribution" },
	{ "q_uniform_zero_q",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'q_uniform', 'min': 0, 'max': 1, 'q': 0}\n"
	  "  }\n"
	  "}\n",
	  7, 66, "parameters.lr.q", "must be positive" },
	{ "normal_zero_sigma",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'normal', 'mu': 0, 'sigma': 0}\n"
	  "  }\n"
	  "}\n",
	  7, 56, "parameters.lr.sigma", "must be positive" },
	{ "num_zero",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 0.1, 'max': 1.0, 'num': 0}\n"
	  "  }\n"
	  "}\n",
	  7, 43, "parameters.lr.num", "must be positive" },
	{ "unknown_placeholder_suggests",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run --lr {lrr}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  3, 14, "command", "unknown placeholder {lrr} (did you mean {lr}?)" },
	{ "unknown_placeholder_env_style",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run --home ${HOME}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  3, 14, "command", "unknown placeholder {HOME} (a placeholder names a parameter" },
	{ "stray_closing_brace",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'awk {{print}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  3, 14, "command", "a single '}' at offset 11" },
	{ "metric_missing_name",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'goal': 'minimize'}\n"
	  "}\n",
	  9, 13, "metric.name", "missing required key" },
	{ "metric_bad_goal",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss', 'goal': 'minimise'}\n"
	  "}\n",
	  9, 38, "metric.goal", "unknown goal \"minimise\" (did you mean \"minimize\"?)" },
	{ "metric_invalid_regex",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss', 'pattern': 'loss=([0-9.]+'}\n"
	  "}\n",
	  9, 41, "metric.pattern", "invalid regular expression at offset 13: missing closing "
	  "parenthesis" },
	{ "metric_pattern_without_group",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss', 'pattern': 'loss=[0-9.]+'}\n"
	  "}\n",
	  9, 41, "metric.pattern", "needs a capture group" },
	{ "metrics_not_object",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metrics': ['acc']\n"
	  "}\n",
	  9, 14, "metrics", "expected an object" },
	{ "metrics_invalid_regex",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metrics': {\n"
	  "    'acc': 'acc=(?<x[0-9]+)'\n"
	  "  }\n"
	  "}\n",
	  10, 12, "metrics.acc", "invalid regular expression" },
	{ "metrics_repeats_objective",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'metrics': {'loss': 'loss=(\\\\d+)'}\n"
	  "}\n",
	  10, 15, "metrics.loss", "already the objective" },
	{ "fatal_pattern_invalid",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'retry': {\n"
	  "    'fatal_patterns': ['CUDA out of memory', '[oops']\n"
	  "  }\n"
	  "}\n",
	  10, 46, "retry.fatal_patterns.1", "missing terminating ] for character class" },
	{ "retry_negative_failures",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'retry': {'max_failures': -1}\n"
	  "}\n",
	  9, 29, "retry.max_failures", "must not be negative" },
	{ "checkpoint_keep_zero",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'checkpoint': {'keep': 0}\n"
	  "}\n",
	  9, 26, "checkpoint.keep", "must be positive" },
	{ "early_terminate_unknown_type",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'medain'}\n"
	  "}\n",
	  10, 31, "early_terminate.type", "unknown type \"medain\" (did you mean \"median\"?)" },
	{ "early_terminate_key_for_other_type",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'median', 'eta': 3}\n"
	  "}\n",
	  10, 41, "early_terminate.eta", "does not apply to type median" },
	{ "hyperband_missing_min_iter",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'hyperband', 'eta': 3}\n"
	  "}\n",
	  10, 22, "early_terminate.min_iter", "missing required key" },
	{ "hyperband_small_eta",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'hyperband', 'min_iter': 1, 'eta': 1}\n"
	  "}\n",
	  10, 66, "early_terminate.eta", "must be at least 2" },
	{ "hyperband_max_iter_not_above_min",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'hyperband', 'min_iter': 4, 'max_iter': 4}\n"
	  "}\n",
	  10, 71, "early_terminate.max_iter", "must be greater than min_iter" },
	{ "early_terminate_without_metric",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'early_terminate': {'type': 'median'}\n"
	  "}\n",
	  9, 22, "early_terminate", "needs a \"metric\"" },
	{ "median_resume_pruned",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'median', 'resume_pruned': true}\n"
	  "}\n",
	  10, 41, "early_terminate.resume_pruned", "does not apply to type median" },
	{ "hyperband_interval_steps",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'hyperband', 'min_iter': 1, 'interval_steps': 2}\n"
	  "}\n",
	  10, 59, "early_terminate.interval_steps", "does not apply to type hyperband" },
	{ "median_interval_zero",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'early_terminate': {'type': 'median', 'interval_steps': 0}\n"
	  "}\n",
	  10, 59, "early_terminate.interval_steps", "must be positive" },
	{ "bayes_block_for_random",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'bayes': {'n_startup': 5}\n"
	  "}\n",
	  10, 3, "bayes", "applies to method bayes only" },
	{ "bayes_gamma_out_of_range",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'bayes',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'bayes': {'gamma': 1.5}\n"
	  "}\n",
	  10, 22, "bayes.gamma", "between 0 and 1" },
	{ "bayes_unknown_key",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'tpe',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'bayes': {'n_candidate': 10}\n"
	  "}\n",
	  10, 13, "bayes.n_candidate", "did you mean \"n_candidates\"" },
	{ "bayes_parallel_zero",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'bayes',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss'},\n"
	  "  'bayes': {'parallel': 0}\n"
	  "}\n",
	  10, 25, "bayes.parallel", "must be positive" },
	{ "bayes_without_metric",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'bayes',\n"
	  "  'max_trials': 10,\n"
	  PARAMS_LR "\n"
	  "}\n",
	  1, 1, "metric", "missing required key (method bayes" },
	{ "grid_continuous_without_num",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'grid',\n"
	  "  'parameters': {\n"
	  "    'bs': {'values': [1, 2]},\n"
	  "    'lr': {'distribution': 'log_uniform_values', 'min': 0.001, 'max': 0.1}\n"
	  "  }\n"
	  "}\n",
	  7, 11, "parameters.lr", "a grid over a continuous log_uniform_values range needs "
	  "\"num\"" },
	{ "grid_q_uniform_without_multiple",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {lr}',\n"
	  "  'method': 'grid',\n"
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'q_uniform', 'min': 0.1, 'max': 0.2, 'q': 1}\n"
	  "  }\n"
	  "}\n",
	  6, 70, "parameters.lr.q", "no multiple of q lies between min and max" },
	{ "grid_too_large",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {a}',\n"
	  "  'method': 'grid',\n"
	  "  'parameters': {\n"
	  "    'a': {'min': 1, 'max': 1000},\n"
	  "    'b': {'min': 1, 'max': 1000},\n"
	  "    'c': {'min': 1, 'max': 1000}\n"
	  "  }\n"
	  "}\n",
	  5, 17, "parameters", "the grid has 1000000000 points; the limit is 10000000" },
	{ "grid_overflows",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {a}',\n"
	  "  'method': 'grid',\n"
	  "  'parameters': {\n"
	  "    'a': {'min': 0, 'max': 9007199254740991},\n"
	  "    'b': {'min': 0, 'max': 9007199254740991},\n"
	  "    'c': {'min': 0, 'max': 9007199254740991}\n"
	  "  }\n"
	  "}\n",
	  5, 17, "parameters", "the grid has more than 18446744073709551615 points" },
	{ "control_character_escaped",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 10,\n"
	  "  'x\\u0001y': 1\n"
	  "}\n",
	  6, 3, "x\\x01y", "unknown key" },
};

START_TEST(test_bad_spec)
{
	const struct bad_case *tc = &bad_cases[_i];
	struct spec *s = (struct spec *)1;
	char *cause, *prefix;
	int rc;

	rc = parse(tc->text, &s, &cause);
	ck_assert_msg(rc == -1, "%s: accepted", tc->name);
	ck_assert_msg(s == NULL, "%s: *out not cleared", tc->name);
	ck_assert_msg(cause != NULL, "%s: no cause", tc->name);
	if (*tc->path != '\0')
		prefix = xasprintf("t.json:%d:%d: %s: ", tc->line, tc->column, tc->path);
	else
		prefix = xasprintf("t.json:%d:%d: ", tc->line, tc->column);
	ck_assert_msg(strncmp(cause, prefix, strlen(prefix)) == 0,
	    "%s: cause \"%s\" does not start with \"%s\"", tc->name, cause, prefix);
	ck_assert_msg(strstr(cause + strlen(prefix), tc->what) != NULL,
	    "%s: cause \"%s\" lacks \"%s\"", tc->name, cause, tc->what);
	ck_assert_msg(strchr(cause, '\n') == NULL, "%s: cause spans lines", tc->name);
	free(prefix);
	free(cause);
}
END_TEST

/* Sobol has SOBOL_MAX_DIMS dimensions; a fixed "value" takes none. Built here, as the limit
 * belongs to expand.h. */
START_TEST(test_sobol_dimensions)
{
	struct buf text = { 0 };
	struct spec *s;
	char *cause, *expect;
	int i, extra;

	for (extra = 0; extra <= 1; extra++) {
		buf_reset(&text);
		buf_adds(&text, "{\n"
		    "  'name': 't',\n"
		    "  'command': 'run',\n"
		    "  'method': 'sobol',\n"
		    "  'max_trials': 16,\n"
		    "  'parameters': {\n"
		    "    'fixed': {'value': 1}");
		for (i = 0; i < SOBOL_MAX_DIMS + extra; i++)
			buf_printf(&text, ",\n    'p%d': {'min': 0, 'max': 1}", i);
		buf_adds(&text, "\n  }\n}\n");
		if (extra == 0) {
			ck_assert_msg(parse(text.data, &s, &cause) == 0, "%s", cause);
			ck_assert_uint_eq(s->nparams, SOBOL_MAX_DIMS + 1);
			spec_free(s);
			continue;
		}
		ck_assert_int_eq(parse(text.data, &s, &cause), -1);
		expect = xasprintf("t.json:6:17: parameters: sobol supports at most %d parameters "
		    "that vary, this spec has %d", SOBOL_MAX_DIMS, SOBOL_MAX_DIMS + 1);
		ck_assert_str_eq(cause, expect);
		free(expect);
		free(cause);
	}
	buf_free(&text);
}
END_TEST

/* Valid specs: the method, the distributions in spec order, and what expansion will make. */
struct good_case {
	const char		*name;
	const char		*text;
	enum spec_method	 method;
	const char		*kinds;		/* distribution names, comma-separated */
	uint64_t		 trials;	/* spec_trial_count */
	const char		*param_names;
	const char		*metric_names;
	bool			 minimize;
	enum early_stop_kind	 early;
};

static const struct good_case good_cases[] = {
	{ "inferred_kinds",
	  HEAD
	  "  'parameters': {\n"
	  "    'lr': {'min': 0.1, 'max': 1},\n"
	  "    'layers': {'min': 2, 'max': 8},\n"
	  "    'bs': {'values': [32, 64]},\n"
	  "    'opt': {'value': 'adam'}\n"
	  "  }\n"
	  "}\n",
	  METHOD_RANDOM, "uniform,int_uniform,values,value", 10,
	  "[\"lr\",\"layers\",\"bs\",\"opt\"]", "[]", true, EARLY_NONE },
	{ "wandb_distribution_names",
	  "{\n"
	  "  'name': 't',\n"
	  "  'command': 'run {a} {b} {c} {d} {e}',\n"
	  "  'method': 'tpe',\n"
	  "  'max_trials': 30,\n"
	  "  'parameters': {\n"
	  "    'a': {'distribution': 'categorical', 'values': ['x', 'y']},\n"
	  "    'b': {'distribution': 'constant', 'value': 1},\n"
	  "    'c': {'distribution': 'q_uniform', 'min': 0, 'max': 10, 'q': 2},\n"
	  "    'd': {'distribution': 'normal', 'mu': 1, 'sigma': 0.5},\n"
	  "    'e': {'distribution': 'log_uniform_values', 'min': 1e-5, 'max': 0.1}\n"
	  "  },\n"
	  "  'metric': {'name': 'acc', 'goal': 'maximize', 'pattern': 'acc=(\\\\S+)'},\n"
	  "  'metrics': {'loss': 'loss=(\\\\S+)', 'tokens': null}\n"
	  "}\n",
	  METHOD_BAYES, "values,value,q_uniform,normal,log_uniform_values", 30,
	  "[\"a\",\"b\",\"c\",\"d\",\"e\"]", "[\"acc\",\"loss\",\"tokens\"]", false, EARLY_NONE },
	{ "grid_full",
	  "{\n"
	  "  'name': 'g',\n"
	  "  'command': 'run {lr} {bs} {n} --out {checkpoint_dir} --from {resume_from}',\n"
	  "  'method': 'grid',\n"
	  "  'parameters': {\n"
	  "    'lr': {'distribution': 'uniform', 'min': 0, 'max': 1, 'num': 5},\n"
	  "    'bs': {'values': [16, 32, 64]},\n"
	  "    'n': {'min': 1, 'max': 4},\n"
	  "    'q': {'distribution': 'q_uniform', 'min': 0.3, 'max': 1.0, 'q': 0.1}\n"
	  "  }\n"
	  "}\n",
	  METHOD_GRID, "uniform,values,int_uniform,q_uniform", 5 * 3 * 4 * 8,
	  "[\"lr\",\"bs\",\"n\",\"q\"]", "[]", true, EARLY_NONE },
	{ "grid_capped_by_max_trials",
	  "{\n"
	  "  'name': 'g',\n"
	  "  'command': 'run {n} {trial_id} {attempt} {{literal}}',\n"
	  "  'method': 'grid',\n"
	  "  'max_trials': 7,\n"
	  "  'parameters': {\n"
	  "    'n': {'min': 1, 'max': 100}\n"
	  "  }\n"
	  "}\n",
	  METHOD_GRID, "int_uniform", 7, "[\"n\"]", "[]", true, EARLY_NONE },
	{ "sobol_median",
	  "{\n"
	  "  'name': 's',\n"
	  "  'command': 'run',\n"
	  "  'method': 'sobol',\n"
	  "  'max_trials': 16,\n"
	  "  'parameters': {\n"
	  "    'x': {'min': -1.5, 'max': 1.5},\n"
	  "    'y': {'min': -1.5, 'max': 1.5}\n"
	  "  },\n"
	  "  'metric': {'name': 'f'},\n"
	  "  'early_terminate': {'type': 'median', 'min_steps': 5}\n"
	  "}\n",
	  METHOD_SOBOL, "uniform,uniform", 16, "[\"x\",\"y\"]", "[\"f\"]", true,
	  EARLY_MEDIAN },
	{ "hyperband",
	  HEAD
	  PARAMS_LR ",\n"
	  "  'metric': {'name': 'loss', 'goal': 'minimize'},\n"
	  "  'early_terminate': {'type': 'hyperband', 'min_iter': 3, 'max_iter': 81}\n"
	  "}\n",
	  METHOD_RANDOM, "uniform", 10, "[\"lr\"]", "[\"loss\"]", true, EARLY_HYPERBAND },
	{ "parameter_name_with_dot_and_unicode",
	  "{\n"
	  "  'name': 'w',\n"
	  "  'command': 'run {model.lr} {\xc3\xa9ta}',\n"
	  "  'method': 'random',\n"
	  "  'max_trials': 3,\n"
	  "  'description': 'dotted names',\n"
	  "  'parameters': {\n"
	  "    'model.lr': {'values': [0.1]},\n"
	  "    '\xc3\xa9ta': {'value': [1, 2]}\n"
	  "  }\n"
	  "}\n",
	  METHOD_RANDOM, "values,value", 3, "[\"model.lr\",\"\xc3\xa9ta\"]", "[]", true,
	  EARLY_NONE },
};

START_TEST(test_good_spec)
{
	const struct good_case *tc = &good_cases[_i];
	struct spec *s = NULL;
	struct buf kinds = { 0 };
	char *cause, *names;
	size_t i;

	ck_assert_msg(parse(tc->text, &s, &cause) == 0, "%s: %s", tc->name, cause);
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(s->method, tc->method);
	for (i = 0; i < s->nparams; i++)
		buf_printf(&kinds, "%s%s", i > 0 ? "," : "", dist_kind_name(s->params[i].kind));
	ck_assert_str_eq(kinds.data, tc->kinds);
	ck_assert_uint_eq(spec_trial_count(s), tc->trials);
	names = spec_param_names_json(s);
	ck_assert_str_eq(names, tc->param_names);
	free(names);
	names = spec_metric_names_json(s);
	ck_assert_str_eq(names, tc->metric_names);
	free(names);
	ck_assert(s->minimize == tc->minimize);
	ck_assert_int_eq(s->early_stop, tc->early);
	buf_free(&kinds);
	spec_free(s);
}
END_TEST

/* The contract's example, field by field. */
static const char contract_example[] =
	"{\n"
	"  'name': 'resnet-lr',\n"
	"  'command': 'python3 train.py --lr {lr} --batch-size {batch_size} --resume {resume_from}',\n"
	"  'method': 'random',\n"
	"  'max_trials': 50,\n"
	"  'seed': 7,\n"
	"  'parameters': {\n"
	"    'lr':         {'distribution': 'log_uniform_values', 'min': 1e-5, 'max': 1e-1},\n"
	"    'batch_size': {'values': [32, 64, 128]},\n"
	"    'dropout':    {'distribution': 'uniform', 'min': 0.0, 'max': 0.5},\n"
	"    'layers':     {'distribution': 'int_uniform', 'min': 2, 'max': 8},\n"
	"    'optimizer':  {'value': 'adamw'}\n"
	"  },\n"
	"  'metric':  {'name': 'val_loss', 'goal': 'minimize', 'pattern': 'val_loss[=: ]+([-+0-9.eE]+)'},\n"
	"  'metrics': {'val_acc': 'val_acc[=: ]+([-+0-9.eE]+)'},\n"
	"  'retry': {'max_failures': 2, 'max_preemptions': 20, 'fatal_patterns': ['CUDA out of memory']},\n"
	"  'checkpoint': {'keep': 3},\n"
	"  'timeout_s': 14400,\n"
	"  'deadline': '2026-12-05T00:00:00Z'\n"
	"}\n";

START_TEST(test_contract_example)
{
	struct spec *s;
	char *cause, *text = dequote(contract_example);
	double deadline;

	ck_assert_msg(spec_parse("c.json", text, strlen(text), &s, &cause) == 0, "%s", cause);
	ck_assert_str_eq(s->name, "resnet-lr");
	ck_assert_str_eq(s->command,
	    "python3 train.py --lr {lr} --batch-size {batch_size} --resume {resume_from}");
	ck_assert_int_eq(s->method, METHOD_RANDOM);
	ck_assert_int_eq(s->max_trials, 50);
	ck_assert_uint_eq(s->seed, 7);
	ck_assert_uint_eq(s->nparams, 5);
	ck_assert_str_eq(s->params[0].name, "lr");
	ck_assert_int_eq(s->params[0].kind, DIST_LOG_UNIFORM_VALUES);
	ck_assert(s->params[0].min == 1e-5 && s->params[0].max == 1e-1);
	ck_assert_int_eq(s->params[1].kind, DIST_VALUES);
	ck_assert_uint_eq(json_array_size(s->params[1].values), 3);
	ck_assert_int_eq(json_integer_value(json_array_get(s->params[1].values, 2)), 128);
	ck_assert(s->params[2].min == 0.0 && s->params[2].max == 0.5);
	ck_assert(s->params[3].min == 2 && s->params[3].max == 8);
	ck_assert_int_eq(s->params[4].kind, DIST_VALUE);
	ck_assert_uint_eq(json_array_size(s->params[4].values), 1);
	ck_assert_str_eq(json_string_value(json_array_get(s->params[4].values, 0)), "adamw");
	ck_assert_str_eq(s->objective.name, "val_loss");
	ck_assert_str_eq(s->objective.pattern, "val_loss[=: ]+([-+0-9.eE]+)");
	ck_assert(s->minimize);
	ck_assert_uint_eq(s->nmetrics, 1);
	ck_assert_str_eq(s->metrics[0].name, "val_acc");
	ck_assert_str_eq(s->metrics[0].pattern, "val_acc[=: ]+([-+0-9.eE]+)");
	ck_assert_int_eq(s->max_failures, 2);
	ck_assert_int_eq(s->max_preemptions, 20);
	ck_assert_uint_eq(s->nfatal, 1);
	ck_assert_str_eq(s->fatal_patterns[0], "CUDA out of memory");
	ck_assert_int_eq(s->checkpoint_keep, 3);
	ck_assert_int_eq(s->timeout_s, 14400);
	ck_assert(parse_iso8601("2026-12-05T00:00:00Z", &deadline));
	ck_assert(s->deadline == deadline && deadline == 1796428800.0);
	ck_assert_str_eq(s->text, text);
	spec_free(s);
	free(text);
}
END_TEST

START_TEST(test_defaults)
{
	struct spec *s;
	char *cause;

	ck_assert_msg(parse(HEAD PARAMS_LR "\n}\n", &s, &cause) == 0, "%s", cause);
	ck_assert_uint_eq(s->seed, 0);
	ck_assert_int_eq(s->max_failures, 2);
	ck_assert_int_eq(s->max_preemptions, 20);
	ck_assert_int_eq(s->checkpoint_keep, 3);
	ck_assert_int_eq(s->timeout_s, 0);
	ck_assert(s->deadline == 0);
	ck_assert(s->minimize);
	ck_assert_ptr_null(s->objective.name);
	ck_assert_ptr_null(s->objective.pattern);
	ck_assert_uint_eq(s->nmetrics, 0);
	ck_assert_uint_eq(s->nfatal, 0);
	ck_assert_int_eq(s->early_stop, EARLY_NONE);
	ck_assert_int_eq(s->params[0].num, 0);
	spec_free(s);

	ck_assert_msg(parse(HEAD PARAMS_LR ",\n"
	    "  'metric': {'name': 'l'},\n"
	    "  'early_terminate': {'type': 'hyperband', 'min_iter': 2}\n}\n", &s, &cause) == 0,
	    "%s", cause);
	ck_assert_int_eq(s->early_min_steps, 2);
	ck_assert_int_eq(s->early_eta, 3);
	ck_assert_int_eq(s->early_max_iter, 0);
	ck_assert(!s->early_resume_pruned);
	spec_free(s);

	/* bayes (alias tpe): the TPE defaults, and the "bayes" block over them */
	ck_assert_msg(parse("{\n  'name': 't',\n  'command': 'run {lr}',\n  'method': 'tpe',\n"
	    "  'max_trials': 10,\n" PARAMS_LR ",\n  'metric': {'name': 'l'}\n}\n", &s, &cause) == 0,
	    "%s", cause);
	ck_assert_int_eq(s->method, METHOD_BAYES);
	ck_assert_int_eq(s->bayes_n_startup, 10);
	ck_assert(s->bayes_gamma == 0.25);
	ck_assert_int_eq(s->bayes_n_candidates, 24);
	ck_assert_int_eq(s->bayes_parallel, 0);
	ck_assert(s->bayes_multivariate);
	spec_free(s);
	ck_assert_msg(parse("{\n  'name': 't',\n  'command': 'run {lr}',\n  'method': 'bayes',\n"
	    "  'max_trials': 10,\n" PARAMS_LR ",\n  'metric': {'name': 'l'},\n"
	    "  'bayes': {'n_startup': 3, 'gamma': 0.1, 'n_candidates': 48, 'parallel': 8,"
	    " 'multivariate': false},\n"
	    "  'early_terminate': {'type': 'hyperband', 'min_iter': 1, 'resume_pruned': true}\n"
	    "}\n", &s, &cause) == 0, "%s", cause);
	ck_assert_int_eq(s->bayes_n_startup, 3);
	ck_assert(s->bayes_gamma == 0.1);
	ck_assert_int_eq(s->bayes_n_candidates, 48);
	ck_assert_int_eq(s->bayes_parallel, 8);
	ck_assert(!s->bayes_multivariate);
	ck_assert(s->early_resume_pruned);
	spec_free(s);

	ck_assert_msg(parse(HEAD "  'parameters': {\n"
	    "    'lr': {'distribution': 'q_uniform', 'min': 0, 'max': 5},\n"
	    "    'n': {'distribution': 'normal'}\n  }\n}\n", &s, &cause) == 0, "%s", cause);
	ck_assert(s->params[0].q == 1);
	ck_assert(s->params[1].mu == 0 && s->params[1].sigma == 1);
	spec_free(s);
}
END_TEST

/* json_locate (value) and json_locate_key over one multi-line document. */
static const char locate_doc[] =
	"{\n"
	"  'a': 1,\n"
	"  'b': {'c': [10, {'d': 'x'}], 'e\\u002ef': true},\n"
	"\t'g' :\n"
	"     null,\n"
	"  '\xc3\xa9': 'h', 'i': []\n"
	"}";

static const struct {
	const char	*path;
	bool		 key;
	bool		 found;
	int		 line, column;
} locate_cases[] = {
	{ "", false, true, 1, 1 },
	{ "a", false, true, 2, 8 },
	{ "a", true, true, 2, 3 },
	{ "b", false, true, 3, 8 },
	{ "b.c", false, true, 3, 14 },
	{ "b.c.0", false, true, 3, 15 },
	{ "b.c.1", false, true, 3, 19 },
	{ "b.c.1.d", false, true, 3, 25 },
	{ "b.c.1.d", true, true, 3, 20 },
	{ "b.e.f", false, true, 3, 44 },
	{ "b.e.f", true, true, 3, 32 },
	{ "g", false, true, 5, 6 },
	{ "g", true, true, 4, 2 },
	{ "\xc3\xa9", false, true, 6, 9 },
	{ "i", false, true, 6, 19 },
	{ "b.c.2", false, false, 0, 0 },
	{ "z", false, false, 0, 0 },
	{ "", true, false, 0, 0 },
};

START_TEST(test_json_locate)
{
	char *text = dequote(locate_doc);
	int line = 0, column = 0;
	bool found;

	if (locate_cases[_i].key)
		found = json_locate_key(text, strlen(text), locate_cases[_i].path, &line, &column);
	else
		found = json_locate(text, strlen(text), locate_cases[_i].path, &line, &column);
	ck_assert_msg(found == locate_cases[_i].found, "path \"%s\"", locate_cases[_i].path);
	if (found) {
		ck_assert_int_eq(line, locate_cases[_i].line);
		ck_assert_int_eq(column, locate_cases[_i].column);
	}
	free(text);
}
END_TEST

START_TEST(test_json_find_duplicate)
{
	char *text = dequote("{'a': {'x': 1, 'y': 2},\n 'b': [{'k': 1,\n 'k': 2}], 'a': 3}");
	char *path = NULL;
	int line, column, fline, fcolumn;

	ck_assert(json_find_duplicate(text, strlen(text), &path, &line, &column, &fline,
	    &fcolumn));
	ck_assert_str_eq(path, "b.0.k");
	ck_assert_int_eq(line, 3);
	ck_assert_int_eq(column, 2);
	ck_assert_int_eq(fline, 2);
	ck_assert_int_eq(fcolumn, 9);
	free(path);
	free(text);
	text = dequote("{'a': 1, 'b': {'a': 2}}");
	ck_assert(!json_find_duplicate(text, strlen(text), &path, &line, &column, &fline,
	    &fcolumn));
	free(text);
}
END_TEST

/* Grid sizes of hand-built specs, including the uint64 overflow. */
static const struct {
	const char	*name;
	struct spec_param params[3];
	size_t		 nparams;
	bool		 ok;
	uint64_t	 size;
} grid_cases[] = {
	{ "int_and_num", { { .kind = DIST_INT_UNIFORM, .min = -2, .max = 2 },
	  { .kind = DIST_UNIFORM, .min = 0, .max = 1, .num = 7 } }, 2, true, 35 },
	{ "value", { { .kind = DIST_NORMAL, .sigma = 1, .num = 3 },
	  { .kind = DIST_LOG_UNIFORM_VALUES, .min = 1, .max = 2, .num = 2 } }, 2, true, 6 },
	{ "q_steps", { { .kind = DIST_Q_UNIFORM, .min = -1, .max = 1, .q = 0.5 } }, 1, true, 5 },
	{ "q_steps_inexact", { { .kind = DIST_Q_UNIFORM, .min = 0.3, .max = 0.7, .q = 0.1 } },
	  1, true, 5 },
	{ "q_with_num", { { .kind = DIST_Q_UNIFORM, .min = 0, .max = 1, .q = 0.001, .num = 4 } },
	  1, true, 4 },
	{ "int_with_num", { { .kind = DIST_INT_UNIFORM, .min = 1, .max = 100, .num = 5 } },
	  1, true, 5 },
	{ "int_num_above_lattice", { { .kind = DIST_INT_UNIFORM, .min = 1, .max = 3, .num = 10 } },
	  1, true, 3 },
	{ "no_num", { { .kind = DIST_UNIFORM, .min = 0, .max = 1 } }, 1, false, 0 },
	{ "just_fits", { { .kind = DIST_INT_UNIFORM, .min = 0, .max = 2097151 },
	  { .kind = DIST_INT_UNIFORM, .min = 0, .max = 2097151 },
	  { .kind = DIST_INT_UNIFORM, .min = 0, .max = 4194302 } }, 3, true,
	  UINT64_C(18446739675663040512) },
	{ "overflows", { { .kind = DIST_INT_UNIFORM, .min = 0, .max = 4294967296.0 },
	  { .kind = DIST_INT_UNIFORM, .min = 1, .max = 4294967296.0 } }, 2, false, 0 },
	{ "three_way_overflow", { { .kind = DIST_INT_UNIFORM, .min = 0, .max = 2097151 },
	  { .kind = DIST_INT_UNIFORM, .min = 0, .max = 2097151 },
	  { .kind = DIST_INT_UNIFORM, .min = 0, .max = 4194303 } }, 3, false, 0 },
};

START_TEST(test_grid_size)
{
	struct spec s = { .method = METHOD_GRID };
	struct spec_param params[3];
	uint64_t size = 0;
	bool ok;

	memcpy(params, grid_cases[_i].params, sizeof params);
	s.params = params;
	s.nparams = grid_cases[_i].nparams;
	ok = spec_grid_size(&s, &size);
	ck_assert_msg(ok == grid_cases[_i].ok, "%s", grid_cases[_i].name);
	if (ok)
		ck_assert_uint_eq(size, grid_cases[_i].size);
	else
		ck_assert_uint_eq(spec_trial_count(&s), UINT64_MAX);
}
END_TEST

START_TEST(test_trial_count)
{
	struct spec_param p = { .kind = DIST_INT_UNIFORM, .min = 1, .max = 10 };
	struct spec s = { .method = METHOD_GRID, .params = &p, .nparams = 1 };

	ck_assert_uint_eq(spec_trial_count(&s), 10);
	s.max_trials = 4;
	ck_assert_uint_eq(spec_trial_count(&s), 4);
	s.max_trials = 40;
	ck_assert_uint_eq(spec_trial_count(&s), 10);
	s.method = METHOD_RANDOM;
	ck_assert_uint_eq(spec_trial_count(&s), 40);
	s.method = METHOD_SOBOL;
	s.max_trials = 16;
	ck_assert_uint_eq(spec_trial_count(&s), 16);
}
END_TEST

/* Placeholder substitution, shared by validation and the agent. */
static const char *
render_lookup(const char *name, void *arg)
{
	(void)arg;
	if (strcmp(name, "lr") == 0)
		return "0.001";
	if (strcmp(name, "resume_from") == 0)
		return "";
	if (strcmp(name, "dir") == 0)
		return "/tmp/it's here";
	return NULL;
}

static const struct {
	const char	*command;
	int		 rc;
	const char	*out;	/* the result, or a substring of the cause */
} render_cases[] = {
	{ "train --lr {lr}", 0, "train --lr '0.001'" },
	{ "train --resume {resume_from} --out {dir}", 0,
	  "train --resume '' --out '/tmp/it'\\''s here'" },
	{ "awk '{{print $1}}' {lr}", 0, "awk '{print $1}' '0.001'" },
	{ "no placeholders", 0, "no placeholders" },
	{ "{lr}{lr}", 0, "'0.001''0.001'" },
	{ "run {nope}", -1, "unknown placeholder {nope}" },
	{ "run {lr", -1, "an unclosed '{' at offset 4" },
	{ "run {l{r}", -1, "an unclosed '{' at offset 4" },
	{ "run {}", -1, "an empty placeholder {} at offset 4" },
	{ "run }", -1, "a single '}' at offset 4" },
};

START_TEST(test_command_render)
{
	struct buf out = { 0 };
	char *cause = NULL;
	int rc;

	buf_adds(&out, "");
	rc = spec_command_render(render_cases[_i].command, render_lookup, NULL, &out, &cause);
	ck_assert_int_eq(rc, render_cases[_i].rc);
	if (rc == 0)
		ck_assert_str_eq(out.data, render_cases[_i].out);
	else {
		ck_assert_ptr_nonnull(cause);
		ck_assert_msg(strstr(cause, render_cases[_i].out) != NULL, "%s", cause);
	}
	free(cause);
	buf_free(&out);
}
END_TEST

/* The examples double as fixtures: each must load as shipped (run from the repo root). */
START_TEST(test_examples_parse)
{
	glob_t g;
	struct spec *s;
	char *cause;
	size_t i;

	ck_assert_int_eq(glob("sweeps/*.json", 0, NULL, &g), 0);
	ck_assert_uint_ge(g.gl_pathc, 3);
	for (i = 0; i < g.gl_pathc; i++) {
		cause = NULL;
		ck_assert_msg(spec_load(g.gl_pathv[i], &s, &cause) == 0, "%s", cause);
		ck_assert_uint_gt(spec_trial_count(s), 0);
		spec_free(s);
	}
	globfree(&g);
}
END_TEST

START_TEST(test_load_errors)
{
	struct spec *s;
	char *cause = NULL;

	ck_assert_int_eq(spec_load("sweeps/no-such-spec.json", &s, &cause), -1);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(cause, "cannot open sweeps/no-such-spec.json: no such file");
	free(cause);

	/* YAML is read as YAML: this one lacks its method */
	cause = NULL;
	ck_assert_int_eq(spec_parse("s.yaml", "name: x\n", 8, &s, &cause), -1);
	ck_assert_str_eq(cause, "s.yaml:1:1: method: missing required key (grid, random, "
	    "sobol or bayes)");
	free(cause);

	/* YAML text in a .json file gets a hint */
	cause = NULL;
	ck_assert_int_eq(spec_parse("s.json", "name: x\n", 8, &s, &cause), -1);
	ck_assert_msg(strncmp(cause, "s.json:1:1: invalid JSON: ", 26) == 0, "%s", cause);
	ck_assert_ptr_nonnull(strstr(cause, "the text looks like YAML"));
	free(cause);

	cause = NULL;
	ck_assert_int_eq(spec_parse("e.json", "", 0, &s, &cause), -1);
	ck_assert_msg(strncmp(cause, "e.json:1:1: invalid JSON: ", 26) == 0, "%s", cause);
	free(cause);
}
END_TEST

#define NELEM(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
spec_suite(void)
{
	Suite *s = suite_create("spec");
	TCase *tc;

	tc = tcase_create("invalid");
	tcase_add_loop_test(tc, test_bad_spec, 0, NELEM(bad_cases));
	tcase_add_test(tc, test_sobol_dimensions);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_add_loop_test(tc, test_good_spec, 0, NELEM(good_cases));
	tcase_add_test(tc, test_contract_example);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_examples_parse);
	tcase_add_test(tc, test_load_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("locate");
	tcase_add_loop_test(tc, test_json_locate, 0, NELEM(locate_cases));
	tcase_add_test(tc, test_json_find_duplicate);
	suite_add_tcase(s, tc);

	tc = tcase_create("grid");
	tcase_add_loop_test(tc, test_grid_size, 0, NELEM(grid_cases));
	tcase_add_test(tc, test_trial_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_loop_test(tc, test_command_render, 0, NELEM(render_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(spec_suite());
}
