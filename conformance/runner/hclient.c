/* handoff-conform — broker mode: the runner as a client (see hclient.h). */
#include "hclient.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bkend.h"
#include "client.h"
#include "ctl.h"
#include "handoff/wire.h"
#include "sock.h"
#include "trace.h"

/* Connection ids of every Negotiated of the case (HELLO-9: unique). */
static uint64_t g_conn_ids[512];
static size_t g_nconn_ids;

int cf_hc_open(cf_ctx *ctx, cf_hc *hc) {
  memset(hc, 0, sizeof *hc);
  hc->id = ++ctx->nconn;
  int err = 0;
  hc->fd = cf_sock_connect(ctx->ep_client, 1000, &err);
  if (hc->fd < 0)
    return cf_fail_wait(ctx, "BROKER-3 ERR-4", "the broker accepts client connections on its endpoint",
                        "client#%d: connect(%s): %s", hc->id, ctx->ep_client, strerror(err));
  cf_trace_note(ctx, "client#%d connects to the SUT's client endpoint", hc->id);
  return 0;
}

void cf_hc_close(cf_ctx *ctx, cf_hc *hc) {
  if (hc->fd >= 0) {
    char what[96];
    snprintf(what, sizeof what, "the SUT's copy of client connection client#%d", hc->id);
    cf_sock_hold_peer(ctx, hc->fd, "BROKER-4 XFER-7", what);
    close(hc->fd);
  }
  hc->fd = -1;
  cf_buf_free(&hc->in);
}

int cf_hc_write(cf_ctx *ctx, cf_hc *hc, const void *p, size_t n) {
  char who[64];
  snprintf(who, sizeof who, "client#%d -> SUT", hc->id);
  cf_trace_bytes(ctx, who, p, n);
  if (cf_sock_write(hc->fd, p, n, 2000) == 0) return 0;
  cf_trace_note(ctx, "client#%d: write: %s", hc->id, strerror(errno));
  return -1;
}

void cf_hello_init(cf_ctx *ctx, ho_hello *h, uint64_t caps) {
  memset(h, 0, sizeof *h);
  h->client_min_protocol = h->client_max_protocol = HO_PROTOCOL_VERSION;
  snprintf(h->service_name, sizeof h->service_name, "%s", ctx->o->service);
  h->client_capabilities = caps;
}

int cf_hello_frame(const ho_hello *h, const cf_frame *env, cf_buf *out) {
  uint8_t payload[4096];
  size_t len = 0;
  if (ho_hello_encode(HO_CODEC_PROTOBUF_C, h, payload, sizeof payload, &len) != HO_OK) return -1;
  cf_frame f;
  if (env != NULL) f = *env;
  else cf_frame_init(&f, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, NULL, 0);
  f.payload = payload;
  f.payload_len = len;
  return cf_frame_build(&f, out);
}

/* Stay below the broker's declared Hello rate (HELLO-14): at most 3/4 of it
 * in any second. */
static void pace(cf_ctx *ctx) {
  static uint64_t sent[4096];
  static size_t head, count;
  long rate = cf_const(ctx->o, CF_K_HELLO_RATE);
  if (rate <= 0) return;
  size_t allow = (size_t)(rate * 3 / 4 > 1 ? rate * 3 / 4 : 1);
  if (allow > 4096) allow = 4096;
  for (;;) {
    uint64_t now = cf_now_ms();
    while (count > 0 && now - sent[head] >= 1000) {
      head = (head + 1) % 4096;
      count--;
    }
    if (count < allow) break;
    cf_sleep_ms((int)(1000 - (now - sent[head])) + 1);
  }
  sent[(head + count++) % 4096] = cf_now_ms();
}

int cf_hc_raw_hello(cf_ctx *ctx, cf_hc *hc, const void *p, size_t n) {
  pace(ctx);
  hc->hello_wall_ms = cf_wall_ms();
  if (cf_hc_write(ctx, hc, p, n) == 0) return 0;
  return cf_fail(ctx, "SEC-1 ERR-4", "the broker reads the Hello", "client#%d: the Hello could not be written: %s",
                 hc->id, strerror(errno));
}

