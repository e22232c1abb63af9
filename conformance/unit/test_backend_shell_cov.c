/* Unit tests (issue #17 coverage): the backend I/O shell
 * (ref/lib/backend/backend_shell.c) on real sockets — injected close_handle
 * and wall clock, a failing core allocator, every action type the core
 * emits (close, crash, decline, coalesced first write, the event hook),
 * adopted descriptors the caller does not take at once, a broker that stops
 * reading or goes away, delayed ACKs whose connection went (or whose
 * descriptor number was reused), stalled offers closed by the timer, an
 * offer arriving one byte per read (the 256-read cap), and
 * the shell's own tables (malloc) failing in a forked child whose address
 * space is full (RLIMIT_AS). The broker side uses the real transport
 * (ho_xfer_send); descriptor counts and EOFs prove nothing leaks. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>

#include "backend_core_fixtures.h"
#include "child_exit.h"
#include "heap_hog.h"
#include "handoff/arena.h"

#define WALL 1000000u /* the injected wall clock (Unix ms) */

/* ---- fixtures ------------------------------------------------------------ */

typedef struct sh {
  ho_backend *b;
  int broker; /* broker end of the control connection */
  int ctl;    /* backend end (owned by the shell once added) */
} sh;

static void sh_attach(sh *s) {
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  s->broker = sv[0];
  s->ctl = sv[1];
  cr_assert_eq(ho_backend_add_control(s->b, s->ctl), HO_OK);
}

static void sh_new(sh *s, const ho_backend_config *cfg, ho_backend_event_fn ev, void *user) {
  cr_assert_eq(ho_backend_new(cfg, ev, user, &s->b), HO_OK);
  sh_attach(s);
}

/* A shell (sh_new) and a client socketpair c, whose c[0] goes to the
 * backend in an offer. */
static void sh_client(sh *s, const ho_backend_config *cfg, ho_backend_event_fn ev, void *user,
                      int c[2]) {
  sh_new(s, cfg, ev, user);
  fx_socketpair(SOCK_STREAM, c);
}

/* The end of a sh_client test: everything closed, no descriptor leaked
 * (`before` counted at its start). */
static void sh_end(sh *s, int c[2], int before) {
  close(c[1]);
  ho_backend_del(s->b);
  close(s->broker);
  cr_assert_eq(fx_count_fds(), before);
}

static void send_all(int fd, const uint8_t *p, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
    cr_assert_gt(w, 0, "send: %s", strerror(errno));
    off += (size_t)w;
  }
}

/* Broker side of one handoff: the sideband with `conn`, then `frame`. */
static void offer_raw(int broker, int conn, const uint8_t tok[HO_TOKEN_BYTES], const uint8_t *fr,
                      size_t n) {
  cr_assert_eq(ho_xfer_send(broker, conn, tok, NULL), HO_OK);
  send_all(broker, fr, n);
}

/* A plain offer (no deadline) for token seed `seed`. */
static void offer(int broker, int conn, uint8_t seed, uint64_t corr) {
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, seed);
  offer_raw(broker, conn, tok, fr, fx_offer_frame(fr, sizeof fr, tok, corr, 0));
}

/* Only the sideband of a handoff (a broker that stalls before its offer). */
static void sideband_only(int broker, int conn, uint8_t seed) {
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, seed);
  cr_assert_eq(ho_xfer_send(broker, conn, tok, NULL), HO_OK);
}

/* A plain offer (seed, corr) with c[0], which is then closed here, read by
 * the shell at 1000 ms into ad (room for one); returns its result mask. */
static int offer_read(sh *s, int c[2], uint8_t seed, uint64_t corr, ho_backend_adopted ad[1],
                      size_t *n) {
  offer(s->broker, c[0], seed, corr);
  close(c[0]);
  return ho_backend_on_control_readable(s->b, s->ctl, 1000, ad, 1, n);
}

static ho_ack read_ack(int broker) {
  uint8_t buf[1024];
  size_t n = fx_read_frame(broker, buf, sizeof buf);
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, buf, n, NULL, &m), HO_OK);
  return m.ack;
}

/* `fd` is at EOF now: nothing queued, the other end closed. */
static void expect_eof(int fd, const char *what) {
  char c;
  cr_assert_eq(recv(fd, &c, 1, MSG_DONTWAIT), 0, "%s: EOF expected", what);
}

/* Nothing to read on `fd` (and no EOF). */
static void expect_quiet(int fd, const char *what) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  cr_assert_eq(poll(&p, 1, 0), 0, "%s: nothing expected", what);
}

/* Everything queued on `fd` now; *eof says whether the peer closed. */
static size_t read_queued(int fd, uint8_t *buf, size_t cap, int *eof) {
  size_t have = 0;
  *eof = 0;
  for (;;) {
    ssize_t n = recv(fd, buf + have, cap - have, MSG_DONTWAIT);
    if (n == 0) {
      *eof = 1;
      break;
    }
    if (n < 0) break;
    have += (size_t)n;
    cr_assert_lt(have, cap);
  }
  return have;
}

/* Append an unknown length-delimited field (number 15000) of `len` bytes to
 * the frame in fr[0..n) and fix its header; returns the new frame size. */
