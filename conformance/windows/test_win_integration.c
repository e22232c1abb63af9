/* handoff — integration tests of the Windows programs under Wine, with real
 * processes: handoff-backend.exe and handoff-broker.exe are started here,
 * this program is the client (ho_client_connect, the shared client core:
 * the code of handoff-client.exe, which is also run). Each case checks the
 * route and the echo, then the handle accounting: every client pipe the
 * broker accepted, every duplicate it made in the backend and every
 * connection the backend took on backend_pipe (values from the programs'
 * debug logs) is probed in that process until it is gone — a
 * DuplicateHandle of the value out of the process fails once it is closed;
 * a value that is open again is a leak only if it is still a pipe of this
 * run (its server the process that made it, its client one of this run's
 * client processes), since values are reused and GetProcessHandleCount
 * answers 0 under Wine (which also answers a garbage client pid for a
 * pipe instance never connected: a listener's is never taken for ours).
 *
 * Deterministic under load: no sleep stands for an event; every wait is for
 * a condition (a log line, a pipe, a probe) with a generous deadline
 * (WT_DEADLINE_MS), and each program logs an event only after it happened
 * (a handle is logged closed once CloseHandle returned). Timing is part of
 * the protocol, though: a legacy attempt ends 1.5 s after Negotiated
 * (ACK-17), so on an overloaded machine an attempt may fall back for time
 * alone. A case that needs a particular outcome therefore retries (a new
 * client, bounded) while the broker's log shows only timing fallbacks, and
 * every fallback of every case must be one of those or the one the case
 * provokes; the accounting covers every attempt.
 *   usage: test_win_integration.exe BIN_DIR [case-substring]
 * spec: XFER-30 XFER-31 XFER-32 XFER-33 XFER-34 XFER-38 XFER-41 XFER-42 XFER-43 SEC-2
 * spec: FALLBACK-24 ACK-4 ACK-5 ACK-6 ACK-7 ACK-17 BACKEND-10 XFER-44 XFER-45 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/frame.h"
#include "handoff/winpipe.h"
#include "wintest.h"

#include <aclapi.h>
#include <windows.h>

#define RETRIES 6 /* clients a case may need for its outcome on a loaded machine */

static char g_bin[MAX_PATH];
static unsigned g_run;
/* The client processes of the running case: this one and the
 * handoff-client.exe runs. */
static uint32_t g_cpids[16];
static size_t g_ncpids;

static void client_pid_add(uint32_t pid) {
  if (g_ncpids < sizeof g_cpids / sizeof g_cpids[0]) g_cpids[g_ncpids++] = pid;
}

static bool client_pid_ours(uint32_t pid) {
  for (size_t i = 0; i < g_ncpids; i++)
    if (g_cpids[i] == pid) return true;
  return false;
}

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

static bool until(ULONGLONG deadline) { return GetTickCount64() < deadline; }
static ULONGLONG deadline(void) { return GetTickCount64() + WT_DEADLINE_MS; }

