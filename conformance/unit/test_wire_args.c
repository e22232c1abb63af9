/* Unit tests: the argument contract of every public function of the wire
 * layer (frame.h, msg.h, msg_json.h, error.h) — each documented
 * HO_ERR_INVALID_ARGUMENT / HO_ERR_BUFFER_TOO_SMALL / HO_ERR_STATE case, and
 * outputs left untouched on failure as the headers promise. */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/msg_json.h"

static uint8_t buf[HO_MAX_HELLO_BYTES];
static const ho_codec bad_codec = (ho_codec)7;

/* ---- frame.h ------------------------------------------------------------ */

Test(wire_args, frame_reader_init_rejects_bad_buffers_and_leaves_the_reader) {
  ho_frame_reader r, before;
  memset(&r, 0x3C, sizeof r);
  before = r;
  cr_assert_eq(ho_frame_reader_init(NULL, buf, sizeof buf, HO_MAX_HELLO_BYTES), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_init(&r, NULL, 16, 16), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_init(&r, NULL, 0, 16), HO_ERR_INVALID_ARGUMENT); /* cap < 16 */
  cr_assert_eq(ho_frame_reader_init(&r, buf, sizeof buf, 0), HO_ERR_INVALID_ARGUMENT); /* 16 MiB */
  cr_assert_eq(ho_frame_reader_init(&r, buf, sizeof buf, HO_MAX_FRAME_BYTES + 1),
               HO_ERR_INVALID_ARGUMENT); /* lowered to 16 MiB, still above cap */
  cr_assert_arr_eq(&r, &before, sizeof r);
}

Test(wire_args, frame_reader_cap_above_16_mib_is_lowered) {
  static uint8_t big[HO_MAX_FRAME_BYTES];
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, big, sizeof big, HO_MAX_FRAME_BYTES + 1), HO_OK);
  uint8_t hdr[5] = {1, 1, 0, 0, 1}; /* 16 MiB + 1 */
  size_t used = 0;
  cr_assert_eq(ho_frame_reader_feed(&r, hdr, 5, &used), HO_ERR_FRAME_TOO_LARGE);
  cr_assert_eq(used, 5);
}

