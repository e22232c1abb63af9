/* Regression tests of defects the stateful broker-core fuzz target
 * (fuzz/fuzz_broker_core.c) found; each is named after what it was. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/msg.h"
#include "handoff/token.h"

#include "broker_test_util.h"

/* Open a client with user pointer `user`, feed it a whole Hello and report
 * its Negotiated as written: its SEND_FD and offer are then queued. */
static ho_broker_conn *client_to_offer(ho_broker *b, void *user, acts *x, uint64_t now) {
  ho_peer_cred p = {.pid = 42, .uid = 0, .gid = 0};
  ho_broker_conn *c;
  cr_assert_eq(ho_broker_client_open(b, user, &p, now, &c), HO_OK);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire), off = 0, want;
  while ((want = ho_broker_client_wants(b, c)) > 0 && off < len) {
    cr_assert_eq(ho_broker_client_data(b, c, wire + off, want, now), HO_OK);
    off += want;
  }
  drain(b, x);
  ho_broker_conn_flushed(b, c, now);
  drain(b, x);
  cr_assert_geq(find(x, HO_BACT_SEND_FD, 0), 0);
  return c;
}

/* spec: BROKER-1 ACK-6 ACK-10 TOKEN-7 — two offers on one control
 * connection that never became writable reach their ACK deadline in the
 * same timer fire. Dropping the stuck connection while handling the first
 * expiry freed the second client, which the expiry batch then failed again
 * (heap use after free, a second CLOSE, the fallback counted twice). */
Test(broker_core, regression_stuck_control_two_expiries_one_fire) {
  acts x;
  ho_broker_conn *ctl;
  ho_broker *b = mk(&x, &ctl); /* ACK deadline 100 ms */
  int u1, u2;
  client_to_offer(b, &u1, &x, 3 * MS);
  client_to_offer(b, &u2, &x, 3 * MS);
  /* The control connection's queue is never flushed (backend stuck). */
  cr_assert_eq(ho_broker_timer(b, 500 * MS), HO_OK);
  drain(b, &x);
  int closes_u1 = 0, closes_u2 = 0, closes_ctl = 0;
  for (int i = 0; i < x.n; i++) {
    if (x.a[i].type != HO_BACT_CLOSE) continue;
    if (x.a[i].user == &u1) closes_u1++;
    else if (x.a[i].user == &u2) closes_u2++;
    else if (x.a[i].user == &dummy_ctl) closes_ctl++;
  }
  cr_assert_eq(closes_u1, 1, "first client closed once");
  cr_assert_eq(closes_u2, 1, "second client closed once");
  cr_assert_eq(closes_ctl, 1, "the stuck control connection is dropped");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], 2);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 0);
  cr_assert_eq(st.in_flight, 0);
  cr_assert_eq(st.tokens_pending, 0);
  ho_broker_shutdown(b, 600 * MS);
  drain(b, &x);
  ho_broker_free(b);
}
