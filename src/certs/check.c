/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate material: read each file once, parse it with OpenSSL, and turn
 * every way it can be wrong into a finding that a person can act on. The
 * wording follows the questions users actually ask (the seeds' "common
 * problems"): which file, what is wrong with it, what command fixes it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/check.h"
#include "certs/info.h"

#define MAX_FILE_BYTES (16u << 20) /* far above any real bundle */
#define NAME_LEN 512
#define PATH_LEN 4096

#define ERROR(r, code, file, fix, ...)                                                             \
    moat_cert_report_add(r, MOAT_CERT_ERROR, code, file, fix, __VA_ARGS__)
#define WARN(r, code, file, fix, ...)                                                              \
    moat_cert_report_add(r, MOAT_CERT_WARNING, code, file, fix, __VA_ARGS__)

typedef struct pem_obj {
    char *name, *header;
    unsigned char *data;
    long len;
} pem_obj;

/* One file read into memory and split into its PEM blocks. */
typedef struct pem_file {
    const char *path;        /* borrowed */
    const char *what;        /* "certificate file", "key file" ... for messages */
    const moat_cert_opts *o; /* borrowed, may be NULL: how options are named */
    unsigned char *raw;
    size_t rawlen;
    pem_obj *objs;
    size_t n;
} pem_file;

static void pem_file_free(pem_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        OPENSSL_free(f->objs[i].name);
        OPENSSL_free(f->objs[i].header);
        OPENSSL_free(f->objs[i].data);
    }
    free(f->objs);
    free(f->raw);
    f->objs = NULL;
    f->raw = NULL;
    f->n = f->rawlen = 0;
}

static int64_t now_of(const moat_cert_opts *o)
{
    return o && o->now ? o->now : (int64_t)time(NULL);
}

static const char *subject(const X509 *x, char *buf)
{
    moat_cert_name_oneline(x, false, buf, NAME_LEN);
    return buf;
}

static const char *issuer(const X509 *x, char *buf)
{
    moat_cert_name_oneline(x, true, buf, NAME_LEN);
    return buf;
}

static const char *date(int64_t t, char *buf)
{
    moat_cert_time_str(t, buf, 32);
    return buf;
}

static bool is_ca(const X509 *x)
{
    return X509_check_ca((X509 *)x) != 0;
}

static bool self_signed(const X509 *x)
{
    return (X509_get_extension_flags((X509 *)x) & EXFLAG_SS) != 0;
}

static bool issued_by(const X509 *subj, const X509 *iss)
{
    return X509_check_issued((X509 *)iss, (X509 *)subj) == X509_V_OK;
}

/* Format a fix sentence; long paths are cut rather than refused. (A
 * wrapper, so that the compiler's truncation analysis of snprintf, which
 * cannot know how long a path is, stays out of the way.) */
