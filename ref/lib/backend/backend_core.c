/* handoff — sans-I/O backend core: control-connection bytes and received
 * descriptors in, actions out. No system call and no clock here: time and
 * the wall clock are inputs, and every descriptor leaves as an ADOPT or
 * CLOSE_FD action the shell executes (or, as a last resort, through the
 * injected close_handle).
 *
 * Control stream layout (spec: XFER-1 XFER-22): for every handoff, 16 raw token
 * bytes (the descriptor travels with the first one), then one framed
 * HandoffOffer. The core reads both strictly in sequence and tells the
 * shell how many bytes to read next, so a read never crosses a boundary
 * (spec: FRAME-11). Without a sideband (cfg.no_sideband: Windows pipes,
 * spec: XFER-31 XFER-32) the stream is offer frames only and the handle an
 * offer names is judged by the injected check_handle.
 *
 * Memory: every byte comes from the configured allocator (cfg.allocator,
 * core/alloc.h): the core with its replay set in ho_backend_core_new, per
 * control connection its state and action queue in ho_backend_ctl_new, and
 * an offer buffer only for offers above the inline 256 bytes. Built with
 * HO_NO_HEAP (the no-heap peer library) nothing here can reach malloc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/replay.h"
#include "core/alloc.h"
#include "handoff/backend.h"
#include "handoff/frame.h"

enum { ST_SIDEBAND = 0, ST_FRAME, ST_WAIT_READY, ST_CLOSED };

#define OFFER_CAP (64u * 1024u)           /* spec: BACKEND-11 FRAME-8 */
#define DEFAULT_OFFER_TIMEOUT_MS 2000u    /* OFFER_TIMEOUT, spec: BACKEND-10 */
#define REPLAY_MARGIN_MS 5000u            /* spec: TOKEN-17 */
#define INLINE_BODY 256u
#define QUEUE_INITIAL 8u /* actions; one call queues at most 5 (process_offer) */

#ifdef HO_NO_HEAP
/* The no-heap peer library carries the nanopb codec only. */
#define CODEC_DEFAULT HO_CODEC_NANOPB
#define CODEC_OK(c) ((c) == HO_CODEC_NANOPB)
#else
#define CODEC_DEFAULT HO_CODEC_PROTOBUF_C
#define CODEC_OK(c) ((c) == HO_CODEC_PROTOBUF_C || (c) == HO_CODEC_NANOPB)
#endif

struct ho_backend_core {
  ho_backend_config cfg;
  ho_allocator alloc; /* resolved cfg.allocator (cfg.allocator points here) */
  char service[HO_MAX_SERVICE_NAME + 1];
  ho_replay replay;
  ho_backend_counters counters;
  int refusing; /* HO_OK, or the error every new offer is refused with */
  size_t ctls;
};

struct ho_backend_ctl {
  ho_backend_core *core;
  void *user;         /* the shell's, for check_handle */
  int state;
  /* sideband of the current handoff */
  uint8_t sb[HO_TOKEN_BYTES];
  size_t sb_have;
  ho_handle sb_conn;  /* the one acceptable descriptor received */
  unsigned sb_count;  /* descriptors seen with this sideband's reads */
  bool sb_fdexh;      /* MSG_CTRUNC with room left: not installed */
  bool sb_ctrunc;     /* the transport reported CTRUNC (pre-rc1 transports) */
  bool sb_bad;        /* one had the wrong type (already closed) */
  bool in_offer;      /* a handoff has begun (first sideband byte read) */
  uint64_t offer_due; /* ... and must be complete by then (BACKEND-10) */
  /* offer frame: the one frame reader of the library, on a small inline
   * buffer that grows to the 64 KiB cap only for large offers */
  ho_frame_reader rd;
  uint8_t body_inline[INLINE_BODY];
  uint8_t *body_heap; /* from the allocator, only while a large offer is read */
  /* accepted offer waiting for its ready write */
  ho_offer wait_offer;
  ho_handle wait_conn;
  /* while an offer is processed: the coalesced offer whose reply_declined a
   * refusal writes (its descriptor passed XFER-28/29/12/15, READY-29) */
  const ho_offer *decline;
  /* action queue (a FIFO array) and descriptors that could not be queued */
  ho_backend_action *q;
  size_t qhead, qlen, qcap;
};

void ho_backend_config_init(ho_backend_config *cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->ready_mode = HO_READY_LEGACY;
  cfg->token_ttl_ms = 30000;
  cfg->replay_capacity = 65536;
  cfg->codec = CODEC_DEFAULT;
  cfg->fault = HO_FAULT_NONE;
  cfg->peer_policy = HO_PEER_SAME_UID;
  cfg->offer_timeout_ms = DEFAULT_OFFER_TIMEOUT_MS;
}

