/* Unit tests: sans-I/O backend core (ref/lib/backend/backend_core.c).
 * The core is driven with bytes and REAL descriptors (socketpairs), and every
 * descriptor it hands back is closed here; descriptor counts prove it
 * never leaks one. */
#include "handoff/backend.h"
#include "handoff/frame.h"
#include "xfer_fixtures.h"

typedef struct fx_core {
  ho_backend_core *core;
  ho_backend_ctl *ctl;
  uint64_t wall;
  ho_backend_action acts[32];
  size_t nacts;
} fx_core;

static uint64_t fake_wall(void *ctx) { return *(const uint64_t *)ctx; }

static void core_up(fx_core *f, ho_ready_mode mode, ho_backend_fault fault, uint32_t fault_ms) {
  memset(f, 0, sizeof *f);
  f->wall = 1000000;
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = mode;
  cfg.fault = fault;
  cfg.fault_ms = fault_ms;
  cfg.token_ttl_ms = 1000;
  cfg.replay_capacity = 4;
  cfg.wall_clock_ms = fake_wall;
  cfg.wall_clock_ctx = &f->wall;
  cr_assert_eq(ho_backend_core_new(&cfg, &f->core), HO_OK);
  cr_assert_eq(ho_backend_ctl_new(f->core, &f->ctl), HO_OK);
}

static void core_down(fx_core *f) {
  ho_backend_ctl_del(f->ctl);
  ho_backend_core_del(f->core);
}

/* Pop every action; close descriptors of CLOSE_FD (as a shell would). */
static void drain(fx_core *f) {
  ho_backend_action a;
  f->nacts = 0;
  while (ho_backend_ctl_next_action(f->ctl, &a)) {
    cr_assert_lt(f->nacts, 32);
    f->acts[f->nacts++] = a;
    if (a.type == HO_BACKEND_ACT_CLOSE_FD) close((int)a.conn);
  }
}

static const ho_backend_action *find(const fx_core *f, ho_backend_act_type t) {
  for (size_t i = 0; i < f->nacts; i++)
    if (f->acts[i].type == t) return &f->acts[i];
  return NULL;
}

static size_t index_of(const fx_core *f, ho_backend_act_type t) {
  for (size_t i = 0; i < f->nacts; i++)
    if (f->acts[i].type == t) return i;
  return (size_t)-1;
}

/* An offer frame whose envelope carries `deadline` (backend-ready offers). */
static size_t offer_with_deadline(uint8_t *out, size_t cap, const uint8_t tok[HO_TOKEN_BYTES],
                                  uint64_t corr, uint64_t flags, uint64_t deadline,
                                  uint64_t request_id) {
  ho_offer o;
  memset(&o, 0, sizeof o);
  memcpy(o.token, tok, HO_TOKEN_BYTES);
  strcpy(o.service_name, "echo");
  o.correlation_id = corr;
  o.offer_flags = flags;
  uint8_t payload[256];
  size_t plen = 0;
  cr_assert_eq(ho_offer_encode(HO_CODEC_PROTOBUF_C, &o, payload, sizeof payload, &plen), HO_OK);
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = 1;
  env.kind = HO_KIND_REQUEST;
  env.payload_protocol = HO_PAYLOAD_HANDOFF;
  env.payload = payload;
  env.payload_len = plen;
  env.request_id = request_id;
  env.deadline_unix_ms = deadline;
  size_t blen = 0;
  cr_assert_eq(ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, out + 5, cap - 5, &blen), HO_OK);
  cr_assert_eq(ho_frame_write_header(out, blen), HO_OK);
  return blen + 5;
}

/* Feed a sideband (with `conn`) and `frame`, in chunks of `chunk` bytes. */
static void feed(fx_core *f, const uint8_t tok[HO_TOKEN_BYTES], ho_handle conn, int status,
                 const uint8_t *frame, size_t flen, size_t chunk) {
  uint8_t all[1024];
  memcpy(all, tok, HO_TOKEN_BYTES);
  memcpy(all + HO_TOKEN_BYTES, frame, flen);
  size_t total = HO_TOKEN_BYTES + flen, off = 0;
  while (off < total) {
    size_t n = total - off < chunk ? total - off : chunk;
    size_t used = 0;
    int rc = ho_backend_ctl_feed(f->ctl, 100, all + off, n, off == 0 ? conn : HO_NO_HANDLE,
                                 off == 0 ? status : HO_OK, &used);
    cr_assert_eq(rc, HO_OK);
    cr_assert_eq(used, n);
    off += n;
  }
}

static void decode_ack(const ho_backend_action *a, ho_ack *ack) {
  cr_assert_not_null(a);
  ho_any_msg m;
  ho_envelope env;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, a->bytes, a->len, &env, &m), HO_OK);
  cr_assert_eq(env.request_id, m.ack.correlation_id, "ACK request_id = correlation_id");
  *ack = m.ack;
}

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
    cr_assert_eq(ack.backend_capabilities, 0);
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

/* Refusal helper: expect a refused ACK whose error_detail is exactly
 * `name`, nothing adopted or written (spec: XFER-18 ERR-2 BACKEND-3). */
static void expect_refusal(fx_core *f, const char *name, uint64_t corr) {
  drain(f);
  ho_ack ack;
  decode_ack(find(f, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  cr_assert_not(ack.accepted);
  cr_assert_eq(ack.correlation_id, corr, "refusals echo the correlation id");
  cr_assert_str_eq(ack.error_detail, name, "XFER-18: the error name and nothing else");
  cr_assert_null(find(f, HO_BACKEND_ACT_ADOPT));
  cr_assert_null(find(f, HO_BACKEND_ACT_WRITE_CLIENT));
  cr_assert_null(find(f, HO_BACKEND_ACT_CLOSE_CONTROL), "a refusal keeps the control connection");
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

/* spec: XFER-10 ERR-30 ERR-31 ERR-32 ERR-33 CAP-7 BACKEND-2 — descriptor
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
    cr_assert_eq(ack.backend_capabilities, HO_BACKEND_CAP_BACKEND_READY,
                 "backend-ready backends declare it in refusals too");
    core_down(&f);
  }
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-15 ERR-40 TOKEN-11 TOKEN-14 BACKEND-5 — a token accepted
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

/* spec: TOKEN-12 ERR-42 — the replay cache never forgets a token younger
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

/* spec: BACKEND-4 XFER-11 XFER-13 ERR-35 ERR-36 ERR-37 ERR-38 FRAME-10 —
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
  cr_assert_eq(ack.backend_capabilities, HO_BACKEND_CAP_BACKEND_READY);
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

/* spec: READY-11 ERR-41 READY-16 — no deadline, or the deadline reached:
 * refuse, write nothing; an unflagged offer to a backend-ready backend is
 * legacy; a legacy backend refuses a flagged offer. */
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
      {HO_READY_LEGACY, HO_OFFER_FLAG_BACKEND_READY, 500, "STATE", false},
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

/* spec: XFER-8 XFER-10 — descriptors count for the handoff whichever
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
