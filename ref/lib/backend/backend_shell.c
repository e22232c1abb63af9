/* handoff — I/O shell around the backend core for embedding programs:
 * reads control connections with the Unix transport, executes the core's
 * actions (ready writes, ACK writes, closes) and hands adopted client
 * connections back to the caller. Non-blocking throughout; the caller owns
 * the poller (epoll, poll, ...). ACK frames are queued whole and written in
 * order (spec: BACKEND-6); a control connection that ends has every
 * descriptor it brought and that was not adopted closed (spec: XFER-20). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handoff/backend.h"
#include "net/xfer_internal.h"

typedef struct ctl_ent {
  int fd;
  uint64_t gen;
  struct ctl_ent *next, *prev; /* every control connection */
  ho_backend_ctl *ctl;
  uint8_t *out;
  size_t out_len, out_cap;
} ctl_ent;

typedef struct delayed_ack {
  int fd;
  uint64_t gen;
  uint64_t due_ms;
  size_t len;
  uint8_t bytes[HO_BACKEND_ACT_MAX_BYTES];
} delayed_ack;

struct ho_backend {
  ho_backend_core *core;
  ho_peer_policy peer_policy;
  uid_t peer_uid;
  bool defer_ack_flush;
  int (*first_write)(void *, ho_handle, uint64_t, const uint8_t *, size_t);
  void *first_write_ctx;
  ho_backend_event_fn on_event;
  void *user;
  ctl_ent **by_fd;
  size_t by_fd_cap;
  ctl_ent *all; /* list of the control connections */
  uint64_t next_gen;
  delayed_ack *dl;
  size_t ndl, dl_cap;
  int *closed;
  size_t nclosed, closed_cap;
  ho_backend_adopted *pend; /* adopted, not yet handed back */
  size_t npend, pend_cap;
};

/* The injected services of the core (spec: BACKEND-10 TOKEN-21): the OS
 * defaults live here, in the shell. */
static void os_close(void *ctx, ho_handle h) {
  (void)ctx;
  if (h >= 0) close((int)h);
}

static uint64_t os_wall_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ho_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ho_backend_new(const ho_backend_config *cfg, ho_backend_event_fn on_event, void *user,
                   ho_backend **out) {
  if (out == NULL) return HO_ERR_INVALID_ARGUMENT;
  ho_backend_config c;
  if (cfg != NULL) c = *cfg;
  else ho_backend_config_init(&c);
  if (c.close_handle == NULL) c.close_handle = os_close;
  if (c.wall_clock_ms == NULL) c.wall_clock_ms = os_wall_ms;
  ho_backend *b = calloc(1, sizeof *b);
  if (b == NULL) return HO_ERR_NOMEM;
  int rc = ho_backend_core_new(&c, &b->core);
  if (rc != HO_OK) {
    free(b);
    return rc;
  }
  b->on_event = on_event;
  b->user = user;
  if (cfg != NULL) {
    b->peer_policy = cfg->peer_policy;
    b->peer_uid = cfg->peer_uid;
    b->defer_ack_flush = cfg->defer_ack_flush;
    b->first_write = cfg->first_write;
    b->first_write_ctx = cfg->first_write_ctx;
  } else {
    b->peer_policy = HO_PEER_SAME_UID;
  }
  *out = b;
  return HO_OK;
}

ho_backend_core *ho_backend_get_core(ho_backend *b) { return b ? b->core : NULL; }

static ctl_ent *lookup(const ho_backend *b, ho_handle fd) {
  if (b == NULL || fd < 0 || (size_t)fd >= b->by_fd_cap) return NULL;
  return b->by_fd[fd];
}

