/* SPDX-License-Identifier: Apache-2.0 */
/* certs/gen.c and certs/devset.c: the extensions of each kind, key types,
 * signature digests, validity, chains that X509_verify_cert accepts, file
 * modes, refusal to overwrite, the issuer checks and the development set
 * (which moat's own certificate checks must accept without a warning). */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/check.h"
#include "certs/devset.h"
#include "certs/gen.h"
#include "test.h"

static char tmp_root[256];
static int dir_seq;

/* A fresh directory under the test's temporary root. */
static const char *new_dir(void)
{
    static char d[16][300];
    char *p = d[dir_seq % 16];
    snprintf(p, sizeof d[0], "%s/d%d", tmp_root, dir_seq++);
    return p;
}

static const char *path_in(const char *dir, const char *name)
{
    static char b[16][600];
    static int next;
    char *p = b[next++ % 16];
    snprintf(p, sizeof b[0], "%s/%s", dir, name);
    return p;
}

typedef struct pair {
    X509 *cert;
    EVP_PKEY *key;
} pair;

static void pair_free(pair *p)
{
    X509_free(p->cert);
    EVP_PKEY_free(p->key);
    p->cert = NULL;
    p->key = NULL;
}

/* A key and certificate of kind, signed by issuer (NULL: self-signed). */
static pair make(moat_gen_kind kind, moat_gen_key kt, const char *cn, const char *san,
                 unsigned days, const pair *issuer, int64_t now)
{
    pair p = {0};
    char err[512];
    GENERAL_NAMES *names = NULL;
    CHECK(moat_gen_keypair(kt, &p.key, err, sizeof err) == MOAT_OK);
    if (san)
        CHECK(moat_gen_san_parse(san, &names, err, sizeof err) == MOAT_OK);
    moat_gen_spec s = {.kind = kind, .cn = cn, .san = names, .days = days, .now = now};
    moat_err e = moat_gen_cert(&s, p.key, issuer ? issuer->cert : NULL, issuer ? issuer->key : NULL,
                               &p.cert, NULL, err, sizeof err);
    if (e)
        fprintf(stderr, "make %s: %s\n", cn, err);
    CHECK(e == MOAT_OK);
    GENERAL_NAMES_free(names);
    return p;
}

static int ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static bool has_ext(X509 *x, int nid)
{
    return X509_get_ext_by_NID(x, nid, -1) >= 0;
}

static bool verify(X509 *root, X509 *untrusted, X509 *leaf, int purpose)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE_add_cert(st, root);
    if (untrusted)
        sk_X509_push(chain, untrusted);
    X509_STORE_CTX_init(ctx, st, leaf, chain);
    if (purpose)
        X509_STORE_CTX_set_purpose(ctx, purpose);
    int ok = X509_verify_cert(ctx);
    if (ok != 1 && getenv("MOAT_TEST_VERBOSE"))
        fprintf(stderr, "verify: %s\n",
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_free(chain);
    return ok == 1;
}

static bool same_octets(const ASN1_OCTET_STRING *a, const ASN1_OCTET_STRING *b)
{
    return a && b && ASN1_OCTET_STRING_cmp(a, b) == 0;
}

static const ASN1_OCTET_STRING *akid_keyid(X509 *x)
{
    static AUTHORITY_KEYID *last;
    AUTHORITY_KEYID_free(last);
    last = x ? X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL) : NULL;
    return last ? last->keyid : NULL;
}

/* ---- keys and digests ---- */

static void test_key_types(void)
{
    static const struct {
        moat_gen_key k;
        int id, bits;
    } want[] = {
        {MOAT_KEY_EC256, EVP_PKEY_EC, 256},      {MOAT_KEY_EC384, EVP_PKEY_EC, 384},
        {MOAT_KEY_ED25519, EVP_PKEY_ED25519, 0}, {MOAT_KEY_RSA2048, EVP_PKEY_RSA, 2048},
        {MOAT_KEY_RSA3072, EVP_PKEY_RSA, 3072},  {MOAT_KEY_RSA4096, EVP_PKEY_RSA, 4096},
    };
    char err[256], desc[32];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        EVP_PKEY *k = NULL;
        CHECK(moat_gen_keypair(want[i].k, &k, err, sizeof err) == MOAT_OK);
        CHECK(k && EVP_PKEY_get_base_id(k) == want[i].id);
        CHECK(k && (!want[i].bits || EVP_PKEY_get_bits(k) == want[i].bits));
        moat_gen_key parsed;
        CHECK(moat_gen_key_parse(moat_gen_key_name(want[i].k), &parsed) && parsed == want[i].k);
        moat_gen_key_desc(k, desc, sizeof desc);
        CHECK(desc[0] != '\0');
        EVP_PKEY_free(k);
    }
    moat_gen_key k;
    CHECK(!moat_gen_key_parse("rsa1024", &k));
    CHECK(!moat_gen_key_parse("dsa", &k));
    CHECK(moat_gen_key_parse("P-384", &k) && k == MOAT_KEY_EC384);
    moat_gen_kind kind;
    CHECK(moat_gen_kind_parse("int", &kind) && kind == MOAT_GEN_INTERMEDIATE);
    CHECK(moat_gen_kind_parse("Server", &kind) && kind == MOAT_GEN_SERVER);
    CHECK(!moat_gen_kind_parse("leaf", &kind));
}

