/* The fake shell of fuzz_broker_core.c: its records of connections and
 * output queues, and the checks of every action the broker core emits and
 * of its counters (the invariants listed in fuzz_broker_core.c). Included
 * by that file only. */
#ifndef HO_FUZZ_BROKER_SHELL_MODEL_H
#define HO_FUZZ_BROKER_SHELL_MODEL_H

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

#define BF_CFG_BYTES 8
#define BF_OP_BYTES 4
#define MAX_OPS 2048
#define CTL_RESERVE (MAX_OPS + 8)  /* at most one control connection per event */
#define MAX_RECS (2 * CTL_RESERVE)
#define MAX_OFFERS MAX_OPS
#define MAX_OUT (2 * 128 + 8)      /* SEND_FD + offer per offer in flight (128) */
#define IN_CAP 512
#define MS 1ull /* the cores' clock is in milliseconds */


static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_broker_core: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) fail(__VA_ARGS__);                                                                \
  } while (0)

/* One queued output item of a connection (the shell's per-connection queue). */
typedef struct out_item {
  bool send_fd;
  int peer;          /* SEND_FD: client record */
  uint64_t corr;     /* SEND_FD and the offer WRITE */
} out_item;

typedef struct rec {
  bool used, control, closed, dead, connected;
  ho_broker_conn *h;
  int fd; /* fake descriptor number (never a real one) */
  /* client */
  uint8_t in[IN_CAP]; /* bytes the client has sent, not yet read by the shell */
  size_t in_len, in_off;
  int writes;          /* WRITE actions seen */
  bool negotiated_token, ready_mode, fd_sent, reply_flushed, accepted_ack;
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t corr;
  /* output queue */
  out_item out[MAX_OUT];
  int nout;
} rec;

typedef struct offer_rec {
  int ctl, client;
  uint64_t corr;
  uint8_t token[HO_TOKEN_BYTES];
  bool delivered; /* SEND_FD and offer WRITE executed by the shell */
  bool ready;
} offer_rec;

typedef struct bf {
  /* everything up to `r` is cleared for each input; records when used */
  ho_broker *b;
  ho_broker_config cfg;
  uint64_t now, armed, wall_base;
  uint64_t rnd_counter, rnd_seed;
  unsigned rnd_fail_every;
  int nrec;
  int nctl;                /* control records: ctls[0..nctl) */
  uint64_t open, open_clients; /* records without their CLOSE yet */
  int noffer;
  uint64_t attempts, no_token;
  uint8_t last_ack[256];
  size_t last_ack_len;
  int last_ack_ctl;
  bool shut;
  offer_rec o[MAX_OFFERS];
  int ctls[CTL_RESERVE];
  rec r[MAX_RECS];
} bf;

static bf F; /* static: large, keeps the fuzzer's stack small */

static uint64_t wall_ms(void *u) {
  bf *f = u;
  return f->wall_base + f->now / MS;
}

/* Unique tokens (a CSPRNG never repeats one, spec: TOKEN-1), or a failure. */
static int fake_random(void *ctx, uint8_t *buf, size_t len) {
  bf *f = ctx;
  f->rnd_counter++;
  if (f->rnd_fail_every && f->rnd_counter % f->rnd_fail_every == 0) return HO_ERR_RANDOM;
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)((i < 8 ? f->rnd_counter >> (8 * i) : f->rnd_seed >> (8 * (i - 8))) ^
                       (i * 37u));
  return HO_OK;
}

static bool line_has_token(const char *line, const uint8_t *t) {
  char hex[2 * HO_TOKEN_BYTES + 1];
  for (size_t i = 0; i < HO_TOKEN_BYTES; i++) snprintf(hex + 2 * i, 3, "%02x", t[i]);
  if (strstr(line, hex) != NULL) return true;
  return memmem(line, strlen(line), t, HO_TOKEN_BYTES) != NULL;
}

