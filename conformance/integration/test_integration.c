/* Integration tests: real handoff-broker and handoff-backend processes, a
 * client speaking the protocol byte for byte, real SCM_RIGHTS. Prints one
 * line per test and "N passed, N failed"; exit status 1 on any failure.
 *
 *   build/bin/... programs: $HO_BIN_DIR (default build/bin)
 *   run one test:           test-integration NAME
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "handoff/wire.h"

static char g_fail[512];
#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      snprintf(g_fail, sizeof g_fail, __VA_ARGS__);                          \
      return -1;                                                             \
    }                                                                        \
  } while (0)

#define CAP_HP HO_CAP_HANDLE_PASSING
#define CAP_BR HO_CAP_BACKEND_READY
#define CAP_ED HO_CAP_EARLY_DATA
#define CAP_CR HO_CAP_COALESCED_REPLY

/* Start backend (serving both its endpoints) and broker. `bk` and `br` are
 * extra arguments (NULL-terminated, may be NULL). */
static int start(hx_world *w, const char *tag, const char *const *bk, const char *const *br) {
  if (hx_world_init(w, tag) != 0) return -1;
  char bin[3][512], log[600];
  hx_bin("handoff-backend", bin[0], sizeof bin[0]);
  hx_bin("handoff-broker", bin[1], sizeof bin[1]);
  const char *argv[32];
  int n = 0;
  argv[n++] = bin[0];
  argv[n++] = "--handoff-endpoint";
  argv[n++] = w->endpoint;
  argv[n++] = "--backend-pipe";
  argv[n++] = w->pipe;
  argv[n++] = "--log-level";
  argv[n++] = "debug";
  for (int i = 0; bk && bk[i]; i++) argv[n++] = bk[i];
  argv[n] = NULL;
  const char *wp[] = {w->endpoint, w->pipe, NULL};
  snprintf(log, sizeof log, "%s/backend.log", w->dir);
  if (hx_spawn(&w->backend, log, (char *const *)argv, wp) != 0) return -1;
  n = 0;
  argv[n++] = bin[1];
  argv[n++] = "--listen";
  argv[n++] = w->listen;
  argv[n++] = "--handoff-endpoint";
  argv[n++] = w->endpoint;
  argv[n++] = "--backend-pipe";
  argv[n++] = w->pipe;
  argv[n++] = "--log-level";
  argv[n++] = "debug";
  /* Every client here is this one test process: its thousands of Hellos
   * would hit the per-pid Hello rate (HELLO-14, tested in
   * test_broker_rate.c). */
  argv[n++] = "--hello-rate";
  argv[n++] = "0";
  for (int i = 0; br && br[i]; i++) argv[n++] = br[i];
  argv[n] = NULL;
  const char *wl[] = {w->listen, NULL};
  snprintf(log, sizeof log, "%s/broker.log", w->dir);
  return hx_spawn(&w->broker, log, (char *const *)argv, wl);
}

static hx_client_opts copts(const hx_world *w, uint64_t caps, const char *msg) {
  hx_client_opts o = {.broker = w->listen, .service = "echo", .caps = caps, .message = msg,
                      .ready_timeout_ms = 2000};
  return o;
}

/* ---- tests ----------------------------------------------------------------------- */

/* spec: READY-2 ACK-15 XFER-3 XFER-4 — legacy handoff, echo on the adopted connection. */
static int t_success_legacy(hx_world *w) {
  CHECK(start(w, "legacy", NULL, NULL) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "hello legacy");
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_HANDOFF, "route %d, why: %s", r.route, r.why);
  CHECK(!r.backend_ready, "backend-ready used without a declaration");
  CHECK(r.echo_ok, "echo failed");
  return 0;
}

/* spec: READY-36 READY-7 READY-8 READY-9 — backend-ready mode once the
 * backend declared it on the control connection (the first handoff, in
 * legacy mode, brings the declaration; an operator's --backend-ready is no
 * declaration), then the request sent right after Negotiated, and with
 * early data after Hello. */