/* Wait until pipe `name` exists (the program is listening), or it exited. */
static bool wait_pipe(const char *name, proc *p) {
  char path[300];
  ho_pipe_local_name(name, path, sizeof path);
  for (ULONGLONG d = deadline(); until(d);) {
    if (WaitNamedPipeA(path, 1) || GetLastError() != ERROR_FILE_NOT_FOUND) return true;
    if (WaitForSingleObject(p->pi.hProcess, 10) == WAIT_OBJECT_0) return false;
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
  WaitForSingleObject(p->pi.hProcess, WT_DEADLINE_MS);
  CloseHandle(p->pi.hThread);
  CloseHandle(p->pi.hProcess);
  p->up = false;
}

/* The log as it is now (one buffer per slot: two logs may be held). */
static char *slurp_in(const char *path, int slot) {
  static char buf[2][4 << 20];
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t n = fread(buf[slot], 1, sizeof buf[slot] - 1, f);
  fclose(f);
  buf[slot][n] = '\0';
  return buf[slot];
}
static char *slurp(const char *path) { return slurp_in(path, 0); }

static int count_of(const char *log, const char *needle) {
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

/* Lines that contain both `a` and `b` (b may be NULL). */
static int count_lines(const char *log, const char *a, const char *b) {
  int n = 0;
  for (const char *p = log; p && *p;) {
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char line[1024];
    size_t k = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, k);
    line[k] = '\0';
    if (strstr(line, a) && (b == NULL || strstr(line, b))) n++;
    p = e ? e + 1 : NULL;
  }
  return n;
}

/* Wait (bounded) until `needle` appears `times` times in the log. */
static bool wait_log(proc *p, const char *needle, int times) {
  for (ULONGLONG d = deadline();;) {
    char *s = slurp(p->log);
    if (s != NULL && count_of(s, needle) >= times) return true;
    if (!until(d)) return false;
    Sleep(5); /* a poll interval: the log line decides */
  }
}

/* Fallbacks the broker took for time alone (ACK-17, TOKEN-21 on the
 * backend's side): no ACK in time, an ACK after the deadline, or a backend
 * that found the offer's deadline passed. */
static int timing_fallbacks(const char *brlog) {
  return count_lines(brlog, "route=reconnect", "detail=ack_timeout") +
         count_lines(brlog, "route=reconnect", "detail=ack_late") +
         count_lines(brlog, "route=reconnect", "why='TIMEOUT'");
}

/* ---- an environment: backend(s) + broker on fresh names ------------------------ */

typedef struct env {
  char ep[64], bp[64], cl[64];
  proc be, be2, br;
} env;

static bool env_up(env *e, const char *backend_extra, const char *broker_extra, bool fallback_backend) {
  memset(e, 0, sizeof *e);
  g_run++;
  g_ncpids = 0;
  client_pid_add(GetCurrentProcessId());
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

static void dump_tail(const char *what, const proc *p) {
  if (!p->log[0]) return;
  char *s = slurp(p->log);
  if (s == NULL) return;
  size_t n = strlen(s);
  const char *from = n > 6000 ? s + n - 6000 : s;
  fprintf(stderr, "  ---- %s log (tail) ----\n%s  ---- end of %s log ----\n", what, from, what);
}

static void env_down(env *e) {
  if (wt_failed_now) { /* the evidence of a failure */
    dump_tail("broker", &e->br);
    dump_tail("backend", &e->be);
    dump_tail("backend2", &e->be2);
  }
  stop(&e->br);
  stop(&e->be);
  stop(&e->be2);
}

/* One client: connect (handoff asked) with `msg` as its request, read the
 * echo, close. The ready wait is the broker's to end (a legacy attempt
 * ends 1.5 s after Negotiated with a shutdown the client sees at once), so
 * the client's own is generous: only the broker's deadline decides. */
static int client_once(env *e, const char *msg, ho_client_result *r) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = e->cl;
  cfg.service_name = "echo";
  cfg.handoff = true;
  cfg.request = (const uint8_t *)msg;
  cfg.request_len = strlen(msg);
  cfg.ready_timeout_ms = WT_DEADLINE_MS;
  int rc = ho_client_connect(&cfg, r);
  if (rc != HO_OK) return rc;
  size_t n = strlen(msg), got;
  char buf[128];
  if (!r->request_sent) rc = ho_client_write_all(r->conn, msg, n, WT_DEADLINE_MS);
  if (rc == HO_OK) rc = ho_client_read_exact(r->conn, buf, n, WT_DEADLINE_MS, &got);
  if (rc == HO_OK && memcmp(buf, msg, n) != 0) rc = HO_ERR_MALFORMED;
  ho_win_close(r->conn);
  return rc;
}

/* ---- handle accounting ---------------------------------------------------------- */

#define MAXH 1024

typedef struct hlist {
  uint64_t v[MAXH];
  size_t n;
} hlist;

/* Every `fmt` match in the log ("...0x%llx..."): the value it names. */
static void parse_values(const char *log, const char *prefix, const char *fmt, hlist *out) {
  out->n = 0;
  for (const char *p = log; p && out->n < MAXH && (p = strstr(p, prefix)) != NULL; p++) {
    unsigned long long v;
    if (sscanf(p, fmt, &v) == 1) out->v[out->n++] = v;
  }
}

/* The duplicates: "duplicate corr=N client=0x.. backend_pid=P value=0x.. result=OK". */
static void parse_dups(const char *log, hlist *dups) {
  dups->n = 0;
  for (const char *p = log; p && dups->n < MAXH && (p = strstr(p, "duplicate corr=")) != NULL; p++) {
    unsigned long long corr, cl, val;
    unsigned long pid;
    if (sscanf(p, "duplicate corr=%llu client=0x%llx backend_pid=%lu value=0x%llx result=OK", &corr,
               &cl, &pid, &val) == 4)
      dups->v[dups->n++] = val;
  }
}

/* Is `value` in process `t` still a pipe of this run: a server end made by
 * `server_pid` whose client is one of the case's client processes? */
static bool still_ours(const ho_win_target *t, uint64_t value, uint32_t server_pid) {
  ho_win_probe_result pr;
  if (ho_win_probe(t, value, HO_NO_HANDLE, &pr) != HO_OK) return true; /* cannot tell */
  return pr.open && pr.pipe && pr.server_end && pr.server_pid == server_pid &&
         client_pid_ours(pr.client_pid);
}

static size_t closed_count(const ho_win_target *t, const hlist *h, uint32_t server_pid) {
  size_t n = 0;
  for (size_t i = 0; i < h->n; i++) n += !still_ours(t, h->v[i], server_pid);
  return n;
}

static bool exited(const proc *p) {
  return p->up && WaitForSingleObject(p->pi.hProcess, 0) == WAIT_OBJECT_0;
}

typedef struct tally {
  size_t clients, dups, reconnects;
} tally;

/* Probe every handle of every attempt of the case until gone (bounded).
 * `be_dups` is the backend the broker duplicated into; `be_pipe` the one
 * serving backend_pipe. */
static tally account(env *e, const char *name) {
  static hlist cl, dups, rec;
  tally t = {0, 0, 0};
  char *brlog = slurp(e->br.log);
  parse_values(brlog, "client accepted handle=", "client accepted handle=0x%llx", &cl);
  parse_dups(brlog, &dups);
  proc *pipe_owner = e->be2.up ? &e->be2 : &e->be;
  parse_values(slurp(pipe_owner->log), "event=reconnected handle=", "event=reconnected handle=0x%llx",
               &rec);
  t.clients = cl.n;
  t.dups = dups.n;
  t.reconnects = rec.n;
  ho_win_target tb, tk, tp;
  uint32_t broker_pid = e->br.pi.dwProcessId, be_pid = e->be.pi.dwProcessId,
           pipe_pid = pipe_owner->pi.dwProcessId;
  bool have_b = ho_win_target_open_pid(broker_pid, &tb) == HO_OK;
  bool have_k = !exited(&e->be) && ho_win_target_open_pid(be_pid, &tk) == HO_OK;
  bool have_p = !exited(pipe_owner) && ho_win_target_open_pid(pipe_pid, &tp) == HO_OK;
  WT_CHECK(have_b);
  ULONGLONG t0 = GetTickCount64(), d = deadline();
  size_t b_closed = 0, k_closed = 0, p_closed = 0;
  for (;;) {
    b_closed = have_b ? closed_count(&tb, &cl, broker_pid) : 0;
    /* a backend that exited took its handle table with it */
    k_closed = have_k && !exited(&e->be) ? closed_count(&tk, &dups, broker_pid) : dups.n;
    p_closed = have_p && !exited(pipe_owner) ? closed_count(&tp, &rec, pipe_pid) : rec.n;
    if ((b_closed == cl.n && k_closed == dups.n && p_closed == rec.n) || !until(d)) break;
    Sleep(5); /* a poll interval: the probes decide */
  }
  WT_EQ(b_closed, cl.n);
  WT_EQ(k_closed, dups.n);
  WT_EQ(p_closed, rec.n);
  printf("  accounting %s: broker client pipes closed %zu/%zu, duplicates closed in the backend "
         "%zu/%zu%s, backend_pipe connections closed %zu/%zu (settled in %lu ms)\n",
         name, b_closed, cl.n, k_closed, dups.n, exited(&e->be) ? " (backend exited)" : "",
         p_closed, rec.n, (unsigned long)(GetTickCount64() - t0));
  if (have_b) ho_win_target_close(&tb);
  if (have_k) ho_win_target_close(&tk);
  if (have_p) ho_win_target_close(&tp);
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
    WT_REQUIRE(ho_pipe_connect(names[i], WT_DEADLINE_MS, &h) == HO_OK);
    unsigned aces = 0;
    WT_EQ(ho_pipe_check_owner_only(h, &aces), HO_OK);
    WT_EQ(aces, 1);
    ho_win_close(h);
  }
  env_down(&e);
}

