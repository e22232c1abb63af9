/* handoff-conform — broker cases: every Hello error of the broker's table
 * (spec/errors.md §3, negotiation.md §3) answered as the table says, the
 * Hello deadline, and what the broker must ignore. */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bflow.h"
#include "cases.h"
#include "sock.h"

/* Raw Hello bytes from a fresh client: Refused{code, reason}, the end of
 * the connection, no offer. */
static int refused_bytes(cf_ctx *ctx, const uint8_t *p, size_t n, uint32_t code, const char *reason) {
  cf_hc hc = CF_HC0;
  int rc = cf_hc_open(ctx, &hc);
  if (rc == 0) rc = cf_hc_raw_hello(ctx, &hc, p, n);
  if (rc == 0) rc = cf_hc_refused(ctx, &hc, code, reason, NULL);
  if (rc == 0) rc = cf_bk_no_offer(ctx, 0, "HELLO-10", "no handoff for a refused Hello");
  cf_hc_close(ctx, &hc);
  return rc;
}

/* A Hello with `env` knobs (NULL: canonical) refused with code and reason. */
static int refused_hello(cf_ctx *ctx, const ho_hello *h, const cf_frame *env, uint32_t code, const char *reason) {
  cf_buf b = {0};
  int rc = cf_hello_frame(h, env, &b) == 0 ? refused_bytes(ctx, b.p, b.len, code, reason) : cf_error(ctx, "encode");
  cf_buf_free(&b);
  return rc;
}

/* A raw payload in a canonical Hello envelope. */
static int refused_payload(cf_ctx *ctx, const cf_buf *payload, uint32_t code, const char *reason) {
  cf_frame f;
  cf_frame_init(&f, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, payload->p, payload->len);
  cf_buf b = {0};
  int rc = cf_frame_build(&f, &b) == 0 ? refused_bytes(ctx, b.p, b.len, code, reason) : cf_error(ctx, "encode");
  cf_buf_free(&b);
  return rc;
}

/* A Hello whose envelope has one defect (reason: its error name). */
static int env_defect(cf_ctx *ctx, uint32_t version, uint32_t kind, uint32_t protocol, uint32_t encoding,
                      const char *reason) {
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  cf_frame f;
  cf_frame_init(&f, kind, protocol, NULL, 0);
  f.env_version = version;
  f.encoding = encoding;
  return refused_hello(ctx, &h, &f, HO_REFUSE_PEER_REJECTED, reason);
}

static int framing_version(cf_ctx *ctx) {
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  cf_frame f;
  cf_frame_init(&f, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, NULL, 0);
  f.framing = 2;
  return refused_hello(ctx, &h, &f, HO_REFUSE_VERSION_UNSUPPORTED, NULL);
}

static int oversize(cf_ctx *ctx) {
  /* Only the header: a broker that waits for (reads) the body never answers. */
  uint8_t hdr[5] = {1, 0x01, 0x00, 0x01, 0x00}; /* 65537 */
  return refused_bytes(ctx, hdr, sizeof hdr, HO_REFUSE_PEER_REJECTED, "initial Hello frame exceeds 64 KiB");
}

