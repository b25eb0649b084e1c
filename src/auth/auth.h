/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication and authorization.
 *
 * Authentication is an ordered chain of sources (auth.chain). Each source
 * looks at the client and answers ALLOW (mine, the password is right),
 * DENY (mine, the password is wrong or the client is banned) or IGNORE
 * (not mine: ask the next one). The first ALLOW or DENY decides; when every
 * source ignores the client, the caller applies allow_anonymous. ALLOW may
 * carry "superuser", which lets the client past every ACL.
 *
 * Authorization is an ACL (acl.h) consulted on PUBLISH and SUBSCRIBE.
 *
 * Asynchronous sources. The local sources (built-in users and client ids,
 * a password file) answer at once. An external backend (backend.h:
 * PostgreSQL, MySQL, Redis, LDAP, HTTP, JWT) must never block a worker's
 * loop: moat_auth_check copies the client, queues the request on the
 * worker pool (pool.h) and answers MOAT_AUTH_PENDING. When the backend has
 * answered (or failed, or timed out), done(arg, answer) is called once, on
 * a pool thread. The caller (the broker's CONNECT handler) keeps the
 * connection in an "authenticating" state meanwhile, reading no further
 * packet from it, posts the answer to the connection's own loop and there
 * calls moat_auth_continue, which either decides or goes on along the chain
 * (maybe PENDING again). A connection that closes meanwhile keeps a
 * reference until done has run.
 *
 * A moat_auth is built from one configuration and is immutable afterwards:
 * any worker thread may use it without a lock. SIGHUP builds a new one
 * (reading the files again) and swaps the pointer; the old one stays valid
 * until exit, like the configuration itself. */
#ifndef MOAT_AUTH_AUTH_H
#define MOAT_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"

struct moat_conf;
struct moat_pool;

typedef enum moat_auth_result {
    MOAT_AUTH_IGNORE = 0, /* not mine: next source */
    MOAT_AUTH_ALLOW,
    MOAT_AUTH_DENY,
    MOAT_AUTH_PENDING, /* asynchronous source: done() comes later (see above) */
} moat_auth_result;

/* What a source may look at. Borrowed for the call only. */
typedef struct moat_auth_client {
    const char *username;  /* NULL: the CONNECT had none */
    const char *client_id; /* never NULL */
    const char *password;  /* NULL: the CONNECT had none; may hold NUL bytes */
    size_t password_len;
    const struct sockaddr *addr; /* the client's address (after PROXY / forwarding); may be NULL */
    const char *cert_cn;         /* CN of a verified client certificate, or NULL */
    const char *cert_dn;         /* its subject DN (RFC 2253), or NULL (backends only) */
    const char *listener;        /* "ssl:external", or NULL (backends only) */
    unsigned listener_slot;      /* its index in the configuration + 1 (its own
                                    auth_chain); 0: none, auth.chain applies */
} moat_auth_client;

struct moat_acl;

typedef struct moat_auth_answer {
    moat_auth_result result;
    bool superuser;     /* with ALLOW: past every ACL */
    bool error;         /* DENY because a backend could not answer (auth.on_error = deny) */
    const char *source; /* name of the source that decided ("" when none did) */
    size_t next;        /* PENDING: index of the source to resume after */
    size_t src;         /* the backend that answered (for moat_auth_refresh_acl) */
    /* With ALLOW: the client's own ACL rules from the backend that allowed
     * it, or NULL. Owned by whoever holds the answer (moat_acl_free). */
    struct moat_acl *acl;
    /* For the log, with DENY or error: what the backend said. */
    char why[200];
} moat_auth_answer;

/* Called once by an asynchronous source, on any thread. */
/* Called once for a PENDING check, on a pool thread; a->acl passes to the
 * callee. */
typedef void (*moat_auth_done_fn)(void *arg, moat_auth_answer *a);

typedef struct moat_auth moat_auth;
struct moat_acl;

/* Build the chain and the ACL of configuration c: hashes plain built-in
 * passwords, reads password_file and acl_file, prepares the backends (no
 * network I/O). Backend requests run on pool (may be NULL when no backend
 * is configured). On error MOAT_EINVAL / MOAT_EIO with "file:line: what is
 * wrong" in err, and *out untouched. */
moat_err moat_auth_new(const struct moat_conf *c, struct moat_pool *pool, moat_auth **out,
                       char *err, size_t errlen);
/* A reload replaced a: backends close their idle connections. a stays
 * usable for requests already under way. */
void moat_auth_retire(moat_auth *a);
void moat_auth_free(moat_auth *a);

/* Does configuration c put an external backend in the chain (so a worker
 * pool is needed)? */
bool moat_auth_has_backends(const struct moat_conf *c);

/* Is addr in auth.ban.exempt (never banned by address)? */
bool moat_auth_ban_exempt(const moat_auth *a, const struct sockaddr *addr);

/* Fetch the client's own rules again from backend src (an answer's src),
 * on the pool; done(arg, answer) with answer->acl (NULL: none now) or
 * answer->error. False when that backend cannot refresh rules, or the
 * request could not be queued (done is not called then). */
bool moat_auth_refresh_acl(const moat_auth *a, size_t src, const moat_auth_client *cl,
                           moat_auth_done_fn done, void *arg);

/* Can a check on a answer PENDING (a backend is in its chain)? */
bool moat_auth_may_pend(const moat_auth *a);

/* Run the chain from its first source. out->result IGNORE: nobody knew the
 * client (apply allow_anonymous). PENDING: a backend has the request and
 * done(arg, answer) will be called once, on a pool thread; then call
 * moat_auth_continue with that answer, on the connection's loop. */
void moat_auth_check(const moat_auth *a, const moat_auth_client *cl, moat_auth_answer *out,
                     moat_auth_done_fn done, void *arg);
/* The same, with done's argument made by make(ctx) only when a backend is
 * really asked (NULL from make: out of memory, the backend counts as
 * failed): a client the local sources decide costs nothing more. */
typedef void *(*moat_auth_make_arg_fn)(void *ctx);
void moat_auth_check_lazy(const moat_auth *a, const moat_auth_client *cl, moat_auth_answer *out,
                          moat_auth_done_fn done, moat_auth_make_arg_fn make, void *ctx);
/* After done: got is the backend's answer (the one given to done, or a
 * copy). Applies auth.on_error and goes on along the chain when got does
 * not decide; cl is the same client again. *out may be PENDING again.
 * got->acl passes into *out (or is freed). got and out may be the same. */
void moat_auth_continue(const moat_auth *a, moat_auth_answer *got, const moat_auth_client *cl,
                        moat_auth_answer *out, moat_auth_done_fn done, void *arg);

/* The ACL in force, or NULL when there is none (everything allowed). */
const struct moat_acl *moat_auth_acl(const moat_auth *a);

/* Counts for the log line at load: users, client ids, password file entries,
 * ACL rules. */
void moat_auth_counts(const moat_auth *a, size_t *users, size_t *clients, size_t *passwd,
                      size_t *rules);

/* auth.chain's check: known source names, no repeats. */
bool moat_auth_chain_valid(const char *chain, char *why, size_t n);

#endif
