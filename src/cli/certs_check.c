/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs check`: the webinar's verify.sh / trace.sh / show.sh checks and
 * the EMQX Cloud certificate rules as one checklist, computed by the same
 * library the broker loads its certificates with (src/certs/check.c), so a
 * file that passes here is one the broker accepts, and every failure comes
 * with the broker's own message and fix. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/check.h"
#include "certs/info.h"
#include "certs/order.h"
#include "cli/certs_cmd.h"
#include "cli/certs_io.h"
#include "cli/jsonw.h"

#define MAX_CODES 8

typedef enum status { ST_OK, ST_SKIPPED, ST_WARNING, ST_ERROR } status;

/* One line of the checklist and the findings that belong to it. */
typedef struct check_def {
    const char *id, *title;
    moat_cert_code codes[MAX_CODES];
} check_def;

static const check_def checks[] = {
    {"pem",
     "PEM form",
     {MOAT_CERT_FILE_MISSING, MOAT_CERT_FILE_UNREADABLE, MOAT_CERT_FILE_EMPTY, MOAT_CERT_NOT_PEM,
      MOAT_CERT_PEM_CORRUPT, MOAT_CERT_WRONG_CONTENT}},
    {"x509v3", "X.509 v3", {MOAT_CERT_NOT_V3}},
    {"key",
     "private key",
     {MOAT_CERT_KEY_ENCRYPTED, MOAT_CERT_KEY_BAD_PASSWORD, MOAT_CERT_KEY_PASSWORD_UNUSED,
      MOAT_CERT_KEY_EXTRA}},
    {"pair", "key pair", {MOAT_CERT_KEY_MISMATCH}},
    {"order",
     "certificates",
     {MOAT_CERT_CA_FIRST, MOAT_CERT_CHAIN_ORDER, MOAT_CERT_CHAIN_UNRELATED,
      MOAT_CERT_DUPLICATE_CERT}},
    {"chain",
     "chain",
     {MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_CHAIN_COMPLETED, MOAT_CERT_CHAIN_INVALID}},
    {"root", "root", {MOAT_CERT_ROOT_INCLUDED}},
    {"validity", "validity", {MOAT_CERT_EXPIRED, MOAT_CERT_NOT_YET_VALID, MOAT_CERT_EXPIRES_SOON}},
    {"host", "host name", {MOAT_CERT_HOST_MISMATCH}},
    {"san", "subjectAltName", {MOAT_CERT_NO_SAN}},
    {"purpose",
     "purpose",
     {MOAT_CERT_NO_SERVER_AUTH, MOAT_CERT_NO_CLIENT_AUTH, MOAT_CERT_KEY_USAGE,
      MOAT_CERT_LEAF_IS_CA}},
    {"strength", "key strength", {MOAT_CERT_WEAK_KEY, MOAT_CERT_UNUSUAL_CURVE, MOAT_CERT_SHA1}},
    {"ca", "CA file", {MOAT_CERT_CA_NOT_CA, MOAT_CERT_CA_EXPIRED, MOAT_CERT_CA_NO_ROOT}},
    {"other", "other", {0}}, /* whatever the lines above do not claim */
};
#define NCHECKS (sizeof checks / sizeof checks[0])

typedef struct line {
    status st;
    char detail[1024];
} line;

typedef struct run {
    const char *cert, *key, *chain, *ca, *host, *purpose_name;
    moat_cert_purpose purpose;
    int64_t now;
    moat_cert_report r;
    moat_cert_check_result res;
    line lines[NCHECKS];
} run;

static void usage(FILE *f)
{
    fprintf(f, "usage: moat certs check --cert FILE [--key FILE] [--chain FILE] [--ca FILE]\n"
               "                        [--host NAME|IP] [--purpose server|client]\n"
               "                        [--key-password PW | --key-password-file FILE]\n"
               "                        [--partial-chain] [--json]\n\n"
               "Check a certificate, its key and its chain the way the broker loads them, and\n"
               "peers verify them: PEM form, X.509 v3, the key and whether it is encrypted,\n"
               "key/certificate pair, number and order of certificates, the chain traced to a\n"
               "trust anchor (--ca, or the system's store without it), root included or not,\n"
               "validity (warns under 30 days), host name or IP against the subjectAltName,\n"
               "extended key usage for the purpose, key strength. Every failure says how to\n"
               "fix it.\n\n"
               "  --cert FILE     the certificate, or leaf + intermediates (fullchain.pem)\n"
               "  --chain FILE    intermediates kept in a file of their own (chain.pem)\n"
               "  --key FILE      the private key\n"
               "  --ca FILE       the CA certificate(s) peers trust; without it the system's\n"
               "  --partial-chain accept an intermediate in --ca as the end of the chain\n"
               "  --host NAME     the name or address peers connect to\n"
               "  --purpose P     server (default) or client\n\n"
               "Exit status: 0 fine (warnings possible), 1 something to fix, 2 usage error.\n");
}

static int code_check(moat_cert_code code)
{
    for (size_t i = 0; i + 1 < NCHECKS; i++)
        for (int k = 0; k < MAX_CODES && checks[i].codes[k]; k++)
            if (checks[i].codes[k] == code)
                return (int)i;
    return (int)NCHECKS - 1;
}

static int check_index(const char *id)
{
    for (size_t i = 0; i < NCHECKS; i++)
        if (!strcmp(checks[i].id, id))
            return (int)i;
    return (int)NCHECKS - 1;
}

static line *L(run *u, const char *id)
{
    return &u->lines[check_index(id)];
}

static __attribute__((format(printf, 3, 4))) void detail(run *u, const char *id, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L(u, id)->detail, sizeof L(u, id)->detail, fmt, ap);
    va_end(ap);
}

static void skip(run *u, const char *id, const char *why)
{
    L(u, id)->st = ST_SKIPPED;
    detail(u, id, "not checked: %s", why);
}

static X509 *leaf_of(const run *u)
{
    return u->res.certs && u->res.leaf >= 0 ? sk_X509_value(u->res.certs, u->res.leaf) : NULL;
}

/* ------------------------------------------------- what passed, said */

static void describe_pem(run *u)
{
    int n = u->res.certs ? sk_X509_num(u->res.certs) : 0;
    if (u->chain)
        detail(u, "pem", "%d certificate(s) in %s, %d in %s%s%s: PEM", u->res.n_certfile, u->cert,
               n - u->res.n_certfile, u->chain, u->key ? ", the key in " : "",
               u->key ? u->key : "");
    else
        detail(u, "pem", "%d certificate(s) in %s%s%s: PEM", n, u->cert,
               u->key ? ", the key in " : "", u->key ? u->key : "");
}

static void describe_key(run *u)
{
    char k[64];
    if (!u->key) {
        skip(u, "key", "no --key given");
        skip(u, "pair", "no --key given");
        return;
    }
    if (!u->res.key) {
        skip(u, "pair", "the key did not load");
        return;
    }
    moat_cert_key_str(u->res.key, k, sizeof k);
    detail(u, "key", "%s, %s", k,
           u->res.key_encrypted ? "encrypted, opened with the password given" : "not encrypted");
    X509 *x = leaf_of(u);
    char nm[512];
    if (x) {
        moat_cert_name_oneline(x, false, nm, sizeof nm);
        detail(u, "pair", "the key belongs to the certificate (%s); public keys match", nm);
    } else {
        skip(u, "pair", "no certificate to compare the key with");
    }
}

/* "leaf, then 2 intermediates, then the root" */
static void describe_order(run *u)
{
    int n = sk_X509_num(u->res.certs);
    int roots = 0;
    for (int i = 1; i < n; i++)
        roots += moat_cert_is_self_signed(sk_X509_value(u->res.certs, i));
    int inter = n - 1 - roots;
    if (n == 1)
        detail(u, "order", "1 certificate: the %s certificate alone, no intermediates",
               u->purpose_name);
    else
        detail(u, "order",
               "%d certificates: the %s certificate first, then %d intermediate(s)%s, "
               "each followed by its issuer",
               n, u->purpose_name, inter, roots ? " and the root" : "");
}

/* Where a certificate of the traced chain came from; a trust anchor is
 * named by where it is trusted from, even when the files hold it too. */
static const char *origin_of(const run *u, X509 *x, bool anchor, char *buf, size_t len)
{
    int n = u->res.certs ? sk_X509_num(u->res.certs) : 0;
    for (int i = 0; anchor && u->res.trusted && i < sk_X509_num(u->res.trusted); i++)
        if (!X509_cmp(sk_X509_value(u->res.trusted, i), x)) {
            snprintf(buf, len, "%s #%d", u->ca, i + 1);
            return buf;
        }
    if (anchor) {
        snprintf(buf, len, "the system's trusted roots");
        return buf;
    }
    for (int i = 0; i < n; i++) {
        if (X509_cmp(sk_X509_value(u->res.certs, i), x))
            continue;
        if (i < u->res.n_certfile)
            snprintf(buf, len, "%s #%d", u->cert, i + 1);
        else
            snprintf(buf, len, "%s #%d", u->chain, i - u->res.n_certfile + 1);
        return buf;
    }
    for (int i = 0; u->res.trusted && i < sk_X509_num(u->res.trusted); i++)
        if (!X509_cmp(sk_X509_value(u->res.trusted, i), x)) {
            snprintf(buf, len, "%s #%d", u->ca, i + 1);
            return buf;
        }
    snprintf(buf, len, "the system's trusted roots");
    return buf;
}

static void describe_chain(run *u)
{
    STACK_OF(X509) *p = u->res.path;
    if (!p || sk_X509_num(p) == 0) {
        skip(u, "chain", "no certificate to start from");
        return;
    }
    char buf[1024], nm[256];
    size_t off = 0;
    for (int i = 0; i < sk_X509_num(p) && off < sizeof buf; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? " → " : "",
                                certs_short_name(sk_X509_value(p, i), nm, sizeof nm));
    char where[600];
    X509 *last = sk_X509_value(p, sk_X509_num(p) - 1);
    if (u->res.anchored)
        detail(u, "chain", "%s (trust anchor from %s)", buf,
               origin_of(u, last, true, where, sizeof where));
    else
        detail(u, "chain", "%s", buf);
}

static void describe_root(run *u)
{
    detail(u, "root", "not included (peers hold the root; it need not be sent)");
}

static void describe_validity(run *u, X509 *x)
{
    char a[32], b[32];
    moat_cert_time_str(moat_cert_not_before(x), a, sizeof a);
    moat_cert_time_str(moat_cert_not_after(x), b, sizeof b);
    detail(u, "validity", "%s .. %s, %ld days left", a, b,
           certs_days_left(moat_cert_not_after(x), u->now));
}

static void san_text(X509 *x, char *out, size_t len)
{
    moat_cert_info in;
    size_t off = 0;
    out[0] = '\0';
    if (moat_cert_info_get(x, &in) != MOAT_OK)
        return;
    for (size_t i = 0; i < in.dns.n && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%sDNS:%s", off ? ", " : "", in.dns.v[i]);
    for (size_t i = 0; i < in.ip.n && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%sIP:%s", off ? ", " : "", in.ip.v[i]);
    for (size_t i = 0; i < in.email.n && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%semail:%s", off ? ", " : "", in.email.v[i]);
    for (size_t i = 0; i < in.uri.n && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%sURI:%s", off ? ", " : "", in.uri.v[i]);
    moat_cert_info_free(&in);
}

static void describe_leaf(run *u, X509 *x)
{
    char buf[700], nm[256];
    detail(u, "x509v3", "the %s certificate is version %ld", u->purpose_name,
           X509_get_version(x) + 1);
    describe_validity(u, x);
    san_text(x, buf, sizeof buf);
    if (buf[0])
        detail(u, "san", "%s", buf);
    else
        detail(u, "san", "none (client certificates need none)");
    if (!u->host)
        skip(u, "host", "give --host NAME to check the name peers connect to");
    else if (buf[0] && strstr(buf, "DNS:"))
        detail(u, "host", "%s matches the certificate (%s)", u->host, buf);
    else
        detail(u, "host", "%s matches the certificate's CN '%s' (no DNS subjectAltName)", u->host,
               certs_short_name(x, nm, sizeof nm));
    moat_cert_details d;
    if (moat_cert_details_get(x, &d) == MOAT_OK) {
        char eku[256] = "any (no extendedKeyUsage)", ku[256] = "any (no keyUsage)";
        size_t o = 0;
        for (size_t i = 0; d.has_ext_key_usage && i < d.ext_key_usage.n && o < sizeof eku; i++)
            o += (size_t)snprintf(eku + o, sizeof eku - o, "%s%s", i ? ", " : "",
                                  d.ext_key_usage.v[i]);
        o = 0;
        for (size_t i = 0; d.has_key_usage && i < d.key_usage.n && o < sizeof ku; i++)
            o += (size_t)snprintf(ku + o, sizeof ku - o, "%s%s", i ? ", " : "", d.key_usage.v[i]);
        detail(u, "purpose", "TLS %s: extendedKeyUsage %s; keyUsage %s; CA:%s", u->purpose_name,
               eku, ku, d.ca ? "TRUE" : "FALSE");
        char key[64];
        moat_cert_key_str(X509_get0_pubkey(x), key, sizeof key);
        detail(u, "strength", "%s key, signed with %s", key, d.sig_alg);
        moat_cert_details_free(&d);
    }
}

static void describe_ca(run *u)
{
    if (!u->ca) {
        skip(u, "ca", "no --ca given; the system's trusted roots are used");
        return;
    }
    int n = u->res.trusted ? sk_X509_num(u->res.trusted) : 0;
    char nm[256];
    if (n == 1)
        detail(u, "ca", "%s: 1 CA certificate (%s)", u->ca,
               certs_short_name(sk_X509_value(u->res.trusted, 0), nm, sizeof nm));
    else
        detail(u, "ca", "%s: %d CA certificates", u->ca, n);
}

/* Fill every line: first what was found, then the findings override it. */
static void build_lines(run *u)
{
    for (size_t i = 0; i < NCHECKS; i++)
        u->lines[i].st = ST_OK;
    skip(u, "other", "");
    describe_ca(u);
    X509 *x = leaf_of(u);
    if (!u->res.certs) {
        static const char *const dep[] = {"x509v3", "order", "chain",   "root",    "validity",
                                          "host",   "san",   "purpose", "strength"};
        for (size_t i = 0; i < sizeof dep / sizeof dep[0]; i++)
            skip(u, dep[i], "the certificate did not load");
        detail(u, "pem", "see below");
        describe_key(u);
    } else {
        describe_pem(u);
        describe_key(u);
        describe_order(u);
        describe_chain(u);
        describe_root(u);
        if (x) {
            describe_leaf(u, x);
        } else {
            static const char *const dep[] = {"x509v3", "validity", "host",
                                              "san",    "purpose",  "strength"};
            for (size_t i = 0; i < sizeof dep / sizeof dep[0]; i++)
                skip(u, dep[i], "no leaf certificate in the file");
        }
    }
    /* Findings decide: the first one of the worst severity gives the text. */
    for (size_t i = 0; i < u->r.n; i++) {
        const moat_cert_finding *f = &u->r.items[i];
        line *l = &u->lines[code_check(f->code)];
        status st = f->severity == MOAT_CERT_ERROR ? ST_ERROR : ST_WARNING;
        if (st > l->st || l->st == ST_SKIPPED) {
            l->st = st;
            snprintf(l->detail, sizeof l->detail, "%s", f->message);
        }
    }
}

/* ---------------------------------------------------------- output */

static const char *mark(status st)
{
    static const char *const m[] = {"✓", "-", "!", "✗"};
    return m[st];
}

static const char *status_name(status st)
{
    static const char *const m[] = {"ok", "skipped", "warning", "error"};
    return m[st];
}

static void print_text(run *u)
{
    printf("moat certs check: %s%s%s%s%s%s%s, purpose %s%s%s\n\n", u->cert, u->chain ? " + " : "",
           u->chain ? u->chain : "", u->key ? ", key " : "", u->key ? u->key : "",
           u->ca ? ", CA " : ", CA: the system's roots", u->ca ? u->ca : "", u->purpose_name,
           u->host ? ", host " : "", u->host ? u->host : "");
    for (size_t i = 0; i < NCHECKS; i++) {
        const line *l = &u->lines[i];
        if (i == NCHECKS - 1 && l->st == ST_SKIPPED)
            continue;
        printf("  %s %-15s %s\n", mark(l->st), checks[i].title, l->detail);
        /* Further findings of the same check, one line each. */
        for (size_t k = 0; k < u->r.n; k++) {
            const moat_cert_finding *f = &u->r.items[k];
            if (code_check(f->code) != (int)i || !strcmp(f->message, l->detail))
                continue;
            printf("  %s %-15s %s\n", f->severity == MOAT_CERT_ERROR ? "✗" : "!", "", f->message);
        }
    }
    STACK_OF(X509) *p = u->res.path;
    if (p && sk_X509_num(p) > 0) {
        char nm[512], is[512], where[600];
        printf("\nChain, traced subject → issuer:\n");
        for (int i = 0; i < sk_X509_num(p); i++) {
            X509 *c = sk_X509_value(p, i);
            moat_cert_name_oneline(c, false, nm, sizeof nm);
            moat_cert_name_oneline(c, true, is, sizeof is);
            printf("  %d. subject=%s\n     issuer=%s\n     from %s%s\n", i + 1, nm, is,
                   origin_of(u, c, u->res.anchored && i == sk_X509_num(p) - 1, where, sizeof where),
                   u->res.anchored && i == sk_X509_num(p) - 1 ? " (trust anchor)" : "");
        }
        X509 *last = sk_X509_value(p, sk_X509_num(p) - 1);
        if (!u->res.anchored && !moat_cert_is_self_signed(last)) {
            moat_cert_name_oneline(last, true, is, sizeof is);
            printf("  ?  %s: not found%s\n", is, u->ca ? " in --ca" : "");
        }
    }
    int nfix = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < u->r.n; i++) {
            const moat_cert_finding *f = &u->r.items[i];
            if ((pass == 0) != (f->severity == MOAT_CERT_ERROR) || !f->fix[0])
                continue;
            if (!nfix++)
                printf("\nHow to fix:\n");
            printf("  %d. %s [%s]\n", nfix, f->fix, moat_cert_code_name(f->code));
        }
    printf("\n%s: %u error(s), %u warning(s)\n", u->r.errors ? "NOT OK" : "OK", u->r.errors,
           u->r.warnings);
}

static void print_json(run *u)
{
    jsonw w;
    jw_init(&w, stdout);
    jw_obj(&w);
    jw_kstr(&w, "verdict", u->r.errors ? "fail" : u->r.warnings ? "warn" : "ok");
    jw_kint(&w, "errors", u->r.errors);
    jw_kint(&w, "warnings", u->r.warnings);
    jw_key(&w, "input");
    jw_obj(&w);
    jw_kstr(&w, "cert", u->cert);
    jw_kstr(&w, "chain", u->chain);
    jw_kstr(&w, "key", u->key);
    jw_kstr(&w, "ca", u->ca);
    jw_kstr(&w, "host", u->host);
    jw_kstr(&w, "purpose", u->purpose_name);
    jw_obj_end(&w);
    jw_key(&w, "checks");
    jw_arr(&w);
    for (size_t i = 0; i < NCHECKS; i++) {
        if (i == NCHECKS - 1 && u->lines[i].st == ST_SKIPPED)
            continue;
        jw_obj(&w);
        jw_kstr(&w, "id", checks[i].id);
        jw_kstr(&w, "title", checks[i].title);
        jw_kstr(&w, "status", status_name(u->lines[i].st));
        jw_kstr(&w, "detail", u->lines[i].detail);
        jw_key(&w, "codes");
        jw_arr(&w);
        for (size_t k = 0; k < u->r.n; k++)
            if (code_check(u->r.items[k].code) == (int)i)
                jw_str(&w, moat_cert_code_name(u->r.items[k].code));
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "chain");
    jw_arr(&w);
    STACK_OF(X509) *p = u->res.path;
    for (int i = 0; p && i < sk_X509_num(p); i++) {
        char nm[512], where[600];
        X509 *c = sk_X509_value(p, i);
        jw_obj(&w);
        moat_cert_name_oneline(c, false, nm, sizeof nm);
        jw_kstr(&w, "subject", nm);
        moat_cert_name_oneline(c, true, nm, sizeof nm);
        jw_kstr(&w, "issuer", nm);
        bool anchor = u->res.anchored && i == sk_X509_num(p) - 1;
        jw_kstr(&w, "from", origin_of(u, c, anchor, where, sizeof where));
        jw_kbool(&w, "anchor", anchor);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_kbool(&w, "anchored", u->res.anchored);
    jw_key(&w, "findings");
    jw_arr(&w);
    for (size_t i = 0; i < u->r.n; i++) {
        const moat_cert_finding *f = &u->r.items[i];
        jw_obj(&w);
        jw_kstr(&w, "severity", f->severity == MOAT_CERT_ERROR ? "error" : "warning");
        jw_kstr(&w, "code", moat_cert_code_name(f->code));
        jw_kstr(&w, "check", checks[code_check(f->code)].id);
        jw_kstr(&w, "file", f->file);
        jw_kstr(&w, "message", f->message);
        jw_kstr(&w, "fix", f->fix);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_end(&w);
}

int certs_check_main(int argc, char **argv)
{
    run u = {.now = (int64_t)time(NULL), .purpose_name = "server"};
    const char *pw = NULL, *pwfile = NULL, *purpose = NULL;
    bool json = false, partial = false;
    const certs_optdef defs[] = {{"--cert", &u.cert, NULL},
                                 {"--key", &u.key, NULL},
                                 {"--chain", &u.chain, NULL},
                                 {"--ca", &u.ca, NULL},
                                 {"--host", &u.host, NULL},
                                 {"--purpose", &purpose, NULL},
                                 {"--key-password", &pw, NULL},
                                 {"--key-password-file", &pwfile, NULL},
                                 {"--partial-chain", NULL, &partial},
                                 {"--json", NULL, &json},
                                 {NULL, NULL, NULL}};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    int rc = pos ? certs_parse("check", argc, argv, defs, pos, &npos, usage) : 2;
    free(pos);
    if (rc != -1)
        return rc;
    if (npos) {
        fprintf(stderr, "moat certs check: unexpected argument; give files with --cert, --key, "
                        "--chain, --ca\n");
        return 2;
    }
    if (!u.cert) {
        fprintf(stderr, "moat certs check: --cert FILE is required\n");
        usage(stderr);
        return 2;
    }
    if (purpose && strcmp(purpose, "server") && strcmp(purpose, "client")) {
        fprintf(stderr, "moat certs check: --purpose is server or client, not '%s'\n", purpose);
        return 2;
    }
    if (pw && pwfile) {
        fprintf(stderr, "moat certs check: give --key-password or --key-password-file, not both\n");
        return 2;
    }
    if (purpose && !strcmp(purpose, "client")) {
        u.purpose = MOAT_CERT_FOR_CLIENT;
        u.purpose_name = "client";
    }
    char *password = NULL;
    if (certs_password("check", pw, pwfile, &password))
        return 2;
    moat_cert_check_args a = {.certfile = u.cert,
                              .keyfile = u.key,
                              .key_password = password,
                              .cacertfile = u.ca,
                              .chainfile = u.chain,
                              .host = u.host,
                              .purpose = u.purpose,
                              .partial_chain = partial,
                              .system_roots = !u.ca,
                              .anchor_required = u.ca != NULL,
                              .cli = true,
                              .now = u.now,
                              .result = &u.res};
    moat_err e = moat_cert_check(&a, &u.r);
    if (password) {
        OPENSSL_cleanse(password, strlen(password));
        free(password);
    }
    if (e == MOAT_ENOMEM) {
        fprintf(stderr, "moat certs check: out of memory\n");
        rc = 2;
    } else {
        build_lines(&u);
        if (json)
            print_json(&u);
        else
            print_text(&u);
        rc = u.r.errors ? 1 : 0;
    }
    moat_cert_check_result_free(&u.res);
    moat_cert_report_free(&u.r);
    return rc;
}
