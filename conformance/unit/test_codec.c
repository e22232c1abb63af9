/* Unit tests: the typed codec API (ref/lib/wire/msg.c and both back ends) at
 * its edges. The golden vectors are in test_codec_vectors.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/msg_json.h"

static const ho_codec codecs[] = {HO_CODEC_PROTOBUF_C, HO_CODEC_NANOPB};
static uint8_t buf[16384];
static char js[2][16384];

static ho_offer sample_offer(void) {
  ho_offer o;
  memset(&o, 0, sizeof o);
  for (unsigned i = 0; i < HO_TOKEN_BYTES; i++) o.token[i] = (uint8_t)i;
  strcpy(o.service_name, "echo");
  o.correlation_id = 1;
  return o;
}

static ho_hello_reply sample_refused(void) {
  ho_hello_reply r;
  memset(&r, 0, sizeof r);
  r.which = HO_REPLY_REFUSED;
  strcpy(r.refused.reason, "RATE_LIMITED");
  r.refused.code = HO_REFUSE_RATE_LIMITED;
  r.refused.details_count = 2;
  strcpy(r.refused.details[0].key, "a");
  strcpy(r.refused.details[0].value, "1");
  strcpy(r.refused.details[1].key, "b");
  r.refused.retry_after_ms = 250;
  return r;
}

Test(codec, null_and_bad_arguments) {
  ho_offer o = sample_offer();
  size_t n = 0;
  for (size_t c = 0; c < 2; c++) {
    cr_assert_eq(ho_offer_decode(codecs[c], NULL, 3, &o), HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_offer_decode(codecs[c], buf, 3, NULL), HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_offer_encode(codecs[c], NULL, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_offer_encode(codecs[c], &o, buf, sizeof buf, NULL), HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_offer_encode(codecs[c], &o, NULL, 10, &n), HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_envelope_decode(codecs[c], NULL, 1, NULL), HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_frame_decode(codecs[c], (ho_frame_type)9, buf, 5, NULL, (ho_any_msg *)buf),
                 HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_frame_encode(codecs[c], (ho_frame_type)0, (ho_any_msg *)&o, buf, sizeof buf, &n),
                 HO_ERR_INVALID_ARGUMENT);
  }
  cr_assert_eq(ho_offer_encode((ho_codec)7, &o, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_offer_decode((ho_codec)7, buf, 0, &o), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_envelope_validate(NULL, 0, 0), HO_ERR_INVALID_ARGUMENT);
}

/* Encoders: a buffer one byte short fails and leaves *len untouched; the
 * exact size succeeds. */
