/* handoff — client side of the protocol: Hello, Negotiated, the ready frame
 * and the silent fallback to backend_pipe.
 * spec: CLIENT-1 CLIENT-5 CLIENT-6 CLIENT-8 FALLBACK-4 FALLBACK-24 FALLBACK-15
 * spec: READY-4 READY-5 READY-13 READY-14 READY-20 READY-21 ERR-65 ERR-66 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handoff/client.h"
#include "handoff/token.h"
#include "handoff/frame.h"

uint64_t ho_client_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ho_client_config_init(ho_client_config *cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->ready_timeout_ms = HO_CLIENT_DEFAULT_READY_TIMEOUT_MS;
  cfg->io_timeout_ms = HO_CLIENT_DEFAULT_IO_TIMEOUT_MS;
  cfg->codec = HO_CODEC_PROTOBUF_C;
}

const char *ho_client_reason_name(int reason) {
  switch (reason) {
  case HO_OK: return "none";
  case HO_CLIENT_NOT_REQUESTED: return "NOT_REQUESTED";
  case HO_CLIENT_NOT_OFFERED: return "NOT_OFFERED";
  case HO_CLIENT_EARLY_LEGACY: return "EARLY_DATA_LEGACY";
  default: {
    const char *n = ho_errname(reason);
    return n ? n : "UNKNOWN";
  }
  }
}

/* Milliseconds left until `deadline_ns` (0 if passed); -1 for no deadline. */
static int ms_left(uint64_t deadline_ns) {
  if (deadline_ns == 0) return -1;
  uint64_t now = ho_client_now_ns();
  if (now >= deadline_ns) return 0;
  uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

static uint64_t deadline_after(int timeout_ms) {
  return timeout_ms < 0 ? 0 : ho_client_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

static int wait_fd(int fd, short events, uint64_t deadline_ns) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, ms_left(deadline_ns));
    if (r > 0) return HO_OK;
    if (r == 0) return HO_ERR_TIMEOUT;
    if (errno != EINTR) return HO_ERR_IO;
  }
}

/* spec: ERR-3 CLIENT-5 — MSG_NOSIGNAL: a gone peer is an error code
 * (EPIPE → CLOSED), never a signal. */
static int write_all_until(int fd, const uint8_t *p, size_t n, uint64_t deadline_ns) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int rc = wait_fd(fd, POLLOUT, deadline_ns);
      if (rc != HO_OK) return rc;
      continue;
    }
    int rc = w < 0 ? ho_err_from_errno(errno) : HO_ERR_IO;
    return rc == HO_ERR_CLOSED ? rc : HO_ERR_IO;
  }
  return HO_OK;
}

/* Read exactly n bytes. With `last_look`, a deadline that passes while
 * nothing at all has arrived ends in one last non-blocking check; if bytes
 * are there the wait is extended once by `last_look` ms (READY-14). */
static int read_exact_until(int fd, uint8_t *p, size_t n, uint64_t deadline_ns, size_t *got,
                            int last_look) {
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
    int rc = wait_fd(fd, POLLIN, deadline_ns);
    if (rc == HO_ERR_TIMEOUT && last_look > 0) {
      uint8_t c;
      ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
      if (k > 0) { /* a byte arrived at the last moment: finish the frame */
        deadline_ns = deadline_after(last_look);
        last_look = 0;
        continue;
      }
    }
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
  int rc = read_exact_until((int)fd, buf, n, deadline_after(timeout_ms), &g, 0);
  if (got != NULL) *got = g;
  return rc;
}

/* Read exactly one frame (never a byte past it). *body is malloc'd. */
static int read_frame(int fd, uint64_t deadline_ns, uint32_t cap, uint8_t **body, size_t *len,
                      int last_look) {
  uint8_t hdr[HO_FRAME_HEADER_BYTES];
  size_t got = 0;
  int rc = read_exact_until(fd, hdr, sizeof hdr, deadline_ns, &got, last_look);
  if (rc != HO_OK) return rc == HO_ERR_CLOSED && got > 0 ? HO_ERR_TRUNCATED : rc;
  if (hdr[0] != HO_FRAMING_VERSION) return HO_ERR_FRAMING_VERSION; /* spec: FRAME-2 */
  uint32_t n = (uint32_t)hdr[1] | (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3] << 16 |
               (uint32_t)hdr[4] << 24;
  if (n > cap) return HO_ERR_FRAME_TOO_LARGE; /* spec: FRAME-3 */
  uint8_t *b = malloc(n ? n : 1);
  if (b == NULL) return HO_ERR_NOMEM;
  rc = read_exact_until(fd, b, n, deadline_ns, &got, last_look ? 1000 : 0);
  if (rc != HO_OK) {
    free(b);
    return rc == HO_ERR_CLOSED ? HO_ERR_TRUNCATED : rc; /* spec: FRAME-4 */
  }
  *body = b;
  *len = n;
  return HO_OK;
}

