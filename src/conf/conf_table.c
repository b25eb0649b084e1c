/* SPDX-License-Identifier: Apache-2.0 */
/* The option table: every key moat accepts, its type, range, default, where
 * it is stored and what it means. The parser, moat_conf_defaults, the help
 * text and docs/config.md are all derived from it, so they cannot disagree.
 * Key names follow EMQX 4 where EMQX has the same setting. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "conf/conf_int.h"
#include "auth/auth.h"
#include "auth/hash.h"
#include "auth/sql.h"
#include "proxy/proxy.h"

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
    {"ssl", 8883, true},
    {"ws", 8083, true},
    {"wss", 8084, true},
    /* the dashboard: dashboard.listener.http[s] */
    {"http", 18083, true},
    {"https", 18084, true},
};
const size_t conf_n_listener_types = sizeof conf_listener_types / sizeof conf_listener_types[0];

static const conf_enum_value log_levels[] = {
    {"debug", MOAT_LOG_DEBUG},
    {"info", MOAT_LOG_INFO},
    {"notice", MOAT_LOG_NOTICE},
    {"warning", MOAT_LOG_WARNING},
    {"error", MOAT_LOG_ERROR},
    {"none", MOAT_LOG_NONE},
    {NULL, 0},
};

static const conf_enum_value log_targets[] = {
    {"console", MOAT_LOG_TO_CONSOLE},
    {"file", MOAT_LOG_TO_FILE},
    {"both", MOAT_LOG_TO_BOTH},
    {NULL, 0},
};

static const conf_enum_value dev_certs_modes[] = {
    {"off", MOAT_DEV_CERTS_OFF},
    {"auto", MOAT_DEV_CERTS_AUTO},
    {NULL, 0},
};

static const conf_enum_value verify_modes[] = {
    {"verify_none", MOAT_VERIFY_NONE},
    {"verify_peer", MOAT_VERIFY_PEER},
    {NULL, 0},
};

static const conf_enum_value peer_ids[] = {
    {"off", MOAT_PEER_ID_OFF},
    {"cn", MOAT_PEER_ID_CN},
    {"dn", MOAT_PEER_ID_DN},
    {"crt", MOAT_PEER_ID_CRT},
    {"pem", MOAT_PEER_ID_PEM},
    {"md5", MOAT_PEER_ID_MD5},
    {"san_dns", MOAT_PEER_ID_SAN_DNS},
    {"san_email", MOAT_PEER_ID_SAN_EMAIL},
    {"san_uri", MOAT_PEER_ID_SAN_URI},
    {"san_ip", MOAT_PEER_ID_SAN_IP},
    {"fingerprint", MOAT_PEER_ID_FINGERPRINT},
    {NULL, 0},
};

/* A listener's allow_anonymous: the global value, or its own (moat_anon + 1). */
static const conf_enum_value listener_anon_modes[] = {{"global", 0},
                                                      {"loopback", MOAT_ANON_LOOPBACK + 1},
                                                      {"true", MOAT_ANON_TRUE + 1},
                                                      {"false", MOAT_ANON_FALSE + 1},
                                                      {NULL, 0}};

static const conf_enum_value anon_modes[] = {
    {"loopback", MOAT_ANON_LOOPBACK},
    {"true", MOAT_ANON_TRUE},
    {"false", MOAT_ANON_FALSE},
    {NULL, 0},
};

static const conf_enum_value hash_algs[] = {
    {"plain", MOAT_HASH_PLAIN},       {"md5", MOAT_HASH_MD5},
    {"sha", MOAT_HASH_SHA},           {"sha256", MOAT_HASH_SHA256},
    {"sha512", MOAT_HASH_SHA512},     {"bcrypt", MOAT_HASH_BCRYPT},
    {"argon2id", MOAT_HASH_ARGON2ID}, {NULL, 0},
};

static const conf_enum_value acl_nomatch_modes[] = {
    {"allow", MOAT_ACL_NOMATCH_ALLOW},
    {"deny", MOAT_ACL_NOMATCH_DENY},
    {NULL, 0},
};

static const conf_enum_value auth_on_error_modes[] = {
    {"deny", MOAT_AUTH_ON_ERROR_DENY}, {"ignore", MOAT_AUTH_ON_ERROR_IGNORE}, {NULL, 0}};

static const conf_enum_value acl_deny_actions[] = {
    {"ignore", MOAT_ACL_DENY_IGNORE},
    {"disconnect", MOAT_ACL_DENY_DISCONNECT},
    {NULL, 0},
};

/* ---- value checks ---- */

static bool check_chain(const char *v, char *msg, size_t n)
{
    char why[200];
    if (!moat_auth_chain_valid(v, why, sizeof why)) {
        snprintf(msg, n, "%s", why);
        return false;
    }
    return true;
}

static bool check_chain_or_empty(const char *v, char *msg, size_t n)
{
    return !v[0] || check_chain(v, msg, n);
}

static bool check_cidrs(const char *v, char *msg, size_t n)
{
    moat_cidr_list l = {0};
    char why[200];
    if (moat_cidr_list_parse(v, &l, why, sizeof why) != MOAT_OK) {
        snprintf(msg, n,
                 "%s (expected addresses or networks such as 10.0.0.0/8, 192.168.1.7, "
                 "fd00::/8, separated by commas)",
                 why);
        return false;
    }
    moat_cidr_list_free(&l);
    return true;
}

static bool check_path(const char *v, char *msg, size_t n)
{
    bool ok = v[0] == '/';
    for (const char *p = v; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f && *p != '?' && *p != '#';
    if (!ok)
        snprintf(msg, n,
                 "'%s' is not a URL path (expected a path such as /mqtt: it starts "
                 "with /, has no blanks, ? or #)",
                 v);
    return ok;
}

static bool check_header_name(const char *v, char *msg, size_t n)
{
    for (const char *p = v; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p)) {
            snprintf(msg, n,
                     "'%s' is not an HTTP header name (expected a name such as "
                     "X-Forwarded-For, or empty to ignore the header)",
                     v);
            return false;
        }
    }
    return true;
}

static bool check_origins(const char *v, char *msg, size_t n)
{
    for (const char *p = v; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if (e > p && !(strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0)) {
            snprintf(msg, n,
                     "'%.*s' is not an origin (expected scheme://host[:port] such as "
                     "https://app.example.com, separated by commas)",
                     (int)(e - p), p);
            return false;
        }
        p = e;
    }
    return true;
}