int cf_hc_hello(cf_ctx *ctx, cf_hc *hc, const ho_hello *h, size_t early) {
  cf_buf b = {0};
  if (cf_hello_frame(h, NULL, &b) != 0) return cf_buf_free(&b), cf_error(ctx, "encode Hello");
  cf_trace_frame(ctx, "client -> SUT: Hello", b.p, b.len, HO_FT_HELLO);
  hc->caps = h->client_capabilities;
  hc->keepalive = h->client_keepalive_secs;
  if (early > sizeof hc->early) early = sizeof hc->early;
  hc->early_len = early;
  if (early > 0) {
    cf_nonce(ctx, hc->early, early);
    cf_buf_put(&b, hc->early, early);
    cf_trace_note(ctx, "client#%d writes %zu bytes right behind its Hello, in the same write", hc->id, early);
  }
  int rc = b.oom ? cf_error(ctx, "out of memory") : cf_hc_raw_hello(ctx, hc, b.p, b.len);
  cf_buf_free(&b);
  return rc;
}

size_t cf_hc_unread(cf_hc *hc) { return hc->in.len - hc->pos; }

static int read_more(cf_ctx *ctx, cf_hc *hc, int timeout_ms) {
  size_t before = hc->in.len;
  int r = cf_sock_read(hc->fd, &hc->in, 0, timeout_ms, &hc->reset);
  char who[64];
  snprintf(who, sizeof who, "SUT -> client#%d", hc->id);
  if (r > 0) cf_trace_bytes(ctx, who, hc->in.p + before, hc->in.len - before);
  if (r < 0) {
    hc->eof = true;
    cf_trace_note(ctx, "%s: %s", who, hc->reset ? "connection reset" : "EOF");
  }
  return r;
}

int cf_hc_frame(cf_ctx *ctx, cf_hc *hc, int timeout_ms, const uint8_t **frame, size_t *len) {
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (;;) {
    bool big = false;
    size_t n = cf_frame_len(hc->in.p + hc->pos, cf_hc_unread(hc), 64u * 1024u, &big);
    if (big) return CF_RD_BIG;
    if (n > 0) {
      *frame = hc->in.p + hc->pos;
      *len = n;
      hc->pos += n;
      return CF_RD_FRAME;
    }
    if (hc->eof) return cf_hc_unread(hc) ? CF_RD_TRUNC : CF_RD_EOF;
    if (read_more(ctx, hc, cf_remaining(deadline)) == 0 && cf_remaining(deadline) == 0) return CF_RD_TIMEOUT;
  }
}

static int take_reply(cf_ctx *ctx, cf_hc *hc, const uint8_t *f, size_t len);

int cf_hc_reply(cf_ctx *ctx, cf_hc *hc, int timeout_ms) {
  const uint8_t *f;
  size_t len;
  int r = cf_hc_frame(ctx, hc, timeout_ms, &f, &len);
  const char *exp = "exactly one complete HelloReply frame answers the Hello";
  if (r == CF_RD_TIMEOUT)
    return cf_fail_wait(ctx, "HELLO-2 BROKER-1", exp, "client#%d: no HelloReply within %d ms", hc->id, timeout_ms);
  if (r != CF_RD_FRAME)
    return cf_fail(ctx, "HELLO-2", exp, "client#%d: %s", hc->id,
                   r == CF_RD_EOF ? "the broker closed without a reply" : r == CF_RD_BIG ? "a reply header announcing more than 64 KiB"
                                                                           : "the broker closed inside its reply frame");
  cf_trace_frame(ctx, "HelloReply the client read", f, len, HO_FT_HELLO_REPLY);
  return take_reply(ctx, hc, f, len);
}