int ho_backend_add_control(ho_backend *b, ho_handle ctl_fd) {
  if (b == NULL || ctl_fd < 0 || lookup(b, ctl_fd) != NULL) return HO_ERR_INVALID_ARGUMENT;
  /* spec: SEC-4 — before any byte of the control connection is read. */
  int prc = ho_peer_check(ctl_fd, b->peer_policy, b->peer_uid, NULL);
  if (prc != HO_OK) return prc;
  if ((size_t)ctl_fd >= b->by_fd_cap) {
    size_t ncap = b->by_fd_cap ? b->by_fd_cap : 64;
    while (ncap <= (size_t)ctl_fd) ncap *= 2;
    ctl_ent **n = realloc(b->by_fd, ncap * sizeof *n);
    if (n == NULL) return HO_ERR_NOMEM;
    memset(n + b->by_fd_cap, 0, (ncap - b->by_fd_cap) * sizeof *n);
    b->by_fd = n;
    b->by_fd_cap = ncap;
  }
  ctl_ent *e = calloc(1, sizeof *e);
  if (e == NULL) return HO_ERR_NOMEM;
  if (ho_backend_ctl_new(b->core, &e->ctl) != HO_OK) {
    free(e);
    return HO_ERR_NOMEM;
  }
  int fl = fcntl((int)ctl_fd, F_GETFL);
  if (fl >= 0) (void)fcntl((int)ctl_fd, F_SETFL, fl | O_NONBLOCK);
  e->fd = (int)ctl_fd;
  e->gen = ++b->next_gen;
  b->by_fd[ctl_fd] = e;
  e->next = b->all;
  if (b->all) b->all->prev = e;
  b->all = e;
  return HO_OK;
}

/* Close and forget one control connection (its core state first). */
static void drop_ctl(ho_backend *b, ctl_ent *e) {
  ho_backend_ctl_del(e->ctl); /* closes anything still held */
  b->by_fd[e->fd] = NULL;
  if (e->prev) e->prev->next = e->next; else b->all = e->next;
  if (e->next) e->next->prev = e->prev;
  close(e->fd);
  free(e->out);
  free(e);
}

void ho_backend_del(ho_backend *b) {
  if (b == NULL) return;
  for (size_t i = 0; i < b->by_fd_cap; i++)
    if (b->by_fd[i] != NULL) drop_ctl(b, b->by_fd[i]);
  for (size_t i = 0; i < b->npend; i++) close((int)b->pend[i].conn);
  ho_backend_core_del(b->core);
  free(b->by_fd);
  free(b->dl);
  free(b->closed);
  free(b->pend);
  free(b);
}

static int append_out(ctl_ent *e, const uint8_t *p, size_t n) {
  if (e->out_len + n > e->out_cap) {
    size_t ncap = e->out_cap ? e->out_cap * 2 : 1024;
    while (ncap < e->out_len + n) ncap *= 2;
    uint8_t *o = realloc(e->out, ncap);
    if (o == NULL) return HO_ERR_NOMEM;
    e->out = o;
    e->out_cap = ncap;
  }
  memcpy(e->out + e->out_len, p, n);
  e->out_len += n;
  return HO_OK;
}

/* Write queued ACK bytes. Returns HO_OK (all or some written) or an error
 * that means the control connection is unusable. */
