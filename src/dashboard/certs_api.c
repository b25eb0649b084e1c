/* SPDX-License-Identifier: Apache-2.0 */
/* Certificates through the API: the chain each TLS listener serves, and the
 * upload of a new one in the shape of the EMQX Cloud form (certificate body,
 * certificate chain, private key, client CA, one-way or two-way).
 *
 * An upload is checked by the cloud document's rules (each field PEM, X.509
 * v3, the key readable with the password given, the key matching, the chain
 * without the leaf, the signature algorithm matching the issuer's key, within
 * the validity period, RSA 2048+ or EC P-256/P-384), then by the broker's own
 * load-time checks; only then are the files written to
 * node.data_dir/tls/<type>-<name>/ and the new context swapped in: new
 * connections use it, existing ones keep theirs. A refused upload changes
 * nothing. The files survive restarts and replace the configured
 * certificate until the upload is deleted; deleting disconnects the
 * listener's TLS clients (as the cloud document warns) and returns to the
 * configured certificate. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/log.h"
#include "certs/info.h"
#include "dashboard/certs_api.h"

/* ------------------------------------------------------------- listing */

static cJSON *cert_json(const X509 *x)
{
    moat_cert_info ci;
    cJSON *o = cJSON_CreateObject();
    if (moat_cert_info_get(x, &ci) != MOAT_OK)
        return o;
    char when[64];
    int64_t now = (int64_t)time(NULL);
    cJSON_AddStringToObject(o, "subject", ci.subject ? ci.subject : "");
    cJSON_AddStringToObject(o, "issuer", ci.issuer ? ci.issuer : "");
    cJSON_AddStringToObject(o, "serial", ci.serial ? ci.serial : "");
    moat_cert_time_str(ci.not_before, when, sizeof when);
    cJSON_AddStringToObject(o, "not_before", when);
    moat_cert_time_str(ci.not_after, when, sizeof when);
    cJSON_AddStringToObject(o, "not_after", when);
    cJSON_AddNumberToObject(o, "days_left", (double)((ci.not_after - now) / 86400));
    cJSON_AddStringToObject(o, "key", ci.key);
    cJSON_AddStringToObject(o, "sha256", ci.sha256);
    cJSON_AddBoolToObject(o, "is_ca", ci.is_ca);
    cJSON_AddBoolToObject(o, "self_signed", ci.self_signed);
    cJSON *san = cJSON_AddArrayToObject(o, "san");
    for (size_t i = 0; i < ci.dns.n; i++)
        cJSON_AddItemToArray(san, cJSON_CreateString(ci.dns.v[i]));
    for (size_t i = 0; i < ci.ip.n; i++)
        cJSON_AddItemToArray(san, cJSON_CreateString(ci.ip.v[i]));
    moat_cert_info_free(&ci);
    return o;
}

cJSON *certs_listener_json(moat_broker *b, moat_listener *l)
{
    cJSON *o = cJSON_CreateObject();
    const moat_listener_conf *lc = &CONF(b)->listeners[l->index];
    int up = atomic_load(&l->tls_uploaded);
    cJSON_AddStringToObject(o, "listener", l->label);
    cJSON_AddStringToObject(o, "source", up ? "uploaded" : "configuration");
    cJSON_AddStringToObject(o, "mode",
                            up ? (up == TLS_UPLOADED_TWO_WAY ? "two-way" : "one-way")
                               : (lc->verify == MOAT_VERIFY_PEER ? "two-way" : "one-way"));
    cJSON *chain = cJSON_AddArrayToObject(o, "chain");
    moat_tls_ctx *ctx = moat_tls_slot_get(&l->tls_slot);
    X509 *certs[16];
    size_t n = ctx ? moat_tls_ctx_chain(ctx, certs, 16) : 0;
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(chain, cert_json(certs[i]));
    moat_tls_ctx_unref(ctx);
    return o;
}

/* ------------------------------------------------------------- upload */

typedef struct upload_err {
    int status;
    const char *field; /* the form field at fault, or NULL */
    char message[768];
} upload_err;

