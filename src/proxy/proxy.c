/* SPDX-License-Identifier: Apache-2.0 */
/* PROXY protocol v1/v2 parser and CIDR lists (see proxy.h). Everything here
 * is a pure function over the caller's bytes; the CIDR array is the only
 * allocation. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V1_MAX 107 /* longest v1 line, CRLF included */
#define V2_FIXED 16

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

enum {
    PP2_CMD_LOCAL = 0x0,
    PP2_CMD_PROXY = 0x1,
    PP2_FAM_UNSPEC = 0x00,
    PP2_FAM_TCP4 = 0x11,
    PP2_FAM_UDP4 = 0x12,
    PP2_FAM_TCP6 = 0x21,
    PP2_FAM_UDP6 = 0x22,
    PP2_FAM_UNIX_STREAM = 0x31,
    PP2_FAM_UNIX_DGRAM = 0x32,
};

/* TLV types, from proxy-protocol.txt section 2.2. */
enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_CRC32C = 0x03,
    PP2_TYPE_NOOP = 0x04,
    PP2_TYPE_UNIQUE_ID = 0x05,
    PP2_TYPE_SSL = 0x20,
    PP2_SUBTYPE_SSL_VERSION = 0x21,
    PP2_SUBTYPE_SSL_CN = 0x22,
    PP2_SUBTYPE_SSL_CIPHER = 0x23,
    PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
    PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
    PP2_TYPE_NETNS = 0x30,
};

#define PP2_UNIQUE_ID_MAX 128

static moat_err fail(const char **why, const char *text)
{
    if (why)
        *why = text;
    return MOAT_EMALFORMED;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------------ CRC32C */

/* Bitwise, reflected polynomial 0x82F63B78: headers are small and the TLV
 * is rare, so a table buys nothing worth its size. */
static uint32_t crc32c_update(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

uint32_t moat_proxy_crc32c(const uint8_t *p, size_t n)
{
    return ~crc32c_update(0xFFFFFFFFu, p, n);
}

/* ------------------------------------------------------------ text values */

enum { TEXT_OK, TEXT_TOO_LONG, TEXT_BAD };

/* Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF)
 * without control characters (C0, DEL, C1): the values end up in logs and in
 * ACL decisions, so nothing that could forge a log line gets through. */
static bool text_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], need, min;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F)
                return false;
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            need = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (uint32_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) || c <= 0x9F)
            return false;
        i += need + 1;
    }
    return true;
}

static bool text_ascii_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7E)
            return false;
    return true;
}

/* Copy a TLV value into a fixed field, NUL-terminated; refuse what does not
 * fit rather than truncate (a truncated CN could match another client). */
static int copy_text(char *dst, size_t cap, const uint8_t *v, size_t n, bool utf8)
{
    if (n >= cap)
        return TEXT_TOO_LONG;
    if (!(utf8 ? text_utf8_ok(v, n) : text_ascii_ok(v, n)))
        return TEXT_BAD;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return TEXT_OK;
}

/* ------------------------------------------------------------ v1 */

static bool v1_addr(const char *s, size_t n, int af, struct sockaddr_storage *ss)
{
    char tmp[INET6_ADDRSTRLEN + 1], back[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (af == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        /* The round trip makes the check independent of how lenient the libc's
         * inet_pton is: only the one canonical dotted quad is accepted. */
        if (inet_pton(AF_INET, tmp, &in->sin_addr) != 1 ||
            !inet_ntop(AF_INET, &in->sin_addr, back, sizeof back) || strcmp(tmp, back) != 0)
            return false;
        in->sin_family = AF_INET;
        return true;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) != 1)
        return false;
    in6->sin6_family = AF_INET6;
    return true;
}

static bool v1_port(const char *s, size_t n, struct sockaddr_storage *ss)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)v);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)v);
    return true;
}

/* The lines a v1 header can start with, up to where they diverge. */
static const char *const v1_starts[] = {"PROXY TCP4 ", "PROXY TCP6 ", "PROXY UNKNOWN\r",
                                        "PROXY UNKNOWN "};

/* Could buf[0..n) (no CRLF yet) still grow into a valid line? */
static bool v1_prefix_ok(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < sizeof v1_starts / sizeof v1_starts[0]; i++) {
        size_t k = min_sz(n, strlen(v1_starts[i]));
        if (memcmp(buf, v1_starts[i], k) == 0)
            return true;
    }
    return false;
}