Test(wire_args, frame_reader_calls_with_null_pointers) {
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, buf, sizeof buf, HO_MAX_HELLO_BYTES), HO_OK);
  size_t used = 99;
  const uint8_t one = 1;
  cr_assert_eq(ho_frame_reader_feed(NULL, &one, 1, &used), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_feed(&r, &one, 1, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_feed(&r, NULL, 1, &used), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(used, 99);
  cr_assert_eq(ho_frame_reader_needed(NULL), 0);
  const uint8_t *b = NULL;
  size_t bl = 0;
  cr_assert_eq(ho_frame_reader_body(NULL, &b, &bl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_body(&r, NULL, &bl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_body(&r, &b, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_next(NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_finish(NULL), HO_ERR_INVALID_ARGUMENT);
}

/* Regression (found by SAN=1 with this file): a NULL input of length 0 is
 * valid (frame.h) but reached memcpy(dst, NULL, 0), undefined behaviour. */
Test(wire_args, frame_reader_feed_null_input_of_length_zero) {
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, buf, sizeof buf, HO_MAX_HELLO_BYTES), HO_OK);
  size_t used = 99;
  cr_assert_eq(ho_frame_reader_feed(&r, NULL, 0, &used), HO_OK); /* nothing fed */
  cr_assert_eq(used, 0);
  cr_assert_eq(ho_frame_reader_needed(&r), HO_FRAME_HEADER_BYTES);
  const uint8_t hdr[5] = {1, 0, 0, 0, 0};
  cr_assert_eq(ho_frame_reader_feed(&r, hdr, 5, &used), 1);
  cr_assert_eq(ho_frame_reader_next(&r), HO_OK);
  cr_assert_eq(ho_frame_reader_feed(&r, hdr, 2, &used), HO_OK); /* mid-header */
  cr_assert_eq(ho_frame_reader_feed(&r, NULL, 0, &used), HO_OK);
  cr_assert_eq(used, 0);
  cr_assert_eq(ho_frame_reader_needed(&r), 3);
}

Test(wire_args, frame_write_header_null_and_too_large) {
  uint8_t hdr[5] = {9, 9, 9, 9, 9};
  cr_assert_eq(ho_frame_write_header(NULL, 1), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_write_header(hdr, (size_t)HO_MAX_FRAME_BYTES + 1), HO_ERR_FRAME_TOO_LARGE);
  cr_assert_eq(hdr[0], 9);
  cr_assert_eq(ho_frame_write_header(hdr, HO_MAX_FRAME_BYTES), HO_OK);
}

Test(wire_args, frame_parse_arguments_and_empty_input) {
  const uint8_t *b = (const uint8_t *)"x";
  size_t bl = 77;
  const uint8_t w[5] = {1, 0, 0, 0, 0};
  cr_assert_eq(ho_frame_parse(NULL, 5, 0, &b, &bl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_parse(w, 5, 0, NULL, &bl), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_parse(w, 5, 0, &b, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_parse(NULL, 0, 0, &b, &bl), HO_ERR_TRUNCATED); /* spec: FRAME-4 */
  cr_assert_eq(ho_frame_parse(w, 0, 0, &b, &bl), HO_ERR_TRUNCATED);
  cr_assert_eq(bl, 77);
  cr_assert_eq(ho_frame_parse(w, 5, 0, &b, &bl), HO_OK);
  cr_assert_eq(bl, 0);
}

/* ---- msg.h ---------------------------------------------------------------- */

static ho_any_msg m;
static ho_envelope env;

Test(wire_args, decoders_reject_bad_codec_null_output_and_null_input) {
  const uint8_t p[2] = {0x08, 0x01};
  cr_assert_eq(ho_envelope_decode(bad_codec, p, 2, &env), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_envelope_decode(HO_CODEC_NANOPB, p, 2, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_envelope_decode(HO_CODEC_NANOPB, NULL, 2, &env), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_hello_decode(bad_codec, p, 2, &m.hello), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_offer_decode(HO_CODEC_PROTOBUF_C, NULL, 1, &m.offer), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_decode(HO_CODEC_PROTOBUF_C, p, 2, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_hello_reply_decode(bad_codec, p, 2, &m.hello_reply), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_hello_reply_decode(HO_CODEC_NANOPB, p, 2, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_hello_reply_decode(HO_CODEC_NANOPB, NULL, 2, &m.hello_reply),
               HO_ERR_INVALID_ARGUMENT);
  /* NULL with length 0 is the empty message. */
  cr_assert_eq(ho_hello_decode(HO_CODEC_NANOPB, NULL, 0, &m.hello), HO_OK);
  cr_assert_eq(ho_hello_reply_decode(HO_CODEC_PROTOBUF_C, NULL, 0, &m.hello_reply), HO_OK);
  cr_assert_eq(m.hello_reply.which, HO_REPLY_NONE); /* spec: MSG-16 */
}

Test(wire_args, encoders_reject_bad_arguments_and_keep_len_on_short_buffers) {
  memset(&m, 0, sizeof m);
  memset(m.offer.token, 7, sizeof m.offer.token);
  strcpy(m.offer.service_name, "echo");
  size_t n = 4242;
  cr_assert_eq(ho_offer_encode(bad_codec, &m.offer, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_offer_encode(HO_CODEC_NANOPB, NULL, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_offer_encode(HO_CODEC_NANOPB, &m.offer, buf, sizeof buf, NULL),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_offer_encode(HO_CODEC_NANOPB, &m.offer, NULL, 8, &n), HO_ERR_INVALID_ARGUMENT);
  for (int c = 0; c < 2; c++) {
    cr_assert_eq(ho_offer_encode((ho_codec)c, &m.offer, buf, 3, &n), HO_ERR_BUFFER_TOO_SMALL);
    cr_assert_eq(ho_offer_encode((ho_codec)c, &m.offer, NULL, 0, &n), HO_ERR_BUFFER_TOO_SMALL);
  }
  cr_assert_eq(n, 4242);
  memset(&env, 0, sizeof env);
  env.payload_len = 3; /* and no payload */
  cr_assert_eq(ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, buf, sizeof buf, &n),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(n, 4242);
}

Test(wire_args, frame_functions_reject_unknown_types_and_null_pointers) {
  memset(&m, 0, sizeof m);
  size_t n = 1;
  const uint8_t w[5] = {1, 0, 0, 0, 0};
  for (int t = 0; t <= 6; t += 6) {
    cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, (ho_frame_type)t, &m, buf, sizeof buf, &n),
                 HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_frame_decode(HO_CODEC_NANOPB, (ho_frame_type)t, w, 5, &env, &m),
                 HO_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ho_frame_decode_body(HO_CODEC_NANOPB, (ho_frame_type)t, w, 0, &env, &m),
                 HO_ERR_INVALID_ARGUMENT);
  }
  cr_assert_eq(ho_frame_encode(bad_codec, HO_FT_ACK, &m, buf, sizeof buf, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_ACK, NULL, buf, sizeof buf, &n),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_ACK, &m, buf, sizeof buf, NULL),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_ACK, &m, NULL, 4, &n), HO_ERR_INVALID_ARGUMENT);
  m.hello_reply.which = 3; /* neither member */
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_HELLO_REPLY, &m, buf, sizeof buf, &n),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(n, 1);
  cr_assert_eq(ho_frame_decode(bad_codec, HO_FT_ACK, w, 5, &env, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, w, 5, &env, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, NULL, 5, &env, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_decode_body(bad_codec, HO_FT_ACK, w, 0, &env, &m), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_decode_body(HO_CODEC_NANOPB, HO_FT_ACK, w, 0, &env, NULL),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_decode_body(HO_CODEC_NANOPB, HO_FT_ACK, NULL, 3, &env, &m),
               HO_ERR_INVALID_ARGUMENT);
  /* No buffer at all: too small, not an invalid argument. */
  memset(&m, 0, sizeof m);
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_ACK, &m, NULL, 0, &n), HO_ERR_BUFFER_TOO_SMALL);
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, &m, NULL, 0, &n),
               HO_ERR_BUFFER_TOO_SMALL);
  cr_assert_eq(n, 1);
  /* NULL with length 0: an empty body, an empty input. */
  cr_assert_eq(ho_frame_decode_body(HO_CODEC_NANOPB, HO_FT_ACK, NULL, 0, &env, &m),
               HO_ERR_ENVELOPE_VERSION);
  cr_assert_eq(ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, NULL, 0, &env, &m), HO_ERR_TRUNCATED);
  /* env may be NULL (msg.h). */
  cr_assert_eq(ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, w, 5, NULL, &m), HO_ERR_ENVELOPE_VERSION);
}

