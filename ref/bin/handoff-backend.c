/* handoff-backend — the reference backend: accepts handed-off client
 * connections from brokers (control connections on --handoff-endpoint) and
 * reconnecting clients (on --backend-pipe), and serves a small echo service
 * on both. One epoll loop, non-blocking everywhere.
 *
 * Protocol logic lives in the library (ref/lib/backend/): this file is only
 * the event loop, the echo service, signals, logging and flags.
 * spec: BACKEND-1 XFER-1 READY-3 SEC-2 SEC-8 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backend_flags.h"
#include "cli.h"
#include "handoff/backend.h"
#include "handoff/transport.h"

enum { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static int g_log_level = LOG_INFO;

static void logf_(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(int level, const char *event, const char *fmt, ...) {
  if (level > g_log_level) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char msg[512] = "";
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
  }
  char when[CLI_LOG_TIME_LEN];
  cli_log_time(when, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
  fprintf(stderr, "%s handoff-backend[%ld] level=%s event=%s%s%s\n", when, (long)getpid(),
          level_names[level], event, msg[0] ? " " : "", msg);
}

/* ---- echo connections ------------------------------------------------- */

enum { K_HANDOFF_LISTENER = 1, K_PIPE_LISTENER, K_CONTROL, K_ECHO, K_SIGNAL };

typedef struct echo_conn {
  int fd;
  int adopted;       /* 1 handed off, 0 reconnected */
  char line[512];    /* --exec-log: the request line being read */
  size_t line_len;
  uint64_t corr;
  uint64_t bytes;
  uint8_t *out;
  size_t out_len, out_cap;
  int eof;
  uint32_t events; /* current epoll interest */
} echo_conn;

typedef struct app {
  int ep;
  ho_backend *b;
  ho_listener handoff, pipe;
  int sfd;
  echo_conn **echo; /* by fd */
  size_t echo_cap;
  unsigned char *is_ctl; /* by fd */
  size_t ctl_cap;
  uint64_t reconnected;
  bool paused;           /* listeners disarmed at EMFILE until a descriptor frees */
  size_t n_echo, n_ctl;  /* open service and control connections */
  size_t max_ctl;        /* --max-controls (spec: BACKEND-15 SEC-7) */
  long fd_limit;         /* RLIMIT_NOFILE */
  bool fd_refusing;      /* offers refused FD_EXHAUSTED near the limit (BACKEND-7) */
  bool draining;         /* SIGUSR2: refuse with DRAINING, exit when idle (BACKEND-14) */
  uint64_t drain_deadline;
  uint32_t drain_timeout_ms;
  ho_ready_mode mode;
  ho_backend_fault fault;
  int exec_log; /* --exec-log descriptor (O_APPEND), -1: none */
  /* coalesced adoptions whose request was served in the first write, until
   * their ADOPT hands them over (spec: READY-28) */
  echo_conn **early;
  size_t n_early, early_cap;
} app;

static app *g_app; /* for the exec log of echo connections */

/* --exec-log: one line per request the service executes ("route<TAB>line",
 * a request being one line of the echo protocol; a last line without its
 * newline is logged at EOF), so tests can prove from the backend's own
 * record that no request is executed twice. */
static void exec_record(echo_conn *c) {
  if (g_app == NULL || g_app->exec_log < 0) return;
  char out[600];
  int n = snprintf(out, sizeof out, "%s\t%.*s\n", c->adopted ? "handoff" : "reconnect",
                   (int)c->line_len, c->line);
  if (n > 0) (void)!write(g_app->exec_log, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
  c->line_len = 0;
}

static void exec_bytes(echo_conn *c, const uint8_t *p, size_t n) {
  if (g_app == NULL || g_app->exec_log < 0) return;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      exec_record(c);
    } else if (c->line_len < sizeof c->line) {
      c->line[c->line_len++] = (char)p[i];
    }
  }
}

static uint64_t key(int kind, int fd) { return (uint64_t)kind << 32 | (uint32_t)fd; }

static int ep_add(app *a, int fd, int kind, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = key(kind, fd)};
  return epoll_ctl(a->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void ep_mod(app *a, int fd, int kind, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = key(kind, fd)};
  (void)epoll_ctl(a->ep, EPOLL_CTL_MOD, fd, &ev);
}

