/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs split` and `moat certs bundle`: the EMQX Cloud guide's
 * "common problem 1" (a purchased certificate file holding user certificate,
 * intermediates and root, to be separated into certificate and chain) and
 * its converse (a fullchain from loose files, with a missing intermediate
 * taken from a directory of CA certificates). The order always comes from
 * tracing subject → issuer (src/certs/order.c), never from the input. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/check.h"
#include "certs/info.h"
#include "certs/order.h"
#include "cli/certs_cmd.h"
#include "cli/certs_io.h"

/* Certificates gathered from files, each remembering where it came from. */
typedef struct gathered {
    STACK_OF(X509) * certs;
    char **where;  /* "server.pem #2", one per certificate */
    EVP_PKEY *key; /* the first private key seen (it names the leaf) */
    moat_cert_report r;
} gathered;

static void gathered_free(gathered *g)
{
    for (int i = 0; g->where && i < sk_X509_num(g->certs); i++)
        free(g->where[i]);
    free(g->where);
    sk_X509_pop_free(g->certs, X509_free);
    EVP_PKEY_free(g->key);
    moat_cert_report_free(&g->r);
    memset(g, 0, sizeof *g);
}

/* dedupe: keep one of identical certificates (a CA directory often holds
 * the same CA twice, under its name and its hash). */
static bool gather_cert(gathered *g, X509 *x, const char *path, int ord, bool dedupe)
{
    for (int i = 0; dedupe && i < sk_X509_num(g->certs); i++)
        if (!X509_cmp(sk_X509_value(g->certs, i), x))
            return true;
    char **w = realloc(g->where, (size_t)(sk_X509_num(g->certs) + 1) * sizeof *w);
    if (!w)
        return false;
    g->where = w;
    size_t n = strlen(path) + 16;
    char *s = malloc(n);
    if (!s || !X509_up_ref(x)) {
        free(s);
        return false;
    }
    snprintf(s, n, "%s #%d", path, ord);
    if (!sk_X509_push(g->certs, x)) {
        X509_free(x);
        free(s);
        return false;
    }
    g->where[sk_X509_num(g->certs) - 1] = s;
    return true;
}

/* Read one file into g. Returns the number of certificates, -1 when the file
 * could not be read (the findings say why), -2 when out of memory. */
static int gather_file(gathered *g, const char *path)
{
    moat_pem_items it;
    moat_err e = moat_pem_read(path, "file", NULL, true, &it, &g->r);
    if (e == MOAT_ENOMEM)
        return -2;
    if (e)
        return -1;
    int n = 0;
    for (size_t i = 0; i < it.n; i++) {
        if (it.v[i].kind == MOAT_PEM_KEY && it.v[i].key && !g->key && EVP_PKEY_up_ref(it.v[i].key))
            g->key = it.v[i].key;
        if (it.v[i].kind != MOAT_PEM_CERT)
            continue;
        if (!gather_cert(g, it.v[i].cert, path, ++n, false)) {
            moat_pem_items_free(&it);
            return -2;
        }
    }
    moat_pem_items_free(&it);
    return n;
}

static const char *name_of(X509 *x, char *buf, size_t len)
{
    moat_cert_name_oneline(x, false, buf, len);
    return buf;
}

static const char *issuer_of(X509 *x, char *buf, size_t len)
{
    moat_cert_name_oneline(x, true, buf, len);
    return buf;
}

static const char *kind_of(X509 *x)
{
    if (moat_cert_is_self_signed(x))
        return "root (self-signed)";
    return X509_check_ca(x) ? "intermediate CA" : "end-entity certificate";
}

/* The input position of the issuer of input certificate i in the trace. */
static int traced_issuer(const moat_cert_trace *t, int i)
{
    for (size_t k = 0; k + 1 < t->n; k++)
        if (t->v[k].origin == MOAT_CERT_FROM_INPUT && t->v[k].index == i)
            return t->v[k + 1].origin == MOAT_CERT_FROM_INPUT ? t->v[k + 1].index : -1;
    return -1;
}

static bool copy_of_chain(const moat_cert_trace *t, X509 *x)
{
    for (size_t k = 0; k < t->n; k++)
        if (!X509_cmp(t->v[k].cert, x))
            return true;
    return false;
}

/* Why no chain could be traced. */
static void explain_no_chain(FILE *f, const char *cmd, const gathered *g, const moat_cert_trace *t)
{
    char nm[512];
    int n = sk_X509_num(g->certs);
    if (n == 0) {
        fprintf(f, "moat certs %s: no certificate found\n", cmd);
        return;
    }
    if (t->status == MOAT_TRACE_AMBIGUOUS) {
        fprintf(f,
                "moat certs %s: refused: the input holds more than one chain end (end-entity "
                "certificate) and no private key to tell which is meant:\n",
                cmd);
        for (int i = 0; i < n; i++)
            if (!moat_cert_is_self_signed(sk_X509_value(g->certs, i)))
                fprintf(f, "  %s: %s (%s)\n", g->where[i],
                        name_of(sk_X509_value(g->certs, i), nm, sizeof nm),
                        kind_of(sk_X509_value(g->certs, i)));
        fprintf(f, "Give the files of one certificate at a time (or add its private key).\n");
        return;
    }
    fprintf(f,
            "moat certs %s: refused: the input holds only self-signed root certificates; there "
            "is no server or client certificate to start the chain from\n",
            cmd);
}

/* ------------------------------------------------------------ split */

static void split_usage(FILE *f)
{
    fprintf(f, "usage: moat certs split FILE [--out-dir DIR] [--force]\n\n"
               "Split a file holding a certificate, its intermediates and maybe the root into\n"
               "cert.pem (the certificate), chain.pem (the intermediates, each followed by its\n"
               "issuer) and root.pem (only when the file holds the root), in DIR (default: the\n"
               "current directory). The order comes from tracing subject → issuer, so a file\n"
               "in the wrong order is split correctly too. Existing files are not replaced\n"
               "without --force.\n");
}

static int push_link(STACK_OF(X509) * sk, X509 *x)
{
    if (!X509_up_ref(x))
        return 0;
    if (!sk_X509_push(sk, x)) {
        X509_free(x);
        return 0;
    }
    return 1;
}

int certs_split_main(int argc, char **argv)
{
    const char *outdir = ".";
    bool force = false;
    const certs_optdef defs[] = {
        {"--out-dir", &outdir, NULL}, {"--force", NULL, &force}, {NULL, NULL, NULL}};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    int rc = pos ? certs_parse("split", argc, argv, defs, pos, &npos, split_usage) : 2;
    const char *file = npos == 1 ? pos[0] : NULL;
    free(pos);
    if (rc != -1)
        return rc;
    if (!file) {
        fprintf(stderr, "moat certs split: give exactly one FILE\n");
        split_usage(stderr);
        return 2;
    }
    gathered g = {.certs = sk_X509_new_null()};
    moat_cert_trace t = {0};
    STACK_OF(X509) *leaf = sk_X509_new_null(), *chain = sk_X509_new_null(),
                   *root = sk_X509_new_null();
    rc = 2;
    if (!g.certs || !leaf || !chain || !root)
        goto out;
    int n = gather_file(&g, file);
    if (n < 0 || g.r.errors) {
        certs_print_findings(stderr, &g.r, 0);
        goto out;
    }
    if (moat_cert_trace_build(g.certs, NULL, false, g.key, &t) != MOAT_OK)
        goto out;
    if (t.n == 0) {
        explain_no_chain(stderr, "split", &g, &t);
        goto out;
    }
    char nm[512], is[512];
    printf("%s holds %d certificate(s), in this order:\n", file, n);
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(g.certs, i);
        int iss = traced_issuer(&t, i);
        printf("  #%d %s: %s", i + 1, kind_of(x), name_of(x, nm, sizeof nm));
        if (iss >= 0)
            printf(", issued by #%d\n", iss + 1);
        else if (moat_cert_is_self_signed(x))
            printf("\n");
        else
            printf(", issued by %s (not in the file)\n", issuer_of(x, is, sizeof is));
    }
    /* Certificates outside the chain: copies are dropped, strangers refused. */
    bool strangers = false;
    for (size_t k = 0; k < t.n_unused; k++) {
        X509 *x = sk_X509_value(g.certs, t.unused[k]);
        if (copy_of_chain(&t, x)) {
            printf("Certificate #%d is a second copy of a chain certificate: left out.\n",
                   t.unused[k] + 1);
        } else {
            fprintf(stderr,
                    "moat certs split: refused: certificate #%d (%s) is not in the chain of "
                    "the certificate #%d (%s): it issued none of its certificates. Remove it "
                    "from %s, or use `moat certs bundle` to pick the right chain out of many "
                    "certificates.\n",
                    t.unused[k] + 1, name_of(x, nm, sizeof nm), t.v[0].index + 1,
                    name_of(t.v[0].cert, is, sizeof is), file);
            strangers = true;
        }
    }
    if (strangers)
        goto out;
    printf("Traced subject → issuer: ");
    for (size_t k = 0; k < t.n; k++)
        printf("%s#%d", k ? " → " : "", t.v[k].index + 1);
    printf("\n%s\n", t.input_ordered ? "The order in the file is right: each certificate is "
                                       "followed by its issuer, the certificate first."
                                     : "The order in the file is WRONG (each certificate must be "
                                       "followed by its issuer, the certificate first); the "
                                       "files below are in the right order.");
    if (t.status != MOAT_TRACE_COMPLETE)
        printf("The chain ends at %s; its issuer (%s) is not in the file: no root.pem.\n",
               name_of(t.v[t.n - 1].cert, nm, sizeof nm),
               issuer_of(t.v[t.n - 1].cert, is, sizeof is));
    int ok = push_link(leaf, t.v[0].cert);
    for (size_t k = 1; ok && k < t.n; k++)
        ok = push_link(moat_cert_is_self_signed(t.v[k].cert) ? root : chain, t.v[k].cert);
    if (!ok)
        goto out;
    struct {
        const char *name;
        STACK_OF(X509) * sk;
    } outs[] = {{"cert.pem", leaf}, {"chain.pem", chain}, {"root.pem", root}};
    char paths[3][4096];
    bool exists = false;
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", outdir, outs[i].name);
        struct stat st;
        if (sk_X509_num(outs[i].sk) && !force && stat(paths[i], &st) == 0) {
            fprintf(stderr, "moat certs split: %s exists\n", paths[i]);
            exists = true;
        }
    }
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "moat certs split: cannot create %s: %s\n", outdir, strerror(errno));
        goto out;
    }
    if (exists) {
        fprintf(stderr, "moat certs split: refused to overwrite; use --force to replace, or "
                        "--out-dir to write elsewhere\n");
        goto out;
    }
    printf("Wrote:\n");
    for (int i = 0; i < 3; i++) {
        if (!sk_X509_num(outs[i].sk)) {
            if (i == 1)
                printf("  (no chain.pem: the file holds no intermediate certificate)\n");
            continue;
        }
        if (certs_write_pem("split", paths[i], outs[i].sk, force))
            goto out;
        printf("  %-28s", paths[i]);
        for (int k = 0; k < sk_X509_num(outs[i].sk); k++)
            printf("%s%s", k ? "; " : "", name_of(sk_X509_value(outs[i].sk, k), nm, sizeof nm));
        printf("\n");
    }
    printf("For moat, certfile is the certificate followed by the chain: `cat cert.pem%s > "
           "fullchain.pem`. For EMQX Cloud: certificate body = cert.pem, certificate chain = "
           "chain.pem.\n",
           sk_X509_num(chain) ? " chain.pem" : "");
    rc = 0;