Test(wire_args, envelope_validate_rejects_an_expected_kind_above_cancel) {
  memset(&env, 0, sizeof env);
  env.envelope_version = 1;
  cr_assert_eq(ho_envelope_validate(&env, HO_KIND_CANCEL + 1, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_envelope_validate(NULL, 0, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_envelope_validate(&env, HO_KIND_REQUEST, 0), HO_OK);
}

/* ---- msg_json.h ------------------------------------------------------------- */

Test(wire_args, renderers_reject_null_pointers_and_unknown_types) {
  char out[64];
  size_t n = 5;
  memset(&m, 0, sizeof m);
  memset(&env, 0, sizeof env);
  cr_assert_eq(ho_hello_to_json(NULL, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_offer_to_json(&m.offer, out, sizeof out, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_ack_to_json(&m.ack, NULL, 8, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_envelope_to_json(NULL, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_hello_reply_to_json(NULL, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_to_json(HO_FT_ACK, NULL, &m, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_to_json(HO_FT_ACK, &env, NULL, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_to_json(HO_FT_ACK, &env, &m, out, sizeof out, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_to_json(HO_FT_ACK, &env, &m, NULL, 4, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_to_json((ho_frame_type)9, &env, &m, out, sizeof out, &n),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(ho_frame_type_name((ho_frame_type)0));
  cr_assert_eq(n, 5);
}

Test(wire_args, hello_reply_renders_an_empty_object_without_a_member) {
  char out[16];
  size_t n = 0;
  memset(&m, 0, sizeof m);
  cr_assert_eq(ho_hello_reply_to_json(&m.hello_reply, out, sizeof out, &n), HO_OK);
  cr_assert_str_eq(out, "{}");
}

Test(wire_args, renderers_clamp_counts_of_a_struct_not_from_a_decoder) {
  static char out[HO_JSON_MSG_MAX * 4];
  size_t n = 0;
  memset(&m, 0, sizeof m);
  m.hello_reply.which = HO_REPLY_REFUSED;
  m.hello_reply.refused.details_count = HO_MAX_DETAILS + 5;
  cr_assert_eq(ho_hello_reply_to_json(&m.hello_reply, out, sizeof out, &n), HO_OK);
  m.hello_reply.which = HO_REPLY_NEGOTIATED;
  m.hello_reply.negotiated.warnings_count = HO_MAX_WARNINGS + 1;
  m.hello_reply.negotiated.handle_passed_token_len = 99;
  cr_assert_eq(ho_hello_reply_to_json(&m.hello_reply, out, sizeof out, &n), HO_OK);
  cr_assert(strstr(out, "\"handle_passed_token\":\"\"") != NULL);
  memset(&m.hello, 0, sizeof m.hello);
  m.hello.auth_token.len = HO_MAX_HELLO_BLOB + 1;
  cr_assert_eq(ho_hello_to_json(&m.hello, out, sizeof out, &n), HO_OK);
}

/* ---- error.h ------------------------------------------------------------------ */

Test(wire_args, error_names_of_values_that_are_no_code) {
  cr_assert_str_eq(ho_strerror(-99999), "unknown error");
  cr_assert_str_neq(ho_strerror(HO_ERR_TRUNCATED), "unknown error");
  cr_assert_str_eq(ho_errname(HO_ERR_TRUNCATED), "TRUNCATED");
  cr_assert_null(ho_errname(-99999));
  cr_assert_eq(ho_err_from_name(NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_err_from_name("NOT_A_NAME"), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_err_from_name("OK"), HO_OK);
  cr_assert_eq(ho_err_class(-99999), -1);
  cr_assert_eq(ho_err_class(HO_OK), 0);
  cr_assert_eq(ho_err_class(HO_ERR_TRUNCATED), HO_ERRCLASS_FRAMING);
}

/* Every message renderer: NULL message, NULL len, NULL buffer with a size
 * (invalid), NULL buffer of size 0 (too small, *len untouched). */
typedef int (*render_fn)(const void *, char *, size_t, size_t *);
static int r_env(const void *p, char *o, size_t c, size_t *n) { return ho_envelope_to_json(p, o, c, n); }
static int r_hello(const void *p, char *o, size_t c, size_t *n) { return ho_hello_to_json(p, o, c, n); }
static int r_reply(const void *p, char *o, size_t c, size_t *n) {
  return ho_hello_reply_to_json(p, o, c, n);
}
static int r_offer(const void *p, char *o, size_t c, size_t *n) { return ho_offer_to_json(p, o, c, n); }
static int r_ack(const void *p, char *o, size_t c, size_t *n) { return ho_ack_to_json(p, o, c, n); }

Test(wire_args, every_renderer_argument_contract) {
  static const render_fn fns[] = {r_env, r_hello, r_reply, r_offer, r_ack};
  static char out[HO_JSON_MSG_MAX];
  memset(&m, 0, sizeof m);
  memset(&env, 0, sizeof env);
  const void *objs[] = {&env, &m.hello, &m.hello_reply, &m.offer, &m.ack};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    size_t n = 11;
    cr_assert_eq(fns[i](NULL, out, sizeof out, &n), HO_ERR_INVALID_ARGUMENT, "renderer %zu", i);
    cr_assert_eq(fns[i](objs[i], out, sizeof out, NULL), HO_ERR_INVALID_ARGUMENT, "renderer %zu", i);
    cr_assert_eq(fns[i](objs[i], NULL, 8, &n), HO_ERR_INVALID_ARGUMENT, "renderer %zu", i);
    cr_assert_eq(fns[i](objs[i], NULL, 0, &n), HO_ERR_BUFFER_TOO_SMALL, "renderer %zu", i);
    cr_assert_eq(n, 11);
    cr_assert_eq(fns[i](objs[i], out, sizeof out, &n), HO_OK, "renderer %zu", i);
    cr_assert_eq(strlen(out), n);
  }
}
