/* handoff — protobuf-c back end of msg.h (heap codec of the reference
 * programs). Every allocation protobuf-c makes while unpacking is freed
 * before returning; nothing is kept. spec: MSG-1 MSG-12 */
#include <stdlib.h>
#include <string.h>

#include "handoff/v1/handoff_v1_envelope.pb-c.h"
#include "handoff/v1/handoff_v1_handoff.pb-c.h"
#include "wire/codec.h"

/* ---- generated -> neutral ---------------------------------------------- */

static int str_in(char *dst, size_t size, const char *src) {
  size_t n = src != NULL ? strlen(src) : 0;
  if (n >= size) return HO_ERR_MALFORMED; /* cannot happen after ho_scan */
  memcpy(dst, src != NULL ? src : "", n);
  dst[n] = '\0';
  return HO_OK;
}

static int bin_in(uint8_t *dst, size_t size, size_t *dlen, const ProtobufCBinaryData *b) {
  if (b->len > size) return HO_ERR_MALFORMED;
  if (b->len > 0) memcpy(dst, b->data, b->len);
  *dlen = b->len;
  return HO_OK;
}

#define TRY(x)                                                                                     \
  do {                                                                                             \
    int rc_ = (x);                                                                                 \
    if (rc_ != HO_OK) return rc_;                                                                  \
  } while (0)

static int hello_in(ho_hello *o, const Handoff__V1__Hello *m) {
  o->client_min_protocol = m->client_min_protocol;
  o->client_max_protocol = m->client_max_protocol;
  TRY(str_in(o->service_name, sizeof o->service_name, m->service_name));
  TRY(str_in(o->wanted_version, sizeof o->wanted_version, m->wanted_version));
  TRY(str_in(o->client_version, sizeof o->client_version, m->client_version));
  o->client_capabilities = m->client_capabilities;
  TRY(bin_in(o->auth_token.data, sizeof o->auth_token.data, &o->auth_token.len, &m->auth_token));
  TRY(str_in(o->request_id, sizeof o->request_id, m->request_id));
  o->connection_id = m->connection_id;
  o->peer_pid = m->peer_pid;
  TRY(str_in(o->client_lib_name, sizeof o->client_lib_name, m->client_lib_name));
  TRY(str_in(o->client_lib_version, sizeof o->client_lib_version, m->client_lib_version));
  TRY(bin_in(o->peer_attestation_nonce.data, sizeof o->peer_attestation_nonce.data,
             &o->peer_attestation_nonce.len, &m->peer_attestation_nonce));
  TRY(bin_in(o->capability_token.data, sizeof o->capability_token.data,
             &o->capability_token.len, &m->capability_token));
  o->client_keepalive_secs = m->client_keepalive_secs;
  return HO_OK;
}

static int negotiated_in(ho_negotiated *o, const Handoff__V1__Negotiated *m) {
  o->negotiated_protocol = m->negotiated_protocol;
  TRY(str_in(o->daemon_version, sizeof o->daemon_version, m->daemon_version));
  TRY(str_in(o->backend_pipe, sizeof o->backend_pipe, m->backend_pipe));
  if (m->n_warnings > HO_MAX_WARNINGS) return HO_ERR_MALFORMED;
  o->warnings_count = m->n_warnings;
  for (size_t i = 0; i < m->n_warnings; i++)
    TRY(str_in(o->warnings[i], sizeof o->warnings[i], m->warnings[i]));
  o->server_capabilities = m->server_capabilities;
  o->keepalive_interval_secs = m->keepalive_interval_secs;
  TRY(bin_in(o->handle_passed_token, sizeof o->handle_passed_token, &o->handle_passed_token_len,
             &m->handle_passed_token));
  o->connection_id = m->connection_id;
  return HO_OK;
}

static int refused_in(ho_refused *o, const Handoff__V1__Refused *m) {
  TRY(str_in(o->reason, sizeof o->reason, m->reason));
  o->daemon_min_protocol = m->daemon_min_protocol;
  o->daemon_max_protocol = m->daemon_max_protocol;
  o->code = (uint32_t)m->code;
  if (m->n_details > HO_MAX_DETAILS) return HO_ERR_MALFORMED;
  o->details_count = m->n_details;
  for (size_t i = 0; i < m->n_details; i++) {
    TRY(str_in(o->details[i].key, sizeof o->details[i].key, m->details[i]->key));
    TRY(str_in(o->details[i].value, sizeof o->details[i].value, m->details[i]->value));
  }
  o->retry_after_ms = m->retry_after_ms;
  ho_refused_normalize(o);
  return HO_OK;
}

