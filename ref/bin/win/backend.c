/* handoff-backend.exe — the reference backend on Windows: the shared
 * backend core (handoff/backend.h) in its no-sideband mode behind named
 * pipes. The control stream is offer frames only; the core reads them
 * (exactly the bytes it asks for, FRAME-11), judges the handle each names
 * through check_handle = ho_win_check_handle against the broker's pid from
 * the control pipe (XFER-32 XFER-38: a value that fails is never closed),
 * times out stalled offers (BACKEND-10) and builds every ACK. This shell
 * executes the actions and serves an echo service on adopted and
 * reconnected connections alike (overlapped I/O, XFER-34). Same flags and
 * log lines as the Linux program; endpoints are bare pipe names.
 * spec: XFER-1 XFER-32 XFER-34 XFER-38 XFER-39 XFER-44 SEC-2 SEC-4 BACKEND-8 BACKEND-10 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend_flags.h"
#include "handoff/backend.h"
#include "handoff/frame.h"
#include "handoff/winpipe.h"
#include "winloop.h"

enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
static int g_level = LOG_INFO;

static void logf_(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(int level, const char *event, const char *fmt, ...) {
  if (level > g_level) return;
  char msg[512] = "", line[640];
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
  }
  snprintf(line, sizeof line, "event=%s%s%s", event, msg[0] ? " " : "", msg);
  wl_log("handoff-backend", level, line);
}

#define READ_CHUNK 4096u
#define WRITE_TIMEOUT_MS 5000

typedef struct ctl {
  struct ctl *next;
  HANDLE h;
  wl_op rd;
  ho_backend_ctl *core;
  uint32_t broker_pid; /* the control pipe's client: who may have made a handle (XFER-38) */
  uint8_t buf[READ_CHUNK];
  bool dead;
} ctl;

typedef struct echo {
  struct echo *next;
  HANDLE h;
  wl_op rd;
  uint8_t buf[4096];
  bool adopted, dead;
  uint64_t corr, bytes;
} echo;

typedef struct late_ack {
  struct late_ack *next;
  ctl *c;
  uint64_t due_ms;
  size_t len;
  uint8_t bytes[HO_BACKEND_ACT_MAX_BYTES];
} late_ack;

static struct {
  ho_backend_core *core;
  ho_pipe_listener lh, lp;
  ctl *ctls;
  echo *echos;
  late_ack *late;
  uint64_t reconnected;
} A;

/* ---- echo connections --------------------------------------------------------- */

static void echo_start_read(echo *e) {
  if (wl_read(e->h, &e->rd, e->buf, sizeof e->buf) != HO_OK) e->dead = true;
}

static void echo_new(HANDLE h, bool adopted, uint64_t corr) {
  echo *e = calloc(1, sizeof *e);
  if (e == NULL || wl_op_init(&e->rd) != HO_OK) {
    free(e);
    CloseHandle(h);
    logf_(LOG_ERROR, "conn-dropped", "handle=0x%llx reason=NOMEM", (unsigned long long)(uintptr_t)h);
    return;
  }
  e->h = h;
  e->adopted = adopted;
  e->corr = corr;
  e->next = A.echos;
  A.echos = e;
  echo_start_read(e);
}

static void echo_io(echo *e) {
  DWORD n;
  int rc = wl_result(e->h, &e->rd, &n, false);
  if (rc == HO_OK && n > 0) {
    e->bytes += n;
    if (ho_pipe_write_all((ho_handle)e->h, e->buf, n, WRITE_TIMEOUT_MS) == HO_OK) {
      echo_start_read(e);
      return;
    }
  }
  e->dead = true;
}

static void echo_reap(void) {
  for (echo **p = &A.echos; *p;) {
    echo *e = *p;
    if (!e->dead) {
      p = &e->next;
      continue;
    }
    wl_cancel(e->h, &e->rd);
    CloseHandle(e->h);
    logf_(LOG_INFO, "conn-closed", "handle=0x%llx adopted=%d corr=%llu bytes=%llu",
          (unsigned long long)(uintptr_t)e->h, e->adopted, (unsigned long long)e->corr,
          (unsigned long long)e->bytes);
    wl_op_free(&e->rd);
    *p = e->next;
    free(e);
  }
}

