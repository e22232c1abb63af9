/* handoff-conform — broker mode: one attempt and its verdict (see bflow.h). */
#include "bflow.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "handoff/wire.h"
#include "route.h"
#include "sock.h"
#include "trace.h"

int cf_bf_start(cf_ctx *ctx, cf_bf *f, uint64_t caps, size_t early) {
  ho_hello h;
  cf_hello_init(ctx, &h, caps);
  return cf_bf_start_hello(ctx, f, &h, early);
}

int cf_bf_start_hello(cf_ctx *ctx, cf_bf *f, const ho_hello *h, size_t early) {
  if (cf_hc_open(ctx, &f->hc) != 0 || cf_hc_hello(ctx, &f->hc, h, early) != 0) return -1;
  if (cf_hc_negotiated(ctx, &f->hc, 2000) != 0) return -1;
  if (f->hc.reply.negotiated.handle_passed_token_len == 0) return 0;
  return cf_bf_offer(ctx, f, 2000);
}

/* FRAME-6: the bytes behind the Hello are still unread in the queue of the
 * descriptor (peeked, not consumed). */
int cf_bf_check_unread(cf_ctx *ctx, cf_bf *f) {
  uint8_t buf[sizeof f->hc.early + 64];
  ssize_t n = recv(f->off.fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) n = 0;
  size_t want = f->hc.early_len;
  if ((size_t)n == want && memcmp(buf, f->hc.early, want) == 0) return 0;
  return cf_fail(ctx, "FRAME-6 ERR-16 HELLO-2",
                 "the broker never reads past the Hello frame: the bytes the client wrote behind it arrive "
                 "with the descriptor, unread",
                 "corr=%llu: the descriptor's queue holds %zd bytes, the client wrote %zu behind its Hello%s",
                 (unsigned long long)f->off.offer.correlation_id, n, want,
                 (size_t)n == want ? " (other bytes)" : "");
}

int cf_bf_offer(cf_ctx *ctx, cf_bf *f, int timeout_ms) {
  int r = cf_bk_next_offer(ctx, &f->off, timeout_ms);
  if (r > 0)
    return cf_fail_wait(ctx, "TOKEN-2", "a Negotiated with a token is followed by the offer to the backend",
                        "client#%d: no offer at the runner's backend within %d ms", f->hc.id, timeout_ms);
  if (r < 0) return -1;
  f->offered = true;
  const ho_negotiated *n = &f->hc.reply.negotiated;
  const ho_offer *o = &f->off.offer;
  bool br_cap = (n->server_capabilities & HO_CAP_BACKEND_READY) != 0;
  bool br_flag = (o->offer_flags & HO_OFFER_FLAG_BACKEND_READY) != 0;
  f->mode = br_flag ? CF_BF_READY : CF_BF_LEGACY;
  if (memcmp(o->token, n->handle_passed_token, 16) != 0)
    return cf_fail(ctx, "TOKEN-2 TOKEN-6", "the offer carries the token of the client's Negotiated",
                   "corr=%llu: another token than client#%d's", (unsigned long long)o->correlation_id, f->hc.id);
  if (br_cap != br_flag)
    return cf_fail(ctx, "READY-7 CAP-5", "OFFER_FLAG_BACKEND_READY exactly when the Negotiated has CAP_BACKEND_READY",
                   "corr=%llu: flag %s, Negotiated capability %s", (unsigned long long)o->correlation_id,
                   br_flag ? "set" : "clear", br_cap ? "set" : "clear");
  if (o->offer_flags & HO_OFFER_FLAG_COALESCED_REPLY)
    return cf_fail(ctx, "READY-26", "the broker writes no Negotiated for a coalesced attempt",
                   "corr=%llu: a coalesced offer for a client the broker already answered", (unsigned long long)o->correlation_id);
  if ((f->hc.caps & HO_CAP_EARLY_DATA) && !br_flag)
    return cf_fail(ctx, "FALLBACK-16 READY-18", "no legacy handoff for a Hello with CAP_EARLY_DATA",
                   "corr=%llu: a legacy offer for a Hello with early data", (unsigned long long)o->correlation_id);
  return cf_bf_check_unread(ctx, f);
}

