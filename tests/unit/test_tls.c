/* SPDX-License-Identifier: Apache-2.0 */
/* The TLS transport against a real OpenSSL client in the same process.
 *
 * Most tests put the server's TLS transport over a memory transport (a pair
 * of byte queues) and the client SSL over memory BIOs, and move bytes
 * between them by hand: deterministic, and every byte is visible. One test
 * runs over a socketpair with the real tcp transport underneath.
 *
 * The last tests measure: heap bytes per idle TLS 1.3 connection (OpenSSL's
 * allocations are counted through CRYPTO_set_mem_functions, attributed to
 * the server while server code runs) and the CPU cost of a handshake. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "base/buf.h"
#include "test.h"
#include "tls/tls.h"
#include "tls_pki.h"

/* ------------------------------------------------- allocation counting */

typedef union mem_hdr {
    max_align_t align;
    struct {
        size_t n;
        int side;
    } h;
} mem_hdr;

enum { SIDE_OTHER, SIDE_SERVER };
static _Thread_local int mem_side;
static _Atomic long long mem_bytes[2], mem_count[2]; /* the slot test frees from a thread */

static void *m_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    mem_hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->h.n = n;
    h->h.side = mem_side;
    mem_bytes[mem_side] += (long long)n;
    mem_count[mem_side]++;
    return h + 1;
}

static void *m_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p)
        return m_malloc(n, file, line);
    mem_hdr *h = (mem_hdr *)p - 1;
    size_t old = h->h.n;
    mem_hdr *nh = realloc(h, sizeof *nh + n);
    if (!nh)
        return NULL;
    mem_bytes[nh->h.side] += (long long)n - (long long)old;
    nh->h.n = n;
    return nh + 1;
}

static void m_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (!p)
        return;
    mem_hdr *h = (mem_hdr *)p - 1;
    mem_bytes[h->h.side] -= (long long)h->h.n;
    mem_count[h->h.side]--;
    free(h);
}

/* Server-side CPU time, for the handshake cost. */
static double server_cpu;

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define SERVER(expr)                                                                               \
    ({                                                                                             \
        int side_ = mem_side;                                                                      \
        double t0_ = thread_cpu();                                                                 \
        mem_side = SIDE_SERVER;                                                                    \
        __typeof__(expr) r_ = (expr);                                                              \
        mem_side = side_;                                                                          \
        server_cpu += thread_cpu() - t0_;                                                          \
        r_;                                                                                        \
    })

/* ---------------------------------------------------- memory transport */

/* The server's inner transport: reads what the client sent, writes what
 * the client will receive. */
typedef struct tlink {
    moat_buf to_server, to_client; /* ciphertext */
    size_t write_limit;            /* bytes per write call the inner takes; 0: all */
    bool blocked;                  /* inner writes return EAGAIN */
    bool client_closed;            /* inner reads return EOF once drained */
    int inner_closed;
    SSL *client;
    BIO *crb, *cwb;     /* client's read and write memory BIOs */
    moat_transport *tr; /* the server's TLS transport */
    moat_buf got;       /* plaintext the server read */
    int hs_calls;       /* handshake callback count */
} tlink;

typedef struct mem_tr {
    moat_transport base;
    tlink *l;
} mem_tr;

static moat_err mem_read(moat_transport *t, void *buf, size_t len, size_t *n)
{
    tlink *l = ((mem_tr *)t)->l;
    size_t avail = moat_buf_avail(&l->to_server);
    if (avail == 0)
        return l->client_closed ? MOAT_EOF : MOAT_EAGAIN;
    *n = avail < len ? avail : len;
    memcpy(buf, moat_buf_head(&l->to_server), *n);
    moat_buf_consume(&l->to_server, *n);
    return MOAT_OK;
}

static moat_err mem_write(moat_transport *t, const void *buf, size_t len, size_t *n)
{
    tlink *l = ((mem_tr *)t)->l;
    if (l->blocked)
        return MOAT_EAGAIN;
    *n = l->write_limit && len > l->write_limit ? l->write_limit : len;
    if (l->write_limit)
        l->blocked = true; /* a full socket after one partial write */
    return moat_buf_append(&l->to_client, buf, *n);
}

static bool mem_false(moat_transport *t)
{
    (void)t;
    return false;
}

static void mem_close(moat_transport *t)
{
    if (((mem_tr *)t)->l)
        ((mem_tr *)t)->l->inner_closed++;
    free(t);
}

static const moat_transport_ops mem_ops = {
    .name = "mem",
    .read = mem_read,
    .write = mem_write,
    .has_pending = mem_false,
    .wants_write = mem_false,
    .close = mem_close,
};

/* ------------------------------------------------------------ helpers */

static void conf_server(moat_tls_conf *c)
{
    moat_tls_conf_defaults(c);
    c->certfile = pki("server-fullchain.pem");
    c->keyfile = pki("server.key");
    c->system_roots = false;
}

static void show_report(const char *what, const moat_cert_report *r)
{
    if (!getenv("MOAT_TEST_VERBOSE"))
        return;
    for (size_t i = 0; i < r->n; i++)
        printf("  %s: [%s] %s: %s\n", what,
               r->items[i].severity == MOAT_CERT_ERROR ? "error" : "warning",
               moat_cert_code_name(r->items[i].code), r->items[i].message);
}

static moat_tls_ctx *new_ctx(const moat_tls_conf *c)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_tls_ctx *ctx = NULL;
    moat_err e = SERVER(moat_tls_ctx_new(c, &ctx, &r));
    show_report("ctx", &r);
    CHECK_EQ(e, MOAT_OK);
    CHECK_EQ(r.errors, 0);
    moat_cert_report_free(&r);
    return ctx;
}

static SSL_CTX *client_ctx(const char *cafile, const char *cert, const char *key)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    CHECK(c != NULL);
    if (cafile)
        CHECK(SSL_CTX_load_verify_locations(c, cafile, NULL) == 1);
    SSL_CTX_set_verify(c, cafile ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (cert) {
        CHECK(SSL_CTX_use_certificate_chain_file(c, cert) == 1);
        CHECK(SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) == 1);
    }
    return c;
}

static void on_hs(moat_transport *t, void *arg)
{
    (void)t;
    ((tlink *)arg)->hs_calls++;
}