/* One Hello first, capability bits only for what this client will really
 * do; the token travels nowhere else. spec: HELLO-1 CAP-8 CAP-2 SEC-6 */
static int send_hello(const ho_client_config *cfg, int fd, bool early, uint64_t deadline_ns) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = HO_PROTOCOL_VERSION;
  m.hello.client_max_protocol = HO_PROTOCOL_VERSION;
  strcpy(m.hello.service_name, cfg->service_name);
  strcpy(m.hello.client_lib_name, "handoff-ref");
  strcpy(m.hello.client_lib_version, HO_LIBRARY_VERSION_STRING);
  m.hello.peer_pid = (uint32_t)getpid();
  if (cfg->handoff) {
    m.hello.client_capabilities |= HO_CAP_HANDLE_PASSING;
    if (cfg->backend_ready) m.hello.client_capabilities |= HO_CAP_BACKEND_READY;
  }
  if (early) m.hello.client_capabilities |= HO_CAP_EARLY_DATA; /* spec: READY-20 */
  size_t cap = 4096 + (early ? cfg->request_len : 0), len = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL) return HO_ERR_NOMEM;
  int rc = ho_frame_encode(cfg->codec, HO_FT_HELLO, &m, buf, cap, &len);
  if (rc == HO_OK) {
    /* Early data travels in the same write as the Hello. */
    if (early) memcpy(buf + len, cfg->request, cfg->request_len), len += cfg->request_len;
    rc = write_all_until(fd, buf, len, deadline_ns);
  }
  free(buf);
  return rc;
}

/* Read and check the ready frame; EOF or a reset before it is complete is
 * "not adopted". spec: READY-4 ERR-65 ERR-66 ERR-66 CLIENT-5 */
static int read_ready(const ho_client_config *cfg, int fd, const ho_negotiated *neg,
                      uint64_t deadline_ns) {
  uint8_t *body = NULL;
  size_t len = 0;
  int rc = read_frame(fd, deadline_ns, HO_MAX_FRAME_BYTES, &body, &len, 1000);
  if (rc != HO_OK) return rc;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  rc = ho_frame_decode_body(cfg->codec, HO_FT_READY, body, len, NULL, &m);
  free(body);
  if (rc != HO_OK) return rc;
  /* correlation_id is deliberately not checked: the client never knew it. */
  /* spec: TOKEN-8 — constant-time comparison of the token echo. */
  if (!ho_token_equal(m.ack.token, neg->handle_passed_token)) return HO_ERR_TOKEN_MISMATCH;
  if (!m.ack.accepted) return HO_ERR_ACK_REFUSED;
  return HO_OK;
}

static uint64_t us_since(const ho_client_result *r) {
  return (ho_client_now_ns() - r->start_ns) / 1000u;
}

