/* handoff — token store: issue, insert, consume_matching, revoke, prune
 * (spec/token-lifecycle.md; citations at each function). The ACK registry
 * functions, which work on the same store, are in ack.c. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <bcrypt.h> /* link with -lbcrypt */
#else
#include <sys/random.h>
#endif

#include "core/alloc.h"
#include "core/token_internal.h"

/* ---- injected services ---------------------------------------------- */

/* spec: TOKEN-1 */
#ifdef _WIN32
/* The OS CSPRNG of Windows: BCryptGenRandom with the system-preferred RNG
 * (no algorithm handle to open); a failure is a failure. */
int ho_random_os(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  while (len > 0) {
    ULONG n = len > 0x7fffffffu ? 0x7fffffffu : (ULONG)len;
    if (BCryptGenRandom(NULL, buf, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
      return HO_ERR_RANDOM; /* never a weaker fallback */
    buf += n;
    len -= n;
  }
  return HO_OK;
}
#else
int ho_random_os(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  size_t have = 0;
  while (have < len) {
    ssize_t n = getrandom(buf + have, len - have, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return HO_ERR_RANDOM; /* never a weaker fallback */
    }
    if (n == 0) return HO_ERR_RANDOM;
    have += (size_t)n;
  }
  return HO_OK;
}
#endif

/* spec: TOKEN-8 — constant time: OR of the XORs of all 16 bytes, then a branch-free reduce. */
int ho_token_equal(const uint8_t a[HO_TOKEN_BYTES], const uint8_t b[HO_TOKEN_BYTES]) {
  const volatile uint8_t *va = a, *vb = b;
  uint32_t d = 0;
  for (size_t i = 0; i < HO_TOKEN_BYTES; i++) d |= (uint32_t)(va[i] ^ vb[i]);
  return (int)(1u & ((d - 1u) >> 8));
}

/* ---- SipHash-1-3 of exactly 16 bytes (keyed: the key is secret) ----- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  do {                                                                                             \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                      \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                         \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                         \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                      \
  } while (0)

static uint64_t load64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint32_t token_hash(const ho_token_store *s, const uint8_t t[HO_TOKEN_BYTES]) {
  uint64_t v0 = 0x736f6d6570736575ull ^ s->key[0], v1 = 0x646f72616e646f6dull ^ s->key[1];
  uint64_t v2 = 0x6c7967656e657261ull ^ s->key[0], v3 = 0x7465646279746573ull ^ s->key[1];
  uint64_t m[3] = {load64le(t), load64le(t + 8), (uint64_t)16 << 56};
  for (int i = 0; i < 3; i++) {
    v3 ^= m[i];
    SIPROUND;
    v0 ^= m[i];
  }
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  uint64_t h = v0 ^ v1 ^ v2 ^ v3;
  return (uint32_t)(h ^ (h >> 32));
}

/* ---- heaps ------------------------------------------------------------ */

static void heap_set(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t pos, uint32_t e) {
  h->idx[pos] = e;
  s->entries[e].where = tag | pos;
}

static void sift_up(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t pos) {
  uint32_t e = h->idx[pos];
  uint64_t due = s->entries[e].due;
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (s->entries[h->idx[parent]].due <= due) break;
    heap_set(s, h, tag, pos, h->idx[parent]);
    pos = parent;
  }
  heap_set(s, h, tag, pos, e);
}

static void sift_down(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t pos) {
  uint32_t e = h->idx[pos];
  uint64_t due = s->entries[e].due;
  for (;;) {
    uint32_t c = 2 * pos + 1;
    if (c >= h->len) break;
    if (c + 1 < h->len && s->entries[h->idx[c + 1]].due < s->entries[h->idx[c]].due) c++;
    if (s->entries[h->idx[c]].due >= due) break;
    heap_set(s, h, tag, pos, h->idx[c]);
    pos = c;
  }
  heap_set(s, h, tag, pos, e);
}

void ho_heap_push(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t e) {
  h->idx[h->len] = e;
  h->len++;
  sift_up(s, h, tag, h->len - 1);
}

void ho_heap_delete(ho_token_store *s, ho_heap *h, uint32_t tag, uint32_t pos) {
  h->len--;
  if (pos == h->len) return;
  h->idx[pos] = h->idx[h->len];
  s->entries[h->idx[pos]].where = tag | pos;
  if (pos > 0 && s->entries[h->idx[(pos - 1) / 2]].due > s->entries[h->idx[pos]].due)
    sift_up(s, h, tag, pos);
  else
    sift_down(s, h, tag, pos);
}

/* ---- table ------------------------------------------------------------ */

/* spec: TOKEN-9 */
uint64_t ho_ts_now(ho_token_store *s, uint64_t now_ms) {
  if (now_ms > s->now) s->now = now_ms;
  return s->now;
}

static uint32_t find_hashed(const ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES],
                            uint32_t h, uint32_t *slot) {
  uint32_t i = h & s->mask;
  for (;;) {
    uint32_t v = s->slots[i];
    if (v == 0) {
      *slot = i; /* first empty slot: where an insert goes */
      return HO_NIL;
    }
    const ho_tentry *t = &s->entries[v - 1];
    /* The hash is keyed by a secret, so neither the slot nor this test is
     * chosen by the token's bytes in a way a presenter can steer; the token
     * comparison itself is constant-time. spec: TOKEN-8 */
    if (t->hash == h && ho_token_equal(t->token, token)) {
      *slot = i;
      return v - 1;
    }
    i = (i + 1) & s->mask;
  }
}

