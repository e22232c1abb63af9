/* handoff — the one list of fallback reasons (spec/fallback.md §2).
 *
 * Every name a fallback is known by — the core's ho_fallback_reason, the
 * broker's spec name in logs and counters (broker.h), the client's
 * r.fallback_reason and `handoff-client --json` "reason" (client.h) — is
 * generated from the list below. Reasons are not on the wire.
 *
 * HO_FALLBACK_REASON_LIST(X): X(NAME, value, spec, counts, client)
 *   NAME    the spec's reason name (ho_fallback_reason_name); enumerator
 *           HO_FALLBACK_<NAME>
 *   value   stable: 1..8 are the original v1's HandoffFallbackReason,
 *           9..16 this spec's splits and extensions, 17.. ends of an
 *           attempt that are no fallback (the broker's counters need them)
 *   spec    the requirement that produces the reason
 *   counts  1: an attempt that ends with it counts as a failure of its
 *           backend for the failed-attempt rate limit (spec: FALLBACK-25)
 *   client  1: the client observes this reason itself and reports it under
 *           the same name; 0: the client cannot see why (it sees a
 *           Negotiated without token, EOF or a ready timeout) and reports
 *           what it saw instead (HO_CLIENT_REASON_LIST, error names)
 *
 * HO_CLIENT_REASON_LIST(X): X(NAME, value, spec) — what a client reports
 * when it cannot see the broker's reason. Values start at 64, outside the
 * list above, so one int space holds both. The third client-side name,
 * NOT_ADOPTED (a token came, no valid ready frame: FALLBACK-24, ERR-65 to
 * ERR-67), is the error class of spec/errors.md: the client's value is the
 * negative error code, its name NOT_ADOPTED, the error name its detail
 * (handoff/client.h).
 *
 * Threads, fork: constant data only (macros); safe from any thread and
 * across fork and exec.
 *
 * Self-contained (no includes): C99, C11, C++.
 */
#ifndef HANDOFF_REASONS_H
#define HANDOFF_REASONS_H

/* clang-format off */
#define HO_FALLBACK_REASON_LIST(X)                                                  \
  X(NONE,                    0,  "",             0, 1) /* attempt the handoff */  \
  X(CLIENT_UNSUPPORTED,      1,  "FALLBACK-2",   0, 1) /* no CAP_HANDLE_PASSING */ \
  X(SERVICE_POLICY_DISABLED, 2,  "FALLBACK-2",   0, 0) /* policy off, platform */  \
  X(FD_PRESSURE,             3,  "FALLBACK-2",   0, 0) /* broker short of fds */   \
  X(RATE_LIMITED,            4,  "FALLBACK-7",   0, 0) /* failure budget spent */  \
  X(PERMISSION_DENIED,       5,  "FALLBACK-17",  1, 0) /* OS refused transfer */   \
  X(INTEGRITY_MISMATCH,      6,  "SEC-10",       1, 0) /* backend identity */      \
  X(BACKEND_ACK_TIMEOUT,     7,  "FALLBACK-17",  1, 0) /* delivery, ACK, expiry */ \
  X(ADOPTED_BACKEND,         8,  "FALLBACK-2",   0, 0) /* re-adopted backend */    \
  X(NO_ENDPOINT,             9,  "FALLBACK-2",   0, 0) /* no handoff endpoint */   \
  X(QUEUE_FULL,              10, "FALLBACK-11",  0, 0) /* pending queue full */    \
  X(QUEUE_TIMEOUT,           11, "FALLBACK-12",  0, 0) /* queued past its TTL */   \
  X(TOKEN_UNAVAILABLE,       12, "TOKEN-2",      0, 0) /* token issue failed */    \
  X(BACKEND_REFUSED,         13, "FALLBACK-17",  1, 0) /* refusal ACK */           \
  X(EARLY_DATA_UNSUPPORTED,  14, "FALLBACK-16",  0, 0) /* no backend-ready mode */ \
  X(BACKEND_READY_VIOLATION, 15, "ACK-16",       1, 0) /* accepted, undeclared */  \
  X(BACKEND_DRAINING,        16, "BACKEND-14",   0, 0) /* refused with DRAINING */ \
  X(CLIENT_GONE,             17, "FALLBACK-25",  0, 0) /* no fallback: no client */ \
  X(SHUTDOWN,                18, "BROKER-7",     0, 0) /* no fallback: stopping */

#define HO_CLIENT_REASON_LIST(X)                                                    \
  X(NOT_OFFERED, 64, "FALLBACK-4") /* Negotiated without token or capability */
/* clang-format on */

#endif /* HANDOFF_REASONS_H */
