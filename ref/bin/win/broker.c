/* handoff-broker.exe — the reference broker on Windows: the shared broker
 * core (handoff/broker.h) in its duplicate_handles mode behind named pipes.
 * The core decides everything, including the stages of the handoff
 * (duplicate, deliver, await ACK, acknowledge) and what becomes of each
 * duplicate; this shell executes its actions:
 *
 *   DUPLICATE         DuplicateHandle of the client pipe into the backend
 *                     verified from the control pipe (XFER-30 XFER-42 at
 *                     dial time, XFER-31 now), reported at once;
 *   WRITE             synchronous overlapped writes with a deadline; the
 *                     offer of a duplicate is reported written to its last
 *                     byte (XFER-33 ownership);
 *   CLOSE_IN_TARGET   the duplicate closed inside the backend in the form
 *                     that works under Wine (XFER-33), result reported;
 *   CLOSE             DisconnectNamedPipe first when the core asks for a
 *                     shutdown (XFER-43) — but never sooner than 1.5 s after
 *                     Negotiated was written: a disconnect discards what the
 *                     client has not read yet, so the handle lingers until
 *                     then (the client still sees EOF before its READY_TIMEOUT)
 *                     — then CloseHandle.
 *
 * Same flags and log lines as the Linux program; endpoints are bare pipe
 * names. spec: SEC-1 SEC-2 SEC-10 XFER-30 XFER-31 XFER-33 XFER-39 XFER-41 XFER-43 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/winpipe.h"
#include "winloop.h"

#define WRITE_TIMEOUT_MS 5000 /* a frame into a 64 KiB pipe buffer: only a stuck peer waits */
/* LEGACY_READY_BUDGET (ACK-17): the earliest disconnect after Negotiated. */
#define LINGER_MS 1500u

typedef enum { K_CLIENT = 1, K_CONTROL } kind;

typedef struct bconn {
  struct bconn *next;
  kind kind;
  HANDLE h; /* NULL: not connected (a control that failed to dial) */
  ho_broker_conn *hc;
  wl_op rd;
  uint8_t rbuf[4096];
  bool closed, errored;
  ho_win_target target; /* control only: the backend process (XFER-30) */
  uint64_t wrote_ms;    /* client: when its first write (Negotiated) was complete */
  uint64_t linger_due;  /* client: closed by the core, disconnected at this time */
  bool lingering;
} bconn;

