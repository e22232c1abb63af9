/* Unit tests: backend I/O shell (ref/lib/backend/backend_shell.c) over real
 * Unix sockets: the broker side uses the real transport (ho_xfer_send), the
 * backend side the shell; descriptor counts prove nothing leaks. */
#include <errno.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

#include "handoff/backend.h"
#include "handoff/frame.h"
#include "xfer_fixtures.h"

typedef struct fx_shell {
  ho_backend *b;
  int broker; /* broker end of the control connection */
  int ctl;    /* backend end (owned by the shell) */
} fx_shell;

static void shell_up(fx_shell *s, ho_ready_mode mode, ho_backend_fault fault, uint32_t ms) {
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = mode;
  cfg.fault = fault;
  cfg.fault_ms = ms;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &s->b), HO_OK);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  s->broker = sv[0];
  s->ctl = sv[1];
  cr_assert_eq(ho_backend_add_control(s->b, s->ctl), HO_OK);
}

static void shell_down(fx_shell *s) {
  ho_backend_del(s->b); /* closes the control connection */
  close(s->broker);
}

/* Broker side of one handoff: sideband with `conn` via the real transport,
 * then the offer frame. */
static void broker_offer(fx_shell *s, int conn, const uint8_t tok[HO_TOKEN_BYTES], uint64_t corr,
                         uint64_t flags) {
  cr_assert_eq(ho_xfer_send(s->broker, conn, tok, NULL), HO_OK);
  uint8_t fr[256];
  size_t n = fx_offer_frame(fr, sizeof fr, tok, corr, flags);
  cr_assert_eq(send(s->broker, fr, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void broker_ack(fx_shell *s, ho_ack *ack) {
  uint8_t buf[1024];
  size_t n = fx_read_frame(s->broker, buf, sizeof buf);
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_ACK, buf, n, NULL, &m), HO_OK);
  *ack = m.ack;
}


/* spec: XFER-1 XFER-17 BACKEND-6 XFER-21 — several offers in flight on one
 * control connection: every descriptor adopted, every ACK whole and
 * matched, nothing but ACK frames on the control connection. */
Test(backend, three_offers_in_flight_one_control) {
  int before = fx_count_fds();
  fx_shell s;
  shell_up(&s, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int cl[3][2];
  uint8_t tok[3][HO_TOKEN_BYTES];
  for (int i = 0; i < 3; i++) {
    fx_socketpair(SOCK_STREAM, cl[i]);
    fx_token(tok[i], (uint8_t)(i + 1));
    broker_offer(&s, cl[i][0], tok[i], (uint64_t)i + 100, 0);
    close(cl[i][0]); /* the broker closes its copy */
  }
  ho_backend_adopted ad[8];
  size_t n = 0, got;
  int mask, calls = 0;
  do { /* one offer per call (HO_BACKEND_READ_AGAIN), as edge-triggered users do */
    got = 0;
    mask = ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad + n, 8 - n, &got);
    cr_assert_geq(mask, 0);
    cr_assert_eq(mask & HO_BACKEND_CLOSED, 0);
    n += got;
    calls++;
  } while ((mask & HO_BACKEND_READ_AGAIN) && calls < 10);
  cr_assert_eq(n, 3);
  cr_assert_eq(calls, 4, "three offers, then a call that finds nothing more");
  for (int i = 0; i < 3; i++) {
    ho_ack ack;
    broker_ack(&s, &ack);
    cr_assert(ack.accepted);
    cr_assert_eq(ack.correlation_id, (uint64_t)i + 100);
    cr_assert_arr_eq(ack.token, tok[i], HO_TOKEN_BYTES);
    cr_assert_eq(ad[i].correlation_id, (uint64_t)i + 100);
    /* The adopted descriptor is the client's connection. */
    cr_assert_eq(send(cl[i][1], "x", 1, 0), 1);
    char c;
    cr_assert_eq(recv((int)ad[i].conn, &c, 1, 0), 1);
    close((int)ad[i].conn);
    close(cl[i][1]);
  }
  shell_down(&s);
  cr_assert_eq(fx_count_fds(), before);
}

/* Refusals through the real transport: every bad descriptor ends in a
 * refused ACK naming the problem, and nothing leaks. */
static void refusal_case(const int *fds, size_t nfds, const char *name) {
  fx_shell s;
  shell_up(&s, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  uint8_t tok[HO_TOKEN_BYTES], fr[256];
  fx_token(tok, 9);
  int mid = fx_count_fds();
  cr_assert_eq(fx_send_fds(s.broker, tok, HO_TOKEN_BYTES, fds, nfds), HO_TOKEN_BYTES);
  size_t flen = fx_offer_frame(fr, sizeof fr, tok, 5, 0);
  cr_assert_eq(send(s.broker, fr, flen, 0), (ssize_t)flen);
  ho_backend_adopted ad[2];
  size_t n = 9;
  int mask = ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad, 2, &n);
  cr_assert_eq(mask & HO_BACKEND_CLOSED, 0);
  cr_assert_eq(n, 0);
  ho_ack ack;
  broker_ack(&s, &ack);
  cr_assert_not(ack.accepted);
  cr_assert_eq(ack.correlation_id, 5);
  cr_assert_str_eq(ack.error_detail, name);
  cr_assert_eq(fx_count_fds(), mid, "%s: received descriptors closed", name);
  shell_down(&s);
}

/* spec: XFER-28 ERR-45 ERR-31 ERR-32 ERR-33 ERR-1 BACKEND-3 */
Test(backend, bad_descriptors_refused_without_leak) {
  int before = fx_count_fds();
  int p[2], d[2], a[2], b[2];
  cr_assert_eq(pipe(p), 0);
  fx_socketpair(SOCK_DGRAM, d);
  fx_socketpair(SOCK_STREAM, a);
  fx_socketpair(SOCK_STREAM, b);
  int two[2] = {a[0], b[0]};
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sa_family_t fam = AF_UNIX;
  cr_assert_eq(bind(l, (struct sockaddr *)&fam, sizeof fam), 0);
  cr_assert_eq(listen(l, 1), 0);
  refusal_case(&p[0], 1, "BAD_DESCRIPTOR");
  refusal_case(&d[0], 1, "BAD_DESCRIPTOR");
  refusal_case(&l, 1, "BAD_DESCRIPTOR");
  refusal_case(two, 2, "EXTRA_DESCRIPTORS");
  refusal_case(NULL, 0, "NO_DESCRIPTOR");
  close(p[0]), close(p[1]), close(d[0]), close(d[1]), close(l);
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-28 ERR-45 — at RLIMIT_NOFILE the descriptor is dropped
 * (MSG_CTRUNC): refused ACK, no leak, the control connection keeps working. */
Test(backend, fd_exhausted_at_rlimit_refused) {
  fx_shell s;
  shell_up(&s, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int cl[2];
  fx_socketpair(SOCK_STREAM, cl);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 11);
  broker_offer(&s, cl[0], tok, 8, 0);
  close(cl[0]);
  int before = fx_count_fds();
  struct rlimit rl, low;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  int highest = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fx_fd_is_open(fd)) highest = fd;
  low.rlim_cur = (rlim_t)highest + 1;
  low.rlim_max = rl.rlim_max;
  int fill[1024], nf = 0;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int f; (f = dup(0)) >= 0;) fill[nf++] = f;
  ho_backend_adopted ad[2];
  size_t n = 0;
  int mask = ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad, 2, &n);
  for (int i = 0; i < nf; i++) close(fill[i]);
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  cr_assert_eq(mask & HO_BACKEND_CLOSED, 0);
  cr_assert_eq(n, 0);
  ho_ack ack;
  broker_ack(&s, &ack);
  cr_assert_not(ack.accepted);
  cr_assert_str_eq(ack.error_detail, "FD_EXHAUSTED"); /* spec: XFER-28 ERR-45 */
  cr_assert_eq(fx_count_fds(), before);
  char c;
  cr_assert_eq(recv(cl[1], &c, 1, MSG_DONTWAIT), 0, "client sees EOF: no copy survives");
  /* The next handoff on the same control connection works. */
  int cl2[2];
  fx_socketpair(SOCK_STREAM, cl2);
  fx_token(tok, 12);
  broker_offer(&s, cl2[0], tok, 9, 0);
  close(cl2[0]);
  mask = ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad, 2, &n);
  cr_assert_eq(n, 1);
  broker_ack(&s, &ack);
  cr_assert(ack.accepted);
  close((int)ad[0].conn);
  close(cl[1]), close(cl2[1]);
  shell_down(&s);
}

