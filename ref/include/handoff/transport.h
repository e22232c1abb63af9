/* handoff — descriptor transport: moving a client connection from the
 * broker to the backend over the control connection.
 *
 * One small interface, two halves:
 *   ho_xfer_send()  broker side: hand `conn` plus the 16 token bytes to the
 *                   peer at the other end of the control connection;
 *   ho_xfer_recv()  backend side: read control-connection bytes, collecting
 *                   any descriptor that arrives with them, checked and
 *                   closed on every error so nothing leaks.
 * Implemented: Unix SCM_RIGHTS (spec: XFER-3 XFER-29) and Windows
 * DuplicateHandle (ref/lib/net/win/, handoff/winpipe.h): there
 * ho_xfer_send() duplicates the handle into the backend and returns it in
 * *handle_value (sent in HandoffOffer.handle_value), and ho_xfer_recv() is
 * a plain read that never yields a descriptor; the backend adopts
 * handle_value instead (the cores' duplicate_handles and no_sideband
 * modes).
 *
 * Also here, because every program needs them: Unix listener and dialer
 * helpers and peer-credential checks.
 *
 * All functions return HO_OK (0) or a negative HO_ERR_* code (error.h);
 * errno is not part of the contract.
 *
 * Threads: the functions keep no state and may run concurrently; one
 * ho_listener or ho_sideband is used by one thread at a time. Every
 * descriptor created here is close-on-exec (SOCK_CLOEXEC, accept4
 * SOCK_CLOEXEC, recvmsg MSG_CMSG_CLOEXEC). Modes: ho_listener_open() and
 * ho_listener_accept() give non-blocking sockets, ho_unix_connect() a
 * blocking one unless asked; a descriptor received by ho_xfer_recv() keeps
 * the mode the sender gave it (blocking from a conforming broker, XFER-25).
 * backlog <= 0 means SOMAXCONN. fork: a child that does not serve a
 * listener closes its fd with close(2), not ho_listener_close(), which would
 * unlink the parent's socket path (handoff/version.h).
 */
#ifndef HANDOFF_TRANSPORT_H
#define HANDOFF_TRANSPORT_H

#include "handoff/version.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handoff/error.h"
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef _WIN32
/* Windows has no uid_t/gid_t; ho_peer_cred carries them (the Windows
 * transport puts a same-user verdict there: handoff/winpipe.h). */
#ifndef HO_HAVE_UID_T
#define HO_HAVE_UID_T 1
typedef unsigned int uid_t;
typedef unsigned int gid_t;
#endif
#endif

/* An OS handle: a file descriptor on Unix, a HANDLE on Windows. */
typedef intptr_t ho_handle;
#define HO_NO_HANDLE ((ho_handle)-1)

/* ---- send (broker side) ---------------------------------------------- */

/* Send `conn` to the peer of the connected control socket `ctl` with the
 * 16 raw `token` bytes as data: one sendmsg(MSG_DONTWAIT|MSG_NOSIGNAL)
 * whose SCM_RIGHTS control message carries exactly `conn` (spec: XFER-3).
 * The caller keeps its own copy of `conn` and stays responsible for closing
 * it. *handle_value (may be NULL) receives the value to put in
 * HandoffOffer.handle_value: always 0 on Unix.
 * Returns:
 *   HO_OK                   all 16 bytes and the descriptor were queued;
 *   HO_ERR_WOULD_BLOCK      EAGAIN/EWOULDBLOCK/ENOBUFS: nothing was sent,
 *                           the descriptor did not leave;
 *   HO_ERR_CLOSED           EPIPE/ECONNRESET/ECONNREFUSED/ENOTCONN;
 *   HO_ERR_PERMISSION       EACCES/EPERM;
 *   HO_ERR_PARTIAL_SEND     fewer than 16 bytes queued (the descriptor MAY
 *                           have reached the peer: treat as delivered for
 *                           ownership, failed for the handoff);
 *   HO_ERR_FD_EXHAUSTED     ETOOMANYREFS (too many descriptors in flight);
 *   HO_ERR_INVALID_ARGUMENT bad handle or NULL token (EBADF/ENOTSOCK too);
 *   HO_ERR_IO               anything else.
 * Nothing is closed by this function. */
