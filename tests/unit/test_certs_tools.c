/* SPDX-License-Identifier: Apache-2.0 */
/* What `moat certs check/show/split/bundle` add to the certificate library:
 * the host name, purpose, key usage, X.509 v3 and duplicate checks, a chain
 * file of its own, trust anchors that must be reached, the check result, the
 * PEM reader, certificate details, chain tracing, and the JSON escaper of the
 * --json output. Against the generated test PKI. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certs/check.h"
#include "certs/info.h"
#include "certs/order.h"
#include "cli/jsonw.h"
#include "test.h"
#include "tls_pki.h"

static bool has(const moat_cert_report *r, moat_cert_code code, moat_cert_severity sev,
                const char *words)
{
    for (size_t i = 0; i < r->n; i++) {
        const moat_cert_finding *f = &r->items[i];
        if (f->code == code && f->severity == sev && (!words || strstr(f->message, words)))
            return true;
    }
    return false;
}

static bool fix_has(const moat_cert_report *r, moat_cert_code code, const char *words)
{
    const moat_cert_finding *f = moat_cert_report_find(r, code);
    return f && strstr(f->fix, words);
}

static void show(const char *what, const moat_cert_report *r)
{
    if (!getenv("MOAT_TEST_VERBOSE"))
        return;
    printf("--- %s\n", what);
    for (size_t i = 0; i < r->n; i++)
        printf("  [%s] %s\n      fix: %s\n", moat_cert_code_name(r->items[i].code),
               r->items[i].message, r->items[i].fix);
}

/* moat_cert_check as `moat certs check` calls it: --ca given. */
static moat_err check(moat_cert_check_args a, moat_cert_report *r)
{
    a.anchor_required = a.cacertfile != NULL;
    a.cli = true;
    moat_err e = moat_cert_check(&a, r);
    show(a.certfile, r);
    return e;
}

/* ------------------------------------------------------ host names */

static void test_host(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_args a = {.certfile = pki("server-fullchain.pem"),
                              .keyfile = pki("server.key"),
                              .cacertfile = pki("ca.pem"),
                              .host = "localhost"};
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);

    a.host = "127.0.0.1";
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);

    a.host = "broker.example.com";
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_HOST_MISMATCH, MOAT_CERT_ERROR,
              "is not valid for the host name broker.example.com: it lists DNS:localhost, "
              "IP:127.0.0.1"));
    CHECK(fix_has(&r, MOAT_CERT_HOST_MISMATCH, "subjectAltName = DNS:broker.example.com"));
    moat_cert_report_free(&r);

    a.host = "::1";
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_HOST_MISMATCH, MOAT_CERT_ERROR, "the address ::1"));
    CHECK(fix_has(&r, MOAT_CERT_HOST_MISMATCH, "IP:::1"));
    moat_cert_report_free(&r);

    /* No subjectAltName: OpenSSL (and so peers built on it) falls back to the
     * CN; the no_san warning says that strict peers do not. */
    a.certfile = pki("server-nosan.pem");
    a.keyfile = pki("server-nosan.key");
    a.cacertfile = pki("ca-bundle.pem");
    a.host = "localhost";
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_HOST_MISMATCH) == NULL);
    CHECK(has(&r, MOAT_CERT_NO_SAN, MOAT_CERT_WARNING, NULL));
    moat_cert_report_free(&r);

    /* The broker's default: no host, no host check. */
    moat_cert_chain c = {0};
    CHECK_EQ(
        moat_cert_load_server(pki("server-fullchain.pem"), pki("server.key"), NULL, NULL, &c, &r),
        MOAT_OK);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_HOST_MISMATCH) == NULL);
    moat_cert_chain_free(&c);
    moat_cert_report_free(&r);
}

/* ------------------------------------------------------- purposes */

