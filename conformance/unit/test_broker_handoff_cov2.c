/* Unit tests: the handoff part of the broker core (broker_handoff.c) with
 * several control connections (issue #17) — a draining connection skipped
 * for declarations and offers, a declaration withdrawn or lost before the
 * offer, which connection of two declared ones is kept, a stuck and a spent
 * connection in one timer batch, and a connection full of offers (128) that
 * makes a declared backend dial a second one. Events in, actions out. */
#include "broker_test_util.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA
#define CR HO_CAP_COALESCED_REPLY

#define B_BR HO_BACKEND_CAP_BACKEND_READY
#define B_MULTI HO_BACKEND_CAP_MULTI_OFFER
#define B_CR HO_BACKEND_CAP_COALESCED_REPLY

static int ctl2_user; /* the user pointer of a second control connection */
static ho_broker_conn *g_c2, *g_c3; /* draining_setup's clients of o2, o3 */

/* The control connection dialled in x (its user becomes &ctl2_user). */
static ho_broker_conn *dialled(acts *x) {
  int d = find(x, HO_BACT_OPEN_CONTROL, 0);
  cr_assert_geq(d, 0, "a control connection is dialled");
  ho_broker_conn_set_user(x->a[d].conn, &ctl2_user);
  return x->a[d].conn;
}

/* A legacy handoff on k whose ACK declares `caps`, completed. */
static void declare(ho_broker *b, ho_broker_conn *k, uint64_t caps, acts *x, uint64_t now) {
  ho_broker_conn *c;
  hello_flushed(b, HP, &c, x, now);
  int s = find(x, HO_BACT_SEND_FD, 0);
  cr_assert_eq(x->a[s].conn, k);
  ho_offer o = offer_at(x, 0);
  send_ack(b, k, &o, true, caps, now);
  drain(b, x);
  ho_broker_conn_flushed(b, c, now); /* the ready frame */
  drain(b, x);
}

/* A coalesced Hello (HP|BR|ED|CR) whose offer goes on k with the
 * coalesced flag and is reported written whole (released); returns it. */
static ho_offer coal_released(ho_broker *b, ho_broker_conn *k, ho_broker_conn **c, acts *x,
                              uint64_t now) {
  hello_in(b, HP | BR | ED | CR, c, x, now);
  cr_assert_eq(x->a[find(x, HO_BACT_SEND_FD, 0)].conn, k);
  ho_offer o = offer_at(x, 0);
  cr_assert(o.offer_flags & HO_OFFER_FLAG_COALESCED_REPLY);
  ho_broker_offer_written(b, k, o.correlation_id, now);
  drain(b, x);
  return o;
}

/* A broker whose first connection *k declared everything in a completed
 * legacy handoff; ACK deadlines 1 s. */
static ho_broker *declared_all(acts *x, ho_broker_conn **k) {
  ho_broker_config cfg = multi_cfg();
  cfg.ack_timeout_ms = 1000 * MS;
  ho_broker *b = mk_cfg(&cfg, x, k);
  declare(b, *k, B_BR | B_MULTI | B_CR, x, 3 * MS);
  return b;
}

/* spec: BROKER-9 READY-36 READY-25 XFER-37 — k1 declared everything, then
 * refused one of its two offers with DRAINING: it carries no more offers.
 * A Hello that asks for coalesced and backend-ready mode gets neither
 * (no live connection declares them); its offer goes on a new connection;
 * k1 closes once its last offer is answered. Returns k2; *o2 is the offer
 * still in flight on k1, *o3 the one on k2. */
