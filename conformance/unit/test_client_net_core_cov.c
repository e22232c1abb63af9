/* Unit tests (issue #17 coverage): the client core (client/client_core.c)
 * and the Unix dialer/listener (net/unix_sock.c) outcomes the other tests
 * leave out — a reason value outside every list, a codec the encoder
 * refuses, next() after DONE, a write reported with nothing pending, a
 * coalesced Hello whose write broke (EPIPE) before the reply, the default
 * ready and I/O timeouts, early data under a backend-ready broker with and
 * without CAP_EARLY_DATA (READY-21 (b)), a failed write on backend_pipe, an
 * empty read while waiting for ready — driven without I/O. The client
 * shells are in test_client_shell_cov.c, the net and core layers in
 * test_net_layer_cov.c and test_core_layer_cov.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "client_core_fixtures.h"

/* ---- client core, sans I/O -------------------------------------------------- */

static const uint8_t k_tok[HO_TOKEN_BYTES] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

static ho_client_config base_cfg(void) { return cfx_config("/tmp/ho-cnc-broker.sock"); }

/* A core at `now` whose connect succeeded and whose Hello write was reported
 * as `wrc`; *a is the action after that. */
static ho_client_core *after_hello(const ho_client_config *cfg, uint64_t now, int wrc,
                                   ho_client_action *a) {
  ho_client_core *c = NULL;
  cr_assert_eq(ho_client_core_new(cfg, now, &c), HO_OK);
  cr_assert_eq(cfx_next(c).type, HO_CACT_CONNECT);
  cr_assert_eq(ho_client_core_connected(c, HO_OK, now), HO_OK);
  cr_assert_eq(cfx_next(c).type, HO_CACT_WRITE);
  cr_assert_eq(ho_client_core_written(c, wrc, now), HO_OK);
  *a = cfx_next(c);
  return c;
}

/* A Negotiated (protocol 1, backend_pipe "/tmp/ho-cnc-pipe.sock") with
 * `caps`, and the token when `token`. */
static size_t negotiated(uint8_t *out, size_t cap, uint64_t caps, bool token) {
  return cfx_negotiated(out, cap, "/tmp/ho-cnc-pipe.sock", caps, token ? k_tok : NULL, 0);
}

/* Feed `n` bytes to the reads the core asks for; returns the first action
 * that is not a READ (or the READ after the last byte). */
static ho_client_action feed(ho_client_core *c, ho_client_action a, const uint8_t *b, size_t n,
                             uint64_t now) {
  size_t off = 0;
  while (a.type == HO_CACT_READ && off < n) {
    size_t k = n - off < a.len ? n - off : a.len;
    cr_assert_eq(ho_client_core_data(c, b + off, k, now), HO_OK);
    off += k;
    a = cfx_next(c);
  }
  cr_assert_eq(off, n, "every byte was read");
  return a;
}

/* A core past its Hello (after_hello at `now`, written HO_OK) that read a
 * whole Negotiated with `caps` (and the token when `token`) at `at`; *a is
 * the action after it. */
static ho_client_core *after_negotiated(const ho_client_config *cfg, uint64_t now, uint64_t caps,
                                        bool token, uint64_t at, ho_client_action *a) {
  ho_client_core *c = after_hello(cfg, now, HO_OK, a);
  uint8_t b[512];
  size_t n = negotiated(b, sizeof b, caps, token);
  *a = feed(c, *a, b, n, at);
  return c;
}

/* A positive value in no reason list is UNKNOWN (only negative errors are NOT_ADOPTED). */
Test(client_net_core_cov, reason_name_of_an_unlisted_positive_value) {
  cr_assert_str_eq(ho_client_reason_name(9999), "UNKNOWN");
  cr_assert_str_eq(ho_client_reason_detail(9999), "");
}

