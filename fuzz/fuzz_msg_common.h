/* Shared checks of the message fuzz targets (fuzz_hello.c, fuzz_hello_reply.c,
 * fuzz_offer.c, fuzz_ack.c, fuzz_envelope.c, fuzz_msg_json.c): value
 * comparison of decoded structs (field by field, never the wire bytes, since
 * the codecs may see unknown fields differently), the shape every decoded
 * struct must have, an independent envelope writer for wrapping a payload
 * into a frame, and the one abort path.
 *
 * Header-only (static functions): each target is one translation unit.
 */
#ifndef HO_FUZZ_MSG_COMMON_H
#define HO_FUZZ_MSG_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/error.h"
#include "handoff/msg.h"
#include "handoff/msg_json.h"
#include "handoff/wire.h"

#ifndef HO_FUZZ_NAME
#error define HO_FUZZ_NAME before including fuzz_msg_common.h
#endif

static const ho_codec fz_codecs[2] = {HO_CODEC_PROTOBUF_C, HO_CODEC_NANOPB};
static const char *const fz_codec_name[2] = {"protobuf-c", "nanopb"};

static inline void fz_die(const char *what, const char *detail) {
  fprintf(stderr, "%s: %s: %s\n", HO_FUZZ_NAME, what, detail ? detail : "");
  abort();
}

static inline const char *fz_err(int rc) {
  const char *n = ho_errname(rc);
  return n != NULL ? n : "(not a code)";
}

static inline void fz_verdicts(const char *what, int ra, int rb) {
  if (ra == rb) return;
  char d[160];
  snprintf(d, sizeof d, "protobuf-c %s, nanopb %s", fz_err(ra), fz_err(rb));
  fz_die(what, d);
}

/* Every decoder error is a message-class code (spec: MSG-1). */
static inline void fz_message_class(const char *what, int rc) {
  if (rc == HO_OK || ho_err_class(rc) == HO_ERRCLASS_MESSAGE) return;
  fz_die(what, fz_err(rc));
}

/* ---- shape of a decoded struct --------------------------------------- */

/* A decoded string array holds a NUL within its size. */
#define FZ_STR_OK(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

static inline const char *fz_shape_hello(const ho_hello *h) {
  if (!FZ_STR_OK(h->service_name) || !FZ_STR_OK(h->wanted_version) ||
      !FZ_STR_OK(h->client_version) || !FZ_STR_OK(h->request_id) ||
      !FZ_STR_OK(h->client_lib_name) || !FZ_STR_OK(h->client_lib_version))
    return "hello string without NUL";
  if (h->auth_token.len > HO_MAX_HELLO_BLOB || h->peer_attestation_nonce.len > HO_MAX_HELLO_BLOB ||
      h->capability_token.len > HO_MAX_HELLO_BLOB)
    return "hello blob above its cap";
  return NULL;
}

static inline const char *fz_shape_negotiated(const ho_negotiated *n) {
  if (!FZ_STR_OK(n->daemon_version) || !FZ_STR_OK(n->backend_pipe))
    return "negotiated string without NUL";
  if (n->warnings_count > HO_MAX_WARNINGS) return "more warnings than the cap";
  for (size_t i = 0; i < n->warnings_count; i++)
    if (!FZ_STR_OK(n->warnings[i])) return "warning without NUL";
  if (n->handle_passed_token_len != 0 && n->handle_passed_token_len != HO_TOKEN_BYTES)
    return "handle_passed_token neither 0 nor 16 bytes";
  return NULL;
}

/* Decoded details are a map: unique keys, sorted by key bytes (the JSON
 * renderer and the encoder's duplicate check rely on it). spec: MSG-2 */
static inline const char *fz_shape_refused(const ho_refused *r) {
  if (!FZ_STR_OK(r->reason)) return "reason without NUL";
  if (r->details_count > HO_MAX_DETAILS) return "more details than the cap";
  for (size_t i = 0; i < r->details_count; i++) {
    if (!FZ_STR_OK(r->details[i].key) || !FZ_STR_OK(r->details[i].value))
      return "detail without NUL";
    if (i > 0 && strcmp(r->details[i - 1].key, r->details[i].key) >= 0)
      return "details not unique and sorted by key";
  }
  return NULL;
}

static inline const char *fz_shape_hello_reply(const ho_hello_reply *r) {
  if (r->which == HO_REPLY_NEGOTIATED) return fz_shape_negotiated(&r->negotiated);
  if (r->which == HO_REPLY_REFUSED) return fz_shape_refused(&r->refused);
  return r->which == HO_REPLY_NONE ? NULL : "which out of range";
}

