/* handoff core — the allocator resolution every core module's _new uses:
 * NULL means malloc/free; a caller allocator must have both functions. */
#ifndef HANDOFF_CORE_ALLOC_H
#define HANDOFF_CORE_ALLOC_H

#include <stdlib.h>

#include "handoff/error.h"
#include "handoff/token.h"

static inline void *ho_core_default_alloc(void *ctx, size_t n) {
  (void)ctx;
  return malloc(n);
}

static inline void ho_core_default_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

/* *out = the allocator to use. Returns HO_OK, or HO_ERR_INVALID_ARGUMENT
 * for an allocator missing a function (*out untouched). */
static inline int ho_core_allocator(const ho_allocator *in, ho_allocator *out) {
  if (in == NULL) {
    ho_allocator def = {ho_core_default_alloc, ho_core_default_free, NULL};
    *out = def;
    return HO_OK;
  }
  if (in->alloc == NULL || in->free == NULL) return HO_ERR_INVALID_ARGUMENT;
  *out = *in;
  return HO_OK;
}

#endif /* HANDOFF_CORE_ALLOC_H */
