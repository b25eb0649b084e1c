/* SPDX-License-Identifier: Apache-2.0 */
/* The certificate checks, one finding at a time, against the generated test
 * PKI. Each test asserts the code, the severity and the words a user will
 * read. MOAT_TEST_VERBOSE=1 prints every finding. */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certs/check.h"
#include "certs/info.h"
#include "test.h"
#include "tls_pki.h"

static void show(const char *what, const moat_cert_report *r)
{
    if (!getenv("MOAT_TEST_VERBOSE"))
        return;
    printf("--- %s: %u error(s), %u warning(s)\n", what, r->errors, r->warnings);
    for (size_t i = 0; i < r->n; i++)
        printf("  [%s] %s: %s\n      fix: %s\n",
               r->items[i].severity == MOAT_CERT_ERROR ? "error" : "warning",
               moat_cert_code_name(r->items[i].code), r->items[i].message, r->items[i].fix);
}

/* Check one server pair; the CA file is optional. */
static moat_err check_pair(const char *cert, const char *key, const char *pw, const char *ca,
                           moat_cert_report *r)
{
    moat_cert_check_args a = {
        .certfile = cert, .keyfile = key, .key_password = pw, .cacertfile = ca};
    moat_err e = moat_cert_check(&a, r);
    show(cert, r);
    return e;
}

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

/* ------------------------------------------------------------ good */

static void test_good_chain_is_clean(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-fullchain.pem"), pki("server.key"), NULL, pki("ca.pem"), &r),
             MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);

    /* Without the root at hand the chain cannot be followed to the end:
     * fine, but said. */
    CHECK_EQ(check_pair(pki("server-fullchain.pem"), pki("server.key"), NULL, NULL, &r), MOAT_OK);
    CHECK_EQ(r.errors, 0);
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_WARNING, "moat Test Root CA"));
    moat_cert_report_free(&r);

    CHECK_EQ(
        check_pair(pki("server-ec-fullchain.pem"), pki("server-ec.key"), NULL, pki("ca.pem"), &r),
        MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);
}

static void test_load_server_returns_chain(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_chain c = {0};
    CHECK_EQ(
        moat_cert_load_server(pki("server-fullchain.pem"), pki("server.key"), NULL, NULL, &c, &r),
        MOAT_OK);
    CHECK(c.leaf && c.key && c.chain);
    CHECK_EQ(sk_X509_num(c.chain), 1);
    char cn[64];
    CHECK_EQ(moat_cert_identity(c.leaf, MOAT_CERT_ID_CN, cn, sizeof cn), MOAT_OK);
    CHECK_STR(cn, "localhost");
    moat_cert_chain_free(&c);
    moat_cert_report_free(&r);
}

static void test_lets_encrypt_layout(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("le/live/example/fullchain.pem"), pki("le/live/example/privkey.pem"),
                        NULL, pki("ca.pem"), &r),
             MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);
    /* cert.pem instead of fullchain.pem: the classic. */
    CHECK_EQ(check_pair(pki("le/live/example/cert.pem"), pki("le/live/example/privkey.pem"), NULL,
                        NULL, &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_ERROR,
              "not its issuer (CN=moat Test Intermediate CA,O=moat test)"));
    CHECK(has(&r, MOAT_CERT_INTERMEDIATE_MISSING, MOAT_CERT_ERROR, "unable to get local issuer"));
    CHECK(fix_has(&r, MOAT_CERT_INTERMEDIATE_MISSING, "fullchain.pem rather than cert.pem"));
    moat_cert_report_free(&r);
}

/* ----------------------------------------------------------- files */