static void test_digests(void)
{
    pair ec = make(MOAT_GEN_CA, MOAT_KEY_EC256, "ec", NULL, 10, NULL, 0);
    pair p384 = make(MOAT_GEN_CA, MOAT_KEY_EC384, "p384", NULL, 10, NULL, 0);
    pair ed = make(MOAT_GEN_CA, MOAT_KEY_ED25519, "ed", NULL, 10, NULL, 0);
    pair rsa = make(MOAT_GEN_CA, MOAT_KEY_RSA2048, "rsa", NULL, 10, NULL, 0);
    CHECK(X509_get_signature_nid(ec.cert) == NID_ecdsa_with_SHA256);
    CHECK(X509_get_signature_nid(p384.cert) == NID_ecdsa_with_SHA384);
    CHECK(X509_get_signature_nid(ed.cert) == NID_ED25519);
    CHECK(X509_get_signature_nid(rsa.cert) == NID_sha256WithRSAEncryption);
    /* the digest follows the signing key, not the new one */
    pair leaf = make(MOAT_GEN_SERVER, MOAT_KEY_EC256, "localhost", "DNS:localhost", 5, &p384, 0);
    CHECK(X509_get_signature_nid(leaf.cert) == NID_ecdsa_with_SHA384);
    pair leaf2 = make(MOAT_GEN_CLIENT, MOAT_KEY_RSA2048, "c", NULL, 5, &ed, 0);
    CHECK(X509_get_signature_nid(leaf2.cert) == NID_ED25519);
    CHECK(verify(ed.cert, NULL, leaf2.cert, X509_PURPOSE_SSL_CLIENT));
    CHECK(verify(p384.cert, NULL, leaf.cert, X509_PURPOSE_SSL_SERVER));
    pair_free(&ec);
    pair_free(&p384);
    pair_free(&ed);
    pair_free(&rsa);
    pair_free(&leaf);
    pair_free(&leaf2);
}

/* ---- extensions per kind ---- */

static void test_ca(void)
{
    time_t now = time(NULL);
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Test Root", NULL, 3650, NULL, (int64_t)now);
    X509 *x = ca.cert;
    CHECK(X509_get_version(x) == X509_VERSION_3);
    CHECK(X509_self_signed(x, 1) == 1);
    CHECK(ext_critical(x, NID_basic_constraints) == 1);
    CHECK(X509_check_ca(x) == 1);
    CHECK(X509_get_pathlen(x) == -1);
    CHECK(ext_critical(x, NID_key_usage) == 1);
    CHECK(X509_get_key_usage(x) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(has_ext(x, NID_subject_key_identifier));
    CHECK(!has_ext(x, NID_authority_key_identifier));
    CHECK(!has_ext(x, NID_ext_key_usage));
    CHECK(!has_ext(x, NID_subject_alt_name));
    /* notBefore 5 minutes back, notAfter the days ahead */
    time_t t = now - 301;
    CHECK(X509_cmp_time(X509_get0_notBefore(x), &t) > 0);
    t = now - 299;
    CHECK(X509_cmp_time(X509_get0_notBefore(x), &t) < 0);
    int days = 0, secs = 0;
    ASN1_TIME *n = ASN1_TIME_set(NULL, now);
    CHECK(ASN1_TIME_diff(&days, &secs, n, X509_get0_notAfter(x)) && days == 3650 && secs == 0);
    ASN1_TIME_free(n);
    /* serial: positive, 128 bits */
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    CHECK(bn && !BN_is_negative(bn) && BN_num_bits(bn) == 128);
    pair ca2 = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Test Root", NULL, 3650, NULL, 0);
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(ca2.cert)) != 0);
    char subj[256];
    moat_gen_subject(x, subj, sizeof subj);
    CHECK_STR(subj, "CN=Test Root");
    BN_free(bn);
    pair_free(&ca);
    pair_free(&ca2);
}

