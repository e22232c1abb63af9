/* Unit tests: the broker's latency histogram is a measurement in
 * microseconds, taken from the optional measure_us clock, while every time
 * input stays a millisecond reading (issue #12: one time unit). */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/broker.h"

#include "broker_test_util.h"

static uint64_t fake_us;
static int measure_calls;
static uint64_t measure(void *u) {
  cr_assert_eq(u, &fake_us, "measure_us gets clock_user");
  measure_calls++;
  return fake_us;
}

/* Bucket i counts latencies below 2^(i+4) us (handoff/broker.h). */
static int bucket_of(const ho_broker_stats *st) {
  int found = -1;
  for (int i = 0; i < HO_BROKER_LATENCY_BUCKETS; i++) {
    if (st->latency_us[i] == 0) continue;
    cr_assert_eq(found, -1, "one handoff, one bucket");
    cr_assert_eq(st->latency_us[i], 1);
    found = i;
  }
  return found;
}

/* One legacy handoff: client opened at `open_ms`, ready flushed at `done_ms`;
 * fake_us set to `open_us` and `done_us` at those instants. */
static ho_broker_stats one_handoff(ho_broker_config *cfg, uint64_t open_ms, uint64_t done_ms,
                                   uint64_t open_us, uint64_t done_us) {
  BT_DECL(x, b, ctl, c, mk_cfg(cfg, &x, &ctl));
  ho_negotiated n;
  ho_envelope env;
  fake_us = open_us;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, open_ms);
  send_ack(b, ctl, &o, true, 0, done_ms);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_WRITE, 0), 0, "legacy: the broker writes ready");
  fake_us = done_us;
  ho_broker_conn_flushed(b, c, done_ms);
  drain(b, &x);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_completed, 1);
  bt_end(b, &x, done_ms);
  return st;
}

/* 300 us by the measurement clock, within one millisecond of input time:
 * the histogram shows the measurement (bucket < 512 us), not 0. */
Test(broker_latency, from_measure_clock) {
  ho_broker_config cfg = base_cfg();
  cfg.measure_us = measure;
  cfg.clock_user = &fake_us;
  measure_calls = 0;
  ho_broker_stats st = one_handoff(&cfg, 3 * MS, 3 * MS, 1000, 1300);
  cr_assert_eq(bucket_of(&st), 5, "300 us: 256 <= t < 512");
  cr_assert_eq(measure_calls, 2, "read at open and at completion only");
}

/* Without a measurement clock the inputs measure: 2 ms are 2000 us. */
Test(broker_latency, from_ms_inputs) {
  ho_broker_config cfg = base_cfg();
  ho_broker_stats st = one_handoff(&cfg, 10 * MS, 12 * MS, 0, 0);
  cr_assert_eq(bucket_of(&st), 7, "2000 us: 1024 <= t < 2048");
}

/* A measurement clock that goes back gives 0 us, never a wrapped value. */
Test(broker_latency, measure_clock_back) {
  ho_broker_config cfg = base_cfg();
  cfg.measure_us = measure;
  cfg.clock_user = &fake_us;
  ho_broker_stats st = one_handoff(&cfg, 3 * MS, 4 * MS, 5000, 4000);
  cr_assert_eq(bucket_of(&st), 0);
}
