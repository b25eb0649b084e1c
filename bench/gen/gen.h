/* SPDX-License-Identifier: Apache-2.0 */
/* moat-bench: an MQTT load generator (epoll, N threads, many connections per
 * thread, OpenSSL 3). It talks to any broker over the wire only and shares no
 * code with moat.
 *
 * Every PUBLISH payload starts with a 16-byte header, native byte order:
 *   u64 send time (CLOCK_MONOTONIC, ns) | u32 sequence number | u32 stream id
 * A stream is one (publisher, topic) pair; its sequence numbers start at 0.
 * Subscribers check, per stream, that every message arrives once and in
 * order, and take the latency from the send time. */
#ifndef MOAT_BENCH_GEN_H
#define MOAT_BENCH_GEN_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#define HDR_LEN 16u
#define FLUSH_AT (64u * 1024u) /* a publisher stops encoding when this much is buffered */

/* ---- time -------------------------------------------------------------- */

uint64_t now_ns(void);
void sleep_ns(uint64_t ns);

/* ---- latency histogram (stats.c): log-linear, 32 sub-buckets per power of
 * two, about 3 % resolution, values in ns. */
#define HIST_N (64 + 58 * 32)
typedef struct hist {
    uint64_t n, sum, max;
    uint64_t b[HIST_N];
} hist;

void hist_add(hist *h, uint64_t v);
void hist_merge(hist *dst, const hist *src);
uint64_t hist_pct(const hist *h, double pct); /* pct in 0..100 */

/* ---- /proc readers (stats.c) ------------------------------------------- */

typedef struct proc_sample {
    bool ok;
    double cpu_s;     /* utime + stime */
    uint64_t rss_kb;  /* VmRSS */
    uint64_t hwm_kb;  /* VmHWM */
    uint64_t threads; /* Threads */
} proc_sample;

void proc_read(pid_t pid, proc_sample *out);
double self_cpu_s(void); /* this process, all threads */

/* ---- JSON writer (stats.c) --------------------------------------------- */

typedef struct json {
    char *p;
    size_t len, cap;
    bool first;
} json;

void json_begin(json *j);
void json_str(json *j, const char *key, const char *val);
void json_num(json *j, const char *key, double val);
void json_int(json *j, const char *key, int64_t val);
void json_bool(json *j, const char *key, bool val);
void json_raw(json *j, const char *key, const char *raw);
void json_end(json *j, FILE *f);

/* ---- output buffer and MQTT client encoding (mq.c) --------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, off, cap;
} wbuf;

uint8_t *wb_grow(wbuf *b, size_t n); /* room for n more bytes at p + len */
static inline uint8_t *wb_reserve(wbuf *b, size_t n)
{
    return b->len + n <= b->cap ? b->p + b->len : wb_grow(b, n);
}
static inline size_t wb_pending(const wbuf *b)
{
    return b->len - b->off;
}
void wb_free(wbuf *b);

size_t mq_varint(uint8_t *p, uint32_t v);
void mq_connect(wbuf *b, int ver, const char *cid, uint16_t keepalive);
void mq_subscribe(wbuf *b, int ver, uint16_t pid, char *const *filters, int n, int qos);
/* Appends a PUBLISH header (fixed header, topic, packet id, v5 properties)
 * for a payload of plen bytes and returns where the payload goes. */
uint8_t *mq_publish(wbuf *b, int ver, const char *topic, uint16_t tlen, int qos, bool retain,
                    uint16_t pid, size_t plen);
void mq_puback(wbuf *b, uint16_t pid);
void mq_disconnect(wbuf *b, int ver);
/* Frame one packet: 1 = complete (*hlen header bytes, *rem body bytes), 0 =
 * need more, -1 = malformed remaining length. */
int mq_frame(const uint8_t *p, size_t len, uint32_t *hlen, uint32_t *rem);
/* Walk a v5 property block for CONNACK: returns -1 if malformed; sets
 * *recv_max when Receive Maximum is present. */
int mq_connack_props(const uint8_t *p, size_t len, uint32_t *recv_max);
bool topic_matches(const char *filter, const char *topic);

/* ---- scenario state ---------------------------------------------------- */

enum mode { MODE_PUBSUB, MODE_RETAINED, MODE_STORM, MODE_IDLE, MODE_TLSFLOOR };
enum role { ROLE_PUB, ROLE_SUB, ROLE_IDLE, ROLE_STORM, ROLE_RPUB, ROLE_RSUB };
enum cstate { CS_NEW, CS_TCP, CS_TLS, CS_MQTT, CS_SUBSCRIBING, CS_READY, CS_DEAD };
enum phase { PH_SETUP, PH_RUN, PH_DRAIN, PH_QUIT };

