/* test-nohp-handoff (issue #15 item 5): the no-heap peer library runs
 * complete handoffs with zero heap calls.
 *
 * The backend is the library's backend core (ho_backend_core, the one of
 * libhandoff) driven by a minimal poll loop below (the shell of
 * backend_shell.c allocates its tables, so it is not used), on a thread
 * whose stack is a painted static buffer. This thread is the broker and the
 * client: real Unix stream sockets, the client connection passed with real
 * SCM_RIGHTS (ho_xfer_send / ho_xfer_recv), ACKs and ready frames read and
 * decoded, every refused client falling back to the backend's own endpoint
 * (backend_pipe) and served there. Rounds of six handoffs, each round on a
 * new control connection: accepted legacy, accepted backend-ready,
 * accepted coalesced (a 1 KiB offer: the offer buffer), refused for a
 * sideband mismatch, refused as a replay, and a declined coalesced offer.
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free:
 * every heap call made from this program's and the libraries' own code is
 * counted (libc's internal calls are not: nm shows the archive references
 * no heap function at all, make test-nohp-runtime).
 *
 *   nohp_handoff --allocator arena|default --expect zero|some [--null-refused]
 *
 * --expect zero: no heap call after init (and the arena does not grow
 * after the first round); --expect some: the positive control, the same
 * run with the default allocator on libhandoff.a, must count calls.
 * spec: XFER-3 XFER-29 XFER-12 XFER-15 XFER-17 XFER-18 READY-9 READY-28 READY-29 BACKEND-11
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define NOHP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NOHP_ASAN 1
#endif
#endif
#ifdef NOHP_ASAN
#include <sanitizer/asan_interface.h>
#define NOHP_ASAN_NOTE ", under ASan: frames with redzones, no budget"
#else
#define NOHP_ASAN_NOTE ""
#endif

#include "handoff/arena.h"
#include "handoff/backend.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/transport.h"

/* ---- heap counter ------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
static atomic_size_t heap_calls;
void *__wrap_malloc(size_t n) {
  atomic_fetch_add(&heap_calls, 1);
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  atomic_fetch_add(&heap_calls, 1);
  return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  atomic_fetch_add(&heap_calls, 1);
  return __real_realloc(p, n);
}
void __wrap_free(void *p) {
  if (p != NULL) atomic_fetch_add(&heap_calls, 1);
  __real_free(p);
}

static int checks, failures;
#define CHECK(cond, ...)                                                                        \
  do {                                                                                         \
    checks++;                                                                                  \
    if (!(cond)) {                                                                             \
      failures++;                                                                              \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                    \
      fprintf(stderr, __VA_ARGS__);                                                            \
      fputc('\n', stderr);                                                                     \
    }                                                                                          \
  } while (0)

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static uint64_t wall_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
static void close_handle(void *ctx, ho_handle h) {
  (void)ctx;
  close((int)h);
}

static int write_all(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return HO_ERR_IO;
    p += n;
    len -= (size_t)n;
  }
  return HO_OK;
}

/* ---- the backend: core + minimal loop, all memory static or the arena -- */

enum { MAX_CTL = 4, MAX_SRV = 16, ROUNDS = 3 };
#define STACK_BYTES (512u * 1024u)
#define PAINT 0xA5

static struct {
  ho_backend_core *core;
  ho_arena arena;
  int use_arena;
  ho_listener lctl, lpipe;
  int stop_fd;
  int ctl_fd[MAX_CTL];
  ho_backend_ctl *ctl[MAX_CTL];
  int srv[MAX_SRV];
  unsigned ctl_opened, ctl_deleted, adopted, accepted_direct, echoes;
  size_t used_after_first_del;
  int loop_errors;
  uintptr_t sp_entry;
} B;

static unsigned char arena_mem[1024 * 1024] __attribute__((aligned(64)));
static unsigned char bstack[STACK_BYTES] __attribute__((aligned(4096)));
static uint8_t rbuf[64 * 1024];
static ho_backend_action act;

static void srv_add(int fd) {
  for (int i = 0; i < MAX_SRV; i++)
    if (B.srv[i] < 0) {
      B.srv[i] = fd;
      return;
    }
  B.loop_errors++;
  close(fd);
}

