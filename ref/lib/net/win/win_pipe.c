/* handoff — Windows named-pipe endpoints: errors, names, owner-only
 * security, listener, dialer, blocking I/O with deadlines, peer identity.
 * spec: SEC-1 SEC-2 SEC-4 XFER-1 XFER-34 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/win/win_internal.h"

#include <aclapi.h>

/* ---- errors ----------------------------------------------------------- */

static __thread unsigned long last_err;

unsigned long ho_win_last_error(void) { return last_err; }

int ho_err_from_win32(unsigned long err, bool writing) {
  switch (err) {
  case ERROR_SUCCESS: return HO_OK;
  case ERROR_IO_PENDING:
  case ERROR_IO_INCOMPLETE: return HO_ERR_WOULD_BLOCK;
  case ERROR_NO_DATA: return writing ? HO_ERR_CLOSED : HO_ERR_WOULD_BLOCK;
  case ERROR_BROKEN_PIPE:
  case ERROR_PIPE_NOT_CONNECTED:
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_HANDLE_EOF:
  case ERROR_NETNAME_DELETED:
  case ERROR_OPERATION_ABORTED: return HO_ERR_CLOSED;
  case ERROR_ACCESS_DENIED:
  case ERROR_PRIVILEGE_NOT_HELD: return HO_ERR_PERMISSION;
  case ERROR_TOO_MANY_OPEN_FILES:
  case ERROR_NO_SYSTEM_RESOURCES: return HO_ERR_FD_EXHAUSTED;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY: return HO_ERR_NOMEM;
  case ERROR_INVALID_HANDLE:
  case ERROR_INVALID_PARAMETER:
  case ERROR_INVALID_NAME:
  case ERROR_BAD_PATHNAME: return HO_ERR_INVALID_ARGUMENT;
  case ERROR_SEM_TIMEOUT:
  case WAIT_TIMEOUT: return HO_ERR_TIMEOUT;
  case ERROR_PIPE_BUSY:
  case ERROR_ALREADY_EXISTS: return HO_ERR_STATE;
  default: return HO_ERR_IO;
  }
}

int ho_win_fail(unsigned long err, bool writing) {
  last_err = err;
  return ho_err_from_win32(err, writing);
}

int ho_win_fail_as(unsigned long err, int code) {
  last_err = err;
  return code;
}

static __thread HANDLE thread_event;

HANDLE ho_win_thread_event(void) {
  if (thread_event == NULL) thread_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  return thread_event;
}

void ho_win_close(ho_handle h) {
  if (h != HO_NO_HANDLE && h != 0) (void)CloseHandle(ho_h(h));
}

/* ---- names ---------------------------------------------------------------- */

int ho_pipe_local_name(const char *bare, char *out, size_t cap) {
  if (bare == NULL || out == NULL) return HO_ERR_INVALID_ARGUMENT;
  const size_t plen = sizeof HO_PIPE_PREFIX - 1;
  if (strncmp(bare, HO_PIPE_PREFIX, plen) == 0) bare += plen; /* already local */
  size_t n = strlen(bare);
  if (n == 0 || n > HO_PIPE_NAME_MAX) return HO_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)bare[i];
    if (c < 0x21 || c > 0x7e || c == '\\') return HO_ERR_INVALID_ARGUMENT;
  }
  if (plen + n + 1 > cap) return HO_ERR_BUFFER_TOO_SMALL;
  memcpy(out, HO_PIPE_PREFIX, plen);
  memcpy(out + plen, bare, n + 1);
  return HO_OK;
}

/* ---- security (spec: SEC-2) ------------------------------------------------ */

static struct {
  INIT_ONCE once;
  SECURITY_DESCRIPTOR sd;
  PSID user; /* heap copy */
  PACL dacl; /* heap */
  bool ok;
} SEC = {INIT_ONCE_STATIC_INIT, {0}, NULL, NULL, false};

/* Our primary token's user SID (heap copy) or NULL. */
static PSID token_user_of(HANDLE process) {
  HANDLE tok = NULL;
  if (!OpenProcessToken(process, TOKEN_QUERY, &tok)) return NULL;
  DWORD need = 0;
  (void)GetTokenInformation(tok, TokenUser, NULL, 0, &need);
  TOKEN_USER *tu = need ? malloc(need) : NULL;
  PSID copy = NULL;
  if (tu != NULL && GetTokenInformation(tok, TokenUser, tu, need, &need)) {
    DWORD len = GetLengthSid(tu->User.Sid);
    copy = malloc(len);
    if (copy != NULL && !CopySid(len, copy, tu->User.Sid)) {
      free(copy);
      copy = NULL;
    }
  }
  free(tu);
  CloseHandle(tok);
  return copy;
}

