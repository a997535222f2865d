/* The dashboard's files (src/dashboard/), embedded at build time by tools/embed-assets.sh
 * into build/gen/dashboard-assets.c, so `serve` needs nothing on disk and nothing from the
 * network to show it. */
#ifndef SPOTSWEEP_DASHBOARD_ASSETS_H
#define SPOTSWEEP_DASHBOARD_ASSETS_H

#include <stddef.h>

struct dash_asset {
	const char		*path;		/* "/" for index.html, else "/NAME" */
	const char		*content_type;
	const unsigned char	*data;		/* NUL-terminated */
	size_t			 len;		/* without the NUL */
	const char		*etag;		/* quoted, as sent */
};

extern const struct dash_asset dash_assets[];
extern const size_t dash_nassets;

#endif