/* The line buf[0..eol), CRLF found at eol, every byte printable. */
static moat_err v1_line(const uint8_t *buf, size_t eol, moat_proxy_info *info, const char **why)
{
    const char *s = (const char *)buf;
    if (eol >= 13 && memcmp(s, "PROXY UNKNOWN", 13) == 0) {
        if (eol != 13 && s[13] != ' ')
            return fail(why, "v1 header with an unknown protocol");
        info->local = true; /* the rest, if any, is to be ignored */
        return MOAT_OK;
    }
    int af;
    if (eol >= 11 && memcmp(s, "PROXY TCP4 ", 11) == 0)
        af = AF_INET;
    else if (eol >= 11 && memcmp(s, "PROXY TCP6 ", 11) == 0)
        af = AF_INET6;
    else
        return fail(why, "v1 header with an unknown protocol");

    /* Four fields separated by exactly one space: an empty field is a doubled,
     * leading or trailing space. */
    const char *f[4];
    size_t fl[4], pos = 11;
    for (int i = 0; i < 4; i++) {
        size_t start = pos;
        while (pos < eol && s[pos] != ' ')
            pos++;
        f[i] = s + start;
        fl[i] = pos - start;
        if (fl[i] == 0)
            return fail(why, "v1 header with a missing field or extra spaces");
        if (i < 3) {
            if (pos == eol)
                return fail(why, "v1 header with a missing field");
            pos++; /* the space */
        }
    }
    if (pos != eol)
        return fail(why, "v1 header with extra fields or spaces");
    if (!v1_addr(f[0], fl[0], af, &info->src) || !v1_addr(f[1], fl[1], af, &info->dst))
        return fail(why, "v1 header with an address not in canonical form");
    if (!v1_port(f[2], fl[2], &info->src) || !v1_port(f[3], fl[3], &info->dst))
        return fail(why, "v1 header with a port not in 0..65535 without leading zeros");
    return MOAT_OK;
}

static moat_err parse_v1(const uint8_t *buf, size_t len, size_t *used, moat_proxy_info *info,
                         const char **why)
{
    if (memcmp(buf, v1_sig, min_sz(len, sizeof v1_sig)) != 0)
        return fail(why, "not a PROXY protocol header");
    size_t lim = min_sz(len, V1_MAX);
    for (size_t i = 0; i < lim; i++) {
        uint8_t c = buf[i];
        if (c == '\r') {
            if (i + 1 >= V1_MAX)
                return fail(why, "v1 header without CRLF within 107 bytes");
            if (i + 1 == len)
                break; /* the LF may be in the next read */
            if (buf[i + 1] != '\n')
                return fail(why, "v1 header with a CR not followed by LF");
            info->version = 1;
            moat_err e = v1_line(buf, i, info, why);
            if (e == MOAT_OK)
                *used = i + 2;
            return e;
        }
        if (c == '\n')
            return fail(why, "v1 header line ending in LF without CR");
        if (c < 0x20 || c > 0x7E)
            return fail(why, "v1 header with a non-printable byte");
    }
    if (len >= V1_MAX)
        return fail(why, "v1 header without CRLF within 107 bytes");
    if (!v1_prefix_ok(buf, len))
        return fail(why, "v1 header with an unknown protocol");
    return MOAT_ENEEDMORE;
}

/* ------------------------------------------------------------ v2 */

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes of the address block for a family/protocol byte; -1 when unknown. */
static int v2_addr_len(uint8_t fam)
{
    switch (fam) {
    case PP2_FAM_UNSPEC:
        return 0;
    case PP2_FAM_TCP4:
    case PP2_FAM_UDP4:
        return 12;
    case PP2_FAM_TCP6:
    case PP2_FAM_UDP6:
        return 36;
    case PP2_FAM_UNIX_STREAM:
    case PP2_FAM_UNIX_DGRAM:
        return 216;
    default:
        return -1;
    }
}

/* Walk one TLV at v[*pos] inside v[0..end): the bounds checks shared by the
 * top level and the SSL sub-TLVs. */
static bool tlv_next(const uint8_t *v, size_t end, size_t *pos, uint8_t *type, const uint8_t **val,
                     size_t *vlen, const char **bad)
{
    size_t p = *pos;
    if (end - p < 3) {
        *bad = "truncated";
        return false;
    }
    *type = v[p];
    *vlen = be16(v + p + 1);
    if (*vlen > end - p - 3) {
        *bad = "overrun";
        return false;
    }
    *val = v + p + 3;
    *pos = p + 3 + *vlen;
    return true;
}