int ho_backend_fault_parse(const char *s, ho_backend_fault *fault, uint32_t *fault_ms) {
  if (s == NULL || fault == NULL || fault_ms == NULL) return HO_ERR_INVALID_ARGUMENT;
  static const struct {
    const char *name;
    ho_backend_fault f;
  } names[] = {{"none", HO_FAULT_NONE},
               {"refuse", HO_FAULT_REFUSE},
               {"crash-before-ack", HO_FAULT_CRASH_BEFORE_ACK},
               {"wrong-token", HO_FAULT_WRONG_TOKEN},
               {"wrong-correlation", HO_FAULT_WRONG_CORRELATION},
               {"close-control", HO_FAULT_CLOSE_CONTROL}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(s, names[i].name) == 0) {
      *fault = names[i].f;
      *fault_ms = 0;
      return HO_OK;
    }
  }
  if (strncmp(s, "late-ack:", 9) == 0 && s[9] >= '0' && s[9] <= '9') {
    char *end = NULL;
    unsigned long v = strtoul(s + 9, &end, 10);
    if (*end != '\0' || v > 3600000ul) return HO_ERR_INVALID_ARGUMENT;
    *fault = HO_FAULT_LATE_ACK;
    *fault_ms = (uint32_t)v;
    return HO_OK;
  }
  return HO_ERR_INVALID_ARGUMENT;
}

static const struct {
  const char *name;
  int err;
} refusals[HO_REFUSAL_COUNT_] = {
#define HO_BACKEND_REFUSAL_ROW_(name, err) {#name, err},
    HO_BACKEND_REFUSAL_LIST(HO_BACKEND_REFUSAL_ROW_)
#undef HO_BACKEND_REFUSAL_ROW_
};

const char *ho_backend_refusal_name(ho_backend_refusal r) {
  return (unsigned)r < HO_REFUSAL_COUNT_ ? refusals[r].name : "UNKNOWN";
}