/* spec: READY-9 BACKEND-1 — backend-ready: the client wrote its request
 * before the handoff; on the client side the ready frame's bytes come before
 * any service byte, even though the request was already waiting. */
Test(backend, backend_ready_frame_precedes_service_bytes) {
  int before = fx_count_fds();
  fx_shell s;
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = HO_READY_BACKEND;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &s.b), HO_OK);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  s.broker = sv[0];
  s.ctl = sv[1];
  cr_assert_eq(ho_backend_add_control(s.b, s.ctl), HO_OK);
  int cl[2];
  fx_socketpair(SOCK_STREAM, cl);
  cr_assert_eq(send(cl[1], "ping", 4, 0), 4); /* early request, queued */
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 13);
  cr_assert_eq(ho_xfer_send(s.broker, cl[0], tok, NULL), HO_OK);
  /* Backend-ready offer with a ready deadline 1 s ahead (READY-10). */
  ho_offer o;
  memset(&o, 0, sizeof o);
  memcpy(o.token, tok, 16);
  strcpy(o.service_name, "echo");
  o.correlation_id = 21;
  o.offer_flags = HO_OFFER_FLAG_BACKEND_READY;
  uint8_t payload[128], fr[256];
  size_t plen, blen;
  cr_assert_eq(ho_offer_encode(HO_CODEC_PROTOBUF_C, &o, payload, sizeof payload, &plen), HO_OK);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ho_envelope env = {.envelope_version = 1, .kind = HO_KIND_REQUEST,
                     .payload_protocol = HO_PAYLOAD_HANDOFF, .payload = payload,
                     .payload_len = plen, .request_id = 21,
                     .deadline_unix_ms = (uint64_t)ts.tv_sec * 1000u + ts.tv_nsec / 1000000 + 1000};
  cr_assert_eq(ho_envelope_encode(HO_CODEC_PROTOBUF_C, &env, fr + 5, sizeof fr - 5, &blen), HO_OK);
  ho_frame_write_header(fr, blen);
  cr_assert_eq(send(s.broker, fr, blen + 5, 0), (ssize_t)(blen + 5));
  close(cl[0]);
  ho_backend_adopted ad[2];
  size_t n = 0;
  ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad, 2, &n);
  cr_assert_eq(n, 1);
  cr_assert(ad[0].ready_written);
  ho_ack ack;
  broker_ack(&s, &ack);
  cr_assert(ack.accepted);
  cr_assert_eq(ack.backend_capabilities, HO_BACKEND_CAP_BACKEND_READY | HO_BACKEND_CAP_MULTI_OFFER |
                                           HO_BACKEND_CAP_COALESCED_REPLY); /* spec: CAP-11 */
  /* Play the service: echo what was read. */
  char req[4];
  cr_assert_eq(recv((int)ad[0].conn, req, 4, 0), 4, "the early request travelled with the fd");
  cr_assert_eq(send((int)ad[0].conn, req, 4, 0), 4);
  /* Client side: exactly one ready frame, then the echo. */
  uint8_t buf[256];
  size_t flen = fx_read_frame(cl[1], buf, sizeof buf);
  ho_any_msg m;
  cr_assert_eq(ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_READY, buf, flen, NULL, &m), HO_OK);
  cr_assert_arr_eq(m.ack.token, tok, 16);
  cr_assert(m.ack.accepted);
  char echo[4];
  cr_assert_eq(recv(cl[1], echo, 4, 0), 4);
  cr_assert_arr_eq(echo, "ping", 4);
  close((int)ad[0].conn), close(cl[1]);
  shell_down(&s);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: READY-3 — legacy mode: the backend writes nothing on the adopted
 * connection and reads nothing from it. */
