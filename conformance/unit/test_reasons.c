/* Unit tests: the one fallback-reason list (ref/include/handoff/reasons.h)
 * and everything generated from it — the core enum and names, the
 * FALLBACK-25 column, the broker's reasons and their mapping, the client's
 * names. */
#include <criterion/criterion.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "handoff/broker.h"
#include "handoff/client.h"
#include "handoff/fallback.h"

/* Every row: its enumerator has its value, its name is its spec name, and
 * the values are dense. */
Test(reasons, every_row_names_its_value) {
  int rows = 0;
#define ROW_(name, value, spec, counts, client)                                 \
  cr_assert_eq(HO_FALLBACK_##name, value);                                      \
  cr_assert_str_eq(ho_fallback_reason_name(value), #name);                      \
  cr_assert_str_eq(ho_fallback_reason_spec(value), spec);                       \
  cr_assert_eq(ho_fallback_reason_counts(value), (counts) != 0, "%s", #name);   \
  rows++;
  HO_FALLBACK_REASON_LIST(ROW_)
#undef ROW_
  cr_assert_eq(rows, HO_FALLBACK_REASON_COUNT);
  cr_assert_null(ho_fallback_reason_spec(-1));
  cr_assert_null(ho_fallback_reason_spec(HO_FALLBACK_REASON_COUNT));
  cr_assert_not(ho_fallback_reason_counts(HO_FALLBACK_REASON_COUNT));
}

/* The original v1's HandoffFallbackReason values 1..8 and this spec's 9..16
 * (spec/fallback.md §2 table) do not move. */
Test(reasons, values_of_the_spec_table) {
  static const char *const table[] = {
      [1] = "CLIENT_UNSUPPORTED", [2] = "SERVICE_POLICY_DISABLED", [3] = "FD_PRESSURE",
      [4] = "RATE_LIMITED",       [5] = "PERMISSION_DENIED",       [6] = "INTEGRITY_MISMATCH",
      [7] = "BACKEND_ACK_TIMEOUT", [8] = "ADOPTED_BACKEND",        [9] = "NO_ENDPOINT",
      [10] = "QUEUE_FULL",        [11] = "QUEUE_TIMEOUT",          [12] = "TOKEN_UNAVAILABLE",
      [13] = "BACKEND_REFUSED",   [14] = "EARLY_DATA_UNSUPPORTED", [15] = "BACKEND_READY_VIOLATION",
      [16] = "BACKEND_DRAINING"};
  for (int v = 1; v <= 16; v++) cr_assert_str_eq(ho_fallback_reason_name(v), table[v]);
}

/* spec: FALLBACK-25 — counted: the failures after the transfer began;
 * not counted: Hello-time decisions, the queue, the broker's own descriptor
 * shortage, DRAINING, a client that left, shutdown. */
Test(reasons, failures_that_count_against_a_backend) {
  const int counted[] = {HO_FALLBACK_PERMISSION_DENIED, HO_FALLBACK_INTEGRITY_MISMATCH,
                         HO_FALLBACK_BACKEND_ACK_TIMEOUT, HO_FALLBACK_BACKEND_REFUSED,
                         HO_FALLBACK_BACKEND_READY_VIOLATION};
  int n = 0;
  for (int r = 0; r < HO_FALLBACK_REASON_COUNT; r++) n += ho_fallback_reason_counts(r);
  cr_assert_eq(n, (int)(sizeof counted / sizeof counted[0]));
  for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++)
    cr_assert(ho_fallback_reason_counts(counted[i]), "%s", ho_fallback_reason_name(counted[i]));
  cr_assert_not(ho_fallback_reason_counts(HO_FALLBACK_FD_PRESSURE));
  cr_assert_not(ho_fallback_reason_counts(HO_FALLBACK_BACKEND_DRAINING));
  cr_assert_not(ho_fallback_reason_counts(HO_FALLBACK_CLIENT_GONE));
}

/* spec: FALLBACK-14 FALLBACK-17 FALLBACK-25 — each broker reason names one
 * spec reason, its counter renders under that name and it counts exactly
 * when the spec reason does. */
Test(reasons, broker_reasons_derive_from_the_list) {
  for (int i = 0; i < HO_BROKER_REASON_COUNT; i++) {
    int f = ho_broker_reason_fallback(i);
    cr_assert(f > HO_FALLBACK_NONE && f < HO_FALLBACK_REASON_COUNT, "%s", ho_broker_reason_name(i));
    cr_assert_str_eq(ho_broker_reason_spec_name(i), ho_fallback_reason_name(f));
    cr_assert_eq(ho_broker_reason_counts(i), ho_fallback_reason_counts(f));
  }
  cr_assert_eq(ho_broker_reason_fallback(-1), -1);
  cr_assert_eq(ho_broker_reason_fallback(HO_BROKER_REASON_COUNT), -1);
  cr_assert_eq(ho_broker_reason_fallback(HO_BROKER_REASON_ACK_REFUSED), HO_FALLBACK_BACKEND_REFUSED);
  cr_assert_eq(ho_broker_reason_fallback(HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED), HO_FALLBACK_FD_PRESSURE);
}

/* spec: FALLBACK-2 — every answer of the Hello-time decision maps to a
 * broker reason of the same spec reason (no catch-all). */
Test(reasons, hello_decisions_map_to_their_own_row) {
  const ho_fallback_reason hello[] = {
      HO_FALLBACK_CLIENT_UNSUPPORTED, HO_FALLBACK_NO_ENDPOINT,   HO_FALLBACK_SERVICE_POLICY_DISABLED,
      HO_FALLBACK_FD_PRESSURE,        HO_FALLBACK_ADOPTED_BACKEND, HO_FALLBACK_EARLY_DATA_UNSUPPORTED,
      HO_FALLBACK_RATE_LIMITED,       HO_FALLBACK_QUEUE_FULL,    HO_FALLBACK_TOKEN_UNAVAILABLE};
  for (size_t i = 0; i < sizeof hello / sizeof hello[0]; i++) {
    ho_broker_reason b = bk_reason_of(hello[i]);
    cr_assert_eq(ho_broker_reason_fallback(b), (int)hello[i], "%s", ho_fallback_reason_name(hello[i]));
  }
  cr_assert_eq(bk_reason_of(HO_FALLBACK_FD_PRESSURE), HO_BROKER_REASON_FD_PRESSURE); /* first row */
}

/* spec: FALLBACK-4 — the client reports the spec name where it sees the
 * reason itself, one value space with the list, client-only names above it. */
Test(reasons, client_names_are_the_spec_names) {
#define CLIENT_ROW_(name, value, spec, counts, client)                                   \
  if (client) cr_assert_str_eq(ho_client_reason_name(value), ho_fallback_reason_name(value));
  HO_FALLBACK_REASON_LIST(CLIENT_ROW_)
#undef CLIENT_ROW_
#define ONLY_ROW_(name, value, spec)                                                     \
  cr_assert_geq(value, HO_FALLBACK_REASON_COUNT);                                        \
  cr_assert_str_eq(ho_client_reason_name(value), #name);
  HO_CLIENT_REASON_LIST(ONLY_ROW_)
#undef ONLY_ROW_
  cr_assert_str_eq(ho_client_reason_name(HO_CLIENT_CLIENT_UNSUPPORTED), "CLIENT_UNSUPPORTED");
  /* spec: ERR-65 — after a token: NOT_ADOPTED, the error as detail. */
  cr_assert_str_eq(ho_client_reason_name(HO_ERR_CLOSED), "NOT_ADOPTED");
  cr_assert_str_eq(ho_client_reason_detail(HO_ERR_CLOSED), "CLOSED");
  cr_assert_str_eq(ho_client_reason_name(HO_OK), "NONE");
}