static void ctl_close(int i) {
  ho_backend_ctl_del(B.ctl[i]);
  B.ctl[i] = NULL;
  B.ctl_fd[i] = -1;
  if (B.ctl_deleted++ == 0) B.used_after_first_del = B.arena.used;
}

/* Execute every queued action of control connection i, as a shell would. */
static void run_actions(int i) {
  int closed = 0;
  while (ho_backend_ctl_next_action(B.ctl[i], &act)) {
    switch (act.type) {
    case HO_BACKEND_ACT_WRITE_CONTROL:
      if (write_all(B.ctl_fd[i], act.bytes, act.len) != HO_OK) B.loop_errors++;
      break;
    case HO_BACKEND_ACT_WRITE_CLIENT: /* spec: READY-9 — first bytes on the adopted conn */
      (void)ho_backend_ctl_client_written(B.ctl[i], mono_ms(),
                                          write_all((int)act.conn, act.bytes, act.len));
      break;
    case HO_BACKEND_ACT_ADOPT:
      B.adopted++;
      srv_add((int)act.conn);
      break;
    case HO_BACKEND_ACT_CLOSE_FD: close((int)act.conn); break;
    case HO_BACKEND_ACT_DECLINE: /* spec: READY-29 — one write, nothing read */
      (void)write_all((int)act.conn, act.bytes, act.len);
      close((int)act.conn);
      break;
    case HO_BACKEND_ACT_CLOSE_CONTROL:
      close(B.ctl_fd[i]);
      closed = 1;
      break;
    case HO_BACKEND_ACT_OFFER: break;
    default: B.loop_errors++; break;
    }
  }
  if (closed) ctl_close(i);
}

/* Read exactly what the core wants, descriptor included, until EAGAIN. */
static void ctl_readable(int i) {
  while (B.ctl[i] != NULL) {
    size_t want = ho_backend_ctl_wanted(B.ctl[i]);
    if (want == 0) return;
    ho_xfer_rx rx;
    int rc = ho_xfer_recv(B.ctl_fd[i], rbuf, want, &rx, 0);
    if (rc == HO_ERR_WOULD_BLOCK) return;
    if (rc != HO_OK) {
      ho_backend_ctl_eof(B.ctl[i]);
      run_actions(i);
      return;
    }
    size_t used = 0;
    rc = ho_backend_ctl_feed(B.ctl[i], mono_ms(), rbuf, rx.len, rx.conn, rx.conn_status, &used);
    if (rc != HO_OK || used != rx.len) B.loop_errors++;
    run_actions(i);
  }
}

static void srv_readable(int i) {
  char buf[512];
  ssize_t n = recv(B.srv[i], buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close(B.srv[i]);
    B.srv[i] = -1;
    return;
  }
  if (write_all(B.srv[i], buf, (size_t)n) == HO_OK) B.echoes++;
}

static int accept_ctl(void) {
  ho_handle fd;
  if (ho_listener_accept(&B.lctl, &fd) != HO_OK) return 0;
  /* spec: SEC-4 — the peer is checked before anything is read. */
  if (ho_peer_check(fd, HO_PEER_SAME_UID, 0, NULL) != HO_OK) {
    close((int)fd);
    B.loop_errors++;
    return 1;
  }
  for (int i = 0; i < MAX_CTL; i++) {
    if (B.ctl[i] != NULL) continue;
    if (ho_backend_ctl_new(B.core, &B.ctl[i]) != HO_OK) break;
    B.ctl_fd[i] = (int)fd;
    B.ctl_opened++;
    return 1;
  }
  B.loop_errors++;
  close((int)fd);
  return 1;
}

