/* handoff-conform — broker mode: the runner as the backend (see bkend.h). */
#include "bkend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff/wire.h"
#include "pb.h"
#include "sock.h"
#include "trace.h"

#define SB_FDS 16 /* the runner's control buffer: room for 16 descriptors */

static cf_bk g_bk;

cf_bk *cf_bk_of(cf_ctx *ctx) { return ctx->mstate; }

int cf_bk_prepare(cf_ctx *ctx) {
  cf_bk *bk = &g_bk;
  memset(bk, 0, sizeof *bk);
  bk->lho = cf_sock_listen(ctx->ep_handoff);
  bk->lpipe = bk->lho < 0 ? -1 : cf_sock_listen(ctx->ep_pipe);
  if (bk->lpipe < 0) return cf_error(ctx, "listen on the runner's endpoints: %s", strerror(errno));
  ctx->mstate = bk;
  cf_trace_note(ctx, "runner (backend) listens on %s (handoff endpoint) and %s (backend_pipe)",
                ctx->ep_handoff, ctx->ep_pipe);
  return 0;
}

void cf_bk_close_ctl(cf_ctx *ctx, cf_bctl *c) {
  if (c->fd >= 0) {
    char what[96];
    snprintf(what, sizeof what, "the SUT's end of control connection ctl#%d", c->id);
    cf_sock_hold_peer(ctx, c->fd, "ERR-60 BROKER-4", what);
    close(c->fd);
    cf_trace_note(ctx, "runner (backend) closes ctl#%d", c->id);
  }
  c->fd = -1;
  c->eof = true;
  free(c->rbuf);
  c->rbuf = NULL;
}

void cf_bk_finish(cf_ctx *ctx) {
  cf_bk *bk = cf_bk_of(ctx);
  if (bk == NULL) return;
  for (int i = 0; i < bk->nctl; i++) cf_bk_close_ctl(ctx, &bk->ctl[i]);
  if (bk->lho >= 0) close(bk->lho);
  if (bk->lpipe >= 0) close(bk->lpipe);
  bk->lho = bk->lpipe = -1;
}

void cf_bk_drop_fd(cf_ctx *ctx, cf_boffer *o) {
  if (o->fd >= 0) {
    close(o->fd);
    cf_trace_note(ctx, "runner (backend) closes its copy of the descriptor of corr=%llu",
                  (unsigned long long)o->offer.correlation_id);
  }
  o->fd = -1;
}

/* ---- reading a handoff ------------------------------------------------------ */

typedef struct rx {
  int fds[SB_FDS];
  int nfds;
  bool ctrunc, other;
  size_t fd_at, fd_len; /* the read that brought descriptors: offset and bytes */
} rx;

/* One recvmsg into c->rbuf of at most `max` bytes. 1 data, 0 timeout, -1 EOF. */
static int ctl_recv(cf_ctx *ctx, cf_bctl *c, size_t max, int timeout_ms, rx *x) {
  struct pollfd p = {c->fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return 0;
  if (max > CF_BK_RBUF - c->rlen) max = CF_BK_RBUF - c->rlen;
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int) * SB_FDS)];
  } u;
  struct iovec iov = {c->rbuf + c->rlen, max};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
  ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  int k = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); n > 0 && h != NULL; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) {
      x->other = true;
      continue;
    }
    size_t cnt = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < cnt; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
      if (x->nfds < SB_FDS) x->fds[x->nfds++] = fd;
      else close(fd);
      k++;
    }
  }
  if (m.msg_flags & MSG_CTRUNC) x->ctrunc = true;
  if (n <= 0) {
    c->eof = true;
    cf_trace_note(ctx, "SUT -> runner ctl#%d: %s", c->id, n == 0 ? "EOF" : strerror(errno));
    return -1;
  }
  char who[64];
  snprintf(who, sizeof who, "SUT -> runner ctl#%d recvmsg", c->id);
  if (k > 0) {
    cf_trace_scm(ctx, who, x->fds + x->nfds - k, k);
    x->fd_at = c->rlen;
    x->fd_len = (size_t)n;
  }
  cf_trace_bytes(ctx, who, c->rbuf + c->rlen, (size_t)n);
  c->rlen += (size_t)n;
  return 1;
}

