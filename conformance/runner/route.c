/* handoff-conform — one handoff and the verdict on its routes (see
 * route.h). */
#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff/msg.h"
#include "handoff/wire.h"
#include "procfs.h"
#include "sut.h"
#include "trace.h"

int cf_ho_new(cf_ctx *ctx, cf_ho *h, int kind) {
  memset(h, 0, sizeof *h);
  h->conn.c = h->conn.s = -1;
  uint8_t token[16];
  cf_random(token, sizeof token);
  cf_note_token(ctx, token);
  memcpy(h->sideband, token, 16);
  cf_offer_init(&h->offer, token, ctx->o->service, ctx->next_corr++);
  if (kind >= 0) {
    if (cf_conn_open(ctx, &h->conn, kind) != 0) return -1;
    h->has_conn = true;
    h->fds[0] = h->conn.s;
    h->nfds = 1;
  }
  return 0;
}

void cf_ho_flag_ready(cf_ho *h) {
  h->offer.flags |= HO_OFFER_FLAG_BACKEND_READY;
  h->offer.deadline = cf_wall_ms() + 1000; /* READY_BUDGET (READY-10) */
}

void cf_ho_probe(cf_ctx *ctx, cf_ho *h) {
  if (!h->has_conn || h->queued_len > 0) return;
  h->queued_len = 48;
  cf_nonce(ctx, h->queued, h->queued_len);
}

void cf_ho_free(cf_ctx *ctx, cf_ho *h) {
  if (h->has_conn) cf_conn_close(ctx, &h->conn);
  h->has_conn = false;
}

int cf_ho_frame(cf_ho *h, cf_buf *out) { return cf_offer_frame(&h->offer, out); }

static void hold_fds(cf_ctx *ctx, cf_ho *h) {
  for (int i = 0; i < h->nfds; i++) {
    bool dup = false;
    for (int j = 0; j < i; j++) dup |= h->fds[j] == h->fds[i];
    if (dup) continue;
    int slot = cf_hold(ctx, h->fds[i], "ERR-1", "descriptor #%d of handoff corr=%llu", i + 1,
                       (unsigned long long)h->offer.corr);
    (void)slot;
  }
}

int cf_ho_send_sideband(cf_ctx *ctx, cf_ctl *c, cf_ho *h) {
  if (h->has_conn && h->queued_len > 0 && !h->sent && !h->queued_written) {
    if (cf_conn_write(ctx, &h->conn, h->queued, h->queued_len) != 0)
      return cf_error(ctx, "could not queue client bytes");
  }
  h->sent = true;
  h->sideband_ms = cf_now_ms();
  hold_fds(ctx, h);
  size_t parts[16];
  int np = h->nparts;
  if (np == 0) {
    parts[0] = 16;
    np = 1;
  } else {
    memcpy(parts, h->sb_parts, sizeof parts);
  }
  size_t off = 0;
  for (int i = 0; i < np; i++) {
    bool fds = i == h->fd_part;
    int rc = cf_ctl_sendmsg(ctx, c, h->sideband + off, parts[i], fds ? h->fds : NULL, fds ? h->nfds : 0);
    if (rc != 0) return rc;
    off += parts[i];
    if (np > 1) cf_sleep_ms(5); /* separate reads on the SUT's side */
  }
  c->inflight++;
  return 0;
}

