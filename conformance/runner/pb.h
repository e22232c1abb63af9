/* handoff-conform — a hand-rolled protobuf writer and the offer frame
 * builder with the adversarial broker's knobs. The library's encoders
 * refuse to produce invalid frames (MSG-13), which is exactly what the
 * runner must send, so offers are written here field by field. A canonical
 * offer written here is byte-identical to ho_frame_encode()'s (checked by
 * cf_pb_selfcheck()). */
#ifndef CF_PB_H
#define CF_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cf_buf {
  uint8_t *p;
  size_t len, cap;
  bool oom;
} cf_buf;

void cf_buf_free(cf_buf *b);
void cf_buf_put(cf_buf *b, const void *p, size_t n);
void pb_varint(cf_buf *b, uint64_t v);
/* A varint of exactly `width` bytes (non-minimal when wider than needed). */
void pb_varint_wide(cf_buf *b, uint64_t v, int width);
void pb_key(cf_buf *b, uint32_t field, unsigned wiretype);
void pb_uint(cf_buf *b, uint32_t field, uint64_t v);
void pb_bytes(cf_buf *b, uint32_t field, const void *p, size_t n);

/* Every field of the offer frame, with the ways to get it wrong. */
typedef struct cf_offer {
  /* HandoffOffer */
  uint64_t handle_value;
  uint8_t token[64];
  size_t token_len; /* 16 normally */
  bool token_omit;
  uint8_t service[128];
  size_t service_len;
  uint64_t corr;
  uint64_t flags;
  bool prefix_0800;      /* explicit handle_value = 0 first, as the original (XFER-5) */
  int varint_width;      /* 0: minimal varints; else that width for correlation_id */
  uint8_t payload_extra[512]; /* raw bytes appended to the payload */
  size_t payload_extra_len;
  uint8_t payload_pre[512];   /* raw bytes put before the payload's fields */
  size_t payload_pre_len;
  const uint8_t *payload_raw; /* replaces the payload entirely */
  size_t payload_raw_len;
  /* Frame */
  uint32_t env_version, kind, protocol, encoding;
  uint64_t request_id;
  uint64_t deadline;
  char traceparent[256];
  uint8_t env_extra[512]; /* raw bytes appended to the envelope */
  size_t env_extra_len;
  size_t body_exact;      /* pad with an unknown bytes field to this body size */
  /* framing */
  uint8_t framing;        /* 1 */
  bool announce_set;      /* announce `announce` as body length (header only) */
  uint32_t announce;
} cf_offer;

/* Any frame, field by field, with the knobs to get it wrong (broker and
 * client modes: Hellos, HelloReplies, ACKs and ready frames, good and bad). */
typedef struct cf_frame {
  uint8_t framing;                /* 1 */
  uint32_t env_version, kind, protocol, encoding;
  uint64_t request_id, deadline;
  const uint8_t *payload;         /* the payload bytes (field 4; omitted when empty) */
  size_t payload_len;
  const uint8_t *extra;           /* raw bytes appended to the envelope */
  size_t extra_len;
  bool announce_set;              /* only a header announcing `announce` body bytes */
  uint32_t announce;
} cf_frame;

/* Envelope v1 of `kind` on `protocol`, encoding NONE, no request id. */
void cf_frame_init(cf_frame *f, uint32_t kind, uint32_t protocol, const uint8_t *payload, size_t len);
/* Header and body into out (appended). 0 or -1 (no memory). */
int cf_frame_build(const cf_frame *f, cf_buf *out);

/* A canonical offer: envelope v1, REQUEST, 0xD0FF, request_id = corr. */
void cf_offer_init(cf_offer *o, const uint8_t token[16], const char *service, uint64_t corr);
/* The complete frame (header + body) into out. 0 or -1 (no memory). */
int cf_offer_frame(const cf_offer *o, cf_buf *out);
/* 0 when a canonical offer here equals ho_frame_encode()'s bytes. */
int cf_pb_selfcheck(void);

#endif