const conf_section_info conf_sections[CONF_SEC__COUNT] = {
    [CONF_SEC_NODE] = {"Node", "Process-wide settings."},
    [CONF_SEC_LOG] = {"Log", "Where log lines go and how many there are."},
    [CONF_SEC_BROKER] = {"Broker", "Broker-wide behaviour and access."},
    [CONF_SEC_AUTH] = {"Authentication and authorization",
                       "Who may connect (an ordered chain of sources: built-in users and client "
                       "ids, a Mosquitto password file) and what each client may publish and "
                       "subscribe to (an ACL file in EMQX 4 acl.conf syntax). See docs/auth.md. "
                       "Clients that no source knows fall to allow_anonymous."},
    [CONF_SEC_MQTT] = {"MQTT", "Protocol limits and features, the same for every client."},
    [CONF_SEC_RETAINER] = {"Retainer", "Limits on retained messages."},
    [CONF_SEC_PERSISTENCE] = {"Persistence",
                              "The embedded store that keeps sessions, queued and retained "
                              "messages across restarts."},
    [CONF_SEC_DASHBOARD] = {"Dashboard",
                            "The web dashboard and HTTP API. Its listeners are declared as "
                            "`dashboard.listener.http = [ip:]port` and "
                            "`dashboard.listener.https = [ip:]port` (the https one takes the TLS "
                            "options of an ssl listener: `dashboard.listener.https.certfile` ...); "
                            "they are the listeners `http:dashboard` and `https:dashboard`."},
    [CONF_SEC_LISTENER] = {"Listeners",
                           "Each listener is declared by `listener.<type>.<name> = [ip:]port` "
                           "and takes per-listener options `listener.<type>.<name>.<option>`."},
};

const conf_option conf_options[] = {
    /* node */
    {.name = "node.data_dir",
     .type = CONF_STRING,
     .section = CONF_SEC_NODE,
     .flags = CONF_NONEMPTY,
     GLOBAL(data_dir),
     .def = "data",
     .desc = "Directory of the embedded store (sessions, queued and retained messages)."},
    {.name = "node.workers",
     .type = CONF_UINT,
     .section = CONF_SEC_NODE,
     GLOBAL(workers),
     .min = 0,
     .max = 256,
     .def = "0",
     .desc = "Worker threads serving connections; 0 starts one per CPU core."},
    {.name = "node.max_connections",
     .type = CONF_UINT,
     .section = CONF_SEC_NODE,
     .flags = CONF_RELOAD,
     GLOBAL(max_connections),
     .min = 1,
     .max = UINT32_MAX,
     .def = "1024000",
     .desc = "Most client connections over all listeners; more are refused."},
    {.name = "node.dev_certs",
     .type = CONF_ENUM,
     .section = CONF_SEC_NODE,
     GLOBAL(dev_certs),
     .values = dev_certs_modes,
     .def = "off",
     .desc = "auto: TLS listeners (ssl, wss) that set neither certfile nor keyfile serve a "
             "development certificate: at start moat makes, once, a CA of its own, a server "
             "certificate for localhost and this host and a client certificate in "
             "<node.data_dir>/certs/ (cacertfile defaults to its ca.pem). moat without -c runs "
             "with auto."},

    /* log */
    {.name = "log.level",
     .type = CONF_ENUM,
     .section = CONF_SEC_LOG,
     .flags = CONF_RELOAD,
     GLOBAL(log_level),
     .values = log_levels,
     .def = "info",
     .desc = "Least severe level that is logged; none turns logging off."},
    {.name = "log.file",
     .type = CONF_STRING,
     .section = CONF_SEC_LOG,
     .flags = CONF_RELOAD,
     GLOBAL(log_file),
     .def = "",
     .desc = "Log file, appended to; used when log.to is file or both (reopened on SIGHUP)."},
    {.name = "log.to",
     .type = CONF_ENUM,
     .section = CONF_SEC_LOG,
     .flags = CONF_RELOAD,
     GLOBAL(log_to),
     .values = log_targets,
     .def = "console",
     .desc = "Where logs go: console (stderr), file (log.file) or both."},

    /* broker */
    {.name = "broker.sys_interval",
     .type = CONF_DURATION,
     .section = CONF_SEC_BROKER,
     .flags = CONF_RELOAD,
     GLOBAL(sys_interval_ms),
     .min = 0,
     .max = DAY,
     .scale = 1,
     .def = "1m",
     .desc = "How often the $SYS topics are published; 0 disables them."},
    {.name = "allow_anonymous",
     .type = CONF_ENUM,
     .section = CONF_SEC_BROKER,
     .flags = CONF_RELOAD,
     GLOBAL(allow_anonymous),
     .values = anon_modes,
     .def = "loopback",
     .desc = "Accept clients without a username: true, false, or loopback (only clients "
             "connecting over loopback)."},

/* auth */
#define CRED(field, member)                                                                        \
    .offset = offsetof(moat_conf, field[0].member),                                                \
    .width = sizeof(((moat_conf *)0)->field[0].member), .count = MOAT_AUTH_MAX_ENTRIES,            \
    .stride = sizeof(moat_conf_cred)
    {.name = "auth.chain",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_chain),
     .check = check_chain,
     .def = "auto",
     .desc = "Authentication sources asked in this order, separated by commas: builtin "
             "(auth.user.N / auth.client.N), passwd_file (password_file) and the external "
             "backends (see docs/auth.md). auto: builtin, passwd_file, then every backend "
             "whose keys are set. The first source that knows the client decides; unknown "
             "to all: allow_anonymous."},
    {.name = "auth.on_error",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_on_error),
     .values = auth_on_error_modes,
     .def = "deny",
     .desc = "When a backend cannot answer (down, slower than auth.timeout, worker queue "
             "full): deny refuses the client (CONNACK 0x88 server unavailable; v3: 3), ignore "
             "asks the next source as if this one did not know the client."},
    {.name = "auth.timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_timeout_ms),
     .min = 100,
     .max = 5 * MIN,
     .scale = 1,
     .def = "5s",
     .desc = "How long a backend may take to answer, waiting for a worker included; past it "
             "the backend counts as failed (auth.on_error)."},
    {.name = "auth.pool_size",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     GLOBAL(auth_pool_size),
     .min = 1,
     .max = 256,
     .def = "8",
     .desc = "Threads that run backend requests (database, LDAP, HTTP), off the event loops. "
             "Started when first needed."},
    {.name = "auth.queue_max",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     GLOBAL(auth_queue_max),
     .min = 1,
     .max = 1000000,
     .def = "10000",
     .desc = "Backend requests that may wait for a thread; beyond, a request fails at once "
             "(auth.on_error)."},
    {.name = "auth.ban.max_failures",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ban_max_failures),
     .min = 0,
     .max = 1000000,
     .def = "10",
     .desc = "Failed logins (wrong password) within auth.ban.window that ban the client id, and "
             "the client's address, for auth.ban.duration: a banned client is refused before any "
             "source is asked (v5 CONNACK 0x8A, v3 5). 0: failed logins never ban. The ban list "
             "is in the HTTP API (/api/v1/banned)."},
    {.name = "auth.ban.window",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ban_window_ms),
     .min = SEC,
     .max = DAY,
     .scale = 1,
     .def = "1m",
     .desc = "The window over which failed logins are counted."},
    {.name = "auth.ban.duration",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ban_duration_ms),
     .min = SEC,
     .max = 30 * DAY,
     .scale = 1,
     .def = "5m",
     .desc = "How long a ban for failed logins lasts."},
    {.name = "auth.ban.exempt",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ban_exempt),
     .check = check_cidrs,
     .def = "127.0.0.0/8, ::1",
     .desc = "Addresses and networks (CIDR, comma-separated) never banned by address, such as "
             "a NAT gateway many devices share; their client ids are still counted. Empty: "
             "none."},
