/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/transport.h"

static moat_err tcp_read(moat_transport *t, void *buf, size_t len, size_t *n)
{
    for (;;) {
        ssize_t r = recv(t->fd, buf, len, 0);
        if (r > 0) {
            *n = (size_t)r;
            return MOAT_OK;
        }
        if (r == 0)
            return MOAT_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MOAT_EAGAIN;
        return MOAT_EIO;
    }
}

static moat_err tcp_write(moat_transport *t, const void *buf, size_t len, size_t *n)
{
    for (;;) {
        ssize_t r = send(t->fd, buf, len, MSG_NOSIGNAL);
        if (r >= 0) {
            *n = (size_t)r;
            return MOAT_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MOAT_EAGAIN;
        return MOAT_EIO;
    }
}

static bool tcp_false(moat_transport *t)
{
    (void)t;
    return false;
}

/* The transport lives in its owner (a connection): close releases the fd. */
static void tcp_close(moat_transport *t)
{
    close(t->fd);
    t->fd = -1;
}

static const moat_transport_ops tcp_ops = {
    .name = "tcp",
    .read = tcp_read,
    .write = tcp_write,
    .has_pending = tcp_false,
    .wants_write = tcp_false,
    .close = tcp_close,
};

void moat_tcp_transport_init(moat_transport *t, int fd)
{
    t->ops = &tcp_ops;
    t->fd = fd;
}
