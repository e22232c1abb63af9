/* bench_out — what the bench leaves behind: results.json (built as the
 * sections run), one sample file per placement and route, and latency.png
 * (gnuplot: the distribution of connect -> first byte per route, one panel
 * per placement, CDF above and the tail, 1 - CDF on a log scale, below).
 * Also the machine description and small helpers. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t now_ns(void) { return hx_now_ns(); }

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double median_of(double *v, size_t n) {
  if (n == 0) return NAN;
  qsort(v, n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* ---- JSON ----------------------------------------------------------------- */

static char *g_js;
static size_t g_len, g_cap;
typedef struct js_level {
  bool array;
  int count;
} js_level;
static js_level g_stack[32];
static int g_depth;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(g_js + g_len, g_cap - g_len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < g_cap - g_len) {
      g_len += (size_t)n;
      return;
    }
    size_t nc = g_cap * 2 + (size_t)(n > 0 ? n : 0) + 4096;
    char *p = realloc(g_js, nc);
    if (p == NULL) return;
    g_js = p;
    g_cap = nc;
  }
}

static void put_str(const char *s) {
  put("\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') put("\\%c", c);
    else if (c < 0x20) put("\\u%04x", c);
    else put("%c", c);
  }
  put("\"");
}

static void key(const char *k) {
  if (g_depth > 0) {
    if (g_stack[g_depth - 1].count++ > 0) put(",");
    put("\n%*s", 2 * g_depth, "");
    if (!g_stack[g_depth - 1].array) {
      put_str(k ? k : "");
      put(": ");
    }
  }
}

static void push(bool array) {
  put(array ? "[" : "{");
  if (g_depth < 32) g_stack[g_depth++] = (js_level){array, 0};
}

void js_begin(void) {
  g_len = 0;
  g_depth = 0;
  put("%s", "");
  push(false);
}

void js_obj(const char *k) {
  key(k);
  push(false);
}

void js_arr(const char *k) {
  key(k);
  push(true);
}

void js_end(void) {
  if (g_depth == 0) return;
  bool arr = g_stack[--g_depth].array;
  if (g_stack[g_depth].count > 0) put("\n%*s", 2 * g_depth, "");
  put(arr ? "]" : "}");
}

void js_num(const char *k, double v) {
  key(k);
  if (isfinite(v)) put("%.6g", v);
  else put("null");
}

void js_int(const char *k, long long v) {
  key(k);
  put("%lld", v);
}

void js_str(const char *k, const char *v) {
  key(k);
  put_str(v ? v : "");
}

void js_bool(const char *k, bool v) {
  key(k);
  put(v ? "true" : "false");
}

int js_write(void) {
  while (g_depth > 0) js_end();
  put("\n");
  char path[700];
  snprintf(path, sizeof path, "%s/results.json", CFG.out_dir);
  FILE *f = fopen(path, "w");
  if (f == NULL) return -1;
  fwrite(g_js, 1, g_len, f);
  int rc = fclose(f);
  printf("\nwrote %s\n", path);
  return rc == 0 ? 0 : -1;
}

/* ---- machine -------------------------------------------------------------- */

static void first_line_of(const char *cmd, char *out, size_t cap) {
  out[0] = '\0';
  FILE *p = popen(cmd, "r");
  if (p == NULL) return;
  if (fgets(out, (int)cap, p) == NULL) out[0] = '\0';
  pclose(p);
  out[strcspn(out, "\n")] = '\0';
}

void out_machine(void) {
  char model[256] = "unknown", line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "model name", 10)) {
        char *c = strchr(line, ':');
        if (c) snprintf(model, sizeof model, "%s", c + 2);
        model[strcspn(model, "\n")] = '\0';
        break;
      }
    fclose(f);
  }
  struct utsname u;
  uname(&u);
  char commit[128], dirty[8], load[128] = "";
  first_line_of("git rev-parse HEAD 2>/dev/null", commit, sizeof commit);
  if (commit[0] == '\0') snprintf(commit, sizeof commit, "unknown");
  first_line_of("git status --porcelain --untracked-files=no 2>/dev/null | head -1 | wc -l", dirty,
                sizeof dirty);
  f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fgets(load, sizeof load, f) == NULL) load[0] = '\0';
    load[strcspn(load, "\n")] = '\0';
    fclose(f);
  }
  time_t t = time(NULL);
  char date[64];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  printf("machine: %s, %ld CPUs online, %d usable here; kernel %s %s; commit %s%s; %s; load "
         "average %s\n",
         model, online, place_ncpu(), u.sysname, u.release, commit,
         atoi(dirty) > 0 ? " (modified)" : "", date, load);
  js_obj("machine");
  js_str("cpu_model", model);
  js_int("cpus_online", online);
  js_int("cpus_usable", place_ncpu());
  js_str("kernel", u.release);
  js_str("kernel_version", u.version);
  js_str("commit", commit);
  js_bool("modified", atoi(dirty) > 0);
  js_str("date", date);
  js_str("loadavg_start", load);
  js_end();
}

