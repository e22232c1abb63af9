/* bench — the measuring apparatus of issue #13: every route and every CPU
 * placement in one run, against real handoff-broker and handoff-backend
 * processes. One concern per file:
 *
 *   bench_main.c     options, the world (processes), the order of sections
 *   bench_routes.c   the route table, one iteration of a route, the
 *                    alternating latency loop, percentiles and ratios
 *   bench_bare.c     the floors: direct connect and the bare SCM_RIGHTS loop
 *   bench_place.c    CPU placements (sched_setaffinity on every party)
 *   bench_counters.c wake-ups, system calls and CPU time of every party
 *                    (perf tracepoint counters, else strace; /proc)
 *   bench_strace.c   every party under strace: calls by name, timelines
 *   bench_fresh.c    fresh client processes (handoff-client, fork+exec)
 *   bench_cost.c     cost per handoff: CPU time vs the bare loop, and
 *                    instructions per handoff in each core (callgrind)
 *   bench_scale.c    throughput with clients in flight, held sessions
 *   bench_out.c      results.json, sample files, the gnuplot plot
 *   bench_cores.c    (own program) the cores driven in-process for callgrind
 *
 * Figures never gate anything: verdict lines are information. */
#ifndef HO_BENCH_H
#define HO_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../integration/harness.h"

/* ---- routes (bench_routes.c) ------------------------------------------- */

typedef enum route_kind {
  RK_PROTO = 0, /* the harness client against the broker (caps, early) */
  RK_DIRECT,    /* the harness client straight to backend_pipe */
  RK_BARE       /* the bare SCM_RIGHTS loop (bench_bare.c) */
} route_kind;

typedef struct route_def {
  const char *id;    /* short name in tables, JSON and files */
  const char *label; /* what it is */
  route_kind kind;
  uint64_t caps;     /* Hello.client_capabilities (RK_PROTO) */
  bool early;        /* request written behind the Hello */
  int want;          /* HX_ROUTE_* the iteration must end on */
  bool handoff;      /* a handoff route: ratios against reconnect and direct */
} route_def;

#define MAX_ROUTES 16
extern const route_def ROUTES[];
extern const size_t N_ROUTES;
int route_find(const char *id); /* index or -1 */
extern int R_PRIMARY, R_RECONNECT, R_DIRECT, R_BARE; /* indexes of the reference routes */

/* One iteration of route r. mark/mark_user as in hx_client_opts. Writes the
 * connect -> first response byte time. Returns 0, or -1 (message printed). */
int route_once(const route_def *r, void (*mark)(void *, int), void *mark_user, uint64_t *first_ns);

typedef struct lat_stats {
  size_t n;
  double p50, p90, p99, p999, mean, min, max; /* microseconds */
} lat_stats;

/* Sort v and compute the statistics (nearest rank). */
lat_stats lat_compute(uint64_t *v, size_t n);

/* The latency part for one placement: every route alternating iteration by
 * iteration (order rotated), `iters` each after `warmup`. samples[k] gets
 * iters values (caller frees). Returns 0 or -1. */
int lat_run(size_t iters, size_t warmup, uint64_t *samples[MAX_ROUTES], lat_stats st[MAX_ROUTES]);

/* Print the Markdown table and the ratios; write them to the JSON object
 * that is open. ratio_out (may be NULL) receives, per route, P50 and P99 of
 * route/reconnect ([k][0], [k][1]) and route/direct ([k][2], [k][3]). */
void lat_report(const char *title, const lat_stats st[MAX_ROUTES], double ratio_out[MAX_ROUTES][4]);

/* ---- floors (bench_bare.c) ---------------------------------------------- */

/* Start the bare loop's two processes (a passer that accepts and passes the
 * socket with one byte over SCM_RIGHTS, a receiver that answers one byte on
 * it). Must run before any thread is created. Returns 0 or -1. */
int bare_start(const char *dir);
void bare_stop(void);
pid_t bare_passer_pid(void);
pid_t bare_receiver_pid(void);
/* One bare round trip: connect, write 2 bytes, read the answer byte. */
int bare_once(void (*mark)(void *, int), void *mark_user, uint64_t *first_ns);

/* ---- the world (bench_main.c) -------------------------------------------- */

typedef struct bench_cfg {
  int quick;
  size_t iters, warmup;      /* latency per route per placement */
  size_t count_iters;        /* counter batches per route */
  size_t strace_iters;       /* strace breakdown batches (0: skipped) */
  size_t fresh_iters;        /* fresh processes per route per placement */
  long callgrind_n;          /* handoffs per callgrind run (0: skipped) */
  double tput_seconds;       /* per in-flight level */
  size_t hold;               /* sessions held open */
  size_t hold_iters;         /* latency iterations with and without them */
  int runs;                  /* latency repetitions (bench-repeat) */
  const char *only;          /* comma list of sections, NULL = all */
  char out_dir[512];         /* build/bench */
} bench_cfg;

