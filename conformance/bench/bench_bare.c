/* bench_bare — the physical floor of a handoff: two processes and no
 * protocol. The passer accepts a connection, reads one byte (the "Hello"),
 * passes the socket with one byte over SCM_RIGHTS to the receiver and
 * closes its copy; the receiver reads one byte on the passed socket (the
 * "request", which travelled in its receive queue) and answers one byte.
 * Blocking calls only, so each party makes the fewest system calls a
 * handoff can make: the client connect + write + read, one wake-up each of
 * passer, receiver and client. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static pid_t g_passer, g_receiver;
static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

pid_t bare_passer_pid(void) { return g_passer; }
pid_t bare_receiver_pid(void) { return g_receiver; }

static void child_setup(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
  signal(SIGPIPE, SIG_IGN);
}

static void passer(int ls, int pass) {
  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    char b;
    if (read(c, &b, 1) == 1) {
      union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
      } u;
      memset(&u, 0, sizeof u);
      struct iovec iov = {&b, 1};
      struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
      struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(cm), &c, sizeof c);
      if (sendmsg(pass, &m, MSG_NOSIGNAL) != 1) _exit(1);
    }
    close(c);
  }
}

static void receiver(int pass) {
  for (;;) {
    char b;
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = {&b, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t r = recvmsg(pass, &m, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(0);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    if (cm == NULL || cm->cmsg_type != SCM_RIGHTS) continue;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    if (read(fd, &b, 1) == 1) (void)!write(fd, &b, 1);
    close(fd);
  }
}

int bare_start(const char *dir) {
  if ((size_t)snprintf(g_path, sizeof g_path, "%s/bare.sock", dir) >= sizeof g_path) return -1;
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, g_path, sizeof a.sun_path);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
    close(ls);
    return -1;
  }
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
    close(ls);
    return -1;
  }
  g_passer = fork();
  if (g_passer == 0) {
    child_setup();
    close(sp[1]);
    passer(ls, sp[0]);
  }
  g_receiver = fork();
  if (g_receiver == 0) {
    child_setup();
    close(ls);
    close(sp[0]);
    receiver(sp[1]);
  }
  close(ls);
  close(sp[0]);
  close(sp[1]);
  return g_passer > 0 && g_receiver > 0 ? 0 : -1;
}

void bare_stop(void) {
  pid_t p[2] = {g_passer, g_receiver};
  for (int i = 0; i < 2; i++) {
    if (p[i] <= 0) continue;
    kill(p[i], SIGTERM);
    waitpid(p[i], NULL, 0);
  }
  g_passer = g_receiver = 0;
  unlink(g_path);
}

int bare_once(void (*mark)(void *, int), void *mark_user, uint64_t *first_ns) {
  if (mark) mark(mark_user, HX_MARK_CONNECT);
  uint64_t t0 = now_ns();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, g_path, sizeof a.sun_path);
  char b[2] = {'h', 'r'};
  int rc = -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, b, 2) == 2 &&
      read(fd, b, 1) == 1) {
    *first_ns = now_ns() - t0;
    if (mark) mark(mark_user, HX_MARK_FIRST_BYTE);
    rc = 0;
  } else {
    fprintf(stderr, "bench: bare: round trip failed: %s\n", strerror(errno));
  }
  close(fd);
  return rc;
}
