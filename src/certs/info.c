/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/info.h"

static const char *const id_names[MOAT_CERT_ID__COUNT] = {
    [MOAT_CERT_ID_CN] = "cn",
    [MOAT_CERT_ID_DN] = "dn",
    [MOAT_CERT_ID_CRT] = "crt",
    [MOAT_CERT_ID_PEM] = "pem",
    [MOAT_CERT_ID_MD5] = "md5",
    [MOAT_CERT_ID_SAN_DNS] = "san_dns",
    [MOAT_CERT_ID_SAN_EMAIL] = "san_email",
    [MOAT_CERT_ID_SAN_URI] = "san_uri",
    [MOAT_CERT_ID_SAN_IP] = "san_ip",
    [MOAT_CERT_ID_FINGERPRINT] = "fingerprint",
};

const char *moat_cert_id_name(moat_cert_id which)
{
    return (unsigned)which < MOAT_CERT_ID__COUNT ? id_names[which] : "unknown";
}

moat_err moat_cert_id_parse(const char *name, moat_cert_id *out)
{
    for (int i = 0; i < MOAT_CERT_ID__COUNT; i++) {
        if (strcmp(name, id_names[i]) == 0) {
            *out = (moat_cert_id)i;
            return MOAT_OK;
        }
    }
    return MOAT_EINVAL;
}

/* ------------------------------------------------------------ strings */

/* Well-formed UTF-8 (no overlongs, no surrogates) with no C0/C1 control
 * characters and no DEL: the only kind of text we let a certificate put into
 * a log line, a client ID or a username. */
static bool clean_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (len == 0 || c > 0xf4 || i + len > n)
            return false;
        unsigned cp = c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += len;
    }
    return true;
}

/* Copy n bytes as a C string; MOAT_ELIMIT when it does not fit. */
static moat_err put(char *out, size_t len, const void *p, size_t n)
{
    if (n + 1 > len)
        return MOAT_ELIMIT;
    memcpy(out, p, n);
    out[n] = '\0';
    return MOAT_OK;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Take a memory BIO's contents as the identity. */
static moat_err put_bio(BIO *b, char *out, size_t len, bool check)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n < 0 || !p)
        return MOAT_ENOMEM;
    if (check && !clean_utf8((const unsigned char *)p, (size_t)n))
        return MOAT_EINVAL;
    return put(out, len, p, (size_t)n);
}

/* ------------------------------------------------------------- fields */

static moat_err id_cn(const X509 *x, char *out, size_t len)
{
    const X509_NAME *nm = X509_get_subject_name(x);
    size_t used = 0;
    bool found = false;
    for (int i = -1; (i = X509_NAME_get_index_by_NID(nm, NID_commonName, i)) >= 0;) {
        unsigned char *u = NULL;
        int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)));
        if (n < 0)
            return MOAT_EINVAL;
        moat_err e = clean_utf8(u, (size_t)n) ? MOAT_OK : MOAT_EINVAL;
        if (!e && found && !(e = put(out + used, len - used, ",", 1)))
            used++;
        if (!e && !(e = put(out + used, len - used, u, (size_t)n)))
            used += (size_t)n;
        OPENSSL_free(u);
        if (e)
            return e;
        found = true;
    }
    return found ? MOAT_OK : MOAT_ENOTFOUND;
}

static moat_err id_name_text(const X509_NAME *nm, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return MOAT_ENOMEM;
    moat_err e = MOAT_ENOMEM;
    /* RFC 2253 text escapes control characters and non-ASCII bytes, so the
     * result is printable ASCII whatever the certificate holds. */
    if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0)
        e = put_bio(b, out, len, true);
    BIO_free(b);
    return e;
}

static moat_err id_crt(const X509 *x, char *out, size_t len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0)
        return MOAT_ENOMEM;
    size_t need = 4 * (((size_t)n + 2) / 3) + 1;
    moat_err e = MOAT_ELIMIT;
    if (need <= len) {
        EVP_EncodeBlock((unsigned char *)out, der, n);
        e = MOAT_OK;
    }
    OPENSSL_free(der);
    return e;
}

static moat_err id_pem(const X509 *x, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return MOAT_ENOMEM;
    moat_err e = MOAT_ENOMEM;
    if (PEM_write_bio_X509(b, x))
        e = put_bio(b, out, len, false);
    BIO_free(b);
    return e;
}

static moat_err id_digest(const X509 *x, const EVP_MD *md, char *out, size_t len)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!md || !X509_digest(x, md, d, &n))
        return MOAT_ENOMEM;
    if (2 * (size_t)n + 1 > len)
        return MOAT_ELIMIT;
    hex(d, n, out);
    return MOAT_OK;
}

