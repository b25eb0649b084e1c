/* SPDX-License-Identifier: Apache-2.0 */
/* `moat certs probe HOST:PORT`: what `openssl s_client` shows, then an MQTT
 * CONNECT (or a WebSocket upgrade, or an HTTPS GET), explained. Replaces the
 * sclient-ssl.sh / sclient-wss.sh / sclient-https.sh scripts of the TLS
 * tutorials. Exit status: 0 verified and the application step worked, 1
 * anything else found wrong, 2 bad usage or an unusable file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ocsp.h>

#include "certs/info.h"
#include "cli/certs_cmd.h"
#include "cli/probe.h"

static const char usage_text[] =
    "usage: moat certs probe HOST:PORT [options]\n"
    "\n"
    "Connect to a TLS server like `openssl s_client`, show the TLS version, cipher, ALPN,\n"
    "the certificate chain the server sent, the verification result in words, whether a\n"
    "client certificate was asked for, the OCSP staple; then speak to it.\n"
    "\n"
    "What to say after the handshake (one of):\n"
    "  --mqtt               an MQTT CONNECT, and the CONNACK (default)\n"
    "  --wss PATH           a WebSocket upgrade to PATH, then MQTT CONNECT in binary frames\n"
    "  --https PATH         an HTTP GET of PATH: status line and a few headers\n"
    "  --tls-only           nothing: the handshake only\n"
    "TLS:\n"
    "  --sni NAME           server name to send and to verify (default: HOST)\n"
    "  --ca FILE|DIR        trust these CA certificates (default: the system's roots)\n"
    "  --cert FILE --key FILE   client certificate (with its chain) and its key (PEM)\n"
    "  --tls1.2 | --tls1.3  offer only this version\n"
    "  --alpn LIST          ALPN protocols to offer, comma separated (default: mqtt for\n"
    "                       MQTT, http/1.1 for --wss and --https)\n"
    "MQTT:\n"
    "  --mqtt-version 3|4|5 protocol level (default 5)\n"
    "  --client-id ID       (default moat-probe-PID)\n"
    "  --username U --password P\n"
    "Output:\n"
    "  --timeout SECONDS    for each network step (default 10)\n"
    "  --json               one JSON object instead of text\n"
    "\n"
    "Exit status: 0 the chain verified, the name matched and the application step worked;\n"
    "1 something is wrong (each problem is printed with its fix); 2 bad usage or a file\n"
    "that cannot be used.\n";

/* ------------------------------------------------------------ options */

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "moat certs probe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(moat certs probe --help for the options)\n");
    return 2;
}

/* HOST:PORT, [V6]:PORT. */
static int parse_target(const char *s, probe_opts *o)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        memcpy(o->host, s + 1, hl < sizeof o->host ? hl : 0);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return -1; /* an IPv6 address needs brackets */
        hl = (size_t)(colon - s);
        memcpy(o->host, s, hl < sizeof o->host ? hl : 0);
    }
    if (hl == 0 || hl >= sizeof o->host)
        return -1;
    o->host[hl] = '\0';
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atoi(p) < 1 || atoi(p) > 65535)
        return -1;
    memcpy(o->port, p, pl + 1);
    return 0;
}

static bool takes_value(const char *name)
{
    static const char *const valued[] = {
        "--wss",  "--https",        "--sni",       "--ca",       "--cert",     "--key",
        "--alpn", "--mqtt-version", "--client-id", "--username", "--password", "--timeout"};
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++)
        if (!strcmp(name, valued[i]))
            return true;
    return false;
}

