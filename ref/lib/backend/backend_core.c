/* handoff — sans-I/O backend core: control-connection bytes and received
 * descriptors in, actions out. No system call here except close(2) as a
 * last resort in ho_backend_ctl_del().
 *
 * Control stream layout (spec: XFER-1 XFER-22): for every handoff, 16 raw token
 * bytes (the descriptor travels with the first one), then one framed
 * HandoffOffer. The core reads both strictly in sequence and tells the
 * shell how many bytes to read next, so a read never crosses a boundary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/replay.h"
#include "handoff/backend.h"
#include "handoff/frame.h"

enum { ST_SIDEBAND = 0, ST_HEADER, ST_BODY, ST_WAIT_READY, ST_CLOSED };

struct ho_backend_core {
  ho_backend_config cfg;
  char service[HO_MAX_SERVICE_NAME + 1];
  ho_replay replay;
  ho_backend_counters counters;
  size_t ctls;
};

struct ho_backend_ctl {
  ho_backend_core *core;
  int state;
  /* sideband of the current handoff */
  uint8_t sb[HO_TOKEN_BYTES];
  size_t sb_have;
  ho_handle sb_conn;  /* the first acceptable descriptor received */
  unsigned sb_count;  /* descriptors seen with this sideband's reads */
  bool sb_ctrunc;     /* MSG_CTRUNC on one of them */
  bool sb_bad;        /* one had the wrong type (already closed) */
  /* offer frame */
  uint8_t hdr[HO_FRAME_HEADER_BYTES];
  size_t hdr_have;
  uint32_t body_len, body_have;
  uint8_t *body;
  size_t body_cap;
  uint8_t body_inline[256];
  /* accepted offer waiting for its ready write */
  ho_offer wait_offer;
  ho_handle wait_conn;
  /* action queue */
  ho_backend_action *q;
  size_t qhead, qlen, qcap;
};

