/* Unit tests: the broker core rules of spec 1.0.0-rc1 (issue #8) — one
 * offer per control connection until MULTI_OFFER is declared, the
 * backend-ready misconfiguration, the legacy ACK deadline, the accounting
 * of a failed ready write, draining backends, the TTL cap. Events in,
 * actions out, real codecs. */
#include "broker_test_util.h"

/* Hello + Negotiated written; returns the Negotiated. */
static ho_negotiated hello(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x, uint64_t now) {
  uint8_t wire[512];
  size_t len = hello_frame(caps, "echo", wire, sizeof wire);
  feed(b, c, wire, len, now);
  drain(b, x);
  ho_hello_reply r = reply_of(x, find(x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  ho_broker_conn_flushed(b, *c, now);
  drain(b, x);
  return r.negotiated;
}

/* spec: XFER-37 CAP-10 — without a declaration a control connection carries
 * one offer; a second attempt dials another; the first connection is closed
 * once its ACK (without MULTI_OFFER) is in. With MULTI_OFFER in the ACK the
 * connection is reused and offers are pipelined. */
Test(broker_rc1, one_offer_per_undeclared_connection) {
  acts x;
  ho_broker_conn *k1, *c1, *c2, *c3, *c4;
  ho_broker_config cfg = base_cfg();
  ho_broker *b = mk_cfg(&cfg, &x, &k1);
  hello(b, HO_CAP_HANDLE_PASSING, &c1, &x, 3 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k1);
  ho_offer o1 = offer_at(&x, 0);
  hello(b, HO_CAP_HANDLE_PASSING, &c2, &x, 3 * MS);
  cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1, "no second offer on an undeclared connection");
  int d = find(&x, HO_BACT_OPEN_CONTROL, 0);
  cr_assert_geq(d, 0, "a second control connection is dialled");
  ho_broker_conn *k2 = x.a[d].conn;
  send_ack(b, k1, &o1, true, 0, 4 * MS); /* no MULTI_OFFER */
  drain(&*b, &x);
  int cl = close_of(&x, &dummy_ctl, false);
  cr_assert_geq(cl, 0, "the one-offer connection is closed after its ACK");
  ho_broker_conn_flushed(b, c1, 4 * MS);
  drain(b, &x);
  cr_assert_eq(ho_broker_control_connected(b, k2, 5 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k2, "the queued attempt goes on the new one");
  ho_offer o2 = offer_at(&x, 0);
  send_ack(b, k2, &o2, true, HO_BACKEND_CAP_MULTI_OFFER, 6 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_OPEN_CONTROL, 0), -1);
  ho_broker_conn_flushed(b, c2, 6 * MS);
  drain(b, &x);
  /* declared: two offers in flight on k2 */
  hello(b, HO_CAP_HANDLE_PASSING, &c3, &x, 7 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k2);
  hello(b, HO_CAP_HANDLE_PASSING, &c4, &x, 7 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k2, "pipelined after the declaration");
  bt_end(b, &x, 8 * MS);
}

/* spec: ACK-16 ERR-63 FALLBACK-22 FALLBACK-25 READY-36 — the backend
 * declared backend-ready on this connection, then accepts a flagged offer
 * without declaring it: a failure, no write, no shutdown, and no
 * backend-ready mode on the strength of the old declaration after. */
Test(broker_rc1, backend_ready_violation_withdraws_the_declaration) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.backend_multi_offer = true;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  /* the declaration: a legacy handoff whose ACK carries the bit */
  ho_negotiated n = hello(b, HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY, &c, &x, 2 * MS);
  cr_assert_not(n.server_capabilities & HO_CAP_BACKEND_READY, "nothing declared yet: legacy");
  ho_offer o = offer_at(&x, 0);
  send_ack(b, k, &o, true, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER, 2 * MS);
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0); /* the legacy ready frame */
  cr_assert_geq(w, 0);
  ho_broker_conn_flushed(b, c, 2 * MS);
  drain(b, &x);
  n = hello(b, HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY, &c, &x, 3 * MS);
  cr_assert(n.server_capabilities & HO_CAP_BACKEND_READY);
  o = offer_at(&x, 0);
  cr_assert(o.offer_flags & HO_OFFER_FLAG_BACKEND_READY);
  send_ack(b, k, &o, true, 0, 4 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1, "nothing written to the client");
  int cl = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(cl, 0);
  cr_assert_not(x.a[cl].shutdown, "the backend may be serving the request: no shutdown");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_READY_VIOLATION], 1);
  cr_assert_eq(st.handoffs_completed, 1, "only the legacy one");
  cr_assert(ho_broker_reason_counts(HO_BROKER_REASON_READY_VIOLATION));
  cr_assert_str_eq(ho_broker_reason_spec_name(HO_BROKER_REASON_READY_VIOLATION),
                   "BACKEND_READY_VIOLATION");
  n = hello(b, HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY, &c, &x, 5 * MS);
  cr_assert(n.server_capabilities & HO_CAP_HANDLE_PASSING);
  cr_assert_not(n.server_capabilities & HO_CAP_BACKEND_READY, "the declaration is withdrawn");
  bt_end(b, &x, 6 * MS);
}