static int parse_opts(int argc, char **argv, probe_opts *o, bool *help)
{
    memset(o, 0, sizeof *o);
    o->mqtt_version = 5;
    o->timeout_ms = 10000;
    int apps = 0, versions = 0;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        char name[32];
        /* --opt=value as well as --opt value */
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            val = eq + 1;
            a = name;
        }
        if (takes_value(a)) {
            if (!val && i + 1 >= argc)
                return usage_error("%s needs a value", a);
            if (!val)
                val = argv[++i];
        } else if (val) {
            return usage_error("%s takes no value", a);
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = true;
            return 0;
        } else if (!strcmp(a, "--mqtt")) {
            o->app = PROBE_MQTT;
            apps++;
        } else if (!strcmp(a, "--tls-only")) {
            o->app = PROBE_TLS_ONLY;
            apps++;
        } else if (!strcmp(a, "--wss") || !strcmp(a, "--https")) {
            o->app = a[2] == 'w' ? PROBE_WSS : PROBE_HTTPS;
            o->path = val;
            apps++;
        } else if (!strcmp(a, "--tls1.2") || !strcmp(a, "--tls1.3")) {
            o->tls_version = !strcmp(a, "--tls1.2") ? TLS1_2_VERSION : TLS1_3_VERSION;
            versions++;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--sni")) {
            o->sni = val;
        } else if (!strcmp(a, "--ca")) {
            o->ca = val;
        } else if (!strcmp(a, "--cert")) {
            o->cert = val;
        } else if (!strcmp(a, "--key")) {
            o->key = val;
        } else if (!strcmp(a, "--alpn")) {
            o->alpn = val;
        } else if (!strcmp(a, "--mqtt-version")) {
            if (strcmp(val, "3") && strcmp(val, "4") && strcmp(val, "5"))
                return usage_error("--mqtt-version must be 3, 4 or 5, not '%s'", val);
            o->mqtt_version = atoi(val);
        } else if (!strcmp(a, "--client-id")) {
            o->client_id = val;
        } else if (!strcmp(a, "--username")) {
            o->username = val;
        } else if (!strcmp(a, "--password")) {
            o->password = val;
        } else if (!strcmp(a, "--timeout")) {
            char *end;
            double t = strtod(val, &end);
            if (*end || !(t >= 0.1 && t <= 3600))
                return usage_error("--timeout takes seconds (0.1 to 3600), not '%s'", val);
            o->timeout_ms = (int)(t * 1000);
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (target) {
            return usage_error("one HOST:PORT only ('%s' is one too many)", a);
        } else {
            target = a;
        }
    }
    if (!target)
        return usage_error("%s", "HOST:PORT is missing");
    if (parse_target(target, o) != 0)
        return usage_error("'%s' is not HOST:PORT (an IPv6 address goes in brackets: "
                           "[::1]:8883)",
                           target);
    if (apps > 1)
        return usage_error("%s", "choose one of --mqtt, --wss PATH, --https PATH, --tls-only");
    if (versions > 1)
        return usage_error("%s", "choose one of --tls1.2 and --tls1.3");
    if (!o->cert != !o->key)
        return usage_error("%s", "--cert and --key go together");
    if (o->path && o->path[0] != '/')
        return usage_error("PATH must start with '/' (not '%s')", o->path);
    if (o->sni && !o->sni[0])
        return usage_error("%s", "--sni needs a name");
    if (o->password && !o->username && o->mqtt_version != 5)
        return usage_error("%s", "before MQTT 5 a --password needs a --username");
    return 0;
}

/* ------------------------------------------------------------ JSON */

static void js_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void js_kv(FILE *f, const char *k, const char *v, bool comma)
{
    js_str(f, k);
    fputc(':', f);
    if (v)
        js_str(f, v);
    else
        fputs("null", f);
    if (comma)
        fputc(',', f);
}

/* ------------------------------------------------------------ shared bits */

static const char *app_name(probe_app a)
{
    return a == PROBE_WSS        ? "wss"
           : a == PROBE_HTTPS    ? "https"
           : a == PROBE_TLS_ONLY ? "none"
                                 : "mqtt";
}

static const char *ocsp_status_name(int s)
{
    return s == V_OCSP_CERTSTATUS_GOOD      ? "good"
           : s == V_OCSP_CERTSTATUS_REVOKED ? "revoked"
           : s == V_OCSP_CERTSTATUS_UNKNOWN ? "unknown"
                                            : "not found";
}

static long days_left(int64_t not_after)
{
    int64_t d = not_after - (int64_t)time(NULL);
    return (long)(d >= 0 ? d / 86400 : -((-d + 86399) / 86400));
}