/* -- backend keys: begin -- */

/* -- pgsql keys (add below this line) -- */
/* auth.pgsql.* and auth.mysql.*: one shape (struct moat_conf_sql), so the
 * keys both have come from one macro. B: pgsql or mysql; DB: its name in
 * the descriptions; PORT: its default port. */
#define SQL_KEY(B, key, field) .name = "auth." #B "." key, .section = CONF_SEC_AUTH, GLOBAL(B.field)
#define SQL_KEYS(B, DB, PORT)                                                                      \
    {SQL_KEY(B, "server", server),                                                                 \
     .type = CONF_STRING,                                                                          \
     .flags = CONF_RELOAD,                                                                         \
     .check = moat_sql_conf_check_server,                                                          \
     .def = "",                                                                                    \
     .desc = DB " server as host:port (port " #PORT " when left out). Setting it turns the " #B    \
                " backend on (auth.chain = auto asks it after the local sources); empty: off."},   \
        {SQL_KEY(B, "pool", pool),                                                                 \
         .type = CONF_UINT,                                                                        \
         .flags = CONF_RELOAD,                                                                     \
         .min = 1,                                                                                 \
         .max = 256,                                                                               \
         .def = "8",                                                                               \
         .desc = "Connections to " DB " at most, made when first needed; more requests than "      \
                 "this wait for a free one (within auth.timeout)."},                               \
        {SQL_KEY(B, "username", username), .type = CONF_STRING, .flags = CONF_RELOAD,              \
         .def = "root", .desc = "The " DB " user moat logs in as."},                               \
        {SQL_KEY(B, "password", password), .type = CONF_STRING,                                    \
         .flags = CONF_RELOAD | CONF_SECRET, .def = "", .desc = "Its password (never logged)."},   \
        {SQL_KEY(B, "database", database), .type = CONF_STRING, .flags = CONF_RELOAD,              \
         .def = "mqtt", .desc = "The database holding the user and ACL tables."},                  \
        {SQL_KEY(B, "ssl", ssl), .type = CONF_BOOL, .flags = CONF_RELOAD, .def = "false",          \
         .desc = "TLS to " DB ": required (a server without it is refused); see "                  \
                 "auth." #B ".ssl.verify."},                                                       \
        {SQL_KEY(B, "ssl.verify", ssl_verify),                                                     \
         .type = CONF_ENUM,                                                                        \
         .flags = CONF_RELOAD,                                                                     \
         .values = (const conf_enum_value[]){{"auto", 0},                                          \
                                             {"true", 1},                                          \
                                             {"verify_peer", 1},                                   \
                                             {"false", 2},                                         \
                                             {"verify_none", 2},                                   \
                                             {NULL, 0}},                                           \
         .def = "auto",                                                                            \
         .desc = "Verify " DB "'s certificate and name: auto when auth." #B ".ssl.cacertfile is "  \
                 "set; true (verify_peer) always, which needs that file; false (verify_none) "     \
                 "never: encrypted only."},                                                        \
        {SQL_KEY(B, "ssl.cacertfile", ssl_cacertfile), .type = CONF_STRING, .flags = CONF_RELOAD,  \
         .def = "", .desc = "CA certificates (PEM) that verify " DB "'s certificate."},            \
        {SQL_KEY(B, "ssl.certfile", ssl_certfile), .type = CONF_STRING, .flags = CONF_RELOAD,      \
         .def = "", .desc = "A client certificate (PEM) for " DB ", if it asks for one."},         \
        {SQL_KEY(B, "ssl.keyfile", ssl_keyfile), .type = CONF_STRING, .flags = CONF_RELOAD,        \
         .def = "", .desc = "The key of auth." #B ".ssl.certfile."},                               \
        {SQL_KEY(B, "auth_query", auth_query),                                                     \
         .type = CONF_STRING,                                                                      \
         .flags = CONF_RELOAD,                                                                     \
         .check = moat_sql_conf_check_##B,                                                         \
         .def = "select password from mqtt_user where username = '%u' limit 1",                    \
         .desc = "Finds a client's stored password: no row, the next source is asked; the "        \
                 "column password (else the first) is the hash, a column salt its salt. "          \
                 "Placeholders %u username, %c client id, %a address, %C certificate CN, %d "      \
                 "certificate DN are sent as query parameters, never pasted into the SQL."},       \
        {SQL_KEY(B, "password_hash", password_hash),                                               \
         .type = CONF_STRING,                                                                      \
         .flags = CONF_RELOAD,                                                                     \
         .check = moat_sql_conf_check_hash,                                                        \
         .def = "sha256",                                                                          \
         .desc = "How the stored passwords are hashed: plain, md5, sha, sha256, sha512, bcrypt; "  \
                 "salt,sha256 (salt first) or sha256,salt (salt last); "                           \
                 "pbkdf2,sha256,1000,20 (mac, iterations, key bytes)."},                           \
        {SQL_KEY(B, "super_query", super_query),                                                   \
         .type = CONF_STRING,                                                                      \
         .flags = CONF_RELOAD,                                                                     \
         .check = moat_sql_conf_check_##B,                                                         \
         .def = "select is_superuser from mqtt_user where username = '%u' limit 1",                \
         .desc = "Asked after a password matched: a first column of 1 or true makes the client "   \
                 "a superuser (no ACL applies). Empty: not asked."},                               \
    {                                                                                              \
        SQL_KEY(B, "acl_query", acl_query),                                                        \
            .type = CONF_STRING, .flags = CONF_RELOAD, .check = moat_sql_conf_check_##B,           \
            .def = "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where "  \
                   "ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'",     \
            .desc = "The client's own ACL rules, asked once at CONNECT: rows (allow 1/0, ipaddr, " \
                    "username, clientid, access 1 sub 2 pub 3 both, topic), first match wins, "    \
                    "before acl_file. Empty: not asked."                                           \
    }
    SQL_KEYS(pgsql, "PostgreSQL", 5432),
    {SQL_KEY(pgsql, "encoding", encoding), .type = CONF_STRING, .flags = CONF_RELOAD, .def = "utf8",
     .desc = "The client encoding of the PostgreSQL connection."},

    /* -- mysql keys (add below this line) -- */
    SQL_KEYS(mysql, "MySQL / MariaDB", 3306),
    {SQL_KEY(mysql, "query_timeout", query_timeout_ms), .type = CONF_DURATION, .flags = CONF_RELOAD,
     .min = 0, .max = 5 * MIN, .scale = 1, .def = "5s",
     .desc = "The client library's read and write timeouts (whole seconds): a second bound on "
             "a MySQL query besides auth.timeout, which is kept to the millisecond. A "
             "connection that times out is dropped."},
#undef SQL_KEYS
#undef SQL_KEY

    /* -- redis keys (add below this line) -- */
    {.name = "auth.redis.type",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_type),
     .values = (const conf_enum_value[]){{"single", 0}, {"sentinel", 1}, {"cluster", 2}, {NULL, 0}},
     .def = "single",
     .desc = "Redis deployment: single (one server). sentinel and cluster are not supported yet "
             "(a start-up error)."},
    {.name = "auth.redis.server",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_server),
     .def = "",
     .desc = "The Redis server as host:port (127.0.0.1:6379). Set: the redis backend is "
             "configured (auth.chain = auto asks it). Empty: off."},
    {.name = "auth.redis.pool",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_pool),
     .min = 1,
     .max = 256,
     .def = "8",
     .desc = "Connections to Redis at most, each used by one request at a time; made when "
             "first needed."},
    {.name = "auth.redis.database",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_database),
     .max = 65535,
     .def = "0",
     .desc = "The Redis database number (SELECT) the commands run in."},
    {.name = "auth.redis.password",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_SECRET,
     GLOBAL(auth_redis_password),
     .def = "",
     .desc = "Password sent with AUTH after connecting (requirepass). Empty: none."},
    {.name = "auth.redis.query_timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_query_timeout_ms),
     .max = 5 * MIN,
     .scale = 1,
     .def = "0s",
     .desc = "How long one login's connect and commands may take; 0: up to auth.timeout "
             "(which always bounds it)."},
    {.name = "auth.redis.auth_cmd",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_NONEMPTY,
     GLOBAL(auth_redis_auth_cmd),
     .def = "HMGET mqtt_user:%u password",
     .desc = "Command fetching the stored password (and, as a second field, its salt), split "
             "into arguments at spaces; %u %c %a %C %d (username, client id, address, "
             "certificate CN and DN) are replaced inside one argument. Nil: not this "
             "backend's client (next source)."},
    {.name = "auth.redis.password_hash",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_password_hash),
     .def = "sha256",
     .desc = "How the stored password is written, as in EMQX 4: plain, md5, sha, sha256, "
             "sha512, bcrypt; salt,sha256 (salt first) or sha256,salt (salt after), the salt "
             "being the second field auth_cmd fetches; pbkdf2,sha256,1000,20. Clear text "
             "(plain, EMQX's default) only when written here."},
    {.name = "auth.redis.super_cmd",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_super_cmd),
     .def = "HGET mqtt_user:%u is_superuser",
     .desc = "Command telling whether an allowed client is a superuser (answer 1 or true). "
             "Empty: none is."},
    {.name = "auth.redis.acl_cmd",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_redis_acl_cmd),
     .def = "HGETALL mqtt_acl:%u",
     .desc = "Command fetching an allowed client's ACL as a hash of topic filter -> access (1 "
             "subscribe, 2 publish, 3 both); every entry allows, and what none matches goes "
             "to acl_file and acl_nomatch. Empty: none."},

    /* -- ldap keys (add below this line) -- */
    {.name = "auth.ldap.servers",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_servers),
     .def = "",
     .desc = "LDAP servers (host names or addresses, separated by commas), tried in order; empty: "
             "no LDAP source. See docs/auth.md."},
    {.name = "auth.ldap.port",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_port),
     .min = 1,
     .max = 65535,
     .def = "389",
     .desc = "Their port (ldaps usually 636)."},
    {.name = "auth.ldap.pool",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_pool),
     .min = 1,
     .max = 256,
     .def = "8",
     .desc = "Connections kept open to the LDAP server, each used by one request at a time."},
    {.name = "auth.ldap.bind_dn",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_bind_dn),
     .def = "cn=root,dc=emqx,dc=io",
     .desc = "DN moat binds as to search for clients (empty: anonymous search)."},
    {.name = "auth.ldap.bind_password",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_SECRET,
     GLOBAL(ldap_bind_password),
     .def = "public",
     .desc = "Password of auth.ldap.bind_dn."},
    {.name = "auth.ldap.timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_timeout_ms),
     .min = 100,
     .max = 5 * MIN,
     .scale = 1,
     .def = "30s",
     .desc = "Longest wait for the LDAP server (connect, bind, search); auth.timeout caps it."},
    {.name = "auth.ldap.device_dn",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_device_dn),
     .def = "ou=device,dc=emqx,dc=io",
     .desc = "Base DN under which clients are searched (and, with bind_as_user, the parent of "
             "their entries)."},
    {.name = "auth.ldap.match_objectclass",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_objectclass),
     .def = "mqttUser",
     .desc = "Object class a client's entry must have (docs/ldap/moat.schema defines mqttUser; "
             "inetOrgPerson works too)."},
    {.name = "auth.ldap.username.attributetype",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_username_attr),
     .def = "uid",
     .desc = "Attribute that holds the MQTT username."},
    {.name = "auth.ldap.password.attributetype",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_password_attr),
     .def = "userPassword",
     .desc = "Attribute that holds the password: {SSHA}, {SHA}, {SSHA256}, {SSHA512}, {CRYPT}, "
             "{PBKDF2-SHA256} ... or clear text."},
    {.name = "auth.ldap.bind_as_user",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_bind_as_user),
     .def = "false",
     .desc =
         "true: check the password by binding as <username attribute>=<username>,<device_dn> with "
         "it (the server checks it); false: read the password attribute and compare here."},
    {.name = "auth.ldap.allow_plain_password",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_allow_plain),
     .def = "false",
     .desc = "A password attribute value without a {SCHEME} prefix is clear text; it is "
             "compared only when this is true (else such an entry cannot log in, and the log "
             "says why). Store {SSHA} or {CRYPT} values instead (slappasswd)."},
    {.name = "auth.ldap.ssl",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_ssl),
     .def = "false",
     .desc = "Connect with ldaps:// (TLS from the first byte)."},
    {.name = "auth.ldap.ssl.cacertfile",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_ssl_cacertfile),
     .def = "",
     .desc = "CA certificates (PEM) that verify the LDAP server; empty: the system's."},
    {.name = "auth.ldap.ssl.certfile",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_ssl_certfile),
     .def = "",
     .desc = "Client certificate (PEM) shown to the LDAP server, if it asks for one."},
    {.name = "auth.ldap.ssl.keyfile",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_ssl_keyfile),
     .def = "",
     .desc = "Its private key (PEM)."},
    {.name = "auth.ldap.ssl.verify",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(ldap_ssl_verify),
     .values = verify_modes,
     .def = "verify_peer",
     .desc = "verify_peer: the LDAP server's certificate must verify and match its name; "
             "verify_none: not checked (tests only)."},

    /* -- http keys (add below this line) -- */
    {.name = "auth.http.auth_req",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_auth_url),
     .def = "",
     .desc = "URL of the authentication service (http:// or https://). Set: the http backend "
             "is configured. Empty: off."},
