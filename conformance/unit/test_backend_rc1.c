/* Unit tests: the backend core rules of spec 1.0.0-rc1 (issue #8) — offer
 * stall deadline, 64 KiB offer bound, correlation id 0, the refusal order,
 * draining and overload, replay memory from offer deadlines,
 * record-before-ready, MULTI_OFFER, and no descriptor closed by the core
 * itself. Real descriptors (socketpairs), counted before and after. */
#include "backend_core_fixtures.h"

/* Sideband + frame at monotonic time `now`, in one piece. */
static void feed_at(fx_core *f, uint64_t now, const uint8_t tok[HO_TOKEN_BYTES], ho_handle conn,
                    const uint8_t *frame, size_t flen) {
  uint8_t all[1024];
  cr_assert_leq(flen + HO_TOKEN_BYTES, sizeof all);
  memcpy(all, tok, HO_TOKEN_BYTES);
  memcpy(all + HO_TOKEN_BYTES, frame, flen);
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, now, all, HO_TOKEN_BYTES, conn, HO_OK, &used), HO_OK);
  cr_assert_eq(used, HO_TOKEN_BYTES);
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, now, all + HO_TOKEN_BYTES, flen, HO_NO_HANDLE, HO_OK,
                                   &used), HO_OK);
  cr_assert_eq(used, flen);
}

/* One offer of `tok` with a fresh socketpair; returns the refusal name ("" if
 * accepted; the adopted descriptor is closed). */
static const char *offer_once(fx_core *f, uint64_t now, const uint8_t tok[HO_TOKEN_BYTES],
                              uint64_t corr, uint64_t flags, uint64_t deadline, char out[HO_MAX_ERROR_DETAIL + 1]) {
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t fr[256];
  size_t flen = offer_with_deadline(fr, sizeof fr, tok, corr, flags, deadline, corr);
  feed_at(f, now, tok, sv[0], fr, flen);
  drain(f);
  const ho_backend_action *w = find(f, HO_BACKEND_ACT_WRITE_CLIENT);
  if (w != NULL) {
    cr_assert_eq(ho_backend_ctl_client_written(f->ctl, now, HO_OK), HO_OK);
    drain(f);
  }
  ho_ack ack;
  decode_ack(find(f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  snprintf(out, HO_MAX_ERROR_DETAIL + 1, "%s", ack.accepted ? "" : ack.error_detail);
  const ho_backend_action *ad = find(f, HO_BACKEND_ACT_ADOPT);
  if (ad != NULL) close((int)ad->conn);
  close(sv[1]);
  return out;
}

/* spec: FRAME-11 XFER-22 — the core asks for exactly the missing bytes of
 * the current part: 16 sideband bytes, the 5-byte header, the body; never
 * a byte of the next handoff. */
Test(backend_rc1, reads_exactly_the_current_part) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 50);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 3, 0), used;
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 16);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 10, sv[0], HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 6);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok + 10, 6, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 5, "then the header");
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, fr, 5, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), flen - 5, "then exactly the body");
  /* the offer and the next sideband in one buffer: only the offer is taken */
  uint8_t more[512];
  memcpy(more, fr + 5, flen - 5);
  memcpy(more + flen - 5, tok, 16);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, more, flen - 5 + 16, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, flen - 5, "not a byte of the next handoff");
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 16);
  drain(&f);
  close((int)find(&f, HO_BACKEND_ACT_ADOPT)->conn);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: BACKEND-10 ERR-46 ERR-4 — a stalled offer: no ACK, its descriptor
 * and the control connection closed at OFFER_TIMEOUT, not before. */
Test(backend_rc1, offer_stall_times_out) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  uint64_t at;
  cr_assert_eq(ho_backend_ctl_next_deadline(f.ctl, &at), 0, "idle: no deadline");
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 1);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 5, 0);
  size_t used;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1000, tok, 3, sv[0], HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_next_deadline(f.ctl, &at), 1);
  cr_assert_eq(at, 1000 + 2000, "OFFER_TIMEOUT 2 s from the first sideband byte");
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1500, tok + 3, 13, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1600, fr, flen - 4, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_timer(f.ctl, 2999), HO_OK);
  drain(&f);
  cr_assert_eq(f.nacts, 0, "nothing before the deadline");
  cr_assert(fx_fd_is_open(sv[0]));
  cr_assert_eq(ho_backend_ctl_timer(f.ctl, 3000), HO_OK);
  drain(&f);
  cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), "no ACK for an offer never read whole");
  const ho_backend_action *cc = find(&f, HO_BACKEND_ACT_CLOSE_CONTROL);
  cr_assert_not_null(cc);
  cr_assert_eq(cc->err, HO_ERR_TIMEOUT);
  cr_assert_not(fx_fd_is_open(sv[0]), "the descriptor of the stalled offer is closed");
  cr_assert_eq(ho_backend_ctl_next_deadline(f.ctl, &at), 0);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: BACKEND-11 ERR-48 FRAME-8 — an offer header announcing more than
 * 64 KiB closes the connection before any body byte is read or allocated;
 * a 64 KiB offer (unknown-field padding) is accepted. */
