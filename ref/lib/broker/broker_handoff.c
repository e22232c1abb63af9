/* handoff — broker core: control connections, offers, ACKs, deadlines and
 * the fallback on every failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"

/* ---- control connections ------------------------------------------------ */

void bk_ensure_control(ho_broker *b) {
  if (b->ctl != NULL || !b->cfg.handoff_endpoint || b->shutting_down) return;
  ho_broker_conn *k = calloc(1, sizeof *k);
  if (k == NULL) return;
  k->control = true;
  k->id = b->next_ctl_id++;
  k->state = KS_CONNECTING;
  bk_link(b, k);
  b->ctl = k;
  b->st.control_connects++;
  bk_log(b, HO_BROKER_LOG_DEBUG, "control=%llu dialing", (unsigned long long)k->id);
  if (bk_push(b, HO_BACT_OPEN_CONTROL, k, NULL, 0) != HO_OK) {
    b->ctl = NULL;
    bk_close(b, k, false);
  }
}

static bool can_send(const ho_broker *b) {
  return b->ctl != NULL && b->ctl->state == KS_UP && !b->ctl->dead &&
         b->ctl->in_flight < BROKER_MAX_IN_FLIGHT;
}

static void inflight_unlink(ho_broker_conn *c) {
  ho_broker_conn *k = c->ctl;
  if (k == NULL) return;
  if (c->oprev) c->oprev->onext = c->onext; else k->ohead = c->onext;
  if (c->onext) c->onext->oprev = c->oprev; else k->otail = c->oprev;
  c->onext = c->oprev = NULL;
  c->ctl = NULL;
  k->in_flight--;
}

/* ---- ending a handoff ------------------------------------------------------ */

/* The attempt failed: the token is revoked exactly once (spec: ACK-*), the
 * reason counted, the broker's copy closed; the client falls back to
 * backend_pipe (spec: FALLBACK-*). In legacy mode the socket is also shut
 * down once the descriptor may have reached the backend: the client has
 * sent nothing (it waits for ready), so it sees EOF at once instead of
 * waiting for its ready timeout, and the backend can no longer use it. */
void bk_fail(ho_broker *b, ho_broker_conn *c, ho_broker_reason why, uint64_t now,
             const char *detail) {
  if (c->token_live) {
    (void)ho_ack_abandon(b->tokens, c->token, ns_to_ms(now), NULL);
    c->token_live = false;
  }
  if (c->state == CS_QUEUED) (void)ho_pending_queue_remove(b->queue, c->ticket, NULL);
  inflight_unlink(c);
  b->st.fallbacks[why]++;
  if (why != HO_BROKER_REASON_CLIENT_GONE && why != HO_BROKER_REASON_SHUTDOWN)
    (void)ho_fallback_record_failure(b->policy, BROKER_BACKEND_KEY, ns_to_ms(now));
  bk_log(b, HO_BROKER_LOG_INFO,
         "conn=%llu route=reconnect reason=%s corr=%llu mode=%s after_us=%llu%s%s",
         (unsigned long long)c->id, ho_broker_reason_name(why),
         (unsigned long long)c->correlation_id, c->ready_mode ? "backend-ready" : "legacy",
         (unsigned long long)((now - c->opened_ns) / 1000u), detail ? " detail=" : "",
         detail ? detail : "");
  bool shut = c->fd_sent && !c->ready_mode;
  c->state = CS_DONE;
  bk_close(b, c, shut);
}

