/* Unit tests of the broker core against the error table (spec/errors.md)
 * and the broker obligations (spec/broker.md). */
#include "broker_test_util.h"

static size_t hello_with(const ho_hello *h, uint8_t *buf, size_t cap) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello = *h;
  size_t len = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, buf, cap, &len), HO_OK);
  return len;
}

static ho_hello base_hello(void) {
  ho_hello h;
  memset(&h, 0, sizeof h);
  h.client_min_protocol = 1;
  h.client_max_protocol = 1;
  strcpy(h.service_name, "echo");
  h.client_capabilities = HO_CAP_HANDLE_PASSING;
  return h;
}

/* Feed a Hello; return the decoded reply. */
static ho_hello_reply ask(ho_broker *b, const ho_hello *h, acts *x, ho_broker_conn **c) {
  uint8_t wire[1024];
  size_t len = hello_with(h, wire, sizeof wire);
  feed(b, c, wire, len, 3 * MS);
  drain(b, x);
  int w = find(x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0);
  return reply_of(x, w);
}

static void done(ho_broker *b, acts *x) { bt_end(b, x, 900 * MS); }

/* spec: ERR-11 HELLO-5 FRAME-5 — header alone decides; the body is not read. */
Test(broker_errors, oversized_hello_refused_from_header) {
  BT_BROKER(x, b, ctl, c);
  uint8_t hdr[5] = {1, 0x01, 0x00, 0x01, 0x00}; /* 65537 bytes */
  cr_assert_eq(feed(b, &c, hdr, 5, 3 * MS), 5);
  cr_assert_eq(ho_broker_client_wants(b, c), 0, "the body is never read");
  drain(b, &x);
  ho_hello_reply r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.refused.code, HO_REFUSE_PEER_REJECTED);
  cr_assert_str_eq(r.refused.reason, "initial Hello frame exceeds 64 KiB");
  done(b, &x);
}

/* spec: ERR-10 ERR-14 ERR-15 HELLO-3 HELLO-7 SEC-3 — refusal codes and reasons. */
Test(broker_errors, refusal_table) {
  BT_BROKER(x, b, ctl, c);
  ho_hello h = base_hello();
  h.client_min_protocol = 2;
  h.client_max_protocol = 3;
  ho_hello_reply r = ask(b, &h, &x, &c);
  cr_assert_eq(r.refused.code, HO_REFUSE_VERSION_UNSUPPORTED);
  cr_assert_str_eq(r.refused.reason, "PROTOCOL_UNSUPPORTED");
  h = base_hello();
  strcpy(h.wanted_version, "1.02.3");
  r = ask(b, &h, &x, &c);
  cr_assert_eq(r.refused.code, HO_REFUSE_PEER_REJECTED);
  cr_assert_str_eq(r.refused.reason, "VERSION_SYNTAX");
  h = base_hello();
  strcpy(h.wanted_version, "1.2.3-rc.1+build.5");
  r = ask(b, &h, &x, &c);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED, "a valid semver passes");
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  h = base_hello();
  h.peer_pid = 4242; /* the OS says 42 */
  r = ask(b, &h, &x, &c);
  cr_assert_eq(r.refused.code, HO_REFUSE_PEER_REJECTED);
  h = base_hello();
  strcpy(h.service_name, "other");
  r = ask(b, &h, &x, &c);
  cr_assert_eq(r.refused.code, HO_REFUSE_SERVICE_UNKNOWN);
  /* ERR-14: an offer frame sent as Hello (payload protocol 0xD0FF). */
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.offer.correlation_id = 1;
  uint8_t wire[256];
  size_t len;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, wire, sizeof wire, &len),
               HO_OK);
  feed(b, &c, wire, len, 4 * MS);
  drain(b, &x);
  r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.refused.code, HO_REFUSE_PEER_REJECTED);
  cr_assert_str_eq(r.refused.reason, "PAYLOAD_PROTOCOL");
  /* ERR-15: garbage payload. */
  uint8_t junk[] = {1, 3, 0, 0, 0, 0xff, 0xff, 0xff};
  feed(b, &c, junk, sizeof junk, 5 * MS);
  drain(b, &x);
  r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.refused.code, HO_REFUSE_PEER_REJECTED);
  done(b, &x);
}

/* spec: HELLO-9 HELLO-12 CAP-3 CAP-6 FALLBACK-1 BROKER-6 — Negotiated fields. */
Test(broker_errors, negotiated_fields) {
  BT_BROKER(x, b, ctl, c);
  ho_hello h = base_hello();
  h.client_capabilities = 0;
  strcpy(h.client_version, "whatever");
  h.connection_id = 99;
  ho_hello_reply r = ask(b, &h, &x, &c);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(r.negotiated.negotiated_protocol, 1);
  cr_assert_str_eq(r.negotiated.backend_pipe, "/tmp/x/backend.sock");
  cr_assert_eq(r.negotiated.keepalive_interval_secs, 1800);
  cr_assert_neq(r.negotiated.connection_id, 0);
  cr_assert_eq(r.negotiated.server_capabilities, HO_CAP_EARLY_DATA, "CAP-3 CAP-6");
  cr_assert_eq(r.negotiated.handle_passed_token_len, 0);
  uint64_t first_id = r.negotiated.connection_id;
  ho_broker_conn_flushed(b, c, 3 * MS);
  drain(b, &x);
  h.client_keepalive_secs = 60;
  r = ask(b, &h, &x, &c);
  cr_assert_eq(r.negotiated.keepalive_interval_secs, 60);
  cr_assert_neq(r.negotiated.connection_id, first_id);
  done(b, &x);
}

