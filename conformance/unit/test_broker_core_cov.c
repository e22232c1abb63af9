/* The broker core's lifecycle, action queue and connection events
 * (ref/lib/broker/broker_core.c) at their edges (issue #17): argument checks
 * of every public entry point, configurations ho_broker_new() refuses, a
 * Hello larger than the inline buffer, a dial that fails for lack of our
 * own descriptors, unknown error codes, events in states that ignore them
 * and a core freed with actions not taken. Allocation failures of the same
 * file are in conformance/broker/test_broker_failmalloc.c (malloc wrapped). */
#include "broker_test_util.h"
#include "handoff/fallback.h"
#include "handoff/frame.h"

/* ---- ho_broker_new ---------------------------------------------------------- */

/* ho_broker_new() refuses `cfg` with `want`, leaving *out untouched. */
static void refused(const ho_broker_config *cfg, int want, const char *what) {
  ho_broker *sentinel = (ho_broker *)&dummy_client, *b = sentinel;
  cr_assert_eq(ho_broker_new(cfg, 1 * MS, &b), want, "%s", what);
  cr_assert_eq(b, sentinel, "%s: *out untouched on failure", what);
}

Test(broker_core_cov, new_refuses_null_and_missing_arguments) {
  ho_broker_config cfg = base_cfg();
  ho_broker *b = NULL;
  cr_assert_eq(ho_broker_new(NULL, 1 * MS, &b), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_new(&cfg, 1 * MS, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(b);
  cfg.service = NULL;
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "no service");
  cfg = base_cfg();
  cfg.backend_pipe = NULL;
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "no backend_pipe");
}

/* spec: HELLO-8 — a service name is [a-z0-9-]{1,64}; backend_pipe is what
 * Negotiated carries: 1 to HO_MAX_BACKEND_PIPE bytes. */
Test(broker_core_cov, new_refuses_a_bad_service_name_or_backend_pipe) {
  ho_broker_config cfg = base_cfg();
  cfg.service = "Not_Valid";
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "service outside [a-z0-9-]");
  cfg = base_cfg();
  cfg.backend_pipe = "";
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "empty backend_pipe");
  char pipe[HO_MAX_BACKEND_PIPE + 2];
  memset(pipe, 'p', sizeof pipe - 1);
  pipe[sizeof pipe - 1] = '\0'; /* HO_MAX_BACKEND_PIPE + 1 bytes */
  cfg.backend_pipe = pipe;
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "backend_pipe above HO_MAX_BACKEND_PIPE");
  pipe[HO_MAX_BACKEND_PIPE] = '\0'; /* exactly the maximum: accepted */
  acts x;
  ho_broker_conn *ctl, *c;
  ho_broker *b = mk_cfg(&cfg, &x, &ctl);
  ho_negotiated n;
  ho_envelope e;
  (void)run_to_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, &n, &e, 3 * MS);
  cr_assert_str_eq(n.backend_pipe, pipe, "Negotiated carries the whole configured backend_pipe");
  bt_end(b, &x, 4 * MS);
}

/* The parts ho_broker_new() builds refuse their configuration: the token
 * store (max_pending), the Hello rate table (hello_rate_pids), the token
 * store's key from the random source (spec: TOKEN-1). Nothing is left. */
static int failing_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx, (void)buf, (void)len;
  return -1;
}

Test(broker_core_cov, new_refuses_what_its_parts_refuse) {
  ho_broker_config cfg = base_cfg();
  cfg.max_pending = HO_TOKEN_MAX_PENDING_LIMIT + 1;
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "max_pending above the token store's limit");
  cfg = base_cfg();
  cfg.hello_rate = 0; /* the default rate: a table of hello_rate_pids */
  cfg.hello_rate_pids = (1u << 24) + 1;
  refused(&cfg, HO_ERR_INVALID_ARGUMENT, "hello_rate_pids above 2^24");
  cfg = base_cfg();
  cfg.random = failing_random;
  refused(&cfg, HO_ERR_RANDOM, "no token key from the random source");
}

