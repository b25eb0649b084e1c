/* SPDX-License-Identifier: Apache-2.0 */
/* A TLS transport: OpenSSL as a filter between the connection and the
 * transport underneath. A custom BIO hands OpenSSL's reads and writes
 * straight to the inner transport (no intermediate copy), so OpenSSL never
 * touches the fd and the event loop keeps its single registration.
 *
 * Writes never block inside OpenSSL: ciphertext the inner transport does not
 * take at once is kept in `out` and the BIO reports success. That keeps
 * OpenSSL's own retry rules (same buffer, same length) out of the broker's
 * way; backpressure is applied one level up, by refusing new plaintext
 * (MOAT_EAGAIN) while `out` is not empty. At most one record is ever held. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "tls/tls_int.h"

#define WRITE_CHUNK 16384 /* one TLS record of plaintext per write call */

typedef struct tls_conn {
    moat_transport base; /* first: the moat_transport * given out points here */
    moat_transport *inner;
    moat_tls_ctx *ctx; /* one reference */
    SSL *ssl;
    moat_buf out; /* ciphertext the inner transport has not taken yet */
    moat_tls_handshake_fn on_hs;
    void *on_hs_arg;
    char *detail;   /* failure sentence, allocated on failure only */
    X509 *bad_cert; /* referenced: the certificate verification stopped at */
    int verify_err, verify_depth;
    uint16_t client_version;  /* highest version the ClientHello offered */
    uint8_t state;            /* moat_tls_state */
    uint8_t fail;             /* moat_tls_fail */
    uint8_t first[6], nfirst; /* the client's first bytes, for not-TLS sentences */
    bool inner_eof, inner_err, not_tls, notified, eku_missing;
} tls_conn;

/* ------------------------------------------------------------ counters */

static _Atomic uint64_t stat_ok, stat_resumed, stat_failed[MOAT_TLS_FAIL__COUNT];

void moat_tls_stats_get(moat_tls_stats *s)
{
    memset(s, 0, sizeof *s);
    s->handshakes_ok = atomic_load_explicit(&stat_ok, memory_order_relaxed);
    s->resumed = atomic_load_explicit(&stat_resumed, memory_order_relaxed);
    for (int i = 1; i < MOAT_TLS_FAIL__COUNT; i++)
        s->failed[i] = atomic_load_explicit(&stat_failed[i], memory_order_relaxed);
}

static const char *const fail_names[MOAT_TLS_FAIL__COUNT] = {
    [MOAT_TLS_FAIL_NONE] = "none",
    [MOAT_TLS_FAIL_NOT_TLS] = "not_tls",
    [MOAT_TLS_FAIL_NO_DATA] = "no_data",
    [MOAT_TLS_FAIL_PEER_CLOSED] = "peer_closed",
    [MOAT_TLS_FAIL_TIMEOUT] = "timeout",
    [MOAT_TLS_FAIL_VERSION_MISMATCH] = "version_mismatch",
    [MOAT_TLS_FAIL_CIPHER_MISMATCH] = "cipher_mismatch",
    [MOAT_TLS_FAIL_NO_CLIENT_CERT] = "no_client_cert",
    [MOAT_TLS_FAIL_UNKNOWN_CA] = "unknown_ca",
    [MOAT_TLS_FAIL_CERT_EXPIRED] = "cert_expired",
    [MOAT_TLS_FAIL_CERT_NOT_YET_VALID] = "cert_not_yet_valid",
    [MOAT_TLS_FAIL_BAD_CLIENT_CERT] = "bad_client_cert",
    [MOAT_TLS_FAIL_PEER_REJECTED] = "peer_rejected",
    [MOAT_TLS_FAIL_OTHER] = "other",
};

const char *moat_tls_fail_name(moat_tls_fail f)
{
    return (unsigned)f < MOAT_TLS_FAIL__COUNT ? fail_names[f] : "unknown";
}

/* ------------------------------------------------------------ not TLS */

static bool starts_with(const tls_conn *c, const char *s)
{
    size_t n = strlen(s);
    return c->nfirst >= n && !memcmp(c->first, s, n);
}

