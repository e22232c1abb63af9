/* handoff-conform — broker mode: one client's attempt through the SUT
 * broker, from the runner's client (hclient.h) to the runner's backend
 * (bkend.h), and the verdict on it from observation only:
 *
 *   start     Hello (with bytes right behind it in the same write), the
 *             Negotiated, and — when it carries a token — the offer at the
 *             runner's backend: same token (XFER-4), the flag of the mode
 *             the Negotiated announces (READY-7, CAP-5; never legacy after
 *             early data, FALLBACK-16), the bytes behind the Hello still
 *             unread in the descriptor's queue (FRAME-6, ERR-16);
 *   accepted  legacy: nothing on the client connection before the ACK, then
 *             the broker's ready frame (READY-2, READY-1); backend-ready:
 *             nothing from the broker at all after Negotiated (READY-8);
 *             the connection is then served by the runner's backend both
 *             ways, not shut down (FALLBACK-22), the broker's copy closed
 *             (BROKER-4) and backend_pipe unused (served once);
 *   failed    after a refused, bad, missing or late ACK or a lost control
 *             connection: no byte after Negotiated, the end of the client
 *             connection (FALLBACK-20), and backend_pipe serves the
 *             client's request (once);
 *   no token  the broker closes without reading the bytes behind the
 *             Hello (the client sees a reset: FALLBACK-3, ERR-16) and
 *             backend_pipe serves the client. */
#ifndef CF_BFLOW_H
#define CF_BFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "bkend.h"
#include "ctx.h"
#include "hclient.h"

enum { CF_BF_NONE = 0, CF_BF_LEGACY, CF_BF_READY, CF_BF_COALESCED };
enum { CF_CTL_ANY = 0, CF_CTL_CLOSED, CF_CTL_KEPT };

#define CF_BF_EARLY 48 /* bytes the runner's client writes behind its Hello */

typedef struct cf_bf {
  cf_hc hc;
  cf_boffer off;
  bool offered;
  int mode; /* CF_BF_*: what the attempt uses */
} cf_bf;
#define CF_BF0 {.hc = CF_HC0, .off = {.fd = -1}}

/* Connect, Hello with caps and `early` bytes behind it, the reply; with a
 * token, the offer and the cross-checks above. 0 or -1 (recorded). */
int cf_bf_start(cf_ctx *ctx, cf_bf *f, uint64_t caps, size_t early);
/* The same from a given Hello. */
int cf_bf_start_hello(cf_ctx *ctx, cf_bf *f, const ho_hello *h, size_t early);
/* Wait for the offer of an attempt whose Negotiated carried a token. */
int cf_bf_offer(cf_ctx *ctx, cf_bf *f, int timeout_ms);
/* The runner's backend adopts, declaring `caps` in its ACK. */
int cf_bf_accept(cf_ctx *ctx, cf_bf *f, uint64_t caps);
/* The runner's backend closes the descriptor and answers with `a` (NULL:
 * no ACK; close_ctl: it closes the control connection instead, else it
 * stalls past the ACK deadline); then the failure checks, `ctl` what must
 * become of the control connection (ACK-4, ACK-8, ACK-9). */
int cf_bf_fail(cf_ctx *ctx, cf_bf *f, const cf_ack_spec *a, bool close_ctl, int ctl, const char *reqs);
/* After the attempt failed: no byte, the end of the connection, the
 * fallback served once. */
int cf_bf_fell_back(cf_ctx *ctx, cf_bf *f, int wait_ms, const char *reqs);
/* A Negotiated without token: closed unread, then the fallback. */
int cf_bf_no_token(cf_ctx *ctx, cf_bf *f, const char *reqs);
void cf_bf_end(cf_ctx *ctx, cf_bf *f);

/* A whole handoff with `caps` in the Hello, accepted with `ack_caps`. */
int cf_bf_handoff(cf_ctx *ctx, uint64_t caps, uint64_t ack_caps, int want_mode);
/* The backend declares `ack_caps` on a control connection: one legacy
 * handoff accepted with them. *ctl (if not NULL) says which connection. */
int cf_bf_declare(cf_ctx *ctx, uint64_t ack_caps, cf_bctl **ctl);
/* The backend declares BACKEND_CAP_MULTI_OFFER on a connection (*ctl),
 * then n clients (n <= 8) whose offers must all come on it, unanswered. */
int cf_bf_in_flight(cf_ctx *ctx, cf_bf *f, int n, cf_bctl **ctl);
/* A and B move n bytes from one descriptor to the other (a relay of the
 * runner's client and backend): 0 or -1 recorded with reqs. */
int cf_bf_pass(cf_ctx *ctx, int from, int to, const char *what, const char *reqs);

/* Pieces of the flows, for the coalesced flows (bcoal.c): the bytes behind
 * the Hello still unread on the descriptor (FRAME-6); the client must read
 * exactly p[0..n) next; the ready frame of an offer; the runner's backend
 * reads the request that travelled with the descriptor. */
int cf_bf_check_unread(cf_ctx *ctx, cf_bf *f);
int cf_bf_client_reads(cf_ctx *ctx, cf_hc *hc, const uint8_t *p, size_t n, const char *reqs, const char *exp);
int cf_bf_ready_frame(cf_ctx *ctx, const cf_boffer *o, uint8_t *out, size_t *len);
int cf_bf_take_request(cf_ctx *ctx, cf_bf *f);

/* One failed attempt of kind k % 5 (refused with `detail`, wrong token,
 * malformed ACK, lost control connection, unknown correlation id) for a
 * client that must get a token; and a client (with caps) that must get
 * none after `after` failures (RATE_LIMITED). 0 or -1. */
int cf_bf_failed_attempt(cf_ctx *ctx, int k, const char *detail);
int cf_bf_limited(cf_ctx *ctx, uint64_t caps, int after);

/* Post-case probe (modes.h): a Hello without CAP_HANDLE_PASSING is
 * answered with a Negotiated and the fallback serves it. */
int cf_bf_probe(cf_ctx *ctx);

/* The ACK capabilities of a backend of this spec (+ BACKEND_CAP_*). */
#define CF_BK_CAPS_MULTI HO_BACKEND_CAP_MULTI_OFFER
#define CF_BK_CAPS_READY (HO_BACKEND_CAP_MULTI_OFFER | HO_BACKEND_CAP_BACKEND_READY)
#define CF_BK_CAPS_ALL (CF_BK_CAPS_READY | HO_BACKEND_CAP_COALESCED_REPLY)

#endif
