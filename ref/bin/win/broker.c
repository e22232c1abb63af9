/* handoff-broker.exe — the reference broker on Windows: the shared broker
 * core (handoff/broker.h) behind named pipes, with the staged Windows
 * handoff (handoff/winxfer.h) for the transfer itself. Same flags and log
 * lines as the Linux program; endpoints are bare pipe names.
 *
 * Prototype against the current core API (issue #14): the core emits the
 * Unix SEND_FD (sideband) and then the offer WRITE with handle_value 0. This
 * shell turns SEND_FD into DuplicateHandle into the verified backend and
 * rewrites handle_value in the offer that follows (the core's envelope,
 * deadline and token untouched); an ACK is read by the core and peeked at
 * here for the stage accounting. With a DUPLICATE action and
 * ho_broker_handle_duplicated() in the core (see the report) the rewrite
 * goes. Writes are synchronous with a short deadline (a prototype; the
 * pipe buffers are 64 KiB and every frame is small).
 * spec: SEC-1 SEC-2 SEC-10 XFER-30 XFER-31 XFER-33 XFER-39 XFER-41 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/token.h"
#include "handoff/winpipe.h"
#include "handoff/winxfer.h"
#include "winloop.h"

typedef enum { K_CLIENT = 1, K_CONTROL } kind;

typedef struct xfer {
  struct xfer *next;
  uint64_t corr;
  struct bconn *client;
  ho_wx wx;
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t value;
  bool drop_offer;
} xfer;

typedef struct bconn {
  struct bconn *next;
  kind kind;
  HANDLE h; /* NULL: not connected (a control that failed to dial) */
  ho_broker_conn *hc;
  wl_op rd;
  uint8_t rbuf[4096];
  bool closed, errored;
  /* control only */
  ho_win_target target;
  xfer *xfers;
  ho_frame_reader peek;
  uint8_t *peek_buf;
  bool peek_dead;
} bconn;

static struct {
  const char *listen, *endpoint, *backend_pipe, *service;
  ho_broker_config cfg;
  ho_broker *b;
  ho_pipe_listener l;
  bconn *conns;
  uint64_t deadline_ns;
  uint64_t ack_ms;
  ho_wx_counters wxc;
  int level;
} G;

static void log_line(void *u, int level, const char *line) {
  (void)u;
  wl_log("handoff-broker", level, line);
}

static void slog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(int level, const char *fmt, ...) {
  if (level > G.level) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  wl_log("handoff-broker", level, line);
}

static bconn *conn_new(kind k, HANDLE h) {
  bconn *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  if (wl_op_init(&c->rd) != HO_OK) {
    free(c);
    return NULL;
  }
  c->kind = k;
  c->h = h;
  c->target.process = c->target.ctl = HO_NO_HANDLE;
  c->next = G.conns;
  G.conns = c;
  return c;
}

static xfer *find_xfer(bconn *k, uint64_t corr) {
  for (xfer *x = k->xfers; x; x = x->next)
    if (x->corr == corr) return x;
  return NULL;
}