/* Read until c->rbuf holds `want` bytes; greedy reads may take more. */
static int ctl_fill(cf_ctx *ctx, cf_bctl *c, size_t want, bool greedy, uint64_t deadline, rx *x) {
  while (c->rlen < want) {
    int r = ctl_recv(ctx, c, greedy ? 4096 : want - c->rlen, cf_remaining(deadline), x);
    if (r < 0) return -1;
    if (r == 0 && cf_remaining(deadline) == 0) return 0;
  }
  return 1;
}

static void close_rx(rx *x) {
  for (int i = 0; i < x->nfds; i++) close(x->fds[i]);
  x->nfds = 0;
}

static int offer_checks(cf_ctx *ctx, cf_bk *bk, cf_bctl *c, cf_boffer *o);

/* One handoff from c: 0 done, 2 the SUT closed c at a handoff boundary,
 * -1 violation (recorded; c is closed). */
static int read_handoff(cf_ctx *ctx, cf_bk *bk, cf_bctl *c, cf_boffer *o) {
  rx x;
  memset(&x, 0, sizeof x);
  x.fd_at = (size_t)-1;
  /* The offer follows its sideband at once (XFER-4); 1 s is generous. */
  uint64_t deadline = cf_now_ms() + 1000;
  const char *exp = "a sideband (16 token bytes, one descriptor) and then the complete offer frame";
  int r = ctl_fill(ctx, c, 16, true, deadline, &x);
  if (r < 0 && c->rlen == 0 && x.nfds == 0) return 2;
  if (r <= 0) {
    close_rx(&x);
    (r < 0 ? cf_fail : cf_fail_wait)(ctx, "XFER-3 XFER-4 BROKER-1", exp, "ctl#%d %s after %zu sideband bytes", c->id,
                                     r < 0 ? "ended" : "stalled for 1000 ms", c->rlen);
    return cf_bk_close_ctl(ctx, c), -1;
  }
  const char *why = NULL;
  if (x.other) why = "a control message other than SCM_RIGHTS came with the sideband";
  else if (x.ctrunc) why = "more descriptors than the runner's buffer of 16 (MSG_CTRUNC)";
  else if (x.nfds != 1) why = x.nfds == 0 ? "no descriptor came with the sideband" : "several descriptors came with the sideband";
  else if (x.fd_at != 0 || x.fd_len != 16) why = "the sendmsg that carried the descriptor did not hold exactly the 16 sideband bytes";
  if (why != NULL) {
    close_rx(&x);
    cf_fail(ctx, "XFER-3", "one sendmsg per handoff: exactly the 16 token bytes and one SCM_RIGHTS descriptor",
            "ctl#%d: %s (%d descriptors; the descriptor's read: %zu bytes at offset %zu)", c->id, why, x.nfds,
            x.fd_len, x.fd_at == (size_t)-1 ? 0 : x.fd_at);
    return cf_bk_close_ctl(ctx, c), -1;
  }
  o->fd = x.fds[0];
  x.nfds = 0;
  memcpy(o->sideband, c->rbuf, 16);
  r = ctl_fill(ctx, c, 16 + 5, false, deadline, &x);
  bool big = false;
  size_t flen = r > 0 ? cf_frame_len(c->rbuf + 16, c->rlen - 16, 64u * 1024u, &big) : 0;
  if (r > 0 && !big && flen == 0) {
    uint32_t body = (uint32_t)c->rbuf[17] | (uint32_t)c->rbuf[18] << 8 | (uint32_t)c->rbuf[19] << 16 |
                    (uint32_t)c->rbuf[20] << 24;
    r = ctl_fill(ctx, c, 16 + 5 + body, false, deadline, &x);
    flen = r > 0 ? cf_frame_len(c->rbuf + 16, c->rlen - 16, 64u * 1024u, &big) : 0;
  }
  if (big || r <= 0 || x.nfds > 0) {
    close_rx(&x);
    cf_bk_drop_fd(ctx, o);
    if (big)
      cf_fail(ctx, "FRAME-7", "offer frames are at most 64 KiB", "ctl#%d: an offer header announcing more", c->id);
    else if (x.nfds > 0 || x.ctrunc)
      cf_fail(ctx, "XFER-3 XFER-4", exp, "ctl#%d: a descriptor arrived with the offer's bytes", c->id);
    else
      (r < 0 ? cf_fail : cf_fail_wait)(ctx, "XFER-4 BROKER-1", exp, "ctl#%d %s inside the offer frame (%zu bytes of it)",
                                       c->id, r < 0 ? "ended" : "stalled for 1000 ms", c->rlen - 16);
    return cf_bk_close_ctl(ctx, c), -1;
  }
  char who[64];
  snprintf(who, sizeof who, "SUT -> runner ctl#%d: offer", c->id);
  cf_trace_frame(ctx, who, c->rbuf + 16, flen, HO_FT_OFFER);
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, c->rbuf + 16, flen, &o->env, &m);
  o->env.payload = NULL;
  o->offer = m.offer;
  o->frame_len = flen;
  o->ctl = c;
  o->at_ms = cf_now_ms();
  o->at_wall_ms = cf_wall_ms();
  memmove(c->rbuf, c->rbuf + 16 + flen, c->rlen - 16 - flen);
  c->rlen -= 16 + flen;
  if (rc != HO_OK) {
    cf_bk_drop_fd(ctx, o);
    cf_fail(ctx, "XFER-4 ENV-4", "a valid offer frame: REQUEST on 0xD0FF, a HandoffOffer, request_id == correlation_id",
            "ctl#%d: the offer frame fails with %s", c->id, ho_errname(rc) ? ho_errname(rc) : "?");
    return cf_bk_close_ctl(ctx, c), -1;
  }
  struct stat st;
  if (fstat(o->fd, &st) == 0) {
    o->dev = st.st_dev;
    o->ino = st.st_ino;
  }
  return offer_checks(ctx, bk, c, o);
}