/* ---- control connections --------------------------------------------------------- */

/* spec: XFER-32 XFER-38 — the core's check_handle: the value must be a
 * server end of a pipe the broker of this control connection made; nothing
 * is closed here, and a value that fails is never handed back to close. */
static int check_handle(void *ctx, void *ctl_user, uint64_t value, ho_handle *conn) {
  (void)ctx;
  const ctl *c = ctl_user;
  int rc = ho_win_check_handle(value, c != NULL ? c->broker_pid : 0);
  logf_(LOG_DEBUG, "handle-check", "handle=0x%llx result=%s win32=%lu", (unsigned long long)value,
        ho_errname(rc), rc == HO_OK ? 0ul : ho_win_last_error());
  if (rc == HO_OK) *conn = (ho_handle)value;
  return rc;
}

static void ctl_read_next(ctl *c) {
  /* spec: FRAME-11 — exactly what completes the current part. */
  size_t want = ho_backend_ctl_wanted(c->core);
  if (want == 0 || c->dead) return;
  if (want > sizeof c->buf) want = sizeof c->buf;
  if (wl_read(c->h, &c->rd, c->buf, (DWORD)want) != HO_OK) {
    ho_backend_ctl_eof(c->core);
    c->dead = true;
  }
}

static void run_ctl_actions(ctl *c) {
  ho_backend_action a;
  while (ho_backend_ctl_next_action(c->core, &a)) {
    switch (a.type) {
    case HO_BACKEND_ACT_OFFER:
      logf_(LOG_DEBUG, "offer", "corr=%llu decode=%s", (unsigned long long)a.correlation_id,
            ho_errname(a.err));
      break;
    case HO_BACKEND_ACT_WRITE_CONTROL:
      if (a.accepted)
        logf_(LOG_INFO, "ack", "corr=%llu accepted=1", (unsigned long long)a.correlation_id);
      else
        logf_(LOG_INFO, "refused", "corr=%llu reason=%s", (unsigned long long)a.correlation_id,
              ho_errname(a.err));
      if (a.delay_ms > 0) { /* HO_FAULT_LATE_ACK */
        late_ack *l = calloc(1, sizeof *l);
        if (l != NULL) {
          l->c = c;
          l->due_ms = wl_now_ms() + a.delay_ms;
          l->len = a.len;
          memcpy(l->bytes, a.bytes, a.len);
          l->next = A.late;
          A.late = l;
        }
        break;
      }
      if (!c->dead && ho_pipe_write_all((ho_handle)c->h, a.bytes, a.len, WRITE_TIMEOUT_MS) != HO_OK) {
        ho_backend_ctl_eof(c->core);
        c->dead = true;
      }
      break;
    case HO_BACKEND_ACT_WRITE_CLIENT: {
      /* spec: READY-9 — ready first, before any client byte is read. */
      int rc = ho_pipe_write_all(a.conn, a.bytes, a.len, WRITE_TIMEOUT_MS);
      ho_backend_ctl_client_written(c->core, wl_now_ms(), rc);
      break;
    }
    case HO_BACKEND_ACT_DECLINE:
      /* spec: READY-29 — not produced here (no coalesced mode on Windows
       * yet: no_coalesced_reply), handled all the same. */
      (void)ho_pipe_write_all(a.conn, a.bytes, a.len, 1000);
      ho_win_close(a.conn);
      break;
    case HO_BACKEND_ACT_ADOPT:
      logf_(LOG_INFO, "adopted", "corr=%llu handle=0x%llx ready_written=%d",
            (unsigned long long)a.correlation_id, (unsigned long long)a.conn, a.ready_written);
      echo_new((HANDLE)a.conn, true, a.correlation_id);
      break;
    case HO_BACKEND_ACT_CLOSE_FD:
      /* spec: XFER-32 — a refused (or unanswerable) offer's handle, one that
       * passed the checks: closed here and only here. */
      ho_win_close(a.conn);
      logf_(LOG_INFO, "handle-closed", "handle=0x%llx corr=%llu", (unsigned long long)a.conn,
            (unsigned long long)a.correlation_id);
      break;
    case HO_BACKEND_ACT_CLOSE_CONTROL:
      logf_(LOG_INFO, "control-closed", "reason=%s", ho_errname(a.err) ? ho_errname(a.err) : "?");
      c->dead = true;
      break;
    case HO_BACKEND_ACT_CRASH:
      logf_(LOG_WARN, "crash", "fault=crash-before-ack");
      ExitProcess(3);
    }
  }
}