static void test_intermediate(void)
{
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 3650, NULL, 0);
    pair in = make(MOAT_GEN_INTERMEDIATE, MOAT_KEY_EC384, "Int", NULL, 1825, &ca, 0);
    X509 *x = in.cert;
    CHECK(ext_critical(x, NID_basic_constraints) == 1);
    CHECK(X509_check_ca(x) == 1);
    CHECK(X509_get_pathlen(x) == 0);
    CHECK(ext_critical(x, NID_key_usage) == 1);
    CHECK(X509_get_key_usage(x) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(same_octets(akid_keyid(x), X509_get0_subject_key_id(ca.cert)));
    CHECK(X509_check_issued(ca.cert, x) == X509_V_OK);
    CHECK(verify(ca.cert, NULL, x, 0));
    pair_free(&ca);
    pair_free(&in);
}

static void test_server(void)
{
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 3650, NULL, 0);
    pair in = make(MOAT_GEN_INTERMEDIATE, MOAT_KEY_EC256, "Int", NULL, 1825, &ca, 0);
    pair ec = make(MOAT_GEN_SERVER, MOAT_KEY_EC256, "mqtt.example.com",
                   "DNS:mqtt.example.com,IP:192.0.2.7,IP:2001:db8::1,*.example.org", 825, &in, 0);
    pair rsa = make(MOAT_GEN_SERVER, MOAT_KEY_RSA2048, "localhost", "DNS:localhost", 825, &in, 0);
    X509 *x = ec.cert;
    CHECK(ext_critical(x, NID_basic_constraints) == 0);
    CHECK(X509_check_ca(x) == 0);
    CHECK(ext_critical(x, NID_key_usage) == 1);
    CHECK(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);
    CHECK(X509_get_key_usage(rsa.cert) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
    CHECK(ext_critical(x, NID_ext_key_usage) == 0);
    CHECK(X509_get_extended_key_usage(x) == XKU_SSL_SERVER);
    CHECK(ext_critical(x, NID_subject_alt_name) == 0);
    CHECK(X509_check_host(x, "mqtt.example.com", 0, 0, NULL) == 1);
    CHECK(X509_check_host(x, "a.example.org", 0, 0, NULL) == 1);
    CHECK(X509_check_host(x, "other.example.com", 0, 0, NULL) == 0);
    CHECK(X509_check_ip_asc(x, "192.0.2.7", 0) == 1);
    CHECK(X509_check_ip_asc(x, "2001:db8::1", 0) == 1);
    CHECK(has_ext(x, NID_subject_key_identifier));
    CHECK(same_octets(akid_keyid(x), X509_get0_subject_key_id(in.cert)));
    CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) == 1);
    CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) != 1);
    CHECK(verify(ca.cert, in.cert, x, X509_PURPOSE_SSL_SERVER));
    CHECK(verify(ca.cert, in.cert, rsa.cert, X509_PURPOSE_SSL_SERVER));
    CHECK(!verify(ca.cert, NULL, x, X509_PURPOSE_SSL_SERVER)); /* needs the intermediate */
    CHECK(!verify(ca.cert, in.cert, x, X509_PURPOSE_SSL_CLIENT));
    char names[256];
    moat_gen_names_text(x, true, names, sizeof names);
    CHECK_STR(names, "DNS:mqtt.example.com, IP:192.0.2.7, IP:2001:db8::1, DNS:*.example.org");
    pair_free(&ca);
    pair_free(&in);
    pair_free(&ec);
    pair_free(&rsa);
}

static void test_client(void)
{
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 3650, NULL, 0);
    pair c = make(MOAT_GEN_CLIENT, MOAT_KEY_ED25519, "device-001", NULL, 825, &ca, 0);
    pair c2 = make(MOAT_GEN_CLIENT, MOAT_KEY_EC256, "device-002",
                   "URI:urn:moat:device-002,email:d2@example.com", 825, &ca, 0);
    X509 *x = c.cert;
    CHECK(X509_check_ca(x) == 0);
    CHECK(X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);
    CHECK(X509_get_extended_key_usage(x) == XKU_SSL_CLIENT);
    CHECK(!has_ext(x, NID_subject_alt_name));
    CHECK(has_ext(c2.cert, NID_subject_alt_name));
    CHECK(X509_check_email(c2.cert, "d2@example.com", 0, 0) == 1);
    CHECK(verify(ca.cert, NULL, x, X509_PURPOSE_SSL_CLIENT));
    CHECK(verify(ca.cert, NULL, c2.cert, X509_PURPOSE_SSL_CLIENT));
    CHECK(!verify(ca.cert, NULL, x, X509_PURPOSE_SSL_SERVER));
    pair_free(&ca);
    pair_free(&c);
    pair_free(&c2);
}

