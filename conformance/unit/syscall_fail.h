/* Unit tests: make chosen system calls fail with a chosen errno, in a
 * forked child only (a seccomp filter cannot be removed). The error paths
 * behind calls that do not fail on a healthy machine (listen, rename,
 * fsync, poll, getrandom, ...) are then tested without a hook in the
 * library. No architecture check: a test child makes native calls only.
 * Use: in the child, sysfail_install(rules, n) == 0, then the call under
 * test, then child_exit() (child_exit.h); or sysfail_fork(rules, n). */
#ifndef HANDOFF_TEST_SYSCALL_FAIL_H
#define HANDOFF_TEST_SYSCALL_FAIL_H

#include <endian.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "child_exit.h"

typedef struct sysfail {
  long nr;      /* SYS_... */
  long fd;      /* -1: every call; else only calls whose first argument is this
                   (a descriptor, or AT_FDCWD for a path relative to the cwd) */
  int err;      /* the errno the call fails with */
  int arg;      /* 0: no more; k: only calls whose argument k-1 is `val` (64 bits) */
  uint64_t val;
} sysfail;

/* Offset in seccomp_data of the low or high 32 bits of argument k. */
static inline unsigned sysfail_arg_word(int k, bool high) {
  bool le = __BYTE_ORDER == __LITTLE_ENDIAN;
  return (unsigned)offsetof(struct seccomp_data, args[0]) + 8u * (unsigned)k + (high == le ? 4u : 0u);
}

static inline int sysfail_install(const sysfail *r, size_t n) {
  struct sock_filter f[128];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    /* LD nr, JEQ nr; then (LD word, JEQ value) per condition; RET errno.
     * Every failed JEQ jumps to the next rule. */
    unsigned words[3][2];
    size_t nw = 0;
    if (r[i].fd != -1) words[nw][0] = sysfail_arg_word(0, false), words[nw++][1] = (unsigned)r[i].fd;
    if (r[i].arg > 0) {
      words[nw][0] = sysfail_arg_word(r[i].arg - 1, false), words[nw++][1] = (unsigned)r[i].val;
      words[nw][0] = sysfail_arg_word(r[i].arg - 1, true), words[nw++][1] = (unsigned)(r[i].val >> 32);
    }
    size_t len = 2 + 2 * nw + 1;
    if (k + len + 1 > sizeof f / sizeof f[0]) return -1;
    size_t start = k;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r[i].nr, 0,
                                        (unsigned char)(start + len - (k + 1)));
    k++;
    for (size_t w = 0; w < nw; w++) {
      f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, words[w][0]);
      f[k] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, words[w][1], 0,
                                          (unsigned char)(start + len - (k + 1)));
      k++;
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                          SECCOMP_RET_ERRNO | ((unsigned)r[i].err & SECCOMP_RET_DATA));
  }
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {(unsigned short)k, f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* fork() with `rules` (n of them) in force in the child (exit 20 if they
 * cannot be installed): 0 in the child, its pid in the parent. */
static inline pid_t sysfail_fork(const sysfail *rules, size_t n) {
  pid_t pid = child_fork();
  if (pid == 0 && sysfail_install(rules, n) != 0) child_exit(20);
  return pid;
}

#endif
