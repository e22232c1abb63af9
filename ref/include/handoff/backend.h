/* handoff — the backend side of a handoff, in two layers.
 *
 * 1. A sans-I/O core (ho_backend_core + one ho_backend_ctl per control
 *    connection). Bytes read from a control connection and the descriptor
 *    that arrived with them go in; actions come out: write these bytes to
 *    the control connection, write the ready frame to this descriptor, adopt
 *    this descriptor, close that one, close the control connection. Time is
 *    injected: every time input is a millisecond reading of one monotonic
 *    clock (now_ms, e.g. ho_monotonic_ms()). The core parses
 *    offers (framing + envelope + HandoffOffer), checks the sideband token
 *    against the offer token, rejects replays and bad descriptors, and
 *    builds every ACK (spec: XFER-28 XFER-11 XFER-12 XFER-15 XFER-17 XFER-18
 *    spec: BACKEND-2 BACKEND-3 BACKEND-4 BACKEND-5
 *    spec: READY-9 READY-11 READY-12 TOKEN-17).
 *
 * 2. A small I/O shell (ho_backend) for programs that embed the backend
 *    side: give it each accepted control connection
 *    (ho_backend_add_control()), call ho_backend_on_control_readable() when
 *    it polls readable (and _writable() when you asked for POLLOUT), act on
 *    every status bit it returns, and serve the adopted client connections
 *    it hands back. The same program must also listen on its backend_pipe:
 *    every fallback reconnects there.
 *
 * Example: ref/examples/embed_backend.c is a complete backend (a poll() loop
 * and an echo service; built by `make`, run behind handoff-broker with
 * handoff-client by `make test-examples`, and built from an installed tree
 * with pkg-config by `make test-install`). Its handoff part, quoted byte for
 * byte (make test-examples fails when the two differ):
 *
 * ---8<--- ref/examples/embed_backend.c ---8<---
 * static ho_backend *b;
 * static ho_listener handoff, backend_pipe;
 *
 * // A client connection is ours: handed off (adopted) or from backend_pipe.
 * // Adopted descriptors arrive BLOCKING (the broker clears O_NONBLOCK before
 * // it sends, spec XFER-25) with FD_CLOEXEC set; a poll loop makes them
 * // non-blocking itself (XFER-26). backend_pipe ones come from
 * // ho_listener_accept() already non-blocking and CLOEXEC.
 * static void serve(ho_handle conn, int adopted) {
 *   int fl = fcntl((int)conn, F_GETFL);
 *   if (fl < 0 || fcntl((int)conn, F_SETFL, fl | O_NONBLOCK) != 0 ||
 *       slot_add((int)conn, CLIENT, adopted) != 0)
 *     close((int)conn); // the client sees EOF (after a handoff) or reconnects
 * }
 *
 * // Accept everything queued on a listener (non-blocking: up to WOULD_BLOCK).
 * static void accept_all(ho_listener *l) {
 *   ho_handle fd;
 *   int rc;
 *   while ((rc = ho_listener_accept(l, &fd)) == HO_OK) {
 *     if (l == &backend_pipe) { // every fallback ends here (spec FALLBACK-4)
 *       serve(fd, 0);
 *       continue;
 *     }
 *     // A broker: a control connection. The library checks the peer's uid
 *     // (default: ours, SEC-4) and owns the descriptor from then on.
 *     if (nslots == MAX_SLOTS || ho_backend_add_control(b, fd) != HO_OK) {
 *       close((int)fd); // not taken: still ours (the broker falls back)
 *       continue;
 *     }
 *     (void)slot_add((int)fd, CONTROL, 0); // room checked above
 *   }
 *   if (rc != HO_ERR_WOULD_BLOCK)
 *     fprintf(stderr, "embed_backend: accept on %s: %s\n", l->path, ho_strerror(rc));
 * }
 *
 * // Act on the status bits of ho_backend_on_control_readable(), _writable()
 * // and _flush_control() for control connection slot i.
 * static void control_status(size_t i, int m) {
 *   if (m < 0) { // HO_ERR_INVALID_ARGUMENT: the library does not know this fd
 *     slot_del(i);
 *     return;
 *   }
 *   if (m & HO_BACKEND_CLOSED) { // already closed by the library: just forget it
 *     slot_del(i);
 *     return;
 *   }
 *   // ACK bytes still queued: poll for writability too.
 *   pfd[i].events = POLLIN | ((m & HO_BACKEND_WANT_WRITE) ? POLLOUT : 0);
 * }
 *
 * static void control_io(size_t i) {
 *   ho_handle fd = pfd[i].fd;
 *   uint64_t now = ho_monotonic_ms();
 *   int m = 0;
 *   if (pfd[i].revents & POLLOUT) {
 *     m = ho_backend_on_control_writable(b, fd, now);
 *     if (m < 0 || (m & HO_BACKEND_CLOSED) || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
 *       control_status(i, m);
 *       return;
 *     }
 *   }
 *   do {
 *     ho_backend_adopted ad[16];
 *     size_t n = 0;
 *     m = ho_backend_on_control_readable(b, fd, now, ad, 16, &n);
 *     if (m < 0) break;
 *     for (size_t k = 0; k < n; k++) serve(ad[k].conn, 1); // also when CLOSED is set
 *     // Only with cfg.defer_ack_flush: the ACKs wait until we served the
 *     // request that came with the descriptor. Flush right after that, never
 *     // after long work (the broker's ACK deadline, XFER-19).
 *     if ((m & HO_BACKEND_ACK_PENDING) && !(m & HO_BACKEND_CLOSED))
 *       m = ho_backend_flush_control(b, fd, now) | (m & HO_BACKEND_MORE);
 *     // MORE: ad[] was full, call again. READ_AGAIN: the library stopped after
 *     // a complete offer; poll() is level-triggered and reports the rest (an
 *     // edge-triggered epoll loop would call again here too).
 *   } while (m >= 0 && (m & HO_BACKEND_MORE) && !(m & HO_BACKEND_CLOSED));
 *   control_status(i, m);
 * }
 *
 * int main(int argc, char **argv) {
 *   if (argc != 3) {
 *     fprintf(stderr, "usage: embed_backend HANDOFF_ENDPOINT BACKEND_PIPE\n");
 *     return 2;
 *   }
 *   ho_backend_config cfg;
 *   ho_backend_config_init(&cfg);      // brokers of our own uid only (SEC-4)
 *   cfg.ready_mode = HO_READY_BACKEND; // we write the ready frame when the
 *                                      // client and broker allow it (faster)
 *   int rc = ho_backend_new(&cfg, NULL, NULL, &b);
 *   if (rc != HO_OK) {
 *     fprintf(stderr, "embed_backend: %s\n", ho_strerror(rc));
 *     return 1;
 *   }
 *   // Both sockets: parent directory made 0700, socket 0600, non-blocking,
 *   // CLOEXEC, appearing atomically; backlog 0 means SOMAXCONN.
 *   ho_diag d;
 *   if ((rc = ho_listener_open_diag(&handoff, argv[1], 0, 0, &d)) == HO_OK &&
 *       (rc = ho_listener_open_diag(&backend_pipe, argv[2], 0, 0, &d)) != HO_OK)
 *     ho_listener_close(&handoff); // the first one opened
 *   if (rc != HO_OK) {
 *     fprintf(stderr, "embed_backend: %s (%s)\n", d.msg, ho_errname(rc));
 *     ho_backend_del(b);
 *     return 1;
 *   }
 *   if (slot_add((int)handoff.fd, HANDOFF_LISTENER, 0) != 0 ||
 *       slot_add((int)backend_pipe.fd, PIPE_LISTENER, 0) != 0 || signals_setup() != 0) {
 *     fprintf(stderr, "embed_backend: setup failed\n");
 *     return 1;
 *   }
 *   int running = 1;
 *   while (running) {
 *     // The library's deadlines: stalled offers (BACKEND-10), delayed ACKs.
 *     int timeout = ho_backend_next_timeout_ms(b, ho_monotonic_ms());
 *     if (poll(pfd, nslots, timeout) < 0 && errno != EINTR) break;
 *     for (size_t i = nslots; i-- > 0;) { // backwards: slot_del moves the last slot
 *       if (pfd[i].revents == 0) continue;
 *       switch (slots[i].kind) {
 *       case HANDOFF_LISTENER: accept_all(&handoff); break;
 *       case PIPE_LISTENER: accept_all(&backend_pipe); break;
 *       case CONTROL: control_io(i); break;
 *       case CLIENT: client_io(i); break;
 *       case SIGNALS: running = 0; break;
 *       }
 *     }
 *     (void)ho_backend_on_timer(b, ho_monotonic_ms());
 *     ho_handle gone; // control connections the timer closed: forget them
 *     while (ho_backend_closed_fd(b, &gone)) {
 *       size_t i = slot_of((int)gone);
 *       if (i < MAX_SLOTS) slot_del(i);
 *     }
 *   }
 *   ho_listener_close(&handoff);      // unlinks the socket paths
 *   ho_listener_close(&backend_pipe);
 *   for (size_t i = 0; i < nslots; i++)
 *     if (slots[i].kind == CLIENT) close(pfd[i].fd);
 *   ho_backend_del(b); // closes the control connections and held descriptors
 *   close(sigpipe_fd[0]);
 *   close(sigpipe_fd[1]);
 *   return 0;
 * }
 * ---8<--- end of quote ---8<---
 *
 * Adopted descriptors arrive blocking and close-on-exec (see Threads
 * below); ho_listener_open() with backlog 0 listens with SOMAXCONN.
 *
 * All functions return HO_OK (0) or a negative HO_ERR_* code unless said
 * otherwise.
 *
 * Threads: one ho_backend (or one ho_backend_core with all its
 * ho_backend_ctl, which share its replay set and counters) is used by one
 * thread at a time; separate backends may run in separate threads. The
 * callbacks of the config run in the calling thread, inside the call.
 * Descriptors: adopted connections arrive BLOCKING (the broker clears
 * O_NONBLOCK before sending, spec XFER-25) and close-on-exec (received with
 * MSG_CMSG_CLOEXEC); set the flags your loop needs yourself (XFER-26).
 * Control connections are made non-blocking by ho_backend_add_control().
 * fork: use a backend in one process only — replay protection is per
 * process, so both copies could adopt one token (handoff/version.h).
 */
