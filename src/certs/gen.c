/* SPDX-License-Identifier: Apache-2.0 */
/* Keys, certificates and the files they go to; see gen.h. OpenSSL builds
 * and encodes everything; the code here picks the extensions per kind and
 * takes care that keys never exist on disk with a wider mode than 0600. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "certs/gen.h"

#define BACKDATE_SECONDS 300 /* tolerate clients whose clock is a little behind */
#define SERIAL_BITS 128
#define MAX_INPUT_FILE (1u << 20) /* a PEM file of certificates or a key is a few KB */

__attribute__((format(printf, 3, 4))) static moat_err fail(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return MOAT_EINVAL;
}

/* The last OpenSSL error as text, and the queue cleared. */
static const char *ossl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* ---- names ------------------------------------------------------------------- */

static const char *const kind_names[] = {
    [MOAT_GEN_CA] = "ca",
    [MOAT_GEN_INTERMEDIATE] = "intermediate",
    [MOAT_GEN_SERVER] = "server",
    [MOAT_GEN_CLIENT] = "client",
};

const char *moat_gen_kind_name(moat_gen_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "?";
}

bool moat_gen_kind_parse(const char *s, moat_gen_kind *out)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (!strcasecmp(s, kind_names[i])) {
            *out = (moat_gen_kind)i;
            return true;
        }
    }
    if (!strcasecmp(s, "int")) {
        *out = MOAT_GEN_INTERMEDIATE;
        return true;
    }
    return false;
}

static const struct {
    const char *name;
    const char *curve; /* EC */
    unsigned bits;     /* RSA */
} key_types[] = {
    [MOAT_KEY_EC256] = {"ec256", "P-256", 0},     [MOAT_KEY_EC384] = {"ec384", "P-384", 0},
    [MOAT_KEY_ED25519] = {"ed25519", NULL, 0},    [MOAT_KEY_RSA2048] = {"rsa2048", NULL, 2048},
    [MOAT_KEY_RSA3072] = {"rsa3072", NULL, 3072}, [MOAT_KEY_RSA4096] = {"rsa4096", NULL, 4096},
};
#define N_KEY_TYPES (sizeof key_types / sizeof key_types[0])

const char *moat_gen_key_name(moat_gen_key k)
{
    return (unsigned)k < N_KEY_TYPES ? key_types[k].name : "?";
}

bool moat_gen_key_parse(const char *s, moat_gen_key *out)
{
    static const struct {
        const char *alias;
        moat_gen_key k;
    } aliases[] = {
        {"p256", MOAT_KEY_EC256}, {"p-256", MOAT_KEY_EC256}, {"ec", MOAT_KEY_EC256},
        {"p384", MOAT_KEY_EC384}, {"p-384", MOAT_KEY_EC384}, {"rsa", MOAT_KEY_RSA2048},
    };
    for (size_t i = 0; i < N_KEY_TYPES; i++) {
        if (!strcasecmp(s, key_types[i].name)) {
            *out = (moat_gen_key)i;
            return true;
        }
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (!strcasecmp(s, aliases[i].alias)) {
            *out = aliases[i].k;
            return true;
        }
    }
    return false;
}

const char *moat_gen_key_list(void)
{
    return "ec256, ec384, ed25519, rsa2048, rsa3072, rsa4096";
}

unsigned moat_gen_default_days(moat_gen_kind k)
{
    switch (k) {
    case MOAT_GEN_CA:
        return 3650;
    case MOAT_GEN_INTERMEDIATE:
        return 1825;
    case MOAT_GEN_SERVER:
    case MOAT_GEN_CLIENT:
        break;
    }
    return 825;
}

/* ---- keys -------------------------------------------------------------------- */

moat_err moat_gen_keypair(moat_gen_key t, EVP_PKEY **out, char *err, size_t errlen)
{
    char why[256];
    if ((unsigned)t >= N_KEY_TYPES)
        return fail(err, errlen, "unknown key type (expected one of %s)", moat_gen_key_list());
    EVP_PKEY *k;
    if (key_types[t].curve)
        k = EVP_EC_gen(key_types[t].curve);
    else if (key_types[t].bits)
        k = EVP_RSA_gen(key_types[t].bits);
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k)
        return fail(err, errlen, "cannot generate a %s key: %s", key_types[t].name,
                    ossl_reason(why, sizeof why));
    *out = k;
    return MOAT_OK;
}