static int take_reply(cf_ctx *ctx, cf_hc *hc, const uint8_t *f, size_t len) {
  const char *exp = "exactly one complete HelloReply frame answers the Hello";
  hc->reply_wall_ms = cf_wall_ms();
  if (len <= sizeof hc->reply_frame) memcpy(hc->reply_frame, f, len);
  hc->reply_len = len;
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, f, len, &env, &m);
  if (rc != HO_OK)
    return cf_fail(ctx, "HELLO-2 ENV-4", "a valid HelloReply frame (RESPONSE on 0x0000)", "client#%d: the reply fails with %s",
                   hc->id, ho_errname(rc) ? ho_errname(rc) : "?");
  if (env.request_id != 0 || env.deadline_unix_ms != 0)
    return cf_fail(ctx, "HELLO-2 ENV-9", "request_id 0 and deadline_unix_ms 0 in a HelloReply",
                   "client#%d: request_id %llu, deadline_unix_ms %llu", hc->id, (unsigned long long)env.request_id,
                   (unsigned long long)env.deadline_unix_ms);
  if (m.hello_reply.which != HO_REPLY_NEGOTIATED && m.hello_reply.which != HO_REPLY_REFUSED)
    return cf_fail(ctx, "HELLO-2", exp, "client#%d: a HelloReply with neither negotiated nor refused", hc->id);
  hc->reply = m.hello_reply;
  hc->have_reply = true;
  return hc->reply.which;
}

static bool known_conn_id(uint64_t id) {
  for (size_t i = 0; i < g_nconn_ids; i++)
    if (g_conn_ids[i] == id) return true;
  if (g_nconn_ids < 512) g_conn_ids[g_nconn_ids++] = id;
  return false;
}

/* The Negotiated checks of HELLO-9 and the capability rules; `offered`:
 * the reply came inside a coalesced offer (1 reply_adopted, 2
 * reply_declined), not from the broker's own write. */
static int check_negotiated(cf_ctx *ctx, cf_hc *hc, int offered) {
  const ho_negotiated *n = &hc->reply.negotiated;
  uint64_t sc = n->server_capabilities, cc = hc->caps, ka = hc->keepalive ? hc->keepalive : 1800;
  bool token = n->handle_passed_token_len == 16;
  if (token) cf_note_token(ctx, n->handle_passed_token);
  const char *exp = "Negotiated per HELLO-9: protocol 1, backend_pipe, connection_id, keepalive, token";
  if (n->negotiated_protocol != 1 || n->backend_pipe[0] == '\0' || n->connection_id == 0 ||
      n->keepalive_interval_secs != ka || (n->handle_passed_token_len != 0 && !token))
    return cf_fail(ctx, "HELLO-9", exp,
                   "client#%d: protocol %u, backend_pipe \"%.60s\", connection_id %llu, keepalive %llu (expected %llu), "
                   "token of %zu bytes", hc->id, n->negotiated_protocol, n->backend_pipe, (unsigned long long)n->connection_id,
                   (unsigned long long)n->keepalive_interval_secs, (unsigned long long)ka, n->handle_passed_token_len);
  if (strcmp(n->backend_pipe, ctx->ep_pipe) != 0)
    return cf_fail(ctx, "BROKER-6 FALLBACK-1", "backend_pipe is the endpoint of the backend that serves the service",
                   "client#%d: backend_pipe \"%.80s\", the backend's is \"%s\"", hc->id, n->backend_pipe, ctx->ep_pipe);
  if (offered != 2 && known_conn_id(n->connection_id))
    return cf_fail(ctx, "HELLO-9", "connection_id unique among the broker's client connections",
                   "client#%d: connection_id %llu was given to another connection", hc->id, (unsigned long long)n->connection_id);
  const char *why = NULL, *reqs = NULL;
  if (sc & ~(HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY))
    why = "an unassigned bit is set", reqs = "CAP-2";
  else if (!(sc & HO_CAP_EARLY_DATA))
    why = "CAP_EARLY_DATA is missing", reqs = "CAP-6";
  else if (((sc & HO_CAP_HANDLE_PASSING) != 0) != token)
    why = "CAP_HANDLE_PASSING is set if and only if a token is present: not so here", reqs = "CAP-4";
  else if ((sc & (HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY)) & ~cc)
    why = "CAP_HANDLE_PASSING or CAP_BACKEND_READY is set though the Hello did not set it", reqs = "CAP-3";
  else if ((sc & HO_CAP_BACKEND_READY) && !token)
    why = "CAP_BACKEND_READY without a token", reqs = "CAP-5";
  else if (offered && (!(sc & HO_CAP_COALESCED_REPLY) || (offered == 2) == token ||
                      ((sc & HO_CAP_BACKEND_READY) != 0) != token))
    why = "the replies of a coalesced offer: CAP_COALESCED_REPLY in both, the token, CAP_HANDLE_PASSING and "
          "CAP_BACKEND_READY in reply_adopted only",
    reqs = "READY-26 CAP-12";
  else if ((sc & HO_CAP_COALESCED_REPLY) && (offered ? !(cc & HO_CAP_COALESCED_REPLY)
                                                     : token || !(cc & HO_CAP_COALESCED_REPLY)))
    why = token ? "CAP_COALESCED_REPLY in a Negotiated with a token written by the broker (only the backend writes "
                  "reply_adopted)"
                : "CAP_COALESCED_REPLY though the Hello did not set it",
    reqs = "CAP-12";
  if (why != NULL)
    return cf_fail(ctx, reqs, "server_capabilities as the capability registry requires (CAP-2..CAP-6, CAP-12)",
                   "client#%d: Hello capabilities 0x%llx, Negotiated 0x%llx: %s", hc->id, (unsigned long long)cc,
                   (unsigned long long)sc, why);
  return 0;
}

