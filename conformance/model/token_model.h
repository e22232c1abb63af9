/* handoff — a tiny, obviously correct reference model of the token store
 * and ACK registry, and an interpreter that applies one operation to both
 * the real store (ref/lib/core) and the model and checks that they agree.
 *
 * Shared, header-only, by the model-based property test
 * (conformance/unit/test_token_model.c: pseudo-random operations) and the
 * stateful fuzz target (fuzz/fuzz_token.c: operations from the input).
 *
 * The model keeps one record per possible token value. Token values come
 * from a small pool (so collisions, replays and re-issues of the same bytes
 * are frequent); the injected random source draws pool values (or fails)
 * and logs its draws, and the model checks the store's use of them.
 * Everything is a linear scan over at most TM_POOL_MAX records.
 *
 * Invariants checked after every step (spec: TOKEN-3 TOKEN-4 TOKEN-5 TOKEN-7
 * TOKEN-9 TOKEN-13 ACK-17 ACK-2 ACK-6):
 *   - every result, output and info record equals the model's;
 *   - pending counts, awaiting-ACK counts and next deadlines are equal;
 *   - the state of every token value is equal;
 *   - counts stay within max_pending;
 *   - a token value's lives: enters - leaves is 0 or 1 (no entry leaves
 *     twice), and a given life is consumed (consume OK or ACK COMPLETED) at
 *     most once;
 *   - tm_finish(): after the clock runs out, every entry has left (none
 *     leaves never) and the store frees everything (leaks: ASan).
 */
#ifndef HANDOFF_TOKEN_MODEL_H
#define HANDOFF_TOKEN_MODEL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "handoff/token.h"

#define TM_POOL_MAX 64
#define TM_LOG_MAX 64
#define TM_OP_BYTES 3 /* op, a, b */
#define TM_CFG_BYTES 8

enum tm_op {
  TM_ISSUE, TM_INSERT, TM_CONSUME, TM_REVOKE, TM_PRUNE, TM_REGISTER, TM_ACK, TM_ACK_WRONG,
  TM_ABANDON, TM_ADVANCE, TM_SWEEP, TM_REPLAY, TM_STEP_BACK, TM_REFUSE, TM_OP_COUNT
};

typedef struct tm_rec {
  int state; /* HO_TOKEN_ABSENT / PENDING / AWAITING_ACK */
  uint64_t due, issued, backend, corr;
} tm_rec;

typedef struct tm_h {
  ho_token_store *s;
  uint32_t cap, attempts, pool, fail_permille;
  uint64_t ttl, ackdl;
  uint64_t clock; /* the value passed as now_ms (may step back) */
  uint64_t now;   /* model's clamped clock */
  tm_rec m[TM_POOL_MAX];
  uint32_t count, nack;
  uint64_t rng;
  int log[TM_LOG_MAX]; /* draws of the current call: pool index, -1 failure */
  uint32_t nlog;
  uint32_t enters[TM_POOL_MAX], leaves[TM_POOL_MAX], consumed_life[TM_POOL_MAX];
  int last_left; /* pool index of the last token that left, -1 none */
  uint64_t steps;
  char err[256];
} tm_h;

static inline uint64_t tm_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Token value of pool index i: 15 pseudo-random bytes and the index. */
static inline void tm_token(uint32_t i, uint8_t out[HO_TOKEN_BYTES]) {
  uint64_t a = tm_mix(i * 2 + 1), b = tm_mix(i * 2 + 2);
  memcpy(out, &a, 8);
  memcpy(out + 8, &b, 8);
  out[15] = (uint8_t)i;
}