#define HTTP_METHODS                                                                               \
    (const conf_enum_value[])                                                                      \
    {                                                                                              \
        {"post", 0}, {"get", 1},                                                                   \
        {                                                                                          \
            NULL, 0                                                                                \
        }                                                                                          \
    }
#define HTTP_CTYPES                                                                                \
    (const conf_enum_value[])                                                                      \
    {                                                                                              \
        {"application/x-www-form-urlencoded", 0}, {"application/json", 1},                         \
        {                                                                                          \
            NULL, 0                                                                                \
        }                                                                                          \
    }
/* The body's encoding, for auth_req and super_req in EMQX's two spellings. */
#define HTTP_CTYPE(key, field, text)                                                               \
    {                                                                                              \
        .name = key, .type = CONF_ENUM, .section = CONF_SEC_AUTH, .flags = CONF_RELOAD,            \
        GLOBAL(field), .values = HTTP_CTYPES, .def = "application/x-www-form-urlencoded",          \
        .desc = text                                                                               \
    }
    {.name = "auth.http.auth_req.url",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_auth_url),
     .def = "",
     .desc = "The same as auth.http.auth_req (EMQX 4.3's name)."},
    {.name = "auth.http.auth_req.method",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_auth_method),
     .values = HTTP_METHODS,
     .def = "post",
     .desc = "post: the parameters in the body; get: in the query string (where servers tend "
             "to log them, password included)."},
    HTTP_CTYPE("auth.http.auth_req.headers.content-type", auth_http_auth_ctype,
               "How a post body is encoded: a form, or a JSON object of strings."),
    HTTP_CTYPE(
        "auth.http.auth_req.headers.content_type", auth_http_auth_ctype,
        "The same as auth.http.auth_req.headers.content-type (the spelling of EMQX 4.3's own "
        "file)."),
    {.name = "auth.http.auth_req.params",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_NONEMPTY,
     GLOBAL(auth_http_auth_params),
     .def = "clientid=%c,username=%u,password=%P",
     .desc = "Parameters sent, name=value separated by commas; %u %c %a %C %d %P (username, "
             "client id, address, certificate CN and DN, password) are replaced, a missing "
             "one by nothing. The answer: 200 allows (body \"ignore\": next source; a JSON "
             "body {\"result\": \"allow\"|\"deny\"|\"ignore\", \"is_superuser\": true} is "
             "read), 4xx denies, anything else is an error (auth.on_error)."},
    {.name = "auth.http.super_req",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_super_url),
     .def = "",
     .desc = "URL asked whether an allowed client is a superuser (200: yes). Empty: only a "
             "JSON is_superuser in the auth_req answer makes one."},
    {.name = "auth.http.super_req.url",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_super_url),
     .def = "",
     .desc = "The same as auth.http.super_req (EMQX 4.3's name)."},
    {.name = "auth.http.super_req.method",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_super_method),
     .values = HTTP_METHODS,
     .def = "post",
     .desc = "post or get, as auth.http.auth_req.method."},
    HTTP_CTYPE("auth.http.super_req.headers.content-type", auth_http_super_ctype,
               "How the super_req post body is encoded."),
    HTTP_CTYPE(
        "auth.http.super_req.headers.content_type", auth_http_super_ctype,
        "The same as auth.http.super_req.headers.content-type (the spelling of EMQX 4.3's own "
        "file)."),
    {.name = "auth.http.super_req.params",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_NONEMPTY,
     GLOBAL(auth_http_super_params),
     .def = "clientid=%c,username=%u",
     .desc = "Parameters of super_req, as auth.http.auth_req.params."},
