/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/order.h"

#define MAX_DEPTH 16 /* far longer than any real chain; stops loops */

bool moat_cert_is_self_signed(const X509 *x)
{
    return (X509_get_extension_flags((X509 *)x) & EXFLAG_SS) != 0;
}

bool moat_cert_issued_by(const X509 *subject, const X509 *issuer)
{
    if (X509_check_issued((X509 *)issuer, (X509 *)subject) != X509_V_OK)
        return false;
    /* Same name and key identifier is not enough when a CA was rekeyed
     * under the same name: the signature decides. */
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    return k && X509_verify((X509 *)subject, k) == 1;
}

static bool is_ca(X509 *x)
{
    return X509_check_ca(x) != 0;
}

/* Did x issue another certificate of the input? */
static bool issued_another(STACK_OF(X509) * in, int i)
{
    X509 *x = sk_X509_value(in, i);
    for (int j = 0; j < sk_X509_num(in); j++)
        if (j != i && X509_cmp(x, sk_X509_value(in, j)) != 0 &&
            moat_cert_issued_by(sk_X509_value(in, j), x))
            return true;
    return false;
}

static bool copy_of_earlier(STACK_OF(X509) * in, int i)
{
    for (int j = 0; j < i; j++)
        if (X509_cmp(sk_X509_value(in, i), sk_X509_value(in, j)) == 0)
            return true;
    return false;
}

/* The certificate the chain starts from: the key's, or the one end of the
 * issuing relation, an end-entity certificate before a CA. */
static int pick_leaf(STACK_OF(X509) * in, const EVP_PKEY *key, moat_cert_trace_status *st)
{
    int n = sk_X509_num(in), ee = -1, ca = -1, n_ee = 0, n_ca = 0;
    for (int i = 0; key && i < n; i++)
        if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(in, i)), key) == 1)
            return i;
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(in, i);
        if (moat_cert_is_self_signed(x) || issued_another(in, i) || copy_of_earlier(in, i))
            continue;
        if (!is_ca(x)) {
            ee = ee < 0 ? i : ee;
            n_ee++;
        } else {
            ca = ca < 0 ? i : ca;
            n_ca++;
        }
    }
    if (n_ee == 1 || (n_ee == 0 && n_ca == 1))
        return n_ee ? ee : ca;
    *st = n_ee + n_ca > 1 ? MOAT_TRACE_AMBIGUOUS : MOAT_TRACE_NO_LEAF;
    return -1;
}

static bool in_chain(const moat_cert_trace *t, X509 *x)
{
    for (size_t i = 0; i < t->n; i++)
        if (X509_cmp(t->v[i].cert, x) == 0)
            return true;
    return false;
}

static moat_err add_link(moat_cert_trace *t, X509 *x, moat_cert_origin origin, int index)
{
    moat_cert_link *v = realloc(t->v, (t->n + 1) * sizeof *v);
    if (!v)
        return MOAT_ENOMEM;
    t->v = v;
    if (!X509_up_ref(x))
        return MOAT_ENOMEM;
    t->v[t->n++] = (moat_cert_link){.cert = x, .origin = origin, .index = index};
    return MOAT_OK;
}

static int find_in(STACK_OF(X509) * sk, const moat_cert_trace *t, X509 *subject)
{
    for (int i = 0; sk && i < sk_X509_num(sk); i++) {
        X509 *c = sk_X509_value(sk, i);
        if (!in_chain(t, c) && moat_cert_issued_by(subject, c))
            return i;
    }
    return -1;
}

/* The system store's issuer of x, referenced; NULL when there is none. */
static X509 *system_issuer(X509_STORE *st, X509 *x)
{
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    X509 *iss = NULL;
    if (xs && X509_STORE_CTX_init(xs, st, x, NULL) && X509_STORE_CTX_get1_issuer(&iss, xs, x) != 1)
        iss = NULL;
    X509_STORE_CTX_free(xs);
    return iss;
}

static moat_err follow(moat_cert_trace *t, STACK_OF(X509) * in, STACK_OF(X509) * pool, bool system)
{
    X509_STORE *st = NULL;
    moat_err e = MOAT_OK;
    while (!e && t->n < MAX_DEPTH) {
        X509 *cur = t->v[t->n - 1].cert;
        if (moat_cert_is_self_signed(cur))
            break;
        int i = find_in(in, t, cur);
        if (i >= 0) {
            e = add_link(t, sk_X509_value(in, i), MOAT_CERT_FROM_INPUT, i);
            continue;
        }
        if ((i = find_in(pool, t, cur)) >= 0) {
            e = add_link(t, sk_X509_value(pool, i), MOAT_CERT_FROM_POOL, i);
            continue;
        }
        if (!system)
            break;
        if (!st) {
            if (!(st = X509_STORE_new()))
                return MOAT_ENOMEM;
            X509_STORE_set_default_paths(st);
        }
        X509 *iss = system_issuer(st, cur);
        if (!iss || in_chain(t, iss) || !moat_cert_issued_by(cur, iss)) {
            X509_free(iss);
            break;
        }
        e = add_link(t, iss, MOAT_CERT_FROM_SYSTEM, -1);
        X509_free(iss);
    }
    X509_STORE_free(st);
    return e;
}

moat_err moat_cert_trace_build(STACK_OF(X509) * in, STACK_OF(X509) * pool, bool system,
                               const EVP_PKEY *key, moat_cert_trace *t)
{
    memset(t, 0, sizeof *t);
    t->status = MOAT_TRACE_COMPLETE;
    ERR_set_mark();
    int leaf = in ? pick_leaf(in, key, &t->status) : -1;
    if (leaf < 0) {
        if (t->status == MOAT_TRACE_COMPLETE)
            t->status = MOAT_TRACE_NO_LEAF;
        ERR_pop_to_mark();
        return MOAT_OK;
    }
    moat_err e = add_link(t, sk_X509_value(in, leaf), MOAT_CERT_FROM_INPUT, leaf);
    if (!e)
        e = follow(t, in, pool, system);
    if (!e && !moat_cert_is_self_signed(t->v[t->n - 1].cert))
        t->status = MOAT_TRACE_INCOMPLETE;
    /* What the input holds besides the chain (copies of a chain member
     * count as unused too: they would be sent twice). */
    int n = sk_X509_num(in);
    if (!e && n > 0 && !(t->unused = malloc((size_t)n * sizeof *t->unused)))
        e = MOAT_ENOMEM;
    for (int i = 0; !e && i < n; i++) {
        bool used = false;
        for (size_t k = 0; k < t->n && !used; k++)
            used = t->v[k].origin == MOAT_CERT_FROM_INPUT && t->v[k].index == i;
        if (!used)
            t->unused[t->n_unused++] = i;
    }
    t->input_ordered = !e;
    for (size_t k = 0; !e && k < t->n; k++)
        if (t->v[k].origin == MOAT_CERT_FROM_INPUT && t->v[k].index != (int)k)
            t->input_ordered = false;
    ERR_pop_to_mark();
    if (e)
        moat_cert_trace_free(t);
    return e;
}

void moat_cert_trace_free(moat_cert_trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        X509_free(t->v[i].cert);
    free(t->v);
    free(t->unused);
    memset(t, 0, sizeof *t);
}