uint32_t ho_ts_find(const ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint32_t *slot) {
  return find_hashed(s, token, token_hash(s, token), slot);
}

static void table_delete(ho_token_store *s, uint32_t i) {
  /* Backward-shift deletion for linear probing. */
  uint32_t j = i;
  for (;;) {
    s->slots[i] = 0;
    for (;;) {
      j = (j + 1) & s->mask;
      uint32_t v = s->slots[j];
      if (v == 0) return;
      uint32_t home = s->entries[v - 1].hash & s->mask;
      /* Move slots[j] into the hole at i unless its home lies cyclically in (i, j]. */
      if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
        s->slots[i] = v;
        i = j;
        break;
      }
    }
  }
}

void ho_ts_remove(ho_token_store *s, uint32_t e, uint32_t slot) {
  ho_tentry *t = &s->entries[e];
  if (t->where & HO_WHERE_ACK)
    ho_heap_delete(s, &s->ack, HO_WHERE_ACK, ho_where_pos(t->where));
  else
    ho_heap_delete(s, &s->ttl, 0, t->where);
  table_delete(s, slot);
  memset(t, 0, sizeof *t); /* no token bytes linger in freed entries */
  t->where = HO_WHERE_FREE;
  t->hash = s->free_head;
  s->free_head = e;
  s->count--;
}

