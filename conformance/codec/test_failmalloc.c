/* Allocation failures on the protobuf-c path (failmalloc, as nghttp2 does):
 * every decode and encode that allocates is run once per allocation it
 * makes, with exactly that allocation failing. Each run must return HO_OK
 * or HO_ERR_NOMEM (never a crash, never another code), leave no block
 * allocated (spec: MSG-12), and once nothing fails give the right result.
 *
 * Its own binary, linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc,--wrap=free and protobuf-c's static library, so that the
 * allocations protobuf-c makes inside protobuf_c_message_unpack() fail too. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/msg.h"

#include "../failmalloc_wrap.h"

typedef int (*op_fn)(void);

/* Run op failing allocation k = 1, 2, ... until a run makes no failing
 * allocation; returns how many runs saw HO_ERR_NOMEM. */
static int sweep(const char *what, op_fn op) {
  int nomem = 0;
  for (long k = 1; k < 10000; k++) {
    allocs = 0, live = 0, fail_at = k;
    armed = 1;
    int rc = op();
    armed = 0;
    cr_assert_eq(live, 0, "%s, allocation %ld failing: %ld blocks leaked", what, k, live);
    if (allocs < k) { /* nothing failed: the plain result */
      cr_assert_eq(rc, HO_OK, "%s without failure: %s", what, ho_errname(rc));
      return nomem;
    }
    cr_assert(rc == HO_ERR_NOMEM, "%s, allocation %ld failing: %s", what, k, ho_errname(rc));
    nomem++;
  }
  cr_assert_fail("%s: no end", what);
  return nomem;
}

static uint8_t wire[4][2048];
static size_t wlen[4];
static const ho_frame_type types[4] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK};
static int cur;
static ho_any_msg msg, out;

static void fill(int i) {
  memset(&msg, 0, sizeof msg);
  switch (types[i]) {
  case HO_FT_HELLO:
    msg.hello.client_min_protocol = msg.hello.client_max_protocol = 1;
    strcpy(msg.hello.service_name, "echo");
    msg.hello.auth_token.len = 4;
    break;
  case HO_FT_HELLO_REPLY:
    msg.hello_reply.which = HO_REPLY_REFUSED;
    strcpy(msg.hello_reply.refused.reason, "no");
    msg.hello_reply.refused.details_count = 2;
    strcpy(msg.hello_reply.refused.details[0].key, "a");
    strcpy(msg.hello_reply.refused.details[1].key, "b");
    break;
  case HO_FT_OFFER:
    memset(msg.offer.token, 3, HO_TOKEN_BYTES);
    strcpy(msg.offer.service_name, "echo");
    msg.offer.correlation_id = 9;
    break;
  default:
    memset(msg.ack.token, 3, HO_TOKEN_BYTES);
    msg.ack.accepted = true;
    msg.ack.correlation_id = 9;
    break;
  }
}

static int op_decode(void) {
  return ho_frame_decode(HO_CODEC_PROTOBUF_C, types[cur], wire[cur], wlen[cur], NULL, &out);
}
static int op_encode(void) {
  size_t n = 0;
  uint8_t b[2048];
  int rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, types[cur], &msg, b, sizeof b, &n);
  if (rc == HO_OK && (n != wlen[cur] || memcmp(b, wire[cur], n) != 0)) return HO_ERR_STATE; /* not what was encoded before */
  return rc;
}

Test(codec_failmalloc, protobuf_c_decode_and_encode_fail_cleanly_at_every_allocation) {
  for (cur = 0; cur < 4; cur++) {
    fill(cur);
    cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, types[cur], &msg, wire[cur], sizeof wire[cur],
                                 &wlen[cur]),
                 HO_OK);
    int d = sweep("decode", op_decode);
    int e = sweep("encode", op_encode);
    cr_assert_gt(d, 0, "type %d: the protobuf-c decode allocates", types[cur]);
    cr_assert_gt(e, 0, "type %d: the protobuf-c frame encode allocates", types[cur]);
  }
}

/* A HelloReply whose member occurs twice goes through the merge buffer. */
Test(codec_failmalloc, merged_oneof_member_fails_cleanly) {
  static const uint8_t reply[] = {0x12, 0x04, 0x0a, 0x02, 'n', 'o', 0x12, 0x02, 0x20, 0x05};
  int rc;
  static ho_hello_reply r;
  for (long k = 1;; k++) {
    allocs = 0, live = 0, fail_at = k;
    armed = 1;
    rc = ho_hello_reply_decode(HO_CODEC_PROTOBUF_C, reply, sizeof reply, &r);
    armed = 0;
    cr_assert_eq(live, 0, "allocation %ld failing: leak", k);
    if (allocs < k) break;
    cr_assert_eq(rc, HO_ERR_NOMEM);
  }
  cr_assert_eq(rc, HO_OK);
  cr_assert_eq(r.which, HO_REPLY_REFUSED);
  cr_assert_str_eq(r.refused.reason, "no");
  cr_assert_eq(r.refused.code, 5);
}
