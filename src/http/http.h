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
#define MOAT_HTTP_MAX_TARGET 8192 /* longer request-targets are refused with 414 */

/* A byte range inside the caller's buffer; not NUL-terminated. */
typedef struct moat_http_str {
    const char *p;
    size_t len;
} moat_http_str;

/* One header line. The type is moat_http_field (or struct moat_http_header):
 * a typedef named moat_http_header would clash with the lookup function
 * moat_http_header() below, as both live in C's ordinary-identifier space. */
typedef struct moat_http_header {
    moat_http_str name;  /* as sent (compare case-insensitively) */
    moat_http_str value; /* leading and trailing blanks removed */
} moat_http_field;

typedef struct moat_http_request {
    moat_http_str method;  /* "GET" */
    moat_http_str target;  /* request-target as sent: "/mqtt?x=1" */
    moat_http_str path;    /* target up to '?' (or all of it) */
    moat_http_str query;   /* after '?', empty when none */
    uint8_t version_minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.2-1.9, RFC 9110 2.5) */
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
 * Content-Length together with Transfer-Encoding are refused.
 * Details: empty lines before the request line are skipped (and counted in
 * head_len); a head of exactly max_head bytes is accepted. Also refused with
 * 400: a request-target that is empty, has a fragment ('#') or a byte outside
 * visible ASCII; an HTTP/1.1 request without Host, or any with two Host
 * lines; Transfer-Encoding in HTTP/1.0, empty, or with chunked twice. The
 * target is refused (414) as soon as it passes MOAT_HTTP_MAX_TARGET bytes and
 * an invalid byte as soon as it is seen, so a refusal may come before the
 * head is complete. 414 and 431 return MOAT_ETOOLARGE, other refusals
 * MOAT_EMALFORMED. Each decision depends only on the bytes before it: a
 * refused prefix means every longer input is refused the same way, and a
 * head fed in any split gives MOAT_ENEEDMORE until it is complete.
 * On MOAT_OK and MOAT_ENEEDMORE *status is 0 and *why "". status and why
 * may be NULL; a NULL req (or NULL buf with len > 0) is MOAT_EINVAL. */
moat_err moat_http_parse_request(const uint8_t *buf, size_t len, size_t max_head,
                                 moat_http_request *req, int *status, const char **why);

/* The first header named name (case-insensitive), or NULL. */
const moat_http_str *moat_http_header(const moat_http_request *req, const char *name);

/* True when some header named name holds token in its comma-separated list,
 * case-insensitively ("Connection: keep-alive, Upgrade" has "upgrade").
 * An element's parameters (";q=1") are not part of it; commas inside quoted
 * strings do not split. */
bool moat_http_header_has_token(const moat_http_request *req, const char *name, const char *token);

/* Case-insensitive comparison of a range with a C string. */
bool moat_http_str_eq(moat_http_str s, const char *lit);

/* Standard reason phrase for a status code ("Bad Request"); "" when unknown. */
const char *moat_http_reason(int status);

/* ------------------------------------------------------------ responses */

/* An HTTP/1.x response head, as a client (`moat certs probe`) reads it. */
typedef struct moat_http_response {
    uint8_t version_minor; /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.2-1.9) */
    int status;            /* 100..999 */
    moat_http_str reason;  /* reason phrase, may be empty */
    moat_http_field headers[MOAT_HTTP_MAX_HEADERS];
    uint32_t n_headers;
    size_t head_len;        /* bytes of the head, final empty line included */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding ends in "chunked" */
    bool keep_alive;        /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
} moat_http_response;

/* Parse the response head at the start of buf[0..len), with the request
 * parser's rules for header lines and line ends and the same prefix
 * property (each decision depends only on the bytes before it).
 * Status line: HTTP/1.x SP 3DIGIT, then SP and a reason phrase (possibly
 * empty) or the line end. MOAT_OK: complete. MOAT_ENEEDMORE: incomplete and
 * len < max_head. MOAT_EMALFORMED: not an HTTP/1.x response head (also both
 * Content-Length and Transfer-Encoding, conflicting Content-Lengths, chunked
 * twice or not last, Transfer-Encoding in HTTP/1.0); MOAT_ETOOLARGE: head
 * over max_head or more than MOAT_HTTP_MAX_HEADERS lines. *why (may be NULL)
 * is "" or a short static text. A NULL resp is MOAT_EINVAL. */
moat_err moat_http_parse_response(const uint8_t *buf, size_t len, size_t max_head,
                                  moat_http_response *resp, const char **why);

/* Header lookups on a response, as moat_http_header / _has_token. */
const moat_http_str *moat_http_response_header(const moat_http_response *resp, const char *name);
bool moat_http_response_has_token(const moat_http_response *resp, const char *name,
                                  const char *token);

#endif