static int grow_ptrs(void ***arr, size_t *cap, size_t need, size_t elem) {
  if (need < *cap) return 0;
  size_t ncap = *cap ? *cap : 256;
  while (ncap <= need) ncap *= 2;
  void *n = realloc(*arr, ncap * elem);
  if (n == NULL) return -1;
  memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
  *arr = n;
  *cap = ncap;
  return 0;
}

static void fd_freed(app *a);

static void echo_close(app *a, echo_conn *c, const char *why) {
  if (c->line_len > 0) exec_record(c);
  a->n_echo--;
  logf_(LOG_INFO, "conn-closed", "fd=%d route=%s corr=%llu bytes=%llu why=%s", c->fd,
        c->adopted ? "handoff" : "reconnect", (unsigned long long)c->corr,
        (unsigned long long)c->bytes, why);
  a->echo[c->fd] = NULL;
  /* Deregister before closing: an adopted descriptor shares its open file
   * with the broker's copy until the broker closes it, and epoll keys its
   * registration on the open file, not the descriptor — closing alone
   * leaves a level-triggered EOF that fires for a descriptor we forgot
   * (a busy loop, and events for whatever next reuses the number). */
  (void)epoll_ctl(a->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->out);
  free(c);
  fd_freed(a);
}

/* The echo_conn the first write of a coalesced adoption began (same fd and
 * correlation id), taken out of the list; entries of another handoff on the
 * same descriptor number are stale (never adopted) and go. */
static echo_conn *early_take(app *a, int fd, uint64_t corr) {
  echo_conn *found = NULL;
  for (size_t i = 0; i < a->n_early;) {
    echo_conn *e = a->early[i];
    if (e->fd != fd) {
      i++;
      continue;
    }
    a->early[i] = a->early[--a->n_early];
    if (e->corr == corr && found == NULL) found = e;
    else free(e);
  }
  return found;
}

static void echo_add(app *a, int fd, int adopted, uint64_t corr) {
  echo_conn *c = adopted ? early_take(a, fd, corr) : NULL;
  if (c == NULL) c = calloc(1, sizeof *c);
  if (c == NULL || grow_ptrs((void ***)&a->echo, &a->echo_cap, (size_t)fd, sizeof *a->echo) != 0 ||
      ep_add(a, fd, K_ECHO, EPOLLIN | EPOLLRDHUP) != 0) {
    logf_(LOG_ERROR, "conn-dropped", "fd=%d errno=%d", fd, errno);
    free(c);
    close(fd);
    return;
  }
  /* spec: XFER-26 — the service sets the mode it needs itself: an adopted
   * descriptor arrives blocking (XFER-25), and every read and write of the
   * echo passes MSG_DONTWAIT, so the descriptor's own mode never matters
   * (two fcntl calls fewer per handoff). */
  c->fd = fd;
  c->events = EPOLLIN | EPOLLRDHUP;
  c->adopted = adopted;
  c->corr = corr;
  a->echo[fd] = c;
  a->n_echo++;
}

/* Write what is buffered; returns -1 when the connection is dead. */
static int echo_flush(echo_conn *c) {
  size_t off = 0;
  while (off < c->out_len) {
    ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  if (off > 0) {
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
  }
  return 0;
}

/* The echo service. It writes only bytes it has read, so in legacy mode it
 * never writes to an adopted connection before reading client bytes
 * (spec: READY-3). */
static void echo_io(app *a, echo_conn *c, uint32_t events) {
  if (events & EPOLLOUT) {
    if (echo_flush(c) != 0) return echo_close(a, c, "write-error");
  }
  if (c->out_len == 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
    uint8_t buf[65536];
    for (int i = 0; i < 16 && c->out_len == 0; i++) {
      ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) {
        c->eof = 1;
        break;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return echo_close(a, c, "read-error");
      }
      if (c->bytes == 0)
        logf_(LOG_DEBUG, "first-bytes", "fd=%d route=%s n=%zd", c->fd,
              c->adopted ? "handoff" : "reconnect", n);
      c->bytes += (uint64_t)n;
      exec_bytes(c, buf, (size_t)n);
      if (c->out_cap < (size_t)n) {
        uint8_t *o = realloc(c->out, (size_t)n);
        if (o == NULL) return echo_close(a, c, "nomem");
        c->out = o;
        c->out_cap = (size_t)n;
      }
      memcpy(c->out, buf, (size_t)n);
      c->out_len = (size_t)n;
      if (echo_flush(c) != 0) return echo_close(a, c, "write-error");
      if ((size_t)n < sizeof buf) break; /* drained: epoll says when more comes */
    }
  }
  if (c->eof && c->out_len == 0) return echo_close(a, c, "eof");
  if (!c->eof && (events & (EPOLLHUP | EPOLLERR)) && c->out_len == 0 && !(events & EPOLLIN))
    return echo_close(a, c, "hangup");
  /* Back-pressure: stop reading while output waits. */
  uint32_t want = c->out_len ? EPOLLOUT : (EPOLLIN | EPOLLRDHUP);
  if (want != c->events) { /* one epoll_ctl only when the interest changes */
    ep_mod(a, c->fd, K_ECHO, want);
    c->events = want;
  }
}

