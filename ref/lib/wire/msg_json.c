/* handoff — canonical JSON rendering (see msg_json.h). */
#include "handoff/msg_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wire/codec.h"

typedef struct jw {
  char *out;
  size_t cap;
  size_t n;   /* bytes produced (may exceed cap) */
  int comma;  /* a value was written at this level */
} jw;

static void put(jw *w, const char *s, size_t k) {
  for (size_t i = 0; i < k; i++) {
    if (w->n + 1 < w->cap) w->out[w->n] = s[i];
    w->n++;
  }
}
static void puts_(jw *w, const char *s) { put(w, s, strlen(s)); }

static void key(jw *w, const char *k) {
  if (w->comma) put(w, ",", 1);
  put(w, "\"", 1);
  puts_(w, k);
  put(w, "\":", 2);
  w->comma = 0;
}
static void open_(jw *w) { put(w, "{", 1); w->comma = 0; }
static void close_(jw *w) { put(w, "}", 1); w->comma = 1; }

static void str_n(jw *w, const char *s, size_t n) {
  put(w, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    switch (c) {
    case '"': put(w, "\\\"", 2); break;
    case '\\': put(w, "\\\\", 2); break;
    case '\b': put(w, "\\b", 2); break;
    case '\f': put(w, "\\f", 2); break;
    case '\n': put(w, "\\n", 2); break;
    case '\r': put(w, "\\r", 2); break;
    case '\t': put(w, "\\t", 2); break;
    default:
      if (c < 0x20) {
        snprintf(esc, sizeof esc, "\\u%04x", c);
        put(w, esc, 6);
      } else {
        put(w, (const char *)&s[i], 1);
      }
    }
  }
  put(w, "\"", 1);
  w->comma = 1;
}
#define STR(w, k, arr) (key(w, k), str_n(w, (arr), ho_strnlen((arr), sizeof(arr))))

static void u32(jw *w, const char *k, uint32_t v) {
  char b[16];
  key(w, k);
  int m = snprintf(b, sizeof b, "%" PRIu32, v);
  put(w, b, (size_t)m);
  w->comma = 1;
}
static void u64(jw *w, const char *k, uint64_t v) {
  char b[32];
  key(w, k);
  int m = snprintf(b, sizeof b, "\"%" PRIu64 "\"", v);
  put(w, b, (size_t)m);
  w->comma = 1;
}
static void boolean(jw *w, const char *k, int v) {
  key(w, k);
  puts_(w, v ? "true" : "false");
  w->comma = 1;
}
static void hex(jw *w, const char *k, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  key(w, k);
  put(w, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
    put(w, two, 2);
  }
  put(w, "\"", 1);
  w->comma = 1;
}

static void envelope(jw *w, const ho_envelope *e) {
  open_(w);
  u64(w, "deadline_unix_ms", e->deadline_unix_ms);
  u32(w, "envelope_version", e->envelope_version);
  u32(w, "kind", e->kind);
  hex(w, "payload", e->payload, e->payload ? e->payload_len : 0);
  u32(w, "payload_encoding", e->payload_encoding);
  u32(w, "payload_protocol", e->payload_protocol);
  u64(w, "request_id", e->request_id);
  STR(w, "traceparent", e->traceparent);
  STR(w, "tracestate", e->tracestate);
  close_(w);
}

static size_t blob_len(const ho_blob *b) { return b->len < sizeof b->data ? b->len : sizeof b->data; }

static void hello(jw *w, const ho_hello *m) {
  open_(w);
  hex(w, "auth_token", m->auth_token.data, blob_len(&m->auth_token));
  hex(w, "capability_token", m->capability_token.data, blob_len(&m->capability_token));
  u64(w, "client_capabilities", m->client_capabilities);
  u64(w, "client_keepalive_secs", m->client_keepalive_secs);
  STR(w, "client_lib_name", m->client_lib_name);
  STR(w, "client_lib_version", m->client_lib_version);
  u32(w, "client_max_protocol", m->client_max_protocol);
  u32(w, "client_min_protocol", m->client_min_protocol);
  STR(w, "client_version", m->client_version);
  u64(w, "connection_id", m->connection_id);
  hex(w, "peer_attestation_nonce", m->peer_attestation_nonce.data,
      blob_len(&m->peer_attestation_nonce));
  u32(w, "peer_pid", m->peer_pid);
  STR(w, "request_id", m->request_id);
  STR(w, "service_name", m->service_name);
  STR(w, "wanted_version", m->wanted_version);
  close_(w);
}

static void negotiated(jw *w, const ho_negotiated *m) {
  open_(w);
  STR(w, "backend_pipe", m->backend_pipe);
  u64(w, "connection_id", m->connection_id);
  STR(w, "daemon_version", m->daemon_version);
  size_t tl = m->handle_passed_token_len <= HO_TOKEN_BYTES ? m->handle_passed_token_len : 0;
  hex(w, "handle_passed_token", m->handle_passed_token, tl);
  u64(w, "keepalive_interval_secs", m->keepalive_interval_secs);
  u32(w, "negotiated_protocol", m->negotiated_protocol);
  u64(w, "server_capabilities", m->server_capabilities);
  key(w, "warnings");
  put(w, "[", 1);
  size_t n = m->warnings_count <= HO_MAX_WARNINGS ? m->warnings_count : HO_MAX_WARNINGS;
  for (size_t i = 0; i < n; i++) {
    if (i) put(w, ",", 1);
    str_n(w, m->warnings[i], ho_strnlen(m->warnings[i], sizeof m->warnings[i]));
  }
  put(w, "]", 1);
  w->comma = 1;
  close_(w);
}

