/* handoff-conform — per-case wire trace (see trace.h). */
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "handoff/msg.h"
#include "handoff/msg_json.h"

#define HEX_MAX 512 /* bytes shown in full; longer runs are elided */

int cf_trace_open(cf_ctx *ctx, cf_trace *t, const char *path) {
  t->f = fopen(path, "we");
  t->t0_us = cf_now_us();
  if (t->f == NULL) return -1;
  setvbuf(t->f, NULL, _IOLBF, 0); /* a crash loses at most one line */
  ctx->tr = t;
  return 0;
}

void cf_trace_close(cf_ctx *ctx) {
  if (ctx->tr != NULL && ctx->tr->f != NULL) fclose(ctx->tr->f);
  if (ctx->tr != NULL) ctx->tr->f = NULL;
}

static FILE *tf(cf_ctx *ctx) { return ctx->tr != NULL ? ctx->tr->f : NULL; }

static void stamp(cf_ctx *ctx, FILE *f) {
  uint64_t us = cf_now_us() - ctx->tr->t0_us;
  fprintf(f, "%8.3f ", (double)us / 1000.0);
}

void cf_trace_note(cf_ctx *ctx, const char *fmt, ...) {
  FILE *f = tf(ctx);
  if (f == NULL) return;
  stamp(ctx, f);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  if (ctx->o->verbose) {
    va_start(ap, fmt);
    fprintf(stderr, "  [%s] ", ctx->c->id);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
  }
}

static void hexdump(FILE *f, const uint8_t *p, size_t n) {
  size_t show = n > HEX_MAX ? HEX_MAX / 2 : n;
  for (size_t i = 0; i < show; i++) fprintf(f, "%s%02x", i % 32 == 0 ? "\n           " : " ", p[i]);
  if (n > HEX_MAX) {
    fprintf(f, "\n           ... %zu bytes elided ...", n - HEX_MAX);
    for (size_t i = n - HEX_MAX / 2; i < n; i++)
      fprintf(f, "%s%02x", (i - (n - HEX_MAX / 2)) % 32 == 0 ? "\n           " : " ", p[i]);
  }
  fputc('\n', f);
}

void cf_trace_bytes(cf_ctx *ctx, const char *who, const void *p, size_t n) {
  FILE *f = tf(ctx);
  if (f == NULL) return;
  stamp(ctx, f);
  fprintf(f, "%s: %zu bytes", who, n);
  hexdump(f, p, n);
}

void cf_trace_frame(cf_ctx *ctx, const char *who, const uint8_t *frame, size_t n, int type) {
  FILE *f = tf(ctx);
  if (f == NULL) return;
  const char *tn = ho_frame_type_name((ho_frame_type)type);
  stamp(ctx, f);
  fprintf(f, "%s: %s frame, %zu bytes", who, tn ? tn : "?", n);
  hexdump(f, frame, n);
  ho_envelope env;
  ho_any_msg *m = calloc(1, sizeof *m);
  if (m == NULL) return;
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, (ho_frame_type)type, frame, n, &env, m);
  if (rc != HO_OK) {
    fprintf(f, "           decoded: does not decode as a valid %s frame: %s\n", tn ? tn : "?",
            ho_errname(rc) ? ho_errname(rc) : "?");
  } else {
    size_t cap = HO_JSON_MSG_MAX + 2 * env.payload_len + 1024, len = 0;
    char *js = malloc(cap);
    if (js != NULL && ho_frame_to_json((ho_frame_type)type, &env, m, js, cap, &len) == HO_OK)
      fprintf(f, "           decoded: %s\n", js);
    free(js);
  }
  free(m);
}

void cf_fd_describe(int fd, char *buf, size_t cap) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(buf, cap, "invalid (%s)", strerror(errno));
    return;
  }
  if (S_ISSOCK(st.st_mode)) {
    int type = 0, acc = 0;
    socklen_t l = sizeof type;
    (void)getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
    l = sizeof acc;
    (void)getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    bool conn = getpeername(fd, (struct sockaddr *)&ss, &sl) == 0;
    snprintf(buf, cap, "socket %s %s ino=%lu",
             type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram"
             : type == SOCK_SEQPACKET ? "seqpacket" : "other",
             acc ? "listening" : conn ? "connected" : "unconnected", (unsigned long)st.st_ino);
  } else if (S_ISFIFO(st.st_mode)) {
    snprintf(buf, cap, "pipe ino=%lu", (unsigned long)st.st_ino);
  } else if (S_ISREG(st.st_mode)) {
    snprintf(buf, cap, "regular file ino=%lu", (unsigned long)st.st_ino);
  } else if (S_ISDIR(st.st_mode)) {
    snprintf(buf, cap, "directory ino=%lu", (unsigned long)st.st_ino);
  } else {
    snprintf(buf, cap, "other (mode 0%o) ino=%lu", (unsigned)st.st_mode, (unsigned long)st.st_ino);
  }
}

void cf_trace_scm(cf_ctx *ctx, const char *who, const int *fds, int nfds) {
  FILE *f = tf(ctx);
  if (f == NULL) return;
  stamp(ctx, f);
  fprintf(f, "%s: SCM_RIGHTS with %d descriptor%s", who, nfds, nfds == 1 ? "" : "s");
  /* Many copies of one descriptor are listed once. */
  for (int i = 0; i < nfds; i++) {
    if (i > 0 && fds[i] == fds[i - 1]) continue;
    int same = 1;
    while (i + same < nfds && fds[i + same] == fds[i]) same++;
    char d[128];
    cf_fd_describe(fds[i], d, sizeof d);
    fprintf(f, "%s %s%s", i ? ";" : ":", d, "");
    if (same > 1) fprintf(f, " (x%d)", same);
  }
  fputc('\n', f);
}
