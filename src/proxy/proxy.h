/* SPDX-License-Identifier: Apache-2.0 */
/* The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2), parsed
 * as a pure function over the first bytes of a connection. A load balancer
 * sends it before anything else so that moat learns the client's real
 * address and, when the balancer terminated TLS, the client certificate's
 * common name. */
#ifndef MOAT_PROXY_H
#define MOAT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"

/* PP2_TYPE_SSL client bits */
#define MOAT_PP2_CLIENT_SSL 0x01
#define MOAT_PP2_CLIENT_CERT_CONN 0x02
#define MOAT_PP2_CLIENT_CERT_SESS 0x04

/* The longest header: a v2 header is at most 16 + 65535 bytes; v1 at most 107. */
#define MOAT_PROXY_MAX_HEADER (16 + 65535)

typedef struct moat_proxy_info {
    uint8_t version; /* 1 or 2 */
    /* v2 LOCAL command, or v1 "UNKNOWN": the balancer's own connection (a
     * health check); keep the socket's addresses. */
    bool local;
    struct sockaddr_storage src; /* ss_family AF_INET or AF_INET6 unless local */
    struct sockaddr_storage dst;
    /* v2 TLVs */
    bool has_ssl;         /* PP2_TYPE_SSL (0x20) present */
    uint8_t ssl_client;   /* MOAT_PP2_CLIENT_* bits */
    uint32_t ssl_verify;  /* 0 when the client certificate was verified */
    char ssl_version[32]; /* PP2_SUBTYPE_SSL_VERSION (0x21), "" when absent */
    char ssl_cn[256];     /* PP2_SUBTYPE_SSL_CN (0x22), "" when absent */
    char ssl_cipher[64];  /* PP2_SUBTYPE_SSL_CIPHER (0x23) */
    char authority[256];  /* PP2_TYPE_AUTHORITY (0x02): the SNI the client sent */
} moat_proxy_info;

/* Parse a PROXY header at the start of buf[0..len).
 * MOAT_OK: *used bytes form the header (the connection's own bytes follow).
 * MOAT_ENEEDMORE: a valid prefix so far; read more.
 * MOAT_EMALFORMED: not a PROXY header or a broken one; *why is a short static
 *   text for the log ("v1 header without CRLF within 107 bytes").
 * Checks: v1 "PROXY TCP4|TCP6|UNKNOWN" with addresses and ports in canonical
 * form; v2 signature, version 2, command LOCAL or PROXY, family/protocol
 * (AF_INET/AF_INET6 over STREAM; UNSPEC only with LOCAL), address block
 * length, TLVs that fit exactly, SSL sub-TLVs inside the SSL TLV, CN and
 * version and cipher printable ASCII/UTF-8 without NUL, a CRC32C TLV when
 * present must match. AF_UNIX is refused.
 * Details: the v1 "UNKNOWN" line may carry anything printable after a space
 * (ignored). A v2 LOCAL header is accepted with any family byte; its
 * addresses are ignored, and its TLVs are checked and reported like those of
 * a PROXY header when the family's address block size is known (UNSPEC 0,
 * INET 12, INET6 36, UNIX 216 bytes) and fits the length; otherwise the rest
 * of the block is skipped. Duplicates of the TLVs read here (AUTHORITY,
 * CRC32C, SSL; VERSION, CN, CIPHER inside SSL) are refused: two different CNs
 * must not leave the choice to the parser. UNIQUE_ID is at most 128 bytes.
 * Unknown TLVs and sub-TLVs are skipped. info is zeroed on entry; why may be
 * NULL. Early rejection: a prefix is refused only if no continuation could
 * make it valid, so a header split across reads parses the same. */
moat_err moat_proxy_parse(const uint8_t *buf, size_t len, size_t *used, moat_proxy_info *info,
                          const char **why);

/* True when buf[0..len) could still be or already is the start of a PROXY
 * header (a cheap sniff on the first bytes; len may be short). */
bool moat_proxy_sniff(const uint8_t *buf, size_t len);

/* CRC32C (Castagnoli, as in RFC 4960 appendix B) of p[0..n): the checksum of
 * the PP2_TYPE_CRC32C TLV. moat_proxy_crc32c("123456789", 9) == 0xE3069283. */
uint32_t moat_proxy_crc32c(const uint8_t *p, size_t n);

/* ----------------------------------------------------------- CIDR lists */

typedef struct moat_cidr {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t bits;
    uint8_t addr[16];
} moat_cidr;

typedef struct moat_cidr_list {
    moat_cidr *v;
    size_t n;
} moat_cidr_list;

/* Parse "10.0.0.0/8, 192.168.1.7, ::1, fd00::/8" (commas and/or blanks; a bare
 * address is a /32 or /128). MOAT_EINVAL with a message naming the bad entry
 * in err ("'10.0.0.0/33': prefix length over 32"); out is then empty. An empty
 * string is an empty list (matches nothing). Host bits beyond the prefix are
 * cleared ("10.1.2.3/8" is 10.0.0.0/8), as the match ignores them anyway.
 * An IPv4 entry also matches IPv4-mapped IPv6 peers (::ffff:a.b.c.d); an IPv6
 * entry matches AF_INET6 peers only, by their 128 bits (so "::/0" does not
 * match an AF_INET peer). out->v is the only allocation. */
moat_err moat_cidr_list_parse(const char *s, moat_cidr_list *out, char *err, size_t errlen);
bool moat_cidr_list_match(const moat_cidr_list *l, const struct sockaddr *sa);
void moat_cidr_list_free(moat_cidr_list *l);

#endif
