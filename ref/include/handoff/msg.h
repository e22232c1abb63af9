/* handoff — typed v1 messages and their two generated codecs.
 *
 * Every message has one codec-neutral C struct (caller-owned, fixed size,
 * no pointers except the envelope's zero-copy payload view) and encode /
 * decode functions that run through either generated codec:
 *   HO_CODEC_PROTOBUF_C  protobuf-c (heap, via its allocator) — reference
 *                        broker, backend and client;
 *   HO_CODEC_NANOPB      nanopb, static structs — allocates nothing.
 * Both codecs have identical semantics (spec/messages.md): the same input
 * is accepted by both with equal decoded structs, or rejected by both with
 * the same error code.
 *
 * Decoding rules (spec: MSG-1 MSG-2 MSG-3 MSG-4 MSG-5 MSG-6 MSG-7 MSG-8;
 * spec: MSG-9 MSG-10 MSG-15): unknown fields are skipped; for a repeated
 * occurrence of a scalar or string field the last one wins; an explicitly
 * encoded default (for example `08 00`) is accepted; non-minimal varints
 * are accepted (values up to 10 bytes, tags and lengths up to 5 bytes, as
 * spec/messages.md fixes); when a message has several defects the first
 * in stream order is reported; a known field with the wrong wire type is
 * HO_ERR_WIRE_TYPE; a string or bytes field longer than its cap (wire.h) in
 * any occurrence is HO_ERR_STRING_TOO_LONG; a string that is not UTF-8 or
 * contains NUL is HO_ERR_STRING_INVALID; a token field whose length is not
 * 16 (or 0 where the field is optional) is HO_ERR_TOKEN_LENGTH; more than
 * the cap of repeated items is HO_ERR_TOO_MANY_ITEMS; anything else that is
 * not valid protobuf is HO_ERR_MALFORMED. On any error the output struct's
 * contents are unspecified (it may be partly written) but never hold
 * pointers to freed memory; nothing is leaked.
 *
 * Encoding writes fields in field-number order, omits fields equal to
 * their proto3 default, and so is canonical: decode(encode(m)) == m and
 * encode(decode(b)) == b for every canonical b. Encoders validate the same
 * caps as decoders (HO_ERR_STRING_TOO_LONG, HO_ERR_TOKEN_LENGTH, ...) and
 * return HO_ERR_BUFFER_TOO_SMALL when `cap` is too small (*len untouched).
 *
 * Threads: every function here is pure or works on caller-owned memory
 * only; any number of threads may call them at once. No descriptors, nothing
 * to do across fork or exec (handoff/version.h).
 */
#ifndef HANDOFF_MSG_H
#define HANDOFF_MSG_H

#include "handoff/version.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ho_codec { HO_CODEC_PROTOBUF_C = 0, HO_CODEC_NANOPB = 1 } ho_codec;

/* Frame (the envelope). `payload` points into the decoded buffer. */
typedef struct ho_envelope {
  uint32_t envelope_version;
  uint32_t kind;             /* HO_KIND_*; other values decode as they are */
  uint32_t payload_protocol;
  const uint8_t *payload;
  size_t payload_len;
  uint64_t request_id;
  uint32_t payload_encoding; /* HO_ENCODING_* */
  uint64_t deadline_unix_ms;
  char traceparent[HO_MAX_TRACEPARENT + 1];
  char tracestate[HO_MAX_TRACESTATE + 1];
} ho_envelope;

typedef struct ho_blob {
  uint8_t data[HO_MAX_HELLO_BLOB];
  size_t len;
} ho_blob;

typedef struct ho_hello {
  uint32_t client_min_protocol;
  uint32_t client_max_protocol;
  char service_name[HO_MAX_SERVICE_NAME + 1];
  char wanted_version[HO_MAX_WANTED_VERSION + 1];
  char client_version[HO_MAX_CLIENT_VERSION + 1];
  uint64_t client_capabilities;
  ho_blob auth_token;
  char request_id[HO_MAX_REQUEST_ID + 1];
  uint64_t connection_id;
  uint32_t peer_pid;
  char client_lib_name[HO_MAX_CLIENT_LIB + 1];
  char client_lib_version[HO_MAX_CLIENT_LIB + 1];
  ho_blob peer_attestation_nonce;
  ho_blob capability_token;
  uint64_t client_keepalive_secs;
} ho_hello;

