/* handoff — schema-driven protobuf wire pre-scanner (see scan.h).
 *
 * The accepted language is spec/messages.md §1 within what protobuf-c 1.4
 * and nanopb 0.4 can decode (spec: MSG-1 MSG-4 MSG-5 MSG-10 MSG-11 MSG-15):
 *   - a tag is a varint of at most 5 bytes whose value fits 32 bits, with a
 *     field number >= 1 (so <= 2^29-1) and a wire type of 0, 1, 2 or 5
 *     (groups 3/4 and 6/7 are malformed);
 *   - a value varint has at most 10 bytes, and a 10-byte varint ends in
 *     0x00 or 0x01 (no bits beyond 64); non-minimal forms and explicitly
 *     encoded defaults (the original's `08 00`) are accepted (spec: MSG-3);
 *   - a uint32/enum field takes the low 32 bits of its varint, a bool is
 *     true for any non-zero varint (nanopb rejects varints above 2^32-1
 *     for these, hence ho_scan_result.needs_norm);
 *   - a length prefix is a varint of at most 5 bytes, not beyond the end;
 *   - a known field with another wire type is HO_ERR_WIRE_TYPE;
 *   - caps and string validity are checked for every occurrence;
 *   - a repeated occurrence of a oneof member of message type merges with
 *     the previous ones (protobuf semantics: item caps count across the
 *     merge, token lengths are checked on the merged final value), an
 *     occurrence of the other member starts afresh (spec: MSG-2);
 *   - the first defect in stream order is the one reported, token
 *     final-value checks last (spec: MSG-15); within one field: tag, wire
 *     type, extent, item cap, length cap, content (spec: MSG-17).
 */
#include "wire/scan.h"

#include <string.h>

#include "handoff/error.h"
#include "handoff/wire.h"

typedef struct cursor {
  const uint8_t *p;
  size_t left;
} cursor;

/* Read a varint of at most `maxb` bytes. Returns 0 or HO_ERR_MALFORMED. */
static int read_varint(cursor *c, unsigned maxb, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned i = 0; i < maxb; i++) {
    if (c->left == 0) return HO_ERR_MALFORMED; /* ends inside a varint */
    uint8_t b = *c->p++;
    c->left--;
    if (i == 9 && (b & 0xFE) != 0) return HO_ERR_MALFORMED; /* > 64 bits */
    v |= (uint64_t)(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = v;
      return HO_OK;
    }
  }
  return HO_ERR_MALFORMED; /* too many bytes */
}

size_t ho_varint_put(uint8_t out[10], uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

uint64_t ho_varint_narrow(uint8_t kind, uint64_t v) {
  if (kind == HO_SK_BOOL) return v != 0;
  return kind == HO_SK_U32 ? (v & UINT32_MAX) : v;
}

int ho_utf8_ok(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    uint32_t cp;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1, cp = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2, cp = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3, cp = c & 0x07u, min = 0x10000;
    } else {
      return 0; /* continuation byte, C0/C1 overlong lead, or > F4 */
    }
    if (n - i - 1 < need) return 0;
    for (size_t k = 1; k <= need; k++) {
      uint8_t cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += need + 1;
  }
  return 1;
}

const ho_scan_field *ho_scan_find(const ho_scan_schema *s, uint64_t num) {
  for (size_t i = 0; i < s->n; i++)
    if (s->fields[i].num == num) return &s->fields[i];
  return NULL;
}

/* Checks of one length-delimited occurrence of a known field. */
static int check_ld(const ho_scan_field *f, const uint8_t *v, size_t n) {
  switch (f->kind) {
  case HO_SK_STRING:
    if (n > f->cap) return HO_ERR_STRING_TOO_LONG; /* spec: MSG-6 */
    if (!ho_utf8_ok(v, n)) return HO_ERR_STRING_INVALID; /* spec: MSG-7 */
    return HO_OK;
  case HO_SK_BYTES:
    return n > f->cap ? HO_ERR_STRING_TOO_LONG : HO_OK; /* spec: MSG-6 */
  case HO_SK_TOKEN:
  case HO_SK_TOKEN_OPT:
    return n > HO_TOKEN_BYTES ? HO_ERR_TOKEN_LENGTH : HO_OK; /* spec: MSG-8 */
  case HO_SK_MSG:
    return ho_scan(f->sub, v, n, NULL);
  default:
    return HO_OK;
  }
}