/* spec: ACK-17 — a legacy attempt gives up 1.5 s after Negotiated even when
 * the configured ACK deadline is longer (5 s), before a client waiting 2 s. */
Test(broker_rc1, legacy_ack_deadline_below_ready_timeout) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.ack_timeout_ms = 5000 * MS;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  hello(b, HO_CAP_HANDLE_PASSING, &c, &x, 10 * MS);
  ho_broker_conn_flushed(b, k, 10 * MS);
  ho_broker_timer(b, 10 * MS + 1499 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1);
  ho_broker_timer(b, 10 * MS + 1500 * MS);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0, "EXPIRED at Negotiated + 1.5 s");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], 1);
  bt_end(b, &x, 2000 * MS);
}

/* spec: ACK-15 FALLBACK-25 FALLBACK-8 — a legacy ready frame that cannot be
 * written: no completed handoff, no success, and no failure of the backend
 * (nine of them in a row leave the rate limit untouched). */
Test(broker_rc1, failed_ready_write_is_no_success) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.backend_multi_offer = true;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  for (int i = 0; i < 9; i++) {
    ho_negotiated n = hello(b, HO_CAP_HANDLE_PASSING, &c, &x, (uint64_t)(3 + i) * MS);
    cr_assert_eq(n.handle_passed_token_len, 16, "round %d: still offered", i);
    ho_offer o = offer_at(&x, 0);
    send_ack(b, k, &o, true, HO_BACKEND_CAP_MULTI_OFFER, (uint64_t)(3 + i) * MS);
    drain(b, &x);
    cr_assert_geq(find(&x, HO_BACT_WRITE, 0), 0, "ready queued");
    ho_broker_conn_error(b, c, HO_ERR_CLOSED, (uint64_t)(3 + i) * MS); /* EPIPE */
    drain(b, &x);
  }
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_completed, 0);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CLIENT_GONE], 9);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_RATE_LIMITED], 0);
  bt_end(b, &x, 20 * MS);
}

/* spec: BROKER-9 ERR-64 FALLBACK-25 — refusals with DRAINING: no more offers
 * on that connection, closed once nothing is in flight, a new one dialled
 * for the next handoff, and not counted against the backend. */
Test(broker_rc1, draining_backend_is_left_without_counting) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.backend_multi_offer = true;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  for (int i = 0; i < 9; i++) {
    ho_negotiated n = hello(b, HO_CAP_HANDLE_PASSING, &c, &x, (uint64_t)(3 + i) * MS);
    cr_assert_eq(n.handle_passed_token_len, 16, "round %d: a draining backend trips no limit", i);
    int dial = find(&x, HO_BACT_OPEN_CONTROL, 0);
    if (i > 0) {
      cr_assert_geq(dial, 0, "round %d: a new control connection for the next handoff", i);
      cr_assert_eq(ho_broker_control_connected(b, x.a[dial].conn, (uint64_t)(3 + i) * MS), HO_OK);
      drain(b, &x);
    }
    int s = find(&x, HO_BACT_SEND_FD, 0);
    cr_assert_geq(s, 0);
    ho_offer o = offer_at(&x, 0);
    ho_any_msg m;
    memset(&m, 0, sizeof m);
    memcpy(m.ack.token, o.token, 16);
    m.ack.correlation_id = o.correlation_id;
    m.ack.backend_capabilities = HO_BACKEND_CAP_MULTI_OFFER;
    strcpy(m.ack.error_detail, "DRAINING");
    uint8_t buf[256];
    size_t len;
    cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, &m, buf, sizeof buf, &len), HO_OK);
    cr_assert_eq(ho_broker_control_data(b, x.a[s].conn, buf, len, (uint64_t)(3 + i) * MS), HO_OK);
    drain(b, &x);
    int closes = 0;
    for (int j = 0; j < x.n; j++) closes += x.a[j].type == HO_BACT_CLOSE;
    cr_assert_eq(closes, 2, "the client copy and the draining control connection");
  }
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_DRAINING], 9);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_RATE_LIMITED], 0);
  bt_end(b, &x, 20 * MS);
}