/* spec: FALLBACK-7 — FAILURE_WINDOW is configurable (failure_window_ms):
 * eight refusals rate-limit the backend; the limit ends with the window
 * the configuration gives, not with the default 30 s one. */
static bool offered_after_eight_refusals(uint64_t window_ms, uint64_t later) {
  ho_broker_config cfg = multi_cfg();
  cfg.failure_window_ms = window_ms;
  BT_DECL(x, b, ctl, c, mk_cfg(&cfg, &x, &ctl));
  for (uint64_t i = 0; i < HO_FALLBACK_DEFAULT_FAILURES; i++) {
    ho_offer o = bt_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, (3 + i) * MS);
    send_ack(b, ctl, &o, false, HO_BACKEND_CAP_MULTI_OFFER, (3 + i) * MS);
    drain(b, &x);
  }
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_ACK_REFUSED], HO_FALLBACK_DEFAULT_FAILURES);
  cr_assert_eq(bt_hello(b, HO_CAP_HANDLE_PASSING, &c, &x, 20 * MS).negotiated.handle_passed_token_len,
               0, "rate-limited inside the window: no token");
  bool offered =
      bt_hello(b, HO_CAP_HANDLE_PASSING, &c, &x, later).negotiated.handle_passed_token_len == 16;
  bt_end(b, &x, later + 1 * MS);
  return offered;
}

Test(broker_core_cov, failure_window_is_the_configured_one) {
  cr_assert(offered_after_eight_refusals(50 * MS, 60 * MS), "a 50 ms window is over at 60 ms");
  cr_assert_not(offered_after_eight_refusals(0, 60 * MS), "the default 30 s window is not");
}

/* ---- the action queue and the handles' accessors ------------------------------ */

