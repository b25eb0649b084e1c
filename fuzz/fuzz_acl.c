/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the ACL file parser (EMQX 4 acl.conf syntax). Beyond "no crash, no
 * leak", every file that parses is checked against a few clients and topics,
 * so the matcher (placeholders, eq, CIDRs) runs over whatever rules came out.
 * The same input also goes through the other small auth parsers: a backend's
 * password_hash setting and a rule built from a backend row. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "auth/acl.h"
#include "auth/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (size < 256) {
        char text[256];
        memcpy(text, data, size);
        text[size] = '\0';
        moat_hash_params hp;
        if (moat_hash_spec_parse(text, &hp, err, sizeof err) && hp.alg == MOAT_HASH_PBKDF2 &&
            (hp.iterations < 1 || hp.dklen < 1))
            __builtin_trap();
        moat_acl *r = moat_acl_new();
        if (r && moat_acl_add(r, size & 1, (moat_acl_who)(size % 5), text, 3, text, size & 2, err,
                              sizeof err) == MOAT_OK) {
            moat_auth_client cl = {.username = "u", .client_id = "c"};
            (void)moat_acl_check(r, &cl, MOAT_ACL_PUBLISH, "a/b", 3);
        }
        moat_acl_free(r);
    }
    moat_acl *a = NULL;
    if (moat_acl_parse("fuzz.acl", (const char *)data, size, &a, err, sizeof err) != MOAT_OK)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.1.2.3", &sa.sin_addr);
    moat_auth_client clients[] = {
        {.username = "alice", .client_id = "c1", .addr = (struct sockaddr *)&sa, .cert_cn = "x"},
        {.client_id = "dev/1"},
        {.username = "", .client_id = ""},
    };
    static const char *const topics[] = {"a/b", "#", "$SYS/x", "users/alice/1", "+/+", "a"};
    for (size_t c = 0; c < sizeof clients / sizeof clients[0]; c++)
        for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++)
            for (int acc = MOAT_ACL_PUBLISH; acc <= MOAT_ACL_SUBSCRIBE; acc++)
                (void)moat_acl_check(a, &clients[c], (moat_acl_access)acc, topics[t],
                                     strlen(topics[t]));
    moat_acl_free(a);
    return 0;
}
