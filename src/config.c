/* Scheduler config: parsing and validation of the JSON config file into struct config, and
 * reading the bearer token file. Positions in error messages come from json_locate() over the
 * original text, so every error points at the offending key or value. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "spotsweep/config.h"
#include "spotsweep/rules.h"
#include "spotsweep/spec.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

static const char *class_names[POOL_CLASS_MAX] = { "spot", "on-demand" };
static const char *dispatch_names[DISPATCH_MAX] = { "http", "ssh", "slurm" };

const char *
pool_class_name(enum pool_class c)
{
	return c < POOL_CLASS_MAX ? class_names[c] : "unknown";
}

const char *
pool_dispatch_name(enum pool_dispatch d)
{
	return d < DISPATCH_MAX ? dispatch_names[d] : "unknown";
}

/* Parsing context: the file's text for positions and the first error. */
struct cfg_ctx {
	const char	*path;
	const char	*text;
	size_t		 len;
	char		*cause;
};

static int
cfg_error(struct cfg_ctx *x, const char *keypath, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cfg_error(struct cfg_ctx *x, const char *keypath, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int line = 1, col = 1;

	if (x->cause != NULL)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (!json_locate(x->text, x->len, keypath, &line, &col)) {
		line = 1;
		col = 1;
	}
	x->cause = xasprintf("%s:%d:%d: %s: %s", x->path, line, col, keypath, msg);
	free(msg);
	return -1;
}

/* Refuses keys of obj not in allowed (NULL-terminated), suggesting the nearest one. */
static int
check_keys(struct cfg_ctx *x, json_t *obj, const char *prefix, const char *const *allowed)
{
	const char *key, *best;
	const char *const *a;
	json_t *v;
	size_t d, bestd;
	char *kp;
	int rc = 0;

	json_object_foreach(obj, key, v) {
		best = NULL;
		bestd = (size_t)-1;
		for (a = allowed; *a != NULL; a++) {
			if (strcmp(*a, key) == 0)
				break;
			d = edit_distance(*a, key);
			if (d < bestd) {
				bestd = d;
				best = *a;
			}
		}
		if (*a != NULL)
			continue;
		kp = *prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
		if (best != NULL && bestd <= 2)
			rc = cfg_error(x, kp, "unknown key (did you mean \"%s\"?)", best);
		else
			rc = cfg_error(x, kp, "unknown key");
		free(kp);
		return rc;
	}
	return 0;
}

static int
get_string(struct cfg_ctx *x, json_t *obj, const char *prefix, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);
	char *kp;

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		kp = *prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
		cfg_error(x, kp, "expected a non-empty string");
		free(kp);
		return -1;
	}
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
get_number(struct cfg_ctx *x, json_t *obj, const char *prefix, const char *key, double min,
    bool integer, double *out)
{
	json_t *v = json_object_get(obj, key);
	char *kp;
	double d;

	if (v == NULL)
		return 0;
	kp = *prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
	if (!json_is_number(v) || (integer && !json_is_integer(v))) {
		cfg_error(x, kp, "expected %s", integer ? "an integer" : "a number");
		free(kp);
		return -1;
	}
	d = json_number_value(v);
	if (!(d >= min) || !isfinite(d)) {
		cfg_error(x, kp, "expected a value of at least %g", min);
		free(kp);
		return -1;
	}
	free(kp);
	*out = d;
	return 0;
}

static int
parse_hosts(struct cfg_ctx *x, json_t *arr, const char *prefix, struct pool *p)
{
	static const char *const keys[] = { "host", "user", "port", "slots", "identity_file",
	    NULL };
	json_t *h;
	size_t i;
	double d;
	char kp[256];

	if (!json_is_array(arr))
		return cfg_error(x, prefix, "expected an array of hosts");
	p->hosts = xcalloc(json_array_size(arr) + 1, sizeof *p->hosts);
	json_array_foreach(arr, i, h) {
		struct pool_host *ph = &p->hosts[i];

		snprintf(kp, sizeof kp, "%s.%zu", prefix, i);
		p->nhosts = i + 1;
		ph->port = 22;
		ph->slots = 1;
		if (!json_is_object(h))
			return cfg_error(x, kp, "expected an object");
		if (check_keys(x, h, kp, keys) != 0)
			return -1;
		if (json_object_get(h, "host") == NULL)
			return cfg_error(x, kp, "missing key \"host\"");
		if (get_string(x, h, kp, "host", &ph->host) != 0 ||
		    get_string(x, h, kp, "user", &ph->user) != 0 ||
		    get_string(x, h, kp, "identity_file", &ph->identity_file) != 0)
			return -1;
		d = ph->port;
		if (get_number(x, h, kp, "port", 1, true, &d) != 0)
			return -1;
		if (d > 65535) {
			snprintf(kp, sizeof kp, "%s.%zu.port", prefix, i);
			return cfg_error(x, kp, "expected a port number up to 65535");
		}
		ph->port = (int)d;
		d = ph->slots;
		if (get_number(x, h, kp, "slots", 1, true, &d) != 0)
			return -1;
		ph->slots = (int)d;
	}
	return 0;
}