/* What the client sent instead of a ClientHello. */
static const char *not_tls_sentence(const tls_conn *c, char *buf, size_t len)
{
    if (c->first[0] == 0x10)
        return "client sent plain MQTT (a CONNECT packet) to a TLS port; enable TLS in the "
               "client (mqtts://, --cafile) or use the plain MQTT port";
    if (starts_with(c, "GET ") || starts_with(c, "POST") || starts_with(c, "HEAD") ||
        starts_with(c, "PUT ") || starts_with(c, "OPTI") || starts_with(c, "PRI "))
        return "client sent plain HTTP to a TLS port (http:// or ws:// where https:// or wss:// "
               "was needed)";
    if (starts_with(c, "PROXY ") || starts_with(c, "\r\n\r\n\0\r"))
        return "a PROXY protocol header arrived on a TLS port that does not expect one; enable "
               "proxy_protocol on this listener or turn it off in the load balancer";
    snprintf(buf, len, "client sent bytes that are not TLS (first byte 0x%02x) to a TLS port",
             c->first[0]);
    return buf;
}

/* Look at the first bytes a client sends. A TLS client starts with a
 * handshake record (0x16); SSLv2-style hellos (high bit set) are left to
 * OpenSSL to refuse with a version error. Anything else is not TLS. */
static bool note_first_bytes(tls_conn *c, const char *p, size_t n)
{
    while (c->nfirst < sizeof c->first && n > 0) {
        c->first[c->nfirst++] = (uint8_t)*p++;
        n--;
    }
    return c->first[0] == 0x16 || (c->first[0] & 0x80);
}

/* ---------------------------------------------------------------- BIO */

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
    tls_conn *c = BIO_get_data(b);
    size_t n = 0;
    BIO_clear_retry_flags(b);
    if (c->inner_err)
        return 0;
    if (moat_buf_avail(&c->out) == 0) {
        moat_err e = c->inner->ops->write(c->inner, data, len, &n);
        if (e != MOAT_OK && e != MOAT_EAGAIN) {
            c->inner_err = true;
            return 0;
        }
        if (e == MOAT_EAGAIN)
            n = 0;
    }
    if (n < len && moat_buf_append(&c->out, data + n, len - n) != MOAT_OK)
        return 0;
    *written = len;
    return 1;
}

static int bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
    tls_conn *c = BIO_get_data(b);
    size_t n = 0;
    BIO_clear_retry_flags(b);
    moat_err e = c->inner->ops->read(c->inner, buf, len, &n);
    if (e == MOAT_OK && n > 0) {
        if (c->nfirst < sizeof c->first && !note_first_bytes(c, buf, n)) {
            c->not_tls = true;
            return 0;
        }
        *got = n;
        return 1;
    }
    if (e == MOAT_EAGAIN)
        BIO_set_retry_read(b);
    else if (e == MOAT_EOF)
        c->inner_eof = true;
    else
        c->inner_err = true;
    return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tls_conn *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return c && c->inner_eof;
    default:
        return 0;
    }
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "moat transport");
    if (m && BIO_meth_set_write_ex(m, bio_write) && BIO_meth_set_read_ex(m, bio_read) &&
        BIO_meth_set_ctrl(m, bio_ctrl))
        bio_method = m;
    else
        BIO_meth_free(m);
}

/* ------------------------------------------------------------- output */

/* Send buffered ciphertext. MOAT_EAGAIN while some remains. */
static moat_err flush_out(tls_conn *c)
{
    while (moat_buf_avail(&c->out) > 0) {
        size_t n = 0;
        if (c->inner_err)
            return MOAT_EIO;
        moat_err e =
            c->inner->ops->write(c->inner, moat_buf_head(&c->out), moat_buf_avail(&c->out), &n);
        if (e == MOAT_EAGAIN)
            return MOAT_EAGAIN;
        if (e) {
            c->inner_err = true;
            return MOAT_EIO;
        }
        moat_buf_consume(&c->out, n);
    }
    if (c->out.cap)
        moat_buf_free(&c->out); /* idle connections keep no buffer */
    return MOAT_OK;
}

/* -------------------------------------------------------- verification */

/* Installed on the SSL_CTX: remembers why a client certificate was refused,
 * and applies verify_peer_ext_key_usage to the leaf. */
