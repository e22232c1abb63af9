/* The fake shell of fuzz_backend_core.c: its records of descriptors,
 * control connections and expected offers, and the checks of every action
 * the backend core emits and of its counters (the invariants listed in
 * fuzz_backend_core.c). Included by that file only. */
#ifndef HO_FUZZ_BACKEND_SHELL_MODEL_H
#define HO_FUZZ_BACKEND_SHELL_MODEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/backend.h"
#include "handoff/frame.h"
#include "handoff/msg.h"

#define BK_CFG_BYTES 6
#define BK_OP_BYTES 4
#define MAX_OPS 2048
#define NCTL 4
#define MAX_FDS 1024
#define MAX_SEG 32
#define NTOK 6
#define MAX_OFFERS 512
#define FD_BASE ((ho_handle)1 << 24) /* fake descriptors: the core never closes one itself */


static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_backend_core: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) fail(__VA_ARGS__);                                                                \
  } while (0)

enum { FD_UNUSED = 0, FD_HELD, FD_ADOPTED, FD_CLOSED };

typedef struct fd_rec {
  int state;
  int ctl;
  bool must_refuse; /* came with a sideband that cannot be accepted */
  bool ready_sent;  /* WRITE_CLIENT taken for it */
  bool ready_ok;    /* ... and reported written */
  bool ready_failed;
} fd_rec;

typedef struct seg {
  uint8_t b[128];
  size_t len, off;
  ho_handle fd;   /* arrives with b[0] */
  int status;
} seg;

/* An offer the core has read (OFFER note) and not yet answered. */
typedef struct pend {
  bool live;
  uint64_t corr;
  bool known;       /* the model has an expectation for it */
  bool refuse;      /* ... and it must be refused */
  bool ready_flag;  /* offer flagged backend-ready */
  uint64_t at;      /* clock of the feed that read it */
} pend;

typedef struct ctl_m {
  ho_backend_ctl *h;
  bool closed_seen; /* CLOSE_CONTROL taken */
  seg in[MAX_SEG];
  int nin;
  pend p;           /* the offer being answered (at most one at a time) */
  ho_handle waiting_fd; /* WRITE_CLIENT taken, result not reported */
  uint64_t waiting_corr;
  /* The stream pushed so far is whole (sideband, well-formed offer) pairs,
   * so the model knows which sideband goes with which offer. */
  bool aligned;
  bool have_sb;     /* a sideband pushed, its offer not yet */
  uint8_t sb_token[16];
  int sb_fds;       /* good descriptors with the sideband */
  bool sb_bad;      /* ctrunc / refused by the transport */
} ctl_m;

typedef struct offer_exp {
  uint64_t corr; /* 0: invalidated */
  int ctl;
  uint8_t token[16];
  bool sb_refuse; /* its sideband alone makes it a refusal */
  bool ready_flag, wrong_service;
  uint64_t deadline;
} offer_exp;

typedef struct bk {
  ho_backend_core *core;
  ho_backend_config cfg;
  uint64_t now, wall;
  ctl_m c[NCTL];
  fd_rec fd[MAX_FDS];
  int nfd;
  uint8_t tok[NTOK][16];
  uint64_t next_corr;
  offer_exp exp[MAX_OFFERS];
  int nexp;
  /* accepted tokens and when (for replay expectations) */
  uint8_t acc_tok[MAX_OFFERS][16];
  uint64_t acc_until[MAX_OFFERS]; /* remembered until (spec: TOKEN-17) */
  int nacc;
  /* last complete sideband+offer fed, for replays */
  uint8_t last_pair[16 + 300];
  size_t last_pair_len;
  uint64_t last_corr;
  uint64_t acks, accepted, refused, adopted;
} bk;

static bk K;

static uint64_t wall_fn(void *ctx) { return ((bk *)ctx)->wall; }

static fd_rec *fd_of(bk *k, ho_handle h) {
  CHECK(h >= FD_BASE && h < FD_BASE + k->nfd, "action names unknown descriptor %lld",
        (long long)h);
  return &k->fd[h - FD_BASE];
}

static ho_handle new_fd(bk *k) {
  if (k->nfd >= MAX_FDS) return HO_NO_HANDLE;
  memset(&k->fd[k->nfd], 0, sizeof k->fd[0]);
  return FD_BASE + k->nfd++;
}

/* The core's last-resort release (ho_backend_ctl_del of undrained actions):
 * only a descriptor the core holds may be released, and only once. */
static void model_close(void *ctx, ho_handle h) {
  bk *k = ctx;
  fd_rec *r = fd_of(k, h);
  CHECK(r->state == FD_HELD, "close_handle of a descriptor not held (state %d)", r->state);
  r->state = FD_CLOSED;
}

static offer_exp *exp_of(bk *k, uint64_t corr, int ci) {
  if (corr == 0) return NULL;
  for (int i = k->nexp - 1; i >= 0; i--)
    if (k->exp[i].corr == corr && k->exp[i].ctl == ci) return &k->exp[i];
  return NULL;
}