Test(broker_core_cov, null_arguments_of_the_small_entry_points) {
  BT_BROKER(x, b, ctl, c);
  ho_broker_action a;
  memset(&a, 0x5a, sizeof a);
  cr_assert_eq(ho_broker_next_action(NULL, &a), 0);
  cr_assert_eq(ho_broker_next_action(b, NULL), 0);
  cr_assert_eq(a.type, (ho_broker_action_type)0x5a5a5a5a, "nothing written");
  ho_broker_stats st;
  memset(&st, 0x5a, sizeof st);
  ho_broker_get_stats(NULL, &st);
  ho_broker_get_stats(b, NULL);
  cr_assert_eq(st.open_conns, 0x5a5a5a5a5a5a5a5aull, "nothing written");
  ho_broker_del(NULL);
  ho_broker_set_fd_pressure(NULL, true);
  cr_assert_eq(ho_broker_timer(NULL, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_shutdown(NULL, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(ho_broker_conn_user(NULL));
  ho_broker_conn_set_user(NULL, &dummy_client);
  cr_assert_not(ho_broker_conn_is_control(NULL));
  cr_assert(ho_broker_conn_is_control(ctl));
  cr_assert_eq(ho_broker_conn_user(ctl), &dummy_ctl, "the pointer drain() set");
  ho_peer_cred p = {.pid = 42};
  cr_assert_eq(ho_broker_client_open(NULL, &dummy_client, &p, 3 * MS, &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 3 * MS, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(c);
  st = bt_stats(b);
  cr_assert_eq(st.open_conns, 1, "only the control connection: no client was opened");
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 3 * MS, &c), HO_OK);
  cr_assert_not(ho_broker_conn_is_control(c));
  cr_assert_eq(ho_broker_conn_user(c), &dummy_client);
  int other;
  ho_broker_conn_set_user(c, &other);
  cr_assert_eq(ho_broker_conn_user(c), &other);
  bt_end(b, &x, 4 * MS);
  cr_assert_eq(x.a[close_of(&x, &other, true)].type, HO_BACT_CLOSE, "CLOSE carries the new pointer");
}

/* ---- client events ---------------------------------------------------------- */

Test(broker_core_cov, client_entry_points_check_their_arguments) {
  BT_BROKER(x, b, ctl, c);
  ho_peer_cred p = {.pid = 42};
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 3 * MS, &c), HO_OK);
  size_t want = ho_broker_client_wants(b, c);
  cr_assert_eq(want, HO_FRAME_HEADER_BYTES, "spec: FRAME-6 — the header first");
  cr_assert_eq(ho_broker_client_wants(b, NULL), 0);
  cr_assert_eq(ho_broker_client_wants(b, ctl), 0, "a control connection reads no Hello");
  uint8_t byte = HO_FRAMING_VERSION;
  cr_assert_eq(ho_broker_client_data(NULL, c, &byte, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_client_data(b, NULL, &byte, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_client_data(b, ctl, &byte, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_client_data(b, c, NULL, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_client_wants(b, c), want, "no refused call read anything");
  cr_assert_eq(ho_broker_client_data(b, c, NULL, 0, 3 * MS), HO_OK, "nothing, no bytes: fine");
  cr_assert_eq(ho_broker_client_wants(b, c), want);
  cr_assert_eq(ho_broker_conn_error(NULL, c, HO_ERR_CLOSED, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_conn_error(b, NULL, HO_ERR_CLOSED, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_conn_flushed(NULL, c, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_conn_flushed(b, NULL, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  drain(b, &x);
  cr_assert_eq(close_of(&x, &dummy_client, true), -1, "the client is still open");
  /* the Hello still goes through */
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  for (size_t off = 0; off < len; off++)
    cr_assert_eq(ho_broker_client_data(b, c, wire + off, 1, 3 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(reply_of(&x, find(&x, HO_BACT_WRITE, 0)).which, HO_REPLY_NEGOTIATED);
  bt_end(b, &x, 4 * MS);
}

/* A flush reported for a client that has nothing queued (still reading its
 * Hello) changes nothing: no action, the Hello is still read. */
Test(broker_core_cov, flush_of_a_client_reading_its_hello_changes_nothing) {
  BT_BROKER(x, b, ctl, c);
  ho_peer_cred p = {.pid = 42};
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 3 * MS, &c), HO_OK);
  drain(b, &x);
  cr_assert_eq(ho_broker_client_data(b, c, (const uint8_t[]){HO_FRAMING_VERSION}, 1, 3 * MS), HO_OK);
  size_t want = ho_broker_client_wants(b, c);
  cr_assert_eq(ho_broker_conn_flushed(b, c, 3 * MS), HO_OK);
  drain(b, &x);
  cr_assert_eq(x.n, 0, "no action");
  cr_assert_eq(ho_broker_client_wants(b, c), want);
  bt_end(b, &x, 4 * MS);
}

/* Issue #11: a Hello whose body is larger than the handle's inline buffer
 * is read into a buffer grown on demand, and answered as any other. */
Test(broker_core_cov, hello_above_the_inline_buffer_is_read_whole) {
  BT_BROKER(x, b, ctl, c);
  ho_any_msg m = hello_msg(HO_CAP_HANDLE_PASSING, "echo");
  memset(m.hello.client_version, 'v', HO_MAX_CLIENT_VERSION);
  memset(m.hello.request_id, 'r', HO_MAX_REQUEST_ID);
  uint8_t wire[1024];
  size_t len = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, wire, sizeof wire, &len), HO_OK);
  cr_assert_gt(len - HO_FRAME_HEADER_BYTES, 160, "a body above the 160-byte inline buffer");
  cr_assert_eq(feed(b, &c, wire, len, 3 * MS), len);
  cr_assert_eq(ho_broker_client_wants(b, c), 0);
  drain(b, &x);
  ho_hello_reply r = reply_of(&x, find(&x, HO_BACT_WRITE, 0));
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(r.negotiated.handle_passed_token_len, 16);
  bt_end(b, &x, 4 * MS);
}

/* ---- control connection events ---------------------------------------------- */

Test(broker_core_cov, control_entry_points_check_their_arguments) {
  ho_broker_config cfg = base_cfg();
  BT_DECL(x, b, k, c, mk_dialling(&cfg, &x, &k));
  ho_peer_cred p = {.pid = 42};
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 2 * MS, &c), HO_OK);
  cr_assert_eq(ho_broker_control_connected(NULL, k, 2 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_control_connected(b, NULL, 2 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_control_connected(b, c, 2 * MS), HO_ERR_INVALID_ARGUMENT,
               "a client is no control connection");
  cr_assert_eq(ho_broker_control_connected(b, k, 2 * MS), HO_OK);
  cr_assert_eq(ho_broker_control_connected(b, k, 2 * MS), HO_ERR_INVALID_ARGUMENT, "already up");
  uint8_t byte = HO_FRAMING_VERSION;
  cr_assert_eq(ho_broker_control_data(NULL, k, &byte, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_control_data(b, NULL, &byte, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_control_data(b, c, &byte, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_control_data(b, k, NULL, 1, 3 * MS), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_broker_control_data(b, k, NULL, 0, 3 * MS), HO_OK, "nothing, no bytes: fine");
  drain(b, &x);
  cr_assert_eq(close_of(&x, NULL, true), -1, "the control connection stays");
  cr_assert_eq(close_of(&x, &dummy_ctl, true), -1, "the control connection stays");
  /* it still takes an offer */
  ho_broker_conn *c2;
  ho_offer o = bt_offer(b, HO_CAP_HANDLE_PASSING, &c2, &x, 3 * MS);
  cr_assert_eq(x.a[find(&x, HO_BACT_SEND_FD, 0)].conn, k);
  send_ack(b, k, &o, true, 0, 3 * MS);
  drain(b, &x);
  cr_assert_eq(ho_broker_conn_flushed(b, c2, 3 * MS), HO_OK); /* the ready frame is written */
  drain(b, &x);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.handoffs_completed, 1);
  bt_end(b, &x, 4 * MS);
}

/* spec: FALLBACK-25 XFER-23 — a dial that failed for lack of our own
 * descriptors (HO_ERR_FD_EXHAUSTED) fails the attempts waiting for it as
 * fd_exhausted (the spec's FD_PRESSURE), which is no failure of the
 * backend: nine of them in a row leave the rate limit untouched. */
Test(broker_core_cov, dial_without_descriptors_is_not_the_backends_failure) {
  ho_broker_config cfg = base_cfg();
  BT_DECL(x, b, k, c, mk_dialling(&cfg, &x, &k));
  for (int i = 0; i < 9; i++) {
    cr_assert_eq(bt_hello(b, HO_CAP_HANDLE_PASSING, &c, &x, 3 * MS).negotiated.handle_passed_token_len,
                 16, "round %d: not rate-limited", i);
    cr_assert_eq(ho_broker_conn_flushed(b, c, 3 * MS), HO_OK); /* queued: no control up */
    drain(b, &x);
    int d = find(&x, HO_BACT_OPEN_CONTROL, 0);
    cr_assert(i == 0 || d >= 0, "round %d: the previous dial failed: a new one for this attempt", i);
    if (i > 0) k = x.a[d].conn;
    cr_assert_eq(find(&x, HO_BACT_SEND_FD, 0), -1);
    cr_assert_eq(ho_broker_conn_error(b, k, HO_ERR_FD_EXHAUSTED, 3 * MS), HO_OK);
    drain(b, &x);
    cr_assert_geq(close_of(&x, &dummy_client, true), 0, "round %d: the client falls back", i);
  }
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED], 9);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_BACKEND_UNAVAILABLE], 0);
  cr_assert_str_eq(ho_broker_reason_spec_name(HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED), "FD_PRESSURE");
  cr_assert_not(ho_broker_reason_counts(HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED));
  bt_end(b, &x, 4 * MS);
}

/* ---- unknown error codes ----------------------------------------------------- */

typedef struct loglines {
  int n;
  char line[16][512];
} loglines;

static void keep_line(void *user, int level, const char *line) {
  (void)level;
  loglines *l = user;
  if (l->n < 16) snprintf(l->line[l->n++], sizeof l->line[0], "%s", line);
}

static bool logged(const loglines *l, const char *text) {
  for (int i = 0; i < l->n; i++)
    if (strstr(l->line[i], text) != NULL) return true;
  return false;
}

/* An error code the library does not know is still an error: the
 * connection is closed and the log names it "?". */
Test(broker_core_cov, unknown_error_codes_close_and_log_a_question_mark) {
  static const int unknown = -987654;
  cr_assert_null(ho_errname(unknown));
  loglines l = {0};
  ho_broker_config cfg = base_cfg();
  cfg.log = keep_line;
  cfg.log_user = &l;
  cfg.log_level = HO_BROKER_LOG_DEBUG;
  acts x;
  ho_broker_conn *ctl, *c;
  ho_broker *b = mk_cfg(&cfg, &x, &ctl);
  ho_peer_cred p = {.pid = 42};
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, 3 * MS, &c), HO_OK);
  l.n = 0;
  cr_assert_eq(ho_broker_conn_error(b, c, unknown, 3 * MS), HO_OK);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &dummy_client, true), 0, "spec: ERR-12 — closed, no reply");
  cr_assert_eq(find(&x, HO_BACT_WRITE, 0), -1);
  cr_assert(logged(&l, "peer closed (?)"), "client line: %s", l.n ? l.line[0] : "(none)");
  l.n = 0;
  cr_assert_eq(ho_broker_conn_error(b, ctl, unknown, 3 * MS), HO_OK);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &dummy_ctl, true), 0, "the control connection is closed");
  cr_assert(logged(&l, "closed: ?"), "control line: %s", l.n ? l.line[0] : "(none)");
  bt_end(b, &x, 4 * MS);
}

