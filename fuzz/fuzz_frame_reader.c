/* Target functions: ho_frame_reader_init ho_frame_reader_feed
 * ho_frame_reader_needed ho_frame_reader_body ho_frame_reader_next
 * ho_frame_reader_finish ho_frame_parse ho_frame_write_header
 * (ref/lib/wire/frame.c).
 *
 * The input is [cap selector][chunking seed][stream]: a byte stream of
 * frames (valid, truncated, oversized, wrong framing byte) read by the
 * incremental reader with a body cap chosen by the first byte (the default
 * 16 MiB, the Hello cap, a cap above 16 MiB that is lowered, or a small cap
 * of 1..253 bytes in a buffer of exactly that size), three times:
 *   one-shot  all remaining bytes in each feed;
 *   chunked   feeds of pseudo-random sizes (0, 1, needed-1, needed,
 *             needed+1, a few, many) from the seed, empty feeds sometimes
 *             without a buffer, and calls out of place (feed before next(),
 *             body() and next() before a frame is done);
 *   exact     feeds of exactly needed() bytes (a broker's read(fd, needed)).
 * Each run must equal an independent model of spec/framing.md computed from
 * the whole stream, so all three yield identical frames and errors:
 *  - the same frames, each with the bytes of the stream; each frame also
 *    parses with ho_frame_parse() to the same body (spec: FRAME-1);
 *  - a feed consumes exactly min(len, bytes to the end of the current frame),
 *    never a byte past it (spec: FRAME-6); needed() is exact at every step:
 *    the missing bytes of the header, then of the body, 0 once done;
 *  - a wrong framing byte is FRAMING_VERSION in the very feed that brings it
 *    (spec: FRAME-2), a length above the cap is FRAME_TOO_LARGE as soon as
 *    the fifth header byte is in, before any body byte (spec: FRAME-3);
 *    errors are sticky: STATE afterwards, nothing consumed (spec: FRAME-10);
 *  - at the end finish() is OK at a frame boundary (spec: FRAME-9),
 *    TRUNCATED inside a frame (spec: FRAME-4), or the sticky error.
 *
 * libFuzzer build: make fuzz-run-fuzz_frame_reader (structure-aware
 * mutator of proto_mutator.h over the frames of the stream); replay:
 * -DHO_FUZZ_REPLAY_MAIN (make test).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/frame.h"

#define HO_FUZZ_NAME "fuzz_frame_reader"
#define MAX_STREAM (256u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *mode, size_t pos, const char *what) {
  fprintf(stderr, "%s: %s run, stream offset %zu: %s\n", HO_FUZZ_NAME, mode, pos, what);
  abort();
}

/* ---- the model: what spec/framing.md says the stream is ---------------- */

typedef struct mframe {
  size_t start;    /* offset of the framing byte */
  uint32_t len;    /* body length */
} mframe;

typedef struct model {
  mframe f[MAX_STREAM / 5 + 2];
  size_t nf;       /* complete frames */
  int end_rc;      /* finish(): OK, TRUNCATED, FRAMING_VERSION, FRAME_TOO_LARGE */
  size_t err_at;   /* start of the frame that failed or was cut */
} model;

static model M;

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void model_build(const uint8_t *s, size_t n, uint32_t cap) {
  size_t p = 0;
  M.nf = 0;
  M.end_rc = HO_OK;
  M.err_at = n;
  while (p < n) {
    M.err_at = p;
    if (s[p] != 1) { M.end_rc = HO_ERR_FRAMING_VERSION; return; }
    if (n - p < 5) { M.end_rc = HO_ERR_TRUNCATED; return; }
    uint32_t len = le32(s + p + 1);
    if (len > cap) { M.end_rc = HO_ERR_FRAME_TOO_LARGE; return; }
    if (n - p - 5 < len) { M.end_rc = HO_ERR_TRUNCATED; return; }
    M.f[M.nf++] = (mframe){p, len};
    p += 5 + (size_t)len;
  }
  M.err_at = n;
}

/* ---- chunk schedules ------------------------------------------------------- */

enum { ONE_SHOT, CHUNKED, EXACT };
static const char *const mode_name[] = {"one-shot", "chunked", "exact"};

