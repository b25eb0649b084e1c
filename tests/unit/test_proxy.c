/* SPDX-License-Identifier: Apache-2.0 */
/* PROXY protocol v1 and v2 and CIDR lists: the spec's own examples, headers
 * built byte by byte as HAProxy emits them (send-proxy-v2-ssl-cn), every
 * malformation, CRC32C, truncation at every offset (always MOAT_ENEEDMORE),
 * application bytes after the header left alone, sniffing, and CIDR parsing
 * and matching including IPv4-mapped peers and /0. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "proxy/proxy.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

static const uint8_t SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v2 header under construction. */
typedef struct hb {
    uint8_t b[16 + 65535 + 64];
    size_t n;
} hb;

static void put(hb *h, const void *p, size_t n)
{
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void put8(hb *h, uint8_t v)
{
    h->b[h->n++] = v;
}

static void put16(hb *h, uint16_t v)
{
    put8(h, (uint8_t)(v >> 8));
    put8(h, (uint8_t)v);
}

static void put32(hb *h, uint32_t v)
{
    put16(h, (uint16_t)(v >> 16));
    put16(h, (uint16_t)v);
}

static void set16(hb *h, size_t at, size_t v)
{
    h->b[at] = (uint8_t)(v >> 8);
    h->b[at + 1] = (uint8_t)v;
}

static void v2_begin(hb *h, uint8_t ver_cmd, uint8_t fam)
{
    h->n = 0;
    put(h, SIG, sizeof SIG);
    put8(h, ver_cmd);
    put8(h, fam);
    put16(h, 0); /* v2_end fills it */
}

/* 192.0.2.1:56324 -> 198.51.100.7:8883 */
static void v2_addr4(hb *h)
{
    static const uint8_t a[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x22, 0xB3};
    put(h, a, sizeof a);
}

/* [2001:db8::1]:1234 -> [2001:db8::2]:8883 */
static void v2_addr6(hb *h)
{
    uint8_t a[36] = {0};
    a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = 1;
    a[16] = 0x20, a[17] = 0x01, a[18] = 0x0d, a[19] = 0xb8, a[31] = 2;
    a[32] = 0x04, a[33] = 0xD2, a[34] = 0x22, a[35] = 0xB3;
    put(h, a, sizeof a);
}

static void v2_end(hb *h)
{
    set16(h, 14, h->n - 16);
}

static void tlv(hb *h, uint8_t type, const void *v, size_t n)
{
    put8(h, type);
    put16(h, (uint16_t)n);
    put(h, v, n);
}

static void tlv_str(hb *h, uint8_t type, const char *s)
{
    tlv(h, type, s, strlen(s));
}

/* Open a TLV whose length is known later (SSL); returns where it starts. */
static size_t tlv_open(hb *h, uint8_t type)
{
    size_t at = h->n;
    put8(h, type);
    put16(h, 0);
    return at;
}

static void tlv_close(hb *h, size_t at)
{
    set16(h, at + 1, h->n - at - 3);
}

/* A zeroed CRC32C TLV; returns the offset of its value. */
static size_t tlv_crc(hb *h)
{
    put8(h, 0x03);
    put16(h, 4);
    size_t at = h->n;
    put32(h, 0);
    return at;
}

static void crc_fill(hb *h, size_t at)
{
    memset(h->b + at, 0, 4);
    uint32_t c = moat_proxy_crc32c(h->b, h->n);
    h->b[at] = (uint8_t)(c >> 24);
    h->b[at + 1] = (uint8_t)(c >> 16);
    h->b[at + 2] = (uint8_t)(c >> 8);
    h->b[at + 3] = (uint8_t)c;
}

static moat_err parse(const void *p, size_t n, size_t *used, moat_proxy_info *info)
{
    const char *why = NULL;
    moat_err e = moat_proxy_parse(p, n, used, info, &why);
    /* Every refusal explains itself; nothing else does. */
    CHECK((e == MOAT_EMALFORMED) == (why != NULL));
    return e;
}

static moat_err parse_str(const char *s, size_t *used, moat_proxy_info *info)
{
    return parse(s, strlen(s), used, info);
}

/* Every proper prefix asks for more; the whole parses to *used == n. */
static void check_prefixes(const uint8_t *d, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        moat_proxy_info info;
        size_t used = 99;
        if (parse(d, i, &used, &info) != MOAT_ENEEDMORE || used != 0)
            bad++;
    }
    CHECK_EQ(bad, 0);
}

static bool addr_is(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    char buf[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        return inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) && strcmp(buf, ip) == 0 &&
               ntohs(in->sin_port) == port;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        return inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf) && strcmp(buf, ip) == 0 &&
               ntohs(in6->sin6_port) == port;
    }
    return false;
}

#define EXPECT_V1_BAD(s)                                                                           \
    do {                                                                                           \
        moat_proxy_info i_;                                                                        \
        size_t u_ = 0;                                                                             \
        CHECK_EQ(parse_str(s, &u_, &i_), MOAT_EMALFORMED);                                         \
    } while (0)

