/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between tls_ctx.c (building contexts) and tls_transport.c
 * (connections). Not for use outside src/tls/. */
#ifndef MOAT_TLS_INT_H
#define MOAT_TLS_INT_H

#include <stdatomic.h>

#include <openssl/ssl.h>

#include "tls/tls.h"

#define MOAT_TLS_MAX_ALPN 8

struct moat_tls_ctx {
    atomic_uint refs;
    SSL_CTX *ssl_ctx;         /* owned; holds certificates, keys, trust store */
    char **watch;             /* owned, NULL-terminated */
    unsigned char digest[32]; /* SHA-256 of settings and loaded material */
    int64_t not_after;
    uint32_t handshake_timeout_ms;
    unsigned versions; /* MOAT_TLS_V* */
    int depth;
    ASN1_OBJECT *eku; /* owned; required client EKU, or NULL */
    char eku_name[64];
    /* ALPN protocols in server preference order, NUL-terminated copies. */
    char *alpn[MOAT_TLS_MAX_ALPN];
    int n_alpn;
};

/* Callbacks installed on every SSL_CTX, implemented by the transport. */
int moat_tls__verify_cb(int ok, X509_STORE_CTX *xs);
int moat_tls__client_hello_cb(SSL *ssl, int *alert, void *arg);

#endif
