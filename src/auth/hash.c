/* SPDX-License-Identifier: Apache-2.0 */
/* Password hashes: see hash.h. OpenSSL computes the digests, libcrypt
 * bcrypt, libargon2 argon2id; this file only arranges inputs and compares
 * outputs. */
#include "auth/hash.h"

#include <argon2.h>
#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define MAX_DIGEST 64 /* SHA-512 */
#define MAX_DKLEN 256 /* pbkdf2 output we accept */

static const EVP_MD *md_of(moat_hash_alg a)
{
    switch (a) {
    case MOAT_HASH_MD5:
        return EVP_md5();
    case MOAT_HASH_SHA:
        return EVP_sha1();
    case MOAT_HASH_SHA256:
        return EVP_sha256();
    case MOAT_HASH_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* digest(a || b) into out; its length into *n. */
static bool digest2(const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
                    uint8_t *out, unsigned *n)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, a, alen) &&
              EVP_DigestUpdate(ctx, b, blen) && EVP_DigestFinal_ex(ctx, out, n);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The raw digest / derived key of pw under p into out (at least MAX_DKLEN). */
static bool raw_hash(const moat_hash_params *p, const char *pw, size_t pwlen, uint8_t *out,
                     size_t *n)
{
    const char *salt = p->salt ? p->salt : "";
    size_t sl = strlen(salt);
    if (p->alg == MOAT_HASH_PBKDF2) {
        const EVP_MD *md = md_of(p->mac);
        size_t dk = p->dklen ? p->dklen : (md ? (size_t)EVP_MD_get_size(md) : 0);
        if (!md || !p->iterations || p->iterations > 10000000 || dk > MAX_DKLEN)
            return false;
        *n = dk;
        return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, (const unsigned char *)salt, (int)sl,
                                 (int)p->iterations, md, (int)dk, out) == 1;
    }
    const EVP_MD *md = md_of(p->alg);
    if (!md)
        return false;
    unsigned len = 0;
    bool ok = p->salt_pos == MOAT_SALT_PREFIX   ? digest2(md, salt, sl, pw, pwlen, out, &len)
              : p->salt_pos == MOAT_SALT_SUFFIX ? digest2(md, pw, pwlen, salt, sl, out, &len)
                                                : digest2(md, pw, pwlen, "", 0, out, &len);
    *n = len;
    return ok;
}

moat_err moat_hash_hex(const moat_hash_params *p, const char *pw, size_t pwlen, char *out,
                       size_t outlen)
{
    uint8_t raw[MAX_DKLEN];
    size_t n = 0;
    if (!raw_hash(p, pw, pwlen, raw, &n))
        return MOAT_EINVAL;
    if (outlen < 2 * n + 1)
        return MOAT_ELIMIT;
    to_hex(raw, n, out);
    OPENSSL_cleanse(raw, sizeof raw);
    return MOAT_OK;
}

/* crypt_r(pw, stored) == stored, for a stored crypt string that starts
 * with prefix. */
static bool verify_crypt(const char *pw, size_t pwlen, const char *stored, const char *prefix)
{
    if (strncmp(stored, prefix, strlen(prefix)) != 0 || memchr(pw, 0, pwlen))
        return false;
    char *copy = strndup(pw, pwlen);
    struct crypt_data *cd = calloc(1, sizeof *cd);
    bool ok = false;
    if (copy && cd) {
        const char *h = crypt_r(copy, stored, cd);
        size_t hl = h ? strlen(h) : 0;
        ok = h && h[0] == '$' && hl == strlen(stored) && CRYPTO_memcmp(h, stored, hl) == 0;
    }
    if (copy)
        OPENSSL_clear_free(copy, pwlen);
    if (cd)
        OPENSSL_clear_free(cd, sizeof *cd);
    return ok;
}

