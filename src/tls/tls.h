/* SPDX-License-Identifier: Apache-2.0 */
/* Server-side TLS for moat's listeners (ssl now, wss and https later).
 *
 * Two objects:
 *
 *  - moat_tls_ctx: one per listener and per generation of its certificate
 *    material. Built from a moat_tls_conf after every file has been checked
 *    (src/certs/check.h); refuses to build when anything is wrong, and says
 *    what in a report. Immutable once built, shared by all worker threads,
 *    reference counted. A reload builds a new ctx and swaps it in for new
 *    handshakes (moat_tls_slot); each connection holds a reference to the
 *    ctx it started with, so old connections carry on untouched.
 *
 *  - a TLS transport (moat_tls_transport_new): a moat_transport that wraps
 *    another one (tcp, or anything else) and turns ciphertext from it into
 *    plaintext for the MQTT code. OpenSSL never sees the fd: a custom BIO
 *    calls the inner transport's read and write, so the inner layer may itself
 *    be a filter, and the event loop keeps the one registration of the fd.
 *    WANT_READ/WANT_WRITE come back up as MOAT_EAGAIN plus has_pending and
 *    wants_write (see transport.h).
 *
 * Threading: a ctx may be used from any thread (new transports on any
 * worker, ref/unref anywhere). A transport belongs to the loop thread of its
 * connection, like every transport. The counters are process-wide atomics.
 *
 * Nothing here logs. Failures come back as moat_err, a report, or a reason
 * and a sentence on the transport, for the listener to log with the peer. */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "certs/check.h"
#include "certs/info.h"
#include "transport/transport.h"

/* ------------------------------------------------------------ settings */

/* Protocol versions, a bitmask. TLS 1.0 and 1.1 are not offered at all. */
enum { MOAT_TLS_V1_2 = 1u << 0, MOAT_TLS_V1_3 = 1u << 1 };

typedef enum moat_tls_verify {
    MOAT_TLS_VERIFY_NONE = 0, /* do not ask for a client certificate */
    MOAT_TLS_VERIFY_PEER,     /* ask, and verify it against cacertfile */
} moat_tls_verify;

/* Every per-listener TLS option, under its EMQX 4 name
 * (listener.ssl.<name>.<option>). Strings are borrowed: moat_tls_ctx_new()
 * reads them and keeps its own copies of what it needs. NULL means "not set"
 * and takes the default. Start from moat_tls_conf_defaults(). */
typedef struct moat_tls_conf {
    const char *certfile;      /* PEM: server certificate, then intermediates */
    const char *keyfile;       /* PEM private key (PKCS#8 or traditional) */
    const char *certfile2;     /* optional second certificate of another key */
    const char *keyfile2;      /* type (RSA + ECDSA served at once) */
    const char *key_password;  /* for encrypted keys (both pairs) */
    const char *cacertfile;    /* trust anchors for client certificates; also
                                  used to complete a server chain that lacks
                                  its intermediates (EMQX compatibility) */
    const char *dhfile;        /* DH parameters for DHE ciphers, if any */
    moat_tls_verify verify;    /* default VERIFY_NONE */
    bool fail_if_no_peer_cert; /* with VERIFY_PEER: refuse clients without one */
    int depth;                 /* max intermediates in a client chain; 10 */
    unsigned tls_versions;     /* MOAT_TLS_V1_2 | MOAT_TLS_V1_3 */
    /* TLS 1.2 cipher list, comma or colon separated, OpenSSL names
     * (ECDHE-RSA-AES128-GCM-SHA256) or IANA names
     * (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256). TLS 1.3 suite names found
     * here move to ciphersuites, as EMQX users list them together. NULL:
     * ECDHE with AES-GCM or ChaCha20-Poly1305 only, AES-128 first. */
    const char *ciphers;
    const char *ciphersuites;      /* TLS 1.3 suites; NULL: AES-128-GCM, AES-256-GCM,
                                      ChaCha20 */
    const char *ecdh_curves;       /* groups, e.g. "x25519,secp256r1"; NULL: X25519,
                                      P-256, P-384 */
    bool honor_cipher_order;       /* server's order wins; default true */
    bool reuse_sessions;           /* resumption by ticket (1.2 and 1.3); default true */
    bool secure_renegotiate;       /* allow client-initiated (secure, RFC 5746)
                                      renegotiation in TLS 1.2; default false */
    uint32_t handshake_timeout_ms; /* enforced by the caller; default 15000 */
    bool partial_chain;            /* accept an intermediate in cacertfile as anchor */
    /* Required extended key usage of client certificates: "clientAuth",
     * "serverAuth", "codeSigning", "emailProtection", "timeStamping",
     * "ocspSigning" or a dotted OID; NULL: not required. */
    const char *verify_peer_ext_key_usage;
    const char *alpn;  /* comma list, server preference ("mqtt");
                          NULL: no ALPN */
    bool system_roots; /* also check the server chain against the
                          system CA store; default true */
    int64_t now;       /* checks run as of this time; 0 = now (tests) */
} moat_tls_conf;

