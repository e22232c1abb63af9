/* handoff — a minimal test harness for the Windows test programs (run under
 * Wine; Criterion is not available for mingw-w64). Each program registers
 * cases with WT_CASE, runs them in order and ends with the plain closing line
 * "N passed, N failed". A failed WT_CHECK marks the case failed and goes on;
 * WT_REQUIRE also leaves the case. */
#ifndef HANDOFF_WINTEST_H
#define HANDOFF_WINTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*wt_fn)(void);
typedef struct wt_case {
  const char *name;
  wt_fn fn;
} wt_case;

extern int wt_failed_now; /* failures in the running case */

/* Every wait in the Windows tests is for a condition, bounded by this
 * deadline: generous, so that a loaded machine (or a cold Wine) only makes
 * a passing test slower, never failing; it is reached only when the
 * condition never comes. */
#define WT_DEADLINE_MS 60000

void wt_fail(const char *file, int line, const char *expr, const char *msg);
/* Run `cases` (NULL-terminated) or only those whose name contains argv[1];
 * returns the process exit status (0 all passed). */
int wt_main(const wt_case *cases, int argc, char **argv);

#define WT_CHECK(e) ((e) ? (void)0 : wt_fail(__FILE__, __LINE__, #e, NULL))
#define WT_CHECK_MSG(e, m) ((e) ? (void)0 : wt_fail(__FILE__, __LINE__, #e, (m)))
#define WT_REQUIRE(e)                                   \
  do {                                                  \
    if (!(e)) {                                         \
      wt_fail(__FILE__, __LINE__, #e, NULL);            \
      return;                                           \
    }                                                   \
  } while (0)
#define WT_EQ(a, b)                                                                    \
  do {                                                                                 \
    long long wt_a_ = (long long)(a), wt_b_ = (long long)(b);                         \
    if (wt_a_ != wt_b_) {                                                              \
      char wt_m_[96];                                                                  \
      snprintf(wt_m_, sizeof wt_m_, "%lld != %lld", wt_a_, wt_b_);                     \
      wt_fail(__FILE__, __LINE__, #a " == " #b, wt_m_);                                \
    }                                                                                  \
  } while (0)

#endif
