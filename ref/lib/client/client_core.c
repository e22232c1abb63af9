/* handoff — sans-I/O client core: the Hello, the reply, the ready frame,
 * the silent fallback to backend_pipe, and the rule that a request once
 * written on the broker connection is never sent twice. No I/O, no clock:
 * the shell (client.c, the conformance runner, a fuzz target) executes the
 * actions and reports their outcome.
 * spec: HELLO-1 CLIENT-1 CLIENT-2 CLIENT-3 CLIENT-4 CLIENT-5 CLIENT-6 CLIENT-8
 * spec: FALLBACK-4 FALLBACK-15 FALLBACK-24 READY-4 READY-37 READY-13 READY-14
 * spec: READY-20 READY-21 ERR-20 ERR-21 ERR-22 ERR-23 ERR-65 ERR-66 ERR-67 ERR-68
 * spec: READY-31 READY-32 ERR-71 CAP-8 */
#include <stdlib.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/frame.h"
#include "handoff/token.h"

enum {
  S_CONNECT = 1, /* connecting to the broker */
  S_HELLO,       /* writing the Hello (+ early data) */
  S_REPLY,       /* reading the HelloReply */
  S_REQUEST_BR,  /* writing the request after a backend-ready Negotiated */
  S_READY,       /* reading the ready frame */
  S_REQUEST,     /* adopted (legacy): writing the request */
  S_PIPE,        /* connecting to backend_pipe */
  S_PIPE_WRITE,  /* writing the request there */
  S_DONE
};

struct ho_client_core {
  const ho_client_config *cfg;
  int state;
  bool pending;  /* an action was emitted and not reported yet */
  bool emit;     /* the action of the current state is still to be taken */
  uint64_t start_ms, io_deadline, ready_deadline, pipe_deadline; /* monotonic ms */
  uint64_t start_us; /* cfg->measure_us at the start (timings) */
  bool early;        /* the Hello carried early data */
  bool coalesced;    /* ... and CAP_COALESCED_REPLY (READY-31) */
  size_t read_room;  /* len of the READ outstanding */
  bool safe_resend;  /* READY-21 (b): re-sending is allowed if nothing arrives */
  bool got_byte;     /* a byte arrived after Negotiated */
  bool extended;     /* the ready wait was extended once for a frame in progress */
  bool close_first;  /* a CLOSE precedes the next action */
  bool have_conn;    /* a connection is open (the shell's current one) */
  uint8_t *out;      /* Hello bytes */
  size_t out_len;
  ho_frame_reader rd;
  uint8_t *rd_heap;
  int rc;
  ho_client_result res;
};

static uint8_t *grow(void *ctx, size_t need) {
  ho_client_core *c = ctx;
  uint8_t *nb = realloc(c->rd_heap, need);
  if (nb != NULL) c->rd_heap = nb;
  return nb;
}

static void reader_reset(ho_client_core *c) {
  (void)ho_frame_reader_init_grow(&c->rd, c->rd_heap, 0, HO_MAX_FRAME_BYTES, grow, c);
}

void ho_client_config_init(ho_client_config *cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->ready_timeout_ms = HO_CLIENT_DEFAULT_READY_TIMEOUT_MS;
  cfg->io_timeout_ms = HO_CLIENT_DEFAULT_IO_TIMEOUT_MS;
  cfg->codec = HO_CODEC_PROTOBUF_C;
  cfg->server_policy = HO_PEER_SAME_UID_OR_ROOT; /* spec: CLIENT-9 */
}

const char *ho_client_reason_name(int reason) {
  switch (reason) {
  case HO_OK: return "none";
  case HO_CLIENT_NOT_REQUESTED: return "NOT_REQUESTED";
  case HO_CLIENT_NOT_OFFERED: return "NOT_OFFERED";
  default: {
    const char *n = ho_errname(reason);
    return n ? n : "UNKNOWN";
  }
  }
}


/* Microseconds since the start: a measurement, from cfg->measure_us when
 * set, else from the millisecond inputs. Never negative. */
