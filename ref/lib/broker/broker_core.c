/* handoff — broker core: lifecycle, action queue, connection events.
 * Sans-I/O: see handoff/broker.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"
#include "wire/scan.h"

#define DEFAULT_HELLO_TIMEOUT_MS 30000u
#define PRESSURE_HELLO_TIMEOUT_MS 1000u /* BROKER-11 */
#define DEFAULT_MAX_HELLO_WAITING 4096u

static uint32_t hello_cap(const ho_broker *b) {
  return b->cfg.max_hello_waiting ? b->cfg.max_hello_waiting : DEFAULT_MAX_HELLO_WAITING;
}

/* spec: BROKER-2 BROKER-11 — when a client's Hello is due: HELLO_TIMEOUT after
 * it connected, or at most 1 s while more than half of the pre-Hello slots
 * are taken. Deadlines stay in the FIFO's order (both depend only on when a
 * connection was opened), so the oldest is always the first due. */
uint64_t bk_hello_due(const ho_broker *b, const ho_broker_conn *c) {
  uint64_t t = b->cfg.hello_timeout_ms;
  if (b->hello_waiting * 2 > hello_cap(b) && t > PRESSURE_HELLO_TIMEOUT_MS) t = PRESSURE_HELLO_TIMEOUT_MS;
  return c->opened_ms + t;
}

/* The body buffer of a Hello larger than the inline one (on demand: memory
 * follows what clients send, not the 64 KiB cap; issue #11). */
static uint8_t *hello_grow(void *ctx, size_t need) {
  ho_broker_conn *c = ctx;
  uint8_t *nb = realloc(c->hello_buf, need);
  if (nb != NULL) c->hello_buf = nb;
  return nb;
}

void bk_log(ho_broker *b, int level, const char *fmt, ...) {
  if (b->cfg.log == NULL || level > b->cfg.log_level) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  b->cfg.log(b->cfg.log_user, level, line);
}

/* ---- action queue ------------------------------------------------------ */

static int q_grow(ho_broker *b) {
  size_t ncap = b->qcap ? b->qcap * 2 : 64;
  action_item *n = calloc(ncap, sizeof *n);
  if (n == NULL) return HO_ERR_NOMEM;
  for (size_t i = 0; i < b->qlen; i++) n[i] = b->q[(b->qhead + i) % b->qcap];
  free(b->q);
  b->q = n;
  b->qcap = ncap;
  b->qhead = 0;
  return HO_OK;
}

int bk_push(ho_broker *b, ho_broker_action_type t, ho_broker_conn *c, const uint8_t *bytes,
            size_t len) {
  if (b->qlen == b->qcap && q_grow(b) != HO_OK) return HO_ERR_NOMEM;
  action_item *it = &b->q[(b->qhead + b->qlen) % b->qcap];
  memset(it, 0, sizeof *it);
  it->a.type = t;
  it->a.conn = c;
  it->a.user = c ? c->user : NULL;
  if (len > 0) {
    it->owned = malloc(len);
    if (it->owned == NULL) return HO_ERR_NOMEM;
    memcpy(it->owned, bytes, len);
    it->a.bytes = it->owned;
    it->a.len = len;
  }
  b->qlen++;
  return HO_OK;
}

int bk_write(ho_broker *b, ho_broker_conn *c, const uint8_t *bytes, size_t len) {
  int rc = bk_push(b, HO_BACT_WRITE, c, bytes, len);
  if (rc == HO_OK) c->write_pending = true;
  return rc;
}

static void hello_unlink(ho_broker *b, ho_broker_conn *c) {
  if (c->hprev == NULL && b->hhead != c) return; /* not in the FIFO */
  b->hello_waiting--;
  /* in the FIFO: without a predecessor it is the head, without a successor the tail */
  if (c->hprev) c->hprev->hnext = c->hnext; else b->hhead = c->hnext;
  if (c->hnext) c->hnext->hprev = c->hprev; else b->htail = c->hprev;
  c->hnext = c->hprev = NULL;
}

void bk_link(ho_broker *b, ho_broker_conn *c) {
  c->b = b;
  c->aprev = NULL;
  c->anext = b->ahead;
  if (b->ahead) b->ahead->aprev = c;
  b->ahead = c;
  b->st.open_conns++;
}

/* The core's side of `c`: its buffers, its places in the lists, itself. */
static void conn_free(ho_broker *b, ho_broker_conn *c) {
  if (!c->control) {
    hello_unlink(b, c);
    free(c->hello_buf);
    free(c->reply_a);
    free(c->reply_d);
  } else {
    free(c->ack_buf);
    bk_control_unlink(b, c);
  }
  if (c->aprev) c->aprev->anext = c->anext; else b->ahead = c->anext;
  if (c->anext) c->anext->aprev = c->aprev;
  b->st.open_conns--;
  free(c);
}

