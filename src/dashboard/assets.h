/* SPDX-License-Identifier: Apache-2.0 */
/* The dashboard's web interface, built into the binary: every file of
 * src/dashboard/ui/ as a byte array (gen/dashboard_assets.c, written at build
 * time by cmake/embed_assets.cmake), served at /ui/NAME, and index.html at /
 * too. */
#ifndef MOAT_DASHBOARD_ASSETS_H
#define MOAT_DASHBOARD_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dash_asset {
    const char *path;         /* "/ui/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} dash_asset;

/* The generated table, sorted by path. */
extern const dash_asset dash_assets[];
extern const size_t dash_assets_count;

struct http_req;
struct http_resp;

/* Answer a request for a path outside the API: the asset, or 404. */
void assets_handle(const struct http_req *rq, struct http_resp *rs);

/* The asset at a request path ("/" is /ui/index.html), or NULL. */
const dash_asset *dash_asset_find(const char *path, size_t len);

/* The Content-Security-Policy the interface is served with: scripts, styles,
 * images and API calls from the dashboard itself only; no inline script or
 * style, no plugins, no framing, forms post only here. */
#define DASH_UI_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

#endif
