/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs ...`: the certificate toolkit on the command line. Each
 * subcommand is a main-like function in its own file (certs_<name>.c) and
 * returns the process exit status: 0 fine, 1 the verdict is "not fine"
 * (check, probe), 2 bad usage or an error that stopped the work. Output goes
 * to stdout, diagnostics to stderr. argv[0] is the subcommand's name. */
#ifndef MOAT_CLI_CERTS_CMD_H
#define MOAT_CLI_CERTS_CMD_H

#include <stdio.h>

int moat_certs_main(int argc, char **argv); /* argv[0] == "certs" */

int certs_gen_main(int argc, char **argv);    /* gen ca|intermediate|server|client */
int certs_dev_main(int argc, char **argv);    /* dev */
int certs_show_main(int argc, char **argv);   /* show FILE... [--json] */
int certs_check_main(int argc, char **argv);  /* check --cert F ... */
int certs_split_main(int argc, char **argv);  /* split FILE */
int certs_bundle_main(int argc, char **argv); /* bundle FILE... */
int certs_probe_main(int argc, char **argv);  /* probe HOST:PORT ... */

#endif
