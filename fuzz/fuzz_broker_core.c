/* Target functions: ho_broker_new ho_broker_client_open ho_broker_client_wants
 * ho_broker_client_data ho_broker_control_connected ho_broker_control_data
 * ho_broker_transfer_failed ho_broker_conn_error ho_broker_conn_flushed
 * ho_broker_timer ho_broker_set_fd_pressure ho_broker_shutdown
 * ho_broker_next_action ho_broker_get_stats ho_broker_del
 * (ref/lib/broker/broker_core.c, broker_hello.c, broker_handoff.c).
 *
 * Stateful fuzz target: the input is a configuration (BF_CFG_BYTES) followed
 * by 4-byte events that a fake shell plays against the real broker core:
 * clients connect (fake descriptors, peer credentials or none), bytes from
 * clients (Hello templates built with the codec and then mutated, early
 * data, garbage; always at most what ho_broker_client_wants() asks for),
 * control connections connect or fail to dial, ACK frames built with the
 * codec for the correlation ids and tokens the core itself emitted (valid,
 * refused, wrong token, wrong or never-issued correlation, duplicated,
 * split, malformed), send results per connection output queue (written,
 * would block, I/O error, SCM_RIGHTS refused), EOFs, clock advances with
 * the timer fired when due, fd pressure and shutdown.
 *
 * After every event the actions are taken and checked, and the counters:
 *  - every handle gets exactly one CLOSE; no action names a handle already
 *    closed, and once a batch of actions is taken no open control connection
 *    still queues a SEND_FD of a closed client (spec: BROKER-7 ERR-4);
 *  - a client's descriptor is passed at most once, only after its Negotiated
 *    frame is entirely written (spec: READY-7), never once the client's EOF
 *    was reported (spec: BROKER-5), with the sideband
 *    token of its Negotiated and followed at once by the offer frame with the
 *    same correlation id and token (spec: XFER-3 XFER-4 ACK-12 TOKEN-6);
 *  - nothing is written to a client after its offer in backend-ready mode
 *    (spec: READY-8); the legacy ready frame only after an accepted ACK with
 *    the right token (spec: ACK-2 ACK-15 READY-2); nothing is written to a
 *    connection after its EOF was reported; nothing is read past the Hello
 *    (spec: FRAME-6);
 *  - attempted == completed + attempt fallbacks + in flight, tokens pending
 *    <= in flight <= open clients (spec: TOKEN-7 FALLBACK-20 ACK-10);
 *  - no log line carries a token (spec: SEC-8);
 *  - at the end, once every client has gone and the clock has run past every
 *    deadline the core armed: no client open, no token pending, nothing in
 *    flight (spec: BROKER-1 TOKEN-7 ACK-6); after shutdown no handle open.
 * Leaks and undefined behaviour are ASan's and UBSan's.
 *
 * Built two ways: with -fsanitize=fuzzer (make fuzz-broker), and with
 * -DHO_FUZZ_REPLAY_MAIN as a plain program that runs every file or
 * directory given on its command line through the target (make test).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/token.h"

#include "broker_shell_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- events --------------------------------------------------------------- */

static rec *pick(bf *f, uint8_t sel, int kind /* 0 client, 1 control, 2 any */) {
  if (f->nrec == 0) return NULL;
  for (int n = 0; n < f->nrec; n++) {
    rec *x = &f->r[(sel + n) % f->nrec];
    if (x->closed) continue;
    if (kind == 0 && x->control) continue;
    if (kind == 1 && !x->control) continue;
    return x;
  }
  return NULL;
}

static void in_append(rec *c, const uint8_t *p, size_t n) {
  if (c->in_len + n > IN_CAP) n = IN_CAP - c->in_len;
  memcpy(c->in + c->in_len, p, n);
  c->in_len += n;
}

static const char *const services[] = {"echo", "other", "Bad_Name", "", "echo-2"};
static const char *const versions[] = {"", "1.2.3", "1.x", "0.0.1-rc.1+b"};

static void hello_on(rec *x, uint8_t b, uint8_t c);
static void ev_hello(bf *f, uint8_t a, uint8_t b, uint8_t c) {
  rec *x = pick(f, a, 0);
  if (x != NULL) hello_on(x, b, c);
}

