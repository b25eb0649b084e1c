/* SPDX-License-Identifier: Apache-2.0 */
/* The SQL backends' pure parts (auth/sql.h): EMQX 4 templates turned into
 * parameterised queries, server addresses, rows turned into answers. */
#include <stdint.h>
#include <string.h>

#include "auth/acl.h"
#include "auth/sql.h"
#include "test.h"

/* Parse tmpl in style; expect text and the placeholder letters vars. */
static void parses(moat_sql_style style, const char *tmpl, const char *text, const char *vars)
{
    moat_sql_tmpl t;
    char why[300] = "";
    CHECK_EQ(moat_sql_tmpl_parse(tmpl, style, &t, why, sizeof why), MOAT_OK);
    if (!t.text)
        return;
    CHECK_STR(t.text, text);
    CHECK_STR(t.vars, vars);
    CHECK_EQ(t.n_params, strlen(vars));
    moat_sql_tmpl_free(&t);
}

/* Expect tmpl to be refused with a message holding part. */
static void refused(moat_sql_style style, const char *tmpl, const char *part)
{
    moat_sql_tmpl t;
    char why[300] = "";
    CHECK_EQ(moat_sql_tmpl_parse(tmpl, style, &t, why, sizeof why), MOAT_EINVAL);
    CHECK(strstr(why, part) != NULL);
}

static void test_emqx_defaults(void)
{
    parses(MOAT_SQL_DOLLAR, "select password from mqtt_user where username = '%u' limit 1",
           "select password from mqtt_user where username = $1 limit 1", "u");
    parses(MOAT_SQL_QMARK, "select password from mqtt_user where username = '%u' limit 1",
           "select password from mqtt_user where username = ? limit 1", "u");
    parses(MOAT_SQL_DOLLAR,
           "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where "
           "ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'",
           "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where "
           "ipaddr = $1 or username = $2 or username = '$all' or clientid = $3",
           "auc");
}

static void test_placements(void)
{
    /* bare placeholders, every letter, more than nine parameters */
    parses(MOAT_SQL_DOLLAR, "select %u,%c,%a,%C,%d,%u,%c,%a,%C,%d,%u",
           "select $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11", "ucaCducaCdu");
    parses(MOAT_SQL_QMARK, "select x where a=%u and b=\"%c\"", "select x where a=? and b=?", "uc");
    /* text that only looks like a placeholder stays */
    parses(MOAT_SQL_DOLLAR, "select 7 % 2, 'a%%b', 'x%', '100%'",
           "select 7 % 2, 'a%%b', 'x%', '100%'", "");
    parses(MOAT_SQL_DOLLAR, "select 'it''s', '%u' from t", "select 'it''s', $1 from t", "u");
    parses(MOAT_SQL_QMARK, "select 'it\\'s %x', '%u'", "select 'it\\'s %x', ?", "u");
    /* pgsql: "..." is a name; mysql: `...` is a name */
    parses(MOAT_SQL_DOLLAR, "select \"%u\" from t", "select \"%u\" from t", "");
    parses(MOAT_SQL_QMARK, "select `%u` from t", "select `%u` from t", "");
    /* comments are copied, placeholders in them ignored */
    parses(MOAT_SQL_DOLLAR, "select 1 -- don't '%u'\nwhere u = %u",
           "select 1 -- don't '%u'\nwhere u = $1", "u");
    parses(MOAT_SQL_QMARK, "select /* ? '%u */ 1 where u = '%u'",
           "select /* ? '%u */ 1 where u = ?", "u");
    parses(MOAT_SQL_DOLLAR, "", "", "");
}

static void test_refusals(void)
{
    refused(MOAT_SQL_DOLLAR, "select 1 where u = '%x'", "unknown placeholder %x");
    refused(MOAT_SQL_QMARK, "select 1 where u = %P", "unknown placeholder %P");
    refused(MOAT_SQL_DOLLAR, "select 1 where u = 'x-%u'", "inside the longer string");
    refused(MOAT_SQL_DOLLAR, "select 1 where u = '%u", "not closed");
    refused(MOAT_SQL_DOLLAR, "select \"x from t", "not closed");
    refused(MOAT_SQL_DOLLAR, "select 1 where u = $1", "parameter marker");
    refused(MOAT_SQL_QMARK, "select 1 where u = ?", "parameter marker");
    char many[400] = "select ";
    for (int i = 0; i < 33; i++)
        strcat(many, "%u,");
    refused(MOAT_SQL_DOLLAR, many, "too many");
}

