/* handoff-conform — the expected-failure list, checked both ways (as the
 * protobuf conformance runner does): one entry per line,
 *     PATTERN  reason (required)
 * PATTERN is a case ID, an area prefix ("backend.stream") or a glob
 * ("backend.stream.stall-*"); '#' starts a comment. The run fails on a
 * failure that no entry lists, on a listed case that passes (or is
 * skipped for its declarations), and on an entry that matches no case. */
#ifndef CF_EXPECT_H
#define CF_EXPECT_H

#include <stddef.h>

#include "conform.h"

typedef struct cf_expect {
  char pat[160];
  char reason[320];
  int line;
} cf_expect;

/* Load `path`; every pattern must match a case of `cases`. Returns the
 * number of entries, or -1 with a message in err. */
int cf_expect_load(const char *path, const cf_case *const *cases, size_t ncases, cf_expect **out,
                   char *err, size_t cap);
/* The first entry listing `id`, or NULL. */
const cf_expect *cf_expect_find(const cf_expect *e, int n, const char *id);
/* Apply the list to a finished result: sets res->expected_failure and
 * res->unexpected (with an explanation in res->note). */
void cf_expect_apply(const cf_expect *e, int n, const char *path, const cf_case *c, cf_result *res);

#endif