static uint64_t us(const ho_client_core *c, uint64_t now_ms) {
  if (c->cfg->measure_us) {
    uint64_t t = c->cfg->measure_us(c->cfg->measure_user);
    return t > c->start_us ? t - c->start_us : 0;
  }
  return now_ms > c->start_ms ? (now_ms - c->start_ms) * 1000u : 0;
}

static void go(ho_client_core *c, int state) {
  c->state = state;
  c->emit = true;
}

static void done(ho_client_core *c, int rc) {
  c->rc = rc;
  if (rc != HO_OK) c->close_first = true; /* no descriptor is left open */
  go(c, S_DONE);
}

static void connection(ho_client_core *c, int rc) {
  c->have_conn = rc == HO_OK;
}

/* The Hello: capability bits only for what this client will really do; the
 * token travels nowhere else. spec: HELLO-1 CAP-8 CAP-2 SEC-6 READY-20 */
static int build_hello(ho_client_core *c) {
  const ho_client_config *cfg = c->cfg;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = HO_PROTOCOL_VERSION;
  m.hello.client_max_protocol = HO_PROTOCOL_VERSION;
  strcpy(m.hello.service_name, cfg->service_name);
  strcpy(m.hello.client_lib_name, "handoff-ref");
  strcpy(m.hello.client_lib_version, HO_LIBRARY_VERSION_STRING);
  m.hello.peer_pid = cfg->peer_pid; /* spec: SEC-3 — informational */
  if (cfg->handoff) {
    m.hello.client_capabilities |= HO_CAP_HANDLE_PASSING;
    if (cfg->backend_ready) m.hello.client_capabilities |= HO_CAP_BACKEND_READY;
  }
  if (c->early) m.hello.client_capabilities |= HO_CAP_EARLY_DATA;
  /* spec: CAP-8 — only with backend-ready mode, and only after early data
   * (this client has nothing to coalesce without a request). */
  if (c->coalesced) m.hello.client_capabilities |= HO_CAP_COALESCED_REPLY;
  size_t cap = 4096 + (c->early ? cfg->request_len : 0), len = 0;
  c->out = malloc(cap);
  if (c->out == NULL) return HO_ERR_NOMEM;
  int rc = ho_frame_encode(cfg->codec, HO_FT_HELLO, &m, c->out, cap, &len);
  if (rc != HO_OK) return rc;
  /* Early data travels in the same write as the Hello. */
  if (c->early) memcpy(c->out + len, cfg->request, cfg->request_len), len += cfg->request_len;
  c->out_len = len;
  return HO_OK;
}

int ho_client_core_new(const ho_client_config *cfg, uint64_t now_ms, ho_client_core **out) {
  if (cfg == NULL || out == NULL || cfg->connect_path == NULL || cfg->service_name == NULL ||
      strlen(cfg->service_name) == 0 || strlen(cfg->service_name) > HO_MAX_SERVICE_NAME ||
      (cfg->request == NULL && cfg->request_len > 0) || (cfg->early_data && cfg->request_len == 0))
    return HO_ERR_INVALID_ARGUMENT;
  ho_client_core *c = calloc(1, sizeof *c);
  if (c == NULL) return HO_ERR_NOMEM;
  c->cfg = cfg;
  c->start_ms = now_ms;
  if (cfg->measure_us) c->start_us = cfg->measure_us(cfg->measure_user);
  uint32_t io = cfg->io_timeout_ms ? cfg->io_timeout_ms : HO_CLIENT_DEFAULT_IO_TIMEOUT_MS;
  c->io_deadline = now_ms + io;
  c->early = cfg->early_data;
  c->coalesced = c->early && cfg->coalesced_reply && cfg->handoff && cfg->backend_ready;
  c->res.conn = HO_NO_HANDLE;
  int rc = build_hello(c);
  if (rc != HO_OK) {
    ho_client_core_del(c);
    return rc;
  }
  reader_reset(c);
  go(c, S_CONNECT);
  *out = c;
  return HO_OK;
}

