/* handoff — Unix listener, dialer and peer credentials.
 * spec: SEC-1 SEC-2 SEC-4 — sockets appear at their path already 0600 in a
 * 0700 directory (bound under a temporary name with umask 0177, renamed). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff/transport.h"
#include "net/xfer_internal.h"

typedef char ho_listener_path_fits[sizeof(((struct sockaddr_un *)0)->sun_path) ==
                                           sizeof(((ho_listener *)0)->path)
                                       ? 1
                                       : -1];

static int fill_addr(struct sockaddr_un *sa, const char *path) {
  if (path == NULL || path[0] == '\0') return HO_ERR_INVALID_ARGUMENT;
  size_t n = strlen(path);
  if (n >= sizeof sa->sun_path) return HO_ERR_INVALID_ARGUMENT;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n + 1);
  return HO_OK;
}

const char *ho_errno_name(int e) {
  switch (e) {
#define N(x) case x: return #x;
  N(EPERM) N(ENOENT) N(EINTR) N(EIO) N(EBADF) N(EAGAIN) N(ENOMEM) N(EACCES) N(EEXIST)
  N(ENOTDIR) N(EISDIR) N(EINVAL) N(ENFILE) N(EMFILE) N(ENOSPC) N(EROFS) N(EPIPE)
  N(ENAMETOOLONG) N(ENOTSOCK) N(EADDRINUSE) N(EADDRNOTAVAIL) N(ECONNRESET) N(ENOBUFS)
  N(ENOTCONN) N(ETIMEDOUT) N(ECONNREFUSED) N(ELOOP) N(ETOOMANYREFS) N(EPROTOTYPE)
#undef N
  default: return "E?";
  }
}

/* "what path: text (ENAME)" into diag; returns `rc`. */
static int diag_os(ho_diag *d, int rc, const char *what, const char *path, int e) {
  if (d != NULL) {
    d->os_errno = e;
    snprintf(d->msg, sizeof d->msg, "%s %s: %s (%s)", what, path, strerror(e), ho_errno_name(e));
  }
  return rc;
}

/* mkdir -p of the directory part of `path`, each new component 0700. */
static int make_parent_dirs(const char *path, ho_diag *d) {
  char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t n = strlen(path);
  if (n >= sizeof dir) return HO_ERR_INVALID_ARGUMENT;
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (slash == NULL || slash == dir) return HO_OK;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return diag_os(d, ho_err_from_errno(errno), "mkdir", dir, errno);
    *p = '/';
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    int e = errno, rc = ho_err_from_errno(e);
    return diag_os(d, rc == HO_ERR_PERMISSION ? rc : HO_ERR_IO, "mkdir", dir, e);
  }
  return HO_OK;
}

/* spec: SEC-9 SEC-2 — the directory an endpoint lives in must be ours (or
 * root's), and nobody else may write it unless the sticky bit stops them
 * from replacing our socket: otherwise its owner (or any writer) could swap
 * the socket and capture clients. */
static int check_parent_dir(const char *path, ho_diag *d) {
  char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t n = strlen(path);
  memcpy(dir, path, n + 1);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) strcpy(dir, ".");
  else if (slash == dir) strcpy(dir, "/");
  else *slash = '\0';
  struct stat st;
  if (stat(dir, &st) != 0) return diag_os(d, ho_err_from_errno(errno), "stat", dir, errno);
  uid_t me = geteuid();
  bool foreign = st.st_uid != me && st.st_uid != 0;
  bool writable = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(st.st_mode & S_ISVTX);
  if (!foreign && !writable) return HO_OK;
  if (d != NULL) {
    d->os_errno = 0;
    snprintf(d->msg, sizeof d->msg,
             "refusing to place an endpoint in %s: owned by uid %ld, mode %04o (%s)", dir,
             (long)st.st_uid, (unsigned)(st.st_mode & 07777),
             foreign ? "another user owns it" : "others can write it");
  }
  return HO_ERR_PERMISSION;
}

