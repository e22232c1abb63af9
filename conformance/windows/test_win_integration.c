/* handoff — integration tests of the Windows programs under Wine, with real
 * processes: handoff-backend.exe and handoff-broker.exe are started here,
 * this program is the client (the same client code as handoff-client.exe,
 * which is also run once). Each case checks the route and the echo, then
 * the handle accounting: every client pipe the broker held and every
 * duplicate it made in the backend (values from the programs' debug logs)
 * is probed in that process until it is gone — a DuplicateHandle of the
 * value out of the process fails once it is closed; a value that is open
 * again is a leak only if it is still the same pipe (a server end made by
 * the broker whose client is this process), since values are reused and
 * GetProcessHandleCount answers 0 under Wine.
 *   usage: test_win_integration.exe BIN_DIR [case-substring]
 * spec: XFER-30 XFER-31 XFER-32 XFER-33 XFER-34 XFER-38 XFER-42 XFER-43 SEC-2 FALLBACK-24
 * spec: ACK-4 ACK-5 ACK-6 ACK-7 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/winpipe.h"
#include "winclient.h"
#include "wintest.h"

#include <aclapi.h>
#include <windows.h>

static char g_bin[MAX_PATH];
static unsigned g_run;

typedef struct proc {
  PROCESS_INFORMATION pi;
  char log[MAX_PATH];
  bool up;
} proc;

static void tmp_path(char *out, size_t cap, const char *what) {
  char dir[MAX_PATH];
  GetTempPathA(sizeof dir, dir);
  snprintf(out, cap, "%shandoff-it-%lu-%u-%s.log", dir, (unsigned long)GetCurrentProcessId(),
           g_run, what);
}

/* Wait until pipe `name` exists (the program is listening). */
static bool wait_pipe(const char *name, proc *p) {
  char path[300];
  ho_pipe_local_name(name, path, sizeof path);
  for (int i = 0; i < 500; i++) {
    if (WaitNamedPipeA(path, 1) || GetLastError() != ERROR_FILE_NOT_FOUND) return true;
    if (WaitForSingleObject(p->pi.hProcess, 20) == WAIT_OBJECT_0) return false;
  }
  return false;
}

static bool spawn(proc *p, const char *exe, const char *args, const char *what) {
  memset(p, 0, sizeof *p);
  tmp_path(p->log, sizeof p->log, what);
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE f = CreateFileA(p->log, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                         CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (f == INVALID_HANDLE_VALUE) return false;
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "\"%s\\%s\" %s", g_bin, exe, args);
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = f;
  si.hStdError = f;
  BOOL ok = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &p->pi);
  CloseHandle(f);
  p->up = ok;
  return ok;
}

