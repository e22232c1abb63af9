/* handoff-conform — client mode: the runner as the broker and the backend
 * of a client SUT (filled in below). */
#ifndef CF_CBROKER_H
#define CF_CBROKER_H

#include "ctx.h"

int cf_cb_prepare(cf_ctx *ctx);
void cf_cb_finish(cf_ctx *ctx);

#endif
