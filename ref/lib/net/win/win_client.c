/* handoff — the blocking shell of the client core (ref/lib/client/
 * client_core.c) on Windows named pipes: ho_client_connect() and its
 * helpers with the same contract as the POSIX shell (client_shell.c). Every
 * protocol decision is the core's; this file connects (bare pipe names,
 * spec: XFER-1 §3), reads and writes with deadlines (overlapped I/O,
 * XFER-34 XFER-39), checks who serves each endpoint before writing to it
 * (the pipe's server process and its user, CLIENT-9) and closes.
 * spec: CLIENT-5 CLIENT-9 ERR-3 READY-14 SEC-3 */
#include <stdio.h>
#include <string.h>

#include "handoff/client.h"
#include "client/client_shell_internal.h"
#include "net/win/win_internal.h"

uint64_t ho_client_now_us(void) {
  static LARGE_INTEGER f;
  LARGE_INTEGER c;
  if (f.QuadPart == 0) QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (uint64_t)(c.QuadPart / f.QuadPart) * 1000000u +
         (uint64_t)(c.QuadPart % f.QuadPart) * 1000000u / (uint64_t)f.QuadPart;
}

uint64_t ho_client_now_ms(void) { return ho_client_now_us() / 1000u; }

int ho_client_write_all(ho_handle fd, const void *buf, size_t n, int timeout_ms) {
  if (fd == HO_NO_HANDLE || fd == 0 || (buf == NULL && n > 0)) return HO_ERR_INVALID_ARGUMENT;
  return ho_pipe_write_all(fd, buf, n, timeout_ms);
}

int ho_client_read_exact(ho_handle fd, void *buf, size_t n, int timeout_ms, size_t *got) {
  size_t g = 0;
  if (got != NULL) *got = 0;
  if (fd == HO_NO_HANDLE || fd == 0 || (buf == NULL && n > 0)) return HO_ERR_INVALID_ARGUMENT;
  if (n == 0) return HO_OK;
  int rc = ho_pipe_read_exact(fd, buf, n, timeout_ms, &g);
  if (got != NULL) *got = g;
  return rc;
}

/* One READ action: at most `len` bytes by the deadline; when it passes, one
 * last look at what is already in the pipe (spec: READY-14). */
static void do_read(ho_client_core *core, ho_handle h, size_t len, uint64_t deadline_ms) {
  uint8_t buf[16384];
  if (len > sizeof buf) len = sizeof buf;
  size_t got = 0;
  int rc = ho_pipe_read_some(h, buf, len, ho_client_shell_ms_left(deadline_ms), &got);
  if (rc == HO_ERR_TIMEOUT) {
    size_t avail = 0;
    rc = ho_pipe_available(h, &avail);
    if (rc == HO_OK && avail == 0) {
      (void)ho_client_core_timeout(core, ho_client_now_ms());
      return;
    }
    if (rc == HO_OK) rc = ho_pipe_read_some(h, buf, len < avail ? len : avail, 0, &got);
  }
  if (rc == HO_OK) (void)ho_client_core_data(core, buf, got, ho_client_now_ms());
  else (void)ho_client_core_eof(core, rc == HO_ERR_TIMEOUT ? HO_ERR_IO : rc, ho_client_now_ms());
}

int ho_client_connect(const ho_client_config *cfg, ho_client_result *out) {
  ho_client_config local;
  ho_client_core *core = NULL;
  int rc = ho_client_shell_begin(cfg, out, (uint32_t)GetCurrentProcessId(), &local, &core);
  if (rc != HO_OK) return rc;
  uint32_t connect_ms = local.io_timeout_ms ? local.io_timeout_ms : HO_CLIENT_DEFAULT_IO_TIMEOUT_MS;
  ho_handle h = HO_NO_HANDLE;
  ho_diag diag = {0, ""};
  ho_client_action a;
  while (ho_client_shell_next(core, &a, out, &rc)) {
    switch (a.type) {
    case HO_CACT_CONNECT: {
      /* Bare names on the wire (backend_pipe), "\\.\pipe\" + name here; a
       * busy endpoint is waited for, a missing one is CLOSED at once. */
      int crc = ho_pipe_connect(a.path, connect_ms, &h);
      if (crc != HO_OK) {
        h = HO_NO_HANDLE;
        snprintf(diag.msg, sizeof diag.msg, "connect \\\\.\\pipe\\%s: %s (win32 %lu)", a.path,
                 ho_strerror(crc), ho_win_last_error());
        diag.os_errno = 0;
      } else {
        /* spec: CLIENT-9 — who serves this endpoint (the pipe's server
         * process, its user SID), before a byte is written. */
        ho_peer_cred pc;
        memset(&pc, 0, sizeof pc);
        if (ho_pipe_peer_check(h, HO_PIPE_CLIENT_SIDE, local.server_policy, &pc) != HO_OK) {
          snprintf(diag.msg, sizeof diag.msg,
                   "\\\\.\\pipe\\%s is served by pid %ld of another user, which the server "
                   "policy rejects", a.path, (long)pc.pid);
          diag.os_errno = 0;
          ho_win_close(h);
          h = HO_NO_HANDLE;
          crc = HO_ERR_PEER_REJECTED;
        }
      }
      (void)ho_client_core_connected(core, crc, ho_client_now_ms());
      break;
    }
    case HO_CACT_WRITE:
      (void)ho_client_core_written(
          core, ho_pipe_write_all(h, a.bytes, a.len, ho_client_shell_ms_left(a.deadline_ms)),
          ho_client_now_ms());
      break;
    case HO_CACT_READ:
      do_read(core, h, a.len, a.deadline_ms);
      break;
    case HO_CACT_CLOSE:
      ho_win_close(h);
      h = HO_NO_HANDLE;
      break;
    default:
      break;
    }
  }
  return ho_client_shell_end(core, out, &diag, rc, h, ho_win_close);
}
