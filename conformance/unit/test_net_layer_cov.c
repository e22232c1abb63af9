/* Unit tests (issue #17 coverage): the Unix listener and dialer
 * (net/unix_sock.c) on real sockets, where the other tests leave outcomes
 * out — an endpoint right under "/", a blocking connect interrupted by a
 * signal while the listener's backlog is full, and (in forked children,
 * with a seccomp filter making one call fail: syscall_fail.h) stat() of the
 * parent, listen() or the final rename() failing, connect() failing with
 * errnos that name nothing the caller could act on, recvmsg() failing for
 * lack of kernel memory (each failure leaves no file behind), and the stat
 * that identifies the listener's own socket file failing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handoff/error.h"
#include "handoff/transport.h"
#include "net/xfer_internal.h"
#include "child_exit.h"
#include "syscall_fail.h"
#include "xfer_fixtures.h"

/* ---- net: listener and dialer on real sockets -------------------------------- */

#define NOBODY 65534

static char g_root_path[64];

static int root_dir_endpoint(void) { return fx_bind_is_denied(g_root_path); }

/* spec: SEC-9 — an endpoint right under "/": no parent to make, "/" is
 * root's and not writable by others, so the check passes; an unprivileged
 * process then may not bind there (nothing is created in "/"). */
Test(net_layer_cov, endpoint_right_under_the_root_directory) {
  snprintf(g_root_path, sizeof g_root_path, "/ho-cnc-%ld.sock", (long)getpid());
  struct stat st;
  cr_assert_eq(stat("/", &st), 0);
  if (st.st_mode & (S_IWGRP | S_IWOTH)) cr_skip_test("/ is writable by others here");
  if (geteuid() != 0) {
    cr_assert_eq(root_dir_endpoint(), 0);
    return;
  }
  child_run_as(NOBODY, root_dir_endpoint);
  cr_assert_neq(lstat(g_root_path, &st), 0, "nothing was left in /");
}

static volatile sig_atomic_t g_signals;
static void on_signal(int sig) {
  (void)sig;
  g_signals++;
}

typedef struct interrupter {
  pthread_t target;
  ho_listener *l;
  ho_handle taken;
} interrupter;

/* Signal the dialer a few times while its connect waits, then accept one
 * queued connection so that the retried connect finds room. */
static void *interrupt_then_accept(void *arg) {
  interrupter *it = arg;
  struct timespec ts = {0, 30 * 1000 * 1000};
  for (int i = 0; i < 3; i++) {
    nanosleep(&ts, NULL);
    pthread_kill(it->target, SIGUSR2);
  }
  nanosleep(&ts, NULL);
  it->taken = HO_NO_HANDLE;
  (void)ho_listener_accept(it->l, &it->taken);
  return NULL;
}

/* A blocking connect waits while the listener's backlog is full; a signal
 * (handler without SA_RESTART) interrupts it with EINTR and the dialer
 * retries: the connection is made once room appears. */
Test(net_layer_cov, blocking_connect_interrupted_by_a_signal_is_retried) {
  char dir[] = "/tmp/ho-cnc-XXXXXX", path[64];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/l.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, path, 1), HO_OK);
  ho_handle q[8];
  int nq = 0, rc = HO_OK;
  while (nq < 8 && (rc = ho_unix_connect(path, 1, &q[nq])) == HO_OK) nq++;
  cr_assert_eq(rc, HO_ERR_WOULD_BLOCK, "the backlog fills up (after %d)", nq);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: the connect returns EINTR */
  sigemptyset(&sa.sa_mask);
  cr_assert_eq(sigaction(SIGUSR2, &sa, &old), 0);
  g_signals = 0;
  interrupter it = {pthread_self(), &l, HO_NO_HANDLE};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, interrupt_then_accept, &it), 0);
  ho_handle c = HO_NO_HANDLE;
  rc = ho_unix_connect(path, 0, &c);
  cr_assert_eq(pthread_join(th, NULL), 0);
  cr_assert_eq(sigaction(SIGUSR2, &old, NULL), 0);
  cr_assert_eq(rc, HO_OK);
  cr_assert_geq(c, 0);
  cr_assert_eq(g_signals, 3);
  cr_assert_geq(it.taken, 0, "the helper accepted one");
  close((int)c);
  close((int)it.taken);
  for (int i = 0; i < nq; i++) close((int)q[i]);
  ho_listener_close(&l);
  cr_assert_eq(rmdir(dir), 0);
}