static BOOL CALLBACK sec_init(PINIT_ONCE once, PVOID param, PVOID *ctx) {
  (void)once, (void)param, (void)ctx;
  SEC.user = token_user_of(GetCurrentProcess());
  if (SEC.user == NULL) return TRUE;
  DWORD acl_len = sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) - sizeof(DWORD) + GetLengthSid(SEC.user);
  SEC.dacl = malloc(acl_len);
  if (SEC.dacl == NULL) return TRUE;
  if (!InitializeAcl(SEC.dacl, acl_len, ACL_REVISION) ||
      !AddAccessAllowedAce(SEC.dacl, ACL_REVISION, GENERIC_ALL, SEC.user) ||
      !InitializeSecurityDescriptor(&SEC.sd, SECURITY_DESCRIPTOR_REVISION) ||
      !SetSecurityDescriptorOwner(&SEC.sd, SEC.user, FALSE) ||
      !SetSecurityDescriptorDacl(&SEC.sd, TRUE, SEC.dacl, FALSE) ||
      !SetSecurityDescriptorControl(&SEC.sd, SE_DACL_PROTECTED, SE_DACL_PROTECTED))
    return TRUE;
  SEC.ok = true;
  return TRUE;
}

const void *ho_pipe_owner_only_sd(void) {
  (void)InitOnceExecuteOnce(&SEC.once, sec_init, NULL, NULL);
  return SEC.ok ? &SEC.sd : NULL;
}

int ho_pipe_check_owner_only(ho_handle pipe, unsigned *aces) {
  if (aces != NULL) *aces = 0;
  if (ho_pipe_owner_only_sd() == NULL) return HO_ERR_IO;
  PACL dacl = NULL;
  PSECURITY_DESCRIPTOR sd = NULL;
  DWORD e = GetSecurityInfo(ho_h(pipe), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL,
                            &dacl, NULL, &sd);
  if (e != ERROR_SUCCESS) return ho_win_fail_as(e, HO_ERR_IO);
  int rc = HO_OK;
  if (dacl == NULL) {
    rc = HO_ERR_PERMISSION; /* a NULL DACL lets everybody in */
  } else {
    if (aces != NULL) *aces = dacl->AceCount;
    for (DWORD i = 0; i < dacl->AceCount && rc == HO_OK; i++) {
      void *ace = NULL;
      if (!GetAce(dacl, i, &ace)) {
        rc = HO_ERR_IO;
        break;
      }
      ACE_HEADER *h = ace;
      if (h->AceType != ACCESS_ALLOWED_ACE_TYPE) continue; /* deny ACEs only narrow */
      PSID sid = (PSID)&((ACCESS_ALLOWED_ACE *)ace)->SidStart;
      if (!EqualSid(sid, SEC.user)) rc = HO_ERR_PERMISSION;
    }
  }
  LocalFree(sd);
  return rc;
}

/* ---- listener ------------------------------------------------------------- */

static int instance_new(ho_pipe_listener *l, bool first, HANDLE *out) {
  const void *sd = ho_pipe_owner_only_sd();
  if (sd == NULL) return ho_win_fail_as(GetLastError(), HO_ERR_IO);
  SECURITY_ATTRIBUTES sa = {sizeof sa, (void *)sd, FALSE}; /* not inheritable */
  DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                    (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0); /* spec: SEC-2 */
  DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
  HANDLE h = CreateNamedPipeA(l->path, open_mode, pipe_mode, PIPE_UNLIMITED_INSTANCES, 65536, 65536,
                              0, &sa);
  if (h == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    /* FIRST_PIPE_INSTANCE: an instance of this name exists (squatting, or a
     * live endpoint): ERROR_ACCESS_DENIED on Windows, ERROR_PIPE_BUSY on some. */
    if (first && (e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY || e == ERROR_ALREADY_EXISTS))
      return ho_win_fail_as(e, HO_ERR_STATE);
    return ho_win_fail(e, false);
  }
  *out = h;
  return HO_OK;
}