int cf_ho_send_offer(cf_ctx *ctx, cf_ctl *c, cf_ho *h, size_t upto) {
  cf_buf f = {0};
  if (cf_ho_frame(h, &f) != 0) return cf_error(ctx, "out of memory");
  size_t n = upto && upto < f.len ? upto : f.len;
  int rc = 0;
  bool gone = false;
  if (h->offer_chunk == 0) {
    rc = cf_ctl_write(ctx, c, f.p, n, n == f.len ? HO_FT_OFFER : 0, &gone);
  } else {
    cf_trace_frame(ctx, "runner -> SUT (offer to be written in pieces)", f.p, f.len, HO_FT_OFFER);
    /* The whole offer must arrive well within OFFER_TIMEOUT (BACKEND-10
     * lets the backend give up after it): pauses stop after a third of it. */
    uint64_t budget = (uint64_t)cf_const(ctx->o, CF_K_OFFER_TIMEOUT_MS) / 3;
    uint64_t since = h->sideband_ms ? h->sideband_ms : cf_now_ms();
    for (size_t off = 0; off < n && rc == 0; off += h->offer_chunk) {
      size_t k = n - off < h->offer_chunk ? n - off : h->offer_chunk;
      rc = cf_ctl_write(ctx, c, f.p + off, k, 0, &gone);
      if (h->chunk_pause_ms > 0 && cf_now_ms() - since + (uint64_t)h->chunk_pause_ms < budget)
        cf_sleep_ms(h->chunk_pause_ms);
    }
  }
  cf_buf_free(&f);
  if (rc != 0 && gone && ctx->tolerate_close) return 1;
  if (rc != 0 && gone && !cf_failed(ctx))
    return cf_fail(ctx, NULL, "the SUT reads the whole offer frame",
                   "the SUT closed control connection ctl#%d while the runner was writing the offer",
                   c->id);
  return rc;
}

int cf_ho_send(cf_ctx *ctx, cf_ctl *c, cf_ho *h) {
  int rc = cf_ho_send_sideband(ctx, c, h);
  return rc != 0 ? rc : cf_ho_send_offer(ctx, c, h, 0);
}

/* ---- ACKs ----------------------------------------------------------------- */

static int check_caps(cf_ctx *ctx, const cf_ho *h, uint64_t caps) {
  bool ready = (ctx->o->features & CF_F_BACKEND_READY) != 0;
  bool has = (caps & HO_BACKEND_CAP_BACKEND_READY) != 0;
  if (ready != has)
    return cf_fail(ctx, "CAP-7",
                   ready ? "every ACK sets BACKEND_CAP_BACKEND_READY (backend-ready is declared)"
                         : "no ACK sets BACKEND_CAP_BACKEND_READY (backend-ready is not declared)",
                   "the ACK for corr=%llu has backend_capabilities 0x%llx",
                   (unsigned long long)h->offer.corr, (unsigned long long)caps);
  uint64_t known = HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER;
  if (caps & ~known)
    return cf_fail(ctx, "CAP-2", "no unassigned bit of backend_capabilities is set",
                   "the ACK for corr=%llu has backend_capabilities 0x%llx",
                   (unsigned long long)h->offer.corr, (unsigned long long)caps);
  return 0;
}

