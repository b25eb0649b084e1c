/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for subcommands not written yet; replaced by their own files. */
#include "cli/certs_cmd.h"

int certs_show_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs show: not available yet\n");
    return 2;
}

int certs_check_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs check: not available yet\n");
    return 2;
}

int certs_split_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs split: not available yet\n");
    return 2;
}

int certs_bundle_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs bundle: not available yet\n");
    return 2;
}
