/* Unit tests (issue #17 coverage): the blocking I/O of the client shell
 * (client/client_shell.c) on real sockets — ho_client_write_all and
 * ho_client_read_exact with bad arguments, a gone peer, a reset, a
 * non-socket, a full send buffer, deadlines of 0, of none and of INT_MAX, a
 * signal during the wait — and ho_client_connect with NULLs, a broker
 * endpoint served by a uid the server policy rejects, and a broker that
 * resets the connection. Each gives its named error and leaks no
 * descriptor. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff/client.h"
#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/transport.h"
#include "child_exit.h"

static int sp[2];

static void pair_open(void) { cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0); }

static void pair_close(void) {
  if (sp[0] >= 0) close(sp[0]);
  if (sp[1] >= 0) close(sp[1]);
}

TestSuite(client_shell_more, .init = pair_open, .fini = pair_close);

/* A child that sleeps `ms`, then writes `n` bytes of 'z' to sp[1] (or reads all of it when n == 0). */
static pid_t later(int ms, size_t n) {
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(sp[0]);
    usleep((useconds_t)ms * 1000);
    char b[65536];
    if (n > 0) {
      memset(b, 'z', sizeof b);
      _exit(send(sp[1], b, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : 1);
    }
    while (recv(sp[1], b, sizeof b, 0) > 0) {}
    _exit(0);
  }
  return pid;
}

static void reap(pid_t pid) { child_wait_ok(pid); }

Test(client_shell_more, write_all_refuses_bad_arguments) {
  cr_assert_eq(ho_client_write_all(-1, "x", 1, 100), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_write_all(sp[0], NULL, 1, 100), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_write_all(sp[0], NULL, 0, 100), HO_OK); /* nothing to write */
  cr_assert_eq(ho_client_write_all(sp[0], "ab", 2, 100), HO_OK);
  char b[2];
  cr_assert_eq(recv(sp[1], b, 2, 0), 2);
}

/* spec: ERR-3 CLIENT-5 — a gone peer is HO_ERR_CLOSED, not SIGPIPE. */
Test(client_shell_more, write_all_to_a_gone_peer_is_closed) {
  close(sp[1]);
  sp[1] = -1;
  cr_assert_eq(ho_client_write_all(sp[0], "x", 1, 100), HO_ERR_CLOSED);
}

Test(client_shell_more, write_all_to_a_non_socket_is_io) {
  int pp[2];
  cr_assert_eq(pipe(pp), 0);
  cr_assert_eq(ho_client_write_all(pp[1], "x", 1, 100), HO_ERR_IO); /* ENOTSOCK */
  close(pp[0]);
  close(pp[1]);
}

Test(client_shell_more, write_all_into_a_full_buffer_times_out) {
  static uint8_t big[1 << 20];
  int sz = 4096;
  (void)setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  uint64_t t0 = ho_client_now_ms();
  cr_assert_eq(ho_client_write_all(sp[0], big, sizeof big, 50), HO_ERR_TIMEOUT);
  cr_assert_geq(ho_client_now_ms() - t0, 50);
}

Test(client_shell_more, write_all_without_deadline_waits_for_the_reader) {
  static uint8_t big[1 << 20];
  pid_t pid = later(30, 0);
  close(sp[1]);
  sp[1] = -1;
  cr_assert_eq(ho_client_write_all(sp[0], big, sizeof big, -1), HO_OK);
  close(sp[0]);
  sp[0] = -1;
  reap(pid);
}

Test(client_shell_more, read_exact_refuses_bad_arguments) {
  size_t got = 99;
  char b[4];
  cr_assert_eq(ho_client_read_exact(-1, b, 1, 100, &got), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(got, 99); /* refused before any read: untouched */
  cr_assert_eq(ho_client_read_exact(sp[0], NULL, 1, 100, &got), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_client_read_exact(sp[0], NULL, 0, 100, &got), HO_OK);
  cr_assert_eq(ho_client_read_exact(sp[0], b, 0, 100, NULL), HO_OK);
}

Test(client_shell_more, read_exact_eof_after_part_is_closed_with_count) {
  cr_assert_eq(send(sp[1], "ab", 2, 0), 2);
  close(sp[1]);
  sp[1] = -1;
  char b[4];
  size_t got = 0;
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, 100, &got), HO_ERR_CLOSED);
  cr_assert_eq(got, 2);
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, 100, NULL), HO_ERR_CLOSED);
}

/* spec: CLIENT-5 — a reset (the peer closed with our bytes unread) is EOF. */
Test(client_shell_more, read_exact_after_a_reset_is_closed) {
  cr_assert_eq(send(sp[0], "q", 1, 0), 1);
  close(sp[1]);
  sp[1] = -1;
  char b[4];
  size_t got = 9;
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, 100, &got), HO_ERR_CLOSED);
  cr_assert_eq(got, 0);
}

Test(client_shell_more, read_exact_from_a_non_socket_is_io) {
  int pp[2];
  cr_assert_eq(pipe(pp), 0);
  char b[4];
  size_t got = 9;
  cr_assert_eq(ho_client_read_exact(pp[0], b, 4, 100, &got), HO_ERR_IO); /* ENOTSOCK */
  cr_assert_eq(got, 0);
  close(pp[0]);
  close(pp[1]);
}

Test(client_shell_more, read_exact_deadline_zero_times_out_at_once) {
  char b[4];
  size_t got = 9;
  cr_assert_eq(send(sp[1], "a", 1, 0), 1);
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, 0, &got), HO_ERR_TIMEOUT);
  cr_assert_eq(got, 1);
}

