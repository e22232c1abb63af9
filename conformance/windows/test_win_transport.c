/* handoff — unit tests of the Windows transport (handoff/winpipe.h and the
 * transport.h calls on Windows), run under Wine with real processes: the
 * test program starts a copy of itself as the "backend" (the server of a
 * control pipe), duplicates real pipe handles into it and probes its handle
 * table. Deterministic under load: every wait is for a condition with a
 * generous deadline (WT_DEADLINE_MS), and "closed" is judged by identity —
 * a value that is open again names another object (Wine reuses freed
 * handle values at once, and its own threads open handles at any time), so
 * a probe asks whether the value still names the *same* object
 * (CompareObjectHandles against a handle of ours to it).
 * spec: SEC-2 XFER-30 XFER-31 XFER-32 XFER-33 XFER-38 XFER-39 XFER-40 XFER-42 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/winpipe.h"
#include "wintest.h"

#include <windows.h>
#include <aclapi.h>

/* ---- the child: a stand-in backend serving commands on a control pipe ------ */

enum { OP_CHECK = 1, OP_WRITE_CLOSE, OP_OWN, OP_ALIVE, OP_EXIT };

typedef struct cmd {
  uint32_t op, pad;
  uint64_t value;
} cmd;

static int child_main(const char *name) {
  ho_pipe_listener l;
  if (ho_pipe_listener_open(&l, name) != HO_OK) return 10;
  HANDLE own_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  HANDLE anon_r = NULL, anon_w = NULL;
  if (!CreatePipe(&anon_r, &anon_w, NULL, 0)) return 11;
  if (WaitForSingleObject((HANDLE)ho_pipe_listener_event(&l), WT_DEADLINE_MS) != WAIT_OBJECT_0)
    return 12;
  ho_handle ctl = HO_NO_HANDLE;
  if (ho_pipe_listener_accept(&l, &ctl) != HO_OK) return 13;
  uint32_t broker_pid = 0;
  (void)ho_pipe_peer_pid(ctl, HO_PIPE_SERVER_SIDE, &broker_pid);
  for (;;) {
    cmd c;
    size_t got;
    if (ho_pipe_read_exact(ctl, &c, sizeof c, WT_DEADLINE_MS, &got) != HO_OK) break;
    int64_t reply[3] = {0, 0, 0};
    size_t nreply = 1;
    switch (c.op) {
    case OP_CHECK: reply[0] = ho_win_check_handle(c.value, broker_pid); break;
    case OP_WRITE_CLOSE: {
      ho_handle h = (ho_handle)(uintptr_t)c.value;
      reply[0] = ho_pipe_write_all(h, "hello", 5, WT_DEADLINE_MS);
      ho_win_close(h);
      break;
    }
    case OP_OWN:
      reply[0] = (int64_t)(uintptr_t)own_event;
      reply[1] = (int64_t)ctl;
      reply[2] = (int64_t)(uintptr_t)anon_r;
      nreply = 3;
      break;
    case OP_ALIVE: {
      DWORD fl;
      reply[0] = GetHandleInformation((HANDLE)(uintptr_t)c.value, &fl) ? 1 : 0;
      break;
    }
    case OP_EXIT:
      ho_pipe_write_all(ctl, reply, sizeof reply[0], WT_DEADLINE_MS);
      return 0;
    default: reply[0] = -1;
    }
    if (ho_pipe_write_all(ctl, reply, nreply * sizeof reply[0], WT_DEADLINE_MS) != HO_OK) break;
  }
  return 0;
}

/* ---- parent-side helpers ----------------------------------------------------- */

typedef struct child {
  PROCESS_INFORMATION pi;
  ho_handle ctl; /* our client end of the child's control pipe */
  char name[64];
} child;

static unsigned g_seq;

static void uniq(char *out, size_t cap, const char *what) {
  snprintf(out, cap, "handoff-test-%s-%lu-%u", what, (unsigned long)GetCurrentProcessId(), ++g_seq);
}