#undef HTTP_METHODS
#undef HTTP_CTYPES
#undef HTTP_CTYPE
    {.name = "auth.http.enable_pipelining",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_pipelining),
     .def = "true",
     .desc = "Accepted so that EMQX 4.3 files load; moat sends one request at a time on each "
             "of its auth.http.pool_size connections."},
    {.name = "auth.http.timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_timeout_ms),
     .min = 100,
     .max = 5 * MIN,
     .scale = 1,
     .def = "5s",
     .desc = "How long one request may take (auth.timeout bounds it too)."},
    {.name = "auth.http.connect_timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_connect_timeout_ms),
     .min = 100,
     .max = 5 * MIN,
     .scale = 1,
     .def = "5s",
     .desc = "How long connecting (TLS included) to the service may take."},
    {.name = "auth.http.pool_size",
     .type = CONF_UINT,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_pool_size),
     .min = 1,
     .max = 256,
     .def = "8",
     .desc = "Connections to the service at most (kept alive between requests)."},
    {.name = "auth.http.ssl.cacertfile",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_cacertfile),
     .def = "",
     .desc = "https: PEM file of the CAs the service's certificate must chain to. Empty: the "
             "system's CAs."},
    {.name = "auth.http.ssl.certfile",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_certfile),
     .def = "",
     .desc = "https: a client certificate (PEM) to present. Empty: none."},
    {.name = "auth.http.ssl.keyfile",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_keyfile),
     .def = "",
     .desc = "https: the client certificate's private key (PEM)."},
    {.name = "auth.http.ssl.verify",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_http_verify),
     .values =
         (const conf_enum_value[]){
             {"true", 1}, {"false", 0}, {"verify_peer", 1}, {"verify_none", 0}, {NULL, 0}},
     .def = "true",
     .desc = "https: check the service's certificate and name (true, verify_peer); false or "
             "verify_none trusts any server, for tests only."},

    /* -- jwt keys (add below this line) -- */
    {.name = "auth.jwt.secret",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_SECRET,
     GLOBAL(jwt_secret),
     .def = "",
     .desc = "Shared secret for HS256, HS384 and HS512 tokens; empty: no HMAC tokens. See "
             "docs/auth.md."},
    {.name = "auth.jwt.pubkey",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_pubkey),
     .def = "",
     .desc = "PEM file with the public key for RS256/RS384/RS512 (an RSA key) or ES256 (an EC "
             "P-256 key) tokens; empty: none."},
    {.name = "auth.jwt.from",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_from),
     .values = (const conf_enum_value[]){{"password", 0}, {"username", 1}, {NULL, 0}},
     .def = "password",
     .desc = "Where the client puts its token: password or username."},
    {.name = "auth.jwt.verify_claims",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_verify_claims),
     .def = "false",
     .desc = "Check the claims below against the client (each set one must be present and equal)."},
    {.name = "auth.jwt.verify_claims.username",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_claim_username),
     .def = "",
     .desc = "Value the username claim must have: %u (the client's username), %c (its client id) "
             "or a literal; empty: not checked."},
    {.name = "auth.jwt.verify_claims.clientid",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_claim_clientid),
     .def = "",
     .desc = "Same for the clientid claim."},
    {.name = "auth.jwt.verify_claims.sub",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_claim_sub),
     .def = "",
     .desc = "Same for the sub claim."},
    {.name = "auth.jwt.verify_claims.iss",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_claim_iss),
     .def = "",
     .desc = "Same for the iss claim."},
    {.name = "auth.jwt.verify_claims.aud",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_claim_aud),
     .def = "",
     .desc = "Same for the aud claim (a string, or an array that must hold the value)."},
    {.name = "auth.jwt.acl_claim_name",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_acl_claim),
     .def = "acl",
     .desc = "Claim with the client's ACL ({\"pub\": [...], \"sub\": [...], \"all\": [...]}); with "
             "it, whatever it does not allow is denied to that client."},
    {.name = "auth.jwt.leeway",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(jwt_leeway_ms),
     .min = 0,
     .max = 1 * HOUR,
     .scale = 1,
     .def = "30s",
     .desc = "Clock skew allowed when checking exp and nbf."},

    /* -- store keys (add below this line) -- */
    {.name = "auth.store.enable",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_store_enable),
     .def = "on",
     .desc = "The built-in user store (store in auth.chain): users and client ids added with "
             "moat ctl users|clients or the HTTP API (/api/v1/auth/users, /api/v1/auth/clients), "
             "kept in node.data_dir/auth_store.mdb with argon2id hashes. A client it does not "
             "know costs one in-memory lookup; one it knows is checked on the auth worker "
             "pool."},

    /* -- backend keys: end -- */
    {.name = "auth.user.N.username",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     CRED(auth_users, id),
     .def = "",
     .desc = "A built-in user (N = 1..64), as in EMQX 4's emqx_auth_mnesia."},
    {.name = "auth.user.N.password",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_SECRET,
     CRED(auth_users, password),
     .def = "",
     .desc = "Its password: clear text when auth.mnesia.password_hash = plain (hashed in "
             "memory at load), else the hash in that algorithm (hex; bcrypt: $2b$...)."},
    {.name = "auth.user.N.is_superuser",
     .type = CONF_BOOL,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     CRED(auth_users, superuser),
     .def = "false",
     .desc = "A superuser: no ACL rule applies to this user."},
    {.name = "auth.client.N.clientid",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     CRED(auth_clients, id),
     .def = "",
     .desc = "A built-in client id (N = 1..64): a client connecting with it must give the "
             "password below (as its MQTT password)."},
    {.name = "auth.client.N.password",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD | CONF_SECRET,
     CRED(auth_clients, password),
     .def = "",
     .desc = "Its password, in the form auth.mnesia.password_hash says."},