Test(client_shell_more, read_exact_with_int_max_and_no_deadline_waits_for_bytes) {
  char b[8];
  size_t got = 0;
  pid_t pid = later(20, 4);
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, INT_MAX, &got), HO_OK); /* wait clamped */
  cr_assert_eq(got, 4);
  reap(pid);
  pid = later(20, 4);
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, -1, &got), HO_OK);
  cr_assert_eq(memcmp(b, "zzzz", 4), 0);
  reap(pid);
}

static void on_alarm(int s) { (void)s; }

Test(client_shell_more, read_exact_wait_survives_a_signal) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: poll returns EINTR */
  cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
  struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 20000}};
  cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
  char b[4];
  size_t got = 9;
  uint64_t t0 = ho_client_now_ms();
  cr_assert_eq(ho_client_read_exact(sp[0], b, 4, 120, &got), HO_ERR_TIMEOUT);
  cr_assert_geq(ho_client_now_ms() - t0, 120); /* the signal did not cut the wait short */
  cr_assert_eq(got, 0);
}

/* ---- ho_client_connect --------------------------------------------------- */

Test(client_shell_more, connect_refuses_null_arguments) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = "/tmp/x.sock";
  cfg.service_name = "echo";
  ho_client_result r;
  cr_assert_eq(ho_client_connect(NULL, &r), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(r.conn, HO_NO_HANDLE);
  cr_assert_eq(ho_client_connect(&cfg, NULL), HO_ERR_INVALID_ARGUMENT);
}

static uint64_t fixed_us(void *u) {
  (*(int *)u)++;
  return 5;
}

static char g_dir[64], g_sock[96];

static void listen_tmp(ho_listener *l) {
  strcpy(g_dir, "/tmp/ho-clshell-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
  snprintf(g_sock, sizeof g_sock, "%s/broker.sock", g_dir);
  cr_assert_eq(ho_listener_open(l, g_sock, 4), HO_OK);
}

static void unlisten_tmp(ho_listener *l) {
  ho_listener_close(l);
  rmdir(g_dir);
}

/* spec: CLIENT-9 — who serves the endpoint is checked before a byte is written. */
Test(client_shell_more, connect_to_an_endpoint_of_a_rejected_uid_is_peer_rejected) {
  ho_listener l;
  listen_tmp(&l);
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = g_sock;
  cfg.service_name = "echo";
  cfg.server_policy = HO_PEER_UID;
  cfg.server_uid = geteuid() + 1;
  cfg.peer_pid = 4242;
  int calls = 0;
  cfg.measure_us = fixed_us;
  cfg.measure_user = &calls;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_ERR_PEER_REJECTED);
  cr_assert_eq(r.conn, HO_NO_HANDLE);
  cr_assert_not_null(strstr(r.diag.msg, "which the server policy rejects"), "%s", r.diag.msg);
  /* The broker side sees the connection closed without a byte. */
  ho_handle a = HO_NO_HANDLE;
  cr_assert_eq(ho_listener_accept_mode(&l, false, &a), HO_OK);
  char c;
  cr_assert_eq(recv((int)a, &c, 1, 0), 0);
  close((int)a);
  unlisten_tmp(&l);
}

/* In the forked broker: accept the client's connection (blocking mode).
 * Returns 0, or the child's exit code naming the step. */
static int child_accept(ho_listener *l, ho_handle *a) {
  struct pollfd p = {.fd = (int)l->fd, .events = POLLIN}; /* the listener does not block */
  if (poll(&p, 1, 5000) != 1) return 3;
  return ho_listener_accept_mode(l, false, a) == HO_OK ? 0 : 1;
}

/* ho_client_connect to the test broker fails with `want`, no connection left. */
static void connect_fails_with(int want) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = g_sock;
  cfg.service_name = "echo";
  cfg.io_timeout_ms = 5000;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), want);
  cr_assert_eq(r.conn, HO_NO_HANDLE);
}

/* A broker that accepts and closes with the Hello unread: the client's read
 * gets ECONNRESET, which counts as the connection closed (spec: CLIENT-5). */
Test(client_shell_more, broker_reset_before_negotiated_is_closed) {
  ho_listener l;
  listen_tmp(&l);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    ho_handle a = HO_NO_HANDLE;
    int arc = child_accept(&l, &a);
    if (arc != 0) _exit(arc);
    char c;
    /* wait until the Hello is queued, leave it unread, close: a reset */
    if (recv((int)a, &c, 1, MSG_PEEK) != 1) _exit(2);
    close((int)a);
    _exit(0);
  }
  connect_fails_with(HO_ERR_CLOSED);
  child_wait_ok(pid);
  unlisten_tmp(&l);
}

/* A reply frame announcing a body larger than one read buffer (16 KiB): the
 * shell reads it in buffer-sized pieces; the broker closes inside the body,
 * so the reply is truncated (spec: FRAME-4 CLIENT-2). */
Test(client_shell_more, reply_body_over_one_read_buffer_then_eof_is_truncated) {
  ho_listener l;
  listen_tmp(&l);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    ho_handle a = HO_NO_HANDLE;
    int arc = child_accept(&l, &a);
    if (arc != 0) _exit(arc);
    static uint8_t buf[5 + 20000];
    if (ho_frame_write_header(buf, 40000) != HO_OK) _exit(4);
    memset(buf + 5, 0x0a, sizeof buf - 5);
    /* read the Hello first so that the close is an EOF, not a reset */
    uint8_t in[4096];
    if (recv((int)a, in, sizeof in, 0) <= 0) _exit(5);
    if (send((int)a, buf, sizeof buf, MSG_NOSIGNAL) != (ssize_t)sizeof buf) _exit(6);
    close((int)a);
    _exit(0);
  }
  connect_fails_with(HO_ERR_TRUNCATED);
  child_wait_ok(pid);
  unlisten_tmp(&l);
}
