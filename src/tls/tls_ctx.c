/* SPDX-License-Identifier: Apache-2.0 */
/* Building a listener's SSL_CTX: check the settings, load and check the
 * material through src/certs (so what is served is exactly what was
 * checked), then apply moat's secure defaults and the user's choices. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "tls/tls_int.h"

/* AEAD with forward secrecy only; AES-128 first (fast and strong enough),
 * ChaCha20 for clients without AES hardware (SSL_OP_PRIORITIZE_CHACHA). */
static const char DEFAULT_CIPHERS[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char DEFAULT_SUITES[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char DEFAULT_GROUPS[] = "X25519:P-256:P-384";
static const char ALL_TLS13_SUITES[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

#define SETTING_ERROR(r, fix, ...)                                                                 \
    moat_cert_report_add(r, MOAT_CERT_ERROR, MOAT_CERT_SETTING, NULL, fix, __VA_ARGS__)
#define SETTING_WARN(r, fix, ...)                                                                  \
    moat_cert_report_add(r, MOAT_CERT_WARNING, MOAT_CERT_SETTING_WARNING, NULL, fix, __VA_ARGS__)

void moat_tls_conf_defaults(moat_tls_conf *c)
{
    memset(c, 0, sizeof *c);
    c->verify = MOAT_TLS_VERIFY_NONE;
    c->depth = 10;
    c->tls_versions = MOAT_TLS_V1_2 | MOAT_TLS_V1_3;
    c->honor_cipher_order = true;
    c->reuse_sessions = true;
    c->handshake_timeout_ms = 15000;
    c->system_roots = true;
}

/* ---------------------------------------------------------- versions */

static unsigned version_bit(const char *tok)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"tlsv1.3", MOAT_TLS_V1_3}, {"tls1.3", MOAT_TLS_V1_3}, {"1.3", MOAT_TLS_V1_3},
        {"tlsv1.2", MOAT_TLS_V1_2}, {"tls1.2", MOAT_TLS_V1_2}, {"1.2", MOAT_TLS_V1_2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(tok, names[i].name))
            return names[i].bit;
    return 0;
}

static bool is_old_version(const char *tok)
{
    static const char *const old[] = {"tlsv1.1", "tls1.1", "1.1",   "tlsv1", "tlsv1.0",
                                      "tls1.0",  "1.0",    "sslv3", "sslv2"};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (!strcasecmp(tok, old[i]))
            return true;
    return false;
}

moat_err moat_tls_parse_versions(const char *s, unsigned *mask, char *err, size_t errlen)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    *mask = 0;
    for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        unsigned bit = version_bit(tok);
        if (bit) {
            *mask |= bit;
        } else if (is_old_version(tok)) {
            snprintf(err, errlen,
                     "'%s' is not supported: TLS 1.1 and older are deprecated (RFC 8996) and "
                     "broken; use tlsv1.3,tlsv1.2",
                     tok);
            return MOAT_EINVAL;
        } else {
            snprintf(err, errlen, "unknown TLS version '%s'; use tlsv1.3 and/or tlsv1.2", tok);
            return MOAT_EINVAL;
        }
    }
    if (*mask == 0) {
        snprintf(err, errlen, "no TLS version given; use tlsv1.3,tlsv1.2");
        return MOAT_EINVAL;
    }
    return MOAT_OK;
}

/* ----------------------------------------------------------- ciphers */

typedef struct strbuf {
    char s[4096];
    size_t n;
} strbuf;

static void sb_add(strbuf *b, const char *tok)
{
    int w = snprintf(b->s + b->n, sizeof b->s - b->n, "%s%s", b->n ? ":" : "", tok);
    if (w > 0 && b->n + (size_t)w < sizeof b->s)
        b->n += (size_t)w;
}

/* TLS 1.3 suites negotiate no key exchange of their own. */
static bool is_tls13(const SSL_CIPHER *c)
{
    return SSL_CIPHER_get_kx_nid(c) == NID_kx_any;
}

/* A cipher known to OpenSSL, by OpenSSL or IANA name. */
static const SSL_CIPHER *find_cipher(STACK_OF(SSL_CIPHER) * all, const char *tok)
{
    for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(all, i);
        const char *std = SSL_CIPHER_standard_name(c);
        if (!strcmp(tok, SSL_CIPHER_get_name(c)) || (std && !strcmp(tok, std)))
            return c;
    }
    return NULL;
}

