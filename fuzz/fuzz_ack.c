/* Target functions: ho_ack_decode ho_ack_encode ho_frame_decode
 * (ref/lib/wire/msg.c, scan.c, codec_pbc.c, codec_npb.c).
 *
 * The input is a bare HandoffAck payload, which is also the payload of the
 * ready frame. Round-trip property of the ACK decoder alone
 * (fuzz_roundtrip.h): both codecs agree on the verdict and the values,
 * decode -> encode -> decode gives equal values through either codec, and
 * the payload inside an ACK frame (RESPONSE) and inside a ready frame
 * (EVENT), request_id = its correlation id, decodes the same.
 * spec: MSG-1 MSG-2 MSG-3 MSG-4 MSG-8 MSG-11 MSG-13 MSG-14 ENV-7 READY-2
 *
 * libFuzzer build: make fuzz-run-fuzz_ack (structure-aware mutator of
 * proto_mutator.h); replay: -DHO_FUZZ_REPLAY_MAIN (make test).
 */
#define HO_FUZZ_NAME "fuzz_ack"
#include "fuzz_roundtrip.h"

static int dec(ho_codec c, const uint8_t *b, size_t n, void *o) { return ho_ack_decode(c, b, n, o); }
static int enc(ho_codec c, const void *m, uint8_t *o, size_t cap, size_t *n) {
  return ho_ack_encode(c, m, o, cap, n);
}
static const char *diff(const void *a, const void *b) { return fz_diff_ack(a, b); }
static const char *shape(const void *m) { return fz_shape_ack(m); }
static uint64_t rid(const void *m) { return ((const ho_ack *)m)->correlation_id; }

static const fz_msg_ops ops = {"ack", dec, enc, diff, shape, {HO_FT_ACK, HO_FT_READY}, 2, rid, NULL};

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
#define HO_PM_SCHEMA (&ho_schema_ack)
#include "proto_mutator.h"
#endif
