/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the PROXY protocol parser and the CIDR list parser. The whole input
 * is a PROXY header candidate, and (NUL-terminated) a CIDR list.
 *
 * Beyond "no crash", each parse is checked for:
 *  - the result contract: OK gives used <= len (at least 16 bytes for v2, 8
 *    for v1, at most 107 for v1, exactly 16 + length for v2), NUL-terminated
 *    printable strings, addresses of one family unless local; ENEEDMORE only
 *    below MOAT_PROXY_MAX_HEADER; why set exactly on EMALFORMED; whatever is
 *    not refused also sniffs as PROXY;
 *  - split reads: a prefix of an input gives ENEEDMORE or the very same
 *    verdict (and the same used and info once the header is complete), so a
 *    header parses the same however the network cut it;
 *  - CIDR lists: every entry is normalised (no host bits), matches its own
 *    address (and, for IPv4, the IPv4-mapped form); errors name the entry
 *    and leave the list empty. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char unset_why[] = "unset";

static bool field_ok(const char *s, size_t cap, bool utf8)
{
    const char *end = memchr(s, '\0', cap);
    if (!end)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)end; p++)
        if (*p < 0x20 || *p == 0x7F || (!utf8 && *p > 0x7E))
            return false;
    return true;
}

static moat_err run(const uint8_t *d, size_t n, size_t *used, moat_proxy_info *info)
{
    const char *why = unset_why;
    *used = 12345;
    moat_err e = moat_proxy_parse(d, n, used, info, &why);
    FUZZ_CHECK(e == MOAT_OK || e == MOAT_ENEEDMORE || e == MOAT_EMALFORMED);
    if (e == MOAT_EMALFORMED) {
        FUZZ_CHECK(why != NULL && why != unset_why && why[0] != '\0');
        return e;
    }
    FUZZ_CHECK(why == NULL);
    FUZZ_CHECK(moat_proxy_sniff(d, n));
    if (e == MOAT_ENEEDMORE) {
        FUZZ_CHECK(n < MOAT_PROXY_MAX_HEADER);
        FUZZ_CHECK(*used == 0);
        return e;
    }
    FUZZ_CHECK(*used <= n);
    FUZZ_CHECK(info->version == 1 || info->version == 2);
    if (info->version == 1) {
        FUZZ_CHECK(*used >= 8 && *used <= 107);
        FUZZ_CHECK(d[*used - 2] == '\r' && d[*used - 1] == '\n');
        FUZZ_CHECK(!info->has_ssl && info->authority[0] == '\0');
    } else {
        FUZZ_CHECK(*used >= 16 && *used == 16 + (size_t)(d[14] << 8 | d[15]));
    }
    if (info->local) {
        FUZZ_CHECK(info->src.ss_family == 0 && info->dst.ss_family == 0);
    } else {
        FUZZ_CHECK(info->src.ss_family == AF_INET || info->src.ss_family == AF_INET6);
        FUZZ_CHECK(info->dst.ss_family == info->src.ss_family);
    }
    FUZZ_CHECK(field_ok(info->ssl_version, sizeof info->ssl_version, false));
    FUZZ_CHECK(field_ok(info->ssl_cn, sizeof info->ssl_cn, true));
    FUZZ_CHECK(field_ok(info->ssl_cipher, sizeof info->ssl_cipher, false));
    FUZZ_CHECK(field_ok(info->authority, sizeof info->authority, true));
    if (!info->has_ssl)
        FUZZ_CHECK(info->ssl_client == 0 && info->ssl_verify == 0 && info->ssl_cn[0] == '\0');
    return e;
}