static inline int tm_random(void *ctx, uint8_t *buf, size_t len) {
  tm_h *h = ctx;
  h->rng = tm_mix(h->rng);
  if (len != HO_TOKEN_BYTES) { /* the hash key at creation */
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(tm_mix(h->rng + i) >> 8);
    return 0;
  }
  int d = (h->rng % 1000) < h->fail_permille ? -1 : (int)((h->rng >> 20) % h->pool);
  if (h->nlog < TM_LOG_MAX) h->log[h->nlog] = d;
  h->nlog++;
  if (d < 0) return -1;
  tm_token((uint32_t)d, buf);
  return 0;
}

#define TM_CHECK(c, ...)                                                                           \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      int off_ = snprintf(h->err, sizeof h->err, "step %" PRIu64 ": ", h->steps);                 \
      snprintf(h->err + off_, sizeof h->err - (size_t)off_, __VA_ARGS__);                          \
      return -1;                                                                                   \
    }                                                                                              \
  } while (0)

static inline uint64_t tm_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Configure from TM_CFG_BYTES bytes and create the store. 0 or -1. */
static inline int tm_init(tm_h *h, const uint8_t cfg[TM_CFG_BYTES]) {
  memset(h, 0, sizeof *h);
  h->cap = 1 + cfg[0] % 24;
  h->attempts = 1 + cfg[1] % 4;
  h->pool = 2 + cfg[2] % (TM_POOL_MAX - 1);
  h->ttl = 1 + (uint64_t)(cfg[3] % 64) * 4;
  h->ackdl = 1 + (uint64_t)(cfg[4] % 64) * 2;
  h->rng = (uint64_t)cfg[6] << 8 | cfg[7];
  h->last_left = -1;
  ho_token_config c;
  ho_token_config_init(&c);
  c.max_pending = h->cap;
  c.collision_attempts = h->attempts;
  c.ttl_ms = h->ttl;
  c.ack_deadline_ms = h->ackdl;
  c.random = tm_random;
  c.random_ctx = h;
  int rc = ho_token_store_new(&h->s, &c); /* draws the hash key: no failures yet */
  TM_CHECK(rc == HO_OK, "store_new: %s", ho_errname(rc));
  h->fail_permille = (cfg[5] % 4) * 40;
  return 0;
}

static inline uint64_t tm_clamp(tm_h *h) {
  if (h->clock > h->now) h->now = h->clock;
  return h->now;
}

static inline void tm_enter(tm_h *h, uint32_t i, uint64_t now) {
  h->m[i].state = HO_TOKEN_PENDING;
  h->m[i].due = tm_sat(now, h->ttl);
  h->count++;
  h->enters[i]++;
}

static inline void tm_leave(tm_h *h, uint32_t i) {
  if (h->m[i].state == HO_TOKEN_AWAITING_ACK) h->nack--;
  memset(&h->m[i], 0, sizeof h->m[i]);
  h->count--;
  h->leaves[i]++;
  h->last_left = (int)i;
}

static inline int tm_consumed(tm_h *h, uint32_t i) {
  /* Lives are numbered by enters; a life is consumed at most once. */
  TM_CHECK(h->consumed_life[i] != h->enters[i], "token %u consumed twice in life %u", i,
           h->enters[i]);
  h->consumed_life[i] = h->enters[i];
  return 0;
}

static inline int tm_model_prune(tm_h *h, uint64_t now) {
  int n = 0;
  for (uint32_t i = 0; i < h->pool; i++)
    if (h->m[i].state == HO_TOKEN_PENDING && h->m[i].due <= now) {
      tm_leave(h, i);
      n++;
    }
  return n;
}

/* Presented token for `b`: expected itself (b == 0), another pool value, or
 * expected with one bit flipped (b & 0x80). Sets *same. */
static inline void tm_presented(tm_h *h, uint32_t e, uint8_t b, uint8_t out[HO_TOKEN_BYTES],
                                int *same) {
  tm_token(e, out);
  if (b == 0) {
    *same = 1;
  } else if (b & 0x80) {
    out[(b >> 3) & 15] ^= (uint8_t)(1u << (b & 7));
    *same = 0;
  } else {
    uint32_t o = (uint32_t)b % h->pool;
    tm_token(o, out);
    *same = o == e;
  }
}

