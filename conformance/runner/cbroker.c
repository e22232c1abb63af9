/* handoff-conform — client mode: the runner as broker and backend. */
#include "cbroker.h"

int cf_cb_prepare(cf_ctx *ctx) { return cf_error(ctx, "client mode: not yet"); }
void cf_cb_finish(cf_ctx *ctx) { (void)ctx; }
