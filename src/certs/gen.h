/* SPDX-License-Identifier: Apache-2.0 */
/* Making keys and certificates: what `moat certs gen` and `moat certs dev`
 * do, and what the broker does at first start (certs/devset.h). Everything
 * cryptographic or ASN.1 is OpenSSL 3's (EVP, X509, X509V3); this file only
 * decides which extensions each kind of certificate gets and writes files
 * carefully (keys are created 0600, files appear atomically, nothing is
 * overwritten without force).
 *
 * The profiles (RFC 5280, CA/Browser Forum baseline where it applies):
 *   ca            basicConstraints critical CA:TRUE; keyUsage critical
 *                 keyCertSign, cRLSign; SKI. Self-signed.
 *   intermediate  the same with pathlen:0, plus AKI; signed by a CA.
 *   server        basicConstraints CA:FALSE; keyUsage critical
 *                 digitalSignature (+ keyEncipherment for RSA); EKU
 *                 serverAuth; SAN; SKI; AKI.
 *   client        the same with EKU clientAuth; SAN optional.
 * Serial: 128 random bits, positive. Validity starts 5 minutes in the past
 * (clocks differ) and never outlasts the issuer. Signature: SHA-256, SHA-384
 * for a P-384 issuer key, none (pure EdDSA) for an Ed25519 one.
 *
 * Threading: no shared state. */
#ifndef MOAT_CERTS_GEN_H
#define MOAT_CERTS_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/err.h"

typedef enum moat_gen_kind {
    MOAT_GEN_CA = 0,
    MOAT_GEN_INTERMEDIATE,
    MOAT_GEN_SERVER,
    MOAT_GEN_CLIENT,
} moat_gen_kind;

typedef enum moat_gen_key {
    MOAT_KEY_EC256 = 0, /* the default: small, fast, accepted everywhere */
    MOAT_KEY_EC384,
    MOAT_KEY_ED25519,
    MOAT_KEY_RSA2048,
    MOAT_KEY_RSA3072,
    MOAT_KEY_RSA4096,
} moat_gen_key;

/* "ca", "intermediate", "server", "client"; parse also takes "int". */
const char *moat_gen_kind_name(moat_gen_kind k);
bool moat_gen_kind_parse(const char *s, moat_gen_kind *out);
/* "ec256" ... "rsa4096"; parse also takes "p256", "p384", "rsa" (2048). */
const char *moat_gen_key_name(moat_gen_key k);
bool moat_gen_key_parse(const char *s, moat_gen_key *out);
/* "ec256, ec384, ed25519, rsa2048, rsa3072, rsa4096" for messages. */
const char *moat_gen_key_list(void);

/* Default validity in days: 3650 for a CA, 1825 for an intermediate, 825
 * for a server or client (the longest Apple platforms accept for TLS
 * server certificates). */
unsigned moat_gen_default_days(moat_gen_kind k);
#define MOAT_GEN_MAX_DAYS 36500u

/* A fresh private key. */
moat_err moat_gen_keypair(moat_gen_key t, EVP_PKEY **out, char *err, size_t errlen);

/* subjectAltName from text: comma-separated DNS:name, IP:address,
 * email:addr, URI:uri; an entry without a prefix is an IP address when it
 * parses as one, a DNS name otherwise. Names are checked (a DNS name is
 * ASCII letters, digits, '-', '_' and dots, with an optional leading "*.").
 * Appends to *names (made when NULL); on error nothing is appended and err
 * names the entry and what would be right. */
moat_err moat_gen_san_parse(const char *text, GENERAL_NAMES **names, char *err, size_t errlen);
/* Whether names holds this DNS name / IP address (text form). */
bool moat_gen_san_has(const GENERAL_NAMES *names, const char *dns_or_ip);
/* Whether s is an IP address (v4 or v6) / could be a host name. */
bool moat_gen_is_ip(const char *s);
bool moat_gen_is_hostname(const char *s);

typedef struct moat_gen_spec {
    moat_gen_kind kind;
    const char *cn;           /* required, at most 64 characters */
    const char *org;          /* optional O= */
    const GENERAL_NAMES *san; /* optional (borrowed); servers should have one */
    unsigned days;            /* 1 .. MOAT_GEN_MAX_DAYS */
    int64_t now;              /* seconds since the epoch; 0 = time(NULL) */
} moat_gen_spec;

/* Build and sign the certificate of key. issuer and issuer_key are the
 * signing CA; both NULL makes a self-signed certificate (kind ca only).
 * *capped is set (may be NULL) when notAfter was cut to the issuer's. */
moat_err moat_gen_cert(const moat_gen_spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       X509 **out, bool *capped, char *err, size_t errlen);