int ho_backend_core_new(const ho_backend_config *cfg, ho_backend_core **out) {
  if (out == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_backend_config c;
  if (cfg != NULL) c = *cfg;
  else ho_backend_config_init(&c);
  if (c.ready_mode != HO_READY_LEGACY && c.ready_mode != HO_READY_BACKEND)
    return HO_ERR_INVALID_ARGUMENT;
  if (!CODEC_OK(c.codec)) return HO_ERR_INVALID_ARGUMENT;
  if (c.service_name != NULL && strlen(c.service_name) > HO_MAX_SERVICE_NAME)
    return HO_ERR_INVALID_ARGUMENT;
  if (c.close_handle == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (c.no_sideband && c.check_handle == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (c.token_ttl_ms == 0) c.token_ttl_ms = 1;
  if (c.replay_capacity == 0) c.replay_capacity = 1;
  if (c.offer_timeout_ms == 0) c.offer_timeout_ms = DEFAULT_OFFER_TIMEOUT_MS;
  ho_allocator al;
  if (ho_core_allocator(c.allocator, &al) != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  ho_backend_core *core = al.alloc(al.ctx, sizeof *core);
  if (core == NULL) return HO_ERR_NOMEM;
  memset(core, 0, sizeof *core);
  core->alloc = al;
  int rc = ho_replay_init(&core->replay, c.replay_capacity, c.token_ttl_ms, &core->alloc);
  if (rc != HO_OK) {
    al.free(al.ctx, core);
    return rc;
  }
  if (c.service_name != NULL) strcpy(core->service, c.service_name);
  c.service_name = core->service;
  c.allocator = &core->alloc;
  core->cfg = c;
  *out = core;
  return HO_OK;
}

void ho_backend_core_del(ho_backend_core *core) {
  if (core == NULL) return;
  ho_replay_free(&core->replay);
  ho_allocator al = core->alloc;
  al.free(al.ctx, core);
}

static void *core_alloc(const ho_backend_core *core, size_t n) {
  return core->alloc.alloc(core->alloc.ctx, n);
}

static void core_free(const ho_backend_core *core, void *p) {
  core->alloc.free(core->alloc.ctx, p);
}

void ho_backend_core_counters(const ho_backend_core *core, ho_backend_counters *out) {
  if (core == NULL || out == NULL) return;
  *out = core->counters;
}

int ho_backend_core_set_refusing(ho_backend_core *core, int err) {
  if (core == NULL || (err != HO_OK && err != HO_ERR_DRAINING && err != HO_ERR_OVERLOADED &&
                       err != HO_ERR_FD_EXHAUSTED))
    return HO_ERR_INVALID_ARGUMENT;
  core->refusing = err;
  return HO_OK;
}

/* The frame reader's on-demand buffer: the inline one for the usual offer of
 * about 100 bytes, otherwise one buffer of the next power of two up to the
 * 64 KiB cap (the reader refused a larger length before asking: BACKEND-11),
 * so an allocator reusing freed blocks of one size (handoff/arena.h) sees
 * nine sizes at most. Asked for before any body byte is read: nothing to
 * copy. */
static uint8_t *grow_body(void *ctx, size_t need) {
  ho_backend_ctl *ctl = ctx;
  size_t size = 2 * INLINE_BODY;
  while (size < need) size *= 2;
  core_free(ctl->core, ctl->body_heap);
  ctl->body_heap = core_alloc(ctl->core, size);
  return ctl->body_heap;
}

static void reader_reset(ho_backend_ctl *ctl) {
  if (ctl->body_heap != NULL) {
    core_free(ctl->core, ctl->body_heap);
    ctl->body_heap = NULL;
  }
  (void)ho_frame_reader_init_grow(&ctl->rd, ctl->body_inline, sizeof ctl->body_inline, OFFER_CAP,
                                  grow_body, ctl);
}

int ho_backend_ctl_new(ho_backend_core *core, ho_backend_ctl **out) {
  if (core == NULL || out == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_backend_ctl *c = core_alloc(core, sizeof *c);
  if (c == NULL) return HO_ERR_NOMEM;
  memset(c, 0, sizeof *c);
  /* The queue up front: a shell that drains the actions after every call
   * never makes it grow, so no later call allocates. */
  c->q = core_alloc(core, QUEUE_INITIAL * sizeof *c->q);
  if (c->q == NULL) {
    core_free(core, c);
    return HO_ERR_NOMEM;
  }
  c->qcap = QUEUE_INITIAL;
  c->core = core;
  c->state = core->cfg.no_sideband ? ST_FRAME : ST_SIDEBAND;
  c->sb_conn = HO_NO_HANDLE;
  c->wait_conn = HO_NO_HANDLE;
  reader_reset(c);
  core->ctls++;
  *out = c;
  return HO_OK;
}

void ho_backend_ctl_set_user(ho_backend_ctl *ctl, void *user) {
  if (ctl != NULL) ctl->user = user;
}

void *ho_backend_ctl_user(const ho_backend_ctl *ctl) { return ctl != NULL ? ctl->user : NULL; }

/* Where the stream is between handoffs: before a sideband, or (no
 * sideband) before an offer frame. */
static int idle_state(const ho_backend_ctl *ctl) {
  return ctl->core->cfg.no_sideband ? ST_FRAME : ST_SIDEBAND;
}

static void release(ho_backend_ctl *ctl, ho_handle h) {
  if (h >= 0) ctl->core->cfg.close_handle(ctl->core->cfg.close_ctx, h);
}

void ho_backend_ctl_del(ho_backend_ctl *ctl) {
  if (ctl == NULL) return;
  release(ctl, ctl->sb_conn);
  release(ctl, ctl->wait_conn);
  /* The descriptors of actions never taken: ADOPT, CLOSE_FD and DECLINE
   * own theirs. A WRITE_CLIENT's is the one its offer waits with
   * (wait_conn, released above) or, once the write was reported, the one
   * of the ADOPT or CLOSE_FD queued after it: not released a second time. */
  for (size_t i = ctl->qhead; i < ctl->qlen; i++) {
    ho_backend_action *a = &ctl->q[i];
    if (a->type == HO_BACKEND_ACT_ADOPT || a->type == HO_BACKEND_ACT_CLOSE_FD ||
        a->type == HO_BACKEND_ACT_DECLINE)
      release(ctl, a->conn);
  }
  ho_backend_core *core = ctl->core;
  core_free(core, ctl->body_heap);
  core_free(core, ctl->q);
  core->ctls--;
  core_free(core, ctl);
}

/* ---- action queue ------------------------------------------------------ */

/* Room for `n` more actions at the end of the queue: moves undrained ones
 * to the front, then grows by doubling (no realloc in an allocator). */
static bool reserve(ho_backend_ctl *ctl, size_t n) {
  if (ctl->qhead == ctl->qlen) ctl->qhead = ctl->qlen = 0;
  if (ctl->qcap - ctl->qlen < n && ctl->qhead > 0) { /* room in front: use it */
    memmove(ctl->q, ctl->q + ctl->qhead, (ctl->qlen - ctl->qhead) * sizeof *ctl->q);
    ctl->qlen -= ctl->qhead;
    ctl->qhead = 0;
  }
  if (ctl->qcap - ctl->qlen >= n) return true;
  size_t ncap = ctl->qcap * 2;
  while (ncap - ctl->qlen < n) ncap *= 2;
  ho_backend_action *nq = core_alloc(ctl->core, ncap * sizeof *nq);
  if (nq == NULL) return false;
  memcpy(nq, ctl->q, ctl->qlen * sizeof *nq);
  core_free(ctl->core, ctl->q);
  ctl->q = nq;
  ctl->qcap = ncap;
  return true;
}

static ho_backend_action *push(ho_backend_ctl *ctl, ho_backend_act_type type) {
  if (!reserve(ctl, 1)) return NULL;
  ho_backend_action *a = &ctl->q[ctl->qlen++];
  memset(a, 0, offsetof(ho_backend_action, bytes));
  a->type = type;
  a->conn = HO_NO_HANDLE;
  return a;
}

int ho_backend_ctl_next_action(ho_backend_ctl *ctl, ho_backend_action *out) {
  if (ctl == NULL || out == NULL || ctl->qhead == ctl->qlen) return 0;
  const ho_backend_action *a = &ctl->q[ctl->qhead++];
  memcpy(out, a, offsetof(ho_backend_action, bytes) + a->len);
  return 1;
}

/* Queue closing `conn`; if even that cannot be queued, release it now. */
static void queue_close_fd(ho_backend_ctl *ctl, ho_handle conn) {
  if (conn < 0) return;
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_CLOSE_FD);
  if (a == NULL) {
    release(ctl, conn);
    return;
  }
  a->conn = conn;
}

static void sideband_reset(ho_backend_ctl *ctl) {
  ctl->sb_have = 0;
  ctl->sb_count = 0;
  ctl->sb_fdexh = ctl->sb_ctrunc = ctl->sb_bad = false;
  ctl->in_offer = false;
}

static void close_control(ho_backend_ctl *ctl, int err) {
  queue_close_fd(ctl, ctl->sb_conn);
  ctl->sb_conn = HO_NO_HANDLE;
  queue_close_fd(ctl, ctl->wait_conn);
  ctl->wait_conn = HO_NO_HANDLE;
  if (ctl->state != ST_CLOSED) {
    ho_backend_action *a = push(ctl, HO_BACKEND_ACT_CLOSE_CONTROL);
    if (a != NULL) a->err = err;
  }
  ctl->state = ST_CLOSED;
  ctl->in_offer = false;
}

void ho_backend_ctl_eof(ho_backend_ctl *ctl) {
  if (ctl == NULL) return;
  /* spec: XFER-9 ERR-34 ERR-35 ERR-44 FRAME-9 — inside a sideband or a frame the
   * input was truncated; between handoffs the connection simply closed. */
  bool mid = (ctl->state == ST_SIDEBAND && ctl->sb_have > 0) ||
             (ctl->state == ST_FRAME && (!ctl->core->cfg.no_sideband || ctl->in_offer));
  close_control(ctl, mid ? HO_ERR_TRUNCATED : HO_ERR_CLOSED);
}

/* in_offer holds only while a sideband or an offer frame is read: it is
 * cleared when the offer is processed (sideband_reset) and by
 * close_control, the one way into ST_CLOSED. */
int ho_backend_ctl_next_deadline(const ho_backend_ctl *ctl, uint64_t *at_ms) {
  if (ctl == NULL || at_ms == NULL || !ctl->in_offer) return 0;
  *at_ms = ctl->offer_due;
  return 1;
}

int ho_backend_ctl_timer(ho_backend_ctl *ctl, uint64_t now_ms) {
  if (ctl == NULL) return HO_ERR_INVALID_ARGUMENT;
  /* spec: BACKEND-10 ERR-46 ERR-4 — a stalled or trickling offer: close
   * its descriptors and the control connection, no ACK. */
  if (ctl->in_offer && now_ms >= ctl->offer_due) {
    ctl->core->counters.offers++;
    ctl->core->counters.malformed++;
    close_control(ctl, HO_ERR_TIMEOUT);
  }
  return HO_OK;
}

/* ---- ACK and ready frames ----------------------------------------------- */

/* Queue the ACK for `offer`: exactly one per offer that passed XFER-11,
 * echoing token and correlation id. spec: XFER-16 XFER-17 XFER-18 */
static void queue_ack(ho_backend_ctl *ctl, const ho_offer *offer, bool accepted, int err) {
  const ho_backend_config *cfg = &ctl->core->cfg;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, offer->token, HO_TOKEN_BYTES); /* echo verbatim */
  m.ack.accepted = accepted;
  m.ack.correlation_id = offer->correlation_id;
  if (cfg->ready_mode == HO_READY_BACKEND) /* spec: XFER-17 READY-9 CAP-7 CAP-2 */
    m.ack.backend_capabilities |= HO_BACKEND_CAP_BACKEND_READY;
  if (!cfg->single_offer) /* spec: CAP-10 BACKEND-13 — we keep control connections */
    m.ack.backend_capabilities |= HO_BACKEND_CAP_MULTI_OFFER;
  if (cfg->ready_mode == HO_READY_BACKEND && !cfg->no_coalesced_reply) /* spec: CAP-11 */
    m.ack.backend_capabilities |= HO_BACKEND_CAP_COALESCED_REPLY;
  if (!accepted) {
    /* spec: XFER-18 ERR-2 — error_detail is the error name and nothing else. */
    const char *name = ho_errname(err);
    (void)snprintf(m.ack.error_detail, sizeof m.ack.error_detail, "%s", name ? name : "IO");
  }
  if (accepted && cfg->fault == HO_FAULT_WRONG_TOKEN) m.ack.token[0] ^= 0xFF;
  if (accepted && cfg->fault == HO_FAULT_WRONG_CORRELATION) m.ack.correlation_id++;
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_WRITE_CONTROL);
  if (a == NULL) {
    close_control(ctl, HO_ERR_NOMEM);
    return;
  }
  a->correlation_id = offer->correlation_id;
  a->accepted = accepted;
  a->err = accepted ? HO_OK : err;
  if (cfg->fault == HO_FAULT_LATE_ACK) a->delay_ms = cfg->fault_ms;
  int rc = ho_frame_encode(cfg->codec, HO_FT_ACK, &m, a->bytes, sizeof a->bytes, &a->len);
  if (rc != HO_OK) {
    ctl->qlen--; /* drop the half-built action */
    close_control(ctl, rc);
    return;
  }
  if (accepted) ctl->core->counters.accepted++;
  else ctl->core->counters.refused++;
}

/* spec: READY-29 — a refused coalesced offer: the declined Negotiated is the
 * only thing written, in one write, nothing is read; the shell closes it. */
static bool queue_decline(ho_backend_ctl *ctl, const ho_offer *offer, ho_handle conn) {
  if (conn < 0 || offer->reply_declined_len > HO_BACKEND_ACT_MAX_BYTES) return false;
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_DECLINE);
  if (a == NULL) return false;
  a->conn = conn;
  a->correlation_id = offer->correlation_id;
  a->coalesced = true;
  memcpy(a->bytes, offer->reply_declined, offer->reply_declined_len);
  a->len = offer->reply_declined_len;
  return true;
}

static void refuse(ho_backend_ctl *ctl, const ho_offer *offer, ho_handle conn,
                   ho_backend_refusal why, int err) {
  /* spec: BACKEND-3 READY-12 XFER-18 — nothing is read or written on a
   * refused connection (a coalesced one gets its declined reply, READY-29),
   * and it is closed before the refusing ACK. */
  if (ctl->decline == offer && queue_decline(ctl, offer, conn)) conn = HO_NO_HANDLE;
  queue_close_fd(ctl, conn);
  ctl->core->counters.refused_by[why]++;
  queue_ack(ctl, offer, false, refusals[why].err ? refusals[why].err : err);
}

static void adopt(ho_backend_ctl *ctl, const ho_offer *offer, ho_handle conn, bool ready_written) {
  /* spec: XFER-16 — an accepting ACK only with the ADOPT behind it: room
   * for both first, or neither is queued and the control connection ends
   * (the broker falls back; no client is told "accepted" and then closed). */
  if (!reserve(ctl, 2)) {
    release(ctl, conn);
    close_control(ctl, HO_ERR_NOMEM);
    return;
  }
  queue_ack(ctl, offer, true, HO_OK);
  if (ctl->state == ST_CLOSED) { /* the ACK could not be encoded */
    queue_close_fd(ctl, conn);
    return;
  }
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_ADOPT); /* reserved: cannot fail */
  a->conn = conn;
  a->correlation_id = offer->correlation_id;
  a->ready_written = ready_written;
  a->coalesced = ready_written && (offer->offer_flags & HO_OFFER_FLAG_COALESCED_REPLY) != 0;
  ctl->core->counters.adopted++;
}

