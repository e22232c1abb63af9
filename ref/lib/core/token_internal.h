/* handoff — internals of the token store shared by token.c and ack.c.
 *
 * Layout (all preallocated by ho_token_store_new for max_pending entries):
 *   entries  pool of 64-byte entries; a free entry is on a free list
 *   slots    open-addressing table of entry indices + 1 (0 = empty), linear
 *            probing, load <= 1/2, backward-shift deletion (no tombstones,
 *            so probe lengths never degrade with churn)
 *   ttl      binary min-heap (by due) of PENDING entries
 *   ack      binary min-heap (by due) of AWAITING_ACK entries
 * An entry's `due` is its TTL expiry while PENDING and its ACK deadline while
 * AWAITING_ACK (deadline <= expiry, so one field suffices). `where` says
 * which heap holds it (bit 31) and at which index (bits 0..30).
 */
#ifndef HANDOFF_CORE_TOKEN_INTERNAL_H
#define HANDOFF_CORE_TOKEN_INTERNAL_H

#include <stdint.h>

#include "handoff/token.h"

#define HO_WHERE_ACK 0x80000000u
#define HO_WHERE_FREE 0xFFFFFFFFu
#define HO_NIL 0xFFFFFFFFu

typedef struct ho_tentry {
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t due;            /* expiry (PENDING) or ACK deadline (AWAITING_ACK) */
  uint64_t issued_at;      /* register time (AWAITING_ACK) */
  uint64_t backend;        /* AWAITING_ACK */
  uint64_t correlation_id; /* AWAITING_ACK */
  void *user;              /* AWAITING_ACK */
  uint32_t where;          /* heap and index, or HO_WHERE_FREE */
  uint32_t hash;           /* keyed hash (home slot); next free index when free */
} ho_tentry;

typedef struct ho_heap {
  uint32_t *idx; /* entry indices */
  uint32_t len;
} ho_heap;

struct ho_token_store {
  ho_allocator alloc;
  ho_random_fn random;
  void *random_ctx;
  uint64_t ttl_ms;
  uint64_t ack_deadline_ms;
  uint32_t max_pending;
  uint32_t collision_attempts;
  uint64_t now;       /* largest now_ms seen */
  uint64_t key[2];    /* SipHash key */
  ho_tentry *entries; /* max_pending */
  uint32_t free_head;
  uint32_t count;     /* pending, both states */
  uint32_t *slots;    /* mask + 1 */
  uint32_t mask;
  ho_heap ttl;
  ho_heap ack;
  size_t footprint;
};

/* Clamp the clock: returns max(now_ms, largest seen) and remembers it. */
uint64_t ho_ts_now(ho_token_store *s, uint64_t now_ms);

/* Find a token; returns its entry index and sets *slot, or HO_NIL. */
uint32_t ho_ts_find(const ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint32_t *slot);

/* Remove entry `e` found at `slot`: out of its heap, out of the table, back
 * to the free list. */
void ho_ts_remove(ho_token_store *s, uint32_t e, uint32_t slot);

/* Heap primitives on s->ttl / s->ack (tag = 0 or HO_WHERE_ACK). */
void ho_heap_push(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t e);
void ho_heap_delete(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t pos);

static inline uint32_t ho_where_pos(uint32_t where) { return where & ~HO_WHERE_ACK; }
static inline int ho_is_awaiting(const ho_tentry *t) {
  return t->where != HO_WHERE_FREE && (t->where & HO_WHERE_ACK) != 0;
}

#endif /* HANDOFF_CORE_TOKEN_INTERNAL_H */
