/* Target functions: ho_envelope_decode ho_envelope_validate ho_envelope_encode
 * ho_frame_decode_body ho_frame_decode (ref/lib/wire/msg.c, scan.c,
 * codec_pbc.c, codec_npb.c).
 *
 * The input is a frame body: the Frame envelope. Checked, aborting on the
 * first violation:
 *  1. both codecs give the same verdict and the same values; the payload is
 *     a view into the input (spec: MSG-1 ENV-1);
 *  2. ho_envelope_validate() against every expected kind (0..4, 4 being an
 *     invalid argument) and payload protocol (0x0000, 0xD0FF, the frame's
 *     own) gives what the fixed order of the envelope checks gives: version,
 *     kind, payload protocol, encoding (spec: ENV-4 ENV-5), computed here
 *     independently;
 *  3. decode -> encode -> decode gives equal values through either codec,
 *     both encoders writing the same canonical bytes (spec: MSG-14), except
 *     for an enum (kind, payload_encoding) of 2^31 or more, which both
 *     encoders refuse (spec: MSG-13);
 *  4. ho_frame_decode_body() for each of the five frame types is exactly the
 *     sequence of its stages: body cap (64 KiB for Hello, spec: FRAME-3
 *     FRAME-5), envelope decode, envelope checks, payload decode (equal to
 *     the bare payload decoder's verdict and values), then request_id ==
 *     correlation_id for handoff frames (spec: ENV-7); and ho_frame_decode()
 *     of the same body behind a framing header gives the same.
 *
 * libFuzzer build: make fuzz-run-fuzz_envelope (structure-aware mutator of
 * proto_mutator.h, payloads mutated as the message the envelope names);
 * replay: -DHO_FUZZ_REPLAY_MAIN (make test).
 */
#define HO_FUZZ_NAME "fuzz_envelope"
#include "fuzz_msg_common.h"

#include "handoff/frame.h"

static ho_envelope env[2], env2[2];
static uint8_t enc[2][HO_MAX_HELLO_BYTES + 4096];
static uint8_t wire[HO_MAX_HELLO_BYTES + 4096];
static ho_any_msg fm, pm;

/* spec: ENV-4 ENV-5 — the order of the envelope checks. */
static int model_validate(const ho_envelope *e, uint32_t kind, uint32_t protocol) {
  if (kind > 3) return HO_ERR_INVALID_ARGUMENT;
  if (e->envelope_version != 1) return HO_ERR_ENVELOPE_VERSION;
  if (e->kind > 3) return HO_ERR_UNKNOWN_KIND;
  if (e->kind != kind) return HO_ERR_WRONG_KIND;
  if (e->payload_protocol != protocol) return HO_ERR_PAYLOAD_PROTOCOL;
  if (e->payload_encoding > 3) return HO_ERR_UNKNOWN_ENCODING;
  if (e->payload_encoding != 0) return HO_ERR_PAYLOAD_COMPRESSED;
  return HO_OK;
}

static void check_validate(const ho_envelope *e) {
  const uint32_t protocols[3] = {HO_PAYLOAD_HELLO, HO_PAYLOAD_HANDOFF, e->payload_protocol};
  for (uint32_t k = 0; k <= 4; k++)
    for (int p = 0; p < 3; p++) {
      int got = ho_envelope_validate(e, k, protocols[p]);
      int want = model_validate(e, k, protocols[p]);
      if (got != want) {
        char d[160];
        snprintf(d, sizeof d, "kind %u protocol 0x%x: %s, want %s", k, protocols[p], fz_err(got),
                 fz_err(want));
        fz_die("ho_envelope_validate", d);
      }
    }
  if (ho_envelope_validate(NULL, 0, 0) != HO_ERR_INVALID_ARGUMENT) fz_die("validate(NULL)", "");
}

static void check_roundtrip(void) {
  size_t n[2] = {0, 0};
  int rc[2];
  for (int c = 0; c < 2; c++) rc[c] = ho_envelope_encode(fz_codecs[c], &env[0], enc[c], sizeof enc[c], &n[c]);
  fz_verdicts("envelope encode", rc[0], rc[1]);
  if (rc[0] != HO_OK) {
    /* The one decodable envelope the encoders refuse: an enum (kind,
     * payload_encoding) of 2^31 or more (spec: MSG-13). */
    if (rc[0] == HO_ERR_INVALID_ARGUMENT &&
        (env[0].kind > INT32_MAX || env[0].payload_encoding > INT32_MAX))
      return;
    fz_die("re-encoding a decoded envelope failed", fz_err(rc[0]));
  }
  if (n[0] != n[1] || memcmp(enc[0], enc[1], n[0]) != 0) fz_die("encoders differ", "envelope");
  for (int c = 0; c < 2; c++) {
    int r = ho_envelope_decode(fz_codecs[c], enc[0], n[0], &env2[c]);
    if (r != HO_OK) fz_die("canonical envelope does not decode", fz_err(r));
    const char *d = fz_diff_envelope(&env[0], &env2[c]);
    if (d != NULL) fz_die("envelope round trip", d);
  }
}

