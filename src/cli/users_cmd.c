/* SPDX-License-Identifier: Apache-2.0 */
/* moat ctl users|clients: see users_cmd.h. A password comes from
 * --password, else from the terminal (asked twice, not echoed), else as one
 * line of stdin; it is never printed, and wiped once hashed. */
#include "cli/users_cmd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "auth/userdb.h"
#include "conf/conf.h"

#define PW_MAX 1024

typedef struct cmd {
    moat_udb_kind kind;
    const char *noun;   /* "user", "client" */
    const char *sub;    /* add, passwd, del, list */
    const char *id;     /* NAME */
    const char *pw_arg; /* --password */
    int superuser;      /* -1 unset, 0 --no-superuser, 1 --superuser */
    bool json;
} cmd;

static int usage(void)
{
    fprintf(stderr,
            "usage: moat ctl users add NAME [--password P] [--superuser] [-c FILE]\n"
            "       moat ctl users passwd NAME [--password P] [--superuser|--no-superuser]\n"
            "       moat ctl users del NAME\n"
            "       moat ctl users list [--json]\n"
            "       moat ctl clients ... (the same, keyed by client id)\n"
            "Without --password the password is asked on the terminal, or read as one line\n"
            "from stdin when stdin is not a terminal.\n");
    return 2;
}

static bool parse(int argc, char **argv, cmd *c)
{
    if (argc < 2)
        return false;
    c->kind = !strcmp(argv[0], "clients") ? MOAT_UDB_CLIENT : MOAT_UDB_USER;
    c->noun = c->kind == MOAT_UDB_CLIENT ? "client" : "user";
    c->sub = argv[1];
    c->superuser = -1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--password") && i + 1 < argc)
            c->pw_arg = argv[++i];
        else if (!strcmp(argv[i], "--superuser"))
            c->superuser = 1;
        else if (!strcmp(argv[i], "--no-superuser"))
            c->superuser = 0;
        else if (!strcmp(argv[i], "--json"))
            c->json = true;
        else if (argv[i][0] != '-' && !c->id)
            c->id = argv[i];
        else
            return false;
    }
    bool list = !strcmp(c->sub, "list");
    bool known =
        list || !strcmp(c->sub, "add") || !strcmp(c->sub, "passwd") || !strcmp(c->sub, "del");
    return known && (list ? !c->id : c->id != NULL);
}

/* One line from f without its end of line into buf; false at EOF. */
static bool read_line(FILE *f, char *buf, size_t n)
{
    if (!fgets(buf, (int)n, f))
        return false;
    buf[strcspn(buf, "\r\n")] = '\0';
    return true;
}

/* Ask on the terminal with echo off. */
static bool ask_tty(const char *prompt, char *buf, size_t n)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return false;
    struct termios old, quiet;
    int fd = fileno(tty);
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    bool ok = read_line(tty, buf, n);
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    return ok;
}

/* The new password into buf: --password, the terminal (twice), or stdin. */
static bool get_password(const cmd *c, char *buf, size_t n)
{
    if (c->pw_arg) {
        snprintf(buf, n, "%s", c->pw_arg);
    } else if (isatty(STDIN_FILENO)) {
        char again[PW_MAX];
        bool ok = ask_tty("Password: ", buf, n) && ask_tty("Password again: ", again, sizeof again);
        bool same = ok && !strcmp(buf, again);
        OPENSSL_cleanse(again, sizeof again);
        if (!same) {
            fprintf(stderr, "moat ctl %ss %s: the passwords differ\n", c->noun, c->sub);
            return false;
        }
    } else if (!read_line(stdin, buf, n)) {
        buf[0] = '\0';
    }
    if (!buf[0]) {
        fprintf(stderr, "moat ctl %ss %s: empty password refused\n", c->noun, c->sub);
        return false;
    }
    return true;
}

typedef struct lister {
    cJSON *arr;
    const char *field;
} lister;

static bool list_one(void *ctx, const char *id, bool superuser)
{
    lister *l = ctx;
    if (!l->arr) {
        printf("%s%s\n", id, superuser ? " (superuser)" : "");
        return true;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, l->field, id);
    cJSON_AddBoolToObject(o, "is_superuser", superuser);
    cJSON_AddItemToArray(l->arr, o);
    return true;
}

static moat_err do_list(moat_userdb *db, const cmd *c)
{
    lister l = {c->json ? cJSON_CreateArray() : NULL,
                c->kind == MOAT_UDB_CLIENT ? "clientid" : "username"};
    moat_err e = moat_userdb_list(db, c->kind, list_one, &l);
    if (l.arr) {
        char *text = e ? NULL : cJSON_Print(l.arr);
        if (text)
            printf("%s\n", text);
        free(text);
        cJSON_Delete(l.arr);
    }
    return e;
}

static moat_err do_write(moat_userdb *db, const cmd *c)
{
    if (!strcmp(c->sub, "del"))
        return moat_userdb_del(db, c->kind, c->id);
    char pw[PW_MAX];
    if (!get_password(c, pw, sizeof pw))
        return MOAT_EINVAL;
    moat_err e = !strcmp(c->sub, "add")
                     ? moat_userdb_add(db, c->kind, c->id, pw, strlen(pw), c->superuser == 1)
                     : moat_userdb_update(db, c->kind, c->id, pw, strlen(pw), c->superuser);
    OPENSSL_cleanse(pw, sizeof pw);
    return e;
}

static const char *why(moat_err e, const cmd *c)
{
    switch (e) {
    case MOAT_ENOTFOUND:
        return c->kind == MOAT_UDB_CLIENT ? "no such client id in the store"
                                          : "no such user in the store";
    case MOAT_EEXIST:
        return "already in the store (moat ctl ... passwd changes a password)";
    case MOAT_ELIMIT:
        return "the store is full";
    default:
        return moat_strerror(e);
    }
}

int moat_ctl_users_main(const moat_conf *conf, int argc, char **argv)
{
    cmd c = {0};
    if (!parse(argc, argv, &c))
        return usage();
    if (c.id && !moat_udb_id_valid(c.id)) {
        fprintf(stderr, "moat ctl %ss %s: a %s name is 1 to %d bytes\n", c.noun, c.sub, c.noun,
                MOAT_UDB_ID_MAX);
        return 2;
    }
    char err[600];
    moat_userdb *db;
    if (moat_userdb_open(conf->data_dir, &db, err, sizeof err) != MOAT_OK) {
        fprintf(stderr, "moat ctl %ss %s: %s\n", c.noun, c.sub, err);
        return 1;
    }
    bool list = !strcmp(c.sub, "list");
    moat_err e = list ? do_list(db, &c) : do_write(db, &c);
    moat_userdb_close(db);
    if (e == MOAT_EINVAL)
        return 1; /* get_password said why */
    if (e) {
        fprintf(stderr, "moat ctl %ss %s %s: %s\n", c.noun, c.sub, c.id ? c.id : "", why(e, &c));
        return 1;
    }
    if (!list)
        printf("%s %s: %s (takes effect at the next CONNECT)\n", c.noun, c.id,
               !strcmp(c.sub, "add")   ? "added"
               : !strcmp(c.sub, "del") ? "deleted"
                                       : "changed");
    return 0;
}
