/* handoff-conform — cases: the token — sideband check, exactly-once
 * acceptance and the replay memory, offer deadlines. */
#include <unistd.h>

#include "cases.h"

static int refuse_one(cf_ctx *ctx, cf_ho *h, const char *name) {
  int rc = cf_run_refuse(ctx, h, name);
  cf_ho_free(ctx, h);
  return rc;
}

static int mismatch_first(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.sideband[0] ^= 0xFF;
  return refuse_one(ctx, &h, "SIDEBAND_MISMATCH");
}

static int mismatch_last(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.sideband[15] ^= 0x01;
  return refuse_one(ctx, &h, "SIDEBAND_MISMATCH");
}

/* A second handoff presenting a's token (with its own connection). */
static int replay_of(cf_ctx *ctx, cf_ho *a, cf_ho *b) {
  if (cf_ho_new(ctx, b, CF_CONN_PAIR) != 0) return -1;
  memcpy(b->offer.token, a->offer.token, 16);
  memcpy(b->sideband, a->offer.token, 16);
  return 0;
}

static int replay_new_connection(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (cf_ho_new(ctx, &a, CF_CONN_PAIR) != 0) return -1;
  int rc = cf_run_accept(ctx, &a);
  if (rc == 0) rc = replay_of(ctx, &a, &b);
  if (rc == 0) rc = cf_run_refuse(ctx, &b, "TOKEN_NOT_PENDING");
  /* The first adoption is not disturbed by the replay. */
  if (rc == 0) rc = cf_conn_echo(ctx, &a.conn, 64, 2000, "XFER-15 BACKEND-1");
  cf_ho_free(ctx, &b);
  cf_ho_free(ctx, &a);
  return rc;
}

static int replay_same_connection(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  cf_ctl c = CF_CTL0;
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  int rc = cf_ho_new(ctx, &a, CF_CONN_PAIR);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &a);
  if (rc == 0) rc = cf_expect_accept(ctx, &c, &a);
  if (rc == 0) rc = cf_require_multi(ctx, &c);
  if (rc == 0) rc = replay_of(ctx, &a, &b);
  if (rc == 0) cf_ho_probe(ctx, &b);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &b);
  if (rc == 0) rc = cf_expect_refuse(ctx, &c, &b, "TOKEN_NOT_PENDING");
  cf_ho_free(ctx, &b);
  cf_ho_free(ctx, &a);
  cf_ctl_close(ctx, &c);
  return rc;
}

static int replay_concurrent(cf_ctx *ctx) {
  /* Both offers are in the SUT before it answers either: no interleaving
   * may accept the token twice (BACKEND-5). */
  cf_ho a = CF_HO0, b = CF_HO0;
  cf_ctl c1 = CF_CTL0, c2 = CF_CTL0;
  if (cf_ctl_open(ctx, &c1) != 0 || cf_ctl_open(ctx, &c2) != 0) return -1;
  int rc = cf_ho_new(ctx, &a, CF_CONN_PAIR);
  if (rc == 0) rc = replay_of(ctx, &a, &b);
  if (rc == 0) {
    cf_ho_probe(ctx, &a);
    cf_ho_probe(ctx, &b);
    rc = cf_ho_send(ctx, &c1, &a);
  }
  if (rc == 0) rc = cf_ho_send(ctx, &c2, &b);
  cf_ho *ha[1] = {&a}, *hb[1] = {&b};
  if (rc == 0) rc = cf_read_acks(ctx, &c1, ha, 1, CF_ACK_WAIT_MS);
  if (rc == 0) rc = cf_read_acks(ctx, &c2, hb, 1, CF_ACK_WAIT_MS);
  if (rc == 0 && a.ack.accepted + b.ack.accepted != 1)
    rc = cf_fail(ctx, "BACKEND-5 XFER-15", "exactly one of two offers with the same token is accepted",
                 "%s", a.ack.accepted ? "both were accepted" : "neither was accepted");
  if (rc == 0) {
    cf_ho *won = a.ack.accepted ? &a : &b, *lost = a.ack.accepted ? &b : &a;
    rc = cf_verify_refused(ctx, lost, "TOKEN_NOT_PENDING");
    /* The winner's queued probe is answered (accepted route). */
    if (rc == 0) rc = cf_verify_accepted(ctx, won);
  }
  cf_ho_free(ctx, &a);
  cf_ho_free(ctx, &b);
  cf_ctl_close(ctx, &c1);
  cf_ctl_close(ctx, &c2);
  return rc;
}