static struct {
  const char *listen, *endpoint, *backend_pipe, *service;
  ho_broker_config cfg;
  ho_broker *b;
  ho_pipe_listener l;
  bconn *conns;
  uint64_t deadline_ms;
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

static uint64_t unix_ms(void *u) {
  (void)u;
  return wl_unix_ms();
}

static uint64_t measure_us(void *u) {
  (void)u;
  return wl_now_us();
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

static void open_control(ho_broker_conn *hc) {
  bconn *k = conn_new(K_CONTROL, NULL);
  if (k == NULL) {
    ho_broker_conn_error(G.b, hc, HO_ERR_NOMEM, wl_now_ms());
    return;
  }
  k->hc = hc;
  ho_broker_conn_set_user(hc, k);
  ho_handle h;
  int rc = ho_pipe_connect(G.endpoint, 2000, &h);
  if (rc == HO_OK) {
    k->h = (HANDLE)h;
    /* spec: SEC-10 XFER-30 XFER-42 — the backend is the pipe's server: same
     * user, and the process we will duplicate into. */
    rc = ho_pipe_peer_check(h, HO_PIPE_CLIENT_SIDE, HO_PEER_SAME_UID, NULL);
    if (rc == HO_OK) rc = ho_win_target_open(h, &k->target);
    if (rc == HO_ERR_PEER_REJECTED || rc == HO_ERR_PEER_CREDENTIALS) rc = HO_ERR_PERMISSION;
  }
  if (rc != HO_OK) {
    slog(HO_BROKER_LOG_WARN, "control dial failed endpoint=%s reason=%s win32=%lu", G.endpoint,
         ho_errname(rc), ho_win_last_error());
    ho_broker_conn_error(G.b, hc, rc, wl_now_ms());
    return;
  }
  slog(HO_BROKER_LOG_DEBUG, "control connected backend_pid=%lu", (unsigned long)k->target.pid);
  ho_broker_control_connected(G.b, hc, wl_now_ms());
}

static void do_write(const ho_broker_action *a) {
  bconn *c = a->user;
  if (c == NULL || c->h == NULL || c->errored) return; /* the core closes it */
  int rc = ho_pipe_write_all((ho_handle)c->h, a->bytes, a->len, WRITE_TIMEOUT_MS);
  uint64_t now = wl_now_ms();
  if (a->handle_value != 0) {
    slog(HO_BROKER_LOG_DEBUG, "offer corr=%llu handle_value=0x%llx written=%s",
         (unsigned long long)a->correlation_id, (unsigned long long)a->handle_value,
         ho_errname(rc));
    /* spec: XFER-33 — from its last byte on the backend owns the duplicate */
    if (rc == HO_OK) ho_broker_offer_written(G.b, a->conn, a->correlation_id, now);
  }
  if (rc != HO_OK) {
    c->errored = true;
    ho_broker_conn_error(G.b, a->conn, rc, now);
  } else {
    if (c->kind == K_CLIENT && c->wrote_ms == 0) c->wrote_ms = now;
    ho_broker_conn_flushed(G.b, a->conn, now);
  }
}

static void do_duplicate(const ho_broker_action *a) {
  bconn *k = a->user, *cl = a->peer_user;
  uint64_t v = 0;
  int rc = HO_ERR_CLOSED;
  if (k != NULL && cl != NULL && cl->h != NULL && !k->errored)
    rc = ho_win_dup_into(&k->target, (ho_handle)cl->h, &v); /* spec: XFER-31 */
  slog(HO_BROKER_LOG_DEBUG,
       "duplicate corr=%llu client=0x%llx backend_pid=%lu value=0x%llx result=%s win32=%lu",
       (unsigned long long)a->correlation_id,
       (unsigned long long)(uintptr_t)(cl != NULL ? cl->h : NULL),
       (unsigned long)(k != NULL ? k->target.pid : 0), (unsigned long long)v, ho_errname(rc),
       rc == HO_OK ? 0ul : ho_win_last_error());
  ho_broker_handle_duplicated(G.b, a->conn, a->correlation_id, rc, v, wl_now_ms());
}

static void do_close_in_target(const ho_broker_action *a) {
  bconn *k = a->user;
  int rc = k != NULL ? ho_win_close_in(&k->target, a->handle_value) : HO_ERR_INVALID_ARGUMENT;
  slog(HO_BROKER_LOG_DEBUG, "close-in-backend corr=%llu value=0x%llx result=%s win32=%lu",
       (unsigned long long)a->correlation_id, (unsigned long long)a->handle_value,
       ho_errname(rc), rc == HO_OK ? 0ul : ho_win_last_error());
  ho_broker_closed_in_target(G.b, a->correlation_id, rc, wl_now_ms());
}

static void do_close(const ho_broker_action *a) {
  bconn *c = a->user;
  if (c == NULL) return;
  if (c->h != NULL) wl_cancel(c->h, &c->rd);
  if (c->kind == K_CLIENT) {
    /* spec: XFER-43 — the shutdown of a pipe: DisconnectNamedPipe (the
     * backend's duplicate, the same instance, is disconnected too), not
     * before the client can have read Negotiated: it discards unread data. */
    uint64_t due = c->wrote_ms + LINGER_MS;
    if (a->shutdown && c->h != NULL && c->wrote_ms != 0 && wl_now_ms() < due) {
      c->lingering = true;
      c->linger_due = due;
      c->hc = NULL; /* the core has forgotten it */
      slog(HO_BROKER_LOG_DEBUG, "client lingering handle=0x%llx disconnect_in_ms=%llu",
           (unsigned long long)(uintptr_t)c->h,
           (unsigned long long)(due - wl_now_ms()));
      return;
    }
    if (a->shutdown && c->h != NULL) DisconnectNamedPipe(c->h);
  } else {
    ho_win_target_close(&c->target);
  }
  HANDLE h = c->h;
  if (h != NULL) CloseHandle(h);
  c->h = NULL;
  c->closed = true;
  /* logged once closed: a reader of the log may probe it at once */
  if (c->kind == K_CLIENT)
    slog(HO_BROKER_LOG_DEBUG, "client closed handle=0x%llx shutdown=%d",
         (unsigned long long)(uintptr_t)h, a->shutdown);
}

/* Lingering clients whose time has come: disconnect and close them. */
static void linger_due(void) {
  uint64_t now = wl_now_ms();
  for (bconn *c = G.conns; c; c = c->next) {
    if (!c->lingering || now < c->linger_due) continue;
    DisconnectNamedPipe(c->h); /* spec: XFER-43 */
    CloseHandle(c->h);
    slog(HO_BROKER_LOG_DEBUG, "client closed handle=0x%llx shutdown=1",
         (unsigned long long)(uintptr_t)c->h);
    c->h = NULL;
    c->lingering = false;
    c->closed = true;
  }
}

static void run_actions(void) {
  ho_broker_action a;
  while (ho_broker_next_action(G.b, &a)) {
    switch (a.type) {
    case HO_BACT_WRITE: do_write(&a); break;
    case HO_BACT_DUPLICATE: do_duplicate(&a); break;
    case HO_BACT_CLOSE_IN_TARGET: do_close_in_target(&a); break;
    case HO_BACT_OPEN_CONTROL: open_control(a.conn); break;
    case HO_BACT_CLOSE: do_close(&a); break;
    case HO_BACT_SET_TIMER: G.deadline_ms = a.deadline_ms; break;
    case HO_BACT_SEND_FD: /* not in duplicate_handles mode */
      ho_broker_transfer_failed(G.b, a.conn, a.correlation_id, HO_ERR_INVALID_ARGUMENT,
                                wl_now_ms());
      break;
    default: break;
    }
  }
}

static void conn_io(bconn *c) {
  DWORD n;
  int rc = wl_result(c->h, &c->rd, &n, false);
  uint64_t now = wl_now_ms();
  if (rc != HO_OK || n == 0) {
    c->errored = true;
    ho_broker_conn_error(G.b, c->hc, rc != HO_OK ? rc : HO_ERR_CLOSED, now);
    return;
  }
  if (c->kind == K_CLIENT) ho_broker_client_data(G.b, c->hc, c->rbuf, n, now);
  else ho_broker_control_data(G.b, c->hc, c->rbuf, n, now);
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
      ho_broker_conn_error(G.b, c->hc, rc, wl_now_ms());
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
    memset(&pc, 0, sizeof pc);
    /* spec: SEC-1 — from the OS: the pipe's client pid and its token. */
    int prc = ho_pipe_peer_check(h, HO_PIPE_SERVER_SIDE, HO_PEER_ANY, &pc);
    bconn *c = conn_new(K_CLIENT, (HANDLE)h);
    if (c == NULL) {
      CloseHandle((HANDLE)h);
      continue;
    }
    slog(HO_BROKER_LOG_DEBUG, "client accepted handle=0x%llx pid=%lu", (unsigned long long)h,
         (unsigned long)pc.pid);
    if (ho_broker_client_open(G.b, c, prc == HO_OK && pc.pid ? &pc : NULL, wl_now_ms(), &c->hc) !=
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
        "                          [--service NAME] [--ack-timeout-ms N] [--token-ttl-ms N]\n"
        "                          [--max-pending N] [--backend-ready] [--backend-multi-offer]\n"
        "                          [--max-controls N] [--peer-uid any|same]\n"
        "                          [--hello-rate N] [--log-level error|warn|info|debug]\n"
        "\n"
        "Reference broker (Windows): hands each opted-in client pipe to the backend with\n"
        "DuplicateHandle; on any failure the client falls back to --backend-pipe. NAME is a\n"
        "bare pipe name (\\\\.\\pipe\\NAME locally); every endpoint is owner-only.\n"
        "--hello-rate 0 means unlimited. The flags mean what they mean on Linux.\n",
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
      {"backend-multi-offer", 0, 0, 'M'}, {"max-controls", 1, 0, 'C'},
      {0, 0, 0, 0}};
  G.service = "echo";
  G.level = G.cfg.log_level = HO_BROKER_LOG_INFO;
  G.cfg.peer_policy = HO_PEER_SAME_UID;
  int o;
  char *end;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    unsigned long long v = 0;
    if (o == 'a' || o == 't' || o == 'm' || o == 'R' || o == 'C') {
      v = strtoull(optarg, &end, 10);
      if (*end || end == optarg || optarg[0] == '-' || v > 86400000u ||
          (v == 0 && o != 'R')) {
        fprintf(stderr, "handoff-broker: bad number: %s\n", optarg);
        return 2;
      }
    }
    switch (o) {
    case 'l': G.listen = optarg; break;
    case 'e': G.endpoint = optarg; break;
    case 'p': G.backend_pipe = optarg; break;
    case 's': G.service = optarg; break;
    case 'a': G.cfg.ack_timeout_ms = v; break;
    case 't':
      if (v > 30000) {
        fprintf(stderr, "handoff-broker: --token-ttl-ms is at most 30000 (TOKEN_TTL_MAX)\n");
        return 2;
      }
      G.cfg.token_ttl_ms = v;
      break;
    case 'm': G.cfg.max_pending = (uint32_t)v; break;
    case 'r': /* spec: READY-36 — a statement is not a declaration */
      fprintf(stderr, "handoff-broker: --backend-ready has no effect since spec 1.0.0-rc2 "
                      "(READY-36)\n");
      break;
    case 'M': G.cfg.backend_multi_offer = true; break; /* spec: XFER-37 */
    case 'C': G.cfg.max_controls = v > 4096 ? 4096u : (uint32_t)v; break;
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
  if (!G.listen || !G.backend_pipe || optind != argc) {
    usage(stderr);
    return 2;
  }
  G.cfg.service = G.service;
  G.cfg.backend_pipe = G.backend_pipe;
  G.cfg.handoff_endpoint = G.endpoint != NULL;
  G.cfg.self_uid = 0; /* ho_pipe_peer_check: uid 0 = "our user" */
  G.cfg.log = log_line;
  G.cfg.unix_ms = unix_ms; /* offer deadlines (TOKEN-22), backend-ready (READY-10) */
  G.cfg.measure_us = measure_us; /* latency histogram */
  G.cfg.endpoint_name = G.endpoint;
  G.cfg.duplicate_handles = true; /* spec: XFER-31 — no sideband on Windows */
  int rc = ho_pipe_listener_open(&G.l, G.listen);
  if (rc != HO_OK) {
    fprintf(stderr, "handoff-broker: cannot listen on %s: %s (win32 %lu)\n", G.listen,
            ho_strerror(rc), ho_win_last_error());
    return 1;
  }
  rc = ho_broker_new(&G.cfg, wl_now_ms(), &G.b);
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
    uint64_t now = wl_now_ms();
    if (G.deadline_ms != 0)
      timeout = G.deadline_ms <= now ? 0 : (DWORD)(G.deadline_ms - now);
    for (bconn *c = G.conns; c; c = c->next)
      if (c->lingering) {
        DWORD left = c->linger_due <= now ? 0 : (DWORD)(c->linger_due - now);
        if (left < timeout) timeout = left;
      }
    (void)WaitForMultipleObjects(n, evs, FALSE, timeout);
    /* Deadlines that have passed first: an ACK read afterwards finds its
     * attempt expired (ACK-6, ACK-7), whatever the scheduler did. */
    if (G.deadline_ms != 0 && wl_now_ms() >= G.deadline_ms) {
      ho_broker_timer(G.b, wl_now_ms());
      run_actions();
    }
    linger_due();
    accept_clients();
    for (bconn *c = G.conns; c; c = c->next)
      if (!c->closed && !c->lingering && c->h != NULL && wl_ready(&c->rd)) {
        conn_io(c);
        run_actions();
      }
  }
}