static void test_validity_capped(void)
{
    char err[512];
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Short Root", NULL, 10, NULL, 0);
    pair leaf = {0};
    bool capped = false;
    CHECK(moat_gen_keypair(MOAT_KEY_EC256, &leaf.key, err, sizeof err) == MOAT_OK);
    moat_gen_spec s = {.kind = MOAT_GEN_CLIENT, .cn = "c", .days = 825};
    CHECK(moat_gen_cert(&s, leaf.key, ca.cert, ca.key, &leaf.cert, &capped, err, sizeof err) ==
          MOAT_OK);
    CHECK(capped);
    CHECK(ASN1_TIME_compare(X509_get0_notAfter(leaf.cert), X509_get0_notAfter(ca.cert)) == 0);
    CHECK(ASN1_TIME_compare(X509_get0_notBefore(leaf.cert), X509_get0_notBefore(ca.cert)) >= 0);
    pair_free(&leaf);
    pair_free(&ca);
}

static void test_bad_specs(void)
{
    char err[512];
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 10, NULL, 0);
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    CHECK(moat_gen_keypair(MOAT_KEY_EC256, &k, err, sizeof err) == MOAT_OK);
    moat_gen_spec s = {.kind = MOAT_GEN_SERVER, .cn = "x", .days = 10};
    CHECK(moat_gen_cert(&s, k, NULL, NULL, &x, NULL, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "must be signed by a CA") != NULL);
    s.kind = MOAT_GEN_CA;
    CHECK(moat_gen_cert(&s, k, ca.cert, ca.key, &x, NULL, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "intermediate") != NULL);
    s.days = 0;
    CHECK(moat_gen_cert(&s, k, NULL, NULL, &x, NULL, err, sizeof err) == MOAT_EINVAL);
    s.days = 10;
    char long_cn[100];
    memset(long_cn, 'a', 80);
    long_cn[80] = '\0';
    s.cn = long_cn;
    CHECK(moat_gen_cert(&s, k, NULL, NULL, &x, NULL, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "--cn") != NULL && strstr(err, "64") != NULL);
    s.cn = "";
    CHECK(moat_gen_cert(&s, k, NULL, NULL, &x, NULL, err, sizeof err) == MOAT_EINVAL);
    CHECK(x == NULL);
    EVP_PKEY_free(k);
    pair_free(&ca);
    ERR_clear_error();
}

