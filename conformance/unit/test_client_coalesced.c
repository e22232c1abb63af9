/* Unit tests: the client core in coalesced mode (spec 1.0.0-rc2, ready.md
 * §6), driven without I/O: every action taken, every report scripted.
 * spec: READY-31 READY-32 ERR-71 CAP-8 READY-21 */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "client_core_fixtures.h"

#define MS 1ull /* the client core's clock is in milliseconds */

static const uint8_t k_tok[HO_TOKEN_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint64_t k_all = HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA |
                              HO_CAP_COALESCED_REPLY;

typedef struct drv {
  ho_client_config cfg;
  ho_client_core *c;
  uint64_t now;
  uint8_t hello[8192];
  size_t hello_len;
} drv;

static uint64_t fake_us;
static uint64_t measure(void *u) {
  cr_assert_eq(u, &fake_us, "measure_us gets measure_user");
  return fake_us;
}
static bool g_measure; /* drv_start gives the core the fake measurement clock */

static void drv_start(drv *d, bool coalesced, bool early) {
  memset(d, 0, sizeof *d);
  ho_client_config_init(&d->cfg);
  if (g_measure) d->cfg.measure_us = measure, d->cfg.measure_user = &fake_us;
  d->cfg.connect_path = "/broker";
  d->cfg.service_name = "echo";
  d->cfg.handoff = true;
  d->cfg.backend_ready = true;
  d->cfg.early_data = early;
  d->cfg.coalesced_reply = coalesced;
  d->cfg.request = (const uint8_t *)"ping";
  d->cfg.request_len = 4;
  d->now = 1000 * MS;
  cr_assert_eq(ho_client_core_new(&d->cfg, d->now, &d->c), HO_OK);
  ho_client_action a;
  cr_assert_eq(ho_client_core_next(d->c, &a), 1);
  cr_assert_eq(a.type, HO_CACT_CONNECT);
  cr_assert_eq(ho_client_core_connected(d->c, HO_OK, d->now), HO_OK);
  cr_assert_eq(ho_client_core_next(d->c, &a), 1);
  cr_assert_eq(a.type, HO_CACT_WRITE);
  cr_assert_leq(a.len, sizeof d->hello);
  memcpy(d->hello, a.bytes, a.len);
  d->hello_len = a.len;
  cr_assert_eq(ho_client_core_written(d->c, HO_OK, d->now), HO_OK);
}

static ho_client_action drv_next(drv *d) {
  ho_client_action a;
  cr_assert_eq(ho_client_core_next(d->c, &a), 1, "an action is due");
  return a;
}

static uint64_t hello_caps(const drv *d) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  /* the write is the Hello frame, then the early data */
  size_t flen = HO_FRAME_HEADER_BYTES + ((size_t)d->hello[1] | (size_t)d->hello[2] << 8 |
                                         (size_t)d->hello[3] << 16 | (size_t)d->hello[4] << 24);
  cr_assert_leq(flen, d->hello_len);
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, d->hello, flen, NULL, &m), HO_OK);
  return m.hello.client_capabilities;
}

static size_t negotiated(uint8_t *out, size_t cap, uint64_t caps, bool token) {
  return cfx_negotiated(out, cap, "/pipe", caps, token ? k_tok : NULL, 7); /* protocol 1 */
}

static size_t ready(uint8_t *out, size_t cap) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, k_tok, HO_TOKEN_BYTES);
  m.ack.accepted = true;
  m.ack.correlation_id = 7;
  size_t len = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_READY, &m, out, cap, &len), HO_OK);
  return len;
}

static int finish(drv *d, ho_client_result *r) { return cfx_finish(d->c, drv_next(d), r); }

/* The whole reply in one read: Negotiated, ready and the echo; the echo
 * comes back as the service's first bytes. spec: READY-32 */
Test(client_coalesced, whole_reply_in_one_read) {
  drv d;
  drv_start(&d, true, true);
  cr_expect_eq(hello_caps(&d), k_all, "the Hello sets HP|BR|ED|CR");
  ho_client_action a = drv_next(&d);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_expect_geq(a.len, HO_FRAME_HEADER_BYTES + HO_CLIENT_PENDING_MAX, "room to read ahead");
  uint8_t buf[1024];
  size_t n = negotiated(buf, sizeof buf, k_all, true);
  n += ready(buf + n, sizeof buf - n);
  memcpy(buf + n, "ping", 4);
  n += 4;
  cr_assert_leq(n, a.len);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + MS), HO_OK);
  ho_client_result r;
  cr_assert_eq(finish(&d, &r), HO_OK);
  cr_expect_eq(r.route, HO_ROUTE_HANDOFF);
  cr_expect(r.coalesced && r.backend_ready && r.request_sent);
  cr_expect_eq(r.pending_len, 4u);
  cr_expect_arr_eq(r.pending, "ping", 4);
}

