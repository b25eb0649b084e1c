/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for subcommands not written yet; replaced by their own files. */
#include "cli/certs_cmd.h"

int certs_probe_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "moat certs probe: not available yet\n");
    return 2;
}
