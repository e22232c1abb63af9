/* handoff-conform — client cases: served by handoff or by backend_pipe;
 * ready frames with every defect, or none, or a broker that closes; the
 * capability rules; the request sent exactly once on exactly one route. */
#include "cases.h"
#include "cflow.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA

static int no_token(cf_ctx *ctx) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, false, ED, NULL);
  cf_cb_hangup(ctx, &f.k); /* FALLBACK-3: the broker closes without reading */
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, false, 2000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int adopted(cf_ctx *ctx, uint64_t caps) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, true, caps, NULL);
  if (rc == 0) rc = cf_cf_adopted(ctx, &f, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int legacy(cf_ctx *ctx) { return adopted(ctx, HP | ED); }
static int backend_ready(cf_ctx *ctx) { return adopted(ctx, HP | BR | ED); }
static int unknown_caps(cf_ctx *ctx) {
  return adopted(ctx, HP | ED | (UINT64_C(1) << 20) | (UINT64_C(1) << 50));
}

/* A Negotiated with a token in the client's richest mode, then `bug`. */
static int bad_ready(cf_ctx *ctx, int bug) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, true, cf_cf_caps(&f, true), NULL);
  if (rc == 0) (void)cf_cf_request_written(ctx, &f, 100);
  if (rc == 0) rc = cf_cb_ready(ctx, &f.k, f.token, f.corr, bug, NULL);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, true, cf_cf_ready_wait(ctx, &f), NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int wrong_token(cf_ctx *ctx) { return bad_ready(ctx, CF_RDY_TOKEN); }
static int wrong_kind(cf_ctx *ctx) { return bad_ready(ctx, CF_RDY_KIND); }
static int refused(cf_ctx *ctx) { return bad_ready(ctx, CF_RDY_REFUSED); }
static int request_id(cf_ctx *ctx) { return bad_ready(ctx, CF_RDY_REQID); }
static int malformed(cf_ctx *ctx) { return bad_ready(ctx, CF_RDY_MALFORMED); }
static int payload_protocol(cf_ctx *ctx) { return bad_ready(ctx, CF_RDY_PROTOCOL); }

static int truncated(cf_ctx *ctx) {
  cf_cf f = CF_CF0;
  cf_buf b = {0};
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, true, cf_cf_caps(&f, true), NULL);
  if (rc == 0) (void)cf_cf_request_written(ctx, &f, 100);
  if (rc == 0) rc = cf_cb_ready(ctx, &f.k, f.token, f.corr, CF_RDY_OK, &b);
  if (rc == 0) rc = cf_cb_write(ctx, &f.k, b.p, b.len / 2, "half a ready frame");
  (void)cf_cf_request_written(ctx, &f, 0);
  cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, true, cf_cf_ready_wait(ctx, &f), NULL);
  cf_buf_free(&b);
  cf_cf_end(ctx, &f);
  return rc;
}

/* A Negotiated with a token (caps), then nothing: the broker closes, or
 * keeps the connection open silently. */
static int silence(cf_ctx *ctx, uint64_t caps, bool close_it) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, true, caps, NULL);
  uint64_t t0 = cf_now_ms();
  if (rc == 0) (void)cf_cf_request_written(ctx, &f, 100);
  if (close_it) cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, false, cf_cf_ready_wait(ctx, &f), NULL);
  long took = (long)(cf_now_ms() - t0);
  /* spec: READY-14 — in backend-ready mode no re-send before 2000 ms. */
  if (rc == 0 && !close_it && (caps & BR) && f.p.fd >= 0 && took < 1950)
    rc = cf_fail(ctx, "READY-14", "in backend-ready mode the client waits at least 2000 ms for ready before it "
                 "reconnects", "it reconnected %ld ms after the Negotiated", took);
  cf_cf_end(ctx, &f);
  return rc;
}

static int ready_timeout(cf_ctx *ctx) { return silence(ctx, HP | ED, false); }
static int ready_timeout_br(cf_ctx *ctx) { return silence(ctx, HP | BR | ED, false); }
static int broker_closes(cf_ctx *ctx) {
  return silence(ctx, HP | ED | (ctx->o->features & CF_F_BACKEND_READY ? BR : 0), true);
}

/* A Negotiated that offers no handoff after all (a token without the bit,
 * or the bit without a token): a fallback, without error. */
static int half_offer(cf_ctx *ctx, bool token, uint64_t caps) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, token, caps, NULL);
  f.has_token = false; /* not a handoff: READY-21 (a) */
  cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, false, 2000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int token_without_cap(cf_ctx *ctx) { return half_offer(ctx, true, ED); }
static int cap_without_token(cf_ctx *ctx) { return half_offer(ctx, false, HP | ED); }

static int no_early_data(cf_ctx *ctx) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  size_t n = rc == 0 ? cf_cb_wait_bytes(ctx, &f.k, 1, 200) : 0;
  if (rc == 0 && n > 0)
    rc = cf_fail(ctx, NULL, "without early data declared the client writes nothing before the HelloReply",
                 "conn#%d: %zu bytes behind the Hello", f.k.id, n);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, false, ED, NULL);
  cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, false, 2000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

