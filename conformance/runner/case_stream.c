/* handoff-conform — cases: the control stream (sideband, offer, sideband,
 * ...): splits into reads, pipelining, several connections, EOF and
 * stalls at every point, descriptors where none belong. */
#include <sys/socket.h>
#include <unistd.h>

#include "cases.h"

static int accept_one(cf_ctx *ctx, cf_ho *h) {
  int rc = cf_run_accept(ctx, h);
  cf_ho_free(ctx, h);
  return rc;
}

static int sideband_split(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.nparts = 3;
  h.sb_parts[0] = 1;
  h.sb_parts[1] = 7;
  h.sb_parts[2] = 8;
  return accept_one(ctx, &h);
}

static int sideband_fd_late(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.nparts = 2;
  h.sb_parts[0] = 5;
  h.sb_parts[1] = 11;
  h.fd_part = 1;
  return accept_one(ctx, &h);
}

static int offer_bytewise(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  if (cf_has(ctx, CF_F_BACKEND_READY)) cf_ho_flag_ready(&h);
  h.offer_chunk = 1;
  h.chunk_pause_ms = 1;
  return accept_one(ctx, &h);
}

static int offer_header_split(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.offer_chunk = 3;
  h.chunk_pause_ms = 20;
  return accept_one(ctx, &h);
}

/* After one ACK with BACKEND_CAP_MULTI_OFFER, n handoffs written back to
 * back on the same connection before any ACK is read. */
static int pipelined_n(cf_ctx *ctx, int n, bool same_corr) {
  cf_ctl c = CF_CTL0;
  cf_ho first = CF_HO0, hs[8];
  cf_ho *ptr[8];
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  int rc = cf_ho_new(ctx, &first, CF_CONN_PAIR);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &first);
  if (rc == 0) rc = cf_expect_accept(ctx, &c, &first);
  if (rc == 0) rc = cf_require_multi(ctx, &c);
  int made = 0;
  for (int i = 0; i < n && rc == 0; i++, made++) {
    rc = cf_ho_new(ctx, &hs[i], CF_CONN_PAIR);
    if (cf_has(ctx, CF_F_BACKEND_READY)) cf_ho_flag_ready(&hs[i]); /* ready frames show which fd went where */
    if (same_corr && i > 0) hs[i].offer.corr = hs[i].offer.request_id = hs[0].offer.corr;
    ptr[i] = &hs[i];
  }
  if (rc == 0) cf_trace_note(ctx, "%d handoffs written back to back, no ACK read in between", n);
  for (int i = 0; i < n && rc == 0; i++) rc = cf_ho_send(ctx, &c, &hs[i]);
  if (rc == 0) rc = cf_read_acks(ctx, &c, ptr, n, CF_ACK_WAIT_MS + 500 * n);
  for (int i = 0; i < n && rc == 0; i++) rc = cf_verify_accepted(ctx, &hs[i]);
  for (int i = 0; i < made; i++) cf_ho_free(ctx, &hs[i]);
  cf_ho_free(ctx, &first);
  cf_ctl_close(ctx, &c);
  return rc;
}

static int pipelined(cf_ctx *ctx) { return pipelined_n(ctx, 4, false); }
static int dup_corr_in_flight(cf_ctx *ctx) { return pipelined_n(ctx, 2, true); }

static int many_controls(cf_ctx *ctx) {
  enum { N = 6 };
  cf_ctl c[N];
  cf_ho h[N];
  int rc = 0, opened = 0, made = 0;
  for (int i = 0; i < N && rc == 0; i++) {
    rc = cf_ctl_open(ctx, &c[i]);
    if (rc == 0) opened++;
    if (rc == 0) rc = cf_ho_new(ctx, &h[i], CF_CONN_PAIR);
    if (rc == 0) made++;
  }
  /* Every sideband first, then every offer: all in flight at once. */
  for (int i = 0; i < N && rc == 0; i++) rc = cf_ho_send_sideband(ctx, &c[i], &h[i]);
  for (int i = N - 1; i >= 0 && rc == 0; i--) rc = cf_ho_send_offer(ctx, &c[i], &h[i], 0);
  for (int i = 0; i < N && rc == 0; i++) rc = cf_expect_accept(ctx, &c[i], &h[i]);
  for (int i = 0; i < made; i++) cf_ho_free(ctx, &h[i]);
  for (int i = 0; i < opened; i++) cf_ctl_close(ctx, &c[i]);
  return rc;
}

static int offer_before_sideband(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, -1) != 0) return -1;
  /* The backend takes the offer's first 16 bytes as the sideband; byte 16
   * (the token's second byte) then is a framing byte other than 1. */
  h.offer.token[1] = 0x02;
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) rc = cf_ho_send_offer(ctx, &c, &h, 0);
  if (rc == 0) rc = cf_expect_violation(ctx, &c, NULL, CF_CLOSE_WAIT_MS, "XFER-22 FRAME-2 ERR-35");
  cf_ctl_close(ctx, &c);
  cf_ho_free(ctx, &h);
  return rc;
}