/* Sort the tokens of a user's cipher list into TLS 1.2 (OpenSSL names) and
 * TLS 1.3 lists. Cipher-string keywords and operators ("HIGH", "!aNULL")
 * pass through to the 1.2 list; a word that selects nothing is an error,
 * because OpenSSL would silently drop it and a typo would go unnoticed. */
static void split_ciphers(const char *opt, const char *list, SSL_CTX *scratch,
                          STACK_OF(SSL_CIPHER) * all, strbuf *v12, strbuf *v13, moat_cert_report *r)
{
    char buf[4096], *save = NULL;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ",: \t", &save); tok; tok = strtok_r(NULL, ",: \t", &save)) {
        const SSL_CIPHER *c = find_cipher(all, tok);
        if (c && is_tls13(c))
            sb_add(v13, SSL_CIPHER_get_name(c));
        else if (c)
            sb_add(v12, SSL_CIPHER_get_name(c));
        else if (strchr("!-+@", tok[0]) || SSL_CTX_set_cipher_list(scratch, tok))
            sb_add(v12, tok);
        else
            SETTING_ERROR(r,
                          "Use OpenSSL names (ECDHE-RSA-AES128-GCM-SHA256) or IANA names "
                          "(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); `openssl ciphers -stdname` "
                          "lists both.",
                          "%s: unknown cipher '%s'", opt, tok);
    }
}

/* A scratch context whose cipher list holds every cipher OpenSSL knows. */
static SSL_CTX *cipher_catalog(STACK_OF(SSL_CIPHER) * *all)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    if (!s)
        return NULL;
    SSL_CTX_set_security_level(s, 0);
    if (!SSL_CTX_set_cipher_list(s, "ALL:COMPLEMENTOFALL") ||
        !SSL_CTX_set_ciphersuites(s, ALL_TLS13_SUITES) ||
        !(*all = sk_SSL_CIPHER_dup(SSL_CTX_get_ciphers(s)))) {
        SSL_CTX_free(s);
        return NULL;
    }
    return s;
}

/* Say so when the effective TLS 1.2 list has suites without AEAD or forward
 * secrecy: allowed, since the user listed them, but worth a second look. */
static void warn_weak_ciphers(SSL_CTX *ctx, moat_cert_report *r)
{
    strbuf weak = {.n = 0};
    STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
        if (is_tls13(c))
            continue;
        if (!SSL_CIPHER_is_aead(c) || SSL_CIPHER_get_kx_nid(c) == NID_kx_rsa)
            sb_add(&weak, SSL_CIPHER_get_name(c));
    }
    if (weak.n)
        SETTING_WARN(r,
                     "Unless old clients need them, list only ECDHE suites with AES-GCM or "
                     "CHACHA20-POLY1305 (or leave ciphers unset for moat's defaults).",
                     "ciphers enables TLS 1.2 suites without AEAD or without forward secrecy: %s",
                     weak.s);
}

static void apply_ciphers(SSL_CTX *ctx, const moat_tls_conf *c, moat_cert_report *r)
{
    STACK_OF(SSL_CIPHER) *all = NULL;
    SSL_CTX *scratch = cipher_catalog(&all);
    strbuf v12 = {.n = 0}, v13 = {.n = 0};
    unsigned errors = r->errors;
    if (!scratch) {
        SETTING_ERROR(r, "", "cannot list OpenSSL's ciphers (out of memory?)");
        return;
    }
    if (c->ciphersuites)
        split_ciphers("ciphersuites", c->ciphersuites, scratch, all, &v12, &v13, r);
    if (v12.n)
        SETTING_ERROR(r, "TLS 1.2 ciphers belong in ciphers.",
                      "ciphersuites lists TLS 1.2 ciphers (%s); it takes TLS 1.3 suites only",
                      v12.s);
    v12.n = 0;
    if (c->ciphers)
        split_ciphers("ciphers", c->ciphers, scratch, all, &v12, &v13, r);
    sk_SSL_CIPHER_free(all);
    SSL_CTX_free(scratch);
    if (r->errors > errors)
        return;
    const char *l12 = c->ciphers ? v12.s : DEFAULT_CIPHERS;
    const char *l13 = v13.n ? v13.s : DEFAULT_SUITES;
    if ((c->tls_versions & MOAT_TLS_V1_2) && (!*l12 || !SSL_CTX_set_cipher_list(ctx, l12)))
        SETTING_ERROR(r, "List at least one TLS 1.2 cipher, or remove tlsv1.2 from tls_versions.",
                      "ciphers selects no usable TLS 1.2 cipher ('%s') while tls_versions "
                      "includes tlsv1.2",
                      l12);
    else if (c->ciphers && (c->tls_versions & MOAT_TLS_V1_2))
        warn_weak_ciphers(ctx, r);
    if (!SSL_CTX_set_ciphersuites(ctx, l13))
        SETTING_ERROR(r,
                      "Use TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or "
                      "TLS_CHACHA20_POLY1305_SHA256.",
                      "ciphersuites: OpenSSL refuses '%s'", l13);
}