/* Decode and check one ACK frame, attach it to its handoff. */
static int take_ack(cf_ctx *ctx, cf_ctl *c, const uint8_t *frame, size_t len, cf_ho **hs, int n) {
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, frame, len, &env, &m);
  if (rc != HO_OK)
    return cf_fail(ctx, "XFER-17 XFER-21",
                   "an ACK frame: RESPONSE on 0xD0FF, a valid HandoffAck, request_id == correlation_id",
                   "the SUT sent a frame on ctl#%d that is not a valid ACK: %s", c->id,
                   ho_errname(rc) ? ho_errname(rc) : "?");
  const ho_ack *a = &m.ack;
  if (env.deadline_unix_ms != 0)
    return cf_fail(ctx, "ENV-9", "deadline_unix_ms is 0 in every frame but an offer",
                   "the ACK for corr=%llu has deadline_unix_ms %llu",
                   (unsigned long long)a->correlation_id, (unsigned long long)env.deadline_unix_ms);
  cf_ho *h = NULL;
  bool corr_known = false;
  for (int i = 0; i < n; i++) {
    if (hs[i]->offer.corr != a->correlation_id) continue;
    corr_known = true;
    if (hs[i]->acked) continue;
    if (h == NULL || memcmp(hs[i]->offer.token, a->token, 16) == 0) h = hs[i];
  }
  if (h == NULL)
    return cf_fail(ctx, "XFER-17", "exactly one ACK per offer, echoing its correlation_id",
                   corr_known ? "a second ACK for corr=%llu" : "an ACK for corr=%llu, which matches no offer in flight",
                   (unsigned long long)a->correlation_id);
  if (memcmp(a->token, h->offer.token, 16) != 0)
    return cf_fail(ctx, "XFER-17", "the ACK's token equals the offer's token",
                   "the ACK for corr=%llu echoes another token", (unsigned long long)a->correlation_id);
  if (a->accepted && a->error_detail[0] != '\0')
    return cf_fail(ctx, "XFER-18", "an accepting ACK has an empty error_detail",
                   "accepted with error_detail \"%s\"", a->error_detail);
  if (!a->accepted) {
    int code = ho_err_from_name(a->error_detail);
    if (code == HO_ERR_INVALID_ARGUMENT || code == HO_OK)
      return cf_fail(ctx, "XFER-18 ERR-2",
                     "a refusing ACK's error_detail is an error name of spec/errors.md and nothing else",
                     "refused with error_detail \"%.200s\"", a->error_detail);
  }
  h->acked = true;
  h->ack.accepted = a->accepted;
  snprintf(h->ack.detail, sizeof h->ack.detail, "%s", a->error_detail);
  h->ack.corr = a->correlation_id;
  h->ack.caps = a->backend_capabilities;
  memcpy(h->ack.token, a->token, 16);
  c->acks++;
  if (c->inflight > 0) c->inflight--;
  if (a->backend_capabilities & HO_BACKEND_CAP_MULTI_OFFER) c->multi = true;
  cf_trace_note(ctx, "ACK corr=%llu: %s%s%s caps=0x%llx", (unsigned long long)a->correlation_id,
                a->accepted ? "accepted" : "refused", a->accepted ? "" : " ", a->error_detail,
                (unsigned long long)a->backend_capabilities);
  return check_caps(ctx, h, a->backend_capabilities);
}

int cf_read_acks(cf_ctx *ctx, cf_ctl *c, cf_ho **hs, int n, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int missing = 0;
    for (int i = 0; i < n; i++) missing += !hs[i]->acked;
    if (missing == 0) return 0;
    uint64_t now = cf_now_ms();
    const uint8_t *f;
    size_t len;
    int r = cf_ctl_read_frame(ctx, c, now >= deadline ? 0 : (int)(deadline - now), &f, &len);
    if (r == CF_RD_FRAME) {
      int rc = take_ack(ctx, c, f, len, hs, n);
      cf_ctl_consume(c, len);
      if (rc != 0) return -1;
      continue;
    }
    char which[96] = "";
    for (int i = 0, k = 0; i < n && k < 4; i++)
      if (!hs[i]->acked) {
        cf_appendf(which, sizeof which, "%scorr=%llu", k++ ? ", " : "", (unsigned long long)hs[i]->offer.corr);
      }
    const char *exp = "exactly one ACK for every offer that passed its checks (XFER-17), promptly";
    switch (r) {
    case CF_RD_EOF:
      return cf_fail(ctx, "XFER-17 BACKEND-4", exp,
                     "the SUT closed control connection ctl#%d without an ACK for %s", c->id, which);
    case CF_RD_TRUNC:
      return cf_fail(ctx, "BACKEND-6", "ACK frames are written completely",
                     "the SUT closed ctl#%d inside an ACK frame (%zu bytes of it)", c->id, c->rlen);
    case CF_RD_BIG:
      return cf_fail(ctx, "FRAME-7", "ACK frames are at most 64 KiB",
                     "the SUT announced an ACK frame of more than 64 KiB on ctl#%d", c->id);
    default:
      return cf_fail_wait(ctx, "XFER-17 XFER-19", exp, "no ACK for %s within %d ms", which, timeout_ms);
    }
  }
}

/* ---- descriptors held by the SUT ------------------------------------------ */

bool cf_sut_holds(cf_ctx *ctx, dev_t dev, ino_t ino, int wait_ms, long *pid, int *fd) {
  uint64_t end = cf_now_ms() + (uint64_t)wait_ms;
  for (;;) {
    pid_t p = 0;
    int f = -1;
    if (!cf_proc_holds(ctx->sut->pgid, dev, ino, &p, &f)) return false;
    if (cf_now_ms() >= end) {
      if (pid != NULL) *pid = (long)p;
      if (fd != NULL) *fd = f;
      return true;
    }
    cf_sleep_ms(5);
  }
}

