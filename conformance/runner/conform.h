/* handoff-conform — shared types of the conformance runner.
 *
 * Layers (one file or pair each):
 *   main.c        CLI, option parsing, --help, exit codes
 *   manifest.c    the manifest file (JSON) and the registry of features and
 *                 constants each mode accepts (registry.c)
 *   run.c         one forked runner child per case, watchdog, verdicts,
 *                 post-case checks (liveness, descriptor leaks, SEC-8)
 *   sut.c         the system under test: private directory, placeholders,
 *                 process group, bounded start and stop
 *   procfs.c      /proc and sock_diag: which descriptors the SUT holds
 *   pb.c          hand-rolled protobuf writer for offers good and bad
 *   trace.c       per-case wire trace
 *   report.c      console tree, JUnit XML, JSON
 *   expect.c      expected-failure list checked both ways
 *   usage.c       --help: the contract of each mode
 *   modes.c       what differs between the modes around a case
 *   sock.c        socket helpers of the broker and client modes
 *   asuser.c      a connection made by another user (SEC-1, SEC-4)
 *   cases.c       the cases of each mode, in run order
 * Backend mode (the runner is the broker and the client):
 *   ctl.c         the adversarial broker's control connections
 *   client.c      the runner's client connections and backend_pipe
 *   route.c       one handoff: send, read the ACK, watch both routes
 *   case_*.c      the backend cases, by area
 * Broker mode (the runner is the clients and the backend):
 *   bkend.c       the runner's backend: control connections, sidebands, ACKs
 *   hclient.c     the runner's clients: Hellos, replies and their checks
 *   bflow.c       one attempt and its verdict; bcoal.c the coalesced ones
 *   case_b*.c     the broker cases
 * Client mode (the runner is the broker and the backend):
 *   cbroker.c     the runner's broker and backend for a client SUT
 *   cflow.c       one run of the client and its verdict
 *   case_c*.c     the client cases
 *
 * Runner-internal names use the prefix cf_ (the library owns ho_).
 */
#ifndef CF_CONFORM_H
#define CF_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CF_SUITE_VERSION "0.1.0"
/* Exit status a SUT uses for "this case is not implemented" (BoGo's 89). */
#define CF_UNIMPLEMENTED_EXIT 89

enum cf_mode { CF_MODE_BACKEND = 1, CF_MODE_BROKER = 2, CF_MODE_CLIENT = 3,
               CF_MODE_DECODE = 4 /* the decoder oracle (decode.c): no features, no constants */ };

typedef enum cf_verdict {
  CF_PASS = 0,
  CF_FAIL,
  CF_SKIP,
  CF_UNIMPLEMENTED,
  CF_CRASH,
  CF_TIMEOUT,
  CF_ERROR /* the runner itself failed (environment, bug): never a pass */
} cf_verdict;

const char *cf_verdict_name(int v);

/* ---- features and constants (registry.c) -------------------------------- */

/* Feature bits: names of the spec's capability registry and options. A
 * bit means the same extension in every mode; each mode has its own rows
 * (name, help) in the registry (registry.c). */
enum {
  CF_F_BACKEND_READY = 1u << 0, /* backend-ready mode (READY-36, READY-7..READY-16) */
  CF_F_EARLY_DATA = 1u << 1,    /* early data (READY-17..READY-21) */
  CF_F_MULTI_OFFER = 1u << 2,   /* BACKEND_CAP_MULTI_OFFER: control connections kept */
  CF_F_SERVICE_CHECK = 1u << 3, /* refuses offers for a service it does not serve */
  CF_F_COALESCED = 1u << 4,     /* coalesced reply, rc2 (READY-25..READY-34) */
  CF_F_HANDOFF = 1u << 5,       /* client: sets CAP_HANDLE_PASSING, adopts */
  CF_F_PRINT_REPLY = 1u << 6    /* client: prints the reply on its output */
};

/* Constants a SUT can be started with (placeholders {name}). */
enum {
  CF_K_OFFER_TIMEOUT_MS = 0, /* backend */
  CF_K_REPLAY_CAPACITY,
  CF_K_HELLO_TIMEOUT_MS,     /* broker */
  CF_K_ACK_TIMEOUT_MS,
  CF_K_FAILED_ATTEMPTS,
  CF_K_FAILURE_WINDOW_MS,
  CF_K_HELLO_RATE,
  CF_K_READY_TIMEOUT_MS,     /* client */
  CF_K_REPLY_TIMEOUT_MS,
  CF_K_COUNT
};
#define CF_K_BIT(k) (1u << (k))

typedef struct cf_feature_def {
  const char *name;
  unsigned bit;
  unsigned modes; /* 1 << cf_mode */
  const char *help;
} cf_feature_def;

typedef struct cf_const_def {
  const char *name;
  long def;     /* spec default, or -1: none (cases needing it are skipped) */
  long min, max;
  unsigned modes;
  const char *help;
} cf_const_def;