static void refused(jw *w, const ho_refused *m) {
  open_(w);
  u32(w, "code", m->code);
  u32(w, "daemon_max_protocol", m->daemon_max_protocol);
  u32(w, "daemon_min_protocol", m->daemon_min_protocol);
  key(w, "details");
  open_(w); /* decoded details are unique and sorted by key */
  size_t n = m->details_count <= HO_MAX_DETAILS ? m->details_count : HO_MAX_DETAILS;
  for (size_t i = 0; i < n; i++) {
    if (w->comma) put(w, ",", 1);
    str_n(w, m->details[i].key, ho_strnlen(m->details[i].key, sizeof m->details[i].key));
    put(w, ":", 1);
    str_n(w, m->details[i].value, ho_strnlen(m->details[i].value, sizeof m->details[i].value));
  }
  close_(w);
  STR(w, "reason", m->reason);
  u64(w, "retry_after_ms", m->retry_after_ms);
  close_(w);
}

static void hello_reply(jw *w, const ho_hello_reply *m) {
  open_(w);
  if (m->which == HO_REPLY_NEGOTIATED) {
    key(w, "negotiated");
    negotiated(w, &m->negotiated);
  } else if (m->which == HO_REPLY_REFUSED) {
    key(w, "refused");
    refused(w, &m->refused);
  }
  close_(w);
}

static void offer(jw *w, const ho_offer *m) {
  open_(w);
  u64(w, "correlation_id", m->correlation_id);
  u64(w, "handle_value", m->handle_value);
  u64(w, "offer_flags", m->offer_flags);
  hex(w, "reply_adopted", m->reply_adopted, m->reply_adopted_len);
  hex(w, "reply_declined", m->reply_declined, m->reply_declined_len);
  STR(w, "service_name", m->service_name);
  hex(w, "token", m->token, HO_TOKEN_BYTES);
  close_(w);
}

static void ack(jw *w, const ho_ack *m) {
  open_(w);
  boolean(w, "accepted", m->accepted);
  u64(w, "backend_capabilities", m->backend_capabilities);
  u64(w, "correlation_id", m->correlation_id);
  STR(w, "error_detail", m->error_detail);
  hex(w, "token", m->token, HO_TOKEN_BYTES);
  close_(w);
}

static int finish(jw *w, size_t *len) {
  if (w->cap > 0) w->out[w->n < w->cap ? w->n : w->cap - 1] = '\0';
  if (w->n + 1 > w->cap) return HO_ERR_BUFFER_TOO_SMALL;
  *len = w->n;
  return HO_OK;
}

#define RENDER(fn, m)                                                                              \
  do {                                                                                             \
    if ((m) == NULL || len == NULL || (out == NULL && cap > 0)) return HO_ERR_INVALID_ARGUMENT;    \
    jw w = {out, cap, 0, 0};                                                                       \
    fn(&w, (m));                                                                                   \
    return finish(&w, len);                                                                        \
  } while (0)

int ho_envelope_to_json(const ho_envelope *e, char *out, size_t cap, size_t *len) {
  RENDER(envelope, e);
}
int ho_hello_to_json(const ho_hello *m, char *out, size_t cap, size_t *len) { RENDER(hello, m); }
int ho_hello_reply_to_json(const ho_hello_reply *m, char *out, size_t cap, size_t *len) {
  RENDER(hello_reply, m);
}
int ho_offer_to_json(const ho_offer *m, char *out, size_t cap, size_t *len) { RENDER(offer, m); }
int ho_ack_to_json(const ho_ack *m, char *out, size_t cap, size_t *len) { RENDER(ack, m); }

const char *ho_frame_type_name(ho_frame_type type) {
  switch (type) {
  case HO_FT_HELLO: return "hello";
  case HO_FT_HELLO_REPLY: return "hello_reply";
  case HO_FT_OFFER: return "offer";
  case HO_FT_ACK: return "ack";
  case HO_FT_READY: return "ready";
  }
  return NULL;
}

int ho_frame_to_json(ho_frame_type type, const ho_envelope *env, const ho_any_msg *msg,
                     char *out, size_t cap, size_t *len) {
  if (env == NULL || msg == NULL || len == NULL || (out == NULL && cap > 0) ||
      ho_frame_type_name(type) == NULL)
    return HO_ERR_INVALID_ARGUMENT;
  jw w = {out, cap, 0, 0};
  open_(&w);
  key(&w, "envelope");
  envelope(&w, env);
  key(&w, "message");
  switch (type) {
  case HO_FT_HELLO: hello(&w, &msg->hello); break;
  case HO_FT_HELLO_REPLY: hello_reply(&w, &msg->hello_reply); break;
  case HO_FT_OFFER: offer(&w, &msg->offer); break;
  case HO_FT_ACK:
  case HO_FT_READY: ack(&w, &msg->ack); break;
  }
  close_(&w);
  return finish(&w, len);
}
