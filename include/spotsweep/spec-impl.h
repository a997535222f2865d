/* Internals of the spec parser, shared by its files: spec.c (the top level and the error
 * machinery), spec-params.c (parameters and distributions), spec-command.c (the command and
 * its placeholders) and spec-yaml.c (YAML through libyaml). The checks walk a jansson tree,
 * whatever the file's format, and ask a position oracle where a key path is in the text:
 * json_locate() over JSON text, a table built from libyaml's marks for YAML. */
#ifndef SPOTSWEEP_SPEC_IMPL_H
#define SPOTSWEEP_SPEC_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "spotsweep/spec.h"
#include "spotsweep/util.h"

/* Longest user-supplied text quoted in a message, so a megabyte key stays one short line. */
#define SPEC_QUOTE_MAX		64
#define SPEC_PATH_MAX_SHOWN	200
/* Integers beyond 2^53 do not survive the trip through a double. */
#define SPEC_EXACT_INT_LIMIT	9007199254740992.0

/* Positions of the nodes of a YAML document, by key path (spec-yaml.c). */
struct spec_ymap;

/* The parsed document and how to find positions in its text. */
struct spec_doc {
	enum spec_format	 format;
	const char		*text;
	size_t			 len;
	struct spec_ymap	*ymap;		/* YAML only */
};

/* Where an error points: the value at the path, the key ending the path, or (for a missing
 * key) the object that should hold it. */
enum spec_at { AT_VALUE, AT_KEY, AT_PARENT };

/* One parse: the document, the spec being filled, and the key path being checked. */
struct pctx {
	const char		*file;
	const struct spec_doc	*doc;
	char			**cause;
	struct spec		*s;
	struct buf		 path;		/* key path of the object being checked */
	char			*bad_placeholder;
};

/* Formats the one error of this parse into *c->cause: the position of path.key (or of the
 * key, or of path itself), the key path and the message. Returns -1 for the caller to return. */
int spec_fail(struct pctx *c, const char *key, enum spec_at at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Pushes a key onto the path; returns the mark to pop back to. */
size_t spec_path_push(struct pctx *c, const char *key);
void spec_path_pop(struct pctx *c, size_t mark);

/* The known name closest to word, when it is close enough to be a likely typo, else NULL. */
const char *spec_nearest(const char *word, const char *const *names);
/* " (did you mean "x"?)" or " (expected one of: a, b, c)" for an unknown word. Caller frees. */
char *spec_hint(const char *word, const char *const *names);
bool spec_is_known(const char *key, const char *const *names);
/* Rejects any key of obj that is not in known, pointing at the key itself. */
int spec_check_keys(struct pctx *c, json_t *obj, const char *const *known);
bool spec_has_control(const char *s);
/* Copies s with control characters and invalid UTF-8 escaped as \xNN. Caller frees. */
char *spec_sanitize(const char *s);
/* Length of the valid UTF-8 sequence at p (n bytes available), or 0. */
size_t spec_utf8_len(const unsigned char *p, size_t n);

/* Getters: 1 when present and valid, 0 when absent, -1 (with *cause) when invalid. */
int spec_get_string(struct pctx *c, json_t *obj, const char *key, bool nonempty,
    const char **out);
int spec_get_long(struct pctx *c, json_t *obj, const char *key, long min, long max, long *out);
/* A number; integer: must be a JSON integer within +-2^53. */
int spec_get_number(struct pctx *c, json_t *obj, const char *key, bool integer, double *out);
int spec_get_object(struct pctx *c, json_t *obj, const char *key, json_t **out);

/* spec-params.c: "parameters", nested blocks flattened in spec order into c->s->params. */
int spec_parse_parameters(struct pctx *c, json_t *root);
/* The grid checks: every continuous range has "num", the grid is not too large. */
int spec_check_grid(struct pctx *c);

/* spec-command.c: "command" (a string, or W&B's list) and "program" into c->s->command. */
int spec_parse_command(struct pctx *c, json_t *root);

/* spec-yaml.c: parses YAML text into a jansson tree, resolving plain scalars as PyYAML does
 * (YAML 1.1: yes/no/on/off are booleans), with numbers such as 1e-5 read as numbers, and
 * records where each node is. NULL with *cause "FILE:LINE:COL: key.path: what" on a syntax
 * error, a duplicate key, a tag it cannot represent or a second document. */
json_t *spec_yaml_load(const char *file, const char *text, size_t len, struct spec_ymap **map,
    char **cause);
/* The 1-based line and byte column of the value at path (or of the key ending it). */
bool spec_ymap_locate(const struct spec_ymap *m, const char *path, bool key, int *line,
    int *column);
void spec_ymap_free(struct spec_ymap *m);

#endif
