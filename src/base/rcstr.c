/* SPDX-License-Identifier: Apache-2.0 */
#include "base/rcstr.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct rcstr {
    atomic_uint refs;
    char s[];
} rcstr;

static rcstr *head(char *s)
{
    return (rcstr *)(void *)(s - offsetof(rcstr, s));
}

char *moat_rcstr_new(const void *p, size_t n)
{
    rcstr *r = malloc(sizeof *r + n + 1);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    if (n)
        memcpy(r->s, p, n);
    r->s[n] = '\0';
    return r->s;
}

char *moat_rcstr_ref(char *s)
{
    atomic_fetch_add_explicit(&head(s)->refs, 1, memory_order_relaxed);
    return s;
}

void moat_rcstr_unref(char *s)
{
    if (s && atomic_fetch_sub_explicit(&head(s)->refs, 1, memory_order_acq_rel) == 1)
        free(head(s));
}
