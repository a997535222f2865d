/* A fast parser for the common shape of request bodies, with jansson as the authority:
 * json_parse_fast returns the value jansson's json_loadb(JSON_REJECT_DUPLICATES) would, or
 * NULL when the input is outside its subset or not valid, in which case the caller parses
 * it with jansson (for the value, or for jansson's error message). */
#ifndef SPOTSWEEP_JSON_FAST_H
#define SPOTSWEEP_JSON_FAST_H

#include <stddef.h>

#include <jansson.h>

/* Deeper bodies go to jansson. */
#define JSON_FAST_MAX_DEPTH	32

/* A top-level object only. */
json_t *json_parse_fast(const char *data, size_t len);

#endif
