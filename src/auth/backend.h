/* SPDX-License-Identifier: Apache-2.0 */
/* External authentication backends (PostgreSQL, MySQL/MariaDB, Redis, LDAP,
 * HTTP, JWT ...): the contract between one backend and the chain.
 *
 * A backend is written as plain blocking code. It never runs on an event
 * loop: the chain (auth.c) copies the client into a moat_auth_req, queues a
 * job on the bounded worker pool (pool.h) and answers MOAT_AUTH_PENDING; a
 * pool thread then calls ops->authenticate, which may block (connect, query,
 * read) but must give up by the deadline it is handed, and the answer goes
 * back to the connection's own loop. So a backend:
 *   - keeps its own connection pool (at most its pool_size connections, each
 *     used by one thread at a time, under its own mutex), reconnects when a
 *     connection breaks, and after a failed connect waits (backoff, doubling
 *     from 0.5 s to 30 s) before trying again — meanwhile every request fails
 *     at once with reply->error set, instead of hammering a dead server;
 *   - logs a change of state once (down with the cause, back up), never once
 *     per request;
 *   - turns every failure to reach an answer (connect refused, timeout, query
 *     error, malformed reply) into reply->error with a short why; the chain
 *     applies auth.on_error (deny: fail closed, the default; ignore: next
 *     source) — a backend never decides that on its own;
 *   - never logs a password, and wipes copies it made (OPENSSL_cleanse).
 * The moat_auth_req and everything in it stay valid and unchanged during the
 * call; ops->authenticate may run on several pool threads at once with the
 * same self. */
#ifndef MOAT_AUTH_BACKEND_H
#define MOAT_AUTH_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/err.h"

struct moat_conf;
struct moat_acl;

/* The client, copied for a pool thread. */
typedef struct moat_auth_req {
    const char *username;  /* NULL: the CONNECT had none */
    const char *client_id; /* never NULL */
    const char *password;  /* NULL: the CONNECT had none; may hold NUL bytes */
    size_t password_len;
    const char *addr;     /* the client's IP address as text ("10.0.0.7", "::1"), "" unknown */
    const char *cert_cn;  /* CN of a verified client certificate, or NULL */
    const char *cert_dn;  /* its subject DN (RFC 2253 form), or NULL */
    const char *listener; /* "ssl:external" */
} moat_auth_req;

typedef struct moat_auth_reply {
    moat_auth_result result; /* IGNORE (not mine), ALLOW or DENY; never PENDING */
    bool error;              /* no answer could be had: result is ignored, why says */
    bool superuser;          /* with ALLOW: past every ACL */
    /* With ALLOW, optionally: this client's own ACL rules (acl.h
     * moat_acl_new/moat_acl_add), from an acl_query, a JWT claim ...
     * Ownership passes to the caller. NULL: none from this source. */
    struct moat_acl *acl;
    char why[200]; /* with error or DENY: for the log (never the password) */
} moat_auth_reply;

typedef struct moat_backend_ops {
    const char *name; /* as written in auth.chain and log lines: "pgsql" */
    /* Are this backend's keys set (its server, url or secret)? An
     * unconfigured backend is left out of auth.chain = auto, and naming it
     * in an explicit chain is a start-up error. */
    bool (*configured)(const struct moat_conf *c);
    /* Build self from the configuration: read and check settings, files (a
     * JWT public key ...), templates. No network I/O here: connections are
     * made lazily on a pool thread. On error MOAT_EINVAL with "key: what is
     * wrong (what would be right)" in err. */
    moat_err (*create)(const struct moat_conf *c, void **self, char *err, size_t errlen);
    /* Pool thread: authenticate rq, giving up at deadline_ms (moat_now_ms()
     * clock, core/loop.h). reply is zeroed by the caller. */
    void (*authenticate)(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                         moat_auth_reply *reply);
    /* Optional (NULL: not supported): fetch only the client's own rules
     * again, no password involved, for acl_cache_ttl refreshes. reply->acl
     * as with authenticate (NULL: no rules now); reply->error on failure
     * (the client keeps its old rules). */
    void (*acl)(void *self, const moat_auth_req *rq, int64_t deadline_ms, moat_auth_reply *reply);
    /* Close idle connections: this self was replaced by a reload (SIGHUP)
     * and gets no new requests; requests in flight still complete. May be
     * NULL. */
    void (*retire)(void *self);
    void (*destroy)(void *self);
    /* Optional (NULL: every request goes to the pool). Called on an event
     * loop, so it must answer at once without blocking: false when this
     * backend certainly does not know the client, which the chain then
     * treats as IGNORE without queueing a request. For a backend with
     * local data (the user store: a lookup in a memory map). */
    bool (*knows)(void *self, const char *username, const char *client_id);
} moat_backend_ops;

/* The value of a placeholder for rq, as EMQX 4 names them: %u username,
 * %c client id, %a address, %C certificate CN, %d certificate DN, %P the
 * password (for HTTP and the like; never log it). NULL when the client has
 * none (no username, no certificate) or the letter is unknown. A backend
 * chooses how to insert the value safely (SQL parameters, one Redis
 * argument, LDAP DN escaping, JSON string); it never pastes it into query
 * text. */
const char *moat_auth_req_var(const moat_auth_req *rq, char letter, size_t *len);

/* Backoff after a failed connect: 500 ms doubling to 30 s. Each backend
 * keeps one; all calls under the backend's own mutex. */
typedef struct moat_backoff {
    int64_t until_ms;  /* no new connect before this (moat_now_ms clock) */
    uint32_t delay_ms; /* next delay; 0 = healthy */
    bool down;         /* the last attempt failed (for the state-change log) */
} moat_backoff;

/* May a connect be tried now? False inside a backoff window. */
bool moat_backoff_ready(const moat_backoff *b, int64_t now_ms);
/* A connect failed: widen the window. True when this is a change of state
 * (healthy -> down): log it then. */
bool moat_backoff_fail(moat_backoff *b, int64_t now_ms);
/* A connect or request worked. True when this is a change of state
 * (down -> healthy): log it then. */
bool moat_backoff_ok(moat_backoff *b);

/* Every backend, in the order auth.chain = auto asks them (backends.c).
 * NULL-terminated. */
extern const moat_backend_ops *const moat_backends[];
extern const moat_backend_ops moat_backend_pgsql, moat_backend_mysql, moat_backend_redis,
    moat_backend_ldap, moat_backend_http, moat_backend_jwt, moat_backend_store;

#endif
