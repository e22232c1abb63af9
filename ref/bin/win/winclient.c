/* handoff — the reference client's protocol on Windows pipes (winclient.h).
 * spec: CLIENT-1 CLIENT-2 CLIENT-5 FALLBACK-4 FALLBACK-24 READY-4 */
#include "winclient.h"

#include <string.h>

#include "handoff/frame.h"
#include "handoff/token.h"
#include "winloop.h"

enum { NOT_REQUESTED = 1, NOT_OFFERED = 2 };

const char *wc_reason_name(int reason) {
  if (reason == HO_OK) return "none";
  if (reason == NOT_REQUESTED) return "NOT_REQUESTED";
  if (reason == NOT_OFFERED) return "NOT_OFFERED";
  const char *n = ho_errname(reason);
  return n ? n : "UNKNOWN";
}

static uint64_t us_since(uint64_t t0) { return (wl_now_ns() - t0) / 1000u; }

/* One whole frame (header + body) into buf. */
static int read_frame(ho_handle h, uint8_t *buf, size_t cap, size_t *len, int timeout_ms) {
  size_t got;
  int rc = ho_pipe_read_exact(h, buf, HO_FRAME_HEADER_BYTES, timeout_ms, &got);
  if (rc != HO_OK) return rc == HO_ERR_CLOSED && got > 0 ? HO_ERR_TRUNCATED : rc;
  uint32_t n = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 24;
  if (buf[0] != HO_FRAMING_VERSION) return HO_ERR_FRAMING_VERSION;
  if (n > cap - HO_FRAME_HEADER_BYTES) return HO_ERR_FRAME_TOO_LARGE;
  rc = ho_pipe_read_exact(h, buf + HO_FRAME_HEADER_BYTES, n, timeout_ms, &got);
  if (rc != HO_OK) return rc == HO_ERR_CLOSED ? HO_ERR_TRUNCATED : rc;
  *len = HO_FRAME_HEADER_BYTES + n;
  return HO_OK;
}

int wc_connect(const wc_config *cfg, wc_result *r) {
  memset(r, 0, sizeof *r);
  r->conn = HO_NO_HANDLE;
  r->start_ns = wl_now_ns();
  if (cfg->connect == NULL || cfg->service == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_handle h;
  int rc = ho_pipe_connect(cfg->connect, 5000, &h);
  if (rc != HO_OK) return rc;
  static ho_any_msg m; /* large: not on the stack */
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = m.hello.client_max_protocol = HO_PROTOCOL_VERSION;
  strncpy(m.hello.service_name, cfg->service, HO_MAX_SERVICE_NAME);
  strcpy(m.hello.client_lib_name, "handoff-ref-win");
  m.hello.peer_pid = (uint32_t)GetCurrentProcessId();
  if (cfg->handoff) m.hello.client_capabilities = HO_CAP_HANDLE_PASSING;
  static uint8_t buf[70000];
  size_t len;
  if ((rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, buf, sizeof buf, &len)) != HO_OK ||
      (rc = ho_pipe_write_all(h, buf, len, 30000)) != HO_OK ||
      (rc = read_frame(h, buf, sizeof buf, &len, 30000)) != HO_OK ||
      (rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, buf, len, NULL, &m)) != HO_OK) {
    ho_win_close(h);
    return rc;
  }
  r->us_negotiated = us_since(r->start_ns);
  if (m.hello_reply.which == HO_REPLY_REFUSED) {
    r->refused = m.hello_reply.refused;
    ho_win_close(h);
    return HO_ERR_REFUSED;
  }
  if (m.hello_reply.which != HO_REPLY_NEGOTIATED || m.hello_reply.negotiated.backend_pipe[0] == 0) {
    ho_win_close(h);
    return HO_ERR_MALFORMED; /* spec: CLIENT-2 CLIENT-4 */
  }
  ho_negotiated neg = m.hello_reply.negotiated;
  bool offered = neg.handle_passed_token_len == HO_TOKEN_BYTES &&
                 (neg.server_capabilities & HO_CAP_HANDLE_PASSING);
  int reason = !cfg->handoff ? NOT_REQUESTED : !offered ? NOT_OFFERED : HO_OK;
  if (reason == HO_OK) {
    /* spec: READY-4 — a valid ready frame with our token, or fall back. */
    rc = read_frame(h, buf, sizeof buf, &len, cfg->ready_timeout_ms ? (int)cfg->ready_timeout_ms : 2000);
    if (rc == HO_OK) rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, buf, len, NULL, &m);
    if (rc == HO_OK && !ho_token_equal(m.ack.token, neg.handle_passed_token)) rc = HO_ERR_TOKEN_MISMATCH;
    if (rc == HO_OK && !m.ack.accepted) rc = HO_ERR_ACK_REFUSED;
    if (rc == HO_OK) {
      r->route = 1;
      r->corr = m.ack.correlation_id;
      r->conn = h;
      r->us_ready = r->us_connected = us_since(r->start_ns);
      return HO_OK;
    }
    reason = rc;
  }
  /* spec: FALLBACK-24 — silently to backend_pipe. */
  ho_win_close(h);
  r->fallback_reason = reason;
  rc = ho_pipe_connect(neg.backend_pipe, 5000, &h);
  if (rc != HO_OK) return rc;
  r->route = 2;
  r->conn = h;
  r->us_connected = us_since(r->start_ns);
  return HO_OK;
}
