/* handoff — Windows shells (ref/bin/win/): what the three programs share.
 *
 * I/O model (spec: XFER-34 XFER-39): every pipe is overlapped; each pending
 * read or write has its own manual-reset event, put in OVERLAPPED.hEvent
 * with the low-order bit set, so that no completion packet is ever queued
 * to an I/O completion port — the client pipe is one file object shared by
 * broker and backend, and an association with either process's port would
 * deliver the other's completions to it. The loop waits on the events
 * (WaitForMultipleObjects, at most 64 at a time) with the core's next
 * deadline as timeout: no polling, no sleep. */
#ifndef HANDOFF_WINLOOP_H
#define HANDOFF_WINLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>

#include "handoff/winpipe.h"

/* ---- one overlapped operation ------------------------------------------------ */

typedef struct wl_op {
  OVERLAPPED ov;
  HANDLE ev;     /* untagged event */
  bool pending;  /* started, result not yet taken */
} wl_op;

int wl_op_init(wl_op *op);
void wl_op_free(wl_op *op); /* the op must not be pending */
/* Start a read/write of `len` bytes on `h` (the buffer must live until the
 * result is taken). HO_OK: started (completion signals op->ev); else the
 * error (nothing pending). */
int wl_read(HANDLE h, wl_op *op, void *buf, DWORD len);
int wl_write(HANDLE h, wl_op *op, const void *buf, DWORD len);
/* Is the result there (op->ev signalled)? */
bool wl_ready(const wl_op *op);
/* Take the result of a finished op: HO_OK with *n (0 on a read: EOF), or the
 * error (CLOSED for a broken pipe). */
int wl_result(HANDLE h, wl_op *op, DWORD *n, bool writing);
/* Cancel a pending op and wait for it to end (the buffer may then go). */
void wl_cancel(HANDLE h, wl_op *op);

/* ---- time and logs -------------------------------------------------------------- */

uint64_t wl_now_ms(void);  /* monotonic (QueryPerformanceCounter): the cores' clock */
uint64_t wl_now_us(void);  /* the same clock in microseconds, for measurements */
uint64_t wl_unix_ms(void); /* wall clock, Unix epoch ms */

/* "<unix seconds>.<us> <prog>[pid] level=<l> <line>" on stderr, flushed:
 * the Linux programs' prefix, so logs merge and sort by time. */
void wl_log(const char *prog, int level, const char *line);
extern const char *const wl_level_names[4];
int wl_level_parse(const char *s); /* -1 if not error|warn|info|debug */

#endif
