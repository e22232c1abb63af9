/* handoff — fallback reasons, the ordered decision and the per-backend
 * failed-attempt rate limit (fixed window, as the original). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "handoff/fallback.h"

/* ---- reasons ---------------------------------------------------------- */

static const struct {
  const char *name, *spec;
  int value;
  bool counts;
} reasons[] = {
#define HO_FALLBACK_ROW_(name, value, spec, counts, client) {#name, spec, value, counts},
    HO_FALLBACK_REASON_LIST(HO_FALLBACK_ROW_)
#undef HO_FALLBACK_ROW_
};

/* The list is dense (row i has value i; conformance/unit/test_fallback.c
 * checks every row): names index by value. */
_Static_assert(sizeof reasons / sizeof reasons[0] == HO_FALLBACK_REASON_COUNT,
               "HO_FALLBACK_REASON_LIST values are 0..COUNT-1");

const char *ho_fallback_reason_name(int reason) {
  if (reason < 0 || reason >= HO_FALLBACK_REASON_COUNT) return NULL;
  return reasons[reason].name;
}

int ho_fallback_reason_from_name(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < HO_FALLBACK_REASON_COUNT; i++)
    if (strcmp(reasons[i].name, name) == 0) return i;
  return -1;
}

/* spec: FALLBACK-25 */
bool ho_fallback_reason_counts(int reason) {
  return reason >= 0 && reason < HO_FALLBACK_REASON_COUNT && reasons[reason].counts;
}

const char *ho_fallback_reason_spec(int reason) {
  if (reason < 0 || reason >= HO_FALLBACK_REASON_COUNT) return NULL;
  return reasons[reason].spec;
}

/* spec: FALLBACK-17 */
ho_fallback_reason ho_fallback_reason_from_err(int err) {
  switch (err) {
  case HO_OK: return HO_FALLBACK_NONE;
  case HO_ERR_PERMISSION:
  case HO_ERR_PEER_CREDENTIALS: return HO_FALLBACK_PERMISSION_DENIED;
  case HO_ERR_FD_EXHAUSTED: return HO_FALLBACK_FD_PRESSURE;
  case HO_ERR_UNSUPPORTED_PLATFORM: return HO_FALLBACK_SERVICE_POLICY_DISABLED;
  case HO_ERR_QUEUE_FULL: return HO_FALLBACK_QUEUE_FULL;
  case HO_ERR_RATE_LIMITED: return HO_FALLBACK_RATE_LIMITED;
  case HO_ERR_RANDOM:
  case HO_ERR_PENDING_LIMIT:
  case HO_ERR_COLLISION_EXHAUSTED: return HO_FALLBACK_TOKEN_UNAVAILABLE;
  case HO_ERR_ACK_REFUSED: return HO_FALLBACK_BACKEND_REFUSED;
  default: return HO_FALLBACK_BACKEND_ACK_TIMEOUT;
  }
}

ho_fallback_reason ho_fallback_reason_from_ack_exit(int exit) {
  return exit == HO_ACK_COMPLETED ? HO_FALLBACK_NONE : HO_FALLBACK_BACKEND_ACK_TIMEOUT;
}

/* ---- policy ----------------------------------------------------------- */

typedef struct rl_entry {
  uint64_t backend;
  uint64_t start; /* window start: the first failure of the window */
  uint32_t count; /* failures in the window, saturating at max */
  uint32_t used;
} rl_entry;

struct ho_fallback_policy {
  ho_allocator alloc;
  uint32_t max_failures;
  uint64_t window_ms;
  uint32_t max_backends;
  uint32_t tracked;
  uint64_t now;
  rl_entry *tab; /* open addressing, linear probing, load <= 1/2 */
  uint32_t mask;
};

/* Backend keys are chosen by the broker's configuration, not by peers, so
 * an unkeyed mixer is enough here. */
static uint32_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (uint32_t)x;
}

void ho_fallback_config_init(ho_fallback_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->failures_per_window = HO_FALLBACK_DEFAULT_FAILURES;
  cfg->window_ms = HO_FALLBACK_DEFAULT_WINDOW_MS;
  cfg->max_backends = HO_FALLBACK_DEFAULT_MAX_BACKENDS;
}

