/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: defaults, every value type and unit, file syntax, listener
 * declarations, and the exact text of every error message (people read
 * them, scripts grep them). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "conf/conf.h"
#include "test.h"

static char err[1024];

/* Defaults, then the text as file "moat.conf". */
static moat_err load(moat_conf *c, const char *text)
{
    err[0] = '\0';
    moat_conf_defaults(c);
    return moat_conf_load_string(c, "moat.conf", text, err, sizeof err);
}

/* Loading text fails with exactly want. */
/* One configuration for every EXPECT_ERROR: a moat_conf is ~340 KB, and
 * one per expansion on the stack overflows it in the sanitizer build. */
static moat_conf expect_error_conf;
#define EXPECT_ERROR(text, want)                                                                   \
    do {                                                                                           \
        CHECK_EQ(load(&expect_error_conf, (text)), MOAT_EINVAL);                                   \
        if (strcmp(err, (want)) != 0)                                                              \
            fprintf(stderr, "  got:  %s\n  want: %s\n", err, (want));                              \
        CHECK_STR(err, (want));                                                                    \
    } while (0)

#define EXPECT_OK(c, text)                                                                         \
    do {                                                                                           \
        moat_err e_ = load((c), (text));                                                           \
        if (e_ != MOAT_OK)                                                                         \
            fprintf(stderr, "  unexpected error: %s\n", err);                                      \
        CHECK_EQ(e_, MOAT_OK);                                                                     \
    } while (0)

static void test_defaults(void)
{
    moat_conf c;
    moat_conf_defaults(&c);
    CHECK_STR(c.data_dir, "data");
    CHECK_EQ(c.workers, 0u);
    CHECK_EQ(c.max_connections, 1024000u);
    CHECK_EQ(c.log_level, MOAT_LOG_INFO);
    CHECK_STR(c.log_file, "");
    CHECK(c.log_to_console);
    CHECK_EQ(c.log_to, MOAT_LOG_TO_CONSOLE);
    CHECK_EQ(c.sys_interval_ms, 60000u);
    CHECK_EQ(c.allow_anonymous, MOAT_ANON_LOOPBACK);
    CHECK_EQ(c.max_packet_size, 1024u * 1024);
    CHECK_EQ(c.max_clientid_len, 65535u);
    CHECK_EQ(c.max_topic_levels, 128u);
    CHECK_EQ(c.max_qos_allowed, 2);
    CHECK_EQ(c.max_topic_alias, 65535);
    CHECK(c.retain_available);
    CHECK(c.wildcard_subscription);
    CHECK(c.shared_subscription);
    CHECK_EQ(c.server_keepalive, 0);
    CHECK_EQ(c.max_inflight, 32);
    CHECK_EQ(c.max_mqueue_len, 1000u);
    CHECK(c.mqueue_store_qos0);
    CHECK_EQ(c.retry_interval_ms, 30000u);
    CHECK_EQ(c.max_awaiting_rel, 100u);
    CHECK_EQ(c.session_expiry_max, 7200u);
    CHECK_EQ(c.max_retained, 0u);
    CHECK_EQ(c.max_retained_payload, 1024u * 1024);
    CHECK_EQ(c.sync_interval_ms, 1000u);
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_STR(c.listeners[0].type, "tcp");
    CHECK_STR(c.listeners[0].name, "default");
    CHECK_STR(c.listeners[0].bind, "0.0.0.0");
    CHECK_EQ(c.listeners[0].port, 1883);
    CHECK_EQ(c.listeners[0].max_connections, 1024000u);
    CHECK(c.listeners[0].declared);
    /* An empty file and a file of comments change nothing. */
    moat_conf d;
    EXPECT_OK(&d, "");
    CHECK_EQ(d.n_listeners, 1u);
    EXPECT_OK(&d, "# only a comment\n\n   \n\t# indented comment\n");
    CHECK_EQ(d.max_packet_size, c.max_packet_size);
}