void moat_gen_key_desc(const EVP_PKEY *k, char *out, size_t n)
{
    int bits = EVP_PKEY_get_bits(k);
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_EC:
        if (bits == 256 || bits == 384 || bits == 521)
            snprintf(out, n, "EC P-%d", bits);
        else
            snprintf(out, n, "EC %d-bit", bits);
        return;
    case EVP_PKEY_RSA:
        snprintf(out, n, "RSA %d", bits);
        return;
    case EVP_PKEY_ED25519:
        snprintf(out, n, "Ed25519");
        return;
    case EVP_PKEY_ED448:
        snprintf(out, n, "Ed448");
        return;
    default:
        snprintf(out, n, "%d-bit key", bits);
    }
}

/* The digest that goes with the signing key: SHA-384 with P-384 (same
 * strength), SHA-512 with P-521, none for EdDSA (it hashes internally). */
static const EVP_MD *sign_md(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
        return NULL;
    if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(k) == 384)
        return EVP_sha384();
    if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(k) > 384)
        return EVP_sha512();
    return EVP_sha256();
}

/* ---- subjectAltName ---------------------------------------------------------- */

bool moat_gen_is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* RFC 1123 labels (letters, digits, inner hyphens; '_' too, which some
 * internal names have), at most 63 bytes each and 253 in all. */
bool moat_gen_is_hostname(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return false;
    if (!strncmp(s, "*.", 2)) /* a wildcard, only as the whole first label */
        s += 2;
    for (; *s; s++) {
        if (*s == '.') {
            if (label == 0 || s[-1] == '-')
                return false;
            label = 0;
        } else if (!ldh(*s) || ++label > 63 || (label == 1 && *s == '-')) {
            return false;
        }
    }
    return label > 0 && s[-1] != '-';
}

/* Printable ASCII without blanks: what IA5String names (email, URI) may hold
 * in practice. */
static bool plain_ascii(const char *s)
{
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

static GENERAL_NAME *ia5_name(int type, const char *v)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!g || !s || !ASN1_STRING_set(s, v, (int)strlen(v))) {
        GENERAL_NAME_free(g);
        ASN1_IA5STRING_free(s);
        return NULL;
    }
    GENERAL_NAME_set0_value(g, type, s);
    return g;
}

static GENERAL_NAME *ip_name(const char *v)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
    if (!g || !ip) {
        GENERAL_NAME_free(g);
        ASN1_OCTET_STRING_free(ip);
        return NULL;
    }
    GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
    return g;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* One entry ("DNS:x", "IP:y", "x"). */
static moat_err san_entry(char *item, GENERAL_NAMES *add, char *err, size_t errlen)
{
    static const struct {
        const char *prefix;
        int type;
    } prefixes[] = {{"DNS", GEN_DNS}, {"IP", GEN_IPADD}, {"email", GEN_EMAIL}, {"URI", GEN_URI}};
    int type = -1;
    const char *v = item;
    char *colon = strchr(item, ':');
    if (colon && !moat_gen_is_ip(item)) {
        *colon = '\0';
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
            if (!strcasecmp(item, prefixes[i].prefix))
                type = prefixes[i].type;
        if (type < 0)
            return fail(err, errlen,
                        "--san: unknown kind '%.40s:' (expected DNS:name, IP:address, "
                        "email:address or URI:uri, separated by commas)",
                        item);
        v = trim(colon + 1);
    } else {
        type = moat_gen_is_ip(item) ? GEN_IPADD : GEN_DNS;
    }
    if (!*v)
        return fail(err, errlen, "--san: '%.40s:' has no value (expected e.g. DNS:example.com)",
                    item);
    switch (type) {
    case GEN_DNS:
        if (!moat_gen_is_hostname(v))
            return fail(err, errlen,
                        "--san: '%.200s' is not a DNS name (expected letters, digits, '-' and "
                        "dots, e.g. mqtt.example.com or *.example.com; an internationalised "
                        "name in its xn-- form)",
                        v);
        break;
    case GEN_IPADD:
        if (!moat_gen_is_ip(v))
            return fail(err, errlen,
                        "--san: '%.200s' is not an IP address (expected e.g. IP:192.0.2.7 or "
                        "IP:2001:db8::7)",
                        v);
        break;
    case GEN_EMAIL:
        if (!plain_ascii(v) || !strchr(v, '@'))
            return fail(err, errlen,
                        "--san: '%.200s' is not an e-mail address (expected "
                        "email:device@example.com)",
                        v);
        break;
    default:
        if (!plain_ascii(v) || !strchr(v, ':'))
            return fail(err, errlen,
                        "--san: '%.200s' is not a URI (expected e.g. URI:urn:example:device-7 "
                        "or URI:spiffe://example.org/device)",
                        v);
    }
    GENERAL_NAME *g = type == GEN_IPADD ? ip_name(v) : ia5_name(type, v);
    if (!g || !sk_GENERAL_NAME_push(add, g)) {
        GENERAL_NAME_free(g);
        return MOAT_ENOMEM;
    }
    return MOAT_OK;
}

