/* SPDX-License-Identifier: Apache-2.0 */
/* The test PKI for test_certcheck and test_tls: scripts/gen-test-pki.sh run
 * into a fresh temporary directory (or into $MOAT_TEST_PKI, kept between
 * runs, to save the two seconds), removed at the end. */
#ifndef MOAT_TLS_PKI_H
#define MOAT_TLS_PKI_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char pki_dir[PATH_MAX];
static int pki_temp; /* we made the directory: remove it at the end */

/* Path of a file in the PKI, in one of 64 rotating buffers: keep a copy of
 * a path that must outlive many more calls. */
static inline const char *pki(const char *name)
{
    static char bufs[64][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 64];
    snprintf(b, sizeof bufs[0], "%s/%s", pki_dir, name);
    return b;
}

/* The repository root, from this header's own path (absolute under CMake,
 * relative to the repository when compiled by hand from there). */
static inline void repo_root(char *out, size_t len)
{
    const char *f = __FILE__;
    const char *p = strstr(f, "tests/unit/");
    snprintf(out, len, "%.*s", p ? (int)(p - f) : 0, f);
    if (!out[0])
        snprintf(out, len, "./");
}

static inline int pki_setup(void)
{
    char root[PATH_MAX], cmd[3 * PATH_MAX];
    const char *env = getenv("MOAT_TEST_PKI");
    if (env && *env) {
        snprintf(pki_dir, sizeof pki_dir, "%s", env);
    } else {
        snprintf(pki_dir, sizeof pki_dir, "/tmp/moat-pki-XXXXXX");
        if (!mkdtemp(pki_dir))
            return -1;
        pki_temp = 1;
    }
    repo_root(root, sizeof root);
    snprintf(cmd, sizeof cmd, "bash '%sscripts/gen-test-pki.sh' '%s'", root, pki_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot generate the test PKI: %s\n", cmd);
        return -1;
    }
    return 0;
}

static inline void pki_teardown(void)
{
    char cmd[PATH_MAX + 32];
    if (!pki_temp)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", pki_dir);
}

/* Write a file in the PKI directory from the concatenation of others
 * (NULL-terminated list); returns its path. */
static inline const char *pki_cat(const char *out, ...)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", pki_dir, out);
    FILE *w = fopen(path, "w");
    va_list ap;
    va_start(ap, out);
    for (const char *in; w && (in = va_arg(ap, const char *));) {
        FILE *r = fopen(pki(in), "r");
        char buf[4096];
        size_t n;
        while (r && (n = fread(buf, 1, sizeof buf, r)) > 0)
            fwrite(buf, 1, n, w);
        if (r)
            fclose(r);
    }
    va_end(ap);
    if (w)
        fclose(w);
    return path;
}

/* Write literal bytes to a file in the PKI directory; returns its path. */
static inline const char *pki_write(const char *out, const void *data, size_t len)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", pki_dir, out);
    FILE *w = fopen(path, "w");
    if (w) {
        fwrite(data, 1, len, w);
        fclose(w);
    }
    return path;
}

#endif