/* spec: SEC-8 — no token in logs, as hex or raw. Linear in the line: only a
 * run of 32 hex digits is compared with every token seen; raw bytes with
 * the tokens of the last 8 clients with one (among the last 64). */
static void log_fn(void *u, int level, const char *line) {
  bf *f = u;
  (void)level;
  size_t run = 0;
  bool long_hex = false;
  for (const char *p = line; *p; p++) {
    char ch = *p;
    bool hx = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    run = hx ? run + 1 : 0;
    if (run >= 2 * HO_TOKEN_BYTES) long_hex = true;
  }
  int recent = 0;
  for (int i = f->nrec - 1; i >= 0 && (long_hex || i >= f->nrec - 64); i--) {
    if (!f->r[i].negotiated_token) continue;
    if (!long_hex && ++recent > 8) break;
    CHECK(!line_has_token(line, f->r[i].token), "a log line carries a token: %s", line);
  }
}

static rec *rec_of(bf *f, void *user) {
  rec *x = user;
  CHECK(x >= f->r && x < f->r + f->nrec && x->used, "action with an unknown user pointer");
  return x;
}

static int new_rec(bf *f, bool control) {
  if (f->nrec >= (control ? MAX_RECS : MAX_RECS - CTL_RESERVE)) return -1;
  if (control && f->nctl >= CTL_RESERVE) return -1;
  int i = f->nrec++;
  f->open++;
  if (control) f->ctls[f->nctl++] = i;
  else f->open_clients++;
  rec *x = &f->r[i];
  memset(x, 0, sizeof *x);
  x->used = true;
  x->control = control;
  x->fd = 1000000 + i;
  return i;
}

static void out_push(rec *x, bool send_fd, int peer, uint64_t corr) {
  CHECK(x->nout < MAX_OUT, "output queue overflow on fd %d", x->fd);
  x->out[x->nout++] = (out_item){.send_fd = send_fd, .peer = peer, .corr = corr};
}

static void out_pop(rec *x, int n) {
  memmove(x->out, x->out + n, (size_t)(x->nout - n) * sizeof x->out[0]);
  x->nout -= n;
}

static offer_rec *offer_by_corr(bf *f, uint64_t corr) {
  for (int i = 0; i < f->noffer; i++)
    if (f->o[i].corr == corr) return &f->o[i];
  return NULL;
}

/* ---- taking and checking actions ---------------------------------------- */

static void check_client_write(bf *f, rec *c, const ho_broker_action *a) {
  CHECK(!c->dead, "WRITE to client fd %d after its EOF was reported", c->fd);
  c->writes++;
  ho_any_msg m;
  if (c->writes == 1) {
    CHECK(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, a->bytes, a->len, NULL, &m) ==
              HO_OK,
          "first write to a client is not a HelloReply");
    if (m.hello_reply.which == HO_REPLY_NEGOTIATED) {
      const ho_negotiated *n = &m.hello_reply.negotiated;
      CHECK(n->backend_pipe[0] != '\0', "Negotiated without backend_pipe");
      CHECK(n->server_capabilities & HO_CAP_EARLY_DATA, "Negotiated without CAP_EARLY_DATA");
      bool tok = n->handle_passed_token_len == HO_TOKEN_BYTES;
      CHECK(tok == ((n->server_capabilities & HO_CAP_HANDLE_PASSING) != 0),
            "CAP_HANDLE_PASSING and the token disagree");
      CHECK(tok || !(n->server_capabilities & HO_CAP_BACKEND_READY),
            "CAP_BACKEND_READY without a token");
      if (tok) {
        c->negotiated_token = true;
        c->ready_mode = (n->server_capabilities & HO_CAP_BACKEND_READY) != 0;
        memcpy(c->token, n->handle_passed_token, HO_TOKEN_BYTES);
        f->attempts++;
      } else {
        f->no_token++;
      }
    }
    return;
  }
  /* spec: READY-8 — backend-ready: nothing after Negotiated. */
  CHECK(c->writes == 2 && c->negotiated_token && !c->ready_mode && c->fd_sent,
        "unexpected write #%d to client fd %d", c->writes, c->fd);
  CHECK(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, a->bytes, a->len, NULL, &m) == HO_OK,
        "second write to a client is not the ready frame");
  CHECK(m.ack.accepted && m.ack.correlation_id == c->corr &&
            memcmp(m.ack.token, c->token, HO_TOKEN_BYTES) == 0,
        "ready frame does not carry the negotiated token and correlation id");
  CHECK(c->accepted_ack, "ready written without an accepted ACK (spec: ACK-2)");
}

