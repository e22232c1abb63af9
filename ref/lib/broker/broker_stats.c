/* handoff — broker core: counters, reason names, Hello string checks. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker/broker_internal.h"

static const struct {
  const char *text;
  ho_fallback_reason fallback;
} reasons[] = {
#define HO_BROKER_REASON_ROW_(name, text, fallback) {text, HO_FALLBACK_##fallback},
    HO_BROKER_REASON_LIST(HO_BROKER_REASON_ROW_)
#undef HO_BROKER_REASON_ROW_
};

const char *ho_broker_reason_name(int reason) {
  if (reason < 0 || reason >= HO_BROKER_REASON_COUNT) return "unknown";
  return reasons[reason].text;
}

int ho_broker_reason_fallback(int reason) {
  if (reason < 0 || reason >= HO_BROKER_REASON_COUNT) return -1;
  return (int)reasons[reason].fallback;
}

/* spec: FALLBACK-17 FALLBACK-14 — the spec's reason name of each broker reason. */
const char *ho_broker_reason_spec_name(int reason) {
  if (reason < 0 || reason >= HO_BROKER_REASON_COUNT) return "UNKNOWN";
  return ho_fallback_reason_name(reasons[reason].fallback);
}

/* spec: FALLBACK-25 */
bool ho_broker_reason_counts(int reason) {
  return reason >= 0 && reason < HO_BROKER_REASON_COUNT &&
         ho_fallback_reason_counts(reasons[reason].fallback);
}

/* spec: FALLBACK-2 FALLBACK-14 — a Hello-time decision of the fallback core
 * as the broker's reason: the first row with that spec reason. */
ho_broker_reason bk_reason_of(ho_fallback_reason r) {
  for (int i = 0; i < HO_BROKER_REASON_COUNT; i++)
    if (reasons[i].fallback == r) return (ho_broker_reason)i;
  return HO_BROKER_REASON_SERVICE_POLICY_DISABLED; /* no row: unreachable (unit-tested), fail safe */
}

void bk_latency_record(ho_broker *b, uint64_t us) {
  int i = 0;
  while (i < HO_BROKER_LATENCY_BUCKETS - 1 && us >= (UINT64_C(1) << (i + 4))) i++;
  b->st.latency_us[i]++;
}

/* One line of the text into out[*used..cap), as snprintf writes it
 * (truncated, NUL-terminated while there is room; nothing without a buffer);
 * *used grows by the line's whole length, so the result is what the whole
 * text needs. A function, not a macro: one vsnprintf call site. */
static void append(char *out, size_t cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *out, size_t cap, size_t *used, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out ? out + (*used < cap ? *used : cap) : NULL, *used < cap ? cap - *used : 0,
                    fmt, ap);
  va_end(ap);
  if (n > 0) *used += (size_t)n;
}
#define APPEND(...) append(out, cap, &used, __VA_ARGS__)