/* ---- freeing -------------------------------------------------------------------- */

/* ho_broker_del() frees the bytes of actions not taken (a Negotiated
 * WRITE and a fallback's): under SAN=1 LeakSanitizer holds it to that. */
Test(broker_core_cov, del_frees_actions_not_taken) {
  BT_BROKER(x, b, ctl, c);
  uint8_t wire[512];
  size_t len = hello_frame(HO_CAP_HANDLE_PASSING, "echo", wire, sizeof wire);
  feed(b, &c, wire, len, 3 * MS); /* its Negotiated WRITE stays queued */
  cr_assert_eq(ho_broker_shutdown(b, 4 * MS), HO_OK); /* spec: BROKER-7 — every handle closed */
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.open_conns, 0);
  cr_assert_eq(st.tokens_pending, 0, "BROKER-4: no token left after shutdown");
  bt_invariants(b);
  ho_broker_del(b); /* with WRITE, CLOSE and SET_TIMER actions not taken */
}

/* ---- shutdown ------------------------------------------------------------------- */

/* spec: BROKER-7 ACK-15 — a legacy attempt whose ACK was accepted but
 * whose ready frame is not yet written when the broker shuts down ends
 * there: no success (the ready is not known written), no failure counted,
 * reason shutdown, nothing left in flight. (Before the fix the attempt
 * stayed "in flight" with no handle: in_flight 1, open handles 0.) */
