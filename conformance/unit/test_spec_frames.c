/* Unit tests: what the library's frame encoder puts on the wire, held
 * against the spec's fixed values and size limits (spec/framing.md,
 * spec/envelope.md, spec/versioning.md). Every v1 frame type is encoded at
 * its largest (every string and blob at its cap, every repeated field at its
 * item cap, every integer at its maximum) through both codecs. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "handoff/frame.h"
#include "handoff/msg.h"

static const ho_codec codecs[] = {HO_CODEC_PROTOBUF_C, HO_CODEC_NANOPB};
static const ho_frame_type types[] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK,
                                      HO_FT_READY};

static void fill(char *s, size_t n, char c) {
  memset(s, c, n);
  s[n] = '\0';
}

/* The largest message of each frame type the encoders accept. */
static void maximal(ho_frame_type t, ho_any_msg *m, int refused) {
  memset(m, 0, sizeof *m);
  switch (t) {
  case HO_FT_HELLO: {
    ho_hello *h = &m->hello;
    h->client_min_protocol = UINT32_MAX;
    h->client_max_protocol = UINT32_MAX;
    fill(h->service_name, HO_MAX_SERVICE_NAME, 'a');
    fill(h->wanted_version, HO_MAX_WANTED_VERSION, '1');
    fill(h->client_version, HO_MAX_CLIENT_VERSION, 'v');
    h->client_capabilities = UINT64_MAX;
    h->auth_token.len = HO_MAX_HELLO_BLOB;
    memset(h->auth_token.data, 0xff, HO_MAX_HELLO_BLOB);
    fill(h->request_id, HO_MAX_REQUEST_ID, 'r');
    h->connection_id = UINT64_MAX;
    h->peer_pid = UINT32_MAX;
    fill(h->client_lib_name, HO_MAX_CLIENT_LIB, 'n');
    fill(h->client_lib_version, HO_MAX_CLIENT_LIB, 'v');
    h->peer_attestation_nonce = h->auth_token;
    h->capability_token = h->auth_token;
    h->client_keepalive_secs = UINT64_MAX;
    break;
  }
  case HO_FT_HELLO_REPLY:
    if (refused) {
      ho_refused *r = &m->hello_reply.refused;
      m->hello_reply.which = HO_REPLY_REFUSED;
      fill(r->reason, HO_MAX_REASON, 'x');
      r->daemon_min_protocol = UINT32_MAX;
      r->daemon_max_protocol = UINT32_MAX;
      r->code = INT32_MAX; /* an open enum: the largest int32 */
      r->details_count = HO_MAX_DETAILS;
      for (size_t i = 0; i < HO_MAX_DETAILS; i++) {
        fill(r->details[i].key, HO_MAX_DETAIL_KEY, (char)('a' + i));
        fill(r->details[i].value, HO_MAX_DETAIL_VALUE, 'v');
      }
      r->retry_after_ms = UINT64_MAX;
    } else {
      ho_negotiated *n = &m->hello_reply.negotiated;
      m->hello_reply.which = HO_REPLY_NEGOTIATED;
      n->negotiated_protocol = UINT32_MAX;
      fill(n->daemon_version, HO_MAX_DAEMON_VERSION, 'd');
      fill(n->backend_pipe, HO_MAX_BACKEND_PIPE, 'p');
      n->warnings_count = HO_MAX_WARNINGS;
      for (size_t i = 0; i < HO_MAX_WARNINGS; i++) fill(n->warnings[i], HO_MAX_WARNING, 'w');
      n->server_capabilities = UINT64_MAX;
      n->keepalive_interval_secs = UINT64_MAX;
      memset(n->handle_passed_token, 0xff, HO_TOKEN_BYTES);
      n->handle_passed_token_len = HO_TOKEN_BYTES;
      n->connection_id = UINT64_MAX;
    }
    break;
  case HO_FT_OFFER: {
    ho_offer *o = &m->offer;
    o->handle_value = UINT64_MAX;
    memset(o->token, 0xff, HO_TOKEN_BYTES);
    fill(o->service_name, HO_MAX_SERVICE_NAME, 's');
    o->correlation_id = UINT64_MAX;
    o->offer_flags = UINT64_MAX;
    break;
  }
  case HO_FT_ACK:
  case HO_FT_READY: {
    ho_ack *a = &m->ack;
    memset(a->token, 0xff, HO_TOKEN_BYTES);
    a->accepted = true;
    fill(a->error_detail, HO_MAX_ERROR_DETAIL, 'e');
    a->correlation_id = UINT64_MAX;
    a->backend_capabilities = UINT64_MAX;
    break;
  }
  }
}

