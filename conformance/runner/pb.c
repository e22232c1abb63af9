/* handoff-conform — protobuf writer and offer builder (see pb.h). */
#include "pb.h"

#include <stdlib.h>
#include <string.h>

#include "handoff/msg.h"
#include "handoff/wire.h"

void cf_buf_free(cf_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void cf_buf_put(cf_buf *b, const void *p, size_t n) {
  if (b->oom || n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (q == NULL) {
      b->oom = true;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

void pb_varint(cf_buf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n] = (uint8_t)(v & 0x7F);
    v >>= 7;
    if (v) t[n] |= 0x80;
    n++;
  } while (v);
  cf_buf_put(b, t, n);
}

void pb_varint_wide(cf_buf *b, uint64_t v, int width) {
  uint8_t t[10];
  if (width < 1) width = 1;
  if (width > 10) width = 10;
  for (int i = 0; i < width; i++) {
    t[i] = (uint8_t)(v & 0x7F);
    v >>= 7;
    if (i + 1 < width) t[i] |= 0x80;
  }
  cf_buf_put(b, t, (size_t)width);
}

void pb_key(cf_buf *b, uint32_t field, unsigned wiretype) {
  pb_varint(b, (uint64_t)field << 3 | wiretype);
}

void pb_uint(cf_buf *b, uint32_t field, uint64_t v) {
  pb_key(b, field, 0);
  pb_varint(b, v);
}

void pb_bytes(cf_buf *b, uint32_t field, const void *p, size_t n) {
  pb_key(b, field, 2);
  pb_varint(b, n);
  cf_buf_put(b, p, n);
}

void cf_offer_init(cf_offer *o, const uint8_t token[16], const char *service, uint64_t corr) {
  memset(o, 0, sizeof *o);
  memcpy(o->token, token, 16);
  o->token_len = 16;
  o->service_len = strlen(service);
  if (o->service_len > sizeof o->service) o->service_len = sizeof o->service;
  memcpy(o->service, service, o->service_len);
  o->corr = corr;
  o->request_id = corr;
  o->env_version = HO_ENVELOPE_VERSION;
  o->kind = HO_KIND_REQUEST;
  o->protocol = HO_PAYLOAD_HANDOFF;
  o->encoding = HO_ENCODING_NONE;
  o->framing = HO_FRAMING_VERSION;
}

static void payload(const cf_offer *o, cf_buf *p) {
  if (o->payload_raw != NULL) {
    cf_buf_put(p, o->payload_raw, o->payload_raw_len);
    return;
  }
  cf_buf_put(p, o->payload_pre, o->payload_pre_len);
  if (o->prefix_0800) pb_uint(p, 1, 0);
  if (o->handle_value) pb_uint(p, 1, o->handle_value);
  if (!o->token_omit) pb_bytes(p, 2, o->token, o->token_len);
  if (o->service_len) pb_bytes(p, 3, o->service, o->service_len);
  if (o->corr || o->varint_width) {
    pb_key(p, 4, 0);
    if (o->varint_width) pb_varint_wide(p, o->corr, o->varint_width);
    else pb_varint(p, o->corr);
  }
  if (o->flags) pb_uint(p, 11, o->flags);
  cf_buf_put(p, o->payload_extra, o->payload_extra_len);
}

/* The envelope without padding. */
static void envelope(const cf_offer *o, const cf_buf *pl, cf_buf *e) {
  if (o->env_version) pb_uint(e, 1, o->env_version);
  if (o->kind) pb_uint(e, 2, o->kind);
  if (o->protocol) pb_uint(e, 3, o->protocol);
  if (pl->len) pb_bytes(e, 4, pl->p, pl->len);
  if (o->request_id) pb_uint(e, 5, o->request_id);
  if (o->encoding) pb_uint(e, 6, o->encoding);
  if (o->deadline) pb_uint(e, 7, o->deadline);
  size_t tl = strlen(o->traceparent);
  if (tl) pb_bytes(e, 8, o->traceparent, tl);
  cf_buf_put(e, o->env_extra, o->env_extra_len);
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int cf_offer_frame(const cf_offer *o, cf_buf *out) {
  cf_buf pl = {0}, e = {0};
  payload(o, &pl);
  envelope(o, &pl, &e);
  if (o->body_exact > e.len) {
    /* Unknown field 16 (the first number free in Frame, VER-4), bytes:
     * key (2 bytes) + length varint + filler = exactly the missing bytes. */
    size_t need = o->body_exact - e.len, fill = need > 3 ? need - 3 : 0;
    while (fill > 0 && 2 + varint_len(fill) + fill > need) fill--;
    size_t lenw = need - 2 - fill; /* width of the length varint */
    uint8_t *z = calloc(1, fill + 1);
    if (z == NULL) {
      cf_buf_free(&pl);
      cf_buf_free(&e);
      return -1;
    }
    pb_key(&e, 16, 2);
    pb_varint_wide(&e, fill, (int)lenw);
    cf_buf_put(&e, z, fill);
    free(z);
  }
  uint32_t n = o->announce_set ? o->announce : (uint32_t)e.len;
  uint8_t hdr[5] = {o->framing, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 24)};
  cf_buf_put(out, hdr, 5);
  if (!o->announce_set) cf_buf_put(out, e.p, e.len);
  bool oom = pl.oom || e.oom || out->oom;
  cf_buf_free(&pl);
  cf_buf_free(&e);
  return oom ? -1 : 0;
}

void cf_frame_init(cf_frame *f, uint32_t kind, uint32_t protocol, const uint8_t *payload, size_t len) {
  memset(f, 0, sizeof *f);
  f->framing = HO_FRAMING_VERSION;
  f->env_version = HO_ENVELOPE_VERSION;
  f->kind = kind;
  f->protocol = protocol;
  f->encoding = HO_ENCODING_NONE;
  f->payload = payload;
  f->payload_len = len;
}

int cf_frame_build(const cf_frame *f, cf_buf *out) {
  cf_buf e = {0};
  if (f->env_version) pb_uint(&e, 1, f->env_version);
  if (f->kind) pb_uint(&e, 2, f->kind);
  if (f->protocol) pb_uint(&e, 3, f->protocol);
  if (f->payload_len) pb_bytes(&e, 4, f->payload, f->payload_len);
  if (f->request_id) pb_uint(&e, 5, f->request_id);
  if (f->encoding) pb_uint(&e, 6, f->encoding);
  if (f->deadline) pb_uint(&e, 7, f->deadline);
  cf_buf_put(&e, f->extra, f->extra_len);
  uint32_t n = f->announce_set ? f->announce : (uint32_t)e.len;
  uint8_t hdr[5] = {f->framing, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
  cf_buf_put(out, hdr, 5);
  if (!f->announce_set) cf_buf_put(out, e.p, e.len);
  bool oom = e.oom || out->oom;
  cf_buf_free(&e);
  return oom ? -1 : 0;
}

int cf_pb_selfcheck(void) {
  uint8_t token[16];
  for (int i = 0; i < 16; i++) token[i] = (uint8_t)(0x9f ^ i * 7);
  cf_offer o;
  cf_offer_init(&o, token, "echo", 7);
  o.flags = HO_OFFER_FLAG_BACKEND_READY;
  o.deadline = 1700000000000ull;
  cf_buf mine = {0};
  if (cf_offer_frame(&o, &mine) != 0) return -1;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.offer.token, token, 16);
  strcpy(m.offer.service_name, "echo");
  m.offer.correlation_id = 7;
  m.offer.offer_flags = HO_OFFER_FLAG_BACKEND_READY;
  /* ho_frame_encode has no deadline: compare the offer without it. */
  o.deadline = 0;
  cf_buf_free(&mine);
  if (cf_offer_frame(&o, &mine) != 0) return -1;
  uint8_t ref[256];
  size_t len = 0;
  int rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, ref, sizeof ref, &len);
  int same = rc == HO_OK && len == mine.len && memcmp(ref, mine.p, len) == 0;
  cf_buf_free(&mine);
  return same ? 0 : -1;
}
