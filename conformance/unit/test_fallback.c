/* Unit tests: fallback decision and failed-attempt rate limit
 * (ref/lib/core/fallback.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/fallback.h"
#include "token_fixtures.h"

static ho_fallback_input ok_input(void) {
  ho_fallback_input in;
  memset(&in, 0, sizeof in);
  in.client_capabilities = HO_CAP_HANDLE_PASSING;
  in.backend = 1;
  in.endpoint_configured = true;
  in.service_enabled = true;
  in.backend_ready = true;
  return in;
}

static ho_fallback_policy *policy(uint32_t failures, uint64_t window, uint32_t backends) {
  ho_fallback_config c;
  ho_fallback_config_init(&c);
  c.failures_per_window = failures;
  c.window_ms = window;
  c.max_backends = backends;
  ho_fallback_policy *p = NULL;
  cr_assert_eq(ho_fallback_policy_new(&p, &c), HO_OK);
  return p;
}

/* spec: FALLBACK-7 FALLBACK-11 */
Test(fallback, config_defaults_are_the_originals) {
  ho_fallback_config c;
  ho_fallback_config_init(&c);
  cr_assert_eq(c.failures_per_window, 8);
  cr_assert_eq(c.window_ms, 30000);
  ho_pending_config q;
  ho_pending_config_init(&q);
  cr_assert_eq(q.capacity, 64);
  cr_assert_eq(q.ttl_ms, 100);
}

/* spec: FALLBACK-14 */
Test(fallback, reason_names_round_trip) {
  for (int i = 0; i < HO_FALLBACK_REASON_COUNT; i++) {
    const char *n = ho_fallback_reason_name(i);
    cr_assert_not_null(n);
    cr_assert_eq(ho_fallback_reason_from_name(n), i);
    for (int j = 0; j < i; j++) cr_assert_str_neq(n, ho_fallback_reason_name(j));
  }
  cr_assert_str_eq(ho_fallback_reason_name(HO_FALLBACK_NONE), "NONE");
  cr_assert_str_eq(ho_fallback_reason_name(HO_FALLBACK_BACKEND_ACK_TIMEOUT), "BACKEND_ACK_TIMEOUT");
  cr_assert_null(ho_fallback_reason_name(HO_FALLBACK_REASON_COUNT));
  cr_assert_null(ho_fallback_reason_name(-1));
  cr_assert_eq(ho_fallback_reason_from_name("nope"), -1);
  cr_assert_eq(ho_fallback_reason_from_name(NULL), -1);
}

/* spec: FALLBACK-2 */
Test(fallback, attempt_when_nothing_applies) {
  ho_fallback_policy *p = policy(8, 30000, 4);
  ho_fallback_input in = ok_input();
  cr_assert_eq(ho_fallback_decide(p, &in, 0, NULL), HO_FALLBACK_NONE);
  ho_fallback_policy_del(p);
}

/* Each check alone, then the fixed order: with every condition true the
 * earliest wins, and clearing it reveals the next. */
