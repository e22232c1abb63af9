/* Shared fixtures of the backend core unit tests: a core and one control
 * connection driven with bytes and real descriptors. */
#ifndef HANDOFF_TEST_BACKEND_CORE_FIXTURES_H
#define HANDOFF_TEST_BACKEND_CORE_FIXTURES_H

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

static inline uint64_t fake_wall(void *ctx) { return *(const uint64_t *)ctx; }
static inline void fx_close_handle(void *ctx, ho_handle h) {
  (void)ctx;
  close((int)h);
}

static inline void core_up(fx_core *f, ho_ready_mode mode, ho_backend_fault fault, uint32_t fault_ms) {
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
  cfg.close_handle = fx_close_handle;
  cr_assert_eq(ho_backend_core_new(&cfg, &f->core), HO_OK);
  cr_assert_eq(ho_backend_ctl_new(f->core, &f->ctl), HO_OK);
}

static inline void core_down(fx_core *f) {
  ho_backend_ctl_del(f->ctl);
  ho_backend_core_del(f->core);
}

/* Pop every action; close descriptors of CLOSE_FD (as a shell would). */
static inline void drain(fx_core *f) {
  ho_backend_action a;
  f->nacts = 0;
  while (ho_backend_ctl_next_action(f->ctl, &a)) {
    cr_assert_lt(f->nacts, 32);
    f->acts[f->nacts++] = a;
    if (a.type == HO_BACKEND_ACT_CLOSE_FD) close((int)a.conn);
  }
}

static inline const ho_backend_action *find(const fx_core *f, ho_backend_act_type t) {
  for (size_t i = 0; i < f->nacts; i++)
    if (f->acts[i].type == t) return &f->acts[i];
  return NULL;
}

static inline size_t index_of(const fx_core *f, ho_backend_act_type t) {
  for (size_t i = 0; i < f->nacts; i++)
    if (f->acts[i].type == t) return i;
  return (size_t)-1;
}

/* The offer `o` framed (an envelope carrying `deadline` and `request_id`)
 * into out; returns the frame's length. */
static inline size_t offer_frame_of(uint8_t *out, size_t cap, const ho_offer *o, uint64_t deadline,
                                    uint64_t request_id) {
  static uint8_t payload[16384];
  size_t plen = 0;
  cr_assert_eq(ho_offer_encode(HO_CODEC_PROTOBUF_C, o, payload, sizeof payload, &plen), HO_OK);
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

/* An offer frame for `service` naming handle `value` (0 on Unix), its
 * envelope carrying `deadline` (backend-ready offers). */
static inline size_t offer_frame_named(uint8_t *out, size_t cap, const uint8_t tok[HO_TOKEN_BYTES],
                                       const char *service, uint64_t corr, uint64_t value,
                                       uint64_t flags, uint64_t deadline, uint64_t request_id) {
  ho_offer o;
  memset(&o, 0, sizeof o);
  memcpy(o.token, tok, HO_TOKEN_BYTES);
  snprintf(o.service_name, sizeof o.service_name, "%s", service);
  o.correlation_id = corr;
  o.handle_value = value;
  o.offer_flags = flags;
  return offer_frame_of(out, cap, &o, deadline, request_id);
}

static inline size_t offer_with_deadline(uint8_t *out, size_t cap, const uint8_t tok[HO_TOKEN_BYTES],
                                  uint64_t corr, uint64_t flags, uint64_t deadline,
                                  uint64_t request_id) {
  return offer_frame_named(out, cap, tok, "echo", corr, 0, flags, deadline, request_id);
}

/* A HelloReply frame as a broker would put it in the offer. */
/* A Negotiated HelloReply frame as a broker would put it in a coalesced
 * offer (protocol 1, pipe /run/echo.sock, connection 9, `caps`), carrying
 * `tok` unless it is NULL. */
static inline size_t reply_frame(uint8_t *out, size_t cap, const uint8_t *tok, uint64_t caps) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello_reply.which = HO_REPLY_NEGOTIATED;
  m.hello_reply.negotiated.negotiated_protocol = 1;
  strcpy(m.hello_reply.negotiated.backend_pipe, "/run/echo.sock");
  m.hello_reply.negotiated.server_capabilities = caps;
  m.hello_reply.negotiated.connection_id = 9;
  if (tok != NULL) {
    memcpy(m.hello_reply.negotiated.handle_passed_token, tok, HO_TOKEN_BYTES);
    m.hello_reply.negotiated.handle_passed_token_len = HO_TOKEN_BYTES;
  }
  size_t n = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, out, cap, &n), HO_OK);
  return n;
}

