/* SPDX-License-Identifier: Apache-2.0 */
/* The "store" source: the built-in user store (userdb.h), plus the
 * configuration's auth.user.N / auth.client.N entries when they are argon2id
 * hashes (auth.mnesia.password_hash = argon2id). Same semantics as EMQX 4's
 * emqx_auth_mnesia: the client id is looked up first, then the username;
 * within a kind the configuration's entry comes before the store's.
 *
 * It is a backend (backend.h) rather than a local source because an
 * argon2id check costs milliseconds and megabytes: it runs on the worker
 * pool. knows() keeps the pool out of it for clients the store has never
 * heard of, with a lookup in the memory map on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/backend.h"
#include "auth/hash.h"
#include "auth/userdb.h"
#include "conf/conf.h"

typedef struct store_src {
    moat_userdb *db;                  /* NULL with auth.store.enable = off */
    const moat_conf_cred *conf_users; /* argon2id entries of the configuration, or NULL */
    const moat_conf_cred *conf_clients;
    moat_conf_cred *copy; /* users then clients: the configuration may be replaced */
} store_src;

static bool conf_has_argon2(const moat_conf *c)
{
    if (c->auth_password_hash != MOAT_HASH_ARGON2ID)
        return false;
    for (size_t i = 0; i < MOAT_AUTH_MAX_ENTRIES; i++)
        if (c->auth_users[i].id[0] || c->auth_clients[i].id[0])
            return true;
    return false;
}

static bool store_configured(const moat_conf *c)
{
    return c->auth_store_enable || conf_has_argon2(c);
}

static moat_err store_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    store_src *s = calloc(1, sizeof *s);
    if (!s)
        return MOAT_ENOMEM;
    if (conf_has_argon2(c)) {
        s->copy = malloc(2 * sizeof c->auth_users);
        if (!s->copy) {
            free(s);
            return MOAT_ENOMEM;
        }
        memcpy(s->copy, c->auth_users, sizeof c->auth_users);
        memcpy(s->copy + MOAT_AUTH_MAX_ENTRIES, c->auth_clients, sizeof c->auth_clients);
        s->conf_users = s->copy;
        s->conf_clients = s->copy + MOAT_AUTH_MAX_ENTRIES;
    }
    moat_err e =
        c->auth_store_enable ? moat_userdb_open(c->data_dir, &s->db, err, errlen) : MOAT_OK;
    if (e) {
        if (s->copy)
            OPENSSL_clear_free(s->copy, 2 * sizeof c->auth_users);
        free(s);
        return e;
    }
    *self = s;
    return MOAT_OK;
}

static const moat_conf_cred *conf_find(const moat_conf_cred *v, const char *id)
{
    for (size_t i = 0; v && id && i < MOAT_AUTH_MAX_ENTRIES; i++)
        if (v[i].id[0] && !strcmp(v[i].id, id))
            return &v[i];
    return NULL;
}

/* The entry for id of kind k, from the configuration or the store, into e.
 * False when neither has it. */
static bool lookup(const store_src *s, moat_udb_kind k, const char *id, moat_udb_entry *e)
{
    const moat_conf_cred *c = conf_find(k == MOAT_UDB_USER ? s->conf_users : s->conf_clients, id);
    if (c) {
        snprintf(e->hash, sizeof e->hash, "%s", c->password);
        e->superuser = c->superuser;
        return true;
    }
    return id && s->db && moat_userdb_get(s->db, k, id, e) == MOAT_OK;
}

static bool store_knows(void *self, const char *username, const char *client_id)
{
    moat_udb_entry e;
    bool yes =
        lookup(self, MOAT_UDB_CLIENT, client_id, &e) || lookup(self, MOAT_UDB_USER, username, &e);
    OPENSSL_cleanse(&e, sizeof e);
    return yes;
}

static void store_authenticate(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                               moat_auth_reply *reply)
{
    (void)deadline_ms; /* one local check: bounded by the hash parameters */
    moat_udb_entry e;
    const char *kind = "client id";
    bool found = lookup(self, MOAT_UDB_CLIENT, rq->client_id, &e);
    if (!found) {
        kind = "username";
        found = lookup(self, MOAT_UDB_USER, rq->username, &e);
    }
    if (!found) {
        reply->result = MOAT_AUTH_IGNORE; /* removed since knows() said yes */
    } else if (rq->password && moat_hash_verify_argon2id(e.hash, rq->password, rq->password_len)) {
        reply->result = MOAT_AUTH_ALLOW;
        reply->superuser = e.superuser;
    } else {
        reply->result = MOAT_AUTH_DENY;
        snprintf(reply->why, sizeof reply->why, "%s: %s", kind,
                 rq->password ? "wrong password" : "no password");
    }
    OPENSSL_cleanse(&e, sizeof e);
}

static void store_destroy(void *self)
{
    store_src *s = self;
    if (!s)
        return;
    moat_userdb_close(s->db);
    if (s->copy)
        OPENSSL_clear_free(s->copy, 2 * MOAT_AUTH_MAX_ENTRIES * sizeof *s->copy);
    free(s);
}

const moat_backend_ops moat_backend_store = {
    .name = "store",
    .configured = store_configured,
    .create = store_create,
    .authenticate = store_authenticate,
    .destroy = store_destroy,
    .knows = store_knows,
};