static int count_problems(const probe_result *r)
{
    int n = 0;
    for (int i = 0; i < r->n_findings; i++)
        n += r->findings[i].problem;
    return n;
}

static bool verdict(const probe_result *r)
{
    return probe_ok(r) && count_problems(r) == 0;
}

/* ------------------------------------------------------------ text */

static void print_chain_text(FILE *f, const probe_result *r)
{
    int n = r->sent ? sk_X509_num(r->sent) : 0;
    if (!n) {
        fprintf(f, "Chain     none: the server sent no certificate\n");
        return;
    }
    fprintf(f, "Chain     %d certificate%s sent by the server:\n", n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(r->sent, i);
        char s[512], is[512], d[40];
        moat_cert_name_oneline(x, false, s, sizeof s);
        moat_cert_name_oneline(x, true, is, sizeof is);
        int64_t na = moat_cert_not_after(x);
        long dl = days_left(na);
        moat_cert_time_str(na, d, sizeof d);
        fprintf(f, "  %d s: %s\n    i: %s\n    expires %s (%s%ld day%s%s)\n", i, s, is, d,
                dl < 0 ? "EXPIRED " : "", dl < 0 ? -dl : dl, (dl == 1 || dl == -1) ? "" : "s",
                dl < 0 ? " ago" : " left");
    }
}

static void print_verify_text(FILE *f, const probe_opts *o, const probe_result *r)
{
    if (!r->sent || !sk_X509_num(r->sent)) {
        fprintf(f, "Verify    not done (no certificate)\n");
        return;
    }
    if (r->n_verr == 0) {
        char root[512] = "?";
        int n = r->verified ? sk_X509_num(r->verified) : 0;
        if (n)
            moat_cert_name_oneline(sk_X509_value(r->verified, n - 1), false, root, sizeof root);
        fprintf(f, "Verify    OK: chain to %s (trusted from %s); name %s matches\n", root, r->trust,
                probe_name(o));
        return;
    }
    const probe_verify_err *v = &r->verr[0];
    fprintf(f, "Verify    FAILED: verify error %d (%s) at depth %d\n", v->code,
            X509_verify_cert_error_string(v->code), v->depth);
}

