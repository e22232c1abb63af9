/* bench_routes — the route table, one iteration of a route, the alternating
 * latency loop, percentiles, the Markdown table and the ratios.
 *
 * Client-observed time from connect() to the first response byte:
 *   ready_early: connect, write Hello+request in one write, read Negotiated,
 *     the ready frame (written by the backend) and the echo;
 *   ready: connect, Hello, Negotiated, write request, ready, echo;
 *   legacy: connect, Hello, Negotiated, wait for the broker's ready, write
 *     the request, echo;
 *   reconnect: connect, Hello, Negotiated (no token), connect to
 *     backend_pipe, write the request, echo;
 *   direct: connect to backend_pipe, write the request, echo (no broker);
 *   bare: connect, write two bytes, a passer reads one and passes the socket
 *     with one byte over SCM_RIGHTS to a receiver that reads one byte and
 *     answers one (bench_bare.c): no protocol at all.
 * Percentiles are nearest-rank. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "handoff/wire.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA

/* One line per route. A new client capability is one more line here (put
 * the route to judge first among the handoff routes: it is the primary
 * route of the gate lines and the closing note). */
const route_def ROUTES[] = {
    /* id           label                                         kind       caps      early  want                handoff */
    {"coalesced",   "handoff, coalesced reply (rc2) + early data", RK_PROTO, HP|BR|ED|HO_CAP_COALESCED_REPLY, true, HX_ROUTE_HANDOFF, true},
    {"ready_early", "handoff, backend-ready + early data",       RK_PROTO,  HP|BR|ED, true,  HX_ROUTE_HANDOFF,   true},
    {"ready",       "handoff, backend-ready, request after Negotiated", RK_PROTO, HP|BR, false, HX_ROUTE_HANDOFF, true},
    {"legacy",      "handoff, legacy v1 ordering",               RK_PROTO,  HP,       false, HX_ROUTE_HANDOFF,   true},
    {"reconnect",   "reconnect (no token, connect backend_pipe)", RK_PROTO, 0,        false, HX_ROUTE_RECONNECT, false},
    {"direct",      "direct connect to backend_pipe (floor)",    RK_DIRECT, 0,        false, HX_ROUTE_RECONNECT, false},
    {"bare",        "bare SCM_RIGHTS loop (physical floor)",     RK_BARE,   0,        false, HX_ROUTE_NONE,      false},
};
const size_t N_ROUTES = sizeof ROUTES / sizeof ROUTES[0];
int R_PRIMARY = -1, R_RECONNECT = -1, R_DIRECT = -1, R_BARE = -1;

int route_find(const char *id) {
  for (size_t k = 0; k < N_ROUTES; k++)
    if (!strcmp(ROUTES[k].id, id)) return (int)k;
  return -1;
}

int route_once(const route_def *r, void (*mark)(void *, int), void *mark_user, uint64_t *first_ns) {
  if (r->kind == RK_BARE) return bare_once(mark, mark_user, first_ns);
  hx_client_opts o = {.broker = r->kind == RK_DIRECT ? W.pipe : W.listen,
                      .service = "echo",
                      .caps = r->caps,
                      .early_data = r->early,
                      .message = "ping",
                      .ready_timeout_ms = 2000,
                      .mark = mark,
                      .mark_user = mark_user};
  hx_client_result res;
  int rc = r->kind == RK_DIRECT ? hx_client_direct(&o, &res) : hx_client_run(&o, &res);
  if (rc != 0 || !res.echo_ok || res.route != r->want) {
    static atomic_int told;
    int t = atomic_fetch_add(&told, 1);
    if (t < 8)
      fprintf(stderr, "bench: %s: unexpected outcome route=%d echo=%d why=%s%s\n", r->id,
              res.route, res.echo_ok, res.why, t == 7 ? " (further ones not shown)" : "");
    return -1;
  }
  *first_ns = res.first_byte_ns;
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p) {
  size_t idx = (size_t)((double)n * p / 100.0 + 0.999999);
  if (idx == 0) idx = 1;
  if (idx > n) idx = n;
  return (double)v[idx - 1] / 1000.0;
}

