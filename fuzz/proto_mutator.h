/* Structure-aware libFuzzer mutator for handoff wire v1: mutates inputs at
 * the protobuf field level instead of the byte level, so that most mutants
 * stay parseable and reach the decoders' semantic checks (caps, tokens,
 * oneof merging, last-one-wins, envelope stages) rather than dying in the
 * first varint.
 *
 * Include it last in a target, outside the replay build, after defining:
 *   HO_PM_MODE    HO_PM_PAYLOAD  the input is one message of HO_PM_SCHEMA
 *                 HO_PM_BODY     the input is a Frame envelope (frame body)
 *                 HO_PM_FRAME    the input is one wire frame (header + body)
 *                 HO_PM_STREAM   HO_PM_PREFIX bytes, then a stream of frames
 *   HO_PM_SCHEMA  (HO_PM_PAYLOAD) a schema of ref/lib/wire/scan.h
 *   HO_PM_PREFIX  (HO_PM_STREAM) number of leading configuration bytes
 * It defines LLVMFuzzerCustomMutator and LLVMFuzzerCustomCrossOver, unless
 * HO_PM_DISABLE is defined (then libFuzzer's own byte-level mutator runs:
 * the comparison builds of `make fuzz-compare`).
 *
 * Field-level operations (1 to 3 per mutation, at any nesting depth):
 *   drop, duplicate (adjacent or elsewhere: last-one-wins, merges), swap
 *   and move (reorder), add a known field with a value of its kind (caps,
 *   cap + 1, 0/15/16/17-byte tokens, invalid UTF-8, NUL, wide 32-bit
 *   varints, interesting integers), add an unknown or reserved field of any
 *   wire type (groups and 6/7 rarely), change a field's wire type, grow a
 *   tag, a value varint or a length prefix to a non-minimal form (rarely
 *   past the 5/10-byte limits), set a value, swap the members of the
 *   HelloReply oneof, split an embedded message into two merged
 *   occurrences, nest into an embedded message (Negotiated, Refused, a
 *   details entry, the envelope's payload mutated as the message its kind
 *   and payload protocol name), byte-mutate a string or bytes value and fix
 *   its length, make a length prefix lie (rarely).
 * Frame-level operations (HO_PM_FRAME, HO_PM_STREAM): the framing header is
 * rewritten to match the mutated body (rarely left wrong, oversized, or
 * with a bad framing byte); frames are duplicated, dropped, swapped, cut,
 * an empty or oversized frame or a wrong framing byte is inserted, and a
 * complete frame is nested as the payload of another one.
 * One mutation in six is libFuzzer's own byte-level one (LLVMFuzzerMutate),
 * so nothing the byte level finds is lost.
 *
 * Deterministic for a given seed (libFuzzer's -seed). No allocation: fixed
 * arenas, reset on every call.
 */
#ifndef HO_FUZZ_PROTO_MUTATOR_H
#define HO_FUZZ_PROTO_MUTATOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handoff/wire.h"
#include "wire/scan.h"

#define HO_PM_PAYLOAD 1
#define HO_PM_BODY 2
#define HO_PM_FRAME 3
#define HO_PM_STREAM 4

#ifndef HO_PM_PREFIX
#define HO_PM_PREFIX 0
#endif

/* Under MSan, bytes libFuzzer (not instrumented) writes into our buffers
 * carry the poison of its own storage: unpoison what LLVMFuzzerMutate
 * returns, as libFuzzer does for the buffers it hands to us. */
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define PM_UNPOISON(p, n) __msan_unpoison((p), (n))
#endif
#endif
#ifndef PM_UNPOISON
#define PM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed);

/* ---- randomness and arena --------------------------------------------------- */

typedef struct pm_ctx {
  uint64_t s;
  uint8_t *arena;
  size_t used, cap;
  int byte_level; /* LLVMFuzzerMutate available (not in a cross-over) */
} pm_ctx;

