/* handoff — typed v1 messages: the public codec API of msg.h.
 *
 * Every decode runs the shared pre-scanner first (scan.c) and only then the
 * selected generated codec, so both codecs accept the same inputs and
 * report the same first defect. spec: MSG-1 */
#include "handoff/msg.h"

#include <string.h>

#include "handoff/frame.h"
#include "wire/codec.h"

static int codec_ok(ho_codec c) { return HO_CODEC_OK(c); }

static int decode_mt(ho_codec codec, ho_mt mt, const ho_scan_schema *schema, const uint8_t *buf,
                     size_t len, void *out, size_t outsize) {
  if (!codec_ok(codec) || out == NULL || (buf == NULL && len > 0)) return HO_ERR_INVALID_ARGUMENT;
  ho_scan_result sr;
  int rc = ho_scan(schema, buf, len, &sr);
  if (rc != HO_OK) return rc; /* `out` untouched; spec: MSG-12 */
  memset(out, 0, outsize);
  if (codec == HO_CODEC_PROTOBUF_C) return ho_pbc_decode(mt, buf, len, &sr, out);
  return ho_npb_decode(mt, buf, len, &sr, out);
}

static int encode_mt(ho_codec codec, ho_mt mt, const void *msg, uint8_t *out, size_t cap,
                     size_t *len) {
  if (!codec_ok(codec) || msg == NULL || len == NULL || (out == NULL && cap > 0))
    return HO_ERR_INVALID_ARGUMENT;
  int rc = ho_msg_check(mt, msg); /* spec: MSG-13 */
  if (rc != HO_OK) return rc;
  size_t n = 0;
  /* Both generated encoders write fields in number order and omit proto3
   * defaults: the canonical encoding, byte-identical. spec: MSG-14 */
  rc = codec == HO_CODEC_PROTOBUF_C ? ho_pbc_encode(mt, msg, out, cap, &n)
                                    : ho_npb_encode(mt, msg, out, cap, &n);
  if (rc == HO_OK) *len = n;
  return rc;
}

/* ---- envelope ------------------------------------------------------- */

int ho_envelope_decode(ho_codec codec, const uint8_t *body, size_t len, ho_envelope *out) {
  return decode_mt(codec, HO_MT_ENVELOPE, &ho_schema_envelope, body, len, out, sizeof *out);
}

int ho_envelope_encode(ho_codec codec, const ho_envelope *env, uint8_t *out, size_t cap,
                       size_t *len) {
  return encode_mt(codec, HO_MT_ENVELOPE, env, out, cap, len);
}

int ho_envelope_validate(const ho_envelope *env, uint32_t expected_kind,
                         uint32_t expected_protocol) {
  if (env == NULL || expected_kind > HO_KIND_CANCEL) return HO_ERR_INVALID_ARGUMENT;
  /* The order is fixed: version, kind, payload_protocol, encoding. */
  /* spec: ENV-4 */
  if (env->envelope_version != HO_ENVELOPE_VERSION) return HO_ERR_ENVELOPE_VERSION;
  if (env->kind > HO_KIND_CANCEL) return HO_ERR_UNKNOWN_KIND;
  if (env->kind != expected_kind) return HO_ERR_WRONG_KIND;
  if (env->payload_protocol != expected_protocol) return HO_ERR_PAYLOAD_PROTOCOL;
  /* spec: ENV-5 */
  if (env->payload_encoding > HO_ENCODING_LZ4) return HO_ERR_UNKNOWN_ENCODING;
  if (env->payload_encoding != HO_ENCODING_NONE) return HO_ERR_PAYLOAD_COMPRESSED;
  return HO_OK;
}

/* ---- payload messages ----------------------------------------------- */

int ho_hello_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_hello *out) {
  return decode_mt(codec, HO_MT_HELLO, &ho_schema_hello, buf, len, out, sizeof *out);
}

int ho_hello_encode(ho_codec codec, const ho_hello *m, uint8_t *out, size_t cap, size_t *len) {
  return encode_mt(codec, HO_MT_HELLO, m, out, cap, len);
}

