/* Target functions: ho_frame_to_json ho_envelope_to_json ho_hello_to_json
 * ho_hello_reply_to_json ho_offer_to_json ho_ack_to_json ho_frame_type_name
 * (ref/lib/wire/msg_json.c), with ho_frame_decode for the decoded structs.
 *
 * The input is a complete wire frame, decoded as each of the five frame
 * types. For every successful decode the rendering of ho_frame_to_json()
 * must be the vectors' decoded form (conformance/vectors/README.md, defined
 * by render_* in conformance/tools/vectorlib.py):
 *  1. it re-parses with an independent strict JSON reader (json_mini.h) and
 *     is already canonical: writing the parsed tree canonically (keys
 *     sorted, no whitespace, Python's json.dumps escaping) gives the same
 *     bytes;
 *  2. it equals an independent rendering of the decoded struct built here
 *     field by field after vectorlib.py (every field present, uint32/enum as
 *     numbers, uint64 as decimal strings, bytes as lowercase hex, warnings
 *     as an array, details as an object, the HelloReply member or {});
 *  3. it is {"envelope":E,"message":M} with E and M the renderings of
 *     ho_envelope_to_json() and the message's own *_to_json();
 *  4. protobuf-c and nanopb decodes render to the same bytes;
 *  5. with a buffer too small by one byte, or of a size picked from the
 *     input, it returns BUFFER_TOO_SMALL with a NUL-terminated prefix of the
 *     full rendering and *len untouched; with exactly enough it succeeds.
 * And for any struct (the input bytes copied over a whole ho_any_msg and an
 * envelope, counts and lengths out of range, strings without NUL) every
 * renderer stays within its structs and its buffer (ASan), and terminates
 * its output.
 *
 * libFuzzer build: make fuzz-run-fuzz_msg_json (structure-aware mutator of
 * proto_mutator.h); replay: -DHO_FUZZ_REPLAY_MAIN (make test).
 */
#define HO_FUZZ_NAME "fuzz_msg_json"
#include "fuzz_msg_common.h"
#include "json_mini.h"

#include "handoff/msg_json.h"

#define OUT_CAP (3u * 65536u + 32768u)
static char out[OUT_CAP], canon[OUT_CAP], part[OUT_CAP], other[OUT_CAP], small[OUT_CAP];
static ho_any_msg msg[2];
static ho_envelope env[2];

/* ---- the model: vectorlib.py's render_* over the struct ----------------- */

#define STRF(o, k, arr) jm_member(o, k, jm_str_n((arr), strnlen((arr), sizeof(arr))))

static int32_t u64s(uint64_t v) {
  char b[24];
  int n = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
  return jm_str_n(b, (size_t)n);
}

static int32_t hexs(const uint8_t *p, size_t n) {
  static char b[2 * (HO_MAX_HELLO_BYTES + 1024) + 2];
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) b[2 * i] = d[p[i] >> 4], b[2 * i + 1] = d[p[i] & 15];
  return jm_str_n(b, 2 * n);
}

static int32_t m_envelope(const ho_envelope *e) {
  int32_t o = jm_new(JM_OBJ);
  jm_member(o, "envelope_version", jm_num(e->envelope_version));
  jm_member(o, "kind", jm_num(e->kind));
  jm_member(o, "payload_protocol", jm_num(e->payload_protocol));
  jm_member(o, "payload", hexs(e->payload, e->payload_len));
  jm_member(o, "request_id", u64s(e->request_id));
  jm_member(o, "payload_encoding", jm_num(e->payload_encoding));
  jm_member(o, "deadline_unix_ms", u64s(e->deadline_unix_ms));
  STRF(o, "traceparent", e->traceparent);
  STRF(o, "tracestate", e->tracestate);
  return o;
}

static int32_t m_hello(const ho_hello *h) {
  int32_t o = jm_new(JM_OBJ);
  jm_member(o, "client_min_protocol", jm_num(h->client_min_protocol));
  jm_member(o, "client_max_protocol", jm_num(h->client_max_protocol));
  STRF(o, "service_name", h->service_name);
  STRF(o, "wanted_version", h->wanted_version);
  STRF(o, "client_version", h->client_version);
  jm_member(o, "client_capabilities", u64s(h->client_capabilities));
  jm_member(o, "auth_token", hexs(h->auth_token.data, h->auth_token.len));
  STRF(o, "request_id", h->request_id);
  jm_member(o, "connection_id", u64s(h->connection_id));
  jm_member(o, "peer_pid", jm_num(h->peer_pid));
  STRF(o, "client_lib_name", h->client_lib_name);
  STRF(o, "client_lib_version", h->client_lib_version);
  jm_member(o, "peer_attestation_nonce",
            hexs(h->peer_attestation_nonce.data, h->peer_attestation_nonce.len));
  jm_member(o, "capability_token", hexs(h->capability_token.data, h->capability_token.len));
  jm_member(o, "client_keepalive_secs", u64s(h->client_keepalive_secs));
  return o;
}

