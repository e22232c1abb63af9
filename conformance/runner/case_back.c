/* handoff-conform — broker cases: every bad ACK of the broker's table
 * (spec/errors.md §6) and a backend that closes or stalls. In each the
 * runner's backend closes its copy of the descriptor first, so the client
 * must see the end of its connection once the broker closes its copy; it
 * must never see a ready frame, and backend_pipe must serve it once. */
#include "bflow.h"
#include "cases.h"

#define HP HO_CAP_HANDLE_PASSING

/* One handoff failed by ACK `bug`; then a fresh handoff still works. */
static int bad_ack(cf_ctx *ctx, int bug, bool accepted, const char *detail, int ctl) {
  cf_bf f = CF_BF0;
  cf_ack_spec a = {.accepted = accepted, .detail = detail, .caps = CF_BK_CAPS_MULTI, .bug = bug};
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_fail(ctx, &f, &a, false, ctl, cf_case_reqs(ctx->c));
  cf_bf_end(ctx, &f);
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static int wrong_token(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_WRONG_TOKEN, true, NULL, CF_CTL_ANY); }
static int corr_zero(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_CORR_ZERO, true, NULL, CF_CTL_CLOSED); }
static int corr_unissued(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_CORR_UNISSUED, true, NULL, CF_CTL_CLOSED); }
static int request_id(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_REQID, true, NULL, CF_CTL_CLOSED); }
static int malformed(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_MALFORMED, true, NULL, CF_CTL_CLOSED); }
static int token_short(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_TOKEN_SHORT, true, NULL, CF_CTL_CLOSED); }
static int protocol(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_PROTOCOL, true, NULL, CF_CTL_CLOSED); }
static int compressed(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_COMPRESSED, true, NULL, CF_CTL_CLOSED); }
static int framing(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_FRAMING, true, NULL, CF_CTL_CLOSED); }
static int truncated(cf_ctx *ctx) { return bad_ack(ctx, CF_ACK_TRUNCATED, true, NULL, CF_CTL_ANY); }

static int wrong_kind(cf_ctx *ctx) {
  if (bad_ack(ctx, CF_ACK_KIND_REQUEST, true, NULL, CF_CTL_CLOSED) != 0) return -1;
  return bad_ack(ctx, CF_ACK_KIND_EVENT, true, NULL, CF_CTL_CLOSED);
}