#undef CRED
    {.name = "auth.mnesia.password_hash",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(auth_password_hash),
     .values = hash_algs,
     .def = "sha256",
     .desc = "How auth.user.N.password and auth.client.N.password are written: plain (clear "
             "text), or the unsalted hex digest md5, sha, sha256, sha512, a bcrypt string, or an "
             "argon2id PHC string ($argon2id$v=19$m=...; checked on the auth worker pool by the "
             "store source, which then answers for these entries too)."},
    {.name = "password_file",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(password_file),
     .def = "",
     .desc = "A Mosquitto password file (made by mosquitto_passwd: $6$ and $7$ hashes); "
             "read again on SIGHUP. Empty: none."},
    {.name = "acl_file",
     .type = CONF_STRING,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(acl_file),
     .def = "",
     .desc = "ACL rules in EMQX 4 acl.conf syntax ({allow, {user, \"u\"}, publish, "
             "[\"t/#\"]}.) or Mosquitto's (user / topic / pattern lines), told apart by the "
             "first rule; read again on SIGHUP. Empty: no rules (acl_nomatch decides)."},
    {.name = "acl_nomatch",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(acl_nomatch),
     .values = acl_nomatch_modes,
     .def = "allow",
     .desc = "What happens when no rule of acl_file matches: allow or deny."},
    {.name = "acl_cache_ttl",
     .type = CONF_DURATION,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(acl_cache_ttl_ms),
     .min = 0,
     .max = DAY,
     .scale = 1,
     .def = "1m",
     .desc = "How long the rules a backend gave a client at CONNECT (acl_query, acl_cmd) are "
             "trusted; then they are fetched again in the background while the client keeps "
             "its old ones. 0: fetched once per connection."},
    {.name = "acl_deny_action",
     .type = CONF_ENUM,
     .section = CONF_SEC_AUTH,
     .flags = CONF_RELOAD,
     GLOBAL(acl_deny_action),
     .values = acl_deny_actions,
     .def = "ignore",
     .desc = "On a refused publish or subscribe: ignore (reason 0x87 / SUBACK 0x80; QoS 0 "
             "dropped) or disconnect (v5: DISCONNECT 0x87)."},

    /* mqtt */
    {.name = "mqtt.max_packet_size",
     .type = CONF_SIZE,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_packet_size),
     .min = 16,
     .max = 256 * MB,
     .cap = 268435455,
     .def = "1MB",
     .desc = "Largest packet accepted from a client; 256MB means the MQTT maximum."},
    {.name = "mqtt.max_clientid_len",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_clientid_len),
     .min = 23,
     .max = 65535,
     .def = "65535",
     .desc = "Longest client identifier accepted."},
    {.name = "mqtt.max_topic_levels",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_topic_levels),
     .min = 0,
     .max = 65535,
     .def = "128",
     .desc = "Most levels in a topic name or filter; 0 is unlimited."},
    {.name = "mqtt.max_qos_allowed",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_qos_allowed),
     .min = 0,
     .max = 2,
     .def = "2",
     .desc = "Highest QoS accepted on publish and granted on subscribe."},
    {.name = "mqtt.max_topic_alias",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_topic_alias),
     .min = 0,
     .max = 65535,
     .def = "65535",
     .desc = "Topic aliases an MQTT 5 client may use towards the broker; 0 disables them."},
    {.name = "mqtt.retain_available",
     .type = CONF_BOOL,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(retain_available),
     .def = "true",
     .desc = "Whether clients may publish retained messages."},
    {.name = "mqtt.wildcard_subscription",
     .type = CONF_BOOL,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(wildcard_subscription),
     .def = "true",
     .desc = "Whether topic filters may contain the + and # wildcards."},
    {.name = "mqtt.shared_subscription",
     .type = CONF_BOOL,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(shared_subscription),
     .def = "true",
     .desc = "Whether $share/<group>/<filter> subscriptions are allowed."},
    {.name = "mqtt.server_keepalive",
     .type = CONF_DURATION,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(server_keepalive),
     .min = 0,
     .max = 65535 * SEC,
     .scale = 1000,
     .def = "0",
     .desc = "Keep alive in seconds imposed on MQTT 5 clients; 0 honours the client's."},
    {.name = "mqtt.max_inflight",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_inflight),
     .min = 1,
     .max = 65535,
     .def = "32",
     .desc = "Unacknowledged QoS 1 and 2 messages in flight per session (also the broker's "
             "Receive Maximum)."},
    {.name = "mqtt.max_mqueue_len",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_mqueue_len),
     .min = 0,
     .max = UINT32_MAX,
     .def = "1000",
     .desc = "Messages queued per session beyond the inflight window or while offline; 0 is "
             "unlimited."},
    {.name = "mqtt.mqueue_store_qos0",
     .type = CONF_BOOL,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(mqueue_store_qos0),
     .def = "true",
     .desc = "Whether QoS 0 messages are queued for offline sessions too."},
    {.name = "mqtt.retry_interval",
     .type = CONF_DURATION,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(retry_interval_ms),
     .min = 100,
     .max = DAY,
     .scale = 1,
     .def = "30s",
     .desc = "Accepted for EMQX compatibility; moat resends unacknowledged QoS 1/2 messages "
             "when the session resumes, never on a live connection (MQTT 5 forbids it)."},
    {.name = "mqtt.max_awaiting_rel",
     .type = CONF_UINT,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(max_awaiting_rel),
     .min = 0,
     .max = 65535,
     .def = "100",
     .desc = "Incoming QoS 2 messages awaiting PUBREL per session; 0 is unlimited."},
    {.name = "mqtt.session_expiry_interval",
     .type = CONF_DURATION,
     .section = CONF_SEC_MQTT,
     .flags = CONF_RELOAD,
     GLOBAL(session_expiry_max),
     .min = 0,
     .max = UINT32_MAX * SEC,
     .scale = 1000,
     .def = "2h",
     .desc = "Longest session expiry a client may ask for; longer requests are cut to this."},

    /* retainer */
    {.name = "retainer.max_retained_messages",
     .type = CONF_UINT,
     .section = CONF_SEC_RETAINER,
     .flags = CONF_RELOAD,
     GLOBAL(max_retained),
     .min = 0,
     .max = UINT32_MAX,
     .def = "0",
     .desc = "Most retained messages kept; 0 is unlimited."},
    {.name = "retainer.max_payload_size",
     .type = CONF_SIZE,
     .section = CONF_SEC_RETAINER,
     .flags = CONF_RELOAD,
     GLOBAL(max_retained_payload),
     .min = 0,
     .max = 256 * MB,
     .def = "1MB",
     .desc = "Largest payload that is retained; 0 is unlimited."},

    /* persistence */
    {.name = "persistence.sync_interval",
     .type = CONF_DURATION,
     .section = CONF_SEC_PERSISTENCE,
     GLOBAL(sync_interval_ms),
     .min = 100,
     .max = HOUR,
     .scale = 1,
     .def = "1s",
     .desc = "How often the store is flushed to disk; writes since then survive a crash of "
             "moat but not of the OS."},

    /* dashboard */
    {.name = "dashboard.default_user.login",
     .type = CONF_STRING,
     .section = CONF_SEC_DASHBOARD,
     .flags = CONF_NONEMPTY,
     GLOBAL(dashboard_user),
     .def = "admin",
     .desc = "The first administrator's name, created on first start."},
    {.name = "dashboard.default_user.password",
     .type = CONF_STRING,
     .section = CONF_SEC_DASHBOARD,
     .flags = CONF_SECRET,
     GLOBAL(dashboard_password),
     .def = "",
     .desc = "The first administrator's password, used once on first start; empty: a random "
             "one is generated and printed once. Stored hashed; never a default password."},
    {.name = "dashboard.token_ttl",
     .type = CONF_DURATION,
     .section = CONF_SEC_DASHBOARD,
     .flags = CONF_RELOAD,
     GLOBAL(dashboard_token_ttl),
     .min = 60 * SEC,
     .max = 30 * DAY,
     .scale = 1000,
     .def = "1h",
     .desc = "How long a login (token or session cookie) lasts."},

    /* listeners; the declaration is the entry named "" */
    {.name = "",
     .type = CONF_ADDRESS,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     LISTENER(bind),
     .def = "",
     .desc = "Declares a listener on [ip:]port (a bare ip takes the type's port)."},
    {.name = "max_connections",
     .type = CONF_UINT,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,
     LISTENER(max_connections),
     .min = 1,
     .max = UINT32_MAX,
     .def = "1024000",
     .desc = "Most client connections on this listener."},
