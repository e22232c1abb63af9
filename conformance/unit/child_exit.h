/* Unit tests: ending a forked child so that a coverage build (make coverage)
 * keeps what the child ran. _exit() skips the atexit handler that writes
 * the clang profile; a child calls child_exit() instead, with its
 * descriptors, uid and file size limit back to what can write the profile. */
#ifndef HANDOFF_TEST_CHILD_EXIT_H
#define HANDOFF_TEST_CHILD_EXIT_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Defined only when linked with -fprofile-instr-generate. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

static inline void child_exit(int rc) {
  if (__llvm_profile_write_file != NULL) (void)__llvm_profile_write_file();
  _exit(rc);
}

/* In a forked child: the descriptor table full. RLIMIT_NOFILE is lowered to
 * one above the highest open descriptor and every free slot below it taken
 * (dup of 0). Returns 0, or 10/11 (child exit codes) when the limit cannot
 * be read or set. child_fd_unfill() gives the slots and the limit back. */
typedef struct child_fdfill {
  struct rlimit old;
  int first, last;
} child_fdfill;

static inline int child_fd_fill(child_fdfill *f) {
  f->first = f->last = -1;
  if (getrlimit(RLIMIT_NOFILE, &f->old) != 0) return 10;
  int hi = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) >= 0) hi = fd;
  struct rlimit rl = {(rlim_t)hi + 1, f->old.rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return 11;
  int fd;
  while ((fd = dup(0)) >= 0) {
    if (f->first < 0) f->first = fd;
    f->last = fd;
  }
  return 0;
}

static inline void child_fd_unfill(child_fdfill *f) {
  for (int fd = f->first; f->first >= 0 && fd <= f->last; fd++) close(fd);
  (void)setrlimit(RLIMIT_NOFILE, &f->old);
}

/* fork(), asserted to succeed: 0 in the child, its pid in the parent. */
static inline pid_t child_fork(void) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  return pid;
}

/* In the parent: the child `pid` ended with exit status 0 (else its
 * status names the step that failed). */
static inline void child_wait_ok(pid_t pid) {
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "child ended by a signal (status 0x%x)", st);
  cr_assert_eq(WEXITSTATUS(st), 0, "child step %d", WEXITSTATUS(st));
}

/* Run `body` in a forked child as uid/gid `uid` (the caller is root); the
 * child's exit status is its verdict (90/91: the ids could not be changed). */
static inline void child_run_as(uid_t uid, int (*body)(void)) {
  pid_t pid = child_fork();
  if (pid == 0) {
    /* Saved ids stay 0, so the child can become root again to write its profile. */
    if (setresgid(uid, uid, 0) != 0 || setresuid(uid, uid, 0) != 0) _exit(90);
    int rc = body();
    if (setresuid(0, 0, 0) != 0 || setresgid(0, 0, 0) != 0) _exit(91);
    child_exit(rc);
  }
  child_wait_ok(pid);
}

#endif
