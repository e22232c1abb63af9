/* Unit tests: the broker core's handoff by duplication (duplicate_handles,
 * the Windows transport) — DUPLICATE before the offer, the offer naming the
 * duplicate, CLOSE_IN_TARGET exactly when the offer was not completely
 * written, a failure injected at every stage with the stage, the reason and
 * the duplicate's fate counted, the token ended exactly once; and the Unix
 * layout untouched by the mode's existence.
 * spec: XFER-30 XFER-31 XFER-33 XFER-41 XFER-43 XFER-45 XFER-37 FALLBACK-17 FALLBACK-21 TOKEN-7 ACK-10 */
#include "broker_test_util.h"

static ho_broker *mk_dup(bool multi, acts *x, ho_broker_conn **ctl) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "handoff-echo-pipe",
                          .handoff_endpoint = true, .backend_multi_offer = multi,
                          .ack_timeout_ms = 100 * MS, .peer_policy = HO_PEER_ANY,
                          .unix_ms = wall_ms, .duplicate_handles = true};
  return mk_cfg(&cfg, x, ctl);
}

/* Hello through to the DUPLICATE action; returns its index in *x. */
static int run_to_dup(ho_broker *b, ho_broker_conn **c, acts *x, ho_negotiated *neg, uint64_t now) {
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, c, wire, len, now);
  drain(b, x);
  int w = find(x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0);
  *neg = reply_of(x, w).negotiated;
  cr_assert_eq(neg->handle_passed_token_len, HO_TOKEN_BYTES);
  cr_assert_eq(ho_broker_conn_flushed(b, *c, now), HO_OK);
  drain(b, x);
  cr_assert_eq(find(x, HO_BACT_SEND_FD, 0), -1, "no sideband on this transport");
  int d = find(x, HO_BACT_DUPLICATE, 0);
  cr_assert_geq(d, 0);
  cr_assert_eq(x->a[d].peer, *c);
  cr_assert_neq(x->a[d].correlation_id, 0);
  cr_assert(ho_broker_conn_is_control(x->a[d].conn));
  cr_assert_eq(find(x, HO_BACT_WRITE, 0), -1, "no offer before the duplicate exists (XFER-31)");
  return d;
}

/* Report the duplicate; return the offer WRITE (decoded into *o). */
static int dup_ok(ho_broker *b, ho_broker_conn *k, uint64_t corr, uint64_t value, acts *x,
                  ho_offer *o, ho_envelope *env, uint64_t now) {
  cr_assert_eq(ho_broker_handle_duplicated(b, k, corr, HO_OK, value, now), HO_OK);
  drain(b, x);
  int w = find(x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0);
  cr_assert_eq(x->a[w].conn, k);
  cr_assert_eq(x->a[w].correlation_id, corr);
  cr_assert_eq(x->a[w].handle_value, value);
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, x->a[w].bytes, x->a[w].len, env,
                               &m), HO_OK);
  *o = m.offer;
  return w;
}

static ho_broker_stats stats(ho_broker *b) {
  ho_broker_stats s;
  ho_broker_get_stats(b, &s);
  return s;
}

static void finish(ho_broker *b) {
  acts x;
  bt_end(b, &x, 999 * MS);
}

/* spec: XFER-31 XFER-33 TOKEN-7 — the whole sequence; the offer carries the
 * duplicate, the token, the deadline; no CLOSE_IN_TARGET on success. */
