/* handoff-conform — control connections of the adversarial broker (see
 * ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff/msg.h"
#include "procfs.h"
#include "trace.h"

#define SCM_MAX 253 /* SCM_MAX_FD of Linux */

static int remaining(uint64_t deadline) {
  uint64_t now = cf_now_ms();
  return now >= deadline ? 0 : (int)(deadline - now);
}

int cf_ctl_open(cf_ctx *ctx, cf_ctl *c) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->id = ++ctx->nctl;
  c->rbuf = malloc(CF_CTL_RBUF);
  if (c->rbuf == NULL) return cf_error(ctx, "out of memory");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", ctx->ep_handoff);
  uint64_t deadline = cf_now_ms() + 1000;
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return cf_error(ctx, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      c->fd = fd;
      break;
    }
    int e = errno;
    close(fd);
    if (e != EAGAIN || cf_now_ms() >= deadline)
      return cf_fail_wait(ctx, "XFER-1", "the handoff endpoint accepts control connections",
                          "connect(%s) failed: %s", ctx->ep_handoff, strerror(e));
    cf_sleep_ms(2);
  }
  c->opened_ms = cf_now_ms();
  cf_trace_note(ctx, "runner -> SUT ctl#%d: connected to the handoff endpoint", c->id);
  return 0;
}

void cf_ctl_close(cf_ctx *ctx, cf_ctl *c) {
  if (c->fd >= 0) {
    /* The SUT's end, if it accepted us and still holds it, must be closed
     * once ours is (ERR-44: EOF ends the control connection). */
    ino_t peer = cf_sock_peer_ino(c->fd);
    struct stat st;
    if (peer != 0 && fstat(c->fd, &st) == 0) {
      char what[96];
      snprintf(what, sizeof what, "the SUT's end of control connection ctl#%d", c->id);
      cf_hold_ino(ctx, st.st_dev, peer, "ERR-44 ERR-1", what);
    }
    close(c->fd);
    cf_trace_note(ctx, "runner closes ctl#%d", c->id);
  }
  c->fd = -1;
  free(c->rbuf);
  c->rbuf = NULL;
}

int cf_ctl_sendmsg(cf_ctx *ctx, cf_ctl *c, const void *data, size_t len, const int *fds, int nfds) {
  if (nfds > SCM_MAX) nfds = SCM_MAX;
  char who[64];
  snprintf(who, sizeof who, "runner -> SUT ctl#%d sendmsg", c->id);
  if (nfds > 0) cf_trace_scm(ctx, who, fds, nfds);
  cf_trace_bytes(ctx, who, data, len);
  size_t cl = nfds > 0 ? CMSG_SPACE(sizeof(int) * (size_t)nfds) : 0;
  void *cbuf = cl ? calloc(1, cl) : NULL;
  if (cl && cbuf == NULL) return cf_error(ctx, "out of memory");
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = cl};
  if (nfds > 0) {
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)nfds);
  }
  uint64_t deadline = cf_now_ms() + 2000;
  ssize_t n;
  for (;;) {
    n = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && remaining(deadline) > 0) {
      struct pollfd p = {c->fd, POLLOUT, 0};
      (void)poll(&p, 1, remaining(deadline));
      continue;
    }
    int e = errno;
    free(cbuf);
    cf_trace_note(ctx, "sendmsg on ctl#%d failed: %s", c->id, strerror(e));
    if ((e == EPIPE || e == ECONNRESET) && ctx->tolerate_close) return 1;
    if (e == EPIPE || e == ECONNRESET)
      return cf_fail(ctx, NULL, "the control connection stays open during a handoff",
                     "the SUT closed control connection ctl#%d before the runner could send "
                     "(sendmsg: %s)", c->id, strerror(e));
    return cf_error(ctx, "sendmsg: %s", strerror(e));
  }
  free(cbuf);
  if ((size_t)n < len) {
    bool gone = false;
    return cf_ctl_write(ctx, c, (const uint8_t *)data + n, len - (size_t)n, 0, &gone);
  }
  return 0;
}

