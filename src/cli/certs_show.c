/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs show FILE...`: every certificate and private key in the
 * files, described the way the webinar's show.sh / trace.sh do it with
 * openssl, but one screen per certificate and with the questions answered
 * (days left, which key belongs to which certificate). --json for scripts. */
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

typedef struct shown_file {
    const char *path;
    moat_pem_items items;
    bool readable;
    size_t findings_from, findings_to; /* this file's findings in the report */
} shown_file;

typedef struct show_ctx {
    shown_file *files;
    int nfiles;
    int64_t now;
    moat_cert_report r;
} show_ctx;

static void usage(FILE *f)
{
    fprintf(f, "usage: moat certs show FILE... [--json] [--key-password PW | "
               "--key-password-file FILE]\n\n"
               "Describe every certificate in the files (subject, issuer, serial, validity and\n"
               "days left, subjectAltName, key, key usage, extended key usage, basic\n"
               "constraints, key identifiers, SHA-256 fingerprint) and every private key\n"
               "(type, size, encrypted or not, and which certificate it belongs to).\n"
               "Encrypted keys are opened with the password when one is given.\n");
}

/* Ordinal of the n-th item of a kind in a file, 1-based. */
static int ordinal(const moat_pem_items *it, size_t upto, moat_pem_kind kind)
{
    int k = 0;
    for (size_t i = 0; i <= upto; i++)
        k += it->v[i].kind == kind;
    return k;
}

static bool key_matches(const moat_pem_item *key, const X509 *x)
{
    return key->key && EVP_PKEY_eq(X509_get0_pubkey(x), key->key) == 1;
}

/* "RSA", "EC" ... from an encrypted key's label, when it tells. */
static const char *label_alg(const char *label)
{
    if (!strncmp(label, "RSA ", 4))
        return "RSA";
    if (!strncmp(label, "EC ", 3))
        return "EC";
    if (!strncmp(label, "DSA ", 4))
        return "DSA";
    return NULL;
}

static const char *role_of(const X509 *x)
{
    bool ss = moat_cert_is_self_signed(x);
    if (X509_check_ca((X509 *)x))
        return ss ? "root CA (self-signed)" : "intermediate CA";
    return ss ? "self-signed end-entity certificate" : "end-entity (leaf) certificate";
}

/* "#2 in this file", "#1 in ca.pem": where among the shown files the issuer
 * of x is. */
static bool find_issuer(const show_ctx *c, const X509 *x, char *out, size_t len, int fi)
{
    if (moat_cert_is_self_signed(x))
        return false;
    for (int f = 0; f < c->nfiles; f++) {
        const moat_pem_items *it = &c->files[f].items;
        for (size_t i = 0; i < it->n; i++) {
            if (it->v[i].kind != MOAT_PEM_CERT || !moat_cert_issued_by(x, it->v[i].cert))
                continue;
            snprintf(out, len, "#%d in %s", ordinal(it, i, MOAT_PEM_CERT),
                     f == fi ? "this file" : c->files[f].path);
            return true;
        }
    }
    return false;
}

static void join(const moat_cert_strlist *l, const char *prefix, char *out, size_t len, size_t *off)
{
    for (size_t i = 0; i < l->n && *off < len; i++)
        *off +=
            (size_t)snprintf(out + *off, len - *off, "%s%s%s", *off ? ", " : "", prefix, l->v[i]);
}

static void colon_hex(const char *hex, char *out, size_t len)
{
    size_t off = 0;
    for (size_t i = 0; hex[i] && hex[i + 1] && off + 4 <= len; i += 2)
        off +=
            (size_t)snprintf(out + off, len - off, "%s%c%c", i ? ":" : "",
                             hex[i] - 32 * (hex[i] >= 'a'), hex[i + 1] - 32 * (hex[i + 1] >= 'a'));
}

/* ------------------------------------------------------------- text */

static void text_cert(const show_ctx *c, int fi, size_t idx)
{
    const moat_pem_item *it = &c->files[fi].items.v[idx];
    moat_cert_info in;
    moat_cert_details d;
    if (moat_cert_info_get(it->cert, &in) != MOAT_OK)
        return;
    if (moat_cert_details_get(it->cert, &d) != MOAT_OK) {
        moat_cert_info_free(&in);
        return;
    }
    char t1[32], t2[32], buf[2048], where[512];
    size_t off = 0;
    printf("\nCertificate #%d in %s: %s\n", ordinal(&c->files[fi].items, idx, MOAT_PEM_CERT),
           c->files[fi].path, role_of(it->cert));
    printf("  Subject:          %s\n", in.subject);
    if (find_issuer(c, it->cert, where, sizeof where, fi))
        printf("  Issuer:           %s  (certificate %s)\n", in.issuer, where);
    else
        printf("  Issuer:           %s%s\n", in.issuer, in.self_signed ? "  (itself)" : "");
    printf("  Serial:           %s (hex)\n", in.serial);
    moat_cert_time_str(in.not_before, t1, sizeof t1);
    moat_cert_time_str(in.not_after, t2, sizeof t2);
    long left = certs_days_left(in.not_after, c->now);
    printf("  Validity:         %s .. %s  ", t1, t2);
    if (in.not_before > c->now)
        printf("(NOT YET VALID: starts in %ld days)\n", certs_days_left(in.not_before, c->now) + 1);
    else if (left < 0)
        printf("(EXPIRED %ld days ago)\n", -left);
    else
        printf("(%ld days left%s)\n", left, left < 30 ? ": renew soon" : "");
    join(&in.dns, "DNS:", buf, sizeof buf, &off);
    join(&in.ip, "IP:", buf, sizeof buf, &off);
    join(&in.email, "email:", buf, sizeof buf, &off);
    join(&in.uri, "URI:", buf, sizeof buf, &off);
    printf("  SubjectAltName:   %s\n", off ? buf : "(none)");
    printf("  Public key:       %s\n", in.key);
    off = 0;
    join(&d.key_usage, "", buf, sizeof buf, &off);
    printf("  Key usage:        %s%s\n", d.has_key_usage ? buf : "(none)",
           d.key_usage_critical ? " (critical)" : "");
    off = 0;
    join(&d.ext_key_usage, "", buf, sizeof buf, &off);
    printf("  Ext. key usage:   %s\n", d.has_ext_key_usage ? buf : "(none: any purpose)");
    if (!d.has_basic_constraints)
        printf("  Basic constr.:    (none)\n");
    else if (d.ca && d.path_len >= 0)
        printf("  Basic constr.:    CA:TRUE, pathlen:%ld%s\n", d.path_len,
               d.basic_constraints_critical ? " (critical)" : "");
    else
        printf("  Basic constr.:    CA:%s%s\n", d.ca ? "TRUE" : "FALSE",
               d.basic_constraints_critical ? " (critical)" : "");
    printf("  Subject key ID:   %s\n", d.ski[0] ? d.ski : "(none)");
    printf("  Authority key ID: %s\n", d.aki[0] ? d.aki : "(none)");
    printf("  Version:          %ld%s\n", d.version, d.version == 3 ? "" : "  (not X.509 v3)");
    printf("  Signature:        %s\n", d.sig_alg);
    colon_hex(in.sha256, buf, sizeof buf);
    printf("  SHA-256:          %s\n", buf);
    for (int f = 0; f < c->nfiles; f++) {
        const moat_pem_items *ks = &c->files[f].items;
        for (size_t k = 0; k < ks->n; k++)
            if (ks->v[k].kind == MOAT_PEM_KEY && key_matches(&ks->v[k], it->cert))
                printf("  Private key:      key #%d in %s\n", ordinal(ks, k, MOAT_PEM_KEY),
                       c->files[f].path);
    }
    moat_cert_details_free(&d);
    moat_cert_info_free(&in);
}

static void key_desc(const moat_pem_item *it, char *out, size_t len)
{
    if (it->key) {
        moat_cert_key_str(it->key, out, len);
        return;
    }
    const char *alg = label_alg(it->label);
    snprintf(out, len, "%s%s", alg ? alg : "unknown type",
             it->encrypted ? ", size unknown until decrypted" : "");
}

static void text_key(const show_ctx *c, int fi, size_t idx)
{
    const moat_pem_item *it = &c->files[fi].items.v[idx];
    char desc[64], nm[256];
    key_desc(it, desc, sizeof desc);
    printf("\nPrivate key #%d in %s: %s, %s\n", ordinal(&c->files[fi].items, idx, MOAT_PEM_KEY),
           c->files[fi].path, desc,
           !it->encrypted ? "not encrypted"
           : it->key      ? "encrypted (opened with the password given)"
                          : "encrypted (give --key-password to open it)");
    int matches = 0;
    for (int f = 0; it->key && f < c->nfiles; f++) {
        const moat_pem_items *cs = &c->files[f].items;
        for (size_t k = 0; k < cs->n; k++) {
            if (cs->v[k].kind != MOAT_PEM_CERT || !key_matches(it, cs->v[k].cert))
                continue;
            printf("  Belongs to:       certificate #%d in %s (%s)\n",
                   ordinal(cs, k, MOAT_PEM_CERT), c->files[f].path,
                   certs_short_name(cs->v[k].cert, nm, sizeof nm));
            matches++;
        }
    }
    if (it->key && !matches)
        printf("  Belongs to:       none of the certificates shown\n");
}

static void text_file(const show_ctx *c, int fi)
{
    const shown_file *sf = &c->files[fi];
    int n[5] = {0};
    for (size_t i = 0; i < sf->items.n; i++)
        n[sf->items.v[i].kind]++;
    printf("%s%s: %d certificate(s), %d private key(s)", fi ? "\n" : "", sf->path, n[MOAT_PEM_CERT],
           n[MOAT_PEM_KEY]);
    if (n[MOAT_PEM_CSR])
        printf(", %d certificate request(s)", n[MOAT_PEM_CSR]);
    if (n[MOAT_PEM_OTHER])
        printf(", %d other block(s)", n[MOAT_PEM_OTHER]);
    printf("%s\n", sf->items.der ? " (DER, not PEM: moat's listeners need PEM)" : "");
    if (n[MOAT_PEM_CERT] > 1) {
        /* The trace.sh view: who issued whom, in file order. */
        char a[256];
        printf("  Order in the file:");
        for (size_t i = 0; i < sf->items.n; i++)
            if (sf->items.v[i].kind == MOAT_PEM_CERT)
                printf(" #%d %s%s", ordinal(&sf->items, i, MOAT_PEM_CERT),
                       certs_short_name(sf->items.v[i].cert, a, sizeof a),
                       ordinal(&sf->items, i, MOAT_PEM_CERT) < n[MOAT_PEM_CERT] ? " →" : "");
        printf("\n");
    }
    for (size_t i = 0; i < sf->items.n; i++) {
        if (sf->items.v[i].kind == MOAT_PEM_CERT)
            text_cert(c, fi, i);
        else if (sf->items.v[i].kind == MOAT_PEM_KEY)
            text_key(c, fi, i);
        else
            printf("\nBlock #%zu in %s: %s (not a certificate or a private key)\n", i + 1, sf->path,
                   sf->items.v[i].label);
    }
}

/* ------------------------------------------------------------- JSON */

static void json_list(jsonw *w, const char *key, const moat_cert_strlist *l)
{
    jw_key(w, key);
    jw_arr(w);
    for (size_t i = 0; i < l->n; i++)
        jw_str(w, l->v[i]);
    jw_arr_end(w);
}

static void json_matches(jsonw *w, const show_ctx *c, const moat_pem_item *item, bool want_key)
{
    char nm[512];
    jw_arr(w);
    for (int f = 0; f < c->nfiles; f++) {
        const moat_pem_items *it = &c->files[f].items;
        for (size_t k = 0; k < it->n; k++) {
            const moat_pem_item *o = &it->v[k];
            bool hit = want_key ? o->kind == MOAT_PEM_KEY && key_matches(o, item->cert)
                                : o->kind == MOAT_PEM_CERT && key_matches(item, o->cert);
            if (!hit)
                continue;
            jw_obj(w);
            jw_kstr(w, "file", c->files[f].path);
            jw_kint(w, "index", ordinal(it, k, want_key ? MOAT_PEM_KEY : MOAT_PEM_CERT));
            if (!want_key) {
                moat_cert_name_oneline(o->cert, false, nm, sizeof nm);
                jw_kstr(w, "subject", nm);
            }
            jw_obj_end(w);
        }
    }
    jw_arr_end(w);
}

static void json_cert(jsonw *w, const show_ctx *c, int fi, size_t idx)
{
    const moat_pem_item *it = &c->files[fi].items.v[idx];
    moat_cert_info in;
    moat_cert_details d;
    if (moat_cert_info_get(it->cert, &in) != MOAT_OK)
        return;
    if (moat_cert_details_get(it->cert, &d) != MOAT_OK) {
        moat_cert_info_free(&in);
        return;
    }
    char t[40];
    jw_obj(w);
    jw_kint(w, "index", ordinal(&c->files[fi].items, idx, MOAT_PEM_CERT));
    jw_kstr(w, "subject", in.subject);
    jw_kstr(w, "issuer", in.issuer);
    jw_kstr(w, "cn", in.cn);
    jw_kstr(w, "serial", in.serial);
    jw_kint(w, "version", d.version);
    certs_iso_time(in.not_before, t, sizeof t);
    jw_kstr(w, "not_before", t);
    certs_iso_time(in.not_after, t, sizeof t);
    jw_kstr(w, "not_after", t);
    jw_kint(w, "days_left", certs_days_left(in.not_after, c->now));
    jw_kbool(w, "expired", in.not_after < c->now);
    jw_kbool(w, "not_yet_valid", in.not_before > c->now);
    jw_key(w, "san");
    jw_obj(w);
    json_list(w, "dns", &in.dns);
    json_list(w, "ip", &in.ip);
    json_list(w, "email", &in.email);
    json_list(w, "uri", &in.uri);
    jw_obj_end(w);
    jw_key(w, "key");
    jw_obj(w);
    jw_kstr(w, "type", d.key_alg);
    jw_kint(w, "bits", d.key_bits);
    jw_kstr(w, "description", in.key);
    jw_obj_end(w);
    if (d.has_key_usage)
        json_list(w, "key_usage", &d.key_usage);
    else
        jw_key(w, "key_usage"), jw_null(w);
    if (d.has_ext_key_usage)
        json_list(w, "ext_key_usage", &d.ext_key_usage);
    else
        jw_key(w, "ext_key_usage"), jw_null(w);
    jw_key(w, "basic_constraints");
    if (d.has_basic_constraints) {
        jw_obj(w);
        jw_kbool(w, "ca", d.ca);
        jw_key(w, "path_len");
        if (d.path_len >= 0)
            jw_int(w, d.path_len);
        else
            jw_null(w);
        jw_kbool(w, "critical", d.basic_constraints_critical);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_kbool(w, "is_ca", in.is_ca);
    jw_kbool(w, "self_signed", in.self_signed);
    jw_kstr(w, "role", role_of(it->cert));
    jw_kstr(w, "subject_key_id", d.ski[0] ? d.ski : NULL);
    jw_kstr(w, "authority_key_id", d.aki[0] ? d.aki : NULL);
    jw_kstr(w, "signature_algorithm", d.sig_alg);
    jw_kstr(w, "sha256", in.sha256);
    jw_key(w, "private_keys");
    json_matches(w, c, it, true);
    jw_obj_end(w);
    moat_cert_details_free(&d);
    moat_cert_info_free(&in);
}

static void json_key(jsonw *w, const show_ctx *c, int fi, size_t idx)
{
    const moat_pem_item *it = &c->files[fi].items.v[idx];
    char desc[64];
    key_desc(it, desc, sizeof desc);
    jw_obj(w);
    jw_kint(w, "index", ordinal(&c->files[fi].items, idx, MOAT_PEM_KEY));
    jw_kstr(w, "label", it->label);
    const char *alg = it->key ? NULL : label_alg(it->label);
    if (it->key) {
        int id = EVP_PKEY_get_base_id(it->key);
        alg = id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS ? "RSA"
              : id == EVP_PKEY_EC                          ? "EC"
                                                           : OBJ_nid2sn(id);
    }
    jw_kstr(w, "type", alg);
    jw_key(w, "bits");
    if (it->key)
        jw_int(w, EVP_PKEY_get_bits(it->key));
    else
        jw_null(w);
    jw_kstr(w, "description", desc);
    jw_kbool(w, "encrypted", it->encrypted);
    jw_kbool(w, "decrypted", it->key != NULL);
    jw_key(w, "certificates");
    json_matches(w, c, it, false);
    jw_obj_end(w);
}

static void json_all(const show_ctx *c)
{
    jsonw w;
    jw_init(&w, stdout);
    jw_obj(&w);
    jw_key(&w, "files");
    jw_arr(&w);
    for (int fi = 0; fi < c->nfiles; fi++) {
        const shown_file *sf = &c->files[fi];
        jw_obj(&w);
        jw_kstr(&w, "file", sf->path);
        jw_kbool(&w, "readable", sf->readable);
        jw_kstr(&w, "format", !sf->readable ? NULL : sf->items.der ? "DER" : "PEM");
        jw_key(&w, "certificates");
        jw_arr(&w);
        for (size_t i = 0; i < sf->items.n; i++)
            if (sf->items.v[i].kind == MOAT_PEM_CERT)
                json_cert(&w, c, fi, i);
        jw_arr_end(&w);
        jw_key(&w, "private_keys");
        jw_arr(&w);
        for (size_t i = 0; i < sf->items.n; i++)
            if (sf->items.v[i].kind == MOAT_PEM_KEY)
                json_key(&w, c, fi, i);
        jw_arr_end(&w);
        jw_key(&w, "other");
        jw_arr(&w);
        for (size_t i = 0; i < sf->items.n; i++)
            if (sf->items.v[i].kind == MOAT_PEM_CSR || sf->items.v[i].kind == MOAT_PEM_OTHER)
                jw_str(&w, sf->items.v[i].label);
        jw_arr_end(&w);
        jw_key(&w, "findings");
        moat_cert_report part = c->r;
        part.n = sf->findings_to;
        certs_json_findings(&w, &part, sf->findings_from);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_end(&w);
}

int certs_show_main(int argc, char **argv)
{
    bool json = false;
    const char *pw = NULL, *pwfile = NULL;
    const certs_optdef defs[] = {{"--json", NULL, &json},
                                 {"--key-password", &pw, NULL},
                                 {"--key-password-file", &pwfile, NULL},
                                 {NULL, NULL, NULL}};
    show_ctx c = {.now = (int64_t)time(NULL)};
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    c.files = calloc((size_t)argc + 1, sizeof *c.files);
    int rc =
        !paths || !c.files ? 2 : certs_parse("show", argc, argv, defs, paths, &c.nfiles, usage);
    if (rc == -1 && c.nfiles == 0) {
        usage(stderr);
        rc = 2;
    }
    if (rc != -1) {
        free(paths);
        free(c.files);
        return rc;
    }
    for (int i = 0; i < c.nfiles; i++)
        c.files[i].path = paths[i];
    free(paths);
    char *password = NULL;
    if (certs_password("show", pw, pwfile, &password)) {
        free(c.files);
        return 2;
    }
    rc = 0;
    for (int i = 0; i < c.nfiles; i++) {
        shown_file *sf = &c.files[i];
        sf->findings_from = c.r.n;
        moat_err e = moat_pem_read(sf->path, "file", password, true, &sf->items, &c.r);
        if (e == MOAT_ENOMEM) {
            rc = 2;
            break;
        }
        sf->readable = e == MOAT_OK;
        sf->findings_to = c.r.n;
        if (sf->findings_to > sf->findings_from)
            rc = 1;
    }
    if (rc != 2) {
        if (json) {
            json_all(&c);
        } else {
            for (int i = 0; i < c.nfiles; i++)
                if (c.files[i].readable)
                    text_file(&c, i);
            if (c.r.n) {
                fflush(stdout);
                certs_print_findings(stderr, &c.r, 0);
            }
        }
    }
    for (int i = 0; i < c.nfiles; i++)
        moat_pem_items_free(&c.files[i].items);
    moat_cert_report_free(&c.r);
    free(c.files);
    free(password);
    return rc;
}