Test(broker_dup, completed_sequence_names_the_duplicate) {
  BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
  ho_negotiated neg;
  int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
  uint64_t corr = x.a[d].correlation_id;
  ho_offer o;
  ho_envelope env;
  dup_ok(b, k, corr, 0x1c4, &x, &o, &env, 11 * MS);
  cr_assert_eq(o.handle_value, 0x1c4);
  cr_assert_eq(o.correlation_id, corr);
  cr_assert_eq(memcmp(o.token, neg.handle_passed_token, HO_TOKEN_BYTES), 0);
  cr_assert_neq(env.deadline_unix_ms, 0, "TOKEN-22: the legacy offer carries its deadline");
  cr_assert_eq(ho_broker_offer_written(b, k, corr, 11 * MS), HO_OK);
  send_ack(b, k, &o, true, HO_BACKEND_CAP_MULTI_OFFER, 12 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE_IN_TARGET, 0), -1);
  int r = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(r, 0, "legacy: the broker writes ready");
  cr_assert_eq(x.a[r].conn, c);
  cr_assert_eq(ho_broker_conn_flushed(b, c, 13 * MS), HO_OK);
  drain(b, &x);
  ho_broker_stats s = stats(b);
  cr_assert_eq(s.handoffs_completed, 1);
  cr_assert_eq(s.tokens_pending, 0, "consumed");
  cr_assert_eq(s.in_flight, 0);
  cr_assert_eq(s.dup_attempts, 1);
  cr_assert_eq(s.dup_ended_at[HO_BROKER_STAGE_NONE], 1);
  cr_assert_eq(s.dup_fate[HO_BROKER_DUP_BACKEND_OWNED], 1);
  char text[4096];
  ho_broker_format_stats(&s, text, sizeof text);
  cr_assert_not_null(strstr(text, "dup_fate{fate=backend_owned} 1\n"));
  cr_assert_not_null(strstr(text, "dup_ended{stage=none} 1\n"));
  finish(b);
}

/* spec: FALLBACK-17 XFER-41 — DUPLICATE fails: nothing was made, no offer,
 * no CLOSE_IN_TARGET, the client closed without shutdown, token revoked. */
Test(broker_dup, duplicate_fails_at_stage_duplicate) {
  static const struct {
    int rc;
    uint64_t value;
    ho_broker_reason why;
  } cases[] = {{HO_ERR_PERMISSION, 0, HO_BROKER_REASON_PERMISSION},
               {HO_ERR_FD_EXHAUSTED, 0, HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED},
               {HO_ERR_CLOSED, 0, HO_BROKER_REASON_CONTROL_CLOSED},
               {HO_OK, 0, HO_BROKER_REASON_CONTROL_CLOSED}}; /* value 0: a broken duplicator */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    BT_DECL(x, b, k, c, mk_dup(false, &x, &k));
    ho_negotiated neg;
    int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
    uint64_t corr = x.a[d].correlation_id;
    cr_assert_eq(ho_broker_handle_duplicated(b, k, corr, cases[i].rc, cases[i].value, 11 * MS),
                 HO_OK);
    drain(b, &x);
    cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1, "no offer");
    cr_assert_eq(find(&x, HO_BACT_CLOSE_IN_TARGET, 0), -1, "nothing to close");
    int cl = close_of(&x, &dummy_client, false);
    cr_assert_geq(cl, 0);
    cr_assert_not(x.a[cl].shutdown, "the backend never had it (FALLBACK-21)");
    int kc = close_of(&x, &dummy_ctl, false);
    cr_assert_geq(kc, 0, "XFER-37: the undeclared connection's one offer is spent: retired");
    ho_broker_stats s = stats(b);
    cr_assert_eq(s.fallbacks[cases[i].why], 1);
    cr_assert_eq(s.tokens_pending, 0, "revoked");
    cr_assert_eq(s.dup_ended_at[HO_BROKER_STAGE_DUPLICATE], 1);
    cr_assert_eq(s.dup_fate[HO_BROKER_DUP_NONE], 1);
    finish(b);
  }
}

/* spec: XFER-33 — the offer write fails: CLOSE_IN_TARGET of exactly the
 * duplicate, before the control connection's CLOSE; the client is shut
 * down (FALLBACK-21); each close result is its fate. */