static void test_san_parse(void)
{
    char err[512];
    GENERAL_NAMES *g = NULL;
    CHECK(moat_gen_san_parse("DNS:a.example, IP:10.0.0.1 ,::1,b.example,"
                             "email:x@example.com,URI:urn:x:y,dns:C.example",
                             &g, err, sizeof err) == MOAT_OK);
    CHECK(sk_GENERAL_NAME_num(g) == 7);
    CHECK(moat_gen_san_has(g, "a.example"));
    CHECK(moat_gen_san_has(g, "c.EXAMPLE")); /* DNS names compare without case */
    CHECK(moat_gen_san_has(g, "10.0.0.1"));
    CHECK(moat_gen_san_has(g, "0:0::1")); /* addresses compare as bytes */
    CHECK(moat_gen_san_has(g, "b.example"));
    CHECK(!moat_gen_san_has(g, "10.0.0.2"));
    static const struct {
        const char *in, *words;
    } bad[] = {
        {"FOO:bar", "unknown kind 'FOO:'"},           {"DNS:", "has no value"},
        {"DNS:bad name", "is not a DNS name"},        {"DNS:a..b", "is not a DNS name"},
        {"IP:300.1.1.1", "is not an IP address"},     {"IP:example.com", "is not an IP address"},
        {"email:nobody", "is not an e-mail address"}, {"URI:nocolon", "is not a URI"},
        {"DNS:\xc3\xa9t\xc3\xa9.example", "xn--"},    {"ok.example,DNS:-", "is not a DNS name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(moat_gen_san_parse(bad[i].in, &g, err, sizeof err) == MOAT_EINVAL);
        if (!strstr(err, bad[i].words))
            fprintf(stderr, "san '%s': message '%s' lacks '%s'\n", bad[i].in, err, bad[i].words);
        CHECK(strstr(err, bad[i].words) != NULL);
    }
    CHECK(sk_GENERAL_NAME_num(g) == 7); /* nothing appended on error */
    GENERAL_NAMES_free(g);
    CHECK(moat_gen_is_hostname("localhost"));
    CHECK(moat_gen_is_hostname("*.example.com"));
    CHECK(!moat_gen_is_hostname("a.*.example.com"));
    CHECK(!moat_gen_is_hostname("example.com."));
    CHECK(!moat_gen_is_hostname("My Broker"));
    CHECK(moat_gen_is_ip("::1") && moat_gen_is_ip("127.0.0.1") && !moat_gen_is_ip("1.2.3"));
}

/* ---- the issuer checks ---- */

static void test_issuer_checks(void)
{
    char err[1024];
    time_t now = time(NULL);
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 3650, NULL, 0);
    pair other = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Other", NULL, 3650, NULL, 0);
    pair in = make(MOAT_GEN_INTERMEDIATE, MOAT_KEY_EC256, "Int", NULL, 1825, &ca, 0);
    pair leaf = make(MOAT_GEN_SERVER, MOAT_KEY_EC256, "localhost", "DNS:localhost", 825, &ca, 0);
    pair old = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Old", NULL, 10, NULL, (int64_t)now - 30 * 86400);
    CHECK(moat_gen_check_issuer(ca.cert, ca.key, MOAT_GEN_SERVER, 0, "ca.pem", "ca.key", err,
                                sizeof err) == MOAT_OK);
    CHECK(moat_gen_check_issuer(ca.cert, ca.key, MOAT_GEN_INTERMEDIATE, 0, "ca.pem", "ca.key", err,
                                sizeof err) == MOAT_OK);
    CHECK(moat_gen_check_issuer(in.cert, in.key, MOAT_GEN_CLIENT, 0, "int.pem", "int.key", err,
                                sizeof err) == MOAT_OK);
    CHECK(moat_gen_check_issuer(in.cert, in.key, MOAT_GEN_INTERMEDIATE, 0, "int.pem", "int.key",
                                err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "pathlen 0") != NULL);
    CHECK(moat_gen_check_issuer(leaf.cert, leaf.key, MOAT_GEN_SERVER, 0, "server.pem", "server.key",
                                err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "server.pem (CN=localhost) is not a CA certificate") != NULL);
    CHECK(strstr(err, "moat certs gen ca") != NULL);
    CHECK(moat_gen_check_issuer(ca.cert, other.key, MOAT_GEN_SERVER, 0, "ca.pem", "other.key", err,
                                sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "other.key is not the private key of ca.pem") != NULL);
    CHECK(moat_gen_check_issuer(old.cert, old.key, MOAT_GEN_SERVER, 0, "old.pem", "old.key", err,
                                sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "expired on") != NULL);
    CHECK(moat_gen_check_issuer(ca.cert, ca.key, MOAT_GEN_CA, 0, "ca.pem", "ca.key", err,
                                sizeof err) == MOAT_EINVAL);
    pair_free(&ca);
    pair_free(&other);
    pair_free(&in);
    pair_free(&leaf);
    pair_free(&old);
    CHECK(ERR_peek_error() == 0);
}

/* ---- files ---- */

static mode_t mode_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (st.st_mode & 07777) : (mode_t)-1;
}

static char *read_all(const char *p)
{
    FILE *f = fopen(p, "rb");
    char *buf = calloc(1, 65536);
    if (f && buf)
        fread(buf, 1, 65535, f);
    if (f)
        fclose(f);
    return buf;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static bool no_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool ok = d != NULL;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp"))
            ok = false;
    if (d)
        closedir(d);
    return ok;
}

