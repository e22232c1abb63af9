/* handoff — broker core: control connections, offers, ACKs, deadlines and
 * the fallback on every failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"

/* ---- control connections ------------------------------------------------ */

/* spec: XFER-37 — a control connection carries one offer until the backend
 * has declared BACKEND_CAP_MULTI_OFFER in an ACK on it (or the operator has
 * said so); then up to BROKER_MAX_IN_FLIGHT. */
static bool has_capacity(const ho_broker_conn *k) {
  return k->multi ? k->in_flight < BROKER_MAX_IN_FLIGHT : k->offers_sent == 0;
}

static bool live(const ho_broker_conn *k) { return !k->dead && !k->retiring; }


/* Open one more control connection (spec: XFER-37: bounded in number). */
void bk_dial_control(ho_broker *b) {
  if (!b->cfg.handoff_endpoint || b->shutting_down || b->nctl >= b->cfg.max_controls) return;
  ho_broker_conn *k = calloc(1, sizeof *k);
  if (k == NULL) return;
  k->control = true;
  k->id = b->next_ctl_id++;
  k->state = KS_CONNECTING;
  k->multi = b->cfg.backend_multi_offer;
  bk_link(b, k);
  k->knext = b->khead;
  if (b->khead) b->khead->kprev = k;
  b->khead = k;
  b->nctl++;
  b->nconnecting++;
  b->st.control_connects++;
  bk_log(b, HO_BROKER_LOG_DEBUG, "control=%llu dialing", (unsigned long long)k->id);
  if (bk_push(b, HO_BACT_OPEN_CONTROL, k, NULL, 0) != HO_OK) bk_close(b, k, false);
}

/* Forget `k` as a control connection (called once, from bk_close). */
void bk_control_unlink(ho_broker *b, ho_broker_conn *k) {
  if (k->kprev) k->kprev->knext = k->knext; else if (b->khead == k) b->khead = k->knext; else return;
  if (k->knext) k->knext->kprev = k->kprev;
  k->knext = k->kprev = NULL;
  b->nctl--;
  if (k->state == KS_CONNECTING) b->nconnecting--;
}

/* Is a control connection with a backend-ready declaration up (READY-36)? */
static bool br_declared_up(const ho_broker *b) {
  for (const ho_broker_conn *k = b->khead; k; k = k->knext)
    if (k->state == KS_UP && live(k) && k->backend_ready) return true;
  return false;
}

/* The control connection the offer of `c` goes on, or NULL. spec: READY-36 —
 * a backend-ready offer needs the declaration on that very connection; an
 * operator's statement does not count. */
static bool coalesced_by_config(const ho_broker *b) {
  return b->cfg.backend_coalesced && !b->coal_void;
}

/* Can `k` carry the offer of `c`? spec: READY-36 READY-25 — a backend-ready
 * offer needs the declaration on that connection, a coalesced one that
 * declaration of coalesced mode or the operator's statement. */
static bool suits(const ho_broker *b, const ho_broker_conn *k, const ho_broker_conn *c) {
  if (c->coalesced) return coalesced_by_config(b) || k->coalesced_ok;
  return !c->ready_mode || k->backend_ready;
}

static ho_broker_conn *pick_control(const ho_broker *b, const ho_broker_conn *c) {
  for (ho_broker_conn *k = b->khead; k; k = k->knext)
    if (k->state == KS_UP && live(k) && has_capacity(k) && suits(b, k, c))
      return k;
  return NULL;
}

/* Coalesced mode is possible: stated by the operator (and not proved
 * wrong), or declared on a live connection (spec: READY-25). */
bool bk_coalesced_available(const ho_broker *b) {
  if (b->cfg.duplicate_handles) return false; /* not on the Windows transport yet */
  if (coalesced_by_config(b)) return true;
  for (ho_broker_conn *k = b->khead; k; k = k->knext)
    if (k->state == KS_UP && live(k) && k->coalesced_ok) return true;
  return false;
}

/* spec: READY-27 — the whole coalesced offer is written: the broker's copy
 * of the client connection is closed at once, nothing written; the attempt
 * stays (without its handle) until its ACK or deadline. */
void bk_release(ho_broker *b, ho_broker_conn *c) {
  if (!c->coalesced || c->released || c->control) return;
  if (bk_push(b, HO_BACT_CLOSE, c, NULL, 0) == HO_OK) {
    action_item *it = &b->q[(b->qhead + b->qlen - 1) % b->qcap];
    it->a.conn = NULL; /* the handle dies now, the attempt does not */
  }
  c->released = true;
  c->dead = true; /* nothing is ever written to it again */
}

bool bk_backend_ready_available(const ho_broker *b) {
  return br_declared_up(b);
}

/* Dial for the attempts that wait: one connection each while the backend
 * has not declared that it keeps them, else one at a time. */
static bool suits(const ho_broker *b, const ho_broker_conn *k, const ho_broker_conn *c);

