/* A small strict JSON reader and canonical writer for fuzz_msg_json.c,
 * independent of ref/lib/wire/msg_json.c.
 *
 * Reader: RFC 8259 values as the vectors use them (objects, arrays,
 * strings with every escape including surrogate pairs, non-negative
 * integers without leading zeros, true, false), whitespace allowed, raw
 * control characters and invalid UTF-8 refused, duplicate keys refused.
 * Writer: the canonical form of conformance/vectors/README.md, the bytes of
 * Python's json.dumps(v, sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False): keys sorted by their bytes (UTF-8 order equals code
 * point order), `"` `\` and control characters escaped (\b \f \n \r \t,
 * others \u00xx), everything else as it is.
 *
 * Nodes and string bytes live in fixed arenas; jm_reset() empties them.
 */
#ifndef HO_FUZZ_JSON_MINI_H
#define HO_FUZZ_JSON_MINI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { JM_OBJ = 1, JM_ARR, JM_STR, JM_NUM, JM_BOOL };

typedef struct jm_node {
  uint8_t type;
  uint32_t key, klen;   /* member key (bytes in the arena) */
  uint32_t str, slen;   /* JM_STR value */
  uint64_t num;         /* JM_NUM, JM_BOOL */
  int32_t first, next;  /* children (OBJ, ARR), siblings; -1 = none */
} jm_node;

#define JM_MAX_NODES 4096
#define JM_MAX_BYTES (1u << 20)

static jm_node jm_nodes[JM_MAX_NODES];
static size_t jm_nn;
static uint8_t jm_bytes[JM_MAX_BYTES];
static size_t jm_nb;

static inline void jm_reset(void) { jm_nn = 0, jm_nb = 0; }

static inline int32_t jm_new(uint8_t type) {
  if (jm_nn >= JM_MAX_NODES) return -1;
  jm_node *n = &jm_nodes[jm_nn];
  memset(n, 0, sizeof *n);
  n->type = type;
  n->first = n->next = -1;
  return (int32_t)jm_nn++;
}

static inline int jm_store(const void *p, size_t n, uint32_t *at) {
  if (n > JM_MAX_BYTES - jm_nb) return -1;
  memcpy(jm_bytes + jm_nb, p, n);
  *at = (uint32_t)jm_nb;
  jm_nb += n;
  return 0;
}

/* Append child c to parent p (keeps insertion order). */
static inline void jm_append(int32_t p, int32_t c) {
  if (jm_nodes[p].first < 0) {
    jm_nodes[p].first = c;
    return;
  }
  int32_t k = jm_nodes[p].first;
  while (jm_nodes[k].next >= 0) k = jm_nodes[k].next;
  jm_nodes[k].next = c;
}

/* ---- reader ------------------------------------------------------------- */

typedef struct jm_in {
  const uint8_t *p, *end;
  int depth;
} jm_in;

static inline void jm_ws(jm_in *in) {
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
    in->p++;
}

static inline int jm_hex4(jm_in *in, uint32_t *v) {
  if (in->end - in->p < 4) return -1;
  *v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = *in->p++;
    *v <<= 4;
    if (c >= '0' && c <= '9') *v |= c - '0';
    else if (c >= 'a' && c <= 'f') *v |= c - 'a' + 10u;
    else if (c >= 'A' && c <= 'F') *v |= c - 'A' + 10u;
    else return -1;
  }
  return 0;
}

static inline size_t jm_utf8_put(uint8_t *o, uint32_t cp) {
  if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
  if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | cp >> 6); o[1] = (uint8_t)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
    o[2] = (uint8_t)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)), o[3] = (uint8_t)(0x80 | (cp & 63));
  return 4;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629), 0 if invalid. */
static inline size_t jm_utf8_seq(const uint8_t *p, const uint8_t *end) {
  uint8_t c = p[0];
  size_t need;
  uint32_t cp, min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) need = 1, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) need = 2, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) need = 3, cp = c & 0x07, min = 0x10000;
  else return 0;
  if ((size_t)(end - p) < need + 1) return 0;
  for (size_t k = 1; k <= need; k++) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return need + 1;
}