static void test_issue_files(void)
{
    char err[1024];
    const char *dir = new_dir();
    char nested[400];
    snprintf(nested, sizeof nested, "%s/a/b", dir);
    moat_gen_issued ca = {0}, in = {0}, srv = {0};
    moat_gen_request r = {.kind = MOAT_GEN_CA, .cn = "Root", .dir = nested, .base = "ca"};
    CHECK(moat_gen_issue(&r, &ca, err, sizeof err) == MOAT_OK); /* makes the directories */
    CHECK_STR(ca.cert_path, path_in(nested, "ca.pem"));
    CHECK_STR(ca.key_path, path_in(nested, "ca.key"));
    CHECK(ca.chain_path[0] == '\0');
    CHECK(mode_of(ca.key_path) == 0600);
    CHECK(mode_of(ca.cert_path) == 0644);
    r = (moat_gen_request){.kind = MOAT_GEN_INTERMEDIATE,
                           .cn = "Int",
                           .issuer = ca.cert,
                           .issuer_key = ca.key,
                           .dir = nested,
                           .base = "int"};
    CHECK(moat_gen_issue(&r, &in, err, sizeof err) == MOAT_OK);
    STACK_OF(X509) *above = sk_X509_new_null();
    sk_X509_push(above, ca.cert); /* a --ca file holding int + root */
    GENERAL_NAMES *san = NULL;
    CHECK(moat_gen_san_parse("localhost,127.0.0.1", &san, err, sizeof err) == MOAT_OK);
    r = (moat_gen_request){.kind = MOAT_GEN_SERVER,
                           .key = MOAT_KEY_RSA2048,
                           .cn = "localhost",
                           .san = san,
                           .issuer = in.cert,
                           .issuer_key = in.key,
                           .issuer_chain = above,
                           .dir = nested,
                           .base = "server"};
    CHECK(moat_gen_issue(&r, &srv, err, sizeof err) == MOAT_OK);
    CHECK(srv.n_chain == 1); /* the intermediate; never the root */
    CHECK(mode_of(srv.key_path) == 0600);
    CHECK(mode_of(srv.chain_path) == 0644);
    STACK_OF(X509) *full = NULL;
    CHECK(moat_gen_load_certs(srv.chain_path, &full, err, sizeof err) == MOAT_OK);
    CHECK(sk_X509_num(full) == 2);
    CHECK(X509_cmp(sk_X509_value(full, 0), srv.cert) == 0);
    CHECK(X509_cmp(sk_X509_value(full, 1), in.cert) == 0);
    CHECK(verify(ca.cert, sk_X509_value(full, 1), sk_X509_value(full, 0), X509_PURPOSE_SSL_SERVER));
    EVP_PKEY *k = NULL;
    CHECK(moat_gen_load_key(srv.key_path, &k, err, sizeof err) == MOAT_OK);
    CHECK(k && X509_check_private_key(srv.cert, k) == 1);
    EVP_PKEY_free(k);
    CHECK(count_entries(nested) == 7);
    CHECK(no_temp_files(nested));

    /* moat's own check accepts the files without a word */
    moat_cert_report rep = MOAT_CERT_REPORT_INIT;
    moat_cert_check_args ca_args = {
        .certfile = srv.chain_path, .keyfile = srv.key_path, .cacertfile = ca.cert_path};
    CHECK(moat_cert_check(&ca_args, &rep) == MOAT_OK);
    CHECK(rep.errors == 0 && rep.warnings == 0);
    for (size_t i = 0; i < rep.n; i++)
        fprintf(stderr, "finding: %s\n", rep.items[i].message);
    moat_cert_report_free(&rep);

    /* refusal to overwrite: nothing changes */
    char *before = read_all(srv.cert_path), *key_before = read_all(srv.key_path);
    moat_gen_issued again = {0};
    err[0] = '\0';
    CHECK(moat_gen_issue(&r, &again, err, sizeof err) == MOAT_EEXIST);
    CHECK(strstr(err, "already exists") != NULL && strstr(err, "--force") != NULL);
    char *after = read_all(srv.cert_path), *key_after = read_all(srv.key_path);
    CHECK(!strcmp(before, after) && !strcmp(key_before, key_after));
    free(after);
    free(key_after);
    /* with force: replaced, and the key still 0600 even if the old file
     * had become readable */
    CHECK(chmod(srv.key_path, 0644) == 0);
    r.force = true;
    CHECK(moat_gen_issue(&r, &again, err, sizeof err) == MOAT_OK);
    after = read_all(srv.cert_path);
    CHECK(strcmp(before, after) != 0);
    CHECK(mode_of(srv.key_path) == 0600);
    CHECK(no_temp_files(nested));
    free(before);
    free(after);
    free(key_before);
    moat_gen_issued_free(&again);
    sk_X509_pop_free(full, X509_free);
    sk_X509_free(above);
    GENERAL_NAMES_free(san);
    moat_gen_issued_free(&ca);
    moat_gen_issued_free(&in);
    moat_gen_issued_free(&srv);
}

static void test_write_refuses_any_existing(void)
{
    char err[512];
    const char *dir = new_dir();
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 10, NULL, 0);
    mkdir(dir, 0755);
    FILE *f = fopen(path_in(dir, "b.pem"), "w");
    fputs("keep me\n", f);
    fclose(f);
    moat_gen_file files[] = {{.name = "a.key", .key = ca.key}, {.name = "b.pem", .cert = ca.cert}};
    CHECK(moat_gen_write(dir, files, 2, false, err, sizeof err) == MOAT_EEXIST);
    CHECK(strstr(err, "b.pem already exists") != NULL);
    CHECK(mode_of(path_in(dir, "a.key")) == (mode_t)-1); /* all or nothing */
    char *b = read_all(path_in(dir, "b.pem"));
    CHECK_STR(b, "keep me\n");
    free(b);
    CHECK(moat_gen_write(dir, files, 2, true, err, sizeof err) == MOAT_OK);
    CHECK(mode_of(path_in(dir, "a.key")) == 0600);
    /* a file where the directory should be */
    CHECK(moat_gen_write(path_in(dir, "b.pem"), files, 2, false, err, sizeof err) != MOAT_OK);
    pair_free(&ca);
}

