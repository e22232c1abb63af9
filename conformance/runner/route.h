/* handoff-conform — one handoff as the adversarial broker performs it, and
 * the verdict on it from observation only:
 *
 *   accepted  the ACK is valid and accepted; the client's connection is
 *             served (a fresh nonce comes back through it) after a ready
 *             frame (written by the runner in legacy mode after checking
 *             that the backend wrote nothing first, READY-3; written by the
 *             backend before its ACK in backend-ready mode, READY-9);
 *   refused   the ACK is valid, refused with the expected error name; the
 *             backend had closed the descriptor when the ACK arrived
 *             (XFER-18), did not read the bytes the client had queued nor
 *             write any (BACKEND-3), the client sees EOF once the broker
 *             closes its copy, and the fallback route backend_pipe serves
 *             the client;
 *   violation no ACK: the backend closes the control connection and every
 *             descriptor of the handoff (XFER-11), touches nothing on the
 *             client connection, still serves backend_pipe and accepts the
 *             next handoff on a new control connection (ERR-4).
 * Never both routes: a refused or violated handoff whose connection is
 * served anyway fails. */
#ifndef CF_ROUTE_H
#define CF_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "ctl.h"
#include "ctx.h"
#include "pb.h"

#define CF_ACK_WAIT_MS 1500   /* ACK_DEADLINE (rc1): a broker gives up after it */
#define CF_CLOSE_WAIT_MS 1500 /* a violation must close the control connection */
#define CF_MAX_SB_FDS 253

typedef struct cf_ackinfo {
  bool accepted;
  char detail[260];
  uint64_t corr, caps;
  uint8_t token[16];
} cf_ackinfo;

typedef struct cf_ho {
  cf_offer offer;
  cf_conn conn;
  bool has_conn;
  int fds[CF_MAX_SB_FDS]; /* the sideband's descriptors (default: conn.s) */
  int nfds;
  uint8_t sideband[16];
  size_t sb_parts[16];    /* sideband split into sendmsg calls of these sizes */
  int nparts;             /* 0: one call of 16 bytes */
  int fd_part;            /* which part carries the descriptors */
  uint8_t queued[256];    /* the client wrote these before the descriptor passed */
  size_t queued_len;
  bool queued_written;    /* already in the connection (behind a Hello) */
  size_t offer_chunk;     /* write the offer in pieces of this size (0: whole) */
  int chunk_pause_ms;
  bool sent;
  uint64_t sideband_ms;   /* when the first sideband byte went (OFFER_TIMEOUT starts) */
  bool acked;
  cf_ackinfo ack;
} cf_ho;
#define CF_HO0 {.conn = {.c = -1, .s = -1}}

/* A new handoff: fresh token and correlation id, a client connection of
 * `kind` (CF_CONN_PAIR, CF_CONN_ACCEPTED) or none (-1), a canonical legacy
 * offer for the runner's service. Returns 0 or -1. */
int cf_ho_new(cf_ctx *ctx, cf_ho *h, int kind);
/* Make it a backend-ready offer: OFFER_FLAG_BACKEND_READY and a ready
 * deadline READY_BUDGET (1000 ms) from now (READY-10). */
void cf_ho_flag_ready(cf_ho *h);
/* The client queues a probe (a nonce) before the descriptor passes. */
void cf_ho_probe(cf_ctx *ctx, cf_ho *h);
void cf_ho_free(cf_ctx *ctx, cf_ho *h);

/* Send the queued client bytes, the sideband and the offer frame. */
int cf_ho_send(cf_ctx *ctx, cf_ctl *c, cf_ho *h);
int cf_ho_send_sideband(cf_ctx *ctx, cf_ctl *c, cf_ho *h);
/* The offer frame, or only its first `upto` bytes (0: all). */
int cf_ho_send_offer(cf_ctx *ctx, cf_ctl *c, cf_ho *h, size_t upto);
/* The encoded offer frame (caller frees). */
int cf_ho_frame(cf_ho *h, cf_buf *out);

/* Read the ACKs of the n handoffs (any order, matched by correlation id,
 * then token). Every ACK is checked: a valid RESPONSE frame (XFER-17),
 * token and correlation echo, error_detail an error name when refused
 * (XFER-18), empty when accepted, deadline_unix_ms 0 (ENV-9), capability
 * bits as declared (CAP-7, CAP-2). Returns 0 or -1 (recorded). */
int cf_read_acks(cf_ctx *ctx, cf_ctl *c, cf_ho **h, int n, int timeout_ms);

/* Route checks once the ACK of h is in (see the top of this file). */
int cf_verify_accepted(cf_ctx *ctx, cf_ho *h);
int cf_verify_refused(cf_ctx *ctx, cf_ho *h, const char *name);
/* After the SUT closed the control connection without an ACK for h. */
int cf_verify_dropped(cf_ctx *ctx, cf_ho *h, const char *reqs);

/* Read h's ACK, then the route checks. `name` NULL: any accepted ACK. */
int cf_expect_accept(cf_ctx *ctx, cf_ctl *c, cf_ho *h);
int cf_expect_refuse(cf_ctx *ctx, cf_ctl *c, cf_ho *h, const char *name);
/* No ACK: the control connection closes within timeout_ms; then the
 * route checks and a fresh handoff on a new control connection. */
int cf_expect_violation(cf_ctx *ctx, cf_ctl *c, cf_ho *h, int timeout_ms, const char *reqs);

/* One-shot forms on a fresh control connection (closed afterwards). A
 * client probe is queued for the refusal and violation forms. */
int cf_run_accept(cf_ctx *ctx, cf_ho *h);
int cf_run_refuse(cf_ctx *ctx, cf_ho *h, const char *name);
int cf_run_violation(cf_ctx *ctx, cf_ho *h, const char *reqs);
/* A canonical handoff of the kind this SUT declares (backend-ready or
 * legacy) on a new control connection, accepted and served. */
int cf_probe_handoff(cf_ctx *ctx, const char *reqs);

/* Gate of XFER-37: before a second offer on c, the SUT must have declared
 * BACKEND_CAP_MULTI_OFFER in an ACK on it. Returns 0 or -1 (recorded). */
int cf_require_multi(cf_ctx *ctx, cf_ctl *c);

/* Is (dev, ino) still held by the SUT? Waits up to wait_ms for it to go. */
bool cf_sut_holds(cf_ctx *ctx, dev_t dev, ino_t ino, int wait_ms, long *pid, int *fd);

#endif
