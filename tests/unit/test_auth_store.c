/* SPDX-License-Identifier: Apache-2.0 */
/* argon2id (RFC 9106 and libargon2's reference vectors, hashes made by the
 * Debian argon2 command) and the built-in user store with its "store"
 * source. */
#include <argon2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/backend.h"
#include "auth/hash.h"
#include "auth/userdb.h"
#include "conf/conf.h"
#include "test.h"

/* RFC 9106 section 5.3: argon2id, t=3, m=32 KiB, p=4, with a secret and
 * associated data (which only libargon2's context API takes): checks the
 * library moat links against the specification. */
static void test_rfc9106(void)
{
    uint8_t pw[32], salt[16], secret[8], ad[12], out[32];
    memset(pw, 1, sizeof pw);
    memset(salt, 2, sizeof salt);
    memset(secret, 3, sizeof secret);
    memset(ad, 4, sizeof ad);
    static const uint8_t tag[32] = {0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c,
                                    0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53, 0xc9,
                                    0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e,
                                    0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59};
    argon2_context ctx = {.out = out,
                          .outlen = sizeof out,
                          .pwd = pw,
                          .pwdlen = sizeof pw,
                          .salt = salt,
                          .saltlen = sizeof salt,
                          .secret = secret,
                          .secretlen = sizeof secret,
                          .ad = ad,
                          .adlen = sizeof ad,
                          .t_cost = 3,
                          .m_cost = 32,
                          .lanes = 4,
                          .threads = 4,
                          .version = ARGON2_VERSION_13};
    CHECK_EQ(argon2id_ctx(&ctx), ARGON2_OK);
    CHECK_MEM(out, tag, sizeof tag);
}

