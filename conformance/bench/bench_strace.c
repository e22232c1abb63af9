/* bench_strace — every party of a route under strace, one strace process
 * per party (-f for broker and backend: all their threads; the client is
 * one thread of this process). Two uses:
 *   - summaries (-c): the system calls by name per iteration, minus what
 *     attaching and detaching cost (an empty batch: the client's own waiting
 *     for its tracers);
 *   - timelines (-ttt): one file per route with the system calls of all
 *     parties merged in time order, to see which call of which party sits
 *     where between the client's connect() and its first response byte.
 * Tracing slows every call down: the counts are exact, the times are not. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

typedef struct strace_run {
  pid_t spid[N_PARTIES];
  char file[N_PARTIES][600];
} strace_run;

/* Every task of pid (or only tid) has a tracer. */
static bool traced(pid_t pid, pid_t tid) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL) return false;
  bool all = true;
  struct dirent *e;
  while (all && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (tid > 0 && atoi(e->d_name) != tid) continue;
    char st[320], buf[4096];
    snprintf(st, sizeof st, "/proc/%d/task/%s/status", (int)pid, e->d_name);
    FILE *f = fopen(st, "r");
    if (f == NULL) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *t = strstr(buf, "\nTracerPid:");
    if (t == NULL || atoi(t + 11) == 0) all = false;
  }
  closedir(d);
  return all;
}

static int spawn_one(strace_run *r, int p, pid_t target, bool follow, bool summary) {
  char t[32];
  snprintf(t, sizeof t, "%d", (int)target);
  char *argv[12];
  int a = 0;
  argv[a++] = "strace";
  argv[a++] = "-q";
  argv[a++] = summary ? "-c" : "-ttt";
  if (follow) argv[a++] = "-f";
  if (!summary) argv[a++] = "-s0"; /* no buffer contents: the call and its result */
  argv[a++] = "-o";
  argv[a++] = r->file[p];
  argv[a++] = "-p";
  argv[a++] = t;
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawnp(&r->spid[p], "strace", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) r->spid[p] = 0;
  return rc == 0 ? 0 : -1;
}

static bool gave_up(strace_run *r, int p) {
  if (waitpid(r->spid[p], NULL, WNOHANG) != r->spid[p]) return false;
  r->spid[p] = 0; /* strace exited: not allowed to attach? */
  return true;
}

static void nap(void) {
  struct timespec ts = {0, 1000000};
  nanosleep(&ts, NULL);
}

/* Broker and backend first; then the client (this thread), waited for with
 * pread and nanosleep only, so that what its waiting costs never shares a
 * name with what a route costs. */
static int attach(int k, bool summary, const char *tag, strace_run *r) {
  memset(r, 0, sizeof *r);
  pid_t pid[N_PARTIES], tid[N_PARTIES];
  for (int p = 0; p < N_PARTIES; p++) {
    counters_party(k, p, &pid[p], &tid[p]);
    snprintf(r->file[p], sizeof r->file[p], "%s/strace-%s-%s-%s.txt", W.dir, tag, ROUTES[k].id,
             PARTY_NAMES[p]);
  }
  for (int p = 0; p < N_PARTIES; p++)
    if (p != PARTY_CLIENT && spawn_one(r, p, pid[p], true, summary) != 0) return -1;
  for (int i = 0;; i++) {
    bool all = true;
    for (int p = 0; p < N_PARTIES; p++)
      if (p != PARTY_CLIENT) {
        if (gave_up(r, p) || i == 5000) return -1;
        all = all && traced(pid[p], 0);
      }
    if (all) break;
    nap();
  }
  char st[96], buf[4096];
  snprintf(st, sizeof st, "/proc/%d/task/%d/status", (int)pid[PARTY_CLIENT], (int)tid[PARTY_CLIENT]);
  int fd = open(st, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || spawn_one(r, PARTY_CLIENT, tid[PARTY_CLIENT], false, summary) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  int rc = -1;
  for (int i = 0; i < 5000 && !gave_up(r, PARTY_CLIENT); i++) {
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      const char *t = strstr(buf, "\nTracerPid:");
      if (t && atoi(t + 11) != 0) {
        rc = 0;
        break;
      }
    }
    nap();
  }
  close(fd);
  return rc;
}

