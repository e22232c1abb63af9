/* Unit tests (white box): the internal contracts of the wire layer behind
 * msg.h — the two codec back ends of wire/codec.h, the encoder checks
 * (ho_msg_check) and the pre-scanner helpers of wire/scan.h — for the
 * arguments the public functions never pass: message types a back end does
 * not handle alone, unknown types, a oneof member that never occurs. Each
 * must give its named error, never a crash or a partial result. */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/msg.h"
#include "wire/codec.h"
#include "wire/scan.h"

static ho_any_msg m;
static uint8_t out[4096];
static const ho_mt bad_mt = (ho_mt)99;

Test(wire_internal, back_ends_refuse_hello_reply_and_unknown_types_alone) {
  const uint8_t p[2] = {0x08, 0x01};
  ho_scan_result sr;
  memset(&sr, 0, sizeof sr);
  cr_assert_eq(ho_pbc_decode(HO_MT_HELLO_REPLY, p, 2, &sr, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_npb_decode(HO_MT_HELLO_REPLY, p, 2, &sr, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pbc_decode(bad_mt, p, 2, &sr, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_npb_decode(bad_mt, p, 2, &sr, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pbc_decode_member(HO_MT_OFFER, p, 2, 0, 1, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_npb_decode_member(HO_MT_ACK, p, 2, 0, 1, &m), HO_ERR_INVALID_ARGUMENT);
  size_t n = 0;
  cr_assert_eq(ho_pbc_encode(bad_mt, &m, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_npb_encode(bad_mt, &m, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  ho_envelope env;
  memset(&env, 0, sizeof env);
  cr_assert_eq(ho_pbc_frame_encode(&env, HO_MT_ENVELOPE, &env, out, sizeof out, &n),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_npb_frame_encode(&env, HO_MT_ENVELOPE, &env, out, sizeof out, &n),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_npb_frame_encode(&env, bad_mt, &m, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pbc_frame_encode(&env, bad_mt, &m, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
}

/* The oneof members coded alone (msg.c reaches them only through the
 * HelloReply merge): both back ends, both directions, the same values. */
Test(wire_internal, negotiated_and_refused_alone_through_both_back_ends) {
  ho_negotiated ng;
  memset(&ng, 0, sizeof ng);
  ng.negotiated_protocol = 1;
  strcpy(ng.backend_pipe, "/run/echo.sock");
  ng.warnings_count = 1;
  strcpy(ng.warnings[0], "w");
  ho_refused rf;
  memset(&rf, 0, sizeof rf);
  strcpy(rf.reason, "r");
  rf.details_count = 1;
  strcpy(rf.details[0].key, "k");
  const ho_mt mts[2] = {HO_MT_NEGOTIATED, HO_MT_REFUSED};
  const void *src[2] = {&ng, &rf};
  for (int i = 0; i < 2; i++) {
    size_t na = 0, nb = 0;
    uint8_t b2[4096];
    cr_assert_eq(ho_msg_check(mts[i], src[i]), HO_OK);
    cr_assert_eq(ho_pbc_encode(mts[i], src[i], out, sizeof out, &na), HO_OK);
    cr_assert_eq(ho_npb_encode(mts[i], src[i], b2, sizeof b2, &nb), HO_OK);
    cr_assert(na == nb && memcmp(out, b2, na) == 0, "encoders differ");
    ho_scan_result sr;
    cr_assert_eq(ho_scan(i ? &ho_schema_refused : &ho_schema_negotiated, out, na, &sr), HO_OK);
    union { ho_negotiated n; ho_refused r; } d1, d2;
    memset(&d1, 0, sizeof d1);
    memset(&d2, 0, sizeof d2);
    cr_assert_eq(ho_pbc_decode(mts[i], out, na, &sr, &d1), HO_OK);
    cr_assert_eq(ho_npb_decode(mts[i], out, na, &sr, &d2), HO_OK);
    if (i == 0) {
      cr_assert_str_eq(d1.n.backend_pipe, "/run/echo.sock");
      cr_assert_str_eq(d2.n.warnings[0], "w");
    } else {
      cr_assert_str_eq(d1.r.details[0].key, "k");
      cr_assert_str_eq(d2.r.reason, "r");
    }
  }
}

Test(wire_internal, member_decoder_without_an_occurrence_is_malformed) {
  /* HelloReply with only field 2: asking for member 1 is the caller's bug. */
  const uint8_t reply[2] = {0x12, 0x00};
  cr_assert_eq(ho_npb_decode_member(HO_MT_NEGOTIATED, reply, 2, 0, 1, &m), HO_ERR_MALFORMED);
  /* An occurrence that does not scan (a Negotiated holding a group). */
  const uint8_t bad[4] = {0x0a, 0x02, 0x0b, 0x0c};
  cr_assert_eq(ho_npb_decode_member(HO_MT_NEGOTIATED, bad, 4, 0, 1, &m), HO_ERR_MALFORMED);
}

Test(wire_internal, nanopb_back_end_reports_unscanned_garbage_as_malformed) {
  const uint8_t garbage[3] = {0x0a, 0x7f, 0x00}; /* length past the end */
  cr_assert_eq(ho_npb_decode(HO_MT_HELLO, garbage, 3, NULL, &m), HO_ERR_MALFORMED);
}

Test(wire_internal, msg_check_null_and_unknown_type) {
  cr_assert_eq(ho_msg_check(HO_MT_ACK, NULL), HO_ERR_INVALID_ARGUMENT);
  memset(&m, 0, sizeof m);
  cr_assert_eq(ho_msg_check(bad_mt, &m), HO_ERR_INVALID_ARGUMENT);
}

Test(wire_internal, scanner_helpers) {
  ho_scan_result sr;
  cr_assert_eq(ho_scan(&ho_schema_ack, NULL, 3, &sr), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_varint_narrow(HO_SK_U64, UINT64_MAX), UINT64_MAX);
  cr_assert_eq(ho_varint_narrow(HO_SK_U32, (UINT64_C(1) << 32) | 5), 5);
  cr_assert_eq(ho_varint_narrow(HO_SK_BOOL, UINT64_C(1) << 40), 1);
  cr_assert_null(ho_scan_find(&ho_schema_offer, 5)); /* reserved by the original */
}
