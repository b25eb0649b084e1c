/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515):
 * base64url(header) "." base64url(claims) "." base64url(signature).
 *
 * Signatures: HS256/384/512 with a shared secret, RS256/384/512 with an RSA
 * public key, ES256 with an EC P-256 public key (its JWS signature is r || s,
 * 32 bytes each, turned into DER for OpenSSL here). The header's alg must
 * fit the key that is there: an HS token is checked only with the secret,
 * never with a public key's bytes (no alg confusion), and "none" is always
 * refused. All crypto goes through OpenSSL EVP; MACs compare in constant
 * time.
 *
 * Leaf module: no logging, no global state; any thread. */
#ifndef MOAT_AUTH_JWT_H
#define MOAT_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct cJSON;
struct evp_pkey_st;
struct moat_acl;

/* The longest token accepted, in bytes. */
#define MOAT_JWT_MAX_LEN 16384

typedef struct moat_jwt_keys {
    const uint8_t *secret; /* HS*: the shared secret; NULL: HS tokens are refused */
    size_t secret_len;
    struct evp_pkey_st *pub; /* RSA (RS*) or EC P-256 (ES256); NULL: none */
} moat_jwt_keys;

/* Does s look like a JWS compact token: "eyJ" (base64url of '{"'), exactly
 * two dots, only base64url letters otherwise? A password that does not is
 * none of the JWT source's business. */
bool moat_jwt_shape(const char *s, size_t len);

/* base64url without padding (RFC 7515 section 2) into out: the number of
 * bytes, or -1 when s has a letter outside the alphabet, padding, an
 * impossible length, or out is too small. */
int moat_b64url_decode(const char *s, size_t len, uint8_t *out, size_t outlen);

/* in (n bytes) as base64url without padding into out, which has room for
 * (n + 2) / 3 * 4 + 1 bytes; returns the length written (a NUL follows). */
size_t moat_b64url_encode(const uint8_t *in, size_t n, char *out);

/* Check token (len bytes) with keys at now_s (seconds since the epoch):
 * structure, header (alg, no crit), signature, then exp and nbf with
 * leeway_s seconds of clock skew. MOAT_OK: *claims is the claims object
 * (the caller owns it: cJSON_Delete). Otherwise MOAT_EINVAL and why says
 * what failed (never the token). */
moat_err moat_jwt_verify(const char *token, size_t len, const moat_jwt_keys *keys, int64_t now_s,
                         int64_t leeway_s, struct cJSON **claims, char *why, size_t n);

/* A client's ACL from an EMQX 4.3 acl claim
 *     {"pub": ["t/1"], "sub": ["t/#"], "all": ["x/%u"]}
 * ("publish", "subscribe", "pubsub" are taken as the same lists): one allow
 * rule per topic, then deny rules for everything else ("#" and "$SYS/#",
 * publish and subscribe), so that a client with the claim gets exactly what
 * it names. The caller owns *out. MOAT_EINVAL with why for a claim that is
 * not an object of string arrays, or a topic that is not a filter. */
moat_err moat_jwt_acl(const struct cJSON *claim, struct moat_acl **out, char *why, size_t n);

#endif