static int at_cap(cf_ctx *ctx) {
  /* A valid Hello padded with an unknown field to exactly 64 KiB of body. */
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  uint8_t payload[256];
  size_t plen = 0;
  if (ho_hello_encode(HO_CODEC_PROTOBUF_C, &h, payload, sizeof payload, &plen) != HO_OK) return cf_error(ctx, "encode");
  cf_frame f;
  cf_frame_init(&f, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, payload, plen);
  cf_buf env = {0}, pad = {0};
  if (cf_frame_build(&f, &env) != 0) return cf_error(ctx, "encode");
  /* Field 16 of Frame (unknown): key 2 bytes, a 3-byte length, filler. */
  size_t fill = 65536 - (env.len - 5) - 5;
  uint8_t *zero = calloc(1, fill);
  if (zero == NULL) return cf_buf_free(&env), cf_error(ctx, "out of memory");
  pb_key(&pad, 16, 2);
  pb_varint_wide(&pad, fill, 3);
  cf_buf_put(&pad, zero, fill);
  free(zero);
  f.extra = pad.p;
  f.extra_len = pad.len;
  cf_buf b = {0};
  int rc = cf_frame_build(&f, &b);
  cf_buf_free(&env);
  if (rc == 0 && b.len != 5 + 65536) rc = cf_error(ctx, "padding: body of %zu bytes", b.len - 5);
  cf_bf bf = CF_BF0;
  if (rc == 0) rc = cf_hc_open(ctx, &bf.hc);
  bf.hc.caps = HO_CAP_HANDLE_PASSING;
  if (rc == 0) rc = cf_hc_raw_hello(ctx, &bf.hc, b.p, b.len);
  if (rc == 0) rc = cf_hc_negotiated(ctx, &bf.hc, 2000);
  if (rc == 0 && bf.hc.reply.negotiated.handle_passed_token_len) rc = cf_bf_offer(ctx, &bf, 2000);
  if (rc == 0 && bf.offered) rc = cf_bf_accept(ctx, &bf, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &bf);
  cf_buf_free(&pad);
  cf_buf_free(&b);
  return rc;
}

/* The first `n` bytes of a valid Hello, then EOF (n 0: nothing at all). */
static int cut_hello(cf_ctx *ctx, size_t n) {
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  cf_buf b = {0};
  cf_hc hc = CF_HC0;
  int rc = cf_hello_frame(&h, NULL, &b) == 0 ? cf_hc_open(ctx, &hc) : cf_error(ctx, "encode");
  if (rc == 0 && n > 0) rc = cf_hc_raw_hello(ctx, &hc, b.p, n < b.len ? n : b.len - 1);
  if (rc == 0) shutdown(hc.fd, SHUT_WR);
  if (rc == 0) rc = cf_hc_closed_silently(ctx, &hc, 1000, NULL);
  if (rc == 0) rc = cf_bk_no_offer(ctx, 50, "ERR-12", "no token is issued for a truncated Hello");
  cf_hc_close(ctx, &hc);
  cf_buf_free(&b);
  return rc;
}

static int truncated(cf_ctx *ctx) { return cut_hello(ctx, 12); }
static int eof_before_byte(cf_ctx *ctx) { return cut_hello(ctx, 0); }

/* Nothing, or a Hello trickled a byte at a time: the broker must close by
 * HELLO_TIMEOUT after it accepted, whatever arrives meanwhile. */
static int hello_deadline(cf_ctx *ctx, bool trickle) {
  long t = cf_const(ctx->o, CF_K_HELLO_TIMEOUT_MS);
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  cf_buf b = {0};
  cf_hc hc = CF_HC0;
  int rc = cf_hello_frame(&h, NULL, &b) == 0 ? cf_hc_open(ctx, &hc) : cf_error(ctx, "encode");
  uint64_t t0 = cf_now_ms(), end = t0 + (uint64_t)t + 1000;
  size_t sent = 0;
  int e = 0;
  /* Trickled so that the Hello is still incomplete when the wait ends: a
   * deadline restarted by every byte never fires in time. */
  int pause = b.len > 2 ? (int)((t + 1000) / (long)(b.len - 2)) : 50;
  while (rc == 0 && e == 0 && cf_now_ms() < end) {
    if (trickle && sent + 1 < b.len && cf_hc_write(ctx, &hc, b.p + sent, 1) == 0) sent++;
    e = cf_hc_wait_end(ctx, &hc, trickle ? pause : (int)t);
  }
  long took = (long)(cf_now_ms() - t0);
  cf_trace_note(ctx, "client#%d: %zu Hello bytes sent; the broker %s after %ld ms", hc.id, sent,
                e == 1 ? "closed" : e == 2 ? "wrote" : "did nothing", took);
  if (rc == 0 && e != 1)
    rc = (e == 0 ? cf_fail_wait : cf_fail)(ctx, NULL, "the broker closes without a reply HELLO_TIMEOUT after accepting",
                                           "client#%d: %s %ld ms after connecting (declared hello_timeout_ms %ld)",
                                           hc.id, e == 0 ? "still open" : "bytes from the broker", took, t);
  cf_hc_close(ctx, &hc);
  cf_buf_free(&b);
  return rc;
}