Test(codec, buffer_too_small_leaves_len_untouched) {
  ho_any_msg m;
  m.offer = sample_offer();
  for (size_t c = 0; c < 2; c++) {
    size_t need = 0, n = 12345;
    cr_assert_eq(ho_offer_encode(codecs[c], &m.offer, buf, sizeof buf, &need), HO_OK);
    cr_assert_eq(ho_offer_encode(codecs[c], &m.offer, buf, need - 1, &n), HO_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 12345);
    cr_assert_eq(ho_offer_encode(codecs[c], &m.offer, NULL, 0, &n), HO_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(ho_offer_encode(codecs[c], &m.offer, buf, need, &n), HO_OK);
    cr_assert_eq(n, need);
    cr_assert_eq(ho_frame_encode(codecs[c], HO_FT_OFFER, &m, buf, sizeof buf, &need), HO_OK);
    n = 777;
    cr_assert_eq(ho_frame_encode(codecs[c], HO_FT_OFFER, &m, buf, need - 1, &n),
                 HO_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(ho_frame_encode(codecs[c], HO_FT_OFFER, &m, buf, 3, &n), HO_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(n, 777);
  }
  char small[8];
  size_t jn = 99;
  cr_assert_eq(ho_offer_to_json(&m.offer, small, sizeof small, &jn), HO_ERR_BUFFER_TOO_SMALL);
  cr_assert_eq(jn, 99);
  cr_assert_eq(strlen(small), sizeof small - 1);
}

/* spec: MSG-13 — encoders refuse what a decoder would reject. */
Test(codec, encoders_enforce_caps) {
  for (size_t c = 0; c < 2; c++) {
    size_t n = 0;
    ho_offer o = sample_offer();
    memset(o.service_name, 'x', sizeof o.service_name); /* no NUL: 65 bytes */
    cr_assert_eq(ho_offer_encode(codecs[c], &o, buf, sizeof buf, &n), HO_ERR_STRING_TOO_LONG);
    o = sample_offer();
    strcpy(o.service_name, "\xc0\x80");
    cr_assert_eq(ho_offer_encode(codecs[c], &o, buf, sizeof buf, &n), HO_ERR_STRING_INVALID);

    ho_hello h;
    memset(&h, 0, sizeof h);
    h.auth_token.len = HO_MAX_HELLO_BLOB + 1;
    cr_assert_eq(ho_hello_encode(codecs[c], &h, buf, sizeof buf, &n), HO_ERR_STRING_TOO_LONG);

    ho_hello_reply r;
    memset(&r, 0, sizeof r);
    r.which = HO_REPLY_NEGOTIATED;
    r.negotiated.handle_passed_token_len = 15;
    cr_assert_eq(ho_hello_reply_encode(codecs[c], &r, buf, sizeof buf, &n), HO_ERR_TOKEN_LENGTH);
    r.negotiated.handle_passed_token_len = 0;
    r.negotiated.warnings_count = HO_MAX_WARNINGS + 1;
    cr_assert_eq(ho_hello_reply_encode(codecs[c], &r, buf, sizeof buf, &n), HO_ERR_TOO_MANY_ITEMS);
    r.which = 7;
    cr_assert_eq(ho_hello_reply_encode(codecs[c], &r, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);

    r = sample_refused();
    r.refused.details_count = HO_MAX_DETAILS + 1;
    cr_assert_eq(ho_hello_reply_encode(codecs[c], &r, buf, sizeof buf, &n), HO_ERR_TOO_MANY_ITEMS);
    r = sample_refused();
    strcpy(r.refused.details[1].key, "a"); /* duplicate key cannot round-trip */
    cr_assert_eq(ho_hello_reply_encode(codecs[c], &r, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);

    ho_envelope e;
    memset(&e, 0, sizeof e);
    e.kind = 0x80000000u; /* enum values are int32 on the wire */
    cr_assert_eq(ho_envelope_encode(codecs[c], &e, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
    e.kind = 0;
    e.payload_len = 3; /* NULL payload with a length */
    cr_assert_eq(ho_envelope_encode(codecs[c], &e, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
  }
}

/* Encode with one codec, decode with the other: same message, and the two
 * encoders produce identical bytes. spec: MSG-14 */
Test(codec, round_trips_across_codecs) {
  ho_any_msg in[5], out;
  ho_frame_type t[5] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK, HO_FT_READY};
  memset(in, 0, sizeof in);
  in[0].hello.client_min_protocol = 1;
  in[0].hello.client_max_protocol = 1;
  strcpy(in[0].hello.service_name, "echo");
  strcpy(in[0].hello.client_lib_version, "gr\xc3\xbc\xc3\x9f");
  in[0].hello.capability_token.len = 5;
  in[0].hello.client_keepalive_secs = UINT64_MAX;
  in[1].hello_reply = sample_refused();
  in[2].offer = sample_offer();
  in[2].offer.offer_flags = HO_OFFER_FLAG_BACKEND_READY;
  memset(in[3].ack.token, 9, HO_TOKEN_BYTES);
  strcpy(in[3].ack.error_detail, "TOKEN_MISMATCH");
  in[3].ack.correlation_id = 77;
  in[4] = in[3];
  in[4].ack.accepted = true;
  for (size_t i = 0; i < 5; i++) {
    uint8_t a[4096], b[4096];
    size_t na = 0, nb = 0, jn = 0;
    cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, t[i], &in[i], a, sizeof a, &na), HO_OK);
    cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, t[i], &in[i], b, sizeof b, &nb), HO_OK);
    cr_assert(na == nb && memcmp(a, b, na) == 0, "type %d: encoders differ", t[i]);
    ho_envelope env;
    for (size_t c = 0; c < 2; c++) {
      cr_assert_eq(ho_frame_decode(codecs[c], t[i], a, na, &env, &out), HO_OK);
      cr_assert_eq(ho_frame_to_json(t[i], &env, &out, js[c], sizeof js[c], &jn), HO_OK);
      /* zero-copy: the payload view lies inside the input */
      cr_assert(env.payload >= a && env.payload + env.payload_len <= a + na);
    }
    cr_assert_str_eq(js[0], js[1]);
    ho_any_msg again;
    ho_envelope env2;
    cr_assert_eq(ho_frame_decode(HO_CODEC_NANOPB, t[i], b, nb, &env2, &again), HO_OK);
    size_t j1 = 0, j2 = 0;
    ho_frame_to_json(t[i], &env2, &again, js[0], sizeof js[0], &j1);
    cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, t[i], &again, b, sizeof b, &nb), HO_OK);
    cr_assert(na == nb && memcmp(a, b, na) == 0, "type %d: decode/encode not stable", t[i]);
    (void)j2;
  }
}

/* spec: ENV-4 ENV-5 — the fixed order of the envelope checks. */
Test(codec, envelope_validate_order) {
  struct {
    uint32_t ver, kind, proto, enc;
    int want;
  } cases[] = {
      {1, 0, 0xD0FF, 0, HO_OK},
      {2, 9, 0, 9, HO_ERR_ENVELOPE_VERSION},
      {1, 9, 0, 9, HO_ERR_UNKNOWN_KIND},
      {1, 4, 0xD0FF, 0, HO_ERR_UNKNOWN_KIND},
      {1, 1, 0, 9, HO_ERR_WRONG_KIND},
      {1, 0, 0, 9, HO_ERR_PAYLOAD_PROTOCOL},
      {1, 0, 0xD0FF, 4, HO_ERR_UNKNOWN_ENCODING},
      {1, 0, 0xD0FF, 1, HO_ERR_PAYLOAD_COMPRESSED},
      {1, 0, 0xD0FF, 3, HO_ERR_PAYLOAD_COMPRESSED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ho_envelope e;
    memset(&e, 0, sizeof e);
    e.envelope_version = cases[i].ver;
    e.kind = cases[i].kind;
    e.payload_protocol = cases[i].proto;
    e.payload_encoding = cases[i].enc;
    cr_assert_eq(ho_envelope_validate(&e, HO_KIND_REQUEST, HO_PAYLOAD_HANDOFF), cases[i].want,
                 "case %zu", i);
  }
  ho_envelope e;
  memset(&e, 0, sizeof e);
  cr_assert_eq(ho_envelope_validate(&e, 4, 0), HO_ERR_INVALID_ARGUMENT);
}

Test(codec, frame_decode_edges) {
  ho_any_msg m, out;
  m.offer = sample_offer();
  size_t n = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_OFFER, &m, buf, sizeof buf - 1, &n), HO_OK);
  buf[n] = 0;
  for (size_t c = 0; c < 2; c++) {
    /* one byte past the frame: not exactly one frame */
    cr_assert_eq(ho_frame_decode(codecs[c], HO_FT_OFFER, buf, n + 1, NULL, &out),
                 HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_frame_decode(codecs[c], HO_FT_OFFER, buf, n, NULL, &out), HO_OK);
    /* the same body read by ho_frame_reader */
    cr_assert_eq(ho_frame_decode_body(codecs[c], HO_FT_OFFER, buf + 5, n - 5, NULL, &out), HO_OK);
    /* a Hello body above 64 KiB is refused whatever it holds (FRAME-5) */
    cr_assert_eq(ho_frame_decode_body(codecs[c], HO_FT_HELLO, buf, HO_MAX_HELLO_BYTES + 1, NULL,
                                      &out),
                 HO_ERR_FRAME_TOO_LARGE);
    /* an offer frame expected as a ready frame */
    cr_assert_eq(ho_frame_decode(codecs[c], HO_FT_READY, buf, n, NULL, &out), HO_ERR_WRONG_KIND);
  }
}

Test(codec, json_escapes_and_canonical_form) {
  ho_ack a;
  memset(&a, 0, sizeof a);
  strcpy(a.error_detail, "q\"b\\n\n\t\x01\x7f\xc3\xa9");
  a.correlation_id = UINT64_MAX;
  size_t n = 0;
  cr_assert_eq(ho_ack_to_json(&a, js[0], sizeof js[0], &n), HO_OK);
  cr_assert_str_eq(js[0], "{\"accepted\":false,\"backend_capabilities\":\"0\","
                          "\"correlation_id\":\"18446744073709551615\","
                          "\"error_detail\":\"q\\\"b\\\\n\\n\\t\\u0001\x7f\xc3\xa9\","
                          "\"token\":\"00000000000000000000000000000000\"}");
  cr_assert_eq(n, strlen(js[0]));
  ho_hello_reply r;
  memset(&r, 0, sizeof r);
  cr_assert_eq(ho_hello_reply_to_json(&r, js[0], sizeof js[0], &n), HO_OK);
  cr_assert_str_eq(js[0], "{}");
  cr_assert_eq(ho_frame_to_json((ho_frame_type)0, NULL, NULL, js[0], 10, &n),
               HO_ERR_INVALID_ARGUMENT);
}

/* spec: MSG-12 — many protobuf-c decodes, accepted and rejected, of every
 * type: under SAN=1 LeakSanitizer fails the run if anything is kept. */
Test(codec, protobuf_c_decodes_free_everything) {
  ho_any_msg m, out;
  m.hello_reply = sample_refused();
  size_t n = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, buf, sizeof buf, &n),
               HO_OK);
  for (int i = 0; i < 200; i++) {
    cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, buf, n, NULL, &out), HO_OK);
    cr_assert_eq(out.hello_reply.refused.details_count, 2);
    /* truncated inside the payload: rejected by the scan, nothing allocated */
    cr_assert_neq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, buf, n - 1, NULL, &out),
                  HO_OK);
  }
}

