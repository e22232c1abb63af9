/* Unit tests (issue #17 coverage): the remaining error paths of the Unix
 * listener, dialer, peer credentials and descriptor transport
 * (net/unix_sock.c, net/unix_xfer.c) on real sockets and real descriptors:
 * parent directories that cannot be made or are not safe, a live endpoint,
 * takeover, an unprivileged process (setuid in a forked child), accept on a
 * socket that does not listen, connect to a datagram socket, a stale socket
 * file, peer credentials of non-sockets, and the argument and OS errors of
 * ho_xfer_send / ho_xfer_recv_cap / ho_xfer_check_stream. Each gives its
 * named error and leaks no descriptor. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff/error.h"
#include "handoff/transport.h"
#include "net/xfer_internal.h"
#include "child_exit.h"
#include "xfer_fixtures.h"

#define NOBODY 65534

static char dir[64];

static void mkdir_tmp(void) { fx_mkdtemp(dir, sizeof dir, "/tmp/ho-netmore-XXXXXX"); }
static void rm_tmp(void) { fx_rm_rf(dir); }

TestSuite(net_more, .init = mkdir_tmp, .fini = rm_tmp);

static void touch(const char *p) {
  int fd = open(p, O_CREAT | O_WRONLY, 0600);
  cr_assert_geq(fd, 0);
  close(fd);
}

/* Run `body` in a forked child as uid/gid NOBODY; the child's exit status is its verdict. */
static void as_nobody(int (*body)(void)) {
  if (geteuid() != 0) cr_skip_test("needs root to drop to an unprivileged uid");
  child_run_as(NOBODY, body);
}

/* ---- parent directories (spec: SEC-1 SEC-2 SEC-9) ---------------------- */

Test(net_more, listener_parent_through_a_file_is_io) {
  char f[128], p[160];
  snprintf(f, sizeof f, "%s/file", dir);
  touch(f);
  ho_listener l;
  ho_diag d;
  /* The parent is a file: mkdir finds it (EEXIST), bind fails (ENOTDIR). */
  snprintf(p, sizeof p, "%s/file/x.sock", dir);
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_ERR_IO);
  cr_assert_eq(d.os_errno, ENOTDIR);
  cr_assert_not_null(strstr(d.msg, "bind"));
  /* The last directory to make is under a file: the final mkdir fails (ENOTDIR). */
  snprintf(p, sizeof p, "%s/file/sub/x.sock", dir);
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_ERR_IO);
  cr_assert_eq(d.os_errno, ENOTDIR);
  cr_assert_not_null(strstr(d.msg, "mkdir"));
  /* A middle directory is under a file: the loop's mkdir fails (ENOTDIR). */
  snprintf(p, sizeof p, "%s/file/sub/sub2/x.sock", dir);
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_ERR_IO);
  cr_assert_eq(d.os_errno, ENOTDIR);
  cr_assert_not_null(strstr(d.msg, "/file/sub:"));
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, NULL), HO_ERR_IO);
}

Test(net_more, listener_makes_missing_parents_0700) {
  char p[160], sub[128];
  snprintf(p, sizeof p, "%s/a/b/x.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_OK);
  snprintf(sub, sizeof sub, "%s/a/b", dir);
  struct stat st;
  cr_assert_eq(stat(sub, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0700);
  cr_assert_eq(stat(p, &st), 0);
  cr_assert(S_ISSOCK(st.st_mode));
  cr_assert_eq(st.st_mode & 0777, 0600); /* spec: SEC-1 */
  ho_listener_close(&l);
  cr_assert_neq(stat(p, &st), 0);
}

/* spec: SEC-9 */
Test(net_more, listener_refuses_a_directory_others_can_write) {
  char sub[128], p[160];
  snprintf(sub, sizeof sub, "%s/w", dir);
  cr_assert_eq(mkdir(sub, 0700), 0);
  cr_assert_eq(chmod(sub, 0777), 0);
  snprintf(p, sizeof p, "%s/x.sock", sub);
  ho_listener l;
  ho_diag d;
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_ERR_PERMISSION);
  cr_assert_not_null(strstr(d.msg, "others can write it"));
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, NULL), HO_ERR_PERMISSION);
  /* The sticky bit stops others from replacing the socket: accepted. */
  cr_assert_eq(chmod(sub, 01777), 0);
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_OK);
  ho_listener_close(&l);
}