static bool seen_token(cf_bk *bk, const uint8_t *t) {
  for (size_t i = 0; i < bk->ntok; i++)
    if (memcmp(bk->tokens[i], t, 16) == 0) return true;
  return false;
}

static bool seen_corr(cf_bk *bk, uint64_t corr) {
  for (size_t i = 0; i < bk->ncorr; i++)
    if (bk->corrs[i] == corr) return true;
  return false;
}

static int offer_checks(cf_ctx *ctx, cf_bk *bk, cf_bctl *c, cf_boffer *o) {
  const ho_offer *f = &o->offer;
  uint64_t corr = f->correlation_id, dl = o->env.deadline_unix_ms;
  cf_note_token(ctx, f->token);
  char d[128];
  cf_fd_describe(o->fd, d, sizeof d);
  int type = 0;
  socklen_t tl = sizeof type;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int fl = fcntl(o->fd, F_GETFL);
  int rc = 0;
  if (getsockopt(o->fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
      getpeername(o->fd, (struct sockaddr *)&ss, &sl) != 0)
    rc = cf_fail(ctx, "XFER-3", "the descriptor is the client's connection (a connected stream socket)",
                 "corr=%llu: the descriptor is %s", (unsigned long long)corr, d);
  else if (fl >= 0 && (fl & O_NONBLOCK))
    rc = cf_fail(ctx, "XFER-25", "the client descriptor is in blocking mode when it is sent",
                 "corr=%llu: the descriptor has O_NONBLOCK set", (unsigned long long)corr);
  else if (memcmp(f->token, o->sideband, 16) != 0)
    rc = cf_fail(ctx, "XFER-4", "the offer's token equals the 16 sideband bytes",
                 "corr=%llu: the sideband and the offer carry different tokens", (unsigned long long)corr);
  else if (f->handle_value != 0)
    rc = cf_fail(ctx, "XFER-4", "handle_value 0 on Unix", "corr=%llu: handle_value %llu", (unsigned long long)corr,
                 (unsigned long long)f->handle_value);
  else if (corr == 0 || seen_corr(bk, corr))
    rc = cf_fail(ctx, "ACK-12", "correlation ids are non-zero and never reused within the process",
                 "an offer with correlation id %llu%s", (unsigned long long)corr, corr ? ", already used in this case" : "");
  else if (seen_token(bk, f->token))
    rc = cf_fail(ctx, "TOKEN-6", "a token is sent in at most one offer", "corr=%llu: its token was offered before",
                 (unsigned long long)corr);
  else if (f->offer_flags & ~(HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY))
    rc = cf_fail(ctx, "CAP-2", "no unassigned offer flag", "corr=%llu: offer_flags 0x%llx", (unsigned long long)corr,
                 (unsigned long long)f->offer_flags);
  else if (c->offers > 0 && !c->multi)
    rc = cf_fail(ctx, "XFER-37", "no further offer on a control connection before an ACK on it declared "
                 "BACKEND_CAP_MULTI_OFFER", "ctl#%d: offer #%d (corr=%llu), the runner's ACKs on it declared %s",
                 c->id, c->offers + 1, (unsigned long long)corr, c->acks ? "no MULTI_OFFER" : "nothing yet (no ACK sent)");
  else if ((f->offer_flags & HO_OFFER_FLAG_BACKEND_READY) && (dl == 0 || dl > o->at_wall_ms + 1550))
    rc = cf_fail(ctx, "READY-10", "a backend-ready offer's deadline is Negotiated + READY_BUDGET (at most 1500 ms)",
                 "corr=%llu: deadline_unix_ms is %s%lld ms from now", (unsigned long long)corr, dl ? "" : "0, ",
                 dl ? (long long)(dl - o->at_wall_ms) : 0LL);
  else if (!(f->offer_flags & HO_OFFER_FLAG_BACKEND_READY) && dl != 0 &&
           dl > o->at_wall_ms + (uint64_t)cf_const(ctx->o, CF_K_ACK_TIMEOUT_MS) + 100)
    rc = cf_fail(ctx, "TOKEN-22 ENV-9", "a legacy offer's deadline is 0 or no later than its ACK deadline",
                 "corr=%llu: deadline_unix_ms is %llu ms from now (ACK deadline %ld ms)", (unsigned long long)corr,
                 (unsigned long long)(dl - o->at_wall_ms), cf_const(ctx->o, CF_K_ACK_TIMEOUT_MS));
  if (bk->ntok < CF_BK_MAX_SEEN) memcpy(bk->tokens[bk->ntok++], f->token, 16);
  if (bk->ncorr < CF_BK_MAX_SEEN) bk->corrs[bk->ncorr++] = corr;
  c->offers++;
  c->inflight++;
  cf_trace_note(ctx, "handoff corr=%llu on ctl#%d: descriptor %s, flags 0x%llx, deadline %+lld ms", (unsigned long long)corr,
                c->id, d, (unsigned long long)f->offer_flags, dl ? (long long)(dl - o->at_wall_ms) : 0LL);
  if (rc != 0) cf_bk_drop_fd(ctx, o);
  return rc;
}

/* ---- waiting for handoffs ------------------------------------------------------ */

static cf_bctl *new_ctl(cf_ctx *ctx, cf_bk *bk, int fd) {
  cf_bctl *c = NULL;
  for (int i = 0; i < bk->nctl && c == NULL; i++)
    if (bk->ctl[i].fd < 0) c = &bk->ctl[i];
  if (c == NULL && bk->nctl < CF_BK_MAX_CTL) c = &bk->ctl[bk->nctl++];
  if (c == NULL) {
    close(fd);
    cf_fail(ctx, "XFER-37", "a bounded number of control connections to one backend",
            "the SUT opened more than %d control connections at once", CF_BK_MAX_CTL);
    return NULL;
  }
  memset(c, 0, sizeof *c);
  c->fd = fd;
  c->id = ++ctx->nctl;
  c->rbuf = malloc(CF_BK_RBUF);
  if (c->rbuf == NULL) {
    close(fd);
    c->fd = -1;
    cf_error(ctx, "out of memory");
    return NULL;
  }
  cf_trace_note(ctx, "runner (backend) accepts control connection ctl#%d", c->id);
  return c;
}

int cf_bk_next_offer(cf_ctx *ctx, cf_boffer *o, int timeout_ms) {
  cf_bk *bk = cf_bk_of(ctx);
  memset(o, 0, sizeof *o);
  o->fd = -1;
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    struct pollfd p[CF_BK_MAX_CTL + 1];
    cf_bctl *who[CF_BK_MAX_CTL + 1];
    int n = 0;
    p[n] = (struct pollfd){bk->lho, POLLIN, 0};
    who[n++] = NULL;
    for (int i = 0; i < bk->nctl; i++) {
      cf_bctl *c = &bk->ctl[i];
      if (c->fd < 0 || c->eof) continue;
      p[n] = (struct pollfd){c->fd, POLLIN, c->rlen > 0 ? POLLIN : 0};
      who[n++] = c;
    }
    int pr = 0;
    for (int i = 1; i < n; i++) pr += p[i].revents != 0; /* bytes already buffered */
    if (pr == 0) pr = poll(p, (nfds_t)n, cf_remaining(deadline));
    if (pr < 0 && errno != EINTR) return cf_error(ctx, "poll: %s", strerror(errno));
    if (pr <= 0 && cf_remaining(deadline) == 0) return 1;
    if (p[0].revents & POLLIN) {
      int fd = cf_sock_accept(bk->lho, 0);
      if (fd >= 0 && new_ctl(ctx, bk, fd) == NULL) return -1;
    }
    for (int i = 1; i < n; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int r = read_handoff(ctx, bk, who[i], o);
      if (r == 2) {
        cf_trace_note(ctx, "the SUT closed ctl#%d (no offer in flight on it: %d)", who[i]->id, who[i]->inflight);
        cf_bk_close_ctl(ctx, who[i]);
        continue;
      }
      return r;
    }
  }
}

