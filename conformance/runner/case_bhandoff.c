/* handoff-conform — broker cases: the handoff itself (sideband, offer,
 * descriptor, ready ordering in legacy, backend-ready and early-data
 * modes) and the control connections (kept, pipelined, re-dialled, one
 * offer for backends of the original, a handoff endpoint that is gone). */
#include <unistd.h>

#include "bflow.h"
#include "cases.h"
#include "sock.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA

static int legacy(cf_ctx *ctx) { return cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY); }

static int ack_delayed(cf_ctx *ctx) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  int pause = (int)cf_const(ctx->o, CF_K_ACK_TIMEOUT_MS) / 2;
  cf_trace_note(ctx, "the runner's backend waits %d ms before it answers", pause);
  if (rc == 0) cf_sleep_ms(pause);
  if (rc == 0) rc = cf_bf_accept(ctx, &f, CF_BK_CAPS_MULTI); /* checks: nothing before the ACK */
  cf_bf_end(ctx, &f);
  return rc;
}

/* A handoff that must not come on control connection ctl#`not`. */
static int handoff_elsewhere(cf_ctx *ctx, int not, const char *reqs) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0 && f.offered && f.off.ctl->id == not)
    rc = cf_fail(ctx, reqs, "the next offer on another control connection", "it came on ctl#%d", not);
  if (rc == 0) rc = cf_bf_accept(ctx, &f, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &f);
  return rc;
}

static int v1_backend(cf_ctx *ctx) {
  /* An ACK without BACKEND_CAP_MULTI_OFFER: one offer on that connection. */
  cf_bctl *c = NULL;
  if (cf_bf_declare(ctx, 0, &c) != 0) return -1;
  if (!cf_bk_ctl_closed(ctx, c, 1000))
    return cf_fail_wait(ctx, NULL, "a control connection whose ACK lacks BACKEND_CAP_MULTI_OFFER is closed once "
                        "that ACK is in", "ctl#%d still open 1000 ms after the ACK", c->id);
  return handoff_elsewhere(ctx, c->id, "XFER-37");
}

static int backend_closes(cf_ctx *ctx) {
  cf_bctl *c = NULL;
  if (cf_bf_declare(ctx, CF_BK_CAPS_MULTI, &c) != 0) return -1;
  int id = c->id;
  cf_bk_close_ctl(ctx, c); /* no offer in flight on it */
  if (handoff_elsewhere(ctx, id, "XFER-37") != 0) return -1;
  return handoff_elsewhere(ctx, id, "XFER-37");
}

static int reuse(cf_ctx *ctx) {
  cf_bctl *c = NULL;
  if (cf_bf_declare(ctx, CF_BK_CAPS_MULTI, &c) != 0) return -1;
  int cid = c->id;
  for (int i = 0; i < 3; i++) {
    cf_bf f = CF_BF0;
    int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
    if (rc == 0 && (!f.offered || f.off.ctl->id != cid))
      rc = cf_fail(ctx, NULL, "after BACKEND_CAP_MULTI_OFFER the broker reuses the control connection",
                   "handoff %d came on ctl#%d, not on ctl#%d", i + 1, f.offered ? f.off.ctl->id : 0, cid);
    if (rc == 0) rc = cf_bf_accept(ctx, &f, CF_BK_CAPS_MULTI);
    cf_bf_end(ctx, &f);
    if (rc != 0) return -1;
  }
  return 0;
}

static int pipelined(cf_ctx *ctx) {
  cf_bctl *c = NULL;
  cf_bf f[3] = {CF_BF0, CF_BF0, CF_BF0};
  int rc = cf_bf_in_flight(ctx, f, 3, &c);
  for (int i = 2; i >= 0 && rc == 0; i--) rc = cf_bf_accept(ctx, &f[i], CF_BK_CAPS_MULTI); /* reverse order */
  for (int i = 0; i < 3; i++) cf_bf_end(ctx, &f[i]);
  return rc;
}