static __attribute__((format(printf, 3, 4))) void fixf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Option names in messages: the configuration's, or those of `moat certs
 * check` when that is who asks. */
enum { OPT_CERT, OPT_KEY, OPT_PW, OPT_CA, OPT_PARTIAL };

static const char *optname(const moat_cert_opts *o, int which)
{
    static const char *const conf[] = {"certfile", "keyfile", "key_password", "cacertfile",
                                       "partial_chain = true"};
    static const char *const cli[] = {"--cert", "--key", "--key-password", "--ca",
                                      "--partial-chain"};
    return (o && o->cli ? cli : conf)[which];
}

/* "server" or "client": what the leaf is for, as messages say it. */
static const char *role_of(const moat_cert_opts *o)
{
    return o && o->purpose == MOAT_CERT_FOR_CLIENT ? "client" : "server";
}

/* ------------------------------------------------ why a file cannot be read */

static void who_am_i(char *out, size_t len, char *group, size_t glen)
{
    char buf[1024];
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    getpwuid_r(geteuid(), &pw, buf, sizeof buf, &pwp);
    snprintf(out, len, "uid %u (%s)", (unsigned)geteuid(), pwp ? pwp->pw_name : "no name");
    getgrgid_r(getegid(), &gr, buf, sizeof buf, &grp);
    snprintf(group, glen, "%s", grp ? grp->gr_name : "<moat's group>");
}

static void mode_owner(const char *path, char *out, size_t len)
{
    struct stat st;
    char buf[1024];
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    if (stat(path, &st) != 0) {
        snprintf(out, len, "mode unknown");
        return;
    }
    getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &pwp);
    char owner[64];
    snprintf(owner, sizeof owner, "%s", pwp ? pwp->pw_name : "?");
    getgrgid_r(st.st_gid, &gr, buf, sizeof buf, &grp);
    snprintf(out, len, "mode %04o, owner %s:%s", (unsigned)(st.st_mode & 07777), owner,
             grp ? grp->gr_name : "?");
}

/* Where a symbolic link points, made absolute relative to the link's own
 * directory; false when path is not a link. */
static bool link_target(const char *path, char *out, size_t len)
{
    char t[PATH_LEN];
    ssize_t n = readlink(path, t, sizeof t - 1);
    if (n < 0)
        return false;
    t[n] = '\0';
    const char *slash = strrchr(path, '/');
    if (t[0] == '/' || !slash)
        fixf(out, len, "%s", t);
    else
        fixf(out, len, "%.*s/%s", (int)(slash - path), path, t);
    return true;
}

/* The first directory on the way to path (following symbolic links to their
 * targets) that this process may not enter. */
static bool denied_dir(const char *path, char *dir, size_t len, int depth)
{
    char buf[PATH_LEN];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (access(buf, X_OK) != 0 && errno == EACCES) {
            snprintf(dir, len, "%s", buf);
            return true;
        }
        *p = '/';
    }
    char target[PATH_LEN];
    if (depth < 8 && link_target(path, target, sizeof target))
        return denied_dir(target, dir, len, depth + 1);
    return false;
}

static void explain_denied(const pem_file *f, moat_cert_report *r)
{
    char who[128], group[64], where[PATH_LEN], mode[128], fix[1024];
    who_am_i(who, sizeof who, group, sizeof group);
    if (denied_dir(f->path, where, sizeof where, 0)) {
        mode_owner(where, mode, sizeof mode);
        fixf(fix, sizeof fix,
             "Let moat's user enter that directory, e.g. `chgrp %s %s && chmod g+x %s`. "
             "Let's Encrypt keeps live/ and archive/ at mode 0700 for root: grant moat's "
             "group access to both, or copy the files from a certbot deploy hook.",
             group, where, where);
        ERROR(r, MOAT_CERT_FILE_UNREADABLE, f->path, fix,
              "cannot read the %s %s: permission denied: moat runs as %s and may not enter the "
              "directory %s (%s)",
              f->what, f->path, who, where, mode);
        return;
    }
    mode_owner(f->path, mode, sizeof mode);
    fixf(fix, sizeof fix,
         "Give moat's user read access, e.g. `chgrp %s %s && chmod 0640 %s` "
         "(keep private keys unreadable to other users).",
         group, f->path, f->path);
    ERROR(r, MOAT_CERT_FILE_UNREADABLE, f->path, fix,
          "cannot read the %s %s: permission denied: the file (%s) is not readable by %s", f->what,
          f->path, mode, who);
}

static void explain_missing(const pem_file *f, moat_cert_report *r)
{
    struct stat st;
    char target[PATH_LEN], cwd[PATH_LEN] = "?", fix[1024];
    if (lstat(f->path, &st) == 0 && S_ISLNK(st.st_mode) &&
        link_target(f->path, target, sizeof target)) {
        ERROR(r, MOAT_CERT_FILE_MISSING, f->path,
              "Point the link at an existing file, or set the option to the real file. With "
              "Let's Encrypt, check that the file the link names exists under archive/.",
              "the %s %s is a symbolic link to %s, which does not exist", f->what, f->path, target);
        return;
    }
    if (f->path[0] != '/') {
        if (!getcwd(cwd, sizeof cwd))
            snprintf(cwd, sizeof cwd, "?");
        fixf(fix, sizeof fix,
             "Relative paths are resolved from moat's working directory (%s). Use an "
             "absolute path, or check the file name.",
             cwd);
    } else {
        fixf(fix, sizeof fix, "Check the path in the configuration; `ls -l %s` should list it.",
             f->path);
    }
    ERROR(r, MOAT_CERT_FILE_MISSING, f->path, fix, "the %s %s does not exist", f->what, f->path);
}

static void explain_open_error(const pem_file *f, int err, moat_cert_report *r)
{
    if (err == ENOENT || err == ENOTDIR) {
        explain_missing(f, r);
    } else if (err == EACCES || err == EPERM) {
        explain_denied(f, r);
    } else {
        ERROR(r, MOAT_CERT_FILE_UNREADABLE, f->path, "Check the file and the disk it is on.",
              "cannot read the %s %s: %s", f->what, f->path, strerror(err));
    }
}

/* ------------------------------------------------------------- reading */

static moat_err read_fd(int fd, pem_file *f)
{
    size_t cap = 0;
    for (;;) {
        if (f->rawlen == cap) {
            if (cap >= MAX_FILE_BYTES)
                return MOAT_ELIMIT;
            cap = cap ? cap * 2 : 8192;
            unsigned char *p = realloc(f->raw, cap);
            if (!p)
                return MOAT_ENOMEM;
            f->raw = p;
        }
        ssize_t n = read(fd, f->raw + f->rawlen, cap - f->rawlen);
        if (n == 0)
            return MOAT_OK;
        if (n < 0 && errno != EINTR)
            return MOAT_EIO;
        if (n > 0)
            f->rawlen += (size_t)n;
    }
}

/* Read the whole file; MOAT_EINVAL with a finding when it cannot be. */
static moat_err read_whole(pem_file *f, moat_cert_report *r)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        explain_open_error(f, errno, r);
        return MOAT_EINVAL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        ERROR(r, MOAT_CERT_FILE_UNREADABLE, f->path,
              "Point the option at a file inside it, e.g. the fullchain.pem or privkey.pem there.",
              "the %s %s is a directory, not a file", f->what, f->path);
        return MOAT_EINVAL;
    }
    int saved = 0;
    moat_err e = read_fd(fd, f);
    if (e == MOAT_EIO)
        saved = errno;
    close(fd);
    if (e == MOAT_ENOMEM)
        return e;
    if (e == MOAT_ELIMIT) {
        ERROR(r, MOAT_CERT_FILE_UNREADABLE, f->path,
              "Point the option at the PEM file itself, not at an archive or a disk image.",
              "the %s %s is larger than %u MB; that is not certificate material", f->what, f->path,
              MAX_FILE_BYTES >> 20);
        return MOAT_EINVAL;
    }
    if (e) {
        explain_open_error(f, saved, r);
        return MOAT_EINVAL;
    }
    if (f->rawlen == 0) {
        ERROR(r, MOAT_CERT_FILE_EMPTY, f->path,
              "Restore the file from its source; an interrupted renewal or copy can leave an "
              "empty file behind.",
              "the %s %s is empty (0 bytes)", f->what, f->path);
        return MOAT_EINVAL;
    }
    return MOAT_OK;
}

static moat_err push_obj(pem_file *f, pem_obj o)
{
    pem_obj *v = realloc(f->objs, (f->n + 1) * sizeof *v);
    if (!v) {
        OPENSSL_free(o.name);
        OPENSSL_free(o.header);
        OPENSSL_free(o.data);
        return MOAT_ENOMEM;
    }
    f->objs = v;
    f->objs[f->n++] = o;
    return MOAT_OK;
}

/* Split the file into PEM blocks. A damaged block is an error; no block at
 * all is left to the caller, which knows what the file should have held. */
static moat_err split_pem(pem_file *f, moat_cert_report *r)
{
    BIO *b = BIO_new_mem_buf(f->raw, (int)f->rawlen);
    if (!b)
        return MOAT_ENOMEM;
    moat_err e = MOAT_OK;
    for (;;) {
        pem_obj o = {0};
        if (!PEM_read_bio(b, &o.name, &o.header, &o.data, &o.len)) {
            unsigned long err = ERR_peek_last_error();
            if (ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
                ERROR(r, MOAT_CERT_PEM_CORRUPT, f->path,
                      "Copy the file again from its source. A PEM block runs from a "
                      "'-----BEGIN ...-----' line to the matching '-----END ...-----' line with "
                      "only base64 text between them.",
                      "PEM block #%zu of the %s %s is damaged (%s)", f->n + 1, f->what, f->path,
                      ERR_reason_error_string(err));
                e = MOAT_EINVAL;
            }
            break;
        }
        if ((e = push_obj(f, o)) != MOAT_OK)
            break;
    }
    BIO_free(b);
    return e;
}

static moat_err load_pem_file(pem_file *f, moat_cert_report *r)
{
    moat_err e = read_whole(f, r);
    return e ? e : split_pem(f, r);
}

static bool is_cert_name(const char *n)
{
    return !strcmp(n, "CERTIFICATE") || !strcmp(n, "X509 CERTIFICATE") ||
           !strcmp(n, "TRUSTED CERTIFICATE");
}

static bool is_key_name(const char *n)
{
    size_t l = strlen(n);
    return l >= 11 && !strcmp(n + l - 11, "PRIVATE KEY");
}

static bool is_csr_name(const char *n)
{
    return !strcmp(n, "CERTIFICATE REQUEST") || !strcmp(n, "NEW CERTIFICATE REQUEST");
}

static size_t count_objs(const pem_file *f, bool (*match)(const char *))
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += match(f->objs[i].name);
    return n;
}

/* The file has no PEM block: say what it is instead. */
static void explain_not_pem(const pem_file *f, moat_cert_report *r)
{
    char fix[1024];
    const unsigned char *p = f->raw;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    PKCS12 *p12 = NULL;
    if (f->raw[0] == 0x30 && (x = d2i_X509(NULL, &p, (long)f->rawlen))) {
        fixf(fix, sizeof fix,
             "Convert it to PEM: `openssl x509 -inform der -in %s -out %s.pem`, then point "
             "the option at %s.pem.",
             f->path, f->path, f->path);
        ERROR(r, MOAT_CERT_NOT_PEM, f->path, fix,
              "the %s %s is a DER (binary) certificate; moat reads PEM text", f->what, f->path);
    } else if (p = f->raw, f->raw[0] == 0x30 && (p12 = d2i_PKCS12(NULL, &p, (long)f->rawlen))) {
        fixf(fix, sizeof fix,
             "Extract PEM files: `openssl pkcs12 -in %s -clcerts -nokeys -out cert.pem` for "
             "the certificate and `openssl pkcs12 -in %s -nocerts -nodes -out key.pem` for "
             "the key.",
             f->path, f->path);
        ERROR(r, MOAT_CERT_NOT_PEM, f->path, fix,
              "the %s %s is a PKCS#12 (.p12/.pfx) bundle; moat reads PEM text", f->what, f->path);
    } else if (p = f->raw,
               f->raw[0] == 0x30 && (k = d2i_AutoPrivateKey(NULL, &p, (long)f->rawlen))) {
        fixf(fix, sizeof fix,
             "Convert it to PEM: `openssl pkey -inform der -in %s -out %s.pem` (mode 0600).",
             f->path, f->path);
        ERROR(r, MOAT_CERT_NOT_PEM, f->path, fix,
              "the %s %s is a DER (binary) private key; moat reads PEM text", f->what, f->path);
    } else if (memmem(f->raw, f->rawlen, "-----BEGIN", 10)) {
        ERROR(r, MOAT_CERT_PEM_CORRUPT, f->path,
              "Copy the file again from its source; the '-----END ...-----' line is probably "
              "missing or the file was cut short.",
              "the %s %s has a '-----BEGIN' line but no complete PEM block", f->what, f->path);
    } else {
        ERROR(r, MOAT_CERT_NOT_PEM, f->path,
              "moat reads PEM files: text blocks that start with '-----BEGIN CERTIFICATE-----' "
              "(or '-----BEGIN PRIVATE KEY-----' for a key). Check that the option names the "
              "right file.",
              "the %s %s holds no PEM data (no '-----BEGIN' line; it starts with byte 0x%02x)",
              f->what, f->path, f->raw[0]);
    }
    X509_free(x);
    EVP_PKEY_free(k);
    PKCS12_free(p12);
}

/* ------------------------------------------------------- certificates */

/* Decode the certificates of a file in order; errors are findings. */
static moat_err decode_certs(const pem_file *f, STACK_OF(X509) * *out, moat_cert_report *r)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!sk)
        return MOAT_ENOMEM;
    int ord = 0;
    for (size_t i = 0; i < f->n; i++) {
        const pem_obj *o = &f->objs[i];
        if (!is_cert_name(o->name))
            continue;
        ord++;
        const unsigned char *p = o->data;
        X509 *x = !strcmp(o->name, "TRUSTED CERTIFICATE") ? d2i_X509_AUX(NULL, &p, o->len)
                                                          : d2i_X509(NULL, &p, o->len);
        if (!x) {
            ERROR(r, MOAT_CERT_PEM_CORRUPT, f->path,
                  "Copy the file again from its source; the base64 text of that certificate is "
                  "not a valid X.509 certificate.",
                  "certificate #%d in the %s %s does not decode: %s", ord, f->what, f->path,
                  ERR_reason_error_string(ERR_peek_last_error()));
            sk_X509_pop_free(sk, X509_free);
            return MOAT_EINVAL;
        }
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return MOAT_ENOMEM;
        }
    }
    *out = sk;
    return MOAT_OK;
}

static void explain_no_cert(const pem_file *f, moat_cert_report *r)
{
    if (f->n == 0) {
        explain_not_pem(f, r);
    } else if (count_objs(f, is_key_name)) {
        char fix[512];
        fixf(fix, sizeof fix,
             "Set %s to the certificate ('-----BEGIN CERTIFICATE-----', e.g. fullchain.pem) and "
             "%s to the private key (e.g. privkey.pem).",
             optname(f->o, OPT_CERT), optname(f->o, OPT_KEY));
        ERROR(r, MOAT_CERT_WRONG_CONTENT, f->path, fix,
              "the %s %s holds a private key but no certificate: are %s and %s swapped?", f->what,
              f->path, optname(f->o, OPT_CERT), optname(f->o, OPT_KEY));
    } else if (count_objs(f, is_csr_name)) {
        ERROR(r, MOAT_CERT_WRONG_CONTENT, f->path,
              "Send the CSR to your CA (or sign it with `openssl x509 -req`) and use the "
              "certificate that comes back.",
              "the %s %s is a certificate signing request (CSR), not a certificate", f->what,
              f->path);
    } else {
        ERROR(r, MOAT_CERT_WRONG_CONTENT, f->path,
              "Point the option at a file that contains '-----BEGIN CERTIFICATE-----' blocks.",
              "the %s %s holds no certificate (its first PEM block is '%s')", f->what, f->path,
              f->objs[0].name);
    }
}

/* Load a file that must hold certificates. */
static moat_err load_certs(pem_file *f, STACK_OF(X509) * *out, moat_cert_report *r)
{
    moat_err e = load_pem_file(f, r);
    if (e)
        return e;
    if ((e = decode_certs(f, out, r)) != MOAT_OK)
        return e;
    if (sk_X509_num(*out) == 0) {
        explain_no_cert(f, r);
        sk_X509_free(*out);
        *out = NULL;
        return MOAT_EINVAL;
    }
    return MOAT_OK;
}

/* ---------------------------------------------------------------- keys */

/* OpenSSL asks for a passphrase through this; never through the terminal,
 * which a daemon does not have. */
static int password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u;
    if (!pw)
        return -1;
    size_t n = strlen(pw);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pw, n);
    return (int)n;
}

static bool obj_encrypted(const pem_obj *o)
{
    return !strcmp(o->name, "ENCRYPTED PRIVATE KEY") ||
           (o->header && strstr(o->header, "ENCRYPTED"));
}

/* Decode one PEM block as a private key: re-armour just that block so that
 * OpenSSL's decoders see nothing else (a combined cert+key file is fine). */
static EVP_PKEY *decode_key(const pem_obj *o, const char *password)
{
    BIO *b = BIO_new(BIO_s_mem());
    EVP_PKEY *k = NULL;
    if (b && PEM_write_bio(b, o->name, o->header ? o->header : "", o->data, o->len) > 0)
        k = PEM_read_bio_PrivateKey(b, NULL, password_cb, (void *)password);
    BIO_free(b);
    return k;
}

static void explain_no_key(const pem_file *f, moat_cert_report *r)
{
    if (f->n == 0) {
        explain_not_pem(f, r);
    } else if (count_objs(f, is_cert_name)) {
        char fix[512];
        fixf(fix, sizeof fix,
             "Set %s to the private key ('-----BEGIN PRIVATE KEY-----', e.g. privkey.pem) and %s "
             "to the certificate.",
             optname(f->o, OPT_KEY), optname(f->o, OPT_CERT));
        ERROR(r, MOAT_CERT_WRONG_CONTENT, f->path, fix,
              "the %s %s holds certificates but no private key: are %s and %s swapped?", f->what,
              f->path, optname(f->o, OPT_CERT), optname(f->o, OPT_KEY));
    } else {
        ERROR(r, MOAT_CERT_WRONG_CONTENT, f->path,
              "Point the key option at the private key generated with the certificate request.",
              "the %s %s holds no private key (its first PEM block is '%s')", f->what, f->path,
              f->objs[0].name);
    }
}

static moat_err key_from_obj(const pem_file *f, const pem_obj *o, const char *password,
                             EVP_PKEY **out, moat_cert_report *r)
{
    char fix[1024];
    bool enc = obj_encrypted(o);
    bool has_pw = password && *password;
    if (enc && !has_pw) {
        fixf(fix, sizeof fix,
             "Set %s to the key's passphrase, or store the key unencrypted: "
             "`openssl pkey -in %s -out key.pem` (then chmod 0600 key.pem).",
             optname(f->o, OPT_PW), f->path);
        ERROR(r, MOAT_CERT_KEY_ENCRYPTED, f->path, fix,
              "the private key in %s is encrypted and no %s is set", f->path,
              optname(f->o, OPT_PW));
        return MOAT_EINVAL;
    }
    *out = decode_key(o, has_pw ? password : NULL);
    if (*out) {
        if (has_pw && !enc) {
            fixf(fix, sizeof fix, "Remove %s, or encrypt the key if that was the intent.",
                 optname(f->o, OPT_PW));
            WARN(r, MOAT_CERT_KEY_PASSWORD_UNUSED, f->path, fix,
                 "%s is set but the private key in %s is not encrypted; the password is not used",
                 optname(f->o, OPT_PW), f->path);
        }
        return MOAT_OK;
    }
    if (enc) {
        fixf(fix, sizeof fix,
             "Check %s; `openssl pkey -in %s -noout` asks for the passphrase and tells whether "
             "it is right.",
             optname(f->o, OPT_PW), f->path);
        ERROR(r, MOAT_CERT_KEY_BAD_PASSWORD, f->path, fix,
              "%s does not decrypt the private key in %s (wrong passphrase)", optname(f->o, OPT_PW),
              f->path);
    } else {
        ERROR(r, MOAT_CERT_PEM_CORRUPT, f->path, "Copy the key again from where it was generated.",
              "the private key in %s does not decode: %s", f->path,
              ERR_reason_error_string(ERR_peek_last_error()));
    }
    return MOAT_EINVAL;
}

static moat_err load_key(pem_file *f, const char *password, EVP_PKEY **out, bool *encrypted,
                         int *nkeys, moat_cert_report *r)
{
    moat_err e = load_pem_file(f, r);
    if (e)
        return e;
    const pem_obj *first = NULL;
    size_t keys = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (is_key_name(f->objs[i].name) && keys++ == 0)
            first = &f->objs[i];
    }
    if (!first) {
        explain_no_key(f, r);
        return MOAT_EINVAL;
    }
    if (keys > 1)
        WARN(r, MOAT_CERT_KEY_EXTRA, f->path, "Keep one private key per file.",
             "the key file %s holds %zu private keys; moat uses the first", f->path, keys);
    *encrypted = obj_encrypted(first);
    *nkeys = (int)keys;
    return key_from_obj(f, first, password, out, r);
}

/* ------------------------------------------------------ server checks */

/* The state of one certfile (+ chainfile) + keyfile check. */
typedef struct srv {
    const char *certfile;    /* for messages: the file, or "cert.pem + chain.pem" */
    const char *keyfile;     /* NULL: no key to check */
    const moat_cert_opts *o; /* never NULL */
    moat_cert_report *r;
    int64_t now;
    STACK_OF(X509) * certs;  /* as in the file(s) */
    int n_certfile;          /* how many of certs come from certfile */
    EVP_PKEY *key;           /* NULL when it did not load */
    int leaf;                /* index of the leaf certificate in certs */
    bool no_leaf;            /* the file holds no leaf certificate at all */
    bool ordered;            /* leaf first, each certificate followed by its issuer */
    bool usage_reported;     /* the leaf's usage is already wrong in the report */
    bool issuer_reported;    /* a missing issuer is (OpenSSL may say it twice) */
    STACK_OF(X509) * served; /* what follows the leaf on the wire */
    STACK_OF(X509) * path;   /* the chain verification built, leaf first */
    bool anchored;           /* ... and it ends at a trusted certificate */
} srv;

static const char *role(const srv *s)
{
    return role_of(s->o);
}

/* "#1 CN=a, #2 CN=b": the order a chain file should have, starting at the
 * leaf and following issuers through the file. */
static void suggest_order(const srv *s, char *out, size_t len)
{
    int n = sk_X509_num(s->certs);
    bool used[64] = {false};
    size_t off = 0;
    char nm[NAME_LEN];
    int cur = s->leaf;
    for (int step = 1; cur >= 0 && cur < 64 && off < len; step++) {
        used[cur] = true;
        off += (size_t)snprintf(out + off, len - off, "%s%d. %s", step > 1 ? ", then " : "", step,
                                subject(sk_X509_value(s->certs, cur), nm));
        int next = -1;
        for (int j = 0; j < n && j < 64 && next < 0; j++)
            if (!used[j] && issued_by(sk_X509_value(s->certs, cur), sk_X509_value(s->certs, j)))
                next = j;
        cur = next;
    }
}

static int first_non_ca(STACK_OF(X509) * sk)
{
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (!is_ca(sk_X509_value(sk, i)))
            return i;
    return -1;
}

static int key_match(const srv *s)
{
    for (int i = 0; s->key && i < sk_X509_num(s->certs); i++)
        if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(s->certs, i)), s->key) == 1)
            return i;
    return -1;
}

static void report_key_mismatch(srv *s)
{
    char nm[NAME_LEN], fix[1024];
    fixf(fix, sizeof fix,
         "Use the key that was generated with this certificate. To compare them, "
         "`openssl x509 -in %s -noout -pubkey | sha256sum` and `openssl pkey -in %s -pubout "
         "| sha256sum` must print the same hash. With Let's Encrypt take fullchain.pem and "
         "privkey.pem from the same live/<domain>/ directory.",
         sk_X509_num(s->certs) > s->n_certfile ? "<certificate file>" : s->certfile, s->keyfile);
    ERROR(s->r, MOAT_CERT_KEY_MISMATCH, s->keyfile, fix,
          "the private key in %s does not belong to the certificate in %s (%s)", s->keyfile,
          s->certfile, subject(sk_X509_value(s->certs, 0), nm));
}