typedef struct ho_negotiated {
  uint32_t negotiated_protocol;
  char daemon_version[HO_MAX_DAEMON_VERSION + 1];
  char backend_pipe[HO_MAX_BACKEND_PIPE + 1];
  size_t warnings_count;
  char warnings[HO_MAX_WARNINGS][HO_MAX_WARNING + 1];
  uint64_t server_capabilities;
  uint64_t keepalive_interval_secs;
  uint8_t handle_passed_token[HO_TOKEN_BYTES];
  size_t handle_passed_token_len; /* 0 or 16 */
  uint64_t connection_id;
} ho_negotiated;

typedef struct ho_detail {
  char key[HO_MAX_DETAIL_KEY + 1];
  char value[HO_MAX_DETAIL_VALUE + 1];
} ho_detail;

typedef struct ho_refused {
  char reason[HO_MAX_REASON + 1];
  uint32_t daemon_min_protocol;
  uint32_t daemon_max_protocol;
  uint32_t code; /* HO_REFUSE_*; unknown values decode as they are */
  size_t details_count;
  ho_detail details[HO_MAX_DETAILS]; /* map: a repeated key keeps its last value */
  uint64_t retry_after_ms;
} ho_refused;

enum { HO_REPLY_NONE = 0, HO_REPLY_NEGOTIATED = 1, HO_REPLY_REFUSED = 2 };

typedef struct ho_hello_reply {
  int which; /* HO_REPLY_*; last one wins if both appear */
  ho_negotiated negotiated;
  ho_refused refused;
} ho_hello_reply;

typedef struct ho_offer {
  uint64_t handle_value;
  uint8_t token[HO_TOKEN_BYTES]; /* always exactly 16 bytes on the wire */
  char service_name[HO_MAX_SERVICE_NAME + 1];
  uint64_t correlation_id;
  uint64_t offer_flags; /* HO_OFFER_FLAG_* */
  /* Coalesced mode (rc2): the complete HelloReply frames the backend writes
   * when it adopts (with the token) or refuses (without); length 0 = absent. */
  size_t reply_adopted_len, reply_declined_len;
  uint8_t reply_adopted[HO_MAX_REPLY_FRAME];
  uint8_t reply_declined[HO_MAX_REPLY_FRAME];
} ho_offer;

typedef struct ho_ack {
  uint8_t token[HO_TOKEN_BYTES]; /* always exactly 16 bytes on the wire */
  bool accepted;
  char error_detail[HO_MAX_ERROR_DETAIL + 1];
  uint64_t correlation_id;
  uint64_t backend_capabilities; /* HO_BACKEND_CAP_* */
} ho_ack;

/* ---- envelope ------------------------------------------------------- */

/* Decode a Frame body (the bytes after the 5-byte framing header).
 * out->payload points into `body`. Codes: HO_OK, HO_ERR_INVALID_ARGUMENT,
 * and the message-class codes above. */
HO_API int ho_envelope_decode(ho_codec codec, const uint8_t *body, size_t len, ho_envelope *out);

/* Encode `env` as a Frame body. Codes: HO_OK, HO_ERR_INVALID_ARGUMENT,
 * HO_ERR_BUFFER_TOO_SMALL, HO_ERR_STRING_TOO_LONG, HO_ERR_STRING_INVALID. */
HO_API int ho_envelope_encode(ho_codec codec, const ho_envelope *env, uint8_t *out, size_t cap,
                       size_t *len);

/* Check a decoded envelope in the fixed order of spec ENV-*: version,
 * kind, payload_protocol, payload_encoding. Codes: HO_OK,
 * HO_ERR_ENVELOPE_VERSION, HO_ERR_UNKNOWN_KIND, HO_ERR_WRONG_KIND,
 * HO_ERR_PAYLOAD_PROTOCOL, HO_ERR_UNKNOWN_ENCODING, HO_ERR_PAYLOAD_COMPRESSED,
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_envelope_validate(const ho_envelope *env, uint32_t expected_kind,
                         uint32_t expected_protocol);

/* ---- payload messages ----------------------------------------------- */
/* Each _decode takes the payload bytes; each _encode writes the payload
 * bytes. Codes as described at the top of this header. */