Test(broker_dup, deliver_fails_closes_in_target_before_control_close) {
  static const struct {
    int rc;
    ho_broker_dup_fate fate;
  } results[] = {{HO_OK, HO_BROKER_DUP_CLOSED_IN_TARGET},
                 {HO_ERR_CLOSED, HO_BROKER_DUP_TARGET_GONE},
                 {HO_ERR_IO, HO_BROKER_DUP_CLOSE_FAILED}};
  for (size_t i = 0; i < 3; i++) {
    BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
    ho_negotiated neg;
    int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
    uint64_t corr = x.a[d].correlation_id;
    ho_offer o;
    ho_envelope env;
    dup_ok(b, k, corr, 0x2a8, &x, &o, &env, 11 * MS);
    cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_CLOSED, 12 * MS), HO_OK);
    drain(b, &x);
    int t = find(&x, HO_BACT_CLOSE_IN_TARGET, 0);
    cr_assert_geq(t, 0);
    cr_assert_eq(x.a[t].handle_value, 0x2a8);
    cr_assert_eq(x.a[t].correlation_id, corr);
    cr_assert_eq(x.a[t].user, &dummy_ctl, "on the control connection that leads to the backend");
    cr_assert_eq(find(&x, HO_BACT_CLOSE_IN_TARGET, t + 1), -1, "exactly once");
    int kc = close_of(&x, &dummy_ctl, true), cl = close_of(&x, &dummy_client, false);
    cr_assert_gt(kc, t, "the target is still reachable when it is closed");
    cr_assert_geq(cl, 0);
    cr_assert_not(x.a[cl].shutdown, "closed in the backend: no disconnect, which would "
                                      "discard unread bytes (XFER-43)");
    cr_assert_eq(ho_broker_closed_in_target(b, corr, results[i].rc, 13 * MS), HO_OK);
    ho_broker_stats s = stats(b);
    cr_assert_eq(s.dup_ended_at[HO_BROKER_STAGE_DELIVER], 1);
    cr_assert_eq(s.dup_fate[results[i].fate], 1);
    cr_assert_eq(s.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
    cr_assert_eq(s.tokens_pending, 0);
    finish(b);
  }
}

/* spec: XFER-33 XFER-32 — once the offer is written (reported, flushed, or
 * proved by an ACK) the broker never closes the duplicate: ACK timeout,
 * control lost, refusal, token mismatch, late ACK. */
Test(broker_dup, written_offer_is_never_closed_by_the_broker) {
  enum { TIMEOUT, LOST, REFUSED, MISMATCH, LATE, FLUSHED_TIMEOUT, ACK_PROVES };
  for (int v = TIMEOUT; v <= ACK_PROVES; v++) {
    BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
    ho_negotiated neg;
    int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
    uint64_t corr = x.a[d].correlation_id;
    ho_offer o;
    ho_envelope env;
    dup_ok(b, k, corr, 0x3c0, &x, &o, &env, 11 * MS);
    if (v == FLUSHED_TIMEOUT) cr_assert_eq(ho_broker_conn_flushed(b, k, 11 * MS), HO_OK);
    else if (v != ACK_PROVES) cr_assert_eq(ho_broker_offer_written(b, k, corr, 11 * MS), HO_OK);
    ho_broker_stage stage = HO_BROKER_STAGE_ACKNOWLEDGE;
    switch (v) {
    case TIMEOUT:
    case FLUSHED_TIMEOUT:
      cr_assert_eq(ho_broker_conn_flushed(b, k, 11 * MS), HO_OK);
      cr_assert_eq(ho_broker_timer(b, 500 * MS), HO_OK);
      stage = HO_BROKER_STAGE_AWAIT_ACK;
      break;
    case LOST:
      cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_CLOSED, 12 * MS), HO_OK);
      stage = HO_BROKER_STAGE_AWAIT_ACK;
      break;
    case REFUSED:
    case ACK_PROVES: send_ack(b, k, &o, v == ACK_PROVES, 0, 12 * MS); break;
    case MISMATCH:
      o.token[0] ^= 1;
      send_ack(b, k, &o, true, 0, 12 * MS);
      break;
    case LATE:
      cr_assert_eq(ho_broker_conn_flushed(b, k, 11 * MS), HO_OK);
      send_ack(b, k, &o, true, 0, 300 * MS); /* after its deadline, before the timer ran */
      break;
    }
    drain(b, &x);
    cr_assert_eq(find(&x, HO_BACT_CLOSE_IN_TARGET, 0), -1, "variant %d", v);
    if (v != ACK_PROVES) { /* spec: XFER-43 — disconnected only while the backend may hold it */
      int cl = close_of(&x, &dummy_client, false);
      cr_assert_geq(cl, 0, "variant %d", v);
      cr_assert_eq(x.a[cl].shutdown, v != REFUSED,
                   "variant %d: a refused duplicate is closed already (XFER-32)", v);
    }
    if (v == ACK_PROVES) { /* accepted: complete it */
      int r = find(&x, HO_BACT_WRITE, 0);
      cr_assert_geq(r, 0);
      cr_assert_eq(ho_broker_conn_flushed(b, c, 13 * MS), HO_OK);
      drain(b, &x);
      stage = HO_BROKER_STAGE_NONE;
    }
    ho_broker_stats s = stats(b);
    cr_assert_eq(s.dup_ended_at[stage], 1, "variant %d ends at %s", v, ho_broker_stage_name(stage));
    cr_assert_eq(s.dup_fate[HO_BROKER_DUP_BACKEND_OWNED], 1, "variant %d", v);
    cr_assert_eq(s.tokens_pending, 0, "variant %d: the token ended", v);
    cr_assert_eq(s.in_flight, 0);
    finish(b);
  }
}