HO_API int ho_xfer_send(ho_handle ctl, ho_handle conn, const uint8_t token[HO_TOKEN_BYTES],
                 uint64_t *handle_value);

/* ---- receive (backend side) ------------------------------------------ */

/* What one ho_xfer_recv() call got besides the data bytes. */
typedef struct ho_xfer_rx {
  size_t len;       /* data bytes received (> 0 on HO_OK) */
  ho_handle conn;   /* the one descriptor that arrived with them, or HO_NO_HANDLE */
  int conn_status;  /* HO_OK, or why a descriptor that arrived was refused
                       (spec: XFER-28): HO_ERR_EXTRA_DESCRIPTORS (two or
                       more, or MSG_CTRUNC with a full control buffer),
                       HO_ERR_FD_EXHAUSTED (MSG_CTRUNC with room left: the
                       kernel could not install one), HO_ERR_BAD_DESCRIPTOR.
                       When not HO_OK every received
                       descriptor has already been closed and conn is
                       HO_NO_HANDLE. */
} ho_xfer_rx;

/* Options for ho_xfer_recv(). */
enum {
  /* Do not check that the received descriptor is a connected SOCK_STREAM
   * socket (for transports of other objects; the handoff never sets it). */
  HO_XFER_NO_STREAM_CHECK = 1 << 0
};

/* Read at most `len` (> 0) bytes from the control socket `ctl` into `buf`
 * with one recvmsg(MSG_CMSG_CLOEXEC|MSG_DONTWAIT), collecting descriptors
 * passed with those bytes (spec: XFER-29 XFER-28), into a control buffer
 * with room for 8 descriptors (at least 2, so extra descriptors are seen as
 * such). Exactly one descriptor is accepted; MSG_CTRUNC, two or more
 * descriptors, or a descriptor that is
 * not a connected SOCK_STREAM socket (a pipe, a datagram socket, a listening
 * or unconnected socket) close EVERY received descriptor and set
 * rx->conn_status; the bytes still count (the stream position is kept).
 * To learn whether a descriptor arrived where one must (the first sideband
 * byte), read the sideband with len == bytes still missing: a descriptor
 * travels with the first byte of its message.
 * Returns:
 *   HO_OK              rx->len > 0 bytes in buf, rx->conn / conn_status set;
 *   HO_ERR_WOULD_BLOCK nothing available (non-blocking socket);
 *   HO_ERR_CLOSED      EOF or connection reset (any descriptor closed);
 *   HO_ERR_INVALID_ARGUMENT NULL buf/rx, len 0, bad handle;
 *   HO_ERR_IO          any other error.
 * On an error return *rx is zeroed with conn = HO_NO_HANDLE and no
 * descriptor is left open. */
HO_API int ho_xfer_recv(ho_handle ctl, void *buf, size_t len, ho_xfer_rx *rx, unsigned flags);

/* Accumulator for the 16 sideband bytes of one handoff, which may arrive in
 * several reads; descriptors that arrive with any of these reads count for
 * this handoff (spec: XFER-29). */
typedef struct ho_sideband {
  uint8_t token[HO_TOKEN_BYTES];
  size_t have;      /* bytes collected so far, 0..16 */
  ho_handle conn;   /* the descriptor, or HO_NO_HANDLE */
  int conn_status;  /* valid once have == 16: HO_OK, or the first failing
                       check of XFER-28 in its order EXTRA_DESCRIPTORS,
                       FD_EXHAUSTED, NO_DESCRIPTOR, BAD_DESCRIPTOR (every descriptor
                       involved is then closed and conn is HO_NO_HANDLE) */
  unsigned ndesc;   /* internal: descriptors seen so far */
  unsigned seen;    /* internal: problems seen so far */
} ho_sideband;

