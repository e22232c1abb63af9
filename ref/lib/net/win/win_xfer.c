/* handoff — the Windows DuplicateHandle handoff: the verified target
 * process, the duplicate, closing a duplicate inside the target, the
 * backend's checks of a received handle value, and handle probes.
 * spec: XFER-30 XFER-31 XFER-32 XFER-33 XFER-38 XFER-42 */
#include <string.h>

#include "core/win_handle.h"
#include "net/win/win_internal.h"

/* ---- target (broker side) ---------------------------------------------- */

int ho_win_target_open_pid(uint32_t pid, ho_win_target *t) {
  if (t == NULL || pid == 0) return HO_ERR_INVALID_ARGUMENT;
  /* spec: XFER-30 — PROCESS_DUP_HANDLE only. */
  HANDLE p = OpenProcess(PROCESS_DUP_HANDLE, FALSE, pid);
  if (p == NULL) {
    DWORD e = GetLastError();
    return ho_win_fail_as(e, e == ERROR_ACCESS_DENIED ? HO_ERR_PERMISSION
                              : e == ERROR_INVALID_PARAMETER ? HO_ERR_CLOSED /* no such pid */
                                                             : HO_ERR_IO);
  }
  t->process = ho_v(p);
  t->pid = pid;
  t->ctl = HO_NO_HANDLE;
  return HO_OK;
}

int ho_win_target_open(ho_handle ctl, ho_win_target *t) {
  if (t == NULL) return HO_ERR_INVALID_ARGUMENT;
  uint32_t pid = 0, again = 0;
  size_t avail;
  int rc0 = ho_pipe_available(ctl, &avail);
  if (rc0 != HO_OK) return rc0; /* CLOSED: the backend has gone */
  /* spec: XFER-30 — the pid comes from the control pipe (we hold its client
   * end: the backend is its server), never from what the backend says. */
  int rc = ho_pipe_peer_pid(ctl, HO_PIPE_CLIENT_SIDE, &pid);
  if (rc != HO_OK) return rc;
  ho_win_target n;
  rc = ho_win_target_open_pid(pid, &n);
  if (rc != HO_OK) return rc;
  /* spec: XFER-42 — the pipe must still be connected, to the same pid, after
   * OpenProcess: if the server had exited and its pid been reused in
   * between, the pipe would be broken by now. */
  if (ho_pipe_available(ctl, &avail) != HO_OK ||
      ho_pipe_peer_pid(ctl, HO_PIPE_CLIENT_SIDE, &again) != HO_OK || again != pid) {
    CloseHandle(ho_h(n.process));
    return ho_win_fail_as(ERROR_PIPE_NOT_CONNECTED, again != 0 && again != pid
                                                        ? HO_ERR_PEER_CREDENTIALS
                                                        : HO_ERR_CLOSED);
  }
  n.ctl = ctl;
  *t = n;
  return HO_OK;
}

void ho_win_target_close(ho_win_target *t) {
  if (t == NULL) return;
  ho_win_close(t->process);
  t->process = HO_NO_HANDLE;
  t->ctl = HO_NO_HANDLE;
  t->pid = 0;
}

/* A target process that has exited still has a process object (we hold a
 * handle to it) but no handle table: DuplicateHandle into it fails. */
static bool target_exited(const ho_win_target *t) {
  /* The process handle has PROCESS_DUP_HANDLE only (XFER-30): no wait, no
   * exit code. The control pipe tells: its server end went with the
   * process. */
  size_t avail;
  return t->ctl != HO_NO_HANDLE && ho_pipe_available(t->ctl, &avail) == HO_ERR_CLOSED;
}

int ho_win_dup_into(const ho_win_target *t, ho_handle conn, uint64_t *value) {
  if (t == NULL || t->process == HO_NO_HANDLE || value == NULL || conn == HO_NO_HANDLE || conn == 0)
    return HO_ERR_INVALID_ARGUMENT;
  HANDLE dup = NULL;
  /* spec: XFER-31 BACKEND-8 — not inheritable, same access. */
  if (!DuplicateHandle(GetCurrentProcess(), ho_h(conn), ho_h(t->process), &dup, 0, FALSE,
                       DUPLICATE_SAME_ACCESS)) {
    DWORD e = GetLastError();
    if (target_exited(t)) return ho_win_fail_as(e, HO_ERR_CLOSED);
    return ho_win_fail(e, false);
  }
  *value = (uint64_t)(uintptr_t)dup;
  return HO_OK;
}

