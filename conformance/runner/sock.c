/* handoff-conform — socket helpers (see sock.h). */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conform.h"
#include "ctx.h"
#include "procfs.h"

int cf_remaining(uint64_t deadline) {
  uint64_t now = cf_now_ms();
  return now >= deadline ? 0 : (int)(deadline - now);
}

static void unix_addr(struct sockaddr_un *a, const char *path) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  snprintf(a->sun_path, sizeof a->sun_path, "%s", path);
}

int cf_sock_listen(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a;
  unix_addr(&a, path);
  (void)unlink(path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int cf_sock_accept(int lfd, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) return -1;
    int left = cf_remaining(deadline);
    if (left == 0) return -1;
    struct pollfd p = {lfd, POLLIN, 0};
    (void)poll(&p, 1, left);
  }
}

int cf_sock_connect(const char *path, int timeout_ms, int *err) {
  struct sockaddr_un a;
  unix_addr(&a, path);
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return *err = errno, -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    *err = errno;
    close(fd);
    if (*err != EAGAIN || cf_remaining(deadline) == 0) return -1;
    cf_sleep_ms(2);
  }
}

int cf_sock_write(int fd, const void *p, size_t n, int timeout_ms) {
  const uint8_t *q = p;
  uint64_t deadline = cf_now_ms() + (uint64_t)timeout_ms;
  while (n > 0) {
    ssize_t w = send(fd, q, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      q += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    int left = cf_remaining(deadline);
    if (left == 0) return errno = ETIMEDOUT, -1;
    struct pollfd pf = {fd, POLLOUT, 0};
    (void)poll(&pf, 1, left);
  }
  return 0;
}

int cf_sock_read(int fd, cf_buf *b, size_t max, int timeout_ms, bool *reset) {
  struct pollfd pf = {fd, POLLIN, 0};
  int pr;
  do pr = poll(&pf, 1, timeout_ms > 0 ? timeout_ms : 0);
  while (pr < 0 && errno == EINTR);
  if (pr <= 0) return 0;
  uint8_t buf[65536];
  size_t want = max == 0 || max > sizeof buf ? sizeof buf : max;
  ssize_t n = recv(fd, buf, want, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) {
    if (reset != NULL) *reset = n < 0;
    return -1;
  }
  cf_buf_put(b, buf, (size_t)n);
  return 1;
}

size_t cf_frame_len(const uint8_t *p, size_t len, uint32_t cap, bool *big) {
  *big = false;
  if (len < 5) return 0;
  uint32_t body = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
  if (body > cap) {
    *big = true;
    return 0;
  }
  return len >= 5u + body ? 5u + body : 0;
}

void cf_sock_hold_peer(cf_ctx *ctx, int fd, const char *reqs, const char *what) {
  ino_t peer = cf_sock_peer_ino(fd);
  struct stat st;
  if (peer != 0 && fstat(fd, &st) == 0) cf_hold_ino(ctx, st.st_dev, peer, reqs, what);
}
