/* Unit tests: ending a forked child so that a coverage build (make coverage)
 * keeps what the child ran. _exit() skips the atexit handler that writes
 * the clang profile; a child calls child_exit() instead, with its
 * descriptors, uid and file size limit back to what can write the profile. */
#ifndef HANDOFF_TEST_CHILD_EXIT_H
#define HANDOFF_TEST_CHILD_EXIT_H

#include <unistd.h>

/* Defined only when linked with -fprofile-instr-generate. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

static inline void child_exit(int rc) {
  if (__llvm_profile_write_file != NULL) (void)__llvm_profile_write_file();
  _exit(rc);
}

#endif
