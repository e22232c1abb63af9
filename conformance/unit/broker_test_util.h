/* Shared helpers of the broker core unit tests (test_broker_*.c). */
#ifndef HO_BROKER_TEST_UTIL_H
#define HO_BROKER_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/msg.h"
#include "handoff/token.h"

#define MS 1ull /* the broker core's clock is in milliseconds */
#define MAXA 64

static int dummy_client __attribute__((unused)), dummy_ctl __attribute__((unused));
static inline uint64_t wall_ms(void *u) {
  (void)u;
  return 1700000000000ull;
}

typedef struct acts {
  int n;
  ho_broker_action a[MAXA];
  uint8_t bytes[MAXA][1024];
} acts;

static inline void drain(ho_broker *b, acts *out) {
  ho_broker_action a;
  out->n = 0;
  while (ho_broker_next_action(b, &a)) {
    if (a.type == HO_BACT_OPEN_CONTROL) ho_broker_conn_set_user(a.conn, &dummy_ctl);
    cr_assert_lt(out->n, MAXA);
    out->a[out->n] = a;
    if (a.len) {
      cr_assert_leq(a.len, sizeof out->bytes[0]);
      memcpy(out->bytes[out->n], a.bytes, a.len);
      out->a[out->n].bytes = out->bytes[out->n];
    }
    out->n++;
  }
}

static inline int find(const acts *x, ho_broker_action_type t, int from) {
  for (int i = from; i < x->n; i++)
    if (x->a[i].type == t) return i;
  return -1;
}

/* How many actions of type t x holds. */
static inline int bt_count(const acts *x, ho_broker_action_type t) {
  int n = 0;
  for (int i = 0; i < x->n; i++) n += x->a[i].type == t;
  return n;
}

static inline ho_broker_stats bt_stats(ho_broker *b) {
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  return st;
}

/* A broker of `cfg` whose first control connection *ctl is dialled (at
 * 1 ms), not yet up; x holds the actions of ho_broker_new. */
static inline ho_broker *mk_dialling(ho_broker_config *cfg, acts *x, ho_broker_conn **ctl) {
  ho_broker *b = NULL;
  cr_assert_eq(ho_broker_new(cfg, 1 * MS, &b), HO_OK);
  drain(b, x);
  int i = find(x, HO_BACT_OPEN_CONTROL, 0);
  cr_assert_geq(i, 0, "the broker dials the backend at start");
  *ctl = x->a[i].conn;
  return b;
}

/* A broker of `cfg` with its first control connection up: the start of
 * every broker-core test that has a backend. */
static inline ho_broker *mk_cfg(ho_broker_config *cfg, acts *x, ho_broker_conn **ctl) {
  ho_broker *b = mk_dialling(cfg, x, ctl);
  cr_assert_eq(ho_broker_control_connected(b, *ctl, 2 * MS), HO_OK);
  drain(b, x);
  return b;
}

static inline ho_broker *mk(acts *x, ho_broker_conn **ctl) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "/tmp/x/backend.sock",
                          .handoff_endpoint = true,
                          .backend_multi_offer = true, /* pipelining; XFER-37 in test_broker_rc1.c */
                          .ack_timeout_ms = 100 * MS, .peer_policy = HO_PEER_ANY,
                          .unix_ms = wall_ms};
  return mk_cfg(&cfg, x, ctl);
}

/* The first line of most broker-core tests: the action buffer x, a broker
 * b from `start` (which fills x and ctl) with its control connection ctl,
 * and a client handle c; BT_BROKER starts it with mk(). */
#define BT_DECL(x, b, ctl, c, start)                                                               \
  acts x;                                                                                          \
  ho_broker_conn *ctl, *c = NULL;                                                                  \
  ho_broker *b = (start);                                                                          \
  (void)c
#define BT_BROKER(x, b, ctl, c) BT_DECL(x, b, ctl, c, mk(&x, &ctl))

/* The index of the CLOSE in x of the handle whose user pointer is `user`:
 * the first one (`first`) or the last one; -1 if there is none. */
static inline int close_of(const acts *x, const void *user, bool first) {
  int at = -1;
  for (int i = 0; i < x->n; i++)
    if (x->a[i].type == HO_BACT_CLOSE && x->a[i].user == user) {
      at = i;
      if (first) break;
    }
  return at;
}