int ho_win_close_in(const ho_win_target *t, uint64_t value) {
  if (t == NULL || t->process == HO_NO_HANDLE || value == 0 || value > 0xFFFFFFFFull)
    return HO_ERR_INVALID_ARGUMENT;
  /* spec: XFER-33 — the form that works on Windows and under Wine: the
   * source is closed by a duplicate into a real target (us), which we then
   * close. DuplicateHandle(target, value, NULL, NULL, 0, FALSE,
   * DUPLICATE_CLOSE_SOURCE) fails under Wine 8 with ERROR_INVALID_HANDLE and
   * leaves the duplicate open. */
  HANDLE tmp = NULL;
  /* First a plain duplicate: Wine 8 answers TRUE (with a handle of ours) to
   * the source-closing form even for a value that is not open in the
   * target, so "it succeeded" alone does not prove a close. */
  if (!DuplicateHandle(ho_h(t->process), (HANDLE)(uintptr_t)value, GetCurrentProcess(), &tmp, 0,
                       FALSE, DUPLICATE_SAME_ACCESS)) {
    DWORD e = GetLastError();
    if (target_exited(t)) return ho_win_fail_as(e, HO_ERR_CLOSED);
    return ho_win_fail_as(e, e == ERROR_INVALID_HANDLE ? HO_ERR_INVALID_ARGUMENT : HO_ERR_IO);
  }
  CloseHandle(tmp);
  tmp = NULL;
  if (!DuplicateHandle(ho_h(t->process), (HANDLE)(uintptr_t)value, GetCurrentProcess(), &tmp, 0,
                       FALSE, DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS)) {
    DWORD e = GetLastError();
    if (target_exited(t)) return ho_win_fail_as(e, HO_ERR_CLOSED);
    return ho_win_fail_as(e, e == ERROR_INVALID_HANDLE ? HO_ERR_INVALID_ARGUMENT : HO_ERR_IO);
  }
  if (tmp != NULL) CloseHandle(tmp);
  return HO_OK;
}

/* ---- checks (backend side) ----------------------------------------------- */

/* The questions of ho_win_handle_judge() (core/win_handle.c), answered with
 * Win32 calls; the error of a failed one is kept for ho_win_fail_as(). */
_Static_assert(HO_WIN_PIPE_SERVER_END == PIPE_SERVER_END, "PIPE_SERVER_END");

static int ask_win32(void *ctx, uint64_t value, ho_win_question q, uint32_t *answer) {
  DWORD *err = ctx;
  HANDLE h = (HANDLE)(uintptr_t)value;
  switch (q) {
  case HO_WIN_ASK_FILE_TYPE: {
    SetLastError(ERROR_SUCCESS);
    DWORD type = GetFileType(h);
    if (type != FILE_TYPE_PIPE) {
      DWORD e = GetLastError();
      *err = e ? e : ERROR_INVALID_HANDLE;
    }
    *answer = type == FILE_TYPE_PIPE;
    return 0;
  }
  case HO_WIN_ASK_PIPE_INFO: {
    DWORD flags = 0;
    if (!GetNamedPipeInfo(h, &flags, NULL, NULL, NULL)) return *err = GetLastError(), -1;
    *answer = flags;
    return 0;
  }
  case HO_WIN_ASK_SERVER_PID: {
    ULONG server = 0;
    if (!GetNamedPipeServerProcessId(h, &server)) return *err = GetLastError(), -1;
    *answer = server;
    return 0;
  }
  default: return -1;
  }
}

int ho_win_check_handle(uint64_t value, uint32_t broker_pid) {
  /* spec: XFER-32 XFER-38 — judged in core/win_handle.c. */
  DWORD err = ERROR_INVALID_HANDLE;
  int rc = ho_win_handle_judge(value, broker_pid, ask_win32, &err, NULL);
  if (rc == HO_ERR_BAD_DESCRIPTOR) return ho_win_fail_as(err, HO_ERR_BAD_DESCRIPTOR);
  return rc;
}

/* ---- probes ------------------------------------------------------------- */

typedef BOOL(WINAPI *compare_fn)(HANDLE, HANDLE);

static compare_fn compare_handles(void) {
  static compare_fn fn;
  static bool looked;
  if (!looked) {
    HMODULE k = GetModuleHandleA("kernelbase.dll");
    if (k != NULL) fn = (compare_fn)(void (*)(void))GetProcAddress(k, "CompareObjectHandles");
    looked = true;
  }
  return fn;
}

int ho_win_probe(const ho_win_target *t, uint64_t value, ho_handle like, ho_win_probe_result *out) {
  if (t == NULL || out == NULL || t->process == HO_NO_HANDLE) return HO_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  out->same_object = -1;
  if (value == 0 || value > 0xFFFFFFFFull) return HO_OK;
  HANDLE tmp = NULL;
  if (!DuplicateHandle(ho_h(t->process), (HANDLE)(uintptr_t)value, GetCurrentProcess(), &tmp, 0,
                       FALSE, DUPLICATE_SAME_ACCESS))
    return HO_OK; /* closed (or never there) */
  out->open = true;
  out->pipe = GetFileType(tmp) == FILE_TYPE_PIPE;
  DWORD flags = 0;
  if (out->pipe && GetNamedPipeInfo(tmp, &flags, NULL, NULL, NULL))
    out->server_end = (flags & PIPE_SERVER_END) != 0;
  ULONG pid = 0;
  if (out->pipe && GetNamedPipeServerProcessId(tmp, &pid)) out->server_pid = pid;
  pid = 0;
  if (out->pipe && GetNamedPipeClientProcessId(tmp, &pid)) out->client_pid = pid;
  compare_fn cmp = compare_handles();
  if (like != HO_NO_HANDLE && cmp != NULL) out->same_object = cmp(tmp, ho_h(like)) ? 1 : 0;
  CloseHandle(tmp);
  return HO_OK;
}
