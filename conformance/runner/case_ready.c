/* handoff-conform — cases: the ready frame in legacy and backend-ready
 * mode, early data, and a backend without backend-ready mode. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cases.h"
#include "handoff/msg.h"

/* Read exactly n bytes from the broker's copy s (the runner reads the
 * Hello exactly, as FRAME-6 requires of a broker). */
static int read_exact_s(cf_ctx *ctx, cf_conn *k, uint8_t *buf, size_t n) {
  size_t got = 0;
  uint64_t end = cf_now_ms() + 2000;
  while (got < n && cf_now_ms() < end) {
    struct pollfd p = {k->s, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t r = recv(k->s, buf + got, n - got, MSG_DONTWAIT);
    if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR))) break;
    if (r > 0) got += (size_t)r;
  }
  return got == n ? 0 : cf_error(ctx, "the runner's client did not deliver its Hello");
}

/* The client/broker part before the offer: Hello (with `request` right
 * behind it in the same write when early data), exactly the Hello read by
 * the broker, Negotiated with the token written and read. */
static int hello_exchange(cf_ctx *ctx, cf_ho *h, uint64_t caps, bool early) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = m.hello.client_max_protocol = 1;
  snprintf(m.hello.service_name, sizeof m.hello.service_name, "%s", ctx->o->service);
  m.hello.client_capabilities = caps;
  uint8_t wire[512];
  size_t len = 0;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, wire, sizeof wire, &len) != HO_OK)
    return cf_error(ctx, "encode Hello");
  size_t hello_len = len;
  cf_trace_frame(ctx, "client -> broker (runner): Hello", wire, len, HO_FT_HELLO);
  if (early) {
    h->queued_len = 64;
    cf_nonce(ctx, h->queued, h->queued_len);
    memcpy(wire + len, h->queued, h->queued_len);
    len += h->queued_len;
    h->queued_written = true;
    cf_trace_note(ctx, "client writes its request right behind the Hello, in the same write (early data)");
  }
  if (cf_conn_write(ctx, &h->conn, wire, len) != 0) return cf_error(ctx, "client write");
  uint8_t got[512];
  if (read_exact_s(ctx, &h->conn, got, hello_len) != 0) return -1;
  memset(&m, 0, sizeof m);
  m.hello_reply.which = HO_REPLY_NEGOTIATED;
  ho_negotiated *n = &m.hello_reply.negotiated;
  n->negotiated_protocol = 1;
  snprintf(n->backend_pipe, sizeof n->backend_pipe, "%s", ctx->ep_pipe);
  n->server_capabilities = HO_CAP_HANDLE_PASSING | HO_CAP_EARLY_DATA | (caps & HO_CAP_BACKEND_READY);
  n->keepalive_interval_secs = 1800;
  memcpy(n->handle_passed_token, h->offer.token, 16);
  n->handle_passed_token_len = 16;
  n->connection_id = h->offer.corr;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, wire, sizeof wire, &len) != HO_OK)
    return cf_error(ctx, "encode Negotiated");
  cf_trace_frame(ctx, "broker (runner) -> client: Negotiated", wire, len, HO_FT_HELLO_REPLY);
  if (send(h->conn.s, wire, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) return cf_error(ctx, "write Negotiated");
  if (cf_conn_read(ctx, &h->conn, len, 1000) < len || memcmp(h->conn.in.p, wire, len) != 0)
    return cf_error(ctx, "the client did not read Negotiated");
  h->conn.in.len = 0;
  return 0;
}

