/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for subcommands not written yet; replaced by their own files. */
#include "cli/certs_cmd.h"

int certs_gen_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs gen: not available yet\n");
    return 2;
}

int certs_dev_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs dev: not available yet\n");
    return 2;
}