static moat_err parse_hb(const hb *h, moat_proxy_info *info)
{
    size_t used = 0;
    moat_err e = parse(h->b, h->n, &used, info);
    if (e == MOAT_OK)
        CHECK_EQ(used, h->n);
    return e;
}

/* ------------------------------------------------------------ CRC32C */

static void test_crc32c(void)
{
    CHECK_EQ(moat_proxy_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
    CHECK_EQ(moat_proxy_crc32c(NULL, 0), 0u);
    uint8_t z[32] = {0};
    CHECK_EQ(moat_proxy_crc32c(z, sizeof z), 0x8A9136AAu); /* RFC 3720 B.4 */
}

/* ------------------------------------------------------------ v1 */

static void test_v1_tcp4(void)
{
    const char *s = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
    size_t hl = strlen("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    moat_proxy_info info;
    size_t used = 0;
    CHECK_EQ(parse_str(s, &used, &info), MOAT_OK);
    CHECK_EQ(used, hl);
    CHECK_EQ(info.version, 1);
    CHECK(!info.local);
    CHECK(addr_is(&info.src, "192.168.0.1", 56324));
    CHECK(addr_is(&info.dst, "192.168.0.11", 443));
    CHECK(!info.has_ssl);
    CHECK_STR(info.ssl_cn, "");
    check_prefixes((const uint8_t *)s, hl);

    CHECK_EQ(parse_str("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", &used, &info), MOAT_OK);
    CHECK(addr_is(&info.src, "255.255.255.255", 65535));
    CHECK(addr_is(&info.dst, "0.0.0.0", 0));
    CHECK_EQ(used, 44);
}

static void test_v1_tcp6(void)
{
    const char *s = "PROXY TCP6 2001:db8::1 ::1 1234 8883\r\n\x10";
    moat_proxy_info info;
    size_t used = 0;
    CHECK_EQ(parse_str(s, &used, &info), MOAT_OK);
    CHECK_EQ(used, strlen(s) - 1);
    CHECK(addr_is(&info.src, "2001:db8::1", 1234));
    CHECK(addr_is(&info.dst, "::1", 8883));
    check_prefixes((const uint8_t *)s, used);

    /* Full form, upper case, and an IPv4-mapped address are all IPv6. */
    CHECK_EQ(parse_str("PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::ffff:10.1.2.3 1 "
                       "2\r\n",
                       &used, &info),
             MOAT_OK);
    CHECK(addr_is(&info.src, "2001:db8::1", 1));
    CHECK(addr_is(&info.dst, "::ffff:10.1.2.3", 2));

    /* The spec's longest TCP6 line: 104 bytes. */
    const char *mx = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    CHECK_EQ(strlen(mx), 104);
    CHECK_EQ(parse_str(mx, &used, &info), MOAT_OK);
    CHECK_EQ(used, 104);
}

static void test_v1_unknown(void)
{
    moat_proxy_info info;
    size_t used = 0;
    CHECK_EQ(parse_str("PROXY UNKNOWN\r\nX", &used, &info), MOAT_OK);
    CHECK_EQ(used, 15);
    CHECK_EQ(info.version, 1);
    CHECK(info.local);
    CHECK_EQ(info.src.ss_family, 0);

    /* The worst case of the spec, exactly 107 bytes: the rest is ignored. */
    char line[128];
    snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 65535\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK_EQ(strlen(line), 107);
    CHECK_EQ(parse_str(line, &used, &info), MOAT_OK);
    CHECK_EQ(used, 107);
    CHECK(info.local);
    check_prefixes((const uint8_t *)line, 107);
    CHECK_EQ(parse_str("PROXY UNKNOWN whatever  it says\r\n", &used, &info), MOAT_OK);
}

static void test_v1_malformed(void)
{
    /* addresses */
    EXPECT_V1_BAD("PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 256.1.1.1 192.168.0.11 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3 192.168.0.11 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4.5 192.168.0.11 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 0x1.2.3.4 192.168.0.11 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 ::1 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP6 1.2.3.4 ::1 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP6 ::1 2001:db8::g 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 56324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP6 fe80::1%eth0 ::1 56324 443\r\n");
    /* ports */
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 056324 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 00 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 100000 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 +1 443\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1a 443\r\n");
    /* spaces and fields */
    EXPECT_V1_BAD("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
    EXPECT_V1_BAD("PROXY TCP4\r\n");
    EXPECT_V1_BAD("PROXY TCP4 \r\n");
    /* protocol keyword */
    EXPECT_V1_BAD("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXY UNKNOWNX\r\n");
    EXPECT_V1_BAD("PROXY \r\n");
    EXPECT_V1_BAD("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    EXPECT_V1_BAD("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    /* line endings and bytes */
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX");
    EXPECT_V1_BAD("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n");
    EXPECT_V1_BAD("PROXY UNKNOWN \x01\r\n");
    EXPECT_V1_BAD("PROXY UNKNOWN \xC3\xA9\r\n");
    {
        static const uint8_t nul[] = "PROXY UNKNOWN \0\r\n";
        moat_proxy_info info;
        size_t used;
        CHECK_EQ(parse(nul, sizeof nul - 1, &used, &info), MOAT_EMALFORMED);
    }
    /* an early verdict: no need to wait for the CRLF */
    moat_proxy_info info;
    size_t used;
    CHECK_EQ(parse_str("PROXY TCP9", &used, &info), MOAT_EMALFORMED);
    CHECK_EQ(parse_str("PROXY TCP4 1.2.3.4", &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse_str("PROXY UNKNOWN", &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse_str("PROXY UNKNOWN\r", &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse_str("GET / HTTP/1.1\r\n", &used, &info), MOAT_EMALFORMED);
    CHECK_EQ(parse_str("\x10\x0c", &used, &info), MOAT_EMALFORMED); /* an MQTT CONNECT */
}

static void test_v1_length(void)
{
    moat_proxy_info info;
    size_t used;
    char line[256];
    /* 106 bytes without CRLF: more may come; 107 without: refused. */
    memset(line, 0, sizeof line);
    memcpy(line, "PROXY UNKNOWN ", 14);
    memset(line + 14, 'a', 107 - 14);
    CHECK_EQ(parse(line, 106, &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse(line, 107, &used, &info), MOAT_EMALFORMED);
    CHECK_EQ(parse(line, 200, &used, &info), MOAT_EMALFORMED);
    /* CR as the 107th byte: its LF would be the 108th. */
    line[106] = '\r';
    line[107] = '\n';
    CHECK_EQ(parse(line, 106, &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse(line, 107, &used, &info), MOAT_EMALFORMED);
    CHECK_EQ(parse(line, 108, &used, &info), MOAT_EMALFORMED);
    /* CRLF as bytes 106 and 107: the longest line. */
    line[105] = '\r';
    line[106] = '\n';
    CHECK_EQ(parse(line, 107, &used, &info), MOAT_OK);
    CHECK_EQ(used, 107);
    CHECK_EQ(parse(line, 105, &used, &info), MOAT_ENEEDMORE);
}

/* ------------------------------------------------------------ v2 */

static void test_v2_ipv4(void)
{
    hb *h = malloc(sizeof *h);
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    v2_end(h);
    CHECK_EQ(h->n, 28);
    moat_proxy_info info;
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK_EQ(info.version, 2);
    CHECK(!info.local);
    CHECK(addr_is(&info.src, "192.0.2.1", 56324));
    CHECK(addr_is(&info.dst, "198.51.100.7", 8883));
    CHECK(!info.has_ssl);
    check_prefixes(h->b, h->n);

    /* Application bytes after the header stay unconsumed. */
    put(h, "\x10\x0c\x00\x04MQTT", 8);
    size_t used = 0;
    CHECK_EQ(parse(h->b, h->n, &used, &info), MOAT_OK);
    CHECK_EQ(used, 28);
    /* Even bytes that look like another header. */
    h->n = 28;
    put(h, SIG, sizeof SIG);
    CHECK_EQ(parse(h->b, h->n, &used, &info), MOAT_OK);
    CHECK_EQ(used, 28);
    free(h);
}

static void test_v2_ipv6(void)
{
    hb *h = malloc(sizeof *h);
    v2_begin(h, 0x21, 0x21);
    v2_addr6(h);
    v2_end(h);
    CHECK_EQ(h->n, 52);
    moat_proxy_info info;
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK(addr_is(&info.src, "2001:db8::1", 1234));
    CHECK(addr_is(&info.dst, "2001:db8::2", 8883));
    check_prefixes(h->b, h->n);
    free(h);
}

static void test_v2_local(void)
{
    hb *h = malloc(sizeof *h);
    moat_proxy_info info;
    /* HAProxy's health check: LOCAL, UNSPEC, no address. */
    v2_begin(h, 0x20, 0x00);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK(info.local);
    CHECK_EQ(info.version, 2);
    CHECK_EQ(info.src.ss_family, 0);
    check_prefixes(h->b, h->n);

    /* LOCAL with addresses: they are skipped, not reported. */
    v2_begin(h, 0x20, 0x11);
    v2_addr4(h);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK(info.local);
    CHECK_EQ(info.src.ss_family, 0);

    /* LOCAL with a UNIX or unknown family, even a block too short for it. */
    v2_begin(h, 0x20, 0x31);
    for (int i = 0; i < 216; i++)
        put8(h, 'u');
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    v2_begin(h, 0x20, 0xFF);
    put(h, "\x01\x02\x03", 3);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK(info.local);
    v2_begin(h, 0x20, 0x21);
    put(h, "\x01\x02\x03", 3);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);

    /* LOCAL with TLVs behind a known block: checked (and reported). */
    v2_begin(h, 0x20, 0x00);
    size_t crc = tlv_crc(h);
    tlv_str(h, 0x02, "broker.example");
    v2_end(h);
    crc_fill(h, crc);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK_STR(info.authority, "broker.example");
    h->b[crc] ^= 1;
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    free(h);
}

static void test_v2_refused(void)
{
    hb *h = malloc(sizeof *h);
    moat_proxy_info info;
    static const struct {
        uint8_t vc, fam;
    } bad[] = {
        {0x11, 0x11}, /* version 1 */
        {0x31, 0x11}, /* version 3 */
        {0x22, 0x11}, /* command 2 */
        {0x2F, 0x11}, /* command 15 */
        {0x21, 0x00}, /* PROXY with UNSPEC */
        {0x21, 0x12}, /* UDP4 */
        {0x21, 0x22}, /* UDP6 */
        {0x21, 0x31}, /* UNIX stream */
        {0x21, 0x32}, /* UNIX dgram */
        {0x21, 0x13}, /* unknown protocol */
        {0x21, 0x41}, /* unknown family */
        {0x21, 0x01}, /* UNSPEC family, STREAM */
        {0x21, 0x10}, /* INET, UNSPEC protocol */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v2_begin(h, bad[i].vc, bad[i].fam);
        for (int k = 0; k < 216; k++)
            put8(h, 0);
        v2_end(h);
        CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
        /* Refused as soon as the byte is seen. */
        size_t used;
        CHECK_EQ(
            parse(h->b, (bad[i].vc & 0xF0) != 0x20 || (bad[i].vc & 0x0E) ? 13 : 14, &used, &info),
            MOAT_EMALFORMED);
    }
    /* Address block shorter than the family needs: refused from the length. */
    v2_begin(h, 0x21, 0x11);
    put(h, "\0\0\0\0\0\0\0\0\0\0\0", 11);
    v2_end(h);
    size_t used;
    CHECK_EQ(parse(h->b, 16, &used, &info), MOAT_EMALFORMED);
    v2_begin(h, 0x21, 0x21);
    v2_addr4(h);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    /* A damaged signature. */
    for (size_t i = 0; i < 12; i++) {
        v2_begin(h, 0x21, 0x11);
        v2_addr4(h);
        v2_end(h);
        h->b[i] ^= 0x40;
        CHECK_EQ(parse(h->b, i + 1, &used, &info), MOAT_EMALFORMED);
        CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    }
    free(h);
}

/* What HAProxy emits with "send-proxy-v2-ssl-cn" (plus crc32c and an
 * authority): CRC32C, AUTHORITY, then SSL with client bits SSL|CERT_CONN|
 * CERT_SESS, verify 0, and the VERSION, CN and CIPHER sub-TLVs. */
static size_t build_ssl(hb *h, const char *cn)
{
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    size_t crc = tlv_crc(h);
    tlv_str(h, 0x01, "mqtt");
    tlv_str(h, 0x02, "broker.example.com");
    size_t ssl = tlv_open(h, 0x20);
    put8(h, 0x07);
    put32(h, 0);
    tlv_str(h, 0x21, "TLSv1.3");
    tlv_str(h, 0x22, cn);
    tlv_str(h, 0x24, "RSA-SHA256");
    tlv_str(h, 0x25, "RSA2048");
    tlv_str(h, 0x23, "TLS_AES_256_GCM_SHA384");
    tlv_close(h, ssl);
    tlv_str(h, 0x05, "unique-id-42");
    tlv(h, 0x04, "\0\0\0", 3);
    tlv_str(h, 0x30, "ns1");
    tlv_str(h, 0xE0, "custom");
    v2_end(h);
    crc_fill(h, crc);
    return crc;
}

static void test_v2_ssl(void)
{
    hb *h = malloc(sizeof *h);
    moat_proxy_info info;
    build_ssl(h, "client-7");
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK(addr_is(&info.src, "192.0.2.1", 56324));
    CHECK(info.has_ssl);
    CHECK_EQ(info.ssl_client,
             MOAT_PP2_CLIENT_SSL | MOAT_PP2_CLIENT_CERT_CONN | MOAT_PP2_CLIENT_CERT_SESS);
    CHECK_EQ(info.ssl_verify, 0);
    CHECK_STR(info.ssl_version, "TLSv1.3");
    CHECK_STR(info.ssl_cn, "client-7");
    CHECK_STR(info.ssl_cipher, "TLS_AES_256_GCM_SHA384");
    CHECK_STR(info.authority, "broker.example.com");
    check_prefixes(h->b, h->n);

    /* A UTF-8 CN is fine. */
    build_ssl(h, "J\xC3\xBCrgen \xE2\x82\xAC \xF0\x9F\x94\x92");
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK_STR(info.ssl_cn, "J\xC3\xBCrgen \xE2\x82\xAC \xF0\x9F\x94\x92");

    /* The bare minimum: SSL without client certificate, verify nonzero. */
    v2_begin(h, 0x21, 0x21);
    v2_addr6(h);
    size_t ssl = tlv_open(h, 0x20);
    put8(h, 0x01);
    put32(h, 0x12345678);
    tlv_close(h, ssl);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK(info.has_ssl);
    CHECK_EQ(info.ssl_client, MOAT_PP2_CLIENT_SSL);
    CHECK_EQ(info.ssl_verify, 0x12345678u);
    CHECK_STR(info.ssl_cn, "");
    CHECK_STR(info.ssl_version, "");
    free(h);
}

static void test_v2_crc(void)
{
    hb *h = malloc(sizeof *h);
    moat_proxy_info info;
    size_t crc = build_ssl(h, "client-7");
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    /* Any flipped bit anywhere in the header is caught. */
    size_t missed = 0;
    for (size_t i = 16; i < h->n; i++) {
        h->b[i] ^= 0x01;
        if (parse_hb(h, &info) != MOAT_EMALFORMED)
            missed++;
        h->b[i] ^= 0x01;
    }
    CHECK_EQ(missed, 0);
    h->b[crc + 3] ^= 0x80;
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    h->b[crc + 3] ^= 0x80;
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);

    /* A CRC over a header with a CRC TLV last, and one of bad length. */
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    crc = tlv_crc(h);
    v2_end(h);
    crc_fill(h, crc);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    tlv(h, 0x03, "\0\0\0", 3);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    /* Two CRC TLVs, both right for a header with the other zeroed: refused. */
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    tlv_crc(h);
    tlv_crc(h);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    free(h);
}

static void test_v2_tlv_bounds(void)
{
    hb *h = malloc(sizeof *h);
    moat_proxy_info info;
    /* One or two stray bytes after the last TLV. */
    for (int stray = 1; stray <= 2; stray++) {
        v2_begin(h, 0x21, 0x11);
        v2_addr4(h);
        tlv_str(h, 0x04, "pad");
        put(h, "\x04\x00", (size_t)stray);
        v2_end(h);
        CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    }
    /* A TLV longer than what is left of the header. */
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    put8(h, 0x04);
    put16(h, 5);
    put(h, "abcd", 4);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    /* The same bytes with the header length covering one byte more: OK. */
    put8(h, 'e');
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);

    /* SSL: shorter than client+verify, sub-TLV past the SSL TLV (though
     * inside the header), stray sub-TLV bytes. */
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    tlv(h, 0x20, "\x01\0\0\0", 4);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    size_t ssl = tlv_open(h, 0x20);
    put8(h, 0x01);
    put32(h, 0);
    put8(h, 0x22);
    put16(h, 4);
    put(h, "ab", 2);
    tlv_close(h, ssl);
    put(h, "cd", 2);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    ssl = tlv_open(h, 0x20);
    put8(h, 0x01);
    put32(h, 0);
    put8(h, 0x22);
    tlv_close(h, ssl);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    free(h);
}

/* One TLV (or an SSL TLV holding one sub-TLV) and the verdict. */
static moat_err one_tlv(uint8_t type, bool in_ssl, const void *v, size_t n)
{
    static hb h;
    moat_proxy_info info;
    v2_begin(&h, 0x21, 0x11);
    v2_addr4(&h);
    if (in_ssl) {
        size_t ssl = tlv_open(&h, 0x20);
        put8(&h, 0x07);
        put32(&h, 0);
        tlv(&h, type, v, n);
        tlv_close(&h, ssl);
    } else {
        tlv(&h, type, v, n);
    }
    v2_end(&h);
    return parse_hb(&h, &info);
}

static void test_v2_values(void)
{
    char big[300];
    memset(big, 'a', sizeof big);
    /* Lengths: fields hold 31, 255, 63 and 255 bytes plus the NUL. */
    CHECK_EQ(one_tlv(0x21, true, big, 31), MOAT_OK);
    CHECK_EQ(one_tlv(0x21, true, big, 32), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x22, true, big, 255), MOAT_OK);
    CHECK_EQ(one_tlv(0x22, true, big, 256), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x23, true, big, 63), MOAT_OK);
    CHECK_EQ(one_tlv(0x23, true, big, 64), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x02, false, big, 255), MOAT_OK);
    CHECK_EQ(one_tlv(0x02, false, big, 256), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x05, false, big, 128), MOAT_OK);
    CHECK_EQ(one_tlv(0x05, false, big, 129), MOAT_EMALFORMED);
    /* Values we do not keep may be long. */
    CHECK_EQ(one_tlv(0x24, true, big, 300), MOAT_OK);
    CHECK_EQ(one_tlv(0x01, false, big, 300), MOAT_OK);
    CHECK_EQ(one_tlv(0xF0, false, big, 300), MOAT_OK);
    CHECK_EQ(one_tlv(0x22, true, "", 0), MOAT_OK);
    /* Content: no NUL, no controls; ASCII for version and cipher. */
    CHECK_EQ(one_tlv(0x22, true, "a\0b", 3), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x22, true, "a\nb", 3), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x22, true, "a\x7f", 2), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x22, true, "a\xC2\x85", 3), MOAT_EMALFORMED); /* C1 NEL */
    CHECK_EQ(one_tlv(0x22, true, "\xC3", 1), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x22, true, "\xC0\xAF", 2), MOAT_EMALFORMED);         /* overlong */
    CHECK_EQ(one_tlv(0x22, true, "\xED\xA0\x80", 3), MOAT_EMALFORMED);     /* surrogate */
    CHECK_EQ(one_tlv(0x22, true, "\xF4\x90\x80\x80", 4), MOAT_EMALFORMED); /* > U+10FFFF */
    CHECK_EQ(one_tlv(0x22, true, "\xFF", 1), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x22, true, "\xC3\xA9", 2), MOAT_OK);
    CHECK_EQ(one_tlv(0x21, true, "TLSv1.\xC3\xA9", 8), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x23, true, "AES\t", 4), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x02, false, "host\0", 5), MOAT_EMALFORMED);
    CHECK_EQ(one_tlv(0x02, false, "h\xC3\xB6st", 5), MOAT_OK);

    /* Repeated TLVs we read are refused. */
    hb *h = malloc(sizeof *h);
    moat_proxy_info info;
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    tlv_str(h, 0x02, "a");
    tlv_str(h, 0x02, "b");
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    size_t ssl = tlv_open(h, 0x20);
    put8(h, 0x07);
    put32(h, 0);
    tlv_str(h, 0x22, "alice");
    tlv_str(h, 0x22, "bob");
    tlv_close(h, ssl);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    tlv(h, 0x20, "\x07\0\0\0\0", 5);
    tlv(h, 0x20, "\x07\0\0\0\0", 5);
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_EMALFORMED);
    /* Repeats of the ones we skip are fine. */
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    tlv_str(h, 0x04, "");
    tlv_str(h, 0x04, "");
    tlv_str(h, 0x01, "x");
    tlv_str(h, 0x01, "y");
    v2_end(h);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    free(h);
}

