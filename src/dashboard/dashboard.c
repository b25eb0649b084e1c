/* SPDX-License-Identifier: Apache-2.0 */
/* The dashboard's life cycle: set up with the broker when it has a
 * dashboard listener. */
#include "dashboard/internal.h"

moat_err dashboard_init(moat_broker *b, char *err, size_t errlen)
{
    bool any = false;
    for (uint32_t i = 0; i < b->n_listeners; i++)
        any = any || b->listeners[i].is_http;
    if (!any)
        return MOAT_OK;
    return auth_init(b, &b->dash, err, errlen);
}

void dashboard_free(moat_broker *b)
{
    auth_free(b->dash);
    b->dash = NULL;
}