/* spec: READY-29 — a reply of a coalesced offer is exactly one complete
 * frame of at most REPLY_MAX bytes holding a Negotiated that a client would
 * accept (CLIENT-2 CLIENT-4), with the offer's token (adopted) or none. */
static bool reply_ok(ho_codec codec, const uint8_t *b, size_t n, const uint8_t *token,
                     bool with_token) {
  if (n < HO_FRAME_HEADER_BYTES || n > HO_MAX_REPLY_FRAME) return false;
  size_t body = (size_t)b[1] | (size_t)b[2] << 8 | (size_t)b[3] << 16 | (size_t)b[4] << 24;
  if (body != n - HO_FRAME_HEADER_BYTES) return false;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  if (ho_frame_decode(codec, HO_FT_HELLO_REPLY, b, n, NULL, &m) != HO_OK) return false;
  if (m.hello_reply.which != HO_REPLY_NEGOTIATED) return false;
  const ho_negotiated *g = &m.hello_reply.negotiated;
  if (g->negotiated_protocol != HO_PROTOCOL_VERSION || g->backend_pipe[0] == '\0') return false;
  if (!with_token) return g->handle_passed_token_len == 0;
  return g->handle_passed_token_len == HO_TOKEN_BYTES &&
         ho_token_equal(g->handle_passed_token, token);
}