static void succeed(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  inflight_unlink(c);
  c->token_live = false;
  b->st.handoffs_completed++;
  if (c->ready_mode) b->st.handoffs_backend_ready++;
  bk_latency_record(b, now - c->opened_ns);
  ho_fallback_record_success(b->policy, BROKER_BACKEND_KEY);
  bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu route=handoff corr=%llu mode=%s after_us=%llu",
         (unsigned long long)c->id, (unsigned long long)c->correlation_id,
         c->ready_mode ? "backend-ready" : "legacy",
         (unsigned long long)((now - c->opened_ns) / 1000u));
  if (c->ready_mode || c->dead) {
    /* spec: READY-* — the backend wrote ready; the broker writes nothing. */
    c->state = CS_DONE;
    bk_close(b, c, false);
    return;
  }
  /* Legacy: the broker writes the ready EVENT, then closes its copy. */
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, c->token, HO_TOKEN_BYTES);
  m.ack.accepted = true;
  m.ack.correlation_id = c->correlation_id;
  uint8_t buf[512];
  size_t len = 0;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_READY, &m, buf, sizeof buf, &len) != HO_OK ||
      bk_write(b, c, buf, len) != HO_OK) {
    c->state = CS_DONE;
    bk_close(b, c, false);
    return;
  }
  c->state = CS_READY_CLOSE;
}

/* ---- offers ----------------------------------------------------------------- */

/* Send the descriptor with the sideband token, then the framed offer, on
 * the current control connection (spec: XFER-*). */
static void send_offer(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  ho_broker_conn *k = b->ctl;
  int rc = ho_ack_register(b->tokens, c->token, BROKER_BACKEND_KEY, c->correlation_id, c,
                           ns_to_ms(now));
  if (rc != HO_OK) {
    if (rc == HO_ERR_TOKEN_NOT_PENDING || rc == HO_ERR_TOKEN_EXPIRED) c->token_live = false;
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "token no longer pending");
    return;
  }
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.offer.handle_value = 0; /* Unix */
  memcpy(m.offer.token, c->token, HO_TOKEN_BYTES);
  snprintf(m.offer.service_name, sizeof m.offer.service_name, "%s", b->service);
  m.offer.correlation_id = c->correlation_id;
  if (c->ready_mode) m.offer.offer_flags = HO_OFFER_FLAG_BACKEND_READY;
  uint8_t buf[512];
  size_t len = 0;
  rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, buf, sizeof buf, &len);
  if (rc != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "cannot encode offer");
    return;
  }
  if (bk_push(b, HO_BACT_SEND_FD, k, c->token, HO_TOKEN_BYTES) != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "out of memory");
    return;
  }
  action_item *it = &b->q[(b->qhead + b->qlen - 1) % b->qcap];
  it->a.peer = c;
  it->a.peer_user = c->user;
  c->fd_sent = true; /* from here the backend may own it */
  if (bk_write(b, k, buf, len) != HO_OK) {
    /* The stream would be out of step: drop the control connection. */
    c->ctl = NULL;
    bk_fail(b, c, HO_BROKER_REASON_CONTROL_CLOSED, now, "out of memory");
    return;
  }
  c->state = CS_OFFERED;
  c->ctl = k;
  c->oprev = k->otail;
  if (k->otail) k->otail->onext = c; else k->ohead = c;
  k->otail = c;
  k->in_flight++;
  bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu offer sent control=%llu corr=%llu flags=0x%llx",
         (unsigned long long)c->id, (unsigned long long)k->id,
         (unsigned long long)c->correlation_id, (unsigned long long)m.offer.offer_flags);
}

void bk_dispatch(ho_broker *b, uint64_t now) {
  while (ho_pending_queue_len(b->queue) > 0) {
    if (!can_send(b)) {
      bk_ensure_control(b);
      return;
    }
    void *item = NULL;
    int r = ho_pending_queue_pop(b->queue, ns_to_ms(now), &item);
    if (r <= 0) return;
    ho_broker_conn *c = item;
    c->state = CS_NEGOTIATED;
    if (r == HO_PENDING_EXPIRED)
      bk_fail(b, c, HO_BROKER_REASON_QUEUE_EXPIRED, now, "no control connection in time");
    else
      send_offer(b, c, now);
  }
}

/* Negotiated (with a token) is entirely written: in backend-ready mode the
 * descriptor may only leave now (spec: READY-*). */