int cf_bf_client_reads(cf_ctx *ctx, cf_hc *hc, const uint8_t *p, size_t n, const char *reqs, const char *exp) {
  uint64_t deadline = cf_now_ms() + 1000;
  while (cf_hc_unread(hc) < n && !hc->eof && cf_remaining(deadline) > 0)
    (void)cf_sock_read(hc->fd, &hc->in, 0, cf_remaining(deadline), &hc->reset);
  size_t got = cf_hc_unread(hc);
  if (got >= n && memcmp(hc->in.p + hc->pos, p, n) == 0) {
    hc->pos += n;
    return 0;
  }
  cf_trace_bytes(ctx, "the client read instead", hc->in.p + hc->pos, got);
  return cf_fail(ctx, reqs, exp, "client#%d read %zu bytes%s", hc->id, got,
                 got >= n ? " that are not the backend's" : hc->eof ? " and then the end of the connection" : "");
}

int cf_bf_pass(cf_ctx *ctx, int from, int to, const char *what, const char *reqs) {
  uint8_t nonce[32];
  cf_nonce(ctx, nonce, sizeof nonce);
  cf_trace_bytes(ctx, what, nonce, sizeof nonce);
  cf_buf in = {0};
  bool reset = false;
  uint64_t deadline = cf_now_ms() + 1000;
  int rc = cf_sock_write(from, nonce, sizeof nonce, 1000);
  while (rc == 0 && in.len < sizeof nonce && cf_sock_read(to, &in, sizeof nonce - in.len, cf_remaining(deadline), &reset) >= 0 &&
         cf_remaining(deadline) > 0) {
  }
  if (rc == 0 && (in.len != sizeof nonce || memcmp(in.p, nonce, sizeof nonce) != 0))
    rc = cf_fail(ctx, reqs, "the handed-off connection carries bytes both ways between client and backend",
                 "%s: %zu of %zu bytes arrived", what, in.len, sizeof nonce);
  else if (rc != 0)
    rc = cf_fail(ctx, reqs, "the handed-off connection carries bytes both ways between client and backend",
                 "%s: write: %s", what, strerror(errno));
  cf_buf_free(&in);
  return rc;
}

int cf_bf_ready_frame(cf_ctx *ctx, const cf_boffer *o, uint8_t *out, size_t *len) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, o->offer.token, 16);
  m.ack.accepted = true;
  m.ack.correlation_id = o->offer.correlation_id;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_READY, &m, out, 128, len) != HO_OK)
    return cf_error(ctx, "encode ready");
  return 0;
}

/* The runner's backend takes the request that travelled with the descriptor. */
int cf_bf_take_request(cf_ctx *ctx, cf_bf *f) {
  uint8_t buf[sizeof f->hc.early];
  size_t n = f->hc.early_len;
  if (n > 0 && recv(f->off.fd, buf, n, MSG_DONTWAIT) != (ssize_t)n)
    return cf_error(ctx, "the runner's backend could not read the bytes it peeked");
  return 0;
}

/* Attempts the case expects to be handed off must have been. */
static int need_offer(cf_ctx *ctx, cf_bf *f) {
  if (f->offered) return 0;
  return cf_fail(ctx, "TOKEN-2 FALLBACK-2", "a handoff for a client that asked for one (nothing prevents it)",
                 "client#%d: a Negotiated without token", f->hc.id);
}