moat_err moat_hash_argon2id_new(const char *pw, size_t pwlen, char *out, size_t outlen)
{
    uint8_t salt[MOAT_ARGON2_SALT];
    if (!pwlen)
        return MOAT_EINVAL;
    if (outlen < argon2_encodedlen(MOAT_ARGON2_T, MOAT_ARGON2_M_KIB, MOAT_ARGON2_P,
                                   MOAT_ARGON2_SALT, MOAT_ARGON2_HASH, Argon2_id))
        return MOAT_ELIMIT;
    if (RAND_bytes(salt, sizeof salt) != 1)
        return MOAT_EIO;
    int rc = argon2id_hash_encoded(MOAT_ARGON2_T, MOAT_ARGON2_M_KIB, MOAT_ARGON2_P, pw, pwlen, salt,
                                   sizeof salt, MOAT_ARGON2_HASH, out, outlen);
    OPENSSL_cleanse(salt, sizeof salt);
    return rc == ARGON2_OK                        ? MOAT_OK
           : rc == ARGON2_MEMORY_ALLOCATION_ERROR ? MOAT_ENOMEM
                                                  : MOAT_EINVAL;
}

/* The m=, t=, p= of a PHC string, to refuse parameters that would make one
 * check cost a server's memory (libargon2 itself only checks its own far
 * wider limits). */
static bool argon2_params_sane(const char *stored)
{
    unsigned long m = 0, t = 0, p = 0;
    const char *q = strstr(stored, "$m=");
    if (strncmp(stored, "$argon2id$", 10) || !q ||
        sscanf(q, "$m=%lu,t=%lu,p=%lu$", &m, &t, &p) != 3)
        return false;
    return m >= 8 && m <= 1024ul * 1024 && t >= 1 && t <= 64 && p >= 1 && p <= 16;
}

bool moat_hash_verify_argon2id(const char *stored, const char *pw, size_t pwlen)
{
    return argon2_params_sane(stored) && argon2id_verify(stored, pw, pwlen) == ARGON2_OK;
}

bool moat_hash_verify(const moat_hash_params *p, const char *pw, size_t pwlen, const char *stored)
{
    size_t sl = strlen(stored);
    if (!sl)
        return false;
    if (p->alg == MOAT_HASH_PLAIN)
        return sl == pwlen && CRYPTO_memcmp(stored, pw, sl) == 0;
    if (p->alg == MOAT_HASH_BCRYPT)
        return verify_crypt(pw, pwlen, stored, "$2");
    if (p->alg == MOAT_HASH_ARGON2ID)
        return moat_hash_verify_argon2id(stored, pw, pwlen);
    char hex[2 * MAX_DKLEN + 1], low[2 * MAX_DKLEN + 1];
    if (moat_hash_hex(p, pw, pwlen, hex, sizeof hex) != MOAT_OK || sl != strlen(hex))
        return false;
    for (size_t i = 0; i <= sl; i++)
        low[i] = (char)tolower((unsigned char)stored[i]);
    return CRYPTO_memcmp(hex, low, sl) == 0;
}

/* Standard base64 (padding optional) into out; the decoded length, or -1. */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t outlen)
{
    char buf[400];
    if (len == 0 || len + 3 >= sizeof buf || (len + 3) / 4 * 3 > outlen)
        return -1;
    memcpy(buf, s, len);
    while (len % 4)
        buf[len++] = '=';
    buf[len] = '\0';
    int n = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)len);
    if (n < 0)
        return -1;
    for (size_t i = len; i > 0 && buf[i - 1] == '='; i--)
        n--; /* EVP_DecodeBlock counts padding as zero bytes */
    return n;
}

bool moat_hash_verify_mosquitto(const char *stored, const char *pw, size_t pwlen)
{
    uint8_t salt[128], want[128], got[MAX_DIGEST];
    unsigned long iter = 0;
    const char *p;
    if (!strncmp(stored, "$6$", 3)) {
        p = stored + 3;
    } else if (!strncmp(stored, "$7$", 3)) {
        char *end;
        iter = strtoul(stored + 3, &end, 10);
        if (end == stored + 3 || *end != '$' || iter == 0 || iter > 10000000)
            return false;
        p = end + 1;
    } else {
        return false;
    }
    const char *d = strchr(p, '$');
    if (!d)
        return false;
    int sl = b64_decode(p, (size_t)(d - p), salt, sizeof salt);
    int wl = b64_decode(d + 1, strlen(d + 1), want, sizeof want);
    if (sl <= 0 || wl != MAX_DIGEST)
        return false;
    unsigned n = 0;
    bool ok = iter ? PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, sl, (int)iter, EVP_sha512(),
                                       MAX_DIGEST, got) == 1
                   : digest2(EVP_sha512(), pw, pwlen, salt, (size_t)sl, got, &n);
    ok = ok && CRYPTO_memcmp(got, want, MAX_DIGEST) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* ---- LDAP userPassword schemes ---- */