#ifndef HANDOFF_BACKEND_H
#define HANDOFF_BACKEND_H

#include "handoff/version.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/msg.h"
#include "handoff/token.h" /* ho_allocator */
#include "handoff/transport.h"
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ---------------------------------------------------- */

typedef enum ho_ready_mode {
  HO_READY_LEGACY = 0, /* original v1: the broker writes ready; the backend
                          never writes to an adopted connection before it
                          has read client bytes */
  HO_READY_BACKEND = 1 /* extension: for offers flagged
                          HO_OFFER_FLAG_BACKEND_READY the backend writes the
                          ready frame first; every ACK declares
                          HO_BACKEND_CAP_BACKEND_READY */
} ho_ready_mode;

/* Fault injection for tests and the demo (never set in production). */
typedef enum ho_backend_fault {
  HO_FAULT_NONE = 0,
  HO_FAULT_REFUSE = 1,            /* refuse every offer (explicit ACK) */
  HO_FAULT_CRASH_BEFORE_ACK = 2,  /* HO_BACKEND_ACT_CRASH instead of the ACK */
  HO_FAULT_LATE_ACK = 3,          /* ACK action carries delay_ms = fault_ms */
  HO_FAULT_WRONG_TOKEN = 4,       /* accept, but echo a different token */
  HO_FAULT_WRONG_CORRELATION = 5, /* accept, but echo correlation_id + 1 */
  HO_FAULT_CLOSE_CONTROL = 6      /* close the descriptor and the control
                                     connection instead of ACKing */
} ho_backend_fault;