static int silent(cf_ctx *ctx) { return hello_deadline(ctx, false); }
static int slowloris(cf_ctx *ctx) { return hello_deadline(ctx, true); }

static int envelope_version(cf_ctx *ctx) {
  return env_defect(ctx, 2, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, 0, "ENVELOPE_VERSION");
}
static int unknown_kind(cf_ctx *ctx) { return env_defect(ctx, 1, 9, HO_PAYLOAD_HELLO, 0, "UNKNOWN_KIND"); }

static int wrong_kind(cf_ctx *ctx) {
  const uint32_t kinds[] = {HO_KIND_RESPONSE, HO_KIND_EVENT, HO_KIND_CANCEL};
  for (size_t i = 0; i < 3; i++)
    if (env_defect(ctx, 1, kinds[i], HO_PAYLOAD_HELLO, 0, "WRONG_KIND") != 0) return -1;
  return 0;
}

static int payload_protocol(cf_ctx *ctx) {
  return env_defect(ctx, 1, HO_KIND_REQUEST, HO_PAYLOAD_HANDOFF, 0, "PAYLOAD_PROTOCOL");
}
static int unknown_encoding(cf_ctx *ctx) {
  return env_defect(ctx, 1, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, 7, "UNKNOWN_ENCODING");
}

static int compressed(cf_ctx *ctx) {
  for (uint32_t e = HO_ENCODING_ZSTD; e <= HO_ENCODING_LZ4; e++)
    if (env_defect(ctx, 1, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, e, "PAYLOAD_COMPRESSED") != 0) return -1;
  return 0;
}

static int envelope_malformed(cf_ctx *ctx) {
  static const uint8_t b[] = {1, 3, 0, 0, 0, 0x22, 0x7f, 0x00}; /* payload's length runs past the end */
  return refused_bytes(ctx, b, sizeof b, HO_REFUSE_PEER_REJECTED, "MALFORMED");
}

static int payload_malformed(cf_ctx *ctx) {
  cf_buf p = {0};
  static const uint8_t junk[] = {0x1a, 0x40, 'e', 'c', 'h', 'o'}; /* service_name runs past the end */
  cf_buf_put(&p, junk, sizeof junk);
  int rc = refused_payload(ctx, &p, HO_REFUSE_PEER_REJECTED, "MALFORMED");
  cf_buf_free(&p);
  return rc;
}

static int payload_wire_type(cf_ctx *ctx) {
  cf_buf p = {0};
  pb_uint(&p, 1, 1);
  pb_uint(&p, 2, 1);
  pb_uint(&p, 3, 7); /* service_name as a varint */
  int rc = refused_payload(ctx, &p, HO_REFUSE_PEER_REJECTED, "WIRE_TYPE");
  cf_buf_free(&p);
  return rc;
}

static int string_too_long(cf_ctx *ctx) {
  char v[130];
  memset(v, 'v', sizeof v);
  cf_buf p = {0};
  pb_uint(&p, 1, 1);
  pb_uint(&p, 2, 1);
  pb_bytes(&p, 3, ctx->o->service, strlen(ctx->o->service));
  pb_bytes(&p, 5, v, 129); /* client_version: cap 128 */
  int rc = refused_payload(ctx, &p, HO_REFUSE_PEER_REJECTED, "STRING_TOO_LONG");
  cf_buf_free(&p);
  return rc;
}