#define H CF_F_HANDOFF
static const cf_case cases[] = {
    {.id = "client.fallback.no-token", .spec = "spec: FALLBACK-4 FALLBACK-3 READY-21 HELLO-1 CAP-8",
     .does = "a Negotiated without token (the broker then closes without reading)",
     .expect = "the client reconnects to backend_pipe and sends its request there, once; exit 0", .run = no_token},
    {.id = "client.handoff.legacy", .spec = "spec: READY-4 READY-37 CLIENT-6 CAP-9", .needs = H,
     .does = "a Negotiated with a token (legacy mode); after 100 ms the runner's broker writes ready",
     .expect = "nothing from the client before ready (unless its request came behind the Hello); then its "
               "request once on that connection; exit 0; no reconnect",
     .run = legacy},
    {.id = "client.handoff.backend-ready", .spec = "spec: READY-13 READY-4 CLIENT-6", .needs = H | CF_F_BACKEND_READY,
     .does = "a Negotiated with CAP_BACKEND_READY; the runner's backend writes ready",
     .expect = "the request once on that connection (it may precede ready); exit 0; no reconnect",
     .run = backend_ready},
    {.id = "client.handoff.unknown-caps", .spec = "spec: CAP-1 READY-4", .needs = H,
     .does = "a Negotiated with a token and unassigned capability bits 20 and 50",
     .expect = "the bits are ignored: a handoff as usual", .run = unknown_caps},
    {.id = "client.ready.wrong-token", .spec = "spec: READY-4 ERR-66 FALLBACK-24 READY-21 TOKEN-8", .needs = H,
     .does = "a ready frame whose token is not the negotiated one",
     .expect = "not adopted: reconnect and send the request there; if the request was already written on the "
               "broker connection, OUTCOME_UNKNOWN (non-zero exit) and no re-send",
     .run = wrong_token},
    {.id = "client.ready.wrong-kind", .spec = "spec: READY-4 ERR-66 ENV-4", .needs = H,
     .does = "a ready frame of kind RESPONSE", .expect = "not adopted (as client.ready.wrong-token)", .run = wrong_kind},
    {.id = "client.ready.refused", .spec = "spec: READY-4 ERR-66", .needs = H, .does = "a ready frame with accepted false",
     .expect = "not adopted (as client.ready.wrong-token)", .run = refused},
    {.id = "client.ready.request-id", .spec = "spec: READY-4 ERR-66 ENV-7", .needs = H,
     .does = "a ready frame with request_id != correlation_id", .expect = "not adopted (as client.ready.wrong-token)",
     .run = request_id},
    {.id = "client.ready.malformed", .spec = "spec: READY-4 ERR-66 MSG-10", .needs = H,
     .does = "a ready frame whose payload is not protobuf", .expect = "not adopted (as client.ready.wrong-token)",
     .run = malformed},
    {.id = "client.ready.payload-protocol", .spec = "spec: READY-4 ERR-66", .needs = H,
     .does = "a ready frame on payload protocol 0x0000", .expect = "not adopted (as client.ready.wrong-token)",
     .run = payload_protocol},
    {.id = "client.ready.truncated", .spec = "spec: ERR-65 FRAME-4 FALLBACK-24 READY-21", .needs = H,
     .does = "half a ready frame, then the broker closes",
     .expect = "not adopted: reconnect (or OUTCOME_UNKNOWN when the request was already written)", .run = truncated},
    {.id = "client.ready.timeout", .spec = "spec: READY-37 FALLBACK-24 ERR-66 ERR-68", .needs = H,
     .does = "a legacy Negotiated with a token, then nothing (the connection stays open)",
     .expect = "after its ready timeout the client reconnects (or, with its request already written, reports "
               "OUTCOME_UNKNOWN)",
     .run = ready_timeout},
    {.id = "client.ready.timeout-backend-ready", .spec = "spec: READY-14 READY-21 ERR-67",
     .needs = H | CF_F_BACKEND_READY,
     .does = "a Negotiated with CAP_BACKEND_READY, then nothing",
     .expect = "the client waits at least 2000 ms, then reconnects and sends (or re-sends) its request there",
     .run = ready_timeout_br},
    {.id = "client.ready.broker-closes", .spec = "spec: ERR-65 ERR-67 CLIENT-5 FALLBACK-24 READY-21", .needs = H,
     .does = "a Negotiated with a token (backend-ready if the client declared it), then the broker closes",
     .expect = "the client reconnects and sends its request once (a legacy Negotiated after early data: "
               "OUTCOME_UNKNOWN)",
     .run = broker_closes},
    {.id = "client.fallback.token-without-cap", .spec = "spec: ERR-23 FALLBACK-4 CAP-9", .needs = H,
     .absent = CF_F_EARLY_DATA, .does = "a Negotiated with a token but without CAP_HANDLE_PASSING",
     .expect = "no handoff: the client reconnects, without error", .run = token_without_cap},
    {.id = "client.fallback.cap-without-token", .spec = "spec: ERR-23 FALLBACK-4 CAP-9", .needs = H,
     .does = "a Negotiated with CAP_HANDLE_PASSING but without a token",
     .expect = "no handoff: the client reconnects, without error", .run = cap_without_token},
    {.id = "client.hello.no-early-data", .spec = "spec: READY-20 HELLO-1 CLIENT-1", .absent = CF_F_EARLY_DATA,
     .does = "the runner waits 200 ms after the client's Hello before it answers",
     .expect = "without early data declared the client writes nothing before the HelloReply", .run = no_early_data},
};
#undef H
CF_TABLE(cf_cases_chandoff, cases);
