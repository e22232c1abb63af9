/* Unit tests: the client's memory of broker endpoints across processes
 * (ho_client_cache_*), in a real file. spec: CLIENT-7 READY-20 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff/client.h"

#include "cache_fixtures.h"

TestSuite(client_cache, .init = setup, .fini = teardown);

Test(client_cache, a_missing_file_has_no_entries) {
  uint64_t caps = 7;
  bool found = true;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/b.sock", &caps, &found), HO_OK);
  cr_assert_not(found);
  cr_assert_eq(caps, 7u, "untouched");
}

/* What was stored is found, per endpoint; a later store replaces it (a
 * Negotiated without CAP_EARLY_DATA forgets early data). */
Test(client_cache, store_then_lookup_per_endpoint) {
  cr_assert_eq(ho_client_cache_store(file, "/run/a.sock", HO_CAP_EARLY_DATA), HO_OK);
  cr_assert_eq(ho_client_cache_store(file, "/run/b.sock", 0x0f), HO_OK);
  uint64_t caps = 0;
  bool found = false;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/a.sock", &caps, &found), HO_OK);
  cr_assert(found);
  cr_assert_eq(caps, HO_CAP_EARLY_DATA);
  cr_assert_eq(ho_client_cache_store(file, "/run/a.sock", 0), HO_OK);
  cr_assert_eq(ho_client_cache_lookup(file, "/run/a.sock", &caps, &found), HO_OK);
  cr_assert(found);
  cr_assert_eq(caps, 0u, "early data forgotten");
  cr_assert_eq(ho_client_cache_lookup(file, "/run/b.sock", &caps, &found), HO_OK);
  cr_assert_eq(caps, 0x0fu);
  struct stat st;
  cr_assert_eq(stat(file, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0600, "private to its user");
}

/* At most HO_CLIENT_CACHE_ENTRIES endpoints: the oldest goes. */
Test(client_cache, bounded_the_oldest_goes) {
  char ep[64];
  for (int i = 0; i <= HO_CLIENT_CACHE_ENTRIES; i++) {
    snprintf(ep, sizeof ep, "/run/e%d.sock", i);
    cr_assert_eq(ho_client_cache_store(file, ep, (uint64_t)i), HO_OK);
  }
  uint64_t caps;
  bool found = true;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/e0.sock", &caps, &found), HO_OK);
  cr_assert_not(found, "the first one was pushed out");
  snprintf(ep, sizeof ep, "/run/e%d.sock", HO_CLIENT_CACHE_ENTRIES);
  cr_assert_eq(ho_client_cache_lookup(file, ep, &caps, &found), HO_OK);
  cr_assert(found);
}

/* A damaged file costs only what it forgot: bad lines are skipped. */
Test(client_cache, damaged_lines_are_skipped) {
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fputs("garbage\n000000000000000z\t/run/x.sock\n0000000000000004\t/run/ok.sock\n"
        "0000000000000004 /run/nospace.sock\n0000000000000004\t/run/cut.sock",
        f);
  fclose(f);
  uint64_t caps = 0;
  bool found = false;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/ok.sock", &caps, &found), HO_OK);
  cr_assert(found);
  cr_assert_eq(caps, 4u);
  cr_assert_eq(ho_client_cache_lookup(file, "/run/x.sock", &caps, &found), HO_OK);
  cr_assert_not(found);
  cr_assert_eq(ho_client_cache_lookup(file, "/run/cut.sock", &caps, &found), HO_OK);
  cr_assert_not(found, "a last line without its newline is incomplete");
}

Test(client_cache, bad_arguments_and_os_errors_are_named) {
  uint64_t caps;
  bool found;
  cr_assert_eq(ho_client_cache_lookup(NULL, "/x", &caps, &found), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_cache_lookup(file, "", &caps, &found), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_cache_store(file, "/a\nb", 1), HO_ERR_INVALID_ARGUMENT);
  char missing[160];
  snprintf(missing, sizeof missing, "%s/no/such/dir/file", dir);
  int rc = ho_client_cache_store(missing, "/x", 1);
  cr_assert(rc != HO_OK, "a directory that does not exist is an error");
  cr_assert_not_null(ho_errname(rc), "named: %d", rc);
  /* the failed store left no temporary file behind */
  char tmp[200];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
  cr_assert_neq(access(tmp, F_OK), 0);
}
