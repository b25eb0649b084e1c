/* SPDX-License-Identifier: Apache-2.0 */
/* The broker: listeners, worker loops, sessions and routing. main.c builds a
 * moat_conf and hands it here. */
#ifndef MOAT_BROKER_H
#define MOAT_BROKER_H

#include "base/err.h"
#include "conf/conf.h"

typedef struct moat_broker moat_broker;

/* Open the store, load persisted state, bind every listener. The conf is
 * copied. On failure a sentence is written to err. */
moat_err moat_broker_new(const moat_conf *conf, moat_broker **out, char *err, size_t errlen);
/* Run the worker loops until moat_broker_stop(); returns after a clean
 * shutdown (sessions persisted, store synced). */
moat_err moat_broker_run(moat_broker *b);
/* Async-signal-safe request to stop. */
void moat_broker_stop(moat_broker *b);
/* Async-signal-safe request to reload reloadable settings from conf_path. */
void moat_broker_request_reload(moat_broker *b);
void moat_broker_set_conf_path(moat_broker *b, const char *path);
void moat_broker_free(moat_broker *b);
/* Build (and throw away) the TLS context of every ssl listener of c, logging
 * each finding with its fix: what `moat --check-config` runs. */
moat_err moat_broker_check_tls(const moat_conf *c, char *err, size_t errlen);

#endif
