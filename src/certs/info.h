/* SPDX-License-Identifier: Apache-2.0 */
/* What a certificate says about its holder: names, alternative names,
 * fingerprints and dates, as strings ready for logs, $SYS, authentication and
 * the peer_cert_as_username / peer_cert_as_clientid mappings.
 *
 * Every string that comes out of a certificate is checked to be UTF-8 without
 * control characters before it is handed out, so that a crafted certificate
 * cannot put a newline into a log line or an invalid string into MQTT.
 *
 * Threading: no shared state. */
#ifndef MOAT_CERTS_INFO_H
#define MOAT_CERTS_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct x509_st;

/* The identities a listener can take from a client certificate. The first
 * five carry EMQX 4's names; see moat_cert_identity() for each value. The
 * order is stable (the configuration table relies on it). */
typedef enum moat_cert_id {
    MOAT_CERT_ID_CN,          /* "cn": subject commonName(s), joined by "," */
    MOAT_CERT_ID_DN,          /* "dn": subject as RFC 2253/4514 text, CN first */
    MOAT_CERT_ID_CRT,         /* "crt": the DER certificate, base64, one line */
    MOAT_CERT_ID_PEM,         /* "pem": the PEM text, armour and newlines included */
    MOAT_CERT_ID_MD5,         /* "md5": MD5 of the DER, 32 lower-case hex digits */
    MOAT_CERT_ID_SAN_DNS,     /* "san_dns": first DNS subjectAltName */
    MOAT_CERT_ID_SAN_EMAIL,   /* "san_email": first email (rfc822Name) SAN */
    MOAT_CERT_ID_SAN_URI,     /* "san_uri": first URI SAN */
    MOAT_CERT_ID_SAN_IP,      /* "san_ip": first IP SAN, as inet_ntop prints it */
    MOAT_CERT_ID_FINGERPRINT, /* "fingerprint": SHA-256 of the DER, 64 hex digits */
    MOAT_CERT_ID__COUNT
} moat_cert_id;

const char *moat_cert_id_name(moat_cert_id which);
/* Parse "cn", "dn", "crt", "pem", "md5", "san_dns", ... ; MOAT_EINVAL if none. */
moat_err moat_cert_id_parse(const char *name, moat_cert_id *out);

/* Write the identity into out (NUL-terminated). Returns MOAT_OK;
 * MOAT_ENOTFOUND when the certificate has no such field (no CN, no SAN of
 * that kind); MOAT_EINVAL when the field is not clean UTF-8 or holds control
 * characters (refused as an identity); MOAT_ELIMIT when len is too small
 * (4096 bytes hold any reasonable PEM). */
moat_err moat_cert_identity(const struct x509_st *x, moat_cert_id which, char *out, size_t len);

typedef struct moat_cert_strlist {
    char **v; /* owned */
    size_t n;
} moat_cert_strlist;

/* A certificate described. All strings owned; free with moat_cert_info_free. */
typedef struct moat_cert_info {
    char *subject; /* RFC 2253 */
    char *issuer;  /* RFC 2253 */
    char *cn;      /* NULL when the subject has no CN */
    char *serial;  /* hex */
    char key[32];  /* "RSA 2048", "EC P-256", "ED25519" */
    moat_cert_strlist dns, email, uri, ip;
    char sha256[65], md5[33];      /* lower-case hex of the DER */
    int64_t not_before, not_after; /* seconds since the epoch */
    bool is_ca, self_signed;
} moat_cert_info;

moat_err moat_cert_info_get(const struct x509_st *x, moat_cert_info *out);
void moat_cert_info_free(moat_cert_info *i);

/* The rest of what `moat certs show` prints about a certificate. Owned
 * strings; free with moat_cert_details_free. */
typedef struct moat_cert_details {
    long version;     /* 1, 2 or 3 */
    char sig_alg[64]; /* "sha256WithRSAEncryption", "ecdsa-with-SHA256" */
    char key_alg[16]; /* "RSA", "EC", "ED25519" ... */
    int key_bits;     /* 2048, 256 ... */
    bool has_key_usage, key_usage_critical;
    moat_cert_strlist key_usage; /* "digitalSignature", "keyCertSign" (openssl.cnf names) */
    bool has_ext_key_usage;
    moat_cert_strlist ext_key_usage; /* "serverAuth", "clientAuth", or a dotted OID */
    bool has_basic_constraints, basic_constraints_critical, ca;
    long path_len;           /* -1 when unlimited or absent */
    char ski[100], aki[100]; /* "65:F1:3A:...", "" when absent (longer ones cut) */
} moat_cert_details;

moat_err moat_cert_details_get(const struct x509_st *x, moat_cert_details *out);
void moat_cert_details_free(moat_cert_details *d);

struct evp_pkey_st;
/* "RSA 2048", "EC P-256", "ED25519": a key as moat_cert_info.key says it. */
void moat_cert_key_str(const struct evp_pkey_st *k, char *out, size_t len);

/* Helpers shared with check.c and the TLS layer. Each writes a NUL-terminated
 * string into out, truncating to len. */
void moat_cert_name_oneline(const struct x509_st *x, bool issuer, char *out, size_t len);
void moat_cert_time_str(int64_t t, char *out, size_t len); /* "2031-01-01 00:00 UTC" */
int64_t moat_cert_not_after(const struct x509_st *x);
int64_t moat_cert_not_before(const struct x509_st *x);

#endif
