/* SPDX-License-Identifier: Apache-2.0 */
/* The probe's TLS client: the context, the callbacks that watch the
 * handshake, and what is collected once it is over (or has failed).
 *
 * Verification is OpenSSL's (X509_verify_cert through SSL_VERIFY_PEER, with
 * X509_VERIFY_PARAM_set1_host / set1_ip_asc for the name). The verify
 * callback only records each error and returns 1, so the handshake carries
 * on and the chain can still be shown, as `openssl s_client` does without
 * -verify_return_error. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli/probe.h"

/* ------------------------------------------------------------ callbacks */

static probe_result *result_of(SSL *ssl)
{
    probe_conn *c = SSL_get_app_data(ssl);
    return c ? c->res : NULL;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    probe_result *r = ssl ? result_of(ssl) : NULL;
    if (ok || !r)
        return 1;
    int code = X509_STORE_CTX_get_error(xs);
    int depth = X509_STORE_CTX_get_error_depth(xs);
    for (int i = 0; i < r->n_verr; i++)
        if (r->verr[i].code == code && r->verr[i].depth == depth)
            return 1;
    if (r->n_verr < PROBE_MAX_VERIFY_ERRS) {
        X509 *cert = X509_STORE_CTX_get_current_cert(xs);
        probe_verify_err *v = &r->verr[r->n_verr++];
        v->code = code;
        v->depth = depth;
        v->cert = cert && X509_up_ref(cert) ? cert : NULL;
    }
    return 1; /* finish the handshake: the verdict is ours to report */
}

/* Handshake messages and alerts, in both directions, as OpenSSL sees them
 * (after decryption in TLS 1.3, so a CertificateRequest is visible). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    probe_conn *c = arg;
    const uint8_t *b = buf;
    if (!c || len == 0)
        return;
    probe_result *r = c->res;
    if (content_type == SSL3_RT_HANDSHAKE && !write_p) {
        if (b[0] == SSL3_MT_SERVER_HELLO)
            r->server_hello = true;
        else if (b[0] == SSL3_MT_CERTIFICATE_REQUEST)
            r->cert_requested = true;
    } else if (content_type == SSL3_RT_ALERT && len >= 2) {
        /* close_notify is the normal end, not a verdict. */
        if (b[1] == SSL_AD_CLOSE_NOTIFY)
            return;
        if (write_p) {
            if (r->alert_out < 0)
                r->alert_out = b[1];
        } else if (r->alert_in < 0) {
            r->alert_in = b[1];
            r->alert_in_after_hs = SSL_is_init_finished(ssl);
        }
    }
}

/* ------------------------------------------------------------ context */

static void ossl_reason(char *out, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, len, "%s", why ? why : "unknown error");
    ERR_clear_error();
}

/* The certificates of a trust file, kept to explain a broken chain. */
static STACK_OF(X509) * read_certs(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (b && sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!sk_X509_push(sk, x))
            X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return sk;
}

