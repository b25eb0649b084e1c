/* SPDX-License-Identifier: Apache-2.0 */
/* The transport interface under every MQTT (and later HTTP) connection. The
 * MQTT session reads and writes plaintext bytes through it and never knows
 * whether TCP, TLS, WebSocket or a PROXY-protocol prefix is underneath. Layers
 * stack: a TLS transport wraps a TCP one; wss is ws over tls over tcp.
 *
 * Threading: a transport belongs to the loop thread of its connection. */
#ifndef MOAT_TRANSPORT_H
#define MOAT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

typedef struct moat_transport moat_transport;

typedef struct moat_transport_ops {
    const char *name; /* "tcp", "tls", "ws" ... */
    /* Read up to len plaintext bytes into buf. Returns MOAT_OK with *n > 0,
     * MOAT_EAGAIN when nothing is available now, MOAT_EOF on orderly close,
     * another error otherwise. */
    moat_err (*read)(moat_transport *t, void *buf, size_t len, size_t *n);
    /* Write up to len bytes; MOAT_OK with *n (maybe < len), or MOAT_EAGAIN. */
    moat_err (*write)(moat_transport *t, const void *buf, size_t len, size_t *n);
    /* True when plaintext is buffered inside the transport (e.g. a decrypted
     * TLS record) that a read would return even though the fd is not
     * readable. The connection keeps reading while this is true. */
    bool (*has_pending)(moat_transport *t);
    /* True when the transport needs the fd to become writable to make
     * progress even with no application data to send (TLS handshake). */
    bool (*wants_write)(moat_transport *t);
    /* Close the fd and free t. */
    void (*close)(moat_transport *t);
    /* The transport this one is layered over, or NULL (tcp). Lets a query
     * find the TLS layer under a WebSocket one. */
    moat_transport *(*lower)(moat_transport *t);
} moat_transport_ops;

struct moat_transport {
    const moat_transport_ops *ops;
    int fd;
};

/* Plain TCP over an accepted, non-blocking socket, in memory the caller owns
 * (a connection embeds it: no allocation per client). Takes ownership of fd;
 * close closes the fd and leaves t's memory to its owner. */
void moat_tcp_transport_init(moat_transport *t, int fd);

/* The first layer of t, or under it, whose ops are ops; NULL when none. */
static inline moat_transport *moat_transport_find(moat_transport *t, const moat_transport_ops *ops)
{
    while (t && t->ops != ops)
        t = t->ops->lower ? t->ops->lower(t) : NULL;
    return t;
}

#endif