static void apply_groups(SSL_CTX *ctx, const char *list, moat_cert_report *r)
{
    char buf[1024], *save = NULL;
    strbuf g = {.n = 0};
    if (!list) {
        SSL_CTX_set1_groups_list(ctx, DEFAULT_GROUPS);
        return;
    }
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ",: \t", &save); tok; tok = strtok_r(NULL, ",: \t", &save)) {
        if (SSL_CTX_set1_groups_list(ctx, tok))
            sb_add(&g, tok);
        else
            SETTING_ERROR(r, "Use x25519, secp256r1 (P-256), secp384r1 (P-384) or x448.",
                          "ecdh_curves: unknown or unsupported group '%s'", tok);
    }
    if (!g.n || !SSL_CTX_set1_groups_list(ctx, g.s))
        SETTING_ERROR(r, "List at least one group, e.g. x25519,secp256r1.",
                      "ecdh_curves selects no usable group");
}

/* -------------------------------------------------------------- ALPN */

static void parse_alpn(moat_tls_ctx *t, const char *list, moat_cert_report *r)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        if (strlen(tok) > 255 || t->n_alpn == MOAT_TLS_MAX_ALPN) {
            SETTING_ERROR(r, "List at most 8 protocols of at most 255 bytes each.",
                          "alpn: too many or too long protocol names");
            return;
        }
        if (!(t->alpn[t->n_alpn] = strdup(tok))) {
            SETTING_ERROR(r, "", "alpn: out of memory");
            return;
        }
        t->n_alpn++;
    }
}

/* Server preference: the first of our protocols that the client offers. A
 * client offering only protocols we do not speak still gets a connection
 * (no ALPN), since MQTT clients send a variety of names. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const moat_tls_ctx *t = arg;
    for (int i = 0; i < t->n_alpn; i++) {
        size_t l = strlen(t->alpn[i]);
        for (unsigned p = 0; p < inlen; p += 1u + in[p]) {
            if (in[p] == l && p + 1 + l <= inlen && !memcmp(in + p + 1, t->alpn[i], l)) {
                *out = in + p + 1;
                *outlen = (unsigned char)l;
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* ---------------------------------------------------- client checks */

static ASN1_OBJECT *parse_eku(const char *name)
{
    static const struct {
        const char *name;
        int nid;
    } ekus[] = {
        {"clientAuth", NID_client_auth},  {"serverAuth", NID_server_auth},
        {"codeSigning", NID_code_sign},   {"emailProtection", NID_email_protect},
        {"timeStamping", NID_time_stamp}, {"ocspSigning", NID_OCSP_sign},
    };
    for (size_t i = 0; i < sizeof ekus / sizeof ekus[0]; i++)
        if (!strcasecmp(name, ekus[i].name))
            return OBJ_nid2obj(ekus[i].nid);
    return OBJ_txt2obj(name, 1); /* dotted OID only */
}