static void stop(proc *p) {
  if (!p->up) return;
  TerminateProcess(p->pi.hProcess, 0);
  WaitForSingleObject(p->pi.hProcess, 5000);
  CloseHandle(p->pi.hThread);
  CloseHandle(p->pi.hProcess);
  p->up = false;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  static char buf[4 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static int count_of(const char *log, const char *needle) {
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

/* Wait (bounded) until `needle` appears `times` times in the log. */
static bool wait_log(proc *p, const char *needle, int times) {
  for (int i = 0; i < 250; i++) {
    char *s = slurp(p->log);
    if (s != NULL && count_of(s, needle) >= times) return true;
    Sleep(20);
  }
  return false;
}

/* ---- an environment: backend(s) + broker on fresh names ------------------------ */

typedef struct env {
  char ep[64], bp[64], cl[64];
  proc be, be2, br;
} env;

static bool env_up(env *e, const char *backend_extra, const char *broker_extra, bool fallback_backend) {
  memset(e, 0, sizeof *e);
  g_run++;
  unsigned long me = GetCurrentProcessId();
  snprintf(e->ep, sizeof e->ep, "hoit-%lu-%u-handoff", me, g_run);
  snprintf(e->bp, sizeof e->bp, "hoit-%lu-%u-pipe", me, g_run);
  snprintf(e->cl, sizeof e->cl, "hoit-%lu-%u-client", me, g_run);
  char args[512];
  /* With a fallback backend the faulty one serves no reachable backend_pipe:
   * backend_pipe belongs to a second, healthy backend. */
  snprintf(args, sizeof args, "--handoff-endpoint %s --backend-pipe %s%s --log-level debug %s", e->ep,
           e->bp, fallback_backend ? "-unused" : "", backend_extra);
  if (!spawn(&e->be, "handoff-backend.exe", args, "backend") || !wait_pipe(e->ep, &e->be)) return false;
  if (fallback_backend) {
    snprintf(args, sizeof args, "--handoff-endpoint %s-unused --backend-pipe %s --log-level debug",
             e->ep, e->bp);
    if (!spawn(&e->be2, "handoff-backend.exe", args, "backend2") || !wait_pipe(e->bp, &e->be2))
      return false;
  } else if (!wait_pipe(e->bp, &e->be)) {
    return false;
  }
  snprintf(args, sizeof args,
           "--listen %s --handoff-endpoint %s --backend-pipe %s --service echo --hello-rate 0 "
           "--log-level debug %s",
           e->cl, e->ep, e->bp, broker_extra);
  return spawn(&e->br, "handoff-broker.exe", args, "broker") && wait_pipe(e->cl, &e->br) &&
         wait_log(&e->br, "control=1 connected", 1);
}

static void env_down(env *e) {
  stop(&e->br);
  stop(&e->be);
  stop(&e->be2);
}

/* One client: connect (handoff asked), echo `msg`, close. */
static int client_once(env *e, const char *msg, wc_result *r) {
  wc_config cfg = {e->cl, "echo", true, 2000};
  int rc = wc_connect(&cfg, r);
  if (rc != HO_OK) return rc;
  size_t n = strlen(msg), got;
  char buf[128];
  rc = ho_pipe_write_all(r->conn, msg, n, 5000);
  if (rc == HO_OK) rc = ho_pipe_read_exact(r->conn, buf, n, 5000, &got);
  if (rc == HO_OK && memcmp(buf, msg, n) != 0) rc = HO_ERR_MALFORMED;
  ho_win_close(r->conn);
  return rc;
}

/* ---- handle accounting ---------------------------------------------------------- */

typedef struct dupinfo {
  uint64_t corr, client, value;
} dupinfo;

static size_t parse_dups(const char *log, dupinfo *out, size_t cap) {
  size_t n = 0;
  for (const char *p = log; p && n < cap && (p = strstr(p, "duplicate corr=")) != NULL; p++) {
    unsigned long long corr, cl, val;
    unsigned long pid;
    if (sscanf(p, "duplicate corr=%llu client=0x%llx backend_pid=%lu value=0x%llx result=OK", &corr,
               &cl, &pid, &val) == 4) {
      out[n].corr = corr;
      out[n].client = cl;
      out[n].value = val;
      n++;
    }
  }
  return n;
}

/* Is `value` still the pipe of a handoff in process `t` (made by the
 * broker, client end ours)? */
static bool still_ours(const ho_win_target *t, uint64_t value, uint32_t broker_pid) {
  ho_win_probe_result pr;
  if (ho_win_probe(t, value, HO_NO_HANDLE, &pr) != HO_OK) return true;
  return pr.open && pr.pipe && pr.server_end && pr.server_pid == broker_pid &&
         pr.client_pid == GetCurrentProcessId();
}

typedef struct tally {
  size_t dups, broker_closed, backend_closed, backend_gone;
  unsigned long ms;
} tally;

/* Probe every handle of every handoff until gone (bounded: 3 s). */
static tally account(env *e, const char *name, bool backend_may_be_dead) {
  tally t = {0};
  static dupinfo d[512];
  char *log = slurp(e->br.log);
  t.dups = parse_dups(log, d, 512);
  ho_win_target tb, tk;
  uint32_t broker_pid = e->br.pi.dwProcessId;
  bool have_b = ho_win_target_open_pid(broker_pid, &tb) == HO_OK;
  bool have_k = ho_win_target_open_pid(e->be.pi.dwProcessId, &tk) == HO_OK;
  bool backend_dead = WaitForSingleObject(e->be.pi.hProcess, 0) == WAIT_OBJECT_0;
  ULONGLONG t0 = GetTickCount64();
  for (;;) {
    t.broker_closed = t.backend_closed = t.backend_gone = 0;
    for (size_t i = 0; i < t.dups; i++) {
      if (have_b && !still_ours(&tb, d[i].client, broker_pid)) t.broker_closed++;
      if (backend_dead) t.backend_gone++;
      else if (have_k && !still_ours(&tk, d[i].value, broker_pid)) t.backend_closed++;
    }
    if ((t.broker_closed == t.dups && t.backend_closed + t.backend_gone == t.dups) ||
        GetTickCount64() - t0 > 3000)
      break;
    Sleep(10);
  }
  t.ms = (unsigned long)(GetTickCount64() - t0);
  WT_EQ(t.broker_closed, t.dups);
  WT_EQ(t.backend_closed + t.backend_gone, t.dups);
  if (!backend_may_be_dead) WT_EQ(t.backend_gone, 0);
  printf("  accounting %s: handoffs=%zu broker_client_handles_closed=%zu/%zu "
         "backend_duplicates_closed=%zu/%zu backend_exited=%s (settled in %lu ms)\n",
         name, t.dups, t.broker_closed, t.dups, t.backend_closed + t.backend_gone, t.dups,
         backend_dead ? "yes" : "no", t.ms);
  if (have_b) ho_win_target_close(&tb);
  if (have_k) ho_win_target_close(&tk);
  return t;
}

/* ---- cases ------------------------------------------------------------------------ */

/* spec: SEC-2 — every endpoint owner-only as set (read back through a
 * client handle of each: Wine does not enforce DACLs). */
static void endpoints_owner_only(void) {
  env e;
  WT_REQUIRE(env_up(&e, "", "", false));
  const char *names[3] = {e.cl, e.ep, e.bp};
  for (int i = 0; i < 3; i++) {
    ho_handle h;
    WT_REQUIRE(ho_pipe_connect(names[i], 2000, &h) == HO_OK);
    unsigned aces = 0;
    WT_EQ(ho_pipe_check_owner_only(h, &aces), HO_OK);
    WT_EQ(aces, 1);
    ho_win_close(h);
  }
  env_down(&e);
}

static void handoff_echo_roundtrip(void) {
  env e;
  WT_REQUIRE(env_up(&e, "", "", false));
  /* The probe sees a live handoff: while the client still holds its end,
   * the backend's duplicate is open and still the same pipe (so the
   * accounting below can fail). */
  wc_config cfg = {e.cl, "echo", true, 2000};
  wc_result r;
  WT_REQUIRE(wc_connect(&cfg, &r) == HO_OK);
  WT_EQ(r.route, 1);
  WT_EQ(r.fallback_reason, HO_OK);
  WT_CHECK(wait_log(&e.be, "event=adopted", 1));
  static dupinfo d1[4];
  WT_REQUIRE(parse_dups(slurp(e.br.log), d1, 4) == 1);
  ho_win_target tk;
  WT_REQUIRE(ho_win_target_open_pid(e.be.pi.dwProcessId, &tk) == HO_OK);
  WT_CHECK(still_ours(&tk, d1[0].value, e.br.pi.dwProcessId));
  ho_win_target_close(&tk);
  size_t got;
  char buf[8];
  WT_EQ(ho_pipe_write_all(r.conn, "hello-1", 7, 5000), HO_OK);
  WT_EQ(ho_pipe_read_exact(r.conn, buf, 7, 5000, &got), HO_OK);
  WT_CHECK(memcmp(buf, "hello-1", 7) == 0);
  ho_win_close(r.conn);
  WT_CHECK(wait_log(&e.be, "event=conn-closed", 1));
  tally t = account(&e, "handoff_echo", false);
  WT_EQ(t.dups, 1);
  char *bl = slurp(e.be.log);
  WT_EQ(count_of(bl, "event=adopted"), 1);
  WT_EQ(count_of(bl, "event=reconnected"), 0);
  WT_CHECK(strstr(slurp(e.br.log), "outcome=COMPLETED stage=none err=OK dup=backend_owned") != NULL);
  /* handoff-client.exe itself, once: its report line. */
  proc c;
  char args[256];
  snprintf(args, sizeof args, "--connect %s --service echo --handoff --message abc", e.cl);
  WT_REQUIRE(spawn(&c, "handoff-client.exe", args, "client"));
  WT_EQ(WaitForSingleObject(c.pi.hProcess, 20000), WAIT_OBJECT_0);
  DWORD code = 99;
  GetExitCodeProcess(c.pi.hProcess, &code);
  WT_EQ(code, 0);
  CloseHandle(c.pi.hThread);
  CloseHandle(c.pi.hProcess);
  WT_CHECK(strstr(slurp(c.log), "route=handoff reason=none mode=legacy") != NULL);
  WT_CHECK(wait_log(&e.be, "event=conn-closed", 2));
  t = account(&e, "handoff_echo+client_exe", false);
  WT_EQ(t.dups, 2);
  env_down(&e);
}

static void refusal_falls_back(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--fault refuse", "", false));
  wc_result r;
  WT_EQ(client_once(&e, "hello-r", &r), HO_OK);
  WT_EQ(r.route, 2); /* spec: FALLBACK-24 — silently reconnected */
  char *bl = slurp(e.be.log);
  WT_EQ(count_of(bl, "event=refused"), 1);
  WT_EQ(count_of(bl, "event=handle-closed"), 1); /* spec: XFER-32 — closed by the backend */
  WT_EQ(count_of(bl, "event=reconnected"), 1);
  WT_CHECK(strstr(slurp(e.br.log), "outcome=BACKEND_REFUSED stage=acknowledge") != NULL);
  WT_EQ(account(&e, "refusal", false).dups, 1);
  env_down(&e);
}

static void backend_dies_before_ack(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--fault crash-before-ack", "", true));
  wc_result r;
  WT_EQ(client_once(&e, "hello-d", &r), HO_OK);
  WT_EQ(r.route, 2);
  WT_EQ(WaitForSingleObject(e.be.pi.hProcess, 5000), WAIT_OBJECT_0);
  DWORD code = 0;
  GetExitCodeProcess(e.be.pi.hProcess, &code);
  WT_EQ(code, 3);
  WT_EQ(count_of(slurp(e.be2.log), "event=reconnected"), 1);
  WT_CHECK(strstr(slurp(e.br.log), "stage=await_ack") != NULL);
  WT_EQ(account(&e, "backend_dies", true).dups, 1);
  env_down(&e);
}

static void late_ack_falls_back(void) {
  env e;
  /* declared, so the connection outlives the offer it expired (XFER-37) */
  WT_REQUIRE(env_up(&e, "--fault late-ack:900", "--ack-timeout-ms 300 --backend-multi-offer", false));
  wc_result r;
  WT_EQ(client_once(&e, "hello-l", &r), HO_OK);
  WT_EQ(r.route, 2);
  /* spec: ACK-6 ACK-7 — expired, then the late ACK is discarded. */
  WT_CHECK(wait_log(&e.br, "discarded: TOKEN_NOT_PENDING", 1));
  WT_CHECK(strstr(slurp(e.br.log), "outcome=BACKEND_ACK_TIMEOUT stage=await_ack") != NULL);
  WT_EQ(account(&e, "late_ack", false).dups, 1);
  env_down(&e);
}

static void wrong_token_falls_back(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--fault wrong-token", "", false));
  wc_result r;
  WT_EQ(client_once(&e, "hello-w", &r), HO_OK);
  WT_EQ(r.route, 2);
  WT_CHECK(strstr(slurp(e.br.log), "ACK_TOKEN_MISMATCH") != NULL ||
           strstr(slurp(e.br.log), "ack_token_mismatch") != NULL);
  WT_EQ(account(&e, "wrong_token", false).dups, 1);
  env_down(&e);
}

static void sequential_200_each_served_once(void) {
  env e;
  WT_REQUIRE(env_up(&e, "", "", false));
  int handed = 0;
  ULONGLONG t0 = GetTickCount64();
  for (int i = 0; i < 200; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "client-%03d", i); /* its own bytes: its own echo */
    wc_result r;
    int rc = client_once(&e, msg, &r);
    WT_EQ(rc, HO_OK);
    if (rc == HO_OK && r.route == 1) handed++;
  }
  unsigned long ms = (unsigned long)(GetTickCount64() - t0);
  WT_EQ(handed, 200);
  WT_CHECK(wait_log(&e.be, "event=conn-closed", 200));
  char *bl = slurp(e.be.log);
  WT_EQ(count_of(bl, "event=adopted"), 200);
  WT_EQ(count_of(bl, "event=reconnected"), 0);
  WT_EQ(count_of(slurp(e.br.log), "outcome=COMPLETED"), 200);
  printf("  200 sequential handoffs in %lu ms (%.2f ms each)\n", ms, ms / 200.0);
  tally t = account(&e, "sequential_200", false);
  WT_EQ(t.dups, 200);
  env_down(&e);
}


/* ---- this program as the broker: crafted offers to a real backend ------------- */

static int offer_and_ack(ho_handle ctl, uint64_t corr, const uint8_t token[16], uint64_t value,
                         ho_ack *ack) {
  static ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.offer.correlation_id = corr;
  m.offer.handle_value = value;
  memcpy(m.offer.token, token, 16);
  strcpy(m.offer.service_name, "echo");
  uint8_t buf[512];
  size_t len, got;
  int rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, buf, sizeof buf, &len);
  if (rc == HO_OK) rc = ho_pipe_write_all(ctl, buf, len, 5000);
  if (rc == HO_OK) rc = ho_pipe_read_exact(ctl, buf, 5, 5000, &got);
  uint32_t n = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 24;
  if (rc == HO_OK && n > sizeof buf - 5) rc = HO_ERR_FRAME_TOO_LARGE;
  if (rc == HO_OK) rc = ho_pipe_read_exact(ctl, buf + 5, n, 5000, &got);
  if (rc == HO_OK) rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, buf, 5 + n, NULL, &m);
  if (rc == HO_OK) *ack = m.ack;
  return rc;
}

