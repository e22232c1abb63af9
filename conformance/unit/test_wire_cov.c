/* Unit tests (issue #17 coverage): the guards of the wire layer that the
 * other suites leave untaken.
 *
 *  - The frame reader's grow and set_buffer contract (ref/lib/wire/frame.c):
 *    argument checks, a grow function that finds no buffer, a buffer change
 *    only at a frame boundary.
 *  - The encoder check of the offer's coalesced-reply lengths (msg_check.c).
 *  - Both frame encoders at every buffer size short of the frame: always
 *    BUFFER_TOO_SMALL, also when the buffer ends inside the payload field.
 *  - White box (wire/codec.h): both generated-codec back ends given input
 *    that did NOT pass ho_scan() — over-cap strings and bytes, too many
 *    repeated items, short tokens, a payload the scan did not see, a oneof
 *    member whose merged occurrences exceed an item cap. The scan stops all
 *    of these before a back end runs; if it ever let one through, the back
 *    end must still refuse it (MALFORMED) rather than write past a field of
 *    the neutral struct (ASan checks that under SAN=1).
 *  - The nanopb back end: its normalising stream is transparent for a
 *    message without narrowed fields, and an unterminated string array of a
 *    neutral struct is cut at its cap, never read past.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/frame.h"
#include "handoff/msg.h"
#include "wire/codec.h"
#include "wire/scan.h"

/* ---- the frame reader: grow and set_buffer ------------------------------ */

static const uint8_t hdr10[HO_FRAME_HEADER_BYTES] = {1, 10, 0, 0, 0};

static uint8_t *grow_none(void *ctx, size_t need) {
  *(size_t *)ctx = need;
  return NULL;
}

static uint8_t grown[64];
static uint8_t *grow_static(void *ctx, size_t need) {
  ++*(int *)ctx;
  return need <= sizeof grown ? grown : NULL;
}

Test(wire_cov, frame_reader_init_grow_rejects_bad_arguments_and_leaves_the_reader) {
  ho_frame_reader r;
  uint8_t buf[8];
  int calls = 0;
  memset(&r, 0xA5, sizeof r);
  cr_assert_eq(ho_frame_reader_init_grow(NULL, buf, sizeof buf, 0, grow_static, &calls),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_init_grow(&r, buf, sizeof buf, 0, NULL, NULL),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_init_grow(&r, NULL, 1, 0, grow_static, &calls),
               HO_ERR_INVALID_ARGUMENT);
  for (size_t i = 0; i < sizeof r; i++)
    cr_assert_eq(((const uint8_t *)&r)[i], 0xA5, "reader touched at byte %zu", i);
  /* NULL with cap 0 is a reader with no buffer yet: valid. */
  cr_assert_eq(ho_frame_reader_init_grow(&r, NULL, 0, 0, grow_static, &calls), HO_OK);
  cr_assert_eq(calls, 0);
}

/* A header announcing a body larger than the buffer, and the grow function
 * finds none: NOMEM at once (before any body byte), sticky afterwards. */
Test(wire_cov, frame_reader_grow_without_a_buffer_is_a_sticky_nomem) {
  ho_frame_reader r;
  uint8_t small[4];
  size_t asked = 0, used = 99;
  cr_assert_eq(ho_frame_reader_init_grow(&r, small, sizeof small, 0, grow_none, &asked), HO_OK);
  const uint8_t wire[] = {1, 10, 0, 0, 0, 'a', 'b'};
  cr_assert_eq(ho_frame_reader_feed(&r, wire, sizeof wire, &used), HO_ERR_NOMEM);
  cr_assert_eq(used, HO_FRAME_HEADER_BYTES, "only the header is taken");
  cr_assert_eq(asked, 10, "grow is asked for the announced body length");
  cr_assert_eq(ho_frame_reader_needed(&r), 0);
  cr_assert_eq(ho_frame_reader_feed(&r, wire + 5, 2, &used), HO_ERR_STATE);
  cr_assert_eq(used, 0);
  cr_assert_eq(ho_frame_reader_finish(&r), HO_ERR_NOMEM);
}

