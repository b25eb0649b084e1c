/* SPDX-License-Identifier: Apache-2.0 */
#include "base/map.h"

#include <stdlib.h>
#include <string.h>

uint64_t moat_hash(const void *p, size_t n)
{
    /* FNV-1a, then a final mix so that low bits are usable as an index. */
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static size_t find(const moat_map *m, const void *k, size_t kl, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        moat_map_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->klen == kl && memcmp(s->key, k, kl) == 0))
            return i;
    }
}

void *moat_map_get(const moat_map *m, const void *k, size_t kl)
{
    if (!m->cap)
        return NULL;
    size_t i = find(m, k, kl, moat_hash(k, kl));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static moat_err grow(moat_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    moat_map_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return MOAT_ENOMEM;
    moat_map old = *m;
    m->slots = ns;
    m->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.slots[i].key)
            continue;
        size_t j = find(m, old.slots[i].key, old.slots[i].klen, old.slots[i].hash);
        m->slots[j] = old.slots[i];
    }
    free(old.slots);
    return MOAT_OK;
}

moat_err moat_map_put(moat_map *m, const void *k, size_t kl, void *v, void **old)
{
    if (old)
        *old = NULL;
    if ((m->count + 1) * 4 > m->cap * 3) {
        moat_err e = grow(m);
        if (e)
            return e;
    }
    uint64_t h = moat_hash(k, kl);
    size_t i = find(m, k, kl, h);
    moat_map_slot *s = &m->slots[i];
    if (s->key) {
        if (old)
            *old = s->value;
        s->value = v;
        if (m->borrow_keys)
            s->key = (char *)k; /* the caller's key may end before the earlier one */
        return MOAT_OK;
    }
    char *copy = m->borrow_keys ? (char *)k : malloc(kl + 1);
    if (!copy)
        return MOAT_ENOMEM;
    if (!m->borrow_keys) {
        memcpy(copy, k, kl);
        copy[kl] = '\0';
    }
    *s = (moat_map_slot){copy, kl, h, v};
    m->count++;
    return MOAT_OK;
}

void *moat_map_del(moat_map *m, const void *k, size_t kl)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, k, kl, moat_hash(k, kl));
    if (!m->slots[i].key)
        return NULL;
    void *v = m->slots[i].value;
    if (!m->borrow_keys)
        free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Backward-shift: move later entries of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return v;
}

moat_map_slot *moat_map_next(const moat_map *m, size_t *i)
{
    while (*i < m->cap) {
        moat_map_slot *s = &m->slots[(*i)++];
        if (s->key)
            return s;
    }
    return NULL;
}

void moat_map_free(moat_map *m)
{
    for (size_t i = 0; i < m->cap && !m->borrow_keys; i++)
        free(m->slots[i].key);
    free(m->slots);
    bool borrow = m->borrow_keys;
    *m = (moat_map)MOAT_MAP_INIT;
    m->borrow_keys = borrow;
}
