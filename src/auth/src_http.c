/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP backend (auth.http.*), as EMQX 4's emqx_auth_http: the client's
 * values go to a web service as form or JSON parameters (tmpl.h), and the
 * answer decides:
 *   2xx            allow; a body "ignore": next source; a JSON body
 *                  {"result": "allow"|"deny"|"ignore", "is_superuser": true}
 *                  (EMQX 5 style) is read;
 *   4xx            deny;
 *   anything else  an error (5xx, timeout, refused): auth.on_error.
 * super_req, when set, is asked after an allow: 2xx makes a superuser.
 * One libcurl easy handle per pool slot, so a kept-alive connection is
 * reused by the next request on that slot. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "auth/backend.h"
#include "auth/connpool.h"
#include "auth/tmpl.h"
#include "conf/conf.h"
#include "core/loop.h"

#define HTTP_VARS "ucaCdP"
#define HTTP_MAX_BODY 4096 /* of an answer; more is cut off */

/* auth_req or super_req. */
typedef struct http_req {
    char *url;
    bool get;
    moat_tmpl_enc enc;
    moat_tmpl params;
    struct curl_slist *headers;
} http_req;

typedef struct http_be {
    http_req auth, super;
    uint32_t timeout_ms, connect_timeout_ms;
    char *cacert, *cert, *key;
    bool verify;
    moat_connpool pool;
} http_be;

/* A pool slot's connection. */
typedef struct http_conn {
    CURL *h;
    char errbuf[CURL_ERROR_SIZE];
    moat_buf body; /* of the last answer */
} http_conn;

static bool http_configured(const moat_conf *c)
{
    return c->auth_http_auth_url[0] != '\0';
}

/* ---- connections ---- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    http_conn *c = arg;
    size_t n = size * nmemb, room = HTTP_MAX_BODY - c->body.len;
    if (moat_buf_append(&c->body, p, n < room ? n : room))
        return 0;
    return n;
}

static void http_close(void *self, void *conn)
{
    (void)self;
    http_conn *c = conn;
    curl_easy_cleanup(c->h);
    moat_buf_free(&c->body);
    free(c);
}

/* A handle with the settings every request shares. Connecting happens in
 * curl_easy_perform, so this cannot fail for the server's sake. */
static void *http_open(void *self, int64_t deadline_ms, char *why, size_t n)
{
    (void)deadline_ms;
    http_be *b = self;
    http_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->h = curl_easy_init())) {
        free(c);
        snprintf(why, n, "out of memory");
        return NULL;
    }
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, b->verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, b->verify ? 2L : 0L);
    if (b->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, b->cacert);
    if (b->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, b->cert);
    if (b->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, b->key);
    return c;
}

static const moat_connpool_ops http_pool_ops = {http_open, http_close};

/* ---- one request ---- */

/* Could the service not be reached at all (back off), or did this one
 * exchange fail (close the connection, try again next time)? */
static moat_conn_outcome classify(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        return MOAT_CONN_DOWN;
    default:
        return MOAT_CONN_BROKEN;
    }
}

static void wipe_free(moat_buf *m)
{
    if (m->data)
        OPENSSL_cleanse(m->data, m->cap);
    moat_buf_free(m);
}

/* The request for rq into url (GET: with the query) and body (POST). */
static bool build(const http_req *r, const moat_auth_req *rq, moat_buf *url, moat_buf *body)
{
    if (!r->get)
        return moat_buf_append(url, r->url, strlen(r->url) + 1) == MOAT_OK &&
               moat_tmpl_encode(&r->params, rq, r->enc, body) == MOAT_TMPL_OK;
    const char *sep = strchr(r->url, '?') ? "&" : "?";
    return moat_buf_append(url, r->url, strlen(r->url)) == MOAT_OK &&
           moat_buf_append(url, sep, 1) == MOAT_OK &&
           moat_tmpl_encode(&r->params, rq, MOAT_TMPL_FORM, url) == MOAT_TMPL_OK;
}

/* Send r for rq on c by deadline_ms. MOAT_CONN_OK with *status and the
 * answer in c->body, or the failure with why. */
