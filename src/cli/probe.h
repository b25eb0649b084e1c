/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs probe`: connect to a TLS server like `openssl s_client`, then
 * speak MQTT, MQTT over WebSocket or HTTP, and explain what went wrong in
 * words that name the fix. Internal to the probe's files:
 *
 *   certs_probe.c    options, the steps in order, text and JSON output
 *   probe_conn.c     name resolution, TCP, and TLS over memory BIOs
 *   probe_tls.c      the client SSL_CTX and what the handshake showed
 *   probe_app.c      MQTT CONNECT/CONNACK, the WebSocket upgrade, HTTPS GET
 *   probe_explain.c  verification errors, alerts and refusals in words
 *
 * OpenSSL does all of TLS and all of the verification; the probe only
 * watches (a verify callback that records errors and lets the handshake
 * finish, a message callback that sees CertificateRequest and alerts). */
#ifndef MOAT_CLI_PROBE_H
#define MOAT_CLI_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

typedef enum probe_app {
    PROBE_MQTT = 0, /* MQTT CONNECT over TLS (default) */
    PROBE_WSS,      /* WebSocket upgrade, then MQTT in binary frames */
    PROBE_HTTPS,    /* one GET */
    PROBE_TLS_ONLY, /* the handshake only */
} probe_app;

typedef struct probe_opts {
    char host[256];   /* as given, without [] around an IPv6 address */
    char port[8];     /* digits */
    const char *sni;  /* --sni; NULL: host, unless host is an IP address */
    const char *ca;   /* --ca file or directory; NULL: the system's roots */
    const char *cert; /* --cert, --key: client certificate (chain) and key */
    const char *key;
    const char *alpn; /* --alpn list; NULL: per application, "" none */
    probe_app app;    /* --mqtt, --wss PATH, --https PATH, --tls-only */
    const char *path; /* PATH of --wss / --https */
    int mqtt_version; /* 3, 4 or 5 */
    const char *client_id, *username, *password;
    int tls_version; /* 0: 1.2 or 1.3; TLS1_2_VERSION or TLS1_3_VERSION */
    int timeout_ms;  /* for each network step */
    bool json;
} probe_opts;

/* The verified name: --sni, else the host. */
static inline const char *probe_name(const probe_opts *o)
{
    return o->sni ? o->sni : o->host;
}
bool probe_is_ip(const char *s);

/* ------------------------------------------------------------ results */

enum { PROBE_MAX_VERIFY_ERRS = 8, PROBE_MAX_FINDINGS = 16, PROBE_MAX_HEADERS = 8 };

typedef struct probe_verify_err {
    int code;   /* X509_V_ERR_* */
    int depth;  /* in the chain being verified, 0 = the server's certificate */
    X509 *cert; /* referenced; may be NULL */
} probe_verify_err;

typedef struct probe_finding {
    const char *topic; /* "connect", "tls", "verify", "client_cert", "ocsp", "app" */
    bool problem;      /* false: a note (warning), the verdict is unchanged */
    char *message;     /* owned */
    char *fix;         /* owned; NULL when there is nothing to do */
} probe_finding;

typedef struct probe_result {
    /* Connection. */
    char address[80]; /* the address connected to, "127.0.0.1:8883" */
    bool connected;
    char net_error[512]; /* resolution or connection failure, in words */

    /* Bytes seen on the socket, before any TLS parsing. */
    uint8_t first[64]; /* the server's first bytes */
    size_t n_first;
    uint64_t bytes_in;
    bool peer_eof;            /* the server closed (FIN) */
    int sock_errno;           /* ECONNRESET ... ; 0 none */
    bool timed_out;           /* a step ran out of --timeout */
    const char *timeout_step; /* "handshake", "CONNACK" ... */

    /* Handshake. */
    bool sni_sent;
    bool hs_ok;
    char tls_error[256];    /* OpenSSL's reason for the first TLS failure */
    int alert_in;           /* alert the server sent, description code; -1 none */
    bool alert_in_after_hs; /* ... after our side of the handshake completed */
    int alert_out;          /* alert we sent; -1 none */
    bool server_hello;      /* a ServerHello arrived */
    char version[16], cipher[96], group[40], alpn[64];
    STACK_OF(X509) * sent;     /* the chain as the server sent it (owned) */
    STACK_OF(X509) * verified; /* the chain verification built (owned), or NULL */
    probe_verify_err verr[PROBE_MAX_VERIFY_ERRS];
    int n_verr;
    const char *trust;            /* "ca.pem" or "the system's trusted roots" */
    STACK_OF(X509) * trust_certs; /* certificates of --ca when it is a file (owned) */

    /* Client certificate. */
    bool cert_requested;            /* CertificateRequest seen */
    bool cert_configured;           /* --cert given */
    int cert_required;              /* 1 required (refused without), 0 optional, -1 unknown */
    STACK_OF(X509_NAME) * ca_names; /* CA names in the request (owned) */

    /* OCSP stapling (status_request). */
    bool ocsp_stapled;
    int ocsp_resp_status; /* OCSP_RESPONSE_STATUS_* */
    int ocsp_cert_status; /* V_OCSP_CERTSTATUS_*; -1 not found */
    int ocsp_reason;      /* revocation reason, -1 none */
    int64_t ocsp_this, ocsp_next, ocsp_revoked;
    bool ocsp_sig_ok;    /* the response verifies against the trust store */
    char ocsp_note[160]; /* why it was not usable */

    /* Application step. */
    bool app_tried, app_ok;
    char app_summary[256]; /* one line: what happened */
    int http_status;
    char http_reason[96];
    char http_headers[PROBE_MAX_HEADERS][160]; /* "Name: value", a few chosen ones */
    int n_http_headers;
    char http_body[200]; /* start of a refusal's body (printable) */
    char ws_protocol[64];
    bool ws_accept_ok;
    bool connack;
    uint8_t mqtt_version;
    uint8_t connack_rc;
    bool session_present;
    char client_id[128];
    char connack_props[PROBE_MAX_HEADERS][160]; /* "name: value" of v5 properties */
    int n_connack_props;

    /* Not TLS: what a plain-text attempt on the same port got back. */
    char plain[200];

    probe_finding findings[PROBE_MAX_FINDINGS];
    int n_findings;
} probe_result;

void probe_result_init(probe_result *r);
void probe_result_free(probe_result *r);
/* Add a finding: fix is a plain string or NULL (build it with probe_fmt),
 * the message a printf format. */
void probe_add(probe_result *r, const char *topic, bool problem, const char *fix, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
/* snprintf into a rotating static buffer, for building fixes inline. */
const char *probe_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------ connection */

typedef struct probe_conn {
    int fd;
    SSL *ssl;      /* over two memory BIOs, pumped by probe_conn_* */
    BIO *in, *out; /* owned by ssl */
    int timeout_ms;
    probe_result *res;
} probe_conn;

/* Resolve and connect (TCP) within the timeout. 0, or -1 with
 * res->net_error set. */
int probe_connect(const probe_opts *o, probe_conn *c, probe_result *res);
/* Run the TLS handshake on c->ssl (set up by the caller). 1 done, 0 failed
 * (res->tls_error, alerts and raw bytes say why). */
int probe_handshake(probe_conn *c);
/* Send all of buf over TLS (or plain when c->ssl is NULL). 0 or -1. */
int probe_send(probe_conn *c, const void *buf, size_t len);
/* Receive at least one byte: > 0 bytes, 0 clean close, -1 error or timeout
 * (res says which). */
long probe_recv(probe_conn *c, void *buf, size_t len);
/* Read for up to ms (bounded by the timeout) only to let an alert arrive:
 * a TLS 1.3 server refuses a client certificate after the handshake. A
 * quiet server is not an error here. */
void probe_wait_alert(probe_conn *c, int ms);
/* close_notify when TLS, then close the socket. */
void probe_close(probe_conn *c);

/* ------------------------------------------------------------ TLS */

/* The client context: trust (--ca or the system store), client certificate,
 * versions, and the recording verify callback. NULL with a sentence in err
 * (a file that cannot be used: exit status 2). */
SSL_CTX *probe_tls_ctx(const probe_opts *o, probe_result *res, char *err, size_t errlen);
/* A new SSL for c: SNI, the name to verify, ALPN, status_request, the
 * message callback. 0 or -1. */
int probe_tls_attach(SSL_CTX *ctx, const probe_opts *o, probe_conn *c);
/* After the handshake: version, cipher, chains, CA names, OCSP. */
void probe_tls_collect(probe_conn *c);

/* ------------------------------------------------------------ application */

/* The application step over an established connection; fills the app_*
 * fields. Returns res->app_ok. */
bool probe_app_run(const probe_opts *o, probe_conn *c);
/* After a failed handshake that never saw TLS: try the port in plain text
 * (an MQTT CONNECT or an HTTP GET) and describe the answer in res->plain. */
void probe_plain_check(const probe_opts *o, probe_result *res);
/* CONNACK reason codes in words ("Bad user name or password"). */
const char *probe_connack_text(uint8_t version, uint8_t rc);

/* ------------------------------------------------------------ explanations */

/* "certificate required" for 116: OpenSSL 3.0 names only the older alerts. */
const char *probe_alert_name(int desc);
/* A distinguished name as RFC 2253 text ("CN=moat Test Root CA,O=moat test"). */
void probe_name_text(const X509_NAME *nm, char *out, size_t len);
/* Turn everything recorded into findings (each names its fix). */
void probe_explain(const probe_opts *o, probe_result *res);
/* The verdict: the handshake verified and the application step worked. */
static inline bool probe_ok(const probe_result *r)
{
    return r->hs_ok && r->n_verr == 0 && (r->app_ok || !r->app_tried) &&
           !(r->alert_in >= 0 && r->alert_in_after_hs);
}

#endif