/* ---- system calls that fail (forked child, seccomp) ----------------------------- */

static char g_dir[64];

static void mkdir_tmp(void) { fx_mkdtemp(g_dir, sizeof g_dir, "/tmp/ho-cnc-net-XXXXXX"); }
static void rm_tmp(void) { fx_rm_rf(g_dir); }

static bool exists(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0;
}

/* In a forked child: `rules` in force, ho_listener_open_diag(path) gives
 * `want` with `what` and errno `err` in the diagnosis. */
static void listen_fails(const char *path, const sysfail *rules, size_t n, int err, int want,
                         const char *what) {
  pid_t pid = sysfail_fork(rules, n);
  if (pid == 0) {
    ho_listener l;
    ho_diag d;
    int rc = ho_listener_open_diag(&l, path, 1, 0, &d);
    if (rc != want) child_exit(21);
    if (d.os_errno != err || strstr(d.msg, what) == NULL) child_exit(22);
    child_exit(0);
  }
  child_wait_ok(pid);
  cr_assert(fx_dir_is_empty(g_dir), "neither the socket nor its temporary name is left");
}

/* rename(2) and the calls libc may make it with, all failing with `err`. */
static void rename_fails(const char *path, int err, int want) {
  const sysfail rules[] = {
#ifdef SYS_rename
      {SYS_rename, -1, err, 0, 0},
#endif
      {SYS_renameat, -1, err, 0, 0},
      {SYS_renameat2, -1, err, 0, 0},
  };
  listen_fails(path, rules, sizeof rules / sizeof rules[0], err, want, "rename to");
}

/* A path whose "<path>.<pid>.tmp" does not fit sun_path: bound directly. */
static void long_path(char *p, size_t cap) {
  cr_assert_geq(cap, 108);
  int n = snprintf(p, 108, "%s/", g_dir);
  memset(p + n, 'b', 108 - 1 - (size_t)n - 2);
  p[105] = '\0';
}

/* listen() failing: the socket (under its temporary name, or the path
 * itself when that name does not fit) is removed; HO_ERR_IO. */
Test(net_layer_cov, listen_failure_removes_the_socket_file, .init = mkdir_tmp, .fini = rm_tmp) {
  char p[128];
  snprintf(p, sizeof p, "%s/l.sock", g_dir);
  const sysfail no_listen = {SYS_listen, -1, EADDRINUSE, 0, 0};
  listen_fails(p, &no_listen, 1, EADDRINUSE, HO_ERR_IO, "listen");
  cr_assert_not(exists(p));
  long_path(p, sizeof p);
  listen_fails(p, &no_listen, 1, EADDRINUSE, HO_ERR_IO, "listen");
  cr_assert_not(exists(p));
}

/* The rename of the bound temporary name over the path failing: the
 * temporary name is removed; EACCES is HO_ERR_PERMISSION, another errno
 * HO_ERR_IO. spec: SEC-9 */
Test(net_layer_cov, rename_failure_removes_the_temporary_name, .init = mkdir_tmp, .fini = rm_tmp) {
  char p[128];
  snprintf(p, sizeof p, "%s/r.sock", g_dir);
  rename_fails(p, EACCES, HO_ERR_PERMISSION);
  rename_fails(p, EIO, HO_ERR_IO);
  cr_assert_not(exists(p));
}

/* connect() failing with EINVAL, ETIMEDOUT or ENOMEM: none of them is the
 * caller's argument, a timeout it asked for or its memory: HO_ERR_IO, with
 * the errno in the diagnosis. */