static int string_invalid(cf_ctx *ctx) {
  static const uint8_t bad[2][4] = {{'v', 0xff, 0xfe, '1'}, {'v', 0x00, '1', '2'}}; /* not UTF-8; NUL */
  for (int i = 0; i < 2; i++) {
    cf_buf p = {0};
    pb_uint(&p, 1, 1);
    pb_uint(&p, 2, 1);
    pb_bytes(&p, 3, ctx->o->service, strlen(ctx->o->service));
    pb_bytes(&p, 5, bad[i], 4);
    int rc = refused_payload(ctx, &p, HO_REFUSE_PEER_REJECTED, "STRING_INVALID");
    cf_buf_free(&p);
    if (rc != 0) return -1;
  }
  return 0;
}

static int protocol_range(cf_ctx *ctx) {
  const uint32_t r[2][2] = {{2, 3}, {0, 0}};
  for (int i = 0; i < 2; i++) {
    ho_hello h;
    cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
    h.client_min_protocol = r[i][0];
    h.client_max_protocol = r[i][1];
    if (refused_hello(ctx, &h, NULL, HO_REFUSE_VERSION_UNSUPPORTED, "PROTOCOL_UNSUPPORTED") != 0) return -1;
  }
  return 0;
}

static int service_syntax(cf_ctx *ctx) {
  const char *bad[] = {"Echo", "echo_service", "echo.1", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ho_hello h;
    cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
    snprintf(h.service_name, sizeof h.service_name, "%s", bad[i]);
    if (refused_hello(ctx, &h, NULL, HO_REFUSE_PEER_REJECTED, "SERVICE_NAME") != 0) return -1;
  }
  return 0;
}

static int version_syntax(cf_ctx *ctx) {
  const char *bad[] = {"1.0", "01.2.3", "1.2.3-", "v1.2.3"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ho_hello h;
    cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
    snprintf(h.wanted_version, sizeof h.wanted_version, "%s", bad[i]);
    if (refused_hello(ctx, &h, NULL, HO_REFUSE_PEER_REJECTED, "VERSION_SYNTAX") != 0) return -1;
  }
  return 0;
}

static int peer_pid(cf_ctx *ctx) {
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  h.peer_pid = (uint32_t)getpid() + 1;
  if (refused_hello(ctx, &h, NULL, HO_REFUSE_PEER_REJECTED, "PEER_REJECTED") != 0) return -1;
  h.peer_pid = (uint32_t)getpid(); /* the true pid: accepted */
  cf_bf f = CF_BF0;
  int rc = cf_bf_start_hello(ctx, &f, &h, CF_BF_EARLY);
  if (rc == 0 && f.offered) rc = cf_bf_accept(ctx, &f, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &f);
  return rc;
}

static int unknown_service(cf_ctx *ctx) {
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  snprintf(h.service_name, sizeof h.service_name, "no-such-service-%s", strcmp(ctx->o->service, "x") ? "x" : "y");
  return refused_hello(ctx, &h, NULL, HO_REFUSE_SERVICE_UNKNOWN, NULL);
}

static int check_order(cf_ctx *ctx) {
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING);
  h.client_min_protocol = h.client_max_protocol = 2;
  snprintf(h.service_name, sizeof h.service_name, "Bad_Name");
  snprintf(h.wanted_version, sizeof h.wanted_version, "1.0");
  h.peer_pid = (uint32_t)getpid() + 1;
  /* Step 5 before 6, 7, 8 ... */
  if (refused_hello(ctx, &h, NULL, HO_REFUSE_VERSION_UNSUPPORTED, "PROTOCOL_UNSUPPORTED") != 0) return -1;
  h.client_min_protocol = h.client_max_protocol = 1; /* ... then 6 before 7 and 8 ... */
  if (refused_hello(ctx, &h, NULL, HO_REFUSE_PEER_REJECTED, "SERVICE_NAME") != 0) return -1;
  snprintf(h.service_name, sizeof h.service_name, "no-such-service"); /* ... 7 before 8 and 11 ... */
  if (refused_hello(ctx, &h, NULL, HO_REFUSE_PEER_REJECTED, "VERSION_SYNTAX") != 0) return -1;
  h.wanted_version[0] = '\0'; /* ... 8 before 11 */
  if (refused_hello(ctx, &h, NULL, HO_REFUSE_PEER_REJECTED, "PEER_REJECTED") != 0) return -1;
  /* The envelope (step 4, ENV-4) before the payload's own checks. */
  cf_frame f;
  cf_frame_init(&f, HO_KIND_EVENT, HO_PAYLOAD_HELLO, NULL, 0);
  return refused_hello(ctx, &h, &f, HO_REFUSE_PEER_REJECTED, "WRONG_KIND");
}