static int envelope_in(ho_envelope *o, const Handoff__V1__Frame *m, const ho_scan_result *sr) {
  o->envelope_version = m->envelope_version;
  o->kind = (uint32_t)m->kind;
  o->payload_protocol = m->payload_protocol;
  /* View into the input, from the scan; protobuf-c must agree on it. */
  size_t n = sr->count[4] ? sr->last_len[4] : 0;
  if (n != m->payload.len) return HO_ERR_MALFORMED;
  o->payload = n ? sr->last[4] : NULL;
  o->payload_len = n;
  o->request_id = m->request_id;
  o->payload_encoding = (uint32_t)m->payload_encoding;
  o->deadline_unix_ms = m->deadline_unix_ms;
  TRY(str_in(o->traceparent, sizeof o->traceparent, m->traceparent));
  TRY(str_in(o->tracestate, sizeof o->tracestate, m->tracestate));
  return HO_OK;
}

static int offer_in(ho_offer *o, const Handoff__V1__HandoffOffer *m) {
  if (m->token.len != HO_TOKEN_BYTES) return HO_ERR_MALFORMED;
  o->handle_value = m->handle_value;
  memcpy(o->token, m->token.data, HO_TOKEN_BYTES);
  TRY(str_in(o->service_name, sizeof o->service_name, m->service_name));
  o->correlation_id = m->correlation_id;
  o->offer_flags = m->offer_flags;
  /* the scan has bounded both (spec: MSG-6) */
  if (m->reply_adopted.len > HO_MAX_REPLY_FRAME || m->reply_declined.len > HO_MAX_REPLY_FRAME)
    return HO_ERR_MALFORMED;
  o->reply_adopted_len = m->reply_adopted.len;
  if (m->reply_adopted.len) memcpy(o->reply_adopted, m->reply_adopted.data, m->reply_adopted.len);
  o->reply_declined_len = m->reply_declined.len;
  if (m->reply_declined.len)
    memcpy(o->reply_declined, m->reply_declined.data, m->reply_declined.len);
  return HO_OK;
}

static int ack_in(ho_ack *o, const Handoff__V1__HandoffAck *m) {
  if (m->token.len != HO_TOKEN_BYTES) return HO_ERR_MALFORMED;
  memcpy(o->token, m->token.data, HO_TOKEN_BYTES);
  o->accepted = m->accepted != 0;
  TRY(str_in(o->error_detail, sizeof o->error_detail, m->error_detail));
  o->correlation_id = m->correlation_id;
  o->backend_capabilities = m->backend_capabilities;
  return HO_OK;
}

static const ProtobufCMessageDescriptor *descriptor_of(ho_mt mt) {
  switch (mt) {
  case HO_MT_ENVELOPE: return &handoff__v1__frame__descriptor;
  case HO_MT_HELLO: return &handoff__v1__hello__descriptor;
  case HO_MT_HELLO_REPLY: return &handoff__v1__hello_reply__descriptor;
  case HO_MT_NEGOTIATED: return &handoff__v1__negotiated__descriptor;
  case HO_MT_REFUSED: return &handoff__v1__refused__descriptor;
  case HO_MT_OFFER: return &handoff__v1__handoff_offer__descriptor;
  case HO_MT_ACK: return &handoff__v1__handoff_ack__descriptor;
  }
  return NULL;
}

int ho_pbc_decode(ho_mt mt, const uint8_t *buf, size_t len, const ho_scan_result *sr, void *out) {
  const ProtobufCMessageDescriptor *d = descriptor_of(mt);
  if (d == NULL || mt == HO_MT_HELLO_REPLY) return HO_ERR_INVALID_ARGUMENT;
  /* protobuf-c rejects a NULL data pointer even for an empty message. */
  static const uint8_t empty[1];
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, len ? buf : empty);
  if (m == NULL) return HO_ERR_NOMEM; /* scanned input: only allocation fails */
  int rc = HO_ERR_INVALID_ARGUMENT;
  switch (mt) {
  case HO_MT_ENVELOPE: rc = envelope_in(out, (const Handoff__V1__Frame *)m, sr); break;
  case HO_MT_HELLO: rc = hello_in(out, (const Handoff__V1__Hello *)m); break;
  case HO_MT_NEGOTIATED: rc = negotiated_in(out, (const Handoff__V1__Negotiated *)m); break;
  case HO_MT_REFUSED: rc = refused_in(out, (const Handoff__V1__Refused *)m); break;
  case HO_MT_OFFER: rc = offer_in(out, (const Handoff__V1__HandoffOffer *)m); break;
  case HO_MT_ACK: rc = ack_in(out, (const Handoff__V1__HandoffAck *)m); break;
  default: break;
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return rc;
}

