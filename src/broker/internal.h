/* SPDX-License-Identifier: Apache-2.0 */
/* Broker internals shared by the files of src/broker/.
 *
 * Threading model. Each worker thread runs one event loop and owns the
 * connections it accepted: their transport, input and output buffers are
 * touched only by that thread. Everything shared — the session table, the
 * subscription and retained trees, each session's queue and in-flight window,
 * statistics — is guarded by the one broker lock (b->lock). A connection is
 * handed work from another thread by marking it dirty (worker_mark_dirty):
 * its own loop then pumps the session's queue into the output buffer.
 * Connections are reference counted so that a posted task can never see a
 * freed one; sessions are only freed under the lock, and a connection finds
 * its session through conn->session, also under the lock. */
#ifndef MOAT_BROKER_INTERNAL_H
#define MOAT_BROKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/acl.h"
#include "auth/auth.h"
#include "base/buf.h"
#include "base/map.h"
#include "broker/broker.h"
#include "conf/conf.h"
#include "core/loop.h"
#include "mqtt/codec.h"
#include "mqtt/topic.h"
#include "proxy/proxy.h"
#include "store/store.h"
#include "tls/tls.h"
#include "transport/transport.h"
#include "ws/ws_transport.h"

typedef struct moat_worker moat_worker;
typedef struct moat_conn moat_conn;
typedef struct moat_session moat_session;

/* ------------------------------------------------------------------ msg */

/* An application message as routed: immutable once made, shared by every
 * session it is queued on (atomic refcount). */
typedef struct moat_msg {
    atomic_uint refs;
    uint8_t qos;
    bool retain;
    bool has_expiry;
    uint8_t payload_format;
    int64_t expiry_at; /* wall-clock ms when the message expires (has_expiry) */
    uint32_t topic_len;
    uint32_t payload_len;
    uint32_t props_len;
    char *topic;        /* NUL-terminated, inside data */
    uint8_t *payload;   /* inside data */
    uint8_t *props;     /* forwardable v5 properties, wire form, inside data */
    const void *origin; /* the publishing session, for no-local (never dereferenced) */
    char data[];
} moat_msg;

moat_msg *msg_new(const char *topic, size_t tlen, const void *payload, size_t plen,
                  const void *props, size_t props_len);
static inline moat_msg *msg_ref(moat_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}
void msg_unref(moat_msg *m);
/* Serialise / parse for the store. */
moat_err msg_serialize(const moat_msg *m, moat_buf *out);
moat_msg *msg_deserialize(const uint8_t *p, size_t len, size_t *used);

/* ------------------------------------------------------------- session */

enum { QE_QUEUED = 0, QE_WAIT_ACK /* PUBACK or PUBREC */, QE_WAIT_COMP /* PUBCOMP */ };

/* One message on its way to one session. */
typedef struct qentry {
    struct qentry *next;
    moat_msg *msg;
    uint64_t seq;       /* store key when persisted, else 0 */
    uint16_t packet_id; /* 0 until sent with QoS > 0 */
    uint8_t qos;        /* effective QoS */
    uint8_t state;
    bool retain; /* retain flag as delivered */
    bool dup;
    uint8_t n_sub_ids;
    uint32_t sub_ids[4];
} qentry;

typedef struct qlist {
    qentry *head, *tail;
    uint32_t len;
} qlist;

/* A subscription as the session remembers it (for persistence, resume). */
typedef struct sess_sub {
    char *filter; /* full filter as sent, incl. "$share/g/" */
    uint8_t options;
    uint32_t sub_id;
} sess_sub;

/* Subscription option bits stored in moat_sub.options. */
#define SUBOPT_QOS_MASK 0x03
#define SUBOPT_NO_LOCAL 0x04
#define SUBOPT_RAP 0x08
#define SUBOPT_RH_SHIFT 4

