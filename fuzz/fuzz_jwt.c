/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the JWT parser (src/auth/jwt.c). An input with a newline is
 * "<header JSON>\n<claims JSON>": it is signed here with HS256, so the
 * claims parser, exp/nbf and the acl claim run over arbitrary JSON behind a
 * valid signature. Any other input is a token as a client would send it,
 * checked against an HMAC secret and an EC P-256 key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/acl.h"
#include "auth/jwt.h"

static const uint8_t secret[] = "fuzz-secret";

static void check(const char *tok, size_t len, const moat_jwt_keys *k)
{
    char why[200];
    cJSON *claims = NULL;
    (void)moat_jwt_shape(tok, len);
    if (moat_jwt_verify(tok, len, k, 1700000000, 30, &claims, why, sizeof why) != MOAT_OK)
        return;
    moat_acl *acl = NULL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(claims, "acl");
    if (a && moat_jwt_acl(a, &acl, why, sizeof why) == MOAT_OK) {
        moat_auth_client cl = {.username = "u", .client_id = "c"};
        (void)moat_acl_check(acl, &cl, MOAT_ACL_PUBLISH, "t/1", 3);
        (void)moat_acl_check(acl, &cl, MOAT_ACL_SUBSCRIBE, "#", 1);
        moat_acl_free(acl);
    }
    cJSON_Delete(claims);
}

/* "<header>\n<claims>" signed with HS256 into a token. */
static char *sign(const uint8_t *data, size_t size, const uint8_t *nl, size_t *len)
{
    size_t hl = (size_t)(nl - data), cl = size - hl - 1;
    char *tok = malloc((size + 2) / 3 * 4 + 8 + 64);
    if (!tok)
        return NULL;
    size_t o = moat_b64url_encode(data, hl, tok);
    tok[o++] = '.';
    o += moat_b64url_encode(nl + 1, cl, tok + o);
    uint8_t mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), secret, sizeof secret - 1, (const uint8_t *)tok, o, mac, &ml);
    tok[o++] = '.';
    o += moat_b64url_encode(mac, ml, tok + o);
    *len = o;
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *ec;
    if (!ec)
        ec = EVP_EC_gen("P-256");
    if (size > MOAT_JWT_MAX_LEN)
        return 0;
    moat_jwt_keys k = {.secret = secret, .secret_len = sizeof secret - 1, .pub = ec};
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) {
        check((const char *)data, size, &k);
        return 0;
    }
    size_t len = 0;
    char *tok = sign(data, size, nl, &len);
    if (tok)
        check(tok, len, &k);
    free(tok);
    return 0;
}
