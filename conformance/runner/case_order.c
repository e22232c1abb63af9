/* handoff-conform — cases: which refusal wins when several apply
 * (XFER-36): descriptor checks (XFER-28, itself ordered), SIDEBAND_MISMATCH,
 * TOKEN_NOT_PENDING, SERVICE_NAME, BACKEND_READY_UNSUPPORTED, TIMEOUT,
 * PENDING_LIMIT. */
#include <fcntl.h>
#include <unistd.h>

#include "cases.h"

static int refuse(cf_ctx *ctx, cf_ho *h, const char *name) {
  int rc = cf_run_refuse(ctx, h, name);
  cf_ho_free(ctx, h);
  return rc;
}

static void other_service(cf_ho *h) {
  memcpy(h->offer.service, "not-this-service", 16);
  h->offer.service_len = 16;
}

static int extra_before_bad(cf_ctx *ctx) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return cf_error(ctx, "pipe");
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.fds[0] = p[0]; /* a wrong kind first, the socket second */
  h.fds[1] = h.conn.s;
  h.nfds = 2;
  int rc = refuse(ctx, &h, "EXTRA_DESCRIPTORS");
  close(p[0]);
  close(p[1]);
  return rc;
}

static int bad_before_mismatch(cf_ctx *ctx) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return cf_error(ctx, "pipe");
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, -1) != 0) return -1;
  h.fds[0] = p[1];
  h.nfds = 1;
  h.sideband[0] ^= 0x33;
  int rc = refuse(ctx, &h, "BAD_DESCRIPTOR");
  close(p[0]);
  close(p[1]);
  return rc;
}

static int none_before_mismatch(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, -1) != 0) return -1;
  h.sideband[4] ^= 0x44;
  return refuse(ctx, &h, "NO_DESCRIPTOR");
}

/* An accepted handoff a and a second handoff b with a's token. */
static int accepted_then_replay(cf_ctx *ctx, cf_ho *a, cf_ho *b) {
  if (cf_ho_new(ctx, a, CF_CONN_PAIR) != 0) return -1;
  int rc = cf_run_accept(ctx, a);
  cf_ho_free(ctx, a);
  if (rc != 0 || cf_ho_new(ctx, b, CF_CONN_PAIR) != 0) return -1;
  memcpy(b->offer.token, a->offer.token, 16);
  memcpy(b->sideband, a->offer.token, 16);
  return 0;
}

static int mismatch_before_replay(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (accepted_then_replay(ctx, &a, &b) != 0) return -1;
  b.sideband[9] ^= 0x01;
  return refuse(ctx, &b, "SIDEBAND_MISMATCH");
}

static int replay_before_service(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (accepted_then_replay(ctx, &a, &b) != 0) return -1;
  other_service(&b);
  return refuse(ctx, &b, "TOKEN_NOT_PENDING");
}

static int replay_before_deadline(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (accepted_then_replay(ctx, &a, &b) != 0) return -1;
  b.offer.deadline = cf_wall_ms() - 1000;
  return refuse(ctx, &b, "TOKEN_NOT_PENDING");
}

static int service_before_unsupported(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  cf_ho_flag_ready(&h);
  other_service(&h);
  return refuse(ctx, &h, "SERVICE_NAME");
}

static int service_before_timeout(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  other_service(&h);
  h.offer.deadline = cf_wall_ms() - 1000;
  return refuse(ctx, &h, "SERVICE_NAME");
}

static int unsupported_before_timeout(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.offer.flags |= HO_OFFER_FLAG_BACKEND_READY; /* and deadline 0: READY-11 would say TIMEOUT */
  return refuse(ctx, &h, "BACKEND_READY_UNSUPPORTED");
}

static int timeout_before_pending_limit(cf_ctx *ctx) {
  long cap = cf_const(ctx->o, CF_K_REPLAY_CAPACITY);
  for (long i = 0; i < cap; i++) {
    cf_ho h = CF_HO0;
    if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
    int rc = cf_run_accept(ctx, &h);
    cf_ho_free(ctx, &h);
    if (rc != 0) return -1;
  }
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.offer.deadline = cf_wall_ms() - 1000;
  return refuse(ctx, &h, "TIMEOUT");
}

static const cf_case cases[] = {
    {.id = "backend.order.extra-before-bad",
     .spec = "spec: XFER-28 XFER-36 ERR-32",
     .does = "two descriptors, the first a pipe",
     .expect = "EXTRA_DESCRIPTORS (the count is checked before the type)",
     .run = extra_before_bad},
    {.id = "backend.order.bad-before-sideband",
     .spec = "spec: XFER-36 XFER-28",
     .does = "a pipe as the descriptor and sideband bytes that differ from the token",
     .expect = "BAD_DESCRIPTOR (descriptor checks first)",
     .run = bad_before_mismatch},
    {.id = "backend.order.none-before-sideband",
     .spec = "spec: XFER-36 XFER-28",
     .does = "no descriptor and sideband bytes that differ from the token",
     .expect = "NO_DESCRIPTOR",
     .run = none_before_mismatch},
    {.id = "backend.order.sideband-before-replay",
     .spec = "spec: XFER-36 XFER-12",
     .does = "an accepted token offered again with a sideband that differs from it",
     .expect = "SIDEBAND_MISMATCH",
     .run = mismatch_before_replay},
    {.id = "backend.order.replay-before-service",
     .spec = "spec: XFER-36 XFER-15",
     .needs = CF_F_SERVICE_CHECK,
     .does = "an accepted token offered again, for another service",
     .expect = "TOKEN_NOT_PENDING",
     .run = replay_before_service},
    {.id = "backend.order.replay-before-deadline",
     .spec = "spec: XFER-36 XFER-15 TOKEN-21",
     .does = "an accepted token offered again, with a deadline in the past",
     .expect = "TOKEN_NOT_PENDING",
     .run = replay_before_deadline},
    {.id = "backend.order.service-before-ready-unsupported",
     .spec = "spec: XFER-36 XFER-14 READY-24",
     .needs = CF_F_SERVICE_CHECK,
     .absent = CF_F_BACKEND_READY,
     .does = "a flagged offer for another service to a backend without backend-ready",
     .expect = "SERVICE_NAME",
     .run = service_before_unsupported},
    {.id = "backend.order.service-before-timeout",
     .spec = "spec: XFER-36 XFER-14 TOKEN-21",
     .needs = CF_F_SERVICE_CHECK,
     .does = "an offer for another service whose deadline has passed",
     .expect = "SERVICE_NAME",
     .run = service_before_timeout},
    {.id = "backend.order.ready-unsupported-before-timeout",
     .spec = "spec: XFER-36 READY-24",
     .absent = CF_F_BACKEND_READY,
     .does = "a flagged offer without a ready deadline to a backend without backend-ready",
     .expect = "BACKEND_READY_UNSUPPORTED (not TIMEOUT)",
     .run = unsupported_before_timeout},
    {.id = "backend.order.timeout-before-pending-limit",
     .spec = "spec: XFER-36 TOKEN-21 TOKEN-18",
     .consts = CF_K_BIT(CF_K_REPLAY_CAPACITY),
     .does = "a full replay memory, then an offer whose deadline has passed",
     .expect = "TIMEOUT",
     .run = timeout_before_pending_limit},
};
CF_TABLE(cf_cases_order, cases);
