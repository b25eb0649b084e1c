/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of the redis and http backends: request templates (tmpl.h),
 * split into Redis arguments or HTTP parameters, placeholders expanded
 * inside one item, and parameters encoded as a form or JSON. */
#include <stdlib.h>
#include <string.h>

#include "auth/tmpl.h"
#include "test.h"

static const moat_auth_req alice = {
    .username = "alice smith",
    .client_id = "dev/1",
    .password = "p&w=\"1\"\n",
    .password_len = 8,
    .addr = "10.0.0.7",
};

static const moat_auth_req bare = {.client_id = "c", .addr = ""};

/* Expand t for rq; the items joined with '|' into out. */
static moat_tmpl_res joined(const moat_tmpl *t, const moat_auth_req *rq, bool strict, char *out,
                            size_t n)
{
    moat_buf b = MOAT_BUF_INIT;
    size_t off[MOAT_TMPL_MAX_ITEMS], len[MOAT_TMPL_MAX_ITEMS];
    moat_tmpl_res r = moat_tmpl_expand(t, rq, strict, &b, off, len);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; r == MOAT_TMPL_OK && i < t->n && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%.*s", i ? "|" : "", (int)len[i],
                              (const char *)b.data + off[i]);
    moat_buf_free(&b);
    return r;
}

static void test_redis_split(void)
{
    moat_tmpl t;
    char why[200], out[300];
    CHECK_EQ(moat_tmpl_parse("  HMGET   mqtt_user:%u password salt ", ' ', false, "ucaCd", &t, why,
                             sizeof why),
             MOAT_OK);
    CHECK_EQ(t.n, 4u);
    CHECK(t.v[0].name == NULL);
    CHECK_EQ(joined(&t, &alice, true, out, sizeof out), MOAT_TMPL_OK);
    /* the space in the username stays inside the one argument */
    CHECK_STR(out, "HMGET|mqtt_user:alice smith|password|salt");
    /* no username: the command cannot be made (the backend ignores the client) */
    CHECK_EQ(joined(&t, &bare, true, out, sizeof out), MOAT_TMPL_MISSING);
    CHECK_EQ(joined(&t, &bare, false, out, sizeof out), MOAT_TMPL_OK);
    CHECK_STR(out, "HMGET|mqtt_user:|password|salt");
    CHECK(moat_tmpl_uses(&t, 'u'));
    CHECK(!moat_tmpl_uses(&t, 'c'));
    moat_tmpl_free(&t);
}

static void test_placeholders(void)
{
    moat_tmpl t;
    char why[200], out[300];
    CHECK_EQ(moat_tmpl_parse("k:%c:%a 100%% %u%u", ' ', false, "ucaCd", &t, why, sizeof why),
             MOAT_OK);
    CHECK_EQ(joined(&t, &alice, true, out, sizeof out), MOAT_TMPL_OK);
    CHECK_STR(out, "k:dev/1:10.0.0.7|100%|alice smithalice smith");
    moat_tmpl_free(&t);
    /* no certificate: %C is missing */
    CHECK_EQ(moat_tmpl_parse("x:%C", ' ', false, "ucaCd", &t, why, sizeof why), MOAT_OK);
    CHECK_EQ(joined(&t, &alice, true, out, sizeof out), MOAT_TMPL_MISSING);
    moat_tmpl_free(&t);
    /* every value empty: still a buffer to point into */
    CHECK_EQ(moat_tmpl_parse("%u", ' ', false, "ucaCd", &t, why, sizeof why), MOAT_OK);
    moat_auth_req empty = {.username = "", .client_id = ""};
    moat_buf b = MOAT_BUF_INIT;
    size_t off[1], len[1];
    CHECK_EQ(moat_tmpl_expand(&t, &empty, true, &b, off, len), MOAT_TMPL_OK);
    CHECK(b.data != NULL && len[0] == 0);
    moat_buf_free(&b);
    moat_tmpl_free(&t);
    /* an empty address counts as none */
    CHECK_EQ(moat_tmpl_parse("%a", ' ', false, "ucaCd", &t, why, sizeof why), MOAT_OK);
    CHECK_EQ(joined(&t, &bare, true, out, sizeof out), MOAT_TMPL_MISSING);
    moat_tmpl_free(&t);
}

