/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs/check.h"

static const char *const code_names[MOAT_CERT_CODE__COUNT] = {
    [MOAT_CERT_FILE_MISSING] = "file_missing",
    [MOAT_CERT_FILE_UNREADABLE] = "file_unreadable",
    [MOAT_CERT_FILE_EMPTY] = "file_empty",
    [MOAT_CERT_NOT_PEM] = "not_pem",
    [MOAT_CERT_PEM_CORRUPT] = "pem_corrupt",
    [MOAT_CERT_WRONG_CONTENT] = "wrong_content",
    [MOAT_CERT_KEY_MISMATCH] = "key_mismatch",
    [MOAT_CERT_KEY_ENCRYPTED] = "key_encrypted",
    [MOAT_CERT_KEY_BAD_PASSWORD] = "key_bad_password",
    [MOAT_CERT_KEY_PASSWORD_UNUSED] = "key_password_unused",
    [MOAT_CERT_KEY_EXTRA] = "key_extra",
    [MOAT_CERT_CA_FIRST] = "ca_first",
    [MOAT_CERT_CHAIN_ORDER] = "chain_order",
    [MOAT_CERT_CHAIN_UNRELATED] = "chain_unrelated",
    [MOAT_CERT_INTERMEDIATE_MISSING] = "intermediate_missing",
    [MOAT_CERT_CHAIN_COMPLETED] = "chain_completed",
    [MOAT_CERT_CHAIN_INVALID] = "chain_invalid",
    [MOAT_CERT_ROOT_INCLUDED] = "root_included",
    [MOAT_CERT_EXPIRED] = "expired",
    [MOAT_CERT_NOT_YET_VALID] = "not_yet_valid",
    [MOAT_CERT_EXPIRES_SOON] = "expires_soon",
    [MOAT_CERT_NO_SERVER_AUTH] = "no_server_auth",
    [MOAT_CERT_NO_SAN] = "no_san",
    [MOAT_CERT_WEAK_KEY] = "weak_key",
    [MOAT_CERT_UNUSUAL_CURVE] = "unusual_curve",
    [MOAT_CERT_SHA1] = "sha1_signature",
    [MOAT_CERT_LEAF_IS_CA] = "leaf_is_ca",
    [MOAT_CERT_DUPLICATE_KEY_TYPE] = "duplicate_key_type",
    [MOAT_CERT_CA_NOT_CA] = "ca_not_ca",
    [MOAT_CERT_CA_EXPIRED] = "ca_expired",
    [MOAT_CERT_CA_NO_ROOT] = "ca_no_root",
    [MOAT_CERT_DH_INVALID] = "dh_invalid",
    [MOAT_CERT_DH_WEAK] = "dh_weak",
    [MOAT_CERT_SETTING] = "setting",
    [MOAT_CERT_SETTING_WARNING] = "setting_warning",
    [MOAT_CERT_TLS_LIBRARY] = "tls_library",
    [MOAT_CERT_HOST_MISMATCH] = "host_mismatch",
    [MOAT_CERT_NO_CLIENT_AUTH] = "no_client_auth",
    [MOAT_CERT_KEY_USAGE] = "key_usage",
    [MOAT_CERT_NOT_V3] = "not_v3",
    [MOAT_CERT_DUPLICATE_CERT] = "duplicate_cert",
};

const char *moat_cert_code_name(moat_cert_code code)
{
    if ((unsigned)code >= MOAT_CERT_CODE__COUNT || !code_names[code])
        return "unknown";
    return code_names[code];
}

static void count(moat_cert_report *r, moat_cert_severity sev)
{
    if (sev == MOAT_CERT_ERROR)
        r->errors++;
    else
        r->warnings++;
}

static bool grow(moat_cert_report *r)
{
    if (r->n < r->cap)
        return true;
    size_t cap = r->cap ? r->cap * 2 : 8;
    moat_cert_finding *v = realloc(r->items, cap * sizeof *v);
    if (!v)
        return false;
    r->items = v;
    r->cap = cap;
    return true;
}

void moat_cert_report_add(moat_cert_report *r, moat_cert_severity sev, moat_cert_code code,
                          const char *file, const char *fix, const char *fmt, ...)
{
    count(r, sev);
    if (!grow(r)) {
        r->truncated = true;
        return;
    }
    moat_cert_finding *f = &r->items[r->n];
    memset(f, 0, sizeof *f);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&f->message, fmt, ap) < 0)
        f->message = NULL;
    va_end(ap);
    f->fix = strdup(fix ? fix : "");
    f->file = file ? strdup(file) : NULL;
    if (!f->message || !f->fix || (file && !f->file)) {
        free(f->message);
        free(f->fix);
        free(f->file);
        r->truncated = true;
        return;
    }
    f->severity = sev;
    f->code = code;
    r->n++;
}

const moat_cert_finding *moat_cert_report_find(const moat_cert_report *r, moat_cert_code code)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].code == code)
            return &r->items[i];
    return NULL;
}

void moat_cert_report_free(moat_cert_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].file);
        free(r->items[i].message);
        free(r->items[i].fix);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}
