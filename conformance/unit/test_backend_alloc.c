/* The backend core on a caller allocator (issue #15 item 5): every
 * allocation goes through ho_backend_config.allocator and is given back,
 * a failing one is HO_ERR_NOMEM with nothing leaked, and the arena of
 * handoff/arena.h behaves as its header says. */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff/arena.h"
#include "handoff/backend.h"
#include "handoff/frame.h"

/* ---- arena ---------------------------------------------------------------- */

static unsigned char mem[4096] __attribute__((aligned(64)));

Test(arena, init_checks_its_arguments) {
  ho_arena a;
  cr_assert_eq(ho_arena_init(NULL, mem, sizeof mem), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_arena_init(&a, NULL, 16), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_arena_init(&a, NULL, 0), HO_OK);
  ho_allocator al = ho_arena_allocator(&a);
  cr_assert_null(al.alloc(al.ctx, 1), "an empty arena has no room");
  cr_assert_eq(a.failed, 1);
  ho_allocator none = ho_arena_allocator(NULL);
  cr_assert(none.alloc == NULL && none.free == NULL);
}

Test(arena, blocks_are_aligned_disjoint_and_bounded) {
  ho_arena a;
  cr_assert_eq(ho_arena_init(&a, mem + 1, sizeof mem - 1), HO_OK); /* unaligned buffer */
  ho_allocator al = ho_arena_allocator(&a);
  unsigned char *p = al.alloc(al.ctx, 10), *q = al.alloc(al.ctx, 100);
  cr_assert(p != NULL && q != NULL);
  cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0);
  cr_assert_eq((uintptr_t)q % alignof(max_align_t), 0);
  cr_assert(q >= p + 10, "blocks do not overlap");
  cr_assert(q + 100 <= mem + sizeof mem);
  cr_assert_null(al.alloc(al.ctx, sizeof mem), "larger than the buffer");
  size_t n = 0;
  while (al.alloc(al.ctx, 64) != NULL) n++;
  cr_assert_gt(n, 0);
  cr_assert_leq(a.used, a.cap);
  cr_assert_geq(a.failed, 2);
}

Test(arena, a_freed_block_serves_the_same_size_again) {
  ho_arena a;
  ho_arena_init(&a, mem, sizeof mem);
  ho_allocator al = ho_arena_allocator(&a);
  void *p = al.alloc(al.ctx, 200);
  size_t used = a.used;
  al.free(al.ctx, p);
  cr_assert_eq(a.live, 0);
  cr_assert_eq(al.alloc(al.ctx, 200), p, "same size: the same block");
  cr_assert_eq(a.used, used, "nothing new taken");
  void *r = al.alloc(al.ctx, 1000);
  cr_assert(r != NULL && r != p);
  cr_assert_gt(a.used, used, "another size: a new block");
  al.free(al.ctx, NULL);                 /* no-op */
  al.free(al.ctx, mem + sizeof mem - 8); /* not handed out: ignored */
  size_t al_ = alignof(max_align_t);
  cr_assert_eq(a.live, (200 + al_ - 1) / al_ * al_ + (1000 + al_ - 1) / al_ * al_,
               "sizes rounded to the alignment");
  ho_arena_reset(&a);
  cr_assert(a.used == 0 && a.live == 0);
}

/* ---- the backend core's allocations ------------------------------------ */

typedef struct counting {
  size_t allocs, frees, live;
  size_t fail_at; /* fail the allocation with this index (1-based), 0: never */
  size_t largest;
} counting;

static void *c_alloc(void *ctx, size_t n) {
  counting *c = ctx;
  if (c->fail_at != 0 && c->allocs + 1 == c->fail_at) {
    c->allocs++;
    return NULL;
  }
  void *p = malloc(n);
  if (p != NULL) {
    c->allocs++;
    c->live++;
    if (n > c->largest) c->largest = n;
  }
  return p;
}

static void c_free(void *ctx, void *p) {
  counting *c = ctx;
  if (p == NULL) return;
  c->frees++;
  c->live--;
  free(p);
}

static void close_fd(void *ctx, ho_handle h) {
  (void)ctx;
  close((int)h);
}

static void config(ho_backend_config *cfg, const ho_allocator *al) {
  ho_backend_config_init(cfg);
  cfg->close_handle = close_fd;
  cfg->replay_capacity = 8;
  cfg->allocator = al;
}