static ho_broker_conn *draining_setup(ho_broker **bp, acts *x, ho_broker_conn **k1, ho_offer *o2,
                                      ho_offer *o3) {
  ho_broker *b = *bp = declared_all(x, k1);
  ho_broker_conn *c1, *c2, *c3;
  hello_flushed(b, HP, &c1, x, 3 * MS);
  ho_offer o1 = offer_at(x, 0);
  hello_flushed(b, HP, &c2, x, 3 * MS);
  *o2 = offer_at(x, 0);
  g_c2 = c2;
  send_ack_detail(b, *k1, o1.token, o1.correlation_id, false, B_BR | B_MULTI | B_CR,
                  "DRAINING", 4 * MS);
  drain(b, x);
  cr_assert_eq(close_of(x, &dummy_ctl, true), -1, "an offer is still in flight on k1");
  ho_hello_reply r = bt_hello(b, HP | BR | CR, &c3, x, 5 * MS);
  g_c3 = c3;
  cr_assert_eq(r.negotiated.handle_passed_token_len, HO_TOKEN_BYTES);
  cr_assert_eq(r.negotiated.server_capabilities & (BR | CR), 0u,
               "a draining connection's declaration serves no new offer");
  cr_assert_eq(bt_count(x, HO_BACT_SEND_FD), 0, "legacy: after Negotiated is written");
  ho_broker_conn_flushed(b, c3, 5 * MS);
  drain(b, x);
  cr_assert_eq(bt_count(x, HO_BACT_SEND_FD), 0, "not on the draining k1");
  ho_broker_conn *k2 = dialled(x);
  cr_assert_eq(ho_broker_control_connected(b, k2, 6 * MS), HO_OK);
  drain(b, x);
  int s = find(x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(x->a[s].conn, k2, "the queued attempt goes on the new connection");
  *o3 = offer_at(x, 0);
  return k2;
}

/* spec: BROKER-9 XFER-37 — the new connection, idle after its ACK, is kept
 * (a draining connection is no other one to use); the draining one closes
 * once its last offer is answered. */
Test(broker_handoff_cov2, draining_connection_is_skipped) {
  acts x;
  ho_broker *b;
  ho_broker_conn *k1;
  ho_offer o2, o3;
  ho_broker_conn *k2 = draining_setup(&b, &x, &k1, &o2, &o3);
  /* k2 idle after its ACK: kept, the draining k1 is no other connection */
  send_ack(b, k2, &o3, true, B_MULTI, 7 * MS);
  drain(b, &x);
  cr_assert_eq(close_of(&x, &ctl2_user, true), -1, "k2 is the one live connection");
  send_ack(b, k1, &o2, true, B_MULTI, 8 * MS);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &dummy_ctl, true), 0, "BROKER-9: k1 closed once nothing is in flight");
  cr_assert_eq(close_of(&x, &ctl2_user, true), -1);
  cr_assert_eq(bt_stats(b).fallbacks[HO_BROKER_REASON_DRAINING], 1);
  ho_broker_conn_flushed(b, g_c2, 9 * MS); /* the two ready frames */
  ho_broker_conn_flushed(b, g_c3, 9 * MS);
  drain(b, &x);
  cr_assert_eq(bt_stats(b).handoffs_completed, 3);
  bt_end(b, &x, 9 * MS);
}

/* spec: BROKER-1 ACK-6 XFER-37 — one timer batch: the offer on k1 was never
 * written whole (k1 stopped reading: dropped), the one on k2 was (k2, now
 * idle, is kept; the dropped k1 does not count as another connection). */
Test(broker_handoff_cov2, stuck_and_spent_connections_in_one_batch) {
  acts x;
  ho_broker *b;
  ho_broker_conn *k1;
  ho_offer o2, o3;
  ho_broker_conn *k2 = draining_setup(&b, &x, &k1, &o2, &o3);
  ho_broker_conn_flushed(b, k2, 6 * MS); /* k1 never flushed */
  drain(b, &x);
  cr_assert_eq(ho_broker_timer(b, 3000 * MS), HO_OK);
  drain(b, &x);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_TIMEOUT], 2);
  cr_assert_geq(close_of(&x, &dummy_ctl, true), 0, "the stuck k1 is dropped");
  cr_assert_eq(close_of(&x, &ctl2_user, true), -1, "k2 stays");
  cr_assert_eq(st.in_flight, 0);
  bt_end(b, &x, 3001 * MS);
}

/* spec: READY-36 ACK-16 FALLBACK-22 — a Hello got backend-ready mode on
 * k's declaration; before its Negotiated was flushed, an ACK on k without
 * the bit withdrew it. The offer cannot go in backend-ready mode, and the
 * client may have sent its request already, so legacy mode is no option:
 * the attempt fails (no descriptor sent, no shutdown) without a dial. */