typedef struct ho_backend_config {
  ho_ready_mode ready_mode;  /* default HO_READY_LEGACY */
  const char *service_name;  /* NULL/"" = any; else offers naming another
                                service are refused (SERVICE_NAME); offers
                                with an empty name are never refused for
                                it (XFER-14); copied by _new */
  uint64_t token_ttl_ms;     /* how long a token accepted from an offer
                                WITHOUT a deadline is remembered; default
                                30000 = TOKEN_TTL_MAX (spec: TOKEN-17);
                                tokens of offers with a deadline are kept
                                until the deadline + REPLAY_MARGIN (5 s) */
  uint32_t replay_capacity;  /* most tokens remembered; default 65536 (about
                                10 000 handoffs/s with 1.5 s offer deadlines);
                                when full, offers are refused (PENDING_LIMIT,
                                spec: TOKEN-18) */
  ho_codec codec;            /* default HO_CODEC_PROTOBUF_C; libhandoff-nohp.a
                                has HO_CODEC_NANOPB only (its default) */
  ho_backend_fault fault;    /* default HO_FAULT_NONE */
  uint32_t fault_ms;         /* for HO_FAULT_LATE_ACK */
  /* Wall clock (Unix epoch ms) for offer deadlines (spec: READY-11
   * TOKEN-21 TOKEN-17). The shell (ho_backend_new) fills in CLOCK_REALTIME
   * when NULL; a bare core without one refuses every offer that carries a
   * deadline (TIMEOUT) and remembers tokens TOKEN_TTL_MAX. */
  uint64_t (*wall_clock_ms)(void *ctx);
  void *wall_clock_ctx;
  /* Releasing a descriptor the core holds when it cannot hand it back as a
   * CLOSE_FD action (ho_backend_ctl_del of a connection whose actions were
   * not drained, or no memory for the action). Required by
   * ho_backend_core_new (the shell fills in close(2) when NULL). */
  void (*close_handle)(void *ctx, ho_handle h);
  void *close_ctx;
  /* Longest wait from the first sideband byte of a handoff to the last
   * byte of its offer frame (OFFER_TIMEOUT, spec: BACKEND-10); 0 → 2000. */
  uint32_t offer_timeout_ms;
  /* Do not declare BACKEND_CAP_MULTI_OFFER (a shell that closes its control
   * connections after one offer, as backends of the original do: CAP-10). */
  bool single_offer;
  /* Who may open control connections (checked by ho_backend_add_control()
   * before anything is read, spec: SEC-4); default HO_PEER_SAME_UID. */
  ho_peer_policy peer_policy;
  uid_t peer_uid; /* for HO_PEER_UID */
  /* Shell only: when ho_backend_on_control_readable() hands back adopted
   * connections, leave their ACKs queued (HO_BACKEND_ACK_PENDING) so the
   * caller can first serve a request that travelled with the descriptor and
   * then call ho_backend_flush_control(). Serving before the broker wakes
   * for the ACK keeps the broker off the CPUs in the client's critical
   * path. The caller MUST flush right after that first service step, never
   * after long work (the broker's ACK deadline, spec: XFER-19). Default
   * false: ACKs are written before the call returns. */
  bool defer_ack_flush;
  /* Coalesced reply (spec 1.0.0-rc2, READY-28 READY-29 CAP-11): in
   * backend-ready mode the core implements it and every ACK declares
   * HO_BACKEND_CAP_COALESCED_REPLY, unless this is set (then a coalesced
   * offer is refused BACKEND_READY_UNSUPPORTED, nothing written: READY-35). */
  bool no_coalesced_reply;
  /* Shell only, coalesced mode: called instead of writing `reply`
   * (Negotiated + ready, the action's bytes) on `conn`. It MAY read what the
   * client has already written, without waiting, and serve it; it MUST
   * then write `reply` followed by the first bytes of the response in ONE
   * write (writev/sendmsg), and return HO_OK only if all of it was written
   * (else the error: the offer is refused, the connection closed). NULL:
   * the shell writes `reply` alone. spec: READY-28 */
  int (*first_write)(void *ctx, ho_handle conn, uint64_t correlation_id, const uint8_t *reply,
                     size_t len);
  void *first_write_ctx;
  /* A transport without a sideband (Windows named pipes: the control
   * stream is offer frames only, spec/handoff-sequence.md §3). The handle
   * of an offer is HandoffOffer.handle_value, judged by check_handle
   * (required in this mode) in place of the descriptor checks of XFER-28,
   * at their place in the XFER-36 order; there is no sideband token to
   * compare (XFER-12). A value that fails the check never comes back as
   * CLOSE_FD (spec: XFER-32: it may be one of the backend's own handles);
   * the offer deadline of BACKEND-10 runs from the first byte of the offer
   * frame. Default false (the Unix layout, XFER-1). */
  bool no_sideband;
  /* Is `handle_value` a handle this backend may adopt (spec: XFER-32
   * XFER-38)? HO_OK with *conn set: the handle to adopt (on Windows the
   * value itself; a transport that fetches a remote descriptor would give
   * a local one) — the core owns it from then on (ADOPT or CLOSE_FD).
   * Otherwise HO_ERR_NO_DESCRIPTOR (no handle at all: 0) or
   * HO_ERR_BAD_DESCRIPTOR (any failed check; other codes count as it), and
   * nothing is owned or closed. `ctl_user` is what ho_backend_ctl_set_user()
   * set for the control connection the offer came on (the Windows backend
   * keeps the broker's pid there). Called only for offers that decoded. */
  int (*check_handle)(void *ctx, void *ctl_user, uint64_t handle_value, ho_handle *conn);
  void *check_ctx;
  /* Where the core's memory comes from: the core itself, its replay set
   * (replay_capacity tokens, allocated once by ho_backend_core_new), and per
   * control connection its state, its action queue and its offer buffer
   * (ho_backend_ctl_new; an offer larger than the inline 256 bytes takes a
   * buffer of the next power of two up to 64 KiB for as long as it is read).
   * NULL: malloc/free. The struct is copied by ho_backend_core_new; its ctx
   * must outlive the core. handoff/arena.h gives one over a caller buffer.
   * The no-heap peer library (libhandoff-nohp.a: nanopb codec only, no
   * malloc anywhere) has no default: NULL is HO_ERR_INVALID_ARGUMENT there.
   * The shell (ho_backend_new) allocates its own tables with malloc. */
  const ho_allocator *allocator;
} ho_backend_config;