int cf_bk_no_offer(cf_ctx *ctx, int wait_ms, const char *reqs, const char *why) {
  cf_boffer o;
  int r = cf_bk_next_offer(ctx, &o, wait_ms);
  if (r != 0) return r > 0 ? 0 : -1;
  cf_bk_drop_fd(ctx, &o);
  return cf_fail(ctx, reqs, why, "the SUT sent an offer (corr=%llu) on ctl#%d",
                 (unsigned long long)o.offer.correlation_id, o.ctl->id);
}

bool cf_bk_ctl_closed(cf_ctx *ctx, cf_bctl *c, int wait_ms) {
  if (c->fd < 0 || c->eof) return true;
  struct pollfd p = {c->fd, POLLIN, 0};
  if (poll(&p, 1, wait_ms) <= 0) return false;
  uint8_t b;
  ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;
  cf_trace_note(ctx, "SUT -> runner ctl#%d: %s", c->id, n == 0 ? "EOF" : strerror(errno));
  c->eof = true;
  return true;
}

/* ---- ACKs ---------------------------------------------------------------------- */

int cf_bk_ack(cf_ctx *ctx, cf_boffer *o, const cf_ack_spec *a) {
  cf_bctl *c = o->ctl;
  cf_bk *bk = cf_bk_of(ctx);
  uint64_t corr = a->corr ? a->corr : o->offer.correlation_id;
  if (a->bug == CF_ACK_CORR_ZERO) corr = 0;
  if (a->bug == CF_ACK_CORR_UNISSUED) {
    for (size_t i = 0; i < bk->ncorr; i++)
      if (bk->corrs[i] > corr) corr = bk->corrs[i];
    corr += 1000;
  }
  ho_ack ack;
  memset(&ack, 0, sizeof ack);
  memcpy(ack.token, o->offer.token, 16);
  if (a->bug == CF_ACK_WRONG_TOKEN) ack.token[7] ^= 0x5a;
  ack.accepted = a->accepted;
  snprintf(ack.error_detail, sizeof ack.error_detail, "%s", a->accepted || !a->detail ? "" : a->detail);
  ack.correlation_id = corr;
  ack.backend_capabilities = a->caps;
  uint8_t payload[512];
  size_t plen = 0;
  cf_buf raw = {0}, frame = {0};
  if (a->bug == CF_ACK_MALFORMED) {
    static const uint8_t garbage[] = {0x0a, 0x7f, 0x01}; /* a bytes field running past the end */
    cf_buf_put(&raw, garbage, sizeof garbage);
  } else if (a->bug == CF_ACK_TOKEN_SHORT) {
    pb_bytes(&raw, 1, ack.token, 15);
    pb_uint(&raw, 2, 1);
    pb_uint(&raw, 4, corr);
  } else if (ho_ack_encode(HO_CODEC_PROTOBUF_C, &ack, payload, sizeof payload, &plen) != HO_OK) {
    return cf_error(ctx, "encode ACK");
  } else {
    cf_buf_put(&raw, payload, plen);
  }
  cf_frame f;
  cf_frame_init(&f, HO_KIND_RESPONSE, HO_PAYLOAD_HANDOFF, raw.p, raw.len);
  f.request_id = a->bug == CF_ACK_REQID ? corr + 1 : corr;
  if (a->bug == CF_ACK_KIND_REQUEST) f.kind = HO_KIND_REQUEST;
  if (a->bug == CF_ACK_KIND_EVENT) f.kind = HO_KIND_EVENT;
  if (a->bug == CF_ACK_PROTOCOL) f.protocol = HO_PAYLOAD_HELLO;
  if (a->bug == CF_ACK_COMPRESSED) f.encoding = 1;
  if (a->bug == CF_ACK_FRAMING) f.framing = 2;
  int rc = cf_frame_build(&f, &frame);
  cf_buf_free(&raw);
  if (rc != 0) return cf_buf_free(&frame), cf_error(ctx, "out of memory");
  size_t n = a->bug == CF_ACK_TRUNCATED ? frame.len / 2 : frame.len;
  char who[64];
  snprintf(who, sizeof who, "runner -> SUT ctl#%d: ACK", c->id);
  if (n == frame.len) cf_trace_frame(ctx, who, frame.p, n, HO_FT_ACK);
  else cf_trace_bytes(ctx, who, frame.p, n);
  rc = c->fd >= 0 ? cf_sock_write(c->fd, frame.p, n, 1000) : -1;
  cf_buf_free(&frame);
  if (rc != 0)
    return cf_fail(ctx, "ACK-10 XFER-7", "the control connection stays open while an offer on it is in flight",
                   "the runner could not write its ACK for corr=%llu on ctl#%d: %s",
                   (unsigned long long)o->offer.correlation_id, c->id, c->fd < 0 ? "closed" : strerror(errno));
  o->acked = true;
  c->acks++;
  if (c->inflight > 0) c->inflight--;
  c->declared = a->caps;
  if (a->caps & HO_BACKEND_CAP_MULTI_OFFER) c->multi = true;
  if (a->bug == CF_ACK_TRUNCATED) cf_bk_close_ctl(ctx, c);
  return 0;
}