/* Run the stage machine's actions that need I/O here. */
static void drive(bconn *k, xfer *x) {
  ho_wx_action a;
  while (ho_wx_next(&x->wx, &a)) {
    switch (a.type) {
    case HO_WX_ACT_DUPLICATE: {
      uint64_t v = 0;
      int rc = ho_win_dup_into(&k->target, (ho_handle)x->client->h, &v);
      slog(HO_BROKER_LOG_DEBUG, "duplicate corr=%llu client=0x%llx backend_pid=%lu value=0x%llx result=%s win32=%lu",
           (unsigned long long)x->corr, (unsigned long long)(uintptr_t)x->client->h,
           (unsigned long)k->target.pid, (unsigned long long)v, ho_errname(rc),
           rc == HO_OK ? 0ul : ho_win_last_error());
      ho_wx_duplicated(&x->wx, rc, v);
      break;
    }
    case HO_WX_ACT_WRITE_OFFER: x->value = a.value; break; /* the core's WRITE follows */
    case HO_WX_ACT_CLOSE_IN_TARGET: {
      int rc = ho_win_close_in(&k->target, a.value); /* spec: XFER-33 */
      slog(HO_BROKER_LOG_INFO, "duplicate-closed-in-backend corr=%llu value=0x%llx result=%s",
           (unsigned long long)x->corr, (unsigned long long)a.value, ho_errname(rc));
      ho_wx_closed_in_target(&x->wx, rc);
      break;
    }
    case HO_WX_ACT_END: {
      const ho_wx_outcome *o = ho_wx_outcome_of(&x->wx);
      slog(HO_BROKER_LOG_INFO, "handoff-stages corr=%llu outcome=%s stage=%s err=%s dup=%s value=0x%llx",
           (unsigned long long)x->corr, ho_wx_reason_name(o->reason), ho_wx_stage_name(o->stage),
           ho_errname(o->err), ho_wx_dup_fate_name(o->dup), (unsigned long long)o->value);
      break;
    }
    default: break; /* the token: the core consumes and revokes it */
    }
  }
}

static void xfer_free(bconn *k, xfer *x) {
  for (xfer **p = &k->xfers; *p; p = &(*p)->next)
    if (*p == x) {
      *p = x->next;
      break;
    }
  SecureZeroMemory(x->token, sizeof x->token);
  free(x);
}

/* The core ended an attempt our stage machine still runs: say where. */
static void xfer_ended_by_core(bconn *k, xfer *x) {
  if (!ho_wx_outcome_of(&x->wx)->ended) {
    ho_wx_timer(&x->wx, wl_now_ms());
    if (!ho_wx_outcome_of(&x->wx)->ended) ho_wx_control_lost(&x->wx, HO_ERR_CLOSED);
    drive(k, x);
  }
}

/* Rewrite handle_value in the core's offer frame. */
static int patch_offer(const uint8_t *in, size_t len, uint64_t value, uint8_t *out, size_t cap,
                       size_t *olen) {
  const uint8_t *body;
  size_t blen;
  int rc = ho_frame_parse(in, len, 0, &body, &blen);
  if (rc != HO_OK) return rc;
  ho_envelope env;
  ho_offer o;
  if ((rc = ho_envelope_decode(HO_CODEC_PROTOBUF_C, body, blen, &env)) != HO_OK ||
      (rc = ho_offer_decode(HO_CODEC_PROTOBUF_C, env.payload, env.payload_len, &o)) != HO_OK)
    return rc;
  o.handle_value = value; /* spec: XFER-31 */
  uint8_t payload[512];
  size_t plen;
  if ((rc = ho_offer_encode(HO_CODEC_PROTOBUF_C, &o, payload, sizeof payload, &plen)) != HO_OK)
    return rc;
  env.payload = payload;
  env.payload_len = plen;
  if (cap < HO_FRAME_HEADER_BYTES) return HO_ERR_BUFFER_TOO_SMALL;
  if ((rc = ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, out + HO_FRAME_HEADER_BYTES,
                               cap - HO_FRAME_HEADER_BYTES, &blen)) != HO_OK)
    return rc;
  if ((rc = ho_frame_write_header(out, blen)) != HO_OK) return rc;
  *olen = HO_FRAME_HEADER_BYTES + blen;
  return HO_OK;
}

