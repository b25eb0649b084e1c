/* SPDX-License-Identifier: Apache-2.0 */
/* Loading and checking certificate material: the server's certificate chain
 * and private key, the CA file that client certificates are verified
 * against, and Diffie-Hellman parameters.
 *
 * Every problem becomes a finding {severity, file, code, message, fix} in a
 * caller-owned report, worded for the person who has to fix it: the file, what
 * is wrong with it, and what to do. Nothing here logs. The TLS layer loads
 * material through these functions, so what was checked is exactly what gets
 * served: each file is read once, and never again between check and use (a
 * renewal landing in between cannot pair an old certificate with a new key).
 * `moat certs check` prints the same report.
 *
 * Threading: no shared state; any thread may call any function.
 * Uses OpenSSL 3 for all parsing and verification. */
#ifndef MOAT_CERTS_CHECK_H
#define MOAT_CERTS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* OpenSSL's types, declared so that this header does not pull OpenSSL's
 * headers into every file that only wants a report. */
struct x509_st;
struct evp_pkey_st;
struct stack_st_X509;

typedef enum moat_cert_severity {
    MOAT_CERT_WARNING = 1, /* works, but is likely not what was meant */
    MOAT_CERT_ERROR = 2,   /* refused: the material is not used */
} moat_cert_severity;

/* Stable codes; moat_cert_code_name() gives a snake_case name for each. */
typedef enum moat_cert_code {
    MOAT_CERT_FILE_MISSING = 1,     /* no such file, or a dangling symlink */
    MOAT_CERT_FILE_UNREADABLE,      /* permission, a directory, I/O error */
    MOAT_CERT_FILE_EMPTY,           /* zero bytes, or no PEM block at all */
    MOAT_CERT_NOT_PEM,              /* DER, PKCS#12 or something else */
    MOAT_CERT_PEM_CORRUPT,          /* a PEM block whose contents do not decode */
    MOAT_CERT_WRONG_CONTENT,        /* a key where a certificate belongs, a CSR ... */
    MOAT_CERT_KEY_MISMATCH,         /* the private key is not the certificate's */
    MOAT_CERT_KEY_ENCRYPTED,        /* encrypted key and no key_password */
    MOAT_CERT_KEY_BAD_PASSWORD,     /* key_password does not decrypt the key */
    MOAT_CERT_KEY_PASSWORD_UNUSED,  /* warning: password set, key not encrypted */
    MOAT_CERT_KEY_EXTRA,            /* warning: more than one key in keyfile */
    MOAT_CERT_CA_FIRST,             /* certfile starts with a CA certificate */
    MOAT_CERT_CHAIN_ORDER,          /* chain certificates in the wrong order */
    MOAT_CERT_CHAIN_UNRELATED,      /* a certificate that is not in the leaf's chain */
    MOAT_CERT_INTERMEDIATE_MISSING, /* the chain stops before a trusted root */
    MOAT_CERT_CHAIN_COMPLETED,      /* warning: intermediates taken from cacertfile */
    MOAT_CERT_CHAIN_INVALID,        /* the chain does not verify for another reason */
    MOAT_CERT_ROOT_INCLUDED,        /* warning: the root is sent to clients */
    MOAT_CERT_EXPIRED,              /* leaf past notAfter */
    MOAT_CERT_NOT_YET_VALID,        /* leaf before notBefore */
    MOAT_CERT_EXPIRES_SOON,         /* warning: leaf expires within 30 days */
    MOAT_CERT_NO_SERVER_AUTH,       /* EKU present without serverAuth */
    MOAT_CERT_NO_SAN,               /* warning: no subjectAltName */
    MOAT_CERT_WEAK_KEY,             /* RSA under 2048 bits */
    MOAT_CERT_UNUSUAL_CURVE,        /* warning: EC curve not P-256/P-384/P-521 */
    MOAT_CERT_SHA1,                 /* SHA-1 signature (OpenSSL refuses it too) */
    MOAT_CERT_LEAF_IS_CA,           /* warning: server certificate has CA:TRUE */
    MOAT_CERT_DUPLICATE_KEY_TYPE,   /* certfile2 has the same key type as certfile */
    MOAT_CERT_CA_NOT_CA,            /* warning: a non-CA certificate in cacertfile */
    MOAT_CERT_CA_EXPIRED,           /* warning: an expired CA in cacertfile */
    MOAT_CERT_CA_NO_ROOT,           /* warning: intermediates only, no partial_chain */
    MOAT_CERT_DH_INVALID,           /* dhfile holds no usable DH parameters */
    MOAT_CERT_DH_WEAK,              /* DH parameters under 2048 bits */
    MOAT_CERT_SETTING,              /* a TLS setting is invalid (file is NULL) */
    MOAT_CERT_SETTING_WARNING,      /* a TLS setting is unusual (file is NULL) */
    MOAT_CERT_TLS_LIBRARY,          /* OpenSSL refused something we did not foresee */
    /* Appended later; the values above stay as they were. */
    MOAT_CERT_HOST_MISMATCH,  /* the leaf is not valid for the host name asked about */
    MOAT_CERT_NO_CLIENT_AUTH, /* client certificate: EKU present without clientAuth */
    MOAT_CERT_KEY_USAGE,      /* keyUsage allows no TLS use of the leaf's key */
    MOAT_CERT_NOT_V3,         /* warning: the leaf is not an X.509 version 3 certificate */
    MOAT_CERT_DUPLICATE_CERT, /* the same certificate twice in what would be sent */
    MOAT_CERT_CODE__COUNT
} moat_cert_code;

