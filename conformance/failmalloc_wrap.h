/* The allocator wrappers of the failmalloc binaries (codec/test_failmalloc.c,
 * broker/test_broker_failmalloc.c), each linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free. While `armed`,
 * every allocation is counted (allocs), the fail_at-th one (1-based; 0:
 * none) returns NULL, and the blocks not yet freed are counted (live). A
 * binary that fails a particular calloc as well defines
 * FAILMALLOC_CALLOC_EXTRA(n, m) before it includes this: true fails that
 * calloc, uncounted. */
#ifndef HO_FAILMALLOC_WRAP_H
#define HO_FAILMALLOC_WRAP_H

#include <stddef.h>

#ifndef FAILMALLOC_CALLOC_EXTRA
#define FAILMALLOC_CALLOC_EXTRA(n, m) 0
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static volatile int armed;         /* count and fail only while armed */
static volatile long fail_at;      /* the allocation (1-based) that fails; 0: none */
static volatile long allocs, live; /* allocations seen, blocks not yet freed */

static int fail_now(void) {
  if (!armed) return 0;
  return ++allocs == fail_at;
}
void *__wrap_malloc(size_t n) {
  if (fail_now()) return NULL;
  void *p = __real_malloc(n);
  if (armed && p) live++;
  return p;
}
void *__wrap_calloc(size_t n, size_t m) {
  if (FAILMALLOC_CALLOC_EXTRA(n, m)) return NULL;
  if (fail_now()) return NULL;
  void *p = __real_calloc(n, m);
  if (armed && p) live++;
  return p;
}
void *__wrap_realloc(void *p, size_t n) {
  if (fail_now()) return NULL;
  void *q = __real_realloc(p, n);
  if (armed && q && !p) live++;
  return q;
}
void __wrap_free(void *p) {
  if (armed && p) live--;
  __real_free(p);
}

#endif