/* spec: FRAME-6 — a reader changes its body buffer only between frames: not
 * in the middle of a header, not inside a body, not with a complete frame
 * waiting; a buffer below the cap only with a grow function. */
Test(wire_cov, frame_reader_set_buffer_only_at_a_frame_boundary) {
  static uint8_t a[16], b[16], small[8];
  ho_frame_reader r;
  size_t used = 0;
  const uint8_t *body = NULL;
  size_t blen = 0;
  cr_assert_eq(ho_frame_reader_init(&r, a, sizeof a, 16), HO_OK);
  cr_assert_eq(ho_frame_reader_set_buffer(NULL, b, sizeof b), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, NULL, 1), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, NULL, 0), HO_ERR_STATE, "below the cap, no grow");
  cr_assert_eq(ho_frame_reader_set_buffer(&r, small, sizeof small), HO_ERR_STATE);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, b, sizeof b), HO_OK);

  /* Two header bytes in: no longer at a boundary. */
  cr_assert_eq(ho_frame_reader_feed(&r, hdr10, 2, &used), HO_OK);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, a, sizeof a), HO_ERR_STATE);
  /* The rest of the header and one body byte: inside the body. */
  const uint8_t rest[] = {0, 0, 0, 'x'};
  cr_assert_eq(ho_frame_reader_feed(&r, rest, sizeof rest, &used), HO_OK);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, a, sizeof a), HO_ERR_STATE);
  const uint8_t tail[9] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  cr_assert_eq(ho_frame_reader_feed(&r, tail, sizeof tail, &used), 1);
  /* Complete but not yet released with _next(): still refused. */
  cr_assert_eq(ho_frame_reader_set_buffer(&r, a, sizeof a), HO_ERR_STATE);
  cr_assert_eq(ho_frame_reader_body(&r, &body, &blen), HO_OK);
  cr_assert_eq(body, b, "the body went into the buffer set before the frame");
  cr_assert_eq(blen, 10);
  cr_assert_arr_eq(b, "x123456789", 10);

  /* At the next boundary the old buffer comes back and the next frame uses it. */
  cr_assert_eq(ho_frame_reader_next(&r), HO_OK);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, a, sizeof a), HO_OK);
  const uint8_t f2[] = {1, 2, 0, 0, 0, 'o', 'k'};
  cr_assert_eq(ho_frame_reader_feed(&r, f2, sizeof f2, &used), 1);
  cr_assert_eq(ho_frame_reader_body(&r, &body, &blen), HO_OK);
  cr_assert_eq(body, a);
  cr_assert_eq(blen, 2);
}

/* With a grow function any buffer may be set, even one below the cap: a
 * frame that fits uses it, a larger one is grown. */
Test(wire_cov, frame_reader_set_buffer_below_the_cap_with_a_grow_function) {
  static uint8_t small[8];
  ho_frame_reader r;
  int calls = 0;
  size_t used = 0;
  const uint8_t *body = NULL;
  size_t blen = 0;
  cr_assert_eq(ho_frame_reader_init_grow(&r, NULL, 0, 64, grow_static, &calls), HO_OK);
  cr_assert_eq(ho_frame_reader_set_buffer(&r, small, sizeof small), HO_OK);
  const uint8_t f1[] = {1, 3, 0, 0, 0, 'a', 'b', 'c'};
  cr_assert_eq(ho_frame_reader_feed(&r, f1, sizeof f1, &used), 1);
  cr_assert_eq(ho_frame_reader_body(&r, &body, &blen), HO_OK);
  cr_assert_eq(body, small);
  cr_assert_eq(calls, 0, "a frame that fits the buffer set needs no grow");
  cr_assert_eq(ho_frame_reader_next(&r), HO_OK);
  uint8_t f2[HO_FRAME_HEADER_BYTES + 20] = {1, 20, 0, 0, 0};
  memset(f2 + HO_FRAME_HEADER_BYTES, 'z', 20);
  cr_assert_eq(ho_frame_reader_feed(&r, f2, sizeof f2, &used), 1);
  cr_assert_eq(ho_frame_reader_body(&r, &body, &blen), HO_OK);
  cr_assert_eq(body, grown);
  cr_assert_eq(blen, 20);
  cr_assert_eq(calls, 1);
}

