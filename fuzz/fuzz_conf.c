/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the configuration parser. Beyond "no crash, no leak", every input that
 * loads must dump to text that loads back to the same dump: the dump is what
 * `moat --check-config -v` shows as the effective configuration, so it has
 * to mean exactly that. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

static char *dump(const moat_conf *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    moat_conf_dump(c, f);
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static moat_conf c, d; /* static: each is ~20 KB */
    char err[512];
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* an embedded NUL just ends the text early */
    moat_conf_defaults(&c);
    if (moat_conf_load_string(&c, "fuzz.conf", text, err, sizeof err) == MOAT_OK) {
        char *a = dump(&c);
        moat_conf_defaults(&d);
        if (moat_conf_load_string(&d, "dump.conf", a, err, sizeof err) != MOAT_OK) {
            fprintf(stderr, "dump does not load: %s\n%s", err, a);
            abort();
        }
        char *b = dump(&d);
        if (strcmp(a, b) != 0) {
            fprintf(stderr, "dump changed on reload:\n%s---\n%s", a, b);
            abort();
        }
        moat_conf_defaults(&d);
        (void)moat_conf_diff_static(&d, &c, err, sizeof err);
        free(a);
        free(b);
    } else if (!memchr(err, ':', strlen(err))) {
        abort(); /* every error names where it comes from */
    }
    free(text);
    return 0;
}