/* spec: ERR-12 ERR-13 BROKER-2 — EOF inside the Hello, Hello timeout:
 * closed without a reply, no token. */
Test(broker_errors, truncated_and_slow_hellos_closed_silently) {
  acts x;
  ho_broker_conn *ctl, *c1, *c2;
  ho_broker *b = mk(&x, &ctl);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, &c1, wire, len - 2, 3 * MS);
  ho_broker_conn_error(b, c1, HO_ERR_CLOSED, 3 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  feed(b, &c2, wire, 3, 4 * MS);
  drain(b, &x);
  ho_broker_timer(b, 4 * MS + 30000 * MS);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  done(b, &x);
}

/* spec: ERR-18 BROKER-5 FALLBACK-25 — the client leaves before the offer. */
Test(broker_errors, client_gone_before_offer) {
  BT_BROKER(x, b, ctl, c);
  ho_hello h = base_hello();
  ho_hello_reply r = ask(b, &h, &x, &c);
  cr_assert_eq(r.negotiated.handle_passed_token_len, 16);
  ho_broker_conn_error(b, c, HO_ERR_CLOSED, 3 * MS); /* c is gone after its CLOSE */
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1, "no offer for a departed client");
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CLIENT_GONE], 1);
  cr_assert_eq(st.tokens_pending, 0);
  done(b, &x);
}

static void ack_bytes(ho_broker *b, ho_broker_conn *ctl, const uint8_t *p, size_t n) {
  cr_assert_eq(ho_broker_control_data(b, ctl, p, n, 4 * MS), HO_OK);
}

/* spec: ERR-50 ERR-51 ERR-52 ERR-53 ACK-9 ACK-10 ERR-60 — a bad ACK frame
 * ends the control connection and every attempt on it. */
Test(broker_errors, malformed_ack_frames_drop_control) {
  static const struct {
    uint8_t b[16];
    size_t n;
  } bad[] = {
      {{2, 0, 0, 0, 0}, 5},                      /* framing version */
      {{1, 0xff, 0xff, 0xff, 0x00}, 5},          /* > local cap */
      {{1, 4, 0, 0, 0, 0x08, 0x07, 0x10, 0x01}, 9}, /* envelope version 7 */
      {{1, 2, 0, 0, 0, 0x22, 0x05}, 7},          /* truncated payload field */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    BT_BROKER(x, b, ctl, c);
    ho_negotiated n;
    ho_envelope env;
    (void)run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &env, 3 * MS);
    ack_bytes(b, ctl, bad[i].b, bad[i].n);
    drain(b, &x);
    int closes = 0;
    for (int j = 0; j < x.n; j++) closes += x.a[j].type == HO_BACT_CLOSE;
    cr_assert_eq(closes, 2, "case %zu: client copy and control connection", i);
    done(b, &x);
  }
}

/* spec: ACK-11 ACK-12 TOKEN-6 — several offers in flight on one control
 * connection, ACKs in any order, each token in exactly one offer. */
Test(broker_errors, acks_in_any_order) {
  acts x;
  ho_broker_conn *ctl, *c1, *c2;
  ho_broker *b = mk(&x, &ctl);
  ho_negotiated n1, n2;
  ho_envelope e;
  ho_offer o1 = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c1, &x, &n1, &e, 3 * MS);
  ho_offer o2 = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c2, &x, &n2, &e, 3 * MS);
  cr_assert_neq(o1.correlation_id, o2.correlation_id);
  cr_assert_neq(memcmp(o1.token, o2.token, 16), 0);
  send_ack(b, ctl, &o2, true, 0, 4 * MS);
  drain(b, &x);
  cr_assert_eq(x.a[find(&x, HO_BACT_WRITE, 0)].user, &dummy_client);
  send_ack(b, ctl, &o1, true, 0, 4 * MS);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_WRITE, 0), 0);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_completed, 0, "ACK-15: complete once the ready frames are written");
  ho_broker_conn_flushed(b, c1, 5 * MS);
  ho_broker_conn_flushed(b, c2, 5 * MS);
  drain(b, &x);
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.handoffs_completed, 2);
  done(b, &x);
}