/* The same bytes a few at a time: the frames complete across reads; the
 * result does not depend on chunking. */
Test(client_coalesced, reply_in_small_pieces) {
  drv d;
  drv_start(&d, true, true);
  uint8_t buf[1024];
  size_t n = negotiated(buf, sizeof buf, k_all, true);
  n += ready(buf + n, sizeof buf - n);
  size_t off = 0;
  while (off < n) {
    ho_client_action a = drv_next(&d);
    cr_assert_eq(a.type, HO_CACT_READ);
    size_t k = n - off < 3 ? n - off : 3;
    cr_assert_eq(ho_client_core_data(d.c, buf + off, k, d.now), HO_OK);
    off += k;
  }
  ho_client_result r;
  cr_assert_eq(finish(&d, &r), HO_OK);
  cr_expect_eq(r.route, HO_ROUTE_HANDOFF);
  cr_expect_eq(r.pending_len, 0u);
}

/* Nothing at all, then EOF: the backend may have served the request and
 * died before its one write. Never re-sent. spec: READY-31 ERR-71 */
Test(client_coalesced, eof_before_any_reply_is_outcome_unknown) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_eof(d.c, HO_ERR_CLOSED, d.now + MS), HO_OK);
  ho_client_result r;
  cr_expect_eq(finish(&d, &r), HO_ERR_OUTCOME_UNKNOWN);
}

Test(client_coalesced, timeout_before_any_reply_is_outcome_unknown) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_timeout(d.c, d.now + 31000 * MS), HO_OK);
  ho_client_result r;
  cr_expect_eq(finish(&d, &r), HO_ERR_OUTCOME_UNKNOWN);
}

/* A first frame that is no HelloReply (an rc1 backend that ignored the
 * flag and wrote ready first): unknown. spec: READY-31 */
Test(client_coalesced, ready_instead_of_reply_is_outcome_unknown) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  uint8_t buf[256];
  size_t n = ready(buf, sizeof buf);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + MS), HO_OK);
  ho_client_result r;
  cr_expect_eq(finish(&d, &r), HO_ERR_OUTCOME_UNKNOWN);
}

/* Declined: the Negotiated without token (from the backend, or from the
 * broker when its offer did not go out) lets the request go to
 * backend_pipe. spec: READY-21 (a) READY-29 */
Test(client_coalesced, declined_reply_resends_on_backend_pipe) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  uint8_t buf[256];
  size_t n = negotiated(buf, sizeof buf,
                        HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY, false);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + MS), HO_OK);
  ho_client_action a = drv_next(&d);
  cr_assert_eq(a.type, HO_CACT_CLOSE, "the broker connection closes first");
  a = drv_next(&d);
  cr_assert_eq(a.type, HO_CACT_CONNECT);
  cr_expect_str_eq(a.path, "/pipe");
  cr_assert_eq(ho_client_core_connected(d.c, HO_OK, d.now + 2 * MS), HO_OK);
  a = drv_next(&d);
  cr_assert_eq(a.type, HO_CACT_WRITE);
  cr_expect_eq(a.len, 4u);
  cr_assert_eq(ho_client_core_written(d.c, HO_OK, d.now + 3 * MS), HO_OK);
  ho_client_result r;
  cr_assert_eq(finish(&d, &r), HO_OK);
  cr_expect_eq(r.route, HO_ROUTE_RECONNECT);
}

/* A coalesced Negotiated with a token but no ready behind it: it came in
 * the backend's one write, so the request may be served. spec: READY-31 */
Test(client_coalesced, negotiated_without_ready_is_outcome_unknown) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  uint8_t buf[256];
  size_t n = negotiated(buf, sizeof buf, k_all, true);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + MS), HO_OK);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_eof(d.c, HO_ERR_CLOSED, d.now + 2 * MS), HO_OK);
  ho_client_result r;
  cr_expect_eq(finish(&d, &r), HO_ERR_OUTCOME_UNKNOWN);
}