void bk_after_negotiated(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  if (c->dead) {
    bk_fail(b, c, HO_BROKER_REASON_CLIENT_GONE, now, "client closed before the offer");
    return;
  }
  if (ho_pending_queue_len(b->queue) == 0 && can_send(b)) {
    send_offer(b, c, now);
    return;
  }
  if (ho_pending_queue_push(b->queue, c, ns_to_ms(now), &c->ticket) != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_QUEUE_FULL, now, NULL);
    return;
  }
  c->state = CS_QUEUED;
  bk_dispatch(b, now);
}

/* Every offer in flight on `k` fails; if it never connected, every queued
 * handoff fails too (they were waiting for it). */
void bk_control_failed(ho_broker *b, ho_broker_conn *k, ho_broker_reason why, uint64_t now) {
  bool never_up = k->state == KS_CONNECTING;
  k->state = KS_DEAD;
  if (b->ctl == k) b->ctl = NULL;
  while (k->ohead) bk_fail(b, k->ohead, why, now, "control connection lost");
  if (never_up) {
    void *item;
    while (ho_pending_queue_pop(b->queue, ns_to_ms(now), &item) > 0) {
      ho_broker_conn *c = item;
      c->state = CS_NEGOTIATED;
      bk_fail(b, c, HO_BROKER_REASON_BACKEND_UNAVAILABLE, now, "cannot reach the backend");
    }
  }
}

/* ---- ACKs ---------------------------------------------------------------------- */

static ho_broker_conn *find_corr(ho_broker_conn *k, uint64_t corr) {
  for (ho_broker_conn *c = k->ohead; c; c = c->onext)
    if (c->correlation_id == corr) return c;
  return NULL;
}

static ho_broker_conn *find_token(ho_broker_conn *k, const uint8_t tok[HO_TOKEN_BYTES]) {
  ho_broker_conn *hit = NULL;
  for (ho_broker_conn *c = k->ohead; c; c = c->onext)
    if (ho_token_equal(c->token, tok) && hit == NULL) hit = c;
  return hit;
}

/* One complete ACK frame body from control connection `k`. Returns false
 * when `k` was dropped. Checks in the original's order: envelope,
 * request_id == correlation_id, correlation, token, accepted, deadline
 * (spec: ACK-*). */
static bool handle_ack(ho_broker *b, ho_broker_conn *k, const uint8_t *body, size_t len,
                       uint64_t now) {
  ho_any_msg m;
  int rc = ho_frame_decode_body(HO_CODEC_PROTOBUF_C, HO_FT_ACK, body, len, NULL, &m);
  if (rc != HO_OK) {
    bk_log(b, HO_BROKER_LOG_WARN, "control=%llu malformed ACK (%s): dropping the connection",
           (unsigned long long)k->id, ho_errname(rc) ? ho_errname(rc) : "?");
    k->dead = true;
    bk_control_failed(b, k, HO_BROKER_REASON_ACK_MALFORMED, now);
    bk_close(b, k, false);
    return false;
  }
  const ho_ack *a = &m.ack;
  ho_broker_conn *c = find_corr(k, a->correlation_id);
  if (c == NULL) {
    c = find_token(k, a->token);
    if (c != NULL) {
      bk_fail(b, c, HO_BROKER_REASON_ACK_CORRELATION, now, "ACK correlation_id unknown");
      return true;
    }
    b->st.late_acks++;
    bk_log(b, HO_BROKER_LOG_INFO, "control=%llu ACK for corr=%llu: no such handoff in flight",
           (unsigned long long)k->id, (unsigned long long)a->correlation_id);
    return true;
  }
  bool token_ok = ho_token_equal(c->token, a->token);
  if (token_ok) /* spec: CAP-* — what the backend declares, it supports */
    b->backend_ready_learned = (a->backend_capabilities & HO_BACKEND_CAP_BACKEND_READY) != 0;
  if (!token_ok) {
    (void)ho_ack_acknowledge(b->tokens, c->token, a->token, ns_to_ms(now), NULL);
    c->token_live = false;
    bk_fail(b, c, HO_BROKER_REASON_ACK_TOKEN_MISMATCH, now, "ACK token echo differs");
    return true;
  }
  if (!a->accepted) {
    char detail[HO_MAX_ERROR_DETAIL + 3];
    snprintf(detail, sizeof detail, "'%s'", a->error_detail);
    bk_fail(b, c, HO_BROKER_REASON_ACK_REFUSED, now, detail);
    return true;
  }
  rc = ho_ack_acknowledge(b->tokens, c->token, a->token, ns_to_ms(now), NULL);
  if (rc == HO_OK) {
    succeed(b, c, now);
    return true;
  }
  if (rc != HO_ERR_TOKEN_NOT_PENDING) c->token_live = false;
  bk_fail(b, c, HO_BROKER_REASON_ACK_LATE, now, "ACK after its deadline");
  return true;
}

