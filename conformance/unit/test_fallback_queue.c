/* Unit tests: bounded pending-handoff queue (ref/lib/core/pending.c). */
#include <criterion/criterion.h>
#include <stdint.h>

#include "handoff/fallback.h"
#include "token_fixtures.h"

#define ITEM(i) ((void *)(uintptr_t)(i))

static ho_pending_queue *queue(uint32_t cap, uint64_t ttl) {
  ho_pending_config c;
  ho_pending_config_init(&c);
  c.capacity = cap;
  c.ttl_ms = ttl;
  ho_pending_queue *q = NULL;
  cr_assert_eq(ho_pending_queue_new(&q, &c), HO_OK);
  return q;
}

/* spec: FALLBACK-11 — The original's load test: 100 enqueues into 8 slots → 92 overflows. */
Test(pending_queue, overflow_is_refused_never_evicts) {
  ho_pending_queue *q = queue(8, 100);
  int full = 0;
  for (uintptr_t i = 1; i <= 100; i++) {
    int rc = ho_pending_queue_push(q, ITEM(i), 0, NULL);
    cr_assert(rc == HO_OK || rc == HO_ERR_QUEUE_FULL);
    full += rc == HO_ERR_QUEUE_FULL;
  }
  cr_assert_eq(full, 92);
  cr_assert_eq(ho_pending_queue_len(q), 8);
  void *it;
  for (uintptr_t i = 1; i <= 8; i++) {
    cr_assert_eq(ho_pending_queue_pop(q, 1, &it), HO_PENDING_READY);
    cr_assert_eq(it, ITEM(i), "FIFO: the first 8 stay, in order");
  }
  cr_assert_eq(ho_pending_queue_pop(q, 1, &it), 0);
  ho_pending_queue_del(q);
}

/* spec: FALLBACK-12 */
Test(pending_queue, expiry_exactly_at_ttl_frees_space) {
  ho_pending_queue *q = queue(2, 100);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(1), 0, NULL), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(2), 50, NULL), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(3), 60, NULL), HO_ERR_QUEUE_FULL);
  uint64_t at;
  cr_assert_eq(ho_pending_queue_next_deadline(q, &at), 1);
  cr_assert_eq(at, 100);
  void *out[4];
  size_t n = 9;
  cr_assert_eq(ho_pending_queue_expire(q, 99, out, 4, &n), HO_OK);
  cr_assert_eq(n, 0);
  cr_assert_eq(ho_pending_queue_expire(q, 100, out, 4, &n), HO_OK);
  cr_assert_eq(n, 1, "now == enqueued + ttl: expired");
  cr_assert_eq(out[0], ITEM(1));
  cr_assert_eq(ho_pending_queue_push(q, ITEM(3), 100, NULL), HO_OK, "space freed");
  cr_assert_eq(ho_pending_queue_next_deadline(q, &at), 1);
  cr_assert_eq(at, 150);
  ho_pending_queue_del(q);
}

/* spec: FALLBACK-12 */
Test(pending_queue, pop_reports_expired_entries) {
  ho_pending_queue *q = queue(4, 100);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(1), 0, NULL), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(2), 10, NULL), HO_OK);
  void *it = NULL;
  cr_assert_eq(ho_pending_queue_pop(q, 105, &it), HO_PENDING_EXPIRED);
  cr_assert_eq(it, ITEM(1));
  cr_assert_eq(ho_pending_queue_pop(q, 105, &it), HO_PENDING_READY);
  cr_assert_eq(it, ITEM(2));
  it = ITEM(99);
  cr_assert_eq(ho_pending_queue_pop(q, 105, &it), 0);
  cr_assert_eq(it, ITEM(99), "untouched when empty");
  uint64_t at = 5;
  cr_assert_eq(ho_pending_queue_next_deadline(q, &at), 0);
  cr_assert_eq(at, 5);
  ho_pending_queue_del(q);
}

/* spec: FALLBACK-12 */
Test(pending_queue, remove_by_ticket_once) {
  ho_pending_queue *q = queue(3, 100);
  uint64_t t1, t2, t3;
  cr_assert_eq(ho_pending_queue_push(q, ITEM(1), 0, &t1), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(2), 0, &t2), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, ITEM(3), 0, &t3), HO_OK);
  void *it = NULL;
  cr_assert_eq(ho_pending_queue_remove(q, t2, &it), 1);
  cr_assert_eq(it, ITEM(2));
  cr_assert_eq(ho_pending_queue_remove(q, t2, &it), 0, "already left");
  /* The freed slot is reused: the old ticket must not remove the new entry. */
  uint64_t t4;
  cr_assert_eq(ho_pending_queue_push(q, ITEM(4), 1, &t4), HO_OK);
  cr_assert_neq(t4, t2);
  cr_assert_eq(ho_pending_queue_remove(q, t2, NULL), 0, "stale ticket");
  cr_assert_eq(ho_pending_queue_remove(q, UINT64_MAX, NULL), 0, "bogus ticket");
  cr_assert_eq(ho_pending_queue_pop(q, 2, &it), HO_PENDING_READY);
  cr_assert_eq(it, ITEM(1));
  cr_assert_eq(ho_pending_queue_pop(q, 2, &it), HO_PENDING_READY);
  cr_assert_eq(it, ITEM(3));
  cr_assert_eq(ho_pending_queue_remove(q, t4, NULL), 1);
  cr_assert_eq(ho_pending_queue_len(q), 0);
  cr_assert_eq(ho_pending_queue_remove(q, t1, NULL), 0, "popped entries are gone");
  ho_pending_queue_del(q);
}