void moat_tls_conf_defaults(moat_tls_conf *c);

/* Parse "tlsv1.3,tlsv1.2" (EMQX spelling; also "1.2", "TLSv1.3") into a
 * MOAT_TLS_V* mask. Older versions are refused with a sentence in err. */
moat_err moat_tls_parse_versions(const char *s, unsigned *mask, char *err, size_t errlen);

/* ----------------------------------------------------------------- ctx */

typedef struct moat_tls_ctx moat_tls_ctx;

/* Check every file and setting of conf, then build the context. The report
 * (caller-owned, may already hold findings) receives every error and
 * warning; setting findings have file == NULL and name the option.
 * Returns MOAT_OK with *out holding one reference (warnings possible), or
 * MOAT_EINVAL when anything was wrong (nothing is built), or MOAT_ENOMEM.
 * Reads files: call it from a thread that may block (the main thread, or a
 * reload task), never from a worker's loop. */
moat_err moat_tls_ctx_new(const moat_tls_conf *conf, moat_tls_ctx **out, moat_cert_report *report);
/* Take another reference; returns ctx. */
moat_tls_ctx *moat_tls_ctx_ref(moat_tls_ctx *ctx);
/* Drop a reference; the last one frees. NULL is ignored. */
void moat_tls_ctx_unref(moat_tls_ctx *ctx);

/* Paths whose change should trigger a reload, NULL-terminated, owned by ctx:
 * every configured file as written, its directory, and (when it is a
 * symbolic link) its resolved target and the target's directory. Watch all
 * of them (Let's Encrypt renews by writing new files in archive/ and
 * re-pointing the links in live/: only a watch on live/ sees that). */
const char *const *moat_tls_ctx_watch_paths(const moat_tls_ctx *ctx);
/* True when a and b were built from byte-identical material and settings,
 * so a reload triggered by a stray event can be skipped. */
bool moat_tls_ctx_same(const moat_tls_ctx *a, const moat_tls_ctx *b);
/* Earliest notAfter of the served certificates (seconds since the epoch),
 * for $SYS days-to-expiry and the 30/7/1-day warnings. */
int64_t moat_tls_ctx_not_after(const moat_tls_ctx *ctx);
/* The (first) server certificate, owned by ctx. */
struct x509_st *moat_tls_ctx_leaf(const moat_tls_ctx *ctx);
/* The certificates served: the leaf, then its chain; pointers owned by ctx
 * (valid while the caller holds a reference). Returns how many (<= max). */
size_t moat_tls_ctx_chain(const moat_tls_ctx *ctx, struct x509_st **out, size_t max);
uint32_t moat_tls_ctx_handshake_timeout_ms(const moat_tls_ctx *ctx);

/* A listener's current context: the reload thread replaces it while
 * workers take it to start handshakes. An atomic pointer alone is not
 * enough: between a worker loading the pointer and taking its reference,
 * the reload could drop the last reference and free the context. The slot
 * makes "load and ref" one step under a mutex, held for a few instructions
 * per accepted connection (nothing next to a handshake). */
