/* handoff — the caller-memory allocator of handoff/arena.h: blocks taken in
 * order from the caller's buffer, each behind a small header holding its
 * size; a freed block goes on a free list and is reused for a request of
 * the same (rounded) size. No heap, no system call. */
#include "handoff/arena.h"

#include <stdalign.h>
#include <stdint.h>

#include "handoff/error.h"

typedef struct blk {
  size_t size;      /* payload bytes (rounded) */
  struct blk *next; /* on the free list */
} blk;

#define ALIGN ((size_t)alignof(max_align_t))
#define ROUND(n) (((n) + ALIGN - 1) & ~(ALIGN - 1))
#define HDR ROUND(sizeof(blk))

int ho_arena_init(ho_arena *a, void *buf, size_t size) {
  if (a == NULL || (buf == NULL && size > 0)) return HO_ERR_INVALID_ARGUMENT;
  uintptr_t p = (uintptr_t)buf;
  size_t skip = (size_t)(ROUND(p) - p);
  a->base = (unsigned char *)buf + (skip < size ? skip : size);
  a->cap = skip < size ? size - skip : 0;
  a->used = a->live = a->failed = 0;
  a->free_list = NULL;
  return HO_OK;
}

void ho_arena_reset(ho_arena *a) {
  if (a == NULL) return;
  a->used = a->live = 0;
  a->free_list = NULL;
}

static void *arena_alloc(void *ctx, size_t n) {
  ho_arena *a = ctx;
  if (n == 0) n = 1; /* a unique pointer, as malloc(0) may give */
  if (n > a->cap) {
    a->failed++;
    return NULL;
  }
  size_t r = ROUND(n);
  for (blk **pp = (blk **)&a->free_list; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->size == r) {
      blk *b = *pp;
      *pp = b->next;
      a->live += r;
      return (unsigned char *)b + HDR;
    }
  }
  if (a->cap - a->used < HDR || a->cap - a->used - HDR < r) {
    a->failed++;
    return NULL;
  }
  blk *b = (blk *)(a->base + a->used);
  b->size = r;
  b->next = NULL;
  a->used += HDR + r;
  a->live += r;
  return (unsigned char *)b + HDR;
}

static void arena_free(void *ctx, void *p) {
  ho_arena *a = ctx;
  unsigned char *q = p;
  /* NULL, or a pointer this arena never handed out: nothing to do. */
  if (q == NULL || q < a->base + HDR || q >= a->base + a->used) return;
  blk *b = (blk *)(q - HDR);
  b->next = a->free_list;
  a->free_list = b;
  a->live -= b->size;
}

ho_allocator ho_arena_allocator(ho_arena *a) {
  ho_allocator al = {NULL, NULL, NULL}; /* NULL arena: refused where it is used */
  if (a != NULL) al = (ho_allocator){arena_alloc, arena_free, a};
  return al;
}
