/* handoff — fallback decision, failed-attempt rate limit, pending queue
 * (spec/fallback.md). Sans-I/O: every time input is a millisecond reading
 * of one monotonic clock (`now_ms`).
 *
 * NOT YET STABLE API: a building block of the reference cores, exported for
 * the conformance runner, the fuzz targets and the benchmarks; it may change
 * in any release before the ABI freeze (issue #15). Applications use
 * broker.h, backend.h and client.h.
 *
 * Fallback is never a client error: every reason below ends with the client
 * reconnecting to backend_pipe. The reasons only name WHY, for logs,
 * metrics and `handoff-client --json`; none of them is on the wire.
 *
 * The broker asks ho_fallback_decide() at Hello time, before it issues a
 * token; the checks run in a fixed order and the first that applies wins.
 * Failures after that point (transfer, ACK) are mapped to a reason with
 * ho_fallback_reason_from_err() and recorded with
 * ho_fallback_record_failure(); a completed handoff calls
 * ho_fallback_record_success().
 */
#ifndef HANDOFF_FALLBACK_H
#define HANDOFF_FALLBACK_H

#include "handoff/version.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/token.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reasons -------------------------------------------------------------
 * 1..8 are the original v1 reasons (HandoffFallbackReason); 9.. are added by
 * this implementation. Values are stable; names are what
 * ho_fallback_reason_name() returns. */
typedef enum ho_fallback_reason {
  HO_FALLBACK_NONE = 0,                    /* "NONE": attempt the handoff */
  HO_FALLBACK_CLIENT_UNSUPPORTED = 1,      /* Hello lacks CAP_HANDLE_PASSING */
  HO_FALLBACK_SERVICE_POLICY_DISABLED = 2, /* service policy off, or platform unsupported */
  HO_FALLBACK_FD_PRESSURE = 3,             /* descriptor pressure */
  HO_FALLBACK_RATE_LIMITED = 4,            /* failed-attempt budget of the backend spent */
  HO_FALLBACK_PERMISSION_DENIED = 5,       /* transfer refused by the OS */
  HO_FALLBACK_INTEGRITY_MISMATCH = 6,      /* backend identity check failed */
  HO_FALLBACK_BACKEND_ACK_TIMEOUT = 7,     /* delivery, ACK, late ACK, expiry failures */
  HO_FALLBACK_ADOPTED_BACKEND = 8,         /* backend adopted after a broker restart */
  HO_FALLBACK_NO_ENDPOINT = 9,             /* no backend handoff endpoint configured */
  HO_FALLBACK_QUEUE_FULL = 10,             /* pending queue overflow (original: FD_PRESSURE) */
  HO_FALLBACK_QUEUE_TIMEOUT = 11,          /* waited in the pending queue past its TTL */
  HO_FALLBACK_TOKEN_UNAVAILABLE = 12,      /* token issue failed: limit, collisions, random */
  HO_FALLBACK_BACKEND_REFUSED = 13,        /* explicit refusal ACK (accepted = false) */
  HO_FALLBACK_EARLY_DATA_UNSUPPORTED = 14, /* early-data Hello, backend-ready mode unavailable */
  HO_FALLBACK_BACKEND_READY_VIOLATION = 15, /* ACK-16: accepted without the declaration */
  HO_FALLBACK_BACKEND_DRAINING = 16         /* refused with DRAINING (BACKEND-14) */
} ho_fallback_reason;

#define HO_FALLBACK_REASON_COUNT 17

/* "CLIENT_UNSUPPORTED", ... ("NONE" for 0); NULL for an unknown value. */
HO_API const char *ho_fallback_reason_name(int reason);

/* The reason whose name is `name`, or -1. */
HO_API int ho_fallback_reason_from_name(const char *name);

