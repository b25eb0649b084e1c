/* SPDX-License-Identifier: Apache-2.0 */
/* moat-bench MODE [options]: runs one scenario against a broker and prints
 * one JSON line with the result. See usage() for the modes and options. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gen.h"

static void usage(FILE *f)
{
    fputs("usage: moat-bench MODE --port N [options]\n"
          "modes:\n"
          "  pubsub    publishers -> broker -> subscribers; throughput, latency, checks\n"
          "  retained  one client stores --retained messages, then --subs clients\n"
          "            subscribe to bench/r/# and must each get all of them\n"
          "  storm     connect, (TLS handshake,) CONNECT/CONNACK, reset; repeat with\n"
          "            --conns connections in flight per thread\n"
          "  idle      open --conns connections and hold them; broker memory per connection\n"
          "  tlsfloor  no broker: server-side CPU of full handshakes inside OpenSSL, over a\n"
          "            BIO pair (--server-cert/--server-key, --num-tickets, TLS options)\n"
          "options:\n"
          "  --host H --port N        broker address (127.0.0.1)\n"
          "  --threads N              worker threads (1)\n"
          "  --duration S --warmup S  measured seconds (5) after a warm-up (1)\n"
          "  --drain S                most seconds to wait for stragglers (10)\n"
          "  --qos 0|1 --size B       QoS and payload bytes (>= 16; 16)\n"
          "  --pubs N --subs N        publishers and subscribers (1, 1)\n"
          "  --topics N               topics per publisher (1)\n"
          "  --topology T             same: every subscriber takes every topic exactly;\n"
          "                           fanin: topics bench/in/..., subscribers take bench/#;\n"
          "                           wild: bench/w/p<j>/t<k>, one wildcard filter each;\n"
          "                           pairs: publisher j -> subscriber j (same)\n"
          "  --extra-filters N        wild: N non-matching filters per subscriber (0)\n"
          "  --window N               messages per publisher not yet delivered (1000)\n"
          "  --rate R                 messages/s per publisher (0: window-bound)\n"
          "  --mqtt 3.1.1|5           protocol version (3.1.1)\n"
          "  --keepalive S            CONNECT keep alive (60; idle: 0)\n"
          "  --conns N --parallel N   storm/idle connections; connects in flight (64)\n"
          "  --retained N --hold S    retained messages (10000); idle hold time (2)\n"
          "  --allow-loss             QoS 0 loss is reported but not an error\n"
          "  --tls --tls-version 1.2|1.3 --groups L --ciphers L --ciphersuites L\n"
          "  --sigalgs L --ca F --cert F --key F --verify\n"
          "  --server-cert F --server-key F --num-tickets N   tlsfloor: the server side (0)\n"
          "  --broker-pid P           read CPU time and RSS of P from /proc\n"
          "  --name S --tag S         labels copied into the JSON line\n",
          f);
}

enum {
    O_HOST = 256,
    O_PORT,
    O_THREADS,
    O_DURATION,
    O_WARMUP,
    O_DRAIN,
    O_QOS,
    O_SIZE,
    O_PUBS,
    O_SUBS,
    O_TOPICS,
    O_TOPOLOGY,
    O_EXTRA,
    O_WINDOW,
    O_RATE,
    O_MQTT,
    O_KEEPALIVE,
    O_CONNS,
    O_PARALLEL,
    O_RETAINED,
    O_HOLD,
    O_ALLOW_LOSS,
    O_TLS,
    O_TLSV,
    O_GROUPS,
    O_CIPHERS,
    O_SUITES,
    O_SIGALGS,
    O_CA,
    O_CERT,
    O_KEY,
    O_VERIFY,
    O_PID,
    O_NAME,
    O_TAG,
    O_SCERT,
    O_SKEY,
    O_TICKETS,
    O_HELP,
};

static const struct option longopts[] = {
    {"host", 1, 0, O_HOST},
    {"port", 1, 0, O_PORT},
    {"threads", 1, 0, O_THREADS},
    {"duration", 1, 0, O_DURATION},
    {"warmup", 1, 0, O_WARMUP},
    {"drain", 1, 0, O_DRAIN},
    {"qos", 1, 0, O_QOS},
    {"size", 1, 0, O_SIZE},
    {"pubs", 1, 0, O_PUBS},
    {"subs", 1, 0, O_SUBS},
    {"topics", 1, 0, O_TOPICS},
    {"topology", 1, 0, O_TOPOLOGY},
    {"extra-filters", 1, 0, O_EXTRA},
    {"window", 1, 0, O_WINDOW},
    {"rate", 1, 0, O_RATE},
    {"mqtt", 1, 0, O_MQTT},
    {"keepalive", 1, 0, O_KEEPALIVE},
    {"conns", 1, 0, O_CONNS},
    {"parallel", 1, 0, O_PARALLEL},
    {"retained", 1, 0, O_RETAINED},
    {"hold", 1, 0, O_HOLD},
    {"allow-loss", 0, 0, O_ALLOW_LOSS},
    {"tls", 0, 0, O_TLS},
    {"tls-version", 1, 0, O_TLSV},
    {"groups", 1, 0, O_GROUPS},
    {"ciphers", 1, 0, O_CIPHERS},
    {"ciphersuites", 1, 0, O_SUITES},
    {"sigalgs", 1, 0, O_SIGALGS},
    {"ca", 1, 0, O_CA},
    {"cert", 1, 0, O_CERT},
    {"key", 1, 0, O_KEY},
    {"verify", 0, 0, O_VERIFY},
    {"broker-pid", 1, 0, O_PID},
    {"name", 1, 0, O_NAME},
    {"tag", 1, 0, O_TAG},
    {"help", 0, 0, O_HELP},
    {"server-cert", 1, 0, O_SCERT},
    {"server-key", 1, 0, O_SKEY},
    {"num-tickets", 1, 0, O_TICKETS},
    {0, 0, 0, 0},
};

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "moat-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        die("bad number '%s'", s);
    return v;
}

static double dnum(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0)
        die("bad number '%s'", s);
    return v;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        perror("strdup");
        exit(2);
    }
    return p;
}

static void parse_args(int argc, char **argv)
{
    opts *o = &G.o;
    *o = (opts){.host = "127.0.0.1",
                .threads = 1,
                .duration = 5,
                .warmup = 1,
                .drain = 10,
                .size = 16,
                .pubs = 1,
                .subs = 1,
                .topics = 1,
                .topology = "same",
                .window = 1000,
                .mqtt = 4,
                .keepalive = -1,
                .conns = 32,
                .parallel = 64,
                .retained = 10000,
                .hold = 2};
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            exit(0);
        }
        usage(stderr);
        exit(2);
    }
    const char *m = argv[1];
    if (!strcmp(m, "pubsub"))
        o->mode = MODE_PUBSUB;
    else if (!strcmp(m, "retained"))
        o->mode = MODE_RETAINED;
    else if (!strcmp(m, "storm"))
        o->mode = MODE_STORM;
    else if (!strcmp(m, "idle"))
        o->mode = MODE_IDLE;
    else if (!strcmp(m, "tlsfloor"))
        o->mode = MODE_TLSFLOOR;
    else
        die("unknown mode '%s'", m);
    o->name = m;
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case O_HOST:
            o->host = optarg;
            break;
        case O_PORT:
            o->port = (int)num(optarg, 1, 65535);
            break;
        case O_THREADS:
            o->threads = (int)num(optarg, 1, 256);
            break;
        case O_DURATION:
            o->duration = dnum(optarg);
            break;
        case O_WARMUP:
            o->warmup = dnum(optarg);
            break;
        case O_DRAIN:
            o->drain = dnum(optarg);
            break;
        case O_QOS:
            o->qos = (int)num(optarg, 0, 1);
            break;
        case O_SIZE:
            o->size = (int)num(optarg, HDR_LEN, 16 * 1024 * 1024);
            break;
        case O_PUBS:
            o->pubs = (int)num(optarg, 0, 1000000);
            break;
        case O_SUBS:
            o->subs = (int)num(optarg, 0, 1000000);
            break;
        case O_TOPICS:
            o->topics = (int)num(optarg, 1, 1000000);
            break;
        case O_TOPOLOGY:
            o->topology = optarg;
            break;
        case O_EXTRA:
            o->extra_filters = (int)num(optarg, 0, 100000);
            break;
        case O_WINDOW:
            o->window = (int)num(optarg, 1, 100000000);
            break;
        case O_RATE:
            o->rate = dnum(optarg);
            break;
        case O_MQTT:
            if (!strcmp(optarg, "5"))
                o->mqtt = 5;
            else if (!strcmp(optarg, "3.1.1") || !strcmp(optarg, "4") || !strcmp(optarg, "3"))
                o->mqtt = 4;
            else
                die("--mqtt takes 3.1.1 or 5, not '%s'", optarg);
            break;
        case O_KEEPALIVE:
            o->keepalive = (int)num(optarg, 0, 65535);
            break;
        case O_CONNS:
            o->conns = (int)num(optarg, 1, 10000000);
            break;
        case O_PARALLEL:
            o->parallel = (int)num(optarg, 1, 1000000);
            break;
        case O_RETAINED:
            o->retained = (int)num(optarg, 1, 100000000);
            break;
        case O_HOLD:
            o->hold = dnum(optarg);
            break;
        case O_ALLOW_LOSS:
            o->allow_loss = true;
            break;
        case O_TLS:
            o->tls = true;
            break;
        case O_TLSV:
            if (strcmp(optarg, "1.2") && strcmp(optarg, "1.3"))
                die("--tls-version takes 1.2 or 1.3, not '%s'", optarg);
            o->tls_version = optarg;
            o->tls = true;
            break;
        case O_GROUPS:
            o->groups = optarg;
            break;
        case O_CIPHERS:
            o->ciphers = optarg;
            break;
        case O_SUITES:
            o->ciphersuites = optarg;
            break;
        case O_SIGALGS:
            o->sigalgs = optarg;
            break;
        case O_CA:
            o->ca = optarg;
            break;
        case O_CERT:
            o->cert = optarg;
            break;
        case O_KEY:
            o->key = optarg;
            break;
        case O_VERIFY:
            o->verify = true;
            break;
        case O_PID:
            o->broker_pid = (pid_t)num(optarg, 0, 1L << 30);
            break;
        case O_NAME:
            o->name = optarg;
            break;
        case O_TAG:
            o->tag = optarg;
            break;
        case O_SCERT:
            o->server_cert = optarg;
            break;
        case O_SKEY:
            o->server_key = optarg;
            break;
        case O_TICKETS:
            o->num_tickets = (int)num(optarg, 0, 16);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc)
        die("unexpected argument '%s'", argv[optind]);
    if (o->mode == MODE_TLSFLOOR) {
        if (!o->server_cert)
            die("%s", "tlsfloor needs --server-cert (and --server-key)");
        if (!o->server_key)
            o->server_key = o->server_cert;
        o->tls = true;
        return;
    }
    if (!o->port)
        die("%s", "--port is required");
    if (o->keepalive < 0)
        o->keepalive = o->mode == MODE_IDLE ? 0 : 60;
    if (o->verify && !o->ca)
        die("%s", "--verify needs --ca");
}

/* ---- building the scenario --------------------------------------------- */