/* ---- encoder check: the coalesced-reply lengths of an offer ------------ */

static ho_any_msg m;
static uint8_t out[16384], out2[16384];

static void offer_base(void) {
  memset(&m, 0, sizeof m);
  for (unsigned i = 0; i < HO_TOKEN_BYTES; i++) m.offer.token[i] = (uint8_t)i;
  strcpy(m.offer.service_name, "echo");
  m.offer.correlation_id = 7;
  m.offer.handle_value = 12;
  m.offer.offer_flags = 3;
}

/* spec: MSG-13 — reply_adopted / reply_declined at most REPLY_MAX (4096)
 * bytes: a length above the array is refused, never read past. */
Test(wire_cov, offer_encoders_refuse_reply_lengths_above_reply_max) {
  for (int c = 0; c < 2; c++) {
    for (int which = 0; which < 2; which++) {
      size_t n = 0;
      offer_base();
      size_t *len = which ? &m.offer.reply_declined_len : &m.offer.reply_adopted_len;
      *len = HO_MAX_REPLY_FRAME;
      cr_assert_eq(ho_offer_encode((ho_codec)c, &m.offer, out, sizeof out, &n), HO_OK,
                   "codec %d field %d at REPLY_MAX", c, which);
      *len = HO_MAX_REPLY_FRAME + 1;
      n = 12345;
      cr_assert_eq(ho_offer_encode((ho_codec)c, &m.offer, out, sizeof out, &n),
                   HO_ERR_INVALID_ARGUMENT, "codec %d field %d above REPLY_MAX", c, which);
      cr_assert_eq(n, 12345, "len untouched on error");
      cr_assert_eq(ho_frame_encode((ho_codec)c, HO_FT_OFFER, &m, out, sizeof out, &n),
                   HO_ERR_INVALID_ARGUMENT);
    }
  }
}

/* ---- frame encoders at every buffer size short of the frame ------------ */

/* spec: FRAME-1 MSG-14 — whatever the buffer, a frame encoder writes the
 * whole frame or reports BUFFER_TOO_SMALL (never a cut frame, never another
 * code); both codecs give the same bytes. The nanopb encoder writes straight
 * into the buffer, so a short buffer ends in the envelope's fields before
 * the payload, in the payload's tag, in its length or inside the payload. */
Test(wire_cov, frame_encoders_at_every_short_buffer_are_buffer_too_small) {
  offer_base();
  m.offer.reply_adopted_len = 40;
  memset(m.offer.reply_adopted, 0x5A, 40);
  size_t full = 0, full2 = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_NANOPB, HO_FT_OFFER, &m, out, sizeof out, &full), HO_OK);
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, out2, sizeof out2, &full2),
               HO_OK);
  cr_assert_eq(full, full2);
  cr_assert_arr_eq(out, out2, full);
  for (size_t cap = 0; cap < full; cap++) {
    for (int c = 0; c < 2; c++) {
      uint8_t b[256];
      size_t n = 777;
      cr_assert_lt(full, sizeof b);
      int rc = ho_frame_encode((ho_codec)c, HO_FT_OFFER, &m, b, cap, &n);
      cr_assert_eq(rc, HO_ERR_BUFFER_TOO_SMALL, "codec %d, cap %zu of %zu: %s", c, cap, full,
                   ho_errname(rc));
      cr_assert_eq(n, 777, "len untouched");
    }
  }
}

/* ---- white box: the back ends given input the scan did not check ------- */

typedef struct pbw {
  uint8_t b[12288];
  size_t n;
} pbw;