static void open_control(ho_broker_conn *hc) {
  bconn *k = conn_new(K_CONTROL, NULL);
  if (k == NULL) {
    ho_broker_conn_error(G.b, hc, HO_ERR_NOMEM, wl_now_ns());
    return;
  }
  k->hc = hc;
  ho_broker_conn_set_user(hc, k);
  ho_handle h;
  int rc = ho_pipe_connect(G.endpoint, 2000, &h);
  if (rc == HO_OK) {
    k->h = (HANDLE)h;
    /* spec: SEC-10 XFER-30 — the backend is the pipe's server: same user,
     * and the process we will duplicate into. */
    rc = ho_pipe_peer_check(h, HO_PIPE_CLIENT_SIDE, HO_PEER_SAME_UID, NULL);
    if (rc == HO_OK) rc = ho_win_target_open(h, &k->target);
    if (rc == HO_ERR_PEER_REJECTED || rc == HO_ERR_PEER_CREDENTIALS) rc = HO_ERR_PERMISSION;
  }
  if (rc != HO_OK) {
    slog(HO_BROKER_LOG_WARN, "control dial failed endpoint=%s reason=%s win32=%lu", G.endpoint,
         ho_errname(rc), ho_win_last_error());
    ho_broker_conn_error(G.b, hc, rc, wl_now_ns());
    return;
  }
  k->peek_buf = malloc(64 * 1024);
  if (k->peek_buf == NULL || ho_frame_reader_init(&k->peek, k->peek_buf, 64 * 1024, 64 * 1024) != HO_OK)
    k->peek_dead = true;
  slog(HO_BROKER_LOG_DEBUG, "control connected backend_pid=%lu", (unsigned long)k->target.pid);
  ho_broker_control_connected(G.b, hc, wl_now_ns());
}

static void do_write(const ho_broker_action *a) {
  bconn *c = a->user;
  uint64_t now = wl_now_ns();
  if (c == NULL || c->h == NULL) return;
  const uint8_t *bytes = a->bytes;
  size_t len = a->len;
  uint8_t patched[1024];
  xfer *x = c->kind == K_CONTROL && a->correlation_id ? find_xfer(c, a->correlation_id) : NULL;
  if (x != NULL) {
    if (x->drop_offer) return; /* its transfer failed: no offer */
    int rc = patch_offer(bytes, len, x->value, patched, sizeof patched, &len);
    if (rc != HO_OK) {
      ho_wx_offer_written(&x->wx, rc);
      drive(c, x);
      ho_broker_conn_error(G.b, c->hc, HO_ERR_IO, now);
      return;
    }
    bytes = patched;
  }
  int rc = ho_pipe_write_all((ho_handle)c->h, bytes, len, 2000);
  if (x != NULL) {
    slog(HO_BROKER_LOG_DEBUG, "offer corr=%llu handle_value=0x%llx written=%s",
         (unsigned long long)x->corr, (unsigned long long)x->value, ho_errname(rc));
    ho_wx_offer_written(&x->wx, rc); /* spec: XFER-33 — not written: closed in the backend */
    drive(c, x);
  }
  if (rc != HO_OK) {
    c->errored = true;
    ho_broker_conn_error(G.b, c->hc, rc, now);
  } else {
    ho_broker_conn_flushed(G.b, c->hc, now);
  }
}

static void do_send_fd(const ho_broker_action *a) {
  bconn *k = a->user, *cl = a->peer_user;
  uint64_t now = wl_now_ns();
  xfer *x = calloc(1, sizeof *x);
  if (x == NULL || k == NULL || cl == NULL) {
    free(x);
    ho_broker_transfer_failed(G.b, a->conn, a->correlation_id, HO_ERR_INVALID_ARGUMENT, now);
    return;
  }
  x->corr = a->correlation_id;
  x->client = cl;
  memcpy(x->token, a->bytes, HO_TOKEN_BYTES);
  x->next = k->xfers;
  k->xfers = x;
  ho_wx_start(&x->wx, x->corr, wl_now_ms() + G.ack_ms, &G.wxc);
  drive(k, x);
  const ho_wx_outcome *o = ho_wx_outcome_of(&x->wx);
  if (o->ended && o->stage == HO_WX_STAGE_DUPLICATE) {
    x->drop_offer = true;
    if (o->err == HO_ERR_CLOSED || o->err == HO_ERR_IO) ho_broker_conn_error(G.b, k->hc, o->err, now);
    else ho_broker_transfer_failed(G.b, k->hc, x->corr, o->err, now);
  }
}