HO_API int ho_hello_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_hello *out);
HO_API int ho_hello_encode(ho_codec codec, const ho_hello *m, uint8_t *out, size_t cap, size_t *len);
HO_API int ho_hello_reply_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_hello_reply *out);
HO_API int ho_hello_reply_encode(ho_codec codec, const ho_hello_reply *m, uint8_t *out, size_t cap,
                          size_t *len);
HO_API int ho_offer_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_offer *out);
HO_API int ho_offer_encode(ho_codec codec, const ho_offer *m, uint8_t *out, size_t cap, size_t *len);
HO_API int ho_ack_decode(ho_codec codec, const uint8_t *buf, size_t len, ho_ack *out);
HO_API int ho_ack_encode(ho_codec codec, const ho_ack *m, uint8_t *out, size_t cap, size_t *len);

/* ---- whole frames (framing header + envelope + payload) -------------- */

/* Which v1 frame a complete wire frame is. */
typedef enum ho_frame_type {
  HO_FT_HELLO = 1,       /* REQUEST, 0x0000, Hello */
  HO_FT_HELLO_REPLY = 2, /* RESPONSE, 0x0000, HelloReply */
  HO_FT_OFFER = 3,       /* REQUEST, 0xD0FF, HandoffOffer, request_id == correlation_id */
  HO_FT_ACK = 4,         /* RESPONSE, 0xD0FF, HandoffAck, request_id == correlation_id */
  HO_FT_READY = 5        /* EVENT, 0xD0FF, HandoffAck, request_id == correlation_id */
} ho_frame_type;

typedef union ho_any_msg {
  ho_hello hello;
  ho_hello_reply hello_reply;
  ho_offer offer;
  ho_ack ack; /* also the ready frame */
} ho_any_msg;

/* Encode a complete frame of `type` carrying `msg` (the member matching
 * `type`): framing header, envelope (envelope_version 1, kind and payload
 * protocol of the type, request_id = correlation_id for handoff frames, 0
 * for Hello frames, encoding NONE) and payload. Codes: HO_OK,
 * HO_ERR_INVALID_ARGUMENT, HO_ERR_BUFFER_TOO_SMALL, the encoder codes. */
HO_API int ho_frame_encode(ho_codec codec, ho_frame_type type, const ho_any_msg *msg, uint8_t *out,
                    size_t cap, size_t *len);

/* Encode the ready frame of an adopted connection (spec: READY-1 READY-2):
 * HO_FT_READY, an accepting HandoffAck EVENT carrying `token` and
 * `correlation_id` (request_id = correlation_id). The one builder of it, for
 * the broker (legacy mode) and the backend (backend-ready mode). Codes: as
 * ho_frame_encode(). */
HO_API int ho_ready_frame_encode(ho_codec codec, const uint8_t token[HO_TOKEN_BYTES],
                                 uint64_t correlation_id, uint8_t *out, size_t cap, size_t *len);

/* Decode a complete frame `wire` (header + body, nothing more) expected to
 * be of `type`: framing checks (HO_ERR_FRAMING_VERSION,
 * HO_ERR_FRAME_TOO_LARGE with the Hello cap for HO_FT_HELLO,
 * HO_ERR_TRUNCATED), envelope decode, ho_envelope_validate(), payload
 * decode, then for handoff frames request_id == correlation_id
 * (HO_ERR_REQUEST_ID_MISMATCH). `env` may be NULL. */
HO_API int ho_frame_decode(ho_codec codec, ho_frame_type type, const uint8_t *wire, size_t len,
                    ho_envelope *env, ho_any_msg *out);

/* Same as ho_frame_decode() but from a frame body already split off by
 * ho_frame_reader (no framing header). */
HO_API int ho_frame_decode_body(ho_codec codec, ho_frame_type type, const uint8_t *body, size_t len,
                         ho_envelope *env, ho_any_msg *out);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_MSG_H */
