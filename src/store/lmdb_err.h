/* SPDX-License-Identifier: Apache-2.0 */
/* LMDB return codes as moat_err, for the modules that use LMDB directly
 * (store/store_lmdb.c, auth/userdb.c): MDB_NOTFOUND is MOAT_ENOTFOUND,
 * ENOMEM MOAT_ENOMEM, MDB_BAD_VALSIZE MOAT_EINVAL, anything else
 * MOAT_ESTORE. */
#ifndef MOAT_STORE_LMDB_ERR_H
#define MOAT_STORE_LMDB_ERR_H

#include "base/err.h"

moat_err moat_lmdb_err(int rc);

#endif