struct moat_session {
    char *client_id;         /* counted (base/rcstr.h), shared with the connection */
    moat_conn *conn;         /* NULL when offline */
    int64_t disconnected_at; /* wall ms, when offline */
    uint64_t next_seq;       /* store sequence for queued messages */
    qlist inflight;          /* sent, not yet acknowledged (order of sending) */
    qlist queue;             /* waiting to be sent */
    uint64_t *pid_map;       /* packet ids in flight, for large windows (session.c) */
    sess_sub *subs;
    /* inbound QoS 2 packet ids received but not yet released */
    uint16_t *awaiting_rel;
    /* will, kept while a delayed will is pending after disconnect */
    moat_msg *will;
    int64_t will_at; /* wall ms; 0 = no pending will */
    /* routing scratch */
    uint64_t route_epoch;
    uint32_t route_idx;
    uint32_t client_id_len;
    uint32_t expiry; /* seconds, as granted */
    uint32_t n_subs, cap_subs;
    uint32_t n_awaiting_rel, cap_awaiting_rel;
    uint32_t dropped; /* messages dropped at max_mqueue_len */
    uint16_t next_pid;
    uint8_t version;
    bool persistent; /* stored in the store (expiry > 0) */
};

/* --------------------------------------------------------------- conn */

/* CS_AUTH: the CONNECT waits for an authentication backend (auth/auth.h);
 * nothing more is read from the client's input until it is decided. */
enum conn_state { CS_NEW = 0, CS_CONNECTED, CS_CLOSING, CS_CLOSED, CS_AUTH };

struct auth_wait;

/* Who the client is beyond its CONNECT, allocated only when there is
 * something to keep (a client certificate, rules from a backend, a CONNECT
 * waiting for a backend): a plain client costs one NULL pointer. */
typedef struct conn_ident {
    char *cert_cn;                    /* CN of a verified client certificate, for ACL {cn, ...} */
    char *cert_dn;                    /* its subject DN, for backends (%d) */
    struct moat_acl *acl;             /* the client's own rules, from the backend that allowed it */
    struct auth_wait *wait;           /* CS_AUTH: the pending request (handle_connect.c) */
    const struct moat_auth *acl_auth; /* ... the chain that backend belongs to */
    size_t acl_src;                   /* ... and its index there (refreshes) */
    int64_t acl_at;                   /* monotonic ms the rules were fetched */
    bool acl_refreshing;
} conn_ident;

typedef struct moat_listener moat_listener;

/* "[" INET6_ADDRSTRLEN - 1 "]:65535" and the NUL. */
#define CONN_PEER_MAX 54

/* Topic aliases of a v5 connection, allocated when first used. */
typedef struct conn_aliases {
    char **in; /* inbound (client->server), by number */
    uint32_t in_cap;
    moat_map out; /* outbound: topic -> alias */
} conn_aliases;

/* Fields are grouped by size (8, 4, 2, 1 bytes, then peer) so that the
 * struct has no holes: one is kept per connection, idle ones included. */
struct moat_conn {
    moat_worker *worker;
    moat_listener *listener;
    moat_transport *tr; /* &tcp, or a filter (TLS) over it */
    moat_transport tcp;
    uint64_t id;
    char *tls_desc; /* owned: "TLSv1.3 TLS_AES_128_GCM_SHA256 cert=CN=..." for the log */
    char *proxy_cn; /* owned: CN of a client certificate a balancer verified (PROXY v2) */
    moat_buf in, out;
    int64_t last_rx; /* monotonic ms */
    int64_t created;
    /* From CONNECT; valid while connected. */
    char *client_id; /* counted (base/rcstr.h): moat_rcstr_new/_unref, never free() */
    char *username;
    conn_ident *ident;   /* owned: certificate identity, backend rules; NULL when none */
    conn_aliases *alias; /* NULL until a topic alias is used */
    /* will from CONNECT */
    moat_msg *will;
    const char *close_text;
    moat_session *session; /* guarded by b->lock */
    atomic_uint refs;
    uint32_t hs_timeout_ms;
    uint32_t max_packet_out; /* client's maximum packet size (0 = none) */
    uint32_t will_delay;
    uint16_t keep_alive;     /* seconds, as in force */
    uint16_t recv_max;       /* how many QoS>0 we may have unacked at the client */
    uint16_t alias_max_out;  /* client's topic alias maximum */
    uint16_t alias_out_next; /* outbound aliases given so far */
    atomic_bool dirty;       /* queued on its worker's dirty list */
    uint8_t state;           /* enum conn_state */
    uint8_t version;         /* 0 until CONNECT */
    uint8_t will_qos;
    uint8_t close_reason; /* reason logged at close */
    bool over_limit;      /* accepted past a connection limit: refuse CONNECT */
    bool want_write;      /* EPOLLOUT armed */
    bool graceful;        /* DISCONNECT 0x00 received: no will */
    bool is_loopback_peer;
    bool tls;               /* the transport is TLS (maybe over something else) */
    bool cert_verified;     /* a client certificate was presented and verified */
    bool proxy_pending;     /* the PROXY protocol header is still to come */
    bool via_trusted_proxy; /* the socket peer is in the listener's trusted_proxies */
    bool addr_forwarded;    /* peer is the client a balancer named, not the socket's */
    bool request_problem_info;
    bool superuser;           /* authenticated as a superuser: no ACL applies */
    char peer[CONN_PEER_MAX]; /* "ip:port" or "[ipv6]:port" */
};

