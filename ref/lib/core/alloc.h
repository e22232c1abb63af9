/* handoff core — the allocator resolution every core module's _new uses:
 * NULL means malloc/free; a caller allocator must have both functions.
 *
 * HO_NO_HEAP (the no-heap peer library, mk/nohp.mk): there is no default,
 * so the library references no heap function at all; NULL is refused and
 * the caller passes an allocator (for example handoff/arena.h). */
#ifndef HANDOFF_CORE_ALLOC_H
#define HANDOFF_CORE_ALLOC_H

#ifndef HO_NO_HEAP
#include <stdlib.h>
#endif

#include "handoff/error.h"
#include "handoff/token.h"

#ifndef HO_NO_HEAP
static inline void *ho_core_default_alloc(void *ctx, size_t n) {
  (void)ctx;
  return malloc(n);
}

static inline void ho_core_default_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}
#endif

/* *out = the allocator to use. Returns HO_OK, or HO_ERR_INVALID_ARGUMENT
 * for an allocator missing a function, or NULL under HO_NO_HEAP (*out
 * untouched). */
static inline int ho_core_allocator(const ho_allocator *in, ho_allocator *out) {
  if (in == NULL) {
#ifdef HO_NO_HEAP
    return HO_ERR_INVALID_ARGUMENT;
#else
    ho_allocator def = {ho_core_default_alloc, ho_core_default_free, NULL};
    *out = def;
    return HO_OK;
#endif
  }
  if (in->alloc == NULL || in->free == NULL) return HO_ERR_INVALID_ARGUMENT;
  *out = *in;
  return HO_OK;
}

#endif /* HANDOFF_CORE_ALLOC_H */