/* The broker core's counter invariants, from its statistics alone: the
 * ones fuzz_broker_core.c checks after every event against its shell's
 * records (spec: TOKEN-7 FALLBACK-20 ACK-10). Every Negotiated reply ends
 * as a completed handoff or one counted fallback, or is still in flight;
 * tokens pending <= in flight <= handles open. Every broker-core test
 * ends with it (bt_end, bt_del). */
static inline void bt_invariants(ho_broker *b) {
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  uint64_t fb = 0;
  for (int i = 0; i < HO_BROKER_REASON_COUNT; i++) fb += st.fallbacks[i];
  cr_assert_leq(st.handoffs_attempted, st.negotiated, "a token is issued only in a Negotiated");
  cr_assert_eq(st.negotiated, st.handoffs_completed + fb + st.in_flight,
               "negotiated %llu != completed %llu + fallbacks %llu + in flight %llu",
               (unsigned long long)st.negotiated, (unsigned long long)st.handoffs_completed,
               (unsigned long long)fb, (unsigned long long)st.in_flight);
  cr_assert_leq(st.tokens_pending, st.in_flight, "tokens pending %llu > in flight %llu",
                (unsigned long long)st.tokens_pending, (unsigned long long)st.in_flight);
  cr_assert_leq(st.in_flight, st.open_conns, "in flight %llu > open handles %llu",
                (unsigned long long)st.in_flight, (unsigned long long)st.open_conns);
  cr_assert_leq(st.handoffs_backend_ready, st.handoffs_completed);
}

/* Free a broker the test did not shut down, after the invariant check. */
static inline void bt_del(ho_broker *b) {
  bt_invariants(b);
  ho_broker_del(b);
}

/* The end of a broker-core test: the invariants, shutdown at `now` with its
 * actions taken, the invariants again, no handle, token or attempt left
 * (spec: BROKER-7 BROKER-4), the core freed. */
static inline void bt_end(ho_broker *b, acts *x, uint64_t now) {
  bt_invariants(b);
  cr_assert_eq(ho_broker_shutdown(b, now), HO_OK);
  drain(b, x);
  bt_invariants(b);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.open_conns, 0, "%llu handles left after shutdown", (unsigned long long)st.open_conns);
  cr_assert_eq(st.tokens_pending, 0, "BROKER-4: no token left after shutdown");
  cr_assert_eq(st.in_flight, 0, "every attempt ended at shutdown");
  ho_broker_del(b);
}

/* A Hello of protocol 1 for `service` with `caps`, nothing else set. */
static inline ho_any_msg hello_msg(uint64_t caps, const char *service) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = 1;
  m.hello.client_max_protocol = 1;
  snprintf(m.hello.service_name, sizeof m.hello.service_name, "%s", service);
  m.hello.client_capabilities = caps;
  return m;
}

static inline size_t hello_frame(uint64_t caps, const char *service, uint8_t *buf, size_t cap) {
  ho_any_msg m = hello_msg(caps, service);
  size_t len = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, buf, cap, &len), HO_OK);
  return len;
}

/* Open a client and feed `wire` through ho_broker_client_wants(); returns
 * how many bytes the core took (it never takes more than the Hello). */
static inline size_t feed(ho_broker *b, ho_broker_conn **c, const uint8_t *wire, size_t len,
                   uint64_t now) {
  ho_peer_cred p = {.pid = 42, .uid = 0, .gid = 0};
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, now, c), HO_OK);
  size_t off = 0, want;
  while (off < len && (want = ho_broker_client_wants(b, *c)) > 0) { /* not after the last byte: it may end the handle */
    size_t n = want < len - off ? want : len - off;
    if (n > 3) n = 3 + (n - 3) / 2; /* uneven chunks */
    cr_assert_eq(ho_broker_client_data(b, *c, wire + off, n, now), HO_OK);
    off += n;
  }
  return off;
}

static inline ho_hello_reply reply_of(const acts *x, int i) {
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, x->a[i].bytes,
                               x->a[i].len, NULL, &m), HO_OK);
  return m.hello_reply;
}

/* Open a client *c and feed it a Hello of `caps` for "echo"; its actions
 * drained into x. */
static inline void hello_in(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x,
                            uint64_t now) {
  uint8_t wire[512];
  size_t len = hello_frame(caps, "echo", wire, sizeof wire);
  feed(b, c, wire, len, now);
  drain(b, x);
}

/* hello_in, and the reply the core writes for it (there must be one). */
static inline ho_hello_reply bt_hello(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x,
                                      uint64_t now) {
  hello_in(b, caps, c, x, now);
  int w = find(x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0, "a reply");
  return reply_of(x, w);
}