static int ignored_fields(cf_ctx *ctx) {
  /* Reserved and informational fields, an unknown field, unknown
   * capability bits, a trace context: none changes the outcome. */
  ho_hello h;
  cf_hello_init(ctx, &h, HO_CAP_HANDLE_PASSING | (UINT64_C(1) << 11) | (UINT64_C(1) << 40));
  memcpy(h.auth_token.data, "delegation", 10);
  h.auth_token.len = 10;
  memcpy(h.peer_attestation_nonce.data, "nonce", 5);
  h.peer_attestation_nonce.len = 5;
  memcpy(h.capability_token.data, "cap", 3);
  h.capability_token.len = 3;
  snprintf(h.client_version, sizeof h.client_version, "9.9.9-conform");
  snprintf(h.request_id, sizeof h.request_id, "req-1");
  h.connection_id = 77;
  snprintf(h.client_lib_name, sizeof h.client_lib_name, "handoff-conform");
  snprintf(h.client_lib_version, sizeof h.client_lib_version, "%s", CF_SUITE_VERSION);
  h.client_keepalive_secs = 600;
  uint8_t payload[2048];
  size_t plen = 0;
  if (ho_hello_encode(HO_CODEC_PROTOBUF_C, &h, payload, sizeof payload, &plen) != HO_OK) return cf_error(ctx, "encode");
  cf_buf p = {0}, b = {0};
  cf_buf_put(&p, payload, plen);
  pb_uint(&p, 19, 5); /* a field number the Hello reserves: unknown, skipped (MSG-1) */
  cf_frame f;
  cf_frame_init(&f, HO_KIND_REQUEST, HO_PAYLOAD_HELLO, p.p, p.len);
  static const char tp[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  cf_buf e = {0};
  pb_bytes(&e, 8, tp, sizeof tp - 1);
  f.extra = e.p;
  f.extra_len = e.len;
  cf_bf bf = CF_BF0;
  int rc = cf_frame_build(&f, &b) == 0 ? cf_hc_open(ctx, &bf.hc) : cf_error(ctx, "encode");
  bf.hc.caps = h.client_capabilities;
  bf.hc.keepalive = 600;
  if (rc == 0) rc = cf_hc_raw_hello(ctx, &bf.hc, b.p, b.len);
  if (rc == 0) rc = cf_hc_negotiated(ctx, &bf.hc, 2000);
  if (rc == 0 && bf.hc.reply.negotiated.handle_passed_token_len == 0)
    rc = cf_fail(ctx, NULL, "a handoff as for any Hello with CAP_HANDLE_PASSING", "a Negotiated without token");
  if (rc == 0) rc = cf_bf_offer(ctx, &bf, 2000);
  if (rc == 0) rc = cf_bf_accept(ctx, &bf, CF_BK_CAPS_MULTI);
  cf_bf_end(ctx, &bf);
  cf_buf_free(&p);
  cf_buf_free(&b);
  cf_buf_free(&e);
  return rc;
}

static int no_handle_passing(cf_ctx *ctx) {
  /* A client that does not opt in, with bytes behind its Hello. */
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, 0, CF_BF_EARLY);
  if (rc == 0 && f.offered) rc = cf_fail(ctx, "TOKEN-2", "no token without CAP_HANDLE_PASSING", "an offer was sent");
  if (rc == 0) rc = cf_bf_no_token(ctx, &f, "FALLBACK-4");
  cf_bf_end(ctx, &f);
  return rc;
}