static moat_err v2_ssl(const uint8_t *v, size_t n, moat_proxy_info *info, const char **why)
{
    if (n < 5)
        return fail(why, "v2 SSL TLV shorter than 5 bytes");
    info->has_ssl = true;
    info->ssl_client = v[0];
    info->ssl_verify = be32(v + 1);
    bool seen_version = false, seen_cn = false, seen_cipher = false;
    size_t pos = 5;
    while (pos < n) {
        uint8_t type;
        const uint8_t *val;
        size_t vlen;
        const char *bad;
        if (!tlv_next(v, n, &pos, &type, &val, &vlen, &bad))
            return fail(why, bad[0] == 't' ? "v2 SSL sub-TLV truncated"
                                           : "v2 SSL sub-TLV overruns the SSL TLV");
        int r;
        switch (type) {
        case PP2_SUBTYPE_SSL_VERSION:
            if (seen_version)
                return fail(why, "v2 SSL VERSION sub-TLV repeated");
            seen_version = true;
            r = copy_text(info->ssl_version, sizeof info->ssl_version, val, vlen, false);
            if (r == TEXT_TOO_LONG)
                return fail(why, "v2 SSL VERSION sub-TLV too long");
            if (r == TEXT_BAD)
                return fail(why, "v2 SSL VERSION sub-TLV not printable ASCII");
            break;
        case PP2_SUBTYPE_SSL_CN:
            if (seen_cn)
                return fail(why, "v2 SSL CN sub-TLV repeated");
            seen_cn = true;
            r = copy_text(info->ssl_cn, sizeof info->ssl_cn, val, vlen, true);
            if (r == TEXT_TOO_LONG)
                return fail(why, "v2 SSL CN sub-TLV too long");
            if (r == TEXT_BAD)
                return fail(why, "v2 SSL CN sub-TLV not printable UTF-8");
            break;
        case PP2_SUBTYPE_SSL_CIPHER:
            if (seen_cipher)
                return fail(why, "v2 SSL CIPHER sub-TLV repeated");
            seen_cipher = true;
            r = copy_text(info->ssl_cipher, sizeof info->ssl_cipher, val, vlen, false);
            if (r == TEXT_TOO_LONG)
                return fail(why, "v2 SSL CIPHER sub-TLV too long");
            if (r == TEXT_BAD)
                return fail(why, "v2 SSL CIPHER sub-TLV not printable ASCII");
            break;
        case PP2_SUBTYPE_SSL_SIG_ALG:
        case PP2_SUBTYPE_SSL_KEY_ALG:
        default:
            break; /* not reported: framing checked, value skipped */
        }
    }
    return MOAT_OK;
}

/* TLVs in hdr[start..total); hdr is the whole header (for the CRC). */
static moat_err v2_tlvs(const uint8_t *hdr, size_t start, size_t total, moat_proxy_info *info,
                        const char **why)
{
    bool seen_auth = false, seen_ssl = false, seen_crc = false;
    size_t crc_at = 0, pos = start;
    while (pos < total) {
        uint8_t type;
        const uint8_t *val;
        size_t vlen;
        const char *bad;
        if (!tlv_next(hdr, total, &pos, &type, &val, &vlen, &bad))
            return fail(why, bad[0] == 't' ? "v2 TLV truncated" : "v2 TLV overruns the header");
        moat_err e;
        int r;
        switch (type) {
        case PP2_TYPE_AUTHORITY:
            if (seen_auth)
                return fail(why, "v2 AUTHORITY TLV repeated");
            seen_auth = true;
            r = copy_text(info->authority, sizeof info->authority, val, vlen, true);
            if (r == TEXT_TOO_LONG)
                return fail(why, "v2 AUTHORITY TLV too long");
            if (r == TEXT_BAD)
                return fail(why, "v2 AUTHORITY TLV not printable UTF-8");
            break;
        case PP2_TYPE_CRC32C:
            if (seen_crc)
                return fail(why, "v2 CRC32C TLV repeated");
            if (vlen != 4)
                return fail(why, "v2 CRC32C TLV not 4 bytes long");
            seen_crc = true;
            crc_at = (size_t)(val - hdr);
            break;
        case PP2_TYPE_UNIQUE_ID:
            if (vlen > PP2_UNIQUE_ID_MAX)
                return fail(why, "v2 UNIQUE_ID TLV longer than 128 bytes");
            break;
        case PP2_TYPE_SSL:
            if (seen_ssl)
                return fail(why, "v2 SSL TLV repeated");
            seen_ssl = true;
            if ((e = v2_ssl(val, vlen, info, why)) != MOAT_OK)
                return e;
            break;
        case PP2_TYPE_ALPN:
        case PP2_TYPE_NOOP:
        case PP2_TYPE_NETNS:
        default:
            break;
        }
    }
    if (seen_crc) {
        /* The sender computed it with the field zeroed. */
        static const uint8_t zero[4];
        uint32_t c = crc32c_update(0xFFFFFFFFu, hdr, crc_at);
        c = crc32c_update(c, zero, 4);
        c = ~crc32c_update(c, hdr + crc_at + 4, total - crc_at - 4);
        if (c != be32(hdr + crc_at))
            return fail(why, "v2 CRC32C mismatch");
    }
    return MOAT_OK;
}

