/* SPDX-License-Identifier: Apache-2.0 */
/* node.dev_certs = auto at start: the development set in <data_dir>/certs
 * made (once) or renewed, and how clients trust it said in the log. */
#ifndef MOAT_BROKER_DEVCERTS_H
#define MOAT_BROKER_DEVCERTS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "conf/conf.h"

/* Before the listeners are built: make or renew the set when needed (see
 * moat_devset_ensure) and log what happened. Nothing with
 * node.dev_certs = off. On error a sentence with the fix is in err. */
moat_err moat_dev_certs_prepare(const moat_conf *c, char *err, size_t errlen);

/* Whether listener l serves the development set of c. */
bool moat_dev_certs_used_by(const moat_conf *c, const moat_listener_conf *l);

/* Whether the set's files are all there (moat --check-config checks the
 * listeners that use it only then: otherwise the first start makes them). */
bool moat_dev_certs_present(const moat_conf *c);

#endif
