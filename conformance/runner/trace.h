/* handoff-conform — the wire trace of one case: every byte both ways in
 * hex, every frame decoded (canonical JSON of the library's msg_json.h, or
 * the error name it fails with), every SCM_RIGHTS message with its
 * descriptor count and types, and the runner's notes. Times are
 * milliseconds since the case started. */
#ifndef CF_TRACE_H
#define CF_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctx.h"

struct cf_trace {
  FILE *f;
  uint64_t t0_us;
};

int cf_trace_open(cf_ctx *ctx, cf_trace *t, const char *path);
void cf_trace_close(cf_ctx *ctx);
void cf_trace_note(cf_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes that went `who` ("runner -> SUT ctl#1"), hex. */
void cf_trace_bytes(cf_ctx *ctx, const char *who, const void *p, size_t n);
/* One complete frame expected to be of HO_FT_* `type`: hex and decoded. */
void cf_trace_frame(cf_ctx *ctx, const char *who, const uint8_t *frame, size_t n, int type);
/* An SCM_RIGHTS message: count and the type of each descriptor. */
void cf_trace_scm(cf_ctx *ctx, const char *who, const int *fds, int nfds);
/* "socket stream connected ino=123", "pipe", "regular file", ... */
void cf_fd_describe(int fd, char *buf, size_t cap);

#endif