static int client_gone(cf_ctx *ctx) {
  /* The client closes after Negotiated; the backend adopts anyway. */
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, 0);
  if (rc == 0 && !f.offered) rc = cf_fail(ctx, "TOKEN-2", "a handoff", "a Negotiated without token");
  cf_hc_close(ctx, &f.hc);
  cf_ack_spec a = {.accepted = true, .caps = CF_BK_CAPS_MULTI};
  if (rc == 0) rc = cf_bk_ack(ctx, &f.off, &a);
  long pid;
  int fd;
  if (rc == 0 && cf_sut_holds(ctx, f.off.dev, f.off.ino, 1000, &pid, &fd))
    rc = cf_fail(ctx, "BROKER-4 ACK-15", "the broker closes its copy once the attempt ends, also when its ready "
                 "write fails", "pid %ld still holds the connection as fd %d", pid, fd);
  cf_bf_end(ctx, &f);
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static int refused_reuse(cf_ctx *ctx) {
  cf_bctl *c = NULL;
  if (cf_bf_declare(ctx, CF_BK_CAPS_MULTI, &c) != 0) return -1;
  int cid = c->id;
  cf_bf f = CF_BF0;
  cf_ack_spec a = {.accepted = false, .detail = "OVERLOADED", .caps = CF_BK_CAPS_MULTI};
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_fail(ctx, &f, &a, false, CF_CTL_KEPT, "ACK-4");
  cf_bf_end(ctx, &f);
  if (rc != 0) return -1;
  cf_bf g = CF_BF0;
  rc = cf_bf_start(ctx, &g, HP, CF_BF_EARLY);
  if (rc == 0 && cf_has(ctx, CF_F_MULTI_OFFER) && (!g.offered || g.off.ctl->id != cid))
    rc = cf_fail(ctx, "ACK-4 XFER-37", "the control connection stays in use after a refusal",
                 "the next offer came on ctl#%d, not ctl#%d", g.offered ? g.off.ctl->id : 0, cid);
  if (rc == 0) rc = cf_bf_accept(ctx, &g, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &g);
  return rc;
}

static int backend_ready(cf_ctx *ctx) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_READY, NULL) != 0) return -1;
  return cf_bf_handoff(ctx, HP | BR, CF_BK_CAPS_READY, CF_BF_READY);
}

static int ready_undeclared(cf_ctx *ctx) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_MULTI, NULL) != 0) return -1;
  return cf_bf_handoff(ctx, HP | BR, CF_BK_CAPS_MULTI, CF_BF_LEGACY);
}

static int ready_client_without(cf_ctx *ctx) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_READY, NULL) != 0) return -1;
  return cf_bf_handoff(ctx, HP, CF_BK_CAPS_READY, CF_BF_LEGACY);
}

static int early_data(cf_ctx *ctx) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_READY, NULL) != 0) return -1;
  return cf_bf_handoff(ctx, HP | BR | ED, CF_BK_CAPS_READY, CF_BF_READY);
}

