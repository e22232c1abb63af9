/* handoff — broker core: the handoff by duplication (duplicate_handles, the
 * Windows transport, spec/handoff-sequence.md §3). The stages of the
 * original orchestration (running-process 4.5.5): DUPLICATE the client
 * handle into the backend, DELIVER the offer that names it, AWAIT the ACK,
 * ACKNOWLEDGE. The token, the ACK deadline (registered before the
 * duplicate), matching, fallback and retiring control connections are the
 * core's as on Unix; this file adds what a duplicate needs:
 *
 *   - the offer frame is built only once the duplicate exists, naming it in
 *     handle_value (spec: XFER-31);
 *   - from the last byte of that offer the backend owns the duplicate; an
 *     attempt that ends before closes it inside the backend
 *     (CLOSE_IN_TARGET, spec: XFER-33), never after, so no handle value is
 *     closed twice;
 *   - every end is counted by stage and every duplicate by fate (XFER-41).
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker_internal.h"

const char *ho_broker_stage_name(int stage) {
  static const char *const n[HO_BROKER_STAGE_COUNT] = {"none", "duplicate", "deliver",
                                                       "await_ack", "acknowledge"};
  return stage >= 0 && stage < HO_BROKER_STAGE_COUNT ? n[stage] : "unknown";
}

const char *ho_broker_dup_fate_name(int fate) {
  static const char *const n[HO_BROKER_DUP_FATE_COUNT] = {
      "none", "closed_in_target", "target_gone", "backend_owned", "close_failed"};
  return fate >= 0 && fate < HO_BROKER_DUP_FATE_COUNT ? n[fate] : "unknown";
}

static action_item *last_action(ho_broker *b) { return &b->q[(b->qhead + b->qlen - 1) % b->qcap]; }

static void count_fate(ho_broker *b, ho_broker_dup_fate f) { b->st.dup_fate[f]++; }

/* spec: XFER-33 — the duplicate `value` of attempt `corr` on `k` goes: its
 * offer was not completely written. */
static void close_in_target(ho_broker *b, ho_broker_conn *k, uint64_t corr, uint64_t value) {
  if (k == NULL || bk_push(b, HO_BACT_CLOSE_IN_TARGET, k, NULL, 0) != HO_OK) {
    count_fate(b, HO_BROKER_DUP_CLOSE_FAILED); /* spec: XFER-41 — a leak, never silent */
    bk_log(b, HO_BROKER_LOG_ERROR, "corr=%llu duplicate 0x%llx left in the backend: %s",
           (unsigned long long)corr, (unsigned long long)value,
           k == NULL ? "no control connection" : "out of memory");
    return;
  }
  action_item *it = last_action(b);
  it->a.correlation_id = corr;
  it->a.handle_value = value;
}

/* Called from send_offer instead of SEND_FD + WRITE: the ACK deadline is
 * registered, the offer deadline computed; the attempt is in flight on `k`
 * from now on (spec: XFER-37 counts it against the connection). */
void bk_dup_offer(ho_broker *b, ho_broker_conn *c, ho_broker_conn *k, uint64_t offer_deadline,
                  uint64_t now) {
  c->offer_deadline_unix_ms = offer_deadline;
  if (bk_push(b, HO_BACT_DUPLICATE, k, NULL, 0) != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "out of memory");
    return;
  }
  action_item *it = last_action(b);
  it->a.peer = c;
  it->a.peer_user = c->user;
  it->a.correlation_id = c->correlation_id;
  c->dup_state = DS_PENDING;
  b->st.dup_attempts++;
  bk_offered(c, k);
  bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu duplicate requested control=%llu corr=%llu",
         (unsigned long long)c->id, (unsigned long long)k->id,
         (unsigned long long)c->correlation_id);
}

/* The attempt of `c` ends (from bk_fail or the accepting ACK, before `c`
 * leaves its control connection): the stage, the duplicate's fate, and a
 * duplicate whose offer was not written is closed in the backend. */
