/* Unit tests: the edges of the sans-I/O backend core (issue #17 branch
 * coverage) — the argument checks of every public function, the
 * configuration values that are refused or replaced by a default, the
 * fault names, input the core gets while it waits or with no bytes, an
 * offer deadline without a wall clock, a write error without a name, a
 * check_handle that accepts without a handle. Real descriptors (socketpairs), counted. Coalesced replies,
 * deleting with actions undrained, the action queue and allocation
 * failures: test_backend_core_cov2.c. */
#include "backend/replay.h"
#include "backend_core_fixtures.h"

#define NOW 100u

/* ---- arguments ----------------------------------------------------------- */

Test(backend_core_cov, config_init_and_fault_parse_check_their_arguments) {
  ho_backend_config_init(NULL); /* no-op */
  ho_backend_fault fault = HO_FAULT_REFUSE;
  uint32_t ms = 77;
  cr_assert_eq(ho_backend_fault_parse(NULL, &fault, &ms), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_fault_parse("none", NULL, &ms), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_fault_parse("none", &fault, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert(fault == HO_FAULT_REFUSE && ms == 77, "outputs untouched");
}

Test(backend_core_cov, late_ack_needs_digits_only_and_at_most_an_hour) {
  ho_backend_fault fault = HO_FAULT_REFUSE;
  uint32_t ms = 77;
  const char *bad[] = {"late-ack::", "late-ack:/", "late-ack:5x", "late-ack:12 ", "late-ack:3600001",
                       "late-ack:99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(ho_backend_fault_parse(bad[i], &fault, &ms), HO_ERR_INVALID_ARGUMENT, "%s", bad[i]);
    cr_assert(fault == HO_FAULT_REFUSE && ms == 77, "%s: outputs untouched", bad[i]);
  }
  cr_assert_eq(ho_backend_fault_parse("late-ack:3600000", &fault, &ms), HO_OK);
  cr_assert(fault == HO_FAULT_LATE_ACK && ms == 3600000u, "the largest delay");
  cr_assert_eq(ho_backend_fault_parse("late-ack:0", &fault, &ms), HO_OK);
  cr_assert(fault == HO_FAULT_LATE_ACK && ms == 0u);
}

Test(backend_core_cov, refusal_name_of_an_unknown_reason) {
  cr_assert_str_eq(ho_backend_refusal_name(HO_REFUSAL_COUNT_), "UNKNOWN");
  cr_assert_str_eq(ho_backend_refusal_name((ho_backend_refusal)-1), "UNKNOWN");
  cr_assert_str_eq(ho_backend_refusal_name(HO_REFUSAL_READY_WRITE), "READY_WRITE");
}

static void nop_close(void *ctx, ho_handle h) {
  (void)ctx;
  (void)h;
}

/* The header's contract of ho_backend_core_new: what is refused, *out
 * untouched. */
Test(backend_core_cov, core_new_refuses_what_the_header_says) {
  ho_backend_core *core = (ho_backend_core *)&core; /* a sentinel: must stay */
  ho_backend_core *const sentinel = core;
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.close_handle = nop_close;
  cr_assert_eq(ho_backend_core_new(&cfg, NULL), HO_ERR_INVALID_ARGUMENT);
  /* NULL config: the defaults, which have no close_handle (required). */
  cr_assert_eq(ho_backend_core_new(NULL, &core), HO_ERR_INVALID_ARGUMENT);
  ho_backend_config c = cfg;
  c.ready_mode = (ho_ready_mode)7;
  cr_assert_eq(ho_backend_core_new(&c, &core), HO_ERR_INVALID_ARGUMENT, "unknown ready mode");
  c = cfg;
  c.codec = (ho_codec)99;
  cr_assert_eq(ho_backend_core_new(&c, &core), HO_ERR_INVALID_ARGUMENT, "unknown codec");
  char longname[HO_MAX_SERVICE_NAME + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  c = cfg;
  c.service_name = longname;
  cr_assert_eq(ho_backend_core_new(&c, &core), HO_ERR_INVALID_ARGUMENT, "service name too long");
  c = cfg;
  c.replay_capacity = (size_t)HO_TOKEN_MAX_PENDING_LIMIT + 1;
  cr_assert_eq(ho_backend_core_new(&c, &core), HO_ERR_INVALID_ARGUMENT, "replay set too large");
  cr_assert_eq(core, sentinel, "*out untouched on every error");
  /* the longest name is fine */
  longname[HO_MAX_SERVICE_NAME] = '\0';
  c = cfg;
  c.service_name = longname;
  c.replay_capacity = 4;
  cr_assert_eq(ho_backend_core_new(&c, &core), HO_OK);
  ho_backend_core_del(core);
}

Test(backend_core_cov, every_public_function_takes_null) {
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_LEGACY, NULL);
  ho_backend_core_del(NULL);
  ho_backend_counters k;
  memset(&k, 0xAB, sizeof k);
  ho_backend_core_counters(NULL, &k);
  cr_assert_eq(k.offers, 0xABABABABABABABABull, "untouched");
  ho_backend_core_counters(f.core, NULL);
  cr_assert_eq(ho_backend_core_set_refusing(NULL, HO_OK), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_IO), HO_ERR_INVALID_ARGUMENT);
  ho_backend_ctl *ctl = NULL;
  cr_assert_eq(ho_backend_ctl_new(NULL, &ctl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(ctl);
  cr_assert_eq(ho_backend_ctl_new(f.core, NULL), HO_ERR_INVALID_ARGUMENT);
  int tag = 0;
  ho_backend_ctl_set_user(NULL, &tag);
  cr_assert_null(ho_backend_ctl_user(NULL));
  cr_assert_null(ho_backend_ctl_user(f.ctl), "NULL by default");
  ho_backend_ctl_set_user(f.ctl, &tag);
  cr_assert_eq(ho_backend_ctl_user(f.ctl), &tag);
  ho_backend_ctl_del(NULL);
  ho_backend_action a;
  cr_assert_eq(ho_backend_ctl_next_action(NULL, &a), 0);
  cr_assert_eq(ho_backend_ctl_next_action(f.ctl, NULL), 0);
  ho_backend_ctl_eof(NULL);
  uint64_t at = 5;
  cr_assert_eq(ho_backend_ctl_next_deadline(NULL, &at), 0);
  cr_assert_eq(ho_backend_ctl_next_deadline(f.ctl, NULL), 0);
  cr_assert_eq(at, 5u);
  cr_assert_eq(ho_backend_ctl_timer(NULL, 1), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_ctl_client_written(NULL, 1, HO_OK), HO_ERR_STATE);
  cr_assert_eq(ho_backend_ctl_wanted(NULL), 0u);
  cr_assert_not(ho_backend_ctl_at_sideband(NULL));
  size_t used = 9;
  uint8_t b[4] = {0};
  cr_assert_eq(ho_backend_ctl_feed(NULL, 1, b, 4, HO_NO_HANDLE, HO_OK, &used),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(used, 0u);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, NULL, 4, HO_NO_HANDLE, HO_OK, &used),
               HO_ERR_INVALID_ARGUMENT, "no data but a length");
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, b, 4, HO_NO_HANDLE, HO_OK, NULL), HO_OK,
               "consumed is optional");
  ho_backend_ctl_eof(f.ctl);
  core_down(&f);
}