/* Reads the optional array of strings obj[key] into *out. */
static int
get_string_array(struct cfg_ctx *x, json_t *obj, const char *prefix, const char *key,
    char ***out, size_t *n)
{
	json_t *v = json_object_get(obj, key), *a;
	char kp[160];
	size_t i;

	if (v == NULL)
		return 0;
	snprintf(kp, sizeof kp, "%s.%s", prefix, key);
	if (!json_is_array(v))
		return cfg_error(x, kp, "expected an array of strings");
	*out = xcalloc(json_array_size(v) + 1, sizeof **out);
	json_array_foreach(v, i, a) {
		if (!json_is_string(a) || json_string_length(a) == 0 ||
		    strlen(json_string_value(a)) != json_string_length(a)) {
			snprintf(kp, sizeof kp, "%s.%s.%zu", prefix, key, i);
			return cfg_error(x, kp, "expected a non-empty string");
		}
		(*out)[(*n)++] = xstrdup(json_string_value(a));
	}
	return 0;
}

/* An optional boolean obj[key]: 1 or 0, -1 when absent. */
static int
get_bool(struct cfg_ctx *x, json_t *obj, const char *prefix, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);
	char kp[160];

	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(kp, sizeof kp, "%s.%s", prefix, key);
		return cfg_error(x, kp, "expected true or false");
	}
	*out = json_is_true(v);
	return 0;
}

/* The Slurm pool's job settings (server-slurm.c), with their defaults. */
static int
parse_slurm_numbers(struct cfg_ctx *x, json_t *o, const char *prefix, struct pool *p)
{
	char kp[160];
	int once;

	p->signal_grace_s = 60;
	p->idle_exit_s = 30;
	p->poll_interval_s = 2;
	if (get_bool(x, o, prefix, "requeue", &p->requeue) != 0 ||
	    get_bool(x, o, prefix, "once", &once) != 0 ||
	    get_number(x, o, prefix, "signal_grace_s", 1, true, &p->signal_grace_s) != 0 ||
	    get_number(x, o, prefix, "idle_exit_s", 1, false, &p->idle_exit_s) != 0 ||
	    get_number(x, o, prefix, "poll_interval_s", 0.2, false, &p->poll_interval_s) != 0)
		return -1;
	if (p->signal_grace_s > 65535) {
		snprintf(kp, sizeof kp, "%s.signal_grace_s", prefix);
		return cfg_error(x, kp, "expected at most 65535 (Slurm's limit)");
	}
	p->once = once != 0;
	return 0;
}

