/* handoff-conform — client mode: one run of the client SUT against the
 * runner's broker and backend, and the verdict from observation only:
 *
 *   adopted    after the runner's ready frame (legacy: the client wrote
 *              nothing before it, READY-37) the request arrives once on the
 *              broker connection, is echoed, the client exits 0 and never
 *              reconnects (CLIENT-6);
 *   reconnect  the client connects to the Negotiated's backend_pipe and
 *              sends its request there, once; exits 0 (FALLBACK-4,
 *              FALLBACK-24, READY-21 (a) and (b));
 *   fails      the client exits non-zero without sending its request to
 *              any backend (again): Refused, a bad HelloReply, or a
 *              request whose outcome it cannot know (OUTCOME_UNKNOWN).
 * In every outcome: {message} is served at most once, and exactly once
 * when the client exits 0; nothing arrives after it on any route. */
#ifndef CF_CFLOW_H
#define CF_CFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "cbroker.h"

typedef struct cf_cf {
  cf_cconn k;        /* the client's broker connection */
  cf_cconn p;        /* its backend_pipe connection, if any */
  uint8_t token[16]; /* the token of the runner's Negotiated */
  uint64_t corr;     /* the correlation id of the (imaginary) offer */
  uint64_t neg_caps; /* server_capabilities of the runner's Negotiated */
  bool has_token;
} cf_cf;
#define CF_CF0 {.k = CF_CCONN0, .p = CF_CCONN0}

/* The client connects and sends its Hello (checked). 0 or -1. */
int cf_cf_begin(cf_ctx *ctx, cf_cf *f);
/* The capabilities of a Negotiated in the richest mode the client asked
 * for, without coalesced reply: HP (| BR) | ED, or ED alone. */
uint64_t cf_cf_caps(const cf_cf *f, bool token);
/* Write a Negotiated with (a fresh token and) caps; `out`: see cbroker.h. */
int cf_cf_negotiate(cf_ctx *ctx, cf_cf *f, bool token, uint64_t caps, cf_buf *out);
/* Has the client written its request on the broker connection (behind
 * the Hello, or after the Negotiated within wait_ms)? */
bool cf_cf_request_written(cf_ctx *ctx, cf_cf *f, int wait_ms);

/* The outcomes (see the top of this file). `wait_ms`: how long the client
 * may take to give up (its own timeouts). 0 or -1 (recorded). */
int cf_cf_adopted(cf_ctx *ctx, cf_cf *f, const char *reqs);
int cf_cf_reconnects(cf_ctx *ctx, cf_cf *f, int wait_ms, const char *reqs);
int cf_cf_fails(cf_ctx *ctx, cf_cf *f, int wait_ms, const char *reqs);
/* After the runner's broker spoiled a handoff (`byte_after`: it wrote a
 * byte after the Negotiated; `ended`: it closed, or wrote nothing): the
 * outcome READY-21 and FALLBACK-24 prescribe for what the client wrote. */
int cf_cf_after_failure(cf_ctx *ctx, cf_cf *f, bool byte_after, int wait_ms, const char *reqs);
/* The end of any outcome: the client exits (0 when ok) within wait_ms,
 * the request was served `served` times, nothing more arrives. */
int cf_cf_done(cf_ctx *ctx, cf_cf *f, bool ok, int served, int wait_ms, const char *reqs);
void cf_cf_end(cf_ctx *ctx, cf_cf *f);

/* The client's ready wait in the mode of the runner's Negotiated, + 1 s. */
int cf_cf_ready_wait(const cf_ctx *ctx, const cf_cf *f);

#endif