static bool child_start(child *c) {
  memset(c, 0, sizeof *c);
  uniq(c->name, sizeof c->name, "ctl");
  char self[MAX_PATH], cmdline[MAX_PATH + 128];
  GetModuleFileNameA(NULL, self, sizeof self);
  snprintf(cmdline, sizeof cmdline, "\"%s\" --child %s", self, c->name);
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessA(self, cmdline, NULL, NULL, FALSE, 0, NULL, NULL, &si, &c->pi)) return false;
  /* Until the child's endpoint exists (a Wine start takes ~0.2 s, much more
   * under load), or the child has exited. */
  ULONGLONG until = GetTickCount64() + WT_DEADLINE_MS;
  while (GetTickCount64() < until) {
    if (ho_pipe_connect(c->name, 1000, &c->ctl) == HO_OK) return true;
    if (WaitForSingleObject(c->pi.hProcess, 10) == WAIT_OBJECT_0) return false;
  }
  fprintf(stderr, "  child %s: no endpoint within %d ms\n", c->name, WT_DEADLINE_MS);
  TerminateProcess(c->pi.hProcess, 1);
  return false;
}

static int64_t child_cmd(child *c, uint32_t op, uint64_t value, int64_t *more) {
  cmd m = {op, 0, value};
  int64_t r[3] = {-999, 0, 0};
  size_t got;
  if (ho_pipe_write_all(c->ctl, &m, sizeof m, WT_DEADLINE_MS) != HO_OK) return -998;
  size_t n = op == OP_OWN ? 3 : 1;
  if (ho_pipe_read_exact(c->ctl, r, n * sizeof r[0], WT_DEADLINE_MS, &got) != HO_OK) return -997;
  if (more != NULL) memcpy(more, r + 1, 2 * sizeof r[0]);
  return r[0];
}

static void child_stop(child *c) {
  (void)child_cmd(c, OP_EXIT, 0, NULL);
  WaitForSingleObject(c->pi.hProcess, WT_DEADLINE_MS);
  ho_win_close(c->ctl);
  CloseHandle(c->pi.hThread);
  CloseHandle(c->pi.hProcess);
}

/* A connected pair on a fresh endpoint: *srv the server end (what a broker
 * hands off), *cli the client end (the client's). */
static bool pair(ho_handle *srv, ho_handle *cli) {
  char name[64];
  uniq(name, sizeof name, "cli");
  ho_pipe_listener l;
  if (ho_pipe_listener_open(&l, name) != HO_OK) return false;
  bool ok = ho_pipe_connect(name, WT_DEADLINE_MS, cli) == HO_OK &&
            WaitForSingleObject((HANDLE)ho_pipe_listener_event(&l), WT_DEADLINE_MS) ==
                WAIT_OBJECT_0 &&
            ho_pipe_listener_accept(&l, srv) == HO_OK;
  ho_pipe_listener_close(&l);
  return ok;
}

/* Does `value` in `t` still name the object our handle `like` names? A
 * closed value does not; an open one only if it is the same object (values
 * are reused at once). Without CompareObjectHandles: the same kind of
 * object with the same ends (a pipe server end whose both ends are this
 * process, which only our own pairs are). */
static bool same_object_open(const ho_win_target *t, uint64_t value, ho_handle like) {
  ho_win_probe_result pr;
  if (ho_win_probe(t, value, like, &pr) != HO_OK) return true; /* cannot tell: not gone */
  if (!pr.open) return false;
  if (pr.same_object >= 0) return pr.same_object == 1;
  return pr.pipe && pr.server_end && pr.server_pid == GetCurrentProcessId() &&
         pr.client_pid == GetCurrentProcessId();
}

/* Wait (bounded) until `value` no longer names that object in `t`. */
static bool gone_within(const ho_win_target *t, uint64_t value, ho_handle like) {
  ULONGLONG until = GetTickCount64() + WT_DEADLINE_MS;
  for (;;) {
    if (!same_object_open(t, value, like)) return true;
    if (GetTickCount64() >= until) return false;
    Sleep(5); /* a poll interval, not a synchronisation: the condition decides */
  }
}

/* ---- cases --------------------------------------------------------------------- */