/* The leaf is the certificate that matches the key, and it must come first. */
static void find_leaf(srv *s)
{
    char nm[NAME_LEN], nm2[NAME_LEN], order[2048], fix[2600];
    X509 *first = sk_X509_value(s->certs, 0);
    int match = key_match(s);
    s->leaf = 0;
    s->ordered = true;
    if (s->key && match < 0) {
        if (first_non_ca(s->certs) < 0) {
            fixf(fix, sizeof fix,
                 "Set %s to the %s's certificate followed by its intermediates (e.g. "
                 "fullchain.pem); CA certificates that peers are checked against belong in %s.",
                 optname(s->o, OPT_CERT), role(s), optname(s->o, OPT_CA));
            ERROR(s->r, MOAT_CERT_CA_FIRST, s->certfile, fix,
                  "the certificate file %s holds only CA certificates (the first is %s): the "
                  "%s's own certificate is missing",
                  s->certfile, subject(first, nm), role(s));
            s->ordered = false;
            s->no_leaf = true;
        } else {
            report_key_mismatch(s);
        }
        return;
    }
    if (match <= 0) {
        int leaf = first_non_ca(s->certs);
        if (s->key || leaf <= 0)
            return; /* the key matches #1, or no key and nothing better to go on */
        match = leaf;
    }
    s->leaf = match;
    s->ordered = false;
    suggest_order(s, order, sizeof order);
    fixf(fix, sizeof fix,
         "Put the %s certificate first, each certificate followed by the one that issued it: %s.",
         role(s), order);
    ERROR(s->r, is_ca(first) ? MOAT_CERT_CA_FIRST : MOAT_CERT_CHAIN_ORDER, s->certfile, fix,
          "the certificate file %s starts with %s certificate (%s) instead of the %s's own; "
          "the %s certificate (%s) is #%d: the order is reversed",
          s->certfile, is_ca(first) ? "a CA" : "another", subject(first, nm), role(s), role(s),
          subject(sk_X509_value(s->certs, match), nm2), match + 1);
}