static size_t pad_unknown_field(uint8_t *fr, size_t n, uint32_t len) {
  size_t off = n;
  for (uint32_t v = (15000u << 3) | 2u;; v >>= 7) {
    fr[off++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    if (v <= 0x7f) break;
  }
  for (uint32_t v = len;; v >>= 7) {
    fr[off++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    if (v <= 0x7f) break;
  }
  memset(fr + off, 0xAB, len);
  off += len;
  cr_assert_eq(ho_frame_write_header(fr, off - HO_FRAME_HEADER_BYTES), HO_OK);
  return off;
}

static uint64_t fake_wall_ms(void *ctx) { return *(const uint64_t *)ctx; }

/* ---- injected services (spec: BACKEND-10 TOKEN-21) ----------------------- */

typedef struct closer {
  int calls;
  ho_handle last;
} closer;

static void counting_close(void *ctx, ho_handle h) {
  closer *c = ctx;
  c->calls++;
  c->last = h;
  close((int)h);
}

/* spec: TOKEN-21 READY-11 XFER-20 — the shell keeps a configured wall clock
 * and close_handle: an offer whose deadline is in the future of the
 * injected clock (long past for the real one) is accepted, one past it is
 * refused TIMEOUT; a descriptor the core still holds when the backend is
 * deleted goes to the injected close_handle. */
Test(backend_shell_cov, injected_wall_clock_and_close_handle_are_used) {
  int before = fx_count_fds();
  uint64_t wall = WALL;
  closer cl = {0, HO_NO_HANDLE};
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.wall_clock_ms = fake_wall_ms;
  cfg.wall_clock_ctx = &wall;
  cfg.close_handle = counting_close;
  cfg.close_ctx = &cl;
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  uint8_t tok[HO_TOKEN_BYTES], fr[512];
  fx_token(tok, 1);
  offer_raw(s.broker, c[0], tok, fr,
            offer_frame_named(fr, sizeof fr, tok, "echo", 7, 0, 0, WALL + 500, 7));
  ho_backend_adopted ad[2];
  size_t n = 0;
  int m = ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 2, &n);
  cr_assert_eq(m & HO_BACKEND_CLOSED, 0);
  cr_assert_eq(n, 1, "accepted by the injected clock");
  close((int)ad[0].conn);
  ho_ack a = read_ack(s.broker);
  cr_assert(a.accepted);
  wall = WALL + 500; /* the deadline has come */
  fx_token(tok, 2);
  offer_raw(s.broker, c[0], tok, fr,
            offer_frame_named(fr, sizeof fr, tok, "echo", 8, 0, 0, WALL + 500, 8));
  m = ho_backend_on_control_readable(s.b, s.ctl, 1001, ad, 2, &n);
  cr_assert_eq(n, 0);
  a = read_ack(s.broker);
  cr_assert_not(a.accepted);
  cr_assert_str_eq(a.error_detail, "TIMEOUT");
  /* A sideband with its descriptor, no offer yet: the core holds it. */
  sideband_only(s.broker, c[0], 3);
  close(c[0]);
  m = ho_backend_on_control_readable(s.b, s.ctl, 1002, ad, 2, &n);
  cr_assert_eq(m, 0);
  cr_assert_eq(n, 0);
  cr_assert_eq(cl.calls, 0);
  ho_backend_del(s.b);
  cr_assert_eq(cl.calls, 1, "the held descriptor went to the injected close_handle");
  cr_assert_geq(cl.last, 0);
  expect_eof(c[1], "client");
  close(c[1]);
  close(s.broker);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-20 — the default close_handle (close(2)) releases a held
 * descriptor when the backend is deleted. */
Test(backend_shell_cov, default_close_handle_releases_held_descriptor) {
  int before = fx_count_fds();
  sh s;
  int c[2];
  sh_client(&s, NULL, NULL, NULL, c);
  sideband_only(s.broker, c[0], 4);
  close(c[0]);
  size_t n = 5;
  cr_assert_eq(ho_backend_on_control_readable(s.b, s.ctl, 1000, NULL, 0, &n), 0);
  cr_assert_eq(n, 0);
  ho_backend_del(s.b);
  expect_eof(c[1], "client");
  close(c[1]);
  close(s.broker);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- the core's allocator ------------------------------------------------ */

typedef struct gate {
  int fail;
  int calls;
} gate;

static void *gate_alloc(void *ctx, size_t n) {
  gate *g = ctx;
  g->calls++;
  return g->fail ? NULL : malloc(n);
}
static void gate_free(void *ctx, void *p) {
  (void)ctx;
  free(p);
}

/* The core's memory failing: ho_backend_new returns NOMEM with nothing set;
 * ho_backend_add_control returns NOMEM and the descriptor stays the
 * caller's (not added, still blocking); with memory again it is added. */
Test(backend_shell_cov, core_allocator_failure) {
  int before = fx_count_fds();
  gate g = {1, 0};
  ho_allocator al = {gate_alloc, gate_free, &g};
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.allocator = &al;
  ho_backend *b = (ho_backend *)&g; /* a marker: must stay untouched */
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_ERR_NOMEM);
  cr_assert_eq((void *)b, (void *)&g);
  cr_assert_gt(g.calls, 0);
  g.fail = 0;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_OK);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  g.fail = 1;
  cr_assert_eq(ho_backend_add_control(b, sv[1]), HO_ERR_NOMEM);
  cr_assert(fx_fd_is_open(sv[1]));
  cr_assert_eq(fcntl(sv[1], F_GETFL) & O_NONBLOCK, 0, "not touched");
  cr_assert_eq(ho_backend_on_control_writable(b, sv[1], 1), HO_ERR_INVALID_ARGUMENT, "not added");
  g.fail = 0;
  cr_assert_eq(ho_backend_add_control(b, sv[1]), HO_OK);
  cr_assert_neq(fcntl(sv[1], F_GETFL) & O_NONBLOCK, 0, "control connections are non-blocking");
  ho_backend_del(b);
  cr_assert_not(fx_fd_is_open(sv[1]));
  close(sv[0]);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- the control table ---------------------------------------------------- */

/* A second control connection below the table size (no growth), the newer
 * one ending first (unlinked from the middle of the list): the older one
 * keeps working. Negative descriptors are unknown. */
Test(backend_shell_cov, two_controls_newer_ends_first) {
  int before = fx_count_fds();
  sh s1, s2;
  sh_new(&s1, NULL, NULL, NULL);
  s2.b = s1.b;
  sh_attach(&s2);
  cr_assert_lt(s2.ctl, 64);
  size_t n = 3;
  cr_assert_eq(ho_backend_on_control_readable(s1.b, -1, 1, NULL, 0, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_backend_on_control_writable(s1.b, -1, 1), HO_ERR_INVALID_ARGUMENT);
  close(s2.broker); /* spec: ERR-44 */
  int m = ho_backend_on_control_readable(s1.b, s2.ctl, 1, NULL, 0, NULL);
  cr_assert(m & HO_BACKEND_CLOSED);
  cr_assert_not(fx_fd_is_open(s2.ctl));
  int c[2];
  fx_socketpair(SOCK_STREAM, c);
  offer(s1.broker, c[0], 5, 11);
  close(c[0]);
  ho_backend_adopted ad[1];
  m = ho_backend_on_control_readable(s1.b, s1.ctl, 2, ad, 1, &n);
  cr_assert_eq(m & HO_BACKEND_CLOSED, 0);
  cr_assert_eq(n, 1);
  cr_assert(read_ack(s1.broker).accepted);
  close((int)ad[0].conn);
  close(c[1]);
  ho_backend_del(s1.b);
  close(s1.broker);
  cr_assert_eq(fx_count_fds(), before);
}

/* HO_PEER_ANY looks at nothing: a descriptor number that is not open is
 * taken (its flags cannot be read, so none are set), and the first read
 * fails and closes it (spec: ERR-44). */
Test(backend_shell_cov, peer_any_takes_a_closed_number_and_drops_it_on_read) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.peer_policy = HO_PEER_ANY;
  ho_backend *b;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_OK);
  int fd = 900;
  cr_assert_not(fx_fd_is_open(fd));
  cr_assert_eq(ho_backend_add_control(b, fd), HO_OK);
  size_t n = 1;
  int m = ho_backend_on_control_readable(b, fd, 1, NULL, 0, &n);
  cr_assert(m & HO_BACKEND_CLOSED);
  cr_assert_eq(ho_backend_on_control_writable(b, fd, 1), HO_ERR_INVALID_ARGUMENT, "forgotten");
  ho_backend_del(b);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- adopted descriptors the caller does not take at once ---------------- */

/* With no room for adopted connections (NULL, 0) they stay queued — MORE
 * says so — past the first 16 (the queue grows); a call with room for one
 * hands back one; ho_backend_del closes the rest (the client then sees EOF:
 * every copy is gone). */
Test(backend_shell_cov, adopted_kept_until_taken_and_closed_at_del) {
  int before = fx_count_fds();
  sh s;
  int c[2];
  sh_client(&s, NULL, NULL, NULL, c);
  for (int i = 0; i < 17; i++) {
    offer(s.broker, c[0], (uint8_t)(10 + i), (uint64_t)100 + (uint64_t)i);
    int m = ho_backend_on_control_readable(s.b, s.ctl, 1000, NULL, 0, NULL);
    cr_assert_eq(m & (HO_BACKEND_CLOSED | HO_BACKEND_MORE), HO_BACKEND_MORE, "offer %d: 0x%x", i, m);
    cr_assert(read_ack(s.broker).accepted);
  }
  close(c[0]);
  ho_backend_adopted ad[1];
  size_t n = 0;
  int m = ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(ad[0].correlation_id, 100, "handed back in order");
  cr_assert(m & HO_BACKEND_MORE);
  close((int)ad[0].conn);
  ho_backend_del(s.b); /* closes the 16 still queued */
  expect_eof(c[1], "client");
  close(c[1]);
  close(s.broker);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- actions ---------------------------------------------------------------- */

typedef struct evlog {
  int n;
  int ctl_fd;
  ho_backend_act_type types[16];
} evlog;

static void on_ev(void *user, const ho_backend_event *ev) {
  evlog *l = user;
  l->ctl_fd = (int)ev->ctl_fd;
  if (l->n < 16) l->types[l->n++] = ev->action->type;
}

static int seen(const evlog *l, ho_backend_act_type t) {
  for (int i = 0; i < l->n; i++)
    if (l->types[i] == t) return 1;
  return 0;
}

/* The event hook sees every action of an accepted offer, with the control
 * descriptor it came on. */
Test(backend_shell_cov, event_hook_sees_every_action) {
  int before = fx_count_fds();
  evlog l = {0};
  sh s;
  int c[2];
  sh_client(&s, NULL, on_ev, &l, c);
  offer(s.broker, c[0], 20, 21);
  close(c[0]);
  ho_backend_adopted ad[1];
  size_t n = 0;
  (void)ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(l.ctl_fd, s.ctl);
  cr_assert_eq(l.n, 3);
  cr_assert(seen(&l, HO_BACKEND_ACT_OFFER));
  cr_assert(seen(&l, HO_BACKEND_ACT_WRITE_CONTROL));
  cr_assert(seen(&l, HO_BACKEND_ACT_ADOPT));
  close((int)ad[0].conn);
  sh_end(&s, c, before);
}

/* spec: XFER-14 BACKEND-3 XFER-18 — an offer for a service we do not serve:
 * the descriptor is closed unread (CLOSE_FD), the ACK refuses. With
 * defer_ack_flush and nothing adopted the ACK is written at once. */
Test(backend_shell_cov, refused_offer_closes_descriptor_and_acks_at_once) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.service_name = "other";
  cfg.defer_ack_flush = true;
  evlog l = {0};
  sh s;
  int c[2];
  sh_client(&s, &cfg, on_ev, &l, c);
  ho_backend_adopted ad[1];
  size_t n = 0;
  int m = offer_read(&s, c, 22, 23, ad, &n);
  cr_assert_eq(n, 0);
  cr_assert_eq(m & (HO_BACKEND_CLOSED | HO_BACKEND_ACK_PENDING | HO_BACKEND_WANT_WRITE), 0);
  cr_assert(seen(&l, HO_BACKEND_ACT_CLOSE_FD));
  ho_ack a = read_ack(s.broker);
  cr_assert_not(a.accepted);
  cr_assert_str_eq(a.error_detail, "SERVICE_NAME");
  expect_eof(c[1], "client");
  sh_end(&s, c, before);
}

/* Faults that end the control connection instead of an ACK: crash-before-ack
 * (the CRASH action is the caller's to act on; the shell closes) and
 * close-control. Descriptor and control connection are closed, no ACK. */
static void fault_closes(ho_backend_fault fault, ho_backend_act_type expect) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.fault = fault;
  evlog l = {0};
  sh s;
  int c[2];
  sh_client(&s, &cfg, on_ev, &l, c);
  ho_backend_adopted ad[1];
  size_t n = 0;
  int m = offer_read(&s, c, 24, 25, ad, &n);
  cr_assert(m & HO_BACKEND_CLOSED);
  cr_assert_eq(n, 0);
  cr_assert(seen(&l, expect));
  cr_assert(seen(&l, HO_BACKEND_ACT_CLOSE_CONTROL));
  cr_assert_not(seen(&l, HO_BACKEND_ACT_WRITE_CONTROL));
  cr_assert_not(fx_fd_is_open(s.ctl));
  expect_eof(s.broker, "broker: no ACK");
  expect_eof(c[1], "client");
  sh_end(&s, c, before);
}

Test(backend_shell_cov, crash_fault_closes_without_ack) {
  fault_closes(HO_FAULT_CRASH_BEFORE_ACK, HO_BACKEND_ACT_CRASH);
}

Test(backend_shell_cov, close_control_fault_closes_without_ack) {
  fault_closes(HO_FAULT_CLOSE_CONTROL, HO_BACKEND_ACT_CLOSE_FD);
}

/* spec: ERR-43 MSG-1 BACKEND-11 — an offer body larger than one read of the
 * shell (16 KiB), made so by an unknown envelope field, is read in pieces
 * and accepted (unknown fields are ignored). */
Test(backend_shell_cov, offer_larger_than_one_read_is_accepted) {
  int before = fx_count_fds();
  sh s;
  int c[2];
  sh_client(&s, NULL, NULL, NULL, c);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 26);
  static uint8_t fr[24000];
  size_t off = pad_unknown_field(fr, fx_offer_frame(fr, sizeof fr, tok, 27, 0), 20000);
  offer_raw(s.broker, c[0], tok, fr, off);
  close(c[0]);
  ho_backend_adopted ad[1];
  size_t got = 0;
  int m = ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &got);
  cr_assert_eq(m & HO_BACKEND_CLOSED, 0);
  cr_assert_eq(got, 1);
  ho_ack a = read_ack(s.broker);
  cr_assert(a.accepted, "%s", a.error_detail);
  cr_assert_eq(a.correlation_id, 27);
  close((int)ad[0].conn);
  sh_end(&s, c, before);
}

