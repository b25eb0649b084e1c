/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in user store (auth/userdb.h) through the API:
 *   GET    /api/v1/auth/users          {"data": [{"username", "is_superuser"}]}
 *   POST   /api/v1/auth/users          {"username", "password", "is_superuser"?}
 *   GET    /api/v1/auth/users/NAME
 *   PUT    /api/v1/auth/users/NAME     {"password"?, "is_superuser"?}
 *   DELETE /api/v1/auth/users/NAME
 * and the same under /api/v1/auth/clients with "clientid". The store file
 * is opened per request (a reference to the handle the auth chain holds,
 * when it has one); a change counts for the next CONNECT. Hashing a new
 * password takes tens of milliseconds on this worker; such writes are rare
 * administrator actions. Passwords and hashes are never logged nor
 * returned. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth/userdb.h"
#include "base/log.h"
#include "dashboard/internal.h"

typedef struct kind_info {
    moat_udb_kind kind;
    const char *field; /* "username" / "clientid" */
    const char *noun;  /* "user" / "client" */
    const char *path;  /* the collection */
    size_t prefix;     /* its length */
} kind_info;

static const kind_info kinds[] = {
    {MOAT_UDB_USER, "username", "user", "/api/v1/auth/users", 18},
    {MOAT_UDB_CLIENT, "clientid", "client", "/api/v1/auth/clients", 20},
};

static cJSON *entry_json(const kind_info *k, const char *id, bool superuser)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, k->field, id);
    cJSON_AddBoolToObject(o, "is_superuser", superuser);
    return o;
}

typedef struct lister {
    const kind_info *k;
    cJSON *arr;
} lister;

static bool list_one(void *ctx, const char *id, bool superuser)
{
    lister *l = ctx;
    cJSON_AddItemToArray(l->arr, entry_json(l->k, id, superuser));
    return true;
}

static void store_error(http_resp *rs, moat_err e, const kind_info *k)
{
    char msg[120];
    if (e == MOAT_ENOTFOUND) {
        snprintf(msg, sizeof msg, "no such %s in the built-in store", k->noun);
        resp_json_error(rs, 404, "not_found", msg);
    } else if (e == MOAT_EEXIST) {
        snprintf(msg, sizeof msg, "that %s is already in the store (PUT changes it)", k->noun);
        resp_json_error(rs, 409, "conflict", msg);
    } else {
        resp_json_error(rs, 500, "internal_error", "the user store failed (see the broker log)");
    }
}

/* The body's "password" (a non-empty string) and "is_superuser" (a
 * boolean), each optional here; false with a 400 sent when either has the
 * wrong type. */
static bool body_fields(const cJSON *j, http_resp *rs, const char **pw, int *superuser)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "is_superuser");
    if ((p && (!cJSON_IsString(p) || !p->valuestring[0])) || (s && !cJSON_IsBool(s))) {
        resp_json_error(rs, 400, "bad_request",
                        "\"password\" must be a non-empty string and \"is_superuser\" true or "
                        "false");
        return false;
    }
    *pw = p ? p->valuestring : NULL;
    *superuser = s ? cJSON_IsTrue(s) : -1;
    return true;
}

static void create(const http_req *rq, http_resp *rs, moat_userdb *db, const kind_info *k,
                   const char *admin)
{
    cJSON *j = cJSON_ParseWithLength((const char *)rq->body, rq->body_len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, k->field);
    const char *pw = NULL;
    int super = -1;
    if (!cJSON_IsObject(j) || !cJSON_IsString(id) || !moat_udb_id_valid(id->valuestring)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "expected a JSON body {\"%s\": \"...\" (1 to %d bytes), \"password\": \"...\", "
                 "\"is_superuser\": false}",
                 k->field, MOAT_UDB_ID_MAX);
        resp_json_error(rs, 400, "bad_request", msg);
    } else if (!body_fields(j, rs, &pw, &super)) {
        /* 400 sent */
    } else if (!pw) {
        resp_json_error(rs, 400, "bad_request", "\"password\" is required");
    } else {
        moat_err e = moat_userdb_add(db, k->kind, id->valuestring, pw, strlen(pw), super == 1);
        if (e) {
            store_error(rs, e, k);
        } else {
            LOG_NOTICE("dashboard: %s %s added to the user store by %s from %s", k->noun,
                       id->valuestring, admin, rq->peer);
            resp_json(rs, 201, entry_json(k, id->valuestring, super == 1));
        }
    }
    cJSON_Delete(j);
}

