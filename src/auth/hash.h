/* SPDX-License-Identifier: Apache-2.0 */
/* Password hashes, checked against what a backend stores: EMQX 4's
 * password_hash algorithms (md5, sha, sha256, sha512 with a salt before or
 * after the password; pbkdf2; bcrypt) and mosquitto_passwd's formats
 * ($6$ SHA-512, $7$ PBKDF2-SHA512). The digests come from OpenSSL and bcrypt
 * from libcrypt (crypt_r with a $2b$ setting); nothing here is hand-rolled.
 * Every comparison of a digest is constant-time (CRYPTO_memcmp).
 * Leaf module: no logging, no global state; safe on any thread. */
#ifndef MOAT_AUTH_HASH_H
#define MOAT_AUTH_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum moat_hash_alg {
    MOAT_HASH_PLAIN = 0, /* the stored value is the password itself */
    MOAT_HASH_MD5,
    MOAT_HASH_SHA, /* SHA-1, EMQX's "sha" */
    MOAT_HASH_SHA256,
    MOAT_HASH_SHA512,
    MOAT_HASH_PBKDF2, /* stored: hex of the derived key */
    MOAT_HASH_BCRYPT, /* stored: the crypt string "$2b$10$<22 salt><31 hash>" */
    /* stored: the PHC string "$argon2id$v=19$m=19456,t=2,p=1$<b64 salt>$<b64 hash>";
     * costs milliseconds and megabytes per check: never on an event loop */
    MOAT_HASH_ARGON2ID,
} moat_hash_alg;

/* The parameters moat_hash_argon2id_new uses: OWASP's Password Storage Cheat
 * Sheet recommends argon2id with 19 MiB of memory, 2 passes, 1 lane (its
 * first choice; RFC 9106's own recommendations, 2 GiB or 64 MiB, are sized
 * for a login a second, not for a broker taking bursts of CONNECTs). */
#define MOAT_ARGON2_M_KIB 19456u
#define MOAT_ARGON2_T 2u
#define MOAT_ARGON2_P 1u
#define MOAT_ARGON2_SALT 16u /* bytes, from RAND_bytes */
#define MOAT_ARGON2_HASH 32u /* bytes */
/* Room for the PHC string of those parameters, with margin. */
#define MOAT_ARGON2_ENCODED_MAX 160u

typedef enum moat_salt_pos {
    MOAT_SALT_NONE = 0,
    MOAT_SALT_PREFIX, /* digest(salt || password) */
    MOAT_SALT_SUFFIX, /* digest(password || salt) */
} moat_salt_pos;

typedef struct moat_hash_params {
    moat_hash_alg alg;
    moat_salt_pos salt_pos; /* md5 / sha*: where the salt goes */
    const char *salt;       /* md5 / sha* / pbkdf2; NULL = "" */
    /* pbkdf2 */
    moat_hash_alg mac; /* MOAT_HASH_MD5 .. MOAT_HASH_SHA512 */
    uint32_t iterations;
    uint32_t dklen; /* bytes; 0 = the mac's digest size */
} moat_hash_params;

/* The digest of password as lowercase hex into out (for md5 / sha* /
 * pbkdf2). MOAT_EINVAL for plain / bcrypt or bad parameters, MOAT_ELIMIT
 * when out is too small (2 * length + 1 bytes are needed). */
moat_err moat_hash_hex(const moat_hash_params *p, const char *pw, size_t pwlen, char *out,
                       size_t outlen);

/* A new argon2id hash of pw with a random salt and the MOAT_ARGON2_*
 * parameters, as a PHC string into out (MOAT_ARGON2_ENCODED_MAX bytes are
 * enough). MOAT_EINVAL for an empty password, MOAT_EIO when no random salt
 * could be had, MOAT_ELIMIT when out is too small. Takes tens of
 * milliseconds: call it off the event loops. */
moat_err moat_hash_argon2id_new(const char *pw, size_t pwlen, char *out, size_t outlen);

/* Does pw match the argon2id PHC string stored? Any parameters libargon2
 * accepts, up to 1 GiB of memory, 64 passes and 16 lanes (a larger stored
 * value is refused rather than run). */
bool moat_hash_verify_argon2id(const char *stored, const char *pw, size_t pwlen);

/* Does password match stored under p? Hex comparison ignores case; plain
 * compares the bytes; bcrypt runs crypt_r with stored as the setting;
 * argon2id is moat_hash_verify_argon2id. Never
 * true for an empty stored value. Constant-time in the compared bytes. */
bool moat_hash_verify(const moat_hash_params *p, const char *pw, size_t pwlen, const char *stored);

/* A mosquitto_passwd hash: "$6$<b64 salt>$<b64 sha512(pw || salt)>" or
 * "$7$<iterations>$<b64 salt>$<b64 pbkdf2-sha512>". False for any other
 * or malformed form. */
bool moat_hash_verify_mosquitto(const char *stored, const char *pw, size_t pwlen);

/* An LDAP userPassword value (RFC 2307 "{SCHEME}data", scheme names in any
 * case) against pw:
 *   {SHA} {SHA256} {SHA512} {MD5}            base64 of digest(pw)
 *   {SSHA} {SSHA256} {SSHA512} {SMD5}        base64 of digest(pw || salt) || salt
 *   {CRYPT}<crypt string>                    crypt_r: $6$, $5$, $2b$, $y$ ...
 *   {PBKDF2-SHA1|SHA256|SHA512}<iter>$<salt>$<key>  OpenLDAP's pw-pbkdf2
 *                                            (adapted base64: '.' for '+')
 * and a value without a {scheme} is the password in clear text. stored is
 * len bytes (an LDAP value, not NUL-terminated). False for an unknown
 * scheme, a malformed value or an empty one. */
bool moat_hash_verify_ldap(const char *stored, size_t len, const char *pw, size_t pwlen);

/* "md5" -> MOAT_HASH_MD5 ...; false when unknown. */
bool moat_hash_alg_parse(const char *name, moat_hash_alg *out);

/* A password_hash setting as EMQX 4 writes it for its backends:
 *   plain | md5 | sha | sha256 | sha512 | bcrypt   (no salt)
 *   argon2id                                       (PHC string: salt inside)
 *   salt,sha256                                    digest(salt || password)
 *   sha256,salt                                    digest(password || salt)
 *   pbkdf2,sha256,1000,20                          mac, iterations, key bytes
 * The salt itself comes with each stored password (a salt column); set
 * out->salt per check. On error false with what would be right in why. */
bool moat_hash_spec_parse(const char *spec, moat_hash_params *out, char *why, size_t n);

#endif
