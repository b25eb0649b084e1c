/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 request heads (RFC 9112 for the syntax, RFC 9110 for tokens,
 * lists and framing fields).
 *
 * One pass from the start of the buffer, and every decision taken at byte i
 * depends on bytes [0, i] only. So a refusal of some prefix is the refusal
 * (same status) of every longer input, and a head complete in a prefix is
 * the same head in every longer input: feeding a connection's bytes in any
 * split gives MOAT_ENEEDMORE until the head is complete, then the same
 * answer as the whole. Re-parsing from the start on each call costs at most
 * max_head bytes per call, which the caller bounds. */
#include "http/http.h"

#include <string.h>

typedef enum step { STEP_OK, STEP_MORE, STEP_FAIL } step;

typedef struct parser {
    const uint8_t *b;
    size_t end;             /* min(len, max_head): no acceptable head reaches beyond */
    moat_http_request *req; /* NULL when parsing a response */
    /* Where the header lines go: the request's or the response's. */
    moat_http_field *headers;
    uint32_t *n_headers;
    int64_t *content_length;
    int status;
    const char *why;
    /* Framing facts from the header lines, judged once the head is complete
     * so that the order of the lines does not change the verdict. */
    bool has_cl, has_te, te_last_chunked;
    uint32_t te_codings, te_chunked, n_host;
} parser;

static step fail(parser *p, int status, const char *why)
{
    p->status = status;
    p->why = why;
    return STEP_FAIL;
}

/* ------------------------------------------------------------ bytes */

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

/* A request-target is built from URI characters, all visible ASCII; a
 * fragment is never part of it (RFC 9112 3.2). */
static bool is_target_byte(uint8_t c)
{
    return c > 0x20 && c < 0x7F && c != '#';
}

/* field-value bytes: VCHAR, obs-text, SP and HTAB (RFC 9110 5.5). */
static bool is_value_byte(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7F);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* "HTTP/" DIGIT "." DIGIT, byte k of it (case-sensitive, RFC 9112 2.3). */
static bool version_byte(size_t k, uint8_t c)
{
    if (k < 5)
        return c == (uint8_t) "HTTP/"[k];
    if (k == 5 || k == 7)
        return c >= '0' && c <= '9';
    return k == 6 && c == '.';
}