/* Combinations of settings that cannot work or do not do what they say. */
static void check_settings(const moat_tls_conf *c, moat_cert_report *r)
{
    if (!c->certfile)
        SETTING_ERROR(r, "Set certfile to the server certificate chain (e.g. fullchain.pem).",
                      "certfile is not set: a TLS listener needs a certificate");
    if (c->certfile && !c->keyfile)
        SETTING_ERROR(r, "Set keyfile to the private key of the certificate (e.g. privkey.pem).",
                      "keyfile is not set");
    if (!c->certfile2 != !c->keyfile2)
        SETTING_ERROR(r, "Set both certfile2 and keyfile2, or neither.",
                      "certfile2 and keyfile2 go together; only one is set");
    if (!c->tls_versions || (c->tls_versions & ~(MOAT_TLS_V1_2 | MOAT_TLS_V1_3)))
        SETTING_ERROR(r, "Use tls_versions = tlsv1.3,tlsv1.2.", "tls_versions is empty or invalid");
    if (c->verify == MOAT_TLS_VERIFY_PEER && !c->cacertfile)
        SETTING_ERROR(r,
                      "Set cacertfile to the CA certificate(s) that issued the client "
                      "certificates.",
                      "verify = verify_peer needs cacertfile to check client certificates against");
    if (c->verify == MOAT_TLS_VERIFY_NONE && c->fail_if_no_peer_cert)
        SETTING_WARN(r, "Set verify = verify_peer to require client certificates.",
                     "fail_if_no_peer_cert = true has no effect with verify = verify_none: no "
                     "client certificate is asked for");
    if (c->depth < 0 || c->depth > 100)
        SETTING_ERROR(r, "Use a depth between 1 and 10 for ordinary PKIs.",
                      "depth = %d is out of range (0 to 100)", c->depth);
}

/* ----------------------------------------------------------- material */

typedef struct material {
    STACK_OF(X509) * ca;
    moat_cert_chain pair[2];
    int npairs;
    EVP_PKEY *dh;
} material;

static void material_free(material *m)
{
    sk_X509_pop_free(m->ca, X509_free);
    moat_cert_chain_free(&m->pair[0]);
    moat_cert_chain_free(&m->pair[1]);
    EVP_PKEY_free(m->dh);
}

static int key_kind(const EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    return id == EVP_PKEY_RSA_PSS ? EVP_PKEY_RSA : id;
}

static moat_err load_material(const moat_tls_conf *c, material *m, moat_cert_report *r)
{
    moat_cert_opts o = {
        .now = c->now, .system_roots = c->system_roots, .trusted_file = c->cacertfile};
    moat_err e = MOAT_OK;
    if (c->cacertfile)
        e = moat_cert_load_ca(c->cacertfile, c->partial_chain, &o, &m->ca, r);
    o.trusted = m->ca;
    if (e != MOAT_ENOMEM && c->certfile && c->keyfile &&
        (e = moat_cert_load_server(c->certfile, c->keyfile, c->key_password, &o, &m->pair[0], r)) ==
            MOAT_OK)
        m->npairs = 1;
    if (e != MOAT_ENOMEM && c->certfile2 && c->keyfile2 &&
        (e = moat_cert_load_server(c->certfile2, c->keyfile2, c->key_password, &o,
                                   &m->pair[m->npairs], r)) == MOAT_OK)
        m->npairs++;
    if (e != MOAT_ENOMEM && c->dhfile)
        e = moat_cert_load_dh(c->dhfile, &m->dh, r);
    if (m->npairs == 2 && key_kind(m->pair[0].key) == key_kind(m->pair[1].key))
        moat_cert_report_add(r, MOAT_CERT_ERROR, MOAT_CERT_DUPLICATE_KEY_TYPE, c->certfile2,
                             "Use certfile2 for a certificate with the other key type (ECDSA "
                             "when certfile is RSA, or the reverse).",
                             "certfile2 (%s) has a %s key like certfile (%s); one certificate is "
                             "served per key type, so the second would replace the first",
                             c->certfile2, OBJ_nid2sn(key_kind(m->pair[0].key)), c->certfile);
    return e == MOAT_ENOMEM ? e : MOAT_OK;
}

/* ------------------------------------------------------------ SSL_CTX */

static void library_error(moat_cert_report *r, const char *file, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    moat_cert_report_add(r, MOAT_CERT_ERROR, MOAT_CERT_TLS_LIBRARY, file,
                         "See the warnings above for this file; OpenSSL 3 refuses SHA-1 "
                         "signatures and keys under 2048 bits at moat's security level.",
                         "OpenSSL refused %s%s%s: %s", what, file ? " from " : "", file ? file : "",
                         e ? ERR_reason_error_string(e) : "unknown reason");
    ERR_clear_error();
}

