/* handoff-conform — broker mode: coalesced attempts (spec 1.0.0-rc2,
 * ready.md §6). The runner's client sends a Hello with CAP_HANDLE_PASSING,
 * CAP_BACKEND_READY, CAP_EARLY_DATA and CAP_COALESCED_REPLY and its request
 * behind it; on a control connection where the runner's backend declared
 * BACKEND_CAP_COALESCED_REPLY the broker must write nothing to the client
 * (READY-26), pass both replies inside a flagged offer — reply_adopted with
 * the token, reply_declined without, the same connection_id and
 * backend_pipe, each one frame of at most REPLY_MAX — with the ready
 * deadline counted from the Hello, and close its copy of the client
 * connection right after the complete offer (READY-27). The runner's
 * backend then writes one of the replies itself. */
#ifndef CF_BCOAL_H
#define CF_BCOAL_H

#include "bflow.h"

#define CF_CAPS_COALESCED \
  (HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY)

/* Hello, the coalesced offer and its checks. 0 or -1 (recorded). */
int cf_bc_start(cf_ctx *ctx, cf_bf *f);
/* The runner's backend adopts: reply_adopted, ready and the response in one
 * write, then its ACK with `caps`; the client reads exactly that. */
int cf_bc_adopt(cf_ctx *ctx, cf_bf *f, uint64_t caps);
/* It refuses: reply_declined alone, the descriptor closed, a refusing ACK;
 * the client reads exactly reply_declined, then the end, and falls back. */
int cf_bc_decline(cf_ctx *ctx, cf_bf *f);

#endif