/* Reset `sb` to empty (does not close anything). */
HO_API void ho_sideband_init(ho_sideband *sb);

/* Read the missing sideband bytes from `ctl` (one recvmsg per call, never
 * past the 16th byte). Returns:
 *   HO_OK              all 16 bytes are in: sb->conn holds the descriptor
 *                      (the caller now owns it) or sb->conn_status says why
 *                      there is none;
 *   HO_ERR_WOULD_BLOCK more bytes are needed (state kept in `sb`);
 *   HO_ERR_CLOSED      EOF before the first byte;
 *   HO_ERR_TRUNCATED   EOF after 1..15 bytes (spec: XFER-9);
 *   HO_ERR_IO, HO_ERR_INVALID_ARGUMENT as ho_xfer_recv();
 *                      on these a descriptor held in `sb` is closed (a
 *                      caller that reads on then ends with conn_status
 *                      HO_ERR_BAD_DESCRIPTOR unless an earlier check fails). */
HO_API int ho_sideband_recv(ho_handle ctl, ho_sideband *sb);

/* Close a descriptor held in `sb` (if any) and reset it. */
HO_API void ho_sideband_clear(ho_sideband *sb);

/* Check that `conn` is a connected SOCK_STREAM socket. Returns HO_OK or
 * HO_ERR_BAD_DESCRIPTOR (including for an invalid handle). Closes nothing. */
HO_API int ho_xfer_check_stream(ho_handle conn);

/* ---- peer credentials ------------------------------------------------ */

typedef enum ho_peer_policy {
  HO_PEER_ANY = 0,      /* accept every local peer */
  HO_PEER_SAME_UID = 1, /* peer uid must equal our effective uid */
  HO_PEER_UID = 2,      /* peer uid must equal a configured uid */
  HO_PEER_SAME_UID_OR_ROOT = 3 /* our uid, or root (a client's view of its servers) */
} ho_peer_policy;

typedef struct ho_peer_cred {
  pid_t pid;
  uid_t uid;
  gid_t gid;
} ho_peer_cred;

/* The one decision of every peer policy (spec: SEC-1 SEC-4 SEC-10): `cred`
 * are the OS-reported credentials, NULL when they could not be read.
 * HO_PEER_ANY allows every peer, credentials or not; the other policies
 * need credentials and compare the uid with `self_uid` (HO_PEER_SAME_UID;
 * HO_PEER_SAME_UID_OR_ROOT also accepts uid 0) or `uid` (HO_PEER_UID). Pure. */
HO_API bool ho_peer_allowed(ho_peer_policy policy, uid_t uid, uid_t self_uid, const ho_peer_cred *cred);

/* The peer credentials of connected Unix socket `sock` (SO_PEERCRED).
 * Returns HO_OK or HO_ERR_PEER_CREDENTIALS (*out untouched). */
HO_API int ho_peer_cred_get(ho_handle sock, ho_peer_cred *out);

/* Apply `policy` (with `uid` for HO_PEER_UID) to the peer of `sock`
 * (spec: SEC-1 SEC-4). *out (may be NULL) receives the credentials when read.
 * Returns HO_OK, HO_ERR_PEER_REJECTED (policy says no) or
 * HO_ERR_PEER_CREDENTIALS (could not read them). */
HO_API int ho_peer_check(ho_handle sock, ho_peer_policy policy, uid_t uid, ho_peer_cred *out);

/* Parse a --peer-uid value: "any", "same", "same-or-root" or a decimal uid.
 * Returns HO_OK or HO_ERR_INVALID_ARGUMENT (outputs untouched). */
HO_API int ho_peer_policy_parse(const char *s, ho_peer_policy *policy, uid_t *uid);

/* ---- OS errors users can act on ----------------------------------------- */

/* What an operation on a path failed with, for messages and logs: the
 * operation, the path, the OS error's text and its errno name, in one line
 * (for example "bind /run/x/backend.sock: Address already in use
 * (EADDRINUSE)"). Filled by the *_diag variants below on failure. */