static inline int tm_check_info(tm_h *h, uint32_t i, const ho_ack_info *in, ho_ack_exit exit,
                                uint64_t now) {
  uint8_t t[HO_TOKEN_BYTES];
  tm_token(i, t);
  const tm_rec *r = &h->m[i];
  TM_CHECK(memcmp(in->token, t, sizeof t) == 0, "info token");
  TM_CHECK(in->backend == r->backend && in->correlation_id == r->corr, "info backend/corr");
  TM_CHECK(in->user == (void *)(uintptr_t)(i + 1), "info user");
  TM_CHECK(in->issued_at_ms == r->issued && in->deadline_ms == r->due, "info times");
  TM_CHECK(in->waited_ms == now - r->issued, "info waited");
  TM_CHECK(in->exit == exit, "info exit %d want %d", (int)in->exit, (int)exit);
  return 0;
}

/* Compare everything observable. */
static inline int tm_agree(tm_h *h) {
  TM_CHECK(ho_token_pending(h->s) == h->count, "pending %zu model %u", ho_token_pending(h->s),
           h->count);
  TM_CHECK(ho_ack_pending(h->s) == h->nack, "awaiting %zu model %u", ho_ack_pending(h->s),
           h->nack);
  TM_CHECK(h->count <= h->cap, "count %u above cap %u", h->count, h->cap);
  uint64_t md = UINT64_MAX, ma = UINT64_MAX;
  for (uint32_t i = 0; i < h->pool; i++) {
    uint8_t t[HO_TOKEN_BYTES];
    tm_token(i, t);
    int st = ho_token_state(h->s, t);
    TM_CHECK(st == h->m[i].state, "token %u state %d model %d", i, st, h->m[i].state);
    TM_CHECK(h->enters[i] - h->leaves[i] == (h->m[i].state ? 1u : 0u), "token %u lives", i);
    if (h->m[i].state && h->m[i].due < md) md = h->m[i].due;
    if (h->m[i].state == HO_TOKEN_AWAITING_ACK && h->m[i].due < ma) ma = h->m[i].due;
  }
  uint64_t at = 0;
  int have = ho_token_next_deadline(h->s, &at);
  TM_CHECK(have == (h->count > 0) && (!have || at == md), "next_deadline %d %" PRIu64 " model %" PRIu64,
           have, at, md);
  have = ho_ack_next_deadline(h->s, &at);
  TM_CHECK(have == (h->nack > 0) && (!have || at == ma), "ack_next_deadline");
  return 0;
}

static inline uint64_t tm_model_next(const tm_h *h) {
  uint64_t md = UINT64_MAX;
  for (uint32_t i = 0; i < h->pool; i++)
    if (h->m[i].state && h->m[i].due < md) md = h->m[i].due;
  return md;
}