Test(backend_rc1, offer_bound_64k) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 2);
  uint8_t hdr[5];
  cr_assert_eq(ho_frame_write_header(hdr, 64 * 1024 + 1), HO_OK);
  size_t used;
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 16, sv[0], HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, hdr, 5, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  drain(&f);
  const ho_backend_action *cc = find(&f, HO_BACKEND_ACT_CLOSE_CONTROL);
  cr_assert_not_null(cc);
  cr_assert_eq(cc->err, HO_ERR_FRAME_TOO_LARGE);
  cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CONTROL));
  cr_assert_not(fx_fd_is_open(sv[0]));
  close(sv[1]);
  core_down(&f);

  /* Exactly 64 KiB: an offer whose envelope ends with an unknown field. */
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  fx_socketpair(SOCK_STREAM, sv);
  static uint8_t big[5 + 64 * 1024];
  uint8_t small[256];
  size_t slen = fx_offer_frame(small, sizeof small, tok, 3, 0);
  size_t body = slen - 5, pad = 64 * 1024 - body; /* tag 100 (wire type 2), 3-byte length */
  cr_assert_gt(pad, 6);
  memcpy(big + 5, small + 5, body);
  uint8_t *p = big + 5 + body;
  size_t n = pad - 2 - 3;
  *p++ = 0xa2, *p++ = 0x06; /* field 100, length-delimited */
  *p++ = (uint8_t)(0x80 | (n & 0x7f)), *p++ = (uint8_t)(0x80 | ((n >> 7) & 0x7f)), *p++ = (uint8_t)(n >> 14);
  memset(p, 'x', n);
  cr_assert_eq(ho_frame_write_header(big, 64 * 1024), HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 16, sv[0], HO_OK, &used), HO_OK);
  size_t off = 0;
  while (off < sizeof big) {
    cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, big + off, sizeof big - off, HO_NO_HANDLE, HO_OK,
                                     &used), HO_OK);
    cr_assert_gt(used, 0);
    off += used;
  }
  drain(&f);
  ho_ack ack;
  decode_ack(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  cr_assert(ack.accepted);
  close((int)find(&f, HO_BACKEND_ACT_ADOPT)->conn);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: ERR-47 XFER-13 — correlation id 0: a handoff-layer check
 * (CORRELATION_MISMATCH), the connection closed without ACK. */
Test(backend_rc1, correlation_zero_is_correlation_mismatch) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 4);
  size_t flen = offer_with_deadline(fr, sizeof fr, tok, 0, 0, 0, 0);
  feed_at(&f, 1, tok, sv[0], fr, flen);
  drain(&f);
  cr_assert_eq(find(&f, HO_BACKEND_ACT_OFFER)->err, HO_ERR_CORRELATION_MISMATCH);
  cr_assert_eq(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL)->err, HO_ERR_CORRELATION_MISMATCH);
  cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CONTROL));
  cr_assert_not(fx_fd_is_open(sv[0]));
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-36 BACKEND-14 BACKEND-7 — when several reasons apply, the first
 * in the fixed order is the one named; draining and overload refuse with
 * their names, and clearing them accepts again. */
Test(backend_rc1, refusal_order_and_refusing) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  char name[HO_MAX_ERROR_DETAIL + 1];
  uint8_t a[HO_TOKEN_BYTES], b[HO_TOKEN_BYTES];
  fx_token(a, 10);
  fx_token(b, 11);
  cr_assert_str_eq(offer_once(&f, 1, a, 1, 0, 0, name), "");
  /* replayed AND flagged for backend-ready AND past its deadline: replay first */
  cr_assert_str_eq(offer_once(&f, 2, a, 2, HO_OFFER_FLAG_BACKEND_READY, f.wall - 1, name),
                   "TOKEN_NOT_PENDING");
  /* flagged (no mode) AND draining AND past its deadline: the mode first */
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_DRAINING), HO_OK);
  cr_assert_str_eq(offer_once(&f, 3, b, 3, HO_OFFER_FLAG_BACKEND_READY, f.wall - 1, name),
                   "BACKEND_READY_UNSUPPORTED");
  /* draining AND past the deadline: DRAINING */
  cr_assert_str_eq(offer_once(&f, 4, b, 4, 0, f.wall - 1, name), "DRAINING");
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_OVERLOADED), HO_OK);
  cr_assert_str_eq(offer_once(&f, 5, b, 5, 0, 0, name), "OVERLOADED");
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_FD_EXHAUSTED), HO_OK);
  cr_assert_str_eq(offer_once(&f, 6, b, 6, 0, 0, name), "FD_EXHAUSTED");
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_IO), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_OK), HO_OK);
  /* none of the refusals recorded b (TOKEN-19): it is accepted now */
  cr_assert_str_eq(offer_once(&f, 7, b, 7, 0, f.wall + 1000, name), "");
  ho_backend_counters c;
  ho_backend_core_counters(f.core, &c);
  cr_assert_eq(c.refused_by[HO_REFUSAL_DRAINING], 1);
  cr_assert_eq(c.refused_by[HO_REFUSAL_OVERLOADED], 1);
  cr_assert_str_eq(ho_backend_refusal_name(HO_REFUSAL_DRAINING), "DRAINING");
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: TOKEN-17 TOKEN-18 — a token is remembered until its offer's
 * deadline + REPLAY_MARGIN (5 s), or TOKEN_TTL_MAX for an offer without a
 * deadline (the fixture configures 1 s), and not longer: memory follows the
 * handoff rate times that window, not a fixed cache. */