typedef struct ho_diag {
  int os_errno; /* 0 when the failure is not an OS error */
  char msg[384];
} ho_diag;

/* "EADDRINUSE", ...; "E?" for a value without a name here. */
HO_API const char *ho_errno_name(int e);

/* ---- Unix listener and dialer ---------------------------------------- */

/* A listening Unix SOCK_STREAM socket bound to a path. */
typedef struct ho_listener {
  ho_handle fd;
  char path[108];       /* sizeof(sockaddr_un.sun_path) */
  uint64_t dev, ino;    /* identity of the socket file we created */
} ho_listener;

/* Create the parent directory of `path` (mode 0700, every missing
 * component), remove a stale socket file at `path` (only a socket, and only
 * when nobody accepts on it), bind and listen (non-blocking, CLOEXEC), then
 * make the socket appear at `path` atomically: it is bound under a
 * temporary name and renamed, so "the path exists" implies "connect
 * succeeds". The socket file gets mode 0600.
 * Returns HO_OK; HO_ERR_INVALID_ARGUMENT (NULL, empty or too long path);
 * HO_ERR_STATE (something live already listens at `path`, or a non-socket
 * file is there); HO_ERR_PERMISSION; HO_ERR_IO. *l is untouched on error. */
HO_API int ho_listener_open(ho_listener *l, const char *path, int backlog);

enum {
  /* Replace a live socket at `path` (a successor taking over the endpoints
   * of a draining backend, spec: BACKEND-14): the new socket is renamed over
   * the old one atomically, so every later connect reaches the new one while
   * connections already queued to the old listener stay with it. */
  HO_LISTEN_TAKEOVER = 1 << 0
};

/* ho_listener_open() with options and a diagnosis. Besides its checks it
 * refuses (HO_ERR_PERMISSION) a parent directory that another non-root user
 * owns, or that others can write without the sticky bit (spec: SEC-9),
 * naming the directory, its owner and its mode in `diag` (may be NULL). */
HO_API int ho_listener_open_diag(ho_listener *l, const char *path, int backlog, unsigned flags,
                          ho_diag *diag);

/* Accept one connection (non-blocking, CLOEXEC). Returns HO_OK with *conn
 * set, HO_ERR_WOULD_BLOCK, HO_ERR_FD_EXHAUSTED (EMFILE/ENFILE), or HO_ERR_IO
 * (*conn untouched on error). */
HO_API int ho_listener_accept(ho_listener *l, ho_handle *conn);
/* The same, choosing the accepted descriptor's mode: a broker accepts its
 * clients blocking, so that a descriptor it passes on is blocking (XFER-25)
 * without an fcntl, and does its own I/O with MSG_DONTWAIT. */
HO_API int ho_listener_accept_mode(ho_listener *l, bool nonblock, ho_handle *conn);

/* Close the socket and unlink its path (only if the path is still our
 * socket). Safe to call twice. */
HO_API void ho_listener_close(ho_listener *l);

/* Connect a SOCK_STREAM socket to `path` (CLOEXEC; blocking unless
 * `nonblock`). Returns HO_OK with *conn set, HO_ERR_INVALID_ARGUMENT (path),
 * HO_ERR_CLOSED (ECONNREFUSED/ENOENT: nobody listens), HO_ERR_WOULD_BLOCK
 * (EAGAIN: backlog full), HO_ERR_PERMISSION, HO_ERR_FD_EXHAUSTED or
 * HO_ERR_IO; *conn untouched on error. */
HO_API int ho_unix_connect(const char *path, int nonblock, ho_handle *conn);

/* ho_unix_connect() with a diagnosis of the failure in `diag` (may be NULL):
 * "connect /run/x/broker.sock: No such file or directory (ENOENT)". */
HO_API int ho_unix_connect_diag(const char *path, int nonblock, ho_handle *conn, ho_diag *diag);

/* Map an errno value to the transport codes above (used by every shell so
 * the mapping exists once). */
HO_API int ho_err_from_errno(int err);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_TRANSPORT_H */
