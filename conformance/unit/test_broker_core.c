/* Unit tests of the sans-I/O broker core (handoff/broker.h): events in,
 * actions out, real codecs, injected clocks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/msg.h"
#include "handoff/token.h"

#include "broker_test_util.h"

/* spec: FRAME-6 HELLO-2 ERR-16 — the core takes the Hello and not one byte more. */
Test(broker_core, reads_exactly_the_hello) {
  BT_BROKER(x, b, ctl, c);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  memcpy(wire + len, "EARLY-DATA", 10);
  cr_assert_eq(feed(b, &c, wire, len + 10, 3 * MS), len);
  cr_assert_eq(ho_broker_client_wants(b, c), 0);
  bt_end(b, &x, 4 * MS);
}

/* spec: SEC-1 ERR-17 — a rejected peer is closed without a reply. */
Test(broker_core, peer_policy_rejects_silently) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "/p", .peer_policy = HO_PEER_UID,
                          .peer_uid = 4242};
  ho_broker *b;
  cr_assert_eq(ho_broker_new(&cfg, 1, &b), HO_OK);
  acts x;
  drain(b, &x);
  ho_peer_cred p = {.pid = 1, .uid = 1000};
  ho_broker_conn *c;
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 2, &c), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  bt_del(b);
}

/* spec: HELLO-4 HELLO-6 HELLO-8 HELLO-10 */
Test(broker_core, refusals) {
  BT_BROKER(x, b, ctl, c);
  uint8_t bad[1] = {2};
  feed(b, &c, bad, 1, 3 * MS);
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0);
  ho_hello_reply r = reply_of(&x, w);
  cr_assert_eq(r.which, HO_REPLY_REFUSED);
  cr_assert_eq(r.refused.code, HO_REFUSE_VERSION_UNSUPPORTED);
  cr_assert_eq(r.refused.daemon_min_protocol, 1);
  cr_assert_eq(r.refused.daemon_max_protocol, 1);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1, "closed only after the reply is written");
  ho_broker_conn_flushed(b, c, 4 * MS);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);

  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "Not_Valid", wire, sizeof wire);
  feed(b, &c, wire, len, 5 * MS);
  drain(b, &x);
  r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.refused.code, HO_REFUSE_PEER_REJECTED);
  cr_assert_str_eq(r.refused.reason, "SERVICE_NAME");
  bt_end(b, &x, 6 * MS);
}

/* spec: TOKEN-2 CAP-4 ACK-17 ACK-2 ACK-12 XFER-3 XFER-4 XFER-7 ACK-15 READY-1 READY-2 FALLBACK-8 */
Test(broker_core, legacy_handoff_completes_with_ready) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope env;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 3 * MS);
  cr_assert(n.server_capabilities & HO_CAP_HANDLE_PASSING);
  cr_assert(n.server_capabilities & HO_CAP_EARLY_DATA);
  cr_assert_not(n.server_capabilities & HO_CAP_BACKEND_READY);
  cr_assert_neq(o.correlation_id, 0);
  cr_assert_eq(env.request_id, o.correlation_id);
  cr_assert_eq(o.offer_flags, 0);
  /* spec: TOKEN-22 ENV-9 — a legacy offer carries its ACK deadline (100 ms
   * in mk()) as the offer deadline, in wall-clock time. */
  cr_assert_eq(env.deadline_unix_ms, wall_ms(NULL) + 100);
  send_ack(b, ctl, &o, true, 0, 4 * MS);
  drain(&*b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0, "legacy: the broker writes ready");
  cr_assert_eq(x.a[w].user, &dummy_client);
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, x.a[w].bytes, x.a[w].len, NULL,
                               &m), HO_OK);
  cr_assert(m.ack.accepted);
  cr_assert_eq(memcmp(m.ack.token, n.handle_passed_token, HO_TOKEN_BYTES), 0);
  ho_broker_conn_flushed(b, c, 5 * MS);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_completed, 1);
  cr_assert_eq(st.tokens_pending, 0, "TOKEN-7: every exit revokes");
  bt_end(b, &x, 6 * MS);
}

/* spec: READY-36 READY-7 READY-8 READY-10 CAP-5 — learnt per control
 * connection from an ACK; the offer carries the ready deadline. */
Test(broker_core, backend_ready_learnt_from_ack) {
  BT_BROKER(x, b, ctl, c);
  uint64_t caps = HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY;
  ho_negotiated n;
  ho_envelope env;
  ho_offer o = run_to_offer(b, caps, &c, &x, &n, &env, 3 * MS);
  cr_assert_not(n.server_capabilities & HO_CAP_BACKEND_READY, "nothing declared yet");
  send_ack(b, ctl, &o, true, HO_BACKEND_CAP_BACKEND_READY, 4 * MS);
  drain(b, &x);
  ho_broker_conn_flushed(b, c, 5 * MS);
  drain(b, &x);
  o = run_to_offer(b, caps, &c, &x, &n, &env, 6 * MS);
  cr_assert(n.server_capabilities & HO_CAP_BACKEND_READY);
  cr_assert_eq(o.offer_flags, HO_OFFER_FLAG_BACKEND_READY);
  cr_assert_eq(env.deadline_unix_ms, wall_ms(NULL) + 1000);
  send_ack(b, ctl, &o, true, HO_BACKEND_CAP_BACKEND_READY, 7 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1, "READY-8: nothing after Negotiated");
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  bt_end(b, &x, 8 * MS);
}

