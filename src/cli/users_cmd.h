/* SPDX-License-Identifier: Apache-2.0 */
/* moat ctl users|clients add|passwd|del|list: the built-in user store
 * (auth/userdb.h) from the command line. */
#ifndef MOAT_CLI_USERS_CMD_H
#define MOAT_CLI_USERS_CMD_H

struct moat_conf;

/* argv[0] is "users" or "clients", argv[1] the subcommand; -c FILE has
 * already been taken out. Opens c->data_dir's store directly (whether the
 * broker runs or not: a running broker reads the file at each CONNECT).
 * Returns the exit status: 0 done, 1 failed, 2 usage. */
int moat_ctl_users_main(const struct moat_conf *c, int argc, char **argv);

#endif