Test(backend, legacy_writes_nothing_before_reading) {
  int before = fx_count_fds();
  fx_shell s;
  shell_up(&s, HO_READY_LEGACY, HO_FAULT_NONE, 0);
  int cl[2];
  fx_socketpair(SOCK_STREAM, cl);
  cr_assert_eq(send(cl[1], "req", 3, 0), 3);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 14);
  broker_offer(&s, cl[0], tok, 22, 0);
  close(cl[0]);
  ho_backend_adopted ad[2];
  size_t n = 0;
  ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad, 2, &n);
  cr_assert_eq(n, 1);
  cr_assert_not(ad[0].ready_written);
  ho_ack ack;
  broker_ack(&s, &ack);
  cr_assert(ack.accepted);
  char c[4];
  cr_assert_eq(recv(cl[1], c, 1, MSG_DONTWAIT), -1);
  cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "nothing was written to the client");
  cr_assert_eq(recv((int)ad[0].conn, c, 4, MSG_DONTWAIT), 3, "the request is still unread");
  close((int)ad[0].conn), close(cl[1]);
  shell_down(&s);
  cr_assert_eq(fx_count_fds(), before);
}

/* A late-ACK fault holds the ACK until the timer; EOF closes the control
 * connection (spec: XFER-20 ERR-44). */