/* The features of the selected mode (cf_registry_select). */
extern const cf_feature_def *cf_features;
extern size_t cf_nfeatures;
extern const cf_const_def cf_consts[CF_K_COUNT];
/* Select the mode whose features and constants the run uses. */
void cf_registry_select(int mode);
/* Does constant k belong to the selected mode? */
bool cf_const_in_mode(int k);
const cf_feature_def *cf_feature_find(const char *name);
int cf_const_find(const char *name);
const char *cf_feature_name(unsigned bit);
/* "backend", "broker", "client". */
const char *cf_mode_name(int mode);

/* ---- options ------------------------------------------------------------ */

#define CF_MAX_PATTERNS 64

typedef struct cf_opts {
  int mode;
  unsigned features;
  long consts[CF_K_COUNT];
  bool const_set[CF_K_COUNT];
  const char *service;
  char **cmd; /* SUT argv with placeholders, NULL-terminated */
  int ncmd;
  const char *manifest, *sut_name;
  const char *junit, *json, *trace_dir, *failure_trace_dir, *expect_fail;
  const char *run_pats[CF_MAX_PATTERNS];
  int nrun;
  const char *skip_pats[CF_MAX_PATTERNS];
  int nskip;
  bool list, allow_unimplemented, fail_fast, verbose, keep_dirs, quiet;
  int start_timeout_ms, grace_ms;
  const char *tmpdir;
} cf_opts;

/* The value a case uses for constant k: the declared one, else the spec
 * default (-1 if it has none). */
long cf_const(const cf_opts *o, int k);

/* ---- cases -------------------------------------------------------------- */

typedef struct cf_ctx cf_ctx;

typedef struct cf_case {
  const char *id;       /* stable, hierarchical: <mode>.<area>.<name> */
  const char *spec;     /* "spec: ID ID ..." (counted by make compliance) */
  unsigned needs;       /* features that must be declared */
  unsigned absent;      /* features that must NOT be declared */
  unsigned consts;      /* constants (CF_K_BIT) that must have a value */
  const char *does;     /* what the runner does */
  const char *expect;   /* what a conforming SUT does */
  const char *no_mutant; /* NULL, or why no mutant backend can reach it */
  /* 0, or the ACK deadline (ms) this case starts its SUT with when the SUT's
   * command takes {ack_timeout_ms}: a case that judges ordering keeps far
   * from the deadline, so load on the machine cannot decide its verdict. */
  long ack_timeout_ms;
  int (*run)(cf_ctx *ctx);
} cf_case;

typedef struct cf_case_table {
  const cf_case *cases;
  size_t n;
} cf_case_table;

/* All cases of a mode, in run order (cases.c). */
size_t cf_cases(int mode, const cf_case ***out);
/* "backend.descriptor" for "backend.descriptor.none" (static buffer). */
const char *cf_case_area(const cf_case *c, char *buf, size_t cap);
/* Requirement IDs of a case without the "spec:" prefix. */
const char *cf_case_reqs(const cf_case *c);

/* ---- results -------------------------------------------------------------- */

typedef struct cf_result {
  int verdict;
  long duration_ms;
  bool expected_failure; /* listed in --expect-fail and failed */
  bool unexpected;       /* counts against the run */
  char reqs[192];        /* requirement IDs the failure is about */
  char expected[1024];
  char actual[2048];
  char note[512];        /* skip reason, expected-failure reason, ... */
  char trace[512];       /* path of its trace, "" if none kept */
} cf_result;

/* Requirement table generated from spec/ (*.md) at build time. */
typedef struct cf_req {
  const char *id, *level, *party, *file, *text;
} cf_req;
extern const cf_req cf_reqs[];
extern const size_t cf_nreqs;
extern const char cf_spec_revision[];
const cf_req *cf_req_find(const char *id);

/* ---- small utilities (util.c) ------------------------------------------- */

uint64_t cf_now_ms(void);     /* monotonic */
uint64_t cf_now_us(void);     /* monotonic */
uint64_t cf_wall_ms(void);    /* CLOCK_REALTIME, Unix epoch */
void cf_sleep_ms(int ms);
void cf_random(void *buf, size_t n);
/* Pattern match for --run/--skip/--expect-fail: a glob (fnmatch), or an ID
 * that matches itself and every case below it ("backend.descriptor"). */
bool cf_pattern_match(const char *pat, const char *id);
/* snprintf that appends to buf (never overflows, always NUL-terminated). */
void cf_appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Write all of buf to fd (blocking fd; EINTR retried). 0 or -1. */
int cf_write_all(int fd, const void *buf, size_t n);
/* Remove a directory tree (best effort). */
void cf_rmtree(const char *path);
/* Hex of n bytes, lowercase, into out (2n+1 bytes). */
void cf_hex(const uint8_t *p, size_t n, char *out);

#endif /* CF_CONFORM_H */