/* spec: READY-1 READY-2 — the one ready-frame builder: an accepting ACK
 * EVENT with the token and correlation id, the same frame from both codecs,
 * decodable as HO_FT_READY; a missing token is an argument error. */
Test(codec, ready_frame_encode) {
  uint8_t tok[HO_TOKEN_BYTES];
  for (unsigned i = 0; i < HO_TOKEN_BYTES; i++) tok[i] = (uint8_t)(0xA0 + i);
  uint8_t a[256], b[256];
  size_t la = 0, lb = 0;
  cr_assert_eq(ho_ready_frame_encode(HO_CODEC_PROTOBUF_C, tok, 77, a, sizeof a, &la), HO_OK);
  cr_assert_eq(ho_ready_frame_encode(HO_CODEC_NANOPB, tok, 77, b, sizeof b, &lb), HO_OK);
  cr_assert_eq(la, lb);
  cr_assert_eq(memcmp(a, b, la), 0, "both codecs write the same ready frame");
  ho_any_msg m;
  ho_envelope env;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, a, la, &env, &m), HO_OK);
  cr_assert(m.ack.accepted);
  cr_assert_eq(m.ack.correlation_id, 77);
  cr_assert_eq(env.request_id, 77);
  cr_assert_eq(memcmp(m.ack.token, tok, HO_TOKEN_BYTES), 0);
  size_t keep = 12345;
  cr_assert_eq(ho_ready_frame_encode(HO_CODEC_PROTOBUF_C, NULL, 77, a, sizeof a, &keep),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(keep, 12345);
  cr_assert_eq(ho_ready_frame_encode(HO_CODEC_PROTOBUF_C, tok, 77, a, 4, &keep),
               HO_ERR_BUFFER_TOO_SMALL);
}
