/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the HTTP request-head and response-head parsers. Input: two bytes
 * choosing max_head (little-endian, 0 meaning 65536), then the bytes a
 * client (or, for the response parser, a server) sent. Both parsers read
 * every input.
 *
 * Beyond "no crash", each answer is checked:
 *  - OK: the head fits in the input and in max_head and ends with LF; every
 *    slice lies inside the head; method and header names are tokens, values
 *    are trimmed and free of CR, LF and other controls; path and query
 *    split the target; framing fields agree with each other; lookups find
 *    every header;
 *  - ENEEDMORE only below max_head; refusals carry a status matching the
 *    error and a reason;
 *  - splits: a prefix of the input is incomplete or gets the same answer
 *    (a complete head is the same head, a refusal the same status), every
 *    proper prefix of a head is incomplete, and the input copied to a
 *    buffer of its exact size parses the same (ASan sees overreads);
 *  - responses: the same properties for the status line, headers and
 *    framing, and for prefixes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* s lies inside [lo, hi). */
static bool inside(moat_http_str s, const uint8_t *lo, const uint8_t *hi)
{
    const uint8_t *p = (const uint8_t *)s.p;
    return p != NULL && p >= lo && p <= hi && s.len <= (size_t)(hi - p);
}

static bool same(moat_http_str a, moat_http_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

typedef struct answer {
    moat_err e;
    int status;
    const char *why;
    moat_http_request req;
} answer;

static void parse(const uint8_t *d, size_t n, size_t max_head, answer *a)
{
    a->status = -1;
    a->why = NULL;
    a->e = moat_http_parse_request(d, n, max_head, &a->req, &a->status, &a->why);
    FUZZ_CHECK(a->why != NULL);
    switch (a->e) {
    case MOAT_OK:
    case MOAT_ENEEDMORE:
        FUZZ_CHECK(a->status == 0 && a->why[0] == '\0');
        if (a->e == MOAT_ENEEDMORE)
            FUZZ_CHECK(n < max_head);
        break;
    case MOAT_ETOOLARGE:
        FUZZ_CHECK(a->status == 414 || a->status == 431);
        FUZZ_CHECK(a->why[0] != '\0');
        break;
    case MOAT_EMALFORMED:
        FUZZ_CHECK(a->status == 400 || a->status == 501 || a->status == 505);
        FUZZ_CHECK(a->why[0] != '\0');
        break;
    default:
        FUZZ_CHECK(!"unexpected error");
    }
    if (a->e != MOAT_OK && a->e != MOAT_ENEEDMORE)
        FUZZ_CHECK(moat_http_reason(a->status)[0] != '\0');
}

static void check_head(const uint8_t *d, size_t n, size_t max_head, const moat_http_request *r)
{
    FUZZ_CHECK(r->head_len > 0 && r->head_len <= n && r->head_len <= max_head);
    FUZZ_CHECK(d[r->head_len - 1] == '\n');
    const uint8_t *end = d + r->head_len;
    FUZZ_CHECK(r->n_headers <= MOAT_HTTP_MAX_HEADERS);
    FUZZ_CHECK(r->version_minor <= 1);
    FUZZ_CHECK(r->content_length >= -1);
    FUZZ_CHECK(!(r->chunked && r->content_length >= 0));

    FUZZ_CHECK(inside(r->method, d, end) && r->method.len > 0);
    for (size_t i = 0; i < r->method.len; i++)
        FUZZ_CHECK(is_tchar((uint8_t)r->method.p[i]));
    FUZZ_CHECK(inside(r->target, d, end) && r->target.len > 0);
    FUZZ_CHECK(r->target.len <= MOAT_HTTP_MAX_TARGET);
    FUZZ_CHECK(r->target.p == r->method.p + r->method.len + 1);
    for (size_t i = 0; i < r->target.len; i++) {
        uint8_t c = (uint8_t)r->target.p[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7F && c != '#');
    }
    FUZZ_CHECK(inside(r->path, d, end) && inside(r->query, d, end));
    FUZZ_CHECK(r->path.p == r->target.p && memchr(r->path.p, '?', r->path.len) == NULL);
    if (r->path.len == r->target.len)
        FUZZ_CHECK(r->query.len == 0);
    else
        FUZZ_CHECK(r->query.p == r->path.p + r->path.len + 1 &&
                   r->path.len + 1 + r->query.len == r->target.len);

    for (uint32_t i = 0; i < r->n_headers; i++) {
        const moat_http_field *h = &r->headers[i];
        FUZZ_CHECK(inside(h->name, d, end) && inside(h->value, d, end));
        FUZZ_CHECK(h->name.len > 0 && h->name.p > r->target.p);
        if (i > 0)
            FUZZ_CHECK(h->name.p > r->headers[i - 1].value.p);
        for (size_t k = 0; k < h->name.len; k++)
            FUZZ_CHECK(is_tchar((uint8_t)h->name.p[k]));
        FUZZ_CHECK(h->name.p[h->name.len] == ':');
        if (h->value.len > 0) {
            char first = h->value.p[0], last = h->value.p[h->value.len - 1];
            FUZZ_CHECK(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
        for (size_t k = 0; k < h->value.len; k++) {
            uint8_t c = (uint8_t)h->value.p[k];
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7F));
        }
        /* The lookup finds this header or an earlier one of the same name. */
        char name[256];
        if (h->name.len < sizeof name) {
            memcpy(name, h->name.p, h->name.len);
            name[h->name.len] = '\0';
            const moat_http_str *v = moat_http_header(r, name);
            FUZZ_CHECK(v != NULL && v <= &h->value);
            FUZZ_CHECK(moat_http_str_eq(h->name, name));
        }
        /* Whatever list a value holds, the token test must not misbehave. */
        if (h->value.len > 0 && h->value.len < sizeof name) {
            memcpy(name, h->value.p, h->value.len);
            name[h->value.len] = '\0';
            (void)moat_http_header_has_token(r, "connection", name);
        }
    }
    if (r->content_length >= 0)
        FUZZ_CHECK(moat_http_header(r, "content-length") != NULL);
    if (r->chunked)
        FUZZ_CHECK(moat_http_header_has_token(r, "transfer-encoding", "chunked"));
    if (moat_http_header_has_token(r, "connection", "close"))
        FUZZ_CHECK(!r->keep_alive);
    if (r->version_minor == 1)
        FUZZ_CHECK(moat_http_header(r, "host") != NULL);
}

/* Parse the first k bytes and compare with the answer a for all n. */
static void check_prefix(const uint8_t *d, size_t k, size_t max_head, const answer *a)
{
    answer p;
    parse(d, k, max_head, &p);
    if (a->e == MOAT_OK && k < a->req.head_len) {
        FUZZ_CHECK(p.e == MOAT_ENEEDMORE);
        return;
    }
    if (p.e == MOAT_ENEEDMORE) {
        FUZZ_CHECK(a->e != MOAT_OK || k < a->req.head_len);
        return;
    }
    FUZZ_CHECK(p.e == a->e && p.status == a->status);
    if (p.e == MOAT_OK) {
        FUZZ_CHECK(p.req.head_len == a->req.head_len && p.req.n_headers == a->req.n_headers);
        FUZZ_CHECK(same(p.req.method, a->req.method) && same(p.req.target, a->req.target));
        FUZZ_CHECK(p.req.content_length == a->req.content_length &&
                   p.req.chunked == a->req.chunked && p.req.keep_alive == a->req.keep_alive);
    }
}

/* ------------------------------------------------------------ responses */

typedef struct resp_answer {
    moat_err e;
    const char *why;
    moat_http_response r;
} resp_answer;

static void parse_resp(const uint8_t *d, size_t n, size_t max_head, resp_answer *a)
{
    a->why = NULL;
    a->e = moat_http_parse_response(d, n, max_head, &a->r, &a->why);
    FUZZ_CHECK(a->why != NULL);
    switch (a->e) {
    case MOAT_OK:
        FUZZ_CHECK(a->why[0] == '\0');
        break;
    case MOAT_ENEEDMORE:
        FUZZ_CHECK(a->why[0] == '\0' && n < max_head);
        break;
    case MOAT_ETOOLARGE:
    case MOAT_EMALFORMED:
        FUZZ_CHECK(a->why[0] != '\0');
        break;
    default:
        FUZZ_CHECK(!"unexpected error");
    }
}

static void check_resp_head(const uint8_t *d, size_t n, size_t max_head,
                            const moat_http_response *r)
{
    FUZZ_CHECK(r->head_len >= 14 && r->head_len <= n && r->head_len <= max_head);
    FUZZ_CHECK(d[r->head_len - 1] == '\n' && memcmp(d, "HTTP/1.", 7) == 0);
    const uint8_t *end = d + r->head_len;
    FUZZ_CHECK(r->status >= 100 && r->status <= 999 && r->version_minor <= 1);
    FUZZ_CHECK(r->n_headers <= MOAT_HTTP_MAX_HEADERS);
    FUZZ_CHECK(r->content_length >= -1 && !(r->chunked && r->content_length >= 0));
    FUZZ_CHECK(r->reason.len == 0 || inside(r->reason, d, end));
    for (size_t k = 0; k < r->reason.len; k++) {
        uint8_t c = (uint8_t)r->reason.p[k];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7F));
    }
    for (uint32_t i = 0; i < r->n_headers; i++) {
        const moat_http_field *h = &r->headers[i];
        FUZZ_CHECK(inside(h->name, d, end) && inside(h->value, d, end) && h->name.len > 0);
        for (size_t k = 0; k < h->name.len; k++)
            FUZZ_CHECK(is_tchar((uint8_t)h->name.p[k]));
        FUZZ_CHECK(h->name.p[h->name.len] == ':');
        for (size_t k = 0; k < h->value.len; k++) {
            uint8_t c = (uint8_t)h->value.p[k];
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7F));
        }
        char name[256];
        if (h->name.len < sizeof name) {
            memcpy(name, h->name.p, h->name.len);
            name[h->name.len] = '\0';
            const moat_http_str *v = moat_http_response_header(r, name);
            FUZZ_CHECK(v != NULL && v <= &h->value);
        }
    }
    if (r->content_length >= 0)
        FUZZ_CHECK(moat_http_response_header(r, "content-length") != NULL);
    if (r->chunked)
        FUZZ_CHECK(moat_http_response_has_token(r, "transfer-encoding", "chunked"));
    if (moat_http_response_has_token(r, "connection", "close"))
        FUZZ_CHECK(!r->keep_alive);
}