static bool fail(upload_err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(upload_err *e, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->status = 422;
    e->field = field;
    return false;
}

/* Every certificate in a PEM text; false (with e) when there is something
 * else, or nothing and need is set. */
static bool read_certs(const char *field, const char *pem, bool need, STACK_OF(X509) * *out,
                       upload_err *e)
{
    *out = sk_X509_new_null();
    size_t len = pem ? strlen(pem) : 0;
    if (!len && !need)
        return true;
    if (!len)
        return fail(e, field,
                    "%s is empty (expected a PEM certificate: -----BEGIN CERTIFICATE-----)", field);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    ERR_set_mark();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(*out, x);
    ERR_pop_to_mark();
    BIO_free(bio);
    if (sk_X509_num(*out) == 0 || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
        return fail(e, field,
                    "%s holds no PEM certificate (expected text from "
                    "-----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----)",
                    field);
    for (int i = 0; i < sk_X509_num(*out); i++)
        if (X509_get_version(sk_X509_value(*out, i)) != 2)
            return fail(e, field,
                        "certificate %d of %s is not X.509 version 3 (re-issue it with "
                        "v3 extensions)",
                        i + 1, field);
    return true;
}

static int no_prompt(char *buf, int size, int rw, void *u)
{
    (void)rw;
    const char *pw = u;
    if (!pw || !pw[0])
        return -1; /* encrypted, and no password given */
    int n = (int)strlen(pw);
    if (n > size)
        return -1;
    memcpy(buf, pw, (size_t)n);
    return n;
}

static bool key_ok(const EVP_PKEY *k, upload_err *e)
{
    int id = EVP_PKEY_get_base_id(k);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(k) < 2048)
            return fail(e, "private_key", "the RSA key has %d bits (expected 2048 or more)",
                        EVP_PKEY_get_bits(k));
        return true;
    }
    if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t gl = 0;
        EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &gl);
        if (strcmp(group, "prime256v1") && strcmp(group, "secp384r1"))
            return fail(e, "private_key", "the EC key is on curve %s (expected P-256 or P-384)",
                        group[0] ? group : "?");
        return true;
    }
    return fail(e, "private_key",
                "the key type %s is not accepted (expected RSA 2048+ or EC "
                "P-256/P-384)",
                OBJ_nid2sn(id));
}

/* The key type a certificate's signature was made with matches the issuer's
 * key ("signing algorithm consistent with the CA"). */
static bool sig_matches(const X509 *x, const X509 *issuer, upload_err *e, const char *field)
{
    int md = 0, pk = 0;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk))
        return true;
    EVP_PKEY *ik = X509_get0_pubkey(issuer);
    int it = ik ? EVP_PKEY_get_base_id(ik) : 0;
    if (pk == NID_rsaEncryption || pk == NID_rsassaPss)
        pk = EVP_PKEY_RSA;
    if (pk == NID_X9_62_id_ecPublicKey)
        pk = EVP_PKEY_EC;
    if (it && pk && it != pk)
        return fail(e, field,
                    "the certificate is signed with %s, but its issuer's key is %s: the "
                    "chain does not belong to this certificate",
                    OBJ_nid2sn(pk), OBJ_nid2sn(it));
    return true;
}

static bool write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return false;
    bool ok = write(fd, p, n) == (ssize_t)n && fsync(fd) == 0;
    return close(fd) == 0 && ok;
}

static bool write_pem_certs(const char *path, STACK_OF(X509) * a, STACK_OF(X509) * b)
{
    BIO *m = BIO_new(BIO_s_mem());
    for (int i = 0; a && i < sk_X509_num(a); i++)
        PEM_write_bio_X509(m, sk_X509_value(a, i));
    for (int i = 0; b && i < sk_X509_num(b); i++)
        PEM_write_bio_X509(m, sk_X509_value(b, i));
    char *p = NULL;
    long n = BIO_get_mem_data(m, &p);
    bool ok = n > 0 && write_file(path, p, (size_t)n, 0644);
    BIO_free(m);
    return ok;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[800];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void findings_json(cJSON *o, const moat_cert_report *r)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "findings");
    for (size_t i = 0; i < r->n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "severity",
                                r->items[i].severity == MOAT_CERT_ERROR ? "error" : "warning");
        cJSON_AddStringToObject(f, "code", moat_cert_code_name(r->items[i].code));
        cJSON_AddStringToObject(f, "message", r->items[i].message);
        cJSON_AddStringToObject(f, "fix", r->items[i].fix ? r->items[i].fix : "");
        cJSON_AddItemToArray(arr, f);
    }
}