static int refused_not_recorded(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (cf_ho_new(ctx, &a, CF_CONN_PAIR) != 0) return -1;
  a.sideband[7] ^= 0x10;
  int rc = cf_run_refuse(ctx, &a, "SIDEBAND_MISMATCH");
  if (rc == 0) rc = replay_of(ctx, &a, &b);
  if (rc == 0) {
    cf_trace_note(ctx, "the token of the refused offer, now offered validly: it was never accepted");
    rc = cf_run_accept(ctx, &b);
  }
  cf_ho_free(ctx, &a);
  cf_ho_free(ctx, &b);
  return rc;
}

static int ready_failure_keeps_token(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (cf_ho_new(ctx, &a, CF_CONN_PAIR) != 0) return -1;
  cf_ho_flag_ready(&a);
  close(a.conn.c); /* the ready write fails: the offer was already accepted */
  a.conn.c = -1;
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &a);
  cf_ho *ha[1] = {&a};
  if (rc == 0) rc = cf_read_acks(ctx, &c, ha, 1, CF_ACK_WAIT_MS);
  cf_ctl_close(ctx, &c);
  if (rc == 0 && a.ack.accepted)
    rc = cf_fail(ctx, "READY-12", "a failed ready write refuses the offer", "the SUT accepted it");
  if (rc == 0) rc = replay_of(ctx, &a, &b);
  if (rc == 0) {
    cf_ho_flag_ready(&b);
    rc = cf_run_refuse(ctx, &b, "TOKEN_NOT_PENDING");
  }
  cf_ho_free(ctx, &a);
  cf_ho_free(ctx, &b);
  return rc;
}

static int duplicate_correlation(cf_ctx *ctx) {
  cf_ho a = CF_HO0, b = CF_HO0;
  if (cf_ho_new(ctx, &a, CF_CONN_PAIR) != 0) return -1;
  int rc = cf_run_accept(ctx, &a);
  if (rc == 0) rc = cf_ho_new(ctx, &b, CF_CONN_PAIR);
  if (rc == 0) {
    b.offer.corr = b.offer.request_id = a.offer.corr;
    rc = cf_run_accept(ctx, &b);
  }
  cf_ho_free(ctx, &a);
  cf_ho_free(ctx, &b);
  return rc;
}

/* Fill the replay memory: capacity accepted handoffs. */
static int fill_memory(cf_ctx *ctx, cf_ho *first) {
  long cap = cf_const(ctx->o, CF_K_REPLAY_CAPACITY);
  cf_trace_note(ctx, "filling the replay memory: %ld accepted handoffs (replay_capacity)", cap);
  for (long i = 0; i < cap; i++) {
    cf_ho h = CF_HO0;
    if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
    int rc = cf_run_accept(ctx, &h);
    if (i == 0) *first = h;
    else cf_ho_free(ctx, &h);
    if (rc != 0) return -1;
  }
  return 0;
}

static int memory_full(cf_ctx *ctx) {
  cf_ho first = CF_HO0, extra = CF_HO0, again = CF_HO0;
  memset(&first, 0, sizeof first);
  int rc = fill_memory(ctx, &first);
  if (rc == 0) rc = cf_ho_new(ctx, &extra, CF_CONN_PAIR);
  if (rc == 0) rc = cf_run_refuse(ctx, &extra, "PENDING_LIMIT");
  /* The first token is not forgotten to make room (TOKEN-18), and a replay
   * is named as such before the full memory (XFER-36). */
  if (rc == 0) rc = replay_of(ctx, &first, &again);
  if (rc == 0) rc = cf_run_refuse(ctx, &again, "TOKEN_NOT_PENDING");
  cf_ho_free(ctx, &first);
  cf_ho_free(ctx, &extra);
  cf_ho_free(ctx, &again);
  return rc;
}

static int deadline_case(cf_ctx *ctx, bool flagged, int64_t offset_ms, bool zero, const char *refusal) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  if (flagged) cf_ho_flag_ready(&h);
  h.offer.deadline = zero ? 0 : (uint64_t)((int64_t)cf_wall_ms() + offset_ms);
  int rc = refusal ? cf_run_refuse(ctx, &h, refusal) : cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

static int legacy_past(cf_ctx *ctx) { return deadline_case(ctx, false, -1000, false, "TIMEOUT"); }
static int legacy_future(cf_ctx *ctx) { return deadline_case(ctx, false, 5000, false, NULL); }
static int flagged_past(cf_ctx *ctx) { return deadline_case(ctx, true, -1000, false, "TIMEOUT"); }
static int flagged_zero(cf_ctx *ctx) { return deadline_case(ctx, true, 0, true, "TIMEOUT"); }

