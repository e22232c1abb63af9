/* Unit tests: the nanopb normalising stream (ref/lib/wire/codec_npb.c).
 * nanopb rejects a uint32/enum/bool varint above 2^32-1, which protobuf
 * accepts (low 32 bits); such a message is read through a stream that
 * re-encodes those varints (spec: MSG-11). Every other byte must pass
 * through it unchanged, including the unknown fields nanopb skips (which nanopb 0.4.7 reads
 * through its own 16-byte skip buffer) and the bytes of the envelope's payload, so that
 * both codecs decode the same values. */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/msg.h"
#include "handoff/msg_json.h"

static char ja[8192], jb[8192];

/* spec: MSG-1 MSG-11 */
Test(codec_norm, wide_varint_with_unknown_fields_of_every_wire_type) {
  static const uint8_t hello[] = {
      0x08, 0x81, 0x80, 0x80, 0x80, 0x10,             /* client_min_protocol: 2^32 + 1 */
      0x82, 0x01, 0x03, 'x', 'y', 'z',                /* field 16, length-delimited: skipped */
      0x89, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,             /* field 17, fixed64: skipped */
      0x9d, 0x01, 9, 9, 9, 9,                         /* field 19, fixed32: skipped */
      0xa0, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* field 20, varint: skipped */
      0x1a, 0x04, 'e', 'c', 'h', 'o',                 /* service_name */
      0x50, 0x92, 0xa1, 0x80, 0x80, 0x70,             /* peer_pid: wide again */
  };
  ho_hello a, b;
  cr_assert_eq(ho_hello_decode(HO_CODEC_PROTOBUF_C, hello, sizeof hello, &a), HO_OK);
  cr_assert_eq(ho_hello_decode(HO_CODEC_NANOPB, hello, sizeof hello, &b), HO_OK);
  cr_assert_eq(b.client_min_protocol, 1);
  cr_assert_str_eq(b.service_name, "echo");
  size_t n = 0;
  ho_hello_to_json(&a, ja, sizeof ja, &n);
  ho_hello_to_json(&b, jb, sizeof jb, &n);
  cr_assert_str_eq(ja, jb);
}

/* spec: MSG-11 ENV-1 — a wide kind varint and a payload read through the
 * stream: the payload view still points at the payload bytes. */
Test(codec_norm, envelope_payload_view_through_the_stream) {
  static const uint8_t body[] = {
      0x08, 0x01,                                 /* envelope_version 1 */
      0x10, 0x81, 0x80, 0x80, 0x80, 0x10,         /* kind: 2^32 + 1, i.e. RESPONSE */
      0x18, 0xff, 0xa1, 0x03,                     /* payload_protocol 0xD0FF */
      0x22, 0x03, 0x10, 0x01, 0x7a,               /* payload */
      0x5a, 0x01, 0x00,                           /* field 11, length-delimited: skipped */
  };
  ho_envelope a, b;
  cr_assert_eq(ho_envelope_decode(HO_CODEC_PROTOBUF_C, body, sizeof body, &a), HO_OK);
  cr_assert_eq(ho_envelope_decode(HO_CODEC_NANOPB, body, sizeof body, &b), HO_OK);
  cr_assert_eq(b.kind, HO_KIND_RESPONSE);
  cr_assert_eq(b.payload, body + 14);
  cr_assert_eq(b.payload_len, 3);
  cr_assert_eq(a.payload, b.payload);
}