/* An rc1 broker ignores the bit and answers in backend-ready mode itself:
 * the rc1 rules hold (EOF with nothing after Negotiated: re-send).
 * spec: READY-21 (b) CAP-1 */
Test(client_coalesced, broker_without_the_extension_keeps_rc1_rules) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  uint8_t buf[256];
  size_t n = negotiated(buf, sizeof buf, k_all & ~HO_CAP_COALESCED_REPLY, true);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + MS), HO_OK);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_eof(d.c, HO_ERR_CLOSED, d.now + 2 * MS), HO_OK);
  ho_client_action a = drv_next(&d);
  cr_assert_eq(a.type, HO_CACT_CLOSE);
  cr_expect_eq(drv_next(&d).type, HO_CACT_CONNECT, "re-sent on backend_pipe");
  ho_client_core_del(d.c);
}

/* A Refused reply is the broker's and says nothing was offered. */
Test(client_coalesced, refused_is_still_refused) {
  drv d;
  drv_start(&d, true, true);
  cr_assert_eq(drv_next(&d).type, HO_CACT_READ);
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello_reply.which = HO_REPLY_REFUSED;
  m.hello_reply.refused.code = HO_REFUSE_RATE_LIMITED;
  uint8_t buf[256];
  size_t n = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, buf, sizeof buf, &n),
               HO_OK);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + MS), HO_OK);
  ho_client_result r;
  cr_expect_eq(finish(&d, &r), HO_ERR_REFUSED);
}

/* Without early data there is nothing to coalesce: no bit, and EOF before
 * the reply stays an error of the connection. spec: CAP-8 CLIENT-2 */
Test(client_coalesced, no_bit_without_early_data) {
  drv d;
  drv_start(&d, true, false);
  cr_expect_eq(hello_caps(&d) & HO_CAP_COALESCED_REPLY, 0u);
  ho_client_action a = drv_next(&d);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_expect_eq(a.len, (size_t)HO_FRAME_HEADER_BYTES, "reads exactly the frame header (CLIENT-1)");
  cr_assert_eq(ho_client_core_eof(d.c, HO_ERR_CLOSED, d.now + MS), HO_OK);
  ho_client_result r;
  cr_expect_eq(finish(&d, &r), HO_ERR_CLOSED);
}

/* A report larger than the READ allowed is refused, nothing changes. */
Test(client_coalesced, oversized_report_is_rejected) {
  drv d;
  drv_start(&d, true, true);
  ho_client_action a = drv_next(&d);
  static uint8_t big[HO_CLIENT_PENDING_MAX + 64];
  cr_expect_eq(ho_client_core_data(d.c, big, a.len + 1, d.now), HO_ERR_INVALID_ARGUMENT);
  ho_client_core_del(d.c);
}

/* The result's timings are measurements in microseconds: from the
 * measure_us clock when there is one (issue #12: one time unit for the
 * inputs, which stay milliseconds). */
Test(client_coalesced, timings_from_measure_clock) {
  g_measure = true;
  fake_us = 5000;
  drv d;
  drv_start(&d, true, true);
  ho_client_action a = drv_next(&d);
  uint8_t buf[1024];
  size_t n = negotiated(buf, sizeof buf, k_all, true);
  n += ready(buf + n, sizeof buf - n);
  cr_assert_leq(n, a.len);
  fake_us = 5250; /* 250 us later, in the same millisecond of input time */
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now), HO_OK);
  ho_client_result r;
  cr_assert_eq(finish(&d, &r), HO_OK);
  cr_expect_eq(r.negotiated_us, 250u);
  cr_expect_eq(r.ready_us, 250u);
  cr_expect_eq(r.connected_us, 250u, "handoff: connected = ready");
}

/* Without one, the millisecond inputs measure: 3 ms are 3000 us. */
Test(client_coalesced, timings_from_ms_inputs) {
  drv d;
  drv_start(&d, true, true);
  ho_client_action a = drv_next(&d);
  uint8_t buf[1024];
  size_t n = negotiated(buf, sizeof buf, k_all, true);
  n += ready(buf + n, sizeof buf - n);
  cr_assert_leq(n, a.len);
  cr_assert_eq(ho_client_core_data(d.c, buf, n, d.now + 3 * MS), HO_OK);
  ho_client_result r;
  cr_assert_eq(finish(&d, &r), HO_OK);
  cr_expect_eq(r.negotiated_us, 3000u);
  cr_expect_eq(r.ready_us, 3000u);
}
