/* handoff-conform — client mode: one run and its verdict (see cflow.h). */
#include "cflow.h"

#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff/wire.h"
#include "sut.h"
#include "trace.h"

static bool declared(const cf_ctx *ctx, unsigned f) { return (ctx->o->features & f) != 0; }

int cf_cf_begin(cf_ctx *ctx, cf_cf *f) {
  if (cf_cb_accept(ctx, &f->k, ctx->o->start_timeout_ms) != 0) return -1;
  return cf_cb_hello(ctx, &f->k);
}

uint64_t cf_cf_caps(const cf_cf *f, bool token) {
  uint64_t c = HO_CAP_EARLY_DATA; /* CAP-6: every broker of the spec sets it */
  if (token) c |= HO_CAP_HANDLE_PASSING | (f->k.caps & HO_CAP_BACKEND_READY);
  return c;
}

int cf_cf_negotiate(cf_ctx *ctx, cf_cf *f, bool token, uint64_t caps, cf_buf *out) {
  f->has_token = token;
  f->neg_caps = caps;
  f->corr = 7;
  if (token) cf_random(f->token, 16);
  cf_neg n = {.token = token ? f->token : NULL, .token_len = 16, .caps = caps};
  return cf_cb_negotiated(ctx, &f->k, &n, out);
}

bool cf_cf_request_written(cf_ctx *ctx, cf_cf *f, int wait_ms) {
  return cf_cb_wait_bytes(ctx, &f->k, strlen(ctx->message), f->k.early ? 0 : wait_ms) >= strlen(ctx->message);
}

int cf_cf_ready_wait(const cf_ctx *ctx, const cf_cf *f) {
  long w = cf_const(ctx->o, CF_K_READY_TIMEOUT_MS);
  if ((f->neg_caps & HO_CAP_BACKEND_READY) && w < 2000) w = 2000; /* READY-14 */
  return (int)w + 1000;
}

/* The client exits within wait_ms, with status 0 (ok) or not. */
static int exits(cf_ctx *ctx, bool ok, int wait_ms, const char *reqs) {
  cf_sut *s = ctx->sut;
  if (!cf_sut_wait_exit(s, wait_ms)) {
    cf_sut_stop(s, ctx->o->grace_ms);
    return cf_fail_wait(ctx, reqs, ok ? "the client exits 0 once served" : "the client exits non-zero",
                        "the client was still running %d ms later", wait_ms);
  }
  char st[96];
  cf_exit_text(s->status, st, sizeof st);
  cf_trace_note(ctx, "the client %s", st);
  if (WIFSIGNALED(s->status) || (WIFEXITED(s->status) && WEXITSTATUS(s->status) == CF_UNIMPLEMENTED_EXIT))
    return -1; /* CRASH / UNIMPLEMENTED: run.c names it */
  bool zero = WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0;
  if (zero != ok)
    return cf_fail(ctx, reqs, ok ? "the client is served and exits 0" : "the client reports the failure: a non-zero exit",
                   "the client %s", st);
  if (ok && declared(ctx, CF_F_PRINT_REPLY)) {
    char tail[4096];
    cf_sut_log_tail(s, tail, sizeof tail);
    if (strstr(tail, ctx->message) == NULL)
      return cf_fail(ctx, "", "the client prints the reply (print-reply is declared)",
                     "its output does not contain the echo of {message}");
  }
  return 0;
}

/* Nothing more after the outcome: no byte on the connections, no other
 * connection to backend_pipe, the request served `served` times. */
static int nothing_more(cf_ctx *ctx, cf_cf *f, int served, const char *reqs) {
  cf_cconn *ks[2] = {&f->k, &f->p};
  for (int i = 0; i < 2; i++) {
    if (ks[i]->fd < 0) continue;
    size_t extra = cf_cb_wait_bytes(ctx, ks[i], 1, 20);
    if (extra > 0 && ks[i]->pos > 0)
      return cf_fail(ctx, reqs, "the request is sent once, and nothing else",
                     "conn#%d: %zu more bytes from the client", ks[i]->id, extra);
  }
  int pending = cf_cb_pipe_pending(ctx, 20);
  if (pending > 0)
    return cf_fail(ctx, "FALLBACK-15 CLIENT-6 READY-21", "the client does not reconnect (again)",
                   "%d more connection(s) to backend_pipe", pending);
  int got = cf_cb_of(ctx)->served;
  if (got != served)
    return cf_fail(ctx, reqs, "the request is served exactly once", "it was served %d times", got);
  return 0;
}

int cf_cf_done(cf_ctx *ctx, cf_cf *f, bool ok, int served, int wait_ms, const char *reqs) {
  if (exits(ctx, ok, wait_ms, reqs) != 0) return -1;
  return nothing_more(ctx, f, served, reqs);
}

int cf_cf_adopted(cf_ctx *ctx, cf_cf *f, const char *reqs) {
  cf_cconn *k = &f->k;
  bool ready_mode = (f->neg_caps & HO_CAP_BACKEND_READY) != 0;
  if (!ready_mode && !k->early && cf_cb_wait_bytes(ctx, k, 1, 100) > 0)
    return cf_fail(ctx, "READY-37", "in legacy mode the client writes nothing after its Hello until it has ready",
                   "conn#%d: the client wrote %zu bytes before the ready frame", k->id, k->in.len - k->pos);
  if (cf_cb_ready(ctx, k, f->token, f->corr, CF_RDY_OK, NULL) != 0) return -1;
  if (cf_cb_serve(ctx, k, 2000, reqs) != 0) return -1;
  if (exits(ctx, true, 2000, reqs) != 0) return -1;
  return nothing_more(ctx, f, 1, reqs);
}

int cf_cf_reconnects(cf_ctx *ctx, cf_cf *f, int wait_ms, const char *reqs) {
  if (cf_cb_pipe(ctx, &f->p, wait_ms, reqs) != 0) return -1;
  if (exits(ctx, true, 2000, reqs) != 0) return -1;
  return nothing_more(ctx, f, 1, reqs);
}

int cf_cf_fails(cf_ctx *ctx, cf_cf *f, int wait_ms, const char *reqs) {
  if (exits(ctx, false, wait_ms, reqs) != 0) return -1;
  return nothing_more(ctx, f, 0, reqs);
}

int cf_cf_after_failure(cf_ctx *ctx, cf_cf *f, bool byte_after, int wait_ms, const char *reqs) {
  bool written = cf_cf_request_written(ctx, f, 0);
  bool br = (f->neg_caps & HO_CAP_BACKEND_READY) && (!f->k.early || (f->neg_caps & HO_CAP_EARLY_DATA));
  bool coalesced = (f->neg_caps & HO_CAP_COALESCED_REPLY) != 0;
  /* READY-21: re-sent only without a token, or (b) after a backend-ready
   * Negotiated when no byte came after it (not in coalesced mode, READY-31). */
  bool resend = !written || !f->has_token || (br && !byte_after && !coalesced);
  if (written) f->k.pos += strlen(ctx->message); /* written there, never served */
  cf_trace_note(ctx, "request %s on the broker connection; expected: %s", written ? "written" : "not written",
                resend ? "reconnect to backend_pipe" : "OUTCOME_UNKNOWN (no re-send, non-zero exit)");
  return resend ? cf_cf_reconnects(ctx, f, wait_ms, reqs) : cf_cf_fails(ctx, f, wait_ms, reqs);
}

void cf_cf_end(cf_ctx *ctx, cf_cf *f) {
  cf_cb_close(ctx, &f->k);
  cf_cb_close(ctx, &f->p);
}
