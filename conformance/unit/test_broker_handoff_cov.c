/* Unit tests: the handoff part of the broker core (broker_handoff.c) at its
 * edges (issue #17) — the shell's reports with wrong or stale arguments,
 * refusals the backend explains, the one dial of a declared backend, a
 * token that expires in the queue, a legacy offer sent when its budget is
 * spent, a timer batch of more than 16 deadlines, the late-ACK turn that
 * repeats, a coalesced client that leaves, and the duplicate transport,
 * which has no coalesced mode. Events in, actions out, real codecs. */
#include "broker_test_util.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA
#define CR HO_CAP_COALESCED_REPLY

static const uint64_t k_all = HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                              HO_BACKEND_CAP_COALESCED_REPLY;

/* A coalesced Hello (HP|BR|ED|CR); returns its offer. */
static ho_offer coal_hello(ho_broker *b, ho_broker_conn **c, acts *x, uint64_t now) {
  hello_in(b, HP | BR | ED | CR, c, x, now);
  return offer_at(x, 0);
}

/* The shell reports offer o written whole on k. */
static void written(ho_broker *b, ho_broker_conn *k, const ho_offer *o, acts *x, uint64_t now) {
  ho_broker_offer_written(b, k, o->correlation_id, now);
  drain(b, x);
}

/* A broker of cfg with two legacy attempts at `now`: c1's offer goes on
 * k1, which carries one (XFER-37), so c2's waits for a connection dialled
 * for it, *k2, which comes up at up_at; x then holds what followed. */
static ho_broker *second_dialled(ho_broker_config *cfg, acts *x, ho_broker_conn **k1,
                                 ho_broker_conn **c1, ho_broker_conn **c2, ho_broker_conn **k2,
                                 uint64_t now, uint64_t up_at) {
  ho_broker *b = mk_cfg(cfg, x, k1);
  hello_flushed(b, HP, c1, x, now);
  cr_assert_eq(x->a[find(x, HO_BACT_SEND_FD, 0)].conn, *k1);
  hello_flushed(b, HP, c2, x, now);
  cr_assert_eq(bt_count(x, HO_BACT_SEND_FD), 0, "k1 carries one offer (XFER-37): queued");
  int d = find(x, HO_BACT_OPEN_CONTROL, 0);
  cr_assert_geq(d, 0);
  *k2 = x->a[d].conn;
  cr_assert_eq(ho_broker_control_connected(b, *k2, up_at), HO_OK);
  drain(b, x);
  return b;
}

static ho_broker *coal_broker(acts *x, ho_broker_conn **k, uint64_t ack_ms) {
  ho_broker_config cfg = multi_cfg();
  cfg.backend_coalesced = true; /* the operator's statement (READY-25) */
  cfg.ack_timeout_ms = ack_ms;
  return mk_cfg(&cfg, x, k);
}

/* spec: READY-2 READY-27 — ho_broker_offer_written: NULL handles and a
 * client handle are refused; an id that is not in flight on the connection
 * changes nothing; a legacy offer written keeps the broker's copy (it
 * writes ready after the ACK), unlike a coalesced one. */
