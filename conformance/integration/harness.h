/* Integration harness: real processes (handoff-broker, handoff-backend)
 * in a private 0700 directory, and an in-process client that speaks the
 * client side of the protocol byte for byte (Hello, Negotiated, ready,
 * echo), used by the integration tests and the benchmark. */
#ifndef HO_HARNESS_H
#define HO_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct hx_proc {
  pid_t pid;
  char log[512];
} hx_proc;

/* Paths of one test world. */
typedef struct hx_world {
  char dir[256];
  char listen[320], endpoint[320], pipe[320];
  hx_proc broker, backend, backend2;
} hx_world;

/* mkdtemp 0700 under $TMPDIR or /tmp. Returns 0 or -1. */
int hx_world_init(hx_world *w, const char *tag);
/* Start a program with argv (NULL-terminated), stderr+stdout to p->log;
 * wait until every path in `wait_paths` (NULL-terminated) exists (bounded
 * 5 s). Returns 0 or -1. */
int hx_spawn(hx_proc *p, const char *log, char *const argv[], const char *const wait_paths[]);
/* SIGTERM, wait; returns the exit status (or 128+signal), -1 if none. */
int hx_stop(hx_proc *p);
/* Stop every process, remove the directory. */
void hx_world_fini(hx_world *w);
/* Open descriptors of pid (entries of /proc/PID/fd), -1 on error. */
int hx_fd_count(pid_t pid);
/* Wait (bounded, 3 s) until pid's descriptor count is at most want. Returns
 * the last count seen. */
int hx_fd_settle(pid_t pid, int want);
/* Does p->log contain `needle`? */
bool hx_log_has(const hx_proc *p, const char *needle);
/* Directory of the programs ($HO_BIN_DIR or build/bin). */
const char *hx_bin(const char *name, char *buf, size_t cap);

/* ---- client ---- */
enum { HX_ROUTE_NONE = 0, HX_ROUTE_HANDOFF = 1, HX_ROUTE_RECONNECT = 2, HX_ROUTE_REFUSED = 3 };

typedef struct hx_client_opts {
  const char *broker;
  const char *service;
  uint64_t caps;         /* Hello.client_capabilities */
  bool early_data;       /* write the request right behind the Hello */
  const char *message;   /* echoed by the backend */
  int ready_timeout_ms;  /* default 2000 */
  bool hang_up_after_hello; /* write Hello and close at once */
} hx_client_opts;

typedef struct hx_client_result {
  int route;
  bool echo_ok;          /* the whole message came back, then EOF, nothing more */
  bool token_offered;
  bool backend_ready;    /* Negotiated had CAP_BACKEND_READY */
  bool coalesced;        /* ... and CAP_COALESCED_REPLY: the backend wrote it */
  uint32_t refused_code;
  char why[128];         /* why the client reconnected */
  uint64_t first_byte_ns; /* connect start -> first echo byte */
  uint64_t total_ns;
  uint64_t negotiated_ns; /* connect start -> Negotiated read */
  uint64_t ready_ns;      /* connect start -> ready read */
} hx_client_result;

/* Run one client. Returns 0 if it ran to an end it can describe (also a
 * fallback), -1 on a harness error (message in out->why). */
int hx_client_run(const hx_client_opts *o, hx_client_result *out);

uint64_t hx_now_ns(void);

#endif