/* spec: SEC-9 */
Test(net_more, listener_refuses_a_directory_another_user_owns) {
  if (geteuid() != 0) cr_skip_test("needs root to chown");
  char sub[128], p[160];
  snprintf(sub, sizeof sub, "%s/o", dir);
  cr_assert_eq(mkdir(sub, 0700), 0);
  cr_assert_eq(chown(sub, NOBODY, NOBODY), 0);
  snprintf(p, sizeof p, "%s/x.sock", sub);
  ho_listener l;
  ho_diag d;
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_ERR_PERMISSION);
  cr_assert_not_null(strstr(d.msg, "another user owns it"));
  cr_assert_eq(d.os_errno, 0);
}

Test(net_more, listener_relative_path_in_the_working_directory) {
  int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq(here, 0);
  cr_assert_eq(chdir(dir), 0);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, "rel.sock", 1), HO_OK);
  ho_handle c = HO_NO_HANDLE;
  cr_assert_eq(ho_unix_connect("rel.sock", 0, &c), HO_OK);
  close((int)c);
  ho_listener_close(&l);
  struct stat st;
  cr_assert_neq(stat("rel.sock", &st), 0);
  cr_assert_eq(fchdir(here), 0); /* back: a coverage profile is written by a relative path */
  close(here);
}

static char g_path[160];

static int nobody_mkdir_denied(void) {
  ho_diag d;
  ho_listener l;
  if (ho_listener_open_diag(&l, g_path, 1, 0, &d) != HO_ERR_PERMISSION) return 1;
  if (d.os_errno != EACCES) return 2;
  return 0;
}

Test(net_more, listener_parent_mkdir_denied_is_permission) {
  /* A root-owned 0700 directory: an unprivileged process may not make a subdirectory. */
  snprintf(g_path, sizeof g_path, "%s/sub/x.sock", dir);
  as_nobody(nobody_mkdir_denied);
}

static int nobody_bind_denied(void) { return fx_bind_is_denied(g_path); }

Test(net_more, listener_bind_denied_is_permission) {
  /* A root-owned 0755 directory passes the SEC-9 check but nobody may bind in it. */
  if (geteuid() != 0) cr_skip_test("needs root");
  char sub[128];
  snprintf(sub, sizeof sub, "%s/ro", dir);
  cr_assert_eq(mkdir(sub, 0755), 0);
  cr_assert_eq(chmod(dir, 0755), 0);
  snprintf(g_path, sizeof g_path, "%s/x.sock", sub);
  as_nobody(nobody_bind_denied);
}

static int nobody_connect_denied(void) {
  ho_diag d;
  ho_handle c = HO_NO_HANDLE;
  if (ho_unix_connect_diag(g_path, 0, &c, &d) != HO_ERR_PERMISSION) return 1;
  if (d.os_errno != EACCES || c != HO_NO_HANDLE) return 2;
  return 0;
}