static void errors_map(void) {
  WT_EQ(ho_err_from_win32(ERROR_SUCCESS, false), HO_OK);
  WT_EQ(ho_err_from_win32(ERROR_BROKEN_PIPE, false), HO_ERR_CLOSED);
  WT_EQ(ho_err_from_win32(ERROR_NO_DATA, true), HO_ERR_CLOSED);
  WT_EQ(ho_err_from_win32(ERROR_NO_DATA, false), HO_ERR_WOULD_BLOCK);
  WT_EQ(ho_err_from_win32(ERROR_IO_PENDING, false), HO_ERR_WOULD_BLOCK);
  WT_EQ(ho_err_from_win32(ERROR_ACCESS_DENIED, false), HO_ERR_PERMISSION);
  WT_EQ(ho_err_from_win32(ERROR_TOO_MANY_OPEN_FILES, false), HO_ERR_FD_EXHAUSTED);
  WT_EQ(ho_err_from_win32(ERROR_INVALID_HANDLE, false), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_err_from_win32(ERROR_SEM_TIMEOUT, false), HO_ERR_TIMEOUT);
  WT_EQ(ho_err_from_win32(ERROR_PIPE_BUSY, false), HO_ERR_STATE);
  WT_EQ(ho_err_from_win32(ERROR_NOT_ENOUGH_MEMORY, false), HO_ERR_NOMEM);
  WT_EQ(ho_err_from_win32(ERROR_GEN_FAILURE, false), HO_ERR_IO);
  /* The OS error is kept for messages. */
  ho_handle h;
  WT_EQ(ho_pipe_connect("handoff-test-nobody-listens", 100, &h), HO_ERR_CLOSED);
  WT_EQ(ho_win_last_error(), ERROR_FILE_NOT_FOUND);
}

static void names_local_and_bad(void) {
  char out[300];
  WT_EQ(ho_pipe_local_name("handoff-echo", out, sizeof out), HO_OK);
  WT_CHECK(strcmp(out, "\\\\.\\pipe\\handoff-echo") == 0);
  WT_EQ(ho_pipe_local_name("\\\\.\\pipe\\x", out, sizeof out), HO_OK);
  WT_CHECK(strcmp(out, "\\\\.\\pipe\\x") == 0);
  WT_EQ(ho_pipe_local_name("", out, sizeof out), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_pipe_local_name("a\\b", out, sizeof out), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_pipe_local_name("a b", out, sizeof out), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_pipe_local_name("tab\t", out, sizeof out), HO_ERR_INVALID_ARGUMENT);
  char longname[300];
  memset(longname, 'x', 248);
  longname[248] = '\0';
  WT_EQ(ho_pipe_local_name(longname, out, sizeof out), HO_ERR_INVALID_ARGUMENT);
  longname[247] = '\0';
  WT_EQ(ho_pipe_local_name(longname, out, sizeof out), HO_OK);
  WT_EQ(ho_pipe_local_name("abc", out, 10), HO_ERR_BUFFER_TOO_SMALL);
  WT_EQ(ho_pipe_local_name(NULL, out, sizeof out), HO_ERR_INVALID_ARGUMENT);
}

/* spec: SEC-2 — owner-only DACL as set (Wine may not enforce it, so the
 * descriptor is read back), and a negative control: a pipe with a NULL DACL
 * (everybody) is reported as such, so the check can fail. */
static void security_owner_only_dacl(void) {
  char name[64];
  uniq(name, sizeof name, "sec");
  ho_pipe_listener l;
  WT_REQUIRE(ho_pipe_listener_open(&l, name) == HO_OK);
  unsigned aces = 99;
  WT_EQ(ho_pipe_check_owner_only(l.pending, &aces), HO_OK);
  WT_EQ(aces, 1);
  ho_handle cli, srv;
  WT_REQUIRE(ho_pipe_connect(name, WT_DEADLINE_MS, &cli) == HO_OK);
  WT_REQUIRE(WaitForSingleObject((HANDLE)ho_pipe_listener_event(&l), WT_DEADLINE_MS) ==
             WAIT_OBJECT_0);
  WT_REQUIRE(ho_pipe_listener_accept(&l, &srv) == HO_OK);
  WT_EQ(ho_pipe_check_owner_only(srv, NULL), HO_OK);       /* the accepted instance */
  WT_EQ(ho_pipe_check_owner_only(l.pending, NULL), HO_OK); /* the next one too */
  /* Read with the Windows API directly: protected DACL, our SID only. */
  PACL dacl = NULL;
  PSECURITY_DESCRIPTOR sd = NULL;
  WT_EQ(GetSecurityInfo((HANDLE)srv, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl,
                        NULL, &sd),
        ERROR_SUCCESS);
  WT_CHECK(dacl != NULL && dacl->AceCount == 1);
  LocalFree(sd);
  ho_win_close(cli);
  ho_win_close(srv);
  ho_pipe_listener_close(&l);

  SECURITY_DESCRIPTOR open_sd;
  InitializeSecurityDescriptor(&open_sd, SECURITY_DESCRIPTOR_REVISION);
  SetSecurityDescriptorDacl(&open_sd, TRUE, NULL, FALSE); /* NULL DACL: everybody */
  SECURITY_ATTRIBUTES sa = {sizeof sa, &open_sd, FALSE};
  char path[300];
  uniq(name, sizeof name, "open");
  ho_pipe_local_name(name, path, sizeof path);
  HANDLE h = CreateNamedPipeA(path, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE, 1,
                              512, 512, 0, &sa);
  WT_REQUIRE(h != INVALID_HANDLE_VALUE);
  WT_EQ(ho_pipe_check_owner_only((ho_handle)h, NULL), HO_ERR_PERMISSION);
  CloseHandle(h);
}