int moat_tls__verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!c)
        return ok;
    X509 *cert = X509_STORE_CTX_get_current_cert(xs);
    int depth = X509_STORE_CTX_get_error_depth(xs);
    if (ok && depth == 0 && c->ctx->eku && cert) {
        EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
        bool found = false;
        for (int i = 0; eku && !found && i < sk_ASN1_OBJECT_num(eku); i++)
            found = !OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), c->ctx->eku);
        EXTENDED_KEY_USAGE_free(eku);
        if (!found) {
            X509_STORE_CTX_set_error(xs, X509_V_ERR_INVALID_PURPOSE);
            c->eku_missing = true;
            ok = 0;
        }
    }
    if (!ok && !c->verify_err) {
        c->verify_err = X509_STORE_CTX_get_error(xs);
        c->verify_depth = depth;
        if (cert && X509_up_ref(cert))
            c->bad_cert = cert;
    }
    return ok;
}

/* Installed on the SSL_CTX: notes the highest version the client offers,
 * so a version mismatch can be explained. */
int moat_tls__client_hello_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    (void)arg;
    tls_conn *c = SSL_get_app_data(ssl);
    const unsigned char *p = NULL;
    size_t len = 0;
    unsigned best = SSL_client_hello_get0_legacy_version(ssl);
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &p, &len) && len >= 1) {
        for (size_t i = 1; i + 1 < len && i < 1u + p[0]; i += 2) {
            unsigned v = (unsigned)p[i] << 8 | p[i + 1];
            if ((v & 0x0f0f) != 0x0a0a && v < 0x7f00 && v > best) /* skip GREASE, drafts */
                best = v;
        }
    }
    if (c)
        c->client_version = (uint16_t)best;
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* --------------------------------------------------------- failures */

static const char *version_name(unsigned v)
{
    switch (v) {
    case 0x0300:
        return "SSL 3.0";
    case 0x0301:
        return "TLS 1.0";
    case 0x0302:
        return "TLS 1.1";
    case 0x0303:
        return "TLS 1.2";
    case 0x0304:
        return "TLS 1.3";
    default:
        return "an unknown version";
    }
}