static const cf_case cases[] = {
    {.id = "backend.token.sideband-mismatch",
     .spec = "spec: XFER-12 ERR-39",
     .does = "sideband bytes that differ from the offer's token in the first byte",
     .expect = "refused with SIDEBAND_MISMATCH, the descriptor closed, nothing read or written",
     .run = mismatch_first},
    {.id = "backend.token.sideband-mismatch-last-byte",
     .spec = "spec: XFER-12 ERR-39 TOKEN-8",
     .does = "sideband bytes that differ from the offer's token only in bit 0 of byte 15",
     .expect = "refused with SIDEBAND_MISMATCH: all 16 bytes are compared",
     .run = mismatch_last},
    {.id = "backend.token.replay-new-connection",
     .spec = "spec: XFER-15 ERR-40 TOKEN-17",
     .does = "an accepted handoff, then its token with another descriptor on a new control connection",
     .expect = "the replay is refused with TOKEN_NOT_PENDING; the first connection is still served",
     .run = replay_new_connection},
    {.id = "backend.token.replay-same-connection",
     .spec = "spec: XFER-15 ERR-40 TOKEN-17",
     .needs = CF_F_MULTI_OFFER,
     .does = "an accepted handoff, then its token again on the same control connection",
     .expect = "refused with TOKEN_NOT_PENDING",
     .run = replay_same_connection},
    {.id = "backend.token.replay-concurrent",
     .spec = "spec: BACKEND-5 XFER-15 ERR-40",
     .does = "two offers with the same token on two control connections, both sent before either ACK",
     .expect = "exactly one is accepted, the other refused with TOKEN_NOT_PENDING",
     .run = replay_concurrent},
    {.id = "backend.token.refused-not-recorded",
     .spec = "spec: TOKEN-19",
     .does = "an offer refused for SIDEBAND_MISMATCH, then its token offered validly",
     .expect = "accepted: the token of an offer refused by a check before acceptance is not recorded",
     .run = refused_not_recorded},
    {.id = "backend.token.ready-failure-keeps-token",
     .spec = "spec: TOKEN-19 READY-12",
     .needs = CF_F_BACKEND_READY,
     .does = "a flagged offer whose ready write fails (client gone), then the same token again",
     .expect = "the first is refused, the second refused with TOKEN_NOT_PENDING: a token once decided "
               "to accept stays recorded",
     .run = ready_failure_keeps_token},
    {.id = "backend.token.duplicate-correlation",
     .spec = "spec: XFER-17",
     .does = "two handoffs (different tokens, new control connections) with the same correlation id",
     .expect = "both answered and accepted, each ACK echoing its own token and the id",
     .no_mutant = "correlation ids belong to the broker; no mutant keys anything on them",
     .run = duplicate_correlation},
    {.id = "backend.token.replay-memory-full",
     .spec = "spec: TOKEN-18 ERR-42 XFER-36",
     .consts = CF_K_BIT(CF_K_REPLAY_CAPACITY),
     .does = "replay_capacity accepted handoffs, one more, then the first token again",
     .expect = "the extra one refused with PENDING_LIMIT; the first token still refused as "
               "TOKEN_NOT_PENDING (never forgotten early)",
     .run = memory_full},
    {.id = "backend.deadline.legacy-past",
     .spec = "spec: TOKEN-21 ENV-9",
     .does = "a legacy offer whose deadline_unix_ms is 1 s in the past",
     .expect = "refused with TIMEOUT",
     .run = legacy_past},
    {.id = "backend.deadline.legacy-future",
     .spec = "spec: TOKEN-21 ENV-9",
     .does = "a legacy offer whose deadline_unix_ms is 5 s ahead",
     .expect = "accepted",
     .no_mutant = "a backend refusing valid deadlines fails the backend-ready cases first",
     .run = legacy_future},
    {.id = "backend.deadline.ready-past",
     .spec = "spec: READY-11 ERR-41 READY-12",
     .needs = CF_F_BACKEND_READY,
     .does = "a flagged offer whose ready deadline is 1 s in the past",
     .expect = "refused with TIMEOUT, nothing written on the connection",
     .run = flagged_past},
    {.id = "backend.deadline.ready-zero",
     .spec = "spec: READY-11 ERR-41",
     .needs = CF_F_BACKEND_READY,
     .does = "a flagged offer without a ready deadline (0)",
     .expect = "refused with TIMEOUT, nothing written on the connection",
     .run = flagged_zero},
};
CF_TABLE(cf_cases_token, cases);