/* ---- control connections --------------------------------------------- */

static const char *act_name(int t) {
  switch (t) {
  case HO_BACKEND_ACT_WRITE_CONTROL: return "ack";
  case HO_BACKEND_ACT_WRITE_CLIENT: return "ready-write";
  case HO_BACKEND_ACT_ADOPT: return "adopt";
  case HO_BACKEND_ACT_CLOSE_FD: return "close-fd";
  case HO_BACKEND_ACT_CLOSE_CONTROL: return "control-close";
  case HO_BACKEND_ACT_OFFER: return "offer";
  case HO_BACKEND_ACT_CRASH: return "crash";
  }
  return "?";
}

static void on_event(void *user, const ho_backend_event *ev) {
  (void)user;
  const ho_backend_action *x = ev->action;
  unsigned long long corr = (unsigned long long)x->correlation_id;
  switch (x->type) {
  case HO_BACKEND_ACT_OFFER:
    logf_(x->err ? LOG_WARN : LOG_INFO, "offer", "ctl=%d corr=%llu result=%s", ev->ctl_fd, corr,
          ho_errname(x->err) ? ho_errname(x->err) : "?");
    break;
  case HO_BACKEND_ACT_WRITE_CONTROL:
    logf_(x->accepted ? LOG_INFO : LOG_WARN, "ack", "ctl=%d corr=%llu accepted=%s reason=%s delay_ms=%u",
          ev->ctl_fd, corr, x->accepted ? "true" : "false",
          x->accepted ? "-" : (ho_errname(x->err) ? ho_errname(x->err) : "?"), x->delay_ms);
    break;
  case HO_BACKEND_ACT_CRASH:
    logf_(LOG_WARN, "crash", "ctl=%d fault=crash-before-ack exit=3", ev->ctl_fd);
    fflush(stderr);
    _exit(3);
  case HO_BACKEND_ACT_CLOSE_CONTROL:
    logf_(x->err == HO_ERR_CLOSED ? LOG_INFO : LOG_WARN, "control-closed", "ctl=%d reason=%s",
          ev->ctl_fd, ho_errname(x->err) ? ho_errname(x->err) : "?");
    break;
  default:
    logf_(LOG_DEBUG, act_name(x->type), "ctl=%d corr=%llu fd=%ld", ev->ctl_fd, corr,
          (long)x->conn);
    break;
  }
}

static void ctl_forget(app *a, int fd) {
  if ((size_t)fd < a->ctl_cap && a->is_ctl[fd]) {
    a->is_ctl[fd] = 0;
    a->n_ctl--;
    fd_freed(a);
  }
}

/* spec: BACKEND-7 BACKEND-15 — near the descriptor limit offers are refused
 * (FD_EXHAUSTED: the client falls back at once) so the descriptors left
 * serve backend_pipe; at the limit the listeners wait, event-driven, for
 * the next descriptor to be freed instead of pausing for a fixed time. */
static void fd_budget(app *a) {
  long used = (long)(a->n_echo + a->n_ctl) + 16; /* listeners, epoll, std*, log... */
  bool low = a->fd_limit > 0 && used + 32 > a->fd_limit;
  if (low != a->fd_refusing) {
    a->fd_refusing = low;
    if (!a->draining)
      (void)ho_backend_core_set_refusing(ho_backend_get_core(a->b), low ? HO_ERR_FD_EXHAUSTED : HO_OK);
    logf_(LOG_WARN, low ? "fd-pressure" : "fd-pressure-over", "open=%ld limit=%ld", used,
          a->fd_limit);
  }
}