/* spec: BROKER-1 XFER-33 — the ACK deadline passes with the offer still
 * unwritten (the shell never got it out): closed in the backend, then the
 * stuck connection dropped. */
Test(broker_dup, deadline_with_offer_unwritten_closes_in_target) {
  BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
  ho_negotiated neg;
  int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
  uint64_t corr = x.a[d].correlation_id;
  ho_offer o;
  ho_envelope env;
  dup_ok(b, k, corr, 0x44, &x, &o, &env, 11 * MS);
  cr_assert_eq(ho_broker_timer(b, 500 * MS), HO_OK);
  drain(b, &x);
  int t = find(&x, HO_BACT_CLOSE_IN_TARGET, 0);
  cr_assert_geq(t, 0);
  cr_assert_eq(x.a[t].handle_value, 0x44);
  int kc = close_of(&x, &dummy_ctl, false);
  cr_assert_gt(kc, t);
  cr_assert_eq(stats(b).dup_ended_at[HO_BROKER_STAGE_DELIVER], 1);
  cr_assert_eq(stats(b).fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], 1);
  finish(b);
}

/* The attempt ends while the duplicate is being made (an asynchronous
 * shell): the late duplicate is closed in the backend; a second report of
 * the same DUPLICATE changes nothing. */
Test(broker_dup, duplicate_reported_after_the_end_is_closed) {
  BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
  ho_negotiated neg;
  int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
  uint64_t corr = x.a[d].correlation_id;
  cr_assert_eq(ho_broker_timer(b, 500 * MS), HO_OK); /* ACK deadline: stage duplicate */
  drain(b, &x);
  cr_assert_eq(stats(b).dup_ended_at[HO_BROKER_STAGE_DUPLICATE], 1);
  cr_assert_eq(ho_broker_handle_duplicated(b, k, corr, HO_OK, 0x58, 501 * MS), HO_OK);
  drain(b, &x);
  int t = find(&x, HO_BACT_CLOSE_IN_TARGET, 0);
  cr_assert_geq(t, 0);
  cr_assert_eq(x.a[t].handle_value, 0x58);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1, "no offer for an ended attempt");
  cr_assert_eq(ho_broker_closed_in_target(b, corr, HO_OK, 502 * MS), HO_OK);
  ho_broker_stats s = stats(b);
  cr_assert_eq(s.dup_fate[HO_BROKER_DUP_CLOSED_IN_TARGET], 1);
  cr_assert_eq(s.dup_attempts, 1);
  /* a double report while the attempt is alive */
  ho_broker_conn *c2;
  d = run_to_dup(b, &c2, &x, &neg, 600 * MS);
  corr = x.a[d].correlation_id;
  ho_offer o;
  ho_envelope env;
  dup_ok(b, k, corr, 0x5c, &x, &o, &env, 601 * MS);
  cr_assert_eq(ho_broker_handle_duplicated(b, k, corr, HO_OK, 0x60, 602 * MS), HO_ERR_STATE);
  drain(b, &x);
  cr_assert_eq(x.n, 0);
  finish(b);
}

/* An ACK for an offer whose duplicate was not even reported: the backend
 * cannot have read it: the connection is dropped (ACK_CORRELATION). */
