/* SPDX-License-Identifier: Apache-2.0 */
/* The option table: every key moat accepts, its type, range, default, where
 * it is stored and what it means. The parser, moat_conf_defaults, the help
 * text and docs/config.md are all derived from it, so they cannot disagree.
 * Key names follow EMQX 4 where EMQX has the same setting. */
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "conf/conf_int.h"

#define KB 1024ull
#define MB (1024ull * KB)
#define SEC 1000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* Field location and width, so an entry cannot name one field and size
 * another. */
#define GLOBAL(f) .offset = offsetof(moat_conf, f), .width = sizeof(((moat_conf *)0)->f)
#define LISTENER(f)                                                                                \
    .offset = offsetof(moat_listener_conf, f), .width = sizeof(((moat_listener_conf *)0)->f)

const conf_listener_type conf_listener_types[] = {
    {"tcp", 1883, true},
    {"ssl", 8883, false},
    {"ws", 8083, false},
    {"wss", 8084, false},
};
const size_t conf_n_listener_types = sizeof conf_listener_types / sizeof conf_listener_types[0];

static const conf_enum_value log_levels[] = {
    {"debug", MOAT_LOG_DEBUG},     {"info", MOAT_LOG_INFO},   {"notice", MOAT_LOG_NOTICE},
    {"warning", MOAT_LOG_WARNING}, {"error", MOAT_LOG_ERROR}, {"none", MOAT_LOG_NONE},
    {NULL, 0},
};

static const conf_enum_value log_targets[] = {
    {"console", MOAT_LOG_TO_CONSOLE},
    {"file", MOAT_LOG_TO_FILE},
    {"both", MOAT_LOG_TO_BOTH},
    {NULL, 0},
};

static const conf_enum_value anon_modes[] = {
    {"loopback", MOAT_ANON_LOOPBACK},
    {"true", MOAT_ANON_TRUE},
    {"false", MOAT_ANON_FALSE},
    {NULL, 0},
};

const conf_section_info conf_sections[CONF_SEC__COUNT] = {
    [CONF_SEC_NODE] = {"Node", "Process-wide settings."},
    [CONF_SEC_LOG] = {"Log", "Where log lines go and how many there are."},
    [CONF_SEC_BROKER] = {"Broker", "Broker-wide behaviour and access."},
    [CONF_SEC_MQTT] = {"MQTT", "Protocol limits and features, the same for every client."},
    [CONF_SEC_RETAINER] = {"Retainer", "Limits on retained messages."},
    [CONF_SEC_PERSISTENCE] = {"Persistence",
                              "The embedded store that keeps sessions, queued and retained "
                              "messages across restarts."},
    [CONF_SEC_LISTENER] = {"Listeners",
                           "Each listener is declared by `listener.<type>.<name> = [ip:]port` "
                           "and takes per-listener options `listener.<type>.<name>.<option>`."},
};

