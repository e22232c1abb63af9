/* handoff-conform — broker mode: coalesced attempts (see bcoal.h). */
#include "bcoal.h"

#include <errno.h>
#include <string.h>

#include "route.h"
#include "sock.h"
#include "trace.h"

/* The offer, or bytes for the client, whichever comes first: 1 offer, 2
 * the client got something, 0 neither within timeout_ms, -1 recorded. */
static int offer_or_reply(cf_ctx *ctx, cf_bf *f, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int r = cf_bk_next_offer(ctx, &f->off, 10);
    if (r < 0) return -1;
    if (r == 0) {
      f->offered = true;
      return 1;
    }
    if (cf_hc_wait_end(ctx, &f->hc, 0) != 0) return 2;
    if (cf_remaining(deadline) == 0) return 0;
  }
}

static int check_offer(cf_ctx *ctx, cf_bf *f) {
  const ho_offer *o = &f->off.offer;
  uint64_t want = HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY;
  if ((o->offer_flags & want) != want)
    return cf_fail(ctx, "READY-25 READY-26", "a coalesced offer (OFFER_FLAG_BACKEND_READY and "
                   "OFFER_FLAG_COALESCED_REPLY): the client and the connection's backend declared coalesced mode",
                   "corr=%llu: offer_flags 0x%llx, and the broker wrote nothing to the client",
                   (unsigned long long)o->correlation_id, (unsigned long long)o->offer_flags);
  cf_hc *hc = &f->hc;
  if (cf_hc_offered_reply(ctx, hc, o->reply_adopted, o->reply_adopted_len, 1) != 0) return -1;
  ho_negotiated adopted = hc->reply.negotiated;
  if (cf_hc_offered_reply(ctx, hc, o->reply_declined, o->reply_declined_len, 2) != 0) return -1;
  const ho_negotiated *declined = &hc->reply.negotiated;
  if (memcmp(adopted.handle_passed_token, o->token, 16) != 0 || adopted.connection_id != declined->connection_id ||
      strcmp(adopted.backend_pipe, declined->backend_pipe) != 0)
    return cf_fail(ctx, "READY-26", "reply_adopted carries the offer's token; both replies the same connection_id "
                   "and backend_pipe", "corr=%llu: token %s, connection ids %llu / %llu",
                   (unsigned long long)o->correlation_id,
                   memcmp(adopted.handle_passed_token, o->token, 16) ? "differs" : "equal",
                   (unsigned long long)adopted.connection_id, (unsigned long long)declined->connection_id);
  hc->reply.negotiated = adopted; /* what the client will read when adopted */
  uint64_t dl = f->off.env.deadline_unix_ms;
  if (dl == 0 || dl > hc->hello_wall_ms + 1550)
    return cf_fail(ctx, "READY-26 READY-10", "the ready deadline of a coalesced offer: the end of the Hello read "
                   "plus READY_BUDGET (at most 1500 ms)", "corr=%llu: deadline %lld ms after the Hello was written",
                   (unsigned long long)o->correlation_id, dl ? (long long)(dl - hc->hello_wall_ms) : 0LL);
  return 0;
}

int cf_bc_start(cf_ctx *ctx, cf_bf *f) {
  ho_hello h;
  cf_hello_init(ctx, &h, CF_CAPS_COALESCED);
  if (cf_hc_open(ctx, &f->hc) != 0 || cf_hc_hello(ctx, &f->hc, &h, CF_BF_EARLY) != 0) return -1;
  int r = offer_or_reply(ctx, f, 2000);
  if (r < 0) return -1;
  if (r == 0)
    return cf_fail_wait(ctx, "READY-26 BROKER-1", "a coalesced offer at the backend", "client#%d: nothing within 2000 ms",
                        f->hc.id);
  if (r == 2 || cf_hc_wait_end(ctx, &f->hc, 0) != 0) {
    int kind = cf_hc_unread(&f->hc) ? cf_hc_reply(ctx, &f->hc, 0) : -1;
    return cf_fail(ctx, "READY-26 READY-25", "the broker writes nothing to the client of a coalesced attempt (the "
                   "backend declared BACKEND_CAP_COALESCED_REPLY on the control connection)",
                   "client#%d received %s from the broker", f->hc.id,
                   kind == HO_REPLY_NEGOTIATED ? (f->hc.reply.negotiated.handle_passed_token_len ? "a Negotiated with a token"
                                                                                               : "a Negotiated without token")
                   : kind == HO_REPLY_REFUSED ? "a Refused"
                                              : "bytes or the end of its connection");
  }
  f->mode = CF_BF_COALESCED;
  if (check_offer(ctx, f) != 0 || cf_bf_check_unread(ctx, f) != 0) return -1;
  long pid;
  int fd;
  if (cf_sut_holds(ctx, f->off.dev, f->off.ino, 500, &pid, &fd))
    return cf_fail(ctx, "READY-27", "after the last byte of a coalesced offer the broker closes its copy of the "
                   "client connection at once", "500 ms after the offer (before any ACK) pid %ld still holds it as "
                   "fd %d", pid, fd);
  return 0;
}