static uint32_t rng;
static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static size_t chunk_len(int mode, size_t need, size_t left) {
  size_t n = left;
  if (mode == EXACT) {
    n = need;
  } else if (mode == CHUNKED) {
    uint32_t r = next_rand();
    switch (r % 8) {
    case 0: n = 0; break;
    case 1: n = 1; break;
    case 2: n = need > 0 ? need - 1 : 0; break;
    case 3: n = need; break;
    case 4: n = need + 1; break;
    case 5: n = (r >> 8) % 7; break;
    case 6: n = (r >> 8) % 300; break;
    default: n = left; break;
    }
  }
  return n < left ? n : left;
}

/* ---- one run of the reader against the model ------------------------------ */

static void run(int mode, const uint8_t *s, size_t n, uint32_t max_body, uint8_t *buf, size_t cap,
                uint32_t eff_cap) {
  const char *mn = mode_name[mode];
  ho_frame_reader r;
  if (ho_frame_reader_init(&r, buf, cap, max_body) != HO_OK) die(mn, 0, "init failed");
  size_t pos = 0, fi = 0;
  int err = HO_OK;
  while (pos < n && err == HO_OK) {
    /* Where the model says we are: frame fi (or the failing/cut one). */
    size_t fstart = fi < M.nf ? M.f[fi].start : M.err_at;
    size_t in_frame = pos - fstart;
    size_t need;
    if (in_frame < 5) {
      need = 5 - in_frame;
    } else if (fi < M.nf) {
      need = (size_t)M.f[fi].len - (in_frame - 5);
    } else {
      need = (size_t)le32(s + fstart + 1) - (in_frame - 5); /* truncated body */
    }
    if (ho_frame_reader_needed(&r) != need) die(mn, pos, "needed() is not the missing bytes");
    if (ho_frame_reader_finish(&r) != (in_frame == 0 ? HO_OK : HO_ERR_TRUNCATED))
      die(mn, pos, "finish() mid-stream");
    const uint8_t *b;
    size_t bl;
    if (ho_frame_reader_body(&r, &b, &bl) != HO_ERR_STATE) die(mn, pos, "body() before a frame");
    if (mode == CHUNKED && (next_rand() & 15) == 0 && ho_frame_reader_next(&r) != HO_ERR_STATE)
      die(mn, pos, "next() before a frame");

    size_t len = chunk_len(mode, need, n - pos);
    size_t used = 12345;
    /* An empty feed may come without a buffer (frame.h). */
    const uint8_t *in = len == 0 && mode == CHUNKED && (next_rand() & 1) ? NULL : s + pos;
    int rc = ho_frame_reader_feed(&r, in, len, &used);
    size_t frame_end = fi < M.nf ? M.f[fi].start + 5 + M.f[fi].len : n;
    size_t hdr_end = fstart + 5;

    if (fi >= M.nf && M.end_rc == HO_ERR_FRAMING_VERSION) {
      /* spec: FRAME-2 — reported by the feed that brings the byte. */
      if (len == 0) {
        if (rc != HO_OK || used != 0) die(mn, pos, "empty feed");
        continue;
      }
      if (rc != HO_ERR_FRAMING_VERSION) die(mn, pos, "wrong framing byte not reported at once");
      if (used == 0 || used > len || pos + used > hdr_end) die(mn, pos, "bad header consumption");
      err = rc;
      pos += used;
      break;
    }
    if (fi >= M.nf && M.end_rc == HO_ERR_FRAME_TOO_LARGE && pos + len >= hdr_end) {
      /* spec: FRAME-3 — from the header alone, no body byte taken. */
      if (rc != HO_ERR_FRAME_TOO_LARGE) die(mn, pos, "oversized length not reported");
      if (used != hdr_end - pos) die(mn, pos, "oversized: consumed past the header");
      err = rc;
      pos += used;
      break;
    }
    size_t want_used = len < frame_end - pos ? len : frame_end - pos;
    if (used != want_used) die(mn, pos, "consumed the wrong number of bytes (FRAME-6)");
    pos += used;
    if (fi < M.nf && pos == frame_end) {
      if (rc != 1) die(mn, pos, "frame complete but not reported");
      if (ho_frame_reader_needed(&r) != 0) die(mn, pos, "needed() of a complete frame");
      if (ho_frame_reader_finish(&r) != HO_OK) die(mn, pos, "finish() after a complete frame");
      if (ho_frame_reader_body(&r, &b, &bl) != HO_OK) die(mn, pos, "body()");
      if (bl != M.f[fi].len || (bl && memcmp(b, s + M.f[fi].start + 5, bl) != 0))
        die(mn, pos, "body differs from the stream");
      if (b != buf) die(mn, pos, "body not in the caller's buffer");
      const uint8_t *pb;
      size_t pl;
      if (ho_frame_parse(s + M.f[fi].start, 5 + bl, eff_cap, &pb, &pl) != HO_OK || pl != bl ||
          pb != s + M.f[fi].start + 5)
        die(mn, pos, "ho_frame_parse disagrees with the reader");
      if (mode == CHUNKED && (next_rand() & 3) == 0) {
        /* Out of place: more bytes before next(). */
        size_t u2 = 99;
        if (ho_frame_reader_feed(&r, s + pos, n - pos, &u2) != HO_ERR_STATE || u2 != 0)
          die(mn, pos, "feed before next() accepted");
      }
      if (ho_frame_reader_next(&r) != HO_OK) die(mn, pos, "next()");
      fi++;
    } else if (rc != HO_OK) {
      die(mn, pos, "unexpected return mid-frame");
    }
  }
  if (fi != M.nf) die(mn, pos, "fewer frames than the model");
  int fin = ho_frame_reader_finish(&r);
  if (fin != M.end_rc) die(mn, pos, "finish() differs from the model (FRAME-4 FRAME-9)");
  if (err != HO_OK) {
    /* Sticky (spec: FRAME-10). */
    size_t u = 7;
    if (ho_frame_reader_feed(&r, s, n, &u) != HO_ERR_STATE || u != 0) die(mn, pos, "error not sticky");
    if (ho_frame_reader_needed(&r) != 0) die(mn, pos, "needed() after an error");
    if (ho_frame_reader_next(&r) != HO_ERR_STATE) die(mn, pos, "next() after an error");
  }
}

