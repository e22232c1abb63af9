/* Unit tests (issue #17 coverage): the client's blocking shells
 * (client/client_shell.c, client/client_cache_shell.c) where a system call
 * fails or answers in a way a healthy machine does not produce on demand,
 * each in a forked child with a seccomp filter (syscall_fail.h): poll() or
 * recv() failing while a read waits, the endpoint cache's fdopen(), fsync()
 * or close() failing, and poll() reporting the deadline while bytes or EOF
 * arrive (a supervisor thread answers poll for the kernel: READY-14's last
 * look). */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/transport.h"
#include "child_exit.h"
#include "client_core_fixtures.h"
#include "syscall_fail.h"
#include "xfer_fixtures.h"

static ho_client_config base_cfg(void) { return cfx_config(NULL); /* the path: per test */ }

static char g_dir[64];

static void mkdir_tmp(void) { fx_mkdtemp(g_dir, sizeof g_dir, "/tmp/ho-cnc-cli-XXXXXX"); }
static void rm_tmp(void) { fx_rm_rf(g_dir); }

/* In a forked child with `rules` in force: ho_client_read_exact on a quiet
 * socketpair and ho_client_connect waiting for the HelloReply (from a
 * listener that accepts nothing: the Hello is written, no reply comes) are
 * both HO_ERR_IO, with nothing read and no connection. */
static void read_and_connect_are_io(const sysfail *rules, size_t n) {
  char path[128];
  snprintf(path, sizeof path, "%s/b.sock", g_dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, path, 4), HO_OK);
  int sp[2];
  fx_socketpair(SOCK_STREAM, sp);
  pid_t pid = sysfail_fork(rules, n);
  if (pid == 0) {
    uint8_t b[4];
    size_t got = 9;
    if (ho_client_read_exact(sp[0], b, sizeof b, 1000, &got) != HO_ERR_IO || got != 0) child_exit(22);
    ho_client_config cfg = base_cfg();
    cfg.connect_path = path;
    cfg.io_timeout_ms = 1000;
    ho_client_result r;
    memset(&r, 0, sizeof r);
    if (ho_client_connect(&cfg, &r) != HO_ERR_IO) child_exit(23);
    if (r.conn != HO_NO_HANDLE) child_exit(24);
    child_exit(0);
  }
  child_wait_ok(pid);
  close(sp[0]);
  close(sp[1]);
  ho_listener_close(&l);
}

/* poll() (and the call libc may make it with) failing with ENOMEM while a
 * read waits is HO_ERR_IO: in ho_client_read_exact, and in
 * ho_client_connect waiting for the HelloReply. */
Test(client_shell_cov, poll_failure_while_reading_is_io, .init = mkdir_tmp, .fini = rm_tmp) {
  const sysfail no_poll[] = {
#ifdef SYS_poll
      {SYS_poll, -1, ENOMEM, 0, 0},
#endif
      {SYS_ppoll, -1, ENOMEM, 0, 0},
  };
  read_and_connect_are_io(no_poll, sizeof no_poll / sizeof no_poll[0]);
}

/* recv() failing with ENOMEM (kernel memory) while a read waits: CLIENT-5
 * makes only a reset EOF; this is HO_ERR_IO, in ho_client_read_exact and in
 * ho_client_connect waiting for the HelloReply. */
Test(client_shell_cov, recv_failure_for_lack_of_memory_is_io, .init = mkdir_tmp, .fini = rm_tmp) {
  const sysfail no_recv = {SYS_recvfrom, -1, ENOMEM, 0, 0};
  read_and_connect_are_io(&no_recv, 1);
}

/* The descriptor the cache's temporary file will get: the lowest free one. */
static int next_fd(void) {
  int fd = dup(0);
  cr_assert_geq(fd, 0);
  close(fd);
  return fd;
}

/* In a forked child: fsync() and/or close() of the cache's temporary file
 * fail with EIO; the store is HO_ERR_IO, the temporary file is removed and
 * the cache file is not written. */
static void cache_store_fails(bool fsync_fails, bool close_fails) {
  char file[128];
  snprintf(file, sizeof file, "%s/caps", g_dir);
  int fd = next_fd(); /* no cache file yet: the child's temporary file is the next descriptor */
  sysfail rules[2];
  size_t n = 0;
  if (fsync_fails) rules[n++] = (sysfail){SYS_fsync, fd, EIO, 0, 0};
  if (close_fails) rules[n++] = (sysfail){SYS_close, fd, EIO, 0, 0};
  pid_t pid = sysfail_fork(rules, n);
  if (pid == 0) {
    if (ho_client_cache_store(file, "/run/b.sock", 0x5) != HO_ERR_IO) child_exit(21);
    (void)dup(0); /* takes that descriptor number (if closed): the coverage profile uses another */
    child_exit(0);
  }
  child_wait_ok(pid);
  cr_assert(fx_dir_is_empty(g_dir), "no cache file, no temporary file");
  uint64_t caps = 0;
  bool found = true;
  cr_assert_eq(ho_client_cache_lookup(file, "/run/b.sock", &caps, &found), HO_OK);
  cr_assert_not(found);
}