int ho_hello_reply_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_hello_reply *out) {
  if (!codec_ok(codec) || out == NULL || (buf == NULL && len > 0)) return HO_ERR_INVALID_ARGUMENT;
  ho_scan_result sr;
  int rc = ho_scan(&ho_schema_hello_reply, buf, len, &sr);
  if (rc != HO_OK) return rc;
  memset(out, 0, sizeof *out);
  /* The oneof (spec: MSG-2): the member present last decides; its value
   * is the merge of its occurrences since the other member last occurred,
   * as protobuf merges a message field that occurs more than once. */
  int which = (int)sr.oneof_which; /* field numbers equal HO_REPLY_* */
  if (which == HO_REPLY_NONE) return HO_OK; /* spec: MSG-16 — valid, which = NONE */
  ho_mt mt = which == HO_REPLY_NEGOTIATED ? HO_MT_NEGOTIATED : HO_MT_REFUSED;
  void *dst = which == HO_REPLY_NEGOTIATED ? (void *)&out->negotiated : (void *)&out->refused;
  size_t off = (size_t)(sr.oneof_run - buf);
  rc = codec == HO_CODEC_PROTOBUF_C ? ho_pbc_decode_member(mt, buf, len, off, sr.oneof_which, dst)
                                    : ho_npb_decode_member(mt, buf, len, off, sr.oneof_which, dst);
  if (rc == HO_OK) out->which = which;
  return rc;
}

int ho_hello_reply_encode(ho_codec codec, const ho_hello_reply *m, uint8_t *out, size_t cap,
                          size_t *len) {
  return encode_mt(codec, HO_MT_HELLO_REPLY, m, out, cap, len);
}

int ho_offer_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_offer *out) {
  return decode_mt(codec, HO_MT_OFFER, &ho_schema_offer, buf, len, out, sizeof *out);
}

int ho_offer_encode(ho_codec codec, const ho_offer *m, uint8_t *out, size_t cap, size_t *len) {
  return encode_mt(codec, HO_MT_OFFER, m, out, cap, len);
}

int ho_ack_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_ack *out) {
  return decode_mt(codec, HO_MT_ACK, &ho_schema_ack, buf, len, out, sizeof *out);
}

int ho_ack_encode(ho_codec codec, const ho_ack *m, uint8_t *out, size_t cap, size_t *len) {
  return encode_mt(codec, HO_MT_ACK, m, out, cap, len);
}

/* ---- whole frames ----------------------------------------------------- */

typedef struct frame_shape {
  uint32_t kind;
  uint32_t protocol;
  ho_mt mt;
  uint32_t max_body;
} frame_shape;

/* spec: ENV-1 ENV-4 — the kind and payload protocol of each v1 frame. */
static int shape_of(ho_frame_type t, frame_shape *s) {
  switch (t) {
  case HO_FT_HELLO:
    *s = (frame_shape){HO_KIND_REQUEST, HO_PAYLOAD_HELLO, HO_MT_HELLO, HO_MAX_HELLO_BYTES};
    return HO_OK;
  case HO_FT_HELLO_REPLY:
    *s = (frame_shape){HO_KIND_RESPONSE, HO_PAYLOAD_HELLO, HO_MT_HELLO_REPLY, HO_MAX_FRAME_BYTES};
    return HO_OK;
  case HO_FT_OFFER:
    *s = (frame_shape){HO_KIND_REQUEST, HO_PAYLOAD_HANDOFF, HO_MT_OFFER, HO_MAX_FRAME_BYTES};
    return HO_OK;
  case HO_FT_ACK:
    *s = (frame_shape){HO_KIND_RESPONSE, HO_PAYLOAD_HANDOFF, HO_MT_ACK, HO_MAX_FRAME_BYTES};
    return HO_OK;
  case HO_FT_READY:
    *s = (frame_shape){HO_KIND_EVENT, HO_PAYLOAD_HANDOFF, HO_MT_ACK, HO_MAX_FRAME_BYTES};
    return HO_OK;
  }
  return HO_ERR_INVALID_ARGUMENT;
}