Test(broker_handoff_cov, offer_written_checks_its_arguments) {
  BT_BROKER(x, b, ctl, c);
  ho_offer o = bt_offer(b, HP, &c, &x, 3 * MS);
  cr_assert_eq(ho_broker_offer_written(NULL, ctl, o.correlation_id, 4 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_offer_written(b, NULL, o.correlation_id, 4 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_offer_written(b, c, o.correlation_id, 4 * MS), HO_ERR_INVALID_ARGUMENT,
               "a client handle is no control connection");
  cr_assert_eq(ho_broker_offer_written(b, ctl, o.correlation_id + 7, 4 * MS), HO_OK,
               "an id not in flight here: nothing to do");
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0);
  cr_assert_eq(ho_broker_offer_written(b, ctl, o.correlation_id, 4 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0, "legacy: the copy stays for the ready frame");
  send_ack(b, ctl, &o, true, 0, 5 * MS);
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0, "spec: READY-2 — the broker writes ready");
  cr_assert_eq(x.a[w].conn, c);
  ho_broker_conn_flushed(b, c, 5 * MS);
  drain(b, &x);
  cr_assert_eq(bt_stats(b).handoffs_completed, 1);
  bt_end(b, &x, 6 * MS);
}

/* spec: READY-33 — ho_broker_control_wants_read says false only when every
 * offer in flight is a released coalesced one: NULL and client handles and
 * a connection still connecting answer true (a shell that reads is
 * correct); a legacy offer in flight next to a released coalesced one
 * needs its ACK at once (ACK-6 runs on it). */
Test(broker_handoff_cov, wants_read_edges) {
  acts x;
  ho_broker_conn *k, *c1, *c2;
  ho_broker *b = coal_broker(&x, &k, 1000 * MS);
  cr_assert(ho_broker_control_wants_read(NULL, k));
  cr_assert(ho_broker_control_wants_read(b, NULL));
  ho_offer o1 = coal_hello(b, &c1, &x, 3 * MS);
  cr_assert(ho_broker_control_wants_read(b, c1), "a client handle: true");
  cr_assert(o1.offer_flags & HO_OFFER_FLAG_COALESCED_REPLY);
  written(b, k, &o1, &x, 3 * MS);
  cr_assert_not(ho_broker_control_wants_read(b, k), "only a released coalesced offer");
  ho_hello_reply r = bt_hello(b, HP, &c2, &x, 4 * MS);
  cr_assert_eq(r.negotiated.server_capabilities & CR, 0u, "no CR asked: legacy");
  ho_broker_conn_flushed(b, c2, 4 * MS);
  drain(b, &x);
  ho_offer o2 = offer_at(&x, 0);
  cr_assert_eq(o2.offer_flags, 0u);
  cr_assert(ho_broker_control_wants_read(b, k), "a legacy ACK is waited for");
  send_ack(b, k, &o2, true, k_all, 5 * MS);
  drain(b, &x);
  ho_broker_conn_flushed(b, c2, 5 * MS);
  drain(b, &x);
  cr_assert_not(ho_broker_control_wants_read(b, k), "the coalesced one alone again");
  send_ack(b, k, &o1, true, k_all, 6 * MS);
  drain(b, &x);
  cr_assert_eq(bt_stats(b).handoffs_completed, 2);
  bt_end(b, &x, 7 * MS);
  /* a control connection not yet connected */
  ho_broker_config cfg = base_cfg();
  ho_broker_conn *k2;
  ho_broker *b2 = mk_dialling(&cfg, &x, &k2);
  cr_assert(ho_broker_control_wants_read(b2, k2), "connecting: true");
  bt_end(b2, &x, 2 * MS);
}

/* spec: ERR-61 FALLBACK-17 — ho_broker_transfer_failed: NULL handles and a
 * client handle are refused; an id no longer in flight is fine and changes
 * nothing; an error code without a name still fails the attempt (as
 * BACKEND_ACK_TIMEOUT, the default of the mapping) and the control
 * connection stays. */
Test(broker_handoff_cov, transfer_failed_checks_its_arguments) {
  BT_BROKER(x, b, ctl, c);
  ho_offer o = bt_offer(b, HP, &c, &x, 3 * MS);
  cr_assert_eq(ho_broker_transfer_failed(NULL, ctl, o.correlation_id, HO_ERR_PERMISSION, 4 * MS),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_transfer_failed(b, NULL, o.correlation_id, HO_ERR_PERMISSION, 4 * MS),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_transfer_failed(b, c, o.correlation_id, HO_ERR_PERMISSION, 4 * MS),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_transfer_failed(b, ctl, o.correlation_id + 5, HO_ERR_PERMISSION, 4 * MS),
               HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0, "an unknown id fails nothing");
  const int odd = 12345;
  cr_assert_null(ho_errname(odd), "a code without a name");
  cr_assert_eq(ho_broker_transfer_failed(b, ctl, o.correlation_id, odd, 4 * MS), HO_OK);
  drain(b, &x);
  client_closed_plain(&x);
  cr_assert_eq(close_of(&x, &dummy_ctl, true), -1, "the control connection stays");
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
  cr_assert_str_eq(ho_broker_reason_spec_name(HO_BROKER_REASON_CONTROL_CLOSED),
                   "BACKEND_ACK_TIMEOUT");
  bt_end(b, &x, 5 * MS);
}

/* spec: READY-12 FALLBACK-25 ERR-18 FALLBACK-22 — a backend-ready offer
 * refused with error_detail CLOSED: the client had gone before the backend
 * could write ready. The attempt ends as CLIENT_GONE, not counted against
 * the backend; the copy is closed without shutdown and the control
 * connection stays (ACK-4). */
Test(broker_handoff_cov, refusal_closed_is_client_gone) {
  ho_broker_config cfg = multi_cfg();
  BT_DECL(x, b, k, c, mk_cfg(&cfg, &x, &k));
  hello_flushed(b, HP, &c, &x, 3 * MS);
  ho_offer o0 = offer_at(&x, 0);
  send_ack(b, k, &o0, true, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER, 3 * MS);
  drain(b, &x);
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  ho_hello_reply r = bt_hello(b, HP | BR, &c, &x, 4 * MS);
  cr_assert(r.negotiated.server_capabilities & BR, "declared on k: backend-ready");
  ho_broker_conn_flushed(b, c, 4 * MS);
  drain(b, &x);
  ho_offer o = offer_at(&x, 0);
  cr_assert(o.offer_flags & HO_OFFER_FLAG_BACKEND_READY);
  send_ack_detail(b, k, o.token, o.correlation_id, false,
                  HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER, "CLOSED", 5 * MS);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_WRITE), 0, "nothing written to the client");
  client_closed_plain(&x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 1, "the control connection stays");
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CLIENT_GONE], 1);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_REFUSED], 0);
  cr_assert_not(ho_broker_reason_counts(HO_BROKER_REASON_CLIENT_GONE));
  /* the connection takes the next offer */
  hello_flushed(b, HP, &c, &x, 6 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k);
  bt_end(b, &x, 7 * MS);
}