static void test_values(void)
{
    moat_sql_tmpl t;
    char why[200];
    const char *vals[MOAT_SQL_MAX_PARAMS];
    size_t lens[MOAT_SQL_MAX_PARAMS];
    moat_auth_req rq = {.username = "o' or 1=1 --", .client_id = "c1", .addr = "10.0.0.1"};
    CHECK_EQ(
        moat_sql_tmpl_parse("select '%u', '%c', '%a', '%C'", MOAT_SQL_DOLLAR, &t, why, sizeof why),
        MOAT_OK);
    CHECK(!moat_sql_tmpl_values(&t, &rq, vals, lens)); /* no certificate */
    CHECK_STR(vals[0], "o' or 1=1 --");                /* a value, never SQL */
    CHECK_EQ(lens[0], strlen(rq.username));
    CHECK_STR(vals[1], "c1");
    CHECK_STR(vals[2], "10.0.0.1");
    CHECK(vals[3] == NULL);
    rq.cert_cn = "cn";
    CHECK(moat_sql_tmpl_values(&t, &rq, vals, lens));
    moat_sql_tmpl_free(&t);
}

static void test_server(void)
{
    char host[64], why[200];
    unsigned port;
    CHECK(
        moat_sql_server_parse("db.example:6432", 5432, host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "db.example");
    CHECK_EQ(port, 6432u);
    CHECK(moat_sql_server_parse("10.1.1.1", 3306, host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "10.1.1.1");
    CHECK_EQ(port, 3306u);
    CHECK(moat_sql_server_parse("[::1]:5433", 5432, host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "::1");
    CHECK_EQ(port, 5433u);
    CHECK(moat_sql_server_parse("::1", 5432, host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "::1");
    static const char *const bad[] = {"",      ":5432", "h:",     "h:0", "h:65536",
                                      "h:12x", "[::1",  "[::1]x", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK(!moat_sql_server_parse(bad[i], 5432, host, sizeof host, &port, why, sizeof why));
        CHECK(strstr(why, "host:port") != NULL);
    }
}

/* A one-row result with these columns. */
static moat_sql_result *row(size_t cols, const char *const *names, const char *const *vals)
{
    moat_sql_result *r = moat_sql_result_new(1, cols);
    for (size_t c = 0; c < cols; c++) {
        moat_sql_result_set(r, c, SIZE_MAX, names[c], strlen(names[c]));
        moat_sql_result_set(r, 0, c, vals[c], vals[c] ? strlen(vals[c]) : 0);
    }
    return r;
}

static moat_auth_result check(moat_sql_result *r, const char *spec, const char *pw)
{
    moat_hash_params hp;
    char why[200];
    CHECK(moat_hash_spec_parse(spec, &hp, why, sizeof why));
    moat_auth_req rq = {
        .username = "u", .client_id = "c", .password = pw, .password_len = pw ? strlen(pw) : 0};
    moat_auth_reply reply = {0};
    moat_sql_check_password(r, &hp, &rq, &reply);
    moat_sql_result_free(r);
    return reply.result;
}

static void test_password_rows(void)
{
    static const char *const one[] = {"password"};
    static const char *const two[] = {"salt", "password"};
    /* python3: hashlib.sha256(b'NaCl' + b'pw').hexdigest() */
    static const char *const salted[] = {
        "NaCl", "41879290e50f47bcc31bfe626a36e0cc0610d451a651277a140913097276e1f8"};
    static const char *const plain[] = {"pw"};
    static const char *const null[] = {NULL};
    CHECK_EQ(check(moat_sql_result_new(0, 1), "plain", "pw"), MOAT_AUTH_IGNORE);
    CHECK_EQ(check(row(1, one, plain), "plain", "pw"), MOAT_AUTH_ALLOW);
    CHECK_EQ(check(row(1, one, plain), "plain", "px"), MOAT_AUTH_DENY);
    CHECK_EQ(check(row(1, one, plain), "plain", NULL), MOAT_AUTH_DENY);
    CHECK_EQ(check(row(1, one, null), "plain", "pw"), MOAT_AUTH_DENY);
    /* the password column by name, the salt from its column */
    CHECK_EQ(check(row(2, two, salted), "salt,sha256", "pw"), MOAT_AUTH_ALLOW);
    CHECK_EQ(check(row(2, two, salted), "sha256,salt", "pw"), MOAT_AUTH_DENY);
}

static void test_truthy(void)
{
    static const char *const yes[] = {"1", "t", "TRUE", "yes", "on", "2", " 1", NULL};
    static const char *const no[] = {"0", "f", "false", "", "no", "0.0", NULL};
    for (int i = 0; yes[i]; i++)
        CHECK(moat_sql_truthy(yes[i]));
    for (int i = 0; no[i]; i++)
        CHECK(!moat_sql_truthy(no[i]));
    CHECK(!moat_sql_truthy(NULL));
}

static moat_err acl_row(moat_acl *a, const char *allow, const char *ip, const char *user,
                        const char *client, const char *access, const char *topic)
{
    const char *cols[6] = {allow, ip, user, client, access, topic};
    char why[200];
    return moat_sql_acl_row(a, cols, why, sizeof why);
}

static moat_acl_verdict ask(const moat_acl *a, const char *user, const char *client,
                            moat_acl_access acc, const char *topic)
{
    moat_auth_client cl = {.username = user, .client_id = client};
    return moat_acl_check(a, &cl, acc, topic, strlen(topic));
}

static void test_acl_rows(void)
{
    moat_acl *a = moat_acl_new();
    CHECK_EQ(acl_row(a, "0", NULL, "alice", NULL, "2", "secret/#"), MOAT_OK);
    CHECK_EQ(acl_row(a, "1", NULL, "alice", NULL, "3", "users/%u/#"), MOAT_OK);
    CHECK_EQ(acl_row(a, "1", NULL, NULL, "dev-1", "2", "devices/%c/up"), MOAT_OK);
    CHECK_EQ(acl_row(a, "0", NULL, "$all", "dev-1", "1", "eq #"), MOAT_OK);
    CHECK_EQ(acl_row(a, "1", "127.0.0.1", NULL, NULL, "1", "public/#"), MOAT_OK);
    /* bad rows: refused, nothing added */
    CHECK_EQ(acl_row(a, "maybe", NULL, NULL, NULL, "1", "x"), MOAT_EINVAL);
    CHECK_EQ(acl_row(a, "1", NULL, NULL, NULL, "4", "x"), MOAT_EINVAL);
    CHECK_EQ(acl_row(a, "1", NULL, NULL, NULL, "1", NULL), MOAT_EINVAL);
    CHECK_EQ(acl_row(a, "1", NULL, NULL, NULL, "1", "a/#/b"), MOAT_EINVAL);
    CHECK_EQ(acl_row(a, "1", "not-an-ip", NULL, NULL, "1", "x"), MOAT_EINVAL);
    CHECK_EQ(moat_acl_count(a), 5u);
    CHECK_EQ(ask(a, "alice", "c", MOAT_ACL_PUBLISH, "secret/x"), MOAT_ACL_DENY);
    CHECK_EQ(ask(a, "alice", "c", MOAT_ACL_SUBSCRIBE, "secret/x"), MOAT_ACL_NOMATCH);
    CHECK_EQ(ask(a, "alice", "c", MOAT_ACL_SUBSCRIBE, "users/alice/x"), MOAT_ACL_ALLOW);
    CHECK_EQ(ask(a, "bob", "c", MOAT_ACL_PUBLISH, "users/bob/x"), MOAT_ACL_NOMATCH);
    CHECK_EQ(ask(a, "bob", "dev-1", MOAT_ACL_PUBLISH, "devices/dev-1/up"), MOAT_ACL_ALLOW);
    CHECK_EQ(ask(a, "bob", "dev-2", MOAT_ACL_PUBLISH, "devices/dev-1/up"), MOAT_ACL_NOMATCH);
    /* '$all' is everyone; eq # is the filter # itself */
    CHECK_EQ(ask(a, "bob", "x", MOAT_ACL_SUBSCRIBE, "#"), MOAT_ACL_DENY);
    CHECK_EQ(ask(a, "bob", "x", MOAT_ACL_SUBSCRIBE, "a/b"), MOAT_ACL_NOMATCH);
    moat_acl_free(a);
}

static void test_conf_checks(void)
{
    char msg[300];
    CHECK(moat_sql_conf_check_server("", msg, sizeof msg));
    CHECK(!moat_sql_conf_check_server("h:x", msg, sizeof msg));
    CHECK(moat_sql_conf_check_hash("pbkdf2,sha256,1000,20", msg, sizeof msg));
    CHECK(!moat_sql_conf_check_hash("sha3", msg, sizeof msg));
    CHECK(moat_sql_conf_check_pgsql("select 1 where u = '%u'", msg, sizeof msg));
    CHECK(!moat_sql_conf_check_mysql("select 1 where u = ?", msg, sizeof msg));
}

int main(void)
{
    TEST(test_emqx_defaults);
    TEST(test_placements);
    TEST(test_refusals);
    TEST(test_values);
    TEST(test_server);
    TEST(test_password_rows);
    TEST(test_truthy);
    TEST(test_acl_rows);
    TEST(test_conf_checks);
    return test_summary("auth_sql");
}