static uint64_t realtime_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ho_backend_config_init(ho_backend_config *cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->ready_mode = HO_READY_LEGACY;
  cfg->token_ttl_ms = 30000;
  cfg->replay_capacity = 65536;
  cfg->codec = HO_CODEC_PROTOBUF_C;
  cfg->fault = HO_FAULT_NONE;
  cfg->peer_policy = HO_PEER_SAME_UID;
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

static const char *const refusal_names[HO_REFUSAL_COUNT_] = {
    "CTRUNC",     "NO_DESCRIPTOR", "EXTRA_DESCRIPTORS", "BAD_DESCRIPTOR", "SIDEBAND_MISMATCH",
    "REPLAY",     "REPLAY_FULL",   "SERVICE",           "READY_MODE",     "READY_WRITE",
    "READY_DEADLINE", "FAULT"};

const char *ho_backend_refusal_name(ho_backend_refusal r) {
  return (unsigned)r < HO_REFUSAL_COUNT_ ? refusal_names[r] : "UNKNOWN";
}

int ho_backend_core_new(const ho_backend_config *cfg, ho_backend_core **out) {
  if (out == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_backend_config c;
  if (cfg != NULL) c = *cfg;
  else ho_backend_config_init(&c);
  if (c.ready_mode != HO_READY_LEGACY && c.ready_mode != HO_READY_BACKEND)
    return HO_ERR_INVALID_ARGUMENT;
  if (c.codec != HO_CODEC_PROTOBUF_C && c.codec != HO_CODEC_NANOPB) return HO_ERR_INVALID_ARGUMENT;
  if (c.service_name != NULL && strlen(c.service_name) > HO_MAX_SERVICE_NAME)
    return HO_ERR_INVALID_ARGUMENT;
  if (c.token_ttl_ms == 0) c.token_ttl_ms = 1;
  if (c.replay_capacity == 0) c.replay_capacity = 1;
  if (c.wall_clock_ms == NULL) c.wall_clock_ms = realtime_ms;
  ho_backend_core *core = calloc(1, sizeof *core);
  if (core == NULL) return HO_ERR_NOMEM;
  int rc = ho_replay_init(&core->replay, c.replay_capacity, c.token_ttl_ms);
  if (rc != HO_OK) {
    free(core);
    return rc;
  }
  if (c.service_name != NULL) strcpy(core->service, c.service_name);
  c.service_name = core->service;
  core->cfg = c;
  *out = core;
  return HO_OK;
}

void ho_backend_core_del(ho_backend_core *core) {
  if (core == NULL) return;
  ho_replay_free(&core->replay);
  free(core);
}

void ho_backend_core_counters(const ho_backend_core *core, ho_backend_counters *out) {
  if (core == NULL || out == NULL) return;
  *out = core->counters;
}

int ho_backend_ctl_new(ho_backend_core *core, ho_backend_ctl **out) {
  if (core == NULL || out == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_backend_ctl *c = calloc(1, sizeof *c);
  if (c == NULL) return HO_ERR_NOMEM;
  c->core = core;
  c->state = ST_SIDEBAND;
  c->sb_conn = HO_NO_HANDLE;
  c->wait_conn = HO_NO_HANDLE;
  c->body = c->body_inline;
  c->body_cap = sizeof c->body_inline;
  core->ctls++;
  *out = c;
  return HO_OK;
}

void ho_backend_ctl_del(ho_backend_ctl *ctl) {
  if (ctl == NULL) return;
  if (ctl->sb_conn >= 0) close((int)ctl->sb_conn);
  if (ctl->wait_conn >= 0) close((int)ctl->wait_conn);
  for (size_t i = ctl->qhead; i < ctl->qlen; i++) {
    ho_backend_action *a = &ctl->q[i];
    if ((a->type == HO_BACKEND_ACT_ADOPT || a->type == HO_BACKEND_ACT_CLOSE_FD ||
         a->type == HO_BACKEND_ACT_WRITE_CLIENT) &&
        a->conn >= 0)
      close((int)a->conn);
  }
  if (ctl->body != ctl->body_inline) free(ctl->body);
  free(ctl->q);
  ctl->core->ctls--;
  free(ctl);
}

/* ---- action queue ------------------------------------------------------ */

static ho_backend_action *push(ho_backend_ctl *ctl, ho_backend_act_type type) {
  if (ctl->qhead == ctl->qlen) ctl->qhead = ctl->qlen = 0;
  if (ctl->qlen == ctl->qcap) {
    size_t ncap = ctl->qcap ? ctl->qcap * 2 : 8;
    ho_backend_action *nq = realloc(ctl->q, ncap * sizeof *nq);
    if (nq == NULL) return NULL;
    ctl->q = nq;
    ctl->qcap = ncap;
  }
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

/* Queue closing `conn`; if even that cannot be queued, close it now. */
static void queue_close_fd(ho_backend_ctl *ctl, ho_handle conn) {
  if (conn < 0) return;
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_CLOSE_FD);
  if (a == NULL) {
    close((int)conn);
    return;
  }
  a->conn = conn;
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
}

void ho_backend_ctl_eof(ho_backend_ctl *ctl) {
  if (ctl == NULL) return;
  /* spec: XFER-9 ERR-34 ERR-35 ERR-44 FRAME-9 — inside a sideband or a frame the
   * input was truncated; between handoffs the connection simply closed. */
  bool mid = (ctl->state == ST_SIDEBAND && ctl->sb_have > 0) || ctl->state == ST_HEADER ||
             ctl->state == ST_BODY;
  close_control(ctl, mid ? HO_ERR_TRUNCATED : HO_ERR_CLOSED);
}

/* ---- ACK and ready frames ----------------------------------------------- */

/* Queue the ACK for `offer`: exactly one per offer that passed XFER-11,
 * echoing token and correlation id. spec: XFER-16 XFER-17 XFER-18 */
static void queue_ack(ho_backend_ctl *ctl, const ho_offer *offer, bool accepted, int err,
                      const char *detail) {
  const ho_backend_config *cfg = &ctl->core->cfg;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, offer->token, HO_TOKEN_BYTES); /* echo verbatim */
  m.ack.accepted = accepted;
  m.ack.correlation_id = offer->correlation_id;
  if (cfg->ready_mode == HO_READY_BACKEND) /* spec: XFER-17 READY-9 CAP-7 CAP-2 */
    m.ack.backend_capabilities = HO_BACKEND_CAP_BACKEND_READY;
  if (!accepted) {
    /* spec: XFER-18 ERR-2 — error_detail is the error name and nothing else;
     * `detail` only explains it in comments and logs. */
    const char *name = ho_errname(err);
    (void)detail;
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

static void refuse(ho_backend_ctl *ctl, const ho_offer *offer, ho_handle conn,
                   ho_backend_refusal why, int err, const char *detail) {
  /* spec: BACKEND-3 READY-12 XFER-18 — nothing is read or written on a
   * refused connection, and it is closed before the refusing ACK. */
  queue_close_fd(ctl, conn);
  ctl->core->counters.refused_by[why]++;
  queue_ack(ctl, offer, false, err, detail);
}

static void adopt(ho_backend_ctl *ctl, const ho_offer *offer, ho_handle conn, bool ready_written) {
  queue_ack(ctl, offer, true, HO_OK, NULL);
  if (ctl->state == ST_CLOSED) {
    queue_close_fd(ctl, conn);
    return;
  }
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_ADOPT);
  if (a == NULL) {
    close((int)conn);
    close_control(ctl, HO_ERR_NOMEM);
    return;
  }
  a->conn = conn;
  a->correlation_id = offer->correlation_id;
  a->ready_written = ready_written;
  ctl->core->counters.adopted++;
}

static int refusal_err(int status, ho_backend_refusal *why) {
  switch (status) {
  case HO_ERR_CTRUNC: *why = HO_REFUSAL_CTRUNC; return status;
  case HO_ERR_NO_DESCRIPTOR: *why = HO_REFUSAL_NO_DESCRIPTOR; return status;
  case HO_ERR_EXTRA_DESCRIPTORS: *why = HO_REFUSAL_EXTRA_DESCRIPTORS; return status;
  default: *why = HO_REFUSAL_BAD_DESCRIPTOR; return HO_ERR_BAD_DESCRIPTOR;
  }
}

/* One complete offer frame body plus the sideband before it. */
static void process_offer(ho_backend_ctl *ctl, uint64_t now_ms) {
  ho_backend_core *core = ctl->core;
  const ho_backend_config *cfg = &core->cfg;
  ho_handle conn = ctl->sb_conn;
  /* spec: XFER-28 — in this order: CTRUNC, none, more than one, wrong type. */
  int status = ctl->sb_ctrunc        ? HO_ERR_CTRUNC
               : ctl->sb_count == 0  ? HO_ERR_NO_DESCRIPTOR
               : ctl->sb_count > 1   ? HO_ERR_EXTRA_DESCRIPTORS
               : ctl->sb_bad         ? HO_ERR_BAD_DESCRIPTOR
                                     : HO_OK;
  ctl->sb_conn = HO_NO_HANDLE;
  core->counters.offers++;
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode_body(cfg->codec, HO_FT_OFFER, ctl->body, ctl->body_len, &env, &m);
  if (rc == HO_OK && m.offer.correlation_id == 0) rc = HO_ERR_MALFORMED; /* spec: XFER-13 */
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
  /* spec: XFER-28 ERR-45 ERR-31 ERR-32 ERR-33 BACKEND-2 */
  if (status != HO_OK) {
    ho_backend_refusal why;
    int err = refusal_err(status, &why);
    refuse(ctl, offer, conn, why, err, NULL);
    return;
  }
  /* spec: XFER-12 ERR-39 BACKEND-2 TOKEN-8 — the sideband token must equal
   * the offer token, compared in constant time. */
  if (!ho_token_equal(ctl->sb, offer->token)) {
    refuse(ctl, offer, conn, HO_REFUSAL_SIDEBAND_MISMATCH, HO_ERR_SIDEBAND_MISMATCH, NULL);
    return;
  }
  /* spec: XFER-15 TOKEN-17 ERR-40 — a token accepted before is a replay. */
  if (ho_replay_contains(&core->replay, offer->token, now_ms)) {
    refuse(ctl, offer, conn, HO_REFUSAL_REPLAY, HO_ERR_TOKEN_NOT_PENDING,
           "token was already accepted (replay)");
    return;
  }
  /* spec: XFER-14 — a non-empty service_name we do not serve MAY be
   * refused; an empty one never is. */
  if (core->service[0] != '\0' && offer->service_name[0] != '\0' &&
      strcmp(core->service, offer->service_name) != 0) {
    refuse(ctl, offer, conn, HO_REFUSAL_SERVICE, HO_ERR_SERVICE_NAME,
           "offer is for another service");
    return;
  }
  /* spec: READY-16 ERR-43 CAP-1 — only this bit matters; others, and
   * handle_value on Unix (XFER-14), are ignored. */
  bool ready_first = (offer->offer_flags & HO_OFFER_FLAG_BACKEND_READY) != 0;
  if (ready_first && cfg->ready_mode != HO_READY_BACKEND) {
    /* We cannot honour ready-first: adopting would let the client's early
     * request be served without a ready frame. */
    refuse(ctl, offer, conn, HO_REFUSAL_READY_MODE, HO_ERR_STATE,
           "offer asks for backend-ready but this backend runs in legacy mode");
    return;
  }
  if (cfg->fault == HO_FAULT_REFUSE) {
    refuse(ctl, offer, conn, HO_REFUSAL_FAULT, HO_ERR_ACK_REFUSED, "fault injection: refuse");
    return;
  }
  if (cfg->fault == HO_FAULT_CLOSE_CONTROL) {
    queue_close_fd(ctl, conn);
    close_control(ctl, HO_ERR_CLOSED);
    return;
  }
  /* spec: READY-11 ERR-41 ENV-10 — past the broker's ready deadline (or none given) the
   * client may already be re-sending elsewhere: refuse, write nothing. */
  if (ready_first &&
      (env.deadline_unix_ms == 0 || cfg->wall_clock_ms(cfg->wall_clock_ctx) >= env.deadline_unix_ms)) {
    refuse(ctl, offer, conn, HO_REFUSAL_READY_DEADLINE, HO_ERR_TIMEOUT,
           env.deadline_unix_ms == 0 ? "backend-ready offer without a ready deadline"
                                     : "ready deadline passed");
    return;
  }
  /* spec: TOKEN-18 ERR-42 — never forget a young token to make room. */
  if (ho_replay_full(&core->replay, now_ms)) {
    refuse(ctl, offer, conn, HO_REFUSAL_REPLAY_FULL, HO_ERR_PENDING_LIMIT, "replay cache full");
    return;
  }
  /* spec: BACKEND-5 TOKEN-19 — recorded before the ready write and the
   * accepting ACK; refused offers are never recorded. */
  if (ho_replay_add(&core->replay, offer->token, now_ms) != HO_OK) {
    /* Unreachable after the two checks above; refuse rather than adopt
     * a token we could not remember. */
    refuse(ctl, offer, conn, HO_REFUSAL_REPLAY_FULL, HO_ERR_PENDING_LIMIT, "replay cache full");
    return;
  }
  if (!ready_first) {
    adopt(ctl, offer, conn, false);
    return;
  }
  /* spec: READY-9 READY-1 — the ready frame is the very first thing on the adopted
   * connection, written before any client byte is read and before the ACK. */
  ho_any_msg r;
  memset(&r, 0, sizeof r);
  memcpy(r.ack.token, offer->token, HO_TOKEN_BYTES);
  r.ack.accepted = true;
  r.ack.correlation_id = offer->correlation_id;
  ho_backend_action *a = push(ctl, HO_BACKEND_ACT_WRITE_CLIENT);
  if (a == NULL) {
    refuse(ctl, offer, conn, HO_REFUSAL_READY_WRITE, HO_ERR_NOMEM, NULL);
    return;
  }
  rc = ho_frame_encode(cfg->codec, HO_FT_READY, &r, a->bytes, sizeof a->bytes, &a->len);
  if (rc != HO_OK) {
    ctl->qlen--;
    refuse(ctl, offer, conn, HO_REFUSAL_READY_WRITE, rc, NULL);
    return;
  }
  a->conn = conn;
  a->correlation_id = offer->correlation_id;
  ctl->wait_offer = *offer;
  ctl->wait_conn = conn;
  ctl->state = ST_WAIT_READY;
}

int ho_backend_ctl_client_written(ho_backend_ctl *ctl, uint64_t now_ms, int result) {
  (void)now_ms;
  if (ctl == NULL || ctl->wait_conn < 0) return HO_ERR_STATE;
  ho_handle conn = ctl->wait_conn;
  ctl->wait_conn = HO_NO_HANDLE;
  if (ctl->state == ST_WAIT_READY) ctl->state = ST_SIDEBAND;
  if (result == HO_OK) adopt(ctl, &ctl->wait_offer, conn, true);
  else refuse(ctl, &ctl->wait_offer, conn, HO_REFUSAL_READY_WRITE, result,
              "could not write the ready frame to the client connection");
  return HO_OK;
}

/* ---- byte feeding ------------------------------------------------------- */

size_t ho_backend_ctl_wanted(const ho_backend_ctl *ctl) {
  if (ctl == NULL) return 0;
  switch (ctl->state) {
  case ST_SIDEBAND: return HO_TOKEN_BYTES - ctl->sb_have;
  case ST_HEADER: return HO_FRAME_HEADER_BYTES - ctl->hdr_have;
  case ST_BODY: return (size_t)(ctl->body_len - ctl->body_have);
  default: return 0;
  }
}

bool ho_backend_ctl_at_sideband(const ho_backend_ctl *ctl) {
  return ctl != NULL && ctl->state == ST_SIDEBAND && ctl->sb_have == 0;
}

static int grow_body(ho_backend_ctl *ctl, uint32_t need) {
  if (need <= ctl->body_cap) return HO_OK;
  uint8_t *nb = malloc(need);
  if (nb == NULL) return HO_ERR_NOMEM;
  if (ctl->body != ctl->body_inline) free(ctl->body);
  ctl->body = nb;
  ctl->body_cap = need;
  return HO_OK;
}

static void shrink_body(ho_backend_ctl *ctl) {
  if (ctl->body != ctl->body_inline && ctl->body_cap > 64 * 1024) {
    free(ctl->body);
    ctl->body = ctl->body_inline;
    ctl->body_cap = sizeof ctl->body_inline;
  }
}

/* spec: ERR-4 ERR-1 — any input, in any split, ends in actions that
 * release every descriptor (ADOPT or CLOSE_FD); nothing is assumed about
 * the bytes beyond what is checked. */
int ho_backend_ctl_feed(ho_backend_ctl *ctl, uint64_t now_ms, const uint8_t *data, size_t len,
                        ho_handle conn, int conn_status, size_t *consumed) {
  if (consumed != NULL) *consumed = 0;
  if (ctl == NULL || (data == NULL && len > 0)) return HO_ERR_INVALID_ARGUMENT;
  if (ctl->state == ST_CLOSED || ctl->state == ST_WAIT_READY) {
    queue_close_fd(ctl, conn);
    return HO_ERR_STATE;
  }
  /* Descriptors (or the transport's verdict on ones it already closed)
   * arrived with data[0]. spec: XFER-29 — during the sideband they count for
   * this handoff, whichever of its reads brought them. */
  if (conn >= 0 || conn_status != HO_OK) {
    /* The core owns `conn` in every case: one passed together with a
     * refusal status (a transport normally closes it itself and passes
     * HO_NO_HANDLE) is closed here and counts only as that status. */
    if (conn >= 0 && conn_status != HO_OK) {
      queue_close_fd(ctl, conn);
      conn = HO_NO_HANDLE;
    }
    if (ctl->state == ST_SIDEBAND) {
      if (conn_status == HO_ERR_CTRUNC) {
        ctl->sb_ctrunc = true;
      } else if (conn_status == HO_ERR_EXTRA_DESCRIPTORS) {
        ctl->sb_count += 2;
      } else if (conn_status != HO_OK) {
        ctl->sb_count++;
        ctl->sb_bad = true;
      } else {
        ctl->sb_count++;
        if (ctl->sb_conn < 0) ctl->sb_conn = conn;
        else queue_close_fd(ctl, conn);
      }
    } else {
      /* spec: XFER-22 — inside a frame: the stream no longer lines up. */
      queue_close_fd(ctl, conn);
      close_control(ctl, HO_ERR_EXTRA_DESCRIPTORS);
      return HO_OK;
    }
  }
  size_t off = 0;
  while (off < len && ctl->state != ST_CLOSED && ctl->state != ST_WAIT_READY) {
    size_t avail = len - off;
    if (ctl->state == ST_SIDEBAND) {
      size_t take = HO_TOKEN_BYTES - ctl->sb_have;
      if (take > avail) take = avail;
      memcpy(ctl->sb + ctl->sb_have, data + off, take);
      ctl->sb_have += take;
      off += take;
      if (ctl->sb_have == HO_TOKEN_BYTES) {
        ctl->state = ST_HEADER;
        ctl->hdr_have = 0;
      }
    } else if (ctl->state == ST_HEADER) {
      size_t take = HO_FRAME_HEADER_BYTES - ctl->hdr_have;
      if (take > avail) take = avail;
      memcpy(ctl->hdr + ctl->hdr_have, data + off, take);
      ctl->hdr_have += take;
      off += take;
      if (ctl->hdr_have < HO_FRAME_HEADER_BYTES) continue;
      /* spec: FRAME-2 FRAME-3 — version, then the cap, before any body. */
      uint32_t n = (uint32_t)ctl->hdr[1] | (uint32_t)ctl->hdr[2] << 8 |
                   (uint32_t)ctl->hdr[3] << 16 | (uint32_t)ctl->hdr[4] << 24;
      int err = HO_OK;
      /* spec: FRAME-10 — after a framing error no resynchronisation: the
       * control connection closes. */
      if (ctl->hdr[0] != HO_FRAMING_VERSION) err = HO_ERR_FRAMING_VERSION;
      else if (n > HO_MAX_FRAME_BYTES) err = HO_ERR_FRAME_TOO_LARGE;
      else err = grow_body(ctl, n);
      if (err != HO_OK) {
        ctl->core->counters.offers++;
        ctl->core->counters.malformed++;
        close_control(ctl, err);
        break;
      }
      ctl->body_len = n;
      ctl->body_have = 0;
      ctl->state = ST_BODY;
    }
    if (ctl->state == ST_BODY) {
      avail = len - off;
      size_t take = (size_t)(ctl->body_len - ctl->body_have);
      if (take > avail) take = avail;
      if (take > 0) memcpy(ctl->body + ctl->body_have, data + off, take);
      ctl->body_have += (uint32_t)take;
      off += take;
      if (ctl->body_have < ctl->body_len) continue;
      ctl->state = ST_SIDEBAND;
      process_offer(ctl, now_ms); /* may move to ST_WAIT_READY or ST_CLOSED */
      ctl->sb_have = 0;
      ctl->sb_count = 0;
      ctl->sb_ctrunc = ctl->sb_bad = false;
      shrink_body(ctl);
    }
  }
  if (consumed != NULL) *consumed = off;
  return HO_OK;
}