/* Every descriptor of h closed by the SUT (within wait_ms)? */
static int check_released(cf_ctx *ctx, cf_ho *h, int wait_ms, const char *reqs, const char *when) {
  for (int i = 0; i < h->nfds; i++) {
    struct stat st;
    if (fstat(h->fds[i], &st) != 0) continue;
    long pid;
    int fd;
    if (cf_sut_holds(ctx, st.st_dev, st.st_ino, wait_ms, &pid, &fd)) {
      char d[128];
      cf_fd_describe(h->fds[i], d, sizeof d);
      return cf_fail(ctx, reqs, "the backend has closed every descriptor of a handoff it does not adopt",
                     "%s, pid %ld still holds descriptor #%d of corr=%llu (%s) as its fd %d", when,
                     pid, i + 1, (unsigned long long)h->offer.corr, d, fd);
    }
  }
  return 0;
}

/* The client's queued bytes untouched and nothing written (BACKEND-3). */
static int check_untouched(cf_ctx *ctx, cf_ho *h, const char *reqs) {
  if (!h->has_conn || h->conn.s < 0) return 0;
  if (h->queued_len > 0) {
    uint8_t buf[256];
    size_t n = cf_conn_peek_s(&h->conn, buf, sizeof buf);
    if (n < h->queued_len || memcmp(buf, h->queued, h->queued_len) != 0)
      return cf_fail(ctx, reqs, "the backend reads nothing from a client connection it does not adopt",
                     "of the %zu bytes the client had queued, %zu are still unread: the SUT read the "
                     "connection of corr=%llu", h->queued_len, n, (unsigned long long)h->offer.corr);
  }
  size_t w = cf_conn_pending(&h->conn);
  if (w > 0)
    return cf_fail(ctx, reqs, "the backend writes nothing on a client connection it does not adopt",
                   "the client of corr=%llu received %zu bytes from the SUT", (unsigned long long)h->offer.corr, w);
  return 0;
}

/* The broker closes its copy; the client must see EOF (nobody holds it). */
static int check_client_eof(cf_ctx *ctx, cf_ho *h, const char *reqs) {
  if (!h->has_conn) return 0;
  cf_conn_close_s(ctx, &h->conn);
  int r = cf_conn_wait_eof(ctx, &h->conn, 1000);
  if (r == 1) return 0;
  if (r == 2)
    return cf_fail(ctx, "BACKEND-3", "a connection that is not adopted is never served",
                   "the client of corr=%llu received bytes from the SUT after the handoff failed",
                   (unsigned long long)h->offer.corr);
  return cf_fail_wait(ctx, reqs, "once the broker closes its copy the client sees EOF (nobody holds it)",
                      "no EOF on the client of corr=%llu within 1000 ms: the SUT still holds it",
                      (unsigned long long)h->offer.corr);
}

int cf_verify_refused(cf_ctx *ctx, cf_ho *h, const char *name) {
  char exp[128];
  snprintf(exp, sizeof exp, "ACK accepted=false error_detail=%s", name ? name : "(an error name)");
  if (h->ack.accepted)
    return cf_fail(ctx, NULL, exp, "the SUT accepted the offer corr=%llu (adopted the connection)",
                   (unsigned long long)h->offer.corr);
  if (name != NULL && strcmp(h->ack.detail, name) != 0)
    return cf_fail(ctx, NULL, exp, "ACK accepted=false error_detail=%s", h->ack.detail);
  /* spec: XFER-18 — closed before the refusing ACK was sent. */
  if (check_released(ctx, h, 0, "XFER-18", "when its refusing ACK arrived") != 0) return -1;
  if (check_untouched(ctx, h, "BACKEND-3") != 0) return -1;
  if (check_client_eof(ctx, h, "XFER-18") != 0) return -1;
  return cf_pipe_echo(ctx, 64, "BACKEND-1");
}