Test(backend_rc1, replay_memory_follows_the_offer_deadline) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  char name[HO_MAX_ERROR_DETAIL + 1];
  uint8_t a[HO_TOKEN_BYTES], b[HO_TOKEN_BYTES];
  fx_token(a, 20);
  fx_token(b, 21);
  cr_assert_str_eq(offer_once(&f, 100, a, 1, 0, f.wall + 1000, name), "");
  cr_assert_str_eq(offer_once(&f, 6099, a, 2, 0, f.wall + 1000, name), "TOKEN_NOT_PENDING");
  cr_assert_str_eq(offer_once(&f, 6100, a, 3, 0, f.wall + 1000, name), "",
                   "forgotten at deadline + 5 s");
  cr_assert_str_eq(offer_once(&f, 7000, b, 4, 0, 0, name), "");
  cr_assert_str_eq(offer_once(&f, 7999, b, 5, 0, 0, name), "TOKEN_NOT_PENDING");
  cr_assert_str_eq(offer_once(&f, 8000, b, 6, 0, 0, name), "", "no deadline: the TTL");
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: TOKEN-19 BACKEND-5 READY-12 — the token of an accepted offer is
 * recorded before the ready write; when that write fails the offer is
 * refused and the token stays recorded, so a replay is refused. */
Test(backend_rc1, record_before_ready_survives_a_failed_write) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 30);
  size_t flen = offer_with_deadline(fr, sizeof fr, tok, 9, HO_OFFER_FLAG_BACKEND_READY,
                                    f.wall + 500, 9);
  feed_at(&f, 10, tok, sv[0], fr, flen);
  drain(&f);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT));
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 10, HO_ERR_CLOSED), HO_OK);
  expect_refusal(&f, "CLOSED", 9);
  char name[HO_MAX_ERROR_DETAIL + 1];
  cr_assert_str_eq(offer_once(&f, 20, tok, 10, HO_OFFER_FLAG_BACKEND_READY, f.wall + 500, name),
                   "TOKEN_NOT_PENDING");
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

static int g_closed;
static void counting_close(void *ctx, ho_handle h) {
  (void)ctx;
  g_closed++;
  close((int)h);
}

/* spec: CAP-10 BACKEND-13 — every ACK declares MULTI_OFFER unless the shell
 * says it closes after one offer; a descriptor still held when the
 * connection state is deleted goes through the injected close, the core
 * never closes one itself (issue #12). */
Test(backend_rc1, multi_offer_declared_and_injected_close) {
  int before = fx_count_fds();
  for (int single = 0; single <= 1; single++) {
    ho_backend_config cfg;
    ho_backend_config_init(&cfg);
    cfg.single_offer = single;
    cfg.close_handle = counting_close;
    fx_core f;
    memset(&f, 0, sizeof f);
    cr_assert_eq(ho_backend_core_new(&cfg, &f.core), HO_OK);
    cr_assert_eq(ho_backend_ctl_new(f.core, &f.ctl), HO_OK);
    char name[HO_MAX_ERROR_DETAIL + 1];
    uint8_t tok[HO_TOKEN_BYTES];
    fx_token(tok, (uint8_t)(40 + single));
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    uint8_t fr[256];
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, 1, 0);
    feed_at(&f, 1, tok, sv[0], fr, flen);
    drain(&f);
    ho_ack ack;
    decode_ack(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
    cr_assert_eq(ack.backend_capabilities, single ? 0 : HO_BACKEND_CAP_MULTI_OFFER);
    close((int)find(&f, HO_BACKEND_ACT_ADOPT)->conn);
    close(sv[1]);
    (void)name;
    /* a sideband with its descriptor, then delete without draining */
    fx_socketpair(SOCK_STREAM, sv);
    size_t used;
    g_closed = 0;
    cr_assert_eq(ho_backend_ctl_feed(f.ctl, 2, tok, 16, sv[0], HO_OK, &used), HO_OK);
    ho_backend_ctl_del(f.ctl);
    cr_assert_eq(g_closed, 1, "the held descriptor went through close_handle");
    cr_assert_not(fx_fd_is_open(sv[0]));
    close(sv[1]);
    ho_backend_core_del(f.core);
  }
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  ho_backend_core *core = NULL;
  cr_assert_eq(ho_backend_core_new(&cfg, &core), HO_ERR_INVALID_ARGUMENT,
               "a bare core needs its close function");
  cr_assert_null(core);
  cr_assert_eq(fx_count_fds(), before);
}