static void test_helpers(void)
{
    uint64_t v;
    bool b;
    CHECK(moat_conf_parse_size("1MB", &v) == MOAT_OK && v == 1048576);
    CHECK(moat_conf_parse_size("512KB", &v) == MOAT_OK && v == 524288);
    CHECK(moat_conf_parse_size("1024", &v) == MOAT_OK && v == 1024);
    CHECK(moat_conf_parse_size("1GB", &v) == MOAT_OK && v == 1073741824);
    CHECK(moat_conf_parse_size("1gb", &v) == MOAT_OK && v == 1073741824);
    CHECK(moat_conf_parse_size("1M", &v) == MOAT_OK && v == 1048576);
    CHECK(moat_conf_parse_size("2k", &v) == MOAT_OK && v == 2048);
    CHECK(moat_conf_parse_size("7B", &v) == MOAT_OK && v == 7);
    CHECK(moat_conf_parse_size("1 MB", &v) == MOAT_OK && v == 1048576);
    CHECK(moat_conf_parse_size("0", &v) == MOAT_OK && v == 0);
    CHECK_EQ(moat_conf_parse_size("", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_size("MB", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_size("1.5MB", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_size("-1", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_size("12XB", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_size("1MB2", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_size("99999999999999999999", &v), MOAT_ELIMIT);
    CHECK_EQ(moat_conf_parse_size("17179869184GB", &v), MOAT_ELIMIT);

    CHECK(moat_conf_parse_duration_ms("15s", &v) == MOAT_OK && v == 15000);
    CHECK(moat_conf_parse_duration_ms("1m", &v) == MOAT_OK && v == 60000);
    CHECK(moat_conf_parse_duration_ms("2h", &v) == MOAT_OK && v == 7200000);
    CHECK(moat_conf_parse_duration_ms("100ms", &v) == MOAT_OK && v == 100);
    CHECK(moat_conf_parse_duration_ms("1d", &v) == MOAT_OK && v == 86400000);
    CHECK(moat_conf_parse_duration_ms("30", &v) == MOAT_OK && v == 30000);
    CHECK(moat_conf_parse_duration_ms("1h30m", &v) == MOAT_OK && v == 5400000);
    CHECK(moat_conf_parse_duration_ms("1m 30s", &v) == MOAT_OK && v == 90000);
    CHECK(moat_conf_parse_duration_ms("2S", &v) == MOAT_OK && v == 2000);
    CHECK(moat_conf_parse_duration_ms("0", &v) == MOAT_OK && v == 0);
    CHECK_EQ(moat_conf_parse_duration_ms("", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_duration_ms("1h30", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_duration_ms("30 40", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_duration_ms("5x", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_duration_ms("s", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_duration_ms("1.5s", &v), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_duration_ms("213503982335d", &v), MOAT_ELIMIT);

    CHECK(moat_conf_parse_bool("true", &b) == MOAT_OK && b);
    CHECK(moat_conf_parse_bool("on", &b) == MOAT_OK && b);
    CHECK(moat_conf_parse_bool("yes", &b) == MOAT_OK && b);
    CHECK(moat_conf_parse_bool("TRUE", &b) == MOAT_OK && b);
    CHECK(moat_conf_parse_bool("false", &b) == MOAT_OK && !b);
    CHECK(moat_conf_parse_bool("off", &b) == MOAT_OK && !b);
    CHECK(moat_conf_parse_bool("no", &b) == MOAT_OK && !b);
    CHECK_EQ(moat_conf_parse_bool("", &b), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_bool("1", &b), MOAT_EINVAL);
    CHECK_EQ(moat_conf_parse_bool("maybe", &b), MOAT_EINVAL);
}

static void test_every_key(void)
{
    moat_conf c;
    EXPECT_OK(&c, "node.data_dir = /var/lib/moat\n"
                  "node.workers = 8\n"
                  "node.max_connections = 5000\n"
                  "log.level = debug\n"
                  "log.file = /tmp/moat.log\n"
                  "log.to = both\n"
                  "broker.sys_interval = 15s\n"
                  "allow_anonymous = false\n"
                  "mqtt.max_packet_size = 512KB\n"
                  "mqtt.max_clientid_len = 23\n"
                  "mqtt.max_topic_levels = 0\n"
                  "mqtt.max_qos_allowed = 1\n"
                  "mqtt.max_topic_alias = 10\n"
                  "mqtt.retain_available = off\n"
                  "mqtt.wildcard_subscription = no\n"
                  "mqtt.shared_subscription = false\n"
                  "mqtt.server_keepalive = 60\n"
                  "mqtt.max_inflight = 65535\n"
                  "mqtt.max_mqueue_len = 0\n"
                  "mqtt.mqueue_store_qos0 = false\n"
                  "mqtt.retry_interval = 100ms\n"
                  "mqtt.max_awaiting_rel = 0\n"
                  "mqtt.session_expiry_interval = 1d\n"
                  "retainer.max_retained_messages = 100000\n"
                  "retainer.max_payload_size = 64KB\n"
                  "persistence.sync_interval = 5s\n");
    CHECK_STR(c.data_dir, "/var/lib/moat");
    CHECK_EQ(c.workers, 8u);
    CHECK_EQ(c.max_connections, 5000u);
    CHECK_EQ(c.log_level, MOAT_LOG_DEBUG);
    CHECK_STR(c.log_file, "/tmp/moat.log");
    CHECK_EQ(c.log_to, MOAT_LOG_TO_BOTH);
    CHECK(c.log_to_console);
    CHECK_EQ(c.sys_interval_ms, 15000u);
    CHECK_EQ(c.allow_anonymous, MOAT_ANON_FALSE);
    CHECK_EQ(c.max_packet_size, 512u * 1024);
    CHECK_EQ(c.max_clientid_len, 23u);
    CHECK_EQ(c.max_topic_levels, 0u);
    CHECK_EQ(c.max_qos_allowed, 1);
    CHECK_EQ(c.max_topic_alias, 10);
    CHECK(!c.retain_available);
    CHECK(!c.wildcard_subscription);
    CHECK(!c.shared_subscription);
    CHECK_EQ(c.server_keepalive, 60);
    CHECK_EQ(c.max_inflight, 65535);
    CHECK_EQ(c.max_mqueue_len, 0u);
    CHECK(!c.mqueue_store_qos0);
    CHECK_EQ(c.retry_interval_ms, 100u);
    CHECK_EQ(c.max_awaiting_rel, 0u);
    CHECK_EQ(c.session_expiry_max, 86400u);
    CHECK_EQ(c.max_retained, 100000u);
    CHECK_EQ(c.max_retained_payload, 64u * 1024);
    CHECK_EQ(c.sync_interval_ms, 5000u);
    CHECK_EQ(c.n_listeners, 1u); /* no declaration: the built-in listener stays */
}

static void test_enums(void)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", MOAT_LOG_DEBUG},    {"info", MOAT_LOG_INFO},
                  {"notice", MOAT_LOG_NOTICE},  {"warning", MOAT_LOG_WARNING},
                  {"error", MOAT_LOG_ERROR},    {"none", MOAT_LOG_NONE},
                  {"WARNING", MOAT_LOG_WARNING}};
    moat_conf c;
    char text[100];
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        snprintf(text, sizeof text, "log.level = %s\n", levels[i].name);
        EXPECT_OK(&c, text);
        CHECK_EQ(c.log_level, levels[i].level);
    }
    EXPECT_OK(&c, "allow_anonymous = true");
    CHECK_EQ(c.allow_anonymous, MOAT_ANON_TRUE);
    EXPECT_OK(&c, "allow_anonymous = loopback");
    CHECK_EQ(c.allow_anonymous, MOAT_ANON_LOOPBACK);
    CHECK_STR(moat_anon_name(MOAT_ANON_LOOPBACK), "loopback");
    CHECK_STR(moat_anon_name(MOAT_ANON_TRUE), "true");
    CHECK_STR(moat_anon_name(MOAT_ANON_FALSE), "false");

    /* log.to: log_to_console follows; console drops log.file. */
    EXPECT_OK(&c, "log.to = file\nlog.file = /tmp/x.log");
    CHECK_EQ(c.log_to, MOAT_LOG_TO_FILE);
    CHECK(!c.log_to_console);
    CHECK_STR(c.log_file, "/tmp/x.log");
    EXPECT_OK(&c, "log.file = /tmp/x.log\nlog.to = console");
    CHECK(c.log_to_console);
    CHECK_STR(c.log_file, "");
}

static void test_limits(void)
{
    moat_conf c;
    /* 256MB reads as the round limit but stores the MQTT maximum. */
    EXPECT_OK(&c, "mqtt.max_packet_size = 256MB");
    CHECK_EQ(c.max_packet_size, 268435455u);
    EXPECT_OK(&c, "mqtt.max_packet_size = 268435455");
    CHECK_EQ(c.max_packet_size, 268435455u);
    EXPECT_OK(&c, "mqtt.max_packet_size = 16");
    CHECK_EQ(c.max_packet_size, 16u);
    EXPECT_OK(&c, "mqtt.session_expiry_interval = 4294967295");
    CHECK_EQ(c.session_expiry_max, 4294967295u);
    EXPECT_OK(&c, "mqtt.session_expiry_interval = 0");
    CHECK_EQ(c.session_expiry_max, 0u);
    EXPECT_OK(&c, "broker.sys_interval = 0");
    CHECK_EQ(c.sys_interval_ms, 0u);
    EXPECT_OK(&c, "node.workers = 256\nnode.max_connections = 4294967295");
    CHECK_EQ(c.workers, 256u);
    CHECK_EQ(c.max_connections, 4294967295u);
    EXPECT_OK(&c, "mqtt.max_qos_allowed = 0");
    CHECK_EQ(c.max_qos_allowed, 0);
}

static void test_syntax(void)
{
    moat_conf c;
    /* Quotes keep '#' and blanks; a comment may follow them. */
    EXPECT_OK(&c, "log.file = \"/tmp/a #1.log\"   # where\n"
                  "node.data_dir = \" spaced \"");
    CHECK_STR(c.log_file, "");
    CHECK_STR(c.data_dir, " spaced ");
    EXPECT_OK(&c, "log.to = both\nlog.file = \"/tmp/a #1.log\"#c\n");
    CHECK_STR(c.log_file, "/tmp/a #1.log");
    /* '#' starts a comment only after a blank. */
    EXPECT_OK(&c, "node.data_dir = d#x\nmqtt.max_inflight = 64   # per session\n");
    CHECK_STR(c.data_dir, "d#x");
    CHECK_EQ(c.max_inflight, 64);
    EXPECT_OK(&c, "node.data_dir = dir\t# tab before the comment");
    CHECK_STR(c.data_dir, "dir");
    /* Blanks, CRLF, a byte order mark, no final newline, key=value tight. */
    EXPECT_OK(&c, "\xEF\xBB\xBF"
                  "  mqtt.max_inflight=7  \r\n\tlog.level\t=\twarning\r\nmqtt.max_qos_allowed = 1");
    CHECK_EQ(c.max_inflight, 7);
    CHECK_EQ(c.log_level, MOAT_LOG_WARNING);
    CHECK_EQ(c.max_qos_allowed, 1);
    /* Empty strings, quoted or not; '=' inside a value. */
    EXPECT_OK(&c, "log.file = /x\nlog.file =\n");
    CHECK_STR(c.log_file, "");
    EXPECT_OK(&c, "log.file = \"\"\n");
    CHECK_STR(c.log_file, "");
    EXPECT_OK(&c, "node.data_dir = a=b\n");
    CHECK_STR(c.data_dir, "a=b");
    /* Later lines win; units in any case and with a blank. */
    EXPECT_OK(&c, "mqtt.max_packet_size = 1MB\nmqtt.max_packet_size = 2 mb\n");
    CHECK_EQ(c.max_packet_size, 2u * 1024 * 1024);
    EXPECT_OK(&c, "mqtt.retry_interval = \"1m\"\n");
    CHECK_EQ(c.retry_interval_ms, 60000u);
}

static void test_listeners(void)
{
    moat_conf c;
    /* A declaration replaces the built-in listener. */
    EXPECT_OK(&c, "listener.tcp.external = 0.0.0.0:1884\n");
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_STR(c.listeners[0].name, "external");
    CHECK_STR(c.listeners[0].type, "tcp");
    CHECK_STR(c.listeners[0].bind, "0.0.0.0");
    CHECK_EQ(c.listeners[0].port, 1884);
    CHECK_EQ(c.listeners[0].max_connections, 1024000u);
    CHECK_STR(c.listeners[0].origin, "moat.conf:1");

    /* Port only, ip:port, [v6]:port, bare ip (default port), bare [v6]. */
    EXPECT_OK(&c, "listener.tcp.a = 1880\n"
                  "listener.tcp.b = 127.0.0.1:2000\n"
                  "listener.tcp.c = [::1]:2001\n"
                  "listener.tcp.d = 10.1.2.3\n"
                  "listener.tcp.e = [::0:2]\n"
                  "listener.tcp.Name_with-dash9 = 2002\n");
    CHECK_EQ(c.n_listeners, 6u);
    CHECK(!strcmp(c.listeners[0].bind, "0.0.0.0") && c.listeners[0].port == 1880);
    CHECK(!strcmp(c.listeners[1].bind, "127.0.0.1") && c.listeners[1].port == 2000);
    CHECK(!strcmp(c.listeners[2].bind, "::1") && c.listeners[2].port == 2001);
    CHECK(!strcmp(c.listeners[3].bind, "10.1.2.3") && c.listeners[3].port == 1883);
    CHECK(!strcmp(c.listeners[4].bind, "::2") && c.listeners[4].port == 1883);
    CHECK_STR(c.listeners[5].name, "Name_with-dash9");

    /* An option may come before its declaration. */
    EXPECT_OK(&c, "listener.tcp.ext.max_connections = 10\nlistener.tcp.ext = 1884\n");
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_EQ(c.listeners[0].max_connections, 10u);
    CHECK_EQ(c.listeners[0].port, 1884);
    CHECK(c.listeners[0].declared);
    CHECK_STR(c.listeners[0].origin, "moat.conf:2");

    /* Tuning the built-in listener keeps it; re-declaring it keeps options. */
    EXPECT_OK(&c, "listener.tcp.default.max_connections = 5\n");
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_EQ(c.listeners[0].max_connections, 5u);
    CHECK_EQ(c.listeners[0].port, 1883);
    EXPECT_OK(&c, "listener.tcp.default.max_connections = 5\nlistener.tcp.default = 1999\n");
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_EQ(c.listeners[0].max_connections, 5u);
    CHECK_EQ(c.listeners[0].port, 1999);

    /* A re-declaration moves the listener; it does not clash with itself. */
    EXPECT_OK(&c, "listener.tcp.a = 1883\nlistener.tcp.a = 1884\n");
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_EQ(c.listeners[0].port, 1884);

    /* Different families or ports do not clash. */
    EXPECT_OK(&c, "listener.tcp.v4 = 0.0.0.0:1883\nlistener.tcp.v6 = [::]:1883\n"
                  "listener.tcp.other = 127.0.0.1:1884\n");
    CHECK_EQ(c.n_listeners, 3u);

    /* A second file adds to the first one's listeners. */
    EXPECT_OK(&c, "listener.tcp.one = 1883\n");
    CHECK_EQ(moat_conf_load_string(&c, "two.conf", "listener.tcp.two = 1884\n", err, sizeof err),
             MOAT_OK);
    CHECK_EQ(c.n_listeners, 2u);

    /* Up to MOAT_CONF_MAX_LISTENERS. */
    char text[4096] = "";
    for (int i = 0; i < MOAT_CONF_MAX_LISTENERS; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "listener.tcp.l%d = %d\n", i, 2000 + i);
    }
    EXPECT_OK(&c, text);
    CHECK_EQ(c.n_listeners, (uint32_t)MOAT_CONF_MAX_LISTENERS);
    strcat(text, "listener.tcp.extra = 3000\n");
    EXPECT_ERROR(text,
                 "moat.conf:33: listener.tcp.extra: too many listeners (expected at most 32)");
}

static void test_value_errors(void)
{
    EXPECT_ERROR("\n\nmqtt.max_packet_size = 12XB\n",
                 "moat.conf:3: mqtt.max_packet_size: \"12XB\" is not a size (expected a number "
                 "with an optional unit B, KB, MB or GB, at most 256MB)");
    EXPECT_ERROR("mqtt.max_packet_size = 257MB",
                 "moat.conf:1: mqtt.max_packet_size: \"257MB\" is out of range (expected a size "
                 "from 16B to 256MB)");
    EXPECT_ERROR("mqtt.max_packet_size = 15",
                 "moat.conf:1: mqtt.max_packet_size: \"15\" is out of range (expected a size from "
                 "16B to 256MB)");
    EXPECT_ERROR("mqtt.max_packet_size = 99999999999999999999999",
                 "moat.conf:1: mqtt.max_packet_size: \"99999999999999999999999\" is out of range "
                 "(expected a size from 16B to 256MB)");
    EXPECT_ERROR("broker.sys_interval = 5x",
                 "moat.conf:1: broker.sys_interval: \"5x\" is not a duration (expected a number "
                 "with an optional unit ms, s, m, h or d, at most 1d)");
    EXPECT_ERROR("broker.sys_interval = 2d",
                 "moat.conf:1: broker.sys_interval: \"2d\" is out of range (expected a duration "
                 "from 0 to 1d)");
    EXPECT_ERROR("mqtt.retry_interval = 10ms",
                 "moat.conf:1: mqtt.retry_interval: \"10ms\" is out of range (expected a "
                 "duration from 100ms to 1d)");
    EXPECT_ERROR("mqtt.session_expiry_interval = 1500ms",
                 "moat.conf:1: mqtt.session_expiry_interval: \"1500ms\" is not a whole number of "
                 "seconds (expected a duration such as 90s)");
    EXPECT_ERROR("node.workers = many",
                 "moat.conf:1: node.workers: \"many\" is not a whole number (expected a whole "
                 "number from 0 to 256)");
    EXPECT_ERROR("node.workers = -1",
                 "moat.conf:1: node.workers: \"-1\" is not a whole number (expected a whole "
                 "number from 0 to 256)");
    EXPECT_ERROR("node.workers = 257",
                 "moat.conf:1: node.workers: \"257\" is out of range (expected a whole number "
                 "from 0 to 256)");
    EXPECT_ERROR("mqtt.max_qos_allowed = 3",
                 "moat.conf:1: mqtt.max_qos_allowed: \"3\" is out of range (expected a whole "
                 "number from 0 to 2)");
    EXPECT_ERROR("mqtt.max_inflight = 0",
                 "moat.conf:1: mqtt.max_inflight: \"0\" is out of range (expected a whole number "
                 "from 1 to 65535)");
    EXPECT_ERROR("mqtt.max_clientid_len = 22",
                 "moat.conf:1: mqtt.max_clientid_len: \"22\" is out of range (expected a whole "
                 "number from 23 to 65535)");
    EXPECT_ERROR("mqtt.retain_available = maybe",
                 "moat.conf:1: mqtt.retain_available: \"maybe\" is not a boolean (expected true, "
                 "false, on, off, yes or no)");
    EXPECT_ERROR("log.level = verbose",
                 "moat.conf:1: log.level: \"verbose\" is not a valid value (expected one of "
                 "debug, info, notice, warning, error, none)");
    EXPECT_ERROR("allow_anonymous = sometimes",
                 "moat.conf:1: allow_anonymous: \"sometimes\" is not a valid value (expected one "
                 "of loopback, true, false)");
    EXPECT_ERROR("log.to = syslog",
                 "moat.conf:1: log.to: \"syslog\" is not a valid value (expected one of console, "
                 "file, both)");
    EXPECT_ERROR("node.data_dir =",
                 "moat.conf:1: node.data_dir: an empty value is not allowed (expected a "
                 "non-empty string)");
    char text[1200] = "node.data_dir = ";
    memset(text + strlen(text), 'x', 600);
    EXPECT_ERROR(text, "moat.conf:1: node.data_dir: "
                       "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" "
                       "is too long (expected at most 511 characters)");
    EXPECT_ERROR("mqtt.max_inflight = \"64", "moat.conf:1: mqtt.max_inflight: unterminated quote "
                                             "(expected a closing \")");
    EXPECT_ERROR("mqtt.max_inflight = \"64\" 65",
                 "moat.conf:1: mqtt.max_inflight: text after the closing quote (expected only a "
                 "# comment)");
    EXPECT_ERROR("mqtt.max_inflight = 64# no blank before the hash",
                 "moat.conf:1: mqtt.max_inflight: \"64# no blank before the hash\" is not a whole "
                 "number (expected a whole number from 1 to 65535)");
    /* Control characters are not echoed raw. */
    EXPECT_ERROR("log.level = a\x01"
                 "b",
                 "moat.conf:1: log.level: \"a?b\" is not a valid value (expected one of debug, "
                 "info, notice, warning, error, none)");
    EXPECT_ERROR("log.to = file\n",
                 "moat.conf:1: log.to: file needs log.file (expected log.file = <path>, or log.to "
                 "= console)");
    EXPECT_ERROR("log.to = both\nlog.to = both\n",
                 "moat.conf:2: log.to: both needs log.file (expected log.file = <path>, or log.to "
                 "= console)");
}

static void test_line_errors(void)
{
    EXPECT_ERROR("# comment\nfoo bar\n", "moat.conf:2: \"foo bar\": not a key = value line");
    EXPECT_ERROR("= 5\n", "moat.conf:1: \"= 5\": not a key = value line");
    EXPECT_ERROR("\n\n\n\n\n\nmqtt.max_packt_size = 1MB\n",
                 "moat.conf:7: mqtt.max_packt_size: unknown key (did you mean "
                 "mqtt.max_packet_size?)");
    EXPECT_ERROR("log.levl = info", "moat.conf:1: log.levl: unknown key (did you mean log.level?)");
    EXPECT_ERROR("allow_anonymus = true",
                 "moat.conf:1: allow_anonymus: unknown key (did you mean allow_anonymous?)");
    /* Right name, wrong section. */
    EXPECT_ERROR("max_packet_size = 1MB",
                 "moat.conf:1: max_packet_size: unknown key (did you mean mqtt.max_packet_size?)");
    EXPECT_ERROR("zone.external.max_inflight = 1",
                 "moat.conf:1: zone.external.max_inflight: unknown key (did you mean "
                 "mqtt.max_inflight?)");
    EXPECT_ERROR("completely.different = 1",
                 "moat.conf:1: completely.different: unknown key (expected a key listed by moat "
                 "--help-config)");
    EXPECT_ERROR("x = 1", "moat.conf:1: x: unknown key (expected a key listed by moat "
                          "--help-config)");
}

static void test_listener_errors(void)
{
    EXPECT_ERROR("listener.tcp.ext.max_conections = 5\n",
                 "moat.conf:1: listener.tcp.ext.max_conections: unknown key (did you mean "
                 "listener.tcp.ext.max_connections?)");
    EXPECT_ERROR("listner.tcp.ext = 1883\n",
                 "moat.conf:1: listner.tcp.ext: unknown key (did you mean listener.tcp.ext?)");
    EXPECT_ERROR("listener.tcp.ext. = 1883\n",
                 "moat.conf:1: listener.tcp.ext.: unknown key (did you mean listener.tcp.ext?)");
    EXPECT_ERROR("a = 1\nlistener.tcp.foo.max_connections = 5\nb.c = 2\n",
                 "moat.conf:1: a: unknown key (expected a key listed by moat --help-config)");
    EXPECT_ERROR("node.workers = 1\nlistener.tcp.foo.max_connections = 5\n",
                 "moat.conf:2: listener.tcp.foo.max_connections: set but listener.tcp.foo is not "
                 "declared (expected a line listener.tcp.foo = [ip:]port)");
    /* The built-in listener is gone once the file declares another. */
    EXPECT_ERROR("listener.tcp.ext = 1884\nlistener.tcp.default.max_connections = 5\n",
                 "moat.conf:2: listener.tcp.default.max_connections: set but "
                 "listener.tcp.default is not declared (expected a line listener.tcp.default = "
                 "[ip:]port)");
    EXPECT_ERROR("listener.wss.ext.max_connections = 1\n",
                 "moat.conf:1: listener.wss.ext.max_connections: set but listener.wss.ext is not "
                 "declared (expected a line listener.wss.ext = [ip:]port)");
    EXPECT_ERROR("listener.udp.ext = 1883\n",
                 "moat.conf:1: listener.udp.ext: unknown listener "
                 "type 'udp' (expected tcp, ssl, ws, wss, http, https)");
    EXPECT_ERROR("listener.ws.ext = 8083\nlistener.ws.ext.mqtt_path = mqtt\n",
                 "moat.conf:2: listener.ws.ext.mqtt_path: 'mqtt' is not a URL path (expected a "
                 "path such as /mqtt: it starts with /, has no blanks, ? or #)");
    EXPECT_ERROR("listener.ws.ext = 8083\nlistener.ws.ext.trusted_proxies = 10.0.0.0/33\n",
                 "moat.conf:2: listener.ws.ext.trusted_proxies: '10.0.0.0/33': prefix length "
                 "over 32 (expected addresses or networks such as 10.0.0.0/8, 192.168.1.7, "
                 "fd00::/8, separated by commas)");
    EXPECT_ERROR("listener.tcp.ext = 1883\nlistener.tcp.ext.mqtt_path = /mqtt\n",
                 "moat.conf:2: listener.tcp.ext.mqtt_path: not an option of tcp listeners "
                 "(expected it on a listener of type ws, wss)");
    EXPECT_ERROR("listener.ws.ext = 8083\nlistener.ws.ext.check_origins = good.example\n",
                 "moat.conf:2: listener.ws.ext.check_origins: 'good.example' is not an origin "
                 "(expected scheme://host[:port] such as https://app.example.com, separated by "
                 "commas)");
    EXPECT_ERROR("listener.tcp.ext = 1883\nlistener.tcp.ext.certfile = a.pem\n",
                 "moat.conf:2: listener.tcp.ext.certfile: not an option of tcp listeners "
                 "(expected it on a listener of type ssl, wss, https)");
    EXPECT_ERROR("listener.tcp = 1883\n",
                 "moat.conf:1: listener.tcp: missing listener name (expected "
                 "listener.tcp.<name> = [ip:]port)");
    EXPECT_ERROR("listener.tcp.b@d = 1883\n",
                 "moat.conf:1: listener.tcp.b@d: invalid listener name 'b@d' (expected 1 to 63 of "
                 "A-Z, a-z, 0-9, '_' and '-')");
    EXPECT_ERROR("listener.tcp..max_connections = 1\n",
                 "moat.conf:1: listener.tcp..max_connections: invalid listener name '' (expected "
                 "1 to 63 of A-Z, a-z, 0-9, '_' and '-')");
    char text[200];
    snprintf(text, sizeof text, "listener.tcp.%064d = 1883\n", 0);
    EXPECT_ERROR(text, "moat.conf:1: listener.tcp."
                       "0000000000000000000000000000000000000000000000000000000000000000: "
                       "invalid listener name "
                       "'0000000000000000000000000000000000000000000000000000000000000000' "
                       "(expected 1 to 63 of A-Z, a-z, 0-9, '_' and '-')");
    static const char *const bad[] = {
        "0",          "65536",     "abc",           "1.2.3.4:",   ":1883",
        "::1",        "::1:1883",  "[::1]1883",     "[::1",       "[1.2.3.4]:1883",
        "1.2.3:1883", "host:1883", "1.2.3.4:99999", "1.2.3.4:-1", "1.2.3.4:1883:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[300];
        snprintf(text, sizeof text, "listener.tcp.x = %s", bad[i]);
        snprintf(want, sizeof want,
                 "moat.conf:1: listener.tcp.x: \"%s\" is not a listener address (expected "
                 "[ip:]port, e.g. 1883, 127.0.0.1:1883 or [::1]:1883)",
                 bad[i]);
        EXPECT_ERROR(text, want);
    }
    EXPECT_ERROR("listener.tcp.a = 1883\nlistener.tcp.b = 0.0.0.0:1883\n",
                 "moat.conf:2: listener.tcp.b: \"0.0.0.0:1883\" clashes with listener.tcp.a on "
                 "0.0.0.0:1883 (moat.conf:1) (expected an address no other listener uses)");
    EXPECT_ERROR("listener.tcp.a = 1883\nlistener.tcp.b = 127.0.0.1:1883\n",
                 "moat.conf:2: listener.tcp.b: \"127.0.0.1:1883\" clashes with listener.tcp.a on "
                 "0.0.0.0:1883 (moat.conf:1) (expected an address no other listener uses)");
    EXPECT_ERROR("listener.tcp.a = [::1]:1883\nlistener.tcp.b = [::]:1883\n",
                 "moat.conf:2: listener.tcp.b: \"[::]:1883\" clashes with listener.tcp.a on "
                 "[::1]:1883 (moat.conf:1) (expected an address no other listener uses)");
    EXPECT_ERROR("listener.tcp.a.max_connections = 0\nlistener.tcp.a = 1\n",
                 "moat.conf:1: listener.tcp.a.max_connections: \"0\" is out of range (expected a "
                 "whole number from 1 to 4294967295)");
}

/* A failed load leaves the configuration as it was. */
static void test_atomic(void)
{
    moat_conf c, before;
    moat_conf_defaults(&c);
    before = c;
    CHECK_EQ(moat_conf_load_string(&c, "x.conf",
                                   "mqtt.max_inflight = 5\nlistener.tcp.a = 1\nnope = 1\n", err,
                                   sizeof err),
             MOAT_EINVAL);
    CHECK_STR(err, "x.conf:3: nope: unknown key (expected a key listed by moat --help-config)");
    CHECK_MEM(&c, &before, sizeof c);
}

static void test_set_direct(void)
{
    moat_conf c;
    moat_conf_defaults(&c);
    CHECK_EQ(moat_conf_set(&c, "mqtt.max_inflight", "9", NULL, err, sizeof err), MOAT_OK);
    CHECK_EQ(c.max_inflight, 9);
    CHECK_EQ(moat_conf_set(&c, "mqtt.max_inflight", "x", NULL, err, sizeof err), MOAT_EINVAL);
    CHECK_STR(err, "mqtt.max_inflight: \"x\" is not a whole number (expected a whole number from "
                   "1 to 65535)");
    CHECK_EQ(moat_conf_set(&c, "mqtt.max_inflight", "x", "--set", err, sizeof err), MOAT_EINVAL);
    CHECK_STR(err, "--set: mqtt.max_inflight: \"x\" is not a whole number (expected a whole "
                   "number from 1 to 65535)");
    CHECK_EQ(c.max_inflight, 9);
    /* NULL or tiny error buffers are fine. */
    CHECK_EQ(moat_conf_set(&c, "bogus", "1", NULL, NULL, 0), MOAT_EINVAL);
    char small[8];
    CHECK_EQ(moat_conf_set(&c, "bogus", "1", NULL, small, sizeof small), MOAT_EINVAL);
    CHECK_STR(small, "bogus: ");
    /* An option alone leaves an undeclared listener that validate rejects. */
    CHECK_EQ(moat_conf_set(&c, "listener.tcp.z.max_connections", "3", "cli", err, sizeof err),
             MOAT_OK);
    CHECK_EQ(moat_conf_validate(&c, err, sizeof err), MOAT_EINVAL);
    CHECK_STR(err, "cli: listener.tcp.z.max_connections: set but listener.tcp.z is not declared "
                   "(expected a line listener.tcp.z = [ip:]port)");
    CHECK_EQ(moat_conf_set(&c, "listener.tcp.z", "127.0.0.1:9", "cli", err, sizeof err), MOAT_OK);
    CHECK_EQ(moat_conf_validate(&c, err, sizeof err), MOAT_OK);
    CHECK_EQ(c.n_listeners, 1u);
    CHECK_EQ(c.listeners[0].max_connections, 3u);
    CHECK_EQ(moat_conf_set(&c, "log.to", "file", NULL, err, sizeof err), MOAT_OK);
    CHECK_EQ(moat_conf_validate(&c, err, sizeof err), MOAT_EINVAL);
    CHECK_STR(err, "log.to: file needs log.file (expected log.file = <path>, or log.to = "
                   "console)");
}

static char *capture(void (*fn)(FILE *, const moat_conf *), const moat_conf *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, c);
    fclose(f);
    return buf;
}

static void dump_fn(FILE *f, const moat_conf *c)
{
    moat_conf_dump(c, f);
}
static void help_fn(FILE *f, const moat_conf *c)
{
    (void)c;
    moat_conf_print_help(f);
}
static void md_fn(FILE *f, const moat_conf *c)
{
    (void)c;
    moat_conf_print_markdown(f);
}

/* The dump loads back to the same configuration. */
static void test_dump(void)
{
    moat_conf c, d;
    EXPECT_OK(&c, "node.data_dir = \"a dir # with hash\"\nlog.to = both\nlog.file = /tmp/l\n"
                  "mqtt.max_packet_size = 256MB\nmqtt.retry_interval = 1500ms\n"
                  "mqtt.session_expiry_interval = 90m\nallow_anonymous = true\n"
                  "listener.tcp.v6 = [::1]:1900\nlistener.tcp.v6.max_connections = 7\n"
                  "listener.tcp.v4 = 127.0.0.1\n");
    char *a = capture(dump_fn, &c);
    CHECK(strstr(a, "node.data_dir = \"a dir # with hash\"\n") != NULL);
    CHECK(strstr(a, "mqtt.retry_interval = 1500ms\n") != NULL);
    CHECK(strstr(a, "mqtt.session_expiry_interval = 90m\n") != NULL);
    CHECK(strstr(a, "listener.tcp.v6 = [::1]:1900\n") != NULL);
    CHECK(strstr(a, "listener.tcp.v6.max_connections = 7\n") != NULL);
    CHECK(strstr(a, "listener.tcp.v4 = 127.0.0.1:1883\n") != NULL);
    EXPECT_OK(&d, a);
    char *b = capture(dump_fn, &d);
    CHECK_STR(a, b);
    free(a);
    free(b);
    /* The defaults' dump loads back to the defaults. */
    moat_conf_defaults(&c);
    a = capture(dump_fn, &c);
    CHECK(strstr(a, "listener.tcp.default = 0.0.0.0:1883\n") != NULL);
    EXPECT_OK(&d, a);
    CHECK_EQ(d.n_listeners, 1u);
    b = capture(dump_fn, &d);
    CHECK_STR(a, b);
    free(a);
    free(b);
}

static void test_docs(void)
{
    static const char *const keys[] = {
        "node.data_dir",
        "node.workers",
        "node.max_connections",
        "log.level",
        "log.file",
        "log.to",
        "broker.sys_interval",
        "allow_anonymous",
        "mqtt.max_packet_size",
        "mqtt.max_clientid_len",
        "mqtt.max_topic_levels",
        "mqtt.max_qos_allowed",
        "mqtt.max_topic_alias",
        "mqtt.retain_available",
        "mqtt.wildcard_subscription",
        "mqtt.shared_subscription",
        "mqtt.server_keepalive",
        "mqtt.max_inflight",
        "mqtt.max_mqueue_len",
        "mqtt.mqueue_store_qos0",
        "mqtt.retry_interval",
        "mqtt.max_awaiting_rel",
        "mqtt.session_expiry_interval",
        "retainer.max_retained_messages",
        "retainer.max_payload_size",
        "persistence.sync_interval",
        "listener.<type>.<name>",
        "listener.<type>.<name>.max_connections",
        "listener.{ssl,wss,https}.<name>.certfile",
        "listener.{tcp,ssl,ws,wss}.<name>.peer_cert_as_username",
        "listener.{ws,wss}.<name>.mqtt_path",
        "listener.{tcp,ssl,ws,wss}.<name>.proxy_protocol",
    };
    char *help = capture(help_fn, NULL), *md = capture(md_fn, NULL);
    char cell[100];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK(strstr(help, keys[i]) != NULL);
        snprintf(cell, sizeof cell, "| `%s` |", keys[i]);
        if (!strstr(md, cell))
            fprintf(stderr, "  markdown lacks %s\n", cell);
        CHECK(strstr(md, cell) != NULL);
    }
    CHECK(strstr(help, "mqtt.max_packet_size  (size, 16B to 256MB; default 1MB) [reload]") != NULL);
    CHECK(strncmp(md, "# moat configuration\n", 21) == 0);
    CHECK(strstr(md, "| `mqtt.max_packet_size` | size, 16B to 256MB | `1MB` | yes |") != NULL);
    CHECK(strstr(md, "| `ws` | 8083 | supported |") != NULL);
    CHECK(strstr(md, "| `dashboard.default_user.password` |") != NULL);
    CHECK(strstr(md, "## Declaring listeners") != NULL);
    CHECK(strstr(md, "$share/&lt;group&gt;/") != NULL);
    CHECK(strstr(md, "`listener.tcp.default = 0.0.0.0:1883`") != NULL);
    free(help);
    free(md);
}

static void test_diff_static(void)
{
    moat_conf a, b;
    char out[300];
    moat_conf_defaults(&a);
    moat_conf_defaults(&b);
    CHECK_EQ(moat_conf_diff_static(&a, &b, out, sizeof out), 0);
    CHECK_STR(out, "");
    EXPECT_OK(&b, "log.level = debug\nmqtt.max_inflight = 3\nlistener.tcp.default.max_connections "
                  "= 9\n");
    CHECK_EQ(moat_conf_diff_static(&a, &b, out, sizeof out), 0);
    EXPECT_OK(&b, "node.data_dir = other\nnode.workers = 2\nlog.level = debug\n");
    CHECK_EQ(moat_conf_diff_static(&a, &b, out, sizeof out), 2);
    CHECK_STR(out, "node.data_dir, node.workers");
    EXPECT_OK(&b, "listener.tcp.default = 1884\nlistener.tcp.more = 1885\n");
    CHECK_EQ(moat_conf_diff_static(&a, &b, out, sizeof out), 2);
    CHECK_STR(out, "listener.tcp.default, listener.tcp.more");
    EXPECT_OK(&b, "listener.tcp.other = 1883\n");
    CHECK_EQ(moat_conf_diff_static(&a, &b, NULL, 0), 2);
}

/* moat without -c: the defaults plus TLS listeners on the development set;
 * node.dev_certs = auto in a file does the same for listeners without
 * certificate files of their own, and nothing else changes. */
static void test_builtin_dev_certs(void)
{
    moat_conf c;
    moat_conf_builtin(&c);
    CHECK_EQ(c.dev_certs, MOAT_DEV_CERTS_AUTO);
    CHECK_EQ(c.n_listeners, 4u);
    CHECK_STR(c.listeners[0].type, "tcp");
    CHECK_EQ(c.listeners[0].port, 1883);
    CHECK_STR(c.listeners[1].type, "ssl");
    CHECK_STR(c.listeners[1].name, "default");
    CHECK_STR(c.listeners[1].bind, "0.0.0.0");
    CHECK_EQ(c.listeners[1].port, 8883);
    CHECK_STR(c.listeners[1].certfile, "data/certs/server-fullchain.pem");
    CHECK_STR(c.listeners[1].keyfile, "data/certs/server.key");
    CHECK_STR(c.listeners[1].cacertfile, "data/certs/ca.pem");
    CHECK_EQ(c.listeners[1].verify, MOAT_VERIFY_NONE);
    CHECK_STR(c.listeners[2].type, "wss");
    CHECK_EQ(c.listeners[2].port, 8084);
    CHECK_STR(c.listeners[2].mqtt_path, "/mqtt");
    CHECK_STR(c.listeners[2].certfile, "data/certs/server-fullchain.pem");
    CHECK_STR(c.listeners[3].type, "https"); /* the dashboard */
    CHECK_STR(c.listeners[3].name, "dashboard");
    CHECK_EQ(c.listeners[3].port, 18084);
    CHECK_STR(c.listeners[3].certfile, "data/certs/server-fullchain.pem");

    /* a file changes nothing of this: no TLS listener, dev_certs off */
    EXPECT_OK(&c, "mqtt.max_inflight = 10\n");
    CHECK_EQ(c.dev_certs, MOAT_DEV_CERTS_OFF);
    CHECK_EQ(c.n_listeners, 1u);
    EXPECT_OK(&c, "listener.ssl.x = 8883\n");
    CHECK_STR(c.listeners[0].certfile, "");

    /* auto in a file: its own listeners, paths under its data_dir */
    EXPECT_OK(&c, "node.dev_certs = auto\n"
                  "listener.ssl.a = 127.0.0.1:18883\n"
                  "listener.ssl.b = 18884\n"
                  "listener.ssl.b.certfile = /etc/b.pem\n"
                  "listener.ssl.b.keyfile = /etc/b.key\n"
                  "listener.wss.c = 18085\n"
                  "listener.wss.c.cacertfile = /etc/clients.pem\n"
                  "listener.tcp.d = 11883\n"
                  "node.data_dir = /var/lib/moat\n");
    CHECK_EQ(c.n_listeners, 4u);
    CHECK_STR(c.listeners[0].certfile, "/var/lib/moat/certs/server-fullchain.pem");
    CHECK_STR(c.listeners[0].keyfile, "/var/lib/moat/certs/server.key");
    CHECK_STR(c.listeners[0].cacertfile, "/var/lib/moat/certs/ca.pem");
    CHECK_STR(c.listeners[1].certfile, "/etc/b.pem"); /* its own files: untouched */
    CHECK_STR(c.listeners[1].cacertfile, "");
    CHECK_STR(c.listeners[2].certfile, "/var/lib/moat/certs/server-fullchain.pem");
    CHECK_STR(c.listeners[2].cacertfile, "/etc/clients.pem");
    CHECK_STR(c.listeners[3].certfile, "");
    EXPECT_ERROR("node.dev_certs = yes",
                 "moat.conf:1: node.dev_certs: \"yes\" is not a valid value (expected one of off, "
                 "auto)");
}

static void test_files(void)
{
    moat_conf c;
    char path[] = "/tmp/moat_test_conf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char text[] = "mqtt.max_inflight = 12\nbad line\n";
    CHECK_EQ(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    moat_conf_defaults(&c);
    CHECK_EQ(moat_conf_load(&c, path, err, sizeof err), MOAT_EINVAL);
    char want[200];
    snprintf(want, sizeof want, "%s:2: \"bad line\": not a key = value line", path);
    CHECK_STR(err, want);
    CHECK_EQ(c.max_inflight, 32);

    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK_EQ(write(fd, "mqtt.max_inflight = 12\n", 23), 23);
    close(fd);
    CHECK_EQ(moat_conf_load(&c, path, err, sizeof err), MOAT_OK);
    CHECK_EQ(c.max_inflight, 12);

    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK_EQ(write(fd, "a\0b", 3), 3);
    close(fd);
    CHECK_EQ(moat_conf_load(&c, path, err, sizeof err), MOAT_EINVAL);
    snprintf(want, sizeof want, "%s: contains a NUL byte (expected a text file)", path);
    CHECK_STR(err, want);
    unlink(path);

    CHECK_EQ(moat_conf_load(&c, path, err, sizeof err), MOAT_EIO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    CHECK_STR(err, want);
    CHECK_EQ(moat_conf_load(&c, "/tmp", err, sizeof err), MOAT_EIO);
    CHECK_STR(err, "/tmp: cannot read: Is a directory");
}

int main(void)
{
    TEST(test_defaults);
    TEST(test_helpers);
    TEST(test_every_key);
    TEST(test_enums);
    TEST(test_limits);
    TEST(test_syntax);
    TEST(test_listeners);
    TEST(test_value_errors);
    TEST(test_line_errors);
    TEST(test_listener_errors);
    TEST(test_atomic);
    TEST(test_set_direct);
    TEST(test_dump);
    TEST(test_docs);
    TEST(test_diff_static);
    TEST(test_builtin_dev_certs);
    TEST(test_files);
    return test_summary("conf");
}
