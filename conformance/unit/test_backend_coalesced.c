/* Unit tests: the backend core in coalesced mode (spec 1.0.0-rc2, ready.md
 * §6) — the one write of Negotiated + ready, the declined reply on every
 * refusal after the descriptor checks, nothing written where the
 * descriptor may belong to another handoff, the replies' own checks, and
 * the capability bit. Real descriptors (socketpairs), counted before and
 * after. spec: READY-28 READY-29 READY-35 CAP-11 ERR-70 */
#include "backend_core_fixtures.h"

#define WALL 1000000u /* fx_core's wall clock */

static const uint64_t k_flags = HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY;

typedef struct coal {
  uint8_t tok[HO_TOKEN_BYTES];
  ho_offer o;
  uint64_t deadline;
} coal;

/* A valid coalesced offer for token seed `seed`. */
static void coal_init(coal *c, unsigned seed, uint64_t corr) {
  memset(c, 0, sizeof *c);
  fx_token(c->tok, seed);
  memcpy(c->o.token, c->tok, HO_TOKEN_BYTES);
  strcpy(c->o.service_name, "echo");
  c->o.correlation_id = corr;
  c->o.offer_flags = k_flags;
  c->o.reply_adopted_len =
      reply_frame(c->o.reply_adopted, sizeof c->o.reply_adopted, c->tok,
                  HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA |
                      HO_CAP_COALESCED_REPLY);
  c->o.reply_declined_len = reply_frame(c->o.reply_declined, sizeof c->o.reply_declined, NULL,
                                        HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY);
  c->deadline = WALL + 1000;
}

/* Sideband `sb` (the offer's token unless given) with `conn`, then the
 * framed offer, in one feed each. */
static void coal_feed(fx_core *f, const coal *c, const uint8_t *sb, ho_handle conn) {
  static uint8_t payload[16384], frame[16384];
  size_t plen = 0, blen = 0, used = 0;
  cr_assert_eq(ho_offer_encode(HO_CODEC_PROTOBUF_C, &c->o, payload, sizeof payload, &plen), HO_OK);
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = 1;
  env.kind = HO_KIND_REQUEST;
  env.payload_protocol = HO_PAYLOAD_HANDOFF;
  env.payload = payload;
  env.payload_len = plen;
  env.request_id = c->o.correlation_id;
  env.deadline_unix_ms = c->deadline;
  cr_assert_eq(ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, frame + 5, sizeof frame - 5, &blen),
               HO_OK);
  cr_assert_eq(ho_frame_write_header(frame, blen), HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, 100, sb ? sb : c->tok, HO_TOKEN_BYTES, conn, HO_OK, &used),
               HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, 100, frame, blen + 5, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, blen + 5);
}

static ho_ack the_ack(const fx_core *f) {
  ho_ack a;
  decode_ack(find(f, HO_BACKEND_ACT_WRITE_CONTROL), &a);
  return a;
}

/* Accepted: one WRITE_CLIENT whose bytes are reply_adopted and then the
 * ready frame, marked coalesced so the shell may serve the request first;
 * then ADOPT and the accepting ACK, which declares the mode. */
Test(backend_coalesced, adoption_writes_reply_and_ready_in_one_write) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  coal c;
  coal_init(&c, 3, 7);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  coal_feed(&f, &c, NULL, sv[0]);
  drain(&f);
  const ho_backend_action *w = find(&f, HO_BACKEND_ACT_WRITE_CLIENT);
  cr_assert_not_null(w);
  cr_assert(w->coalesced);
  cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CONTROL), "READY-28: the write comes before the ACK");
  cr_assert_gt(w->len, c.o.reply_adopted_len);
  cr_assert_arr_eq(w->bytes, c.o.reply_adopted, c.o.reply_adopted_len, "Negotiated first");
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, w->bytes + c.o.reply_adopted_len,
                               w->len - c.o.reply_adopted_len, NULL, &m),
               HO_OK, "then exactly one ready frame");
  cr_assert(m.ack.accepted);
  cr_assert_arr_eq(m.ack.token, c.tok, HO_TOKEN_BYTES);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_OK), HO_OK);
  drain(&f);
  const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  cr_assert(ad->coalesced && ad->ready_written);
  ho_ack a = the_ack(&f);
  cr_assert(a.accepted);
  cr_assert(a.backend_capabilities & HO_BACKEND_CAP_COALESCED_REPLY, "CAP-11");
  cr_assert(a.backend_capabilities & HO_BACKEND_CAP_BACKEND_READY);
  close((int)ad->conn);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* Every refusal after the descriptor checks writes reply_declined (DECLINE,
 * which the shell writes and closes), never a CLOSE_FD of its own. */
