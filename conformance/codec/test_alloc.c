/* The nanopb path allocates nothing (DESIGN §4 "Memory"; Debian's
 * libprotobuf-nanopb.a is built with PB_ENABLE_MALLOC, so this is checked,
 * not assumed). Built as its own binary, linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free: every heap
 * call made by libhandoff.a and libprotobuf-nanopb.a goes through the
 * counters below (with or without ASan). spec: MSG-12 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/msg.h"
#include "handoff/msg_json.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static volatile size_t heap_calls;
static volatile int counting;

void *__wrap_malloc(size_t n) {
  if (counting) heap_calls++;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  if (counting) heap_calls++;
  return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  if (counting) heap_calls++;
  return __real_realloc(p, n);
}
void __wrap_free(void *p) {
  if (counting) heap_calls++;
  __real_free(p);
}

static void count_start(void) {
  heap_calls = 0;
  counting = 1;
}
static size_t count_stop(void) {
  counting = 0;
  return heap_calls;
}

static ho_any_msg msgs[6];
static ho_frame_type types[6] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_HELLO_REPLY,
                                 HO_FT_OFFER, HO_FT_ACK, HO_FT_READY};

static void fill_messages(void) {
  memset(msgs, 0, sizeof msgs);
  ho_hello *h = &msgs[0].hello;
  h->client_min_protocol = h->client_max_protocol = 1;
  strcpy(h->service_name, "echo");
  strcpy(h->client_version, "1.0.0");
  h->client_capabilities = HO_CAP_HANDLE_PASSING;
  h->auth_token.len = 3;
  ho_hello_reply *r = &msgs[1].hello_reply;
  r->which = HO_REPLY_NEGOTIATED;
  r->negotiated.negotiated_protocol = 1;
  strcpy(r->negotiated.backend_pipe, "/run/echo.sock");
  r->negotiated.warnings_count = 2;
  strcpy(r->negotiated.warnings[0], "w0");
  r->negotiated.handle_passed_token_len = HO_TOKEN_BYTES;
  memset(r->negotiated.handle_passed_token, 7, HO_TOKEN_BYTES);
  ho_hello_reply *rf = &msgs[2].hello_reply;
  rf->which = HO_REPLY_REFUSED;
  strcpy(rf->refused.reason, "SERVICE_NAME");
  rf->refused.code = HO_REFUSE_SERVICE_UNKNOWN;
  rf->refused.details_count = 2;
  strcpy(rf->refused.details[0].key, "a");
  strcpy(rf->refused.details[1].key, "b");
  strcpy(rf->refused.details[1].value, "v");
  ho_offer *o = &msgs[3].offer;
  memset(o->token, 1, HO_TOKEN_BYTES);
  strcpy(o->service_name, "echo");
  o->correlation_id = 42;
  for (int i = 4; i < 6; i++) {
    memset(msgs[i].ack.token, 2, HO_TOKEN_BYTES);
    msgs[i].ack.accepted = true;
    msgs[i].ack.correlation_id = 43;
  }
}

static uint8_t wire[8192];
static char json[16384];

/* Positive control: the counter does see library allocations (the
 * protobuf-c frame encoder mallocs its payload scratch). */
Test(codec_alloc, counter_sees_library_allocations) {
  fill_messages();
  size_t n = 0;
  count_start();
  int rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &msgs[3], wire, sizeof wire, &n);
  size_t calls = count_stop();
  cr_assert_eq(rc, HO_OK);
  cr_assert_geq(calls, 2, "malloc+free expected, saw %zu", calls);
}