/* Emit the one CLOSE of `c` and free the core's side of it. The action
 * keeps only the shell's user pointer. */
void bk_close(ho_broker *b, ho_broker_conn *c, bool shutdown) {
  /* a released coalesced client had its CLOSE already (READY-27) */
  if (!c->released && bk_push(b, HO_BACT_CLOSE, c, NULL, 0) == HO_OK) {
    action_item *it = &b->q[(b->qhead + b->qlen - 1) % b->qcap];
    it->a.shutdown = shutdown;
    it->a.conn = NULL; /* the handle dies now */
  }
  conn_free(b, c);
}

int ho_broker_next_action(ho_broker *b, ho_broker_action *out) {
  if (b == NULL || out == NULL) return 0;
  free(b->taken);
  b->taken = NULL;
  if (b->qlen == 0) return 0;
  action_item *it = &b->q[b->qhead];
  b->qhead = (b->qhead + 1) % b->qcap;
  b->qlen--;
  *out = it->a;
  b->taken = it->owned;
  return 1;
}

/* One timer for everything. Deadlines are added in increasing order
 * (now + a constant), so the timer is re-armed only when the earliest
 * deadline moves earlier; a fire that finds nothing due just re-arms at the
 * next deadline. This keeps timerfd_settime off the per-handoff path. */
void bk_rearm(ho_broker *b) {
  uint64_t at = bk_next_deadline_ms(b);
  if (at == 0 && !b->shutting_down) return; /* a later spurious fire is harmless */
  if (at != 0 && b->timer_armed != 0 && b->timer_armed <= at) return;
  if (at == 0 && b->timer_armed == 0) return;
  if (bk_push(b, HO_BACT_SET_TIMER, NULL, NULL, 0) != HO_OK) return;
  b->q[(b->qhead + b->qlen - 1) % b->qcap].a.deadline_ms = at;
  b->timer_armed = at;
}

/* ---- lifecycle ---------------------------------------------------------- */

void ho_broker_config_init(ho_broker_config *cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->peer_policy = HO_PEER_SAME_UID; /* spec: SEC-1 */
}

int ho_broker_new(const ho_broker_config *cfg, uint64_t now, ho_broker **out) {
  if (cfg == NULL || out == NULL || cfg->service == NULL || cfg->backend_pipe == NULL)
    return HO_ERR_INVALID_ARGUMENT;
  /* spec: MSG-7 MSG-13 — backend_pipe goes into every Negotiated: a name
   * the encoder would refuse (not UTF-8) would refuse every client. */
  size_t pipe_len = strlen(cfg->backend_pipe);
  if (!bk_service_name_valid(cfg->service) || pipe_len == 0 || pipe_len > HO_MAX_BACKEND_PIPE ||
      !ho_utf8_ok((const uint8_t *)cfg->backend_pipe, pipe_len))
    return HO_ERR_INVALID_ARGUMENT;
  ho_broker *b = calloc(1, sizeof *b);
  if (b == NULL) return HO_ERR_NOMEM;
  b->cfg = *cfg;
  strcpy(b->service, cfg->service);
  strcpy(b->backend_pipe, cfg->backend_pipe);
  b->cfg.service = b->service;
  b->cfg.backend_pipe = b->backend_pipe;
  b->endpoint_name = cfg->endpoint_name ? cfg->endpoint_name : "backend";
  if (b->cfg.hello_timeout_ms == 0) b->cfg.hello_timeout_ms = DEFAULT_HELLO_TIMEOUT_MS;

  ho_token_config tc;
  ho_token_config_init(&tc);
  if (cfg->ack_timeout_ms) tc.ack_deadline_ms = cfg->ack_timeout_ms;
  if (cfg->token_ttl_ms) tc.ttl_ms = cfg->token_ttl_ms;
  if (tc.ttl_ms > HO_TOKEN_MAX_TTL_MS) tc.ttl_ms = HO_TOKEN_MAX_TTL_MS; /* spec: TOKEN-16 */
  if (b->cfg.max_controls == 0) b->cfg.max_controls = BROKER_DEFAULT_MAX_CONTROLS;
  if (cfg->max_pending) tc.max_pending = cfg->max_pending;
  if (cfg->random) {
    tc.random = cfg->random;
    tc.random_ctx = cfg->random_ctx;
  }
  int rc = ho_token_store_new(&b->tokens, &tc);
  /* spec: HELLO-14 — default 256 Hellos per second per pid, as the original. */
  uint32_t rate = cfg->hello_rate == 0                                ? HO_BROKER_DEFAULT_HELLO_RATE
                  : cfg->hello_rate == HO_BROKER_HELLO_RATE_UNLIMITED ? 0
                                                                      : cfg->hello_rate;
  uint32_t pids = cfg->hello_rate_pids ? cfg->hello_rate_pids : HO_BROKER_DEFAULT_HELLO_RATE_PIDS;
  if (rc == HO_OK) rc = bk_rate_init(&b->hello_rate, rate, pids);
  ho_fallback_config fc;
  ho_fallback_config_init(&fc); /* spec: FALLBACK-7 */
  if (cfg->failure_window_ms) fc.window_ms = cfg->failure_window_ms;
  if (rc == HO_OK) rc = ho_fallback_policy_new(&b->policy, &fc);
  ho_pending_config pc;
  ho_pending_config_init(&pc); /* spec: FALLBACK-11 FALLBACK-12 */
  if (cfg->queue_ttl_ms) pc.ttl_ms = cfg->queue_ttl_ms;
  if (rc == HO_OK) rc = ho_pending_queue_new(&b->queue, &pc);
  if (rc != HO_OK) {
    ho_broker_del(b);
    return rc;
  }
  b->next_conn_id = 1;
  b->next_correlation = 1; /* never 0 (spec: ACK-12) */
  b->next_ctl_id = 1;
  (void)now;
  /* Dial the backend right away: the first handoff need not wait for it. */
  if (b->cfg.handoff_endpoint) bk_dial_control(b);
  *out = b;
  return HO_OK;
}