/* Fill `cfg` with the defaults above. */
HO_API void ho_backend_config_init(ho_backend_config *cfg);

/* Parse "refuse", "crash-before-ack", "late-ack:MS", "wrong-token",
 * "wrong-correlation", "close-control" (or "none"). Returns HO_OK or
 * HO_ERR_INVALID_ARGUMENT (outputs untouched). */
HO_API int ho_backend_fault_parse(const char *s, ho_backend_fault *fault, uint32_t *fault_ms);

/* ---- sans-I/O core ----------------------------------------------------- */

typedef struct ho_backend_core ho_backend_core; /* shared: config, replay set, counters */
typedef struct ho_backend_ctl ho_backend_ctl;   /* one control connection */

/* Create a core. On success *out is set; on failure (HO_ERR_INVALID_ARGUMENT,
 * HO_ERR_NOMEM, HO_ERR_RANDOM — the OS random source keying the replay
 * set failed) *out is untouched. */
HO_API int ho_backend_core_new(const ho_backend_config *cfg, ho_backend_core **out);

/* Free the core. Every ho_backend_ctl must have been deleted first. */
HO_API void ho_backend_core_del(ho_backend_core *core);

/* Counters (monotonic since _new). refused[] is indexed by
 * ho_backend_refusal; the names come from ho_backend_refusal_name(). */
