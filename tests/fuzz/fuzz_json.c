/* libFuzzer target: the fast request-body parser (json-fast.c) against jansson. Whatever the
 * fast path accepts, jansson must accept with JSON_REJECT_DUPLICATES and give the same value
 * with the same types; anything else (it gives up) is fine. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "spotsweep/json-fast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Same value and the same jansson type at every level. */
static int
same(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_typeof(a) != json_typeof(b) || !json_equal(a, b))
		return 0;
	if (json_is_object(a)) {
		json_object_foreach((json_t *)a, key, v) {
			if (!same(v, json_object_get(b, key)))
				return 0;
		}
	} else if (json_is_array(a)) {
		json_array_foreach(a, i, v) {
			if (!same(v, json_array_get(b, i)))
				return 0;
		}
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t *fast = json_parse_fast((const char *)data, size), *slow;

	if (fast == NULL)
		return 0;
	slow = json_loadb(size ? (const char *)data : "", size, JSON_REJECT_DUPLICATES, &err);
	if (slow == NULL || !same(fast, slow))
		abort();
	json_decref(fast);
	json_decref(slow);
	return 0;
}
