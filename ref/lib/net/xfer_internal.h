/* handoff — internal hooks of the Unix transport (tests use them). */
#ifndef HANDOFF_NET_XFER_INTERNAL_H
#define HANDOFF_NET_XFER_INTERNAL_H

#include <sys/socket.h>

#include "handoff/transport.h"

/* Sans-I/O half of the receiver (xfer_judge.c; spec: XFER-28 XFER-29): classify what one
 * recvmsg delivered in `msg` (its msg_flags and control data), given the
 * size in bytes of the control buffer that was offered to the kernel
 * (`ctl_cap`; the kernel never delivers more descriptors than fit in it, so
 * `max_fds` >= that room is enough). Every descriptor of an SCM_RIGHTS
 * message is written to fds[0..*nfds); control messages of other types
 * carry none and are ignored. Returns the status of XFER-28 for this read:
 *   HO_OK                    at most one descriptor and no truncation
 *   HO_ERR_EXTRA_DESCRIPTORS two or more descriptors, or MSG_CTRUNC with the
 *                            buffer full of descriptors (more were sent)
 *   HO_ERR_FD_EXHAUSTED      MSG_CTRUNC with room left: the kernel could not
 *                            install a descriptor (RLIMIT_NOFILE, an LSM)
 *   HO_ERR_INVALID_ARGUMENT  NULL msg/fds/nfds
 * Closes nothing: unless the status is HO_OK the caller closes fds[]. */
int ho_xfer_classify(const struct msghdr *msg, size_t ctl_cap, int *fds, size_t max_fds,
                     size_t *nfds);

/* ho_xfer_recv() with a control buffer sized for `cmsg_fds` descriptors
 * (0 is allowed: any descriptor then truncates). ho_xfer_recv() uses
 * HO_XFER_CMSG_FDS. */
#define HO_XFER_CMSG_FDS 8 /* room for 8: at least 2 (spec: XFER-29) */
int ho_xfer_recv_cap(ho_handle ctl, void *buf, size_t len, ho_xfer_rx *rx, unsigned flags,
                     size_t cmsg_fds);

/* The largest control buffer a receive offers: room for 64 descriptors. */
#define HO_XFER_MAX_FDS 64
#define HO_XFER_CTL_MAX CMSG_SPACE(sizeof(int) * HO_XFER_MAX_FDS)

/* What the shell does with the descriptors of one recvmsg. */
typedef struct ho_xfer_verdict {
  int status;       /* ho_xfer_rx.conn_status of this read (XFER-28) */
  int keep;         /* the descriptor to hand over as ho_xfer_rx.conn, or -1 */
  size_t nclose;    /* the shell closes close[0..nclose), each exactly once */
  int close[HO_XFER_MAX_FDS];
} ho_xfer_verdict;

/* Judge one recvmsg that returned `n` >= 0 data bytes with `msg` (its
 * msg_control / msg_controllen / msg_flags as delivered) into a control
 * buffer of `ctl_cap` bytes (<= HO_XFER_CTL_MAX; 0 when none was offered).
 * check_stream(ctx, fd) is asked only for a single descriptor of an
 * untruncated read, unless flags has HO_XFER_NO_STREAM_CHECK; it returns
 * HO_OK for a connected SOCK_STREAM socket (NULL: none is). Every descriptor
 * of the read ends up exactly once in v->keep or v->close[]. Returns:
 *   HO_OK                   data: v->status, v->keep (-1 unless status OK);
 *   HO_ERR_CLOSED           n == 0 (EOF): every descriptor in v->close;
 *   HO_ERR_INVALID_ARGUMENT NULL msg or v, ctl_cap > HO_XFER_CTL_MAX, or
 *                           more control data than ctl_cap (no kernel
 *                           delivers that): nothing collected.
 * Touches no descriptor (spec: XFER-3 XFER-28 XFER-29 ERR-32 ERR-33 ERR-45). */
int ho_xfer_judge(const struct msghdr *msg, size_t n, size_t ctl_cap, unsigned flags,
                  int (*check_stream)(void *ctx, int fd), void *ctx, ho_xfer_verdict *v);

/* Count one ho_xfer_recv() of the missing sideband bytes (its return `rc`
 * and `rx`; the bytes are already in sb->token + sb->have) for the sideband
 * `sb`; returns what ho_sideband_recv() returns. The descriptors the shell
 * must close (at most two: a second one that arrived, the one held) are
 * written to close_fds[0..*nclose). A read of 0 or more than the missing
 * bytes, or a full or NULL sb: HO_ERR_INVALID_ARGUMENT, the incoming
 * descriptor listed to close, sb unchanged.
 * spec: XFER-9 XFER-28 XFER-29 ERR-31 ERR-32 ERR-33 ERR-34 ERR-45 */
int ho_sideband_apply(ho_sideband *sb, int rc, const ho_xfer_rx *rx, int close_fds[2],
                      size_t *nclose);

/* Send p[*off..n) on the stream socket `fd` without blocking and without
 * SIGPIPE (MSG_DONTWAIT|MSG_NOSIGNAL; spec: ERR-3), retrying EINTR, until all
 * is sent (HO_OK) or a send fails: ho_err_from_errno() of its errno
 * (HO_ERR_WOULD_BLOCK when the socket is full, HO_ERR_CLOSED when the peer is
 * gone), HO_ERR_IO for a send of 0 bytes. *off counts what has been sent.
 * The one send loop of the backend shell and the client shell (unix_sock.c). */
int ho_sock_send_now(int fd, const uint8_t *p, size_t n, size_t *off);

#endif