static void check_resp_prefix(const uint8_t *d, size_t k, size_t max_head, const resp_answer *a)
{
    resp_answer p;
    parse_resp(d, k, max_head, &p);
    if (a->e == MOAT_OK && k < a->r.head_len) {
        FUZZ_CHECK(p.e == MOAT_ENEEDMORE);
        return;
    }
    if (p.e == MOAT_ENEEDMORE)
        return;
    FUZZ_CHECK(p.e == a->e && strcmp(p.why, a->why) == 0);
    if (p.e == MOAT_OK)
        FUZZ_CHECK(p.r.head_len == a->r.head_len && p.r.status == a->r.status &&
                   p.r.n_headers == a->r.n_headers && p.r.chunked == a->r.chunked &&
                   p.r.content_length == a->r.content_length);
}

static void fuzz_response(const uint8_t *d, size_t size, size_t max_head)
{
    resp_answer a;
    parse_resp(d, size, max_head, &a);
    if (a.e == MOAT_OK)
        check_resp_head(d, size, max_head, &a.r);
    if (size > 0) {
        check_resp_prefix(d, size - 1, max_head, &a);
        check_resp_prefix(d, size / 2, max_head, &a);
    }
    if (a.e == MOAT_OK) {
        check_resp_prefix(d, a.r.head_len - 1, max_head, &a);
        check_resp_prefix(d, a.r.head_len, max_head, &a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_head = (size_t)data[0] | (size_t)data[1] << 8;
    if (max_head == 0)
        max_head = 65536;
    data += 2;
    size -= 2;

    /* An exact-size copy, so reading one byte too far is caught. */
    uint8_t *d = calloc(1, size ? size : 1);
    FUZZ_CHECK(d != NULL);
    if (size)
        memcpy(d, data, size);

    answer a;
    parse(d, size, max_head, &a);
    if (a.e == MOAT_OK)
        check_head(d, size, max_head, &a.req);

    /* A few prefixes: the last byte gone, half, around the end of the head. */
    if (size > 0) {
        check_prefix(d, size - 1, max_head, &a);
        check_prefix(d, size / 2, max_head, &a);
        check_prefix(d, 0, max_head, &a);
    }
    if (a.e == MOAT_OK) {
        check_prefix(d, a.req.head_len - 1, max_head, &a);
        check_prefix(d, a.req.head_len, max_head, &a);
    }
    /* Another head limit: a larger one never turns an answer into a
     * different refusal unless the smaller one cut the head short. */
    answer b;
    parse(d, size, max_head + 1024, &b);
    if (a.e == MOAT_OK)
        FUZZ_CHECK(b.e == MOAT_OK && b.req.head_len == a.req.head_len);
    else if (a.e != MOAT_ENEEDMORE && !(a.status == 431))
        FUZZ_CHECK(b.e == a.e && b.status == a.status);
    fuzz_response(d, size, max_head);
    free(d);
    return 0;
}
