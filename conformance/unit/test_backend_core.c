/* Unit tests: sans-I/O backend core (ref/lib/backend/backend_core.c).
 * The core is driven with bytes and REAL descriptors (socketpairs), and every
 * descriptor it hands back is closed here; descriptor counts prove it
 * never leaks one. */
#include "backend_core_fixtures.h"

/* spec: XFER-16 XFER-17 XFER-22 ERR-4 — legacy accept: ACK echoes token
 * and correlation id, no capability, the descriptor is adopted; the stream
 * is parsed the same in any split into reads. */
Test(backend_core, accept_legacy_any_chunking) {
  int before = fx_count_fds();
  for (size_t chunk = 1; chunk <= 80; chunk += 7) {
    fx_core f;
    core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, (uint8_t)chunk);
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, 42, 0);
    cr_assert(ho_backend_ctl_at_sideband(f.ctl));
    cr_assert_eq(ho_backend_ctl_wanted(f.ctl), HO_TOKEN_BYTES);
    feed(&f, tok, sv[0], HO_OK, fr, flen, chunk);
    drain(&f);
    ho_ack ack;
    decode_ack(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
    cr_assert(ack.accepted);
    cr_assert_arr_eq(ack.token, tok, HO_TOKEN_BYTES);
    cr_assert_eq(ack.correlation_id, 42);
    cr_assert_eq(ack.backend_capabilities, HO_BACKEND_CAP_MULTI_OFFER); /* spec: CAP-10 */
    const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
    cr_assert_not_null(ad);
    cr_assert_eq(ad->conn, sv[0]);
    cr_assert_not(ad->ready_written);
    cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT), "legacy: nothing written to the client");
    close((int)ad->conn);
    close(sv[1]);
    cr_assert(ho_backend_ctl_at_sideband(f.ctl));
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-12 ERR-39 BACKEND-2 — sideband token != offer token. */
Test(backend_core, sideband_mismatch_refused) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t sb[HO_TOKEN_BYTES], tok[HO_TOKEN_BYTES], fr[256];
  fx_token(sb, 1);
  fx_token(tok, 2);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 7, 0);
  feed(&f, sb, sv[0], HO_OK, fr, flen, 1000);
  expect_refusal(&f, "SIDEBAND_MISMATCH", 7);
  ho_ack ack;
  decode_ack(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  cr_assert_arr_eq(ack.token, tok, HO_TOKEN_BYTES, "the offer's token is echoed");
  cr_assert_not(fx_fd_is_open(sv[0]), "refused descriptor closed");
  close(sv[1]);
  ho_backend_counters c;
  ho_backend_core_counters(f.core, &c);
  cr_assert_eq(c.refused_by[HO_REFUSAL_SIDEBAND_MISMATCH], 1);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-28 ERR-45 ERR-31 ERR-32 ERR-33 CAP-7 BACKEND-2 — descriptor
 * problems reported by the transport, and no descriptor at all, are refused
 * once the offer is read. */
Test(backend_core, descriptor_problems_refused) {
  int before = fx_count_fds();
  static const struct {
    int status;
    const char *name;
  } cases[] = {{HO_ERR_CTRUNC, "CTRUNC"},
               {HO_ERR_EXTRA_DESCRIPTORS, "EXTRA_DESCRIPTORS"},
               {HO_ERR_BAD_DESCRIPTOR, "BAD_DESCRIPTOR"},
               {HO_OK, "NO_DESCRIPTOR"}};
  for (size_t i = 0; i < 4; i++) {
    fx_core f;
    core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, (uint8_t)i);
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, 9, 0);
    feed(&f, tok, HO_NO_HANDLE, cases[i].status, fr, flen, 5);
    expect_refusal(&f, cases[i].name, 9);
    ho_ack ack;
    decode_ack(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
    cr_assert_eq(ack.backend_capabilities, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                     HO_BACKEND_CAP_COALESCED_REPLY, /* spec: CAP-11 */
                 "backend-ready backends declare it in refusals too");
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-15 ERR-40 TOKEN-17 TOKEN-19 BACKEND-5 — a token accepted
 * before is refused (replay) for at least the TTL, then forgotten. */
Test(backend_core, replay_refused_until_ttl) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 3);
  for (int round = 0; round < 2; round++) {
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, (uint64_t)round + 1, 0);
    feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
    if (round == 0) {
      drain(&f);
      const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
      cr_assert_not_null(ad);
      close((int)ad->conn);
    } else {
      expect_refusal(&f, "TOKEN_NOT_PENDING", 2);
    }
    close(sv[1]);
  }
  /* After the TTL (1000 ms from now_ms 100) the token is accepted again. */
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 3, 0);
  uint8_t all[512];
  memcpy(all, tok, 16);
  memcpy(all + 16, fr, flen);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1100, all, 16 + flen, sv[0], HO_OK, NULL), HO_OK);
  drain(&f);
  const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  close((int)ad->conn);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