static void take_actions(bf *f) {
  ho_broker_action a;
  int expect_offer_ctl = -1;
  uint64_t expect_corr = 0;
  while (ho_broker_next_action(f->b, &a)) {
    if (expect_offer_ctl >= 0) {
      rec *k = rec_of(f, a.user);
      CHECK(a.type == HO_BACT_WRITE && k == &f->r[expect_offer_ctl] &&
                a.correlation_id == expect_corr,
            "the offer frame does not follow its sideband at once (spec: XFER-4)");
    }
    switch (a.type) {
    case HO_BACT_OPEN_CONTROL: {
      CHECK(a.conn != NULL && a.user == NULL, "OPEN_CONTROL without a fresh handle");
      CHECK(ho_broker_conn_is_control(a.conn), "OPEN_CONTROL of a non-control handle");
      int i = new_rec(f, true);
      if (i < 0) fail("too many records");
      f->r[i].h = a.conn;
      ho_broker_conn_set_user(a.conn, &f->r[i]);
      break;
    }
    case HO_BACT_WRITE: {
      rec *x = rec_of(f, a.user);
      CHECK(!x->closed, "WRITE on closed fd %d", x->fd);
      CHECK(a.conn == x->h, "WRITE handle and user disagree");
      CHECK(a.len > 0 && a.bytes != NULL, "empty WRITE");
      if (x->control) {
        CHECK(!x->dead, "WRITE on control fd %d after its EOF", x->fd);
        if (expect_offer_ctl >= 0) {
          ho_envelope env;
          ho_any_msg m;
          CHECK(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, a.bytes, a.len, &env, &m) ==
                    HO_OK,
                "offer frame does not decode");
          offer_rec *o = offer_by_corr(f, expect_corr);
          CHECK(o && m.offer.correlation_id == expect_corr && env.request_id == expect_corr &&
                    memcmp(m.offer.token, o->token, HO_TOKEN_BYTES) == 0,
                "offer frame and sideband disagree");
          bool rf = (m.offer.offer_flags & HO_OFFER_FLAG_BACKEND_READY) != 0;
          CHECK(rf == f->r[o->client].ready_mode, "offer flag and Negotiated mode disagree");
          CHECK(!rf || env.deadline_unix_ms != 0, "backend-ready offer without deadline");
          o->ready = rf;
          expect_offer_ctl = -1;
        } else {
          fail("a control WRITE that is not an offer");
        }
        out_push(x, false, -1, a.correlation_id);
      } else {
        check_client_write(f, x, &a);
        out_push(x, false, -1, 0);
        x->reply_flushed = false;
      }
      break;
    }
    case HO_BACT_SEND_FD: {
      rec *k = rec_of(f, a.user);
      rec *c = rec_of(f, a.peer_user);
      CHECK(k->control && !k->closed && !k->dead && k->connected,
            "SEND_FD on a control connection that is not up");
      CHECK(!c->control && !c->closed, "SEND_FD of a closed or control fd %d", c->fd);
      CHECK(!c->dead, "SEND_FD of client fd %d after its EOF (spec: BROKER-5)", c->fd);
      CHECK(!c->fd_sent, "client fd %d passed twice", c->fd);
      CHECK(c->negotiated_token, "SEND_FD for a client without a token");
      /* spec: READY-7 — Negotiated entirely written first. */
      CHECK(c->nout == 0 && c->reply_flushed, "SEND_FD before Negotiated was written");
      CHECK(a.len == HO_TOKEN_BYTES && memcmp(a.bytes, c->token, HO_TOKEN_BYTES) == 0,
            "sideband is not the negotiated token (spec: XFER-3)");
      CHECK(a.correlation_id != 0, "correlation id 0 (spec: ACK-12)");
      CHECK(offer_by_corr(f, a.correlation_id) == NULL, "correlation id reused");
      c->fd_sent = true;
      c->corr = a.correlation_id;
      if (f->noffer < MAX_OFFERS) {
        offer_rec *o = &f->o[f->noffer++];
        memset(o, 0, sizeof *o);
        o->ctl = (int)(k - f->r);
        o->client = (int)(c - f->r);
        o->corr = a.correlation_id;
        memcpy(o->token, a.bytes, HO_TOKEN_BYTES);
      } else {
        fail("too many offers");
      }
      out_push(k, true, (int)(c - f->r), a.correlation_id);
      expect_offer_ctl = (int)(k - f->r);
      expect_corr = a.correlation_id;
      break;
    }
    case HO_BACT_CLOSE: {
      rec *x = rec_of(f, a.user);
      CHECK(a.conn == NULL, "CLOSE still names a live handle");
      CHECK(!x->closed, "fd %d closed twice", x->fd);
      x->closed = true;
      x->nout = 0; /* the shell drops what was queued */
      f->open--;
      if (!x->control) f->open_clients--;
      break;
    }
    case HO_BACT_SET_TIMER:
      f->armed = a.deadline_ms;
      break;
    default:
      fail("unknown action %d", (int)a.type);
    }
  }
  CHECK(expect_offer_ctl < 0, "sideband without its offer frame");
  /* Once the actions are taken, no open control connection may still queue
   * a SEND_FD of a closed client: a shell that does not dup queued
   * descriptors would pass a closed (or reused) number. */
  for (int i = 0; i < f->nctl; i++) {
    rec *k = &f->r[f->ctls[i]];
    if (k->closed) continue;
    for (int j = 0; j < k->nout; j++)
      CHECK(!(k->out[j].send_fd && f->r[k->out[j].peer].closed),
            "client fd %d closed while its SEND_FD is still queued on control fd %d",
            f->r[k->out[j].peer].fd, k->fd);
  }
}