static void print_text(FILE *f, const probe_opts *o, const probe_result *r)
{
    fprintf(f, "Probe     %s:%s%s%s%s, name %s%s, trust %s\n", o->host, o->port,
            r->address[0] ? " (" : "", r->address, r->address[0] ? ")" : "", probe_name(o),
            r->sni_sent ? " (sent as SNI)" : "", r->trust ? r->trust : "-");
    if (!r->connected) {
        fprintf(f, "Connect   FAILED\n");
    } else if (r->hs_ok) {
        fprintf(f, "TLS       %s, %s%s%s, ALPN %s\n", r->version, r->cipher,
                r->group[0] ? ", group " : "", r->group, r->alpn[0] ? r->alpn : "none");
    } else {
        fprintf(f, "TLS       handshake FAILED%s%s\n", r->tls_error[0] ? ": " : "", r->tls_error);
    }
    if (r->connected && (r->hs_ok || r->server_hello)) {
        print_chain_text(f, r);
        print_verify_text(f, o, r);
        const char *cc = !r->cert_requested
                             ? (r->hs_ok ? "not requested" : "not requested (so far)")
                         : r->cert_configured    ? "requested by the server; ours was sent"
                         : r->cert_required == 1 ? "REQUIRED by the server; we had none"
                         : r->cert_required == 0
                             ? "requested by the server but optional: we had none and were let in"
                             : "requested by the server; we had none";
        fprintf(f, "Client    certificate %s\n", cc);
    }
    if (r->hs_ok) {
        if (!r->ocsp_stapled)
            fprintf(f, "OCSP      no staple (requested; the server sent no OCSP response)\n");
        else if (r->ocsp_cert_status >= 0) {
            char tu[40], nu[40];
            moat_cert_time_str(r->ocsp_this, tu, sizeof tu);
            moat_cert_time_str(r->ocsp_next, nu, sizeof nu);
            fprintf(f, "OCSP      stapled: %s (produced %s, next update %s), signature %s\n",
                    ocsp_status_name(r->ocsp_cert_status), tu, r->ocsp_next ? nu : "-",
                    r->ocsp_sig_ok ? "verified" : "NOT verified");
        } else
            fprintf(f, "OCSP      stapled, unusable: %s\n", r->ocsp_note);
    }
    if (r->app_tried) {
        if (o->app == PROBE_WSS || o->app == PROBE_HTTPS) {
            fprintf(f, "%-9s GET %s -> %s\n", o->app == PROBE_WSS ? "WebSocket" : "HTTPS", o->path,
                    r->http_status ? probe_fmt("HTTP %d %s", r->http_status, r->http_reason)
                                   : "no HTTP response");
            for (int i = 0; i < r->n_http_headers; i++)
                fprintf(f, "          %s\n", r->http_headers[i]);
            if (r->http_body[0])
                fprintf(f, "          body: %s\n", r->http_body);
        }
        if (o->app != PROBE_HTTPS && (o->app == PROBE_MQTT || r->http_status == 101)) {
            fprintf(f, "MQTT      CONNECT (MQTT %s, client id \"%s\") -> %s\n",
                    o->mqtt_version == 5   ? "5"
                    : o->mqtt_version == 4 ? "3.1.1"
                                           : "3.1",
                    r->client_id, r->app_summary[0] ? r->app_summary : "?");
            for (int i = 0; i < r->n_connack_props; i++)
                fprintf(f, "          %s\n", r->connack_props[i]);
        }
    }
    int np = count_problems(r);
    for (int pass = 0; pass < 2; pass++) {
        bool want = pass == 0;
        int n = 0;
        for (int i = 0; i < r->n_findings; i++) {
            const probe_finding *x = &r->findings[i];
            if (x->problem != want)
                continue;
            if (n++ == 0)
                fprintf(f, "%s\n", want ? "Problems:" : "Notes:");
            fprintf(f, "  - %s\n", x->message);
            if (x->fix)
                fprintf(f, "    Fix: %s\n", x->fix);
        }
    }
    if (verdict(r))
        fprintf(f, "Result    OK\n");
    else
        fprintf(f, "Result    FAILED (%d problem%s)\n", np ? np : 1, np == 1 ? "" : "s");
}

/* ------------------------------------------------------------ json */

static void print_cert_json(FILE *f, X509 *x)
{
    moat_cert_info in;
    if (moat_cert_info_get(x, &in) != MOAT_OK) {
        fputs("null", f);
        return;
    }
    char d[40];
    fputc('{', f);
    js_kv(f, "subject", in.subject, true);
    js_kv(f, "issuer", in.issuer, true);
    moat_cert_time_str(in.not_after, d, sizeof d);
    js_kv(f, "not_after", d, true);
    fprintf(f, "\"days_left\":%ld,\"self_signed\":%s,\"is_ca\":%s,", days_left(in.not_after),
            in.self_signed ? "true" : "false", in.is_ca ? "true" : "false");
    js_kv(f, "key", in.key, true);
    js_kv(f, "sha256", in.sha256, true);
    fputs("\"dns\":[", f);
    for (size_t i = 0; i < in.dns.n; i++) {
        if (i)
            fputc(',', f);
        js_str(f, in.dns.v[i]);
    }
    fputs("],\"ip\":[", f);
    for (size_t i = 0; i < in.ip.n; i++) {
        if (i)
            fputc(',', f);
        js_str(f, in.ip.v[i]);
    }
    fputs("]}", f);
    moat_cert_info_free(&in);
}

