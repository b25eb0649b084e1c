/* SPDX-License-Identifier: Apache-2.0 */
/* The JWT source (EMQX 4 emqx_auth_jwt): the client sends a signed token as
 * its password (or username); a valid one lets it in, with the ACL its acl
 * claim carries. The token work itself is jwt.c; here are the settings, the
 * key file and the claims compared with the client.
 *
 * It needs no network, but runs on the worker pool like every backend (the
 * contract of backend.h): an RSA check costs tens of microseconds, which is
 * better off the event loops anyway. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/acl.h"
#include "auth/backend.h"
#include "auth/jwt.h"
#include "conf/conf.h"

#define FROM_PASSWORD 0 /* auth.jwt.from, as conf_table.c numbers it */
#define FROM_USERNAME 1

/* One auth.jwt.verify_claims.<claim>. */
typedef struct claim_check {
    const char *claim;
    char var;    /* 'u' / 'c': the client's username / client id; 0: value */
    char *value; /* the literal */
} claim_check;

#define N_CLAIMS 5

typedef struct jwt_src {
    uint8_t *secret;
    size_t secret_len;
    EVP_PKEY *pub;
    int from;
    claim_check claims[N_CLAIMS];
    size_t n_claims;
    char acl_claim[64];
    int64_t leeway_s;
} jwt_src;

static bool jwt_configured(const moat_conf *c)
{
    return c->jwt_secret[0] || c->jwt_pubkey[0];
}

static void jwt_destroy(void *self)
{
    jwt_src *j = self;
    if (!j)
        return;
    if (j->secret)
        OPENSSL_clear_free(j->secret, j->secret_len);
    EVP_PKEY_free(j->pub);
    for (size_t i = 0; i < j->n_claims; i++)
        free(j->claims[i].value);
    free(j);
}

/* A PEM public key, or the key of a PEM certificate. */
static EVP_PKEY *read_pubkey(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!k) {
        rewind(f);
        X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
        k = x ? X509_get_pubkey(x) : NULL;
        X509_free(x);
    }
    fclose(f);
    return k;
}

static moat_err load_pubkey(jwt_src *j, const char *path, char *err, size_t errlen)
{
    if (!(j->pub = read_pubkey(path))) {
        snprintf(err, errlen,
                 "auth.jwt.pubkey: %s: cannot read a public key (expected a PEM file with "
                 "-----BEGIN PUBLIC KEY----- or a certificate)",
                 path);
        return MOAT_EINVAL;
    }
    int type = EVP_PKEY_get_base_id(j->pub);
    char group[64] = "";
    size_t gl = 0;
    if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(j->pub) >= 2048)
        return MOAT_OK;
    if (type == EVP_PKEY_EC &&
        EVP_PKEY_get_utf8_string_param(j->pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &gl) &&
        !strcmp(group, "prime256v1"))
        return MOAT_OK;
    snprintf(err, errlen,
             "auth.jwt.pubkey: %s: %s key%s%s (expected an RSA key of 2048 bits or more, for "
             "RS256/384/512, or an EC P-256 key, for ES256)",
             path,
             type == EVP_PKEY_RSA  ? "a short RSA"
             : type == EVP_PKEY_EC ? "an EC"
                                   : EVP_PKEY_get0_type_name(j->pub),
             group[0] ? " on curve " : "", group);
    return MOAT_EINVAL;
}

static moat_err add_claim(jwt_src *j, const char *claim, const char *v)
{
    if (!v[0])
        return MOAT_OK;
    claim_check *cc = &j->claims[j->n_claims++];
    cc->claim = claim;
    if (!strcmp(v, "%u") || !strcmp(v, "%c"))
        cc->var = v[1];
    else if (!(cc->value = strdup(v)))
        return MOAT_ENOMEM;
    return MOAT_OK;
}

static moat_err load_claims(jwt_src *j, const moat_conf *c, char *err, size_t errlen)
{
    moat_err e = MOAT_OK;
    if (!c->jwt_verify_claims)
        return MOAT_OK;
    const char *names[N_CLAIMS] = {"username", "clientid", "sub", "iss", "aud"};
    const char *vals[N_CLAIMS] = {c->jwt_claim_username, c->jwt_claim_clientid, c->jwt_claim_sub,
                                  c->jwt_claim_iss, c->jwt_claim_aud};
    for (size_t i = 0; e == MOAT_OK && i < N_CLAIMS; i++)
        e = add_claim(j, names[i], vals[i]);
    if (e == MOAT_OK && !j->n_claims) {
        snprintf(err, errlen,
                 "auth.jwt.verify_claims = true, but no claim to check is set (set "
                 "auth.jwt.verify_claims.username = %%u, or another of its claims)");
        return MOAT_EINVAL;
    }
    return e;
}