static int t_success_backend_ready(hx_world *w) {
  const char *bk[] = {"--ready-mode", "backend", NULL};
  const char *br[] = {"--backend-ready", NULL}; /* accepted, no effect */
  CHECK(start(w, "bready", bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP | CAP_BR | CAP_ED, "too early");
  o.early_data = true;
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_RECONNECT && r.echo_ok,
        "early data before any declaration: reconnect (READY-18), route %d", r.route);
  o = copts(w, CAP_HP | CAP_BR, "teaches");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF && r.echo_ok,
        "first: route %d why %s", r.route, r.why);
  CHECK(!r.backend_ready, "no declaration yet: legacy, whatever --backend-ready said");
  o = copts(w, CAP_HP | CAP_BR, "hello backend-ready");
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_HANDOFF && r.backend_ready, "route %d br %d why: %s", r.route,
        r.backend_ready, r.why);
  CHECK(r.echo_ok, "echo failed");
  o = copts(w, CAP_HP | CAP_BR | CAP_ED, "hello early data");
  o.early_data = true;
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_HANDOFF && r.backend_ready, "early: route %d why: %s", r.route,
        r.why);
  CHECK(r.echo_ok, "early: echo failed");
  return 0;
}

/* spec: READY-25 READY-26 READY-27 READY-28 READY-32 — coalesced mode with
 * real processes: stated to the broker, so the first early-data client
 * already gets Negotiated, ready and its echo in one write from the
 * backend; 200 more, each served once; nothing left open. */
static int t_coalesced(hx_world *w) {
  const char *bk[] = {"--ready-mode", "backend", "--log-level", "warn", NULL};
  const char *br[] = {"--backend-coalesced", "--log-level", "warn", NULL};
  CHECK(start(w, "coal", bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP | CAP_BR | CAP_ED | CAP_CR, "first, coalesced");
  o.early_data = true;
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_HANDOFF && r.coalesced && r.echo_ok, "route %d coalesced %d why %s",
        r.route, r.coalesced, r.why);
  int b0 = hx_fd_settle(w->broker.pid, hx_fd_count(w->broker.pid));
  int k0 = hx_fd_settle(w->backend.pid, hx_fd_count(w->backend.pid));
  for (int i = 0; i < 200; i++) {
    char msg[64];
    snprintf(msg, sizeof msg, "coalesced %d", i);
    o = copts(w, CAP_HP | CAP_BR | CAP_ED | CAP_CR, msg);
    o.early_data = true;
    CHECK(hx_client_run(&o, &r) == 0 && r.echo_ok && r.route == HX_ROUTE_HANDOFF && r.coalesced,
          "client %d: route %d coalesced %d why %s", i, r.route, r.coalesced, r.why);
  }
  int b1 = hx_fd_settle(w->broker.pid, b0), k1 = hx_fd_settle(w->backend.pid, k0);
  CHECK(b1 == b0 && k1 == k0, "descriptors: broker %d->%d backend %d->%d", b0, b1, k0, k1);
  return 0;
}

/* spec: READY-36 CAP-5 — learnt from HandoffAck.backend_capabilities. */
static int t_learn_backend_ready(hx_world *w) {
  const char *bk[] = {"--ready-mode", "backend", NULL};
  CHECK(start(w, "learn", bk, NULL) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP | CAP_BR, "first");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF && r.echo_ok,
        "first: route %d why %s", r.route, r.why);
  CHECK(!r.backend_ready, "first handoff must be legacy (nothing declared yet)");
  o.message = "second";
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF && r.echo_ok,
        "second: route %d why %s", r.route, r.why);
  CHECK(r.backend_ready, "second handoff should use backend-ready mode");
  return 0;
}

/* spec: ACK-4 FALLBACK-20 — explicit refusal: fallback, control kept. */
static int t_backend_refuses(hx_world *w) {
  const char *bk[] = {"--fault", "refuse", NULL};
  CHECK(start(w, "refuse", bk, NULL) == 0, "cannot start processes");
  for (int i = 0; i < 3; i++) {
    hx_client_result r;
    hx_client_opts o = copts(w, CAP_HP, "refused but served");
    uint64_t t0 = hx_now_ns();
    CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
    CHECK(r.route == HX_ROUTE_RECONNECT && r.token_offered && r.echo_ok, "route %d why %s",
          r.route, r.why);
    CHECK(hx_now_ns() - t0 < 1500000000ull, "fallback waited for a timeout: %s", r.why);
  }
  CHECK(hx_log_has(&w->broker, "reason=BACKEND_REFUSED"), "reason not logged");
  CHECK(!hx_log_has(&w->broker, "control=2"), "control connection not reused");
  return 0;
}