typedef struct opts {
    enum mode mode;
    const char *name;
    const char *host;
    int port;
    int threads;
    double duration, warmup, drain;
    int qos;
    int size;
    int pubs, subs, topics; /* topics: per publisher */
    const char *topology;   /* pubsub: "same" | "fanin" | "wild" */
    int extra_filters;      /* wild: non-matching filters per subscriber */
    int window;             /* messages per publisher not yet delivered */
    double rate;            /* msg/s per publisher, 0 = as fast as the window allows */
    int mqtt;               /* protocol level: 4 (3.1.1) or 5 */
    int keepalive;
    int conns;    /* storm: connections in flight; idle: connections held */
    int parallel; /* connects in progress per thread */
    int retained; /* retained: messages */
    double hold;  /* idle: seconds to hold */
    bool allow_loss;
    bool tls;
    const char *tls_version; /* "1.2" | "1.3" | NULL (both) */
    const char *groups, *ciphers, *ciphersuites, *sigalgs;
    const char *ca, *cert, *key;
    const char *server_cert, *server_key; /* tlsfloor */
    int num_tickets;                      /* tlsfloor */
    bool verify;
    pid_t broker_pid;
    const char *tag;
} opts;

typedef struct stream {
    int pub;
    char *topic;
    uint16_t tlen;
    uint32_t fanout;          /* subscribers whose filters match */
    uint32_t next_seq;        /* publisher's thread only */
    _Atomic uint32_t final_n; /* messages sent, published when the publisher stops */
} stream;

struct conn;
struct worker;

typedef struct pub {
    struct conn *c;
    int idx;
    int s0, ns, rr; /* streams s0 .. s0+ns-1; rr is the next one */
    uint64_t win;   /* deliveries allowed outstanding */
    uint64_t sent;  /* messages (publisher's thread) */
    uint64_t sent_deliv_local;
    _Atomic uint64_t sent_deliv; /* deliveries expected for what was sent */
    _Atomic uint64_t delivered;  /* deliveries seen by subscribers */
    _Atomic int blocked;
    _Atomic int stopped;
    uint32_t inflight, max_inflight;
    uint16_t next_pid;
    uint64_t acked, bad_acks, stalls;
    uint8_t *pidmap; /* 65536 bits: QoS 1 packet ids awaiting PUBACK */
    uint64_t t_start, next_due;
    uint64_t unsent_at_quit; /* output not yet taken by the socket at the end */
} pub;

typedef struct sub {
    struct conn *c;
    int idx;
    char **filters;
    int nfilters;
    uint8_t *match;  /* per stream: 1 when a filter matches its topic */
    uint32_t *next;  /* per stream: next sequence number expected */
    uint32_t *count; /* per stream: messages taken (first time, in order or not) */
    uint64_t received, dup_redeliv, dups, gaps, unexpected, bad, not_retained;
    uint8_t *seen; /* retained mode: one bit per message */
    uint64_t nseen;
    bool complete;
    uint64_t partial_at_quit; /* bytes of an incomplete packet at the end */
} sub;

typedef struct conn {
    int fd;
    SSL *ssl;
    struct worker *w;
    uint8_t role, state;
    bool out_armed, in_armed;
    uint8_t *lbuf; /* the unparsed tail of the last read */
    uint32_t llen, lcap;
    wbuf out;
    uint64_t t0, serial;
    pub *pub;
    sub *sub;
} conn;

typedef struct worker {
    int idx;
    pthread_t th;
    int ep, evfd, tfd;
    conn **conns;
    int nconns, next_start, connecting, live;
    pub **pubs;
    int npubs;
    hist lat, hs;
    uint8_t *scratch;
    size_t scap;
    uint64_t now; /* time of the last read */
    uint64_t *pend;
    int *touched;
    int ntouched;
    uint64_t serial;
    uint64_t tfd_armed;
    /* counters the main thread samples */
    _Atomic uint64_t a_deliv, a_pubs, a_done, a_err;
    uint64_t deliv, npub, done, err;
    char errmsg[200];
} worker;

typedef struct gen {
    opts o;
    struct sockaddr_storage *addr;
    unsigned addrlen;
    SSL_CTX *ctx;
    stream *streams;
    int nstreams;
    pub *pubs;
    sub *subs;
    int npubs, nsubs;
    worker *w;
    uint8_t *pattern; /* payload filler */
    _Atomic int phase;
    _Atomic int ready, failed, subs_done;
    _Atomic uint64_t t_meas0, t_meas1; /* latency window (send times) */
    _Atomic int storm_on;
    pthread_mutex_t mu;
    char tls_info[256];
    char first_err[256];
} gen;

extern gen G;

/* conn.c */
void worker_init(worker *w, int idx);
void *worker_main(void *arg);
void worker_add(worker *w, conn *c);
void gen_error(worker *w, conn *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
conn *conn_new(worker *w, int role);

/* tls.c */
int tls_setup(void);
void tls_describe(SSL *ssl, char *buf, size_t n);

/* floor.c */
int run_tlsfloor(void);

#endif