static int legacy_full(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  int rc = cf_ho_new(ctx, &h, CF_CONN_ACCEPTED);
  if (rc == 0) rc = hello_exchange(ctx, &h, HO_CAP_HANDLE_PASSING, false);
  if (rc == 0) rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

static int ready_first(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  int rc = cf_ho_new(ctx, &h, CF_CONN_ACCEPTED);
  if (rc == 0) rc = hello_exchange(ctx, &h, HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY, false);
  cf_ho_flag_ready(&h);
  if (rc == 0) rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

static int request_queued(cf_ctx *ctx) {
  /* READY-13: the client sends its request right after Negotiated, before
   * the descriptor reaches the backend: it waits in the connection. */
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ho_flag_ready(&h);
  h.queued_len = 64;
  cf_nonce(ctx, h.queued, h.queued_len);
  int rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

static int unflagged_on_ready_backend(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  int rc = cf_run_accept(ctx, &h); /* legacy route: READY-3 is checked */
  cf_ho_free(ctx, &h);
  return rc;
}

static int ready_unsupported(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ho_flag_ready(&h);
  int rc = cf_run_refuse(ctx, &h, "BACKEND_READY_UNSUPPORTED");
  cf_ho_free(ctx, &h);
  return rc;
}

static int client_gone(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ho_flag_ready(&h);
  close(h.conn.c); /* the ready write will fail (EPIPE) */
  h.conn.c = -1;
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &h);
  cf_ho *hs[1] = {&h};
  if (rc == 0) rc = cf_read_acks(ctx, &c, hs, 1, CF_ACK_WAIT_MS);
  cf_ctl_close(ctx, &c);
  if (rc == 0 && h.ack.accepted)
    rc = cf_fail(ctx, "READY-12", "a failed ready write refuses the offer (ACK accepted=false)",
                 "the SUT accepted although its ready frame could not be written (the client had closed)");
  if (rc == 0) {
    char d[128];
    long pid;
    int fd;
    cf_fd_describe(h.conn.s, d, sizeof d);
    if (cf_sut_holds(ctx, h.conn.dev, h.conn.ino, 0, &pid, &fd))
      rc = cf_fail(ctx, "READY-12 XFER-18", "the connection is closed before the refusing ACK",
                   "pid %ld still holds it as fd %d", pid, fd);
  }
  if (rc == 0) rc = cf_probe_handoff(ctx, "ERR-3 ERR-4");
  cf_ho_free(ctx, &h);
  return rc;
}

static int early_data(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  int rc = cf_ho_new(ctx, &h, CF_CONN_ACCEPTED);
  if (rc == 0)
    rc = hello_exchange(ctx, &h, HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA, true);
  cf_ho_flag_ready(&h);
  if (rc == 0) rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

static int legacy_queued(cf_ctx *ctx) {
  /* A v1 broker may hand off in legacy mode with the request queued
   * (READY-21): the backend serves it exactly once. */
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.queued_len = 64;
  cf_nonce(ctx, h.queued, h.queued_len);
  int rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

static const cf_case cases[] = {
    {.id = "backend.ready.legacy",
     .spec = "spec: READY-3 XFER-16 XFER-17 BACKEND-1",
     .does = "the full legacy flow over a real accepted Unix socket: Hello, Negotiated, offer, "
             "ACK, ready written by the runner, request",
     .expect = "accepted; nothing written before the client's first byte; the request is served",
     .run = legacy_full},
    {.id = "backend.ready.backend-ready",
     .spec = "spec: READY-9 READY-1 CAP-7 XFER-16",
     .needs = CF_F_BACKEND_READY,
     .does = "the full flow with a flagged offer (OFFER_FLAG_BACKEND_READY, deadline now + 1 s)",
     .expect = "the complete ready frame is on the connection before the ACK arrives; the ACK "
               "sets BACKEND_CAP_BACKEND_READY; the request is served after it",
     .run = ready_first},
    {.id = "backend.ready.request-queued",
     .spec = "spec: READY-9 READY-13 BACKEND-1",
     .needs = CF_F_BACKEND_READY,
     .does = "the client's request is queued in the connection before the flagged offer",
     .expect = "ready first, then the echo of the queued request, then the next one",
     .run = request_queued},
    {.id = "backend.ready.unflagged-offer",
     .spec = "spec: READY-16 READY-3",
     .needs = CF_F_BACKEND_READY,
     .does = "an offer without OFFER_FLAG_BACKEND_READY to a backend-ready backend",
     .expect = "legacy mode: no ready frame from the backend, nothing before the client's first byte",
     .run = unflagged_on_ready_backend},
    {.id = "backend.ready.unsupported",
     .spec = "spec: READY-24 CAP-7",
     .absent = CF_F_BACKEND_READY,
     .does = "a flagged offer to a backend that does not declare backend-ready",
     .expect = "refused with BACKEND_READY_UNSUPPORTED, nothing written on the connection",
     .run = ready_unsupported},
    {.id = "backend.ready.client-gone",
     .spec = "spec: READY-12 ERR-3 XFER-18",
     .needs = CF_F_BACKEND_READY,
     .does = "a flagged offer for a client that has already closed (the ready write fails)",
     .expect = "refused, the connection closed before the ACK, the SUT survives the failed write",
     .run = client_gone},
    {.id = "backend.early-data.request-behind-hello",
     .spec = "spec: READY-9 READY-13 BACKEND-1",
     .needs = CF_F_BACKEND_READY | CF_F_EARLY_DATA,
     .does = "real accepted Unix socket; the client writes Hello and its request in one write; "
             "the runner reads exactly the Hello (FRAME-6) and hands the connection off, flagged",
     .expect = "ready first, then the echo of the request that travelled with the descriptor",
     .run = early_data},
    {.id = "backend.early-data.legacy-queued",
     .spec = "spec: BACKEND-1 READY-3",
     .does = "a legacy offer whose connection already holds a request (a v1 broker, READY-21)",
     .expect = "the request is answered exactly once; no ready frame from the backend",
     .run = legacy_queued},
};
CF_TABLE(cf_cases_ready, cases);
