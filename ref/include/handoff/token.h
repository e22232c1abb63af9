/* handoff — token store and ACK registry: the sans-I/O core that makes a
 * one-time token be consumed at most once and makes every pending handoff
 * leave its pending state exactly once (spec/token-lifecycle.md).
 *
 * NOT YET STABLE API: a building block of the reference cores, exported for
 * the conformance runner, the fuzz targets and the benchmarks; it may change
 * in any release before the ABI freeze (issue #15). Applications use
 * broker.h, backend.h and client.h.
 *
 * One object, ho_token_store, holds every pending token. A pending token is
 * in one of two states:
 *
 *   PENDING        issued (or inserted) and not yet offered to a backend;
 *                  it leaves by consume_matching, revoke, abandon, or
 *                  silently by expiry (TTL, default 30 s) through
 *                  prune_expired.
 *   AWAITING_ACK   registered with ho_ack_register() after the offer was
 *                  sent; it leaves exactly once, by one of the exits of
 *                  ho_ack_exit (COMPLETED, LATE, MISMATCH, ABANDONED,
 *                  EXPIRED), each of which revokes the token. Its only timer
 *                  is its ACK deadline (default 5 s, never later than the
 *                  token's own expiry), so an entry awaiting its ACK never
 *                  disappears silently: it is reported by
 *                  ho_ack_expire_overdue().
 *
 * No I/O anywhere. Time is injected: every time input is a millisecond
 * reading of one monotonic clock (`now_ms`; CLOCK_MONOTONIC in the
 * reference programs). A `now_ms` smaller than one already seen is treated as the
 * largest one seen, so a clock that steps back never revives a token.
 * Randomness is injected: a ho_random_fn, ho_random_os() (getrandom) by
 * default; a failing source gives HO_ERR_RANDOM, never a weaker fallback.
 *
 * Cost: issue, insert, consume, revoke, register, acknowledge and abandon
 * are expected O(1) (open-addressing hash table over a preallocated entry
 * pool); expiry is driven by two binary min-heaps (TTL of PENDING tokens,
 * deadlines of AWAITING_ACK tokens), O(log n) per timer change, and
 * ho_token_next_deadline() is O(1). All memory is allocated by
 * ho_token_store_new() for max_pending entries; no later call allocates.
 *
 * Timing: token equality is decided by a constant-time comparison of all 16
 * bytes. Lookups are keyed by a secret-keyed hash (SipHash-1-3, key from the
 * random source at creation), so no presented value can choose which slots
 * a lookup probes; the number of probes depends only on the table's
 * occupancy, never on how many bytes of a presented token match a stored
 * one. Lookups are by the EXPECTED token (the caller's own copy); a
 * PRESENTED token (from the wire) is only ever compared, in constant time.
 *
 * Not thread-safe: one store per event loop, or a lock around every call.
 */
#ifndef HANDOFF_TOKEN_H
#define HANDOFF_TOKEN_H

#include "handoff/version.h"

#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- defaults (identical to the original v1) ------------------------ */

#define HO_TOKEN_DEFAULT_TTL_MS 30000u          /* token lifetime */
#define HO_TOKEN_DEFAULT_MAX_PENDING 1024u      /* pending tokens, both states */
#define HO_TOKEN_DEFAULT_COLLISION_ATTEMPTS 16u /* candidates per issue */
#define HO_ACK_DEFAULT_DEADLINE_MS 1500u        /* ACK deadline after register (spec
                                                   1.0.0-rc1; the original: 5000) */
#define HO_TOKEN_MAX_TTL_MS 30000u              /* TOKEN_TTL_MAX (spec: TOKEN-16) */
#define HO_TOKEN_MAX_PENDING_LIMIT (1u << 24)   /* largest accepted max_pending */

/* ---- injected services ---------------------------------------------- */

/* Fill buf[0..len) with unpredictable bytes. Return 0 on success, any
 * non-zero value on failure (reported by the store as HO_ERR_RANDOM). */
typedef int (*ho_random_fn)(void *ctx, uint8_t *buf, size_t len);

