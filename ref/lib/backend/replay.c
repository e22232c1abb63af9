/* handoff — replay guard of the backend, on the token core's store.
 * spec: TOKEN-17 TOKEN-18 */
#include "backend/replay.h"

#include "handoff/error.h"

int ho_replay_init(ho_replay *r, size_t cap, uint64_t ttl_ms, const ho_allocator *alloc) {
  if (r == NULL || cap == 0 || cap > HO_TOKEN_MAX_PENDING_LIMIT) return HO_ERR_INVALID_ARGUMENT;
  ho_token_config cfg;
  ho_token_config_init(&cfg);
  cfg.max_pending = (uint32_t)cap;
  cfg.ttl_ms = ttl_ms;
  cfg.allocator = alloc; /* the store's only allocations, all made here */
  ho_token_store *s = NULL;
  int rc = ho_token_store_new(&s, &cfg);
  if (rc != HO_OK) return rc;
  r->store = s;
  r->cap = cap;
  return HO_OK;
}

void ho_replay_free(ho_replay *r) {
  if (r == NULL) return;
  ho_token_store_del(r->store);
  r->store = NULL;
}

bool ho_replay_contains(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms) {
  ho_token_prune_expired(r->store, now_ms);
  return ho_token_state(r->store, token) != HO_TOKEN_ABSENT;
}

int ho_replay_add(ho_replay *r, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                  uint64_t until_ms) {
  return ho_token_insert_until(r->store, token, now_ms, until_ms);
}