/* Parse d[0..i) and compare with the verdict e on the whole input. */
static void check_prefix(const uint8_t *d, size_t i, moat_err e, size_t used,
                         const moat_proxy_info *info)
{
    moat_proxy_info pi;
    size_t pu;
    moat_err pe = run(d, i, &pu, &pi);
    switch (e) {
    case MOAT_OK:
        if (i < used) {
            FUZZ_CHECK(pe == MOAT_ENEEDMORE);
        } else {
            FUZZ_CHECK(pe == MOAT_OK && pu == used);
            FUZZ_CHECK(memcmp(&pi, info, sizeof pi) == 0);
        }
        break;
    case MOAT_ENEEDMORE:
        FUZZ_CHECK(pe == MOAT_ENEEDMORE);
        break;
    default:
        /* Refusing early is fine, accepting what more bytes break is not. */
        FUZZ_CHECK(pe != MOAT_OK);
        break;
    }
}

static void fuzz_proxy(const uint8_t *d, size_t n)
{
    moat_proxy_info info;
    size_t used;
    moat_err e = run(d, n, &used, &info);
    /* Every prefix of short inputs; a sample plus the edges of long ones. */
    size_t step = n <= 1024 ? 1 : n / 512;
    for (size_t i = 0; i < n; i += step)
        check_prefix(d, i, e, used, &info);
    if (e == MOAT_OK) {
        check_prefix(d, used - 1, e, used, &info);
        check_prefix(d, used, e, used, &info);
    }
}

static void check_cidr(const moat_cidr_list *l)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    for (size_t i = 0; i < l->n; i++) {
        const moat_cidr *c = &l->v[i];
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        size_t bytes = c->family == AF_INET ? 4 : 16;
        FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
        FUZZ_CHECK(c->bits <= 8 * bytes);
        for (size_t b = c->bits; b < 8 * bytes; b++)
            FUZZ_CHECK(!(c->addr[b / 8] & (0x80 >> (b % 8))));
        if (c->family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            in->sin_family = AF_INET;
            memcpy(&in->sin_addr, c->addr, 4);
            FUZZ_CHECK(moat_cidr_list_match(l, (struct sockaddr *)&ss));
            /* The last address of the range too. */
            uint8_t *a = (uint8_t *)&in->sin_addr;
            for (size_t b = c->bits; b < 32; b++)
                a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
            FUZZ_CHECK(moat_cidr_list_match(l, (struct sockaddr *)&ss));
            struct sockaddr_in6 m;
            memset(&m, 0, sizeof m);
            m.sin6_family = AF_INET6;
            memcpy(&m.sin6_addr, mapped, 12);
            memcpy((uint8_t *)&m.sin6_addr + 12, c->addr, 4);
            FUZZ_CHECK(moat_cidr_list_match(l, (struct sockaddr *)&m));
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            in6->sin6_family = AF_INET6;
            memcpy(&in6->sin6_addr, c->addr, 16);
            FUZZ_CHECK(moat_cidr_list_match(l, (struct sockaddr *)&ss));
        }
    }
}

static void fuzz_cidr(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    FUZZ_CHECK(s);
    memcpy(s, d, n);
    s[n] = '\0';
    moat_cidr_list l;
    char err[160];
    moat_err e = moat_cidr_list_parse(s, &l, err, sizeof err);
    if (e == MOAT_OK) {
        check_cidr(&l);
        /* Peers made of the input bytes, for the mismatching paths. */
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        memset(&in, 0, sizeof in);
        memset(&in6, 0, sizeof in6);
        in.sin_family = AF_INET;
        in6.sin6_family = AF_INET6;
        memcpy(&in.sin_addr, d, n < 4 ? n : 4);
        memcpy(&in6.sin6_addr, d, n < 16 ? n : 16);
        (void)moat_cidr_list_match(&l, (struct sockaddr *)&in);
        (void)moat_cidr_list_match(&l, (struct sockaddr *)&in6);
    } else {
        FUZZ_CHECK(e == MOAT_EINVAL || e == MOAT_ENOMEM);
        FUZZ_CHECK(l.v == NULL && l.n == 0);
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
        if (e == MOAT_EINVAL)
            FUZZ_CHECK(err[0] == '\'' && strstr(err, "': ") != NULL);
    }
    moat_cidr_list_free(&l);
    FUZZ_CHECK(l.v == NULL && l.n == 0);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_proxy(data, size);
    fuzz_cidr(data, size);
    return 0;
}