int cf_verify_dropped(cf_ctx *ctx, cf_ho *h, const char *reqs) {
  if (check_released(ctx, h, 1000, reqs, "1000 ms after the control connection closed") != 0) return -1;
  if (check_untouched(ctx, h, "BACKEND-3") != 0) return -1;
  if (check_client_eof(ctx, h, reqs) != 0) return -1;
  return cf_pipe_echo(ctx, 64, "BACKEND-1 ERR-4");
}

/* The ready frame the backend wrote first (backend-ready mode). */
static int check_ready(cf_ctx *ctx, cf_ho *h) {
  cf_conn *k = &h->conn;
  cf_conn_read(ctx, k, 5, 0);
  uint32_t body = 0;
  if (k->in.len >= 5)
    body = (uint32_t)k->in.p[1] | (uint32_t)k->in.p[2] << 8 | (uint32_t)k->in.p[3] << 16 |
           (uint32_t)k->in.p[4] << 24;
  if (k->in.len >= 5 && body <= 65536) cf_conn_read(ctx, k, 5 + body, 0);
  const char *exp = "the complete ready frame is the first thing on the adopted connection, "
                    "written before the ACK (READY-9)";
  if (k->in.len < 5 || body > 65536 || k->in.len < 5 + body)
    return cf_fail(ctx, "READY-9", exp,
                   "when the accepting ACK for corr=%llu arrived the client had %zu bytes%s",
                   (unsigned long long)h->offer.corr, k->in.len,
                   k->in.len >= 5 ? " of a longer frame" : "");
  cf_trace_frame(ctx, "the ready frame the client read", k->in.p, 5 + body, HO_FT_READY);
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, k->in.p, 5 + body, &env, &m);
  const char *rexp = "ready = EVENT on 0xD0FF, HandoffAck{token, accepted, correlation_id}, "
                     "request_id = correlation_id, backend_capabilities 0 (READY-1)";
  if (rc != HO_OK)
    return cf_fail(ctx, "READY-1", rexp, "the first frame on the adopted connection is not a valid ready frame: %s",
                   ho_errname(rc) ? ho_errname(rc) : "?");
  if (memcmp(m.ack.token, h->offer.token, 16) != 0 || !m.ack.accepted ||
      m.ack.correlation_id != h->offer.corr || m.ack.backend_capabilities != 0 ||
      m.ack.error_detail[0] != '\0' || env.deadline_unix_ms != 0)
    return cf_fail(ctx, "READY-1 ENV-9", rexp,
                   "ready frame with %s token, accepted=%d, correlation_id %llu (offer %llu), caps 0x%llx, "
                   "deadline %llu", memcmp(m.ack.token, h->offer.token, 16) ? "another" : "the offer's",
                   m.ack.accepted, (unsigned long long)m.ack.correlation_id,
                   (unsigned long long)h->offer.corr, (unsigned long long)m.ack.backend_capabilities,
                   (unsigned long long)env.deadline_unix_ms);
  /* The service bytes start after it. */
  memmove(k->in.p, k->in.p + 5 + body, k->in.len - 5 - body);
  k->in.len -= 5 + body;
  return 0;
}

/* Legacy: the runner, as the broker, writes the ready frame. */
static int write_ready(cf_ctx *ctx, cf_ho *h, uint8_t *out, size_t *len) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, h->offer.token, 16);
  m.ack.accepted = true;
  m.ack.correlation_id = h->offer.corr;
  int rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_READY, &m, out, 128, len);
  if (rc != HO_OK) return cf_error(ctx, "encode ready: %s", ho_errname(rc));
  cf_trace_frame(ctx, "broker (runner) -> client: ready", out, *len, HO_FT_READY);
  ssize_t w = send(h->conn.s, out, *len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (w != (ssize_t)*len) cf_trace_note(ctx, "writing the ready frame: %s", w < 0 ? strerror(errno) : "partial");
  return 0;
}

/* The queued bytes come back once, with the runner's ready frame somewhere
 * (the legacy backend may answer them before the broker's ready). */
