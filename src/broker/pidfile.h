/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOAT_PIDFILE_H
#define MOAT_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Create and lock <dir>/moat.pid with our pid. MOAT_EEXIST (and a sentence
 * in err) when another moat holds it. */
moat_err moat_pidfile_acquire(const char *dir, int *fd, char *err, size_t errlen);
/* Remove the file and drop the lock. fd < 0 is ignored. */
void moat_pidfile_release(const char *dir, int fd);
/* The pid of the moat running on dir, if one is. */
moat_err moat_pidfile_running(const char *dir, long *pid, char *err, size_t errlen);

#endif