static void *backend_main(void *arg) {
  (void)arg;
  volatile char entry = 0;
  B.sp_entry = (uintptr_t)&entry;
  for (;;) {
    struct pollfd p[3 + MAX_CTL + MAX_SRV];
    int who[3 + MAX_CTL + MAX_SRV];
    nfds_t n = 0;
    /* Control connections first: a closed one is deleted before a new one
     * is accepted in the same round, so its memory is reused. */
    for (int i = 0; i < MAX_CTL; i++)
      if (B.ctl[i] != NULL) p[n] = (struct pollfd){B.ctl_fd[i], POLLIN, 0}, who[n++] = i;
    for (int i = 0; i < MAX_SRV; i++)
      if (B.srv[i] >= 0) p[n] = (struct pollfd){B.srv[i], POLLIN, 0}, who[n++] = 100 + i;
    p[n] = (struct pollfd){(int)B.lctl.fd, POLLIN, 0}, who[n++] = 200;
    p[n] = (struct pollfd){(int)B.lpipe.fd, POLLIN, 0}, who[n++] = 201;
    p[n] = (struct pollfd){B.stop_fd, POLLIN, 0}, who[n++] = 202;
    int r = poll(p, n, 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      B.loop_errors++;
      break;
    }
    int stop = 0;
    for (nfds_t k = 0; k < n; k++) {
      if (p[k].revents == 0) continue;
      if (who[k] < 100) ctl_readable(who[k]);
      else if (who[k] < 200) srv_readable(who[k] - 100);
      else if (who[k] == 200) while (accept_ctl()) {}
      else if (who[k] == 201) {
        ho_handle fd;
        while (ho_listener_accept(&B.lpipe, &fd) == HO_OK) { /* a fallback client */
          B.accepted_direct++;
          srv_add((int)fd);
        }
      } else stop = 1;
    }
    if (stop) break;
  }
  for (int i = 0; i < MAX_CTL; i++) {
    if (B.ctl[i] == NULL) continue;
    ho_backend_ctl_eof(B.ctl[i]);
    run_actions(i);
    if (B.ctl[i] != NULL) {
      close(B.ctl_fd[i]);
      ctl_close(i);
    }
  }
  for (int i = 0; i < MAX_SRV; i++)
    if (B.srv[i] >= 0) close(B.srv[i]), B.srv[i] = -1;
  return NULL;
}

/* ---- broker and client (this thread) ----------------------------------- */

static char dir[64], ctl_path[128], pipe_path[128];
static uint8_t obuf[8192];

static void set_timeout(int fd) {
  struct timeval tv = {5, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int read_exact(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r == 0 ? HO_ERR_CLOSED : HO_ERR_IO;
    p += r;
    n -= (size_t)r;
  }
  return HO_OK;
}

/* One whole frame into buf; *len its size. */
static int read_frame(int fd, uint8_t *buf, size_t cap, size_t *len) {
  int rc = read_exact(fd, buf, HO_FRAME_HEADER_BYTES);
  if (rc != HO_OK) return rc;
  size_t body = (size_t)buf[1] | (size_t)buf[2] << 8 | (size_t)buf[3] << 16 | (size_t)buf[4] << 24;
  if (body > cap - HO_FRAME_HEADER_BYTES) return HO_ERR_FRAME_TOO_LARGE;
  *len = HO_FRAME_HEADER_BYTES + body;
  return read_exact(fd, buf + HO_FRAME_HEADER_BYTES, body);
}

/* A Negotiated reply frame (coalesced mode), with the token or without. */
static size_t reply_frame(uint8_t *out, size_t cap, const uint8_t *tok) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  m.hello_reply.which = HO_REPLY_NEGOTIATED;
  ho_negotiated *g = &m.hello_reply.negotiated;
  g->negotiated_protocol = HO_PROTOCOL_VERSION;
  snprintf(g->daemon_version, sizeof g->daemon_version, "nohp-test");
  snprintf(g->backend_pipe, sizeof g->backend_pipe, "%s", pipe_path);
  g->warnings_count = 1; /* makes the offer about 1 KiB: the offer buffer is used */
  memset(g->warnings[0], 'w', 200);
  g->server_capabilities = HO_CAP_HANDLE_PASSING;
  if (tok != NULL) {
    memcpy(g->handle_passed_token, tok, HO_TOKEN_BYTES);
    g->handle_passed_token_len = HO_TOKEN_BYTES;
  }
  size_t n = 0;
  int rc = ho_frame_encode(HO_CODEC_NANOPB, HO_FT_HELLO_REPLY, &m, out, cap, &n);
  CHECK(rc == HO_OK, "reply frame: %s", ho_errname(rc));
  return n;
}