/* Text of one general name of the given type, or MOAT_ENOTFOUND. */
static moat_err san_text(const GENERAL_NAME *g, int type, char *out, size_t len)
{
    if (g->type != type)
        return MOAT_ENOTFOUND;
    if (type == GEN_IPADD) {
        const ASN1_OCTET_STRING *ip = g->d.iPAddress;
        char buf[INET6_ADDRSTRLEN];
        int af = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
        if (!af || !inet_ntop(af, ip->data, buf, sizeof buf))
            return MOAT_EINVAL;
        return put(out, len, buf, strlen(buf));
    }
    const ASN1_IA5STRING *s = g->d.ia5; /* dNSName, rfc822Name and URI alike */
    if (!clean_utf8(s->data, (size_t)s->length))
        return MOAT_EINVAL;
    return put(out, len, s->data, (size_t)s->length);
}

static moat_err id_san(const X509 *x, int type, char *out, size_t len)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    moat_err e = MOAT_ENOTFOUND;
    for (int i = 0; gens && e == MOAT_ENOTFOUND && i < sk_GENERAL_NAME_num(gens); i++)
        e = san_text(sk_GENERAL_NAME_value(gens, i), type, out, len);
    GENERAL_NAMES_free(gens);
    return e;
}

moat_err moat_cert_identity(const X509 *x, moat_cert_id which, char *out, size_t len)
{
    if (!x || !out || len == 0)
        return MOAT_EINVAL;
    out[0] = '\0';
    switch (which) {
    case MOAT_CERT_ID_CN:
        return id_cn(x, out, len);
    case MOAT_CERT_ID_DN:
        return id_name_text(X509_get_subject_name(x), out, len);
    case MOAT_CERT_ID_CRT:
        return id_crt(x, out, len);
    case MOAT_CERT_ID_PEM:
        return id_pem(x, out, len);
    case MOAT_CERT_ID_MD5:
        return id_digest(x, EVP_md5(), out, len);
    case MOAT_CERT_ID_SAN_DNS:
        return id_san(x, GEN_DNS, out, len);
    case MOAT_CERT_ID_SAN_EMAIL:
        return id_san(x, GEN_EMAIL, out, len);
    case MOAT_CERT_ID_SAN_URI:
        return id_san(x, GEN_URI, out, len);
    case MOAT_CERT_ID_SAN_IP:
        return id_san(x, GEN_IPADD, out, len);
    case MOAT_CERT_ID_FINGERPRINT:
        return id_digest(x, EVP_sha256(), out, len);
    default:
        return MOAT_EINVAL;
    }
}

/* --------------------------------------------------------------- info */

static int64_t asn1_time_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

int64_t moat_cert_not_after(const X509 *x)
{
    return asn1_time_epoch(X509_get0_notAfter(x));
}
int64_t moat_cert_not_before(const X509 *x)
{
    return asn1_time_epoch(X509_get0_notBefore(x));
}

void moat_cert_time_str(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(out, len, "%lld", (long long)t);
}

void moat_cert_name_oneline(const X509 *x, bool issuer, char *out, size_t len)
{
    const X509_NAME *nm = issuer ? X509_get_issuer_name(x) : X509_get_subject_name(x);
    if (id_name_text(nm, out, len) != MOAT_OK)
        snprintf(out, len, "(unprintable name)");
}

static char *name_dup(const X509_NAME *nm)
{
    char buf[1024];
    if (id_name_text(nm, buf, sizeof buf) != MOAT_OK)
        snprintf(buf, sizeof buf, "(unprintable name)");
    return strdup(buf);
}

static moat_err strlist_add(moat_cert_strlist *l, const char *s)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return MOAT_ENOMEM;
    l->v = v;
    if (!(v[l->n] = strdup(s)))
        return MOAT_ENOMEM;
    l->n++;
    return MOAT_OK;
}

static void strlist_free(moat_cert_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static moat_err info_sans(const X509 *x, moat_cert_info *in)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    moat_err e = MOAT_OK;
    for (int i = 0; gens && !e && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        static const int types[] = {GEN_DNS, GEN_EMAIL, GEN_URI, GEN_IPADD};
        moat_cert_strlist *lists[] = {&in->dns, &in->email, &in->uri, &in->ip};
        for (int k = 0; k < 4; k++) {
            char buf[1024];
            if (san_text(g, types[k], buf, sizeof buf) == MOAT_OK)
                e = strlist_add(lists[k], buf);
        }
    }
    GENERAL_NAMES_free(gens);
    return e;
}

static void info_key(const X509 *x, char *out, size_t len)
{
    moat_cert_key_str(X509_get0_pubkey(x), out, len);
}

void moat_cert_key_str(const EVP_PKEY *k, char *out, size_t len)
{
    char group[64] = "";
    if (!k) {
        snprintf(out, len, "unknown");
        return;
    }
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        snprintf(out, len, "RSA %d", EVP_PKEY_get_bits(k));
        return;
    case EVP_PKEY_EC: {
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL);
        const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
        snprintf(out, len, "EC %.24s", nist ? nist : group);
        return;
    }
    default:
        snprintf(out, len, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(k)));
    }
}

static char *serial_hex(const X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *h = bn ? BN_bn2hex(bn) : NULL;
    char *s = h ? strdup(h) : NULL;
    OPENSSL_free(h);
    BN_free(bn);
    return s;
}