static void expect_decline(unsigned seed, int refusing, uint64_t deadline, const char *name) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  if (refusing != HO_OK) cr_assert_eq(ho_backend_core_set_refusing(f.core, refusing), HO_OK);
  coal c;
  coal_init(&c, seed, 11);
  c.deadline = deadline;
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  coal_feed(&f, &c, NULL, sv[0]);
  drain(&f);
  const ho_backend_action *d = find(&f, HO_BACKEND_ACT_DECLINE);
  cr_assert_not_null(d, "%s: the declined reply is written", name);
  cr_assert_eq(d->conn, sv[0]);
  cr_assert_eq(d->len, c.o.reply_declined_len);
  cr_assert_arr_eq(d->bytes, c.o.reply_declined, d->len);
  cr_assert_null(find(&f, HO_BACKEND_ACT_CLOSE_FD), "the DECLINE closes it");
  cr_assert_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT));
  cr_assert_lt(index_of(&f, HO_BACKEND_ACT_DECLINE), index_of(&f, HO_BACKEND_ACT_WRITE_CONTROL),
               "written and closed before the refusing ACK (BACKEND-3)");
  ho_ack a = the_ack(&f);
  cr_assert_not(a.accepted);
  cr_assert_str_eq(a.error_detail, name);
  close(sv[0]); /* what the shell does after writing */
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

Test(backend_coalesced, draining_writes_the_declined_reply) {
  expect_decline(4, HO_ERR_DRAINING, WALL + 1000, "DRAINING");
}
Test(backend_coalesced, overload_writes_the_declined_reply) {
  expect_decline(5, HO_ERR_OVERLOADED, WALL + 1000, "OVERLOADED");
}
/* spec: READY-11 — past the ready deadline: declined, nothing read. */
Test(backend_coalesced, past_deadline_writes_the_declined_reply) {
  expect_decline(6, HO_OK, WALL, "TIMEOUT");
}

/* No write at all where the descriptor may belong to another handoff, or
 * where the replies cannot be trusted. */
static void expect_silent(fx_core *f, int sv0, const char *name) {
  drain(f);
  cr_assert_null(find(f, HO_BACKEND_ACT_DECLINE), "%s: nothing written", name);
  cr_assert_null(find(f, HO_BACKEND_ACT_WRITE_CLIENT), "%s", name);
  const ho_backend_action *cf = find(f, HO_BACKEND_ACT_CLOSE_FD);
  cr_assert_not_null(cf, "%s: closed", name);
  cr_assert_eq(cf->conn, sv0);
  ho_ack a = the_ack(f);
  cr_assert_not(a.accepted);
  cr_assert_str_eq(a.error_detail, name);
}

/* spec: XFER-12 READY-29 — the sideband names another descriptor. */
Test(backend_coalesced, sideband_mismatch_writes_nothing) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  coal c;
  coal_init(&c, 7, 12);
  uint8_t other[HO_TOKEN_BYTES];
  fx_token(other, 70);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  coal_feed(&f, &c, other, sv[0]);
  expect_silent(&f, sv[0], "SIDEBAND_MISMATCH");
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-15 READY-29 — a replayed token: the descriptor may be a
 * connection adopted before; a write would corrupt it. */