static void do_close(const ho_broker_action *a) {
  bconn *c = a->user;
  if (c == NULL) return;
  if (c->h != NULL) wl_cancel(c->h, &c->rd);
  if (c->kind == K_CLIENT) {
    /* The attempt of this client has ended in the core. */
    for (bconn *k = G.conns; k; k = k->next)
      if (k->kind == K_CONTROL)
        for (xfer *x = k->xfers; x;) {
          xfer *nx = x->next;
          if (x->client == c) {
            xfer_ended_by_core(k, x);
            xfer_free(k, x);
          }
          x = nx;
        }
    /* spec: XFER-43 — the shutdown of a pipe: DisconnectNamedPipe (the
     * backend's duplicate, the same instance, is disconnected too). */
    if (a->shutdown) DisconnectNamedPipe(c->h);
    slog(HO_BROKER_LOG_DEBUG, "client closed handle=0x%llx shutdown=%d",
         (unsigned long long)(uintptr_t)c->h, a->shutdown);
  } else {
    while (c->xfers) {
      xfer_ended_by_core(c, c->xfers);
      xfer_free(c, c->xfers);
    }
    ho_win_target_close(&c->target);
    free(c->peek_buf);
  }
  if (c->h != NULL) CloseHandle(c->h);
  c->h = NULL;
  c->closed = true;
}

static void run_actions(void) {
  ho_broker_action a;
  while (ho_broker_next_action(G.b, &a)) {
    switch (a.type) {
    case HO_BACT_WRITE: do_write(&a); break;
    case HO_BACT_SEND_FD: do_send_fd(&a); break;
    case HO_BACT_OPEN_CONTROL: open_control(a.conn); break;
    case HO_BACT_CLOSE: do_close(&a); break;
    case HO_BACT_SET_TIMER: G.deadline_ns = a.deadline; break;
    default: break;
    }
  }
}

/* Peek at ACK frames for the stage accounting (the core decides). */
static void peek_acks(bconn *k, const uint8_t *p, size_t n) {
  while (n > 0 && !k->peek_dead) {
    size_t used = 0;
    int rc = ho_frame_reader_feed(&k->peek, p, n, &used);
    p += used;
    n -= used;
    if (rc == 0) continue;
    if (rc != 1) {
      k->peek_dead = true;
      return;
    }
    const uint8_t *body;
    size_t blen;
    ho_any_msg m;
    (void)ho_frame_reader_body(&k->peek, &body, &blen);
    if (ho_frame_decode_body(HO_CODEC_PROTOBUF_C, HO_FT_ACK, body, blen, NULL, &m) == HO_OK) {
      xfer *x = find_xfer(k, m.ack.correlation_id);
      if (x != NULL && ho_wx_ack(&x->wx, m.ack.accepted, ho_token_equal(x->token, m.ack.token),
                                 wl_now_ms()) == HO_OK)
        drive(k, x);
    }
    (void)ho_frame_reader_next(&k->peek);
  }
}

static void conn_io(bconn *c) {
  DWORD n;
  int rc = wl_result(c->h, &c->rd, &n, false);
  uint64_t now = wl_now_ns();
  if (rc != HO_OK || n == 0) {
    c->errored = true;
    ho_broker_conn_error(G.b, c->hc, rc != HO_OK ? rc : HO_ERR_CLOSED, now);
    return;
  }
  if (c->kind == K_CLIENT) {
    ho_broker_client_data(G.b, c->hc, c->rbuf, n, now);
  } else {
    peek_acks(c, c->rbuf, n);
    ho_broker_control_data(G.b, c->hc, c->rbuf, n, now);
  }
}

/* Re-arm reads: a client only for exactly what the core wants (spec:
 * FRAME-6), a control connection for whatever comes. */
