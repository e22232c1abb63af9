/* bench_scale — throughput and scale, free placement.
 *
 * 1. Completed iterations per second with 1, 8, 64 and 512 clients in
 *    flight (one thread each, looping over full sessions until the time is
 *    up), for the primary handoff route and for reconnect.
 * 2. CFG.hold sessions held open (handed off by the primary route, echo
 *    done, idle at the backend) while new handoffs run: latency of new
 *    handoffs (and reconnects) before, with and after (released: the
 *    control for noise) the held sessions, and
 *    memory per held session in broker and backend (VmRSS and RssAnon
 *    deltas from /proc/PID/status). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* The start gate: every client thread waits until the deadline is set. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static bool g_go;
static uint64_t g_deadline;

typedef struct tp_arg {
  int k;
  uint64_t done, failed;
} tp_arg;

static void *tp_worker(void *p) {
  tp_arg *a = p;
  pthread_mutex_lock(&g_mu);
  while (!g_go) pthread_cond_wait(&g_cv, &g_mu);
  uint64_t deadline = g_deadline;
  pthread_mutex_unlock(&g_mu);
  while (now_ns() < deadline) {
    uint64_t ns;
    if (route_once(&ROUTES[a->k], NULL, NULL, &ns) == 0) a->done++;
    else a->failed++;
  }
  return NULL;
}

static double throughput(int k, int inflight, double seconds, uint64_t *failed) {
  pthread_t *th = calloc((size_t)inflight, sizeof *th);
  tp_arg *args = calloc((size_t)inflight, sizeof *args);
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 256 * 1024);
  g_go = false;
  int started = 0;
  for (int i = 0; i < inflight; i++) {
    args[i] = (tp_arg){k, 0, 0};
    if (pthread_create(&th[i], &at, tp_worker, &args[i]) != 0) break;
    started++;
  }
  pthread_attr_destroy(&at);
  uint64_t t0 = now_ns();
  pthread_mutex_lock(&g_mu);
  g_deadline = started == inflight ? t0 + (uint64_t)(seconds * 1e9) : 0;
  g_go = true;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  uint64_t done = 0;
  *failed = 0;
  for (int i = 0; i < started; i++) {
    pthread_join(th[i], NULL);
    done += args[i].done;
    *failed += args[i].failed;
  }
  double rate = (double)done / ((double)(now_ns() - t0) / 1e9);
  if (started != inflight) {
    fprintf(stderr, "bench: only %d of %d client threads started\n", started, inflight);
    rate = -1;
  }
  free(th);
  free(args);
  return rate;
}

/* The broker's fallback counters (SIGUSR1 writes them to its log): why
 * clients were not handed off. Printed and returned as one line. */
static void broker_fallbacks(char *out, size_t cap) {
  out[0] = '\0';
  size_t before = 0;
  FILE *f = fopen(W.broker.log, "r");
  if (f) {
    fseek(f, 0, SEEK_END);
    before = (size_t)ftell(f);
    fclose(f);
  }
  kill(W.broker.pid, SIGUSR1);
  char line[512];
  size_t used = 0;
  for (int i = 0; i < 200; i++) { /* the broker answers from its event loop */
    usleep(5000);
    f = fopen(W.broker.log, "r");
    if (f == NULL) return;
    fseek(f, (long)before, SEEK_SET);
    bool done = false;
    used = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "fallback{", 9) && used < cap) {
        line[strcspn(line, "\n")] = '\0';
        used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "; " : "", line);
      }
      if (strstr(line, "open_conns") || strstr(line, "latency")) done = true;
    }
    fclose(f);
    if (done) return;
  }
}