static void print_json(FILE *f, const probe_opts *o, const probe_result *r)
{
    fputc('{', f);
    fputs("\"target\":{", f);
    js_kv(f, "host", o->host, true);
    fprintf(f, "\"port\":%s,", o->port);
    js_kv(f, "address", r->address[0] ? r->address : NULL, true);
    js_kv(f, "name", probe_name(o), true);
    fprintf(f, "\"sni_sent\":%s,", r->sni_sent ? "true" : "false");
    js_kv(f, "trust", r->trust, false);
    fputs("},", f);
    fprintf(f, "\"connected\":%s,", r->connected ? "true" : "false");

    fputs("\"tls\":{", f);
    fprintf(f, "\"ok\":%s,", r->hs_ok ? "true" : "false");
    js_kv(f, "version", r->hs_ok ? r->version : NULL, true);
    js_kv(f, "cipher", r->hs_ok ? r->cipher : NULL, true);
    js_kv(f, "group", r->group[0] ? r->group : NULL, true);
    js_kv(f, "alpn", r->alpn[0] ? r->alpn : NULL, true);
    js_kv(f, "error", r->tls_error[0] ? r->tls_error : NULL, true);
    js_kv(f, "alert_received", r->alert_in >= 0 ? probe_alert_name(r->alert_in) : NULL, true);
    fprintf(f, "\"alert_after_handshake\":%s,", r->alert_in_after_hs ? "true" : "false");
    js_kv(f, "not_tls", r->plain[0] ? r->plain : NULL, false);
    fputs("},", f);

    fputs("\"chain\":[", f);
    for (int i = 0; r->sent && i < sk_X509_num(r->sent); i++) {
        if (i)
            fputc(',', f);
        print_cert_json(f, sk_X509_value(r->sent, i));
    }
    fputs("],", f);

    fputs("\"verify\":{", f);
    bool done = r->sent && sk_X509_num(r->sent);
    fprintf(f, "\"ok\":%s,", done && r->n_verr == 0 ? "true" : "false");
    if (r->n_verr) {
        fprintf(f, "\"code\":%d,", r->verr[0].code);
        js_kv(f, "error", X509_verify_cert_error_string(r->verr[0].code), true);
        fprintf(f, "\"depth\":%d,", r->verr[0].depth);
    } else {
        fputs("\"code\":null,\"error\":null,\"depth\":null,", f);
    }
    fputs("\"errors\":[", f);
    for (int i = 0; i < r->n_verr; i++) {
        char s[512] = "";
        if (r->verr[i].cert)
            moat_cert_name_oneline(r->verr[i].cert, false, s, sizeof s);
        fprintf(f, "%s{\"code\":%d,\"depth\":%d,", i ? "," : "", r->verr[i].code, r->verr[i].depth);
        js_kv(f, "error", X509_verify_cert_error_string(r->verr[i].code), true);
        js_kv(f, "subject", s, false);
        fputc('}', f);
    }
    fputs("]},", f);

    fputs("\"client_cert\":{", f);
    fprintf(f, "\"requested\":%s,\"sent\":%s,\"required\":%s,\"ca_names\":[",
            r->cert_requested ? "true" : "false",
            r->cert_requested && r->cert_configured ? "true" : "false",
            r->cert_required < 0 ? "null"
            : r->cert_required   ? "true"
                                 : "false");
    for (int i = 0; r->ca_names && i < sk_X509_NAME_num(r->ca_names); i++) {
        char one[512];
        probe_name_text(sk_X509_NAME_value(r->ca_names, i), one, sizeof one);
        if (i)
            fputc(',', f);
        js_str(f, one);
    }
    fputs("]},", f);

    fputs("\"ocsp\":{\"requested\":true,", f);
    fprintf(f, "\"stapled\":%s,", r->ocsp_stapled ? "true" : "false");
    js_kv(f, "status",
          r->ocsp_stapled && r->ocsp_cert_status >= 0 ? ocsp_status_name(r->ocsp_cert_status)
                                                      : NULL,
          true);
    fprintf(f, "\"signature_ok\":%s,", r->ocsp_sig_ok ? "true" : "false");
    js_kv(f, "note", r->ocsp_note[0] ? r->ocsp_note : NULL, false);
    fputs("},", f);

    fputs("\"app\":{", f);
    js_kv(f, "protocol", app_name(o->app), true);
    fprintf(f, "\"tried\":%s,\"ok\":%s,", r->app_tried ? "true" : "false",
            r->app_ok ? "true" : "false");
    js_kv(f, "summary", r->app_summary[0] ? r->app_summary : NULL, true);
    if (r->http_status)
        fprintf(f, "\"http_status\":%d,", r->http_status);
    else
        fputs("\"http_status\":null,", f);
    js_kv(f, "http_reason", r->http_status ? r->http_reason : NULL, true);
    fputs("\"http_headers\":[", f);
    for (int i = 0; i < r->n_http_headers; i++) {
        if (i)
            fputc(',', f);
        js_str(f, r->http_headers[i]);
    }
    fputs("],", f);
    js_kv(f, "ws_protocol", r->ws_protocol[0] ? r->ws_protocol : NULL, true);
    if (r->connack)
        fprintf(f, "\"connack\":{\"mqtt_version\":%u,\"reason_code\":%u,\"session_present\":%s,",
                r->mqtt_version, r->connack_rc, r->session_present ? "true" : "false");
    if (r->connack) {
        js_kv(f, "reason", probe_connack_text(r->mqtt_version, r->connack_rc), false);
        fputs("},", f);
    } else {
        fputs("\"connack\":null,", f);
    }
    js_kv(f, "client_id", r->client_id[0] ? r->client_id : NULL, false);
    fputs("},", f);

    fputs("\"findings\":[", f);
    int n = 0;
    for (int i = 0; i < r->n_findings; i++) {
        const probe_finding *x = &r->findings[i];
        fprintf(f, "%s{", n++ ? "," : "");
        js_kv(f, "topic", x->topic, true);
        fprintf(f, "\"problem\":%s,", x->problem ? "true" : "false");
        js_kv(f, "message", x->message, true);
        js_kv(f, "fix", x->fix, false);
        fputc('}', f);
    }
    fputs("],", f);
    fprintf(f, "\"ok\":%s}\n", verdict(r) ? "true" : "false");
}