/* A codec the frame encoder refuses: the core is not made (and nothing leaks). */
Test(client_net_core_cov, new_with_a_codec_the_encoder_refuses) {
  ho_client_config cfg = base_cfg();
  cfg.codec = (ho_codec)7;
  ho_client_core *c = NULL;
  cr_assert_eq(ho_client_core_new(&cfg, 1, &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(c);
}

/* After DONE the core has nothing more to do; a write report with nothing pending is refused. */
Test(client_net_core_cov, nothing_after_done_and_a_write_report_out_of_turn) {
  ho_client_config cfg = base_cfg();
  ho_client_core *c = NULL;
  cr_assert_eq(ho_client_core_new(&cfg, 1, &c), HO_OK);
  cr_assert_eq(ho_client_core_written(c, HO_OK, 1), HO_ERR_STATE); /* no action taken yet */
  cr_assert_eq(cfx_next(c).type, HO_CACT_CONNECT);
  cr_assert_eq(ho_client_core_connected(c, HO_ERR_CLOSED, 2), HO_OK);
  cr_assert_eq(cfx_next(c).type, HO_CACT_DONE);
  ho_client_action a;
  cr_assert_eq(ho_client_core_next(c, &a), 0, "nothing after DONE");
  cr_assert_eq(ho_client_core_next(c, &a), 0);
  ho_client_result r;
  cr_assert_eq(cfx_result_del(c, &r), HO_ERR_CLOSED);
}

/* spec: READY-31 CLIENT-5 — the coalesced Hello's write broke (EPIPE): the
 * request did not go with it, so an EOF before the reply is CLOSED, not an
 * unknown outcome. */
Test(client_net_core_cov, coalesced_hello_write_broken_then_eof_is_closed) {
  ho_client_config cfg = base_cfg();
  cfg.handoff = cfg.backend_ready = cfg.early_data = cfg.coalesced_reply = true;
  cfg.request = (const uint8_t *)"ping";
  cfg.request_len = 4;
  ho_client_action a;
  ho_client_core *c = after_hello(&cfg, 10, HO_ERR_CLOSED, &a);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_eof(c, HO_ERR_CLOSED, 11), HO_OK);
  ho_client_result r;
  cr_assert_eq(cfx_finish(c, cfx_next(c), &r), HO_ERR_CLOSED);
  cr_assert_not(r.request_sent);
  cr_assert_neq(r.route, HO_ROUTE_HANDOFF);
}

/* spec: READY-37 — legacy handoff, ready_timeout_ms 0: the ready read ends
 * at the default READY_TIMEOUT after Negotiated. */
Test(client_net_core_cov, ready_timeout_zero_waits_the_default) {
  ho_client_config cfg = base_cfg();
  cfg.handoff = true;
  cfg.ready_timeout_ms = 0;
  ho_client_action a;
  ho_client_core *c = after_negotiated(&cfg, 100, HO_CAP_HANDLE_PASSING, true, 200, &a);
  cr_assert_eq(a.type, HO_CACT_READ, "reading the ready frame");
  cr_assert_eq(a.deadline_ms, 200 + HO_CLIENT_DEFAULT_READY_TIMEOUT_MS);
  /* An empty read while waiting for ready changes nothing: read on. */
  const uint8_t none = 0;
  cr_assert_eq(ho_client_core_data(c, &none, 0, 300), HO_OK);
  a = cfx_next(c);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_assert_eq(a.deadline_ms, 200 + HO_CLIENT_DEFAULT_READY_TIMEOUT_MS, "no byte: no extension");
  cr_assert_eq(ho_client_core_timeout(c, 200 + HO_CLIENT_DEFAULT_READY_TIMEOUT_MS), HO_OK);
  ho_client_result r;
  a = cfx_next(c);
  if (a.type == HO_CACT_CLOSE) a = cfx_next(c);
  cr_assert_eq(a.type, HO_CACT_CONNECT, "not adopted, nothing written: fall back");
  cr_assert_str_eq(a.path, "/tmp/ho-cnc-pipe.sock");
  cr_assert_eq(ho_client_core_connected(c, HO_ERR_CLOSED, 2300), HO_OK);
  cr_assert_eq(cfx_finish(c, cfx_next(c), &r), HO_ERR_CLOSED); /* FALLBACK-15 */
}

/* Early data (not coalesced) under a backend-ready broker: one that also
 * declares CAP_EARLY_DATA may get the request again on backend_pipe when
 * the wait ends with no byte; one that does not may have handed it off in
 * legacy mode: the outcome is unknown. */
static int early_br_timeout(uint64_t caps, ho_client_result *r) {
  ho_client_config cfg = base_cfg();
  cfg.handoff = cfg.backend_ready = cfg.early_data = true;
  cfg.request = (const uint8_t *)"ping";
  cfg.request_len = 4;
  ho_client_action a;
  ho_client_core *c = after_negotiated(&cfg, 10, caps, true, 20, &a);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_timeout(c, a.deadline_ms), HO_OK);
  a = cfx_next(c);
  if (a.type == HO_CACT_CLOSE) a = cfx_next(c);
  if (a.type == HO_CACT_CONNECT) {
    cr_assert_eq(ho_client_core_connected(c, HO_OK, 3000), HO_OK);
    a = cfx_next(c);
    cr_assert_eq(a.type, HO_CACT_WRITE);
    cr_assert_eq(a.len, 4, "the request, again");
    cr_assert_eq(ho_client_core_written(c, HO_OK, 3001), HO_OK);
    a = cfx_next(c);
  }
  return cfx_finish(c, a, r);
}

/* spec: READY-21 ERR-67 ERR-68 */
Test(client_net_core_cov, early_data_resent_only_when_the_broker_knows_early_data) {
  ho_client_result r;
  cr_assert_eq(early_br_timeout(HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA, &r),
               HO_OK);
  cr_assert_eq(r.route, HO_ROUTE_RECONNECT);
  cr_assert(r.request_sent);
  cr_assert(r.backend_ready);
  cr_assert_eq(early_br_timeout(HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY, &r),
               HO_ERR_OUTCOME_UNKNOWN);
  cr_assert_eq(r.route, HO_ROUTE_HANDOFF);
  cr_assert(r.request_sent);
}

/* Reconnect on backend_pipe with io_timeout_ms 0: the request write has the
 * default I/O deadline; a failed write there ends with its error (FALLBACK-15). */
Test(client_net_core_cov, pipe_write_default_deadline_and_failure) {
  ho_client_config cfg = base_cfg();
  cfg.io_timeout_ms = 0;
  cfg.request = (const uint8_t *)"ping";
  cfg.request_len = 4;
  ho_client_action a;
  ho_client_core *c = after_negotiated(&cfg, 10, 0, false, 20, &a); /* no token: fall back */
  if (a.type == HO_CACT_CLOSE) a = cfx_next(c);
  cr_assert_eq(a.type, HO_CACT_CONNECT);
  cr_assert_eq(ho_client_core_connected(c, HO_OK, 50), HO_OK);
  a = cfx_next(c);
  cr_assert_eq(a.type, HO_CACT_WRITE);
  cr_assert_eq(a.deadline_ms, 50 + HO_CLIENT_DEFAULT_IO_TIMEOUT_MS);
  cr_assert_eq(ho_client_core_written(c, HO_ERR_CLOSED, 60), HO_OK);
  ho_client_result r;
  cr_assert_eq(cfx_finish(c, cfx_next(c), &r), HO_ERR_CLOSED);
  cr_assert_eq(r.route, HO_ROUTE_RECONNECT);
  cr_assert_not(r.request_sent);
  cr_assert_eq(r.fallback_reason, HO_CLIENT_CLIENT_UNSUPPORTED); /* no handoff asked for */
}