/* MQTT listeners: tcp, ssl, ws, wss (not the dashboard's http, https) */
#define MQTT_TYPES .listener_types = 0xfu

/* WebSocket listeners (ws, wss) */
#define WS_TYPES .listener_types = (1u << 2) | (1u << 3)
#define WS_OPT(n, t, f, d, text)                                                                   \
    {                                                                                              \
        .name = n, .type = t, .section = CONF_SEC_LISTENER, .flags = CONF_LISTENER, WS_TYPES,      \
        LISTENER(f), .def = d, .desc = text                                                        \
    }
    {.name = "mqtt_path",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_NONEMPTY,
     WS_TYPES,
     LISTENER(mqtt_path),
     .check = check_path,
     .def = "/mqtt",
     .desc = "URL path of the WebSocket endpoint; other paths are answered 404."},
    WS_OPT("fail_if_no_subprotocol", CONF_BOOL, fail_if_no_subprotocol, "true",
           "Refuse a WebSocket client that offers no MQTT subprotocol (Sec-WebSocket-Protocol: "
           "mqtt, mqttv3.1, mqtt-v3, mqtt-v3.1.1 or mqtt-v5)."),
    WS_OPT("check_origin_enable", CONF_BOOL, check_origin_enable, "false",
           "Refuse (403) browsers whose Origin is not in check_origins."),
    WS_OPT("allow_origin_absence", CONF_BOOL, allow_origin_absence, "true",
           "With check_origin_enable: accept clients that send no Origin (not browsers)."),
    {.name = "check_origins",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     WS_TYPES,
     LISTENER(check_origins),
     .check = check_origins,
     .def = "",
     .desc = "Origins allowed with check_origin_enable, e.g. https://app.example.com, "
             "http://localhost:8080 (comma separated)."},
    {.name = "allowed_origins",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     WS_TYPES,
     LISTENER(check_origins),
     .check = check_origins,
     .def = "",
     .desc = "Another name for check_origins."},
    {.name = "max_frame_size",
     .type = CONF_SIZE,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     WS_TYPES,
     LISTENER(max_frame_size),
     .min = 0,
     .max = 256 * MB,
     .def = "0",
     .desc = "Largest WebSocket frame accepted (a larger one closes with 1009); 0: only "
             "mqtt.max_packet_size limits."},
    {.name = "proxy_address_header",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     WS_TYPES,
     LISTENER(proxy_address_header),
     .check = check_header_name,
     .def = "X-Forwarded-For",
     .desc = "Header naming the client's address when a trusted proxy (trusted_proxies) "
             "forwards the connection; empty ignores it."},
    {.name = "proxy_port_header",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     WS_TYPES,
     LISTENER(proxy_port_header),
     .check = check_header_name,
     .def = "X-Forwarded-Port",
     .desc = "Header naming the client's port, from a trusted proxy; empty ignores it."},
    {.name = "trusted_proxies",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     WS_TYPES,
     LISTENER(trusted_proxies),
     .check = check_cidrs,
     .def = "",
     .desc = "Addresses or networks (CIDR) of proxies whose proxy_address_header is believed; "
             "empty: the header is ignored, whoever sends it."},
