/* Unit tests: framing layer (ref/lib/wire/frame.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "handoff/frame.h"

static uint8_t body_buf[HO_MAX_HELLO_BYTES];

static void frame_of(uint8_t *out, const uint8_t *body, uint32_t n) {
  cr_assert_eq(ho_frame_write_header(out, n), HO_OK);
  memcpy(out + 5, body, n);
}

/* spec: FRAME-1 FRAME-6 — any chunking yields the frame, nothing past it is taken. */
Test(frame, reader_every_chunking_stops_at_frame_end) {
  uint8_t wire[5 + 7 + 3];
  const uint8_t body[7] = {1, 2, 3, 4, 5, 6, 7};
  frame_of(wire, body, 7);
  memcpy(wire + 12, "xyz", 3); /* bytes of the next frame / client data */
  for (size_t chunk = 1; chunk <= sizeof wire; chunk++) {
    ho_frame_reader r;
    cr_assert_eq(ho_frame_reader_init(&r, body_buf, sizeof body_buf, HO_MAX_HELLO_BYTES), HO_OK);
    size_t off = 0;
    int rc = 0;
    while (off < sizeof wire) {
      size_t n = sizeof wire - off < chunk ? sizeof wire - off : chunk;
      size_t used = 0;
      rc = ho_frame_reader_feed(&r, wire + off, n, &used);
      cr_assert(rc >= 0, "chunk %zu: rc %d", chunk, rc);
      off += used;
      if (rc == 1) break;
      cr_assert_eq(used, n);
    }
    cr_assert_eq(rc, 1, "chunk %zu", chunk);
    cr_assert_eq(off, 12, "chunk %zu consumed %zu", chunk, off);
    const uint8_t *b;
    size_t blen;
    cr_assert_eq(ho_frame_reader_body(&r, &b, &blen), HO_OK);
    cr_assert_eq(blen, 7);
    cr_assert_arr_eq(b, body, 7);
  }
}

/* spec: FRAME-6 — needed() is exact, so read(fd, buf, needed) never over-reads. */
Test(frame, reader_needed_is_exact) {
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, body_buf, sizeof body_buf, HO_MAX_HELLO_BYTES), HO_OK);
  cr_assert_eq(ho_frame_reader_needed(&r), 5);
  uint8_t hdr[5];
  ho_frame_write_header(hdr, 300);
  size_t used;
  cr_assert_eq(ho_frame_reader_feed(&r, hdr, 2, &used), 0);
  cr_assert_eq(ho_frame_reader_needed(&r), 3);
  cr_assert_eq(ho_frame_reader_feed(&r, hdr + 2, 3, &used), 0);
  cr_assert_eq(ho_frame_reader_needed(&r), 300);
}

Test(frame, reader_empty_body_is_a_frame) {
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, body_buf, sizeof body_buf, HO_MAX_HELLO_BYTES), HO_OK);
  const uint8_t wire[5] = {1, 0, 0, 0, 0};
  size_t used;
  cr_assert_eq(ho_frame_reader_feed(&r, wire, 5, &used), 1);
  cr_assert_eq(used, 5);
  cr_assert_eq(ho_frame_reader_next(&r), HO_OK);
  cr_assert_eq(ho_frame_reader_finish(&r), HO_OK);
}

/* spec: FRAME-2 */
Test(frame, reader_rejects_framing_version_on_first_byte) {
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, body_buf, sizeof body_buf, 0 + HO_MAX_HELLO_BYTES), HO_OK);
  const uint8_t wire[1] = {2};
  size_t used;
  cr_assert_eq(ho_frame_reader_feed(&r, wire, 1, &used), HO_ERR_FRAMING_VERSION);
  cr_assert_eq(ho_frame_reader_feed(&r, wire, 1, &used), HO_ERR_STATE);
  cr_assert_eq(ho_frame_reader_finish(&r), HO_ERR_FRAMING_VERSION);
}