static void dial_for_queue(ho_broker *b) {
  size_t waiting = ho_pending_queue_len(b->queue);
  /* spec: BROKER-3 XFER-37 READY-36 — a fresh connection has declared
   * nothing: if the oldest waiting attempt needs a declaration, a dial
   * cannot serve it (the new connection would be retired at once, and the
   * next dispatch would dial again: a storm that stalls every client). It
   * waits for a declared connection, or its queue deadline. */
  void *head = NULL;
  static const ho_broker_conn fresh; /* no declaration of any kind */
  if (waiting > 0 && ho_pending_queue_peek(b->queue, UINT64_MAX / 2, &head) > 0 &&
      !suits(b, &fresh, head))
    return;
  bool multi_known = b->cfg.backend_multi_offer;
  for (const ho_broker_conn *k = b->khead; k && !multi_known; k = k->knext) multi_known = k->multi;
  size_t want = multi_known ? (b->nconnecting == 0 && waiting > 0) : waiting;
  while (b->nconnecting < want && b->nctl < b->cfg.max_controls) {
    size_t before = b->nctl;
    bk_dial_control(b);
    if (b->nctl == before) break;
  }
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

/* Another declared connection that is up and takes offers? */
static bool other_multi_up(const ho_broker *b, const ho_broker_conn *k) {
  for (const ho_broker_conn *o = b->khead; o; o = o->knext)
    if (o != k && o->multi && o->state == KS_UP && live(o)) return true;
  return false;
}

/* spec: XFER-37 BROKER-9 — a connection that takes no more offers is closed
 * once nothing is in flight on it; so is any idle one while a declared one is
 * up (a burst that dialled several leaves one behind). Returns true when `k`
 * was closed. */
bool bk_retire_if_done(ho_broker *b, ho_broker_conn *k, uint64_t now) {
  if (k->dead || k->in_flight > 0) return false;
  if (!(k->retiring || (!k->multi && k->offers_sent > 0) || other_multi_up(b, k))) return false;
  bk_log(b, HO_BROKER_LOG_DEBUG, "control=%llu retired after %llu offer(s)%s",
         (unsigned long long)k->id, (unsigned long long)k->offers_sent,
         k->retiring                        ? " (backend draining)"
         : (!k->multi && k->offers_sent > 0) ? " (no MULTI_OFFER)"
                                             : " (idle, another is up)");
  k->dead = true;
  k->state = KS_DEAD;
  bk_close(b, k, false);
  bk_dispatch(b, now);
  return true;
}

/* ---- ending a handoff ------------------------------------------------------ */

/* The attempt failed: the token is revoked exactly once (spec: TOKEN-7 FALLBACK-20), the
 * reason counted, the broker's copy closed; the client falls back to
 * backend_pipe (spec: FALLBACK-20 XFER-7 BROKER-4). In legacy mode the socket is also shut
 * down once the descriptor may have reached the backend (spec: FALLBACK-21): the client
 * has sent nothing (it waits for ready), so it sees EOF at once instead of
 * waiting for its ready timeout, and the backend can no longer use it; never
 * when the backend may be serving it (spec: FALLBACK-22: backend-ready mode, ACK-16). */
static const char *mode_name(const ho_broker_conn *c) {
  return c->coalesced ? "coalesced" : c->ready_mode ? "backend-ready" : "legacy";
}

/* Microseconds since client `c` was opened: a measurement (logs, latency
 * histogram), from the measure_us clock when there is one, else from the
 * millisecond inputs. Never negative. */
static uint64_t elapsed_us(const ho_broker *b, const ho_broker_conn *c, uint64_t now) {
  if (b->cfg.measure_us) {
    uint64_t t = b->cfg.measure_us(b->cfg.clock_user);
    return t > c->opened_us ? t - c->opened_us : 0;
  }
  return now > c->opened_ms ? (now - c->opened_ms) * 1000u : 0;
}

void bk_fail(ho_broker *b, ho_broker_conn *c, ho_broker_reason why, uint64_t now,
             const char *detail) {
  ho_broker_conn *k = c->ctl; /* before the unlink below forgets it */
  if (c->dup_state != DS_NONE) bk_dup_end(b, c, false, why); /* spec: XFER-33 XFER-41 */
  if (c->token_live) {
    (void)ho_ack_abandon(b->tokens, c->token, now, NULL);
    c->token_live = false;
  }
  if (c->state == CS_QUEUED) (void)ho_pending_queue_remove(b->queue, c->ticket, NULL);
  inflight_unlink(c);
  b->st.in_flight--;
  b->st.fallbacks[why]++;
  /* spec: FALLBACK-25 — one failure per attempt whose transfer began,
   * except the client leaving, shutdown and a draining backend. */
  if (ho_broker_reason_counts(why))
    (void)ho_fallback_record_failure(b->policy, BROKER_BACKEND_KEY, now);
  /* spec: FALLBACK-14 — reason name, backend, correlation id; no token. */
  bk_log(b, HO_BROKER_LOG_INFO,
         "conn=%llu route=reconnect reason=%s detail=%s backend=%s corr=%llu mode=%s "
         "after_us=%llu%s%s",
         (unsigned long long)c->id, ho_broker_reason_spec_name(why),
         ho_broker_reason_name(why), b->endpoint_name,
         (unsigned long long)c->correlation_id, mode_name(c),
         (unsigned long long)elapsed_us(b, c, now), detail ? " why=" : "",
         detail ? detail : "");
  bool shut = c->fd_sent && !c->ready_mode;
  /* spec: READY-27 — a coalesced attempt whose offer did not go out whole:
   * nobody else will write, so the broker writes reply_declined and closes
   * once it is flushed, without reading the early data (FALLBACK-3). Not
   * while the offer may still reach the backend (its connection alive with
   * nothing left to write: then it was written, and the backend answers). */
  bool offer_gone = !c->fd_sent || k == NULL || k->dead || k->write_pending;
  if (c->coalesced && !c->released && !c->dead && offer_gone && c->reply_d != NULL &&
      bk_write(b, c, c->reply_d, c->reply_d_len) == HO_OK) {
    c->state = CS_REPLY_CLOSE;
    return;
  }
  c->state = CS_DONE;
  bk_close(b, c, shut);
}

/* The handoff is complete (spec: ACK-15 FALLBACK-8): counted, logged,
 * the success recorded. */
static void completed(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  b->st.handoffs_completed++;
  if (c->ready_mode) b->st.handoffs_backend_ready++;
  if (c->coalesced) b->st.handoffs_coalesced++;
  uint64_t us = elapsed_us(b, c, now);
  bk_latency_record(b, us);
  ho_fallback_record_success(b->policy, BROKER_BACKEND_KEY);
  bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu route=handoff corr=%llu mode=%s after_us=%llu",
         (unsigned long long)c->id, (unsigned long long)c->correlation_id,
         mode_name(c), (unsigned long long)us);
}

