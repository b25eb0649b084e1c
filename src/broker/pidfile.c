/* SPDX-License-Identifier: Apache-2.0 */
/* <data_dir>/moat.pid, locked while the broker runs: it keeps a second moat
 * off the same store, and it is how `moat ctl` finds the running broker. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/pidfile.h"

static void pid_path(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/moat.pid", dir);
}

/* mkdir -p, mode 0700 (the store's directory too). */
static void make_dirs(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        mkdir(p, 0700);
        *s = '/';
    }
    mkdir(p, 0700);
}

moat_err moat_pidfile_acquire(const char *dir, int *fd_out, char *err, size_t errlen)
{
    char path[600];
    pid_path(dir, path, sizeof path);
    make_dirs(dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s (check node.data_dir)", path, strerror(errno));
        return MOAT_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        snprintf(err, errlen,
                 "node.data_dir %s is in use by another moat (pid %s): stop it, or give this one "
                 "its own node.data_dir",
                 dir, buf[0] ? buf : "?");
        close(fd);
        return MOAT_EEXIST;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return MOAT_EIO;
    }
    *fd_out = fd;
    return MOAT_OK;
}

void moat_pidfile_release(const char *dir, int fd)
{
    char path[600];
    if (fd < 0)
        return;
    pid_path(dir, path, sizeof path);
    unlink(path);
    close(fd);
}

moat_err moat_pidfile_running(const char *dir, long *pid, char *err, size_t errlen)
{
    char path[600], buf[32] = "";
    pid_path(dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "no moat is running with node.data_dir %s (%s: %s)", dir, path,
                 strerror(errno));
        return MOAT_ENOTFOUND;
    }
    /* Locked means alive; a stale file from a killed broker is not. */
    bool locked = flock(fd, LOCK_SH | LOCK_NB) != 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    *pid = strtol(buf, NULL, 10);
    if (!locked || *pid <= 0) {
        snprintf(err, errlen, "no moat is running with node.data_dir %s (stale %s)", dir, path);
        return MOAT_ENOTFOUND;
    }
    return MOAT_OK;
}