#undef WS_OPT
#undef WS_TYPES

    /* authentication, per listener */
    {.name = "auth_chain",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,
     MQTT_TYPES,
     LISTENER(auth_chain),
     .check = check_chain_or_empty,
     .def = "",
     .desc = "This listener's own authentication chain (same form as auth.chain), such as "
             "builtin on a loopback listener and pgsql on the public one. Empty: auth.chain."},
    {.name = "allow_anonymous",
     .type = CONF_ENUM,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,
     MQTT_TYPES,
     LISTENER(allow_anonymous),
     .values = listener_anon_modes,
     .def = "global",
     .desc = "Clients no source knows, on this listener: true, false, loopback, or global "
             "(the top-level allow_anonymous)."},

    /* PROXY protocol (every listener type) */
    {.name = "proxy_protocol",
     .type = CONF_BOOL,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     MQTT_TYPES,
     LISTENER(proxy_protocol),
     .def = "false",
     .desc = "Every connection starts with a PROXY protocol header (v1 or v2) from a load "
             "balancer; the client address and, with v2, a TLS client's CN are taken from it."},
    {.name = "proxy_protocol_timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     MQTT_TYPES,
     LISTENER(proxy_protocol_timeout_ms),
     .min = 100,
     .max = 10 * MIN,
     .scale = 1,
     .def = "3s",
     .desc = "A connection whose PROXY header has not arrived by then is closed."},
    {.name = "proxy_protocol_trusted",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER,
     MQTT_TYPES,
     LISTENER(proxy_protocol_trusted),
     .check = check_cidrs,
     .def = "",
     .desc = "Addresses or networks (CIDR) allowed to send PROXY headers; others are closed. "
             "Empty: any address (only the balancer should reach the port)."},

/* TLS listeners (ssl, wss; https later uses the same options) */
#define TLS_TYPES .listener_types = (1u << 1) | (1u << 3) | (1u << 5)
#define TLS_OPT(n, t, f, d, text)                                                                  \
    {                                                                                              \
        .name = n, .type = t, .section = CONF_SEC_LISTENER, .flags = CONF_LISTENER | CONF_RELOAD,  \
        TLS_TYPES, LISTENER(f), .def = d, .desc = text                                             \
    }
    TLS_OPT("certfile", CONF_STRING, certfile, "",
            "Server certificate, PEM: the leaf first, then its intermediates (a Let's Encrypt "
            "fullchain.pem works as is). Required."),
    TLS_OPT("keyfile", CONF_STRING, keyfile, "", "Private key of certfile, PEM. Required."),
    TLS_OPT("certfile2", CONF_STRING, certfile2, "",
            "Optional second certificate with a key of another type, to serve RSA and ECDSA "
            "clients on one port."),
    TLS_OPT("keyfile2", CONF_STRING, keyfile2, "", "Private key of certfile2."),
    TLS_OPT("cacertfile", CONF_STRING, cacertfile, "",
            "CA certificates that client certificates must chain to (two-way TLS)."),
    {.name = "key_password",
     .type = CONF_STRING,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD | CONF_SECRET,
     TLS_TYPES,
     LISTENER(key_password),
     .def = "",
     .desc = "Password of an encrypted keyfile (never logged or shown)."},
    TLS_OPT("dhfile", CONF_STRING, dhfile, "", "DH parameters, PEM, for DHE cipher suites."),
    {.name = "verify",
     .type = CONF_ENUM,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,
     TLS_TYPES,
     LISTENER(verify),
     .values = verify_modes,
     .def = "verify_none",
     .desc = "verify_peer asks clients for a certificate and verifies it against cacertfile."},
    TLS_OPT("fail_if_no_peer_cert", CONF_BOOL, fail_if_no_peer_cert, "false",
            "With verify_peer: refuse clients that present no certificate."),
    {.name = "depth",
     .type = CONF_UINT,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,
     TLS_TYPES,
     LISTENER(depth),
     .min = 0,
     .max = 100,
     .def = "10",
     .desc = "Most intermediate certificates allowed in a client's chain."},
    TLS_OPT("tls_versions", CONF_STRING, tls_versions, "tlsv1.3,tlsv1.2",
            "Protocol versions offered; TLS 1.0 and 1.1 are never offered."),
    TLS_OPT("ciphers", CONF_STRING, ciphers, "",
            "TLS 1.2 cipher suites, OpenSSL or IANA names, comma separated; empty: ECDHE with "
            "AES-GCM or ChaCha20-Poly1305 only."),
    TLS_OPT("ciphersuites", CONF_STRING, ciphersuites, "",
            "TLS 1.3 cipher suites; empty: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305."),
    TLS_OPT("ecdh_curves", CONF_STRING, ecdh_curves, "",
            "Key exchange groups, e.g. x25519,secp256r1; empty: X25519, P-256, P-384."),
    TLS_OPT("honor_cipher_order", CONF_BOOL, honor_cipher_order, "true",
            "The server's cipher order wins over the client's."),
    TLS_OPT("reuse_sessions", CONF_BOOL, reuse_sessions, "true",
            "Session resumption by ticket (TLS 1.2 and 1.3)."),
    TLS_OPT("secure_renegotiate", CONF_BOOL, secure_renegotiate, "false",
            "Allow client-initiated (secure) renegotiation in TLS 1.2; refused by default."),
    {.name = "handshake_timeout",
     .type = CONF_DURATION,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,
     TLS_TYPES,
     LISTENER(handshake_timeout_ms),
     .min = 100,
     .max = 10 * MIN,
     .scale = 1,
     .def = "15s",
     .desc = "A client that has not finished the TLS handshake by then is disconnected."},
    TLS_OPT("partial_chain", CONF_BOOL, partial_chain, "false",
            "Accept an intermediate CA in cacertfile as a trust anchor."),
    TLS_OPT("verify_peer_ext_key_usage", CONF_STRING, verify_peer_ext_key_usage, "",
            "Extended key usage client certificates must have, e.g. clientAuth; empty: none."),
    {.name = "peer_cert_as_username",
     .type = CONF_ENUM,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,

     MQTT_TYPES,
     LISTENER(peer_cert_as_username),
     .values = peer_ids,
     .def = "off",
     .desc = "Use this part of the client certificate as the MQTT username: cn, dn, crt, pem, "
             "md5, san_dns, san_email, san_uri, san_ip or fingerprint (SHA-256). On tcp and ws "
             "listeners behind a balancer that terminates TLS, cn comes from the PROXY v2 "
             "header."},
    {.name = "peer_cert_as_clientid",
     .type = CONF_ENUM,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,

     MQTT_TYPES,
     LISTENER(peer_cert_as_clientid),
     .values = peer_ids,
     .def = "off",
     .desc = "Use this part of the client certificate as the MQTT client id (same values)."},
    {.name = "clientid_must_match",
     .type = CONF_ENUM,
     .section = CONF_SEC_LISTENER,
     .flags = CONF_LISTENER | CONF_RELOAD,

     MQTT_TYPES,
     LISTENER(clientid_must_match),
     .values = peer_ids,
     .def = "off",
     .desc = "Refuse a CONNECT whose client id is not this part of the client certificate "
             "(same values)."},
#undef TLS_OPT
#undef TLS_TYPES
#undef MQTT_TYPES
};
const size_t conf_n_options = sizeof conf_options / sizeof conf_options[0];

_Static_assert(sizeof conf_options / sizeof conf_options[0] <= CONF_MAX_OPTIONS,
               "raise CONF_MAX_OPTIONS");
