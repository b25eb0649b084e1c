/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer with a read offset. Owned by whoever embeds it. */
#ifndef MOAT_BUF_H
#define MOAT_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct moat_buf {
    uint8_t *data; /* owned; NULL when cap == 0 */
    size_t off;    /* first unread byte */
    size_t len;    /* one past the last written byte */
    size_t cap;
} moat_buf;

#define MOAT_BUF_INIT                                                                              \
    {                                                                                              \
        0                                                                                          \
    }

/* Make room for n more bytes after len. */
moat_err moat_buf_reserve(moat_buf *b, size_t n);
moat_err moat_buf_append(moat_buf *b, const void *p, size_t n);
moat_err moat_buf_put_u8(moat_buf *b, uint8_t v);
moat_err moat_buf_put_u16(moat_buf *b, uint16_t v); /* big endian */
moat_err moat_buf_put_u32(moat_buf *b, uint32_t v); /* big endian */
/* Unread bytes. */
static inline size_t moat_buf_avail(const moat_buf *b)
{
    return b->len - b->off;
}
static inline const uint8_t *moat_buf_head(const moat_buf *b)
{
    return b->data + b->off;
}
/* Mark n bytes read; resets to empty when all read. */
void moat_buf_consume(moat_buf *b, size_t n);
/* Move unread bytes to the front (cheap compaction before a read). */
void moat_buf_compact(moat_buf *b);
void moat_buf_reset(moat_buf *b);
/* Release memory. */
void moat_buf_free(moat_buf *b);

#endif