/* spec: XFER-21 — only ACK frames are ever written here. spec: ERR-3 */
static int flush_out(ctl_ent *e) {
  size_t off = 0;
  int rc = HO_OK;
  while (off < e->out_len) {
    ssize_t n = send(e->fd, e->out + off, e->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    rc = HO_ERR_CLOSED;
    break;
  }
  if (off > 0) {
    memmove(e->out, e->out + off, e->out_len - off);
    e->out_len -= off;
  }
  return rc;
}

static int push_pending(ho_backend *b, const ho_backend_action *a) {
  if (b->npend == b->pend_cap) {
    size_t ncap = b->pend_cap ? b->pend_cap * 2 : 16;
    ho_backend_adopted *n = realloc(b->pend, ncap * sizeof *n);
    if (n == NULL) return HO_ERR_NOMEM;
    b->pend = n;
    b->pend_cap = ncap;
  }
  ho_backend_adopted *p = &b->pend[b->npend++];
  p->conn = a->conn;
  p->correlation_id = a->correlation_id;
  p->ready_written = a->ready_written;
  p->coalesced = a->coalesced;
  return HO_OK;
}

static int write_all_now(int fd, const uint8_t *p, size_t n) {
  size_t off = 0;
  return ho_sock_send_now(fd, p, n, &off);
}

/* Execute every queued action of `e`. Returns 1 if the control connection
 * must be closed. */
static int run_actions(ho_backend *b, ctl_ent *e, uint64_t now_ms) {
  ho_backend_action a;
  int close_it = 0;
  while (ho_backend_ctl_next_action(e->ctl, &a)) {
    if (b->on_event != NULL) {
      ho_backend_event ev = {.ctl_fd = e->fd, .action = &a};
      b->on_event(b->user, &ev);
    }
    switch (a.type) {
    case HO_BACKEND_ACT_WRITE_CLIENT: {
      /* spec: READY-28 — coalesced: the application may serve the request
       * that came with the descriptor and write it behind the reply, in one
       * write. */
      int rc = a.coalesced && b->first_write != NULL
                   ? b->first_write(b->first_write_ctx, a.conn, a.correlation_id, a.bytes, a.len)
                   : write_all_now((int)a.conn, a.bytes, a.len);
      (void)ho_backend_ctl_client_written(e->ctl, now_ms, rc);
      break;
    }
    case HO_BACKEND_ACT_DECLINE:
      /* spec: READY-29 — the declined reply, nothing read; the client
       * re-sends its request to backend_pipe. A failed write changes
       * nothing: nobody has read the request. */
      (void)write_all_now((int)a.conn, a.bytes, a.len);
      close((int)a.conn);
      break;
    case HO_BACKEND_ACT_WRITE_CONTROL:
      if (a.delay_ms > 0) {
        if (b->ndl == b->dl_cap) {
          size_t ncap = b->dl_cap ? b->dl_cap * 2 : 8;
          delayed_ack *n = realloc(b->dl, ncap * sizeof *n);
          if (n == NULL) {
            close_it = 1;
            break;
          }
          b->dl = n;
          b->dl_cap = ncap;
        }
        delayed_ack *d = &b->dl[b->ndl++];
        d->fd = e->fd;
        d->gen = e->gen;
        d->due_ms = now_ms + a.delay_ms;
        d->len = a.len;
        memcpy(d->bytes, a.bytes, a.len);
      } else if (append_out(e, a.bytes, a.len) != HO_OK) {
        close_it = 1;
      }
      break;
    case HO_BACKEND_ACT_ADOPT:
      if (push_pending(b, &a) != HO_OK) close((int)a.conn);
      break;
    case HO_BACKEND_ACT_CLOSE_FD:
      close((int)a.conn);
      break;
    case HO_BACKEND_ACT_CLOSE_CONTROL:
      close_it = 1;
      break;
    case HO_BACKEND_ACT_OFFER:
    case HO_BACKEND_ACT_CRASH:
      break;
    }
  }
  return close_it;
}

static int hand_back(ho_backend *b, ho_backend_adopted *adopted, size_t cap, size_t *n) {
  size_t k = 0;
  while (k < cap && k < b->npend) {
    adopted[k] = b->pend[k];
    k++;
  }
  if (k > 0) {
    memmove(b->pend, b->pend + k, (b->npend - k) * sizeof *b->pend);
    b->npend -= k;
  }
  if (n != NULL) *n = k;
  return b->npend > 0 ? HO_BACKEND_MORE : 0;
}

/* Flush, and close the connection if it must go. Returns the status mask. */
static int finish(ho_backend *b, ctl_ent *e, int close_it) {
  if (flush_out(e) != HO_OK) close_it = 1;
  if (close_it) {
    ho_backend_ctl_eof(e->ctl);
    (void)run_actions(b, e, ho_monotonic_ms());
    drop_ctl(b, e);
    return HO_BACKEND_CLOSED;
  }
  return e->out_len > 0 ? HO_BACKEND_WANT_WRITE : 0;
}

int ho_backend_on_control_readable(ho_backend *b, ho_handle ctl_fd, uint64_t now_ms,
                                   ho_backend_adopted *adopted, size_t cap, size_t *n) {
  if (n != NULL) *n = 0;
  ctl_ent *e = lookup(b, ctl_fd);
  if (e == NULL || (adopted == NULL && cap > 0)) return HO_ERR_INVALID_ARGUMENT;
  uint8_t buf[16384];
  int close_it = 0;
  ho_backend_counters c0;
  ho_backend_core_counters(b->core, &c0);
  int read_again = 0;
  for (int rounds = 0; !close_it; rounds++) {
    if (rounds == 256) {
      /* Enough for one call: other connections get their turn. The rest
       * was not read up to EAGAIN, so an edge-triggered poller must be
       * told to call again (spec: BACKEND-10: the offer must not stall). */
      read_again = HO_BACKEND_READ_AGAIN;
      break;
    }
    /* After a complete offer, stop: a level-triggered poller wakes us again
     * if more is queued, and the handed-off client does not wait for a read
     * that would only say EAGAIN. */
    if (rounds > 0 && ho_backend_ctl_at_sideband(e->ctl)) {
      ho_backend_counters c1;
      ho_backend_core_counters(b->core, &c1);
      if (c1.offers != c0.offers) {
        read_again = HO_BACKEND_READ_AGAIN;
        break;
      }
    }
    size_t want = ho_backend_ctl_wanted(e->ctl);
    if (want == 0) {
      close_it = 1; /* the core closed the connection */
      break;
    }
    if (want > sizeof buf) want = sizeof buf;
    ho_xfer_rx rx;
    int rc = ho_xfer_recv(ctl_fd, buf, want, &rx, 0);
    if (rc == HO_ERR_WOULD_BLOCK) break;
    if (rc != HO_OK) {
      close_it = 1;
      break;
    }
    (void)ho_backend_ctl_feed(e->ctl, now_ms, buf, rx.len, rx.conn, rx.conn_status, NULL);
    close_it = run_actions(b, e, now_ms);
  }
  if (!close_it && b->defer_ack_flush && b->npend > 0 && e->out_len > 0) {
    /* The caller serves the adopted connections first, then flushes. */
    return hand_back(b, adopted, cap, n) | HO_BACKEND_ACK_PENDING | HO_BACKEND_WANT_WRITE |
           read_again;
  }
  int mask = finish(b, e, close_it);
  if (!(mask & HO_BACKEND_CLOSED)) mask |= read_again;
  return mask | hand_back(b, adopted, cap, n);
}

int ho_backend_flush_control(ho_backend *b, ho_handle ctl_fd, uint64_t now_ms) {
  return ho_backend_on_control_writable(b, ctl_fd, now_ms);
}

int ho_backend_on_control_writable(ho_backend *b, ho_handle ctl_fd, uint64_t now_ms) {
  (void)now_ms;
  ctl_ent *e = lookup(b, ctl_fd);
  if (e == NULL) return HO_ERR_INVALID_ARGUMENT;
  return finish(b, e, 0);
}

int ho_backend_next_timeout_ms(const ho_backend *b, uint64_t now_ms) {
  if (b == NULL) return -1;
  uint64_t due = UINT64_MAX, at;
  for (size_t i = 0; i < b->ndl; i++)
    if (b->dl[i].due_ms < due) due = b->dl[i].due_ms;
  /* spec: BACKEND-10 — offers in progress have a deadline too. */
  for (const ctl_ent *e = b->all; e != NULL; e = e->next)
    if (ho_backend_ctl_next_deadline(e->ctl, &at) && at < due) due = at;
  if (due == UINT64_MAX) return -1;
  if (due <= now_ms) return 0;
  uint64_t d = due - now_ms;
  return d > 0x7fffffff ? 0x7fffffff : (int)d;
}

static void note_closed(ho_backend *b, int fd) {
  if (b->nclosed == b->closed_cap) {
    size_t ncap = b->closed_cap ? b->closed_cap * 2 : 8;
    int *n = realloc(b->closed, ncap * sizeof *n);
    if (n == NULL) return; /* the caller learns it at its next read (EBADF) */
    b->closed = n;
    b->closed_cap = ncap;
  }
  b->closed[b->nclosed++] = fd;
}

int ho_backend_on_timer(ho_backend *b, uint64_t now_ms) {
  if (b == NULL) return HO_ERR_INVALID_ARGUMENT;
  /* Offers that stalled past OFFER_TIMEOUT (spec: BACKEND-10 ERR-46). */
  for (ctl_ent *e = b->all, *nx; e != NULL; e = nx) {
    nx = e->next;
    uint64_t at;
    if (!ho_backend_ctl_next_deadline(e->ctl, &at) || at > now_ms) continue;
    (void)ho_backend_ctl_timer(e->ctl, now_ms);
    int fd = e->fd;
    int close_it = run_actions(b, e, now_ms);
    if (finish(b, e, close_it) & HO_BACKEND_CLOSED) note_closed(b, fd);
  }
  size_t i = 0;
  while (i < b->ndl) {
    delayed_ack d = b->dl[i];
    if (d.due_ms > now_ms) {
      i++;
      continue;
    }
    b->dl[i] = b->dl[--b->ndl];
    ctl_ent *e = lookup(b, d.fd);
    if (e == NULL || e->gen != d.gen) continue; /* connection gone meanwhile */
    int close_it = append_out(e, d.bytes, d.len) != HO_OK;
    if (finish(b, e, close_it) & HO_BACKEND_CLOSED) note_closed(b, d.fd);
  }
  return HO_OK;
}

int ho_backend_closed_fd(ho_backend *b, ho_handle *fd) {
  if (b == NULL || fd == NULL || b->nclosed == 0) return 0;
  *fd = b->closed[--b->nclosed];
  return 1;
}
