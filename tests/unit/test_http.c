/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP request heads: real requests (browser WebSocket upgrades, curl,
 * HTTP/1.0), bare LF line ends, every split of the input, every refusal
 * with its status, the limits (head size, header count, target length),
 * framing fields, header lookup and token lists; response heads as a
 * client reads them. */
#include <stdint.h>
#include <stdlib.h>

#include "http/http.h"
#include "test.h"

#define BIG 65536 /* max_head when the limit is not under test */

/* ------------------------------------------------------------ helpers */

static bool str_is(moat_http_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

static moat_err parse_n(const char *s, size_t n, size_t max_head, moat_http_request *r, int *st)
{
    const char *why = NULL;
    moat_err e = moat_http_parse_request((const uint8_t *)s, n, max_head, r, st, &why);
    CHECK(why != NULL);
    if (e == MOAT_OK || e == MOAT_ENEEDMORE)
        CHECK(*st == 0 && why && why[0] == '\0');
    else
        CHECK(*st >= 400 && why && why[0] != '\0');
    return e;
}

static moat_err parse(const char *s, moat_http_request *r, int *st)
{
    return parse_n(s, strlen(s), BIG, r, st);
}

/* Every proper prefix of a complete head asks for more; every longer input
 * (the head plus anything) gives the same head. */
static void check_splits(const char *s, size_t max_head)
{
    size_t n = strlen(s), bad = 0;
    moat_http_request full, r;
    int st;
    CHECK_EQ(parse_n(s, n, max_head, &full, &st), MOAT_OK);
    for (size_t i = 0; i < full.head_len; i++)
        bad += parse_n(s, i, max_head, &r, &st) != MOAT_ENEEDMORE;
    for (size_t i = full.head_len; i <= n; i++) {
        moat_err e = parse_n(s, i, max_head, &r, &st);
        bad += e != MOAT_OK || r.head_len != full.head_len || r.n_headers != full.n_headers;
    }
    CHECK_EQ(bad, 0);
}

/* Every prefix of a refused input is either incomplete or refused the same
 * way, and the refusal does not move once it happened. */
static void check_refusal_splits(const char *s, size_t n, int status)
{
    moat_http_request r;
    int st;
    size_t bad = 0;
    bool refused = false;
    for (size_t i = 0; i <= n; i++) {
        moat_err e = parse_n(s, i, BIG, &r, &st);
        if (e == MOAT_ENEEDMORE) {
            bad += refused;
            continue;
        }
        refused = true;
        bad += st != status;
    }
    CHECK(refused);
    CHECK_EQ(bad, 0);
}

/* Refuse s (all of it, and each prefix consistently) with status. */
#define EXPECT_REFUSE(s, want_status)                                                              \
    do {                                                                                           \
        moat_http_request r_;                                                                      \
        int st_ = -1;                                                                              \
        moat_err e_ = parse_n((s), sizeof(s) - 1, BIG, &r_, &st_);                                 \
        CHECK_EQ(st_, (want_status));                                                              \
        CHECK_EQ(e_, ((want_status) == 414 || (want_status) == 431) ? MOAT_ETOOLARGE               \
                                                                    : MOAT_EMALFORMED);            \
        check_refusal_splits((s), sizeof(s) - 1, (want_status));                                   \
    } while (0)

#define EXPECT_OK(s, r)                                                                            \
    do {                                                                                           \
        int st_ = -1;                                                                              \
        CHECK_EQ(parse((s), (r), &st_), MOAT_OK);                                                  \
        CHECK_EQ(st_, 0);                                                                          \
    } while (0)

/* ------------------------------------------------------------ real requests */

static const char chrome_upgrade[] =
    "GET /mqtt HTTP/1.1\r\n"
    "Host: broker.example.com:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://broker.example.com:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n"
    "\r\n";

static const char firefox_upgrade[] =
    "GET /mqtt?client=web HTTP/1.1\r\n"
    "Host: localhost:9001\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: http://localhost:9001\r\n"
    "Sec-WebSocket-Protocol: mqtt, mqttv3.1\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Sec-Fetch-Mode: websocket\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "Upgrade: websocket\r\n"
    "\r\n";

static const char curl_get[] = "GET /index.html?x=1&y=%20z HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "User-Agent: curl/8.5.0\r\n"
                               "Accept: */*\r\n"
                               "\r\n";

static void test_browser_upgrade(void)
{
    moat_http_request r;
    EXPECT_OK(chrome_upgrade, &r);
    CHECK(str_is(r.method, "GET"));
    CHECK(str_is(r.target, "/mqtt"));
    CHECK(str_is(r.path, "/mqtt"));
    CHECK(str_is(r.query, ""));
    CHECK(r.query.p != NULL);
    CHECK_EQ(r.version_minor, 1);
    CHECK_EQ(r.n_headers, 13);
    CHECK_EQ(r.head_len, sizeof chrome_upgrade - 1);
    CHECK_EQ(r.content_length, -1);
    CHECK(!r.chunked);
    CHECK(r.keep_alive);
    CHECK(str_is(r.headers[0].name, "Host"));
    CHECK(str_is(r.headers[0].value, "broker.example.com:8080"));
    const moat_http_str *k = moat_http_header(&r, "sec-websocket-key");
    CHECK(k && str_is(*k, "dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(moat_http_header_has_token(&r, "connection", "upgrade"));
    CHECK(moat_http_header_has_token(&r, "Upgrade", "WebSocket"));
    CHECK(moat_http_header_has_token(&r, "sec-websocket-protocol", "mqtt"));
    CHECK(moat_http_header_has_token(&r, "sec-websocket-extensions", "permessage-deflate"));
    CHECK(!moat_http_header_has_token(&r, "sec-websocket-extensions", "client_max_window_bits"));
    const moat_http_str *ua = moat_http_header(&r, "User-Agent");
    CHECK(ua && ua->len > 60 && memcmp(ua->p, "Mozilla/5.0 (X11;", 17) == 0);
    check_splits(chrome_upgrade, BIG);

    EXPECT_OK(firefox_upgrade, &r);
    CHECK(str_is(r.target, "/mqtt?client=web"));
    CHECK(str_is(r.path, "/mqtt"));
    CHECK(str_is(r.query, "client=web"));
    CHECK_EQ(r.n_headers, 17);
    CHECK(r.keep_alive);
    CHECK(moat_http_header_has_token(&r, "Connection", "keep-alive"));
    CHECK(moat_http_header_has_token(&r, "Connection", "UPGRADE"));
    CHECK(moat_http_header_has_token(&r, "Sec-WebSocket-Protocol", "mqttv3.1"));
    CHECK(!moat_http_header_has_token(&r, "Sec-WebSocket-Protocol", "mqttv3"));
    check_splits(firefox_upgrade, BIG);
}

static void test_curl(void)
{
    moat_http_request r;
    EXPECT_OK(curl_get, &r);
    CHECK(str_is(r.method, "GET"));
    CHECK(str_is(r.target, "/index.html?x=1&y=%20z"));
    CHECK(str_is(r.path, "/index.html"));
    CHECK(str_is(r.query, "x=1&y=%20z"));
    CHECK_EQ(r.n_headers, 3);
    CHECK(r.keep_alive);
    CHECK(str_is(r.headers[2].name, "Accept"));
    CHECK(str_is(r.headers[2].value, "*/*"));
    check_splits(curl_get, BIG);

    /* A POST with a body: head_len says where the body starts. */
    static const char post[] = "POST /api/clients HTTP/1.1\r\n"
                               "Host: localhost:8080\r\n"
                               "User-Agent: curl/8.5.0\r\n"
                               "Accept: */*\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n"
                               "{\"id\":\"abc\"}\n";
    EXPECT_OK(post, &r);
    CHECK(str_is(r.method, "POST"));
    CHECK_EQ(r.content_length, 13);
    CHECK_EQ(r.head_len + 13, sizeof post - 1);
    CHECK(memcmp(post + r.head_len, "{\"id\"", 5) == 0);
    check_splits(post, BIG);
}

static void test_http10(void)
{
    moat_http_request r;
    /* No Host needed, closes by default. */
    EXPECT_OK("GET / HTTP/1.0\r\n\r\n", &r);
    CHECK_EQ(r.version_minor, 0);
    CHECK_EQ(r.n_headers, 0);
    CHECK(!r.keep_alive);
    CHECK_EQ(r.head_len, 18);
    EXPECT_OK("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r);
    CHECK(r.keep_alive);
    EXPECT_OK("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", &r);
    CHECK(!r.keep_alive);
    EXPECT_OK("HEAD /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &r);
    CHECK_EQ(r.content_length, 0);
    check_splits("GET / HTTP/1.0\r\nUser-Agent: Wget/1.21\r\n\r\n", BIG);

    /* HTTP/1.1 keeps alive unless told. */
    EXPECT_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r);
    CHECK(!r.keep_alive);
    EXPECT_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", &r);
    CHECK(!r.keep_alive);
    EXPECT_OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &r);
    CHECK(r.keep_alive);

    /* A higher 1.x minor is treated as 1.1 (RFC 9110 2.5). */
    EXPECT_OK("GET / HTTP/1.9\r\nHost: a\r\n\r\n", &r);
    CHECK_EQ(r.version_minor, 1);
    EXPECT_REFUSE("GET / HTTP/1.2\r\n\r\n", 400); /* and so needs Host */
}

static void test_bare_lf(void)
{
    moat_http_request r;
    static const char lf[] = "GET /a HTTP/1.1\nHost: h\nX-A:  1 \n\n";
    EXPECT_OK(lf, &r);
    CHECK_EQ(r.head_len, sizeof lf - 1);
    CHECK_EQ(r.n_headers, 2);
    CHECK(str_is(r.headers[1].value, "1"));
    check_splits(lf, BIG);

    static const char mixed[] = "GET /a HTTP/1.1\r\nHost: h\nX-A: 1\r\n\nbody";
    EXPECT_OK(mixed, &r);
    CHECK_EQ(r.head_len, sizeof mixed - 1 - 4);
    check_splits(mixed, BIG);

    /* A CR must be followed by LF: refused, not taken for a line end. */
    EXPECT_REFUSE("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400);
    EXPECT_REFUSE("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

static void test_leading_empty_lines(void)
{
    moat_http_request r;
    static const char s[] = "\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    EXPECT_OK(s, &r);
    CHECK(str_is(r.method, "GET"));
    CHECK_EQ(r.head_len, sizeof s - 1);
    check_splits(s, BIG);
    int st;
    CHECK_EQ(parse("\r\n\r\n", &r, &st), MOAT_ENEEDMORE);
    CHECK_EQ(parse("", &r, &st), MOAT_ENEEDMORE);
    CHECK_EQ(parse_n(NULL, 0, BIG, &r, &st), MOAT_ENEEDMORE);
}

static void test_targets(void)
{
    moat_http_request r;
    EXPECT_OK("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    CHECK(str_is(r.target, "*") && str_is(r.path, "*") && r.query.len == 0);
    EXPECT_OK("CONNECT broker.example:8883 HTTP/1.1\r\nHost: broker.example:8883\r\n\r\n", &r);
    CHECK(str_is(r.target, "broker.example:8883"));
    EXPECT_OK("GET http://h.example/a/b?c=d?e HTTP/1.1\r\nHost: h.example\r\n\r\n", &r);
    CHECK(str_is(r.path, "http://h.example/a/b"));
    CHECK(str_is(r.query, "c=d?e"));
    EXPECT_OK("GET /? HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    CHECK(str_is(r.path, "/") && str_is(r.query, "") && str_is(r.target, "/?"));
    EXPECT_OK("GET ?only HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    CHECK(str_is(r.path, "") && str_is(r.query, "only"));
    /* Methods are any token, case-sensitive and kept as sent. */
    EXPECT_OK("m-SEARCH! / HTTP/1.1\r\nHost: h\r\n\r\n", &r);
    CHECK(str_is(r.method, "m-SEARCH!"));
}

/* ------------------------------------------------------------ refusals */

static void test_refuse_request_line(void)
{
    EXPECT_REFUSE("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
    EXPECT_REFUSE("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    EXPECT_REFUSE("GET / HTTP/0.9\r\n\r\n", 505);
    EXPECT_REFUSE("GET / HTTP/3.1\r\n\r\n", 505);
    EXPECT_REFUSE("GET / HTTP/9.9\r\n\r\n", 505);
    EXPECT_REFUSE("GET / http/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.10\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/11.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.x\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1 \r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1 extra\r\n\r\n", 400);
    EXPECT_REFUSE("GET / \r\n\r\n", 400);
    EXPECT_REFUSE("GET / FTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET /\r\n\r\n", 400);
    EXPECT_REFUSE("GET\r\n\r\n", 400);
    EXPECT_REFUSE("GET  / HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    EXPECT_REFUSE(" GET / HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET\t/ HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET /\tHTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("G(T / HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET /a#frag HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET /\x01 HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET /\x7f HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\x00\r\n\r\n", 400);
    EXPECT_REFUSE("\x00GET / HTTP/1.1\r\n\r\n", 400);
    EXPECT_REFUSE("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400); /* TLS on a ws port */
    EXPECT_REFUSE("\x10\x10\x00\x04MQTT\x04\x02\x00\x3c", 400);         /* MQTT on a ws port */
}

static void test_refuse_headers(void)
{
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\n: h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHo\x00st: h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nH\xc3\xa9: h\r\n\r\n", 400);
    /* obs-fold, and whitespace between request line and first header. */
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\tc\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400);
    /* Control bytes in values; HTAB and obs-text are fine. */
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\x00x\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[0m\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: h\r\nX: a\x0b\r\n\r\n", 400);
    moat_http_request r;
    EXPECT_OK("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\xc3\xa9\xff\r\n\r\n", &r);
    CHECK(str_is(r.headers[1].value, "a\tb\xc3\xa9\xff"));
    /* Host must be there once in HTTP/1.1. */
    EXPECT_REFUSE("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n", 400);
    EXPECT_REFUSE("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400);
}

static void test_early_refusal(void)
{
    /* A bad byte is refused at once, before the line or head is complete. */
    static const char *const partial[] = {
        "GET /\x01",      "GET / HTTP/2",        "GET / HTTP/1.1\r\nHo st",
        "\x16\x03\x01",   "GET / HTTP/1.1\r\nX", "GET / HTTP/1.1\r\nHost: h\r\n ",
        "GET / HTTP/1.1x"};
    static const int statuses[] = {400, 0, 400, 400, 0, 400, 400};
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        moat_http_request r;
        int st;
        moat_err e = parse(partial[i], &r, &st);
        if (statuses[i] == 0) {
            CHECK_EQ(e, MOAT_ENEEDMORE);
        } else {
            CHECK_EQ(e, MOAT_EMALFORMED);
            CHECK_EQ(st, statuses[i]);
        }
    }
    moat_http_request r;
    int st;
    CHECK_EQ(parse_n("GET /\0", 6, BIG, &r, &st), MOAT_EMALFORMED);
    CHECK_EQ(parse_n("GET / HTTP/1.1\r\nHost: \0", 23, BIG, &r, &st), MOAT_EMALFORMED);
    CHECK_EQ(parse_n("GET / HTTP/1.1\r\nHost: \0", 22, BIG, &r, &st), MOAT_ENEEDMORE);
    /* A long target is refused before its end too. */
    char *buf = malloc(20000);
    CHECK(buf != NULL);
    if (!buf)
        return;
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', 20000 - 5);
    CHECK_EQ(parse_n(buf, 4 + MOAT_HTTP_MAX_TARGET, BIG, &r, &st), MOAT_ENEEDMORE);
    CHECK_EQ(parse_n(buf, 4 + MOAT_HTTP_MAX_TARGET + 1, BIG, &r, &st), MOAT_ETOOLARGE);
    CHECK_EQ(st, 414);
    free(buf);
}

static void test_content_length(void)
{
    moat_http_request r;
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\n\r\n", &r);
    CHECK_EQ(r.content_length, 42);
    CHECK(!r.chunked);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\ncontent-length:0\r\n\r\n", &r);
    CHECK_EQ(r.content_length, 0);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007 \r\n\r\n", &r);
    CHECK_EQ(r.content_length, 7);
    /* Equal repeats, as lines or as a list, are one value. */
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r);
    CHECK_EQ(r.content_length, 5);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", &r);
    CHECK_EQ(r.content_length, 5);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", &r);
    CHECK_EQ(r.content_length, INT64_MAX);

    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                  400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1.0\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \"5\"\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                  400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", 400);
}

static void test_transfer_encoding(void)
{
    moat_http_request r;
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r);
    CHECK(r.chunked);
    CHECK_EQ(r.content_length, -1);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: CHUNKED\r\n\r\n", &r);
    CHECK(r.chunked);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r);
    CHECK(r.chunked);
    EXPECT_OK("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
              "Transfer-Encoding: chunked\r\n\r\n",
              &r);
    CHECK(r.chunked);
    check_splits("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                 BIG);

    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: identity\r\n\r\n",
                  501);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedx\r\n\r\n", 501);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , ,\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ch unked\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
    EXPECT_REFUSE("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    /* Both framings: refused whatever the order, and before the 501. */
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Length: 5\r\n\r\n",
                  400);
    EXPECT_REFUSE("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                  "Content-Length: 5\r\n\r\n",
                  400);
}

/* ------------------------------------------------------------ limits */

/* "GET / HTTP/1.1\r\nHost: h\r\n" then n lines "X-i: v\r\n" then CRLF. */
static size_t many_headers(char *buf, size_t cap, int n)
{
    size_t len = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "X-%d: v%d\r\n", i, i);
    len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    return len;
}

static void test_limits(void)
{
    moat_http_request r;
    int st;
    char buf[4096];

    /* The header count: 64 fit, 65 do not. */
    size_t n = many_headers(buf, sizeof buf, MOAT_HTTP_MAX_HEADERS - 1);
    CHECK_EQ(parse_n(buf, n, BIG, &r, &st), MOAT_OK);
    CHECK_EQ(r.n_headers, MOAT_HTTP_MAX_HEADERS);
    const moat_http_str *last = moat_http_header(&r, "x-62");
    CHECK(last && str_is(*last, "v62"));
    n = many_headers(buf, sizeof buf, MOAT_HTTP_MAX_HEADERS);
    CHECK_EQ(parse_n(buf, n, BIG, &r, &st), MOAT_ETOOLARGE);
    CHECK_EQ(st, 431);
    check_refusal_splits(buf, n, 431);

    /* The head size: exactly max_head is fine, one byte more is not. */
    static const char h[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t hl = sizeof h - 1;
    CHECK_EQ(parse_n(h, hl, hl, &r, &st), MOAT_OK);
    CHECK_EQ(r.head_len, hl);
    check_splits(h, hl);
    CHECK_EQ(parse_n(h, hl, hl - 1, &r, &st), MOAT_ETOOLARGE);
    CHECK_EQ(st, 431);
    CHECK_EQ(parse_n(h, hl - 1, hl - 1, &r, &st), MOAT_ETOOLARGE);
    CHECK_EQ(parse_n(h, hl - 2, hl - 1, &r, &st), MOAT_ENEEDMORE);
    /* More bytes than max_head (a body follows) do not matter. */
    static const char hb[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nbody bytes beyond the limit";
    CHECK_EQ(parse_n(hb, sizeof hb - 1, hl, &r, &st), MOAT_OK);
    CHECK_EQ(r.head_len, hl);
    CHECK_EQ(parse_n(h, hl, 0, &r, &st), MOAT_ETOOLARGE);
    CHECK_EQ(parse_n(h, 0, 0, &r, &st), MOAT_ETOOLARGE);
    /* Leading empty lines count toward the limit. */
    static const char lead[] = "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ(parse_n(lead, sizeof lead - 1, hl, &r, &st), MOAT_ETOOLARGE);
    CHECK_EQ(parse_n(lead, sizeof lead - 1, sizeof lead - 1, &r, &st), MOAT_OK);

    /* The request-target: 8192 bytes fit, 8193 are 414, unless the head
     * limit is hit first. */
    size_t cap = MOAT_HTTP_MAX_TARGET + 100;
    char *big = malloc(cap);
    CHECK(big != NULL);
    if (!big)
        return;
    for (size_t t = MOAT_HTTP_MAX_TARGET; t <= MOAT_HTTP_MAX_TARGET + 1; t++) {
        memcpy(big, "GET /", 5);
        memset(big + 5, 'p', t - 1);
        int k = snprintf(big + 4 + t, cap - 4 - t, " HTTP/1.1\r\nHost: h\r\n\r\n");
        size_t len = 4 + t + (size_t)k;
        moat_err e = parse_n(big, len, BIG, &r, &st);
        if (t == MOAT_HTTP_MAX_TARGET) {
            CHECK_EQ(e, MOAT_OK);
            CHECK_EQ(r.target.len, MOAT_HTTP_MAX_TARGET);
            CHECK_EQ(r.head_len, len);
        } else {
            CHECK_EQ(e, MOAT_ETOOLARGE);
            CHECK_EQ(st, 414);
        }
        CHECK_EQ(parse_n(big, len, 4096, &r, &st), MOAT_ETOOLARGE);
        CHECK_EQ(st, 431);
    }
    free(big);
}

/* ------------------------------------------------------------ lookup */

static void test_header_lookup(void)
{
    moat_http_request r;
    EXPECT_OK("GET / HTTP/1.1\r\nHost: h\r\nX-Dup: first\r\nx-dup: second\r\n"
              "Empty:\r\nBlank: \t \r\nPadded:\t a  b \t\r\n\r\n",
              &r);
    const moat_http_str *v = moat_http_header(&r, "X-DUP");
    CHECK(v && str_is(*v, "first"));
    v = moat_http_header(&r, "host");
    CHECK(v && str_is(*v, "h"));
    v = moat_http_header(&r, "empty");
    CHECK(v && v->len == 0);
    v = moat_http_header(&r, "blank");
    CHECK(v && v->len == 0);
    v = moat_http_header(&r, "padded");
    CHECK(v && str_is(*v, "a  b"));
    CHECK(str_is(r.headers[5].name, "Padded")); /* name kept as sent */
    CHECK(moat_http_header(&r, "missing") == NULL);
    CHECK(moat_http_header(&r, "X-Du") == NULL);
    CHECK(moat_http_header(&r, "X-Dupe") == NULL);
    CHECK(moat_http_header(&r, "") == NULL);
    CHECK(moat_http_header(&r, NULL) == NULL);
    CHECK(moat_http_header(NULL, "host") == NULL);
}

static void test_token_lists(void)
{
    moat_http_request r;
    EXPECT_OK("GET / HTTP/1.1\r\nHost: h\r\n"
              "Connection: keep-alive, Upgrade\r\n"
              "A: ,, x ,\t,y;q=1 ,\"z,w\" , v ; p=\"1,2\"\r\n"
              "A: second\r\n"
              "B: upgraded, Xupgrade, up grade\r\n"
              "C:\r\n"
              "D: \"q\\\",x\", tail\r\n\r\n",
              &r);
    CHECK(moat_http_header_has_token(&r, "connection", "upgrade"));
    CHECK(moat_http_header_has_token(&r, "CONNECTION", "Keep-Alive"));
    CHECK(!moat_http_header_has_token(&r, "connection", "close"));
    CHECK(!moat_http_header_has_token(&r, "connection", "keep"));
    CHECK(!moat_http_header_has_token(&r, "connection", "keep-alive, Upgrade"));
    CHECK(moat_http_header_has_token(&r, "a", "x"));
    CHECK(moat_http_header_has_token(&r, "a", "y")); /* parameters are not the token */
    CHECK(moat_http_header_has_token(&r, "a", "v"));
    CHECK(moat_http_header_has_token(&r, "a", "\"z,w\"")); /* quoted commas do not split */
    CHECK(!moat_http_header_has_token(&r, "a", "w\""));
    CHECK(!moat_http_header_has_token(&r, "a", "2\""));
    CHECK(moat_http_header_has_token(&r, "a", "second")); /* every line counts */
    CHECK(!moat_http_header_has_token(&r, "a", ""));
    CHECK(!moat_http_header_has_token(&r, "b", "upgrade"));
    CHECK(!moat_http_header_has_token(&r, "c", ""));
    CHECK(moat_http_header_has_token(&r, "d", "tail")); /* an escaped quote stays quoted */
    CHECK(!moat_http_header_has_token(&r, "d", "x\""));
    CHECK(moat_http_header_has_token(&r, "d", "\"q\\\",x\""));
    CHECK(!moat_http_header_has_token(&r, "missing", "x"));
    CHECK(!moat_http_header_has_token(&r, NULL, "x"));
    CHECK(!moat_http_header_has_token(&r, "a", NULL));
    CHECK(!moat_http_header_has_token(NULL, "a", "x"));
}

static void test_str_eq_reason(void)
{
    moat_http_str s = {"Upgrade", 7};
    CHECK(moat_http_str_eq(s, "upgrade"));
    CHECK(moat_http_str_eq(s, "UPGRADE"));
    CHECK(!moat_http_str_eq(s, "upgrad"));
    CHECK(!moat_http_str_eq(s, "upgrades"));
    CHECK(!moat_http_str_eq(s, NULL));
    CHECK(moat_http_str_eq((moat_http_str){NULL, 0}, ""));
    CHECK(!moat_http_str_eq((moat_http_str){"@[", 2}, "`{")); /* only letters fold */
    CHECK(!moat_http_str_eq((moat_http_str){"\xc9", 1}, "\xe9"));

    CHECK_STR(moat_http_reason(101), "Switching Protocols");
    CHECK_STR(moat_http_reason(200), "OK");
    CHECK_STR(moat_http_reason(400), "Bad Request");
    CHECK_STR(moat_http_reason(404), "Not Found");
    CHECK_STR(moat_http_reason(414), "URI Too Long");
    CHECK_STR(moat_http_reason(426), "Upgrade Required");
    CHECK_STR(moat_http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(moat_http_reason(501), "Not Implemented");
    CHECK_STR(moat_http_reason(505), "HTTP Version Not Supported");
    CHECK_STR(moat_http_reason(0), "");
    CHECK_STR(moat_http_reason(299), "");
    CHECK_STR(moat_http_reason(-1), "");
}

static void test_arguments(void)
{
    moat_http_request r;
    static const uint8_t h[] = "GET / HTTP/1.0\r\n\r\n";
    CHECK_EQ(moat_http_parse_request(h, sizeof h - 1, BIG, &r, NULL, NULL), MOAT_OK);
    CHECK_EQ(moat_http_parse_request(h, 4, BIG, &r, NULL, NULL), MOAT_ENEEDMORE);
    CHECK_EQ(moat_http_parse_request(h, sizeof h - 1, 3, &r, NULL, NULL), MOAT_ETOOLARGE);
    int st = 0;
    const char *why = NULL;
    CHECK_EQ(moat_http_parse_request(h, sizeof h - 1, BIG, NULL, &st, &why), MOAT_EINVAL);
    CHECK(st != 0 && why != NULL);
    CHECK_EQ(moat_http_parse_request(NULL, 5, BIG, &r, &st, &why), MOAT_EINVAL);
    /* The refusal names its reason. */
    static const uint8_t bad[] = "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n";
    CHECK_EQ(moat_http_parse_request(bad, sizeof bad - 1, BIG, &r, &st, &why), MOAT_EMALFORMED);
    CHECK_EQ(st, 400);
    CHECK_STR(why, "header line without a colon");
    /* Bytes after the head are never looked at, whatever they are. */
    static const uint8_t after[] = "GET / HTTP/1.0\r\n\r\n\x00\xff\r\r";
    CHECK_EQ(moat_http_parse_request(after, sizeof after - 1, BIG, &r, &st, &why), MOAT_OK);
    CHECK_EQ(r.head_len, 18);
}

/* ------------------------------------------------------------ responses */

static moat_err parse_resp_n(const char *s, size_t n, size_t max_head, moat_http_response *r)
{
    const char *why = NULL;
    moat_err e = moat_http_parse_response((const uint8_t *)s, n, max_head, r, &why);
    CHECK(why != NULL);
    if (e == MOAT_OK || e == MOAT_ENEEDMORE)
        CHECK(why && why[0] == '\0');
    else
        CHECK(why && why[0] != '\0');
    return e;
}

/* Every proper prefix asks for more; the whole gives the head. */
static void check_resp_splits(const char *s, moat_http_response *full)
{
    size_t n = strlen(s), bad = 0;
    moat_http_response r;
    CHECK_EQ(parse_resp_n(s, n, BIG, full), MOAT_OK);
    for (size_t i = 0; i < full->head_len; i++)
        bad += parse_resp_n(s, i, BIG, &r) != MOAT_ENEEDMORE;
    CHECK_EQ(bad, 0);
}

/* Refused whole, and every prefix incomplete or refused the same way. */
static void expect_resp_refused(const char *s, moat_err want, const char *want_why)
{
    size_t n = strlen(s), bad = 0;
    moat_http_response r;
    const char *why = NULL;
    CHECK_EQ(moat_http_parse_response((const uint8_t *)s, n, BIG, &r, &why), want);
    if (want_why && strcmp(why, want_why) != 0) {
        fprintf(stderr, "  refusal of %.20s: \"%s\", expected \"%s\"\n", s, why, want_why);
        CHECK(0);
    }
    bool refused = false;
    for (size_t i = 0; i <= n; i++) {
        moat_err e = parse_resp_n(s, i, BIG, &r);
        if (e == MOAT_ENEEDMORE) {
            bad += refused;
            continue;
        }
        refused = true;
        bad += e != want;
    }
    CHECK_EQ(bad, 0);
}

static void test_response_upgrade(void)
{
    /* What moat's wss listener answers (ws/ws.c). */
    static const char up[] = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                             "Sec-WebSocket-Protocol: mqtt\r\n"
                             "\r\n"
                             "\x82\x05\x20\x03\x00\x00\x00";
    moat_http_response r;
    check_resp_splits(up, &r);
    CHECK_EQ(r.status, 101);
    CHECK(str_is(r.reason, "Switching Protocols"));
    CHECK_EQ(r.version_minor, 1);
    CHECK_EQ(r.n_headers, 4);
    CHECK_EQ(r.head_len, sizeof up - 1 - 7);
    const moat_http_str *v = moat_http_response_header(&r, "sec-websocket-protocol");
    CHECK(v && str_is(*v, "mqtt"));
    CHECK(moat_http_response_has_token(&r, "Connection", "upgrade"));
    CHECK(!moat_http_response_has_token(&r, "Connection", "close"));
    CHECK(moat_http_response_header(&r, "Content-Length") == NULL);
    CHECK_EQ(r.content_length, -1);
}

static void test_response_forms(void)
{
    moat_http_response r;
    check_resp_splits("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello world\n",
                      &r);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.content_length, 12);
    CHECK(r.keep_alive && !r.chunked);
    /* No reason phrase, with or without the space; bare LF. */
    check_resp_splits("HTTP/1.1 204\r\n\r\n", &r);
    CHECK(r.status == 204 && r.reason.len == 0);
    check_resp_splits("HTTP/1.1 404 \nConnection: close\n\n", &r);
    CHECK(r.status == 404 && r.reason.len == 0 && !r.keep_alive);
    /* HTTP/1.0: closes unless keep-alive. */
    check_resp_splits("HTTP/1.0 403 Forbidden\r\n\r\n", &r);
    CHECK(r.version_minor == 0 && !r.keep_alive && str_is(r.reason, "Forbidden"));
    check_resp_splits("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", &r);
    CHECK(r.keep_alive);
    /* Chunked, and a reason phrase with blanks and obs-text. */
    check_resp_splits(
        "HTTP/1.1 500 Internal \xe9rror  \r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r);
    CHECK(r.chunked && r.content_length == -1 && str_is(r.reason, "Internal \xe9rror"));
    /* Not chunked last: the body runs to the close, still a valid head. */
    check_resp_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &r);
    CHECK(!r.chunked);
    /* Two Set-Cookie lines, no Host needed. */
    check_resp_splits("HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=1\r\nSet-Cookie: "
                      "b=2\r\n\r\n",
                      &r);
    CHECK_EQ(r.n_headers, 3);
}

static void test_response_refused(void)
{
    expect_resp_refused("SSH-2.0-OpenSSH_9.2\r\n", MOAT_EMALFORMED,
                        "response does not start with HTTP/1.x");
    expect_resp_refused("\x20\x03\x00\x00\x00", MOAT_EMALFORMED, NULL); /* a CONNACK */
    expect_resp_refused("HTTP/2.0 200 OK\r\n\r\n", MOAT_EMALFORMED, "HTTP version other than 1.x");
    expect_resp_refused("HTTP/1.1  200 OK\r\n\r\n", MOAT_EMALFORMED,
                        "status code is not three digits");
    expect_resp_refused("HTTP/1.1 20 OK\r\n\r\n", MOAT_EMALFORMED,
                        "status code is not three digits");
    expect_resp_refused("HTTP/1.1 2000 OK\r\n\r\n", MOAT_EMALFORMED,
                        "status code is not three digits");
    expect_resp_refused("HTTP/1.1 099 Odd\r\n\r\n", MOAT_EMALFORMED, "status code below 100");
    expect_resp_refused("HTTP/1.1 200 O\x01K\r\n\r\n", MOAT_EMALFORMED,
                        "control byte in the reason phrase");
    expect_resp_refused("HTTP/1.1 200 OK\rX\r\n\r\n", MOAT_EMALFORMED, "CR not followed by LF");
    expect_resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: "
                        "chunked\r\n\r\n",
                        MOAT_EMALFORMED, "both Content-Length and Transfer-Encoding");
    expect_resp_refused("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                        MOAT_EMALFORMED, "conflicting Content-Length values");
    expect_resp_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                        MOAT_EMALFORMED, "chunked applied more than once or not last");
    expect_resp_refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", MOAT_EMALFORMED,
                        "Transfer-Encoding in an HTTP/1.0 response");
    expect_resp_refused("HTTP/1.1 200 OK\r\nBad(Name): x\r\n\r\n", MOAT_EMALFORMED,
                        "invalid byte in a header name");
    expect_resp_refused("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", MOAT_EMALFORMED,
                        "obsolete line folding");
}

static void test_response_limits(void)
{
    moat_http_response r;
    const char *why = NULL;
    static const char h[] = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
    CHECK_EQ(moat_http_parse_response((const uint8_t *)h, sizeof h - 1, sizeof h - 1, &r, &why),
             MOAT_OK);
    CHECK_EQ(moat_http_parse_response((const uint8_t *)h, sizeof h - 1, sizeof h - 2, &r, &why),
             MOAT_ETOOLARGE);
    CHECK_STR(why, "response head larger than the limit");
    /* One header line too many. */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= MOAT_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(big + n, sizeof big - n, "\r\n");
    CHECK_EQ(moat_http_parse_response((const uint8_t *)big, n, BIG, &r, &why), MOAT_ETOOLARGE);
    CHECK_STR(why, "too many header fields");
    CHECK_EQ(moat_http_parse_response(NULL, 3, BIG, &r, &why), MOAT_EINVAL);
    CHECK_EQ(moat_http_parse_response((const uint8_t *)h, 3, BIG, NULL, &why), MOAT_EINVAL);
    CHECK_EQ(moat_http_parse_response((const uint8_t *)h, 0, BIG, &r, NULL), MOAT_ENEEDMORE);
    CHECK(moat_http_response_header(NULL, "a") == NULL);
    CHECK(!moat_http_response_has_token(&r, "a", ""));
}

int main(void)
{
    TEST(test_browser_upgrade);
    TEST(test_curl);
    TEST(test_http10);
    TEST(test_bare_lf);
    TEST(test_leading_empty_lines);
    TEST(test_targets);
    TEST(test_refuse_request_line);
    TEST(test_refuse_headers);
    TEST(test_early_refusal);
    TEST(test_content_length);
    TEST(test_transfer_encoding);
    TEST(test_limits);
    TEST(test_header_lookup);
    TEST(test_token_lists);
    TEST(test_str_eq_reason);
    TEST(test_arguments);
    TEST(test_response_upgrade);
    TEST(test_response_forms);
    TEST(test_response_refused);
    TEST(test_response_limits);
    return test_summary("http");
}