/* A broker whose offer arrives one byte per read (two writers taking turns
 * with SO_PASSCRED on: the kernel never glues their bytes into one read):
 * the shell stops after its 256 reads so that one connection cannot starve
 * the others, and says READ_AGAIN — no EAGAIN was seen, so an
 * edge-triggered poller gets no new event for the bytes still queued
 * (spec: BACKEND-10: the offer must not stall). The next call finishes it. */
Test(backend_shell_cov, read_cap_of_256_asks_to_read_again) {
  int before = fx_count_fds();
  sh s;
  int c[2];
  sh_client(&s, NULL, NULL, NULL, c);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 120);
  cr_assert_eq(ho_xfer_send(s.broker, c[0], tok, NULL), HO_OK);
  close(c[0]);
  cr_assert_eq(ho_backend_on_control_readable(s.b, s.ctl, 1000, NULL, 0, NULL), 0, "sideband read");
  int one = 1;
  cr_assert_eq(setsockopt(s.ctl, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
  static uint8_t fr[1024];
  size_t len = pad_unknown_field(fr, fx_offer_frame(fr, sizeof fr, tok, 121, 0), 220);
  cr_assert_gt(len, 260);
  /* Each one-byte write is a buffer of its own: room for them all. */
  int big = 4 << 20;
  cr_assert_eq(setsockopt(s.broker, SOL_SOCKET, SO_SNDBUF, &big, sizeof big), 0);
  int go[2], done[2];
  cr_assert_eq(pipe(go), 0);
  cr_assert_eq(pipe(done), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) { /* the second writer: the odd bytes */
    close(go[1]), close(done[0]);
    char t;
    for (size_t i = 1; i < len; i += 2) {
      if (read(go[0], &t, 1) != 1) child_exit(1);
      if (send(s.broker, fr + i, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) child_exit(2);
      if (write(done[1], &t, 1) != 1) child_exit(3);
    }
    child_exit(0);
  }
  close(go[0]), close(done[1]);
  for (size_t i = 0; i < len; i++) {
    char t = 'x';
    if (i % 2 == 0) {
      cr_assert_eq(send(s.broker, fr + i, 1, MSG_NOSIGNAL | MSG_DONTWAIT), 1, "byte %zu", i);
    } else {
      cr_assert_eq(write(go[1], &t, 1), 1);
      cr_assert_eq(read(done[0], &t, 1), 1, "the second writer failed at byte %zu", i);
    }
  }
  close(go[1]), close(done[0]);
  child_wait_ok(pid);
  ho_backend_adopted ad[1];
  size_t n = 0;
  int m = ho_backend_on_control_readable(s.b, s.ctl, 1001, ad, 1, &n);
  cr_assert_eq(n, 0);
  expect_quiet(s.broker, "the offer is not complete after 256 one-byte reads");
  cr_assert_eq(m & (HO_BACKEND_CLOSED | HO_BACKEND_READ_AGAIN), HO_BACKEND_READ_AGAIN,
               "bytes left unread without EAGAIN: READ_AGAIN (mask 0x%x)", m);
  m = ho_backend_on_control_readable(s.b, s.ctl, 1002, ad, 1, &n);
  cr_assert_eq(m & HO_BACKEND_CLOSED, 0);
  cr_assert_eq(n, 1);
  ho_ack a = read_ack(s.broker);
  cr_assert(a.accepted, "%s", a.error_detail);
  cr_assert_eq(a.correlation_id, 121);
  close((int)ad[0].conn);
  sh_end(&s, c, before);
}

/* ---- coalesced mode (spec: READY-28 READY-29) ----------------------------- */

static ho_offer coal; /* the last coalesced offer built */

/* A valid coalesced offer frame (deadline WALL + 1000). */
static size_t coal_frame(uint8_t *out, size_t cap, const uint8_t tok[HO_TOKEN_BYTES],
                         uint64_t corr) {
  memset(&coal, 0, sizeof coal);
  memcpy(coal.token, tok, HO_TOKEN_BYTES);
  strcpy(coal.service_name, "echo");
  coal.correlation_id = corr;
  coal.offer_flags = HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY;
  coal.reply_adopted_len = reply_frame(coal.reply_adopted, sizeof coal.reply_adopted, tok,
                                       HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY |
                                           HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY);
  coal.reply_declined_len = reply_frame(coal.reply_declined, sizeof coal.reply_declined, NULL,
                                        HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY);
  return offer_frame_of(out, cap, &coal, WALL + 1000, corr);
}

typedef struct fw {
  int calls, result;
  ho_handle conn;
  uint64_t corr;
  size_t len;
} fw;

/* A first_write that serves the request: reply + "pong" in one write. */
static int first_write_cb(void *ctx, ho_handle conn, uint64_t corr, const uint8_t *reply,
                          size_t len) {
  fw *f = ctx;
  f->calls++;
  f->conn = conn;
  f->corr = corr;
  f->len = len;
  if (f->result != HO_OK) return f->result;
  uint8_t buf[HO_BACKEND_ACT_MAX_BYTES + 4];
  memcpy(buf, reply, len);
  memcpy(buf + len, "pong", 4);
  return send((int)conn, buf, len + 4, MSG_NOSIGNAL) == (ssize_t)(len + 4) ? HO_OK : HO_ERR_IO;
}

typedef struct coal_run {
  int mask;
  size_t n;
  ho_backend_adopted ad[1];
  ho_ack ack;
  uint8_t client[16384];
  size_t client_len;
  int client_eof;
} coal_run;

/* One coalesced offer through a backend-ready shell with `fwc` (NULL: no
 * first_write) and `service`; what the client end received. */
static void coal_case(fw *fwc, const char *service, coal_run *r) {
  int before = fx_count_fds();
  uint64_t wall = WALL;
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = HO_READY_BACKEND;
  cfg.wall_clock_ms = fake_wall_ms;
  cfg.wall_clock_ctx = &wall;
  cfg.service_name = service;
  if (fwc != NULL) {
    cfg.first_write = first_write_cb;
    cfg.first_write_ctx = fwc;
  }
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  uint8_t tok[HO_TOKEN_BYTES], fr[16384];
  fx_token(tok, 30);
  offer_raw(s.broker, c[0], tok, fr, coal_frame(fr, sizeof fr, tok, 31));
  close(c[0]);
  r->n = 0;
  r->mask = ho_backend_on_control_readable(s.b, s.ctl, 1000, r->ad, 1, &r->n);
  r->ack = read_ack(s.broker);
  if (r->n == 1) close((int)r->ad[0].conn);
  r->client_len = read_queued(c[1], r->client, sizeof r->client, &r->client_eof);
  sh_end(&s, c, before);
}

/* spec: READY-28 — without first_write the shell writes Negotiated + ready
 * itself, in one write, before the ACK. */
Test(backend_shell_cov, coalesced_reply_written_by_the_shell) {
  static coal_run r;
  coal_case(NULL, NULL, &r);
  cr_assert(r.ack.accepted, "%s", r.ack.error_detail);
  cr_assert_eq(r.n, 1);
  cr_assert(r.ad[0].coalesced);
  cr_assert(r.ad[0].ready_written);
  cr_assert_gt(r.client_len, coal.reply_adopted_len);
  cr_assert_arr_eq(r.client, coal.reply_adopted, coal.reply_adopted_len, "Negotiated first");
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, r.client + coal.reply_adopted_len,
                               r.client_len - coal.reply_adopted_len, NULL, &m),
               HO_OK, "then the ready frame");
}