static tlink *link_new(moat_tls_ctx *ctx, SSL_CTX *cctx, const char *host)
{
    tlink *l = calloc(1, sizeof *l);
    mem_tr *m = calloc(1, sizeof *m);
    m->base.ops = &mem_ops;
    m->base.fd = -1;
    m->l = l;
    CHECK_EQ(SERVER(moat_tls_transport_new(ctx, &m->base, &l->tr)), MOAT_OK);
    moat_tls_on_handshake(l->tr, on_hs, l);
    l->client = SSL_new(cctx);
    l->crb = BIO_new(BIO_s_mem());
    l->cwb = BIO_new(BIO_s_mem());
    SSL_set_bio(l->client, l->crb, l->cwb);
    SSL_set_connect_state(l->client);
    if (host) {
        SSL_set_tlsext_host_name(l->client, host);
        SSL_set1_host(l->client, host);
    }
    return l;
}

static void link_client_free(tlink *l)
{
    /* An SSL freed without shutdown marks its session not resumable. */
    if (l->client && SSL_is_init_finished(l->client))
        SSL_shutdown(l->client);
    SSL_free(l->client);
    l->client = NULL;
}

static void link_free(tlink *l)
{
    if (l->tr)
        SERVER((l->tr->ops->close(l->tr), 0));
    link_client_free(l);
    moat_buf_free(&l->to_server);
    moat_buf_free(&l->to_client);
    moat_buf_free(&l->got);
    free(l);
}

/* Move ciphertext both ways. */
static void pump(tlink *l)
{
    char buf[16384];
    int n;
    while (l->client && (n = BIO_read(l->cwb, buf, sizeof buf)) > 0)
        moat_buf_append(&l->to_server, buf, (size_t)n);
    if (l->client && moat_buf_avail(&l->to_client)) {
        BIO_write(l->crb, moat_buf_head(&l->to_client), (int)moat_buf_avail(&l->to_client));
        moat_buf_consume(&l->to_client, moat_buf_avail(&l->to_client));
    }
}

/* One server read into l->got; returns its result. */
static moat_err server_read(tlink *l, size_t bufsize)
{
    char buf[65536];
    size_t n = 0;
    moat_err e =
        SERVER(l->tr->ops->read(l->tr, buf, bufsize < sizeof buf ? bufsize : sizeof buf, &n));
    if (e == MOAT_OK)
        moat_buf_append(&l->got, buf, n);
    return e;
}

/* Run both sides until the server leaves the handshake (and the client is
 * done, or failed). Returns the server's last read result. */
static moat_err handshake(tlink *l)
{
    moat_err e = MOAT_EAGAIN;
    for (int i = 0; i < 50; i++) {
        ERR_clear_error();
        SSL_do_handshake(l->client);
        pump(l);
        e = server_read(l, 16384);
        pump(l);
        if (moat_tls_get_state(l->tr) != MOAT_TLS_HANDSHAKING && SSL_is_init_finished(l->client))
            break;
        if (moat_tls_get_state(l->tr) == MOAT_TLS_FAILED)
            break;
    }
    /* let the client take the session tickets and any alert */
    char b[64];
    ERR_clear_error();
    SSL_read(l->client, b, sizeof b);
    ERR_clear_error();
    return e;
}

/* Client -> server application data, read with a server buffer of bufsize. */
static bool client_to_server(tlink *l, const char *msg, size_t len, size_t bufsize)
{
    moat_buf_reset(&l->got);
    if (SSL_write(l->client, msg, (int)len) != (int)len)
        return false;
    pump(l);
    for (int i = 0; i < 1000 && moat_buf_avail(&l->got) < len; i++) {
        moat_err e = server_read(l, bufsize);
        if (e != MOAT_OK && e != MOAT_EAGAIN)
            return false;
    }
    return moat_buf_avail(&l->got) == len && !memcmp(moat_buf_head(&l->got), msg, len);
}

/* Server -> client application data. */
static bool server_to_client(tlink *l, const char *msg, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        if (SERVER(l->tr->ops->write(l->tr, msg + off, len - off, &n)) != MOAT_OK)
            return false;
        off += n;
    }
    pump(l);
    char buf[65536];
    size_t got = 0;
    int n;
    while (got < len && (n = SSL_read(l->client, buf + got, (int)(sizeof buf - got))) > 0)
        got += (size_t)n;
    return got == len && !memcmp(buf, msg, len);
}

static moat_tls_fail failure(tlink *l, const char *words)
{
    const char *detail = NULL;
    moat_tls_fail f = moat_tls_failure(l->tr, &detail);
    if (getenv("MOAT_TEST_VERBOSE"))
        printf("  failure %s: %s\n", moat_tls_fail_name(f), detail);
    if (words && !strstr(detail, words)) {
        fprintf(stderr, "detail '%s' lacks '%s'\n", detail, words);
        return MOAT_TLS_FAIL__COUNT;
    }
    return f;
}

static uint64_t failed_count(moat_tls_fail f)
{
    moat_tls_stats s;
    moat_tls_stats_get(&s);
    return s.failed[f];
}

/* ---------------------------------------------------------- handshakes */