static void add_filter(sub *s, const char *f)
{
    char **p = realloc(s->filters, (size_t)(s->nfilters + 1) * sizeof *p);
    if (!p) {
        perror("realloc");
        exit(2);
    }
    s->filters = p;
    s->filters[s->nfilters++] = xstrdup(f);
}

static void build_pubsub(void)
{
    const opts *o = &G.o;
    const char *t = o->topology;
    bool same = !strcmp(t, "same"), fanin = !strcmp(t, "fanin"), wild = !strcmp(t, "wild"),
         pairs = !strcmp(t, "pairs");
    if (!same && !fanin && !wild && !pairs)
        die("unknown topology '%s'", t);
    if (pairs && o->pubs != o->subs)
        die("%s", "--topology pairs needs --pubs equal to --subs");
    G.npubs = o->pubs;
    G.nsubs = o->subs;
    G.nstreams = o->pubs * o->topics;
    G.streams = xcalloc((size_t)G.nstreams, sizeof *G.streams);
    G.pubs = xcalloc((size_t)G.npubs, sizeof *G.pubs);
    G.subs = xcalloc((size_t)G.nsubs, sizeof *G.subs);
    char buf[256];
    for (int j = 0; j < o->pubs; j++) {
        for (int k = 0; k < o->topics; k++) {
            stream *s = &G.streams[j * o->topics + k];
            s->pub = j;
            if (fanin)
                snprintf(buf, sizeof buf, "bench/in/%d/%d", j, k);
            else if (wild)
                snprintf(buf, sizeof buf, "bench/w/p%d/t%d", j, k);
            else if (pairs)
                snprintf(buf, sizeof buf, "bench/p/%d/%d", j, k);
            else
                snprintf(buf, sizeof buf, "bench/s/%d/%d", j, k);
            s->topic = xstrdup(buf);
            s->tlen = (uint16_t)strlen(buf);
        }
    }
    for (int i = 0; i < o->subs; i++) {
        sub *s = &G.subs[i];
        s->idx = i;
        if (fanin) {
            add_filter(s, "bench/#");
        } else if (same) {
            for (int x = 0; x < G.nstreams; x++)
                add_filter(s, G.streams[x].topic);
        } else if (pairs) {
            for (int k = 0; k < o->topics; k++)
                add_filter(s, G.streams[i * o->topics + k].topic);
        } else {
            int pj = i % o->pubs, tk = (i / 4) % o->topics;
            switch (i % 4) {
            case 0:
                snprintf(buf, sizeof buf, "bench/w/p%d/#", pj);
                break;
            case 1:
                snprintf(buf, sizeof buf, "bench/w/+/t%d", tk);
                break;
            case 2:
                snprintf(buf, sizeof buf, "bench/w/p%d/+", pj);
                break;
            default:
                snprintf(buf, sizeof buf, "bench/+/p%d/t%d", pj, tk);
                break;
            }
            add_filter(s, buf);
            for (int e = 0; e < o->extra_filters; e++) {
                switch (e % 3) {
                case 0:
                    snprintf(buf, sizeof buf, "bench/w/p%d/z%d_%d", e % o->pubs, i, e);
                    break;
                case 1:
                    snprintf(buf, sizeof buf, "bench/w/+/z%d_%d", i, e);
                    break;
                default:
                    snprintf(buf, sizeof buf, "bench/x%d/%d/#", i, e);
                    break;
                }
                add_filter(s, buf);
            }
        }
        s->match = xcalloc((size_t)G.nstreams, 1);
        s->next = xcalloc((size_t)G.nstreams, sizeof *s->next);
        s->count = xcalloc((size_t)G.nstreams, sizeof *s->count);
        for (int x = 0; x < G.nstreams; x++) {
            for (int f = 0; f < s->nfilters; f++) {
                if (topic_matches(s->filters[f], G.streams[x].topic)) {
                    s->match[x] = 1;
                    G.streams[x].fanout++;
                    break;
                }
            }
        }
    }
    for (int j = 0; j < o->pubs; j++) {
        pub *p = &G.pubs[j];
        p->idx = j;
        p->s0 = j * o->topics;
        p->ns = o->topics;
        uint64_t fsum = 0, fmax = 1;
        for (int k = 0; k < p->ns; k++) {
            uint32_t f = G.streams[p->s0 + k].fanout;
            fsum += f;
            if (f > fmax)
                fmax = f;
        }
        if (fsum == 0)
            die("%s", "a publisher has no subscriber on any of its topics");
        uint64_t avg = (fsum + (uint64_t)p->ns - 1) / (uint64_t)p->ns;
        p->win = (uint64_t)o->window * avg;
        if (p->win < fmax)
            p->win = fmax;
        p->max_inflight = o->window < 65535 ? (uint32_t)o->window : 65535;
        p->pidmap = xcalloc(8192, 1);
    }
    /* Subscribers first, so they are connected before anything is sent;
     * spread over the workers round-robin. */
    for (int i = 0; i < G.nsubs; i++) {
        conn *c = conn_new(&G.w[i % o->threads], ROLE_SUB);
        c->sub = &G.subs[i];
        G.subs[i].c = c;
        worker_add(&G.w[i % o->threads], c);
    }
    for (int j = 0; j < G.npubs; j++) {
        worker *w = &G.w[(G.nsubs + j) % o->threads];
        conn *c = conn_new(w, ROLE_PUB);
        c->pub = &G.pubs[j];
        G.pubs[j].c = c;
        worker_add(w, c);
    }
}

