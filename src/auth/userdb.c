/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in user store over LMDB: see userdb.h. A record is a small JSON
 * object {"hash": "$argon2id$...", "superuser": false}, so that a field can
 * be added later without a format version. */
#include "auth/userdb.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "store/lmdb_err.h"

/* Fixed, sparse: 64 MiB holds some hundred thousand entries. A fixed map
 * means no process ever has to follow another's resize. */
#define AUTH_MAP_SIZE ((size_t)64 << 20)
#define ENV_FLAGS (MDB_NOSUBDIR | MDB_NOTLS)

static const char *const db_names[] = {"users", "clients"};

struct moat_userdb {
    MDB_env *env;
    MDB_dbi dbi[2];
    char *path;
    int refs; /* under g_lock */
    moat_userdb *next;
};

/* The handles this process has open (see moat_userdb_open). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static moat_userdb *g_open;

/* The two codes the user store gives a meaning of its own. */
static moat_err map_rc(int rc)
{
    if (rc == MDB_KEYEXIST)
        return MOAT_EEXIST;
    return rc == MDB_MAP_FULL ? MOAT_ELIMIT : moat_lmdb_err(rc);
}

static void db_free(moat_userdb *db)
{
    if (db->env)
        mdb_env_close(db->env);
    free(db->path);
    free(db);
}

/* Open the environment and both databases (created when missing). */
static int db_setup(moat_userdb *db)
{
    int rc = mdb_env_create(&db->env);
    if (!rc)
        rc = mdb_env_set_mapsize(db->env, AUTH_MAP_SIZE);
    if (!rc)
        rc = mdb_env_set_maxdbs(db->env, 2);
    if (!rc)
        rc = mdb_env_open(db->env, db->path, ENV_FLAGS, 0600);
    if (rc)
        return rc;
    int dead = 0;
    mdb_reader_check(db->env, &dead); /* slots of crashed ctl processes */
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0)
        return rc;
    for (int i = 0; i < 2 && !rc; i++)
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &db->dbi[i]);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

moat_err moat_userdb_open(const char *data_dir, moat_userdb **out, char *err, size_t errlen)
{
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "node.data_dir %s: cannot create: %s", data_dir, strerror(errno));
        return MOAT_EIO;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, MOAT_UDB_FILE);
    pthread_mutex_lock(&g_lock);
    moat_userdb *db = g_open;
    while (db && strcmp(db->path, path))
        db = db->next;
    if (db) {
        db->refs++;
        pthread_mutex_unlock(&g_lock);
        *out = db;
        return MOAT_OK;
    }
    int rc = ENOMEM;
    db = calloc(1, sizeof *db);
    if (db && (db->path = strdup(path)) && (rc = db_setup(db)) == 0) {
        db->refs = 1;
        db->next = g_open;
        g_open = db;
        pthread_mutex_unlock(&g_lock);
        *out = db;
        return MOAT_OK;
    }
    pthread_mutex_unlock(&g_lock);
    snprintf(err, errlen, "%s: cannot open the user store: %s", path, mdb_strerror(rc));
    if (db)
        db_free(db);
    return rc == ENOMEM ? MOAT_ENOMEM : MOAT_ESTORE;
}

void moat_userdb_close(moat_userdb *db)
{
    if (!db)
        return;
    pthread_mutex_lock(&g_lock);
    bool last = --db->refs == 0;
    if (last) {
        moat_userdb **pp = &g_open;
        while (*pp != db)
            pp = &(*pp)->next;
        *pp = db->next;
    }
    pthread_mutex_unlock(&g_lock);
    if (last)
        db_free(db);
}

bool moat_udb_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n >= 1 && n <= MOAT_UDB_ID_MAX;
}

/* ---- records ---- */

static bool decode(const MDB_val *v, moat_udb_entry *out)
{
    cJSON *j = cJSON_ParseWithLength(v->mv_data, v->mv_size);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hash");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "superuser");
    bool ok = cJSON_IsString(h) && strlen(h->valuestring) < sizeof out->hash;
    if (ok) {
        memcpy(out->hash, h->valuestring, strlen(h->valuestring) + 1);
        out->superuser = cJSON_IsTrue(s);
    }
    cJSON_Delete(j);
    return ok;
}