lat_stats lat_compute(uint64_t *v, size_t n) {
  lat_stats s;
  memset(&s, 0, sizeof s);
  s.n = n;
  if (n == 0) return s;
  qsort(v, n, sizeof *v, cmp_u64);
  double sum = 0;
  for (size_t j = 0; j < n; j++) sum += (double)v[j];
  s.mean = sum / (double)n / 1000.0;
  s.p50 = pct_us(v, n, 50);
  s.p90 = pct_us(v, n, 90);
  s.p99 = pct_us(v, n, 99);
  s.p999 = pct_us(v, n, 99.9);
  s.min = (double)v[0] / 1000.0;
  s.max = (double)v[n - 1] / 1000.0;
  return s;
}

int lat_run(size_t iters, size_t warmup, uint64_t *samples[MAX_ROUTES], lat_stats st[MAX_ROUTES]) {
  size_t have[MAX_ROUTES] = {0};
  for (size_t i = 0; i < warmup + iters; i++) {
    for (size_t k = 0; k < N_ROUTES; k++) {
      size_t kk = (i + k) % N_ROUTES; /* rotate the order too */
      uint64_t ns = 0;
      if (route_once(&ROUTES[kk], NULL, NULL, &ns) != 0) return -1;
      if (i >= warmup) samples[kk][have[kk]++] = ns;
    }
  }
  for (size_t k = 0; k < N_ROUTES; k++) st[k] = lat_compute(samples[k], have[k]);
  return 0;
}

void lat_report(const char *title, const lat_stats st[MAX_ROUTES], double ratio_out[MAX_ROUTES][4]) {
  printf("\n%s: connect() -> first response byte, %zu iterations per route, alternating (us)\n\n",
         title, st[0].n);
  printf("| route | label | P50 | P90 | P99 | P99.9 | mean | min |\n");
  printf("|---|---|--:|--:|--:|--:|--:|--:|\n");
  js_arr("routes");
  for (size_t k = 0; k < N_ROUTES; k++) {
    const lat_stats *s = &st[k];
    printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", ROUTES[k].id,
           ROUTES[k].label, s->p50, s->p90, s->p99, s->p999, s->mean, s->min);
    js_obj(NULL);
    js_str("id", ROUTES[k].id);
    js_str("label", ROUTES[k].label);
    js_int("n", (long long)s->n);
    js_num("p50_us", s->p50);
    js_num("p90_us", s->p90);
    js_num("p99_us", s->p99);
    js_num("p999_us", s->p999);
    js_num("mean_us", s->mean);
    js_num("min_us", s->min);
    js_num("max_us", s->max);
    js_end();
  }
  js_end();
  printf("\n| ratio | P50 | P99 |\n|---|--:|--:|\n");
  js_arr("ratios");
  for (size_t k = 0; k < N_ROUTES; k++) {
    double r[4] = {st[k].p50 / st[R_RECONNECT].p50, st[k].p99 / st[R_RECONNECT].p99,
                   st[k].p50 / st[R_DIRECT].p50, st[k].p99 / st[R_DIRECT].p99};
    if (ratio_out) memcpy(ratio_out[k], r, sizeof r);
    if (!ROUTES[k].handoff && (int)k != R_DIRECT && (int)k != R_BARE) continue;
    if (ROUTES[k].handoff)
      printf("| %s / reconnect | %.2f | %.2f |\n", ROUTES[k].id, r[0], r[1]);
    if ((int)k != R_DIRECT) printf("| %s / direct | %.2f | %.2f |\n", ROUTES[k].id, r[2], r[3]);
    js_obj(NULL);
    js_str("route", ROUTES[k].id);
    if (ROUTES[k].handoff) {
      js_num("vs_reconnect_p50", r[0]);
      js_num("vs_reconnect_p99", r[1]);
    }
    js_num("vs_direct_p50", r[2]);
    js_num("vs_direct_p99", r[3]);
    js_end();
  }
  js_end();
  printf("(< 1 = faster; the issue's goal for the handoff route: <= 0.8 at P50, <= 0.9 at P99)\n");
}