static void put_varint(pbw *w, uint64_t v) { w->n += ho_varint_put(w->b + w->n, v); }
static void put_ld(pbw *w, unsigned num, const void *p, size_t len) {
  put_varint(w, (uint64_t)num << 3 | 2);
  put_varint(w, len);
  memcpy(w->b + w->n, p, len);
  w->n += len;
}
static void put_fill(pbw *w, unsigned num, char c, size_t len) {
  static char tmp[8192];
  memset(tmp, c, len);
  put_ld(w, num, tmp, len);
}
static void put_token(pbw *w, unsigned num, size_t len) {
  uint8_t t[32];
  for (unsigned i = 0; i < sizeof t; i++) t[i] = (uint8_t)(0xA0 + i);
  put_ld(w, num, t, len);
}

typedef union neutral {
  ho_envelope e;
  ho_hello h;
  ho_negotiated n;
  ho_refused r;
  ho_offer o;
  ho_ack a;
} neutral;

static neutral ua, ub;

/* Decode `w` (the message type `mt`) with both back ends, unscanned: the
 * scan result is empty (no payload seen, no normalisation). */
static void both(ho_mt mt, const pbw *w, int *pbc, int *npb) {
  ho_scan_result sr;
  memset(&sr, 0, sizeof sr);
  sr.norm_len = w->n;
  memset(&ua, 0, sizeof ua);
  memset(&ub, 0, sizeof ub);
  *pbc = ho_pbc_decode(mt, w->b, w->n, &sr, &ua);
  *npb = ho_npb_decode(mt, w->b, w->n, &sr, &ub);
}

/* One capped string or bytes field of each message, at its cap and one byte
 * above it; `token` is the field number of the message's token (written
 * first, 16 bytes) or 0. */
typedef struct capped {
  ho_mt mt;
  unsigned token;
  unsigned num;
  size_t cap;
  const char *name;
} capped;

static const capped caps[] = {
    {HO_MT_ENVELOPE, 0, 8, HO_MAX_TRACEPARENT, "Frame.traceparent"},
    {HO_MT_ENVELOPE, 0, 9, HO_MAX_TRACESTATE, "Frame.tracestate"},
    {HO_MT_HELLO, 0, 3, HO_MAX_SERVICE_NAME, "Hello.service_name"},
    {HO_MT_HELLO, 0, 4, HO_MAX_WANTED_VERSION, "Hello.wanted_version"},
    {HO_MT_HELLO, 0, 5, HO_MAX_CLIENT_VERSION, "Hello.client_version"},
    {HO_MT_HELLO, 0, 7, HO_MAX_HELLO_BLOB, "Hello.auth_token"},
    {HO_MT_HELLO, 0, 8, HO_MAX_REQUEST_ID, "Hello.request_id"},
    {HO_MT_HELLO, 0, 11, HO_MAX_CLIENT_LIB, "Hello.client_lib_name"},
    {HO_MT_HELLO, 0, 12, HO_MAX_CLIENT_LIB, "Hello.client_lib_version"},
    {HO_MT_HELLO, 0, 13, HO_MAX_HELLO_BLOB, "Hello.peer_attestation_nonce"},
    {HO_MT_HELLO, 0, 14, HO_MAX_HELLO_BLOB, "Hello.capability_token"},
    {HO_MT_NEGOTIATED, 0, 2, HO_MAX_DAEMON_VERSION, "Negotiated.daemon_version"},
    {HO_MT_NEGOTIATED, 0, 3, HO_MAX_BACKEND_PIPE, "Negotiated.backend_pipe"},
    {HO_MT_NEGOTIATED, 0, 4, HO_MAX_WARNING, "Negotiated.warnings[0]"},
    {HO_MT_NEGOTIATED, 0, 7, HO_TOKEN_BYTES, "Negotiated.handle_passed_token"},
    {HO_MT_REFUSED, 0, 1, HO_MAX_REASON, "Refused.reason"},
    {HO_MT_OFFER, 2, 3, HO_MAX_SERVICE_NAME, "HandoffOffer.service_name"},
    {HO_MT_OFFER, 2, 12, HO_MAX_REPLY_FRAME, "HandoffOffer.reply_adopted"},
    {HO_MT_OFFER, 2, 13, HO_MAX_REPLY_FRAME, "HandoffOffer.reply_declined"},
    {HO_MT_ACK, 1, 3, HO_MAX_ERROR_DETAIL, "HandoffAck.error_detail"},
};