int bk_control_data(ho_broker *b, ho_broker_conn *k, const uint8_t *data, size_t len,
                    uint64_t now) {
  if (k->state != KS_UP) return HO_ERR_STATE;
  if (k->ack_buf == NULL) {
    k->ack_buf = malloc(HO_MAX_FRAME_BYTES); /* pages are touched only as used */
    if (k->ack_buf == NULL ||
        ho_frame_reader_init(&k->ard, k->ack_buf, HO_MAX_FRAME_BYTES, 0) != HO_OK) {
      k->dead = true;
      bk_control_failed(b, k, HO_BROKER_REASON_CONTROL_CLOSED, now);
      bk_close(b, k, false);
      return HO_ERR_NOMEM;
    }
  }
  while (len > 0) {
    size_t used = 0;
    int rc = ho_frame_reader_feed(&k->ard, data, len, &used);
    data += used;
    len -= used;
    if (rc == HO_OK) continue;
    if (rc == 1) {
      const uint8_t *body;
      size_t blen;
      (void)ho_frame_reader_body(&k->ard, &body, &blen);
      if (!handle_ack(b, k, body, blen, now)) return HO_OK;
      (void)ho_frame_reader_next(&k->ard);
      continue;
    }
    bk_log(b, HO_BROKER_LOG_WARN, "control=%llu bad frame (%s): dropping the connection",
           (unsigned long long)k->id, ho_errname(rc) ? ho_errname(rc) : "?");
    k->dead = true;
    bk_control_failed(b, k, HO_BROKER_REASON_ACK_MALFORMED, now);
    bk_close(b, k, false);
    return HO_OK;
  }
  return HO_OK;
}

/* ---- deadlines ------------------------------------------------------------------- */

void bk_timer(ho_broker *b, uint64_t now) {
  uint64_t ms = ns_to_ms(now);
  ho_ack_info infos[16];
  size_t n;
  do {
    n = 0;
    if (ho_ack_expire_overdue(b->tokens, ms, infos, 16, &n) != HO_OK) break;
    for (size_t i = 0; i < n; i++) {
      ho_broker_conn *c = infos[i].user;
      c->token_live = false; /* the exit revoked it */
      bk_fail(b, c, HO_BROKER_REASON_ACK_TIMEOUT, now, "no ACK before the deadline");
    }
  } while (n == 16);
  void *items[16];
  do {
    n = 0;
    if (ho_pending_queue_expire(b->queue, ms, items, 16, &n) != HO_OK) break;
    for (size_t i = 0; i < n; i++) {
      ho_broker_conn *c = items[i];
      c->state = CS_NEGOTIATED; /* already out of the queue */
      bk_fail(b, c, HO_BROKER_REASON_QUEUE_EXPIRED, now, "no control connection in time");
    }
  } while (n == 16);
  (void)ho_token_prune_expired(b->tokens, ms);
}

uint64_t bk_next_deadline_ns(const ho_broker *b) {
  if (b->shutting_down) return 0;
  uint64_t best = 0, at;
  if (ho_token_next_deadline(b->tokens, &at)) best = at * 1000000u;
  if (ho_pending_queue_next_deadline(b->queue, &at) && (best == 0 || at * 1000000u < best))
    best = at * 1000000u;
  if (b->hhead && (best == 0 || b->hhead->hello_deadline_ns < best))
    best = b->hhead->hello_deadline_ns;
  return best;
}