/* The default random source: getrandom(2) flags 0, retried on EINTR and
 * short reads. Returns 0 or HO_ERR_RANDOM; never falls back to a weaker
 * source. `ctx` is ignored. */
HO_API int ho_random_os(void *ctx, uint8_t *buf, size_t len);

/* Optional allocator (for failing-allocation tests and embedders). */
typedef struct ho_allocator {
  void *(*alloc)(void *ctx, size_t size); /* like malloc; NULL on failure */
  void (*free)(void *ctx, void *ptr);     /* like free; ptr may be NULL */
  void *ctx;
} ho_allocator;

/* ---- configuration --------------------------------------------------- */

typedef struct ho_token_config {
  uint64_t ttl_ms;             /* token lifetime; 0 → 1 ms (clamp as the original) */
  uint64_t ack_deadline_ms;    /* ACK deadline; 0 → 1 ms */
  uint32_t max_pending;        /* cap on pending tokens; 0 → 1 */
  uint32_t collision_attempts; /* 0 → 1 */
  ho_random_fn random;         /* NULL → ho_random_os */
  void *random_ctx;
  const ho_allocator *allocator; /* NULL → malloc/free; copied, must outlive the store */
} ho_token_config;

/* Fill `cfg` with the defaults above (random = ho_random_os, allocator NULL).
 * Always call it first, then change fields, so new fields get defaults. */
HO_API void ho_token_config_init(ho_token_config *cfg);

/* ---- store ------------------------------------------------------------ */

typedef struct ho_token_store ho_token_store; /* opaque */

/* Create a store. `cfg` NULL means all defaults. On success *out is set;
 * on failure *out is left untouched and nothing is allocated. Codes:
 *   HO_ERR_INVALID_ARGUMENT  out NULL, or max_pending > HO_TOKEN_MAX_PENDING_LIMIT
 *   HO_ERR_NOMEM             allocation failed
 *   HO_ERR_RANDOM            the random source failed (hash key) */
HO_API int ho_token_store_new(ho_token_store **out, const ho_token_config *cfg);

/* Free everything. NULL is a no-op. Pending tokens vanish without being
 * reported (the caller tears down the connections it owns). */
HO_API void ho_token_store_del(ho_token_store *s);

/* Issue a fresh token, PENDING until now + ttl. First prunes expired
 * PENDING tokens (amortised O(1): each is removed once). Codes:
 *   HO_OK                    token written to out
 *   HO_ERR_PENDING_LIMIT     max_pending tokens are pending (both states)
 *   HO_ERR_RANDOM            the random source failed
 *   HO_ERR_COLLISION_EXHAUSTED every one of collision_attempts candidates
 *                            was already pending
 *   HO_ERR_INVALID_ARGUMENT  s or out NULL
 * On failure `out` and the pending set are untouched (apart from the
 * pruning of expired tokens). */
HO_API int ho_token_issue(ho_token_store *s, uint64_t now_ms, uint8_t out[HO_TOKEN_BYTES]);

/* Make a token that was obtained elsewhere PENDING until now + ttl (a
 * backend seeding the token it was offered, or a replay cache of tokens
 * already accepted). Prunes expired PENDING tokens first. Codes: HO_OK,
 * HO_ERR_ALREADY_PENDING (the token is pending in either state; untouched),
 * HO_ERR_PENDING_LIMIT, HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_token_insert(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms);

/* Like ho_token_insert(), but PENDING until `until_ms` (a reading of the
 * same monotonic clock; a value <= now keeps it until now + 1 ms) instead
 * of now + ttl: a backend's replay memory keeps each token until its
 * offer's deadline plus a margin (spec: TOKEN-17). Codes as
 * ho_token_insert(). */
HO_API int ho_token_insert_until(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                          uint64_t until_ms);

/* Consume `expected` if and only if it is PENDING, unexpired and equal to
 * `presented` (constant-time). Order of checks, as the original:
 *   HO_ERR_TOKEN_NOT_PENDING  expected is not pending (never issued, already
 *                             consumed, revoked or pruned)
 *   HO_ERR_STATE              expected is AWAITING_ACK: use ho_ack_*; untouched
 *   HO_ERR_TOKEN_EXPIRED      now >= expiry: the token is removed
 *   HO_ERR_TOKEN_MISMATCH     presented != expected: NOT consumed
 *   HO_OK                     removed; a second call gives TOKEN_NOT_PENDING
 *   HO_ERR_INVALID_ARGUMENT   NULL argument
 * After the decision, every expired PENDING token is pruned (whatever the
 * result), so the outcome for `expected` is never changed by pruning. */