/* X(name, error code in the refusing ACK; 0: the error of the failed write)
 * — the one list of the backend's refusals, in the order of XFER-36 where
 * the order matters (descriptor checks first). */
#define HO_BACKEND_REFUSAL_LIST(X)                                            \
  X(CTRUNC, HO_ERR_CTRUNC)                   /* kept: no rc1 receiver produces it */ \
  X(NO_DESCRIPTOR, HO_ERR_NO_DESCRIPTOR)                                      \
  X(EXTRA_DESCRIPTORS, HO_ERR_EXTRA_DESCRIPTORS)                              \
  X(BAD_DESCRIPTOR, HO_ERR_BAD_DESCRIPTOR)                                    \
  X(SIDEBAND_MISMATCH, HO_ERR_SIDEBAND_MISMATCH)                              \
  X(REPLAY, HO_ERR_TOKEN_NOT_PENDING)                                         \
  X(REPLAY_FULL, HO_ERR_PENDING_LIMIT)                                        \
  X(SERVICE, HO_ERR_SERVICE_NAME)                                             \
  X(READY_MODE, HO_ERR_BACKEND_READY_UNSUPPORTED)                             \
  X(READY_WRITE, 0)                                                           \
  X(READY_DEADLINE, HO_ERR_TIMEOUT)                                           \
  X(FAULT, HO_ERR_ACK_REFUSED)                                                \
  X(FD_EXHAUSTED, HO_ERR_FD_EXHAUSTED)                                        \
  X(OFFER_DEADLINE, HO_ERR_TIMEOUT)                                           \
  X(DRAINING, HO_ERR_DRAINING)                                                \
  X(OVERLOADED, HO_ERR_OVERLOADED)                                            \
  X(REPLY_MALFORMED, HO_ERR_MALFORMED) /* coalesced offer's replies, READY-29 */