/* The same certificate twice: most often the leaf pasted into a separate
 * chain file too, which EMQX Cloud's guide warns about. */
static bool check_duplicates(srv *s)
{
    char nm[NAME_LEN], fix[1024];
    int n = sk_X509_num(s->certs);
    for (int j = 1; j < n; j++) {
        for (int i = 0; i < j; i++) {
            if (X509_cmp(sk_X509_value(s->certs, i), sk_X509_value(s->certs, j)) != 0)
                continue;
            bool leaf_in_chain = i == s->leaf && j >= s->n_certfile && s->n_certfile < n;
            fixf(fix, sizeof fix,
                 leaf_in_chain ? "Remove the %s certificate from the chain file: it holds only the "
                                 "intermediates, and the certificate itself is sent first anyway."
                               : "Remove the second copy; each certificate is sent once, %s "
                                 "certificate first, then each issuer.",
                 role(s));
            ERROR(s->r, MOAT_CERT_DUPLICATE_CERT, s->certfile, fix,
                  "certificate #%d in %s (%s) is a copy of #%d%s", j + 1, s->certfile,
                  subject(sk_X509_value(s->certs, j), nm), i + 1,
                  leaf_in_chain ? ", the certificate itself, in the chain file" : "");
            return true;
        }
    }
    return false;
}

/* Each certificate after the leaf must have issued the one before it. */
static void check_order(srv *s)
{
    char a[NAME_LEN], b[NAME_LEN], c[NAME_LEN], order[2048], fix[2600];
    int n = sk_X509_num(s->certs);
    for (int i = 1; i < n; i++) {
        X509 *prev = sk_X509_value(s->certs, i - 1), *cur = sk_X509_value(s->certs, i);
        if (issued_by(prev, cur))
            continue;
        int j = i + 1;
        while (j < n && !issued_by(prev, sk_X509_value(s->certs, j)))
            j++;
        s->ordered = false;
        if (j < n) {
            suggest_order(s, order, sizeof order);
            fixf(fix, sizeof fix,
                 "Order the file so that each certificate is followed by the one that "
                 "issued it: %s.",
                 order);
            ERROR(s->r, MOAT_CERT_CHAIN_ORDER, s->certfile, fix,
                  "the chain in %s is out of order: certificate #%d (%s) did not issue #%d (%s); "
                  "its issuer is #%d",
                  s->certfile, i + 1, subject(cur, a), i, subject(prev, b), j + 1);
        } else {
            fixf(fix, sizeof fix,
                 "Remove certificate #%d, or replace it with the certificate of %s (the "
                 "intermediate CA that issued #%d).",
                 i + 1, issuer(prev, c), i);
            ERROR(s->r, MOAT_CERT_CHAIN_UNRELATED, s->certfile, fix,
                  "certificate #%d in %s (%s) does not belong to the chain: it did not issue #%d "
                  "(%s, issued by %s), and no certificate in the file did",
                  i + 1, s->certfile, subject(cur, a), i, subject(prev, b), issuer(prev, c));
        }
        return;
    }
}

/* A self-signed CA among what would be sent after the leaf. */
static void check_root_included(srv *s)
{
    char a[NAME_LEN];
    int n = sk_X509_num(s->certs);
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(s->certs, i);
        if (i == s->leaf || !self_signed(x))
            continue;
        if (s->ordered && i == n - 1)
            WARN(s->r, MOAT_CERT_ROOT_INCLUDED, s->certfile,
                 "Remove the last certificate from the file (Let's Encrypt's fullchain.pem is "
                 "already right).",
                 "the certificate file %s ends with the root CA certificate (%s); peers must "
                 "already trust the root, so sending it is harmless but adds about %d bytes to "
                 "every handshake",
                 s->certfile, subject(x, a), i2d_X509(x, NULL));
        else
            WARN(s->r, MOAT_CERT_ROOT_INCLUDED, s->certfile,
                 "Remove the root certificate from the file; peers hold it already.",
                 "the certificate file %s includes the root CA certificate (%s) as #%d; peers "
                 "must already trust the root, so sending it only adds about %d bytes to every "
                 "handshake",
                 s->certfile, subject(x, a), i + 1, i2d_X509(x, NULL));
        return;
    }
}

static long days_between(int64_t from, int64_t to)
{
    return (long)((to - from) / 86400);
}

static void check_validity(srv *s, X509 *x)
{
    char nm[NAME_LEN], d1[32], d2[32], fix[512];
    int64_t nb = moat_cert_not_before(x), na = moat_cert_not_after(x);
    int warn_days = s->o->expiry_warn_days ? s->o->expiry_warn_days : 30;
    if (na < s->now) {
        ERROR(s->r, MOAT_CERT_EXPIRED, s->certfile,
              "Renew the certificate (Let's Encrypt: `certbot renew`) and update the file; moat "
              "picks up the renewed file without a restart.",
              "the %s certificate in %s (%s) expired on %s, %ld day(s) ago", role(s), s->certfile,
              subject(x, nm), date(na, d1), days_between(na, s->now));
    } else if (nb > s->now) {
        fixf(fix, sizeof fix,
             "Check this host's clock (it says %s). If the clock is right, the certificate "
             "was issued with a future start date: wait until then or have it reissued.",
             date(s->now, d2));
        ERROR(s->r, MOAT_CERT_NOT_YET_VALID, s->certfile, fix,
              "the %s certificate in %s (%s) is not valid before %s (in %ld day(s))", role(s),
              s->certfile, subject(x, nm), date(nb, d1), days_between(s->now, nb) + 1);
    } else if (na - s->now < (int64_t)warn_days * 86400) {
        WARN(s->r, MOAT_CERT_EXPIRES_SOON, s->certfile,
             "Renew it now (Let's Encrypt: check that `certbot renew` runs from cron or a timer).",
             "the %s certificate in %s (%s) expires on %s, in %ld day(s)", role(s), s->certfile,
             subject(x, nm), date(na, d1), days_between(s->now, na));
    }
}

