/* SPDX-License-Identifier: Apache-2.0 */
/* moat: command line, configuration, signals. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/devcerts.h"
#include "broker/pidfile.h"
#include "cli/certs_cmd.h"
#include "cli/users_cmd.h"
#include "conf/conf.h"

static moat_broker *g_broker;

static void on_stop(int sig)
{
    (void)sig;
    if (g_broker)
        moat_broker_stop(g_broker);
}

static void on_hup(int sig)
{
    (void)sig;
    if (g_broker)
        moat_broker_request_reload(g_broker);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: moat [-c FILE] [--check-config] [--help-config [--markdown]] [--version]\n"
               "       moat ctl reload|stop|status [-c FILE]\n"
               "       moat ctl users|clients add|passwd|del|list ... [-c FILE]\n"
               "       moat certs gen|dev|show|check|split|bundle|probe ...\n"
               "  -c, --config FILE   configuration file (default: built-in defaults: tcp 1883,\n"
               "                      and ssl 8883 and wss 8084 with certificates made in\n"
               "                      data/certs at the first start)\n"
               "  --check-config      validate the configuration and exit (0 ok, 2 bad)\n"
               "  --help-config       describe every configuration key\n"
               "  --markdown          with --help-config: print docs/config.md\n"
               "  -v, --version       print the version\n");
}

typedef struct args {
    const char *conf;
    const char *ctl; /* "reload", "stop", "status" */
    int check, help_config, markdown;
} args;

static int parse_args(int argc, char **argv, args *a)
{
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "ctl")) {
        a->ctl = argv[2];
        first = 3;
    } else if (argc == 2 && !strcmp(argv[1], "ctl")) {
        usage(stderr);
        return 2;
    }
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        if ((!strcmp(s, "-c") || !strcmp(s, "--config")) && i + 1 < argc) {
            a->conf = argv[++i];
        } else if (!strcmp(s, "--check-config") || !strcmp(s, "-t")) {
            a->check = 1;
        } else if (!strcmp(s, "--help-config")) {
            a->help_config = 1;
        } else if (!strcmp(s, "--markdown")) {
            a->markdown = 1;
        } else if (!strcmp(s, "-v") || !strcmp(s, "--version")) {
            printf("moat %s\n", MOAT_VERSION);
            exit(0);
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "moat: unknown argument '%s'\n", s);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static void setup_log(const moat_conf *c)
{
    moat_log_set_level((moat_log_level)c->log_level);
    if (c->log_file[0] && moat_log_open(c->log_file, c->log_to_console) != 0)
        LOG_ERROR("cannot open log.file %s; logging to stderr", c->log_file);
}

/* --check-config. TLS listeners on the development set are checked only
 * once its files exist: before the first start there is nothing to check
 * yet, and a check makes no files. */
static int check_config(const args *a, const moat_conf *conf)
{
    char err[1024], skipped[512] = "";
    moat_conf *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "moat: out of memory\n");
        return 2;
    }
    *c = *conf;
    if (!moat_dev_certs_present(conf)) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < conf->n_listeners; i++) {
            const moat_listener_conf *l = &conf->listeners[i];
            if (!moat_dev_certs_used_by(conf, l)) {
                c->listeners[n++] = *l;
                continue;
            }
            size_t used = strlen(skipped);
            snprintf(skipped + used, sizeof skipped - used, "%s%s:%s", used ? ", " : "", l->type,
                     l->name);
        }
        c->n_listeners = n;
    }
    int rc = 0;
    if (moat_broker_check_tls(c, err, sizeof err) != MOAT_OK) {
        fprintf(stderr, "%s\n", err);
        rc = 2;
    } else {
        printf("%s: configuration is valid\n", a->conf ? a->conf : "built-in defaults");
        if (skipped[0])
            printf("(%s: development certificates, made in %s/certs at the first start)\n", skipped,
                   conf->data_dir);
    }
    free(c);
    return rc;
}

