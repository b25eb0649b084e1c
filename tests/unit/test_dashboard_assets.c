/* SPDX-License-Identifier: Apache-2.0 */
/* The web interface built into the binary (gen/dashboard_assets.c from
 * cmake/embed_assets.cmake): every file of src/dashboard/ui/ is in the table,
 * byte for byte, under /ui/NAME with the content type its extension calls
 * for; / and /index.html are index.html; the server answers GET and HEAD
 * with the Content-Security-Policy, refuses other methods (405) and unknown
 * or tricky paths (404). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard/assets.h"
#include "dashboard/internal.h"
#include "test.h"

/* src/dashboard/ui, from this file's path (tests/unit/...). */
static char ui_dir[4096];

static void find_ui_dir(void)
{
    snprintf(ui_dir, sizeof ui_dir, "%s", __FILE__);
    char *cut = strstr(ui_dir, "tests/unit/");
    if (cut)
        snprintf(cut, sizeof ui_dir - (size_t)(cut - ui_dir), "src/dashboard/ui");
    else
        snprintf(ui_dir, sizeof ui_dir, "src/dashboard/ui");
}

static const char *expected_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return NULL;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *p = realloc(data, cap);
            if (!p)
                break;
            data = p;
        }
        got = fread(data + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return data;
}

static void test_table_shape(void)
{
    CHECK(dash_assets_count >= 3);
    for (size_t i = 0; i < dash_assets_count; i++) {
        const dash_asset *a = &dash_assets[i];
        CHECK(!strncmp(a->path, "/ui/", 4) && a->path[4] && !strchr(a->path + 4, '/'));
        const char *want = expected_type(a->path);
        CHECK(want && !strcmp(a->content_type, want));
        if (i)
            CHECK(strcmp(dash_assets[i - 1].path, a->path) < 0); /* sorted, no twice */
        CHECK(dash_asset_find(a->path, strlen(a->path)) == a);
    }
    CHECK(dash_asset_find("/ui/index.html", 14) != NULL);
    CHECK(dash_asset_find("/ui/app.js", 10) != NULL);
    CHECK(dash_asset_find("/ui/app.css", 11) != NULL);
}

/* Every file on disk is embedded, unchanged; nothing else is. */
static void test_matches_the_directory(void)
{
    DIR *d = opendir(ui_dir);
    CHECK(d != NULL);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", ui_dir);
        return;
    }
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        char path[8192], url[512];
        snprintf(path, sizeof path, "%s/%s", ui_dir, e->d_name);
        snprintf(url, sizeof url, "/ui/%s", e->d_name);
        const dash_asset *a = dash_asset_find(url, strlen(url));
        CHECK(a != NULL);
        size_t len = 0;
        unsigned char *data = read_file(path, &len);
        CHECK(data != NULL);
        if (a && data) {
            CHECK_EQ(a->len, len);
            CHECK(a->len == len && !memcmp(a->data, data, len));
        }
        if (!a)
            fprintf(stderr, "%s is not embedded (re-run cmake?)\n", e->d_name);
        free(data);
    }
    closedir(d);
    CHECK_EQ(files, dash_assets_count);
}

static void test_find(void)
{
    const dash_asset *index = dash_asset_find("/ui/index.html", 14);
    CHECK(dash_asset_find("/", 1) == index);
    CHECK(dash_asset_find("/index.html", 11) == index);
    static const char *const missing[] = {"",
                                          "/ui",
                                          "/ui/",
                                          "/ui/x",
                                          "/ui/../app.js",
                                          "/ui/./app.js",
                                          "/UI/app.js",
                                          "//ui/app.js",
                                          "/ui/app.js/",
                                          "/ui//app.js",
                                          "/app.js",
                                          "/api/v1/stats"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        CHECK(dash_asset_find(missing[i], strlen(missing[i])) == NULL);
    /* a prefix or an extension of a path is not the path */
    CHECK(dash_asset_find("/ui/app.j", 9) == NULL);
    CHECK(dash_asset_find("/ui/app.jsx", 11) == NULL);
}

/* One request through assets_handle(). */
static int serve(const char *head, http_resp *rs)
{
    moat_http_request req;
    int st = 0;
    memset(rs, 0, sizeof *rs);
    if (moat_http_parse_request((const uint8_t *)head, strlen(head), 65536, &req, &st, NULL)) {
        CHECK(!"request did not parse");
        return -1;
    }
    http_req rq = {.h = &req, .peer = "127.0.0.1:1"};
    assets_handle(&rq, rs);
    return rs->status;
}

static void test_serve(void)
{
    http_resp rs;
    for (size_t i = 0; i < dash_assets_count; i++) {
        char head[256];
        snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", dash_assets[i].path);
        CHECK_EQ(serve(head, &rs), 200);
        CHECK(rs.content_type && !strcmp(rs.content_type, dash_assets[i].content_type));
        CHECK_EQ(moat_buf_avail(&rs.body), dash_assets[i].len);
        CHECK(!memcmp(moat_buf_head(&rs.body), dash_assets[i].data, dash_assets[i].len));
        CHECK(strstr(rs.headers, "Content-Security-Policy: " DASH_UI_CSP "\r\n") != NULL);
        moat_buf_free(&rs.body);
    }

    CHECK_EQ(serve("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 200);
    CHECK(!strcmp(rs.content_type, "text/html; charset=utf-8"));
    moat_buf_free(&rs.body);
    CHECK_EQ(serve("GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", &rs),
             200); /* the query is not the path */
    moat_buf_free(&rs.body);
    CHECK_EQ(serve("HEAD /ui/app.css HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 200);
    moat_buf_free(&rs.body);

    CHECK_EQ(serve("POST /ui/app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &rs), 405);
    CHECK(strstr(rs.headers, "Allow: GET, HEAD\r\n") != NULL);
    CHECK(strstr(rs.headers, "Content-Security-Policy") == NULL);
    moat_buf_free(&rs.body);
    CHECK_EQ(serve("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 405);
    moat_buf_free(&rs.body);

    CHECK_EQ(serve("GET /ui/nope.js HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 404);
    CHECK(!strcmp(rs.content_type, "application/json"));
    moat_buf_free(&rs.body);
    CHECK_EQ(serve("GET /ui/%61pp.js HTTP/1.1\r\nHost: x\r\n\r\n", &rs), 404); /* not decoded */
    moat_buf_free(&rs.body);
}

/* The policy allows nothing inline and nothing from elsewhere. */
static void test_csp(void)
{
    const char *csp = DASH_UI_CSP;
    CHECK(strstr(csp, "default-src 'none'") != NULL);
    CHECK(strstr(csp, "script-src 'self'") != NULL);
    CHECK(strstr(csp, "frame-ancestors 'none'") != NULL);
    CHECK(strstr(csp, "unsafe") == NULL);
    CHECK(strstr(csp, "http") == NULL && strstr(csp, "*") == NULL && strstr(csp, "data:") == NULL);
}

int main(void)
{
    find_ui_dir();
    TEST(test_table_shape);
    TEST(test_matches_the_directory);
    TEST(test_find);
    TEST(test_serve);
    TEST(test_csp);
    return test_summary("dashboard_assets");
}