Test(backend, late_ack_then_eof) {
  int before = fx_count_fds();
  fx_shell s;
  shell_up(&s, HO_READY_LEGACY, HO_FAULT_LATE_ACK, 30);
  int cl[2];
  fx_socketpair(SOCK_STREAM, cl);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 15);
  broker_offer(&s, cl[0], tok, 23, 0);
  close(cl[0]);
  ho_backend_adopted ad[2];
  size_t n = 0;
  uint64_t t0 = ho_monotonic_ms();
  ho_backend_on_control_readable(s.b, s.ctl, t0, ad, 2, &n);
  cr_assert_eq(n, 1);
  struct pollfd p = {.fd = s.broker, .events = POLLIN};
  cr_assert_eq(poll(&p, 1, 0), 0, "no ACK yet");
  int t = ho_backend_next_timeout_ms(s.b, t0);
  cr_assert(t > 0 && t <= 30, "timeout %d", t);
  cr_assert_eq(ho_backend_on_timer(s.b, t0 + 30), HO_OK);
  ho_ack ack;
  broker_ack(&s, &ack);
  cr_assert(ack.accepted);
  cr_assert_eq(ho_backend_next_timeout_ms(s.b, t0), -1);
  close(s.broker);
  s.broker = -1;
  int mask = ho_backend_on_control_readable(s.b, s.ctl, t0, ad, 2, &n);
  cr_assert(mask & HO_BACKEND_CLOSED);
  cr_assert_not(fx_fd_is_open(s.ctl), "the shell closed the control connection");
  cr_assert_eq(ho_backend_on_control_readable(s.b, s.ctl, t0, ad, 2, &n), HO_ERR_INVALID_ARGUMENT);
  close((int)ad[0].conn), close(cl[1]);
  ho_backend_del(s.b);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: SEC-4 — control connections are accepted only from peers allowed
 * by the policy, checked before anything is read; a rejected descriptor
 * stays the caller's. */
Test(backend, control_peer_policy) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cr_assert_eq(cfg.peer_policy, HO_PEER_SAME_UID, "default: same user");
  cfg.peer_policy = HO_PEER_UID;
  cfg.peer_uid = geteuid() + 1;
  ho_backend *b;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_OK);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  cr_assert_eq(ho_backend_add_control(b, sv[1]), HO_ERR_PEER_REJECTED);
  cr_assert(fx_fd_is_open(sv[1]));
  ho_backend_del(b);
  cfg.peer_uid = geteuid();
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &b), HO_OK);
  cr_assert_eq(ho_backend_add_control(b, sv[1]), HO_OK);
  ho_backend_del(b); /* closes sv[1] */
  cr_assert_not(fx_fd_is_open(sv[1]));
  close(sv[0]);
  cr_assert_eq(fx_count_fds(), before);
}

/* defer_ack_flush: adopted connections come back before their ACKs are
 * written; ho_backend_flush_control() then writes them (spec: XFER-19). */
Test(backend, deferred_ack_flush) {
  int before = fx_count_fds();
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.defer_ack_flush = true;
  fx_shell s;
  cr_assert_eq(ho_backend_new(&cfg, NULL, NULL, &s.b), HO_OK);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  s.broker = sv[0];
  s.ctl = sv[1];
  cr_assert_eq(ho_backend_add_control(s.b, s.ctl), HO_OK);
  int cl[2];
  fx_socketpair(SOCK_STREAM, cl);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 31);
  broker_offer(&s, cl[0], tok, 41, 0);
  close(cl[0]);
  ho_backend_adopted ad[2];
  size_t n = 0;
  int mask = ho_backend_on_control_readable(s.b, s.ctl, ho_monotonic_ms(), ad, 2, &n);
  cr_assert_eq(n, 1);
  cr_assert(mask & HO_BACKEND_ACK_PENDING);
  struct pollfd p = {.fd = s.broker, .events = POLLIN};
  cr_assert_eq(poll(&p, 1, 0), 0, "ACK not written yet");
  mask = ho_backend_flush_control(s.b, s.ctl, ho_monotonic_ms());
  cr_assert_eq(mask & (HO_BACKEND_CLOSED | HO_BACKEND_WANT_WRITE), 0);
  ho_ack ack;
  broker_ack(&s, &ack);
  cr_assert(ack.accepted);
  cr_assert_eq(ack.correlation_id, 41);
  close((int)ad[0].conn), close(cl[1]);
  shell_down(&s);
  cr_assert_eq(fx_count_fds(), before);
}