/* Take a free entry for `token` (hash h, empty slot `slot`); PENDING until due. */
static void add_entry(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint32_t h,
                      uint32_t slot, uint64_t due) {
  uint32_t e = s->free_head;
  ho_tentry *t = &s->entries[e];
  s->free_head = t->hash;
  memset(t, 0, sizeof *t);
  memcpy(t->token, token, HO_TOKEN_BYTES);
  t->hash = h;
  t->due = due;
  s->slots[slot] = e + 1;
  ho_heap_push(s, &s->ttl, 0, e);
  s->count++;
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Remove PENDING tokens with due <= now; amortised O(1) per token over its
 * life (each is removed once). spec: TOKEN-3 TOKEN-5 */
static int prune(ho_token_store *s, uint64_t now) {
  int n = 0;
  while (s->ttl.len > 0) {
    uint32_t e = s->ttl.idx[0];
    if (s->entries[e].due > now) break;
    uint32_t slot;
    uint32_t found = find_hashed(s, s->entries[e].token, s->entries[e].hash, &slot);
    (void)found; /* always e: every entry in a heap is in the table */
    ho_ts_remove(s, e, slot);
    n++;
  }
  return n;
}

/* ---- public API ------------------------------------------------------- */

void ho_token_config_init(ho_token_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->ttl_ms = HO_TOKEN_DEFAULT_TTL_MS;
  cfg->ack_deadline_ms = HO_ACK_DEFAULT_DEADLINE_MS;
  cfg->max_pending = HO_TOKEN_DEFAULT_MAX_PENDING;
  cfg->collision_attempts = HO_TOKEN_DEFAULT_COLLISION_ATTEMPTS;
  cfg->random = ho_random_os;
}

int ho_token_store_new(ho_token_store **out, const ho_token_config *cfg) {
  ho_token_config def;
  if (!out) return HO_ERR_INVALID_ARGUMENT;
  if (!cfg) {
    ho_token_config_init(&def);
    cfg = &def;
  }
  if (cfg->max_pending > HO_TOKEN_MAX_PENDING_LIMIT) return HO_ERR_INVALID_ARGUMENT;
  ho_allocator a;
  if (ho_core_allocator(cfg->allocator, &a) != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  /* Zero counts and durations are clamped to 1, as the original. spec: TOKEN-10 */
  uint32_t max = cfg->max_pending ? cfg->max_pending : 1;
  uint32_t nslots = 2;
  while (nslots < 2 * max) nslots <<= 1; /* load factor <= 1/2 */

  ho_token_store *s = a.alloc(a.ctx, sizeof *s);
  if (!s) return HO_ERR_NOMEM;
  memset(s, 0, sizeof *s);
  s->alloc = a;
  s->random = cfg->random ? cfg->random : ho_random_os;
  s->random_ctx = cfg->random_ctx;
  s->ttl_ms = cfg->ttl_ms ? cfg->ttl_ms : 1;
  s->ack_deadline_ms = cfg->ack_deadline_ms ? cfg->ack_deadline_ms : 1;
  s->max_pending = max;
  s->collision_attempts = cfg->collision_attempts ? cfg->collision_attempts : 1;
  s->mask = nslots - 1;
  s->footprint = sizeof *s + (size_t)max * sizeof(ho_tentry) + (size_t)nslots * sizeof(uint32_t) +
                 2 * (size_t)max * sizeof(uint32_t);
  s->entries = a.alloc(a.ctx, (size_t)max * sizeof(ho_tentry));
  s->slots = a.alloc(a.ctx, (size_t)nslots * sizeof(uint32_t));
  s->ttl.idx = a.alloc(a.ctx, (size_t)max * sizeof(uint32_t));
  s->ack.idx = a.alloc(a.ctx, (size_t)max * sizeof(uint32_t));
  if (!s->entries || !s->slots || !s->ttl.idx || !s->ack.idx) {
    ho_token_store_del(s);
    return HO_ERR_NOMEM;
  }
  uint8_t key[16];
  if (s->random(s->random_ctx, key, sizeof key) != 0) {
    ho_token_store_del(s);
    return HO_ERR_RANDOM;
  }
  s->key[0] = load64le(key);
  s->key[1] = load64le(key + 8);
  memset(s->slots, 0, (size_t)nslots * sizeof(uint32_t));
  for (uint32_t i = 0; i < max; i++) {
    memset(&s->entries[i], 0, sizeof s->entries[i]);
    s->entries[i].where = HO_WHERE_FREE;
    s->entries[i].hash = i + 1 < max ? i + 1 : HO_NIL;
  }
  s->free_head = 0;
  *out = s;
  return HO_OK;
}

void ho_token_store_del(ho_token_store *s) {
  if (!s) return;
  ho_allocator a = s->alloc;
  if (s->entries) memset(s->entries, 0, (size_t)s->max_pending * sizeof(ho_tentry));
  a.free(a.ctx, s->entries);
  a.free(a.ctx, s->slots);
  a.free(a.ctx, s->ttl.idx);
  a.free(a.ctx, s->ack.idx);
  memset(s->key, 0, sizeof s->key);
  a.free(a.ctx, s);
}

/* spec: TOKEN-1 TOKEN-3 TOKEN-4 TOKEN-5 TOKEN-13 */
int ho_token_issue(ho_token_store *s, uint64_t now_ms, uint8_t out[HO_TOKEN_BYTES]) {
  if (!s || !out) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  prune(s, now);
  if (s->count >= s->max_pending) return HO_ERR_PENDING_LIMIT;
  uint8_t cand[HO_TOKEN_BYTES];
  for (uint32_t attempt = 0; attempt < s->collision_attempts; attempt++) {
    if (s->random(s->random_ctx, cand, sizeof cand) != 0) {
      memset(cand, 0, sizeof cand);
      return HO_ERR_RANDOM;
    }
    uint32_t h = token_hash(s, cand), slot;
    if (find_hashed(s, cand, h, &slot) != HO_NIL) continue; /* collision: next candidate */
    add_entry(s, cand, h, slot, add_sat(now, s->ttl_ms));
    memcpy(out, cand, HO_TOKEN_BYTES);
    memset(cand, 0, sizeof cand);
    return HO_OK;
  }
  memset(cand, 0, sizeof cand);
  return HO_ERR_COLLISION_EXHAUSTED;
}

/* What both inserts do: the entry expires the store's TTL after now (`ttl`)
 * or at `until_ms` (one after now if that is not later than now). */
static int insert(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                  bool ttl, uint64_t until_ms) {
  if (!s || !token) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  prune(s, now);
  uint32_t h = token_hash(s, token), slot;
  if (find_hashed(s, token, h, &slot) != HO_NIL) return HO_ERR_ALREADY_PENDING;
  if (s->count >= s->max_pending) return HO_ERR_PENDING_LIMIT;
  uint64_t expires = ttl ? add_sat(now, s->ttl_ms) : until_ms > now ? until_ms : add_sat(now, 1);
  add_entry(s, token, h, slot, expires);
  return HO_OK;
}

/* A backend's replay cache: spec: TOKEN-17 TOKEN-18 */
int ho_token_insert(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms) {
  return insert(s, token, now_ms, true, 0);
}

/* spec: TOKEN-17 TOKEN-18 */
int ho_token_insert_until(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                          uint64_t until_ms) {
  return insert(s, token, now_ms, false, until_ms);
}

/* spec: TOKEN-5 TOKEN-7 TOKEN-8 TOKEN-19 */
int ho_token_consume_matching(ho_token_store *s, const uint8_t expected[HO_TOKEN_BYTES],
                              const uint8_t presented[HO_TOKEN_BYTES], uint64_t now_ms) {
  if (!s || !expected || !presented) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  uint32_t slot;
  uint32_t e = ho_ts_find(s, expected, &slot);
  int rc;
  if (e == HO_NIL) {
    rc = HO_ERR_TOKEN_NOT_PENDING;
  } else if (ho_is_awaiting(&s->entries[e])) {
    rc = HO_ERR_STATE; /* untouched: it leaves through the ACK registry */
  } else if (s->entries[e].due <= now) {
    ho_ts_remove(s, e, slot);
    rc = HO_ERR_TOKEN_EXPIRED;
  } else if (!ho_token_equal(expected, presented)) {
    rc = HO_ERR_TOKEN_MISMATCH; /* not consumed */
  } else {
    ho_ts_remove(s, e, slot);
    rc = HO_OK;
  }
  prune(s, now); /* housekeeping after the decision: never changes it */
  return rc;
}

/* spec: TOKEN-7 */
int ho_token_revoke(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES]) {
  if (!s || !token) return HO_ERR_INVALID_ARGUMENT;
  uint32_t slot;
  uint32_t e = ho_ts_find(s, token, &slot);
  if (e == HO_NIL) return 0;
  if (ho_is_awaiting(&s->entries[e])) return HO_ERR_STATE;
  ho_ts_remove(s, e, slot);
  return 1;
}

int ho_token_prune_expired(ho_token_store *s, uint64_t now_ms) {
  if (!s) return HO_ERR_INVALID_ARGUMENT;
  return prune(s, ho_ts_now(s, now_ms));
}

int ho_token_state(const ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES]) {
  if (!s || !token) return HO_TOKEN_ABSENT;
  uint32_t slot;
  uint32_t e = ho_ts_find(s, token, &slot);
  if (e == HO_NIL) return HO_TOKEN_ABSENT;
  return ho_is_awaiting(&s->entries[e]) ? HO_TOKEN_AWAITING_ACK : HO_TOKEN_PENDING;
}

size_t ho_token_pending(const ho_token_store *s) { return s ? s->count : 0; }
size_t ho_ack_pending(const ho_token_store *s) { return s ? s->ack.len : 0; }

int ho_token_next_deadline(const ho_token_store *s, uint64_t *at_ms) {
  if (!s || !at_ms) return 0;
  int have = 0;
  uint64_t at = UINT64_MAX;
  if (s->ttl.len) {
    at = s->entries[s->ttl.idx[0]].due;
    have = 1;
  }
  if (s->ack.len && s->entries[s->ack.idx[0]].due < at) {
    at = s->entries[s->ack.idx[0]].due;
    have = 1;
  }
  if (have) *at_ms = at;
  return have;
}

size_t ho_token_store_footprint(const ho_token_store *s) { return s ? s->footprint : 0; }