static void test_v2_truncation(void)
{
    hb *h = malloc(sizeof *h);
    build_ssl(h, "client-7");
    check_prefixes(h->b, h->n);
    /* The longest header: ENEEDMORE up to the last byte. */
    v2_begin(h, 0x21, 0x11);
    v2_addr4(h);
    put8(h, 0xF0);
    put16(h, 65535 - 12 - 3);
    memset(h->b + h->n, 'z', 65535 - 12 - 3);
    h->n += 65535 - 12 - 3;
    v2_end(h);
    CHECK_EQ(h->n, MOAT_PROXY_MAX_HEADER);
    moat_proxy_info info;
    size_t used;
    CHECK_EQ(parse(h->b, h->n - 1, &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse(h->b, 16, &used, &info), MOAT_ENEEDMORE);
    CHECK_EQ(parse_hb(h, &info), MOAT_OK);
    CHECK_EQ(parse(h->b, 0, &used, &info), MOAT_ENEEDMORE);
    free(h);
}

/* ------------------------------------------------------------ sniff */

static void test_sniff(void)
{
    CHECK(moat_proxy_sniff((const uint8_t *)"", 0));
    CHECK(moat_proxy_sniff((const uint8_t *)"P", 1));
    CHECK(moat_proxy_sniff((const uint8_t *)"PROX", 4));
    CHECK(moat_proxy_sniff((const uint8_t *)"PROXY ", 6));
    CHECK(moat_proxy_sniff((const uint8_t *)"PROXY TCP4 1.2", 14));
    CHECK(moat_proxy_sniff((const uint8_t *)"PROXY garbage", 13)); /* a sniff, not a parse */
    CHECK(!moat_proxy_sniff((const uint8_t *)"PROXYX", 6));
    CHECK(!moat_proxy_sniff((const uint8_t *)"proxy ", 6));
    CHECK(!moat_proxy_sniff((const uint8_t *)"GET / HTTP/1.1\r\n", 16));
    CHECK(!moat_proxy_sniff((const uint8_t *)"\x10\x0c\x00\x04MQTT", 8));
    CHECK(!moat_proxy_sniff((const uint8_t *)"\x16\x03\x01", 3)); /* TLS ClientHello */
    for (size_t i = 0; i <= 12; i++)
        CHECK(moat_proxy_sniff(SIG, i));
    uint8_t s[20];
    memcpy(s, SIG, 12);
    s[12] = 0x21;
    CHECK(moat_proxy_sniff(s, 13));
    s[11] = 0x0B;
    CHECK(!moat_proxy_sniff(s, 12));
    CHECK(!moat_proxy_sniff(s, 13));
    CHECK(moat_proxy_sniff(s, 11));
    CHECK(moat_proxy_sniff((const uint8_t *)"\r\n\r\n", 4));
    CHECK(!moat_proxy_sniff((const uint8_t *)"\r\n\r\r", 4));
}

/* ------------------------------------------------------------ CIDR */

static struct sockaddr_storage sa(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        CHECK_EQ(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        CHECK_EQ(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    }
    return ss;
}

static bool match(const moat_cidr_list *l, const char *ip)
{
    struct sockaddr_storage ss = sa(ip);
    return moat_cidr_list_match(l, (const struct sockaddr *)&ss);
}

static void test_cidr_parse(void)
{
    moat_cidr_list l;
    char err[128];
    CHECK_EQ(moat_cidr_list_parse("10.0.0.0/8, 192.168.1.7, ::1, fd00::/8", &l, err, sizeof err),
             MOAT_OK);
    CHECK_EQ(l.n, 4);
    CHECK_EQ(l.v[0].family, AF_INET);
    CHECK_EQ(l.v[0].bits, 8);
    CHECK_EQ(l.v[1].bits, 32);
    CHECK_EQ(l.v[2].family, AF_INET6);
    CHECK_EQ(l.v[2].bits, 128);
    CHECK_EQ(l.v[3].bits, 8);
    CHECK_EQ(l.v[3].addr[0], 0xfd);
    moat_cidr_list_free(&l);
    CHECK(l.v == NULL && l.n == 0);
    moat_cidr_list_free(&l); /* twice is harmless */

    /* Separators: commas and/or blanks, in any number. */
    CHECK_EQ(moat_cidr_list_parse(" ,10.0.0.1\t10.0.0.2,,10.0.0.3 ,\n", &l, err, sizeof err),
             MOAT_OK);
    CHECK_EQ(l.n, 3);
    moat_cidr_list_free(&l);
    CHECK_EQ(moat_cidr_list_parse("", &l, err, sizeof err), MOAT_OK);
    CHECK(l.n == 0 && l.v == NULL);
    CHECK_EQ(moat_cidr_list_parse(" , ", &l, err, sizeof err), MOAT_OK);
    CHECK_EQ(l.n, 0);
    moat_cidr_list_free(&l);

    /* Host bits are cleared. */
    CHECK_EQ(moat_cidr_list_parse("10.1.2.3/8 2001:db8:ffff::1/33 1.2.3.255/31 1.2.3.4/0", &l, err,
                                  sizeof err),
             MOAT_OK);
    static const uint8_t a0[4] = {10, 0, 0, 0}, a2[4] = {1, 2, 3, 254}, a3[4] = {0, 0, 0, 0};
    CHECK_MEM(l.v[0].addr, a0, 4);
    static const uint8_t a1[16] = {0x20, 0x01, 0x0d, 0xb8, 0x80};
    CHECK_MEM(l.v[1].addr, a1, 16);
    CHECK_MEM(l.v[2].addr, a2, 4);
    CHECK_MEM(l.v[3].addr, a3, 4);
    moat_cidr_list_free(&l);

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"10.0.0.0/33", "'10.0.0.0/33': prefix length over 32"},
        {"::/129", "'::/129': prefix length over 128"},
        {"10.0.0.0/8, 1.2.3.4/", "'1.2.3.4/': missing prefix length"},
        {"10.0.0.0/x", "'10.0.0.0/x': prefix length not a decimal number"},
        {"10.0.0.0/-1", "'10.0.0.0/-1': prefix length not a decimal number"},
        {"10.0.0.0/+8", "'10.0.0.0/+8': prefix length not a decimal number"},
        {"10.0.0.0/0008", "'10.0.0.0/0008': prefix length not a decimal number"},
        {"10.0.0.0/8/8", "'10.0.0.0/8/8': prefix length not a decimal number"},
        {"10.0.0/8", "'10.0.0/8': not an IPv4 or IPv6 address"},
        {"10.0.0.256", "'10.0.0.256': not an IPv4 or IPv6 address"},
        {"localhost", "'localhost': not an IPv4 or IPv6 address"},
        {"/8", "'/8': not an IPv4 or IPv6 address"},
        {"::1, fe80::1%eth0", "'fe80::1%eth0': not an IPv4 or IPv6 address"},
        {"[::1]", "'[::1]': not an IPv4 or IPv6 address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l.v = (moat_cidr *)1;
        l.n = 7;
        CHECK_EQ(moat_cidr_list_parse(bad[i].in, &l, err, sizeof err), MOAT_EINVAL);
        CHECK_STR(err, bad[i].msg);
        CHECK(l.v == NULL && l.n == 0);
    }
    /* A long entry is named, shortened. */
    char longs[200];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    CHECK_EQ(moat_cidr_list_parse(longs, &l, err, sizeof err), MOAT_EINVAL);
    CHECK(strstr(err, "entry too long") != NULL);
    /* A tiny or missing err buffer is fine. */
    char tiny[4];
    CHECK_EQ(moat_cidr_list_parse("x", &l, tiny, sizeof tiny), MOAT_EINVAL);
    CHECK_STR(tiny, "'x'");
    CHECK_EQ(moat_cidr_list_parse("x", &l, NULL, 0), MOAT_EINVAL);
}

static void test_cidr_match(void)
{
    moat_cidr_list l;
    char err[128];
    CHECK_EQ(moat_cidr_list_parse("10.0.0.0/8 192.168.1.7 fd00::/8 2001:db8::1 172.16.0.0/12", &l,
                                  err, sizeof err),
             MOAT_OK);
    CHECK(match(&l, "10.0.0.0"));
    CHECK(match(&l, "10.255.255.255"));
    CHECK(!match(&l, "11.0.0.0"));
    CHECK(!match(&l, "9.255.255.255"));
    CHECK(match(&l, "192.168.1.7"));
    CHECK(!match(&l, "192.168.1.8"));
    CHECK(match(&l, "172.31.255.255"));
    CHECK(!match(&l, "172.32.0.0"));
    CHECK(match(&l, "fd12:3456::1"));
    CHECK(!match(&l, "fe00::1"));
    CHECK(match(&l, "2001:db8::1"));
    CHECK(!match(&l, "2001:db8::2"));
    /* IPv4 entries match IPv4-mapped peers; not the IPv4-compatible form. */
    CHECK(match(&l, "::ffff:10.1.2.3"));
    CHECK(match(&l, "::ffff:192.168.1.7"));
    CHECK(!match(&l, "::ffff:192.168.1.8"));
    CHECK(!match(&l, "::10.1.2.3"));
    CHECK(!match(&l, "::ffff:0:10.1.2.3"));
    /* Other families and NULLs never match. */
    struct sockaddr_storage un;
    memset(&un, 0, sizeof un);
    un.ss_family = AF_UNIX;
    CHECK(!moat_cidr_list_match(&l, (const struct sockaddr *)&un));
    CHECK(!moat_cidr_list_match(&l, NULL));
    CHECK(!moat_cidr_list_match(NULL, (const struct sockaddr *)&un));
    moat_cidr_list_free(&l);

    /* /0 matches its whole family; "::/0" is IPv6 peers (mapped ones too). */
    CHECK_EQ(moat_cidr_list_parse("0.0.0.0/0", &l, err, sizeof err), MOAT_OK);
    CHECK(match(&l, "1.2.3.4"));
    CHECK(match(&l, "255.255.255.255"));
    CHECK(match(&l, "::ffff:1.2.3.4"));
    CHECK(!match(&l, "::1"));
    moat_cidr_list_free(&l);
    CHECK_EQ(moat_cidr_list_parse("::/0", &l, err, sizeof err), MOAT_OK);
    CHECK(match(&l, "::1"));
    CHECK(match(&l, "::ffff:1.2.3.4"));
    CHECK(!match(&l, "1.2.3.4"));
    moat_cidr_list_free(&l);
    /* An explicit mapped entry matches mapped peers by their IPv6 form. */
    CHECK_EQ(moat_cidr_list_parse("::ffff:10.0.0.0/104", &l, err, sizeof err), MOAT_OK);
    CHECK(match(&l, "::ffff:10.9.9.9"));
    CHECK(!match(&l, "10.9.9.9"));
    moat_cidr_list_free(&l);
    /* Odd prefix lengths and the empty list. */
    CHECK_EQ(moat_cidr_list_parse("192.168.1.128/25 2001:db8:8000::/33", &l, err, sizeof err),
             MOAT_OK);
    CHECK(match(&l, "192.168.1.128"));
    CHECK(match(&l, "192.168.1.255"));
    CHECK(!match(&l, "192.168.1.127"));
    CHECK(match(&l, "2001:db8:8000::1"));
    CHECK(match(&l, "2001:db8:ffff::1"));
    CHECK(!match(&l, "2001:db8:7fff::1"));
    moat_cidr_list_free(&l);
    CHECK_EQ(moat_cidr_list_parse("", &l, err, sizeof err), MOAT_OK);
    CHECK(!match(&l, "1.2.3.4"));
    CHECK(!match(&l, "::1"));
    /* A v1 PROXY source address goes straight into a match. */
    moat_proxy_info info;
    size_t used;
    CHECK_EQ(parse_str("PROXY TCP6 ::ffff:10.0.0.1 ::1 1 2\r\n", &used, &info), MOAT_OK);
    CHECK_EQ(moat_cidr_list_parse("10.0.0.0/24", &l, err, sizeof err), MOAT_OK);
    CHECK(moat_cidr_list_match(&l, (const struct sockaddr *)&info.src));
    CHECK(!moat_cidr_list_match(&l, (const struct sockaddr *)&info.dst));
    moat_cidr_list_free(&l);
}

int main(void)
{
    TEST(test_crc32c);
    TEST(test_v1_tcp4);
    TEST(test_v1_tcp6);
    TEST(test_v1_unknown);
    TEST(test_v1_malformed);
    TEST(test_v1_length);
    TEST(test_v2_ipv4);
    TEST(test_v2_ipv6);
    TEST(test_v2_local);
    TEST(test_v2_refused);
    TEST(test_v2_ssl);
    TEST(test_v2_crc);
    TEST(test_v2_tlv_bounds);
    TEST(test_v2_values);
    TEST(test_v2_truncation);
    TEST(test_sniff);
    TEST(test_cidr_parse);
    TEST(test_cidr_match);
    return test_summary("proxy");
}
