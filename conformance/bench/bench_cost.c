/* bench_cost — cost per handoff.
 *
 * 1. CPU time of broker and backend per completed iteration (from the
 *    counter batches of the free placement: schedstat ns, and /proc/PID/stat
 *    utime+stime in clock ticks), next to the bare loop's passer+receiver
 *    CPU per round trip: the goal is at most 2x.
 * 2. Instructions (Ir, user space) per handoff inside each sans-I/O core:
 *    bench_cores drives N handoffs through the broker and backend cores
 *    in-process, without I/O, under valgrind --tool=callgrind, collecting
 *    one core at a time; Ir / N per core and route. The callgrind files are
 *    kept in the output directory (callgrind_annotate reads them). */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "handoff/wire.h"

extern char **environ;

void cost_report(const route_counts rc[MAX_ROUTES]) {
  if (R_BARE < 0 || !rc[R_BARE].ok) return;
  double bare = rc[R_BARE].whole[PARTY_BROKER].cpu_us + rc[R_BARE].whole[PARTY_BACKEND].cpu_us;
  double bare_t =
      rc[R_BARE].whole[PARTY_BROKER].ticks_us + rc[R_BARE].whole[PARTY_BACKEND].ticks_us;
  printf("\ncost per iteration, free placement: CPU time of broker and backend (bare: passer and "
         "receiver), us\n\n");
  printf("| route | broker | backend | broker+backend | / bare | client | by ticks: broker+backend "
         "| / bare |\n|---|--:|--:|--:|--:|--:|--:|--:|\n");
  js_obj("cost");
  js_num("bare_cpu_us", bare);
  js_num("bare_cpu_ticks_us", bare_t);
  js_arr("routes");
  for (size_t k = 0; k < N_ROUTES; k++) {
    if (!rc[k].ok) continue;
    const party_fig *f = rc[k].whole;
    double s = f[PARTY_BROKER].cpu_us + f[PARTY_BACKEND].cpu_us;
    double st = f[PARTY_BROKER].ticks_us + f[PARTY_BACKEND].ticks_us;
    char tr[32] = "-";
    if (bare_t > 0) snprintf(tr, sizeof tr, "%.2f", st / bare_t);
    printf("| %s | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f | %s |\n", ROUTES[k].id,
           f[PARTY_BROKER].cpu_us, f[PARTY_BACKEND].cpu_us, s, s / bare, f[PARTY_CLIENT].cpu_us,
           st, tr);
    js_obj(NULL);
    js_str("id", ROUTES[k].id);
    js_num("broker_cpu_us", f[PARTY_BROKER].cpu_us);
    js_num("backend_cpu_us", f[PARTY_BACKEND].cpu_us);
    js_num("client_cpu_us", f[PARTY_CLIENT].cpu_us);
    js_num("broker_backend_cpu_us", s);
    js_num("vs_bare", s / bare);
    js_num("broker_backend_ticks_us", st);
    js_end();
  }
  js_end();
  double prim = rc[R_PRIMARY].whole[PARTY_BROKER].cpu_us + rc[R_PRIMARY].whole[PARTY_BACKEND].cpu_us;
  js_num("primary_vs_bare", prim / bare);
  js_end();
  printf("\ngoal (information): %s broker+backend CPU <= 2x the bare loop: %.2fx %s\n"
         "(ticks are 1/%ld s: per-iteration figures from them are coarse; schedstat is exact)\n",
         ROUTES[R_PRIMARY].id, prim / bare, prim / bare <= 2.0 ? "PASS" : "FAIL",
         sysconf(_SC_CLK_TCK));
}

/* ---- callgrind ---------------------------------------------------------- */

typedef struct cg_job {
  int route;         /* index in ROUTES: its caps drive bench_cores */
  const char *core;  /* "broker" or "backend" */
  char file[700], log[700];
  pid_t pid;
  double ir;
  bool ok;
} cg_job;