/* The reason for a failed attempt given the library error it failed with:
 *   HO_ERR_PERMISSION, HO_ERR_PEER_CREDENTIALS        → PERMISSION_DENIED
 *   HO_ERR_FD_EXHAUSTED                                → FD_PRESSURE
 *   HO_ERR_UNSUPPORTED_PLATFORM                        → SERVICE_POLICY_DISABLED
 *   HO_ERR_QUEUE_FULL                                  → QUEUE_FULL
 *   HO_ERR_RATE_LIMITED                                → RATE_LIMITED
 *   HO_ERR_RANDOM, PENDING_LIMIT, COLLISION_EXHAUSTED  → TOKEN_UNAVAILABLE
 *   HO_ERR_ACK_REFUSED                                 → BACKEND_REFUSED
 *   HO_OK                                              → NONE
 *   anything else (I/O, WOULD_BLOCK, CLOSED, TIMEOUT, PARTIAL_SEND, ACK
 *   deadline/mismatch/not-pending, malformed ACK...)   → BACKEND_ACK_TIMEOUT */
HO_API ho_fallback_reason ho_fallback_reason_from_err(int err);

/* The reason for an ACK-registry exit: COMPLETED → NONE, ABANDONED → the
 * caller knows better (BACKEND_ACK_TIMEOUT), every other exit →
 * BACKEND_ACK_TIMEOUT. */
HO_API ho_fallback_reason ho_fallback_reason_from_ack_exit(int exit);

/* ---- policy and failed-attempt rate limit ------------------------------ */

#define HO_FALLBACK_DEFAULT_FAILURES 8u       /* failures per window per backend */
#define HO_FALLBACK_DEFAULT_WINDOW_MS 30000u  /* fixed window */
#define HO_FALLBACK_DEFAULT_MAX_BACKENDS 256u /* rate-limit table size */

typedef struct ho_fallback_config {
  uint32_t failures_per_window; /* 0 → 1 */
  uint64_t window_ms;           /* 0 → 1 */
  uint32_t max_backends;        /* 0 → 1; backends tracked at once */
  const ho_allocator *allocator;
} ho_fallback_config;

HO_API void ho_fallback_config_init(ho_fallback_config *cfg);

typedef struct ho_fallback_policy ho_fallback_policy; /* opaque */

/* Codes: HO_OK, HO_ERR_INVALID_ARGUMENT (out NULL, max_backends > 2^20),
 * HO_ERR_NOMEM. *out untouched on failure. cfg NULL → defaults. */
HO_API int ho_fallback_policy_new(ho_fallback_policy **out, const ho_fallback_config *cfg);
HO_API void ho_fallback_policy_del(ho_fallback_policy *p);

/* Everything the decision looks at, filled by the broker per Hello. */
typedef struct ho_fallback_input {
  uint64_t client_capabilities; /* Hello.client_capabilities */
  uint64_t backend;             /* backend key for the rate limit */
  bool endpoint_configured;     /* a backend handoff endpoint is configured */
  bool service_enabled;         /* service policy allows handoff (and platform) */
  bool fd_pressure;             /* the broker is short of descriptors */
  bool adopted_backend;         /* the backend was adopted after a restart */
  bool backend_ready;           /* backend-ready mode is available for this backend */
} ho_fallback_input;

/* Decide whether to attempt a handoff. Checks, in this fixed order:
 *   1 CLIENT_UNSUPPORTED      !(client_capabilities & HO_CAP_HANDLE_PASSING)
 *   2 NO_ENDPOINT             !endpoint_configured
 *   3 SERVICE_POLICY_DISABLED !service_enabled
 *   4 FD_PRESSURE             fd_pressure
 *   5 ADOPTED_BACKEND         adopted_backend
 *   6 EARLY_DATA_UNSUPPORTED  client set HO_CAP_EARLY_DATA and !backend_ready
 *   7 RATE_LIMITED            the backend's failures in its window >= max
 *                             (*retry_after_ms = window - elapsed, if not NULL)
 *   → NONE                    attempt (then: pending queue, token issue)
 * Pure apart from forgetting windows that have elapsed. p NULL or in NULL
 * → SERVICE_POLICY_DISABLED (fail safe). */
HO_API ho_fallback_reason ho_fallback_decide(ho_fallback_policy *p, const ho_fallback_input *in,
                                      uint64_t now_ms, uint64_t *retry_after_ms);