/* Is something accepting on the socket file at `sa`? */
static int socket_is_live(const struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
  close(fd);
  return live;
}

static int make_socket(int nonblock) {
  return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
}

/* Remember which file we created so close() never unlinks a socket file
 * someone else put at the path meanwhile. */
static void owned_set(ho_listener *l) {
  struct stat st;
  l->dev = l->ino = 0;
  if (stat(l->path, &st) != 0) return;
  l->dev = (uint64_t)st.st_dev;
  l->ino = (uint64_t)st.st_ino;
}

static int owned_still(const ho_listener *l) {
  struct stat st;
  return l->ino != 0 && stat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
         (uint64_t)st.st_dev == l->dev && (uint64_t)st.st_ino == l->ino;
}

int ho_listener_open(ho_listener *l, const char *path, int backlog) {
  return ho_listener_open_diag(l, path, backlog, 0, NULL);
}

int ho_listener_open_diag(ho_listener *l, const char *path, int backlog, unsigned flags,
                          ho_diag *d) {
  struct sockaddr_un sa, tmp;
  if (d != NULL) d->os_errno = 0, d->msg[0] = '\0';
  if (l == NULL) return HO_ERR_INVALID_ARGUMENT;
  int rc = fill_addr(&sa, path);
  if (rc != HO_OK) {
    if (d != NULL) snprintf(d->msg, sizeof d->msg, "bad socket path (empty or over 107 bytes)");
    return rc;
  }
  rc = make_parent_dirs(path, d);
  if (rc != HO_OK) return rc;
  rc = check_parent_dir(path, d);
  if (rc != HO_OK) return rc;
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      if (d != NULL) snprintf(d->msg, sizeof d->msg, "%s exists and is not a socket", path);
      return HO_ERR_STATE;
    }
    if (!(flags & HO_LISTEN_TAKEOVER) && socket_is_live(&sa)) {
      if (d != NULL)
        snprintf(d->msg, sizeof d->msg,
                 "%s: another process accepts on it (a successor takes it over with --takeover)",
                 path);
      return HO_ERR_STATE;
    }
    /* stale (or taken over): replaced atomically by the rename below */
  }
  int fd = make_socket(1);
  if (fd < 0) return diag_os(d, ho_err_from_errno(errno), "socket for", path, errno);
  /* Bind under a temporary name in the same directory, then rename, so the
   * path appears only once listen() has run. */
  char tmpname[sizeof sa.sun_path + 32];
  int atomic = snprintf(tmpname, sizeof tmpname, "%s.%ld.tmp", path, (long)getpid()) <
               (int)sizeof sa.sun_path;
  const struct sockaddr_un *bind_to = &sa;
  if (atomic) {
    (void)fill_addr(&tmp, tmpname);
    (void)unlink(tmpname);
    bind_to = &tmp;
  } else if (lstat(path, &st) == 0) {
    (void)unlink(path);
  }
  mode_t old = umask(0177); /* socket file 0600 */
  int b = bind(fd, (const struct sockaddr *)bind_to, sizeof *bind_to);
  int berr = errno;
  umask(old);
  if (b != 0) {
    close(fd);
    rc = ho_err_from_errno(berr);
    return diag_os(d, rc == HO_ERR_PERMISSION ? rc : HO_ERR_IO, "bind", bind_to->sun_path, berr);
  }
  if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
    int e = errno;
    close(fd);
    (void)unlink(atomic ? tmpname : path);
    return diag_os(d, HO_ERR_IO, "listen", path, e);
  }
  if (atomic && rename(tmpname, path) != 0) {
    int e = errno;
    close(fd);
    (void)unlink(tmpname);
    rc = ho_err_from_errno(e);
    return diag_os(d, rc == HO_ERR_PERMISSION ? rc : HO_ERR_IO, "rename to", path, e);
  }
  l->fd = fd;
  memcpy(l->path, sa.sun_path, sizeof l->path);
  owned_set(l);
  return HO_OK;
}