static void test_tls13_one_way(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    moat_tls_stats before, after;
    moat_tls_stats_get(&before);
    tlink *l = link_new(ctx, cc, "localhost");
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_HANDSHAKING);
    handshake(l);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
    CHECK_EQ(SSL_get_verify_result(l->client), X509_V_OK);
    CHECK_EQ(l->hs_calls, 1);
    moat_tls_session_info si;
    CHECK_EQ(moat_tls_session(l->tr, &si), MOAT_OK);
    CHECK_STR(si.version, "TLSv1.3");
    CHECK_STR(si.cipher, "TLS_AES_128_GCM_SHA256");
    CHECK_STR(si.group, "x25519");
    CHECK_STR(si.sni, "localhost");
    CHECK(!si.resumed && !si.peer_cert);
    CHECK(client_to_server(l, "hello", 5, 4096));
    CHECK(server_to_client(l, "world", 5));
    char id[64];
    CHECK_EQ(moat_tls_peer_identity(l->tr, MOAT_CERT_ID_CN, id, sizeof id), MOAT_ENOTFOUND);
    moat_tls_stats_get(&after);
    CHECK_EQ(after.handshakes_ok, before.handshakes_ok + 1);
    CHECK(moat_tls_is(l->tr));
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_tls12(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    SSL_CTX_set_max_proto_version(cc, TLS1_2_VERSION);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
    moat_tls_session_info si;
    CHECK_EQ(moat_tls_session(l->tr, &si), MOAT_OK);
    CHECK_STR(si.version, "TLSv1.2");
    CHECK_STR(si.cipher, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    CHECK(client_to_server(l, "twelve", 6, 4096));
    CHECK(server_to_client(l, "ok", 2));
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static moat_tls_ctx *two_way_ctx(bool require)
{
    moat_tls_conf c;
    conf_server(&c);
    c.cacertfile = pki("ca.pem");
    c.verify = MOAT_TLS_VERIFY_PEER;
    c.fail_if_no_peer_cert = require;
    return new_ctx(&c);
}

static void test_two_way_and_identity(void)
{
    moat_tls_ctx *ctx = two_way_ctx(true);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), pki("client-fullchain.pem"), pki("client.key"));
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
    moat_tls_session_info si;
    CHECK_EQ(moat_tls_session(l->tr, &si), MOAT_OK);
    CHECK(si.peer_cert);
    static const struct {
        moat_cert_id id;
        const char *want; /* exact, or prefix when ending with '*' */
    } cases[] = {
        {MOAT_CERT_ID_CN, "device-001"},
        {MOAT_CERT_ID_DN, "CN=device-001,OU=devices,O=moat test"},
        {MOAT_CERT_ID_SAN_DNS, "device-001.example.com"},
        {MOAT_CERT_ID_SAN_EMAIL, "device-001@example.com"},
        {MOAT_CERT_ID_SAN_URI, "urn:moat:device-001"},
        {MOAT_CERT_ID_SAN_IP, "10.0.0.1"},
        {MOAT_CERT_ID_PEM, "-----BEGIN CERTIFICATE-----\n*"},
        {MOAT_CERT_ID_CRT, "MII*"},
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ(moat_tls_peer_identity(l->tr, cases[i].id, buf, sizeof buf), MOAT_OK);
        size_t n = strlen(cases[i].want);
        if (cases[i].want[n - 1] == '*')
            CHECK(!strncmp(buf, cases[i].want, n - 1));
        else
            CHECK_STR(buf, cases[i].want);
    }
    /* the hashes agree with OpenSSL's own */
    FILE *f = fopen(pki("client.pem"), "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    unsigned char md[32];
    unsigned mdlen = 0;
    char hex[65];
    X509_digest(x, EVP_sha256(), md, &mdlen);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CHECK_EQ(moat_tls_peer_identity(l->tr, MOAT_CERT_ID_FINGERPRINT, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, hex);
    X509_digest(x, EVP_md5(), md, &mdlen);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CHECK_EQ(moat_tls_peer_identity(l->tr, MOAT_CERT_ID_MD5, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, hex);
    X509_free(x);
    moat_cert_info in;
    CHECK_EQ(moat_tls_peer_info(l->tr, &in), MOAT_OK);
    CHECK_STR(in.issuer, "CN=moat Test Intermediate CA,O=moat test");
    CHECK(in.not_after > time(NULL));
    moat_cert_info_free(&in);
    CHECK(client_to_server(l, "id", 2, 4096));
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_no_client_cert_refused(void)
{
    moat_tls_ctx *ctx = two_way_ctx(true);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    uint64_t before = failed_count(MOAT_TLS_FAIL_NO_CLIENT_CERT);
    tlink *l = link_new(ctx, cc, "localhost");
    CHECK_EQ(handshake(l), MOAT_EPROTOCOL);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_FAILED);
    CHECK_EQ(failure(l, "client sent no certificate"), MOAT_TLS_FAIL_NO_CLIENT_CERT);
    CHECK_EQ(failed_count(MOAT_TLS_FAIL_NO_CLIENT_CERT), before + 1);
    CHECK_EQ(l->hs_calls, 1);
    /* a failed transport stays failed */
    char b[8];
    size_t n;
    CHECK_EQ(l->tr->ops->read(l->tr, b, sizeof b, &n), MOAT_EPROTOCOL);
    CHECK(!l->tr->ops->has_pending(l->tr));
    link_free(l);

    /* without fail_if_no_peer_cert the same client is welcome */
    moat_tls_ctx_unref(ctx);
    ctx = two_way_ctx(false);
    l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
    char id[64];
    CHECK_EQ(moat_tls_peer_identity(l->tr, MOAT_CERT_ID_CN, id, sizeof id), MOAT_ENOTFOUND);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_client_cert_refusals(void)
{
    moat_tls_ctx *ctx = two_way_ctx(true);
    pki_cat("client-expired-chain.pem", "client-expired.pem", "int.pem", NULL);
    static const struct {
        const char *cert, *key;
        moat_tls_fail want;
        const char *words;
    } cases[] = {
        {"other-client.pem", "other-client.key", MOAT_TLS_FAIL_UNKNOWN_CA,
         "signed by an unknown CA (issuer CN=Unrelated Test CA,O=elsewhere)"},
        {"client-expired-chain.pem", "client-expired.key", MOAT_TLS_FAIL_CERT_EXPIRED,
         "expired on 2021-01-01 00:00 UTC"},
        /* a leaf alone: its issuer, the intermediate, is not in ca.pem */
        {"client.pem", "client.key", MOAT_TLS_FAIL_UNKNOWN_CA, "issuer CN=moat Test Intermediate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SSL_CTX *cc = client_ctx(pki("ca.pem"), pki(cases[i].cert), pki(cases[i].key));
        tlink *l = link_new(ctx, cc, "localhost");
        handshake(l);
        CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_FAILED);
        CHECK_EQ(failure(l, cases[i].words), cases[i].want);
        link_free(l);
        SSL_CTX_free(cc);
    }
    moat_tls_ctx_unref(ctx);
}

static void test_required_eku(void)
{
    moat_tls_conf c;
    conf_server(&c);
    c.cacertfile = pki("ca-bundle.pem");
    c.verify = MOAT_TLS_VERIFY_PEER;
    c.verify_peer_ext_key_usage = "serverAuth";
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), pki("client.pem"), pki("client.key"));
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK_EQ(failure(l, "lacks the extended key usage serverAuth"), MOAT_TLS_FAIL_BAD_CLIENT_CERT);
    link_free(l);
    moat_tls_ctx_unref(ctx);

    c.verify_peer_ext_key_usage = "clientAuth";
    ctx = new_ctx(&c);
    l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* ---------------------------------------------------- wrong clients */

static void send_raw(tlink *l, const char *bytes, size_t n)
{
    moat_buf_append(&l->to_server, bytes, n);
}

static void test_not_tls(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(NULL, NULL, NULL);
    static const struct {
        const char *bytes;
        size_t n;
        const char *words;
    } cases[] = {
        {"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01"
         "a",
         15, "client sent plain MQTT (a CONNECT packet) to a TLS port"},
        {"GET /mqtt HTTP/1.1\r\n", 20, "plain HTTP"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32, "PROXY protocol header"},
        {"\x05\x01\x00", 3, "not TLS (first byte 0x05)"},
    };
    uint64_t before = failed_count(MOAT_TLS_FAIL_NOT_TLS);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tlink *l = link_new(ctx, cc, NULL);
        send_raw(l, cases[i].bytes, cases[i].n);
        CHECK_EQ(server_read(l, 4096), MOAT_EPROTOCOL);
        CHECK_EQ(failure(l, cases[i].words), MOAT_TLS_FAIL_NOT_TLS);
        CHECK_EQ(moat_buf_avail(&l->to_client), 0); /* nothing sent back */
        link_free(l);
    }
    CHECK_EQ(failed_count(MOAT_TLS_FAIL_NOT_TLS), before + 4);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_closed_without_data_and_timeout(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(NULL, NULL, NULL);
    tlink *l = link_new(ctx, cc, NULL);
    l->client_closed = true;
    CHECK_EQ(server_read(l, 4096), MOAT_EOF);
    CHECK_EQ(failure(l, "before the client sent anything"), MOAT_TLS_FAIL_NO_DATA);
    link_free(l);

    /* a hello, then silence: the caller's timer decides */
    l = link_new(ctx, cc, NULL);
    SSL_do_handshake(l->client);
    pump(l);
    CHECK_EQ(server_read(l, 4096), MOAT_EAGAIN);
    uint64_t before = failed_count(MOAT_TLS_FAIL_TIMEOUT);
    moat_tls_fail_timeout(l->tr);
    CHECK_EQ(failure(l, "not completed within 15000 ms"), MOAT_TLS_FAIL_TIMEOUT);
    CHECK_EQ(failed_count(MOAT_TLS_FAIL_TIMEOUT), before + 1);
    CHECK_EQ(moat_tls_ctx_handshake_timeout_ms(ctx), 15000);
    link_free(l);

    /* the hello, then the client goes away */
    l = link_new(ctx, cc, NULL);
    SSL_do_handshake(l->client);
    pump(l);
    CHECK_EQ(server_read(l, 4096), MOAT_EAGAIN);
    l->client_closed = true;
    CHECK_EQ(server_read(l, 4096), MOAT_EOF);
    CHECK_EQ(failure(l, "during the TLS handshake"), MOAT_TLS_FAIL_PEER_CLOSED);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_version_and_cipher_mismatch(void)
{
    moat_tls_conf c;
    conf_server(&c);
    c.tls_versions = MOAT_TLS_V1_3;
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(NULL, NULL, NULL);
    SSL_CTX_set_max_proto_version(cc, TLS1_2_VERSION);
    tlink *l = link_new(ctx, cc, NULL);
    handshake(l);
    CHECK_EQ(failure(l, "client offers TLS up to TLS 1.2, but this listener accepts TLS 1.3 only"),
             MOAT_TLS_FAIL_VERSION_MISMATCH);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);

    /* a client that only knows CBC suites without forward secrecy */
    conf_server(&c);
    ctx = new_ctx(&c);
    cc = client_ctx(NULL, NULL, NULL);
    SSL_CTX_set_max_proto_version(cc, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(cc, "AES128-SHA");
    l = link_new(ctx, cc, NULL);
    handshake(l);
    CHECK_EQ(failure(l, "no cipher suite in common"), MOAT_TLS_FAIL_CIPHER_MISMATCH);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_client_rejects_server(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    /* the client trusts another CA */
    SSL_CTX *cc = client_ctx(pki("other-ca.pem"), NULL, NULL);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK_EQ(failure(l, "client rejected the server certificate (alert: unknown CA)"),
             MOAT_TLS_FAIL_PEER_REJECTED);
    link_free(l);
    SSL_CTX_free(cc);
    /* the client connects by a name the certificate does not carry */
    cc = client_ctx(pki("ca.pem"), NULL, NULL);
    l = link_new(ctx, cc, "broker.example.net");
    handshake(l);
    CHECK_EQ(failure(l, "it asked for 'broker.example.net'"), MOAT_TLS_FAIL_PEER_REJECTED);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* ------------------------------------------------------------ I/O */

/* A 10 000-byte record read through a 1000-byte buffer: after the first
 * read the socket is quiet, and only has_pending says there is more. */
static void test_large_record_has_pending(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    static char big[10000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    CHECK(SSL_write(l->client, big, sizeof big) == (int)sizeof big);
    pump(l);
    moat_buf_reset(&l->got);
    CHECK_EQ(server_read(l, 1000), MOAT_OK);
    CHECK_EQ(moat_buf_avail(&l->got), 1000);
    CHECK_EQ(moat_buf_avail(&l->to_server), 0); /* all ciphertext taken */
    CHECK(l->tr->ops->has_pending(l->tr));
    int reads = 1;
    while (l->tr->ops->has_pending(l->tr) && reads < 100) {
        CHECK_EQ(server_read(l, 1000), MOAT_OK);
        reads++;
    }
    CHECK_EQ(reads, 10);
    CHECK_EQ(moat_buf_avail(&l->got), sizeof big);
    CHECK(!memcmp(moat_buf_head(&l->got), big, sizeof big));
    CHECK_EQ(server_read(l, 1000), MOAT_EAGAIN);
    /* several records in one socket read (read-ahead) are pending too */
    for (int i = 0; i < 3; i++)
        SSL_write(l->client, "abc", 3);
    pump(l);
    moat_buf_reset(&l->got);
    CHECK_EQ(server_read(l, 3), MOAT_OK);
    CHECK(l->tr->ops->has_pending(l->tr));
    while (l->tr->ops->has_pending(l->tr))
        server_read(l, 3);
    CHECK_EQ(moat_buf_avail(&l->got), 9);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* The socket takes 100 bytes and then blocks: the rest of the record waits
 * inside the transport, wants_write says so, new data is refused until a
 * flush gets it out. */
static void test_write_backpressure(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    static char data[5000];
    memset(data, 'x', sizeof data);
    size_t n = 0;
    l->write_limit = 100;
    CHECK_EQ(l->tr->ops->write(l->tr, data, sizeof data, &n), MOAT_OK);
    CHECK_EQ(n, sizeof data);
    CHECK(l->tr->ops->wants_write(l->tr));
    CHECK_EQ(l->tr->ops->write(l->tr, data, sizeof data, &n), MOAT_EAGAIN);
    CHECK_EQ(l->tr->ops->write(l->tr, NULL, 0, &n), MOAT_EAGAIN);
    l->write_limit = 0;
    l->blocked = false; /* the socket drained */
    CHECK_EQ(l->tr->ops->write(l->tr, NULL, 0, &n), MOAT_OK);
    CHECK(!l->tr->ops->wants_write(l->tr));
    pump(l);
    char buf[8192];
    size_t got = 0;
    int r;
    while (got < sizeof data && (r = SSL_read(l->client, buf + got, sizeof buf - got)) > 0)
        got += (size_t)r;
    CHECK_EQ(got, sizeof data);
    /* writes are cut to one record */
    static char huge[40000];
    CHECK_EQ(l->tr->ops->write(l->tr, huge, sizeof huge, &n), MOAT_OK);
    CHECK_EQ(n, 16384);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* A handshake flight that does not fit the socket at once: the handshake
 * waits in the transport until the caller flushes on writability. */
static void test_handshake_with_full_socket(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    tlink *l = link_new(ctx, cc, "localhost");
    SSL_do_handshake(l->client);
    pump(l);
    l->write_limit = 200;
    CHECK_EQ(server_read(l, 4096), MOAT_EAGAIN);
    CHECK(l->tr->ops->wants_write(l->tr));
    size_t n;
    for (int i = 0; i < 100 && l->tr->ops->wants_write(l->tr); i++) {
        l->blocked = false; /* writable again */
        l->tr->ops->write(l->tr, NULL, 0, &n);
    }
    l->write_limit = 0;
    l->blocked = false;
    CHECK(!l->tr->ops->wants_write(l->tr));
    handshake(l);
    CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
    CHECK(client_to_server(l, "after", 5, 4096));
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_close_sends_close_notify(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    l->tr->ops->close(l->tr);
    l->tr = NULL;
    CHECK_EQ(l->inner_closed, 1);
    pump(l);
    char b[8];
    CHECK_EQ(SSL_read(l->client, b, sizeof b), 0);
    CHECK_EQ(SSL_get_error(l->client, 0), SSL_ERROR_ZERO_RETURN);
    link_free(l);

    /* and the client's close_notify is an orderly EOF for the server */
    l = link_new(ctx, cc, "localhost");
    handshake(l);
    SSL_shutdown(l->client);
    pump(l);
    CHECK_EQ(server_read(l, 4096), MOAT_EOF);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* ---------------------------------------------------- ctx behaviour */

/* Reload: connections keep the context they started with. */
static void test_reload_keeps_old_connections(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *live = new_ctx(&c); /* what the listener points at */
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    tlink *one = link_new(live, cc, "localhost");
    handshake(one);
    CHECK_EQ(moat_tls_get_state(one->tr), MOAT_TLS_ESTABLISHED);

    c.certfile = pki("server-ec-fullchain.pem");
    c.keyfile = pki("server-ec.key");
    moat_tls_ctx *next = new_ctx(&c);
    CHECK(!moat_tls_ctx_same(live, next));
    moat_tls_ctx_unref(live); /* swapped: only connection one holds the old one */
    live = next;

    tlink *two = link_new(live, cc, "localhost");
    handshake(two);
    CHECK_EQ(moat_tls_get_state(two->tr), MOAT_TLS_ESTABLISHED);
    CHECK_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_get0_peer_certificate(two->client))),
             EVP_PKEY_EC);
    CHECK_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_get0_peer_certificate(one->client))),
             EVP_PKEY_RSA);
    CHECK(client_to_server(one, "still here", 10, 4096));
    CHECK(server_to_client(one, "yes", 3));
    link_free(one); /* frees the old context (ASan would see a leak or a misuse) */
    CHECK(client_to_server(two, "new", 3, 4096));
    link_free(two);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(live);
}

/* A reload thread swapping contexts while a worker starts connections: the
 * slot hands out references that stay valid (ASan would catch a freed one). */
typedef struct swap_arg {
    moat_tls_slot *slot;
    moat_tls_ctx *a, *b;
    int rounds;
} swap_arg;

static void *swapper(void *p)
{
    swap_arg *s = p;
    for (int i = 0; i < s->rounds; i++)
        moat_tls_slot_set(s->slot, moat_tls_ctx_ref(i % 2 ? s->a : s->b));
    return NULL;
}

static void test_slot_swap_under_load(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *a = new_ctx(&c);
    c.certfile = pki("server-ec-fullchain.pem");
    c.keyfile = pki("server-ec.key");
    moat_tls_ctx *b = new_ctx(&c);
    moat_tls_slot slot;
    moat_tls_slot_init(&slot, moat_tls_ctx_ref(a));
    swap_arg arg = {&slot, a, b, 2000};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, swapper, &arg), 0);
    int made = 0;
    for (int i = 0; i < 2000; i++) {
        moat_tls_ctx *ctx = moat_tls_slot_get(&slot);
        mem_tr *m = calloc(1, sizeof *m);
        m->base.ops = &mem_ops;
        moat_transport *t = NULL;
        if (moat_tls_transport_new(ctx, &m->base, &t) == MOAT_OK) {
            made++;
            t->ops->close(t);
        }
        moat_tls_ctx_unref(ctx);
    }
    pthread_join(th, NULL);
    CHECK_EQ(made, 2000);
    moat_tls_slot_destroy(&slot);
    moat_tls_ctx_unref(a);
    moat_tls_ctx_unref(b);
}

/* RSA and ECDSA on one listener: each client gets what it can verify. */
static void test_rsa_and_ecdsa(void)
{
    moat_tls_conf c;
    conf_server(&c);
    c.certfile2 = pki("server-ec-fullchain.pem");
    c.keyfile2 = pki("server-ec.key");
    moat_tls_ctx *ctx = new_ctx(&c);
    static const struct {
        const char *sigalgs;
        int tls_max;
        int want;
    } cases[] = {
        {"ECDSA+SHA256:ECDSA+SHA384", TLS1_3_VERSION, EVP_PKEY_EC},
        {"RSA-PSS+SHA256:RSA+SHA256", TLS1_3_VERSION, EVP_PKEY_RSA},
        {"ECDSA+SHA256", TLS1_2_VERSION, EVP_PKEY_EC},
        {"RSA+SHA256", TLS1_2_VERSION, EVP_PKEY_RSA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
        SSL_CTX_set_max_proto_version(cc, cases[i].tls_max);
        CHECK(SSL_CTX_set1_sigalgs_list(cc, cases[i].sigalgs) == 1);
        tlink *l = link_new(ctx, cc, "localhost");
        handshake(l);
        CHECK_EQ(moat_tls_get_state(l->tr), MOAT_TLS_ESTABLISHED);
        X509 *peer = SSL_get0_peer_certificate(l->client);
        CHECK(peer && EVP_PKEY_get_base_id(X509_get0_pubkey(peer)) == cases[i].want);
        link_free(l);
        SSL_CTX_free(cc);
    }
    moat_tls_ctx_unref(ctx);
}

static void test_session_resumption(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    for (int v = 0; v < 2; v++) {
        SSL_CTX_set_max_proto_version(cc, v ? TLS1_2_VERSION : TLS1_3_VERSION);
        tlink *l = link_new(ctx, cc, "localhost");
        handshake(l);
        SSL_SESSION *sess = SSL_get1_session(l->client);
        CHECK(sess && SSL_SESSION_is_resumable(sess));
        link_free(l);
        l = link_new(ctx, cc, "localhost");
        SSL_set_session(l->client, sess);
        handshake(l);
        moat_tls_session_info si;
        CHECK_EQ(moat_tls_session(l->tr, &si), MOAT_OK);
        CHECK(si.resumed);
        SSL_SESSION_free(sess);
        link_free(l);
    }
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);

    /* reuse_sessions = false: no ticket is issued */
    c.reuse_sessions = false;
    ctx = new_ctx(&c);
    cc = client_ctx(pki("ca.pem"), NULL, NULL);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    SSL_SESSION *sess = SSL_get1_session(l->client);
    CHECK(!sess || !SSL_SESSION_is_resumable(sess));
    SSL_SESSION_free(sess);
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* Client-initiated renegotiation is refused unless secure_renegotiate. */
static void test_renegotiation_refused(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    SSL_CTX_set_max_proto_version(cc, TLS1_2_VERSION);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    CHECK(SSL_renegotiate(l->client) == 1);
    for (int i = 0; i < 5; i++) {
        SSL_do_handshake(l->client);
        pump(l);
        server_read(l, 4096);
        pump(l);
    }
    char b[8];
    ERR_clear_error();
    SSL_read(l->client, b, sizeof b);
    CHECK_EQ(SSL_num_renegotiations(l->client), 1); /* asked ... */
    CHECK(SSL_renegotiate_pending(l->client));      /* ... never done */
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_alpn(void)
{
    moat_tls_conf c;
    conf_server(&c);
    c.alpn = "mqtt,x-amzn-mqtt-ca";
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    static const unsigned char protos[] = "\x02h2\x04mqtt";
    SSL_CTX_set_alpn_protos(cc, protos, sizeof protos - 1);
    tlink *l = link_new(ctx, cc, "localhost");
    handshake(l);
    moat_tls_session_info si;
    CHECK_EQ(moat_tls_session(l->tr, &si), MOAT_OK);
    CHECK_STR(si.alpn, "mqtt");
    link_free(l);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* The real stack: TLS over the tcp transport over a socketpair. */
static void test_over_tcp_socketpair(void)
{
    moat_tls_conf c;
    conf_server(&c);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    moat_transport tcp_mem, *tcp = &tcp_mem, *tls = NULL;
    moat_tcp_transport_init(tcp, sv[0]);
    CHECK_EQ(moat_tls_transport_new(ctx, tcp, &tls), MOAT_OK);
    CHECK_EQ(tls->fd, sv[0]);
    SSL *cl = SSL_new(cc);
    SSL_set_fd(cl, sv[1]);
    SSL_set_tlsext_host_name(cl, "localhost");
    SSL_set_connect_state(cl);
    char buf[256];
    size_t n = 0, got = 0;
    bool sent = false;
    for (int i = 0; i < 200 && got < 11; i++) {
        if (!sent && SSL_write(cl, "over tcp ok", 11) == 11)
            sent = true;
        moat_err e = tls->ops->read(tls, buf + got, sizeof buf - got, &n);
        if (e == MOAT_OK)
            got += n;
        else
            CHECK_EQ(e, MOAT_EAGAIN);
        if (tls->ops->wants_write(tls))
            tls->ops->write(tls, NULL, 0, &n);
    }
    CHECK_EQ(got, 11);
    CHECK(!memcmp(buf, "over tcp ok", 11));
    CHECK_EQ(tls->ops->write(tls, "pong", 4, &n), MOAT_OK);
    int r = -1;
    for (int i = 0; i < 100 && r <= 0; i++)
        r = SSL_read(cl, buf, sizeof buf);
    CHECK_EQ(r, 4);
    tls->ops->close(tls); /* closes sv[0] */
    SSL_free(cl);
    close(sv[1]);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

/* ------------------------------------------------------ settings */

static moat_err ctx_with(moat_tls_conf *c, moat_cert_report *r)
{
    moat_tls_ctx *ctx = NULL;
    moat_err e = moat_tls_ctx_new(c, &ctx, r);
    show_report("settings", r);
    moat_tls_ctx_unref(ctx);
    return e;
}

static bool finding(const moat_cert_report *r, moat_cert_code code, const char *words)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].code == code && strstr(r->items[i].message, words))
            return true;
    return false;
}

static void test_settings_refused(void)
{
    moat_tls_conf c;
    moat_cert_report r = MOAT_CERT_REPORT_INIT;

    conf_server(&c);
    c.ciphers = "ECDHE-RSA-AES128-GCM-SHA256,NOT-A-CIPHER";
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(finding(&r, MOAT_CERT_SETTING, "ciphers: unknown cipher 'NOT-A-CIPHER'"));
    moat_cert_report_free(&r);

    conf_server(&c);
    c.verify = MOAT_TLS_VERIFY_PEER;
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(finding(&r, MOAT_CERT_SETTING, "verify = verify_peer needs cacertfile"));
    moat_cert_report_free(&r);

    conf_server(&c);
    c.ecdh_curves = "x25519,brainpool-nope";
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(finding(&r, MOAT_CERT_SETTING, "'brainpool-nope'"));
    moat_cert_report_free(&r);

    conf_server(&c);
    c.certfile2 = pki("server-fullchain.pem");
    c.keyfile2 = pki("server.key");
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(finding(&r, MOAT_CERT_DUPLICATE_KEY_TYPE, "has a rsaEncryption key like certfile"));
    moat_cert_report_free(&r);

    conf_server(&c);
    c.verify_peer_ext_key_usage = "sometimes";
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(finding(&r, MOAT_CERT_SETTING, "unknown usage 'sometimes'"));
    moat_cert_report_free(&r);

    conf_server(&c);
    c.fail_if_no_peer_cert = true;
    CHECK_EQ(ctx_with(&c, &r), MOAT_OK);
    CHECK(finding(&r, MOAT_CERT_SETTING_WARNING, "has no effect with verify = verify_none"));
    moat_cert_report_free(&r);

    /* bad material: nothing is built, the report says why */
    conf_server(&c);
    c.keyfile = pki("server-ec.key");
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_KEY_MISMATCH) != NULL);
    moat_cert_report_free(&r);

    /* SHA-1: the checker refuses it, as OpenSSL at level 2 would */
    conf_server(&c);
    c.certfile = pki("server-sha1.pem");
    c.keyfile = pki("server-sha1.key");
    c.cacertfile = pki("ca-bundle.pem");
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_SHA1) != NULL);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_SHA1)->severity == MOAT_CERT_ERROR);
    moat_cert_report_free(&r);

    conf_server(&c);
    c.certfile = NULL;
    CHECK_EQ(ctx_with(&c, &r), MOAT_EINVAL);
    CHECK(finding(&r, MOAT_CERT_SETTING, "certfile is not set"));
    moat_cert_report_free(&r);

    unsigned mask = 0;
    char err[200];
    CHECK_EQ(moat_tls_parse_versions("tlsv1.3,tlsv1.2", &mask, err, sizeof err), MOAT_OK);
    CHECK_EQ(mask, MOAT_TLS_V1_2 | MOAT_TLS_V1_3);
    CHECK_EQ(moat_tls_parse_versions("tlsv1.3", &mask, err, sizeof err), MOAT_OK);
    CHECK_EQ(mask, MOAT_TLS_V1_3);
    CHECK_EQ(moat_tls_parse_versions("tlsv1.2,tlsv1.1", &mask, err, sizeof err), MOAT_EINVAL);
    CHECK(strstr(err, "'tlsv1.1' is not supported") != NULL);
}