static const char *str_field(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Validate and apply; fills out (JSON) and returns the status. */
static int do_upload(moat_broker *b, moat_listener *l, const cJSON *j, cJSON *out, upload_err *e)
{
    const char *cert = str_field(j, "certificate"), *chain = str_field(j, "chain");
    const char *key = str_field(j, "private_key"), *pw = str_field(j, "key_password");
    const char *ca = str_field(j, "client_ca"), *mode = str_field(j, "mode");
    bool two_way = mode && !strcmp(mode, "two-way");
    STACK_OF(X509) *leafs = NULL, *chn = NULL, *cas = NULL;
    EVP_PKEY *pk = NULL;
    moat_tls_ctx *ctx = NULL;
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    char dir[700], tmp[720], old[720], path[800];
    int status = 422;
    if (mode && strcmp(mode, "one-way") && strcmp(mode, "two-way")) {
        fail(e, "mode", "mode is '%s' (expected one-way or two-way)", mode);
        goto out;
    }
    if (!read_certs("certificate", cert, true, &leafs, e) ||
        !read_certs("chain", chain, false, &chn, e) ||
        !read_certs("client_ca", ca, two_way, &cas, e))
        goto out;
    if (sk_X509_num(leafs) != 1) {
        fail(e, "certificate",
             "certificate holds %d certificates (expected only the server "
             "certificate; put intermediates in chain)",
             sk_X509_num(leafs));
        goto out;
    }
    X509 *leaf = sk_X509_value(leafs, 0);
    for (int i = 0; i < sk_X509_num(chn); i++)
        if (!X509_cmp(sk_X509_value(chn, i), leaf)) {
            fail(e, "chain",
                 "chain contains the server certificate itself (expected only the "
                 "intermediate CA certificates)");
            goto out;
        }
    int64_t now = (int64_t)time(NULL);
    if (moat_cert_not_before(leaf) > now || moat_cert_not_after(leaf) < now) {
        char a[64], z[64];
        moat_cert_time_str(moat_cert_not_before(leaf), a, sizeof a);
        moat_cert_time_str(moat_cert_not_after(leaf), z, sizeof z);
        fail(e, "certificate",
             "the certificate is valid from %s to %s, which does not include "
             "now",
             a, z);
        goto out;
    }
    if (sk_X509_num(chn) && !sig_matches(leaf, sk_X509_value(chn, 0), e, "chain"))
        goto out;
    if (!key || !key[0]) {
        fail(e, "private_key",
             "private_key is empty (expected the PEM private key of the "
             "certificate)");
        goto out;
    }
    BIO *kb = BIO_new_mem_buf(key, (int)strlen(key));
    ERR_set_mark();
    pk = PEM_read_bio_PrivateKey(kb, NULL, no_prompt, (void *)pw);
    ERR_pop_to_mark();
    BIO_free(kb);
    if (!pk) {
        bool enc = strstr(key, "ENCRYPTED") != NULL;
        fail(e, enc ? "key_password" : "private_key", "%s",
             enc ? (pw && pw[0] ? "the private key cannot be decrypted with key_password (check "
                                  "the password)"
                                : "the private key is encrypted: give its password in "
                                  "key_password")
                 : "private_key holds no PEM private key (expected -----BEGIN PRIVATE KEY----- "
                   "or -----BEGIN RSA/EC PRIVATE KEY-----)");
        goto out;
    }
    if (!key_ok(pk, e))
        goto out;
    if (X509_check_private_key(leaf, pk) != 1) {
        ERR_clear_error();
        fail(e, "private_key",
             "the private key does not belong to the certificate (their public "
             "keys differ): upload the key the certificate was issued for");
        goto out;
    }
    /* Files: into a fresh directory next to the final one. */
    tls_upload_dir(b, l, dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s.new", dir);
    snprintf(old, sizeof old, "%s.old", dir);
    if (strlen(dir) + 16 > 512) {
        fail(e, NULL, "node.data_dir is too long to keep uploaded certificates under it");
        goto out;
    }
    snprintf(path, sizeof path, "%s/tls", b->conf.data_dir);
    mkdir(path, 0700);
    rm_dir(tmp);
    if (mkdir(tmp, 0700) != 0) {
        status = 500;
        fail(e, NULL, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof path, "%s/cert.pem", tmp);
    bool ok = write_pem_certs(path, leafs, chn);
    snprintf(path, sizeof path, "%s/key.pem", tmp);
    BIO *m = BIO_new(BIO_s_mem());
    ok = ok && PEM_write_bio_PrivateKey(m, pk, NULL, NULL, 0, NULL, NULL);
    char *kp = NULL;
    long kn = BIO_get_mem_data(m, &kp);
    ok = ok && kn > 0 && write_file(path, kp, (size_t)kn, 0600);
    OPENSSL_cleanse(kp, (size_t)(kn > 0 ? kn : 0));
    BIO_free(m);
    if (two_way) {
        snprintf(path, sizeof path, "%s/ca.pem", tmp);
        ok = ok && write_pem_certs(path, cas, NULL);
    }
    if (!ok) {
        status = 500;
        fail(e, NULL, "cannot write the files in %s: %s", tmp, strerror(errno));
        rm_dir(tmp);
        goto out;
    }
    /* The broker's own checks, on the files as they will be served. */
    moat_listener_conf lc = CONF(b)->listeners[l->index];
    snprintf(lc.certfile, sizeof lc.certfile, "%.490s/cert.pem", tmp);
    snprintf(lc.keyfile, sizeof lc.keyfile, "%.490s/key.pem", tmp);
    lc.certfile2[0] = lc.keyfile2[0] = lc.key_password[0] = 0;
    if (two_way) {
        snprintf(lc.cacertfile, sizeof lc.cacertfile, "%.490s/ca.pem", tmp);
        lc.verify = MOAT_VERIFY_PEER;
        lc.fail_if_no_peer_cert = true;
    } else {
        lc.cacertfile[0] = 0;
        lc.verify = MOAT_VERIFY_NONE;
        lc.fail_if_no_peer_cert = false;
        lc.peer_cert_as_username = lc.peer_cert_as_clientid = lc.clientid_must_match = 0;
    }
    if (tls_listener_try(&lc, &ctx, &r) != MOAT_OK) {
        rm_dir(tmp);
        fail(e, NULL, "the broker's certificate checks refused it (see findings)");
        findings_json(out, &r);
        goto out;
    }
    moat_tls_ctx_unref(ctx);
    ctx = NULL;
    /* Swap the directories, then build from the final paths (the ones the
     * reloader will watch) and put that context in service. */
    rm_dir(old);
    if (rename(dir, old) != 0 && errno != ENOENT) {
        status = 500;
        fail(e, NULL, "cannot replace %s: %s", dir, strerror(errno));
        rm_dir(tmp);
        goto out;
    }
    if (rename(tmp, dir) != 0) {
        status = 500;
        fail(e, NULL, "cannot install %s: %s", dir, strerror(errno));
        rename(old, dir);
        goto out;
    }
    rm_dir(old);
    int before =
        atomic_exchange(&l->tls_uploaded, two_way ? TLS_UPLOADED_TWO_WAY : TLS_UPLOADED_ONE_WAY);
    lc = CONF(b)->listeners[l->index];
    tls_override_apply(b, l, &lc);
    moat_cert_report_free(&r);
    r = (moat_cert_report)MOAT_CERT_REPORT_INIT;
    if (tls_listener_try(&lc, &ctx, &r) != MOAT_OK) {
        atomic_store(&l->tls_uploaded, before);
        status = 500;
        fail(e, NULL, "the installed files could not be loaded again (see findings)");
        findings_json(out, &r);
        goto out;
    }
    moat_tls_slot_set(&l->tls_slot, ctx); /* the slot takes our reference */
    ctx = NULL;
    atomic_fetch_add(&b->tls_reloads, 1);
    tls_reloader_request(b); /* watch the new files */
    findings_json(out, &r);
    status = 200;
out:
    moat_cert_report_free(&r);
    moat_tls_ctx_unref(ctx);
    EVP_PKEY_free(pk);
    sk_X509_pop_free(leafs, X509_free);
    sk_X509_pop_free(chn, X509_free);
    sk_X509_pop_free(cas, X509_free);
    return status;
}

int certs_upload(moat_broker *b, moat_listener *l, const char *body, size_t len, cJSON **out,
                 const char *who)
{
    upload_err e = {0};
    cJSON *o = cJSON_CreateObject();
    cJSON *j = cJSON_ParseWithLength(body, len);
    int status;
    if (!cJSON_IsObject(j)) {
        status = 400;
        cJSON_AddStringToObject(o, "code", "bad_request");
        cJSON_AddStringToObject(o, "message",
                                "expected a JSON object {certificate, chain, private_key, "
                                "key_password, client_ca, mode}");
    } else {
        status = do_upload(b, l, j, o, &e);
        if (status == 200) {
            cJSON_AddItemToObject(o, "certificates", certs_listener_json(b, l));
            LOG_NOTICE("listener %s: TLS certificate uploaded by %s and in service for new "
                       "connections; existing ones keep theirs",
                       l->label, who);
        } else {
            cJSON_AddStringToObject(o, "code", status == 422 ? "invalid_certificate" : "error");
            cJSON_AddStringToObject(o, "message", e.message);
            if (e.field)
                cJSON_AddStringToObject(o, "field", e.field);
            LOG_NOTICE("listener %s: TLS certificate upload by %s refused, the running one is "
                       "kept: %s",
                       l->label, who, e.message);
        }
    }
    cJSON_Delete(j);
    *out = o;
    return status;
}

static void drop_task(moat_loop *lp, void *arg)
{
    (void)lp;
    moat_conn *c = arg;
    conn_close(c, MQTT_RC_ADMIN_ACTION, "the listener's TLS configuration was deleted", true);
    conn_unref(c);
}

int certs_delete(moat_broker *b, moat_listener *l, cJSON **out, const char *who)
{
    cJSON *o = cJSON_CreateObject();
    *out = o;
    if (!atomic_load(&l->tls_uploaded)) {
        cJSON_AddStringToObject(o, "code", "not_found");
        cJSON_AddStringToObject(o, "message",
                                "this listener serves the certificate of the "
                                "configuration file; there is no upload to delete");
        return 404;
    }
    moat_listener_conf lc = CONF(b)->listeners[l->index];
    moat_tls_ctx *ctx = NULL;
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    if (tls_listener_try(&lc, &ctx, &r) != MOAT_OK) {
        cJSON_AddStringToObject(o, "code", "invalid_certificate");
        cJSON_AddStringToObject(o, "message",
                                "the configured certificate, which would be served "
                                "again, does not load (see findings); the upload "
                                "stays");
        findings_json(o, &r);
        moat_cert_report_free(&r);
        return 409;
    }
    moat_cert_report_free(&r);
    atomic_store(&l->tls_uploaded, TLS_UPLOADED_NONE);
    moat_tls_slot_set(&l->tls_slot, ctx);
    char dir[700];
    tls_upload_dir(b, l, dir, sizeof dir);
    rm_dir(dir);
    tls_reloader_request(b);
    /* Its TLS clients go, as the cloud document warns. */
    unsigned n = 0;
    pthread_mutex_lock(&b->lock);
    size_t it = 0;
    moat_map_slot *sl;
    while ((sl = moat_map_next(&b->sessions, &it))) {
        moat_conn *c = ((moat_session *)sl->value)->conn;
        if (!c || c->listener != l)
            continue;
        conn_ref(c);
        if (moat_loop_post(c->worker->loop, drop_task, c) != MOAT_OK)
            conn_unref(c);
        else
            n++;
    }
    pthread_mutex_unlock(&b->lock);
    LOG_NOTICE("listener %s: uploaded TLS certificate deleted by %s; the configured one is served "
               "again; %u client(s) disconnected",
               l->label, who, n);
    cJSON_AddNumberToObject(o, "disconnected", n);
    cJSON_AddItemToObject(o, "certificates", certs_listener_json(b, l));
    return 200;
}
