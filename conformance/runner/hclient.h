/* handoff-conform — broker mode: the runner as a client of the SUT broker.
 * It connects to {client_endpoint}, writes a Hello (good or bad, with
 * bytes behind it in the same write when asked), reads the HelloReply and
 * what follows, and checks every reply:
 *   HELLO-2  RESPONSE on 0x0000, request_id 0; ENV-9 deadline 0;
 *   HELLO-9  Negotiated: protocol 1, backend_pipe = the runner's
 *            {backend_pipe} (BROKER-6), connection_id non-zero and unique,
 *            keepalive, token empty or 16 bytes;
 *   CAP-2..6, CAP-12  the server_capabilities bits;
 *   HELLO-8  Refused: protocol range 1..1, the expected code and reason,
 *            retry_after_ms only with ERROR_RATE_LIMITED. */
#ifndef CF_HCLIENT_H
#define CF_HCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "handoff/msg.h"
#include "pb.h"

typedef struct cf_hc {
  int fd, id;
  cf_buf in;  /* every byte read */
  size_t pos; /* bytes of `in` taken as frames */
  bool eof, reset;
  uint64_t caps;        /* client_capabilities of its Hello */
  uint64_t keepalive;   /* client_keepalive_secs of its Hello */
  uint8_t early[64];    /* the bytes written right behind the Hello */
  size_t early_len;
  uint64_t hello_wall_ms, reply_wall_ms;
  ho_hello_reply reply;
  bool have_reply;
  uint8_t reply_frame[4200]; /* the HelloReply frame as read */
  size_t reply_len;
} cf_hc;
#define CF_HC0 {.fd = -1}

/* Connect to the SUT's client endpoint (bounded). 0 or -1 (recorded). */
int cf_hc_open(cf_ctx *ctx, cf_hc *hc);
/* Close; the SUT's copy of the connection must go too (BROKER-4). */
void cf_hc_close(cf_ctx *ctx, cf_hc *hc);
/* Write bytes (traced). 0, or -1 when the connection is gone. */
int cf_hc_write(cf_ctx *ctx, cf_hc *hc, const void *p, size_t n);

/* A canonical Hello for the runner's service with `caps`. */
void cf_hello_init(cf_ctx *ctx, ho_hello *h, uint64_t caps);
/* The Hello frame of h; env NULL: REQUEST on 0x0000. 0 or -1. */
int cf_hello_frame(const ho_hello *h, const cf_frame *env, cf_buf *out);
/* Write Hello h and, when `early` > 0, that many nonce bytes behind it in
 * the same write. Keeps the runner below the declared hello_rate. */
int cf_hc_hello(cf_ctx *ctx, cf_hc *hc, const ho_hello *h, size_t early);
/* The same with raw frame bytes (a bad Hello). */
int cf_hc_raw_hello(cf_ctx *ctx, cf_hc *hc, const void *p, size_t n);

/* The next complete frame after hc->pos (CF_RD_* of ctl.h); *frame points
 * into hc->in until the next read. */
int cf_hc_frame(cf_ctx *ctx, cf_hc *hc, int timeout_ms, const uint8_t **frame, size_t *len);
/* Read and check the HelloReply (HELLO-2, then HELLO-9 or HELLO-8 basics).
 * Returns HO_REPLY_NEGOTIATED, HO_REPLY_REFUSED, or -1 (recorded). */
int cf_hc_reply(cf_ctx *ctx, cf_hc *hc, int timeout_ms);
/* A Negotiated (checked per HELLO-9, CAP-2..6, CAP-12). 0 or -1. */
int cf_hc_negotiated(cf_ctx *ctx, cf_hc *hc, int timeout_ms);
/* A Refused with `code` (and `reason` when not NULL), then the end of the
 * connection (HELLO-10). 0 or -1. */
int cf_hc_refused(cf_ctx *ctx, cf_hc *hc, uint32_t code, const char *reason, const char *reqs);
/* A reply that came inside a coalesced offer (which: 1 reply_adopted, 2
 * reply_declined): one frame of at most REPLY_MAX, a Negotiated passing
 * the checks above and READY-26's. Kept in hc as if the client read it. */
int cf_hc_offered_reply(cf_ctx *ctx, cf_hc *hc, const uint8_t *f, size_t len, int which);
/* Nothing more but the end of the connection within timeout_ms: 1 EOF or
 * reset (hc->reset), 0 still open, 2 bytes came (left unread). */
int cf_hc_wait_end(cf_ctx *ctx, cf_hc *hc, int timeout_ms);
/* The broker closes without any reply within timeout_ms (BROKER-2,
 * ERR-12, ERR-13). 0 or -1 recorded with reqs. */
int cf_hc_closed_silently(cf_ctx *ctx, cf_hc *hc, int timeout_ms, const char *reqs);
/* The next frame is the ready frame of (token of the Negotiated, corr):
 * READY-1. 0 or -1. */
int cf_hc_ready(cf_ctx *ctx, cf_hc *hc, uint64_t corr, int timeout_ms, const char *reqs);
/* Bytes read after hc->pos that are not yet taken. */
size_t cf_hc_unread(cf_hc *hc);
/* The fallback: connect to Negotiated.backend_pipe, send a fresh request,
 * the runner's backend_pipe echoes it, read it back. 0 or -1. */
int cf_hc_fallback(cf_ctx *ctx, cf_hc *hc, const char *reqs);

#endif