/* The bare payload decoder of a frame type, and its correlation id. */
static int payload_decode(ho_frame_type t, ho_codec c, const uint8_t *p, size_t n, ho_any_msg *m,
                          uint64_t *corr) {
  int rc;
  *corr = 0;
  switch (t) {
  case HO_FT_HELLO: return ho_hello_decode(c, p, n, &m->hello);
  case HO_FT_HELLO_REPLY: return ho_hello_reply_decode(c, p, n, &m->hello_reply);
  case HO_FT_OFFER:
    rc = ho_offer_decode(c, p, n, &m->offer);
    *corr = m->offer.correlation_id;
    return rc;
  default:
    rc = ho_ack_decode(c, p, n, &m->ack);
    *corr = m->ack.correlation_id;
    return rc;
  }
}

static const char *payload_diff(ho_frame_type t, const ho_any_msg *a, const ho_any_msg *b) {
  switch (t) {
  case HO_FT_HELLO: return fz_diff_hello(&a->hello, &b->hello);
  case HO_FT_HELLO_REPLY: return fz_diff_hello_reply(&a->hello_reply, &b->hello_reply);
  case HO_FT_OFFER: return fz_diff_offer(&a->offer, &b->offer);
  default: return fz_diff_ack(&a->ack, &b->ack);
  }
}

static void check_stages(const uint8_t *data, size_t size, int env_rc) {
  static const ho_frame_type types[] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK,
                                        HO_FT_READY};
  size_t wl = 0;
  if (size + 5 <= sizeof wire) {
    ho_frame_write_header(wire, size);
    memcpy(wire + 5, data, size);
    wl = size + 5;
  }
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    ho_frame_type t = types[i];
    uint32_t kind, protocol, cap;
    fz_frame_shape(t, &kind, &protocol, &cap);
    for (int c = 0; c < 2; c++) {
      /* What the stages give, one by one. */
      int want;
      uint64_t corr = 0;
      if (size > cap) {
        want = HO_ERR_FRAME_TOO_LARGE;
      } else if (env_rc != HO_OK) {
        want = env_rc;
      } else if ((want = ho_envelope_validate(&env[c], kind, protocol)) == HO_OK) {
        memset(&pm, 0x11, sizeof pm);
        want = payload_decode(t, fz_codecs[c], env[c].payload, env[c].payload_len, &pm, &corr);
        if (want == HO_OK && t != HO_FT_HELLO && t != HO_FT_HELLO_REPLY && corr != env[c].request_id)
          want = HO_ERR_REQUEST_ID_MISMATCH;
      }
      ho_envelope fe;
      memset(&fm, 0x22, sizeof fm);
      int got = ho_frame_decode_body(fz_codecs[c], t, data, size, &fe, &fm);
      if (got != want) {
        char d[160];
        snprintf(d, sizeof d, "%s [%s]: %s, stages give %s", ho_frame_type_name(t), fz_codec_name[c],
                 fz_err(got), fz_err(want));
        fz_die("ho_frame_decode_body", d);
      }
      if (got == HO_OK) {
        const char *d = payload_diff(t, &pm, &fm);
        if (d == NULL) d = fz_diff_envelope(&env[c], &fe);
        if (d != NULL) fz_die("frame vs stages", d);
      }
      if (wl != 0) {
        memset(&fm, 0x44, sizeof fm);
        int g2 = ho_frame_decode(fz_codecs[c], t, wire, wl, NULL, &fm);
        if (g2 != got) fz_die("ho_frame_decode differs from ho_frame_decode_body", fz_err(g2));
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > HO_MAX_HELLO_BYTES + 1024) return 0;
  int rc[2];
  for (int c = 0; c < 2; c++) {
    memset(&env[c], c ? 0xA5 : 0x5A, sizeof env[c]);
    rc[c] = ho_envelope_decode(fz_codecs[c], data, size, &env[c]);
  }
  fz_verdicts("envelope", rc[0], rc[1]);
  fz_message_class("envelope", rc[0]);
  if (rc[0] == HO_OK) {
    for (int c = 0; c < 2; c++) {
      const char *s = fz_shape_envelope(&env[c], data, size);
      if (s != NULL) fz_die("decoded envelope", s);
    }
    if (env[0].payload != env[1].payload) fz_die("payload views differ", "");
    const char *d = fz_diff_envelope(&env[0], &env[1]);
    if (d != NULL) fz_die("protobuf-c vs nanopb", d);
    check_validate(&env[0]);
    check_roundtrip();
  }
  check_stages(data, size, rc[0]);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#include "fuzz_replay_main.h"
#else
#define HO_PM_MODE HO_PM_BODY
#include "proto_mutator.h"
#endif