int scale_throughput(void) {
  static const int levels[] = {1, 8, 64, 512};
  int routes[] = {R_PRIMARY, R_RECONNECT};
  printf("\nthroughput, free placement: completed sessions per second (connect .. echo .. close), "
         "%.1f s per cell\n\n| clients in flight | %s /s | %s /s | not on their route (fell back) or failed |\n"
         "|--:|--:|--:|--:|\n",
         CFG.tput_seconds, ROUTES[R_PRIMARY].id, ROUTES[R_RECONNECT].id);
  js_obj("throughput");
  js_num("seconds_per_cell", CFG.tput_seconds);
  js_arr("levels");
  int rc = 0;
  for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
    double r[2];
    uint64_t f[2];
    for (int i = 0; i < 2; i++) r[i] = throughput(routes[i], levels[l], CFG.tput_seconds, &f[i]);
    if (r[0] < 0 || r[1] < 0) rc = -1;
    printf("| %d | %.0f | %.0f | %llu |\n", levels[l], r[0], r[1],
           (unsigned long long)(f[0] + f[1]));
    js_obj(NULL);
    js_int("in_flight", levels[l]);
    js_num(ROUTES[R_PRIMARY].id, r[0]);
    js_num(ROUTES[R_RECONNECT].id, r[1]);
    js_int("not_on_route_or_failed", (long long)(f[0] + f[1]));
    js_end();
  }
  js_end();
  char fb[2048];
  broker_fallbacks(fb, sizeof fb);
  printf("\nbroker fallback counters since its start: %s\n", fb[0] ? fb : "none");
  js_str("broker_fallbacks", fb);
  js_end();
  return rc;
}

/* ---- held sessions ---------------------------------------------------- */

static void mem_of(pid_t pid, double *rss_kb, double *anon_kb) {
  char p[64], buf[4096];
  snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
  FILE *f = fopen(p, "r");
  *rss_kb = *anon_kb = 0;
  if (f == NULL) return;
  while (fgets(buf, sizeof buf, f)) {
    if (!strncmp(buf, "VmRSS:", 6)) *rss_kb = atof(buf + 6);
    if (!strncmp(buf, "RssAnon:", 8)) *anon_kb = atof(buf + 8);
  }
  fclose(f);
}

typedef struct hold_arg {
  int *fds;
  size_t from, to;
  size_t failed;
} hold_arg;

static void *hold_worker(void *p) {
  hold_arg *a = p;
  const route_def *r = &ROUTES[R_PRIMARY];
  for (size_t i = a->from; i < a->to; i++) {
    hx_client_opts o = {.broker = W.listen, .service = "echo", .caps = r->caps,
                        .early_data = r->early, .message = "held", .ready_timeout_ms = 2000,
                        .hold = true};
    hx_client_result res;
    a->fds[i] = -1;
    if (hx_client_run(&o, &res) == 0 && res.echo_ok && res.route == HX_ROUTE_HANDOFF)
      a->fds[i] = res.fd;
    else {
      if (res.fd >= 0) close(res.fd);
      a->failed++;
    }
  }
  return NULL;
}

/* Latency of the primary route and reconnect, alternating. */
static int two_routes(size_t n, lat_stats st[2]) {
  int ks[2] = {R_PRIMARY, R_RECONNECT};
  uint64_t *v[2] = {calloc(n, sizeof(uint64_t)), calloc(n, sizeof(uint64_t))};
  int rc = 0;
  for (size_t i = 0; i < n + 10 && rc == 0; i++)
    for (int j = 0; j < 2 && rc == 0; j++) {
      int jj = (int)((i + (size_t)j) % 2);
      uint64_t ns;
      rc = route_once(&ROUTES[ks[jj]], NULL, NULL, &ns);
      if (i >= 10) v[jj][i - 10] = ns;
    }
  for (int j = 0; j < 2; j++) {
    if (rc == 0) st[j] = lat_compute(v[j], n);
    free(v[j]);
  }
  return rc;
}