static void ctl_io(ctl *c) {
  DWORD n;
  int rc = wl_result(c->h, &c->rd, &n, false);
  if (rc != HO_OK || n == 0) {
    ho_backend_ctl_eof(c->core); /* spec: XFER-20 */
    run_ctl_actions(c);
    c->dead = true;
    return;
  }
  size_t used = 0;
  ho_backend_ctl_feed(c->core, wl_now_ms(), c->buf, n, HO_NO_HANDLE, HO_OK, &used);
  run_ctl_actions(c);
  ctl_read_next(c);
}

static void ctl_new(HANDLE h) {
  ho_peer_cred pc;
  int rc = ho_pipe_peer_check((ho_handle)h, HO_PIPE_SERVER_SIDE, HO_PEER_SAME_UID, &pc);
  if (rc != HO_OK) { /* spec: SEC-4 — nothing read */
    logf_(LOG_WARN, "control-rejected", "reason=%s win32=%lu", ho_errname(rc), ho_win_last_error());
    CloseHandle(h);
    return;
  }
  ctl *c = calloc(1, sizeof *c);
  if (c == NULL || wl_op_init(&c->rd) != HO_OK || ho_backend_ctl_new(A.core, &c->core) != HO_OK) {
    if (c != NULL) wl_op_free(&c->rd);
    free(c);
    CloseHandle(h);
    return;
  }
  c->h = h;
  c->broker_pid = (uint32_t)pc.pid;
  ho_backend_ctl_set_user(c->core, c);
  c->next = A.ctls;
  A.ctls = c;
  logf_(LOG_INFO, "control-accepted", "pid=%lu same_user=1", (unsigned long)pc.pid);
  ctl_read_next(c);
}

static void ctl_reap(void) {
  for (ctl **p = &A.ctls; *p;) {
    ctl *c = *p;
    if (!c->dead) {
      p = &c->next;
      continue;
    }
    wl_cancel(c->h, &c->rd);
    ho_backend_ctl_eof(c->core);
    run_ctl_actions(c); /* every held handle comes back as CLOSE_FD first */
    ho_backend_ctl_del(c->core);
    for (late_ack **l = &A.late; *l;) {
      if ((*l)->c == c) {
        late_ack *d = *l;
        *l = d->next;
        free(d);
      } else {
        l = &(*l)->next;
      }
    }
    CloseHandle(c->h);
    wl_op_free(&c->rd);
    *p = c->next;
    free(c);
  }
}

static void late_acks_due(void) {
  uint64_t now = wl_now_ms();
  for (late_ack **l = &A.late; *l;) {
    late_ack *d = *l;
    if (d->due_ms > now) {
      l = &d->next;
      continue;
    }
    if (!d->c->dead &&
        ho_pipe_write_all((ho_handle)d->c->h, d->bytes, d->len, WRITE_TIMEOUT_MS) != HO_OK)
      d->c->dead = true;
    *l = d->next;
    free(d);
  }
}

/* spec: BACKEND-10 — stalled offers end at their deadline. */
static void offer_timers(void) {
  uint64_t now = wl_now_ms(), at;
  for (ctl *c = A.ctls; c; c = c->next)
    if (!c->dead && ho_backend_ctl_next_deadline(c->core, &at) && at <= now) {
      ho_backend_ctl_timer(c->core, now);
      run_ctl_actions(c);
    }
}