int ho_client_connect(const ho_client_config *cfg, ho_client_result *out) {
  if (out != NULL) {
    memset(out, 0, sizeof *out);
    out->conn = HO_NO_HANDLE;
  }
  if (cfg == NULL || out == NULL || cfg->connect_path == NULL || cfg->service_name == NULL ||
      strlen(cfg->service_name) == 0 || strlen(cfg->service_name) > HO_MAX_SERVICE_NAME ||
      (cfg->request == NULL && cfg->request_len > 0) ||
      (cfg->early_data && cfg->request_len == 0))
    return HO_ERR_INVALID_ARGUMENT;
  out->start_ns = ho_client_now_ns();
  uint32_t io_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : HO_CLIENT_DEFAULT_IO_TIMEOUT_MS;
  uint64_t io_deadline = deadline_after((int)(io_ms > 0x7fffffffu ? 0x7fffffffu : io_ms));

  ho_handle h;
  int rc = ho_unix_connect(cfg->connect_path, 0, &h);
  if (rc != HO_OK) return rc;
  int fd = (int)h;
  bool early = cfg->early_data && cfg->request_len > 0;
  rc = send_hello(cfg, fd, early, io_deadline);
  if (rc != HO_OK) goto fail;
  out->request_sent = early;

  /* spec: CLIENT-1 — exactly one frame: the HelloReply, bounded in time. */
  uint8_t *body = NULL;
  size_t len = 0;
  rc = read_frame(fd, io_deadline, HO_MAX_FRAME_BYTES, &body, &len, 0);
  if (rc != HO_OK) goto fail;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  rc = ho_frame_decode_body(cfg->codec, HO_FT_HELLO_REPLY, body, len, NULL, &m);
  free(body);
  /* spec: ERR-20 ERR-22 — a bad reply (or a token that is not 0 or 16
   * bytes) is a failure of the connection, reported with its name. */
  if (rc != HO_OK) goto fail;
  if (m.hello_reply.which == HO_REPLY_REFUSED) { /* spec: CLIENT-3 */
    out->refused = m.hello_reply.refused;
    rc = HO_ERR_REFUSED;
    goto fail;
  }
  /* spec: CLIENT-2 CLIENT-4 ERR-21 — no backend_pipe to fall back to. */
  if (m.hello_reply.which != HO_REPLY_NEGOTIATED || m.hello_reply.negotiated.backend_pipe[0] == 0) {
    rc = HO_ERR_MALFORMED;
    goto fail;
  }
  /* spec: VER-1 VER-2 — protocol 1 only; daemon_version plays no part. */
  if (m.hello_reply.negotiated.negotiated_protocol != HO_PROTOCOL_VERSION) {
    rc = HO_ERR_PROTOCOL_UNSUPPORTED;
    goto fail;
  }
  out->negotiated = m.hello_reply.negotiated;
  out->us_negotiated = us_since(out);
  const ho_negotiated *neg = &out->negotiated;

  int reason = HO_OK;
  if (!cfg->handoff) {
    reason = HO_CLIENT_NOT_REQUESTED;
  } else if (neg->handle_passed_token_len != HO_TOKEN_BYTES ||
             !(neg->server_capabilities & HO_CAP_HANDLE_PASSING)) {
    reason = HO_CLIENT_NOT_OFFERED; /* spec: FALLBACK-4 ERR-23 CAP-9 */
  } else {
    /* spec: CAP-9 CAP-1 — in effect only if both sides set it; other bits
     * of server_capabilities are ignored. */
    bool br = cfg->backend_ready && (neg->server_capabilities & HO_CAP_BACKEND_READY);
    if (early && !br) {
      reason = HO_CLIENT_EARLY_LEGACY; /* spec: READY-21 */
    } else {
      int rc2 = HO_OK;
      /* spec: READY-13 — in backend-ready mode the request goes right away. */
      if (br && !out->request_sent && cfg->request_len > 0) {
        rc2 = write_all_until(fd, cfg->request, cfg->request_len, io_deadline);
        out->request_sent = true;
      }
      uint32_t wait = cfg->ready_timeout_ms ? cfg->ready_timeout_ms
                                             : HO_CLIENT_DEFAULT_READY_TIMEOUT_MS;
      if (br && wait < HO_CLIENT_MIN_BACKEND_READY_WAIT_MS)
        wait = HO_CLIENT_MIN_BACKEND_READY_WAIT_MS; /* spec: READY-14 ERR-66 */
      if (rc2 == HO_OK)
        rc2 = read_ready(cfg, fd, neg, deadline_after((int)(wait > 0x7fffffffu ? 0x7fffffffu : wait)));
      if (rc2 == HO_OK) {
        out->us_ready = us_since(out);
        out->backend_ready = br;
        /* spec: READY-5 — legacy: nothing was written before ready. */
        if (!out->request_sent && cfg->request_len > 0) {
          rc2 = write_all_until(fd, cfg->request, cfg->request_len, io_deadline);
          out->request_sent = true;
          if (rc2 != HO_OK) {
            rc = rc2; /* adopted, then the service connection broke */
            goto fail;
          }
        }
        out->route = HO_ROUTE_HANDOFF;
        out->conn = fd;
        out->us_connected = out->us_ready;
        return HO_OK;
      }
      reason = rc2; /* spec: FALLBACK-24 — not adopted */
    }
  }
  /* Fallback: close the broker connection first (READY-14), then reconnect
   * to backend_pipe and (re-)send the request there. */
  close(fd);
  fd = -1;
  out->fallback_reason = reason;
  out->request_sent = false;
  rc = ho_unix_connect(neg->backend_pipe, 0, &h);
  if (rc != HO_OK) return rc; /* spec: FALLBACK-15 */
  fd = (int)h;
  out->us_connected = us_since(out);
  if (cfg->request_len > 0) {
    rc = write_all_until(fd, cfg->request, cfg->request_len, deadline_after((int)io_ms));
    if (rc != HO_OK) goto fail;
    out->request_sent = true;
  }
  out->route = HO_ROUTE_RECONNECT;
  out->conn = fd;
  return HO_OK;
fail:
  if (fd >= 0) close(fd);
  out->conn = HO_NO_HANDLE;
  return rc;
}
