/* SPDX-License-Identifier: Apache-2.0 */
/* Certificates of TLS listeners through the dashboard API (certs_api.c). */
#ifndef MOAT_DASHBOARD_CERTS_API_H
#define MOAT_DASHBOARD_CERTS_API_H

#include <cjson/cJSON.h>

#include "dashboard/internal.h"

/* {"listener", "source", "mode", "chain": [...]} for a TLS listener. */
cJSON *certs_listener_json(moat_broker *b, moat_listener *l);
/* Upload (JSON body in the cloud form's shape); returns the HTTP status and
 * the JSON answer in *out (the new chain, or code/message/field/findings). */
int certs_upload(moat_broker *b, moat_listener *l, const char *body, size_t len, cJSON **out,
                 const char *who);
/* Delete the upload: back to the configured certificate, TLS clients of the
 * listener disconnected. */
int certs_delete(moat_broker *b, moat_listener *l, cJSON **out, const char *who);

#endif
