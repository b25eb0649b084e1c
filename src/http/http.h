/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 request heads, parsed as a pure function over a buffer (RFC 9112).
 * Used by the WebSocket upgrade of ws/wss listeners and by the dashboard's
 * HTTP server. No I/O, no allocation: the parsed request points into the
 * caller's buffer and is valid while that buffer is. */
#ifndef MOAT_HTTP_H
#define MOAT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MOAT_HTTP_MAX_HEADERS 64

/* A byte range inside the caller's buffer; not NUL-terminated. */
typedef struct moat_http_str {
    const char *p;
    size_t len;
} moat_http_str;

/* One header field line. (Not named moat_http_header: that is the lookup
 * function below, and C has one namespace for both.) */
typedef struct moat_http_field {
    moat_http_str name; /* as sent (compare case-insensitively) */
    moat_http_str value; /* leading and trailing blanks removed */
} moat_http_field;

typedef struct moat_http_request {
    moat_http_str method; /* "GET" */
    moat_http_str target; /* request-target as sent: "/mqtt?x=1" */
    moat_http_str path;   /* target up to '?' (or all of it) */
    moat_http_str query;  /* after '?', empty when none */
    uint8_t version_minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    moat_http_field headers[MOAT_HTTP_MAX_HEADERS];
    uint32_t n_headers;
    size_t head_len;        /* bytes of the head, final empty line included */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding ends in "chunked" */
    bool keep_alive;        /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
} moat_http_request;

/* Parse the request head at the start of buf[0..len).
 * MOAT_OK: complete, req filled (req->head_len says where a body starts).
 * MOAT_ENEEDMORE: no complete head yet and len < max_head; read more.
 * MOAT_EMALFORMED / MOAT_ETOOLARGE: refuse; *status is the status code to answer
 *   (400 bad syntax, 431 head larger than max_head or too many headers,
 *   414 target too long, 501 unknown transfer coding, 505 not HTTP/1.x) and
 *   *why a short static text for the log ("header line without a colon").
 * Rules: request line METHOD SP TARGET SP HTTP/1.x CRLF (a bare LF is
 * accepted as line end); header names are tokens, no blank before the
 * colon; obsolete line folding, NUL and other control bytes in values,
 * Content-Length that is not a number or differs between repeats, and
 * Content-Length together with Transfer-Encoding are refused. */
moat_err moat_http_parse_request(const uint8_t *buf, size_t len, size_t max_head,
                                 moat_http_request *req, int *status, const char **why);

/* The first header named name (case-insensitive), or NULL. */
const moat_http_str *moat_http_header(const moat_http_request *req, const char *name);

/* True when some header named name holds token in its comma-separated list,
 * case-insensitively ("Connection: keep-alive, Upgrade" has "upgrade"). */
bool moat_http_header_has_token(const moat_http_request *req, const char *name,
                                const char *token);

/* Case-insensitive comparison of a range with a C string. */
bool moat_http_str_eq(moat_http_str s, const char *lit);

/* Standard reason phrase for a status code ("Bad Request"); "" when unknown. */
const char *moat_http_reason(int status);

#endif