/* The replay set's own argument checks (internal, ref/lib/backend/replay.h). */
Test(backend_core_cov, replay_init_checks_its_arguments) {
  ho_replay r;
  memset(&r, 0, sizeof r);
  cr_assert_eq(ho_replay_init(NULL, 4, 1000, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_replay_init(&r, 0, 1000, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_replay_init(&r, (size_t)HO_TOKEN_MAX_PENDING_LIMIT + 1, 1000, NULL),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(r.store, "untouched on error");
  ho_replay_free(NULL);
  cr_assert_eq(ho_replay_init(&r, 2, 1000, NULL), HO_OK);
  uint8_t t[HO_TOKEN_BYTES];
  fx_token(t, 1);
  cr_assert_not(ho_replay_contains(&r, t, 0));
  cr_assert_eq(ho_replay_add(&r, t, 0, 1000), HO_OK);
  cr_assert(ho_replay_contains(&r, t, 999));
  ho_replay_free(&r);
  cr_assert_null(r.store);
}

/* ---- configuration defaults --------------------------------------------- */

static void zeros(ho_backend_config *cfg) {
  cfg->offer_timeout_ms = 0;
  cfg->replay_capacity = 0;
  cfg->token_ttl_ms = 0;
}

/* spec: BACKEND-10 TOKEN-17 TOKEN-18 — 0 is no valid OFFER_TIMEOUT, replay
 * capacity or TTL: the timeout becomes the default 2000 ms, the set holds
 * one token, which is remembered (at least) for the instant it was
 * accepted. */
Test(backend_core_cov, zero_timeout_capacity_and_ttl_take_their_floor) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_LEGACY, zeros);
  uint8_t ta[HO_TOKEN_BYTES], tb[HO_TOKEN_BYTES], frame[512];
  fx_token(ta, 21);
  fx_token(tb, 22);
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, NOW, ta, 1, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  uint64_t at = 0;
  cr_assert_eq(ho_backend_ctl_next_deadline(f.ctl, &at), 1);
  cr_assert_eq(at, NOW + 2000u, "OFFER_TIMEOUT 0 → 2000 ms");
  ho_backend_ctl_eof(f.ctl);
  drain(&f);
  ho_backend_ctl_del(f.ctl);
  cr_assert_eq(ho_backend_ctl_new(f.core, &f.ctl), HO_OK);

  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  size_t n = offer_with_deadline(frame, sizeof frame, ta, 1, 0, 0, 1);
  feed_sb_frame(&f, NOW, ta, sv[0], frame, n);
  drain(&f);
  cr_assert(first_ack(&f).accepted);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_ADOPT));
  close(sv[0]);
  close(sv[1]);

  fx_socketpair(SOCK_STREAM, sv);
  n = offer_with_deadline(frame, sizeof frame, tb, 2, 0, 0, 2);
  feed_sb_frame(&f, NOW, tb, sv[0], frame, n);
  expect_refusal(&f, ho_errname(HO_ERR_PENDING_LIMIT), 2); /* capacity 1: full */
  close(sv[1]);

  fx_socketpair(SOCK_STREAM, sv);
  n = offer_with_deadline(frame, sizeof frame, ta, 3, 0, 0, 3);
  feed_sb_frame(&f, NOW, ta, sv[0], frame, n);
  expect_refusal(&f, ho_errname(HO_ERR_TOKEN_NOT_PENDING), 3); /* TTL 0 → 1: still known */
  close(sv[1]);

  fx_socketpair(SOCK_STREAM, sv); /* later: ta forgotten, room for tb */
  n = offer_with_deadline(frame, sizeof frame, tb, 4, 0, 0, 4);
  feed_sb_frame(&f, NOW + 10, tb, sv[0], frame, n);
  drain(&f);
  cr_assert(first_ack(&f).accepted);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_ADOPT));
  close(sv[0]);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(c.n, 0u, "everything went out as actions");
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- feeding edges ------------------------------------------------------- */