int ho_frame_encode(ho_codec codec, ho_frame_type type, const ho_any_msg *msg, uint8_t *out,
                    size_t cap, size_t *len) {
  frame_shape s;
  if (!codec_ok(codec) || shape_of(type, &s) != HO_OK || msg == NULL || len == NULL ||
      (out == NULL && cap > 0))
    return HO_ERR_INVALID_ARGUMENT;
  int rc = ho_msg_check(s.mt, msg);
  if (rc != HO_OK) return rc;
  /* The kind and payload protocol come from shape_of (never CANCEL), the
   * payload is never compressed, deadline_unix_ms stays 0 (a backend-ready
   * offer is framed by the broker itself) and the versions are 1.
   * spec: ENV-2 ENV-9 VER-1 */
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = HO_ENVELOPE_VERSION;
  env.kind = s.kind;
  env.payload_protocol = s.protocol;
  env.payload_encoding = HO_ENCODING_NONE;
  /* spec: ENV-1 — handoff frames carry request_id = correlation_id. */
  if (type == HO_FT_OFFER) env.request_id = msg->offer.correlation_id;
  if (type == HO_FT_ACK || type == HO_FT_READY) env.request_id = msg->ack.correlation_id;
  size_t n = 0;
  rc = codec == HO_CODEC_PROTOBUF_C ? ho_pbc_frame_encode(&env, s.mt, msg, out, cap, &n)
                                    : ho_npb_frame_encode(&env, s.mt, msg, out, cap, &n);
  if (rc != HO_OK) return rc;
  /* spec: FRAME-7 — within the cap of the context; offer, ACK and ready
   * frames within 64 KiB so that a static-memory peer can read them. */
  uint32_t send_cap = type == HO_FT_HELLO_REPLY ? HO_MAX_FRAME_BYTES : HO_MAX_HELLO_BYTES;
  if (n - HO_FRAME_HEADER_BYTES > send_cap) return HO_ERR_FRAME_TOO_LARGE;
  *len = n;
  return HO_OK;
}

int ho_ready_frame_encode(ho_codec codec, const uint8_t token[HO_TOKEN_BYTES],
                          uint64_t correlation_id, uint8_t *out, size_t cap, size_t *len) {
  if (token == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_any_msg m; /* spec: READY-1 READY-2 */
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, token, HO_TOKEN_BYTES);
  m.ack.accepted = true;
  m.ack.correlation_id = correlation_id;
  return ho_frame_encode(codec, HO_FT_READY, &m, out, cap, len);
}

int ho_frame_decode_body(ho_codec codec, ho_frame_type type, const uint8_t *body, size_t len,
                         ho_envelope *env, ho_any_msg *out) {
  frame_shape s;
  if (!codec_ok(codec) || shape_of(type, &s) != HO_OK || out == NULL ||
      (body == NULL && len > 0))
    return HO_ERR_INVALID_ARGUMENT;
  if (len > s.max_body) return HO_ERR_FRAME_TOO_LARGE; /* spec: FRAME-3 FRAME-5 */
  ho_envelope local;
  ho_envelope *e = env != NULL ? env : &local;
  int rc = ho_envelope_decode(codec, body, len, e);
  if (rc != HO_OK) return rc;
  rc = ho_envelope_validate(e, s.kind, s.protocol);
  if (rc != HO_OK) return rc;
  /* Only the handoff frames check request_id; traceparent, tracestate and
   * deadline_unix_ms are left to the caller, which ignores them except a
   * backend-ready offer's deadline. spec: ENV-10 */
  switch (type) {
  case HO_FT_HELLO: return ho_hello_decode(codec, e->payload, e->payload_len, &out->hello);
  case HO_FT_HELLO_REPLY:
    return ho_hello_reply_decode(codec, e->payload, e->payload_len, &out->hello_reply);
  case HO_FT_OFFER:
    rc = ho_offer_decode(codec, e->payload, e->payload_len, &out->offer);
    if (rc == HO_OK && e->request_id != out->offer.correlation_id)
      rc = HO_ERR_REQUEST_ID_MISMATCH; /* spec: ENV-7 */
    return rc;
  case HO_FT_ACK:
  case HO_FT_READY:
    rc = ho_ack_decode(codec, e->payload, e->payload_len, &out->ack);
    if (rc == HO_OK && e->request_id != out->ack.correlation_id)
      rc = HO_ERR_REQUEST_ID_MISMATCH; /* spec: ENV-7 */
    return rc;
  }
  return HO_ERR_INVALID_ARGUMENT;
}

int ho_frame_decode(ho_codec codec, ho_frame_type type, const uint8_t *wire, size_t len,
                    ho_envelope *env, ho_any_msg *out) {
  frame_shape s;
  if (!codec_ok(codec) || shape_of(type, &s) != HO_OK || out == NULL ||
      (wire == NULL && len > 0))
    return HO_ERR_INVALID_ARGUMENT;
  const uint8_t *body = NULL;
  size_t blen = 0;
  int rc = ho_frame_parse(wire, len, s.max_body, &body, &blen); /* spec: FRAME-2 FRAME-3 FRAME-4 */
  if (rc != HO_OK) return rc;
  return ho_frame_decode_body(codec, type, body, blen, env, out);
}