moat_err moat_gen_san_parse(const char *text, GENERAL_NAMES **names, char *err, size_t errlen)
{
    GENERAL_NAMES *add = sk_GENERAL_NAME_new_null();
    char *copy = strdup(text);
    moat_err e = add && copy ? MOAT_OK : MOAT_ENOMEM;
    for (char *save = NULL, *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !e;
         tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (*tok)
            e = san_entry(tok, add, err, errlen);
    }
    if (!e && !*names && !(*names = sk_GENERAL_NAME_new_null()))
        e = MOAT_ENOMEM;
    while (!e && sk_GENERAL_NAME_num(add) > 0) {
        GENERAL_NAME *g = sk_GENERAL_NAME_shift(add);
        if (!sk_GENERAL_NAME_push(*names, g)) {
            GENERAL_NAME_free(g);
            e = MOAT_ENOMEM;
        }
    }
    if (e == MOAT_ENOMEM)
        fail(err, errlen, "out of memory");
    sk_GENERAL_NAME_pop_free(add, GENERAL_NAME_free);
    free(copy);
    return e;
}

bool moat_gen_san_has(const GENERAL_NAMES *names, const char *s)
{
    ASN1_OCTET_STRING *ip = moat_gen_is_ip(s) ? a2i_IPADDRESS(s) : NULL;
    bool found = false;
    for (int i = 0; !found && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (ip && g->type == GEN_IPADD)
            found = ASN1_OCTET_STRING_cmp(g->d.iPAddress, ip) == 0;
        else if (!ip && g->type == GEN_DNS)
            found = (size_t)ASN1_STRING_length(g->d.dNSName) == strlen(s) &&
                    !strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), s, strlen(s));
    }
    ASN1_OCTET_STRING_free(ip);
    return found;
}

/* ---- certificates ------------------------------------------------------------ */

static bool add_conf_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
static ASN1_OCTET_STRING *key_id(const X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    if (!os || !X509_pubkey_digest(x, EVP_sha1(), md, &len) ||
        !ASN1_OCTET_STRING_set(os, md, (int)len)) {
        ASN1_OCTET_STRING_free(os);
        return NULL;
    }
    return os;
}

static bool add_ski(X509 *x)
{
    ASN1_OCTET_STRING *id = key_id(x);
    bool ok = id && X509_add1_ext_i2d(x, NID_subject_key_identifier, id, 0, X509V3_ADD_REPLACE);
    ASN1_OCTET_STRING_free(id);
    return ok;
}

/* The issuer's own subjectKeyIdentifier when it has one (that is what
 * path building matches), else the same hash computed from its key. */
static bool add_aki(X509 *x, X509 *issuer)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    if (!akid)
        return false;
    akid->keyid = ski ? ASN1_OCTET_STRING_dup(ski) : key_id(issuer);
    bool ok = akid->keyid &&
              X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_REPLACE);
    AUTHORITY_KEYID_free(akid);
    return ok;
}

static bool set_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    bool ok = bn && BN_rand(bn, SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    return ok;
}