void ho_broker_del(ho_broker *b) {
  if (b == NULL) return;
  while (b->ahead != NULL) conn_free(b, b->ahead); /* handles the shell never saw closed */
  free(b->taken);
  for (size_t i = 0; i < b->qlen; i++) free(b->q[(b->qhead + i) % b->qcap].owned);
  free(b->q);
  ho_pending_queue_del(b->queue);
  ho_fallback_policy_del(b->policy);
  ho_token_store_del(b->tokens);
  bk_rate_free(&b->hello_rate);
  free(b);
}

/* ---- client events ------------------------------------------------------ */

static bool peer_allowed(const ho_broker *b, const ho_peer_cred *p) {
  return ho_peer_allowed(b->cfg.peer_policy, (uid_t)b->cfg.peer_uid, (uid_t)b->cfg.self_uid, p);
}

int ho_broker_client_open(ho_broker *b, void *user, const ho_peer_cred *peer, uint64_t now,
                          ho_broker_conn **out) {
  if (b == NULL || out == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_broker_conn *c = calloc(1, sizeof *c);
  if (c == NULL) return HO_ERR_NOMEM;
  bk_link(b, c);
  c->user = user;
  c->opened_ms = now;
  if (b->cfg.measure_us) c->opened_us = b->cfg.measure_us(b->cfg.clock_user);
  c->id = b->next_conn_id++;
  if (peer) {
    c->peer = *peer;
    c->have_peer = true;
  }
  b->st.clients_accepted++;
  *out = c;
  /* spec: SEC-1 ERR-17 — a peer the policy rejects is closed without a reply. */
  if (b->shutting_down || !peer_allowed(b, peer)) {
    b->st.peers_rejected++;
    bk_log(b, HO_BROKER_LOG_WARN, "conn=%llu peer rejected pid=%d uid=%d policy=%d",
           (unsigned long long)c->id, peer ? (int)peer->pid : -1, peer ? (int)peer->uid : -1,
           (int)b->cfg.peer_policy);
    c->state = CS_DONE;
    bk_close(b, c, false);
    return HO_OK;
  }
  (void)ho_frame_reader_init_grow(&c->rd, c->hello_inline, sizeof c->hello_inline,
                                  HO_MAX_HELLO_BYTES, hello_grow, c);
  uint32_t cap = hello_cap(b);
  if (b->hello_waiting >= cap) {
    /* spec: BROKER-10 SEC-7 — full: the connection that has waited longest
     * for its Hello goes, not the new one (a peer holding idle connections
     * cannot lock out clients that send their Hello at once). */
    ho_broker_conn *old = b->hhead;
    b->st.hello_overflow++;
    bk_log(b, HO_BROKER_LOG_WARN, "conn=%llu closed: no Hello, oldest of %u waiting",
           (unsigned long long)old->id, (unsigned)cap);
    old->state = CS_DONE;
    bk_close(b, old, false);
  }
  c->state = CS_HELLO;
  b->hello_waiting++;
  c->hprev = b->htail;
  if (b->htail) b->htail->hnext = c; else b->hhead = c;
  b->htail = c;
  bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu accepted pid=%d uid=%d", (unsigned long long)c->id,
         (int)c->peer.pid, (int)c->peer.uid);
  bk_rearm(b);
  return HO_OK;
}