/* spec: ACK-15 — the legacy ready frame was written whole (the handoff
 * completes) or could not be (the client left: no success, no failure of
 * the backend, FALLBACK-25; no retry, the backend owns the connection). */
void bk_ready_done(ho_broker *b, ho_broker_conn *c, bool written, uint64_t now) {
  if (!written) {
    bk_ready_lost(b, c, HO_BROKER_REASON_CLIENT_GONE, "ready_write_failed");
    return;
  }
  b->st.in_flight--; /* the attempt ends here, not at its ACK */
  completed(b, c, now);
  c->state = CS_DONE;
  bk_close(b, c, false);
}

/* spec: BROKER-7 ACK-15 — an accepted attempt whose legacy ready frame is
 * not known written ends without success and without a failure counted
 * against the backend (CLIENT_GONE, SHUTDOWN: FALLBACK-25). */
void bk_ready_lost(ho_broker *b, ho_broker_conn *c, ho_broker_reason why, const char *detail) {
  b->st.in_flight--;
  b->st.fallbacks[why]++;
  bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu route=reconnect reason=%s detail=%s corr=%llu",
         (unsigned long long)c->id, ho_broker_reason_spec_name(why), detail,
         (unsigned long long)c->correlation_id);
  c->state = CS_DONE;
  bk_close(b, c, false);
}

static void succeed(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  if (c->dup_state != DS_NONE) bk_dup_end(b, c, true, HO_BROKER_REASON_COUNT);
  inflight_unlink(c);
  c->token_live = false;
  if (c->ready_mode) {
    b->st.in_flight--;
    /* spec: ACK-15 READY-8 READY-27 — the backend wrote ready (coalesced:
     * and Negotiated); the broker writes nothing. */
    completed(b, c, now);
    c->state = CS_DONE;
    bk_close(b, c, false);
    return;
  }
  if (c->dead) { /* the client is gone already: no ready can be written */
    c->state = CS_READY_CLOSE;
    bk_ready_done(b, c, false, now);
    return;
  }
  /* Legacy: the broker writes the ready EVENT, then closes its copy; only
   * this exit (COMPLETED) writes one. spec: READY-2 */
  uint8_t buf[512];
  size_t len = 0;
  c->state = CS_READY_CLOSE;
  if (ho_ready_frame_encode(HO_CODEC_PROTOBUF_C, c->token, c->correlation_id, buf, sizeof buf,
                            &len) != HO_OK ||
      bk_write(b, c, buf, len) != HO_OK)
    bk_ready_done(b, c, false, now);
}

/* ---- offers ----------------------------------------------------------------- */

/* Frame an offer: like ho_frame_encode(HO_FT_OFFER) but with the envelope's
 * deadline_unix_ms, which a backend-ready offer carries; 0 otherwise.
 * REQUEST, never compressed. spec: READY-10 ENV-9 ENV-2 */