HO_API int ho_token_consume_matching(ho_token_store *s, const uint8_t expected[HO_TOKEN_BYTES],
                              const uint8_t presented[HO_TOKEN_BYTES], uint64_t now_ms);

/* Revoke a PENDING token. Returns 1 if it was pending and is now gone, 0 if
 * it was not pending (already gone: not an error), HO_ERR_STATE if it is
 * AWAITING_ACK (untouched; use ho_ack_abandon), HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_token_revoke(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES]);

/* Remove every PENDING token with expiry <= now. Returns how many were
 * removed (>= 0) or HO_ERR_INVALID_ARGUMENT. AWAITING_ACK tokens are never
 * touched: they leave through ho_ack_expire_overdue(). */
HO_API int ho_token_prune_expired(ho_token_store *s, uint64_t now_ms);

/* State of a token, without changing anything (expiry not applied). */
enum { HO_TOKEN_ABSENT = 0, HO_TOKEN_PENDING = 1, HO_TOKEN_AWAITING_ACK = 2 };
HO_API int ho_token_state(const ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES]);

/* Pending tokens in both states / awaiting their ACK. 0 for NULL. */
HO_API size_t ho_token_pending(const ho_token_store *s);
HO_API size_t ho_ack_pending(const ho_token_store *s);

/* The earliest time at which something is due: a PENDING token's expiry or
 * an ACK deadline. Returns 1 and sets *at_ms, or 0 when nothing is pending
 * (*at_ms untouched). O(1). An event loop sets one timer for it and then
 * calls ho_ack_expire_overdue() and ho_token_prune_expired(). */
HO_API int ho_token_next_deadline(const ho_token_store *s, uint64_t *at_ms);

/* Bytes this store allocated (for the memory-per-handoff figure). */
HO_API size_t ho_token_store_footprint(const ho_token_store *s);

/* ---- ACK registry ----------------------------------------------------- */

/* How an entry left AWAITING_ACK. Every exit revokes the token. */
typedef enum ho_ack_exit {
  HO_ACK_COMPLETED = 1, /* matching ACK before the deadline */
  HO_ACK_LATE = 2,      /* matching or not, ACK at or after the deadline */
  HO_ACK_MISMATCH = 3,  /* ACK whose token echo differs */
  HO_ACK_ABANDONED = 4, /* the caller gave up (refused ACK, EOF, error...) */
  HO_ACK_EXPIRED = 5    /* deadline passed without an ACK (sweep) */
} ho_ack_exit;

/* What the registry knows about one handoff, reported on its exit. */
typedef struct ho_ack_info {
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t backend;        /* caller's backend identity (0 = unknown) */
  uint64_t correlation_id; /* caller's correlation id */
  void *user;              /* caller's pointer (e.g. the client connection) */
  uint64_t issued_at_ms;   /* now_ms given to ho_ack_register() */
  uint64_t deadline_ms;    /* the ACK deadline */
  uint64_t waited_ms;      /* exit time - issued_at */
  ho_ack_exit exit;
} ho_ack_info;

/* Move a PENDING token to AWAITING_ACK, with deadline
 * min(now + ack_deadline_ms, token expiry). Codes:
 *   HO_OK
 *   HO_ERR_TOKEN_NOT_PENDING  the token is not pending (untouched)
 *   HO_ERR_TOKEN_EXPIRED      the token expired: it is removed
 *   HO_ERR_ALREADY_PENDING    already AWAITING_ACK (the first registration
 *                             stands; untouched)
 *   HO_ERR_INVALID_ARGUMENT   NULL s or token */
HO_API int ho_ack_register(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t backend,
                    uint64_t correlation_id, void *user, uint64_t now_ms);