/* Names of the extended key usages present, "clientAuth, codeSigning". */
static void eku_list(X509 *x, char *out, size_t len)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku) && off < len; i++) {
        char nm[80];
        OBJ_obj2txt(nm, sizeof nm, sk_ASN1_OBJECT_value(eku, i), 0);
        off += (size_t)snprintf(out + off, len - off, "%s%s", i ? ", " : "", nm);
    }
    EXTENDED_KEY_USAGE_free(eku);
}

/* The extended key usage and key usage a TLS peer requires, as OpenSSL's
 * sslserver and sslclient purposes test them. (anyExtendedKeyUsage alone
 * does not do: OpenSSL refuses it for both.) */
static void check_purpose(srv *s, X509 *x)
{
    char nm[NAME_LEN], list[256], fix[512];
    bool client = s->o->purpose == MOAT_CERT_FOR_CLIENT;
    uint32_t xku = X509_get_extended_key_usage(x);
    uint32_t want = client ? XKU_SSL_CLIENT : XKU_SSL_SERVER | XKU_SGC;
    if (xku != UINT32_MAX && !(xku & want)) {
        eku_list(x, list, sizeof list);
        if (client) {
            ERROR(s->r, MOAT_CERT_NO_CLIENT_AUTH, s->certfile,
                  "Have the certificate reissued with `extendedKeyUsage = clientAuth` (a server "
                  "certificate cannot serve as a client certificate unless it lists both).",
                  "the client certificate in %s (%s) is only for %s: it lacks the clientAuth "
                  "extended key usage, and TLS servers refuse it ('unsupported certificate "
                  "purpose')",
                  s->certfile, subject(x, nm), list);
        } else {
            ERROR(s->r, MOAT_CERT_NO_SERVER_AUTH, s->certfile,
                  "Have the certificate reissued with `extendedKeyUsage = serverAuth` (a client "
                  "certificate cannot serve as a server certificate).",
                  "the server certificate in %s (%s) is only for %s: it lacks the serverAuth "
                  "extended key usage, and TLS clients refuse it ('unsupported certificate "
                  "purpose')",
                  s->certfile, subject(x, nm), list);
        }
        s->usage_reported = true;
    }
    uint32_t ku = X509_get_key_usage(x);
    uint32_t need = client ? KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT
                           : KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT;
    if (ku != UINT32_MAX && !(ku & need)) {
        fixf(fix, sizeof fix,
             "Have the certificate reissued with `keyUsage = critical, digitalSignature%s`.",
             client ? "" : ", keyEncipherment");
        ERROR(s->r, MOAT_CERT_KEY_USAGE, s->certfile, fix,
              "the keyUsage of the %s certificate in %s (%s) allows neither digitalSignature "
              "nor %s, so its key cannot be used in a TLS handshake ('unsupported certificate "
              "purpose')",
              role(s), s->certfile, subject(x, nm),
              client ? "keyAgreement" : "keyEncipherment nor keyAgreement");
        s->usage_reported = true;
    }
}

static void check_san(srv *s, X509 *x)
{
    GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!san && s->o->purpose == MOAT_CERT_FOR_SERVER) {
        char cn[256] = "";
        moat_cert_identity(x, MOAT_CERT_ID_CN, cn, sizeof cn);
        WARN(s->r, MOAT_CERT_NO_SAN, s->certfile,
             "Have it reissued with a subjectAltName for every name and address clients use, "
             "e.g. `-addext \"subjectAltName=DNS:broker.example.com,IP:192.0.2.10\"`.",
             "the server certificate in %s has no subjectAltName; strict clients (Go, browsers, "
             "many MQTT SDKs) match the host name only against it and ignore the CN ('%s'), "
             "while others still fall back to the CN",
             s->certfile, cn);
    }
    GENERAL_NAMES_free(san);
}

/* "DNS:a, IP:1.2.3.4", or "CN=a (no subjectAltName)": what the leaf can be
 * matched against. */
static void names_of(X509 *x, char *out, size_t len)
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
    if (!off)
        snprintf(out, len, "no DNS or IP subjectAltName; CN '%s'", in.cn ? in.cn : "");
    moat_cert_info_free(&in);
}

/* Would a peer connecting to o->host accept the leaf? OpenSSL decides, as
 * `openssl verify -verify_hostname` / `-verify_ip` and TLS clients do. */
static void check_host(srv *s, X509 *x)
{
    const char *h = s->o->host;
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
    int ok = ip ? X509_check_ip_asc(x, h, 0) : X509_check_host(x, h, strlen(h), 0, NULL);
    if (ok == 1)
        return;
    char nm[NAME_LEN], names[1024], fix[1400];
    names_of(x, names, sizeof names);
    fixf(fix, sizeof fix,
         "Connect with a name the certificate lists, or have it reissued with `subjectAltName = "
         "%s:%s` (keep the names it has: `%s`).",
         ip ? "IP" : "DNS", h, names);
    ERROR(s->r, MOAT_CERT_HOST_MISMATCH, s->certfile, fix,
          "the %s certificate in %s (%s) is not valid for %s %s: it lists %s; peers connecting "
          "to %s fail with 'Hostname mismatch'",
          role(s), s->certfile, subject(x, nm), ip ? "the address" : "the host name", h, names, h);
}

static void check_key_strength(srv *s, X509 *x)
{
    char nm[NAME_LEN], group[64] = "";
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (!k)
        return;
    int id = EVP_PKEY_get_base_id(k);
    if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) && EVP_PKEY_get_bits(k) < 2048) {
        ERROR(s->r, MOAT_CERT_WEAK_KEY, s->certfile,
              "Generate a new key of at least 2048 bits (or an ECDSA P-256 key) and have the "
              "certificate reissued: `openssl genpkey -algorithm RSA -pkeyopt "
              "rsa_keygen_bits:2048 -out key.pem`.",
              "the %s certificate in %s (%s) has an RSA key of %d bits; OpenSSL 3 and modern "
              "peers refuse keys under 2048 bits",
              role(s), s->certfile, subject(x, nm), EVP_PKEY_get_bits(k));
    }
    if (id != EVP_PKEY_EC)
        return;
    EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, NULL);
    int nid = OBJ_sn2nid(group);
    if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1 && nid != NID_secp521r1)
        WARN(s->r, MOAT_CERT_UNUSUAL_CURVE, s->certfile,
             "Use a P-256 (prime256v1) or P-384 key: `openssl genpkey -algorithm EC -pkeyopt "
             "ec_paramgen_curve:P-256`.",
             "the %s certificate in %s (%s) uses the EC curve %s, which most TLS peers do "
             "not accept for certificates",
             role(s), s->certfile, subject(x, nm), group);
}

static void check_signature(srv *s, X509 *x, int pos)
{
    char nm[NAME_LEN];
    int md = NID_undef, pk = NID_undef;
    if (self_signed(x) || !OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pk))
        return; /* a root's own signature is never checked by clients */
    /* An error, not a warning: OpenSSL at moat's security level refuses the
     * certificate anyway, and so do peers. */
    if (md == NID_sha1)
        ERROR(s->r, MOAT_CERT_SHA1, s->certfile,
              "Have the certificate reissued with a SHA-256 signature.",
              "certificate #%d in %s (%s) is signed with SHA-1, which TLS clients have refused "
              "since 2017; moat's listeners refuse it too (OpenSSL security level 2)",
              pos, s->certfile, subject(x, nm));
}

static void check_leaf(srv *s)
{
    char nm[NAME_LEN];
    X509 *x = sk_X509_value(s->certs, s->leaf);
    if (X509_get_version(x) != X509_VERSION_3)
        WARN(s->r, MOAT_CERT_NOT_V3, s->certfile,
             "Have it reissued as version 3 with its extensions (`openssl x509 -req ... -extfile "
             "openssl.cnf -extensions v3_req`, as in the EMQX Cloud guide): a subjectAltName, "
             "keyUsage and extendedKeyUsage.",
             "the %s certificate in %s (%s) is an X.509 version %ld certificate: it carries no "
             "extensions, so no subjectAltName, key usage or basic constraints",
             role(s), s->certfile, subject(x, nm), X509_get_version(x) + 1);
    check_validity(s, x);
    check_purpose(s, x);
    check_san(s, x);
    if (s->o->host)
        check_host(s, x);
    check_key_strength(s, x);
    for (int i = 0; i < sk_X509_num(s->certs); i++)
        check_signature(s, sk_X509_value(s->certs, i), i + 1);
    if (is_ca(x) && !self_signed(x))
        WARN(s->r, MOAT_CERT_LEAF_IS_CA, s->certfile,
             "Have the certificate issued with basicConstraints CA:FALSE.",
             "the %s certificate in %s (%s) is marked as a CA (basicConstraints CA:TRUE); "
             "some peers refuse a CA certificate as a %s certificate",
             role(s), s->certfile, subject(x, nm), role(s));
}

/* ------------------------------------------------- chain verification */

#define MAX_VERIFY_ERRS 8