static uint64_t sum_fallbacks(const ho_broker_stats *st) {
  uint64_t s = 0;
  for (int i = 0; i < HO_BROKER_REASON_COUNT; i++) s += st->fallbacks[i];
  return s;
}

static void check_counters(bf *f) {
  ho_broker_stats st;
  ho_broker_get_stats(f->b, &st);
  uint64_t open = f->open, open_clients = f->open_clients;
  CHECK(st.open_conns == open, "open_conns %llu, shell sees %llu",
        (unsigned long long)st.open_conns, (unsigned long long)open);
  CHECK(st.handoffs_attempted == f->attempts, "attempted %llu, tokens negotiated %llu",
        (unsigned long long)st.handoffs_attempted, (unsigned long long)f->attempts);
  CHECK(st.negotiated == f->attempts + f->no_token, "negotiated counter");
  uint64_t fb = sum_fallbacks(&st);
  CHECK(fb >= f->no_token, "fallbacks below Negotiated without token");
  CHECK(st.handoffs_attempted == st.handoffs_completed + (fb - f->no_token) + st.in_flight,
        "attempted %llu != completed %llu + fallbacks %llu + in flight %llu",
        (unsigned long long)st.handoffs_attempted, (unsigned long long)st.handoffs_completed,
        (unsigned long long)(fb - f->no_token), (unsigned long long)st.in_flight);
  CHECK(st.tokens_pending <= st.in_flight, "tokens pending %llu > in flight %llu",
        (unsigned long long)st.tokens_pending, (unsigned long long)st.in_flight);
  CHECK(st.in_flight <= open_clients, "in flight %llu > open clients %llu",
        (unsigned long long)st.in_flight, (unsigned long long)open_clients);
}

#endif
