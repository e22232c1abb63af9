/* handoff — the sans-I/O half of the Unix descriptor receiver.
 *
 * What one recvmsg delivered (data length, control data, msg_flags) is
 * judged here without a system call: which descriptors arrived, the XFER-28
 * status of the read, which descriptor the shell keeps and which it must
 * close; then how the read counts for the 16-byte sideband of one handoff.
 * Nothing here closes, reads or inspects a descriptor: the numbers are only
 * copied, so a fuzzer can drive it with synthetic msghdrs and fake numbers
 * (fuzz/fuzz_sideband.c). The shell (unix_xfer.c) does the I/O and closes
 * exactly what a verdict lists.
 * spec: XFER-3 XFER-9 XFER-28 XFER-29 ERR-31 ERR-32 ERR-33 ERR-34 ERR-45
 */
#include <string.h>
#include <sys/socket.h>

#include "net/xfer_internal.h"

/* The control messages of msg, walked by offsets with every sum checked
 * (no pointer past the buffer is ever formed, whatever cmsg_len says), with
 * the rules of CMSG_FIRSTHDR / CMSG_NXTHDR: the first header needs only to
 * fit; a later one must fit with its aligned length. A cmsg_len below
 * CMSG_LEN(0) or running past the delivered control data ends the walk. */
static size_t collect(const struct msghdr *msg, int *fds, size_t max_fds) {
  size_t n = 0;
  const size_t hdr = sizeof(struct cmsghdr), len0 = CMSG_LEN(0);
  const size_t clen = msg->msg_controllen;
  if (msg->msg_control == NULL || clen < hdr) return 0;
  const unsigned char *base = msg->msg_control;
  size_t off = 0;
  for (int first = 1;; first = 0) {
    struct cmsghdr c;
    if (clen - off < hdr) break;
    memcpy(&c, base + off, sizeof c);
    size_t len = c.cmsg_len;
    if (!first) {
      size_t al = CMSG_ALIGN(len);
      if (al < len || al > clen - off) break; /* CMSG_NXTHDR returns NULL */
    }
    if (len < len0) break;
    if (len > clen - off) break; /* spec: XFER-3 — trusted only within the data delivered */
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS) {
      size_t k = (len - len0) / sizeof(int);
      for (size_t i = 0; i < k && n < max_fds; i++)
        memcpy(&fds[n++], base + off + len0 + i * sizeof(int), sizeof(int));
    }
    size_t al = CMSG_ALIGN(len);
    if (al < len || al > clen - off) break;
    off += al;
  }
  return n;
}

int ho_xfer_classify(const struct msghdr *msg, size_t ctl_cap, int *fds, size_t max_fds,
                     size_t *nfds) {
  if (msg == NULL || fds == NULL || nfds == NULL) return HO_ERR_INVALID_ARGUMENT;
  /* Collect every descriptor, whatever the cmsg layout (spec: XFER-3). */
  *nfds = collect(msg, fds, max_fds);
  /* spec: XFER-28 — how many descriptors the buffer could hold, as the
   * kernel computes it; truncation with a full buffer means more were sent. */
  size_t room = ctl_cap > CMSG_LEN(0) ? (ctl_cap - CMSG_LEN(0)) / sizeof(int) : 0;
  if (*nfds > 1) return HO_ERR_EXTRA_DESCRIPTORS;
  if (msg->msg_flags & MSG_CTRUNC)
    return *nfds >= room ? HO_ERR_EXTRA_DESCRIPTORS : HO_ERR_FD_EXHAUSTED;
  return HO_OK;
}

