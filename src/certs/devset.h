/* SPDX-License-Identifier: Apache-2.0 */
/* The development set: a CA made on this machine, a server certificate for
 * this machine (localhost, 127.0.0.1, ::1 and its host name) and a client
 * certificate, all signed by that CA. `moat certs dev` makes it anywhere;
 * with node.dev_certs = auto (the built-in configuration) the broker makes
 * it once in <node.data_dir>/certs/ and its TLS listeners use it. Never a
 * key shipped with moat: every installation has its own CA.
 *
 * Every file name and path of the set comes from here, so that the TLS
 * listeners, the messages and (later) the dashboard's https agree.
 *
 * No OpenSSL types in this header: the configuration code includes it for
 * the paths only. */
#ifndef MOAT_CERTS_DEVSET_H
#define MOAT_CERTS_DEVSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MOAT_DEVSET_SUBDIR "certs" /* inside node.data_dir */
#define MOAT_DEVSET_CA "ca.pem"
#define MOAT_DEVSET_CA_KEY "ca.key"
#define MOAT_DEVSET_SERVER "server.pem"
#define MOAT_DEVSET_SERVER_KEY "server.key"
#define MOAT_DEVSET_SERVER_CHAIN "server-fullchain.pem" /* what listeners serve */
#define MOAT_DEVSET_CLIENT "client.pem"
#define MOAT_DEVSET_CLIENT_KEY "client.key"
#define MOAT_DEVSET_CLIENT_CHAIN "client-fullchain.pem"
#define MOAT_DEVSET_CLIENT_CN "moat-dev-client"

/* "<data_dir>/certs" and "<data_dir>/certs/<file>". */
void moat_devset_dir(const char *data_dir, char *out, size_t n);
void moat_devset_path(const char *data_dir, const char *file, char *out, size_t n);

typedef struct moat_devset_opts {
    const char *dir;          /* where the files go (made if missing) */
    const char *const *hosts; /* more names or addresses for the server certificate */
    size_t n_hosts;
    int key;    /* moat_gen_key (certs/gen.h); 0 is ec256 */
    bool force; /* replace existing files */
    int64_t now;
} moat_devset_opts;

/* What the set holds, for messages. */
typedef struct moat_devset_info {
    char ca_subject[256];
    char ca_until[16], server_until[16]; /* "2036-11-23" */
    char server_names[1024];             /* "localhost, 127.0.0.1, ::1, myhost" */
} moat_devset_info;

/* Make the whole set in o->dir. Without force an existing file is an error
 * (MOAT_EEXIST) and nothing is written. info may be NULL. */
moat_err moat_devset_make(const moat_devset_opts *o, moat_devset_info *info, char *err,
                          size_t errlen);

typedef enum moat_devset_state {
    MOAT_DEVSET_READY,   /* complete and current: nothing done */
    MOAT_DEVSET_CREATED, /* a new set, with a new CA: clients must trust it */
    MOAT_DEVSET_RENEWED, /* new server/client certificates from the same CA */
} moat_devset_state;

/* What the broker does at start with node.dev_certs = auto:
 *   - no file of the set in dir: make it (CREATED);
 *   - its CA usable (ca.pem with its ca.key, valid for 30 more days) but a
 *     server or client file missing, the server certificate expiring within
 *     30 days or not naming this host any more: new server and client
 *     certificates from the same CA, which clients keep trusting (RENEWED);
 *   - the CA expiring within 30 days: a whole new set (CREATED);
 *   - otherwise, complete and current: nothing (READY); ca.key is not
 *     needed then, and may have been moved somewhere safer.
 * When something must be signed and the CA cannot do it (ca.key missing or
 * not ca.pem's) that is an error naming the fix: a CA that clients trust is
 * never replaced behind the user's back. */
moat_err moat_devset_ensure(const char *dir, int64_t now, moat_devset_state *state,
                            moat_devset_info *info, char *err, size_t errlen);

/* Whether every file of the set is in dir. */
bool moat_devset_complete(const char *dir);

#endif