static int
parse_pool(struct cfg_ctx *x, json_t *o, size_t idx, struct config *c)
{
	static const char *const keys[] = { "name", "class", "price_per_hour",
	    "gpus_per_worker", "dispatch", "hosts", "agent_path", "scale_command", "server_url",
	    "partition", "account", "qos", "gres", "max_jobs", "sbatch_args", "ssh_options",
	    "price_command", "price_interval_s", "max_workers",
	    "agent_args", "time_limit", "requeue", "signal_grace_s", "once", "idle_exit_s",
	    "poll_interval_s", NULL };
	struct pool *p = &c->pools[idx];
	char prefix[64], kp[128], *s = NULL;
	json_t *v;
	double d;
	size_t i, j;

	snprintf(prefix, sizeof prefix, "pools.%zu", idx);
	p->gpus_per_worker = 1;
	p->max_jobs = 0;
	if (!json_is_object(o))
		return cfg_error(x, prefix, "expected an object");
	if (check_keys(x, o, prefix, keys) != 0)
		return -1;
	if (json_object_get(o, "name") == NULL)
		return cfg_error(x, prefix, "missing key \"name\"");
	if (get_string(x, o, prefix, "name", &p->name) != 0)
		return -1;
	for (i = 0; i < idx; i++) {
		if (strcmp(c->pools[i].name, p->name) == 0) {
			snprintf(kp, sizeof kp, "%s.name", prefix);
			return cfg_error(x, kp, "duplicate pool name \"%s\"", p->name);
		}
	}
	if (get_string(x, o, prefix, "class", &s) != 0)
		return -1;
	if (s == NULL) {
		snprintf(kp, sizeof kp, "%s", prefix);
		return cfg_error(x, kp, "missing key \"class\" (spot or on-demand)");
	}
	for (i = 0; i < POOL_CLASS_MAX && strcmp(s, class_names[i]) != 0; i++)
		;
	free(s);
	s = NULL;
	if (i == POOL_CLASS_MAX) {
		snprintf(kp, sizeof kp, "%s.class", prefix);
		return cfg_error(x, kp, "expected \"spot\" or \"on-demand\"");
	}
	p->cls = (enum pool_class)i;
	d = 0;
	if (get_number(x, o, prefix, "price_per_hour", 0, false, &d) != 0)
		return -1;
	p->price_per_hour = d;
	d = 1;
	if (get_number(x, o, prefix, "gpus_per_worker", 1, true, &d) != 0)
		return -1;
	p->gpus_per_worker = (int)d;
	d = 0;
	if (get_number(x, o, prefix, "max_jobs", 1, true, &d) != 0)
		return -1;
	p->max_jobs = (long)d;
	d = 0;
	if (get_number(x, o, prefix, "max_workers", 1, true, &d) != 0)
		return -1;
	p->max_workers = (long)d;
	d = 300;
	if (get_number(x, o, prefix, "price_interval_s", 1, false, &d) != 0)
		return -1;
	p->price_interval_s = d;
	if (get_string(x, o, prefix, "dispatch", &s) != 0)
		return -1;
	p->dispatch = DISPATCH_HTTP;
	if (s != NULL) {
		for (i = 0; i < DISPATCH_MAX && strcmp(s, dispatch_names[i]) != 0; i++)
			;
		free(s);
		if (i == DISPATCH_MAX) {
			snprintf(kp, sizeof kp, "%s.dispatch", prefix);
			return cfg_error(x, kp, "expected \"http\", \"ssh\" or \"slurm\"");
		}
		p->dispatch = (enum pool_dispatch)i;
	}
	if (get_string(x, o, prefix, "agent_path", &p->agent_path) != 0 ||
	    get_string(x, o, prefix, "scale_command", &p->scale_command) != 0 ||
	    get_string(x, o, prefix, "price_command", &p->price_command) != 0 ||
	    get_string(x, o, prefix, "server_url", &p->server_url) != 0 ||
	    get_string(x, o, prefix, "partition", &p->partition) != 0 ||
	    get_string(x, o, prefix, "account", &p->account) != 0 ||
	    get_string(x, o, prefix, "qos", &p->qos) != 0 ||
	    get_string(x, o, prefix, "gres", &p->gres) != 0 ||
	    get_string(x, o, prefix, "time_limit", &p->time_limit) != 0)
		return -1;
	if (parse_slurm_numbers(x, o, prefix, p) != 0)
		return -1;
	if ((v = json_object_get(o, "hosts")) != NULL) {
		snprintf(kp, sizeof kp, "%s.hosts", prefix);
		if (parse_hosts(x, v, kp, p) != 0)
			return -1;
	}
	if (p->dispatch == DISPATCH_SSH && p->nhosts == 0) {
		snprintf(kp, sizeof kp, "%s.hosts", prefix);
		return cfg_error(x, json_object_get(o, "hosts") ? kp : prefix,
		    "an ssh pool needs at least one host");
	}
	if ((v = json_object_get(o, "sbatch_args")) != NULL) {
		snprintf(kp, sizeof kp, "%s.sbatch_args", prefix);
		if (!json_is_array(v))
			return cfg_error(x, kp, "expected an array of strings");
		p->sbatch_args = xcalloc(json_array_size(v) + 1, sizeof *p->sbatch_args);
		for (j = 0; j < json_array_size(v); j++) {
			json_t *a = json_array_get(v, j);

			if (!json_is_string(a)) {
				snprintf(kp, sizeof kp, "%s.sbatch_args.%zu", prefix, j);
				return cfg_error(x, kp, "expected a string");
			}
			p->sbatch_args[p->nsbatch_args++] = xstrdup(json_string_value(a));
		}
	}
	if (get_string_array(x, o, prefix, "ssh_options", &p->ssh_options,
	    &p->nssh_options) != 0 ||
	    get_string_array(x, o, prefix, "agent_args", &p->agent_args, &p->nagent_args) != 0)
		return -1;
	if (p->agent_path == NULL)
		p->agent_path = xstrdup("spotsweep-agent");
	return 0;
}

struct config *
config_default(void)
{
	struct config *c = xcalloc(1, sizeof *c);

	c->listen = xstrdup(CONFIG_DEFAULT_LISTEN);
	c->lease_timeout_s = 60;
	c->http_timeout_s = 60;
	return c;
}

