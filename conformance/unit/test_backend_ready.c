/* Unit tests: backend core (ref/lib/backend/backend_core.c), part 2 —
 * backend-ready mode, the ready deadline, fault injection and random input.
 * Real descriptors, counted before and after. */
#include "backend_core_fixtures.h"

/* spec: READY-9 READY-1 CAP-7 — backend-ready: the ready frame is written
 * first (before the ACK and before adoption), then ACK accepted with the
 * capability. */
Test(backend_core, backend_ready_writes_ready_first) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 6);
  size_t flen = offer_with_deadline(fr, sizeof fr, tok, 11, HO_OFFER_FLAG_BACKEND_READY,
                                    f.wall + 500, 11);
  feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
  drain(&f);
  cr_assert_eq(f.nacts, 2, "OFFER note, WRITE_CLIENT — nothing else until the write is done");
  const ho_backend_action *w = find(&f, HO_BACKEND_ACT_WRITE_CLIENT);
  cr_assert_not_null(w);
  cr_assert_eq(w->conn, sv[0]);
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), 0, "paused while the ready write is pending");
  ho_any_msg m;
  ho_envelope env;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, w->bytes, w->len, &env, &m), HO_OK);
  cr_assert_eq(env.kind, HO_KIND_EVENT);
  cr_assert_arr_eq(m.ack.token, tok, HO_TOKEN_BYTES);
  cr_assert(m.ack.accepted);
  cr_assert_eq(m.ack.correlation_id, 11);
  cr_assert_eq(m.ack.backend_capabilities, 0);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_OK), HO_OK);
  drain(&f);
  size_t iack = index_of(&f, HO_BACKEND_ACT_WRITE_CONTROL), iad = index_of(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_neq(iack, (size_t)-1);
  cr_assert_neq(iad, (size_t)-1);
  ho_ack ack;
  decode_ack(&f.acts[iack], &ack);
  cr_assert(ack.accepted);
  cr_assert_eq(ack.backend_capabilities, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                                           HO_BACKEND_CAP_COALESCED_REPLY); /* spec: CAP-11 */
  cr_assert(f.acts[iad].ready_written);
  close((int)f.acts[iad].conn);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_OK), HO_ERR_STATE);
  cr_assert_eq(ho_backend_ctl_wanted(f.ctl), HO_TOKEN_BYTES);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: READY-12 — a failed ready write refuses the offer and closes. */
Test(backend_core, backend_ready_write_failure_refuses) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 7);
  size_t flen = offer_with_deadline(fr, sizeof fr, tok, 12, HO_OFFER_FLAG_BACKEND_READY,
                                    f.wall + 500, 12);
  feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
  drain(&f);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_ERR_CLOSED), HO_OK);
  expect_refusal(&f, "CLOSED", 12);
  cr_assert_not(fx_fd_is_open(sv[0]));
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: READY-11 ERR-41 READY-16 READY-24 ERR-49 TOKEN-21 ERR-69 — no
 * deadline, or the deadline reached: refuse, write nothing; an unflagged
 * offer to a backend-ready backend is legacy; a legacy backend refuses a
 * flagged offer with BACKEND_READY_UNSUPPORTED; a legacy offer past its
 * (optional) deadline is refused too. */
Test(backend_core, backend_ready_deadline_and_modes) {
  int before = fx_count_fds();
  struct {
    ho_ready_mode mode;
    uint64_t flags;
    int64_t deadline_delta; /* vs wall; 0 = none */
    const char *refusal;    /* NULL = accepted */
    bool ready_written;
  } cases[] = {
      {HO_READY_BACKEND, HO_OFFER_FLAG_BACKEND_READY, 0, "TIMEOUT", false},
      {HO_READY_BACKEND, HO_OFFER_FLAG_BACKEND_READY, -1, "TIMEOUT", false},
      {HO_READY_BACKEND, HO_OFFER_FLAG_BACKEND_READY, 1, NULL, true},
      {HO_READY_BACKEND, 0, 0, NULL, false},
      {HO_READY_LEGACY, HO_OFFER_FLAG_BACKEND_READY, 500, "BACKEND_READY_UNSUPPORTED", false},
      {HO_READY_LEGACY, 0, -1, "TIMEOUT", false},
      {HO_READY_LEGACY, 0, 500, NULL, false},
      {HO_READY_BACKEND, 0, -1, "TIMEOUT", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fx_core f;
    core_up(&f, cases[i].mode, HO_FAULT_NONE, 0);
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, (uint8_t)(20 + i));
    uint64_t dl = cases[i].deadline_delta == 0 ? 0 : f.wall + (uint64_t)cases[i].deadline_delta;
    if (cases[i].deadline_delta == -1) dl = f.wall; /* "at" the deadline counts as past */
    size_t flen = offer_with_deadline(fr, sizeof fr, tok, 30 + i, cases[i].flags, dl, 30 + i);
    feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
    if (cases[i].refusal != NULL) {
      expect_refusal(&f, cases[i].refusal, 30 + i);
    } else {
      drain(&f);
      if (cases[i].ready_written) {
        cr_assert_not_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT), "case %zu", i);
        cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_OK), HO_OK);
        drain(&f);
      } else {
        cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT), "case %zu", i);
      }
      const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
      cr_assert_not_null(ad, "case %zu", i);
      cr_assert_eq(ad->ready_written, cases[i].ready_written);
      close((int)ad->conn);
    }
    close(sv[1]);
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

