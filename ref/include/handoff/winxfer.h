/* handoff — the staged Windows handoff, sans-I/O (spec/handoff-sequence.md
 * §3: XFER-30..XFER-33, XFER-38..XFER-43; fallback.md FALLBACK-17).
 *
 * One ho_wx attempt follows the stages of the original orchestration
 * (running-process 4.5.5, seed/): DUPLICATE the client pipe into the
 * verified backend, DELIVER the offer that names the duplicate, AWAIT_ACK,
 * ACKNOWLEDGE. Events go in (the shell's or the broker core's results),
 * actions come out (what to do now), and when the attempt ends its outcome
 * says at which stage and why, and what became of the duplicate:
 *
 *   never made            (failed at DUPLICATE)
 *   closed in the target  (offer not completely written: XFER-33 — the
 *                          original leaked it here)
 *   target gone           (the backend exited: its handle table went with it)
 *   owned by the backend  (offer completely written: adopted, or closed by
 *                          the backend when it refuses, XFER-32; the broker
 *                          never closes it, so no value is closed twice)
 *   close failed          (counted as a leak: never silent)
 *
 * The one-time token: exactly one HO_WX_ACT_CONSUME_TOKEN on success, exactly
 * one HO_WX_ACT_REVOKE_TOKEN on every other end, never both.
 *
 * Portable C (no Windows header): the broker core can own one ho_wx per
 * attempt and forward its actions (see the report of issue #14 for the core
 * API this needs: a DUPLICATE action and ho_broker_handle_duplicated()).
 * Times are milliseconds of any monotonic clock.
 */
#ifndef HANDOFF_WINXFER_H
#define HANDOFF_WINXFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ho_wx_stage {
  HO_WX_STAGE_NONE = 0,
  HO_WX_STAGE_DUPLICATE = 1,   /* DuplicateHandle into the backend */
  HO_WX_STAGE_DELIVER = 2,     /* writing the offer that names it */
  HO_WX_STAGE_AWAIT_ACK = 3,   /* offer written, no ACK yet */
  HO_WX_STAGE_ACKNOWLEDGE = 4  /* an ACK came: refused, mismatched, late */
} ho_wx_stage;

/* Why an attempt ended (the spec's fallback reasons, fallback.md §1). */
typedef enum ho_wx_reason {
  HO_WX_COMPLETED = 0,
  HO_WX_PERMISSION_DENIED,   /* PERMISSION_DENIED: OpenProcess/DuplicateHandle denied */
  HO_WX_BACKEND_ACK_TIMEOUT, /* BACKEND_ACK_TIMEOUT: dup/deliver failure, no ACK, control lost,
                                token echo mismatch, late ACK */
  HO_WX_BACKEND_REFUSED,     /* BACKEND_REFUSED */
  HO_WX_CLIENT_GONE,         /* the client closed (no fallback, not counted) */
  HO_WX_SHUTDOWN,            /* the broker stops */
  HO_WX_REASON_COUNT_
} ho_wx_reason;

typedef enum ho_wx_dup_fate {
  HO_WX_DUP_NONE = 0,        /* never made */
  HO_WX_DUP_CLOSED_IN_TARGET,
  HO_WX_DUP_TARGET_GONE,
  HO_WX_DUP_BACKEND_OWNED,
  HO_WX_DUP_CLOSE_FAILED,    /* a leak, counted */
  HO_WX_DUP_CLOSING          /* internal: close requested, result pending */
} ho_wx_dup_fate;

typedef enum ho_wx_action_type {
  HO_WX_ACT_DUPLICATE = 1,      /* duplicate the client pipe into the backend;
                                   report ho_wx_duplicated() */
  HO_WX_ACT_WRITE_OFFER = 2,    /* write the offer with handle_value = value;
                                   report ho_wx_offer_written() */
  HO_WX_ACT_CLOSE_IN_TARGET = 3, /* ho_win_close_in(value) (XFER-33); report
                                   ho_wx_closed_in_target() */
  HO_WX_ACT_CONSUME_TOKEN = 4,  /* the token is used up (success) */
  HO_WX_ACT_REVOKE_TOKEN = 5,   /* the token is revoked (every other end) */
  HO_WX_ACT_END = 6             /* the attempt has ended: ho_wx_outcome() */
} ho_wx_action_type;