/* Feed a sideband (with `conn`) and `frame`, in chunks of `chunk` bytes. */
static inline void feed(fx_core *f, const uint8_t tok[HO_TOKEN_BYTES], ho_handle conn, int status,
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

static inline void decode_ack(const ho_backend_action *a, ho_ack *ack) {
  cr_assert_not_null(a);
  ho_any_msg m;
  ho_envelope env;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, a->bytes, a->len, &env, &m), HO_OK);
  cr_assert_eq(env.request_id, m.ack.correlation_id, "ACK request_id = correlation_id");
  *ack = m.ack;
}

/* Refusal helper: expect a refused ACK whose error_detail is exactly
 * `name`, nothing adopted or written (spec: XFER-18 ERR-2 BACKEND-3). */
static inline void expect_refusal(fx_core *f, const char *name, uint64_t corr) {
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

/* close_handle that records what it released (and closes it). */
typedef struct fx_closes {
  int h[16];
  unsigned n;
} fx_closes;

static inline void fx_rec_close(void *ctx, ho_handle h) {
  fx_closes *c = ctx;
  if (c->n < 16) c->h[c->n] = (int)h;
  c->n++;
  close((int)h);
}

static inline unsigned fx_times_closed(const fx_closes *c, int h) {
  unsigned k = 0;
  for (unsigned i = 0; i < c->n && i < 16; i++) k += c->h[i] == h;
  return k;
}

/* A core as core_up makes it (no fault), but releasing through
 * fx_rec_close into `c`; `tweak` may change the configuration first. */
static inline void core_up_with(fx_core *f, fx_closes *c, ho_ready_mode mode, void (*tweak)(ho_backend_config *)) {
  memset(f, 0, sizeof *f);
  memset(c, 0, sizeof *c);
  f->wall = 1000000;
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = mode;
  cfg.token_ttl_ms = 1000;
  cfg.replay_capacity = 4;
  cfg.wall_clock_ms = fake_wall;
  cfg.wall_clock_ctx = &f->wall;
  cfg.close_handle = fx_rec_close;
  cfg.close_ctx = c;
  if (tweak != NULL) tweak(&cfg);
  cr_assert_eq(ho_backend_core_new(&cfg, &f->core), HO_OK);
  cr_assert_eq(ho_backend_ctl_new(f->core, &f->ctl), HO_OK);
}

/* Sideband (with `conn`) then the frame, one read each, at `now`. */
static inline void feed_sb_frame(fx_core *f, uint64_t now, const uint8_t *tok, ho_handle conn,
                                 const uint8_t *frame, size_t flen) {
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, now, tok, HO_TOKEN_BYTES, conn, HO_OK, &used), HO_OK);
  cr_assert_eq(used, HO_TOKEN_BYTES);
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, now, frame, flen, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, flen);
}

/* A backend-ready offer for token seed `seed` (correlation and request id
 * `corr`, deadline wall + 1000) with sv[0] of a new socketpair, fed at
 * `now` by feed_sb_frame; the token is left in tok. */
static inline void feed_ready_offer(fx_core *f, uint64_t now, uint8_t seed, uint64_t corr,
                                    uint8_t tok[HO_TOKEN_BYTES], int sv[2]) {
  uint8_t frame[512];
  fx_token(tok, seed);
  fx_socketpair(SOCK_STREAM, sv);
  size_t n = offer_with_deadline(frame, sizeof frame, tok, corr, HO_OFFER_FLAG_BACKEND_READY,
                                 f->wall + 1000, corr);
  feed_sb_frame(f, now, tok, sv[0], frame, n);
}

/* The core's counters now. */
static inline ho_backend_counters counters_of(const fx_core *f) {
  ho_backend_counters k;
  ho_backend_core_counters(f->core, &k);
  return k;
}

/* The (first) ACK among the drained actions. */
static inline ho_ack first_ack(const fx_core *f) {
  ho_ack a;
  decode_ack(find(f, HO_BACKEND_ACT_WRITE_CONTROL), &a);
  return a;
}


#endif