size_t ho_broker_format_stats(const ho_broker_stats *s, char *out, size_t cap) {
  size_t used = 0;
  if (out && cap) out[0] = '\0';
  if (s == NULL) return 0;
  APPEND("clients_accepted %llu\n", (unsigned long long)s->clients_accepted);
  APPEND("peers_rejected %llu\n", (unsigned long long)s->peers_rejected);
  APPEND("hello_overflow %llu\n", (unsigned long long)s->hello_overflow);
  APPEND("hellos_refused %llu\n", (unsigned long long)s->hellos_refused);
  APPEND("hellos_rate_limited %llu\n", (unsigned long long)s->hellos_rate_limited);
  APPEND("negotiated %llu\n", (unsigned long long)s->negotiated);
  APPEND("handoffs_attempted %llu\n", (unsigned long long)s->handoffs_attempted);
  APPEND("handoffs_completed %llu\n", (unsigned long long)s->handoffs_completed);
  APPEND("handoffs_backend_ready %llu\n", (unsigned long long)s->handoffs_backend_ready);
  APPEND("handoffs_coalesced %llu\n", (unsigned long long)s->handoffs_coalesced);
  for (int i = 0; i < HO_BROKER_REASON_COUNT; i++)
    if (s->fallbacks[i])
      APPEND("fallback{reason=%s,detail=%s} %llu\n", ho_broker_reason_spec_name(i),
             ho_broker_reason_name(i),
             (unsigned long long)s->fallbacks[i]);
  APPEND("late_acks %llu\n", (unsigned long long)s->late_acks);
  APPEND("control_connects %llu\n", (unsigned long long)s->control_connects);
  APPEND("tokens_pending %llu\n", (unsigned long long)s->tokens_pending);
  APPEND("handoffs_in_flight %llu\n", (unsigned long long)s->in_flight);
  APPEND("open_conns %llu\n", (unsigned long long)s->open_conns);
  for (int i = 0; i < HO_BROKER_LATENCY_BUCKETS; i++) {
    if (!s->latency_us[i]) continue;
    if (i == HO_BROKER_LATENCY_BUCKETS - 1)
      APPEND("handoff_latency_us{le=+Inf} %llu\n", (unsigned long long)s->latency_us[i]);
    else
      APPEND("handoff_latency_us{lt=%llu} %llu\n", (unsigned long long)(UINT64_C(1) << (i + 4)),
             (unsigned long long)s->latency_us[i]);
  }
  if (s->dup_attempts) { /* spec: XFER-41 — duplicate_handles only */
    APPEND("dup_attempts %llu\n", (unsigned long long)s->dup_attempts);
    for (int i = 0; i < HO_BROKER_STAGE_COUNT; i++)
      APPEND("dup_ended{stage=%s} %llu\n", ho_broker_stage_name(i),
             (unsigned long long)s->dup_ended_at[i]);
    for (int i = 0; i < HO_BROKER_DUP_FATE_COUNT; i++)
      APPEND("dup_fate{fate=%s} %llu\n", ho_broker_dup_fate_name(i),
             (unsigned long long)s->dup_fate[i]);
  }
  return used;
}

/* spec: HELLO-6 — service_name is [a-z0-9-]{1,64}. */
int bk_service_name_valid(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > HO_MAX_SERVICE_NAME) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return 0;
  }
  return 1;
}

/* A numeric identifier: "0" or no leading zero. Advances *p. */
static int num_ident(const char **p) {
  const char *s = *p;
  if (*s < '0' || *s > '9') return 0;
  if (*s == '0' && s[1] >= '0' && s[1] <= '9') return 0;
  while (*s >= '0' && *s <= '9') s++;
  *p = s;
  return 1;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading
 * zeros when `numeric_rule`. */
static int idents(const char **p, int numeric_rule) {
  const char *s = *p;
  for (;;) {
    const char *start = s;
    int all_digits = 1;
    while ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
           *s == '-') {
      if (!(*s >= '0' && *s <= '9')) all_digits = 0;
      s++;
    }
    if (s == start) return 0;
    if (numeric_rule && all_digits && *start == '0' && s - start > 1) return 0;
    if (*s != '.') break;
    s++;
  }
  *p = s;
  return 1;
}

/* spec: HELLO-7 — wanted_version is a Semantic Versioning 2.0.0 version
 * (MAJOR.MINOR.PATCH[-pre][+build]), at most 64 bytes. */
int bk_semver_valid(const char *v) {
  if (strlen(v) > HO_MAX_WANTED_VERSION) return 0;
  const char *p = v;
  if (!num_ident(&p) || *p++ != '.') return 0;
  if (!num_ident(&p) || *p++ != '.') return 0;
  if (!num_ident(&p)) return 0;
  if (*p == '-') {
    p++;
    if (!idents(&p, 1)) return 0;
  }
  if (*p == '+') {
    p++;
    if (!idents(&p, 0)) return 0;
  }
  return *p == '\0';
}
