/* bench_handoff — handoff route vs reconnect route, side by side in one
 * run, against real handoff-broker and handoff-backend processes.
 *
 * Client-observed time from connect() to the first echo byte:
 *   handoff (backend-ready + early data): connect, write Hello+request in
 *     one write, read Negotiated, ready (written by the backend) and echo;
 *   handoff (legacy v1): connect, Hello, Negotiated, wait for the broker's
 *     ready, write request, echo;
 *   reconnect: connect, Hello, Negotiated (no token), connect to
 *     backend_pipe, write request, echo.
 * Routes alternate iteration by iteration so that both see the same
 * machine state. Percentiles are nearest-rank. Also: completed handoffs per
 * second with 1 and with 8 clients in flight.
 *
 * Usage: bench_handoff [ITERATIONS]   (programs from $HO_BIN_DIR)
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/harness.h"
#include "handoff/wire.h"

#define WARMUP 100

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, size_t n, double p) {
  size_t idx = (size_t)((double)n * p / 100.0 + 0.999999);
  if (idx == 0) idx = 1;
  return (double)v[idx - 1] / 1000.0;
}

typedef struct route {
  const char *name;
  uint64_t caps;
  bool early;
  int want; /* expected route */
  uint64_t *s;
  size_t n;
  uint64_t *neg, *rdy; /* connect -> Negotiated read, -> ready read */
} route;

static hx_world W;

static uint64_t g_neg, g_rdy;

static int run_once(route *r, const char *msg, uint64_t *ns) {
  hx_client_opts o = {.broker = W.listen, .service = "echo", .caps = r->caps,
                      .early_data = r->early, .message = msg, .ready_timeout_ms = 2000};
  hx_client_result res;
  if (hx_client_run(&o, &res) != 0 || !res.echo_ok || res.route != r->want) {
    fprintf(stderr, "bench: %s: unexpected outcome route=%d echo=%d why=%s\n", r->name,
            res.route, res.echo_ok, res.why);
    return -1;
  }
  *ns = res.first_byte_ns;
  g_neg = res.negotiated_ns;
  g_rdy = res.ready_ns;
  return 0;
}

typedef struct tput_arg {
  int count;
  int failures;
} tput_arg;

static void *tput_worker(void *p) {
  tput_arg *a = p;
  route r = {"handoff", HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA, true,
             HX_ROUTE_HANDOFF, NULL, 0, NULL, NULL};
  for (int i = 0; i < a->count; i++) {
    uint64_t ns;
    if (run_once(&r, "throughput", &ns) != 0) a->failures++;
  }
  return NULL;
}

static double throughput(int threads, int per_thread) {
  pthread_t th[16];
  tput_arg args[16];
  uint64_t t0 = hx_now_ns();
  for (int i = 0; i < threads; i++) {
    args[i] = (tput_arg){per_thread, 0};
    pthread_create(&th[i], NULL, tput_worker, &args[i]);
  }
  int fails = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    fails += args[i].failures;
  }
  double s = (double)(hx_now_ns() - t0) / 1e9;
  if (fails) fprintf(stderr, "bench: %d throughput runs failed\n", fails);
  return (double)(threads * per_thread - fails) / s;
}