/* spec: ACK-10 ERR-60 XFER-37 — the backend dies before its ACK; a second, healthy
 * backend serves backend_pipe. */
static int t_backend_dies(hx_world *w) {
  if (hx_world_init(w, "crash") != 0) return -1;
  char bin[2][512], log[600], deadpipe[400];
  hx_bin("handoff-backend", bin[0], sizeof bin[0]);
  hx_bin("handoff-broker", bin[1], sizeof bin[1]);
  snprintf(deadpipe, sizeof deadpipe, "%s/crashing-pipe.sock", w->dir);
  const char *a1[] = {bin[0], "--handoff-endpoint", w->endpoint, "--backend-pipe", deadpipe,
                      "--fault", "crash-before-ack", NULL};
  const char *w1[] = {w->endpoint, NULL};
  snprintf(log, sizeof log, "%s/backend.log", w->dir);
  CHECK(hx_spawn(&w->backend, log, (char *const *)a1, w1) == 0, "backend");
  char ep2[400];
  snprintf(ep2, sizeof ep2, "%s/unused-endpoint.sock", w->dir);
  const char *a2[] = {bin[0], "--handoff-endpoint", ep2, "--backend-pipe", w->pipe, NULL};
  const char *w2[] = {w->pipe, NULL};
  snprintf(log, sizeof log, "%s/backend2.log", w->dir);
  CHECK(hx_spawn(&w->backend2, log, (char *const *)a2, w2) == 0, "backend2");
  const char *a3[] = {bin[1], "--listen", w->listen, "--handoff-endpoint", w->endpoint,
                      "--backend-pipe", w->pipe, "--log-level", "debug",
                      "--hello-rate", "0", NULL}; /* one client pid: see start() */
  const char *w3[] = {w->listen, NULL};
  snprintf(log, sizeof log, "%s/broker.log", w->dir);
  CHECK(hx_spawn(&w->broker, log, (char *const *)a3, w3) == 0, "broker");
  /* The listen socket appears before the broker's epoll, timer, signal and
   * spare descriptors: count them only once it says it is listening. */
  for (int i = 0; i < 10000 && !hx_log_has(&w->broker, "listening on "); i++) usleep(1000);
  int base = hx_fd_count(w->broker.pid);
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "survives a crash");
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_RECONNECT && r.echo_ok, "route %d why %s", r.route, r.why);
  /* The broker keeps serving: the next client finds no backend endpoint. */
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_RECONNECT && r.echo_ok,
        "after crash: route %d why %s", r.route, r.why);
  CHECK(hx_log_has(&w->broker, "reason=BACKEND_ACK_TIMEOUT detail=control_closed"),
        "reason not logged");
  int now = hx_fd_settle(w->broker.pid, base - 1); /* the dead control connection is gone */
  CHECK(now <= base, "broker descriptors grew: %d -> %d", base, now);
  return 0;
}

/* spec: ACK-6 ACK-7 TOKEN-7 ERR-58 ERR-59 — ACK after the deadline: revoked, fallback,
 * the late ACK discarded and the control connection kept. */
static int t_ack_late(hx_world *w) {
  const char *bk[] = {"--fault", "late-ack:600", NULL};
  /* declared, so the connection outlives the offer it expired (XFER-37) */
  const char *br[] = {"--ack-timeout-ms", "150", "--backend-multi-offer", NULL};
  CHECK(start(w, "late", bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "late but served");
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_RECONNECT && r.token_offered && r.echo_ok, "route %d why %s",
        r.route, r.why);
  CHECK(hx_log_has(&w->broker, "detail=ack_timeout"), "expiry not logged");
  for (int i = 0; i < 2000 && !hx_log_has(&w->broker, "discarded: TOKEN_NOT_PENDING"); i++)
    usleep(1000);
  CHECK(hx_log_has(&w->broker, "discarded: TOKEN_NOT_PENDING"), "late ACK not discarded");
  return 0;
}