void bk_dup_end(ho_broker *b, ho_broker_conn *c, bool completed, ho_broker_reason why) {
  ho_broker_stage stage;
  if (completed) stage = HO_BROKER_STAGE_NONE;
  else if (c->dup_state == DS_PENDING || c->dup_state == DS_FAILED)
    stage = HO_BROKER_STAGE_DUPLICATE;
  else if (c->dup_state == DS_MADE) stage = HO_BROKER_STAGE_DELIVER;
  else if (why == HO_BROKER_REASON_ACK_REFUSED || why == HO_BROKER_REASON_ACK_LATE ||
           why == HO_BROKER_REASON_ACK_TOKEN_MISMATCH || why == HO_BROKER_REASON_READY_VIOLATION ||
           why == HO_BROKER_REASON_DRAINING)
    stage = HO_BROKER_STAGE_ACKNOWLEDGE;
  else stage = HO_BROKER_STAGE_AWAIT_ACK;
  b->st.dup_ended_at[stage]++;
  /* spec: XFER-43 — the shutdown (DisconnectNamedPipe, which also discards
   * what the client has not read yet, Negotiated included) only while the
   * backend may still hold the duplicate: not for one never made, one
   * closed in the backend (XFER-33), or one the backend refused (it closes
   * what it refuses before its ACK, XFER-32 BACKEND-3). Closing the broker's
   * handle then ends the pipe for the client without losing a byte. */
  if (!completed && (c->dup_state != DS_WRITTEN || why == HO_BROKER_REASON_ACK_REFUSED ||
                     why == HO_BROKER_REASON_DRAINING))
    c->fd_sent = false;
  const char *fate = "pending"; /* DUPLICATE not reported yet: counted with the report */
  if (c->dup_state == DS_FAILED) {
    fate = "none";
  } else if (c->dup_state == DS_WRITTEN) {
    count_fate(b, HO_BROKER_DUP_BACKEND_OWNED); /* spec: XFER-32 XFER-33 */
    fate = "backend_owned";
  } else if (c->dup_state == DS_MADE) {
    close_in_target(b, c->ctl, c->correlation_id, c->dup_value); /* spec: XFER-33 */
    fate = "closing";
  }
  /* spec: XFER-41 — the stage and the duplicate of every end. */
  bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu corr=%llu stages outcome=%s stage=%s dup=%s value=0x%llx",
         (unsigned long long)c->id, (unsigned long long)c->correlation_id,
         completed ? "COMPLETED" : ho_broker_reason_spec_name(why), ho_broker_stage_name(stage),
         fate, (unsigned long long)c->dup_value);
  c->dup_state = DS_NONE;
}

/* An ACK for `c`: its offer was read whole (the backend owns the
 * duplicate). An ACK for an offer not yet sent is a lie: `k` is dropped.
 * spec: XFER-45 ACK-8 */
bool bk_dup_acked(ho_broker *b, ho_broker_conn *k, ho_broker_conn *c, uint64_t now) {
  if (c->dup_state == DS_MADE) c->dup_state = DS_WRITTEN;
  if (c->dup_state != DS_PENDING) return true;
  bk_log(b, HO_BROKER_LOG_WARN,
         "control=%llu ACK for corr=%llu before its offer was sent: dropping the connection",
         (unsigned long long)k->id, (unsigned long long)c->correlation_id);
  bk_drop_control(b, k, HO_BROKER_REASON_ACK_CORRELATION, now);
  return false;
}

void bk_dup_flushed(ho_broker_conn *k) {
  for (ho_broker_conn *c = k->ohead; c; c = c->onext)
    if (c->dup_state == DS_MADE) c->dup_state = DS_WRITTEN;
}

/* The offer naming the duplicate: as send_offer builds it, with
 * handle_value and the offer deadline computed there. spec: XFER-31 XFER-45 ENV-9 */
static int dup_offer_frame(const ho_broker *b, const ho_broker_conn *c, uint8_t *buf, size_t cap,
                           size_t *len) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.offer.handle_value = c->dup_value;
  memcpy(m.offer.token, c->token, HO_TOKEN_BYTES);
  snprintf(m.offer.service_name, sizeof m.offer.service_name, "%s", b->service);
  m.offer.correlation_id = c->correlation_id;
  if (c->ready_mode) m.offer.offer_flags = HO_OFFER_FLAG_BACKEND_READY;
  return bk_encode_offer(&m.offer, c->offer_deadline_unix_ms, buf, cap, len);
}

