/* handoff — framing layer: an incremental, sans-I/O frame reader and the
 * frame header writer.
 *
 * Wire form of every frame (spec/framing.md):
 *     [u8 framing_version = 1][u32 little-endian body_length][body]
 *
 * The reader never consumes a byte past the end of the current frame, and
 * ho_frame_reader_needed() says exactly how many more bytes complete the
 * current part (header, then body), so a broker can read a Hello frame with
 * read(fd, buf, needed) and hand the connection off with every later byte
 * still in the socket (spec: FRAME-6).
 *
 * Threads: one ho_frame_reader is used by one thread at a time; the other
 * functions are pure. No descriptors, nothing to do across fork or exec
 * (handoff/version.h).
 */
#ifndef HANDOFF_FRAME_H
#define HANDOFF_FRAME_H

#include "handoff/version.h"

#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caller-owned reader state. Fields are visible for sizing only: use the
 * functions below, never the fields. */
typedef struct ho_frame_reader {
  uint8_t *buf;       /* caller's body buffer */
  size_t cap;         /* its size */
  uint8_t *(*grow)(void *ctx, size_t need); /* optional, see ho_frame_reader_init_grow() */
  void *grow_ctx;
  uint32_t max_body;  /* effective body cap */
  uint8_t hdr[HO_FRAME_HEADER_BYTES];
  uint8_t hdr_have;
  uint8_t state;      /* internal */
  int error;          /* sticky error, 0 if none */
  uint32_t body_len;
  uint32_t body_have;
} ho_frame_reader;

/* Initialise `r` to read frames whose body is at most `max_body` bytes into
 * `buf` of `cap` bytes. `max_body` 0 means HO_MAX_FRAME_BYTES; a value above
 * HO_MAX_FRAME_BYTES is lowered to it. `cap` must be >= the effective cap.
 * Returns HO_OK, or HO_ERR_INVALID_ARGUMENT (r NULL, buf NULL with a
 * non-zero cap, cap smaller than the effective cap); on error `r` is left
 * untouched. */
HO_API int ho_frame_reader_init(ho_frame_reader *r, uint8_t *buf, size_t cap, uint32_t max_body);

/* Like ho_frame_reader_init(), but the body buffer is obtained on demand:
 * `buf`/`cap` may be smaller than the effective cap (0 and NULL included);
 * when a header announces a body (within the cap) larger than the current
 * buffer, the reader calls grow(ctx, need), which returns a buffer of at
 * least `need` bytes owned by the caller (who also frees the old one if it
 * was its own), or NULL: the feed then fails with HO_ERR_NOMEM (sticky).
 * Memory then follows what peers really send, not the cap. Returns HO_OK or
 * HO_ERR_INVALID_ARGUMENT (r or grow NULL, buf NULL with a non-zero cap);
 * `r` untouched on error. */
HO_API int ho_frame_reader_init_grow(ho_frame_reader *r, uint8_t *buf, size_t cap, uint32_t max_body,
                              uint8_t *(*grow)(void *ctx, size_t need), void *ctx);

/* Give the reader another body buffer between frames (at a frame boundary,
 * for example to return a large buffer after a large frame). Returns HO_OK,
 * HO_ERR_STATE (not at a frame boundary, or the buffer is smaller than the
 * cap and no grow function is set) or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_frame_reader_set_buffer(ho_frame_reader *r, uint8_t *buf, size_t cap);

/* Feed `len` bytes. Sets *consumed to the bytes taken from `in`, never more
 * than up to the end of the current frame. Returns:
 *   1  a frame is complete: ho_frame_reader_body() gives it; call
 *      ho_frame_reader_next() before feeding the next frame's bytes;
 *   0  (HO_OK) all of `in` consumed, more bytes needed;
 *   HO_ERR_FRAMING_VERSION  first byte is not 1 (spec: FRAME-2);
 *   HO_ERR_FRAME_TOO_LARGE  length above the cap (spec: FRAME-3), detected
 *                           from the header alone, before any body byte;
 *   HO_ERR_NOMEM            the grow function found no buffer for the body;
 *   HO_ERR_STATE            a complete frame is waiting for _next(), or the
 *                           reader is in a sticky error state;
 *   HO_ERR_INVALID_ARGUMENT r or consumed NULL, or in NULL with len > 0.
 * Errors are sticky: once an error is returned, every later call returns
 * HO_ERR_STATE; *consumed counts the bytes of the bad header taken. */
HO_API int ho_frame_reader_feed(ho_frame_reader *r, const uint8_t *in, size_t len, size_t *consumed);

/* Exactly how many more bytes complete the current part: the header's
 * missing bytes while in the header, the body's missing bytes after it,
 * 0 when a frame is complete or the reader has failed. */
HO_API size_t ho_frame_reader_needed(const ho_frame_reader *r);

/* The complete frame's body. Returns HO_OK, or HO_ERR_STATE when no frame is
 * complete (outputs untouched). */
HO_API int ho_frame_reader_body(const ho_frame_reader *r, const uint8_t **body, size_t *len);

/* Start on the next frame after a complete one. Returns HO_OK or
 * HO_ERR_STATE (no complete frame). */
HO_API int ho_frame_reader_next(ho_frame_reader *r);

/* The input has ended (EOF). Returns HO_OK when the reader stands at a frame
 * boundary (nothing of a next frame read), HO_ERR_TRUNCATED when a frame was
 * begun and not completed (spec: FRAME-4), or the sticky error. */
HO_API int ho_frame_reader_finish(const ho_frame_reader *r);

/* Write the 5-byte header for a body of `body_len` bytes into out[0..4].
 * Returns HO_OK, HO_ERR_INVALID_ARGUMENT (out NULL) or
 * HO_ERR_FRAME_TOO_LARGE (body_len > HO_MAX_FRAME_BYTES). */
HO_API int ho_frame_write_header(uint8_t out[HO_FRAME_HEADER_BYTES], size_t body_len);

/* Parse a complete frame held in one buffer: `wire` must hold exactly one
 * frame (header and body) and nothing more. On success *body and *body_len
 * point into `wire`. Returns HO_OK, HO_ERR_FRAMING_VERSION,
 * HO_ERR_FRAME_TOO_LARGE, HO_ERR_TRUNCATED (fewer bytes than the header
 * announces), or HO_ERR_INVALID_ARGUMENT (NULL pointers, or bytes left over
 * after the frame). Outputs are untouched on error. `max_body` as for
 * ho_frame_reader_init(). */
HO_API int ho_frame_parse(const uint8_t *wire, size_t len, uint32_t max_body, const uint8_t **body,
                   size_t *body_len);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_FRAME_H */