Test(net_layer_cov, connect_errnos_that_are_io, .init = mkdir_tmp, .fini = rm_tmp) {
  char p[128];
  snprintf(p, sizeof p, "%s/c.sock", g_dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 4), HO_OK);
  static const int errs[] = {EINVAL, ETIMEDOUT, ENOMEM};
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    const sysfail rule = {SYS_connect, -1, errs[i], 0, 0};
    pid_t pid = sysfail_fork(&rule, 1);
    if (pid == 0) {
      ho_handle c = HO_NO_HANDLE;
      ho_diag d;
      if (ho_unix_connect_diag(p, 0, &c, &d) != HO_ERR_IO) child_exit(21);
      if (d.os_errno != errs[i] || c != HO_NO_HANDLE) child_exit(22);
      child_exit(0);
    }
    child_wait_ok(pid);
  }
  ho_listener_close(&l);
}

/* stat() of the parent directory failing (spec: SEC-9 cannot be checked):
 * the errno's class, with "stat" and the errno in the diagnosis. */
Test(net_layer_cov, parent_directory_stat_failure_is_reported, .init = mkdir_tmp, .fini = rm_tmp) {
  char p[128];
  snprintf(p, sizeof p, "%s/s.sock", g_dir);
  const sysfail rules[] = {
#ifdef SYS_newfstatat
      {SYS_newfstatat, AT_FDCWD, EACCES, 0, 0},
#endif
#ifdef SYS_statx
      {SYS_statx, AT_FDCWD, EACCES, 0, 0},
#endif
  };
  listen_fails(p, rules, sizeof rules / sizeof rules[0], EACCES, HO_ERR_PERMISSION, "stat");
}

/* recvmsg() failing with ENOMEM (kernel memory) on the control connection:
 * HO_ERR_IO, nothing received. */
Test(net_layer_cov, recvmsg_failure_for_lack_of_memory_is_io) {
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  cr_assert_eq(write(sv[0], "x", 1), 1);
  const sysfail rule = {SYS_recvmsg, sv[1], ENOMEM, 0, 0};
  pid_t pid = sysfail_fork(&rule, 1);
  if (pid == 0) {
    uint8_t b[16];
    ho_xfer_rx rx;
    if (ho_xfer_recv_cap(sv[1], b, sizeof b, &rx, 0, 1) != HO_ERR_IO) child_exit(23);
    if (rx.conn != HO_NO_HANDLE) child_exit(24);
    child_exit(0);
  }
  child_wait_ok(pid);
  close(sv[0]);
  close(sv[1]);
}

/* spec: SEC-9 — the socket file the listener made could not be identified
 * (stat of its path failing right after the rename, as when another
 * process replaced it meanwhile): close never unlinks a file it cannot
 * prove is its own. */
Test(net_layer_cov, unidentified_socket_file_is_never_unlinked, .init = mkdir_tmp, .fini = rm_tmp) {
  char p[128];
  snprintf(p, sizeof p, "%s/o.sock", g_dir);
  ho_listener l; /* the child's copy lives at the same address */
  /* Only the stat whose path argument is l.path: the one after the rename. */
  const sysfail rules[] = {
#ifdef SYS_newfstatat
      {SYS_newfstatat, AT_FDCWD, EACCES, 2, (uint64_t)(uintptr_t)l.path},
#endif
#ifdef SYS_statx
      {SYS_statx, AT_FDCWD, EACCES, 2, (uint64_t)(uintptr_t)l.path},
#endif
  };
  pid_t pid = sysfail_fork(rules, sizeof rules / sizeof rules[0]);
  if (pid == 0) {
    if (ho_listener_open(&l, p, 1) != HO_OK) child_exit(21);
    if (l.ino != 0) child_exit(22);
    ho_listener_close(&l);
    child_exit(0);
  }
  child_wait_ok(pid);
  struct stat st;
  cr_assert_eq(lstat(p, &st), 0, "the socket file is still there");
  cr_assert(S_ISSOCK(st.st_mode));
  cr_assert_eq(unlink(p), 0);
}
