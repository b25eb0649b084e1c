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
 * Asynchronous sources. The sources of this increment (built-in users and
 * client ids, a password file) are in memory and answer at once. A database,
 * LDAP or HTTP source must never block the worker's loop, so the interface
 * lets a source answer MOAT_AUTH_PENDING instead: it has taken the request
 * (copying what it needs from the moat_auth_client: the pointers are only
 * valid during the call) to a worker pool, and it will call done(arg, answer)
 * exactly once, from any thread, when the backend replies or times out. The
 * caller (the broker's CONNECT handler) then keeps the connection in an
 * "authenticating" state, reading nothing further from it, and posts the
 * answer to the connection's own loop, where the chain resumes with the
 * source after the one that was pending (moat_auth_resume). A connection
 * that closes meanwhile keeps a reference until done has run. moat_auth_check
 * itself never waits.
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
} moat_auth_client;

typedef struct moat_auth_answer {
    moat_auth_result result;
    bool superuser;     /* with ALLOW: past every ACL */
    const char *source; /* name of the source that decided ("" when none did) */
    size_t next;        /* PENDING: index of the source to resume after */
} moat_auth_answer;

/* Called once by an asynchronous source, on any thread. */
typedef void (*moat_auth_done_fn)(void *arg, const moat_auth_answer *a);

/* One source of the chain. */
typedef struct moat_auth_source_ops {
    const char *name; /* as written in auth.chain */
    /* Look at cl. Return IGNORE / ALLOW (with *superuser) / DENY at once, or
     * PENDING after arranging for done(arg, answer) to be called later. */
    moat_auth_result (*authenticate)(const void *self, const moat_auth_client *cl, bool *superuser,
                                     moat_auth_done_fn done, void *arg);
    void (*destroy)(void *self);
} moat_auth_source_ops;

typedef struct moat_auth moat_auth;
struct moat_acl;

/* Build the chain and the ACL of configuration c: hashes plain built-in
 * passwords, reads password_file and acl_file. On error MOAT_EINVAL / MOAT_EIO
 * with "file:line: what is wrong" in err, and *out untouched. */
moat_err moat_auth_new(const struct moat_conf *c, moat_auth **out, char *err, size_t errlen);
void moat_auth_free(moat_auth *a);

/* Run the chain from its first source. out->result IGNORE: nobody knew the
 * client (apply allow_anonymous). PENDING is only possible with an
 * asynchronous source (none yet); done/arg are passed to it. */
void moat_auth_check(const moat_auth *a, const moat_auth_client *cl, moat_auth_answer *out,
                     moat_auth_done_fn done, void *arg);

/* The ACL in force, or NULL when there is none (everything allowed). */
const struct moat_acl *moat_auth_acl(const moat_auth *a);

/* Counts for the log line at load: users, client ids, password file entries,
 * ACL rules. */
void moat_auth_counts(const moat_auth *a, size_t *users, size_t *clients, size_t *passwd,
                      size_t *rules);

/* auth.chain's check: known source names, no repeats. */
bool moat_auth_chain_valid(const char *chain, char *why, size_t n);

#endif