int scale_held(void) {
  size_t h = CFG.hold, n = CFG.hold_iters;
  lat_stats without[2], with[2], after[2];
  if (two_routes(n, without) != 0) return -1;
  double b_rss0, b_anon0, k_rss0, k_anon0, b_rss1, b_anon1, k_rss1, k_anon1;
  mem_of(W.broker.pid, &b_rss0, &b_anon0);
  mem_of(W.backend.pid, &k_rss0, &k_anon0);
  int *fds = calloc(h, sizeof(int));
  enum { T = 8 };
  pthread_t th[T];
  hold_arg args[T];
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 256 * 1024);
  uint64_t t0 = now_ns();
  for (int i = 0; i < T; i++) {
    args[i] = (hold_arg){fds, h * (size_t)i / T, h * (size_t)(i + 1) / T, 0};
    pthread_create(&th[i], &at, hold_worker, &args[i]);
  }
  size_t failed = 0;
  for (int i = 0; i < T; i++) {
    pthread_join(th[i], NULL);
    failed += args[i].failed;
  }
  pthread_attr_destroy(&at);
  double open_s = (double)(now_ns() - t0) / 1e9;
  usleep(200000); /* let broker and backend settle */
  mem_of(W.broker.pid, &b_rss1, &b_anon1);
  mem_of(W.backend.pid, &k_rss1, &k_anon1);
  int backend_fds = hx_fd_count(W.backend.pid);
  int rc = two_routes(n, with);
  for (size_t i = 0; i < h; i++)
    if (fds[i] >= 0) close(fds[i]);
  free(fds);
  /* The control: the same measurement once the sessions are gone (noise on
   * a shared machine shows in both). */
  hx_fd_settle(W.backend.pid, 64);
  if (rc == 0) rc = two_routes(n, after);
  if (rc != 0) return -1;
  size_t held = h - failed;
  double per = held > 0 ? 1024.0 / (double)held : 0;
  printf("\nheld sessions, free placement: %zu handed off and held open at the backend (%zu failed, "
         "opened in %.1f s with 8 threads; backend descriptors then: %d)\n\n",
         held, failed, open_s, backend_fds);
  printf("| route | P50 before | P50 with | change | P50 after | P99 before | P99 with | change | "
         "P99 after |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  js_obj("held");
  js_int("sessions", (long long)held);
  js_int("failed", (long long)failed);
  js_int("iterations", (long long)n);
  js_arr("latency");
  int ks[2] = {R_PRIMARY, R_RECONNECT};
  for (int j = 0; j < 2; j++) {
    double d50 = (with[j].p50 / without[j].p50 - 1) * 100, d99 = (with[j].p99 / without[j].p99 - 1) * 100;
    printf("| %s | %.1f | %.1f | %+.0f %% | %.1f | %.1f | %.1f | %+.0f %% | %.1f |\n",
           ROUTES[ks[j]].id, without[j].p50, with[j].p50, d50, after[j].p50, without[j].p99,
           with[j].p99, d99, after[j].p99);
    js_obj(NULL);
    js_str("id", ROUTES[ks[j]].id);
    js_num("p50_before_us", without[j].p50);
    js_num("p50_with_us", with[j].p50);
    js_num("p99_before_us", without[j].p99);
    js_num("p99_with_us", with[j].p99);
    js_num("p50_after_release_us", after[j].p50);
    js_num("p99_after_release_us", after[j].p99);
    js_num("p50_change_pct", d50);
    js_num("p99_change_pct", d99);
    js_end();
  }
  js_end();
  printf("\nmemory per held session: broker VmRSS %.0f B, RssAnon %.0f B; backend VmRSS %.0f B, "
         "RssAnon %.0f B\n(the goal for new handoffs: at most +20 %% latency with the sessions held)\n",
         (b_rss1 - b_rss0) * per, (b_anon1 - b_anon0) * per, (k_rss1 - k_rss0) * per,
         (k_anon1 - k_anon0) * per);
  js_obj("memory_per_session_bytes");
  js_num("broker_vmrss", (b_rss1 - b_rss0) * per);
  js_num("broker_rssanon", (b_anon1 - b_anon0) * per);
  js_num("backend_vmrss", (k_rss1 - k_rss0) * per);
  js_num("backend_rssanon", (k_anon1 - k_anon0) * per);
  js_end();
  js_end();
  return 0;
}
