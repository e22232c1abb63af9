/* handoff — fallback reasons, the ordered decision and the per-backend
 * failed-attempt rate limit (fixed window, as the original; the window
 * table is core/fwin.c, shared with the broker's Hello rate). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fwin.h"
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

/* The failed-attempt budget is one fixed-window counter per backend
 * (core/fwin.h, ms): a window starts at a backend's first failure, counts
 * its failures (saturating at the maximum) and ends window_ms later. */
struct ho_fallback_policy {
  ho_allocator alloc;
  uint32_t max_failures;
  ho_fwin win;
};

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
  ho_fallback_policy *p = a.alloc(a.ctx, sizeof *p);
  if (!p) return HO_ERR_NOMEM;
  memset(p, 0, sizeof *p);
  int rc = ho_fwin_init(&p->win, cfg->max_backends ? cfg->max_backends : 1,
                        cfg->window_ms ? cfg->window_ms : 1, &a);
  if (rc != HO_OK) {
    a.free(a.ctx, p);
    return rc;
  }
  p->alloc = a;
  p->max_failures = cfg->failures_per_window ? cfg->failures_per_window : 1;
  *out = p;
  return HO_OK;
}

void ho_fallback_policy_del(ho_fallback_policy *p) {
  if (!p) return;
  ho_fwin_free(&p->win);
  p->alloc.free(p->alloc.ctx, p);
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
  uint64_t now = ho_fwin_advance(&p->win, now_ms); /* ended windows: budgets whole again */
  const ho_fwin_entry *e = ho_fwin_find(&p->win, in->backend);
  if (e != NULL) {
    if (e->count < p->max_failures) return HO_FALLBACK_NONE;
    if (retry_after_ms) *retry_after_ms = ho_fwin_left(&p->win, e, now);
    return HO_FALLBACK_RATE_LIMITED;
  }
  if (p->win.live >= p->win.cap) {
    /* spec: FALLBACK-10 — cannot track this backend's failures: fail safe.
     * Retry once the earliest live window ends. */
    if (retry_after_ms) *retry_after_ms = ho_fwin_left(&p->win, ho_fwin_oldest(&p->win), now);
    return HO_FALLBACK_RATE_LIMITED;
  }
  return HO_FALLBACK_NONE;
}

/* spec: FALLBACK-7 FALLBACK-10 */
int ho_fallback_record_failure(ho_fallback_policy *p, uint64_t backend, uint64_t now_ms) {
  if (!p) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_fwin_advance(&p->win, now_ms);
  ho_fwin_entry *e = ho_fwin_find(&p->win, backend);
  if (e == NULL && ho_fwin_open(&p->win, backend, now, &e) != HO_OK) return HO_ERR_PENDING_LIMIT;
  if (e->count < p->max_failures) e->count++; /* saturates at the maximum */
  return HO_OK;
}

/* spec: FALLBACK-8 */
void ho_fallback_record_success(ho_fallback_policy *p, uint64_t backend) {
  if (!p) return;
  ho_fwin_close(&p->win, backend);
}

uint32_t ho_fallback_failures(const ho_fallback_policy *p, uint64_t backend, uint64_t now_ms) {
  if (!p) return 0;
  const ho_fwin_entry *e = ho_fwin_find(&p->win, backend);
  if (e == NULL || ho_fwin_left(&p->win, e, now_ms) == 0) return 0;
  return e->count;
}
