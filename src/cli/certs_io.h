/* SPDX-License-Identifier: Apache-2.0 */
/* What the `moat certs` show, check, split and bundle subcommands share:
 * passwords from options, findings printed or as JSON, short names for
 * certificates, and writing certificate files without clobbering. */
#ifndef MOAT_CLI_CERTS_IO_H
#define MOAT_CLI_CERTS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certs/check.h"
#include "cli/jsonw.h"

struct x509_st;
struct stack_st_X509;

/* The key password from --key-password or --key-password-file (its first
 * line). *out is NULL when neither was given; free() it. Returns 0, or 2
 * after saying on stderr why the file could not be read. */
int certs_password(const char *cmd, const char *pw, const char *pwfile, char **out);

/* Findings as text: "error: MESSAGE [code]" and "  fix: FIX". */
void certs_print_findings(FILE *f, const moat_cert_report *r, size_t from);
/* Findings as a JSON array value (the key must have been written). */
void certs_json_findings(jsonw *w, const moat_cert_report *r, size_t from);

/* The CN when the subject has one, else the whole subject (RFC 2253). */
const char *certs_short_name(const struct x509_st *x, char *buf, size_t len);
/* "2027-04-05T00:00:00Z" */
void certs_iso_time(int64_t t, char *out, size_t len);
/* Whole days from now to t, rounded down; negative when t has passed. */
long certs_days_left(int64_t t, int64_t now);

/* Write the certificates as PEM to path: mode 0644, through a temporary
 * file and rename, so a reader never sees half a file. Without force an
 * existing file is left alone (returns 2 with a message on stderr). */
int certs_write_pem(const char *cmd, const char *path, struct stack_st_X509 *certs, bool force);
/* The certificates as PEM on f. */
bool certs_print_pem(FILE *f, struct stack_st_X509 *certs);

/* One option of a subcommand: a flag (flag set) or "--name VALUE" /
 * "--name=VALUE" (val set). */
typedef struct certs_optdef {
    const char *name;
    const char **val;
    bool *flag;
} certs_optdef;

/* Parse argv[1..] against defs (ended by {NULL}); other arguments are
 * collected in pos (room for argc entries). Returns -1 to go on, 0 after
 * printing the help (-h, --help) or 2 after a usage error (both printed). */
int certs_parse(const char *cmd, int argc, char **argv, const certs_optdef *defs, const char **pos,
                int *npos, void (*usage)(FILE *));

#endif