static void arm_reads(void) {
  for (bconn *c = G.conns; c; c = c->next) {
    if (c->closed || c->errored || c->h == NULL || c->rd.pending || c->hc == NULL) continue;
    size_t want = c->kind == K_CLIENT ? ho_broker_client_wants(G.b, c->hc) : sizeof c->rbuf;
    if (want == 0) continue;
    if (want > sizeof c->rbuf) want = sizeof c->rbuf;
    int rc = wl_read(c->h, &c->rd, c->rbuf, (DWORD)want);
    if (rc != HO_OK) {
      c->errored = true;
      ho_broker_conn_error(G.b, c->hc, rc, wl_now_ns());
    }
  }
}

static void reap(void) {
  for (bconn **p = &G.conns; *p;) {
    bconn *c = *p;
    if (!c->closed) {
      p = &c->next;
      continue;
    }
    *p = c->next;
    wl_op_free(&c->rd);
    free(c);
  }
}

static void accept_clients(void) {
  ho_handle h;
  while (ho_pipe_listener_accept(&G.l, &h) == HO_OK) {
    ho_peer_cred pc;
    /* spec: SEC-1 — from the OS: the pipe's client pid and its token. */
    int prc = ho_pipe_peer_check(h, HO_PIPE_SERVER_SIDE, HO_PEER_ANY, &pc);
    bconn *c = conn_new(K_CLIENT, (HANDLE)h);
    if (c == NULL) {
      CloseHandle((HANDLE)h);
      continue;
    }
    slog(HO_BROKER_LOG_DEBUG, "client accepted handle=0x%llx pid=%lu", (unsigned long long)h,
         (unsigned long)pc.pid);
    if (ho_broker_client_open(G.b, c, prc == HO_OK && pc.pid ? &pc : NULL, wl_now_ns(), &c->hc) !=
        HO_OK) {
      CloseHandle((HANDLE)h);
      c->h = NULL;
      c->closed = true;
    }
    run_actions();
  }
}