/* Fault injection changes exactly what it says. */
Test(backend_core, faults) {
  int before = fx_count_fds();
  for (int fault = HO_FAULT_REFUSE; fault <= HO_FAULT_CLOSE_CONTROL; fault++) {
    fx_core f;
    core_up(&f, HO_READY_LEGACY, (ho_backend_fault)fault, 250);
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    uint8_t tok[HO_TOKEN_BYTES], fr[256];
    fx_token(tok, 9);
    size_t flen = fx_offer_frame(fr, sizeof fr, tok, 77, 0);
    feed(&f, tok, sv[0], HO_OK, fr, flen, 1000);
    drain(&f);
    const ho_backend_action *ack = find(&f, HO_BACKEND_ACT_WRITE_CONTROL);
    const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
    ho_ack m;
    switch (fault) {
    case HO_FAULT_REFUSE:
      decode_ack(ack, &m);
      cr_assert_not(m.accepted);
      cr_assert_null(ad);
      break;
    case HO_FAULT_CRASH_BEFORE_ACK:
      cr_assert_not_null(find(&f, HO_BACKEND_ACT_CRASH));
      cr_assert_null(ack);
      cr_assert_null(ad);
      break;
    case HO_FAULT_LATE_ACK:
      decode_ack(ack, &m);
      cr_assert(m.accepted);
      cr_assert_eq(ack->delay_ms, 250);
      cr_assert_not_null(ad);
      break;
    case HO_FAULT_WRONG_TOKEN:
      decode_ack(ack, &m);
      cr_assert(m.accepted);
      cr_assert_arr_neq(m.token, tok, HO_TOKEN_BYTES);
      cr_assert_eq(m.correlation_id, 77);
      break;
    case HO_FAULT_WRONG_CORRELATION:
      decode_ack(ack, &m);
      cr_assert(m.accepted);
      cr_assert_arr_eq(m.token, tok, HO_TOKEN_BYTES);
      cr_assert_eq(m.correlation_id, 78);
      break;
    case HO_FAULT_CLOSE_CONTROL:
      cr_assert_null(ack);
      cr_assert_null(ad);
      cr_assert_not_null(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL));
      break;
    }
    if (ad != NULL) close((int)ad->conn);
    cr_assert_not(fx_fd_is_open(sv[0]), "fault %d: descriptor closed or handed out", fault);
    close(sv[1]);
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

Test(backend_core, fault_names) {
  ho_backend_fault f;
  uint32_t ms;
  cr_assert_eq(ho_backend_fault_parse("late-ack:1500", &f, &ms), HO_OK);
  cr_assert_eq(f, HO_FAULT_LATE_ACK);
  cr_assert_eq(ms, 1500);
  cr_assert_eq(ho_backend_fault_parse("crash-before-ack", &f, &ms), HO_OK);
  cr_assert_eq(f, HO_FAULT_CRASH_BEFORE_ACK);
  cr_assert_eq(ho_backend_fault_parse("late-ack:", &f, &ms), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_fault_parse("explode", &f, &ms), HO_ERR_INVALID_ARGUMENT);
}

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

/* spec: ERR-4 ERR-1 — arbitrary input in arbitrary splits, with real
 * descriptors attached at random: never a crash (ASan/UBSan under SAN=1),
 * never a leaked descriptor. Deterministic (fixed seed). */
Test(backend_core, random_input_never_leaks) {
  int before = fx_count_fds();
  uint32_t seed = 12345;
#define RND() lcg(&seed)
  for (int round = 0; round < 300; round++) {
    fx_core f;
    core_up(&f, round % 2 ? HO_READY_BACKEND : HO_READY_LEGACY, HO_FAULT_NONE, 0);
    uint8_t buf[600];
    size_t len = 0;
    /* Mostly-valid streams with random corruption. */
    while (len < 400) {
      uint8_t tok[HO_TOKEN_BYTES];
      fx_token(tok, (uint8_t)RND());
      memcpy(buf + len, tok, 16);
      len += 16;
      uint64_t corr = RND() % 3;
      uint64_t flags = RND() % 2 ? HO_OFFER_FLAG_BACKEND_READY : 0;
      len += fx_offer_frame(buf + len, sizeof buf - len, tok, corr, flags);
    }
    for (int k = RND() % 6; k > 0; k--) buf[RND() % len] = (uint8_t)RND();
    size_t off = 0;
    while (off < len) {
      size_t n = 1 + RND() % 40;
      if (n > len - off) n = len - off;
      int sv[2] = {-1, -1};
      if (RND() % 3 == 0) fx_socketpair(SOCK_STREAM, sv);
      size_t used = 0;
      (void)ho_backend_ctl_feed(f.ctl, 100, buf + off, n, sv[0], HO_OK, &used);
      if (sv[1] >= 0) close(sv[1]);
      ho_backend_action a;
      while (ho_backend_ctl_next_action(f.ctl, &a)) {
        if (a.type == HO_BACKEND_ACT_CLOSE_FD || a.type == HO_BACKEND_ACT_ADOPT) close((int)a.conn);
        if (a.type == HO_BACKEND_ACT_WRITE_CLIENT)
          (void)ho_backend_ctl_client_written(f.ctl, 100, RND() % 2 ? HO_OK : HO_ERR_CLOSED);
      }
      off += used > 0 ? used : n;
    }
    if (RND() % 2) ho_backend_ctl_eof(f.ctl);
    core_down(&f); /* closes whatever is still held */
  }
#undef RND
  cr_assert_eq(fx_count_fds(), before);
}
