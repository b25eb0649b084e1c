/* SPDX-License-Identifier: Apache-2.0 */
/* LDAP text escaping and name checks: see ldap_text.h. */
#include "auth/ldap_text.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <ldap.h>

bool moat_ldap_escape_dn_value(const char *v, size_t len, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        bool edge = (i == 0 && (c == ' ' || c == '#')) || (i == len - 1 && c == ' ');
        char tmp[4];
        size_t k;
        if (c < 0x20 || c == 0x7f)
            k = (size_t)snprintf(tmp, sizeof tmp, "\\%02x", c);
        else if (edge || strchr(",+\"\\<>;=", c))
            k = (size_t)snprintf(tmp, sizeof tmp, "\\%c", c);
        else
            tmp[0] = (char)c, k = 1;
        if (o + k >= n)
            return false;
        memcpy(out + o, tmp, k);
        o += k;
    }
    if (o >= n)
        return false;
    out[o] = '\0';
    return true;
}

bool moat_ldap_escape_filter_value(const char *v, size_t len, char *out, size_t n)
{
    struct berval in = {.bv_len = len, .bv_val = (char *)v}, esc = {0};
    if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
        return false;
    bool ok = esc.bv_len < n;
    if (ok) {
        memcpy(out, esc.bv_val, esc.bv_len);
        out[esc.bv_len] = '\0';
    }
    ber_memfree(esc.bv_val);
    return ok;
}

static bool numericoid(const char *s)
{
    bool digit = false;
    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digit = true;
        else if (*s == '.' && digit)
            digit = false;
        else
            return false;
    }
    return digit;
}

bool moat_ldap_name_valid(const char *name)
{
    if (isdigit((unsigned char)name[0]))
        return numericoid(name);
    if (!isalpha((unsigned char)name[0]))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
    return true;
}

bool moat_ldap_dn_valid(const char *dn)
{
    LDAPDN parsed = NULL;
    if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
        return false;
    ldap_dnfree(parsed);
    return true;
}