/* spec: SEC-2 — FILE_FLAG_FIRST_PIPE_INSTANCE: a second endpoint of the same
 * name (a squatter, or a second copy of a program) fails. */
static void first_instance_rejects_second(void) {
  char name[64];
  uniq(name, sizeof name, "first");
  ho_pipe_listener a, b;
  WT_REQUIRE(ho_pipe_listener_open(&a, name) == HO_OK);
  WT_EQ(ho_pipe_listener_open(&b, name), HO_ERR_STATE);
  ho_pipe_listener_close(&a);
  WT_EQ(ho_pipe_listener_open(&b, name), HO_OK); /* gone with the last instance */
  ho_pipe_listener_close(&b);
  ho_pipe_listener_close(&b); /* twice is safe */
}

static void pipe_roundtrip_peers_and_timeouts(void) {
  ho_handle srv, cli;
  WT_REQUIRE(pair(&srv, &cli));
  uint32_t pid = 0;
  WT_EQ(ho_pipe_peer_pid(srv, HO_PIPE_SERVER_SIDE, &pid), HO_OK);
  WT_EQ(pid, GetCurrentProcessId());
  WT_EQ(ho_pipe_peer_pid(cli, HO_PIPE_CLIENT_SIDE, &pid), HO_OK);
  WT_EQ(pid, GetCurrentProcessId());
  ho_peer_cred pc;
  WT_EQ(ho_pipe_peer_check(srv, HO_PIPE_SERVER_SIDE, HO_PEER_SAME_UID, &pc), HO_OK);
  WT_EQ(pc.uid, 0);
  WT_EQ(ho_peer_check(srv, HO_PEER_SAME_UID, 0, NULL), HO_OK);
  char buf[16];
  size_t got = 99, avail = 99;
  WT_EQ(ho_pipe_available(srv, &avail), HO_OK);
  WT_EQ(avail, 0);
  ULONGLONG t0 = GetTickCount64();
  WT_EQ(ho_pipe_read_some(srv, buf, sizeof buf, 150, &got), HO_ERR_TIMEOUT);
  WT_CHECK(GetTickCount64() - t0 >= 100);
  WT_EQ(got, 0);
  WT_EQ(ho_pipe_write_all(cli, "abc", 3, WT_DEADLINE_MS), HO_OK);
  WT_EQ(ho_pipe_read_exact(srv, buf, 3, WT_DEADLINE_MS, &got), HO_OK);
  WT_CHECK(memcmp(buf, "abc", 3) == 0);
  WT_EQ(ho_pipe_write_all(srv, "xyz!", 4, WT_DEADLINE_MS), HO_OK);
  /* ho_xfer_recv reads what is there: wait (bounded) until all 4 bytes are. */
  ULONGLONG until = GetTickCount64() + WT_DEADLINE_MS;
  while (ho_pipe_available(cli, &avail) == HO_OK && avail < 4 && GetTickCount64() < until) Sleep(1);
  WT_EQ(avail, 4);
  /* ho_xfer_recv on Windows: a plain read, never a descriptor. */
  ho_xfer_rx rx;
  WT_EQ(ho_xfer_recv(cli, buf, 2, &rx, 0), HO_OK);
  WT_EQ(rx.len, 2);
  WT_EQ(rx.conn, HO_NO_HANDLE);
  WT_EQ(ho_xfer_recv(cli, buf + 2, 8, &rx, 0), HO_OK);
  WT_EQ(rx.len, 2);
  WT_CHECK(memcmp(buf, "xyz!", 4) == 0);
  WT_EQ(ho_xfer_recv(cli, buf, 8, &rx, 0), HO_ERR_WOULD_BLOCK);
  ho_sideband sb;
  ho_sideband_init(&sb);
  WT_EQ(ho_sideband_recv(cli, &sb), HO_ERR_UNSUPPORTED_PLATFORM);
  ho_win_close(srv);
  WT_EQ(ho_pipe_read_some(cli, buf, sizeof buf, WT_DEADLINE_MS, &got), HO_ERR_CLOSED);
  WT_EQ(ho_xfer_recv(cli, buf, 8, &rx, 0), HO_ERR_CLOSED);
  WT_EQ(ho_pipe_write_all(cli, "a", 1, WT_DEADLINE_MS), HO_ERR_CLOSED);
  ho_win_close(cli);
}