const conf_option conf_options[] = {
    /* node */
    {.name = "node.data_dir", .type = CONF_STRING, .section = CONF_SEC_NODE,
     .flags = CONF_NONEMPTY, GLOBAL(data_dir), .def = "data",
     .desc = "Directory of the embedded store (sessions, queued and retained messages)."},
    {.name = "node.workers", .type = CONF_UINT, .section = CONF_SEC_NODE, GLOBAL(workers),
     .min = 0, .max = 256, .def = "0",
     .desc = "Worker threads serving connections; 0 starts one per CPU core."},
    {.name = "node.max_connections", .type = CONF_UINT, .section = CONF_SEC_NODE,
     .flags = CONF_RELOAD, GLOBAL(max_connections), .min = 1, .max = UINT32_MAX,
     .def = "1024000", .desc = "Most client connections over all listeners; more are refused."},

    /* log */
    {.name = "log.level", .type = CONF_ENUM, .section = CONF_SEC_LOG, .flags = CONF_RELOAD,
     GLOBAL(log_level), .values = log_levels, .def = "info",
     .desc = "Least severe level that is logged; none turns logging off."},
    {.name = "log.file", .type = CONF_STRING, .section = CONF_SEC_LOG, .flags = CONF_RELOAD,
     GLOBAL(log_file), .def = "",
     .desc = "Log file, appended to; used when log.to is file or both (reopened on SIGHUP)."},
    {.name = "log.to", .type = CONF_ENUM, .section = CONF_SEC_LOG, .flags = CONF_RELOAD,
     GLOBAL(log_to), .values = log_targets, .def = "console",
     .desc = "Where logs go: console (stderr), file (log.file) or both."},

    /* broker */
    {.name = "broker.sys_interval", .type = CONF_DURATION, .section = CONF_SEC_BROKER,
     .flags = CONF_RELOAD, GLOBAL(sys_interval_ms), .min = 0, .max = DAY, .scale = 1,
     .def = "1m", .desc = "How often the $SYS topics are published; 0 disables them."},
    {.name = "allow_anonymous", .type = CONF_ENUM, .section = CONF_SEC_BROKER,
     .flags = CONF_RELOAD, GLOBAL(allow_anonymous), .values = anon_modes, .def = "loopback",
     .desc = "Accept clients without a username: true, false, or loopback (only clients "
             "connecting over loopback)."},

    /* mqtt */
    {.name = "mqtt.max_packet_size", .type = CONF_SIZE, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_packet_size), .min = 16, .max = 256 * MB,
     .cap = 268435455, .def = "1MB",
     .desc = "Largest packet accepted from a client; 256MB means the MQTT maximum."},
    {.name = "mqtt.max_clientid_len", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_clientid_len), .min = 23, .max = 65535, .def = "65535",
     .desc = "Longest client identifier accepted."},
    {.name = "mqtt.max_topic_levels", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_topic_levels), .min = 0, .max = 65535, .def = "128",
     .desc = "Most levels in a topic name or filter; 0 is unlimited."},
    {.name = "mqtt.max_qos_allowed", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_qos_allowed), .min = 0, .max = 2, .def = "2",
     .desc = "Highest QoS accepted on publish and granted on subscribe."},
    {.name = "mqtt.max_topic_alias", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_topic_alias), .min = 0, .max = 65535, .def = "65535",
     .desc = "Topic aliases an MQTT 5 client may use towards the broker; 0 disables them."},
    {.name = "mqtt.retain_available", .type = CONF_BOOL, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(retain_available), .def = "true",
     .desc = "Whether clients may publish retained messages."},
    {.name = "mqtt.wildcard_subscription", .type = CONF_BOOL, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(wildcard_subscription), .def = "true",
     .desc = "Whether topic filters may contain the + and # wildcards."},
    {.name = "mqtt.shared_subscription", .type = CONF_BOOL, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(shared_subscription), .def = "true",
     .desc = "Whether $share/<group>/<filter> subscriptions are allowed."},
    {.name = "mqtt.server_keepalive", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(server_keepalive), .min = 0, .max = 65535, .def = "0",
     .desc = "Keep alive in seconds imposed on MQTT 5 clients; 0 honours the client's."},
    {.name = "mqtt.max_inflight", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_inflight), .min = 1, .max = 65535, .def = "32",
     .desc = "Unacknowledged QoS 1 and 2 messages in flight per session (also the broker's "
             "Receive Maximum)."},
    {.name = "mqtt.max_mqueue_len", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_mqueue_len), .min = 0, .max = UINT32_MAX, .def = "1000",
     .desc = "Messages queued per session beyond the inflight window or while offline; 0 is "
             "unlimited."},
    {.name = "mqtt.mqueue_store_qos0", .type = CONF_BOOL, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(mqueue_store_qos0), .def = "true",
     .desc = "Whether QoS 0 messages are queued for offline sessions too."},
    {.name = "mqtt.retry_interval", .type = CONF_DURATION, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(retry_interval_ms), .min = 100, .max = DAY, .scale = 1,
     .def = "30s", .desc = "Wait before an unacknowledged QoS 1 or 2 message is sent again."},
    {.name = "mqtt.max_awaiting_rel", .type = CONF_UINT, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(max_awaiting_rel), .min = 0, .max = 65535, .def = "100",
     .desc = "Incoming QoS 2 messages awaiting PUBREL per session; 0 is unlimited."},
    {.name = "mqtt.session_expiry_interval", .type = CONF_DURATION, .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD, GLOBAL(session_expiry_max), .min = 0, .max = UINT32_MAX * SEC,
     .scale = 1000, .def = "2h",
     .desc = "Longest session expiry a client may ask for; longer requests are cut to this."},

    /* retainer */
    {.name = "retainer.max_retained_messages", .type = CONF_UINT, .section = CONF_SEC_RETAINER,
     .flags = CONF_RELOAD, GLOBAL(max_retained), .min = 0, .max = UINT32_MAX, .def = "0",
     .desc = "Most retained messages kept; 0 is unlimited."},
    {.name = "retainer.max_payload_size", .type = CONF_SIZE, .section = CONF_SEC_RETAINER,
     .flags = CONF_RELOAD, GLOBAL(max_retained_payload), .min = 0, .max = 256 * MB,
     .def = "1MB", .desc = "Largest payload that is retained; 0 is unlimited."},

    /* persistence */
    {.name = "persistence.sync_interval", .type = CONF_DURATION,
     .section = CONF_SEC_PERSISTENCE, GLOBAL(sync_interval_ms), .min = 100, .max = HOUR,
     .scale = 1, .def = "1s",
     .desc = "How often the store is flushed to disk; writes since then survive a crash of "
             "moat but not of the OS."},

    /* listeners; the declaration is the entry named "" */
    {.name = "", .type = CONF_ADDRESS, .section = CONF_SEC_LISTENER, .flags = CONF_LISTENER,
     LISTENER(bind),
     .def = "", .desc = "Declares a listener on [ip:]port (a bare ip takes the type's port)."},
    {.name = "max_connections", .type = CONF_UINT, .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD, LISTENER(max_connections), .min = 1, .max = UINT32_MAX, .def = "1024000",
     .desc = "Most client connections on this listener."},
};
const size_t conf_n_options = sizeof conf_options / sizeof conf_options[0];

_Static_assert(sizeof conf_options / sizeof conf_options[0] <= CONF_MAX_OPTIONS,
               "raise CONF_MAX_OPTIONS");