/* spec: MSG-6 MSG-12 — at the cap both back ends decode the same value; one
 * byte above it both refuse (the scan reports STRING_TOO_LONG first; the
 * back ends' own bound is what keeps a copy inside the neutral struct). */
Test(wire_cov, back_ends_refuse_every_capped_field_above_its_cap_without_the_scan) {
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    const capped *c = &caps[i];
    for (size_t extra = 0; extra < 2; extra++) {
      static pbw w;
      w.n = 0;
      if (c->token) put_token(&w, c->token, HO_TOKEN_BYTES);
      put_fill(&w, c->num, 'a', c->cap + extra);
      int pbc, npb;
      both(c->mt, &w, &pbc, &npb);
      if (extra == 0) {
        cr_assert_eq(pbc, HO_OK, "%s at its cap (protobuf-c): %s", c->name, ho_errname(pbc));
        cr_assert_eq(npb, HO_OK, "%s at its cap (nanopb): %s", c->name, ho_errname(npb));
        cr_assert_arr_eq(&ua, &ub, sizeof ua, "%s: the back ends differ", c->name);
      } else {
        cr_assert_eq(pbc, HO_ERR_MALFORMED, "%s above its cap (protobuf-c): %s", c->name,
                     ho_errname(pbc));
        cr_assert_eq(npb, HO_ERR_MALFORMED, "%s above its cap (nanopb): %s", c->name,
                     ho_errname(npb));
      }
    }
  }
}

/* The two map-entry strings of Refused.details, at and above their caps. */
Test(wire_cov, back_ends_refuse_detail_keys_and_values_above_their_caps_without_the_scan) {
  const size_t cap[2] = {HO_MAX_DETAIL_KEY, HO_MAX_DETAIL_VALUE};
  for (unsigned f = 0; f < 2; f++) {
    for (size_t extra = 0; extra < 2; extra++) {
      pbw e, w;
      e.n = w.n = 0;
      put_ld(&e, 1, "k", 1);
      put_ld(&e, 2, "v", 1);
      put_fill(&e, f + 1, 'd', cap[f] + extra); /* last one wins in the entry */
      put_ld(&w, 5, e.b, e.n);
      int pbc, npb;
      both(HO_MT_REFUSED, &w, &pbc, &npb);
      int want = extra ? HO_ERR_MALFORMED : HO_OK;
      cr_assert_eq(pbc, want, "details %s %s (protobuf-c): %s", f ? "value" : "key",
                   extra ? "above" : "at", ho_errname(pbc));
      cr_assert_eq(npb, want, "details %s %s (nanopb): %s", f ? "value" : "key",
                   extra ? "above" : "at", ho_errname(npb));
      if (!extra) {
        cr_assert_eq(ua.r.details_count, 1);
        cr_assert_eq(strlen(f ? ua.r.details[0].value : ua.r.details[0].key), cap[f]);
        cr_assert_arr_eq(&ua, &ub, sizeof ua);
      }
    }
  }
}

static void put_warning(pbw *w, unsigned i) {
  (void)i;
  put_ld(w, 4, "w", 1);
}

static void put_detail(pbw *w, unsigned i) {
  const uint8_t entry[] = {0x0a, 0x01, (uint8_t)('a' + i), 0x12, 0x01, 'v'};
  put_ld(w, 5, entry, sizeof entry);
}

/* `max` entries (put(w, i) each) of a message of type `mt` are decoded by
 * both back ends (*count, of the back end `count` points into, is `max`);
 * one more is HO_ERR_MALFORMED from both. */