/* The broker frames backend-ready offers itself: they carry a deadline. */
static size_t offer_frame(const uint8_t *tok, const char *service, uint64_t corr, uint64_t flags) {
  static ho_offer o;
  memset(&o, 0, sizeof o);
  memcpy(o.token, tok, HO_TOKEN_BYTES);
  snprintf(o.service_name, sizeof o.service_name, "%s", service);
  o.correlation_id = corr;
  o.offer_flags = flags;
  if (flags & HO_OFFER_FLAG_COALESCED_REPLY) {
    o.reply_adopted_len = reply_frame(o.reply_adopted, sizeof o.reply_adopted, tok);
    o.reply_declined_len = reply_frame(o.reply_declined, sizeof o.reply_declined, NULL);
  }
  static uint8_t payload[2 * HO_MAX_REPLY_FRAME + 512];
  size_t plen = 0, blen = 0;
  int rc = ho_offer_encode(HO_CODEC_NANOPB, &o, payload, sizeof payload, &plen);
  CHECK(rc == HO_OK, "offer encode: %s", ho_errname(rc));
  ho_envelope env;
  memset(&env, 0, sizeof env);
  env.envelope_version = HO_ENVELOPE_VERSION;
  env.kind = HO_KIND_REQUEST;
  env.payload_protocol = HO_PAYLOAD_HANDOFF;
  env.payload = payload;
  env.payload_len = plen;
  env.request_id = corr;
  env.deadline_unix_ms = wall_ms(NULL) + 5000;
  rc = ho_envelope_encode(HO_CODEC_NANOPB, &env, obuf + HO_FRAME_HEADER_BYTES,
                          sizeof obuf - HO_FRAME_HEADER_BYTES, &blen);
  CHECK(rc == HO_OK, "envelope encode: %s", ho_errname(rc));
  (void)ho_frame_write_header(obuf, blen);
  return HO_FRAME_HEADER_BYTES + blen;
}

/* The client's side of a connection that is served: a request, its echo. */
static void client_echo(int fd, uint64_t corr, const char *how) {
  char req[32], got[32];
  int n = snprintf(req, sizeof req, "request-%llu", (unsigned long long)corr);
  CHECK(write_all(fd, req, (size_t)n) == HO_OK, "%s %llu: write request", how,
        (unsigned long long)corr);
  CHECK(read_exact(fd, (uint8_t *)got, (size_t)n) == HO_OK && memcmp(got, req, (size_t)n) == 0,
        "%s %llu: no echo", how, (unsigned long long)corr);
}

static void expect_ready(int fd, const uint8_t *tok, uint64_t corr) {
  static uint8_t f[HO_BACKEND_ACT_MAX_BYTES];
  size_t n = 0;
  ho_any_msg m;
  int rc = read_frame(fd, f, sizeof f, &n);
  if (rc == HO_OK) rc = ho_frame_decode(HO_CODEC_NANOPB, HO_FT_READY, f, n, NULL, &m);
  CHECK(rc == HO_OK && m.ack.accepted && m.ack.correlation_id == corr &&
            ho_token_equal(m.ack.token, tok),
        "handoff %llu: no ready frame (%s)", (unsigned long long)corr, ho_errname(rc));
}

/* spec: CLIENT-2 — a Negotiated reply written by the backend (coalesced). */
static void expect_negotiated(int fd, const uint8_t *tok, uint64_t corr) {
  static uint8_t f[HO_MAX_REPLY_FRAME];
  size_t n = 0;
  static ho_any_msg m;
  int rc = read_frame(fd, f, sizeof f, &n);
  if (rc == HO_OK) rc = ho_frame_decode(HO_CODEC_NANOPB, HO_FT_HELLO_REPLY, f, n, NULL, &m);
  const ho_negotiated *g = &m.hello_reply.negotiated;
  CHECK(rc == HO_OK && m.hello_reply.which == HO_REPLY_NEGOTIATED &&
            g->handle_passed_token_len == (tok ? HO_TOKEN_BYTES : 0u) &&
            (tok == NULL || ho_token_equal(g->handle_passed_token, tok)),
        "handoff %llu: no Negotiated reply (%s)", (unsigned long long)corr, ho_errname(rc));
}

typedef enum { LEGACY, READY, COALESCED } mode;