static moat_err parse_v2(const uint8_t *buf, size_t len, size_t *used, moat_proxy_info *info,
                         const char **why)
{
    if (memcmp(buf, v2_sig, min_sz(len, sizeof v2_sig)) != 0)
        return fail(why, "not a PROXY protocol header");
    if (len < 13)
        return MOAT_ENEEDMORE;
    if ((buf[12] & 0xF0) != 0x20)
        return fail(why, "v2 header with a version other than 2");
    uint8_t cmd = buf[12] & 0x0F;
    if (cmd != PP2_CMD_LOCAL && cmd != PP2_CMD_PROXY)
        return fail(why, "v2 header with an unknown command");
    if (len < 14)
        return MOAT_ENEEDMORE;
    uint8_t fam = buf[13];
    if (cmd == PP2_CMD_PROXY) {
        switch (fam) {
        case PP2_FAM_TCP4:
        case PP2_FAM_TCP6:
            break;
        case PP2_FAM_UNSPEC:
            return fail(why, "v2 PROXY command with the UNSPEC family");
        case PP2_FAM_UDP4:
        case PP2_FAM_UDP6:
            return fail(why, "v2 header for UDP");
        case PP2_FAM_UNIX_STREAM:
        case PP2_FAM_UNIX_DGRAM:
            return fail(why, "v2 header for a UNIX socket");
        default:
            return fail(why, "v2 header with an unknown family or protocol");
        }
    }
    if (len < V2_FIXED)
        return MOAT_ENEEDMORE;
    size_t blen = be16(buf + 14), total = V2_FIXED + blen;
    int alen = v2_addr_len(fam);
    if (cmd == PP2_CMD_PROXY && blen < (size_t)alen)
        return fail(why, "v2 address block shorter than its family needs");
    if (len < total)
        return MOAT_ENEEDMORE;

    info->version = 2;
    const uint8_t *a = buf + V2_FIXED;
    if (cmd == PP2_CMD_LOCAL) {
        info->local = true;
        /* TLVs can only be found behind an address block of known size. */
        if (alen >= 0 && blen >= (size_t)alen) {
            moat_err e = v2_tlvs(buf, V2_FIXED + (size_t)alen, total, info, why);
            if (e != MOAT_OK)
                return e;
        }
    } else {
        if (fam == PP2_FAM_TCP4) {
            struct sockaddr_in *s = (struct sockaddr_in *)&info->src;
            struct sockaddr_in *d = (struct sockaddr_in *)&info->dst;
            s->sin_family = d->sin_family = AF_INET;
            memcpy(&s->sin_addr, a, 4);
            memcpy(&d->sin_addr, a + 4, 4);
            memcpy(&s->sin_port, a + 8, 2); /* both in network order already */
            memcpy(&d->sin_port, a + 10, 2);
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&info->src;
            struct sockaddr_in6 *d = (struct sockaddr_in6 *)&info->dst;
            s->sin6_family = d->sin6_family = AF_INET6;
            memcpy(&s->sin6_addr, a, 16);
            memcpy(&d->sin6_addr, a + 16, 16);
            memcpy(&s->sin6_port, a + 32, 2);
            memcpy(&d->sin6_port, a + 34, 2);
        }
        moat_err e = v2_tlvs(buf, V2_FIXED + (size_t)alen, total, info, why);
        if (e != MOAT_OK)
            return e;
    }
    *used = total;
    return MOAT_OK;
}

/* ------------------------------------------------------------ entry points */

moat_err moat_proxy_parse(const uint8_t *buf, size_t len, size_t *used, moat_proxy_info *info,
                          const char **why)
{
    *used = 0;
    memset(info, 0, sizeof *info);
    if (why)
        *why = NULL;
    if (len == 0)
        return MOAT_ENEEDMORE;
    moat_err e;
    if (buf[0] == v2_sig[0])
        e = parse_v2(buf, len, used, info, why);
    else if (buf[0] == (uint8_t)v1_sig[0])
        e = parse_v1(buf, len, used, info, why);
    else
        e = fail(why, "not a PROXY protocol header");
    if (e != MOAT_OK) {
        /* Nothing half-parsed leaks to a caller that ignores the result. */
        memset(info, 0, sizeof *info);
        *used = 0;
    }
    return e;
}