static int check_queued_echo_legacy(cf_ctx *ctx, cf_ho *h, const uint8_t *ready, size_t rlen) {
  cf_conn *k = &h->conn;
  size_t want = rlen + h->queued_len;
  cf_conn_read(ctx, k, want, 2000);
  for (size_t at = 0; k->in.len >= want && at + rlen <= k->in.len; at++) {
    if (memcmp(k->in.p + at, ready, rlen) != 0) continue;
    uint8_t rest[512];
    size_t n = 0;
    for (size_t i = 0; i < want && n < sizeof rest; i++)
      if (i < at || i >= at + rlen) rest[n++] = k->in.p[i];
    if (n == h->queued_len && memcmp(rest, h->queued, n) == 0) {
      memmove(k->in.p, k->in.p + want, k->in.len - want);
      k->in.len -= want;
      return 0;
    }
  }
  return cf_fail(ctx, "BACKEND-1", "the request queued before the handoff is answered exactly once",
                 "the client read %zu bytes, expected the ready frame (%zu) and the echo of %zu queued bytes",
                 k->in.len, rlen, h->queued_len);
}

int cf_verify_accepted(cf_ctx *ctx, cf_ho *h) {
  if (!h->ack.accepted)
    return cf_fail(ctx, NULL, "the offer is accepted (ACK accepted=true)",
                   "the SUT refused the offer corr=%llu with %s", (unsigned long long)h->offer.corr,
                   h->ack.detail);
  if (!h->has_conn) return 0;
  if (h->offer.flags & HO_OFFER_FLAG_BACKEND_READY) {
    if (!(h->ack.caps & HO_BACKEND_CAP_BACKEND_READY))
      return cf_fail(ctx, "READY-9 CAP-7", "an accepted backend-ready offer's ACK has BACKEND_CAP_BACKEND_READY",
                     "backend_capabilities 0x%llx", (unsigned long long)h->ack.caps);
    if (check_ready(ctx, h) != 0) return -1;
    cf_conn_close_s(ctx, &h->conn); /* READY-8: the broker closes its copy */
    if (h->queued_len > 0) {
      cf_conn_read(ctx, &h->conn, h->queued_len, 2000);
      if (h->conn.in.len < h->queued_len || memcmp(h->conn.in.p, h->queued, h->queued_len) != 0)
        return cf_fail(ctx, "READY-13 BACKEND-1",
                       "the request the client queued before the handoff comes back after the ready frame",
                       "after the ready frame the client read %zu bytes (%zu queued)", h->conn.in.len, h->queued_len);
      h->conn.in.len = 0;
    }
    return cf_conn_echo(ctx, &h->conn, 64, 2000, "BACKEND-1");
  }
  uint8_t ready[128];
  size_t rlen = 0;
  if (h->queued_len > 0) {
    if (write_ready(ctx, h, ready, &rlen) != 0) return -1;
    cf_conn_close_s(ctx, &h->conn);
    if (check_queued_echo_legacy(ctx, h, ready, rlen) != 0) return -1;
    return cf_conn_echo(ctx, &h->conn, 64, 2000, "BACKEND-1");
  }
  /* spec: READY-3 — in legacy mode nothing before the client's first byte. */
  cf_sleep_ms(30);
  size_t early = cf_conn_pending(&h->conn);
  if (early > 0)
    return cf_fail(ctx, "READY-3", "in legacy mode the backend writes nothing before it has read a client byte",
                   "the client of corr=%llu had %zu bytes from the SUT before it wrote anything",
                   (unsigned long long)h->offer.corr, early);
  if (write_ready(ctx, h, ready, &rlen) != 0) return -1;
  cf_conn_close_s(ctx, &h->conn);
  cf_conn_read(ctx, &h->conn, rlen, 1000);
  if (h->conn.in.len < rlen || memcmp(h->conn.in.p, ready, rlen) != 0)
    return cf_fail(ctx, "READY-3", "the client reads the broker's ready frame first",
                   "the client read %zu bytes that do not start with the ready frame", h->conn.in.len);
  h->conn.in.len = 0;
  return cf_conn_echo(ctx, &h->conn, 64, 2000, "BACKEND-1 XFER-16");
}