static void invalidate(bk *k, uint64_t corr) {
  for (int i = 0; i < k->nexp; i++)
    if (k->exp[i].corr == corr) k->exp[i].corr = 0;
}

static bool token_accepted_recently(bk *k, const uint8_t *t) {
  for (int i = 0; i < k->nacc; i++)
    if (memcmp(k->acc_tok[i], t, 16) == 0 && k->now < k->acc_until[i]) return true;
  return false;
}

/* spec: TOKEN-17 TOKEN-19 — a token decided for acceptance (at `at`, the
 * feed that read its offer) is remembered until its offer's deadline +
 * REPLAY_MARGIN (bounded by the TTL), or the TTL without a deadline. */
static void remember(bk *k, const uint8_t *t, uint64_t at, uint64_t deadline) {
  if (k->nacc >= MAX_OFFERS) return;
  uint64_t ttl = k->cfg.token_ttl_ms, left = deadline > k->wall ? deadline - k->wall : 0;
  memcpy(k->acc_tok[k->nacc], t, 16);
  k->acc_until[k->nacc++] = deadline == 0 ? at + ttl : at + (left < ttl ? left : ttl) + 5000;
}

/* ---- taking and checking actions ---------------------------------------- */

static void take(bk *k, int ci) {
  ctl_m *m = &k->c[ci];
  ho_backend_action a;
  while (ho_backend_ctl_next_action(m->h, &a)) {
    if (m->closed_seen)
      CHECK(a.type == HO_BACKEND_ACT_CLOSE_FD, "action %d after CLOSE_CONTROL", (int)a.type);
    switch (a.type) {
    case HO_BACKEND_ACT_OFFER:
      if (a.err == HO_OK) {
        CHECK(!m->p.live, "offer read while the previous one is unanswered");
        CHECK(a.correlation_id != 0, "offer with correlation id 0 accepted (spec: XFER-13)");
        memset(&m->p, 0, sizeof m->p);
        m->p.live = true;
        m->p.corr = a.correlation_id;
        m->p.at = k->now;
        offer_exp *e = exp_of(k, a.correlation_id, ci);
#ifdef HO_FUZZ_REPLAY_MAIN
        if (getenv("HO_FUZZ_TRACE"))
          fprintf(stderr, "  ctl=%d read offer corr=%llu expected=%d\n", ci,
                  (unsigned long long)a.correlation_id, e != NULL);
#endif
        if (e != NULL) {
          m->p.known = true;
          m->p.ready_flag = e->ready_flag;
          m->p.refuse = e->sb_refuse || token_accepted_recently(k, e->token) ||
                        (e->ready_flag && k->cfg.ready_mode != HO_READY_BACKEND) ||
                        (e->ready_flag && e->deadline == 0) ||
                        (e->deadline != 0 && k->wall >= e->deadline) || /* spec: TOKEN-21 */
                        e->wrong_service || k->cfg.fault == HO_FAULT_REFUSE;
        }
      }
      break;
    case HO_BACKEND_ACT_WRITE_CONTROL: {
      CHECK(m->p.live && a.correlation_id == m->p.corr, "ACK for no offer being answered");
      m->p.live = false;
      k->acks++;
      if (a.accepted) k->accepted++;
      else k->refused++;
      ho_any_msg msg;
      ho_envelope env;
      CHECK(ho_frame_decode(k->cfg.codec, HO_FT_ACK, a.bytes, a.len, &env, &msg) == HO_OK ||
                k->cfg.fault == HO_FAULT_WRONG_CORRELATION,
            "ACK does not decode");
      offer_exp *e = exp_of(k, a.correlation_id, ci);
      bool known = m->p.known, refuse = m->p.refuse;
      uint64_t at = m->p.at;
      if (k->cfg.fault != HO_FAULT_WRONG_CORRELATION) {
        CHECK(msg.ack.accepted == a.accepted && msg.ack.correlation_id == a.correlation_id,
              "ACK bytes and action disagree");
        CHECK(a.accepted == (msg.ack.error_detail[0] == '\0'),
              "refused ACK without error_detail, or accepted with one (spec: XFER-18)");
        if (!a.accepted)
          CHECK(ho_err_from_name(msg.ack.error_detail) != 0,
                "error_detail is not an error name (spec: ERR-2)");
        if (e && k->cfg.fault != HO_FAULT_WRONG_TOKEN)
          CHECK(memcmp(msg.ack.token, e->token, 16) == 0, "ACK does not echo the token");
        CHECK(((msg.ack.backend_capabilities & HO_BACKEND_CAP_BACKEND_READY) != 0) ==
                  (k->cfg.ready_mode == HO_READY_BACKEND),
              "backend_capabilities and ready mode disagree (spec: XFER-17)");
        CHECK((msg.ack.backend_capabilities & HO_BACKEND_CAP_MULTI_OFFER) != 0,
              "every ACK declares MULTI_OFFER (spec: CAP-10)");
      }
      if (a.accepted && known && e) {
        CHECK(!refuse, "offer corr=%llu accepted but must be refused",
              (unsigned long long)a.correlation_id);
        if (!e->ready_flag) remember(k, e->token, at, e->deadline); /* flagged: at WRITE_CLIENT */
      }
      break;
    }
    case HO_BACKEND_ACT_WRITE_CLIENT: {
      fd_rec *r = fd_of(k, a.conn);
      CHECK(r->state == FD_HELD && r->ctl == ci, "ready write on a descriptor not held");
      CHECK(k->cfg.ready_mode == HO_READY_BACKEND, "legacy backend writes to a client (READY-9)");
      CHECK(m->p.live && a.correlation_id == m->p.corr, "ready write for no offer");
      {
        offer_exp *we = exp_of(k, a.correlation_id, ci);
        if (we != NULL) remember(k, we->token, m->p.at, we->deadline); /* spec: TOKEN-19 */
      }
      CHECK(!r->must_refuse, "ready write for an offer that must be refused (spec: READY-12)");
      CHECK(!(m->p.known && m->p.refuse), "ready write for an offer that must be refused");
      CHECK(!m->p.known || m->p.ready_flag, "ready write for an offer not flagged backend-ready");
      ho_any_msg msg;
      CHECK(ho_frame_decode(k->cfg.codec, HO_FT_READY, a.bytes, a.len, NULL, &msg) == HO_OK &&
                msg.ack.accepted && msg.ack.correlation_id == a.correlation_id,
            "ready frame does not decode");
      r->ready_sent = true;
      CHECK(m->waiting_fd == HO_NO_HANDLE, "two ready writes outstanding");
      m->waiting_fd = a.conn;
      m->waiting_corr = a.correlation_id;
      break;
    }
    case HO_BACKEND_ACT_ADOPT: {
      fd_rec *r = fd_of(k, a.conn);
      CHECK(r->state == FD_HELD, "ADOPT of a descriptor not held (state %d)", r->state);
      CHECK(!r->must_refuse, "adopted a descriptor that must be refused (spec: XFER-28)");
      if (m->p.corr == a.correlation_id && m->p.known) {
        CHECK(!m->p.refuse, "adopted corr=%llu that must be refused",
              (unsigned long long)a.correlation_id);
        /* spec: READY-9 — backend-ready: the ready frame went first. */
        CHECK(!m->p.ready_flag || a.ready_written, "backend-ready offer adopted without ready");
      }
      if (a.ready_written)
        CHECK(r->ready_sent && r->ready_ok, "ADOPT says ready written but it was not");
      else
        CHECK(!r->ready_sent, "ready written but ADOPT does not say so");
      CHECK(k->cfg.ready_mode == HO_READY_BACKEND || !a.ready_written, "legacy ready write");
      r->state = FD_ADOPTED;
      k->adopted++;
      break;
    }
    case HO_BACKEND_ACT_CLOSE_FD: {
      fd_rec *r = fd_of(k, a.conn);
      CHECK(r->state == FD_HELD, "CLOSE_FD of a descriptor not held (state %d)", r->state);
      /* spec: READY-12 — never a ready frame on a connection then refused,
       * unless writing it failed. */
      CHECK(!(r->ready_sent && r->ready_ok), "ready frame written, then refused (spec: READY-12)");
      r->state = FD_CLOSED;
      break;
    }
    case HO_BACKEND_ACT_CLOSE_CONTROL:
      CHECK(!m->closed_seen, "CLOSE_CONTROL twice");
      m->closed_seen = true;
      m->p.live = false; /* no ACK can go out any more */
      break;
    case HO_BACKEND_ACT_CRASH:
      CHECK(k->cfg.fault == HO_FAULT_CRASH_BEFORE_ACK, "CRASH without the fault");
      m->p.live = false;
      break;
    default:
      fail("unknown action %d", (int)a.type);
    }
  }
  if (k->cfg.fault == HO_FAULT_CLOSE_CONTROL || k->cfg.fault == HO_FAULT_CRASH_BEFORE_ACK) {
    if (m->closed_seen) m->p.live = false;
  }
  /* An answered-or-waiting offer: unanswered only while its ready write is out. */
  if (m->p.live && !m->closed_seen)
    CHECK(m->waiting_fd != HO_NO_HANDLE && m->waiting_corr == m->p.corr,
          "offer corr=%llu read and not answered (spec: XFER-16)",
          (unsigned long long)m->p.corr);
}

static void check_counters(bk *k) {
  ho_backend_counters ct;
  ho_backend_core_counters(k->core, &ct);
  CHECK(ct.accepted == k->accepted && ct.refused == k->refused, "ACK counters");
  CHECK(ct.adopted == k->adopted, "adopted counter");
  uint64_t by = 0;
  for (int i = 0; i < HO_REFUSAL_COUNT_; i++) by += ct.refused_by[i];
  CHECK(by == ct.refused, "refused_by does not sum to refused");
  CHECK(ct.accepted <= ct.offers && ct.malformed <= ct.offers, "offer counters");
}

#endif