/* moat ctl: talk to the broker running on this configuration's data_dir. */
static int ctl(const args *a, const moat_conf *conf)
{
    char err[700];
    long pid = 0;
    if (strcmp(a->ctl, "reload") && strcmp(a->ctl, "stop") && strcmp(a->ctl, "status")) {
        fprintf(stderr,
                "moat ctl: unknown command '%s' (expected reload, stop, status, users or "
                "clients)\n",
                a->ctl);
        return 2;
    }
    if (moat_pidfile_running(conf->data_dir, &pid, err, sizeof err) != MOAT_OK) {
        fprintf(stderr, "moat ctl %s: %s\n", a->ctl, err);
        return 1;
    }
    if (!strcmp(a->ctl, "status")) {
        printf("moat is running (pid %ld, node.data_dir %s)\n", pid, conf->data_dir);
        return 0;
    }
    int sig = !strcmp(a->ctl, "reload") ? SIGHUP : SIGTERM;
    if (kill((pid_t)pid, sig) != 0) {
        fprintf(stderr, "moat ctl %s: cannot signal pid %ld: %s\n", a->ctl, pid, strerror(errno));
        return 1;
    }
    printf("moat ctl %s: %s sent to pid %ld%s\n", a->ctl, sig == SIGHUP ? "SIGHUP" : "SIGTERM", pid,
           sig == SIGHUP ? " (the broker log says what was reloaded)" : "");
    return 0;
}

/* moat ctl users|clients ...: -c FILE may stand anywhere; the rest goes to
 * users_cmd.c. */
static int ctl_users(int argc, char **argv)
{
    static moat_conf conf;
    const char *path = NULL;
    char **rest = calloc((size_t)argc, sizeof *rest);
    int n = 0;
    if (!rest)
        return 1;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            path = argv[++i];
        else
            rest[n++] = argv[i];
    }
    char err[1024];
    int rc = 2;
    if (path)
        moat_conf_defaults(&conf);
    else
        moat_conf_builtin(&conf);
    if (path && moat_conf_load(&conf, path, err, sizeof err) != MOAT_OK)
        fprintf(stderr, "%s\n", err);
    else
        rc = moat_ctl_users_main(&conf, n, rest);
    free(rest);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "certs"))
        return moat_certs_main(argc - 1, argv + 1);
    if (argc > 2 && !strcmp(argv[1], "ctl") &&
        (!strcmp(argv[2], "users") || !strcmp(argv[2], "clients")))
        return ctl_users(argc, argv);
    args a = {0};
    if (parse_args(argc, argv, &a))
        return 2;
    if (a.help_config) {
        if (a.markdown)
            moat_conf_print_markdown(stdout);
        else
            moat_conf_print_help(stdout);
        return 0;
    }
    static moat_conf conf;
    char err[1024];
    if (a.conf)
        moat_conf_defaults(&conf);
    else
        moat_conf_builtin(&conf);
    if (a.conf && moat_conf_load(&conf, a.conf, err, sizeof err) != MOAT_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (a.ctl)
        return ctl(&a, &conf);
    setup_log(&conf);
    if (a.check)
        return check_config(&a, &conf);
    signal(SIGPIPE, SIG_IGN);
    int pidfd = -1;
    if (moat_pidfile_acquire(conf.data_dir, &pidfd, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("%s", err);
        return 1;
    }
    if (moat_dev_certs_prepare(&conf, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("%s", err);
        moat_pidfile_release(conf.data_dir, pidfd);
        return 1;
    }
    moat_broker *b = NULL;
    if (moat_broker_new(&conf, &b, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("%s", err);
        moat_pidfile_release(conf.data_dir, pidfd);
        return 1;
    }
    moat_broker_set_conf_path(b, a.conf);
    g_broker = b;
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    moat_err e = moat_broker_run(b);
    g_broker = NULL;
    moat_broker_free(b);
    moat_pidfile_release(conf.data_dir, pidfd);
    moat_log_close();
    return e ? 1 : 0;
}