static moat_err set_subject(X509 *x, const moat_gen_spec *s, char *err, size_t errlen)
{
    char why[256];
    X509_NAME *nm = X509_get_subject_name(x);
    if (s->org && *s->org &&
        !X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)s->org, -1, -1,
                                    0))
        return fail(err, errlen, "--org '%.100s' is not accepted (%s; expected 1 to 64 characters)",
                    s->org, ossl_reason(why, sizeof why));
    if (!X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1, -1,
                                    0))
        return fail(err, errlen,
                    "--cn '%.100s' is not accepted (%s; expected 1 to 64 characters of UTF-8)",
                    s->cn, ossl_reason(why, sizeof why));
    return MOAT_OK;
}

/* notBefore a little in the past, never before the issuer's; notAfter
 * `days` ahead, never after the issuer's (a certificate cannot outlive the
 * CA that vouches for it). */
static bool set_validity(X509 *x, const moat_gen_spec *s, X509 *issuer, bool *capped)
{
    time_t now = s->now ? (time_t)s->now : time(NULL);
    if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, -BACKDATE_SECONDS, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), (int)s->days, 0, &now))
        return false;
    if (!issuer)
        return true;
    if (ASN1_TIME_compare(X509_get0_notBefore(x), X509_get0_notBefore(issuer)) < 0 &&
        !X509_set1_notBefore(x, X509_get0_notBefore(issuer)))
        return false;
    if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer)) > 0) {
        if (!X509_set1_notAfter(x, X509_get0_notAfter(issuer)))
            return false;
        if (capped)
            *capped = true;
    }
    return true;
}

static bool add_extensions(X509 *x, const moat_gen_spec *s, EVP_PKEY *key, X509 *issuer)
{
    bool ok = true;
    switch (s->kind) {
    case MOAT_GEN_CA:
    case MOAT_GEN_INTERMEDIATE:
        ok = add_conf_ext(x, NID_basic_constraints,
                          s->kind == MOAT_GEN_CA ? "critical,CA:TRUE"
                                                 : "critical,CA:TRUE,pathlen:0") &&
             add_conf_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign");
        break;
    case MOAT_GEN_SERVER:
    case MOAT_GEN_CLIENT:
        /* keyEncipherment only means something for RSA key transport. */
        ok = add_conf_ext(x, NID_basic_constraints, "CA:FALSE") &&
             add_conf_ext(x, NID_key_usage,
                          s->kind == MOAT_GEN_SERVER && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA
                              ? "critical,digitalSignature,keyEncipherment"
                              : "critical,digitalSignature") &&
             add_conf_ext(x, NID_ext_key_usage,
                          s->kind == MOAT_GEN_SERVER ? "serverAuth" : "clientAuth");
        break;
    }
    if (ok && s->san && sk_GENERAL_NAME_num(s->san) > 0)
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)s->san, 0, X509V3_ADD_REPLACE);
    if (ok)
        ok = add_ski(x);
    if (ok && issuer)
        ok = add_aki(x, issuer);
    return ok;
}

moat_err moat_gen_cert(const moat_gen_spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       X509 **out, bool *capped, char *err, size_t errlen)
{
    char why[256];
    if (capped)
        *capped = false;
    if (!issuer != !issuer_key)
        return fail(err, errlen, "a CA certificate and its key go together (--ca and --ca-key)");
    if (!issuer && s->kind != MOAT_GEN_CA)
        return fail(err, errlen, "a%s %s certificate must be signed by a CA (--ca and --ca-key)",
                    s->kind == MOAT_GEN_INTERMEDIATE ? "n" : "", moat_gen_kind_name(s->kind));
    if (issuer && s->kind == MOAT_GEN_CA)
        return fail(err, errlen,
                    "a root CA signs itself (no --ca); a CA signed by another is an intermediate "
                    "(moat certs gen intermediate)");
    if (!s->cn || !*s->cn)
        return fail(err, errlen, "a certificate needs a common name (--cn)");
    if (s->days < 1 || s->days > MOAT_GEN_MAX_DAYS)
        return fail(err, errlen, "--days %u is out of range (expected 1 to %u)", s->days,
                    MOAT_GEN_MAX_DAYS);
    X509 *x = X509_new();
    if (!x)
        return fail(err, errlen, "out of memory");
    moat_err e = set_subject(x, s, err, errlen);
    if (e) {
        X509_free(x);
        return e;
    }
    EVP_PKEY *signer = issuer ? issuer_key : key;
    bool ok = X509_set_version(x, X509_VERSION_3) && set_serial(x) &&
              X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                             : X509_get_subject_name(x)) &&
              set_validity(x, s, issuer, capped) && X509_set_pubkey(x, key) &&
              add_extensions(x, s, key, issuer) && X509_sign(x, signer, sign_md(signer)) > 0;
    if (!ok) {
        X509_free(x);
        return fail(err, errlen, "cannot make the %s certificate: %s", moat_gen_kind_name(s->kind),
                    ossl_reason(why, sizeof why));
    }
    *out = x;
    return MOAT_OK;
}

