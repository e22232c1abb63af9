/* handoff-conform — broker cases: the failed-attempt rate limit
 * (FALLBACK-7, FALLBACK-8, FALLBACK-25), peer credentials and token
 * secrecy, and a final run of many handoffs through one broker process. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "asuser.h"
#include "bflow.h"
#include "cases.h"
#include "procfs.h"
#include "sut.h"

#define HP HO_CAP_HANDLE_PASSING

static int fail_one(cf_ctx *ctx, int k, const char *detail) { return cf_bf_failed_attempt(ctx, k, detail); }
static int limited(cf_ctx *ctx, int after) { return cf_bf_limited(ctx, HP, after); }

static int rate_limit(cf_ctx *ctx) {
  /* Failures of several kinds, each counted exactly once: the first n
   * attempts all get a token, the one after them none. */
  int n = (int)cf_const(ctx->o, CF_K_FAILED_ATTEMPTS);
  for (int k = 0; k < n; k++)
    if (fail_one(ctx, k, "OVERLOADED") != 0) return -1;
  return limited(ctx, n);
}

static int success_clears(cf_ctx *ctx) {
  int n = (int)cf_const(ctx->o, CF_K_FAILED_ATTEMPTS);
  for (int round = 0; round < 2; round++) {
    for (int k = 0; k < n - 1; k++)
      if (fail_one(ctx, 0, "OVERLOADED") != 0) return -1;
    if (cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) != 0) return -1;
  }
  return 0;
}

static int not_counted(cf_ctx *ctx) {
  /* CLOSED (the client had gone) and DRAINING do not count. */
  int n = (int)cf_const(ctx->o, CF_K_FAILED_ATTEMPTS);
  for (int k = 0; k < n; k++)
    if (fail_one(ctx, 0, "CLOSED") != 0) return -1;
  for (int k = 0; k < 2; k++)
    if (fail_one(ctx, 0, "DRAINING") != 0) return -1;
  return cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY);
}

static int recovery(cf_ctx *ctx) {
  int n = (int)cf_const(ctx->o, CF_K_FAILED_ATTEMPTS);
  long window = cf_const(ctx->o, CF_K_FAILURE_WINDOW_MS);
  uint64_t t0 = cf_now_ms();
  for (int k = 0; k < n; k++)
    if (fail_one(ctx, 0, "OVERLOADED") != 0) return -1;
  if (limited(ctx, n) != 0) return -1;
  long left = window + 100 - (long)(cf_now_ms() - t0);
  cf_trace_note(ctx, "waiting %ld ms for the failure window to end", left);
  cf_sleep_ms((int)(left > 0 ? left : 0));
  return cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY);
}

static int other_uid(cf_ctx *ctx) {
  int fd = cf_connect_as_nobody(ctx, ctx->ep_client);
  if (fd < 0) return -1;
  cf_hc hc = CF_HC0;
  hc.fd = fd;
  hc.id = ++ctx->nconn;
  ho_hello h;
  cf_hello_init(ctx, &h, HP);
  cf_buf b = {0};
  int rc = cf_hello_frame(&h, NULL, &b) == 0 ? 0 : cf_error(ctx, "encode");
  bool written = rc == 0 && cf_hc_write(ctx, &hc, b.p, b.len) == 0;
  int e = rc == 0 ? cf_hc_wait_end(ctx, &hc, 1000) : 1;
  if (rc == 0 && e != 1)
    rc = (e == 0 ? cf_fail_wait : cf_fail)(ctx, NULL, "a client of another user is closed without a reply",
                                           "client#%d: %s", hc.id, e == 0 ? "still open 1000 ms later" : "a reply");
  if (rc == 0 && written && !hc.reset)
    rc = cf_fail(ctx, NULL, "the broker closes the connection without reading from it (the client then sees a reset)",
                 "client#%d saw a clean EOF after its Hello: the broker read it", hc.id);
  if (rc == 0) rc = cf_bk_no_offer(ctx, 0, "SEC-1", "no handoff for a rejected peer");
  cf_buf_free(&b);
  cf_hc_close(ctx, &hc);
  return rc;
}

static int tokens_not_logged(cf_ctx *ctx) {
  /* Accepted, refused and failed attempts; the post-case check searches the
   * broker's whole output for every token of the case. */
  if (cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) != 0) return -1;
  if (fail_one(ctx, 0, "OVERLOADED") != 0 || fail_one(ctx, 1, NULL) != 0) return -1;
  return fail_one(ctx, 2, NULL);
}

