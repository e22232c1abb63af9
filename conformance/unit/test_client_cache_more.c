/* Unit tests (issue #17 coverage): the error paths of the client's endpoint
 * cache (client/client_cache_shell.c) in real files — NULL outputs, a file
 * that cannot be read, a name over PATH_MAX, a directory
 * in the way of the rename, a file size limit (RLIMIT_FSIZE in a forked
 * child) that makes the write fail, an unchanged store that writes nothing,
 * and damaged lines. spec: CLIENT-7 READY-20 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "child_exit.h"

#include "cache_fixtures.h"

TestSuite(client_cache_more, .init = setup, .fini = teardown);

static void no_tmp_left(void) {
  char tmp[200];
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
  cr_assert_neq(access(tmp, F_OK), 0, "temporary file left behind");
}

Test(client_cache_more, lookup_and_store_refuse_null_arguments) {
  uint64_t caps;
  bool found;
  cr_assert_eq(ho_client_cache_lookup(file, "/x", NULL, &found), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_cache_lookup(file, "/x", &caps, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_cache_lookup(file, NULL, &caps, &found), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_cache_store(NULL, "/x", 1), HO_ERR_INVALID_ARGUMENT);
  static char longp[4200];
  memset(longp, 'p', 4096);
  longp[0] = '/';
  longp[4096] = '\0'; /* 4096 bytes: one too many */
  cr_assert_eq(ho_client_cache_store(file, longp, 1), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_cache_lookup(file, longp, &caps, &found), HO_ERR_INVALID_ARGUMENT);
}

Test(client_cache_more, a_file_that_cannot_be_opened_is_named) {
  /* The cache path runs through a regular file: ENOTDIR, for lookup and store. */
  char bad[200];
  snprintf(bad, sizeof bad, "%s/endpoints/sub", dir);
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fclose(f);
  uint64_t caps = 0;
  bool found = true;
  cr_assert_eq(ho_client_cache_lookup(bad, "/x", &caps, &found), HO_ERR_IO);
  cr_assert_eq(ho_client_cache_store(bad, "/x", 1), HO_ERR_IO);
}

/* Over PATH_MAX: the read before the store already fails (ENAMETOOLONG), so
 * the temporary name's own length check is never the one that refuses. */
Test(client_cache_more, a_name_over_path_max_is_refused) {
  static char longf[4200];
  int n = snprintf(longf, sizeof longf, "%s/", dir);
  memset(longf + n, 'f', 4190 - (size_t)n);
  longf[4190] = '\0';
  cr_assert_eq(ho_client_cache_store(longf, "/x", 1), HO_ERR_INVALID_ARGUMENT);
}

Test(client_cache_more, a_directory_at_the_path_fails_the_rename) {
  char inner[200];
  cr_assert_eq(mkdir(file, 0700), 0);
  snprintf(inner, sizeof inner, "%s/keep", file);
  cr_assert_eq(mkdir(inner, 0700), 0); /* not empty: rename cannot replace it */
  cr_assert_eq(ho_client_cache_store(file, "/run/a.sock", 3), HO_ERR_IO);
  no_tmp_left();
  struct stat st;
  cr_assert_eq(stat(inner, &st), 0);
}

Test(client_cache_more, a_file_size_limit_fails_the_write_and_leaves_no_tmp) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) _exit(9);
    struct rlimit rl = {8, old.rlim_max};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
    int rc = 0;
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
    if (ho_client_cache_store(file, "/run/a.sock", 3) != HO_ERR_IO) rc = 11;
    else if (access(tmp, F_OK) == 0) rc = 12;
    else if (access(file, F_OK) == 0) rc = 13;
    (void)setrlimit(RLIMIT_FSIZE, &old); /* room again for a coverage profile */
    child_exit(rc);
  }
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st));
  cr_assert_eq(WEXITSTATUS(st), 0, "child step %d", WEXITSTATUS(st));
}

Test(client_cache_more, an_unchanged_newest_entry_is_not_rewritten) {
  cr_assert_eq(ho_client_cache_store(file, "/run/a.sock", 3), HO_OK);
  struct stat a, b;
  cr_assert_eq(stat(file, &a), 0);
  cr_assert_eq(ho_client_cache_store(file, "/run/a.sock", 3), HO_OK);
  cr_assert_eq(stat(file, &b), 0);
  cr_assert_eq(a.st_ino, b.st_ino, "rewritten (renamed over) though unchanged");
  /* The same endpoint with other capabilities is rewritten. */
  cr_assert_eq(ho_client_cache_store(file, "/run/a.sock", 5), HO_OK);
  cr_assert_eq(stat(file, &b), 0);
  cr_assert_neq(a.st_ino, b.st_ino);
  uint64_t caps = 0;
  bool found = false;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/a.sock", &caps, &found), HO_OK);
  cr_assert(found);
  cr_assert_eq(caps, 5u);
}

Test(client_cache_more, short_hex_and_overlong_paths_are_skipped) {
  static char line[4300];
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  /* 16 bytes but not all hex digits after a valid prefix: strtoull stops early. */
  fputs("00000000000000 1\t/run/short.sock\n", f);
  /* A path of 4100 bytes: within the line buffer but not a valid endpoint. */
  memset(line, 'p', 4100);
  line[0] = '/';
  line[4100] = '\0';
  fprintf(f, "0000000000000002\t%s\n", line);
  fputs("0000000000000004\t/run/ok.sock\n", f);
  fclose(f);
  uint64_t caps = 0;
  bool found = false;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/short.sock", &caps, &found), HO_OK);
  cr_assert_not(found);
  cr_assert_eq(ho_client_cache_lookup(file, "/run/ok.sock", &caps, &found), HO_OK);
  cr_assert(found);
  cr_assert_eq(caps, 4u);
}