/* ------------------------------------------------------------- broker */

struct moat_listener {
    moat_listener_conf conf;
    char label[80]; /* "tcp:external" */
    int fd;
    bool loopback;
    atomic_uint count;
    bool is_tls;             /* ssl, wss: tls_slot holds its context */
    bool is_ws;              /* ws, wss: ws holds the WebSocket settings */
    bool is_http;            /* http, https: the dashboard, not MQTT */
    atomic_int tls_uploaded; /* TLS_UPLOADED_*: a certificate uploaded through the dashboard */
    moat_ws_settings ws;
    char *origins_text;             /* check_origins, split in place ... */
    const char **origins;           /* ... into these */
    moat_cidr_list trusted_proxies; /* ws: whose proxy_address_header is believed */
    moat_cidr_list proxy_trusted;   /* PROXY protocol: who may send the header */
    moat_tls_slot tls_slot;         /* the context for new handshakes (reload swaps it) */
    uint32_t index;                 /* in CONF(b)->listeners, for reloadable options */
    int64_t warned_not_after;       /* expiry warnings given for this certificate ... */
    int warned_level;               /* ... up to this level (1: 30 days, 2: 7, 3: 1) */
};

#define WORKER_RBUF (64 * 1024)

/* Add to a per-worker counter from its own thread: a plain load and store,
 * no locked instruction (only this thread writes it). */
#define WSTAT_ADD(w, field, n)                                                                     \
    atomic_store_explicit(&(w)->field,                                                             \
                          atomic_load_explicit(&(w)->field, memory_order_relaxed) + (n),           \
                          memory_order_relaxed)

struct moat_worker {
    moat_broker *b;
    /* Statistics of this worker's connections: written by its thread only,
     * summed for $SYS (a torn read of a counter only makes one sample late). */
    _Atomic uint64_t bytes_received, bytes_sent, msgs_sent, msgs_received;
    uint8_t *rbuf; /* WORKER_RBUF bytes: every read lands here first */
    moat_loop *loop;
    pthread_t thread;
    unsigned index;
    moat_conn **conns; /* all conns of this worker (for keepalive sweep) */
    uint32_t n_conns, cap_conns;
    moat_conn **dirty;
    uint32_t n_dirty, cap_dirty;
    moat_conn **dirty_spare; /* the other list, swapped in by before_sleep */
    uint32_t cap_spare;
    pthread_mutex_t dirty_lock; /* dirty list is appended from other threads */
    struct hconn *hconns;       /* the dashboard's HTTP connections on this worker */
    /* The packet being dispatched, as received (a CONNECT that must wait
     * for a backend keeps a copy to decode again). */
    const uint8_t *cur_frame;
    size_t cur_frame_len;
    atomic_bool wake_posted;
};

typedef struct moat_stats {
    atomic_uint_fast64_t msgs_dropped;
    atomic_uint clients_connected;
} moat_stats;

