/* handoff-conform — running one case: a private 0700 directory, a forked
 * runner child (so no bug of a case and no SUT can crash or hang the run),
 * a watchdog, the verdict from what the child observed, and the post-case
 * checks every case gets:
 *   - the SUT is still alive (else CRASH, or UNIMPLEMENTED for exit 89);
 *   - a failed wait is a TIMEOUT when the SUT no longer answers at all;
 *   - it still serves backend_pipe (ERR-4);
 *   - no descriptor the runner passed, and no SUT end of a connection the
 *     runner closed, is still open in the SUT's process group (ERR-1),
 *     checked by device and inode in /proc/PID/fd;
 *   - no token of the case appears in the SUT's output (SEC-8).
 * Then the SUT's whole process group is stopped and reaped. */
#ifndef CF_RUN_H
#define CF_RUN_H

#include "conform.h"

/* Does the case apply to the declared features and constants? Returns
 * true, or false with the reason ("not declared: backend-ready"). */
bool cf_case_applies(const cf_opts *o, const cf_case *c, char *why, size_t cap);

/* Run one case; fills res (verdict, texts, duration, trace path). Returns
 * true when the SUT could not even be started (for the caller's give-up
 * rule). */
bool cf_run_case(const cf_opts *o, const cf_case *c, cf_result *res);

/* Set up the runner process (subreaper, signals). */
void cf_run_init(void);
/* A SIGINT/SIGTERM arrived: the current case was killed. */
bool cf_run_interrupted(void);

#endif