/* spec: FALLBACK-12 TOKEN-9 */
Test(pending_queue, expire_in_chunks_and_clock_step_back) {
  ho_pending_queue *q = queue(8, 10);
  for (uintptr_t i = 0; i < 5; i++) cr_assert_eq(ho_pending_queue_push(q, ITEM(i + 1), 100, NULL), HO_OK);
  /* clock steps back: treated as 100, so these expire at 110 too */
  cr_assert_eq(ho_pending_queue_push(q, ITEM(6), 50, NULL), HO_OK);
  void *out[2];
  size_t n, total = 0;
  uintptr_t expect = 1;
  do {
    cr_assert_eq(ho_pending_queue_expire(q, 110, out, 2, &n), HO_OK);
    for (size_t k = 0; k < n; k++) cr_assert_eq(out[k], ITEM(expect++), "oldest first");
    total += n;
  } while (n == 2);
  cr_assert_eq(total, 6);
  cr_assert_eq(ho_pending_queue_len(q), 0);
  ho_pending_queue_del(q);
}

/* spec: FALLBACK-11 FALLBACK-12 */
Test(pending_queue, random_churn_against_a_fifo_model) {
  enum { CAP = 16 };
  ho_pending_queue *q = queue(CAP, 50);
  enum { MAXQ = 1 << 17 };
  static uintptr_t model[MAXQ];
  static uint64_t due[MAXQ], tickets[MAXQ];
  static int alive[MAXQ];
  size_t head = 0, tail = 0, live = 0;
  uint64_t now = 0, rng = 12345;
  for (int step = 0; step < 200000; step++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    unsigned op = (unsigned)(rng >> 60) % 5;
    if (tail == MAXQ) break;
    void *it = NULL;
    if (op <= 1) {
      int rc = ho_pending_queue_push(q, ITEM(tail + 1), now, &tickets[tail]);
      if (live == CAP) {
        cr_assert_eq(rc, HO_ERR_QUEUE_FULL);
      } else {
        cr_assert_eq(rc, HO_OK);
        model[tail] = tail + 1;
        due[tail] = now + 50;
        alive[tail] = 1;
        tail++;
        live++;
      }
    } else if (op == 2) {
      while (head < tail && !alive[head]) head++;
      int rc = ho_pending_queue_pop(q, now, &it);
      if (head == tail) {
        cr_assert_eq(rc, 0);
      } else {
        cr_assert_eq(rc, due[head] <= now ? HO_PENDING_EXPIRED : HO_PENDING_READY);
        cr_assert_eq(it, ITEM(model[head]));
        alive[head++] = 0;
        live--;
      }
    } else if (op == 3 && tail > head) {
      size_t k = head + (size_t)(rng >> 8) % (tail - head);
      int rc = ho_pending_queue_remove(q, tickets[k], &it);
      cr_assert_eq(rc, alive[k]);
      if (alive[k]) {
        alive[k] = 0;
        live--;
      }
    } else {
      now += (rng >> 20) % 20;
      void *out[CAP];
      size_t n;
      cr_assert_eq(ho_pending_queue_expire(q, now, out, CAP, &n), HO_OK);
      for (size_t k = 0; k < n; k++) {
        while (!alive[head]) head++;
        cr_assert_leq(due[head], now);
        cr_assert_eq(out[k], ITEM(model[head]));
        alive[head++] = 0;
        live--;
      }
      while (head < tail && !alive[head]) head++;
      cr_assert(head == tail || due[head] > now, "an expired entry was left behind");
    }
    cr_assert_eq(ho_pending_queue_len(q), live);
  }
  ho_pending_queue_del(q);
}

Test(pending_queue, allocation_failure_and_arguments) {
  for (unsigned k = 1; k <= 2; k++) {
    fx_alloc a = {.fail_at = k};
    ho_allocator al = {fx_alloc_fn, fx_free_fn, &a};
    ho_pending_config c;
    ho_pending_config_init(&c);
    c.allocator = &al;
    ho_pending_queue *q = (ho_pending_queue *)0x1;
    cr_assert_eq(ho_pending_queue_new(&q, &c), HO_ERR_NOMEM);
    cr_assert_eq(q, (ho_pending_queue *)0x1);
    cr_assert_eq(a.allocs, a.frees);
  }
  ho_pending_config c;
  ho_pending_config_init(&c);
  c.capacity = (1u << 24) + 1;
  ho_pending_queue *q;
  cr_assert_eq(ho_pending_queue_new(&q, &c), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_new(&q, NULL), HO_OK);
  size_t n;
  cr_assert_eq(ho_pending_queue_push(NULL, NULL, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_pop(q, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_expire(q, 0, NULL, 1, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_remove(NULL, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  for (int i = 0; i < 64; i++) cr_assert_eq(ho_pending_queue_push(q, NULL, 0, NULL), HO_OK);
  cr_assert_eq(ho_pending_queue_push(q, NULL, 0, NULL), HO_ERR_QUEUE_FULL, "default capacity 64");
  ho_pending_queue_del(q);
  ho_pending_queue_del(NULL);
}