bool moat_proxy_sniff(const uint8_t *buf, size_t len)
{
    return memcmp(buf, v2_sig, min_sz(len, sizeof v2_sig)) == 0 ||
           memcmp(buf, v1_sig, min_sz(len, sizeof v1_sig)) == 0;
}

/* ------------------------------------------------------------ CIDR lists */

static bool cidr_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void set_err(char *err, size_t errlen, const char *tok, size_t n, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "'%.*s': %s", (int)min_sz(n, 64), tok, msg);
}

/* Clear the bits of addr[0..bytes) past the first `bits`. */
static void cidr_mask(uint8_t *addr, size_t bytes, unsigned bits)
{
    for (size_t i = 0; i < bytes; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;
        addr[i] &= (uint8_t)(0xFF00u >> keep);
    }
}

static moat_err cidr_entry(const char *tok, size_t n, moat_cidr *c, char *err, size_t errlen)
{
    /* "ffff:...:255.255.255.255/128" is 50; anything much longer is junk. */
    char tmp[64];
    if (n >= sizeof tmp) {
        set_err(err, errlen, tok, n, "entry too long");
        return MOAT_EINVAL;
    }
    memcpy(tmp, tok, n);
    tmp[n] = '\0';
    char *slash = strchr(tmp, '/');
    if (slash)
        *slash = '\0';
    bool v6 = strchr(tmp, ':') != NULL;
    unsigned max = v6 ? 128 : 32;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, tmp, c->addr) != 1) {
        set_err(err, errlen, tok, n, "not an IPv4 or IPv6 address");
        return MOAT_EINVAL;
    }
    c->family = v6 ? AF_INET6 : AF_INET;
    unsigned bits = max;
    if (slash) {
        const char *b = slash + 1;
        size_t bl = strlen(b);
        if (bl == 0) {
            set_err(err, errlen, tok, n, "missing prefix length");
            return MOAT_EINVAL;
        }
        bits = 0;
        for (size_t i = 0; i < bl; i++) {
            if (b[i] < '0' || b[i] > '9' || bl > 3) {
                set_err(err, errlen, tok, n, "prefix length not a decimal number");
                return MOAT_EINVAL;
            }
            bits = bits * 10 + (unsigned)(b[i] - '0');
        }
        if (bits > max) {
            set_err(err, errlen, tok, n, v6 ? "prefix length over 128" : "prefix length over 32");
            return MOAT_EINVAL;
        }
    }
    c->bits = (uint8_t)bits;
    cidr_mask(c->addr, v6 ? 16 : 4, bits);
    return MOAT_OK;
}

moat_err moat_cidr_list_parse(const char *s, moat_cidr_list *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    if (err && errlen)
        err[0] = '\0';
    if (!s)
        return MOAT_OK;
    size_t count = 0;
    for (const char *p = s; *p;) {
        while (*p && cidr_sep(*p))
            p++;
        if (!*p)
            break;
        count++;
        while (*p && !cidr_sep(*p))
            p++;
    }
    if (count == 0)
        return MOAT_OK;
    moat_cidr *v = calloc(count, sizeof *v);
    if (!v) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory for %zu CIDR entries", count);
        return MOAT_ENOMEM;
    }
    size_t i = 0;
    for (const char *p = s; *p;) {
        while (*p && cidr_sep(*p))
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && !cidr_sep(*p))
            p++;
        moat_err e = cidr_entry(tok, (size_t)(p - tok), &v[i++], err, errlen);
        if (e != MOAT_OK) {
            free(v);
            return e;
        }
    }
    out->v = v;
    out->n = count;
    return MOAT_OK;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    size_t full = bits / 8;
    if (memcmp(a, b, full) != 0)
        return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xFF00u >> rest);
    return (a[full] & m) == (b[full] & m);
}

bool moat_cidr_list_match(const moat_cidr_list *l, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (!l || !sa)
        return false;
    uint8_t a4[4], a6[16];
    bool has4 = false, has6 = false;
    if (sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        has4 = true;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        has6 = true;
        if (memcmp(a6, mapped, sizeof mapped) == 0) {
            memcpy(a4, a6 + 12, 4);
            has4 = true;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < l->n; i++) {
        const moat_cidr *c = &l->v[i];
        if ((c->family == AF_INET && has4 && prefix_eq(c->addr, a4, c->bits)) ||
            (c->family == AF_INET6 && has6 && prefix_eq(c->addr, a6, c->bits)))
            return true;
    }
    return false;
}

void moat_cidr_list_free(moat_cidr_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