struct moat_broker {
    moat_conf conf;            /* as started: listeners, data_dir, workers */
    _Atomic(moat_conf *) live; /* in force now: CONF(b); replaced on SIGHUP */
    moat_conf **retired;       /* earlier live configs, freed at exit */
    uint32_t n_retired;
    char conf_path[512];
    /* Authentication chain and ACL (auth/auth.h) of the configuration in
     * force: AUTH(b). Replaced with it on SIGHUP; old ones freed at exit. */
    _Atomic(moat_auth *) auth;
    moat_auth **auth_retired;
    uint32_t n_auth_retired;
    struct moat_pool *auth_pool; /* threads for blocking backends (auth/pool.h) */
    struct moat_bans *bans;      /* failed-login counters and the ban list (auth/ban.h) */
    int64_t last_ban_sweep;      /* monotonic ms */
    atomic_bool auth_draining;   /* stopping: backend answers are dropped, not posted */
    pthread_mutex_t lock;
    moat_store *store;
    moat_map sessions; /* client id -> moat_session */
    moat_subtree *subs;
    moat_rettree *retained;
    moat_map share_rr; /* "group\0filter" -> round-robin counter (uintptr) */
    uint64_t route_epoch;
    uint32_t n_workers;
    moat_worker *workers;
    uint32_t n_listeners;
    moat_listener *listeners;
    atomic_uint conn_count;
    atomic_uint_fast64_t next_conn_id;
    atomic_bool stopping;
    atomic_bool reload_requested;
    int64_t started_at; /* wall ms */
    int64_t last_sys;   /* monotonic ms */
    pthread_t sync_thread;
    atomic_bool sync_stop;
    int64_t last_expiry_check;
    moat_stats stats;
    uint32_t assigned_id_counter;
    struct tls_reloader *tls_reloader;
    struct dash_auth *dash; /* dashboard administrators and logins, when it has a listener */
    atomic_uint_fast64_t tls_reloads, tls_reload_failed;
    /* routing scratch (lock held) */
    struct route_target *targets;
    uint32_t n_targets, cap_targets;
    struct route_group *groups;
    uint32_t n_groups, cap_groups;
};

typedef struct route_target {
    moat_session *s;
    uint8_t qos;
    bool retain;
    uint8_t n_sub_ids;
    uint32_t sub_ids[4];
} route_target;

typedef struct route_group {
    const char *group; /* owned by the subtree; valid during the match */
    const char *filter;
    size_t flen;
    moat_session **members;
    uint8_t *opts;
    uint32_t *sub_id;
    uint32_t n, cap;
} route_group;

/* The configuration in force. Readers may be on any thread and take no
 * lock: a reload publishes a new immutable copy and keeps the old one alive
 * until exit, so a pointer read here stays valid. */
#define CONF(b) ((const moat_conf *)atomic_load_explicit(&(b)->live, memory_order_acquire))

/* The authentication chain and ACL in force (same rules as CONF). */
#define AUTH(b) ((const moat_auth *)atomic_load_explicit(&(b)->auth, memory_order_acquire))

/* auth glue (handle_connect.c): the client as the auth sources see it. addr
 * is storage for the parsed peer address. */
void conn_auth_client(const moat_conn *c, moat_auth_client *cl, struct sockaddr_storage *addr);
/* A CONNECT waited longer than auth.timeout for its backend: refuse it
 * (CONNACK server unavailable) and close. */
void connect_auth_overdue(moat_conn *c);
/* Handle the packets waiting in c->in (after an authentication wait). */
void conn_take_buffered(moat_conn *c);
/* Frees c->ident (not its wait, which holds a reference to c). */
void conn_ident_free(conn_ident *id);
/* ACL check for PUBLISH (topic name) / SUBSCRIBE (filter): true = allowed. */
bool conn_acl_allows(const moat_conn *c, moat_acl_access access, const char *topic, size_t len);

/* time */
int64_t wall_ms(void);

/* worker.c */
void worker_mark_dirty(moat_conn *c); /* any thread, lock held or not */
moat_worker *worker_current(void);
void worker_add_conn(moat_worker *w, moat_conn *c);
void worker_remove_conn(moat_worker *w, moat_conn *c);

/* conn.c */
/* "ip:port" or "[ipv6]:port" of sa into out; *loopback set when it is a loopback address. */
void sockaddr_name(const struct sockaddr *sa, char *out, size_t len, bool *loopback);
void conn_ref(moat_conn *c);
void conn_unref(moat_conn *c);
moat_err conn_accept(moat_worker *w, moat_listener *l, int fd, const struct sockaddr *sa);
/* Encode and queue a packet on the connection (its loop thread only). */
moat_err conn_send(moat_conn *c, const mqtt_packet *p);
/* Close: for v5 sends DISCONNECT with reason first when reason >= 0x80 and
 * send_disconnect. text: reason string for the log (and v5 packet). Loop
 * thread only. */