typedef struct ldap_scheme {
    const char *name; /* without braces */
    moat_hash_alg alg;
    bool salted;
} ldap_scheme;

static const ldap_scheme ldap_schemes[] = {
    {"SHA", MOAT_HASH_SHA, false},       {"SSHA", MOAT_HASH_SHA, true},
    {"SHA256", MOAT_HASH_SHA256, false}, {"SSHA256", MOAT_HASH_SHA256, true},
    {"SHA512", MOAT_HASH_SHA512, false}, {"SSHA512", MOAT_HASH_SHA512, true},
    {"MD5", MOAT_HASH_MD5, false},       {"SMD5", MOAT_HASH_MD5, true},
};

/* base64(digest(pw || salt) || salt); no salt for the unsalted schemes. */
static bool verify_ldap_digest(const ldap_scheme *sc, const char *b64, size_t len, const char *pw,
                               size_t pwlen)
{
    const EVP_MD *md = md_of(sc->alg);
    uint8_t raw[300], got[MAX_DIGEST];
    int n = b64_decode(b64, len, raw, sizeof raw);
    int dl = EVP_MD_get_size(md);
    unsigned gl = 0;
    if (n < dl || (!sc->salted && n != dl) || (sc->salted && n == dl))
        return false;
    bool ok = digest2(md, pw, pwlen, raw + dl, (size_t)(n - dl), got, &gl) && (int)gl == dl &&
              CRYPTO_memcmp(got, raw, (size_t)dl) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* OpenLDAP pw-pbkdf2: <iterations>$<ab64 salt>$<ab64 key>, where adapted
 * base64 writes '.' for '+' and leaves out the padding. */
static bool verify_ldap_pbkdf2(const EVP_MD *md, const char *v, size_t len, const char *pw,
                               size_t pwlen)
{
    char buf[400];
    uint8_t salt[128], want[128], got[128];
    if (len >= sizeof buf)
        return false;
    for (size_t i = 0; i < len; i++)
        buf[i] = v[i] == '.' ? '+' : v[i];
    buf[len] = '\0';
    char *end;
    unsigned long iter = strtoul(buf, &end, 10);
    char *d2 = *end == '$' ? strchr(end + 1, '$') : NULL;
    if (end == buf || !d2 || iter == 0 || iter > 10000000)
        return false;
    int sl = b64_decode(end + 1, (size_t)(d2 - end - 1), salt, sizeof salt);
    int wl = b64_decode(d2 + 1, strlen(d2 + 1), want, sizeof want);
    if (sl <= 0 || wl <= 0)
        return false;
    bool ok = PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, sl, (int)iter, md, wl, got) == 1 &&
              CRYPTO_memcmp(got, want, (size_t)wl) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

static bool verify_ldap_crypt(const char *v, size_t len, const char *pw, size_t pwlen)
{
    char buf[256];
    if (len == 0 || len >= sizeof buf || memchr(v, 0, len))
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    /* "*" or "!" prefixes mark locked accounts; crypt_r's own failure
     * answer starts with '*' too. */
    return buf[0] != '*' && buf[0] != '!' && verify_crypt(pw, pwlen, buf, "");
}

bool moat_hash_verify_ldap(const char *stored, size_t len, const char *pw, size_t pwlen)
{
    if (!len)
        return false;
    const char *close = stored[0] == '{' ? memchr(stored, '}', len) : NULL;
    if (!close) /* clear text */
        return len == pwlen && CRYPTO_memcmp(stored, pw, len) == 0;
    size_t nl = (size_t)(close - stored - 1);
    const char *name = stored + 1, *v = close + 1;
    size_t vl = len - nl - 2;
#define IS(s) (nl == strlen(s) && !strncasecmp(name, s, nl))
    for (size_t i = 0; i < sizeof ldap_schemes / sizeof ldap_schemes[0]; i++)
        if (IS(ldap_schemes[i].name))
            return verify_ldap_digest(&ldap_schemes[i], v, vl, pw, pwlen);
    if (IS("CRYPT"))
        return verify_ldap_crypt(v, vl, pw, pwlen);
    if (IS("PBKDF2") || IS("PBKDF2-SHA1"))
        return verify_ldap_pbkdf2(EVP_sha1(), v, vl, pw, pwlen);
    if (IS("PBKDF2-SHA256"))
        return verify_ldap_pbkdf2(EVP_sha256(), v, vl, pw, pwlen);
    if (IS("PBKDF2-SHA512"))
        return verify_ldap_pbkdf2(EVP_sha512(), v, vl, pw, pwlen);
#undef IS
    return false;
}

bool moat_hash_alg_parse(const char *name, moat_hash_alg *out)
{
    static const char *const names[] = {"plain",  "md5",    "sha",    "sha256",
                                        "sha512", "pbkdf2", "bcrypt", "argon2id"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(name, names[i])) {
            *out = (moat_hash_alg)i;
            return true;
        }
    }
    return false;
}