/* spec: XFER-30 XFER-31 — the target comes from the control pipe; the
 * duplicate works in the target (it writes, our client end reads), is not
 * inheritable, passes the backend's checks, and is gone once closed. */
static void dup_into_backend_works_and_is_closed(void) {
  child c;
  WT_REQUIRE(child_start(&c));
  ho_win_target t;
  WT_REQUIRE(ho_win_target_open(c.ctl, &t) == HO_OK);
  WT_EQ(t.pid, c.pi.dwProcessId);
  ho_handle srv, cli;
  WT_REQUIRE(pair(&srv, &cli));
  uint64_t v = 0;
  WT_REQUIRE(ho_win_dup_into(&t, srv, &v) == HO_OK);
  WT_CHECK(v != 0 && (v & 3) == 0);
  ho_win_probe_result pr;
  WT_EQ(ho_win_probe(&t, v, srv, &pr), HO_OK);
  WT_CHECK(pr.open && pr.pipe && pr.server_end);
  WT_EQ(pr.server_pid, GetCurrentProcessId());
  printf("  fact: CompareObjectHandles %s\n",
         pr.same_object == -1 ? "not available here (identity by type, end and pids)"
         : pr.same_object == 1 ? "available: the duplicate is our object"
                               : "available, and says another object (wrong)");
  WT_CHECK(pr.same_object != 0);
  WT_CHECK(same_object_open(&t, v, srv)); /* so the probe below can fail */
  WT_EQ(child_cmd(&c, OP_CHECK, v, NULL), HO_OK);
  WT_EQ(child_cmd(&c, OP_WRITE_CLOSE, v, NULL), HO_OK);
  char buf[8];
  size_t got;
  WT_EQ(ho_pipe_read_exact(cli, buf, 5, WT_DEADLINE_MS, &got), HO_OK);
  WT_CHECK(memcmp(buf, "hello", 5) == 0);
  WT_CHECK(gone_within(&t, v, srv)); /* closed in the child (the value may be reused) */
  /* ho_xfer_send: the transport.h form, same duplicate. */
  uint8_t token[HO_TOKEN_BYTES] = {1};
  uint64_t v2 = 0;
  WT_EQ(ho_xfer_send(c.ctl, srv, token, &v2), HO_OK);
  WT_CHECK(same_object_open(&t, v2, srv));
  WT_EQ(child_cmd(&c, OP_CHECK, v2, NULL), HO_OK);
  WT_EQ(child_cmd(&c, OP_WRITE_CLOSE, v2, NULL), HO_OK);
  WT_EQ(ho_pipe_read_exact(cli, buf, 5, WT_DEADLINE_MS, &got), HO_OK);
  WT_CHECK(gone_within(&t, v2, srv));
  ho_win_close(srv);
  ho_win_close(cli);
  ho_win_target_close(&t);
  child_stop(&c);
}

/* spec: XFER-32 XFER-38 — every bad value is refused with its name and none
 * of them is closed (the backend's own handles stay open). */
