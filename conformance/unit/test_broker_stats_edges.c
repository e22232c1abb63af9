/* Unit tests (white box, issue #17 coverage): the broker's statistics
 * renderer under truncation and a NULL buffer, the reason/stage/fate name
 * tables out of range, and the HELLO-6 / HELLO-7 validators of
 * broker/broker_internal.h for the inputs the core's callers rarely send. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "handoff/broker.h"
#include "broker/broker_internal.h"

static ho_broker_stats full_stats(void) {
  ho_broker_stats s;
  memset(&s, 0, sizeof s);
  s.clients_accepted = 7;
  for (int i = 0; i < HO_BROKER_REASON_COUNT; i++) s.fallbacks[i] = (uint64_t)i + 1;
  for (int i = 0; i < HO_BROKER_LATENCY_BUCKETS; i++) s.latency_us[i] = 1;
  s.dup_attempts = 3;
  for (int i = 0; i < HO_BROKER_STAGE_COUNT; i++) s.dup_ended_at[i] = 1;
  for (int i = 0; i < HO_BROKER_DUP_FATE_COUNT; i++) s.dup_fate[i] = 1;
  return s;
}

Test(broker_stats_edges, format_null_stats_gives_empty_string) {
  char buf[8] = "xxxxxxx";
  cr_assert_eq(ho_broker_format_stats(NULL, buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "");
  cr_assert_eq(ho_broker_format_stats(NULL, NULL, 0), 0);
}

Test(broker_stats_edges, format_measures_without_buffer_and_truncates) {
  ho_broker_stats s = full_stats();
  size_t need = ho_broker_format_stats(&s, NULL, 0);
  cr_assert_gt(need, 0);
  static char big[16384];
  cr_assert_lt(need, sizeof big);
  cr_assert_eq(ho_broker_format_stats(&s, big, sizeof big), need);
  cr_assert_eq(strlen(big), need);
  cr_assert_not_null(strstr(big, "handoff_latency_us{le=+Inf} 1\n"));
  cr_assert_not_null(strstr(big, "handoff_latency_us{lt=16} 1\n"));
  cr_assert_not_null(strstr(big, "dup_attempts 3\n"));
  /* A buffer too small: same length reported, output a NUL-terminated prefix. */
  char small[10];
  cr_assert_eq(ho_broker_format_stats(&s, small, sizeof small), need);
  cr_assert_eq(strlen(small), sizeof small - 1);
  cr_assert_eq(memcmp(small, big, sizeof small - 1), 0);
  /* cap 0 with a buffer: nothing written. */
  char none[1] = {'z'};
  cr_assert_eq(ho_broker_format_stats(&s, none, 0), need);
  cr_assert_eq(none[0], 'z');
}

Test(broker_stats_edges, reason_names_out_of_range) {
  cr_assert_str_eq(ho_broker_reason_name(-1), "unknown");
  cr_assert_str_eq(ho_broker_reason_name(HO_BROKER_REASON_COUNT), "unknown");
  cr_assert_str_eq(ho_broker_reason_spec_name(-1), "UNKNOWN");
  cr_assert_str_eq(ho_broker_reason_spec_name(HO_BROKER_REASON_COUNT), "UNKNOWN");
  cr_assert_not(ho_broker_reason_counts(-1));
  cr_assert_not(ho_broker_reason_counts(HO_BROKER_REASON_COUNT));
  cr_assert_not_null(ho_broker_stage_name(-1));
  cr_assert_not_null(ho_broker_dup_fate_name(HO_BROKER_DUP_FATE_COUNT));
}

/* spec: HELLO-6 */
Test(broker_stats_edges, service_name_rules) {
  char long_name[HO_MAX_SERVICE_NAME + 2];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  cr_assert_not(bk_service_name_valid(""));
  cr_assert_not(bk_service_name_valid(long_name));
  long_name[HO_MAX_SERVICE_NAME] = '\0';
  cr_assert(bk_service_name_valid(long_name));
  cr_assert(bk_service_name_valid("a-0z9"));
  cr_assert_not(bk_service_name_valid("Echo"));
  cr_assert_not(bk_service_name_valid("a_b"));
  cr_assert_not(bk_service_name_valid("a/"));
  cr_assert_not(bk_service_name_valid("a{"));
}

/* spec: HELLO-7 */
Test(broker_stats_edges, semver_rules) {
  static const char *good[] = {"1.0.0", "0.0.0", "10.20.30", "1.0.0-rc.1", "1.0.0-0.a-Z",
                               "1.0.0+build.007", "1.0.0-x+Y-9", "1.0.0-0"};
  static const char *bad[] = {"", "1", "1.0", "1.0.0.", "01.0.0", "1.00.0", "1.0.00",
                              "1.0.0-", "1.0.0+", "1.0.0-01", "1.0.0-a..b", "1.0.0-a_b",
                              "1.0.0+b/", "a.0.0", "1.0.0x", "1.0.0-[", "1.0.0-a{"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    cr_assert(bk_semver_valid(good[i]), "%s", good[i]);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    cr_assert_not(bk_semver_valid(bad[i]), "%s", bad[i]);
  char longv[HO_MAX_WANTED_VERSION + 8];
  memset(longv, '1', sizeof longv);
  memcpy(longv, "1.0.0-", 6);
  longv[sizeof longv - 1] = '\0';
  cr_assert_not(bk_semver_valid(longv));
}
