/* Target functions: ho_backend_core_new ho_backend_ctl_new ho_backend_ctl_feed
 * ho_backend_ctl_wanted ho_backend_ctl_at_sideband ho_backend_ctl_eof
 * ho_backend_ctl_client_written ho_backend_ctl_next_action ho_backend_ctl_del
 * ho_backend_core_counters ho_backend_core_del (ref/lib/backend/backend_core.c,
 * replay.c).
 *
 * Stateful fuzz target: the input is a configuration (BK_CFG_BYTES: ready
 * mode, service, fault, codec, replay capacity and TTL) followed by 4-byte
 * events that a fake shell plays against the real backend core over up to
 * four control connections sharing one core: sidebands (16 token bytes)
 * arriving with 0, 1 or 2 fake descriptors, MSG_CTRUNC or a descriptor the
 * transport already refused, in one read or split across two; offers built
 * with the codec (valid, for the last sideband's token or another, legacy
 * or backend-ready with a deadline past, future or absent, another service,
 * request_id != correlation_id, correlation id 0) and then mutated
 * (flipped byte, truncation, framing version, huge length); replays of an
 * earlier sideband+offer; garbage; reads of exactly what the core wants or
 * of any size; ready-write results; EOF; clock steps; connections deleted
 * and created.
 *
 * Invariants after every event and at the end:
 *  - every descriptor handed to the core comes back exactly once, as ADOPT
 *    or CLOSE_FD, and no action names a descriptor the core does not hold
 *    (spec: ERR-4 XFER-28 XFER-11 BACKEND-2);
 *  - every offer the core read as well-formed (OFFER note without error)
 *    gets exactly one ACK echoing its token and correlation id, unless the
 *    control connection closed first or a fault says otherwise (spec: XFER-16
 *    XFER-17 XFER-18); a refused ACK names the error and nothing else
 *    (spec: ERR-2);
 *  - a descriptor that came with no, several, truncated or refused
 *    descriptors, or with a sideband different from the offer token, or for
 *    a token accepted within the TTL, is never adopted (spec: XFER-28
 *    XFER-12 XFER-15 TOKEN-17);
 *  - never a ready write for a refused offer: WRITE_CLIENT only for an
 *    offer flagged backend-ready in backend-ready mode, before its ACK and
 *    its ADOPT, and an offer whose ready frame was written is refused only
 *    when that write failed; an adopted backend-ready connection had its
 *    ready frame written before anything else; in legacy mode nothing is
 *    ever written to a client connection (spec: READY-9 READY-12 BACKEND-3
 *    READY-16);
 *  - nothing but CLOSE_FD after CLOSE_CONTROL; counters agree with the
 *    actions (spec: XFER-11 BACKEND-4).
 * Leaks and undefined behaviour are ASan's and UBSan's.
 *
 * Built two ways: with -fsanitize=fuzzer (make fuzz-backend), and with
 * -DHO_FUZZ_REPLAY_MAIN as a plain program that runs every file or
 * directory given on its command line through the target (make test).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/backend.h"
#include "handoff/frame.h"
#include "handoff/msg.h"

#include "backend_shell_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the shell: segments of the control stream ---------------------------- */

static void push_seg(ctl_m *m, const uint8_t *b, size_t len, ho_handle fd, int status) {
  if (m->nin >= MAX_SEG || len == 0 || len > sizeof m->in[0].b) return;
  seg *s = &m->in[m->nin++];
  memcpy(s->b, b, len);
  s->len = len;
  s->off = 0;
  s->fd = fd;
  s->status = status;
}

/* Read what is queued: exactly what the core wants (`exact`), or whole
 * segments (any split). */
