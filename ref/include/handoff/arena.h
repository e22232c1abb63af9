/* handoff — a small allocator over memory the caller provides, for peers
 * without a heap (the no-heap peer library, libhandoff-nohp.a, has no
 * malloc at all) or callers who want every byte of the library's memory in
 * one buffer of their own.
 *
 *   static unsigned char mem[256 * 1024];
 *   ho_arena arena;          ho_arena_init(&arena, mem, sizeof mem);
 *   ho_allocator al = ho_arena_allocator(&arena);
 *   ho_backend_config cfg;   ho_backend_config_init(&cfg);
 *   cfg.allocator = &al;     cfg.replay_capacity = 256;
 *   ho_backend_core_new(&cfg, &core);   // core, replay set, every
 *                                       // connection's state and buffers
 *
 * Blocks are taken from the buffer in order (aligned for any object). A
 * freed block is kept on a free list and handed out again for a request of
 * the same size, so a steady workload (control connections that come and
 * go, offer buffers taken and given back: the backend core asks for a few
 * fixed sizes only) stops growing once it has seen its peak; nothing is
 * split or merged. ho_arena_reset() gives the whole buffer back at once.
 *
 * Threads: not thread-safe: one arena per thread, or a lock around the
 * library calls that allocate. fork: the child gets a copy of the buffer and
 * of the arena's bookkeeping; use an arena in one process only (what its
 * blocks hold belongs to that process's cores). No system call, no heap.
 */
#ifndef HANDOFF_ARENA_H
#define HANDOFF_ARENA_H

#include "handoff/version.h"

#include <stddef.h>

#include "handoff/token.h" /* ho_allocator */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ho_arena {
  unsigned char *base; /* aligned start of the caller's buffer */
  size_t cap;          /* usable bytes from base */
  size_t used;         /* bytes taken from the buffer so far (never shrinks
                          before ho_arena_reset) */
  size_t live;         /* bytes in blocks handed out and not freed */
  size_t failed;       /* requests refused for lack of room */
  void *free_list;     /* freed blocks (internal) */
} ho_arena;

/* Use buf[0..size) for the arena (the caller keeps it alive and untouched
 * while anything allocated from it is in use). Returns HO_OK, or
 * HO_ERR_INVALID_ARGUMENT (a NULL, or a NULL buf with size > 0; *a
 * untouched). A buffer too small for any block is valid: every request then
 * fails. */
HO_API int ho_arena_init(ho_arena *a, void *buf, size_t size);

/* An allocator drawing on `a` (alloc: NULL when the buffer has no room left;
 * free: NULL, or a pointer the arena did not hand out, is a no-op). The
 * arena must outlive every object created with it. For a NULL `a` both
 * functions are NULL, which every user of an allocator refuses
 * (HO_ERR_INVALID_ARGUMENT). */
HO_API ho_allocator ho_arena_allocator(ho_arena *a);

/* Forget every block: the whole buffer is free again. Only when nothing
 * allocated from the arena is in use any more. NULL is a no-op. */
HO_API void ho_arena_reset(ho_arena *a);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_ARENA_H */
