/* SPDX-License-Identifier: Apache-2.0 */
/* Reference-counted strings. The count sits just before the characters, so
 * holders keep a plain NUL-terminated char * and one copy can be shared by
 * owners that end at different times and on different threads (a connection
 * and its session share the client identifier). */
#ifndef MOAT_RCSTR_H
#define MOAT_RCSTR_H

#include <stddef.h>

/* A counted copy of n bytes at p plus a NUL; one reference. NULL on ENOMEM. */
char *moat_rcstr_new(const void *p, size_t n);
/* Another reference to s (not NULL). */
char *moat_rcstr_ref(char *s);
/* Drop a reference; the last one frees. NULL is ignored. */
void moat_rcstr_unref(char *s);

#endif