typedef enum ho_backend_refusal {
#define HO_BACKEND_REFUSAL_ENUM_(name, err) HO_REFUSAL_##name,
  HO_BACKEND_REFUSAL_LIST(HO_BACKEND_REFUSAL_ENUM_)
#undef HO_BACKEND_REFUSAL_ENUM_
  HO_REFUSAL_COUNT_
} ho_backend_refusal;

typedef struct ho_backend_counters {
  uint64_t offers;          /* offer frames read (valid or not) */
  uint64_t accepted;        /* accepted ACKs built */
  uint64_t refused;         /* refused ACKs built */
  uint64_t refused_by[HO_REFUSAL_COUNT_];
  uint64_t malformed;       /* offers that closed the control connection */
  uint64_t adopted;         /* descriptors handed out with ADOPT */
} ho_backend_counters;

HO_API void ho_backend_core_counters(const ho_backend_core *core, ho_backend_counters *out);
HO_API const char *ho_backend_refusal_name(ho_backend_refusal r);

/* Refuse every new offer with `err` (HO_ERR_DRAINING for a planned
 * restart, spec: BACKEND-14; HO_ERR_OVERLOADED or HO_ERR_FD_EXHAUSTED when
 * the backend cannot serve another connection, BACKEND-7), or stop refusing
 * (HO_OK). Returns HO_OK or HO_ERR_INVALID_ARGUMENT (another code). */
HO_API int ho_backend_core_set_refusing(ho_backend_core *core, int err);

/* Create the state of one control connection. Codes: HO_ERR_INVALID_ARGUMENT,
 * HO_ERR_NOMEM (*out untouched). */
HO_API int ho_backend_ctl_new(ho_backend_core *core, ho_backend_ctl **out);

/* Attach the shell's pointer to a control connection (handed to
 * check_handle; NULL by default). */
HO_API void ho_backend_ctl_set_user(ho_backend_ctl *ctl, void *user);
HO_API void *ho_backend_ctl_user(const ho_backend_ctl *ctl);

/* Free it. A descriptor the core still holds (sideband received, offer not
 * yet read, or pending in undelivered actions) is released with the
 * configured close_handle: call ho_backend_ctl_eof() and drain the actions
 * first to keep closing in the shell's own order. */
HO_API void ho_backend_ctl_del(ho_backend_ctl *ctl);

/* The instant (monotonic ms, as given to the feed calls) at which an offer
 * in progress times out (spec: BACKEND-10): returns 1 and sets *at_ms, or
 * 0 when no handoff is in progress on this connection. */
HO_API int ho_backend_ctl_next_deadline(const ho_backend_ctl *ctl, uint64_t *at_ms);

/* Time passed: at or after the deadline above, the handoff in progress
 * ends with TIMEOUT — every descriptor received for it is queued as
 * CLOSE_FD and the connection closes (CLOSE_CONTROL, no ACK). Returns HO_OK
 * (also when nothing was due) or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_backend_ctl_timer(ho_backend_ctl *ctl, uint64_t now_ms);

/* How many bytes the shell should read next: exactly what completes the
 * current part (the rest of the 16 sideband bytes, the frame header, or the
 * frame body), so a descriptor can only arrive with the first byte of a
 * read and no read crosses into the next handoff. 0 when the connection is
 * closed or a ready write is awaiting ho_backend_ctl_client_written(). */
HO_API size_t ho_backend_ctl_wanted(const ho_backend_ctl *ctl);

/* True when the next byte expected is the first byte of a sideband (so a
 * descriptor may arrive with the next read). */
HO_API bool ho_backend_ctl_at_sideband(const ho_backend_ctl *ctl);

/* Feed `len` bytes read from the control connection. `conn` is the
 * descriptor that arrived with data[0] (HO_NO_HANDLE if none) and
 * `conn_status` the transport's verdict on descriptors that arrived and were
 * already closed (ho_xfer_rx.conn_status). The core takes ownership of
 * `conn` in every case (it comes back as ADOPT or CLOSE_FD). Any chunking
 * of the stream is accepted; processing stops after an offer that needs a
 * ready write (see ho_backend_ctl_client_written()) or when the connection
 * must close. *consumed (may be NULL) receives the bytes taken.
 * Returns HO_OK (check the actions), HO_ERR_STATE (connection already
 * closed: nothing consumed, but `conn` is still taken and queued as
 * CLOSE_FD), HO_ERR_INVALID_ARGUMENT (NULL ctl, or data NULL with len > 0;
 * conn untouched). */