static inline const char *fz_shape_offer(const ho_offer *o) {
  return FZ_STR_OK(o->service_name) ? NULL : "service_name without NUL";
}

static inline const char *fz_shape_ack(const ho_ack *a) {
  if (!FZ_STR_OK(a->error_detail)) return "error_detail without NUL";
  /* bool must hold 0 or 1 (UBSan also checks loads of other values). */
  unsigned char b;
  memcpy(&b, &a->accepted, 1);
  return b <= 1 ? NULL : "accepted neither false nor true";
}

/* ---- value comparison (NULL when equal, else the first field that differs) */

#define FZ_EQ_NUM(a, b, f)                                                                         \
  if ((a)->f != (b)->f) return #f
#define FZ_EQ_STR(a, b, f)                                                                         \
  if (strcmp((a)->f, (b)->f) != 0) return #f
#define FZ_EQ_MEM(a, b, f)                                                                         \
  if (memcmp((a)->f, (b)->f, sizeof (a)->f) != 0) return #f
#define FZ_EQ_BLOB(a, b, f)                                                                        \
  if ((a)->f.len != (b)->f.len || memcmp((a)->f.data, (b)->f.data, (a)->f.len) != 0) return #f

static inline const char *fz_diff_hello(const ho_hello *a, const ho_hello *b) {
  FZ_EQ_NUM(a, b, client_min_protocol);
  FZ_EQ_NUM(a, b, client_max_protocol);
  FZ_EQ_STR(a, b, service_name);
  FZ_EQ_STR(a, b, wanted_version);
  FZ_EQ_STR(a, b, client_version);
  FZ_EQ_NUM(a, b, client_capabilities);
  FZ_EQ_BLOB(a, b, auth_token);
  FZ_EQ_STR(a, b, request_id);
  FZ_EQ_NUM(a, b, connection_id);
  FZ_EQ_NUM(a, b, peer_pid);
  FZ_EQ_STR(a, b, client_lib_name);
  FZ_EQ_STR(a, b, client_lib_version);
  FZ_EQ_BLOB(a, b, peer_attestation_nonce);
  FZ_EQ_BLOB(a, b, capability_token);
  FZ_EQ_NUM(a, b, client_keepalive_secs);
  return NULL;
}

static inline const char *fz_diff_negotiated(const ho_negotiated *a, const ho_negotiated *b) {
  FZ_EQ_NUM(a, b, negotiated_protocol);
  FZ_EQ_STR(a, b, daemon_version);
  FZ_EQ_STR(a, b, backend_pipe);
  FZ_EQ_NUM(a, b, warnings_count);
  for (size_t i = 0; i < a->warnings_count && i < HO_MAX_WARNINGS; i++)
    if (strcmp(a->warnings[i], b->warnings[i]) != 0) return "warnings[i]";
  FZ_EQ_NUM(a, b, server_capabilities);
  FZ_EQ_NUM(a, b, keepalive_interval_secs);
  FZ_EQ_NUM(a, b, handle_passed_token_len);
  if (memcmp(a->handle_passed_token, b->handle_passed_token, a->handle_passed_token_len) != 0)
    return "handle_passed_token";
  FZ_EQ_NUM(a, b, connection_id);
  return NULL;
}

/* details compared as a map: same keys, same values (order is checked by
 * the shape check). */
static inline const char *fz_diff_refused(const ho_refused *a, const ho_refused *b) {
  FZ_EQ_STR(a, b, reason);
  FZ_EQ_NUM(a, b, daemon_min_protocol);
  FZ_EQ_NUM(a, b, daemon_max_protocol);
  FZ_EQ_NUM(a, b, code);
  FZ_EQ_NUM(a, b, details_count);
  for (size_t i = 0; i < a->details_count && i < HO_MAX_DETAILS; i++) {
    size_t j = 0;
    while (j < b->details_count && strcmp(a->details[i].key, b->details[j].key) != 0) j++;
    if (j == b->details_count) return "details key";
    if (strcmp(a->details[i].value, b->details[j].value) != 0) return "details value";
  }
  FZ_EQ_NUM(a, b, retry_after_ms);
  return NULL;
}

static inline const char *fz_diff_hello_reply(const ho_hello_reply *a, const ho_hello_reply *b) {
  FZ_EQ_NUM(a, b, which);
  if (a->which == HO_REPLY_NEGOTIATED) return fz_diff_negotiated(&a->negotiated, &b->negotiated);
  if (a->which == HO_REPLY_REFUSED) return fz_diff_refused(&a->refused, &b->refused);
  return NULL;
}

