/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certs/info.h"
#include "cli/certs_io.h"

int certs_password(const char *cmd, const char *pw, const char *pwfile, char **out)
{
    *out = NULL;
    if (pw) {
        if (!(*out = strdup(pw)))
            return 2;
        return 0;
    }
    if (!pwfile)
        return 0;
    FILE *f = fopen(pwfile, "r");
    if (!f) {
        fprintf(stderr, "moat certs %s: cannot read the password file %s: %s\n", cmd, pwfile,
                strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        line = strdup(""); /* an empty file is an empty password */
        if (!line)
            return 2;
        n = 0;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    *out = line;
    return 0;
}

void certs_print_findings(FILE *f, const moat_cert_report *r, size_t from)
{
    for (size_t i = from; i < r->n; i++) {
        const moat_cert_finding *x = &r->items[i];
        fprintf(f, "%s: %s [%s]\n", x->severity == MOAT_CERT_ERROR ? "error" : "warning",
                x->message, moat_cert_code_name(x->code));
        if (x->fix[0])
            fprintf(f, "  fix: %s\n", x->fix);
    }
}

void certs_json_findings(jsonw *w, const moat_cert_report *r, size_t from)
{
    jw_arr(w);
    for (size_t i = from; i < r->n; i++) {
        const moat_cert_finding *x = &r->items[i];
        jw_obj(w);
        jw_kstr(w, "severity", x->severity == MOAT_CERT_ERROR ? "error" : "warning");
        jw_kstr(w, "code", moat_cert_code_name(x->code));
        jw_kstr(w, "file", x->file);
        jw_kstr(w, "message", x->message);
        jw_kstr(w, "fix", x->fix);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

const char *certs_short_name(const X509 *x, char *buf, size_t len)
{
    if (moat_cert_identity(x, MOAT_CERT_ID_CN, buf, len) == MOAT_OK && buf[0])
        return buf;
    moat_cert_name_oneline(x, false, buf, len);
    return buf;
}

void certs_iso_time(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, len, "%lld", (long long)t);
}

long certs_days_left(int64_t t, int64_t now)
{
    int64_t d = t - now;
    return (long)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

bool certs_print_pem(FILE *f, STACK_OF(X509) * certs)
{
    for (int i = 0; i < sk_X509_num(certs); i++)
        if (!PEM_write_X509(f, sk_X509_value(certs, i)))
            return false;
    return fflush(f) == 0;
}

int certs_write_pem(const char *cmd, const char *path, STACK_OF(X509) * certs, bool force)
{
    if (!force && access(path, F_OK) == 0) {
        fprintf(stderr, "moat certs %s: %s exists; not overwritten (use --force to replace it)\n",
                cmd, path);
        return 2;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return 2;
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f && certs_print_pem(f, certs) && fsync(fileno(f)) == 0;
    int err = errno;
    if (f)
        ok = fclose(f) == 0 && ok;
    else if (fd >= 0)
        close(fd);
    /* Without --force, link() refuses a file that appeared meanwhile. */
    if (ok && !force)
        ok = link(tmp, path) == 0 || ((err = errno), false);
    else if (ok)
        ok = rename(tmp, path) == 0 || ((err = errno), false);
    if (fd >= 0)
        unlink(tmp);
    if (!ok)
        fprintf(stderr, "moat certs %s: cannot write %s: %s\n", cmd, path, strerror(err));
    free(tmp);
    return ok ? 0 : 2;
}

int certs_parse(const char *cmd, int argc, char **argv, const certs_optdef *defs, const char **pos,
                int *npos, void (*usage)(FILE *))
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1] || !strcmp(a, "--")) {
            if (!strcmp(a, "--"))
                for (i++; i < argc; i++)
                    pos[(*npos)++] = argv[i];
            else
                pos[(*npos)++] = a;
            continue;
        }
        const certs_optdef *d = defs;
        size_t n = 0;
        for (; d->name; d++) {
            n = strlen(d->name);
            if (!strncmp(a, d->name, n) && (a[n] == '\0' || (a[n] == '=' && d->val)))
                break;
        }
        if (!d->name) {
            fprintf(stderr, "moat certs %s: unknown option '%s'\n", cmd, a);
            usage(stderr);
            return 2;
        }
        if (d->flag) {
            *d->flag = true;
        } else if (a[n] == '=') {
            *d->val = a + n + 1;
        } else if (i + 1 < argc) {
            *d->val = argv[++i];
        } else {
            fprintf(stderr, "moat certs %s: %s needs a value\n", cmd, d->name);
            return 2;
        }
    }
    return -1;
}
