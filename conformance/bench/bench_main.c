/* bench_handoff — every route and every CPU placement in one run, against
 * real handoff-broker and handoff-backend processes (issue #13). See
 * bench.h for the files and bench_routes.c for the routes.
 *
 * Usage: bench_handoff [--quick | --tiny] [--iters N] [--runs N]
 *                      [--only SECTION,...] [--hold N] [--out DIR]
 * Sections: latency counters fresh strace trace cost callgrind throughput held.
 * Programs from $HO_BIN_DIR (default build/bin). Figures never fail the
 * run: the exit status is 0 unless the apparatus itself failed. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h" /* ref/bin: --help, --version, one-line usage errors */

bench_cfg CFG;
hx_world W;

bool section_on(const char *name) {
  if (CFG.only == NULL) return true;
  size_t n = strlen(name);
  for (const char *p = CFG.only; (p = strstr(p, name)) != NULL; p += n)
    if ((p == CFG.only || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
  return false;
}

static void defaults(int mode) { /* 0 full, 1 quick, 2 tiny (smoke test) */
  static const bench_cfg M[3] = {
      /* quick iters warmup count strace fresh callgrind tput hold hold_iters runs */
      {0, 2000, 100, 1000, 100, 300, 2000, 2.0, 10000, 1000, 1, NULL, ""},
      {1, 200, 20, 100, 20, 30, 200, 0.3, 2000, 200, 1, NULL, ""},
      {1, 20, 3, 10, 0, 3, 0, 0.1, 50, 20, 1, NULL, ""},
  };
  char out[512];
  memcpy(out, CFG.out_dir, sizeof out);
  CFG = M[mode];
  memcpy(CFG.out_dir, out, sizeof out);
}

enum { O_QUICK = 'q', O_TINY = 'y', O_ITERS = 'i', O_RUNS = 'r', O_ONLY = 'o', O_HOLD = 'H', O_OUT = 'O' };
static const cli_opt bench_opts[] = {
    {"quick", NULL, O_QUICK, CLI_BOTH, "a ~20 s run (fewer iterations)"},
    {"tiny", NULL, O_TINY, CLI_BOTH, "a smoke-test run (make test-bench-smoke)"},
    {"iters", "N", O_ITERS, CLI_BOTH, "latency iterations per route (10..100000000)"},
    {"runs", "N", O_RUNS, CLI_BOTH, "repeat the latency part N times (1..64)"},
    {"only", "LIST", O_ONLY, CLI_BOTH,
     "comma-separated sections: latency counters fresh strace\ntrace cost callgrind throughput held"},
    {"hold", "N", O_HOLD, CLI_BOTH, "held sessions (0..1000000)"},
    {"out", "DIR", O_OUT, CLI_BOTH, "where results.json and latency.png go (build/bench)"},
    {0, 0, 0, 0, 0}};
static const cli_prog bench_prog = {
    "bench_handoff", "[--quick|--tiny] [--iters N] [--runs N] [--only LIST] [--hold N] [--out DIR]",
    "The handoff bench: routes, placements, wake-ups and system calls, fresh client\n"
    "processes, cost per handoff, throughput, held sessions (HO_BIN_DIR: the programs).\n",
    bench_opts, NULL, "Exit status: 0 done; 1 the apparatus failed; 2 usage error.\n"};

static int start_world(void) {
  char bk[512], br[512], log[600];
  hx_bin("handoff-backend", bk, sizeof bk);
  hx_bin("handoff-broker", br, sizeof br);
  const char *a1[] = {bk, "--handoff-endpoint", W.endpoint, "--backend-pipe", W.pipe,
                      "--ready-mode", "backend", "--log-level", "error", NULL};
  const char *w1[] = {W.endpoint, W.pipe, NULL};
  snprintf(log, sizeof log, "%s/backend.log", W.dir);
  if (hx_spawn(&W.backend, log, (char *const *)a1, w1) != 0) return -1;
  const char *a2[] = {br, "--listen", W.listen, "--handoff-endpoint", W.endpoint,
                      "--backend-pipe", W.pipe, "--backend-coalesced", "--log-level", "error",
                      /* every in-process client is this one pid: no per-pid Hello rate (HELLO-14) */
                      "--hello-rate", "0", NULL};
  const char *w2[] = {W.listen, NULL};
  snprintf(log, sizeof log, "%s/broker.log", W.dir);
  return hx_spawn(&W.broker, log, (char *const *)a2, w2);
}

static void mkdir_p(const char *path) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
  mkdir(tmp, 0755);
}

/* Ratios of every run of one placement: median and spread. */
static void repeat_report(double r[][MAX_ROUTES][4], int runs) {
  printf("\nratios over %d runs: median [min .. max]\n\n| ratio | P50 | P99 |\n|---|--:|--:|\n",
         runs);
  js_arr("repeat");
  for (size_t k = 0; k < N_ROUTES; k++) {
    if (!ROUTES[k].handoff) continue;
    for (int which = 0; which < 2; which++) { /* vs reconnect, vs direct */
      double v[2][64];
      double lo[2], hi[2], med[2];
      for (int q = 0; q < 2; q++) {
        for (int i = 0; i < runs; i++) v[q][i] = r[i][k][which * 2 + q];
        med[q] = median_of(v[q], (size_t)runs); /* sorts */
        lo[q] = v[q][0];
        hi[q] = v[q][runs - 1];
      }
      printf("| %s / %s | %.2f [%.2f .. %.2f] | %.2f [%.2f .. %.2f] |\n", ROUTES[k].id,
             which ? "direct" : "reconnect", med[0], lo[0], hi[0], med[1], lo[1], hi[1]);
      js_obj(NULL);
      js_str("route", ROUTES[k].id);
      js_str("vs", which ? "direct" : "reconnect");
      js_int("runs", runs);
      js_num("p50_median", med[0]);
      js_num("p50_min", lo[0]);
      js_num("p50_max", hi[0]);
      js_num("p99_median", med[1]);
      js_num("p99_min", lo[1]);
      js_num("p99_max", hi[1]);
      js_end();
    }
  }
  js_end();
}

#define MAX_RUNS 64
static route_counts g_counts[8][MAX_ROUTES];
static bool g_counted[8];
static double g_ratios[8][MAX_RUNS][MAX_ROUTES][4];
static bool g_latency[8];
static double g_fresh[8][2];
static bool g_fresh_ok[8];

static double gate_tot(const party_fig *f, int what) {
  double s = 0;
  for (int p = 0; p < N_PARTIES; p++) s += what ? f[p].syscalls : f[p].vcs;
  return s;
}

static void closing_note(void) {
  printf("\n## closing note: %s against the issue's goals (information, never a failure)\n\n",
         ROUTES[R_PRIMARY].id);
  printf("| placement | / reconnect P50 | P99 | goal <= 0.8 / 0.9 | / direct P50 | P99 | fewer "
         "wake-ups | fewer syscalls | (window) | fresh P50 | fresh P99 |\n"
         "|---|--:|--:|---|--:|--:|---|---|---|--:|--:|\n");
  js_arr("closing");
  for (size_t pi = 0; pi < N_PLACEMENTS; pi++) {
    const placement *p = &PLACEMENTS[pi];
    if (!place_possible(p)) {
      printf("| %s | skipped: needs 2 CPUs | | | | | | | | | |\n", p->id);
      continue;
    }
    double m[4] = {NAN, NAN, NAN, NAN};
    if (g_latency[pi])
      for (int q = 0; q < 4; q++) {
        double v[MAX_RUNS];
        for (int i = 0; i < CFG.runs; i++) v[i] = g_ratios[pi][i][R_PRIMARY][q];
        m[q] = median_of(v, (size_t)CFG.runs);
      }
    const char *goal = !g_latency[pi] ? "-" : (m[0] <= 0.8 && m[1] <= 0.9) ? "met" : "not met";
    char w[16] = "-", s[16] = "-", win[32] = "-";
    bool wp = false, sp = false, wwp = false, wsp = false, have = g_counted[pi];
    if (have) {
      const route_counts *h = &g_counts[pi][R_PRIMARY], *r = &g_counts[pi][R_RECONNECT];
      wp = gate_tot(h->whole, 0) < gate_tot(r->whole, 0);
      sp = gate_tot(h->whole, 1) < gate_tot(r->whole, 1);
      snprintf(w, sizeof w, "%s", wp ? "yes" : "NO");
      snprintf(s, sizeof s, "%s", sp ? "yes" : "NO");
      if (h->have_window && r->have_window) {
        wwp = gate_tot(h->window, 0) < gate_tot(r->window, 0);
        wsp = gate_tot(h->window, 1) < gate_tot(r->window, 1);
        snprintf(win, sizeof win, "%s / %s", wwp ? "yes" : "NO", wsp ? "yes" : "NO");
      }
    }
    char f50[16] = "-", f99[16] = "-";
    if (g_fresh_ok[pi]) {
      snprintf(f50, sizeof f50, "%.2f", g_fresh[pi][0]);
      snprintf(f99, sizeof f99, "%.2f", g_fresh[pi][1]);
    }
    printf("| %s | %.2f | %.2f | %s | %.2f | %.2f | %s | %s | %s | %s | %s |\n", p->id, m[0], m[1],
           goal, m[2], m[3], w, s, win, f50, f99);
    js_obj(NULL);
    js_str("placement", p->id);
    js_str("route", ROUTES[R_PRIMARY].id);
    js_int("runs", CFG.runs);
    js_num("vs_reconnect_p50_median", m[0]);
    js_num("vs_reconnect_p99_median", m[1]);
    js_num("vs_direct_p50_median", m[2]);
    js_num("vs_direct_p99_median", m[3]);
    if (have) {
      js_bool("fewer_wakeups", wp);
      js_bool("fewer_syscalls", sp);
      js_bool("window_fewer_wakeups", wwp);
      js_bool("window_fewer_syscalls", wsp);
    }
    if (g_fresh_ok[pi]) {
      js_num("fresh_vs_reconnect_p50", g_fresh[pi][0]);
      js_num("fresh_vs_reconnect_p99", g_fresh[pi][1]);
    }
    js_end();
  }
  js_end();
  printf("(latency ratios: median of %d run%s; 'window': between connect() and the first response "
         "byte, wake-ups / syscalls)\n", CFG.runs, CFG.runs == 1 ? "" : "s");
}

static void run_placement(size_t pi) {
  const placement *p = &PLACEMENTS[pi];
  if (!place_possible(p)) {
    printf("\n## placement %s: skipped (%d usable CPU: it needs 2)\n", p->id, place_ncpu());
    js_obj(NULL);
    js_str("id", p->id);
    js_bool("skipped", true);
    js_end();
    return;
  }
  if (place_apply(p) != 0) fprintf(stderr, "bench: %s: sched_setaffinity failed\n", p->id);
  char where[128];
  int cs[3] = {p->client, p->broker, p->backend};
  char part[3][16];
  for (int i = 0; i < 3; i++) {
    if (cs[i] < 0) snprintf(part[i], sizeof part[i], "any");
    else snprintf(part[i], sizeof part[i], "%d", place_cpu(cs[i]));
  }
  snprintf(where, sizeof where, "client CPU %s, broker CPU %s, backend CPU %s", part[0], part[1],
           part[2]);
  printf("\n## placement %s: %s (%s)\n", p->id, p->label, where);
  js_obj(NULL);
  js_str("id", p->id);
  js_str("label", p->label);
  js_str("cpus", where);
  if (section_on("latency")) {
    uint64_t *samples[MAX_ROUTES];
    for (size_t k = 0; k < N_ROUTES; k++) samples[k] = calloc(CFG.iters, sizeof(uint64_t));
    js_arr("latency_runs");
    bool ok = true;
    for (int r = 0; r < CFG.runs && ok; r++) {
      lat_stats st[MAX_ROUTES];
      if (lat_run(CFG.iters, CFG.warmup, samples, st) != 0) {
        ok = false;
        break;
      }
      js_obj(NULL);
      char title[128];
      snprintf(title, sizeof title, "%s, run %d of %d", p->id, r + 1, CFG.runs);
      lat_report(title, st, g_ratios[pi][r]);
      js_end();
      if (r == CFG.runs - 1)
        for (size_t k = 0; k < N_ROUTES; k++) out_samples(p->id, ROUTES[k].id, samples[k], CFG.iters);
    }
    js_end();
    g_latency[pi] = ok;
    if (ok) repeat_report(g_ratios[pi], CFG.runs);
    for (size_t k = 0; k < N_ROUTES; k++) free(samples[k]);
  }
  if (section_on("counters")) {
    js_obj("counters");
    js_int("iterations", (long long)CFG.count_iters);
    bool ok = true;
    for (size_t k = 0; k < N_ROUTES && ok; k++)
      if (counters_route((int)k, CFG.count_iters, &g_counts[pi][k]) != 0) ok = false;
    if (ok) counters_report(p->id, g_counts[pi]);
    else printf("\n(counters failed on %s)\n", p->id);
    g_counted[pi] = ok;
    js_end();
  }
  if (section_on("fresh") && CFG.fresh_iters > 0)
    g_fresh_ok[pi] = fresh_run(p, g_fresh[pi]) == 0;
  js_end();
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(CFG.out_dir, sizeof CFG.out_dir, "build/bench");
  defaults(0);
  long iters = 0, runs = 0, hold = -1;
  const char *only = NULL;
  cli_parser ps;
  int o, size = 0;
  uint64_t v;
  cli_init(&ps, &bench_prog, argc, argv);
  while ((o = cli_next(&ps)) > 0) {
    const char *me = bench_prog.name;
    switch (o) {
    case O_QUICK: size = size == 2 ? 2 : 1; break; /* the size first: the rest overrides it */
    case O_TINY: size = 2; break;
    case O_ITERS:
      if (cli_number(me, "--iters", ps.arg, 10, 100000000u, &v)) return 2;
      iters = (long)v;
      break;
    case O_RUNS:
      if (cli_number(me, "--runs", ps.arg, 1, MAX_RUNS, &v)) return 2;
      runs = (long)v;
      break;
    case O_HOLD:
      if (cli_number(me, "--hold", ps.arg, 0, 1000000, &v)) return 2;
      hold = (long)v;
      break;
    case O_ONLY: only = ps.arg; break;
    case O_OUT: snprintf(CFG.out_dir, sizeof CFG.out_dir, "%s", ps.arg); break;
    default: return 2;
    }
  }
  if (o < 0) return ps.status;
  if (cli_no_operands(&ps)) return 2;
  if (size) defaults(size);
  if (only != NULL) CFG.only = only;
  if (iters > 0) CFG.iters = (size_t)(iters < 10 ? 10 : iters);
  if (runs > 0) CFG.runs = (int)(runs > MAX_RUNS ? MAX_RUNS : runs);
  if (hold >= 0) CFG.hold = (size_t)hold;
  R_PRIMARY = -1;
  for (size_t k = 0; k < N_ROUTES && R_PRIMARY < 0; k++)
    if (ROUTES[k].handoff) R_PRIMARY = (int)k;
  R_RECONNECT = route_find("reconnect");
  R_DIRECT = route_find("direct");
  R_BARE = route_find("bare");
  if (R_PRIMARY < 0 || R_RECONNECT < 0 || R_DIRECT < 0 || R_BARE < 0 || N_ROUTES > MAX_ROUTES ||
      N_PLACEMENTS > 8) {
    fprintf(stderr, "bench: the route table lacks a reference route\n");
    return 1;
  }
  raise_nofile(); /* inherited by broker and backend */
  mkdir_p(CFG.out_dir);
  if (hx_world_init(&W, "bench") != 0) {
    fprintf(stderr, "bench: cannot create a directory: %s\n", strerror(errno));
    return 1;
  }
  /* The bare loop forks first: no thread exists yet. */
  if (bare_start(W.dir) != 0 || start_world() != 0) {
    fprintf(stderr, "bench: cannot start broker/backend/bare loop (HO_BIN_DIR?)\n");
    bare_stop();
    hx_world_fini(&W);
    return 1;
  }
  js_begin();
  out_machine();
  const char *method = counters_init();
  printf("counters: %s; iterations per route: latency %zu (+%zu warm-up) x %d run%s, counters "
         "%zu, fresh processes %zu\n",
         !strcmp(method, "perf") ? "system calls exact from perf tracepoint raw_syscalls:sys_enter"
                                 : "system calls from strace -c (no perf counters here)",
         CFG.iters, CFG.warmup, CFG.runs, CFG.runs == 1 ? "" : "s", CFG.count_iters,
         CFG.fresh_iters);
  js_obj("config");
  js_bool("quick", CFG.quick);
  js_int("iterations", (long long)CFG.iters);
  js_int("warmup", (long long)CFG.warmup);
  js_int("runs", CFG.runs);
  js_int("counter_iterations", (long long)CFG.count_iters);
  js_int("fresh_iterations", (long long)CFG.fresh_iters);
  js_str("counter_method", method);
  js_str("primary_route", ROUTES[R_PRIMARY].id);
  js_end();
  js_arr("placements");
  for (size_t pi = 0; pi < N_PLACEMENTS; pi++) run_placement(pi);
  js_end();
  place_apply(&PLACEMENTS[0]);
  if (section_on("strace") && CFG.strace_iters > 0) strace_breakdown(CFG.strace_iters);
  if (section_on("trace") && CFG.strace_iters > 0) strace_timelines(3);
  if (section_on("cost") && g_counted[0]) cost_report(g_counts[0]);
  if (section_on("callgrind") && CFG.callgrind_n > 0) cost_callgrind();
  if (section_on("throughput")) scale_throughput();
  if (section_on("held") && CFG.hold > 0) scale_held();
  closing_note();
  char load[128] = "";
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fgets(load, sizeof load, f) == NULL) load[0] = '\0';
    load[strcspn(load, "\n")] = '\0';
    fclose(f);
  }
  printf("load average at the end: %s (other work on the machine makes these figures noisy)\n", load);
  js_str("loadavg_end", load);
  int rc = js_write();
  if (section_on("latency")) out_plot();
  counters_fini();
  bare_stop();
  hx_world_fini(&W);
  return rc == 0 ? 0 : 1;
}