static int start(void) {
  if (hx_world_init(&W, "bench") != 0) return -1;
  char bk[512], br[512], log[600];
  hx_bin("handoff-backend", bk, sizeof bk);
  hx_bin("handoff-broker", br, sizeof br);
  const char *a1[] = {bk, "--handoff-endpoint", W.endpoint, "--backend-pipe", W.pipe,
                      "--ready-mode", "backend", "--log-level", "error", NULL};
  const char *w1[] = {W.endpoint, W.pipe, NULL};
  snprintf(log, sizeof log, "%s/backend.log", W.dir);
  if (hx_spawn(&W.backend, log, (char *const *)a1, w1) != 0) return -1;
  const char *a2[] = {br, "--listen", W.listen, "--handoff-endpoint", W.endpoint,
                      "--backend-pipe", W.pipe, "--backend-ready", "--log-level", "error",
                      /* every client is this process: no per-pid Hello rate (HELLO-14) */
                      "--hello-rate", "0", NULL};
  const char *w2[] = {W.listen, NULL};
  snprintf(log, sizeof log, "%s/broker.log", W.dir);
  return hx_spawn(&W.broker, log, (char *const *)a2, w2);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  size_t iters = argc > 1 ? (size_t)atol(argv[1]) : 2000;
  if (iters < 10) iters = 10;
  if (start() != 0) {
    fprintf(stderr, "bench: cannot start broker/backend (HO_BIN_DIR?)\n");
    hx_world_fini(&W);
    return 1;
  }
  route routes[3] = {
      {"handoff, backend-ready + early data",
       HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA, true, HX_ROUTE_HANDOFF,
       NULL, 0, NULL, NULL},
      {"reconnect (no handoff)", 0, false, HX_ROUTE_RECONNECT, NULL, 0, NULL, NULL},
      {"handoff, legacy v1 ordering", HO_CAP_HANDLE_PASSING, false, HX_ROUTE_HANDOFF, NULL, 0,
       NULL, NULL},
  };
  int rc = 0;
  for (int k = 0; k < 3; k++) {
    routes[k].s = calloc(iters, sizeof(uint64_t));
    routes[k].neg = calloc(iters, sizeof(uint64_t));
    routes[k].rdy = calloc(iters, sizeof(uint64_t));
  }
  for (size_t i = 0; i < WARMUP + iters && rc == 0; i++) {
    for (int k = 0; k < 3 && rc == 0; k++) {
      int kk = (int)((i + (size_t)k) % 3); /* rotate the order too */
      uint64_t ns;
      if (run_once(&routes[kk], "ping", &ns) != 0) rc = 1;
      else if (i >= WARMUP) {
        routes[kk].neg[routes[kk].n] = g_neg;
        routes[kk].rdy[routes[kk].n] = g_rdy;
        routes[kk].s[routes[kk].n++] = ns;
      }
    }
  }
  if (rc == 0) {
    printf("\nhandoff vs reconnect: connect() -> first echo byte, %zu iterations per route,\n"
           "alternating, %d warm-up each (us, nearest-rank)\n\n", iters, WARMUP);
    printf("| route                                 |     P50 |     P99 |    mean | Negotiated P50 | ready P50 |\n");
    printf("|---------------------------------------|--------:|--------:|--------:|---------------:|----------:|\n");
    double p50[3], p99[3];
    for (int k = 0; k < 3; k++) {
      qsort(routes[k].s, routes[k].n, sizeof(uint64_t), cmp_u64);
      double sum = 0;
      for (size_t j = 0; j < routes[k].n; j++) sum += (double)routes[k].s[j];
      p50[k] = pct_us(routes[k].s, routes[k].n, 50);
      p99[k] = pct_us(routes[k].s, routes[k].n, 99);
      qsort(routes[k].neg, routes[k].n, sizeof(uint64_t), cmp_u64);
      qsort(routes[k].rdy, routes[k].n, sizeof(uint64_t), cmp_u64);
      double rdy = pct_us(routes[k].rdy, routes[k].n, 50);
      char rbuf[32];
      if (rdy > 0) snprintf(rbuf, sizeof rbuf, "%9.1f", rdy);
      else snprintf(rbuf, sizeof rbuf, "%9s", "-");
      printf("| %-37s | %7.1f | %7.1f | %7.1f | %14.1f | %s |\n", routes[k].name, p50[k], p99[k],
             sum / (double)routes[k].n / 1000.0, pct_us(routes[k].neg, routes[k].n, 50), rbuf);
    }
    printf("\nratio handoff(backend-ready)/reconnect: P50 %.2f, P99 %.2f  (< 1 = handoff faster)\n",
           p50[0] / p50[1], p99[0] / p99[1]);
    printf("ratio handoff(legacy)/reconnect:        P50 %.2f, P99 %.2f\n", p50[2] / p50[1],
           p99[2] / p99[1]);
    int per = (int)(iters < 1000 ? iters : 1000);
    double t1 = throughput(1, per);
    double t8 = throughput(8, per / 8 > 0 ? per / 8 * 2 : 1);
    printf("\nhandoffs per second (backend-ready + early data, full session incl. close):\n"
           "  1 client in flight:  %8.0f /s\n  8 clients in flight: %8.0f /s\n", t1, t8);
  }
  for (int k = 0; k < 3; k++) {
    free(routes[k].s);
    free(routes[k].neg);
    free(routes[k].rdy);
  }
  hx_world_fini(&W);
  return rc;
}