/* spec: SEC-1 */
Test(net_more, connect_to_a_0600_socket_of_another_user_is_permission) {
  if (geteuid() != 0) cr_skip_test("needs root");
  cr_assert_eq(chmod(dir, 0755), 0);
  snprintf(g_path, sizeof g_path, "%s/s.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, g_path, 1), HO_OK);
  as_nobody(nobody_connect_denied);
  ho_listener_close(&l);
}

/* ---- live endpoints, takeover, stale files ----------------------------- */

Test(net_more, listener_refuses_a_live_endpoint_unless_taking_over) {
  char p[128];
  snprintf(p, sizeof p, "%s/live.sock", dir);
  ho_listener l1, l2;
  ho_diag d;
  cr_assert_eq(ho_listener_open(&l1, p, 1), HO_OK);
  cr_assert_eq(ho_listener_open_diag(&l2, p, 1, 0, &d), HO_ERR_STATE);
  cr_assert_not_null(strstr(d.msg, "another process accepts on it"));
  cr_assert_eq(ho_listener_open_diag(&l2, p, 1, 0, NULL), HO_ERR_STATE);
  /* Drain the probe connection socket_is_live made (twice). */
  ho_handle c;
  while (ho_listener_accept(&l1, &c) == HO_OK) close((int)c);
  cr_assert_eq(ho_listener_open_diag(&l2, p, 1, HO_LISTEN_TAKEOVER, &d), HO_OK);
  /* The old listener's file is gone: closing it must not unlink the successor's socket. */
  ho_listener_close(&l1);
  cr_assert_eq(ho_unix_connect(p, 0, &c), HO_OK);
  close((int)c);
  ho_listener_close(&l2);
}

Test(net_more, close_leaves_a_removed_path_alone) {
  char p[128];
  snprintf(p, sizeof p, "%s/gone.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_OK);
  cr_assert_eq(unlink(p), 0);
  ho_listener_close(&l); /* stat fails: nothing to unlink */
  cr_assert_eq(l.fd, HO_NO_HANDLE);
  /* A plain file put at the path meanwhile is not ours either. */
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_OK);
  cr_assert_eq(unlink(p), 0);
  touch(p);
  ho_listener_close(&l);
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
}

Test(net_more, connect_to_a_stale_socket_is_closed) {
  char p[128];
  snprintf(p, sizeof p, "%s/stale.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_OK);
  close((int)l.fd); /* the file stays, nobody listens */
  ho_handle c = HO_NO_HANDLE;
  ho_diag d;
  cr_assert_eq(ho_unix_connect_diag(p, 0, &c, &d), HO_ERR_CLOSED);
  cr_assert_eq(d.os_errno, ECONNREFUSED);
  cr_assert_eq(ho_unix_connect(p, 1, &c), HO_ERR_CLOSED);
}

Test(net_more, connect_to_a_datagram_socket_is_io) {
  char p[128];
  snprintf(p, sizeof p, "%s/dgram.sock", dir);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  cr_assert_geq(s, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, p);
  cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
  ho_handle c = HO_NO_HANDLE;
  ho_diag d;
  cr_assert_eq(ho_unix_connect_diag(p, 0, &c, &d), HO_ERR_IO);
  cr_assert_eq(d.os_errno, EPROTOTYPE);
  cr_assert_str_eq(ho_errno_name(d.os_errno), "EPROTOTYPE");
  close(s);
}

Test(net_more, accept_on_a_socket_that_does_not_listen_is_io) {
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ho_listener l;
  memset(&l, 0, sizeof l);
  l.fd = sv[0];
  ho_handle c = HO_NO_HANDLE;
  cr_assert_eq(ho_listener_accept_mode(&l, false, &c), HO_ERR_IO); /* EINVAL */
  cr_assert_eq(c, HO_NO_HANDLE);
  close(sv[0]);
  close(sv[1]);
}

Test(net_more, blocking_accept_takes_a_queued_connection) {
  char p[128];
  snprintf(p, sizeof p, "%s/blk.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_OK);
  ho_handle c = HO_NO_HANDLE, a = HO_NO_HANDLE;
  cr_assert_eq(ho_unix_connect(p, 0, &c), HO_OK);
  cr_assert_eq(ho_listener_accept_mode(&l, false, &a), HO_OK);
  cr_assert_eq(fcntl((int)a, F_GETFL) & O_NONBLOCK, 0);
  cr_assert_neq(fcntl((int)a, F_GETFD) & FD_CLOEXEC, 0);
  close((int)a);
  close((int)c);
  ho_listener_close(&l);
}

/* ---- peer credentials (spec: SEC-3) ------------------------------------- */

Test(net_more, peer_credentials_of_non_sockets) {
  ho_peer_cred pc;
  cr_assert_eq(ho_peer_cred_get(-1, &pc), HO_ERR_PEER_CREDENTIALS);
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(ho_peer_cred_get(sv[0], NULL), HO_ERR_PEER_CREDENTIALS);
  cr_assert_eq(ho_peer_cred_get(sv[0], &pc), HO_OK);
  cr_assert_eq(pc.pid, getpid());
  cr_assert_eq(pc.uid, geteuid());
  int pp[2];
  cr_assert_eq(pipe(pp), 0);
  cr_assert_eq(ho_peer_cred_get(pp[0], &pc), HO_ERR_PEER_CREDENTIALS); /* ENOTSOCK */
  /* Without credentials only HO_PEER_ANY admits; with them a wrong uid is rejected. */
  cr_assert_eq(ho_peer_check(pp[0], HO_PEER_SAME_UID, 0, NULL), HO_ERR_PEER_CREDENTIALS);
  cr_assert_eq(ho_peer_check(pp[0], HO_PEER_ANY, 0, &pc), HO_OK);
  cr_assert_eq(ho_peer_check(sv[0], HO_PEER_UID, geteuid() + 1, &pc), HO_ERR_PEER_REJECTED);
  cr_assert_eq(pc.uid, geteuid()); /* filled even when rejected */
  cr_assert_eq(ho_peer_check(sv[0], HO_PEER_SAME_UID, 0, NULL), HO_OK);
  close(pp[0]);
  close(pp[1]);
  close(sv[0]);
  close(sv[1]);
}

/* ---- descriptor transport (spec: XFER-3 XFER-28 XFER-29) ---------------- */

static const uint8_t k_tok[HO_TOKEN_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

Test(net_more, errno_mapping_names_every_class) {
  static const struct {
    int e, rc;
  } t[] = {{0, HO_OK},
           {EAGAIN, HO_ERR_WOULD_BLOCK},
           {ENOBUFS, HO_ERR_WOULD_BLOCK},
           {EINPROGRESS, HO_ERR_WOULD_BLOCK},
           {EPIPE, HO_ERR_CLOSED},
           {ECONNRESET, HO_ERR_CLOSED},
           {ECONNREFUSED, HO_ERR_CLOSED},
           {ENOTCONN, HO_ERR_CLOSED},
           {ENOENT, HO_ERR_CLOSED},
           {EACCES, HO_ERR_PERMISSION},
           {EPERM, HO_ERR_PERMISSION},
           {EMFILE, HO_ERR_FD_EXHAUSTED},
           {ENFILE, HO_ERR_FD_EXHAUSTED},
           {ETOOMANYREFS, HO_ERR_FD_EXHAUSTED},
           {EBADF, HO_ERR_INVALID_ARGUMENT},
           {ENOTSOCK, HO_ERR_INVALID_ARGUMENT},
           {EINVAL, HO_ERR_INVALID_ARGUMENT},
           {ENAMETOOLONG, HO_ERR_INVALID_ARGUMENT},
           {ETIMEDOUT, HO_ERR_TIMEOUT},
           {ENOMEM, HO_ERR_NOMEM},
           {EIO, HO_ERR_IO},
           {EROFS, HO_ERR_IO}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    cr_expect_eq(ho_err_from_errno(t[i].e), t[i].rc, "errno %d (%s)", t[i].e, ho_errno_name(t[i].e));
}

Test(net_more, send_argument_and_peer_errors) {
  int sv[2], cv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, cv), 0);
  cr_assert_eq(ho_xfer_send(-1, cv[0], k_tok, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_send(sv[0], -1, k_tok, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_send(sv[0], cv[0], NULL, NULL), HO_ERR_INVALID_ARGUMENT);
  /* Sent without asking for the handle value (Unix offers carry 0). */
  cr_assert_eq(ho_xfer_send(sv[0], cv[0], k_tok, NULL), HO_OK);
  uint8_t b[HO_TOKEN_BYTES];
  ho_xfer_rx rx;
  cr_assert_eq(ho_xfer_recv(sv[1], b, sizeof b, &rx, 0), HO_OK);
  cr_assert_eq(rx.conn_status, HO_OK);
  cr_assert_geq(rx.conn, 0);
  close((int)rx.conn);
  /* The receiver is gone: EPIPE, never SIGPIPE (MSG_NOSIGNAL). */
  close(sv[1]);
  uint64_t hv = 7;
  cr_assert_eq(ho_xfer_send(sv[0], cv[0], k_tok, &hv), HO_ERR_CLOSED);
  cr_assert_eq(hv, 7);
  close(sv[0]);
  close(cv[0]);
  close(cv[1]);
}

Test(net_more, check_stream_refuses_what_is_not_a_connected_stream) {
  cr_assert_eq(ho_xfer_check_stream(-1), HO_ERR_BAD_DESCRIPTOR);
  int pp[2];
  cr_assert_eq(pipe(pp), 0);
  cr_assert_eq(ho_xfer_check_stream(pp[0]), HO_ERR_BAD_DESCRIPTOR); /* ENOTSOCK */
  int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
  cr_assert_eq(ho_xfer_check_stream(dg), HO_ERR_BAD_DESCRIPTOR); /* SOCK_DGRAM */
  int st = socket(AF_UNIX, SOCK_STREAM, 0);
  cr_assert_eq(ho_xfer_check_stream(st), HO_ERR_BAD_DESCRIPTOR); /* no peer */
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(ho_xfer_check_stream(sv[0]), HO_OK);
  close(pp[0]);
  close(pp[1]);
  close(dg);
  close(st);
  close(sv[0]);
  close(sv[1]);
}

/* A descriptor that is not a connected stream arrives: status BAD_DESCRIPTOR,
 * closed by the receiver (spec: XFER-28 ERR-33). */
Test(net_more, recv_closes_a_pipe_that_arrives) {
  int sv[2], pp[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(pipe(pp), 0);
  cr_assert_eq(ho_xfer_send(sv[0], pp[0], k_tok, NULL), HO_OK);
  uint8_t b[HO_TOKEN_BYTES];
  ho_xfer_rx rx;
  cr_assert_eq(ho_xfer_recv(sv[1], b, sizeof b, &rx, 0), HO_OK);
  cr_assert_eq(rx.conn_status, HO_ERR_BAD_DESCRIPTOR);
  cr_assert_eq(rx.conn, HO_NO_HANDLE);
  /* With the stream check off the same pipe is kept. */
  cr_assert_eq(ho_xfer_send(sv[0], pp[0], k_tok, NULL), HO_OK);
  cr_assert_eq(ho_xfer_recv(sv[1], b, sizeof b, &rx, HO_XFER_NO_STREAM_CHECK), HO_OK);
  cr_assert_eq(rx.conn_status, HO_OK);
  cr_assert_geq(rx.conn, 0);
  close((int)rx.conn);
  close(pp[0]);
  close(pp[1]);
  close(sv[0]);
  close(sv[1]);
}

Test(net_more, recv_argument_and_os_errors) {
  uint8_t b[HO_TOKEN_BYTES];
  ho_xfer_rx rx;
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(ho_xfer_recv(-1, b, sizeof b, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(rx.conn, HO_NO_HANDLE);
  cr_assert_eq(ho_xfer_recv(sv[1], NULL, sizeof b, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_recv(sv[1], b, 0, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_recv(sv[1], b, sizeof b, NULL, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_recv_cap(sv[1], b, sizeof b, &rx, 0, 65), HO_ERR_INVALID_ARGUMENT);
  /* Nothing queued yet. */
  cr_assert_eq(ho_xfer_recv(sv[1], b, sizeof b, &rx, 0), HO_ERR_WOULD_BLOCK);
  /* No control buffer at all: the descriptor truncates (MSG_CTRUNC with no room). */
  int cv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, cv), 0);
  cr_assert_eq(ho_xfer_send(sv[0], cv[0], k_tok, NULL), HO_OK);
  cr_assert_eq(ho_xfer_recv_cap(sv[1], b, sizeof b, &rx, 0, 0), HO_OK);
  cr_assert_eq(rx.len, HO_TOKEN_BYTES);
  cr_assert_eq(rx.conn, HO_NO_HANDLE);
  cr_assert_eq(rx.conn_status, HO_ERR_EXTRA_DESCRIPTORS);
  /* A pipe is not a socket: ENOTSOCK. A listening socket: EINVAL. */
  int pp[2];
  cr_assert_eq(pipe(pp), 0);
  cr_assert_eq(ho_xfer_recv(pp[0], b, sizeof b, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  int st = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  cr_assert_eq(ho_xfer_recv(st, b, sizeof b, &rx, 0), HO_ERR_INVALID_ARGUMENT); /* EINVAL */
  /* A reset: the peer closed with unread data queued. */
  int rv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, rv), 0);
  cr_assert_eq(send(rv[0], "y", 1, 0), 1);
  close(rv[1]);
  cr_assert_eq(ho_xfer_recv(rv[0], b, sizeof b, &rx, 0), HO_ERR_CLOSED); /* ECONNRESET */
  /* EOF: HO_ERR_CLOSED. */
  close(sv[0]);
  cr_assert_eq(ho_xfer_recv(sv[1], b, sizeof b, &rx, 0), HO_ERR_CLOSED);
  close(rv[0]);
  close(st);
  close(pp[0]);
  close(pp[1]);
  close(cv[0]);
  close(cv[1]);
  close(sv[1]);
}

Test(net_more, sideband_argument_errors) {
  ho_sideband_init(NULL);
  ho_sideband_clear(NULL);
  cr_assert_eq(ho_sideband_recv(0, NULL), HO_ERR_INVALID_ARGUMENT);
  ho_sideband sb;
  ho_sideband_init(&sb);
  sb.have = HO_TOKEN_BYTES;
  cr_assert_eq(ho_sideband_recv(0, &sb), HO_ERR_INVALID_ARGUMENT);
  /* A held descriptor is closed by clear. */
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ho_sideband_init(&sb);
  sb.conn = sv[0];
  ho_sideband_clear(&sb);
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  cr_assert_eq(fcntl(sv[0], F_GETFD), -1);
  cr_assert_eq(errno, EBADF);
  close(sv[1]);
}

Test(net_more, errno_names_of_every_listed_value) {
  static const struct {
    int e;
    const char *name;
  } t[] = {{EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {EINTR, "EINTR"}, {EIO, "EIO"},
           {EBADF, "EBADF"}, {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"},
           {EEXIST, "EEXIST"}, {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"},
           {ENFILE, "ENFILE"}, {EMFILE, "EMFILE"}, {ENOSPC, "ENOSPC"}, {EROFS, "EROFS"},
           {EPIPE, "EPIPE"}, {ENAMETOOLONG, "ENAMETOOLONG"}, {ENOTSOCK, "ENOTSOCK"},
           {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
           {ECONNRESET, "ECONNRESET"}, {ENOBUFS, "ENOBUFS"}, {ENOTCONN, "ENOTCONN"},
           {ETIMEDOUT, "ETIMEDOUT"}, {ECONNREFUSED, "ECONNREFUSED"}, {ELOOP, "ELOOP"},
           {ETOOMANYREFS, "ETOOMANYREFS"}, {EPROTOTYPE, "EPROTOTYPE"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    cr_expect_str_eq(ho_errno_name(t[i].e), t[i].name);
}

/* The sans-I/O judge and sideband counter refuse NULLs with a name. */
Test(net_more, judge_and_sideband_apply_refuse_null_arguments) {
  struct msghdr m;
  memset(&m, 0, sizeof m);
  int fds[2];
  size_t n = 0;
  cr_assert_eq(ho_xfer_classify(NULL, 0, fds, 2, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_classify(&m, 0, NULL, 2, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_classify(&m, 0, fds, 2, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_classify(&m, 0, fds, 2, &n), HO_OK);
  cr_assert_eq(n, 0);
  int cl[2];
  size_t ncl = 9;
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, NULL, cl, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, NULL, NULL, &ncl), HO_ERR_INVALID_ARGUMENT);
  /* HO_OK without rx, or with an empty read: not a read this sideband made. */
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, NULL, cl, &ncl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ncl, 0);
  ho_xfer_rx rx;
  memset(&rx, 0, sizeof rx);
  rx.conn = 42; /* a number only: apply closes nothing itself, it lists it */
  rx.len = 0;
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &ncl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ncl, 1);
  cr_assert_eq(cl[0], 42);
  cr_assert_eq(ho_sideband_apply(NULL, HO_ERR_WOULD_BLOCK, NULL, cl, &ncl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ncl, 0);
  cr_assert_eq(sb.have, 0);
}

/* spec: XFER-28 ERR-33 — with no stream check given, a single descriptor is refused. */
Test(net_more, judge_without_a_stream_check_refuses_the_descriptor) {
  union {
    struct cmsghdr align;
    unsigned char b[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_control = u.b;
  m.msg_controllen = sizeof u.b;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = 77;
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ho_xfer_verdict v;
  cr_assert_eq(ho_xfer_judge(&m, 16, sizeof u.b, 0, NULL, NULL, &v), HO_OK);
  cr_assert_eq(v.status, HO_ERR_BAD_DESCRIPTOR);
  cr_assert_eq(v.keep, -1);
  cr_assert_eq(v.nclose, 1);
  cr_assert_eq(v.close[0], 77);
  cr_assert_eq(ho_xfer_judge(&m, 16, sizeof u.b, 0, NULL, NULL, NULL), HO_ERR_INVALID_ARGUMENT);
}

/* The descriptor limit (RLIMIT_NOFILE lowered in a forked child): a listener
 * over a stale socket file (the liveness probe cannot get a socket either)
 * and a dialer both give HO_ERR_FD_EXHAUSTED. */
Test(net_more, descriptor_limit_for_socket_creation_is_fd_exhausted) {
  char p[128];
  snprintf(p, sizeof p, "%s/stale.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_OK);
  close((int)l.fd); /* the file stays: the next open probes it */
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    child_fdfill ff;
    int frc = child_fd_fill(&ff);
    if (frc != 0) _exit(frc);
    ho_diag d;
    int rc = 0;
    ho_listener l2;
    ho_handle c = HO_NO_HANDLE;
    if (ho_listener_open_diag(&l2, p, 1, 0, &d) != HO_ERR_FD_EXHAUSTED) rc = 12;
    else if (d.os_errno != EMFILE || strstr(d.msg, "socket for") == NULL) rc = 13;
    else if (ho_unix_connect_diag(p, 0, &c, &d) != HO_ERR_FD_EXHAUSTED) rc = 14;
    else if (d.os_errno != EMFILE) rc = 15;
    child_fd_unfill(&ff);
    child_exit(rc);
  }
  child_wait_ok(pid);
}

Test(net_more, null_paths_are_invalid_arguments) {
  ho_listener l;
  ho_handle c = HO_NO_HANDLE;
  ho_diag d;
  cr_assert_eq(ho_listener_open_diag(&l, NULL, 1, 0, &d), HO_ERR_INVALID_ARGUMENT);
  cr_assert_not_null(strstr(d.msg, "bad socket path"));
  cr_assert_eq(ho_unix_connect_diag(NULL, 0, &c, &d), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(c, HO_NO_HANDLE);
}

/* An accept at the descriptor limit is HO_ERR_FD_EXHAUSTED (the connection stays queued). */
Test(net_more, accept_at_the_descriptor_limit_is_fd_exhausted) {
  char p[128];
  snprintf(p, sizeof p, "%s/acc.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 4), HO_OK);
  ho_handle c0 = HO_NO_HANDLE;
  cr_assert_eq(ho_unix_connect(p, 0, &c0), HO_OK);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    child_fdfill ff;
    int frc = child_fd_fill(&ff);
    if (frc != 0) _exit(frc);
    ho_handle c = HO_NO_HANDLE;
    int rc = ho_listener_accept(&l, &c) == HO_ERR_FD_EXHAUSTED && c == HO_NO_HANDLE ? 0 : 12;
    child_fd_unfill(&ff);
    child_exit(rc);
  }
  child_wait_ok(pid);
  ho_handle a = HO_NO_HANDLE;
  cr_assert_eq(ho_listener_accept(&l, &a), HO_OK); /* still queued for the parent */
  close((int)a);
  close((int)c0);
  ho_listener_close(&l);
}

Test(net_more, sideband_clear_of_an_empty_sideband_and_apply_to_a_full_one) {
  ho_sideband sb;
  ho_sideband_init(&sb);
  ho_sideband_clear(&sb); /* nothing held: nothing closed */
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  sb.have = HO_TOKEN_BYTES;
  ho_xfer_rx rx;
  memset(&rx, 0, sizeof rx);
  rx.conn = HO_NO_HANDLE;
  rx.len = 1;
  int cl[2];
  size_t ncl = 9;
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &ncl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ncl, 0);
  cr_assert_eq(sb.have, HO_TOKEN_BYTES);
}

/* spec: XFER-3 — more descriptors than the caller's array: collected up to it, and still counted as extra. */
Test(net_more, classify_stops_at_the_callers_array) {
  union {
    struct cmsghdr align;
    unsigned char b[CMSG_SPACE(sizeof(int) * 3)];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_control = u.b;
  m.msg_controllen = sizeof u.b;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * 3);
  int v[3] = {5, 6, 7};
  memcpy(CMSG_DATA(c), v, sizeof v);
  int fds[2] = {-1, -1};
  size_t n = 0;
  cr_assert_eq(ho_xfer_classify(&m, sizeof u.b, fds, 2, &n), HO_ERR_EXTRA_DESCRIPTORS);
  cr_assert_eq(n, 2);
  cr_assert_eq(fds[0], 5);
  cr_assert_eq(fds[1], 6);
}

/* The only control message ends the data unaligned (controllen = CMSG_LEN(4)):
 * its descriptor counts, and the walk stops without reading past it. */
Test(net_more, classify_unaligned_last_message_ends_the_walk) {
  union {
    struct cmsghdr align;
    unsigned char b[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_control = u.b;
  struct cmsghdr *c = (struct cmsghdr *)u.b;
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = 9;
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  m.msg_controllen = CMSG_LEN(sizeof(int));
  cr_assert_lt(CMSG_LEN(sizeof(int)), CMSG_SPACE(sizeof(int)), "needs an unaligned CMSG_LEN");
  int fds[4];
  size_t n = 0;
  cr_assert_eq(ho_xfer_classify(&m, sizeof u.b, fds, 4, &n), HO_OK);
  cr_assert_eq(n, 1);
  cr_assert_eq(fds[0], 9);
}