Test(broker_handoff_cov2, ready_declaration_withdrawn_before_the_offer) {
  ho_broker_config cfg = multi_cfg();
  BT_DECL(x, b, k, c1, mk_cfg(&cfg, &x, &k));
  ho_broker_conn *c2;
  declare(b, k, B_BR | B_MULTI, &x, 3 * MS);
  ho_hello_reply r = bt_hello(b, HP | BR, &c1, &x, 4 * MS);
  cr_assert(r.negotiated.server_capabilities & BR);
  hello_flushed(b, HP, &c2, &x, 4 * MS);
  ho_offer o2 = offer_at(&x, 0);
  send_ack(b, k, &o2, true, B_MULTI, 5 * MS); /* BACKEND_READY withdrawn */
  drain(b, &x);
  ho_broker_conn_flushed(b, c2, 5 * MS);
  drain(b, &x);
  cr_assert_eq(ho_broker_conn_flushed(b, c1, 6 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_SEND_FD), 0, "no backend-ready declaration: no offer");
  cr_assert_eq(bt_count(&x, HO_BACT_OPEN_CONTROL), 0, "a fresh connection declares nothing either");
  client_closed_plain(&x);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
  cr_assert_eq(st.handoffs_completed, 2);
  bt_end(b, &x, 7 * MS);
}

/* spec: READY-25 READY-30 READY-27 — coalesced mode on the operator's
 * statement; a second coalesced attempt waits for a connection (the first
 * carries one offer, XFER-37). The first ACK proves the statement wrong:
 * it is void, no live connection declares coalesced mode, so the waiting
 * attempt cannot be offered; nothing was written to its client, so the
 * broker writes the declined reply and closes once it is out. */
Test(broker_handoff_cov2, coalesced_statement_voided_while_one_waits) {
  ho_broker_config cfg = base_cfg();
  cfg.backend_coalesced = true;
  BT_DECL(x, b, k1, c1, mk_cfg(&cfg, &x, &k1));
  ho_broker_conn *c0;
  ho_offer o0 = coal_released(b, k1, &c0, &x, 3 * MS);
  hello_in(b, HP | BR | ED | CR, &c1, &x, 4 * MS);
  cr_assert_eq(bt_count(&x, HO_BACT_SEND_FD), 0);
  cr_assert_eq(bt_count(&x, HO_BACT_WRITE), 0, "coalesced: nothing written to the client");
  ho_broker_conn *k2 = dialled(&x);
  send_ack(b, k1, &o0, true, B_BR, 5 * MS); /* accepted without COALESCED_REPLY */
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0, "READY-27: the declined reply");
  cr_assert_eq(x.a[w].conn, c1);
  ho_hello_reply r = reply_of(&x, w);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(r.negotiated.handle_passed_token_len, 0u, "declined: no token");
  cr_assert_eq(r.negotiated.server_capabilities, ED | CR, "CAP-12");
  cr_assert_geq(close_of(&x, &dummy_ctl, true), 0, "k1 had its one offer");
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_READY_VIOLATION], 1);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CONTROL_CLOSED], 1);
  ho_broker_conn_flushed(b, c1, 6 * MS);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &dummy_client, true), 0, "closed once the reply is out");
  cr_assert_eq(ho_broker_control_connected(b, k2, 7 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_SEND_FD), 0);
  bt_end(b, &x, 8 * MS);
}

/* spec: READY-30 — the same violation when coalesced mode was declared on
 * the connection (no operator's statement): a failure, the declaration
 * withdrawn with the ACK that lacks the bit. */
Test(broker_handoff_cov2, coalesced_declaration_violated) {
  ho_broker_config cfg = multi_cfg();
  BT_DECL(x, b, k, c, mk_cfg(&cfg, &x, &k));
  declare(b, k, B_BR | B_MULTI | B_CR, &x, 3 * MS);
  ho_offer o = coal_released(b, k, &c, &x, 4 * MS); /* declared on k */
  send_ack(b, k, &o, true, B_BR | B_MULTI, 5 * MS);
  drain(b, &x);
  cr_assert_eq(bt_count(&x, HO_BACT_WRITE), 0, "released: the broker writes nothing");
  cr_assert_eq(bt_stats(b).fallbacks[HO_BROKER_REASON_READY_VIOLATION], 1);
  ho_hello_reply r = bt_hello(b, HP | BR | CR, &c, &x, 6 * MS);
  cr_assert_eq(r.negotiated.server_capabilities & CR, 0u, "withdrawn: not coalesced");
  cr_assert(r.negotiated.server_capabilities & BR, "backend-ready still declared");
  bt_end(b, &x, 7 * MS);
}

