/* handoff-conform — the runner's client side (see client.h). */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "procfs.h"
#include "trace.h"

static int remaining(uint64_t deadline) {
  uint64_t now = cf_now_ms();
  return now >= deadline ? 0 : (int)(deadline - now);
}

static int accepted_pair(cf_ctx *ctx, int id, int sv[2]) {
  char path[108];
  snprintf(path, sizeof path, "%.80s/client-%d.sock", ctx->dir, id);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int c = -1, s = -1;
  if (bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 4) == 0) {
    c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0)
      s = accept4(l, NULL, NULL, SOCK_CLOEXEC); /* blocking, as accepted (XFER-25) */
  }
  close(l);
  unlink(path);
  if (s < 0) {
    if (c >= 0) close(c);
    return -1;
  }
  sv[0] = c;
  sv[1] = s;
  return 0;
}

int cf_conn_open(cf_ctx *ctx, cf_conn *k, int kind) {
  memset(k, 0, sizeof *k);
  k->c = k->s = -1;
  k->id = ++ctx->nconn;
  int sv[2];
  int rc = kind == CF_CONN_ACCEPTED ? accepted_pair(ctx, k->id, sv)
                                    : socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  if (rc != 0) return cf_error(ctx, "client connection: %s", strerror(errno));
  k->c = sv[0];
  k->s = sv[1];
  /* spec: XFER-25 — the descriptor a broker passes is in blocking mode. */
  int fl = fcntl(k->s, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) (void)fcntl(k->s, F_SETFL, fl & ~O_NONBLOCK);
  struct stat st;
  if (fstat(k->s, &st) == 0) {
    k->dev = st.st_dev;
    k->ino = st.st_ino;
  }
  cf_trace_note(ctx, "client#%d: %s (the handed-off end: ino=%lu, blocking)", k->id,
                kind == CF_CONN_ACCEPTED ? "real Unix socket connected and accepted"
                                         : "socket pair",
                (unsigned long)k->ino);
  return 0;
}

void cf_conn_close_s(cf_ctx *ctx, cf_conn *k) {
  if (k->s >= 0) {
    close(k->s);
    cf_trace_note(ctx, "broker closes its copy of client#%d", k->id);
  }
  k->s = -1;
}

void cf_conn_close(cf_ctx *ctx, cf_conn *k) {
  cf_conn_close_s(ctx, k);
  if (k->c >= 0) close(k->c);
  k->c = -1;
  cf_buf_free(&k->in);
}

int cf_conn_write(cf_ctx *ctx, cf_conn *k, const void *p, size_t n) {
  char who[64];
  snprintf(who, sizeof who, "client#%d -> SUT", k->id);
  cf_trace_bytes(ctx, who, p, n);
  const uint8_t *q = p;
  uint64_t deadline = cf_now_ms() + 2000;
  while (n > 0) {
    ssize_t w = send(k->c, q, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      q += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && remaining(deadline) > 0) {
      struct pollfd pf = {k->c, POLLOUT, 0};
      (void)poll(&pf, 1, remaining(deadline));
      continue;
    }
    cf_trace_note(ctx, "client#%d write: %s (%zu bytes unsent)", k->id,
                  w < 0 ? strerror(errno) : "timeout", n);
    return -1;
  }
  return 0;
}

/* One read into k->in; 1 data, 0 nothing before the timeout, -1 EOF/error. */
static int read_some(cf_ctx *ctx, cf_conn *k, int timeout_ms) {
  if (k->eof) return -1;
  struct pollfd pf = {k->c, POLLIN, 0};
  int pr;
  do pr = poll(&pf, 1, timeout_ms);
  while (pr < 0 && errno == EINTR);
  if (pr <= 0) return 0;
  uint8_t buf[65536];
  ssize_t n = recv(k->c, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) {
    k->eof = true;
    cf_trace_note(ctx, "SUT -> client#%d: %s", k->id, n == 0 ? "EOF" : strerror(errno));
    return -1;
  }
  char who[64];
  snprintf(who, sizeof who, "SUT -> client#%d", k->id);
  cf_trace_bytes(ctx, who, buf, (size_t)n);
  cf_buf_put(&k->in, buf, (size_t)n);
  return 1;
}

size_t cf_conn_read(cf_ctx *ctx, cf_conn *k, size_t want, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (k->in.len < want) {
    int r = read_some(ctx, k, remaining(deadline));
    if (r < 0) break;
    if (r == 0 && remaining(deadline) == 0) break;
  }
  return k->in.len;
}

