/* SPDX-License-Identifier: Apache-2.0 */
/* Broker lifecycle: listeners, worker threads, start-up load and shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "auth/ban.h"
#include "auth/pool.h"
#include "broker/internal.h"
#include "dashboard/dashboard.h"

#define TICK_MS 200

static _Thread_local moat_worker *tls_worker;

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

moat_worker *worker_current(void)
{
    return tls_worker;
}

/* ------------------------------------------------------------ workers */

void worker_add_conn(moat_worker *w, moat_conn *c)
{
    if (w->n_conns == w->cap_conns) {
        uint32_t nc = w->cap_conns ? w->cap_conns * 2 : 64;
        moat_conn **n = realloc(w->conns, nc * sizeof *n);
        if (!n)
            return; /* the sweep will not see it; the connection still works */
        w->conns = n;
        w->cap_conns = nc;
    }
    w->conns[w->n_conns++] = c;
}

void worker_remove_conn(moat_worker *w, moat_conn *c)
{
    for (uint32_t i = 0; i < w->n_conns; i++) {
        if (w->conns[i] == c) {
            w->conns[i] = w->conns[--w->n_conns];
            return;
        }
    }
}

static void wake_noop(moat_loop *l, void *arg)
{
    (void)l;
    (void)arg;
}

/* Queue c for a flush on its own loop. Safe from any thread. */
void worker_mark_dirty(moat_conn *c)
{
    if (atomic_exchange(&c->dirty, true))
        return;
    conn_ref(c);
    moat_worker *w = c->worker;
    pthread_mutex_lock(&w->dirty_lock);
    if (w->n_dirty == w->cap_dirty) {
        uint32_t nc = w->cap_dirty ? w->cap_dirty * 2 : 64;
        moat_conn **n = realloc(w->dirty, nc * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&w->dirty_lock);
            atomic_store(&c->dirty, false);
            conn_unref(c);
            return;
        }
        w->dirty = n;
        w->cap_dirty = nc;
    }
    w->dirty[w->n_dirty++] = c;
    pthread_mutex_unlock(&w->dirty_lock);
    if (tls_worker != w && !atomic_exchange(&w->wake_posted, true))
        moat_loop_post(w->loop, wake_noop, NULL);
}

static void before_sleep(moat_loop *l, void *arg)
{
    (void)l;
    moat_worker *w = arg;
    for (;;) {
        /* Swap the list being filled with the spare one, so neither is
         * freed and regrown every iteration. */
        pthread_mutex_lock(&w->dirty_lock);
        atomic_store(&w->wake_posted, false);
        uint32_t n = w->n_dirty, cap = w->cap_dirty;
        moat_conn **list = w->dirty;
        w->dirty = w->dirty_spare;
        w->cap_dirty = w->cap_spare;
        w->n_dirty = 0;
        w->dirty_spare = NULL;
        w->cap_spare = 0;
        pthread_mutex_unlock(&w->dirty_lock);
        for (uint32_t i = 0; i < n; i++) {
            atomic_store(&list[i]->dirty, false);
            conn_flush(list[i]);
            conn_unref(list[i]);
        }
        pthread_mutex_lock(&w->dirty_lock);
        w->dirty_spare = list;
        w->cap_spare = cap;
        pthread_mutex_unlock(&w->dirty_lock);
        if (!n)
            return;
    }
}

static void log_auth(const moat_auth *a)
{
    size_t users, clients, passwd, rules;
    moat_auth_counts(a, &users, &clients, &passwd, &rules);
    if (users || clients || passwd || rules)
        LOG_NOTICE("auth: %zu built-in users, %zu built-in client ids, %zu password file "
                   "entries, %zu ACL rules",
                   users, clients, passwd, rules);
}

/* SIGHUP: re-read the file. Reloadable settings take effect at once (new
 * connections and new packets see them); the others are reported and keep
 * their running values until a restart. A bad file changes nothing. */