/* spec: XFER-37 — with the operator's statement that the backend keeps its
 * control connections, attempts waiting for the first one do not each dial
 * another: one dial at a time; once it is up, all go on it. */
Test(broker_handoff_cov, declared_backend_is_dialled_once) {
  ho_broker_config cfg = multi_cfg();
  acts x;
  ho_broker_conn *k, *c1, *c2;
  ho_broker *b = mk_dialling(&cfg, &x, &k);
  cr_assert_eq(bt_count(&x, HO_BACT_OPEN_CONTROL), 1);
  hello_flushed(b, HP, &c1, &x, 3 * MS);
  cr_assert_eq(bt_count(&x, HO_BACT_SEND_FD), 0, "not connected yet: queued");
  cr_assert_eq(bt_count(&x, HO_BACT_OPEN_CONTROL), 0, "one dial is under way");
  hello_flushed(b, HP, &c2, &x, 4 * MS);
  cr_assert_eq(bt_count(&x, HO_BACT_OPEN_CONTROL), 0, "still that one dial");
  cr_assert_eq(ho_broker_control_connected(b, k, 5 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_SEND_FD), 2, "both offers on the one connection");
  for (int i = 0; i < x.n; i++)
    if (x.a[i].type == HO_BACT_SEND_FD) cr_assert_eq(x.a[i].conn, k);
  bt_end(b, &x, 6 * MS);
}

/* spec: TOKEN-5 — a token that expired while its attempt waited in the
 * queue is not offered (registration fails with TOKEN_EXPIRED): the attempt
 * falls back, the fresh connection carries no descriptor. */
Test(broker_handoff_cov, token_expired_in_the_queue_is_not_offered) {
  acts x;
  ho_broker_conn *k1, *c1, *c2, *k2;
  ho_broker_config cfg = base_cfg();
  cfg.token_ttl_ms = 50 * MS;
  cfg.queue_ttl_ms = 1000 * MS;
  /* k2 up at 60 ms: c2's token (issued at 3 ms, TTL 50 ms) has expired; no timer ran */
  ho_broker *b = second_dialled(&cfg, &x, &k1, &c1, &c2, &k2, 3 * MS, 60 * MS);
  cr_assert_eq(bt_count(&x, HO_BACT_SEND_FD), 0, "an expired token is never offered");
  client_closed_plain(&x);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_TOKEN_UNAVAILABLE], 1);
  bt_end(b, &x, 61 * MS);
}

/* spec: ACK-17 TOKEN-22 — a legacy attempt queued past LEGACY_READY_BUDGET
 * (a long PENDING_QUEUE_TTL) has no ACK time left when it is offered: its
 * ACK deadline is now, so the offer deadline is the wall clock of now, and
 * the next timer ends it as ACK_TIMEOUT. */
