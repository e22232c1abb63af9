/* Unit tests: edges of the token core (ref/lib/core/) that the model tests
 * and the fuzz target do not reach — the argument contract of every public
 * function (NULL pointers give INVALID_ARGUMENT or the documented neutral
 * answer, outputs untouched), deadlines that saturate instead of wrapping
 * when the clock is near 2^64, an allocator with a missing hook, and the
 * fail-safe of a full rate-limit table without a retry_after pointer. */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/fallback.h"
#include "handoff/token.h"

static const uint8_t tok[HO_TOKEN_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static ho_token_store *store(uint64_t ttl, uint64_t ack) {
  ho_token_config cfg;
  ho_token_config_init(&cfg);
  cfg.ttl_ms = ttl;
  cfg.ack_deadline_ms = ack;
  ho_token_store *s = NULL;
  cr_assert_eq(ho_token_store_new(&s, &cfg), HO_OK);
  return s;
}

Test(core_edges, token_store_calls_with_null_pointers) {
  ho_token_store *s = store(1000, 100);
  uint8_t t[HO_TOKEN_BYTES];
  ho_token_config_init(NULL); /* no-op */
  cr_assert_eq(ho_token_issue(NULL, 0, t), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_issue(s, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_insert(s, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_consume_matching(s, tok, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_consume_matching(s, NULL, tok, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_revoke(s, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_state(s, NULL), HO_TOKEN_ABSENT);
  cr_assert_eq(ho_token_state(NULL, tok), HO_TOKEN_ABSENT);
  cr_assert_eq(ho_token_pending(NULL), 0);
  cr_assert_eq(ho_ack_pending(NULL), 0);
  cr_assert_eq(ho_token_store_footprint(NULL), 0);
  uint64_t at = 77;
  cr_assert_eq(ho_token_next_deadline(NULL, &at), 0);
  cr_assert_eq(ho_token_next_deadline(s, NULL), 0);
  cr_assert_eq(ho_ack_next_deadline(NULL, &at), 0);
  cr_assert_eq(ho_ack_next_deadline(s, NULL), 0);
  cr_assert_eq(at, 77);
  ho_token_store_del(s);
  ho_token_store_del(NULL);
}

Test(core_edges, ack_registry_calls_with_null_pointers) {
  ho_token_store *s = store(1000, 100);
  ho_ack_info info;
  size_t n = 5;
  cr_assert_eq(ho_ack_register(NULL, tok, 1, 1, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_register(s, NULL, 1, 1, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_acknowledge(s, NULL, tok, 0, &info), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_acknowledge(s, tok, NULL, 0, &info), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_refuse(NULL, tok, tok, 0, &info), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_refuse(s, NULL, tok, 0, &info), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_refuse(s, tok, NULL, 0, &info), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_abandon(s, NULL, 0, &info), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_expire_overdue(NULL, 0, &info, 1, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_expire_overdue(s, 0, &info, 1, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_expire_overdue(s, 0, NULL, 1, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(n, 5);
  ho_token_store_del(s);
}

/* spec: ACK-17 TOKEN-5 — deadlines saturate at 2^64-1, never wrap to the past. */
Test(core_edges, deadlines_near_the_end_of_the_clock_saturate) {
  const uint64_t late = UINT64_MAX - 10;
  ho_token_store *s = store(UINT64_MAX / 2, UINT64_MAX / 2);
  cr_assert_eq(ho_token_insert(s, tok, late), HO_OK);
  uint64_t at = 0;
  cr_assert_eq(ho_token_next_deadline(s, &at), 1);
  cr_assert_eq(at, UINT64_MAX);
  cr_assert_eq(ho_ack_register(s, tok, 1, 1, NULL, late), HO_OK);
  cr_assert_eq(ho_ack_next_deadline(s, &at), 1);
  cr_assert_eq(at, UINT64_MAX);
  ho_ack_info info;
  cr_assert_eq(ho_ack_acknowledge(s, tok, tok, late + 5, &info), HO_OK);
  ho_token_store_del(s);

  ho_pending_config pc;
  ho_pending_config_init(&pc);
  pc.ttl_ms = 1000;
  ho_pending_queue *q = NULL;
  cr_assert_eq(ho_pending_queue_new(&q, &pc), HO_OK);
  int item;
  cr_assert_eq(ho_pending_queue_push(q, &item, late, NULL), HO_OK);
  cr_assert_eq(ho_pending_queue_next_deadline(q, &at), 1);
  cr_assert_eq(at, UINT64_MAX);
  void *got = NULL;
  cr_assert_eq(ho_pending_queue_pop(q, late + 1, &got), HO_PENDING_READY);
  cr_assert_eq(got, &item);
  ho_pending_queue_del(q);
}

Test(core_edges, pending_queue_calls_with_null_pointers) {
  ho_pending_queue *q = NULL;
  ho_pending_config_init(NULL); /* no-op */
  cr_assert_eq(ho_pending_queue_new(NULL, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_new(&q, NULL), HO_OK); /* defaults */
  void *out[2];
  size_t n = 9;
  int x;
  cr_assert_eq(ho_pending_queue_push(NULL, &x, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_pop(NULL, 0, out), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_pop(q, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_remove(NULL, 1, out), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_expire(NULL, 0, out, 2, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_expire(q, 0, out, 2, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_expire(q, 0, NULL, 2, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(n, 9);
  cr_assert_eq(ho_pending_queue_expire(q, 0, NULL, 0, &n), HO_OK);
  cr_assert_eq(n, 0);
  cr_assert_eq(ho_pending_queue_len(NULL), 0);
  uint64_t at = 3;
  cr_assert_eq(ho_pending_queue_next_deadline(NULL, &at), 0);
  cr_assert_eq(ho_pending_queue_next_deadline(q, NULL), 0);
  cr_assert_eq(ho_pending_queue_next_deadline(q, &at), 0); /* empty */
  cr_assert_eq(at, 3);
  ho_pending_queue_del(q);
  ho_pending_queue_del(NULL);
}

static void *never_alloc(void *ctx, size_t n) {
  (void)ctx, (void)n;
  return NULL;
}

/* An allocator without both hooks is refused, *out untouched. */
Test(core_edges, allocator_with_a_missing_hook_is_refused) {
  ho_allocator half = {never_alloc, NULL, NULL};
  ho_pending_config pc;
  ho_pending_config_init(&pc);
  pc.allocator = &half;
  ho_pending_queue *q = (ho_pending_queue *)&half;
  cr_assert_eq(ho_pending_queue_new(&q, &pc), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(q, (ho_pending_queue *)&half);
  ho_fallback_config fc;
  ho_fallback_config_init(&fc);
  fc.allocator = &half;
  ho_fallback_policy *p = NULL;
  cr_assert_eq(ho_fallback_policy_new(&p, &fc), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(p);
}

/* spec: FALLBACK-20 — a full table fails safe (RATE_LIMITED) also for a
 * caller that does not ask for retry_after; NULL policies stay fail safe. */
Test(core_edges, fallback_policy_full_table_and_null_calls) {
  ho_fallback_config fc;
  ho_fallback_config_init(NULL); /* no-op */
  ho_fallback_config_init(&fc);
  fc.max_backends = 1;
  fc.window_ms = 1000;
  ho_fallback_policy *p = NULL;
  cr_assert_eq(ho_fallback_policy_new(&p, &fc), HO_OK);
  cr_assert_eq(ho_fallback_record_failure(p, 1, 0), HO_OK);
  ho_fallback_input in;
  memset(&in, 0, sizeof in);
  in.client_capabilities = HO_CAP_HANDLE_PASSING;
  in.endpoint_configured = in.service_enabled = true;
  in.backend = 2;
  cr_assert_eq(ho_fallback_decide(p, &in, 10, NULL), HO_FALLBACK_RATE_LIMITED);
  cr_assert_eq(ho_fallback_decide(NULL, &in, 10, NULL), HO_FALLBACK_SERVICE_POLICY_DISABLED);
  cr_assert_eq(ho_fallback_record_failure(NULL, 1, 0), HO_ERR_INVALID_ARGUMENT);
  ho_fallback_record_success(NULL, 1); /* no-op */
  cr_assert_eq(ho_fallback_failures(NULL, 1, 0), 0);
  ho_fallback_policy_del(p);
}

/* Zero configuration values are clamped to 1 (documented in the headers),
 * a NULL random source is the OS one, and every store call with a NULL
 * store is an invalid argument. */
Test(core_edges, zero_configuration_values_are_clamped) {
  ho_token_config tc;
  ho_token_config_init(&tc);
  tc.random = NULL; /* -> ho_random_os */
  ho_token_store *s = NULL;
  cr_assert_eq(ho_token_store_new(&s, &tc), HO_OK);
  uint8_t t[HO_TOKEN_BYTES];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_token_revoke(NULL, t), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_token_consume_matching(NULL, t, t, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_acknowledge(NULL, t, t, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  ho_token_store_del(s);

  ho_pending_config pc;
  ho_pending_config_init(&pc);
  pc.capacity = 0;
  pc.ttl_ms = 0;
  ho_pending_queue *q = NULL;
  cr_assert_eq(ho_pending_queue_new(&q, &pc), HO_OK);
  int a, b;
  cr_assert_eq(ho_pending_queue_push(q, &a, 10, NULL), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, &b, 10, NULL), HO_ERR_QUEUE_FULL); /* capacity 1 */
  uint64_t at = 0;
  cr_assert_eq(ho_pending_queue_next_deadline(q, &at), 1);
  cr_assert_eq(at, 11); /* ttl 1 ms */
  ho_pending_queue_del(q);

  ho_fallback_config fc;
  ho_fallback_config_init(&fc);
  fc.failures_per_window = 0;
  fc.window_ms = 0;
  fc.max_backends = 0;
  ho_fallback_policy *p = NULL;
  cr_assert_eq(ho_fallback_policy_new(&p, &fc), HO_OK);
  ho_fallback_input in;
  memset(&in, 0, sizeof in);
  in.client_capabilities = HO_CAP_HANDLE_PASSING;
  in.endpoint_configured = in.service_enabled = true;
  in.backend = 5;
  cr_assert_eq(ho_fallback_decide(p, &in, 0, NULL), HO_FALLBACK_NONE); /* untracked, room */
  cr_assert_eq(ho_fallback_record_failure(p, 5, 0), HO_OK);
  cr_assert_eq(ho_fallback_decide(p, &in, 0, NULL), HO_FALLBACK_RATE_LIMITED); /* 1 failure */
  cr_assert_eq(ho_fallback_decide(p, &in, 1, NULL), HO_FALLBACK_NONE); /* 1 ms window over */
  ho_fallback_policy_del(p);
}

static void free_only(void *ctx, void *ptr) {
  (void)ctx, (void)ptr;
}

Test(core_edges, allocator_without_alloc_is_refused) {
  ho_allocator half = {NULL, free_only, NULL};
  ho_token_config tc;
  ho_token_config_init(&tc);
  tc.allocator = &half;
  ho_token_store *s = NULL;
  cr_assert_eq(ho_token_store_new(&s, &tc), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(s);
}

/* spec: FALLBACK-20 — a full table whose windows have ended makes room:
 * the elapsed record is reclaimed and the new backend may be tried. */
Test(core_edges, full_rate_limit_table_reclaims_elapsed_windows) {
  ho_fallback_config fc;
  ho_fallback_config_init(&fc);
  fc.max_backends = 1;
  fc.window_ms = 10;
  ho_fallback_policy *p = NULL;
  cr_assert_eq(ho_fallback_policy_new(&p, &fc), HO_OK);
  cr_assert_eq(ho_fallback_record_failure(p, 1, 0), HO_OK);
  ho_fallback_input in;
  memset(&in, 0, sizeof in);
  in.client_capabilities = HO_CAP_HANDLE_PASSING;
  in.endpoint_configured = in.service_enabled = true;
  in.backend = 2;
  uint64_t retry = 0;
  cr_assert_eq(ho_fallback_decide(p, &in, 5, &retry), HO_FALLBACK_RATE_LIMITED);
  cr_assert_eq(retry, 5);
  cr_assert_eq(ho_fallback_decide(p, &in, 20, &retry), HO_FALLBACK_NONE);
  ho_fallback_policy_del(p);
}

Test(core_edges, insert_into_no_store_and_queue_allocator_without_alloc) {
  cr_assert_eq(ho_token_insert(NULL, tok, 0), HO_ERR_INVALID_ARGUMENT);
  ho_allocator half = {NULL, free_only, NULL};
  ho_pending_config pc;
  ho_pending_config_init(&pc);
  pc.allocator = &half;
  ho_pending_queue *q = NULL;
  cr_assert_eq(ho_pending_queue_new(&q, &pc), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(q);
  ho_fallback_config fc;
  ho_fallback_config_init(&fc);
  fc.allocator = &half;
  ho_fallback_policy *p = NULL;
  cr_assert_eq(ho_fallback_policy_new(&p, &fc), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(p);
}