int ho_fallback_policy_new(ho_fallback_policy **out, const ho_fallback_config *cfg) {
  ho_fallback_config def;
  if (!out) return HO_ERR_INVALID_ARGUMENT;
  if (!cfg) {
    ho_fallback_config_init(&def);
    cfg = &def;
  }
  if (cfg->max_backends > (1u << 20)) return HO_ERR_INVALID_ARGUMENT;
  ho_allocator a;
  if (ho_core_allocator(cfg->allocator, &a) != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  uint32_t maxb = cfg->max_backends ? cfg->max_backends : 1;
  uint32_t n = 2;
  while (n < 2 * maxb) n <<= 1;
  ho_fallback_policy *p = a.alloc(a.ctx, sizeof *p);
  if (!p) return HO_ERR_NOMEM;
  memset(p, 0, sizeof *p);
  p->tab = a.alloc(a.ctx, (size_t)n * sizeof(rl_entry));
  if (!p->tab) {
    a.free(a.ctx, p);
    return HO_ERR_NOMEM;
  }
  memset(p->tab, 0, (size_t)n * sizeof(rl_entry));
  p->alloc = a;
  p->mask = n - 1;
  p->max_failures = cfg->failures_per_window ? cfg->failures_per_window : 1;
  p->window_ms = cfg->window_ms ? cfg->window_ms : 1;
  p->max_backends = maxb;
  *out = p;
  return HO_OK;
}

void ho_fallback_policy_del(ho_fallback_policy *p) {
  if (!p) return;
  p->alloc.free(p->alloc.ctx, p->tab);
  p->alloc.free(p->alloc.ctx, p);
}

static uint64_t clamp_now(ho_fallback_policy *p, uint64_t now) {
  if (now > p->now) p->now = now;
  return p->now;
}

/* Index of backend's entry, or of the empty slot where it would go; *found. */
static uint32_t rl_find(const ho_fallback_policy *p, uint64_t backend, int *found) {
  uint32_t i = mix(backend) & p->mask;
  while (p->tab[i].used) {
    if (p->tab[i].backend == backend) {
      *found = 1;
      return i;
    }
    i = (i + 1) & p->mask;
  }
  *found = 0;
  return i;
}

static void rl_delete(ho_fallback_policy *p, uint32_t i) {
  uint32_t j = i;
  p->tracked--;
  for (;;) {
    memset(&p->tab[i], 0, sizeof p->tab[i]);
    for (;;) {
      j = (j + 1) & p->mask;
      if (!p->tab[j].used) return;
      uint32_t home = mix(p->tab[j].backend) & p->mask;
      if (((j - home) & p->mask) >= ((j - i) & p->mask)) {
        p->tab[i] = p->tab[j];
        i = j;
        break;
      }
    }
  }
}

static int window_over(const ho_fallback_policy *p, const rl_entry *e, uint64_t now) {
  return now - e->start >= p->window_ms; /* now >= start: the clock is clamped */
}

/* Forget every entry whose window has ended. O(table); only runs when the
 * table is full, so the common path stays O(1). */
static void rl_reclaim(ho_fallback_policy *p, uint64_t now) {
  for (uint32_t i = 0; i <= p->mask;) {
    if (p->tab[i].used && window_over(p, &p->tab[i], now))
      rl_delete(p, i); /* may shift a later entry into i: look at i again */
    else
      i++;
  }
}

/* spec: FALLBACK-2 FALLBACK-7 FALLBACK-10 FALLBACK-16 TOKEN-9 */
ho_fallback_reason ho_fallback_decide(ho_fallback_policy *p, const ho_fallback_input *in,
                                      uint64_t now_ms, uint64_t *retry_after_ms) {
  if (!p || !in) return HO_FALLBACK_SERVICE_POLICY_DISABLED;
  if (!(in->client_capabilities & HO_CAP_HANDLE_PASSING)) return HO_FALLBACK_CLIENT_UNSUPPORTED;
  if (!in->endpoint_configured) return HO_FALLBACK_NO_ENDPOINT;
  if (!in->service_enabled) return HO_FALLBACK_SERVICE_POLICY_DISABLED;
  if (in->fd_pressure) return HO_FALLBACK_FD_PRESSURE;
  if (in->adopted_backend) return HO_FALLBACK_ADOPTED_BACKEND;
  if ((in->client_capabilities & HO_CAP_EARLY_DATA) && !in->backend_ready) /* spec: READY-18 */
    return HO_FALLBACK_EARLY_DATA_UNSUPPORTED;
  uint64_t now = clamp_now(p, now_ms);
  int found;
  uint32_t i = rl_find(p, in->backend, &found);
  if (found) {
    rl_entry *e = &p->tab[i];
    if (window_over(p, e, now)) {
      rl_delete(p, i); /* the window ended: the budget is whole again */
    } else if (e->count >= p->max_failures) {
      if (retry_after_ms) *retry_after_ms = p->window_ms - (now - e->start);
      return HO_FALLBACK_RATE_LIMITED;
    }
    return HO_FALLBACK_NONE;
  }
  if (p->tracked >= p->max_backends) {
    rl_reclaim(p, now);
    if (p->tracked >= p->max_backends) {
      /* Cannot track this backend's failures: fail safe. Retry once the
       * earliest live window ends. */
      uint64_t best = p->window_ms;
      for (uint32_t k = 0; k <= p->mask; k++)
        if (p->tab[k].used && p->window_ms - (now - p->tab[k].start) < best)
          best = p->window_ms - (now - p->tab[k].start);
      if (retry_after_ms) *retry_after_ms = best;
      return HO_FALLBACK_RATE_LIMITED;
    }
  }
  return HO_FALLBACK_NONE;
}

/* spec: FALLBACK-7 FALLBACK-10 */
int ho_fallback_record_failure(ho_fallback_policy *p, uint64_t backend, uint64_t now_ms) {
  if (!p) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = clamp_now(p, now_ms);
  int found;
  uint32_t i = rl_find(p, backend, &found);
  if (found) {
    rl_entry *e = &p->tab[i];
    if (window_over(p, e, now)) {
      e->start = now;
      e->count = 1;
    } else if (e->count < p->max_failures) {
      e->count++;
    }
    return HO_OK;
  }
  if (p->tracked >= p->max_backends) {
    rl_reclaim(p, now);
    if (p->tracked >= p->max_backends) return HO_ERR_PENDING_LIMIT;
    i = rl_find(p, backend, &found);
  }
  p->tab[i].used = 1;
  p->tab[i].backend = backend;
  p->tab[i].start = now;
  p->tab[i].count = 1;
  p->tracked++;
  return HO_OK;
}

/* spec: FALLBACK-8 */
void ho_fallback_record_success(ho_fallback_policy *p, uint64_t backend) {
  if (!p) return;
  int found;
  uint32_t i = rl_find(p, backend, &found);
  if (found) rl_delete(p, i);
}

uint32_t ho_fallback_failures(const ho_fallback_policy *p, uint64_t backend, uint64_t now_ms) {
  if (!p) return 0;
  uint64_t now = now_ms > p->now ? now_ms : p->now;
  int found;
  uint32_t i = rl_find(p, backend, &found);
  if (!found || window_over(p, &p->tab[i], now)) return 0;
  return p->tab[i].count;
}