/* The next comma-separated word of *p, trimmed, into w. */
static bool spec_word(const char **p, char *w, size_t n)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
    size_t len = strcspn(*p, ",");
    if (!len && !**p)
        return false;
    size_t k = len;
    while (k && ((*p)[k - 1] == ' ' || (*p)[k - 1] == '\t'))
        k--;
    if (k >= n)
        k = n - 1;
    memcpy(w, *p, k);
    w[k] = '\0';
    *p += len;
    if (**p == ',')
        (*p)++;
    return true;
}

bool moat_hash_spec_parse(const char *spec, moat_hash_params *out, char *why, size_t n)
{
    char w[4][32];
    size_t k = 0;
    const char *p = spec;
    while (k < 4 && spec_word(&p, w[k], sizeof w[k]))
        k++;
    memset(out, 0, sizeof *out);
    static const char *const expected =
        "expected plain, md5, sha, sha256, sha512, bcrypt or argon2id, optionally with a salt "
        "before or "
        "after (salt,sha256 or sha256,salt), or pbkdf2,<mac>,<iterations>,<key bytes>";
    if (*p || k == 0)
        goto bad;
    moat_hash_alg a, mac;
    if (k == 1 && moat_hash_alg_parse(w[0], &a) && a != MOAT_HASH_PBKDF2) {
        out->alg = a;
        return true;
    }
    if (k == 2) {
        bool pre = !strcmp(w[0], "salt");
        const char *alg = pre ? w[1] : w[0];
        if ((pre || !strcmp(w[1], "salt")) && moat_hash_alg_parse(alg, &a) && a >= MOAT_HASH_MD5 &&
            a <= MOAT_HASH_SHA512) {
            out->alg = a;
            out->salt_pos = pre ? MOAT_SALT_PREFIX : MOAT_SALT_SUFFIX;
            return true;
        }
    }
    if (k == 4 && !strcmp(w[0], "pbkdf2") && moat_hash_alg_parse(w[1], &mac) &&
        mac >= MOAT_HASH_MD5 && mac <= MOAT_HASH_SHA512) {
        char *end1, *end2;
        unsigned long it = strtoul(w[2], &end1, 10), dk = strtoul(w[3], &end2, 10);
        if (*end1 || *end2 || it < 1 || it > 10000000 || dk < 1 || dk > 1024) {
            snprintf(why, n, "'%s': pbkdf2 wants 1..10000000 iterations and 1..1024 key bytes",
                     spec);
            return false;
        }
        *out = (moat_hash_params){
            .alg = MOAT_HASH_PBKDF2, .mac = mac, .iterations = (uint32_t)it, .dklen = (uint32_t)dk};
        return true;
    }
bad:
    snprintf(why, n, "'%s' is not a password hash (%s)", spec, expected);
    return false;
}
