/* Unit tests: token store (ref/lib/core/token.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/token.h"
#include "token_fixtures.h"

static const uint8_t ZERO[HO_TOKEN_BYTES];

/* spec: TOKEN-10 TOKEN-16 ACK-17 — the original's defaults, except the ACK
 * deadline that 1.0.0-rc1 puts below the client's ready timeout. */
Test(token, config_defaults) {
  ho_token_config c;
  ho_token_config_init(&c);
  cr_assert_eq(c.ttl_ms, 30000);
  cr_assert_eq(c.ttl_ms, HO_TOKEN_MAX_TTL_MS);
  cr_assert_eq(c.ack_deadline_ms, 1500);
  cr_assert_eq(c.max_pending, 1024);
  cr_assert_eq(c.collision_attempts, 16);
  cr_assert_eq(c.random, ho_random_os);
  cr_assert_null(c.allocator);
}

/* spec: TOKEN-1 */
Test(token, issue_gives_distinct_os_random_tokens) {
  ho_token_store *s;
  cr_assert_eq(ho_token_store_new(&s, NULL), HO_OK);
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 0, b), HO_OK);
  cr_assert_neq(memcmp(a, b, 16), 0);
  cr_assert_neq(memcmp(a, ZERO, 16), 0);
  cr_assert_eq(ho_token_pending(s), 2);
  cr_assert_eq(ho_token_state(s, a), HO_TOKEN_PENDING);
  cr_assert_eq(ho_token_state(s, b), HO_TOKEN_PENDING);
  ho_token_store_del(s);
}

/* spec: TOKEN-1 */
Test(token, random_os_fills_buffer) {
  uint8_t a[64] = {0}, b[64] = {0};
  cr_assert_eq(ho_random_os(NULL, a, sizeof a), HO_OK);
  cr_assert_eq(ho_random_os(NULL, b, sizeof b), HO_OK);
  cr_assert_neq(memcmp(a, b, sizeof a), 0);
}

/* spec: TOKEN-1 */
Test(token, new_with_failing_random_is_named_error) {
  ho_token_config c;
  ho_token_config_init(&c);
  c.random = fx_random_fail;
  ho_token_store *s = (ho_token_store *)0x1;
  cr_assert_eq(ho_token_store_new(&s, &c), HO_ERR_RANDOM);
  cr_assert_eq(s, (ho_token_store *)0x1, "out untouched on failure");
}

/* spec: TOKEN-1 TOKEN-13 */
Test(token, issue_with_failing_random_is_named_error_never_fallback) {
  fx_rand r = {.fail_at = 2}; /* call 1: hash key; call 2: the token */
  ho_token_store *s = fx_store(&r, 1000, 100, 4);
  cr_assert_not_null(s);
  uint8_t out[16];
  memset(out, 0x77, 16);
  cr_assert_eq(ho_token_issue(s, 0, out), HO_ERR_RANDOM);
  for (int i = 0; i < 16; i++) cr_assert_eq(out[i], 0x77, "out untouched");
  cr_assert_eq(ho_token_pending(s), 0);
  cr_assert_eq(r.calls, 2, "no retry with another source");
  cr_assert_eq(ho_token_issue(s, 0, out), HO_OK, "the source recovered");
  ho_token_store_del(s);
}

static const uint8_t T1[HO_TOKEN_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t T2[HO_TOKEN_BYTES] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
static const uint8_t KEY[HO_TOKEN_BYTES] = {0x42};

/* spec: TOKEN-4 */
Test(token, collision_retries_until_a_fresh_candidate) {
  const uint8_t script[][HO_TOKEN_BYTES] = {{0x42}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}};
  fx_rand r = {.script = script, .len = 5};
  ho_token_config c;
  ho_token_config_init(&c);
  c.random = fx_random;
  c.random_ctx = &r;
  c.collision_attempts = 3;
  ho_token_store *s;
  cr_assert_eq(ho_token_store_new(&s, &c), HO_OK);
  uint8_t out[16];
  cr_assert_eq(ho_token_issue(s, 0, out), HO_OK);
  cr_assert_arr_eq(out, T1, 16);
  /* two collisions with T1, then T2 on the third and last attempt */
  cr_assert_eq(ho_token_issue(s, 0, out), HO_OK);
  cr_assert_arr_eq(out, T2, 16);
  cr_assert_eq(r.calls, 5);
  ho_token_store_del(s);
  (void)KEY;
}

