/* bench_counters — wake-ups, system calls and CPU time of every party.
 *
 * Parties: the client (the bench's own thread), the broker side (the
 * broker; for the bare route the passer) and the backend side (the backend;
 * for the bare route the receiver). Per task:
 *   wake-ups     voluntary_ctxt_switches (/proc/PID/task/TID/status; each
 *                voluntary switch is one block and one wake-up)
 *   syscalls     exact: a perf counter on the tracepoint
 *                raw_syscalls:sys_enter opened on the task
 *                (perf_event_open, counting mode, read at any instant);
 *                where perf is not allowed, strace -c (slower, so counted
 *                in a batch of its own)
 *   CPU time     /proc/PID/task/TID/schedstat (ns) and /proc/PID/stat
 *                utime+stime (clock ticks: coarse)
 * Each figure is taken over a batch of iterations of one route alone and
 * given per iteration. With perf, also the window between the client's
 * connect() and its first response byte: every counter read at the two
 * marks of the harness client (the client's own reading costs, calibrated,
 * are subtracted). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

const char *const PARTY_NAMES[N_PARTIES] = {"client", "broker", "backend"};

enum { S_CLIENT = 0, S_BROKER, S_BACKEND, S_PASSER, S_RECEIVER, N_SRC };
#define MAX_TASKS 32

typedef struct task_src {
  pid_t tid;
  int perf_fd, status_fd, sched_fd, stat_fd;
} task_src;

typedef struct src {
  pid_t pid;
  task_src t[MAX_TASKS];
  int nt;
} src;

typedef struct snap {
  uint64_t sys, vcs, nvcs, cpu_ns, ticks;
} snap;

static src S[N_SRC];
static bool g_perf;
static long g_tp_id = -1;
static double g_mark_overhead; /* client syscalls the two marks add */
static long g_clk_tck = 100;

static long tracepoint_id(void) {
  const char *paths[] = {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                         "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"};
  for (size_t i = 0; i < 2; i++) {
    FILE *f = fopen(paths[i], "r");
    if (f == NULL) continue;
    long id = -1;
    if (fscanf(f, "%ld", &id) != 1) id = -1;
    fclose(f);
    if (id >= 0) return id;
  }
  return -1;
}