int ho_xfer_judge(const struct msghdr *msg, size_t n, size_t ctl_cap, unsigned flags,
                  int (*check_stream)(void *ctx, int fd), void *ctx, ho_xfer_verdict *v) {
  if (v == NULL) return HO_ERR_INVALID_ARGUMENT;
  memset(v, 0, sizeof *v);
  v->keep = -1;
  v->status = HO_OK;
  /* The kernel never delivers more control data than the buffer offered,
   * and that buffer holds at most HO_XFER_MAX_FDS descriptors: within these
   * bounds every descriptor fits in v->close, so none can be lost. */
  if (msg == NULL || ctl_cap > HO_XFER_CTL_MAX ||
      (msg->msg_control != NULL && msg->msg_controllen > ctl_cap))
    return HO_ERR_INVALID_ARGUMENT;
  int fds[HO_XFER_MAX_FDS];
  size_t nfds = 0;
  int status = ho_xfer_classify(msg, ctl_cap, fds, HO_XFER_MAX_FDS, &nfds);
  /* spec: XFER-28 (4) ERR-33 — the one descriptor must be a connected stream. */
  if (status == HO_OK && nfds == 1 && !(flags & HO_XFER_NO_STREAM_CHECK) &&
      (check_stream == NULL || check_stream(ctx, fds[0]) != HO_OK))
    status = HO_ERR_BAD_DESCRIPTOR;
  if (n == 0 || status != HO_OK) {
    /* EOF closes whatever came with it; a refused read closes all of them
     * (spec: ERR-32 ERR-33 ERR-45). */
    memcpy(v->close, fds, nfds * sizeof(int));
    v->nclose = nfds;
  } else if (nfds == 1) {
    v->keep = fds[0];
  }
  if (n == 0) return HO_ERR_CLOSED;
  v->status = status;
  return HO_OK;
}

enum { SEEN_FDEXH = 1, SEEN_BAD = 2 };

int ho_sideband_apply(ho_sideband *sb, int rc, const ho_xfer_rx *rx, int close_fds[2],
                      size_t *nclose) {
  if (nclose == NULL || close_fds == NULL) return HO_ERR_INVALID_ARGUMENT;
  *nclose = 0;
  int incoming = rc == HO_OK && rx != NULL && rx->conn >= 0 ? (int)rx->conn : -1;
  if (sb == NULL || sb->have >= HO_TOKEN_BYTES ||
      (rc == HO_OK && (rx == NULL || rx->len == 0 || rx->len > HO_TOKEN_BYTES - sb->have))) {
    /* Not a read this sideband could have made: refuse it, keep nothing. */
    if (incoming >= 0) close_fds[(*nclose)++] = incoming;
    return HO_ERR_INVALID_ARGUMENT;
  }
  if (rc != HO_OK) {
    if (rc != HO_ERR_WOULD_BLOCK && sb->conn >= 0) { /* spec: XFER-9 ERR-34 */
      close_fds[(*nclose)++] = (int)sb->conn;
      sb->conn = HO_NO_HANDLE;
      /* Still counted, and gone: should the caller read on after this
       * error, the sideband cannot end HO_OK without its descriptor
       * (fuzz_sideband found it; conformance/regression/fuzz_sideband/). */
      sb->seen |= SEEN_BAD;
    }
    if (rc == HO_ERR_CLOSED && sb->have > 0) rc = HO_ERR_TRUNCATED;
    return rc;
  }
  sb->have += rx->len;
  /* spec: XFER-29 — descriptors of every read of this sideband count. */
  if (rx->conn_status == HO_ERR_FD_EXHAUSTED) {
    sb->seen |= SEEN_FDEXH;
  } else if (rx->conn_status == HO_ERR_EXTRA_DESCRIPTORS) {
    sb->ndesc += 2;
  } else if (rx->conn_status != HO_OK) {
    sb->ndesc++;
    sb->seen |= SEEN_BAD;
  } else if (incoming >= 0) {
    sb->ndesc++;
    if (sb->conn < 0) sb->conn = incoming;
    else close_fds[(*nclose)++] = incoming;
  }
  if (sb->have < HO_TOKEN_BYTES) return HO_ERR_WOULD_BLOCK;
  /* spec: XFER-28 ERR-32 ERR-45 ERR-31 ERR-33 — checks in order. */
  sb->conn_status = sb->ndesc > 1            ? HO_ERR_EXTRA_DESCRIPTORS
                    : (sb->seen & SEEN_FDEXH) ? HO_ERR_FD_EXHAUSTED
                    : sb->ndesc == 0          ? HO_ERR_NO_DESCRIPTOR
                    : (sb->seen & SEEN_BAD)   ? HO_ERR_BAD_DESCRIPTOR
                                              : HO_OK;
  if (sb->conn_status != HO_OK && sb->conn >= 0) {
    close_fds[(*nclose)++] = (int)sb->conn;
    sb->conn = HO_NO_HANDLE;
  }
  return HO_OK;
}