static void set_detail(tls_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_detail(tls_conn *c, const char *fmt, ...)
{
    va_list ap;
    free(c->detail);
    va_start(ap, fmt);
    if (vasprintf(&c->detail, fmt, ap) < 0)
        c->detail = NULL;
    va_end(ap);
}

static moat_tls_fail verify_failure(tls_conn *c)
{
    char subj[512], iss[512], when[32];
    const char *who = c->verify_depth == 0 ? "client certificate"
                                           : "CA certificate in the "
                                             "client's chain";
    moat_cert_name_oneline(c->bad_cert, false, subj, sizeof subj);
    moat_cert_name_oneline(c->bad_cert, true, iss, sizeof iss);
    switch (c->verify_err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        set_detail(c,
                   "%s (%s) signed by an unknown CA (issuer %s); add that CA to cacertfile or "
                   "give the client a certificate from a CA in cacertfile",
                   who, subj, iss);
        return MOAT_TLS_FAIL_UNKNOWN_CA;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        moat_cert_time_str(moat_cert_not_after(c->bad_cert), when, sizeof when);
        set_detail(c, "%s (%s) expired on %s", who, subj, when);
        return MOAT_TLS_FAIL_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        moat_cert_time_str(moat_cert_not_before(c->bad_cert), when, sizeof when);
        set_detail(c, "%s (%s) is not valid before %s (check the clocks)", who, subj, when);
        return MOAT_TLS_FAIL_CERT_NOT_YET_VALID;
    case X509_V_ERR_INVALID_PURPOSE:
        if (c->eku_missing)
            set_detail(c,
                       "client certificate (%s) lacks the extended key usage %s required by "
                       "verify_peer_ext_key_usage",
                       subj, c->ctx->eku_name);
        else
            set_detail(c, "%s (%s) is not allowed for client authentication (extended key usage)",
                       who, subj);
        return MOAT_TLS_FAIL_BAD_CLIENT_CERT;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        set_detail(c, "client certificate chain is longer than depth = %d allows", c->ctx->depth);
        return MOAT_TLS_FAIL_BAD_CLIENT_CERT;
    default:
        set_detail(c, "%s (%s) refused: %s", who, subj,
                   X509_verify_cert_error_string(c->verify_err));
        return MOAT_TLS_FAIL_BAD_CLIENT_CERT;
    }
}

/* The client asked for a name our certificate does not cover? Worth saying
 * when it rejects the certificate. */
static const char *sni_hint(tls_conn *c, char *buf, size_t len)
{
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    X509 *x = SSL_get_certificate(c->ssl);
    if (!sni || !x || X509_check_host(x, sni, 0, 0, NULL) == 1)
        return "";
    snprintf(buf, len, "; it asked for '%s', which the server certificate does not name", sni);
    return buf;
}

/* The client sent a fatal alert during the handshake. */
static moat_tls_fail alert_failure(tls_conn *c, int alert)
{
    char hint[320];
    const char *name = SSL_alert_desc_string_long(alert);
    switch (alert) {
    case SSL_AD_UNKNOWN_CA:
        set_detail(c,
                   "client rejected the server certificate (alert: %s): it does not trust the CA "
                   "that issued it; give the client that CA (e.g. --cafile) and serve the full "
                   "chain (fullchain.pem)",
                   name);
        return MOAT_TLS_FAIL_PEER_REJECTED;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_REVOKED:
        set_detail(c,
                   "client rejected the server certificate (alert: %s)%s; common causes: a host "
                   "name not in the certificate's subjectAltName, an incomplete chain, an "
                   "expired certificate or a wrong client clock",
                   name, sni_hint(c, hint, sizeof hint));
        return MOAT_TLS_FAIL_PEER_REJECTED;
    case SSL_AD_PROTOCOL_VERSION:
        set_detail(c, "client refused the protocol version (alert: %s)", name);
        return MOAT_TLS_FAIL_VERSION_MISMATCH;
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_INSUFFICIENT_SECURITY:
        set_detail(c, "client aborted the handshake (alert: %s): no acceptable parameters", name);
        return MOAT_TLS_FAIL_CIPHER_MISMATCH;
    default:
        set_detail(c, "client aborted the handshake (alert: %s)", name);
        return MOAT_TLS_FAIL_OTHER;
    }
}

static moat_tls_fail version_failure(tls_conn *c)
{
    const char *accepts = c->ctx->versions == MOAT_TLS_V1_3   ? "TLS 1.3 only"
                          : c->ctx->versions == MOAT_TLS_V1_2 ? "TLS 1.2 only"
                                                              : "TLS 1.2 and 1.3";
    if (c->client_version)
        set_detail(c, "client offers TLS up to %s, but this listener accepts %s (tls_versions)",
                   version_name(c->client_version), accepts);
    else
        set_detail(c, "no TLS version in common with the client; this listener accepts %s",
                   accepts);
    return MOAT_TLS_FAIL_VERSION_MISMATCH;
}

static moat_tls_fail ssl_reason_failure(tls_conn *c, int reason)
{
    switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        set_detail(c, "client sent no certificate, but this listener requires one (verify = "
                      "verify_peer, fail_if_no_peer_cert = true)");
        return MOAT_TLS_FAIL_NO_CLIENT_CERT;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_UNKNOWN_PROTOCOL:
        return version_failure(c);
    case SSL_R_NO_SHARED_CIPHER:
        set_detail(c, "no cipher suite in common with the client (see ciphers and ciphersuites)");
        return MOAT_TLS_FAIL_CIPHER_MISMATCH;
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
        set_detail(c, "no key exchange group in common with the client (see ecdh_curves)");
        return MOAT_TLS_FAIL_CIPHER_MISMATCH;
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        set_detail(c, "the client accepts no signature this listener's certificate can make "
                      "(e.g. ECDSA only, with an RSA certificate: add one with certfile2)");
        return MOAT_TLS_FAIL_CIPHER_MISMATCH;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        set_detail(c, "client sent plain HTTP to a TLS port");
        return MOAT_TLS_FAIL_NOT_TLS;
    default:
        return MOAT_TLS_FAIL_NONE;
    }
}