static void pump(bk *k, int ci, bool exact, uint8_t chunk) {
  ctl_m *m = &k->c[ci];
  while (m->nin > 0) {
    seg *s = &m->in[0];
    size_t want = ho_backend_ctl_wanted(m->h);
    if (want == 0) break; /* closed, or a ready write is out */
    size_t n = s->len - s->off;
    if (exact && n > want) n = want;
    if (exact && chunk && n > chunk) n = chunk;
    ho_handle fd = HO_NO_HANDLE;
    int st = HO_OK;
    if (s->off == 0) {
      fd = s->fd;
      st = s->status;
      if (fd >= 0) {
        fd_rec *r = fd_of(k, fd);
        r->state = FD_HELD;
        r->ctl = ci;
      }
    }
    size_t used = 0;
    int rc = ho_backend_ctl_feed(m->h, k->now, s->b + s->off, n, fd, st, &used);
    CHECK(rc == HO_OK, "feed: %d", rc);
    CHECK(used <= n, "consumed more than fed");
    s->off += used;
    s->fd = HO_NO_HANDLE;
    s->status = HO_OK;
    if (s->off == s->len) {
      memmove(m->in, m->in + 1, (size_t)(m->nin - 1) * sizeof m->in[0]);
      m->nin--;
    }
    take(k, ci);
    /* spec: XFER-22 — a descriptor inside a frame closes the connection. */
    if (exact)
      CHECK(used == n || m->closed_seen, "a read of what the core wanted was not consumed whole");
    if (used < n) break;
  }
  if (m->closed_seen) m->nin = 0; /* the kernel closes what was never read */
}

/* ---- events ---------------------------------------------------------------- */

static void ev_sideband(bk *k, int ci, uint8_t a, uint8_t c) {
  ctl_m *m = &k->c[ci];
  const uint8_t *t = k->tok[a % NTOK];
  ho_handle f1 = HO_NO_HANDLE, f2 = HO_NO_HANDLE;
  int st = HO_OK;
  int good = 0;
  bool bad = false;
  switch (c & 7) {
  case 0: break;                                            /* no descriptor */
  case 1: case 2: case 3: f1 = new_fd(k); break;            /* one */
  case 4: st = HO_ERR_EXTRA_DESCRIPTORS; bad = true; break; /* two, closed by the transport */
  case 5: st = (c & 32) ? HO_ERR_FD_EXHAUSTED : HO_ERR_CTRUNC; bad = true; break;
  case 6: st = HO_ERR_BAD_DESCRIPTOR; bad = true; break;
  case 7: f1 = new_fd(k); st = HO_ERR_CTRUNC; bad = true; break; /* conn with a status */
  }
  if (f1 >= 0 && st == HO_OK) good++;
  bool split = (c & 8) != 0;
  if (split && (c & 16)) {
    f2 = new_fd(k); /* a descriptor with the second read counts too (XFER-29) */
    if (f2 >= 0) good++;
  }
  bool refuse = bad || good != 1;
  if (f1 >= 0) k->fd[f1 - FD_BASE].must_refuse = refuse;
  if (f2 >= 0) k->fd[f2 - FD_BASE].must_refuse = refuse;
  if (m->have_sb) m->aligned = false;
  m->have_sb = true;
  memcpy(m->sb_token, t, 16);
  m->sb_fds = good;
  m->sb_bad = bad;
  if (split) {
    push_seg(m, t, 5, f1, st);
    push_seg(m, t + 5, 11, f2, HO_OK);
  } else {
    push_seg(m, t, 16, f1, st);
  }
  memcpy(k->last_pair, t, 16);
  k->last_pair_len = 16;
}