/* Start waiting for a client on the pending instance. */
static int instance_listen(ho_pipe_listener *l) {
  OVERLAPPED *ov = l->ov;
  memset(ov, 0, sizeof *ov);
  ResetEvent(ho_h(l->event));
  ov->hEvent = ho_h(l->event);
  l->connected = false;
  if (ConnectNamedPipe(ho_h(l->pending), ov)) { /* connected at once */
    l->connected = true;
    SetEvent(ho_h(l->event));
    return HO_OK;
  }
  DWORD e = GetLastError();
  if (e == ERROR_IO_PENDING) return HO_OK;
  if (e == ERROR_PIPE_CONNECTED) {
    l->connected = true;
    SetEvent(ho_h(l->event));
    return HO_OK;
  }
  if (e == ERROR_NO_DATA) { /* a client came and went: reuse the instance */
    DisconnectNamedPipe(ho_h(l->pending));
    return instance_listen(l);
  }
  return ho_win_fail(e, false);
}

static int next_instance(ho_pipe_listener *l, bool first) {
  HANDLE h = INVALID_HANDLE_VALUE;
  int rc = instance_new(l, first, &h);
  if (rc != HO_OK) return rc;
  l->pending = ho_v(h);
  rc = instance_listen(l);
  if (rc != HO_OK) {
    CloseHandle(h);
    l->pending = HO_NO_HANDLE;
  }
  return rc;
}