/* Like ho_ack_register(), with the deadline also no later than
 * `not_after_ms` when it is non-zero (a legacy attempt's deadline ends
 * LEGACY_READY_BUDGET after Negotiated, spec: ACK-17), and the deadline
 * written to *deadline_ms (may be NULL) on success. Codes as
 * ho_ack_register(). */
HO_API int ho_ack_register_until(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES],
                          uint64_t backend, uint64_t correlation_id, void *user, uint64_t now_ms,
                          uint64_t not_after_ms, uint64_t *deadline_ms);

/* An ACK arrived for the handoff whose token is `expected` (the caller's
 * copy), echoing `presented`. Unless the result is TOKEN_NOT_PENDING or
 * INVALID_ARGUMENT, the entry leaves AWAITING_ACK, the token is revoked and
 * *info (if not NULL) describes it. Order of checks:
 *   HO_ERR_TOKEN_NOT_PENDING    expected is not AWAITING_ACK (absent, or only
 *                               PENDING): nothing changes, *info untouched
 *   HO_ERR_ACK_TOKEN_MISMATCH   presented != expected (constant-time); exit MISMATCH
 *   HO_ERR_ACK_DEADLINE_EXCEEDED now >= deadline; exit LATE
 *   HO_OK                       exit COMPLETED
 * A refused ACK (accepted = false) is not an acknowledgement: use
 * ho_ack_refuse() (or ho_ack_abandon() once the echo is checked). */
HO_API int ho_ack_acknowledge(ho_token_store *s, const uint8_t expected[HO_TOKEN_BYTES],
                       const uint8_t presented[HO_TOKEN_BYTES], uint64_t now_ms,
                       ho_ack_info *info);

/* A refused ACK (accepted = false) arrived for the handoff whose token is
 * `expected`, echoing `presented`: ACK-2 steps 2 and 3 in one call. Unless
 * the result is TOKEN_NOT_PENDING or INVALID_ARGUMENT, the entry leaves
 * AWAITING_ACK, the token is revoked and *info (if not NULL) describes it:
 *   HO_ERR_TOKEN_NOT_PENDING   expected is not AWAITING_ACK: nothing changes
 *   HO_ERR_ACK_TOKEN_MISMATCH  presented != expected; exit MISMATCH
 *   HO_ERR_ACK_REFUSED         exit ABANDONED (the deadline does not matter) */
HO_API int ho_ack_refuse(ho_token_store *s, const uint8_t expected[HO_TOKEN_BYTES],
                  const uint8_t presented[HO_TOKEN_BYTES], uint64_t now_ms, ho_ack_info *info);

/* Give up on a token: always revokes it. Returns 1 if it was AWAITING_ACK
 * (exit ABANDONED, *info filled if not NULL), 0 if it was only PENDING
 * (revoked, *info untouched), HO_ERR_TOKEN_NOT_PENDING if it was not
 * pending at all, HO_ERR_INVALID_ARGUMENT. `now_ms` only fills waited_ms. */
HO_API int ho_ack_abandon(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                   ho_ack_info *info);

/* Expire the entries whose deadline is <= now, earliest deadline first:
 * each leaves with exit EXPIRED and its token revoked, and is written to
 * out[0..*n). At most `cap` per call: call again while *n == cap. Returns
 * HO_OK or HO_ERR_INVALID_ARGUMENT (s or n NULL, out NULL with cap > 0). */
HO_API int ho_ack_expire_overdue(ho_token_store *s, uint64_t now_ms, ho_ack_info *out, size_t cap,
                          size_t *n);

/* The earliest ACK deadline: 1 and *at_ms set, or 0 if none. O(1). */
HO_API int ho_ack_next_deadline(const ho_token_store *s, uint64_t *at_ms);

/* ---- helpers ---------------------------------------------------------- */

/* Constant-time equality of two 16-byte tokens: 1 if equal, 0 if not. The
 * time taken does not depend on the bytes. */
HO_API int ho_token_equal(const uint8_t a[HO_TOKEN_BYTES], const uint8_t b[HO_TOKEN_BYTES]);

/* Name of an exit ("COMPLETED", ...); "UNKNOWN" for other values. */
HO_API const char *ho_ack_exit_name(int exit);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_TOKEN_H */
