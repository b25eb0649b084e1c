/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the certificate checker with arbitrary file contents. A user can put
 * anything in certfile or keyfile; the checker must never crash, leak or
 * hang, and its answer must be consistent: MOAT_OK with no errors, or
 * MOAT_EINVAL with at least one, every finding carrying a message and a fix.
 *
 * Input: byte 0 picks what is checked, bytes 1-2 (big endian) the length of
 * the first file, the rest is the first file then the second.
 *   mode 0: certfile + keyfile        mode 1: CA file (first part)
 *   mode 2: DH parameters (first)     mode 3: certfile + keyfile with
 *                                      key_password "secret", the certfile
 *                                      also given as cacertfile
 * With bit 3 of byte 0 set, the tools' entry points instead (`moat certs`):
 *   mode 0: both files read as any PEM (moat_pem_read), every certificate
 *           described, the first file's chain traced with the second as the
 *           pool of issuers
 *   mode 1: moat_cert_check as `moat certs check` calls it: the first file
 *           as certificate and key, the second as chain file and CA file,
 *           with a host name (bit 4: an IP address) and purpose client
 *           (bit 5)
 * The files live in memfds, reached through /proc/self/fd, so nothing
 * touches the disk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/check.h"
#include "certs/info.h"
#include "certs/order.h"

static int fds[2] = {-1, -1};
static char paths[2][64];

static const char *put_file(int i, const uint8_t *p, size_t n)
{
    if (fds[i] < 0) {
        fds[i] = memfd_create(i ? "keyfile" : "certfile", 0);
        if (fds[i] < 0)
            abort();
        snprintf(paths[i], sizeof paths[i], "/proc/self/fd/%d", fds[i]);
    }
    if (ftruncate(fds[i], 0) != 0 || (n && pwrite(fds[i], p, n, 0) != (ssize_t)n))
        abort();
    return paths[i];
}

static void check_report(moat_err e, const moat_cert_report *r)
{
    if (e == MOAT_ENOMEM)
        return;
    if ((e == MOAT_OK) != (r->errors == 0))
        abort(); /* the return value and the report disagree */
    for (size_t i = 0; i < r->n; i++)
        if (!r->items[i].message[0] || !r->items[i].fix)
            abort();
}

/* Whatever loaded must describe itself without trouble. */
static void describe(const moat_cert_chain *c)
{
    char buf[8192];
    for (int id = 0; id < MOAT_CERT_ID__COUNT; id++)
        moat_cert_identity(c->leaf, (moat_cert_id)id, buf, sizeof buf);
    moat_cert_info in;
    if (moat_cert_info_get(c->leaf, &in) == MOAT_OK)
        moat_cert_info_free(&in);
}

static void run_pair(const char *cert, const char *key, bool with_ca, moat_cert_report *r)
{
    moat_cert_opts o = {.now = 1767225600}; /* fixed: 2026-01-01 */
    moat_cert_chain c = {0};
    moat_err e = MOAT_OK;
    if (with_ca) {
        e = moat_cert_load_ca(cert, false, &o, &o.trusted, r);
        check_report(e, r);
        moat_cert_report_free(r);
    }
    e = moat_cert_load_server(cert, key, with_ca ? "secret" : NULL, &o, &c, r);
    check_report(e, r);
    if (e == MOAT_OK)
        describe(&c);
    moat_cert_chain_free(&c);
    sk_X509_pop_free(o.trusted, X509_free);
}

/* Every certificate of a file, described; its certificates pushed on sk. */
static void read_any(const char *path, STACK_OF(X509) * sk, moat_cert_report *r)
{
    moat_pem_items it;
    moat_err e = moat_pem_read(path, "file", "secret", true, &it, r);
    if (e == MOAT_ENOMEM)
        return;
    if (e == MOAT_EINVAL && (r->errors == 0 || it.n))
        abort(); /* refused without saying why, or refused with items */
    for (size_t i = 0; e == MOAT_OK && i < it.n; i++) {
        if (!it.v[i].label || (it.v[i].kind == MOAT_PEM_CERT) != (it.v[i].cert != NULL))
            abort();
        if (it.v[i].kind != MOAT_PEM_CERT)
            continue;
        moat_cert_info in;
        moat_cert_details d;
        if (moat_cert_info_get(it.v[i].cert, &in) == MOAT_OK)
            moat_cert_info_free(&in);
        if (moat_cert_details_get(it.v[i].cert, &d) == MOAT_OK)
            moat_cert_details_free(&d);
        if (X509_up_ref(it.v[i].cert) && !sk_X509_push(sk, it.v[i].cert))
            X509_free(it.v[i].cert);
    }
    moat_pem_items_free(&it);
}

static void run_tools(unsigned flags, const char *a, const char *b, moat_cert_report *r)
{
    if ((flags & 3) == 0) {
        STACK_OF(X509) *in = sk_X509_new_null(), *pool = sk_X509_new_null();
        if (in && pool) {
            read_any(a, in, r);
            read_any(b, pool, r);
            moat_cert_trace t;
            if (moat_cert_trace_build(in, pool, false, NULL, &t) == MOAT_OK) {
                if (t.n > 16 || (t.status == MOAT_TRACE_COMPLETE && t.n == 0))
                    abort();
                moat_cert_trace_free(&t);
            }
        }
        sk_X509_pop_free(in, X509_free);
        sk_X509_pop_free(pool, X509_free);
        return;
    }
    moat_cert_check_result res;
    moat_cert_check_args c = {.certfile = a,
                              .keyfile = a,
                              .chainfile = b,
                              .cacertfile = b,
                              .key_password = "secret",
                              .host = flags & 16 ? "127.0.0.1" : "localhost",
                              .purpose = flags & 32 ? MOAT_CERT_FOR_CLIENT : MOAT_CERT_FOR_SERVER,
                              .anchor_required = true,
                              .partial_chain = flags & 4,
                              .cli = true,
                              .now = 1767225600,
                              .result = &res};
    check_report(moat_cert_check(&c, r), r);
    if (res.leaf >= 0 && (!res.certs || res.leaf >= sk_X509_num(res.certs)))
        abort();
    moat_cert_check_result_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned flags = data[0], mode = data[0] & 3;
    bool partial = data[0] & 4;
    size_t first = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    if (first > size)
        first = size;
    const char *a = put_file(0, data, first);
    const char *b = put_file(1, data + first, size - first);
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    if (flags & 8) {
        run_tools(flags, a, b, &r);
    } else if (mode == 0 || mode == 3) {
        run_pair(a, b, mode == 3, &r);
    } else if (mode == 1) {
        STACK_OF(X509) *sk = NULL;
        moat_err e = moat_cert_load_ca(a, partial, NULL, &sk, &r);
        check_report(e, &r);
        sk_X509_pop_free(sk, X509_free);
    } else {
        EVP_PKEY *dh = NULL;
        moat_err e = moat_cert_load_dh(a, &dh, &r);
        check_report(e, &r);
        EVP_PKEY_free(dh);
    }
    moat_cert_report_free(&r);
    return 0;
}