static void fd_freed(app *a) {
  fd_budget(a);
  if (a->paused && !a->draining) {
    ep_mod(a, (int)a->handoff.fd, K_HANDOFF_LISTENER, EPOLLIN);
    ep_mod(a, (int)a->pipe.fd, K_PIPE_LISTENER, EPOLLIN);
    a->paused = false;
  }
}

/* spec: READY-28 — coalesced mode: the request that travelled with the
 * descriptor is served before anything is written, and Negotiated, ready
 * and its echo leave in one write, so the client wakes once. Only bytes
 * already there are read (no wait); the blocking descriptor (XFER-25) makes
 * the write complete or fail. */
static int echo_first_write(void *ctx, ho_handle conn, uint64_t corr, const uint8_t *reply,
                            size_t len) {
  app *a = ctx;
  if (a->n_early == a->early_cap) {
    size_t ncap = a->early_cap ? a->early_cap * 2 : 16;
    echo_conn **n = realloc(a->early, ncap * sizeof *n);
    if (n == NULL) return HO_ERR_NOMEM;
    a->early = n;
    a->early_cap = ncap;
  }
  echo_conn *c = calloc(1, sizeof *c);
  if (c == NULL) return HO_ERR_NOMEM;
  uint8_t buf[16384];
  ssize_t n;
  do n = recv((int)conn, buf, sizeof buf, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  size_t got = n > 0 ? (size_t)n : 0;
  struct iovec iov[2] = {{(void *)reply, len}, {buf, got}};
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = got > 0 ? 2 : 1};
  ssize_t w;
  do w = sendmsg((int)conn, &mh, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w < 0 || (size_t)w != len + got) {
    int rc = w < 0 ? ho_err_from_errno(errno) : HO_ERR_PARTIAL_SEND;
    free(c);
    return rc;
  }
  c->fd = (int)conn;
  c->adopted = 1;
  c->corr = corr;
  c->bytes = got;
  exec_bytes(c, buf, got);
  a->early[a->n_early++] = c;
  return HO_OK;
}

static void ctl_mask(app *a, int fd, int mask, ho_backend_adopted *ad, size_t n) {
  /* Legacy adoptions: the broker's ready frame (the client's next step)
   * waits for our ACK, so it goes first. Backend-ready adoptions: the
   * client already has ready and its request is here, so serve it first
   * and ACK right after (spec: XFER-19 — microseconds later). */
  bool any_ready = false;
  for (size_t i = 0; i < n; i++) any_ready |= ad[i].ready_written;
  if ((mask & HO_BACKEND_ACK_PENDING) && !any_ready) {
    mask = ho_backend_flush_control(a->b, fd, ho_monotonic_ms()) | (mask & HO_BACKEND_MORE);
    if (mask & HO_BACKEND_CLOSED) ctl_forget(a, fd);
  }
  for (size_t i = 0; i < n; i++) {
    logf_(LOG_INFO, "adopted", "ctl=%d corr=%llu fd=%ld mode=%s", fd,
          (unsigned long long)ad[i].correlation_id, (long)ad[i].conn,
          ad[i].coalesced ? "coalesced" : ad[i].ready_written ? "backend-ready" : "legacy");
    int cfd = (int)ad[i].conn;
    echo_add(a, cfd, 1, ad[i].correlation_id);
    /* A request that travelled with the descriptor (backend-ready, early
     * data) is served now, without another trip through epoll_wait. Reading
     * first is always allowed; the echo writes only what it read (READY-3). */
    if ((size_t)cfd < a->echo_cap && a->echo[cfd] != NULL) echo_io(a, a->echo[cfd], EPOLLIN);
  }
  if ((mask & HO_BACKEND_ACK_PENDING) && any_ready)
    mask = ho_backend_flush_control(a->b, fd, ho_monotonic_ms()) | (mask & HO_BACKEND_MORE);
  if (mask & HO_BACKEND_CLOSED) ctl_forget(a, fd);
  else {
    uint8_t want = (mask & HO_BACKEND_WANT_WRITE) ? 2 : 1;
    if (a->is_ctl[fd] != want) { /* epoll_ctl only when the interest changes */
      ep_mod(a, fd, K_CONTROL, EPOLLIN | EPOLLRDHUP | (want == 2 ? EPOLLOUT : 0));
      a->is_ctl[fd] = want;
    }
  }
}

