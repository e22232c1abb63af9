/* handoff-conform — the list of cases of each mode, in run order. */
#include <string.h>

#include "cases.h"

static const cf_case_table *const backend_tables[] = {
    &cf_cases_service, &cf_cases_ready,  &cf_cases_descriptor, &cf_cases_stream,
    &cf_cases_offer,   &cf_cases_token,  &cf_cases_order,
};

static const cf_case_table *const broker_tables[] = {
    &cf_cases_bhello, &cf_cases_bhandoff, &cf_cases_back, &cf_cases_brate, &cf_cases_bcoal,
};

static const cf_case_table *const client_tables[] = {
    &cf_cases_chandoff, &cf_cases_creply, &cf_cases_ccoal,
};

size_t cf_cases(int mode, const cf_case ***out) {
  static const cf_case *all[512];
  static size_t n;
  *out = all;
  const cf_case_table *const *t = backend_tables;
  size_t nt = sizeof backend_tables / sizeof backend_tables[0];
  if (mode == CF_MODE_BROKER) t = broker_tables, nt = sizeof broker_tables / sizeof broker_tables[0];
  if (mode == CF_MODE_CLIENT) t = client_tables, nt = sizeof client_tables / sizeof client_tables[0];
  if (n == 0)
    for (size_t k = 0; k < nt; k++)
      for (size_t i = 0; i < t[k]->n && n < 512; i++) all[n++] = &t[k]->cases[i];
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