out:
    moat_cert_trace_free(&t);
    sk_X509_pop_free(leaf, X509_free);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(root, X509_free);
    gathered_free(&g);
    return rc;
}

/* ----------------------------------------------------------- bundle */

static void bundle_usage(FILE *f)
{
    fprintf(f, "usage: moat certs bundle FILE... [--ca-dir DIR] [--out FILE] [--force]\n\n"
               "Build a fullchain (the certificate first, then each intermediate followed by\n"
               "its issuer, without the root) from any set of files, in any order. An\n"
               "intermediate missing from the files is taken from the CA certificates in DIR.\n"
               "The chain must reach a root (in the files, DIR or the system's trusted roots);\n"
               "otherwise nothing is written. Writes PEM to FILE (not replaced without\n"
               "--force) or to standard output; says what it did on standard error.\n");
}

/* Every certificate of every regular file in dir (not recursive). */
static int gather_dir(gathered *g, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "moat certs bundle: cannot read the directory %s\n", dir);
        return -1;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20))
            continue;
        moat_cert_report quiet = MOAT_CERT_REPORT_INIT;
        moat_pem_items it;
        /* Keys, CSRs and unreadable files in a CA directory are not our business. */
        if (moat_pem_read(path, "file", NULL, true, &it, &quiet) == MOAT_OK) {
            for (size_t i = 0; i < it.n; i++)
                if (it.v[i].kind == MOAT_PEM_CERT && X509_check_ca(it.v[i].cert) &&
                    gather_cert(g, it.v[i].cert, path, (int)i + 1, true))
                    n++;
            moat_pem_items_free(&it);
        }
        moat_cert_report_free(&quiet);
    }
    closedir(d);
    return n;
}

