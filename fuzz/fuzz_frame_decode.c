/* Differential fuzz target: protobuf-c against nanopb.
 *
 * Target functions: ho_frame_decode, ho_envelope_decode, ho_hello_decode,
 * ho_hello_reply_decode, ho_offer_decode, ho_ack_decode, ho_frame_encode,
 * ho_frame_to_json.
 *
 * Invariants checked (abort on violation):
 *  1. both codecs give the same verdict for the input as every frame type,
 *     and as every bare payload message (spec: MSG-1 .. MSG-11);
 *  2. on success both decoded structs render to the same canonical JSON;
 *  3. a decoded frame re-encodes through both codecs to identical bytes,
 *     which decode again to the same message (spec: MSG-13 MSG-14).
 *
 * libFuzzer: clang -fsanitize=fuzzer,address,undefined (make fuzz-frame), with
 * the structure-aware mutator of proto_mutator.h.
 * Replay: built with -DHO_FUZZ_REPLAY_MAIN it has a main() taking files
 * and directories (make test replays fuzz/corpus/fuzz_frame_decode/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/msg.h"
#include "handoff/msg_json.h"

static const ho_frame_type types[] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK,
                                      HO_FT_READY};

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_frame_decode: %s: %s\n", what, detail);
  abort();
}

static char ja[3 * 65536 + 8192], jb[3 * 65536 + 8192];
static uint8_t ea[8192], eb[8192];
static ho_any_msg ma, mb, mc;
static ho_envelope va, vb, vc;

static void same_json(const char *a, const char *b, const char *what) {
  if (strcmp(a, b) != 0) {
    fprintf(stderr, "protobuf-c: %s\nnanopb:     %s\n", a, b);
    die("decoded structs differ", what);
  }
}

static void check_frame(ho_frame_type t, const uint8_t *data, size_t size) {
  memset(&ma, 0x5A, sizeof ma);
  memset(&mb, 0xA5, sizeof mb);
  int ra = ho_frame_decode(HO_CODEC_PROTOBUF_C, t, data, size, &va, &ma);
  int rb = ho_frame_decode(HO_CODEC_NANOPB, t, data, size, &vb, &mb);
  if (ra != rb) {
    fprintf(stderr, "type %s: protobuf-c %s, nanopb %s\n", ho_frame_type_name(t), ho_errname(ra),
            ho_errname(rb));
    die("verdicts differ", "frame");
  }
  if (ra != HO_OK) return;
  size_t na = 0, nb = 0;
  if (ho_frame_to_json(t, &va, &ma, ja, sizeof ja, &na) != HO_OK ||
      ho_frame_to_json(t, &vb, &mb, jb, sizeof jb, &nb) != HO_OK)
    die("render failed", ho_frame_type_name(t));
  same_json(ja, jb, ho_frame_type_name(t));
  /* Re-encode through both codecs: identical bytes, same message again. */
  int ea_rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, t, &ma, ea, sizeof ea, &na);
  int eb_rc = ho_frame_encode(HO_CODEC_NANOPB, t, &mb, eb, sizeof eb, &nb);
  if (ea_rc != eb_rc) die("encode verdicts differ", ho_frame_type_name(t));
  if (ea_rc != HO_OK) {
    /* The one decodable value our encoders refuse: an enum (Refused.code)
     * of 2^31 or more, which protobuf would write as a negative int32 and
     * nanopb as an unsigned one (ho_msg_check). Anything else is a bug. */
    if (ea_rc == HO_ERR_INVALID_ARGUMENT && t == HO_FT_HELLO_REPLY &&
        ma.hello_reply.which == HO_REPLY_REFUSED && ma.hello_reply.refused.code > INT32_MAX)
      return;
    die("re-encoding a decoded message failed", ho_errname(ea_rc));
  }
  if (na != nb || memcmp(ea, eb, na) != 0) die("encoders differ", ho_frame_type_name(t));
  if (ho_frame_decode(HO_CODEC_NANOPB, t, ea, na, &vc, &mc) != HO_OK)
    die("re-encoded frame does not decode", ho_frame_type_name(t));
  size_t n1 = 0, n2 = 0;
  switch (t) {
  case HO_FT_HELLO:
    ho_hello_to_json(&ma.hello, ja, sizeof ja, &n1);
    ho_hello_to_json(&mc.hello, jb, sizeof jb, &n2);
    break;
  case HO_FT_HELLO_REPLY:
    ho_hello_reply_to_json(&ma.hello_reply, ja, sizeof ja, &n1);
    ho_hello_reply_to_json(&mc.hello_reply, jb, sizeof jb, &n2);
    break;
  case HO_FT_OFFER:
    ho_offer_to_json(&ma.offer, ja, sizeof ja, &n1);
    ho_offer_to_json(&mc.offer, jb, sizeof jb, &n2);
    break;
  default:
    ho_ack_to_json(&ma.ack, ja, sizeof ja, &n1);
    ho_ack_to_json(&mc.ack, jb, sizeof jb, &n2);
    break;
  }
  same_json(ja, jb, "round trip");
}

/* The input as a bare payload of each message, and as an envelope body. */
static void check_bare(const uint8_t *data, size_t size) {
  size_t na = 0, nb = 0;
  int ra, rb;
#define BARE(fn, field, render)                                                                    \
  ra = fn(HO_CODEC_PROTOBUF_C, data, size, &ma.field);                                             \
  rb = fn(HO_CODEC_NANOPB, data, size, &mb.field);                                                 \
  if (ra != rb) die("bare verdicts differ", #fn);                                                  \
  if (ra == HO_OK) {                                                                               \
    render(&ma.field, ja, sizeof ja, &na);                                                         \
    render(&mb.field, jb, sizeof jb, &nb);                                                         \
    same_json(ja, jb, #fn);                                                                        \
  }
  BARE(ho_hello_decode, hello, ho_hello_to_json)
  BARE(ho_hello_reply_decode, hello_reply, ho_hello_reply_to_json)
  BARE(ho_offer_decode, offer, ho_offer_to_json)
  BARE(ho_ack_decode, ack, ho_ack_to_json)
#undef BARE
  ra = ho_envelope_decode(HO_CODEC_PROTOBUF_C, data, size, &va);
  rb = ho_envelope_decode(HO_CODEC_NANOPB, data, size, &vb);
  if (ra != rb) die("envelope verdicts differ", "bare");
  if (ra == HO_OK) {
    if (va.payload != vb.payload || va.payload_len != vb.payload_len)
      die("payload views differ", "envelope");
    ho_envelope_to_json(&va, ja, sizeof ja, &na);
    ho_envelope_to_json(&vb, jb, sizeof jb, &nb);
    same_json(ja, jb, "envelope");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > HO_MAX_HELLO_BYTES + 4096) return 0;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) check_frame(types[i], data, size);
  check_bare(data, size);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#define HO_FUZZ_NAME "fuzz_frame_decode"
#include "fuzz_replay_main.h"
#else
/* Structure-aware mutation of the whole frame (issue #17). */
#define HO_PM_MODE HO_PM_FRAME
#include "proto_mutator.h"
#endif
