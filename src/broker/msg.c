/* SPDX-License-Identifier: Apache-2.0 */
/* Application messages: one allocation holding topic, payload and the
 * forwardable properties, shared by reference between sessions. */
#include <stdlib.h>
#include <string.h>

#include "broker/internal.h"

moat_msg *msg_new(const char *topic, size_t tlen, const void *payload, size_t plen,
                  const void *props, size_t props_len)
{
    moat_msg *m = malloc(sizeof *m + tlen + 1 + plen + props_len);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    atomic_init(&m->refs, 1);
    m->topic = m->data;
    memcpy(m->topic, topic, tlen);
    m->topic[tlen] = '\0';
    m->topic_len = (uint32_t)tlen;
    m->payload = (uint8_t *)m->data + tlen + 1;
    if (plen)
        memcpy(m->payload, payload, plen);
    m->payload_len = (uint32_t)plen;
    m->props = m->payload + plen;
    if (props_len)
        memcpy(m->props, props, props_len);
    m->props_len = (uint32_t)props_len;
    return m;
}

void msg_unref(moat_msg *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}

/* Store form: version(1) qos(1) retain(1) has_expiry(1) payload_format(1)
 * expiry_at(8) topic_len(4) props_len(4) payload_len(4) topic props payload */
moat_err msg_serialize(const moat_msg *m, moat_buf *out)
{
    uint8_t h[5] = {1, m->qos, m->retain, m->has_expiry, m->payload_format};
    moat_err e = moat_buf_append(out, h, sizeof h);
    uint64_t exp = (uint64_t)m->expiry_at;
    e = e ? e : moat_buf_put_u32(out, (uint32_t)(exp >> 32));
    e = e ? e : moat_buf_put_u32(out, (uint32_t)exp);
    e = e ? e : moat_buf_put_u32(out, m->topic_len);
    e = e ? e : moat_buf_put_u32(out, m->props_len);
    e = e ? e : moat_buf_put_u32(out, m->payload_len);
    e = e ? e : moat_buf_append(out, m->topic, m->topic_len);
    e = e ? e : moat_buf_append(out, m->props, m->props_len);
    e = e ? e : moat_buf_append(out, m->payload, m->payload_len);
    return e;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

moat_msg *msg_deserialize(const uint8_t *p, size_t len, size_t *used)
{
    if (len < 25 || p[0] != 1)
        return NULL;
    uint64_t exp = (uint64_t)rd32(p + 5) << 32 | rd32(p + 9);
    uint32_t tl = rd32(p + 13), pl = rd32(p + 17), yl = rd32(p + 21);
    if ((uint64_t)25 + tl + pl + yl > len)
        return NULL;
    const uint8_t *t = p + 25;
    moat_msg *m = msg_new((const char *)t, tl, t + tl + pl, yl, t + tl, pl);
    if (!m)
        return NULL;
    m->qos = p[1];
    m->retain = p[2];
    m->has_expiry = p[3];
    m->payload_format = p[4];
    m->expiry_at = (int64_t)exp;
    if (used)
        *used = 25 + tl + pl + yl;
    return m;
}