typedef struct verify_errs {
    int n;
    int code[MAX_VERIFY_ERRS], depth[MAX_VERIFY_ERRS];
    X509 *cert[MAX_VERIFY_ERRS]; /* referenced */
} verify_errs;

/* Collect every problem and carry on, so one pass reports them all. */
static int collect_cb(int ok, X509_STORE_CTX *xs)
{
    verify_errs *v = X509_STORE_CTX_get_app_data(xs);
    if (ok || !v)
        return 1;
    int code = X509_STORE_CTX_get_error(xs);
    for (int i = 0; i < v->n; i++)
        if (v->code[i] == code)
            return 1;
    if (v->n < MAX_VERIFY_ERRS) {
        X509 *c = X509_STORE_CTX_get_current_cert(xs);
        v->code[v->n] = code;
        v->depth[v->n] = X509_STORE_CTX_get_error_depth(xs);
        v->cert[v->n] = c && X509_up_ref(c) ? c : NULL;
        v->n++;
    }
    return 1;
}

static X509_STORE *trust_store(const moat_cert_opts *o)
{
    X509_STORE *st = X509_STORE_new();
    if (!st)
        return NULL;
    for (int i = 0; o && o->trusted && i < sk_X509_num(o->trusted); i++)
        X509_STORE_add_cert(st, sk_X509_value(o->trusted, i));
    if (o && o->system_roots)
        X509_STORE_set_default_paths(st);
    return st;
}

static bool in_stack(STACK_OF(X509) * sk, X509 *x)
{
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (X509_cmp(sk_X509_value(sk, i), x) == 0)
            return true;
    return false;
}

static const char *trusted_name(const srv *s)
{
    if (s->o->trusted_file)
        return s->o->trusted_file;
    return s->o->cli ? "a --ca file (none was given)" : "cacertfile";
}

static void report_issuer_missing(srv *s, X509 *c, int depth)
{
    char nm[NAME_LEN], iss[NAME_LEN], fix[1400];
    const char *trusted = trusted_name(s);
    if (depth == 0) {
        issuer(c, iss);
        fixf(fix, sizeof fix,
             "Use the full chain: with Let's Encrypt point %s at fullchain.pem rather "
             "than cert.pem; otherwise append the intermediate certificate(s) after the "
             "%s certificate in %s. If %s is your own root CA, set %s to it so "
             "moat can check the chain.",
             optname(s->o, OPT_CERT), role(s), s->certfile, iss, optname(s->o, OPT_CA));
        ERROR(s->r, MOAT_CERT_INTERMEDIATE_MISSING, s->certfile, fix,
              "the certificate file %s holds the %s certificate (%s) but not its issuer "
              "(%s), which is neither in %s nor a trusted root; peers will fail with 'unable to "
              "get local issuer certificate'",
              s->certfile, role(s), subject(c, nm), iss, trusted);
        return;
    }
    if (s->o->anchor_required) {
        fixf(fix, sizeof fix,
             "If peers trust %s, give its certificate as %s. Otherwise the chain leads to a CA "
             "that %s does not hold: check that the certificate was issued by the CA you meant.",
             issuer(c, iss), optname(s->o, OPT_CA), trusted);
        ERROR(s->r, MOAT_CERT_INTERMEDIATE_MISSING, s->certfile, fix,
              "the chain in %s ends with %s, whose issuer (%s) is not in %s; peers that trust "
              "only %s will fail with 'unable to get issuer certificate'",
              s->certfile, subject(c, nm), iss, trusted, trusted);
        return;
    }
    fixf(fix, sizeof fix,
         "Nothing is wrong if %s is a private root CA that peers trust: set %s to "
         "it so moat can check the chain. Otherwise append its certificate to %s.",
         issuer(c, iss), optname(s->o, OPT_CA), s->certfile);
    WARN(s->r, MOAT_CERT_INTERMEDIATE_MISSING, s->certfile, fix,
         "the chain in %s ends with %s, whose issuer (%s) is neither in %s nor in the system's "
         "trusted roots, so moat cannot check the chain up to a root",
         s->certfile, subject(c, nm), iss, trusted);
}

static void report_verify_error(srv *s, int code, int depth, X509 *c)
{
    char nm[NAME_LEN], d[32], fix[1024];
    switch (code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        if (!s->issuer_reported)
            report_issuer_missing(s, c, depth);
        s->issuer_reported = true;
        return;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        if (!s->o->anchor_required)
            return; /* a root we do not know but clients may: their call */
        fixf(fix, sizeof fix,
             "Give that root's certificate as %s if peers trust it; otherwise have the "
             "certificate issued by a CA in %s.",
             optname(s->o, OPT_CA), trusted_name(s));
        ERROR(s->r, MOAT_CERT_INTERMEDIATE_MISSING, s->certfile, fix,
              "the chain in %s ends at the root %s, which is not in %s; peers that trust only "
              "%s will fail with 'self-signed certificate in certificate chain'",
              s->certfile, c ? subject(c, nm) : "?", trusted_name(s), trusted_name(s));
        return;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        if (s->o->anchor_required) {
            fixf(fix, sizeof fix,
                 "Give this very certificate as %s, or use a certificate issued by a CA in %s.",
                 optname(s->o, OPT_CA), trusted_name(s));
            ERROR(s->r, MOAT_CERT_CHAIN_INVALID, s->certfile, fix,
                  "the %s certificate in %s (%s) is self-signed and not in %s; peers that trust "
                  "only %s refuse it ('self-signed certificate')",
                  role(s), s->certfile, subject(c, nm), trusted_name(s), trusted_name(s));
            return;
        }
        WARN(s->r, MOAT_CERT_CHAIN_INVALID, s->certfile,
             "Fine for a test. In production use a certificate issued by a CA (a private CA or "
             "Let's Encrypt).",
             "the %s certificate in %s (%s) is self-signed: peers accept it only when "
             "given this very certificate as their CA file",
             role(s), s->certfile, subject(c, nm));
        return;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        if (depth == 0)
            return; /* reported by check_validity with more detail */
        ERROR(s->r, MOAT_CERT_CHAIN_INVALID, s->certfile,
              "Replace that CA certificate with its current version (your CA publishes it; for "
              "Let's Encrypt a fresh fullchain.pem has it).",
              "the CA certificate %s in the chain of %s %s %s", subject(c, nm), s->certfile,
              code == X509_V_ERR_CERT_HAS_EXPIRED ? "expired on" : "is not valid before",
              date(code == X509_V_ERR_CERT_HAS_EXPIRED ? moat_cert_not_after(c)
                                                       : moat_cert_not_before(c),
                   d));
        return;
    case X509_V_ERR_INVALID_PURPOSE:
        if (depth == 0 && s->usage_reported)
            return; /* check_purpose said it, with the usages the certificate has */
        if (depth > 0) {
            ERROR(s->r, MOAT_CERT_CHAIN_INVALID, s->certfile,
                  "Use a CA certificate whose extendedKeyUsage (if it has one) includes the "
                  "purpose, and whose keyUsage includes keyCertSign; ask the CA for it.",
                  "the CA certificate %s in the chain of %s may not issue TLS %s certificates "
                  "(its key usage or extended key usage excludes it: 'unsupported certificate "
                  "purpose')",
                  subject(c, nm), s->certfile, role(s));
            return;
        }
        break;
    default:
        break;
    }
    ERROR(s->r, MOAT_CERT_CHAIN_INVALID, s->certfile,
          "Check that every certificate in the file is the one its CA issued (`openssl "
          "verify -untrusted <file> <file>` shows the same error).",
          "the certificate chain in %s does not verify at %s: %s", s->certfile,
          c ? subject(c, nm) : "?", X509_verify_cert_error_string(code));
}

/* Append to served the intermediates that verification found in the trusted
 * certificates (cacertfile) but that certfile lacks. */
static moat_err complete_chain(srv *s, STACK_OF(X509) * built)
{
    char nm[NAME_LEN], names[1024] = "";
    size_t off = 0;
    for (int i = 1; i < sk_X509_num(built); i++) {
        X509 *c = sk_X509_value(built, i);
        if (self_signed(c) || in_stack(s->served, c))
            continue;
        if (!X509_up_ref(c) || !sk_X509_push(s->served, c))
            return MOAT_ENOMEM;
        if (off < sizeof names)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", off ? "; " : "",
                                    subject(c, nm));
    }
    if (off)
        WARN(s->r, MOAT_CERT_CHAIN_COMPLETED, s->certfile,
             "Put the intermediates in the certificate file after the server certificate (e.g. "
             "use fullchain.pem), so that the file alone says what is served.",
             "the certificate file %s lacks intermediate certificate(s) that clients need; moat "
             "serves them from %s: %s",
             s->certfile, trusted_name(s), names);
    return MOAT_OK;
}

