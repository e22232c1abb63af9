/* The round-trip property of one payload decoder, shared by fuzz_hello.c,
 * fuzz_hello_reply.c, fuzz_offer.c and fuzz_ack.c. The input is the bare
 * payload message. Checked, aborting on the first violation:
 *
 *  1. both codecs give the same verdict; an error is a message-class code
 *     (spec: MSG-1 MSG-15);
 *  2. on success both decoded structs have the same values (compared field
 *     by field, never as bytes) and the shape of a decoded struct (NUL
 *     within every string array, counts within their caps, map keys unique
 *     and sorted) (spec: MSG-2 MSG-6 MSG-8 MSG-9);
 *  3. decode -> encode -> decode gives the same values through either codec:
 *     both encoders accept the decoded struct and write the same bytes (the
 *     canonical encoding, spec: MSG-13 MSG-14), which is no longer than the
 *     input, which both decoders read back to equal values, and which
 *     re-encodes to itself;
 *  4. the payload wrapped in a frame of each frame type carrying it (an
 *     envelope written by hand, request_id = the decoded correlation id)
 *     decodes through ho_frame_decode() with the bare verdict and values
 *     (spec: ENV-1 ENV-7).
 */
#ifndef HO_FUZZ_ROUNDTRIP_H
#define HO_FUZZ_ROUNDTRIP_H

#include "fuzz_msg_common.h"

typedef struct fz_msg_ops {
  const char *name;
  int (*decode)(ho_codec, const uint8_t *, size_t, void *);
  int (*encode)(ho_codec, const void *, uint8_t *, size_t, size_t *);
  const char *(*diff)(const void *, const void *);
  const char *(*shape)(const void *);
  /* Where the decoded message sits in ho_any_msg is offset 0 for all. */
  ho_frame_type frames[2];
  size_t nframes;
  /* request_id of a handoff frame for this message, 0 for Hello frames. */
  uint64_t (*request_id)(const void *);
  /* 1 if the encoders may refuse this decodable message (documented). */
  int (*encode_may_refuse)(const void *, int rc);
} fz_msg_ops;

static ho_any_msg fz_m[2], fz_r[2], fz_f;
static uint8_t fz_enc[2][HO_MAX_HELLO_BYTES + 4096];
static uint8_t fz_enc2[HO_MAX_HELLO_BYTES + 4096];
static uint8_t fz_wire[HO_MAX_HELLO_BYTES + 8192];

static inline void fz_same(const fz_msg_ops *ops, const void *a, const void *b, const char *what) {
  const char *d = ops->diff(a, b);
  if (d != NULL) {
    char s[160];
    snprintf(s, sizeof s, "%s: field %s", what, d);
    fz_die("values differ", s);
  }
}

static inline void fz_roundtrip(const fz_msg_ops *ops, const uint8_t *data, size_t size) {
  int rc[2];
  for (int c = 0; c < 2; c++) {
    memset(&fz_m[c], c ? 0xA5 : 0x5A, sizeof fz_m[c]);
    rc[c] = ops->decode(fz_codecs[c], data, size, &fz_m[c]);
  }
  fz_verdicts(ops->name, rc[0], rc[1]);
  fz_message_class(ops->name, rc[0]);

  uint64_t rid = 0;
  if (rc[0] == HO_OK) {
    const char *s = ops->shape(&fz_m[0]);
    if (s == NULL) s = ops->shape(&fz_m[1]);
    if (s != NULL) fz_die("decoded struct", s);
    fz_same(ops, &fz_m[0], &fz_m[1], "protobuf-c vs nanopb");
    rid = ops->request_id ? ops->request_id(&fz_m[0]) : 0;

    /* 3. encode through both codecs. */
    size_t n[2] = {0, 0};
    int erc[2];
    for (int c = 0; c < 2; c++)
      erc[c] = ops->encode(fz_codecs[c], &fz_m[0], fz_enc[c], sizeof fz_enc[c], &n[c]);
    fz_verdicts("encode", erc[0], erc[1]);
    if (erc[0] != HO_OK) {
      if (ops->encode_may_refuse && ops->encode_may_refuse(&fz_m[0], erc[0])) goto frames;
      fz_die("re-encoding a decoded message failed", fz_err(erc[0]));
    }
    if (n[0] != n[1] || memcmp(fz_enc[0], fz_enc[1], n[0]) != 0)
      fz_die("encoders differ", ops->name);
    if (n[0] > size) fz_die("canonical encoding longer than the input", ops->name);
    for (int c = 0; c < 2; c++) {
      memset(&fz_r[c], 0x33, sizeof fz_r[c]);
      int r = ops->decode(fz_codecs[c], fz_enc[0], n[0], &fz_r[c]);
      if (r != HO_OK) fz_die("canonical encoding does not decode", fz_err(r));
      fz_same(ops, &fz_m[0], &fz_r[c], fz_codec_name[c]);
    }
    size_t n2 = 0;
    if (ops->encode(HO_CODEC_NANOPB, &fz_r[1], fz_enc2, sizeof fz_enc2, &n2) != HO_OK ||
        n2 != n[0] || memcmp(fz_enc2, fz_enc[0], n2) != 0)
      fz_die("canonical encoding is not a fixed point", ops->name);
  }

frames:
  /* 4. the same payload inside each frame carrying it. */
  for (size_t i = 0; i < ops->nframes; i++) {
    uint32_t kind, protocol, cap;
    fz_frame_shape(ops->frames[i], &kind, &protocol, &cap);
    size_t wl = fz_wrap_frame(kind, protocol, rid, data, size, fz_wire, sizeof fz_wire);
    if (wl == 0) continue;
    int want = wl - 5 > cap ? HO_ERR_FRAME_TOO_LARGE : rc[0];
    for (int c = 0; c < 2; c++) {
      ho_envelope env;
      memset(&fz_f, 0x77, sizeof fz_f);
      int r = ho_frame_decode(fz_codecs[c], ops->frames[i], fz_wire, wl, &env, &fz_f);
      if (r != want) {
        char d[160];
        snprintf(d, sizeof d, "%s frame [%s]: %s, bare payload %s", ho_frame_type_name(ops->frames[i]),
                 fz_codec_name[c], fz_err(r), fz_err(want));
        fz_die("frame verdict differs from the payload's", d);
      }
      if (r == HO_OK) {
        fz_same(ops, &fz_m[0], &fz_f, "frame vs bare payload");
        if (env.payload_len != size || (size && memcmp(env.payload, data, size) != 0))
          fz_die("envelope payload is not the payload", ops->name);
      }
    }
  }
}

#endif /* HO_FUZZ_ROUNDTRIP_H */
