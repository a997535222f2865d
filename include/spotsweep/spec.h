/* Sweep specs: parsing and validation of a JSON or YAML spec file (Weights & Biases' sweep
 * configuration vocabulary) into a struct spec. Every error names FILE:LINE:COLUMN, the key
 * path, and what was expected; nothing is half-built. */
#ifndef SPOTSWEEP_SPEC_H
#define SPOTSWEEP_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum spec_method { METHOD_GRID, METHOD_RANDOM, METHOD_SOBOL, METHOD_BAYES, METHOD_MAX };

/* W&B's distributions, with W&B's meanings (wandb/sweeps params.py). round() is to the
 * nearest, ties to even, as numpy's; "log" is the natural logarithm. */
enum dist_kind {
	DIST_VALUE,			/* "value": one fixed value */
	DIST_VALUES,			/* "values": a categorical list (optional probabilities) */
	DIST_UNIFORM,			/* continuous [min, max) */
	DIST_INT_UNIFORM,		/* integers min..max inclusive */
	DIST_LOG_UNIFORM_VALUES,	/* exp(uniform(log min, log max)) */
	DIST_Q_UNIFORM,			/* round(uniform(min, max) / q) * q */
	DIST_NORMAL,			/* normal(mu, sigma) */
	DIST_LOG_UNIFORM,		/* exp(uniform(min, max)): the bounds are logarithms */
	DIST_INV_LOG_UNIFORM,		/* exp(-uniform(min, max)): log(1/X) uniform in [min, max] */
	DIST_INV_LOG_UNIFORM_VALUES,	/* 1/X log-uniform with X in [min, max] */
	DIST_Q_LOG_UNIFORM,		/* round(exp(uniform(min, max)) / q) * q */
	DIST_Q_LOG_UNIFORM_VALUES,	/* round(exp(uniform(log min, log max)) / q) * q */
	DIST_Q_NORMAL,			/* round(normal(mu, sigma) / q) * q */
	DIST_LOG_NORMAL,		/* exp(normal(mu, sigma)) */
	DIST_Q_LOG_NORMAL,		/* round(exp(normal(mu, sigma)) / q) * q */
	DIST_MAX
};

struct spec_param {
	char		*name;		/* keys joined with '.': "optimizer.lr" */
	char		**keys;		/* the path through nested "parameters" blocks, leaf last */
	size_t		 nkeys;		/* 1 for a top-level parameter */
	enum dist_kind	 kind;
	json_t		*values;	/* DIST_VALUE/VALUES: array of the values (owned) */
	double		*cum;		/* DIST_VALUES with "probabilities": cumulative, or NULL */
	double		 min, max;	/* bounds, where the distribution has them */
	double		 q;		/* q_* step (default 1) */
	double		 mu, sigma;	/* *normal (defaults 0, 1) */
	long		 num;		/* grid points (for int_uniform/q_uniform at most their lattice); 0 = unset */
};

struct spec_metric {
	char	*name;
	char	*pattern;	/* PCRE2 pattern with one capture group, or NULL */
};

enum early_stop_kind { EARLY_NONE, EARLY_MEDIAN, EARLY_HYPERBAND };

enum spec_format { SPEC_FORMAT_JSON, SPEC_FORMAT_YAML };

struct spec {
	char			*name;		/* "name", else the file's base name */
	char			*command;	/* the template: a string, or W&B's list rendered */
	char			*program;	/* W&B "program", or NULL */
	char			*description;	/* metadata kept as given, or NULL */
	char			*project;
	char			*entity;
	bool			 wandb_shim;	/* put the wandb module in front of the trial */
	enum spec_format	 format;
	enum spec_method	 method;
	long			 max_trials;	/* 0 = unset (grid: all points) */
	uint64_t		 seed;		/* default 0 */

	struct spec_param	*params;	/* in spec order */
	size_t			 nparams;

	struct spec_metric	 objective;	/* metric.name / metric.pattern */
	bool			 minimize;	/* metric.goal, default minimize */
	bool			 has_target;	/* metric.target: no new trials once one reaches it */
	double			 target;
	struct spec_metric	*metrics;	/* extra "metrics" in spec order */
	size_t			 nmetrics;

	long			 max_failures;	  /* retry.max_failures, default 2 */
	long			 max_preemptions; /* retry.max_preemptions, default 20 */
	char			**fatal_patterns; /* retry.fatal_patterns */
	size_t			 nfatal;

	long			 checkpoint_keep; /* checkpoint.keep, default 3 */
	long			 timeout_s;	  /* 0 = none */
	double			 deadline;	  /* epoch seconds, 0 = none */