/* The runner ends the control stream (shutdown SHUT_WR) at a point. */
enum { AT_SIDEBAND, AT_AFTER_SIDEBAND, AT_OFFER };
static int eof_at(cf_ctx *ctx, int where, const char *reqs) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ho_probe(ctx, &h);
  if (where == AT_SIDEBAND) {
    h.nparts = 2;
    h.sb_parts[0] = 7;
    h.sb_parts[1] = 9;
  }
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0 && where == AT_SIDEBAND) {
    if (cf_conn_write(ctx, &h.conn, h.queued, h.queued_len) != 0) rc = cf_error(ctx, "client write");
    h.queued_written = true;
    h.sent = true;
    cf_hold(ctx, h.conn.s, "ERR-1", "descriptor of corr=%llu", (unsigned long long)h.offer.corr);
    if (rc == 0) rc = cf_ctl_sendmsg(ctx, &c, h.sideband, 7, h.fds, 1);
  } else if (rc == 0) {
    rc = cf_ho_send_sideband(ctx, &c, &h);
    if (rc == 0 && where == AT_OFFER) rc = cf_ho_send_offer(ctx, &c, &h, 12);
  }
  if (rc == 0) {
    cf_trace_note(ctx, "runner ends its side of ctl#%d (shutdown SHUT_WR)", c.id);
    shutdown(c.fd, SHUT_WR);
    rc = cf_expect_violation(ctx, &c, &h, CF_CLOSE_WAIT_MS, reqs);
  }
  cf_ctl_close(ctx, &c);
  cf_ho_free(ctx, &h);
  return rc;
}

static int eof_mid_sideband(cf_ctx *ctx) { return eof_at(ctx, AT_SIDEBAND, "ERR-34 XFER-9"); }
static int eof_after_sideband(cf_ctx *ctx) { return eof_at(ctx, AT_AFTER_SIDEBAND, "ERR-44 XFER-20"); }
static int eof_mid_offer(cf_ctx *ctx) { return eof_at(ctx, AT_OFFER, "ERR-35 FRAME-4 XFER-11"); }

/* The runner stops writing in the middle of a handoff and waits. */
static int stall_at(cf_ctx *ctx, int where) {
  long t = cf_const(ctx->o, CF_K_OFFER_TIMEOUT_MS);
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ho_probe(ctx, &h);
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0 && where == AT_SIDEBAND) {
    if (cf_conn_write(ctx, &h.conn, h.queued, h.queued_len) != 0) rc = cf_error(ctx, "client write");
    h.queued_written = true;
    h.sent = true;
    cf_hold(ctx, h.conn.s, "ERR-1", "descriptor of corr=%llu", (unsigned long long)h.offer.corr);
    if (rc == 0) rc = cf_ctl_sendmsg(ctx, &c, h.sideband, 8, h.fds, 1);
  } else if (rc == 0) {
    rc = cf_ho_send_sideband(ctx, &c, &h);
    if (rc == 0) rc = cf_ho_send_offer(ctx, &c, &h, 10);
  }
  uint64_t stalled = cf_now_ms();
  if (rc == 0) {
    cf_trace_note(ctx, "runner stalls ctl#%d mid-%s; OFFER_TIMEOUT is %ld ms", c.id,
                  where == AT_SIDEBAND ? "sideband" : "offer", t);
    /* Meanwhile everything else is served (ERR-4). */
    rc = cf_pipe_echo(ctx, 32, "ERR-4 XFER-19");
    if (rc == 0) rc = cf_probe_handoff(ctx, "ERR-4 XFER-19");
  }
  if (rc == 0) {
    uint64_t spent = cf_now_ms() - stalled;
    int wait = (int)t + 1000 - (int)spent;
    rc = cf_expect_violation(ctx, &c, &h, wait > 0 ? wait : 1, "BACKEND-10");
    if (rc != 0 && ctx->waited_out)
      cf_appendf(ctx->res->actual, sizeof ctx->res->actual, " (OFFER_TIMEOUT %ld ms + 1000 ms margin)", t);
  }
  cf_ctl_close(ctx, &c);
  cf_ho_free(ctx, &h);
  return rc;
}

static int stall_mid_sideband(cf_ctx *ctx) { return stall_at(ctx, AT_SIDEBAND); }
static int stall_mid_offer(cf_ctx *ctx) { return stall_at(ctx, AT_OFFER); }