/* spec: XFER-31 XFER-41 — a handoff and its echo; while the client holds
 * its end the backend's duplicate is open and still that pipe (so the
 * accounting can fail); then handoff-client.exe itself. */
static void handoff_echo_roundtrip(void) {
  env e;
  WT_REQUIRE(env_up(&e, "", "", false));
  int handed = 0, tries = 0;
  while (handed == 0 && tries < RETRIES) {
    tries++;
    ho_client_config cfg;
    ho_client_config_init(&cfg);
    cfg.connect_path = e.cl;
    cfg.service_name = "echo";
    cfg.handoff = true;
    cfg.request = (const uint8_t *)"hello-1";
    cfg.request_len = 7;
    cfg.ready_timeout_ms = WT_DEADLINE_MS;
    ho_client_result r;
    WT_REQUIRE(ho_client_connect(&cfg, &r) == HO_OK);
    if (r.route == HO_ROUTE_HANDOFF) {
      handed++;
      WT_EQ(r.fallback_reason, HO_OK);
      WT_CHECK(r.request_sent);
      WT_CHECK(wait_log(&e.be, "event=adopted", 1));
      static hlist d;
      parse_dups(slurp(e.br.log), &d);
      WT_REQUIRE(d.n >= 1); /* the last one is this client's */
      ho_win_target tk;
      WT_REQUIRE(ho_win_target_open_pid(e.be.pi.dwProcessId, &tk) == HO_OK);
      WT_CHECK(still_ours(&tk, d.v[d.n - 1], e.br.pi.dwProcessId));
      ho_win_target_close(&tk);
    }
    size_t got;
    char buf[8];
    WT_EQ(ho_client_read_exact(r.conn, buf, 7, WT_DEADLINE_MS, &got), HO_OK);
    WT_CHECK(memcmp(buf, "hello-1", 7) == 0);
    ho_win_close(r.conn);
    WT_EQ(timing_fallbacks(slurp(e.br.log)), tries - handed); /* nothing else made it fall back */
  }
  WT_EQ(handed, 1);
  WT_CHECK(wait_log(&e.br, "stages outcome=COMPLETED stage=none dup=backend_owned", 1));
  WT_CHECK(wait_log(&e.be, "event=conn-closed", tries));
  account(&e, "handoff_echo");
  /* handoff-client.exe itself: its report line. */
  int exe_handed = 0;
  for (int i = 0; i < RETRIES && exe_handed == 0; i++) {
    proc c;
    char args[256];
    snprintf(args, sizeof args, "--connect %s --service echo --handoff --message abc "
             "--ready-timeout-ms %d", e.cl, WT_DEADLINE_MS);
    WT_REQUIRE(spawn(&c, "handoff-client.exe", args, "client"));
    client_pid_add(c.pi.dwProcessId);
    WT_EQ(WaitForSingleObject(c.pi.hProcess, WT_DEADLINE_MS), WAIT_OBJECT_0);
    DWORD code = 99;
    GetExitCodeProcess(c.pi.hProcess, &code);
    WT_EQ(code, 0);
    CloseHandle(c.pi.hThread);
    CloseHandle(c.pi.hProcess);
    char *out = slurp(c.log);
    if (out && strstr(out, "route=handoff reason=NONE mode=legacy") != NULL) exe_handed = 1;
    else WT_CHECK_MSG(out && strstr(out, "route=reconnect") != NULL, out);
  }
  WT_EQ(exe_handed, 1);
  char *bl = slurp(e.br.log);
  WT_EQ(count_of(bl, "route=reconnect"), timing_fallbacks(bl));
  account(&e, "handoff_echo+client_exe");
  env_down(&e);
}

