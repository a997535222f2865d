/* CSV output (RFC 4180): quoting of cells and the export of a sweep's trials in the
 * contract's column order. */
#ifndef SPOTSWEEP_CSV_H
#define SPOTSWEEP_CSV_H

#include <stdint.h>
#include <stdio.h>

#include "spotsweep/store.h"
#include "spotsweep/util.h"

/* Appends one cell, quoted when it holds a comma, quote, CR or LF (quotes doubled). */
void csv_add_cell(struct buf *b, const char *s, size_t len);
/* Appends a numeric cell in shortest round-trip form; NaN/absent gives an empty cell. */
void csv_add_double(struct buf *b, double d);

/* Writes the header and one row per trial of the sweep to out. */
int csv_export_sweep(struct store *st, int64_t sweep_id, FILE *out, char **cause);

#endif