/* Decide why the handshake failed, from what we saw and OpenSSL's error. */
static moat_tls_fail classify(tls_conn *c)
{
    char buf[128];
    if (c->not_tls) {
        set_detail(c, "%s", not_tls_sentence(c, buf, sizeof buf));
        return MOAT_TLS_FAIL_NOT_TLS;
    }
    if (c->verify_err && c->bad_cert)
        return verify_failure(c);
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    if (e && ERR_GET_LIB(e) == ERR_LIB_SSL) {
        if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
            return alert_failure(c, reason - SSL_AD_REASON_OFFSET);
        moat_tls_fail f = ssl_reason_failure(c, reason);
        if (f != MOAT_TLS_FAIL_NONE)
            return f;
    }
    if (c->inner_eof && c->nfirst == 0) {
        set_detail(c, "connection closed before the client sent anything (a port probe or a "
                      "load balancer health check)");
        return MOAT_TLS_FAIL_NO_DATA;
    }
    if (c->inner_eof) {
        set_detail(c, "client closed the connection during the TLS handshake without saying "
                      "why (often: it does not trust the server certificate)");
        return MOAT_TLS_FAIL_PEER_CLOSED;
    }
    set_detail(c, "TLS handshake failed: %s",
               c->inner_err ? "connection error"
               : e          ? ERR_reason_error_string(e)
                            : "unknown");
    return MOAT_TLS_FAIL_OTHER;
}

static void count_failure(moat_tls_fail f)
{
    atomic_fetch_add_explicit(&stat_failed[f], 1, memory_order_relaxed);
}

static moat_err fail_handshake(tls_conn *c)
{
    c->fail = (uint8_t)classify(c);
    c->state = MOAT_TLS_FAILED;
    count_failure((moat_tls_fail)c->fail);
    ERR_clear_error();
    flush_out(c); /* best effort: the alert, if OpenSSL wrote one */
    if (c->fail == MOAT_TLS_FAIL_NO_DATA || c->fail == MOAT_TLS_FAIL_PEER_CLOSED)
        return MOAT_EOF;
    return c->inner_err ? MOAT_EIO : MOAT_EPROTOCOL;
}

/* --------------------------------------------------------- handshake */

static moat_err handshake(tls_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = MOAT_TLS_ESTABLISHED;
        atomic_fetch_add_explicit(&stat_ok, 1, memory_order_relaxed);
        if (SSL_session_reused(c->ssl))
            atomic_fetch_add_explicit(&stat_resumed, 1, memory_order_relaxed);
        X509_free(c->bad_cert); /* verify_peer without fail_if_no_peer_cert */
        c->bad_cert = NULL;
        moat_err e = flush_out(c);
        return e == MOAT_EIO ? e : MOAT_OK;
    }
    int err = SSL_get_error(c->ssl, r);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) && !c->not_tls) {
        moat_err e = flush_out(c);
        return e == MOAT_EIO ? e : MOAT_EAGAIN;
    }
    return fail_handshake(c);
}

/* Run the handshake callback once the state has settled, just before the
 * read or write that settled it returns. */
static moat_err settle(tls_conn *c, moat_err e)
{
    if (c->state != MOAT_TLS_HANDSHAKING && !c->notified) {
        c->notified = true;
        if (c->on_hs)
            c->on_hs(&c->base, c->on_hs_arg);
    }
    return e;
}

/* An error from SSL_read/SSL_write after the handshake. */
static moat_err io_error(tls_conn *c, int err)
{
    switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return flush_out(c) == MOAT_EIO ? MOAT_EIO : MOAT_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return MOAT_EOF;
    default:
        break;
    }
    if (c->inner_eof)
        return MOAT_EOF; /* closed without close_notify: harmless for MQTT, whose
                            packets carry their own lengths */
    if (c->inner_err)
        return MOAT_EIO;
    unsigned long e = ERR_peek_error();
    set_detail(c, "TLS error after the handshake: %s", e ? ERR_reason_error_string(e) : "unknown");
    c->fail = MOAT_TLS_FAIL_OTHER;
    c->state = MOAT_TLS_FAILED;
    ERR_clear_error();
    flush_out(c);
    return MOAT_EPROTOCOL;
}

/* ----------------------------------------------------------- the ops */