/* The monotonic instant until which an accepted token is remembered: its
 * offer's deadline (a wall-clock instant) + REPLAY_MARGIN, or
 * TOKEN_TTL_MAX for an offer without one. spec: TOKEN-17 */
static uint64_t remember_until(const ho_backend_core *core, uint64_t now_ms, uint64_t deadline,
                               uint64_t wall) {
  uint64_t ttl = core->cfg.token_ttl_ms;
  if (deadline == 0) return now_ms + ttl;
  /* Called only for an accepted offer: one with a deadline had a wall clock
   * before it (wall != 0 and wall < deadline, else it was refused). A
   * deadline further away than TOKEN_TTL_MAX cannot come from a
   * conforming broker (TOKEN-16, TOKEN-22); it is bounded by the TTL. */
  uint64_t left = deadline - wall;
  return now_ms + (left < ttl ? left : ttl) + REPLAY_MARGIN_MS;
}

/* spec: XFER-28 — the first failing descriptor check, in its order:
 * EXTRA_DESCRIPTORS, FD_EXHAUSTED, NO_DESCRIPTOR, BAD_DESCRIPTOR. */
static int descriptor_status(const ho_backend_ctl *ctl, ho_backend_refusal *why) {
  if (ctl->sb_count > 1) return *why = HO_REFUSAL_EXTRA_DESCRIPTORS, HO_ERR_EXTRA_DESCRIPTORS;
  if (ctl->sb_fdexh) return *why = HO_REFUSAL_FD_EXHAUSTED, HO_ERR_FD_EXHAUSTED;
  if (ctl->sb_ctrunc) return *why = HO_REFUSAL_CTRUNC, HO_ERR_CTRUNC;
  if (ctl->sb_count == 0) return *why = HO_REFUSAL_NO_DESCRIPTOR, HO_ERR_NO_DESCRIPTOR;
  if (ctl->sb_bad) return *why = HO_REFUSAL_BAD_DESCRIPTOR, HO_ERR_BAD_DESCRIPTOR;
  return HO_OK;
}

/* spec: XFER-32 XFER-38 — without a sideband: check_handle judges the value;
 * a value it refuses is not ours to close (it may be one of our own
 * handles), so nothing is kept that could come back as CLOSE_FD. */
