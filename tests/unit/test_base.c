/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/map.h"
#include "base/rcstr.h"
#include "test.h"

static void test_rcstr(void)
{
    char *s = moat_rcstr_new("client-1xyz", 8);
    CHECK(s != NULL);
    CHECK_STR(s, "client-1");
    CHECK(moat_rcstr_ref(s) == s);
    moat_rcstr_unref(s);
    CHECK_STR(s, "client-1"); /* one reference left */
    moat_rcstr_unref(s);
    moat_rcstr_unref(NULL);
    char *e = moat_rcstr_new(NULL, 0);
    CHECK(e != NULL && e[0] == '\0');
    moat_rcstr_unref(e);
}

static void test_map_owned(void)
{
    moat_map m = MOAT_MAP_INIT;
    char k[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_EQ(moat_map_put(&m, k, strlen(k), (void *)(uintptr_t)(i + 1), NULL), MOAT_OK);
    }
    CHECK_EQ(m.count, 1000u);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_EQ((uintptr_t)moat_map_del(&m, k, strlen(k)), (uintptr_t)(i + 1));
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_EQ((uintptr_t)moat_map_get(&m, k, strlen(k)), i % 2 ? (uintptr_t)(i + 1) : 0);
    }
    moat_map_free(&m);
    CHECK_EQ(m.count, 0u);
}

/* borrow_keys: the map keeps the caller's pointers and never frees them. */
static void test_map_borrowed(void)
{
    moat_map m = MOAT_MAP_INIT;
    m.borrow_keys = true;
    enum { N = 300 };
    char *keys[N];
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "id-%d", i);
        keys[i] = moat_rcstr_new(k, strlen(k));
        CHECK_EQ(moat_map_put(&m, keys[i], strlen(keys[i]), keys[i], NULL), MOAT_OK);
    }
    size_t it = 0;
    moat_map_slot *sl;
    int n = 0;
    while ((sl = moat_map_next(&m, &it))) {
        CHECK(sl->key == sl->value); /* the very pointer that was put */
        n++;
    }
    CHECK_EQ(n, N);
    /* Replacing an entry takes the new key pointer: the old one may go. */
    char *again = moat_rcstr_new("id-7", 4);
    void *old = NULL;
    CHECK_EQ(moat_map_put(&m, again, 4, again, &old), MOAT_OK);
    CHECK(old == keys[7]);
    moat_rcstr_unref(keys[7]);
    keys[7] = again;
    it = 0;
    while ((sl = moat_map_next(&m, &it)))
        CHECK(sl->key == sl->value);
    for (int i = 0; i < N; i += 3)
        CHECK(moat_map_del(&m, keys[i], strlen(keys[i])) == keys[i]);
    CHECK_STR(keys[0], "id-0"); /* not freed by del */
    moat_map_free(&m);
    CHECK(m.borrow_keys);
    for (int i = 0; i < N; i++)
        moat_rcstr_unref(keys[i]); /* not freed by free either (ASan would say) */
}

int main(void)
{
    TEST(test_rcstr);
    TEST(test_map_owned);
    TEST(test_map_borrowed);
    return test_summary("base");
}