	enum early_stop_kind	 early_stop;
	long			 early_min_steps; /* median: min_steps; hyperband: min_iter */
	long			 early_interval;  /* median: interval_steps, 0 = unset */
	long			 early_eta;	  /* hyperband eta, default 3 */
	long			 early_max_iter;  /* hyperband max_iter, 0 = unset */
	long			 early_s;	  /* W&B hyperband s (brackets below max_iter), 0 = unset */
	bool			 early_strict;	  /* W&B hyperband strict, default true */
	bool			 early_resume_pruned; /* hyperband: promote pruned trials back */

	/* method bayes (TPE, tpe.c): the "bayes" object */
	long			 bayes_n_startup;    /* random trials first, default 10 */
	double			 bayes_gamma;	     /* good fraction, default 0.25 */
	long			 bayes_n_candidates; /* draws from the good density, default 24 */
	long			 bayes_parallel;     /* trials outstanding, 0 = the workers' slots */
	bool			 bayes_multivariate; /* joint TPE (default), else per parameter */

	char			*text;		/* the file as submitted */
};

#define SPEC_MAX_FILE_BYTES	(4L * 1024 * 1024)
#define SPEC_GRID_LIMIT		10000000ULL

const char *spec_method_name(enum spec_method m);
const char *dist_kind_name(enum dist_kind k);

/* The format of a spec file: by its extension (.json, .yaml, .yml), else by its text (JSON
 * when it starts with '{', YAML otherwise). */
enum spec_format spec_detect_format(const char *path, const char *text, size_t len);

/* Parses and validates text (from file `path`, used in messages and to tell the format).
 * On error returns -1 and sets *cause to "PATH:LINE:COL: key.path: what was expected" (caller
 * frees). */
int spec_parse(const char *path, const char *text, size_t len, struct spec **out, char **cause);
/* Reads and parses a spec file. */
int spec_load(const char *path, struct spec **out, char **cause);
void spec_free(struct spec *s);

/* Number of points of the grid over all parameters (each counted by expand_grid_points());
 * false when the product overflows uint64 or a continuous parameter has no "num". */
bool spec_grid_size(const struct spec *s, uint64_t *size);
/* Number of trials expansion will produce before deduplication: the grid size (capped by
 * max_trials when set) for grid, max_trials otherwise. */
uint64_t spec_trial_count(const struct spec *s);

/* Canonical JSON of the spec's parameter names in spec order, e.g. ["lr","batch_size"]. */
char *spec_param_names_json(const struct spec *s);
/* Canonical JSON of the metric names, objective first. */
char *spec_metric_names_json(const struct spec *s);

/* Command placeholders: "{NAME}" is replaced by lookup(NAME, arg), shell-quoted; "{{" and
 * "}}" stand for literal braces. W&B's macros "${env}", "${interpreter}", "${program}",
 * "${args}", "${args_no_hyphens}", "${args_no_boolean_flags}", "${args_json}" and
 * "${args_json_file}" are replaced by lookup("$NAME", arg) appended as it is: the lookup
 * returns shell words already quoted. lookup returns NULL for an unknown name. Appends the
 * result to out; -1 with *cause on an unknown placeholder, an empty "{}" or a stray brace. */
struct buf;
typedef const char *(*spec_lookup_fn)(const char *name, void *arg);
int spec_command_render(const char *command, spec_lookup_fn lookup, void *arg,
    struct buf *out, char **cause);
/* True when name (without "${" and "}") is one of W&B's command macros. */
bool spec_is_macro(const char *name, size_t len);

/* Finds the 1-based line and column of the value at key path `path` (components separated
 * by '.', array indexes as numbers) in JSON text. False when the path is not there. Columns
 * count bytes. The root value is the path "". */
bool json_locate(const char *text, size_t len, const char *path, int *line, int *column);
/* Like json_locate, but the position of the key (its opening quote) that ends path: where an
 * unknown key is reported. */
bool json_locate_key(const char *text, size_t len, const char *path, int *line, int *column);
/* Finds the first object key that repeats an earlier key of the same object: its path
 * (*path, caller frees), its position and the earlier one's. False when there is none. */
bool json_find_duplicate(const char *text, size_t len, char **path, int *line, int *column,
    int *first_line, int *first_column);
/* The key path the text was in where a syntax error hit byte `offset` (caller frees; "" at
 * the top level), or NULL when the scanner found no trouble up to there. *where is the
 * offset to report: the start of the offending token when the scanner knows it, else offset. */
char *json_error_path(const char *text, size_t len, size_t offset, size_t *where);
/* The 1-based line and byte column of offset in text (offset len is the end of the text). */
void json_line_column(const char *text, size_t len, size_t offset, int *line, int *column);

#endif
