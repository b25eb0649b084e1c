/* SPDX-License-Identifier: Apache-2.0 */
/* The client TLS context: one SSL_CTX shared by all threads, no session
 * cache (every connection is a full handshake), chosen version, groups and
 * cipher suites, an optional client certificate for two-way TLS. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"

static int fail(const char *what)
{
    char buf[200];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    fprintf(stderr, "moat-bench: %s: %s\n", what, buf);
    return -1;
}

int tls_setup(void)
{
    if (!G.o.tls)
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return fail("SSL_CTX_new");
    int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
    if (G.o.tls_version && strcmp(G.o.tls_version, "1.2") == 0)
        hi = TLS1_2_VERSION;
    else if (G.o.tls_version && strcmp(G.o.tls_version, "1.3") == 0)
        lo = TLS1_3_VERSION;
    if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi))
        return fail("protocol version");
    if (G.o.groups && !SSL_CTX_set1_groups_list(ctx, G.o.groups))
        return fail("groups");
    if (G.o.ciphers && !SSL_CTX_set_cipher_list(ctx, G.o.ciphers))
        return fail("TLS 1.2 ciphers");
    if (G.o.ciphersuites && !SSL_CTX_set_ciphersuites(ctx, G.o.ciphersuites))
        return fail("TLS 1.3 cipher suites");
    if (G.o.sigalgs && !SSL_CTX_set1_sigalgs_list(ctx, G.o.sigalgs))
        return fail("signature algorithms");
    if (G.o.ca && !SSL_CTX_load_verify_locations(ctx, G.o.ca, NULL))
        return fail("CA file");
    SSL_CTX_set_verify(ctx, G.o.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (G.o.cert) {
        if (!SSL_CTX_use_certificate_chain_file(ctx, G.o.cert))
            return fail("client certificate");
        if (!SSL_CTX_use_PrivateKey_file(ctx, G.o.key ? G.o.key : G.o.cert, SSL_FILETYPE_PEM))
            return fail("client key");
        if (!SSL_CTX_check_private_key(ctx))
            return fail("client key does not match the certificate");
    }
    /* No resumption: every connection pays for a full handshake. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    G.ctx = ctx;
    return 0;
}

void tls_describe(SSL *ssl, char *buf, size_t n)
{
    const char *group = "?";
    int gid = SSL_get_negotiated_group(ssl);
    if (gid > 0 && OBJ_nid2sn(gid))
        group = OBJ_nid2sn(gid);
    char key[32] = "none";
    X509 *peer = SSL_get0_peer_certificate(ssl);
    EVP_PKEY *pk = peer ? X509_get0_pubkey(peer) : NULL;
    if (pk) {
        int id = EVP_PKEY_get_base_id(pk);
        snprintf(key, sizeof key, "%s-%d",
                 id == EVP_PKEY_RSA  ? "RSA"
                 : id == EVP_PKEY_EC ? "EC"
                                     : OBJ_nid2sn(id),
                 EVP_PKEY_get_bits(pk));
    }
    int signid = 0;
    const char *sig = "?";
    if (SSL_get_peer_signature_type_nid(ssl, &signid) && OBJ_nid2sn(signid))
        sig = OBJ_nid2sn(signid);
    snprintf(buf, n,
             "{\"version\":\"%s\",\"cipher\":\"%s\",\"group\":\"%s\",\"server_key\":\"%s\","
             "\"server_sig\":\"%s\",\"client_cert\":%s}",
             SSL_get_version(ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), group, key,
             sig, SSL_get_certificate(ssl) ? "true" : "false");
}