/* spec: READY-28 — with first_write the application writes reply + first
 * response bytes in one write; its result decides the offer. */
Test(backend_shell_cov, coalesced_first_write_serves_the_request) {
  static coal_run r;
  fw f = {0, HO_OK, HO_NO_HANDLE, 0, 0};
  coal_case(&f, NULL, &r);
  cr_assert_eq(f.calls, 1);
  cr_assert_eq(f.corr, 31);
  cr_assert(r.ack.accepted, "%s", r.ack.error_detail);
  cr_assert_eq(r.n, 1);
  cr_assert_eq(r.client_len, f.len + 4);
  cr_assert_arr_eq(r.client, coal.reply_adopted, coal.reply_adopted_len);
  cr_assert_arr_eq(r.client + f.len, "pong", 4, "the response right behind the reply");
}

Test(backend_shell_cov, coalesced_first_write_failure_refuses) {
  static coal_run r;
  fw f = {0, HO_ERR_IO, HO_NO_HANDLE, 0, 0};
  coal_case(&f, NULL, &r);
  cr_assert_eq(f.calls, 1);
  cr_assert_not(r.ack.accepted);
  cr_assert_eq(r.n, 0, "refused: not adopted");
  cr_assert_eq(r.client_len, 0);
  cr_assert(r.client_eof, "the connection is closed");
}