static void build_retained(void)
{
    const opts *o = &G.o;
    G.npubs = 1;
    G.nsubs = o->subs;
    G.nstreams = 1;
    G.streams = xcalloc(1, sizeof *G.streams);
    G.pubs = xcalloc(1, sizeof *G.pubs);
    G.subs = xcalloc((size_t)G.nsubs, sizeof *G.subs);
    G.pubs[0].pidmap = xcalloc(8192, 1);
    G.pubs[0].max_inflight = 1000;
    G.pubs[0].ns = 1;
    for (int i = 0; i < G.nsubs; i++) {
        sub *s = &G.subs[i];
        s->idx = i;
        add_filter(s, "bench/r/#");
        s->seen = xcalloc((size_t)o->retained / 8 + 1, 1);
        conn *c = conn_new(&G.w[i % o->threads], ROLE_RSUB);
        c->sub = s;
        s->c = c;
        worker_add(&G.w[i % o->threads], c);
    }
    worker *w = &G.w[G.nsubs % o->threads];
    conn *c = conn_new(w, ROLE_RPUB);
    c->pub = &G.pubs[0];
    G.pubs[0].c = c;
    worker_add(w, c);
}

static void build_conns(int role, int n)
{
    for (int i = 0; i < n; i++) {
        worker *w = &G.w[i % G.o.threads];
        worker_add(w, conn_new(w, role));
    }
}