int cf_bc_adopt(cf_ctx *ctx, cf_bf *f, uint64_t caps) {
  cf_boffer *o = &f->off;
  cf_hc *hc = &f->hc;
  uint8_t ready[128];
  size_t rlen = 0;
  if (cf_bf_ready_frame(ctx, o, ready, &rlen) != 0 || cf_bf_take_request(ctx, f) != 0) return -1;
  cf_buf w = {0};
  cf_buf_put(&w, o->offer.reply_adopted, o->offer.reply_adopted_len);
  cf_buf_put(&w, ready, rlen);
  cf_buf_put(&w, hc->early, hc->early_len);
  cf_trace_bytes(ctx, "runner (backend) -> client, one write: reply_adopted, ready, response", w.p, w.len);
  int rc = w.oom ? cf_error(ctx, "out of memory") : cf_sock_write(o->fd, w.p, w.len, 1000) == 0 ? 0
                                                        : cf_error(ctx, "write: %s", strerror(errno));
  cf_ack_spec a = {.accepted = true, .caps = caps};
  if (rc == 0) rc = cf_bk_ack(ctx, o, &a);
  if (rc == 0)
    rc = cf_bf_client_reads(ctx, hc, w.p, w.len, "READY-27 READY-26",
                            "the client reads exactly the backend's one write: nothing of the broker");
  cf_buf_free(&w);
  int e = rc == 0 ? cf_hc_wait_end(ctx, hc, 30) : 0;
  if (rc == 0 && e != 0)
    rc = cf_fail(ctx, "READY-27", "the broker neither writes on nor shuts down the connection of a coalesced attempt",
                 "client#%d: %s", hc->id, e == 2 ? "more bytes" : "the connection ended");
  if (rc == 0) rc = cf_bf_pass(ctx, hc->fd, o->fd, "client -> backend after coalesced adoption", "READY-27");
  if (rc == 0) rc = cf_bf_pass(ctx, o->fd, hc->fd, "backend -> client after coalesced adoption", "READY-27");
  if (rc == 0 && cf_bk_pipe_pending(ctx) > 0)
    rc = cf_fail(ctx, "FALLBACK-15", "a client served by handoff does not also reconnect", "a backend_pipe connection");
  return rc;
}

int cf_bc_decline(cf_ctx *ctx, cf_bf *f) {
  cf_boffer *o = &f->off;
  cf_hc *hc = &f->hc;
  const uint8_t *d = o->offer.reply_declined;
  size_t dn = o->offer.reply_declined_len;
  cf_trace_bytes(ctx, "runner (backend) -> client: reply_declined", d, dn);
  if (cf_sock_write(o->fd, d, dn, 1000) != 0) return cf_error(ctx, "write: %s", strerror(errno));
  cf_bk_drop_fd(ctx, o);
  cf_ack_spec a = {.accepted = false, .detail = "OVERLOADED", .caps = CF_BK_CAPS_ALL};
  if (cf_bk_ack(ctx, o, &a) != 0) return -1;
  if (cf_bf_client_reads(ctx, hc, d, dn, "READY-27", "the client reads exactly reply_declined, written by the backend") != 0)
    return -1;
  return cf_bf_fell_back(ctx, f, 1000, "READY-27 FALLBACK-3");
}
