/* libFuzzer target: the sweep spec parser and validator (spec.c, spec-yaml.c, spec-params.c,
 * spec-locate.c) on JSON and YAML, then the expansion of what it accepts. The first input
 * byte picks the format (by the file name, as `submit` does); the rest is the file. Besides
 * memory safety it checks the contract of the messages: a refused spec gives one line that
 * starts with the file name, without control characters; an accepted one expands, each trial
 * a JSON object. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "spotsweep/expand.h"
#include "spotsweep/spec.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Trials drawn from an accepted spec: enough to walk every parameter. */
#define FUZZ_TRIALS 32

static void
check_message(const char *path, const char *cause)
{
	const unsigned char *p;

	if (cause == NULL || strncmp(cause, path, strlen(path)) != 0 ||
	    cause[strlen(path)] != ':') {
		fprintf(stderr, "message without FILE: prefix: %s\n", cause ? cause : "(null)");
		abort();
	}
	for (p = (const unsigned char *)cause; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "control character 0x%02x in message: %s\n", *p, cause);
			abort();
		}
	}
}

static void
expand_some(const struct spec *s)
{
	struct expander *e;
	struct buf b = { 0 };
	json_error_t err;
	json_t *o;
	uint64_t n;
	char *cause = NULL;
	int i;

	(void)spec_grid_size(s, &n);
	free(spec_param_names_json(s));
	free(spec_metric_names_json(s));
	if ((e = expander_create(s, &cause)) == NULL) {
		free(cause);
		return;
	}
	for (i = 0; i < FUZZ_TRIALS && expander_next(e, &b); i++) {
		if ((o = json_loadb(b.data, b.len, 0, &err)) == NULL || !json_is_object(o)) {
			fprintf(stderr, "trial is not a JSON object: %.*s\n", (int)b.len, b.data);
			abort();
		}
		json_decref(o);
	}
	expander_free(e);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	struct spec *s = NULL;
	char *text, *cause = NULL;

	if (size < 1)
		return 0;
	path = (data[0] & 1) ? "fuzz.yaml" : "fuzz.json";
	/* The text as read_file() hands it over: NUL-terminated, exactly size bytes. */
	text = xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (spec_parse(path, text, size - 1, &s, &cause) == 0) {
		if (cause != NULL)
			abort();
		expand_some(s);
		spec_free(s);
	} else {
		check_message(path, cause);
		free(cause);
	}
	free(text);
	return 0;
}