/* spec: XFER-37 — a burst dialled a second connection; the first declared
 * MULTI_OFFER in an ACK meanwhile and took the waiting attempt: the second,
 * connected with nothing to carry, is closed at once. */
Test(broker_handoff_cov2, fresh_connection_closed_when_a_declared_one_is_up) {
  ho_broker_config cfg = base_cfg();
  BT_DECL(x, b, k1, c1, mk_cfg(&cfg, &x, &k1));
  ho_broker_conn *c2;
  hello_flushed(b, HP, &c1, &x, 3 * MS);
  ho_offer o1 = offer_at(&x, 0);
  hello_flushed(b, HP, &c2, &x, 3 * MS);
  ho_broker_conn *k2 = dialled(&x);
  send_ack(b, k1, &o1, true, B_MULTI, 4 * MS);
  drain(b, &x);
  int s = find(&x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(x.a[s].conn, k1, "declared: k1 takes the waiting attempt");
  cr_assert_eq(close_of(&x, &dummy_ctl, true), -1, "k1 declared: kept");
  ho_broker_conn_flushed(b, c1, 4 * MS); /* its ready frame */
  drain(b, &x);
  cr_assert_eq(ho_broker_control_connected(b, k2, 5 * MS), HO_OK);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &ctl2_user, true), 0, "k2 has nothing to carry");
  bt_end(b, &x, 6 * MS);
}

/* spec: XFER-37 — two connections each carry an offer; both declare
 * MULTI_OFFER. The one that declares second is idle at that moment and is
 * closed (the other is up and declared); the other carries the next one. */
Test(broker_handoff_cov2, of_two_declared_connections_one_is_kept) {
  ho_broker_config cfg = base_cfg();
  BT_DECL(x, b, ka, c0, mk_cfg(&cfg, &x, &ka));
  ho_broker_conn *c1, *c2;
  hello_flushed(b, HP, &c0, &x, 3 * MS);
  ho_offer o0 = offer_at(&x, 0);
  hello_flushed(b, HP, &c1, &x, 3 * MS);
  ho_broker_conn *kb = dialled(&x);
  cr_assert_eq(ho_broker_control_connected(b, kb, 4 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, kb);
  ho_offer o1 = offer_at(&x, 0);
  send_ack(b, kb, &o1, true, B_MULTI, 5 * MS);
  drain(b, &x);
  cr_assert_eq(close_of(&x, &ctl2_user, true), -1, "kb declared, ka not yet: kept");
  send_ack(b, ka, &o0, true, B_MULTI, 6 * MS);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &dummy_ctl, true), 0, "ka idle, kb declared and up: ka goes");
  hello_flushed(b, HP, &c2, &x, 7 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, kb);
  ho_broker_conn_flushed(b, c0, 7 * MS);
  ho_broker_conn_flushed(b, c1, 7 * MS);
  drain(b, &x);
  bt_end(b, &x, 8 * MS);
}

/* ---- a connection full of offers (BROKER_MAX_IN_FLIGHT = 128) ---------- */

enum { FULL = 128 };

typedef struct inflight {
  ho_broker_conn *c;
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t corr;
} inflight;

/* k declared everything; FULL legacy offers in flight on it; one more
 * attempt waits and a second connection is dialled for it (XFER-37:
 * declared, yet the one connection has no room). Returns the new one. */
