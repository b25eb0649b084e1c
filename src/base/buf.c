/* SPDX-License-Identifier: Apache-2.0 */
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

moat_err moat_buf_reserve(moat_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return MOAT_OK;
    if (b->off > 0 && b->cap - (b->len - b->off) >= n) {
        moat_buf_compact(b);
        return MOAT_OK;
    }
    size_t need = b->len + n;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return MOAT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return MOAT_OK;
}

moat_err moat_buf_append(moat_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return MOAT_OK;
    moat_err e = moat_buf_reserve(b, n);
    if (e)
        return e;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return MOAT_OK;
}

moat_err moat_buf_put_u8(moat_buf *b, uint8_t v)
{
    return moat_buf_append(b, &v, 1);
}

moat_err moat_buf_put_u16(moat_buf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return moat_buf_append(b, t, 2);
}

moat_err moat_buf_put_u32(moat_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return moat_buf_append(b, t, 4);
}

void moat_buf_consume(moat_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void moat_buf_compact(moat_buf *b)
{
    if (b->off == 0)
        return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

void moat_buf_reset(moat_buf *b)
{
    b->off = b->len = 0;
}

void moat_buf_free(moat_buf *b)
{
    free(b->data);
    *b = (moat_buf)MOAT_BUF_INIT;
}
