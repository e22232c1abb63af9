/* handoff — checks shared by both codecs: what an encoder accepts, and the
 * one canonical form of the Refused.details map. spec: MSG-13 MSG-2 */
#include <string.h>

#include "wire/codec.h"

size_t ho_strnlen(const char *s, size_t size) {
  const char *z = memchr(s, '\0', size);
  return z != NULL ? (size_t)(z - s) : size;
}

void ho_refused_normalize(ho_refused *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->details_count; i++) {
    size_t j = 0;
    while (j < n && strcmp(r->details[j].key, r->details[i].key) != 0) j++;
    if (j == n) {
      if (j != i) r->details[j] = r->details[i];
      n++;
    } else {
      memcpy(r->details[j].value, r->details[i].value, sizeof r->details[j].value);
    }
  }
  r->details_count = n;
  /* Insertion sort by key bytes (at most HO_MAX_DETAILS entries). */
  for (size_t i = 1; i < n; i++) {
    ho_detail t = r->details[i];
    size_t j = i;
    while (j > 0 && strcmp(r->details[j - 1].key, t.key) > 0) {
      r->details[j] = r->details[j - 1];
      j--;
    }
    r->details[j] = t;
  }
}

#define CHECK_STR(arr)                                                                             \
  do {                                                                                             \
    size_t n_ = ho_strnlen((arr), sizeof(arr));                                                    \
    if (n_ == sizeof(arr)) return HO_ERR_STRING_TOO_LONG;                                          \
    if (!ho_utf8_ok((const uint8_t *)(arr), n_)) return HO_ERR_STRING_INVALID;                     \
  } while (0)
#define CHECK_BLOB(b)                                                                              \
  do {                                                                                             \
    if ((b).len > sizeof((b).data)) return HO_ERR_STRING_TOO_LONG;                                 \
  } while (0)
#define CHECK_ENUM(v)                                                                              \
  do {                                                                                             \
    if ((v) > INT32_MAX) return HO_ERR_INVALID_ARGUMENT;                                           \
  } while (0)

static int check_negotiated(const ho_negotiated *n) {
  CHECK_STR(n->daemon_version);
  CHECK_STR(n->backend_pipe);
  if (n->warnings_count > HO_MAX_WARNINGS) return HO_ERR_TOO_MANY_ITEMS;
  for (size_t i = 0; i < n->warnings_count; i++) CHECK_STR(n->warnings[i]);
  if (n->handle_passed_token_len != 0 && n->handle_passed_token_len != HO_TOKEN_BYTES)
    return HO_ERR_TOKEN_LENGTH;
  return HO_OK;
}

static int check_refused(const ho_refused *r) {
  CHECK_STR(r->reason);
  CHECK_ENUM(r->code);
  if (r->details_count > HO_MAX_DETAILS) return HO_ERR_TOO_MANY_ITEMS;
  for (size_t i = 0; i < r->details_count; i++) {
    CHECK_STR(r->details[i].key);
    CHECK_STR(r->details[i].value);
    /* A map has one value per key: a duplicate could not round-trip. */
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->details[j].key, r->details[i].key) == 0) return HO_ERR_INVALID_ARGUMENT;
  }
  return HO_OK;
}

int ho_msg_check(ho_mt mt, const void *msg) {
  if (msg == NULL) return HO_ERR_INVALID_ARGUMENT;
  switch (mt) {
  case HO_MT_ENVELOPE: {
    const ho_envelope *e = msg;
    CHECK_ENUM(e->kind);
    if (e->payload == NULL && e->payload_len > 0) return HO_ERR_INVALID_ARGUMENT;
    CHECK_ENUM(e->payload_encoding);
    CHECK_STR(e->traceparent);
    CHECK_STR(e->tracestate);
    return HO_OK;
  }
  case HO_MT_HELLO: {
    const ho_hello *h = msg;
    CHECK_STR(h->service_name);
    CHECK_STR(h->wanted_version);
    CHECK_STR(h->client_version);
    CHECK_BLOB(h->auth_token);
    CHECK_STR(h->request_id);
    CHECK_STR(h->client_lib_name);
    CHECK_STR(h->client_lib_version);
    CHECK_BLOB(h->peer_attestation_nonce);
    CHECK_BLOB(h->capability_token);
    return HO_OK;
  }
  case HO_MT_HELLO_REPLY: {
    const ho_hello_reply *r = msg;
    if (r->which == HO_REPLY_NEGOTIATED) return check_negotiated(&r->negotiated);
    if (r->which == HO_REPLY_REFUSED) return check_refused(&r->refused);
    return r->which == HO_REPLY_NONE ? HO_OK : HO_ERR_INVALID_ARGUMENT;
  }
  case HO_MT_NEGOTIATED: return check_negotiated(msg);
  case HO_MT_REFUSED: return check_refused(msg);
  case HO_MT_OFFER: {
    const ho_offer *o = msg;
    CHECK_STR(o->service_name);
    if (o->reply_adopted_len > HO_MAX_REPLY_FRAME || o->reply_declined_len > HO_MAX_REPLY_FRAME)
      return HO_ERR_INVALID_ARGUMENT;
    return HO_OK;
  }
  case HO_MT_ACK: {
    const ho_ack *a = msg;
    CHECK_STR(a->error_detail);
    return HO_OK;
  }
  }
  return HO_ERR_INVALID_ARGUMENT;
}
