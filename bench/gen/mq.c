/* SPDX-License-Identifier: Apache-2.0 */
/* The client side of MQTT 3.1.1 and 5.0, as much as the generator needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

uint8_t *wb_grow(wbuf *b, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            perror("realloc");
            exit(2);
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

void wb_free(wbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

size_t mq_varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t d = v & 0x7f;
        v >>= 7;
        p[n++] = (uint8_t)(d | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *putstr(uint8_t *p, const char *s, size_t n)
{
    p = put16(p, (uint16_t)n);
    memcpy(p, s, n);
    return p + n;
}

void mq_connect(wbuf *b, int ver, const char *cid, uint16_t keepalive)
{
    size_t clen = strlen(cid);
    /* v5 properties: Receive Maximum 65535, so the broker may send us as
     * many QoS 1 messages in flight as it likes. */
    static const uint8_t props5[] = {3, 0x21, 0xff, 0xff};
    uint32_t rem = 10 + (ver == 5 ? sizeof props5 : 0) + 2 + (uint32_t)clen;
    uint8_t *p = wb_reserve(b, 5 + rem), *s = p;
    *p++ = 0x10;
    p += mq_varint(p, rem);
    p = putstr(p, "MQTT", 4);
    *p++ = (uint8_t)ver;
    *p++ = 0x02; /* clean session / clean start */
    p = put16(p, keepalive);
    if (ver == 5) {
        memcpy(p, props5, sizeof props5);
        p += sizeof props5;
    }
    p = putstr(p, cid, clen);
    b->len += (size_t)(p - s);
}

void mq_subscribe(wbuf *b, int ver, uint16_t pid, char *const *filters, int n, int qos)
{
    uint32_t rem = 2 + (ver == 5 ? 1 : 0);
    for (int i = 0; i < n; i++)
        rem += 2 + (uint32_t)strlen(filters[i]) + 1;
    uint8_t *p = wb_reserve(b, 5 + rem), *s = p;
    *p++ = 0x82;
    p += mq_varint(p, rem);
    p = put16(p, pid);
    if (ver == 5)
        *p++ = 0; /* no properties */
    for (int i = 0; i < n; i++) {
        p = putstr(p, filters[i], strlen(filters[i]));
        *p++ = (uint8_t)qos;
    }
    b->len += (size_t)(p - s);
}

uint8_t *mq_publish(wbuf *b, int ver, const char *topic, uint16_t tlen, int qos, bool retain,
                    uint16_t pid, size_t plen)
{
    uint32_t rem = 2u + tlen + (qos ? 2u : 0u) + (ver == 5 ? 1u : 0u) + (uint32_t)plen;
    uint8_t *p = wb_reserve(b, 5 + rem), *s = p;
    *p++ = (uint8_t)(0x30 | (qos << 1) | (retain ? 1 : 0));
    p += mq_varint(p, rem);
    p = putstr(p, topic, tlen);
    if (qos)
        p = put16(p, pid);
    if (ver == 5)
        *p++ = 0;
    b->len += (size_t)(p - s) + plen;
    return p;
}

void mq_puback(wbuf *b, uint16_t pid)
{
    uint8_t *p = wb_reserve(b, 4);
    p[0] = 0x40;
    p[1] = 2;
    put16(p + 2, pid);
    b->len += 4;
}

void mq_disconnect(wbuf *b, int ver)
{
    (void)ver; /* v5: an empty DISCONNECT is a normal disconnection */
    uint8_t *p = wb_reserve(b, 2);
    p[0] = 0xe0;
    p[1] = 0;
    b->len += 2;
}

int mq_frame(const uint8_t *p, size_t len, uint32_t *hlen, uint32_t *rem)
{
    uint32_t v = 0;
    for (unsigned i = 1; i < 5; i++) {
        if (i >= len)
            return 0;
        v |= (uint32_t)(p[i] & 0x7f) << (7 * (i - 1));
        if (!(p[i] & 0x80)) {
            *hlen = i + 1;
            *rem = v;
            return len >= (size_t)*hlen + v ? 1 : 0;
        }
    }
    return -1;
}

static int read_varint(const uint8_t *p, size_t len, size_t *pos, uint32_t *out)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (*pos >= len)
            return -1;
        uint8_t d = p[(*pos)++];
        v |= (uint32_t)(d & 0x7f) << (7 * i);
        if (!(d & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

int mq_connack_props(const uint8_t *p, size_t len, uint32_t *recv_max)
{
    size_t pos = 0;
    uint32_t plen;
    if (read_varint(p, len, &pos, &plen) != 0 || pos + plen > len)
        return -1;
    size_t end = pos + plen;
    while (pos < end) {
        uint8_t id = p[pos++];
        size_t need;
        switch (id) {
        case 0x01:
        case 0x17:
        case 0x19:
        case 0x24:
        case 0x25:
        case 0x28:
        case 0x29:
        case 0x2a:
            need = 1;
            break;
        case 0x13:
        case 0x21:
        case 0x22:
        case 0x23:
            need = 2;
            break;
        case 0x02:
        case 0x11:
        case 0x18:
        case 0x27:
            need = 4;
            break;
        case 0x0b: {
            uint32_t v;
            if (read_varint(p, end, &pos, &v) != 0)
                return -1;
            continue;
        }
        case 0x03:
        case 0x08:
        case 0x09:
        case 0x12:
        case 0x15:
        case 0x16:
        case 0x1a:
        case 0x1c:
        case 0x1f:
            if (pos + 2 > end)
                return -1;
            need = 2u + ((size_t)p[pos] << 8 | p[pos + 1]);
            break;
        case 0x26:
            if (pos + 2 > end)
                return -1;
            need = 2u + ((size_t)p[pos] << 8 | p[pos + 1]);
            if (pos + need + 2 > end)
                return -1;
            need += 2u + ((size_t)p[pos + need] << 8 | p[pos + need + 1]);
            break;
        default:
            return -1;
        }
        if (pos + need > end)
            return -1;
        if (id == 0x21)
            *recv_max = (uint32_t)p[pos] << 8 | p[pos + 1];
        pos += need;
    }
    return 0;
}

bool topic_matches(const char *f, const char *t)
{
    for (;;) {
        if (f[0] == '#' && f[1] == 0)
            return true;
        if (f[0] == '+' && (f[1] == '/' || f[1] == 0)) {
            while (*t && *t != '/')
                t++;
            f++;
        } else {
            while (*f && *f != '/') {
                if (*f != *t)
                    return false;
                f++;
                t++;
            }
            if (*t && *t != '/')
                return false;
        }
        /* both at '/' or at the end of a level */
        if (*f == 0 && *t == 0)
            return true;
        if (*f == '/' && *t == '/') {
            f++;
            t++;
            /* "a/#" matches "a" too, but we are past that point here */
            continue;
        }
        if (*f == '/' && *t == 0)
            return f[1] == '#' && f[2] == 0; /* "a/#" matches "a" */
        return false;
    }
}
