/* SPDX-License-Identifier: Apache-2.0 */
/* The embedded store: a small key-value interface over LMDB, with a few named
 * tables. What the values mean is the broker's business (broker/session.c
 * and broker/route.c serialise); this layer only stores bytes. Thread-safe: calls may come from
 * any thread (LMDB serialises writers).
 *
 * Durability: the environment is opened with MDB_NOSYNC: a commit returns once
 * its pages are written to the page cache (write(2), no fsync), so a committed
 * write survives the process being killed (kill -9): the kernel owns the data
 * and writes it out. (No MDB_WRITEMAP: with it a full disk is a SIGBUS rather
 * than an error.) Only
 * an OS crash or power loss can lose writes since the last moat_store_sync(),
 * which the broker calls periodically and at shutdown.
 *
 * Keys: 1 to UINT32_MAX bytes (an empty key is MOAT_EINVAL). Keys longer than
 * 448 bytes (LMDB caps its keys at 511) are stored under a hashed key with
 * the full key kept beside the value; this is invisible to callers (get, del,
 * scan order, prefixes of any length) but such lookups cost a little more.
 * LMDB rule: a process must not have the same directory open twice at once. */
#ifndef MOAT_STORE_H
#define MOAT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct moat_store moat_store;

typedef enum moat_table {
    MOAT_T_RETAIN = 0, /* topic -> retained message */
    MOAT_T_SESSION,    /* client id -> session record */
    MOAT_T_MSG,        /* client id \0 seq(be64) -> queued/in-flight message */
    MOAT_T_META,       /* misc: format version, counters */
    MOAT_T__COUNT
} moat_table;

/* Open (creating dir and files as needed) the store in dir. map_size: bytes,
 * 0 for the default (1 GiB; the file grows sparsely). On failure returns an
 * error and writes a human sentence to errbuf. */
moat_err moat_store_open(const char *dir, size_t map_size, moat_store **out, char *errbuf,
                         size_t errlen);
void moat_store_close(moat_store *s); /* syncs first; NULL is fine */
moat_err moat_store_sync(moat_store *s);

moat_err moat_store_put(moat_store *s, moat_table t, const void *k, size_t kl, const void *v,
                        size_t vl);
/* MOAT_ENOTFOUND if absent. */
moat_err moat_store_del(moat_store *s, moat_table t, const void *k, size_t kl);
/* Delete every key starting with prefix. */
moat_err moat_store_del_prefix(moat_store *s, moat_table t, const void *prefix, size_t pl);
/* Read a value: on MOAT_OK *v is malloc'd (caller frees) and *vl its length. */
moat_err moat_store_get(moat_store *s, moat_table t, const void *k, size_t kl, void **v,
                        size_t *vl);
/* Visit every key with prefix (pl 0: all) in key order. cb returns 0 to go on,
 * non-zero to stop. Pointers are valid only during the call. cb may read the
 * store (get, scan, count) but must not write to it (that can deadlock). */
typedef int (*moat_store_cb)(void *ctx, const void *k, size_t kl, const void *v, size_t vl);
moat_err moat_store_scan(moat_store *s, moat_table t, const void *prefix, size_t pl,
                         moat_store_cb cb, void *ctx);
/* Number of entries in a table. */
size_t moat_store_count(moat_store *s, moat_table t);

#endif