int cf_hc_negotiated(cf_ctx *ctx, cf_hc *hc, int timeout_ms) {
  int r = cf_hc_reply(ctx, hc, timeout_ms);
  if (r == HO_REPLY_REFUSED)
    return cf_fail(ctx, "FALLBACK-1 HELLO-3", "a Negotiated (every check of the Hello passes)",
                   "client#%d: Refused{code %u, reason \"%.100s\"}", hc->id, hc->reply.refused.code,
                   hc->reply.refused.reason);
  return r < 0 ? -1 : check_negotiated(ctx, hc, 0);
}

int cf_hc_offered_reply(cf_ctx *ctx, cf_hc *hc, const uint8_t *f, size_t len, int which) {
  char who[64];
  snprintf(who, sizeof who, "%s in the offer", which == 1 ? "reply_adopted" : "reply_declined");
  bool big = false;
  if (len == 0 || len > 4096 || cf_frame_len(f, len, 4096, &big) != len)
    return cf_fail(ctx, "READY-26", "reply_adopted and reply_declined: each one complete HelloReply frame of at most "
                   "REPLY_MAX (4096) bytes", "%s: %zu bytes, %s", who, len, len ? "not exactly one frame" : "absent");
  cf_trace_frame(ctx, who, f, len, HO_FT_HELLO_REPLY);
  int r = take_reply(ctx, hc, f, len);
  if (r == HO_REPLY_REFUSED)
    return cf_fail(ctx, "READY-26", "the replies of a coalesced offer are Negotiated", "%s is a Refused", who);
  return r < 0 ? -1 : check_negotiated(ctx, hc, which);
}

int cf_hc_wait_end(cf_ctx *ctx, cf_hc *hc, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  while (cf_hc_unread(hc) == 0) {
    if (hc->eof) return 1;
    if (read_more(ctx, hc, cf_remaining(deadline)) == 0 && cf_remaining(deadline) == 0) return 0;
  }
  return 2;
}

int cf_hc_refused(cf_ctx *ctx, cf_hc *hc, uint32_t code, const char *reason, const char *reqs) {
  int r = cf_hc_reply(ctx, hc, 2000);
  if (r < 0) return -1;
  char exp[200];
  snprintf(exp, sizeof exp, "Refused{code %u%s%s%s}", code, reason ? ", reason \"" : "", reason ? reason : "",
           reason ? "\"" : "");
  const ho_refused *f = &hc->reply.refused;
  if (r != HO_REPLY_REFUSED)
    return cf_fail(ctx, reqs, exp, "client#%d: a Negotiated%s", hc->id,
                   hc->reply.negotiated.handle_passed_token_len ? " with a token" : "");
  if (f->code != code || (reason != NULL && strcmp(f->reason, reason) != 0))
    return cf_fail(ctx, reqs, exp, "client#%d: Refused{code %u, reason \"%.120s\"}", hc->id, f->code, f->reason);
  if (f->daemon_min_protocol != 1 || f->daemon_max_protocol != 1 ||
      (f->retry_after_ms != 0) != (code == HO_REFUSE_RATE_LIMITED))
    return cf_fail(ctx, "HELLO-8", "daemon_min_protocol = daemon_max_protocol = 1; retry_after_ms only with "
                   "ERROR_RATE_LIMITED", "client#%d: protocols %u..%u, retry_after_ms %llu", hc->id,
                   f->daemon_min_protocol, f->daemon_max_protocol, (unsigned long long)f->retry_after_ms);
  int e = cf_hc_wait_end(ctx, hc, 1000);
  if (e != 1)
    return (e == 0 ? cf_fail_wait : cf_fail)(ctx, "HELLO-10", "the broker closes the connection after its Refused",
                                             "client#%d: %s", hc->id, e == 0 ? "still open 1000 ms after the Refused"
                                                                            : "more bytes after the Refused");
  return 0;
}