static moat_http_str trim(const char *s, size_t n)
{
    while (n > 0 && is_blank(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    return (moat_http_str){s, n};
}

/* ------------------------------------------------------------ lists */

/* The next non-empty element of a comma-separated list (RFC 9110 5.6.1),
 * blanks trimmed; commas inside quoted strings do not split. */
static bool list_next(moat_http_str s, size_t *pos, moat_http_str *elem)
{
    size_t i = *pos;
    while (i < s.len) {
        size_t start = i;
        bool quoted = false;
        for (; i < s.len; i++) {
            char c = s.p[i];
            if (quoted) {
                if (c == '\\' && i + 1 < s.len)
                    i++;
                else if (c == '"')
                    quoted = false;
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                break;
            }
        }
        moat_http_str e = trim(s.p + start, i - start);
        if (i < s.len)
            i++; /* the comma */
        if (e.len > 0) {
            *elem = e;
            *pos = i;
            return true;
        }
    }
    *pos = i;
    return false;
}

/* The name of a list element: what precedes its parameters ("gzip;q=1"). */
static moat_http_str element_name(moat_http_str e)
{
    const char *semi = memchr(e.p, ';', e.len);
    return semi ? trim(e.p, (size_t)(semi - e.p)) : e;
}

static bool all_tchar(moat_http_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((uint8_t)s.p[i]))
            return false;
    return s.len > 0;
}

/* ------------------------------------------------------------ framing */

/* RFC 9110 8.6: 1*DIGIT; a list of equal values (from a proxy that merged
 * repeats) is the same as one, different values are refused. */
static step content_length(parser *p, moat_http_str v)
{
    size_t pos = 0;
    moat_http_str e;
    bool any = false;
    while (list_next(v, &pos, &e)) {
        int64_t n = 0;
        for (size_t i = 0; i < e.len; i++) {
            int d = (uint8_t)e.p[i] - '0';
            if (d < 0 || d > 9)
                return fail(p, 400, "Content-Length is not a number");
            if (n > (INT64_MAX - d) / 10)
                return fail(p, 400, "Content-Length too large");
            n = n * 10 + d;
        }
        if (*p->content_length >= 0 && *p->content_length != n)
            return fail(p, 400, "conflicting Content-Length values");
        *p->content_length = n;
        any = true;
    }
    if (!any)
        return fail(p, 400, "empty Content-Length");
    p->has_cl = true;
    return STEP_OK;
}

/* Repeated Transfer-Encoding lines form one list, in order. */
static step transfer_encoding(parser *p, moat_http_str v)
{
    size_t pos = 0;
    moat_http_str e;
    while (list_next(v, &pos, &e)) {
        moat_http_str name = element_name(e);
        if (!all_tchar(name))
            return fail(p, 400, "malformed Transfer-Encoding");
        p->te_codings++;
        p->te_last_chunked = moat_http_str_eq(name, "chunked");
        p->te_chunked += p->te_last_chunked;
    }
    p->has_te = true;
    return STEP_OK;
}

static step header_line_done(parser *p, const moat_http_field *h)
{
    if (moat_http_str_eq(h->name, "content-length"))
        return content_length(p, h->value);
    if (moat_http_str_eq(h->name, "transfer-encoding"))
        return transfer_encoding(p, h->value);
    /* RFC 9112 3.2: two Host lines make the authority ambiguous. */
    if (p->req && moat_http_str_eq(h->name, "host") && ++p->n_host > 1)
        return fail(p, 400, "more than one Host header");
    return STEP_OK;
}

/* RFC 9112 3.2 and 6.1-6.3: the checks that need the whole head. */
static step head_done(parser *p)
{
    moat_http_request *req = p->req;
    if (req->version_minor == 1 && p->n_host == 0)
        return fail(p, 400, "HTTP/1.1 request without Host");
    if (p->has_te) {
        if (req->version_minor == 0)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        /* Two framings at once is how requests get smuggled. */
        if (p->has_cl)
            return fail(p, 400, "both Content-Length and Transfer-Encoding");
        if (p->te_codings == 0)
            return fail(p, 400, "empty Transfer-Encoding");
        if (!p->te_last_chunked)
            return fail(p, 501, "transfer coding other than chunked last");
        if (p->te_chunked > 1)
            return fail(p, 400, "chunked applied more than once");
        req->chunked = true;
    }
    if (req->version_minor == 0)
        req->keep_alive = moat_http_header_has_token(req, "connection", "keep-alive") &&
                          !moat_http_header_has_token(req, "connection", "close");
    else
        req->keep_alive = !moat_http_header_has_token(req, "connection", "close");
    return STEP_OK;
}

/* ------------------------------------------------------------ lines */

/* At b[i], a CR or LF: the line ends, *next is the byte after it. A bare
 * LF is accepted (RFC 9112 2.2); a CR must be followed by LF. */
static step line_end(parser *p, size_t i, size_t *next)
{
    if (p->b[i] == '\n') {
        *next = i + 1;
        return STEP_OK;
    }
    if (i + 1 >= p->end)
        return STEP_MORE;
    if (p->b[i + 1] != '\n')
        return fail(p, 400, "CR not followed by LF");
    *next = i + 2;
    return STEP_OK;
}

static step request_line(parser *p, size_t *pos)
{
    const uint8_t *b = p->b;
    moat_http_request *req = p->req;
    size_t i = *pos;
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    for (;;) {
        if (i >= p->end)
            return STEP_MORE;
        if (b[i] != '\r' && b[i] != '\n')
            break;
        step s = line_end(p, i, &i);
        if (s != STEP_OK)
            return s;
    }

    size_t m0 = i;
    while (i < p->end && is_tchar(b[i]))
        i++;
    if (i >= p->end)
        return STEP_MORE;
    if (i == m0)
        return fail(p, 400, "request line does not start with a method");
    if (b[i] != ' ')
        return fail(p, 400, "invalid byte in the method");
    req->method = (moat_http_str){(const char *)b + m0, i - m0};

    size_t t0 = ++i;
    while (i < p->end && is_target_byte(b[i])) {
        /* Refused as soon as it is too long, not when it ends. */
        if (i - t0 == MOAT_HTTP_MAX_TARGET)
            return fail(p, 414, "request target too long");
        i++;
    }
    if (i >= p->end)
        return STEP_MORE;
    if (i == t0)
        return fail(p, 400, "empty request target");
    if (b[i] == '\r' || b[i] == '\n')
        return fail(p, 400, "request line without an HTTP version");
    if (b[i] != ' ')
        return fail(p, 400,
                    b[i] == '#' ? "fragment in the request target"
                                : "invalid byte in the request target");
    req->target = (moat_http_str){(const char *)b + t0, i - t0};
    const char *q = memchr(req->target.p, '?', req->target.len);
    size_t plen = q ? (size_t)(q - req->target.p) : req->target.len;
    req->path = (moat_http_str){req->target.p, plen};
    req->query = q ? (moat_http_str){q + 1, req->target.len - plen - 1}
                   : (moat_http_str){req->target.p + req->target.len, 0};

    size_t v0 = ++i;
    while (i < p->end && b[i] != '\r' && b[i] != '\n') {
        if (!version_byte(i - v0, b[i]))
            return fail(p, 400, "malformed HTTP version");
        i++;
    }
    if (i >= p->end)
        return STEP_MORE;
    if (i - v0 != 8)
        return fail(p, 400, "malformed HTTP version");
    step s = line_end(p, i, &i);
    if (s != STEP_OK)
        return s;
    if (b[v0 + 5] != '1')
        return fail(p, 505, "HTTP version other than 1.x");
    /* RFC 9110 2.5: a higher 1.x minor is handled as the highest we know. */
    req->version_minor = b[v0 + 7] == '0' ? 0 : 1;
    *pos = i;
    return STEP_OK;
}

static step header_lines(parser *p, size_t *pos)
{
    const uint8_t *b = p->b;
    size_t i = *pos;
    for (;;) {
        if (i >= p->end)
            return STEP_MORE;
        if (b[i] == '\r' || b[i] == '\n') {
            step s = line_end(p, i, &i);
            if (s != STEP_OK)
                return s;
            *pos = i;
            return STEP_OK;
        }
        /* RFC 9112 5.2 obs-fold, and 2.2 whitespace before the first line. */
        if (b[i] == ' ' || b[i] == '\t')
            return fail(p, 400,
                        *p->n_headers ? "obsolete line folding"
                                      : "whitespace before the first header");
        if (*p->n_headers == MOAT_HTTP_MAX_HEADERS)
            return fail(p, 431, "too many header fields");

        size_t n0 = i;
        while (i < p->end && is_tchar(b[i]))
            i++;
        if (i >= p->end)
            return STEP_MORE;
        if (b[i] != ':') {
            if (b[i] == ' ' || b[i] == '\t')
                return fail(p, 400, "blank before the colon of a header");
            if (b[i] == '\r' || b[i] == '\n')
                return fail(p, 400, "header line without a colon");
            return fail(p, 400, "invalid byte in a header name");
        }
        if (i == n0)
            return fail(p, 400, "empty header name");
        size_t n1 = i++;

        size_t v0 = i;
        while (i < p->end && b[i] != '\r' && b[i] != '\n') {
            if (!is_value_byte(b[i]))
                return fail(p, 400, "control byte in a header value");
            i++;
        }
        if (i >= p->end)
            return STEP_MORE;
        size_t v1 = i;
        step s = line_end(p, i, &i);
        if (s != STEP_OK)
            return s;

        moat_http_field *h = &p->headers[(*p->n_headers)++];
        h->name = (moat_http_str){(const char *)b + n0, n1 - n0};
        h->value = trim((const char *)b + v0, v1 - v0);
        s = header_line_done(p, h);
        if (s != STEP_OK)
            return s;
    }
}

/* ------------------------------------------------------------ API */

moat_err moat_http_parse_request(const uint8_t *buf, size_t len, size_t max_head,
                                 moat_http_request *req, int *status, const char **why)
{
    int status_sink;
    const char *why_sink;
    if (!status)
        status = &status_sink;
    if (!why)
        why = &why_sink;
    *status = 0;
    *why = "";
    if (!req || (!buf && len > 0)) {
        *status = 500;
        *why = "bad arguments";
        return MOAT_EINVAL;
    }
    memset(req, 0, sizeof *req);
    req->content_length = -1;

    parser p = {.b = buf,
                .end = len < max_head ? len : max_head,
                .req = req,
                .headers = req->headers,
                .n_headers = &req->n_headers,
                .content_length = &req->content_length};
    size_t pos = 0;
    step s = request_line(&p, &pos);
    if (s == STEP_OK)
        s = header_lines(&p, &pos);
    if (s == STEP_OK)
        s = head_done(&p);

    switch (s) {
    case STEP_OK:
        req->head_len = pos;
        return MOAT_OK;
    case STEP_MORE:
        if (len < max_head)
            return MOAT_ENEEDMORE;
        *status = 431;
        *why = "request head larger than the limit";
        return MOAT_ETOOLARGE;
    default:
        *status = p.status;
        *why = p.why;
        return p.status == 414 || p.status == 431 ? MOAT_ETOOLARGE : MOAT_EMALFORMED;
    }
}

/* ------------------------------------------------------------ responses */

/* RFC 9112 4: HTTP-version SP 3DIGIT SP [reason-phrase]. A status line that
 * ends right after the code ("HTTP/1.1 200") is accepted: servers send it. */
static step status_line(parser *p, moat_http_response *resp, size_t *pos)
{
    const uint8_t *b = p->b;
    size_t i0 = *pos, i = i0;
    /* The fixed shape "HTTP/1.x 200", each byte judged as it arrives. */
    for (size_t k = 0; k < 12; k++, i++) {
        if (i >= p->end)
            return STEP_MORE;
        if (k < 8 && !version_byte(k, b[i]))
            return fail(p, 400, "response does not start with HTTP/1.x");
        if (k == 5 && b[i] != '1')
            return fail(p, 400, "HTTP version other than 1.x");
        if (k == 8 && b[i] != ' ')
            return fail(p, 400, "no space after the HTTP version");
        if (k > 8 && (b[i] < '0' || b[i] > '9'))
            return fail(p, 400, "status code is not three digits");
    }
    resp->version_minor = b[i0 + 7] == '0' ? 0 : 1;
    resp->status = (b[i0 + 9] - '0') * 100 + (b[i0 + 10] - '0') * 10 + (b[i0 + 11] - '0');
    if (resp->status < 100)
        return fail(p, 400, "status code below 100");
    if (i >= p->end)
        return STEP_MORE;
    size_t r0 = i, r1 = i;
    if (b[i] == ' ') {
        r0 = ++i;
        while (i < p->end && b[i] != '\r' && b[i] != '\n') {
            if (!is_value_byte(b[i]))
                return fail(p, 400, "control byte in the reason phrase");
            i++;
        }
        if (i >= p->end)
            return STEP_MORE;
        r1 = i;
    } else if (b[i] != '\r' && b[i] != '\n') {
        return fail(p, 400, "status code is not three digits");
    }
    step s = line_end(p, i, &i);
    if (s != STEP_OK)
        return s;
    resp->reason = trim((const char *)b + r0, r1 - r0);
    *pos = i;
    return STEP_OK;
}

/* RFC 9112 6.1-6.3 for responses. Framing that a proxy could read two ways
 * is refused rather than guessed. */
static step response_done(parser *p, moat_http_response *resp)
{
    if (p->has_te) {
        if (resp->version_minor == 0)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 response");
        if (p->has_cl)
            return fail(p, 400, "both Content-Length and Transfer-Encoding");
        if (p->te_codings == 0)
            return fail(p, 400, "empty Transfer-Encoding");
        if (p->te_chunked > 1 || (p->te_chunked == 1 && !p->te_last_chunked))
            return fail(p, 400, "chunked applied more than once or not last");
        /* Not chunked last: the body runs until the connection closes. */
        resp->chunked = p->te_last_chunked;
    }
    if (resp->version_minor == 0)
        resp->keep_alive = moat_http_response_has_token(resp, "connection", "keep-alive") &&
                           !moat_http_response_has_token(resp, "connection", "close");
    else
        resp->keep_alive = !moat_http_response_has_token(resp, "connection", "close");
    return STEP_OK;
}

moat_err moat_http_parse_response(const uint8_t *buf, size_t len, size_t max_head,
                                  moat_http_response *resp, const char **why)
{
    const char *why_sink;
    if (!why)
        why = &why_sink;
    *why = "";
    if (!resp || (!buf && len > 0)) {
        *why = "bad arguments";
        return MOAT_EINVAL;
    }
    memset(resp, 0, sizeof *resp);
    resp->content_length = -1;

    parser p = {.b = buf,
                .end = len < max_head ? len : max_head,
                .headers = resp->headers,
                .n_headers = &resp->n_headers,
                .content_length = &resp->content_length};
    size_t pos = 0;
    step s = status_line(&p, resp, &pos);
    if (s == STEP_OK)
        s = header_lines(&p, &pos);
    if (s == STEP_OK)
        s = response_done(&p, resp);

    switch (s) {
    case STEP_OK:
        resp->head_len = pos;
        return MOAT_OK;
    case STEP_MORE:
        if (len < max_head)
            return MOAT_ENEEDMORE;
        *why = "response head larger than the limit";
        return MOAT_ETOOLARGE;
    default:
        *why = p.why;
        return p.status == 431 ? MOAT_ETOOLARGE : MOAT_EMALFORMED;
    }
}

static const moat_http_str *fields_find(const moat_http_field *h, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n && i < MOAT_HTTP_MAX_HEADERS; i++)
        if (moat_http_str_eq(h[i].name, name))
            return &h[i].value;
    return NULL;
}

