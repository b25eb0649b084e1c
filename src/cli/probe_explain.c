/* SPDX-License-Identifier: Apache-2.0 */
/* What the probe saw, in words: each problem says what is wrong, with the
 * names, files and dates that matter, and what to do about it. The wording
 * follows the errors users meet with `openssl s_client` (verify error 20
 * "unable to get local issuer certificate", hostname mismatch, no
 * certificate, expired, self-signed) and keeps OpenSSL's numbers, so that a
 * search for the s_client message finds the same thing. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/info.h"
#include "cli/probe.h"

#define NAME 512

static const char *subj(const X509 *x, char *buf)
{
    if (!x)
        return snprintf(buf, NAME, "(unknown certificate)"), buf;
    moat_cert_name_oneline(x, false, buf, NAME);
    return buf;
}

static const char *issuer(const X509 *x, char *buf)
{
    if (!x)
        return snprintf(buf, NAME, "(unknown issuer)"), buf;
    moat_cert_name_oneline(x, true, buf, NAME);
    return buf;
}

static const char *date(int64_t t, char *buf)
{
    moat_cert_time_str(t, buf, 40);
    return buf;
}

/* RFC 8446 6 and RFC 5246 7.2, plus RFC 7301 and RFC 8446's additions. */
static const struct {
    int code;
    const char *name;
} alerts[] = {
    {0, "close notify"},
    {10, "unexpected message"},
    {20, "bad record MAC"},
    {21, "decryption failed"},
    {22, "record overflow"},
    {30, "decompression failure"},
    {40, "handshake failure"},
    {41, "no certificate"},
    {42, "bad certificate"},
    {43, "unsupported certificate"},
    {44, "certificate revoked"},
    {45, "certificate expired"},
    {46, "certificate unknown"},
    {47, "illegal parameter"},
    {48, "unknown CA"},
    {49, "access denied"},
    {50, "decode error"},
    {51, "decrypt error"},
    {70, "protocol version"},
    {71, "insufficient security"},
    {80, "internal error"},
    {86, "inappropriate fallback"},
    {90, "user canceled"},
    {100, "no renegotiation"},
    {109, "missing extension"},
    {110, "unsupported extension"},
    {112, "unrecognized name"},
    {113, "bad certificate status response"},
    {115, "unknown PSK identity"},
    {116, "certificate required"},
    {120, "no application protocol"},
};

const char *probe_alert_name(int desc)
{
    for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
        if (alerts[i].code == desc)
            return alerts[i].name;
    return "unknown alert";
}

static const char *alert_text(int desc)
{
    return probe_alert_name(desc);
}

