/* Unit tests: make chosen system calls fail with a chosen errno, in a
 * forked child only (a seccomp filter cannot be removed). The error paths
 * behind calls that do not fail on a healthy machine (listen, rename,
 * fsync, poll, getrandom, ...) are then tested without a hook in the
 * library. No architecture check: a test child makes native calls only.
 * Use: in the child, sysfail_install(rules, n) == 0, then the call under
 * test, then child_exit() (child_exit.h). */
#ifndef HANDOFF_TEST_SYSCALL_FAIL_H
#define HANDOFF_TEST_SYSCALL_FAIL_H

#include <endian.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

typedef struct sysfail {
  long nr;  /* SYS_... */
  long fd;  /* -1: every call; else only calls whose first argument is this
               (a descriptor, or AT_FDCWD for a path relative to the cwd) */
  int err;  /* the errno the call fails with */
} sysfail;

static inline int sysfail_install(const sysfail *r, size_t n) {
  struct sock_filter f[64];
  size_t k = 0;
  const unsigned arg0 = (unsigned)offsetof(struct seccomp_data, args[0]) +
                        (__BYTE_ORDER == __LITTLE_ENDIAN ? 0u : 4u); /* its low 32 bits */
  for (size_t i = 0; i < n; i++) {
    if (k + 6 > sizeof f / sizeof f[0]) return -1;
    bool by_fd = r[i].fd != -1;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r[i].nr, 0, by_fd ? 3 : 1);
    if (by_fd) {
      f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0);
      f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r[i].fd, 0, 1);
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                          SECCOMP_RET_ERRNO | ((unsigned)r[i].err & SECCOMP_RET_DATA));
  }
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {(unsigned short)k, f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

#endif
