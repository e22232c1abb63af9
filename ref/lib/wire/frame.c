/* handoff — framing layer (sans-I/O). spec: FRAME-1 */
#include "handoff/frame.h"

#include <string.h>

enum { RD_HEADER = 0, RD_BODY = 1, RD_DONE = 2, RD_FAILED = 3 };

static uint32_t effective_cap(uint32_t max_body) {
  if (max_body == 0 || max_body > HO_MAX_FRAME_BYTES) return HO_MAX_FRAME_BYTES;
  return max_body;
}

static uint32_t read_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Header checks shared by the incremental reader and the one-shot parser,
 * in the order the spec fixes: version first, then length. */
static int check_header(const uint8_t hdr[HO_FRAME_HEADER_BYTES], uint32_t cap, uint32_t *len) {
  if (hdr[0] != HO_FRAMING_VERSION) return HO_ERR_FRAMING_VERSION; /* spec: FRAME-2 */
  uint32_t n = read_le32(hdr + 1);
  if (n > cap) return HO_ERR_FRAME_TOO_LARGE; /* spec: FRAME-3 */
  *len = n;
  return HO_OK;
}

int ho_frame_reader_init(ho_frame_reader *r, uint8_t *buf, size_t cap, uint32_t max_body) {
  if (r == NULL || (buf == NULL && cap > 0)) return HO_ERR_INVALID_ARGUMENT;
  uint32_t eff = effective_cap(max_body);
  if (cap < eff) return HO_ERR_INVALID_ARGUMENT;
  memset(r, 0, sizeof *r);
  r->buf = buf;
  r->cap = cap;
  r->max_body = eff;
  r->state = RD_HEADER;
  return HO_OK;
}

int ho_frame_reader_init_grow(ho_frame_reader *r, uint8_t *buf, size_t cap, uint32_t max_body,
                              uint8_t *(*grow)(void *ctx, size_t need), void *ctx) {
  if (r == NULL || grow == NULL || (buf == NULL && cap > 0)) return HO_ERR_INVALID_ARGUMENT;
  memset(r, 0, sizeof *r);
  r->buf = buf;
  r->cap = cap;
  r->max_body = effective_cap(max_body);
  r->state = RD_HEADER;
  r->grow = grow;
  r->grow_ctx = ctx;
  return HO_OK;
}

int ho_frame_reader_set_buffer(ho_frame_reader *r, uint8_t *buf, size_t cap) {
  if (r == NULL || (buf == NULL && cap > 0)) return HO_ERR_INVALID_ARGUMENT;
  if (!(r->state == RD_HEADER && r->hdr_have == 0)) return HO_ERR_STATE;
  if (cap < r->max_body && r->grow == NULL) return HO_ERR_STATE;
  r->buf = buf;
  r->cap = cap;
  return HO_OK;
}

int ho_frame_reader_feed(ho_frame_reader *r, const uint8_t *in, size_t len, size_t *consumed) {
  if (r == NULL || consumed == NULL || (in == NULL && len > 0)) return HO_ERR_INVALID_ARGUMENT;
  *consumed = 0;
  if (r->state == RD_DONE || r->state == RD_FAILED) return HO_ERR_STATE;
  size_t used = 0;
  if (r->state == RD_HEADER) {
    /* spec: FRAME-6 — take no more than the header's missing bytes. */
    size_t want = HO_FRAME_HEADER_BYTES - r->hdr_have;
    size_t take = len < want ? len : want;
    if (take > 0) memcpy(r->hdr + r->hdr_have, in, take); /* `in` may be NULL when len is 0 */
    r->hdr_have = (uint8_t)(r->hdr_have + take);
    used += take;
    /* The version byte is checked as soon as it arrives. */
    if (r->hdr_have >= 1 && r->hdr[0] != HO_FRAMING_VERSION) {
      r->state = RD_FAILED;
      r->error = HO_ERR_FRAMING_VERSION;
      *consumed = used;
      return r->error;
    }
    if (r->hdr_have < HO_FRAME_HEADER_BYTES) {
      *consumed = used;
      return HO_OK;
    }
    uint32_t n = 0;
    int rc = check_header(r->hdr, r->max_body, &n);
    if (rc != HO_OK) {
      r->state = RD_FAILED;
      r->error = rc;
      *consumed = used;
      return rc;
    }
    if (n > r->cap) { /* only with a grow function: init checked the rest */
      uint8_t *nb = r->grow != NULL ? r->grow(r->grow_ctx, n) : NULL;
      if (nb == NULL) {
        r->state = RD_FAILED;
        r->error = HO_ERR_NOMEM;
        *consumed = used;
        return r->error;
      }
      r->buf = nb;
      r->cap = n;
    }
    r->body_len = n;
    r->body_have = 0;
    r->state = RD_BODY;
  }
  /* RD_BODY: take no more than the body's missing bytes. */
  size_t want = (size_t)(r->body_len - r->body_have);
  size_t avail = len - used;
  size_t take = avail < want ? avail : want;
  if (take > 0) memcpy(r->buf + r->body_have, in + used, take);
  r->body_have += (uint32_t)take;
  used += take;
  *consumed = used;
  if (r->body_have == r->body_len) {
    r->state = RD_DONE;
    return 1;
  }
  return HO_OK;
}