static int rate_limit(cf_ctx *ctx) {
  long rate = cf_const(ctx->o, CF_K_HELLO_RATE);
  if (rate <= 0) return cf_skip(ctx, "hello_rate is 0: the broker declares no Hello limit");
  /* Hellos without CAP_HANDLE_PASSING, as fast as possible. */
  ho_hello h;
  cf_hello_init(ctx, &h, 0);
  cf_buf b = {0};
  if (cf_hello_frame(&h, NULL, &b) != 0) return cf_error(ctx, "encode");
  /* spec/conformance.md §4: HELLO-14 leaves the window's form open; a
   * window aligned to clock seconds admits up to 2 x rate in a burst that
   * straddles a second, so send up to 2 x rate + 1 within 0.9 s, starting
   * from a second in which the runner sent nothing. */
  cf_sleep_ms(1100);
  const long most = 2 * rate + 1;
  int limited = 0, rc = 0;
  long sent = 0;
  uint64_t t0 = cf_now_ms();
  for (long i = 0; i < most && rc == 0 && limited == 0 && cf_now_ms() - t0 < 900; i++, sent++) {
    cf_hc hc = CF_HC0;
    rc = cf_hc_open(ctx, &hc);
    if (rc == 0 && cf_hc_write(ctx, &hc, b.p, b.len) != 0) rc = cf_error(ctx, "write Hello");
    int r = rc == 0 ? cf_hc_reply(ctx, &hc, 2000) : -1;
    if (r == HO_REPLY_REFUSED) {
      const ho_refused *f = &hc.reply.refused;
      if (f->code != HO_REFUSE_RATE_LIMITED || f->retry_after_ms == 0 || strcmp(f->reason, "RATE_LIMITED") != 0)
        rc = cf_fail(ctx, "HELLO-14 HELLO-8", "Refused{ERROR_RATE_LIMITED, reason RATE_LIMITED, retry_after_ms > 0}",
                     "Hello #%ld: Refused{code %u, reason \"%.80s\", retry_after_ms %llu}", i + 1, f->code, f->reason,
                     (unsigned long long)f->retry_after_ms);
      limited = (int)i + 1;
    } else if (r < 0) {
      rc = -1;
    }
    cf_hc_close(ctx, &hc);
  }
  cf_buf_free(&b);
  if (rc == 0 && limited == 0 && sent < most)
    rc = cf_skip(ctx, "only %ld Hellos answered within 0.9 s; showing a limit of %ld per second needs %ld", sent, rate,
                 most);
  else if (rc == 0 && limited == 0)
    rc = cf_fail(ctx, NULL, "more Hellos per second than the declared hello_rate are refused with ERROR_RATE_LIMITED",
                 "%ld Hellos from one process within %llu ms were all answered", sent,
                 (unsigned long long)(cf_now_ms() - t0));
  if (rc == 0 && limited <= rate / 2)
    rc = cf_fail(ctx, NULL, "the limit applies above the declared rate", "Hello #%d was already refused (rate %ld)",
                 limited, rate);
  cf_sleep_ms(1100); /* the post-case probe must not be limited */
  return rc;
}