static int t_wrong_ack(hx_world *w, const char *fault, const char *detail) {
  const char *bk[] = {"--fault", fault, NULL};
  const char *br[] = {"--ack-timeout-ms", "300", NULL};
  CHECK(start(w, fault, bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "forged ack");
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_RECONNECT && r.token_offered && r.echo_ok, "route %d why %s",
        r.route, r.why);
  CHECK(hx_log_has(&w->broker, detail), "'%s' not logged", detail);
  return 0;
}
/* spec: ACK-2 ACK-5 ACK-13 ERR-56 */
static int t_wrong_token(hx_world *w) { return t_wrong_ack(w, "wrong-token", "detail=ack_token_mismatch"); }
/* spec: ACK-7 ACK-8 */
static int t_wrong_correlation(hx_world *w) {
  return t_wrong_ack(w, "wrong-correlation", "route=reconnect reason=BACKEND_ACK_TIMEOUT");
}

/* spec: ACK-10 ERR-60 XFER-37 — the backend closes the control connection
 * instead of answering: fallback, and a new control connection next time. */
static int t_close_control(hx_world *w) {
  int rc = t_wrong_ack(w, "close-control", "detail=control_closed");
  if (rc != 0) return rc;
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "again");
  CHECK(hx_client_run(&o, &r) == 0 && r.echo_ok, "second client: %s", r.why);
  CHECK(hx_log_has(&w->broker, "control=2"), "no new control connection");
  return 0;
}

/* spec: TOKEN-2 FALLBACK-2 FALLBACK-3 — no opt-in: no token, reconnect. */
static int t_client_not_opting_in(hx_world *w) {
  CHECK(start(w, "optout", NULL, NULL) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, 0, "plain");
  CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  CHECK(r.route == HX_ROUTE_RECONNECT && !r.token_offered && r.echo_ok, "route %d", r.route);
  CHECK(hx_log_has(&w->broker, "reason=CLIENT_UNSUPPORTED"), "reason not logged");
  /* Early data without backend-ready: no token either (READY-18). */
  o = copts(w, CAP_HP | CAP_ED, "early but legacy");
  o.early_data = true;
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_RECONNECT && !r.token_offered &&
            r.echo_ok, "early: route %d", r.route);
  CHECK(hx_log_has(&w->broker, "reason=EARLY_DATA_UNSUPPORTED"), "early reason not logged");
  return 0;
}

/* spec: HELLO-3 HELLO-6 HELLO-8 HELLO-10 — negotiation refusals. */
static int t_refusals(hx_world *w) {
  CHECK(start(w, "refusals", NULL, NULL) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "x");
  o.service = "other";
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_REFUSED &&
            r.refused_code == HO_REFUSE_SERVICE_UNKNOWN, "unknown service: route %d", r.route);
  o.service = "Bad_Name"; /* spec: HELLO-6 */
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_REFUSED &&
            r.refused_code == HO_REFUSE_PEER_REJECTED && strstr(r.why, "SERVICE_NAME"),
        "bad name: route %d code %u", r.route, r.refused_code);
  return 0;
}

/* spec: BROKER-5 ERR-18 — client closes right after its Hello (before and during handoffs): the
 * broker and backend keep serving and leak nothing. */
static int t_client_disconnects(hx_world *w) {
  const char *bk[] = {"--ready-mode", "backend", NULL};
  const char **br = NULL;
  CHECK(start(w, "hangup", bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP | CAP_BR, "warm-up");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF, "warm-up failed");
  int b0 = hx_fd_settle(w->broker.pid, hx_fd_count(w->broker.pid));
  int k0 = hx_fd_settle(w->backend.pid, hx_fd_count(w->backend.pid));
  for (int i = 0; i < 50; i++) {
    o = copts(w, (i % 2) ? CAP_HP | CAP_BR : CAP_HP, "gone");
    o.hang_up_after_hello = true;
    CHECK(hx_client_run(&o, &r) == 0, "client: %s", r.why);
  }
  o = copts(w, CAP_HP | CAP_BR, "still served");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF && r.echo_ok,
        "after hang-ups: route %d why %s", r.route, r.why);
  int b1 = hx_fd_settle(w->broker.pid, b0), k1 = hx_fd_settle(w->backend.pid, k0);
  CHECK(b1 == b0 && k1 == k0, "descriptors: broker %d->%d backend %d->%d", b0, b1, k0, k1);
  return 0;
}