SSL_CTX *probe_tls_ctx(const probe_opts *o, probe_result *res, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "OpenSSL cannot make a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, o->tls_version ? o->tls_version : TLS1_2_VERSION);
    if (o->tls_version)
        SSL_CTX_set_max_proto_version(ctx, o->tls_version);

    if (o->ca) {
        struct stat st;
        if (stat(o->ca, &st) != 0) {
            snprintf(err, errlen, "--ca %s: %s", o->ca, strerror(errno));
            goto fail;
        }
        int ok = S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_dir(ctx, o->ca)
                                     : SSL_CTX_load_verify_file(ctx, o->ca);
        if (!ok) {
            ossl_reason(why, sizeof why);
            snprintf(err, errlen, "--ca %s: no usable PEM certificate in it (%s)", o->ca, why);
            goto fail;
        }
        if (!S_ISDIR(st.st_mode))
            res->trust_certs = read_certs(o->ca);
        res->trust = o->ca;
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
        res->trust = "the system's trusted roots";
    }

    if (o->cert) {
        res->cert_configured = true;
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
            ossl_reason(why, sizeof why);
            snprintf(err, errlen, "--cert %s: cannot load a PEM certificate from it (%s)", o->cert,
                     why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
            ossl_reason(why, sizeof why);
            snprintf(err, errlen,
                     "--key %s: cannot load a PEM private key from it (%s; an encrypted key "
                     "is not supported here)",
                     o->key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            snprintf(err, errlen, "--key %s is not the private key of the certificate in %s",
                     o->key, o->cert);
            goto fail;
        }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* "mqtt,http/1.1" in ALPN wire form. */
static int set_alpn(SSL *ssl, const char *list)
{
    uint8_t wire[256];
    size_t n = 0;
    const char *p = list;
    while (*p) {
        size_t l = strcspn(p, ",");
        if (l > 0 && l < 256 && n + 1 + l <= sizeof wire) {
            wire[n++] = (uint8_t)l;
            memcpy(wire + n, p, l);
            n += l;
        }
        p += l;
        if (*p == ',')
            p++;
    }
    return n ? SSL_set_alpn_protos(ssl, wire, (unsigned)n) : 0;
}

int probe_tls_attach(SSL_CTX *ctx, const probe_opts *o, probe_conn *c)
{
    SSL *ssl = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    if (!ssl || !in || !out) {
        SSL_free(ssl);
        BIO_free(in);
        BIO_free(out);
        return -1;
    }
    SSL_set_bio(ssl, in, out);
    c->ssl = ssl;
    c->in = in;
    c->out = out;
    SSL_set_app_data(ssl, c);
    SSL_set_connect_state(ssl);

    const char *name = probe_name(o);
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (probe_is_ip(name)) {
        /* RFC 6066: no IP address in SNI; the name checked is the address. */
        X509_VERIFY_PARAM_set1_ip_asc(vp, name);
    } else {
        SSL_set_tlsext_host_name(ssl, name);
        c->res->sni_sent = true;
        X509_VERIFY_PARAM_set1_host(vp, name, 0);
    }
    const char *alpn = o->alpn;
    if (!alpn)
        alpn = o->app == PROBE_MQTT ? "mqtt" : o->app == PROBE_TLS_ONLY ? "" : "http/1.1";
    set_alpn(ssl, alpn);
    SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    SSL_set_msg_callback(ssl, msg_cb);
    SSL_set_msg_callback_arg(ssl, c);
    return 0;
}

/* ------------------------------------------------------------ collect */

static int64_t asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* The issuer of leaf among the certificates the server sent or the chain
 * verification built. */
static X509 *issuer_of(probe_result *r, X509 *leaf)
{
    STACK_OF(X509) * lists[] = {r->verified, r->sent, r->trust_certs};
    for (int k = 0; k < 3; k++)
        for (int i = 0; lists[k] && i < sk_X509_num(lists[k]); i++) {
            X509 *c = sk_X509_value(lists[k], i);
            if (c != leaf && X509_check_issued(c, leaf) == X509_V_OK)
                return c;
        }
    return NULL;
}

static void collect_ocsp(probe_conn *c)
{
    probe_result *r = c->res;
    const unsigned char *p = NULL;
    long len = SSL_get_tlsext_status_ocsp_resp(c->ssl, &p);
    if (len <= 0 || !p)
        return;
    r->ocsp_stapled = true;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, len);
    OCSP_BASICRESP *bs = NULL;
    OCSP_CERTID *id = NULL;
    if (!resp) {
        snprintf(r->ocsp_note, sizeof r->ocsp_note, "the stapled response does not decode");
        goto out;
    }
    r->ocsp_resp_status = OCSP_response_status(resp);
    if (r->ocsp_resp_status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(r->ocsp_note, sizeof r->ocsp_note, "the responder said '%s'",
                 OCSP_response_status_str(r->ocsp_resp_status));
        goto out;
    }
    bs = OCSP_response_get1_basic(resp);
    X509 *leaf = r->sent && sk_X509_num(r->sent) ? sk_X509_value(r->sent, 0) : NULL;
    X509 *iss = leaf ? issuer_of(r, leaf) : NULL;
    if (!bs || !leaf || !iss) {
        snprintf(r->ocsp_note, sizeof r->ocsp_note,
                 "cannot match the response to the certificate (its issuer is unknown)");
        goto out;
    }
    id = OCSP_cert_to_id(NULL, leaf, iss);
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
    if (!id || !OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisu, &nextu)) {
        snprintf(r->ocsp_note, sizeof r->ocsp_note,
                 "the response is about another certificate than the one the server sent");
        goto out;
    }
    r->ocsp_cert_status = status;
    r->ocsp_reason = reason;
    r->ocsp_revoked = asn1_epoch(rev);
    r->ocsp_this = asn1_epoch(thisu);
    r->ocsp_next = asn1_epoch(nextu);
    if (!OCSP_check_validity(thisu, nextu, 300, -1))
        snprintf(r->ocsp_note, sizeof r->ocsp_note,
                 "the response is outside its validity period (stale or not yet valid)");
    /* The responder's signature, checked against the same trust as the
     * server's chain, with the chain the server sent as helpers. */
    r->ocsp_sig_ok =
        OCSP_basic_verify(bs, r->sent, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(c->ssl)), 0) > 0;
out:
    ERR_clear_error();
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
}

void probe_tls_collect(probe_conn *c)
{
    probe_result *r = c->res;
    SSL *ssl = c->ssl;
    if (r->hs_ok) {
        snprintf(r->version, sizeof r->version, "%s", SSL_get_version(ssl));
        const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
        const char *std = ci ? SSL_CIPHER_standard_name(ci) : NULL;
        snprintf(r->cipher, sizeof r->cipher, "%s", std ? std : ci ? SSL_CIPHER_get_name(ci) : "");
        int g = SSL_get_negotiated_group(ssl);
        const char *gn = g ? SSL_group_to_name(ssl, g) : NULL;
        snprintf(r->group, sizeof r->group, "%s", gn ? gn : "");
        const unsigned char *a = NULL;
        unsigned al = 0;
        SSL_get0_alpn_selected(ssl, &a, &al);
        snprintf(r->alpn, sizeof r->alpn, "%.*s", (int)al, a ? (const char *)a : "");
    }
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    if (sent && !r->sent)
        r->sent = X509_chain_up_ref(sent);
    STACK_OF(X509) *ver = SSL_get0_verified_chain(ssl);
    if (ver && sk_X509_num(ver) && !r->verified)
        r->verified = X509_chain_up_ref(ver);
    const STACK_OF(X509_NAME) *names = SSL_get0_peer_CA_list(ssl);
    if (!names || !sk_X509_NAME_num(names))
        names = SSL_get_client_CA_list(ssl);
    if (names && sk_X509_NAME_num(names) && !r->ca_names)
        r->ca_names = sk_X509_NAME_deep_copy(names, X509_NAME_dup, X509_NAME_free);
    if (r->hs_ok)
        collect_ocsp(c);
    ERR_clear_error();
}