static void update(const http_req *rq, http_resp *rs, moat_userdb *db, const kind_info *k,
                   const char *id, const char *admin)
{
    cJSON *j = cJSON_ParseWithLength((const char *)rq->body, rq->body_len);
    const char *pw = NULL;
    int super = -1;
    if (!cJSON_IsObject(j)) {
        resp_json_error(rs, 400, "bad_request",
                        "expected a JSON body {\"password\": \"...\", \"is_superuser\": false} "
                        "(either or both)");
    } else if (!body_fields(j, rs, &pw, &super)) {
        /* 400 sent */
    } else if (!pw && super < 0) {
        resp_json_error(rs, 400, "bad_request",
                        "nothing to change: give \"password\" and/or \"is_superuser\"");
    } else {
        moat_err e = moat_userdb_update(db, k->kind, id, pw, pw ? strlen(pw) : 0, super);
        moat_udb_entry en;
        if (!e)
            e = moat_userdb_get(db, k->kind, id, &en);
        if (e) {
            store_error(rs, e, k);
        } else {
            LOG_NOTICE("dashboard: %s %s changed in the user store (%s) by %s from %s", k->noun, id,
                       pw ? "password" : "superuser flag", admin, rq->peer);
            resp_json(rs, 200, entry_json(k, id, en.superuser));
        }
    }
    cJSON_Delete(j);
}

static void one(const http_req *rq, http_resp *rs, moat_userdb *db, const kind_info *k,
                const char *admin)
{
    char id[MOAT_UDB_ID_MAX + 2];
    path_rest(rq, k->prefix + 1, id, sizeof id);
    const moat_http_str m = rq->h->method;
    if (moat_http_str_eq(m, "GET") || moat_http_str_eq(m, "HEAD")) {
        moat_udb_entry en;
        moat_err e = moat_userdb_get(db, k->kind, id, &en);
        if (e)
            store_error(rs, e, k);
        else
            resp_json(rs, 200, entry_json(k, id, en.superuser));
    } else if (moat_http_str_eq(m, "PUT")) {
        update(rq, rs, db, k, id, admin);
    } else if (moat_http_str_eq(m, "DELETE")) {
        moat_err e = moat_userdb_del(db, k->kind, id);
        if (e) {
            store_error(rs, e, k);
            return;
        }
        LOG_NOTICE("dashboard: %s %s deleted from the user store by %s from %s", k->noun, id, admin,
                   rq->peer);
        rs->status = 204;
    } else {
        resp_header(rs, "Allow: GET, PUT, DELETE\r\n");
        resp_json_error(rs, 405, "method_not_allowed", "use GET, PUT or DELETE");
    }
}

static void collection(const http_req *rq, http_resp *rs, moat_userdb *db, const kind_info *k,
                       const char *admin)
{
    if (moat_http_str_eq(rq->h->method, "POST")) {
        create(rq, rs, db, k, admin);
    } else if (moat_http_str_eq(rq->h->method, "GET") || moat_http_str_eq(rq->h->method, "HEAD")) {
        lister l = {k, cJSON_CreateArray()};
        moat_err e = moat_userdb_list(db, k->kind, list_one, &l);
        if (e) {
            cJSON_Delete(l.arr);
            store_error(rs, e, k);
            return;
        }
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "data", l.arr);
        resp_json(rs, 200, r);
    } else {
        resp_header(rs, "Allow: GET, POST\r\n");
        resp_json_error(rs, 405, "method_not_allowed", "use GET or POST");
    }
}

void users_api(const http_req *rq, http_resp *rs, const char *admin)
{
    const kind_info *k = NULL;
    const char *p = rq->h->path.p;
    size_t n = rq->h->path.len;
    bool sub = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !k; i++) {
        const kind_info *c = &kinds[i];
        if (n < c->prefix || memcmp(p, c->path, c->prefix))
            continue;
        if (n == c->prefix || (n > c->prefix + 1 && p[c->prefix] == '/'))
            k = c, sub = n > c->prefix;
    }
    if (!k) {
        resp_json_error(rs, 404, "not_found",
                        "no such API route (expected /api/v1/auth/users or /api/v1/auth/clients)");
        return;
    }
    char err[300];
    moat_userdb *db;
    if (moat_userdb_open(CONF(rq->b)->data_dir, &db, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("dashboard: %s", err);
        resp_json_error(rs, 500, "internal_error", "cannot open the user store (see the log)");
        return;
    }
    if (sub)
        one(rq, rs, db, k, admin);
    else
        collection(rq, rs, db, k, admin);
    moat_userdb_close(db);
}