static moat_err do_read(tls_conn *c, void *buf, size_t len, size_t *n)
{
    if (c->state == MOAT_TLS_FAILED)
        return MOAT_EPROTOCOL;
    if (flush_out(c) == MOAT_EIO)
        return MOAT_EIO;
    moat_err e;
    if (c->state == MOAT_TLS_HANDSHAKING && (e = handshake(c)) != MOAT_OK)
        return e;
    if (len == 0)
        return MOAT_EAGAIN;
    ERR_clear_error();
    if (SSL_read_ex(c->ssl, buf, len, n))
        return MOAT_OK;
    return io_error(c, SSL_get_error(c->ssl, 0));
}

static moat_err tls_read(moat_transport *t, void *buf, size_t len, size_t *n)
{
    tls_conn *c = (tls_conn *)t;
    *n = 0;
    return settle(c, do_read(c, buf, len, n));
}

static moat_err do_write(tls_conn *c, const void *buf, size_t len, size_t *n)
{
    if (c->state == MOAT_TLS_FAILED)
        return MOAT_EPROTOCOL;
    moat_err e = flush_out(c);
    if (e == MOAT_EIO)
        return e;
    if (c->state == MOAT_TLS_HANDSHAKING && (e = handshake(c)) != MOAT_OK) {
        if (e != MOAT_EAGAIN)
            return e;
        return len == 0 && moat_buf_avail(&c->out) == 0 ? MOAT_OK : MOAT_EAGAIN;
    }
    if (moat_buf_avail(&c->out) > 0)
        return MOAT_EAGAIN;
    if (len == 0)
        return MOAT_OK;
    ERR_clear_error();
    if (SSL_write_ex(c->ssl, buf, len < WRITE_CHUNK ? len : WRITE_CHUNK, n))
        return MOAT_OK;
    return io_error(c, SSL_get_error(c->ssl, 0));
}

static moat_err tls_write(moat_transport *t, const void *buf, size_t len, size_t *n)
{
    tls_conn *c = (tls_conn *)t;
    *n = 0;
    return settle(c, do_write(c, buf, len, n));
}

static bool tls_has_pending(moat_transport *t)
{
    tls_conn *c = (tls_conn *)t;
    if (c->state == MOAT_TLS_FAILED)
        return false;
    return SSL_has_pending(c->ssl) || c->inner->ops->has_pending(c->inner);
}

static bool tls_wants_write(moat_transport *t)
{
    tls_conn *c = (tls_conn *)t;
    return moat_buf_avail(&c->out) > 0 || c->inner->ops->wants_write(c->inner);
}

static void tls_close(moat_transport *t)
{
    tls_conn *c = (tls_conn *)t;
    if (c->state == MOAT_TLS_ESTABLISHED && !c->inner_err && !c->inner_eof) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* queues close_notify; we do not wait for the reply */
        flush_out(c);
    }
    SSL_free(c->ssl);
    ERR_clear_error();
    c->inner->ops->close(c->inner);
    moat_tls_ctx_unref(c->ctx);
    X509_free(c->bad_cert);
    moat_buf_free(&c->out);
    free(c->detail);
    free(c);
}

static moat_transport *tls_lower(moat_transport *t)
{
    return ((tls_conn *)t)->inner;
}

static const moat_transport_ops tls_ops = {
    .name = "tls",
    .lower = tls_lower,
    .read = tls_read,
    .write = tls_write,
    .has_pending = tls_has_pending,
    .wants_write = tls_wants_write,
    .close = tls_close,
};

moat_err moat_tls_transport_new(moat_tls_ctx *ctx, moat_transport *inner, moat_transport **out)
{
    pthread_once(&bio_once, bio_method_init);
    if (!bio_method)
        return MOAT_ENOMEM;
    tls_conn *c = calloc(1, sizeof *c);
    BIO *bio = NULL;
    if (!c || !(c->ssl = SSL_new(ctx->ssl_ctx)) || !(bio = BIO_new(bio_method))) {
        if (c)
            SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return MOAT_ENOMEM;
    }
    BIO_set_data(bio, c);
    BIO_set_init(bio, 1);
    SSL_set_bio(c->ssl, bio, bio); /* the SSL owns the BIO */
    SSL_set_app_data(c->ssl, c);
    SSL_set_accept_state(c->ssl);
    c->base.ops = &tls_ops;
    c->base.fd = inner->fd;
    c->inner = inner;
    c->ctx = moat_tls_ctx_ref(ctx);
    c->state = MOAT_TLS_HANDSHAKING;
    *out = &c->base;
    return MOAT_OK;
}