/* spec: TOKEN-4 TOKEN-13 */
Test(token, collision_exhausted_after_exactly_n_attempts) {
  const uint8_t script[][HO_TOKEN_BYTES] = {{0x42}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                                            {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}};
  fx_rand r = {.script = script, .len = 6};
  ho_token_config c;
  ho_token_config_init(&c);
  c.random = fx_random;
  c.random_ctx = &r;
  c.collision_attempts = 3;
  ho_token_store *s;
  cr_assert_eq(ho_token_store_new(&s, &c), HO_OK);
  uint8_t out[16];
  cr_assert_eq(ho_token_issue(s, 0, out), HO_OK);
  memset(out, 0x77, 16);
  cr_assert_eq(ho_token_issue(s, 0, out), HO_ERR_COLLISION_EXHAUSTED);
  cr_assert_eq(r.calls, 1 + 1 + 3, "key, first token, then exactly 3 candidates");
  cr_assert_eq(out[0], 0x77, "out untouched");
  cr_assert_eq(ho_token_pending(s), 1);
  ho_token_store_del(s);
}

/* spec: TOKEN-3 TOKEN-13 */
Test(token, pending_limit_counts_and_frees) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 1000, 100, 3);
  uint8_t t[4][16];
  for (int i = 0; i < 3; i++) cr_assert_eq(ho_token_issue(s, 0, t[i]), HO_OK);
  unsigned calls = r.calls;
  cr_assert_eq(ho_token_issue(s, 0, t[3]), HO_ERR_PENDING_LIMIT);
  cr_assert_eq(r.calls, calls, "no randomness drawn when full");
  cr_assert_eq(ho_token_insert(s, T1, 0), HO_ERR_PENDING_LIMIT);
  cr_assert_eq(ho_token_consume_matching(s, t[0], t[0], 1), HO_OK);
  cr_assert_eq(ho_token_issue(s, 1, t[3]), HO_OK, "a consumed token frees its slot");
  cr_assert_eq(ho_token_issue(s, 999, t[0]), HO_ERR_PENDING_LIMIT);
  /* t[1], t[2] expire at 1000; t[3] at 1001: issue prunes first */
  cr_assert_eq(ho_token_issue(s, 1000, t[0]), HO_OK);
  cr_assert_eq(ho_token_pending(s), 2);
  ho_token_store_del(s);
}

/* spec: TOKEN-7 */
Test(token, consume_once_then_not_pending) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 1000, 100, 8);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_token_consume_matching(s, t, t, 10), HO_OK);
  cr_assert_eq(ho_token_consume_matching(s, t, t, 10), HO_ERR_TOKEN_NOT_PENDING, "replay");
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_ABSENT);
  cr_assert_eq(ho_token_consume_matching(s, T1, T1, 10), HO_ERR_TOKEN_NOT_PENDING, "never issued");
  ho_token_store_del(s);
}

/* spec: TOKEN-8 TOKEN-19 */
Test(token, mismatch_does_not_consume) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 1000, 100, 8);
  uint8_t t[16], wrong[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  for (int byte = 0; byte < 16; byte++) {
    memcpy(wrong, t, 16);
    wrong[byte] ^= 0x80;
    cr_assert_eq(ho_token_consume_matching(s, t, wrong, 1), HO_ERR_TOKEN_MISMATCH, "byte %d", byte);
  }
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_PENDING);
  cr_assert_eq(ho_token_consume_matching(s, t, t, 1), HO_OK, "still retryable");
  ho_token_store_del(s);
}

/* spec: TOKEN-5 */
Test(token, expiry_exactly_at_ttl) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 1000, 100, 8);
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 5000, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 5000, b), HO_OK);
  cr_assert_eq(ho_token_consume_matching(s, a, a, 5999), HO_OK, "one ms before expiry");
  cr_assert_eq(ho_token_consume_matching(s, b, b, 6000), HO_ERR_TOKEN_EXPIRED, "now == expires_at");
  cr_assert_eq(ho_token_consume_matching(s, b, b, 6000), HO_ERR_TOKEN_NOT_PENDING, "expired is removed");
  ho_token_store_del(s);
}

/* spec: TOKEN-5 */
Test(token, expired_wins_over_mismatch) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 10, 5, 8);
  uint8_t a[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_consume_matching(s, a, T1, 10), HO_ERR_TOKEN_EXPIRED);
  cr_assert_eq(ho_token_state(s, a), HO_TOKEN_ABSENT);
  ho_token_store_del(s);
}