static uint8_t wire[1u << 20];

/* spec: FRAME-7 FRAME-1 — the largest frame of each type that the encoder
 * can produce stays within its context's cap: a Hello within 64 KiB, an
 * offer, ACK or ready frame within 64 KiB, and so within every receiver's
 * local cap (FRAME-8); the length field says exactly the body's size. */
Test(spec_frames, largest_frames_fit_their_caps) {
  for (size_t c = 0; c < 2; c++) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
      for (int refused = 0; refused < 2; refused++) {
        if (refused && types[i] != HO_FT_HELLO_REPLY) continue;
        static ho_any_msg m;
        maximal(types[i], &m, refused);
        size_t len = 0;
        int rc = ho_frame_encode(codecs[c], types[i], &m, wire, sizeof wire, &len);
        cr_assert_eq(rc, HO_OK, "codec %zu type %d: %s", c, (int)types[i], ho_errname(rc));
        cr_assert_geq(len, HO_FRAME_HEADER_BYTES);
        uint32_t body = (uint32_t)wire[1] | (uint32_t)wire[2] << 8 | (uint32_t)wire[3] << 16 |
                        (uint32_t)wire[4] << 24;
        cr_assert_eq((size_t)body, len - HO_FRAME_HEADER_BYTES, "length field = body size");
        cr_assert_leq(body, HO_MAX_HELLO_BYTES, "type %d body %u exceeds 64 KiB", (int)types[i],
                      body);
      }
    }
  }
}

/* spec: FRAME-7 — the header writer refuses a body above the 16 MiB cap
 * (and accepts exactly the cap). */
Test(spec_frames, header_writer_refuses_bodies_above_the_cap) {
  uint8_t hdr[HO_FRAME_HEADER_BYTES];
  cr_assert_eq(ho_frame_write_header(hdr, HO_MAX_FRAME_BYTES), HO_OK);
  cr_assert_eq(ho_frame_write_header(hdr, (size_t)HO_MAX_FRAME_BYTES + 1), HO_ERR_FRAME_TOO_LARGE);
}

/* spec: VER-1 ENV-1 ENV-9 — every frame the library encodes carries framing
 * version 1, envelope version 1, the kind and payload protocol of its type,
 * payload encoding NONE, deadline 0, and request_id 0 (Hello frames) or the
 * correlation id (handoff frames). */
Test(spec_frames, encoder_sends_only_wire_v1_values) {
  static const uint32_t kind[] = {HO_KIND_REQUEST, HO_KIND_RESPONSE, HO_KIND_REQUEST,
                                  HO_KIND_RESPONSE, HO_KIND_EVENT};
  static const uint32_t proto[] = {HO_PAYLOAD_HELLO, HO_PAYLOAD_HELLO, HO_PAYLOAD_HANDOFF,
                                   HO_PAYLOAD_HANDOFF, HO_PAYLOAD_HANDOFF};
  for (size_t c = 0; c < 2; c++) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
      static ho_any_msg m;
      maximal(types[i], &m, 0);
      if (types[i] >= HO_FT_OFFER) {
        if (types[i] == HO_FT_OFFER) m.offer.correlation_id = 4242;
        else m.ack.correlation_id = 4242;
      }
      size_t len = 0;
      cr_assert_eq(ho_frame_encode(codecs[c], types[i], &m, wire, sizeof wire, &len), HO_OK);
      cr_assert_eq(wire[0], HO_FRAMING_VERSION);
      ho_envelope env;
      cr_assert_eq(ho_envelope_decode(codecs[c], wire + HO_FRAME_HEADER_BYTES,
                                      len - HO_FRAME_HEADER_BYTES, &env),
                   HO_OK);
      cr_assert_eq(env.envelope_version, HO_ENVELOPE_VERSION);
      cr_assert_eq(env.kind, kind[i], "type %d kind %u", (int)types[i], env.kind);
      cr_assert_eq(env.payload_protocol, proto[i]);
      cr_assert_eq(env.payload_encoding, HO_ENCODING_NONE);
      cr_assert_eq(env.deadline_unix_ms, 0);
      cr_assert_eq(env.request_id, types[i] >= HO_FT_OFFER ? 4242u : 0u);
      cr_assert_eq(env.traceparent[0], '\0');
      cr_assert_eq(env.tracestate[0], '\0');
    }
  }
}