static void hello_on(rec *x, uint8_t b, uint8_t c) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello.client_min_protocol = (b & 0x80) ? 2 : 1;
  m.hello.client_max_protocol = (b & 0x40) ? 0 : 1;
  if ((b & 0xC0) == 0xC0) m.hello.client_max_protocol = 3;
  unsigned si = (b >> 3) & 7;
  snprintf(m.hello.service_name, sizeof m.hello.service_name, "%s", si < 5 ? services[si] : "echo");
  uint64_t caps = 0;
  if (b & 1) caps |= HO_CAP_HANDLE_PASSING;
  if (b & 2) caps |= HO_CAP_BACKEND_READY;
  if (b & 4) caps |= HO_CAP_EARLY_DATA;
  if ((c & 0xF0) == 0x10) caps |= 1ull << 40; /* unassigned bit */
  m.hello.client_capabilities = caps;
  snprintf(m.hello.wanted_version, sizeof m.hello.wanted_version, "%s", versions[(c >> 2) & 3]);
  m.hello.peer_pid = (c & 1) ? 4242 : 0;
  m.hello.client_keepalive_secs = c & 2 ? 60 : 0;
  uint8_t wire[IN_CAP];
  size_t len = 0;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, &m, wire, sizeof wire, &len) != HO_OK)
    return;
  /* Mutation: c's upper bits choose none, a byte flip, a truncation. */
  switch (c >> 6) {
  case 1: wire[(size_t)(c * 7u) % len] ^= (uint8_t)(1u << (c & 7)); break;
  case 2: len = (size_t)(c & 0x3F) % len; break;
  default: break;
  }
  in_append(x, wire, len);
  if (caps & HO_CAP_EARLY_DATA) in_append(x, (const uint8_t *)"EARLY REQUEST", 13);
}

static void ev_garbage(bf *f, uint8_t a, uint8_t b, uint8_t c) {
  rec *x = pick(f, a, 0);
  if (x == NULL) return;
  uint8_t g[8] = {b, c, (uint8_t)(b ^ c), 0, 0, 0, 0xFF, 1};
  in_append(x, g, 1 + (size_t)(c & 7));
}

static void bytes_on(bf *f, rec *x, uint8_t b);
static void ev_client_bytes(bf *f, uint8_t a, uint8_t b) {
  rec *x = pick(f, a, 0);
  if (x != NULL) bytes_on(f, x, b);
}

static void bytes_on(bf *f, rec *x, uint8_t b) {
  if (x->dead) return;
  size_t want = ho_broker_client_wants(f->b, x->h);
  size_t avail = x->in_len - x->in_off;
  if (want == 0) {
    /* spec: FRAME-6 — the core takes nothing past its Hello. */
    if (avail > 0)
      CHECK(ho_broker_client_data(f->b, x->h, x->in + x->in_off, 1, f->now) ==
                HO_ERR_INVALID_ARGUMENT,
            "the core took a byte it did not want");
    return;
  }
  if (avail == 0) return;
  size_t n = b == 0 ? want : b;
  if (n > want) n = want;
  if (n > avail) n = avail;
  if ((b & 0x80) && avail > want) {
    /* more than wanted: refused, nothing consumed */
    CHECK(ho_broker_client_data(f->b, x->h, x->in + x->in_off, want + 1, f->now) ==
              HO_ERR_INVALID_ARGUMENT,
          "client_data accepted more than wanted");
    CHECK(ho_broker_client_wants(f->b, x->h) == want, "a refused read changed wants");
    return;
  }
  CHECK(ho_broker_client_data(f->b, x->h, x->in + x->in_off, n, f->now) == HO_OK,
        "client_data failed on wanted bytes");
  x->in_off += n;
}