static void accept_one(fx_core *f, uint8_t seed, uint64_t corr, uint64_t now) {
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], all[512];
  fx_token(tok, seed);
  memcpy(all, tok, 16);
  size_t flen = fx_offer_frame(all + 16, sizeof all - 16, tok, corr, 0);
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, now, all, 16 + flen, sv[0], HO_OK, NULL), HO_OK);
  drain(f);
  const ho_backend_action *ad = find(f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad, "token %u accepted", seed);
  close((int)ad->conn);
  close(sv[1]);
}

/* spec: TOKEN-18 ERR-42 — the replay cache never forgets a token younger
 * than the TTL to make room: when full, offers are refused PENDING_LIMIT. */
Test(backend_core, replay_cache_full_refuses) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0); /* capacity 4, TTL 1000 */
  for (int i = 0; i < 4; i++) accept_one(&f, (uint8_t)(50 + i), (uint64_t)i + 1, 100 + (uint64_t)i);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 60);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 9, 0);
  feed(&f, tok, sv[0], HO_OK, fr, flen, 1000); /* now_ms 100 */
  expect_refusal(&f, "PENDING_LIMIT", 9);
  cr_assert_not(fx_fd_is_open(sv[0]));
  close(sv[1]);
  /* The oldest still counts as a replay while remembered... */
  fx_socketpair(SOCK_STREAM, sv);
  fx_token(tok, 50);
  flen = fx_offer_frame(fr, sizeof fr, tok, 10, 0);
  feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
  expect_refusal(&f, "TOKEN_NOT_PENDING", 10);
  close(sv[1]);
  /* ...and once it has expired (100 + 1000) there is room again. */
  accept_one(&f, 61, 11, 1100);
  ho_backend_counters c;
  ho_backend_core_counters(f.core, &c);
  cr_assert_eq(c.refused_by[HO_REFUSAL_REPLAY_FULL], 1);
  cr_assert_eq(c.refused_by[HO_REFUSAL_REPLAY], 1);
  cr_assert_eq(c.accepted, 5);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-14 — a non-empty other service is refused (SERVICE_NAME), an
 * empty service_name never is. */
Test(backend_core, service_name_check) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.service_name = "other";
  cfg.close_handle = fx_close_handle;
  fx_core f;
  memset(&f, 0, sizeof f);
  cr_assert_eq(ho_backend_core_new(&cfg, &f.core), HO_OK);
  cr_assert_eq(ho_backend_ctl_new(f.core, &f.ctl), HO_OK);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 70);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 3, 0); /* service "echo" */
  feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
  expect_refusal(&f, "SERVICE_NAME", 3);
  close(sv[1]);
  fx_socketpair(SOCK_STREAM, sv);
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  fx_token(m.offer.token, 71);
  m.offer.correlation_id = 4; /* empty service_name */
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, fr, sizeof fr, &flen), HO_OK);
  feed(&f, m.offer.token, sv[0], HO_OK, fr, flen, 1000);
  drain(&f);
  const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  close((int)ad->conn);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: BACKEND-4 XFER-11 XFER-13 ERR-35 ERR-36 ERR-37 ERR-47 FRAME-10 —
 * malformed offer, request_id != correlation_id, correlation_id 0, wrong
 * kind: no ACK,
 * the descriptor and the control connection are closed. */
Test(backend_core, malformed_offer_closes_control) {
  int before = fx_count_fds();
  for (int variant = 0; variant < 5; variant++) {
    fx_core f;
    core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, 4);
    size_t flen;
    if (variant == 0) { /* body is not protobuf */
      static const uint8_t bad[] = {1, 3, 0, 0, 0, 0xff, 0xff, 0xff};
      memcpy(fr, bad, sizeof bad);
      flen = sizeof bad;
    } else if (variant == 1) { /* request_id != correlation_id */
      flen = offer_with_deadline(fr, sizeof fr, tok, 5, 0, 0, 6);
    } else if (variant == 2) { /* framing version 2 */
      flen = fx_offer_frame(fr, sizeof fr, tok, 5, 0);
      fr[0] = 2;
    } else if (variant == 3) { /* correlation_id 0 (spec: XFER-13) */
      flen = fx_offer_frame(fr, sizeof fr, tok, 0, 0);
    } else { /* an ACK (RESPONSE) where an offer (REQUEST) belongs */
      ho_any_msg m;
      memset(&m, 0, sizeof m);
      memcpy(m.ack.token, tok, 16);
      m.ack.correlation_id = 5;
      cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, &m, fr, sizeof fr, &flen), HO_OK);
    }
    feed(&f, tok, sv[0], HO_OK, fr, variant == 2 ? 5 : flen, 1000);
    drain(&f);
    cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), "variant %d: no ACK", variant);
    cr_assert_null(find(&f, HO_BACKEND_ACT_ADOPT));
    cr_assert_not_null(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL));
    cr_assert_not(fx_fd_is_open(sv[0]));
    cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 0);
    /* Anything fed afterwards (with a descriptor) is closed, not adopted. */
    int sv2[2];
    fx_socketpair(SOCK_STREAM, sv2);
    cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 16, sv2[0], HO_OK, NULL), HO_ERR_STATE);
    drain(&f);
    cr_assert_not(fx_fd_is_open(sv2[0]));
    close(sv[1]), close(sv2[1]);
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