static int handle_status(ho_backend_ctl *ctl, uint64_t value, ho_handle *conn,
                         ho_backend_refusal *why) {
  const ho_backend_config *cfg = &ctl->core->cfg;
  ho_handle h = HO_NO_HANDLE;
  int rc = cfg->check_handle(cfg->check_ctx, ctl->user, value, &h);
  if (rc == HO_OK && h >= 0) {
    *conn = h;
    return HO_OK;
  }
  *conn = HO_NO_HANDLE;
  if (rc == HO_ERR_NO_DESCRIPTOR) return *why = HO_REFUSAL_NO_DESCRIPTOR, HO_ERR_NO_DESCRIPTOR;
  return *why = HO_REFUSAL_BAD_DESCRIPTOR, HO_ERR_BAD_DESCRIPTOR;
}

/* One complete offer frame body plus the sideband before it. */
static void process_offer(ho_backend_ctl *ctl, uint64_t now_ms, const uint8_t *body,
                          size_t blen) {
  ho_backend_core *core = ctl->core;
  const ho_backend_config *cfg = &core->cfg;
  ho_handle conn = ctl->sb_conn;
  ho_backend_refusal why = HO_REFUSAL_COUNT_;
  int status = descriptor_status(ctl, &why);
  ctl->sb_conn = HO_NO_HANDLE;
  core->counters.offers++;
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode_body(cfg->codec, HO_FT_OFFER, body, blen, &env, &m);
  /* spec: XFER-13 ERR-47 — a handoff-layer check on a validly decoded offer. */
  if (rc == HO_OK && m.offer.correlation_id == 0) rc = HO_ERR_CORRELATION_MISMATCH;
  /* spec: XFER-32 XFER-38 XFER-36 XFER-44 — no sideband: the handle is the one the
   * decoded offer names, judged now, where the descriptor checks stand. */
  if (cfg->no_sideband &&
      (rc == HO_OK || rc == HO_ERR_CORRELATION_MISMATCH || rc == HO_ERR_REQUEST_ID_MISMATCH))
    status = handle_status(ctl, m.offer.handle_value, &conn, &why);
  ho_backend_action *note = push(ctl, HO_BACKEND_ACT_OFFER);
  if (note != NULL) {
    note->err = rc;
    note->correlation_id = rc == HO_OK ? m.offer.correlation_id : 0;
  }
  if (rc != HO_OK) {
    /* spec: BACKEND-4 XFER-11 ERR-35 ERR-36 ERR-37 ERR-47 — an offer we
     * cannot ACK reliably closes the control connection; the descriptor
     * received for it is closed too. */
    core->counters.malformed++;
    queue_close_fd(ctl, conn);
    close_control(ctl, rc);
    return;
  }
  const ho_offer *offer = &m.offer;
  if (cfg->fault == HO_FAULT_CRASH_BEFORE_ACK) {
    push(ctl, HO_BACKEND_ACT_CRASH);
    queue_close_fd(ctl, conn);
    close_control(ctl, HO_ERR_CLOSED);
    return;
  }
  /* From here the refusal reasons in the order of XFER-36. */
  /* spec: XFER-28 ERR-45 ERR-31 ERR-32 ERR-33 BACKEND-2 */
  if (status != HO_OK) return refuse(ctl, offer, conn, why, status);
  /* spec: XFER-12 ERR-39 BACKEND-2 TOKEN-8 — the sideband token must equal
   * the offer token, compared in constant time. */
  if (!cfg->no_sideband && !ho_token_equal(ctl->sb, offer->token))
    return refuse(ctl, offer, conn, HO_REFUSAL_SIDEBAND_MISMATCH, 0);
  /* spec: XFER-15 TOKEN-17 ERR-40 — a token accepted before is a replay. */
  if (ho_replay_contains(&core->replay, offer->token, now_ms))
    return refuse(ctl, offer, conn, HO_REFUSAL_REPLAY, 0);
  /* spec: READY-29 READY-35 ERR-70 — a coalesced offer: its replies are
   * checked before anything could be written with them; from here on a
   * refusal writes reply_declined (the descriptor is the offer's, its token
   * new). A backend without the mode writes nothing and says so. */
  bool coalesced = (offer->offer_flags & HO_OFFER_FLAG_COALESCED_REPLY) != 0;
  if (coalesced) {
    bool implemented = cfg->ready_mode == HO_READY_BACKEND && !cfg->no_coalesced_reply;
    if (!implemented) return refuse(ctl, offer, conn, HO_REFUSAL_READY_MODE, 0);
    if (!(offer->offer_flags & HO_OFFER_FLAG_BACKEND_READY) ||
        !reply_ok(cfg->codec, offer->reply_adopted, offer->reply_adopted_len, offer->token, true) ||
        !reply_ok(cfg->codec, offer->reply_declined, offer->reply_declined_len, NULL, false))
      return refuse(ctl, offer, conn, HO_REFUSAL_REPLY_MALFORMED, 0);
    ctl->decline = offer;
  }
  /* spec: XFER-14 — a non-empty service_name we do not serve MAY be
   * refused; an empty one never is. */
  if (core->service[0] != '\0' && offer->service_name[0] != '\0' &&
      strcmp(core->service, offer->service_name) != 0)
    return refuse(ctl, offer, conn, HO_REFUSAL_SERVICE, 0);
  /* spec: READY-16 ERR-43 CAP-1 — only this bit matters; others, and
   * handle_value on Unix (XFER-14), are ignored. */
  bool ready_first = (offer->offer_flags & HO_OFFER_FLAG_BACKEND_READY) != 0;
  /* spec: READY-24 ERR-49 — adopting would let the client's request be
   * served without the ready frame it waits for. */
  if (ready_first && cfg->ready_mode != HO_READY_BACKEND)
    return refuse(ctl, offer, conn, HO_REFUSAL_READY_MODE, 0);
  /* spec: BACKEND-14 BACKEND-7 — draining, then overloaded (XFER-36). */
  if (core->refusing == HO_ERR_DRAINING) return refuse(ctl, offer, conn, HO_REFUSAL_DRAINING, 0);
  if (core->refusing == HO_ERR_OVERLOADED)
    return refuse(ctl, offer, conn, HO_REFUSAL_OVERLOADED, 0);
  if (core->refusing == HO_ERR_FD_EXHAUSTED)
    return refuse(ctl, offer, conn, HO_REFUSAL_FD_EXHAUSTED, 0);
  if (cfg->fault == HO_FAULT_REFUSE) return refuse(ctl, offer, conn, HO_REFUSAL_FAULT, 0);
  if (cfg->fault == HO_FAULT_CLOSE_CONTROL) {
    queue_close_fd(ctl, conn);
    close_control(ctl, HO_ERR_CLOSED);
    return;
  }
  /* spec: READY-11 ERR-41 TOKEN-21 ERR-69 ENV-10 — at or past the offer
   * deadline (a flagged offer also without one) the client may already be
   * elsewhere: refuse, write nothing. Without a wall clock no deadline can
   * be honoured: refuse every offer that carries one. */
  uint64_t wall = cfg->wall_clock_ms ? cfg->wall_clock_ms(cfg->wall_clock_ctx) : 0;
  if (ready_first && env.deadline_unix_ms == 0)
    return refuse(ctl, offer, conn, HO_REFUSAL_READY_DEADLINE, 0);
  if (env.deadline_unix_ms != 0 && (wall == 0 || wall >= env.deadline_unix_ms))
    return refuse(ctl, offer, conn,
                  ready_first ? HO_REFUSAL_READY_DEADLINE : HO_REFUSAL_OFFER_DEADLINE, 0);
  /* spec: BACKEND-5 TOKEN-19 TOKEN-18 ERR-42 — recorded before the ready
   * write and the accepting ACK; a full memory refuses (it never forgets a
   * token early); refusals above recorded nothing. */
  if (ho_replay_add(&core->replay, offer->token, now_ms,
                    remember_until(core, now_ms, env.deadline_unix_ms, wall)) != HO_OK)
    return refuse(ctl, offer, conn, HO_REFUSAL_REPLAY_FULL, 0);
  if (!ready_first) {
    adopt(ctl, offer, conn, false);
    return;
  }
  /* spec: READY-9 READY-1 — the ready frame is the very first thing on the adopted
   * connection, written before any client byte is read and before the ACK;
   * spec: READY-28 — in coalesced mode Negotiated goes first in the same
   * write, and the shell may serve the request that came with it. */
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_WRITE_CLIENT);
  if (a == NULL) return refuse(ctl, offer, conn, HO_REFUSAL_READY_WRITE, HO_ERR_NOMEM);
  size_t head = coalesced ? offer->reply_adopted_len : 0;
  memcpy(a->bytes, offer->reply_adopted, head);
  rc = ho_ready_frame_encode(cfg->codec, offer->token, offer->correlation_id, a->bytes + head,
                             sizeof a->bytes - head, &a->len);
  a->len += head;
  if (rc != HO_OK) {
    ctl->qlen--;
    return refuse(ctl, offer, conn, HO_REFUSAL_READY_WRITE, rc);
  }
  a->coalesced = coalesced;
  ctl->decline = NULL; /* adopted: nothing but reply_adopted is ever written */
  a->conn = conn;
  a->correlation_id = offer->correlation_id;
  /* what adopt/refuse need after the write: not the two reply frames */
  memcpy(&ctl->wait_offer, offer, offsetof(ho_offer, reply_adopted_len));
  ctl->wait_offer.reply_adopted_len = ctl->wait_offer.reply_declined_len = 0;
  ctl->wait_conn = conn;
  ctl->state = ST_WAIT_READY;
}

