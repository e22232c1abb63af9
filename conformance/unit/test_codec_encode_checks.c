/* Unit tests: what the encoders refuse (ref/lib/wire/msg_check.c), field by
 * field, through both codecs: a string array without its NUL (longer than
 * its cap) is STRING_TOO_LONG, a string that is not UTF-8 STRING_INVALID, a
 * bytes field above its cap STRING_TOO_LONG, an enum of 2^31 or more
 * INVALID_ARGUMENT — so that an encoder only writes what a decoder accepts.
 * spec: MSG-13 MSG-6 MSG-7 */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/msg.h"

static ho_any_msg m;
static ho_envelope env;
static uint8_t out[8192];
static const char bad_utf8[] = "\xc0\x80"; /* overlong NUL */

static void base(void) {
  memset(&m, 0, sizeof m);
  memset(&env, 0, sizeof env);
  env.envelope_version = 1;
}

typedef int (*enc_fn)(ho_codec);
static int enc_hello(ho_codec c) {
  size_t n;
  return ho_hello_encode(c, &m.hello, out, sizeof out, &n);
}
static int enc_reply(ho_codec c) {
  size_t n;
  return ho_hello_reply_encode(c, &m.hello_reply, out, sizeof out, &n);
}
static int enc_offer(ho_codec c) {
  size_t n;
  return ho_offer_encode(c, &m.offer, out, sizeof out, &n);
}
static int enc_ack(ho_codec c) {
  size_t n;
  return ho_ack_encode(c, &m.ack, out, sizeof out, &n);
}
static int enc_env(ho_codec c) {
  size_t n;
  return ho_envelope_encode(c, &env, out, sizeof out, &n);
}

static void expect(enc_fn f, int want, const char *what) {
  for (int c = 0; c < 2; c++) {
    int rc = f((ho_codec)c);
    cr_assert_eq(rc, want, "%s [codec %d]: %s, want %s", what, c, ho_errname(rc), ho_errname(want));
  }
}

/* The field alone made too long (no NUL in its array), then not UTF-8. */
#define STRING_FIELD(setup, f, field)                                                              \
  do {                                                                                             \
    base();                                                                                        \
    setup;                                                                                         \
    expect(f, HO_OK, #field " baseline");                                                          \
    memset(field, 'a', sizeof field);                                                              \
    expect(f, HO_ERR_STRING_TOO_LONG, #field " without NUL");                                      \
    base();                                                                                        \
    setup;                                                                                         \
    strcpy(field, bad_utf8);                                                                       \
    expect(f, HO_ERR_STRING_INVALID, #field " not UTF-8");                                         \
  } while (0)

#define BLOB_FIELD(f, blob)                                                                        \
  do {                                                                                             \
    base();                                                                                        \
    blob.len = sizeof blob.data + 1;                                                               \
    expect(f, HO_ERR_STRING_TOO_LONG, #blob " above its cap");                                     \
  } while (0)

Test(codec_encode_checks, hello_strings_and_blobs) {
  STRING_FIELD((void)0, enc_hello, m.hello.service_name);
  STRING_FIELD((void)0, enc_hello, m.hello.wanted_version);
  STRING_FIELD((void)0, enc_hello, m.hello.client_version);
  STRING_FIELD((void)0, enc_hello, m.hello.request_id);
  STRING_FIELD((void)0, enc_hello, m.hello.client_lib_name);
  STRING_FIELD((void)0, enc_hello, m.hello.client_lib_version);
  BLOB_FIELD(enc_hello, m.hello.auth_token);
  BLOB_FIELD(enc_hello, m.hello.peer_attestation_nonce);
  BLOB_FIELD(enc_hello, m.hello.capability_token);
}

#define NEG m.hello_reply.which = HO_REPLY_NEGOTIATED
#define REF m.hello_reply.which = HO_REPLY_REFUSED
#define REF1 (REF, m.hello_reply.refused.details_count = 1)
#define NEG1 (NEG, m.hello_reply.negotiated.warnings_count = 1)

Test(codec_encode_checks, hello_reply_strings) {
  STRING_FIELD(NEG, enc_reply, m.hello_reply.negotiated.daemon_version);
  STRING_FIELD(NEG, enc_reply, m.hello_reply.negotiated.backend_pipe);
  STRING_FIELD(NEG1, enc_reply, m.hello_reply.negotiated.warnings[0]);
  STRING_FIELD(REF, enc_reply, m.hello_reply.refused.reason);
  STRING_FIELD(REF1, enc_reply, m.hello_reply.refused.details[0].key);
  STRING_FIELD(REF1, enc_reply, m.hello_reply.refused.details[0].value);
}

Test(codec_encode_checks, hello_reply_counts_tokens_enums_and_duplicate_keys) {
  base();
  NEG;
  m.hello_reply.negotiated.warnings_count = HO_MAX_WARNINGS + 1;
  expect(enc_reply, HO_ERR_TOO_MANY_ITEMS, "warnings above the cap");
  base();
  NEG;
  m.hello_reply.negotiated.handle_passed_token_len = 15;
  expect(enc_reply, HO_ERR_TOKEN_LENGTH, "15-byte handle_passed_token");
  base();
  REF;
  m.hello_reply.refused.details_count = HO_MAX_DETAILS + 1;
  expect(enc_reply, HO_ERR_TOO_MANY_ITEMS, "details above the cap");
  base();
  REF;
  m.hello_reply.refused.code = 0x80000000u;
  expect(enc_reply, HO_ERR_INVALID_ARGUMENT, "Refused.code 2^31");
  base();
  REF;
  m.hello_reply.refused.details_count = 2; /* two empty keys */
  expect(enc_reply, HO_ERR_INVALID_ARGUMENT, "duplicate details key");
}

Test(codec_encode_checks, offer_ack_and_envelope_strings_and_enums) {
  STRING_FIELD((void)0, enc_offer, m.offer.service_name);
  STRING_FIELD((void)0, enc_ack, m.ack.error_detail);
  STRING_FIELD((void)0, enc_env, env.traceparent);
  STRING_FIELD((void)0, enc_env, env.tracestate);
  base();
  env.kind = 0x80000000u;
  expect(enc_env, HO_ERR_INVALID_ARGUMENT, "kind 2^31");
  base();
  env.payload_encoding = 0xFFFFFFFFu;
  expect(enc_env, HO_ERR_INVALID_ARGUMENT, "payload_encoding 2^32-1");
}