void ho_client_core_del(ho_client_core *c) {
  if (c == NULL) return;
  free(c->out);
  free(c->rd_heap);
  free(c);
}

int ho_client_core_next(ho_client_core *c, ho_client_action *a) {
  if (c == NULL || a == NULL || c->pending || !c->emit) return 0;
  memset(a, 0, sizeof *a);
  if (c->close_first) {
    c->close_first = false;
    if (c->have_conn) {
      c->have_conn = false;
      a->type = HO_CACT_CLOSE;
      return 1;
    }
  }
  c->emit = false;
  c->pending = true;
  const ho_client_config *cfg = c->cfg;
  switch (c->state) {
  case S_CONNECT:
    a->type = HO_CACT_CONNECT;
    a->path = cfg->connect_path;
    return 1;
  case S_PIPE:
    a->type = HO_CACT_CONNECT;
    a->path = c->res.negotiated.backend_pipe;
    return 1;
  case S_HELLO:
    a->type = HO_CACT_WRITE;
    a->bytes = c->out;
    a->len = c->out_len;
    a->deadline_ms = c->io_deadline;
    return 1;
  case S_REQUEST_BR:
  case S_REQUEST:
  case S_PIPE_WRITE:
    a->type = HO_CACT_WRITE;
    a->bytes = cfg->request;
    a->len = cfg->request_len;
    a->deadline_ms = c->state == S_PIPE_WRITE ? c->pipe_deadline : c->io_deadline;
    return 1;
  case S_REPLY:
  case S_READY:
    a->type = HO_CACT_READ;
    a->len = ho_frame_reader_needed(&c->rd);
    /* spec: READY-32 — in coalesced mode one read takes the whole reply:
     * room for the frames and service bytes that follow this part. */
    if (c->coalesced) a->len += HO_CLIENT_PENDING_MAX;
    c->read_room = a->len;
    a->deadline_ms = c->state == S_REPLY ? c->io_deadline : c->ready_deadline;
    return 1;
  case S_DONE:
    a->type = HO_CACT_DONE;
    c->pending = false;
    c->emit = false;
    return 1;
  }
  c->pending = false;
  return 0;
}

/* ---- reports --------------------------------------------------------------- */

/* The request may go to backend_pipe: close the broker connection first
 * (READY-14), then connect there. spec: FALLBACK-4 FALLBACK-24 READY-21 */
static void fall_back(ho_client_core *c, int reason) {
  c->res.fallback_reason = reason;
  c->res.request_sent = false;
  c->res.route = HO_ROUTE_NONE;
  c->close_first = true;
  go(c, S_PIPE);
}

/* The request is on the broker connection and may have been executed: it
 * is never sent again. spec: READY-21 ERR-68 */
static void unknown_outcome(ho_client_core *c) {
  c->res.route = HO_ROUTE_HANDOFF;
  done(c, HO_ERR_OUTCOME_UNKNOWN);
}

/* The HelloReply did not arrive (EOF, reset, timeout, a frame that is no
 * HelloReply): an error of the connection (CLIENT-2) — unless the Hello
 * asked for a coalesced reply and the request went with it: then the
 * backend may have served it and failed before its one write.
 * spec: READY-31 ERR-71 */
static void no_reply(ho_client_core *c, int err) {
  if (c->coalesced && c->res.request_sent) return unknown_outcome(c);
  done(c, err);
}

/* What "not adopted" leads to, given what was written (READY-21). */
static void not_adopted(ho_client_core *c, int why, bool bytes_seen) {
  if (!c->res.request_sent) return fall_back(c, why);           /* ERR-65 ERR-66 */
  if (c->safe_resend && !bytes_seen) return fall_back(c, why);  /* ERR-67 */
  unknown_outcome(c);                                           /* ERR-68 */
}