typedef struct moat_cert_finding {
    moat_cert_severity severity;
    moat_cert_code code;
    char *file;    /* the file concerned as configured; NULL for a setting */
    char *message; /* what is wrong, naming the file; never NULL */
    char *fix;     /* what to do about it; never NULL */
} moat_cert_finding;

/* A list of findings. Owned by the caller: start from MOAT_CERT_REPORT_INIT,
 * release with moat_cert_report_free(). Every string in it is owned by it. */
typedef struct moat_cert_report {
    moat_cert_finding *items;
    size_t n, cap;
    unsigned errors, warnings;
    bool truncated; /* out of memory: some findings were not recorded */
} moat_cert_report;

#define MOAT_CERT_REPORT_INIT                                                                      \
    {                                                                                              \
        0                                                                                          \
    }

void moat_cert_report_free(moat_cert_report *r);
/* Record a finding; message is printf-formatted. If memory runs out the
 * finding is counted (errors/warnings) and truncated is set. */
void moat_cert_report_add(moat_cert_report *r, moat_cert_severity sev, moat_cert_code code,
                          const char *file, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* First finding with this code, or NULL. */
const moat_cert_finding *moat_cert_report_find(const moat_cert_report *r, moat_cert_code code);
/* "key_mismatch", "intermediate_missing" ... ; "unknown" for a bad code. */
const char *moat_cert_code_name(moat_cert_code code);

/* A server certificate chain and its key as served. */
typedef struct moat_cert_chain {
    struct x509_st *leaf;        /* owned */
    struct stack_st_X509 *chain; /* owned; intermediates in served order, no leaf */
    struct evp_pkey_st *key;     /* owned */
} moat_cert_chain;

void moat_cert_chain_free(moat_cert_chain *c);

/* What the certificate is for: the extended key usage a peer requires and
 * the word messages use ("the server certificate in ..."). */
typedef enum moat_cert_purpose {
    MOAT_CERT_FOR_SERVER = 0,
    MOAT_CERT_FOR_CLIENT = 1,
} moat_cert_purpose;

/* What the checks compare against. Zero-initialised fields keep the broker's
 * behaviour; the fields after expiry_warn_days are for `moat certs check`
 * and for callers that know more (the broker may set them later). */
typedef struct moat_cert_opts {
    int64_t now;                   /* seconds since the epoch; 0 = time(NULL) */
    bool system_roots;             /* also trust the system's CA store */
    struct stack_st_X509 *trusted; /* borrowed; certificates from cacertfile */
    const char *trusted_file;      /* its name, for messages */
    int expiry_warn_days;          /* 0 = 30 */
    moat_cert_purpose purpose;     /* checked with OpenSSL's sslserver/sslclient purpose */
    const char *host;              /* NULL, or a DNS name or IP address peers connect to */
    /* The trusted certificates are exactly what peers verify against, so a
     * chain that does not reach them is an error, not a warning (the broker's
     * cacertfile is for client certificates and may be another CA). */
    bool anchor_required;
    bool partial_chain; /* with anchor_required: a trusted intermediate ends the chain */
    bool cli;           /* name options as `moat certs check` does (--key-password ...) */
} moat_cert_opts;

/* Load certfile (PEM: leaf, then intermediates) and keyfile (PEM, PKCS#8 or
 * traditional, encrypted when password is set), check them and fill *out.
 * When the chain in certfile stops at an intermediate whose issuer is in
 * o->trusted (EMQX users keep intermediates in cacertfile), the missing
 * intermediates are appended from there, with a warning.
 * Returns MOAT_OK (warnings possible) or MOAT_EINVAL when at least one error
 * was recorded; *out is filled only on MOAT_OK. MOAT_ENOMEM on allocation
 * failure. */
moat_err moat_cert_load_server(const char *certfile, const char *keyfile, const char *password,
                               const moat_cert_opts *o, moat_cert_chain *out, moat_cert_report *r);

/* Load a CA file (PEM bundle of trust anchors for client certificates).
 * Warns about non-CA and expired certificates, and about intermediates
 * without their root when partial_chain is false. *out (owned by the caller,
 * free with sk_X509_pop_free(sk, X509_free)) is filled on MOAT_OK. */
moat_err moat_cert_load_ca(const char *cafile, bool partial_chain, const moat_cert_opts *o,
                           struct stack_st_X509 **out, moat_cert_report *r);

/* Load Diffie-Hellman parameters (PEM "DH PARAMETERS"); 2048 bits or more. */
moat_err moat_cert_load_dh(const char *dhfile, struct evp_pkey_st **out, moat_cert_report *r);

/* What moat_cert_check() found, for a caller that describes it (the
 * `moat certs check` checklist). Every pointer is owned by the result;
 * release it with moat_cert_check_result_free(). */
typedef struct moat_cert_check_result {
    struct stack_st_X509 *certs;   /* certfile's certificates, then chainfile's */
    int n_certfile;                /* how many of certs came from certfile */
    int leaf;                      /* index in certs of the leaf; -1 when none */
    struct evp_pkey_st *key;       /* the private key; NULL when none loaded */
    bool key_encrypted;            /* it was stored encrypted */
    int n_keys;                    /* private keys in keyfile */
    struct stack_st_X509 *path;    /* leaf first, as verification traced it; NULL if not */
    bool anchored;                 /* path ends at a trusted certificate */
    struct stack_st_X509 *trusted; /* the certificates of cacertfile */
} moat_cert_check_result;

void moat_cert_check_result_free(moat_cert_check_result *res);

/* Everything `moat certs check` looks at, checked and then released. */
typedef struct moat_cert_check_args {
    const char *certfile, *keyfile, *key_password; /* certfile may be NULL; keyfile too */
    const char *cacertfile;                        /* may be NULL */
    const char *dhfile;                            /* may be NULL */
    bool partial_chain;
    bool system_roots;
    int64_t now; /* 0 = time(NULL) */
    /* Added for `moat certs check`; zero keeps the earlier behaviour. */
    const char *chainfile;     /* intermediates kept apart from certfile (cert.pem + chain.pem) */
    const char *host;          /* check the leaf against this name or address */
    moat_cert_purpose purpose; /* what the leaf is for */
    bool anchor_required;      /* see moat_cert_opts */
    bool cli;                  /* see moat_cert_opts */
    moat_cert_check_result *result; /* optional: filled with what was found */
} moat_cert_check_args;

moat_err moat_cert_check(const moat_cert_check_args *a, moat_cert_report *r);

/* ------------------------------------------------ reading any PEM file */

/* What a PEM block (or a whole DER file) turned out to be. */
typedef enum moat_pem_kind {
    MOAT_PEM_CERT = 1,
    MOAT_PEM_KEY,  /* a private key; key is NULL when encrypted and not decrypted */
    MOAT_PEM_CSR,  /* a certificate signing request */
    MOAT_PEM_OTHER /* anything else: parameters, a public key, a CRL ... */
} moat_pem_kind;

typedef struct moat_pem_item {
    moat_pem_kind kind;
    char *label;             /* "CERTIFICATE", "ENCRYPTED PRIVATE KEY" ...; "DER" for DER */
    struct x509_st *cert;    /* MOAT_PEM_CERT: owned */
    struct evp_pkey_st *key; /* MOAT_PEM_KEY: owned; NULL when it could not be decrypted */
    bool encrypted;          /* MOAT_PEM_KEY: stored encrypted */
} moat_pem_item;

typedef struct moat_pem_items {
    moat_pem_item *v;
    size_t n;
    bool der; /* the file was one DER certificate, not PEM */
} moat_pem_items;

/* Read every block of a file, in order, for a tool that shows or rearranges
 * them. what names the file in messages ("certificate file"). Encrypted keys
 * are decrypted with password when given; one that stays encrypted, or does
 * not decrypt, is an item with key NULL plus a finding. A file with no PEM
 * block is accepted when it is one DER certificate (allow_der; items->der is
 * then set); otherwise it gets the findings the broker would give.
 * MOAT_OK: items filled (possibly with findings); MOAT_EINVAL: the file could
 * not be read at all (findings say why); MOAT_ENOMEM. */
moat_err moat_pem_read(const char *path, const char *what, const char *password, bool allow_der,
                       moat_pem_items *items, moat_cert_report *r);
void moat_pem_items_free(moat_pem_items *items);

#endif