/* A Hello with early data that backend-ready mode cannot serve here. */
static int early_refused(cf_ctx *ctx, uint64_t declared, uint64_t caps) {
  if (cf_bf_declare(ctx, declared, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, caps, CF_BF_EARLY);
  if (rc == 0 && f.offered) rc = cf_fail(ctx, NULL, "no handoff for this Hello with early data", "an offer came");
  if (rc == 0) rc = cf_bf_no_token(ctx, &f, "READY-18");
  cf_bf_end(ctx, &f);
  return rc;
}

static int early_undeclared(cf_ctx *ctx) { return early_refused(ctx, CF_BK_CAPS_MULTI, HP | BR | ED); }
static int early_without_br(cf_ctx *ctx) { return early_refused(ctx, CF_BK_CAPS_READY, HP | ED); }

static int ack_without_cap(cf_ctx *ctx) {
  /* ACK-16: an accepted ACK to a flagged offer without
   * BACKEND_CAP_BACKEND_READY: the backend may be serving the client, so
   * the broker neither writes nor shuts the connection down. */
  if (cf_bf_declare(ctx, CF_BK_CAPS_READY, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP | BR, CF_BF_EARLY);
  if (rc == 0 && f.mode != CF_BF_READY)
    rc = cf_fail(ctx, "READY-36", "a backend-ready offer (the backend declared it on this connection)",
                 "%s", f.offered ? "a legacy offer" : "no offer");
  cf_ack_spec a = {.accepted = true, .caps = CF_BK_CAPS_MULTI};
  if (rc == 0) rc = cf_bk_ack(ctx, &f.off, &a);
  int e = rc == 0 ? cf_hc_wait_end(ctx, &f.hc, 200) : 0;
  if (rc == 0 && e != 0)
    rc = cf_fail(ctx, NULL, "no write and no shutdown by the broker after an ACK that proves no ready was written",
                 "client#%d: %s", f.hc.id, e == 2 ? "the broker wrote bytes" : "the connection ended (shut down)");
  if (rc == 0)
    rc = cf_bf_pass(ctx, f.off.fd, f.hc.fd, "backend -> client after ACK-16", "FALLBACK-22 ACK-16");
  if (rc == 0)
    rc = cf_bf_pass(ctx, f.hc.fd, f.off.fd, "client -> backend after ACK-16", "FALLBACK-22 ACK-16");
  long pid;
  int fd;
  if (rc == 0 && cf_sut_holds(ctx, f.off.dev, f.off.ino, 1000, &pid, &fd))
    rc = cf_fail(ctx, "ACK-16 BROKER-4", "the broker closes its copy", "pid %ld still holds it as fd %d", pid, fd);
  cf_bf_end(ctx, &f);
  return rc;
}

static int endpoint_gone(cf_ctx *ctx) {
  /* The handoff endpoint refuses connections: the attempt fails, the
   * client falls back; once it listens again, handoffs resume. */
  cf_bk *bk = cf_bk_of(ctx);
  close(bk->lho);
  unlink(ctx->ep_handoff);
  bk->lho = -1;
  cf_trace_note(ctx, "the runner's handoff endpoint is gone");
  cf_bf f = CF_BF0;
  int rc = cf_hc_open(ctx, &f.hc);
  ho_hello h;
  cf_hello_init(ctx, &h, HP);
  if (rc == 0) rc = cf_hc_hello(ctx, &f.hc, &h, CF_BF_EARLY);
  if (rc == 0) rc = cf_hc_negotiated(ctx, &f.hc, 2000);
  if (rc == 0) rc = cf_bf_fell_back(ctx, &f, 2000, "XFER-23 ERR-62");
  cf_bf_end(ctx, &f);
  bk->lho = rc == 0 ? cf_sock_listen(ctx->ep_handoff) : -1;
  if (rc == 0 && bk->lho < 0) rc = cf_error(ctx, "listen again");
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static const cf_case cases[] = {
    {.id = "broker.handoff.legacy",
     .spec = "spec: XFER-3 XFER-4 XFER-25 FRAME-6 ERR-16 TOKEN-2 READY-2 READY-1 ACK-15 BROKER-4 ACK-12",
     .does = "a client with CAP_HANDLE_PASSING writes its Hello and 48 bytes behind it in one write; the runner's "
             "backend accepts",
     .expect = "Negotiated with a token; one sendmsg of exactly the 16 token bytes with the client's connection "
               "(blocking) and the offer with the same token; the 48 bytes unread in the descriptor's queue; the "
               "broker's ready frame only after the ACK; the connection served by the backend both ways; the "
               "broker's copy closed; backend_pipe unused",
     .run = legacy},
    {.id = "broker.handoff.ack-delayed", .spec = "spec: READY-2 ACK-17",
     .does = "the runner's backend answers after half the declared ACK deadline",
     .expect = "nothing on the client connection until the ACK, then the ready frame", .run = ack_delayed},
    {.id = "broker.handoff.v1-backend", .spec = "spec: XFER-37 CAP-10",
     .does = "an ACK without BACKEND_CAP_MULTI_OFFER (a backend of the original), then a second client",
     .expect = "the broker closes that control connection once the ACK is in; the next offer comes on a new one",
     .run = v1_backend},
    {.id = "broker.handoff.backend-closes", .spec = "spec: XFER-37 ACK-10",
     .does = "after an ACK the runner's backend closes the control connection (nothing in flight); two more clients",
     .expect = "the broker dials a new control connection and both handoffs succeed", .run = backend_closes},
    {.id = "broker.handoff.reuse", .spec = "spec: XFER-37 CAP-10", .needs = CF_F_MULTI_OFFER,
     .does = "after an ACK with BACKEND_CAP_MULTI_OFFER, three handoffs one after the other",
     .expect = "all three on the same control connection", .run = reuse},
    {.id = "broker.handoff.pipelined", .spec = "spec: XFER-37 ACK-11", .needs = CF_F_MULTI_OFFER,
     .does = "three clients whose offers the runner answers only when all three are in, in reverse order",
     .expect = "three offers in flight on the declared connection; ACKs matched by correlation id; all served",
     .ack_timeout_ms = 5000, /* three client handshakes pass before the first ACK: not a race under load */
     .run = pipelined},
    {.id = "broker.handoff.client-gone", .spec = "spec: BROKER-5 ACK-15 ERR-18 BROKER-4 ERR-3",
     .does = "the client closes right after Negotiated; the runner's backend adopts and accepts",
     .expect = "the broker's ready write fails harmlessly, it closes its copy and serves the next client",
     .run = client_gone},
    {.id = "broker.handoff.refused-reuse", .spec = "spec: ACK-4 ERR-57 FALLBACK-20",
     .does = "a refused ACK (OVERLOADED), then another client",
     .expect = "the client falls back, the control connection stays open (and carries the next offer when "
               "multi-offer is declared)",
     .run = refused_reuse},
    {.id = "broker.ready.backend-ready",
     .spec = "spec: READY-36 READY-7 READY-8 READY-10 CAP-5 FALLBACK-22 ACK-15",
     .needs = CF_F_BACKEND_READY | CF_F_MULTI_OFFER,
     .does = "the runner's backend declares BACKEND_CAP_BACKEND_READY in an ACK; then a Hello with "
             "CAP_HANDLE_PASSING and CAP_BACKEND_READY",
     .expect = "Negotiated with CAP_BACKEND_READY; a flagged offer on that connection with a deadline at most "
               "1500 ms ahead; after the backend's ready and ACK the broker writes nothing and shuts nothing down",
     .run = backend_ready},
    {.id = "broker.ready.undeclared", .spec = "spec: READY-36 CAP-5",
     .does = "the backend never declares BACKEND_CAP_BACKEND_READY; a Hello with CAP_BACKEND_READY",
     .expect = "legacy mode: no CAP_BACKEND_READY in Negotiated, an unflagged offer, the broker's ready frame",
     .run = ready_undeclared},
    {.id = "broker.ready.client-without", .spec = "spec: READY-36 CAP-3 CAP-5",
     .does = "the backend declared backend-ready; a Hello with CAP_HANDLE_PASSING only",
     .expect = "legacy mode", .run = ready_client_without},
    {.id = "broker.ready.early-data", .spec = "spec: READY-18 FRAME-6 READY-7 READY-8 CAP-6",
     .needs = CF_F_BACKEND_READY | CF_F_EARLY_DATA | CF_F_MULTI_OFFER,
     .does = "backend-ready declared; a Hello with CAP_EARLY_DATA and the request behind it in the same write",
     .expect = "a backend-ready handoff; the request travels unread with the descriptor and is served once",
     .run = early_data},
    {.id = "broker.ready.early-data-undeclared", .spec = "spec: FALLBACK-16 READY-18 FALLBACK-3 ERR-16",
     .does = "the backend never declared backend-ready; a Hello with early data",
     .expect = "no legacy handoff: Negotiated without token, closed without reading the request (a reset), "
               "the client is served by backend_pipe",
     .run = early_undeclared},
    {.id = "broker.ready.early-data-without-br", .spec = "spec: READY-18 FALLBACK-16 READY-36",
     .does = "backend-ready declared; a Hello with CAP_EARLY_DATA but without CAP_BACKEND_READY",
     .expect = "no handoff (backend-ready mode needs the client's bit): Negotiated without token, fallback",
     .run = early_without_br},
    {.id = "broker.ready.ack-without-cap", .spec = "spec: ACK-16 ERR-63 FALLBACK-22",
     .needs = CF_F_BACKEND_READY | CF_F_MULTI_OFFER,
     .does = "a flagged offer answered by an accepted ACK without BACKEND_CAP_BACKEND_READY (no ready written)",
     .expect = "the broker writes nothing, does not shut the connection down (backend and client still talk), "
               "and closes its copy",
     .run = ack_without_cap},
    {.id = "broker.ctl.endpoint-gone", .spec = "spec: XFER-23 ERR-62 TOKEN-7 FALLBACK-20",
     .does = "the runner's handoff endpoint is removed; a client; then the endpoint listens again and another client",
     .expect = "the first client gets no ready and is served by backend_pipe; the second is handed off",
     .run = endpoint_gone},
};
CF_TABLE(cf_cases_bhandoff, cases);