static int encode_offer(const ho_offer *o, uint64_t deadline_unix_ms, uint8_t *out, size_t cap,
                        size_t *len) {
  /* a coalesced offer carries two HelloReply frames (REPLY_MAX each) */
  enum { PAYLOAD_MAX = 2 * HO_MAX_REPLY_FRAME + 512 };
  if (cap < HO_FRAME_HEADER_BYTES) return HO_ERR_BUFFER_TOO_SMALL;
  uint8_t small[256], *payload = small;
  size_t pcap = sizeof small;
  if (o->reply_adopted_len + o->reply_declined_len > 0) {
    payload = malloc(PAYLOAD_MAX);
    if (payload == NULL) return HO_ERR_NOMEM;
    pcap = PAYLOAD_MAX;
  }
  size_t plen = 0;
  int rc = ho_offer_encode(HO_CODEC_PROTOBUF_C, o, payload, pcap, &plen);
  if (rc != HO_OK) {
    if (payload != small) free(payload);
    return rc;
  }
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = HO_ENVELOPE_VERSION;
  env.kind = HO_KIND_REQUEST;
  env.payload_protocol = HO_PAYLOAD_HANDOFF;
  env.payload = payload;
  env.payload_len = plen;
  env.request_id = o->correlation_id; /* spec: ENV-1 */
  env.payload_encoding = HO_ENCODING_NONE;
  env.deadline_unix_ms = deadline_unix_ms;
  size_t blen = 0;
  rc = ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, out + HO_FRAME_HEADER_BYTES,
                          cap - HO_FRAME_HEADER_BYTES, &blen);
  if (payload != small) free(payload);
  if (rc != HO_OK) return rc;
  rc = ho_frame_write_header(out, blen);
  if (rc == HO_OK) *len = HO_FRAME_HEADER_BYTES + blen;
  return rc;
}

int bk_encode_offer(const ho_offer *o, uint64_t deadline_unix_ms, uint8_t *out, size_t cap,
                    size_t *len) {
  return encode_offer(o, deadline_unix_ms, out, cap, len);
}

/* Send the descriptor with the sideband token, then the framed offer, on
 * control connection `k` (spec: XFER-3 XFER-4 ACK-17 TOKEN-6 XFER-37). */
void bk_offered(ho_broker_conn *c, ho_broker_conn *k) {
  c->state = CS_OFFERED;
  c->ctl = k;
  c->oprev = k->otail;
  if (k->otail) k->otail->onext = c; else k->ohead = c;
  k->otail = c;
  k->in_flight++;
  k->offers_sent++;
}

static void send_offer(ho_broker *b, ho_broker_conn *c, ho_broker_conn *k, uint64_t now) {
  /* spec: ACK-17 — a legacy attempt gives up LEGACY_READY_BUDGET after
   * Negotiated, before the client (READY_TIMEOUT from reading it) does. */
  uint64_t not_after = c->ready_mode ? 0
                                     : c->negotiated_ms + BROKER_LEGACY_READY_BUDGET_MS;
  uint64_t deadline_ms = 0;
  int rc = ho_ack_register_until(b->tokens, c->token, BROKER_BACKEND_KEY, c->correlation_id, c,
                                 now, not_after, &deadline_ms);
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
  if (c->coalesced) { /* spec: READY-26 — both replies travel in the offer */
    m.offer.offer_flags |= HO_OFFER_FLAG_COALESCED_REPLY;
    memcpy(m.offer.reply_adopted, c->reply_a, c->reply_a_len);
    m.offer.reply_adopted_len = c->reply_a_len;
    memcpy(m.offer.reply_declined, c->reply_d, c->reply_d_len);
    m.offer.reply_declined_len = c->reply_d_len;
  }
  /* spec: READY-10 TOKEN-22 ENV-9 — the offer deadline: the ready deadline of a
   * backend-ready offer; the wall-clock instant of the ACK deadline of a
   * legacy one (the backend then never adopts what we would reject). */
  uint64_t offer_deadline = 0;
  if (c->ready_mode) {
    offer_deadline = c->negotiated_unix_ms + BROKER_READY_BUDGET_MS;
  } else if (b->cfg.unix_ms != NULL) {
    uint64_t left = deadline_ms > now ? deadline_ms - now : 0;
    offer_deadline = b->cfg.unix_ms(b->cfg.clock_user) + left;
  }
  if (b->cfg.duplicate_handles) { /* Windows: DUPLICATE first, the offer once it is made */
    bk_dup_offer(b, c, k, offer_deadline, now);
    return;
  }
  uint8_t small[512], *buf = small;
  size_t cap = sizeof small, len = 0;
  if (c->coalesced) {
    cap = 2 * HO_MAX_REPLY_FRAME + 1024;
    buf = malloc(cap);
  }
  rc = buf == NULL ? HO_ERR_NOMEM : encode_offer(&m.offer, offer_deadline, buf, cap, &len);
  if (rc != HO_OK) {
    if (buf != small) free(buf);
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "cannot encode offer");
    return;
  }
  if (bk_push(b, HO_BACT_SEND_FD, k, c->token, HO_TOKEN_BYTES) != HO_OK) {
    if (buf != small) free(buf);
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "out of memory");
    return;
  }
  action_item *it = &b->q[(b->qhead + b->qlen - 1) % b->qcap];
  it->a.peer = c;
  it->a.peer_user = c->user;
  it->a.correlation_id = c->correlation_id;
  c->fd_sent = true; /* from here the backend may own it */
  int wrc = bk_write(b, k, buf, len); /* copies the bytes */
  if (buf != small) free(buf);
  if (wrc == HO_OK)
    b->q[(b->qhead + b->qlen - 1) % b->qcap].a.correlation_id = c->correlation_id;
  else {
    /* The stream would be out of step: drop the control connection. */
    c->ctl = NULL;
    bk_fail(b, c, HO_BROKER_REASON_CONTROL_CLOSED, now, "out of memory");
    return;
  }
  bk_offered(c, k);
  if (c->coalesced) k->carried_coalesced = true;
  bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu offer sent control=%llu corr=%llu flags=0x%llx",
         (unsigned long long)c->id, (unsigned long long)k->id,
         (unsigned long long)c->correlation_id, (unsigned long long)m.offer.offer_flags);
}