int ho_pbc_decode_member(ho_mt mt, const uint8_t *reply, size_t len, size_t off, uint32_t which,
                         void *out) {
  if (mt != HO_MT_NEGOTIATED && mt != HO_MT_REFUSED) return HO_ERR_INVALID_ARGUMENT;
  /* Merging protobuf messages is parsing their concatenation: copy the
   * run's occurrences together and unpack once. */
  size_t total = 0, o = off;
  uint32_t num;
  const uint8_t *val;
  size_t vlen;
  while (ho_wire_next(reply, len, &o, &num, &val, &vlen))
    if (num == which) total += vlen;
  uint8_t *cat = malloc(total ? total : 1);
  if (cat == NULL) return HO_ERR_NOMEM;
  size_t at = 0;
  while (ho_wire_next(reply, len, &off, &num, &val, &vlen)) {
    if (num != which) continue;
    if (vlen) memcpy(cat + at, val, vlen);
    at += vlen;
  }
  int rc = ho_pbc_decode(mt, cat, total, NULL, out);
  free(cat);
  return rc;
}

/* ---- neutral -> generated ---------------------------------------------- */

/* Every generated struct an encode may need, on the caller's stack: the
 * generated structs only point into the neutral struct (no copies). */
typedef struct pbc_build {
  Handoff__V1__Frame frame;
  Handoff__V1__Hello hello;
  Handoff__V1__HelloReply reply;
  Handoff__V1__Negotiated neg;
  Handoff__V1__Refused ref;
  Handoff__V1__HandoffOffer offer;
  Handoff__V1__HandoffAck ack;
  char *warnings[HO_MAX_WARNINGS];
  Handoff__V1__Refused__DetailsEntry det[HO_MAX_DETAILS];
  Handoff__V1__Refused__DetailsEntry *detp[HO_MAX_DETAILS];
} pbc_build;

static ProtobufCBinaryData bin(const uint8_t *p, size_t n) {
  ProtobufCBinaryData b = {n, (uint8_t *)(uintptr_t)p};
  return b;
}
#define S(x) ((char *)(uintptr_t)(x))

static void build_negotiated(pbc_build *b, const ho_negotiated *n) {
  Handoff__V1__Negotiated *m = &b->neg;
  handoff__v1__negotiated__init(m);
  m->negotiated_protocol = n->negotiated_protocol;
  m->daemon_version = S(n->daemon_version);
  m->backend_pipe = S(n->backend_pipe);
  for (size_t i = 0; i < n->warnings_count; i++) b->warnings[i] = S(n->warnings[i]);
  m->n_warnings = n->warnings_count;
  m->warnings = n->warnings_count ? b->warnings : NULL;
  m->server_capabilities = n->server_capabilities;
  m->keepalive_interval_secs = n->keepalive_interval_secs;
  m->handle_passed_token = bin(n->handle_passed_token, n->handle_passed_token_len);
  m->connection_id = n->connection_id;
}

static void build_refused(pbc_build *b, const ho_refused *r) {
  Handoff__V1__Refused *m = &b->ref;
  handoff__v1__refused__init(m);
  m->reason = S(r->reason);
  m->daemon_min_protocol = r->daemon_min_protocol;
  m->daemon_max_protocol = r->daemon_max_protocol;
  m->code = (Handoff__V1__ErrorCode)r->code;
  for (size_t i = 0; i < r->details_count; i++) {
    handoff__v1__refused__details_entry__init(&b->det[i]);
    b->det[i].key = S(r->details[i].key);
    b->det[i].value = S(r->details[i].value);
    b->detp[i] = &b->det[i];
  }
  m->n_details = r->details_count;
  m->details = r->details_count ? b->detp : NULL;
  m->retry_after_ms = r->retry_after_ms;
}