/* spec: FRAME-3 FRAME-5 — the cap is checked from the header, before the body. */
Test(frame, reader_rejects_length_over_cap) {
  ho_frame_reader r;
  cr_assert_eq(ho_frame_reader_init(&r, body_buf, sizeof body_buf, HO_MAX_HELLO_BYTES), HO_OK);
  uint8_t hdr[5];
  ho_frame_write_header(hdr, HO_MAX_HELLO_BYTES + 1);
  size_t used;
  cr_assert_eq(ho_frame_reader_feed(&r, hdr, 5, &used), HO_ERR_FRAME_TOO_LARGE);
  cr_assert_eq(used, 5);
  /* exactly at the cap is fine */
  cr_assert_eq(ho_frame_reader_init(&r, body_buf, sizeof body_buf, HO_MAX_HELLO_BYTES), HO_OK);
  ho_frame_write_header(hdr, HO_MAX_HELLO_BYTES);
  cr_assert_eq(ho_frame_reader_feed(&r, hdr, 5, &used), 0);
  cr_assert_eq(ho_frame_reader_needed(&r), HO_MAX_HELLO_BYTES);
}

/* spec: FRAME-4 */
Test(frame, finish_mid_frame_is_truncated) {
  uint8_t wire[5 + 4];
  const uint8_t body[4] = {9, 9, 9, 9};
  frame_of(wire, body, 4);
  for (size_t cut = 1; cut < sizeof wire; cut++) {
    ho_frame_reader r;
    ho_frame_reader_init(&r, body_buf, sizeof body_buf, HO_MAX_HELLO_BYTES);
    size_t used;
    cr_assert_eq(ho_frame_reader_feed(&r, wire, cut, &used), 0);
    cr_assert_eq(ho_frame_reader_finish(&r), HO_ERR_TRUNCATED, "cut %zu", cut);
  }
}

Test(frame, init_rejects_small_buffer_and_clamps_cap) {
  ho_frame_reader r;
  memset(&r, 0xAB, sizeof r);
  cr_assert_eq(ho_frame_reader_init(&r, body_buf, 10, 11), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(r.hdr_have, 0xAB, "left untouched on failure");
  cr_assert_eq(ho_frame_reader_init(NULL, body_buf, 10, 10), HO_ERR_INVALID_ARGUMENT);
}

Test(frame, parse_one_shot) {
  uint8_t wire[5 + 3] = {1, 3, 0, 0, 0, 'a', 'b', 'c'};
  const uint8_t *b = NULL;
  size_t n = 0;
  cr_assert_eq(ho_frame_parse(wire, sizeof wire, 0, &b, &n), HO_OK);
  cr_assert_eq(n, 3);
  cr_assert_eq(b, wire + 5);
  cr_assert_eq(ho_frame_parse(wire, 7, 0, &b, &n), HO_ERR_TRUNCATED);
  cr_assert_eq(ho_frame_parse(wire, 3, 0, &b, &n), HO_ERR_TRUNCATED);
  cr_assert_eq(ho_frame_parse(wire, sizeof wire, 2, &b, &n), HO_ERR_FRAME_TOO_LARGE);
  wire[0] = 0;
  cr_assert_eq(ho_frame_parse(wire, sizeof wire, 0, &b, &n), HO_ERR_FRAMING_VERSION);
}

Test(frame, write_header_rejects_oversize) {
  uint8_t hdr[5];
  cr_assert_eq(ho_frame_write_header(hdr, (size_t)HO_MAX_FRAME_BYTES + 1), HO_ERR_FRAME_TOO_LARGE);
  cr_assert_eq(ho_frame_write_header(hdr, 0x01020304 & 0xFFFFFF), HO_OK);
  cr_assert_eq(hdr[1], 0x04);
  cr_assert_eq(hdr[3], 0x02);
}

Test(error, names_round_trip_and_classes) {
  cr_assert_str_eq(ho_errname(HO_ERR_FRAMING_VERSION), "FRAMING_VERSION");
  cr_assert_eq(ho_err_from_name("TOKEN_MISMATCH"), HO_ERR_TOKEN_MISMATCH);
  cr_assert_eq(ho_err_class(HO_ERR_TRUNCATED), HO_ERRCLASS_FRAMING);
  cr_assert_eq(ho_err_class(HO_ERR_CTRUNC), HO_ERRCLASS_TRANSPORT);
  cr_assert_eq(ho_err_class(0), 0);
  cr_assert_eq(ho_err_class(-999), -1);
  cr_assert_null(ho_errname(-999));
  cr_assert_str_eq(ho_strerror(-999), "unknown error");
}