int cf_bf_accept(cf_ctx *ctx, cf_bf *f, uint64_t caps) {
  if (need_offer(ctx, f) != 0) return -1;
  cf_boffer *o = &f->off;
  cf_hc *hc = &f->hc;
  uint64_t corr = o->offer.correlation_id;
  cf_ack_spec a = {.accepted = true, .caps = caps};
  uint8_t ready[128];
  size_t rlen = 0;
  if (f->mode == CF_BF_LEGACY) {
    int e = cf_hc_wait_end(ctx, hc, 20);
    if (e != 0)
      return cf_fail(ctx, e == 2 ? "READY-2" : "XFER-7", "nothing on the client connection before the ACK",
                     "client#%d: %s before the runner's backend answered", hc->id,
                     e == 2 ? "the broker wrote bytes" : "the connection ended");
    if (cf_bf_take_request(ctx, f) != 0 || cf_bk_ack(ctx, o, &a) != 0) return -1;
    if (cf_hc_ready(ctx, hc, corr, 1500, "READY-2 ACK-15") != 0) return -1;
  } else {
    if (cf_bf_ready_frame(ctx, o, ready, &rlen) != 0) return -1;
    cf_trace_frame(ctx, "runner (backend) -> client: ready", ready, rlen, HO_FT_READY);
    if (cf_sock_write(o->fd, ready, rlen, 1000) != 0) return cf_error(ctx, "write ready: %s", strerror(errno));
    if (cf_bf_take_request(ctx, f) != 0 || cf_bk_ack(ctx, o, &a) != 0) return -1;
    if (cf_bf_client_reads(ctx, hc, ready, rlen, "READY-8", "in backend-ready mode the client reads the backend's ready frame "
                     "right after Negotiated: the broker writes nothing more") != 0)
      return -1;
  }
  /* The response to the request that travelled with the descriptor. */
  if (hc->early_len > 0) {
    if (cf_sock_write(o->fd, hc->early, hc->early_len, 1000) != 0) return cf_error(ctx, "write: %s", strerror(errno));
    if (cf_bf_client_reads(ctx, hc, hc->early, hc->early_len, f->mode == CF_BF_LEGACY ? "READY-2" : "READY-8",
                     "after the ready frame the client reads the backend's bytes, nothing of the broker") != 0)
      return -1;
  }
  int e = cf_hc_wait_end(ctx, hc, 30);
  if (e != 0)
    return cf_fail(ctx, f->mode == CF_BF_LEGACY ? "READY-2 XFER-7" : "READY-8 FALLBACK-22",
                   "after the handoff the broker neither writes on nor ends the client connection",
                   "client#%d: %s", hc->id, e == 2 ? "more bytes from the broker" : "the connection ended");
  if (cf_bf_pass(ctx, hc->fd, o->fd, "client -> backend on the adopted connection", "XFER-7 FALLBACK-22") != 0 ||
      cf_bf_pass(ctx, o->fd, hc->fd, "backend -> client on the adopted connection", "XFER-7 FALLBACK-22") != 0)
    return -1;
  long pid;
  int fd;
  if (cf_sut_holds(ctx, o->dev, o->ino, 1000, &pid, &fd))
    return cf_fail(ctx, "BROKER-4 XFER-7", "once the attempt completed the broker closes its copy of the client connection",
                   "1000 ms after corr=%llu completed, pid %ld still holds it as fd %d", (unsigned long long)corr, pid, fd);
  if (cf_bk_pipe_pending(ctx) > 0)
    return cf_fail(ctx, "FALLBACK-15", "a client served by handoff does not also reconnect",
                   "client#%d: a connection arrived on backend_pipe too", hc->id);
  return 0;
}