static void max_fit_one_more_refused(ho_mt mt, unsigned max, void (*put)(pbw *, unsigned),
                                     const size_t *count, const char *what) {
  for (unsigned k = max; k <= max + 1; k++) {
    pbw w;
    w.n = 0;
    for (unsigned i = 0; i < k; i++) put(&w, i);
    int pbc, npb;
    both(mt, &w, &pbc, &npb);
    int want = k > max ? HO_ERR_MALFORMED : HO_OK;
    cr_assert_eq(pbc, want, "%u %s (protobuf-c): %s", k, what, ho_errname(pbc));
    cr_assert_eq(npb, want, "%u %s (nanopb): %s", k, what, ho_errname(npb));
    if (want == HO_OK) cr_assert_eq(*count, max);
  }
}

/* spec: MSG-9 — eight warnings or details fit, a ninth is refused. */
Test(wire_cov, back_ends_refuse_a_ninth_warning_or_detail_without_the_scan) {
  max_fit_one_more_refused(HO_MT_NEGOTIATED, HO_MAX_WARNINGS, put_warning, &ua.n.warnings_count,
                           "warnings");
  max_fit_one_more_refused(HO_MT_REFUSED, HO_MAX_DETAILS, put_detail, &ub.r.details_count, "details");
}

/* spec: MSG-8 — the token of an offer and of an ACK is exactly 16 bytes: a
 * short one (which the scan's final-value check refuses) is refused by the
 * back ends too, not copied as 16 bytes. */
Test(wire_cov, back_ends_refuse_short_tokens_without_the_scan) {
  const ho_mt mts[2] = {HO_MT_OFFER, HO_MT_ACK};
  const unsigned num[2] = {2, 1};
  const size_t lens[3] = {0, 3, 15};
  for (int i = 0; i < 2; i++) {
    for (int l = 0; l < 3; l++) {
      pbw w;
      w.n = 0;
      if (lens[l]) put_token(&w, num[i], lens[l]);
      put_ld(&w, 3, "svc", 3);
      int pbc, npb;
      both(mts[i], &w, &pbc, &npb);
      cr_assert_eq(pbc, HO_ERR_MALFORMED, "type %d token %zu (protobuf-c): %s", mts[i], lens[l],
                   ho_errname(pbc));
      cr_assert_eq(npb, HO_ERR_MALFORMED, "type %d token %zu (nanopb): %s", mts[i], lens[l],
                   ho_errname(npb));
    }
  }
}

/* The protobuf-c back end takes the envelope's payload view from the scan
 * (msg.h: a view into the input) and checks protobuf-c saw the same length:
 * a scan result that did not see the payload is a disagreement. */
Test(wire_cov, protobuf_c_refuses_an_envelope_whose_payload_the_scan_did_not_see) {
  pbw w;
  w.n = 0;
  put_varint(&w, 0x08);
  put_varint(&w, 1);
  put_ld(&w, 4, "xy", 2);
  ho_scan_result sr;
  cr_assert_eq(ho_scan(&ho_schema_envelope, w.b, w.n, &sr), HO_OK);
  memset(&ua, 0, sizeof ua);
  cr_assert_eq(ho_pbc_decode(HO_MT_ENVELOPE, w.b, w.n, &sr, &ua), HO_OK);
  cr_assert_eq(ua.e.payload, w.b + 4);
  cr_assert_eq(ua.e.payload_len, 2);
  sr.count[4] = 0; /* as if the scan had seen no payload */
  cr_assert_eq(ho_pbc_decode(HO_MT_ENVELOPE, w.b, w.n, &sr, &ua), HO_ERR_MALFORMED);
  sr.count[4] = 1;
  sr.last_len[4] = 1; /* or another length */
  cr_assert_eq(ho_pbc_decode(HO_MT_ENVELOPE, w.b, w.n, &sr, &ua), HO_ERR_MALFORMED);
}

/* spec: MSG-2 MSG-9 — a oneof member that occurs twice is the merge of its
 * occurrences, and the item cap counts across the merge: two Negotiated of
 * five warnings each are ten warnings. The public decoder reports it from
 * the scan (TOO_MANY_ITEMS); each back end alone, given the reply, refuses
 * the merge — protobuf-c after concatenating, nanopb on the second part. */