Test(backend_core_cov, no_bytes_and_no_descriptor_change_nothing) {
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_LEGACY, NULL);
  size_t used = 7;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, NOW, NULL, 0, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, 0u);
  cr_assert(ho_backend_ctl_at_sideband(f.ctl));
  uint64_t at = 0;
  cr_assert_eq(ho_backend_ctl_next_deadline(f.ctl, &at), 0, "no handoff has begun");
  drain(&f);
  cr_assert_eq(f.nacts, 0u);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 3);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, NOW, tok, 5, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_not(ho_backend_ctl_at_sideband(f.ctl), "inside a sideband");
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), HO_TOKEN_BYTES - 5u);
  core_down(&f);
}

/* spec: XFER-22 ERR-4 — a descriptor that comes with no byte of the stream
 * cannot be matched to a sideband: it is closed with the control
 * connection. */
Test(backend_core_cov, a_descriptor_without_bytes_closes_the_control) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_LEGACY, NULL);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  size_t used = 7;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, NOW, NULL, 0, sv[0], HO_OK, &used), HO_OK);
  cr_assert_eq(used, 0u);
  drain(&f);
  const ho_backend_action *cf = find(&f, HO_BACKEND_ACT_CLOSE_FD);
  cr_assert_not_null(cf);
  cr_assert_eq(cf->conn, sv[0]);
  const ho_backend_action *cc = find(&f, HO_BACKEND_ACT_CLOSE_CONTROL);
  cr_assert_not_null(cc);
  cr_assert_eq(cc->err, HO_ERR_EXTRA_DESCRIPTORS);
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 0u);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(c.n, 0u);
  cr_assert_eq(fx_count_fds(), before);
}

/* While a ready write is outstanding nothing is read: input then is a
 * state error and a descriptor that came with it is closed. */