/* ------------------------------------------------------------ main */

int certs_probe_main(int argc, char **argv)
{
    probe_opts o;
    bool help = false;
    int rc = parse_opts(argc, argv, &o, &help);
    if (help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (rc)
        return rc;
    /* A server that closes while we write must not kill us with SIGPIPE
     * (send uses MSG_NOSIGNAL; this covers anything else). */
    signal(SIGPIPE, SIG_IGN);

    probe_result r;
    probe_result_init(&r);
    char err[512];
    SSL_CTX *ctx = probe_tls_ctx(&o, &r, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "moat certs probe: %s\n", err);
        probe_result_free(&r);
        return 2;
    }
    probe_conn c = {.fd = -1};
    if (probe_connect(&o, &c, &r) == 0) {
        if (probe_tls_attach(ctx, &o, &c) != 0) {
            fprintf(stderr, "moat certs probe: out of memory\n");
            probe_close(&c);
            SSL_CTX_free(ctx);
            probe_result_free(&r);
            return 2;
        }
        probe_handshake(&c);
        probe_tls_collect(&c);
        /* With nothing to send, give a TLS 1.3 server a moment to refuse
         * the client certificate after the handshake. */
        if (r.hs_ok && o.app == PROBE_TLS_ONLY && r.cert_requested && !strcmp(r.version, "TLSv1.3"))
            probe_wait_alert(&c, 1000);
        if (r.hs_ok)
            probe_app_run(&o, &c);
        bool saw_tls = r.server_hello || (r.n_first >= 2 && r.first[0] >= 0x14 &&
                                          r.first[0] <= 0x18 && r.first[1] == 0x03);
        probe_close(&c);
        if (!r.hs_ok && !saw_tls && r.alert_in < 0)
            probe_plain_check(&o, &r);
    }
    probe_explain(&o, &r);
    if (o.json)
        print_json(stdout, &o, &r);
    else
        print_text(stdout, &o, &r);
    int status = verdict(&r) ? 0 : 1;
    probe_result_free(&r);
    SSL_CTX_free(ctx);
    return status;
}