/* ---- measuring --------------------------------------------------------- */

typedef struct snap {
    uint64_t t;
    uint64_t deliv, pubs, done, err;
    proc_sample b;
    double self;
} snap;

static void take(snap *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < G.o.threads; i++) {
        worker *w = &G.w[i];
        s->deliv += atomic_load_explicit(&w->a_deliv, memory_order_relaxed);
        s->pubs += atomic_load_explicit(&w->a_pubs, memory_order_relaxed);
        s->done += atomic_load_explicit(&w->a_done, memory_order_relaxed);
        s->err += atomic_load_explicit(&w->a_err, memory_order_relaxed);
    }
    proc_read(G.o.broker_pid, &s->b);
    s->self = self_cpu_s();
    s->t = now_ns();
}

static double secs(uint64_t a, uint64_t b)
{
    return (double)(b - a) / 1e9;
}

static bool wait_ready(int want, double timeout)
{
    uint64_t end = now_ns() + (uint64_t)(timeout * 1e9);
    while (atomic_load(&G.ready) < want) {
        if (atomic_load(&G.failed) > 0 || now_ns() > end)
            return false;
        sleep_ns(2000000);
    }
    return true;
}

static void add_window(json *j, const snap *a, const snap *b, const char *prefix)
{
    char k[64];
    double dt = secs(a->t, b->t);
    if (a->b.ok && b->b.ok) {
        double cpu = b->b.cpu_s - a->b.cpu_s;
        snprintf(k, sizeof k, "%sbroker_cpu_s", prefix);
        json_num(j, k, cpu);
        snprintf(k, sizeof k, "%sbroker_cpu_pct", prefix);
        json_num(j, k, dt > 0 ? 100.0 * cpu / dt : 0);
    }
    snprintf(k, sizeof k, "%sgen_cpu_pct", prefix);
    json_num(j, k, dt > 0 ? 100.0 * (b->self - a->self) / dt : 0);
}