Test(broker_dup, ack_before_the_offer_drops_the_connection) {
  BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
  ho_negotiated neg;
  int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
  ho_offer o;
  memset(&o, 0, sizeof o);
  memcpy(o.token, neg.handle_passed_token, HO_TOKEN_BYTES);
  o.correlation_id = x.a[d].correlation_id;
  send_ack(b, k, &o, true, 0, 11 * MS);
  drain(b, &x);
  ho_broker_stats s = stats(b);
  cr_assert_eq(s.fallbacks[HO_BROKER_REASON_ACK_CORRELATION], 1);
  cr_assert_eq(s.handoffs_completed, 0);
  cr_assert_eq(s.dup_ended_at[HO_BROKER_STAGE_DUPLICATE], 1);
  finish(b);
}

/* spec: BROKER-7 XFER-33 — shutdown with a duplicate whose offer is not
 * written: closed in the backend before the connection goes. */
Test(broker_dup, shutdown_closes_unwritten_duplicates) {
  BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
  ho_negotiated neg;
  int d = run_to_dup(b, &c, &x, &neg, 10 * MS);
  ho_offer o;
  ho_envelope env;
  dup_ok(b, k, x.a[d].correlation_id, 0x70, &x, &o, &env, 11 * MS);
  cr_assert_eq(ho_broker_shutdown(b, 12 * MS), HO_OK);
  drain(b, &x);
  int t = find(&x, HO_BACT_CLOSE_IN_TARGET, 0);
  cr_assert_geq(t, 0);
  int kc = close_of(&x, &dummy_ctl, false);
  cr_assert_gt(kc, t);
  cr_assert_eq(stats(b).fallbacks[HO_BROKER_REASON_SHUTDOWN], 1);
  bt_del(b);
}

/* spec: XFER-37 — an undeclared backend gets one offer per control
 * connection in this mode too: the second client dials a second one. */
Test(broker_dup, one_offer_per_undeclared_connection) {
  acts x;
  ho_broker_conn *k, *c1, *c2;
  ho_broker *b = mk_dup(false, &x, &k);
  ho_negotiated neg;
  run_to_dup(b, &c1, &x, &neg, 10 * MS);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, &c2, wire, len, 11 * MS);
  drain(b, &x);
  cr_assert_eq(ho_broker_conn_flushed(b, c2, 11 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_DUPLICATE, 0), -1, "k carries one offer already");
  cr_assert_geq(find(&x, HO_BACT_OPEN_CONTROL, 0), 0);
  finish(b);
}

Test(broker_dup, reports_reject_bad_arguments) {
  BT_DECL(x, b, k, c, mk_dup(true, &x, &k));
  ho_negotiated neg;
  run_to_dup(b, &c, &x, &neg, 10 * MS);
  cr_assert_eq(ho_broker_handle_duplicated(NULL, k, 1, HO_OK, 4, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_handle_duplicated(b, NULL, 1, HO_OK, 4, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_handle_duplicated(b, c, 1, HO_OK, 4, 0), HO_ERR_INVALID_ARGUMENT,
               "a client connection is no target");
  cr_assert_eq(ho_broker_offer_written(b, c, 1, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_closed_in_target(NULL, 1, HO_OK, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(ho_broker_stage_name(HO_BROKER_STAGE_AWAIT_ACK), "await_ack");
  cr_assert_str_eq(ho_broker_dup_fate_name(HO_BROKER_DUP_CLOSED_IN_TARGET), "closed_in_target");
  cr_assert_str_eq(ho_broker_stage_name(99), "unknown");
  finish(b);
}

/* The Unix layout is what it was: SEND_FD + offer WRITE, no DUPLICATE,
 * handle_value 0, no dup counters in the stats text. */
Test(broker_dup, unix_layout_untouched) {
  BT_BROKER(x, b, k, c);
  ho_negotiated neg;
  ho_envelope env;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &neg, &env, 10 * MS);
  cr_assert_eq(o.handle_value, 0);
  cr_assert_eq(find(&x, HO_BACT_DUPLICATE, 0), -1);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_eq(x.a[w].handle_value, 0);
  cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_CLOSED, 11 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE_IN_TARGET, 0), -1);
  ho_broker_stats s = stats(b);
  cr_assert_eq(s.dup_attempts, 0);
  char text[4096];
  ho_broker_format_stats(&s, text, sizeof text);
  cr_assert_null(strstr(text, "dup_"));
  finish(b);
}
