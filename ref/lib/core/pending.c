/* handoff — bounded pending-handoff queue: FIFO, TTL, O(1) removal by
 * ticket, no eviction (overflow is refused, QUEUE_FULL). A doubly linked
 * list over a preallocated slot pool; tickets carry a generation so a stale
 * ticket never removes a later entry of the same slot. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "handoff/fallback.h"

#define NIL 0xFFFFFFFFu

typedef struct pq_slot {
  void *item;
  uint64_t due; /* enqueued + ttl */
  uint32_t prev, next;
  uint32_t gen; /* bumped on every use; never 0 while queued */
  uint32_t used;
} pq_slot;

struct ho_pending_queue {
  ho_allocator alloc;
  uint32_t cap;
  uint32_t len;
  uint64_t ttl_ms;
  uint64_t now;
  uint32_t head, tail, free_head;
  pq_slot *slots;
};

void ho_pending_config_init(ho_pending_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->capacity = HO_PENDING_DEFAULT_CAPACITY;
  cfg->ttl_ms = HO_PENDING_DEFAULT_TTL_MS;
}

int ho_pending_queue_new(ho_pending_queue **out, const ho_pending_config *cfg) {
  ho_pending_config def;
  if (!out) return HO_ERR_INVALID_ARGUMENT;
  if (!cfg) {
    ho_pending_config_init(&def);
    cfg = &def;
  }
  if (cfg->capacity > (1u << 24)) return HO_ERR_INVALID_ARGUMENT;
  ho_allocator a;
  if (ho_core_allocator(cfg->allocator, &a) != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  uint32_t cap = cfg->capacity ? cfg->capacity : 1;
  ho_pending_queue *q = a.alloc(a.ctx, sizeof *q);
  if (!q) return HO_ERR_NOMEM;
  memset(q, 0, sizeof *q);
  q->slots = a.alloc(a.ctx, (size_t)cap * sizeof(pq_slot));
  if (!q->slots) {
    a.free(a.ctx, q);
    return HO_ERR_NOMEM;
  }
  q->alloc = a;
  q->cap = cap;
  q->ttl_ms = cfg->ttl_ms ? cfg->ttl_ms : 1;
  q->head = q->tail = NIL;
  for (uint32_t i = 0; i < cap; i++) {
    memset(&q->slots[i], 0, sizeof q->slots[i]);
    q->slots[i].next = i + 1 < cap ? i + 1 : NIL;
    q->slots[i].prev = NIL;
  }
  q->free_head = 0;
  *out = q;
  return HO_OK;
}

void ho_pending_queue_del(ho_pending_queue *q) {
  if (!q) return;
  q->alloc.free(q->alloc.ctx, q->slots);
  q->alloc.free(q->alloc.ctx, q);
}

static uint64_t clamp_now(ho_pending_queue *q, uint64_t now) {
  if (now > q->now) q->now = now;
  return q->now;
}

static void unlink_slot(ho_pending_queue *q, uint32_t i) {
  pq_slot *s = &q->slots[i];
  if (s->prev != NIL) q->slots[s->prev].next = s->next;
  else q->head = s->next;
  if (s->next != NIL) q->slots[s->next].prev = s->prev;
  else q->tail = s->prev;
  s->used = 0;
  s->item = NULL;
  s->prev = NIL;
  s->next = q->free_head;
  q->free_head = i;
  q->len--;
}

/* spec: FALLBACK-11 TOKEN-9 */
int ho_pending_queue_push(ho_pending_queue *q, void *item, uint64_t now_ms, uint64_t *ticket) {
  if (!q) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = clamp_now(q, now_ms);
  if (q->len >= q->cap) return HO_ERR_QUEUE_FULL; /* never evict to make room */
  uint32_t i = q->free_head;
  pq_slot *s = &q->slots[i];
  q->free_head = s->next;
  s->gen++;
  if (s->gen == 0) s->gen = 1;
  s->used = 1;
  s->item = item;
  s->due = now > UINT64_MAX - q->ttl_ms ? UINT64_MAX : now + q->ttl_ms;
  s->prev = q->tail;
  s->next = NIL;
  if (q->tail != NIL) q->slots[q->tail].next = i;
  else q->head = i;
  q->tail = i;
  q->len++;
  if (ticket) *ticket = ((uint64_t)s->gen << 32) | i;
  return HO_OK;
}

/* spec: FALLBACK-12 */
int ho_pending_queue_pop(ho_pending_queue *q, uint64_t now_ms, void **item) {
  if (!q || !item) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = clamp_now(q, now_ms);
  if (q->head == NIL) return 0;
  uint32_t i = q->head;
  int rc = q->slots[i].due <= now ? HO_PENDING_EXPIRED : HO_PENDING_READY;
  *item = q->slots[i].item;
  unlink_slot(q, i);
  return rc;
}

int ho_pending_queue_peek(const ho_pending_queue *q, uint64_t now_ms, void **item) {
  if (!q || !item) return HO_ERR_INVALID_ARGUMENT;
  if (q->head == NIL) return 0;
  uint64_t now = now_ms > q->now ? now_ms : q->now;
  *item = q->slots[q->head].item;
  return q->slots[q->head].due <= now ? HO_PENDING_EXPIRED : HO_PENDING_READY;
}

/* spec: FALLBACK-12 */
int ho_pending_queue_expire(ho_pending_queue *q, uint64_t now_ms, void **out, size_t cap,
                            size_t *n) {
  if (!q || !n || (!out && cap > 0)) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = clamp_now(q, now_ms);
  size_t k = 0;
  /* FIFO order is expiry order: one TTL and a non-decreasing clock. */
  while (k < cap && q->head != NIL && q->slots[q->head].due <= now) {
    out[k++] = q->slots[q->head].item;
    unlink_slot(q, q->head);
  }
  *n = k;
  return HO_OK;
}

/* spec: FALLBACK-12 */
int ho_pending_queue_remove(ho_pending_queue *q, uint64_t ticket, void **item) {
  if (!q) return HO_ERR_INVALID_ARGUMENT;
  uint32_t i = (uint32_t)ticket, gen = (uint32_t)(ticket >> 32);
  if (i >= q->cap || !q->slots[i].used || q->slots[i].gen != gen) return 0;
  if (item) *item = q->slots[i].item;
  unlink_slot(q, i);
  return 1;
}

size_t ho_pending_queue_len(const ho_pending_queue *q) { return q ? q->len : 0; }

int ho_pending_queue_next_deadline(const ho_pending_queue *q, uint64_t *at_ms) {
  if (!q || !at_ms || q->head == NIL) return 0;
  *at_ms = q->slots[q->head].due;
  return 1;
}