static void test_argon2_verify(void)
{
    /* libargon2's own test vector (src/test.c) */
    const char *ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                      "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    CHECK(moat_hash_verify_argon2id(ref, "password", 8));
    CHECK(!moat_hash_verify_argon2id(ref, "Password", 8));
    CHECK(!moat_hash_verify_argon2id(ref, "password", 7));
    /* made with: printf password | argon2 somesalt -id -t 2 -k 19456 -p 1 -e */
    const char *cli = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$"
                      "PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E";
    moat_hash_params p = {.alg = MOAT_HASH_ARGON2ID};
    CHECK(moat_hash_verify(&p, "password", 8, cli));
    CHECK(!moat_hash_verify(&p, "passwore", 8, cli));
    /* UTF-8, 2 lanes: printf pässwörd | argon2 saltsaltsalt -id -t 3 -k 8192 -p 2 -e */
    const char *utf = "$argon2id$v=19$m=8192,t=3,p=2$c2FsdHNhbHRzYWx0$"
                      "WObjuLnr2P6XZJujl67M969FffJisnjC7x9K74A39Ok";
    CHECK(moat_hash_verify(&p, "p\xc3\xa4ssw\xc3\xb6rd", 10, utf));
    /* not argon2id, or parameters past the limits: refused without running */
    CHECK(!moat_hash_verify_argon2id("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                                     "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                                     "password", 8));
    CHECK(!moat_hash_verify_argon2id("$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$"
                                     "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                                     "password", 8));
    CHECK(!moat_hash_verify(&p, "password", 8, ""));
}

static void test_argon2_new(void)
{
    char a[MOAT_ARGON2_ENCODED_MAX], b[MOAT_ARGON2_ENCODED_MAX];
    CHECK_EQ(moat_hash_argon2id_new("s3cret", 6, a, sizeof a), MOAT_OK);
    CHECK_EQ(moat_hash_argon2id_new("s3cret", 6, b, sizeof b), MOAT_OK);
    CHECK(!strncmp(a, "$argon2id$v=19$m=19456,t=2,p=1$", 31));
    CHECK(strcmp(a, b) != 0); /* a fresh salt each time */
    CHECK(moat_hash_verify_argon2id(a, "s3cret", 6));
    CHECK(!moat_hash_verify_argon2id(a, "s3creT", 6));
    CHECK_EQ(moat_hash_argon2id_new("", 0, a, sizeof a), MOAT_EINVAL);
    CHECK_EQ(moat_hash_argon2id_new("x", 1, a, 20), MOAT_ELIMIT);
    /* a password with a NUL byte inside counts all its bytes */
    CHECK_EQ(moat_hash_argon2id_new("a\0b", 3, a, sizeof a), MOAT_OK);
    CHECK(moat_hash_verify_argon2id(a, "a\0b", 3));
    CHECK(!moat_hash_verify_argon2id(a, "a", 1));
}

static void test_parse(void)
{
    moat_hash_alg a;
    CHECK(moat_hash_alg_parse("argon2id", &a) && a == MOAT_HASH_ARGON2ID);
    moat_hash_params p;
    char why[300];
    CHECK(moat_hash_spec_parse("argon2id", &p, why, sizeof why) && p.alg == MOAT_HASH_ARGON2ID);
    CHECK(!moat_hash_spec_parse("salt,argon2id", &p, why, sizeof why));
}

static char g_dir[64];

static void test_userdb(void)
{
    char err[300];
    moat_userdb *db, *db2;
    CHECK_EQ(moat_userdb_open(g_dir, &db, err, sizeof err), MOAT_OK);
    CHECK_EQ(moat_userdb_open(g_dir, &db2, err, sizeof err), MOAT_OK);
    CHECK(db == db2); /* one environment per process */
    moat_userdb_close(db2);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, MOAT_UDB_FILE);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    moat_udb_entry e;
    CHECK_EQ(moat_userdb_get(db, MOAT_UDB_USER, "alice", &e), MOAT_ENOTFOUND);
    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_USER, "alice", "pw1", 3, false), MOAT_OK);
    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_USER, "alice", "pw2", 3, false), MOAT_EEXIST);
    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_USER, "bob", "", 0, false), MOAT_EINVAL);
    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_USER, "", "x", 1, false), MOAT_EINVAL);
    char long_id[MOAT_UDB_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_USER, long_id, "x", 1, false), MOAT_EINVAL);
    CHECK_EQ(moat_userdb_get(db, MOAT_UDB_USER, "alice", &e), MOAT_OK);
    CHECK(moat_hash_verify_argon2id(e.hash, "pw1", 3) && !e.superuser);
    /* users and clients are apart */
    CHECK_EQ(moat_userdb_get(db, MOAT_UDB_CLIENT, "alice", &e), MOAT_ENOTFOUND);

    CHECK_EQ(moat_userdb_update(db, MOAT_UDB_USER, "alice", NULL, 0, 1), MOAT_OK);
    CHECK_EQ(moat_userdb_get(db, MOAT_UDB_USER, "alice", &e), MOAT_OK);
    CHECK(e.superuser && moat_hash_verify_argon2id(e.hash, "pw1", 3));
    CHECK_EQ(moat_userdb_update(db, MOAT_UDB_USER, "alice", "pw2", 3, -1), MOAT_OK);
    CHECK_EQ(moat_userdb_get(db, MOAT_UDB_USER, "alice", &e), MOAT_OK);
    CHECK(e.superuser && moat_hash_verify_argon2id(e.hash, "pw2", 3));
    CHECK(!moat_hash_verify_argon2id(e.hash, "pw1", 3));
    CHECK_EQ(moat_userdb_update(db, MOAT_UDB_USER, "nobody", "x", 1, -1), MOAT_ENOTFOUND);

    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_USER, "bob", "b", 1, false), MOAT_OK);
    CHECK_EQ(moat_userdb_del(db, MOAT_UDB_USER, "bob"), MOAT_OK);
    CHECK_EQ(moat_userdb_del(db, MOAT_UDB_USER, "bob"), MOAT_ENOTFOUND);
    moat_userdb_close(db);
}

