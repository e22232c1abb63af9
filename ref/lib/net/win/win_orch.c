/* handoff — the staged Windows handoff, sans-I/O (handoff/winxfer.h).
 * spec: XFER-31 XFER-32 XFER-33 XFER-41 FALLBACK-17 TOKEN-7 */
#include <string.h>

#include "handoff/winxfer.h"

enum { S_IDLE = 0, S_DUPLICATING, S_DELIVERING, S_AWAIT_ACK, S_CLOSING, S_ENDED };

static void push(ho_wx *x, ho_wx_action_type t, uint64_t value) {
  if (x->qlen == HO_WX_MAX_ACTIONS) return; /* never reached: at most 4 per event */
  ho_wx_action *a = &x->q[x->qlen++];
  a->type = t;
  a->correlation_id = x->correlation_id;
  a->value = value;
}

int ho_wx_next(ho_wx *x, ho_wx_action *out) {
  if (x == NULL || out == NULL || x->qhead == x->qlen) return 0;
  *out = x->q[x->qhead++];
  if (x->qhead == x->qlen) x->qhead = x->qlen = 0;
  return 1;
}

int ho_wx_start(ho_wx *x, uint64_t correlation_id, uint64_t ack_deadline_ms,
                ho_wx_counters *counters) {
  if (x == NULL || correlation_id == 0) return HO_ERR_INVALID_ARGUMENT;
  memset(x, 0, sizeof *x);
  x->correlation_id = correlation_id;
  x->deadline_ms = ack_deadline_ms;
  x->counters = counters;
  x->state = S_DUPLICATING;
  if (counters != NULL) counters->started++;
  push(x, HO_WX_ACT_DUPLICATE, 0);
  return HO_OK;
}

/* The token, exactly once (spec: TOKEN-7). */
static void token_end(ho_wx *x, bool consume) {
  if (x->token_done) return;
  x->token_done = true;
  push(x, consume ? HO_WX_ACT_CONSUME_TOKEN : HO_WX_ACT_REVOKE_TOKEN, 0);
}

static void count_fate(ho_wx *x) {
  ho_wx_counters *c = x->counters;
  if (c == NULL) return;
  switch (x->out.dup) {
  case HO_WX_DUP_CLOSED_IN_TARGET: c->closed_in_target++; break;
  case HO_WX_DUP_TARGET_GONE: c->target_gone++; break;
  case HO_WX_DUP_BACKEND_OWNED: c->backend_owned++; break;
  case HO_WX_DUP_CLOSE_FAILED: c->close_failed++; break;
  default: break;
  }
}

static void end(ho_wx *x) {
  x->state = S_ENDED;
  x->out.ended = true;
  if (x->counters != NULL) {
    if (x->out.reason == HO_WX_COMPLETED) x->counters->completed++;
    else x->counters->abandoned[x->out.stage]++;
    x->counters->by_reason[x->out.reason]++;
  }
  count_fate(x);
  push(x, HO_WX_ACT_END, x->out.value);
}

/* Abandon at `stage`: the token is revoked at once (a late ACK can no longer
 * complete anything); a duplicate whose offer was not completely written is
 * closed in the target first (spec: XFER-33), the end follows its result. */
static void abandon(ho_wx *x, ho_wx_stage stage, ho_wx_reason why, int err) {
  x->out.stage = stage;
  x->out.reason = why;
  x->out.err = err;
  token_end(x, false);
  if (x->state == S_DELIVERING && x->out.value != 0) {
    x->out.dup = HO_WX_DUP_CLOSING;
    x->state = S_CLOSING;
    push(x, HO_WX_ACT_CLOSE_IN_TARGET, x->out.value);
    return;
  }
  if (x->state == S_AWAIT_ACK) x->out.dup = HO_WX_DUP_BACKEND_OWNED; /* spec: XFER-32 XFER-33 */
  end(x);
}

static bool bad_value(uint64_t v) { return v == 0 || v >= (uint64_t)-12 || v > 0xFFFFFFFFull; }

int ho_wx_duplicated(ho_wx *x, int rc, uint64_t value) {
  if (x == NULL || x->state != S_DUPLICATING) return HO_ERR_STATE;
  if (rc == HO_OK && bad_value(value)) rc = HO_ERR_IO;
  if (rc != HO_OK) {
    /* spec: FALLBACK-17 — a permission error is PERMISSION_DENIED, every
     * other transfer failure BACKEND_ACK_TIMEOUT. Nothing was made. */
    abandon(x, HO_WX_STAGE_DUPLICATE,
            rc == HO_ERR_PERMISSION ? HO_WX_PERMISSION_DENIED : HO_WX_BACKEND_ACK_TIMEOUT, rc);
    return HO_OK;
  }
  x->out.value = value;
  x->state = S_DELIVERING;
  push(x, HO_WX_ACT_WRITE_OFFER, value);
  return HO_OK;
}