static void ev_open(bf *f, uint8_t a, uint8_t b) {
  int i = new_rec(f, false);
  if (i < 0) return;
  rec *x = &f->r[i];
  ho_peer_cred p = {.pid = (a & 1) ? 4242 : (int)b, .uid = (a & 2) ? 0 : 1000 + (b & 1), .gid = 0};
  ho_broker_conn *h = NULL;
  int rc = ho_broker_client_open(f->b, x, (a & 4) ? NULL : &p, f->now, &h);
  CHECK(rc == HO_OK && h != NULL, "client_open failed: %d", rc);
  x->h = h;
}

static void deliver(bf *f, rec *x, int n) {
  for (int i = 0; i < n; i++) {
    if (x->out[i].send_fd) continue;
    if (x->control) {
      offer_rec *o = offer_by_corr(f, x->out[i].corr);
      if (o) o->delivered = true;
    }
  }
  out_pop(x, n);
}

static void send_on(bf *f, rec *x, uint8_t b);
static void ev_send(bf *f, uint8_t a, uint8_t b) {
  for (int n = 0; n < f->nrec; n++) {
    rec *y = &f->r[(a + n) % f->nrec];
    if (!y->closed && !y->dead && y->nout > 0) {
      send_on(f, y, b);
      return;
    }
  }
}

static void send_on(bf *f, rec *x, uint8_t b) {
  switch (b % 8) {
  case 0:
  case 1: /* everything written */
  case 2:
    deliver(f, x, x->nout);
    if (!x->control) x->reply_flushed = true;
    ho_broker_conn_flushed(f->b, x->h, f->now);
    break;
  case 3: /* one item written */
    deliver(f, x, 1);
    if (x->nout == 0) {
      if (!x->control) x->reply_flushed = true;
      ho_broker_conn_flushed(f->b, x->h, f->now);
    }
    break;
  case 4: /* would block */
    break;
  case 5: /* connection error */
    x->dead = true;
    x->nout = 0;
    ho_broker_conn_error(f->b, x->h, (b & 8) ? HO_ERR_IO : HO_ERR_PARTIAL_SEND, f->now);
    break;
  default: { /* sendmsg refused: drop the SEND_FD and its offer WRITE */
    if (!x->control || !x->out[0].send_fd) break;
    uint64_t corr = x->out[0].corr;
    int drop = 1;
    if (x->nout > 1 && !x->out[1].send_fd && x->out[1].corr == corr) drop = 2;
    out_pop(x, drop);
    int err = (b & 8) ? HO_ERR_PERMISSION : (b & 16) ? HO_ERR_FD_EXHAUSTED
                                                    : HO_ERR_INVALID_ARGUMENT;
    CHECK(ho_broker_transfer_failed(f->b, x->h, corr, err, f->now) == HO_OK,
          "transfer_failed refused");
    if (x->nout == 0) ho_broker_conn_flushed(f->b, x->h, f->now);
    break;
  }
  }
}

static void ev_control(bf *f, uint8_t a, uint8_t b) {
  rec *k = pick(f, a, 1);
  if (k == NULL || k->dead) return;
  if (k->connected) {
    CHECK(ho_broker_control_connected(f->b, k->h, f->now) == HO_ERR_INVALID_ARGUMENT,
          "control_connected twice accepted");
    return;
  }
  if (b & 1) {
    k->dead = true;
    ho_broker_conn_error(f->b, k->h, (b & 2) ? HO_ERR_PERMISSION : HO_ERR_IO, f->now);
    return;
  }
  CHECK(ho_broker_control_connected(f->b, k->h, f->now) == HO_OK, "control_connected failed");
  k->connected = true;
}

static void feed_control(bf *f, rec *k, const uint8_t *p, size_t len, uint8_t split) {
  int rc;
  if (split && len > 1) {
    size_t cut = split % len;
    rc = ho_broker_control_data(f->b, k->h, p, cut, f->now);
    take_actions(f);
    if (k->closed) return;
    rc = ho_broker_control_data(f->b, k->h, p + cut, len - cut, f->now);
  } else {
    rc = ho_broker_control_data(f->b, k->h, p, len, f->now);
  }
  CHECK(rc == HO_OK || (rc == HO_ERR_STATE && !k->connected), "control_data: %d", rc);
}

/* What is fed is what counts: an ACK frame that decodes as accepted, with
 * the token and correlation id of an offer on this control connection,
 * allows that client's legacy ready frame (a flipped bit may well leave an
 * ACK valid). */