static bool count_one(void *ctx, const char *id, bool superuser)
{
    (void)id;
    (void)superuser;
    (*(int *)ctx)++;
    return true;
}

static void test_userdb_reopen(void)
{
    char err[300];
    moat_userdb *db;
    CHECK_EQ(moat_userdb_open(g_dir, &db, err, sizeof err), MOAT_OK);
    CHECK_EQ(moat_userdb_add(db, MOAT_UDB_CLIENT, "dev-1", "c1", 2, false), MOAT_OK);
    int users = 0, clients = 0;
    CHECK_EQ(moat_userdb_list(db, MOAT_UDB_USER, count_one, &users), MOAT_OK);
    CHECK_EQ(moat_userdb_list(db, MOAT_UDB_CLIENT, count_one, &clients), MOAT_OK);
    CHECK_EQ(users, 1); /* alice, kept across the close */
    CHECK_EQ(clients, 1);
    moat_userdb_close(db);
}

/* The "store" source as the chain drives it. */
static moat_auth_reply ask(void *self, const char *user, const char *cid, const char *pw)
{
    moat_auth_req rq = {.username = user,
                        .client_id = cid,
                        .password = pw,
                        .password_len = pw ? strlen(pw) : 0,
                        .addr = ""};
    moat_auth_reply r;
    memset(&r, 0, sizeof r);
    moat_backend_store.authenticate(self, &rq, 0, &r);
    return r;
}

static void test_source(void)
{
    static moat_conf c;
    moat_conf_defaults(&c);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", g_dir);
    c.auth_password_hash = MOAT_HASH_ARGON2ID;
    snprintf(c.auth_users[0].id, sizeof c.auth_users[0].id, "carol");
    snprintf(
        c.auth_users[0].password, sizeof c.auth_users[0].password, "%s",
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E");
    c.auth_users[0].superuser = true;
    CHECK(moat_backend_store.configured(&c));
    void *self = NULL;
    char err[300];
    CHECK_EQ(moat_backend_store.create(&c, &self, err, sizeof err), MOAT_OK);
    CHECK(moat_backend_store.knows(self, "alice", "x"));
    CHECK(moat_backend_store.knows(self, NULL, "dev-1"));
    CHECK(moat_backend_store.knows(self, "carol", "x"));
    CHECK(!moat_backend_store.knows(self, "nobody", "x"));
    CHECK(!moat_backend_store.knows(self, NULL, "x"));

    moat_auth_reply r = ask(self, "alice", "x", "pw2");
    CHECK(r.result == MOAT_AUTH_ALLOW && r.superuser);
    r = ask(self, "alice", "x", "pw1");
    CHECK(r.result == MOAT_AUTH_DENY && strstr(r.why, "wrong password"));
    r = ask(self, "alice", "x", NULL);
    CHECK(r.result == MOAT_AUTH_DENY);
    r = ask(self, "nobody", "x", "pw");
    CHECK(r.result == MOAT_AUTH_IGNORE);
    /* the client id is checked first: its password decides, not alice's */
    r = ask(self, "alice", "dev-1", "c1");
    CHECK(r.result == MOAT_AUTH_ALLOW && !r.superuser);
    r = ask(self, "alice", "dev-1", "pw2");
    CHECK(r.result == MOAT_AUTH_DENY);
    /* a configuration entry in argon2id */
    r = ask(self, "carol", "y", "password");
    CHECK(r.result == MOAT_AUTH_ALLOW && r.superuser);
    moat_backend_store.destroy(self);

    c.auth_store_enable = false;
    c.auth_password_hash = MOAT_HASH_SHA256;
    CHECK(!moat_backend_store.configured(&c));
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/moat-test-store-XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    TEST(test_rfc9106);
    TEST(test_argon2_verify);
    TEST(test_argon2_new);
    TEST(test_parse);
    TEST(test_userdb);
    TEST(test_userdb_reopen);
    TEST(test_source);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        return 1;
    return test_summary("auth_store");
}
