/* handoff — Windows shells: overlapped operations, clocks, logs. */
#include "winloop.h"

#include "../cli.h" /* cli_log_time */

#include "handoff/client.h"

#include <stdio.h>
#include <string.h>

int wl_op_init(wl_op *op) {
  memset(op, 0, sizeof *op);
  op->ev = CreateEventW(NULL, TRUE, FALSE, NULL);
  return op->ev != NULL ? HO_OK : HO_ERR_NOMEM;
}

void wl_op_free(wl_op *op) {
  if (op->ev != NULL) CloseHandle(op->ev);
  op->ev = NULL;
}

static int start(HANDLE h, wl_op *op, void *buf, DWORD len, bool writing) {
  memset(&op->ov, 0, sizeof op->ov);
  ResetEvent(op->ev);
  /* spec: XFER-39 — low-order bit set: never a completion-port packet. */
  op->ov.hEvent = (HANDLE)((ULONG_PTR)op->ev | 1u);
  BOOL ok = writing ? WriteFile(h, buf, len, NULL, &op->ov) : ReadFile(h, buf, len, NULL, &op->ov);
  if (!ok) {
    DWORD e = GetLastError();
    if (e != ERROR_IO_PENDING) return ho_err_from_win32(e, writing);
  }
  /* Done at once or pending: the event is signalled either way. */
  op->pending = true;
  return HO_OK;
}

int wl_read(HANDLE h, wl_op *op, void *buf, DWORD len) { return start(h, op, buf, len, false); }
int wl_write(HANDLE h, wl_op *op, const void *buf, DWORD len) {
  return start(h, op, (void *)buf, len, true);
}

bool wl_ready(const wl_op *op) { return op->pending && WaitForSingleObject(op->ev, 0) == WAIT_OBJECT_0; }

int wl_result(HANDLE h, wl_op *op, DWORD *n, bool writing) {
  *n = 0;
  op->pending = false;
  if (!GetOverlappedResult(h, &op->ov, n, TRUE)) {
    DWORD e = GetLastError();
    int rc = ho_err_from_win32(e, writing);
    return rc == HO_ERR_WOULD_BLOCK ? HO_ERR_IO : rc;
  }
  return HO_OK;
}

void wl_cancel(HANDLE h, wl_op *op) {
  if (!op->pending) return;
  CancelIoEx(h, &op->ov);
  DWORD n;
  (void)GetOverlappedResult(h, &op->ov, &n, TRUE);
  op->pending = false;
}

/* The library's monotonic clock (QueryPerformanceCounter), written once. */
uint64_t wl_now_us(void) { return ho_client_now_us(); }

uint64_t wl_now_ms(void) { return wl_now_us() / 1000u; }

uint64_t wl_unix_ms(void) {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime; /* 100 ns since 1601 */
  return (t - 116444736000000000ull) / 10000u;
}

const char *const wl_level_names[4] = {"error", "warn", "info", "debug"};

int wl_level_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, wl_level_names[i]) == 0) return i;
  return -1;
}

void wl_log(const char *prog, int level, const char *line) {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  uint64_t us = ((((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime) - 116444736000000000ull) / 10u;
  char when[CLI_LOG_TIME_LEN];
  cli_log_time(when, us);
  fprintf(stderr, "%s %s[%lu] level=%s %s\n", when, prog, (unsigned long)GetCurrentProcessId(),
          wl_level_names[level & 3], line);
  fflush(stderr);
}
