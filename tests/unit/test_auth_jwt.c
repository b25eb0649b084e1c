/* SPDX-License-Identifier: Apache-2.0 */
/* JWS compact tokens (src/auth/jwt.c): base64url, the RFC 7515 appendix A.1
 * HS256 example, ES256 made here with OpenSSL, and every way a token must
 * fail: alg none, alg and key that do not fit, crit, a changed byte, exp,
 * nbf, malformed JSON. Then the EMQX 4.3 acl claim. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "auth/acl.h"
#include "auth/jwt.h"
#include "test.h"

/* RFC 7515 A.1: the JWK "k" and the token. */
static const char a1_key[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char a1_token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
    "fQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
#define A1_EXP 1300819380

static uint8_t key[64];
static moat_jwt_keys hs_keys;

static void b64url(const uint8_t *in, size_t n, char *out)
{
    moat_b64url_encode(in, n, out);
}

/* header.claims signed with HS256 and the A.1 key into out. */
static void hs256(const char *header, const char *claims, size_t claims_len, char *out)
{
    char h[512], c[2048], sig[100];
    uint8_t mac[32];
    unsigned ml = 0;
    b64url((const uint8_t *)header, strlen(header), h);
    b64url((const uint8_t *)claims, claims_len, c);
    sprintf(out, "%s.%s", h, c);
    HMAC(EVP_sha256(), key, sizeof key, (const uint8_t *)out, strlen(out), mac, &ml);
    b64url(mac, ml, sig);
    strcat(out, ".");
    strcat(out, sig);
}

static moat_err verify(const char *tok, const moat_jwt_keys *k, int64_t now, int64_t leeway,
                       char *why)
{
    cJSON *c = NULL;
    why[0] = '\0';
    moat_err e = moat_jwt_verify(tok, strlen(tok), k, now, leeway, &c, why, 200);
    CHECK((e == MOAT_OK) == (c != NULL));
    cJSON_Delete(c);
    return e;
}

static void test_b64url(void)
{
    uint8_t out[16];
    CHECK_EQ(moat_b64url_decode("", 0, out, sizeof out), 0);
    CHECK_EQ(moat_b64url_decode("Zg", 2, out, sizeof out), 1);
    CHECK_EQ(out[0], 'f');
    CHECK_EQ(moat_b64url_decode("Zm8", 3, out, sizeof out), 2);
    CHECK_MEM(out, "fo", 2);
    CHECK_EQ(moat_b64url_decode("Zm9v", 4, out, sizeof out), 3);
    CHECK_MEM(out, "foo", 3);
    CHECK_EQ(moat_b64url_decode("-_-_", 4, out, sizeof out), 3);
    CHECK_MEM(out, "\xfb\xff\xbf", 3);
    CHECK_EQ(moat_b64url_decode("Z", 1, out, sizeof out), -1);     /* impossible length */
    CHECK_EQ(moat_b64url_decode("Zm9v=", 5, out, sizeof out), -1); /* padding */
    CHECK_EQ(moat_b64url_decode("Zm+v", 4, out, sizeof out), -1);  /* base64, not base64url */
    CHECK_EQ(moat_b64url_decode("Zm9vZm9v", 8, out, 5), -1);       /* no room */
    CHECK_EQ(moat_b64url_decode("Zm9vZm9v", 8, out, 6), 6);
    char enc[8];
    CHECK_EQ(moat_b64url_encode((const uint8_t *)"f", 1, enc), 2);
    CHECK_STR(enc, "Zg");
    CHECK_EQ(moat_b64url_encode((const uint8_t *)"fo", 2, enc), 3);
    CHECK_STR(enc, "Zm8");
    CHECK_EQ(moat_b64url_encode((const uint8_t *)"\xfb\xff\xbf", 3, enc), 4);
    CHECK_STR(enc, "-_-_");
    CHECK_EQ(moat_b64url_encode((const uint8_t *)"", 0, enc), 0);
    CHECK_EQ(moat_b64url_decode(a1_key, strlen(a1_key), key, sizeof key), 64);
    CHECK_EQ(key[0], 0x03);
    CHECK_EQ(key[63], 0xa3);
}

static void test_shape(void)
{
    CHECK(moat_jwt_shape(a1_token, strlen(a1_token)));
    static const char *const no[] = {"password",  "a.b.c",    "eyJhbGci.xyz", "eyJ.a.b.c",
                                     "eyJ.a b.c", "eyJ.a=.c", "eyJ.a.b\n"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(!moat_jwt_shape(no[i], strlen(no[i])));
    CHECK(moat_jwt_shape("eyJ.a.b", 7));
    CHECK(!moat_jwt_shape("eyJ\0.a.b", 8)); /* a NUL in a password */
}

static void test_rfc7515_a1(void)
{
    char why[200];
    cJSON *c = NULL;
    CHECK_EQ(
        moat_jwt_verify(a1_token, strlen(a1_token), &hs_keys, A1_EXP - 100, 0, &c, why, sizeof why),
        MOAT_OK);
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(c, "iss");
    CHECK(cJSON_IsString(iss) && !strcmp(iss->valuestring, "joe"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "http://example.com/is_root")));
    cJSON_Delete(c);
    /* exp: expired at A1_EXP exactly; the leeway stretches it */
    CHECK_EQ(verify(a1_token, &hs_keys, A1_EXP, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "expired") != NULL);
    CHECK_EQ(verify(a1_token, &hs_keys, A1_EXP + 20, 30, why), MOAT_OK);
    CHECK_EQ(verify(a1_token, &hs_keys, A1_EXP + 31, 30, why), MOAT_EINVAL);
    /* one letter changed anywhere: refused */
    size_t n = strlen(a1_token);
    char t[sizeof a1_token];
    size_t spots[] = {5, 60, n - 1};
    for (size_t i = 0; i < 3; i++) {
        memcpy(t, a1_token, sizeof t);
        t[spots[i]] = t[spots[i]] == 'A' ? 'B' : 'A';
        CHECK_EQ(verify(t, &hs_keys, A1_EXP - 100, 0, why), MOAT_EINVAL);
    }
    /* a wrong secret */
    moat_jwt_keys other = {.secret = (const uint8_t *)"secret", .secret_len = 6};
    CHECK_EQ(verify(a1_token, &other, A1_EXP - 100, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "signature") != NULL);
    /* no secret at all */
    moat_jwt_keys none = {0};
    CHECK_EQ(verify(a1_token, &none, A1_EXP - 100, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "auth.jwt.secret") != NULL);
}

static void test_refused(void)
{
    char tok[4096], why[200];
    const char *claims = "{\"sub\":\"x\"}";
    /* alg none, even with an "empty" signature or a valid HMAC */
    CHECK_EQ(verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", &hs_keys, 0, 0, why), MOAT_EINVAL);
    hs256("{\"alg\":\"none\"}", claims, strlen(claims), tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "none") != NULL);
    hs256("{\"alg\":\"HS256\",\"crit\":[\"x\"],\"x\":1}", claims, strlen(claims), tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    hs256("{\"typ\":\"JWT\"}", claims, strlen(claims), tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    hs256("[\"HS256\"]", claims, strlen(claims), tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    /* claims: not an object, not JSON, JSON then a NUL and more */
    hs256("{\"alg\":\"HS256\"}", "[1]", 3, tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    hs256("{\"alg\":\"HS256\"}", "{\"a\":", 5, tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    hs256("{\"alg\":\"HS256\"}", "{}\0{}", 5, tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    hs256("{\"alg\":\"HS256\"}", "{}", 2, tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_OK);
    /* exp / nbf */
    const char *nbf = "{\"nbf\":1000}", *exp_s = "{\"exp\":\"2000\"}";
    hs256("{\"alg\":\"HS256\"}", nbf, strlen(nbf), tok);
    CHECK_EQ(verify(tok, &hs_keys, 900, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "nbf") != NULL);
    CHECK_EQ(verify(tok, &hs_keys, 900, 100, why), MOAT_OK);
    CHECK_EQ(verify(tok, &hs_keys, 1000, 0, why), MOAT_OK);
    hs256("{\"alg\":\"HS256\"}", exp_s, strlen(exp_s), tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    /* structure */
    CHECK_EQ(verify("eyJhbGciOiJIUzI1NiJ9.e30", &hs_keys, 0, 0, why), MOAT_EINVAL);
    CHECK_EQ(verify("eyJhbGciOiJIUzI1NiJ9.e30.a.b", &hs_keys, 0, 0, why), MOAT_EINVAL);
    char *big = malloc(MOAT_JWT_MAX_LEN + 2);
    memset(big, 'A', MOAT_JWT_MAX_LEN + 1);
    big[MOAT_JWT_MAX_LEN + 1] = '\0';
    memcpy(big, "eyJ.", 4);
    big[100] = '.';
    CHECK_EQ(verify(big, &hs_keys, 0, 0, why), MOAT_EINVAL);
    free(big);
}

/* header.claims signed with k (RSA, PKCS #1 v1.5) and md into out. */
static void rs(EVP_PKEY *k, const EVP_MD *md, const char *header, const char *claims, char *out)
{
    char h[256], c[256], sig[800];
    b64url((const uint8_t *)header, strlen(header), h);
    b64url((const uint8_t *)claims, strlen(claims), c);
    sprintf(out, "%s.%s", h, c);
    uint8_t raw[512];
    size_t rl = sizeof raw;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    CHECK(EVP_DigestSignInit(ctx, NULL, md, NULL, k) == 1);
    CHECK(EVP_DigestSign(ctx, raw, &rl, (const uint8_t *)out, strlen(out)) == 1);
    EVP_MD_CTX_free(ctx);
    b64url(raw, rl, sig);
    strcat(out, ".");
    strcat(out, sig);
}

static void test_rsa(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
    CHECK(k && other);
    char tok[2048], why[200];
    moat_jwt_keys keys = {.pub = k}, wrong = {.pub = other};
    rs(k, EVP_sha256(), "{\"alg\":\"RS256\"}", "{\"sub\":\"a\"}", tok);
    CHECK_EQ(verify(tok, &keys, 0, 0, why), MOAT_OK);
    CHECK_EQ(verify(tok, &wrong, 0, 0, why), MOAT_EINVAL);
    rs(k, EVP_sha384(), "{\"alg\":\"RS384\"}", "{}", tok);
    CHECK_EQ(verify(tok, &keys, 0, 0, why), MOAT_OK);
    rs(k, EVP_sha512(), "{\"alg\":\"RS512\"}", "{}", tok);
    CHECK_EQ(verify(tok, &keys, 0, 0, why), MOAT_OK);
    /* signed with SHA-256 but labelled RS512: refused */
    rs(k, EVP_sha256(), "{\"alg\":\"RS512\"}", "{}", tok);
    CHECK_EQ(verify(tok, &keys, 0, 0, why), MOAT_EINVAL);
    /* an RS256 token is not checked against the HMAC secret, nor ES256 against RSA */
    rs(k, EVP_sha256(), "{\"alg\":\"RS256\"}", "{}", tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    rs(k, EVP_sha256(), "{\"alg\":\"ES256\"}", "{}", tok);
    CHECK_EQ(verify(tok, &keys, 0, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "not an EC key") != NULL);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

/* ES256 made here: OpenSSL's DER signature turned into JWS r || s. */
static void es256(EVP_PKEY *k, const char *header, const char *claims, char *out)
{
    char h[256], c[256], sig[100];
    b64url((const uint8_t *)header, strlen(header), h);
    b64url((const uint8_t *)claims, strlen(claims), c);
    sprintf(out, "%s.%s", h, c);
    uint8_t der[80], raw[64] = {0};
    size_t dl = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) == 1);
    CHECK(EVP_DigestSign(ctx, der, &dl, (const uint8_t *)out, strlen(out)) == 1);
    EVP_MD_CTX_free(ctx);
    const uint8_t *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), raw + 32, 32);
    ECDSA_SIG_free(s);
    b64url(raw, 64, sig);
    strcat(out, ".");
    strcat(out, sig);
}

static void test_es256_and_confusion(void)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    CHECK(ec != NULL);
    char tok[1024], why[200];
    moat_jwt_keys k = {.pub = ec};
    es256(ec, "{\"alg\":\"ES256\"}", "{\"sub\":\"dev\"}", tok);
    CHECK_EQ(verify(tok, &k, 0, 0, why), MOAT_OK);
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    CHECK_EQ(verify(tok, &k, 0, 0, why), MOAT_EINVAL);
    /* the EC key does not make RS256 or HS256 tokens acceptable */
    es256(ec, "{\"alg\":\"RS256\"}", "{\"sub\":\"dev\"}", tok);
    CHECK_EQ(verify(tok, &k, 0, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "not an RSA key") != NULL);
    hs256("{\"alg\":\"HS256\"}", "{}", 2, tok);
    CHECK_EQ(verify(tok, &k, 0, 0, why), MOAT_EINVAL);
    CHECK(strstr(why, "auth.jwt.secret") != NULL);
    /* and the secret does not make an ES256 token acceptable */
    es256(ec, "{\"alg\":\"ES256\"}", "{}", tok);
    CHECK_EQ(verify(tok, &hs_keys, 0, 0, why), MOAT_EINVAL);
    EVP_PKEY_free(ec);
}

static moat_acl_verdict acl_q(const moat_acl *a, moat_acl_access acc, const char *t)
{
    moat_auth_client cl = {.username = "alice", .client_id = "c1"};
    return moat_acl_check(a, &cl, acc, t, strlen(t));
}

static void test_acl_claim(void)
{
    char why[200];
    moat_acl *a = NULL;
    cJSON *j = cJSON_Parse("{\"pub\":[\"t/1\"],\"sub\":[\"t/#\"],\"all\":[\"x/%u\"],\"x\":1}");
    CHECK_EQ(moat_jwt_acl(j, &a, why, sizeof why), MOAT_OK);
    cJSON_Delete(j);
    CHECK_EQ(acl_q(a, MOAT_ACL_PUBLISH, "t/1"), MOAT_ACL_ALLOW);
    CHECK_EQ(acl_q(a, MOAT_ACL_PUBLISH, "t/2"), MOAT_ACL_DENY);
    CHECK_EQ(acl_q(a, MOAT_ACL_SUBSCRIBE, "t/#"), MOAT_ACL_ALLOW);
    CHECK_EQ(acl_q(a, MOAT_ACL_SUBSCRIBE, "t/1"), MOAT_ACL_ALLOW);
    CHECK_EQ(acl_q(a, MOAT_ACL_PUBLISH, "x/alice"), MOAT_ACL_ALLOW);
    CHECK_EQ(acl_q(a, MOAT_ACL_SUBSCRIBE, "x/alice"), MOAT_ACL_ALLOW);
    CHECK_EQ(acl_q(a, MOAT_ACL_PUBLISH, "x/bob"), MOAT_ACL_DENY);
    CHECK_EQ(acl_q(a, MOAT_ACL_SUBSCRIBE, "#"), MOAT_ACL_DENY);
    CHECK_EQ(acl_q(a, MOAT_ACL_SUBSCRIBE, "$SYS/#"), MOAT_ACL_DENY);
    CHECK_EQ(acl_q(a, MOAT_ACL_PUBLISH, "$SYS/x"), MOAT_ACL_DENY);
    moat_acl_free(a);
    static const char *const bad[] = {"[]", "\"t/1\"", "{\"pub\":\"t/1\"}", "{\"sub\":[1]}",
                                      "{\"pub\":[\"a/#/b\"]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i]);
        a = NULL;
        CHECK_EQ(moat_jwt_acl(j, &a, why, sizeof why), MOAT_EINVAL);
        CHECK(a == NULL);
        cJSON_Delete(j);
    }
}

int main(void)
{
    TEST(test_b64url);
    hs_keys = (moat_jwt_keys){.secret = key, .secret_len = sizeof key};
    TEST(test_shape);
    TEST(test_rfc7515_a1);
    TEST(test_refused);
    TEST(test_es256_and_confusion);
    TEST(test_rsa);
    TEST(test_acl_claim);
    return test_summary("auth_jwt");
}