/* One complete handoff. `sb` is the sideband token (normally `tok`);
 * `refusal` NULL for an accepted one, else the expected error name. */
static void handoff(int bctl, const uint8_t *tok, const uint8_t *sb, const char *service,
                    uint64_t corr, mode md, const char *refusal) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    CHECK(0, "socketpair: %s", strerror(errno));
    return;
  }
  set_timeout(sv[0]);
  uint64_t flags = md == LEGACY  ? 0
                   : md == READY ? HO_OFFER_FLAG_BACKEND_READY
                                 : HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY;
  size_t flen = offer_frame(tok, service, corr, flags);
  /* spec: XFER-3 XFER-1 — the descriptor with the 16 sideband bytes, then the offer. */
  int rc = ho_xfer_send(bctl, sv[1], sb, NULL);
  CHECK(rc == HO_OK, "handoff %llu: ho_xfer_send: %s", (unsigned long long)corr, ho_errname(rc));
  CHECK(write_all(bctl, obuf, flen) == HO_OK, "write offer");
  static uint8_t f[1024];
  size_t n = 0;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  rc = read_frame(bctl, f, sizeof f, &n);
  if (rc == HO_OK) rc = ho_frame_decode(HO_CODEC_NANOPB, HO_FT_ACK, f, n, NULL, &m);
  CHECK(rc == HO_OK, "handoff %llu: no ACK (%s)", (unsigned long long)corr, ho_errname(rc));
  /* spec: XFER-17 XFER-18 — token and correlation echoed; a refusal names its error. */
  CHECK(m.ack.correlation_id == corr && ho_token_equal(m.ack.token, tok), "ACK echo %llu",
        (unsigned long long)corr);
  CHECK(m.ack.accepted == (refusal == NULL), "handoff %llu: accepted=%d", (unsigned long long)corr,
        m.ack.accepted);
  if (refusal != NULL)
    CHECK(strcmp(m.ack.error_detail, refusal) == 0, "handoff %llu: refused %s, expected %s",
          (unsigned long long)corr, m.ack.error_detail, refusal);
  if (refusal == NULL && md == LEGACY) { /* the broker writes ready (original v1) */
    ho_any_msg r;
    memset(&r, 0, sizeof r);
    memcpy(r.ack.token, tok, HO_TOKEN_BYTES);
    r.ack.accepted = true;
    r.ack.correlation_id = corr;
    rc = ho_frame_encode(HO_CODEC_NANOPB, HO_FT_READY, &r, f, sizeof f, &n);
    CHECK(rc == HO_OK && write_all(sv[1], f, n) == HO_OK, "broker ready write");
  }
  close(sv[1]); /* the broker's copy */
  if (refusal == NULL) {
    if (md == COALESCED) expect_negotiated(sv[0], tok, corr);
    expect_ready(sv[0], tok, corr);
    client_echo(sv[0], corr, "adopted");
    close(sv[0]);
    return;
  }
  /* Refused: a declined coalesced offer writes reply_declined first; then
   * the connection closes and the client reconnects to backend_pipe. */
  if (md == COALESCED) expect_negotiated(sv[0], NULL, corr);
  uint8_t b;
  CHECK(recv(sv[0], &b, 1, 0) == 0, "handoff %llu: refused connection not closed",
        (unsigned long long)corr);
  close(sv[0]);
  ho_handle fb;
  rc = ho_unix_connect(pipe_path, 0, &fb);
  CHECK(rc == HO_OK, "fallback connect: %s", ho_errname(rc));
  if (rc != HO_OK) return;
  set_timeout((int)fb);
  client_echo((int)fb, corr, "fallback");
  close((int)fb);
}

