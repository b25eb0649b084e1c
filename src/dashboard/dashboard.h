/* SPDX-License-Identifier: Apache-2.0 */
/* The dashboard: an HTTP/1.1 server on the dashboard's listeners (http,
 * https: the same transports as MQTT, so TLS is the ssl listener's code) and
 * the JSON API behind it. Its connections live on the worker loops next to
 * MQTT connections; the API reads broker state under the broker lock. */
#ifndef MOAT_DASHBOARD_H
#define MOAT_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"

typedef struct moat_broker moat_broker;
typedef struct moat_worker moat_worker;
typedef struct moat_listener moat_listener;
typedef struct hconn hconn;

/* At start-up: the administrators (created on first start, with a generated
 * password printed once when none is configured). */
moat_err dashboard_init(moat_broker *b, char *err, size_t errlen);
void dashboard_free(moat_broker *b);

/* A connection accepted on an http/https listener, on worker w's thread. */
void hconn_accept(moat_worker *w, moat_listener *l, int fd, const struct sockaddr *sa);
/* Close idle and stuck connections (from the worker's tick). */
void hconn_sweep(moat_worker *w, int64_t now_ms);
/* Close all of the worker's HTTP connections (shutdown). */
void hconn_close_all(moat_worker *w);

#endif