static void ev_offer(bk *k, int ci, uint8_t a, uint8_t b, uint8_t c) {
  ctl_m *m = &k->c[ci];
  ho_offer o;
  memset(&o, 0, sizeof o);
  bool same = (a & 0x80) == 0;
  memcpy(o.token, same ? m->sb_token : k->tok[a % NTOK], 16);
  bool reuse = (b & 0x40) && k->next_corr > 1;
  o.correlation_id = reuse ? k->next_corr - 1 : k->next_corr++;
  if ((b & 0x30) == 0x30) o.correlation_id = 0;
  if (reuse) invalidate(k, o.correlation_id);
  static const char *const svc[] = {"echo", "", "other", "echo"};
  snprintf(o.service_name, sizeof o.service_name, "%s", svc[b & 3]);
  bool rflag = (b & 4) != 0;
  if (rflag) o.offer_flags = HO_OFFER_FLAG_BACKEND_READY;
  if (b & 8) o.offer_flags |= 1u << 7; /* unassigned flag: ignored */
  uint8_t payload[256];
  size_t plen = 0;
  if (ho_offer_encode(HO_CODEC_PROTOBUF_C, &o, payload, sizeof payload, &plen) != HO_OK) return;
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = 1;
  env.kind = HO_KIND_REQUEST;
  env.payload_protocol = HO_PAYLOAD_HANDOFF;
  env.payload_encoding = HO_ENCODING_NONE;
  env.payload = payload;
  env.payload_len = plen;
  env.request_id = (b & 0x30) == 0x10 ? o.correlation_id + 1 : o.correlation_id;
  switch ((c >> 4) & 3) {
  case 0: env.deadline_unix_ms = k->wall + 1000; break;
  case 1: env.deadline_unix_ms = 0; break;
  case 2: env.deadline_unix_ms = k->wall; break; /* passed */
  default: env.deadline_unix_ms = k->wall + 1; break;
  }
  uint8_t frame[300];
  size_t blen = 0;
  if (ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, frame + HO_FRAME_HEADER_BYTES,
                         sizeof frame - HO_FRAME_HEADER_BYTES, &blen) != HO_OK)
    return;
  ho_frame_write_header(frame, blen);
  size_t len = HO_FRAME_HEADER_BYTES + blen;
  bool mutated = true;
  switch (c & 7) {
  case 1: frame[HO_FRAME_HEADER_BYTES + (size_t)b % blen] ^= (uint8_t)(1u << (a & 7)); break;
  case 2: len = (size_t)(a % len); break;              /* truncated: rest never comes */
  case 3: frame[0] = 2; break;                          /* framing version */
  case 4: frame[4] = 0x7F; break;                       /* huge length */
  case 5: frame[1] = (uint8_t)(frame[1] + 1 + (a & 3)); break; /* wrong length */
  default: mutated = false; break;
  }
  bool well_formed = !mutated && o.correlation_id != 0 && env.request_id == o.correlation_id;
  if (!m->have_sb) m->aligned = false;
  if (m->aligned && well_formed && !reuse && k->nexp < MAX_OFFERS) {
    /* What the model knows of this offer; the rest is decided when the core
     * reads it (clock, replay set). */
    offer_exp *e = &k->exp[k->nexp++];
#ifdef HO_FUZZ_REPLAY_MAIN
    if (getenv("HO_FUZZ_TRACE"))
      fprintf(stderr, "  ctl=%d expects corr=%llu\n", ci, (unsigned long long)o.correlation_id);
#endif
    e->corr = o.correlation_id;
    e->ctl = ci;
    memcpy(e->token, o.token, 16);
    e->sb_refuse = m->sb_bad || m->sb_fds != 1 || memcmp(o.token, m->sb_token, 16) != 0;
    e->ready_flag = rflag;
    e->deadline = env.deadline_unix_ms;
    e->wrong_service = svc[b & 3][0] != '\0' && k->cfg.service_name != NULL &&
                       strcmp(svc[b & 3], k->cfg.service_name) != 0;
  }
  m->have_sb = false;
  if (!well_formed) m->aligned = false;
  if (len == 0) return;
  if (len <= sizeof m->in[0].b) {
    push_seg(m, frame, len, HO_NO_HANDLE, HO_OK);
  } else {
    push_seg(m, frame, sizeof m->in[0].b, HO_NO_HANDLE, HO_OK);
    push_seg(m, frame + sizeof m->in[0].b, len - sizeof m->in[0].b, HO_NO_HANDLE, HO_OK);
  }
  if (k->last_pair_len == 16 && len <= sizeof k->last_pair - 16) {
    memcpy(k->last_pair + 16, frame, len);
    k->last_pair_len = 16 + len;
    k->last_corr = o.correlation_id; /* a replay of it voids the expectation */
  }
}

/* The same sideband and offer bytes again, with a fresh descriptor: a replay. */
static void ev_replay(bk *k, int ci) {
  ctl_m *m = &k->c[ci];
  if (k->last_pair_len <= 16) return;
  ho_handle f = new_fd(k);
  m->aligned = false;
  invalidate(k, k->last_corr);
  push_seg(m, k->last_pair, 16, f, HO_OK);
  size_t rest = k->last_pair_len - 16;
  if (rest <= sizeof m->in[0].b) {
    push_seg(m, k->last_pair + 16, rest, HO_NO_HANDLE, HO_OK);
  } else {
    push_seg(m, k->last_pair + 16, sizeof m->in[0].b, HO_NO_HANDLE, HO_OK);
    push_seg(m, k->last_pair + 16 + sizeof m->in[0].b, rest - sizeof m->in[0].b, HO_NO_HANDLE,
             HO_OK);
  }
}