static ProtobufCMessage *build(pbc_build *b, ho_mt mt, const void *msg) {
  switch (mt) {
  case HO_MT_ENVELOPE: {
    const ho_envelope *e = msg;
    Handoff__V1__Frame *m = &b->frame;
    handoff__v1__frame__init(m);
    m->envelope_version = e->envelope_version;
    m->kind = (Handoff__V1__FrameKind)e->kind;
    m->payload_protocol = e->payload_protocol;
    m->payload = bin(e->payload, e->payload_len);
    m->request_id = e->request_id;
    m->payload_encoding = (Handoff__V1__PayloadEncoding)e->payload_encoding;
    m->deadline_unix_ms = e->deadline_unix_ms;
    m->traceparent = S(e->traceparent);
    m->tracestate = S(e->tracestate);
    return &m->base;
  }
  case HO_MT_HELLO: {
    const ho_hello *h = msg;
    Handoff__V1__Hello *m = &b->hello;
    handoff__v1__hello__init(m);
    m->client_min_protocol = h->client_min_protocol;
    m->client_max_protocol = h->client_max_protocol;
    m->service_name = S(h->service_name);
    m->wanted_version = S(h->wanted_version);
    m->client_version = S(h->client_version);
    m->client_capabilities = h->client_capabilities;
    m->auth_token = bin(h->auth_token.data, h->auth_token.len);
    m->request_id = S(h->request_id);
    m->connection_id = h->connection_id;
    m->peer_pid = h->peer_pid;
    m->client_lib_name = S(h->client_lib_name);
    m->client_lib_version = S(h->client_lib_version);
    m->peer_attestation_nonce = bin(h->peer_attestation_nonce.data, h->peer_attestation_nonce.len);
    m->capability_token = bin(h->capability_token.data, h->capability_token.len);
    m->client_keepalive_secs = h->client_keepalive_secs;
    return &m->base;
  }
  case HO_MT_HELLO_REPLY: {
    const ho_hello_reply *r = msg;
    Handoff__V1__HelloReply *m = &b->reply;
    handoff__v1__hello_reply__init(m);
    if (r->which == HO_REPLY_NEGOTIATED) {
      build_negotiated(b, &r->negotiated);
      m->result_case = HANDOFF__V1__HELLO_REPLY__RESULT_NEGOTIATED;
      m->negotiated = &b->neg;
    } else if (r->which == HO_REPLY_REFUSED) {
      build_refused(b, &r->refused);
      m->result_case = HANDOFF__V1__HELLO_REPLY__RESULT_REFUSED;
      m->refused = &b->ref;
    }
    return &m->base;
  }
  case HO_MT_NEGOTIATED: build_negotiated(b, msg); return &b->neg.base;
  case HO_MT_REFUSED: build_refused(b, msg); return &b->ref.base;
  case HO_MT_OFFER: {
    const ho_offer *o = msg;
    Handoff__V1__HandoffOffer *m = &b->offer;
    handoff__v1__handoff_offer__init(m);
    m->handle_value = o->handle_value;
    m->token = bin(o->token, HO_TOKEN_BYTES);
    m->service_name = S(o->service_name);
    m->correlation_id = o->correlation_id;
    m->offer_flags = o->offer_flags;
    m->reply_adopted = bin(o->reply_adopted, o->reply_adopted_len);
    m->reply_declined = bin(o->reply_declined, o->reply_declined_len);
    return &m->base;
  }
  case HO_MT_ACK: {
    const ho_ack *a = msg;
    Handoff__V1__HandoffAck *m = &b->ack;
    handoff__v1__handoff_ack__init(m);
    m->token = bin(a->token, HO_TOKEN_BYTES);
    m->accepted = a->accepted;
    m->error_detail = S(a->error_detail);
    m->correlation_id = a->correlation_id;
    m->backend_capabilities = a->backend_capabilities;
    return &m->base;
  }
  }
  return NULL;
}

int ho_pbc_encode(ho_mt mt, const void *msg, uint8_t *out, size_t cap, size_t *len) {
  pbc_build b;
  ProtobufCMessage *m = build(&b, mt, msg);
  if (m == NULL) return HO_ERR_INVALID_ARGUMENT;
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n > cap) return HO_ERR_BUFFER_TOO_SMALL;
  if (n > 0 && protobuf_c_message_pack(m, out) != n) return HO_ERR_INVALID_ARGUMENT;
  *len = n;
  return HO_OK;
}

int ho_pbc_frame_encode(const ho_envelope *env, ho_mt mt, const void *msg, uint8_t *out,
                        size_t cap, size_t *len) {
  pbc_build pb;
  ProtobufCMessage *pm = build(&pb, mt, msg);
  if (pm == NULL || mt == HO_MT_ENVELOPE) return HO_ERR_INVALID_ARGUMENT;
  size_t plen = protobuf_c_message_get_packed_size(pm);
  uint8_t *payload = malloc(plen ? plen : 1);
  if (payload == NULL) return HO_ERR_NOMEM;
  protobuf_c_message_pack(pm, payload);
  ho_envelope e = *env;
  e.payload = payload;
  e.payload_len = plen;
  pbc_build eb;
  ProtobufCMessage *em = build(&eb, HO_MT_ENVELOPE, &e);
  size_t elen = protobuf_c_message_get_packed_size(em);
  int rc = HO_OK;
  if (elen > HO_MAX_FRAME_BYTES) {
    rc = HO_ERR_FRAME_TOO_LARGE;
  } else if (cap < HO_FRAME_HEADER_BYTES || elen > cap - HO_FRAME_HEADER_BYTES) {
    rc = HO_ERR_BUFFER_TOO_SMALL;
  } else {
    protobuf_c_message_pack(em, out + HO_FRAME_HEADER_BYTES);
    out[0] = HO_FRAMING_VERSION;
    out[1] = (uint8_t)elen;
    out[2] = (uint8_t)(elen >> 8);
    out[3] = (uint8_t)(elen >> 16);
    out[4] = (uint8_t)(elen >> 24);
    *len = HO_FRAME_HEADER_BYTES + elen;
  }
  free(payload);
  return rc;
}