extern bench_cfg CFG;
extern hx_world W;
bool section_on(const char *name);

/* ---- placements (bench_place.c) ------------------------------------------ */

typedef struct placement {
  const char *id;
  const char *label;
  int client, broker, backend; /* CPU slot: -1 every CPU, 0 the first, 1 the second */
} placement;

extern const placement PLACEMENTS[];
extern const size_t N_PLACEMENTS;
/* CPUs available to us (sched_getaffinity); slots 0 and 1 are the first two. */
int place_ncpu(void);
int place_cpu(int slot);
bool place_possible(const placement *p);
/* Pin the calling thread (client), broker and backend (and the bare loop's
 * passer and receiver like broker and backend). Returns 0 or -1. */
int place_apply(const placement *p);
/* Pin only the calling process/thread to the client's slot (fresh children). */
int place_client_self(const placement *p);

/* ---- counters (bench_counters.c) ----------------------------------------- */

enum { PARTY_CLIENT = 0, PARTY_BROKER, PARTY_BACKEND, N_PARTIES };
extern const char *const PARTY_NAMES[N_PARTIES];

typedef struct party_fig {
  double syscalls, vcs, nvcs; /* per iteration */
  double cpu_us;              /* per iteration (schedstat) */
  double ticks_us;            /* per iteration (/proc/PID/stat utime+stime, 10 ms ticks) */
} party_fig;

typedef struct route_counts {
  bool ok;
  party_fig whole[N_PARTIES];   /* a batch of iterations of this route alone */
  bool have_window;
  party_fig window[N_PARTIES];  /* between connect() and the first response byte */
} route_counts;

/* Open the counters (after the processes exist). Returns the method name:
 * "perf" (exact, tracepoint raw_syscalls:sys_enter per task) or "strace". */
const char *counters_init(void);
void counters_fini(void);
/* A batch of n iterations of route k alone; wake-ups, system calls and CPU
 * time of every party. Returns 0 or -1. */
int counters_route(int k, size_t n, route_counts *out);
/* Print the per-route tables and the gate verdict of one placement, write
 * them into the open JSON object. */
void counters_report(const char *placement_id, const route_counts rc[MAX_ROUTES]);
/* Who plays `party` on route k: its pid, and for the client (a thread of
 * this process) its tid (0 otherwise). */
void counters_party(int k, int party, pid_t *pid, pid_t *tid);

/* ---- strace (bench_strace.c) --------------------------------------------- */

typedef struct sc_entry {
  char name[40];
  double calls;
} sc_entry;

typedef struct sc_tab { /* one party's strace -c table */
  sc_entry e[96];
  int n;
  double total;
  bool ok;
} sc_tab;

/* n iterations of route k with every party under strace -c: calls by name
 * (attach and detach costs subtracted). Returns 0 or -1. */
int strace_summary(int k, size_t n, sc_tab out[N_PARTIES]);
/* strace_summary for every route: printed and written to JSON. */
int strace_breakdown(size_t n);
/* n iterations of every route under strace -ttt: CFG.out_dir/trace/ROUTE.txt
 * with the calls of all parties merged in time order. */
int strace_timelines(size_t n);

/* ---- sections ------------------------------------------------------------ */

/* bench_fresh.c: one placement; primary_ratio (may be NULL) gets the first
 * fresh route's CLI first-byte P50 and P99 over reconnect's. */
int fresh_run(const placement *p, double primary_ratio[2]);
void cost_report(const route_counts rc[MAX_ROUTES]); /* bench_cost.c: CPU vs bare */
int cost_callgrind(void);              /* bench_cost.c: Ir per handoff per core */
int scale_throughput(void);            /* bench_scale.c */
int scale_held(void);                  /* bench_scale.c */

/* ---- output (bench_out.c) ------------------------------------------------ */

/* A JSON document built as it goes: objects and arrays nest; keys are
 * ignored inside arrays. */
void js_begin(void);
void js_obj(const char *key);
void js_arr(const char *key);
void js_end(void);
void js_num(const char *key, double v);
void js_int(const char *key, long long v);
void js_str(const char *key, const char *v);
void js_bool(const char *key, bool v);
/* Write the document to CFG.out_dir/results.json; returns 0 or -1. */
int js_write(void);

void out_machine(void);               /* machine, kernel, CPUs, commit, date (JSON + text) */
/* Sorted samples of one route in one placement, for the plot. */
void out_samples(const char *placement_id, const char *route_id, const uint64_t *sorted, size_t n);
int out_plot(void);                   /* latency.png from the sample files (gnuplot) */

/* Small helpers. */
double median_of(double *v, size_t n); /* sorts v */
void raise_nofile(void);
uint64_t now_ns(void);

#endif