static void reload(moat_broker *b)
{
    char err[1024], fixed[512];
    if (!b->conf_path[0]) {
        LOG_NOTICE("SIGHUP: no configuration file to reload (started without -c)");
        return;
    }
    moat_conf *nc = malloc(sizeof *nc);
    moat_conf **r = realloc(b->retired, (b->n_retired + 1) * sizeof *r);
    if (!nc || !r) {
        free(nc);
        LOG_ERROR("SIGHUP: out of memory; configuration not reloaded");
        return;
    }
    b->retired = r;
    moat_conf_defaults(nc);
    if (moat_conf_load(nc, b->conf_path, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("SIGHUP: configuration not reloaded, the running one is kept: %s", err);
        free(nc);
        return;
    }
    moat_auth *na = NULL;
    moat_auth **ar = realloc(b->auth_retired, (b->n_auth_retired + 1) * sizeof *ar);
    if (ar)
        b->auth_retired = ar;
    if (!ar || moat_auth_new(nc, b->auth_pool, &na, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("SIGHUP: configuration not reloaded, the running one is kept: %s",
                  ar ? err : "out of memory");
        free(nc);
        return;
    }
    if (moat_conf_diff_static(&b->conf, nc, fixed, sizeof fixed))
        LOG_WARN("SIGHUP: changes to %s need a restart; running values kept", fixed);
    /* Keep what cannot change while running. */
    memcpy(nc->data_dir, b->conf.data_dir, sizeof nc->data_dir);
    nc->workers = b->conf.workers;
    nc->sync_interval_ms = b->conf.sync_interval_ms;
    /* Listeners keep their place and address (b->listeners[i] is
     * CONF(b)->listeners[i]); their reloadable options come from the file. */
    moat_listener_conf *fresh = malloc(sizeof nc->listeners);
    if (!fresh) {
        free(nc);
        return;
    }
    memcpy(fresh, nc->listeners, sizeof nc->listeners);
    uint32_t n_fresh = nc->n_listeners;
    nc->n_listeners = b->conf.n_listeners;
    memcpy(nc->listeners, b->conf.listeners, sizeof nc->listeners);
    for (uint32_t i = 0; i < nc->n_listeners; i++) {
        moat_listener_conf *l = &nc->listeners[i];
        for (uint32_t k = 0; k < n_fresh; k++) {
            if (strcmp(fresh[k].type, l->type) || strcmp(fresh[k].name, l->name))
                continue;
            moat_listener_conf keep = *l;
            *l = fresh[k];
            memcpy(l->bind, keep.bind, sizeof l->bind);
            l->port = keep.port;
            memcpy(l->origin, keep.origin, sizeof l->origin);
        }
    }
    free(fresh);
    b->retired[b->n_retired++] = atomic_exchange(&b->live, nc);
    moat_auth *old = atomic_exchange(&b->auth, na);
    moat_auth_retire(old);
    b->auth_retired[b->n_auth_retired++] = old;
    log_auth(na);
    moat_log_set_level((moat_log_level)nc->log_level);
    moat_log_open(nc->log_file[0] ? nc->log_file : NULL, nc->log_file[0] ? nc->log_to_console : 1);
    LOG_NOTICE("SIGHUP: configuration reloaded from %s (log.level = %s)", b->conf_path,
               moat_log_level_name((moat_log_level)nc->log_level));
    tls_reloader_request(b);
}

static void on_tick(moat_loop *l, void *arg)
{
    moat_worker *w = arg;
    moat_broker *b = w->b;
    if (atomic_load(&b->stopping)) {
        for (uint32_t i = 0; i < b->n_workers; i++)
            moat_loop_stop(b->workers[i].loop);
        return;
    }
    conn_keepalive_sweep(w, (int64_t)moat_now_ms());
    hconn_sweep(w, (int64_t)moat_now_ms());
    if (w->index == 0) {
        broker_tick(b);
        if (atomic_exchange(&b->reload_requested, false))
            reload(b);
    }
    moat_loop_timer(l, TICK_MS, on_tick, w);
}

/* ------------------------------------------------------------ accept */

typedef struct accepted {
    moat_listener *l;
    int fd;
    struct sockaddr_storage sa;
} accepted;

static void adopt(moat_loop *l, void *arg)
{
    (void)l;
    accepted *a = arg;
    if (a->l->is_http)
        hconn_accept(tls_worker, a->l, a->fd, (struct sockaddr *)&a->sa);
    else
        conn_accept(tls_worker, a->l, a->fd, (struct sockaddr *)&a->sa);
    free(a);
}

static void on_accept(moat_loop *l, int fd, void *arg, unsigned ev)
{
    (void)l;
    (void)ev;
    moat_listener *li = arg;
    moat_broker *b = tls_worker->b;
    for (int k = 0; k < 64; k++) {
        accepted *a = malloc(sizeof *a);
        if (!a)
            return;
        socklen_t sl = sizeof a->sa;
        a->l = li;
        a->fd = accept4(fd, (struct sockaddr *)&a->sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (a->fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOG_WARN("listener %s: accept: %s", li->label, strerror(errno));
            free(a);
            return;
        }
        static _Atomic unsigned rr;
        moat_worker *w = &b->workers[atomic_fetch_add(&rr, 1) % b->n_workers];
        if (w == tls_worker) {
            adopt(w->loop, a);
        } else if (moat_loop_post(w->loop, adopt, a) != MOAT_OK) {
            close(a->fd);
            free(a);
        }
    }
}

static moat_err bind_listener(moat_listener *l, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", l->conf.port);
    int rc = getaddrinfo(l->conf.bind[0] ? l->conf.bind : NULL, port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "%s: listener %s: bad address '%s': %s", l->conf.origin, l->label,
                 l->conf.bind, gai_strerror(rc));
        return MOAT_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Accepted sockets inherit it (Linux): no system call per client. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "%s: listener %s: cannot listen on %s:%u: %s", l->conf.origin,
                 l->label, l->conf.bind, l->conf.port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return MOAT_EIO;
    }
    if (ai->ai_family == AF_INET)
        l->loopback = (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    else
        l->loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    freeaddrinfo(ai);
    l->fd = fd;
    return MOAT_OK;
}

/* ---------------------------------------------------------- lifecycle */

static unsigned default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* WebSocket settings and address lists of a listener, parsed once (the
 * values were checked when the configuration was read). */
static moat_err listener_setup(moat_listener *l, char *err, size_t errlen)
{
    const moat_listener_conf *lc = &l->conf;
    char why[256];
    if (moat_cidr_list_parse(lc->proxy_protocol_trusted, &l->proxy_trusted, why, sizeof why) ||
        moat_cidr_list_parse(lc->trusted_proxies, &l->trusted_proxies, why, sizeof why)) {
        snprintf(err, errlen, "%s: listener %s: %s", lc->origin, l->label, why);
        return MOAT_EINVAL;
    }
    l->is_http = moat_listener_is_http(lc);
    if (!moat_listener_is_ws(lc))
        return MOAT_OK;
    l->is_ws = true;
    l->ws.upgrade.path = lc->mqtt_path;
    l->ws.upgrade.fail_if_no_subprotocol = lc->fail_if_no_subprotocol;
    l->ws.upgrade.check_origin = lc->check_origin_enable;
    l->ws.upgrade.allow_origin_absent = lc->allow_origin_absence;
    l->ws.max_frame = lc->max_frame_size;
    /* check_origins: split "a, b c" in place into a NULL-free array */
    size_t n = 0, cap = 1;
    for (const char *p = lc->check_origins; *p; p++)
        cap += *p == ',' || *p == ' ' || *p == '\t';
    l->origins_text = strdup(lc->check_origins);
    l->origins = calloc(cap, sizeof *l->origins);
    if (!l->origins_text || !l->origins)
        return MOAT_ENOMEM;
    for (char *save = NULL, *tok = strtok_r(l->origins_text, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save))
        l->origins[n++] = tok;
    l->ws.upgrade.allowed_origins = l->origins;
    l->ws.upgrade.n_allowed_origins = n;
    return MOAT_OK;
}

moat_err moat_broker_new(const moat_conf *conf, moat_broker **out, char *err, size_t errlen)
{
    moat_broker *b = calloc(1, sizeof *b);
    if (!b)
        return MOAT_ENOMEM;
    b->conf = *conf;
    atomic_init(&b->live, &b->conf);
    pthread_mutex_init(&b->lock, NULL);
    moat_auth *auth = NULL;
    if (!(b->bans = moat_bans_new()) ||
        moat_pool_new(conf->auth_pool_size, conf->auth_queue_max, &b->auth_pool) != MOAT_OK) {
        moat_bans_free(b->bans);
        snprintf(err, errlen, "out of memory");
        pthread_mutex_destroy(&b->lock);
        free(b);
        return MOAT_ENOMEM;
    }
    if (moat_auth_new(conf, b->auth_pool, &auth, err, errlen) != MOAT_OK) {
        moat_pool_free(b->auth_pool);
        moat_bans_free(b->bans);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return MOAT_EINVAL;
    }
    atomic_init(&b->auth, auth);
    log_auth(auth);
    b->started_at = wall_ms();
    atomic_init(&b->next_conn_id, 1);
    b->sessions.borrow_keys = true; /* keyed by each session's own client_id */
    moat_err e = moat_subtree_new(&b->subs);
    e = e ? e : moat_rettree_new(&b->retained);
    if (e) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    e = moat_store_open(conf->data_dir, 0, &b->store, err, errlen);
    if (e)
        goto fail;
    e = broker_load(b, err, errlen);
    if (e)
        goto fail;
    b->n_listeners = conf->n_listeners;
    b->listeners = calloc(conf->n_listeners ? conf->n_listeners : 1, sizeof *b->listeners);
    if (!b->listeners) {
        e = MOAT_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        moat_listener *l = &b->listeners[i];
        l->conf = conf->listeners[i];
        l->index = i;
        l->fd = -1;
        snprintf(l->label, sizeof l->label, "%s:%s", l->conf.type, l->conf.name);
        e = listener_setup(l, err, errlen);
        if (e)
            goto fail;
        if (moat_listener_is_tls(&l->conf)) {
            moat_tls_ctx *ctx = NULL;
            moat_listener_conf lc = l->conf;
            tls_override_load(b, l);
            tls_override_apply(b, l, &lc);
            e = tls_listener_build(&lc, l->label, &ctx, err, errlen);
            if (e)
                goto fail;
            moat_tls_slot_init(&l->tls_slot, ctx);
            l->is_tls = true;
        }
        e = bind_listener(l, err, errlen);
        if (e)
            goto fail;
    }
    e = dashboard_init(b, err, errlen);
    if (e)
        goto fail;
    *out = b;
    return MOAT_OK;
fail:
    moat_broker_free(b);
    return e;
}

/* fsync of the store, off the loops: a loop must never wait for the disk. */
static void *sync_main(void *arg)
{
    moat_broker *b = arg;
    uint64_t last = moat_now_ms();
    while (!atomic_load(&b->sync_stop)) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        if (moat_now_ms() - last >= b->conf.sync_interval_ms) {
            moat_store_sync(b->store);
            last = moat_now_ms();
        }
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    moat_worker *w = arg;
    tls_worker = w;
    moat_loop_run(w->loop);
    return NULL;
}

static moat_err start_workers(moat_broker *b)
{
    b->n_workers = b->conf.workers ? b->conf.workers : default_workers();
    b->workers = calloc(b->n_workers, sizeof *b->workers);
    if (!b->workers)
        return MOAT_ENOMEM;
    for (uint32_t i = 0; i < b->n_workers; i++) {
        moat_worker *w = &b->workers[i];
        w->b = b;
        w->index = i;
        w->rbuf = malloc(WORKER_RBUF);
        if (!w->rbuf)
            return MOAT_ENOMEM;
        pthread_mutex_init(&w->dirty_lock, NULL);
        if (moat_loop_new(&w->loop) != MOAT_OK)
            return MOAT_ENOMEM;
        moat_loop_set_before_sleep(w->loop, before_sleep, w);
        moat_loop_timer(w->loop, TICK_MS, on_tick, w);
    }
    for (uint32_t i = 0; i < b->n_listeners; i++)
        moat_loop_add_fd(b->workers[0].loop, b->listeners[i].fd, MOAT_EV_READ, on_accept,
                         &b->listeners[i]);
    for (uint32_t i = 1; i < b->n_workers; i++)
        if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]) != 0)
            return MOAT_EIO;
    return MOAT_OK;
}