static void test_purpose(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_args a = {.certfile = pki("client-fullchain.pem"),
                              .keyfile = pki("client.key"),
                              .cacertfile = pki("ca.pem"),
                              .purpose = MOAT_CERT_FOR_CLIENT};
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK_EQ(r.n, 0); /* a client certificate needs no subjectAltName */
    moat_cert_report_free(&r);

    a.purpose = MOAT_CERT_FOR_SERVER;
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NO_SERVER_AUTH, MOAT_CERT_ERROR, "lacks the serverAuth"));
    /* OpenSSL's purpose check says the same; it is not reported twice. */
    CHECK(moat_cert_report_find(&r, MOAT_CERT_CHAIN_INVALID) == NULL);
    moat_cert_report_free(&r);

    a.certfile = pki("server-fullchain.pem");
    a.keyfile = pki("server.key");
    a.purpose = MOAT_CERT_FOR_CLIENT;
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NO_CLIENT_AUTH, MOAT_CERT_ERROR,
              "the client certificate in " /* the role is in every message */));
    CHECK(fix_has(&r, MOAT_CERT_NO_CLIENT_AUTH, "extendedKeyUsage = clientAuth"));
    moat_cert_report_free(&r);

    /* keyUsage nonRepudiation only: no TLS use at all. */
    a = (moat_cert_check_args){.certfile = pki("server-badku.pem"),
                               .chainfile = pki("int.pem"),
                               .keyfile = pki("server-badku.key"),
                               .cacertfile = pki("ca.pem")};
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_USAGE, MOAT_CERT_ERROR, "allows neither digitalSignature"));
    CHECK(fix_has(&r, MOAT_CERT_KEY_USAGE, "keyUsage = critical, digitalSignature"));
    moat_cert_report_free(&r);

    /* A CA certificate as the leaf is a warning, as before. */
    a.certfile = pki("server-ca.pem");
    a.keyfile = pki("server-ca.key");
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_LEAF_IS_CA, MOAT_CERT_WARNING, "basicConstraints CA:TRUE"));
    moat_cert_report_free(&r);
}

static void test_x509_v1(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_args a = {.certfile = pki("server-v1.pem"),
                              .chainfile = pki("int.pem"),
                              .keyfile = pki("server-v1.key"),
                              .cacertfile = pki("ca.pem")};
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_NOT_V3, MOAT_CERT_WARNING, "X.509 version 1"));
    CHECK(fix_has(&r, MOAT_CERT_NOT_V3, "-extensions v3_req"));
    moat_cert_report_free(&r);
}

/* ------------------------------------------ chain files and anchors */

static void test_chain_file(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_result res;
    moat_cert_check_args a = {.certfile = pki("server.pem"),
                              .chainfile = pki("int.pem"),
                              .keyfile = pki("server.key"),
                              .cacertfile = pki("ca.pem"),
                              .result = &res};
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    CHECK_EQ(sk_X509_num(res.certs), 2);
    CHECK_EQ(res.n_certfile, 1);
    CHECK_EQ(res.leaf, 0);
    CHECK(res.key != NULL && !res.key_encrypted && res.n_keys == 1);
    CHECK(res.path && sk_X509_num(res.path) == 3 && res.anchored);
    CHECK(res.trusted && sk_X509_num(res.trusted) == 1);
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    /* EMQX Cloud: "Do not copy the certificate into the certificate chain". */
    a.chainfile = pki("server-fullchain.pem");
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_DUPLICATE_CERT, MOAT_CERT_ERROR,
              "is a copy of #1, the certificate itself, in the chain file"));
    CHECK(fix_has(&r, MOAT_CERT_DUPLICATE_CERT, "Remove the server certificate from the chain"));
    CHECK(moat_cert_report_find(&r, MOAT_CERT_CHAIN_ORDER) == NULL);
    CHECK(res.path && res.anchored); /* the chain is traced all the same */
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    a.chainfile = pki("server.key");
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_WRONG_CONTENT, MOAT_CERT_ERROR, "chain file"));
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);
}