int cf_ctl_write(cf_ctx *ctx, cf_ctl *c, const void *p, size_t n, int frame_type, bool *gone) {
  char who[64];
  snprintf(who, sizeof who, "runner -> SUT ctl#%d", c->id);
  if (frame_type > 0) cf_trace_frame(ctx, who, p, n, frame_type);
  else cf_trace_bytes(ctx, who, p, n);
  *gone = false;
  const uint8_t *q = p;
  uint64_t deadline = cf_now_ms() + 2000;
  while (n > 0) {
    ssize_t w = send(c->fd, q, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      q += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (remaining(deadline) == 0)
        return cf_fail_wait(ctx, NULL, "the SUT reads its control connection",
                            "the SUT did not read ctl#%d for 2 s (%zu bytes unsent)", c->id, n);
      struct pollfd pf = {c->fd, POLLOUT, 0};
      (void)poll(&pf, 1, remaining(deadline));
      continue;
    }
    cf_trace_note(ctx, "write on ctl#%d failed: %s (%zu bytes unsent)", c->id, strerror(errno), n);
    *gone = true;
    return -1;
  }
  return 0;
}

/* Read what is there (waiting up to timeout_ms for the first byte). 1 data,
 * 0 timeout, -1 EOF/reset. Descriptors sent to the broker are a violation. */
static int fill(cf_ctx *ctx, cf_ctl *c, int timeout_ms) {
  if (c->eof) return -1;
  struct pollfd p = {c->fd, POLLIN, 0};
  int pr;
  do pr = poll(&p, 1, timeout_ms);
  while (pr < 0 && errno == EINTR);
  if (pr <= 0) return 0;
  if (c->rlen >= CF_CTL_RBUF) return 1;
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int) * 16)];
  } u;
  struct iovec iov = {c->rbuf + c->rlen, CF_CTL_RBUF - c->rlen};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                     .msg_controllen = sizeof u.b};
  ssize_t n = recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  int nfds = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); n >= 0 && h != NULL; h = CMSG_NXTHDR(&m, h)) {
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
      close(fd);
      nfds++;
    }
  }
  if (nfds > 0)
    cf_fail(ctx, "XFER-21", "the backend sends nothing but ACK frames on a control connection",
            "the SUT sent %d descriptor(s) to the broker on ctl#%d", nfds, c->id);
  if (n <= 0) {
    c->eof = true;
    c->reset = n < 0;
    cf_trace_note(ctx, "SUT -> runner ctl#%d: %s", c->id,
                  n == 0 ? "EOF (the SUT closed the control connection)" : strerror(errno));
    return -1;
  }
  char who[64];
  snprintf(who, sizeof who, "SUT -> runner ctl#%d read", c->id);
  cf_trace_bytes(ctx, who, c->rbuf + c->rlen, (size_t)n);
  c->rlen += (size_t)n;
  return 1;
}

int cf_ctl_read_frame(cf_ctx *ctx, cf_ctl *c, int timeout_ms, const uint8_t **frame, size_t *len) {
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    if (c->rlen >= 5) {
      uint32_t body = (uint32_t)c->rbuf[1] | (uint32_t)c->rbuf[2] << 8 |
                      (uint32_t)c->rbuf[3] << 16 | (uint32_t)c->rbuf[4] << 24;
      if (body > 64u * 1024u) return CF_RD_BIG;
      if (c->rlen >= 5u + body) {
        /* The frame stays at the front of rbuf until cf_ctl_consume(). */
        *frame = c->rbuf;
        *len = 5u + body;
        char who[64];
        snprintf(who, sizeof who, "SUT -> runner ctl#%d", c->id);
        cf_trace_frame(ctx, who, c->rbuf, 5u + body, HO_FT_ACK);
        return CF_RD_FRAME;
      }
    }
    int r = fill(ctx, c, remaining(deadline));
    if (r < 0) return c->rlen == 0 ? CF_RD_EOF : CF_RD_TRUNC;
    if (r == 0 && remaining(deadline) == 0) return CF_RD_TIMEOUT;
  }
}

void cf_ctl_consume(cf_ctl *c, size_t n) {
  if (n > c->rlen) n = c->rlen;
  memmove(c->rbuf, c->rbuf + n, c->rlen - n);
  c->rlen -= n;
}

int cf_ctl_wait_closed(cf_ctx *ctx, cf_ctl *c, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (!c->eof) {
    if (c->rlen > 0) return c->rlen >= 5 ? CF_RD_FRAME : CF_RD_TRUNC;
    int r = fill(ctx, c, remaining(deadline));
    if (r == 0 && remaining(deadline) == 0) return CF_RD_TIMEOUT;
  }
  return c->rlen == 0 ? CF_RD_EOF : CF_RD_TRUNC;
}

bool cf_ctl_is_open(cf_ctx *ctx, cf_ctl *c) {
  if (!c->eof && c->rlen == 0) (void)fill(ctx, c, 0);
  return !c->eof;
}
