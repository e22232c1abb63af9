/* handoff-conform — the per-mode hooks around a case (see modes.h). */
#include "modes.h"

#include "bflow.h"
#include "bkend.h"
#include "cbroker.h"
#include "client.h"

static int backend_serves(cf_ctx *ctx) { return cf_pipe_echo(ctx, 32, "ERR-4"); }

static const cf_mode_ops ops[] = {
    [CF_MODE_BACKEND] = {NULL, backend_serves, NULL, false},
    [CF_MODE_BROKER] = {cf_bk_prepare, cf_bf_probe, cf_bk_finish, false},
    [CF_MODE_CLIENT] = {cf_cb_prepare, NULL, cf_cb_finish, true},
};

const cf_mode_ops *cf_mode_ops_get(int mode) {
  return mode >= CF_MODE_BACKEND && mode <= CF_MODE_CLIENT ? &ops[mode] : &ops[CF_MODE_BACKEND];
}
