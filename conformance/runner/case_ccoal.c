/* handoff-conform — client cases: coalesced reply (spec 1.0.0-rc2,
 * READY-31, READY-32, ERR-71), declared as the feature coalesced-reply. The
 * client wrote its request behind a Hello with CAP_COALESCED_REPLY; the
 * runner, as the backend that holds the connection, writes one of the
 * replies — or nothing — and the client must never re-send a request
 * whose outcome it cannot know. */
#include <string.h>

#include "cases.h"
#include "cflow.h"

#define ALL (HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY)

/* reply_adopted, ready and the response, written in `pieces` writes. */
static int adopted_in(cf_ctx *ctx, int pieces) {
  cf_cf f = CF_CF0;
  cf_buf w = {0};
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, true, ALL, &w);
  if (rc == 0) rc = cf_cb_ready(ctx, &f.k, f.token, f.corr, CF_RDY_OK, &w);
  size_t n = strlen(ctx->message);
  cf_buf_put(&w, ctx->message, n); /* the echo of the request that came with the Hello */
  f.k.pos += n;
  cf_cb_of(ctx)->served++;
  for (int i = 0; i < pieces && rc == 0; i++) {
    size_t a = w.len * (size_t)i / (size_t)pieces, b = w.len * (size_t)(i + 1) / (size_t)pieces;
    rc = cf_cb_write(ctx, &f.k, w.p + a, b - a, pieces == 1 ? "reply_adopted + ready + response, one write" : "a piece");
    if (pieces > 1) cf_sleep_ms(30);
  }
  if (rc == 0) rc = cf_cf_done(ctx, &f, true, 1, 2000, NULL);
  cf_buf_free(&w);
  cf_cf_end(ctx, &f);
  return rc;
}

static int adopted(cf_ctx *ctx) { return adopted_in(ctx, 1); }
static int split(cf_ctx *ctx) { return adopted_in(ctx, 3); }

static int declined(cf_ctx *ctx) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, false, HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY, NULL);
  cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, false, 2000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

/* Something other than a whole reply; the client must report
 * OUTCOME_UNKNOWN and re-send nothing. */
static int unknown_after(cf_ctx *ctx, int what) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  uint8_t token[16] = {0};
  if (rc == 0 && what == 1) rc = cf_cb_ready(ctx, &f.k, token, 7, CF_RDY_OK, NULL); /* not a HelloReply */
  if (rc == 0 && (what == 2 || what == 3)) rc = cf_cf_negotiate(ctx, &f, true, ALL, NULL);
  if (rc == 0 && what == 3) rc = cf_cb_write(ctx, &f.k, ctx->message, strlen(ctx->message), "service bytes, no ready");
  if (what != 4) cf_cb_hangup(ctx, &f.k);
  if (rc == 0) (void)cf_cf_request_written(ctx, &f, 0);
  f.k.pos += strlen(ctx->message); /* behind the Hello, never served */
  long wait = what == 4 ? cf_const(ctx->o, CF_K_REPLY_TIMEOUT_MS) + 1000 : 2000;
  if (rc == 0) rc = cf_cf_fails(ctx, &f, (int)wait, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int eof(cf_ctx *ctx) { return unknown_after(ctx, 0); }
static int not_hello_reply(cf_ctx *ctx) { return unknown_after(ctx, 1); }
static int token_then_eof(cf_ctx *ctx) { return unknown_after(ctx, 2); }
static int token_then_bytes(cf_ctx *ctx) { return unknown_after(ctx, 3); }
static int reply_timeout(cf_ctx *ctx) { return unknown_after(ctx, 4); }

static int ordinary(cf_ctx *ctx) {
  /* A broker without the extension answers itself in backend-ready mode. */
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cf_negotiate(ctx, &f, true, ALL & ~HO_CAP_COALESCED_REPLY, NULL);
  if (rc == 0) rc = cf_cf_adopted(ctx, &f, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

#define C CF_F_COALESCED
static const cf_case cases[] = {
    {.id = "client.coalesced.adopted", .spec = "spec: READY-32 READY-31 CLIENT-1 CLIENT-6", .needs = C,
     .does = "reply_adopted (a Negotiated with the token and CAP_COALESCED_REPLY), ready and the response in one write",
     .expect = "the client takes all of it from that one read: served, exit 0, nothing re-sent", .run = adopted},
    {.id = "client.coalesced.split", .spec = "spec: READY-31 READY-32 CLIENT-1", .needs = C,
     .does = "the same bytes in three writes, 30 ms apart", .expect = "served the same way, exit 0", .run = split},
    {.id = "client.coalesced.declined", .spec = "spec: READY-31 READY-21", .needs = C,
     .does = "reply_declined: a Negotiated without token, with CAP_COALESCED_REPLY; then the end",
     .expect = "the client re-sends its request on backend_pipe, once; exit 0", .run = declined},
    {.id = "client.coalesced.eof", .spec = "spec: READY-31 ERR-71", .needs = C,
     .does = "the connection ends without a byte after the Hello and its request",
     .expect = "OUTCOME_UNKNOWN: non-zero exit, the request re-sent nowhere", .run = eof},
    {.id = "client.coalesced.not-hello-reply", .spec = "spec: READY-31 ERR-71", .needs = C,
     .does = "the first frame is a ready frame, not a HelloReply", .expect = "OUTCOME_UNKNOWN, no re-send",
     .run = not_hello_reply},
    {.id = "client.coalesced.token-then-eof", .spec = "spec: READY-31 ERR-71", .needs = C,
     .does = "a Negotiated with a token and CAP_COALESCED_REPLY, then the end (no ready)",
     .expect = "OUTCOME_UNKNOWN (READY-21 (b) does not apply), no re-send", .run = token_then_eof},
    {.id = "client.coalesced.token-then-bytes", .spec = "spec: READY-31 ERR-71", .needs = C,
     .does = "a Negotiated with a token and CAP_COALESCED_REPLY, then service bytes instead of ready",
     .expect = "OUTCOME_UNKNOWN, no re-send", .run = token_then_bytes},
    {.id = "client.coalesced.reply-timeout", .spec = "spec: READY-31 CLIENT-1 ERR-71", .needs = C,
     .consts = CF_K_BIT(CF_K_REPLY_TIMEOUT_MS), .does = "nothing at all after the Hello (the connection stays open)",
     .expect = "after its declared reply timeout: OUTCOME_UNKNOWN, no re-send", .run = reply_timeout},
    {.id = "client.coalesced.ordinary", .spec = "spec: READY-31 READY-13 READY-4 CAP-9", .needs = C,
     .does = "a broker without the extension: its own backend-ready Negotiated (no CAP_COALESCED_REPLY), then ready",
     .expect = "an ordinary backend-ready handoff: served, exit 0", .run = ordinary},
};
#undef C
CF_TABLE(cf_cases_ccoal, cases);
