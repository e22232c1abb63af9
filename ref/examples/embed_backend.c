/* embed_backend — a complete backend that embeds libhandoff (handoff/backend.h):
 * one poll() loop takes client connections handed off by a broker (control
 * connections on HANDOFF_ENDPOINT) and clients that fall back to
 * BACKEND_PIPE, and serves an echo service on both.
 *
 *   embed_backend HANDOFF_ENDPOINT BACKEND_PIPE
 *
 * Build it against an installed libhandoff with nothing but pkg-config:
 *   cc -o embed_backend embed_backend.c $(pkg-config --cflags --libs handoff)
 *   cc -static -o embed_backend embed_backend.c $(pkg-config --static --cflags --libs handoff)
 * Run it behind the reference broker (the same BACKEND_PIPE for both):
 *   embed_backend /run/svc/handoff.sock /run/svc/backend.sock &
 *   handoff-broker --listen /run/svc/broker.sock \
 *     --handoff-endpoint /run/svc/handoff.sock --backend-pipe /run/svc/backend.sock &
 *   handoff-client --connect /run/svc/broker.sock --service echo --handoff --message hi
 *
 * Prints one line per request it serves on stdout, "handoff: BYTES" or
 * "backend_pipe: BYTES". SIGTERM/SIGINT: clean exit (sockets unlinked, every
 * descriptor closed). Built by `make` (build/examples/), run by
 * `make test-examples`; the part between the two scissors lines is quoted
 * in handoff/backend.h byte for byte (checked by the same target).
 * spec: XFER-25 XFER-26 XFER-20 FALLBACK-4 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <handoff/backend.h>
#include <handoff/transport.h>

/* ---- the descriptors we poll, one slot each ------------------------------ */

#define MAX_SLOTS 256
enum kind { HANDOFF_LISTENER = 1, PIPE_LISTENER, CONTROL, CLIENT, SIGNALS };

typedef struct slot {
  enum kind kind;
  int adopted;              /* CLIENT: 1 handed off, 0 came in on backend_pipe */
  size_t out_len;           /* CLIENT: echo bytes not yet written back */
  unsigned char out[4096];
} slot;

static struct pollfd pfd[MAX_SLOTS];
static slot slots[MAX_SLOTS];
static size_t nslots;

/* Add fd to the poll set; 0, or -1 when the table is full (fd untouched). */
static int slot_add(int fd, enum kind kind, int adopted) {
  if (nslots == MAX_SLOTS) return -1;
  pfd[nslots] = (struct pollfd){.fd = fd, .events = POLLIN};
  slots[nslots].kind = kind;
  slots[nslots].adopted = adopted;
  slots[nslots].out_len = 0;
  nslots++;
  return 0;
}

/* Forget slot i (the caller closed its descriptor, or the library did).
 * The last slot moves into its place: the loop walks the table backwards. */
static void slot_del(size_t i) {
  nslots--;
  if (i != nslots) {
    pfd[i] = pfd[nslots];
    slots[i] = slots[nslots];
  }
}

static size_t slot_of(int fd) {
  for (size_t i = 0; i < nslots; i++)
    if (pfd[i].fd == fd) return i;
  return MAX_SLOTS;
}

/* ---- the service: echo every byte back, until the client's EOF ----------- */

static void client_io(size_t i) {
  slot *c = &slots[i];
  int fd = pfd[i].fd;
  if (c->out_len == 0) { /* read only once everything read was written back */
    ssize_t n = recv(fd, c->out, sizeof c->out, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) { /* EOF or error: the connection is done */
      close(fd);
      slot_del(i);
      return;
    }
    printf("%s: ", c->adopted ? "handoff" : "backend_pipe");
    for (ssize_t k = 0; k < n; k++)
      putchar(c->out[k] >= 0x20 && c->out[k] < 0x7f ? c->out[k] : '?');
    putchar('\n');
    fflush(stdout);
    c->out_len = (size_t)n;
  }
  ssize_t w = send(fd, c->out, c->out_len, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    close(fd);
    slot_del(i);
    return;
  }
  if (w > 0) {
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
  }
  pfd[i].events = c->out_len > 0 ? POLLOUT : POLLIN; /* back-pressure */
}