/* IANA names and TLS 1.3 suites listed in ciphers, as EMQX users write them. */
static void test_cipher_names(void)
{
    moat_tls_conf c;
    conf_server(&c);
    c.ciphers = "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
                "ECDHE-RSA-AES128-GCM-SHA256";
    moat_tls_ctx *ctx = new_ctx(&c);
    static const struct {
        int max;
        const char *want;
    } cases[] = {
        {TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
        {TLS1_2_VERSION, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
    };
    for (size_t i = 0; i < 2; i++) {
        SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
        SSL_CTX_set_max_proto_version(cc, cases[i].max);
        tlink *l = link_new(ctx, cc, "localhost");
        handshake(l);
        moat_tls_session_info si;
        CHECK_EQ(moat_tls_session(l->tr, &si), MOAT_OK);
        CHECK_STR(si.cipher, cases[i].want);
        link_free(l);
        SSL_CTX_free(cc);
    }
    moat_tls_ctx_unref(ctx);

    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    c.ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA";
    CHECK_EQ(ctx_with(&c, &r), MOAT_OK);
    CHECK(finding(&r, MOAT_CERT_SETTING_WARNING,
                  "without AEAD or without forward secrecy: "
                  "AES128-SHA"));
    moat_cert_report_free(&r);
}

static void test_watch_paths_and_expiry(void)
{
    moat_tls_conf c;
    conf_server(&c);
    c.certfile = pki("le/live/example/fullchain.pem");
    c.keyfile = pki("le/live/example/privkey.pem");
    c.cacertfile = pki("ca.pem");
    moat_tls_ctx *ctx = new_ctx(&c);
    const char *const *w = moat_tls_ctx_watch_paths(ctx);
    bool live_dir = false, archive_file = false, archive_dir = false, ca = false;
    char want_live[PATH_MAX], want_ca[PATH_MAX];
    snprintf(want_live, sizeof want_live, "%s", pki("le/live/example"));
    snprintf(want_ca, sizeof want_ca, "%s", pki("ca.pem"));
    for (; w && *w; w++) {
        if (getenv("MOAT_TEST_VERBOSE"))
            printf("  watch %s\n", *w);
        live_dir |= !strcmp(*w, want_live);
        archive_file |= strstr(*w, "le/archive/example/fullchain1.pem") != NULL;
        archive_dir |= strlen(*w) > 19 && !strcmp(*w + strlen(*w) - 19, "/le/archive/example");
        ca |= !strcmp(*w, want_ca);
    }
    CHECK(live_dir && archive_file && archive_dir && ca);
    int64_t na = moat_tls_ctx_not_after(ctx);
    CHECK(na > time(NULL) + 86400 * 300);

    moat_tls_ctx *again = new_ctx(&c);
    CHECK(moat_tls_ctx_same(ctx, again));
    moat_tls_ctx_unref(again);
    c.ciphers = "ECDHE-RSA-AES256-GCM-SHA384";
    again = new_ctx(&c);
    CHECK(!moat_tls_ctx_same(ctx, again));
    moat_tls_ctx_unref(again);
    moat_tls_ctx_unref(ctx);
}

/* ---------------------------------------------------- measurements */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#endif
#endif
    return false;
}

#define N_IDLE 1000

/* Bytes the server keeps per idle, established TLS 1.3 connection. */
static void measure_idle(bool two_way)
{
    moat_tls_conf c;
    conf_server(&c);
    if (two_way) {
        c.cacertfile = pki("ca.pem");
        c.verify = MOAT_TLS_VERIFY_PEER;
        c.fail_if_no_peer_cert = true;
    }
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = two_way
                      ? client_ctx(pki("ca.pem"), pki("client-fullchain.pem"), pki("client.key"))
                      : client_ctx(pki("ca.pem"), NULL, NULL);
    static tlink *links[N_IDLE];
    long long ossl0 = mem_bytes[SIDE_SERVER], count0 = mem_count[SIDE_SERVER];
    size_t heap0 = mallinfo2().uordblks;
    for (int i = 0; i < N_IDLE; i++) {
        links[i] = link_new(ctx, cc, "localhost");
        handshake(links[i]);
        CHECK(client_to_server(links[i], "x", 1, 64));
        /* leave only the server side behind, as on a broker */
        link_client_free(links[i]);
        moat_buf_free(&links[i]->to_server);
        moat_buf_free(&links[i]->to_client);
        moat_buf_free(&links[i]->got);
    }
    long long ossl = mem_bytes[SIDE_SERVER] - ossl0;
    long long allocs = mem_count[SIDE_SERVER] - count0;
    printf("memory per idle TLS 1.3 connection (RSA-2048, %s, %d connections): OpenSSL %lld "
           "bytes in %lld allocations",
           two_way ? "client certificate" : "one-way", N_IDLE, ossl / N_IDLE, allocs / N_IDLE);
    if (!under_asan()) {
        /* The heap delta holds the server side only (the clients are gone),
         * plus this test's memory transport and link structs and the
         * counting header it puts on each OpenSSL allocation: take those
         * out, leaving OpenSSL + moat's transport + malloc's own overhead. */
        long long heap = (long long)(mallinfo2().uordblks - heap0);
        long long test_only = (long long)N_IDLE * (long long)(sizeof(tlink) + sizeof(mem_tr) + 32) +
                              allocs * (long long)sizeof(mem_hdr);
        printf("; whole heap incl. malloc overhead %lld bytes", (heap - test_only) / N_IDLE);
    }
    printf("\n");
    CHECK(ossl / N_IDLE < (two_way ? 24576 : 16384)); /* no record buffers kept */
    for (int i = 0; i < N_IDLE; i++)
        link_free(links[i]);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_memory_per_idle_connection(void)
{
    measure_idle(false);
    measure_idle(true);
}

static void measure_handshakes(const char *label, const char *cert, const char *key, int max,
                               bool resume)
{
    moat_tls_conf c;
    conf_server(&c);
    c.certfile = pki(cert);
    c.keyfile = pki(key);
    moat_tls_ctx *ctx = new_ctx(&c);
    SSL_CTX *cc = client_ctx(pki("ca.pem"), NULL, NULL);
    SSL_CTX_set_max_proto_version(cc, max);
    SSL_SESSION *sess = NULL;
    if (resume) {
        tlink *l = link_new(ctx, cc, "localhost");
        handshake(l);
        sess = SSL_get1_session(l->client);
        link_free(l);
    }
    const int n = under_asan() ? 50 : 300;
    server_cpu = 0;
    double t0 = now_s();
    int ok = 0;
    for (int i = 0; i < n; i++) {
        tlink *l = link_new(ctx, cc, "localhost");
        if (sess)
            SSL_set_session(l->client, sess);
        handshake(l);
        ok += moat_tls_get_state(l->tr) == MOAT_TLS_ESTABLISHED;
        link_free(l);
    }
    double wall = now_s() - t0;
    CHECK_EQ(ok, n);
    printf("handshake cost %-34s server CPU %6.3f ms, server+client %6.3f ms%s\n", label,
           server_cpu * 1e3 / n, wall * 1e3 / n, under_asan() ? " (ASan build)" : "");
    SSL_SESSION_free(sess);
    SSL_CTX_free(cc);
    moat_tls_ctx_unref(ctx);
}

static void test_handshake_cost(void)
{
    measure_handshakes("TLS 1.3 RSA-2048, full:", "server-fullchain.pem", "server.key",
                       TLS1_3_VERSION, false);
    measure_handshakes("TLS 1.3 ECDSA P-256, full:", "server-ec-fullchain.pem", "server-ec.key",
                       TLS1_3_VERSION, false);
    measure_handshakes("TLS 1.2 ECDSA P-256, full:", "server-ec-fullchain.pem", "server-ec.key",
                       TLS1_2_VERSION, false);
    measure_handshakes("TLS 1.3 ECDSA P-256, resumed:", "server-ec-fullchain.pem", "server-ec.key",
                       TLS1_3_VERSION, true);
}

int main(void)
{
    /* Before OpenSSL allocates anything. */
    if (!CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free))
        fprintf(stderr, "note: OpenSSL allocations are not counted\n");
    if (pki_setup() != 0)
        return 1;
    TEST(test_tls13_one_way);
    TEST(test_tls12);
    TEST(test_two_way_and_identity);
    TEST(test_no_client_cert_refused);
    TEST(test_client_cert_refusals);
    TEST(test_required_eku);
    TEST(test_not_tls);
    TEST(test_closed_without_data_and_timeout);
    TEST(test_version_and_cipher_mismatch);
    TEST(test_client_rejects_server);
    TEST(test_large_record_has_pending);
    TEST(test_write_backpressure);
    TEST(test_handshake_with_full_socket);
    TEST(test_close_sends_close_notify);
    TEST(test_reload_keeps_old_connections);
    TEST(test_slot_swap_under_load);
    TEST(test_rsa_and_ecdsa);
    TEST(test_session_resumption);
    TEST(test_renegotiation_refused);
    TEST(test_alpn);
    TEST(test_over_tcp_socketpair);
    TEST(test_settings_refused);
    TEST(test_cipher_names);
    TEST(test_watch_paths_and_expiry);
    TEST(test_memory_per_idle_connection);
    TEST(test_handshake_cost);
    pki_teardown();
    return test_summary("tls");
}