static int idle_kept(cf_ctx *ctx) {
  long t = cf_const(ctx->o, CF_K_OFFER_TIMEOUT_MS);
  cf_ctl c = CF_CTL0;
  cf_ho a = CF_HO0, b = CF_HO0;
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  int rc = cf_ho_new(ctx, &a, CF_CONN_PAIR);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &a);
  if (rc == 0) rc = cf_expect_accept(ctx, &c, &a);
  if (rc == 0) rc = cf_require_multi(ctx, &c);
  if (rc == 0) {
    cf_trace_note(ctx, "ctl#%d idle for %ld ms (OFFER_TIMEOUT + 300 ms) between handoffs", c.id, t + 300);
    cf_sleep_ms((int)t + 300);
    if (!cf_ctl_is_open(ctx, &c))
      rc = cf_fail(ctx, "BACKEND-13", "a backend that declared BACKEND_CAP_MULTI_OFFER keeps the "
                   "control connection open while the broker may send offers",
                   "the SUT closed the idle control connection ctl#%d", c.id);
  }
  if (rc == 0) rc = cf_ho_new(ctx, &b, CF_CONN_PAIR);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &b);
  if (rc == 0) rc = cf_expect_accept(ctx, &c, &b);
  cf_ho_free(ctx, &a);
  cf_ho_free(ctx, &b);
  cf_ctl_close(ctx, &c);
  return rc;
}

static int fd_inside_offer(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  cf_conn stray = CF_CONN0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0 || cf_conn_open(ctx, &stray, CF_CONN_PAIR) != 0) return -1;
  cf_hold(ctx, stray.s, "ERR-1 XFER-22", "a descriptor sent with the offer frame's first byte");
  cf_buf f = {0};
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) rc = cf_ho_send_sideband(ctx, &c, &h);
  if (rc == 0 && cf_ho_frame(&h, &f) != 0) rc = cf_error(ctx, "out of memory");
  if (rc == 0) rc = cf_ctl_sendmsg(ctx, &c, f.p, 1, &stray.s, 1);
  bool gone = false;
  if (rc == 0) rc = cf_ctl_write(ctx, &c, f.p + 1, f.len - 1, 0, &gone) == 0 || gone ? 0 : -1;
  cf_buf_free(&f);
  cf_conn_close_s(ctx, &stray);
  /* Any reaction that leaks nothing: an ACK either way, or the connection
   * closed without one. */
  const uint8_t *fr;
  size_t len;
  int r = rc == 0 ? cf_ctl_read_frame(ctx, &c, CF_ACK_WAIT_MS, &fr, &len) : 0;
  if (r == CF_RD_FRAME) {
    cf_ho *hs[1] = {&h};
    rc = cf_read_acks(ctx, &c, hs, 1, 0);
    if (rc == 0) rc = h.ack.accepted ? cf_verify_accepted(ctx, &h) : cf_verify_refused(ctx, &h, NULL);
  } else if (r == CF_RD_EOF) {
    rc = cf_verify_dropped(ctx, &h, "ERR-1 XFER-20");
    if (rc == 0) rc = cf_probe_handoff(ctx, "ERR-4");
  } else if (rc == 0) {
    rc = cf_fail_wait(ctx, NULL, "an ACK, or the control connection closed", "neither within %d ms", CF_ACK_WAIT_MS);
  }
  cf_ctl_close(ctx, &c);
  cf_conn_close(ctx, &stray);
  cf_ho_free(ctx, &h);
  return rc;
}

static int broker_gone(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &h);
  cf_trace_note(ctx, "the broker closes the control connection before the ACK (its ACK write fails)");
  cf_ctl_close(ctx, &c);
  /* Legacy: the client would wait for a ready frame that never comes and
   * close; the descriptor must be released then (post-case check). */
  cf_sleep_ms(50);
  cf_conn_close(ctx, &h.conn);
  h.has_conn = false;
  if (rc == 0) rc = cf_probe_handoff(ctx, "ERR-3 ERR-4");
  return rc;
}

