/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the request templates of the redis and http backends (tmpl.h): the
 * input's first byte picks the separator and whether items are name=value;
 * the rest is the template. Whatever parses is expanded for a client with
 * awkward values and encoded as a form and as JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    bool named = data[0] & 1;
    char sep = named ? ',' : ' ';
    char *spec = strndup((const char *)data + 1, size - 1);
    if (!spec)
        return 0;
    moat_tmpl t;
    char why[300];
    if (moat_tmpl_parse(spec, sep, named, "ucaCdP", &t, why, sizeof why) == MOAT_OK) {
        static const moat_auth_req rq = {.username = "a b,c=d%u",
                                         .client_id = "\"\\\x01",
                                         .password = "p\0w",
                                         .password_len = 3,
                                         .addr = "::1",
                                         .cert_cn = "cn"};
        moat_buf b = MOAT_BUF_INIT;
        size_t off[MOAT_TMPL_MAX_ITEMS], len[MOAT_TMPL_MAX_ITEMS];
        if (moat_tmpl_expand(&t, &rq, true, &b, off, len) == MOAT_TMPL_OK)
            for (size_t i = 0; i < t.n; i++)
                if (off[i] + len[i] > b.len)
                    abort();
        moat_buf_reset(&b);
        if (named) {
            (void)moat_tmpl_encode(&t, &rq, MOAT_TMPL_FORM, &b);
            moat_buf_reset(&b);
            (void)moat_tmpl_encode(&t, &rq, MOAT_TMPL_JSON, &b);
        }
        moat_buf_free(&b);
        moat_tmpl_free(&t);
    }
    free(spec);
    return 0;
}
