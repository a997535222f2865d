/* libFuzzer target: the CSV writer (csv.c). The input is a table: rows separated by 0x1e,
 * cells by 0x1f, any other byte is cell content (commas, quotes, CR, LF, NUL included). The
 * cells are written with csv_add_cell, rows ended with CRLF as the export does, then read
 * back with a small RFC 4180 parser: the table must come back byte for byte. Eight bytes of
 * each cell are also read as a double, written with csv_add_double and read back with
 * strtod: the same double (NaN: an empty cell). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotsweep/csv.h"
#include "spotsweep/util.h"
#include "spotsweep/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cell {
	const char	*p;
	size_t		 len;
	size_t		 row;
};

/* Parses RFC 4180 text into cells (content into out, a cell's bytes contiguous). Returns the
 * number of cells, or -1 when the text is not well-formed CSV. */
static long
parse_csv(const char *s, size_t n, struct buf *out, size_t **starts, size_t **lens,
    size_t **rows)
{
	size_t i = 0, ncells = 0, row = 0, start;
	long cap = 16;

	*starts = xcalloc((size_t)cap, sizeof **starts);
	*lens = xcalloc((size_t)cap, sizeof **lens);
	*rows = xcalloc((size_t)cap, sizeof **rows);
	while (i < n) {
		start = out->len;
		if (s[i] == '"') {
			i++;
			for (;;) {
				if (i >= n)
					return -1;
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"') {
						buf_addc(out, '"');
						i += 2;
						continue;
					}
					i++;
					break;
				}
				buf_addc(out, s[i++]);
			}
		} else {
			while (i < n && s[i] != ',' && s[i] != '\r' && s[i] != '\n') {
				if (s[i] == '"')
					return -1;
				buf_addc(out, s[i++]);
			}
		}
		if ((long)ncells == cap) {
			cap *= 2;
			*starts = xreallocarray(*starts, (size_t)cap, sizeof **starts);
			*lens = xreallocarray(*lens, (size_t)cap, sizeof **lens);
			*rows = xreallocarray(*rows, (size_t)cap, sizeof **rows);
		}
		(*starts)[ncells] = start;
		(*lens)[ncells] = out->len - start;
		(*rows)[ncells] = row;
		ncells++;
		if (i < n && s[i] == ',') {
			i++;
			if (i == n)
				return -1;
			continue;
		}
		if (i + 1 < n && s[i] == '\r' && s[i + 1] == '\n') {
			i += 2;
			row++;
			continue;
		}
		if (i < n)
			return -1;	/* a bare CR or LF outside quotes */
	}
	return (long)ncells;
}

static void
check_double(const uint8_t *p, size_t len)
{
	struct buf b = { 0 };
	double d, back;
	char *end;

	if (len < sizeof d)
		return;
	memcpy(&d, p, sizeof d);
	csv_add_double(&b, d);
	if (isnan(d)) {
		if (b.len != 0)
			abort();
		buf_free(&b);
		return;
	}
	if (b.len == 0 || memchr(b.data, ',', b.len) != NULL || memchr(b.data, '"', b.len))
		abort();
	back = strtod(b.data, &end);
	if (*end != '\0' || memcmp(&back, &d, sizeof d) != 0) {
		fprintf(stderr, "%.17g written as %s reads back as %.17g\n", d, b.data, back);
		abort();
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf csv = { 0 }, back = { 0 };
	struct cell *cells;
	size_t ncells = 0, i, start = 0, row = 0, *starts = NULL, *lens = NULL, *rows = NULL;
	bool first = true;
	long got;

	cells = xcalloc(size + 1, sizeof *cells);
	for (i = 0; i <= size; i++) {
		if (i < size && data[i] != 0x1e && data[i] != 0x1f)
			continue;
		cells[ncells].p = (const char *)data + start;
		cells[ncells].len = i - start;
		cells[ncells].row = row;
		check_double(data + start, i - start);
		if (!first)
			buf_addc(&csv, ',');
		first = false;
		csv_add_cell(&csv, cells[ncells].p, cells[ncells].len);
		ncells++;
		if (i == size || data[i] == 0x1e) {
			buf_add(&csv, "\r\n", 2);
			first = true;
			row++;
		}
		start = i + 1;
	}
	got = parse_csv(csv.data, csv.len, &back, &starts, &lens, &rows);
	if (got != (long)ncells) {
		fprintf(stderr, "%zu cells written, %ld read back\n", ncells, got);
		abort();
	}
	for (i = 0; i < ncells; i++) {
		if (lens[i] != cells[i].len || rows[i] != cells[i].row ||
		    (lens[i] > 0 && memcmp(back.data + starts[i], cells[i].p, lens[i]) != 0)) {
			fprintf(stderr, "cell %zu does not round-trip\n", i);
			abort();
		}
	}
	free(starts);
	free(lens);
	free(rows);
	free(cells);
	buf_free(&csv);
	buf_free(&back);
	return 0;
}