static void test_parse_errors(void)
{
    moat_tmpl t = {0};
    char why[200];
    CHECK_EQ(moat_tmpl_parse("GET k:%x", ' ', false, "ucaCd", &t, why, sizeof why), MOAT_EINVAL);
    CHECK(strstr(why, "unknown placeholder '%x'") && strstr(why, "%u %c %a %C %d"));
    CHECK_EQ(t.n, 0u);
    /* %P is for HTTP only */
    CHECK_EQ(moat_tmpl_parse("GET %P", ' ', false, "ucaCd", &t, why, sizeof why), MOAT_EINVAL);
    CHECK_EQ(moat_tmpl_parse("GET k%", ' ', false, "ucaCd", &t, why, sizeof why), MOAT_EINVAL);
    CHECK_EQ(moat_tmpl_parse("a=1,b", ',', true, "u", &t, why, sizeof why), MOAT_EINVAL);
    CHECK(strstr(why, "'b' is not name=value") != NULL);
    CHECK_EQ(moat_tmpl_parse("=1", ',', true, "u", &t, why, sizeof why), MOAT_EINVAL);
    CHECK_EQ(moat_tmpl_parse("%u=1", ',', true, "u", &t, why, sizeof why), MOAT_EINVAL);
    char many[200] = "";
    for (int i = 0; i <= MOAT_TMPL_MAX_ITEMS; i++)
        strcat(many, "a ");
    CHECK_EQ(moat_tmpl_parse(many, ' ', false, "u", &t, why, sizeof why), MOAT_EINVAL);
    CHECK_EQ(moat_tmpl_parse("", ' ', false, "u", &t, why, sizeof why), MOAT_OK);
    CHECK_EQ(t.n, 0u);
    moat_tmpl_free(&t);
}

static void encoded(const char *spec, moat_tmpl_enc enc, const moat_auth_req *rq, const char *want)
{
    moat_tmpl t;
    char why[200];
    moat_buf b = MOAT_BUF_INIT;
    CHECK_EQ(moat_tmpl_parse(spec, ',', true, "ucaCdP", &t, why, sizeof why), MOAT_OK);
    CHECK_EQ(moat_tmpl_encode(&t, rq, enc, &b), MOAT_TMPL_OK);
    CHECK_STR((const char *)b.data, want);
    CHECK_EQ(b.len, strlen(want));
    moat_buf_free(&b);
    moat_tmpl_free(&t);
}

static void test_form(void)
{
    encoded("clientid=%c, username=%u,password=%P", MOAT_TMPL_FORM, &alice,
            "clientid=dev%2F1&username=alice%20smith&password=p%26w%3D%221%22%0A");
    /* missing values are empty; fixed text passes encoded too */
    encoded("u=%u,cn=%C,k=a b~", MOAT_TMPL_FORM, &bare, "u=&cn=&k=a%20b~");
    /* a password with a NUL byte keeps it */
    moat_auth_req nul = {.client_id = "c", .password = "a\0b", .password_len = 3};
    encoded("p=%P", MOAT_TMPL_FORM, &nul, "p=a%00b");
}

static void test_json(void)
{
    encoded("clientid=%c,username=%u,password=%P", MOAT_TMPL_JSON, &alice,
            "{\"clientid\":\"dev/1\",\"username\":\"alice smith\","
            "\"password\":\"p&w=\\\"1\\\"\\u000A\"}");
    encoded("a\\b=%u", MOAT_TMPL_JSON, &bare, "{\"a\\\\b\":\"\"}");
    moat_auth_req nul = {.client_id = "c", .password = "a\0\xc3\xa9", .password_len = 4};
    encoded("p=%P", MOAT_TMPL_JSON, &nul, "{\"p\":\"a\\u0000\xc3\xa9\"}");
}

int main(void)
{
    TEST(test_redis_split);
    TEST(test_placeholders);
    TEST(test_parse_errors);
    TEST(test_form);
    TEST(test_json);
    return test_summary("auth_redis_http");
}