static void add_broker_mem(json *j, const snap *base, const snap *end)
{
    if (!end->b.ok)
        return;
    json_int(j, "broker_rss_kb", (int64_t)end->b.rss_kb);
    json_int(j, "broker_rss_start_kb", (int64_t)base->b.rss_kb);
    json_int(j, "broker_hwm_kb", (int64_t)end->b.hwm_kb);
    json_int(j, "broker_threads", (int64_t)end->b.threads);
}

static void add_hist(json *j, const char *prefix, const hist *h)
{
    static const struct {
        const char *name;
        double p;
    } pcts[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
    char k[64];
    snprintf(k, sizeof k, "%s_n", prefix);
    json_int(j, k, (int64_t)h->n);
    if (!h->n)
        return;
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        snprintf(k, sizeof k, "%s_%s_us", prefix, pcts[i].name);
        json_num(j, k, (double)hist_pct(h, pcts[i].p) / 1000.0);
    }
    snprintf(k, sizeof k, "%s_mean_us", prefix);
    json_num(j, k, (double)h->sum / (double)h->n / 1000.0);
    snprintf(k, sizeof k, "%s_max_us", prefix);
    json_num(j, k, (double)h->max / 1000.0);
}

static void start_workers(void)
{
    for (int i = 0; i < G.o.threads; i++) {
        if (pthread_create(&G.w[i].th, NULL, worker_main, &G.w[i]) != 0) {
            perror("pthread_create");
            exit(2);
        }
    }
}

static void stop_workers(void)
{
    atomic_store(&G.phase, PH_QUIT);
    for (int i = 0; i < G.o.threads; i++)
        pthread_join(G.w[i].th, NULL);
}

static void json_head(json *j)
{
    static const char *modes[] = {"pubsub", "retained", "storm", "idle", "tlsfloor"};
    json_begin(j);
    json_str(j, "name", G.o.name);
    json_str(j, "mode", modes[G.o.mode]);
    if (G.o.tag)
        json_str(j, "tag", G.o.tag);
    json_int(j, "threads", G.o.threads);
    json_str(j, "mqtt", G.o.mqtt == 5 ? "5" : "3.1.1");
    json_bool(j, "tls", G.o.tls);
    if (G.o.tls)
        json_raw(j, "tls_info", G.tls_info[0] ? G.tls_info : "null");
}

static void json_tail(json *j, bool ok, uint64_t errors)
{
    json_int(j, "errors", (int64_t)errors);
    json_str(j, "first_error", G.first_err[0] ? G.first_err : NULL);
    json_bool(j, "ok", ok);
    json_end(j, stdout);
}

static uint64_t total_err(void)
{
    uint64_t e = 0;
    for (int i = 0; i < G.o.threads; i++)
        e += G.w[i].err;
    return e;
}