/* spec: TOKEN-3 TOKEN-5 */
Test(token, consume_prunes_other_expired_tokens) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 10, 5, 8);
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 5, b), HO_OK);
  cr_assert_eq(ho_token_consume_matching(s, b, T1, 12), HO_ERR_TOKEN_MISMATCH);
  cr_assert_eq(ho_token_state(s, a), HO_TOKEN_ABSENT, "a expired at 10: pruned");
  cr_assert_eq(ho_token_pending(s), 1);
  ho_token_store_del(s);
}

/* spec: TOKEN-7 */
Test(token, revoke_then_absent) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 1000, 100, 8);
  uint8_t a[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_revoke(s, a), 1);
  cr_assert_eq(ho_token_revoke(s, a), 0);
  cr_assert_eq(ho_token_consume_matching(s, a, a, 0), HO_ERR_TOKEN_NOT_PENDING);
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

/* spec: TOKEN-3 TOKEN-5 */
Test(token, prune_expired_counts_at_boundary) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 100, 10, 8);
  uint8_t t[16];
  for (int i = 0; i < 4; i++) cr_assert_eq(ho_token_issue(s, (uint64_t)i * 10, t), HO_OK);
  /* expiries 100, 110, 120, 130 */
  cr_assert_eq(ho_token_prune_expired(s, 99), 0);
  cr_assert_eq(ho_token_prune_expired(s, 110), 2);
  cr_assert_eq(ho_token_pending(s), 2);
  cr_assert_eq(ho_token_prune_expired(s, 1000), 2);
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

/* spec: TOKEN-9 */
Test(token, clock_stepping_back_never_revives) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 100, 10, 8);
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_prune_expired(s, 100), 1);
  /* clock steps back to 10: treated as 100, so b expires at 200 */
  cr_assert_eq(ho_token_issue(s, 10, b), HO_OK);
  uint64_t at = 0;
  cr_assert_eq(ho_token_next_deadline(s, &at), 1);
  cr_assert_eq(at, 200);
  cr_assert_eq(ho_token_consume_matching(s, b, b, 150), HO_OK);
  ho_token_store_del(s);
}

/* spec: TOKEN-17 TOKEN-18 */
Test(token, insert_and_already_pending) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 100, 10, 2);
  cr_assert_eq(ho_token_insert(s, T1, 0), HO_OK);
  cr_assert_eq(ho_token_insert(s, T1, 0), HO_ERR_ALREADY_PENDING);
  cr_assert_eq(ho_token_insert(s, T2, 0), HO_OK);
  cr_assert_eq(ho_token_insert(s, T1, 1), HO_ERR_ALREADY_PENDING, "replay detected even when full");
  cr_assert_eq(ho_token_consume_matching(s, T1, T1, 1), HO_OK);
  cr_assert_eq(ho_token_insert(s, T1, 100), HO_OK, "T2 pruned at 100, T1 fresh again");
  cr_assert_eq(ho_token_pending(s), 1);
  ho_token_store_del(s);
}

/* spec: ACK-17 ACK-6 */
Test(token, next_deadline_tracks_earliest) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 100, 10, 8);
  uint64_t at = 7;
  cr_assert_eq(ho_token_next_deadline(s, &at), 0);
  cr_assert_eq(at, 7, "untouched when nothing is pending");
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 50, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 20, b), HO_OK); /* clamped to 50 */
  cr_assert_eq(ho_token_next_deadline(s, &at), 1);
  cr_assert_eq(at, 150);
  cr_assert_eq(ho_ack_register(s, b, 0, 1, NULL, 60), HO_OK);
  cr_assert_eq(ho_token_next_deadline(s, &at), 1);
  cr_assert_eq(at, 70, "ACK deadline is earlier");
  ho_token_store_del(s);
}

/* spec: TOKEN-3 */
Test(token, hundred_thousand_pending) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 30000, 5000, 100000);
  cr_assert_not_null(s);
  static uint8_t t[100000][16];
  for (int i = 0; i < 100000; i++) cr_assert_eq(ho_token_issue(s, 0, t[i]), HO_OK);
  uint8_t x[16];
  cr_assert_eq(ho_token_issue(s, 0, x), HO_ERR_PENDING_LIMIT);
  cr_assert_eq(ho_token_pending(s), 100000);
  for (int i = 0; i < 100000; i += 2) cr_assert_eq(ho_token_consume_matching(s, t[i], t[i], 1), HO_OK);
  for (int i = 0; i < 100000; i++)
    cr_assert_eq(ho_token_state(s, t[i]), i % 2 ? HO_TOKEN_PENDING : HO_TOKEN_ABSENT);
  cr_assert_eq(ho_token_prune_expired(s, 30000), 50000);
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