static void note_ack(bf *f, rec *k, const uint8_t *buf, size_t len) {
  ho_any_msg m;
  if (ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, buf, len, NULL, &m) != HO_OK) return;
  offer_rec *o = offer_by_corr(f, m.ack.correlation_id);
  if (o && m.ack.accepted && k == &f->r[o->ctl] &&
      memcmp(m.ack.token, o->token, HO_TOKEN_BYTES) == 0)
    f->r[o->client].accepted_ack = true;
}

static void ev_ack(bf *f, uint8_t a, uint8_t b, uint8_t c) {
  if (f->noffer == 0) return;
  offer_rec *o = &f->o[a % f->noffer];
  rec *k = &f->r[o->ctl];
  if (b & 0x80) k = pick(f, c, 1); /* on any control connection */
  if (k == NULL || k->closed || k->dead) return;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, o->token, HO_TOKEN_BYTES);
  m.ack.correlation_id = o->corr;
  m.ack.accepted = (b & 1) == 0;
  if (b & 2) m.ack.backend_capabilities = HO_BACKEND_CAP_BACKEND_READY;
  if (!m.ack.accepted) snprintf(m.ack.error_detail, sizeof m.ack.error_detail, "SIDEBAND_MISMATCH");
  bool right = true;
  switch ((b >> 2) & 7) {
  case 1: m.ack.token[c & 15] ^= (uint8_t)(1u << (c >> 4 & 7)); right = false; break;
  case 2: m.ack.correlation_id += 1 + (c & 3); right = false; break;
  case 3: m.ack.correlation_id = (c & 1) ? 0 : UINT64_MAX - c; right = false; break;
  default: break;
  }
  /* A backend can only echo the token of an offer it has received. */
  if (right && !o->delivered) return;
  uint8_t buf[256];
  size_t len = 0;
  if (ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, &m, buf, sizeof buf, &len) != HO_OK) return;
  if (((b >> 2) & 7) == 4) buf[(size_t)c % len] ^= (uint8_t)(1u << (c & 7)); /* flipped */
  if (((b >> 2) & 7) == 5) len = 1 + (size_t)c % len; /* truncated (rest never comes) */
  note_ack(f, k, buf, len);
  memcpy(f->last_ack, buf, len);
  f->last_ack_len = len;
  f->last_ack_ctl = (int)(k - f->r);
  feed_control(f, k, buf, len, (b & 0x40) ? c : 0);
}

static void ev_control_bytes(bf *f, uint8_t a, uint8_t b, uint8_t c) {
  rec *k = pick(f, a, 1);
  if (k == NULL || k->dead) return;
  if (b & 1) { /* duplicate of the last ACK */
    if (f->last_ack_len == 0) return;
    note_ack(f, k, f->last_ack, f->last_ack_len);
    feed_control(f, k, f->last_ack, f->last_ack_len, 0);
    return;
  }
  uint8_t g[6] = {(uint8_t)(b >> 1 & 1 ? 1 : b), c, (uint8_t)(c >> 3), 0, 0, c};
  feed_control(f, k, g, 1 + (size_t)(b >> 2 & 3) + (c & 1), 0);
}

static void ev_eof(bf *f, uint8_t a, uint8_t b) {
  rec *x = pick(f, a, 2);
  if (x == NULL) return;
  bool was = x->dead;
  x->dead = true;
  x->nout = 0;
  CHECK(ho_broker_conn_error(f->b, x->h, (b & 1) ? HO_ERR_IO : HO_ERR_CLOSED, f->now) == HO_OK,
        "conn_error refused");
  (void)was;
}

static void fire_if_due(bf *f) {
  if (f->armed != 0 && f->now >= f->armed) {
    f->armed = 0; /* fired; the core re-arms if anything is left */
    ho_broker_timer(f->b, f->now);
  }
}

