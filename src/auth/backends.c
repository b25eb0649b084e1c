/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of external backends (backend.h) and what they share:
 * placeholder values and the reconnect backoff. */
#include <string.h>

#include "auth/backend.h"

/* One line per backend, in the order auth.chain = auto asks them. */
const moat_backend_ops *const moat_backends[] = {
    /* (store): the local store first, then the servers */
    &moat_backend_store,
    /* (pgsql) */
    &moat_backend_pgsql,
    /* (mysql) */
    &moat_backend_mysql,
    /* (redis) */
    &moat_backend_redis,
    /* (ldap) */
    &moat_backend_ldap,
    /* (http) */
    &moat_backend_http,
    /* (jwt) */
    &moat_backend_jwt,
    /* (store) */
    /* (end) */
    NULL,
};

const char *moat_auth_req_var(const moat_auth_req *rq, char letter, size_t *len)
{
    const char *v = NULL;
    switch (letter) {
    case 'u':
        v = rq->username;
        break;
    case 'c':
        v = rq->client_id;
        break;
    case 'a':
        v = rq->addr && rq->addr[0] ? rq->addr : NULL;
        break;
    case 'C':
        v = rq->cert_cn;
        break;
    case 'd':
        v = rq->cert_dn;
        break;
    case 'P':
        if (rq->password && len)
            *len = rq->password_len;
        return rq->password;
    default:
        break;
    }
    if (v && len)
        *len = strlen(v);
    return v;
}

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

bool moat_backoff_ready(const moat_backoff *b, int64_t now_ms)
{
    return !b->delay_ms || now_ms >= b->until_ms;
}

bool moat_backoff_fail(moat_backoff *b, int64_t now_ms)
{
    bool change = !b->down;
    b->delay_ms = b->delay_ms ? b->delay_ms * 2 : BACKOFF_MIN_MS;
    if (b->delay_ms > BACKOFF_MAX_MS)
        b->delay_ms = BACKOFF_MAX_MS;
    b->until_ms = now_ms + b->delay_ms;
    b->down = true;
    return change;
}

bool moat_backoff_ok(moat_backoff *b)
{
    bool change = b->down;
    *b = (moat_backoff){0};
    return change;
}