/* Token fields: check their final values (last occurrence wins).
 * spec: MSG-2 MSG-8 MSG-15 */
static int final_check(const ho_scan_schema *s, const ho_scan_result *res) {
  for (size_t i = 0; i < s->n; i++) {
    const ho_scan_field *f = &s->fields[i];
    size_t n = res->count[f->num] ? res->last_len[f->num] : 0;
    if (f->kind == HO_SK_TOKEN && n != HO_TOKEN_BYTES) return HO_ERR_TOKEN_LENGTH;
    if (f->kind == HO_SK_TOKEN_OPT && n != 0 && n != HO_TOKEN_BYTES) return HO_ERR_TOKEN_LENGTH;
  }
  return HO_OK;
}

/* Walk the fields of `buf` into `res` (not reset: merged oneof occurrences
 * accumulate into one result). The first defect in stream order wins
 * (spec: MSG-15). */
static int scan_body(const ho_scan_schema *s, const uint8_t *buf, size_t len, ho_scan_result *res) {
  cursor c = {buf, len};
  /* The oneof member being merged (spec: MSG-2): occurrences of the same
   * member merge like protobuf (counts accumulate, last values win); an
   * occurrence of the other member starts afresh. */
  const ho_scan_field *member = NULL;
  ho_scan_result member_res;
  while (c.left > 0) {
    const uint8_t *field_start = c.p;
    uint64_t tag = 0;
    int rc = read_varint(&c, 5, &tag);
    if (rc != HO_OK || tag > UINT32_MAX) return HO_ERR_MALFORMED; /* spec: MSG-4 MSG-10 */
    uint64_t num = tag >> 3;
    unsigned wt = (unsigned)(tag & 7u);
    if (num == 0) return HO_ERR_MALFORMED;
    /* Groups (3, 4) and 6, 7 are MALFORMED even on a known field number:
     * the wire-format check comes before the schema check. spec: MSG-10 */
    if (wt != 0 && wt != 1 && wt != 2 && wt != 5) return HO_ERR_MALFORMED;
    const ho_scan_field *f = ho_scan_find(s, num);
    if (f != NULL) {
      int want_ld = f->kind >= HO_SK_STRING;
      if ((want_ld && wt != 2) || (!want_ld && wt != 0)) return HO_ERR_WIRE_TYPE; /* spec: MSG-5 */
    }
    switch (wt) {
    case 0: {
      uint64_t v = 0;
      const uint8_t *vstart = c.p;
      if (read_varint(&c, 10, &v) != HO_OK) return HO_ERR_MALFORMED; /* spec: MSG-4 */
      if (f != NULL && (f->kind == HO_SK_U32 || f->kind == HO_SK_BOOL) && v > UINT32_MAX) {
        uint8_t tmp[10];
        res->needs_norm = 1; /* spec: MSG-11 */
        res->norm_len -= (size_t)(c.p - vstart) - ho_varint_put(tmp, ho_varint_narrow(f->kind, v));
      }
      break;
    }
    case 1:
    case 5: {
      size_t n = wt == 1 ? 8 : 4;
      if (c.left < n) return HO_ERR_MALFORMED;
      c.p += n;
      c.left -= n;
      break;
    }
    default: {
      uint64_t n = 0;
      if (read_varint(&c, 5, &n) != HO_OK) return HO_ERR_MALFORMED; /* spec: MSG-4 */
      if (n > c.left) return HO_ERR_MALFORMED; /* ends inside the field; spec: MSG-10 */
      const uint8_t *v = c.p;
      c.p += n;
      c.left -= (size_t)n;
      if (f == NULL) break;
      if (f->max_items != 0 && res->count[f->num] >= f->max_items)
        return HO_ERR_TOO_MANY_ITEMS; /* spec: MSG-9 MSG-15 */
      if (f->kind == HO_SK_ONEOF) {
        if (member != f) {
          member = f;
          memset(&member_res, 0, sizeof member_res);
          res->oneof_which = f->num;
          res->oneof_run = field_start;
        }
        rc = scan_body(f->sub, v, (size_t)n, &member_res);
      } else {
        rc = check_ld(f, v, (size_t)n);
      }
      if (rc != HO_OK) return rc;
      res->last[f->num] = v;
      res->last_len[f->num] = (size_t)n;
    }
    }
    if (f != NULL) res->count[f->num]++;
  }
  /* The merged oneof member is complete only now. */
  return member != NULL ? final_check(member->sub, &member_res) : HO_OK;
}