static int32_t m_negotiated(const ho_negotiated *n) {
  int32_t o = jm_new(JM_OBJ);
  jm_member(o, "negotiated_protocol", jm_num(n->negotiated_protocol));
  STRF(o, "daemon_version", n->daemon_version);
  STRF(o, "backend_pipe", n->backend_pipe);
  int32_t w = jm_member(o, "warnings", jm_new(JM_ARR));
  for (size_t i = 0; w >= 0 && i < n->warnings_count; i++)
    jm_append(w, jm_str_n(n->warnings[i], strlen(n->warnings[i])));
  jm_member(o, "server_capabilities", u64s(n->server_capabilities));
  jm_member(o, "keepalive_interval_secs", u64s(n->keepalive_interval_secs));
  jm_member(o, "handle_passed_token", hexs(n->handle_passed_token, n->handle_passed_token_len));
  jm_member(o, "connection_id", u64s(n->connection_id));
  return o;
}

static int32_t m_refused(const ho_refused *r) {
  int32_t o = jm_new(JM_OBJ);
  STRF(o, "reason", r->reason);
  jm_member(o, "daemon_min_protocol", jm_num(r->daemon_min_protocol));
  jm_member(o, "daemon_max_protocol", jm_num(r->daemon_max_protocol));
  jm_member(o, "code", jm_num(r->code));
  int32_t d = jm_member(o, "details", jm_new(JM_OBJ));
  /* Wire order reversed: the writer must sort them. */
  for (size_t i = r->details_count; d >= 0 && i-- > 0;)
    STRF(d, r->details[i].key, r->details[i].value);
  jm_member(o, "retry_after_ms", u64s(r->retry_after_ms));
  return o;
}

static int32_t m_message(ho_frame_type t, const ho_any_msg *m) {
  int32_t o;
  switch (t) {
  case HO_FT_HELLO: return m_hello(&m->hello);
  case HO_FT_HELLO_REPLY:
    o = jm_new(JM_OBJ);
    if (m->hello_reply.which == HO_REPLY_NEGOTIATED)
      jm_member(o, "negotiated", m_negotiated(&m->hello_reply.negotiated));
    else if (m->hello_reply.which == HO_REPLY_REFUSED)
      jm_member(o, "refused", m_refused(&m->hello_reply.refused));
    return o;
  case HO_FT_OFFER:
    o = jm_new(JM_OBJ);
    jm_member(o, "handle_value", u64s(m->offer.handle_value));
    jm_member(o, "token", hexs(m->offer.token, HO_TOKEN_BYTES));
    STRF(o, "service_name", m->offer.service_name);
    jm_member(o, "correlation_id", u64s(m->offer.correlation_id));
    jm_member(o, "offer_flags", u64s(m->offer.offer_flags));
    /* rc2 reply fields; lengths past REPLY_MAX render empty (garbage structs) */
    jm_member(o, "reply_adopted",
              hexs(m->offer.reply_adopted,
                   m->offer.reply_adopted_len <= HO_MAX_REPLY_FRAME ? m->offer.reply_adopted_len : 0));
    jm_member(o, "reply_declined",
              hexs(m->offer.reply_declined,
                   m->offer.reply_declined_len <= HO_MAX_REPLY_FRAME ? m->offer.reply_declined_len : 0));
    return o;
  default:
    o = jm_new(JM_OBJ);
    jm_member(o, "token", hexs(m->ack.token, HO_TOKEN_BYTES));
    int32_t b = jm_new(JM_BOOL);
    if (b >= 0) jm_nodes[b].num = m->ack.accepted;
    jm_member(o, "accepted", b);
    STRF(o, "error_detail", m->ack.error_detail);
    jm_member(o, "correlation_id", u64s(m->ack.correlation_id));
    jm_member(o, "backend_capabilities", u64s(m->ack.backend_capabilities));
    return o;
  }
}

static int render_alone(ho_frame_type t, const ho_any_msg *m, char *o, size_t cap, size_t *n) {
  switch (t) {
  case HO_FT_HELLO: return ho_hello_to_json(&m->hello, o, cap, n);
  case HO_FT_HELLO_REPLY: return ho_hello_reply_to_json(&m->hello_reply, o, cap, n);
  case HO_FT_OFFER: return ho_offer_to_json(&m->offer, o, cap, n);
  default: return ho_ack_to_json(&m->ack, o, cap, n);
  }
}

/* ---- checks of one decoded frame --------------------------------------- */