static void control_io(app *a, int fd, uint32_t events) {
  uint64_t now = ho_monotonic_ms();
  ho_backend_adopted ad[32];
  size_t n = 0;
  int mask;
  if (events & EPOLLOUT) {
    mask = ho_backend_on_control_writable(a->b, fd, now);
    if (mask < 0) return;
    if (mask & HO_BACKEND_CLOSED) return ctl_forget(a, fd);
  }
  do {
    mask = ho_backend_on_control_readable(a->b, fd, now, ad, 32, &n);
    if (mask < 0) return;
    ctl_mask(a, fd, mask, ad, n);
  } while ((mask & HO_BACKEND_MORE) && !(mask & HO_BACKEND_CLOSED));
}

static void accept_all(app *a, ho_listener *l, int kind) {
  for (;;) {
    ho_handle h;
    int rc = ho_listener_accept(l, &h);
    if (rc == HO_ERR_WOULD_BLOCK) return;
    if (rc != HO_OK) {
      logf_(LOG_WARN, "accept-failed", "listener=%s reason=%s", l->path, ho_errname(rc));
      if (rc == HO_ERR_FD_EXHAUSTED) {
        /* spec: BACKEND-15 — out of descriptors: the clients wait in the
         * backlog until a descriptor is freed (fd_freed re-arms), instead
         * of a listener that spins or a fixed pause. */
        ep_mod(a, (int)a->handoff.fd, K_HANDOFF_LISTENER, 0);
        ep_mod(a, (int)a->pipe.fd, K_PIPE_LISTENER, 0);
        a->paused = true;
        fd_budget(a);
      }
      return;
    }
    int fd = (int)h;
    if (kind == K_PIPE_LISTENER) {
      a->reconnected++;
      logf_(LOG_INFO, "reconnect", "fd=%d", fd);
      echo_add(a, fd, 0, 0);
      fd_budget(a);
      continue;
    }
    if (a->n_ctl >= a->max_ctl) { /* spec: BACKEND-15 SEC-7 — before reading anything */
      logf_(LOG_WARN, "control-rejected", "fd=%d reason=too-many-control-connections max=%zu", fd,
            a->max_ctl);
      close(fd);
      continue;
    }
    /* spec: SEC-4 — only brokers of our own user may hand us connections;
     * ho_backend_add_control() checks before any byte is read. */
    ho_peer_cred pc = {0};
    (void)ho_peer_cred_get(h, &pc);
    if (grow_ptrs((void ***)&a->is_ctl, &a->ctl_cap, (size_t)fd, 1) != 0) rc = HO_ERR_NOMEM;
    else rc = ho_backend_add_control(a->b, h);
    if (rc != HO_OK) {
      logf_(LOG_WARN, "control-rejected", "fd=%d pid=%ld uid=%ld reason=%s", fd, (long)pc.pid,
            (long)pc.uid, ho_errname(rc) ? ho_errname(rc) : "?");
      close(fd);
      continue;
    }
    if (ep_add(a, fd, K_CONTROL, EPOLLIN | EPOLLRDHUP) != 0) {
      logf_(LOG_ERROR, "control-dropped", "fd=%d errno=%d", fd, errno);
      continue; /* stays owned by the shell, closed at shutdown */
    }
    a->is_ctl[fd] = 1;
    a->n_ctl++;
    fd_budget(a);
    logf_(LOG_INFO, "control-accepted", "fd=%d pid=%ld uid=%ld", fd, (long)pc.pid, (long)pc.uid);
  }
}

/* spec: BACKEND-14 — stop taking handoffs without losing any: what waits in
 * the listen queues is accepted and served, the listeners close (with
 * --takeover a successor already owns the paths: they stay), every new
 * offer is refused with DRAINING until the brokers close their control
 * connections, and the adopted and backend_pipe connections are served to
 * their end (bounded by --drain-timeout-ms). */