Test(backend_core_cov, input_while_the_ready_write_is_outstanding) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_BACKEND, NULL);
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2], sw[2];
  fx_socketpair(SOCK_STREAM, sw);
  feed_ready_offer(&f, NOW, 4, 9, tok, sv);
  drain(&f);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT));
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 0u, "nothing is read meanwhile");
  size_t used = 7;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, NOW, tok, 4, sw[0], HO_OK, &used), HO_ERR_STATE);
  cr_assert_eq(used, 0u);
  drain(&f);
  cr_assert_eq(f.nacts, 1u);
  cr_assert_eq(f.acts[0].type, HO_BACKEND_ACT_CLOSE_FD);
  cr_assert_eq(f.acts[0].conn, sw[0]);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, NOW, HO_OK), HO_OK, "the offer goes on");
  drain(&f);
  cr_assert(first_ack(&f).accepted);
  const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  cr_assert_eq(ad->conn, sv[0]);
  cr_assert(ho_backend_ctl_at_sideband(f.ctl));
  close(sv[0]);
  close(sv[1]);
  close(sw[1]);
  core_down(&f);
  cr_assert_eq(c.n, 0u);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-18 ERR-2 — error_detail is an error name: a write result the
 * shell reports without one is named IO. */
Test(backend_core_cov, a_ready_write_error_without_a_name_is_io) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_BACKEND, NULL);
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  feed_ready_offer(&f, NOW, 5, 10, tok, sv);
  drain(&f);
  cr_assert_null(ho_errname(-987654));
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, NOW, -987654), HO_OK);
  expect_refusal(&f, "IO", 10);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_CLOSE_FD), "the descriptor is closed");
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, NOW, HO_OK), HO_ERR_STATE, "only once");
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

static void no_wall(ho_backend_config *cfg) { cfg->wall_clock_ms = NULL; }

/* spec: READY-11 TOKEN-21 — without a wall clock no deadline can be
 * honoured: an offer carrying one is refused TIMEOUT; one without is
 * accepted. */
Test(backend_core_cov, a_deadline_without_a_wall_clock_is_refused) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_LEGACY, no_wall);
  uint8_t tok[HO_TOKEN_BYTES], frame[512];
  fx_token(tok, 6);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  size_t n = offer_with_deadline(frame, sizeof frame, tok, 11, 0, 5000000, 11);
  feed_sb_frame(&f, NOW, tok, sv[0], frame, n);
  expect_refusal(&f, "TIMEOUT", 11);
  ho_backend_counters k = counters_of(&f);
  cr_assert_eq(k.refused_by[HO_REFUSAL_OFFER_DEADLINE], 1u);
  close(sv[1]);
  fx_socketpair(SOCK_STREAM, sv);
  n = offer_with_deadline(frame, sizeof frame, tok, 12, 0, 0, 12);
  feed_sb_frame(&f, NOW, tok, sv[0], frame, n);
  drain(&f);
  cr_assert(first_ack(&f).accepted, "the refusal recorded nothing: the token is new");
  close(sv[0]);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- no sideband: check_handle ------------------------------------------ */

static int ok_without_handle(void *ctx, void *ctl_user, uint64_t value, ho_handle *conn) {
  (void)ctx;
  (void)ctl_user;
  (void)value;
  (void)conn; /* HO_OK, but no handle given */
  return HO_OK;
}

static void win_layout(ho_backend_config *cfg) {
  cfg->no_sideband = true;
  cfg->check_handle = ok_without_handle;
}

/* spec: XFER-32 XFER-38 — a check that names no handle has not given one:
 * BAD_DESCRIPTOR, and nothing is closed. */
Test(backend_core_cov, check_handle_ok_without_a_handle_is_a_bad_descriptor) {
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_LEGACY, win_layout);
  uint8_t tok[HO_TOKEN_BYTES], frame[512];
  fx_token(tok, 7);
  size_t n = offer_frame_named(frame, sizeof frame, tok, "echo", 13, 1234, 0, 0, 13);
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, NOW, frame, n, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, n);
  expect_refusal(&f, ho_errname(HO_ERR_BAD_DESCRIPTOR), 13);
  cr_assert_null(find(&f, HO_BACKEND_ACT_CLOSE_FD), "not ours to close");
  core_down(&f);
  cr_assert_eq(c.n, 0u);
}
