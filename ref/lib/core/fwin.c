/* handoff core — one fixed-window counter per key, bounded (core/fwin.h).
 * spec: HELLO-14 FALLBACK-7 FALLBACK-10 */
#include <string.h>

#include "core/alloc.h"
#include "core/fwin.h"

/* Keys are pids and configured backend keys, not chosen freely by peers:
 * an unkeyed mixer is enough (the table is bounded either way). */
static uint32_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (uint32_t)x;
}

int ho_fwin_init(ho_fwin *w, uint32_t cap, uint64_t window, const ho_allocator *alloc) {
  if (w == NULL) return HO_ERR_INVALID_ARGUMENT;
  memset(w, 0, sizeof *w);
  if (cap == 0 || cap > (1u << 24) || window == 0) return HO_ERR_INVALID_ARGUMENT;
  if (ho_core_allocator(alloc, &w->alloc) != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  uint32_t tsize = 2;
  while (tsize < cap * 2u) tsize <<= 1;
  size_t ring_bytes = (size_t)cap * 2u * sizeof *w->ring;
  size_t index_bytes = (size_t)tsize * sizeof *w->index;
  w->ring = w->alloc.alloc(w->alloc.ctx, ring_bytes);
  w->index = w->alloc.alloc(w->alloc.ctx, index_bytes);
  if (w->ring == NULL || w->index == NULL) {
    ho_fwin_free(w);
    return HO_ERR_NOMEM;
  }
  memset(w->ring, 0, ring_bytes);
  memset(w->index, 0, index_bytes);
  w->window = window;
  w->cap = cap;
  w->ring_size = cap * 2u;
  w->mask = tsize - 1;
  return HO_OK;
}

void ho_fwin_free(ho_fwin *w) {
  if (w == NULL) return;
  if (w->alloc.free != NULL) {
    if (w->ring) w->alloc.free(w->alloc.ctx, w->ring);
    if (w->index) w->alloc.free(w->alloc.ctx, w->index);
  }
  memset(w, 0, sizeof *w);
}

/* Index slot of `key`: its slot (*found) or the empty slot it would take. */
static uint32_t slot_of(const ho_fwin *w, uint64_t key, bool *found) {
  uint32_t i = mix(key) & w->mask;
  for (;;) {
    uint32_t v = w->index[i];
    if (v == 0) {
      *found = false;
      return i;
    }
    if (w->ring[v - 1].key == key) {
      *found = true;
      return i;
    }
    i = (i + 1) & w->mask;
  }
}

/* Empty index slot i: backward-shift deletion keeps every probe sequence
 * unbroken. */
static void index_delete(ho_fwin *w, uint32_t i) {
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & w->mask;
    uint32_t v = w->index[j];
    if (v == 0) break;
    uint32_t home = mix(w->ring[v - 1].key) & w->mask;
    /* move v back to i unless its home lies cyclically in (i, j] */
    if (((j - home) & w->mask) >= ((j - i) & w->mask)) {
      w->index[i] = v;
      i = j;
    }
  }
  w->index[i] = 0;
}

/* Kill the live entry at ring position `pos` (its index slot goes too). */
static void kill(ho_fwin *w, uint32_t pos) {
  bool found;
  uint32_t i = slot_of(w, w->ring[pos].key, &found);
  if (found && w->index[i] == pos + 1) index_delete(w, i);
  w->ring[pos].live = 0;
  w->live--;
}

uint64_t ho_fwin_advance(ho_fwin *w, uint64_t now) {
  if (now < w->last) now = w->last; /* a clock that goes back revives nothing */
  w->last = now;
  while (w->used > 0) {
    ho_fwin_entry *e = &w->ring[w->head];
    if (e->live && now - e->start < w->window) break; /* the oldest live window runs */
    if (e->live) kill(w, w->head);
    w->head = (w->head + 1) % w->ring_size;
    w->used--;
  }
  return now;
}

ho_fwin_entry *ho_fwin_find(const ho_fwin *w, uint64_t key) {
  if (w->live == 0) return NULL;
  bool found;
  uint32_t i = slot_of(w, key, &found);
  return found ? &w->ring[w->index[i] - 1] : NULL;
}

/* Move the live entries to the front of the ring, in order, and rebuild
 * the index (their positions changed). */
static void compact(ho_fwin *w) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < w->used; k++) {
    uint32_t from = (w->head + k) % w->ring_size;
    if (!w->ring[from].live) continue;
    uint32_t to = (w->head + n) % w->ring_size; /* never ahead of `from` */
    if (to != from) w->ring[to] = w->ring[from];
    n++;
  }
  w->used = n;
  memset(w->index, 0, (size_t)(w->mask + 1) * sizeof *w->index);
  for (uint32_t k = 0; k < n; k++) {
    uint32_t pos = (w->head + k) % w->ring_size;
    bool found;
    w->index[slot_of(w, w->ring[pos].key, &found)] = pos + 1;
  }
}

int ho_fwin_open(ho_fwin *w, uint64_t key, uint64_t now, ho_fwin_entry **out) {
  if (w->live >= w->cap) return HO_ERR_PENDING_LIMIT;
  if (now < w->last) now = w->last;
  w->last = now;
  if (w->used == w->ring_size) compact(w); /* live < cap: frees > cap slots */
  bool found;
  uint32_t slot = slot_of(w, key, &found);
  if (found) { /* misuse: the key has a window; restart it would break the order */
    *out = &w->ring[w->index[slot] - 1];
    return HO_OK;
  }
  uint32_t pos = (w->head + w->used) % w->ring_size;
  w->ring[pos] = (ho_fwin_entry){.key = key, .start = now, .count = 0, .live = 1};
  w->index[slot] = pos + 1;
  w->used++;
  w->live++;
  *out = &w->ring[pos];
  return HO_OK;
}

void ho_fwin_close(ho_fwin *w, uint64_t key) {
  if (w->live == 0) return;
  bool found;
  uint32_t i = slot_of(w, key, &found);
  if (!found) return;
  uint32_t pos = w->index[i] - 1;
  index_delete(w, i);
  w->ring[pos].live = 0;
  w->live--;
}

uint64_t ho_fwin_left(const ho_fwin *w, const ho_fwin_entry *e, uint64_t now) {
  if (now < w->last) now = w->last;
  uint64_t gone = now - e->start; /* >= 0: start is a clamped time <= last */
  return gone >= w->window ? 0 : w->window - gone;
}

const ho_fwin_entry *ho_fwin_oldest(const ho_fwin *w) {
  for (uint32_t k = 0; k < w->used; k++) {
    const ho_fwin_entry *e = &w->ring[(w->head + k) % w->ring_size];
    if (e->live) return e;
  }
  return NULL;
}