static void start_drain(app *a) {
  a->draining = true;
  a->drain_deadline = ho_monotonic_ms() + a->drain_timeout_ms;
  (void)ho_backend_core_set_refusing(ho_backend_get_core(a->b), HO_ERR_DRAINING);
  accept_all(a, &a->pipe, K_PIPE_LISTENER);
  accept_all(a, &a->handoff, K_HANDOFF_LISTENER);
  (void)epoll_ctl(a->ep, EPOLL_CTL_DEL, (int)a->handoff.fd, NULL);
  (void)epoll_ctl(a->ep, EPOLL_CTL_DEL, (int)a->pipe.fd, NULL);
  ho_listener_close(&a->handoff);
  ho_listener_close(&a->pipe);
  logf_(LOG_INFO, "draining", "controls=%zu connections=%zu timeout_ms=%u", a->n_ctl, a->n_echo,
        a->drain_timeout_ms);
}

/* The counters, in the broker's format and stream (cli.h). */
static void print_counters(app *a, const char *when) {
  ho_backend_counters c;
  ho_backend_core_counters(ho_backend_get_core(a->b), &c);
  char text[2048];
  size_t off = (size_t)snprintf(text, sizeof text, "offers %llu\naccepted %llu\nrefused %llu\n",
                                (unsigned long long)c.offers, (unsigned long long)c.accepted,
                                (unsigned long long)c.refused);
  for (int i = 0; i < HO_REFUSAL_COUNT_ && off < sizeof text; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "refused{reason=%s} %llu\n",
                            ho_backend_refusal_name((ho_backend_refusal)i),
                            (unsigned long long)c.refused_by[i]);
  if (off < sizeof text)
    snprintf(text + off, sizeof text - off, "malformed %llu\nadopted %llu\nreconnected %llu\n",
             (unsigned long long)c.malformed, (unsigned long long)c.adopted,
             (unsigned long long)a->reconnected);
  cli_counters("handoff-backend", when, text);
}

