/* handoff-conform — the adversarial broker's control connections: bounded
 * connect, one sendmsg per sideband with any descriptors (or none), raw
 * writes with any split, and a frame reader for what the SUT sends back.
 * Every byte both ways goes to the trace. All I/O is non-blocking with a
 * deadline: the runner never waits without one. */
#ifndef CF_CTL_H
#define CF_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"

#define CF_CTL_RBUF (70 * 1024) /* ACK frames are at most 64 KiB (FRAME-7) */

typedef struct cf_ctl {
  int fd;
  int id;
  uint8_t *rbuf;
  size_t rlen;
  bool eof, reset;
  int acks;            /* ACK frames read */
  bool multi;          /* an ACK on it carried BACKEND_CAP_MULTI_OFFER */
  int inflight;        /* offers sent and not yet answered */
  uint64_t opened_ms;
} cf_ctl;
#define CF_CTL0 {.fd = -1}

/* Connect to the SUT's handoff endpoint (bounded: 1 s). The SUT's end of
 * the connection is registered with cf_hold (it must be closed once the
 * runner closes its end). Returns 0 or -1 (failure recorded). */
int cf_ctl_open(cf_ctx *ctx, cf_ctl *c);
void cf_ctl_close(cf_ctx *ctx, cf_ctl *c);

/* One sendmsg: `len` data bytes and, if nfds > 0, one SCM_RIGHTS message
 * with those descriptors (MSG_NOSIGNAL). Returns 0 or -1. */
int cf_ctl_sendmsg(cf_ctx *ctx, cf_ctl *c, const void *data, size_t len, const int *fds, int nfds);
/* Write bytes (all of them, bounded by 2 s), traced; `frame_type` > 0 also
 * decodes them as that HO_FT_* frame in the trace. Returns 0 or -1 (EPIPE
 * etc. is returned as -1 without recording a failure: *gone set). */
int cf_ctl_write(cf_ctx *ctx, cf_ctl *c, const void *p, size_t n, int frame_type, bool *gone);

enum { CF_RD_FRAME = 1, CF_RD_EOF = 2, CF_RD_TIMEOUT = 3, CF_RD_TRUNC = 4, CF_RD_BIG = 5 };
/* Read one complete frame from the SUT (at most 64 KiB body). On
 * CF_RD_FRAME *frame and *len point into c->rbuf until the next call. EOF at a
 * frame boundary is CF_RD_EOF, inside a frame CF_RD_TRUNC; a header
 * announcing more than 64 KiB is CF_RD_BIG. */
int cf_ctl_read_frame(cf_ctx *ctx, cf_ctl *c, int timeout_ms, const uint8_t **frame, size_t *len);
/* Drop the first n bytes (the frame cf_ctl_read_frame returned). */
void cf_ctl_consume(cf_ctl *c, size_t n);
/* Wait until the SUT closes the connection. Returns CF_RD_EOF (closed, no
 * byte), CF_RD_TIMEOUT, or CF_RD_FRAME/CF_RD_TRUNC when bytes came first
 * (they are in the trace). */
int cf_ctl_wait_closed(cf_ctx *ctx, cf_ctl *c, int timeout_ms);
/* Is the connection still open (no EOF/reset pending)? Non-blocking. */
bool cf_ctl_is_open(cf_ctx *ctx, cf_ctl *c);

#endif