static void test_load_errors(void)
{
    char err[1024];
    const char *dir = new_dir();
    pair ca = make(MOAT_GEN_CA, MOAT_KEY_EC256, "Root", NULL, 10, NULL, 0);
    moat_gen_file files[] = {{.name = "ca.key", .key = ca.key},
                             {.name = "ca.pem", .cert = ca.cert}};
    CHECK(moat_gen_write(dir, files, 2, false, err, sizeof err) == MOAT_OK);
    STACK_OF(X509) *sk = NULL;
    EVP_PKEY *k = NULL;
    CHECK(moat_gen_load_certs(path_in(dir, "ca.key"), &sk, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "holds a private key, not a certificate") != NULL);
    CHECK(moat_gen_load_key(path_in(dir, "ca.pem"), &k, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "holds a certificate, not a private key") != NULL);
    CHECK(moat_gen_load_certs(path_in(dir, "nope.pem"), &sk, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "cannot open") != NULL);
    /* an encrypted key is refused without prompting */
    FILE *f = fopen(path_in(dir, "enc.key"), "w");
    PEM_write_PKCS8PrivateKey(f, ca.key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret");
    fclose(f);
    CHECK(moat_gen_load_key(path_in(dir, "enc.key"), &k, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "is encrypted") != NULL);
    CHECK(k == NULL && sk == NULL);
    pair_free(&ca);
    CHECK(ERR_peek_error() == 0);
}

/* ---- the development set ---- */

static X509 *load1(const char *p)
{
    char err[512];
    STACK_OF(X509) *sk = NULL;
    if (moat_gen_load_certs(p, &sk, err, sizeof err))
        return NULL;
    X509 *x = sk_X509_shift(sk);
    sk_X509_pop_free(sk, X509_free);
    return x;
}

static void test_devset(void)
{
    char err[1024], host[256] = "";
    const char *dir = new_dir();
    const char *extra[] = {"mqtt.local", "10.9.8.7"};
    moat_devset_opts o = {.dir = dir, .hosts = extra, .n_hosts = 2};
    moat_devset_info info;
    CHECK(!moat_devset_complete(dir));
    CHECK(moat_devset_make(&o, &info, err, sizeof err) == MOAT_OK);
    CHECK(moat_devset_complete(dir));
    CHECK(strstr(info.server_names, "localhost, 127.0.0.1, ::1") == info.server_names);
    CHECK(strstr(info.server_names, "mqtt.local") && strstr(info.server_names, "10.9.8.7"));
    CHECK(strstr(info.ca_subject, "moat Development CA") != NULL);
    static const char *const keys[] = {MOAT_DEVSET_CA_KEY, MOAT_DEVSET_SERVER_KEY,
                                       MOAT_DEVSET_CLIENT_KEY};
    for (size_t i = 0; i < 3; i++)
        CHECK(mode_of(path_in(dir, keys[i])) == 0600);
    X509 *ca = load1(path_in(dir, MOAT_DEVSET_CA));
    X509 *srv = load1(path_in(dir, MOAT_DEVSET_SERVER));
    X509 *cli = load1(path_in(dir, MOAT_DEVSET_CLIENT));
    CHECK(ca && srv && cli);
    CHECK(verify(ca, NULL, srv, X509_PURPOSE_SSL_SERVER));
    CHECK(verify(ca, NULL, cli, X509_PURPOSE_SSL_CLIENT));
    CHECK(X509_check_host(srv, "localhost", 0, 0, NULL) == 1);
    CHECK(X509_check_ip_asc(srv, "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(srv, "::1", 0) == 1);
    gethostname(host, sizeof host);
    if (moat_gen_is_hostname(host))
        CHECK(X509_check_host(srv, host, 0, 0, NULL) == 1);
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cli), NID_commonName, cn, sizeof cn);
    CHECK_STR(cn, MOAT_DEVSET_CLIENT_CN);
    /* what the listeners serve passes moat's checks without a warning */
    moat_cert_report rep = MOAT_CERT_REPORT_INIT;
    moat_cert_check_args a = {.certfile = path_in(dir, MOAT_DEVSET_SERVER_CHAIN),
                              .keyfile = path_in(dir, MOAT_DEVSET_SERVER_KEY),
                              .cacertfile = path_in(dir, MOAT_DEVSET_CA)};
    CHECK(moat_cert_check(&a, &rep) == MOAT_OK);
    CHECK(rep.errors == 0 && rep.warnings == 0);
    moat_cert_report_free(&rep);
    /* again without force: refused, naming the whole set */
    CHECK(moat_devset_make(&o, &info, err, sizeof err) == MOAT_EEXIST);
    CHECK(strstr(err, "replace the whole set") != NULL);

    /* ensure: complete and current */
    moat_devset_state st = MOAT_DEVSET_CREATED;
    CHECK(moat_devset_ensure(dir, 0, &st, &info, err, sizeof err) == MOAT_OK);
    CHECK(st == MOAT_DEVSET_READY);
    CHECK(info.server_until[0] != '\0');
    /* a leaf file gone: new leaves from the same CA */
    char *ca_before = read_all(path_in(dir, MOAT_DEVSET_CA));
    unlink(path_in(dir, MOAT_DEVSET_CLIENT_KEY));
    CHECK(moat_devset_ensure(dir, 0, &st, &info, err, sizeof err) == MOAT_OK);
    CHECK(st == MOAT_DEVSET_RENEWED);
    CHECK(moat_devset_complete(dir));
    char *ca_after = read_all(path_in(dir, MOAT_DEVSET_CA));
    CHECK(!strcmp(ca_before, ca_after));
    free(ca_after);
    /* the server certificate close to its end (800 of 825 days): renewed */
    int64_t later = (int64_t)time(NULL) + 800 * 86400;
    CHECK(moat_devset_ensure(dir, later, &st, &info, err, sizeof err) == MOAT_OK);
    CHECK(st == MOAT_DEVSET_RENEWED);
    CHECK(moat_devset_ensure(dir, later, &st, &info, err, sizeof err) == MOAT_OK);
    CHECK(st == MOAT_DEVSET_READY);
    ca_after = read_all(path_in(dir, MOAT_DEVSET_CA));
    CHECK(!strcmp(ca_before, ca_after));
    free(ca_after);
    free(ca_before);
    /* the CA's key moved away: fine while nothing needs signing */
    unlink(path_in(dir, MOAT_DEVSET_CA_KEY));
    CHECK(moat_devset_ensure(dir, later, &st, &info, err, sizeof err) == MOAT_OK);
    CHECK(st == MOAT_DEVSET_READY);
    /* ... but new leaves cannot be made: an error that says what to do */
    unlink(path_in(dir, MOAT_DEVSET_SERVER));
    CHECK(moat_devset_ensure(dir, 0, &st, &info, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "ca.key is missing") != NULL && strstr(err, "Delete the directory") != NULL);
    CHECK(mode_of(path_in(dir, MOAT_DEVSET_CA)) != (mode_t)-1);

    /* an empty (or missing) directory: a new set */
    const char *d2 = new_dir();
    CHECK(moat_devset_ensure(d2, 0, &st, &info, err, sizeof err) == MOAT_OK);
    CHECK(st == MOAT_DEVSET_CREATED);
    CHECK(moat_devset_complete(d2));
    /* an --host that is not a name */
    const char *bad[] = {"not a host"};
    moat_devset_opts o3 = {.dir = new_dir(), .hosts = bad, .n_hosts = 1};
    CHECK(moat_devset_make(&o3, NULL, err, sizeof err) == MOAT_EINVAL);
    CHECK(strstr(err, "neither a host name nor an IP address") != NULL);

    char p[600];
    moat_devset_path("data", MOAT_DEVSET_CA, p, sizeof p);
    CHECK_STR(p, "data/certs/ca.pem");
    moat_devset_path("/var/lib/moat/", MOAT_DEVSET_SERVER_KEY, p, sizeof p);
    CHECK_STR(p, "/var/lib/moat/certs/server.key");
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
}

int main(void)
{
    umask(022);
    snprintf(tmp_root, sizeof tmp_root, "/tmp/moat-certgen-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    TEST(test_key_types);
    TEST(test_digests);
    TEST(test_ca);
    TEST(test_intermediate);
    TEST(test_server);
    TEST(test_client);
    TEST(test_validity_capped);
    TEST(test_bad_specs);
    TEST(test_san_parse);
    TEST(test_issuer_checks);
    TEST(test_issue_files);
    TEST(test_write_refuses_any_existing);
    TEST(test_load_errors);
    TEST(test_devset);
    akid_keyid(NULL); /* frees the last one */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return test_summary("certgen");
}