Test(backend_alloc, an_allocator_without_both_functions_is_refused) {
  ho_allocator half = {c_alloc, NULL, NULL};
  ho_backend_config cfg;
  config(&cfg, &half);
  ho_backend_core *core = NULL;
  cr_assert_eq(ho_backend_core_new(&cfg, &core), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(core);
}

/* spec: BACKEND-11 — a large offer takes one buffer (a power of two within
 * 64 KiB) from the allocator while it is read, and gives it back. */
Test(backend_alloc, every_allocation_goes_through_it_and_comes_back) {
  counting c = {0};
  ho_allocator al = {c_alloc, c_free, &c};
  ho_backend_config cfg;
  config(&cfg, &al);
  ho_backend_core *core = NULL;
  ho_backend_ctl *ctl = NULL;
  cr_assert_eq(ho_backend_core_new(&cfg, &core), HO_OK);
  size_t after_core = c.allocs;
  cr_assert_gt(after_core, 1, "the core and its replay set");
  cr_assert_eq(ho_backend_ctl_new(core, &ctl), HO_OK);
  size_t after_ctl = c.allocs;
  cr_assert_eq(after_ctl - after_core, 2, "state and action queue");
  uint8_t in[16 + 5 + 2000];
  memset(in, 0, sizeof in);
  cr_assert_eq(ho_frame_write_header(in + 16, 2000), HO_OK);
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(ctl, 1, in, sizeof in, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, sizeof in);
  cr_assert_eq(c.allocs, after_ctl + 1, "one offer buffer");
  cr_assert_eq(c.largest >= 2048 && c.largest <= 64u * 1024u, 1);
  cr_assert_eq(c.frees, 1, "given back once the offer is processed");
  ho_backend_action act;
  int closed = 0;
  while (ho_backend_ctl_next_action(ctl, &act)) closed |= act.type == HO_BACKEND_ACT_CLOSE_CONTROL;
  cr_assert(closed, "an undecodable offer closes the control connection");
  ho_backend_ctl_del(ctl);
  ho_backend_core_del(core);
  cr_assert_eq(c.live, 0, "every block freed");
  cr_assert_eq(c.allocs, c.frees);
}

Test(backend_alloc, a_failing_allocation_is_nomem_and_leaks_nothing) {
  int ok = 0;
  for (size_t k = 1; k < 32 && !ok; k++) {
    counting c = {0};
    c.fail_at = k;
    ho_allocator al = {c_alloc, c_free, &c};
    ho_backend_config cfg;
    config(&cfg, &al);
    ho_backend_core *core = NULL;
    ho_backend_ctl *ctl = NULL;
    int rc = ho_backend_core_new(&cfg, &core);
    if (rc == HO_OK) {
      rc = ho_backend_ctl_new(core, &ctl);
      if (rc == HO_OK) ok = 1;
      else cr_assert_null(ctl);
      ho_backend_ctl_del(ctl);
      ho_backend_core_del(core);
    } else {
      cr_assert_null(core);
    }
    if (!ok) cr_assert_eq(rc, HO_ERR_NOMEM, "failure %zu: %s", k, ho_errname(rc));
    cr_assert_eq(c.live, 0, "failure %zu: nothing leaked", k);
  }
  cr_assert(ok, "some allocation count suffices");
}

/* The arena under the core: a connection that closes gives its memory to
 * the next one. */
Test(backend_alloc, connections_reuse_the_arena) {
  static unsigned char big[256 * 1024];
  ho_arena a;
  ho_arena_init(&a, big, sizeof big);
  ho_allocator al = ho_arena_allocator(&a);
  ho_backend_config cfg;
  config(&cfg, &al);
  ho_backend_core *core = NULL;
  cr_assert_eq(ho_backend_core_new(&cfg, &core), HO_OK);
  size_t peak = 0;
  for (int i = 0; i < 20; i++) {
    ho_backend_ctl *ctl = NULL;
    cr_assert_eq(ho_backend_ctl_new(core, &ctl), HO_OK, "connection %d", i);
    ho_backend_ctl_del(ctl);
    if (i == 0) peak = a.used;
  }
  cr_assert_eq(a.used, peak, "no growth after the first connection");
  ho_backend_core_del(core);
  cr_assert_eq(a.live, 0);
}
