/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: one declarative table of options (conf/conf_table.c) from
 * which come the parser, validation, `moat --help-config` and docs/config.md.
 *
 * File format (the seeds' / EMQX 4 style): `key = value` lines, `#` comments,
 * blank lines ignored. Sizes take units (B, KB, MB, GB; 1KB = 1024), durations
 * take units (ms, s, m, h, d; a bare number is seconds), booleans are
 * true/false/on/off. Listeners are declared per name:
 *     listener.tcp.external = 0.0.0.0:1883      (or just a port)
 *     listener.tcp.external.max_connections = 1024000
 */
#ifndef MOAT_CONF_H
#define MOAT_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

#define MOAT_CONF_MAX_LISTENERS 32

typedef enum moat_anon {
    MOAT_ANON_LOOPBACK = 0, /* default: anonymous only on loopback listeners/peers */
    MOAT_ANON_TRUE,
    MOAT_ANON_FALSE,
} moat_anon;

/* log.to: where log lines go. */
typedef enum moat_log_to {
    MOAT_LOG_TO_CONSOLE = 0, /* stderr only (default) */
    MOAT_LOG_TO_FILE,        /* log.file only */
    MOAT_LOG_TO_BOTH,        /* log.file and stderr */
} moat_log_to;

/* node.dev_certs: whether TLS listeners without certificate files of their
 * own serve the development set made in <data_dir>/certs (certs/devset.h). */
typedef enum moat_dev_certs { MOAT_DEV_CERTS_OFF = 0, MOAT_DEV_CERTS_AUTO } moat_dev_certs;

typedef enum moat_conf_verify { MOAT_VERIFY_NONE = 0, MOAT_VERIFY_PEER } moat_conf_verify;

/* Which part of a client certificate becomes an identity (EMQX 4's values
 * cn|dn|crt|pem|md5, and ours). Same order as moat_cert_id in certs/info.h,
 * shifted by one: 0 is "off". */
typedef enum moat_conf_peer_id {
    MOAT_PEER_ID_OFF = 0,
    MOAT_PEER_ID_CN,
    MOAT_PEER_ID_DN,
    MOAT_PEER_ID_CRT,
    MOAT_PEER_ID_PEM,
    MOAT_PEER_ID_MD5,
    MOAT_PEER_ID_SAN_DNS,
    MOAT_PEER_ID_SAN_EMAIL,
    MOAT_PEER_ID_SAN_URI,
    MOAT_PEER_ID_SAN_IP,
    MOAT_PEER_ID_FINGERPRINT,
} moat_conf_peer_id;

/* auth.user.N / auth.client.N: N = 1..MOAT_AUTH_MAX_ENTRIES. */
#define MOAT_AUTH_MAX_ENTRIES 64

/* One built-in credential: a username (auth.user.N.username) or a client id
 * (auth.client.N.clientid) and its password as auth.mnesia.password_hash
 * says (clear text with plain, else the hash). Empty id: unused entry. */
typedef struct moat_conf_cred {
    char id[128];
    char password[256];
    bool superuser; /* auth.user.N.is_superuser: no ACL applies */
} moat_conf_cred;

/* What a backend that cannot answer (down, slow, full queue) means. */
typedef enum moat_auth_on_error {
    MOAT_AUTH_ON_ERROR_DENY = 0, /* fail closed: CONNACK "server unavailable" */
    MOAT_AUTH_ON_ERROR_IGNORE,   /* as if it did not know the client: next source */
} moat_auth_on_error;

typedef enum moat_acl_nomatch {
    MOAT_ACL_NOMATCH_ALLOW = 0,
    MOAT_ACL_NOMATCH_DENY
} moat_acl_nomatch;
typedef enum moat_acl_deny_action {
    MOAT_ACL_DENY_IGNORE = 0,
    MOAT_ACL_DENY_DISCONNECT,
} moat_acl_deny_action;

typedef struct moat_listener_conf {
    char type[8];  /* "tcp", "ssl", "ws", "wss" */
    char name[64]; /* "external" */
    char bind[64]; /* address part, "0.0.0.0" when only a port was given */
    uint16_t port;
    uint32_t max_connections;
    char origin[300]; /* "file:line" where it was declared, for messages */
    /* TLS (ssl, wss): EMQX 4 names, see docs/config.md */
    char certfile[512];
    char keyfile[512];
    char certfile2[512]; /* a second certificate/key of another type (RSA + ECDSA) */
    char keyfile2[512];
    char cacertfile[512];
    char key_password[256];
    char dhfile[512];
    int verify; /* moat_conf_verify */
    bool fail_if_no_peer_cert;
    uint32_t depth;
    char tls_versions[64];
    char ciphers[1024];
    char ciphersuites[256];
    char ecdh_curves[256];
    bool honor_cipher_order;
    bool reuse_sessions;
    bool secure_renegotiate;
    uint32_t handshake_timeout_ms;
    bool partial_chain;
    char verify_peer_ext_key_usage[64];
    int peer_cert_as_username; /* moat_conf_peer_id */
    int peer_cert_as_clientid; /* moat_conf_peer_id */
    int clientid_must_match;   /* moat_conf_peer_id: refuse a CONNECT whose client id differs */
    /* WebSocket (ws, wss) */
    char mqtt_path[128];
    bool fail_if_no_subprotocol;
    bool check_origin_enable;
    bool allow_origin_absence;
    char check_origins[1024];
    uint32_t max_frame_size; /* 0: no limit of its own */
    char proxy_address_header[64];
    char proxy_port_header[64];
    char trusted_proxies[1024];
    /* Authentication (MQTT types): "" / 0 = the global settings apply */
    char auth_chain[256];
    int allow_anonymous; /* 0 = allow_anonymous; else moat_anon + 1 */
    /* PROXY protocol (every type) */
    bool proxy_protocol;
    uint32_t proxy_protocol_timeout_ms;
    char proxy_protocol_trusted[1024];
    /* false while only options of this listener were seen (they may come
     * before the declaration); moat_conf_validate rejects such a listener.
     * first_key is the first such option, for that message. */
    bool declared;
    char first_key[128];
} moat_listener_conf;

static inline bool moat_listener_is_tls(const moat_listener_conf *l)
{
    /* ssl, wss, https */
    return l->type[0] == 's' || (l->type[0] == 'w' && l->type[2] == 's') ||
           (l->type[0] == 'h' && l->type[4] == 's');
}
static inline bool moat_listener_is_ws(const moat_listener_conf *l)
{
    return l->type[0] == 'w'; /* ws, wss */
}
/* The dashboard's HTTP listeners (http, https), declared as
 * dashboard.listener.http[s] = [ip:]port. */
static inline bool moat_listener_is_http(const moat_listener_conf *l)
{
    return l->type[0] == 'h'; /* http, https */
}

typedef struct moat_conf {
    /* node */
    char data_dir[512];       /* node.data_dir, default "data" */
    uint32_t workers;         /* node.workers, 0 = one per core */
    uint32_t max_connections; /* node.max_connections, global */
    int dev_certs;            /* node.dev_certs: moat_dev_certs */
    /* log */
    int log_level;       /* log.level: moat_log_level */
    char log_file[512];  /* log.file, "" = stderr only (cleared when log.to = console) */
    bool log_to_console; /* log.to = console|file|both */
    moat_log_to log_to;  /* log.to itself; log_to_console is derived from it */
    /* dashboard */
    char dashboard_user[64];      /* dashboard.default_user.login */
    char dashboard_password[256]; /* dashboard.default_user.password; "" = generate */
    uint32_t dashboard_token_ttl; /* seconds a login token lasts */
    /* broker */
    uint32_t sys_interval_ms;  /* broker.sys_interval, 0 disables $SYS */
    moat_anon allow_anonymous; /* allow_anonymous */
    /* auth (src/auth) */
    char auth_chain[256];      /* auth.chain: source names in order */
    int auth_password_hash;    /* auth.mnesia.password_hash: moat_hash_alg */
    char password_file[512];   /* password_file: mosquitto_passwd format, "" = none */
    char acl_file[512];        /* acl_file: EMQX 4 acl.conf syntax, "" = none */
    int acl_nomatch;           /* acl_nomatch: moat_acl_nomatch */
    int acl_deny_action;       /* acl_deny_action: moat_acl_deny_action */
    uint32_t acl_cache_ttl_ms; /* acl_cache_ttl: backend rules fetched again after; 0 never */
    int auth_on_error;         /* auth.on_error: moat_auth_on_error */
    uint32_t auth_timeout_ms;  /* auth.timeout: a backend's answer, queue included */
    uint32_t auth_pool_size;   /* auth.pool_size: threads for blocking backends */
    uint32_t auth_queue_max;   /* auth.queue_max: requests waiting for a thread */
    uint32_t ban_max_failures; /* auth.ban.max_failures: 0 = failed logins never ban */
    uint32_t ban_window_ms;    /* auth.ban.window */
    uint32_t ban_duration_ms;  /* auth.ban.duration */
    char ban_exempt[1024];     /* auth.ban.exempt: CIDR list never banned by address */
    /* External backends (src/auth/backend.h): one block each, below. */
    /* -- backend settings: begin -- */

    /* -- pgsql settings (add below this line) -- */
    /* auth.pgsql.* and auth.mysql.* (EMQX 4's emqx_auth_pgsql / _mysql
     * keys): the same shape, so one struct type serves both. */
    struct moat_conf_sql {
        char server[256];          /* host[:port]; "" = not configured */
        uint32_t pool;             /* connections at most */
        char username[128];        /* the database user */
        char password[256];        /* its password (secret) */
        char database[128];        /* database name */
        char encoding[32];         /* pgsql: client_encoding */
        uint32_t query_timeout_ms; /* mysql: read/write timeout, below auth.timeout */
        bool ssl;                  /* TLS to the server */
        int ssl_verify;            /* 0 auto (when a CA file is set), 1 always, 2 never */
        char ssl_cacertfile[512];  /* verify the server with this CA ("" = encrypt only) */
        char ssl_certfile[512];    /* client certificate, "" = none */
        char ssl_keyfile[512];     /* its key */
        char auth_query[1024];     /* EMQX 4 template (sql.h) */
        char password_hash[64];    /* hash.h moat_hash_spec_parse */
        char super_query[1024];    /* "" = not used */
        char acl_query[1024];      /* "" = not used */
    } pgsql;

    /* -- mysql settings (add below this line) -- */
    struct moat_conf_sql mysql;

    /* -- redis settings (add below this line) -- */
    int auth_redis_type;                  /* auth.redis.type: 0 single, 1 sentinel, 2 cluster */
    char auth_redis_server[256];          /* auth.redis.server: host:port, "" = not configured */
    uint32_t auth_redis_pool;             /* auth.redis.pool: connections */
    uint32_t auth_redis_database;         /* auth.redis.database: SELECT n */
    char auth_redis_password[256];        /* auth.redis.password: AUTH, "" = none */
    uint32_t auth_redis_query_timeout_ms; /* auth.redis.query_timeout, 0 = auth.timeout only */
    char auth_redis_auth_cmd[512];        /* auth.redis.auth_cmd */
    char auth_redis_password_hash[128];   /* auth.redis.password_hash (hash.h spec) */
    char auth_redis_super_cmd[512];       /* auth.redis.super_cmd, "" = none */
    char auth_redis_acl_cmd[512];         /* auth.redis.acl_cmd, "" = none */

    /* -- ldap settings (add below this line) -- */
    char ldap_servers[512];        /* auth.ldap.servers: hosts, comma-separated; "" = off */
    uint32_t ldap_port;            /* auth.ldap.port */
    uint32_t ldap_pool;            /* auth.ldap.pool: connections */
    char ldap_bind_dn[512];        /* auth.ldap.bind_dn */
    char ldap_bind_password[256];  /* auth.ldap.bind_password */
    uint32_t ldap_timeout_ms;      /* auth.ldap.timeout */
    char ldap_device_dn[512];      /* auth.ldap.device_dn: search base */
    char ldap_objectclass[128];    /* auth.ldap.match_objectclass */
    char ldap_username_attr[128];  /* auth.ldap.username.attributetype */
    char ldap_password_attr[128];  /* auth.ldap.password.attributetype */
    bool ldap_bind_as_user;        /* auth.ldap.bind_as_user */
    bool ldap_allow_plain;         /* auth.ldap.allow_plain_password */
    bool ldap_ssl;                 /* auth.ldap.ssl: ldaps:// */
    char ldap_ssl_cacertfile[512]; /* auth.ldap.ssl.cacertfile */
    char ldap_ssl_certfile[512];   /* auth.ldap.ssl.certfile */
    char ldap_ssl_keyfile[512];    /* auth.ldap.ssl.keyfile */
    int ldap_ssl_verify;           /* auth.ldap.ssl.verify: moat_conf_verify */

    /* -- http settings (add below this line) -- */
    char auth_http_auth_url[1024];         /* auth.http.auth_req(.url), "" = not configured */
    int auth_http_auth_method;             /* auth.http.auth_req.method: 0 post, 1 get */
    int auth_http_auth_ctype;              /* ...headers.content-type: moat_tmpl_enc */
    char auth_http_auth_params[512];       /* auth.http.auth_req.params */
    char auth_http_super_url[1024];        /* auth.http.super_req(.url), "" = none */
    int auth_http_super_method;            /* auth.http.super_req.method */
    int auth_http_super_ctype;             /* auth.http.super_req.headers.content-type */
    char auth_http_super_params[512];      /* auth.http.super_req.params */
    uint32_t auth_http_timeout_ms;         /* auth.http.timeout */
    uint32_t auth_http_connect_timeout_ms; /* auth.http.connect_timeout */
    uint32_t auth_http_pool_size;          /* auth.http.pool_size: connections */
    char auth_http_cacertfile[512];        /* auth.http.ssl.cacertfile, "" = system CAs */
    char auth_http_certfile[512];          /* auth.http.ssl.certfile: client certificate */
    char auth_http_keyfile[512];           /* auth.http.ssl.keyfile */
    bool auth_http_verify;                 /* auth.http.ssl.verify */
    bool auth_http_pipelining;             /* auth.http.enable_pipelining: accepted, unused */

    /* -- jwt settings (add below this line) -- */
    char jwt_secret[512];         /* auth.jwt.secret: HS256/384/512 key; "" = none */
    char jwt_pubkey[512];         /* auth.jwt.pubkey: PEM file (RSA or EC P-256); "" = none */
    int jwt_from;                 /* auth.jwt.from: 0 password, 1 username */
    bool jwt_verify_claims;       /* auth.jwt.verify_claims */
    char jwt_claim_username[256]; /* auth.jwt.verify_claims.username */
    char jwt_claim_clientid[256]; /* auth.jwt.verify_claims.clientid */
    char jwt_claim_sub[256];      /* auth.jwt.verify_claims.sub */
    char jwt_claim_iss[256];      /* auth.jwt.verify_claims.iss */
    char jwt_claim_aud[256];      /* auth.jwt.verify_claims.aud */
    char jwt_acl_claim[64];       /* auth.jwt.acl_claim_name; "" = no ACL from tokens */
    uint32_t jwt_leeway_ms;       /* auth.jwt.leeway: clock skew allowed on exp / nbf */

    /* -- store settings (add below this line) -- */
    bool auth_store_enable; /* auth.store.enable: the built-in user store (auth/userdb.h) */

    /* -- backend settings: end -- */
    moat_conf_cred auth_users[MOAT_AUTH_MAX_ENTRIES];   /* auth.user.N.* */
    moat_conf_cred auth_clients[MOAT_AUTH_MAX_ENTRIES]; /* auth.client.N.* */
    /* mqtt */
    uint32_t max_packet_size;      /* mqtt.max_packet_size, bytes */
    uint32_t max_clientid_len;     /* mqtt.max_clientid_len */
    uint32_t max_topic_levels;     /* mqtt.max_topic_levels, 0 = unlimited */
    uint8_t max_qos_allowed;       /* mqtt.max_qos_allowed */
    uint16_t max_topic_alias;      /* mqtt.max_topic_alias (client->server) */
    bool retain_available;         /* mqtt.retain_available */
    bool wildcard_subscription;    /* mqtt.wildcard_subscription */
    bool shared_subscription;      /* mqtt.shared_subscription */
    uint16_t server_keepalive;     /* mqtt.server_keepalive, 0 = use the client's */
    uint16_t max_inflight;         /* mqtt.max_inflight (server receive maximum too) */
    uint32_t max_mqueue_len;       /* mqtt.max_mqueue_len, queued per session */
    bool mqueue_store_qos0;        /* mqtt.mqueue_store_qos0 */
    uint32_t retry_interval_ms;    /* mqtt.retry_interval */
    uint32_t max_awaiting_rel;     /* mqtt.max_awaiting_rel */
    uint32_t session_expiry_max;   /* mqtt.session_expiry_interval: upper bound, seconds */
    uint32_t max_retained;         /* retainer.max_retained_messages, 0 = unlimited */
    uint32_t max_retained_payload; /* retainer.max_payload_size, bytes */
    uint32_t sync_interval_ms;     /* persistence.sync_interval */
    /* listeners */
    uint32_t n_listeners;
    moat_listener_conf listeners[MOAT_CONF_MAX_LISTENERS];
} moat_conf;

/* Defaults: one tcp listener "default" on 0.0.0.0:1883. What a file is
 * read over. */
void moat_conf_defaults(moat_conf *c);

/* The built-in configuration, used when moat runs without a file: the
 * defaults plus node.dev_certs = auto and two TLS listeners on the
 * development set, ssl "default" on 0.0.0.0:8883 and wss "default" on
 * 0.0.0.0:8084 (path /mqtt), so that TLS works out of the box with a CA of
 * this installation's own. A file never gets these listeners. */
void moat_conf_builtin(moat_conf *c);

/* Parse a file over the defaults. A file that declares any listener replaces
 * the built-in default listener. On error returns MOAT_EINVAL and writes
 * "file:line: key: what is wrong (expected ...)" to err; when the file cannot
 * be read, MOAT_EIO and "file: cannot open: <strerror>". On any error *c is
 * left exactly as it was (a bad file on SIGHUP changes nothing). */
moat_err moat_conf_load(moat_conf *c, const char *path, char *err, size_t errlen);
/* Same, from a string (tests); name is used in messages. */
moat_err moat_conf_load_string(moat_conf *c, const char *name, const char *text, char *err,
                               size_t errlen);
/* Apply one `key = value` setting (the parser's inner step). origin ("file:line",
 * or NULL) prefixes messages. Call moat_conf_validate() after a series of these. */
moat_err moat_conf_set(moat_conf *c, const char *key, const char *value, const char *origin,
                       char *err, size_t errlen);

/* End-of-input checks, done by moat_conf_load*() itself; call it after
 * moat_conf_set() used on its own. Rejects listeners whose options were set
 * but which were never declared, and log.to = file|both without log.file;
 * derives log_to_console (and clears log_file for log.to = console); with
 * node.dev_certs = auto, gives TLS listeners that name neither certfile nor
 * keyfile the development set's files (and its ca.pem as cacertfile when
 * they name none). */
moat_err moat_conf_validate(moat_conf *c, char *err, size_t errlen);

/* The effective configuration as `key = value` lines that load back to the
 * same configuration (moat --check-config -v). */
void moat_conf_dump(const moat_conf *c, FILE *f);

/* For SIGHUP: how many settings that are not reloadable differ between old
 * and next (listeners added, removed or moved count as listener.<type>.<name>);
 * their keys go to out, comma-separated (may be NULL). 0: all differences, if
 * any, can be applied without a restart. */
int moat_conf_diff_static(const moat_conf *old, const moat_conf *next, char *out, size_t outlen);

/* "loopback", "true", "false". */
const char *moat_anon_name(moat_anon a);

/* Human help for every option (moat --help-config). */
void moat_conf_print_help(FILE *f);
/* docs/config.md, generated from the table. */
void moat_conf_print_markdown(FILE *f);

/* Helpers other modules may use for their own values. MOAT_EINVAL when
 * malformed, MOAT_ELIMIT when the number overflows 64 bits. */
moat_err moat_conf_parse_size(const char *s, uint64_t *out);        /* "1MB" */
moat_err moat_conf_parse_duration_ms(const char *s, uint64_t *out); /* "1m" */
moat_err moat_conf_parse_bool(const char *s, bool *out);

#endif
