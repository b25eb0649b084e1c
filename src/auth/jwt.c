/* SPDX-License-Identifier: Apache-2.0 */
/* JWS compact tokens: see jwt.h. The order of checks is fixed: shape,
 * header, key for its alg, signature, and only then the claims, so nothing
 * an attacker wrote in the claims is looked at before the signature holds. */
#include "auth/jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/acl.h"

#define MAX_HEADER 1024 /* decoded header bytes */
#define MAX_SIG 1024    /* decoded signature bytes (RSA-8192 is 1024) */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int moat_b64url_decode(const char *s, size_t len, uint8_t *out, size_t outlen)
{
    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > outlen || len > INT32_MAX)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    return (int)o;
}

size_t moat_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        size_t k = n - i >= 3 ? 4 : n - i + 1; /* 1 byte: 2 letters, 2 bytes: 3 */
        for (size_t j = 0; j < k; j++)
            out[o++] = abc[(v >> (18 - 6 * j)) & 63];
    }
    out[o] = '\0';
    return o;
}

bool moat_jwt_shape(const char *s, size_t len)
{
    if (len < 5 || len > MOAT_JWT_MAX_LEN || strncmp(s, "eyJ", 3) != 0)
        return false;
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.')
            dots++;
        else if (b64url_value((unsigned char)s[i]) < 0)
            return false;
    }
    return dots == 2;
}

/* A base64url segment decoded and parsed as one JSON object. */
static cJSON *segment_json(const char *s, size_t len, size_t max, const char *what, char *why,
                           size_t n)
{
    uint8_t *buf = malloc(max + 1);
    int l = buf ? moat_b64url_decode(s, len, buf, max) : -1;
    cJSON *j = NULL;
    if (l >= 0) {
        buf[l] = '\0';
        const char *end = NULL;
        j = cJSON_ParseWithOpts((const char *)buf, &end, true);
        /* an embedded NUL would end the parse early: the whole must be read */
        if (j && (end != (const char *)buf + l || !cJSON_IsObject(j))) {
            cJSON_Delete(j);
            j = NULL;
        }
    }
    if (!j)
        snprintf(why, n, "%s is %s", what, l < 0 ? "not base64url" : "not a JSON object");
    free(buf);
    return j;
}

typedef enum alg_kind { ALG_HMAC, ALG_RSA, ALG_ES256 } alg_kind;

typedef struct alg_info {
    const char *name;
    alg_kind kind;
    const EVP_MD *(*md)(void);
} alg_info;

static const alg_info algs[] = {
    {"HS256", ALG_HMAC, EVP_sha256},  {"HS384", ALG_HMAC, EVP_sha384},
    {"HS512", ALG_HMAC, EVP_sha512},  {"RS256", ALG_RSA, EVP_sha256},
    {"RS384", ALG_RSA, EVP_sha384},   {"RS512", ALG_RSA, EVP_sha512},
    {"ES256", ALG_ES256, EVP_sha256},
};

/* The alg of header, if one we know whose key is there. */
static const alg_info *pick_alg(const cJSON *header, const moat_jwt_keys *k, char *why, size_t n)
{
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    if (!cJSON_IsString(alg)) {
        snprintf(why, n, "header has no alg");
        return NULL;
    }
    if (cJSON_GetObjectItemCaseSensitive(header, "crit")) {
        snprintf(why, n, "header has crit extensions (none are supported)");
        return NULL;
    }
    const alg_info *a = NULL;
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (!strcmp(alg->valuestring, algs[i].name))
            a = &algs[i];
    int type = k->pub ? EVP_PKEY_get_base_id(k->pub) : 0;
    if (!a)
        snprintf(why, n, "alg %.20s refused (expected HS256/384/512, RS256/384/512 or ES256)",
                 alg->valuestring);
    else if (a->kind == ALG_HMAC && !k->secret)
        snprintf(why, n, "alg %s but no auth.jwt.secret is set", a->name);
    else if (a->kind == ALG_RSA && type != EVP_PKEY_RSA)
        snprintf(why, n, "alg %s but auth.jwt.pubkey is not an RSA key", a->name);
    else if (a->kind == ALG_ES256 && type != EVP_PKEY_EC)
        snprintf(why, n, "alg %s but auth.jwt.pubkey is not an EC key", a->name);
    else
        return a;
    return NULL;
}

static bool verify_hmac(const alg_info *a, const moat_jwt_keys *k, const char *in, size_t inlen,
                        const uint8_t *sig, size_t siglen)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    if (!HMAC(a->md(), k->secret, (int)k->secret_len, (const unsigned char *)in, inlen, mac, &ml))
        return false;
    bool ok = ml == siglen && CRYPTO_memcmp(mac, sig, ml) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return ok;
}

/* JWS ES256 signature (r || s, 32 bytes each) as DER into *der. */
static int es256_der(const uint8_t *sig, size_t siglen, uint8_t **der)
{
    if (siglen != 64)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }
    *der = NULL;
    int l = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);
    return l;
}

static bool verify_pkey(const alg_info *a, EVP_PKEY *pub, const char *in, size_t inlen,
                        const uint8_t *sig, size_t siglen)
{
    uint8_t *der = NULL;
    if (a->kind == ALG_ES256) {
        int l = es256_der(sig, siglen, &der);
        if (l <= 0)
            return false;
        sig = der;
        siglen = (size_t)l;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, a->md(), NULL, pub) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)in, inlen) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/* exp and nbf: numbers when present; the token must be inside them. */