static int run_pubsub(const snap *base)
{
    const opts *o = &G.o;
    json j;
    double setup_timeout = 30 + (G.npubs + G.nsubs) / 200.0;
    bool ready = wait_ready(G.npubs + G.nsubs, setup_timeout);
    if (!ready)
        gen_error(NULL, NULL, "setup: %d of %d connections ready", atomic_load(&G.ready),
                  G.npubs + G.nsubs);
    snap s0, s1, s2;
    take(&s0);
    atomic_store(&G.t_meas0, UINT64_MAX);
    atomic_store(&G.t_meas1, UINT64_MAX);
    if (ready) {
        atomic_store(&G.phase, PH_RUN);
        sleep_ns((uint64_t)(o->warmup * 1e9));
    }
    take(&s1);
    atomic_store(&G.t_meas0, s1.t);
    if (ready)
        sleep_ns((uint64_t)(o->duration * 1e9));
    take(&s2);
    atomic_store(&G.t_meas1, s2.t);
    atomic_store(&G.phase, PH_DRAIN);

    /* Drain: wait until the publishers stopped, every QoS 1 message is
     * acknowledged and every expected delivery arrived, or until nothing
     * moved for o->drain seconds. */
    uint64_t expected = 0, last = 0, last_t = now_ns();
    bool drained = false;
    while (ready && atomic_load(&G.failed) == 0) {
        int stopped = 0;
        for (int p = 0; p < G.npubs; p++)
            stopped += atomic_load(&G.pubs[p].stopped);
        snap s;
        take(&s);
        if (stopped == G.npubs) {
            expected = 0;
            for (int x = 0; x < G.nstreams; x++)
                expected += (uint64_t)atomic_load(&G.streams[x].final_n) * G.streams[x].fanout;
            if (s.deliv >= expected) {
                drained = true;
                break;
            }
        }
        if (s.deliv != last) {
            last = s.deliv;
            last_t = s.t;
        } else if (secs(last_t, s.t) > o->drain) {
            break;
        }
        sleep_ns(2000000);
    }
    /* give QoS 1 acknowledgements a moment (they travel separately) */
    if (o->qos && drained)
        sleep_ns(50000000);
    snap s3;
    take(&s3);
    /* Where a stall is, when the drain timed out: bytes our publishers still
     * hold (their side) versus nothing held here (the broker's side). Read
     * after the workers stop. */
    stop_workers();
    uint64_t pub_unsent = 0, sub_partial = 0;
    for (int p = 0; p < G.npubs; p++)
        pub_unsent += G.pubs[p].unsent_at_quit;
    for (int i = 0; i < G.nsubs; i++)
        sub_partial += G.subs[i].partial_at_quit;

    /* verify */
    uint64_t sent = 0, exp_total = 0, got = 0, lost = 0, extra = 0, dups = 0, redeliv = 0, gaps = 0,
             unexpected = 0, bad = 0, retain_flag = 0, bad_acks = 0, unacked = 0;
    for (int x = 0; x < G.nstreams; x++) {
        sent += atomic_load(&G.streams[x].final_n);
        exp_total += (uint64_t)atomic_load(&G.streams[x].final_n) * G.streams[x].fanout;
    }
    for (int i = 0; i < G.nsubs; i++) {
        sub *s = &G.subs[i];
        for (int x = 0; x < G.nstreams; x++) {
            if (!s->match[x])
                continue;
            uint32_t want = atomic_load(&G.streams[x].final_n);
            got += s->count[x];
            if (s->count[x] < want)
                lost += want - s->count[x];
            else
                extra += s->count[x] - want;
        }
        dups += s->dups;
        redeliv += s->dup_redeliv;
        gaps += s->gaps;
        unexpected += s->unexpected;
        bad += s->bad;
        retain_flag += s->not_retained;
    }
    for (int p = 0; p < G.npubs; p++) {
        bad_acks += G.pubs[p].bad_acks;
        if (o->qos)
            unacked += G.pubs[p].inflight;
    }
    uint64_t errors = total_err();
    bool ok = ready && errors == 0 && atomic_load(&G.failed) == 0 && dups == 0 && extra == 0 &&
              unexpected == 0 && bad == 0 && retain_flag == 0 && bad_acks == 0 && unacked == 0 &&
              (lost == 0 || (o->allow_loss && o->qos == 0)) && (gaps == 0 || o->allow_loss);
    if (!ok && !G.first_err[0]) {
        snprintf(G.first_err, sizeof G.first_err,
                 "check failed: lost %llu, dups %llu, extra %llu, gaps %llu, unexpected %llu, "
                 "bad payload %llu, unacked %llu%s",
                 (unsigned long long)lost, (unsigned long long)dups, (unsigned long long)extra,
                 (unsigned long long)gaps, (unsigned long long)unexpected, (unsigned long long)bad,
                 (unsigned long long)unacked, drained ? "" : " (drain timed out)");
    }

    hist lat;
    memset(&lat, 0, sizeof lat);
    for (int i = 0; i < o->threads; i++)
        hist_merge(&lat, &G.w[i].lat);
    double dt = secs(s1.t, s2.t);
    json_head(&j);
    json_str(&j, "topology", o->topology);
    json_int(&j, "qos", o->qos);
    json_int(&j, "size", o->size);
    json_int(&j, "pubs", G.npubs);
    json_int(&j, "subs", G.nsubs);
    json_int(&j, "streams", G.nstreams);
    json_int(&j, "window", o->window);
    json_num(&j, "rate", o->rate);
    json_num(&j, "duration_s", dt);
    json_num(&j, "msgs_per_s", dt > 0 ? (double)(s2.pubs - s1.pubs) / dt : 0);
    json_num(&j, "deliveries_per_s", dt > 0 ? (double)(s2.deliv - s1.deliv) / dt : 0);
    add_hist(&j, "lat", &lat);
    add_window(&j, &s1, &s2, "");
    if (s1.b.ok && s2.deliv > s1.deliv)
        json_num(&j, "broker_us_per_delivery",
                 (s2.b.cpu_s - s1.b.cpu_s) * 1e6 / (double)(s2.deliv - s1.deliv));
    add_broker_mem(&j, base, &s3);
    json_int(&j, "sent", (int64_t)sent);
    json_int(&j, "expected_deliveries", (int64_t)exp_total);
    json_int(&j, "received", (int64_t)got);
    json_int(&j, "lost", (int64_t)lost);
    json_int(&j, "extra", (int64_t)extra);
    json_int(&j, "dups", (int64_t)dups);
    json_int(&j, "dup_redeliveries", (int64_t)redeliv);
    json_int(&j, "gaps", (int64_t)gaps);
    json_int(&j, "unexpected", (int64_t)unexpected);
    json_int(&j, "bad_payload", (int64_t)bad);
    json_int(&j, "retain_flag_set", (int64_t)retain_flag);
    json_int(&j, "bad_acks", (int64_t)bad_acks);
    json_int(&j, "unacked", (int64_t)unacked);
    json_bool(&j, "drained", drained);
    if (!drained) {
        json_int(&j, "pub_unsent_bytes", (int64_t)pub_unsent);
        json_int(&j, "sub_partial_bytes", (int64_t)sub_partial);
    }
    json_tail(&j, ok, errors);
    return ok ? 0 : 1;
}