/* spec: XFER-32 FALLBACK-24 — refused: the backend closes the duplicate,
 * the client reconnects; stage acknowledge, the duplicate the backend's. */
static void refusal_falls_back(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--fault refuse", "", false));
  int tries = 0;
  char *bl = NULL;
  do {
    char msg[32];
    snprintf(msg, sizeof msg, "hello-r%d", tries);
    ho_client_result r;
    WT_EQ(client_once(&e, msg, &r), HO_OK);
    WT_EQ(r.route, HO_ROUTE_RECONNECT); /* spec: FALLBACK-24 — silently reconnected */
    tries++;
    WT_CHECK(wait_log(&e.br, "route=reconnect", tries));
    bl = slurp(e.br.log);
  } while (count_lines(bl, "detail=ack_refused", "why='ACK_REFUSED'") == 0 && tries < RETRIES);
  int refused = count_lines(bl, "detail=ack_refused", "why='ACK_REFUSED'");
  WT_EQ(refused, 1);
  WT_CHECK(strstr(bl, "stages outcome=BACKEND_REFUSED stage=acknowledge dup=backend_owned"));
  WT_EQ(refused + timing_fallbacks(bl), tries);
  /* spec: XFER-32 — every offer it read, refused or not in time, it closed */
  WT_CHECK(wait_log(&e.be, "event=handle-closed", count_of(slurp(e.be.log), "event=refused")));
  WT_CHECK(wait_log(&e.be, "event=reconnected", tries));
  tally t = account(&e, "refusal");
  WT_EQ(t.dups, (size_t)tries);
  WT_EQ(t.reconnects, (size_t)tries);
  env_down(&e);
}