/* A string token into the arena; *at and *len give its decoded bytes. */
static inline int jm_string(jm_in *in, uint32_t *at, uint32_t *len) {
  if (in->p >= in->end || *in->p != '"') return -1;
  in->p++;
  size_t start = jm_nb;
  for (;;) {
    if (in->p >= in->end) return -1;
    uint8_t c = *in->p;
    uint8_t tmp[8];
    size_t tn = 0;
    if (c == '"') { in->p++; break; }
    if (c < 0x20) return -1; /* raw control character */
    if (c == '\\') {
      in->p++;
      if (in->p >= in->end) return -1;
      uint8_t e = *in->p++;
      uint32_t cp;
      switch (e) {
      case '"': case '\\': case '/': tmp[0] = e, tn = 1; break;
      case 'b': tmp[0] = '\b', tn = 1; break;
      case 'f': tmp[0] = '\f', tn = 1; break;
      case 'n': tmp[0] = '\n', tn = 1; break;
      case 'r': tmp[0] = '\r', tn = 1; break;
      case 't': tmp[0] = '\t', tn = 1; break;
      case 'u':
        if (jm_hex4(in, &cp) != 0) return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (in->end - in->p < 2 || in->p[0] != '\\' || in->p[1] != 'u') return -1;
          in->p += 2;
          if (jm_hex4(in, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) return -1;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return -1;
        }
        tn = jm_utf8_put(tmp, cp);
        break;
      default: return -1;
      }
      uint32_t dummy;
      if (jm_store(tmp, tn, &dummy) != 0) return -1;
      continue;
    }
    size_t k = jm_utf8_seq(in->p, in->end);
    if (k == 0) return -1;
    uint32_t dummy;
    if (jm_store(in->p, k, &dummy) != 0) return -1;
    in->p += k;
  }
  *at = (uint32_t)start;
  *len = (uint32_t)(jm_nb - start);
  return 0;
}

static inline int32_t jm_value(jm_in *in);

static inline int32_t jm_object(jm_in *in) {
  int32_t o = jm_new(JM_OBJ);
  if (o < 0) return -1;
  in->p++; /* { */
  jm_ws(in);
  if (in->p < in->end && *in->p == '}') { in->p++; return o; }
  for (;;) {
    uint32_t k, kl;
    jm_ws(in);
    if (jm_string(in, &k, &kl) != 0) return -1;
    for (int32_t s = jm_nodes[o].first; s >= 0; s = jm_nodes[s].next)
      if (jm_nodes[s].klen == kl && memcmp(jm_bytes + jm_nodes[s].key, jm_bytes + k, kl) == 0)
        return -1; /* duplicate key */
    jm_ws(in);
    if (in->p >= in->end || *in->p != ':') return -1;
    in->p++;
    int32_t v = jm_value(in);
    if (v < 0) return -1;
    jm_nodes[v].key = k, jm_nodes[v].klen = kl;
    jm_append(o, v);
    jm_ws(in);
    if (in->p >= in->end) return -1;
    if (*in->p == ',') { in->p++; continue; }
    if (*in->p == '}') { in->p++; return o; }
    return -1;
  }
}

static inline int32_t jm_array(jm_in *in) {
  int32_t a = jm_new(JM_ARR);
  if (a < 0) return -1;
  in->p++; /* [ */
  jm_ws(in);
  if (in->p < in->end && *in->p == ']') { in->p++; return a; }
  for (;;) {
    int32_t v = jm_value(in);
    if (v < 0) return -1;
    jm_append(a, v);
    jm_ws(in);
    if (in->p >= in->end) return -1;
    if (*in->p == ',') { in->p++; continue; }
    if (*in->p == ']') { in->p++; return a; }
    return -1;
  }
}

static inline int32_t jm_value(jm_in *in) {
  jm_ws(in);
  if (in->p >= in->end || ++in->depth > 16) return -1;
  int32_t r = -1;
  uint8_t c = *in->p;
  if (c == '{') {
    r = jm_object(in);
  } else if (c == '[') {
    r = jm_array(in);
  } else if (c == '"') {
    r = jm_new(JM_STR);
    if (r >= 0 && jm_string(in, &jm_nodes[r].str, &jm_nodes[r].slen) != 0) r = -1;
  } else if (c >= '0' && c <= '9') {
    r = jm_new(JM_NUM);
    if (r < 0) return -1;
    if (c == '0' && in->end - in->p > 1 && in->p[1] >= '0' && in->p[1] <= '9') return -1;
    uint64_t v = 0;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
      uint64_t d = (uint64_t)(*in->p++ - '0');
      if (v > (UINT64_MAX - d) / 10) return -1;
      v = v * 10 + d;
    }
    jm_nodes[r].num = v;
  } else if (in->end - in->p >= 4 && memcmp(in->p, "true", 4) == 0) {
    r = jm_new(JM_BOOL);
    if (r >= 0) jm_nodes[r].num = 1;
    in->p += 4;
  } else if (in->end - in->p >= 5 && memcmp(in->p, "false", 5) == 0) {
    r = jm_new(JM_BOOL);
    in->p += 5;
  }
  in->depth--;
  return r;
}

/* Parse exactly one value filling [p, p+n). Returns its node or -1. */
static inline int32_t jm_parse(const char *p, size_t n) {
  jm_in in = {(const uint8_t *)p, (const uint8_t *)p + n, 0};
  int32_t v = jm_value(&in);
  jm_ws(&in);
  return v >= 0 && in.p == in.end ? v : -1;
}

