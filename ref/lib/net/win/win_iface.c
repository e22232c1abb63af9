/* handoff — handoff/transport.h on Windows, on top of handoff/winpipe.h.
 *
 *   ho_xfer_send()   identifies the backend from the control pipe, duplicates
 *                    the client pipe into it and returns the value for
 *                    HandoffOffer.handle_value; no byte is written (there is
 *                    no sideband on Windows: the offer frame carries the token)
 *                    (spec: XFER-30 XFER-31);
 *   ho_xfer_recv()   a plain read of what is waiting; never a descriptor;
 *   ho_sideband_recv()  HO_ERR_UNSUPPORTED_PLATFORM (no sideband);
 *   peer checks      on the pipe's peer process (SEC-1 SEC-4);
 *   Unix listener and dialer  HO_ERR_UNSUPPORTED_PLATFORM (use the pipe
 *                    listener and dialer of winpipe.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/win/win_internal.h"

int ho_err_from_errno(int err) {
  switch (err) {
  case 0: return HO_OK;
  case EAGAIN: return HO_ERR_WOULD_BLOCK;
  case EPIPE:
  case ENOENT: return HO_ERR_CLOSED;
  case EACCES:
  case EPERM: return HO_ERR_PERMISSION;
  case EMFILE:
  case ENFILE: return HO_ERR_FD_EXHAUSTED;
  case EBADF:
  case EINVAL: return HO_ERR_INVALID_ARGUMENT;
  case ENOMEM: return HO_ERR_NOMEM;
  default: return HO_ERR_IO;
  }
}

int ho_xfer_send(ho_handle ctl, ho_handle conn, const uint8_t token[HO_TOKEN_BYTES],
                 uint64_t *handle_value) {
  if (ctl == HO_NO_HANDLE || conn == HO_NO_HANDLE || token == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_win_target t;
  int rc = ho_win_target_open(ctl, &t);
  if (rc != HO_OK) return rc == HO_ERR_PEER_CREDENTIALS ? HO_ERR_PERMISSION : rc;
  uint64_t v = 0;
  rc = ho_win_dup_into(&t, conn, &v);
  ho_win_target_close(&t);
  if (rc != HO_OK) return rc;
  if (handle_value != NULL) *handle_value = v;
  return HO_OK;
}

int ho_xfer_recv(ho_handle ctl, void *buf, size_t len, ho_xfer_rx *rx, unsigned flags) {
  (void)flags;
  if (rx != NULL) {
    memset(rx, 0, sizeof *rx);
    rx->conn = HO_NO_HANDLE;
  }
  if (ctl == HO_NO_HANDLE || buf == NULL || len == 0 || rx == NULL) return HO_ERR_INVALID_ARGUMENT;
  size_t avail = 0;
  int rc = ho_pipe_available(ctl, &avail);
  if (rc != HO_OK) return rc;
  if (avail == 0) return HO_ERR_WOULD_BLOCK;
  size_t got = 0;
  rc = ho_pipe_read_some(ctl, buf, len < avail ? len : avail, 0, &got);
  if (rc == HO_ERR_TIMEOUT) return HO_ERR_WOULD_BLOCK;
  if (rc != HO_OK) return rc;
  rx->len = got;
  rx->conn_status = HO_OK;
  return HO_OK;
}

void ho_sideband_clear(ho_sideband *sb) {
  if (sb == NULL) return;
  ho_win_close(sb->conn);
  ho_sideband_init(sb);
}

int ho_sideband_recv(ho_handle ctl, ho_sideband *sb) {
  (void)ctl, (void)sb;
  return HO_ERR_UNSUPPORTED_PLATFORM; /* Windows has no sideband (§3) */
}

int ho_xfer_check_stream(ho_handle conn) {
  return ho_win_check_handle((uint64_t)conn, 0) == HO_OK ? HO_OK : HO_ERR_BAD_DESCRIPTOR;
}

int ho_peer_cred_get(ho_handle sock, ho_peer_cred *out) {
  if (out == NULL) return HO_ERR_PEER_CREDENTIALS;
  ho_peer_cred pc;
  int rc = ho_pipe_peer_check(sock, HO_PIPE_SERVER_SIDE, HO_PEER_SAME_UID, &pc);
  if (rc == HO_ERR_PEER_CREDENTIALS) return rc;
  *out = pc;
  return HO_OK;
}

int ho_peer_check(ho_handle sock, ho_peer_policy policy, uid_t uid, ho_peer_cred *out) {
  (void)uid; /* a uid means nothing on Windows: same user is the SID check */
  return ho_pipe_peer_check(sock, HO_PIPE_SERVER_SIDE, policy, out);
}

/* ho_peer_policy_parse and ho_peer_allowed: ref/lib/core/peer.c (portable). */

int ho_listener_open(ho_listener *l, const char *path, int backlog) {
  (void)l, (void)path, (void)backlog;
  return HO_ERR_UNSUPPORTED_PLATFORM;
}

int ho_listener_accept(ho_listener *l, ho_handle *conn) {
  (void)l, (void)conn;
  return HO_ERR_UNSUPPORTED_PLATFORM;
}

void ho_listener_close(ho_listener *l) { (void)l; }

int ho_unix_connect(const char *path, int nonblock, ho_handle *conn) {
  (void)path, (void)nonblock, (void)conn;
  return HO_ERR_UNSUPPORTED_PLATFORM;
}
