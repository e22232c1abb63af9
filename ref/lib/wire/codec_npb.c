/* handoff — nanopb back end of msg.h: static structs, no heap, and a
 * zero-copy Frame.payload (FT_CALLBACK). spec: MSG-1 */
#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>

/* The no-heap peer library: nanopb 0.4.7 has heap paths only with
 * PB_ENABLE_MALLOC (its -DPB_NO_MALLOC is a marker it does not read). */
#if defined(HO_NO_HEAP) && defined(PB_ENABLE_MALLOC)
#error "HO_NO_HEAP needs a nanopb runtime and headers without PB_ENABLE_MALLOC"
#endif

#include "handoff/v1/handoff_v1_envelope.pb.h"
#include "handoff/v1/handoff_v1_handoff.pb.h"
#include "wire/codec.h"

/* The nanopb bounds (.options) and the wire.h caps are one table: a drift
 * between them fails the build here. Strings count their NUL. */
#define FSIZE(type, field) sizeof(((type *)0)->field)
#define CAP_STR(type, field, cap) _Static_assert(FSIZE(type, field) == (cap) + 1, #type "." #field)
#define CAP_BIN(type, field, cap)                                                                 \
  _Static_assert(FSIZE(type, field.bytes) == (cap), #type "." #field)
CAP_STR(handoff_v1_Frame, traceparent, HO_MAX_TRACEPARENT);
CAP_STR(handoff_v1_Frame, tracestate, HO_MAX_TRACESTATE);
CAP_STR(handoff_v1_Hello, service_name, HO_MAX_SERVICE_NAME);
CAP_STR(handoff_v1_Hello, wanted_version, HO_MAX_WANTED_VERSION);
CAP_STR(handoff_v1_Hello, client_version, HO_MAX_CLIENT_VERSION);
CAP_BIN(handoff_v1_Hello, auth_token, HO_MAX_HELLO_BLOB);
CAP_STR(handoff_v1_Hello, request_id, HO_MAX_REQUEST_ID);
CAP_STR(handoff_v1_Hello, client_lib_name, HO_MAX_CLIENT_LIB);
CAP_STR(handoff_v1_Hello, client_lib_version, HO_MAX_CLIENT_LIB);
CAP_BIN(handoff_v1_Hello, peer_attestation_nonce, HO_MAX_HELLO_BLOB);
CAP_BIN(handoff_v1_Hello, capability_token, HO_MAX_HELLO_BLOB);
CAP_STR(handoff_v1_Negotiated, daemon_version, HO_MAX_DAEMON_VERSION);
CAP_STR(handoff_v1_Negotiated, backend_pipe, HO_MAX_BACKEND_PIPE);
CAP_STR(handoff_v1_Negotiated, warnings[0], HO_MAX_WARNING);
_Static_assert(FSIZE(handoff_v1_Negotiated, warnings) / FSIZE(handoff_v1_Negotiated, warnings[0]) ==
                   HO_MAX_WARNINGS, "Negotiated.warnings max_count");
CAP_BIN(handoff_v1_Negotiated, handle_passed_token, HO_TOKEN_BYTES);
CAP_STR(handoff_v1_Refused, reason, HO_MAX_REASON);
_Static_assert(FSIZE(handoff_v1_Refused, details) / FSIZE(handoff_v1_Refused, details[0]) ==
                   HO_MAX_DETAILS, "Refused.details max_count");
CAP_STR(handoff_v1_Refused_DetailsEntry, key, HO_MAX_DETAIL_KEY);
CAP_STR(handoff_v1_Refused_DetailsEntry, value, HO_MAX_DETAIL_VALUE);
CAP_BIN(handoff_v1_HandoffOffer, token, HO_TOKEN_BYTES);
CAP_STR(handoff_v1_HandoffOffer, service_name, HO_MAX_SERVICE_NAME);
CAP_BIN(handoff_v1_HandoffOffer, reply_adopted, HO_MAX_REPLY_FRAME);
CAP_BIN(handoff_v1_HandoffOffer, reply_declined, HO_MAX_REPLY_FRAME);
CAP_BIN(handoff_v1_HandoffAck, token, HO_TOKEN_BYTES);
CAP_STR(handoff_v1_HandoffAck, error_detail, HO_MAX_ERROR_DETAIL);
/* The neutral structs use the same caps. */
_Static_assert(FSIZE(ho_hello, service_name) == FSIZE(handoff_v1_Hello, service_name), "hello");
_Static_assert(FSIZE(ho_negotiated, warnings) == FSIZE(handoff_v1_Negotiated, warnings), "neg");
_Static_assert(FSIZE(ho_refused, details[0].value) ==
                   FSIZE(handoff_v1_Refused_DetailsEntry, value), "refused");

#define STRCPY(dst, src) copy_str((dst), sizeof(dst), (src), sizeof(src))
static void copy_str(char *dst, size_t dsize, const char *src, size_t ssize) {
  size_t n = ho_strnlen(src, ssize);
  if (n >= dsize) n = dsize - 1; /* cannot happen: equal sizes, checked input */
  memcpy(dst, src, n);
  dst[n] = '\0';
}
#define BINCPY(dst, dlen, src) \
  do { memcpy((dst), (src).bytes, (src).size); (dlen) = (src).size; } while (0)
#define BINSET(dst, src, n) \
  do { memcpy((dst).bytes, (src), (n)); (dst).size = (pb_size_t)(n); } while (0)

/* ---- normalising input stream (spec: MSG-11) ------------------------------
 * nanopb rejects a uint32/enum/bool varint above 2^32-1, protobuf takes its
 * low 32 bits (bool: non-zero). For the rare message that has one (the scan
 * says so), nanopb reads through this stream, which walks the top-level
 * fields of the scanned input and re-encodes only those varints; every
 * other byte passes through unchanged, without a copy of the input. */

typedef struct norm_src {
  const uint8_t *buf;
  size_t len;
  size_t pos; /* next unread byte of the original input */
  const ho_scan_schema *schema;
  uint8_t rep[24]; /* tag and value bytes of the current field */
  size_t rep_len, rep_pos;
  size_t raw_left; /* bytes to pass through (fixed or length-delimited) */
} norm_src;

static uint64_t norm_varint(norm_src *s, size_t *start) {
  uint64_t v = 0;
  *start = s->pos;
  for (unsigned sh = 0; s->pos < s->len; sh += 7) {
    uint8_t b = s->buf[s->pos++];
    if (sh < 64) v |= (uint64_t)(b & 0x7F) << sh;
    if ((b & 0x80) == 0) break;
  }
  return v;
}

static void norm_copy(norm_src *s, size_t from) {
  memcpy(s->rep + s->rep_len, s->buf + from, s->pos - from);
  s->rep_len += s->pos - from;
}

static void norm_next(norm_src *s) {
  size_t at;
  uint64_t tag = norm_varint(s, &at);
  s->rep_len = s->rep_pos = 0;
  norm_copy(s, at);
  const ho_scan_field *f = ho_scan_find(s->schema, tag >> 3);
  switch (tag & 7) {
  case 0: {
    uint64_t v = norm_varint(s, &at);
    if (f != NULL && (f->kind == HO_SK_U32 || f->kind == HO_SK_BOOL) && v > UINT32_MAX)
      s->rep_len += ho_varint_put(s->rep + s->rep_len, ho_varint_narrow(f->kind, v));
    else
      norm_copy(s, at);
    break;
  }
  case 2: s->raw_left = (size_t)norm_varint(s, &at); norm_copy(s, at); break;
  case 1: s->raw_left = 8; break;
  default: s->raw_left = 4; break;
  }
}

static bool norm_read(pb_istream_t *stream, pb_byte_t *out, size_t count) {
  norm_src *s = stream->state;
  while (count > 0) {
    if (s->rep_pos < s->rep_len) {
      uint8_t b = s->rep[s->rep_pos++];
      if (out != NULL) *out++ = b;
      count--;
    } else if (s->raw_left > 0) {
      size_t k = count < s->raw_left ? count : s->raw_left;
      if (out != NULL) {
        memcpy(out, s->buf + s->pos, k);
        out += k;
      }
      s->pos += k;
      s->raw_left -= k;
      count -= k;
    } else if (s->pos < s->len) {
      norm_next(s);
    } else {
      return false;
    }
  }
  return true;
}

/* ---- Frame.payload: zero-copy callbacks --------------------------------- */

typedef struct payload_view {
  const uint8_t *p;
  size_t n;
} payload_view;

/* Records where the payload lies in the input: a buffer istream's state is
 * the read position. The last occurrence wins. */
static bool payload_decode_cb(pb_istream_t *stream, const pb_field_t *field, void **arg) {
  (void)field;
  payload_view *v = *arg;
  /* A buffer stream's state is its read position; the normalising stream
   * passes length-delimited bytes through from the same input. */
  v->p = stream->callback == norm_read ? ((norm_src *)stream->state)->buf +
                                             ((norm_src *)stream->state)->pos
                                       : stream->state;
  v->n = stream->bytes_left;
  return pb_read(stream, NULL, stream->bytes_left);
}

static bool payload_bytes_cb(pb_ostream_t *stream, const pb_field_t *field, void *const *arg) {
  const payload_view *v = *arg;
  if (v->n == 0) return true; /* proto3: an empty bytes field is omitted */
  return pb_encode_tag_for_field(stream, field) && pb_encode_string(stream, v->p, v->n);
}

typedef struct payload_msg {
  const pb_msgdesc_t *desc;
  const void *msg;
  size_t size; /* encoded size of msg, computed once */
} payload_msg;

/* Encodes the payload message straight into the envelope (no scratch); the
 * size was computed once, so a sizing pass costs nothing more. */
static bool payload_msg_cb(pb_ostream_t *stream, const pb_field_t *field, void *const *arg) {
  const payload_msg *pm = *arg;
  if (pm->size == 0) return true; /* proto3: an empty bytes field is omitted */
  if (!pb_encode_tag_for_field(stream, field) || !pb_encode_varint(stream, pm->size)) return false;
  if (stream->callback == NULL) return pb_write(stream, NULL, pm->size); /* sizing stream */
  size_t before = stream->bytes_written;
  return pb_encode(stream, pm->desc, pm->msg) && stream->bytes_written - before == pm->size;
}

/* ---- generated -> neutral ---------------------------------------------- */

/* What both directions of Negotiated and Refused copy (negotiated_in/_out,
 * refused_in/_out): one body each over the function's `dst` and `src`;
 * count_t and code_t are the types of dst's counts and code. */
#define COPY_NEGOTIATED(count_t)                                                       \
  do {                                                                                 \
    dst->negotiated_protocol = src->negotiated_protocol;                               \
    STRCPY(dst->daemon_version, src->daemon_version);                                  \
    STRCPY(dst->backend_pipe, src->backend_pipe);                                      \
    dst->warnings_count = (count_t)src->warnings_count;                                \
    for (size_t i = 0; i < src->warnings_count; i++)                                   \
      STRCPY(dst->warnings[i], src->warnings[i]);                                      \
    dst->server_capabilities = src->server_capabilities;                               \
    dst->keepalive_interval_secs = src->keepalive_interval_secs;                       \
    dst->connection_id = src->connection_id;                                           \
  } while (0)
#define COPY_REFUSED(count_t, code_t)                                                  \
  do {                                                                                 \
    STRCPY(dst->reason, src->reason);                                                  \
    dst->daemon_min_protocol = src->daemon_min_protocol;                               \
    dst->daemon_max_protocol = src->daemon_max_protocol;                               \
    dst->code = (code_t)src->code;                                                     \
    dst->details_count = (count_t)src->details_count;                                  \
    for (size_t i = 0; i < src->details_count; i++) {                                  \
      STRCPY(dst->details[i].key, src->details[i].key);                                \
      STRCPY(dst->details[i].value, src->details[i].value);                            \
    }                                                                                  \
    dst->retry_after_ms = src->retry_after_ms;                                         \
  } while (0)

/* Hello's fields but its bytes, the same in both directions (npb_to_neutral and
 * fill; the bytes are stored differently on each side). */
#define COPY_HELLO(dst, src)                                                           \
  do {                                                                                 \
    (dst)->client_min_protocol = (src)->client_min_protocol;                           \
    (dst)->client_max_protocol = (src)->client_max_protocol;                           \
    STRCPY((dst)->service_name, (src)->service_name);                                  \
    STRCPY((dst)->wanted_version, (src)->wanted_version);                              \
    STRCPY((dst)->client_version, (src)->client_version);                              \
    (dst)->client_capabilities = (src)->client_capabilities;                           \
    STRCPY((dst)->request_id, (src)->request_id);                                      \
    (dst)->connection_id = (src)->connection_id;                                       \
    (dst)->peer_pid = (src)->peer_pid;                                                 \
    STRCPY((dst)->client_lib_name, (src)->client_lib_name);                            \
    STRCPY((dst)->client_lib_version, (src)->client_lib_version);                      \
    (dst)->client_keepalive_secs = (src)->client_keepalive_secs;                       \
  } while (0)

static void negotiated_in(ho_negotiated *dst, const handoff_v1_Negotiated *src) {
  COPY_NEGOTIATED(size_t);
  BINCPY(dst->handle_passed_token, dst->handle_passed_token_len, src->handle_passed_token);
}

static void refused_in(ho_refused *dst, const handoff_v1_Refused *src) {
  COPY_REFUSED(size_t, uint32_t);
  ho_refused_normalize(dst);
}

/* One union for every generated struct keeps the stack use bounded. */
typedef union npb_any {
  handoff_v1_Frame frame;
  handoff_v1_Hello hello;
  handoff_v1_HelloReply reply;
  handoff_v1_Negotiated neg;
  handoff_v1_Refused ref;
  handoff_v1_HandoffOffer offer;
  handoff_v1_HandoffAck ack;
} npb_any;

static const pb_msgdesc_t *desc_of(ho_mt mt) {
  switch (mt) {
  case HO_MT_ENVELOPE: return &handoff_v1_Frame_msg;
  case HO_MT_HELLO: return &handoff_v1_Hello_msg;
  case HO_MT_HELLO_REPLY: return &handoff_v1_HelloReply_msg;
  case HO_MT_NEGOTIATED: return &handoff_v1_Negotiated_msg;
  case HO_MT_REFUSED: return &handoff_v1_Refused_msg;
  case HO_MT_OFFER: return &handoff_v1_HandoffOffer_msg;
  case HO_MT_ACK: return &handoff_v1_HandoffAck_msg;
  }
  return NULL;
}

static const ho_scan_schema *schema_of(ho_mt mt) {
  switch (mt) {
  case HO_MT_ENVELOPE: return &ho_schema_envelope;
  case HO_MT_HELLO: return &ho_schema_hello;
  case HO_MT_NEGOTIATED: return &ho_schema_negotiated;
  case HO_MT_REFUSED: return &ho_schema_refused;
  case HO_MT_OFFER: return &ho_schema_offer;
  case HO_MT_ACK: return &ho_schema_ack;
  default: return NULL;
  }
}

/* One pb_decode_ex() over scanned input, through the normalising stream
 * when the scan asks for it. */
static int npb_run(ho_mt mt, const uint8_t *buf, size_t len, const ho_scan_result *sr, void *m,
                   unsigned flags) {
  pb_istream_t s = pb_istream_from_buffer(len ? buf : (const pb_byte_t *)"", len);
  norm_src ns;
  if (sr != NULL && sr->needs_norm) {
    memset(&ns, 0, sizeof ns);
    ns.buf = buf;
    ns.len = len;
    ns.schema = schema_of(mt);
    s.callback = norm_read;
    s.state = &ns;
    s.bytes_left = sr->norm_len;
  }
  /* Scanned input: a failure here is a codec disagreement. */
  return pb_decode_ex(&s, desc_of(mt), m, flags) ? HO_OK : HO_ERR_MALFORMED;
}

static int npb_to_neutral(ho_mt mt, const npb_any *mp, const payload_view *pvp, void *out);

int ho_npb_decode(ho_mt mt, const uint8_t *buf, size_t len, const ho_scan_result *sr,
                  void *out) {
  if (desc_of(mt) == NULL || mt == HO_MT_HELLO_REPLY) return HO_ERR_INVALID_ARGUMENT;
  npb_any m; /* pb_decode() sets every static field to its default */
  payload_view pv = {NULL, 0};
  if (mt == HO_MT_ENVELOPE) {
    m.frame.payload.funcs.decode = payload_decode_cb;
    m.frame.payload.arg = &pv;
  }
  int rc = npb_run(mt, buf, len, sr, &m, 0);
  return rc != HO_OK ? rc : npb_to_neutral(mt, &m, &pv, out);
}

int ho_npb_decode_member(ho_mt mt, const uint8_t *reply, size_t len, size_t off, uint32_t which,
                         void *out) {
  if (mt != HO_MT_NEGOTIATED && mt != HO_MT_REFUSED) return HO_ERR_INVALID_ARGUMENT;
  npb_any m;
  unsigned flags = 0; /* the first occurrence initialises, later ones merge */
  uint32_t num;
  const uint8_t *val;
  size_t vlen;
  while (ho_wire_next(reply, len, &off, &num, &val, &vlen)) {
    if (num != which) continue;
    ho_scan_result part;
    if (ho_scan_part(schema_of(mt), val, vlen, &part) != HO_OK) return HO_ERR_MALFORMED;
    int rc = npb_run(mt, val, vlen, &part, &m, flags);
    if (rc != HO_OK) return rc;
    flags = PB_DECODE_NOINIT;
  }
  if (flags == 0) return HO_ERR_MALFORMED; /* no occurrence: the caller's bug */
  return npb_to_neutral(mt, &m, NULL, out);
}

static int npb_to_neutral(ho_mt mt, const npb_any *mp, const payload_view *pvp, void *out) {
  payload_view pv = pvp != NULL ? *pvp : (payload_view){NULL, 0};
  switch (mt) {
  case HO_MT_ENVELOPE: {
    ho_envelope *o = out;
    const handoff_v1_Frame *f = &mp->frame;
    o->envelope_version = f->envelope_version;
    o->kind = (uint32_t)f->kind;
    o->payload_protocol = f->payload_protocol;
    o->payload = pv.n ? pv.p : NULL;
    o->payload_len = pv.n;
    o->request_id = f->request_id;
    o->payload_encoding = (uint32_t)f->payload_encoding;
    o->deadline_unix_ms = f->deadline_unix_ms;
    STRCPY(o->traceparent, f->traceparent);
    STRCPY(o->tracestate, f->tracestate);
    return HO_OK;
  }
  case HO_MT_HELLO: {
    ho_hello *o = out;
    const handoff_v1_Hello *h = &mp->hello;
    COPY_HELLO(o, h);
    BINCPY(o->auth_token.data, o->auth_token.len, h->auth_token);
    BINCPY(o->peer_attestation_nonce.data, o->peer_attestation_nonce.len,
           h->peer_attestation_nonce);
    BINCPY(o->capability_token.data, o->capability_token.len, h->capability_token);
    return HO_OK;
  }
  case HO_MT_NEGOTIATED: negotiated_in(out, &mp->neg); return HO_OK;
  case HO_MT_REFUSED: refused_in(out, &mp->ref); return HO_OK;
  case HO_MT_OFFER: {
    ho_offer *o = out;
    if (mp->offer.token.size != HO_TOKEN_BYTES) return HO_ERR_MALFORMED;
    o->handle_value = mp->offer.handle_value;
    memcpy(o->token, mp->offer.token.bytes, HO_TOKEN_BYTES);
    STRCPY(o->service_name, mp->offer.service_name);
    o->correlation_id = mp->offer.correlation_id;
    o->offer_flags = mp->offer.offer_flags;
    BINCPY(o->reply_adopted, o->reply_adopted_len, mp->offer.reply_adopted);
    BINCPY(o->reply_declined, o->reply_declined_len, mp->offer.reply_declined);
    return HO_OK;
  }
  case HO_MT_ACK: {
    ho_ack *o = out;
    if (mp->ack.token.size != HO_TOKEN_BYTES) return HO_ERR_MALFORMED;
    memcpy(o->token, mp->ack.token.bytes, HO_TOKEN_BYTES);
    o->accepted = mp->ack.accepted;
    STRCPY(o->error_detail, mp->ack.error_detail);
    o->correlation_id = mp->ack.correlation_id;
    o->backend_capabilities = mp->ack.backend_capabilities;
    return HO_OK;
  }
  default: return HO_ERR_INVALID_ARGUMENT;
  }
}

/* ---- neutral -> generated ---------------------------------------------- */

static void negotiated_out(handoff_v1_Negotiated *dst, const ho_negotiated *src) {
  COPY_NEGOTIATED(pb_size_t);
  BINSET(dst->handle_passed_token, src->handle_passed_token, src->handle_passed_token_len);
}

static void refused_out(handoff_v1_Refused *dst, const ho_refused *src) {
  COPY_REFUSED(pb_size_t, handoff_v1_ErrorCode);
}

/* Fill `m` from the neutral struct; `pv` backs an envelope's payload. */
static size_t size_of(ho_mt mt) {
  switch (mt) {
  case HO_MT_ENVELOPE: return sizeof(handoff_v1_Frame);
  case HO_MT_HELLO: return sizeof(handoff_v1_Hello);
  case HO_MT_HELLO_REPLY: return sizeof(handoff_v1_HelloReply);
  case HO_MT_NEGOTIATED: return sizeof(handoff_v1_Negotiated);
  case HO_MT_REFUSED: return sizeof(handoff_v1_Refused);
  case HO_MT_OFFER: return sizeof(handoff_v1_HandoffOffer);
  case HO_MT_ACK: return sizeof(handoff_v1_HandoffAck);
  }
  return sizeof(npb_any);
}

static void fill_frame(handoff_v1_Frame *f, const ho_envelope *e, payload_view *pv) {
  memset(f, 0, sizeof *f);
  f->envelope_version = e->envelope_version;
  f->kind = (handoff_v1_FrameKind)e->kind;
  f->payload_protocol = e->payload_protocol;
  pv->p = e->payload;
  pv->n = e->payload_len;
  f->payload.funcs.encode = payload_bytes_cb;
  f->payload.arg = pv;
  f->request_id = e->request_id;
  f->payload_encoding = (handoff_v1_PayloadEncoding)e->payload_encoding;
  f->deadline_unix_ms = e->deadline_unix_ms;
  STRCPY(f->traceparent, e->traceparent);
  STRCPY(f->tracestate, e->tracestate);
}

static int fill(npb_any *m, ho_mt mt, const void *msg, payload_view *pv) {
  memset(m, 0, size_of(mt)); /* only the member in use */
  switch (mt) {
  case HO_MT_ENVELOPE: fill_frame(&m->frame, msg, pv); return HO_OK;
  case HO_MT_HELLO: {
    const ho_hello *h = msg;
    handoff_v1_Hello *o = &m->hello;
    COPY_HELLO(o, h);
    BINSET(o->auth_token, h->auth_token.data, h->auth_token.len);
    BINSET(o->peer_attestation_nonce, h->peer_attestation_nonce.data,
           h->peer_attestation_nonce.len);
    BINSET(o->capability_token, h->capability_token.data, h->capability_token.len);
    return HO_OK;
  }
  case HO_MT_HELLO_REPLY: {
    const ho_hello_reply *r = msg;
    if (r->which == HO_REPLY_NEGOTIATED) {
      m->reply.which_result = handoff_v1_HelloReply_negotiated_tag;
      negotiated_out(&m->reply.result.negotiated, &r->negotiated);
    } else if (r->which == HO_REPLY_REFUSED) {
      m->reply.which_result = handoff_v1_HelloReply_refused_tag;
      refused_out(&m->reply.result.refused, &r->refused);
    }
    return HO_OK;
  }
  case HO_MT_NEGOTIATED: negotiated_out(&m->neg, msg); return HO_OK;
  case HO_MT_REFUSED: refused_out(&m->ref, msg); return HO_OK;
  case HO_MT_OFFER: {
    const ho_offer *o = msg;
    m->offer.handle_value = o->handle_value;
    BINSET(m->offer.token, o->token, HO_TOKEN_BYTES);
    STRCPY(m->offer.service_name, o->service_name);
    m->offer.correlation_id = o->correlation_id;
    m->offer.offer_flags = o->offer_flags;
    BINSET(m->offer.reply_adopted, o->reply_adopted, o->reply_adopted_len);
    BINSET(m->offer.reply_declined, o->reply_declined, o->reply_declined_len);
    return HO_OK;
  }
  case HO_MT_ACK: {
    const ho_ack *a = msg;
    BINSET(m->ack.token, a->token, HO_TOKEN_BYTES);
    m->ack.accepted = a->accepted;
    STRCPY(m->ack.error_detail, a->error_detail);
    m->ack.correlation_id = a->correlation_id;
    m->ack.backend_capabilities = a->backend_capabilities;
    return HO_OK;
  }
  }
  return HO_ERR_INVALID_ARGUMENT;
}

static int encode_struct(const pb_msgdesc_t *d, const void *m, uint8_t *out, size_t cap,
                         size_t *len) {
  size_t n = 0;
  if (!pb_get_encoded_size(&n, d, m)) return HO_ERR_INVALID_ARGUMENT;
  if (n > cap) return HO_ERR_BUFFER_TOO_SMALL;
  pb_ostream_t s = pb_ostream_from_buffer(out, n);
  if (!pb_encode(&s, d, m) || s.bytes_written != n) return HO_ERR_INVALID_ARGUMENT;
  *len = n;
  return HO_OK;
}

int ho_npb_encode(ho_mt mt, const void *msg, uint8_t *out, size_t cap, size_t *len) {
  const pb_msgdesc_t *d = desc_of(mt);
  if (d == NULL) return HO_ERR_INVALID_ARGUMENT;
  npb_any m;
  payload_view pv;
  int rc = fill(&m, mt, msg, &pv);
  if (rc != HO_OK) return rc;
  return encode_struct(d, &m, out, cap, len);
}

int ho_npb_frame_encode(const ho_envelope *env, ho_mt mt, const void *msg, uint8_t *out,
                        size_t cap, size_t *len) {
  const pb_msgdesc_t *d = desc_of(mt);
  if (d == NULL || mt == HO_MT_ENVELOPE) return HO_ERR_INVALID_ARGUMENT;
  npb_any pm;
  payload_view unused;
  int rc = fill(&pm, mt, msg, &unused);
  if (rc != HO_OK) return rc;
  /* The envelope alone, not the union: a no-heap peer's stack is small. */
  handoff_v1_Frame fm;
  payload_view pv;
  ho_envelope e = *env;
  e.payload = NULL;
  e.payload_len = 0;
  fill_frame(&fm, &e, &pv);
  handoff_v1_Frame *f = &fm;
  payload_msg pmsg = {d, &pm, 0};
  if (!pb_get_encoded_size(&pmsg.size, d, &pm)) return HO_ERR_INVALID_ARGUMENT;
  f->payload.funcs.encode = payload_msg_cb;
  f->payload.arg = &pmsg;
  /* One pass straight into the caller's buffer; only when it fails does a
   * sizing pass tell "too small" from anything else. */
  size_t n = 0;
  int fits = cap >= HO_FRAME_HEADER_BYTES;
  if (fits) {
    pb_ostream_t s = pb_ostream_from_buffer(out + HO_FRAME_HEADER_BYTES, cap - HO_FRAME_HEADER_BYTES);
    fits = pb_encode(&s, &handoff_v1_Frame_msg, f);
    n = s.bytes_written;
  }
  if (!fits) {
    if (!pb_get_encoded_size(&n, &handoff_v1_Frame_msg, f)) return HO_ERR_INVALID_ARGUMENT;
    if (n > HO_MAX_FRAME_BYTES) return HO_ERR_FRAME_TOO_LARGE;
    return HO_ERR_BUFFER_TOO_SMALL;
  }
  if (n > HO_MAX_FRAME_BYTES) return HO_ERR_FRAME_TOO_LARGE;
  out[0] = HO_FRAMING_VERSION;
  out[1] = (uint8_t)n;
  out[2] = (uint8_t)(n >> 8);
  out[3] = (uint8_t)(n >> 16);
  out[4] = (uint8_t)(n >> 24);
  *len = HO_FRAME_HEADER_BYTES + n;
  return HO_OK;
}