typedef struct moat_tls_slot {
    pthread_mutex_t lock;
    moat_tls_ctx *ctx; /* one reference, or NULL */
} moat_tls_slot;

/* Takes the caller's reference to ctx (which may be NULL). */
void moat_tls_slot_init(moat_tls_slot *s, moat_tls_ctx *ctx);
/* A new reference to the current context (NULL if none); any thread. The
 * caller unrefs it (moat_tls_transport_new takes its own). */
moat_tls_ctx *moat_tls_slot_get(moat_tls_slot *s);
/* Install ctx (taking the caller's reference) and drop the slot's reference
 * to the previous one; connections using it keep theirs. Any thread. */
void moat_tls_slot_set(moat_tls_slot *s, moat_tls_ctx *ctx);
/* Drop the slot's reference; no other thread may use s any more. */
void moat_tls_slot_destroy(moat_tls_slot *s);

/* ----------------------------------------------------------- transport */

/* Server-side TLS over inner. On MOAT_OK the new transport owns inner (its
 * close closes inner) and holds its own reference to ctx; its fd is inner's
 * fd. On error nothing is taken: inner is still the caller's.
 * The handshake starts with the first read or write; the caller arms a
 * timer of moat_tls_ctx_handshake_timeout_ms() and calls
 * moat_tls_fail_timeout() if it fires first.
 *
 * Behaviour of the transport ops (see transport.h for the contract):
 *  read   drives the handshake, then returns plaintext. MOAT_EAGAIN while
 *         the handshake or a record is incomplete. MOAT_EOF on close_notify
 *         or when the inner transport reaches EOF. MOAT_EPROTOCOL when the
 *         handshake fails or a record is bad. MOAT_EIO when the inner
 *         transport fails. After any error, moat_tls_get_state() ==
 *         MOAT_TLS_FAILED means the handshake failed (also when the client
 *         hung up mid-handshake, which returns MOAT_EOF) and
 *         moat_tls_failure() says why.
 *  write  drives the handshake, then encrypts. A call of len 0 (buf may be
 *         NULL) only flushes ciphertext buffered inside: call it when the fd
 *         becomes writable and wants_write() is true while the connection
 *         has nothing else to send (mid-handshake, for instance). MOAT_EAGAIN
 *         while the handshake runs or earlier ciphertext is still waiting
 *         for the socket. Otherwise MOAT_OK with *n <= 16384 bytes taken.
 *         Ciphertext the inner transport does not accept at once is kept
 *         (one record at most) and sent by later calls.
 *  has_pending  decrypted or undecrypted bytes inside OpenSSL (or the inner
 *         transport's own has_pending): keep reading even though the fd is
 *         quiet.
 *  wants_write  ciphertext is waiting to go out (or the inner transport
 *         wants the fd writable).
 *  close  sends close_notify when the connection was established (best
 *         effort, never blocks), closes inner, drops the ctx reference. */
moat_err moat_tls_transport_new(moat_tls_ctx *ctx, moat_transport *inner, moat_transport **out);

/* True when t is a TLS transport made by moat_tls_transport_new. Every
 * function below returns a neutral value (or MOAT_EINVAL) for anything else. */
bool moat_tls_is(const moat_transport *t);

typedef enum moat_tls_state {
    MOAT_TLS_HANDSHAKING,
    MOAT_TLS_ESTABLISHED,
    MOAT_TLS_FAILED,
} moat_tls_state;

moat_tls_state moat_tls_get_state(const moat_transport *t);

/* Why a handshake failed. Stable; moat_tls_fail_name() gives the metric
 * label. Counted once per connection in moat_tls_stats. */