static moat_err verify_chain(srv *s)
{
    verify_errs v = {0};
    X509_STORE *st = trust_store(s->o);
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    moat_err e = MOAT_ENOMEM;
    if (!st || !xs || !X509_STORE_CTX_init(xs, st, sk_X509_value(s->certs, s->leaf), s->served))
        goto out;
    /* Peers check the purpose along the whole chain (a CA may be limited to
     * other uses); sets the matching trust setting too, as TLS does. */
    X509_STORE_CTX_set_purpose(xs, s->o->purpose == MOAT_CERT_FOR_CLIENT ? X509_PURPOSE_SSL_CLIENT
                                                                         : X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(xs);
    X509_VERIFY_PARAM_set_time(vp, (time_t)s->now);
    /* An intermediate in cacertfile is as good an anchor as a root here;
     * but when the trusted certificates are what peers use, do as they do. */
    if (!s->o->anchor_required || s->o->partial_chain)
        X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_app_data(xs, &v);
    X509_STORE_CTX_set_verify_cb(xs, collect_cb);
    X509_verify_cert(xs);
    e = MOAT_OK;
    for (int i = 0; i < v.n; i++)
        report_verify_error(s, v.code[i], v.depth[i], v.cert[i]);
    STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(xs);
    if (built) {
        /* Ends at a trusted certificate that counts as an anchor. */
        X509 *last = sk_X509_value(built, sk_X509_num(built) - 1);
        s->anchored =
            X509_STORE_CTX_get_num_untrusted(xs) < sk_X509_num(built) &&
            (self_signed(last) || (X509_VERIFY_PARAM_get_flags(vp) & X509_V_FLAG_PARTIAL_CHAIN));
        if (!(s->path = X509_chain_up_ref(built)))
            e = MOAT_ENOMEM;
    }
    bool only_expired_leaf =
        v.n == 1 && v.code[0] == X509_V_ERR_CERT_HAS_EXPIRED && v.depth[0] == 0;
    if (!e && s->ordered && (v.n == 0 || only_expired_leaf))
        e = complete_chain(s, built);
out:
    for (int i = 0; i < v.n; i++)
        X509_free(v.cert[i]);
    X509_STORE_CTX_free(xs);
    X509_STORE_free(st);
    return e;
}

/* --------------------------------------------------------- load server */

static moat_err build_served(srv *s)
{
    s->served = sk_X509_new_null();
    if (!s->served)
        return MOAT_ENOMEM;
    for (int i = 0; i < sk_X509_num(s->certs); i++) {
        X509 *c = sk_X509_value(s->certs, i);
        if (i == s->leaf)
            continue;
        if (!X509_up_ref(c) || !sk_X509_push(s->served, c))
            return MOAT_ENOMEM;
    }
    return MOAT_OK;
}

static moat_err check_server(srv *s)
{
    find_leaf(s);
    if (!s->no_leaf)
        check_leaf(s);
    if (!s->no_leaf && check_duplicates(s))
        s->ordered = false;
    if (s->ordered && s->leaf == 0)
        check_order(s);
    if (!s->no_leaf)
        check_root_included(s);
    moat_err e = build_served(s);
    /* The chain is traced even when the file's order is wrong: peers do not
     * care about the order, and the trace tells what else is missing. */
    if (!e && !s->no_leaf)
        e = verify_chain(s);
    return e;
}

/* Append the certificates of a separate chain file. */
static moat_err append_chain(pem_file *f, srv *s, moat_cert_report *r)
{
    STACK_OF(X509) *more = NULL;
    moat_err e = load_certs(f, &more, r);
    while (!e && sk_X509_num(more) > 0) {
        X509 *x = sk_X509_shift(more);
        if (!sk_X509_push(s->certs, x)) {
            X509_free(x);
            e = MOAT_ENOMEM;
        }
    }
    sk_X509_pop_free(more, X509_free);
    return e;
}

typedef struct server_args {
    const char *certfile, *chainfile, *keyfile, *password;
    const moat_cert_opts *o;
    moat_cert_check_result *res; /* may be NULL */
} server_args;

static moat_err load_server(const server_args *a, moat_cert_chain *out, moat_cert_report *r)
{
    static const moat_cert_opts defaults;
    const moat_cert_opts *o = a->o ? a->o : &defaults;
    unsigned errors = r->errors;
    char label[2 * PATH_LEN + 8];
    if (a->chainfile)
        fixf(label, sizeof label, "%s + %s", a->certfile, a->chainfile);
    pem_file cf = {.path = a->certfile, .what = "certificate file", .o = o};
    pem_file chf = {.path = a->chainfile, .what = "chain file", .o = o};
    pem_file kf = {.path = a->keyfile, .what = "key file", .o = o};
    srv s = {.certfile = a->chainfile ? label : a->certfile,
             .keyfile = a->keyfile,
             .o = o,
             .r = r,
             .now = now_of(o)};
    bool key_enc = false;
    int nkeys = 0;
    EVP_PKEY *loaded = NULL;
    ERR_set_mark();
    moat_err ce = load_certs(&cf, &s.certs, r);
    s.n_certfile = ce ? 0 : sk_X509_num(s.certs);
    if (!ce && a->chainfile)
        ce = append_chain(&chf, &s, r);
    moat_err ke = a->keyfile ? load_key(&kf, a->password, &s.key, &key_enc, &nkeys, r) : MOAT_OK;
    moat_err e = ce == MOAT_ENOMEM || ke == MOAT_ENOMEM ? MOAT_ENOMEM : MOAT_OK;
    loaded = s.key;
    if (!e && !ce)
        e = check_server(&s);
    if (!e && r->errors > errors)
        e = MOAT_EINVAL;
    if (!e && !ke && !ce && s.key) {
        out->leaf = sk_X509_value(s.certs, s.leaf);
        X509_up_ref(out->leaf);
        out->chain = s.served;
        out->key = s.key;
        s.served = NULL;
        s.key = NULL;
    } else if (!e && (ce || ke)) {
        e = MOAT_EINVAL;
    }
    if (a->res && e != MOAT_ENOMEM) {
        moat_cert_check_result *res = a->res;
        res->certs = s.certs;
        res->n_certfile = s.n_certfile;
        res->leaf = s.certs && !s.no_leaf ? s.leaf : -1;
        res->path = s.path;
        res->anchored = s.anchored;
        res->key_encrypted = key_enc;
        res->n_keys = nkeys;
        if (loaded && EVP_PKEY_up_ref(loaded))
            res->key = loaded;
        s.certs = NULL;
        s.path = NULL;
    }
    sk_X509_pop_free(s.path, X509_free);
    sk_X509_pop_free(s.served, X509_free);
    sk_X509_pop_free(s.certs, X509_free);
    EVP_PKEY_free(s.key);
    pem_file_free(&cf);
    pem_file_free(&chf);
    pem_file_free(&kf);
    ERR_pop_to_mark();
    return e;
}

moat_err moat_cert_load_server(const char *certfile, const char *keyfile, const char *password,
                               const moat_cert_opts *o, moat_cert_chain *out, moat_cert_report *r)
{
    server_args a = {.certfile = certfile, .keyfile = keyfile, .password = password, .o = o};
    return load_server(&a, out, r);
}

void moat_cert_chain_free(moat_cert_chain *c)
{
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    c->leaf = NULL;
    c->chain = NULL;
    c->key = NULL;
}

/* ------------------------------------------------------------- CA file */

static bool issuer_in(STACK_OF(X509) * sk, X509 *x)
{
    for (int i = 0; i < sk_X509_num(sk); i++)
        if (issued_by(x, sk_X509_value(sk, i)))
            return true;
    return false;
}

static void check_ca_cert(const char *path, STACK_OF(X509) * sk, int i, bool partial, int64_t now,
                          const moat_cert_opts *o, bool *warned_root, moat_cert_report *r)
{
    char nm[NAME_LEN], iss[NAME_LEN], d[32], fix[1024];
    X509 *x = sk_X509_value(sk, i);
    if (!is_ca(x))
        WARN(r, MOAT_CERT_CA_NOT_CA, path,
             "Put the certificate of the CA that issued the client certificates here, not a "
             "client or server certificate.",
             "certificate #%d in the CA file %s (%s) is not a CA certificate; in a CA file it "
             "trusts only itself, not certificates it issued",
             i + 1, path, subject(x, nm));
    if (moat_cert_not_after(x) < now)
        WARN(r, MOAT_CERT_CA_EXPIRED, path,
             "Replace it with the CA's current certificate; client certificates that chain to "
             "it no longer verify.",
             "CA certificate #%d in %s (%s) expired on %s", i + 1, path, subject(x, nm),
             date(moat_cert_not_after(x), d));
    if (!partial && !*warned_root && is_ca(x) && !self_signed(x) && !issuer_in(sk, x)) {
        *warned_root = true;
        fixf(fix, sizeof fix,
             "Add the root CA certificate (%s) to %s, or set %s to accept the intermediate "
             "itself as a trust anchor.",
             issuer(x, iss), path, optname(o, OPT_PARTIAL));
        WARN(r, MOAT_CERT_CA_NO_ROOT, path, fix,
             "the CA file %s holds the intermediate CA %s but not the root that issued it; "
             "client certificates will fail with 'unable to get issuer certificate'",
             path, subject(x, nm));
    }
}

moat_err moat_cert_load_ca(const char *cafile, bool partial_chain, const moat_cert_opts *o,
                           STACK_OF(X509) * *out, moat_cert_report *r)
{
    pem_file f = {.path = cafile, .what = "CA file"};
    STACK_OF(X509) *sk = NULL;
    bool warned_root = false;
    ERR_set_mark();
    moat_err e = load_certs(&f, &sk, r);
    for (int i = 0; !e && i < sk_X509_num(sk); i++)
        check_ca_cert(cafile, sk, i, partial_chain, now_of(o), o, &warned_root, r);
    if (!e)
        *out = sk;
    pem_file_free(&f);
    ERR_pop_to_mark();
    return e;
}

/* ------------------------------------------------------------- DH file */

moat_err moat_cert_load_dh(const char *dhfile, EVP_PKEY **out, moat_cert_report *r)
{
    pem_file f = {.path = dhfile, .what = "DH parameter file"};
    ERR_set_mark();
    moat_err e = read_whole(&f, r);
    EVP_PKEY *dh = NULL;
    if (!e) {
        BIO *b = BIO_new_mem_buf(f.raw, (int)f.rawlen);
        dh = b ? PEM_read_bio_Parameters(b, NULL) : NULL;
        BIO_free(b);
        if (!dh || EVP_PKEY_get_base_id(dh) != EVP_PKEY_DH) {
            ERROR(r, MOAT_CERT_DH_INVALID, dhfile,
                  "Generate parameters with `openssl genpkey -genparam -algorithm DH -pkeyopt "
                  "group:ffdhe2048 -out dh.pem`, or remove dhfile: moat's default ciphers do not "
                  "use DH.",
                  "the DH parameter file %s holds no Diffie-Hellman parameters", dhfile);
            e = MOAT_EINVAL;
        } else if (EVP_PKEY_get_bits(dh) < 2048) {
            ERROR(r, MOAT_CERT_DH_WEAK, dhfile,
                  "Use 2048-bit parameters or larger: `openssl genpkey -genparam -algorithm DH "
                  "-pkeyopt group:ffdhe2048 -out dh.pem`.",
                  "the DH parameters in %s are %d bits; under 2048 bits they are breakable "
                  "(Logjam)",
                  dhfile, EVP_PKEY_get_bits(dh));
            e = MOAT_EINVAL;
        }
    }
    if (!e)
        *out = dh;
    else
        EVP_PKEY_free(dh);
    pem_file_free(&f);
    ERR_pop_to_mark();
    return e;
}

/* ------------------------------------------------------ all at once */

moat_err moat_cert_check(const moat_cert_check_args *a, moat_cert_report *r)
{
    unsigned errors = r->errors;
    moat_cert_opts o = {.now = a->now,
                        .system_roots = a->system_roots,
                        .trusted_file = a->cacertfile,
                        .purpose = a->purpose,
                        .host = a->host,
                        .anchor_required = a->anchor_required,
                        .partial_chain = a->partial_chain,
                        .cli = a->cli};
    moat_err e = MOAT_OK;
    if (a->result)
        *a->result = (moat_cert_check_result){.leaf = -1};
    if (a->cacertfile)
        e = moat_cert_load_ca(a->cacertfile, a->partial_chain, &o, &o.trusted, r);
    if (e != MOAT_ENOMEM && a->certfile) {
        moat_cert_chain c = {0};
        server_args sa = {.certfile = a->certfile,
                          .chainfile = a->chainfile,
                          .keyfile = a->keyfile,
                          .password = a->key_password,
                          .o = &o,
                          .res = a->result};
        e = load_server(&sa, &c, r);
        moat_cert_chain_free(&c);
    }
    if (a->result && o.trusted)
        a->result->trusted = X509_chain_up_ref(o.trusted);
    if (e != MOAT_ENOMEM && a->dhfile) {
        EVP_PKEY *dh = NULL;
        e = moat_cert_load_dh(a->dhfile, &dh, r);
        EVP_PKEY_free(dh);
    }
    sk_X509_pop_free(o.trusted, X509_free);
    if (e == MOAT_ENOMEM)
        return e;
    return r->errors > errors ? MOAT_EINVAL : MOAT_OK;
}

void moat_cert_check_result_free(moat_cert_check_result *res)
{
    sk_X509_pop_free(res->certs, X509_free);
    sk_X509_pop_free(res->path, X509_free);
    sk_X509_pop_free(res->trusted, X509_free);
    EVP_PKEY_free(res->key);
    *res = (moat_cert_check_result){.leaf = -1};
}

/* ------------------------------------------------ reading any PEM file */

static moat_err push_item(moat_pem_items *items, moat_pem_item it)
{
    moat_pem_item *v = realloc(items->v, (items->n + 1) * sizeof *v);
    if (!v) {
        free(it.label);
        X509_free(it.cert);
        EVP_PKEY_free(it.key);
        return MOAT_ENOMEM;
    }
    items->v = v;
    items->v[items->n++] = it;
    return MOAT_OK;
}

static moat_err item_of(const pem_file *f, const pem_obj *o, int pos, const char *password,
                        moat_pem_items *items, moat_cert_report *r)
{
    moat_pem_item it = {.kind = MOAT_PEM_OTHER, .label = strdup(o->name)};
    if (!it.label)
        return MOAT_ENOMEM;
    const unsigned char *p = o->data;
    if (is_cert_name(o->name)) {
        it.kind = MOAT_PEM_CERT;
        it.cert = !strcmp(o->name, "TRUSTED CERTIFICATE") ? d2i_X509_AUX(NULL, &p, o->len)
                                                          : d2i_X509(NULL, &p, o->len);
        if (!it.cert) {
            ERROR(r, MOAT_CERT_PEM_CORRUPT, f->path,
                  "Copy the file again from its source; the base64 text of that certificate is "
                  "not a valid X.509 certificate.",
                  "PEM block #%d of the %s %s does not decode as a certificate: %s", pos, f->what,
                  f->path, ERR_reason_error_string(ERR_peek_last_error()));
            it.kind = MOAT_PEM_OTHER;
        }
    } else if (is_key_name(o->name)) {
        it.kind = MOAT_PEM_KEY;
        it.encrypted = obj_encrypted(o);
        bool has_pw = password && *password;
        if (!it.encrypted || has_pw)
            it.key = decode_key(o, it.encrypted ? password : NULL);
        if (!it.key && it.encrypted && has_pw)
            ERROR(r, MOAT_CERT_KEY_BAD_PASSWORD, f->path,
                  "Check the password; `openssl pkey -in FILE -noout` asks for it and tells "
                  "whether it is right.",
                  "the password does not decrypt private key #%d in %s", pos, f->path);
        else if (!it.key && !it.encrypted)
            ERROR(r, MOAT_CERT_PEM_CORRUPT, f->path,
                  "Copy the key again from where it was generated.",
                  "the private key in PEM block #%d of %s does not decode: %s", pos, f->path,
                  ERR_reason_error_string(ERR_peek_last_error()));
    } else if (is_csr_name(o->name)) {
        it.kind = MOAT_PEM_CSR;
    }
    return push_item(items, it);
}

moat_err moat_pem_read(const char *path, const char *what, const char *password, bool allow_der,
                       moat_pem_items *items, moat_cert_report *r)
{
    pem_file f = {.path = path, .what = what ? what : "file"};
    memset(items, 0, sizeof *items);
    ERR_set_mark();
    moat_err e = read_whole(&f, r);
    if (!e) {
        e = split_pem(&f, r);
        if (e == MOAT_EINVAL)
            e = MOAT_OK; /* a damaged block is a finding; the blocks before it still count */
    }
    for (size_t i = 0; !e && i < f.n; i++)
        e = item_of(&f, &f.objs[i], (int)i + 1, password, items, r);
    if (!e && f.n == 0) {
        const unsigned char *p = f.raw;
        X509 *x = allow_der && f.raw[0] == 0x30 ? d2i_X509(NULL, &p, (long)f.rawlen) : NULL;
        if (x && (size_t)(p - f.raw) == f.rawlen) {
            moat_pem_item it = {.kind = MOAT_PEM_CERT, .label = strdup("DER"), .cert = x};
            items->der = true;
            e = it.label ? push_item(items, it) : (X509_free(x), MOAT_ENOMEM);
        } else {
            X509_free(x);
            explain_not_pem(&f, r);
            e = MOAT_EINVAL;
        }
    }
    if (e)
        moat_pem_items_free(items);
    pem_file_free(&f);
    ERR_pop_to_mark();
    return e;
}

void moat_pem_items_free(moat_pem_items *items)
{
    for (size_t i = 0; i < items->n; i++) {
        free(items->v[i].label);
        X509_free(items->v[i].cert);
        EVP_PKEY_free(items->v[i].key);
    }
    free(items->v);
    memset(items, 0, sizeof *items);
}