void conn_close(moat_conn *c, uint8_t reason, const char *text, bool send_disconnect);
/* Pump the session queue into the output buffer and write. Loop thread. */
void conn_flush(moat_conn *c);
/* Resend the in-flight window of a resumed session (lock held). */
void conn_resend_inflight(moat_conn *c, moat_session *s);
void conn_keepalive_sweep(moat_worker *w, int64_t now);

/* handle_*.c: each returns MOAT_OK or an error with c->close_reason set */
moat_err handle_connect(moat_conn *c, mqtt_packet *p);
moat_err handle_publish(moat_conn *c, mqtt_packet *p);
moat_err handle_puback(moat_conn *c, mqtt_packet *p); /* PUBACK, PUBREC, PUBCOMP */
moat_err handle_pubrel(moat_conn *c, mqtt_packet *p);
moat_err handle_subscribe(moat_conn *c, mqtt_packet *p);
moat_err handle_unsubscribe(moat_conn *c, mqtt_packet *p);
moat_err handle_disconnect(moat_conn *c, mqtt_packet *p);
/* Connection gone (loop thread): detach the session, will, expiry. */
void session_on_conn_closed(moat_conn *c);

/* session.c (lock held for all) */
/* id: a counted string (base/rcstr.h); the session takes a reference. */
moat_session *session_new(moat_broker *b, char *id, size_t idlen);
void session_destroy(moat_broker *b, moat_session *s); /* removes subs, store, frees */
void session_enqueue(moat_broker *b, moat_session *s, moat_msg *m, uint8_t qos, bool retain,
                     const uint32_t *sub_ids, uint8_t n_sub_ids);
moat_err session_add_sub(moat_broker *b, moat_session *s, const char *filter, size_t flen,
                         uint8_t options, uint32_t sub_id, bool *existed);
moat_err session_del_sub(moat_broker *b, moat_session *s, const char *filter, size_t flen);
void session_persist(moat_broker *b, moat_session *s);
void session_persist_entry(moat_broker *b, moat_session *s, qentry *e);
void session_unpersist_entry(moat_broker *b, moat_session *s, qentry *e);
void qentry_free(qentry *e);
bool session_pid_used(const moat_session *s, uint16_t id);
void session_inflight_push(moat_session *s, qentry *e);
void session_inflight_remove(moat_session *s, qentry *e, qentry *prev);
void qlist_push(qlist *l, qentry *e);
qentry *qlist_pop(qlist *l);
void qlist_remove(qlist *l, qentry *e, qentry *prev);
void broker_tick(moat_broker *b); /* wills, expiry, $SYS, sync: worker 0 */
moat_err broker_load(moat_broker *b, char *err, size_t errlen);

/* route.c (takes the lock itself) */
void broker_publish(moat_broker *b, moat_msg *m, const void *origin_session);
/* lock held */
void broker_publish_locked(moat_broker *b, moat_msg *m, const void *origin_session);
void retain_store(moat_broker *b, moat_msg *m); /* lock held */
/* A will: kept as retained if flagged, then routed (lock held). */
void broker_publish_will(moat_broker *b, moat_msg *w);

/* tls_listener.c */
/* Build without logging: every finding goes to r (the dashboard's upload). */
moat_err tls_listener_try(const moat_listener_conf *lc, moat_tls_ctx **out, moat_cert_report *r);
/* A certificate uploaded through the dashboard lives in node.data_dir/tls/<type>-<name>/
 * (cert.pem, key.pem, and ca.pem for two-way) and replaces the configured one. */
enum { TLS_UPLOADED_NONE = 0, TLS_UPLOADED_ONE_WAY, TLS_UPLOADED_TWO_WAY };
void tls_upload_dir(const moat_broker *b, const moat_listener *l, char *out, size_t n);
void tls_override_apply(const moat_broker *b, const moat_listener *l, moat_listener_conf *lc);
void tls_override_load(const moat_broker *b, moat_listener *l); /* at start-up */
moat_err tls_listener_build(const moat_listener_conf *lc, const char *label, moat_tls_ctx **out,
                            char *err, size_t errlen);
moat_err tls_reloader_start(moat_broker *b);
void tls_reloader_request(moat_broker *b); /* any thread */
void tls_reloader_stop(moat_broker *b);

/* sys.c */
void sys_publish(moat_broker *b);
void tls_expiry_warnings(moat_broker *b); /* worker 0 tick */

#endif
