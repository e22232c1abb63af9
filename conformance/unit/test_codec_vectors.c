/* Golden vectors (conformance/vectors/NAME.json, turned into a C table at build
 * time) through both generated codecs: the verdict, the decoded message as
 * canonical JSON, and the re-encoding of canonical vectors.
 * spec: FRAME-2 FRAME-3 FRAME-4 ENV-4 ENV-5 ENV-7 MSG-1 MSG-2 MSG-3 MSG-4 MSG-5
 * MSG-6 MSG-7 MSG-8 MSG-9 MSG-10 MSG-11 MSG-14 */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/msg_json.h"
#include "vectors_table.h"

static const ho_codec codecs[] = {HO_CODEC_PROTOBUF_C, HO_CODEC_NANOPB};
static const char *codec_name[] = {"protobuf-c", "nanopb"};

static ho_frame_type type_of(const char *m) {
  static const ho_frame_type all[] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK,
                                      HO_FT_READY};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(ho_frame_type_name(all[i]), m) == 0) return all[i];
  cr_assert_fail("unknown message %s", m);
  return HO_FT_HELLO;
}

static char json[3 * 65536 + 4096];
static uint8_t buf[65536 + 64];
static ho_any_msg msg;
static ho_envelope env;

Test(codec_vectors, table_is_not_empty) {
  cr_assert_geq(ho_vectors_count, 60, "only %zu vectors", ho_vectors_count);
}

Test(codec_vectors, verdict_and_message_match_through_both_codecs) {
  size_t ok = 0;
  for (size_t i = 0; i < ho_vectors_count; i++) {
    const ho_vector *v = &ho_vectors[i];
    ho_frame_type t = type_of(v->message);
    for (size_t c = 0; c < 2; c++) {
      memset(&msg, 0xA5, sizeof msg);
      int rc = ho_frame_decode(codecs[c], t, v->wire, v->len, &env, &msg);
      if (v->error != NULL) {
        cr_expect_eq(rc, ho_err_from_name(v->error), "%s [%s]: got %s, want %s", v->id,
                     codec_name[c], ho_errname(rc) ? ho_errname(rc) : "?", v->error);
        continue;
      }
      cr_expect_eq(rc, HO_OK, "%s [%s]: %s", v->id, codec_name[c], ho_errname(rc));
      if (rc != HO_OK) continue;
      size_t n = 0;
      cr_assert_eq(ho_frame_to_json(t, &env, &msg, json, sizeof json, &n), HO_OK);
      cr_expect_str_eq(json, v->json, "%s [%s]", v->id, codec_name[c]);
      ok++;
    }
  }
  cr_assert_gt(ok, 0);
}

/* spec: MSG-14 — our encoders are canonical: a canonical vector re-encodes
 * to its exact bytes, payload and envelope, through both codecs. */
Test(codec_vectors, canonical_vectors_reencode_to_the_same_bytes) {
  size_t checked = 0;
  for (size_t i = 0; i < ho_vectors_count; i++) {
    const ho_vector *v = &ho_vectors[i];
    if (v->error != NULL || !v->canonical) continue;
    ho_frame_type t = type_of(v->message);
    for (size_t c = 0; c < 2; c++) {
      cr_assert_eq(ho_frame_decode(codecs[c], t, v->wire, v->len, &env, &msg), HO_OK, "%s", v->id);
      size_t n = 0;
      int rc;
      switch (t) {
      case HO_FT_HELLO: rc = ho_hello_encode(codecs[c], &msg.hello, buf, sizeof buf, &n); break;
      case HO_FT_HELLO_REPLY:
        rc = ho_hello_reply_encode(codecs[c], &msg.hello_reply, buf, sizeof buf, &n);
        break;
      case HO_FT_OFFER: rc = ho_offer_encode(codecs[c], &msg.offer, buf, sizeof buf, &n); break;
      default: rc = ho_ack_encode(codecs[c], &msg.ack, buf, sizeof buf, &n); break;
      }
      cr_assert_eq(rc, HO_OK, "%s [%s]: %s", v->id, codec_name[c], ho_errname(rc));
      cr_expect(n == env.payload_len && (n == 0 || memcmp(buf, env.payload, n) == 0),
                "%s [%s]: payload re-encodes differently", v->id, codec_name[c]);
      cr_assert_eq(ho_envelope_encode(codecs[c], &env, buf, sizeof buf, &n), HO_OK, "%s", v->id);
      cr_expect(n + 5 == v->len && memcmp(buf, v->wire + 5, n) == 0,
                "%s [%s]: envelope re-encodes differently", v->id, codec_name[c]);
      /* A frame with the standard envelope also comes out of ho_frame_encode. */
      int standard = env.deadline_unix_ms == 0 && env.traceparent[0] == '\0' &&
                     env.tracestate[0] == '\0' &&
                     (t == HO_FT_HELLO || t == HO_FT_HELLO_REPLY ? env.request_id == 0 : 1);
      if (standard) {
        cr_assert_eq(ho_frame_encode(codecs[c], t, &msg, buf, sizeof buf, &n), HO_OK, "%s", v->id);
        cr_expect(n == v->len && memcmp(buf, v->wire, n) == 0,
                  "%s [%s]: ho_frame_encode differs", v->id, codec_name[c]);
      }
      checked++;
    }
  }
  cr_assert_geq(checked, 20, "only %zu canonical checks", checked);
}

/* The incremental reader plus ho_frame_decode_body gives the same verdict
 * as the one-shot decoder for every vector whose framing is intact. */
Test(codec_vectors, reader_path_agrees_with_one_shot_decode) {
  static uint8_t body[16u * 1024u * 1024u];
  for (size_t i = 0; i < ho_vectors_count; i++) {
    const ho_vector *v = &ho_vectors[i];
    ho_frame_type t = type_of(v->message);
    ho_frame_reader r;
    uint32_t cap = t == HO_FT_HELLO ? HO_MAX_HELLO_BYTES : HO_MAX_FRAME_BYTES;
    cr_assert_eq(ho_frame_reader_init(&r, body, sizeof body, cap), HO_OK);
    size_t used = 0;
    int rc = ho_frame_reader_feed(&r, v->wire, v->len, &used);
    if (rc == 0) rc = ho_frame_reader_finish(&r);
    if (rc == 1) {
      const uint8_t *b;
      size_t blen;
      cr_assert_eq(ho_frame_reader_body(&r, &b, &blen), HO_OK);
      rc = ho_frame_decode_body(HO_CODEC_NANOPB, t, b, blen, NULL, &msg);
    }
    int want = v->error ? ho_err_from_name(v->error) : HO_OK;
    cr_expect_eq(rc, want, "%s: reader path gives %s", v->id, ho_errname(rc));
  }
}