/* The JSON text of e (malloc'd), or NULL. */
static char *encode(const moat_udb_entry *e)
{
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    if (j && cJSON_AddStringToObject(j, "hash", e->hash) &&
        cJSON_AddBoolToObject(j, "superuser", e->superuser))
        text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static MDB_val key_of(const char *id)
{
    return (MDB_val){strlen(id), (void *)id};
}

moat_err moat_userdb_get(moat_userdb *db, moat_udb_kind k, const char *id, moat_udb_entry *out)
{
    if (!moat_udb_id_valid(id))
        return MOAT_ENOTFOUND;
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return map_rc(rc);
    MDB_val key = key_of(id), val;
    rc = mdb_get(txn, db->dbi[k], &key, &val);
    moat_err e = rc ? map_rc(rc) : decode(&val, out) ? MOAT_OK : MOAT_ESTORE;
    mdb_txn_abort(txn);
    return e;
}

/* Write e under id: add (must be absent) or replace (must be present). */
static moat_err put(moat_userdb *db, moat_udb_kind k, const char *id, const moat_udb_entry *e,
                    bool add)
{
    char *text = encode(e);
    if (!text)
        return MOAT_ENOMEM;
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val key = key_of(id), val = {strlen(text), text};
        if (!add)
            rc = mdb_get(txn, db->dbi[k], &key, &(MDB_val){0});
        if (rc == 0)
            rc = mdb_put(txn, db->dbi[k], &key, &val, add ? MDB_NOOVERWRITE : 0);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    OPENSSL_clear_free(text, strlen(text));
    return map_rc(rc);
}

moat_err moat_userdb_add(moat_userdb *db, moat_udb_kind k, const char *id, const char *pw,
                         size_t pwlen, bool superuser)
{
    if (!moat_udb_id_valid(id) || !pw || !pwlen)
        return MOAT_EINVAL;
    moat_udb_entry e = {.superuser = superuser};
    if (moat_userdb_get(db, k, id, &e) == MOAT_OK)
        return MOAT_EEXIST; /* spare the hashing; put checks again */
    e.superuser = superuser;
    moat_err r = moat_hash_argon2id_new(pw, pwlen, e.hash, sizeof e.hash);
    if (r == MOAT_OK)
        r = put(db, k, id, &e, true);
    OPENSSL_cleanse(&e, sizeof e);
    return r;
}

moat_err moat_userdb_update(moat_userdb *db, moat_udb_kind k, const char *id, const char *pw,
                            size_t pwlen, int superuser)
{
    if (pw && !pwlen)
        return MOAT_EINVAL;
    moat_udb_entry e;
    moat_err r = moat_userdb_get(db, k, id, &e);
    if (r == MOAT_OK && pw)
        r = moat_hash_argon2id_new(pw, pwlen, e.hash, sizeof e.hash);
    if (r == MOAT_OK && superuser >= 0)
        e.superuser = superuser != 0;
    if (r == MOAT_OK)
        r = put(db, k, id, &e, false);
    OPENSSL_cleanse(&e, sizeof e);
    return r;
}

moat_err moat_userdb_del(moat_userdb *db, moat_udb_kind k, const char *id)
{
    if (!moat_udb_id_valid(id))
        return MOAT_ENOTFOUND;
    MDB_txn *txn;
    int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val key = key_of(id);
        rc = mdb_del(txn, db->dbi[k], &key, NULL);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    }
    return map_rc(rc);
}

moat_err moat_userdb_list(moat_userdb *db, moat_udb_kind k, moat_udb_cb cb, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return map_rc(rc);
    if ((rc = mdb_cursor_open(txn, db->dbi[k], &c)) == 0) {
        MDB_val key, val;
        char id[MOAT_UDB_ID_MAX + 1];
        moat_udb_entry e;
        for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
            if (key.mv_size > MOAT_UDB_ID_MAX || !decode(&val, &e))
                continue;
            memcpy(id, key.mv_data, key.mv_size);
            id[key.mv_size] = '\0';
            if (!cb(ctx, id, e.superuser))
                break;
        }
        OPENSSL_cleanse(&e, sizeof e);
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    mdb_txn_abort(txn);
    return map_rc(rc);
}