static void ev_advance(bf *f, uint8_t a, uint8_t b) {
  uint64_t step;
  switch (a & 3) {
  case 0: step = (uint64_t)b * 10000u; break;      /* up to 2.5 ms */
  case 1: step = (uint64_t)b * MS; break;          /* up to 255 ms */
  case 2: step = (uint64_t)b * 100u * MS; break;   /* up to 25.5 s */
  default:                                         /* to the armed deadline */
    step = f->armed > f->now ? f->armed - f->now + (b & 1) : 0;
    break;
  }
  f->now += step;
  /* (a & 4): the shell handles other events before its timer (a late fire):
   * an ACK can then arrive after its deadline, before the expiry ran. */
  if (!(a & 4)) fire_if_due(f);
}

/* Many clients at once, each with a whole Hello asking for a handoff and
 * its reply written: fills the pending queue while no control connection
 * is up (FALLBACK-11 admission, queue full). */
static void ev_burst(bf *f, uint8_t n, uint8_t caps) {
  for (int i = 0; i < (n & 127); i++) {
    int before = f->nrec;
    ev_open(f, (uint8_t)(caps & 4 ? 0 : 1), 0);
    take_actions(f);
    if (f->nrec == before) return;
    rec *x = &f->r[f->nrec - 1];
    if (x->closed) continue;
    hello_on(x, (uint8_t)(1 | (caps & 2)), 0);
    for (int j = 0; j < 4 && !x->closed; j++) {
      bytes_on(f, x, 0);
      take_actions(f);
    }
    if (!x->closed && !x->dead && x->nout > 0) send_on(f, x, 0);
    take_actions(f);
  }
}

static void step(bf *f, uint8_t op, uint8_t a, uint8_t b, uint8_t c) {
#ifdef HO_FUZZ_REPLAY_MAIN
  if (getenv("HO_FUZZ_TRACE"))
    fprintf(stderr, "t=%llums op=%u a=%u b=%u c=%u\n", (unsigned long long)(f->now / MS),
            op % 16u, a, b, c);
#endif
  switch (op % 16) {
  case 0: ev_open(f, a, b); break;
  case 1: ev_hello(f, a, b, c); break;
  case 2:
  case 3: ev_client_bytes(f, a, b); break;
  case 4: ev_garbage(f, a, b, c); break;
  case 5:
  case 6: ev_send(f, a, b); break;
  case 7: ev_control(f, a, b); break;
  case 8:
  case 9: ev_ack(f, a, b, c); break;
  case 10: ev_control_bytes(f, a, b, c); break;
  case 11: if ((b & 7) == 0) ev_eof(f, a, c); break;
  case 12: ev_advance(f, a, b); break;
  case 13: ho_broker_timer(f->b, f->now); break; /* spurious fire: harmless */
  case 14: ho_broker_set_fd_pressure(f->b, a & 1); break;
  case 15:
    if (a == 0xA5 && b == 0x5A && !f->shut) {
      f->shut = true;
      ho_broker_shutdown(f->b, f->now);
    } else if ((a & 0xC0) == 0x40) {
      ev_burst(f, b, c);
    }
    break;
  }
  take_actions(f);
  check_counters(f);
}

