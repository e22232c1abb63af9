/* Unit tests of the endpoint cache: a fresh private directory per test and
 * the cache file's path in it (test_client_cache*.c). */
#ifndef HANDOFF_TEST_CACHE_FIXTURES_H
#define HANDOFF_TEST_CACHE_FIXTURES_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static char dir[64], file[128];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/ho-cache-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(file, sizeof file, "%s/endpoints", dir);
}

static void teardown(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

#endif