void moat_gen_subject(const X509 *x, char *out, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long len = 0;
    out[0] = '\0';
    if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                                XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        len = BIO_get_mem_data(b, &p);
    if (p && len > 0)
        snprintf(out, n, "%.*s", (int)len, p);
    BIO_free(b);
}

void moat_gen_names_text(const X509 *x, bool prefixes, char *out, size_t n)
{
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    out[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(g); i++) {
        int type;
        ASN1_STRING *s = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(g, i), &type);
        const char *prefix = type == GEN_DNS     ? "DNS:"
                             : type == GEN_EMAIL ? "email:"
                             : type == GEN_URI   ? "URI:"
                             : type == GEN_IPADD ? "IP:"
                                                 : NULL;
        char value[300] = "";
        int len = ASN1_STRING_length(s);
        if (type == GEN_IPADD && (len == 4 || len == 16))
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), value, sizeof value);
        else if (prefix)
            snprintf(value, sizeof value, "%.*s", len, (const char *)ASN1_STRING_get0_data(s));
        size_t used = strlen(out);
        if (prefix && value[0] && used < n)
            snprintf(out + used, n - used, "%s%s%s", used ? ", " : "", prefixes ? prefix : "",
                     value);
    }
    GENERAL_NAMES_free(g);
}

void moat_gen_not_after(const X509 *x, char *out, size_t n)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) || !strftime(out, n, "%Y-%m-%d", &tm))
        snprintf(out, n, "?");
}

moat_err moat_gen_check_issuer(X509 *issuer, EVP_PKEY *key, moat_gen_kind kind, int64_t now,
                               const char *certfile, const char *keyfile, char *err, size_t errlen)
{
    char subj[300], when[32];
    time_t t = now ? (time_t)now : time(NULL);
    uint32_t flags = X509_get_extension_flags(issuer);
    moat_gen_subject(issuer, subj, sizeof subj);
    if (kind == MOAT_GEN_CA)
        return fail(err, errlen,
                    "a root CA signs itself: drop --ca and --ca-key (a CA signed by %s is an "
                    "intermediate: moat certs gen intermediate --ca %s --ca-key %s)",
                    certfile, certfile, keyfile);
    if (!(flags & EXFLAG_CA))
        return fail(err, errlen,
                    "%s (%s) is not a CA certificate (its basicConstraints do not say CA:TRUE), "
                    "so clients would not trust what it signs. Sign with a CA instead: make one "
                    "with `moat certs gen ca` and pass its files as --ca ca.pem --ca-key ca.key",
                    certfile, subj);
    if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN))
        return fail(err, errlen,
                    "%s (%s) is a CA whose keyUsage lacks keyCertSign, so it may not sign "
                    "certificates. Sign with a CA that has it (moat certs gen ca makes one)",
                    certfile, subj);
    if (kind == MOAT_GEN_INTERMEDIATE && X509_get_pathlen(issuer) == 0)
        return fail(err, errlen,
                    "%s (%s) has pathlen 0: it may sign server and client certificates but not "
                    "another CA. Sign the intermediate with the root CA (--ca ca.pem --ca-key "
                    "ca.key)",
                    certfile, subj);
    if (X509_check_private_key(issuer, key) != 1) {
        ERR_clear_error();
        return fail(err, errlen,
                    "%s is not the private key of %s (%s). Pass the key that was made with "
                    "that certificate (moat certs gen writes it beside it: ca.key for ca.pem, "
                    "int.key for int.pem)",
                    keyfile, certfile, subj);
    }
    if (X509_cmp_time(X509_get0_notAfter(issuer), &t) < 0) {
        moat_gen_not_after(issuer, when, sizeof when);
        return fail(err, errlen,
                    "%s (%s) expired on %s: certificates it signs would not verify. Make a new "
                    "CA (moat certs gen ca) and give its ca.pem to every client",
                    certfile, subj, when);
    }
    if (X509_cmp_time(X509_get0_notBefore(issuer), &t) > 0)
        return fail(err, errlen,
                    "%s (%s) is not valid yet: check this machine's clock (date -u), then try "
                    "again",
                    certfile, subj);
    return MOAT_OK;
}