size_t ho_broker_client_wants(const ho_broker *b, const ho_broker_conn *c) {
  (void)b;
  /* spec: HELLO-2 ERR-16 — nothing more is read once the Hello is complete. */
  if (c == NULL || c->control || c->state != CS_HELLO || c->dead) return 0;
  /* spec: FRAME-6 — exactly the bytes that complete the current part. */
  return ho_frame_reader_needed(&c->rd);
}

int ho_broker_client_data(ho_broker *b, ho_broker_conn *c, const uint8_t *data, size_t len,
                          uint64_t now) {
  if (b == NULL || c == NULL || c->control || (data == NULL && len > 0))
    return HO_ERR_INVALID_ARGUMENT;
  if (c->state != CS_HELLO || len > ho_frame_reader_needed(&c->rd)) return HO_ERR_INVALID_ARGUMENT;
  size_t used = 0;
  int rc = ho_frame_reader_feed(&c->rd, data, len, &used);
  if (rc == HO_OK) return HO_OK; /* more needed */
  /* spec: HELLO-2 — one Hello, one reply: the state leaves CS_HELLO here. */
  hello_unlink(b, c);
  bk_hello_complete(b, c, rc == 1 ? HO_OK : rc, now);
  bk_rearm(b);
  return HO_OK;
}

int ho_broker_conn_error(ho_broker *b, ho_broker_conn *c, int err, uint64_t now) {
  if (b == NULL || c == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (c->dead) return HO_OK;
  c->dead = true;
  if (c->control) {
    /* spec: XFER-23 ACK-10 ERR-60 ERR-62 */
    bool dial_failed = c->state == KS_CONNECTING;
    /* spec: FALLBACK-25 — a dial that failed for lack of our own
     * descriptors is not the backend's failure. */
    ho_broker_reason why = !dial_failed                 ? HO_BROKER_REASON_CONTROL_CLOSED
                           : err == HO_ERR_PERMISSION   ? HO_BROKER_REASON_PERMISSION
                           : err == HO_ERR_FD_EXHAUSTED ? HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED
                                                        : HO_BROKER_REASON_BACKEND_UNAVAILABLE;
    bk_control_failed(b, c, why, now);
    /* spec: XFER-23 — a failed dial fails the attempts waiting for a
     * connection; a connection that ended only takes its own offers with it
     * (ACK-10), the queued ones get a new dial below. */
    if (dial_failed) bk_fail_queued(b, why, now);
    bk_log(b, HO_BROKER_LOG_INFO, "control=%llu closed: %s", (unsigned long long)c->id,
           ho_errname(err) ? ho_errname(err) : "?");
    bk_close(b, c, false);
    bk_dispatch(b, now); /* reconnects if offers are waiting; spec: XFER-37 */
    bk_rearm(b);
    return HO_OK;
  }
  bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu peer closed (%s) in state %d",
         (unsigned long long)c->id, ho_errname(err) ? ho_errname(err) : "?", c->state);
  switch (c->state) {
  case CS_HELLO: /* spec: ERR-12 ERR-13 — close, no reply, no token issued */
    /* still reading (a complete or failed frame left CS_HELLO): truncated
     * unless not one byte of it came */
    if (ho_frame_reader_finish(&c->rd) != HO_OK)
      bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu Hello truncated", (unsigned long long)c->id);
    c->state = CS_DONE;
    bk_close(b, c, false);
    break;
  case CS_NEGOTIATED:
  case CS_QUEUED:
    /* spec: BROKER-5 ERR-18 — token revoked, no offer; CLIENT_GONE does not
     * count against the backend (FALLBACK-25). */
    bk_fail(b, c, HO_BROKER_REASON_CLIENT_GONE, now, "client closed before the offer");
    break;
  case CS_OFFERED:
    /* The backend may hold the connection now: wait for its ACK. */
    break;
  case CS_READY_CLOSE:
    /* spec: ACK-15 FALLBACK-25 — the legacy ready write failed: the backend
     * owns the connection; no retry, no success, not counted against it. */
    bk_ready_done(b, c, false, now);
    break;
  default:
    c->state = CS_DONE;
    bk_close(b, c, false);
    break;
  }
  bk_rearm(b);
  return HO_OK;
}

