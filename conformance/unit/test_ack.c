/* Unit tests: ACK registry (ref/lib/core/ack.c) on the token store. */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/token.h"
#include "token_fixtures.h"

static ho_token_store *store(fx_rand *r, uint64_t ttl, uint64_t ackdl) {
  ho_token_store *s = fx_store(r, ttl, ackdl, 64);
  cr_assert_not_null(s);
  return s;
}

static int USER;

/* spec: ACK-17 */
Test(ack, register_moves_pending_to_awaiting) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 100, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 7, 42, &USER, 200), HO_OK);
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_AWAITING_ACK);
  cr_assert_eq(ho_ack_pending(s), 1);
  cr_assert_eq(ho_token_pending(s), 1, "still counts against the cap");
  uint64_t at;
  cr_assert_eq(ho_ack_next_deadline(s, &at), 1);
  cr_assert_eq(at, 5200);
  cr_assert_eq(ho_ack_register(s, t, 8, 43, NULL, 300), HO_ERR_ALREADY_PENDING);
  cr_assert_eq(ho_ack_next_deadline(s, &at), 1);
  cr_assert_eq(at, 5200, "first registration stands");
  ho_token_store_del(s);
}

/* spec: ACK-17 TOKEN-5 */
Test(ack, register_unknown_or_expired) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 100, 50);
  uint8_t t[16], u[16] = {9};
  cr_assert_eq(ho_ack_register(s, u, 0, 1, NULL, 0), HO_ERR_TOKEN_NOT_PENDING);
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 0, 1, NULL, 100), HO_ERR_TOKEN_EXPIRED, "now == expiry");
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_ABSENT, "removed");
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

/* spec: ACK-17 */
Test(ack, deadline_never_outlives_ttl) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 3000, 5000);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 0, 1, NULL, 1000), HO_OK);
  uint64_t at;
  cr_assert_eq(ho_ack_next_deadline(s, &at), 1);
  cr_assert_eq(at, 3000, "min(1000 + 5000, expiry 3000)");
  ho_token_store_del(s);
}

/* spec: ERR-55 ACK-2 ACK-7 TOKEN-7 */
Test(ack, timely_ack_completes_and_revokes) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 7, 42, &USER, 1000), HO_OK);
  ho_ack_info in;
  cr_assert_eq(ho_ack_acknowledge(s, t, t, 5999, &in), HO_OK, "one ms before the deadline");
  cr_assert_arr_eq(in.token, t, 16);
  cr_assert_eq(in.backend, 7);
  cr_assert_eq(in.correlation_id, 42);
  cr_assert_eq(in.user, &USER);
  cr_assert_eq(in.issued_at_ms, 1000);
  cr_assert_eq(in.deadline_ms, 6000);
  cr_assert_eq(in.waited_ms, 4999);
  cr_assert_eq(in.exit, HO_ACK_COMPLETED);
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_ABSENT, "token revoked");
  cr_assert_eq(ho_ack_pending(s), 0);
  memset(&in, 0x5a, sizeof in);
  ho_ack_info before = in;
  cr_assert_eq(ho_ack_acknowledge(s, t, t, 6000, &in), HO_ERR_TOKEN_NOT_PENDING, "duplicate ACK");
  cr_assert_eq(memcmp(&in, &before, sizeof in), 0, "info untouched");
  cr_assert_eq(ho_token_consume_matching(s, t, t, 6000), HO_ERR_TOKEN_NOT_PENDING, "later presentation");
  ho_token_store_del(s);
}

/* spec: ERR-58 ACK-2 ACK-5 TOKEN-7 */
Test(ack, ack_exactly_at_deadline_is_late_and_revokes) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 3, 9, NULL, 0), HO_OK);
  ho_ack_info in;
  cr_assert_eq(ho_ack_acknowledge(s, t, t, 5000, &in), HO_ERR_ACK_DEADLINE_EXCEEDED);
  cr_assert_eq(in.exit, HO_ACK_LATE);
  cr_assert_eq(in.backend, 3);
  cr_assert_eq(in.deadline_ms, 5000);
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_ABSENT);
  cr_assert_eq(ho_ack_acknowledge(s, t, t, 5001, &in), HO_ERR_TOKEN_NOT_PENDING);
  ho_token_store_del(s);
}

/* spec: ERR-56 ACK-2 ACK-5 TOKEN-7 TOKEN-8 */
Test(ack, wrong_token_echo_is_an_exit) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16], w[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 0, 1, NULL, 0), HO_OK);
  memcpy(w, t, 16);
  w[15] ^= 1;
  ho_ack_info in;
  cr_assert_eq(ho_ack_acknowledge(s, t, w, 10, &in), HO_ERR_ACK_TOKEN_MISMATCH);
  cr_assert_eq(in.exit, HO_ACK_MISMATCH);
  cr_assert_arr_eq(in.token, t, 16, "the expected token is reported");
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_ABSENT, "revoked: never retried");
  ho_token_store_del(s);
}

