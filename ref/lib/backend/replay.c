/* handoff — replay guard of the backend: a bounded, expiring token set.
 * spec: TOKEN-11 TOKEN-12 */
#include "backend/replay.h"

#include <stdlib.h>
#include <string.h>

#include "handoff/error.h"

static size_t hash_token(const uint8_t t[HO_TOKEN_BYTES]) {
  uint64_t a, b;
  memcpy(&a, t, 8);
  memcpy(&b, t + 8, 8);
  uint64_t h = (a ^ (b * UINT64_C(0x9E3779B97F4A7C15))) * UINT64_C(0xBF58476D1CE4E5B9);
  return (size_t)(h ^ (h >> 31));
}

int ho_replay_init(ho_replay *r, size_t cap, uint64_t ttl_ms) {
  if (r == NULL || cap == 0 || cap > (1u << 24)) return HO_ERR_INVALID_ARGUMENT;
  size_t tsize = 2;
  while (tsize < cap * 2) tsize <<= 1;
  ho_replay_entry *ring = calloc(cap, sizeof *ring);
  uint32_t *table = calloc(tsize, sizeof *table);
  if (ring == NULL || table == NULL) {
    free(ring);
    free(table);
    return HO_ERR_NOMEM;
  }
  r->ring = ring;
  r->table = table;
  r->cap = cap;
  r->mask = tsize - 1;
  r->head = r->count = 0;
  r->ttl_ms = ttl_ms ? ttl_ms : 1;
  return HO_OK;
}

void ho_replay_free(ho_replay *r) {
  if (r == NULL) return;
  free(r->ring);
  free(r->table);
  memset(r, 0, sizeof *r);
}

static size_t find_slot(const ho_replay *r, const uint8_t t[HO_TOKEN_BYTES], bool *found) {
  size_t i = hash_token(t) & r->mask;
  for (;;) {
    uint32_t v = r->table[i];
    if (v == 0) {
      *found = false;
      return i;
    }
    if (memcmp(r->ring[v - 1].token, t, HO_TOKEN_BYTES) == 0) {
      *found = true;
      return i;
    }
    i = (i + 1) & r->mask;
  }
}

/* Remove the ring's head entry from the table (backward-shift deletion). */
static void drop_head(ho_replay *r) {
  bool found;
  size_t i = find_slot(r, r->ring[r->head].token, &found);
  if (found) {
    size_t j = i;
    for (;;) {
      j = (j + 1) & r->mask;
      uint32_t v = r->table[j];
      if (v == 0) break;
      size_t home = hash_token(r->ring[v - 1].token) & r->mask;
      /* Can entry at j move to the hole at i? Yes unless home lies in (i, j]. */
      bool in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
      if (!in_range) {
        r->table[i] = v;
        i = j;
      }
    }
    r->table[i] = 0;
  }
  r->head = (r->head + 1) % r->cap;
  r->count--;
}

void ho_replay_prune(ho_replay *r, uint64_t now_ms) {
  while (r->count > 0 && r->ring[r->head].expires_ms <= now_ms) drop_head(r);
}

bool ho_replay_contains(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms) {
  ho_replay_prune(r, now_ms);
  bool found;
  (void)find_slot(r, token, &found);
  return found;
}

bool ho_replay_full(ho_replay *r, uint64_t now_ms) {
  ho_replay_prune(r, now_ms);
  return r->count == r->cap;
}

void ho_replay_add(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms) {
  ho_replay_prune(r, now_ms);
  bool found;
  size_t slot = find_slot(r, token, &found);
  if (found) return;
  if (r->count == r->cap) {
    drop_head(r);
    slot = find_slot(r, token, &found);
  }
  size_t idx = (r->head + r->count) % r->cap;
  memcpy(r->ring[idx].token, token, HO_TOKEN_BYTES);
  r->ring[idx].expires_ms = now_ms + r->ttl_ms;
  r->table[slot] = (uint32_t)(idx + 1);
  r->count++;
}
