/* Allocation failure the real way, for a forked child: the heap used up, so
 * that malloc/calloc/realloc of `min` bytes or more return NULL from the C
 * library itself (no injected allocator, no hook in the library).
 *
 * hog_on(h, min) grows the stack first (512 KiB, so that the cap below never
 * stops a call), caps the address space at what is mapped now (RLIMIT_AS:
 * the heap cannot grow and no mapping can be added), then takes every free
 * block of at least `min` bytes, largest first and then one request size
 * after another (tcache and fast bins hand out chunks of one size only).
 * It returns 0, or a child step code: 20 (no /proc/self/statm), 21
 * (getrlimit), 22 (setrlimit), 23 (malloc(min) still works: the hog did not
 * work, said instead of a test that cannot fail). A `min` above the
 * smallest size leaves smaller allocations working. hog_off(h) gives all of
 * it back and restores the limit: call it before the child reports or
 * writes its profile (child_exit.h).
 *
 * Only in a forked child (the parent's heap stays as it was). ASan's
 * allocator does not return NULL under such a cap (it maps its own shadow
 * and aborts instead), so a test using the hog calls SKIP_UNDER_ASAN() or
 * tests HEAP_HOG_WORKS first. */
#ifndef HANDOFF_TEST_HEAP_HOG_H
#define HANDOFF_TEST_HEAP_HOG_H

#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_HOG_WORKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_HOG_WORKS 0
#endif
#endif
#ifndef HEAP_HOG_WORKS
#define HEAP_HOG_WORKS 1
#endif

/* Skip the calling Criterion test where the hog cannot work (ASan). */
#define SKIP_UNDER_ASAN()                                                                          \
  do {                                                                                             \
    if (!HEAP_HOG_WORKS) cr_skip_test("ASan's allocator does not fail under RLIMIT_AS");           \
  } while (0)

typedef struct hog {
  void *head; /* the blocks taken, linked through their first word */
  struct rlimit old;
} hog;

static inline size_t hog_mapped_bytes(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return (size_t)strtoull(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static __attribute__((noinline, unused)) void hog_grow_stack(void) {
  volatile char pad[512 * 1024];
  for (size_t i = 0; i < sizeof pad; i += 512) pad[i] = 0;
}

static inline void hog_take(hog *h, size_t sz) {
  void *p;
  while ((p = malloc(sz)) != NULL) {
    *(void **)p = h->head;
    h->head = p;
  }
}

static inline int hog_on(hog *h, size_t min) {
  h->head = NULL;
  if (min < sizeof(void *)) min = sizeof(void *);
  hog_grow_stack();
  size_t vm = hog_mapped_bytes();
  if (vm == 0) return 20;
  if (getrlimit(RLIMIT_AS, &h->old) != 0) return 21;
  struct rlimit rl = {(rlim_t)vm, h->old.rlim_max};
  if (setrlimit(RLIMIT_AS, &rl) != 0) return 22;
  for (size_t sz = (size_t)1 << 22; sz >= 4096 && sz >= min; sz /= 2) hog_take(h, sz);
  for (size_t sz = 4096; sz >= min; sz -= 8) hog_take(h, sz);
  if (malloc(min) != NULL) return 23; /* the hog did not work: say so */
  return 0;
}

static inline void hog_off(hog *h) {
  while (h->head != NULL) {
    void *next = *(void **)h->head;
    free(h->head);
    h->head = next;
  }
  (void)setrlimit(RLIMIT_AS, &h->old);
}

#endif
