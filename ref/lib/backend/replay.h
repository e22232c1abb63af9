/* handoff — bounded set of recently accepted tokens (backend replay guard).
 * Internal to ref/lib/backend. spec: BACKEND-5 */
#ifndef HANDOFF_BACKEND_REPLAY_H
#define HANDOFF_BACKEND_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/wire.h"

typedef struct ho_replay_entry {
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t expires_ms;
} ho_replay_entry;

/* A FIFO ring (entries in acceptance order, so expiry order too, for a
 * monotonic clock) indexed by an open-addressing hash table. */
typedef struct ho_replay {
  ho_replay_entry *ring;
  uint32_t *table; /* ring index + 1; 0 = empty slot */
  size_t cap, mask, head, count;
  uint64_t ttl_ms;
} ho_replay;

/* Returns HO_OK or HO_ERR_NOMEM / HO_ERR_INVALID_ARGUMENT (cap 0 or above
 * 1<<24); *r untouched on error. */
int ho_replay_init(ho_replay *r, size_t cap, uint64_t ttl_ms);
void ho_replay_free(ho_replay *r);
/* Forget entries with expires <= now. */
void ho_replay_prune(ho_replay *r, uint64_t now_ms);
/* Is `token` remembered (and unexpired at now)? */
bool ho_replay_contains(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms);
/* After pruning: is every slot taken by an unexpired token? */
bool ho_replay_full(ho_replay *r, uint64_t now_ms);
/* Remember `token` until now + ttl. The caller checks ho_replay_full()
 * first (TOKEN-12); if it did not, the oldest entry is forgotten. */
void ho_replay_add(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms);

#endif
