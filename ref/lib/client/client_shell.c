/* handoff — the blocking shell of the client core (client_core.c): connect,
 * poll with deadlines, read and write with MSG_DONTWAIT|MSG_NOSIGNAL, close.
 * Every protocol decision is the core's. spec: CLIENT-5 ERR-3 READY-14 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handoff/client.h"
#include "handoff/token.h"
#include "handoff/frame.h"
#include "client/client_shell_internal.h"
#include "net/xfer_internal.h"

uint64_t ho_client_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t ho_client_now_ms(void) { return ho_client_now_us() / 1000u; }

static uint64_t deadline_after(int timeout_ms) {
  return timeout_ms < 0 ? 0 : ho_client_now_ms() + (uint64_t)timeout_ms;
}

static int wait_fd(int fd, short events, uint64_t deadline_ms) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, ho_client_shell_ms_left(deadline_ms));
    if (r > 0) return HO_OK;
    if (r == 0) return HO_ERR_TIMEOUT;
    if (errno != EINTR) return HO_ERR_IO;
  }
}

/* spec: ERR-3 CLIENT-5 — MSG_NOSIGNAL: a gone peer is an error code
 * (EPIPE → CLOSED), never a signal. */
static int write_all_until(int fd, const uint8_t *p, size_t n, uint64_t deadline_ms) {
  size_t off = 0;
  for (;;) {
    int rc = ho_sock_send_now(fd, p, n, &off);
    if (rc == HO_OK) return HO_OK;
    if (rc != HO_ERR_WOULD_BLOCK) return rc == HO_ERR_CLOSED ? rc : HO_ERR_IO;
    rc = wait_fd(fd, POLLOUT, deadline_ms);
    if (rc != HO_OK) return rc;
  }
}

/* Read exactly n bytes by the deadline. */
static int read_exact_until(int fd, uint8_t *p, size_t n, uint64_t deadline_ms, size_t *got) {
  size_t off = 0;
  while (off < n) {
    ssize_t r = recv(fd, p + off, n - off, MSG_DONTWAIT);
    if (r > 0) {
      off += (size_t)r;
      continue;
    }
    if (r == 0) {
      *got = off;
      return HO_ERR_CLOSED;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *got = off;
      return errno == ECONNRESET ? HO_ERR_CLOSED : HO_ERR_IO;
    }
    int rc = wait_fd(fd, POLLIN, deadline_ms);
    if (rc != HO_OK) {
      *got = off;
      return rc;
    }
  }
  *got = off;
  return HO_OK;
}

int ho_client_write_all(ho_handle fd, const void *buf, size_t n, int timeout_ms) {
  if (fd < 0 || (buf == NULL && n > 0)) return HO_ERR_INVALID_ARGUMENT;
  return write_all_until((int)fd, buf, n, deadline_after(timeout_ms));
}

int ho_client_read_exact(ho_handle fd, void *buf, size_t n, int timeout_ms, size_t *got) {
  size_t g = 0;
  if (fd < 0 || (buf == NULL && n > 0)) return HO_ERR_INVALID_ARGUMENT;
  int rc = read_exact_until((int)fd, buf, n, deadline_after(timeout_ms), &g);
  if (got != NULL) *got = g;
  return rc;
}

/* ---- the blocking shell around the client core ------------------------- */

/* spec: CLIENT-5 — a reset is EOF; everything else keeps its name. */
static int recv_err(int e) {
  int rc = ho_err_from_errno(e);
  return rc == HO_ERR_CLOSED ? HO_ERR_CLOSED : rc == HO_ERR_FD_EXHAUSTED ? rc : HO_ERR_IO;
}

/* One READ action: at most `len` bytes by the deadline; on the deadline one
 * last non-blocking look (spec: READY-14). */
static void do_read(ho_client_core *core, int fd, size_t len, uint64_t deadline_ms) {
  uint8_t buf[16384];
  if (len > sizeof buf) len = sizeof buf;
  for (;;) {
    ssize_t r = recv(fd, buf, len, MSG_DONTWAIT);
    if (r > 0) {
      (void)ho_client_core_data(core, buf, (size_t)r, ho_client_now_ms());
      return;
    }
    if (r == 0) {
      (void)ho_client_core_eof(core, HO_ERR_CLOSED, ho_client_now_ms());
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      (void)ho_client_core_eof(core, recv_err(errno), ho_client_now_ms());
      return;
    }
    int rc = wait_fd(fd, POLLIN, deadline_ms);
    if (rc == HO_ERR_TIMEOUT) {
      r = recv(fd, buf, len, MSG_DONTWAIT);
      if (r > 0) (void)ho_client_core_data(core, buf, (size_t)r, ho_client_now_ms());
      else if (r == 0) (void)ho_client_core_eof(core, HO_ERR_CLOSED, ho_client_now_ms());
      else (void)ho_client_core_timeout(core, ho_client_now_ms());
      return;
    }
    if (rc != HO_OK) {
      (void)ho_client_core_eof(core, rc, ho_client_now_ms());
      return;
    }
  }
}

static void close_conn(ho_handle fd) {
  if (fd >= 0) close((int)fd);
}

int ho_client_connect(const ho_client_config *cfg, ho_client_result *out) {
  ho_client_config local;
  ho_client_core *core = NULL;
  int rc = ho_client_shell_begin(cfg, out, (uint32_t)getpid(), &local, &core);
  if (rc != HO_OK) return rc;
  int fd = -1;
  ho_diag diag = {0, ""};
  ho_client_action a;
  while (ho_client_shell_next(core, &a, out, &rc)) {
    switch (a.type) {
    case HO_CACT_CONNECT: {
      ho_handle h;
      ho_diag d;
      int crc = ho_unix_connect_diag(a.path, 0, &h, &d);
      if (crc == HO_OK) {
        /* spec: CLIENT-9 — who serves this endpoint, before a byte is written. */
        ho_peer_cred pc = {0};
        int prc = ho_peer_check(h, local.server_policy, local.server_uid, &pc);
        if (prc != HO_OK) {
          snprintf(d.msg, sizeof d.msg, "%s is served by pid %ld uid %ld, which the server policy rejects",
                   a.path, (long)pc.pid, (long)pc.uid);
          d.os_errno = 0;
          close((int)h);
          crc = HO_ERR_PEER_REJECTED;
        } else {
          fd = (int)h;
        }
      }
      if (crc != HO_OK) diag = d;
      (void)ho_client_core_connected(core, crc, ho_client_now_ms());
      break;
    }
    case HO_CACT_WRITE:
      (void)ho_client_core_written(core, write_all_until(fd, a.bytes, a.len, a.deadline_ms),
                                   ho_client_now_ms());
      break;
    case HO_CACT_READ:
      do_read(core, fd, a.len, a.deadline_ms);
      break;
    case HO_CACT_CLOSE:
      if (fd >= 0) close(fd);
      fd = -1;
      break;
    default:
      break;
    }
  }
  return ho_client_shell_end(core, out, &diag, rc, fd, close_conn);
}