static void detach(strace_run *r) {
  for (int p = 0; p < N_PARTIES; p++)
    if (r->spid[p] > 0) kill(r->spid[p], SIGINT);
  for (int p = 0; p < N_PARTIES; p++)
    if (r->spid[p] > 0) waitpid(r->spid[p], NULL, 0);
}

static void unlink_all(strace_run *r) {
  for (int p = 0; p < N_PARTIES; p++) unlink(r->file[p]);
}

static int run_traced(int k, size_t n, bool summary, const char *tag, strace_run *r) {
  if (attach(k, summary, tag, r) != 0) {
    detach(r);
    unlink_all(r);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    uint64_t ns;
    rc = route_once(&ROUTES[k], NULL, NULL, &ns);
  }
  detach(r);
  return rc;
}

/* ---- summaries ------------------------------------------------------------ */

static void parse_summary(const char *file, sc_tab *t) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(file, "r");
  if (f == NULL) return;
  char line[512];
  int dashes = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "------", 6)) {
      dashes++;
      continue;
    }
    if (dashes < 1) continue;
    /* % time, seconds, usecs/call, calls, [errors], syscall */
    char tok[7][64];
    int nt = sscanf(line, "%63s %63s %63s %63s %63s %63s %63s", tok[0], tok[1], tok[2], tok[3],
                    tok[4], tok[5], tok[6]);
    if (nt < 5) continue;
    double calls = atof(tok[3]);
    const char *name = tok[nt - 1];
    if (dashes >= 2 || !strcmp(name, "total")) {
      t->total = calls;
      break;
    }
    if (t->n < (int)(sizeof t->e / sizeof t->e[0])) {
      snprintf(t->e[t->n].name, sizeof t->e[t->n].name, "%s", name);
      t->e[t->n++].calls = calls;
    }
  }
  fclose(f);
  t->ok = true; /* no total line: no system call at all (strace then writes no table) */
}

/* a - b, by name. */
static void subtract(sc_tab *a, const sc_tab *b) {
  for (int j = 0; j < b->n; j++)
    for (int i = 0; i < a->n; i++)
      if (!strcmp(a->e[i].name, b->e[j].name)) {
        a->e[i].calls -= b->e[j].calls;
        break;
      }
  a->total -= b->total;
  int w = 0;
  for (int i = 0; i < a->n; i++)
    if (a->e[i].calls > 0) a->e[w++] = a->e[i];
  a->n = w;
  if (a->total < 0) a->total = 0;
}

static int summary_once(int k, size_t n, sc_tab out[N_PARTIES]) {
  strace_run r;
  int rc = run_traced(k, n, true, "sum", &r);
  for (int p = 0; p < N_PARTIES && rc == 0; p++) {
    parse_summary(r.file[p], &out[p]);
    if (!out[p].ok) rc = -1;
  }
  unlink_all(&r);
  return rc;
}

int strace_summary(int k, size_t n, sc_tab out[N_PARTIES]) {
  sc_tab empty[N_PARTIES];
  if (summary_once(k, 0, empty) != 0 || summary_once(k, n, out) != 0) return -1;
  for (int p = 0; p < N_PARTIES; p++) subtract(&out[p], &empty[p]);
  return 0;
}

