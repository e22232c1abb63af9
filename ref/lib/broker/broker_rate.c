/* handoff — broker core: the Hello rate per peer process (spec: HELLO-14).
 *
 * A fixed window of one second per OS-reported pid, as the original (at
 * most 256 Hellos per second per pid): the window starts at the pid's
 * first Hello and ends one second later; within it at most `limit` Hellos
 * pass. The windows are the core's fixed-window counter (core/fwin.h, the
 * same mechanism as the failed-attempt budget of core/fallback.c): at most
 * `cap` live windows, O(1) amortised per Hello, nothing allocated after
 * bk_rate_init. When every slot holds a live window, a pid without one is
 * refused until the oldest window ends (fail-safe: a full table never
 * lets a pid through unlimited). */
#include <string.h>

#include "broker/broker_internal.h"

#define RATE_WINDOW_MS 1000u

int bk_rate_init(bk_rate *r, uint32_t limit, uint32_t cap) {
  memset(r, 0, sizeof *r);
  if (limit == 0) return HO_OK; /* unlimited: no table */
  /* cap 0 or above 2^24: HO_ERR_INVALID_ARGUMENT from ho_fwin_init. */
  int rc = ho_fwin_init(&r->win, cap, RATE_WINDOW_MS, NULL);
  if (rc != HO_OK) return rc;
  r->limit = limit;
  return HO_OK;
}

void bk_rate_free(bk_rate *r) {
  ho_fwin_free(&r->win);
  memset(r, 0, sizeof *r);
}

/* spec: HELLO-14 — whole ms until the window ends, at least 1. */
static uint64_t retry_ms(const bk_rate *r, const ho_fwin_entry *e, uint64_t now) {
  uint64_t left = ho_fwin_left(&r->win, e, now); /* > 0: the window is live */
  return left ? left : 1;
}

bool bk_rate_admit(bk_rate *r, int32_t pid, uint64_t now, uint64_t *retry_after_ms) {
  if (r->limit == 0 || pid <= 0) return true; /* unlimited, or no pid to key on */
  now = ho_fwin_advance(&r->win, now); /* a clock that goes back revives nothing */
  uint64_t key = (uint64_t)(uint32_t)pid;
  ho_fwin_entry *e = ho_fwin_find(&r->win, key);
  if (e != NULL) {
    if (e->count < r->limit) {
      e->count++;
      return true;
    }
    *retry_after_ms = retry_ms(r, e, now);
    return false;
  }
  if (ho_fwin_open(&r->win, key, now, &e) != HO_OK) { /* every slot live: fail safe */
    *retry_after_ms = retry_ms(r, ho_fwin_oldest(&r->win), now);
    r->full_refusals++;
    return false;
  }
  e->count = 1;
  return true;
}