int ho_backend_ctl_client_written(ho_backend_ctl *ctl, uint64_t now_ms, int result) {
  (void)now_ms;
  if (ctl == NULL || ctl->wait_conn < 0) return HO_ERR_STATE;
  ho_handle conn = ctl->wait_conn;
  ctl->wait_conn = HO_NO_HANDLE;
  /* wait_conn is held only in ST_WAIT_READY (close_control clears it) */
  ctl->state = idle_state(ctl);
  /* spec: READY-12 TOKEN-19 — a failed ready write refuses the offer; the
   * token stays recorded. */
  if (result == HO_OK) adopt(ctl, &ctl->wait_offer, conn, true);
  else refuse(ctl, &ctl->wait_offer, conn, HO_REFUSAL_READY_WRITE, result);
  return HO_OK;
}

/* ---- byte feeding ------------------------------------------------------- */

size_t ho_backend_ctl_wanted(const ho_backend_ctl *ctl) {
  if (ctl == NULL) return 0;
  switch (ctl->state) {
  case ST_SIDEBAND: return HO_TOKEN_BYTES - ctl->sb_have;
  case ST_FRAME: return ho_frame_reader_needed(&ctl->rd);
  default: return 0;
  }
}

bool ho_backend_ctl_at_sideband(const ho_backend_ctl *ctl) {
  return ctl != NULL && ctl->state == ST_SIDEBAND && ctl->sb_have == 0;
}

