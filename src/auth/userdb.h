/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in user store: users (by username) and clients (by client id),
 * each with an argon2id password hash and a superuser flag, kept in their
 * own LMDB file, node.data_dir/auth_store.mdb (mode 0600), with one named
 * database per kind.
 *
 * Why a file of its own rather than a table in the broker's session store:
 * `moat ctl users ...` writes it from another process, whether the broker
 * runs or not, and LMDB lets several processes share one environment; the
 * session store resizes its map as it grows, which another process would
 * have to follow, while this file keeps a fixed map (AUTH_MAP_SIZE); and the
 * hashes stay in a 0600 file that can be backed up (mdb_copy) on its own.
 *
 * Why no copy in memory: an LMDB read transaction is already a lock-free
 * snapshot of a memory map, the RCU scheme a copy would have to rebuild,
 * and it sees a commit made by another process at the next transaction. So
 * the broker reads the file at each CONNECT the store knows, and a change
 * made by ctl or the API counts for the next CONNECT with no reload signal
 * and no window in which the two disagree.
 *
 * Writes are synchronous (fsync at commit): a password change survives a
 * power loss. Every call is thread-safe. Leaf module: no logging. */
#ifndef MOAT_AUTH_USERDB_H
#define MOAT_AUTH_USERDB_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/hash.h"
#include "base/err.h"

typedef struct moat_userdb moat_userdb;

typedef enum moat_udb_kind {
    MOAT_UDB_USER = 0, /* keyed by username */
    MOAT_UDB_CLIENT,   /* keyed by client id */
} moat_udb_kind;

#define MOAT_UDB_ID_MAX 256 /* bytes of a username or client id */

typedef struct moat_udb_entry {
    char hash[MOAT_ARGON2_ENCODED_MAX + 96]; /* a PHC string */
    bool superuser;
} moat_udb_entry;

/* The file's name under node.data_dir. */
#define MOAT_UDB_FILE "auth_store.mdb"

/* Open data_dir/auth_store.mdb, creating data_dir (0700) and the file
 * (0600) when missing. Within one process the same path gives the same
 * handle, counted (LMDB forbids opening one environment twice in a
 * process); moat_userdb_close drops one reference. On error a sentence in
 * err. */
moat_err moat_userdb_open(const char *data_dir, moat_userdb **out, char *err, size_t errlen);
void moat_userdb_close(moat_userdb *db);

/* Is id (1..MOAT_UDB_ID_MAX bytes, no NUL) acceptable? */
bool moat_udb_id_valid(const char *id);

/* The entry of id. MOAT_ENOTFOUND when absent. Cheap (a lookup in the map):
 * fine on an event loop. */
moat_err moat_userdb_get(moat_userdb *db, moat_udb_kind k, const char *id, moat_udb_entry *out);

/* Add id with a new argon2id hash of pw. MOAT_EEXIST when present,
 * MOAT_EINVAL for a bad id or an empty password. Hashes first (tens of
 * milliseconds): not on an event loop. */
moat_err moat_userdb_add(moat_userdb *db, moat_udb_kind k, const char *id, const char *pw,
                         size_t pwlen, bool superuser);

/* Change id: a new password when pw is not NULL, the flag when superuser
 * is 0 or 1 (-1: unchanged). MOAT_ENOTFOUND when absent. */
moat_err moat_userdb_update(moat_userdb *db, moat_udb_kind k, const char *id, const char *pw,
                            size_t pwlen, int superuser);

/* MOAT_ENOTFOUND when absent. */
moat_err moat_userdb_del(moat_userdb *db, moat_udb_kind k, const char *id);

/* Visit every entry of kind k in id order; cb gets the id and the flag
 * (never the hash). cb returns false to stop. */
typedef bool (*moat_udb_cb)(void *ctx, const char *id, bool superuser);
moat_err moat_userdb_list(moat_userdb *db, moat_udb_kind k, moat_udb_cb cb, void *ctx);

#endif
