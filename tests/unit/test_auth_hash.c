/* SPDX-License-Identifier: Apache-2.0 */
/* Password hashes against published test vectors (FIPS 180 "abc", RFC 1321,
 * RFC 6070 / RFC 7914 PBKDF2, the crypt_blowfish bcrypt vectors) and hashes
 * made by other tools (python3 hashlib, mosquitto_passwd 2.0.11). */
#include <string.h>

#include "auth/hash.h"
#include "test.h"

static void hex_is(moat_hash_params p, const char *pw, const char *want)
{
    char out[600];
    CHECK_EQ(moat_hash_hex(&p, pw, strlen(pw), out, sizeof out), MOAT_OK);
    CHECK_STR(out, want);
    CHECK(moat_hash_verify(&p, pw, strlen(pw), want));
    CHECK(!moat_hash_verify(&p, "wrong", 5, want));
}

static void test_digests(void)
{
    hex_is((moat_hash_params){.alg = MOAT_HASH_MD5}, "abc", "900150983cd24fb0d6963f7d28e17f72");
    hex_is((moat_hash_params){.alg = MOAT_HASH_SHA}, "abc",
           "a9993e364706816aba3e25717850c26c9cd0d89d");
    hex_is((moat_hash_params){.alg = MOAT_HASH_SHA256}, "abc",
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_is((moat_hash_params){.alg = MOAT_HASH_SHA512}, "abc",
           "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
           "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

/* Made with python3: hashlib.sha256(b'NaCl' + b'pw').hexdigest() etc. */
static void test_salted(void)
{
    hex_is(
        (moat_hash_params){.alg = MOAT_HASH_SHA256, .salt_pos = MOAT_SALT_PREFIX, .salt = "NaCl"},
        "pw", "41879290e50f47bcc31bfe626a36e0cc0610d451a651277a140913097276e1f8");
    hex_is((moat_hash_params){.alg = MOAT_HASH_MD5, .salt_pos = MOAT_SALT_SUFFIX, .salt = "NaCl"},
           "pw", "57e7421c47de489dd298d2f46fad0b78");
    hex_is((moat_hash_params){.alg = MOAT_HASH_SHA, .salt_pos = MOAT_SALT_SUFFIX, .salt = "NaCl"},
           "pw", "ef82f9de7c252ea7907fbcb360ff52ae80bdf476");
    hex_is(
        (moat_hash_params){.alg = MOAT_HASH_SHA512, .salt_pos = MOAT_SALT_PREFIX, .salt = "NaCl"},
        "pw",
        "7d5483b436bf9d66fb91011df97ed4a690e0a0bf2d1e28d7df2093244da1687f"
        "b4b2113af5cdece937202db64e778095b8041dad89fe5d960de267dcdfe687a6");
    /* hex compares ignore case */
    moat_hash_params p = {.alg = MOAT_HASH_MD5};
    CHECK(moat_hash_verify(&p, "abc", 3, "900150983CD24FB0D6963F7D28E17F72"));
    /* a stored value of another length never matches */
    CHECK(!moat_hash_verify(&p, "abc", 3, "900150983cd24fb0"));
    CHECK(!moat_hash_verify(&p, "abc", 3, ""));
}

static void test_pbkdf2(void)
{
    /* RFC 6070 */
    hex_is((moat_hash_params){.alg = MOAT_HASH_PBKDF2,
                              .mac = MOAT_HASH_SHA,
                              .salt = "salt",
                              .iterations = 1,
                              .dklen = 20},
           "password", "0c60c80f961f0e71f3a9b524af6012062fe037a6");
    hex_is((moat_hash_params){.alg = MOAT_HASH_PBKDF2,
                              .mac = MOAT_HASH_SHA,
                              .salt = "salt",
                              .iterations = 4096,
                              .dklen = 20},
           "password", "4b007901b765489abead49d926f721d065a429c1");
    /* RFC 7914 section 11 */
    hex_is((moat_hash_params){.alg = MOAT_HASH_PBKDF2,
                              .mac = MOAT_HASH_SHA256,
                              .salt = "salt",
                              .iterations = 1,
                              .dklen = 64},
           "passwd",
           "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
           "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    /* python3: hashlib.pbkdf2_hmac('sha512', b'pw', b'NaCl', 1000, 64); dklen 0 = digest size */
    hex_is(
        (moat_hash_params){
            .alg = MOAT_HASH_PBKDF2, .mac = MOAT_HASH_SHA512, .salt = "NaCl", .iterations = 1000},
        "pw",
        "daa4a47f945b473e7c19edf6d10e66a5f8e3b2524fbdcb344cfafaa299cecffa"
        "17bad49d5056f2d1033f3057594f450aa0baac91aac002bd90dca041b11550b6");
    char out[200];
    moat_hash_params bad = {.alg = MOAT_HASH_PBKDF2, .mac = MOAT_HASH_SHA256, .iterations = 0};
    CHECK_EQ(moat_hash_hex(&bad, "x", 1, out, sizeof out), MOAT_EINVAL);
}

static void test_bcrypt(void)
{
    /* crypt_blowfish's published vectors (wrapper.c tests) */
    moat_hash_params p = {.alg = MOAT_HASH_BCRYPT};
    const char *h = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    CHECK(moat_hash_verify(&p, "U*U", 3, h));
    CHECK(!moat_hash_verify(&p, "U*V", 3, h));
    CHECK(moat_hash_verify(&p, "", 0,
                           "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"));
    /* made with python3 bcrypt rules, $2b$ prefix: same vector */
    CHECK(moat_hash_verify(&p, "U*U", 3,
                           "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    CHECK(!moat_hash_verify(&p, "U*U", 3, "$1$not-bcrypt"));
    CHECK(!moat_hash_verify(&p, "U*U", 3, "$2b$05$short"));
}

static void test_plain(void)
{
    moat_hash_params p = {.alg = MOAT_HASH_PLAIN};
    CHECK(moat_hash_verify(&p, "secret", 6, "secret"));
    CHECK(!moat_hash_verify(&p, "secre", 5, "secret"));
    CHECK(!moat_hash_verify(&p, "", 0, ""));
}

static void test_mosquitto(void)
{
    /* mosquitto_passwd 2.0.11 (Debian 12): -c -b FILE alice secret */
    const char *h7 = "$7$101$9PE72E1j8T0+fRJY$93M+ELzdG3nC+3Cx4MLekXMUG0o3kTf5u9qOS9K1CsbM9u1+U+Xa"
                     "V8QOkOCMIkxOx57qTpATKGhdlqUUqnaMBw==";
    CHECK(moat_hash_verify_mosquitto(h7, "secret", 6));
    CHECK(!moat_hash_verify_mosquitto(h7, "Secret", 6));
    const char *b7 = "$7$101$y8tRQ7H0mEkiCf7I$qGdiEWMhnWAAVqI///K9v58ibUP/EgGdswuPU8pK0d6Mi91cEu88"
                     "QaMT4slQPzMb8V+U7U/dldX14bCK3DTbjA==";
    CHECK(moat_hash_verify_mosquitto(b7, "b0b pass", 8));
    /* $6$ (mosquitto_passwd before 2.0): python3 base64(salt) $ base64(sha512(pw + salt)) */
    const char *h6 = "$6$MDEyMzQ1Njc4OWFiY2RlZg==$veVOCoSwGP72Xht1aILusDwsSUHyefI11yC6xJHBHZsnVJg"
                     "6s2+oRchFr/YJLsRuAM0iTVMjwQpm2iqyxIn43A==";
    CHECK(moat_hash_verify_mosquitto(h6, "secret", 6));
    CHECK(!moat_hash_verify_mosquitto(h6, "secreT", 6));
    CHECK(!moat_hash_verify_mosquitto("$7$0$abc$def", "x", 1));
    CHECK(!moat_hash_verify_mosquitto("$7$101$", "x", 1));
    CHECK(!moat_hash_verify_mosquitto("$6$!!!$def", "x", 1));
    CHECK(!moat_hash_verify_mosquitto("plain", "plain", 5));
}

static void test_names(void)
{
    moat_hash_alg a;
    CHECK(moat_hash_alg_parse("sha256", &a) && a == MOAT_HASH_SHA256);
    CHECK(moat_hash_alg_parse("bcrypt", &a) && a == MOAT_HASH_BCRYPT);
    CHECK(!moat_hash_alg_parse("sha3", &a));
}

static void test_spec(void)
{
    moat_hash_params p;
    char why[300];
    CHECK(moat_hash_spec_parse("sha256", &p, why, sizeof why) && p.alg == MOAT_HASH_SHA256 &&
          p.salt_pos == MOAT_SALT_NONE);
    CHECK(moat_hash_spec_parse("salt,md5", &p, why, sizeof why) && p.alg == MOAT_HASH_MD5 &&
          p.salt_pos == MOAT_SALT_PREFIX);
    CHECK(moat_hash_spec_parse("sha512, salt", &p, why, sizeof why) && p.alg == MOAT_HASH_SHA512 &&
          p.salt_pos == MOAT_SALT_SUFFIX);
    CHECK(moat_hash_spec_parse("pbkdf2,sha256,1000,20", &p, why, sizeof why) &&
          p.alg == MOAT_HASH_PBKDF2 && p.mac == MOAT_HASH_SHA256 && p.iterations == 1000 &&
          p.dklen == 20);
    CHECK(moat_hash_spec_parse("bcrypt", &p, why, sizeof why) && p.alg == MOAT_HASH_BCRYPT);
    CHECK(!moat_hash_spec_parse("salt,bcrypt", &p, why, sizeof why));
    CHECK(!moat_hash_spec_parse("pbkdf2", &p, why, sizeof why));
    CHECK(!moat_hash_spec_parse("pbkdf2,sha256,0,20", &p, why, sizeof why));
    CHECK(strstr(why, "iterations") != NULL);
    CHECK(!moat_hash_spec_parse("sha3", &p, why, sizeof why));
    CHECK(strstr(why, "expected plain") != NULL);
    CHECK(!moat_hash_spec_parse("", &p, why, sizeof why));
    CHECK(!moat_hash_spec_parse("sha256,salt,x", &p, why, sizeof why));
    /* EMQX's salted sha256 of "public" with salt "salt": the stored form. */
    p = (moat_hash_params){.alg = MOAT_HASH_SHA256, .salt_pos = MOAT_SALT_PREFIX, .salt = "s"};
    char hex[129];
    CHECK(moat_hash_hex(&p, "pw", 2, hex, sizeof hex) == MOAT_OK &&
          moat_hash_verify(&p, "pw", 2, hex));
}

/* userPassword values made by python3 hashlib + base64, openssl passwd -6 /
 * -5, slappasswd -h {SSHA}; all for the password "secret". */
static void ldap_is(const char *stored)
{
    CHECK(moat_hash_verify_ldap(stored, strlen(stored), "secret", 6));
    CHECK(!moat_hash_verify_ldap(stored, strlen(stored), "secreT", 6));
    CHECK(!moat_hash_verify_ldap(stored, strlen(stored), "secret2", 7));
    CHECK(!moat_hash_verify_ldap(stored, strlen(stored), "", 0));
}

static void test_ldap_schemes(void)
{
    ldap_is("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=");
    ldap_is("{sha}5en6G6MezRroT3XKqkdPOmY/BfQ=");
    ldap_is("{SSHA}MQGvGIPnfO+S6qOMi9KMdkw7KgYBAgMEc2FsdHNhbHQ=");
    ldap_is("{SSHA}YhEzf7lpnkz79DnrVareG7Ikx2wiZsb7");
    ldap_is("{SSHA256}/qsHThpk0BQUbYbo1JFp0rGv/Lu000BcnRd+WHZaPD4BAgMEc2FsdHNhbHQ=");
    ldap_is("{SSHA512}F4V7hodW5DYOdxES9e/PkWCerZI0zW8sDVzOHQgWtncTO1c3QD5NvZz0dvK1fy9Zmvm/"
            "3QxxDQk44WHDwg0wEQECAwRzYWx0c2FsdA==");
    ldap_is("{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDu"
            "fKRpayrW/isg==");
    ldap_is("{SMD5}nFp3JhWE8aczc70GHuhQ/gECAwRzYWx0c2FsdA==");
    ldap_is("{PBKDF2-SHA256}1000$AQIDBHNhbHRzYWx0$GFTUkTx34GkpwztgXwKyqU65ZVi0tMsyA47W029GJ5w");
    ldap_is("{CRYPT}$6$NaClNaCl$Wl/GFo8NInTincm.oTKWbPUpzFJj4x2kWBIv7bO1zimY2MfdwHubT7YN/"
            "BHfp2NjgzGjo4p.6wh1QcegfT5Xn.");
    ldap_is("{CRYPT}$5$NaClNaCl$ewbXK1iQq7xngUyJlIjnlsoa0Av8dHofdNE68dt/Rz4");
    ldap_is("secret");
}

static void test_ldap_malformed(void)
{
    static const char *const bad[] = {
        "",
        "{SHA}",
        "{SHA}5en6G6MezRroT3XKqkdPOmY/", /* bytes short after decoding */
        "{SHA}!!!!",
        "{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",                /* salted, but no salt */
        "{SHA}MQGvGIPnfO+S6qOMi9KMdkw7KgYBAgMEc2FsdHNhbHQ=", /* unsalted with a salt */
        "{CRYPT}",
        "{CRYPT}*",
        "{CRYPT}!$6$NaClNaCl$Wl/GFo8NInTincm.oTKWbPUpzFJj4x2kWBIv7bO1zimY2MfdwHubT7YN/",
        "{PBKDF2-SHA256}0$AQIDBHNhbHRzYWx0$GFTUkTx34GkpwztgXwKyqU65ZVi0tMsyA47W029GJ5w",
        "{PBKDF2-SHA256}1000$GFTUkTx34GkpwztgXwKyqU65ZVi0tMsyA47W029GJ5w",
        "{UNKNOWN}secret",
        "{secret",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!moat_hash_verify_ldap(bad[i], strlen(bad[i]), "secret", 6));
    /* "{secret" has no closing brace: it is clear text */
    CHECK(moat_hash_verify_ldap("{secret", 7, "{secret", 7));
    /* the stored value is a length, not a C string */
    CHECK(moat_hash_verify_ldap("secretXYZ", 6, "secret", 6));
}

int main(void)
{
    TEST(test_spec);
    TEST(test_digests);
    TEST(test_salted);
    TEST(test_pbkdf2);
    TEST(test_bcrypt);
    TEST(test_plain);
    TEST(test_mosquitto);
    TEST(test_names);
    TEST(test_ldap_schemes);
    TEST(test_ldap_malformed);
    return test_summary("auth_hash");
}