/* Offer queued attempts, oldest first, while a control connection can take
 * them; dial for the rest (spec: XFER-37 FALLBACK-11 FALLBACK-12). */
void bk_dispatch(ho_broker *b, uint64_t now) {
  for (;;) {
    void *item = NULL;
    int r = ho_pending_queue_peek(b->queue, now, &item);
    if (r <= 0) break;
    ho_broker_conn *c = item;
    ho_broker_conn *k = NULL;
    if (r == HO_PENDING_READY) {
      k = pick_control(b, c);
      bool lost = c->coalesced ? !bk_coalesced_available(b)
                               : c->ready_mode && !bk_backend_ready_available(b);
      if (k == NULL && lost) {
        /* spec: READY-36 — the declaration came on a control connection that
         * has since ended; the client may already have sent its request, so
         * legacy mode is no option either. */
        (void)ho_pending_queue_pop(b->queue, now, &item);
        c->state = CS_NEGOTIATED;
        bk_fail(b, c, HO_BROKER_REASON_CONTROL_CLOSED, now,
                "backend-ready declaration lost with its control connection");
        continue;
      }
      if (k == NULL) break;
    }
    (void)ho_pending_queue_pop(b->queue, now, &item);
    c->state = CS_NEGOTIATED;
    if (r == HO_PENDING_EXPIRED)
      bk_fail(b, c, HO_BROKER_REASON_QUEUE_EXPIRED, now, "no control connection in time");
    else
      send_offer(b, c, k, now);
  }
  dial_for_queue(b);
}

/* Negotiated (with a token) is entirely written: in backend-ready mode the
 * descriptor may only leave now (spec: READY-7 BROKER-5). */
void bk_after_negotiated(ho_broker *b, ho_broker_conn *c, uint64_t now) {
  if (c->dead) {
    bk_fail(b, c, HO_BROKER_REASON_CLIENT_GONE, now, "client closed before the offer");
    return;
  }
  ho_broker_conn *k = ho_pending_queue_len(b->queue) == 0 ? pick_control(b, c) : NULL;
  if (k != NULL) {
    send_offer(b, c, k, now);
    return;
  }
  if (ho_pending_queue_push(b->queue, c, now, &c->ticket) != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_QUEUE_FULL, now, NULL);
    return;
  }
  c->state = CS_QUEUED;
  bk_dispatch(b, now);
}

/* spec: ACK-10 — every offer in flight on `k` is abandoned. Queued attempts
 * are bound to no connection: they wait for the next one (or fail with a
 * dial, XFER-23, bk_fail_queued). */
void bk_control_failed(ho_broker *b, ho_broker_conn *k, ho_broker_reason why, uint64_t now) {
  if (k->state == KS_CONNECTING) b->nconnecting--;
  k->state = KS_DEAD;
  while (k->ohead) bk_fail(b, k->ohead, why, now, "control connection lost");
}

/* spec: XFER-23 — the attempts waiting for a connection fail with it. */
void bk_fail_queued(ho_broker *b, ho_broker_reason why, uint64_t now) {
  void *item;
  while (ho_pending_queue_pop(b->queue, now, &item) > 0) {
    ho_broker_conn *c = item;
    c->state = CS_NEGOTIATED;
    bk_fail(b, c, why, now, "no control connection");
  }
}

/* ---- ACKs ---------------------------------------------------------------------- */