/* spec: XFER-33 ACK-10 — the backend dies after reading the offer: the
 * duplicate went with its handle table; the client reconnects to another. */
static void backend_dies_before_ack(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--fault crash-before-ack", "", true));
  ho_client_result r;
  WT_EQ(client_once(&e, "hello-d", &r), HO_OK);
  WT_EQ(r.route, HO_ROUTE_RECONNECT);
  WT_EQ(WaitForSingleObject(e.be.pi.hProcess, WT_DEADLINE_MS), WAIT_OBJECT_0);
  DWORD code = 0;
  GetExitCodeProcess(e.be.pi.hProcess, &code);
  WT_EQ(code, 3);
  WT_CHECK(wait_log(&e.be2, "event=reconnected", 1));
  WT_CHECK(wait_log(&e.br, "stage=await_ack dup=backend_owned", 1));
  tally t = account(&e, "backend_dies");
  WT_EQ(t.dups, 1);
  env_down(&e);
}

/* spec: ACK-6 ACK-7 ACK-5 — the ACK comes after the deadline: the attempt
 * expired (then the ACK is discarded) or the ACK is judged late. */
static void late_ack_falls_back(void) {
  env e;
  /* declared, so the connection outlives the offer it expired (XFER-37) */
  WT_REQUIRE(env_up(&e, "--fault late-ack:900", "--ack-timeout-ms 300 --backend-multi-offer", false));
  ho_client_result r;
  WT_EQ(client_once(&e, "hello-l", &r), HO_OK);
  WT_EQ(r.route, HO_ROUTE_RECONNECT);
  WT_CHECK(wait_log(&e.be, "event=ack", 1) || wait_log(&e.be, "event=refused", 1));
  ULONGLONG d = deadline();
  char *bl;
  for (;;) { /* the late ACK reaches the broker */
    bl = slurp(e.br.log);
    if (strstr(bl, "discarded: TOKEN_NOT_PENDING") || strstr(bl, "detail=ack_late") || !until(d))
      break;
    Sleep(5);
  }
  bool expired = strstr(bl, "discarded: TOKEN_NOT_PENDING") != NULL &&
                 strstr(bl, "outcome=BACKEND_ACK_TIMEOUT stage=await_ack dup=backend_owned");
  bool late = strstr(bl, "detail=ack_late") != NULL &&
              strstr(bl, "outcome=BACKEND_ACK_TIMEOUT stage=acknowledge dup=backend_owned");
  WT_CHECK(expired || late);
  tally t = account(&e, "late_ack");
  WT_EQ(t.dups, 1);
  env_down(&e);
}

/* spec: ACK-13 ACK-2 — an accepting ACK with another token: the broker
 * falls back and shuts the pipe down (XFER-43); the backend, which adopted
 * it, sees it end and closes it. */