int ho_broker_conn_flushed(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  if (b == NULL || c == NULL) return HO_ERR_INVALID_ARGUMENT;
  c->write_pending = false;
  if (c->control) {
    bk_dup_flushed(c); /* spec: XFER-33 — every offer queued on it is written */
    bk_control_flushed(b, c);
    bk_rearm(b);
    return HO_OK;
  }
  switch (c->state) {
  case CS_READY_CLOSE: /* spec: ACK-15 — the handoff completes now */
    bk_ready_done(b, c, true, now);
    break;
  case CS_REPLY_CLOSE:
    c->state = CS_DONE;
    bk_close(b, c, false);
    break;
  case CS_NEGOTIATED:
    if (b->cfg.unix_ms) c->negotiated_unix_ms = b->cfg.unix_ms(b->cfg.clock_user);
    c->negotiated_ms = now;
    bk_after_negotiated(b, c, now);
    break;
  default:
    break;
  }
  bk_rearm(b);
  return HO_OK;
}

int ho_broker_control_connected(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  if (b == NULL || c == NULL || !c->control || c->state != KS_CONNECTING)
    return HO_ERR_INVALID_ARGUMENT;
  c->state = KS_UP;
  b->nconnecting--;
  bk_log(b, HO_BROKER_LOG_INFO, "control=%llu connected", (unsigned long long)c->id);
  bk_dispatch(b, now);
  (void)bk_retire_if_done(b, c, now); /* dialled for a burst that is over */
  bk_rearm(b);
  return HO_OK;
}

int ho_broker_control_data(ho_broker *b, ho_broker_conn *c, const uint8_t *data, size_t len,
                           uint64_t now) {
  if (b == NULL || c == NULL || !c->control || (data == NULL && len > 0))
    return HO_ERR_INVALID_ARGUMENT;
  if (c->dead) return HO_OK;
  int rc = bk_control_data(b, c, data, len, now);
  bk_rearm(b);
  return rc;
}

int ho_broker_timer(ho_broker *b, uint64_t now) {
  if (b == NULL) return HO_ERR_INVALID_ARGUMENT;
  b->timer_armed = 0; /* fired */
  b->timer_fired = now;
  /* spec: BROKER-2 ERR-13 — no complete Hello in HELLO_TIMEOUT: close, no reply. */
  while (b->hhead && bk_hello_due(b, b->hhead) <= now) {
    ho_broker_conn *c = b->hhead;
    bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu Hello timeout", (unsigned long long)c->id);
    c->state = CS_DONE;
    bk_close(b, c, false);
  }
  bk_timer(b, now);
  bk_rearm(b);
  return HO_OK;
}

void ho_broker_set_fd_pressure(ho_broker *b, bool pressure) {
  if (b) b->fd_pressure = pressure;
}

int ho_broker_shutdown(ho_broker *b, uint64_t now) {
  if (b == NULL) return HO_ERR_INVALID_ARGUMENT;
  b->shutting_down = true;
  /* Offers in flight end with their control connection. */
  while (b->khead) {
    ho_broker_conn *k = b->khead;
    bk_drop_control(b, k, HO_BROKER_REASON_SHUTDOWN, now);
  }
  while (b->ahead) {
    ho_broker_conn *c = b->ahead;
    if (!c->control && (c->state == CS_NEGOTIATED || c->state == CS_QUEUED ||
                        c->state == CS_OFFERED)) {
      bk_fail(b, c, HO_BROKER_REASON_SHUTDOWN, now, "broker shutting down");
    } else if (!c->control && c->state == CS_READY_CLOSE) {
      bk_ready_lost(b, c, HO_BROKER_REASON_SHUTDOWN, "ready_unwritten");
    } else {
      c->state = CS_DONE;
      bk_close(b, c, false);
    }
  }
  bk_rearm(b); /* disarms */
  return HO_OK;
}

void *ho_broker_conn_user(const ho_broker_conn *c) { return c ? c->user : NULL; }
void ho_broker_conn_set_user(ho_broker_conn *c, void *user) {
  if (c) c->user = user;
}
bool ho_broker_conn_is_control(const ho_broker_conn *c) { return c && c->control; }

void ho_broker_get_stats(const ho_broker *b, ho_broker_stats *out) {
  if (b == NULL || out == NULL) return;
  *out = b->st;
  out->tokens_pending = ho_token_pending(b->tokens);
}