static void test_missing_file(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("nope.pem"), pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_FILE_MISSING, MOAT_CERT_ERROR, "nope.pem does not exist"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair("etc/certs/none.pem", pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(fix_has(&r, MOAT_CERT_FILE_MISSING, "working directory"));
    moat_cert_report_free(&r);

    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s", pki("dangling.pem"));
    unlink(link);
    CHECK_EQ(symlink("archive/cert9.pem", link), 0);
    CHECK_EQ(check_pair(link, pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_FILE_MISSING, MOAT_CERT_ERROR, "is a symbolic link to"));
    CHECK(has(&r, MOAT_CERT_FILE_MISSING, MOAT_CERT_ERROR, "archive/cert9.pem"));
    moat_cert_report_free(&r);
}

static void test_directory_and_empty(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("le/live/example"), pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_FILE_UNREADABLE, MOAT_CERT_ERROR, "is a directory"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki_write("empty.pem", "", 0), pki("server.key"), NULL, NULL, &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_FILE_EMPTY, MOAT_CERT_ERROR, "is empty"));
    moat_cert_report_free(&r);
}

/* Root reads anything, so the permission test drops to nobody in a child. */
static void test_permission_denied(void)
{
    char dir[PATH_MAX], file[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", pki("locked"));
    snprintf(file, sizeof file, "%s", pki("locked/cert.pem"));
    mkdir(dir, 0700);
    pki_cat("locked/cert.pem", "server-fullchain.pem", NULL);
    chmod(pki_dir, 0755);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        if (geteuid() != 0)
            chmod(dir, 0);
        moat_cert_report r = MOAT_CERT_REPORT_INIT;
        moat_err e = check_pair(file, pki("server.key"), NULL, NULL, &r);
        int ok =
            e == MOAT_EINVAL &&
            has(&r, MOAT_CERT_FILE_UNREADABLE, MOAT_CERT_ERROR, "permission denied") &&
            has(&r, MOAT_CERT_FILE_UNREADABLE, MOAT_CERT_ERROR, "may not enter the directory") &&
            fix_has(&r, MOAT_CERT_FILE_UNREADABLE, "chmod g+x");
        moat_cert_report_free(&r);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    chmod(dir, 0700);
}

static void test_not_pem(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server.der"), pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_PEM, MOAT_CERT_ERROR, "DER (binary) certificate"));
    CHECK(fix_has(&r, MOAT_CERT_NOT_PEM, "openssl x509 -inform der -in"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server.p12"), pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_PEM, MOAT_CERT_ERROR, "PKCS#12"));
    CHECK(fix_has(&r, MOAT_CERT_NOT_PEM, "-clcerts -nokeys"));
    moat_cert_report_free(&r);

    const char *txt = pki_write("notes.txt", "my certificate\n", 15);
    CHECK_EQ(check_pair(txt, pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_PEM, MOAT_CERT_ERROR, "holds no PEM data"));
    moat_cert_report_free(&r);
}

static void test_pem_damaged(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    FILE *f = fopen(pki("server.pem"), "r");
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    /* cut off the END line */
    CHECK(n > 100);
    const char *cut = pki_write("cut.pem", buf, n - 30);
    CHECK_EQ(check_pair(cut, pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_PEM_CORRUPT) != NULL);
    moat_cert_report_free(&r);
    /* a damaged base64 body */
    buf[100] = '*';
    buf[101] = '*';
    const char *bad = pki_write("bad64.pem", buf, n);
    CHECK_EQ(check_pair(bad, pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(moat_cert_report_find(&r, MOAT_CERT_PEM_CORRUPT) != NULL);
    moat_cert_report_free(&r);
}

static void test_wrong_content(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server.key"), pki("server.pem"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_WRONG_CONTENT, MOAT_CERT_ERROR,
              "holds a private key but no certificate: are certfile and keyfile swapped?"));
    CHECK(
        has(&r, MOAT_CERT_WRONG_CONTENT, MOAT_CERT_ERROR, "holds certificates but no private key"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server.csr"), pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_WRONG_CONTENT, MOAT_CERT_ERROR, "certificate signing request"));
    moat_cert_report_free(&r);

    /* one file holding both is fine for both options */
    const char *both = pki_cat("combined.pem", "server-fullchain.pem", "server.key", NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", both);
    CHECK_EQ(check_pair(path, path, NULL, pki("ca.pem"), &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);
}

/* ------------------------------------------------------------- keys */

static void test_key_mismatch(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-fullchain.pem"), pki("server-ec.key"), NULL, pki("ca.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_MISMATCH, MOAT_CERT_ERROR, "does not belong to the certificate"));
    CHECK(fix_has(&r, MOAT_CERT_KEY_MISMATCH, "sha256sum"));
    moat_cert_report_free(&r);
}

static void test_encrypted_key(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(
        check_pair(pki("server-fullchain.pem"), pki("server-enc.key"), NULL, pki("ca.pem"), &r),
        MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_ENCRYPTED, MOAT_CERT_ERROR, "encrypted and no key_password"));
    moat_cert_report_free(&r);

    CHECK_EQ(
        check_pair(pki("server-fullchain.pem"), pki("server-enc.key"), "wrong", pki("ca.pem"), &r),
        MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_BAD_PASSWORD, MOAT_CERT_ERROR, "wrong passphrase"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server-fullchain.pem"), pki("server-enc-trad.key"), "wrong",
                        pki("ca.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_KEY_BAD_PASSWORD, MOAT_CERT_ERROR, "wrong passphrase"));
    moat_cert_report_free(&r);

    const char *keys[] = {"server-enc.key", "server-enc-trad.key"};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(check_pair(pki("server-fullchain.pem"), pki(keys[i]), "secret", pki("ca.pem"), &r),
                 MOAT_OK);
        CHECK_EQ(r.n, 0);
        moat_cert_report_free(&r);
    }

    CHECK_EQ(
        check_pair(pki("server-fullchain.pem"), pki("server.key"), "secret", pki("ca.pem"), &r),
        MOAT_OK);
    CHECK(has(&r, MOAT_CERT_KEY_PASSWORD_UNUSED, MOAT_CERT_WARNING, "not encrypted"));
    moat_cert_report_free(&r);

    const char *two = pki_cat("two-keys.pem", "server.key", "server-ec.key", NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", two);
    CHECK_EQ(check_pair(pki("server-fullchain.pem"), path, NULL, pki("ca.pem"), &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_KEY_EXTRA, MOAT_CERT_WARNING, "2 private keys"));
    moat_cert_report_free(&r);
}

/* ----------------------------------------------------------- chains */

static void test_ca_first(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-reversed.pem"), pki("server.key"), NULL, pki("ca.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_CA_FIRST, MOAT_CERT_ERROR,
              "starts with a CA certificate (CN=moat Test Intermediate CA,O=moat test)"));
    CHECK(has(&r, MOAT_CERT_CA_FIRST, MOAT_CERT_ERROR, "the order is reversed"));
    CHECK(fix_has(&r, MOAT_CERT_CA_FIRST,
                  "1. CN=localhost,O=moat test, then 2. CN=moat Test Intermediate CA"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("ca-bundle.pem"), pki("server.key"), NULL, NULL, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_CA_FIRST, MOAT_CERT_ERROR, "holds only CA certificates"));
    CHECK(fix_has(&r, MOAT_CERT_CA_FIRST, "cacertfile"));
    moat_cert_report_free(&r);
}

static void test_chain_order_and_unrelated(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-misordered.pem"), pki("server.key"), NULL, pki("ca.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_CHAIN_ORDER, MOAT_CERT_ERROR,
              "out of order: certificate #2 (CN=moat Test Root CA,O=moat test) did not issue #1"));
    CHECK(fix_has(&r, MOAT_CERT_CHAIN_ORDER, "then 2. CN=moat Test Intermediate CA"));
    moat_cert_report_free(&r);

    const char *p = pki_cat("unrelated.pem", "server.pem", "other-ca.pem", NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", p);
    CHECK_EQ(check_pair(path, pki("server.key"), NULL, pki("ca.pem"), &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_CHAIN_UNRELATED, MOAT_CERT_ERROR, "certificate #2 in"));
    CHECK(has(&r, MOAT_CERT_CHAIN_UNRELATED, MOAT_CERT_ERROR, "does not belong to the chain"));
    moat_cert_report_free(&r);
}

static void test_root_included(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-chain-with-root.pem"), pki("server.key"), NULL, NULL, &r),
             MOAT_OK);
    CHECK(has(&r, MOAT_CERT_ROOT_INCLUDED, MOAT_CERT_WARNING, "ends with the root CA"));
    CHECK(has(&r, MOAT_CERT_ROOT_INCLUDED, MOAT_CERT_WARNING, "harmless"));
    moat_cert_report_free(&r);
}

/* EMQX users keep intermediates in cacertfile; moat serves them, and says so. */
static void test_chain_completed_from_cacertfile(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_opts o = {.trusted_file = "ca-bundle.pem"};
    CHECK_EQ(moat_cert_load_ca(pki("ca-bundle.pem"), false, &o, &o.trusted, &r), MOAT_OK);
    moat_cert_chain c = {0};
    CHECK_EQ(moat_cert_load_server(pki("server.pem"), pki("server.key"), NULL, &o, &c, &r),
             MOAT_OK);
    show("server.pem + ca-bundle.pem", &r);
    CHECK(has(&r, MOAT_CERT_CHAIN_COMPLETED, MOAT_CERT_WARNING,
              "moat serves them from ca-bundle.pem: CN=moat Test Intermediate CA"));
    CHECK_EQ(sk_X509_num(c.chain), 1);
    moat_cert_chain_free(&c);
    sk_X509_pop_free(o.trusted, X509_free);
    moat_cert_report_free(&r);
}

/* ----------------------------------------------------------- leaves */

static void test_validity(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-expired.pem"), pki("server-expired.key"), NULL,
                        pki("ca-bundle.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_EXPIRED, MOAT_CERT_ERROR, "expired on 2021-01-01 00:00 UTC"));
    CHECK(has(&r, MOAT_CERT_EXPIRED, MOAT_CERT_ERROR, "day(s) ago"));
    CHECK(fix_has(&r, MOAT_CERT_EXPIRED, "certbot renew"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server-notyet.pem"), pki("server-notyet.key"), NULL,
                        pki("ca-bundle.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_YET_VALID, MOAT_CERT_ERROR, "not valid before 2099-01-01"));
    CHECK(fix_has(&r, MOAT_CERT_NOT_YET_VALID, "clock"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server-expiring.pem"), pki("server-expiring.key"), NULL,
                        pki("ca-bundle.pem"), &r),
             MOAT_OK);
    CHECK(has(&r, MOAT_CERT_EXPIRES_SOON, MOAT_CERT_WARNING, "in 9 day(s)") ||
          has(&r, MOAT_CERT_EXPIRES_SOON, MOAT_CERT_WARNING, "in 10 day(s)"));
    moat_cert_report_free(&r);
}

static void test_leaf_properties(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_pair(pki("server-clientauth.pem"), pki("server-clientauth.key"), NULL,
                        pki("ca-bundle.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NO_SERVER_AUTH, MOAT_CERT_ERROR,
              "is only for TLS Web Client Authentication: it lacks the serverAuth"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server-nosan.pem"), pki("server-nosan.key"), NULL,
                        pki("ca-bundle.pem"), &r),
             MOAT_OK);
    CHECK(has(&r, MOAT_CERT_NO_SAN, MOAT_CERT_WARNING, "ignore the CN ('localhost')"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_pair(pki("server-rsa1024.pem"), pki("server-rsa1024.key"), NULL,
                        pki("ca-bundle.pem"), &r),
             MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_WEAK_KEY, MOAT_CERT_ERROR, "RSA key of 1024 bits"));
    moat_cert_report_free(&r);

    CHECK_EQ(
        check_pair(pki("server-k256.pem"), pki("server-k256.key"), NULL, pki("ca-bundle.pem"), &r),
        MOAT_OK);
    CHECK(has(&r, MOAT_CERT_UNUSUAL_CURVE, MOAT_CERT_WARNING, "secp256k1"));
    moat_cert_report_free(&r);

    /* An error: OpenSSL at moat's security level refuses it anyway. */
    CHECK_EQ(
        check_pair(pki("server-sha1.pem"), pki("server-sha1.key"), NULL, pki("ca-bundle.pem"), &r),
        MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_SHA1, MOAT_CERT_ERROR, "signed with SHA-1"));
    moat_cert_report_free(&r);
}

/* Dates are checked as of a given time: 2020-06-01 makes the expired
 * certificate valid and every other one not yet valid. */
static void test_check_time(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_cert_check_args a = {.certfile = pki("server-expired.pem"),
                              .keyfile = pki("server-expired.key"),
                              .now = 1590969600};
    CHECK_EQ(moat_cert_check(&a, &r), MOAT_EINVAL); /* its intermediate is not valid yet */
    CHECK(moat_cert_report_find(&r, MOAT_CERT_EXPIRED) == NULL);
    moat_cert_report_free(&r);
}

/* ---------------------------------------------------------- CA file */

static moat_err check_ca(const char *path, bool partial, moat_cert_report *r)
{
    STACK_OF(X509) *sk = NULL;
    moat_err e = moat_cert_load_ca(path, partial, NULL, &sk, r);
    show(path, r);
    sk_X509_pop_free(sk, X509_free);
    return e;
}

static void test_ca_file(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    CHECK_EQ(check_ca(pki("ca.pem"), false, &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);

    CHECK_EQ(check_ca(pki("no-ca.pem"), false, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_FILE_MISSING, MOAT_CERT_ERROR, "CA file"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_ca(pki("server.der"), false, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_NOT_PEM, MOAT_CERT_ERROR, "DER"));
    moat_cert_report_free(&r);

    const char *mixed = pki_cat("ca-mixed.pem", "ca.pem", "client.pem", NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", mixed);
    CHECK_EQ(check_ca(path, false, &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_CA_NOT_CA, MOAT_CERT_WARNING, "certificate #2 in the CA file"));
    CHECK(has(&r, MOAT_CERT_CA_NOT_CA, MOAT_CERT_WARNING, "is not a CA certificate"));
    moat_cert_report_free(&r);

    CHECK_EQ(check_ca(pki("int.pem"), false, &r), MOAT_OK);
    CHECK(has(&r, MOAT_CERT_CA_NO_ROOT, MOAT_CERT_WARNING, "but not the root"));
    CHECK(fix_has(&r, MOAT_CERT_CA_NO_ROOT, "partial_chain = true"));
    moat_cert_report_free(&r);
    CHECK_EQ(check_ca(pki("int.pem"), true, &r), MOAT_OK);
    CHECK_EQ(r.n, 0);
    moat_cert_report_free(&r);
}

static void test_dh_file(void)
{
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    EVP_PKEY *dh = NULL;
    CHECK_EQ(moat_cert_load_dh(pki("dh.pem"), &dh, &r), MOAT_OK);
    CHECK(dh != NULL);
    EVP_PKEY_free(dh);
    dh = NULL;
    CHECK_EQ(moat_cert_load_dh(pki("dh-small.pem"), &dh, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_DH_WEAK, MOAT_CERT_ERROR, "1024 bits"));
    CHECK_EQ(moat_cert_load_dh(pki("ca.pem"), &dh, &r), MOAT_EINVAL);
    CHECK(has(&r, MOAT_CERT_DH_INVALID, MOAT_CERT_ERROR, "holds no Diffie-Hellman parameters"));
    show("dh", &r);
    moat_cert_report_free(&r);
}

/* -------------------------------------------------------- identity */

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return x;
}

static void test_identity_values(void)
{
    X509 *x = read_cert(pki("client.pem"));
    char buf[4096];
    CHECK(x != NULL);
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_CN, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, "device-001");
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_DN, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, "CN=device-001,OU=devices,O=moat test");
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_SAN_DNS, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, "device-001.example.com");
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_SAN_EMAIL, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, "device-001@example.com");
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_SAN_URI, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, "urn:moat:device-001");
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_SAN_IP, buf, sizeof buf), MOAT_OK);
    CHECK_STR(buf, "10.0.0.1");
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_FINGERPRINT, buf, sizeof buf), MOAT_OK);
    CHECK_EQ(strlen(buf), 64);
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_MD5, buf, sizeof buf), MOAT_OK);
    CHECK_EQ(strlen(buf), 32);
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_PEM, buf, sizeof buf), MOAT_OK);
    CHECK(strncmp(buf, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_CRT, buf, sizeof buf), MOAT_OK);
    CHECK(strncmp(buf, "MII", 3) == 0 && !strchr(buf, '\n'));
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_PEM, buf, 100), MOAT_ELIMIT);
    moat_cert_id id;
    CHECK_EQ(moat_cert_id_parse("san_email", &id), MOAT_OK);
    CHECK_EQ(id, MOAT_CERT_ID_SAN_EMAIL);
    CHECK_EQ(moat_cert_id_parse("nope", &id), MOAT_EINVAL);

    moat_cert_info in;
    CHECK_EQ(moat_cert_info_get(x, &in), MOAT_OK);
    CHECK_STR(in.cn, "device-001");
    CHECK_EQ(in.dns.n, 1);
    CHECK_EQ(in.email.n, 1);
    CHECK_EQ(in.uri.n, 1);
    CHECK_EQ(in.ip.n, 1);
    CHECK_STR(in.key, "EC P-256");
    CHECK(!in.is_ca && !in.self_signed && in.not_after > in.not_before);
    moat_cert_info_free(&in);
    X509_free(x);

    /* a certificate without SAN has no SAN identity */
    x = read_cert(pki("server-nosan.pem"));
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_SAN_DNS, buf, sizeof buf), MOAT_ENOTFOUND);
    X509_free(x);
}