static void adopted(ho_client_core *c, uint64_t now_ms) {
  c->res.ready_us = us(c, now_ms);
  c->res.route = HO_ROUTE_HANDOFF;
  /* spec: READY-37 — legacy: nothing was written before ready. */
  if (!c->res.request_sent && c->cfg->request_len > 0) return go(c, S_REQUEST);
  c->res.connected_us = c->res.ready_us;
  done(c, HO_OK);
}

/* Negotiated in hand: handoff, or not (spec: FALLBACK-4 CAP-9 READY-13
 * READY-14 READY-21). */
static void negotiated(ho_client_core *c, uint64_t now_ms) {
  const ho_client_config *cfg = c->cfg;
  const ho_negotiated *n = &c->res.negotiated;
  bool token = n->handle_passed_token_len == HO_TOKEN_BYTES;
  if (!cfg->handoff || !token || !(n->server_capabilities & HO_CAP_HANDLE_PASSING)) {
    /* spec: ERR-23 FALLBACK-4 READY-21 (a) — no token: nobody hands the
     * connection off, a request already written is read by no one; a token
     * without the bit (or unasked for) may still mean a handoff. */
    if (c->res.request_sent && token) return unknown_outcome(c);
    return fall_back(c, cfg->handoff ? HO_CLIENT_NOT_OFFERED : HO_CLIENT_NOT_REQUESTED);
  }
  /* spec: CAP-9 CAP-1 — in effect only if both sides set it. */
  bool br = cfg->backend_ready && (n->server_capabilities & HO_CAP_BACKEND_READY);
  uint32_t wait = cfg->ready_timeout_ms ? cfg->ready_timeout_ms : HO_CLIENT_DEFAULT_READY_TIMEOUT_MS;
  if (br && wait < HO_CLIENT_MIN_BACKEND_READY_WAIT_MS)
    wait = HO_CLIENT_MIN_BACKEND_READY_WAIT_MS; /* spec: READY-14 */
  c->ready_deadline = now_ms + wait;
  c->res.backend_ready = br;
  /* spec: READY-21 (b) — re-sending stays allowed only under a broker that
   * declared the mode (and, after early data, that it knows early data). */
  c->safe_resend = br && (!c->early || (n->server_capabilities & HO_CAP_EARLY_DATA));
  /* spec: READY-31 — a coalesced Negotiated came in the backend's one write
   * together with ready: anything but ready behind it is no proof that the
   * request was left unread. */
  if (c->coalesced && (n->server_capabilities & HO_CAP_COALESCED_REPLY)) {
    c->safe_resend = false;
    c->res.coalesced = br;
  }
  reader_reset(c);
  /* spec: READY-13 — in backend-ready mode the request goes right away. */
  if (br && !c->res.request_sent && cfg->request_len > 0) return go(c, S_REQUEST_BR);
  go(c, S_READY);
}