int cf_hc_closed_silently(cf_ctx *ctx, cf_hc *hc, int timeout_ms, const char *reqs) {
  int e = cf_hc_wait_end(ctx, hc, timeout_ms);
  if (e == 1) return 0;
  if (e == 0)
    return cf_fail_wait(ctx, reqs, "the broker closes the connection without a reply",
                        "client#%d: still open after %d ms", hc->id, timeout_ms);
  return cf_fail(ctx, reqs, "the broker closes the connection without a reply", "client#%d: the broker wrote %zu bytes",
                 hc->id, cf_hc_unread(hc));
}

int cf_hc_ready(cf_ctx *ctx, cf_hc *hc, uint64_t corr, int timeout_ms, const char *reqs) {
  const uint8_t *f;
  size_t len;
  int r = cf_hc_frame(ctx, hc, timeout_ms, &f, &len);
  const char *exp = "the ready frame: EVENT on 0xD0FF, HandoffAck{the negotiated token, accepted, correlation_id}, "
                    "request_id = correlation_id, backend_capabilities 0 (READY-1)";
  if (r != CF_RD_FRAME)
    return (r == CF_RD_TIMEOUT ? cf_fail_wait : cf_fail)(ctx, reqs, exp, "client#%d: %s", hc->id,
                                                         r == CF_RD_TIMEOUT ? "no ready frame in time"
                                                         : r == CF_RD_EOF   ? "EOF instead of the ready frame"
                                                                            : "no complete ready frame");
  cf_trace_frame(ctx, "the ready frame the client read", f, len, HO_FT_READY);
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, f, len, &env, &m);
  const ho_negotiated *n = &hc->reply.negotiated;
  if (rc != HO_OK || memcmp(m.ack.token, n->handle_passed_token, 16) != 0 || !m.ack.accepted ||
      m.ack.correlation_id != corr || m.ack.backend_capabilities != 0 || m.ack.error_detail[0] != '\0' ||
      env.deadline_unix_ms != 0)
    return cf_fail(ctx, "READY-1", exp, "client#%d: %s%s", hc->id, rc != HO_OK ? "the frame fails with " : "a ready frame with other fields",
                   rc != HO_OK && ho_errname(rc) ? ho_errname(rc) : "");
  return 0;
}

int cf_hc_fallback(cf_ctx *ctx, cf_hc *hc, const char *reqs) {
  const char *path = hc->have_reply ? hc->reply.negotiated.backend_pipe : ctx->ep_pipe;
  int err = 0;
  int fd = cf_sock_connect(path, 1000, &err);
  if (fd < 0)
    return cf_fail(ctx, "BROKER-6 FALLBACK-1", "Negotiated.backend_pipe reaches the backend",
                   "client#%d: connect(%.80s): %s", hc->id, path, strerror(err));
  uint8_t req[48];
  cf_nonce(ctx, req, sizeof req);
  cf_trace_note(ctx, "client#%d falls back: a new connection to backend_pipe and its request there", hc->id);
  int rc = cf_sock_write(fd, req, sizeof req, 1000) == 0 ? cf_bk_pipe_echo(ctx, sizeof req, 1000, reqs) : -1;
  cf_buf in = {0};
  bool reset = false;
  uint64_t deadline = cf_now_ms() + 1000;
  while (rc == 0 && in.len < sizeof req && cf_sock_read(fd, &in, sizeof req - in.len, cf_remaining(deadline), &reset) >= 0 &&
         cf_remaining(deadline) > 0) {
  }
  if (rc == 0 && (in.len != sizeof req || memcmp(in.p, req, sizeof req) != 0))
    rc = cf_error(ctx, "the runner's own backend_pipe did not echo");
  cf_buf_free(&in);
  close(fd);
  return rc;
}
