/* handoff — internal: the two generated-codec back ends behind msg.h.
 *
 * Both back ends convert between the codec-neutral structs of msg.h and the
 * generated structs. Decoders are only called on input that passed
 * ho_scan() with the message's schema; encoders only on structs that passed
 * ho_msg_check(). Either may still fail (HO_ERR_MALFORMED, HO_ERR_NOMEM),
 * which the differential tests treat as a bug.
 */
#ifndef HO_WIRE_CODEC_H
#define HO_WIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "handoff/msg.h"
#include "wire/scan.h"

typedef enum ho_mt {
  HO_MT_ENVELOPE = 0,
  HO_MT_HELLO,
  HO_MT_HELLO_REPLY, /* encode only: decode goes through the oneof member */
  HO_MT_NEGOTIATED,
  HO_MT_REFUSED,
  HO_MT_OFFER,
  HO_MT_ACK
} ho_mt;

#ifndef HO_NO_HEAP
/* protobuf-c back end. For HO_MT_ENVELOPE the payload view is taken from
 * `sr` (protobuf-c copies bytes fields; msg.h promises a view into the
 * input) after checking protobuf-c saw the same length. */
int ho_pbc_decode(ho_mt mt, const uint8_t *buf, size_t len, const ho_scan_result *sr, void *out);
/* The merged value of a oneof member (HelloReply.result): every occurrence
 * of field `which` from `off` (ho_scan_result.oneof_run) on, merged. */
int ho_pbc_decode_member(ho_mt mt, const uint8_t *reply, size_t len, size_t off, uint32_t which,
                         void *out);
int ho_pbc_encode(ho_mt mt, const void *msg, uint8_t *out, size_t cap, size_t *len);
int ho_pbc_frame_encode(const ho_envelope *env, ho_mt mt, const void *msg, uint8_t *out,
                        size_t cap, size_t *len);
#define HO_CODEC_OK(c) ((c) == HO_CODEC_PROTOBUF_C || (c) == HO_CODEC_NANOPB)
#else
/* The no-heap peer library (mk/nohp.mk) has no protobuf-c (it allocates):
 * HO_CODEC_PROTOBUF_C is refused as an unknown codec before any of these
 * could run; they only keep msg.c one file. */
#define HO_CODEC_OK(c) ((c) == HO_CODEC_NANOPB)
static inline int ho_pbc_decode(ho_mt mt, const uint8_t *buf, size_t len,
                                const ho_scan_result *sr, void *out) {
  (void)mt, (void)buf, (void)len, (void)sr, (void)out;
  return HO_ERR_INVALID_ARGUMENT;
}
static inline int ho_pbc_decode_member(ho_mt mt, const uint8_t *reply, size_t len, size_t off,
                                       uint32_t which, void *out) {
  (void)mt, (void)reply, (void)len, (void)off, (void)which, (void)out;
  return HO_ERR_INVALID_ARGUMENT;
}
static inline int ho_pbc_encode(ho_mt mt, const void *msg, uint8_t *out, size_t cap,
                                size_t *len) {
  (void)mt, (void)msg, (void)out, (void)cap, (void)len;
  return HO_ERR_INVALID_ARGUMENT;
}
static inline int ho_pbc_frame_encode(const ho_envelope *env, ho_mt mt, const void *msg,
                                      uint8_t *out, size_t cap, size_t *len) {
  (void)env, (void)mt, (void)msg, (void)out, (void)cap, (void)len;
  return HO_ERR_INVALID_ARGUMENT;
}
#endif

/* nanopb back end: allocates nothing; Frame.payload is decoded by an
 * FT_CALLBACK that records pointer and length into the input. */
int ho_npb_decode(ho_mt mt, const uint8_t *buf, size_t len, const ho_scan_result *sr,
                  void *out);
int ho_npb_decode_member(ho_mt mt, const uint8_t *reply, size_t len, size_t off, uint32_t which,
                         void *out);
int ho_npb_encode(ho_mt mt, const void *msg, uint8_t *out, size_t cap, size_t *len);
int ho_npb_frame_encode(const ho_envelope *env, ho_mt mt, const void *msg, uint8_t *out,
                        size_t cap, size_t *len);

/* Shared helpers (msg_check.c). */
/* Collapse repeated keys (the last value wins, at the first key's place)
 * and sort the details by key bytes: the one canonical form of the map. */
void ho_refused_normalize(ho_refused *r);
/* Validate a struct before encoding: caps, NUL-terminated arrays, UTF-8,
 * token lengths, item counts, enum ranges of the struct's own fields.
 * Returns HO_OK, HO_ERR_INVALID_ARGUMENT, HO_ERR_STRING_TOO_LONG,
 * HO_ERR_STRING_INVALID, HO_ERR_TOKEN_LENGTH, HO_ERR_TOO_MANY_ITEMS. */
int ho_msg_check(ho_mt mt, const void *msg);
/* Length of a NUL-terminated string held in an array of `size` bytes;
 * `size` if there is no NUL. */
size_t ho_strnlen(const char *s, size_t size);

#endif /* HO_WIRE_CODEC_H */