static uint64_t wall_ms(void *ctx) {
  (void)ctx;
  return wl_unix_ms();
}

static void close_handle_cb(void *ctx, ho_handle h) {
  (void)ctx;
  ho_win_close(h);
}

/* ---- main ----------------------------------------------------------------------- */

int main(int argc, char **argv) {
  backend_flags fl;
  int st = backend_flags_parse(&fl, argc, argv); /* the Linux program's flags: backend_flags.c */
  if (st >= 0) return st;
  const char *endpoint = fl.endpoint, *pipe_name = fl.pipe, *service = fl.service;
  ho_backend_config cfg = fl.cfg;
  g_level = fl.log_level;
  cfg.no_coalesced_reply = true; /* spec: CAP-11 READY-35 — not on named pipes yet */
  cfg.service_name = service;
  cfg.wall_clock_ms = wall_ms;
  cfg.close_handle = close_handle_cb; /* the core never closes a handle itself */
  cfg.no_sideband = true;             /* spec: XFER-31 — frames only on Windows */
  cfg.check_handle = check_handle;
  int rc = ho_backend_core_new(&cfg, &A.core);
  if (rc == HO_OK && (rc = ho_pipe_listener_open(&A.lh, endpoint)) == HO_OK &&
      (rc = ho_pipe_listener_open(&A.lp, pipe_name)) != HO_OK)
    ho_pipe_listener_close(&A.lh);
  if (rc != HO_OK) {
    logf_(LOG_ERROR, "listen-failed", "reason=%s win32=%lu (%s)", ho_errname(rc),
          ho_win_last_error(), ho_strerror(rc));
    return 1;
  }
  logf_(LOG_INFO, "listening", "handoff_endpoint=%s backend_pipe=%s ready_mode=%s fault=%s",
        endpoint, pipe_name, cfg.ready_mode == HO_READY_BACKEND ? "backend" : "legacy",
        cfg.fault == HO_FAULT_NONE ? "none" : "set");
  for (;;) {
    HANDLE evs[MAXIMUM_WAIT_OBJECTS];
    DWORD n = 0;
    evs[n++] = (HANDLE)ho_pipe_listener_event(&A.lh);
    evs[n++] = (HANDLE)ho_pipe_listener_event(&A.lp);
    for (ctl *c = A.ctls; c && n < MAXIMUM_WAIT_OBJECTS; c = c->next)
      if (c->rd.pending) evs[n++] = c->rd.ev;
    for (echo *e = A.echos; e && n < MAXIMUM_WAIT_OBJECTS; e = e->next)
      if (e->rd.pending) evs[n++] = e->rd.ev;
    DWORD timeout = INFINITE;
    uint64_t now = wl_now_ms(), at;
    for (late_ack *l = A.late; l; l = l->next) {
      DWORD left = l->due_ms > now ? (DWORD)(l->due_ms - now) : 0;
      if (left < timeout) timeout = left;
    }
    for (ctl *c = A.ctls; c; c = c->next)
      if (!c->dead && ho_backend_ctl_next_deadline(c->core, &at)) {
        DWORD left = at > now ? (DWORD)(at - now) : 0;
        if (left < timeout) timeout = left;
      }
    (void)WaitForMultipleObjects(n, evs, FALSE, timeout);
    ho_handle h;
    while (ho_pipe_listener_accept(&A.lh, &h) == HO_OK) ctl_new((HANDLE)h);
    while (ho_pipe_listener_accept(&A.lp, &h) == HO_OK) {
      A.reconnected++;
      logf_(LOG_INFO, "reconnected", "handle=0x%llx", (unsigned long long)h);
      echo_new((HANDLE)h, false, 0);
    }
    for (ctl *c = A.ctls; c; c = c->next)
      if (!c->dead && wl_ready(&c->rd)) ctl_io(c);
    for (echo *e = A.echos; e; e = e->next)
      if (!e->dead && wl_ready(&e->rd)) echo_io(e);
    late_acks_due();
    offer_timers();
    ctl_reap();
    echo_reap();
  }
}
