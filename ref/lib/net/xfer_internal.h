/* handoff — internal hooks of the Unix transport (tests use them). */
#ifndef HANDOFF_NET_XFER_INTERNAL_H
#define HANDOFF_NET_XFER_INTERNAL_H

#include "handoff/transport.h"

/* ho_xfer_recv() with a control buffer sized for `cmsg_fds` descriptors
 * (0 is allowed: any descriptor then truncates). ho_xfer_recv() uses
 * HO_XFER_CMSG_FDS. */
#define HO_XFER_CMSG_FDS 8
int ho_xfer_recv_cap(ho_handle ctl, void *buf, size_t len, ho_xfer_rx *rx, unsigned flags,
                     size_t cmsg_fds);

#endif
