/* Unit tests: the broker core in coalesced mode (spec 1.0.0-rc2, ready.md
 * §6) — when it is used, the two replies in the offer, nothing written to
 * the client after a complete offer, the declined reply when the offer did
 * not go out whole, and the operator's statement voided by an ACK.
 * spec: READY-25 READY-26 READY-27 READY-30 CAP-12 */
#include "broker_test_util.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA
#define CR HO_CAP_COALESCED_REPLY

static const uint64_t k_bcaps = HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                                HO_BACKEND_CAP_COALESCED_REPLY;

static ho_broker *coal_broker(bool stated, acts *x, ho_broker_conn **k) {
  ho_broker_config cfg = base_cfg();
  cfg.backend_coalesced = stated;
  cfg.backend_multi_offer = true;
  return mk_cfg(&cfg, x, k);
}

/* A Hello; returns the index of the SEND_FD (-1 if none) after it. */
static int hello_only(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x, uint64_t now) {
  uint8_t wire[512];
  size_t len = hello_frame(caps, "echo", wire, sizeof wire);
  feed(b, c, wire, len, now);
  drain(b, x);
  return find(x, HO_BACT_SEND_FD, 0);
}

static ho_negotiated decode_reply(const uint8_t *p, size_t n) {
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, p, n, NULL, &m), HO_OK);
  cr_assert_eq(m.hello_reply.which, HO_REPLY_NEGOTIATED);
  return m.hello_reply.negotiated;
}

/* Stated by the operator: the first offer is coalesced; the client gets no
 * byte from the broker; both replies ride in the offer; the ready deadline
 * counts from the Hello; once the offer is written the client handle is
 * closed, and the ACK completes the attempt without touching it. */
Test(broker_coalesced, stated_first_offer_carries_both_replies) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(true, &x, &k);
  int s = hello_only(b, HP | BR | ED | CR, &c, &x, 3 * MS);
  cr_assert_geq(s, 0, "the offer goes out at once: no Negotiated to flush first");
  for (int i = 0; i < s; i++)
    cr_assert(x.a[i].type != HO_BACT_WRITE || x.a[i].conn != c, "nothing written to the client");
  cr_assert_eq(x.a[s].peer, c);
  ho_envelope env;
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, x.a[s + 1].bytes, x.a[s + 1].len,
                               &env, &m), HO_OK);
  ho_offer o = m.offer;
  cr_assert_eq(o.offer_flags, HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY);
  cr_assert_eq(env.deadline_unix_ms, wall_ms(NULL) + 1000, "READY-26: Hello read + READY_BUDGET");
  ho_negotiated a = decode_reply(o.reply_adopted, o.reply_adopted_len);
  cr_assert_eq(a.server_capabilities, HP | BR | ED | CR);
  cr_assert_eq(a.handle_passed_token_len, HO_TOKEN_BYTES);
  cr_assert_arr_eq(a.handle_passed_token, o.token, HO_TOKEN_BYTES);
  cr_assert_str_eq(a.backend_pipe, "/tmp/x/backend.sock");
  ho_negotiated d = decode_reply(o.reply_declined, o.reply_declined_len);
  cr_assert_eq(d.server_capabilities, ED | CR, "CAP-12 CAP-4: no token, no HP or BR");
  cr_assert_eq(d.handle_passed_token_len, 0u);
  cr_assert_eq(d.connection_id, a.connection_id);
  /* READY-27: written whole → the copy is closed, with nothing written */
  cr_assert_eq(ho_broker_offer_written(b, k, o.correlation_id, 4 * MS), HO_OK);
  drain(b, &x);
  int cl = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(cl, 0);
  cr_assert_eq(x.a[cl].user, &dummy_client);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  send_ack(b, k, &o, true, k_bcaps, 5 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1, "one CLOSE per handle");
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_completed, 1);
  cr_assert_eq(st.handoffs_coalesced, 1);
  cr_assert_eq(st.in_flight, 0);
  bt_end(b, &x, 6 * MS);
}

/* Neither stated nor declared: no coalesced mode, and a Negotiated the
 * broker writes never carries CAP_COALESCED_REPLY (CAP-12). The ACK of that
 * handoff declares it: the next Hello with the bit is coalesced. */
Test(broker_coalesced, learnt_from_an_ack_on_the_connection) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(false, &x, &k);
  cr_assert_eq(hello_only(b, HP | BR | CR, &c, &x, 3 * MS), -1, "Negotiated first: no coalescing");
  ho_hello_reply r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.negotiated.server_capabilities & CR, 0u);
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  ho_offer o = offer_at(&x, 0);
  cr_assert_eq(o.offer_flags & HO_OFFER_FLAG_COALESCED_REPLY, 0u);
  send_ack(b, k, &o, true, k_bcaps, 4 * MS);
  drain(b, &x);
  ho_broker_conn_flushed(b, c, 4 * MS); /* the legacy ready frame */
  drain(b, &x);
  int s = hello_only(b, HP | BR | ED | CR, &c, &x, 5 * MS);
  cr_assert_geq(s, 0, "declared on this connection: coalesced");
  ho_offer o2 = offer_at(&x, s);
  cr_assert(o2.offer_flags & HO_OFFER_FLAG_COALESCED_REPLY);
  bt_end(b, &x, 6 * MS);
}

/* The control connection fails before the offer is written whole: the
 * backend cannot adopt an incomplete offer, so the broker writes the
 * declined reply itself and closes once it is out (READY-27). */
