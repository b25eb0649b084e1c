/* SPDX-License-Identifier: Apache-2.0 */
/* Serving the built-in web interface: GET or HEAD of / (index.html) and of
 * /ui/NAME for every embedded file, with its content type and the UI's
 * Content-Security-Policy. No login is needed for these: the files hold no
 * data, the interface asks the API for everything. */
#include <string.h>

#include "dashboard/assets.h"
#include "dashboard/internal.h"

const dash_asset *dash_asset_find(const char *path, size_t len)
{
    static const char index_path[] = "/ui/index.html";
    if ((len == 1 && path[0] == '/') || (len == 11 && !memcmp(path, "/index.html", 11))) {
        path = index_path;
        len = sizeof index_path - 1;
    }
    for (size_t i = 0; i < dash_assets_count; i++) {
        const dash_asset *a = &dash_assets[i];
        if (strlen(a->path) == len && !memcmp(a->path, path, len))
            return a;
    }
    return NULL;
}

void assets_handle(const http_req *rq, http_resp *rs)
{
    const dash_asset *a = dash_asset_find(rq->h->path.p, rq->h->path.len);
    if (!a) {
        resp_json_error(rs, 404, "not_found", "no such page");
        return;
    }
    if (!moat_http_str_eq(rq->h->method, "GET") && !moat_http_str_eq(rq->h->method, "HEAD")) {
        resp_header(rs, "Allow: GET, HEAD\r\n");
        resp_json_error(rs, 405, "method_not_allowed", "use GET");
        return;
    }
    rs->status = 200;
    rs->content_type = a->content_type;
    resp_header(rs, "Content-Security-Policy: %s\r\n", DASH_UI_CSP);
    moat_buf_append(&rs->body, a->data, a->len);
}