Test(broker_handoff_cov, legacy_offer_past_its_budget_has_no_time_left) {
  acts x;
  ho_broker_conn *k1, *c1, *c2, *k2;
  ho_broker_config cfg = base_cfg();
  cfg.queue_ttl_ms = 5000 * MS;
  /* k2 up at 1600 ms: 1.5 s after Negotiated */
  ho_broker *b = second_dialled(&cfg, &x, &k1, &c1, &c2, &k2, 3 * MS, 1600 * MS);
  int s = find(&x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(x.a[s].conn, k2);
  ho_envelope env;
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, x.a[s + 1].bytes, x.a[s + 1].len,
                               &env, &m), HO_OK);
  cr_assert_eq(env.deadline_unix_ms, wall_ms(NULL), "no ACK time left: the deadline is now");
  cr_assert_eq(ho_broker_timer(b, 1600 * MS), HO_OK);
  drain(b, &x);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], 2, "c1 long overdue, c2 due now");
  cr_assert_eq(st.in_flight, 0);
  bt_end(b, &x, 1601 * MS);
}

/* spec: ACK-6 ACK-10 — more deadlines at once than one batch of the timer
 * (16): every one expires in the same fire, several on one connection; the
 * connection, written to its last byte and declared, stays for the next
 * (once the failure window of FALLBACK-7 is over). */
Test(broker_handoff_cov, timer_expires_more_than_one_batch) {
  ho_broker_config cfg = multi_cfg();
  cfg.failure_window_ms = 10 * MS;
  BT_DECL(x, b, k, c, mk_cfg(&cfg, &x, &k));
  enum { N = 17 };
  for (int i = 0; i < N; i++) {
    hello_flushed(b, HP, &c, &x, 3 * MS);
    cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k, "offer %d on k", i);
  }
  ho_broker_conn_flushed(b, k, 3 * MS);
  drain(b, &x);
  cr_assert_eq(ho_broker_timer(b, 103 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), N, "every client copy, and not the connection");
  cr_assert_eq(close_of(&x, &dummy_ctl, true), -1);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], N);
  cr_assert_eq(st.in_flight, 0);
  cr_assert_eq(st.tokens_pending, 0);
  hello_flushed(b, HP, &c, &x, 200 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k, "the connection serves the next one");
  bt_end(b, &x, 201 * MS);
}

/* A broker of coal_broker with one coalesced offer *o on *k, released
 * (reported written whole) at 3 ms; *c its client. */
static ho_broker *one_released(acts *x, ho_broker_conn **k, ho_broker_conn **c, ho_offer *o,
                               uint64_t ack_ms) {
  ho_broker *b = coal_broker(x, k, ack_ms);
  *o = coal_hello(b, c, x, 3 * MS);
  written(b, *k, o, x, 3 * MS);
  return b;
}

/* spec: READY-33 READY-34 — a released coalesced offer whose ACK was not in
 * at its late-read turn: the core asks for another turn LATE_ACK_READ
 * (100 ms) after that one, not at once (no loop), until its deadline. */
Test(broker_handoff_cov, late_ack_turn_repeats) {
  ho_offer o;
  BT_DECL(x, b, k, c, one_released(&x, &k, &c, &o, 1000 * MS));
  cr_assert_eq(ho_broker_timer(b, 103 * MS), HO_OK); /* the turn: no ACK read */
  drain(b, &x);
  int t = find(&x, HO_BACT_SET_TIMER, 0);
  cr_assert_geq(t, 0);
  cr_assert_eq(x.a[t].deadline_ms, 203 * MS, "the next turn, 100 ms on");
  send_ack(b, k, &o, true, k_all, 150 * MS);
  drain(b, &x);
  cr_assert_eq(bt_stats(b).handoffs_coalesced, 1);
  bt_end(b, &x, 160 * MS);
}

/* spec: READY-27 ERR-60 — the reply_declined the broker writes when a
 * coalesced offer did not go out whole is for a client that is still
 * there: one that left meanwhile gets no write, only its CLOSE. */
Test(broker_handoff_cov, coalesced_client_gone_gets_no_declined_reply) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(&x, &k, 100 * MS);
  (void)coal_hello(b, &c, &x, 3 * MS);
  cr_assert_geq(find(&x, HO_BACT_SEND_FD, 0), 0);
  cr_assert_eq(ho_broker_conn_error(b, c, HO_ERR_CLOSED, 4 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0, "offered: the attempt waits for its end");
  cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_CLOSED, 5 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_WRITE), 0, "nobody to write the declined reply to");
  cr_assert_geq(close_of(&x, &dummy_client, true), 0);
  cr_assert_eq(bt_stats(b).fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
  bt_end(b, &x, 6 * MS);
}

/* spec: READY-27 — "written whole" reported twice (the offer's own report,
 * then the connection's flush) closes the coalesced client's copy once. */
