/* SPDX-License-Identifier: Apache-2.0 */
/* tlsfloor mode: what a TLS handshake costs the server inside OpenSSL alone.
 * A client and a server SSL talk over a BIO pair in this one thread, full
 * handshakes, no resumption, no tickets unless asked; only the CPU time of
 * the server's calls (SSL_new, SSL_do_handshake, SSL_free) is counted (thread
 * CPU time, so other load on the machine does not inflate it). No
 * broker can do a handshake for less CPU than this with the same library,
 * certificate and key exchange. */
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gen.h"

static SSL_CTX *server_ctx(void)
{
    const opts *o = &G.o;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
    if (o->tls_version && !strcmp(o->tls_version, "1.2"))
        hi = TLS1_2_VERSION;
    else if (o->tls_version && !strcmp(o->tls_version, "1.3"))
        lo = TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    if (!SSL_CTX_use_certificate_chain_file(ctx, o->server_cert) ||
        !SSL_CTX_use_PrivateKey_file(ctx, o->server_key, SSL_FILETYPE_PEM))
        return NULL;
    if (o->groups && !SSL_CTX_set1_groups_list(ctx, o->groups))
        return NULL;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, (size_t)o->num_tickets);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->cert) {
        if (!o->ca || !SSL_CTX_load_verify_locations(ctx, o->ca, NULL))
            return NULL;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One full handshake; adds the server's share to *server_ns. */
static int handshake(SSL_CTX *sctx, uint64_t *server_ns)
{
    uint64_t t = cpu_ns();
    SSL *s = SSL_new(sctx);
    *server_ns += cpu_ns() - t;
    SSL *c = SSL_new(G.ctx);
    BIO *bc, *bs;
    if (!s || !c || !BIO_new_bio_pair(&bc, 0, &bs, 0))
        return -1;
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int done_c = 0, done_s = 0, rc = 0;
    for (int turn = 0; turn < 32 && !(done_c && done_s); turn++) {
        if (!done_c) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                done_c = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ) {
                rc = -1;
                break;
            }
        }
        if (!done_s) {
            t = cpu_ns();
            int r = SSL_do_handshake(s);
            *server_ns += cpu_ns() - t;
            if (r == 1)
                done_s = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ) {
                rc = -1;
                break;
            }
        }
    }
    if (!(done_c && done_s))
        rc = -1;
    SSL_free(c);
    t = cpu_ns();
    SSL_free(s);
    *server_ns += cpu_ns() - t;
    return rc;
}

int run_tlsfloor(void)
{
    const opts *o = &G.o;
    SSL_CTX *sctx = server_ctx();
    if (!sctx) {
        char buf[200];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        fprintf(stderr, "moat-bench: server context: %s\n", buf);
        return 2;
    }
    uint64_t server_ns = 0, n = 0, errors = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->duration * 1e9);
    do {
        if (handshake(sctx, &server_ns) == 0)
            n++;
        else if (++errors > 10)
            break;
    } while (now_ns() < end);
    double wall = (double)(now_ns() - t0) / 1e9;
    /* describe one handshake as the benchmark does */
    SSL *s = SSL_new(sctx), *c = SSL_new(G.ctx);
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 8; i++) {
        SSL_do_handshake(c);
        SSL_do_handshake(s);
    }
    tls_describe(c, G.tls_info, sizeof G.tls_info);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(sctx);

    json j;
    json_begin(&j);
    json_str(&j, "name", o->name);
    json_str(&j, "mode", "tlsfloor");
    if (o->tag)
        json_str(&j, "tag", o->tag);
    json_raw(&j, "tls_info", G.tls_info[0] ? G.tls_info : "null");
    json_int(&j, "num_tickets", o->num_tickets);
    json_int(&j, "handshakes", (int64_t)n);
    json_num(&j, "wall_s", wall);
    double us = n ? (double)server_ns / 1e3 / (double)n : 0;
    json_num(&j, "server_us_per_hs", us);
    json_num(&j, "server_hs_per_core_s", us > 0 ? 1e6 / us : 0);
    json_num(&j, "pair_hs_per_s", wall > 0 ? (double)n / wall : 0);
    json_int(&j, "errors", (int64_t)errors);
    json_bool(&j, "ok", errors == 0 && n > 0);
    json_end(&j, stdout);
    return errors == 0 && n > 0 ? 0 : 1;
}