/* fdopen() of the temporary file failing as it does when memory runs out
 * (its F_GETFL fails with ENOMEM): HO_ERR_NOMEM, the temporary file removed. */
Test(client_shell_cov, cache_store_fdopen_failing_is_nomem, .init = mkdir_tmp, .fini = rm_tmp) {
  char file[128];
  snprintf(file, sizeof file, "%s/caps", g_dir);
  const sysfail rule = {SYS_fcntl, next_fd(), ENOMEM, 0, 0};
  pid_t pid = sysfail_fork(&rule, 1);
  if (pid == 0) {
    if (ho_client_cache_store(file, "/run/b.sock", 0x5) != HO_ERR_NOMEM) child_exit(21);
    (void)dup(0); /* takes that descriptor number: the coverage profile is written on another */
    child_exit(0);
  }
  child_wait_ok(pid);
  cr_assert(fx_dir_is_empty(g_dir), "no cache file, no temporary file");
}

/* spec: CLIENT-7 — what the client remembers is written whole or not at all:
 * a temporary file that could not be made durable is not renamed into place. */
Test(client_shell_cov, cache_store_fsync_or_close_failing_is_io, .init = mkdir_tmp, .fini = rm_tmp) {
  cache_store_fails(true, false);
  cache_store_fails(false, true);
  cache_store_fails(true, true);
}

/* ---- READY-14's last look: poll() says "deadline" while bytes arrive ---------- */

typedef struct poll_sup {
  int notify;            /* the seccomp listener: every poll() of the client */
  ho_listener *broker;   /* where the client's connection waits, never accepted before */
  uint8_t first;         /* the byte the "broker" sends on the first poll */
  int steps;             /* polls answered */
  ho_handle conn;        /* the broker's end, closed by the test once the client is done */
} poll_sup;

/* Answer each poll() of the client as "timed out" (0) after acting for the
 * broker: on the first, send one byte; on the second, end the stream. */
static void *supervise(void *arg) {
  poll_sup *s = arg;
  for (;;) {
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    memset(&req, 0, sizeof req);
    if (ioctl(s->notify, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) break;
    if (s->steps == 0) {
      if (ho_listener_accept(s->broker, &s->conn) != HO_OK || write((int)s->conn, &s->first, 1) != 1)
        break;
    } else if (shutdown((int)s->conn, SHUT_WR) != 0) { /* EOF */
      break;
    }
    s->steps++;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id; /* val 0, error 0: poll returns 0 */
    if (ioctl(s->notify, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) break;
    if (s->steps == 2) break;
  }
  return NULL;
}

/* Every poll() of this thread (and those it creates) goes to the listener returned. */
static int poll_to_supervisor(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef SYS_poll
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_poll, 1, 0),
#else
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ppoll, 1, 0),
#endif
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ppoll, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* spec: READY-14 CLIENT-1 FRAME-4 — the wait ends (poll reports the deadline)
 * just as a byte arrives: the last non-blocking look reads it and the read
 * goes on; the next wait ends as the broker closes: the last look sees EOF,
 * inside the HelloReply frame: HO_ERR_TRUNCATED. */
Test(client_shell_cov, last_look_after_the_deadline_reads_bytes_and_eof, .init = mkdir_tmp, .fini = rm_tmp) {
  char path[128];
  snprintf(path, sizeof path, "%s/b.sock", g_dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, path, 4), HO_OK);
  uint8_t frame[512];
  (void)cfx_negotiated(frame, sizeof frame, "/tmp/ho-cnc-pipe.sock", 0, NULL, 0);
  pid_t pid = child_fork();
  if (pid == 0) {
    int nfd = poll_to_supervisor();
    if (nfd < 0) child_exit(errno == EINVAL ? 77 : 20); /* 77: no user notification here */
    poll_sup s = {nfd, &l, frame[0], 0, HO_NO_HANDLE};
    pthread_t th;
    if (pthread_create(&th, NULL, supervise, &s) != 0) child_exit(21);
    ho_client_config cfg = base_cfg();
    cfg.connect_path = path;
    ho_client_result r;
    memset(&r, 0, sizeof r);
    int rc = ho_client_connect(&cfg, &r);
    if (pthread_join(th, NULL) != 0) child_exit(22);
    if (s.steps != 2) child_exit(23);
    close((int)s.conn); /* only now: a close with the Hello unread would reset the client */
    if (rc != HO_ERR_TRUNCATED) child_exit(24);
    child_exit(0);
  }
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77) cr_skip_test("no seccomp user notification");
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
  ho_listener_close(&l);
}