size_t ho_frame_reader_needed(const ho_frame_reader *r) {
  if (r == NULL) return 0;
  switch (r->state) {
  case RD_HEADER: return HO_FRAME_HEADER_BYTES - r->hdr_have;
  case RD_BODY: return (size_t)(r->body_len - r->body_have);
  default: return 0;
  }
}

int ho_frame_reader_body(const ho_frame_reader *r, const uint8_t **body, size_t *len) {
  if (r == NULL || body == NULL || len == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (r->state != RD_DONE) return HO_ERR_STATE;
  *body = r->buf;
  *len = r->body_len;
  return HO_OK;
}

int ho_frame_reader_next(ho_frame_reader *r) {
  if (r == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (r->state != RD_DONE) return HO_ERR_STATE;
  r->state = RD_HEADER;
  r->hdr_have = 0;
  r->body_len = 0;
  r->body_have = 0;
  return HO_OK;
}

int ho_frame_reader_finish(const ho_frame_reader *r) {
  if (r == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (r->state == RD_FAILED) return r->error;
  if (r->state == RD_HEADER && r->hdr_have == 0) return HO_OK;
  if (r->state == RD_DONE) return HO_OK;
  return HO_ERR_TRUNCATED; /* spec: FRAME-4 */
}

int ho_frame_write_header(uint8_t out[HO_FRAME_HEADER_BYTES], size_t body_len) {
  if (out == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (body_len > HO_MAX_FRAME_BYTES) return HO_ERR_FRAME_TOO_LARGE;
  uint32_t n = (uint32_t)body_len;
  out[0] = HO_FRAMING_VERSION; /* spec: VER-1 */
  out[1] = (uint8_t)n;
  out[2] = (uint8_t)(n >> 8);
  out[3] = (uint8_t)(n >> 16);
  out[4] = (uint8_t)(n >> 24);
  return HO_OK;
}

int ho_frame_parse(const uint8_t *wire, size_t len, uint32_t max_body, const uint8_t **body,
                   size_t *body_len) {
  if ((wire == NULL && len > 0) || body == NULL || body_len == NULL)
    return HO_ERR_INVALID_ARGUMENT;
  if (len >= 1 && wire[0] != HO_FRAMING_VERSION) return HO_ERR_FRAMING_VERSION;
  if (len < HO_FRAME_HEADER_BYTES) return HO_ERR_TRUNCATED;
  uint32_t n = 0;
  int rc = check_header(wire, effective_cap(max_body), &n);
  if (rc != HO_OK) return rc;
  if (len - HO_FRAME_HEADER_BYTES < n) return HO_ERR_TRUNCATED;
  if (len - HO_FRAME_HEADER_BYTES > n) return HO_ERR_INVALID_ARGUMENT;
  *body = wire + HO_FRAME_HEADER_BYTES;
  *body_len = n;
  return HO_OK;
}
