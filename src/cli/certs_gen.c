/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs gen KIND` and `moat certs dev`: keys and certificates made with
 * certs/gen.c, and after them the next step spelled out (the moat.conf lines
 * and the client command that trusts the CA), because that is where people
 * following an openssl recipe get stuck. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "certs/devset.h"
#include "certs/gen.h"
#include "cli/certs_cmd.h"

#define MAX_HOSTS 32

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]; advances *i past it. Returns
 * 1 on a match, 0 when argv[*i] is another option, -1 when the value is
 * missing (message printed). */
static int opt_value(int argc, char **argv, int *i, const char *name, const char *cmd,
                     const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "moat certs %s: %s needs a value (moat certs %s --help)\n", cmd, name, cmd);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

static int parse_days(const char *cmd, const char *s, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || s[0] == '-' || v < 1 || v > MOAT_GEN_MAX_DAYS) {
        fprintf(stderr, "moat certs %s: --days '%s' is not a number of days (expected 1 to %u)\n",
                cmd, s, MOAT_GEN_MAX_DAYS);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_key(const char *cmd, const char *s, moat_gen_key *out)
{
    if (moat_gen_key_parse(s, out))
        return 0;
    fprintf(stderr, "moat certs %s: --key '%s' is not a key type (expected one of %s)\n", cmd, s,
            moat_gen_key_list());
    return -1;
}

/* An absolute path for moat.conf lines (the broker may run elsewhere). */
static void absolute(const char *path, char *out, size_t n)
{
    char buf[PATH_MAX];
    if (realpath(path, buf))
        snprintf(out, n, "%s", buf);
    else
        snprintf(out, n, "%s", path);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- gen ---------------------------------------------------------------- */

static void gen_usage(FILE *f)
{
    fprintf(
        f,
        "usage: moat certs gen ca|intermediate|server|client [options]\n"
        "\n"
        "Makes a private key and a certificate: a CA signs itself, everything else is\n"
        "signed by a CA (--ca/--ca-key, by default ca.pem and ca.key in --out-dir).\n"
        "\n"
        "  --cn NAME       common name (default: ca \"moat Root CA\", intermediate\n"
        "                  \"moat Intermediate CA\", server \"localhost\", client "
        "\"moat-client\")\n"
        "  --org NAME      organization (O=), optional\n"
        "  --san LIST      subjectAltName, comma separated: DNS:name, IP:address,\n"
        "                  email:address, URI:uri (server default: the --cn; localhost\n"
        "                  also gets 127.0.0.1 and ::1)\n"
        "  --days N        validity (default: ca 3650, intermediate 1825, others 825)\n"
        "  --key TYPE      %s (default ec256)\n"
        "  --ca FILE       the signing CA certificate (a file with its chain works too)\n"
        "  --ca-key FILE   the signing CA's private key\n"
        "  --out-dir DIR   where to write (default: the current directory)\n"
        "  --name BASE     file base name (default: ca, int, server, client)\n"
        "  --force         replace existing files\n"
        "\n"
        "Files (keys are created with mode 0600):\n"
        "  ca            ca.pem ca.key\n"
        "  intermediate  int.pem int.key\n"
        "  server        server.pem server.key server-fullchain.pem (the certificate and\n"
        "                its intermediates, never the root: what moat serves)\n"
        "  client        client.pem client.key client-fullchain.pem\n"
        "\n"
        "Examples:\n"
        "  moat certs gen ca --cn \"Example Root CA\"\n"
        "  moat certs gen server --cn mqtt.example.com --san DNS:mqtt.example.com,IP:192.0.2.7\n"
        "  moat certs gen intermediate --ca ca.pem --ca-key ca.key\n"
        "  moat certs gen client --cn device-001 --ca int.pem --ca-key int.key\n",
        moat_gen_key_list());
}

typedef struct gen_args {
    moat_gen_kind kind;
    const char *cn, *org, *san, *ca, *ca_key, *out_dir, *name;
    unsigned days;
    moat_gen_key key;
    bool force;
} gen_args;

static int gen_parse(int argc, char **argv, gen_args *a)
{
    const char *kind = NULL, *v = NULL, *days = NULL, *key = NULL;
    a->out_dir = ".";
    for (int i = 1; i < argc; i++) {
        int r = 0;
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            gen_usage(stdout);
            exit(0);
        }
        if (!strcmp(s, "--force")) {
            a->force = true;
            continue;
        }
        static const struct {
            const char *name;
            size_t off;
        } opts[] = {
            {"--cn", offsetof(gen_args, cn)},         {"--org", offsetof(gen_args, org)},
            {"--san", offsetof(gen_args, san)},       {"--ca", offsetof(gen_args, ca)},
            {"--ca-key", offsetof(gen_args, ca_key)}, {"--out-dir", offsetof(gen_args, out_dir)},
            {"--name", offsetof(gen_args, name)},
        };
        for (size_t k = 0; !r && k < sizeof opts / sizeof opts[0]; k++)
            if ((r = opt_value(argc, argv, &i, opts[k].name, "gen", &v)) == 1)
                *(const char **)((char *)a + opts[k].off) = v;
        if (!r && (r = opt_value(argc, argv, &i, "--days", "gen", &v)) == 1)
            days = v;
        if (!r && (r = opt_value(argc, argv, &i, "--key", "gen", &v)) == 1)
            key = v;
        if (r < 0)
            return -1;
        if (r)
            continue;
        if (s[0] == '-' || kind) {
            fprintf(stderr, "moat certs gen: unknown argument '%s' (moat certs gen --help)\n", s);
            return -1;
        }
        kind = s;
    }
    if (!kind) {
        fprintf(stderr, "moat certs gen: which certificate? (expected ca, intermediate, server "
                        "or client)\n\n");
        gen_usage(stderr);
        return -1;
    }
    if (!moat_gen_kind_parse(kind, &a->kind)) {
        fprintf(stderr,
                "moat certs gen: '%s' is not a kind of certificate (expected ca, intermediate, "
                "server or client)\n",
                kind);
        return -1;
    }
    if ((days && parse_days("gen", days, &a->days)) || (key && parse_key("gen", key, &a->key)))
        return -1;
    if (a->name && (!a->name[0] || strchr(a->name, '/'))) {
        fprintf(stderr,
                "moat certs gen: --name '%s' is not a file base name (expected e.g. device-001; "
                "the directory goes to --out-dir)\n",
                a->name);
        return -1;
    }
    return 0;
}

/* The signing CA: --ca/--ca-key, or ca.pem/ca.key in the output directory.
 * *chain gets the certificates after the first in the --ca file. */
static int load_issuer(const gen_args *a, X509 **issuer, EVP_PKEY **key, STACK_OF(X509) * *above,
                       char *cafile, char *keyfile, size_t n)
{
    char err[1024], guess[PATH_MAX];
    STACK_OF(X509) *sk = NULL;
    if (a->ca_key && !a->ca) {
        fprintf(stderr,
                "moat certs gen: --ca-key needs --ca, the CA certificate that goes with that key "
                "(e.g. --ca ca.pem --ca-key %s)\n",
                a->ca_key);
        return -1;
    }
    if (a->ca && !a->ca_key) {
        size_t len = strlen(a->ca);
        snprintf(guess, sizeof guess, "%.*s.key",
                 (int)(len > 4 && !strcmp(a->ca + len - 4, ".pem") ? len - 4 : len), a->ca);
        if (exists(guess))
            fprintf(stderr,
                    "moat certs gen: --ca needs --ca-key, the private key of %s (here: --ca %s "
                    "--ca-key %s)\n",
                    a->ca, a->ca, guess);
        else
            fprintf(stderr,
                    "moat certs gen: --ca needs --ca-key, the private key of %s (e.g. --ca-key "
                    "ca.key)\n",
                    a->ca);
        return -1;
    }
    if (a->ca) {
        snprintf(cafile, n, "%s", a->ca);
        snprintf(keyfile, n, "%s", a->ca_key);
    } else {
        moat_gen_path(a->out_dir, "ca.pem", cafile, n);
        moat_gen_path(a->out_dir, "ca.key", keyfile, n);
        if (!exists(cafile) || !exists(keyfile)) {
            fprintf(stderr,
                    "moat certs gen: a%s %s certificate is signed by a CA, and there is no %s%s%s "
                    "here: make one first with `moat certs gen ca%s%s`, or pass yours with --ca "
                    "ca.pem --ca-key ca.key\n",
                    a->kind == MOAT_GEN_INTERMEDIATE ? "n" : "", moat_gen_kind_name(a->kind),
                    cafile, exists(cafile) ? "'s key " : "", exists(cafile) ? keyfile : "",
                    strcmp(a->out_dir, ".") ? " --out-dir " : "",
                    strcmp(a->out_dir, ".") ? a->out_dir : "");
            return -1;
        }
        printf("signing with %s and %s (found in %s; --ca and --ca-key choose others)\n", cafile,
               keyfile, strcmp(a->out_dir, ".") ? a->out_dir : "the current directory");
    }
    if (moat_gen_load_certs(cafile, &sk, err, sizeof err) ||
        moat_gen_load_key(keyfile, key, err, sizeof err)) {
        fprintf(stderr, "moat certs gen: %s\n", err);
        sk_X509_pop_free(sk, X509_free);
        return -1;
    }
    *issuer = sk_X509_shift(sk);
    *above = sk;
    if (moat_gen_check_issuer(*issuer, *key, a->kind, 0, cafile, keyfile, err, sizeof err)) {
        fprintf(stderr, "moat certs gen: %s\n", err);
        return -1;
    }
    return 0;
}

/* The subjectAltName of a server: --san, or the --cn; the --cn is added
 * when --san lacks it (clients match the SAN, and the CN should be one). */
static int server_names(const gen_args *a, const char *cn, GENERAL_NAMES **san)
{
    char err[600], entry[400];
    GENERAL_NAMES *given = NULL;
    if (a->san && moat_gen_san_parse(a->san, &given, err, sizeof err)) {
        fprintf(stderr, "moat certs gen: %s\n", err);
        return -1;
    }
    bool ip = moat_gen_is_ip(cn), host = !ip && moat_gen_is_hostname(cn);
    if (!ip && !host && !(given && sk_GENERAL_NAME_num(given) > 0)) {
        fprintf(stderr,
                "moat certs gen: --cn '%s' is not a host name or an IP address, and clients "
                "check the server's name: give the names clients connect to with --san, e.g. "
                "--san DNS:mqtt.example.com,IP:192.0.2.7\n",
                cn);
        GENERAL_NAMES_free(given);
        return -1;
    }
    entry[0] = '\0';
    if ((ip || host) && !(given && moat_gen_san_has(given, cn)))
        snprintf(entry, sizeof entry, "%s:%s", ip ? "IP" : "DNS", cn);
    if (!strcasecmp(cn, "localhost") && !a->san)
        snprintf(entry, sizeof entry, "DNS:localhost,IP:127.0.0.1,IP:::1");
    GENERAL_NAMES_free(given);
    /* the --cn first: it is the name the certificate is about */
    char *all = malloc(strlen(entry) + (a->san ? strlen(a->san) : 0) + 2);
    if (!all)
        return -1;
    sprintf(all, "%s%s%s", entry, entry[0] && a->san ? "," : "", a->san ? a->san : "");
    int bad = moat_gen_san_parse(all, san, err, sizeof err) != MOAT_OK;
    free(all);
    if (bad) {
        fprintf(stderr, "moat certs gen: %s\n", err);
        return -1;
    }
    if (entry[0] && a->san)
        printf("note: added %s to the subjectAltName (the --cn should be one of the names)\n",
               entry);
    return 0;
}

/* The host clients would connect to: the first DNS name, else the first IP. */
static void first_host(X509 *x, char *out, size_t n)
{
    char all[1024], *p;
    moat_gen_names_text(x, true, all, sizeof all);
    snprintf(out, n, "localhost");
    if ((p = strstr(all, "DNS:")) != NULL || (p = strstr(all, "IP:")) != NULL) {
        p = strchr(p, ':') + 1;
        snprintf(out, n, "%.*s", (int)strcspn(p, ","), p);
    }
    if (!strncmp(out, "*.", 2))
        snprintf(out, n, "%s", "<host>");
}

/* The root CA clients must trust: the issuer if it is one, a self-signed
 * certificate in the --ca file, or ca.pem beside it when that signed the
 * top of the chain. */
static void find_root(const char *cafile, X509 *issuer, STACK_OF(X509) * above, char *out, size_t n)
{
    char dir[PATH_MAX], guess[PATH_MAX];
    STACK_OF(X509) *sk = NULL;
    char err[600];
    X509 *top = issuer;
    if (X509_self_signed(issuer, 0) == 1) {
        snprintf(out, n, "%s", cafile);
        return;
    }
    for (int i = 0; i < sk_X509_num(above); i++) {
        X509 *c = sk_X509_value(above, i);
        if (X509_self_signed(c, 0) == 1) {
            snprintf(out, n, "%s", cafile);
            return;
        }
        top = c;
    }
    snprintf(dir, sizeof dir, "%s", cafile);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    snprintf(guess, sizeof guess, "%.4000sca.pem", dir);
    snprintf(out, n, "<your root CA's certificate>");
    if (moat_gen_load_certs(guess, &sk, err, sizeof err) == MOAT_OK &&
        X509_check_issued(sk_X509_value(sk, 0), top) == X509_V_OK)
        snprintf(out, n, "%s", guess);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
}

static void print_written(const gen_args *a, const moat_gen_issued *r, const char *cafile,
                          X509 *issuer)
{
    char subj[300], until[32], kdesc[32], names[1024];
    moat_gen_subject(r->cert, subj, sizeof subj);
    moat_gen_not_after(r->cert, until, sizeof until);
    moat_gen_key_desc(r->key, kdesc, sizeof kdesc);
    moat_gen_names_text(r->cert, true, names, sizeof names);
    const char *what = a->kind == MOAT_GEN_CA             ? "root CA certificate"
                       : a->kind == MOAT_GEN_INTERMEDIATE ? "intermediate CA certificate"
                       : a->kind == MOAT_GEN_SERVER       ? "server certificate"
                                                          : "client certificate";
    int w = (int)strlen(r->chain_path[0] ? r->chain_path : r->cert_path);
    printf("wrote %-*s  %s %s, %s, valid until %s%s\n", w, r->cert_path, what, subj, kdesc, until,
           r->capped ? " (cut to the CA's own end)" : "");
    printf("      %-*s  its private key (mode 0600: keep it private%s)\n", w, r->key_path,
           a->kind <= MOAT_GEN_INTERMEDIATE ? "; whoever has it can sign certificates" : "");
    if (r->chain_path[0])
        printf("      %-*s  %s%s%s\n", w, r->chain_path, r->cert_path,
               r->n_chain == 0   ? " alone: signed by the root, there is no intermediate to add"
               : r->n_chain == 1 ? " + the intermediate"
                                 : " + the intermediates",
               r->n_chain == 0              ? ""
               : a->kind == MOAT_GEN_SERVER ? ": what moat serves (certfile)"
                                            : ": what the client presents (--cert)");
    if (issuer) {
        char isubj[300];
        moat_gen_subject(issuer, isubj, sizeof isubj);
        printf("signed by %s (%s)\n", cafile, isubj);
    }
    if (names[0])
        printf("names: %s\n", names);
    if (a->kind == MOAT_GEN_SERVER && a->days > 825)
        printf("note: Apple platforms refuse TLS server certificates valid for more than 825 "
               "days\n");
}

static void print_next(const gen_args *a, const moat_gen_issued *r, const char *root)
{
    char cert[PATH_MAX], key[PATH_MAX], chain[PATH_MAX], ca[PATH_MAX], host[256];
    absolute(r->cert_path, cert, sizeof cert);
    absolute(r->key_path, key, sizeof key);
    absolute(r->chain_path[0] ? r->chain_path : r->cert_path, chain, sizeof chain);
    absolute(root, ca, sizeof ca);
    printf("\nNext:\n");
    switch (a->kind) {
    case MOAT_GEN_CA:
    case MOAT_GEN_INTERMEDIATE:
        if (a->kind == MOAT_GEN_CA)
            printf("  give %s to clients (they trust what this CA signs); keep %s off the "
                   "broker if you can\n",
                   r->cert_path, r->key_path);
        printf("  moat certs gen server --cn mqtt.example.com --ca %s --ca-key %s\n", r->cert_path,
               r->key_path);
        printf("  moat certs gen client --cn device-001 --ca %s --ca-key %s\n", r->cert_path,
               r->key_path);
        if (a->kind == MOAT_GEN_INTERMEDIATE)
            printf("  (their -fullchain.pem files then hold %s too, which is what peers need)\n",
                   r->cert_path);
        return;
    case MOAT_GEN_SERVER:
        first_host(r->cert, host, sizeof host);
        printf("  in moat.conf:\n"
               "    listener.ssl.external = 8883\n"
               "    listener.ssl.external.certfile = %s\n"
               "    listener.ssl.external.keyfile = %s\n"
               "    listener.ssl.external.cacertfile = %s\n"
               "  then check it and connect, trusting the CA:\n"
               "    moat --check-config -c moat.conf\n"
               "    mosquitto_sub -h %s -p 8883 --cafile %s -t '#' -v\n",
               chain, key, ca, host, ca);
        return;
    case MOAT_GEN_CLIENT:
        printf("  moat verifies client certificates of this CA with (in moat.conf):\n"
               "    listener.ssl.external.cacertfile = %s\n"
               "    listener.ssl.external.verify = verify_peer\n"
               "    listener.ssl.external.fail_if_no_peer_cert = true\n"
               "  and the client connects with its certificate and key:\n"
               "    mosquitto_sub -h localhost -p 8883 --cafile %s --cert %s --key %s -t '#' -v\n",
               ca, ca, r->n_chain ? chain : cert, key);
        return;
    }
}

static const char *default_cn(moat_gen_kind k)
{
    switch (k) {
    case MOAT_GEN_CA:
        return "moat Root CA";
    case MOAT_GEN_INTERMEDIATE:
        return "moat Intermediate CA";
    case MOAT_GEN_SERVER:
        return "localhost";
    case MOAT_GEN_CLIENT:
        break;
    }
    return "moat-client";
}

static const char *default_base(moat_gen_kind k)
{
    switch (k) {
    case MOAT_GEN_CA:
        return "ca";
    case MOAT_GEN_INTERMEDIATE:
        return "int";
    case MOAT_GEN_SERVER:
        return "server";
    case MOAT_GEN_CLIENT:
        break;
    }
    return "client";
}

int certs_gen_main(int argc, char **argv)
{
    gen_args a = {0};
    char err[1200], cafile[PATH_MAX] = "", keyfile[PATH_MAX] = "", root[PATH_MAX] = "";
    X509 *issuer = NULL;
    EVP_PKEY *ikey = NULL;
    STACK_OF(X509) *above = NULL;
    GENERAL_NAMES *san = NULL;
    moat_gen_issued out = {0};
    int rc = 2;
    if (gen_parse(argc, argv, &a))
        return 2;
    const char *cn = a.cn ? a.cn : default_cn(a.kind);
    if (a.kind <= MOAT_GEN_INTERMEDIATE && a.san) {
        fprintf(stderr, "moat certs gen: --san is for server and client certificates (a CA is "
                        "not named by DNS names or addresses)\n");
        return 2;
    }
    if (a.kind == MOAT_GEN_CA && (a.ca || a.ca_key)) {
        fprintf(stderr,
                "moat certs gen: a root CA signs itself: drop --ca and --ca-key (a CA signed by "
                "another CA is an intermediate: moat certs gen intermediate --ca ... --ca-key "
                "...)\n");
        return 2;
    }
    if (a.kind != MOAT_GEN_CA &&
        load_issuer(&a, &issuer, &ikey, &above, cafile, keyfile, sizeof cafile))
        goto out;
    if (a.kind == MOAT_GEN_SERVER && server_names(&a, cn, &san))
        goto out;
    if (a.kind == MOAT_GEN_CLIENT && a.san && moat_gen_san_parse(a.san, &san, err, sizeof err)) {
        fprintf(stderr, "moat certs gen: %s\n", err);
        goto out;
    }
    moat_gen_request req = {.kind = a.kind,
                            .key = a.key,
                            .cn = cn,
                            .org = a.org,
                            .san = san,
                            .days = a.days,
                            .issuer = issuer,
                            .issuer_key = ikey,
                            .issuer_chain = above,
                            .dir = a.out_dir,
                            .base = a.name ? a.name : default_base(a.kind),
                            .force = a.force};
    if (moat_gen_issue(&req, &out, err, sizeof err)) {
        fprintf(stderr, "moat certs gen: %s\n", err);
        goto out;
    }
    if (!a.days)
        a.days = moat_gen_default_days(a.kind);
    print_written(&a, &out, cafile, issuer);
    if (issuer)
        find_root(cafile, issuer, above, root, sizeof root);
    print_next(&a, &out, root[0] ? root : out.cert_path);
    rc = 0;
out:
    moat_gen_issued_free(&out);
    GENERAL_NAMES_free(san);
    X509_free(issuer);
    EVP_PKEY_free(ikey);
    sk_X509_pop_free(above, X509_free);
    ERR_clear_error();
    return rc;
}

/* ---- dev ---------------------------------------------------------------- */

static void dev_usage(FILE *f)
{
    fprintf(f,
            "usage: moat certs dev [--out-dir DIR] [--host NAME]... [--key TYPE] [--force]\n"
            "\n"
            "Makes a complete development set in one step, with a CA of its own made on this\n"
            "machine (nothing shipped with moat):\n"
            "  ca.pem ca.key                               the CA: clients trust ca.pem\n"
            "  server.pem server.key server-fullchain.pem  for localhost, 127.0.0.1, ::1 and\n"
            "                                              this machine's host name\n"
            "  client.pem client.key client-fullchain.pem  CN=%s, for two-way TLS\n"
            "\n"
            "  --out-dir DIR   where to write (default: certs)\n"
            "  --host NAME     another host name or IP address for the server certificate\n"
            "                  (repeat it, or separate names with commas)\n"
            "  --key TYPE      %s (default ec256)\n"
            "  --force         replace an existing set\n"
            "\n"
            "moat started without -c makes such a set by itself in data/certs (node.dev_certs).\n",
            MOAT_DEVSET_CLIENT_CN, moat_gen_key_list());
}

static void print_dev(const char *dir, const moat_devset_info *info)
{
    char ca[PATH_MAX], chain[PATH_MAX], key[PATH_MAX], cc[PATH_MAX], ck[PATH_MAX];
    char p[PATH_MAX];
    moat_gen_path(dir, MOAT_DEVSET_CA, p, sizeof p);
    absolute(p, ca, sizeof ca);
    moat_gen_path(dir, MOAT_DEVSET_SERVER_CHAIN, p, sizeof p);
    absolute(p, chain, sizeof chain);
    moat_gen_path(dir, MOAT_DEVSET_SERVER_KEY, p, sizeof p);
    absolute(p, key, sizeof key);
    moat_gen_path(dir, MOAT_DEVSET_CLIENT, p, sizeof p);
    absolute(p, cc, sizeof cc);
    moat_gen_path(dir, MOAT_DEVSET_CLIENT_KEY, p, sizeof p);
    absolute(p, ck, sizeof ck);
    printf("wrote a development set in %s:\n"
           "  ca.pem ca.key                               %s, valid until %s\n"
           "  server.pem server.key server-fullchain.pem  for %s, valid until %s\n"
           "  client.pem client.key client-fullchain.pem  CN=%s\n"
           "(keys have mode 0600; ca.key signs everything clients trust: keep it private)\n"
           "\n"
           "Use it: in moat.conf\n"
           "  listener.ssl.dev = 8883\n"
           "  listener.ssl.dev.certfile = %s\n"
           "  listener.ssl.dev.keyfile = %s\n"
           "  listener.ssl.dev.cacertfile = %s\n"
           "  listener.wss.dev = 8084\n"
           "  listener.wss.dev.certfile = %s\n"
           "  listener.wss.dev.keyfile = %s\n"
           "  listener.wss.dev.cacertfile = %s\n"
           "(cacertfile lets moat check the chain up to your CA)\n"
           "then clients trust the CA:\n"
           "  mosquitto_sub -h localhost -p 8883 --cafile %s -t '#' -v\n"
           "For two-way TLS add listener.ssl.dev.verify = verify_peer and\n"
           "listener.ssl.dev.fail_if_no_peer_cert = true; the client then connects with\n"
           "  mosquitto_sub -h localhost -p 8883 --cafile %s --cert %s --key %s -t '#' -v\n"
           "Browsers (wss://localhost:8084/mqtt) need ca.pem in their trust store.\n",
           dir, info->ca_subject, info->ca_until, info->server_names, info->server_until,
           MOAT_DEVSET_CLIENT_CN, chain, key, ca, chain, key, ca, ca, ca, cc, ck);
}

int certs_dev_main(int argc, char **argv)
{
    const char *hosts[MAX_HOSTS], *v = NULL, *key = NULL;
    char *copies[MAX_HOSTS];
    size_t n_hosts = 0, n_copies = 0;
    moat_devset_opts o = {.dir = "certs"};
    moat_gen_key kt = MOAT_KEY_EC256;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int r;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            dev_usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(s, "--force")) {
            o.force = true;
        } else if ((r = opt_value(argc, argv, &i, "--out-dir", "dev", &v)) != 0) {
            if (r < 0)
                goto out;
            o.dir = v;
        } else if ((r = opt_value(argc, argv, &i, "--key", "dev", &v)) != 0) {
            if (r < 0)
                goto out;
            key = v;
        } else if ((r = opt_value(argc, argv, &i, "--host", "dev", &v)) != 0) {
            if (r < 0)
                goto out;
            if (n_copies == MAX_HOSTS || !(copies[n_copies] = strdup(v))) {
                fprintf(stderr, "moat certs dev: too many --host options (at most %d)\n",
                        MAX_HOSTS);
                goto out;
            }
            char *save = NULL;
            for (char *t = strtok_r(copies[n_copies++], ", ", &save); t;
                 t = strtok_r(NULL, ", ", &save)) {
                if (n_hosts == MAX_HOSTS) {
                    fprintf(stderr, "moat certs dev: too many --host names (at most %d)\n",
                            MAX_HOSTS);
                    goto out;
                }
                hosts[n_hosts++] = t;
            }
        } else {
            fprintf(stderr, "moat certs dev: unknown argument '%s' (moat certs dev --help)\n", s);
            goto out;
        }
    }
    if (key && parse_key("dev", key, &kt))
        goto out;
    o.key = (int)kt;
    o.hosts = hosts;
    o.n_hosts = n_hosts;
    char err[1200];
    moat_devset_info info;
    if (moat_devset_make(&o, &info, err, sizeof err)) {
        fprintf(stderr, "moat certs dev: %s\n", err);
        goto out;
    }
    print_dev(o.dir, &info);
    rc = 0;
out:
    for (size_t i = 0; i < n_copies; i++)
        free(copies[i]);
    ERR_clear_error();
    return rc;
}