static void one_round(int round) {
  ho_handle bctl;
  int rc = ho_unix_connect(ctl_path, 0, &bctl);
  CHECK(rc == HO_OK, "control connect: %s", ho_errname(rc));
  if (rc != HO_OK) return;
  set_timeout((int)bctl);
  uint8_t t[4][HO_TOKEN_BYTES], other[HO_TOKEN_BYTES];
  for (int i = 0; i < 4; i++) CHECK(ho_random_os(NULL, t[i], HO_TOKEN_BYTES) == 0, "random");
  memcpy(other, t[3], HO_TOKEN_BYTES);
  other[0] ^= 0x5A;
  uint64_t c = (uint64_t)round * 100 + 1;
  handoff((int)bctl, t[0], t[0], "echo", c++, LEGACY, NULL);
  handoff((int)bctl, t[1], t[1], "echo", c++, READY, NULL);
  handoff((int)bctl, t[2], t[2], "echo", c++, COALESCED, NULL);
  handoff((int)bctl, t[3], other, "echo", c++, LEGACY, "SIDEBAND_MISMATCH"); /* spec: XFER-12 */
  handoff((int)bctl, t[0], t[0], "echo", c++, READY, "TOKEN_NOT_PENDING");  /* spec: XFER-15 */
  handoff((int)bctl, t[3], t[3], "other", c++, COALESCED, "SERVICE_NAME");  /* spec: READY-29 */
  close((int)bctl);
}

static int open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) != -1;
  return n;
}

int main(int argc, char **argv) {
  const char *alloc_mode = NULL, *expect = NULL;
  int null_refused = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--allocator") == 0 && i + 1 < argc) alloc_mode = argv[++i];
    else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) expect = argv[++i];
    else if (strcmp(argv[i], "--null-refused") == 0) null_refused = 1;
    else alloc_mode = NULL, i = argc;
  }
  int arena_mode = alloc_mode && strcmp(alloc_mode, "arena") == 0;
  if (alloc_mode == NULL || (!arena_mode && strcmp(alloc_mode, "default") != 0) || expect == NULL ||
      (strcmp(expect, "zero") != 0 && strcmp(expect, "some") != 0)) {
    fprintf(stderr, "usage: %s --allocator arena|default --expect zero|some [--null-refused]\n",
            argv[0]);
    return 2;
  }
  int want_zero = strcmp(expect, "zero") == 0;
  size_t at_start = atomic_load(&heap_calls);

  /* ---- init: memory, core, endpoints ---- */
  memset(&B, 0, sizeof B);
  for (int i = 0; i < MAX_CTL; i++) B.ctl_fd[i] = -1;
  for (int i = 0; i < MAX_SRV; i++) B.srv[i] = -1;
  ho_allocator al;
  (void)ho_arena_init(&B.arena, arena_mem, sizeof arena_mem);
  al = ho_arena_allocator(&B.arena);
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = HO_READY_BACKEND;
  cfg.codec = HO_CODEC_NANOPB;
  cfg.service_name = "echo";
  cfg.replay_capacity = 64;
  cfg.wall_clock_ms = wall_ms;
  cfg.close_handle = close_handle;
  if (null_refused) { /* the no-heap library has no malloc default */
    ho_backend_core *c = NULL;
    CHECK(ho_backend_core_new(&cfg, &c) == HO_ERR_INVALID_ARGUMENT && c == NULL,
          "NULL allocator accepted by the no-heap library");
  }
  cfg.allocator = arena_mode ? &al : NULL;
  int rc = ho_backend_core_new(&cfg, &B.core);
  if (rc != HO_OK) {
    fprintf(stderr, "FAIL ho_backend_core_new: %s\n", ho_errname(rc));
    return 1;
  }
  snprintf(dir, sizeof dir, "/tmp/ho-nohp-XXXXXX");
  if (mkdtemp(dir) == NULL) return perror("mkdtemp"), 1;
  snprintf(ctl_path, sizeof ctl_path, "%s/handoff.sock", dir);
  snprintf(pipe_path, sizeof pipe_path, "%s/backend.sock", dir);
  rc = ho_listener_open(&B.lctl, ctl_path, 0);
  if (rc == HO_OK) rc = ho_listener_open(&B.lpipe, pipe_path, 0);
  int stop[2];
  if (rc != HO_OK || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stop) != 0) {
    fprintf(stderr, "FAIL endpoints: %s\n", ho_errname(rc));
    return 1;
  }
  B.stop_fd = stop[0];
  memset(bstack, PAINT, sizeof bstack);
  pthread_attr_t attr;
  pthread_t th;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, bstack, sizeof bstack);
  int fds_before = open_fds();
  size_t init_calls = atomic_load(&heap_calls) - at_start;
  size_t arena_after_init = B.arena.used;

  /* ---- the run: every heap call from here on is counted ---- */
  size_t from = atomic_load(&heap_calls);
  if (pthread_create(&th, &attr, backend_main, NULL) != 0) return perror("pthread_create"), 1;
  for (int r = 0; r < ROUNDS; r++) one_round(r);
  CHECK(write_all(stop[1], "x", 1) == HO_OK, "stop");
  pthread_join(th, NULL);
  size_t run_calls = atomic_load(&heap_calls) - from;

  ho_backend_counters k;
  ho_backend_core_counters(B.core, &k);
  ho_backend_core_del(B.core);
  ho_listener_close(&B.lctl);
  ho_listener_close(&B.lpipe);
  close(stop[0]);
  close(stop[1]);
  rmdir(dir);

  /* ---- verdicts ---- */
  CHECK(k.accepted == 3 * ROUNDS && k.adopted == 3 * ROUNDS && B.adopted == 3 * ROUNDS,
        "accepted %llu adopted %llu/%u", (unsigned long long)k.accepted,
        (unsigned long long)k.adopted, B.adopted);
  CHECK(k.refused == 3 * ROUNDS && k.refused_by[HO_REFUSAL_SIDEBAND_MISMATCH] == ROUNDS &&
            k.refused_by[HO_REFUSAL_REPLAY] == ROUNDS && k.refused_by[HO_REFUSAL_SERVICE] == ROUNDS,
        "refusals %llu", (unsigned long long)k.refused);
  CHECK(B.accepted_direct == 3 * ROUNDS, "fallback connections %u", B.accepted_direct);
  CHECK(B.echoes == 6 * ROUNDS, "requests served %u", B.echoes);
  CHECK(B.ctl_opened == ROUNDS && B.ctl_deleted == ROUNDS, "control connections %u/%u",
        B.ctl_opened, B.ctl_deleted);
  CHECK(B.loop_errors == 0, "%d loop errors", B.loop_errors);
  int fds_after = open_fds() + 4; /* the two listeners and the stop pair are closed now */
  CHECK(fds_after == fds_before, "descriptors: %d before, %d after", fds_before, fds_after);
  if (want_zero) {
    CHECK(run_calls == 0, "%zu heap calls during the handoffs", run_calls);
    if (arena_mode)
      CHECK(B.arena.used == B.used_after_first_del, "arena grew after the first round: %zu -> %zu",
            B.used_after_first_del, B.arena.used);
  } else {
    CHECK(run_calls > 0, "positive control: the counter saw no heap call");
  }

  /* Stack: the deepest painted byte touched, measured from the backend
   * thread function's entry (glibc's thread descriptor and TLS at the top
   * of the buffer excluded). */
