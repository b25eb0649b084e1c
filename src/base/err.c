/* SPDX-License-Identifier: Apache-2.0 */
#include "base/err.h"

static const char *const names[MOAT_ERR__COUNT] = {
    [MOAT_OK] = "ok",
    [MOAT_ENEEDMORE] = "incomplete input",
    [MOAT_EAGAIN] = "would block",
    [MOAT_EOF] = "connection closed by peer",
    [MOAT_EIO] = "i/o error",
    [MOAT_ENOMEM] = "out of memory",
    [MOAT_EINVAL] = "invalid argument",
    [MOAT_ENOTFOUND] = "not found",
    [MOAT_EEXIST] = "already exists",
    [MOAT_ELIMIT] = "limit reached",
    [MOAT_EMALFORMED] = "malformed packet",
    [MOAT_EPROTOCOL] = "protocol error",
    [MOAT_EVERSION] = "unsupported protocol version",
    [MOAT_ETOOLARGE] = "packet too large",
    [MOAT_EPAYLOADFMT] = "payload format invalid",
    [MOAT_ETOPIC] = "invalid topic",
    [MOAT_ESTORE] = "store error",
};

const char *moat_strerror(moat_err e)
{
    if ((unsigned)e >= MOAT_ERR__COUNT || !names[e])
        return "unknown error";
    return names[e];
}
