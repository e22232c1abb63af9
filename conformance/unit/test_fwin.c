/* Unit tests: the core's fixed-window counter (ref/lib/core/fwin.c), the one
 * mechanism under the broker's Hello rate (HELLO-14) and the failed-attempt
 * budget (FALLBACK-7, FALLBACK-10). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/fwin.h"

#define W 1000u /* window, ms */

static ho_fwin mk(uint32_t cap) {
  ho_fwin w;
  cr_assert_eq(ho_fwin_init(&w, cap, W, NULL), HO_OK);
  return w;
}

static ho_fwin_entry *hit(ho_fwin *w, uint64_t key, uint64_t now) {
  now = ho_fwin_advance(w, now);
  ho_fwin_entry *e = ho_fwin_find(w, key);
  if (e == NULL && ho_fwin_open(w, key, now, &e) != HO_OK) return NULL;
  e->count++;
  return e;
}

static int alloc_budget;
static void *budget_alloc(void *ctx, size_t n) {
  (void)ctx;
  return alloc_budget-- > 0 ? malloc(n) : NULL;
}
static void budget_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

Test(fwin, init_refuses_bad_arguments) {
  ho_fwin w;
  cr_assert_eq(ho_fwin_init(NULL, 1, W, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_fwin_init(&w, 0, W, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_fwin_init(&w, (1u << 24) + 1, W, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_fwin_init(&w, 4, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  ho_allocator half = {NULL, budget_free, NULL};
  cr_assert_eq(ho_fwin_init(&w, 4, W, &half), HO_ERR_INVALID_ARGUMENT);
  ho_fwin_free(&w); /* zeroed: safe */
  ho_fwin_free(NULL);
}

/* Every allocation failure: NOMEM, nothing leaked (ASan checks), *w zeroed. */
Test(fwin, init_out_of_memory_leaks_nothing) {
  ho_allocator a = {budget_alloc, budget_free, NULL};
  for (int budget = 0; budget < 2; budget++) {
    alloc_budget = budget;
    ho_fwin w;
    cr_assert_eq(ho_fwin_init(&w, 8, W, &a), HO_ERR_NOMEM);
    cr_assert_null(w.ring);
    cr_assert_null(w.index);
  }
  alloc_budget = 2;
  ho_fwin w;
  cr_assert_eq(ho_fwin_init(&w, 8, W, &a), HO_OK);
  ho_fwin_free(&w);
}

/* spec: FALLBACK-7 HELLO-14 — the window starts at the first event and
 * ends `window` later, exactly: at start + window the count is gone. */
Test(fwin, window_starts_at_first_event_and_ends_after_window) {
  ho_fwin w = mk(4);
  cr_assert_eq(hit(&w, 7, 100)->count, 1);
  cr_assert_eq(hit(&w, 7, 600)->count, 2);
  ho_fwin_entry *e = hit(&w, 7, 1099);
  cr_assert_eq(e->count, 3);
  cr_assert_eq(e->start, 100);
  cr_assert_eq(ho_fwin_left(&w, e, 1099), 1);
  ho_fwin_advance(&w, 1100);
  cr_assert_null(ho_fwin_find(&w, 7));
  e = hit(&w, 7, 1100);
  cr_assert_eq(e->count, 1);
  cr_assert_eq(e->start, 1100);
  ho_fwin_free(&w);
}

/* A clock that goes back is clamped: nothing ends early, nothing revives. */
Test(fwin, clock_going_back_is_clamped) {
  ho_fwin w = mk(4);
  hit(&w, 1, 5000);
  cr_assert_eq(ho_fwin_advance(&w, 10), 5000);
  ho_fwin_entry *e = hit(&w, 1, 10);
  cr_assert_eq(e->count, 2);
  cr_assert_eq(ho_fwin_left(&w, e, 0), W);
  ho_fwin_advance(&w, 6000);
  cr_assert_null(ho_fwin_find(&w, 1));
  ho_fwin_advance(&w, 5500); /* back again: the ended window stays ended */
  cr_assert_null(ho_fwin_find(&w, 1));
  ho_fwin_free(&w);
}

/* spec: FALLBACK-10 HELLO-14 — at most cap live windows; a new key is
 * refused until the oldest ends, and the oldest says when. */
Test(fwin, full_table_refuses_until_the_oldest_window_ends) {
  ho_fwin w = mk(3);
  cr_assert_not_null(hit(&w, 1, 0));
  cr_assert_not_null(hit(&w, 2, 10));
  cr_assert_not_null(hit(&w, 3, 20));
  cr_assert_null(hit(&w, 4, 30));
  cr_assert_eq(w.live, 3);
  const ho_fwin_entry *o = ho_fwin_oldest(&w);
  cr_assert_eq(o->key, 1);
  cr_assert_eq(ho_fwin_left(&w, o, 30), W - 30);
  cr_assert_not_null(hit(&w, 2, 999)); /* known keys still count */
  cr_assert_not_null(hit(&w, 4, 1000)); /* key 1's window ended: room */
  cr_assert_null(ho_fwin_find(&w, 1));
  cr_assert_eq(ho_fwin_oldest(&w)->key, 2);
  ho_fwin_free(&w);
}

/* spec: FALLBACK-8 — a window closed early frees its slot at once; the
 * dead ring slots it leaves are compacted without losing a live window. */
Test(fwin, closed_windows_free_their_slot_and_are_compacted) {
  ho_fwin w = mk(2);
  hit(&w, 100, 0); /* a long-lived window across all the churn */
  for (uint64_t i = 0; i < 50; i++) {
    cr_assert_not_null(hit(&w, 1000 + i, i), "round %llu", (unsigned long long)i);
    ho_fwin_close(&w, 1000 + i);
    cr_assert_null(ho_fwin_find(&w, 1000 + i));
    cr_assert_leq(w.used, w.ring_size);
  }
  cr_assert_eq(w.live, 1);
  ho_fwin_entry *e = ho_fwin_find(&w, 100);
  cr_assert_not_null(e);
  cr_assert_eq(e->start, 0);
  cr_assert_eq(ho_fwin_oldest(&w)->key, 100);
  ho_fwin_close(&w, 555); /* unknown: nothing */
  cr_assert_eq(w.live, 1);
  ho_fwin_advance(&w, W);
  cr_assert_eq(w.live, 0);
  cr_assert_null(ho_fwin_oldest(&w));
  ho_fwin_free(&w);
}

/* Against a plain model: random hits, closes and clock steps over few keys
 * and a small table; every key's count and start agree after every step. */
#define MK 12
Test(fwin, agrees_with_a_plain_model) {
  const uint32_t cap = 5;
  ho_fwin w = mk(cap);
  struct {
    int live;
    uint64_t start;
    uint32_t count;
  } m[MK];
  memset(m, 0, sizeof m);
  uint64_t now = 0, x = 0x9e3779b97f4a7c15ull;
  for (int step = 0; step < 20000; step++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t k = x % MK;
    int op = (int)((x >> 8) % 10);
    now += (x >> 16) % 90;
    for (int i = 0; i < MK; i++)
      if (m[i].live && now - m[i].start >= W) m[i].live = 0;
    int live = 0;
    for (int i = 0; i < MK; i++) live += m[i].live;
    if (op < 7) {
      ho_fwin_entry *e = hit(&w, k, now);
      if (m[k].live) {
        m[k].count++;
      } else if (live < (int)cap) {
        m[k].live = 1, m[k].start = now, m[k].count = 1;
      }
      cr_assert_eq(e != NULL, m[k].live != 0, "step %d", step);
    } else {
      ho_fwin_advance(&w, now);
      ho_fwin_close(&w, k);
      m[k].live = 0;
    }
    uint64_t oldest = UINT64_MAX;
    for (int i = 0; i < MK; i++) {
      ho_fwin_entry *e = ho_fwin_find(&w, (uint64_t)i);
      cr_assert_eq(e != NULL, m[i].live != 0, "step %d key %d", step, i);
      if (e) {
        cr_assert_eq(e->count, m[i].count, "step %d key %d", step, i);
        cr_assert_eq(e->start, m[i].start, "step %d key %d", step, i);
        if (m[i].start < oldest) oldest = m[i].start;
      }
    }
    const ho_fwin_entry *o = ho_fwin_oldest(&w);
    cr_assert_eq(o ? o->start : UINT64_MAX, oldest, "step %d", step);
  }
  ho_fwin_free(&w);
}