#ifdef NOHP_ASAN
  __asan_unpoison_memory_region(bstack, sizeof bstack);
#endif
  size_t low = 0;
  while (low < sizeof bstack && bstack[low] == PAINT) low++;
  size_t depth = B.sp_entry - (uintptr_t)(bstack + low);
  CHECK(low > 0, "painted stack exhausted");
#ifndef NOHP_ASAN
  CHECK(depth < 64u * 1024u, "stack high-water %zu bytes over the 64 KiB budget", depth);
#endif
  printf("nohp_handoff: allocator %s: %d complete handoffs (%d accepted, %d refused + fallback) "
         "on %d control connections\n",
         alloc_mode, 6 * ROUNDS, 3 * ROUNDS, 3 * ROUNDS, ROUNDS);
  printf("nohp_handoff: heap calls: %zu during init, %zu during the handoffs (expected %s)\n",
         init_calls, run_calls, want_zero ? "0" : "> 0: positive control");
  if (arena_mode)
    printf("nohp_handoff: arena: %zu bytes after init (core + replay set of %u), %zu at the end "
           "(%zu after the first control connection closed)\n",
           arena_after_init, (unsigned)cfg.replay_capacity, B.arena.used, B.used_after_first_del);
  printf("nohp_handoff: stack high-water mark %zu bytes (backend thread, painted %u KiB stack%s)\n",
         depth, STACK_BYTES / 1024, NOHP_ASAN_NOTE);
  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