/* spec: BROKER-3 BROKER-4 — many clients, each served exactly once, no
 * descriptor growth. */
static int t_sequential_1000(hx_world *w) {
  const char *bk[] = {"--ready-mode", "backend", "--log-level", "warn", NULL};
  const char *br[] = {"--log-level", "warn", NULL};
  CHECK(start(w, "seq", bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP | CAP_BR, "warm"); /* legacy: the declaration comes */
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF, "warm-up");
  int b0 = hx_fd_count(w->broker.pid), k0 = hx_fd_count(w->backend.pid);
  int handoff = 0;
  for (int i = 0; i < 1000; i++) {
    char msg[64];
    snprintf(msg, sizeof msg, "client %d", i);
    o = copts(w, i % 4 == 3 ? 0 : (i % 4 == 2 ? CAP_HP : CAP_HP | CAP_BR | CAP_ED), msg);
    o.early_data = i % 4 < 2;
    if (i % 4 == 1) o.caps = CAP_HP | CAP_BR;
    o.early_data = i % 4 == 0;
    CHECK(hx_client_run(&o, &r) == 0, "client %d: %s", i, r.why);
    CHECK(r.echo_ok, "client %d not served exactly once (route %d, %s)", i, r.route, r.why);
    handoff += r.route == HX_ROUTE_HANDOFF;
  }
  CHECK(handoff == 750, "expected 750 handoffs, got %d", handoff);
  int b1 = hx_fd_settle(w->broker.pid, b0), k1 = hx_fd_settle(w->backend.pid, k0);
  CHECK(b1 == b0 && k1 == k0, "descriptors: broker %d->%d backend %d->%d", b0, b1, k0, k1);
  return 0;
}

typedef struct conc_arg {
  hx_world *w;
  int i;
  hx_client_result r;
  int rc;
} conc_arg;

static void *conc_client(void *p) {
  conc_arg *a = p;
  char msg[64];
  snprintf(msg, sizeof msg, "concurrent %d", a->i);
  hx_client_opts o = copts(a->w, a->i % 2 ? CAP_HP : CAP_HP | CAP_BR | CAP_ED, msg);
  o.early_data = a->i % 2 == 0;
  a->rc = hx_client_run(&o, &a->r);
  return NULL;
}

static int t_concurrent_200(hx_world *w) {
  const char *bk[] = {"--ready-mode", "backend", "--log-level", "warn", NULL};
  const char *br[] = {"--log-level", "warn", NULL};
  CHECK(start(w, "conc", bk, br) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP | CAP_BR, "warm");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF, "warm-up");
  int b0 = hx_fd_count(w->broker.pid), k0 = hx_fd_count(w->backend.pid);
  static conc_arg args[200];
  pthread_t th[200];
  for (int i = 0; i < 200; i++) {
    args[i] = (conc_arg){.w = w, .i = i};
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    CHECK(pthread_create(&th[i], &at, conc_client, &args[i]) == 0, "pthread_create");
    pthread_attr_destroy(&at);
  }
  int served = 0, handoff = 0;
  for (int i = 0; i < 200; i++) {
    pthread_join(th[i], NULL);
    served += args[i].rc == 0 && args[i].r.echo_ok;
    handoff += args[i].r.route == HX_ROUTE_HANDOFF;
  }
  CHECK(served == 200, "only %d of 200 served exactly once", served);
  int b1 = hx_fd_settle(w->broker.pid, b0), k1 = hx_fd_settle(w->backend.pid, k0);
  CHECK(b1 == b0 && k1 == k0, "descriptors: broker %d->%d backend %d->%d", b0, b1, k0, k1);
  printf("    (%d of 200 by handoff)\n", handoff);
  return 0;
}

/* spec: XFER-37 ACK-10 — the backend restarts: the broker notices the dead
 * control connection, dials a new one for the next handoff (through the
 * pending queue), and the client after the restart is handed off again. */