static void apply_protocol(SSL_CTX *ctx, const moat_tls_conf *c)
{
    SSL_CTX_set_min_proto_version(ctx, (c->tls_versions & MOAT_TLS_V1_2) ? TLS1_2_VERSION
                                                                         : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, (c->tls_versions & MOAT_TLS_V1_3) ? TLS1_3_VERSION
                                                                         : TLS1_2_VERSION);
    /* Level 2: RSA/DH >= 2048 bits, no SHA-1 signatures, for our chain and
     * for client certificates alike. */
    SSL_CTX_set_security_level(ctx, 2);
    uint64_t opts = SSL_OP_NO_COMPRESSION | SSL_OP_PRIORITIZE_CHACHA;
    if (c->honor_cipher_order)
        opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    opts |= c->secure_renegotiate ? SSL_OP_ALLOW_CLIENT_RENEGOTIATION : SSL_OP_NO_RENEGOTIATION;
    if (!c->reuse_sessions)
        opts |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, opts);
    /* RELEASE_BUFFERS: an idle connection keeps no 16 KB record buffers.
     * NO_AUTO_CHAIN: serve exactly the chain that was checked, never one
     * OpenSSL assembles from whatever store it finds. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN |
                              SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read whole socket buffers at once rather than a 5-byte header and then
     * the body: half the system calls. Buffered records show up in
     * has_pending. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Resumption by stateless tickets only: no server-side cache to grow,
     * lock or share between workers. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, c->reuse_sessions ? 1 : 0);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"moat", 4);
}

static void apply_certs(SSL_CTX *ctx, const moat_tls_conf *c, material *m, moat_cert_report *r)
{
    const char *files[2] = {c->certfile, c->certfile2};
    for (int i = 0; i < m->npairs; i++)
        if (!SSL_CTX_use_cert_and_key(ctx, m->pair[i].leaf, m->pair[i].key, m->pair[i].chain, 1))
            library_error(r, files[i], "the certificate");
    if (m->dh) {
        if (SSL_CTX_set0_tmp_dh_pkey(ctx, m->dh))
            m->dh = NULL; /* taken */
        else
            library_error(r, c->dhfile, "the DH parameters");
    }
}

static void apply_verify(SSL_CTX *ctx, const moat_tls_conf *c, material *m, moat_cert_report *r)
{
    if (c->verify != MOAT_TLS_VERIFY_PEER) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return;
    }
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    for (int i = 0; i < sk_X509_num(m->ca); i++) {
        X509 *x = sk_X509_value(m->ca, i);
        if (!X509_STORE_add_cert(st, x))
            library_error(r, c->cacertfile, "a CA certificate");
        X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
        if (names && nm && !sk_X509_NAME_push(names, nm))
            X509_NAME_free(nm);
    }
    /* Tell clients which CAs we accept, so one with several certificates
     * picks the right one. */
    SSL_CTX_set_client_CA_list(ctx, names);
    if (c->partial_chain)
        X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_verify_depth(ctx, c->depth);
    int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (c->fail_if_no_peer_cert)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, moat_tls__verify_cb);
}

static SSL_CTX *build_ssl_ctx(moat_tls_ctx *t, const moat_tls_conf *c, material *m,
                              moat_cert_report *r)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    apply_protocol(ctx, c);
    apply_ciphers(ctx, c, r);
    apply_groups(ctx, c->ecdh_curves, r);
    apply_certs(ctx, c, m, r);
    apply_verify(ctx, c, m, r);
    SSL_CTX_set_client_hello_cb(ctx, moat_tls__client_hello_cb, NULL);
    if (t->n_alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
    return ctx;
}

/* ------------------------------------------------------- watch paths */