static const cf_case cases[] = {
    {.id = "broker.hello.framing-version", .spec = "spec: ERR-10 HELLO-4 HELLO-8 HELLO-10 FRAME-2",
     .does = "a Hello whose framing byte is 2", .expect = "Refused{ERROR_VERSION_UNSUPPORTED, 1..1}, then close",
     .run = framing_version},
    {.id = "broker.hello.oversize", .spec = "spec: ERR-11 HELLO-5 FRAME-3 FRAME-5",
     .does = "a Hello header announcing 65537 bytes, and no body",
     .expect = "at once Refused{ERROR_PEER_REJECTED, \"initial Hello frame exceeds 64 KiB\"} without waiting for the body",
     .run = oversize},
    {.id = "broker.hello.at-cap", .spec = "spec: FRAME-3 FRAME-5 MSG-1",
     .does = "a valid Hello padded with an unknown field to a body of exactly 64 KiB",
     .expect = "accepted like any Hello: Negotiated and a handoff", .run = at_cap},
    {.id = "broker.hello.truncated", .spec = "spec: ERR-12 FRAME-4",
     .does = "12 bytes of a Hello, then EOF", .expect = "closed without a reply, no token, no offer", .run = truncated},
    {.id = "broker.hello.eof-before-byte", .spec = "spec: ERR-13 FRAME-9",
     .does = "connects and closes its side at once", .expect = "closed without a reply", .run = eof_before_byte},
    {.id = "broker.hello.silent", .spec = "spec: BROKER-2 ERR-13 BROKER-1", .consts = CF_K_BIT(CF_K_HELLO_TIMEOUT_MS),
     .does = "connects and sends nothing", .expect = "closed without a reply within the declared hello_timeout_ms (+1 s)",
     .run = silent},
    {.id = "broker.hello.slowloris", .spec = "spec: BROKER-2 BROKER-1 ERR-13", .consts = CF_K_BIT(CF_K_HELLO_TIMEOUT_MS),
     .does = "trickles a Hello one byte at a time, never complete within hello_timeout_ms + 1 s",
     .expect = "closed without a reply HELLO_TIMEOUT after the connection was accepted, not after the last byte",
     .run = slowloris},
    {.id = "broker.hello.envelope-version", .spec = "spec: ERR-14 ENV-4 HELLO-3 HELLO-8",
     .does = "envelope_version 2", .expect = "Refused{ERROR_PEER_REJECTED, ENVELOPE_VERSION}", .run = envelope_version},
    {.id = "broker.hello.unknown-kind", .spec = "spec: ERR-14 ENV-4", .does = "kind 9",
     .expect = "Refused{ERROR_PEER_REJECTED, UNKNOWN_KIND}", .run = unknown_kind},
    {.id = "broker.hello.wrong-kind", .spec = "spec: ERR-14 ENV-4", .does = "kind RESPONSE, EVENT, CANCEL",
     .expect = "Refused{ERROR_PEER_REJECTED, WRONG_KIND} each time", .run = wrong_kind},
    {.id = "broker.hello.payload-protocol", .spec = "spec: ERR-14 ENV-4",
     .does = "payload protocol 0xD0FF (an offer sent to the broker)",
     .expect = "Refused{ERROR_PEER_REJECTED, PAYLOAD_PROTOCOL}", .run = payload_protocol},
    {.id = "broker.hello.unknown-encoding", .spec = "spec: ERR-14 ENV-4 ENV-5", .does = "payload_encoding 7",
     .expect = "Refused{ERROR_PEER_REJECTED, UNKNOWN_ENCODING}", .run = unknown_encoding},
    {.id = "broker.hello.compressed", .spec = "spec: ERR-14 ENV-5", .does = "payload_encoding ZSTD, SNAPPY, LZ4",
     .expect = "Refused{ERROR_PEER_REJECTED, PAYLOAD_COMPRESSED} each time", .run = compressed},
    {.id = "broker.hello.envelope-malformed", .spec = "spec: ERR-15 ENV-4 MSG-10",
     .does = "a Frame body that is not valid protobuf", .expect = "Refused{ERROR_PEER_REJECTED, MALFORMED}",
     .run = envelope_malformed},
    {.id = "broker.hello.payload-malformed", .spec = "spec: ERR-15 MSG-10",
     .does = "a Hello payload whose service_name runs past its end", .expect = "Refused{ERROR_PEER_REJECTED, MALFORMED}",
     .run = payload_malformed},
    {.id = "broker.hello.wire-type", .spec = "spec: ERR-15 MSG-5", .does = "service_name encoded as a varint",
     .expect = "Refused{ERROR_PEER_REJECTED, WIRE_TYPE}", .run = payload_wire_type},
    {.id = "broker.hello.string-too-long", .spec = "spec: ERR-15 MSG-6", .does = "client_version of 129 bytes",
     .expect = "Refused{ERROR_PEER_REJECTED, STRING_TOO_LONG}", .run = string_too_long},
    {.id = "broker.hello.string-invalid", .spec = "spec: ERR-15 MSG-7",
     .does = "client_version with invalid UTF-8, then with a NUL byte",
     .expect = "Refused{ERROR_PEER_REJECTED, STRING_INVALID} each time", .run = string_invalid},
    {.id = "broker.hello.protocol-range", .spec = "spec: HELLO-3 HELLO-8", .does = "protocol ranges 2..3 and 0..0",
     .expect = "Refused{ERROR_VERSION_UNSUPPORTED, PROTOCOL_UNSUPPORTED}", .run = protocol_range},
    {.id = "broker.hello.service-syntax", .spec = "spec: HELLO-6 HELLO-3",
     .does = "service names \"Echo\", \"echo_service\", \"echo.1\", \"\"",
     .expect = "Refused{ERROR_PEER_REJECTED, SERVICE_NAME} each time", .run = service_syntax},
    {.id = "broker.hello.version-syntax", .spec = "spec: HELLO-7 HELLO-3",
     .does = "wanted_version \"1.0\", \"01.2.3\", \"1.2.3-\", \"v1.2.3\"",
     .expect = "Refused{ERROR_PEER_REJECTED, VERSION_SYNTAX} each time", .run = version_syntax},
    {.id = "broker.hello.peer-pid", .spec = "spec: SEC-3 HELLO-3",
     .does = "peer_pid another process's; then the runner's own",
     .expect = "Refused{ERROR_PEER_REJECTED, PEER_REJECTED}; then a Negotiated and a handoff", .run = peer_pid},
    {.id = "broker.hello.unknown-service", .spec = "spec: HELLO-3 HELLO-8 HELLO-10",
     .does = "a service the broker does not serve", .expect = "Refused{ERROR_SERVICE_UNKNOWN}", .run = unknown_service},
    {.id = "broker.hello.check-order", .spec = "spec: HELLO-3 ENV-4",
     .does = "Hellos with several defects at once, removing the first each time",
     .expect = "the first failing step of the table decides: PROTOCOL_UNSUPPORTED, SERVICE_NAME, VERSION_SYNTAX, "
               "PEER_REJECTED; an envelope defect before any of them",
     .run = check_order},
    {.id = "broker.hello.ignored-fields", .spec = "spec: HELLO-12 MSG-1 CAP-1 CAP-3 ENV-10 HELLO-9",
     .does = "auth_token, nonces, capability_token, versions, ids, lib names, an unknown field, unknown capability "
             "bits, a traceparent, client_keepalive_secs 600",
     .expect = "a Negotiated with a token (keepalive 600, no unknown bit echoed) and a handoff", .run = ignored_fields},
    {.id = "broker.hello.no-handle-passing", .spec = "spec: TOKEN-2 FALLBACK-3 FALLBACK-4 ERR-16 CAP-3",
     .does = "a Hello without CAP_HANDLE_PASSING, with bytes behind it",
     .expect = "Negotiated without token, closed without reading the bytes (the client sees a reset), no offer",
     .run = no_handle_passing},
    {.id = "broker.hello.rate-limit", .spec = "spec: HELLO-14 HELLO-8",
     .does = "up to 2 x hello_rate + 1 Hellos within 0.9 s, from a quiet second",
     .expect = "the excess is refused with ERROR_RATE_LIMITED, reason RATE_LIMITED and a retry_after_ms",
     .run = rate_limit},
};
CF_TABLE(cf_cases_bhello, cases);