static int refusals(cf_ctx *ctx) {
  /* Refusals with names of the backend table, and one name no table has:
   * all the same to the broker (ACK-4). */
  const char *names[] = {"BAD_DESCRIPTOR", "SIDEBAND_MISMATCH", "TIMEOUT", "SOME_FUTURE_NAME"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (bad_ack(ctx, CF_ACK_OK, false, names[i], CF_CTL_KEPT) != 0) return -1;
  return 0;
}

/* No ACK at all: the broker's own timer ends the attempt (EXPIRED); an
 * accepted ACK that arrives afterwards is discarded. */
static int none_then_late(cf_ctx *ctx, bool late) {
  /* A connection that has carried an ACK with BACKEND_CAP_MULTI_OFFER, so
   * that a broker keeps it after the attempt expires. */
  if (late && cf_bf_declare(ctx, CF_BK_CAPS_MULTI, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_fail(ctx, &f, NULL, false, CF_CTL_ANY, cf_case_reqs(ctx->c));
  if (rc == 0 && late && cf_bk_ctl_closed(ctx, f.off.ctl, 0)) {
    cf_trace_note(ctx, "the broker closed ctl#%d after the attempt expired: no late ACK can be sent", f.off.ctl->id);
  } else if (rc == 0 && late) {
    cf_ack_spec a = {.accepted = true, .caps = CF_BK_CAPS_MULTI};
    rc = cf_bk_ack(ctx, &f.off, &a);
    if (rc == 0 && cf_bk_ctl_closed(ctx, f.off.ctl, 200))
      rc = cf_fail(ctx, "ACK-7 ERR-55", "an ACK for an attempt no longer in flight is discarded, the control "
                   "connection stays open", "the SUT closed ctl#%d after the late ACK", f.off.ctl->id);
  }
  cf_bf_end(ctx, &f);
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static int no_ack(cf_ctx *ctx) { return none_then_late(ctx, false); }
static int late_ack(cf_ctx *ctx) { return none_then_late(ctx, true); }

static int backend_closes(cf_ctx *ctx) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_fail(ctx, &f, NULL, true, CF_CTL_ANY, cf_case_reqs(ctx->c));
  cf_bf_end(ctx, &f);
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static int closes_many(cf_ctx *ctx) {
  cf_bctl *c = NULL;
  cf_bf f[3] = {CF_BF0, CF_BF0, CF_BF0};
  int rc = cf_bf_in_flight(ctx, f, 3, &c);
  for (int i = 0; i < 3 && rc == 0; i++) cf_bk_drop_fd(ctx, &f[i].off);
  if (rc == 0) cf_bk_close_ctl(ctx, c);
  for (int i = 0; i < 3 && rc == 0; i++) rc = cf_bf_fell_back(ctx, &f[i], 1000, "ACK-10 ERR-60");
  for (int i = 0; i < 3; i++) cf_bf_end(ctx, &f[i]);
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static int old_corr(cf_ctx *ctx) {
  /* An ACK carrying the correlation id of an attempt that already ended:
   * discarded; the right ACK then completes the handoff. */
  cf_bf f = CF_BF0, g = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_accept(ctx, &f, CF_BK_CAPS_MULTI);
  uint64_t old = f.off.offer.correlation_id;
  if (rc == 0) rc = cf_bf_start(ctx, &g, HP, CF_BF_EARLY);
  cf_ack_spec stale = {.accepted = true, .caps = CF_BK_CAPS_MULTI, .corr = old};
  if (rc == 0 && g.offered) rc = cf_bk_ack(ctx, &g.off, &stale);
  if (rc == 0 && g.offered && cf_bk_ctl_closed(ctx, g.off.ctl, 100))
    rc = cf_fail(ctx, NULL, "an ACK with an issued correlation id not in flight changes nothing",
                 "the SUT closed ctl#%d", g.off.ctl->id);
  if (rc == 0) rc = cf_bf_accept(ctx, &g, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &f);
  cf_bf_end(ctx, &g);
  return rc;
}

static int duplicate(cf_ctx *ctx) {
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  if (rc == 0) rc = cf_bf_accept(ctx, &f, CF_BK_CAPS_MULTI);
  cf_ack_spec again = {.accepted = true, .caps = CF_BK_CAPS_MULTI};
  if (rc == 0) rc = cf_bk_ack(ctx, &f.off, &again);
  if (rc == 0 && cf_bk_ctl_closed(ctx, f.off.ctl, 100))
    rc = cf_fail(ctx, NULL, "a duplicate ACK is discarded; the control connection stays open",
                 "the SUT closed ctl#%d", f.off.ctl->id);
  if (rc == 0) rc = cf_bf_pass(ctx, f.hc.fd, f.off.fd, "client -> backend after the duplicate", "ACK-7");
  cf_bf_end(ctx, &f);
  return rc == 0 ? cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) : -1;
}

static int draining(cf_ctx *ctx) {
  cf_bctl *c = NULL;
  if (cf_bf_declare(ctx, CF_BK_CAPS_MULTI, &c) != 0) return -1;
  int cid = c->id;
  cf_bf f = CF_BF0, g = CF_BF0;
  cf_ack_spec a = {.accepted = false, .detail = "DRAINING", .caps = CF_BK_CAPS_MULTI};
  int rc = cf_bf_start(ctx, &f, HP, CF_BF_EARLY);
  int fid = f.offered ? f.off.ctl->id : 0;
  if (rc == 0) rc = cf_bf_fail(ctx, &f, &a, false, CF_CTL_ANY, "ERR-64 ACK-4");
  if (rc == 0 && fid == cid && !cf_bk_ctl_closed(ctx, c, 1000))
    rc = cf_fail_wait(ctx, "BROKER-9", "after DRAINING the broker closes the connection once nothing is in flight",
                      "ctl#%d still open 1000 ms later", cid);
  if (rc == 0) rc = cf_bf_start(ctx, &g, HP, CF_BF_EARLY);
  if (rc == 0 && g.offered && g.off.ctl->id == fid)
    rc = cf_fail(ctx, "BROKER-9", "no further offer on a control connection after DRAINING",
                 "the next offer came on ctl#%d", g.off.ctl->id);
  if (rc == 0) rc = cf_bf_accept(ctx, &g, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &f);
  cf_bf_end(ctx, &g);
  return rc;
}

static const cf_case cases[] = {
    {.id = "broker.ack.refusals", .spec = "spec: ERR-57 ACK-4 FALLBACK-20 FALLBACK-24",
     .does = "refusing ACKs with BAD_DESCRIPTOR, SIDEBAND_MISMATCH, TIMEOUT and an unknown name",
     .expect = "each client sees no ready and the end of its connection, then is served by backend_pipe; the "
               "control connection stays open",
     .run = refusals},
    {.id = "broker.ack.wrong-token", .spec = "spec: ERR-56 ACK-5 ACK-2 TOKEN-7",
     .does = "an accepted ACK whose token echo differs", .expect = "MISMATCH: no ready, copy closed, fallback",
     .run = wrong_token},
    {.id = "broker.ack.corr-zero", .spec = "spec: ERR-54 ACK-8 ACK-10", .does = "an ACK with correlation id 0",
     .expect = "the broker closes the control connection and abandons the attempt: fallback", .run = corr_zero},
    {.id = "broker.ack.corr-unissued", .spec = "spec: ERR-54 ACK-8 ACK-10",
     .does = "an ACK with a correlation id above every one issued",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = corr_unissued},
    {.id = "broker.ack.request-id", .spec = "spec: ERR-53 ACK-9 ENV-7", .does = "an ACK with request_id != correlation_id",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = request_id},
    {.id = "broker.ack.malformed", .spec = "spec: ERR-52 ACK-9 MSG-10", .does = "an ACK payload that is not protobuf",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = malformed},
    {.id = "broker.ack.token-short", .spec = "spec: ERR-52 ACK-9 MSG-8", .does = "an ACK with a 15-byte token",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = token_short},
    {.id = "broker.ack.wrong-kind", .spec = "spec: ERR-51 ACK-9 ENV-4", .does = "ACKs of kind REQUEST, then EVENT",
     .expect = "each time the control connection is closed, the attempt abandoned: fallback", .run = wrong_kind},
    {.id = "broker.ack.payload-protocol", .spec = "spec: ERR-51 ACK-9", .does = "an ACK on payload protocol 0x0000",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = protocol},
    {.id = "broker.ack.compressed", .spec = "spec: ERR-51 ACK-9 ENV-5", .does = "an ACK with payload_encoding ZSTD",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = compressed},
    {.id = "broker.ack.framing", .spec = "spec: ERR-50 ACK-9 FRAME-2", .does = "an ACK whose framing byte is 2",
     .expect = "the control connection is closed, the attempt abandoned: fallback", .run = framing},
    {.id = "broker.ack.truncated", .spec = "spec: ERR-50 ACK-10 FRAME-4",
     .does = "half an ACK frame, then the runner's backend closes the control connection",
     .expect = "the attempt is abandoned: fallback", .run = truncated},
    {.id = "broker.ack.none", .spec = "spec: ERR-59 ACK-6 BROKER-1 ACK-17",
     .does = "no ACK: the runner's backend stalls",
     .expect = "at the declared ACK deadline the broker ends the attempt (EXPIRED) by its own timer: the client "
               "sees the end of its connection and falls back",
     .run = no_ack},
    {.id = "broker.ack.late", .spec = "spec: ERR-58 ERR-59 ERR-55 ACK-6 ACK-7",
     .does = "no ACK until the attempt expired, then an accepted one",
     .expect = "no ready ever; the late ACK is discarded and the control connection stays open", .run = late_ack},
    {.id = "broker.ack.backend-closes", .spec = "spec: ERR-60 ACK-10",
     .does = "the runner's backend closes the control connection instead of answering",
     .expect = "the attempt is abandoned: fallback; the next client is handed off on a new connection",
     .run = backend_closes},
    {.id = "broker.ack.closes-many", .spec = "spec: ERR-60 ACK-10", .needs = CF_F_MULTI_OFFER,
     .does = "three offers in flight on one control connection, which the runner's backend then closes",
     .expect = "all three attempts are abandoned and every client falls back", .run = closes_many},
    {.id = "broker.ack.old-corr", .spec = "spec: ERR-55 ACK-7 ACK-2",
     .does = "an ACK with the correlation id of an attempt that already completed, then the right ACK",
     .expect = "the first is discarded (the connection stays open), the second completes the handoff",
     .run = old_corr},
    {.id = "broker.ack.duplicate", .spec = "spec: ERR-55 ACK-7",
     .does = "an accepted handoff's ACK sent a second time",
     .expect = "discarded: the control connection stays open, the adopted connection untouched", .run = duplicate},
    {.id = "broker.ack.draining", .spec = "spec: ERR-64 BROKER-9 FALLBACK-25",
     .does = "a refusal with DRAINING on a declared connection, then another client",
     .expect = "fallback; the broker sends no further offer on that connection, closes it, and hands the next "
               "client off on a new one",
     .run = draining},
};
CF_TABLE(cf_cases_back, cases);