/* spec: READY-29 — a refused coalesced offer: the declined reply is the only
 * thing written, then the connection is closed. */
Test(backend_shell_cov, coalesced_refusal_writes_declined_reply_and_closes) {
  static coal_run r;
  coal_case(NULL, "other", &r);
  cr_assert_not(r.ack.accepted);
  cr_assert_str_eq(r.ack.error_detail, "SERVICE_NAME");
  cr_assert_eq(r.n, 0);
  cr_assert_eq(r.client_len, coal.reply_declined_len);
  cr_assert_arr_eq(r.client, coal.reply_declined, coal.reply_declined_len);
  cr_assert(r.client_eof);
}

/* ---- writing ACKs ---------------------------------------------------------- */

/* spec: BACKEND-6 XFER-21 — a broker that does not read: ACKs queue in the
 * shell (past its first 1 KiB buffer) and WANT_WRITE says so; once the
 * broker reads, on_control_writable writes them all, whole and in order. */
Test(backend_shell_cov, acks_queue_while_broker_does_not_read) {
  int before = fx_count_fds();
  sh s;
  sh_new(&s, NULL, NULL, NULL);
  /* Fill the backend→broker direction. */
  static uint8_t junk[4096];
  size_t filled = 0;
  for (;;) {
    ssize_t w = send(s.ctl, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w <= 0) break;
    filled += (size_t)w;
  }
  cr_assert_eq(errno, EAGAIN);
  int c[2];
  fx_socketpair(SOCK_STREAM, c);
  enum { K = 48 };
  for (int i = 0; i < K; i++) {
    offer(s.broker, c[0], (uint8_t)(40 + i), (uint64_t)200 + (uint64_t)i);
    ho_backend_adopted ad[1];
    size_t n = 0;
    int m = ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(m & (HO_BACKEND_CLOSED | HO_BACKEND_WANT_WRITE), HO_BACKEND_WANT_WRITE);
    close((int)ad[0].conn);
  }
  close(c[0]);
  cr_assert_eq(ho_backend_on_control_writable(s.b, s.ctl, 1000), HO_BACKEND_WANT_WRITE,
               "still full");
  static uint8_t sink[65536];
  while (filled > 0) {
    ssize_t r = recv(s.broker, sink, filled < sizeof sink ? filled : sizeof sink, 0);
    cr_assert_gt(r, 0);
    filled -= (size_t)r;
  }
  cr_assert_eq(ho_backend_flush_control(s.b, s.ctl, 1000), 0, "everything written");
  for (int i = 0; i < K; i++) {
    ho_ack a = read_ack(s.broker);
    cr_assert(a.accepted);
    cr_assert_eq(a.correlation_id, (uint64_t)200 + (uint64_t)i);
  }
  expect_quiet(s.broker, "broker");
  sh_end(&s, c, before);
}

/* spec: ERR-3 ERR-44 — the broker sent an offer and went away: writing its
 * ACK fails (EPIPE, no SIGPIPE), the control connection closes; the
 * descriptor adopted in the same call is still handed back. */
Test(backend_shell_cov, ack_to_vanished_broker_closes_control) {
  int before = fx_count_fds();
  sh s;
  int c[2];
  sh_client(&s, NULL, NULL, NULL, c);
  offer(s.broker, c[0], 60, 61);
  close(c[0]);
  close(s.broker);
  ho_backend_adopted ad[1];
  size_t n = 0;
  int m = ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &n);
  cr_assert(m & HO_BACKEND_CLOSED);
  cr_assert_eq(m & HO_BACKEND_READ_AGAIN, 0);
  cr_assert_eq(n, 1, "adopted before the write failed");
  cr_assert_eq(ad[0].correlation_id, 61);
  cr_assert_not(fx_fd_is_open(s.ctl));
  cr_assert_eq(send(c[1], "x", 1, 0), 1);
  char ch;
  cr_assert_eq(recv((int)ad[0].conn, &ch, 1, 0), 1, "the adopted descriptor is the client's");
  close((int)ad[0].conn);
  close(c[1]);
  ho_backend_del(s.b);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- delayed ACKs (late-ack fault) ----------------------------------------- */