static void backend_checks_refuse_bad_values(void) {
  child c;
  WT_REQUIRE(child_start(&c));
  int64_t own[3];
  own[0] = child_cmd(&c, OP_OWN, 0, own + 1);
  WT_EQ(child_cmd(&c, OP_CHECK, 0, NULL), HO_ERR_NO_DESCRIPTOR);
  for (int64_t p = -1; p >= -12; p--) WT_EQ(child_cmd(&c, OP_CHECK, (uint64_t)p, NULL), HO_ERR_BAD_DESCRIPTOR);
  WT_EQ(child_cmd(&c, OP_CHECK, 0x100000000ull, NULL), HO_ERR_BAD_DESCRIPTOR);
  WT_EQ(child_cmd(&c, OP_CHECK, 0x7ffffffcull, NULL), HO_ERR_BAD_DESCRIPTOR); /* not open there */
  WT_EQ(child_cmd(&c, OP_CHECK, (uint64_t)own[0], NULL), HO_ERR_BAD_DESCRIPTOR); /* an event */
  WT_EQ(child_cmd(&c, OP_CHECK, (uint64_t)own[0] | 1, NULL), HO_ERR_BAD_DESCRIPTOR); /* tag bits */
  WT_EQ(child_cmd(&c, OP_CHECK, (uint64_t)own[2], NULL), HO_ERR_BAD_DESCRIPTOR); /* anonymous pipe */
  /* Its own control pipe: a named pipe's server end, but its own (XFER-38). */
  WT_EQ(child_cmd(&c, OP_CHECK, (uint64_t)own[1], NULL), HO_ERR_BAD_DESCRIPTOR);
  /* A client end of one of our pipes: a pipe, not a server end. */
  ho_win_target t;
  WT_REQUIRE(ho_win_target_open(c.ctl, &t) == HO_OK);
  ho_handle srv, cli;
  WT_REQUIRE(pair(&srv, &cli));
  uint64_t vc = 0;
  WT_REQUIRE(ho_win_dup_into(&t, cli, &vc) == HO_OK);
  WT_EQ(child_cmd(&c, OP_CHECK, vc, NULL), HO_ERR_BAD_DESCRIPTOR);
  /* None of them was closed by the checks. */
  for (int i = 0; i < 3; i++) WT_EQ(child_cmd(&c, OP_ALIVE, (uint64_t)own[i], NULL), 1);
  ho_win_probe_result pr;
  WT_EQ(ho_win_probe(&t, vc, cli, &pr), HO_OK);
  WT_CHECK(pr.open && pr.same_object != 0); /* still our client end there */
  WT_EQ(ho_win_close_in(&t, vc), HO_OK);
  WT_EQ(ho_win_probe(&t, vc, cli, &pr), HO_OK);
  WT_CHECK(!pr.open || pr.same_object == 0);
  ho_win_close(srv);
  ho_win_close(cli);
  ho_win_target_close(&t);
  child_stop(&c);
}

/* spec: XFER-33 — closing a duplicate inside the target in the form that
 * works under Wine; the NULL-target form is exercised and its effect
 * observed (a fact, printed: Wine 8 fails it with error 6). */
static void close_in_target_closes_the_duplicate(void) {
  child c;
  WT_REQUIRE(child_start(&c));
  ho_win_target t;
  WT_REQUIRE(ho_win_target_open(c.ctl, &t) == HO_OK);
  ho_handle srv, cli;
  WT_REQUIRE(pair(&srv, &cli));
  uint64_t v = 0;
  WT_REQUIRE(ho_win_dup_into(&t, srv, &v) == HO_OK);
  WT_CHECK(same_object_open(&t, v, srv));
  WT_EQ(ho_win_close_in(&t, v), HO_OK);
  /* Synchronous: gone when the call returns (unless the value was reused
   * at once by another object: then it is not ours either). */
  WT_CHECK(!same_object_open(&t, v, srv));
  ho_win_probe_result pr;
  WT_EQ(ho_win_probe(&t, v, srv, &pr), HO_OK);
  if (!pr.open) /* not reused: a second close finds nothing (no double close) */
    WT_EQ(ho_win_close_in(&t, v), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_win_close_in(&t, 0), HO_ERR_INVALID_ARGUMENT);
  /* The form the spec text had. */
  uint64_t w = 0;
  WT_REQUIRE(ho_win_dup_into(&t, srv, &w) == HO_OK);
  BOOL ok = DuplicateHandle((HANDLE)t.process, (HANDLE)(uintptr_t)w, NULL, NULL, 0, FALSE,
                            DUPLICATE_CLOSE_SOURCE);
  DWORD e = ok ? 0 : GetLastError();
  bool alive = same_object_open(&t, w, srv);
  printf("  fact: DuplicateHandle(target, h, NULL, NULL, 0, FALSE, DUPLICATE_CLOSE_SOURCE) -> %s"
         " (error %lu), handle %s afterwards\n",
         ok ? "TRUE" : "FALSE", (unsigned long)e, alive ? "still open" : "closed");
  if (alive) WT_EQ(ho_win_close_in(&t, w), HO_OK);
  WT_CHECK(!same_object_open(&t, w, srv));
  /* Our own copy is untouched by all of it. */
  WT_EQ(ho_pipe_write_all(srv, "k", 1, WT_DEADLINE_MS), HO_OK);
  char b;
  size_t got;
  WT_EQ(ho_pipe_read_exact(cli, &b, 1, WT_DEADLINE_MS, &got), HO_OK);
  ho_win_close(srv);
  ho_win_close(cli);
  ho_win_target_close(&t);
  child_stop(&c);
}