moat_err moat_cert_info_get(const X509 *x, moat_cert_info *in)
{
    memset(in, 0, sizeof *in);
    char cn[1024];
    if (id_cn(x, cn, sizeof cn) == MOAT_OK && !(in->cn = strdup(cn)))
        goto fail;
    in->subject = name_dup(X509_get_subject_name(x));
    in->issuer = name_dup(X509_get_issuer_name(x));
    in->serial = serial_hex(x);
    if (!in->subject || !in->issuer || !in->serial || info_sans(x, in) != MOAT_OK)
        goto fail;
    info_key(x, in->key, sizeof in->key);
    if (id_digest(x, EVP_sha256(), in->sha256, sizeof in->sha256) ||
        id_digest(x, EVP_md5(), in->md5, sizeof in->md5))
        goto fail;
    in->not_before = moat_cert_not_before(x);
    in->not_after = moat_cert_not_after(x);
    in->is_ca = X509_check_ca((X509 *)x) != 0;
    in->self_signed = (X509_get_extension_flags((X509 *)x) & EXFLAG_SS) != 0;
    return MOAT_OK;
fail:
    moat_cert_info_free(in);
    return MOAT_ENOMEM;
}

void moat_cert_info_free(moat_cert_info *in)
{
    free(in->subject);
    free(in->issuer);
    free(in->cn);
    free(in->serial);
    strlist_free(&in->dns);
    strlist_free(&in->email);
    strlist_free(&in->uri);
    strlist_free(&in->ip);
    memset(in, 0, sizeof *in);
}

/* ------------------------------------------------------------ details */

/* Colon-separated upper-case hex, as openssl x509 -text prints key IDs. */
static void hex_colons(const ASN1_OCTET_STRING *o, char *out, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; o && i < o->length && off + 4 <= len; i++) {
        if (i)
            out[off++] = ':';
        out[off++] = digits[o->data[i] >> 4];
        out[off++] = digits[o->data[i] & 15];
    }
    if (off < len)
        out[off] = '\0';
}

static bool ext_critical(const X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static moat_err details_ku(const X509 *x, moat_cert_details *d)
{
    /* In bit order, under the names openssl.cnf uses for them. */
    static const struct {
        uint32_t bit;
        const char *name;
    } ku[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {KU_NON_REPUDIATION, "nonRepudiation"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},
        {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},
        {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"},
    };
    uint32_t bits = X509_get_key_usage((X509 *)x);
    d->has_key_usage = bits != UINT32_MAX;
    d->key_usage_critical = ext_critical(x, NID_key_usage);
    for (size_t i = 0; d->has_key_usage && i < sizeof ku / sizeof ku[0]; i++)
        if ((bits & ku[i].bit) && strlist_add(&d->key_usage, ku[i].name))
            return MOAT_ENOMEM;
    return MOAT_OK;
}

static moat_err details_eku(const X509 *x, moat_cert_details *d)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    moat_err e = MOAT_OK;
    d->has_ext_key_usage = eku != NULL;
    for (int i = 0; eku && !e && i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
        char buf[128];
        int nid = OBJ_obj2nid(o);
        if (nid != NID_undef)
            snprintf(buf, sizeof buf, "%s", OBJ_nid2sn(nid));
        else
            OBJ_obj2txt(buf, sizeof buf, o, 1);
        e = strlist_add(&d->ext_key_usage, buf);
    }
    EXTENDED_KEY_USAGE_free(eku);
    return e;
}

moat_err moat_cert_details_get(const X509 *x, moat_cert_details *d)
{
    memset(d, 0, sizeof *d);
    d->version = X509_get_version(x) + 1;
    int sig = X509_get_signature_nid(x);
    snprintf(d->sig_alg, sizeof d->sig_alg, "%s", sig != NID_undef ? OBJ_nid2ln(sig) : "unknown");
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (k) {
        int id = EVP_PKEY_get_base_id(k);
        snprintf(d->key_alg, sizeof d->key_alg, "%s",
                 id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS ? "RSA"
                 : id == EVP_PKEY_EC                          ? "EC"
                                                              : OBJ_nid2sn(id));
        d->key_bits = EVP_PKEY_get_bits(k);
    }
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    d->has_basic_constraints = bc != NULL;
    d->basic_constraints_critical = ext_critical(x, NID_basic_constraints);
    d->ca = bc && bc->ca;
    d->path_len = bc && bc->pathlen ? ASN1_INTEGER_get(bc->pathlen) : -1;
    BASIC_CONSTRAINTS_free(bc);
    hex_colons(X509_get0_subject_key_id((X509 *)x), d->ski, sizeof d->ski);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id((X509 *)x);
    hex_colons(aki, d->aki, sizeof d->aki);
    if (details_ku(x, d) || details_eku(x, d)) {
        moat_cert_details_free(d);
        return MOAT_ENOMEM;
    }
    return MOAT_OK;
}

void moat_cert_details_free(moat_cert_details *d)
{
    strlist_free(&d->key_usage);
    strlist_free(&d->ext_key_usage);
}
