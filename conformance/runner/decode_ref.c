/* handoff-conform decode — the reference verdict, answers parsed and
 * compared, the mutator, and the reference as a SUT (see decode.h).
 * spec: FRAME-2 FRAME-3 FRAME-4 FRAME-9 ENV-4 MSG-15 */
#include "decode.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff/error.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/msg_json.h"

/* The structure-aware mutator of the fuzz targets, whole frames. Only its
 * field- and frame-level operations run here (byte_level = 0), so the
 * libFuzzer hook it names is never called; it only has to link. */
#define HO_PM_MODE HO_PM_FRAME
#define HO_PM_DISABLE 1
#include "../../fuzz/proto_mutator.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) {
  (void)data, (void)max_size;
  return size;
}

int cf_fmt(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

const char *const cf_dt_names[CF_DT_COUNT] = {"hello", "hello_reply", "offer", "ack", "ready"};
static const ho_frame_type dt_type[CF_DT_COUNT] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK,
                                                  HO_FT_READY};

int cf_dt_find(const char *name) {
  for (int i = 0; i < CF_DT_COUNT; i++)
    if (strcmp(cf_dt_names[i], name) == 0) return i;
  return -1;
}

void cf_dv_free(cf_dverdict *v) {
  cf_json_free(v->tree);
  free(v->text);
  memset(v, 0, sizeof *v);
}

void cf_dv_describe(const cf_dverdict *v, char *buf, size_t cap) {
  const char *t = v->text ? v->text : "";
  switch (v->kind) {
  case CF_DV_OK: cf_fmt(buf, cap, "%s", t); break;
  case CF_DV_ERROR: cf_fmt(buf, cap, "%s", v->name); break;
  case CF_DV_CRASH: cf_fmt(buf, cap, "CRASH (%s)", t); break;
  case CF_DV_TIMEOUT: cf_fmt(buf, cap, "TIMEOUT (%s)", t); break;
  case CF_DV_GARBAGE: cf_fmt(buf, cap, "GARBAGE (%s)", t); break;
  }
  if (cap > 4 && strlen(buf) == cap - 1) memcpy(buf + cap - 4, "...", 3); /* cut */
}

static int json_equal(const cf_json *a, const cf_json *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
  case CF_J_NULL: return 1;
  case CF_J_BOOL: return a->b == b->b;
  case CF_J_NUM: return a->num == b->num;
  case CF_J_STR: return strcmp(a->str, b->str) == 0;
  case CF_J_ARR:
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
      if (!json_equal(a->items[i], b->items[i])) return 0;
    return 1;
  case CF_J_OBJ:
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++) {
      const cf_json *o = cf_json_get(b, a->items[i]->key);
      const cf_json *s = cf_json_get(a, a->items[i]->key);
      if (o == NULL || s != a->items[i] || !json_equal(a->items[i], o)) return 0; /* duplicate keys differ */
    }
    return 1;
  }
  return 0;
}

int cf_dv_equal(const cf_dverdict *a, const cf_dverdict *b) {
  if (a->kind != b->kind) return 0;
  if (a->kind == CF_DV_ERROR) return strcmp(a->name, b->name) == 0;
  if (a->kind == CF_DV_OK) return json_equal(a->tree, b->tree);
  return 0; /* CRASH, TIMEOUT, GARBAGE never agree with anything */
}

int cf_dv_same_class(const cf_dverdict *a, const cf_dverdict *b) {
  if (a->kind != b->kind) return 0;
  return a->kind != CF_DV_ERROR || strcmp(a->name, b->name) == 0;
}

/* Error names a decoder may answer: the vectors' list and CLOSED. */
static int known_error(const char *s) {
  static const char *const names[] = {"FRAMING_VERSION", "FRAME_TOO_LARGE", "TRUNCATED", "CLOSED",
                                      "ENVELOPE_VERSION", "UNKNOWN_KIND", "WRONG_KIND", "PAYLOAD_PROTOCOL",
                                      "UNKNOWN_ENCODING", "PAYLOAD_COMPRESSED", "REQUEST_ID_MISMATCH",
                                      "MALFORMED", "WIRE_TYPE", "STRING_TOO_LONG", "STRING_INVALID",
                                      "TOKEN_LENGTH", "TOO_MANY_ITEMS"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(names[i], s) == 0) return 1;
  return 0;
}

