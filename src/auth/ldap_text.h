/* SPDX-License-Identifier: Apache-2.0 */
/* Text an LDAP request is built from, made safe: a client's username goes
 * into a search filter (RFC 4515) and a DN (RFC 4514) only through these, so
 * "*)(uid=*" is a username and never filter syntax.
 * Leaf module: no logging, no state. */
#ifndef MOAT_AUTH_LDAP_TEXT_H
#define MOAT_AUTH_LDAP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* v (len bytes) as an RFC 4514 attribute value into out: , + " \ < > ; =
 * are written \c, a NUL or control byte \XX, a leading space or '#' and a
 * trailing space \c. False when out (n bytes) is too small. */
bool moat_ldap_escape_dn_value(const char *v, size_t len, char *out, size_t n);

/* v (len bytes) as an RFC 4515 assertion value into out: * ( ) \ NUL and
 * bytes past ASCII as \2A \28 \29 \5C \00 \C3 (libldap's
 * ldap_bv2escaped_filter_value). False when out is too small or out of
 * memory. At most 3 * len + 1 bytes are needed. */
bool moat_ldap_escape_filter_value(const char *v, size_t len, char *out, size_t n);

/* Is name an attribute type or object class: a keyword (a letter, then
 * letters, digits, '-') or a numeric OID (1.2.840...)? */
bool moat_ldap_name_valid(const char *name);

/* Does dn parse as an LDAPv3 DN (RFC 4514)? "" is the empty DN. */
bool moat_ldap_dn_valid(const char *dn);

#endif