size_t cf_conn_pending(cf_conn *k) {
  uint8_t buf[4096];
  ssize_t n = recv(k->c, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 ? (size_t)n : 0;
}

int cf_conn_wait_eof(cf_ctx *ctx, cf_conn *k, int timeout_ms) {
  size_t before = k->in.len;
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (!k->eof) {
    int r = read_some(ctx, k, remaining(deadline));
    if (r > 0) return 2;
    if (r == 0 && remaining(deadline) == 0) return 0;
  }
  return k->in.len > before ? 2 : 1;
}

size_t cf_conn_peek_s(cf_conn *k, void *buf, size_t cap) {
  if (k->s < 0) return 0;
  ssize_t n = recv(k->s, buf, cap, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 ? (size_t)n : 0;
}

void cf_nonce(cf_ctx *ctx, uint8_t *buf, size_t n) {
  static unsigned seq;
  char head[128];
  uint8_t r[8];
  char hex[17];
  cf_random(r, sizeof r);
  cf_hex(r, sizeof r, hex);
  int hl = snprintf(head, sizeof head, "nonce:%s:%u:%s:", ctx->c->id, ++seq, hex);
  for (size_t i = 0; i < n; i++)
    buf[i] = i < (size_t)hl ? (uint8_t)head[i] : (uint8_t)"0123456789abcdef"[(i * 7 + r[i % 8]) & 15];
}

/* Write `out` and read back into `in`, interleaved, until n bytes are in.
 * Returns bytes read in total. */
static size_t pump(cf_ctx *ctx, int fd, const char *who, const uint8_t *out, size_t n,
                   cf_buf *in, int timeout_ms, bool *eof, int *werr) {
  size_t sent = 0;
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  char label[80];
  snprintf(label, sizeof label, "%s -> SUT", who);
  cf_trace_bytes(ctx, label, out, n);
  snprintf(label, sizeof label, "SUT -> %s", who);
  while (in->len < n && !*eof && remaining(deadline) > 0) {
    struct pollfd pf = {fd, (short)(POLLIN | (sent < n ? POLLOUT : 0)), 0};
    int pr = poll(&pf, 1, remaining(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    if (sent < n && (pf.revents & POLLOUT)) {
      ssize_t w = send(fd, out + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) sent += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        *werr = errno;
        sent = n; /* stop writing; read what comes */
      }
    }
    if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
      uint8_t buf[65536];
      ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) {
        cf_trace_bytes(ctx, label, buf, (size_t)r);
        cf_buf_put(in, buf, (size_t)r);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        *eof = true;
        cf_trace_note(ctx, "%s: %s", label, r == 0 ? "EOF" : strerror(errno));
      }
    }
  }
  return in->len;
}

static int check_echo(cf_ctx *ctx, const char *who, const uint8_t *nonce, size_t n,
                      const uint8_t *got, size_t len, bool eof, int werr, const char *reqs) {
  if (len >= n && memcmp(got, nonce, n) == 0) return 0;
  size_t same = 0;
  while (same < len && same < n && got[same] == nonce[same]) same++;
  char exp[160];
  snprintf(exp, sizeof exp, "the %zu bytes sent on %s come back unchanged (echo service)", n, who);
  if (len < n && same == len)
    return (eof ? cf_fail : cf_fail_wait)(
        ctx, reqs, exp, "%zu of %zu bytes came back, then %s%s%s", len, n,
        eof ? "EOF" : "nothing within the timeout", werr ? "; write: " : "", werr ? strerror(werr) : "");
  return cf_fail(ctx, reqs, exp, "the bytes differ from byte %zu on (%zu bytes read)", same, len);
}

int cf_echo(cf_ctx *ctx, int fd, const char *who, size_t n, int timeout_ms, const char *reqs) {
  uint8_t *nonce = malloc(n);
  if (nonce == NULL) return cf_error(ctx, "out of memory");
  cf_nonce(ctx, nonce, n);
  cf_buf in = {0};
  bool eof = false;
  int werr = 0;
  pump(ctx, fd, who, nonce, n, &in, timeout_ms, &eof, &werr);
  int rc = check_echo(ctx, who, nonce, n, in.p, in.len, eof, werr, reqs);
  free(nonce);
  cf_buf_free(&in);
  return rc;
}

int cf_conn_echo(cf_ctx *ctx, cf_conn *k, size_t n, int timeout_ms, const char *reqs) {
  uint8_t *nonce = malloc(n);
  if (nonce == NULL) return cf_error(ctx, "out of memory");
  cf_nonce(ctx, nonce, n);
  char who[32];
  snprintf(who, sizeof who, "client#%d", k->id);
  size_t base = k->in.len; /* bytes read before (a ready frame) stay before */
  cf_buf tail = {0};
  bool eof = k->eof;
  int werr = 0;
  pump(ctx, k->c, who, nonce, n, &tail, timeout_ms, &eof, &werr);
  k->eof = eof;
  cf_buf_put(&k->in, tail.p, tail.len);
  int rc = check_echo(ctx, who, nonce, n, k->in.p + base, k->in.len - base, eof, werr, reqs);
  free(nonce);
  cf_buf_free(&tail);
  return rc;
}

int cf_pipe_connect(cf_ctx *ctx, int *id) {
  *id = ++ctx->npipe;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", ctx->ep_pipe);
  uint64_t deadline = cf_now_ms() + 1000;
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return cf_error(ctx, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      cf_trace_note(ctx, "pipe#%d: connected to backend_pipe", *id);
      return fd;
    }
    int e = errno;
    close(fd);
    if (e != EAGAIN || cf_now_ms() >= deadline) {
      cf_fail_wait(ctx, "BACKEND-1", "backend_pipe accepts connections (the fallback route)",
                   "connect(%s): %s", ctx->ep_pipe, strerror(e));
      return -1;
    }
    cf_sleep_ms(2);
  }
}

void cf_pipe_close(cf_ctx *ctx, int fd, int id) {
  if (fd < 0) return;
  ino_t peer = cf_sock_peer_ino(fd);
  struct stat st;
  if (peer != 0 && fstat(fd, &st) == 0) {
    char what[96];
    snprintf(what, sizeof what, "the SUT's end of backend_pipe connection pipe#%d", id);
    cf_hold_ino(ctx, st.st_dev, peer, "BACKEND-1 ERR-1", what);
  }
  close(fd);
}

int cf_pipe_echo(cf_ctx *ctx, size_t n, const char *reqs) {
  int id;
  int fd = cf_pipe_connect(ctx, &id);
  if (fd < 0) return -1;
  char who[32];
  snprintf(who, sizeof who, "pipe#%d", id);
  int rc = cf_echo(ctx, fd, who, n, 2000, reqs);
  cf_pipe_close(ctx, fd, id);
  return rc;
}