/* spec: FALLBACK-2 */
Test(fallback, checks_in_fixed_order) {
  ho_fallback_policy *p = policy(1, 30000, 4);
  cr_assert_eq(ho_fallback_record_failure(p, 1, 0), HO_OK); /* backend 1 rate-limited */
  ho_fallback_input in = ok_input();
  in.client_capabilities = HO_CAP_EARLY_DATA; /* no HANDLE_PASSING */
  in.endpoint_configured = false;
  in.service_enabled = false;
  in.fd_pressure = true;
  in.adopted_backend = true;
  in.backend_ready = false;
  const ho_fallback_reason order[] = {HO_FALLBACK_CLIENT_UNSUPPORTED,
                                      HO_FALLBACK_NO_ENDPOINT,
                                      HO_FALLBACK_SERVICE_POLICY_DISABLED,
                                      HO_FALLBACK_FD_PRESSURE,
                                      HO_FALLBACK_ADOPTED_BACKEND,
                                      HO_FALLBACK_EARLY_DATA_UNSUPPORTED,
                                      HO_FALLBACK_RATE_LIMITED,
                                      HO_FALLBACK_NONE};
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    cr_assert_eq(ho_fallback_decide(p, &in, 1, NULL), order[k], "step %zu", k);
    switch (k) {
    case 0: in.client_capabilities |= HO_CAP_HANDLE_PASSING; break;
    case 1: in.endpoint_configured = true; break;
    case 2: in.service_enabled = true; break;
    case 3: in.fd_pressure = false; break;
    case 4: in.adopted_backend = false; break;
    case 5: in.backend_ready = true; break;
    case 6: ho_fallback_record_success(p, 1); break;
    default: break;
    }
  }
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-16 */
Test(fallback, early_data_needs_backend_ready_only_when_asked) {
  ho_fallback_policy *p = policy(8, 30000, 4);
  ho_fallback_input in = ok_input();
  in.backend_ready = false;
  cr_assert_eq(ho_fallback_decide(p, &in, 0, NULL), HO_FALLBACK_NONE, "legacy mode is fine");
  in.client_capabilities |= HO_CAP_EARLY_DATA;
  cr_assert_eq(ho_fallback_decide(p, &in, 0, NULL), HO_FALLBACK_EARLY_DATA_UNSUPPORTED);
  ho_fallback_policy_del(p);
}