static void wrong_token_falls_back(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--fault wrong-token", "", false));
  int tries = 0;
  char *bl = NULL;
  do {
    char msg[32];
    snprintf(msg, sizeof msg, "hello-w%d", tries);
    ho_client_result r;
    WT_EQ(client_once(&e, msg, &r), HO_OK);
    WT_EQ(r.route, HO_ROUTE_RECONNECT);
    tries++;
    WT_CHECK(wait_log(&e.br, "route=reconnect", tries));
    bl = slurp(e.br.log);
  } while (count_of(bl, "detail=ack_token_mismatch") == 0 && tries < RETRIES);
  int mismatched = count_lines(bl, "route=reconnect", "detail=ack_token_mismatch");
  WT_EQ(mismatched, 1);
  WT_EQ(mismatched + timing_fallbacks(bl), tries);
  WT_CHECK(strstr(bl, "stages outcome=BACKEND_ACK_TIMEOUT stage=acknowledge dup=backend_owned"));
  tally t = account(&e, "wrong_token");
  WT_EQ(t.dups, (size_t)tries);
  env_down(&e);
}

/* 200 clients one after the other, each served exactly once (its own
 * bytes echoed, one connection each at the backend), every attempt
 * accounted for. */
static void sequential_200_each_served_once(void) {
  env e;
  WT_REQUIRE(env_up(&e, "", "", false));
  int handed = 0, served = 0;
  ULONGLONG t0 = GetTickCount64();
  for (int i = 0; i < 200; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "client-%03d", i); /* its own bytes: its own echo */
    ho_client_result r;
    int rc = client_once(&e, msg, &r);
    WT_EQ(rc, HO_OK);
    served += rc == HO_OK;
    if (rc == HO_OK && r.route == HO_ROUTE_HANDOFF) handed++;
  }
  unsigned long ms = (unsigned long)(GetTickCount64() - t0);
  WT_EQ(served, 200);
  WT_CHECK(wait_log(&e.be, "event=conn-closed", 200));
  WT_CHECK(wait_log(&e.br, "route=", 200)); /* the last success is logged after its ready write */
  char *bl = slurp(e.be.log);
  int adopted = count_of(bl, "event=adopted"), reconnected = count_of(bl, "event=reconnected");
  WT_EQ(adopted, handed);
  WT_EQ(adopted + reconnected, 200); /* one connection per client: none served twice */
  char *brl = slurp(e.br.log);
  WT_EQ(count_of(brl, "route=handoff"), handed);
  WT_EQ(count_of(brl, "route=reconnect"), 200 - handed);
  WT_EQ(timing_fallbacks(brl), 200 - handed); /* and only for time */
  WT_CHECK(handed > 0);
  printf("  200 sequential clients in %lu ms (%.2f ms each): %d handed off, %d fell back for "
         "time (ACK-17)\n",
         ms, ms / 200.0, handed, 200 - handed);
  tally t = account(&e, "sequential_200");
  WT_EQ(t.dups, 200);
  WT_EQ(t.clients, 200);
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
  if (rc == HO_OK) rc = ho_pipe_write_all(ctl, buf, len, WT_DEADLINE_MS);
  if (rc == HO_OK) rc = ho_pipe_read_exact(ctl, buf, 5, WT_DEADLINE_MS, &got);
  uint32_t n = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 | (uint32_t)buf[4] << 24;
  if (rc == HO_OK && n > sizeof buf - 5) rc = HO_ERR_FRAME_TOO_LARGE;
  if (rc == HO_OK) rc = ho_pipe_read_exact(ctl, buf + 5, n, WT_DEADLINE_MS, &got);
  if (rc == HO_OK) rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, buf, 5 + n, NULL, &m);
  if (rc == HO_OK) *ack = m.ack;
  return rc;
}

/* Wait (bounded) until `value` in `t` is no longer a pipe of ours. */
static bool gone_within(const ho_win_target *t, uint64_t value, uint32_t server_pid) {
  for (ULONGLONG d = deadline();;) {
    if (!still_ours(t, value, server_pid)) return true;
    if (!until(d)) return false;
    Sleep(5);
  }
}

static bool pair_on(const char *name, ho_handle *srv, ho_handle *cli) {
  ho_pipe_listener l;
  if (ho_pipe_listener_open(&l, name) != HO_OK) return false;
  bool ok = ho_pipe_connect(name, WT_DEADLINE_MS, cli) == HO_OK &&
            WaitForSingleObject((HANDLE)ho_pipe_listener_event(&l), WT_DEADLINE_MS) ==
                WAIT_OBJECT_0 &&
            ho_pipe_listener_accept(&l, srv) == HO_OK;
  ho_pipe_listener_close(&l);
  return ok;
}