int cf_bf_fell_back(cf_ctx *ctx, cf_bf *f, int wait_ms, const char *reqs) {
  cf_hc *hc = &f->hc;
  char r2[96];
  snprintf(r2, sizeof r2, "%s FALLBACK-20", reqs);
  int e = cf_hc_wait_end(ctx, hc, wait_ms);
  if (e == 2)
    return cf_fail(ctx, r2, "after a failed attempt the broker writes nothing more on the client connection",
                   "client#%d: %zu more bytes after Negotiated (a ready frame?)", hc->id, cf_hc_unread(hc));
  if (e == 0)
    return cf_fail_wait(ctx, r2, "after a failed attempt the broker closes its copy of the client connection",
                        "client#%d: still open %d ms later", hc->id, wait_ms);
  if (cf_hc_fallback(ctx, hc, "FALLBACK-1 BROKER-6") != 0) return -1;
  long pid;
  int fd;
  if (f->offered && cf_sut_holds(ctx, f->off.dev, f->off.ino, 500, &pid, &fd))
    return cf_fail(ctx, "BROKER-4 FALLBACK-20", "the broker closes its copy of the client connection on every path",
                   "pid %ld still holds client#%d's connection as fd %d", pid, hc->id, fd);
  return 0;
}

int cf_bf_fail(cf_ctx *ctx, cf_bf *f, const cf_ack_spec *a, bool close_ctl, int ctl, const char *reqs) {
  if (need_offer(ctx, f) != 0) return -1;
  cf_boffer *o = &f->off;
  cf_bctl *c = o->ctl;
  cf_bk_drop_fd(ctx, o);
  int wait = 1000;
  if (a != NULL) {
    if (cf_bk_ack(ctx, o, a) != 0) return -1;
  } else if (close_ctl) {
    cf_bk_close_ctl(ctx, c);
  } else {
    wait += (int)cf_const(ctx->o, CF_K_ACK_TIMEOUT_MS);
    cf_trace_note(ctx, "runner (backend) does not answer corr=%llu", (unsigned long long)o->offer.correlation_id);
  }
  if (cf_bf_fell_back(ctx, f, wait, reqs) != 0) return -1;
  if (ctl == CF_CTL_CLOSED && !cf_bk_ctl_closed(ctx, c, 1000))
    return cf_fail_wait(ctx, "ACK-9 ACK-8", "after a protocol violation on a control connection the broker closes it",
                        "ctl#%d still open 1000 ms later", c->id);
  if (ctl == CF_CTL_KEPT && cf_bk_ctl_closed(ctx, c, 30))
    return cf_fail(ctx, "ACK-4 ACK-7", "the broker keeps the control connection open", "the SUT closed ctl#%d", c->id);
  return 0;
}

int cf_bf_no_token(cf_ctx *ctx, cf_bf *f, const char *reqs) {
  cf_hc *hc = &f->hc;
  int e = cf_hc_wait_end(ctx, hc, 1000);
  if (e != 1)
    return (e == 0 ? cf_fail_wait : cf_fail)(ctx, "FALLBACK-3", "after a Negotiated without token the broker closes the "
                                             "connection and writes nothing more",
                                             "client#%d: %s", hc->id, e == 0 ? "still open 1000 ms later" : "more bytes");
  if (hc->early_len > 0 && !hc->reset)
    return cf_fail(ctx, "FALLBACK-3 FRAME-6 ERR-16",
                   "the broker closes without reading the bytes behind the Hello (the client then sees a reset)",
                   "client#%d saw a clean EOF: the broker read the %zu bytes it wrote behind its Hello", hc->id,
                   hc->early_len);
  if (cf_bk_no_offer(ctx, 0, "TOKEN-2", "no offer for a client that got no token") != 0) return -1;
  return cf_hc_fallback(ctx, hc, reqs);
}

void cf_bf_end(cf_ctx *ctx, cf_bf *f) {
  cf_bk_drop_fd(ctx, &f->off);
  cf_hc_close(ctx, &f->hc);
}