static bool has_str(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

static moat_err add_watch(moat_tls_ctx *t, int *n, const char *s)
{
    if (has_str(t->watch, *n, s))
        return MOAT_OK;
    char **v = realloc(t->watch, (size_t)(*n + 2) * sizeof *v);
    if (!v)
        return MOAT_ENOMEM;
    t->watch = v;
    if (!(v[*n] = strdup(s)))
        return MOAT_ENOMEM;
    v[++*n] = NULL;
    return MOAT_OK;
}

static moat_err add_file_and_dir(moat_tls_ctx *t, int *n, const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    moat_err e = add_watch(t, n, path);
    return e ? e : add_watch(t, n, dir);
}

static moat_err build_watch(moat_tls_ctx *t, const moat_tls_conf *c)
{
    const char *files[] = {c->certfile, c->keyfile,    c->certfile2,
                           c->keyfile2, c->cacertfile, c->dhfile};
    int n = 0;
    moat_err e = (t->watch = calloc(1, sizeof *t->watch)) ? MOAT_OK : MOAT_ENOMEM;
    for (size_t i = 0; !e && i < sizeof files / sizeof files[0]; i++) {
        struct stat st;
        char real[PATH_MAX];
        if (!files[i])
            continue;
        e = add_file_and_dir(t, &n, files[i]);
        if (!e && lstat(files[i], &st) == 0 && S_ISLNK(st.st_mode) && realpath(files[i], real))
            e = add_file_and_dir(t, &n, real);
    }
    return e;
}

/* ------------------------------------------------------------ digest */

static void hash_str(EVP_MD_CTX *md, const char *s)
{
    EVP_DigestUpdate(md, s ? s : "\x01", s ? strlen(s) + 1 : 1);
}

static void hash_cert(EVP_MD_CTX *md, const X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n > 0)
        EVP_DigestUpdate(md, der, (size_t)n);
    OPENSSL_free(der);
}

static void hash_certs(EVP_MD_CTX *md, STACK_OF(X509) * sk)
{
    for (int i = 0; i < sk_X509_num(sk); i++)
        hash_cert(md, sk_X509_value(sk, i));
}

/* Two contexts with equal digests serve the same thing in the same way. */
static void compute_digest(moat_tls_ctx *t, const moat_tls_conf *c, const material *m)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char nums[128];
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return;
    }
    const char *strs[] = {c->certfile,
                          c->keyfile,
                          c->certfile2,
                          c->keyfile2,
                          c->key_password,
                          c->cacertfile,
                          c->dhfile,
                          c->ciphers,
                          c->ciphersuites,
                          c->ecdh_curves,
                          c->verify_peer_ext_key_usage,
                          c->alpn};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        hash_str(md, strs[i]);
    snprintf(nums, sizeof nums, "%d %d %d %u %d %d %d %u %d", (int)c->verify,
             c->fail_if_no_peer_cert, c->depth, c->tls_versions, c->honor_cipher_order,
             c->reuse_sessions, c->secure_renegotiate, c->handshake_timeout_ms, c->partial_chain);
    hash_str(md, nums);
    for (int i = 0; i < m->npairs; i++) {
        hash_cert(md, m->pair[i].leaf);
        hash_certs(md, m->pair[i].chain);
        unsigned char *der = NULL;
        int n = i2d_PrivateKey(m->pair[i].key, &der);
        if (n > 0)
            EVP_DigestUpdate(md, der, (size_t)n);
        OPENSSL_clear_free(der, n > 0 ? (size_t)n : 0);
    }
    hash_certs(md, m->ca);
    EVP_DigestFinal_ex(md, t->digest, NULL);
    EVP_MD_CTX_free(md);
}

/* --------------------------------------------------------------- ctx */

static void ctx_free(moat_tls_ctx *t)
{
    SSL_CTX_free(t->ssl_ctx);
    for (char **w = t->watch; w && *w; w++)
        free(*w);
    free(t->watch);
    ASN1_OBJECT_free(t->eku);
    for (int i = 0; i < t->n_alpn; i++)
        free(t->alpn[i]);
    free(t);
}

static void init_from_conf(moat_tls_ctx *t, const moat_tls_conf *c, moat_cert_report *r)
{
    atomic_init(&t->refs, 1);
    t->handshake_timeout_ms = c->handshake_timeout_ms;
    t->versions = c->tls_versions;
    t->depth = c->depth;
    if (c->verify_peer_ext_key_usage) {
        snprintf(t->eku_name, sizeof t->eku_name, "%s", c->verify_peer_ext_key_usage);
        if (!(t->eku = parse_eku(c->verify_peer_ext_key_usage)))
            SETTING_ERROR(r,
                          "Use clientAuth, serverAuth, codeSigning, emailProtection, "
                          "timeStamping, ocspSigning or a dotted OID.",
                          "verify_peer_ext_key_usage: unknown usage '%s'",
                          c->verify_peer_ext_key_usage);
    }
    if (c->alpn)
        parse_alpn(t, c->alpn, r);
}