static int t_backend_restart(hx_world *w) {
  CHECK(start(w, "restart", NULL, NULL) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "before");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF, "before: %s", r.why);
  CHECK(hx_stop(&w->backend) == 0, "backend did not stop cleanly");
  char bin[512], log[600];
  hx_bin("handoff-backend", bin, sizeof bin);
  const char *a[] = {bin, "--handoff-endpoint", w->endpoint, "--backend-pipe", w->pipe, NULL};
  const char *wp[] = {w->endpoint, w->pipe, NULL};
  snprintf(log, sizeof log, "%s/backend-2.log", w->dir);
  CHECK(hx_spawn(&w->backend, log, (char *const *)a, wp) == 0, "backend restart");
  /* The first client may race the broker's notice of the dead connection
   * (then it falls back, served all the same); the next one is handed off. */
  o.message = "after";
  CHECK(hx_client_run(&o, &r) == 0 && r.echo_ok, "after: route %d %s", r.route, r.why);
  if (r.route != HX_ROUTE_HANDOFF)
    CHECK(hx_client_run(&o, &r) == 0 && r.echo_ok, "after (2): route %d %s", r.route, r.why);
  CHECK(r.route == HX_ROUTE_HANDOFF, "not handed off after the restart: %s", r.why);
  CHECK(hx_log_has(&w->broker, "control=2 connected"), "no new control connection");
  return 0;
}

/* spec: BROKER-7 BROKER-8 — SIGTERM: exit 0, sockets unlinked; counters. */
static int t_clean_shutdown(hx_world *w) {
  CHECK(start(w, "term", NULL, NULL) == 0, "cannot start processes");
  hx_client_result r;
  hx_client_opts o = copts(w, CAP_HP, "bye");
  CHECK(hx_client_run(&o, &r) == 0 && r.route == HX_ROUTE_HANDOFF, "handoff");
  kill(w->broker.pid, SIGUSR1);
  for (int i = 0; i < 2000 && !hx_log_has(&w->broker, "counters (SIGUSR1)"); i++) usleep(1000);
  CHECK(hx_log_has(&w->broker, "handoffs_completed 1"), "SIGUSR1 counters missing");
  int st = hx_stop(&w->broker);
  CHECK(st == 0, "broker exit status %d", st);
  CHECK(access(w->listen, F_OK) != 0, "listen socket left behind");
  CHECK(hx_log_has(&w->broker, "counters (exit)"), "exit counters missing");
  return 0;
}

static const struct {
  const char *name;
  int (*fn)(hx_world *);
} tests[] = {
    {"success_legacy", t_success_legacy},
    {"success_backend_ready", t_success_backend_ready},
    {"learn_backend_ready", t_learn_backend_ready},
    {"coalesced", t_coalesced},
    {"backend_refuses", t_backend_refuses},
    {"backend_dies_before_ack", t_backend_dies},
    {"ack_after_deadline", t_ack_late},
    {"ack_wrong_token", t_wrong_token},
    {"ack_wrong_correlation", t_wrong_correlation},
    {"ack_never_control_closed", t_close_control},
    {"client_not_opting_in", t_client_not_opting_in},
    {"hello_refusals", t_refusals},
    {"client_disconnects_mid_handoff", t_client_disconnects},
    {"sequential_1000", t_sequential_1000},
    {"concurrent_200", t_concurrent_200},
    {"backend_restart", t_backend_restart},
    {"clean_shutdown", t_clean_shutdown},
};

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
    hx_world w;
    memset(&w, 0, sizeof w);
    g_fail[0] = '\0';
    uint64_t t0 = hx_now_ns();
    int rc = tests[i].fn(&w);
    /* Every broker must exit 0 on SIGTERM: under SAN=1 that also means no
     * leak (LeakSanitizer makes the exit status non-zero). */
    int st = hx_stop(&w.broker);
    if (rc == 0 && st > 0) {
      snprintf(g_fail, sizeof g_fail, "broker exit status %d on SIGTERM", st);
      rc = -1;
    }
    double ms = (double)(hx_now_ns() - t0) / 1e6;
    if (rc == 0) {
      passed++;
      printf("[PASS] integration::%s (%.0f ms)\n", tests[i].name, ms);
    } else {
      failed++;
      printf("[FAIL] integration::%s: %s (logs: %s)\n", tests[i].name, g_fail, w.dir);
      setenv("HO_KEEP_LOGS", "1", 1);
    }
    fflush(stdout);
    hx_world_fini(&w);
    unsetenv("HO_KEEP_LOGS");
  }
  printf("integration: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