void cf_dv_parse_line(const char *line, size_t len, cf_dverdict *v) {
  memset(v, 0, sizeof *v);
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) len--;
  v->text = strndup(line, len);
  if (v->text == NULL) {
    v->kind = CF_DV_GARBAGE;
    return;
  }
  if (len < sizeof v->name && known_error(v->text)) {
    v->kind = CF_DV_ERROR;
    cf_fmt(v->name, sizeof v->name, "%s", v->text);
    return;
  }
  char err[128] = "";
  v->tree = len > 0 && line[0] == '{' ? cf_json_parse(line, len, err, sizeof err) : NULL;
  v->kind = v->tree != NULL && v->tree->type == CF_J_OBJ ? CF_DV_OK : CF_DV_GARBAGE;
  if (v->kind == CF_DV_GARBAGE && len > 300) v->text[300] = '\0';
}

/* ---- the reference ------------------------------------------------------------ */

static uint8_t *grow_buf;
static size_t grow_cap;
static uint8_t *grow(void *ctx, size_t need) {
  (void)ctx;
  if (need <= grow_cap) return grow_buf;
  uint8_t *n = realloc(grow_buf, need);
  if (n == NULL) return NULL;
  grow_buf = n, grow_cap = need;
  return n;
}

static ho_any_msg dmsg;
static ho_envelope denv;