static int perf_open(pid_t tid) {
  if (g_tp_id < 0) return -1;
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.type = PERF_TYPE_TRACEPOINT;
  a.size = sizeof a;
  a.config = (uint64_t)g_tp_id;
  return (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static int open_task(task_src *t, pid_t pid, pid_t tid) {
  char p[96];
  t->tid = tid;
  snprintf(p, sizeof p, "/proc/%d/task/%d/status", (int)pid, (int)tid);
  t->status_fd = open(p, O_RDONLY | O_CLOEXEC);
  snprintf(p, sizeof p, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
  t->sched_fd = open(p, O_RDONLY | O_CLOEXEC);
  snprintf(p, sizeof p, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
  t->stat_fd = open(p, O_RDONLY | O_CLOEXEC);
  t->perf_fd = perf_open(tid);
  return t->status_fd >= 0 ? 0 : -1;
}

static int open_src(src *s, pid_t pid, pid_t only_tid) {
  memset(s, 0, sizeof *s);
  s->pid = pid;
  if (pid <= 0) return -1;
  if (only_tid > 0) {
    s->nt = 1;
    return open_task(&s->t[0], pid, only_tid);
  }
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/task", (int)pid);
  DIR *d = opendir(p);
  if (d == NULL) return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && s->nt < MAX_TASKS) {
    if (e->d_name[0] == '.') continue;
    if (open_task(&s->t[s->nt], pid, (pid_t)atoi(e->d_name)) == 0) s->nt++;
  }
  closedir(d);
  return s->nt > 0 ? 0 : -1;
}

static void close_src(src *s) {
  for (int i = 0; i < s->nt; i++) {
    int fds[4] = {s->t[i].perf_fd, s->t[i].status_fd, s->t[i].sched_fd, s->t[i].stat_fd};
    for (int j = 0; j < 4; j++)
      if (fds[j] >= 0) close(fds[j]);
  }
  s->nt = 0;
}

static uint64_t field_after(const char *buf, const char *key) {
  const char *p = strstr(buf, key);
  return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void read_status(const task_src *t, snap *s) {
  char buf[4096];
  ssize_t n = pread(t->status_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  buf[n] = '\0';
  s->vcs += field_after(buf, "\nvoluntary_ctxt_switches:");
  s->nvcs += field_after(buf, "\nnonvoluntary_ctxt_switches:");
}

static void read_perf(const task_src *t, snap *s) {
  uint64_t v = 0;
  if (t->perf_fd >= 0 && read(t->perf_fd, &v, sizeof v) == (ssize_t)sizeof v) s->sys += v;
}

static void read_cpu(const task_src *t, snap *s) {
  char buf[1024];
  ssize_t n = t->sched_fd >= 0 ? pread(t->sched_fd, buf, sizeof buf - 1, 0) : -1;
  if (n > 0) {
    buf[n] = '\0';
    s->cpu_ns += strtoull(buf, NULL, 10);
  }
  n = t->stat_fd >= 0 ? pread(t->stat_fd, buf, sizeof buf - 1, 0) : -1;
  if (n > 0) {
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (p) {
      /* after ")": state(3) ppid ... utime is field 14, stime 15 */
      unsigned long long ut = 0, st = 0;
      if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        s->ticks += ut + st;
    }
  }
}

/* Full snapshot of one source. */
static snap snap_full(const src *s) {
  snap r;
  memset(&r, 0, sizeof r);
  for (int i = 0; i < s->nt; i++) {
    read_status(&s->t[i], &r);
    read_perf(&s->t[i], &r);
    read_cpu(&s->t[i], &r);
  }
  return r;
}

static snap snap_light(const src *s, bool perf_last) {
  snap r;
  memset(&r, 0, sizeof r);
  for (int i = 0; i < s->nt; i++) {
    if (!perf_last) read_perf(&s->t[i], &r);
    read_status(&s->t[i], &r);
    if (perf_last) read_perf(&s->t[i], &r);
  }
  return r;
}

/* Which source plays which party on route k. */
static int src_of(int k, int party) {
  if (party == PARTY_CLIENT) return S_CLIENT;
  bool bare = ROUTES[k].kind == RK_BARE;
  if (party == PARTY_BROKER) return bare ? S_PASSER : S_BROKER;
  return bare ? S_RECEIVER : S_BACKEND;
}

/* ---- the window between connect() and the first response byte ---------- */

typedef struct window_ctx {
  int k;
  snap at_connect[N_PARTIES];
  double sum_sys[N_PARTIES], sum_vcs[N_PARTIES], sum_nvcs[N_PARTIES];
  size_t n;
} window_ctx;

static void window_mark(void *user, int what) {
  window_ctx *w = user;
  if (what == HX_MARK_CONNECT) {
    for (int p = N_PARTIES - 1; p >= 0; p--) /* the client last: its own reads stay outside */
      w->at_connect[p] = snap_light(&S[src_of(w->k, p)], true);
    return;
  }
  snap now[N_PARTIES];
  for (int p = 0; p < N_PARTIES; p++) /* the client first */
    now[p] = snap_light(&S[src_of(w->k, p)], false);
  for (int p = 0; p < N_PARTIES; p++) {
    w->sum_sys[p] += (double)(now[p].sys - w->at_connect[p].sys);
    w->sum_vcs[p] += (double)(now[p].vcs - w->at_connect[p].vcs);
    w->sum_nvcs[p] += (double)(now[p].nvcs - w->at_connect[p].nvcs);
  }
  w->n++;
}

static void calibrate_marks(void) {
  window_ctx w;
  memset(&w, 0, sizeof w);
  w.k = R_DIRECT >= 0 ? R_DIRECT : 0;
  for (int i = 0; i < 50; i++) {
    window_mark(&w, HX_MARK_CONNECT);
    window_mark(&w, HX_MARK_FIRST_BYTE);
  }
  g_mark_overhead = w.sum_sys[PARTY_CLIENT] / (double)w.n;
}

/* ---- public --------------------------------------------------------------- */

void counters_party(int k, int party, pid_t *pid, pid_t *tid) {
  const src *s = &S[src_of(k, party)];
  *pid = s->pid;
  *tid = party == PARTY_CLIENT && s->nt > 0 ? s->t[0].tid : 0;
}

const char *counters_init(void) {
  g_clk_tck = sysconf(_SC_CLK_TCK);
  if (g_clk_tck <= 0) g_clk_tck = 100;
  /* BENCH_NO_PERF=1: the strace method, as on a machine without perf. */
  const char *np = getenv("BENCH_NO_PERF");
  g_tp_id = np && *np == '1' ? -1 : tracepoint_id();
  pid_t self = getpid(), tid = (pid_t)syscall(SYS_gettid);
  open_src(&S[S_CLIENT], self, tid);
  open_src(&S[S_BROKER], W.broker.pid, 0);
  open_src(&S[S_BACKEND], W.backend.pid, 0);
  open_src(&S[S_PASSER], bare_passer_pid(), 0);
  open_src(&S[S_RECEIVER], bare_receiver_pid(), 0);
  g_perf = true;
  for (int i = 0; i < N_SRC; i++)
    for (int j = 0; j < S[i].nt; j++)
      if (S[i].t[j].perf_fd < 0) g_perf = false;
  if (g_perf) calibrate_marks();
  return g_perf ? "perf" : "strace";
}

void counters_fini(void) {
  for (int i = 0; i < N_SRC; i++) close_src(&S[i]);
}

int counters_route(int k, size_t n, route_counts *out) {
  memset(out, 0, sizeof *out);
  const route_def *r = &ROUTES[k];
  uint64_t ns;
  for (int i = 0; i < 5; i++)
    if (route_once(r, NULL, NULL, &ns) != 0) return -1;
  snap a[N_PARTIES], b[N_PARTIES];
  for (int p = 0; p < N_PARTIES; p++) a[p] = snap_full(&S[src_of(k, p)]);
  for (size_t i = 0; i < n; i++)
    if (route_once(r, NULL, NULL, &ns) != 0) return -1;
  for (int p = N_PARTIES - 1; p >= 0; p--) b[p] = snap_full(&S[src_of(k, p)]);
  double dn = (double)n;
  for (int p = 0; p < N_PARTIES; p++) {
    party_fig *f = &out->whole[p];
    f->syscalls = (double)(b[p].sys - a[p].sys) / dn;
    f->vcs = (double)(b[p].vcs - a[p].vcs) / dn;
    f->nvcs = (double)(b[p].nvcs - a[p].nvcs) / dn;
    f->cpu_us = (double)(b[p].cpu_ns - a[p].cpu_ns) / dn / 1000.0;
    f->ticks_us = (double)(b[p].ticks - a[p].ticks) * 1e6 / (double)g_clk_tck / dn;
  }
  if (g_perf) {
    window_ctx w;
    memset(&w, 0, sizeof w);
    w.k = k;
    for (size_t i = 0; i < n; i++)
      if (route_once(r, window_mark, &w, &ns) != 0) return -1;
    if (w.n > 0) {
      out->have_window = true;
      for (int p = 0; p < N_PARTIES; p++) {
        out->window[p].syscalls = w.sum_sys[p] / (double)w.n;
        out->window[p].vcs = w.sum_vcs[p] / (double)w.n;
        out->window[p].nvcs = w.sum_nvcs[p] / (double)w.n;
      }
      out->window[PARTY_CLIENT].syscalls -= g_mark_overhead;
    }
  } else {
    /* strace: its own batch, since tracing multiplies the wake-ups. */
    sc_tab t[N_PARTIES];
    bool ok = strace_summary(k, n, t) == 0; /* not allowed either: wake-ups only */
    for (int p = 0; p < N_PARTIES; p++) out->whole[p].syscalls = ok ? t[p].total / dn : NAN;
  }
  out->ok = true;
  return 0;
}

static double tot(const party_fig f[N_PARTIES], int what) {
  double s = 0;
  for (int p = 0; p < N_PARTIES; p++)
    s += what == 0 ? f[p].vcs : what == 1 ? f[p].syscalls : f[p].cpu_us;
  return s;
}

static void js_party(const char *key, const party_fig *f, bool window) {
  js_obj(key);
  js_num("syscalls", f->syscalls);
  js_num("wakeups", f->vcs);
  js_num("involuntary_switches", f->nvcs);
  if (!window) {
    js_num("cpu_us", f->cpu_us);
    js_num("cpu_ticks_us", f->ticks_us);
  }
  js_end();
}

static void print_table(const char *what, const route_counts rc[MAX_ROUTES], bool window) {
  printf("\n%s\n\n", what);
  printf("| route | wake-ups client | broker | backend | **all** | syscalls client | broker | "
         "backend | **all** | involuntary (all) |\n");
  printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (size_t k = 0; k < N_ROUTES; k++) {
    if (!rc[k].ok || (window && !rc[k].have_window)) continue;
    const party_fig *f = window ? rc[k].window : rc[k].whole;
    double nv = f[0].nvcs + f[1].nvcs + f[2].nvcs;
    printf("| %s | %.2f | %.2f | %.2f | **%.2f** | %.1f | %.1f | %.1f | **%.1f** | %.2f |\n",
           ROUTES[k].id, f[0].vcs, f[1].vcs, f[2].vcs, tot(f, 0), f[0].syscalls, f[1].syscalls,
           f[2].syscalls, tot(f, 1), nv);
  }
}

void counters_report(const char *placement_id, const route_counts rc[MAX_ROUTES]) {
  print_table("wake-ups and system calls per iteration (a batch of one route alone; "
              "broker/backend columns of the bare route: passer/receiver)",
              rc, false);
  if (g_perf)
    print_table("... of which between the client's connect() and its first response byte", rc,
                true);
  else
    printf("\n(no perf counters: the connect -> first byte window is not isolated)\n");
  printf("\n| route | CPU us/iter client | broker | backend | broker+backend |\n|---|--:|--:|--:|--:|\n");
  for (size_t k = 0; k < N_ROUTES; k++)
    if (rc[k].ok)
      printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", ROUTES[k].id, rc[k].whole[0].cpu_us,
             rc[k].whole[1].cpu_us, rc[k].whole[2].cpu_us,
             rc[k].whole[1].cpu_us + rc[k].whole[2].cpu_us);
  js_arr("routes");
  for (size_t k = 0; k < N_ROUTES; k++) {
    if (!rc[k].ok) continue;
    js_obj(NULL);
    js_str("id", ROUTES[k].id);
    js_obj("whole");
    for (int p = 0; p < N_PARTIES; p++) js_party(PARTY_NAMES[p], &rc[k].whole[p], false);
    js_num("wakeups_all", tot(rc[k].whole, 0));
    js_num("syscalls_all", tot(rc[k].whole, 1));
    js_end();
    if (rc[k].have_window) {
      js_obj("window");
      for (int p = 0; p < N_PARTIES; p++) js_party(PARTY_NAMES[p], &rc[k].window[p], true);
      js_num("wakeups_all", tot(rc[k].window, 0));
      js_num("syscalls_all", tot(rc[k].window, 1));
      js_end();
    }
    js_end();
  }
  js_end();
  /* The gate, as information: handoff strictly fewer wake-ups and
   * system calls than reconnect. */
  printf("\n");
  js_arr("gate");
  const route_counts *rr = &rc[R_RECONNECT];
  for (size_t k = 0; k < N_ROUTES; k++) {
    if (!ROUTES[k].handoff || !rc[k].ok || !rr->ok) continue;
    double hw = tot(rc[k].whole, 0), rw = tot(rr->whole, 0);
    double hs = tot(rc[k].whole, 1), rs = tot(rr->whole, 1);
    bool pw = hw < rw, ps = hs < rs; /* NaN (not counted) compares false: FAIL */
    double ha = hw + rc[k].whole[0].nvcs + rc[k].whole[1].nvcs + rc[k].whole[2].nvcs;
    double ra = rw + rr->whole[0].nvcs + rr->whole[1].nvcs + rr->whole[2].nvcs;
    printf("gate %s: %s vs reconnect, per iteration: wake-ups %.2f < %.2f %s, syscalls %.1f < %.1f "
           "%s (all context switches %.2f vs %.2f)",
           placement_id, ROUTES[k].id, hw, rw, pw ? "PASS" : "FAIL", hs, rs, ps ? "PASS" : "FAIL",
           ha, ra);
    js_obj(NULL);
    js_str("route", ROUTES[k].id);
    js_bool("wakeups_pass", pw);
    js_bool("syscalls_pass", ps);
    if (rc[k].have_window && rr->have_window) {
      double hw2 = tot(rc[k].window, 0), rw2 = tot(rr->window, 0);
      double hs2 = tot(rc[k].window, 1), rs2 = tot(rr->window, 1);
      printf("; connect->first byte: wake-ups %.2f < %.2f %s, syscalls %.1f < %.1f %s", hw2, rw2,
             hw2 < rw2 ? "PASS" : "FAIL", hs2, rs2, hs2 < rs2 ? "PASS" : "FAIL");
      js_bool("window_wakeups_pass", hw2 < rw2);
      js_bool("window_syscalls_pass", hs2 < rs2);
    }
    printf("%s\n", (int)k == R_PRIMARY ? "  (primary)" : "");
    js_end();
  }
  js_end();
}