/* Whether issuer with issuer_key may sign a certificate of kind: a CA
 * (basicConstraints CA:TRUE, keyCertSign if keyUsage is there), the key is
 * its own, valid at now, and a pathlen of 0 forbids signing an intermediate.
 * The file names are for the message, which says what to do instead. */
moat_err moat_gen_check_issuer(X509 *issuer, EVP_PKEY *issuer_key, moat_gen_kind kind, int64_t now,
                               const char *certfile, const char *keyfile, char *err, size_t errlen);

/* Read every certificate of a PEM file (at least one). A file holding a
 * private key instead is named as such in the message. */
moat_err moat_gen_load_certs(const char *path, STACK_OF(X509) * *out, char *err, size_t errlen);
/* Read an unencrypted private key (PEM, PKCS#8 or traditional). */
moat_err moat_gen_load_key(const char *path, EVP_PKEY **out, char *err, size_t errlen);

/* One output file: a private key, or a certificate optionally followed by
 * more certificates (a fullchain). */
typedef struct moat_gen_file {
    const char *name;       /* file name inside the directory */
    EVP_PKEY *key;          /* a key: written as PKCS#8 PEM, mode 0600 */
    X509 *cert;             /* or a certificate, mode 0644 (less the umask) */
    STACK_OF(X509) * chain; /* appended after cert; may be NULL */
} moat_gen_file;

/* The path of a file in dir ("dir/name", or "name" when dir is "" or "."). */
void moat_gen_path(const char *dir, const char *name, char *out, size_t n);

/* MOAT_EEXIST (and the first such path in err) when one of the files is
 * there already; MOAT_OK when none is. */
moat_err moat_gen_check_absent(const char *dir, const moat_gen_file *f, size_t n, char *err,
                               size_t errlen);

/* Write the files into dir, made (mode 0755, and its parents) when missing.
 * Each file is written to a new temporary file in dir (keys opened with
 * O_CREAT|O_EXCL and mode 0600, so there is no moment when a key is
 * readable by others) and synced; then all are moved into place. Without
 * force an existing file is an error (MOAT_EEXIST) and nothing is written;
 * with force it is replaced atomically. */
moat_err moat_gen_write(const char *dir, const moat_gen_file *f, size_t n, bool force, char *err,
                        size_t errlen);

/* Key, certificate and files of one kind in one step: `moat certs gen`. */
typedef struct moat_gen_request {
    moat_gen_kind kind;
    moat_gen_key key;
    const char *cn, *org;
    const GENERAL_NAMES *san; /* borrowed; may be NULL */
    unsigned days;            /* 0: moat_gen_default_days(kind) */
    X509 *issuer;             /* borrowed; NULL (with issuer_key) for a ca */
    EVP_PKEY *issuer_key;
    STACK_OF(X509) * issuer_chain; /* borrowed: certificates above issuer, for the fullchain */
    const char *dir;               /* output directory */
    const char *base;              /* file base name: "server" gives server.pem ... */
    bool force;
    int64_t now; /* 0 = time(NULL) */
} moat_gen_request;

#define MOAT_GEN_PATH 4096

typedef struct moat_gen_issued {
    X509 *cert;    /* owned */
    EVP_PKEY *key; /* owned */
    bool capped;   /* validity cut to the issuer's */
    int n_chain;   /* certificates after the leaf in the fullchain */
    char cert_path[MOAT_GEN_PATH], key_path[MOAT_GEN_PATH];
    char chain_path[MOAT_GEN_PATH]; /* server and client: <base>-fullchain.pem; else "" */
} moat_gen_issued;

/* Writes <base>.pem and <base>.key, and for server and client
 * <base>-fullchain.pem: the certificate, then the issuer and issuer_chain
 * without any self-signed root (a server sends intermediates, never the
 * root). The issuer is not checked here: see moat_gen_check_issuer. */
moat_err moat_gen_issue(const moat_gen_request *r, moat_gen_issued *out, char *err, size_t errlen);
void moat_gen_issued_free(moat_gen_issued *i);

/* "CN=moat Dev CA,O=moat" (RFC 2253) of the subject, and "2031-01-01" of
 * notAfter, for messages. */
void moat_gen_subject(const X509 *x, char *out, size_t n);
void moat_gen_not_after(const X509 *x, char *out, size_t n);
/* The subjectAltName as text, comma separated: "DNS:localhost, IP:::1"
 * with prefixes, "localhost, ::1" without. */
void moat_gen_names_text(const X509 *x, bool prefixes, char *out, size_t n);
/* "EC P-256", "RSA 2048", "Ed25519". */
void moat_gen_key_desc(const EVP_PKEY *k, char *out, size_t n);

#endif