int ho_pipe_listener_open(ho_pipe_listener *l, const char *bare) {
  if (l == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_pipe_listener n;
  memset(&n, 0, sizeof n);
  int rc = ho_pipe_local_name(bare, n.path, sizeof n.path);
  if (rc != HO_OK) return HO_ERR_INVALID_ARGUMENT;
  /* spec: SEC-2 XFER-40 — FILE_FLAG_FIRST_PIPE_INSTANCE refuses a name that
   * exists on Windows; Wine 8 ignores the flag, so look first as well: any
   * instance of the name (busy or free) makes WaitNamedPipe answer other
   * than ERROR_FILE_NOT_FOUND. */
  if (WaitNamedPipeA(n.path, 1) || GetLastError() != ERROR_FILE_NOT_FOUND)
    return ho_win_fail_as(ERROR_ALREADY_EXISTS, HO_ERR_STATE);
  n.ov = calloc(1, sizeof(OVERLAPPED));
  HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (n.ov == NULL || ev == NULL) {
    free(n.ov);
    if (ev) CloseHandle(ev);
    return HO_ERR_NOMEM;
  }
  n.event = ho_v(ev);
  n.pending = HO_NO_HANDLE;
  rc = next_instance(&n, true);
  if (rc != HO_OK) {
    CloseHandle(ev);
    free(n.ov);
    return rc;
  }
  *l = n;
  return HO_OK;
}

ho_handle ho_pipe_listener_event(const ho_pipe_listener *l) {
  return l != NULL ? l->event : HO_NO_HANDLE;
}

int ho_pipe_listener_accept(ho_pipe_listener *l, ho_handle *conn) {
  if (l == NULL || conn == NULL || l->ov == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (l->pending == HO_NO_HANDLE) { /* creating the last one failed: retry */
    int rc = next_instance(l, false);
    if (rc != HO_OK) return rc;
  }
  if (!l->connected) {
    DWORD n;
    if (!GetOverlappedResult(ho_h(l->pending), l->ov, &n, FALSE)) {
      DWORD e = GetLastError();
      if (e == ERROR_IO_INCOMPLETE || e == ERROR_IO_PENDING) return HO_ERR_WOULD_BLOCK;
      /* The client left before we took it (ERROR_NO_DATA, BROKEN_PIPE):
       * drop it and wait for the next one on the same instance. */
      DisconnectNamedPipe(ho_h(l->pending));
      int rc = instance_listen(l);
      if (rc != HO_OK) {
        CloseHandle(ho_h(l->pending));
        l->pending = HO_NO_HANDLE;
      }
      return HO_ERR_WOULD_BLOCK;
    }
  }
  *conn = l->pending;
  l->pending = HO_NO_HANDLE;
  l->connected = false;
  ResetEvent(ho_h(l->event));
  if (next_instance(l, false) != HO_OK) SetEvent(ho_h(l->event)); /* retry on the next call */
  return HO_OK;
}

void ho_pipe_listener_close(ho_pipe_listener *l) {
  if (l == NULL || l->ov == NULL) return;
  if (l->pending != HO_NO_HANDLE) {
    CancelIoEx(ho_h(l->pending), l->ov);
    DWORD n;
    (void)GetOverlappedResult(ho_h(l->pending), l->ov, &n, TRUE);
    CloseHandle(ho_h(l->pending));
  }
  CloseHandle(ho_h(l->event));
  free(l->ov);
  l->ov = NULL;
  l->pending = l->event = HO_NO_HANDLE;
}

/* ---- dialer --------------------------------------------------------------- */

int ho_pipe_connect(const char *bare, uint32_t timeout_ms, ho_handle *conn) {
  char path[256];
  if (conn == NULL || ho_pipe_local_name(bare, path, sizeof path) != HO_OK)
    return HO_ERR_INVALID_ARGUMENT;
  ULONGLONG deadline = GetTickCount64() + timeout_ms;
  for (;;) {
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                           NULL);
    if (h != INVALID_HANDLE_VALUE) {
      *conn = ho_v(h);
      return HO_OK;
    }
    DWORD e = GetLastError();
    if (e != ERROR_PIPE_BUSY) return ho_win_fail(e, false);
    ULONGLONG now = GetTickCount64();
    if (now >= deadline) return ho_win_fail_as(e, HO_ERR_TIMEOUT);
    if (!WaitNamedPipeA(path, (DWORD)(deadline - now))) {
      e = GetLastError();
      if (e == ERROR_SEM_TIMEOUT) return ho_win_fail_as(e, HO_ERR_TIMEOUT);
      if (e != ERROR_PIPE_BUSY) return ho_win_fail(e, false);
    }
  }
}

/* ---- blocking I/O with a deadline ------------------------------------------ */

static DWORD ms_left(ULONGLONG deadline) {
  if (deadline == 0) return INFINITE;
  ULONGLONG now = GetTickCount64();
  return now >= deadline ? 0 : (DWORD)(deadline - now);
}

static ULONGLONG deadline_of(int timeout_ms) {
  return timeout_ms < 0 ? 0 : GetTickCount64() + (ULONGLONG)timeout_ms + (timeout_ms == 0);
}

/* One overlapped read or write of at most `n` bytes, waiting until
 * `deadline`. *done gets the bytes transferred. */
static int one_io(HANDLE h, bool writing, void *buf, DWORD n, ULONGLONG deadline, DWORD *done) {
  HANDLE ev = ho_win_thread_event();
  if (ev == NULL) return ho_win_fail(GetLastError(), writing);
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ResetEvent(ev);
  ov.hEvent = ho_win_tagged(ev);
  *done = 0;
  BOOL ok = writing ? WriteFile(h, buf, n, NULL, &ov) : ReadFile(h, buf, n, NULL, &ov);
  if (!ok) {
    DWORD e = GetLastError();
    if (e != ERROR_IO_PENDING) return ho_win_fail(e, writing);
    DWORD w = WaitForSingleObject(ev, ms_left(deadline));
    if (w != WAIT_OBJECT_0) {
      CancelIoEx(h, &ov);
      /* Wait for the cancel: the OVERLAPPED lives on this stack. */
      if (GetOverlappedResult(h, &ov, done, TRUE) && *done > 0) return HO_OK;
      *done = 0;
      return ho_win_fail_as(WAIT_TIMEOUT, HO_ERR_TIMEOUT);
    }
  }
  if (!GetOverlappedResult(h, &ov, done, TRUE)) return ho_win_fail(GetLastError(), writing);
  return HO_OK;
}

int ho_pipe_write_all(ho_handle h, const void *buf, size_t n, int timeout_ms) {
  if (buf == NULL && n > 0) return HO_ERR_INVALID_ARGUMENT;
  ULONGLONG deadline = deadline_of(timeout_ms);
  size_t off = 0;
  while (off < n) {
    DWORD chunk = n - off > 0x10000 ? 0x10000 : (DWORD)(n - off), done;
    int rc = one_io(ho_h(h), true, (uint8_t *)buf + off, chunk, deadline, &done);
    if (rc != HO_OK) return rc == HO_ERR_CLOSED || rc == HO_ERR_TIMEOUT ? rc : HO_ERR_IO;
    if (done == 0) return HO_ERR_IO;
    off += done;
  }
  return HO_OK;
}

int ho_pipe_read_some(ho_handle h, void *buf, size_t n, int timeout_ms, size_t *got) {
  if (got != NULL) *got = 0;
  if (buf == NULL || n == 0 || got == NULL) return HO_ERR_INVALID_ARGUMENT;
  DWORD want = n > 0x10000 ? 0x10000 : (DWORD)n, done;
  int rc = one_io(ho_h(h), false, buf, want, deadline_of(timeout_ms), &done);
  if (rc == HO_ERR_WOULD_BLOCK) rc = HO_ERR_IO;
  if (rc != HO_OK) return rc == HO_ERR_CLOSED || rc == HO_ERR_TIMEOUT ? rc : HO_ERR_IO;
  if (done == 0) return HO_ERR_CLOSED;
  *got = done;
  return HO_OK;
}

int ho_pipe_read_exact(ho_handle h, void *buf, size_t n, int timeout_ms, size_t *got) {
  size_t have = 0;
  ULONGLONG deadline = deadline_of(timeout_ms);
  if (got != NULL) *got = 0;
  while (have < n) {
    size_t k = 0;
    DWORD left = ms_left(deadline);
    int rc = ho_pipe_read_some(h, (uint8_t *)buf + have, n - have,
                               left == INFINITE ? -1 : (int)left, &k);
    have += k;
    if (got != NULL) *got = have;
    if (rc != HO_OK) return rc;
  }
  return HO_OK;
}

int ho_pipe_available(ho_handle h, size_t *avail) {
  DWORD n = 0;
  if (avail == NULL) return HO_ERR_INVALID_ARGUMENT;
  if (!PeekNamedPipe(ho_h(h), NULL, 0, NULL, &n, NULL)) {
    int rc = ho_win_fail(GetLastError(), false);
    return rc == HO_ERR_CLOSED ? rc : HO_ERR_IO;
  }
  *avail = n;
  return HO_OK;
}

/* ---- peers ------------------------------------------------------------------ */

int ho_pipe_peer_pid(ho_handle h, int side, uint32_t *pid) {
  ULONG p = 0;
  if (pid == NULL) return HO_ERR_INVALID_ARGUMENT;
  BOOL ok = side == HO_PIPE_SERVER_SIDE ? GetNamedPipeClientProcessId(ho_h(h), &p)
                                        : GetNamedPipeServerProcessId(ho_h(h), &p);
  if (!ok) return ho_win_fail_as(GetLastError(), HO_ERR_PEER_CREDENTIALS);
  if (p == 0) return ho_win_fail_as(ERROR_INVALID_DATA, HO_ERR_PEER_CREDENTIALS);
  *pid = (uint32_t)p;
  return HO_OK;
}

int ho_win_pid_same_user(uint32_t pid) {
  if (ho_pipe_owner_only_sd() == NULL) return HO_ERR_PEER_CREDENTIALS;
  HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (p == NULL) return ho_win_fail_as(GetLastError(), HO_ERR_PEER_CREDENTIALS);
  PSID sid = token_user_of(p);
  DWORD e = GetLastError();
  CloseHandle(p);
  if (sid == NULL) return ho_win_fail_as(e, HO_ERR_PEER_CREDENTIALS);
  int rc = EqualSid(sid, SEC.user) ? HO_OK : HO_ERR_PEER_REJECTED;
  free(sid);
  return rc;
}

/* spec: SEC-1 SEC-4 — identity from the OS (the pipe's peer pid and that
 * process's token), never from what the peer says. */
int ho_pipe_peer_check(ho_handle h, int side, ho_peer_policy policy, ho_peer_cred *out) {
  uint32_t pid = 0;
  int rc = ho_pipe_peer_pid(h, side, &pid);
  if (rc != HO_OK) return policy == HO_PEER_ANY ? HO_OK : rc;
  int same = ho_win_pid_same_user(pid);
  if (out != NULL && same != HO_ERR_PEER_CREDENTIALS) {
    out->pid = (pid_t)pid;
    out->uid = same == HO_OK ? 0 : 1;
    out->gid = 0;
  }
  if (policy == HO_PEER_ANY) return HO_OK;
  return same;
}
