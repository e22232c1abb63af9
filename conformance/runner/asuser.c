/* handoff-conform — a connection made by another user (see asuser.h). */
#include "asuser.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace.h"

/* One byte with one descriptor (or room for one) on a socket pair. */
static void one_fd_msg(struct msghdr *m, struct iovec *iov, char *b, void *cbuf, size_t clen) {
  iov->iov_base = b;
  iov->iov_len = 1;
  memset(m, 0, sizeof *m);
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_control = cbuf;
  m->msg_controllen = clen;
}

int cf_connect_as_nobody(cf_ctx *ctx, const char *path) {
  if (geteuid() != 0) return cf_skip(ctx, "needs root (to connect as another user)");
  struct passwd *pw = getpwnam("nobody");
  uid_t uid = pw ? pw->pw_uid : 65534;
  gid_t gid = pw ? pw->pw_gid : 65534;
  if (uid == geteuid()) return cf_skip(ctx, "the SUT runs as 'nobody' already");
  /* Let the other user reach the socket for this one connection (the
   * directory is the runner's own; permissions are restored at once). */
  struct stat st;
  if (stat(path, &st) != 0) return cf_error(ctx, "stat %s: %s", path, strerror(errno));
  chmod(ctx->dir, 0711);
  chmod(path, 0666);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return cf_error(ctx, "socketpair");
  union {
    struct cmsghdr h;
    char c[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  char b = 0;
  struct iovec iov;
  struct msghdr m;
  one_fd_msg(&m, &iov, &b, u.c, sizeof u.c);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(3);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) _exit(4);
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    _exit(sendmsg(sv[1], &m, 0) == 1 ? 0 : 5);
  }
  close(sv[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  chmod(path, st.st_mode & 07777);
  chmod(ctx->dir, 0700);
  /* The connected socket, credentials of 'nobody', comes back to us. */
  ssize_t n = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? recvmsg(sv[0], &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) : -1;
  close(sv[0]);
  struct cmsghdr *h = n == 1 ? CMSG_FIRSTHDR(&m) : NULL;
  if (h == NULL || h->cmsg_type != SCM_RIGHTS)
    return cf_skip(ctx, "could not connect as uid %ld (status %d)", (long)uid, status);
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  cf_trace_note(ctx, "connected to %s as uid %ld (not the SUT's user)", path, (long)uid);
  return fd;
}
