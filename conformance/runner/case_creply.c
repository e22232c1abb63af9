/* handoff-conform — client cases: Refused, and every bad HelloReply of the
 * client's table (spec/errors.md §4): the client reports the failure (a
 * non-zero exit) and sends its request nowhere else; unknown fields are
 * ignored. */
#include <string.h>

#include "cases.h"
#include "cflow.h"

#define ED HO_CAP_EARLY_DATA

/* The client must report a failure after what the runner wrote (a
 * Negotiated n, or raw bytes when n is NULL). */
static int fails_after(cf_ctx *ctx, const cf_neg *n, const uint8_t *raw, size_t len) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = n != NULL ? cf_cb_negotiated(ctx, &f.k, n, NULL) : cf_cb_write(ctx, &f.k, raw, len, "a bad HelloReply");
  (void)cf_cf_request_written(ctx, &f, 0);
  if (f.k.early) f.k.pos += strlen(ctx->message); /* written behind the Hello, never served */
  if (rc == 0) rc = cf_cf_fails(ctx, &f, 3000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int refused_with(cf_ctx *ctx, uint32_t code) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cb_refused(ctx, &f.k, code, code == HO_REFUSE_SERVICE_UNKNOWN ? "SERVICE_NAME" : "INTERNAL");
  (void)cf_cf_request_written(ctx, &f, 0);
  if (f.k.early) f.k.pos += strlen(ctx->message);
  if (rc == 0) rc = cf_cf_fails(ctx, &f, 3000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int refused_known(cf_ctx *ctx) { return refused_with(ctx, HO_REFUSE_SERVICE_UNKNOWN); }
static int refused_unknown(cf_ctx *ctx) { return refused_with(ctx, 42); }

static int malformed(cf_ctx *ctx) {
  /* RESPONSE on 0x0000 whose HelloReply.negotiated runs past its end. */
  static const uint8_t b[] = {1, 8, 0, 0, 0, 0x08, 0x01, 0x10, 0x01, 0x22, 0x02, 0x0a, 0x7f};
  return fails_after(ctx, NULL, b, sizeof b);
}

static int oversized(cf_ctx *ctx) {
  /* 16 MiB + 1 and no body: a client that waits for it runs into its own
   * reply timeout; one that checks the header (FRAME-3) gives up at once. */
  static const uint8_t hdr[] = {1, 0x01, 0x00, 0x00, 0x01};
  long rt = cf_const(ctx->o, CF_K_REPLY_TIMEOUT_MS);
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cb_write(ctx, &f.k, hdr, sizeof hdr, "a HelloReply header announcing 16 MiB + 1");
  (void)cf_cf_request_written(ctx, &f, 0);
  if (f.k.early) f.k.pos += strlen(ctx->message);
  if (rc == 0) rc = cf_cf_fails(ctx, &f, rt > 0 ? (int)(rt / 2 > 200 ? rt / 2 : 200) : 1000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int no_result(cf_ctx *ctx) {
  static const uint8_t b[] = {1, 4, 0, 0, 0, 0x08, 0x01, 0x10, 0x01}; /* RESPONSE on 0x0000, empty HelloReply */
  return fails_after(ctx, NULL, b, sizeof b);
}

static int empty_pipe(cf_ctx *ctx) {
  cf_neg n = {.caps = ED, .pipe = ""};
  return fails_after(ctx, &n, NULL, 0);
}

static int token_length(cf_ctx *ctx) {
  static const uint8_t t[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  cf_neg n = {.token = t, .token_len = 8, .caps = HO_CAP_HANDLE_PASSING | ED};
  return fails_after(ctx, &n, NULL, 0);
}

static int protocol(cf_ctx *ctx) {
  cf_neg n = {.caps = ED, .protocol = 2};
  return fails_after(ctx, &n, NULL, 0);
}

static int wrong_kind(cf_ctx *ctx) {
  cf_neg n = {.caps = ED, .as_request = true};
  return fails_after(ctx, &n, NULL, 0);
}

static int payload_protocol(cf_ctx *ctx) {
  cf_neg n = {.caps = ED, .on_handoff = true};
  return fails_after(ctx, &n, NULL, 0);
}

static int unknown_field(cf_ctx *ctx) {
  cf_cf f = CF_CF0;
  cf_neg n = {.caps = ED, .unknown_field = true};
  int rc = cf_cf_begin(ctx, &f);
  if (rc == 0) rc = cf_cb_negotiated(ctx, &f.k, &n, NULL);
  cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_after_failure(ctx, &f, false, 2000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static int eof(cf_ctx *ctx) {
  cf_cf f = CF_CF0;
  int rc = cf_cf_begin(ctx, &f);
  (void)cf_cf_request_written(ctx, &f, 0);
  if (f.k.early) f.k.pos += strlen(ctx->message);
  cf_cb_hangup(ctx, &f.k);
  if (rc == 0) rc = cf_cf_fails(ctx, &f, 3000, NULL);
  cf_cf_end(ctx, &f);
  return rc;
}

static const cf_case cases[] = {
    {.id = "client.refused.known", .spec = "spec: CLIENT-3 HELLO-10", .does = "Refused{ERROR_SERVICE_UNKNOWN}",
     .expect = "the client reports it (non-zero exit), does not reconnect and sends its request nowhere",
     .run = refused_known},
    {.id = "client.refused.unknown-code", .spec = "spec: CLIENT-3", .does = "Refused with code 42 (no such code)",
     .expect = "reported like ERROR_CODE_UNSPECIFIED: non-zero exit, no reconnect", .run = refused_unknown},
    {.id = "client.reply.malformed", .spec = "spec: CLIENT-2 ERR-20 MSG-10",
     .does = "a HelloReply whose Negotiated runs past its end", .expect = "a failure (non-zero exit), no fallback",
     .run = malformed},
    {.id = "client.reply.oversized", .spec = "spec: CLIENT-1 FRAME-3 ERR-20",
     .does = "a HelloReply header announcing 16 MiB + 1 bytes, and no body",
     .expect = "FRAME_TOO_LARGE at once, without waiting for the body: non-zero exit, no fallback",
     .run = oversized},
    {.id = "client.reply.no-result", .spec = "spec: CLIENT-2 ERR-21", .does = "a HelloReply with neither negotiated nor refused",
     .expect = "MALFORMED: non-zero exit, no fallback", .run = no_result},
    {.id = "client.reply.empty-pipe", .spec = "spec: CLIENT-4 ERR-21", .does = "a Negotiated with an empty backend_pipe",
     .expect = "MALFORMED: non-zero exit, neither adoption nor fallback", .run = empty_pipe},
    {.id = "client.reply.token-length", .spec = "spec: ERR-22 MSG-8", .does = "a Negotiated with an 8-byte token",
     .expect = "TOKEN_LENGTH: non-zero exit, no fallback", .run = token_length},
    {.id = "client.reply.protocol", .spec = "spec: CLIENT-2", .does = "a Negotiated with negotiated_protocol 2",
     .expect = "PROTOCOL_UNSUPPORTED: non-zero exit, no fallback", .run = protocol},
    {.id = "client.reply.wrong-kind", .spec = "spec: CLIENT-2 ERR-20 ENV-4", .does = "a Negotiated sent as a REQUEST",
     .expect = "WRONG_KIND: non-zero exit, no fallback", .run = wrong_kind},
    {.id = "client.reply.payload-protocol", .spec = "spec: CLIENT-2 ERR-20", .does = "a Negotiated on payload protocol 0xD0FF",
     .expect = "PAYLOAD_PROTOCOL: non-zero exit, no fallback", .run = payload_protocol},
    {.id = "client.reply.unknown-field", .spec = "spec: MSG-1 ENV-10 FALLBACK-4",
     .does = "a Negotiated without token with unknown fields in Negotiated and Frame",
     .expect = "the fields are ignored: the client reconnects and is served", .run = unknown_field},
    {.id = "client.reply.eof", .spec = "spec: CLIENT-1 CLIENT-2 READY-31", .does = "the broker closes without any reply",
     .expect = "a failure (non-zero exit); the request is sent nowhere", .run = eof},
};
CF_TABLE(cf_cases_creply, cases);