HO_API int ho_backend_ctl_feed(ho_backend_ctl *ctl, uint64_t now_ms, const uint8_t *data, size_t len,
                        ho_handle conn, int conn_status, size_t *consumed);

/* The control connection reached EOF or failed: every held descriptor is
 * queued as CLOSE_FD and the connection is marked closed. */
HO_API void ho_backend_ctl_eof(ho_backend_ctl *ctl);

/* Report the outcome of a HO_BACKEND_ACT_WRITE_CLIENT action: HO_OK when
 * every byte of the ready frame was written, else the error. Then the core
 * queues the accepted ACK and ADOPT (HO_OK) or a refused ACK and CLOSE_FD.
 * Returns HO_OK or HO_ERR_STATE (no ready write pending). */
HO_API int ho_backend_ctl_client_written(ho_backend_ctl *ctl, uint64_t now_ms, int result);

typedef enum ho_backend_act_type {
  HO_BACKEND_ACT_WRITE_CONTROL = 1, /* write bytes[0..len) to the control
                                       connection, after delay_ms */
  HO_BACKEND_ACT_WRITE_CLIENT = 2,  /* write bytes (the ready frame) to conn
                                       now, before reading any byte of it,
                                       then call ho_backend_ctl_client_written() */
  HO_BACKEND_ACT_ADOPT = 3,         /* conn is a handed-off client connection:
                                       the shell owns it now */
  HO_BACKEND_ACT_CLOSE_FD = 4,      /* close conn */
  HO_BACKEND_ACT_CLOSE_CONTROL = 5, /* close the control connection (err) */
  HO_BACKEND_ACT_OFFER = 6,         /* note: an offer was read (for logs) */
  HO_BACKEND_ACT_CRASH = 7,         /* HO_FAULT_CRASH_BEFORE_ACK: die now */
  HO_BACKEND_ACT_DECLINE = 8        /* coalesced offer refused: write bytes
                                       (reply_declined) to conn in one write,
                                       read nothing, then close conn; no
                                       report (spec: READY-29) */
} ho_backend_act_type;

/* Room for a coalesced reply (REPLY_MAX) and the ready frame. */
#define HO_BACKEND_ACT_MAX_BYTES (HO_MAX_REPLY_FRAME + 512u)

typedef struct ho_backend_action {
  ho_backend_act_type type;
  ho_handle conn;         /* WRITE_CLIENT, ADOPT, CLOSE_FD */
  uint64_t correlation_id;
  bool accepted;          /* WRITE_CONTROL: the ACK's verdict */
  bool ready_written;     /* ADOPT: the backend wrote the ready frame (the
                             connection is in backend-ready mode) */
  bool coalesced;         /* WRITE_CLIENT, ADOPT: coalesced mode — bytes are
                             reply_adopted + ready; the shell may serve the
                             request first and write bytes + response in one
                             write (config first_write, READY-28) */
  int err;                /* WRITE_CONTROL refused: why; CLOSE_CONTROL: why;
                             OFFER: decode result */
  uint32_t delay_ms;      /* WRITE_CONTROL */
  size_t len;
  uint8_t bytes[HO_BACKEND_ACT_MAX_BYTES];
} ho_backend_action;

/* Pop the next action. Returns 1 and fills *out, or 0 when none is queued. */
HO_API int ho_backend_ctl_next_action(ho_backend_ctl *ctl, ho_backend_action *out);

/* ---- I/O shell --------------------------------------------------------- */

typedef struct ho_backend ho_backend;

/* One log-worthy event, reported through the optional callback. */
typedef struct ho_backend_event {
  int ctl_fd;
  const ho_backend_action *action; /* the action being executed */
} ho_backend_event;

typedef void (*ho_backend_event_fn)(void *user, const ho_backend_event *ev);

/* Create the shell with its own core. `on_event` (may be NULL) sees every
 * action before it is executed (a HO_BACKEND_ACT_CRASH is only reported).
 * Codes: HO_ERR_INVALID_ARGUMENT, HO_ERR_NOMEM (*out untouched). */