Test(backend_coalesced, replay_writes_nothing) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  coal c;
  coal_init(&c, 8, 13);
  int a[2], b[2];
  fx_socketpair(SOCK_STREAM, a);
  fx_socketpair(SOCK_STREAM, b);
  coal_feed(&f, &c, NULL, a[0]);
  drain(&f);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_OK), HO_OK);
  drain(&f);
  close((int)find(&f, HO_BACKEND_ACT_ADOPT)->conn);
  c.o.correlation_id = 14;
  coal_feed(&f, &c, NULL, b[0]);
  expect_silent(&f, b[0], "TOKEN_NOT_PENDING");
  close(a[1]);
  close(b[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: READY-29 ERR-70 — replies that are not what a client would accept,
 * or the flag without backend-ready: MALFORMED, nothing written. */
static void expect_malformed(void (*spoil)(coal *)) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  coal c;
  coal_init(&c, 9, 15);
  spoil(&c);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  coal_feed(&f, &c, NULL, sv[0]);
  expect_silent(&f, sv[0], "MALFORMED");
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}
static void no_br_flag(coal *c) { c->o.offer_flags = HO_OFFER_FLAG_COALESCED_REPLY; }
static void adopted_other_token(coal *c) {
  uint8_t t[HO_TOKEN_BYTES];
  fx_token(t, 99);
  c->o.reply_adopted_len = reply_frame(c->o.reply_adopted, sizeof c->o.reply_adopted, t,
                                       HO_CAP_HANDLE_PASSING | HO_CAP_COALESCED_REPLY);
}
static void declined_with_token(coal *c) {
  c->o.reply_declined_len = reply_frame(c->o.reply_declined, sizeof c->o.reply_declined, c->tok,
                                        HO_CAP_COALESCED_REPLY);
}
static void adopted_trailing_byte(coal *c) { c->o.reply_adopted[c->o.reply_adopted_len++] = 0; }
static void adopted_missing(coal *c) { c->o.reply_adopted_len = 0; }
static void declined_not_a_frame(coal *c) {
  memset(c->o.reply_declined, 0x41, 40);
  c->o.reply_declined_len = 40;
}
Test(backend_coalesced, flag_without_backend_ready_is_malformed) { expect_malformed(no_br_flag); }
Test(backend_coalesced, adopted_reply_with_another_token_is_malformed) {
  expect_malformed(adopted_other_token);
}
Test(backend_coalesced, declined_reply_with_a_token_is_malformed) {
  expect_malformed(declined_with_token);
}
Test(backend_coalesced, reply_with_a_trailing_byte_is_malformed) {
  expect_malformed(adopted_trailing_byte);
}
Test(backend_coalesced, missing_reply_is_malformed) { expect_malformed(adopted_missing); }
Test(backend_coalesced, reply_that_is_no_frame_is_malformed) {
  expect_malformed(declined_not_a_frame);
}

/* spec: READY-35 CAP-11 — a backend-ready backend without the mode: refused
 * BACKEND_READY_UNSUPPORTED, nothing written, and its ACKs never declare it;
 * spec: READY-24 — the same for a backend without backend-ready mode. */
static void expect_unsupported(ho_ready_mode mode, bool no_coalesce) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, mode, HO_FAULT_NONE, 0);
  if (no_coalesce) {
    /* core_up has no knob for it: a core of its own */
    ho_backend_ctl_del(f.ctl);
    ho_backend_core_del(f.core);
    ho_backend_config cfg;
    ho_backend_config_init(&cfg);
    cfg.ready_mode = mode;
    cfg.no_coalesced_reply = true;
    cfg.wall_clock_ms = fake_wall;
    cfg.wall_clock_ctx = &f.wall;
    cfg.close_handle = fx_close_handle;
    cr_assert_eq(ho_backend_core_new(&cfg, &f.core), HO_OK);
    cr_assert_eq(ho_backend_ctl_new(f.core, &f.ctl), HO_OK);
  }
  coal c;
  coal_init(&c, 10, 16);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  coal_feed(&f, &c, NULL, sv[0]);
  expect_silent(&f, sv[0], "BACKEND_READY_UNSUPPORTED");
  cr_assert_eq(the_ack(&f).backend_capabilities & HO_BACKEND_CAP_COALESCED_REPLY, 0u);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}
Test(backend_coalesced, without_the_mode_nothing_is_written) { expect_unsupported(HO_READY_BACKEND, true); }
Test(backend_coalesced, legacy_backend_writes_nothing) { expect_unsupported(HO_READY_LEGACY, false); }

/* spec: READY-28 READY-12 — the one write failed (the client left): refused
 * with that error, the descriptor closed, no second write. */
Test(backend_coalesced, failed_write_refuses) {
  int before = fx_count_fds();
  fx_core f;
  core_up(&f, HO_READY_BACKEND, HO_FAULT_NONE, 0);
  coal c;
  coal_init(&c, 11, 17);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  coal_feed(&f, &c, NULL, sv[0]);
  drain(&f);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT));
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, 100, HO_ERR_CLOSED), HO_OK);
  drain(&f);
  cr_assert_null(find(&f, HO_BACKEND_ACT_DECLINE), "after the adopted reply, nothing else");
  cr_assert_null(find(&f, HO_BACKEND_ACT_ADOPT));
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_CLOSE_FD));
  ho_ack a = the_ack(&f);
  cr_assert_not(a.accepted);
  cr_assert_str_eq(a.error_detail, "CLOSED");
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}