Test(codec_alloc, nanopb_frame_encode_decode_every_type_allocates_nothing) {
  fill_messages();
  for (size_t i = 0; i < 6; i++) {
    size_t n = 0, jn = 0;
    ho_envelope env;
    ho_any_msg out;
    count_start();
    int rc1 = ho_frame_encode(HO_CODEC_NANOPB, types[i], &msgs[i], wire, sizeof wire, &n);
    int rc2 = ho_frame_decode(HO_CODEC_NANOPB, types[i], wire, n, &env, &out);
    int rc3 = ho_frame_to_json(types[i], &env, &out, json, sizeof json, &jn);
    size_t calls = count_stop();
    cr_assert_eq(rc1, HO_OK, "type %d", types[i]);
    cr_assert_eq(rc2, HO_OK, "type %d: %s", types[i], ho_errname(rc2));
    cr_assert_eq(rc3, HO_OK);
    cr_assert_eq(calls, 0, "type %d: %zu heap calls", types[i], calls);
  }
}

Test(codec_alloc, nanopb_message_and_envelope_codecs_allocate_nothing) {
  fill_messages();
  uint8_t pay[4096];
  size_t n = 0, pn = 0;
  ho_any_msg out;
  ho_envelope env;
  memset(&env, 0, sizeof env);
  count_start();
  int rc = ho_hello_encode(HO_CODEC_NANOPB, &msgs[0].hello, pay, sizeof pay, &pn);
  rc |= ho_hello_decode(HO_CODEC_NANOPB, pay, pn, &out.hello);
  rc |= ho_hello_reply_encode(HO_CODEC_NANOPB, &msgs[2].hello_reply, pay, sizeof pay, &pn);
  rc |= ho_hello_reply_decode(HO_CODEC_NANOPB, pay, pn, &out.hello_reply);
  rc |= ho_offer_encode(HO_CODEC_NANOPB, &msgs[3].offer, pay, sizeof pay, &pn);
  rc |= ho_offer_decode(HO_CODEC_NANOPB, pay, pn, &out.offer);
  rc |= ho_ack_encode(HO_CODEC_NANOPB, &msgs[4].ack, pay, sizeof pay, &pn);
  rc |= ho_ack_decode(HO_CODEC_NANOPB, pay, pn, &out.ack);
  env.envelope_version = 1;
  env.payload = pay;
  env.payload_len = pn;
  rc |= ho_envelope_encode(HO_CODEC_NANOPB, &env, wire, sizeof wire, &n);
  rc |= ho_envelope_decode(HO_CODEC_NANOPB, wire, n, &env);
  size_t calls = count_stop();
  cr_assert_eq(rc, HO_OK);
  cr_assert_eq(calls, 0, "%zu heap calls", calls);
}

/* Rejected input and the normalising stream (wide varints) too. */
Test(codec_alloc, nanopb_rejects_and_normalises_without_allocating) {
  /* ACK frame whose `accepted` is a varint of 2^40 (normalised) ... */
  static const uint8_t wide[] = {0x01, 0x25, 0, 0, 0, 0x08, 0x01, 0x10, 0x01, 0x18, 0xff, 0xa1,
                                 0x03, 0x22, 0x1b, 0x0a, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                 10, 11, 12, 13, 14, 15, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80,
                                 0x20, 0x20, 0x00};
  /* ... and one whose token is 15 bytes. */
  static const uint8_t bad[] = {0x01, 0x1d, 0, 0, 0, 0x08, 0x01, 0x10, 0x01, 0x18, 0xff, 0xa1,
                                0x03, 0x22, 0x13, 0x0a, 0x0f, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                10, 11, 12, 13, 14, 0x20, 0x00};
  ho_any_msg out;
  count_start();
  int rc1 = ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, wide, sizeof wide, NULL, &out);
  bool accepted = out.ack.accepted;
  int rc2 = ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, bad, sizeof bad, NULL, &out);
  size_t calls = count_stop();
  cr_assert_eq(rc1, HO_OK, "%s", ho_errname(rc1));
  cr_assert(accepted, "a non-zero varint is true (spec: MSG-11)");
  cr_assert_eq(rc2, HO_ERR_TOKEN_LENGTH, "%s", ho_errname(rc2));
  cr_assert_eq(calls, 0, "%zu heap calls", calls);
}