int cf_bf_handoff(cf_ctx *ctx, uint64_t caps, uint64_t ack_caps, int want_mode) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, caps, CF_BF_EARLY);
  if (rc == 0) rc = need_offer(ctx, &f);
  if (rc == 0 && want_mode != CF_BF_NONE && f.mode != want_mode)
    rc = cf_fail(ctx, want_mode == CF_BF_READY ? "READY-36" : "READY-36 READY-7",
                 want_mode == CF_BF_READY ? "backend-ready mode (the client and the backend on this control "
                                            "connection declared it)"
                                          : "legacy mode",
                 "corr=%llu uses %s mode", (unsigned long long)f.off.offer.correlation_id,
                 f.mode == CF_BF_READY ? "backend-ready" : "legacy");
  if (rc == 0) rc = cf_bf_accept(ctx, &f, ack_caps);
  cf_bf_end(ctx, &f);
  return rc;
}

int cf_bf_declare(cf_ctx *ctx, uint64_t ack_caps, cf_bctl **ctl) {
  cf_bf f = CF_BF0;
  cf_trace_note(ctx, "the runner's backend declares backend_capabilities 0x%llx in a first handoff",
                (unsigned long long)ack_caps);
  int rc = cf_bf_start(ctx, &f, HO_CAP_HANDLE_PASSING, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_accept(ctx, &f, ack_caps);
  if (ctl != NULL) *ctl = f.off.ctl;
  cf_bf_end(ctx, &f);
  return rc;
}

int cf_bf_in_flight(cf_ctx *ctx, cf_bf *f, int n, cf_bctl **ctl) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_MULTI, ctl) != 0) return -1;
  int cid = (*ctl)->id, rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    rc = cf_bf_start(ctx, &f[i], HO_CAP_HANDLE_PASSING, CF_BF_EARLY);
    if (rc == 0 && (!f[i].offered || f[i].off.ctl->id != cid))
      rc = cf_fail(ctx, "XFER-37", "several offers in flight on the declared control connection",
                   "offer %d (with %d in flight) came on ctl#%d, not on ctl#%d", i + 1, i,
                   f[i].offered ? f[i].off.ctl->id : 0, cid);
  }
  return rc;
}

int cf_bf_probe(cf_ctx *ctx) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, 0, 0);
  if (rc == 0 && f.offered) rc = cf_fail(ctx, "TOKEN-2", "no token for a Hello without CAP_HANDLE_PASSING", "a token");
  if (rc == 0) rc = cf_bf_no_token(ctx, &f, "ERR-4");
  cf_bf_end(ctx, &f);
  return rc;
}

int cf_bf_failed_attempt(cf_ctx *ctx, int k, const char *detail) {
  static const int bugs[] = {CF_ACK_OK, CF_ACK_WRONG_TOKEN, CF_ACK_MALFORMED, -1, CF_ACK_CORR_ZERO};
  cf_bf f = CF_BF0;
  cf_ack_spec a = {.accepted = bugs[k % 5] != CF_ACK_OK, .detail = detail, .caps = CF_BK_CAPS_MULTI,
                   .bug = bugs[k % 5]};
  int rc = cf_bf_start(ctx, &f, HO_CAP_HANDLE_PASSING, CF_BF_EARLY);
  if (rc == 0 && !f.offered)
    rc = cf_fail(ctx, "FALLBACK-7", "a token while the backend's failures are below FAILED_ATTEMPTS",
                 "client#%d got no token after %d failed attempts", f.hc.id, k);
  if (rc == 0) rc = cf_bf_fail(ctx, &f, bugs[k % 5] < 0 ? NULL : &a, bugs[k % 5] < 0, CF_CTL_ANY, "FALLBACK-20");
  cf_bf_end(ctx, &f);
  return rc;
}

int cf_bf_limited(cf_ctx *ctx, uint64_t caps, int after) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, caps, CF_BF_EARLY);
  if (rc == 0 && f.offered)
    rc = cf_fail(ctx, "FALLBACK-7 FALLBACK-25", "after FAILED_ATTEMPTS failures within the window: no token "
                 "(RATE_LIMITED)", "client#%d got a token after %d failed attempts", f.hc.id, after);
  if (rc == 0) rc = cf_bf_no_token(ctx, &f, "FALLBACK-2");
  cf_bf_end(ctx, &f);
  return rc;
}