/* A descriptor arriving inside an offer frame desynchronises the stream. */
Test(backend_core, descriptor_inside_frame_closes_control) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int a[2], b[2];
  fx_socketpair(SOCK_STREAM, a);
  fx_socketpair(SOCK_STREAM, b);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 5);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 5, 0);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 16, a[0], HO_OK, NULL), HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, fr, 3, b[0], HO_OK, NULL), HO_OK);
  drain(&f);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL));
  cr_assert_null(find(&f, HO_BACKEND_ACT_ADOPT));
  cr_assert_not(fx_fd_is_open(a[0]));
  cr_assert_not(fx_fd_is_open(b[0]));
  (void)flen;
  close(a[1]), close(b[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-9 XFER-20 ERR-34 ERR-44 FRAME-9 — EOF on the control
 * connection: a held descriptor comes back as CLOSE_FD (TRUNCATED inside a
 * handoff, CLOSED at a boundary); deleting the ctl with undrained actions
 * closes them too. */
Test(backend_core, eof_and_delete_close_held_descriptors) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 10);
  cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 16, sv[0], HO_OK, NULL), HO_OK);
  ho_backend_ctl_eof(f.ctl);
  drain(&f);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL));
  cr_assert_eq(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL)->err, HO_ERR_TRUNCATED);
  cr_assert_not(fx_fd_is_open(sv[0]));
  close(sv[1]);
  core_down(&f);
  /* Undrained: ho_backend_ctl_del closes what the actions held. */
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t fr[256];
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 1, 0);
  feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
  core_down(&f);
  cr_assert_not(fx_fd_is_open(sv[0]));
  close(sv[1]);
  /* At a boundary: a plain close. */
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  ho_backend_ctl_eof(f.ctl);
  drain(&f);
  cr_assert_eq(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL)->err, HO_ERR_CLOSED);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: ERR-43 CAP-1 XFER-14 — unknown offer_flags bits and a non-zero
 * handle_value on Unix are ignored. */
Test(backend_core, unknown_flags_and_handle_value_ignored) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  fx_token(m.offer.token, 80);
  strcpy(m.offer.service_name, "echo");
  m.offer.correlation_id = 5;
  m.offer.handle_value = 1234;
  m.offer.offer_flags = UINT64_C(1) << 9;
  uint8_t fr[256];
  size_t flen;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, fr, sizeof fr, &flen), HO_OK);
  feed(&f, m.offer.token, sv[0], HO_OK, fr, flen, 1000);
  drain(&f);
  const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  cr_assert_eq(ad->conn, sv[0]);
  close((int)ad->conn), close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-29 XFER-28 — descriptors count for the handoff whichever
 * sideband read brought them: one on a later read is accepted, one on each
 * of two reads is EXTRA_DESCRIPTORS (both closed). */
Test(backend_core, descriptors_across_sideband_reads) {
  int before = fx_count_fds();
  for (int two = 0; two < 2; two++) {
    fx_core f;
    core_up(&f, HO_READY_LEGACY, HO_FAULT_NONE, 0);
    int a[2], b[2];
    fx_socketpair(SOCK_STREAM, a);
    fx_socketpair(SOCK_STREAM, b);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, (uint8_t)(90 + two));
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, 6, 0);
    cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok, 5, two ? a[0] : HO_NO_HANDLE, HO_OK, NULL), HO_OK);
    cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 11);
    cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, tok + 5, 11, b[0], HO_OK, NULL), HO_OK);
    cr_assert_eq(ho_backend_ctl_feed(f.ctl, 1, fr, flen, HO_NO_HANDLE, HO_OK, NULL), HO_OK);
    if (two) {
      expect_refusal(&f, "EXTRA_DESCRIPTORS", 6);
      cr_assert_not(fx_fd_is_open(a[0]));
      cr_assert_not(fx_fd_is_open(b[0]));
    } else {
      drain(&f);
      const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
      cr_assert_not_null(ad);
      cr_assert_eq(ad->conn, b[0]);
      close((int)ad->conn);
      close(a[0]);
    }
    close(a[1]), close(b[1]);
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