ho_broker_conn *bk_find_corr(ho_broker_conn *k, uint64_t corr) {
  for (ho_broker_conn *c = k->ohead; c; c = c->onext)
    if (c->correlation_id == corr) return c;
  return NULL;
}

void bk_drop_control(ho_broker *b, ho_broker_conn *k, ho_broker_reason why, uint64_t now) {
  k->dead = true;
  bk_control_failed(b, k, why, now);
  bk_close(b, k, false);
}

/* Drop control connection `k` for what it sent (`what`, failing with rc):
 * logged, every entry on it abandoned as ACK_MALFORMED, closed. */
static void drop_malformed(ho_broker *b, ho_broker_conn *k, const char *what, int rc,
                           uint64_t now) {
  bk_log(b, HO_BROKER_LOG_WARN, "control=%llu %s (%s): dropping the connection",
         (unsigned long long)k->id, what, ho_errname(rc) ? ho_errname(rc) : "?");
  bk_drop_control(b, k, HO_BROKER_REASON_ACK_MALFORMED, now);
}

/* One complete ACK frame body from control connection `k`. Returns false
 * when `k` was dropped. Checks in the original's order: envelope,
 * request_id == correlation_id, correlation, token, accepted, deadline
 * (spec: ACK-2 ACK-11 ENV-4). */
static bool handle_ack(ho_broker *b, ho_broker_conn *k, const uint8_t *body, size_t len,
                       uint64_t now) {
  ho_any_msg m;
  int rc = ho_frame_decode_body(HO_CODEC_PROTOBUF_C, HO_FT_ACK, body, len, NULL, &m);
  if (rc != HO_OK) {
    /* spec: ACK-9 ERR-51 ERR-52 ERR-53 — envelope, payload or request_id
     * check failed: a protocol violation, every entry on `k` abandoned. */
    drop_malformed(b, k, "malformed ACK", rc, now);
    return false;
  }
  const ho_ack *a = &m.ack;
  ho_broker_conn *c = bk_find_corr(k, a->correlation_id);
  if (c == NULL) {
    if (a->correlation_id == 0 || a->correlation_id >= b->next_correlation) {
      /* spec: ACK-8 ERR-54 — never issued: a protocol violation. */
      bk_log(b, HO_BROKER_LOG_WARN,
             "control=%llu ACK for corr=%llu never issued: dropping the connection",
             (unsigned long long)k->id, (unsigned long long)a->correlation_id);
      bk_drop_control(b, k, HO_BROKER_REASON_ACK_CORRELATION, now);
      return false;
    }
    /* spec: ACK-7 ERR-55 — issued, no longer awaited here: discarded. */
    b->st.late_acks++;
    bk_log(b, HO_BROKER_LOG_INFO, "control=%llu ACK for corr=%llu discarded: TOKEN_NOT_PENDING",
           (unsigned long long)k->id, (unsigned long long)a->correlation_id);
    return true;
  }
  /* spec: XFER-33 — an ACK proves its offer was read whole (or, before the
   * duplicate was even reported, that the backend lies: dropped). */
  if (c->dup_state != DS_NONE && !bk_dup_acked(b, k, c, now)) return false;
  bool token_ok = ho_token_equal(c->token, a->token);
  if (token_ok) {
    /* spec: READY-36 XFER-37 CAP-10 — learnt per control connection. */
    k->backend_ready = (a->backend_capabilities & HO_BACKEND_CAP_BACKEND_READY) != 0;
    k->coalesced_ok = (a->backend_capabilities & HO_BACKEND_CAP_COALESCED_REPLY) != 0;
    if (a->backend_capabilities & HO_BACKEND_CAP_MULTI_OFFER) k->multi = true;
    /* spec: READY-27 BACKEND-10 — the echo proves the offer was read whole,
     * even when the shell's report of its last byte comes later: a
     * coalesced attempt's copy is closed now, nothing written to it. */
    bk_release(b, c);
  }
  if (!token_ok) {
    /* spec: ACK-2 ACK-5 ACK-13 ERR-56 — exit MISMATCH, then drop the connection. */
    (void)ho_ack_acknowledge(b->tokens, c->token, a->token, now, NULL);
    c->token_live = false;
    bk_fail(b, c, HO_BROKER_REASON_ACK_TOKEN_MISMATCH, now, "ACK token echo differs");
    bk_drop_control(b, k, HO_BROKER_REASON_CONTROL_CLOSED, now);
    return false;
  }
  if (!a->accepted) { /* spec: ACK-4 ERR-57 — the control connection stays */
    char detail[HO_MAX_ERROR_DETAIL + 3];
    snprintf(detail, sizeof detail, "'%s'", a->error_detail);
    if (strcmp(a->error_detail, "DRAINING") == 0) {
      /* spec: BROKER-9 ERR-64 FALLBACK-25 — no more offers on this
       * connection; the refusal does not count against the backend. */
      k->retiring = true;
      bk_fail(b, c, HO_BROKER_REASON_DRAINING, now, detail);
    } else if (strcmp(a->error_detail, "CLOSED") == 0) {
      /* spec: FALLBACK-25 READY-12 — the client had gone before the backend
       * could write its ready frame: not the backend's failure. */
      bk_fail(b, c, HO_BROKER_REASON_CLIENT_GONE, now, detail);
    } else {
      bk_fail(b, c, HO_BROKER_REASON_ACK_REFUSED, now, detail);
    }
    return !bk_retire_if_done(b, k, now);
  }
  rc = ho_ack_acknowledge(b->tokens, c->token, a->token, now, NULL);
  if (rc == HO_OK && c->coalesced &&
      !(a->backend_capabilities & HO_BACKEND_CAP_COALESCED_REPLY)) {
    /* spec: READY-30 — accepted without the declaration: reply_adopted was
     * not written (the client reports OUTCOME_UNKNOWN). A failure of the
     * backend; the operator's statement is void from now on. */
    c->token_live = false;
    if (coalesced_by_config(b))
      bk_log(b, HO_BROKER_LOG_WARN,
             "backend accepted a coalesced offer without BACKEND_CAP_COALESCED_REPLY: "
             "--backend-coalesced is wrong for it, coalesced mode off");
    b->coal_void = true;
    bk_fail(b, c, HO_BROKER_REASON_READY_VIOLATION, now, "no coalesced reply was written");
    return !bk_retire_if_done(b, k, now);
  }
  if (rc == HO_OK && c->ready_mode && !(a->backend_capabilities & HO_BACKEND_CAP_BACKEND_READY)) {
    /* spec: ACK-16 ERR-63 FALLBACK-22 — accepted, yet the backend does not
     * declare the mode: no ready frame was written. A failure of the
     * backend; the copy is closed without shutdown (the backend holds the
     * connection and may be serving it). The mode was declared on this
     * connection (READY-36); this ACK, without the bit, has withdrawn it. */
    c->token_live = false;
    bk_log(b, HO_BROKER_LOG_WARN,
           "backend accepted a backend-ready offer without BACKEND_CAP_BACKEND_READY: "
           "backend-ready mode off on control=%llu", (unsigned long long)k->id);
    bk_fail(b, c, HO_BROKER_REASON_READY_VIOLATION, now, "no ready frame was written");
    return !bk_retire_if_done(b, k, now);
  }
  if (rc == HO_OK) {
    succeed(b, c, now);
    return !bk_retire_if_done(b, k, now);
  }
  if (rc != HO_ERR_TOKEN_NOT_PENDING) c->token_live = false;
  bk_fail(b, c, HO_BROKER_REASON_ACK_LATE, now, "ACK after its deadline"); /* spec: ACK-5 ERR-58 */
  return !bk_retire_if_done(b, k, now);
}

