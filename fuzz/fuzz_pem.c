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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned mode = data[0] & 3;
    bool partial = data[0] & 4;
    size_t first = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    if (first > size)
        first = size;
    const char *a = put_file(0, data, first);
    const char *b = put_file(1, data + first, size - first);
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    if (mode == 0 || mode == 3) {
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