int ho_scan(const ho_scan_schema *s, const uint8_t *buf, size_t len, ho_scan_result *res) {
  ho_scan_result local;
  if (res == NULL) res = &local;
  memset(res, 0, sizeof *res);
  if (buf == NULL && len > 0) return HO_ERR_INVALID_ARGUMENT;
  res->norm_len = len;
  int rc = scan_body(s, buf, len, res);
  return rc != HO_OK ? rc : final_check(s, res);
}

int ho_scan_part(const ho_scan_schema *s, const uint8_t *buf, size_t len, ho_scan_result *res) {
  memset(res, 0, sizeof *res);
  res->norm_len = len;
  return scan_body(s, buf, len, res);
}

int ho_wire_next(const uint8_t *buf, size_t len, size_t *off, uint32_t *num, const uint8_t **val,
                 size_t *vlen) {
  if (*off >= len) return 0;
  cursor c = {buf + *off, len - *off};
  uint64_t tag = 0, v = 0;
  read_varint(&c, 5, &tag);
  *num = (uint32_t)(tag >> 3);
  const uint8_t *vs = c.p;
  switch (tag & 7) {
  case 0: read_varint(&c, 10, &v); *val = vs; *vlen = (size_t)(c.p - vs); break;
  case 1: *val = c.p, *vlen = 8, c.p += 8; break;
  case 5: *val = c.p, *vlen = 4, c.p += 4; break;
  default: read_varint(&c, 5, &v); *val = c.p, *vlen = (size_t)v, c.p += v; break;
  }
  *off = (size_t)(c.p - buf);
  return 1;
}

/* ---- schemas (caps from wire.h) ------------------------------------- */

#define F(num, kind, items, cap, sub) {num, kind, items, cap, sub}
#define SCHEMA(name, arr) const ho_scan_schema name = {arr, sizeof arr / sizeof arr[0]}

static const ho_scan_field envelope_f[] = {
    F(1, HO_SK_U32, 0, 0, NULL),  F(2, HO_SK_U32, 0, 0, NULL),
    F(3, HO_SK_U32, 0, 0, NULL),  F(4, HO_SK_RAW, 0, 0, NULL),
    F(5, HO_SK_U64, 0, 0, NULL),  F(6, HO_SK_U32, 0, 0, NULL),
    F(7, HO_SK_U64, 0, 0, NULL),  F(8, HO_SK_STRING, 0, HO_MAX_TRACEPARENT, NULL),
    F(9, HO_SK_STRING, 0, HO_MAX_TRACESTATE, NULL),
};
SCHEMA(ho_schema_envelope, envelope_f);

