/* handoff — the Windows test harness (see wintest.h). */
#include "wintest.h"

#include <string.h>
#include <windows.h>

int wt_failed_now;

void wt_fail(const char *file, int line, const char *expr, const char *msg) {
  wt_failed_now++;
  fprintf(stderr, "  FAIL %s:%d: %s%s%s\n", file, line, expr, msg ? " — " : "", msg ? msg : "");
  fflush(stderr);
}

int wt_main(const wt_case *cases, int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL;
  int passed = 0, failed = 0;
  for (const wt_case *c = cases; c->name != NULL; c++) {
    if (only != NULL && strstr(c->name, only) == NULL) continue;
    wt_failed_now = 0;
    ULONGLONG t0 = GetTickCount64();
    c->fn();
    ULONGLONG ms = GetTickCount64() - t0;
    if (wt_failed_now) failed++;
    else passed++;
    printf("%s %s (%llu ms)\n", wt_failed_now ? "FAIL" : "ok  ", c->name, (unsigned long long)ms);
    fflush(stdout);
  }
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  return failed ? 1 : 0;
}