static void ev_garbage(bk *k, int ci, uint8_t a, uint8_t b, uint8_t c) {
  ctl_m *m = &k->c[ci];
  uint8_t g[8] = {a, b, c, (uint8_t)(a ^ c), 1, 0, 0, 0};
  ho_handle f = (c & 0x80) ? new_fd(k) : HO_NO_HANDLE;
  if (f >= 0) k->fd[f - FD_BASE].must_refuse = false; /* unknown: not checked */
  m->aligned = false;
  push_seg(m, g, 1 + (size_t)(c & 7), f, HO_OK);
}

static void ev_written(bk *k, int ci, uint8_t a) {
  ctl_m *m = &k->c[ci];
  if (m->waiting_fd == HO_NO_HANDLE) {
    CHECK(ho_backend_ctl_client_written(m->h, k->now, HO_OK) == HO_ERR_STATE,
          "client_written without a ready write accepted");
    take(k, ci);
    return;
  }
  fd_rec *r = fd_of(k, m->waiting_fd);
  int result = (a & 3) == 3 ? HO_ERR_IO : (a & 3) == 2 ? HO_ERR_CLOSED : HO_OK;
  if (r->state == FD_HELD) {
    r->ready_ok = result == HO_OK;
    r->ready_failed = result != HO_OK;
  }
  m->waiting_fd = HO_NO_HANDLE;
  int rc = ho_backend_ctl_client_written(m->h, k->now, result);
  CHECK(rc == HO_OK || (rc == HO_ERR_STATE && m->closed_seen), "client_written: %d", rc);
  take(k, ci);
}

static void ctl_open(bk *k, int ci) {
  ctl_m *m = &k->c[ci];
  memset(m, 0, sizeof *m);
  m->waiting_fd = HO_NO_HANDLE;
  m->aligned = true;
  CHECK(ho_backend_ctl_new(k->core, &m->h) == HO_OK, "ctl_new");
}

static void ctl_close(bk *k, int ci) {
  ctl_m *m = &k->c[ci];
  ho_backend_ctl_eof(m->h);
  take(k, ci);
  CHECK(m->closed_seen, "EOF without CLOSE_CONTROL");
  /* Nothing may be held by this connection any more: ctl_del would close()
   * it behind the shell's back. */
  for (int i = 0; i < k->nfd; i++)
    CHECK(!(k->fd[i].state == FD_HELD && k->fd[i].ctl == ci),
          "descriptor %d still held after EOF (spec: ERR-4)", i);
  ho_backend_ctl_del(m->h);
  m->h = NULL;
}

