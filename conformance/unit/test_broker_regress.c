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
  bt_end(b, &x, 600 * MS);
}

/* spec: BROKER-3 XFER-37 READY-36 — found by the soak (issue #11): the one
 * connection that declared backend-ready mode at its in-flight limit, a
 * backend-ready attempt waiting; a fresh connection cannot carry it (it has
 * declared nothing), so the broker must not dial one (it used to dial,
 * retire the new connection at once, and dial again, ~10^5 times a second,
 * stalling every client). The attempt waits and goes out on the declared
 * connection as soon as an ACK frees a slot. */
Test(broker_regress, regression_issue_11_dial_storm) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.backend_multi_offer = true;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  /* the declaration, from a legacy handoff's ACK */
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, &c, wire, len, 3 * MS);
  drain(b, &x);
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  ho_offer o = offer_at(&x, 0);
  send_ack(b, k, &o, true, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER, 3 * MS);
  drain(b, &x);
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  ho_offer first;
  memset(&first, 0, sizeof first);
  size_t bl = hello_frame(HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY, "echo", wire, sizeof wire);
  for (int i = 0; i < 128; i++) { /* fill the declared connection */
    feed(b, &c, wire, bl, 4 * MS);
    drain(b, &x);
    ho_broker_conn_flushed(b, c, 4 * MS);
    drain(b, &x);
    if (i == 0) first = offer_at(&x, 0);
  }
  int dials = 0;
  feed(b, &c, wire, bl, 5 * MS); /* the 129th waits */
  drain(b, &x);
  ho_broker_conn_flushed(b, c, 5 * MS);
  drain(b, &x);
  for (int i = 0; i < x.n; i++) dials += x.a[i].type == HO_BACT_OPEN_CONTROL;
  cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1, "no room on the declared connection");
  cr_assert_eq(dials, 0, "no dial for an attempt a fresh connection cannot carry");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  uint64_t connects = st.control_connects;
  send_ack(b, k, &first, true, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER, 6 * MS);
  drain(b, &x);
  int s = find(&x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0, "the waiting attempt goes out on the freed slot");
  cr_assert_eq(x.a[s].conn, k);
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.control_connects, connects);
  ho_broker_shutdown(b, 7 * MS);
  ho_broker_action a; /* 129 attempts end: more actions than acts holds */
  while (ho_broker_next_action(b, &a)) {
  }
  bt_del(b);
}