Test(broker_coalesced, offer_not_written_whole_gets_the_declined_reply) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(true, &x, &k);
  int s = hello_only(b, HP | BR | ED | CR, &c, &x, 3 * MS);
  ho_offer o = offer_at(&x, s);
  cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_CLOSED, 4 * MS), HO_OK);
  drain(b, &x);
  int w = -1;
  for (int i = 0; i < x.n; i++)
    if (x.a[i].type == HO_BACT_WRITE && x.a[i].conn == c) w = i;
  cr_assert_geq(w, 0, "the declined reply");
  cr_assert_eq(x.a[w].len, o.reply_declined_len);
  cr_assert_arr_eq(x.a[w].bytes, o.reply_declined, o.reply_declined_len);
  ho_broker_conn_flushed(b, c, 5 * MS);
  drain(b, &x);
  int cl = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(cl, 0);
  cr_assert_eq(x.a[cl].user, &dummy_client);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
  bt_end(b, &x, 6 * MS);
}

/* Once the offer is written, a control connection that fails takes the
 * attempt with it, but the broker writes nothing: the backend may have
 * adopted (and answered) — it alone writes (READY-27). */
Test(broker_coalesced, after_a_complete_offer_nothing_is_written) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(true, &x, &k);
  hello_only(b, HP | BR | ED | CR, &c, &x, 3 * MS);
  ho_broker_conn_flushed(b, k, 4 * MS); /* every byte of k: the offer too */
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0, "released");
  cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_CLOSED, 5 * MS), HO_OK);
  drain(b, &x);
  for (int i = 0; i < x.n; i++) cr_assert(x.a[i].type != HO_BACT_WRITE, "no write after it");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
  cr_assert_eq(st.in_flight, 0);
  bt_end(b, &x, 6 * MS);
}

/* spec: READY-30 — the operator said coalesced, the backend accepts
 * without the bit: a failure, and the statement is void after it. */
Test(broker_coalesced, wrong_statement_is_voided) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(true, &x, &k);
  int s = hello_only(b, HP | BR | ED | CR, &c, &x, 3 * MS);
  ho_offer o = offer_at(&x, s);
  ho_broker_offer_written(b, k, o.correlation_id, 3 * MS);
  drain(b, &x);
  send_ack(b, k, &o, true, HO_BACKEND_CAP_MULTI_OFFER, 4 * MS);
  drain(b, &x);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_READY_VIOLATION], 1);
  cr_assert_eq(st.handoffs_completed, 0);
  cr_assert_eq(hello_only(b, HP | BR | CR, &c, &x, 5 * MS), -1, "no longer coalesced");
  ho_hello_reply r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.negotiated.server_capabilities & (CR | BR), 0u, "legacy: nothing declared");
  bt_end(b, &x, 6 * MS);
}

/* A refused coalesced offer: the backend wrote the declined reply (the
 * broker released its copy already), the refusal counts, nothing written. */
Test(broker_coalesced, refusal_writes_nothing_more) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker *b = coal_broker(true, &x, &k);
  int s = hello_only(b, HP | BR | ED | CR, &c, &x, 3 * MS);
  ho_offer o = offer_at(&x, s);
  ho_broker_offer_written(b, k, o.correlation_id, 3 * MS);
  drain(b, &x);
  send_ack(b, k, &o, false, k_bcaps, 4 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1, "closed once, at the release");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_REFUSED], 1);
  bt_end(b, &x, 6 * MS);
}

/* spec: READY-33 READY-34 — once a coalesced offer is released, nothing
 * waits on its ACK: the connection need not be read at once; a deadline
 * within LATE_ACK_READ makes the shell turn and read it; the ACK read then
 * still completes the attempt (checked and counted). A connection that only
 * carried other offers stays read at once. */
Test(broker_coalesced, acks_may_be_read_late) {
  acts x;
  ho_broker_conn *k, *c;
  ho_broker_config cfg = base_cfg();
  cfg.backend_coalesced = true;
  cfg.backend_multi_offer = true;
  cfg.ack_timeout_ms = 1000 * MS; /* the ACK deadline far behind the late read */
  ho_broker *b = mk_cfg(&cfg, &x, &k);
  cr_assert(ho_broker_control_wants_read(b, k), "nothing coalesced yet");
  int s = hello_only(b, HP | BR | ED | CR, &c, &x, 3 * MS);
  ho_offer o = offer_at(&x, s);
  int t = -1;
  for (int i = 0; i < x.n; i++)
    if (x.a[i].type == HO_BACT_SET_TIMER) t = i;
  cr_assert_geq(t, 0);
  cr_assert_leq(x.a[t].deadline_ms, 3 * MS + 100 * MS,
                "a turn within LATE_ACK_READ, long before the 1 s ACK deadline");
  cr_assert(ho_broker_control_wants_read(b, k), "not yet written: the ACK may matter");
  ho_broker_offer_written(b, k, o.correlation_id, 3 * MS);
  drain(b, &x);
  cr_assert_not(ho_broker_control_wants_read(b, k));
  send_ack(b, k, &o, true, k_bcaps, 90 * MS); /* read on that turn */
  drain(b, &x);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_coalesced, 1);
  cr_assert_not(ho_broker_control_wants_read(b, k), "idle: still read late");
  bt_end(b, &x, 100 * MS);
}
