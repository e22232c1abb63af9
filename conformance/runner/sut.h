/* handoff-conform — the system under test as a process: placeholders and
 * environment, its own process group, bounded start (both endpoints must
 * accept connections) and stop (SIGTERM to the group, SIGKILL after the
 * grace period), and its output captured in the case directory. */
#ifndef CF_SUT_H
#define CF_SUT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ctx.h"

struct cf_sut {
  pid_t pid, pgid;
  bool running;
  bool stopped; /* the runner had to signal it (it did not end by itself) */
  int status; /* wait status once it has exited */
  char log[200];
  uint64_t started_ms;
};

/* Expand the placeholders of `arg` for this case into out. Returns 0, or -1
 * with the unknown or unset placeholder named in out. */
int cf_expand(const cf_ctx *ctx, const char *arg, char *out, size_t cap);
/* Check every placeholder of argv against the options (before any case
 * runs). Returns 0, or -1 with a message. */
int cf_check_placeholders(const cf_opts *o, char *msg, size_t cap);
/* Does some argument of the SUT's command hold the placeholder {name}? */
bool cf_cmd_takes(const cf_opts *o, const char *name);

/* Start the SUT for ctx and wait until both endpoints accept connections
 * (bounded by o->start_timeout_ms). Returns 0; or -1 with `why` saying what
 * happened (cannot execute, exited early with its status, never opened an
 * endpoint) and *unimplemented set when it exited with the documented
 * "unimplemented" status. */
int cf_sut_start(cf_ctx *ctx, cf_sut *s, char *why, size_t cap, bool *unimplemented);
/* Reap the SUT if it has exited; returns true while it runs. */
bool cf_sut_alive(cf_sut *s);
/* Wait up to timeout_ms for the SUT (a client) to exit by itself. Returns
 * true once it has exited (s->status holds its wait status). */
bool cf_sut_wait_exit(cf_sut *s, int timeout_ms);
/* Stop the whole process group: SIGTERM, up to grace_ms, SIGKILL. Returns
 * true if it exited within the grace period. Safe to call twice. */
bool cf_sut_stop(cf_sut *s, int grace_ms);
/* "exited with status 3", "killed by signal 11 (Segmentation fault)". */
void cf_exit_text(int status, char *buf, size_t cap);
/* The last `cap`-1 bytes of the SUT's output (stdout and stderr). */
size_t cf_sut_log_tail(const cf_sut *s, char *buf, size_t cap);

#endif