static void late_cfg(ho_backend_config *cfg, uint32_t ms) {
  ho_backend_config_init(cfg);
  cfg->fault = HO_FAULT_LATE_ACK;
  cfg->fault_ms = ms;
}

/* Nine delayed ACKs (their table grows); the timer before they are due
 * writes nothing, after it writes all nine. */
Test(backend_shell_cov, nine_delayed_acks) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  late_cfg(&cfg, 50);
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  for (int i = 0; i < 9; i++) {
    offer(s.broker, c[0], (uint8_t)(70 + i), (uint64_t)300 + (uint64_t)i);
    ho_backend_adopted ad[1];
    size_t n = 0;
    (void)ho_backend_on_control_readable(s.b, s.ctl, 1000 + (uint64_t)i, ad, 1, &n);
    cr_assert_eq(n, 1);
    close((int)ad[0].conn);
  }
  close(c[0]);
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1008), 42, "the first one is due at 1050");
  cr_assert_eq(ho_backend_on_timer(s.b, 1049), HO_OK);
  expect_quiet(s.broker, "nothing due yet");
  cr_assert_eq(ho_backend_on_timer(s.b, 1100), HO_OK);
  unsigned seen_mask = 0;
  for (int i = 0; i < 9; i++) { /* any order (handoff-sequence §1) */
    ho_ack a = read_ack(s.broker);
    cr_assert(a.accepted);
    cr_assert(a.correlation_id >= 300 && a.correlation_id < 309);
    seen_mask |= 1u << (a.correlation_id - 300);
  }
  cr_assert_eq(seen_mask, 0x1ffu, "each ACK once");
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1100), -1);
  sh_end(&s, c, before);
}

/* spec: XFER-21 — a delayed ACK whose control connection ended is dropped;
 * never written to a new connection that got the same descriptor number. */
Test(backend_shell_cov, delayed_ack_dropped_when_connection_gone_or_reused) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  late_cfg(&cfg, 50);
  sh s1, s2;
  sh_new(&s1, &cfg, NULL, NULL);
  s2.b = s1.b;
  sh_attach(&s2);
  int c[2];
  fx_socketpair(SOCK_STREAM, c);
  offer(s1.broker, c[0], 80, 81);
  offer(s2.broker, c[0], 82, 83);
  close(c[0]);
  ho_backend_adopted ad[1];
  size_t n = 0;
  (void)ho_backend_on_control_readable(s1.b, s1.ctl, 1000, ad, 1, &n);
  cr_assert_eq(n, 1);
  close((int)ad[0].conn);
  (void)ho_backend_on_control_readable(s2.b, s2.ctl, 1000, ad, 1, &n);
  cr_assert_eq(n, 1);
  close((int)ad[0].conn);
  /* Both brokers go away; the shell reads their EOFs. */
  close(s1.broker), close(s2.broker);
  cr_assert(ho_backend_on_control_readable(s1.b, s1.ctl, 1001, NULL, 0, NULL) & HO_BACKEND_CLOSED);
  cr_assert(ho_backend_on_control_readable(s2.b, s2.ctl, 1001, NULL, 0, NULL) & HO_BACKEND_CLOSED);
  /* A new control connection on s1's old descriptor number. */
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  int br = sv[0];
  if (sv[0] == s1.ctl) {
    br = sv[1];
  } else if (sv[1] != s1.ctl) {
    cr_assert_eq(dup2(sv[1], s1.ctl), s1.ctl);
    close(sv[1]);
  }
  cr_assert_eq(ho_backend_add_control(s1.b, s1.ctl), HO_OK);
  cr_assert_eq(ho_backend_on_timer(s1.b, 1100), HO_OK);
  expect_quiet(br, "the new connection gets no stale ACK");
  cr_assert_eq(ho_backend_next_timeout_ms(s1.b, 1100), -1, "both dropped");
  ho_handle gone;
  cr_assert_eq(ho_backend_closed_fd(s1.b, &gone), 0);
  close(c[1]);
  ho_backend_del(s1.b);
  close(br);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: ERR-3 ERR-44 — the broker went away before its delayed ACK: the
 * timer's write fails, the connection closes and ho_backend_closed_fd
 * reports it (once). */
Test(backend_shell_cov, delayed_ack_to_vanished_broker_reported_closed) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  late_cfg(&cfg, 50);
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  offer(s.broker, c[0], 84, 85);
  close(c[0]);
  ho_backend_adopted ad[1];
  size_t n = 0;
  (void)ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &n);
  cr_assert_eq(n, 1);
  close((int)ad[0].conn);
  close(s.broker);
  cr_assert_eq(ho_backend_on_timer(s.b, 1050), HO_OK);
  ho_handle gone = HO_NO_HANDLE;
  cr_assert_eq(ho_backend_closed_fd(s.b, &gone), 1);
  cr_assert_eq(gone, s.ctl);
  cr_assert_eq(ho_backend_closed_fd(s.b, &gone), 0);
  cr_assert_not(fx_fd_is_open(s.ctl));
  close(c[1]);
  ho_backend_del(s.b);
  cr_assert_eq(fx_count_fds(), before);
}

/* defer_ack_flush with the ACK delayed: the adopted descriptor comes back,
 * nothing is pending to flush (no ACK_PENDING). */
Test(backend_shell_cov, deferred_flush_with_delayed_ack_has_nothing_pending) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  late_cfg(&cfg, 50);
  cfg.defer_ack_flush = true;
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  ho_backend_adopted ad[1];
  size_t n = 0;
  int m = offer_read(&s, c, 86, 87, ad, &n);
  cr_assert_eq(n, 1);
  cr_assert_eq(m & (HO_BACKEND_ACK_PENDING | HO_BACKEND_WANT_WRITE | HO_BACKEND_CLOSED), 0);
  expect_quiet(s.broker, "ACK delayed");
  cr_assert_eq(ho_backend_on_timer(s.b, 1050), HO_OK);
  cr_assert(read_ack(s.broker).accepted);
  close((int)ad[0].conn);
  sh_end(&s, c, before);
}

/* ---- stalled offers (spec: BACKEND-10 ERR-46) ------------------------------ */

/* A sideband and no offer: the deadline is the next timeout; the timer
 * before it does nothing, at it closes descriptor and control connection
 * (no ACK) and ho_backend_closed_fd reports the connection. */