static void test_anchor_required(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_result res;
    moat_cert_check_args a = {.certfile = pki("server-fullchain.pem"),
                              .keyfile = pki("server.key"),
                              .cacertfile = pki("int.pem"),
                              .result = &res};
    /* An intermediate as the only trust anchor: like openssl verify. */
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_ERROR, "is not in"));
    CHECK(fix_has(&r, MOAT_CERT_CA_NO_ROOT, "--partial-chain"));
    CHECK(!res.anchored);
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    a.partial_chain = true;
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK(res.anchored && sk_X509_num(res.path) == 2);
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    /* Another CA entirely. */
    a.partial_chain = false;
    a.cacertfile = pki("other-ca.pem");
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_ERROR, "other-ca.pem"));
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    /* The root in the file but not in --ca. */
    a.certfile = pki("server-chain-with-root.pem");
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_ERROR, "ends at the root"));
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    /* The broker (anchor not required) only warns, as it did. */
    moat_cert_check_args b = {.certfile = pki("server-fullchain.pem"),
                              .keyfile = pki("server.key"),
                              .cacertfile = pki("other-ca.pem")};
    CHECK_EQ(moat_cert_check(&b, &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_WARNING, NULL));
    moat_cert_report_free(&r);
}

static void test_result_and_option_names(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_result res;
    moat_cert_check_args a = {.certfile = pki("server-reversed.pem"),
                              .keyfile = pki("server-enc.key"),
                              .key_password = "secret",
                              .cacertfile = pki("ca.pem"),
                              .result = &res};
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK_EQ(res.leaf, 1); /* found by its key although it is #2 */
    CHECK(res.key_encrypted);
    CHECK(res.anchored); /* the order is wrong, the chain is fine */
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    a.key_password = NULL;
    CHECK_EQ(check(a, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_ENCRYPTED, MOAT_CERT_ERROR, "no --key-password is set"));
    CHECK(res.key == NULL && res.leaf == 1);
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);

    /* The broker's words stay the configuration's. */
    moat_cert_check_args b = {.certfile = pki("server-fullchain.pem"),
                              .keyfile = pki("server-enc.key")};
    CHECK_EQ(moat_cert_check(&b, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_ENCRYPTED, MOAT_CERT_ERROR, "no key_password is set"));
    moat_cert_report_free(&r);

    /* No key at all: the certificate alone is checked. */
    a = (moat_cert_check_args){
        .certfile = pki("server-fullchain.pem"), .cacertfile = pki("ca.pem"), .result = &res};
    CHECK_EQ(check(a, &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    CHECK(res.key == NULL && res.leaf == 0 && res.anchored);
    moat_cert_check_result_free(&res);
    moat_cert_report_free(&r);
    CHECK_STR(moat_cert_code_name(MOAT_CERT_HOST_MISMATCH), "host_mismatch");
    CHECK_STR(moat_cert_code_name(MOAT_CERT_DUPLICATE_CERT), "duplicate_cert");
}

/* ------------------------------------------------------ PEM reader */

static void test_pem_read(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_pem_items it;
    CHECK_EQ(moat_pem_read(pki("server-with-key.pem"), NULL, NULL, false, &it, &r), MOAT_OK);
    CHECK_EQ(it.n, 3);
    CHECK(it.n == 3 && it.v[0].kind == MOAT_PEM_CERT && it.v[1].kind == MOAT_PEM_CERT &&
          it.v[2].kind == MOAT_PEM_KEY && it.v[2].key && !it.v[2].encrypted);
    CHECK(it.n == 3 && EVP_PKEY_eq(X509_get0_pubkey(it.v[0].cert), it.v[2].key) == 1);
    CHECK_EQ(r.n, 0);
    moat_pem_items_free(&it);

    CHECK_EQ(moat_pem_read(pki("server-enc-trad.key"), NULL, NULL, false, &it, &r), MOAT_OK);
    CHECK(it.n == 1 && it.v[0].encrypted && !it.v[0].key);
    CHECK(it.n == 1 && !strcmp(it.v[0].label, "RSA PRIVATE KEY"));
    moat_pem_items_free(&it);
    CHECK_EQ(moat_pem_read(pki("server-enc.key"), NULL, "secret", false, &it, &r), MOAT_OK);
    CHECK(it.n == 1 && it.v[0].encrypted && it.v[0].key);
    moat_pem_items_free(&it);
    CHECK_EQ(r.n, 0);
    CHECK_EQ(moat_pem_read(pki("server-enc.key"), NULL, "wrong", false, &it, &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_KEY_BAD_PASSWORD, MOAT_CERT_ERROR, NULL));
    moat_pem_items_free(&it);
    moat_cert_report_free(&r);

    CHECK_EQ(moat_pem_read(pki("server.csr"), NULL, NULL, false, &it, &r), MOAT_OK);
    CHECK(it.n == 1 && it.v[0].kind == MOAT_PEM_CSR);
    moat_pem_items_free(&it);

    /* DER: accepted when asked, explained otherwise. */
    CHECK_EQ(moat_pem_read(pki("server.der"), NULL, NULL, true, &it, &r), MOAT_OK);
    CHECK(it.der && it.n == 1 && it.v[0].kind == MOAT_PEM_CERT);
    moat_pem_items_free(&it);
    CHECK_EQ(moat_pem_read(pki("server.der"), "certificate file", NULL, false, &it, &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_PEM, MOAT_CERT_ERROR, "DER"));
    CHECK_EQ(it.n, 0);
    moat_cert_report_free(&r);
    CHECK_EQ(moat_pem_read(pki("server.p12"), NULL, NULL, true, &it, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_PEM, MOAT_CERT_ERROR, "PKCS#12"));
    moat_cert_report_free(&r);
    CHECK_EQ(moat_pem_read(pki("nope.pem"), NULL, NULL, true, &it, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_FILE_MISSING, MOAT_CERT_ERROR, NULL));
    moat_cert_report_free(&r);

    /* A damaged block after a good one: the good one still counts. */
    FILE *f = fopen(pki("server.pem"), "r");
    char buf[8192] = "";
    size_t n = f ? fread(buf, 1, sizeof buf - 200, f) : 0;
    if (f)
        fclose(f);
    n += (size_t)snprintf(buf + n, sizeof buf - n,
                          "-----BEGIN CERTIFICATE-----\nnot base64!!\n-----END CERTIFICATE-----\n");
    CHECK_EQ(moat_pem_read(pki_write("half.pem", buf, n), NULL, NULL, false, &it, &r), MOAT_OK);
    CHECK(it.n == 1 && it.v[0].cert);
    CHECK(has(&r, MOAT_CERT_PEM_CORRUPT, MOAT_CERT_ERROR, "#2"));
    moat_pem_items_free(&it);
    moat_cert_report_free(&r);
}

/* --------------------------------------------------------- details */

static X509 *load(const char *name)
{
    FILE *f = fopen(pki(name), "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return x;
}

static void test_details(void)
{
    X509 *x = load("server.pem");
    moat_cert_details d;
    CHECK(x != NULL);
    CHECK_EQ(moat_cert_details_get(x, &d), MOAT_OK);
    CHECK_EQ(d.version, 3);
    CHECK_STR(d.key_alg, "RSA");
    CHECK_EQ(d.key_bits, 2048);
    CHECK(d.has_key_usage && d.key_usage_critical && d.key_usage.n == 2);
    CHECK(d.key_usage.n == 2 && !strcmp(d.key_usage.v[0], "digitalSignature") &&
          !strcmp(d.key_usage.v[1], "keyEncipherment"));
    CHECK(d.has_ext_key_usage && d.ext_key_usage.n == 1 &&
          !strcmp(d.ext_key_usage.v[0], "serverAuth"));
    CHECK(d.has_basic_constraints && !d.ca && d.path_len == -1);
    CHECK(strlen(d.ski) == 59 && d.ski[2] == ':'); /* 20 bytes as AA:BB:... */
    CHECK(strlen(d.aki) == 59);
    CHECK_STR(d.sig_alg, "ecdsa-with-SHA256");
    char k[64];
    moat_cert_key_str(X509_get0_pubkey(x), k, sizeof k);
    CHECK_STR(k, "RSA 2048");
    moat_cert_details_free(&d);
    X509_free(x);

    x = load("int.pem");
    CHECK_EQ(moat_cert_details_get(x, &d), MOAT_OK);
    CHECK(d.ca && d.path_len == 0 && d.basic_constraints_critical);
    CHECK(!d.has_ext_key_usage && d.ext_key_usage.n == 0);
    moat_cert_key_str(X509_get0_pubkey(x), k, sizeof k);
    CHECK_STR(k, "EC P-256");
    moat_cert_details_free(&d);
    X509_free(x);

    x = load("server-v1.pem");
    CHECK_EQ(moat_cert_details_get(x, &d), MOAT_OK);
    CHECK(d.version == 1 && !d.has_key_usage && !d.has_basic_constraints && !d.ski[0]);
    moat_cert_details_free(&d);
    X509_free(x);
}

/* --------------------------------------------------------- tracing */

static STACK_OF(X509) * stack_of(const char *const *names)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    for (; *names; names++) {
        FILE *f = fopen(pki(*names), "r");
        X509 *x;
        while (f && (x = PEM_read_X509(f, NULL, NULL, NULL)))
            sk_X509_push(sk, x);
        if (f)
            fclose(f);
    }
    return sk;
}

static void test_trace(void)
{
    moat_cert_trace t;
    STACK_OF(X509) *in = stack_of((const char *const[]){"server-deep-shuffled.pem", NULL});
    CHECK_EQ(moat_cert_trace_build(in, NULL, false, NULL, &t), MOAT_OK);
    CHECK_EQ(t.status, MOAT_TRACE_COMPLETE);
    CHECK_EQ(t.n, 4);
    int want[] = {2, 3, 0, 1};
    for (size_t i = 0; i < t.n && i < 4; i++)
        CHECK(t.v[i].origin == MOAT_CERT_FROM_INPUT && t.v[i].index == want[i]);
    CHECK(!t.input_ordered && t.n_unused == 0);
    moat_cert_trace_free(&t);
    sk_X509_pop_free(in, X509_free);

    in = stack_of((const char *const[]){"server-deep-fullchain.pem", NULL});
    CHECK_EQ(moat_cert_trace_build(in, NULL, false, NULL, &t), MOAT_OK);
    CHECK(t.status == MOAT_TRACE_INCOMPLETE && t.n == 3 && t.input_ordered);
    moat_cert_trace_free(&t);
    sk_X509_pop_free(in, X509_free);

    /* Intermediates from a pool; an unrelated certificate left over. */
    in = stack_of((const char *const[]){"server-deep.pem", "other-ca.pem", NULL});
    STACK_OF(X509) *pool = stack_of(
        (const char *const[]){"int.pem", "deep-int1.pem", "deep-int2.pem", "ca.pem", NULL});
    CHECK_EQ(moat_cert_trace_build(in, pool, false, NULL, &t), MOAT_OK);
    CHECK(t.status == MOAT_TRACE_COMPLETE && t.n == 4);
    CHECK(t.n == 4 && t.v[1].origin == MOAT_CERT_FROM_POOL && t.v[1].index == 2 &&
          t.v[3].index == 3);
    CHECK(t.n_unused == 1 && t.unused[0] == 1);
    moat_cert_trace_free(&t);
    sk_X509_pop_free(pool, X509_free);
    sk_X509_pop_free(in, X509_free);

    /* Two leaves: ambiguous, unless a key says which. */
    in = stack_of((const char *const[]){"server.pem", "server-ec.pem", "int.pem", NULL});
    CHECK_EQ(moat_cert_trace_build(in, NULL, false, NULL, &t), MOAT_OK);
    CHECK(t.status == MOAT_TRACE_AMBIGUOUS && t.n == 0);
    moat_cert_trace_free(&t);
    X509 *ec = load("server-ec.pem");
    CHECK_EQ(moat_cert_trace_build(in, NULL, false, X509_get0_pubkey(ec), &t), MOAT_OK);
    CHECK(t.status == MOAT_TRACE_INCOMPLETE && t.n == 2 && t.v[0].index == 1);
    CHECK(t.n_unused == 1 && t.unused[0] == 0);
    moat_cert_trace_free(&t);
    X509_free(ec);
    sk_X509_pop_free(in, X509_free);

    /* Roots only: nothing to start from. A duplicate leaf is one leaf. */
    in = stack_of((const char *const[]){"ca.pem", "other-ca.pem", NULL});
    CHECK_EQ(moat_cert_trace_build(in, NULL, false, NULL, &t), MOAT_OK);
    CHECK(t.status == MOAT_TRACE_NO_LEAF);
    moat_cert_trace_free(&t);
    sk_X509_pop_free(in, X509_free);
    in = stack_of((const char *const[]){"server.pem", "server-fullchain.pem", NULL});
    CHECK_EQ(moat_cert_trace_build(in, NULL, false, NULL, &t), MOAT_OK);
    CHECK(t.n == 2 && t.v[0].index == 0 && t.n_unused == 1 && t.unused[0] == 1);
    moat_cert_trace_free(&t);
    sk_X509_pop_free(in, X509_free);

    /* Same names, other key: the signature decides. */
    X509 *leaf = load("server.pem"), *other = load("other-ca.pem"), *inter = load("int.pem");
    CHECK(moat_cert_issued_by(leaf, inter));
    CHECK(!moat_cert_issued_by(leaf, other));
    CHECK(!moat_cert_issued_by(inter, leaf));
    CHECK(moat_cert_is_self_signed(other) && !moat_cert_is_self_signed(inter));
    X509_free(leaf);
    X509_free(other);
    X509_free(inter);
}

/* ----------------------------------------------------------- JSON */

static void test_json_escape(void)
{
    char out[64];
    CHECK_EQ(jw_escape("plain", out, sizeof out), 5);
    CHECK_STR(out, "plain");
    jw_escape("a\"b\\c", out, sizeof out);
    CHECK_STR(out, "a\\\"b\\\\c");
    jw_escape("t\tn\nr\rb\bf\f", out, sizeof out);
    CHECK_STR(out, "t\\tn\\nr\\rb\\bf\\f");
    jw_escape("\x01\x1f\x7f\x0b", out, sizeof out);
    CHECK_STR(out, "\\u0001\\u001f\\u007f\\u000b");
    jw_escape("caf\xc3\xa9 \xe2\x9c\x93", out, sizeof out); /* UTF-8 passes through */
    CHECK_STR(out, "caf\xc3\xa9 \xe2\x9c\x93");
    jw_escape("bad\xff\xc3(\xed\xa0\x80", out, sizeof out); /* not UTF-8, a surrogate */
    CHECK_STR(out, "bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd");
    /* Cut short: NUL-terminated, and the full length is still told. */
    char tiny[6];
    CHECK_EQ(jw_escape("a\"bcdef", tiny, sizeof tiny), 8);
    CHECK_STR(tiny, "a\\\"bc");
    CHECK_EQ(jw_escape("\n\n\n", tiny, sizeof tiny), 6);
    CHECK_STR(tiny, "\\n\\n");

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    jsonw w;
    jw_init(&w, f);
    jw_obj(&w);
    jw_kstr(&w, "a", "x\"y");
    jw_key(&w, "l");
    jw_arr(&w);
    jw_int(&w, -3);
    jw_bool(&w, true);
    jw_null(&w);
    jw_str(&w, NULL);
    jw_arr_end(&w);
    jw_key(&w, "e");
    jw_arr(&w);
    jw_arr_end(&w);
    jw_key(&w, "o");
    jw_obj(&w);
    jw_obj_end(&w);
    jw_obj_end(&w);
    jw_end(&w);
    fclose(f);
    CHECK_STR(buf, "{\n  \"a\": \"x\\\"y\",\n  \"l\": [\n    -3,\n    true,\n    null,\n    "
                   "null\n  ],\n  \"e\": [],\n  \"o\": {}\n}\n");
    free(buf);
}

int main(void)
{
    if (pki_setup() != 0)
        return 1;
    TEST(test_host);
    TEST(test_purpose);
    TEST(test_x509_v1);
    TEST(test_chain_file);
    TEST(test_anchor_required);
    TEST(test_result_and_option_names);
    TEST(test_pem_read);
    TEST(test_details);
    TEST(test_trace);
    TEST(test_json_escape);
    pki_teardown();
    return test_summary("certs_tools");
}