static inline uint64_t pm_rand(pm_ctx *c) { /* splitmix64 */
  uint64_t z = (c->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline uint32_t pm_below(pm_ctx *c, uint32_t n) { return n ? (uint32_t)(pm_rand(c) % n) : 0; }
static inline int pm_one_in(pm_ctx *c, uint32_t n) { return pm_below(c, n) == 0; }

static inline uint8_t *pm_alloc(pm_ctx *c, size_t n) {
  if (n > c->cap - c->used) return NULL;
  uint8_t *p = c->arena + c->used;
  c->used += n;
  return p;
}

/* ---- fields ----------------------------------------------------------------- */

enum { PM_OPAQUE = 8 }; /* unparsed tail kept as it is */

typedef struct pm_field {
  uint32_t num;
  uint8_t wt;          /* 0..7, or PM_OPAQUE */
  uint8_t dirty;       /* re-encode from the fields below instead of raw */
  uint8_t tag_w;       /* tag width in bytes when re-encoding (0 = minimal) */
  uint8_t val_w;       /* value varint / length prefix width (0 = minimal) */
  const uint8_t *raw;  /* original encoding of the whole field */
  size_t rawlen;
  const uint8_t *val;  /* fixed bytes, LD contents, opaque bytes */
  size_t vlen;
  uint64_t v;          /* wt 0: the value */
} pm_field;

#define PM_MAX_FIELDS 192

typedef struct pm_msg {
  pm_field f[PM_MAX_FIELDS];
  size_t n;
} pm_msg;

static inline int pm_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned i = 0; i < 10 && *p < end; i++) {
    uint8_t b = *(*p)++;
    x |= (uint64_t)(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

static inline size_t pm_varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

/* Write v as a varint of `w` bytes (minimal if w is smaller than needed;
 * at most 11). */
static inline size_t pm_put_varint(uint8_t *o, uint64_t v, size_t w) {
  size_t n = 0;
  size_t min = pm_varint_len(v);
  if (w < min) w = min;
  if (w > 11) w = 11;
  for (size_t i = 0; i < w; i++) {
    uint8_t b = (uint8_t)(v & 0x7F);
    v >>= 7;
    if (i + 1 < w) b |= 0x80;
    o[n++] = b;
  }
  return n;
}

/* Lenient parse: fields until the first one that does not parse, which
 * becomes an opaque tail. */
static inline void pm_parse(const uint8_t *buf, size_t len, pm_msg *m) {
  const uint8_t *p = buf, *end = buf + len;
  m->n = 0;
  while (p < end && m->n < PM_MAX_FIELDS) {
    pm_field *f = &m->f[m->n];
    memset(f, 0, sizeof *f);
    const uint8_t *start = p;
    uint64_t tag = 0, v = 0;
    int ok = pm_get_varint(&p, end, &tag) == 0 && tag <= UINT32_MAX;
    if (ok) {
      f->num = (uint32_t)(tag >> 3);
      f->wt = (uint8_t)(tag & 7);
      switch (f->wt) {
      case 0:
        f->val = p;
        ok = pm_get_varint(&p, end, &v) == 0;
        f->v = v;
        f->vlen = (size_t)(p - f->val);
        break;
      case 1:
      case 5: {
        size_t k = f->wt == 1 ? 8 : 4;
        ok = (size_t)(end - p) >= k;
        if (ok) f->val = p, f->vlen = k, p += k;
        break;
      }
      case 2:
        ok = pm_get_varint(&p, end, &v) == 0 && v <= (uint64_t)(end - p);
        if (ok) f->val = p, f->vlen = (size_t)v, p += v;
        break;
      default: ok = 0; break;
      }
    }
    if (!ok) {
      p = start;
      break;
    }
    f->raw = start;
    f->rawlen = (size_t)(p - start);
    m->n++;
  }
  if (p < end && m->n < PM_MAX_FIELDS) {
    pm_field *f = &m->f[m->n++];
    memset(f, 0, sizeof *f);
    f->wt = PM_OPAQUE;
    f->raw = f->val = p;
    f->rawlen = f->vlen = (size_t)(end - p);
  } else if (p < end) {
    /* Too many fields: the rest rides on the last one's raw bytes. */
    pm_field *f = &m->f[m->n - 1];
    f->wt = PM_OPAQUE, f->dirty = 0;
    f->rawlen = (size_t)(end - f->raw);
  }
}

static inline size_t pm_field_size(const pm_field *f) {
  if (!f->dirty || f->wt == PM_OPAQUE) return f->wt == PM_OPAQUE && f->dirty ? f->vlen : f->rawlen;
  size_t n = pm_varint_len((uint64_t)f->num << 3 | f->wt);
  if (f->tag_w > n) n = f->tag_w;
  switch (f->wt) {
  case 0: return n + (f->val_w > pm_varint_len(f->v) ? f->val_w : pm_varint_len(f->v));
  case 2: return n + (f->val_w > pm_varint_len(f->vlen) ? f->val_w : pm_varint_len(f->vlen)) + f->vlen;
  default: return n + f->vlen;
  }
}

static inline size_t pm_write(const pm_msg *m, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++) {
    const pm_field *f = &m->f[i];
    size_t k = pm_field_size(f);
    if (k > cap - n) return (size_t)-1;
    uint8_t *o = out + n;
    if (!f->dirty) {
      if (f->rawlen) memcpy(o, f->raw, f->rawlen);
    } else if (f->wt == PM_OPAQUE) {
      if (f->vlen) memcpy(o, f->val, f->vlen);
    } else {
      size_t t = pm_put_varint(o, (uint64_t)f->num << 3 | f->wt, f->tag_w);
      if (f->wt == 0) {
        pm_put_varint(o + t, f->v, f->val_w);
      } else {
        if (f->wt == 2) t += pm_put_varint(o + t, f->vlen, f->val_w);
        if (f->vlen) memcpy(o + t, f->val, f->vlen);
      }
    }
    n += k;
  }
  return n;
}

/* ---- values of a field's kind ------------------------------------------------ */

static const uint64_t pm_ints[] = {
    0, 1, 2, 3, 4, 5, 7, 9, 10, 16, 127, 128, 255, 256, 1800, 4242, 0xD0FE, 0xD0FF, 0xAD01, 0xB232,
    0x5350, 0x7000, 0xF000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
    0x100000000ull, 0x100000001ull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull,
    0xFFFFFFFFFFFFFFFFull};

static inline uint64_t pm_int(pm_ctx *c) {
  if (pm_one_in(c, 6)) return pm_rand(c) >> pm_below(c, 64);
  return pm_ints[pm_below(c, sizeof pm_ints / sizeof pm_ints[0])];
}

static const char *const pm_strs[] = {
    "echo", "", "other", "1.2.3", "0.1.0", "/run/handoff/echo.sock", "00-0af7651916cd43dd-01",
    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
    "\xe2\x82", "\xff", "\x80", "a\001b", "q\"\\\n\t\x1f"};

static inline size_t pm_fill_string(pm_ctx *c, uint8_t *o, uint32_t cap, size_t room) {
  size_t n;
  switch (pm_below(c, 8)) {
  case 0: n = cap; break;
  case 1: n = (size_t)cap + 1; break;
  case 2: n = cap > 0 ? cap - 1 : 0; break;
  case 3: {
    const char *s = pm_strs[pm_below(c, sizeof pm_strs / sizeof pm_strs[0])];
    n = strlen(s);
    if (n > room) n = room;
    memcpy(o, s, n);
    if (pm_one_in(c, 8) && n < room) o[n++] = 0; /* embedded NUL */
    return n;
  }
  case 4: { /* exactly cap bytes of 2-byte characters, maybe one split */
    n = cap < room ? cap : room;
    for (size_t i = 0; i + 1 < n; i += 2) o[i] = 0xC3, o[i + 1] = 0xA9;
    if (n & 1) o[n - 1] = pm_one_in(c, 2) ? 'x' : 0xC3;
    return n;
  }
  default: n = pm_below(c, 24); break;
  }
  if (n > room) n = room;
  uint8_t ch = (uint8_t)("aeZ09-._"[pm_below(c, 8)]);
  memset(o, ch, n);
  if (n > 0 && pm_one_in(c, 10)) o[pm_below(c, (uint32_t)n)] = (uint8_t)pm_rand(c);
  return n;
}

/* A fresh value of schema field `sf` (NULL: an unknown field) of wire type
 * f->wt into f (dirty). depth bounds the generation of embedded messages. */
static inline void pm_gen_message(pm_ctx *c, const ho_scan_schema *s, pm_field *f, int depth);
static const ho_scan_schema *pm_payload_schema(pm_ctx *c, uint64_t kind, uint64_t protocol);

static inline void pm_gen_value(pm_ctx *c, const ho_scan_field *sf, pm_field *f, int depth) {
  f->dirty = 1;
  f->val = NULL, f->vlen = 0, f->val_w = 0;
  if (f->wt == 0) {
    f->v = pm_int(c);
    if (sf && sf->kind == HO_SK_BOOL && !pm_one_in(c, 4)) f->v = pm_below(c, 2);
    return;
  }
  if (f->wt == 1 || f->wt == 5) {
    size_t k = f->wt == 1 ? 8 : 4;
    uint8_t *o = pm_alloc(c, k);
    if (o == NULL) { f->wt = 0, f->v = 0; return; }
    uint64_t v = pm_int(c);
    for (size_t i = 0; i < k; i++) o[i] = (uint8_t)(v >> (8 * i));
    f->val = o, f->vlen = k;
    return;
  }
  if (f->wt != 2) { /* groups, 6, 7: just a tag (and whatever follows) */
    f->wt = f->wt > 7 ? 3 : f->wt;
    return;
  }
  uint8_t kind = sf ? sf->kind : HO_SK_BYTES;
  if ((kind == HO_SK_MSG || kind == HO_SK_ONEOF) && sf->sub && depth < 4) {
    pm_gen_message(c, sf->sub, f, depth + 1);
    return;
  }
  if (kind == HO_SK_RAW && depth < 4) {
    pm_gen_message(c, pm_payload_schema(c, 99, 99), f, depth + 1);
    return;
  }
  size_t room = 600;
  uint8_t *o = pm_alloc(c, room);
  if (o == NULL) return;
  size_t n;
  switch (kind) {
  case HO_SK_STRING: n = pm_fill_string(c, o, sf->cap, room); break;
  case HO_SK_TOKEN:
  case HO_SK_TOKEN_OPT: {
    static const uint8_t lens[] = {16, 16, 16, 16, 0, 15, 17, 32};
    n = lens[pm_below(c, 8)];
    for (size_t i = 0; i < n; i++) o[i] = (uint8_t)(i + (pm_one_in(c, 2) ? 0 : 0xA0));
    break;
  }
  default: {
    uint32_t cap = sf ? sf->cap : 32;
    n = pm_one_in(c, 3) ? cap + pm_below(c, 2) : pm_below(c, 40);
    if (n > room) n = room;
    for (size_t i = 0; i < n; i++) o[i] = (uint8_t)pm_rand(c);
  }
  }
  f->val = o, f->vlen = n;
}

static inline uint32_t pm_unknown_num(pm_ctx *c, const ho_scan_schema *s) {
  static const uint32_t far[] = {16, 17, 19, 20, 99, 1000, 19000, 536870911};
  if (pm_one_in(c, 3)) return far[pm_below(c, 8)];
  for (int tries = 0; tries < 8; tries++) {
    uint32_t n = 1 + pm_below(c, 15);
    if (s == NULL || ho_scan_find(s, n) == NULL) return n;
  }
  return pm_one_in(c, 16) ? 0 : 15; /* 0 is never valid */
}

static inline uint8_t pm_wt_of(const ho_scan_field *sf) { return sf->kind >= HO_SK_STRING ? 2 : 0; }

static inline void pm_gen_message(pm_ctx *c, const ho_scan_schema *s, pm_field *f, int depth) {
  static pm_msg gm[5];
  pm_msg *m = &gm[depth < 5 ? depth : 4];
  m->n = 0;
  uint32_t k = s && s->n ? 1 + pm_below(c, s->n < 5 ? (uint32_t)s->n : 5) : 0;
  for (uint32_t i = 0; i < k && m->n < PM_MAX_FIELDS; i++) {
    const ho_scan_field *sf = &s->fields[pm_below(c, (uint32_t)s->n)];
    pm_field *g = &m->f[m->n++];
    memset(g, 0, sizeof *g);
    g->num = sf->num;
    g->wt = pm_wt_of(sf);
    pm_gen_value(c, sf, g, depth);
  }
  size_t room = 0;
  for (size_t i = 0; i < m->n; i++) room += pm_field_size(&m->f[i]);
  uint8_t *o = pm_alloc(c, room);
  f->dirty = 1;
  f->val = o;
  f->vlen = o ? pm_write(m, o, room) : 0;
  if (f->vlen == (size_t)-1) f->vlen = 0;
}

/* ---- which schema is inside ----------------------------------------------------- */

static const ho_scan_schema *pm_payload_schema(pm_ctx *c, uint64_t kind, uint64_t protocol) {
  if (protocol == HO_PAYLOAD_HELLO && kind == HO_KIND_REQUEST) return &ho_schema_hello;
  if (protocol == HO_PAYLOAD_HELLO && kind == HO_KIND_RESPONSE) return &ho_schema_hello_reply;
  if (protocol == HO_PAYLOAD_HANDOFF && kind == HO_KIND_REQUEST) return &ho_schema_offer;
  if (protocol == HO_PAYLOAD_HANDOFF && (kind == HO_KIND_RESPONSE || kind == HO_KIND_EVENT))
    return &ho_schema_ack;
  static const ho_scan_schema *const all[] = {&ho_schema_hello, &ho_schema_hello_reply,
                                              &ho_schema_offer, &ho_schema_ack};
  return all[pm_below(c, 4)];
}

/* The schema of an LD field `f` of message `m` (schema s), or NULL. */
static const ho_scan_schema *pm_sub_schema(pm_ctx *c, const ho_scan_schema *s, const pm_msg *m,
                                           const pm_field *f) {
  const ho_scan_field *sf = s ? ho_scan_find(s, f->num) : NULL;
  if (sf == NULL || f->wt != 2) return NULL;
  if (sf->kind == HO_SK_MSG || sf->kind == HO_SK_ONEOF) return sf->sub;
  if (sf->kind != HO_SK_RAW) return NULL;
  uint64_t kind = 0, protocol = 0; /* the envelope's, last occurrence wins */
  for (size_t i = 0; i < m->n; i++) {
    if (m->f[i].wt != 0) continue;
    if (m->f[i].num == 2) kind = m->f[i].v & 0xFFFFFFFFu;
    if (m->f[i].num == 3) protocol = m->f[i].v & 0xFFFFFFFFu;
  }
  return pm_payload_schema(c, kind, protocol);
}

/* ---- one message ------------------------------------------------------------------ */

static inline size_t pm_mutate_bytes(pm_ctx *c, const uint8_t *in, size_t n, uint8_t *out, size_t max);
static inline size_t pm_frame_of(const uint8_t *body, size_t n, uint8_t *out, size_t cap);

/* Mutate message `in` of schema s into the arena; returns the new bytes. */
static inline const uint8_t *pm_mutate_msg(pm_ctx *c, const ho_scan_schema *s, const uint8_t *in,
                                    size_t len, int depth, size_t *out_len) {
  static pm_msg stack[6];
  if (depth >= 6) return NULL;
  pm_msg *m = &stack[depth];
  pm_parse(in, len, m);
  int ops = 1 + (int)pm_below(c, 3);
  for (int op = 0; op < ops; op++) {
    size_t n = m->n;
    pm_field *f = n ? &m->f[pm_below(c, (uint32_t)n)] : NULL;
    if (f && f->wt == PM_OPAQUE && !pm_one_in(c, 4)) f = NULL; /* mostly keep tails */
    uint32_t what = pm_below(c, f ? 15 : 2);
    if (what >= 2 && f == NULL) what = 0;
    switch (what) {
    case 0: /* add a known field */
    case 1: { /* add an unknown / reserved field */
      if (n >= PM_MAX_FIELDS) break;
      size_t at = pm_below(c, (uint32_t)n + 1);
      memmove(&m->f[at + 1], &m->f[at], (n - at) * sizeof m->f[0]);
      pm_field *g = &m->f[at];
      memset(g, 0, sizeof *g);
      m->n++;
      const ho_scan_field *sf = NULL;
      if (what == 0 && s && s->n) {
        sf = &s->fields[pm_below(c, (uint32_t)s->n)];
        g->num = sf->num;
        g->wt = pm_wt_of(sf);
      } else {
        static const uint8_t wts[] = {0, 0, 1, 2, 2, 5, 3, 4, 6, 7};
        g->num = pm_unknown_num(c, s);
        g->wt = wts[pm_below(c, pm_one_in(c, 6) ? 10 : 6)];
      }
      pm_gen_value(c, sf, g, depth);
      break;
    }
    case 2: /* drop */
      memmove(f, f + 1, (size_t)(&m->f[n] - (f + 1)) * sizeof *f);
      m->n--;
      break;
    case 3: /* duplicate: right after it, or elsewhere */
      if (n < PM_MAX_FIELDS) {
        size_t from = (size_t)(f - m->f);
        size_t at = pm_one_in(c, 2) ? from + 1 : pm_below(c, (uint32_t)n + 1);
        pm_field copy = *f;
        memmove(&m->f[at + 1], &m->f[at], (n - at) * sizeof m->f[0]);
        m->f[at] = copy;
        m->n++;
      }
      break;
    case 4: { /* swap two fields, or move one to the end */
      pm_field *g = &m->f[pm_below(c, (uint32_t)n)];
      if (pm_one_in(c, 3)) g = &m->f[n - 1];
      pm_field t = *f;
      *f = *g;
      *g = t;
      break;
    }
    case 5: { /* change the wire type */
      if (f->wt == PM_OPAQUE) break;
      static const uint8_t wts[] = {0, 1, 2, 5, 0, 1, 2, 5, 3, 4, 6, 7};
      uint8_t nw = wts[pm_below(c, pm_one_in(c, 5) ? 12 : 8)];
      if (nw == f->wt) nw = (uint8_t)((f->wt + 1) % 3);
      const uint8_t *old = f->val;
      size_t oldn = f->vlen;
      uint64_t oldv = f->v;
      f->wt = nw;
      pm_gen_value(c, NULL, f, depth);
      if (nw == 2 && old != NULL && pm_one_in(c, 2)) f->val = old, f->vlen = oldn;
      if (nw == 0 && pm_one_in(c, 2)) f->v = oldv;
      break;
    }
    case 6: { /* grow a varint: tag, value or length prefix */
      if (f->wt == PM_OPAQUE || f->wt > 5) break;
      int over = pm_one_in(c, 12);
      f->dirty = 1;
      if (pm_one_in(c, 2) || (f->wt != 0 && f->wt != 2)) {
        f->tag_w = (uint8_t)(2 + pm_below(c, over ? 5 : 4)); /* 2..5, rarely 6 */
      } else if (f->wt == 0) {
        f->val_w = (uint8_t)(2 + pm_below(c, over ? 10 : 9)); /* 2..10, rarely 11 */
      } else {
        f->val_w = (uint8_t)(2 + pm_below(c, over ? 5 : 4));
      }
      break;
    }
    case 7:
    case 8: { /* set a value of the field's kind */
      if (f->wt == PM_OPAQUE) break;
      const ho_scan_field *sf = s ? ho_scan_find(s, f->num) : NULL;
      if (sf && pm_wt_of(sf) != f->wt) sf = NULL;
      pm_gen_value(c, sf, f, depth);
      break;
    }
    case 9: { /* swap the oneof member (HelloReply.result), else renumber */
      const ho_scan_field *sf = s ? ho_scan_find(s, f->num) : NULL;
      if (f->wt == PM_OPAQUE) break;
      if (sf && sf->kind == HO_SK_ONEOF) {
        f->num = f->num == 1 ? 2 : 1;
      } else if (s && s->n) {
        f->num = s->fields[pm_below(c, (uint32_t)s->n)].num;
      }
      f->dirty = 1;
      break;
    }
    case 10:
    case 11: { /* nest into an embedded message (or payload) */
      const ho_scan_schema *sub = pm_sub_schema(c, s, m, f);
      if (sub == NULL) {
        if (f->wt == 2) goto bytes;
        break;
      }
      size_t nl = 0;
      const uint8_t *nv = pm_mutate_msg(c, sub, f->val, f->vlen, depth + 1, &nl);
      if (nv != NULL) f->val = nv, f->vlen = nl, f->dirty = 1;
      break;
    }
    case 12: { /* split an embedded message in two merged occurrences */
      const ho_scan_schema *sub = pm_sub_schema(c, s, m, f);
      if (sub == NULL || n >= PM_MAX_FIELDS || f->vlen < 2) goto bytes;
      /* Cut at a field boundary of the contents. */
      static pm_msg tmp;
      pm_parse(f->val, f->vlen, &tmp);
      if (tmp.n < 2) break;
      size_t cut = 1 + pm_below(c, (uint32_t)tmp.n - 1);
      size_t off = (size_t)(tmp.f[cut].raw - f->val);
      pm_field second = *f;
      f->vlen = off, f->dirty = 1;
      second.val = f->val + off, second.vlen -= off, second.dirty = 1;
      size_t at = (size_t)(f - m->f) + 1;
      memmove(&m->f[at + 1], &m->f[at], (n - at) * sizeof m->f[0]);
      m->f[at] = second;
      m->n++;
      break;
    }
    case 13:
    bytes: { /* byte-mutate an LD value and fix its length */
      if (f->wt != 2 && f->wt != PM_OPAQUE) break;
      size_t room = f->vlen + 64;
      uint8_t *o = pm_alloc(c, room);
      if (o == NULL) break;
      if (f->vlen) memcpy(o, f->val, f->vlen);
      f->vlen = pm_mutate_bytes(c, o, f->vlen, o, room);
      f->val = o, f->dirty = 1;
      break;
    }
    default: { /* rarely: a length prefix that lies, or a cut field */
      if (f->wt == 2 && f->vlen > 0 && pm_one_in(c, 2)) {
        /* Contents one byte short: the length now claims the next byte. */
        f->vlen--, f->dirty = 1;
        size_t k = pm_field_size(f);
        uint8_t *o = pm_alloc(c, k + 1);
        if (o == NULL) break;
        pm_msg one = {.n = 1};
        one.f[0] = *f;
        pm_write(&one, o, k);
        /* rewrite the length to vlen + 1 */
        f->wt = PM_OPAQUE, f->val = o, f->vlen = k;
        size_t t = pm_varint_len((uint64_t)one.f[0].num << 3 | 2);
        if (one.f[0].tag_w > t) t = one.f[0].tag_w;
        if (o[t] < 0x7F) o[t]++;
      } else if (f->rawlen > 1 && !f->dirty) {
        f->wt = PM_OPAQUE, f->val = f->raw, f->vlen = 1 + pm_below(c, (uint32_t)f->rawlen - 1);
        f->dirty = 1;
      }
      break;
    }
    }
  }
  size_t room = 0;
  for (size_t i = 0; i < m->n; i++) room += pm_field_size(&m->f[i]);
  uint8_t *o = pm_alloc(c, room + 1);
  if (o == NULL) return NULL;
  size_t w = pm_write(m, o, room);
  if (w == (size_t)-1) return NULL;
  *out_len = w;
  return o;
}

static inline size_t pm_mutate_bytes(pm_ctx *c, const uint8_t *in, size_t n, uint8_t *out, size_t max) {
  if (out != in && n) memcpy(out, in, n);
  if (c->byte_level) {
    size_t r = LLVMFuzzerMutate(out, n, max);
    PM_UNPOISON(&r, sizeof r);
    PM_UNPOISON(out, r);
    return r;
  }
  if (n > 0) out[pm_below(c, (uint32_t)n)] ^= (uint8_t)(1u << pm_below(c, 8));
  return n;
}

/* ---- frames ------------------------------------------------------------------------ */

static inline size_t pm_frame_of(const uint8_t *body, size_t n, uint8_t *out, size_t cap) {
  if (n + 5 > cap) return (size_t)-1;
  out[0] = 1;
  for (int i = 0; i < 4; i++) out[1 + i] = (uint8_t)(n >> (8 * i));
  if (n) memmove(out + 5, body, n);
  return n + 5;
}

/* A mutated body of one frame (envelope level), written as a frame with a
 * consistent header, or rarely a broken one. */
static inline size_t pm_mutate_frame(pm_ctx *c, const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
  const uint8_t *body = len >= 5 ? in + 5 : in;
  size_t blen = len >= 5 ? len - 5 : len;
  size_t nl = 0;
  const uint8_t *nb = pm_mutate_msg(c, &ho_schema_envelope, body, blen, 1, &nl);
  if (nb == NULL) nb = body, nl = blen;
  size_t w = pm_frame_of(nb, nl, out, cap);
  if (w == (size_t)-1) return w;
  if (pm_one_in(c, 16)) {
    static const uint32_t lens[] = {0, 0x10001, 0x1000001, 0xFFFFFFFF};
    switch (pm_below(c, 5)) {
    case 0: out[0] = (uint8_t)(pm_one_in(c, 2) ? 0 : 2 + pm_below(c, 254)); break;
    case 1: out[1] = (uint8_t)(out[1] + 1); break; /* announces one more byte */
    case 2: w -= pm_below(c, (uint32_t)w) ; break; /* cut */
    default: {
      uint32_t l = lens[pm_below(c, 4)];
      for (int i = 0; i < 4; i++) out[1 + i] = (uint8_t)(l >> (8 * i));
    }
    }
  }
  return w;
}

typedef struct pm_span {
  size_t off, len;
} pm_span;

/* The frames of a stream: complete frames, then the rest as one span. */
static inline size_t pm_split_frames(const uint8_t *s, size_t n, pm_span *sp, size_t max) {
  size_t k = 0, p = 0;
  while (p < n && k + 1 < max) {
    if (s[p] != 1 || n - p < 5) break;
    uint32_t l = (uint32_t)s[p + 1] | (uint32_t)s[p + 2] << 8 | (uint32_t)s[p + 3] << 16 |
                 (uint32_t)s[p + 4] << 24;
    if (l > n - p - 5) break;
    sp[k++] = (pm_span){p, 5 + (size_t)l};
    p += 5 + (size_t)l;
  }
  if (p < n) sp[k++] = (pm_span){p, n - p};
  return k;
}

static inline size_t pm_mutate_stream(pm_ctx *c, const uint8_t *s, size_t n, uint8_t *out, size_t cap) {
  static pm_span sp[256];
  size_t k = pm_split_frames(s, n, sp, 256);
  size_t w = 0;
  uint32_t what = pm_below(c, k ? 10 : 1);
  size_t pick = pm_below(c, (uint32_t)k);
  size_t other = pm_below(c, (uint32_t)k);
#define PM_EMIT(ptr, len)                                                                          \
  do {                                                                                             \
    if ((len) > cap - w) return (size_t)-1;                                                        \
    memmove(out + w, (ptr), (len));                                                                \
    w += (len);                                                                                    \
  } while (0)
  for (size_t i = 0; i <= k; i++) {
    if (i == pick || (k == 0 && i == 0)) {
      switch (what) {
      case 0: { /* insert a new frame of a payload message */
        pm_field f;
        memset(&f, 0, sizeof f);
        f.wt = 2;
        pm_gen_message(c, &ho_schema_envelope, &f, 1);
        uint8_t *o = pm_alloc(c, f.vlen + 5);
        if (o != NULL) {
          size_t fl = pm_frame_of(f.val, f.vlen, o, f.vlen + 5);
          PM_EMIT(o, fl);
        }
        break;
      }
      case 1: /* drop */
        if (i < k) continue;
        break;
      case 2: /* duplicate */
        if (i < k) PM_EMIT(s + sp[i].off, sp[i].len);
        break;
      case 3: { /* oddities: empty frame, oversized header, bad framing byte, cut frame */
        static const uint8_t odd[4][5] = {{1, 0, 0, 0, 0}, {1, 1, 0, 1, 0}, {1, 1, 0, 0, 1}, {2, 0, 0, 0, 0}};
        int j = (int)pm_below(c, 5);
        if (j < 4) PM_EMIT(odd[j], pm_one_in(c, 3) ? 1 + pm_below(c, 5) : 5);
        else if (i < k && sp[i].len > 1) {
          PM_EMIT(s + sp[i].off, 1 + pm_below(c, (uint32_t)sp[i].len - 1));
          continue;
        }
        break;
      }
      case 4: /* swap with another frame */
        if (i < k && other < k) {
          PM_EMIT(s + sp[other].off, sp[other].len);
          continue;
        }
        break;
      case 5: { /* nest: another frame becomes this one's payload */
        if (i >= k || other >= k) break;
        uint8_t *o = pm_alloc(c, sp[other].len + sp[i].len + 32);
        if (o == NULL) break;
        /* envelope: copy this frame's fields except payload, then field 4 */
        static pm_msg em;
        pm_parse(s + sp[i].off + 5, sp[i].len >= 5 ? sp[i].len - 5 : 0, &em);
        size_t b = 5;
        for (size_t j = 0; j < em.n; j++)
          if (!(em.f[j].num == 4 && em.f[j].wt == 2)) {
            memcpy(o + b, em.f[j].raw, em.f[j].rawlen);
            b += em.f[j].rawlen;
          }
        o[b++] = 0x22;
        b += pm_put_varint(o + b, sp[other].len, 0);
        memcpy(o + b, s + sp[other].off, sp[other].len);
        b += sp[other].len;
        pm_frame_of(o + 5, b - 5, o, b);
        PM_EMIT(o, b);
        continue;
      }
      default: /* mutate this frame's envelope / payload */
        if (i < k) {
          uint8_t *o = pm_alloc(c, sp[i].len + 4096);
          if (o == NULL) break;
          size_t fl = pm_mutate_frame(c, s + sp[i].off, sp[i].len, o, sp[i].len + 4096);
          if (fl != (size_t)-1) {
            PM_EMIT(o, fl);
            continue;
          }
        }
        break;
      }
    }
    if (i < k) PM_EMIT(s + sp[i].off, sp[i].len);
  }
#undef PM_EMIT
  return w;
}

/* ---- entry points ---------------------------------------------------------------------- */

static uint8_t pm_arena_buf[1u << 20];
static const size_t pm_prefix = HO_PM_PREFIX;
static uint8_t pm_in[1u << 18];

static inline size_t pm_mutate_all(pm_ctx *c, uint8_t *data, size_t size, size_t max) {
  if (size > sizeof pm_in) return (size_t)-1;
  memcpy(pm_in, data, size);
  const uint8_t *in = pm_in;
  size_t w = (size_t)-1, nl = 0;
  const uint8_t *nb;
  switch (HO_PM_MODE) {
  case HO_PM_PAYLOAD:
  case HO_PM_BODY: {
#if HO_PM_MODE == HO_PM_PAYLOAD
    const ho_scan_schema *top = HO_PM_SCHEMA;
#else
    const ho_scan_schema *top = &ho_schema_envelope;
#endif
    nb = pm_mutate_msg(c, top, in, size, 0, &nl);
    if (nb != NULL && nl <= max) memcpy(data, nb, nl), w = nl;
    break;
  }
  case HO_PM_FRAME:
    w = pm_mutate_frame(c, in, size, data, max);
    break;
  default: {
    size_t pre = size < pm_prefix ? size : pm_prefix;
    if (max < pm_prefix) return (size_t)-1;
    memcpy(data, in, pre);
    for (size_t i = pre; i < pm_prefix; i++) data[i] = 0;
    if (pm_prefix > 0 && pm_one_in(c, 16)) data[pm_below(c, (uint32_t)pm_prefix)] = (uint8_t)pm_rand(c);
    size_t r = pm_mutate_stream(c, in + pre, size - pre, data + pm_prefix, max - pm_prefix);
    if (r != (size_t)-1) w = pm_prefix + r;
  }
  }
  return w;
}

#ifndef HO_PM_DISABLE
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
  pm_ctx c = {(uint64_t)seed * 0x2545F4914F6CDD1Dull + 1, pm_arena_buf, 0, sizeof pm_arena_buf, 1};
  if (size == 0 || pm_one_in(&c, 6)) return LLVMFuzzerMutate(data, size, max_size);
  size_t w = pm_mutate_all(&c, data, size, max_size);
  if (w == (size_t)-1 || w == 0) return LLVMFuzzerMutate(data, size, max_size);
  return w;
}

/* Field-level cross-over: A's fields then B's (protobuf merges the two),
 * or a prefix of A with a suffix of B; frames of both for streams. */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed) {
  pm_ctx c = {(uint64_t)seed * 0x9E3779B97F4A7C15ull + 7, pm_arena_buf, 0, sizeof pm_arena_buf, 0};
  size_t h1 = 0, h2 = 0; /* bytes before the protobuf / frames region */
  if (HO_PM_MODE == HO_PM_FRAME) h1 = s1 >= 5 ? 5 : s1, h2 = s2 >= 5 ? 5 : s2;
  if (HO_PM_MODE == HO_PM_STREAM) h1 = s1 < pm_prefix ? s1 : pm_prefix, h2 = s2 < pm_prefix ? s2 : pm_prefix;
  if (h1 > max_out) return 0;
  if (h1) memcpy(out, d1, h1);
  size_t w = h1;
  if (HO_PM_MODE == HO_PM_STREAM) {
    static pm_span a[256], b[256];
    size_t ka = pm_split_frames(d1 + h1, s1 - h1, a, 256);
    size_t kb = pm_split_frames(d2 + h2, s2 - h2, b, 256);
    size_t ca = pm_below(&c, (uint32_t)ka + 1), cb = pm_below(&c, (uint32_t)kb + 1);
    for (size_t i = 0; i < ca; i++) {
      if (a[i].len > max_out - w) return w;
      memcpy(out + w, d1 + h1 + a[i].off, a[i].len), w += a[i].len;
    }
    for (size_t i = cb; i < kb; i++) {
      if (b[i].len > max_out - w) return w;
      memcpy(out + w, d2 + h2 + b[i].off, b[i].len), w += b[i].len;
    }
    return w;
  }
  static pm_msg ma, mb;
  pm_parse(d1 + h1, s1 - h1, &ma);
  pm_parse(d2 + h2, s2 - h2, &mb);
  size_t ca = pm_below(&c, (uint32_t)ma.n + 1), cb = pm_below(&c, (uint32_t)mb.n + 1);
  if (pm_one_in(&c, 2)) ca = ma.n, cb = 0; /* A then all of B: a protobuf merge */
  for (size_t i = 0; i < ca; i++) {
    if (ma.f[i].rawlen > max_out - w) return w;
    memcpy(out + w, ma.f[i].raw, ma.f[i].rawlen), w += ma.f[i].rawlen;
  }
  for (size_t i = cb; i < mb.n; i++) {
    if (mb.f[i].rawlen > max_out - w) return w;
    memcpy(out + w, mb.f[i].raw, mb.f[i].rawlen), w += mb.f[i].rawlen;
  }
  if (HO_PM_MODE == HO_PM_FRAME && w >= 5) pm_frame_of(out + 5, w - 5, out, max_out);
  return w;
}
#endif /* HO_PM_DISABLE */

#endif /* HO_FUZZ_PROTO_MUTATOR_H */
