/* handoff-conform — expected failures (see expect.h). */
#include "expect.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_expect_load(const char *path, const cf_case *const *cases, size_t ncases, cf_expect **out,
                   char *err, size_t cap) {
  *out = NULL;
  FILE *f = fopen(path, "re");
  if (f == NULL) {
    snprintf(err, cap, "cannot open %s", path);
    return -1;
  }
  cf_expect *v = NULL;
  int n = 0, line = 0;
  char buf[1024];
  while (fgets(buf, sizeof buf, f) != NULL) {
    line++;
    char *p = buf;
    while (isspace((unsigned char)*p)) p++;
    char *hash = strchr(p, '#');
    if (hash != NULL) *hash = '\0';
    size_t len = strlen(p);
    while (len > 0 && isspace((unsigned char)p[len - 1])) p[--len] = '\0';
    if (len == 0) continue;
    char *sp = p;
    while (*sp && !isspace((unsigned char)*sp)) sp++;
    char *reason = sp;
    if (*sp) *sp++ = '\0', reason = sp;
    while (isspace((unsigned char)*reason)) reason++;
    if (*reason == '\0') {
      snprintf(err, cap, "%s:%d: '%s' has no reason (every entry needs one)", path, line, p);
      goto fail;
    }
    size_t hits = 0;
    for (size_t i = 0; i < ncases; i++) hits += cf_pattern_match(p, cases[i]->id);
    if (hits == 0) {
      snprintf(err, cap, "%s:%d: '%s' matches no case (stale entry)", path, line, p);
      goto fail;
    }
    cf_expect *nv = realloc(v, (size_t)(n + 1) * sizeof *nv);
    if (nv == NULL) {
      snprintf(err, cap, "out of memory");
      goto fail;
    }
    v = nv;
    snprintf(v[n].pat, sizeof v[n].pat, "%s", p);
    snprintf(v[n].reason, sizeof v[n].reason, "%s", reason);
    v[n].line = line;
    n++;
  }
  fclose(f);
  *out = v;
  return n;
fail:
  fclose(f);
  free(v);
  return -1;
}

const cf_expect *cf_expect_find(const cf_expect *e, int n, const char *id) {
  for (int i = 0; i < n; i++)
    if (cf_pattern_match(e[i].pat, id)) return &e[i];
  return NULL;
}

void cf_expect_apply(const cf_expect *e, int n, const char *path, const cf_case *c, cf_result *res) {
  const cf_expect *x = cf_expect_find(e, n, c->id);
  bool failed = res->verdict != CF_PASS && res->verdict != CF_SKIP;
  if (x == NULL) {
    res->unexpected = failed;
    return;
  }
  if (failed) {
    res->expected_failure = true;
    snprintf(res->note, sizeof res->note, "expected failure (%s:%d): %s", path, x->line, x->reason);
    return;
  }
  res->unexpected = true;
  snprintf(res->note, sizeof res->note, "listed as an expected failure (%s:%d) but %s: remove the entry",
           path, x->line, res->verdict == CF_PASS ? "it passed" : "it was skipped");
}
