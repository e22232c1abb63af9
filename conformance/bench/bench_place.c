/* bench_place — named CPU placements, applied with sched_setaffinity to
 * every task of the broker and the backend (and of the bare loop's passer
 * and receiver, placed like broker and backend) and to the client thread.
 * Threads and processes the client thread creates afterwards inherit its
 * mask (throughput clients, fresh handoff-client processes). */
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const placement PLACEMENTS[] = {
    /* id             label                                   client broker backend */
    {"free",         "free (no pinning)",                     -1,    -1,    -1},
    {"one_cpu",      "all on one CPU",                         0,     0,     0},
    {"client_apart", "client apart from broker+backend",       1,     0,     0},
    {"broker_apart", "broker apart from backend+client",       0,     1,     0},
};
const size_t N_PLACEMENTS = sizeof PLACEMENTS / sizeof PLACEMENTS[0];

static cpu_set_t g_all;
static int g_cpus[CPU_SETSIZE];
static int g_ncpu = -1;

static void init(void) {
  if (g_ncpu >= 0) return;
  CPU_ZERO(&g_all);
  if (sched_getaffinity(0, sizeof g_all, &g_all) != 0) {
    g_ncpu = 0;
    return;
  }
  g_ncpu = 0;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &g_all)) g_cpus[g_ncpu++] = c;
}

int place_ncpu(void) {
  init();
  return g_ncpu;
}

int place_cpu(int slot) {
  init();
  return slot >= 0 && slot < g_ncpu ? g_cpus[slot] : -1;
}

bool place_possible(const placement *p) {
  int need = 0;
  if (p->client > need) need = p->client;
  if (p->broker > need) need = p->broker;
  if (p->backend > need) need = p->backend;
  return need < place_ncpu();
}

static void mask_of(int slot, cpu_set_t *m) {
  init();
  if (slot < 0) {
    *m = g_all;
    return;
  }
  CPU_ZERO(m);
  CPU_SET(g_cpus[slot], m);
}

/* Every task of pid. */
static int pin_pid(pid_t pid, int slot) {
  if (pid <= 0) return 0;
  cpu_set_t m;
  mask_of(slot, &m);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (d == NULL) return -1;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (sched_setaffinity((pid_t)atoi(e->d_name), sizeof m, &m) != 0) rc = -1;
  }
  closedir(d);
  return rc;
}

int place_client_self(const placement *p) {
  cpu_set_t m;
  mask_of(p->client, &m);
  return sched_setaffinity(0, sizeof m, &m);
}

int place_apply(const placement *p) {
  if (!place_possible(p)) return -1;
  int rc = place_client_self(p);
  if (pin_pid(W.broker.pid, p->broker) != 0) rc = -1;
  if (pin_pid(bare_passer_pid(), p->broker) != 0) rc = -1;
  if (pin_pid(W.backend.pid, p->backend) != 0) rc = -1;
  if (pin_pid(bare_receiver_pid(), p->backend) != 0) rc = -1;
  return rc;
}