Test(backend_shell_cov, stalled_offer_closed_by_timer) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.offer_timeout_ms = 100;
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  sideband_only(s.broker, c[0], 90);
  close(c[0]);
  cr_assert_eq(ho_backend_on_control_readable(s.b, s.ctl, 1000, NULL, 0, NULL), 0);
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1000), 100);
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1200), 0, "overdue");
  cr_assert_eq(ho_backend_on_timer(s.b, 1099), HO_OK);
  ho_handle gone = HO_NO_HANDLE;
  cr_assert_eq(ho_backend_closed_fd(s.b, &gone), 0);
  cr_assert(fx_fd_is_open(s.ctl));
  cr_assert_eq(ho_backend_on_timer(s.b, 1100), HO_OK);
  cr_assert_eq(ho_backend_closed_fd(s.b, &gone), 1);
  cr_assert_eq(gone, s.ctl);
  cr_assert_not(fx_fd_is_open(s.ctl));
  expect_eof(s.broker, "broker: no ACK");
  expect_eof(c[1], "client");
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1100), -1);
  sh_end(&s, c, before);
}

/* The next timeout is the earliest of delayed ACKs and offer deadlines, and
 * at most INT_MAX ms. */
Test(backend_shell_cov, next_timeout_earliest_and_clamped) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  late_cfg(&cfg, 10);
  cfg.offer_timeout_ms = 1000;
  sh s;
  int c[2];
  sh_client(&s, &cfg, NULL, NULL, c);
  offer(s.broker, c[0], 91, 92);
  ho_backend_adopted ad[1];
  size_t n = 0;
  (void)ho_backend_on_control_readable(s.b, s.ctl, 1000, ad, 1, &n);
  cr_assert_eq(n, 1);
  close((int)ad[0].conn);
  sideband_only(s.broker, c[0], 93); /* its deadline: 2001 */
  (void)ho_backend_on_control_readable(s.b, s.ctl, 1001, NULL, 0, NULL);
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1001), 9, "the ACK at 1010 comes first");
  ho_backend_del(s.b);
  close(s.broker);

  cfg.fault = HO_FAULT_NONE;
  cfg.offer_timeout_ms = UINT32_MAX;
  sh_new(&s, &cfg, NULL, NULL);
  sideband_only(s.broker, c[0], 94);
  (void)ho_backend_on_control_readable(s.b, s.ctl, 1000, NULL, 0, NULL);
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, 1000), 0x7fffffff);
  ho_backend_del(s.b);
  close(s.broker);
  close(c[0]);
  expect_eof(c[1], "client: every copy closed");
  close(c[1]);
  cr_assert_eq(fx_count_fds(), before);
}

/* Nine connections stalled: one timer call closes them all and every one
 * is reported (the closed list grows past 8). */
Test(backend_shell_cov, nine_stalled_connections_reported) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.offer_timeout_ms = 100;
  ho_backend *b;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_OK);
  sh s[9];
  int c[2];
  fx_socketpair(SOCK_STREAM, c);
  for (int i = 0; i < 9; i++) {
    s[i].b = b;
    sh_attach(&s[i]);
    sideband_only(s[i].broker, c[0], (uint8_t)(100 + i));
    cr_assert_eq(ho_backend_on_control_readable(b, s[i].ctl, 1000, NULL, 0, NULL), 0);
  }
  close(c[0]);
  cr_assert_eq(ho_backend_on_timer(b, 1100), HO_OK);
  unsigned mask = 0;
  ho_handle gone;
  for (int k = 0; k < 9; k++) {
    cr_assert_eq(ho_backend_closed_fd(b, &gone), 1, "report %d", k);
    for (int i = 0; i < 9; i++)
      if (s[i].ctl == gone) mask |= 1u << i;
  }
  cr_assert_eq(ho_backend_closed_fd(b, &gone), 0);
  cr_assert_eq(mask, 0x1ffu, "each connection once");
  expect_eof(c[1], "client: every held copy closed");
  for (int i = 0; i < 9; i++) {
    expect_eof(s[i].broker, "broker");
    close(s[i].broker);
  }
  close(c[1]);
  ho_backend_del(b);
  cr_assert_eq(fx_count_fds(), before);
}

/* ---- the shell's own memory (malloc) failing, in a forked child ----------- */

/* The heap used up (heap_hog.h), so the next malloc/calloc/realloc fails.
 * The core draws on an arena in static memory and decodes with nanopb, so
 * only the shell's own tables meet the failure. */
static unsigned char arena_mem[512 * 1024];
static ho_arena child_arena;
static ho_allocator child_al;

/* A shell whose core lives in arena_mem and uses nanopb (no malloc). */
static int child_backend(ho_backend_config *cfg, ho_backend **b) {
  if (ho_arena_init(&child_arena, arena_mem, sizeof arena_mem) != HO_OK) return 30;
  child_al = ho_arena_allocator(&child_arena);
  cfg->allocator = &child_al;
  cfg->codec = HO_CODEC_NANOPB;
  cfg->replay_capacity = 64;
  return ho_backend_new(cfg, NULL, NULL, b) == HO_OK ? 0 : 31;
}

static int child_sh(ho_backend *b, sh *s) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 32;
  s->b = b;
  s->broker = sv[0];
  s->ctl = sv[1];
  return ho_backend_add_control(b, s->ctl) == HO_OK ? 0 : 33;
}

/* child_backend, child_sh, and a client socketpair c. */
static int child_shell(ho_backend_config *cfg, ho_backend **b, sh *s, int c[2]) {
  int rc = child_backend(cfg, b);
  if (rc != 0) return rc;
  if ((rc = child_sh(*b, s)) != 0) return rc;
  return socketpair(AF_UNIX, SOCK_STREAM, 0, c) == 0 ? 0 : 37;
}

static int child_offer(int broker, int conn, uint8_t seed, uint64_t corr) {
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, seed);
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.offer.token, tok, HO_TOKEN_BYTES);
  strcpy(m.offer.service_name, "echo");
  m.offer.correlation_id = corr;
  size_t len = 0;
  if (ho_frame_encode(HO_CODEC_NANOPB, HO_FT_OFFER, &m, fr, sizeof fr, &len) != HO_OK) return 34;
  if (ho_xfer_send(broker, conn, tok, NULL) != HO_OK) return 35;
  return send(broker, fr, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : 36;
}

static int eof_now(int fd) {
  char ch;
  return recv(fd, &ch, 1, MSG_DONTWAIT) == 0;
}

#define STEP(expr, code)                                                                        \
  do {                                                                                          \
    if (!(expr)) return (code);                                                                 \
  } while (0)

/* var = call, with the heap used up (heap_hog.h) during the call only. */
#define WITHOUT_MEMORY(var, call)                                                               \
  do {                                                                                          \
    hog h_;                                                                                     \
    int hrc_ = hog_on(&h_, 1);                                                                  \
    if (hrc_ != 0) return hrc_;                                                                 \
    var = (call);                                                                               \
    hog_off(&h_);                                                                               \
  } while (0)