static int run_retained(const snap *base)
{
    const opts *o = &G.o;
    bool ready = wait_ready(G.nsubs + 1, 30 + G.nsubs / 200.0);
    if (!ready)
        gen_error(NULL, NULL, "setup: %d of %d connections ready", atomic_load(&G.ready),
                  G.nsubs + 1);
    snap a, b, c;
    take(&a);
    bool stored = false, delivered = false;
    pub *p = &G.pubs[0];
    if (ready) {
        atomic_store(&G.phase, PH_RUN);
        uint64_t last = 0, last_t = now_ns();
        for (;;) {
            snap s;
            take(&s);
            /* the publisher's PUBACK count is its worker's "done" counter */
            if (s.done >= (uint64_t)o->retained) {
                stored = true;
                break;
            }
            if (s.done != last) {
                last = s.done;
                last_t = s.t;
            } else if (secs(last_t, s.t) > o->drain || atomic_load(&G.failed)) {
                break;
            }
            sleep_ns(1000000);
        }
    }
    take(&b);
    if (stored) {
        atomic_store(&G.storm_on, 1); /* the subscribers subscribe now */
        uint64_t last = 0, last_t = now_ns();
        for (;;) {
            snap s;
            take(&s);
            if (atomic_load(&G.subs_done) == G.nsubs) {
                delivered = true;
                break;
            }
            if (s.deliv != last) {
                last = s.deliv;
                last_t = s.t;
            } else if (secs(last_t, s.t) > o->drain || atomic_load(&G.failed)) {
                break;
            }
            sleep_ns(1000000);
        }
    }
    take(&c);
    stop_workers();

    uint64_t dups = 0, redeliv = 0, unexpected = 0, bad = 0, not_ret = 0, missing = 0;
    for (int i = 0; i < G.nsubs; i++) {
        sub *s = &G.subs[i];
        dups += s->dups;
        redeliv += s->dup_redeliv;
        unexpected += s->unexpected;
        bad += s->bad;
        not_ret += s->not_retained;
        missing += (uint64_t)o->retained - s->nseen;
    }
    uint64_t errors = total_err();
    bool ok = ready && stored && delivered && errors == 0 && atomic_load(&G.failed) == 0 &&
              dups == 0 && unexpected == 0 && bad == 0 && not_ret == 0 && missing == 0 &&
              p->bad_acks == 0;
    if (!ok && !G.first_err[0])
        snprintf(G.first_err, sizeof G.first_err,
                 "check failed: stored %d, missing %llu, dups %llu, unexpected %llu, "
                 "without retain flag %llu",
                 stored, (unsigned long long)missing, (unsigned long long)dups,
                 (unsigned long long)unexpected, (unsigned long long)not_ret);
    json j;
    json_head(&j);
    json_int(&j, "retained", o->retained);
    json_int(&j, "size", o->size);
    json_int(&j, "subs", G.nsubs);
    double t1 = secs(a.t, b.t), t2 = secs(b.t, c.t);
    json_num(&j, "store_s", t1);
    json_num(&j, "stores_per_s", stored && t1 > 0 ? o->retained / t1 : 0);
    add_window(&j, &a, &b, "store_");
    json_num(&j, "deliver_s", t2);
    json_num(&j, "deliveries_per_s", delivered && t2 > 0 ? (double)o->retained * G.nsubs / t2 : 0);
    add_window(&j, &b, &c, "");
    add_broker_mem(&j, base, &c);
    json_int(&j, "missing", (int64_t)missing);
    json_int(&j, "dups", (int64_t)dups);
    json_int(&j, "dup_redeliveries", (int64_t)redeliv);
    json_int(&j, "unexpected", (int64_t)unexpected);
    json_int(&j, "bad_payload", (int64_t)bad);
    json_int(&j, "retain_flag_missing", (int64_t)not_ret);
    json_tail(&j, ok, errors);
    return ok ? 0 : 1;
}