static void usage(FILE *f) {
  fputs("usage: handoff-broker.exe --listen NAME --handoff-endpoint NAME --backend-pipe NAME\n"
        "                          --service NAME [--ack-timeout-ms N] [--token-ttl-ms N]\n"
        "                          [--max-pending N] [--backend-ready] [--backend-multi-offer]\n"
      "                          [--hello-rate N]\n"
        "                          [--log-level error|warn|info|debug]\n"
        "\n"
        "Reference broker (Windows). NAME is a bare pipe name (\\\\.\\pipe\\NAME\n"
        "locally); every endpoint is owner-only. --hello-rate 0 means unlimited.\n",
        f);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"listen", 1, 0, 'l'},         {"handoff-endpoint", 1, 0, 'e'},
      {"backend-pipe", 1, 0, 'p'},   {"service", 1, 0, 's'},
      {"ack-timeout-ms", 1, 0, 'a'}, {"token-ttl-ms", 1, 0, 't'},
      {"max-pending", 1, 0, 'm'},    {"backend-ready", 0, 0, 'r'},
      {"hello-rate", 1, 0, 'R'},     {"peer-uid", 1, 0, 'u'},
      {"log-level", 1, 0, 'v'},      {"help", 0, 0, 'h'},
      {"backend-multi-offer", 0, 0, 'M'},
      {0, 0, 0, 0}};
  G.level = G.cfg.log_level = HO_BROKER_LOG_INFO;
  G.cfg.peer_policy = HO_PEER_SAME_UID;
  int o;
  char *end;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    unsigned long long v = 0;
    if (o == 'a' || o == 't' || o == 'm' || o == 'R') {
      v = strtoull(optarg, &end, 10);
      if (*end || end == optarg) {
        fprintf(stderr, "handoff-broker: bad number: %s\n", optarg);
        return 2;
      }
    }
    switch (o) {
    case 'l': G.listen = optarg; break;
    case 'e': G.endpoint = optarg; break;
    case 'p': G.backend_pipe = optarg; break;
    case 's': G.service = optarg; break;
    case 'a': G.cfg.ack_timeout_ns = v * 1000000u; break;
    case 't': G.cfg.token_ttl_ns = v * 1000000u; break;
    case 'm': G.cfg.max_pending = (uint32_t)v; break;
    case 'r': /* spec: READY-36 — a statement is not a declaration */
      fprintf(stderr, "handoff-broker: --backend-ready has no effect since spec 1.0.0-rc2 "
                      "(READY-36)\n");
      break;
    case 'M': G.cfg.backend_multi_offer = true; break; /* spec: XFER-37 */
    case 'R': G.cfg.hello_rate = v == 0 ? HO_BROKER_HELLO_RATE_UNLIMITED : (uint32_t)v; break;
    case 'u': {
      uid_t uid;
      if (ho_peer_policy_parse(optarg, &G.cfg.peer_policy, &uid) != HO_OK) {
        fprintf(stderr, "handoff-broker: bad --peer-uid: %s (any or same on Windows)\n", optarg);
        return 2;
      }
      break;
    }
    case 'v':
      if ((G.level = wl_level_parse(optarg)) < 0) {
        fprintf(stderr, "handoff-broker: bad --log-level: %s\n", optarg);
        return 2;
      }
      G.cfg.log_level = G.level;
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (!G.listen || !G.backend_pipe || !G.service || optind != argc) {
    usage(stderr);
    return 2;
  }
  G.cfg.service = G.service;
  G.cfg.backend_pipe = G.backend_pipe;
  G.cfg.handoff_endpoint = G.endpoint != NULL;
  G.cfg.self_uid = 0; /* ho_pipe_peer_check: uid 0 = "our user" */
  G.cfg.log = log_line;
  G.cfg.endpoint_name = G.endpoint;
  G.ack_ms = G.cfg.ack_timeout_ns ? G.cfg.ack_timeout_ns / 1000000u : 5000u;
  int rc = ho_pipe_listener_open(&G.l, G.listen);
  if (rc != HO_OK) {
    fprintf(stderr, "handoff-broker: cannot listen on %s: %s (win32 %lu)\n", G.listen,
            ho_strerror(rc), ho_win_last_error());
    return 1;
  }
  rc = ho_broker_new(&G.cfg, wl_now_ns(), &G.b);
  if (rc != HO_OK) {
    fprintf(stderr, "handoff-broker: %s\n", ho_strerror(rc));
    return 1;
  }
  slog(HO_BROKER_LOG_INFO, "listening on %s service=%s endpoint=%s backend_pipe=%s", G.listen,
       G.service, G.endpoint ? G.endpoint : "-", G.backend_pipe);
  run_actions();
  for (;;) {
    arm_reads();
    run_actions();
    reap();
    HANDLE evs[MAXIMUM_WAIT_OBJECTS];
    DWORD n = 0;
    evs[n++] = (HANDLE)ho_pipe_listener_event(&G.l);
    for (bconn *c = G.conns; c && n < MAXIMUM_WAIT_OBJECTS; c = c->next)
      if (c->rd.pending) evs[n++] = c->rd.ev;
    DWORD timeout = INFINITE;
    if (G.deadline_ns != 0) {
      uint64_t now = wl_now_ns();
      timeout = G.deadline_ns <= now ? 0 : (DWORD)((G.deadline_ns - now) / 1000000u + 1);
    }
    (void)WaitForMultipleObjects(n, evs, FALSE, timeout);
    accept_clients();
    for (bconn *c = G.conns; c; c = c->next)
      if (!c->closed && c->h != NULL && wl_ready(&c->rd)) {
        conn_io(c);
        run_actions();
      }
    if (G.deadline_ns != 0 && wl_now_ns() >= G.deadline_ns) {
      ho_broker_timer(G.b, wl_now_ns());
      run_actions();
    }
  }
}
