/* handoff — internal hooks of the Unix transport (tests use them). */
#ifndef HANDOFF_NET_XFER_INTERNAL_H
#define HANDOFF_NET_XFER_INTERNAL_H

#include <sys/socket.h>

#include "handoff/transport.h"

/* Sans-I/O half of the receiver (spec: XFER-28 XFER-29): classify what one
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

#endif