/* spec: XFER-32 XFER-38 XFER-44 ERR-40 ERR-31 ERR-33 BACKEND-10 — every bad offer
 * refused with its error name; the handle of a refused offer is closed by
 * the backend (replay), a value that failed the checks is left alone (it
 * may be the backend's own); a malformed offer ends the control connection
 * without an ACK, and so does one that stalls. Nothing of ours is left in
 * the backend afterwards. */
static void backend_bad_offers(void) {
  env e;
  WT_REQUIRE(env_up(&e, "--offer-timeout-ms 500", "", false));
  ho_handle ctl;
  WT_REQUIRE(ho_pipe_connect(e.ep, WT_DEADLINE_MS, &ctl) == HO_OK);
  ho_win_target tk;
  WT_REQUIRE(ho_win_target_open(ctl, &tk) == HO_OK);
  WT_EQ(tk.pid, e.be.pi.dwProcessId);
  uint32_t me = GetCurrentProcessId();
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
  WT_EQ(ho_win_probe(&tk, vev, (ho_handle)ev, &pr), HO_OK);
  WT_CHECK(pr.open && pr.same_object != 0); /* spec: XFER-32 — not closed by the backend ... */
  WT_EQ(ho_win_close_in(&tk, vev), HO_OK);  /* ... so its sender closes it */
  /* Accepted once, then the same token again with a fresh duplicate. */
  ho_handle srv[2], cli[2];
  uint64_t v[2];
  for (int i = 0; i < 2; i++) {
    char name[64];
    snprintf(name, sizeof name, "hoit-%lu-bad-%d", (unsigned long)me, i);
    WT_REQUIRE(pair_on(name, &srv[i], &cli[i]));
    WT_REQUIRE(ho_win_dup_into(&tk, srv[i], &v[i]) == HO_OK);
  }
  tok[0]++;
  WT_EQ(offer_and_ack(ctl, 4, tok, v[0], &ack), HO_OK);
  WT_CHECK(ack.accepted);
  WT_EQ(offer_and_ack(ctl, 5, tok, v[1], &ack), HO_OK);
  WT_CHECK(!ack.accepted && strcmp(ack.error_detail, "TOKEN_NOT_PENDING") == 0);
  /* The replayed one was closed by the backend (XFER-32: refused for
   * another reason); the adopted one serves until its client leaves. */
  WT_CHECK(wait_log(&e.be, "event=handle-closed", 1));
  WT_CHECK(gone_within(&tk, v[1], me));
  WT_CHECK(still_ours(&tk, v[0], me));
  ho_win_close(cli[0]);
  ho_win_close(srv[0]);
  ho_win_close(srv[1]);
  ho_win_close(cli[1]);
  WT_CHECK(wait_log(&e.be, "event=conn-closed", 1));
  WT_CHECK(gone_within(&tk, v[0], me));
  /* A malformed offer frame: the control connection ends, no ACK. */
  const uint8_t junk[] = {1, 3, 0, 0, 0, 0xff, 0xff, 0xff};
  WT_EQ(ho_pipe_write_all(ctl, junk, sizeof junk, WT_DEADLINE_MS), HO_OK);
  char b;
  size_t got;
  WT_EQ(ho_pipe_read_some(ctl, &b, 1, WT_DEADLINE_MS, &got), HO_ERR_CLOSED);
  /* spec: BACKEND-10 — an offer that stalls after its first bytes: the
   * backend closes the control connection at its offer deadline. */
  ho_handle ctl2;
  WT_REQUIRE(ho_pipe_connect(e.ep, WT_DEADLINE_MS, &ctl2) == HO_OK);
  WT_EQ(ho_pipe_write_all(ctl2, junk, 3, WT_DEADLINE_MS), HO_OK);
  WT_EQ(ho_pipe_read_some(ctl2, &b, 1, WT_DEADLINE_MS, &got), HO_ERR_CLOSED);
  /* closed by its deadline, not as a malformed or truncated offer */
  WT_CHECK(wait_log(&e.be, "event=control-closed reason=TIMEOUT", 1));
  printf("  accounting bad_offers: 7 offers; duplicates left in the backend: 0 (the event "
         "closed by its sender after BAD_DESCRIPTOR, the replay closed by the backend, the "
         "adopted one with its client)\n");
  ho_win_close(ctl2);
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
