/* handoff-conform — cases: the offer frame — framing, envelope, payload;
 * what must close the control connection without an ACK (XFER-11) and
 * what must be ignored (ERR-43). */
#include "cases.h"

typedef void (*mutate_fn)(cf_ctx *ctx, cf_offer *o);

static int violation_with(cf_ctx *ctx, mutate_fn m, const char *reqs) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  m(ctx, &h.offer);
  int rc = cf_run_violation(ctx, &h, reqs);
  cf_ho_free(ctx, &h);
  return rc;
}

static int accept_with(cf_ctx *ctx, mutate_fn m) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  m(ctx, &h.offer);
  int rc = cf_run_accept(ctx, &h);
  cf_ho_free(ctx, &h);
  return rc;
}

#define VIOLATION(fn, reqs, body)                                            \
  static void fn##_m(cf_ctx *ctx, cf_offer *o) { (void)ctx; body; }       \
  static int fn(cf_ctx *ctx) { return violation_with(ctx, fn##_m, reqs); }
#define ACCEPTED(fn, body)                                                   \
  static void fn##_m(cf_ctx *ctx, cf_offer *o) { (void)ctx; body; }       \
  static int fn(cf_ctx *ctx) { return accept_with(ctx, fn##_m); }

/* ---- framing --------------------------------------------------------------- */
VIOLATION(framing_0, "ERR-35 FRAME-2 XFER-11", o->framing = 0)
VIOLATION(framing_2, "ERR-35 FRAME-2 XFER-11", o->framing = 2)
VIOLATION(over_16m, "FRAME-3 ERR-35", (o->announce_set = true, o->announce = 16u * 1024 * 1024 + 1))
VIOLATION(empty_body, "ERR-36 ENV-4", (o->announce_set = true, o->announce = 0))
ACCEPTED(exactly_64k, o->body_exact = 65536)

/* ---- envelope -------------------------------------------------------------- */
VIOLATION(kind_response, "ERR-36 ENV-4", o->kind = HO_KIND_RESPONSE)
VIOLATION(kind_event, "ERR-36 ENV-4", o->kind = HO_KIND_EVENT)
VIOLATION(kind_cancel, "ERR-36 ENV-4", o->kind = HO_KIND_CANCEL)
VIOLATION(kind_unknown, "ERR-36 ENV-4", o->kind = 9)
VIOLATION(env_version_0, "ERR-36 ENV-4", o->env_version = 0)
VIOLATION(env_version_2, "ERR-36 ENV-4", o->env_version = 2)
VIOLATION(protocol_hello, "ERR-36 ENV-4", o->protocol = HO_PAYLOAD_HELLO)
VIOLATION(protocol_admin, "ERR-36 ENV-4", o->protocol = HO_PAYLOAD_ADMIN)
VIOLATION(zstd, "ERR-36 ENV-5", o->encoding = HO_ENCODING_ZSTD)
VIOLATION(lz4, "ERR-36 ENV-5", o->encoding = HO_ENCODING_LZ4)
VIOLATION(encoding_unknown, "ERR-36 ENV-5", o->encoding = 7)
VIOLATION(traceparent_long, "ERR-37 MSG-6", memset(o->traceparent, 'a', 129))
VIOLATION(request_id_mismatch, "ERR-47 ENV-7 XFER-11", o->request_id = o->corr + 1)
VIOLATION(correlation_zero, "ERR-47 XFER-13", (o->corr = 0, o->request_id = 0))
ACCEPTED(env_unknown_fields, {
  cf_buf b = {0};
  pb_uint(&b, 16, 12345);                       /* first number free in Frame */
  pb_bytes(&b, 99, "future", 6);                /* length-delimited */
  pb_key(&b, 10, 5);                            /* reserved range, fixed32 */
  cf_buf_put(&b, "\x01\x02\x03\x04", 4);
  pb_key(&b, 12, 1);                            /* reserved range, fixed64 */
  cf_buf_put(&b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  memcpy(o->env_extra, b.p, b.len);
  o->env_extra_len = b.len;
  cf_buf_free(&b);
})
ACCEPTED(traceparent_set,
         snprintf(o->traceparent, sizeof o->traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))

/* ---- payload ---------------------------------------------------------------- */
VIOLATION(token_15, "ERR-37 MSG-8", o->token_len = 15)
VIOLATION(token_17, "ERR-37 MSG-8", (o->token[16] = 0xAB, o->token_len = 17))
VIOLATION(token_absent, "ERR-37 MSG-8", o->token_omit = true)
VIOLATION(service_65, "ERR-37 MSG-6", (memset(o->service, 'a', 65), o->service_len = 65))
VIOLATION(service_utf8, "ERR-37 MSG-7", (memcpy(o->service, "ec\xff\xfeho", 6), o->service_len = 6))
VIOLATION(service_nul, "ERR-37 MSG-7", (memcpy(o->service, "ec\0ho", 5), o->service_len = 5))
VIOLATION(payload_truncated, "ERR-37 MSG-10", {
  /* A valid payload cut inside the token: the length runs past the end. */
  static uint8_t raw[64];
  raw[0] = 0x12;
  raw[1] = 0x10;
  memcpy(raw + 2, o->token, 9);
  o->payload_raw = raw;
  o->payload_raw_len = 11;
})
VIOLATION(wire_type, "ERR-37 MSG-5", {
  /* correlation_id (a varint field) as length-delimited, then the rest. */
  cf_buf b = {0};
  pb_bytes(&b, 4, "\x07", 1);
  memcpy(o->payload_pre, b.p, b.len);
  o->payload_pre_len = b.len;
  cf_buf_free(&b);
})
VIOLATION(group_wire_type, "ERR-37 MSG-10", {
  cf_buf b = {0};
  pb_key(&b, 5, 3); /* start group, in the reserved range */
  pb_key(&b, 5, 4);
  memcpy(o->payload_extra, b.p, b.len);
  o->payload_extra_len = b.len;
  cf_buf_free(&b);
})
ACCEPTED(prefix_0800, o->prefix_0800 = true)
ACCEPTED(nonminimal_varint, o->varint_width = 10)
ACCEPTED(token_repeated, {
  /* An earlier occurrence with other bytes: the last one wins (MSG-2). */
  uint8_t other[16];
  memcpy(other, o->token, 16);
  other[0] ^= 0xFF;
  cf_buf b = {0};
  pb_bytes(&b, 2, other, 16);
  memcpy(o->payload_pre, b.p, b.len);
  o->payload_pre_len = b.len;
  cf_buf_free(&b);
})
ACCEPTED(payload_unknown_fields, {
  cf_buf b = {0};
  pb_uint(&b, 14, 1);                          /* next free number (12, 13: rc2) */
  pb_bytes(&b, 5, "reserved", 8);              /* reserved by the original */
  pb_key(&b, 100, 1);
  cf_buf_put(&b, "\x00\x01\x02\x03\x04\x05\x06\x07", 8);
  pb_key(&b, 7, 5);
  cf_buf_put(&b, "\x00\x01\x02\x03", 4);
  memcpy(o->payload_extra, b.p, b.len);
  o->payload_extra_len = b.len;
  cf_buf_free(&b);
})
ACCEPTED(unknown_offer_flags, o->flags |= (UINT64_C(1) << 5) | (UINT64_C(1) << 63))
ACCEPTED(handle_value, o->handle_value = 0x1234)
ACCEPTED(service_empty, o->service_len = 0)

/* spec: BACKEND-11 FRAME-3 — a complete, otherwise valid offer of 64 KiB + 1:
 * a backend with a larger local cap would read and accept it. */
static int over_64k(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.offer.body_exact = 65537;
  cf_ho_probe(ctx, &h);
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  ctx->tolerate_close = true; /* it may close before the body is all written */
  if (rc == 0) rc = cf_ho_send(ctx, &c, &h);
  ctx->tolerate_close = false;
  if (rc > 0) rc = 0;
  if (rc == 0) rc = cf_expect_violation(ctx, &c, &h, CF_CLOSE_WAIT_MS, "BACKEND-11 FRAME-3 ERR-35");
  cf_ctl_close(ctx, &c);
  cf_ho_free(ctx, &h);
  return rc;
}

static int service_other(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  memcpy(h.offer.service, "not-this-service", 16);
  h.offer.service_len = 16;
  int rc = cf_run_refuse(ctx, &h, "SERVICE_NAME");
  cf_ho_free(ctx, &h);
  return rc;
}

#define V(id_, spec_, fn_, does_)                                                                \
  {.id = "backend.offer." id_, .spec = spec_, .does = does_,                                     \
   .expect = "no ACK: the control connection and the descriptor are closed (XFER-11); the SUT "  \
             "serves the next handoff",                                                          \
   .run = fn_}
#define A(id_, spec_, fn_, does_)                                                                \
  {.id = "backend.offer." id_, .spec = spec_, .does = does_,                                     \
   .expect = "accepted and served: the input is valid (ignored where the spec says so)", .run = fn_}

static const cf_case cases[] = {
    V("framing-version-0", "spec: ERR-35 FRAME-2 XFER-11 BACKEND-4", framing_0, "offer frame whose first byte is 0x00"),
    V("framing-version-2", "spec: ERR-35 FRAME-2 XFER-11 FRAME-10", framing_2, "offer frame whose first byte is 0x02"),
    V("over-64k", "spec: BACKEND-11 FRAME-3 FRAME-8 ERR-35", over_64k,
      "a complete, otherwise valid offer whose body is 65 537 bytes"),
    V("over-16m", "spec: FRAME-3 ERR-35", over_16m, "an offer header announcing 16 MiB + 1, and no body"),
    V("empty-body", "spec: ERR-36 ENV-4", empty_body, "an offer frame of length 0 (ENVELOPE_VERSION)"),
    A("exactly-64k", "spec: BACKEND-11 FRAME-8 MSG-1", exactly_64k,
      "an offer whose body is exactly 65 536 bytes (padded with an unknown field)"),
    V("kind-response", "spec: ERR-36 ENV-4", kind_response, "offer with kind RESPONSE (WRONG_KIND)"),
    V("kind-event", "spec: ERR-36 ENV-4", kind_event, "offer with kind EVENT (WRONG_KIND)"),
    V("kind-cancel", "spec: ERR-36 ENV-4", kind_cancel, "offer with kind CANCEL (WRONG_KIND)"),
    V("kind-unknown", "spec: ERR-36 ENV-4", kind_unknown, "offer with kind 9 (UNKNOWN_KIND)"),
    V("envelope-version-0", "spec: ERR-36 ENV-4", env_version_0, "envelope_version 0 (ENVELOPE_VERSION)"),
    V("envelope-version-2", "spec: ERR-36 ENV-4", env_version_2, "envelope_version 2 (ENVELOPE_VERSION)"),
    V("payload-protocol-hello", "spec: ERR-36 ENV-4", protocol_hello, "payload_protocol 0x0000 (PAYLOAD_PROTOCOL)"),
    V("payload-protocol-admin", "spec: ERR-36 ENV-4", protocol_admin, "payload_protocol 0xAD01 (PAYLOAD_PROTOCOL)"),
    V("compressed-zstd", "spec: ERR-36 ENV-5", zstd, "payload_encoding ZSTD (PAYLOAD_COMPRESSED)"),
    V("compressed-lz4", "spec: ERR-36 ENV-5", lz4, "payload_encoding LZ4 (PAYLOAD_COMPRESSED)"),
    V("encoding-unknown", "spec: ERR-36 ENV-5", encoding_unknown, "payload_encoding 7 (UNKNOWN_ENCODING)"),
    V("traceparent-too-long", "spec: ERR-37 MSG-6", traceparent_long, "a traceparent of 129 bytes (STRING_TOO_LONG)"),
    V("request-id-mismatch", "spec: ERR-47 ENV-7 XFER-11", request_id_mismatch,
      "request_id = correlation_id + 1 (REQUEST_ID_MISMATCH)"),
    V("correlation-zero", "spec: ERR-47 XFER-13", correlation_zero,
      "correlation_id 0 and request_id 0 (CORRELATION_MISMATCH)"),
    A("envelope-unknown-fields", "spec: MSG-1 ERR-43", env_unknown_fields,
      "unknown envelope fields: 16 (varint), 99 (bytes), reserved 10 (fixed32) and 12 (fixed64)"),
    A("traceparent", "spec: ENV-10 ENV-3", traceparent_set, "a valid W3C traceparent in the envelope"),
    V("token-15", "spec: ERR-37 MSG-8", token_15, "a 15-byte token (TOKEN_LENGTH)"),
    V("token-17", "spec: ERR-37 MSG-8", token_17, "a 17-byte token (TOKEN_LENGTH)"),
    V("token-absent", "spec: ERR-37 MSG-8", token_absent, "no token field (TOKEN_LENGTH)"),
    V("service-too-long", "spec: ERR-37 MSG-6", service_65, "a 65-byte service_name (STRING_TOO_LONG)"),
    V("service-not-utf8", "spec: ERR-37 MSG-7", service_utf8, "a service_name with bytes ff fe (STRING_INVALID)"),
    V("service-nul", "spec: ERR-37 MSG-7", service_nul, "a service_name containing 00 (STRING_INVALID)"),
    V("payload-truncated", "spec: ERR-37 MSG-10", payload_truncated,
      "a payload whose token length runs past its end (MALFORMED)"),
    V("wire-type", "spec: ERR-37 MSG-5", wire_type, "correlation_id sent length-delimited (WIRE_TYPE)"),
    V("group-wire-type", "spec: ERR-37 MSG-10", group_wire_type, "a group (wire types 3/4) in the payload (MALFORMED)"),
    A("prefix-08-00", "spec: XFER-5 MSG-3 ERR-43", prefix_0800,
      "the explicit handle_value 0 (08 00) the original broker puts in front of every offer"),
    A("non-minimal-varint", "spec: MSG-4", nonminimal_varint, "correlation_id as a 10-byte varint"),
    A("token-repeated", "spec: MSG-2", token_repeated,
      "the token field twice: an earlier wrong one, then the one in the sideband"),
    A("payload-unknown-fields", "spec: MSG-1 ERR-43", payload_unknown_fields,
      "unknown payload fields: 14 (varint), reserved 5 (bytes), 100 (fixed64), 7 (fixed32)"),
    A("unknown-offer-flags", "spec: CAP-1 ERR-43", unknown_offer_flags, "offer_flags bits 5 and 63 set"),
    A("handle-value-nonzero", "spec: XFER-14 ERR-43", handle_value, "handle_value 0x1234 on Unix"),
    A("service-empty", "spec: XFER-14", service_empty, "an empty service_name"),
    {.id = "backend.offer.service-other",
     .spec = "spec: XFER-14",
     .needs = CF_F_SERVICE_CHECK,
     .does = "an offer for service \"not-this-service\"",
     .expect = "refused with SERVICE_NAME",
     .run = service_other},
};
CF_TABLE(cf_cases_offer, cases);