static int many_handoffs(cf_ctx *ctx) {
  /* Warm up (runtimes open descriptors and pools lazily), then measure. */
  for (int i = 0; i < 3; i++)
    if (cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY) != 0) return -1;
  cf_sleep_ms(50);
  pid_t pg = ctx->sut->pgid;
  int fd0 = cf_proc_fd_count(pg);
  long rss0 = cf_proc_rss_kb(pg);
  int n = 40, refused = 0;
  for (int i = 0; i < n; i++) {
    /* Every fourth refused (fewer than FAILED_ATTEMPTS in a row). */
    int rc = i % 4 == 3 ? fail_one(ctx, 0, "OVERLOADED") : cf_bf_handoff(ctx, HP, CF_BK_CAPS_MULTI, CF_BF_LEGACY);
    if (rc != 0) return -1;
    refused += i % 4 == 3;
  }
  int fd1 = fd0;
  for (int t = 0; t < 100; t++) {
    fd1 = cf_proc_fd_count(pg);
    if (fd1 <= fd0 + 2) break;
    cf_sleep_ms(10);
  }
  long rss1 = cf_proc_rss_kb(pg);
  cf_trace_note(ctx, "%d handoffs (%d refused): descriptors %d -> %d, VmRSS %ld -> %ld KiB", n, refused, fd0, fd1,
                rss0, rss1);
  if (fd0 >= 0 && fd1 > fd0 + 2)
    return cf_fail(ctx, "BROKER-4 ERR-1", "descriptors stay flat over many handoffs",
                   "the broker had %d descriptors before %d handoffs and %d after", fd0, n, fd1);
  if (rss0 > 0 && rss1 > rss0 + 4096)
    return cf_fail(ctx, "ERR-1 BROKER-4", "memory stays flat over many handoffs (within 4 MiB)",
                   "VmRSS grew from %ld to %ld KiB over %d handoffs", rss0, rss1, n);
  return 0;
}

static const cf_case cases[] = {
    {.id = "broker.rate.limit", .spec = "spec: FALLBACK-7 FALLBACK-25 FALLBACK-2 FALLBACK-3",
     .does = "FAILED_ATTEMPTS failed attempts of five kinds (refused, wrong token, malformed ACK, lost control "
             "connection, unknown correlation id), then another client",
     .expect = "each failure counts exactly once: the first FAILED_ATTEMPTS clients all get a token, the next "
               "gets a Negotiated without token (RATE_LIMITED) and falls back",
     .run = rate_limit},
    {.id = "broker.rate.success-clears", .spec = "spec: FALLBACK-8 FALLBACK-7",
     .does = "twice: FAILED_ATTEMPTS - 1 refusals, then a completed handoff",
     .expect = "the completed handoff clears the count: every client gets a token", .run = success_clears},
    {.id = "broker.rate.not-counted", .spec = "spec: FALLBACK-25 BROKER-9",
     .does = "FAILED_ATTEMPTS refusals with CLOSED (the client had gone) and two with DRAINING, then a client",
     .expect = "none of them counts: the client is handed off", .run = not_counted},
    {.id = "broker.rate.recovery", .spec = "spec: FALLBACK-7", .consts = CF_K_BIT(CF_K_FAILURE_WINDOW_MS),
     .does = "FAILED_ATTEMPTS refusals, a client, the end of the declared failure window, another client",
     .expect = "the first client gets no token, the second is handed off (no half-open state)", .run = recovery},
    {.id = "broker.security.other-uid", .spec = "spec: SEC-1 ERR-17",
     .does = "a client connection made by another user (nobody) sends a Hello",
     .expect = "closed without a reply and without reading the Hello; no offer", .run = other_uid},
    {.id = "broker.security.tokens-not-logged", .spec = "spec: SEC-8 ERR-2",
     .does = "accepted, refused and failed handoffs, then searches the broker's output",
     .expect = "no token (raw, hex, or 8 of its bytes in hex) in anything the broker printed",
     .run = tokens_not_logged},
    {.id = "broker.final.many-handoffs", .spec = "spec: ACK-12 TOKEN-6 BROKER-4 ERR-1",
     .does = "40 handoffs through one broker process (every fourth refused), after a warm-up",
     .expect = "every correlation id and token unique, every client served once, descriptors and resident memory "
               "flat (/proc/PID/fd, VmRSS)",
     .no_mutant = "a slow leak that survives the per-handoff inode checks is not modelled by a mutant",
     .run = many_handoffs},
};
CF_TABLE(cf_cases_brate, cases);