static const cf_case cases[] = {
    {.id = "backend.stream.sideband-split",
     .spec = "spec: XFER-29 XFER-22",
     .does = "the 16 sideband bytes in three sendmsg calls (1, 7, 8), the descriptor with the first",
     .expect = "accepted: the backend reads again until it has all 16",
     .run = sideband_split},
    {.id = "backend.stream.sideband-descriptor-late",
     .spec = "spec: XFER-29 XFER-28",
     .does = "5 sideband bytes without a descriptor, then 11 with it",
     .expect = "accepted: descriptors that arrive with any of the sideband's reads count",
     .run = sideband_fd_late},
    {.id = "backend.stream.offer-bytewise",
     .spec = "spec: FRAME-1 ERR-4 XFER-22",
     .does = "the offer frame written one byte at a time (1 ms apart, within a third of OFFER_TIMEOUT)",
     .expect = "accepted",
     .run = offer_bytewise},
    {.id = "backend.stream.offer-header-split",
     .spec = "spec: FRAME-1 ERR-4",
     .does = "the offer frame written in 3-byte pieces, 20 ms apart (the header across reads; "
             "pauses stop after a third of OFFER_TIMEOUT)",
     .expect = "accepted",
     .no_mutant = "a parser that cannot resume a header is also broken by offer-bytewise, which "
                  "kills its mutant first",
     .run = offer_header_split},
    {.id = "backend.stream.pipelined",
     .spec = "spec: XFER-1 XFER-22 FRAME-11 XFER-17 BACKEND-6 CAP-10",
     .needs = CF_F_MULTI_OFFER,
     .does = "after one ACK with BACKEND_CAP_MULTI_OFFER, 4 handoffs written back to back on the "
             "same connection",
     .expect = "4 ACKs in any order, each complete, each for its own offer; every connection served "
               "(flagged when backend-ready: each ready frame carries its own correlation id)",
     .run = pipelined},
    {.id = "backend.stream.duplicate-correlation-in-flight",
     .spec = "spec: XFER-17 XFER-1",
     .needs = CF_F_MULTI_OFFER,
     .does = "two pipelined offers with different tokens and the same correlation id",
     .expect = "one ACK each, echoing its own token; both served",
     .no_mutant = "matching offers to ACKs by correlation id inside the backend is not a defect any "
                  "mutant models; the case keeps backends from assuming unique ids",
     .run = dup_corr_in_flight},
    {.id = "backend.stream.many-controls",
     .spec = "spec: XFER-1",
     .does = "6 control connections, every sideband sent, then every offer (in reverse order)",
     .expect = "6 ACKs, all accepted, each connection served",
     .no_mutant = "a backend serving one control connection at a time fails other cases first",
     .run = many_controls},
    {.id = "backend.stream.offer-before-sideband",
     .spec = "spec: XFER-22 FRAME-2 ERR-35 BACKEND-4",
     .does = "an offer frame as the first bytes of a control connection (no sideband)",
     .expect = "its first 16 bytes are the sideband, the rest no frame: the connection is closed "
               "without an ACK",
     .run = offer_before_sideband},
    {.id = "backend.stream.eof-mid-sideband",
     .spec = "spec: ERR-34 XFER-9",
     .does = "7 sideband bytes with the descriptor, then EOF",
     .expect = "the descriptor and the control connection closed, no ACK",
     .run = eof_mid_sideband},
    {.id = "backend.stream.eof-after-sideband",
     .spec = "spec: ERR-44 XFER-20",
     .does = "a complete sideband with the descriptor, then EOF before the offer",
     .expect = "the descriptor and the control connection closed, no ACK",
     .run = eof_after_sideband},
    {.id = "backend.stream.eof-mid-offer",
     .spec = "spec: ERR-35 FRAME-4 XFER-11",
     .does = "sideband, descriptor and 12 bytes of the offer, then EOF",
     .expect = "TRUNCATED: the descriptor and the control connection closed, no ACK",
     .run = eof_mid_offer},
    {.id = "backend.stream.stall-mid-sideband",
     .spec = "spec: BACKEND-10 ERR-4",
     .does = "8 sideband bytes with the descriptor, then nothing (other routes used meanwhile)",
     .expect = "within OFFER_TIMEOUT: the descriptor and the control connection closed, no ACK; "
               "other connections served during the stall",
     .run = stall_mid_sideband},
    {.id = "backend.stream.stall-mid-offer",
     .spec = "spec: BACKEND-10 BACKEND-11 ERR-4",
     .does = "sideband, descriptor and 10 bytes of the offer, then nothing",
     .expect = "within OFFER_TIMEOUT: the descriptor and the control connection closed, no ACK",
     .run = stall_mid_offer},
    {.id = "backend.stream.idle-between-handoffs",
     .spec = "spec: BACKEND-13 BACKEND-10",
     .needs = CF_F_MULTI_OFFER,
     .does = "a handoff, then the control connection idle for OFFER_TIMEOUT + 300 ms, then another",
     .expect = "the connection stays open (OFFER_TIMEOUT runs only inside a handoff) and the second "
               "handoff is accepted",
     .run = idle_kept},
    {.id = "backend.stream.descriptor-inside-offer",
     .spec = "spec: ERR-1 ERR-4 XFER-22",
     .does = "a valid handoff whose offer frame's first byte carries a second descriptor",
     .expect = "any reaction that leaks nothing: an ACK, or the connection closed; the stray "
               "descriptor released",
     .run = fd_inside_offer},
    {.id = "backend.stream.broker-gone-before-ack",
     .spec = "spec: ERR-3 ERR-44 ERR-4",
     .does = "the broker closes the control connection right after the offer, before the ACK",
     .expect = "the SUT survives its failing ACK write, releases the connection once the client "
               "leaves, and keeps serving",
     .run = broker_gone},
};
CF_TABLE(cf_cases_stream, cases);