static const ho_scan_field hello_f[] = {
    F(1, HO_SK_U32, 0, 0, NULL),
    F(2, HO_SK_U32, 0, 0, NULL),
    F(3, HO_SK_STRING, 0, HO_MAX_SERVICE_NAME, NULL),
    F(4, HO_SK_STRING, 0, HO_MAX_WANTED_VERSION, NULL),
    F(5, HO_SK_STRING, 0, HO_MAX_CLIENT_VERSION, NULL),
    F(6, HO_SK_U64, 0, 0, NULL),
    F(7, HO_SK_BYTES, 0, HO_MAX_HELLO_BLOB, NULL),
    F(8, HO_SK_STRING, 0, HO_MAX_REQUEST_ID, NULL),
    F(9, HO_SK_U64, 0, 0, NULL),
    F(10, HO_SK_U32, 0, 0, NULL),
    F(11, HO_SK_STRING, 0, HO_MAX_CLIENT_LIB, NULL),
    F(12, HO_SK_STRING, 0, HO_MAX_CLIENT_LIB, NULL),
    F(13, HO_SK_BYTES, 0, HO_MAX_HELLO_BLOB, NULL),
    F(14, HO_SK_BYTES, 0, HO_MAX_HELLO_BLOB, NULL),
    F(15, HO_SK_U64, 0, 0, NULL),
};
SCHEMA(ho_schema_hello, hello_f);

static const ho_scan_field negotiated_f[] = {
    F(1, HO_SK_U32, 0, 0, NULL),
    F(2, HO_SK_STRING, 0, HO_MAX_DAEMON_VERSION, NULL),
    F(3, HO_SK_STRING, 0, HO_MAX_BACKEND_PIPE, NULL),
    F(4, HO_SK_STRING, HO_MAX_WARNINGS, HO_MAX_WARNING, NULL),
    F(5, HO_SK_U64, 0, 0, NULL),
    F(6, HO_SK_U64, 0, 0, NULL),
    F(7, HO_SK_TOKEN_OPT, 0, HO_TOKEN_BYTES, NULL),
    F(8, HO_SK_U64, 0, 0, NULL),
};
SCHEMA(ho_schema_negotiated, negotiated_f);

static const ho_scan_field detail_f[] = {
    F(1, HO_SK_STRING, 0, HO_MAX_DETAIL_KEY, NULL),
    F(2, HO_SK_STRING, 0, HO_MAX_DETAIL_VALUE, NULL),
};
static SCHEMA(detail_schema, detail_f);

static const ho_scan_field refused_f[] = {
    F(1, HO_SK_STRING, 0, HO_MAX_REASON, NULL), F(2, HO_SK_U32, 0, 0, NULL),
    F(3, HO_SK_U32, 0, 0, NULL),                F(4, HO_SK_U32, 0, 0, NULL),
    F(5, HO_SK_MSG, HO_MAX_DETAILS, 0, &detail_schema), F(6, HO_SK_U64, 0, 0, NULL),
};
SCHEMA(ho_schema_refused, refused_f);

static const ho_scan_field hello_reply_f[] = {
    F(1, HO_SK_ONEOF, 0, 0, &ho_schema_negotiated),
    F(2, HO_SK_ONEOF, 0, 0, &ho_schema_refused),
};
SCHEMA(ho_schema_hello_reply, hello_reply_f);

static const ho_scan_field offer_f[] = {
    F(1, HO_SK_U64, 0, 0, NULL),
    F(2, HO_SK_TOKEN, 0, HO_TOKEN_BYTES, NULL),
    F(3, HO_SK_STRING, 0, HO_MAX_SERVICE_NAME, NULL),
    F(4, HO_SK_U64, 0, 0, NULL),
    F(11, HO_SK_U64, 0, 0, NULL),
    F(12, HO_SK_BYTES, 0, HO_MAX_REPLY_FRAME, NULL),
    F(13, HO_SK_BYTES, 0, HO_MAX_REPLY_FRAME, NULL),
};
SCHEMA(ho_schema_offer, offer_f);

static const ho_scan_field ack_f[] = {
    F(1, HO_SK_TOKEN, 0, HO_TOKEN_BYTES, NULL),
    F(2, HO_SK_BOOL, 0, 0, NULL),
    F(3, HO_SK_STRING, 0, HO_MAX_ERROR_DETAIL, NULL),
    F(4, HO_SK_U64, 0, 0, NULL),
    F(11, HO_SK_U64, 0, 0, NULL),
};
SCHEMA(ho_schema_ack, ack_f);
