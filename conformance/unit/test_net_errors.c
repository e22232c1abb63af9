/* Unit tests (issue #17 coverage): the error paths of the Unix listener and
 * dialer (net/unix_sock.c) on real sockets — bad arguments, bad paths, a
 * non-socket file in the way, ENOTDIR, an empty non-blocking accept queue,
 * the descriptor limit (RLIMIT_NOFILE lowered in a forked child), and a path
 * too long for the temporary-name bind. Each gives its named error and leaks
 * no descriptor. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff/error.h"
#include "handoff/transport.h"
#include "xfer_fixtures.h"

static char dir[64];

static void mkdir_tmp(void) { fx_mkdtemp(dir, sizeof dir, "/tmp/ho-neterr-XXXXXX"); }
static void rm_tmp(void) { fx_rm_rf(dir); }

TestSuite(net_errors, .init = mkdir_tmp, .fini = rm_tmp);

Test(net_errors, errno_name_unknown_value) {
  cr_assert_str_eq(ho_errno_name(0x7fff), "E?");
  cr_assert_str_eq(ho_errno_name(EMFILE), "EMFILE");
}

Test(net_errors, listener_bad_arguments_and_paths) {
  ho_listener l;
  ho_diag d;
  cr_assert_eq(ho_listener_open_diag(NULL, "/tmp/x.sock", 1, 0, &d), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_listener_open_diag(&l, "", 1, 0, &d), HO_ERR_INVALID_ARGUMENT);
  cr_assert_not_null(strstr(d.msg, "bad socket path"));
  cr_assert_eq(ho_listener_open_diag(&l, "", 1, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  char longp[200];
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = '\0';
  cr_assert_eq(ho_listener_open(&l, longp, 1), HO_ERR_INVALID_ARGUMENT);
  /* NULL listener / closed listener: accept and close refuse quietly. */
  ho_handle c = HO_NO_HANDLE;
  cr_assert_eq(ho_listener_accept(NULL, &c), HO_ERR_INVALID_ARGUMENT);
  l.fd = HO_NO_HANDLE;
  cr_assert_eq(ho_listener_accept(&l, &c), HO_ERR_INVALID_ARGUMENT);
  ho_listener_close(NULL);
  ho_listener_close(&l);
}

Test(net_errors, listener_refuses_non_socket_file) {
  char p[128];
  snprintf(p, sizeof p, "%s/plain", dir);
  int fd = open(p, O_CREAT | O_WRONLY, 0600);
  cr_assert_geq(fd, 0);
  close(fd);
  ho_listener l;
  ho_diag d;
  cr_assert_eq(ho_listener_open_diag(&l, p, 1, 0, &d), HO_ERR_STATE);
  cr_assert_not_null(strstr(d.msg, "not a socket"));
  cr_assert_eq(ho_listener_open(&l, p, 1), HO_ERR_STATE);
}

Test(net_errors, accept_empty_queue_and_bad_conn_pointer) {
  char p[128];
  snprintf(p, sizeof p, "%s/s.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 0), HO_OK); /* backlog 0: SOMAXCONN */
  cr_assert_eq(ho_listener_accept(&l, NULL), HO_ERR_INVALID_ARGUMENT);
  ho_handle c = HO_NO_HANDLE;
  cr_assert_eq(ho_listener_accept(&l, &c), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(c, HO_NO_HANDLE);
  ho_listener_close(&l);
  ho_listener_close(&l); /* twice is safe */
}

Test(net_errors, listener_long_path_binds_without_temporary_name) {
  /* A path whose "<path>.<pid>.tmp" does not fit sun_path: bound directly. */
  char p[108];
  int n = snprintf(p, sizeof p, "%s/", dir);
  memset(p + n, 'b', sizeof p - 1 - (size_t)n - 2);
  p[sizeof p - 3] = '\0';
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 4), HO_OK);
  ho_handle c = HO_NO_HANDLE;
  cr_assert_eq(ho_unix_connect(p, 0, &c), HO_OK);
  close((int)c);
  ho_listener_close(&l);
  /* Reopened, then a listener over the stale socket left by a close that did not unlink. */
  cr_assert_eq(ho_listener_open(&l, p, 4), HO_OK);
  ho_listener l2;
  close((int)l.fd); /* closed without unlink: the socket file is stale */
  cr_assert_eq(ho_listener_open(&l2, p, 4), HO_OK);
  ho_listener_close(&l2);
}

Test(net_errors, connect_errors) {
  ho_handle c = HO_NO_HANDLE;
  ho_diag d;
  cr_assert_eq(ho_unix_connect_diag("/tmp/x", 0, NULL, &d), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_unix_connect_diag("", 0, &c, &d), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_unix_connect_diag("", 0, &c, NULL), HO_ERR_INVALID_ARGUMENT);
  char p[128];
  snprintf(p, sizeof p, "%s/nobody.sock", dir);
  cr_assert_eq(ho_unix_connect_diag(p, 0, &c, &d), HO_ERR_CLOSED);
  cr_assert_neq(d.os_errno, 0);
  /* A path through a regular file: ENOTDIR, reported as nobody listening. */
  snprintf(p, sizeof p, "%s/file", dir);
  int fd = open(p, O_CREAT | O_WRONLY, 0600);
  cr_assert_geq(fd, 0);
  close(fd);
  snprintf(p, sizeof p, "%s/file/x.sock", dir);
  cr_assert_eq(ho_unix_connect_diag(p, 1, &c, &d), HO_ERR_CLOSED);
  cr_assert_eq(d.os_errno, ENOTDIR);
  cr_assert_eq(c, HO_NO_HANDLE);
}

/* The descriptor limit, in a forked child so the test process keeps its own. */
Test(net_errors, descriptor_limit_gives_fd_exhausted) {
  char p[128];
  snprintf(p, sizeof p, "%s/lim.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, p, 4), HO_OK);
  ho_handle c0 = HO_NO_HANDLE;
  cr_assert_eq(ho_unix_connect(p, 0, &c0), HO_OK); /* queued, accepted in the child */
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    int hi = 0;
    for (int fd = 0; fd < 1024; fd++)
      if (fcntl(fd, F_GETFD) >= 0) hi = fd;
    struct rlimit rl = {(rlim_t)hi + 1, (rlim_t)hi + 1};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
    /* Fill every free slot below the limit. */
    while (dup(0) >= 0) {}
    ho_handle c = HO_NO_HANDLE;
    ho_diag d;
    if (ho_listener_accept(&l, &c) != HO_ERR_FD_EXHAUSTED) _exit(11);
    if (ho_unix_connect_diag(p, 0, &c, &d) != HO_ERR_FD_EXHAUSTED) _exit(12);
    if (d.os_errno != EMFILE) _exit(13);
    char p2[160];
    snprintf(p2, sizeof p2, "%s/other.sock", dir);
    ho_listener l2;
    if (ho_listener_open_diag(&l2, p2, 4, 0, &d) != HO_ERR_FD_EXHAUSTED) _exit(14);
    _exit(0);
  }
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st));
  cr_assert_eq(WEXITSTATUS(st), 0, "child step %d", WEXITSTATUS(st));
  close((int)c0);
  ho_listener_close(&l);
}
