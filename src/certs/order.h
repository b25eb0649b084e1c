/* SPDX-License-Identifier: Apache-2.0 */
/* Putting certificates in the order a TLS peer sends them: the leaf, then
 * each certificate's issuer, up to the root. `moat certs split` and
 * `moat certs bundle` use it; the order comes from tracing subject → issuer
 * (names, key identifiers and the issuer's signature, all checked by
 * OpenSSL), never from the order the input happened to have.
 *
 * Threading: no shared state. */
#ifndef MOAT_CERTS_ORDER_H
#define MOAT_CERTS_ORDER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct x509_st;
struct stack_st_X509;

/* Where a certificate of the traced chain came from. */
typedef enum moat_cert_origin {
    MOAT_CERT_FROM_INPUT = 1, /* the certificates given */
    MOAT_CERT_FROM_POOL,      /* the extra issuers given (a --ca-dir) */
    MOAT_CERT_FROM_SYSTEM,    /* the system's trusted roots */
} moat_cert_origin;

typedef struct moat_cert_link {
    struct x509_st *cert; /* owned reference */
    moat_cert_origin origin;
    int index; /* position in the input or the pool; -1 for the system store */
} moat_cert_link;

typedef enum moat_cert_trace_status {
    MOAT_TRACE_COMPLETE = 0, /* the chain ends at a self-signed root */
    MOAT_TRACE_INCOMPLETE,   /* the last certificate's issuer was found nowhere */
    MOAT_TRACE_NO_LEAF,      /* no certificate, or only self-signed roots */
    MOAT_TRACE_AMBIGUOUS,    /* several end-entity certificates: which one is meant? */
} moat_cert_trace_status;

typedef struct moat_cert_trace {
    moat_cert_trace_status status;
    moat_cert_link *v; /* leaf first, each followed by its issuer */
    size_t n;
    int *unused; /* input positions that are not in the chain, ascending */
    size_t n_unused;
    bool input_ordered; /* the input already started with the chain, in this order */
} moat_cert_trace;

/* Trace the chain of the input's leaf. The leaf is the input certificate
 * that matches key when one is given; otherwise the one certificate that
 * issued none of the others (an end-entity certificate is preferred to a CA
 * when there are several). Issuers are looked up in the input, then in pool
 * (may be NULL), then, when system is set, in the system's trust store.
 * MOAT_OK with out->status saying how far it got; MOAT_ENOMEM. */
moat_err moat_cert_trace_build(struct stack_st_X509 *input, struct stack_st_X509 *pool, bool system,
                               const struct evp_pkey_st *key, moat_cert_trace *out);
void moat_cert_trace_free(moat_cert_trace *t);

/* Did issuer sign subject? Names, key identifiers and the signature. */
bool moat_cert_issued_by(const struct x509_st *subject, const struct x509_st *issuer);
bool moat_cert_is_self_signed(const struct x509_st *x);

#endif