static moat_conn_outcome send_req(const http_be *b, const http_req *r, http_conn *c,
                                  const moat_auth_req *rq, int64_t deadline_ms, long *status,
                                  char *why, size_t n)
{
    moat_buf url = MOAT_BUF_INIT, body = MOAT_BUF_INIT;
    if (!build(r, rq, &url, &body)) {
        wipe_free(&url);
        wipe_free(&body);
        snprintf(why, n, "out of memory");
        return MOAT_CONN_KEEP;
    }
    int64_t left = moat_connpool_left_ms(deadline_ms);
    CURL *h = c->h;
    curl_easy_setopt(h, CURLOPT_URL, (const char *)url.data);
    if (r->get) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body.data);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left < b->timeout_ms ? left : b->timeout_ms));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(left < b->connect_timeout_ms ? left : b->connect_timeout_ms));
    c->errbuf[0] = '\0';
    moat_buf_reset(&c->body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL); /* body is wiped below */
    wipe_free(&url);
    wipe_free(&body);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, n, "no answer within %lld ms", (long long)left);
        return MOAT_CONN_BROKEN;
    }
    if (rc != CURLE_OK) {
        snprintf(why, n, "%.180s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        return classify(rc);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return MOAT_CONN_OK;
}

/* A 2xx answer's body: "ignore", a JSON object, or anything (allow). */
static moat_auth_result read_body(const moat_buf *body, bool *superuser, char *why, size_t n)
{
    const char *s = (const char *)body->data;
    size_t len = body->len;
    while (len && strchr(" \t\r\n", s[0]))
        s++, len--;
    while (len && strchr(" \t\r\n", s[len - 1]))
        len--;
    if (len == 6 && !memcmp(s, "ignore", 6))
        return MOAT_AUTH_IGNORE;
    if (!len || s[0] != '{')
        return MOAT_AUTH_ALLOW;
    cJSON *j = cJSON_ParseWithLength(s, len);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(j, "is_superuser");
    moat_auth_result r = MOAT_AUTH_ALLOW;
    if (cJSON_IsString(res) && !strcmp(res->valuestring, "deny"))
        r = MOAT_AUTH_DENY;
    else if (cJSON_IsString(res) && !strcmp(res->valuestring, "ignore"))
        r = MOAT_AUTH_IGNORE;
    *superuser = cJSON_IsTrue(su) || (cJSON_IsString(su) && !strcmp(su->valuestring, "true"));
    if (r == MOAT_AUTH_DENY)
        snprintf(why, n, "the service answered deny");
    cJSON_Delete(j);
    return r;
}

/* The answer to auth_req as a result (error: reply->error). */
static void decide(long status, const moat_buf *body, moat_auth_reply *reply)
{
    if (status >= 200 && status < 300) {
        reply->result = read_body(body, &reply->superuser, reply->why, sizeof reply->why);
    } else if (status >= 400 && status < 500) {
        reply->result = MOAT_AUTH_DENY;
        snprintf(reply->why, sizeof reply->why, "the service answered HTTP %ld", status);
    } else {
        reply->error = true;
        snprintf(reply->why, sizeof reply->why, "the service answered HTTP %ld", status);
    }
}

static void http_authenticate(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                              moat_auth_reply *reply)
{
    http_be *b = self;
    http_conn *c;
    bool fresh;
    int slot = moat_connpool_get(&b->pool, deadline_ms, (void **)&c, &fresh, reply->why,
                                 sizeof reply->why);
    if (slot < 0) {
        reply->error = true;
        return;
    }
    long status = 0;
    moat_conn_outcome o =
        send_req(b, &b->auth, c, rq, deadline_ms, &status, reply->why, sizeof reply->why);
    if (o == MOAT_CONN_OK) {
        decide(status, &c->body, reply);
        if (reply->result == MOAT_AUTH_ALLOW && !reply->error && !reply->superuser &&
            b->super.url) {
            char why[200];
            moat_conn_outcome so =
                send_req(b, &b->super, c, rq, deadline_ms, &status, why, sizeof why);
            reply->superuser = so == MOAT_CONN_OK && status >= 200 && status < 300;
            o = so == MOAT_CONN_OK ? o : MOAT_CONN_BROKEN; /* super_req failing: no superuser */
        }
        if (c->body.data)
            OPENSSL_cleanse(c->body.data, c->body.cap);
    } else {
        reply->error = true;
    }
    moat_connpool_put(&b->pool, slot, o, reply->why);
}

/* ---- life cycle ---- */

static void req_free(http_req *r)
{
    free(r->url);
    moat_tmpl_free(&r->params);
    curl_slist_free_all(r->headers);
}

static void http_destroy(void *self)
{
    http_be *b = self;
    if (!b)
        return;
    moat_connpool_destroy(&b->pool);
    req_free(&b->auth);
    req_free(&b->super);
    free(b->cacert);
    free(b->cert);
    free(b->key);
    free(b);
}

static void http_retire(void *self)
{
    moat_connpool_close_idle(&((http_be *)self)->pool);
}

/* url must be http(s)://host...; its host:port (no credentials) to target. */
static moat_err check_url(const char *key, const char *url, char *target, size_t tn, char *err,
                          size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
              !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
              (!strcmp(scheme, "http") || !strcmp(scheme, "https")) &&
              !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
              !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (ok && target)
        snprintf(target, tn, "%s:%s", host, port);
    else if (!ok)
        snprintf(err, errlen,
                 "%s: '%s' is not an http or https URL (expected such as "
                 "http://127.0.0.1:8991/mqtt/auth)",
                 key, url);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok ? MOAT_OK : MOAT_EINVAL;
}

static moat_err req_init(http_req *r, const char *key, const char *url, int method, int ctype,
                         const char *params, char *target, size_t tn, char *err, size_t errlen)
{
    char why[300];
    moat_err e = check_url(key, url, target, tn, err, errlen);
    if (e)
        return e;
    if ((e = moat_tmpl_parse(params, ',', true, HTTP_VARS, &r->params, why, sizeof why))) {
        snprintf(err, errlen, "%s.params: %s", key, why);
        return e;
    }
    r->get = method == 1;
    r->enc = ctype == 1 ? MOAT_TMPL_JSON : MOAT_TMPL_FORM;
    const char *ct = r->enc == MOAT_TMPL_JSON ? "Content-Type: application/json"
                                              : "Content-Type: application/x-www-form-urlencoded";
    struct curl_slist *h = curl_slist_append(NULL, ct);
    struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL; /* no 100-continue */
    r->headers = h2 ? h2 : h;
    return (r->url = strdup(url)) && h2 ? MOAT_OK : MOAT_ENOMEM;
}

static moat_err dup_file(char **out, const char *key, const char *path, char *err, size_t errlen)
{
    if (!path[0])
        return MOAT_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open %s (expected a readable PEM file)", key, path);
        return MOAT_EINVAL;
    }
    fclose(f);
    return (*out = strdup(path)) ? MOAT_OK : MOAT_ENOMEM;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static moat_err http_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_start);
    http_be *b = calloc(1, sizeof *b);
    moat_err e = MOAT_ENOMEM;
    char target[300];
    if (!b)
        goto fail;
    if ((e = req_init(&b->auth, "auth.http.auth_req", c->auth_http_auth_url,
                      c->auth_http_auth_method, c->auth_http_auth_ctype, c->auth_http_auth_params,
                      target, sizeof target, err, errlen)))
        goto fail;
    if (c->auth_http_super_url[0] &&
        (e = req_init(&b->super, "auth.http.super_req", c->auth_http_super_url,
                      c->auth_http_super_method, c->auth_http_super_ctype,
                      c->auth_http_super_params, NULL, 0, err, errlen)))
        goto fail;
    if ((e = dup_file(&b->cacert, "auth.http.ssl.cacertfile", c->auth_http_cacertfile, err,
                      errlen)) ||
        (e = dup_file(&b->cert, "auth.http.ssl.certfile", c->auth_http_certfile, err, errlen)) ||
        (e = dup_file(&b->key, "auth.http.ssl.keyfile", c->auth_http_keyfile, err, errlen)))
        goto fail;
    b->verify = c->auth_http_verify;
    b->timeout_ms = c->auth_http_timeout_ms;
    b->connect_timeout_ms = c->auth_http_connect_timeout_ms;
    if ((e = moat_connpool_init(&b->pool, "auth.http", target, c->auth_http_pool_size,
                                &http_pool_ops, b)))
        goto fail;
    *self = b;
    return MOAT_OK;
fail:
    if (e == MOAT_ENOMEM)
        snprintf(err, errlen, "auth.http: out of memory");
    http_destroy(b);
    return e;
}

const moat_backend_ops moat_backend_http = {
    .name = "http",
    .configured = http_configured,
    .create = http_create,
    .authenticate = http_authenticate,
    .retire = http_retire,
    .destroy = http_destroy,
};
