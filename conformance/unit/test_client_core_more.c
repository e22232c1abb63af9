/* Unit tests (issue #17 coverage): client core (client/client_core.c)
 * events that the scripted-broker tests do not produce — bad data
 * arguments and events in the wrong state with a live core, a Hello write
 * that fails with EPIPE (the reply is still read) or with another error,
 * EOF given as HO_OK or as a named error, a measurement clock that goes
 * backwards, and the result asked for too early. Sans I/O. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "handoff/frame.h"
#include "client_core_fixtures.h"

static ho_client_config base_cfg(void) { return cfx_config("/tmp/ho-client-more.sock"); }

/* A core whose Hello has been written with `wrc`; returns the next action's type. */
static ho_client_core *after_hello(const ho_client_config *cfg, int wrc, ho_client_action *a) {
  ho_client_core *c = NULL;
  cr_assert_eq(ho_client_core_new(cfg, 10, &c), HO_OK);
  cr_assert_eq(ho_client_core_next(c, a), 1);
  cr_assert_eq(a->type, HO_CACT_CONNECT);
  cr_assert_eq(ho_client_core_connected(c, HO_OK, 11), HO_OK);
  cr_assert_eq(ho_client_core_next(c, a), 1);
  cr_assert_eq(a->type, HO_CACT_WRITE);
  cr_assert_eq(ho_client_core_written(c, wrc, 12), HO_OK);
  cr_assert_eq(ho_client_core_next(c, a), 1);
  return c;
}

Test(client_core_more, data_eof_timeout_and_result_in_the_wrong_state) {
  ho_client_config cfg = base_cfg();
  ho_client_core *c = NULL;
  cr_assert_eq(ho_client_core_new(&cfg, 10, &c), HO_OK);
  ho_client_result r;
  uint8_t b[1] = {0};
  cr_assert_eq(ho_client_core_result(c, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_result(c, &r), HO_ERR_STATE); /* not done yet */
  /* Nothing pending. */
  cr_assert_eq(ho_client_core_data(c, b, 1, 11), HO_ERR_STATE);
  cr_assert_eq(ho_client_core_eof(c, HO_OK, 11), HO_ERR_STATE);
  cr_assert_eq(ho_client_core_timeout(c, 11), HO_ERR_STATE);
  ho_client_action a;
  cr_assert_eq(ho_client_core_next(c, &a), 1);
  cr_assert_eq(a.type, HO_CACT_CONNECT);
  /* A connect pending: no read is. */
  cr_assert_eq(ho_client_core_data(c, NULL, 1, 11), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_data(c, NULL, 0, 11), HO_ERR_STATE);
  cr_assert_eq(ho_client_core_data(c, b, 1, 11), HO_ERR_STATE);
  cr_assert_eq(ho_client_core_eof(c, HO_OK, 11), HO_ERR_STATE);
  cr_assert_eq(ho_client_core_timeout(c, 11), HO_ERR_STATE);
  /* Still usable after the refusals. */
  cr_assert_eq(ho_client_core_connected(c, HO_OK, 11), HO_OK);
  ho_client_core_del(c);
}

/* spec: CLIENT-5 BROKER-12 — EPIPE on the Hello: the broker's reply may wait unread. */
Test(client_core_more, hello_write_closed_still_reads_the_reply) {
  ho_client_config cfg = base_cfg();
  ho_client_action a;
  ho_client_core *c = after_hello(&cfg, HO_ERR_CLOSED, &a);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_assert_gt(a.len, 0);
  /* EOF with nothing read, reported as HO_OK: the connection closed. */
  cr_assert_eq(ho_client_core_eof(c, HO_OK, 13), HO_OK);
  ho_client_result r;
  cr_assert_eq(cfx_result_del(c, &r), HO_ERR_CLOSED);
  cr_assert_not(r.request_sent);
}

Test(client_core_more, hello_write_error_ends_with_that_error) {
  ho_client_config cfg = base_cfg();
  ho_client_action a;
  ho_client_core *c = after_hello(&cfg, HO_ERR_IO, &a);
  cr_assert_neq(a.type, HO_CACT_READ);
  while (a.type != HO_CACT_DONE) cr_assert_eq(ho_client_core_next(c, &a), 1);
  ho_client_result r;
  cr_assert_eq(cfx_result_del(c, &r), HO_ERR_IO);
}

Test(client_core_more, eof_with_a_named_error_keeps_the_name) {
  ho_client_config cfg = base_cfg();
  ho_client_action a;
  ho_client_core *c = after_hello(&cfg, HO_OK, &a);
  cr_assert_eq(a.type, HO_CACT_READ);
  cr_assert_eq(ho_client_core_eof(c, HO_ERR_FD_EXHAUSTED, 13), HO_OK);
  ho_client_result r;
  cr_assert_eq(cfx_result_del(c, &r), HO_ERR_FD_EXHAUSTED);
}

Test(client_core_more, data_longer_than_the_read_asked_is_refused) {
  ho_client_config cfg = base_cfg();
  ho_client_action a;
  ho_client_core *c = after_hello(&cfg, HO_OK, &a);
  cr_assert_eq(a.type, HO_CACT_READ);
  static uint8_t big[1 << 16];
  cr_assert_eq(ho_client_core_data(c, big, a.len + 1, 13), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_core_timeout(c, 14), HO_OK); /* the read is still pending */
  ho_client_result r;
  cr_assert_eq(cfx_result_del(c, &r), HO_ERR_TIMEOUT);
}

static uint64_t backwards_us(void *u) {
  uint64_t *t = u;
  return (*t)--; /* every reading earlier than the one before */
}

/* A Negotiated without a token: the client reconnects on backend_pipe; the
 * measurements come from a clock that goes backwards, so each is 0. */
Test(client_core_more, a_clock_going_backwards_measures_zero) {
  ho_client_config cfg = base_cfg();
  uint64_t t = 1000000;
  cfg.measure_us = backwards_us;
  cfg.measure_user = &t;
  cfg.io_timeout_ms = 700; /* not the default */
  ho_client_action a;
  ho_client_core *c = after_hello(&cfg, HO_OK, &a);
  cr_assert_eq(a.type, HO_CACT_READ);
  uint8_t buf[512];
  size_t n = cfx_negotiated(buf, sizeof buf, "/tmp/ho-client-more-pipe.sock", 0, NULL, 0);
  size_t off = 0;
  while (a.type == HO_CACT_READ && off < n) {
    size_t k = n - off < a.len ? n - off : a.len;
    cr_assert_eq(ho_client_core_data(c, buf + off, k, 13), HO_OK);
    off += k;
    cr_assert_eq(ho_client_core_next(c, &a), 1);
  }
  if (a.type == HO_CACT_CLOSE) cr_assert_eq(ho_client_core_next(c, &a), 1);
  cr_assert_eq(a.type, HO_CACT_CONNECT);
  cr_assert_str_eq(a.path, "/tmp/ho-client-more-pipe.sock");
  cr_assert_eq(ho_client_core_connected(c, HO_OK, 14), HO_OK);
  while (a.type != HO_CACT_DONE) cr_assert_eq(ho_client_core_next(c, &a), 1);
  ho_client_result r;
  cr_assert_eq(cfx_result_del(c, &r), HO_OK);
  cr_assert_eq(r.route, HO_ROUTE_RECONNECT);
  cr_assert_lt(t, 1000000 - 2, "the clock was read");
  cr_assert_eq(r.negotiated_us, 0);
  cr_assert_eq(r.connected_us, 0);
}
