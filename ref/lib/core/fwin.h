/* handoff core — one fixed-window counter per key, bounded (internal).
 *
 * The one mechanism behind both limits of the reference: the broker's
 * Hello rate per peer pid (spec: HELLO-14; broker/broker_rate.c) and the
 * failed-attempt budget per backend (spec: FALLBACK-7 FALLBACK-10;
 * core/fallback.c). A key's window starts at its first event and ends
 * `window` later; within it the caller counts what it likes in `count`.
 *
 * Sans-I/O: `now` is an injected monotonic clock, in the unit of `window`
 * (whatever the caller chose: fallback.c uses ms); a clock that goes back
 * is clamped to the latest time seen, so nothing ends early and nothing
 * revives. Every window has the same length and starts at the (clamped)
 * current time, so windows end in the order they started: the live ones
 * sit in a ring, oldest first, and ho_fwin_advance() drops the ended ones
 * from its head — O(1) amortised, nothing allocated after ho_fwin_init().
 * A window closed before it ended (ho_fwin_close) leaves a dead ring slot;
 * the ring has 2 * cap slots, and a full ring is compacted (O(cap), at
 * most once per cap new windows).
 *
 * Capacity: at most `cap` live windows. A key without one when all are
 * live gets none (ho_fwin_open: HO_ERR_PENDING_LIMIT); the caller fails
 * safe and can say when the oldest window ends (ho_fwin_oldest). */
#ifndef HANDOFF_CORE_FWIN_H
#define HANDOFF_CORE_FWIN_H

#include <stdbool.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/token.h" /* ho_allocator */

typedef struct ho_fwin_entry {
  uint64_t key;
  uint64_t start; /* window start (clamped clock) */
  uint32_t count; /* the caller's count in this window */
  uint32_t live;  /* 0: a dead ring slot (closed early) */
} ho_fwin_entry;

typedef struct ho_fwin {
  ho_allocator alloc;
  uint64_t window;     /* > 0 */
  uint64_t last;       /* latest time seen: the clock is clamped to it */
  uint32_t cap;        /* live windows at most */
  uint32_t live;       /* live windows now */
  uint32_t ring_size;  /* 2 * cap */
  uint32_t head, used; /* ring slots in use (live and dead), oldest first */
  uint32_t mask;       /* index size - 1 */
  ho_fwin_entry *ring;
  uint32_t *index; /* open addressing by key: ring position + 1, 0 empty */
} ho_fwin;

/* cap in 1..2^24, window > 0 (in the clock's unit), alloc NULL → malloc.
 * Codes: HO_OK, HO_ERR_INVALID_ARGUMENT, HO_ERR_NOMEM (*w zeroed). */
int ho_fwin_init(ho_fwin *w, uint32_t cap, uint64_t window, const ho_allocator *alloc);
/* Frees the tables; *w zeroed. Safe on a zeroed or failed-init *w. */
void ho_fwin_free(ho_fwin *w);

/* Clamp `now` to the latest time seen and drop every window that has
 * ended (now - start >= window). Returns the clamped now. */
uint64_t ho_fwin_advance(ho_fwin *w, uint64_t now);

/* The live window of `key`, or NULL. After ho_fwin_advance(w, now) a
 * window found has not ended at now; without it, check ho_fwin_left(). */
ho_fwin_entry *ho_fwin_find(const ho_fwin *w, uint64_t key);

/* A new window for `key` (which has none: ho_fwin_find() gave NULL),
 * starting at the clamped now with count 0, in *out. Codes: HO_OK;
 * HO_ERR_PENDING_LIMIT when cap windows are live (nothing changes). Call
 * ho_fwin_advance() first, so that ended windows make room. */
int ho_fwin_open(ho_fwin *w, uint64_t key, uint64_t now, ho_fwin_entry **out);

/* Forget the window of `key` (none: nothing happens). */
void ho_fwin_close(ho_fwin *w, uint64_t key);

/* Time left in e's window at `now` (clamped to the latest time seen):
 * start + window - now, 0 once it has ended. */
uint64_t ho_fwin_left(const ho_fwin *w, const ho_fwin_entry *e, uint64_t now);

/* The live window that started first (ends first), or NULL when none. */
const ho_fwin_entry *ho_fwin_oldest(const ho_fwin *w);

#endif /* HANDOFF_CORE_FWIN_H */
