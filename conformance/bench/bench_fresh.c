/* bench_fresh — clients that are fresh processes: every iteration runs
 * build/bin/handoff-client as a new process (posix_spawn from the placed
 * client thread, so it inherits the client's CPU mask), routes alternating.
 * Two figures per run: the CLI's own connect -> first echo byte
 * (first_byte_us of its --json report, measured from just before its
 * connect()) and the wall time from spawn to exit (what a script that runs
 * the CLI waits). The CLI knows early data only as an operator's statement
 * (--early-data, READY-20): it keeps no memory of the broker's
 * CAP_EARLY_DATA across processes (CLIENT-7). */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

typedef struct fresh_def {
  const char *id;
  const char *flags[6]; /* handoff-client options */
  const char *want;     /* the route it must report */
  bool handoff;
} fresh_def;

/* One line per route (as in bench_routes.c); the first is judged. */
static const fresh_def FRESH[] = {
    {"coalesced", {"--handoff", "--backend-ready", "--early-data", "--coalesced-reply", NULL}, "handoff", true},
    {"ready_early", {"--handoff", "--backend-ready", "--early-data", NULL}, "handoff", true},
    {"ready", {"--handoff", "--backend-ready", NULL}, "handoff", true},
    {"legacy", {"--handoff", NULL}, "handoff", true},
    {"reconnect", {NULL}, "reconnect", false},
};
#define N_FRESH (sizeof FRESH / sizeof FRESH[0])
#define F_RECONNECT 4

static long json_num(const char *s, const char *key) {
  const char *p = strstr(s, key);
  return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* One run: fills the CLI's first-byte time and the spawn -> exit time. */
static int fresh_once(const fresh_def *f, uint64_t *first_ns, uint64_t *wall_ns) {
  char bin[600];
  hx_bin("handoff-client", bin, sizeof bin);
  char *argv[16];
  int a = 0;
  argv[a++] = bin;
  argv[a++] = "--connect";
  argv[a++] = W.listen;
  argv[a++] = "--service";
  argv[a++] = "echo";
  argv[a++] = "--json";
  for (int i = 0; f->flags[i]; i++) argv[a++] = (char *)f->flags[i];
  argv[a] = NULL;
  int pp[2];
  if (pipe2(pp, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pp[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  uint64_t t0 = now_ns();
  int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pp[1]);
  if (rc != 0) {
    close(pp[0]);
    return -1;
  }
  char out[2048];
  size_t len = 0;
  ssize_t k;
  while ((k = read(pp[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)k;
  close(pp[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  *wall_ns = now_ns() - t0;
  out[len] = '\0';
  char want[64];
  snprintf(want, sizeof want, "\"route\":\"%s\"", f->want);
  long fb = json_num(out, "\"first_byte_us\":");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strstr(out, "\"ok\":true") == NULL ||
      strstr(out, want) == NULL || fb < 0) {
    fprintf(stderr, "bench: fresh %s: unexpected report: %s\n", f->id, out);
    return -1;
  }
  *first_ns = (uint64_t)fb * 1000u;
  return 0;
}

int fresh_run(const placement *p, double primary_ratio[2]) {
  size_t n = CFG.fresh_iters;
  uint64_t *fb[N_FRESH], *wall[N_FRESH];
  size_t have[N_FRESH] = {0};
  int rc = 0;
  for (size_t k = 0; k < N_FRESH; k++) {
    fb[k] = calloc(n + 1, sizeof(uint64_t));
    wall[k] = calloc(n + 1, sizeof(uint64_t));
  }
  size_t warm = 3;
  for (size_t i = 0; i < warm + n && rc == 0; i++)
    for (size_t k = 0; k < N_FRESH && rc == 0; k++) {
      size_t kk = (i + k) % N_FRESH;
      uint64_t f = 0, w = 0;
      if (fresh_once(&FRESH[kk], &f, &w) != 0) rc = -1;
      else if (i >= warm) {
        fb[kk][have[kk]] = f;
        wall[kk][have[kk]++] = w;
      }
    }
  if (rc == 0) {
    lat_stats sf[N_FRESH], sw[N_FRESH];
    for (size_t k = 0; k < N_FRESH; k++) {
      sf[k] = lat_compute(fb[k], have[k]);
      sw[k] = lat_compute(wall[k], have[k]);
    }
    printf("\nfresh client processes (%s): handoff-client spawned per iteration, %zu per route, "
           "alternating (us)\n\n", p->id, n);
    printf("| route | CLI connect->first byte P50 | P99 | spawn->exit P50 | P99 | "
           "first byte / reconnect P50 | P99 | spawn->exit / reconnect P50 | P99 |\n");
    printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    printf("(handoff-client knows early data only from --early-data, an operator's statement "
           "(READY-20): it keeps no memory of CAP_EARLY_DATA across processes (CLIENT-7))\n");
    js_obj("fresh");
    js_int("iterations", (long long)n);
    js_arr("routes");
    for (size_t k = 0; k < N_FRESH; k++) {
      const lat_stats *r1 = &sf[F_RECONNECT], *r2 = &sw[F_RECONNECT];
      printf("| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f |\n", FRESH[k].id,
             sf[k].p50, sf[k].p99, sw[k].p50, sw[k].p99, sf[k].p50 / r1->p50, sf[k].p99 / r1->p99,
             sw[k].p50 / r2->p50, sw[k].p99 / r2->p99);
      js_obj(NULL);
      js_str("id", FRESH[k].id);
      js_num("first_byte_p50_us", sf[k].p50);
      js_num("first_byte_p99_us", sf[k].p99);
      js_num("spawn_exit_p50_us", sw[k].p50);
      js_num("spawn_exit_p99_us", sw[k].p99);
      js_num("first_byte_vs_reconnect_p50", sf[k].p50 / r1->p50);
      js_num("first_byte_vs_reconnect_p99", sf[k].p99 / r1->p99);
      js_num("spawn_exit_vs_reconnect_p50", sw[k].p50 / r2->p50);
      js_num("spawn_exit_vs_reconnect_p99", sw[k].p99 / r2->p99);
      js_end();
      char id[80];
      snprintf(id, sizeof id, "fresh-%s", FRESH[k].id);
      out_samples(p->id, id, fb[k], have[k]);
    }
    js_end();
    js_end();
    if (primary_ratio) {
      primary_ratio[0] = sf[0].p50 / sf[F_RECONNECT].p50;
      primary_ratio[1] = sf[0].p99 / sf[F_RECONNECT].p99;
    }
  }
  for (size_t k = 0; k < N_FRESH; k++) {
    free(fb[k]);
    free(wall[k]);
  }
  return rc;
}