/* spec: TOKEN-16 — a configured TTL above 30 s is clamped to 30 s. */
Test(broker_rc1, token_ttl_clamped_to_30s) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.token_ttl_ms = 120000 * MS;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, &c, wire, len, 3 * MS); /* Negotiated queued, never flushed: the token waits */
  drain(b, &x);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.tokens_pending, 1);
  ho_broker_timer(b, 3 * MS + 30000 * MS);
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.tokens_pending, 0, "expired at 30 s, not 120 s");
  bt_end(b, &x, 31000 * MS);
}

/* spec: XFER-23 — when every dial fails, the waiting attempts fail with it
 * and the broker does not dial again and again for them. */
Test(broker_rc1, failed_dials_fail_the_queue_without_a_storm) {
  acts x;
  ho_broker_conn *k, *c1, *c2;
  ho_broker_config cfg = base_cfg();
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  hello(b, HO_CAP_HANDLE_PASSING, &c1, &x, 3 * MS); /* on k */
  hello(b, HO_CAP_HANDLE_PASSING, &c2, &x, 3 * MS); /* queued, a dial */
  int d = find(&x, HO_BACT_OPEN_CONTROL, 0);
  cr_assert_geq(d, 0);
  cr_assert_eq(ho_broker_conn_error(b, x.a[d].conn, HO_ERR_CLOSED, 4 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_OPEN_CONTROL, 0), -1, "no new dial: nothing waits any more");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_BACKEND_UNAVAILABLE], 1);
  bt_end(b, &x, 5 * MS);
}

/* spec: BROKER-10 BROKER-11 SEC-7 — pre-Hello connections are bounded; when
 * full the one that has waited longest is closed, not the new one; above
 * half of the bound a Hello is due within 1 s. */
Test(broker_rc1, regression_issue_11_oldest_pre_hello_connection_goes) {
  acts x;
  ho_broker_conn *k, *c[5];
  ho_broker_config cfg = base_cfg();
  cfg.max_hello_waiting = 4;
  cfg.hello_timeout_ms = 30000 * MS;
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  static int users[5];
  ho_peer_cred p = {.pid = 7, .uid = 0};
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(ho_broker_client_open(b, &users[i], &p, (uint64_t)(10 + i) * MS, &c[i]), HO_OK);
    drain(b, &x);
    cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1);
  }
  cr_assert_eq(ho_broker_client_open(b, &users[4], &p, 20 * MS, &c[4]), HO_OK);
  drain(b, &x);
  int cl = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(cl, 0, "one connection is shed");
  cr_assert_eq(x.a[cl].user, &users[0], "the oldest, not the new one");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.hello_overflow, 1);
  /* the newest still gets its Hello read */
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  size_t off = 0, want;
  while ((want = ho_broker_client_wants(b, c[4])) > 0) {
    cr_assert_eq(ho_broker_client_data(b, c[4], wire + off, want, 21 * MS), HO_OK);
    off += want;
  }
  cr_assert_eq(off, len);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_WRITE, 0), 0, "Negotiated for the newest");
  /* 3 of 4 still wait: more than half, so their Hello is due 1 s after they
   * connected, not 30 s (BROKER-11) */
  ho_broker_timer(b, 11 * MS + 999 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1);
  ho_broker_timer(b, 11 * MS + 1000 * MS);
  drain(b, &x);
  cr_assert_eq(x.a[find(&x, HO_BACT_CLOSE, 0)].user, &users[1], "due within 1 s under pressure");
  bt_end(b, &x, 2000 * MS);
}