HO_API int ho_backend_new(const ho_backend_config *cfg, ho_backend_event_fn on_event, void *user,
                   ho_backend **out);

/* Close every control connection and held descriptor, free everything. */
HO_API void ho_backend_del(ho_backend *b);

/* The core (for counters). */
HO_API ho_backend_core *ho_backend_get_core(ho_backend *b);

/* Take ownership of an accepted, connected control connection (made
 * non-blocking here) after checking its peer credentials against the
 * configured policy (spec: SEC-4). Codes: HO_ERR_PEER_REJECTED,
 * HO_ERR_PEER_CREDENTIALS, HO_ERR_INVALID_ARGUMENT, HO_ERR_NOMEM (on every
 * error the fd is not taken: the caller still owns it and closes it). */
HO_API int ho_backend_add_control(ho_backend *b, ho_handle ctl_fd);

/* What ho_backend_on_control_readable() hands back. */
typedef struct ho_backend_adopted {
  ho_handle conn;         /* the client connection, now the caller's */
  uint64_t correlation_id;
  bool ready_written;     /* ready frame already written by us */
  bool coalesced;         /* ... together with Negotiated (rc2): first_write ran */
} ho_backend_adopted;

/* Status bits returned (>= 0) by the two calls below. */
enum {
  HO_BACKEND_CLOSED = 1 << 0,     /* the control connection is gone (fd closed
                                     and forgotten: remove it from your poller) */
  HO_BACKEND_WANT_WRITE = 1 << 1, /* ACK bytes wait: poll for writability */
  HO_BACKEND_MORE = 1 << 2,       /* adopted[] was full: call again */
  HO_BACKEND_ACK_PENDING = 1 << 3, /* defer_ack_flush: ACKs are queued; call
                                      ho_backend_flush_control() soon */
  HO_BACKEND_READ_AGAIN = 1 << 4   /* stopped without reading to EAGAIN
                                      (after a complete offer, or after 256
                                      reads): a level-triggered poller will
                                      report more input; with edge-triggered
                                      polling call again */
};

/* Read what is available on control connection `ctl_fd` (up to EAGAIN, or
 * up to the end of the first complete offer or 256 reads at most:
 * HO_BACKEND_READ_AGAIN), run the core,
 * write ready frames and ACKs (ACKs delayed by a fault wait for
 * ho_backend_on_timer()), close refused descriptors, and store up to `cap`
 * adopted connections in adopted[] (*n set). Returns a mask of the bits
 * above, or HO_ERR_INVALID_ARGUMENT (unknown ctl_fd; nothing done). */
HO_API int ho_backend_on_control_readable(ho_backend *b, ho_handle ctl_fd, uint64_t now_ms,
                                   ho_backend_adopted *adopted, size_t cap, size_t *n);

/* Flush pending ACK bytes of `ctl_fd` (when it polls writable, or after
 * HO_BACKEND_ACK_PENDING). Returns the mask (HO_BACKEND_CLOSED if writing
 * failed and the connection was closed, HO_BACKEND_WANT_WRITE if bytes are
 * still queued) or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_backend_on_control_writable(ho_backend *b, ho_handle ctl_fd, uint64_t now_ms);
HO_API int ho_backend_flush_control(ho_backend *b, ho_handle ctl_fd, uint64_t now_ms);

/* Milliseconds until the next deadline of the shell: a delayed ACK, or an
 * offer in progress that times out (BACKEND-10); -1: none, 0: due now
 * (call ho_backend_on_timer()). */
HO_API int ho_backend_next_timeout_ms(const ho_backend *b, uint64_t now_ms);

/* Write the delayed ACKs that are due. Control connections that closed are
 * reported through ho_backend_closed_fd() afterwards. Returns HO_OK. */
HO_API int ho_backend_on_timer(ho_backend *b, uint64_t now_ms);

/* Pop one control connection the shell closed outside
 * ho_backend_on_control_readable()/_writable() (for example in
 * ho_backend_on_timer()). Returns 1 with *fd set (already closed: remove it
 * from your poller before the number is reused), 0 when none. */
HO_API int ho_backend_closed_fd(ho_backend *b, ho_handle *fd);

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC), for callers. */
HO_API uint64_t ho_monotonic_ms(void);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_BACKEND_H */