typedef enum moat_tls_fail {
    MOAT_TLS_FAIL_NONE = 0,
    MOAT_TLS_FAIL_NOT_TLS,          /* first bytes are not a TLS record */
    MOAT_TLS_FAIL_NO_DATA,          /* closed before sending a byte (probe) */
    MOAT_TLS_FAIL_PEER_CLOSED,      /* closed mid-handshake without an alert */
    MOAT_TLS_FAIL_TIMEOUT,          /* set by moat_tls_fail_timeout() */
    MOAT_TLS_FAIL_VERSION_MISMATCH, /* no common protocol version */
    MOAT_TLS_FAIL_CIPHER_MISMATCH,  /* no common cipher, group or signature
                                       algorithm */
    MOAT_TLS_FAIL_NO_CLIENT_CERT,   /* required client certificate missing */
    MOAT_TLS_FAIL_UNKNOWN_CA,       /* client certificate from an untrusted CA */
    MOAT_TLS_FAIL_CERT_EXPIRED,     /* client certificate expired */
    MOAT_TLS_FAIL_CERT_NOT_YET_VALID,
    MOAT_TLS_FAIL_BAD_CLIENT_CERT, /* client certificate otherwise refused
                                      (purpose, signature, depth ...) */
    MOAT_TLS_FAIL_PEER_REJECTED,   /* the client refused our certificate
                                      (sent an alert: unknown CA, bad
                                      certificate, ...) */
    MOAT_TLS_FAIL_OTHER,
    MOAT_TLS_FAIL__COUNT
} moat_tls_fail;

/* "not_tls", "unknown_ca", ... */
const char *moat_tls_fail_name(moat_tls_fail f);

/* The failure reason; *detail (optional) receives a sentence for the log,
 * e.g. "client sent plain MQTT (a CONNECT packet) to a TLS port", owned by
 * t and valid until it closes. MOAT_TLS_FAIL_NONE unless FAILED. */
moat_tls_fail moat_tls_failure(const moat_transport *t, const char **detail);

/* The caller's handshake timer fired: mark t failed with reason TIMEOUT and
 * count it. No effect once established or failed. Then close t. */
void moat_tls_fail_timeout(moat_transport *t);

/* Called once, on the loop thread, from inside read or write just before it
 * returns, when the handshake completes or fails (check moat_tls_get_state).
 * fn must not close t; it may log, start timers, read the session info and
 * the peer identity. */
typedef void (*moat_tls_handshake_fn)(moat_transport *t, void *arg);
void moat_tls_on_handshake(moat_transport *t, moat_tls_handshake_fn fn, void *arg);

/* What was negotiated. Strings are owned by t (static or in OpenSSL's
 * session), valid until t closes; "" when not applicable. */
typedef struct moat_tls_session_info {
    const char *version; /* "TLSv1.3" */
    const char *cipher;  /* IANA name: "TLS_AES_128_GCM_SHA256" */
    const char *group;   /* key exchange group: "x25519" */
    const char *alpn;    /* selected protocol, "" when none */
    const char *sni;     /* server name the client asked for, "" when none */
    bool resumed;        /* session resumption (ticket) */
    bool peer_cert;      /* the client presented a verified certificate */
} moat_tls_session_info;

/* MOAT_EINVAL unless established. */
moat_err moat_tls_session(const moat_transport *t, moat_tls_session_info *out);

/* One identity from the verified client certificate (see certs/info.h for
 * each kind's format). MOAT_ENOTFOUND when there is no client certificate
 * or no such field; MOAT_EINVAL when not established or the field is not
 * clean text; MOAT_ELIMIT when len is too small. */
moat_err moat_tls_peer_identity(const moat_transport *t, moat_cert_id which, char *out, size_t len);
/* Everything about the client certificate; free with moat_cert_info_free. */
moat_err moat_tls_peer_info(const moat_transport *t, moat_cert_info *out);

/* ------------------------------------------------------------ counters */

typedef struct moat_tls_stats {
    uint64_t handshakes_ok;
    uint64_t resumed;                      /* of handshakes_ok */
    uint64_t failed[MOAT_TLS_FAIL__COUNT]; /* failed[NONE] stays 0 */
} moat_tls_stats;

/* A snapshot of the process-wide counters (relaxed atomics: each value is
 * exact, the set is not one instant). */
void moat_tls_stats_get(moat_tls_stats *out);

#endif