/* A handoff attempt to `backend` failed. Fixed window: starts at the first
 * failure, resets once now - start >= window; the count saturates at the
 * maximum. Codes: HO_OK; HO_ERR_PENDING_LIMIT when max_backends backends
 * are already tracked with live windows (not recorded; ho_fallback_decide
 * then answers RATE_LIMITED for untracked backends until a window ends:
 * fail safe); HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_fallback_record_failure(ho_fallback_policy *p, uint64_t backend, uint64_t now_ms);

/* A handoff to `backend` completed: its failure record is cleared. */
HO_API void ho_fallback_record_success(ho_fallback_policy *p, uint64_t backend);

/* Failures currently counted for `backend` (0 if none or window elapsed). */
HO_API uint32_t ho_fallback_failures(const ho_fallback_policy *p, uint64_t backend, uint64_t now_ms);

/* ---- pending queue -------------------------------------------------------
 * A bounded FIFO of handoffs waiting for their turn (e.g. a backend's
 * in-flight limit). Every entry leaves exactly once: popped (ready or
 * expired), expired by ho_pending_queue_expire(), or removed by its ticket.
 * Nothing is ever evicted to make room: a full queue refuses (QUEUE_FULL). */

#define HO_PENDING_DEFAULT_CAPACITY 64u
#define HO_PENDING_DEFAULT_TTL_MS 100u

typedef struct ho_pending_config {
  uint32_t capacity; /* 0 → 1; at most 2^24 */
  uint64_t ttl_ms;   /* 0 → 1 */
  const ho_allocator *allocator;
} ho_pending_config;

HO_API void ho_pending_config_init(ho_pending_config *cfg);

typedef struct ho_pending_queue ho_pending_queue; /* opaque */

/* Codes: HO_OK, HO_ERR_INVALID_ARGUMENT, HO_ERR_NOMEM. *out untouched on
 * failure. cfg NULL → defaults. */
HO_API int ho_pending_queue_new(ho_pending_queue **out, const ho_pending_config *cfg);
HO_API void ho_pending_queue_del(ho_pending_queue *q);

/* Append `item` (expires at now + ttl). *ticket (if not NULL) identifies it
 * for ho_pending_queue_remove(). Expired entries still count until they are
 * popped or expired: an event loop expires them at
 * ho_pending_queue_next_deadline(). Codes: HO_OK, HO_ERR_QUEUE_FULL
 * (nothing changes), HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_pending_queue_push(ho_pending_queue *q, void *item, uint64_t now_ms, uint64_t *ticket);

/* Take the oldest entry. Returns HO_PENDING_READY (1) with *item set when it
 * has not expired, HO_PENDING_EXPIRED (2) with *item set when it has
 * (now >= enqueued + ttl: the caller falls back for it, reason
 * QUEUE_TIMEOUT), 0 when the queue is empty (*item untouched), or
 * HO_ERR_INVALID_ARGUMENT. */
enum { HO_PENDING_READY = 1, HO_PENDING_EXPIRED = 2 };
HO_API int ho_pending_queue_pop(ho_pending_queue *q, uint64_t now_ms, void **item);

/* The oldest entry without taking it: same results as ho_pending_queue_pop()
 * but the queue is unchanged. */
HO_API int ho_pending_queue_peek(const ho_pending_queue *q, uint64_t now_ms, void **item);

/* Remove every expired entry, oldest first, into out[0..*n), at most `cap`
 * per call (call again while *n == cap). Codes: HO_OK,
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_pending_queue_expire(ho_pending_queue *q, uint64_t now_ms, void **out, size_t cap,
                            size_t *n);

/* Remove the entry with this ticket (e.g. its client disconnected). Returns
 * 1 and sets *item (if not NULL) when it was queued, 0 when it was not (already
 * left), HO_ERR_INVALID_ARGUMENT. O(1). */
HO_API int ho_pending_queue_remove(ho_pending_queue *q, uint64_t ticket, void **item);

HO_API size_t ho_pending_queue_len(const ho_pending_queue *q);

/* Expiry of the oldest entry: 1 and *at_ms set, or 0 when empty. O(1). */
HO_API int ho_pending_queue_next_deadline(const ho_pending_queue *q, uint64_t *at_ms);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_FALLBACK_H */