static void finish(bf *f) {
  /* Every client goes away; the shell keeps firing the timer when due. */
  for (int i = 0; i < f->nrec; i++) {
    rec *x = &f->r[i];
    if (x->closed || x->control || x->dead) continue;
    x->dead = true;
    x->nout = 0;
    ho_broker_conn_error(f->b, x->h, HO_ERR_CLOSED, f->now);
    take_actions(f);
  }
  check_counters(f);
  for (int n = 0; n < 64 && f->armed != 0; n++) {
    if (f->now < f->armed) f->now = f->armed;
    uint64_t was = f->armed;
    f->armed = 0;
    ho_broker_timer(f->b, f->now);
    take_actions(f);
    check_counters(f);
    if (f->armed == was) f->now++;
  }
  /* Checked before any extra fire: a deadline the core forgot to arm
   * would leave a client open here. */
  ho_broker_stats st;
  for (int pass = 0; pass < 2; pass++) {
    ho_broker_get_stats(f->b, &st);
    for (int i = 0; i < f->nrec; i++)
      CHECK(f->r[i].closed || f->r[i].control, "client fd %d never closed (spec: BROKER-1)",
            f->r[i].fd);
    CHECK(st.tokens_pending == 0, "%llu tokens still pending (spec: TOKEN-7)",
          (unsigned long long)st.tokens_pending);
    CHECK(st.in_flight == 0, "attempts still in flight");
    f->now += 3600ull * 1000 * MS;
    ho_broker_timer(f->b, f->now);
    take_actions(f);
    check_counters(f);
  }
#ifdef HO_FUZZ_REPLAY_MAIN
  if (getenv("HO_FUZZ_TRACE")) { /* what a seed reached, for writing seeds */
    fprintf(stderr, "attempted=%llu completed=%llu ready=%llu late=%llu offers=%d fallbacks:",
            (unsigned long long)st.handoffs_attempted, (unsigned long long)st.handoffs_completed,
            (unsigned long long)st.handoffs_backend_ready, (unsigned long long)st.late_acks,
            f->noffer);
    for (int i = 0; i < HO_BROKER_REASON_COUNT; i++)
      if (st.fallbacks[i]) fprintf(stderr, " %s=%llu", ho_broker_reason_name(i),
                                   (unsigned long long)st.fallbacks[i]);
    fprintf(stderr, "\n");
  }
#endif
  ho_broker_shutdown(f->b, f->now);
  take_actions(f);
  check_counters(f);
  for (int i = 0; i < f->nrec; i++)
    CHECK(f->r[i].closed, "fd %d not closed after shutdown (spec: BROKER-7)", f->r[i].fd);
  ho_broker_get_stats(f->b, &st);
  CHECK(st.open_conns == 0, "handles left after shutdown");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < BF_CFG_BYTES) return 0;
  bf *f = &F;
  memset(f, 0, offsetof(bf, o));
  const uint8_t *g = data;
  f->wall_base = 1700000000000ull;
  f->rnd_seed = (uint64_t)g[6] << 8 | g[7];
  f->rnd_fail_every = (g[0] & 0x20) ? 3u + (g[7] & 7) : 0;
  f->now = 1 * MS;
  ho_broker_config *cfg = &f->cfg;
  cfg->service = "echo";
  cfg->backend_pipe = "/run/echo/backend.sock";
  cfg->handoff_endpoint = (g[0] & 1) != 0 || (g[0] & 0x80) != 0;
  cfg->unix_ms = (g[0] & 4) ? wall_ms : NULL;
  cfg->clock_user = f;
  cfg->peer_policy = (ho_peer_policy)(((g[0] >> 3) & 3) % 3);
  cfg->self_uid = 1000;
  cfg->peer_uid = 1001;
  cfg->ack_timeout_ms = (uint64_t)(1 + g[1]) * MS;
  cfg->token_ttl_ms = (uint64_t)(1 + g[2]) * 10 * MS;
  cfg->max_pending = g[3] & 7;
  cfg->max_hello_waiting = g[3] >> 4;
  cfg->hello_timeout_ms = (uint64_t)g[4] * 10 * MS;
  cfg->random = fake_random;
  cfg->random_ctx = f;
  cfg->log_level = (g[0] & 0x40) ? HO_BROKER_LOG_DEBUG : HO_BROKER_LOG_ERROR;
  cfg->log = log_fn;
  cfg->log_user = f;
  cfg->endpoint_name = (g[5] & 1) ? "echo-backend" : NULL;
  cfg->hello_rate = (g[5] >> 1) & 3; /* 0: the default (256/s per pid) */
  int rc = ho_broker_new(cfg, f->now, &f->b);
  if (rc != HO_OK) {
    CHECK(rc == HO_ERR_RANDOM, "ho_broker_new: %d", rc);
    return 0;
  }
  take_actions(f);
  size_t ops = 0;
  for (size_t off = BF_CFG_BYTES; off + BF_OP_BYTES <= size && ops < MAX_OPS;
       off += BF_OP_BYTES, ops++)
    step(f, data[off], data[off + 1], data[off + 2], data[off + 3]);
  finish(f);
  ho_broker_del(f->b);
  f->b = NULL;
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#define HO_FUZZ_NAME "fuzz_broker_core"
#include "fuzz_replay_main.h"
#endif