/* ------------------------------------------------------------ queries */

bool moat_tls_is(const moat_transport *t)
{
    return t && t->ops == &tls_ops;
}

/* The TLS layer of t: t itself, or found under a layer above it (ws). */
static tls_conn *find_tls(const moat_transport *t)
{
    return (tls_conn *)moat_transport_find((moat_transport *)t, &tls_ops);
}

static const tls_conn *as_tls(const moat_transport *t)
{
    return find_tls(t);
}

moat_tls_state moat_tls_get_state(const moat_transport *t)
{
    const tls_conn *c = as_tls(t);
    return c ? (moat_tls_state)c->state : MOAT_TLS_FAILED;
}

moat_tls_fail moat_tls_failure(const moat_transport *t, const char **detail)
{
    const tls_conn *c = as_tls(t);
    if (detail)
        *detail = c && c->detail ? c->detail : "";
    return c && c->state == MOAT_TLS_FAILED ? (moat_tls_fail)c->fail : MOAT_TLS_FAIL_NONE;
}

void moat_tls_fail_timeout(moat_transport *t)
{
    tls_conn *c = find_tls(t);
    if (!c || c->state != MOAT_TLS_HANDSHAKING)
        return;
    c->state = MOAT_TLS_FAILED;
    c->fail = MOAT_TLS_FAIL_TIMEOUT;
    c->notified = true; /* the caller knows: it is the one saying so */
    set_detail(c, "TLS handshake not completed within %u ms%s", c->ctx->handshake_timeout_ms,
               c->nfirst ? "" : " (the client sent nothing)");
    count_failure(MOAT_TLS_FAIL_TIMEOUT);
}

void moat_tls_on_handshake(moat_transport *t, moat_tls_handshake_fn fn, void *arg)
{
    tls_conn *c = find_tls(t);
    if (c) {
        c->on_hs = fn;
        c->on_hs_arg = arg;
    }
}

static const char *alpn_selected(const tls_conn *c)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    for (int i = 0; p && i < c->ctx->n_alpn; i++)
        if (strlen(c->ctx->alpn[i]) == len && !memcmp(c->ctx->alpn[i], p, len))
            return c->ctx->alpn[i];
    return "";
}

moat_err moat_tls_session(const moat_transport *t, moat_tls_session_info *out)
{
    const tls_conn *c = as_tls(t);
    if (!c || c->state != MOAT_TLS_ESTABLISHED)
        return MOAT_EINVAL;
    const char *std = SSL_CIPHER_standard_name(SSL_get_current_cipher(c->ssl));
    const char *group = SSL_group_to_name(c->ssl, SSL_get_negotiated_group(c->ssl));
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    out->version = SSL_get_version(c->ssl);
    out->cipher = std ? std : "";
    out->group = group ? group : "";
    out->alpn = alpn_selected(c);
    out->sni = sni ? sni : "";
    out->resumed = SSL_session_reused(c->ssl);
    out->peer_cert =
        SSL_get0_peer_certificate(c->ssl) && SSL_get_verify_result(c->ssl) == X509_V_OK;
    return MOAT_OK;
}

static moat_err peer_cert(const moat_transport *t, X509 **out)
{
    const tls_conn *c = as_tls(t);
    if (!c || c->state != MOAT_TLS_ESTABLISHED)
        return MOAT_EINVAL;
    *out = SSL_get0_peer_certificate(c->ssl);
    return *out ? MOAT_OK : MOAT_ENOTFOUND;
}

moat_err moat_tls_peer_identity(const moat_transport *t, moat_cert_id which, char *out, size_t len)
{
    X509 *x = NULL;
    moat_err e = peer_cert(t, &x);
    if (e && out && len)
        out[0] = '\0';
    return e ? e : moat_cert_identity(x, which, out, len);
}

moat_err moat_tls_peer_info(const moat_transport *t, moat_cert_info *out)
{
    X509 *x = NULL;
    moat_err e = peer_cert(t, &x);
    return e ? e : moat_cert_info_get(x, out);
}
