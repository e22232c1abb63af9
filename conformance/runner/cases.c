/* handoff-conform — the list of cases of each mode, in run order. */
#include <string.h>

#include "cases.h"

static const cf_case_table *const backend_tables[] = {
    &cf_cases_service, &cf_cases_ready,  &cf_cases_descriptor, &cf_cases_stream,
    &cf_cases_offer,   &cf_cases_token,  &cf_cases_order,
};

size_t cf_cases(int mode, const cf_case ***out) {
  static const cf_case *all[512];
  static size_t n;
  *out = all;
  if (mode != CF_MODE_BACKEND) return 0;
  if (n == 0)
    for (size_t t = 0; t < sizeof backend_tables / sizeof backend_tables[0]; t++)
      for (size_t i = 0; i < backend_tables[t]->n && n < 512; i++) all[n++] = &backend_tables[t]->cases[i];
  return n;
}

const char *cf_case_area(const cf_case *c, char *buf, size_t cap) {
  const char *d1 = strchr(c->id, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  size_t n = d2 ? (size_t)(d2 - c->id) : strlen(c->id);
  if (n >= cap) n = cap - 1;
  memcpy(buf, c->id, n);
  buf[n] = '\0';
  return buf;
}

const char *cf_case_reqs(const cf_case *c) {
  const char *s = c->spec;
  if (strncmp(s, "spec:", 5) == 0) s += 5;
  while (*s == ' ') s++;
  return s;
}