typedef int (*child_fn)(void);

static void in_child(child_fn fn) {
  SKIP_UNDER_ASAN();
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) child_exit(fn());
  child_wait_ok(pid);
}

/* ho_backend_new: no memory for the shell → NOMEM, *out untouched. */
static int child_new_nomem(void) {
  static int marker;
  ho_backend *b = (ho_backend *)&marker;
  int rc;
  WITHOUT_MEMORY(rc, ho_backend_new(NULL, NULL, NULL, &b));
  STEP(rc == HO_ERR_NOMEM, 1);
  STEP(b == (ho_backend *)&marker, 2);
  return 0;
}

Test(backend_shell_cov, new_without_memory) { in_child(child_new_nomem); }

/* ho_backend_add_control: no memory for the descriptor table, then none for
 * the entry → NOMEM, the descriptor stays the caller's, unknown. */
static int child_add_nomem(void) {
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  ho_backend *b;
  int rc = child_backend(&cfg, &b);
  if (rc != 0) return rc;
  int sv[2], sw[2];
  STEP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 1);
  STEP(socketpair(AF_UNIX, SOCK_STREAM, 0, sw) == 0, 2);
  int r1, r2;
  WITHOUT_MEMORY(r1, ho_backend_add_control(b, sv[1])); /* the table */
  STEP(r1 == HO_ERR_NOMEM, 3);
  STEP(ho_backend_on_control_writable(b, sv[1], 1) == HO_ERR_INVALID_ARGUMENT, 4);
  STEP(ho_backend_add_control(b, sv[1]) == HO_OK, 5);
  WITHOUT_MEMORY(r2, ho_backend_add_control(b, sw[1])); /* the entry */
  STEP(r2 == HO_ERR_NOMEM, 6);
  STEP(fx_fd_is_open(sw[1]) && (fcntl(sw[1], F_GETFL) & O_NONBLOCK) == 0, 7);
  STEP(ho_backend_on_control_writable(b, sw[1], 1) == HO_ERR_INVALID_ARGUMENT, 8);
  ho_backend_del(b);
  STEP(!fx_fd_is_open(sv[1]), 9);
  close(sv[0]), close(sw[0]), close(sw[1]);
  return 0;
}

Test(backend_shell_cov, add_control_without_memory) { in_child(child_add_nomem); }

/* No memory for the ACK buffer nor the adopted queue: the descriptor is
 * closed, the control connection too (spec: ERR-44 XFER-20: nothing
 * leaks; the broker sees EOF without ACK and falls back). */
static int child_ack_nomem(void) {
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  ho_backend *b;
  sh s;
  int c[2];
  int rc = child_shell(&cfg, &b, &s, c);
  if (rc != 0) return rc;
  if ((rc = child_offer(s.broker, c[0], 1, 5)) != 0) return rc;
  close(c[0]);
  ho_backend_adopted ad[1];
  size_t n = 9;
  int m;
  WITHOUT_MEMORY(m, ho_backend_on_control_readable(b, s.ctl, 1000, ad, 1, &n));
  STEP(m >= 0 && (m & HO_BACKEND_CLOSED), 2);
  STEP(n == 0, 3);
  STEP(eof_now(s.broker), 4);
  STEP(eof_now(c[1]), 5);
  STEP(!fx_fd_is_open(s.ctl), 6);
  ho_backend_del(b);
  close(s.broker), close(c[1]);
  return 0;
}

Test(backend_shell_cov, ack_and_adopt_without_memory) { in_child(child_ack_nomem); }

/* No memory to grow the delayed-ACK table (the 9th): the control
 * connection closes; the descriptor adopted in that call is handed back. */
static int child_delay_nomem(void) {
  ho_backend_config cfg;
  late_cfg(&cfg, 1000);
  ho_backend *b;
  sh s;
  int c[2];
  int rc = child_shell(&cfg, &b, &s, c);
  if (rc != 0) return rc;
  ho_backend_adopted ad[1];
  size_t n = 0;
  for (int i = 0; i < 8; i++) {
    if ((rc = child_offer(s.broker, c[0], (uint8_t)(10 + i), (uint64_t)10 + (uint64_t)i)) != 0)
      return rc;
    int m = ho_backend_on_control_readable(b, s.ctl, 1000, ad, 1, &n);
    STEP(m >= 0 && !(m & HO_BACKEND_CLOSED) && n == 1, 2);
    close((int)ad[0].conn);
  }
  if ((rc = child_offer(s.broker, c[0], 30, 30)) != 0) return rc;
  close(c[0]);
  int m;
  WITHOUT_MEMORY(m, ho_backend_on_control_readable(b, s.ctl, 1000, ad, 1, &n));
  STEP(m >= 0 && (m & HO_BACKEND_CLOSED), 3);
  STEP(n == 1 && ad[0].correlation_id == 30, 4);
  close((int)ad[0].conn);
  STEP(eof_now(s.broker), 5); /* no ACK at all: the connection is gone */
  STEP(eof_now(c[1]), 6);
  STEP(ho_backend_next_timeout_ms(b, 1000) >= 0, 7); /* the 8 entries, dropped at the timer */
  STEP(ho_backend_on_timer(b, 3000) == HO_OK, 8);
  STEP(ho_backend_next_timeout_ms(b, 3000) == -1, 9);
  ho_backend_del(b);
  close(s.broker), close(c[1]);
  return 0;
}

Test(backend_shell_cov, delayed_ack_table_without_memory) { in_child(child_delay_nomem); }

/* No memory for the closed list: the timer still closes the stalled
 * connection; it is not reported (the caller learns it at its next read,
 * EBADF). */
static int child_closed_nomem(void) {
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.offer_timeout_ms = 100;
  ho_backend *b;
  sh s;
  int c[2];
  int rc = child_shell(&cfg, &b, &s, c);
  if (rc != 0) return rc;
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 40);
  STEP(ho_xfer_send(s.broker, c[0], tok, NULL) == HO_OK, 2);
  close(c[0]);
  STEP(ho_backend_on_control_readable(b, s.ctl, 1000, NULL, 0, NULL) == 0, 3);
  int t;
  WITHOUT_MEMORY(t, ho_backend_on_timer(b, 1100));
  STEP(t == HO_OK, 4);
  STEP(!fx_fd_is_open(s.ctl), 5);
  ho_handle gone;
  STEP(ho_backend_closed_fd(b, &gone) == 0, 6);
  STEP(eof_now(s.broker) && eof_now(c[1]), 7);
  ho_backend_del(b);
  close(s.broker), close(c[1]);
  return 0;
}

Test(backend_shell_cov, closed_list_without_memory) { in_child(child_closed_nomem); }
