/* handoff — bounded set of recently accepted tokens (backend replay guard).
 * Internal to ref/lib/backend. A thin layer over the token core's store
 * (handoff/token.h), which already gives keyed-hash lookups, expiry by a
 * timer heap and a fixed footprint, so a presented token never steers a
 * lookup (spec: TOKEN-8) and a full set refuses instead of forgetting a
 * young token (spec: TOKEN-18). spec: BACKEND-5 */
#ifndef HANDOFF_BACKEND_REPLAY_H
#define HANDOFF_BACKEND_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/token.h"
#include "handoff/wire.h"

typedef struct ho_replay {
  ho_token_store *store; /* accepted tokens, PENDING until accepted_at + ttl */
  size_t cap;
} ho_replay;

/* Every byte of the set is allocated here, with `alloc` (NULL: malloc; none
 * under HO_NO_HEAP, see core/alloc.h); no later call allocates.
 * Returns HO_OK, HO_ERR_INVALID_ARGUMENT (cap 0 or above
 * HO_TOKEN_MAX_PENDING_LIMIT, or an unusable allocator), HO_ERR_NOMEM, or
 * HO_ERR_RANDOM (the OS random source that keys the lookup hash failed); *r
 * untouched on error. */
int ho_replay_init(ho_replay *r, size_t cap, uint64_t ttl_ms, const ho_allocator *alloc);
void ho_replay_free(ho_replay *r);
/* Is `token` remembered (and unexpired at now)? Prunes expired tokens. */
bool ho_replay_contains(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms);
/* Remember `token` until `until_ms` (monotonic; spec: TOKEN-17). Returns
 * HO_OK, HO_ERR_ALREADY_PENDING (already remembered) or
 * HO_ERR_PENDING_LIMIT (full: nothing is forgotten to make room,
 * spec: TOKEN-18). */
int ho_replay_add(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                  uint64_t until_ms);

#endif