/* ---- backend_pipe ------------------------------------------------------------- */

int cf_bk_pipe_echo(cf_ctx *ctx, size_t n, int timeout_ms, const char *reqs) {
  cf_bk *bk = cf_bk_of(ctx);
  int fd = cf_sock_accept(bk->lpipe, timeout_ms);
  if (fd < 0)
    return cf_fail_wait(ctx, reqs, "the client reconnects to backend_pipe (the fallback route)",
                        "no connection on backend_pipe within %d ms", timeout_ms);
  int id = ++bk->pipe_conns;
  cf_buf in = {0};
  bool reset = false;
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (in.len < n && cf_sock_read(fd, &in, n - in.len, cf_remaining(deadline), &reset) >= 0 &&
         cf_remaining(deadline) > 0) {
  }
  char who[64];
  snprintf(who, sizeof who, "client -> runner backend_pipe#%d", id);
  cf_trace_bytes(ctx, who, in.p, in.len);
  int rc = 0;
  if (in.len < n)
    rc = cf_fail_wait(ctx, reqs, "the request arrives on backend_pipe", "backend_pipe#%d: %zu of %zu bytes", id, in.len, n);
  else if (cf_sock_write(fd, in.p, in.len, 1000) != 0)
    rc = cf_error(ctx, "backend_pipe#%d: write: %s", id, strerror(errno));
  cf_buf_free(&in);
  close(fd);
  return rc;
}

int cf_bk_pipe_pending(cf_ctx *ctx) {
  cf_bk *bk = cf_bk_of(ctx);
  int n = 0, fd;
  while ((fd = cf_sock_accept(bk->lpipe, 0)) >= 0) {
    close(fd);
    n++;
  }
  return n;
}
