/* A cursor over a fuzz input: the targets that draw their decisions byte by
 * byte (fuzz_sideband, fuzz_win_offer) read them through it; an exhausted
 * input reads as zeros. */
#ifndef HANDOFF_FUZZ_CURSOR_H
#define HANDOFF_FUZZ_CURSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct cur {
  const uint8_t *p;
  size_t n;
} cur;

static inline unsigned take(cur *c) {
  if (c->n == 0) return 0;
  c->n--;
  return *c->p++;
}

static inline uint64_t take64(cur *c) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)take(c) << (8 * i);
  return v;
}

#endif