/* A Hello of `caps` whose Negotiated (with a token) is written out
 * (flushed); x then holds what followed. */
static inline void hello_flushed(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x,
                                 uint64_t now) {
  ho_hello_reply r = bt_hello(b, caps, c, x, now);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(r.negotiated.handle_passed_token_len, HO_TOKEN_BYTES);
  cr_assert_eq(ho_broker_conn_flushed(b, *c, now), HO_OK);
  drain(b, x);
}

/* Run a Hello through to the offer. Returns the offer; *c the client. */
static inline ho_offer run_to_offer(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x,
                             ho_negotiated *neg, ho_envelope *env, uint64_t now) {
  ho_hello_reply r = bt_hello(b, caps, c, x, now);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  *neg = r.negotiated;
  cr_assert_eq(find(x, HO_BACT_SEND_FD, 0), -1, "no descriptor before Negotiated is written");
  ho_broker_conn_flushed(b, *c, now);
  drain(b, x);
  int s = find(x, HO_BACT_SEND_FD, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(x->a[s].len, HO_TOKEN_BYTES);
  cr_assert_eq(memcmp(x->a[s].bytes, neg->handle_passed_token, HO_TOKEN_BYTES), 0);
  cr_assert_eq(x->a[s].peer, *c);
  int o = find(x, HO_BACT_WRITE, s);
  cr_assert_eq(o, s + 1, "the offer frame follows its sideband (XFER-4)");
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, x->a[o].bytes, x->a[o].len,
                               env, &m), HO_OK);
  return m.offer;
}

/* run_to_offer, when the test needs neither Negotiated nor the envelope. */
static inline ho_offer bt_offer(ho_broker *b, uint64_t caps, ho_broker_conn **c, acts *x,
                                uint64_t now) {
  ho_negotiated n;
  ho_envelope e;
  return run_to_offer(b, caps, c, x, &n, &e, now);
}

/* The first CLOSE in x is the client's (dummy_client), without shutdown:
 * its descriptor never reached the backend, or the backend may be serving
 * it (FALLBACK-22). */
static inline void client_closed_plain(const acts *x) {
  int cl = find(x, HO_BACT_CLOSE, 0);
  cr_assert_geq(cl, 0, "the client is closed");
  cr_assert_eq(x->a[cl].user, &dummy_client);
  cr_assert_not(x->a[cl].shutdown, "closed without shutdown");
}

/* The backend's ACK of (token, corr) on ctl, with its error_detail. */
static inline void send_ack_detail(ho_broker *b, ho_broker_conn *ctl,
                                   const uint8_t token[HO_TOKEN_BYTES], uint64_t corr,
                                   bool accepted, uint64_t caps, const char *detail, uint64_t now) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, token, HO_TOKEN_BYTES);
  m.ack.accepted = accepted;
  m.ack.correlation_id = corr;
  m.ack.backend_capabilities = caps;
  snprintf(m.ack.error_detail, sizeof m.ack.error_detail, "%s", detail);
  uint8_t buf[256];
  size_t len;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, &m, buf, sizeof buf, &len), HO_OK);
  cr_assert_eq(ho_broker_control_data(b, ctl, buf, len, now), HO_OK);
}

static inline void send_ack(ho_broker *b, ho_broker_conn *ctl, const ho_offer *o, bool accepted,
                     uint64_t caps, uint64_t now) {
  send_ack_detail(b, ctl, o->token, o->correlation_id, accepted, caps, "", now);
}


static inline ho_broker_config base_cfg(void) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "/tmp/x/backend.sock",
                          .handoff_endpoint = true, .ack_timeout_ms = 100 * MS,
                          .peer_policy = HO_PEER_ANY, .unix_ms = wall_ms,
                          .hello_rate = HO_BROKER_HELLO_RATE_UNLIMITED};
  return cfg;
}

/* base_cfg with the operator's statement that the backend keeps its
 * control connections (backend_multi_offer, XFER-37). */
static inline ho_broker_config multi_cfg(void) {
  ho_broker_config cfg = base_cfg();
  cfg.backend_multi_offer = true;
  return cfg;
}

/* The offer after the SEND_FD at or after `from`. */
static inline ho_offer offer_at(const acts *x, int from) {
  int s = find(x, HO_BACT_SEND_FD, from);
  cr_assert_geq(s, 0);
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, x->a[s + 1].bytes,
                               x->a[s + 1].len, NULL, &m), HO_OK);
  return m.offer;
}

#endif