Test(broker_handoff_cov, coalesced_release_is_once) {
  ho_offer o;
  BT_DECL(x, b, k, c, one_released(&x, &k, &c, &o, 100 * MS));
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 1, "released");
  ho_broker_offer_written(b, k, o.correlation_id, 4 * MS);
  ho_broker_conn_flushed(b, k, 4 * MS);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0, "one CLOSE per handle");
  send_ack(b, k, &o, true, k_all, 5 * MS);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0);
  cr_assert_eq(bt_stats(b).handoffs_coalesced, 1);
  bt_end(b, &x, 6 * MS);
}

/* spec: CAP-12 READY-25 — on the duplicate transport the core has no
 * coalesced mode (handoff/broker.h): even with the operator's statement, a
 * Hello asking for it gets the broker's own Negotiated, without
 * CAP_COALESCED_REPLY, and the handoff goes by DUPLICATE. */
Test(broker_handoff_cov, duplicate_transport_is_never_coalesced) {
  ho_broker_config cfg = multi_cfg();
  cfg.backend_coalesced = true;
  cfg.duplicate_handles = true;
  BT_DECL(x, b, k, c, mk_cfg(&cfg, &x, &k));
  ho_hello_reply r = bt_hello(b, HP | BR | CR, &c, &x, 3 * MS);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(r.negotiated.server_capabilities & (CR | BR), 0u, "legacy: nothing coalesced");
  cr_assert_eq(r.negotiated.handle_passed_token_len, HO_TOKEN_BYTES);
  cr_assert_eq(bt_count(&x, HO_BACT_DUPLICATE), 0, "nothing before Negotiated is written");
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  int d = find(&x, HO_BACT_DUPLICATE, 0);
  cr_assert_geq(d, 0);
  cr_assert_eq(x.a[d].conn, k);
  cr_assert_eq(ho_broker_handle_duplicated(b, k, x.a[d].correlation_id, HO_ERR_PERMISSION, 0,
                                           4 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_stats(b).fallbacks[HO_BROKER_REASON_PERMISSION], 1);
  bt_end(b, &x, 5 * MS);
}

/* spec: READY-27 READY-29 BACKEND-10 — an ACK proves its coalesced offer
 * was read whole (handoff/broker.h: "an ACK for the offer proves it"), even
 * when the shell reads it before it reports the offer written: the
 * backend wrote the reply (reply_declined for a refusal, READY-29), so the
 * broker writes nothing and just closes its copy. Regression: the core
 * used to write reply_declined a second time here. */
Test(broker_handoff_cov, coalesced_ack_before_the_written_report) {
  static const struct {
    bool accepted;
    uint64_t caps;
    ho_broker_reason why; /* HO_BROKER_REASON_COUNT: completed */
  } cases[] = {
      {false, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                  HO_BACKEND_CAP_COALESCED_REPLY, HO_BROKER_REASON_ACK_REFUSED},
      {true, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER,
       HO_BROKER_REASON_READY_VIOLATION},
      {true, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                 HO_BACKEND_CAP_COALESCED_REPLY, HO_BROKER_REASON_COUNT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    acts x;
    ho_broker_conn *k, *c;
    ho_broker *b = coal_broker(&x, &k, 100 * MS);
    ho_offer o = coal_hello(b, &c, &x, 3 * MS);
    send_ack(b, k, &o, cases[i].accepted, cases[i].caps, 4 * MS); /* no written report yet */
    drain(b, &x);
    cr_assert_eq(bt_count(&x, HO_BACT_WRITE), 0, "case %zu: nothing written to the client", i);
    int cl = close_of(&x, &dummy_client, true);
    cr_assert_geq(cl, 0, "case %zu: the copy is closed", i);
    cr_assert_not(x.a[cl].shutdown);
    cr_assert_eq(close_of(&x, &dummy_client, false), cl, "case %zu: once", i);
    ho_broker_offer_written(b, k, o.correlation_id, 5 * MS); /* the late report */
    ho_broker_conn_flushed(b, k, 5 * MS);
    drain(b, &x);
    cr_assert_eq(bt_count(&x, HO_BACT_CLOSE), 0);
    cr_assert_eq(bt_count(&x, HO_BACT_WRITE), 0);
    ho_broker_stats st = bt_stats(b);
    if (cases[i].why == HO_BROKER_REASON_COUNT)
      cr_assert_eq(st.handoffs_coalesced, 1, "case %zu", i);
    else
      cr_assert_eq(st.fallbacks[cases[i].why], 1, "case %zu", i);
    bt_end(b, &x, 6 * MS);
  }
}
