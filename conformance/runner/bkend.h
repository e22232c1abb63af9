/* handoff-conform — broker mode: the runner as the backend. It listens on
 * {handoff_endpoint} (the control connections the SUT broker opens) and on
 * {backend_pipe} (the fallback route, serving echo), receives each handoff
 * — the sideband with its SCM_RIGHTS descriptor, then the offer frame —
 * checks it, and answers with an ACK: a correct one, or one of the named
 * misbehaviours of spec/errors.md §6. Every byte both ways goes to the
 * trace; every wait has a deadline.
 *
 * Checks on every handoff received (the first failure is recorded):
 *   XFER-3   one sendmsg: exactly the 16 sideband bytes, exactly one
 *            SCM_RIGHTS message with exactly one descriptor, nothing else;
 *   XFER-4   the offer right behind it, same token, handle_value 0;
 *   XFER-25  the descriptor is a connected stream socket in blocking mode;
 *   ENV-4    the offer frame passes every check (REQUEST on 0xD0FF, ...),
 *            FRAME-7 at most 64 KiB, ENV-9 / TOKEN-22 / READY-10 deadline;
 *   ACK-12   correlation ids non-zero and unique in the case;
 *   TOKEN-6  no token offered twice;
 *   XFER-37  no second offer on a connection before an ACK on it declared
 *            BACKEND_CAP_MULTI_OFFER;
 *   CAP-2    no unassigned offer flag. */
#ifndef CF_BKEND_H
#define CF_BKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"
#include "handoff/msg.h"

#define CF_BK_MAX_CTL 24
#define CF_BK_MAX_SEEN 512
#define CF_BK_RBUF (70 * 1024)

typedef struct cf_bctl {
  int fd, id;
  uint8_t *rbuf; /* bytes read and not yet parsed */
  size_t rlen;
  bool eof;
  int offers, acks;
  uint64_t declared; /* backend_capabilities of the runner's last ACK on it */
  bool multi;        /* an ACK of the runner on it carried BACKEND_CAP_MULTI_OFFER */
  int inflight;
} cf_bctl;

typedef struct cf_boffer {
  cf_bctl *ctl;
  int fd; /* the descriptor received; -1 once closed */
  dev_t dev;
  ino_t ino;
  uint8_t sideband[16];
  ho_envelope env; /* env.payload is not kept */
  ho_offer offer;
  size_t frame_len;
  uint64_t at_ms, at_wall_ms; /* when the offer was complete */
  bool acked;
} cf_boffer;

typedef struct cf_bk {
  int lho, lpipe; /* listeners */
  cf_bctl ctl[CF_BK_MAX_CTL];
  int nctl;
  uint8_t tokens[CF_BK_MAX_SEEN][16];
  size_t ntok;
  uint64_t corrs[CF_BK_MAX_SEEN];
  size_t ncorr;
  int pipe_conns; /* connections served on backend_pipe */
} cf_bk;

/* The broker-mode state of a case (ctx->mstate). */
cf_bk *cf_bk_of(cf_ctx *ctx);

/* Mode hooks (modes.h): listen on both endpoints; close everything. */
int cf_bk_prepare(cf_ctx *ctx);
void cf_bk_finish(cf_ctx *ctx);

/* Wait for the next handoff on any control connection (accepting new ones
 * as they come). Returns 0 with *o filled, 1 when none arrived within
 * timeout_ms (nothing recorded), -1 on a violation (recorded). */
int cf_bk_next_offer(cf_ctx *ctx, cf_boffer *o, int timeout_ms);
/* No handoff may arrive within wait_ms (a refused Hello, a fallback
 * decision, ...). 0, or -1 recorded with `reqs` and `why`. */
int cf_bk_no_offer(cf_ctx *ctx, int wait_ms, const char *reqs, const char *why);
/* Close the descriptor of a handoff (the runner's copy). */
void cf_bk_drop_fd(cf_ctx *ctx, cf_boffer *o);

/* ACKs: correct, or with one named defect. */
enum {
  CF_ACK_OK = 0,     /* a correct ACK (accepted or refused) */
  CF_ACK_WRONG_TOKEN, /* token echo differs (ERR-56) */
  CF_ACK_CORR_ZERO,  /* correlation id 0: never issued (ERR-54) */
  CF_ACK_CORR_UNISSUED, /* above the last issued (ERR-54) */
  CF_ACK_REQID,      /* request_id != correlation_id (ERR-53) */
  CF_ACK_MALFORMED,  /* payload not protobuf (ERR-52) */
  CF_ACK_TOKEN_SHORT, /* 15-byte token (ERR-52) */
  CF_ACK_KIND_REQUEST, /* wrong kind (ERR-51) */
  CF_ACK_KIND_EVENT,
  CF_ACK_PROTOCOL,   /* payload protocol 0x0000 (ERR-51) */
  CF_ACK_COMPRESSED, /* payload encoding ZSTD (ERR-51) */
  CF_ACK_FRAMING,    /* framing byte 2 (ERR-50) */
  CF_ACK_TRUNCATED   /* half an ACK, then the connection closes (ERR-50) */
};
typedef struct cf_ack_spec {
  bool accepted;
  const char *detail; /* error_detail of a refusal */
  uint64_t caps;      /* backend_capabilities */
  int bug;            /* CF_ACK_* */
  uint64_t corr;      /* 0: the offer's (CF_ACK_OK), else this id */
} cf_ack_spec;
/* Write the ACK for o. 0, or -1 when the connection is gone (recorded). */
int cf_bk_ack(cf_ctx *ctx, cf_boffer *o, const cf_ack_spec *a);
/* Close a control connection (the SUT's end must follow, ERR-60). */
void cf_bk_close_ctl(cf_ctx *ctx, cf_bctl *c);
/* Has the SUT closed control connection c (EOF pending)? Non-blocking. */
bool cf_bk_ctl_closed(cf_ctx *ctx, cf_bctl *c, int wait_ms);

/* The fallback route: accept one connection on backend_pipe within
 * timeout_ms, read `n` bytes, write them back. Returns 0, or -1 recorded
 * (`reqs`). The bytes read go to *got when not NULL. */
int cf_bk_pipe_echo(cf_ctx *ctx, size_t n, int timeout_ms, const char *reqs);
/* Connections waiting on backend_pipe right now (accepted and closed). */
int cf_bk_pipe_pending(cf_ctx *ctx);

#endif
