/* Test fixtures for the token core tests: injected random sources and a
 * counting, failable allocator. Header-only, static. */
#ifndef HANDOFF_TEST_TOKEN_FIXTURES_H
#define HANDOFF_TEST_TOKEN_FIXTURES_H

#include <stdlib.h>
#include <string.h>

#include "handoff/token.h"

/* Scripted random source: returns script[i] (16 bytes each) in order, then
 * fails; `calls` counts every call; fail_at makes call number fail_at fail
 * (0 = never). Calls for a length other than 16 (none today) get zeros. */
typedef struct fx_rand {
  const uint8_t (*script)[HO_TOKEN_BYTES];
  size_t len, next;
  unsigned calls, fail_at;
  uint64_t counter; /* used when script is NULL: a counter token */
} fx_rand;

static inline int fx_random(void *ctx, uint8_t *buf, size_t len) {
  fx_rand *r = ctx;
  r->calls++;
  if (r->fail_at && r->calls == r->fail_at) return -1;
  if (!r->script) {
    memset(buf, 0, len);
    uint64_t c = ++r->counter;
    memcpy(buf, &c, len < 8 ? len : 8);
    if (len > 8) buf[len - 1] = 0xA5;
    return 0;
  }
  if (r->next >= r->len) return -1;
  memcpy(buf, r->script[r->next++], len < HO_TOKEN_BYTES ? len : HO_TOKEN_BYTES);
  return 0;
}

static inline int fx_random_fail(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  (void)buf;
  (void)len;
  return -1;
}

/* Counting allocator; the fail_at-th allocation fails (0 = never). */
typedef struct fx_alloc {
  unsigned allocs, frees, fail_at;
  size_t bytes;
} fx_alloc;

static inline void *fx_alloc_fn(void *ctx, size_t n) {
  fx_alloc *a = ctx;
  if (a->fail_at && a->allocs + 1 == a->fail_at) {
    a->fail_at = 0;
    return NULL;
  }
  void *p = malloc(n);
  if (p) {
    a->allocs++;
    a->bytes += n;
  }
  return p;
}

static inline void fx_free_fn(void *ctx, void *p) {
  fx_alloc *a = ctx;
  if (p) a->frees++;
  free(p);
}

/* A store with a counter random source and the given TTL / ACK deadline. */
static inline ho_token_store *fx_store(fx_rand *r, uint64_t ttl, uint64_t ackdl, uint32_t cap) {
  ho_token_config c;
  ho_token_config_init(&c);
  c.ttl_ms = ttl;
  c.ack_deadline_ms = ackdl;
  c.max_pending = cap;
  c.random = fx_random;
  c.random_ctx = r;
  ho_token_store *s = NULL;
  if (ho_token_store_new(&s, &c) != HO_OK) return NULL;
  return s;
}

#endif