static void check_decoded(ho_frame_type t, size_t pick) {
  const char *tn = ho_frame_type_name(t);
  size_t n = 0;
  if (ho_frame_to_json(t, &env[0], &msg[0], out, sizeof out, &n) != HO_OK) fz_die("render", tn);
  if (strlen(out) != n) fz_die("*len is not the rendered length", tn);

  /* 1. re-parses, and is canonical already. */
  jm_reset();
  int32_t v = jm_parse(out, n);
  if (v < 0) {
    fprintf(stderr, "%s\n", out);
    fz_die("rendering is not the JSON the vectors use", tn);
  }
  size_t cn = jm_canonical(v, canon, sizeof canon);
  if (cn != n || memcmp(canon, out, n) != 0) {
    fprintf(stderr, "rendered:  %s\ncanonical: %s\n", out, canon);
    fz_die("rendering is not canonical", tn);
  }

  /* 2. equals the independent rendering. */
  jm_reset();
  int32_t root = jm_new(JM_OBJ);
  jm_member(root, "message", m_message(t, &msg[0]));
  jm_member(root, "envelope", m_envelope(&env[0]));
  cn = jm_canonical(root, canon, sizeof canon);
  if (cn != n || memcmp(canon, out, n) != 0) {
    fprintf(stderr, "rendered: %s\nmodel:    %s\n", out, canon);
    fz_die("rendering differs from the vectors' form", tn);
  }

  /* 3. the parts. */
  size_t en = 0, mn = 0;
  if (ho_envelope_to_json(&env[0], part, sizeof part, &en) != HO_OK) fz_die("envelope render", tn);
  int k = snprintf(canon, sizeof canon, "{\"envelope\":%s,\"message\":", part);
  if (render_alone(t, &msg[0], part, sizeof part, &mn) != HO_OK) fz_die("message render", tn);
  if ((size_t)k + mn + 1 != n || memcmp(out, canon, (size_t)k) != 0 ||
      memcmp(out + k, part, mn) != 0 || out[n - 1] != '}')
    fz_die("frame rendering is not its parts", tn);

  /* 4. the other codec renders the same. */
  size_t on = 0;
  if (ho_frame_to_json(t, &env[1], &msg[1], other, sizeof other, &on) != HO_OK || on != n ||
      memcmp(other, out, n) != 0)
    fz_die("protobuf-c and nanopb render differently", tn);

  /* 5. buffer too small: NUL-terminated prefix, *len untouched. */
  size_t caps[3] = {n, 1 + pick % n, n + 1};
  for (int i = 0; i < 3; i++) {
    size_t l = 4242;
    memset(small, 'X', caps[i] + 1);
    int rc = ho_frame_to_json(t, &env[0], &msg[0], small, caps[i], &l);
    if (caps[i] > n) {
      if (rc != HO_OK || l != n || memcmp(small, out, n + 1) != 0) fz_die("exact buffer", tn);
    } else if (rc != HO_ERR_BUFFER_TOO_SMALL || l != 4242 || small[caps[i] - 1] != '\0' ||
               memcmp(small, out, caps[i] - 1) != 0 || small[caps[i]] != 'X') {
      fz_die("short buffer", tn);
    }
  }
  size_t l0 = 7;
  if (ho_frame_to_json(t, &env[0], &msg[0], NULL, 0, &l0) != HO_ERR_BUFFER_TOO_SMALL || l0 != 7)
    fz_die("NULL buffer of size 0", tn);
}

/* Any bytes as structs: the renderers clamp and stay in bounds. */
static void render_garbage(const uint8_t *data, size_t size) {
  static ho_any_msg g;
  static ho_envelope ge;
  uint8_t *gp = (uint8_t *)&g, *ep = (uint8_t *)&ge;
  for (size_t i = 0; i < sizeof g; i++) gp[i] = data[i % size];
  for (size_t i = 0; i < sizeof ge; i++) ep[i] = data[(i * 7 + 3) % size];
  ge.payload = data;
  ge.payload_len %= size + 1;
  /* bool and the oneof selector: only their defined values. */
  g.ack.accepted = data[0] & 1;
  static const ho_frame_type types[] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK};
  for (size_t i = 0; i < 4; i++) {
    size_t n = 0;
    if (ho_frame_to_json(types[i], &ge, &g, out, sizeof out, &n) != HO_OK || strlen(out) != n)
      fz_die("garbage struct render", ho_frame_type_name(types[i]));
    if (render_alone(types[i], &g, part, sizeof part, &n) != HO_OK || strlen(part) != n)
      fz_die("garbage message render", ho_frame_type_name(types[i]));
  }
  size_t n = 0;
  if (ho_frame_to_json((ho_frame_type)0, &ge, &g, out, sizeof out, &n) != HO_ERR_INVALID_ARGUMENT ||
      ho_frame_type_name((ho_frame_type)(6 + data[0])) != NULL)
    fz_die("unknown frame type accepted", "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > HO_MAX_HELLO_BYTES + 1024) return 0;
  static const ho_frame_type types[] = {HO_FT_HELLO, HO_FT_HELLO_REPLY, HO_FT_OFFER, HO_FT_ACK,
                                        HO_FT_READY};
  size_t pick = 0;
  for (size_t i = 0; i < size; i++) pick = pick * 31 + data[i];
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    int rc[2];
    for (int c = 0; c < 2; c++) {
      memset(&msg[c], c ? 0x5A : 0xA5, sizeof msg[c]);
      rc[c] = ho_frame_decode(fz_codecs[c], types[i], data, size, &env[c], &msg[c]);
    }
    fz_verdicts(ho_frame_type_name(types[i]), rc[0], rc[1]);
    if (rc[0] == HO_OK) check_decoded(types[i], pick);
  }
  if (size > 0) render_garbage(data, size);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#include "fuzz_replay_main.h"
#else
#define HO_PM_MODE HO_PM_FRAME
#include "proto_mutator.h"
#endif