static void step(bk *k, uint8_t op, uint8_t a, uint8_t b, uint8_t c) {
  int ci = (op >> 4) % NCTL;
#ifdef HO_FUZZ_REPLAY_MAIN
  if (getenv("HO_FUZZ_TRACE"))
    fprintf(stderr, "now=%llu wall+%llu ctl=%d op=%u a=%u b=%u c=%u\n",
            (unsigned long long)k->now, (unsigned long long)(k->wall - 1700000000000ull), ci,
            op & 15u, a, b, c);
#endif
  ctl_m *m = &k->c[ci];
  switch (op & 15) {
  case 0: case 1: ev_sideband(k, ci, a, c); break;
  case 2: case 3: ev_offer(k, ci, a, b, c); break;
  case 4: ev_replay(k, ci); break;
  case 5: ev_garbage(k, ci, a, b, c); break;
  case 6: case 7: pump(k, ci, true, a & 0x1F); break;
  case 8: pump(k, ci, false, 0); break;
  case 9: ev_written(k, ci, a); break;
  case 10:
    if (b == 0xEE) { /* EOF, then a fresh connection */
      ctl_close(k, ci);
      ctl_open(k, ci);
    }
    break;
  case 11: /* time passes: offers stalled past OFFER_TIMEOUT end (BACKEND-10) */
    k->now += (uint64_t)a * ((b & 1) ? 100 : 1);
    for (int i = 0; i < NCTL; i++) {
      uint64_t at;
      if (!ho_backend_ctl_next_deadline(k->c[i].h, &at) || at > k->now) continue;
      CHECK(ho_backend_ctl_timer(k->c[i].h, k->now) == HO_OK, "timer");
      take(k, i);
      CHECK(!ho_backend_ctl_next_deadline(k->c[i].h, &at), "a deadline in the past survived");
      CHECK(k->c[i].closed_seen, "a stalled offer did not close its connection (spec: BACKEND-10)");
    }
    break;
  case 12: k->wall += (uint64_t)a * ((b & 1) ? 100 : 1); break;
  case 13: /* feed on a closed connection: the descriptor is still taken */
    if (m->closed_seen) {
      ho_handle f = new_fd(k);
      if (f >= 0) {
        k->fd[f - FD_BASE].state = FD_HELD;
        k->fd[f - FD_BASE].ctl = ci;
        k->fd[f - FD_BASE].must_refuse = true;
      }
      uint8_t x = a;
      CHECK(ho_backend_ctl_feed(m->h, k->now, &x, 1, f, HO_OK, NULL) == HO_ERR_STATE,
            "feed after close accepted");
      take(k, ci);
    }
    break;
  default: pump(k, ci, true, 0); break;
  }
  check_counters(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < BK_CFG_BYTES) return 0;
  bk *k = &K;
  memset(k, 0, sizeof *k);
  const uint8_t *g = data;
  ho_backend_config *cfg = &k->cfg;
  ho_backend_config_init(cfg);
  cfg->ready_mode = (g[0] & 1) ? HO_READY_BACKEND : HO_READY_LEGACY;
  cfg->service_name = (g[0] & 2) ? "echo" : NULL;
  unsigned fault = (g[0] >> 2) & 15;
  cfg->fault = fault <= HO_FAULT_CLOSE_CONTROL && (g[0] & 0x40) ? (ho_backend_fault)fault
                                                                : HO_FAULT_NONE;
  cfg->codec = (g[0] & 0x80) ? HO_CODEC_NANOPB : HO_CODEC_PROTOBUF_C;
  cfg->replay_capacity = 1 + (g[1] & 7);
  cfg->token_ttl_ms = 1 + (uint64_t)g[2] * 4;
  cfg->fault_ms = g[3];
  cfg->wall_clock_ms = wall_fn;
  cfg->wall_clock_ctx = k;
  cfg->close_handle = model_close;
  cfg->close_ctx = k;
  k->wall = 1700000000000ull;
  k->now = 1000;
  k->next_corr = 1;
  for (int i = 0; i < NTOK; i++)
    for (int j = 0; j < 16; j++) k->tok[i][j] = (uint8_t)(g[4] * 31u + g[5] + i * 17u + j * 101u);
  CHECK(ho_backend_core_new(cfg, &k->core) == HO_OK, "core_new");
  for (int i = 0; i < NCTL; i++) ctl_open(k, i);
  size_t ops = 0;
  for (size_t off = BK_CFG_BYTES; off + BK_OP_BYTES <= size && ops < MAX_OPS;
       off += BK_OP_BYTES, ops++)
    step(k, data[off], data[off + 1], data[off + 2], data[off + 3]);
  /* Read everything still queued, answer outstanding ready writes, then EOF. */
  for (int i = 0; i < NCTL; i++) {
    for (int n = 0; n < 8 && k->c[i].nin > 0 && !k->c[i].closed_seen; n++) {
      pump(k, i, true, 0);
      if (k->c[i].waiting_fd != HO_NO_HANDLE) ev_written(k, i, 0);
    }
    if (k->c[i].waiting_fd != HO_NO_HANDLE) ev_written(k, i, 0);
    ctl_close(k, i);
  }
  check_counters(k);
  for (int i = 0; i < k->nfd; i++)
    CHECK(k->fd[i].state != FD_HELD, "descriptor %d never adopted nor closed (spec: ERR-4)", i);
  ho_backend_core_del(k->core);
  k->core = NULL;
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#define HO_FUZZ_NAME "fuzz_backend_core"
#include "fuzz_replay_main.h"
#endif
