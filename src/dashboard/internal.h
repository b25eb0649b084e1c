/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the dashboard: the request and response as the API sees them, the
 * administrators and their login tokens. */
#ifndef MOAT_DASHBOARD_INTERNAL_H
#define MOAT_DASHBOARD_INTERNAL_H

#include <stdbool.h>

#include "base/buf.h"
#include "broker/internal.h"
#include "dashboard/dashboard.h"
#include "http/http.h"

#define HTTP_MAX_HEAD (16 * 1024)
#define HTTP_MAX_BODY (1024 * 1024) /* certificate uploads are far smaller */
#define HTTP_IDLE_MS 60000          /* keep-alive connection without a request */
#define HTTP_REQUEST_MS 30000       /* a request (head and body) must arrive within */

typedef struct http_req {
    moat_broker *b;
    const moat_http_request *h;
    const uint8_t *body;
    size_t body_len;
    const char *peer; /* "ip:port" */
    bool tls;         /* https */
    const moat_listener *listener;
} http_req;

typedef struct http_resp {
    int status;
    const char *content_type; /* static */
    moat_buf body;
    char headers[512]; /* extra header lines, each ending in \r\n */
} http_resp;

/* api.c: answer one request. */
void api_handle(const http_req *rq, http_resp *rs);

/* Response helpers */
void resp_text(http_resp *rs, int status, const char *text);
void resp_json_error(http_resp *rs, int status, const char *code, const char *message);
struct cJSON;
/* Send j (consumed) as the JSON body. */
void resp_json(http_resp *rs, int status, struct cJSON *j);
/* The request path after its first prefix bytes, URL-decoded, into out. */
size_t path_rest(const http_req *rq, size_t prefix, char *out, size_t cap);
/* /api/v1/auth/users[/NAME] and /api/v1/auth/clients[/ID]: the built-in user
 * store (users_api.c); user is the administrator, for the log. */
void users_api(const http_req *rq, http_resp *rs, const char *user);
void resp_header(http_resp *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* auth.c */
typedef struct dash_auth dash_auth;
moat_err auth_init(moat_broker *b, dash_auth **out, char *err, size_t errlen);
void auth_free(dash_auth *a);
/* Check a name and password; on success a new token (65 bytes with NUL). Throttled per peer
 * address: MOAT_ELIMIT when too many failures. */
moat_err auth_login(dash_auth *a, const char *user, const char *password, const char *peer,
                    uint32_t ttl_s, char token[65]);
/* The user of a valid token, or NULL. */
bool auth_token_user(dash_auth *a, const char *token, size_t len, char *user, size_t ulen);
void auth_logout(dash_auth *a, const char *token, size_t len);
/* API keys: make one (id and secret, the secret never stored), list them (a cJSON array
 * without secrets), delete one (its name into name), check "id" and "secret" of a request
 * (throttled per address like logins: MOAT_ELIMIT; user becomes "api-key:ID"). */
#define KEY_ID_BUF 17
#define KEY_SECRET_BUF 49
struct cJSON;
moat_err auth_key_create(dash_auth *a, const char *name, char id[KEY_ID_BUF],
                         char secret[KEY_SECRET_BUF]);
struct cJSON *auth_keys_json(dash_auth *a);
moat_err auth_key_delete(dash_auth *a, const char *id, char *name, size_t nlen);
moat_err auth_key_check(dash_auth *a, const char *id, size_t idlen, const char *secret, size_t slen,
                        const char *peer, char *user, size_t ulen);

#endif