/* spec: ACK-4 FALLBACK-20 ERR-57 — refusal: close without writing, control kept. */
Test(broker_core, refused_ack_falls_back) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope env;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 3 * MS);
  send_ack(b, ctl, &o, false, 0, 4 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  int k = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(k, 0);
  cr_assert_eq(x.a[k].user, &dummy_client);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, k + 1), -1, "the control connection stays");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_REFUSED], 1);
  cr_assert_eq(st.tokens_pending, 0);
  bt_end(b, &x, 5 * MS);
}

/* spec: ACK-6 ACK-7 ERR-55 ERR-59 TOKEN-7 — the deadline from the timer; a late ACK discarded. */
Test(broker_core, ack_deadline_then_late_ack) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope env;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 3 * MS);
  cr_assert_geq(find(&x, HO_BACT_SET_TIMER, 0), 0);
  ho_broker_conn_flushed(b, ctl, 3 * MS); /* the offer left */
  ho_broker_timer(b, 3 * MS + 100 * MS);
  drain(b, &x);
  int k = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(k, 0);
  cr_assert(x.a[k].shutdown, "legacy: the socket is shut down so the client sees EOF");
  send_ack(b, ctl, &o, true, 0, 200 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1, "ACK-7: the control connection stays");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.late_acks, 1);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], 1);
  bt_end(b, &x, 300 * MS);
}

/* spec: BROKER-1 ACK-10 — an offer never written by its ACK deadline: the
 * backend stopped reading; the control connection is dropped. */
Test(broker_core, unwritable_control_dropped_at_deadline) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope env;
  (void)run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 3 * MS);
  ho_broker_timer(b, 3 * MS + 100 * MS); /* no flushed event for ctl */
  drain(b, &x);
  int closes = 0;
  for (int i = 0; i < x.n; i++) closes += x.a[i].type == HO_BACT_CLOSE;
  cr_assert_eq(closes, 2, "client copy and the wedged control connection");
  bt_end(b, &x, 300 * MS);
}

/* spec: ACK-8 ACK-10 ERR-54 — a never-issued correlation id ends the control
 * connection and every attempt on it. */
Test(broker_core, unknown_correlation_drops_control) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope env;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 3 * MS);
  o.correlation_id += 1000;
  send_ack(b, ctl, &o, true, 0, 4 * MS);
  drain(b, &x);
  int closes = 0;
  for (int i = 0; i < x.n; i++) closes += x.a[i].type == HO_BACT_CLOSE;
  cr_assert_eq(closes, 2, "client copy and control connection");
  bt_end(b, &x, 5 * MS);
}

/* spec: READY-18 FALLBACK-16 FALLBACK-3 TOKEN-2 */
Test(broker_core, early_data_without_backend_ready_gets_no_token) {
  BT_BROKER(x, b, ctl, c);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING | HO_CAP_EARLY_DATA, "echo", wire, sizeof wire);
  feed(b, &c, wire, len, 3 * MS);
  drain(b, &x);
  ho_hello_reply r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(r.negotiated.handle_passed_token_len, 0);
  cr_assert_not(r.negotiated.server_capabilities & HO_CAP_HANDLE_PASSING);
  cr_assert_str_eq(r.negotiated.backend_pipe, "/tmp/x/backend.sock");
  ho_broker_conn_flushed(b, c, 4 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  bt_end(b, &x, 5 * MS);
}

/* The number of fallbacks counted under `r`. */
static uint64_t fallbacks_of(ho_broker *b, ho_broker_reason r) {
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  return st.fallbacks[r];
}

/* spec: FALLBACK-11 FALLBACK-12 — with the one control connection busy (a
 * backend that takes one offer per connection, max_controls 1), a second
 * attempt waits in the pending queue for queue_ttl_ms (config, default
 * 100 ms), then falls back as QUEUE_TIMEOUT; not before. */
Test(broker_core, queue_ttl_is_configurable) {
  ho_broker_config cfg = base_cfg();
  cfg.max_controls = 1;
  cfg.ack_timeout_ms = 1000 * MS;
  cfg.queue_ttl_ms = 400 * MS;
  BT_DECL(x, b, ctl, c, mk_cfg(&cfg, &x, &ctl));
  ho_negotiated n;
  ho_envelope env;
  (void)run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 10 * MS);
  ho_broker_conn *c2 = NULL;
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, &c2, wire, len, 20 * MS);
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0);
  cr_assert_eq(reply_of(&x, w).which, HO_REPLY_NEGOTIATED);
  ho_broker_conn_flushed(b, c2, 20 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1, "queued: no control connection free");
  cr_assert_eq(ho_broker_timer(b, 300 * MS), HO_OK); /* past the default 100 ms */
  drain(b, &x);
  cr_assert_eq(fallbacks_of(b, HO_BROKER_REASON_QUEUE_EXPIRED), 0, "still queued at 280 ms");
  cr_assert_eq(ho_broker_timer(b, 421 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(fallbacks_of(b, HO_BROKER_REASON_QUEUE_EXPIRED), 1, "QUEUE_TIMEOUT after 400 ms");
  bt_end(b, &x, 430 * MS);
}
