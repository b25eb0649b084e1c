/* SPDX-License-Identifier: Apache-2.0 */
/* The text an LDAP request is built from (src/auth/ldap_text.c): a username
 * in a filter (RFC 4515) and in a DN (RFC 4514) stays a value whatever it
 * holds; attribute names and DNs in the settings are checked. The DN
 * escaping is checked against libldap's own parser: the escaped value read
 * back is the username again. */
#include <string.h>

#include <ldap.h>

#include "auth/ldap_text.h"
#include "test.h"

static void filter_is(const char *v, size_t len, const char *want)
{
    char out[256];
    CHECK(moat_ldap_escape_filter_value(v, len, out, sizeof out));
    CHECK_STR(out, want);
}

static void test_filter(void)
{
    filter_is("alice", 5, "alice");
    filter_is("*", 1, "\\2A");
    filter_is("*)(uid=*", 8, "\\2A\\29\\28uid=\\2A");
    filter_is("a\\b", 3, "a\\5Cb");
    filter_is("a\0b", 3, "a\\00b");
    filter_is("caf\xc3\xa9", 5, "caf\\C3\\A9"); /* bytes past ASCII too */
    char small[4];
    CHECK(!moat_ldap_escape_filter_value("*)(", 3, small, sizeof small));
    /* nothing of the filter syntax is left in the value */
    char esc[256];
    CHECK(moat_ldap_escape_filter_value("*)(|(uid=*", 10, esc, sizeof esc));
    CHECK(strchr(esc, '(') == NULL && strchr(esc, ')') == NULL && strchr(esc, '*') == NULL);
}

/* The first RDN's value of dn, as libldap reads it. */
static void dn_roundtrip(const char *v)
{
    char esc[300], dn[400];
    CHECK(moat_ldap_escape_dn_value(v, strlen(v), esc, sizeof esc));
    snprintf(dn, sizeof dn, "uid=%s,ou=device,dc=emqx,dc=io", esc);
    LDAPDN parsed = NULL;
    CHECK_EQ(ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3), LDAP_SUCCESS);
    if (!parsed)
        return;
    int n = 0;
    while (parsed[n])
        n++;
    CHECK_EQ(n, 4); /* the value did not add an RDN */
    LDAPAVA *ava = parsed[0][0];
    CHECK(parsed[0][1] == NULL); /* nor a second AVA (a '+') */
    CHECK_EQ(ava->la_value.bv_len, strlen(v));
    CHECK(ava->la_value.bv_len == strlen(v) && !memcmp(ava->la_value.bv_val, v, strlen(v)));
    ldap_dnfree(parsed);
}

static void test_dn(void)
{
    char out[64];
    CHECK(moat_ldap_escape_dn_value("alice", 5, out, sizeof out));
    CHECK_STR(out, "alice");
    CHECK(moat_ldap_escape_dn_value("a,b", 3, out, sizeof out));
    CHECK_STR(out, "a\\,b");
    CHECK(moat_ldap_escape_dn_value(" #x ", 4, out, sizeof out));
    CHECK_STR(out, "\\ #x\\ ");
    CHECK(moat_ldap_escape_dn_value("#x", 2, out, sizeof out));
    CHECK_STR(out, "\\#x");
    CHECK(moat_ldap_escape_dn_value("a\nb", 3, out, sizeof out));
    CHECK_STR(out, "a\\0ab");
    CHECK(!moat_ldap_escape_dn_value("a,b,c", 5, out, 6));
    static const char *const vals[] = {
        "alice", "a,b",         "x+cn=root", "ssha,ou=device", "\"q\"",
        "<a>;b", "back\\s",     " lead",     "trail ",         "#hash",
        "a=b",   "caf\xc3\xa9", "*)(uid=*",  "tab\there",
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        dn_roundtrip(vals[i]);
}

static void test_names(void)
{
    CHECK(moat_ldap_name_valid("uid"));
    CHECK(moat_ldap_name_valid("userPassword"));
    CHECK(moat_ldap_name_valid("x-my-attr"));
    CHECK(moat_ldap_name_valid("2.5.4.35"));
    CHECK(!moat_ldap_name_valid(""));
    CHECK(!moat_ldap_name_valid("u id"));
    CHECK(!moat_ldap_name_valid("uid)(x"));
    CHECK(!moat_ldap_name_valid("-uid"));
    CHECK(!moat_ldap_name_valid("2.5..4"));
    CHECK(!moat_ldap_name_valid("2.5.4."));
    CHECK(moat_ldap_dn_valid("ou=device,dc=emqx,dc=io"));
    CHECK(moat_ldap_dn_valid(""));
    CHECK(moat_ldap_dn_valid("cn=a\\,b,dc=x"));
    CHECK(!moat_ldap_dn_valid("not a dn"));
    CHECK(!moat_ldap_dn_valid("ou=device,"));
}

int main(void)
{
    TEST(test_filter);
    TEST(test_dn);
    TEST(test_names);
    return test_summary("auth_ldap");
}
