/* SPDX-License-Identifier: Apache-2.0 */
/* MQTT over WebSocket as a transport filter: it answers the HTTP upgrade,
 * then turns the frames of the layer under it (tcp, or tls for wss) into the
 * plain byte stream the MQTT connection reads, and wraps what it writes into
 * binary frames. Pings are answered and the close handshake is done here;
 * the connection above never sees a frame. Loop thread only. */
#ifndef MOAT_WS_TRANSPORT_H
#define MOAT_WS_TRANSPORT_H

#include "transport/transport.h"
#include "ws/ws.h"

/* A listener's WebSocket settings; must outlive its connections. */
typedef struct moat_ws_settings {
    moat_ws_upgrade_conf upgrade;
    uint64_t max_frame; /* 0: no limit */
} moat_ws_settings;

/* Called once when the opening handshake ends: with the client's request
 * (valid only during the call) when it was accepted, with NULL when it was
 * refused (moat_ws_failure says why). */
typedef void (*moat_ws_open_fn)(moat_transport *t, const moat_http_request *req, void *arg);

/* Layer a WebSocket server over inner, which it owns from now on (close
 * closes it; on failure inner is left to the caller). */
moat_err moat_ws_transport_new(const moat_ws_settings *s, moat_transport *inner,
                               moat_transport **out);
void moat_ws_on_open(moat_transport *t, moat_ws_open_fn fn, void *arg);
/* True when t (or a layer under it) is WebSocket. */
bool moat_ws_is(const moat_transport *t);
/* Why the WebSocket layer ended the connection ("WebSocket upgrade refused:
 * 404 ...", "WebSocket close from the client: 1000"), or NULL. */
const char *moat_ws_failure(const moat_transport *t);
/* The status code and reason of the close frame sent when the connection is
 * closed from our side (default 1000). reason must be static. */
void moat_ws_set_close(moat_transport *t, uint16_t code, const char *reason);

#endif