Test(fallback, null_policy_or_input_fails_safe) {
  ho_fallback_input in = ok_input();
  cr_assert_eq(ho_fallback_decide(NULL, &in, 0, NULL), HO_FALLBACK_SERVICE_POLICY_DISABLED);
  ho_fallback_policy *p = policy(8, 30000, 4);
  cr_assert_eq(ho_fallback_decide(p, NULL, 0, NULL), HO_FALLBACK_SERVICE_POLICY_DISABLED);
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-7 */
Test(fallback, rate_limit_after_max_failures_with_retry_after) {
  ho_fallback_policy *p = policy(8, 30000, 4);
  ho_fallback_input in = ok_input();
  for (int i = 0; i < 7; i++) {
    cr_assert_eq(ho_fallback_record_failure(p, 1, 1000 + (uint64_t)i), HO_OK);
    cr_assert_eq(ho_fallback_decide(p, &in, 1000 + (uint64_t)i, NULL), HO_FALLBACK_NONE, "failure %d", i + 1);
  }
  cr_assert_eq(ho_fallback_record_failure(p, 1, 1010), HO_OK);
  cr_assert_eq(ho_fallback_failures(p, 1, 1010), 8);
  uint64_t retry = 0;
  cr_assert_eq(ho_fallback_decide(p, &in, 11000, &retry), HO_FALLBACK_RATE_LIMITED);
  cr_assert_eq(retry, 20000, "window started at the first failure (1000): 31000 - 11000");
  cr_assert_eq(ho_fallback_decide(p, &in, 30999, &retry), HO_FALLBACK_RATE_LIMITED);
  cr_assert_eq(retry, 1);
  cr_assert_eq(ho_fallback_decide(p, &in, 31000, &retry), HO_FALLBACK_NONE, "elapsed == window: reset");
  cr_assert_eq(ho_fallback_failures(p, 1, 31000), 0);
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-7 */
Test(fallback, count_saturates_and_window_restarts) {
  ho_fallback_policy *p = policy(3, 100, 4);
  for (int i = 0; i < 50; i++) cr_assert_eq(ho_fallback_record_failure(p, 9, 10), HO_OK);
  cr_assert_eq(ho_fallback_failures(p, 9, 10), 3);
  cr_assert_eq(ho_fallback_record_failure(p, 9, 110), HO_OK, "window over: a new one starts");
  cr_assert_eq(ho_fallback_failures(p, 9, 110), 1);
  cr_assert_eq(ho_fallback_failures(p, 9, 210), 0);
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-7 FALLBACK-8 */
Test(fallback, success_clears_and_backends_are_independent) {
  ho_fallback_policy *p = policy(2, 30000, 4);
  ho_fallback_input in = ok_input();
  ho_fallback_record_failure(p, 1, 0);
  ho_fallback_record_failure(p, 1, 0);
  cr_assert_eq(ho_fallback_decide(p, &in, 1, NULL), HO_FALLBACK_RATE_LIMITED);
  in.backend = 2;
  cr_assert_eq(ho_fallback_decide(p, &in, 1, NULL), HO_FALLBACK_NONE, "other backend unaffected");
  ho_fallback_record_success(p, 1);
  in.backend = 1;
  cr_assert_eq(ho_fallback_decide(p, &in, 2, NULL), HO_FALLBACK_NONE, "success clears");
  ho_fallback_record_success(p, 77); /* unknown: no-op */
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-10 */
Test(fallback, full_table_fails_safe_until_a_window_ends) {
  ho_fallback_policy *p = policy(8, 1000, 2);
  cr_assert_eq(ho_fallback_record_failure(p, 1, 0), HO_OK);
  cr_assert_eq(ho_fallback_record_failure(p, 2, 500), HO_OK);
  cr_assert_eq(ho_fallback_record_failure(p, 3, 600), HO_ERR_PENDING_LIMIT, "not recorded");
  ho_fallback_input in = ok_input();
  in.backend = 3;
  uint64_t retry = 0;
  cr_assert_eq(ho_fallback_decide(p, &in, 600, &retry), HO_FALLBACK_RATE_LIMITED, "untrackable: fail safe");
  cr_assert_eq(retry, 400, "backend 1's window ends at 1000");
  in.backend = 1;
  cr_assert_eq(ho_fallback_decide(p, &in, 600, NULL), HO_FALLBACK_NONE, "tracked backends decide normally");
  cr_assert_eq(ho_fallback_record_failure(p, 3, 1000), HO_OK, "backend 1's window ended: reclaimed");
  in.backend = 3;
  cr_assert_eq(ho_fallback_decide(p, &in, 1000, NULL), HO_FALLBACK_NONE);
  cr_assert_eq(ho_fallback_failures(p, 3, 1000), 1);
  cr_assert_eq(ho_fallback_failures(p, 2, 1000), 1);
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-7 FALLBACK-10 */
/* 97 backends in turn, one failure per millisecond, a 10 ms window: at
 * most 10 windows are live at once, so the 64-entry table reclaims ended
 * windows and never refuses; each backend's window has ended by its next
 * turn (97 ms later), so every record starts a fresh window of 1.
 * spec: FALLBACK-7 FALLBACK-8 FALLBACK-10 */
Test(fallback, many_backends_churn) {
  ho_fallback_policy *p = policy(2, 10, 64);
  ho_fallback_input in = {.client_capabilities = HO_CAP_HANDLE_PASSING, .endpoint_configured = true,
                          .service_enabled = true};
  for (uint64_t t = 0; t < 2000; t++) {
    uint64_t b = t % 97;
    cr_assert_eq(ho_fallback_record_failure(p, b, t), HO_OK, "t=%llu", (unsigned long long)t);
    cr_assert_eq(ho_fallback_failures(p, b, t), 1u, "t=%llu", (unsigned long long)t);
    in.backend = b;
    cr_assert_eq(ho_fallback_decide(p, &in, t, NULL), HO_FALLBACK_NONE, "one failure is within budget");
    if (t % 3 == 0) {
      ho_fallback_record_success(p, b);
      cr_assert_eq(ho_fallback_failures(p, b, t), 0u);
    }
  }
  ho_fallback_policy_del(p);
}

/* The other side of the same table: 64 live windows (a window longer than
 * the run) fill it; the 65th backend's failure is not recorded
 * (PENDING_LIMIT) and that backend is refused a handoff until a window
 * ends: fail safe, never forgetting a tracked backend early. spec: FALLBACK-10 */
Test(fallback, full_table_fails_safe) {
  ho_fallback_policy *p = policy(2, 1000000, 64);
  ho_fallback_input in = {.client_capabilities = HO_CAP_HANDLE_PASSING, .endpoint_configured = true,
                          .service_enabled = true};
  for (uint64_t b = 0; b < 64; b++) cr_assert_eq(ho_fallback_record_failure(p, b, b), HO_OK);
  cr_assert_eq(ho_fallback_record_failure(p, 64, 100), HO_ERR_PENDING_LIMIT);
  in.backend = 64;
  uint64_t retry = 0;
  cr_assert_eq(ho_fallback_decide(p, &in, 100, &retry), HO_FALLBACK_RATE_LIMITED);
  cr_assert_eq(retry, 1000000u - 100u, "until the earliest window (backend 0, t=0) ends");
  for (uint64_t b = 0; b < 64; b++) cr_assert_eq(ho_fallback_failures(p, b, 100), 1u);
  /* backend 0's window ends at t = 1000000: its slot is reclaimed */
  cr_assert_eq(ho_fallback_record_failure(p, 64, 1000000), HO_OK);
  ho_fallback_policy_del(p);
}

/* spec: FALLBACK-17 */
Test(fallback, reason_from_err_mapping) {
  cr_assert_eq(ho_fallback_reason_from_err(HO_OK), HO_FALLBACK_NONE);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_PERMISSION), HO_FALLBACK_PERMISSION_DENIED);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_PEER_CREDENTIALS), HO_FALLBACK_PERMISSION_DENIED);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_FD_EXHAUSTED), HO_FALLBACK_FD_PRESSURE);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_UNSUPPORTED_PLATFORM), HO_FALLBACK_SERVICE_POLICY_DISABLED);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_QUEUE_FULL), HO_FALLBACK_QUEUE_FULL);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_RATE_LIMITED), HO_FALLBACK_RATE_LIMITED);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_RANDOM), HO_FALLBACK_TOKEN_UNAVAILABLE);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_PENDING_LIMIT), HO_FALLBACK_TOKEN_UNAVAILABLE);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_COLLISION_EXHAUSTED), HO_FALLBACK_TOKEN_UNAVAILABLE);
  cr_assert_eq(ho_fallback_reason_from_err(HO_ERR_ACK_REFUSED), HO_FALLBACK_BACKEND_REFUSED);
  const int timeouts[] = {HO_ERR_IO, HO_ERR_WOULD_BLOCK, HO_ERR_CLOSED, HO_ERR_TIMEOUT,
                          HO_ERR_PARTIAL_SEND, HO_ERR_ACK_DEADLINE_EXCEEDED, HO_ERR_ACK_TOKEN_MISMATCH,
                          HO_ERR_CORRELATION_MISMATCH, HO_ERR_MALFORMED, HO_ERR_TOKEN_NOT_PENDING};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
    cr_assert_eq(ho_fallback_reason_from_err(timeouts[i]), HO_FALLBACK_BACKEND_ACK_TIMEOUT, "%s",
                 ho_errname(timeouts[i]));
  cr_assert_eq(ho_fallback_reason_from_ack_exit(HO_ACK_COMPLETED), HO_FALLBACK_NONE);
  cr_assert_eq(ho_fallback_reason_from_ack_exit(HO_ACK_EXPIRED), HO_FALLBACK_BACKEND_ACK_TIMEOUT);
  cr_assert_eq(ho_fallback_reason_from_ack_exit(HO_ACK_LATE), HO_FALLBACK_BACKEND_ACK_TIMEOUT);
}

Test(fallback, policy_allocation_failure_and_bad_config) {
  for (unsigned k = 1; k <= 2; k++) {
    fx_alloc a = {.fail_at = k};
    ho_allocator al = {fx_alloc_fn, fx_free_fn, &a};
    ho_fallback_config c;
    ho_fallback_config_init(&c);
    c.allocator = &al;
    ho_fallback_policy *p = (ho_fallback_policy *)0x1;
    cr_assert_eq(ho_fallback_policy_new(&p, &c), HO_ERR_NOMEM);
    cr_assert_eq(p, (ho_fallback_policy *)0x1);
    cr_assert_eq(a.allocs, a.frees);
  }
  ho_fallback_config c;
  ho_fallback_config_init(&c);
  c.max_backends = (1u << 20) + 1;
  ho_fallback_policy *p;
  cr_assert_eq(ho_fallback_policy_new(&p, &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_fallback_policy_new(NULL, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_fallback_record_failure(NULL, 1, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_fallback_policy_new(&p, NULL), HO_OK);
  ho_fallback_policy_del(p);
  ho_fallback_policy_del(NULL);
}
