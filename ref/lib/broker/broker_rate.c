/* handoff — broker core: the Hello rate per peer process (spec: HELLO-14).
 *
 * A fixed window of one second per OS-reported pid, as the original (at
 * most 256 Hellos per second per pid): the window starts at the pid's
 * first Hello and ends one second later; within it at most `limit` Hellos
 * pass. The table is bounded: a ring of at most `cap` live windows in the
 * order they started (which is also the order they end, the clock being
 * clamped to be monotonic), and an open-addressing index by pid. Windows
 * that have ended are dropped from the ring's head before each decision,
 * so the cost per Hello is O(1) amortised and nothing is allocated after
 * bk_rate_init. When every slot holds a live window, a pid without one is
 * refused until the oldest window ends (fail-safe: a full table never
 * lets a pid through unlimited). */
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"

#define RATE_WINDOW_MS 1000u

static uint32_t pid_hash(int32_t pid) {
  uint64_t h = (uint64_t)(uint32_t)pid * UINT64_C(0x9E3779B97F4A7C15);
  return (uint32_t)(h >> 32);
}

int bk_rate_init(bk_rate *r, uint32_t limit, uint32_t cap) {
  memset(r, 0, sizeof *r);
  if (limit == 0) return HO_OK; /* unlimited: no table */
  if (cap == 0 || cap > (1u << 24)) return HO_ERR_INVALID_ARGUMENT;
  uint32_t tsize = 2;
  while (tsize < cap * 2u) tsize <<= 1;
  r->ring = calloc(cap, sizeof *r->ring);
  r->index = calloc(tsize, sizeof *r->index);
  if (r->ring == NULL || r->index == NULL) {
    bk_rate_free(r);
    return HO_ERR_NOMEM;
  }
  r->limit = limit;
  r->cap = cap;
  r->mask = tsize - 1;
  return HO_OK;
}

void bk_rate_free(bk_rate *r) {
  free(r->ring);
  free(r->index);
  memset(r, 0, sizeof *r);
}

/* Index slot of `pid`: its slot (*found) or the empty slot it would take. */
static uint32_t find_slot(const bk_rate *r, int32_t pid, bool *found) {
  uint32_t i = pid_hash(pid) & r->mask;
  for (;;) {
    uint32_t v = r->index[i];
    if (v == 0) {
      *found = false;
      return i;
    }
    if (r->ring[v - 1].pid == pid) {
      *found = true;
      return i;
    }
    i = (i + 1) & r->mask;
  }
}

/* Drop the ring's head (its window has ended): backward-shift deletion
 * keeps every probe sequence unbroken. */
static void drop_head(bk_rate *r) {
  bool found;
  uint32_t i = find_slot(r, r->ring[r->head].pid, &found);
  if (found) {
    uint32_t j = i;
    for (;;) {
      j = (j + 1) & r->mask;
      uint32_t v = r->index[j];
      if (v == 0) break;
      uint32_t home = pid_hash(r->ring[v - 1].pid) & r->mask;
      /* move v back to i unless its home lies cyclically in (i, j] */
      if (((j - home) & r->mask) >= ((j - i) & r->mask)) {
        r->index[i] = v;
        i = j;
      }
    }
    r->index[i] = 0;
  }
  r->head = (r->head + 1) % r->cap;
  r->count--;
}

static uint64_t retry_ms(uint64_t start, uint64_t now) {
  uint64_t left = start + RATE_WINDOW_MS - now; /* > 0: the window is live */
  return left ? left : 1;
}

bool bk_rate_admit(bk_rate *r, int32_t pid, uint64_t now, uint64_t *retry_after_ms) {
  if (r->limit == 0 || pid <= 0) return true; /* unlimited, or no pid to key on */
  if (now < r->last) now = r->last; /* a clock that goes back revives nothing */
  r->last = now;
  while (r->count > 0 && now - r->ring[r->head].start >= RATE_WINDOW_MS) drop_head(r);
  bool found;
  uint32_t slot = find_slot(r, pid, &found);
  if (found) {
    bk_rate_entry *e = &r->ring[r->index[slot] - 1];
    if (e->hellos < r->limit) {
      e->hellos++;
      return true;
    }
    *retry_after_ms = retry_ms(e->start, now);
    return false;
  }
  if (r->count == r->cap) { /* every slot holds a live window: fail safe */
    *retry_after_ms = retry_ms(r->ring[r->head].start, now);
    r->full_refusals++;
    return false;
  }
  uint32_t at = (r->head + r->count) % r->cap;
  r->ring[at] = (bk_rate_entry){.pid = pid, .hellos = 1, .start = now};
  r->index[slot] = at + 1;
  r->count++;
  return true;
}
