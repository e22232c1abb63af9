/* handoff-conform — the failure API and the registry of descriptors the SUT
 * must release (see ctx.h). */
#include "ctx.h"

#include <string.h>
#include <sys/stat.h>

#include "trace.h"

static void record(cf_ctx *ctx, int verdict, const char *reqs, const char *expected,
                   const char *fmt, va_list ap) {
  cf_result *r = ctx->res;
  if (r->verdict != CF_PASS) return; /* the first failure wins */
  r->verdict = verdict;
  snprintf(r->reqs, sizeof r->reqs, "%s", reqs ? reqs : cf_case_reqs(ctx->c));
  snprintf(r->expected, sizeof r->expected, "%s", expected ? expected : "");
  vsnprintf(r->actual, sizeof r->actual, fmt, ap);
  cf_trace_note(ctx, "%s: expected: %s", cf_verdict_name(verdict), r->expected);
  cf_trace_note(ctx, "%s: actual:   %s", cf_verdict_name(verdict), r->actual);
}

int cf_fail(cf_ctx *ctx, const char *reqs, const char *expected, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(ctx, CF_FAIL, reqs, expected, fmt, ap);
  va_end(ap);
  return -1;
}

int cf_fail_wait(cf_ctx *ctx, const char *reqs, const char *expected, const char *fmt, ...) {
  if (ctx->res->verdict == CF_PASS) ctx->waited_out = true;
  va_list ap;
  va_start(ap, fmt);
  record(ctx, CF_FAIL, reqs, expected, fmt, ap);
  va_end(ap);
  return -1;
}

int cf_skip(cf_ctx *ctx, const char *fmt, ...) {
  cf_result *r = ctx->res;
  if (r->verdict == CF_PASS) {
    r->verdict = CF_SKIP;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note, sizeof r->note, fmt, ap);
    va_end(ap);
    cf_trace_note(ctx, "skip: %s", r->note);
  }
  ctx->skipped = true;
  return -1;
}

int cf_error(cf_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(ctx, CF_ERROR, "", "the runner can do its part", fmt, ap);
  va_end(ap);
  return -1;
}

bool cf_failed(const cf_ctx *ctx) { return ctx->res->verdict != CF_PASS; }

int cf_hold_ino(cf_ctx *ctx, dev_t dev, ino_t ino, const char *reqs, const char *what) {
  for (size_t i = 0; i < ctx->nheld; i++)
    if (ctx->held[i].dev == dev && ctx->held[i].ino == ino) return (int)i;
  if (ctx->nheld >= CF_MAX_HELD) return -1;
  cf_held *h = &ctx->held[ctx->nheld];
  memset(h, 0, sizeof *h);
  h->dev = dev;
  h->ino = ino;
  snprintf(h->what, sizeof h->what, "%s", what);
  snprintf(h->reqs, sizeof h->reqs, "%s", reqs ? reqs : "ERR-1");
  return (int)ctx->nheld++;
}

int cf_hold(cf_ctx *ctx, int fd, const char *reqs, const char *fmt, ...) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  char what[96];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return cf_hold_ino(ctx, st.st_dev, st.st_ino, reqs, what);
}

void cf_note_token(cf_ctx *ctx, const uint8_t token[16]) {
  if (ctx->ntokens < CF_MAX_TOKENS) memcpy(ctx->tokens[ctx->ntokens++], token, 16);
}