int strace_breakdown(size_t n) {
  printf("\nsystem calls by name per iteration (strace -c -f on every party, %zu iterations of "
         "each route alone, free placement)\n\n| route | party | all | by name |\n|---|---|--:|---|\n",
         n);
  js_obj("strace");
  js_int("iterations", (long long)n);
  js_arr("routes");
  int rc = 0;
  for (size_t k = 0; k < N_ROUTES; k++) {
    sc_tab t[N_PARTIES];
    if (strace_summary((int)k, n, t) != 0) {
      printf("| %s | - | - | strace could not attach or count |\n", ROUTES[k].id);
      rc = -1;
      continue;
    }
    js_obj(NULL);
    js_str("id", ROUTES[k].id);
    for (int p = 0; p < N_PARTIES; p++) {
      for (int i = 0; i < t[p].n; i++) /* by calls, descending */
        for (int j = i + 1; j < t[p].n; j++)
          if (t[p].e[j].calls > t[p].e[i].calls) {
            sc_entry x = t[p].e[i];
            t[p].e[i] = t[p].e[j];
            t[p].e[j] = x;
          }
      char names[1024] = "";
      size_t used = 0;
      js_obj(PARTY_NAMES[p]);
      js_num("all", t[p].total / (double)n);
      js_obj("by_name");
      for (int i = 0; i < t[p].n; i++) {
        double per = t[p].e[i].calls / (double)n;
        js_num(t[p].e[i].name, per);
        if (per >= 0.05 && used < sizeof names - 64)
          used += (size_t)snprintf(names + used, sizeof names - used, "%s%s %.2g", used ? ", " : "",
                                   t[p].e[i].name, per);
      }
      js_end();
      js_end();
      printf("| %s | %s | %.1f | %s |\n", ROUTES[k].id, PARTY_NAMES[p], t[p].total / (double)n,
             names);
    }
    js_end();
  }
  js_end();
  js_end();
  return rc;
}

/* ---- timelines ------------------------------------------------------------ */

typedef struct tl_line {
  double t;
  int party;
  char text[200];
} tl_line;

static int cmp_line(const void *a, const void *b) {
  const tl_line *x = a, *y = b;
  return x->t < y->t ? -1 : x->t > y->t;
}

/* Lines "[PID ]SECONDS.MICROS call..." of one party's file. */
static size_t read_timeline(const char *file, int party, tl_line **v, size_t n, size_t *cap) {
  FILE *f = fopen(file, "r");
  if (f == NULL) return n;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *p = line, *end;
    double t = strtod(p, &end);
    if (end != p && *end == ' ' && strchr(p, '.') > end) { /* a pid first */
      p = end + 1;
      t = strtod(p, &end);
    }
    if (end == p) continue;
    if (n == *cap) {
      size_t nc = *cap ? *cap * 2 : 256;
      tl_line *nv = realloc(*v, nc * sizeof *nv);
      if (nv == NULL) break;
      *v = nv;
      *cap = nc;
    }
    (*v)[n].t = t;
    (*v)[n].party = party;
    snprintf((*v)[n].text, sizeof (*v)[n].text, "%s", end + (*end == ' '));
    n++;
  }
  fclose(f);
  return n;
}

int strace_timelines(size_t n) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/trace", CFG.out_dir);
  mkdir(dir, 0755);
  int rc = 0;
  for (size_t k = 0; k < N_ROUTES; k++) {
    strace_run r;
    if (run_traced((int)k, n, false, "tl", &r) != 0) {
      unlink_all(&r);
      rc = -1;
      continue;
    }
    tl_line *v = NULL;
    size_t nl = 0, cap = 0;
    for (int p = 0; p < N_PARTIES; p++) nl = read_timeline(r.file[p], p, &v, nl, &cap);
    unlink_all(&r);
    qsort(v, nl, sizeof *v, cmp_line);
    char path[700];
    snprintf(path, sizeof path, "%s/%s.txt", dir, ROUTES[k].id);
    FILE *f = fopen(path, "w");
    if (f) {
      fprintf(f, "# %s (%s): %zu iterations, every system call of every party in time order\n"
                 "# (strace -ttt; tracing slows each call: the order holds, the times do not)\n"
                 "# us since the first call | party | call = result\n",
              ROUTES[k].id, ROUTES[k].label, n);
      /* from the client's first socket() to its last close(): the
       * iterations, without the tracers' attaching and detaching */
      size_t from = 0, to = nl;
      while (from < nl && !(v[from].party == PARTY_CLIENT && !strncmp(v[from].text, "socket(", 7)))
        from++;
      while (to > from && !(v[to - 1].party == PARTY_CLIENT && !strncmp(v[to - 1].text, "close(", 6)))
        to--;
      for (size_t i = from; i < to; i++)
        fprintf(f, "%10.1f  %-7s  %s\n", (v[i].t - v[from].t) * 1e6, PARTY_NAMES[v[i].party],
                v[i].text);
      fclose(f);
    }
    free(v);
  }
  printf("\nsystem-call timelines of every party, per route: %s/trace/ROUTE.txt\n", CFG.out_dir);
  return rc;
}