Test(wire_cov, merged_member_above_an_item_cap_is_refused_by_both_back_ends) {
  pbw part, reply;
  part.n = reply.n = 0;
  for (int i = 0; i < 5; i++) put_ld(&part, 4, "w", 1);
  put_ld(&reply, 1, part.b, part.n);
  put_ld(&reply, 1, part.b, part.n);
  static ho_hello_reply hr;
  for (int c = 0; c < 2; c++)
    cr_assert_eq(ho_hello_reply_decode((ho_codec)c, reply.b, reply.n, &hr),
                 HO_ERR_TOO_MANY_ITEMS, "codec %d", c);
  memset(&ua, 0, sizeof ua);
  cr_assert_eq(ho_pbc_decode_member(HO_MT_NEGOTIATED, reply.b, reply.n, 0, 1, &ua.n),
               HO_ERR_MALFORMED);
  cr_assert_eq(ho_npb_decode_member(HO_MT_NEGOTIATED, reply.b, reply.n, 0, 1, &ub.n),
               HO_ERR_MALFORMED);
  /* One part alone is eight or fewer: both merge it. */
  pbw one;
  one.n = 0;
  put_ld(&one, 1, part.b, part.n);
  memset(&ua, 0, sizeof ua);
  memset(&ub, 0, sizeof ub);
  cr_assert_eq(ho_pbc_decode_member(HO_MT_NEGOTIATED, one.b, one.n, 0, 1, &ua.n), HO_OK);
  cr_assert_eq(ho_npb_decode_member(HO_MT_NEGOTIATED, one.b, one.n, 0, 1, &ub.n), HO_OK);
  cr_assert_eq(ua.n.warnings_count, 5);
  cr_assert_arr_eq(&ua.n, &ub.n, sizeof ua.n);
}

/* spec: MSG-11 — the nanopb normalising stream passes every byte of a
 * message it does not narrow through unchanged: an offer (no uint32 or bool
 * field) with fields of every size read through it decodes exactly as read
 * directly, including the 4096-byte reply passed through in pieces. */
Test(wire_cov, nanopb_normalising_stream_is_transparent_for_an_offer) {
  offer_base();
  m.offer.reply_adopted_len = HO_MAX_REPLY_FRAME;
  for (size_t i = 0; i < HO_MAX_REPLY_FRAME; i++) m.offer.reply_adopted[i] = (uint8_t)(i * 7);
  m.offer.reply_declined_len = 3;
  memcpy(m.offer.reply_declined, "abc", 3);
  size_t n = 0;
  cr_assert_eq(ho_offer_encode(HO_CODEC_NANOPB, &m.offer, out, sizeof out, &n), HO_OK);
  ho_scan_result sr;
  cr_assert_eq(ho_scan(&ho_schema_offer, out, n, &sr), HO_OK);
  cr_assert_eq(sr.needs_norm, 0, "an offer has nothing to narrow");
  memset(&ua, 0, sizeof ua);
  cr_assert_eq(ho_npb_decode(HO_MT_OFFER, out, n, &sr, &ua), HO_OK);
  sr.needs_norm = 1; /* read it through the stream all the same */
  memset(&ub, 0, sizeof ub);
  cr_assert_eq(ho_npb_decode(HO_MT_OFFER, out, n, &sr, &ub), HO_OK);
  cr_assert_arr_eq(&ua.o, &ub.o, sizeof ua.o);
  cr_assert_arr_eq(&ub.o, &m.offer, sizeof m.offer, "the offer encoded");
}

/* The nanopb back end copies strings with their array sizes: a neutral
 * struct whose array holds no NUL (ho_msg_check refuses it before any
 * encoder runs) is cut at its cap, never read past its array. */
Test(wire_cov, nanopb_encoder_cuts_an_unterminated_string_array_at_its_cap) {
  static ho_hello h;
  memset(&h, 0, sizeof h);
  h.client_min_protocol = h.client_max_protocol = 1;
  memset(h.service_name, 's', sizeof h.service_name); /* no NUL at all */
  cr_assert_eq(ho_msg_check(HO_MT_HELLO, &h), HO_ERR_STRING_TOO_LONG);
  size_t n = 0;
  cr_assert_eq(ho_npb_encode(HO_MT_HELLO, &h, out, sizeof out, &n), HO_OK);
  static ho_hello back;
  cr_assert_eq(ho_hello_decode(HO_CODEC_NANOPB, out, n, &back), HO_OK);
  cr_assert_eq(strlen(back.service_name), HO_MAX_SERVICE_NAME);
  cr_assert_arr_eq(back.service_name, h.service_name, HO_MAX_SERVICE_NAME);
}

