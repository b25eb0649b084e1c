/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs SUBCOMMAND ...`: dispatch and the overview help. */
#include <string.h>

#include "cli/certs_cmd.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    {"gen", certs_gen_main, "make a CA, intermediate, server or client certificate and key"},
    {"dev", certs_dev_main, "make a complete development set (CA, server, client) in one step"},
    {"show", certs_show_main, "describe every certificate in the given files (--json too)"},
    {"check", certs_check_main, "check a certificate, key and chain, and say how to fix them"},
    {"split", certs_split_main, "split a chain file into cert.pem, chain.pem and root.pem"},
    {"bundle", certs_bundle_main, "build a correctly ordered fullchain from any set of files"},
    {"probe", certs_probe_main, "connect to a TLS server like openssl s_client, and explain"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: moat certs COMMAND [options]   (moat certs COMMAND --help for more)\n\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-7s %s\n", cmds[i].name, cmds[i].what);
}

int moat_certs_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "moat certs: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
