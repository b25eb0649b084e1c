/* SPDX-License-Identifier: Apache-2.0 */
/* A hash map from byte-string keys to pointers (open addressing, linear
 * probing, tombstone-free backward-shift deletion). Keys are copied and owned
 * by the map unless borrow_keys is set; values are not owned. Not thread-safe. */
#ifndef MOAT_MAP_H
#define MOAT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct moat_map_slot {
    char *key; /* NUL-terminated copy (or the caller's, borrowed); NULL = empty slot */
    size_t klen;
    uint64_t hash;
    void *value;
} moat_map_slot;

typedef struct moat_map {
    moat_map_slot *slots;
    size_t cap; /* power of two or 0 */
    size_t count;
    /* Keys are the caller's: put keeps the pointer it is given, which must
     * stay valid (and NUL-terminated) while its entry is in the map; del and
     * free leave keys alone. Set before the first put. */
    bool borrow_keys;
} moat_map;

#define MOAT_MAP_INIT                                                                              \
    {                                                                                              \
        0                                                                                          \
    }

uint64_t moat_hash(const void *p, size_t n);
void *moat_map_get(const moat_map *m, const void *k, size_t kl);
/* Insert or replace; *old (may be NULL) receives the replaced value. */
moat_err moat_map_put(moat_map *m, const void *k, size_t kl, void *v, void **old);
/* Remove; returns the value or NULL. */
void *moat_map_del(moat_map *m, const void *k, size_t kl);
/* Iterate: *i starts at 0; returns the next used slot or NULL at the end. */
moat_map_slot *moat_map_next(const moat_map *m, size_t *i);
void moat_map_free(moat_map *m);

#endif