/* ---- canonical writer ---------------------------------------------------- */

typedef struct jm_out {
  char *p;
  size_t cap, n;
} jm_out;

static inline void jm_put(jm_out *o, const void *s, size_t k) {
  if (o->n + k < o->cap) memcpy(o->p + o->n, s, k);
  o->n += k;
}

static inline void jm_put_str(jm_out *o, const uint8_t *s, size_t n) {
  jm_put(o, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    char e[8];
    switch (s[i]) {
    case '"': jm_put(o, "\\\"", 2); break;
    case '\\': jm_put(o, "\\\\", 2); break;
    case '\b': jm_put(o, "\\b", 2); break;
    case '\f': jm_put(o, "\\f", 2); break;
    case '\n': jm_put(o, "\\n", 2); break;
    case '\r': jm_put(o, "\\r", 2); break;
    case '\t': jm_put(o, "\\t", 2); break;
    default:
      if (s[i] < 0x20) {
        static const char hx[] = "0123456789abcdef";
        e[0] = '\\', e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hx[s[i] >> 4], e[5] = hx[s[i] & 15];
        jm_put(o, e, 6);
      } else {
        jm_put(o, &s[i], 1);
      }
    }
  }
  jm_put(o, "\"", 1);
}

static inline int jm_key_cmp(int32_t a, int32_t b) {
  const jm_node *x = &jm_nodes[a], *y = &jm_nodes[b];
  size_t m = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(jm_bytes + x->key, jm_bytes + y->key, m);
  if (c != 0) return c;
  return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static inline void jm_write(jm_out *o, int32_t v) {
  const jm_node *n = &jm_nodes[v];
  char b[24];
  switch (n->type) {
  case JM_STR: jm_put_str(o, jm_bytes + n->str, n->slen); break;
  case JM_NUM: {
    int k = 0;
    uint64_t x = n->num;
    char r[24];
    do r[k++] = (char)('0' + x % 10); while ((x /= 10) != 0);
    for (int i = 0; i < k; i++) b[i] = r[k - 1 - i];
    jm_put(o, b, (size_t)k);
    break;
  }
  case JM_BOOL: jm_put(o, n->num ? "true" : "false", n->num ? 4 : 5); break;
  case JM_ARR: {
    jm_put(o, "[", 1);
    for (int32_t c = n->first; c >= 0; c = jm_nodes[c].next) {
      if (c != n->first) jm_put(o, ",", 1);
      jm_write(o, c);
    }
    jm_put(o, "]", 1);
    break;
  }
  case JM_OBJ: {
    /* Members in key order: selection of the next smallest key. */
    jm_put(o, "{", 1);
    int32_t last = -1;
    for (;;) {
      int32_t best = -1;
      for (int32_t c = n->first; c >= 0; c = jm_nodes[c].next)
        if ((last < 0 || jm_key_cmp(c, last) > 0) && (best < 0 || jm_key_cmp(c, best) < 0)) best = c;
      if (best < 0) break;
      if (last >= 0) jm_put(o, ",", 1);
      jm_put_str(o, jm_bytes + jm_nodes[best].key, jm_nodes[best].klen);
      jm_put(o, ":", 1);
      jm_write(o, best);
      last = best;
    }
    jm_put(o, "}", 1);
    break;
  }
  }
}

/* Canonical bytes of node v into out (NUL-terminated). Returns the length,
 * or (size_t)-1 if it does not fit. */
static inline size_t jm_canonical(int32_t v, char *out, size_t cap) {
  jm_out o = {out, cap, 0};
  jm_write(&o, v);
  if (o.n + 1 > cap) return (size_t)-1;
  out[o.n] = '\0';
  return o.n;
}

/* ---- building a tree (the model) ----------------------------------------- */

static inline int32_t jm_member(int32_t obj, const char *key, int32_t v) {
  if (obj < 0 || v < 0 || jm_store(key, strlen(key), &jm_nodes[v].key) != 0) return -1;
  jm_nodes[v].klen = (uint32_t)strlen(key);
  jm_append(obj, v);
  return v;
}

static inline int32_t jm_str_n(const void *s, size_t n) {
  int32_t v = jm_new(JM_STR);
  if (v < 0 || jm_store(s, n, &jm_nodes[v].str) != 0) return -1;
  jm_nodes[v].slen = (uint32_t)n;
  return v;
}

static inline int32_t jm_num(uint64_t x) {
  int32_t v = jm_new(JM_NUM);
  if (v >= 0) jm_nodes[v].num = x;
  return v;
}

#endif /* HO_FUZZ_JSON_MINI_H */