/* spec: ERR-62 XFER-23 — connecting fails: the waiting attempts fail. */
Test(broker_errors, connect_failure_fails_waiting_attempts) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "/p", .handoff_endpoint = true,
                          .peer_policy = HO_PEER_ANY};
  ho_broker *b;
  cr_assert_eq(ho_broker_new(&cfg, 1 * MS, &b), HO_OK);
  acts x;
  drain(b, &x);
  ho_broker_conn *ctl = x.a[find(&x, HO_BACT_OPEN_CONTROL, 0)].conn;
  ho_broker_conn *c;
  ho_hello h = base_hello();
  ho_hello_reply r = ask(b, &h, &x, &c);
  cr_assert_eq(r.negotiated.handle_passed_token_len, 16);
  ho_broker_conn_flushed(b, c, 3 * MS); /* queued: control not up */
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1);
  ho_broker_conn_error(b, ctl, HO_ERR_PERMISSION, 4 * MS);
  drain(b, &x);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_PERMISSION], 1);
  cr_assert_str_eq(ho_broker_reason_spec_name(HO_BROKER_REASON_PERMISSION), "PERMISSION_DENIED");
  done(b, &x);
}

/* spec: ERR-61 XFER-6 FALLBACK-17 FALLBACK-18 — a sendmsg that failed and
 * sent nothing fails that attempt only. */
Test(broker_errors, transfer_failure_fails_one_attempt) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope e;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &e, 3 * MS);
  cr_assert_eq(ho_broker_transfer_failed(b, ctl, o.correlation_id, HO_ERR_FD_EXHAUSTED, 4 * MS),
               HO_OK);
  drain(b, &x);
  int k = find(&x, HO_BACT_CLOSE, 0);
  cr_assert_geq(k, 0);
  cr_assert_eq(x.a[k].user, &dummy_client);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, k + 1), -1, "the control connection stays");
  cr_assert_str_eq(ho_broker_reason_spec_name(HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED),
                   "FD_PRESSURE");
  done(b, &x);
}

/* spec: BROKER-7 ACK-15 — shutdown abandons everything; a legacy ready
 * whose write fails is not retried. */
Test(broker_errors, shutdown_abandons_attempts) {
  BT_BROKER(x, b, ctl, c);
  ho_negotiated n;
  ho_envelope e;
  ho_offer o = run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &e, 3 * MS);
  send_ack(b, ctl, &o, true, 0, 4 * MS);
  drain(b, &x);
  ho_broker_conn_error(b, c, HO_ERR_CLOSED, 5 * MS); /* the ready write failed */
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1, "ACK-15: no retry");
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  ho_hello h = base_hello();
  (void)ask(b, &h, &x, &c);
  ho_broker_shutdown(b, 6 * MS);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0);
  ho_peer_cred p = {.pid = 1};
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 7 * MS, &c), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1, "no Hello served while shutting down");
  done(b, &x);
}

/* spec: SEC-7 — a bound on clients still sending their Hello. */
Test(broker_errors, hello_waiting_bound) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "/p", .peer_policy = HO_PEER_ANY,
                          .max_hello_waiting = 2};
  ho_broker *b;
  cr_assert_eq(ho_broker_new(&cfg, 1, &b), HO_OK);
  acts x;
  drain(b, &x);
  ho_peer_cred p = {.pid = 1};
  ho_broker_conn *c[3];
  for (int i = 0; i < 3; i++) cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 2, &c[i]), HO_OK);
  drain(b, &x);
  int closes = 0;
  for (int i = 0; i < x.n; i++) closes += x.a[i].type == HO_BACT_CLOSE;
  cr_assert_eq(closes, 1, "one is closed: the oldest (BROKER-10)");
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.hello_overflow, 1);
  /* One completes its Hello: room for a new one. */
  uint8_t wire[512];
  size_t len = hello_frame(0, "echo", wire, sizeof wire);
  size_t off = 0, want;
  while ((want = ho_broker_client_wants(b, c[1])) > 0) {
    ho_broker_client_data(b, c[1], wire + off, want, 3);
    off += want;
  }
  cr_assert_eq(off, len);
  ho_broker_conn *d;
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 4, &d), HO_OK);
  drain(b, &x);
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.hello_overflow, 1);
  done(b, &x);
}

/* ho_broker_config_init: zero defaults, the peer policy SAME_UID
 * (spec: SEC-1): another uid is closed without a reply, ours is kept. */
Test(broker_errors, config_init_defaults_same_uid) {
  ho_broker_config cfg;
  memset(&cfg, 0xA5, sizeof cfg);
  ho_broker_config_init(&cfg);
  cr_assert_eq(cfg.peer_policy, HO_PEER_SAME_UID);
  cr_assert_eq(cfg.ack_timeout_ms, 0);
  cr_assert_eq(cfg.hello_rate, 0);
  cr_assert_null(cfg.log);
  cr_assert(!cfg.handoff_endpoint);
  ho_broker_config_init(NULL); /* does nothing */
  cfg.service = "echo";
  cfg.backend_pipe = "/p";
  cfg.self_uid = 1000;
  ho_broker *b;
  cr_assert_eq(ho_broker_new(&cfg, 1, &b), HO_OK);
  acts x;
  drain(b, &x);
  ho_peer_cred other = {.pid = 7, .uid = 1001}, same = {.pid = 8, .uid = 1000};
  ho_broker_conn *c1, *c2;
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &other, 2, &c1), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), 0, "another uid: closed (SEC-1)");
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &same, 2, &c2), HO_OK);
  drain(b, &x);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1, "our uid: kept");
  done(b, &x);
}