/* spec: ACK-2 */
Test(ack, mismatch_is_checked_before_lateness) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16], w[16] = {0};
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 0, 1, NULL, 0), HO_OK);
  ho_ack_info in;
  cr_assert_eq(ho_ack_acknowledge(s, t, w, 9000, &in), HO_ERR_ACK_TOKEN_MISMATCH);
  ho_token_store_del(s);
}

/* spec: ACK-7 */
Test(ack, ack_of_a_token_not_awaiting_changes_nothing) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_acknowledge(s, t, t, 1, NULL), HO_ERR_TOKEN_NOT_PENDING);
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_PENDING, "a PENDING token stays");
  ho_token_store_del(s);
}

/* spec: TOKEN-7 ACK-6 */
Test(ack, awaiting_token_is_not_consumable_nor_revocable) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t t[16];
  cr_assert_eq(ho_token_issue(s, 0, t), HO_OK);
  cr_assert_eq(ho_ack_register(s, t, 0, 1, NULL, 0), HO_OK);
  cr_assert_eq(ho_token_consume_matching(s, t, t, 1), HO_ERR_STATE);
  cr_assert_eq(ho_token_revoke(s, t), HO_ERR_STATE);
  cr_assert_eq(ho_token_prune_expired(s, 100000), 0, "prune never touches AWAITING_ACK");
  cr_assert_eq(ho_token_state(s, t), HO_TOKEN_AWAITING_ACK);
  cr_assert_eq(ho_ack_acknowledge(s, t, t, 100000, NULL), HO_ERR_ACK_DEADLINE_EXCEEDED);
  ho_token_store_del(s);
}

/* spec: ACK-10 TOKEN-7 */
Test(ack, abandon_always_revokes) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t a[16], b[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 0, b), HO_OK);
  cr_assert_eq(ho_ack_register(s, a, 5, 6, &USER, 10), HO_OK);
  ho_ack_info in;
  cr_assert_eq(ho_ack_abandon(s, a, 30, &in), 1);
  cr_assert_eq(in.exit, HO_ACK_ABANDONED);
  cr_assert_eq(in.user, &USER);
  cr_assert_eq(in.waited_ms, 20);
  memset(&in, 0x5a, sizeof in);
  cr_assert_eq(ho_ack_abandon(s, b, 30, &in), 0, "only PENDING");
  cr_assert_eq(in.exit, (ho_ack_exit)0x5a5a5a5a, "info untouched");
  cr_assert_eq(ho_ack_abandon(s, a, 30, &in), HO_ERR_TOKEN_NOT_PENDING);
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

/* spec: ERR-59 ACK-6 ACK-7 TOKEN-7 */
Test(ack, expire_overdue_reports_each_once_earliest_first) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 100);
  uint8_t t[5][16];
  /* registered at 0, 10, 20, 30, 40 → deadlines 100, 110, 120, 130, 140 */
  for (int i = 0; i < 5; i++) cr_assert_eq(ho_token_issue(s, 0, t[i]), HO_OK);
  for (int i = 4; i >= 0; i--)
    cr_assert_eq(ho_ack_register(s, t[i], 0, (uint64_t)i, NULL, (uint64_t)(4 - i) * 10), HO_OK);
  ho_ack_info out[2];
  size_t n = 9;
  cr_assert_eq(ho_ack_expire_overdue(s, 99, out, 2, &n), HO_OK);
  cr_assert_eq(n, 0, "nothing before the first deadline");
  cr_assert_eq(ho_ack_expire_overdue(s, 120, out, 2, &n), HO_OK);
  cr_assert_eq(n, 2);
  cr_assert_eq(out[0].correlation_id, 4);
  cr_assert_eq(out[0].deadline_ms, 100);
  cr_assert_eq(out[1].correlation_id, 3);
  cr_assert_eq(out[1].exit, HO_ACK_EXPIRED);
  cr_assert_eq(ho_ack_expire_overdue(s, 120, out, 2, &n), HO_OK);
  cr_assert_eq(n, 1, "deadline 120 == now: expired");
  cr_assert_eq(out[0].correlation_id, 2);
  cr_assert_eq(out[0].waited_ms, 100);
  cr_assert_eq(ho_token_state(s, t[2]), HO_TOKEN_ABSENT, "revoked");
  cr_assert_eq(ho_ack_acknowledge(s, t[2], t[2], 120, NULL), HO_ERR_TOKEN_NOT_PENDING, "late ACK after sweep");
  cr_assert_eq(ho_ack_pending(s), 2);
  uint64_t at;
  cr_assert_eq(ho_ack_next_deadline(s, &at), 1);
  cr_assert_eq(at, 130);
  cr_assert_eq(ho_ack_expire_overdue(s, 1000, NULL, 0, &n), HO_OK);
  cr_assert_eq(n, 0, "cap 0 takes nothing");
  cr_assert_eq(ho_ack_expire_overdue(s, 1000, out, 2, &n), HO_OK);
  cr_assert_eq(n, 2);
  cr_assert_eq(ho_ack_next_deadline(s, &at), 0);
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