/* Apply one operation to store and model. 0 agree, -1 disagree (h->err). */
static inline int tm_step(tm_h *h, uint8_t op, uint8_t a, uint8_t b) {
  uint8_t t[HO_TOKEN_BYTES], p[HO_TOKEN_BYTES];
  uint32_t i = (uint32_t)a % h->pool;
  int rc, want, same;
  uint64_t now;
  ho_ack_info info;
  h->steps++;
  switch (op % TM_OP_COUNT) {
  case TM_ISSUE: {
    h->nlog = 0;
    memset(t, 0xEE, sizeof t);
    rc = ho_token_issue(h->s, h->clock, t);
    now = tm_clamp(h);
    tm_model_prune(h, now);
    if (h->count >= h->cap) {
      TM_CHECK(rc == HO_ERR_PENDING_LIMIT && h->nlog == 0, "issue full: %s draws %u", ho_errname(rc), h->nlog);
      break;
    }
    want = HO_ERR_COLLISION_EXHAUSTED;
    uint32_t k;
    for (k = 0; k < h->attempts; k++) {
      TM_CHECK(k < h->nlog, "issue drew %u, expected more", h->nlog);
      int d = h->log[k];
      if (d < 0) { want = HO_ERR_RANDOM; k++; break; }
      if (h->m[d].state) continue;
      tm_token((uint32_t)d, p);
      TM_CHECK(rc == HO_OK && memcmp(t, p, sizeof t) == 0, "issue: %s, want OK (draw %u)", ho_errname(rc), k);
      tm_enter(h, (uint32_t)d, now);
      want = HO_OK;
      k++;
      break;
    }
    TM_CHECK(rc == want, "issue: %s want %s", ho_errname(rc), ho_errname(want));
    TM_CHECK(h->nlog == k, "issue drew %u want %u", h->nlog, k);
    if (rc != HO_OK) {
      memset(p, 0xEE, sizeof p);
      TM_CHECK(memcmp(t, p, sizeof t) == 0, "issue failed but wrote out");
    }
    break;
  }
  case TM_INSERT:
    tm_token(i, t);
    rc = ho_token_insert(h->s, t, h->clock);
    now = tm_clamp(h);
    tm_model_prune(h, now);
    want = h->m[i].state ? HO_ERR_ALREADY_PENDING : h->count >= h->cap ? HO_ERR_PENDING_LIMIT : HO_OK;
    TM_CHECK(rc == want, "insert %u: %s want %s", i, ho_errname(rc), ho_errname(want));
    if (rc == HO_OK) tm_enter(h, i, now);
    break;
  case TM_CONSUME:
  case TM_REPLAY:
    if ((op % TM_OP_COUNT) == TM_REPLAY) {
      if (h->last_left < 0) break;
      i = (uint32_t)h->last_left; /* present a token that has left, again */
      b = 0;
    }
    tm_token(i, t);
    tm_presented(h, i, b, p, &same);
    rc = ho_token_consume_matching(h->s, t, p, h->clock);
    now = tm_clamp(h);
    if (!h->m[i].state) want = HO_ERR_TOKEN_NOT_PENDING;
    else if (h->m[i].state == HO_TOKEN_AWAITING_ACK) want = HO_ERR_STATE;
    else if (h->m[i].due <= now) want = HO_ERR_TOKEN_EXPIRED;
    else if (!same) want = HO_ERR_TOKEN_MISMATCH;
    else want = HO_OK;
    TM_CHECK(rc == want, "consume %u b=%u: %s want %s", i, b, ho_errname(rc), ho_errname(want));
    if (rc == HO_OK && tm_consumed(h, i)) return -1;
    if (rc == HO_OK || rc == HO_ERR_TOKEN_EXPIRED) tm_leave(h, i);
    tm_model_prune(h, now);
    break;
  case TM_REVOKE:
    tm_token(i, t);
    rc = ho_token_revoke(h->s, t);
    want = !h->m[i].state ? 0 : h->m[i].state == HO_TOKEN_AWAITING_ACK ? HO_ERR_STATE : 1;
    TM_CHECK(rc == want, "revoke %u: %d want %d", i, rc, want);
    if (rc == 1) tm_leave(h, i);
    break;
  case TM_PRUNE:
    rc = ho_token_prune_expired(h->s, h->clock);
    want = tm_model_prune(h, tm_clamp(h));
    TM_CHECK(rc == want, "prune: %d want %d", rc, want);
    break;
  case TM_REGISTER:
    tm_token(i, t);
    rc = ho_ack_register(h->s, t, b, (uint64_t)h->steps, (void *)(uintptr_t)(i + 1), h->clock);
    now = tm_clamp(h);
    if (!h->m[i].state) want = HO_ERR_TOKEN_NOT_PENDING;
    else if (h->m[i].state == HO_TOKEN_AWAITING_ACK) want = HO_ERR_ALREADY_PENDING;
    else if (h->m[i].due <= now) want = HO_ERR_TOKEN_EXPIRED;
    else want = HO_OK;
    TM_CHECK(rc == want, "register %u: %s want %s", i, ho_errname(rc), ho_errname(want));
    if (rc == HO_ERR_TOKEN_EXPIRED) tm_leave(h, i);
    if (rc == HO_OK) {
      tm_rec *r = &h->m[i];
      uint64_t dl = tm_sat(now, h->ackdl);
      r->due = dl < r->due ? dl : r->due;
      r->state = HO_TOKEN_AWAITING_ACK;
      r->issued = now;
      r->backend = b;
      r->corr = h->steps;
      h->nack++;
    }
    break;
  case TM_ACK:
  case TM_ACK_WRONG: {
    tm_token(i, t);
    if ((op % TM_OP_COUNT) == TM_ACK) b = 0;
    else if (b == 0) b = 0x80;
    tm_presented(h, i, b, p, &same);
    memset(&info, 0xA5, sizeof info);
    ho_ack_info untouched = info;
    rc = ho_ack_acknowledge(h->s, t, p, h->clock, &info);
    now = tm_clamp(h);
    ho_ack_exit exit = HO_ACK_COMPLETED;
    if (h->m[i].state != HO_TOKEN_AWAITING_ACK) want = HO_ERR_TOKEN_NOT_PENDING;
    else if (!same) want = HO_ERR_ACK_TOKEN_MISMATCH, exit = HO_ACK_MISMATCH;
    else if (now >= h->m[i].due) want = HO_ERR_ACK_DEADLINE_EXCEEDED, exit = HO_ACK_LATE;
    else want = HO_OK;
    TM_CHECK(rc == want, "ack %u b=%u: %s want %s", i, b, ho_errname(rc), ho_errname(want));
    if (rc == HO_ERR_TOKEN_NOT_PENDING) {
      TM_CHECK(memcmp(&info, &untouched, sizeof info) == 0, "ack NOT_PENDING wrote info");
      break;
    }
    if (tm_check_info(h, i, &info, exit, now)) return -1;
    if (rc == HO_OK && tm_consumed(h, i)) return -1;
    tm_leave(h, i);
    break;
  }
  case TM_REFUSE: { /* refused ACK; b selects the echo as for consume */
    tm_token(i, t);
    tm_presented(h, i, b, p, &same);
    memset(&info, 0xA5, sizeof info);
    ho_ack_info untouched = info;
    rc = ho_ack_refuse(h->s, t, p, h->clock, &info);
    now = tm_clamp(h);
    ho_ack_exit exit = HO_ACK_ABANDONED;
    if (h->m[i].state != HO_TOKEN_AWAITING_ACK) want = HO_ERR_TOKEN_NOT_PENDING;
    else if (!same) want = HO_ERR_ACK_TOKEN_MISMATCH, exit = HO_ACK_MISMATCH;
    else want = HO_ERR_ACK_REFUSED;
    TM_CHECK(rc == want, "refuse %u b=%u: %s want %s", i, b, ho_errname(rc), ho_errname(want));
    if (rc == HO_ERR_TOKEN_NOT_PENDING) {
      TM_CHECK(memcmp(&info, &untouched, sizeof info) == 0, "refuse NOT_PENDING wrote info");
      break;
    }
    if (tm_check_info(h, i, &info, exit, now)) return -1;
    tm_leave(h, i);
    break;
  }
  case TM_ABANDON:
    tm_token(i, t);
    rc = ho_ack_abandon(h->s, t, h->clock, &info);
    now = tm_clamp(h);
    want = !h->m[i].state ? HO_ERR_TOKEN_NOT_PENDING : h->m[i].state == HO_TOKEN_AWAITING_ACK ? 1 : 0;
    TM_CHECK(rc == want, "abandon %u: %d want %d", i, rc, want);
    if (rc == 1 && tm_check_info(h, i, &info, HO_ACK_ABANDONED, now)) return -1;
    if (rc >= 0) tm_leave(h, i);
    break;
  case TM_ADVANCE: {
    uint64_t next = tm_model_next(h);
    switch (b & 3) {
    case 0: h->clock += a; break;                                  /* small step */
    case 1: if (next != UINT64_MAX) h->clock = next; break;        /* exactly at a deadline */
    case 2: if (next != UINT64_MAX && next > 0) h->clock = next - 1; break; /* just before */
    default: h->clock += (uint64_t)a * 16; break;                  /* big step */
    }
    break;
  }
  case TM_SWEEP: {
    ho_ack_info out[8];
    size_t cap = (size_t)(a % 9), n = 99;
    rc = ho_ack_expire_overdue(h->s, h->clock, cap ? out : NULL, cap, &n);
    now = tm_clamp(h);
    TM_CHECK(rc == HO_OK, "sweep: %s", ho_errname(rc));
    uint32_t overdue = 0;
    for (uint32_t k = 0; k < h->pool; k++)
      if (h->m[k].state == HO_TOKEN_AWAITING_ACK && h->m[k].due <= now) overdue++;
    TM_CHECK(n == (overdue < cap ? overdue : cap), "sweep n=%zu overdue=%u cap=%zu", n, overdue, cap);
    uint64_t last = 0;
    for (size_t k = 0; k < n; k++) {
      uint32_t j = out[k].token[15];
      TM_CHECK(j < h->pool, "sweep: unknown token");
      tm_token(j, t);
      TM_CHECK(memcmp(t, out[k].token, sizeof t) == 0, "sweep: unknown token bytes");
      TM_CHECK(h->m[j].state == HO_TOKEN_AWAITING_ACK && h->m[j].due <= now, "sweep: %u not overdue", j);
      TM_CHECK(out[k].deadline_ms >= last, "sweep: not earliest first");
      last = out[k].deadline_ms;
      if (tm_check_info(h, j, &out[k], HO_ACK_EXPIRED, now)) return -1;
      tm_leave(h, j); /* a second report of j fails the state check above */
    }
    /* Nothing earlier than the last reported deadline was left behind. */
    for (uint32_t k = 0; k < h->pool; k++)
      TM_CHECK(!(h->m[k].state == HO_TOKEN_AWAITING_ACK && h->m[k].due < last), "sweep skipped %u", k);
    break;
  }
  case TM_STEP_BACK:
    h->clock = h->clock > a ? h->clock - a : 0;
    break;
  }
  return tm_agree(h);
}

/* Run the clock out: every entry must leave; then free the store. */
static inline int tm_finish(tm_h *h) {
  int rc = 0;
  h->clock = UINT64_MAX;
  ho_ack_info out[4];
  size_t n;
  do {
    if (ho_ack_expire_overdue(h->s, h->clock, out, 4, &n) != HO_OK) break;
    for (size_t k = 0; k < n; k++) {
      uint32_t j = out[k].token[15];
      if (j >= h->pool || h->m[j].state != HO_TOKEN_AWAITING_ACK) rc = -1;
      else tm_leave(h, j);
    }
  } while (n == 4);
  ho_token_prune_expired(h->s, h->clock);
  tm_model_prune(h, UINT64_MAX);
  if (rc == 0 && (ho_token_pending(h->s) != 0 || h->count != 0)) rc = -1;
  for (uint32_t i = 0; i < h->pool; i++)
    if (h->enters[i] != h->leaves[i]) rc = -1;
  if (rc) snprintf(h->err, sizeof h->err, "finish: an entry never left (store %zu, model %u)",
                   ho_token_pending(h->s), h->count);
  ho_token_store_del(h->s);
  h->s = NULL;
  return rc;
}

#endif /* HANDOFF_TOKEN_MODEL_H */
