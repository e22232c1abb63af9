/* handoff — Unix SCM_RIGHTS descriptor transport.
 *
 * Broker side: one sendmsg carrying the 16 token bytes and exactly one
 * descriptor. Backend side: recvmsg with MSG_CMSG_CLOEXEC into a bounded
 * buffer; every descriptor that is not the single expected connected
 * stream socket is closed before returning, so no error path leaks one.
 * What a read delivered is judged without I/O in xfer_judge.c.
 * spec: XFER-3 XFER-6 XFER-29 XFER-28 BACKEND-8
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/xfer_internal.h"

int ho_err_from_errno(int err) {
  switch (err) {
  case 0: return HO_OK;
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
  case ENOBUFS:
  case EINPROGRESS:
    return HO_ERR_WOULD_BLOCK;
  case EPIPE:
  case ECONNRESET:
  case ECONNREFUSED:
  case ENOTCONN:
  case ENOENT:
    return HO_ERR_CLOSED;
  case EACCES:
  case EPERM:
    return HO_ERR_PERMISSION;
  case EMFILE:
  case ENFILE:
  case ETOOMANYREFS:
    return HO_ERR_FD_EXHAUSTED;
  case EBADF:
  case ENOTSOCK:
  case EINVAL:
  case ENAMETOOLONG:
    return HO_ERR_INVALID_ARGUMENT;
  case ETIMEDOUT:
    return HO_ERR_TIMEOUT;
  case ENOMEM:
    return HO_ERR_NOMEM;
  default:
    return HO_ERR_IO;
  }
}

int ho_xfer_send(ho_handle ctl, ho_handle conn, const uint8_t token[HO_TOKEN_BYTES],
                 uint64_t *handle_value) {
  if (ctl < 0 || conn < 0 || token == NULL) return HO_ERR_INVALID_ARGUMENT;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {.iov_base = (void *)token, .iov_len = HO_TOKEN_BYTES};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int fd = (int)conn;
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do {
    n = sendmsg((int)ctl, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ho_err_from_errno(errno);
  if ((size_t)n != HO_TOKEN_BYTES) return HO_ERR_PARTIAL_SEND; /* fd went with byte 0 */
  if (handle_value != NULL) *handle_value = 0; /* Unix: the offer carries 0 */
  return HO_OK;
}

int ho_xfer_check_stream(ho_handle conn) {
  if (conn < 0) return HO_ERR_BAD_DESCRIPTOR;
  int fd = (int)conn;
  /* spec: XFER-28 — a socket (SO_TYPE fails with ENOTSOCK on anything else),
   * of type SOCK_STREAM, with a peer (getpeername fails with ENOTCONN on a
   * listening or unconnected socket): two system calls on the hot path. */
  int type = 0;
  socklen_t sl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) != 0 || type != SOCK_STREAM)
    return HO_ERR_BAD_DESCRIPTOR;
  struct sockaddr_storage ss;
  sl = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return HO_ERR_BAD_DESCRIPTOR;
  return HO_OK;
}

static void close_fd(int fd) {
  if (fd >= 0) (void)close(fd);
}

static int check_stream_fd(void *ctx, int fd) {
  (void)ctx;
  return ho_xfer_check_stream(fd);
}

int ho_xfer_recv_cap(ho_handle ctl, void *buf, size_t len, ho_xfer_rx *rx, unsigned flags,
                     size_t cmsg_fds) {
  if (rx != NULL) {
    memset(rx, 0, sizeof *rx);
    rx->conn = HO_NO_HANDLE;
  }
  if (ctl < 0 || buf == NULL || len == 0 || rx == NULL || cmsg_fds > 64)
    return HO_ERR_INVALID_ARGUMENT;
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 64)];
  } u;
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (cmsg_fds > 0) {
    msg.msg_control = u.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * cmsg_fds);
  }
  ssize_t n;
  do {
    n = recvmsg((int)ctl, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int rc = ho_err_from_errno(errno);
    return rc == HO_ERR_WOULD_BLOCK || rc == HO_ERR_CLOSED || rc == HO_ERR_INVALID_ARGUMENT
               ? rc
               : HO_ERR_IO;
  }
  /* spec: XFER-28 — judged without I/O (xfer_judge.c); closed here. */
  ho_xfer_verdict v;
  int jr = ho_xfer_judge(&msg, (size_t)n, cmsg_fds > 0 ? CMSG_SPACE(sizeof(int) * cmsg_fds) : 0,
                         flags, check_stream_fd, NULL, &v);
  for (size_t i = 0; i < v.nclose; i++) close_fd(v.close[i]);
  if (jr != HO_OK) return jr;
  rx->conn = v.keep;
  rx->len = (size_t)n;
  rx->conn_status = v.status;
  return HO_OK;
}

int ho_xfer_recv(ho_handle ctl, void *buf, size_t len, ho_xfer_rx *rx, unsigned flags) {
  return ho_xfer_recv_cap(ctl, buf, len, rx, flags, HO_XFER_CMSG_FDS);
}

void ho_sideband_clear(ho_sideband *sb) {
  if (sb == NULL) return;
  if (sb->conn >= 0) close_fd((int)sb->conn);
  ho_sideband_init(sb);
}

int ho_sideband_recv(ho_handle ctl, ho_sideband *sb) {
  if (sb == NULL || sb->have >= HO_TOKEN_BYTES) return HO_ERR_INVALID_ARGUMENT;
  ho_xfer_rx rx;
  /* spec: XFER-29 — never read past the 16th byte: the framed offer follows. */
  int rc = ho_xfer_recv(ctl, sb->token + sb->have, HO_TOKEN_BYTES - sb->have, &rx, 0);
  int cl[2];
  size_t ncl = 0;
  rc = ho_sideband_apply(sb, rc, &rx, cl, &ncl); /* spec: XFER-28 XFER-9 */
  for (size_t i = 0; i < ncl; i++) close_fd(cl[i]);
  return rc;
}