/* ---- signals: a self-pipe, so poll() wakes up for SIGTERM ---------------- */

static int sigpipe_fd[2] = {-1, -1};

static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  (void)!write(sigpipe_fd[1], "x", 1);
  errno = saved;
}

static int signals_setup(void) {
  if (pipe(sigpipe_fd) != 0) return -1;
  for (int k = 0; k < 2; k++) {
    (void)fcntl(sigpipe_fd[k], F_SETFD, FD_CLOEXEC);
    (void)fcntl(sigpipe_fd[k], F_SETFL, O_NONBLOCK);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_IGN; /* a peer that hangs up is an error code, not a signal */
  sigaction(SIGPIPE, &sa, NULL);
  return slot_add(sigpipe_fd[0], SIGNALS, 0);
}

/* ---8<--- handoff/backend.h quotes from here ---8<--- */
static ho_backend *b;
static ho_listener handoff, backend_pipe;

// A client connection is ours: handed off (adopted) or from backend_pipe.
// Adopted descriptors arrive BLOCKING (the broker clears O_NONBLOCK before
// it sends, spec XFER-25) with FD_CLOEXEC set; a poll loop makes them
// non-blocking itself (XFER-26). backend_pipe ones come from
// ho_listener_accept() already non-blocking and CLOEXEC.
static void serve(ho_handle conn, int adopted) {
  int fl = fcntl((int)conn, F_GETFL);
  if (fl < 0 || fcntl((int)conn, F_SETFL, fl | O_NONBLOCK) != 0 ||
      slot_add((int)conn, CLIENT, adopted) != 0)
    close((int)conn); // the client sees EOF (after a handoff) or reconnects
}

// Accept everything queued on a listener (non-blocking: up to WOULD_BLOCK).
static void accept_all(ho_listener *l) {
  ho_handle fd;
  int rc;
  while ((rc = ho_listener_accept(l, &fd)) == HO_OK) {
    if (l == &backend_pipe) { // every fallback ends here (spec FALLBACK-4)
      serve(fd, 0);
      continue;
    }
    // A broker: a control connection. The library checks the peer's uid
    // (default: ours, SEC-4) and owns the descriptor from then on.
    if (nslots == MAX_SLOTS || ho_backend_add_control(b, fd) != HO_OK) {
      close((int)fd); // not taken: still ours (the broker falls back)
      continue;
    }
    (void)slot_add((int)fd, CONTROL, 0); // room checked above
  }
  if (rc != HO_ERR_WOULD_BLOCK)
    fprintf(stderr, "embed_backend: accept on %s: %s\n", l->path, ho_strerror(rc));
}

// Act on the status bits of ho_backend_on_control_readable(), _writable()
// and _flush_control() for control connection slot i.
static void control_status(size_t i, int m) {
  if (m < 0) { // HO_ERR_INVALID_ARGUMENT: the library does not know this fd
    slot_del(i);
    return;
  }
  if (m & HO_BACKEND_CLOSED) { // already closed by the library: just forget it
    slot_del(i);
    return;
  }
  // ACK bytes still queued: poll for writability too.
  pfd[i].events = POLLIN | ((m & HO_BACKEND_WANT_WRITE) ? POLLOUT : 0);
}

static void control_io(size_t i) {
  ho_handle fd = pfd[i].fd;
  uint64_t now = ho_monotonic_ms();
  int m = 0;
  if (pfd[i].revents & POLLOUT) {
    m = ho_backend_on_control_writable(b, fd, now);
    if (m < 0 || (m & HO_BACKEND_CLOSED) || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
      control_status(i, m);
      return;
    }
  }
  do {
    ho_backend_adopted ad[16];
    size_t n = 0;
    m = ho_backend_on_control_readable(b, fd, now, ad, 16, &n);
    if (m < 0) break;
    for (size_t k = 0; k < n; k++) serve(ad[k].conn, 1); // also when CLOSED is set
    // Only with cfg.defer_ack_flush: the ACKs wait until we served the
    // request that came with the descriptor. Flush right after that, never
    // after long work (the broker's ACK deadline, XFER-19).
    if ((m & HO_BACKEND_ACK_PENDING) && !(m & HO_BACKEND_CLOSED))
      m = ho_backend_flush_control(b, fd, now) | (m & HO_BACKEND_MORE);
    // MORE: ad[] was full, call again. READ_AGAIN: the library stopped after
    // a complete offer; poll() is level-triggered and reports the rest (an
    // edge-triggered epoll loop would call again here too).
  } while (m >= 0 && (m & HO_BACKEND_MORE) && !(m & HO_BACKEND_CLOSED));
  control_status(i, m);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: embed_backend HANDOFF_ENDPOINT BACKEND_PIPE\n");
    return 2;
  }
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);      // brokers of our own uid only (SEC-4)
  cfg.ready_mode = HO_READY_BACKEND; // we write the ready frame when the
                                     // client and broker allow it (faster)
  int rc = ho_backend_new(&cfg, NULL, NULL, &b);
  if (rc != HO_OK) {
    fprintf(stderr, "embed_backend: %s\n", ho_strerror(rc));
    return 1;
  }
  // Both sockets: parent directory made 0700, socket 0600, non-blocking,
  // CLOEXEC, appearing atomically; backlog 0 means SOMAXCONN.
  ho_diag d;
  if ((rc = ho_listener_open_diag(&handoff, argv[1], 0, 0, &d)) == HO_OK &&
      (rc = ho_listener_open_diag(&backend_pipe, argv[2], 0, 0, &d)) != HO_OK)
    ho_listener_close(&handoff); // the first one opened
  if (rc != HO_OK) {
    fprintf(stderr, "embed_backend: %s (%s)\n", d.msg, ho_errname(rc));
    ho_backend_del(b);
    return 1;
  }
  if (slot_add((int)handoff.fd, HANDOFF_LISTENER, 0) != 0 ||
      slot_add((int)backend_pipe.fd, PIPE_LISTENER, 0) != 0 || signals_setup() != 0) {
    fprintf(stderr, "embed_backend: setup failed\n");
    return 1;
  }
  int running = 1;
  while (running) {
    // The library's deadlines: stalled offers (BACKEND-10), delayed ACKs.
    int timeout = ho_backend_next_timeout_ms(b, ho_monotonic_ms());
    if (poll(pfd, nslots, timeout) < 0 && errno != EINTR) break;
    for (size_t i = nslots; i-- > 0;) { // backwards: slot_del moves the last slot
      if (pfd[i].revents == 0) continue;
      switch (slots[i].kind) {
      case HANDOFF_LISTENER: accept_all(&handoff); break;
      case PIPE_LISTENER: accept_all(&backend_pipe); break;
      case CONTROL: control_io(i); break;
      case CLIENT: client_io(i); break;
      case SIGNALS: running = 0; break;
      }
    }
    (void)ho_backend_on_timer(b, ho_monotonic_ms());
    ho_handle gone; // control connections the timer closed: forget them
    while (ho_backend_closed_fd(b, &gone)) {
      size_t i = slot_of((int)gone);
      if (i < MAX_SLOTS) slot_del(i);
    }
  }
  ho_listener_close(&handoff);      // unlinks the socket paths
  ho_listener_close(&backend_pipe);
  for (size_t i = 0; i < nslots; i++)
    if (slots[i].kind == CLIENT) close(pfd[i].fd);
  ho_backend_del(b); // closes the control connections and held descriptors
  close(sigpipe_fd[0]);
  close(sigpipe_fd[1]);
  return 0;
}
/* ---8<--- handoff/backend.h quotes up to here ---8<--- */