static void close_all(moat_worker *w)
{
    tls_worker = w;
    while (w->n_conns) {
        moat_conn *c = w->conns[w->n_conns - 1];
        /* Shutdown is not the client's fault: no will, session kept. */
        c->graceful = true;
        conn_close(c, MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down", true);
    }
    hconn_close_all(w);
    before_sleep(w->loop, w);
}

moat_err moat_broker_run(moat_broker *b)
{
    moat_err e = start_workers(b);
    if (e)
        return e;
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        const moat_listener *l = &b->listeners[i];
        LOG_NOTICE("listening on %s:%u (%s%s%s%s%s)", l->conf.bind, l->conf.port, l->label,
                   l->is_tls ? ", TLS" : "", l->is_ws ? ", WebSocket path " : "",
                   l->is_ws ? l->conf.mqtt_path : "",
                   l->conf.proxy_protocol ? ", PROXY protocol" : "");
    }
    LOG_NOTICE("moat %s started: %u worker(s), data in %s, %zu session(s) and %zu retained "
               "message(s) restored",
               MOAT_VERSION, b->n_workers, b->conf.data_dir, b->sessions.count,
               moat_rettree_count(b->retained));
    bool syncing = pthread_create(&b->sync_thread, NULL, sync_main, b) == 0;
    if (tls_reloader_start(b) != MOAT_OK)
        LOG_WARN("TLS certificate files will not be watched (inotify unavailable); SIGHUP "
                 "still reloads them");
    tls_worker = &b->workers[0];
    moat_loop_run(b->workers[0].loop);
    tls_reloader_stop(b);
    atomic_store(&b->sync_stop, true);
    if (syncing)
        pthread_join(b->sync_thread, NULL);
    for (uint32_t i = 1; i < b->n_workers; i++)
        pthread_join(b->workers[i].thread, NULL);
    /* Backend requests under way finish (bounded by auth.timeout); their
     * answers are dropped, as no loop runs any more. Answers posted just
     * before the loops stopped are run here, and let their connections go. */
    atomic_store(&b->auth_draining, true);
    moat_pool_free(b->auth_pool);
    b->auth_pool = NULL;
    for (uint32_t i = 0; i < b->n_workers; i++)
        moat_loop_run_posted(b->workers[i].loop);
    for (uint32_t i = 0; i < b->n_workers; i++)
        close_all(&b->workers[i]);
    moat_store_sync(b->store);
    LOG_NOTICE("moat stopped");
    return MOAT_OK;
}