Test(ack, exit_names) {
  cr_assert_str_eq(ho_ack_exit_name(HO_ACK_COMPLETED), "COMPLETED");
  cr_assert_str_eq(ho_ack_exit_name(HO_ACK_LATE), "LATE");
  cr_assert_str_eq(ho_ack_exit_name(HO_ACK_MISMATCH), "MISMATCH");
  cr_assert_str_eq(ho_ack_exit_name(HO_ACK_ABANDONED), "ABANDONED");
  cr_assert_str_eq(ho_ack_exit_name(HO_ACK_EXPIRED), "EXPIRED");
  cr_assert_str_eq(ho_ack_exit_name(0), "UNKNOWN");
}

/* Every exit revokes exactly once: over many handoffs with every kind of
 * exit, the store ends empty and each token left once. */
/* spec: TOKEN-7 */
Test(ack, every_exit_revokes_exactly_once) {
  fx_rand r = {0};
  ho_token_store *s = fx_store(&r, 30000, 50, 1024);
  enum { N = 1000 };
  static uint8_t t[N][16];
  int left[N] = {0};
  for (int i = 0; i < N; i++) {
    cr_assert_eq(ho_token_issue(s, 0, t[i]), HO_OK);
    cr_assert_eq(ho_ack_register(s, t[i], 0, (uint64_t)i, NULL, 0), HO_OK);
  }
  uint8_t w[16] = {0};
  /* Two passes: the clock never goes back (10 for timely exits, then 50). */
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < N; i++) {
      int rc;
      ho_ack_info in;
      if ((i % 5 == 3) != (pass == 1)) continue;
      switch (i % 5) {
      case 0: rc = ho_ack_acknowledge(s, t[i], t[i], 10, &in); cr_assert_eq(rc, HO_OK); break;
      case 1: rc = ho_ack_acknowledge(s, t[i], w, 10, &in); cr_assert_eq(rc, HO_ERR_ACK_TOKEN_MISMATCH); break;
      case 2: rc = ho_ack_abandon(s, t[i], 10, &in); cr_assert_eq(rc, 1); break;
      case 3: rc = ho_ack_acknowledge(s, t[i], t[i], 50, &in); cr_assert_eq(rc, HO_ERR_ACK_DEADLINE_EXCEEDED); break;
      default: continue; /* left for the sweep */
      }
      left[in.correlation_id]++;
    }
  }
  ho_ack_info out[64];
  size_t n;
  do {
    cr_assert_eq(ho_ack_expire_overdue(s, 60, out, 64, &n), HO_OK);
    for (size_t k = 0; k < n; k++) left[out[k].correlation_id]++;
  } while (n == 64);
  for (int i = 0; i < N; i++) {
    cr_assert_eq(left[i], 1, "handoff %d left %d times", i, left[i]);
    cr_assert_eq(ho_ack_abandon(s, t[i], 70, NULL), HO_ERR_TOKEN_NOT_PENDING);
  }
  cr_assert_eq(ho_token_pending(s), 0);
  ho_token_store_del(s);
}

/* spec: ERR-57 ACK-2 ACK-4 — a refused ACK: echo checked first, then ABANDONED. */
Test(ack, refused_ack_checks_echo_then_abandons) {
  fx_rand r = {0};
  ho_token_store *s = store(&r, 30000, 5000);
  uint8_t a[16], b[16], w[16];
  cr_assert_eq(ho_token_issue(s, 0, a), HO_OK);
  cr_assert_eq(ho_token_issue(s, 0, b), HO_OK);
  cr_assert_eq(ho_ack_refuse(s, a, a, 1, NULL), HO_ERR_TOKEN_NOT_PENDING, "not registered yet");
  cr_assert_eq(ho_token_state(s, a), HO_TOKEN_PENDING);
  cr_assert_eq(ho_ack_register(s, a, 1, 11, NULL, 0), HO_OK);
  cr_assert_eq(ho_ack_register(s, b, 1, 12, NULL, 0), HO_OK);
  ho_ack_info in;
  cr_assert_eq(ho_ack_refuse(s, a, a, 9000, &in), HO_ERR_ACK_REFUSED, "deadline does not matter");
  cr_assert_eq(in.exit, HO_ACK_ABANDONED);
  cr_assert_eq(in.correlation_id, 11);
  memcpy(w, b, 16);
  w[0] ^= 0x10;
  cr_assert_eq(ho_ack_refuse(s, b, w, 9000, &in), HO_ERR_ACK_TOKEN_MISMATCH);
  cr_assert_eq(in.exit, HO_ACK_MISMATCH);
  cr_assert_eq(ho_token_pending(s), 0, "both revoked");
  cr_assert_eq(ho_ack_refuse(s, a, a, 9000, &in), HO_ERR_TOKEN_NOT_PENDING);
  ho_token_store_del(s);
}