Test(broker_core_cov, shutdown_ends_an_attempt_whose_ready_is_unwritten) {
  BT_BROKER(x, b, ctl, c);
  ho_offer o = bt_offer(b, HO_CAP_HANDLE_PASSING, &c, &x, 3 * MS);
  send_ack(b, ctl, &o, true, 0, 3 * MS);
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0, "the ready frame is queued");
  cr_assert_eq(x.a[w].conn, c);
  ho_broker_stats st = bt_stats(b);
  cr_assert_eq(st.in_flight, 1, "in flight until the ready is written");
  cr_assert_eq(st.handoffs_completed, 0);
  bt_invariants(b);
  cr_assert_eq(ho_broker_shutdown(b, 4 * MS), HO_OK);
  drain(b, &x);
  cr_assert_geq(close_of(&x, &dummy_client, true), 0, "the broker's copy is closed");
  st = bt_stats(b);
  cr_assert_eq(st.in_flight, 0, "the attempt ended at shutdown");
  cr_assert_eq(st.handoffs_completed, 0, "spec: ACK-15 — no success: the ready is not written");
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_SHUTDOWN], 1);
  cr_assert_eq(st.fallbacks[HO_BROKER_REASON_CLIENT_GONE], 0, "the client did not leave");
  bt_end(b, &x, 5 * MS);
}