int main(int argc, char **argv) {
  backend_flags fl;
  int st = backend_flags_parse(&fl, argc, argv); /* flags and --help: backend_flags.c */
  if (st >= 0) return st;
  const char *endpoint = fl.endpoint, *pipe_path = fl.pipe, *service = fl.service;
  const char *exec_log = fl.exec_log;
  bool takeover = fl.takeover;
  size_t max_ctl = fl.max_ctl;
  uint32_t drain_ms = fl.drain_ms;
  ho_backend_config cfg = fl.cfg;
  g_log_level = fl.log_level;
  cfg.service_name = service;
  cfg.defer_ack_flush = true; /* see ctl_mask() */


  app a;
  memset(&a, 0, sizeof a);
  a.mode = cfg.ready_mode;
  a.fault = cfg.fault;
  a.handoff.fd = a.pipe.fd = HO_NO_HANDLE;
  a.exec_log = -1;
  g_app = &a;
  if (exec_log != NULL) {
    a.exec_log = open(exec_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a.exec_log < 0) {
      fprintf(stderr, "handoff-backend: cannot open --exec-log %s: %s\n", exec_log,
              strerror(errno));
      return 1;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t ss;
  sigemptyset(&ss);
  sigaddset(&ss, SIGTERM);
  sigaddset(&ss, SIGINT);
  sigaddset(&ss, SIGUSR1);
  sigaddset(&ss, SIGUSR2);
  sigprocmask(SIG_BLOCK, &ss, NULL);
  a.sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
  a.ep = epoll_create1(EPOLL_CLOEXEC);
  cfg.first_write = echo_first_write; /* spec: READY-28 */
  cfg.first_write_ctx = &a;
  int rc = ho_backend_new(&cfg, on_event, &a, &a.b);
  if (a.sfd < 0 || a.ep < 0 || rc != HO_OK) {
    fprintf(stderr, "handoff-backend: setup failed: %s\n", rc ? ho_strerror(rc) : strerror(errno));
    return 1;
  }
  ho_diag d;
  unsigned lflags = takeover ? HO_LISTEN_TAKEOVER : 0;
  if ((rc = ho_listener_open_diag(&a.handoff, endpoint, 0, lflags, &d)) != HO_OK ||
      (rc = ho_listener_open_diag(&a.pipe, pipe_path, 0, lflags, &d)) != HO_OK) {
    fprintf(stderr, "handoff-backend: cannot listen: %s (%s)\n", d.msg, ho_errname(rc));
    logf_(LOG_ERROR, "listen-failed", "reason=%s", ho_errname(rc));
    ho_listener_close(&a.handoff);
    ho_backend_del(a.b);
    return 1;
  }
  struct rlimit rl;
  a.fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 0;
  a.max_ctl = max_ctl;
  a.drain_timeout_ms = drain_ms;
  ep_add(&a, (int)a.handoff.fd, K_HANDOFF_LISTENER, EPOLLIN);
  ep_add(&a, (int)a.pipe.fd, K_PIPE_LISTENER, EPOLLIN);
  ep_add(&a, a.sfd, K_SIGNAL, EPOLLIN);
  logf_(LOG_INFO, "listening", "handoff_endpoint=%s backend_pipe=%s ready_mode=%s fault=%s",
        endpoint, pipe_path, cfg.ready_mode == HO_READY_BACKEND ? "backend" : "legacy",
        cfg.fault == HO_FAULT_NONE ? "none" : "set");

  int running = 1;
  while (running) {
    struct epoll_event evs[64];
    uint64_t now0 = ho_monotonic_ms();
    int timeout = ho_backend_next_timeout_ms(a.b, now0);
    if (a.draining) {
      /* spec: BACKEND-14 — done when the brokers closed their control
       * connections and the clients theirs, or at the drain deadline. */
      if ((a.n_ctl == 0 && a.n_echo == 0) || now0 >= a.drain_deadline) {
        logf_(LOG_INFO, "drained", "controls=%zu connections=%zu%s", a.n_ctl, a.n_echo,
              now0 >= a.drain_deadline ? " (deadline)" : "");
        break;
      }
      int left = (int)(a.drain_deadline - now0);
      if (timeout < 0 || left < timeout) timeout = left;
    }
    int n = epoll_wait(a.ep, evs, 64, timeout);
    if (n < 0 && errno != EINTR) {
      logf_(LOG_ERROR, "epoll-failed", "errno=%d", errno);
      break;
    }
    for (int i = 0; i < n && running; i++) {
      int kind = (int)(evs[i].data.u64 >> 32);
      int fd = (int)(uint32_t)evs[i].data.u64;
      switch (kind) {
      case K_HANDOFF_LISTENER: accept_all(&a, &a.handoff, kind); break;
      case K_PIPE_LISTENER: accept_all(&a, &a.pipe, kind); break;
      case K_CONTROL:
        if ((size_t)fd < a.ctl_cap && a.is_ctl[fd]) control_io(&a, fd, evs[i].events);
        break;
      case K_ECHO:
        if ((size_t)fd < a.echo_cap && a.echo[fd] != NULL) echo_io(&a, a.echo[fd], evs[i].events);
        break;
      case K_SIGNAL: {
        struct signalfd_siginfo si;
        while (read(a.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
          if (si.ssi_signo == SIGUSR1) {
            print_counters(&a, "SIGUSR1");
          } else if (si.ssi_signo == SIGUSR2 && !a.draining) {
            start_drain(&a);
          } else {
            logf_(LOG_INFO, "shutdown", "signal=%u", si.ssi_signo);
            running = 0;
          }
        }
        break;
      }
      }
    }
    if (ho_backend_next_timeout_ms(a.b, ho_monotonic_ms()) == 0) {
      ho_backend_on_timer(a.b, ho_monotonic_ms());
      ho_handle cfd;
      while (ho_backend_closed_fd(a.b, &cfd)) ctl_forget(&a, (int)cfd);
    }
  }
  /* Clean shutdown: sockets unlinked, every descriptor closed. */
  print_counters(&a, "exit");
  ho_listener_close(&a.handoff);
  ho_listener_close(&a.pipe);
  for (size_t i = 0; i < a.echo_cap; i++)
    if (a.echo[i] != NULL) echo_close(&a, a.echo[i], "shutdown");
  ho_backend_del(a.b);
  free(a.echo);
  free(a.is_ctl);
  close(a.sfd);
  close(a.ep);
  logf_(LOG_INFO, "stopped", NULL);
  return 0;
}