void probe_name_text(const X509_NAME *nm, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    out[0] = '\0';
    if (!b)
        return;
    if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        int n = BIO_read(b, out, (int)len - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

static int sent_count(const probe_result *r)
{
    return r->sent ? sk_X509_num(r->sent) : 0;
}

static X509 *leaf_of(const probe_result *r)
{
    return sent_count(r) ? sk_X509_value(r->sent, 0) : NULL;
}

static bool in_sent(const probe_result *r, const X509 *x)
{
    for (int i = 0; i < sent_count(r); i++)
        if (X509_cmp(sk_X509_value(r->sent, i), x) == 0)
            return true;
    return false;
}

/* "DNS:localhost, IP:127.0.0.1" and the CN, as a client compares them. */
static void cert_names(const X509 *x, char *out, size_t len, bool *has_san)
{
    moat_cert_info in;
    *has_san = false;
    if (!x || moat_cert_info_get(x, &in) != MOAT_OK) {
        snprintf(out, len, "(names unreadable)");
        return;
    }
    size_t o = 0;
    out[0] = '\0';
    const moat_cert_strlist *lists[] = {&in.dns, &in.ip};
    const char *kinds[] = {"DNS", "IP"};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lists[k]->n && o < len; i++) {
            o += (size_t)snprintf(out + o, len - o, "%s%s:%s", o ? ", " : "", kinds[k],
                                  lists[k]->v[i]);
            *has_san = true;
        }
    if (!*has_san && o < len)
        snprintf(out + o, len - o, "no subjectAltName, CN %s", in.cn ? in.cn : "(none)");
    moat_cert_info_free(&in);
}

/* The first name a client could use, for the fix. */
static void first_name(const X509 *x, char *out, size_t len)
{
    moat_cert_info in;
    out[0] = '\0';
    if (!x || moat_cert_info_get(x, &in) != MOAT_OK)
        return;
    if (in.dns.n)
        snprintf(out, len, "%s", in.dns.v[0]);
    else if (in.ip.n)
        snprintf(out, len, "%s", in.ip.v[0]);
    else if (in.cn)
        snprintf(out, len, "%s", in.cn);
    moat_cert_info_free(&in);
}

static X509 *read_first_cert(const char *path)
{
    BIO *b = path ? BIO_new_file(path, "r") : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static bool trusts_name(const probe_result *r, const X509_NAME *nm)
{
    for (int i = 0; r->trust_certs && i < sk_X509_num(r->trust_certs); i++)
        if (X509_NAME_cmp(X509_get_subject_name(sk_X509_value(r->trust_certs, i)), nm) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------ connection */

static void explain_connect(const probe_opts *o, probe_result *r)
{
    const char *fix =
        strstr(r->net_error, "resolve")
            ? "Check the host name's spelling and DNS, or connect by address and give the "
              "certificate's name with --sni NAME."
            : probe_fmt(
                  "Check that the broker runs and has a listener on port %s (moat: "
                  "listener.ssl.<name> for MQTT over TLS, usually 8883; listener.wss.<name> "
                  "for WebSocket over TLS, usually 8084), and that no firewall is in the way.",
                  o->port);
    probe_add(r, "connect", true, fix, "%s", r->net_error);
}

/* ------------------------------------------------------------ not TLS */

static bool looks_like_tls(const probe_result *r)
{
    return r->n_first >= 2 && r->first[0] >= 0x14 && r->first[0] <= 0x18 && r->first[1] == 0x03;
}

static void explain_not_tls(const probe_opts *o, probe_result *r)
{
    const char *fix = probe_fmt(
        "Probe the TLS port instead (moat: listener.ssl.<name> for MQTT over TLS, usually 8883; "
        "listener.wss.<name> for WebSocket over TLS, usually 8084), or connect to port %s "
        "without TLS.",
        o->port);
    if (r->plain[0]) {
        probe_add(r, "tls", true, fix,
                  "not TLS: %s does not speak TLS, it speaks %s. No certificate was sent.",
                  r->address, r->plain);
        return;
    }
    if (r->timed_out) {
        probe_add(r, "tls", true, fix,
                  "not TLS: %s did not answer our TLS ClientHello within %d ms, nor a plain-text "
                  "request: it is not a TLS server (or not a server that speaks first).",
                  r->address, o->timeout_ms);
        return;
    }
    probe_add(
        r, "tls", true,
        probe_fmt("If this is meant to be a TLS port: check the server's log and its "
                  "certificate settings (moat: certfile and keyfile of the listener)%s. "
                  "Otherwise probe the TLS port.",
                  r->sni_sent ? probe_fmt(", and that it serves the name %s", probe_name(o)) : ""),
        "no certificate sent: %s %s the connection right after our TLS ClientHello, "
        "without a TLS answer or alert, and did not answer a plain-text request either. "
        "Either this is not a TLS port, or the TLS server refused the hello silently (no "
        "certificate configured, or a name it does not serve).",
        r->address, r->sock_errno ? "reset" : "closed");
}

/* ------------------------------------------------------------ alerts */

static void client_cert_needed(const probe_opts *o, probe_result *r, const char *how)
{
    char names[1024] = "";
    size_t n = 0;
    for (int i = 0; r->ca_names && i < sk_X509_NAME_num(r->ca_names) && n < sizeof names; i++) {
        char one[NAME] = "";
        probe_name_text(sk_X509_NAME_value(r->ca_names, i), one, sizeof one);
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? "; " : "", one);
    }
    (void)o;
    r->cert_required = 1;
    probe_add(r, "client_cert", true,
              probe_fmt("Pass --cert FILE --key FILE with a client certificate issued by a CA the "
                        "listener trusts (its cacertfile)%s%s.",
                        names[0] ? "; the server accepts certificates from: " : "", names),
              "the server requires a client certificate and we sent none (%s)", how);
}

static void our_cert_refused(const probe_opts *o, probe_result *r, int alert, bool after)
{
    char s[NAME], i[NAME], d[40];
    X509 *ours = read_first_cert(o->cert);
    const char *when = after ? " after the handshake" : "";
    switch (alert) {
    case SSL_AD_UNKNOWN_CA:
        probe_add(r, "client_cert", true,
                  probe_fmt("Use a client certificate issued by a CA in the listener's "
                            "cacertfile, or add %s (and its chain) to the listener's cacertfile.",
                            issuer(ours, i)),
                  "the server does not trust the CA of our client certificate %s: its issuer %s is "
                  "not in the listener's cacertfile (alert \"unknown CA\"%s)",
                  subj(ours, s), issuer(ours, i), when);
        break;
    case SSL_AD_CERTIFICATE_EXPIRED:
        probe_add(r, "client_cert", true,
                  "Renew the client certificate (and check the clocks of both machines).",
                  "the server says our client certificate %s has expired (valid until %s; alert "
                  "\"certificate expired\"%s)",
                  subj(ours, s), date(ours ? moat_cert_not_after(ours) : 0, d), when);
        break;
    case SSL_AD_CERTIFICATE_REVOKED:
        probe_add(r, "client_cert", true, "Get a new client certificate from your CA.",
                  "the server says our client certificate %s is revoked (alert \"certificate "
                  "revoked\"%s)",
                  subj(ours, s), when);
        break;
    default:
        probe_add(r, "client_cert", true,
                  "Check that the certificate is a client certificate (extendedKeyUsage "
                  "clientAuth) issued by a CA in the listener's cacertfile; the server's log "
                  "says why it refused it.",
                  "the server refused our client certificate %s (alert \"%s\"%s)", subj(ours, s),
                  alert_text(alert), when);
    }
    X509_free(ours);
}

static void explain_alert(const probe_opts *o, probe_result *r)
{
    int a = r->alert_in;
    bool after = r->alert_in_after_hs;
    bool no_cert = r->cert_requested && !r->cert_configured;
    if (a == SSL_AD_CERTIFICATE_REQUIRED || (a == SSL_AD_HANDSHAKE_FAILURE && no_cert)) {
        client_cert_needed(o, r,
                           after ? probe_fmt("alert \"%s\" after the handshake: with TLS 1.3 "
                                             "the server checks the client certificate after "
                                             "the handshake and refused us when we sent data",
                                             alert_text(a))
                                 : probe_fmt("alert \"%s\" during the handshake", alert_text(a)));
        return;
    }
    switch (a) {
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_ACCESS_DENIED:
        if (r->cert_configured) {
            our_cert_refused(o, r, a, after);
            return;
        }
        break;
    case SSL_AD_PROTOCOL_VERSION:
        probe_add(r, "tls", true,
                  o->tls_version ? "Drop --tls1.2 / --tls1.3 to let the server choose, or enable "
                                   "that version on the server (moat: tls_versions)."
                                 : "Enable TLS 1.2 or 1.3 on the server (moat: tls_versions = "
                                   "tlsv1.3,tlsv1.2); older versions are not safe.",
                  "no common TLS version: the server refused %s (alert \"protocol version\")",
                  o->tls_version == TLS1_3_VERSION   ? "TLS 1.3"
                  : o->tls_version == TLS1_2_VERSION ? "TLS 1.2"
                                                     : "TLS 1.2 and 1.3");
        return;
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_INSUFFICIENT_SECURITY:
        probe_add(r, "tls", true,
                  "Compare the listener's ciphers, ciphersuites, ecdh_curves and tls_versions with "
                  "what clients support; try --tls1.2 or --tls1.3.",
                  "the server aborted the handshake (alert \"%s\"): no cipher suite, group or "
                  "signature algorithm in common",
                  alert_text(a));
        return;
    case SSL_AD_UNRECOGNIZED_NAME:
        probe_add(r, "tls", true,
                  "Connect with a name the server serves (--sni NAME); the name must be in its "
                  "certificate.",
                  "the server does not serve the name %s (alert \"unrecognized name\")",
                  probe_name(o));
        return;
    case SSL_AD_NO_APPLICATION_PROTOCOL:
        probe_add(r, "tls", true,
                  "Offer the protocol the listener expects with --alpn NAME (moat: the "
                  "listener's alpn setting).",
                  "the server accepts none of the ALPN protocols we offered (%s; alert \"no "
                  "application protocol\")",
                  o->alpn                ? o->alpn
                  : o->app == PROBE_MQTT ? "mqtt"
                                         : "http/1.1");
        return;
    }
    probe_add(r, after ? "app" : "tls", true, "The server's log says why.",
              "the server aborted %s with alert \"%s\" (%d)",
              after ? "the connection after the handshake" : "the handshake", alert_text(a), a);
}

/* ------------------------------------------------------------ handshake */

static void explain_handshake(const probe_opts *o, probe_result *r)
{
    if (r->alert_in >= 0) {
        explain_alert(o, r);
        return;
    }
    if (!r->server_hello && !looks_like_tls(r)) {
        explain_not_tls(o, r);
        return;
    }
    if (r->timed_out) {
        probe_add(r, "tls", true, "Check the server's load and log; raise --timeout.",
                  "the server did not finish the TLS handshake within %d ms", o->timeout_ms);
        return;
    }
    if (r->cert_requested && !r->cert_configured && (r->peer_eof || r->sock_errno)) {
        client_cert_needed(o, r, "it asked for one, then closed the connection without an alert");
        return;
    }
    if (strstr(r->tls_error, "unsupported protocol")) {
        probe_add(r, "tls", true,
                  "Enable TLS 1.2 or 1.3 on the server (moat: tls_versions = tlsv1.3,tlsv1.2).",
                  "the server only speaks TLS versions older than 1.2, which we refuse (%s)",
                  r->tls_error);
        return;
    }
    if (r->peer_eof || r->sock_errno) {
        probe_add(r, "tls", true, "The server's log says why.",
                  "the server %s the connection during the TLS handshake without an alert%s",
                  r->sock_errno ? "reset" : "closed",
                  sent_count(r) ? "" : "; no certificate was sent");
        return;
    }
    probe_add(r, "tls", true,
              "Run with --tls1.2 or --tls1.3 to narrow it down; the server's log says why.",
              "the TLS handshake failed: %s", r->tls_error[0] ? r->tls_error : "unknown error");
}

/* ------------------------------------------------------------ verification */

static void explain_issuer_missing(const probe_opts *o, probe_result *r, const probe_verify_err *v)
{
    char s[NAME], i[NAME], fix[1536];
    X509 *c = v->cert;
    bool system = !o->ca;
    bool same_name = c && trusts_name(r, X509_get_issuer_name(c));
    const char *head = probe_fmt("verify error %d (%s): the certificate chain is broken", v->code,
                                 X509_verify_cert_error_string(v->code));
    if (same_name) {
        probe_add(r, "verify", true,
                  probe_fmt("Give the client the CA that really issued the chain (--ca), or "
                            "rebuild the server's certfile from the certificates of the CA in "
                            "%s.",
                            r->trust),
                  "%s: %s was issued by %s, and %s holds a certificate of that name, but not the "
                  "one that signed it (another CA with the same name, e.g. a regenerated one)",
                  head, subj(c, s), issuer(c, i), r->trust);
        return;
    }
    if (v->depth == 0 && sent_count(r) <= 1) {
        snprintf(fix, sizeof fix,
                 "On the server, put the intermediate certificate(s) after the server certificate "
                 "in the listener's certfile (with Let's Encrypt use fullchain.pem, not cert.pem; "
                 "`moat certs bundle` builds one). If %s is a root CA, give it to the client "
                 "instead (--ca FILE)%s.",
                 issuer(c, i), system ? "; a private CA is never among the system's roots" : "");
        probe_add(r, "verify", true, fix,
                  "%s: the server sent only its own certificate (%s), not the CA certificate that "
                  "issued it (%s), and that issuer is not in %s",
                  head, subj(c, s), issuer(c, i), r->trust);
        return;
    }
    snprintf(
        fix, sizeof fix,
        "If %s is an intermediate CA, add it to the listener's certfile after %s. If it is the "
        "root CA, the client must trust it: pass it with --ca%s.",
        issuer(c, i), subj(c, s),
        system ? " (a private CA is never among the system's roots)"
               : probe_fmt(" (%s does not have it: is it the CA file for this server?)", r->trust));
    probe_add(r, "verify", true, fix,
              "%s: the chain the server sent ends at %s, whose issuer %s is neither sent by the "
              "server nor in %s",
              head, subj(c, s), issuer(c, i), r->trust);
}

static void explain_verify_err(const probe_opts *o, probe_result *r, const probe_verify_err *v)
{
    char s[NAME], i[NAME], d[40], names[1024];
    X509 *c = v->cert;
    const char *what = X509_verify_cert_error_string(v->code);
    time_t now = time(NULL);
    switch (v->code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        explain_issuer_missing(o, r, v);
        return;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        probe_add(r, "verify", true,
                  "For a test, give the client this very certificate as its CA (--ca FILE). "
                  "For real use, serve a certificate issued by a CA (your own CA, e.g. from "
                  "`moat certs dev`, or a public one) and give clients that CA.",
                  "verify error %d (%s): the server's certificate %s is self-signed: no CA vouches "
                  "for it",
                  v->code, what, subj(c, s));
        return;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        probe_add(r, "verify", true,
                  probe_fmt("If %s is your CA, give it to the client (--ca FILE; in MQTT clients "
                            "the CA file). Otherwise the server uses a certificate of a CA its "
                            "clients do not trust: change the listener's certfile.",
                            subj(c, s)),
                  "verify error %d (%s): the chain ends at the root CA %s, which the server sent "
                  "itself, but %s does not contain it: this client does not trust the server's CA",
                  v->code, what, subj(c, s), r->trust);
        return;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: {
        bool exp = v->code == X509_V_ERR_CERT_HAS_EXPIRED;
        int64_t t = c ? (exp ? moat_cert_not_after(c) : moat_cert_not_before(c)) : 0;
        long days = (long)((exp ? now - t : t - now) / 86400);
        const char *who = v->depth == 0 ? "the server's certificate"
                          : c && in_sent(r, c)
                              ? "the CA certificate (sent by the server)"
                              : probe_fmt("the CA certificate (from %s)", r->trust);
        const char *fix =
            !exp ? "Check the clocks of this machine and of the CA; or wait until it is valid."
            : v->depth == 0
                ? "Renew the server certificate and point the listener's certfile and keyfile at "
                  "the new files (moat reloads them when they change)."
            : c && in_sent(r, c)
                ? "Replace that CA certificate in the listener's certfile with its current version "
                  "(your CA publishes it; with Let's Encrypt, a fresh fullchain.pem has it)."
                : probe_fmt("Update %s with the CA's current certificate.", r->trust);
        probe_add(r, "verify", true, fix, "verify error %d (%s): %s %s %s %s (%ld day%s %s)",
                  v->code, what, who, subj(c, s), exp ? "expired on" : "is not valid before",
                  date(t, d), days, days == 1 ? "" : "s", exp ? "ago" : "from now");
        return;
    }
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: {
        bool has_san;
        char first[256];
        X509 *leaf = c ? c : leaf_of(r);
        cert_names(leaf, names, sizeof names, &has_san);
        first_name(leaf, first, sizeof first);
        bool ip = v->code == X509_V_ERR_IP_ADDRESS_MISMATCH;
        probe_add(r, "verify", true,
                  probe_fmt("Connect with a name the certificate has (%s%s), or issue a server "
                            "certificate whose subjectAltName includes %s:%s.",
                            first[0] ? probe_fmt("e.g. --sni %s", first) : "see above",
                            probe_is_ip(o->host) ? "" : " or that name as HOST", ip ? "IP" : "DNS",
                            probe_name(o)),
                  "verify error %d (%s): we asked for %s but the server's certificate %s is for %s"
                  "%s",
                  v->code, what, probe_name(o), subj(leaf, s), names,
                  has_san ? ""
                          : " (without subjectAltName clients fall back to the CN, if at all)");
        return;
    }
    case X509_V_ERR_INVALID_PURPOSE:
        probe_add(r, "verify", true,
                  "Issue the server certificate with extendedKeyUsage = serverAuth.",
                  "verify error %d (%s): %s may not be used by a TLS server (its extendedKeyUsage "
                  "lacks serverAuth)",
                  v->code, what, subj(c, s));
        return;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        probe_add(r, "verify", true,
                  "Rebuild the listener's certfile from the files the CA gave you (`moat certs "
                  "check` on the server shows which certificate is wrong).",
                  "verify error %d (%s): the signature of %s does not verify with the key of its "
                  "issuer %s: a certificate in the chain is not the one its CA issued",
                  v->code, what, subj(c, s), issuer(c, i));
        return;
    default:
        probe_add(r, "verify", true,
                  "Run `moat certs check` on the server's certfile for the details.",
                  "verify error %d (%s) at %s (depth %d)", v->code, what, subj(c, s), v->depth);
    }
}

static bool seen_code(const probe_result *r, int upto, int code)
{
    for (int k = 0; k < upto; k++)
        if (r->verr[k].code == code)
            return true;
    return false;
}

static bool is_issuer_err(int code)
{
    return code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           code == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

static void explain_verify(const probe_opts *o, probe_result *r)
{
    for (int k = 0; k < r->n_verr; k++) {
        const probe_verify_err *v = &r->verr[k];
        /* One missing issuer shows as 20 and then 21: one cause, one finding. */
        bool dup = seen_code(r, k, v->code);
        for (int j = 0; j < k && !dup; j++)
            dup = is_issuer_err(v->code) && is_issuer_err(r->verr[j].code);
        if (!dup)
            explain_verify_err(o, r, v);
    }
}

/* Things worth knowing about the chain that do not fail it. */
static void chain_notes(probe_result *r)
{
    char s[NAME], d[40];
    time_t now = time(NULL);
    for (int k = 0; k < sent_count(r); k++) {
        X509 *c = sk_X509_value(r->sent, k);
        int64_t na = moat_cert_not_after(c);
        if (na > now && na - now < 30 * 86400)
            probe_add(r, "verify", false, "Renew it soon.", "%s expires in %ld days (%s)",
                      subj(c, s), (long)((na - now) / 86400), date(na, d));
        if (k > 0 && (X509_get_extension_flags(c) & EXFLAG_SS))
            probe_add(r, "verify", false,
                      "Optionally leave the root out of the listener's certfile (server "
                      "certificate, then intermediates).",
                      "the server also sends the root CA %s: harmless, but clients must trust it "
                      "on their own anyway",
                      subj(c, s));
        if (k + 1 < sent_count(r) &&
            X509_check_issued(sk_X509_value(r->sent, k + 1), c) != X509_V_OK &&
            !(X509_get_extension_flags(c) & EXFLAG_SS))
            probe_add(r, "verify", false,
                      "Order the listener's certfile: server certificate first, then each "
                      "certificate's issuer (`moat certs bundle` does it).",
                      "the certificates the server sends are out of order: %s is not followed by "
                      "its issuer",
                      subj(c, s));
    }
}

/* ------------------------------------------------------------ the rest */

static void explain_client_cert(const probe_opts *o, probe_result *r)
{
    (void)o;
    if (r->cert_requested && !r->cert_configured && r->app_ok) {
        r->cert_required = 0;
        probe_add(r, "client_cert", false, NULL,
                  "the server asked for a client certificate but let us in without one "
                  "(moat: verify = verify_peer with fail_if_no_peer_cert = false): client "
                  "certificates are optional here");
    }
    if (r->cert_configured && !r->cert_requested && r->hs_ok)
        probe_add(r, "client_cert", false,
                  "If the server should check client certificates, set verify = verify_peer "
                  "(and cacertfile) on the listener.",
                  "we had a client certificate (--cert) but the server did not ask for one, so it "
                  "was not sent");
}

static void explain_ocsp(probe_result *r)
{
    char d[40];
    if (!r->ocsp_stapled)
        return;
    if (r->ocsp_cert_status == V_OCSP_CERTSTATUS_REVOKED)
        probe_add(r, "ocsp", true, "Replace the server certificate with a new one.",
                  "the stapled OCSP response says the server's certificate is REVOKED (since %s, "
                  "reason: %s)",
                  date(r->ocsp_revoked, d),
                  r->ocsp_reason >= 0 ? OCSP_crl_reason_str(r->ocsp_reason) : "unspecified");
    else if (r->ocsp_note[0])
        probe_add(r, "ocsp", false, "The server must fetch a fresh OCSP response to staple.",
                  "the stapled OCSP response is not usable: %s", r->ocsp_note);
    else if (!r->ocsp_sig_ok)
        probe_add(r, "ocsp", false,
                  "Staple a response signed by the certificate's CA or its "
                  "delegated OCSP responder.",
                  "the stapled OCSP response's signature does not verify against %s", r->trust);
}

static const char *connack_fix(uint8_t v, uint8_t rc)
{
    if (v != 5) /* MQTT 3.1/3.1.1 return codes, mapped onto the v5 ones below */
        rc = rc == 1 ? 0x84 : rc == 2 ? 0x85 : rc == 3 ? 0x88 : rc == 4 ? 0x86 : 0x87;
    switch (rc) {
    case 0x84:
        return "The server does not speak this MQTT version: try --mqtt-version 4 (3.1.1).";
    case 0x85:
        return "Choose another client id (--client-id).";
    case 0x86:
        return "Pass the right --username / --password (or a client certificate the server maps "
               "to a user).";
    case 0x87:
        return "This client may not connect: check the server's authentication and ACL for this "
               "user, client id or certificate.";
    case 0x8A:
        return "This client is banned on the server.";
    case 0x88:
    case 0x89:
    case 0x9F:
        return "The server is overloaded or refusing connections; try again later, and check its "
               "limits and log.";
    case 0x9C:
    case 0x9D:
        return "Connect to the server named in the server reference.";
    default:
        return "The server's log says why.";
    }
}

static void explain_app(const probe_opts *o, probe_result *r)
{
    if (!r->app_tried || r->app_ok || (r->alert_in >= 0 && r->alert_in_after_hs))
        return;
    const char *port_fix;
    switch (o->app) {
    case PROBE_WSS:
        if (r->http_status && r->http_status != 101) {
            const char *fix =
                r->http_status == 404
                    ? "Use the path the listener serves (moat: listener.wss.<name>.mqtt_path, "
                      "default /mqtt)."
                : r->http_status == 403
                    ? "The listener checks Origin (check_origin_enable, allowed_origins)."
                    : "See the server's reason above.";
            probe_add(r, "app", true, fix,
                      "the WebSocket upgrade to %s was refused: HTTP %d %s%s%s", o->path,
                      r->http_status, r->http_reason, r->http_body[0] ? ": " : "", r->http_body);
            return;
        }
        if (!r->http_status) {
            probe_add(r, "app", true,
                      "Check that this is a wss port; an MQTT-over-TLS (ssl) port closes on an "
                      "HTTP request: probe it without --wss.",
                      "WebSocket upgrade failed: %s", r->app_summary);
            return;
        }
        break;
    case PROBE_HTTPS:
        if (r->http_status >= 400) {
            probe_add(r, "app", true, "Check the path, and the server's log.",
                      "the server answered HTTP %d %s for %s%s%s", r->http_status, r->http_reason,
                      o->path, r->http_body[0] ? ": " : "", r->http_body);
            return;
        }
        if (!r->http_status) {
            probe_add(r, "app", true,
                      "Check that this is an HTTPS port (for MQTT ports use --mqtt or --wss PATH).",
                      "HTTPS request failed: %s", r->app_summary);
            return;
        }
        break;
    default:
        break;
    }
    /* Asked for a certificate, got none, and hung up without a word. */
    if (r->cert_requested && !r->cert_configured && !r->connack && !r->http_status &&
        (r->peer_eof || r->sock_errno)) {
        client_cert_needed(o, r,
                           "it asked for one, then closed the connection after the handshake "
                           "without an alert");
        return;
    }
    if (r->connack && r->connack_rc != 0) {
        probe_add(r, "app", true, connack_fix(r->mqtt_version, r->connack_rc),
                  "the server refused the MQTT connection: %s", r->app_summary);
        return;
    }
    port_fix = o->app == PROBE_MQTT
                   ? "Check that this port is an MQTT-over-TLS listener (for a wss port use --wss "
                     "PATH); the broker's log says why it closed."
                   : "The broker's log says why.";
    probe_add(r, "app", true, port_fix, "MQTT failed: %s", r->app_summary);
}

void probe_explain(const probe_opts *o, probe_result *r)
{
    if (!r->connected) {
        explain_connect(o, r);
        return;
    }
    if (!r->hs_ok) {
        explain_handshake(o, r);
        explain_verify(o, r);
        return;
    }
    explain_verify(o, r);
    if (r->alert_in >= 0 && r->alert_in_after_hs)
        explain_alert(o, r);
    explain_app(o, r);
    explain_ocsp(r);
    explain_client_cert(o, r);
    chain_notes(r);
}