typedef struct ho_wx_action {
  ho_wx_action_type type;
  uint64_t correlation_id;
  uint64_t value; /* WRITE_OFFER, CLOSE_IN_TARGET: the duplicate's value */
} ho_wx_action;

typedef struct ho_wx_outcome {
  bool ended;
  ho_wx_reason reason;
  ho_wx_stage stage;       /* where it ended (NONE on success) */
  int err;                 /* the error behind it (HO_OK on success) */
  ho_wx_dup_fate dup;      /* what became of the duplicate */
  uint64_t value;          /* the duplicate's value (0: none) */
} ho_wx_outcome;

/* Counters over many attempts (a shell or the core keeps one). */
typedef struct ho_wx_counters {
  uint64_t started, completed;
  uint64_t abandoned[5];              /* by ho_wx_stage (index 0 unused) */
  uint64_t by_reason[HO_WX_REASON_COUNT_];
  uint64_t closed_in_target, target_gone, backend_owned, close_failed;
} ho_wx_counters;

enum { HO_WX_MAX_ACTIONS = 6 };

typedef struct ho_wx {
  int state;               /* internal */
  uint64_t correlation_id;
  uint64_t deadline_ms;    /* ACK deadline */
  ho_wx_outcome out;
  bool token_done;         /* internal: exactly one CONSUME or REVOKE */
  ho_wx_counters *counters; /* may be NULL */
  ho_wx_action q[HO_WX_MAX_ACTIONS];
  size_t qhead, qlen;
} ho_wx;

/* Start an attempt: the token was issued, Negotiated written, the control
 * connection is up. Queues DUPLICATE. Returns HO_OK or
 * HO_ERR_INVALID_ARGUMENT (NULL x, correlation_id 0). */
int ho_wx_start(ho_wx *x, uint64_t correlation_id, uint64_t ack_deadline_ms,
                ho_wx_counters *counters);

/* Take the next action: 1 (filled) or 0 (none). */
int ho_wx_next(ho_wx *x, ho_wx_action *out);

/* Results of the actions. Each returns HO_OK, or HO_ERR_STATE when the
 * event does not fit the attempt's stage (nothing changes; an attempt that
 * has ended ignores everything with HO_ERR_STATE). */
/* DUPLICATE done: rc HO_OK with the value, or the error (PERMISSION →
 * PERMISSION_DENIED; anything else → BACKEND_ACK_TIMEOUT). A value of 0 or a
 * pseudo-handle with rc HO_OK is a broken duplicator: treated as IO. A
 * duplicate reported after the attempt has ended (HO_ERR_STATE) is the
 * caller's to close in the target (ho_win_close_in): nothing names it. */
int ho_wx_duplicated(ho_wx *x, int rc, uint64_t value);
/* The offer frame: rc HO_OK once its last byte is written (the backend is
 * responsible for the duplicate from here, XFER-33); any error before that
 * (CLOSED, IO, TIMEOUT ...) queues CLOSE_IN_TARGET. */
int ho_wx_offer_written(ho_wx *x, int rc);
/* CLOSE_IN_TARGET done: HO_OK closed; HO_ERR_CLOSED the target exited;
 * anything else: the close failed (a leak, counted). */
int ho_wx_closed_in_target(ho_wx *x, int rc);
/* An ACK for this attempt, already matched by correlation id: accepted,
 * whether the token echo matched, and `now_ms`. Completed only when
 * accepted, echo equal and now < deadline. */
int ho_wx_ack(ho_wx *x, bool accepted, bool token_echo_ok, uint64_t now_ms);
/* Time passed: at or after the deadline while awaiting the ACK, the attempt
 * ends (EXPIRED: the duplicate stays the backend's). */
int ho_wx_timer(ho_wx *x, uint64_t now_ms);
/* The control connection ended (EOF, error) with this attempt on it. */
int ho_wx_control_lost(ho_wx *x, int err);
/* The client closed (before the end) or the broker stops. */
int ho_wx_client_gone(ho_wx *x);
int ho_wx_shutdown(ho_wx *x);

/* The outcome (ended false while running). */
const ho_wx_outcome *ho_wx_outcome_of(const ho_wx *x);

const char *ho_wx_stage_name(ho_wx_stage s);   /* "duplicate", ... */
const char *ho_wx_reason_name(ho_wx_reason r); /* "BACKEND_ACK_TIMEOUT", ... */
const char *ho_wx_dup_fate_name(ho_wx_dup_fate f); /* "closed_in_target", ... */

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_WINXFER_H */