/* spec: TOKEN-10 */
Test(token, zero_config_values_clamp_to_one) {
  fx_rand r = {0};
  ho_token_config c;
  ho_token_config_init(&c);
  c.ttl_ms = 0;
  c.max_pending = 0;
  c.collision_attempts = 0;
  c.ack_deadline_ms = 0;
  c.random = fx_random;
  c.random_ctx = &r;
  ho_token_store *s;
  cr_assert_eq(ho_token_store_new(&s, &c), HO_OK);
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 0, b), HO_ERR_PENDING_LIMIT, "max 1");
  cr_assert_eq(ho_token_consume_matching(s, a, a, 1), HO_ERR_TOKEN_EXPIRED, "ttl 1 ms");
  ho_token_store_del(s);
}

Test(token, invalid_arguments) {
  ho_token_store *s;
  ho_token_config c;
  ho_token_config_init(&c);
  c.max_pending = HO_TOKEN_MAX_PENDING_LIMIT + 1;
  cr_assert_eq(ho_token_store_new(NULL, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_store_new(&s, &c), HO_ERR_INVALID_ARGUMENT);
  ho_allocator half = {fx_alloc_fn, NULL, NULL};
  ho_token_config_init(&c);
  c.allocator = &half;
  cr_assert_eq(ho_token_store_new(&s, &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_store_new(&s, NULL), HO_OK);
  uint8_t t[16];
  size_t n;
  cr_assert_eq(ho_token_issue(NULL, 0, t), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_issue(s, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_insert(s, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_consume_matching(s, t, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_revoke(NULL, t), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_prune_expired(NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_register(s, NULL, 0, 0, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_acknowledge(s, t, NULL, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_abandon(NULL, t, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_expire_overdue(s, 0, NULL, 1, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_expire_overdue(s, 0, NULL, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_pending(NULL), 0);
  cr_assert_eq(ho_token_state(NULL, t), HO_TOKEN_ABSENT);
  ho_token_store_del(NULL);
  ho_token_store_del(s);
}

Test(token, allocation_failure_at_every_step_leaks_nothing) {
  for (unsigned k = 1; k <= 5; k++) {
    fx_alloc a = {.fail_at = k};
    ho_allocator al = {fx_alloc_fn, fx_free_fn, &a};
    ho_token_config c;
    ho_token_config_init(&c);
    c.allocator = &al;
    ho_token_store *s = (ho_token_store *)0x1;
    int rc = ho_token_store_new(&s, &c);
    cr_assert_eq(rc, HO_ERR_NOMEM, "failing allocation %u", k);
    cr_assert_eq(s, (ho_token_store *)0x1);
    cr_assert_eq(a.allocs, a.frees, "allocation %u: %u allocs, %u frees", k, a.allocs, a.frees);
  }
  fx_alloc a = {0};
  ho_allocator al = {fx_alloc_fn, fx_free_fn, &a};
  ho_token_config c;
  ho_token_config_init(&c);
  c.allocator = &al;
  ho_token_store *s;
  cr_assert_eq(ho_token_store_new(&s, &c), HO_OK);
  cr_assert_eq(a.allocs, 5);
  cr_assert_eq(ho_token_store_footprint(s), a.bytes, "footprint is what was allocated");
  uint8_t t[16];
  for (int i = 0; i < 1024; i++) cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(a.allocs, 5, "issue never allocates");
  ho_token_store_del(s);
  cr_assert_eq(a.frees, 5);
}

/* spec: TOKEN-8 */
Test(token, equal_is_exact) {
  uint8_t a[16], b[16];
  memcpy(a, T1, 16);
  memcpy(b, T1, 16);
  cr_assert_eq(ho_token_equal(a, b), 1);
  for (int i = 0; i < 16; i++)
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      cr_assert_eq(ho_token_equal(a, b), 0);
      b[i] ^= (uint8_t)(1u << bit);
    }
  cr_assert_eq(ho_token_equal(ZERO, ZERO), 1);
}