/* Descriptors (or the transport's verdict on ones it already closed) that
 * arrived with the first byte of this read. spec: XFER-28 XFER-29 — during the
 * sideband they count for this handoff, whichever of its reads brought them. */
static void note_descriptor(ho_backend_ctl *ctl, ho_handle conn, int conn_status) {
  /* The core owns `conn` in every case: one passed together with a
   * refusal status (a transport normally closes it itself and passes
   * HO_NO_HANDLE) is closed here and counts only as that status. */
  if (conn >= 0 && conn_status != HO_OK) {
    queue_close_fd(ctl, conn);
    conn = HO_NO_HANDLE;
  }
  switch (conn_status) {
  case HO_OK:
    ctl->sb_count++;
    if (ctl->sb_conn < 0) ctl->sb_conn = conn;
    else queue_close_fd(ctl, conn);
    break;
  case HO_ERR_EXTRA_DESCRIPTORS: ctl->sb_count += 2; break;
  case HO_ERR_FD_EXHAUSTED: ctl->sb_fdexh = true; break;
  case HO_ERR_CTRUNC: ctl->sb_ctrunc = true; break;
  default:
    ctl->sb_count++;
    ctl->sb_bad = true;
    break;
  }
}

/* spec: ERR-4 ERR-1 — any input, in any split, ends in actions that
 * release every descriptor (ADOPT or CLOSE_FD); nothing is assumed about
 * the bytes beyond what is checked. At most one offer is processed per
 * call (*consumed says how far), so the actions of one call stay few. */
int ho_backend_ctl_feed(ho_backend_ctl *ctl, uint64_t now_ms, const uint8_t *data, size_t len,
                        ho_handle conn, int conn_status, size_t *consumed) {
  if (consumed != NULL) *consumed = 0;
  if (ctl == NULL || (data == NULL && len > 0)) return HO_ERR_INVALID_ARGUMENT;
  if (ctl->state == ST_CLOSED || ctl->state == ST_WAIT_READY) {
    queue_close_fd(ctl, conn);
    return HO_ERR_STATE;
  }
  if (conn >= 0 || conn_status != HO_OK) {
    if (ctl->state != ST_SIDEBAND || len == 0) {
      /* spec: XFER-22 — inside a frame: the stream no longer lines up. */
      queue_close_fd(ctl, conn);
      close_control(ctl, HO_ERR_EXTRA_DESCRIPTORS);
      return HO_OK;
    }
    note_descriptor(ctl, conn, conn_status);
  }
  size_t off = 0;
  while (off < len && ctl->state == ST_SIDEBAND) {
    if (!ctl->in_offer) { /* spec: BACKEND-10 — the offer's clock starts */
      ctl->in_offer = true;
      ctl->offer_due = now_ms + ctl->core->cfg.offer_timeout_ms;
    }
    size_t take = HO_TOKEN_BYTES - ctl->sb_have;
    if (take > len - off) take = len - off;
    memcpy(ctl->sb + ctl->sb_have, data + off, take);
    ctl->sb_have += take;
    off += take;
    if (ctl->sb_have == HO_TOKEN_BYTES) ctl->state = ST_FRAME;
  }
  /* Bytes left after the loop: the stream is in ST_FRAME (the loop leaves
   * ST_SIDEBAND only for it; ST_WAIT_READY and ST_CLOSED returned above). */
  if (off < len && !ctl->in_offer) {
    /* spec: BACKEND-10 XFER-44 — no sideband: the offer's clock starts with its
     * first frame byte. */
    ctl->in_offer = true;
    ctl->offer_due = now_ms + ctl->core->cfg.offer_timeout_ms;
  }
  if (off < len) {
    size_t used = 0;
    /* spec: FRAME-2 FRAME-3 FRAME-10 BACKEND-11 ERR-48 — version, then the
     * 64 KiB cap from the header alone; no resynchronisation after. */
    int rc = ho_frame_reader_feed(&ctl->rd, data + off, len - off, &used);
    off += used;
    if (rc == 1) {
      const uint8_t *body;
      size_t blen;
      (void)ho_frame_reader_body(&ctl->rd, &body, &blen);
      ctl->state = idle_state(ctl);
      process_offer(ctl, now_ms, body, blen); /* may move to ST_WAIT_READY or ST_CLOSED */
      ctl->decline = NULL;                     /* it pointed into process_offer's frame */
      sideband_reset(ctl);
      reader_reset(ctl);
    } else if (rc != HO_OK) {
      ctl->core->counters.offers++;
      ctl->core->counters.malformed++;
      close_control(ctl, rc);
    }
  }
  if (consumed != NULL) *consumed = off;
  return HO_OK;
}
