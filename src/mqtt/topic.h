/* SPDX-License-Identifier: Apache-2.0 */
/* Topic names and filters: validation, matching, shared-subscription parsing,
 * and two indexes the broker builds on:
 *  - moat_subtree: topic filter -> subscriptions, matched by a topic name;
 *  - moat_rettree: topic name -> retained value, matched by a topic filter.
 * Both are pure data structures: no locking (the caller serialises), no I/O,
 * no logging. Strings are (pointer, length), not NUL-terminated. UTF-8
 * validity is the codec's job; these functions assume it was checked. */
#ifndef MOAT_MQTT_TOPIC_H
#define MOAT_MQTT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Topic name (PUBLISH): non-empty, no '+' or '#', no U+0000, <= 65535 bytes.
 * max_levels: 0 for no limit, else more levels than this is invalid. */
bool mqtt_topic_name_valid(const char *t, size_t len, unsigned max_levels);
/* Topic filter (SUBSCRIBE): non-empty; '#' only as the whole last level; '+'
 * only as a whole level; no U+0000; levels limit as above. A "$share/..."
 * filter is validated by mqtt_share_parse, not here. */
bool mqtt_topic_filter_valid(const char *f, size_t len, unsigned max_levels);
/* Does filter match topic? Implements the rule that a topic starting with '$'
 * is not matched by a filter starting with '+' or '#'. */
bool mqtt_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

/* "$share/{group}/{filter}": on MOAT_OK sets group/filter spans. Returns
 * MOAT_ENOTFOUND when f is not a shared subscription, MOAT_ETOPIC when it is
 * but malformed (empty group, group with '+' '#' or '/', missing or invalid
 * filter). */
moat_err mqtt_share_parse(const char *f, size_t len, const char **group, size_t *glen,
                          const char **filter, size_t *flen);

/* ---------------------------------------------------------------- subtree */

typedef struct moat_subtree moat_subtree;

/* One subscription as stored. owner is the broker's session pointer (not
 * owned). group is NULL for a normal subscription, else the share group name
 * (owned by the tree, NUL-terminated). */
typedef struct moat_sub {
    void *owner;
    char *group;
    uint8_t options; /* broker-defined: QoS, no-local, RAP, retain handling bits */
    uint32_t sub_id; /* 0 = none */
} moat_sub;

moat_err moat_subtree_new(moat_subtree **out);
void moat_subtree_free(moat_subtree *t);
/* Add or replace the subscription keyed by (filter, owner, group). filter is
 * the real filter (without "$share/group/"). *replaced (may be NULL) tells
 * whether one existed. */
moat_err moat_subtree_add(moat_subtree *t, const char *filter, size_t flen, void *owner,
                          const char *group, size_t glen, uint8_t options, uint32_t sub_id,
                          bool *replaced);
/* Remove; MOAT_ENOTFOUND when there was none. Frees emptied nodes. */
moat_err moat_subtree_remove(moat_subtree *t, const char *filter, size_t flen, void *owner,
                             const char *group, size_t glen);
/* Call cb for every subscription whose filter matches topic. The moat_sub is
 * valid only during the call; cb must not modify the tree. Shared-group
 * entries are reported like others (with group set); choosing one member per
 * group is the caller's business. */
typedef void (*moat_subtree_cb)(void *ctx, const moat_sub *s, const char *filter, size_t flen);
void moat_subtree_match(const moat_subtree *t, const char *topic, size_t tlen, moat_subtree_cb cb,
                        void *ctx);
/* Number of subscriptions stored. */
size_t moat_subtree_count(const moat_subtree *t);

/* ---------------------------------------------------------------- rettree */

typedef struct moat_rettree moat_rettree;

moat_err moat_rettree_new(moat_rettree **out);
/* free_value (may be NULL) is called on every value still stored. */
void moat_rettree_free(moat_rettree *t, void (*free_value)(void *));
/* Store value under topic, returning the previous value (or NULL) in *old so
 * the caller can release it. */
moat_err moat_rettree_set(moat_rettree *t, const char *topic, size_t tlen, void *value, void **old);
/* Remove and return the value (NULL if none). */
void *moat_rettree_del(moat_rettree *t, const char *topic, size_t tlen);
void *moat_rettree_get(const moat_rettree *t, const char *topic, size_t tlen);
/* Call cb for every stored topic matched by filter (with the '$' rule). The
 * topic string passed is NUL-terminated and valid during the call only. */
typedef void (*moat_rettree_cb)(void *ctx, const char *topic, size_t tlen, void *value);
void moat_rettree_match(const moat_rettree *t, const char *filter, size_t flen, moat_rettree_cb cb,
                        void *ctx);
size_t moat_rettree_count(const moat_rettree *t);

#endif