int ho_client_core_connected(ho_client_core *c, int rc, uint64_t now_ms) {
  if (c == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (!c->pending || (c->state != S_CONNECT && c->state != S_PIPE)) return HO_ERR_STATE;
  c->pending = false;
  connection(c, rc);
  if (c->state == S_CONNECT) {
    if (rc != HO_OK) done(c, rc);
    else go(c, S_HELLO);
    return HO_OK;
  }
  /* spec: FALLBACK-15 — backend_pipe unreachable: an error of the service
   * connection, with the condition's name. */
  if (rc != HO_OK) {
    c->res.route = HO_ROUTE_NONE;
    c->rc = rc;
    go(c, S_DONE);
    return HO_OK;
  }
  c->res.connected_us = us(c, now_ms);
  c->res.route = HO_ROUTE_RECONNECT;
  uint32_t io = c->cfg->io_timeout_ms ? c->cfg->io_timeout_ms : HO_CLIENT_DEFAULT_IO_TIMEOUT_MS;
  c->pipe_deadline = now_ms + io;
  if (c->cfg->request_len > 0) go(c, S_PIPE_WRITE);
  else done(c, HO_OK);
  return HO_OK;
}

int ho_client_core_written(ho_client_core *c, int rc, uint64_t now_ms) {
  if (c == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (!c->pending || (c->state != S_HELLO && c->state != S_REQUEST_BR && c->state != S_REQUEST &&
                      c->state != S_PIPE_WRITE))
    return HO_ERR_STATE;
  c->pending = false;
  switch (c->state) {
  case S_HELLO:
    /* spec: CLIENT-5 BROKER-12 — a broker that answered and closed at once
     * (Refused{ERROR_FD_PRESSURE} at its descriptor limit) makes the write
     * fail with EPIPE while its reply waits to be read: read it. */
    if (rc == HO_ERR_CLOSED) {
      c->res.request_sent = false;
      go(c, S_REPLY);
      return HO_OK;
    }
    if (rc != HO_OK) return done(c, rc), HO_OK;
    c->res.request_sent = c->early;
    go(c, S_REPLY);
    break;
  case S_REQUEST_BR:
    /* A failed write may still have sent part of the request: only the
     * READY-21 rules decide (CLIENT-5: a reset is like EOF). */
    c->res.request_sent = true;
    if (rc != HO_OK) return not_adopted(c, rc, false), HO_OK;
    go(c, S_READY);
    break;
  case S_REQUEST:
    c->res.request_sent = true;
    /* spec: CLIENT-6 CLIENT-8 — adopted, then the service connection broke:
     * an error of the service connection on the route taken. */
    if (rc != HO_OK) return done(c, rc), HO_OK;
    c->res.connected_us = c->res.ready_us;
    done(c, HO_OK);
    break;
  case S_PIPE_WRITE:
    if (rc != HO_OK) return done(c, rc), HO_OK;
    c->res.request_sent = true;
    done(c, HO_OK);
    break;
  }
  (void)now_ms;
  return HO_OK;
}

/* A complete frame in the reader. */
static void frame_in(ho_client_core *c, uint64_t now_ms) {
  const uint8_t *body;
  size_t len;
  (void)ho_frame_reader_body(&c->rd, &body, &len);
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  if (c->state == S_REPLY) {
    int rc = ho_frame_decode_body(c->cfg->codec, HO_FT_HELLO_REPLY, body, len, NULL, &m);
    /* spec: ERR-20 ERR-22 CLIENT-2 — a bad reply is a failure, by name
     * (READY-31: an unknown outcome after a coalesced Hello with early data). */
    if (rc != HO_OK) return no_reply(c, rc);
    if (m.hello_reply.which == HO_REPLY_REFUSED) { /* spec: CLIENT-3 */
      c->res.refused = m.hello_reply.refused;
      return done(c, HO_ERR_REFUSED);
    }
    /* spec: CLIENT-2 CLIENT-4 ERR-21 — no backend_pipe to fall back to. */
    if (m.hello_reply.which != HO_REPLY_NEGOTIATED ||
        m.hello_reply.negotiated.backend_pipe[0] == '\0')
      return done(c, HO_ERR_MALFORMED);
    /* spec: VER-1 VER-2 — protocol 1 only; daemon_version plays no part. */
    if (m.hello_reply.negotiated.negotiated_protocol != HO_PROTOCOL_VERSION)
      return done(c, HO_ERR_PROTOCOL_UNSUPPORTED);
    c->res.negotiated = m.hello_reply.negotiated;
    c->res.negotiated_us = us(c, now_ms);
    return negotiated(c, now_ms);
  }
  /* spec: READY-4 ERR-66 — the ready checks in order; correlation_id is not
   * checked: the client never knew it. */
  int rc = ho_frame_decode_body(c->cfg->codec, HO_FT_READY, body, len, NULL, &m);
  if (rc == HO_OK && !ho_token_equal(m.ack.token, c->res.negotiated.handle_passed_token))
    rc = HO_ERR_TOKEN_MISMATCH; /* spec: TOKEN-8 — constant time */
  if (rc == HO_OK && !m.ack.accepted) rc = HO_ERR_ACK_REFUSED;
  if (rc != HO_OK) return not_adopted(c, rc, true);
  adopted(c, now_ms);
}

int ho_client_core_data(ho_client_core *c, const uint8_t *data, size_t len, uint64_t now_ms) {
  if (c == NULL || (data == NULL && len > 0)) return HO_ERR_INVALID_ARGUMENT;
  if (!c->pending || (c->state != S_REPLY && c->state != S_READY)) return HO_ERR_STATE;
  if (len > c->read_room) return HO_ERR_INVALID_ARGUMENT;
  c->pending = false;
  for (;;) {
    if (c->state == S_READY && len > 0) {
      c->got_byte = true;
      /* spec: READY-14 — a frame has begun: let it finish, once. */
      if (!c->extended && c->ready_deadline < now_ms + 1000u)
        c->ready_deadline = now_ms + 1000u;
      c->extended = true;
    }
    size_t need = ho_frame_reader_needed(&c->rd);
    size_t used = 0;
    int rc = ho_frame_reader_feed(&c->rd, data, len < need ? len : need, &used);
    data += used;
    len -= used;
    if (rc == HO_OK && len > 0) continue; /* the header is in: now the body */
    if (rc == HO_OK) {
      c->emit = true; /* read on */
      return HO_OK;
    }
    if (rc != 1) {
      /* FRAMING_VERSION, FRAME_TOO_LARGE (FRAME-2 FRAME-3), NOMEM */
      if (c->state == S_REPLY) no_reply(c, rc);
      else not_adopted(c, rc, true);
      return HO_OK;
    }
    int before = c->state;
    frame_in(c, now_ms);
    /* spec: READY-32 — Negotiated and ready from one read: go on with the
     * ready frame; what follows ready is the service's. */
    if (before == S_REPLY && c->state == S_READY && len > 0) continue;
    break;
  }
  if (len > 0 && c->state == S_DONE && c->rc == HO_OK && c->res.route == HO_ROUTE_HANDOFF &&
      len <= sizeof c->res.pending) {
    memcpy(c->res.pending, data, len); /* spec: CLIENT-6 — the service's first bytes */
    c->res.pending_len = len;
  }
  return HO_OK;
}

int ho_client_core_eof(ho_client_core *c, int rc, uint64_t now_ms) {
  if (c == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (!c->pending || (c->state != S_REPLY && c->state != S_READY)) return HO_ERR_STATE;
  c->pending = false;
  (void)now_ms;
  /* spec: FRAME-4 FRAME-9 CLIENT-5 — EOF inside a frame is TRUNCATED; at a
   * boundary, or a reset, CLOSED. */
  int err = ho_frame_reader_finish(&c->rd) == HO_ERR_TRUNCATED ? HO_ERR_TRUNCATED
            : rc == HO_OK || rc == HO_ERR_CLOSED              ? HO_ERR_CLOSED
                                                               : rc;
  if (c->state == S_REPLY) return no_reply(c, err), HO_OK; /* spec: CLIENT-2 READY-31 */
  not_adopted(c, err, c->got_byte); /* spec: ERR-65 ERR-67 ERR-68 */
  return HO_OK;
}

int ho_client_core_timeout(ho_client_core *c, uint64_t now_ms) {
  if (c == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (!c->pending || (c->state != S_REPLY && c->state != S_READY)) return HO_ERR_STATE;
  c->pending = false;
  (void)now_ms;
  if (c->state == S_REPLY) return no_reply(c, HO_ERR_TIMEOUT), HO_OK; /* spec: CLIENT-1 READY-31 */
  not_adopted(c, HO_ERR_TIMEOUT, c->got_byte); /* spec: READY-37 READY-14 ERR-66 ERR-67 */
  return HO_OK;
}

int ho_client_core_result(const ho_client_core *c, ho_client_result *out) {
  if (c == NULL || out == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (c->state != S_DONE) return HO_ERR_STATE;
  ho_handle conn = out->conn;
  uint64_t start = out->start_us;
  *out = c->res;
  out->conn = conn;
  out->start_us = start;
  return c->rc;
}
