/* handoff-conform — the per-case context a case function works with, and
 * the failure API. One context exists per case, in the forked runner child
 * that runs it (run.c). */
#ifndef CF_CTX_H
#define CF_CTX_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

#include "conform.h"

#define CF_MAX_HELD 512
#define CF_MAX_TOKENS 512

/* A descriptor (socket, pipe, file) whose open file the SUT must have
 * released by the end of the case: identified by device and inode, so a
 * runtime that opens descriptors of its own never raises a false alarm. */
typedef struct cf_held {
  dev_t dev;
  ino_t ino;
  char what[96];  /* "descriptor of handoff corr=3 (socket)" */
  char reqs[64];  /* requirement IDs a leak of it violates */
  bool immediate; /* must already be closed when its refusing ACK arrives */
} cf_held;

typedef struct cf_sut cf_sut;
typedef struct cf_trace cf_trace;

struct cf_ctx {
  const cf_opts *o;
  const cf_case *c;
  cf_result *res;
  char dir[160];
  char ep_handoff[108], ep_pipe[108], ep_client[108];
  char message[96];       /* client mode: the request the SUT sends ({message}) */
  void *mstate;           /* the mode's runner-side state (broker: bkend.h, client: cbroker.h) */
  cf_sut *sut;
  cf_trace *tr;
  cf_held held[CF_MAX_HELD];
  size_t nheld;
  uint8_t tokens[CF_MAX_TOKENS][16]; /* every token used: none may be logged */
  size_t ntokens;
  uint64_t next_corr;
  int nctl, nconn, npipe; /* labels in the trace */
  bool waited_out;        /* a failure came from a wait that timed out */
  bool skipped;
  bool tolerate_close; /* the SUT may close a control connection at once (SEC-4) */
  uint64_t t0_ms;
};

/* Record a failure (the first one wins) and return -1, so a case can write
 * `return cf_fail(...)`. `reqs`: the requirement IDs the failure concerns
 * (NULL: the case's own); `expected` and the formatted actual text are
 * shown in the report. */
int cf_fail(cf_ctx *ctx, const char *reqs, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, for a wait that ran out (decides TIMEOUT vs FAIL later). */
int cf_fail_wait(cf_ctx *ctx, const char *reqs, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The case cannot run here (environment): SKIP with a reason; returns -1. */
int cf_skip(cf_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Has a failure (or skip) been recorded? */
bool cf_failed(const cf_ctx *ctx);
/* The runner itself could not do something (socket, fork): CF_ERROR. */
int cf_error(cf_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Register a descriptor the SUT must release by the end of the case
 * (fstat of `fd` in the runner gives the identity). Returns its slot or -1. */
int cf_hold(cf_ctx *ctx, int fd, const char *reqs, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cf_hold_ino(cf_ctx *ctx, dev_t dev, ino_t ino, const char *reqs, const char *what);
/* Remember a token so the SUT's output can be searched for it (SEC-8). */
void cf_note_token(cf_ctx *ctx, const uint8_t token[16]);

#endif /* CF_CTX_H */
