/* Target functions: ho_hello_decode ho_hello_encode ho_frame_decode
 * (ref/lib/wire/msg.c, scan.c, codec_pbc.c, codec_npb.c).
 *
 * The input is a bare Hello payload. Round-trip property of the Hello
 * decoder alone (fuzz_roundtrip.h): both codecs agree on the verdict and the
 * values, decode -> encode -> decode gives equal values through either
 * codec, and the payload inside a Hello frame decodes the same.
 * spec: MSG-1 MSG-2 MSG-3 MSG-4 MSG-6 MSG-7 MSG-13 MSG-14 FRAME-5
 *
 * libFuzzer build: make fuzz-run-fuzz_hello (structure-aware mutator of
 * proto_mutator.h); replay: -DHO_FUZZ_REPLAY_MAIN (make test).
 */
#define HO_FUZZ_NAME "fuzz_hello"
#include "fuzz_roundtrip.h"

static int dec(ho_codec c, const uint8_t *b, size_t n, void *o) { return ho_hello_decode(c, b, n, o); }
static int enc(ho_codec c, const void *m, uint8_t *o, size_t cap, size_t *n) {
  return ho_hello_encode(c, m, o, cap, n);
}
static const char *diff(const void *a, const void *b) { return fz_diff_hello(a, b); }
static const char *shape(const void *m) { return fz_shape_hello(m); }

static const fz_msg_ops ops = {"hello", dec, enc, diff, shape, {HO_FT_HELLO}, 1, NULL, NULL};

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
#define HO_PM_SCHEMA (&ho_schema_hello)
#include "proto_mutator.h"
#endif