int ho_broker_handle_duplicated(ho_broker *b, ho_broker_conn *k, uint64_t correlation_id, int rc,
                                uint64_t value, uint64_t now) {
  if (b == NULL || k == NULL || !k->control) return HO_ERR_INVALID_ARGUMENT;
  if (rc == HO_OK && value == 0) rc = HO_ERR_IO; /* a broken duplicator */
  ho_broker_conn *c = bk_find_corr(k, correlation_id);
  if (c != NULL && c->dup_state != DS_PENDING) return HO_ERR_STATE; /* reported twice */
  if (c == NULL) {
    /* The attempt ended while the duplicate was being made. */
    if (rc == HO_OK) close_in_target(b, k, correlation_id, value);
    else count_fate(b, HO_BROKER_DUP_NONE);
    bk_rearm(b);
    return HO_OK;
  }
  if (rc != HO_OK) {
    /* spec: FALLBACK-17 ERR-61 — nothing was made in the backend. */
    ho_broker_reason why = rc == HO_ERR_PERMISSION      ? HO_BROKER_REASON_PERMISSION
                           : rc == HO_ERR_FD_EXHAUSTED ? HO_BROKER_REASON_TRANSFER_FD_EXHAUSTED
                                                       : HO_BROKER_REASON_CONTROL_CLOSED;
    count_fate(b, HO_BROKER_DUP_NONE);
    c->dup_state = DS_FAILED;
    c->fd_sent = false;
    bk_fail(b, c, why, now, ho_errname(rc) ? ho_errname(rc) : "duplicate failed");
    if (!k->dead) (void)bk_retire_if_done(b, k, now); /* spec: XFER-37 — its one offer is spent */
    bk_rearm(b);
    return HO_OK;
  }
  c->dup_state = DS_MADE;
  c->dup_value = value;
  c->fd_sent = true; /* the backend may use it from the offer on */
  uint8_t buf[512];
  size_t len = 0;
  if (dup_offer_frame(b, c, buf, sizeof buf, &len) != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "cannot encode offer");
  } else if (bk_write(b, k, buf, len) != HO_OK) {
    bk_fail(b, c, HO_BROKER_REASON_CONTROL_CLOSED, now, "out of memory");
  } else {
    action_item *it = last_action(b);
    it->a.correlation_id = c->correlation_id;
    it->a.handle_value = value;
    bk_log(b, HO_BROKER_LOG_DEBUG,
           "conn=%llu offer sent control=%llu corr=%llu flags=0x%llx handle_value=0x%llx",
           (unsigned long long)c->id, (unsigned long long)k->id,
           (unsigned long long)c->correlation_id,
           (unsigned long long)(c->ready_mode ? HO_OFFER_FLAG_BACKEND_READY : 0),
           (unsigned long long)value);
  }
  bk_rearm(b);
  return HO_OK;
}

int ho_broker_closed_in_target(ho_broker *b, uint64_t correlation_id, int rc, uint64_t now) {
  (void)now;
  if (b == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_broker_dup_fate f = rc == HO_OK           ? HO_BROKER_DUP_CLOSED_IN_TARGET
                         : rc == HO_ERR_CLOSED ? HO_BROKER_DUP_TARGET_GONE
                                               : HO_BROKER_DUP_CLOSE_FAILED;
  count_fate(b, f);
  /* spec: XFER-41 — a close that failed is a leak, logged as one. */
  bk_log(b, f == HO_BROKER_DUP_CLOSE_FAILED ? HO_BROKER_LOG_ERROR : HO_BROKER_LOG_INFO,
         "corr=%llu duplicate closed in backend: result=%s dup=%s", (unsigned long long)correlation_id,
         ho_errname(rc) ? ho_errname(rc) : "?", ho_broker_dup_fate_name(f));
  return HO_OK;
}