int bk_control_data(ho_broker *b, ho_broker_conn *k, const uint8_t *data, size_t len,
                    uint64_t now) {
  if (k->state != KS_UP) return HO_ERR_STATE;
  if (k->ack_buf == NULL) {
    /* spec: FRAME-8 — a local cap of 64 KiB for ACK frames. */
    k->ack_buf = malloc(BROKER_ACK_CAP);
    if (k->ack_buf == NULL ||
        ho_frame_reader_init(&k->ard, k->ack_buf, BROKER_ACK_CAP, BROKER_ACK_CAP) != HO_OK) {
      bk_drop_control(b, k, HO_BROKER_REASON_CONTROL_CLOSED, now);
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
    /* spec: ACK-9 ERR-50 — a framing error: close, abandon every entry. */
    drop_malformed(b, k, "bad frame", rc, now);
    return HO_OK;
  }
  /* spec: XFER-37 FALLBACK-12 — ACKs free room on `k`: waiting attempts
   * go now, not at their queue deadline. */
  if (ho_pending_queue_len(b->queue) > 0) bk_dispatch(b, now);
  return HO_OK;
}

int ho_broker_offer_written(ho_broker *b, ho_broker_conn *k, uint64_t correlation_id,
                            uint64_t now) {
  (void)now;
  if (b == NULL || k == NULL || !k->control) return HO_ERR_INVALID_ARGUMENT;
  ho_broker_conn *c = bk_find_corr(k, correlation_id);
  if (c != NULL && c->dup_state == DS_MADE) c->dup_state = DS_WRITTEN; /* spec: XFER-33 XFER-45 */
  if (c != NULL) bk_release(b, c); /* spec: READY-27 */
  bk_rearm(b);
  return HO_OK;
}

bool ho_broker_control_wants_read(const ho_broker *b, const ho_broker_conn *k) {
  if (b == NULL || k == NULL || !k->control) return true;
  if (k->state != KS_UP) return true;
  for (const ho_broker_conn *c = k->ohead; c; c = c->onext)
    if (!(c->coalesced && c->released)) return true; /* an ACK someone waits for */
  /* spec: READY-33 — nothing waits on the next ACK; a connection that never
   * carried a coalesced offer stays read at once (no change of interest,
   * hence no system call, per handoff in either mode) */
  return !k->carried_coalesced;
}

/* Every byte queued on control connection `k` is written: so is every
 * offer in flight on it (spec: READY-27). */
void bk_control_flushed(ho_broker *b, ho_broker_conn *k) {
  for (ho_broker_conn *c = k->ohead; c; c = c->onext) bk_release(b, c);
}

int ho_broker_transfer_failed(ho_broker *b, ho_broker_conn *k, uint64_t correlation_id, int err,
                              uint64_t now) {
  if (b == NULL || k == NULL || !k->control) return HO_ERR_INVALID_ARGUMENT;
  ho_broker_conn *c = bk_find_corr(k, correlation_id);
  if (c != NULL) { /* spec: ERR-61 — this attempt fails, mapped per FALLBACK-17 */
    ho_broker_reason why = err == HO_ERR_PERMISSION      ? HO_BROKER_REASON_PERMISSION
                           : err == HO_ERR_FD_EXHAUSTED ? HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED
                                                        : HO_BROKER_REASON_CONTROL_CLOSED;
    c->fd_sent = false; /* nothing left: the backend never got it */
    bk_fail(b, c, why, now, ho_errname(err) ? ho_errname(err) : "transfer failed");
  }
  bk_rearm(b);
  return HO_OK;
}

/* ---- deadlines ------------------------------------------------------------------- */

void bk_timer(ho_broker *b, uint64_t now) {
  uint64_t ms = now;
  ho_ack_info infos[16];
  size_t n;
  do {
    n = 0;
    if (ho_ack_expire_overdue(b->tokens, ms, infos, 16, &n) != HO_OK) break;
    ho_broker_conn *stuck[16], *spent[16];
    size_t nstuck = 0, nspent = 0;
    for (size_t i = 0; i < n; i++) {
      ho_broker_conn *c = infos[i].user;
      ho_broker_conn *k = c->ctl;
      c->token_live = false; /* the exit revoked it */
      /* spec: ACK-6 ERR-59 — EXPIRED from the broker's own timer. */
      bk_fail(b, c, HO_BROKER_REASON_ACK_TIMEOUT, now, "no ACK before the deadline");
      /* spec: BROKER-1 — an offer still unwritten at its ACK deadline means
       * the backend stopped reading: drop the connection (ACK-10) and with
       * it every queued sideband, descriptor and offer. Only after this
       * batch: dropping it now would free clients later in infos[]. */
      if (k != NULL && k->write_pending && !k->dead) {
        k->dead = true;
        stuck[nstuck++] = k;
      } else if (k != NULL && !k->dead) {
        bool seen = false;
        for (size_t j = 0; j < nspent; j++) seen |= spent[j] == k;
        if (!seen) spent[nspent++] = k;
      }
    }
    /* spec: XFER-37 — a connection whose one offer expired takes no other. */
    for (size_t i = 0; i < nspent; i++)
      if (!spent[i]->dead) (void)bk_retire_if_done(b, spent[i], now);
    for (size_t i = 0; i < nstuck; i++) {
      ho_broker_conn *k = stuck[i];
      bk_log(b, HO_BROKER_LOG_WARN, "control=%llu not writable for a whole ACK deadline",
             (unsigned long long)k->id);
      bk_control_failed(b, k, HO_BROKER_REASON_CONTROL_CLOSED, now);
      bk_close(b, k, false);
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

uint64_t bk_next_deadline_ms(const ho_broker *b) {
  if (b->shutting_down) return 0;
  uint64_t best = 0, at;
  if (ho_token_next_deadline(b->tokens, &at)) best = at;
  if (ho_pending_queue_next_deadline(b->queue, &at) && (best == 0 || at < best))
    best = at;
  if (b->hhead && (best == 0 || bk_hello_due(b, b->hhead) < best)) best = bk_hello_due(b, b->hhead);
  /* spec: READY-33 READY-34 — ACKs read late are read within LATE_ACK_READ
   * of their offer (the shell reads them on its next turn), long before
   * their deadline: a busy broker turns anyway, an idle one once. The
   * oldest offer of each connection is at the head of its list. */
  for (const ho_broker_conn *k = b->khead; k; k = k->knext) {
    const ho_broker_conn *c = k->ohead;
    if (c == NULL || !k->carried_coalesced) continue;
    uint64_t due = c->negotiated_ms + BROKER_LATE_ACK_READ_MS;
    /* an ACK still missing at that turn: look again every LATE_ACK_READ
     * (its own deadline ends the attempt), never in a loop */
    if (due <= b->timer_fired) due = b->timer_fired + BROKER_LATE_ACK_READ_MS;
    if (best == 0 || due < best) best = due;
  }
  return best;
}