/* spec: FRAME-7 — why no frame encoder can exceed its cap (the FRAME_TOO_LARGE
 * checks after encoding are never taken, conformance/coverage-unreached.txt):
 * every field of every frame at its cap gives a body under 10 KiB, far below
 * the 64 KiB of hello, offer, ACK and ready frames and the 16 MiB of the rest. */
Test(wire_cov, maximal_frames_stay_far_below_their_caps) {
  static ho_any_msg mx[6];
  static const ho_frame_type types[6] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_HELLO_REPLY,
                                         HO_FT_OFFER, HO_FT_ACK, HO_FT_READY};
  memset(mx, 0, sizeof mx);
  ho_hello *h = &mx[0].hello;
  h->client_min_protocol = h->client_max_protocol = UINT32_MAX;
  h->client_capabilities = h->connection_id = h->client_keepalive_secs = UINT64_MAX;
  h->peer_pid = UINT32_MAX;
#define FULL(s) memset((s), 'a', sizeof(s) - 1)
  FULL(h->service_name), FULL(h->wanted_version), FULL(h->client_version), FULL(h->request_id);
  FULL(h->client_lib_name), FULL(h->client_lib_version);
  h->auth_token.len = h->peer_attestation_nonce.len = h->capability_token.len = HO_MAX_HELLO_BLOB;
  ho_negotiated *n = &mx[1].hello_reply.negotiated;
  mx[1].hello_reply.which = HO_REPLY_NEGOTIATED;
  n->negotiated_protocol = UINT32_MAX;
  n->server_capabilities = n->keepalive_interval_secs = n->connection_id = UINT64_MAX;
  FULL(n->daemon_version), FULL(n->backend_pipe);
  n->warnings_count = HO_MAX_WARNINGS;
  for (unsigned i = 0; i < HO_MAX_WARNINGS; i++) FULL(n->warnings[i]);
  n->handle_passed_token_len = HO_TOKEN_BYTES;
  ho_refused *r = &mx[2].hello_reply.refused;
  mx[2].hello_reply.which = HO_REPLY_REFUSED;
  FULL(r->reason);
  r->daemon_min_protocol = r->daemon_max_protocol = UINT32_MAX;
  r->code = INT32_MAX;
  r->retry_after_ms = UINT64_MAX;
  r->details_count = HO_MAX_DETAILS;
  for (unsigned i = 0; i < HO_MAX_DETAILS; i++) {
    FULL(r->details[i].key), FULL(r->details[i].value);
    r->details[i].key[0] = (char)('A' + i); /* distinct keys */
  }
  ho_offer *o = &mx[3].offer;
  o->handle_value = o->correlation_id = o->offer_flags = UINT64_MAX;
  FULL(o->service_name);
  o->reply_adopted_len = o->reply_declined_len = HO_MAX_REPLY_FRAME;
  for (int k = 4; k < 6; k++) {
    mx[k].ack.accepted = true;
    mx[k].ack.correlation_id = mx[k].ack.backend_capabilities = UINT64_MAX;
    FULL(mx[k].ack.error_detail);
  }
#undef FULL
  for (int k = 0; k < 6; k++) {
    for (int c = 0; c < 2; c++) {
      size_t len = 0;
      int rc = ho_frame_encode((ho_codec)c, types[k], &mx[k], out, sizeof out, &len);
      cr_assert_eq(rc, HO_OK, "frame %d codec %d: %s", k, c, ho_errname(rc));
      cr_assert_lt(len - HO_FRAME_HEADER_BYTES, 10u * 1024u, "frame %d: %zu bytes", k, len);
    }
  }
}