static int run_storm(const snap *base)
{
    const opts *o = &G.o;
    snap s0, s1, s2;
    atomic_store(&G.phase, PH_RUN);
    atomic_store(&G.t_meas0, UINT64_MAX);
    atomic_store(&G.t_meas1, UINT64_MAX);
    take(&s0);
    atomic_store(&G.storm_on, 1);
    sleep_ns((uint64_t)(o->warmup * 1e9));
    take(&s1);
    atomic_store(&G.t_meas0, s1.t);
    sleep_ns((uint64_t)(o->duration * 1e9));
    take(&s2);
    atomic_store(&G.t_meas1, s2.t);
    atomic_store(&G.storm_on, 0);
    atomic_store(&G.phase, PH_DRAIN);
    sleep_ns(200000000);
    stop_workers();
    hist hs;
    memset(&hs, 0, sizeof hs);
    for (int i = 0; i < o->threads; i++)
        hist_merge(&hs, &G.w[i].hs);
    uint64_t errors = total_err();
    uint64_t n = s2.done - s1.done;
    double dt = secs(s1.t, s2.t);
    bool ok = errors == 0 && n > 0;
    if (!ok && !G.first_err[0])
        snprintf(G.first_err, sizeof G.first_err, "no connection completed");
    json j;
    json_head(&j);
    json_int(&j, "in_flight", (int64_t)o->conns * o->threads);
    json_num(&j, "duration_s", dt);
    json_int(&j, "connections", (int64_t)n);
    json_num(&j, "conns_per_s", dt > 0 ? (double)n / dt : 0);
    add_hist(&j, "hs", &hs);
    add_window(&j, &s1, &s2, "");
    if (s1.b.ok && n) {
        double cpu = s2.b.cpu_s - s1.b.cpu_s;
        json_num(&j, "broker_us_per_conn", cpu * 1e6 / (double)n);
        json_num(&j, "conns_per_broker_cpu_s", cpu > 0 ? (double)n / cpu : 0);
    }
    add_broker_mem(&j, base, &s2);
    json_tail(&j, ok, errors);
    return ok ? 0 : 1;
}

static int run_idle(const snap *base)
{
    const opts *o = &G.o;
    atomic_store(&G.phase, PH_RUN);
    bool ready = wait_ready(o->conns, 60 + o->conns / 100.0);
    snap s1, s2;
    take(&s1);
    if (!ready)
        gen_error(NULL, NULL, "setup: %d of %d connections ready", atomic_load(&G.ready), o->conns);
    if (ready)
        sleep_ns((uint64_t)(o->hold * 1e9));
    take(&s2);
    int held = atomic_load(&G.ready);
    stop_workers();
    uint64_t errors = total_err();
    bool ok = ready && errors == 0;
    json j;
    json_head(&j);
    json_int(&j, "conns", o->conns);
    json_int(&j, "held", held);
    double t = secs(base->t, s1.t);
    json_num(&j, "connect_s", t);
    json_num(&j, "conns_per_s", t > 0 ? held / t : 0);
    add_window(&j, base, &s1, "connect_");
    if (base->b.ok && s2.b.ok && held > 0) {
        json_num(&j, "broker_us_per_conn", (s1.b.cpu_s - base->b.cpu_s) * 1e6 / held);
        json_num(&j, "bytes_per_conn",
                 ((double)s2.b.rss_kb - (double)base->b.rss_kb) * 1024.0 / held);
    }
    add_broker_mem(&j, base, &s2);
    json_tail(&j, ok, errors);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&G.mu, NULL);

    /* Raise the soft open-file limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((G.o.mode == MODE_IDLE) && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        (rlim_t)G.o.conns + 64 > rl.rlim_cur) {
        fprintf(stderr, "moat-bench: %d connections need more than the open-file limit %llu\n",
                G.o.conns, (unsigned long long)rl.rlim_cur);
        return 2;
    }

    if (tls_setup() != 0)
        return 2;
    if (G.o.mode == MODE_TLSFLOOR)
        return run_tlsfloor();
    char port[16];
    snprintf(port, sizeof port, "%d", G.o.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(G.o.host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "moat-bench: %s: %s\n", G.o.host, gai_strerror(rc));
        return 2;
    }
    G.addr = xcalloc(1, sizeof *G.addr);
    memcpy(G.addr, ai->ai_addr, ai->ai_addrlen);
    G.addrlen = (unsigned)ai->ai_addrlen;
    freeaddrinfo(ai);

    G.pattern = xcalloc((size_t)G.o.size, 1);
    for (int i = 0; i < G.o.size; i++)
        G.pattern[i] = (uint8_t)('a' + i % 26);

    G.w = xcalloc((size_t)G.o.threads, sizeof *G.w);
    if (G.o.mode == MODE_PUBSUB) {
        /* workers need npubs for their delivery tables: count first */
        G.npubs = G.o.pubs;
    } else if (G.o.mode == MODE_RETAINED) {
        G.npubs = 1;
    }
    for (int i = 0; i < G.o.threads; i++)
        worker_init(&G.w[i], i);
    switch (G.o.mode) {
    case MODE_PUBSUB:
        build_pubsub();
        break;
    case MODE_RETAINED:
        build_retained();
        break;
    case MODE_STORM:
        build_conns(ROLE_STORM, G.o.conns * G.o.threads);
        break;
    case MODE_IDLE:
        build_conns(ROLE_IDLE, G.o.conns);
        break;
    case MODE_TLSFLOOR:
        break;
    }
    snap base;
    take(&base);
    start_workers();
    switch (G.o.mode) {
    case MODE_PUBSUB:
        return run_pubsub(&base);
    case MODE_RETAINED:
        return run_retained(&base);
    case MODE_STORM:
        return run_storm(&base);
    case MODE_IDLE:
        return run_idle(&base);
    case MODE_TLSFLOOR:
        break;
    }
    return 2;
}
