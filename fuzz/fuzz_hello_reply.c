/* Target functions: ho_hello_reply_decode ho_hello_reply_encode
 * ho_frame_decode (ref/lib/wire/msg.c, scan.c, codec_pbc.c, codec_npb.c,
 * msg_check.c).
 *
 * The input is a bare HelloReply payload (the oneof of Negotiated and
 * Refused). Round-trip property of the HelloReply decoder alone
 * (fuzz_roundtrip.h): both codecs agree on the verdict and the values (the
 * member present last wins, repeated occurrences of one member merge, the
 * Refused.details map keeps the last value of a key), decode -> encode ->
 * decode gives equal values through either codec, and the payload inside a
 * HelloReply frame decodes the same.
 * spec: MSG-1 MSG-2 MSG-6 MSG-8 MSG-9 MSG-13 MSG-14 MSG-15 MSG-16
 *
 * The one decodable value the encoders refuse: Refused.code of 2^31 or
 * more (an enum protobuf would write as a negative int32; MSG-13).
 *
 * libFuzzer build: make fuzz-run-fuzz_hello_reply (structure-aware mutator
 * of proto_mutator.h); replay: -DHO_FUZZ_REPLAY_MAIN (make test).
 */
#define HO_FUZZ_NAME "fuzz_hello_reply"
#include "fuzz_roundtrip.h"

static int dec(ho_codec c, const uint8_t *b, size_t n, void *o) {
  return ho_hello_reply_decode(c, b, n, o);
}
static int enc(ho_codec c, const void *m, uint8_t *o, size_t cap, size_t *n) {
  return ho_hello_reply_encode(c, m, o, cap, n);
}
static const char *diff(const void *a, const void *b) { return fz_diff_hello_reply(a, b); }
static const char *shape(const void *m) { return fz_shape_hello_reply(m); }
static int may_refuse(const void *m, int rc) {
  const ho_hello_reply *r = m;
  return rc == HO_ERR_INVALID_ARGUMENT && r->which == HO_REPLY_REFUSED && r->refused.code > INT32_MAX;
}

static const fz_msg_ops ops = {"hello_reply", dec, enc, diff, shape, {HO_FT_HELLO_REPLY}, 1, NULL,
                               may_refuse};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > HO_MAX_HELLO_BYTES) return 0;
  fz_roundtrip(&ops, data, size);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#include "fuzz_replay_main.h"
#else
#define HO_PM_MODE HO_PM_PAYLOAD
#define HO_PM_SCHEMA (&ho_schema_hello_reply)
#include "proto_mutator.h"
#endif