static int spawn_job(cg_job *j, const char *cores, long n) {
  const char *id = ROUTES[j->route].id;
  snprintf(j->file, sizeof j->file, "%s/callgrind.%s.%s.out", CFG.out_dir, id, j->core);
  snprintf(j->log, sizeof j->log, "%s/bench_cores.%s.%s.log", W.dir, id, j->core);
  char outarg[760], nbuf[32], caps[32];
  snprintf(outarg, sizeof outarg, "--callgrind-out-file=%s", j->file);
  snprintf(nbuf, sizeof nbuf, "%ld", n);
  snprintf(caps, sizeof caps, "0x%llx", (unsigned long long)ROUTES[j->route].caps);
  char *argv[] = {"valgrind", "--tool=callgrind", "--collect-atstart=no", outarg,
                  (char *)cores, caps, nbuf, (char *)j->core, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, j->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawnp(&j->pid, "valgrind", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? 0 : -1;
}

static void finish_job(cg_job *j, long n) {
  int st = 0;
  waitpid(j->pid, &st, 0);
  j->ok = false;
  FILE *f = fopen(j->log, "r");
  char line[512] = "";
  if (f) {
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    fclose(f);
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strstr(line, " ok") == NULL) {
    fprintf(stderr, "bench: callgrind %s %s failed: %s\n", ROUTES[j->route].id, j->core, line);
    return;
  }
  f = fopen(j->file, "r");
  if (f == NULL) return;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "totals:", 7) || !strncmp(line, "summary:", 8)) {
      j->ir = atof(strchr(line, ':') + 1) / (double)n;
      j->ok = true;
    }
  fclose(f);
}

int cost_callgrind(void) {
  char self[600], cores[640];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k <= 0) return -1;
  self[k] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  snprintf(cores, sizeof cores, "%s/bench_cores", self);
  if (access(cores, X_OK) != 0) {
    printf("\n(instructions per handoff skipped: %s not built)\n", cores);
    return -1;
  }
  long n = CFG.callgrind_n;
  /* Every route through the broker (quick: the primary and reconnect); the
   * backend core only where a handoff happens. */
  cg_job jobs[2 * MAX_ROUTES];
  size_t nj = 0;
  for (size_t k = 0; k < N_ROUTES; k++) {
    if (ROUTES[k].kind != RK_PROTO) continue;
    if (CFG.quick && (int)k != R_PRIMARY && (int)k != R_RECONNECT) continue;
    jobs[nj++] = (cg_job){.route = (int)k, .core = "broker"};
    if (ROUTES[k].caps & HO_CAP_HANDLE_PASSING) jobs[nj++] = (cg_job){.route = (int)k, .core = "backend"};
  }
  /* Two at a time (instruction counts do not depend on the load). */
  for (size_t i = 0; i < nj; i += 2) {
    size_t m = i + 1 < nj ? 2 : 1;
    for (size_t j = 0; j < m; j++)
      if (spawn_job(&jobs[i + j], cores, n) != 0) {
        printf("\n(instructions per handoff skipped: cannot run valgrind)\n");
        for (size_t q = 0; q < j; q++) finish_job(&jobs[i + q], n);
        return -1;
      }
    for (size_t j = 0; j < m; j++) finish_job(&jobs[i + j], n);
  }
  printf("\ninstructions per handoff in the sans-I/O cores (callgrind Ir, user space, %ld handoffs "
         "in-process without I/O)\n\n| route | broker core | backend core |\n|---|--:|--:|\n", n);
  js_obj("callgrind");
  js_int("handoffs", n);
  js_arr("routes");
  for (size_t i = 0; i < nj; i++) {
    if (!strcmp(jobs[i].core, "backend")) continue;
    const cg_job *be = NULL;
    for (size_t j = 0; j < nj; j++)
      if (jobs[j].route == jobs[i].route && !strcmp(jobs[j].core, "backend")) be = &jobs[j];
    char bs[32] = "-";
    if (be && be->ok) snprintf(bs, sizeof bs, "%.0f", be->ir);
    const char *id = ROUTES[jobs[i].route].id;
    if (jobs[i].ok) printf("| %s | %.0f | %s |\n", id, jobs[i].ir, bs);
    else printf("| %s | failed | %s |\n", id, bs);
    js_obj(NULL);
    js_str("id", id);
    if (jobs[i].ok) js_num("broker_ir", jobs[i].ir);
    if (be && be->ok) js_num("backend_ir", be->ir);
    js_end();
  }
  js_end();
  js_end();
  printf("(callgrind files: %s/callgrind.*.out; callgrind_annotate FILE shows where)\n",
         CFG.out_dir);
  return 0;
}