/* ---- samples and the plot ---------------------------------------------------- */

#define MAX_SERIES 128
static struct {
  char placement[32], route[48], file[1024];
} g_series[MAX_SERIES];
static size_t g_nseries;

void out_samples(const char *placement_id, const char *route_id, const uint64_t *sorted, size_t n) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/samples", CFG.out_dir);
  mkdir(dir, 0755);
  size_t i;
  for (i = 0; i < g_nseries; i++)
    if (!strcmp(g_series[i].placement, placement_id) && !strcmp(g_series[i].route, route_id)) break;
  if (i == g_nseries) {
    if (g_nseries == MAX_SERIES) return;
    g_nseries++;
  }
  snprintf(g_series[i].placement, sizeof g_series[i].placement, "%s", placement_id);
  snprintf(g_series[i].route, sizeof g_series[i].route, "%s", route_id);
  snprintf(g_series[i].file, sizeof g_series[i].file, "%s/%s_%s.dat", dir, placement_id, route_id);
  FILE *f = fopen(g_series[i].file, "w");
  if (f == NULL) return;
  fprintf(f, "# %s %s: connect -> first response byte (us), fraction of samples <= it\n",
          placement_id, route_id);
  for (size_t j = 0; j < n; j++)
    fprintf(f, "%.3f %.6f\n", (double)sorted[j] / 1000.0, (double)(j + 1) / (double)n);
  fclose(f);
}

int out_plot(void) {
  char gp[700], png[700];
  snprintf(gp, sizeof gp, "%s/latency.gp", CFG.out_dir);
  snprintf(png, sizeof png, "%s/latency.png", CFG.out_dir);
  FILE *f = fopen(gp, "w");
  if (f == NULL) return -1;
  /* placements in the order they ran */
  const char *pl[16];
  size_t np = 0;
  for (size_t i = 0; i < g_nseries; i++) {
    size_t j;
    for (j = 0; j < np; j++)
      if (!strcmp(pl[j], g_series[i].placement)) break;
    if (j == np && np < 16) pl[np++] = g_series[i].placement;
  }
  if (np == 0) {
    fclose(f);
    return -1;
  }
  fprintf(f, "set terminal pngcairo noenhanced size %zu,1000 font ',9'\nset output '%s'\n",
          520 * np, png);
  fprintf(f, "set multiplot layout 2,%zu title 'connect() -> first response byte, per route and "
             "placement (dashed: fresh handoff-client processes)'\n", np);
  fprintf(f, "set logscale x\nset xrange [10:*]\nset grid\nset key bottom right font ',8'\n"
             "set xlabel 'us'\n");
  for (int row = 0; row < 2; row++)
    for (size_t j = 0; j < np; j++) {
      fprintf(f, "set title '%s%s'\n", pl[j], row ? ": tail (1 - CDF)" : "");
      if (row) fprintf(f, "set logscale y\nset yrange [0.0005:1]\nset ylabel 'fraction above'\n");
      else fprintf(f, "unset logscale y\nset yrange [0:1]\nset ylabel 'fraction <= x'\n");
      fprintf(f, "plot ");
      int first = 1;
      for (size_t i = 0; i < g_nseries; i++) {
        if (strcmp(g_series[i].placement, pl[j])) continue;
        bool fresh = !strncmp(g_series[i].route, "fresh-", 6);
        /* one colour per route, the same for its fresh-process twin */
        int r = route_find(g_series[i].route + (fresh ? 6 : 0));
        static const char *const colours[] = {"#9400d3", "#009e73", "#56b4e9", "#e69f00",
                                              "#808080", "#000000", "#e51e10", "#0072b2"};
        const char *col = colours[(r < 0 ? 7 : r) % 8];
        fprintf(f, "%s'%s' using 1:%s with lines lw 1.5 dt %d lc rgb '%s' title '%s'",
                first ? "" : ", ", g_series[i].file, row ? "(1.000001-$2)" : "2", fresh ? 2 : 1,
                col, g_series[i].route);
        first = 0;
      }
      fprintf(f, "\n");
    }
  fprintf(f, "unset multiplot\n");
  fclose(f);
  char cmd[1500];
  snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", gp);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return -1;
  char line[512];
  while (fgets(line, sizeof line, p)) fprintf(stderr, "gnuplot: %s", line);
  int st = pclose(p);
  if (st != 0) {
    printf("\n(plot not written: gnuplot failed or is not installed; script in %s)\n", gp);
    return -1;
  }
  printf("wrote %s\n", png);
  return 0;
}