static bool fields_have_token(const moat_http_field *h, uint32_t n, const char *name,
                              const char *token)
{
    for (uint32_t i = 0; i < n && i < MOAT_HTTP_MAX_HEADERS; i++) {
        if (!moat_http_str_eq(h[i].name, name))
            continue;
        size_t pos = 0;
        moat_http_str e;
        while (list_next(h[i].value, &pos, &e))
            if (moat_http_str_eq(element_name(e), token))
                return true;
    }
    return false;
}

const moat_http_str *moat_http_response_header(const moat_http_response *resp, const char *name)
{
    if (!resp || !name)
        return NULL;
    return fields_find(resp->headers, resp->n_headers, name);
}

bool moat_http_response_has_token(const moat_http_response *resp, const char *name,
                                  const char *token)
{
    if (!resp || !name || !token || !token[0])
        return false;
    return fields_have_token(resp->headers, resp->n_headers, name, token);
}

bool moat_http_str_eq(moat_http_str s, const char *lit)
{
    if (!lit)
        return false;
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s.p[i]) != lower(lit[i]))
            return false;
    return true;
}

const moat_http_str *moat_http_header(const moat_http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    return fields_find(req->headers, req->n_headers, name);
}

bool moat_http_header_has_token(const moat_http_request *req, const char *name, const char *token)
{
    if (!req || !name || !token || !token[0])
        return false;
    return fields_have_token(req->headers, req->n_headers, name, token);
}

/* RFC 9110 section 15, plus RFC 6585 for 428, 429 and 431. */
static const struct {
    int code;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *moat_http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "";
}