/* spec: XFER-32 XFER-38 ERR-40 ERR-31 ERR-33 — every bad offer refused with
 * its error name; the handle of a refused offer is closed by the backend
 * (replay), a value that failed the checks is left alone (it may be the
 * backend's own); a malformed offer ends the control connection without an
 * ACK. Nothing of ours is left in the backend afterwards. */
static void backend_bad_offers(void) {
  env e;
  WT_REQUIRE(env_up(&e, "", "", false));
  ho_handle ctl;
  WT_REQUIRE(ho_pipe_connect(e.ep, 2000, &ctl) == HO_OK);
  ho_win_target tk;
  WT_REQUIRE(ho_win_target_open(ctl, &tk) == HO_OK);
  WT_EQ(tk.pid, e.be.pi.dwProcessId);
  uint8_t tok[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
  ho_ack ack;
  WT_EQ(offer_and_ack(ctl, 1, tok, 0, &ack), HO_OK);
  WT_CHECK(!ack.accepted && strcmp(ack.error_detail, "NO_DESCRIPTOR") == 0);
  tok[0]++;
  WT_EQ(offer_and_ack(ctl, 2, tok, (uint64_t)-5, &ack), HO_OK); /* a pseudo-handle */
  WT_CHECK(!ack.accepted && strcmp(ack.error_detail, "BAD_DESCRIPTOR") == 0);
  /* Wrong type: an event duplicated into the backend. */
  HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
  uint64_t vev = 0;
  WT_REQUIRE(ho_win_dup_into(&tk, (ho_handle)ev, &vev) == HO_OK);
  tok[0]++;
  WT_EQ(offer_and_ack(ctl, 3, tok, vev, &ack), HO_OK);
  WT_CHECK(!ack.accepted && strcmp(ack.error_detail, "BAD_DESCRIPTOR") == 0);
  ho_win_probe_result pr;
  WT_EQ(ho_win_probe(&tk, vev, HO_NO_HANDLE, &pr), HO_OK);
  WT_CHECK(pr.open); /* spec: XFER-32 — not closed by the backend ... */
  WT_EQ(ho_win_close_in(&tk, vev), HO_OK); /* ... so its sender closes it */
  /* Accepted once, then the same token again with a fresh duplicate. */
  ho_handle srv[2], cli[2];
  uint64_t v[2];
  for (int i = 0; i < 2; i++) {
    char name[64];
    snprintf(name, sizeof name, "hoit-%lu-bad-%d", (unsigned long)GetCurrentProcessId(), i);
    ho_pipe_listener l;
    WT_REQUIRE(ho_pipe_listener_open(&l, name) == HO_OK);
    WT_REQUIRE(ho_pipe_connect(name, 1000, &cli[i]) == HO_OK);
    WaitForSingleObject((HANDLE)ho_pipe_listener_event(&l), 2000);
    WT_REQUIRE(ho_pipe_listener_accept(&l, &srv[i]) == HO_OK);
    ho_pipe_listener_close(&l);
    WT_REQUIRE(ho_win_dup_into(&tk, srv[i], &v[i]) == HO_OK);
  }
  tok[0]++;
  WT_EQ(offer_and_ack(ctl, 4, tok, v[0], &ack), HO_OK);
  WT_CHECK(ack.accepted);
  WT_EQ(offer_and_ack(ctl, 5, tok, v[1], &ack), HO_OK);
  WT_CHECK(!ack.accepted && strcmp(ack.error_detail, "TOKEN_NOT_PENDING") == 0);
  /* The replayed one was closed by the backend (XFER-32: refused for
   * another reason). */
  WT_CHECK(wait_log(&e.be, "event=handle-closed", 1));
  WT_CHECK(!still_ours(&tk, v[1], GetCurrentProcessId()));
  WT_CHECK(still_ours(&tk, v[0], GetCurrentProcessId())); /* adopted: serving */
  ho_win_close(cli[0]); /* the adopted one ends with its client */
  ho_win_close(srv[0]);
  ho_win_close(srv[1]);
  ho_win_close(cli[1]);
  WT_CHECK(wait_log(&e.be, "event=conn-closed", 1));
  WT_CHECK(!still_ours(&tk, v[0], GetCurrentProcessId()));
  /* A malformed offer frame: the control connection ends, no ACK. */
  const uint8_t junk[] = {1, 3, 0, 0, 0, 0xff, 0xff, 0xff};
  WT_EQ(ho_pipe_write_all(ctl, junk, sizeof junk, 2000), HO_OK);
  char b;
  size_t got;
  WT_EQ(ho_pipe_read_some(ctl, &b, 1, 3000, &got), HO_ERR_CLOSED);
  printf("  accounting bad_offers: 6 offers, duplicates left in the backend: 0 "
         "(event closed by its sender after BAD_DESCRIPTOR)\n");
  ho_win_close(ctl);
  ho_win_target_close(&tk);
  CloseHandle(ev);
  env_down(&e);
}

static const wt_case cases[] = {{"endpoints_owner_only", endpoints_owner_only},
                                {"handoff_echo_roundtrip", handoff_echo_roundtrip},
                                {"refusal_falls_back", refusal_falls_back},
                                {"backend_dies_before_ack", backend_dies_before_ack},
                                {"late_ack_falls_back", late_ack_falls_back},
                                {"wrong_token_falls_back", wrong_token_falls_back},
                                {"sequential_200_each_served_once", sequential_200_each_served_once},
                                {"backend_bad_offers", backend_bad_offers},
                                {NULL, NULL}};

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BIN_DIR [case]\n", argv[0]);
    return 2;
  }
  /* BIN_DIR may be a Unix path (make passes one): Wine maps it under Z:. */
  if (argv[1][0] == '/') snprintf(g_bin, sizeof g_bin, "Z:%s", argv[1]);
  else snprintf(g_bin, sizeof g_bin, "%s", argv[1]);
  for (char *p = g_bin; *p; p++)
    if (*p == '/') *p = '\\';
  return wt_main(cases, argc - 1, argv + 1);
}