static bool check_times(const cJSON *claims, int64_t now, int64_t leeway, char *why, size_t n)
{
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    if ((exp && !cJSON_IsNumber(exp)) || (nbf && !cJSON_IsNumber(nbf))) {
        snprintf(why, n, "exp or nbf is not a number");
        return false;
    }
    if (exp && exp->valuedouble + (double)leeway <= (double)now) {
        snprintf(why, n, "token expired %.0f s ago", (double)now - exp->valuedouble);
        return false;
    }
    if (nbf && nbf->valuedouble - (double)leeway > (double)now) {
        snprintf(why, n, "token not valid for another %.0f s (nbf)",
                 nbf->valuedouble - (double)now);
        return false;
    }
    return true;
}

moat_err moat_jwt_verify(const char *token, size_t len, const moat_jwt_keys *keys, int64_t now_s,
                         int64_t leeway_s, cJSON **claims, char *why, size_t n)
{
    const char *d1 = len <= MOAT_JWT_MAX_LEN ? memchr(token, '.', len) : NULL;
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    const char *end = token + len;
    *claims = NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) {
        snprintf(why, n,
                 len > MOAT_JWT_MAX_LEN ? "token longer than %d bytes"
                                        : "not header.claims.signature",
                 MOAT_JWT_MAX_LEN);
        return MOAT_EINVAL;
    }
    cJSON *h = segment_json(token, (size_t)(d1 - token), MAX_HEADER, "header", why, n);
    const alg_info *a = h ? pick_alg(h, keys, why, n) : NULL;
    cJSON_Delete(h);
    if (!a)
        return MOAT_EINVAL;
    uint8_t sig[MAX_SIG];
    int sl = moat_b64url_decode(d2 + 1, (size_t)(end - d2 - 1), sig, sizeof sig);
    size_t signed_len = (size_t)(d2 - token);
    bool ok = sl > 0 &&
              (a->kind == ALG_HMAC ? verify_hmac(a, keys, token, signed_len, sig, (size_t)sl)
                                   : verify_pkey(a, keys->pub, token, signed_len, sig, (size_t)sl));
    if (!ok) {
        snprintf(why, n, "%s signature does not verify", a->name);
        return MOAT_EINVAL;
    }
    cJSON *c = segment_json(d1 + 1, (size_t)(d2 - d1 - 1), MOAT_JWT_MAX_LEN, "claims", why, n);
    if (!c || !check_times(c, now_s, leeway_s, why, n)) {
        cJSON_Delete(c);
        return MOAT_EINVAL;
    }
    *claims = c;
    return MOAT_OK;
}

/* ---- the acl claim ---- */

static moat_err acl_list(moat_acl *acl, const cJSON *list, unsigned access, char *why, size_t n)
{
    if (!cJSON_IsArray(list)) {
        snprintf(why, n, "acl claim: %s is not an array of topics", list->string);
        return MOAT_EINVAL;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, list)
    {
        char w[160];
        if (!cJSON_IsString(t)) {
            snprintf(why, n, "acl claim: %s holds something other than a topic", list->string);
            return MOAT_EINVAL;
        }
        if (moat_acl_add(acl, true, MOAT_ACL_WHO_ALL, NULL, access, t->valuestring, false, w,
                         sizeof w) != MOAT_OK) {
            snprintf(why, n, "acl claim: %s", w);
            return MOAT_EINVAL;
        }
    }
    return MOAT_OK;
}

static unsigned acl_key_access(const char *k)
{
    if (!strcmp(k, "pub") || !strcmp(k, "publish"))
        return MOAT_ACL_PUBLISH;
    if (!strcmp(k, "sub") || !strcmp(k, "subscribe"))
        return MOAT_ACL_SUBSCRIBE;
    if (!strcmp(k, "all") || !strcmp(k, "pubsub"))
        return MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE;
    return 0;
}

moat_err moat_jwt_acl(const cJSON *claim, moat_acl **out, char *why, size_t n)
{
    if (!cJSON_IsObject(claim)) {
        snprintf(why, n, "acl claim is not an object ({\"pub\": [...], \"sub\": [...]})");
        return MOAT_EINVAL;
    }
    moat_acl *acl = moat_acl_new();
    moat_err e = acl ? MOAT_OK : MOAT_ENOMEM;
    const cJSON *l;
    cJSON_ArrayForEach(l, claim)
    {
        unsigned access = acl_key_access(l->string);
        if (e == MOAT_OK && access) /* other keys: EMQX ignores them too */
            e = acl_list(acl, l, access, why, n);
    }
    /* EMQX 4.3: what the claim does not allow is denied. */
    static const char *const rest[] = {"#", "$SYS/#"};
    for (size_t i = 0; e == MOAT_OK && i < 2; i++)
        e = moat_acl_add(acl, false, MOAT_ACL_WHO_ALL, NULL, MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE,
                         rest[i], false, why, n);
    if (e != MOAT_OK) {
        if (e == MOAT_ENOMEM)
            snprintf(why, n, "out of memory");
        moat_acl_free(acl);
        return e;
    }
    *out = acl;
    return MOAT_OK;
}