static int64_t earliest_expiry(const material *m)
{
    int64_t t = INT64_MAX;
    for (int i = 0; i < m->npairs; i++) {
        int64_t na = moat_cert_not_after(m->pair[i].leaf);
        if (na < t)
            t = na;
    }
    return t;
}

moat_err moat_tls_ctx_new(const moat_tls_conf *c, moat_tls_ctx **out, moat_cert_report *r)
{
    unsigned errors = r->errors;
    material m = {0};
    moat_tls_ctx *t = calloc(1, sizeof *t);
    moat_err e = t ? MOAT_OK : MOAT_ENOMEM;
    ERR_set_mark();
    if (!e) {
        init_from_conf(t, c, r);
        check_settings(c, r);
        e = load_material(c, &m, r);
    }
    if (!e && r->errors == errors && !(t->ssl_ctx = build_ssl_ctx(t, c, &m, r)))
        e = MOAT_ENOMEM;
    if (!e && r->errors == errors) {
        t->not_after = earliest_expiry(&m);
        compute_digest(t, c, &m);
        e = build_watch(t, c);
    }
    if (!e && r->errors > errors)
        e = MOAT_EINVAL;
    material_free(&m);
    ERR_pop_to_mark();
    if (e) {
        if (t)
            ctx_free(t);
        return e;
    }
    *out = t;
    return MOAT_OK;
}

moat_tls_ctx *moat_tls_ctx_ref(moat_tls_ctx *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void moat_tls_ctx_unref(moat_tls_ctx *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        ctx_free(t);
}

const char *const *moat_tls_ctx_watch_paths(const moat_tls_ctx *t)
{
    return (const char *const *)t->watch;
}

bool moat_tls_ctx_same(const moat_tls_ctx *a, const moat_tls_ctx *b)
{
    return !memcmp(a->digest, b->digest, sizeof a->digest);
}

int64_t moat_tls_ctx_not_after(const moat_tls_ctx *t)
{
    return t->not_after;
}

struct x509_st *moat_tls_ctx_leaf(const moat_tls_ctx *t)
{
    return SSL_CTX_get0_certificate(t->ssl_ctx);
}

size_t moat_tls_ctx_chain(const moat_tls_ctx *t, struct x509_st **out, size_t max)
{
    size_t n = 0;
    X509 *leaf = SSL_CTX_get0_certificate(t->ssl_ctx);
    STACK_OF(X509) *chain = NULL;
    if (leaf && n < max)
        out[n++] = leaf;
    /* The chain of the current certificate; reading it changes nothing
     * (SSL_CTX_set_current_cert would, under live handshakes). */
    SSL_CTX_get0_chain_certs(t->ssl_ctx, &chain);
    for (int i = 0; chain && i < sk_X509_num(chain) && n < max; i++)
        out[n++] = sk_X509_value(chain, i);
    return n;
}

uint32_t moat_tls_ctx_handshake_timeout_ms(const moat_tls_ctx *t)
{
    return t->handshake_timeout_ms;
}

/* --------------------------------------------------------------- slot */

void moat_tls_slot_init(moat_tls_slot *s, moat_tls_ctx *ctx)
{
    pthread_mutex_init(&s->lock, NULL);
    s->ctx = ctx;
}

moat_tls_ctx *moat_tls_slot_get(moat_tls_slot *s)
{
    pthread_mutex_lock(&s->lock);
    moat_tls_ctx *t = s->ctx ? moat_tls_ctx_ref(s->ctx) : NULL;
    pthread_mutex_unlock(&s->lock);
    return t;
}

void moat_tls_slot_set(moat_tls_slot *s, moat_tls_ctx *ctx)
{
    pthread_mutex_lock(&s->lock);
    moat_tls_ctx *old = s->ctx;
    s->ctx = ctx;
    pthread_mutex_unlock(&s->lock);
    moat_tls_ctx_unref(old); /* outside the lock: freeing takes a while */
}

void moat_tls_slot_destroy(moat_tls_slot *s)
{
    moat_tls_ctx_unref(s->ctx);
    s->ctx = NULL;
    pthread_mutex_destroy(&s->lock);
}