int certs_bundle_main(int argc, char **argv)
{
    const char *cadir = NULL, *out = NULL;
    bool force = false;
    const certs_optdef defs[] = {{"--ca-dir", &cadir, NULL},
                                 {"--out", &out, NULL},
                                 {"--force", NULL, &force},
                                 {NULL, NULL, NULL}};
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    int rc = files ? certs_parse("bundle", argc, argv, defs, files, &nfiles, bundle_usage) : 2;
    if (rc == -1 && nfiles == 0) {
        fprintf(stderr, "moat certs bundle: give at least one FILE\n");
        bundle_usage(stderr);
        rc = 2;
    }
    if (rc != -1) {
        free(files);
        return rc;
    }
    rc = 2;
    gathered g = {.certs = sk_X509_new_null()}, pool = {.certs = sk_X509_new_null()};
    moat_cert_trace t = {0};
    STACK_OF(X509) *full = sk_X509_new_null();
    FILE *say = out ? stdout : stderr; /* keep standard output clean PEM */
    char nm[512], is[512];
    if (!g.certs || !pool.certs || !full)
        goto done;
    for (int i = 0; i < nfiles; i++) {
        int n = gather_file(&g, files[i]);
        if (n < 0) {
            certs_print_findings(stderr, &g.r, 0);
            goto done;
        }
    }
    if (cadir && gather_dir(&pool, cadir) < 0)
        goto done;
    if (moat_cert_trace_build(g.certs, pool.certs, true, g.key, &t) != MOAT_OK)
        goto done;
    if (t.n == 0) {
        explain_no_chain(stderr, "bundle", &g, &t);
        goto done;
    }
    if (t.status != MOAT_TRACE_COMPLETE) {
        X509 *last = t.v[t.n - 1].cert;
        fprintf(stderr,
                "moat certs bundle: refused: the chain cannot be completed: %s was issued by "
                "%s, which is in none of the files%s%s%s nor among the system's trusted roots.\n"
                "Fix: add that CA's certificate (your CA publishes its intermediates and root) "
                "to the files or to a directory given as --ca-dir.\n",
                name_of(last, nm, sizeof nm), issuer_of(last, is, sizeof is), cadir ? ", in " : "",
                cadir ? cadir : "", cadir ? "," : "");
        goto done;
    }
    fprintf(say, "Chain traced subject → issuer:\n");
    for (size_t k = 0; k < t.n; k++) {
        const moat_cert_link *l = &t.v[k];
        bool is_root = moat_cert_is_self_signed(l->cert);
        const char *from = l->origin == MOAT_CERT_FROM_INPUT  ? g.where[l->index]
                           : l->origin == MOAT_CERT_FROM_POOL ? pool.where[l->index]
                                                              : "the system's trusted roots";
        fprintf(say, "  %zu. %s (%s)%s%s\n", k + 1, name_of(l->cert, nm, sizeof nm), from,
                l->origin == MOAT_CERT_FROM_POOL && !is_root
                    ? ": missing from the files, added from --ca-dir"
                    : "",
                is_root ? ": the root, not included" : "");
        if (!is_root && !push_link(full, l->cert))
            goto done;
    }
    for (size_t k = 0; k < t.n_unused; k++) {
        X509 *x = sk_X509_value(g.certs, t.unused[k]);
        fprintf(say, "  left out: %s (%s): %s\n", name_of(x, nm, sizeof nm), g.where[t.unused[k]],
                copy_of_chain(&t, x) ? "a second copy" : "not in this chain");
    }
    if (!t.input_ordered)
        fprintf(say, "The input was not in this order; the output is.\n");
    if (out) {
        if (certs_write_pem("bundle", out, full, force))
            goto done;
    } else if (!certs_print_pem(stdout, full)) {
        goto done;
    }
    fprintf(say, "Wrote %s: %d certificate(s), the certificate then %d intermediate(s).\n",
            out ? out : "the fullchain to standard output", sk_X509_num(full),
            sk_X509_num(full) - 1);
    rc = 0;
done:
    moat_cert_trace_free(&t);
    sk_X509_pop_free(full, X509_free);
    gathered_free(&g);
    gathered_free(&pool);
    free(files);
    return rc;
}