static ho_broker_conn *fill(ho_broker **bp, acts *x, ho_broker_conn **k, inflight *f,
                            ho_broker_conn **extra) {
  ho_broker *b = *bp = declared_all(x, k);
  for (int i = 0; i < FULL; i++) {
    hello_flushed(b, HP, &f[i].c, x, 4 * MS);
    int s = find(x, HO_BACT_SEND_FD, 0);
    cr_assert_geq(s, 0, "offer %d", i);
    cr_assert_eq(x->a[s].conn, *k);
    ho_offer o = offer_at(x, 0);
    memcpy(f[i].token, o.token, HO_TOKEN_BYTES);
    f[i].corr = o.correlation_id;
  }
  hello_flushed(b, HP, extra, x, 4 * MS);
  cr_assert_eq(bt_count(x, HO_BACT_SEND_FD), 0, "k is full");
  return dialled(x);
}

/* bt_end for a broker with more handles than one drain holds (MAXA). */
static void end_many(ho_broker *b, uint64_t now) {
  bt_invariants(b);
  cr_assert_eq(ho_broker_shutdown(b, now), HO_OK);
  ho_broker_action a;
  while (ho_broker_next_action(b, &a)) {
  }
  bt_invariants(b);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.open_conns, 0);
  cr_assert_eq(st.tokens_pending, 0, "BROKER-4: no token left after shutdown");
  cr_assert_eq(st.in_flight, 0);
  ho_broker_del(b);
}

static void ack_one(ho_broker *b, ho_broker_conn *k, const inflight *f, acts *x, uint64_t now) {
  send_ack_detail(b, k, f->token, f->corr, true, B_BR | B_MULTI | B_CR, "", now);
  drain(b, x);
}

/* spec: READY-25 READY-36 — two live connections with room; a coalesced
 * offer goes on the one that declared coalesced mode, not on the newer one
 * that declared nothing. */
Test(broker_handoff_cov2, coalesced_offer_goes_where_it_was_declared) {
  acts x;
  ho_broker *b;
  ho_broker_conn *k, *extra, *c;
  static inflight f[FULL];
  ho_broker_conn *k2 = fill(&b, &x, &k, f, &extra);
  cr_assert_eq(ho_broker_control_connected(b, k2, 5 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k2, "the waiting one goes on k2");
  ack_one(b, k, &f[0], &x, 5 * MS); /* room on k again */
  hello_in(b, HP | BR | ED | CR, &c, &x, 6 * MS);
  int s = find(&x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(x.a[s].conn, k, "on the declaring connection");
  ho_offer o = offer_at(&x, 0);
  cr_assert(o.offer_flags & HO_OFFER_FLAG_COALESCED_REPLY);
  ho_broker_conn_flushed(b, f[0].c, 7 * MS); /* its ready frame */
  drain(b, &x);
  end_many(b, 7 * MS);
}

/* spec: XFER-37 — while the second connection is still being dialled, the
 * first drains its offers (the waiting attempt among them) and goes idle:
 * it is kept (the other is not up); the second, up with nothing to carry,
 * is closed. */
Test(broker_handoff_cov2, idle_connection_kept_while_the_other_dials) {
  acts x;
  ho_broker *b;
  ho_broker_conn *k, *extra;
  static inflight f[FULL];
  ho_broker_conn *k2 = fill(&b, &x, &k, f, &extra);
  ack_one(b, k, &f[0], &x, 5 * MS);
  int s = find(&x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(x.a[s].conn, k, "room on k: the waiting attempt goes there");
  inflight last;
  ho_offer o = offer_at(&x, 0);
  memcpy(last.token, o.token, HO_TOKEN_BYTES);
  last.corr = o.correlation_id;
  last.c = extra;
  ho_broker_conn_flushed(b, f[0].c, 5 * MS);
  drain(b, &x);
  for (int i = 1; i < FULL; i++) {
    ack_one(b, k, &f[i], &x, 5 * MS);
    ho_broker_conn_flushed(b, f[i].c, 5 * MS);
    drain(b, &x);
  }
  ack_one(b, k, &last, &x, 6 * MS);
  cr_assert_eq(close_of(&x, &dummy_ctl, true), -1, "idle, but the other is not up: kept");
  ho_broker_conn_flushed(b, extra, 6 * MS);
  drain(b, &x);
  cr_assert_eq(bt_stats(b).handoffs_completed, FULL + 2);
  cr_assert_eq(ho_broker_control_connected(b, k2, 7 * MS), HO_OK);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &ctl2_user, true), 0, "k2 up with nothing to carry: closed");
  bt_end(b, &x, 8 * MS);
}