int ho_listener_accept(ho_listener *l, ho_handle *conn) {
  return ho_listener_accept_mode(l, true, conn);
}

int ho_listener_accept_mode(ho_listener *l, bool nonblock, ho_handle *conn) {
  if (l == NULL || l->fd < 0 || conn == NULL) return HO_ERR_INVALID_ARGUMENT;
  int fd;
  do {
    fd = accept4((int)l->fd, NULL, NULL, (nonblock ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC);
  } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
  if (fd < 0) {
    int rc = ho_err_from_errno(errno);
    return rc == HO_ERR_WOULD_BLOCK || rc == HO_ERR_FD_EXHAUSTED ? rc : HO_ERR_IO;
  }
  *conn = fd;
  return HO_OK;
}

void ho_listener_close(ho_listener *l) {
  if (l == NULL || l->fd < 0) return;
  if (owned_still(l)) (void)unlink(l->path);
  close((int)l->fd);
  l->fd = HO_NO_HANDLE;
}

int ho_unix_connect(const char *path, int nonblock, ho_handle *conn) {
  return ho_unix_connect_diag(path, nonblock, conn, NULL);
}

int ho_unix_connect_diag(const char *path, int nonblock, ho_handle *conn, ho_diag *d) {
  struct sockaddr_un sa;
  if (d != NULL) d->os_errno = 0, d->msg[0] = '\0';
  if (conn == NULL) return HO_ERR_INVALID_ARGUMENT;
  int rc = fill_addr(&sa, path);
  if (rc != HO_OK) {
    if (d != NULL) snprintf(d->msg, sizeof d->msg, "bad socket path (empty or over 107 bytes)");
    return rc;
  }
  int fd = make_socket(nonblock);
  if (fd < 0) return diag_os(d, ho_err_from_errno(errno), "socket for", path, errno);
  int c;
  do {
    c = connect(fd, (const struct sockaddr *)&sa, sizeof sa);
  } while (c != 0 && errno == EINTR);
  if (c != 0) {
    int e = errno;
    close(fd);
    rc = ho_err_from_errno(e);
    if (rc == HO_ERR_INVALID_ARGUMENT || rc == HO_ERR_TIMEOUT || rc == HO_ERR_NOMEM) rc = HO_ERR_IO;
    if (e == ENOTDIR) rc = HO_ERR_CLOSED;
    return diag_os(d, rc, "connect", path, e);
  }
  *conn = fd;
  return HO_OK;
}

int ho_peer_cred_get(ho_handle sock, ho_peer_cred *out) {
  if (out == NULL || sock < 0) return HO_ERR_PEER_CREDENTIALS;
  struct ucred uc;
  socklen_t sl = sizeof uc;
  if (getsockopt((int)sock, SOL_SOCKET, SO_PEERCRED, &uc, &sl) != 0 || sl != sizeof uc)
    return HO_ERR_PEER_CREDENTIALS;
  out->pid = uc.pid;
  out->uid = uc.uid;
  out->gid = uc.gid;
  return HO_OK;
}

int ho_peer_check(ho_handle sock, ho_peer_policy policy, uid_t uid, ho_peer_cred *out) {
  ho_peer_cred pc;
  bool have = ho_peer_cred_get(sock, &pc) == HO_OK;
  if (have && out != NULL) *out = pc;
  if (ho_peer_allowed(policy, uid, geteuid(), have ? &pc : NULL)) return HO_OK;
  return have ? HO_ERR_PEER_REJECTED : HO_ERR_PEER_CREDENTIALS;
}

int ho_sock_send_now(int fd, const uint8_t *p, size_t n, size_t *off) {
  while (*off < n) {
    ssize_t w = send(fd, p + *off, n - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      *off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    return w < 0 ? ho_err_from_errno(errno) : HO_ERR_IO;
  }
  return HO_OK;
}
