/* handoff-broker — the epoll shell around the sans-I/O broker core
 * (handoff/broker.h): one thread, one epoll set, non-blocking sockets, ONE
 * timerfd armed at the core's next deadline, a signalfd for
 * SIGTERM/SIGINT/SIGUSR1. No sleep, no polling loop, no thread per
 * connection. Every connection has an output queue; a queued descriptor
 * (SCM_RIGHTS) is a dup owned by the queue. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "handoff-broker.h"
#include "handoff/token.h"

broker_app G;

const char *const level_names[4] = {"error", "warn", "info", "debug"};

/* The core's clock: monotonic milliseconds (handoff/broker.h). */
uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The same clock in microseconds, for the latency measurements only. */
uint64_t mono_us(void *u) {
  (void)u;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t unix_ms(void *u) {
  (void)u;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Token randomness: bytes read from the OS CSPRNG (getrandom, through
 * ho_random_os) 1 KiB at a time, so that a Hello does not pay a system call
 * for its 16 bytes; every byte handed out is wiped from the pool, and a
 * failing OS source fails the issue (no weaker fallback; spec: TOKEN-1). */
static struct {
  uint8_t buf[1024];
  size_t left;
} RP;

int pooled_random(void *ctx, uint8_t *out, size_t len) {
  (void)ctx;
  while (len > 0) {
    if (RP.left == 0) {
      if (ho_random_os(NULL, RP.buf, sizeof RP.buf) != HO_OK) return HO_ERR_RANDOM;
      RP.left = sizeof RP.buf;
    }
    size_t take = len < RP.left ? len : RP.left;
    uint8_t *src = RP.buf + sizeof RP.buf - RP.left;
    memcpy(out, src, take);
    explicit_bzero(src, take);
    RP.left -= take;
    out += take;
    len -= take;
  }
  return 0;
}

void pooled_random_wipe(void) { explicit_bzero(&RP, sizeof RP); }

void log_line(void *u, int level, const char *line) {
  (void)u;
  /* Same prefix as handoff-backend, so that merged logs sort by time. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  static long pid;
  if (pid == 0) pid = (long)getpid();
  char when[CLI_LOG_TIME_LEN];
  cli_log_time(when, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
  fprintf(stderr, "%s handoff-broker[%ld] level=%s %s\n", when, pid, level_names[level & 3], line);
}

void slog(int level, const char *fmt, ...) {
  if (level > G.cfg.log_level) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  log_line(NULL, level, line);
}

/* Level-triggered registration (listener, timer, signals, control
 * connections): c->ev is the registered mask, 0 = not in the set. */
void set_interest(conn *c, uint32_t ev) {
  if (c->fd < 0 || c->closed || ev == c->ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  int op = c->ev == 0 ? EPOLL_CTL_ADD : ev == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  if (epoll_ctl(G.ep, op, c->fd, &e) == 0) c->ev = ev;
}

/* Clients are registered EPOLLONESHOT, and only once they must wait (the
 * Hello is usually read right after accept): an event disarms them, so
 * nothing is spent on the critical path to stop watching a connection
 * whose receive queue now belongs to whoever adopts it (spec: FRAME-6).
 * c->ev is the armed mask (0: disarmed or never registered). */
static void arm_client(conn *c, uint32_t ev) {
  if (c->fd < 0 || c->closed || ev == c->ev) return;
  struct epoll_event e = {.events = ev ? ev | EPOLLONESHOT : 0, .data.ptr = c};
  if (epoll_ctl(G.ep, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) == 0) {
    c->registered = true;
    c->ev = ev;
  }
}

static void update_interest(conn *c) {
  if (c->closed || c->fd < 0) return;
  uint32_t ev = c->qhead ? EPOLLOUT : 0;
  if (c->kind == K_CLIENT) {
    if (!c->errored && ho_broker_client_wants(G.b, c->h) > 0) ev |= EPOLLIN;
    arm_client(c, ev);
    return;
  }
  /* spec: READY-33 — a control connection whose offers in flight are all
   * coalesced and released is not read on arrival: its ACKs wait for the
   * next turn of the loop (read_late_acks), so that the broker does not wake
   * up for them. EPOLLRDHUP still reports a backend that went away. */
  if (!c->errored && (c->h == NULL || ho_broker_control_wants_read(G.b, c->h))) ev |= EPOLLIN;
  if (!c->errored) ev |= EPOLLRDHUP;
  set_interest(c, ev);
}

/* Remove `c` from the epoll set, whatever the way it was registered. */
static void unwatch(conn *c) {
  if (c->fd < 0) return;
  if (c->kind == K_CLIENT) {
    if (c->registered) epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
    c->registered = false;
    c->ev = 0;
    return;
  }
  set_interest(c, 0);
}

static void chunk_free(chunk *k) {
  if (k->pass_fd >= 0) {
    close(k->pass_fd);
    G.open_fds--;
  }
  free(k->data);
  free(k);
}


static void report_error(conn *c, int err) {
  if (c->errored || c->closed) return;
  c->errored = true;
  unwatch(c);
  ho_broker_conn_error(G.b, c->h, err, now_ms());
}

/* Write as much of c's queue as the socket takes. Reports flushed/error to
 * the core (which may emit more actions: the caller runs them). */
static void flush(conn *c) {
  bool wrote = false;
  while (c->qhead && !c->closed && !c->errored) {
    chunk *k = c->qhead;
    if (k->pass_fd >= 0) {
      int rc = ho_xfer_send(c->fd, k->pass_fd, k->data, NULL); /* spec: XFER-3 XFER-6 ERR-61 */
      if (rc == HO_ERR_WOULD_BLOCK) break; /* retried when writable */
      if (rc == HO_ERR_PERMISSION || rc == HO_ERR_FD_EXHAUSTED || rc == HO_ERR_INVALID_ARGUMENT) {
        /* Nothing was sent: drop this attempt's sideband and offer only. */
        uint64_t corr = k->corr;
        c->qhead = k->next;
        chunk_free(k);
        if (c->qhead && c->qhead->corr == corr && c->qhead->pass_fd < 0) {
          chunk *o = c->qhead;
          c->qhead = o->next;
          chunk_free(o);
        }
        if (c->qhead == NULL) c->qtail = NULL;
        slog(HO_BROKER_LOG_WARN, "descriptor transfer for corr=%llu failed: %s",
             (unsigned long long)corr, ho_errname(rc));
        ho_broker_transfer_failed(G.b, c->h, corr, rc, now_ms());
        wrote = true;
        continue;
      }
      if (rc != HO_OK) {
        slog(HO_BROKER_LOG_WARN, "descriptor transfer failed: %s", ho_errname(rc));
        report_error(c, rc);
        return;
      }
      k->off = k->len;
    } else {
      ssize_t n = send(c->fd, k->data + k->off, k->len - k->off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        report_error(c, ho_err_from_errno(errno));
        return;
      }
      k->off += (size_t)n;
      if (k->off < k->len) break;
    }
    wrote = true;
    c->qhead = k->next;
    if (c->qhead == NULL) c->qtail = NULL;
    /* spec: READY-27 — an offer frame written to its last byte: the core
     * closes a coalesced attempt's client copy now. */
    uint64_t written = k->pass_fd < 0 && c->kind == K_CONTROL ? k->corr : 0;
    chunk_free(k);
    if (written != 0) ho_broker_offer_written(G.b, c->h, written, now_ms());
  }
  if (c->closed) return;
  update_interest(c);
  if (wrote && c->qhead == NULL && !c->errored) ho_broker_conn_flushed(G.b, c->h, now_ms());
}

static void enqueue(conn *c, const uint8_t *bytes, size_t len, int pass_fd, uint64_t corr) {
  chunk *k = calloc(1, sizeof *k);
  if (k) k->data = malloc(len ? len : 1);
  if (k == NULL || k->data == NULL) {
    if (k) free(k);
    if (pass_fd >= 0) close(pass_fd);
    report_error(c, HO_ERR_NOMEM);
    return;
  }
  memcpy(k->data, bytes, len);
  k->len = len;
  k->pass_fd = pass_fd;
  k->corr = corr;
  if (pass_fd >= 0) G.open_fds++;
  if (c->qtail) c->qtail->next = k; else c->qhead = k;
  c->qtail = k;
  flush(c);
}

static void pressure_update(void) {
  /* spec: FALLBACK-13 — fewer than 64 descriptors of headroom. */
  ho_broker_set_fd_pressure(G.b, G.open_fds + 16 + 64 > G.max_fds);
}

static void close_conn(conn *c, bool shut) {
  if (c->closed) return;
  if (c->kind == K_CONTROL && c != &G.nomem) { /* off the list of control connections */
    if (c->cprev) c->cprev->cnext = c->cnext; else if (G.ctls == c) G.ctls = c->cnext;
    if (c->cnext) c->cnext->cprev = c->cprev;
    c->cnext = c->cprev = NULL;
  }
  unwatch(c); /* before close: the file may live on in the backend */
  if (c->fd >= 0) {
    if (shut) shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    G.open_fds--;
    c->fd = -1;
  }
  while (c->qhead) {
    chunk *k = c->qhead;
    c->qhead = k->next;
    chunk_free(k);
  }
  c->qtail = NULL;
  c->closed = true;
  c->h = NULL;
  if (c == &G.nomem) return;
  c->next_free = G.graveyard;
  G.graveyard = c;
}

static void open_control(ho_broker_conn *h) {
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    /* The core still expects its CLOSE: report the failure through a
     * static stand-in that is never freed. */
    memset(&G.nomem, 0, sizeof G.nomem);
    G.nomem.kind = K_CONTROL;
    G.nomem.fd = -1;
    G.nomem.h = h;
    ho_broker_conn_set_user(h, &G.nomem);
    report_error(&G.nomem, HO_ERR_NOMEM);
    return;
  }
  c->kind = K_CONTROL;
  c->fd = -1;
  c->h = h;
  c->cnext = G.ctls;
  if (G.ctls) G.ctls->cprev = c;
  G.ctls = c;
  ho_broker_conn_set_user(h, c);
  ho_handle fd;
  ho_diag d;
  int rc = ho_unix_connect_diag(G.endpoint, 1, &fd, &d);
  if (rc != HO_OK) {
    slog(HO_BROKER_LOG_WARN, "cannot reach the handoff endpoint: %s (%s)", d.msg, ho_errname(rc));
    report_error(c, rc);
    return;
  }
  c->fd = (int)fd;
  G.open_fds++;
  /* spec: SEC-10 — the backend must pass the BACKEND policy (its own
   * setting, default: our uid), not the client policy, before it gets a
   * descriptor or a token. */
  ho_peer_cred pc = {0};
  rc = ho_peer_check(fd, G.backend_policy, G.backend_uid, &pc);
  if (rc != HO_OK) {
    slog(HO_BROKER_LOG_WARN,
         "handoff endpoint %s is served by pid %ld uid %ld, which the backend policy (--backend-uid) "
         "rejects: %s; no handoff",
         G.endpoint, (long)pc.pid, (long)pc.uid, ho_errname(rc));
    report_error(c, HO_ERR_PERMISSION);
    return;
  }
  update_interest(c);
  ho_broker_control_connected(G.b, h, now_ms());
}

void run_actions(void) {
  ho_broker_action a;
  uint64_t dropped = 0; /* offer of a SEND_FD that failed right away */
  while (ho_broker_next_action(G.b, &a)) {
    conn *c = a.user;
    switch (a.type) {
    case HO_BACT_WRITE:
      if (a.correlation_id != 0 && a.correlation_id == dropped) break; /* spec: XFER-4 */
      if (c && !c->closed && !c->errored) enqueue(c, a.bytes, a.len, -1, a.correlation_id);
      break;
    case HO_BACT_SEND_FD: {
      conn *cl = a.peer_user;
      if (c == NULL || c->closed || c->errored || cl == NULL || cl->fd < 0) break;
      /* spec: XFER-25 — the descriptor is blocking already (accepted so). */
      if (c->qhead == NULL) {
        /* Nothing queued ahead: send now, no dup needed. spec: XFER-3 — the
         * sendmsg holds exactly the 16 sideband bytes; the offer follows in
         * its own write (a peer may read the sideband with a larger buffer). */
        int rc = ho_xfer_send(c->fd, cl->fd, a.bytes, NULL);
        if (rc == HO_OK) break;
        if (rc == HO_ERR_PERMISSION || rc == HO_ERR_FD_EXHAUSTED ||
            rc == HO_ERR_INVALID_ARGUMENT) {
          dropped = a.correlation_id;
          ho_broker_transfer_failed(G.b, c->h, a.correlation_id, rc, now_ms());
          break;
        }
        if (rc != HO_ERR_WOULD_BLOCK) {
          report_error(c, rc);
          break;
        }
      }
      int dupfd = fcntl(cl->fd, F_DUPFD_CLOEXEC, 0);
      if (dupfd < 0) {
        /* spec: FALLBACK-18 — EMFILE fails this attempt only. */
        dropped = a.correlation_id;
        ho_broker_transfer_failed(G.b, c->h, a.correlation_id, ho_err_from_errno(errno), now_ms());
        break;
      }
      enqueue(c, a.bytes, a.len, dupfd, a.correlation_id);
      break;
    }
    case HO_BACT_OPEN_CONTROL:
      open_control(a.conn);
      break;
    case HO_BACT_CLOSE:
      if (c) close_conn(c, a.shutdown);
      pressure_update();
      break;
    case HO_BACT_SET_TIMER: {
      struct itimerspec its;
      memset(&its, 0, sizeof its);
      its.it_value.tv_sec = (time_t)(a.deadline_ms / 1000u);
      its.it_value.tv_nsec = (long)(a.deadline_ms % 1000u) * 1000000L;
      timerfd_settime(G.tfd, TFD_TIMER_ABSTIME, &its, NULL);
      break;
    }
    default:
      break;
    }
  }
}

/* ---- events ------------------------------------------------------------------- */

static void client_read(conn *c) {
  static uint8_t buf[HO_MAX_HELLO_BYTES];
  for (;;) {
    if (c->closed || c->errored) return;
    size_t want = ho_broker_client_wants(G.b, c->h); /* spec: FRAME-6 */
    if (want == 0) break;
    ssize_t n = recv(c->fd, buf, want, MSG_DONTWAIT);
    if (n > 0) {
      ho_broker_client_data(G.b, c->h, buf, (size_t)n, now_ms());
      run_actions();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    report_error(c, n == 0 ? HO_ERR_CLOSED : ho_err_from_errno(errno));
    run_actions();
    return;
  }
  update_interest(c);
}

static void accept_clients(void) {
  /* spec: BROKER-10 — at most a quarter of the pre-Hello slots per round:
   * the Hellos of clients accepted in this round are read (epoll) before a
   * flood of new connections could shed them as the oldest. */
  uint32_t cap = G.cfg.max_hello_waiting ? G.cfg.max_hello_waiting : 4096u;
  int batch = cap / 4 < 1 ? 1 : cap / 4 > 64 ? 64 : (int)(cap / 4);
  for (int i = 0; i < batch; i++) {
    ho_handle fd;
    /* spec: XFER-25 — clients are accepted blocking (every read and write
     * of ours passes MSG_DONTWAIT), so a descriptor leaves as it must. */
    int rc = ho_listener_accept_mode(&G.lst, false, &fd);
    if (rc == HO_ERR_WOULD_BLOCK) return;
    if (rc == HO_ERR_FD_EXHAUSTED) {
      /* spec: BROKER-12 HELLO-13 — no descriptor for this client: the one
       * held in reserve takes it, it gets Refused{ERROR_FD_PRESSURE} (an
       * answer it can act on: retry later), and the reserve is re-taken.
       * The Hello is not read: the client reads the reply as its one frame. */
      ho_broker_set_fd_pressure(G.b, true);
      if (G.spare_fd >= 0) {
        close(G.spare_fd);
        G.spare_fd = -1;
        if (ho_listener_accept(&G.lst, &fd) == HO_OK) {
          (void)!send((int)fd, G.fd_pressure_reply, G.fd_pressure_len, MSG_DONTWAIT | MSG_NOSIGNAL);
          close((int)fd);
          G.fd_pressure_refusals++;
        }
        G.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
      slog(HO_BROKER_LOG_WARN,
           "descriptor limit reached (EMFILE): a client got Refused{ERROR_FD_PRESSURE} (%llu so far)",
           (unsigned long long)G.fd_pressure_refusals);
      return;
    }
    if (rc != HO_OK) return;
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
      close((int)fd);
      continue;
    }
    c->kind = K_CLIENT;
    c->fd = (int)fd;
    G.open_fds++;
    pressure_update();
    ho_peer_cred cred;
    bool have = ho_peer_cred_get(fd, &cred) == HO_OK; /* SO_PEERCRED */
    if (ho_broker_client_open(G.b, c, have ? &cred : NULL, now_ms(), &c->h) != HO_OK) {
      close(c->fd);
      G.open_fds--;
      free(c);
      continue;
    }
    run_actions();
    /* The Hello is often already queued: read it without waiting for epoll. */
    if (!c->closed) client_read(c);
  }
}

static void control_read(conn *c) {
  static uint8_t buf[65536];
  for (;;) {
    if (c->closed || c->errored) return;
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      ho_broker_control_data(G.b, c->h, buf, (size_t)n, now_ms());
      run_actions();
      if (!c->closed) update_interest(c);
      if ((size_t)n < sizeof buf) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    report_error(c, n == 0 ? HO_ERR_CLOSED : ho_err_from_errno(errno));
    run_actions();
    return;
  }
}

/* spec: READY-33 READY-34 — ACKs of control connections not watched for
 * reading, read once per turn of the loop (the broker is awake anyway, for a
 * Hello or its timer); every ACK is still checked and counted, and a closed
 * connection is noticed here at the latest. Then every control connection's
 * interest follows what the core now needs. */
void read_late_acks(void) {
  for (conn *c = G.ctls, *n; c; c = n) {
    n = c->cnext;
    if (!c->closed && !c->errored && c->fd >= 0 && !(c->ev & EPOLLIN) && !(c->ev & EPOLLOUT))
      control_read(c);
  }
  for (conn *c = G.ctls; c; c = c->cnext)
    if (!c->closed && c->fd >= 0 && !(c->ev & EPOLLOUT)) update_interest(c);
}

void print_stats(const char *when) {
  ho_broker_stats st;
  ho_broker_get_stats(G.b, &st);
  char text[4096];
  ho_broker_format_stats(&st, text, sizeof text);
  cli_counters("handoff-broker", when, text); /* the format of handoff-backend's too */
}

static void on_signal(void) {
  struct signalfd_siginfo si;
  while (read(G.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGUSR1) print_stats("SIGUSR1");
    else G.stop = true;
  }
}

void dispatch(conn *c, uint32_t ev) {
  switch (c->kind) {
  case K_LISTEN:
    accept_clients();
    break;
  case K_TIMER: {
    uint64_t ticks;
    if (read(G.tfd, &ticks, sizeof ticks) < 0) { /* spurious */ }
    ho_broker_timer(G.b, now_ms());
    run_actions();
    break;
  }
  case K_SIGNAL:
    on_signal();
    break;
  case K_CLIENT:
    c->ev = 0; /* EPOLLONESHOT: disarmed by this event */
    if (ev & EPOLLOUT) {
      flush(c);
      run_actions();
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (!c->closed && ho_broker_client_wants(G.b, c->h) > 0) client_read(c);
      else if (ev & (EPOLLHUP | EPOLLERR)) report_error(c, HO_ERR_CLOSED);
      run_actions();
    }
    break;
  case K_CONTROL:
    if (ev & EPOLLOUT) {
      flush(c);
      run_actions();
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      control_read(c); /* ACKs may come before the EOF */
      if ((ev & (EPOLLHUP | EPOLLERR)) && !c->closed) report_error(c, HO_ERR_CLOSED);
      run_actions();
    }
    break;
  }
}