int ho_wx_offer_written(ho_wx *x, int rc) {
  if (x == NULL || x->state != S_DELIVERING) return HO_ERR_STATE;
  if (rc != HO_OK) {
    abandon(x, HO_WX_STAGE_DELIVER, HO_WX_BACKEND_ACK_TIMEOUT, rc);
    return HO_OK;
  }
  /* spec: XFER-33 — from the last byte of the offer the duplicate is the
   * backend's. */
  x->state = S_AWAIT_ACK;
  return HO_OK;
}

int ho_wx_closed_in_target(ho_wx *x, int rc) {
  if (x == NULL || x->state != S_CLOSING) return HO_ERR_STATE;
  x->out.dup = rc == HO_OK           ? HO_WX_DUP_CLOSED_IN_TARGET
               : rc == HO_ERR_CLOSED ? HO_WX_DUP_TARGET_GONE
                                     : HO_WX_DUP_CLOSE_FAILED;
  end(x);
  return HO_OK;
}

int ho_wx_ack(ho_wx *x, bool accepted, bool token_echo_ok, uint64_t now_ms) {
  if (x == NULL || x->state != S_AWAIT_ACK) return HO_ERR_STATE;
  if (!token_echo_ok) {
    abandon(x, HO_WX_STAGE_ACKNOWLEDGE, HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_ACK_TOKEN_MISMATCH);
  } else if (!accepted) {
    abandon(x, HO_WX_STAGE_ACKNOWLEDGE, HO_WX_BACKEND_REFUSED, HO_ERR_ACK_REFUSED);
  } else if (now_ms >= x->deadline_ms) {
    abandon(x, HO_WX_STAGE_ACKNOWLEDGE, HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_ACK_DEADLINE_EXCEEDED);
  } else {
    x->out.reason = HO_WX_COMPLETED;
    x->out.stage = HO_WX_STAGE_NONE;
    x->out.err = HO_OK;
    x->out.dup = HO_WX_DUP_BACKEND_OWNED;
    token_end(x, true);
    end(x);
  }
  return HO_OK;
}

int ho_wx_timer(ho_wx *x, uint64_t now_ms) {
  if (x == NULL || x->state == S_ENDED) return HO_ERR_STATE;
  if (x->state == S_AWAIT_ACK && now_ms >= x->deadline_ms)
    abandon(x, HO_WX_STAGE_AWAIT_ACK, HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_TIMEOUT);
  else if ((x->state == S_DUPLICATING || x->state == S_DELIVERING) && now_ms >= x->deadline_ms)
    abandon(x, x->state == S_DUPLICATING ? HO_WX_STAGE_DUPLICATE : HO_WX_STAGE_DELIVER,
            HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_TIMEOUT);
  return HO_OK;
}

static ho_wx_stage stage_now(const ho_wx *x) {
  switch (x->state) {
  case S_DUPLICATING: return HO_WX_STAGE_DUPLICATE;
  case S_DELIVERING: return HO_WX_STAGE_DELIVER;
  default: return HO_WX_STAGE_AWAIT_ACK;
  }
}

int ho_wx_control_lost(ho_wx *x, int err) {
  if (x == NULL || x->state == S_ENDED || x->state == S_CLOSING) return HO_ERR_STATE;
  abandon(x, stage_now(x), HO_WX_BACKEND_ACK_TIMEOUT, err != HO_OK ? err : HO_ERR_CLOSED);
  return HO_OK;
}

static int end_without_fallback(ho_wx *x, ho_wx_reason why, int err) {
  if (x == NULL || x->state == S_ENDED || x->state == S_CLOSING) return HO_ERR_STATE;
  abandon(x, stage_now(x), why, err);
  return HO_OK;
}

int ho_wx_client_gone(ho_wx *x) { return end_without_fallback(x, HO_WX_CLIENT_GONE, HO_ERR_CLOSED); }
int ho_wx_shutdown(ho_wx *x) { return end_without_fallback(x, HO_WX_SHUTDOWN, HO_ERR_STATE); }

const ho_wx_outcome *ho_wx_outcome_of(const ho_wx *x) { return x != NULL ? &x->out : NULL; }

const char *ho_wx_stage_name(ho_wx_stage s) {
  static const char *const n[] = {"none", "duplicate", "deliver", "await_ack", "acknowledge"};
  return (unsigned)s < 5 ? n[s] : "unknown";
}

const char *ho_wx_reason_name(ho_wx_reason r) {
  static const char *const n[] = {"COMPLETED",  "PERMISSION_DENIED", "BACKEND_ACK_TIMEOUT",
                                  "BACKEND_REFUSED", "CLIENT_GONE", "SHUTDOWN"};
  return (unsigned)r < HO_WX_REASON_COUNT_ ? n[r] : "unknown";
}

const char *ho_wx_dup_fate_name(ho_wx_dup_fate f) {
  static const char *const n[] = {"none", "closed_in_target", "target_gone", "backend_owned",
                                  "close_failed", "closing"};
  return (unsigned)f < 6 ? n[f] : "unknown";
}