static inline const char *fz_diff_offer(const ho_offer *a, const ho_offer *b) {
  FZ_EQ_NUM(a, b, handle_value);
  FZ_EQ_MEM(a, b, token);
  FZ_EQ_STR(a, b, service_name);
  FZ_EQ_NUM(a, b, correlation_id);
  FZ_EQ_NUM(a, b, offer_flags);
  return NULL;
}

static inline const char *fz_diff_ack(const ho_ack *a, const ho_ack *b) {
  FZ_EQ_MEM(a, b, token);
  FZ_EQ_NUM(a, b, accepted);
  FZ_EQ_STR(a, b, error_detail);
  FZ_EQ_NUM(a, b, correlation_id);
  FZ_EQ_NUM(a, b, backend_capabilities);
  return NULL;
}

/* The envelope's payload compared by its bytes, not its address. */
static inline const char *fz_diff_envelope(const ho_envelope *a, const ho_envelope *b) {
  FZ_EQ_NUM(a, b, envelope_version);
  FZ_EQ_NUM(a, b, kind);
  FZ_EQ_NUM(a, b, payload_protocol);
  FZ_EQ_NUM(a, b, payload_len);
  if (a->payload_len > 0 && memcmp(a->payload, b->payload, a->payload_len) != 0) return "payload";
  FZ_EQ_NUM(a, b, request_id);
  FZ_EQ_NUM(a, b, payload_encoding);
  FZ_EQ_NUM(a, b, deadline_unix_ms);
  FZ_EQ_STR(a, b, traceparent);
  FZ_EQ_STR(a, b, tracestate);
  return NULL;
}

static inline const char *fz_shape_envelope(const ho_envelope *e, const uint8_t *body, size_t len) {
  if (!FZ_STR_OK(e->traceparent) || !FZ_STR_OK(e->tracestate)) return "trace string without NUL";
  if (e->payload_len == 0) return NULL;
  /* spec: MSG-1 — a zero-copy view into the decoded body, within it. */
  if (e->payload == NULL || e->payload < body || e->payload_len > len ||
      (size_t)(e->payload - body) > len - e->payload_len)
    return "payload view outside the body";
  return NULL;
}

/* ---- an envelope written by hand (not by the codecs under test) ------- */

static inline size_t fz_put_varint(uint8_t *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

/* A complete frame (header, envelope version 1, kind, protocol, payload,
 * request_id) around `payload`, into `out` of `cap` bytes. Returns the
 * length, or 0 if it does not fit. */
static inline size_t fz_wrap_frame(uint32_t kind, uint32_t protocol, uint64_t request_id,
                            const uint8_t *payload, size_t plen, uint8_t *out, size_t cap) {
  if (cap < plen + 64) return 0;
  uint8_t *p = out + 5;
  *p++ = 0x08;
  *p++ = 0x01;
  if (kind != 0) {
    *p++ = 0x10;
    p += fz_put_varint(p, kind);
  }
  if (protocol != 0) {
    *p++ = 0x18;
    p += fz_put_varint(p, protocol);
  }
  if (plen > 0) {
    *p++ = 0x22;
    p += fz_put_varint(p, plen);
    memcpy(p, payload, plen);
    p += plen;
  }
  if (request_id != 0) {
    *p++ = 0x28;
    p += fz_put_varint(p, request_id);
  }
  size_t body = (size_t)(p - (out + 5));
  out[0] = 1;
  out[1] = (uint8_t)body;
  out[2] = (uint8_t)(body >> 8);
  out[3] = (uint8_t)(body >> 16);
  out[4] = (uint8_t)(body >> 24);
  return body + 5;
}

/* The kind and payload protocol of each frame type (spec/envelope.md §2). */
static inline void fz_frame_shape(ho_frame_type t, uint32_t *kind, uint32_t *protocol, uint32_t *cap) {
  switch (t) {
  case HO_FT_HELLO: *kind = HO_KIND_REQUEST, *protocol = HO_PAYLOAD_HELLO; break;
  case HO_FT_HELLO_REPLY: *kind = HO_KIND_RESPONSE, *protocol = HO_PAYLOAD_HELLO; break;
  case HO_FT_OFFER: *kind = HO_KIND_REQUEST, *protocol = HO_PAYLOAD_HANDOFF; break;
  case HO_FT_ACK: *kind = HO_KIND_RESPONSE, *protocol = HO_PAYLOAD_HANDOFF; break;
  default: *kind = HO_KIND_EVENT, *protocol = HO_PAYLOAD_HANDOFF; break;
  }
  *cap = t == HO_FT_HELLO ? HO_MAX_HELLO_BYTES : HO_MAX_FRAME_BYTES;
}

#endif /* HO_FUZZ_MSG_COMMON_H */