void moat_broker_stop(moat_broker *b)
{
    atomic_store(&b->stopping, true);
}

void moat_broker_request_reload(moat_broker *b)
{
    atomic_store(&b->reload_requested, true);
}

void moat_broker_set_conf_path(moat_broker *b, const char *path)
{
    snprintf(b->conf_path, sizeof b->conf_path, "%s", path ? path : "");
}

static void free_msg(void *v)
{
    msg_unref(v);
}

void moat_broker_free(moat_broker *b)
{
    if (!b)
        return;
    dashboard_free(b);
    for (uint32_t i = 0; i < b->n_workers; i++) {
        moat_worker *w = &b->workers[i];
        if (w->loop)
            moat_loop_free(w->loop);
        free(w->conns);
        free(w->dirty);
        free(w->dirty_spare);
        free(w->rbuf);
        pthread_mutex_destroy(&w->dirty_lock);
    }
    free(b->workers);
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        if (b->listeners[i].fd >= 0)
            close(b->listeners[i].fd);
        if (b->listeners[i].is_tls)
            moat_tls_slot_destroy(&b->listeners[i].tls_slot);
        free(b->listeners[i].origins_text);
        free(b->listeners[i].origins);
        moat_cidr_list_free(&b->listeners[i].trusted_proxies);
        moat_cidr_list_free(&b->listeners[i].proxy_trusted);
    }
    free(b->listeners);
    size_t it = 0;
    moat_map_slot *sl;
    moat_session *all[256];
    /* Free in-memory sessions without touching the store (they persist). */
    for (;;) {
        unsigned n = 0;
        it = 0;
        while (n < 256 && (sl = moat_map_next(&b->sessions, &it)))
            all[n++] = sl->value;
        if (!n)
            break;
        for (unsigned k = 0; k < n; k++) {
            all[k]->persistent = false; /* keep the stored copy */
            msg_unref(all[k]->will);
            all[k]->will = NULL;
            session_destroy(b, all[k]);
        }
    }
    moat_map_free(&b->sessions);
    moat_map_free(&b->share_rr);
    if (b->subs)
        moat_subtree_free(b->subs);
    if (b->retained)
        moat_rettree_free(b->retained, free_msg);
    for (uint32_t i = 0; i < b->cap_groups; i++) {
        free(b->groups[i].members);
        free(b->groups[i].opts);
        free(b->groups[i].sub_id);
    }
    free(b->groups);
    free(b->targets);
    moat_store_close(b->store);
    moat_conf *live = atomic_load(&b->live);
    if (live != &b->conf)
        free(live);
    for (uint32_t i = 0; i < b->n_retired; i++)
        if (b->retired[i] != &b->conf)
            free(b->retired[i]);
    free(b->retired);
    moat_pool_free(b->auth_pool); /* when moat_broker_run never ran */
    moat_bans_free(b->bans);
    moat_auth_free(atomic_load(&b->auth));
    for (uint32_t i = 0; i < b->n_auth_retired; i++)
        moat_auth_free(b->auth_retired[i]);
    free(b->auth_retired);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