int cf_expect_accept(cf_ctx *ctx, cf_ctl *c, cf_ho *h) {
  cf_ho *hs[1] = {h};
  if (cf_read_acks(ctx, c, hs, 1, CF_ACK_WAIT_MS) != 0) return -1;
  return cf_verify_accepted(ctx, h);
}

int cf_expect_refuse(cf_ctx *ctx, cf_ctl *c, cf_ho *h, const char *name) {
  cf_ho *hs[1] = {h};
  if (cf_read_acks(ctx, c, hs, 1, CF_ACK_WAIT_MS) != 0) return -1;
  return cf_verify_refused(ctx, h, name);
}

int cf_expect_violation(cf_ctx *ctx, cf_ctl *c, cf_ho *h, int timeout_ms, const char *reqs) {
  int r = cf_ctl_wait_closed(ctx, c, timeout_ms);
  const char *exp = "no ACK: the backend closes the control connection and every descriptor of the handoff";
  if (r == CF_RD_FRAME || r == CF_RD_TRUNC) {
    const uint8_t *f;
    size_t len;
    if (cf_ctl_read_frame(ctx, c, 0, &f, &len) == CF_RD_FRAME) {
      ho_any_msg m;
      memset(&m, 0, sizeof m);
      if (ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, f, len, NULL, &m) == HO_OK)
        return cf_fail(ctx, reqs, exp, "the SUT answered with an ACK: accepted=%s error_detail=%s",
                       m.ack.accepted ? "true" : "false", m.ack.error_detail[0] ? m.ack.error_detail : "\"\"");
    }
    return cf_fail(ctx, reqs, exp, "the SUT sent %zu bytes on the control connection", c->rlen);
  }
  if (r == CF_RD_TIMEOUT)
    return cf_fail_wait(ctx, reqs, exp, "the control connection was still open after %d ms", timeout_ms);
  if (h != NULL && cf_verify_dropped(ctx, h, reqs) != 0) return -1;
  return cf_probe_handoff(ctx, "ERR-4");
}

int cf_run_accept(cf_ctx *ctx, cf_ho *h) {
  cf_ctl c;
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  int rc = cf_ho_send(ctx, &c, h) == 0 ? cf_expect_accept(ctx, &c, h) : -1;
  cf_ctl_close(ctx, &c);
  return rc;
}

int cf_run_refuse(cf_ctx *ctx, cf_ho *h, const char *name) {
  cf_ho_probe(ctx, h);
  cf_ctl c;
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  int rc = cf_ho_send(ctx, &c, h) == 0 ? cf_expect_refuse(ctx, &c, h, name) : -1;
  cf_ctl_close(ctx, &c);
  return rc;
}

int cf_run_violation(cf_ctx *ctx, cf_ho *h, const char *reqs) {
  cf_ho_probe(ctx, h);
  cf_ctl c;
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  int rc = cf_ho_send(ctx, &c, h) == 0 ? cf_expect_violation(ctx, &c, h, CF_CLOSE_WAIT_MS, reqs) : -1;
  cf_ctl_close(ctx, &c);
  return rc;
}

int cf_probe_handoff(cf_ctx *ctx, const char *reqs) {
  if (cf_failed(ctx)) return -1;
  cf_ho h;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  if (ctx->o->features & CF_F_BACKEND_READY) cf_ho_flag_ready(&h);
  cf_trace_note(ctx, "probe: a valid handoff on a new control connection (%s)", reqs);
  int rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

int cf_require_multi(cf_ctx *ctx, cf_ctl *c) {
  if (c->multi) return 0;
  return cf_fail(ctx, "CAP-10 XFER-37",
                 "multi-offer is declared: the ACK sets BACKEND_CAP_MULTI_OFFER, so the broker may send "
                 "further offers on the connection",
                 "no ACK on ctl#%d set BACKEND_CAP_MULTI_OFFER; a broker sends no further offer on it", c->id);
}