/* ---- one-shot parser against the model ------------------------------------- */

static void check_parse(const uint8_t *s, size_t n, uint32_t eff_cap) {
  const uint8_t *b = NULL;
  size_t bl = 0;
  int rc = ho_frame_parse(s, n, eff_cap, &b, &bl);
  int want;
  if (M.nf == 1 && M.end_rc == HO_OK) want = HO_OK;
  else if (M.nf == 0) want = M.end_rc == HO_OK ? HO_ERR_TRUNCATED : M.end_rc;
  else want = HO_ERR_INVALID_ARGUMENT; /* bytes after the frame */
  if (rc != want) die("parse", 0, "ho_frame_parse of the whole stream");
}

static uint8_t hello_buf[HO_MAX_HELLO_BYTES];
static uint8_t *big_buf;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size - 2 > MAX_STREAM) return 0;
  const uint8_t *s = data + 2;
  size_t n = size - 2;
  uint32_t max_body, eff;
  uint8_t *buf;
  size_t cap;
  uint8_t *small = NULL;
  switch (data[0]) {
  case 0:
  case 2:
    /* The default cap, and a cap above it lowered to it. */
    max_body = data[0] == 0 ? 0 : HO_MAX_FRAME_BYTES + 1;
    eff = HO_MAX_FRAME_BYTES;
    if (big_buf == NULL) big_buf = malloc(HO_MAX_FRAME_BYTES);
    if (big_buf == NULL) return 0;
    buf = big_buf, cap = HO_MAX_FRAME_BYTES;
    break;
  case 1:
    max_body = eff = HO_MAX_HELLO_BYTES;
    buf = hello_buf, cap = sizeof hello_buf;
    break;
  default:
    max_body = eff = (uint32_t)data[0] - 2u;
    small = malloc(eff); /* exactly the cap: ASan sees any write past it */
    if (small == NULL) return 0;
    buf = small, cap = eff;
    /* A buffer one byte short is refused, the reader left untouched. */
    ho_frame_reader r, before;
    memset(&r, 0x5C, sizeof r);
    before = r;
    if (ho_frame_reader_init(&r, buf, cap - 1, max_body) != HO_ERR_INVALID_ARGUMENT ||
        memcmp(&r, &before, sizeof r) != 0)
      die("init", 0, "short buffer accepted, or the reader touched");
    break;
  }
  model_build(s, n, eff);
  for (int mode = ONE_SHOT; mode <= EXACT; mode++) {
    rng = 0x9E3779B9u ^ ((uint32_t)data[1] << 8 | data[1]) ^ (uint32_t)n;
    if (rng == 0) rng = 1;
    run(mode, s, n, max_body, buf, cap, eff);
  }
  check_parse(s, n, eff);
  free(small);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#include "fuzz_replay_main.h"
#else
#define HO_PM_MODE HO_PM_STREAM
#define HO_PM_PREFIX 2
#include "proto_mutator.h"
#endif