/* A target that has exited: duplicate and close report CLOSED. */
static void target_exited_is_closed(void) {
  child c;
  WT_REQUIRE(child_start(&c));
  ho_win_target t;
  WT_REQUIRE(ho_win_target_open(c.ctl, &t) == HO_OK);
  ho_handle srv, cli;
  WT_REQUIRE(pair(&srv, &cli));
  uint64_t v = 0;
  WT_REQUIRE(ho_win_dup_into(&t, srv, &v) == HO_OK);
  (void)child_cmd(&c, OP_EXIT, 0, NULL); /* exits; we keep our end of its pipe */
  WT_EQ(WaitForSingleObject(c.pi.hProcess, WT_DEADLINE_MS), WAIT_OBJECT_0);
  uint64_t v2 = 0;
  WT_EQ(ho_win_dup_into(&t, srv, &v2), HO_ERR_CLOSED);
  WT_EQ(ho_win_close_in(&t, v), HO_ERR_CLOSED);
  ho_win_target t2;
  WT_EQ(ho_win_target_open(c.ctl, &t2), HO_ERR_CLOSED); /* the pipe is broken */
  ho_win_close(c.ctl);
  CloseHandle(c.pi.hThread);
  CloseHandle(c.pi.hProcess);
  ho_win_close(srv);
  ho_win_close(cli);
  ho_win_target_close(&t);
}

static void bad_arguments(void) {
  ho_win_target t = {HO_NO_HANDLE, 0, HO_NO_HANDLE};
  uint64_t v;
  WT_EQ(ho_win_dup_into(&t, (ho_handle)4, &v), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_win_close_in(&t, 4), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_win_target_open_pid(0, &t), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_win_target_open_pid(0x7ffffff0u, &t), HO_ERR_CLOSED); /* no such process */
  ho_win_probe_result pr;
  WT_EQ(ho_win_probe(&t, 4, HO_NO_HANDLE, &pr), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_xfer_send(HO_NO_HANDLE, 4, (const uint8_t *)"0123456789abcdef", &v),
        HO_ERR_INVALID_ARGUMENT);
  ho_xfer_rx rx;
  char b;
  WT_EQ(ho_xfer_recv(HO_NO_HANDLE, &b, 1, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  ho_peer_policy pol;
  uid_t uid;
  WT_EQ(ho_peer_policy_parse("same", &pol, &uid), HO_OK);
  WT_EQ(ho_peer_policy_parse("1000", &pol, &uid), HO_ERR_INVALID_ARGUMENT);
  ho_listener ul;
  WT_EQ(ho_listener_open(&ul, "/tmp/x", 0), HO_ERR_UNSUPPORTED_PLATFORM);
}

static const wt_case cases[] = {
    {"errors_map", errors_map},
    {"names_local_and_bad", names_local_and_bad},
    {"security_owner_only_dacl", security_owner_only_dacl},
    {"first_instance_rejects_second", first_instance_rejects_second},
    {"pipe_roundtrip_peers_and_timeouts", pipe_roundtrip_peers_and_timeouts},
    {"dup_into_backend_works_and_is_closed", dup_into_backend_works_and_is_closed},
    {"backend_checks_refuse_bad_values", backend_checks_refuse_bad_values},
    {"close_in_target_closes_the_duplicate", close_in_target_closes_the_duplicate},
    {"target_exited_is_closed", target_exited_is_closed},
    {"bad_arguments", bad_arguments},
    {NULL, NULL}};

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0) return child_main(argv[2]);
  return wt_main(cases, argc, argv);
}