/* ---- reading ----------------------------------------------------------------- */

static moat_err slurp(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(MAX_INPUT_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_INPUT_FILE + 1, f) : 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf)
        return fail(err, errlen, "out of memory");
    if (rerr || n > MAX_INPUT_FILE) {
        free(buf);
        return rerr ? fail(err, errlen, "cannot read %s: %s", path, strerror(rerr))
                    : fail(err, errlen, "%s is too large for a PEM file (over 1 MB)", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return MOAT_OK;
}

static bool looks_der(const char *buf, size_t n)
{
    return n > 2 && (unsigned char)buf[0] == 0x30 && !memchr(buf, '-', n < 64 ? n : 64);
}

moat_err moat_gen_load_certs(const char *path, STACK_OF(X509) * *out, char *err, size_t errlen)
{
    char *buf;
    size_t n;
    moat_err e = slurp(path, &buf, &n, err, errlen);
    if (e)
        return e;
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (b && sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!sk_X509_push(sk, x))
            X509_free(x);
    ERR_clear_error(); /* the read that ended the loop: no more PEM blocks */
    BIO_free(b);
    if (sk && sk_X509_num(sk) > 0) {
        free(buf);
        *out = sk;
        return MOAT_OK;
    }
    sk_X509_pop_free(sk, X509_free);
    if (strstr(buf, "PRIVATE KEY-----"))
        e = fail(err, errlen,
                 "%s holds a private key, not a certificate (expected the CA certificate, e.g. "
                 "--ca ca.pem; its key goes to --ca-key)",
                 path);
    else if (looks_der(buf, n))
        e = fail(err, errlen,
                 "%s is not PEM (DER?): convert it with `openssl x509 -inform der -in %s -out "
                 "ca.pem` and pass the .pem",
                 path, path);
    else
        e = fail(err, errlen, "%s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                 path);
    free(buf);
    return e;
}

/* Refuse to prompt for a password: this runs in scripts and in the broker. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

moat_err moat_gen_load_key(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    char *buf, why[256];
    size_t n;
    moat_err e = slurp(path, &buf, &n, err, errlen);
    if (e)
        return e;
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
    BIO_free(b);
    if (k) {
        ERR_clear_error();
        *out = k;
    } else if (strstr(buf, "ENCRYPTED")) {
        ERR_clear_error();
        e = fail(err, errlen,
                 "%s is encrypted, and moat certs gen reads only unencrypted keys: decrypt a copy "
                 "with `openssl pkey -in %s -out plain.key` (keep it private, mode 0600)",
                 path, path);
    } else if (strstr(buf, "CERTIFICATE-----")) {
        ERR_clear_error();
        e = fail(err, errlen,
                 "%s holds a certificate, not a private key (expected the CA's key, e.g. "
                 "--ca-key ca.key; the certificate goes to --ca)",
                 path);
    } else {
        e = fail(err, errlen, "%s holds no PEM private key (%s)", path,
                 ossl_reason(why, sizeof why));
    }
    OPENSSL_cleanse(buf, n);
    free(buf);
    return e;
}

/* ---- writing ----------------------------------------------------------------- */

void moat_gen_path(const char *dir, const char *name, char *out, size_t n)
{
    if (!dir || !*dir || !strcmp(dir, "."))
        snprintf(out, n, "%s", name);
    else
        snprintf(out, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
}

moat_err moat_gen_check_absent(const char *dir, const moat_gen_file *f, size_t n, char *err,
                               size_t errlen)
{
    char path[MOAT_GEN_PATH];
    struct stat st;
    for (size_t i = 0; i < n; i++) {
        moat_gen_path(dir, f[i].name, path, sizeof path);
        if (lstat(path, &st) == 0) {
            fail(err, errlen,
                 "%s already exists; nothing was written (use --force to replace it, or "
                 "--out-dir / --name to write elsewhere)",
                 path);
            return MOAT_EEXIST;
        }
    }
    return MOAT_OK;
}

/* mkdir -p */
static moat_err make_dirs(const char *dir, char *err, size_t errlen)
{
    char p[MOAT_GEN_PATH];
    struct stat st;
    if (!dir || !*dir)
        return MOAT_OK;
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1;; s++) {
        if (*s && *s != '/')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return fail(err, errlen, "cannot create the directory %s: %s", p, strerror(errno));
        *s = c;
        if (!c)
            break;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(err, errlen, "%s is not a directory (expected --out-dir to name one)", dir);
    return MOAT_OK;
}

/* A new file next to final, created with O_EXCL and the given mode, so that
 * a key's bytes only ever go into a file that is 0600 from its creation. */
static int open_temp(const char *dir, const char *name, mode_t mode, char *tmp, size_t n)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        unsigned char r[6];
        char hex[13];
        if (RAND_bytes(r, sizeof r) != 1)
            return -1;
        for (int i = 0; i < 6; i++)
            snprintf(hex + 2 * i, 3, "%02x", r[i]);
        char base[600];
        snprintf(base, sizeof base, ".%s.%s.tmp", name, hex);
        moat_gen_path(dir, base, tmp, n);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* The PEM text of one file, in memory. */
static BIO *render(const moat_gen_file *f)
{
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = b != NULL;
    if (ok && f->key)
        ok = PEM_write_bio_PrivateKey(b, f->key, NULL, NULL, 0, NULL, NULL);
    if (ok && f->cert)
        ok = PEM_write_bio_X509(b, f->cert);
    for (int i = 0; ok && f->chain && i < sk_X509_num(f->chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(f->chain, i));
    if (!ok) {
        BIO_free(b);
        return NULL;
    }
    return b;
}

static void free_rendered(BIO *b)
{
    char *p = NULL;
    long n = b ? BIO_get_mem_data(b, &p) : 0;
    if (p && n > 0)
        OPENSSL_cleanse(p, (size_t)n); /* key bytes do not linger in freed memory */
    BIO_free(b);
}

/* Move tmp to final: replacing it with force, else only if final does not
 * exist (atomically: renameat2 RENAME_NOREPLACE, or link where that is not
 * supported). */
static int commit(const char *tmp, const char *final, bool force)
{
    if (force)
        return rename(tmp, final);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(tmp, final) != 0)
        return -1;
    unlink(tmp);
    return 0;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir && *dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

#define MAX_FILES 8

moat_err moat_gen_write(const char *dir, const moat_gen_file *f, size_t n, bool force, char *err,
                        size_t errlen)
{
    char tmp[MAX_FILES][MOAT_GEN_PATH], path[MOAT_GEN_PATH];
    size_t staged = 0, committed = 0;
    moat_err e = MOAT_OK;
    if (n > MAX_FILES)
        return fail(err, errlen, "too many files");
    if (!force && (e = moat_gen_check_absent(dir, f, n, err, errlen)) != MOAT_OK)
        return e;
    if ((e = make_dirs(dir, err, errlen)) != MOAT_OK)
        return e;
    for (; staged < n; staged++) {
        BIO *b = render(&f[staged]);
        char *p = NULL;
        long len = b ? BIO_get_mem_data(b, &p) : 0;
        int fd = b ? open_temp(dir, f[staged].name, f[staged].key ? 0600 : 0644, tmp[staged],
                               sizeof tmp[staged])
                   : -1;
        bool ok = fd >= 0 && write_all(fd, p, (size_t)len) && fsync(fd) == 0;
        int saved = errno;
        if (fd >= 0 && close(fd) != 0)
            ok = false;
        free_rendered(b);
        if (!ok) {
            moat_gen_path(dir, f[staged].name, path, sizeof path);
            e = !b ? fail(err, errlen, "cannot encode %s: out of memory", path)
                   : fail(err, errlen, "cannot write %s: %s", path, strerror(saved));
            if (fd >= 0)
                unlink(tmp[staged]);
            goto out;
        }
    }
    for (; committed < n; committed++) {
        moat_gen_path(dir, f[committed].name, path, sizeof path);
        if (commit(tmp[committed], path, force) != 0) {
            e = errno == EEXIST ? MOAT_EEXIST : MOAT_EIO;
            fail(err, errlen,
                 errno == EEXIST ? "%s appeared while writing; not replaced (use --force)"
                                 : "cannot create %s: %s",
                 path, strerror(errno));
            goto out;
        }
    }
    sync_dir(dir);
out:
    for (size_t i = committed; i < staged; i++)
        unlink(tmp[i]);
    return e;
}

/* ---- one kind in one step ---------------------------------------------------- */

void moat_gen_issued_free(moat_gen_issued *i)
{
    X509_free(i->cert);
    EVP_PKEY_free(i->key);
    i->cert = NULL;
    i->key = NULL;
}

/* The certificates a server or client sends after its own: the issuer and
 * what is above it, without self-signed roots (the peer must already have
 * the root; sending it only costs bytes) and without duplicates. */
static STACK_OF(X509) * chain_to_send(X509 *issuer, STACK_OF(X509) * above)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    for (int i = -1; sk && i < sk_X509_num(above); i++) {
        X509 *c = i < 0 ? issuer : sk_X509_value(above, i);
        if (!c || X509_self_signed(c, 0) == 1)
            continue;
        bool dup = false;
        for (int j = 0; j < sk_X509_num(sk); j++)
            dup = dup || X509_cmp(sk_X509_value(sk, j), c) == 0;
        if (!dup && (!X509_up_ref(c) || !sk_X509_push(sk, c))) {
            sk_X509_pop_free(sk, X509_free);
            return NULL;
        }
    }
    return sk;
}

moat_err moat_gen_issue(const moat_gen_request *r, moat_gen_issued *out, char *err, size_t errlen)
{
    char names[3][512];
    bool leaf = r->kind == MOAT_GEN_SERVER || r->kind == MOAT_GEN_CLIENT;
    memset(out, 0, sizeof *out);
    snprintf(names[0], sizeof names[0], "%s.key", r->base);
    snprintf(names[1], sizeof names[1], "%s.pem", r->base);
    snprintf(names[2], sizeof names[2], "%s-fullchain.pem", r->base);
    moat_gen_file files[3] = {{.name = names[0]}, {.name = names[1]}, {.name = names[2]}};
    size_t nf = leaf ? 3 : 2;
    moat_err e = MOAT_OK;
    /* Before the key: an RSA 4096 key takes seconds to make for nothing. */
    if (!r->force && (e = moat_gen_check_absent(r->dir, files, nf, err, errlen)) != MOAT_OK)
        return e;
    if ((e = moat_gen_keypair(r->key, &out->key, err, errlen)) != MOAT_OK)
        return e;
    moat_gen_spec spec = {.kind = r->kind,
                          .cn = r->cn,
                          .org = r->org,
                          .san = r->san,
                          .days = r->days ? r->days : moat_gen_default_days(r->kind),
                          .now = r->now};
    e = moat_gen_cert(&spec, out->key, r->issuer, r->issuer_key, &out->cert, &out->capped, err,
                      errlen);
    STACK_OF(X509) *chain = NULL;
    if (!e && leaf && !(chain = chain_to_send(r->issuer, r->issuer_chain)))
        e = fail(err, errlen, "out of memory");
    if (!e) {
        files[0].key = out->key;
        files[1].cert = out->cert;
        files[2].cert = out->cert;
        files[2].chain = chain;
        e = moat_gen_write(r->dir, files, nf, r->force, err, errlen);
    }
    if (!e) {
        out->n_chain = chain ? sk_X509_num(chain) : 0;
        moat_gen_path(r->dir, names[1], out->cert_path, sizeof out->cert_path);
        moat_gen_path(r->dir, names[0], out->key_path, sizeof out->key_path);
        if (leaf)
            moat_gen_path(r->dir, names[2], out->chain_path, sizeof out->chain_path);
    } else {
        moat_gen_issued_free(out);
    }
    sk_X509_pop_free(chain, X509_free);
    return e;
}