int
config_parse(const char *path, const char *text, size_t len, struct config **out,
    char **cause)
{
	static const char *const keys[] = { "listen", "token_file", "lease_timeout_s",
	    "timezone", "pools", "rules", "max_connections", "http_timeout_s", "metrics_public",
	    NULL };
	struct cfg_ctx x = { path, text, len, NULL };
	struct config *c = config_default();
	json_error_t jerr;
	json_t *root, *v;
	char *kp = NULL, *msg = NULL;
	double maxconn = 0;
	size_t i;

	c->path = xstrdup(path);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		*cause = xasprintf("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		config_free(c);
		return -1;
	}
	if (!json_is_object(root)) {
		x.cause = xasprintf("%s:1:1: expected a JSON object", path);
		goto fail;
	}
	if (check_keys(&x, root, "", keys) != 0 ||
	    get_string(&x, root, "", "listen", &c->listen) != 0 ||
	    get_string(&x, root, "", "token_file", &c->token_file) != 0 ||
	    get_string(&x, root, "", "timezone", &c->timezone) != 0 ||
	    get_number(&x, root, "", "lease_timeout_s", 0.1, false, &c->lease_timeout_s) != 0 ||
	    get_number(&x, root, "", "http_timeout_s", 1, false, &c->http_timeout_s) != 0 ||
	    get_number(&x, root, "", "max_connections", 1, true, &maxconn) != 0)
		goto fail;
	if (maxconn > 1000000) {
		cfg_error(&x, "max_connections", "expected at most 1000000");
		goto fail;
	}
	c->max_connections = (long)maxconn;
	if ((v = json_object_get(root, "metrics_public")) != NULL) {
		if (!json_is_boolean(v)) {
			cfg_error(&x, "metrics_public", "expected true or false");
			goto fail;
		}
		c->metrics_public = json_is_true(v);
	}
	if (c->timezone != NULL && tz_load(c->timezone, &c->tz, &msg) != 0) {
		cfg_error(&x, "timezone", "%s", msg);
		free(msg);
		goto fail;
	}
	if ((v = json_object_get(root, "rules")) != NULL &&
	    rules_parse(v, &c->rules, &c->nrules, &kp, &msg) != 0) {
		cfg_error(&x, kp, "%s", msg);
		free(kp);
		free(msg);
		goto fail;
	}
	if ((v = json_object_get(root, "pools")) != NULL) {
		if (!json_is_array(v)) {
			cfg_error(&x, "pools", "expected an array of pools");
			goto fail;
		}
		c->pools = xcalloc(json_array_size(v) + 1, sizeof *c->pools);
		for (i = 0; i < json_array_size(v); i++) {
			c->npools = i + 1;
			if (parse_pool(&x, json_array_get(v, i), i, c) != 0)
				goto fail;
		}
	}
	json_decref(root);
	*out = c;
	return 0;
fail:
	json_decref(root);
	config_free(c);
	*cause = x.cause;
	return -1;
}

int
config_load(const char *path, struct config **out, char **cause)
{
	char *text;
	size_t len;
	int rc;

	if (read_file(path, CONFIG_MAX_FILE_BYTES, &text, &len, cause) != 0)
		return -1;
	rc = config_parse(path, text, len, out, cause);
	free(text);
	return rc;
}

void
config_free(struct config *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->npools; i++) {
		struct pool *p = &c->pools[i];

		for (j = 0; j < p->nhosts; j++) {
			free(p->hosts[j].host);
			free(p->hosts[j].user);
			free(p->hosts[j].identity_file);
		}
		free(p->hosts);
		for (j = 0; j < p->nsbatch_args; j++)
			free(p->sbatch_args[j]);
		free(p->sbatch_args);
		for (j = 0; j < p->nssh_options; j++)
			free(p->ssh_options[j]);
		free(p->ssh_options);
		for (j = 0; j < p->nagent_args; j++)
			free(p->agent_args[j]);
		free(p->agent_args);
		free(p->name);
		free(p->agent_path);
		free(p->scale_command);
		free(p->price_command);
		free(p->server_url);
		free(p->partition);
		free(p->account);
		free(p->qos);
		free(p->gres);
		free(p->time_limit);
	}
	free(c->pools);
	free(c->timezone);
	tz_free(c->tz);
	rules_free(c->rules, c->nrules);
	free(c->token_file);
	free(c->listen);
	free(c->path);
	free(c);
}

const struct pool *
config_pool(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->npools; i++) {
		if (strcmp(c->pools[i].name, name) == 0)
			return &c->pools[i];
	}
	return NULL;
}

int
token_file_read(const char *path, char **token, char **cause)
{
	struct stat sb;
	char *text;
	size_t len;

	if (stat(path, &sb) != 0) {
		*cause = xasprintf("token file %s: %s", path,
		    errno == ENOENT ? "no such file" : strerror(errno));
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		*cause = xasprintf("token file %s is readable by group or others (mode %03o); "
		    "run chmod 600 %s", path, (unsigned)(sb.st_mode & 0777), path);
		return -1;
	}
	if (read_file(path, 64 * 1024, &text, &len, cause) != 0)
		return -1;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
	    text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = '\0';
	if (len == 0) {
		*cause = xasprintf("token file %s is empty", path);
		free(text);
		return -1;
	}
	*token = text;
	return 0;
}