static moat_err jwt_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    jwt_src *j = calloc(1, sizeof *j);
    moat_err e = MOAT_ENOMEM;
    if (!j)
        goto fail;
    if (strstr(c->jwt_secret, "-----BEGIN")) {
        snprintf(err, errlen,
                 "auth.jwt.secret: holds a PEM key (the HMAC secret is a shared string; a public "
                 "key goes in auth.jwt.pubkey as a file name)");
        e = MOAT_EINVAL;
        goto fail;
    }
    if (c->jwt_secret[0]) {
        j->secret_len = strlen(c->jwt_secret);
        if (!(j->secret = OPENSSL_memdup(c->jwt_secret, j->secret_len)))
            goto fail;
    }
    if (c->jwt_pubkey[0] && (e = load_pubkey(j, c->jwt_pubkey, err, errlen)) != MOAT_OK)
        goto fail;
    if ((e = load_claims(j, c, err, errlen)) != MOAT_OK)
        goto fail;
    j->from = c->jwt_from;
    snprintf(j->acl_claim, sizeof j->acl_claim, "%s", c->jwt_acl_claim);
    j->leeway_s = c->jwt_leeway_ms / 1000;
    *self = j;
    return MOAT_OK;
fail:
    if (e == MOAT_ENOMEM)
        snprintf(err, errlen, "auth.jwt: out of memory");
    jwt_destroy(j);
    return e;
}

/* Does claim hold want (a string, or an array with it, for aud)? */
static bool claim_has(const cJSON *claim, const char *want)
{
    if (cJSON_IsString(claim))
        return !strcmp(claim->valuestring, want);
    const cJSON *v;
    bool found = false;
    if (cJSON_IsArray(claim)) {
        cJSON_ArrayForEach(v, claim)
        {
            found = found || (cJSON_IsString(v) && !strcmp(v->valuestring, want));
        }
    }
    return found;
}

static bool claims_match(const jwt_src *j, const cJSON *claims, const moat_auth_req *rq,
                         moat_auth_reply *reply)
{
    for (size_t i = 0; i < j->n_claims; i++) {
        const claim_check *cc = &j->claims[i];
        const char *want = cc->var ? moat_auth_req_var(rq, cc->var, NULL) : cc->value;
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(claims, cc->claim);
        if (!want || !got || !claim_has(got, want)) {
            snprintf(reply->why, sizeof reply->why, "claim %s %s", cc->claim,
                     got ? "does not match" : "missing");
            return false;
        }
    }
    return true;
}

static void jwt_authenticate(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                             moat_auth_reply *reply)
{
    (void)deadline_ms;
    const jwt_src *j = self;
    const char *tok = j->from == FROM_USERNAME ? rq->username : rq->password;
    size_t len = j->from == FROM_USERNAME ? (tok ? strlen(tok) : 0) : rq->password_len;
    reply->result = MOAT_AUTH_IGNORE;
    if (!tok || !moat_jwt_shape(tok, len))
        return; /* not a token: the next source's business */
    moat_jwt_keys keys = {.secret = j->secret, .secret_len = j->secret_len, .pub = j->pub};
    cJSON *claims = NULL;
    reply->result = MOAT_AUTH_DENY;
    if (moat_jwt_verify(tok, len, &keys, (int64_t)time(NULL), j->leeway_s, &claims, reply->why,
                        sizeof reply->why) != MOAT_OK)
        return;
    const cJSON *acl =
        j->acl_claim[0] ? cJSON_GetObjectItemCaseSensitive(claims, j->acl_claim) : NULL;
    if (claims_match(j, claims, rq, reply) &&
        (!acl || moat_jwt_acl(acl, &reply->acl, reply->why, sizeof reply->why) == MOAT_OK))
        reply->result = MOAT_AUTH_ALLOW;
    cJSON_Delete(claims);
}

const moat_backend_ops moat_backend_jwt = {
    .name = "jwt",
    .configured = jwt_configured,
    .create = jwt_create,
    .authenticate = jwt_authenticate,
    .retire = NULL,
    .destroy = jwt_destroy,
};