/* A CN with a newline or other control character is not an identity. */
static void test_identity_refuses_control_chars(void)
{
    X509 *x = X509_new();
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"evil\r\nadmin", -1,
                               -1, 0);
    char buf[256];
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_CN, buf, sizeof buf), MOAT_EINVAL);
    /* the DN text escapes them instead */
    CHECK_EQ(moat_cert_identity(x, MOAT_CERT_ID_DN, buf, sizeof buf), MOAT_OK);
    CHECK(!strchr(buf, '\n') && !strchr(buf, '\r'));
    X509_free(x);
}

int main(void)
{
    if (pki_setup() != 0)
        return 1;
    TEST(test_good_chain_is_clean);
    TEST(test_load_server_returns_chain);
    TEST(test_lets_encrypt_layout);
    TEST(test_missing_file);
    TEST(test_directory_and_empty);
    TEST(test_permission_denied);
    TEST(test_not_pem);
    TEST(test_pem_damaged);
    TEST(test_wrong_content);
    TEST(test_key_mismatch);
    TEST(test_encrypted_key);
    TEST(test_ca_first);
    TEST(test_chain_order_and_unrelated);
    TEST(test_root_included);
    TEST(test_chain_completed_from_cacertfile);
    TEST(test_validity);
    TEST(test_leaf_properties);
    TEST(test_check_time);
    TEST(test_ca_file);
    TEST(test_dh_file);
    TEST(test_identity_values);
    TEST(test_identity_refuses_control_chars);
    pki_teardown();
    return test_summary("certcheck");
}
