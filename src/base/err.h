/* SPDX-License-Identifier: Apache-2.0 */
/* One error enum for all of moat. Functions return moat_err; results go
 * through out-parameters. MQTT reason codes are derived from these in exactly
 * one place (broker/reason.c), never scattered through the handlers. */
#ifndef MOAT_ERR_H
#define MOAT_ERR_H

typedef enum moat_err {
    MOAT_OK = 0,
    MOAT_ENEEDMORE, /* decoder: input incomplete, call again with more */
    MOAT_EAGAIN,    /* I/O would block */
    MOAT_EOF,       /* peer closed */
    MOAT_EIO,       /* system call failed; errno is meaningful */
    MOAT_ENOMEM,
    MOAT_EINVAL, /* bad argument or bad configuration value */
    MOAT_ENOTFOUND,
    MOAT_EEXIST,
    MOAT_ELIMIT, /* a configured limit was reached */
    /* protocol errors: the decoder returns these; the reason code follows */
    MOAT_EMALFORMED,  /* MQTT 5 0x81 */
    MOAT_EPROTOCOL,   /* MQTT 5 0x82 */
    MOAT_EVERSION,    /* unsupported protocol version, 0x84 */
    MOAT_ETOOLARGE,   /* packet exceeds maximum packet size, 0x95 */
    MOAT_EPAYLOADFMT, /* payload format indicator says UTF-8 but it is not, 0x99 */
    MOAT_ETOPIC,      /* invalid topic name / filter, 0x90 / 0x8F */
    MOAT_ESTORE,      /* embedded store failure */
    MOAT_ERR__COUNT
} moat_err;

/* Short, stable, lower-case description ("malformed packet"). Never NULL. */
const char *moat_strerror(moat_err e);

#endif