/* One codec's verdict, rendered: an error code (< 0) or HO_OK with *json. */
static int one_codec(ho_codec codec, ho_frame_type t, const uint8_t *in, size_t len, char **json) {
  *json = NULL;
  if (len == 0) return HO_ERR_CLOSED; /* spec: FRAME-9 — EOF at a frame boundary */
  ho_frame_reader r;
  uint32_t cap = t == HO_FT_HELLO ? HO_MAX_HELLO_BYTES : HO_MAX_FRAME_BYTES;
  if (ho_frame_reader_init_grow(&r, grow_buf, grow_cap, cap, grow, NULL) != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  size_t used = 0;
  /* A receiver reads one frame and never past it (FRAME-6): bytes after
   * the first frame are not part of its verdict. */
  int rc = ho_frame_reader_feed(&r, in, len, &used);
  if (rc == 0) rc = ho_frame_reader_finish(&r);
  if (rc == HO_OK) rc = HO_ERR_TRUNCATED; /* begun (len > 0), not complete */
  if (rc != 1) return rc; /* spec: FRAME-2 FRAME-3 FRAME-4 */
  const uint8_t *body;
  size_t blen;
  if (ho_frame_reader_body(&r, &body, &blen) != HO_OK) return HO_ERR_STATE;
  rc = ho_frame_decode_body(codec, t, body, blen, &denv, &dmsg);
  if (rc != HO_OK) return rc;
  size_t jcap = 2 * blen + 3 * 65536, n = 0;
  *json = malloc(jcap);
  if (*json == NULL) return HO_ERR_NOMEM;
  if (ho_frame_to_json(t, &denv, &dmsg, *json, jcap, &n) != HO_OK) {
    free(*json);
    *json = NULL;
    return HO_ERR_BUFFER_TOO_SMALL;
  }
  return HO_OK;
}

int cf_dref_verdict(int ti, const uint8_t *in, size_t len, cf_dverdict *v) {
  memset(v, 0, sizeof *v);
  ho_frame_type t = dt_type[ti];
  char *j1 = NULL, *j2 = NULL;
  int rc1 = one_codec(HO_CODEC_PROTOBUF_C, t, in, len, &j1);
  int rc2 = one_codec(HO_CODEC_NANOPB, t, in, len, &j2);
  int same = rc1 == rc2 && (rc1 != HO_OK || strcmp(j1, j2) == 0);
  if (rc1 == HO_OK) {
    v->kind = CF_DV_OK;
    char err[128] = "";
    v->tree = cf_json_parse(j1, strlen(j1), err, sizeof err);
    v->text = j1;
    if (v->tree == NULL) same = 0;
  } else {
    const char *name = ho_errname(rc1);
    v->kind = CF_DV_ERROR;
    cf_fmt(v->name, sizeof v->name, "%s", name ? name : "?");
    free(j1);
    if (!known_error(v->name)) same = 0;
  }
  free(j2);
  if (!same) {
    free(v->text);
    v->text = strdup("the reference codecs disagree, or the reference failed: a bug of the reference");
    v->kind = CF_DV_GARBAGE;
    return -1;
  }
  return 0;
}

/* ---- mutated inputs ------------------------------------------------------------- */

uint64_t cf_dmix(uint64_t x) { /* splitmix64 finalizer */
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

size_t cf_dmutate(uint64_t seed, uint64_t index, const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
  pm_ctx c = {cf_dmix(seed ^ cf_dmix(index + 1)), pm_arena_buf, 0, sizeof pm_arena_buf, 0};
  if (len > cap) len = cap;
  memcpy(out, in, len);
  size_t n = len;
  unsigned rounds = 1 + pm_below(&c, 3); /* stacked mutations, as libFuzzer does */
  for (unsigned r = 0; r < rounds; r++) {
    c.used = 0;
    size_t w = pm_mutate_all(&c, out, n, cap);
    if (w != (size_t)-1 && w > 0) n = w;
  }
  return n;
}

/* ---- structural shrinking (the minimizer's first pass) ------------------------ */

/* Write `buf` (a protobuf message) with the k-th field removed, counting
 * fields in pre-order: each field, then (for a length-delimited field
 * whose contents parse as fields) the fields inside it, to depth 3; the
 * length prefixes around a removed field are rewritten. *k counts down;
 * *removed is set once the field is gone. */
static size_t drop_kth(const uint8_t *buf, size_t len, long *k, int op, int depth, int *removed, uint8_t *out) {
  static pm_msg ms[4];
  pm_msg *m = &ms[depth];
  pm_parse(buf, len, m);
  size_t o = 0;
  for (size_t i = 0; i < m->n; i++) {
    const pm_field *f = &m->f[i];
    if (!*removed && (*k)-- == 0) {
      *removed = 1;
      if (op == 0) continue; /* drop the field */
      if (f->wt == 2 && f->vlen > 0) { /* halve its contents */
        o += pm_put_varint(out + o, (uint64_t)f->num << 3 | 2, 0);
        o += pm_put_varint(out + o, f->vlen / 2, 0);
        memcpy(out + o, f->val, f->vlen / 2);
        o += f->vlen / 2;
        continue;
      }
    }
    int nested = !*removed && f->wt == 2 && depth < 3 && f->vlen > 0;
    if (nested) {
      static pm_msg probe;
      pm_parse(f->val, f->vlen, &probe);
      nested = probe.n > 0 && probe.f[probe.n - 1].wt != PM_OPAQUE;
    }
    if (nested) {
      uint8_t *sub = malloc(f->vlen);
      size_t sl = sub ? drop_kth(f->val, f->vlen, k, op, depth + 1, removed, sub) : 0;
      pm_parse(buf, len, m); /* the recursion used other levels only, but be safe */
      f = &m->f[i];
      if (sub != NULL && *removed) {
        o += pm_put_varint(out + o, (uint64_t)f->num << 3 | 2, 0);
        o += pm_put_varint(out + o, sl, 0);
        memcpy(out + o, sub, sl);
        o += sl;
        free(sub);
        continue;
      }
      free(sub);
    }
    memcpy(out + o, f->raw, f->rawlen);
    o += f->rawlen;
  }
  return o;
}

size_t cf_dshrink(const uint8_t *in, size_t len, long k, int op, uint8_t *out) {
  if (len < 5 || in[0] != 1) return (size_t)-1;
  uint32_t l = (uint32_t)in[1] | (uint32_t)in[2] << 8 | (uint32_t)in[3] << 16 | (uint32_t)in[4] << 24;
  if (l != len - 5) return (size_t)-1; /* only frames whose header matches */
  int removed = 0;
  size_t n = drop_kth(in + 5, len - 5, &k, op, 0, &removed, out + 5);
  if (!removed) return (size_t)-1;
  out[0] = 1;
  for (int i = 0; i < 4; i++) out[1 + i] = (uint8_t)(n >> (8 * i));
  return n + 5;
}

/* ---- the reference as a SUT ------------------------------------------------------- */

static int read_full(uint8_t *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

int cf_dref_serve(const char *type) {
  int t = cf_dt_find(type);
  if (t < 0) {
    fprintf(stderr, "handoff-conform decode --serve: unknown frame type '%s'\n", type);
    return 2;
  }
  uint8_t *buf = NULL;
  for (;;) {
    uint8_t h[4];
    int rc = read_full(h, 4);
    if (rc == 0) break;
    if (rc < 0) return 1;
    uint32_t n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    uint8_t *nb = realloc(buf, n ? n : 1);
    if (nb == NULL) return 1;
    buf = nb;
    if (n > 0 && read_full(buf, n) != 1) return 1;
    cf_dverdict v;
    cf_dref_verdict(t, buf, n, &v);
    if (v.kind == CF_DV_OK) fputs(v.text, stdout);
    else if (v.kind == CF_DV_ERROR) fputs(v.name, stdout);
    else fputs("REFERENCE-FAILED", stdout);
    fputc('\n', stdout);
    fflush(stdout);
    cf_dv_free(&v);
  }
  free(buf);
  return 0;
}
